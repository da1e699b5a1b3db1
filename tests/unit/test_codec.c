/* test_codec.c: the value codec (lang/codec.c) -- round trips of every
 * type that crosses a process (big ones and deep ones included), sharing
 * kept, types that cannot cross, and hostile input: every truncation of a
 * valid stream, corrupted bytes, lengths past the end or past the limits,
 * references forward, bad headers and trailing bytes. */
#include <check.h>
#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include "sl.h"

static sl_world *W;
static sl_ctx *C;

static void setup(void) {
  W = sl_world_new();
  C = sl_ctx_new(W);
}

static void teardown(void) {
  sl_ctx_free(C);
  sl_world_free(W);
}

/* v encoded and decoded again equals v; returns the decoded value */
static sl_value trip(sl_value v) {
  sl_buf b = {0};
  ck_assert_int_eq(sl_encode(C, v, &b), 0);
  sl_value r;
  int rc = sl_decode(C, b.s, b.len, &r);
  if (rc < 0) ck_abort_msg("decode: %s", C->err ? C->err : "?");
  ck_assert_int_eq((int)r.type, (int)v.type);
  ck_assert(sl_equal(r, v));
  sl_buf_free(&b);
  return r;
}

static void trip_release(sl_value v) {
  sl_release(trip(v));
  sl_release(v);
}

static sl_value bigint_of(const char *dec) {
  sl_value v = sl_bigint_new();
  mpz_set_str(sl_bv(v)->z, dec, 10);
  return v;
}

START_TEST(test_scalars) {
  int64_t ints[] = {0, 1, -1, 63, -64, 64, 127, 128, 300, -300, INT64_MAX, INT64_MIN, INT64_MAX - 1};
  for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) trip_release(SL_INT(ints[i]));
  trip_release(SL_NONE);
  trip_release(bigint_of("0"));
  trip_release(bigint_of("5"));   /* a small bigint stays a bigint */
  trip_release(bigint_of("-123456789012345678901234567890"));
  trip_release(sl_str(""));
  trip_release(sl_str("a string with \0 inside? no: with \"quotes\" and ünïcode"));
  sl_value bin = sl_str_new("a\0b\0c", 5);   /* bytes, not C strings */
  trip_release(bin);
  sl_value iv = sl_intvec_new(5);
  int64_t vals[] = {0, -1, INT64_MAX, INT64_MIN, 42};
  memcpy(sl_iv(iv)->v, vals, sizeof vals);
  trip_release(iv);
  trip_release(sl_intvec_new(0));
}
END_TEST

START_TEST(test_big) {
  /* a 100,000-digit bigint */
  char *digits = malloc(100001);
  for (int i = 0; i < 100000; i++) digits[i] = (char)('1' + i % 9);
  digits[100000] = 0;
  trip_release(bigint_of(digits));
  digits[0] = '-';
  trip_release(bigint_of(digits));
  free(digits);
  /* a list of 100,000 entries of every kind */
  sl_value l = sl_list_new(0);
  for (int i = 0; i < 100000; i++) {
    switch (i % 4) {
    case 0: sl_list_push(&l, SL_INT(i)); break;
    case 1: sl_list_push(&l, sl_str("x")); break;
    case 2: sl_list_push(&l, sl_bigint_from_i64(-i)); break;
    default: sl_list_push(&l, sl_list_new(0)); break;
    }
  }
  trip_release(l);
}
END_TEST

START_TEST(test_deep) {
  /* 100,000 levels of nesting: no recursion on the C stack */
  sl_value l = sl_list_new(0);
  sl_list_push(&l, SL_INT(7));
  for (int i = 0; i < 100000; i++) {
    sl_value outer = sl_list_new(1);
    sl_list_push(&outer, l);
    l = outer;
  }
  sl_buf b = {0};
  ck_assert_int_eq(sl_encode(C, l, &b), 0);
  sl_value r;
  ck_assert_int_eq(sl_decode(C, b.s, b.len, &r), 0);
  sl_value a = l, c = r;   /* walk both down */
  for (int i = 0; i < 100000; i++) {
    ck_assert_int_eq((int)c.type, SL_T_LIST);
    ck_assert_uint_eq(sl_lv(c)->n, 1);
    a = sl_lv(a)->v[0];
    c = sl_lv(c)->v[0];
  }
  ck_assert_int_eq((int)sl_lv(c)->v[0].type, SL_T_INT);
  ck_assert_int_eq(sl_lv(c)->v[0].u.i, 7);
  sl_release(r);
  sl_release(l);
  sl_buf_free(&b);
}
END_TEST

