/* fuzz_exec.c: libFuzzer harness that compiles and runs arbitrary
 * scripts. A step limit bounds every run: the VM polls at every call and
 * loop back-edge (C->poll_flag, the hook the REPL's Ctrl-C and job cancel
 * use), so a flag that is always set makes poll_fn count those steps and
 * stop the script with "cancelled" after FUZZ_STEPS of them. No VM change
 * and nothing on the VM's hot path. Builtins that loop (prime,
 * primefactors, sleep) poll the same hook through sl_poll, so their
 * iterations count as steps too.
 * Builtins that reach outside the process or only wait (system, native,
 * load, sleep; write, fprintf, read, open, dump and getdump, which touch files and
 * start commands) are replaced by a builtin that fails; output goes to
 * /dev/null. Built by scripts/fuzz. */
#include "fuzz_common.h"

#ifndef FUZZ_STEPS
#define FUZZ_STEPS 20000
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const volatile int always = 1;
static long steps;

static int count_step(void *ud) { return ++steps > FUZZ_STEPS; }

static int b_disabled(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  return sl_error(C, "disabled in the fuzzer");
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  if (!freopen("/dev/null", "w", stdout)) abort();
  /* the step limit bounds the number of operations; these bound the cost
   * of one (a bigint product, a concatenation, a range), so no input
   * runs past libFuzzer's timeout. The defaults are checked by
   * tests/scripts/limits.sing. */
  sl_limits.bigint_bits = 1 << 16;
  sl_limits.str_len = 1 << 16;
  sl_limits.elems = 1 << 12;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *off[] = {"system", "native", "load", "sleep", "LIB",
                              "write", "fprintf", "read", "open", "dump", "getdump"};
  char *src = fuzz_text(data, size);
  long objs = fuzz_objs_before();
  sl_world *W = sl_world_new();
  for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) sl_def_builtin(W, off[i], b_disabled);
  sl_ctx *C = sl_ctx_new(W);
  C->poll_flag = &always;
  C->poll_fn = count_step;
  steps = 0;
  sl_code *code = sl_compile(C, src, size, "fuzz", 1);
  if (code) {
    sl_value r;
    if (sl_run(C, code, &r) == SL_OK) sl_release(r);
    sl_code_release(code);
  }
  fflush(stdout);
  sl_ctx_free(C);
  sl_world_free(W);
  fuzz_objs_after(objs, "fuzz_exec");
  free(src);
  return 0;
}
