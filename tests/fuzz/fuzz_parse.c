/* fuzz_parse.c: libFuzzer harness for the lexer, parser and compiler.
 * Arbitrary bytes are compiled (never run), as a script and as a library
 * in Singular's format (sl_parse_lib: cut into procs, stubs for those it
 * cannot read, static procs); a syntax error is a normal outcome, a crash
 * or a sanitizer report is a bug. Built by scripts/fuzz. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One world for all inputs: compiling only creates global slots (names),
 * it runs nothing, so an input cannot change how the next one compiles. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static sl_world *W;
  static sl_ctx *C;
  if (!W) { W = sl_world_new(); C = sl_ctx_new(W); }
  char *src = fuzz_text(data, size);
  long objs = fuzz_objs_before();
  sl_code *code = sl_compile(C, src, size, "fuzz", 1);
  if (code) sl_code_release(code);
  sl_clear_error(C);
  code = sl_compile_lib(C, src, size, "fuzz.lib", "Fuzz");
  if (code) sl_code_release(code);
  sl_clear_error(C);
  fuzz_objs_after(objs, "fuzz_parse");
  free(src);
  return 0;
}