START_TEST(test_sharing) {
  /* list(l, l) comes back as a list whose two entries are one list, and a
   * graph with 2^60 paths encodes in a few hundred bytes */
  sl_value l = sl_list_new(0);
  sl_list_push(&l, sl_str("shared"));
  for (int i = 0; i < 60; i++) {
    sl_value two = sl_list_new(2);
    sl_retain(l);
    sl_list_push(&two, l);
    sl_list_push(&two, l);
    l = two;
  }
  sl_buf b = {0};
  ck_assert_int_eq(sl_encode(C, l, &b), 0);
  ck_assert_uint_lt(b.len, 1000);
  sl_value r;
  ck_assert_int_eq(sl_decode(C, b.s, b.len, &r), 0);
  ck_assert(sl_lv(r)->v[0].u.p == sl_lv(r)->v[1].u.p);
  sl_value s1 = r, s2 = l;
  for (int i = 0; i < 60; i++) { s1 = sl_lv(s1)->v[1]; s2 = sl_lv(s2)->v[0]; }
  ck_assert(sl_equal(s1, s2));
  sl_release(r);
  sl_release(l);
  sl_buf_free(&b);
}
END_TEST

START_TEST(test_cannot_cross) {
  sl_value fn;
  ck_assert_int_eq(sl_run_string(C, "proc f() { return(1); }", "t"), 0);
  sl_slot *s = sl_global_find(W, "f");
  ck_assert_ptr_nonnull(s);
  fn = sl_slot_get(s);
  sl_buf b = {0};
  ck_assert_int_eq(sl_encode(C, fn, &b), -1);
  ck_assert_ptr_nonnull(strstr(C->err, "a proc cannot cross processes"));
  sl_value l = sl_list_new(0), inner = sl_list_new(0);
  sl_list_push(&inner, SL_INT(1));
  sl_list_push(&inner, fn);
  sl_list_push(&l, sl_str("a"));
  sl_list_push(&l, inner);
  sl_clear_error(C);
  ck_assert_int_eq(sl_encode(C, l, &b), -1);
  ck_assert_ptr_nonnull(strstr(C->err, "a proc cannot cross processes (list entry 2 of list entry 2)"));
  ck_assert_uint_eq(b.len, 0);   /* nothing half-written */
  sl_release(l);
  sl_buf_free(&b);
}
END_TEST

/* every input must give 0 or -1, never a crash or a leak */
static int try_decode(const void *p, size_t n) {
  sl_value r;
  sl_clear_error(C);
  int rc = sl_decode(C, p, n, &r);
  if (rc == 0) sl_release(r);
  else ck_assert_ptr_nonnull(C->err);
  return rc;
}

