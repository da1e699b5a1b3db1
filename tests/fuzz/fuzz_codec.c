/* fuzz_codec.c: libFuzzer harness for the value decoder (lang/codec.c).
 * Arbitrary bytes are decoded, as they are and behind a valid header (so
 * most inputs reach the values); an error is a normal outcome, a crash,
 * a leak or an unbounded allocation is a bug. A value that decodes must
 * encode again, decode again, and that copy must encode to the same bytes.
 * Built by scripts/fuzz. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(sl_ctx *C, const void *p, size_t n) {
  sl_value v;
  if (sl_decode(C, p, n, &v) < 0) { sl_clear_error(C); return; }
  sl_buf b = {0};
  if (sl_encode(C, v, &b) < 0) abort();          /* whatever decodes can cross */
  sl_value w;
  if (sl_decode(C, b.s, b.len, &w) < 0) abort();
  /* the same value, sharing included, encodes to the same bytes (sl_equal
   * gives up below SL_MAX_NEST levels; the codec does not) */
  sl_buf b2 = {0};
  if (sl_encode(C, w, &b2) < 0) abort();
  if (b2.len != b.len || memcmp(b.s, b2.s, b.len)) abort();
  sl_release(w);
  sl_release(v);
  sl_buf_free(&b);
  sl_buf_free(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static sl_world *W;
  static sl_ctx *C;
  if (!W) {
    W = sl_world_new();
    C = sl_ctx_new(W);
    sl_limits.bigint_bits = 1u << 16;   /* one input stays cheap */
    sl_limits.str_len = 1u << 16;
    sl_limits.elems = 1u << 16;
  }
  long objs = fuzz_objs_before();
  round_trip(C, data, size);
  uint8_t *h = malloc(size + 4);
  if (!h) abort();
  memcpy(h, "SPV\1", 4);
  if (size) memcpy(h + 4, data, size);
  round_trip(C, h, size + 4);
  free(h);
  fuzz_objs_after(objs, "fuzz_codec");
  return 0;
}
