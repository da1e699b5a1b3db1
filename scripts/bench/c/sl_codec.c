/* sl_codec.c: the value codec (lang/codec.c) in MB/s of encoded bytes:
 * a 1,000,000-digit bigint and a 100,000-entry list (ints, strings,
 * bigints and two-int lists in turn), each encoded and decoded until
 * -ms milliseconds have passed. Baselines from the same run: GMP's own
 * mpz_export/mpz_import of the bigint, and memcpy of the encoded bytes. */
#include <gmp.h>
#include "bench.h"
#include "sl.h"

static double mbs(size_t bytes, long reps, double ns) { return (double)bytes * (double)reps / ns * 1e3; }

/* runs op until ms have passed; returns ns per run */
#define TIMED(ms, reps, body) do { \
    double t0_ = bench_now_ns(), t_; \
    reps = 0; \
    do { body; reps++; t_ = bench_now_ns(); } while (t_ - t0_ < (ms) * 1e6); \
    elapsed = t_ - t0_; \
  } while (0)

static void measure(sl_ctx *C, const char *name, sl_value v, long ms) {
  sl_buf b = {0};
  long reps;
  double elapsed;
  char key[64];
  if (sl_encode(C, v, &b) < 0) bench_fail("encode");
  size_t n = b.len;
  TIMED(ms, reps, { b.len = 0; if (sl_encode(C, v, &b) < 0) bench_fail("encode"); });
  snprintf(key, sizeof key, "%s_enc_mbs", name);
  bench_report(key, mbs(n, reps, elapsed));
  TIMED(ms, reps, { sl_value r; if (sl_decode(C, b.s, b.len, &r) < 0) bench_fail("decode"); sl_release(r); });
  snprintf(key, sizeof key, "%s_dec_mbs", name);
  bench_report(key, mbs(n, reps, elapsed));
  char *dst = malloc(n);
  TIMED(ms, reps, { memcpy(dst, b.s, n); __asm__ volatile("" ::: "memory"); });
  snprintf(key, sizeof key, "%s_memcpy_mbs", name);
  bench_report(key, mbs(n, reps, elapsed));
  snprintf(key, sizeof key, "%s_bytes", name);
  bench_report(key, (double)n);
  free(dst);
  sl_buf_free(&b);
}

int main(int argc, char **argv) {
  long ms = bench_arg(argc, argv, "ms", 300);
  long digits = bench_arg(argc, argv, "digits", 1000000);
  long entries = bench_arg(argc, argv, "entries", 100000);
  sl_world *W = sl_world_new();
  sl_ctx *C = sl_ctx_new(W);
  /* the bigint: `digits` decimal digits */
  char *s = malloc((size_t)digits + 1);
  for (long i = 0; i < digits; i++) s[i] = (char)('1' + (i * 7) % 9);
  s[digits] = 0;
  sl_value big = sl_bigint_new();
  mpz_set_str(sl_bv(big)->z, s, 10);
  free(s);
  measure(C, "bigint", big, ms);
  /* GMP's own raw export/import of the same number */
  size_t cnt = 0, nb = (mpz_sizeinbase(sl_bv(big)->z, 2) + 7) / 8;
  unsigned char *raw = malloc(nb);
  long reps;
  double elapsed;
  TIMED(ms, reps, { mpz_export(raw, &cnt, 1, 1, 1, 0, sl_bv(big)->z); });
  bench_report("bigint_gmp_export_mbs", mbs(nb, reps, elapsed));
  mpz_t z;
  mpz_init(z);
  TIMED(ms, reps, { mpz_import(z, cnt, 1, 1, 1, 0, raw); });
  bench_report("bigint_gmp_import_mbs", mbs(nb, reps, elapsed));
  mpz_clear(z);
  free(raw);
  sl_release(big);
  /* the list */
  sl_value l = sl_list_new((size_t)entries);
  for (long i = 0; i < entries; i++) {
    switch (i % 4) {
    case 0: sl_list_push(&l, SL_INT(i * 1000003)); break;
    case 1: sl_list_push(&l, sl_str("an entry")); break;
    case 2: { sl_value b = sl_bigint_new(); mpz_ui_pow_ui(sl_bv(b)->z, 3, 100); sl_list_push(&l, b); break; }
    default: { sl_value p = sl_list_new(2); sl_list_push(&p, SL_INT(i)); sl_list_push(&p, SL_INT(-i)); sl_list_push(&l, p); break; }
    }
  }
  measure(C, "list", l, ms);
  sl_release(l);
  sl_ctx_free(C);
  sl_world_free(W);
  return 0;
}