START_TEST(test_hostile) {
  sl_value l = sl_list_new(0);
  sl_list_push(&l, SL_INT(-5));
  sl_list_push(&l, bigint_of("-98765432109876543210"));
  sl_list_push(&l, sl_str("text"));
  sl_value iv = sl_intvec_new(3);
  sl_list_push(&l, iv);
  sl_value inner = sl_list_new(0);
  sl_list_push(&inner, SL_NONE);
  sl_list_push(&l, inner);
  sl_retain(inner);
  sl_list_push(&l, inner);
  sl_buf b = {0};
  ck_assert_int_eq(sl_encode(C, l, &b), 0);
  /* every proper prefix is an error */
  for (size_t n = 0; n < b.len; n++) ck_assert_int_eq(try_decode(b.s, n), -1);
  /* trailing bytes */
  sl_buf_add(&b, "x", 1);
  ck_assert_int_eq(try_decode(b.s, b.len), -1);
  ck_assert_ptr_nonnull(strstr(C->err, "trailing bytes"));
  b.len--;
  /* every single byte changed to every value: no crash, no leak */
  unsigned char *m = malloc(b.len);
  for (size_t i = 0; i < b.len; i++)
    for (int c = 0; c < 256; c++) {
      memcpy(m, b.s, b.len);
      m[i] = (unsigned char)c;
      try_decode(m, b.len);
    }
  free(m);
  sl_release(l);
  sl_buf_free(&b);
  /* headers */
  ck_assert_int_eq(try_decode("", 0), -1);
  ck_assert_int_eq(try_decode("XYZ\1\0", 5), -1);
  ck_assert_ptr_nonnull(strstr(C->err, "not an encoded value"));
  ck_assert_int_eq(try_decode("SPV\3\0", 5), -1);
  ck_assert_ptr_nonnull(strstr(C->err, "version 3 is not supported"));
  ck_assert_int_eq(try_decode("SPV\0\0", 5), -1);
  ck_assert_int_eq(try_decode("SPV\1\0", 5), 0);
  ck_assert_int_eq(try_decode("SPV\2\0", 5), 0);
  /* lengths past the end: refused before anything is allocated */
  ck_assert_int_eq(try_decode("SPV\1\4\xff\xff\xff\xff\x0f", 10), -1);   /* list of 4G entries */
  ck_assert_ptr_nonnull(strstr(C->err, "limit"));
  ck_assert_int_eq(try_decode("SPV\1\4\x80\x80\x04", 8), -1);            /* list of 65536, 0 bytes left */
  ck_assert_ptr_nonnull(strstr(C->err, "passes the end"));
  ck_assert_int_eq(try_decode("SPV\1\3\x05" "abc", 9), -1);              /* string of 5, 3 bytes */
  ck_assert_int_eq(try_decode("SPV\1\2\0\x10" "ab", 9), -1);             /* bigint of 16 bytes, 2 */
  ck_assert_int_eq(try_decode("SPV\1\2\2\1" "a", 8), -1);                /* bigint sign 2 */
  ck_assert_int_eq(try_decode("SPV\1\5\3\1\1", 8), -1);                  /* intvec of 3, 2 given */
  ck_assert_int_eq(try_decode("SPV\1\1\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 15), -1);   /* int overflow */
  ck_assert_int_eq(try_decode("SPV\1\1\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 16), -1);  /* 11-byte number */
  ck_assert_int_eq(try_decode("SPV\1\6\0", 6), -1);                      /* reference to nothing */
  ck_assert_int_eq(try_decode("SPV\1\4\2\6\0\0", 9), -1);                /* reference forward: a list in itself */
  ck_assert_int_eq(try_decode("SPV\1\x07", 5), -1);                      /* unknown tag */
  ck_assert_ptr_nonnull(strstr(C->err, "unknown type tag"));
  /* the limits of the language hold for decoded values too */
  size_t old = sl_limits.str_len;
  sl_limits.str_len = 2;
  ck_assert_int_eq(try_decode("SPV\1\3\3abc", 9), -1);
  ck_assert_ptr_nonnull(strstr(C->err, "exceeds the limit"));
  sl_limits.str_len = old;
  ck_assert_int_eq(try_decode("SPV\1\3\3abc", 9), 0);
}
END_TEST

/* a global of the script run in C */
static sl_value global(const char *name) {
  sl_slot *s = sl_global_find(W, name);
  ck_assert_ptr_nonnull(s);
  return sl_slot_get(s);
}

/* a literal stream (its own length: it may hold NULs) */
#define TRY(lit) try_decode(lit, sizeof lit - 1)

START_TEST(test_intmat) {
  sl_value m = sl_intmat_new(2, 3);
  int64_t vals[] = {0, -1, INT64_MAX, INT64_MIN, 42, 7};
  memcpy(sl_imv(m)->v, vals, sizeof vals);
  sl_value r = trip(m);
  ck_assert_uint_eq(sl_imv(r)->r, 2);
  ck_assert_uint_eq(sl_imv(r)->c, 3);
  sl_release(r);
  trip_release(m);
  trip_release(sl_intmat_new(0, 3));
  trip_release(sl_intmat_new(3, 0));
  trip_release(sl_intmat_new(1, 1));
  /* not equal to an intmat of the same entries in another shape */
  sl_value a = sl_intmat_new(2, 2), b = sl_intmat_new(4, 1);
  ck_assert(!sl_equal(a, b));
  sl_release(a);
  sl_release(b);
  /* hostile sizes: refused before anything is allocated */
  ck_assert_int_eq(try_decode("SPV\2\x07\x02\x02\1\1\1", 10), -1);   /* 2 x 2, 3 entries */
  ck_assert_ptr_nonnull(strstr(C->err, "passes the end"));
  ck_assert_int_eq(try_decode("SPV\2\x07\x02\x02\1\1\1\1", 11), 0);
  ck_assert_int_eq(try_decode("SPV\2\x07\xff\xff\x03\xff\xff\x03\0", 12), -1);   /* 65535 x 65535 */
  ck_assert_ptr_nonnull(strstr(C->err, "limit"));
  ck_assert_int_eq(try_decode("SPV\1\x07\x01\x01\1", 8), -1);          /* not in version 1 */
  ck_assert_ptr_nonnull(strstr(C->err, "unknown type tag"));
}
END_TEST

START_TEST(test_newstruct) {
  ck_assert_int_eq(sl_run_string(C,
    "newstruct(\"cpoint\", \"int x, int y\");"
    "newstruct(\"cseg\", \"cpoint a, cpoint b, list l, def d, intmat m, bigint n, intvec v, string s\");"
    "cseg s; s.b.x = 5; s.a.y = -3; s.l = list(s.b, 1, list()); s.d = \"x\"; s.m = intvec(1, 2);"
    "s.n = 12345678901234567890; cpoint p; p.x = 9; list two = p, p, s;", "t"), 0);
  sl_value s = global("s"), two = global("two");
  trip_release(s);
  /* sharing is kept: the two entries are one value after the trip */
  sl_value r = trip(two);
  ck_assert_ptr_eq(sl_lv(r)->v[0].u.p, sl_lv(r)->v[1].u.p);
  ck_assert(sl_equal(sl_lv(r)->v[2], sl_lv(two)->v[2]));
  sl_release(r);
  /* a value holding a proc does not cross; the message names the member */
  ck_assert_int_eq(sl_run_string(C, "proc f() { return(1); } cseg t; t.d = list(1, f);", "t"), 0);
  sl_value t = global("t");
  sl_buf b = {0};
  ck_assert_int_eq(sl_encode(C, t, &b), -1);
  ck_assert_ptr_nonnull(strstr(C->err, "(list entry 2 of member d of cseg)"));
  sl_release(t);
  sl_clear_error(C);
  /* a type the decoding process does not have yet is defined */
  ck_assert_int_eq(sl_utype_find("cfresh"), -1);
  if (TRY("SPV\2\x09\x06" "cfresh" "\x05" "int a" "\x08\0\x01\x01\x0e") != 0) ck_abort_msg("%s", C->err);
  ck_assert_int_ge(sl_utype_find("cfresh"), SL_T_FIRST_USER);
  /* one it has with other members is refused */
  ck_assert_int_eq(TRY("SPV\2\x09\x06" "cpoint" "\x05" "int z" "\x08\0\x01\x01\x0e"), -1);
  ck_assert_ptr_nonnull(strstr(C->err, "already defined"));
  /* members that do not hold their type, counts that do not match */
  ck_assert_int_eq(TRY("SPV\2\x09\x06" "cpoint" "\x0c" "int x, int y" "\x08\0\x02\x03\x01" "a" "\x01\0"), -1);
  ck_assert_ptr_nonnull(strstr(C->err, "member x of a cpoint holds a string"));
  ck_assert_int_eq(TRY("SPV\2\x09\x06" "cpoint" "\x0c" "int x, int y" "\x08\0\x01\x01\0"), -1);
  ck_assert_ptr_nonnull(strstr(C->err, "another number of members"));
  ck_assert_int_eq(TRY("SPV\2\x08\0\x01\x01\0"), -1);
  ck_assert_ptr_nonnull(strstr(C->err, "not defined in the stream"));
  ck_assert_int_eq(TRY("SPV\2\x09\x03" "a b" "\x05" "int a" "\x08\0\x01\x01\0"), -1);
  ck_assert_ptr_nonnull(strstr(C->err, "not a name for a type"));
  /* every prefix of a stream with newstruct values is an error, every
   * one-byte change no crash (last: a changed name defines a type, and
   * they run out) */
  ck_assert_int_eq(sl_encode(C, two, &b), 0);
  for (size_t n = 0; n < b.len; n++) ck_assert_int_eq(try_decode(b.s, n), -1);
  unsigned char *m = malloc(b.len);
  for (size_t i = 0; i < b.len; i++)
    for (int c = 0; c < 256; c += 3) {
      memcpy(m, b.s, b.len);
      m[i] = (unsigned char)c;
      try_decode(m, b.len);
    }
  free(m);
  sl_buf_free(&b);
  sl_release(two);
}
END_TEST

int main(void) {
  Suite *s = suite_create("codec");
  TCase *tc = tcase_create("codec");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_scalars);
  tcase_add_test(tc, test_big);
  tcase_add_test(tc, test_deep);
  tcase_add_test(tc, test_sharing);
  tcase_add_test(tc, test_cannot_cross);
  tcase_add_test(tc, test_hostile);
  tcase_add_test(tc, test_intmat);
  tcase_add_test(tc, test_newstruct);
  suite_add_tcase(s, tc);
  return check_run(s);
}
