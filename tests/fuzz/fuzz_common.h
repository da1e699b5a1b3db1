/* fuzz_common.h: shared by the libFuzzer harnesses (tests/fuzz/).
 * Each input gets a fresh world and context, so one input cannot change
 * what the next one does (a crash then reproduces from its file alone). */
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
#endif
