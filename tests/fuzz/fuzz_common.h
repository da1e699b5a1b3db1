/* fuzz_common.h: shared by the libFuzzer harnesses (tests/fuzz/).
 * fuzz_exec gives each input a fresh world and context. What outlives a
 * world is process-wide: the types newstruct defines (sl_utypes), so an
 * input can meet a type an earlier one defined, with other members. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sl.h"

/* the input as a NUL-terminated string (the lexer may look one past) */
static char *fuzz_text(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) abort();
  memcpy(s, data, size);
  s[size] = 0;
  return s;
}

/* scripts/fuzz builds with SL_COUNT_OBJS: lang/value.c counts the objects
 * alive, and an input after which more are alive than before it (its
 * world and context freed) kept one by a count never dropped. LSan alone
 * misses such a leak whenever a stale word on the stack still points at
 * the object, so it used to show up in one run and not the next. */
#ifdef SL_COUNT_OBJS
extern _Atomic long sl_live_objs;
static long fuzz_objs_before(void) { return atomic_load(&sl_live_objs); }
static void fuzz_objs_after(long before, const char *what) {
  long now = atomic_load(&sl_live_objs);
  if (now != before) {
    fprintf(stderr, "%s: %ld object%s left alive after the input (a reference count never dropped)\n", what,
            now - before, now - before == 1 ? "" : "s");
    abort();
  }
}
#else
static long fuzz_objs_before(void) { return 0; }
static void fuzz_objs_after(long before, const char *what) { (void)before; (void)what; }
#endif
#endif
