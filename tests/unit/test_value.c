/* test_value.c: values -- refcounts, copy-on-write, equality, display,
 * conversions, and the shared global table under concurrent assignment. */
#include <check.h>
#include "check_main.h"
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "sl.h"

static char *show(sl_value v) {
  sl_buf b = {0};
  sl_print_value(&b, v, 0);
  return b.s ? b.s : strdup("");
}

#define SHOWS(v, want) do { char *s_ = show(v); ck_assert_str_eq(s_, want); free(s_); } while (0)

START_TEST(test_refcount) {
  sl_value s = sl_str("abc");
  ck_assert_int_eq(atomic_load(&((sl_obj *)s.u.p)->rc), 1);
  sl_retain(s);
  ck_assert_int_eq(atomic_load(&((sl_obj *)s.u.p)->rc), 2);
  ck_assert(!sl_unique(s));
  sl_release(s);
  ck_assert(sl_unique(s));
  sl_release(s);
  sl_value i = SL_INT(5);
  sl_retain(i);    /* ints are unboxed: no count */
  sl_release(i);
}
END_TEST

START_TEST(test_display) {
  SHOWS(SL_INT(-42), "-42");
  sl_value l = sl_list_new(0);
  SHOWS(l, "empty list");
  sl_list_push(&l, SL_INT(1));
  sl_list_push(&l, sl_str("x"));
  sl_value inner = sl_list_new(0);
  sl_list_push(&inner, SL_INT(2));
  sl_list_push(&l, inner);
  SHOWS(l, "[1]:\n   1\n[2]:\n   x\n[3]:\n   [1]:\n      2");
  sl_value v = sl_intvec_new(3);
  for (int i = 0; i < 3; i++) sl_iv(v)->v[i] = i + 1;
  SHOWS(v, "1,2,3");
  sl_value b = sl_bigint_new();
  mpz_ui_pow_ui(sl_bv(b)->z, 2, 100);
  SHOWS(b, "1267650600228229401496703205376");
  sl_buf sb = {0};
  sl_string_value(&sb, l);
  ck_assert_str_eq(sb.s, "1,x,2");
  sl_buf_free(&sb);
  sl_release(l); sl_release(v); sl_release(b);
}
END_TEST

START_TEST(test_equality) {
  sl_value a = sl_str("x"), b = sl_str("x"), c = sl_str("y");
  ck_assert(sl_equal(a, b));
  ck_assert(!sl_equal(a, c));
  sl_value big = sl_bigint_from_i64(7);
  ck_assert(sl_equal(big, SL_INT(7)));
  ck_assert(!sl_equal(big, SL_INT(8)));
  ck_assert(!sl_equal(a, SL_INT(1)));
  sl_release(a); sl_release(b); sl_release(c); sl_release(big);
}
END_TEST

START_TEST(test_copy_on_write) {
  sl_world *W = sl_world_new();
  sl_ctx *C = sl_ctx_new(W);
  sl_value l = sl_list_new(0);
  sl_list_push(&l, SL_INT(1));
  sl_value shared = l;
  sl_retain(shared);
  ck_assert_int_eq(sl_setindex(C, &l, SL_INT(1), SL_INT(99)), 0);
  ck_assert(l.u.p != shared.u.p);       /* copied: someone else held it */
  ck_assert_int_eq(sl_lv(shared)->v[0].u.i, 1);
  ck_assert_int_eq(sl_lv(l)->v[0].u.i, 99);
  void *before = l.u.p;
  ck_assert_int_eq(sl_setindex(C, &l, SL_INT(2), SL_INT(5)), 0);
  ck_assert(l.u.p == before);           /* unique: changed in place */
  sl_release(l); sl_release(shared);
  sl_ctx_free(C);
  sl_world_free(W);
}
END_TEST

/* intmat: display as Singular, equality, copy-on-write of an entry */
START_TEST(test_intmat) {
  sl_world *W = sl_world_new();
  sl_ctx *C = sl_ctx_new(W);
  sl_value m = sl_intmat_new(2, 2);
  for (int i = 0; i < 4; i++) sl_imv(m)->v[i] = i + 1;
  SHOWS(m, "1,2,\n3,4 ");
  sl_buf sb = {0};
  sl_string_value(&sb, m);
  ck_assert_str_eq(sb.s, "1,2,3,4 ");
  sl_buf_free(&sb);
  sl_value l = sl_list_new(0);
  sl_retain(m);
  sl_list_push(&l, m);
  SHOWS(l, "[1]:\n   1,2,\n   3,4 ");   /* rows indented in a list */
  sl_value col = sl_intmat_new(3, 1);
  SHOWS(col, "0,0,0");
  sl_value shared = m;
  sl_retain(shared);
  ck_assert_int_eq(sl_intmat_setindex2(C, &m, SL_INT(2), SL_INT(1), SL_INT(30)), 0);
  ck_assert(m.u.p != shared.u.p);
  ck_assert_int_eq(sl_imv(shared)->v[2], 3);
  ck_assert_int_eq(sl_imv(m)->v[2], 30);
  ck_assert(!sl_equal(m, shared));
  void *before = m.u.p;
  ck_assert_int_eq(sl_intmat_setindex2(C, &m, SL_INT(1), SL_INT(1), SL_INT(-1)), 0);
  ck_assert(m.u.p == before);
  ck_assert_int_lt(sl_intmat_setindex2(C, &m, SL_INT(3), SL_INT(1), SL_INT(0)), 0);
  ck_assert_str_eq(C->err, "index [3, 1] out of range for a 2 x 2 intmat");
  sl_clear_error(C);
  sl_value p;
  ck_assert_int_eq(sl_arith(C, SL_MUL, shared, shared, &p), 0);
  SHOWS(p, "7,10,\n15,22 ");
  sl_release(p);
  /* entries too big for the unchecked product: every product and sum is
   * checked, and a result that fits is still right */
  sl_value h1 = sl_intmat_new(1, 2), h2 = sl_intmat_new(2, 1);
  sl_imv(h1)->v[0] = (int64_t)1 << 62; sl_imv(h1)->v[1] = 1;
  sl_imv(h2)->v[0] = 0; sl_imv(h2)->v[1] = 5;
  ck_assert_int_eq(sl_arith(C, SL_MUL, h1, h2, &p), 0);
  ck_assert_int_eq(sl_imv(p)->v[0], 5);
  sl_release(p);
  sl_imv(h2)->v[0] = 2;
  ck_assert_int_lt(sl_arith(C, SL_MUL, h1, h2, &p), 0);
  ck_assert_str_eq(C->err, "intmat entry overflow in `*`");
  sl_clear_error(C);
  sl_release(h1); sl_release(h2);
  p = SL_NONE;
  ck_assert_int_lt(sl_arith(C, SL_ADD, shared, col, &p), 0);
  ck_assert_str_eq(C->err, "`+`: intmat sizes not compatible (2 x 2 and 3 x 1)");
  sl_clear_error(C);
  sl_release(p); sl_release(m); sl_release(shared); sl_release(l); sl_release(col);
  sl_ctx_free(C);
  sl_world_free(W);
}
END_TEST

/* newstruct values: members by path, copy-on-write down the path */
START_TEST(test_newstruct) {
  sl_world *W = sl_world_new();
  sl_ctx *C = sl_ctx_new(W);
  ck_assert_int_eq(sl_run_string(C, "newstruct(\"vpoint\", \"int x, int y\");"
                                    "newstruct(\"vseg\", \"vpoint a, vpoint b\"); vseg s;", "t"), 0);
  sl_value s = sl_slot_get(sl_global_find(W, "s"));
  SHOWS(s, "b=<vpoint>\na=<vpoint>");
  sl_value shared = s;
  sl_retain(shared);
  int kinds[2] = {SL_PATH_MEMBER, SL_PATH_MEMBER};
  sl_value keys[2] = {sl_str("b"), sl_str("x")};
  ck_assert_int_eq(sl_setpath(C, &s, 2, kinds, keys, SL_INT(10)), 0);
  ck_assert(s.u.p != shared.u.p);                           /* s was shared: copied */
  ck_assert(sl_stv(s)->v[0].u.p == sl_stv(shared)->v[0].u.p);   /* a: still shared */
  ck_assert(sl_stv(s)->v[1].u.p != sl_stv(shared)->v[1].u.p);   /* b: copied on the way */
  SHOWS(sl_stv(s)->v[1], "y=0\nx=10");
  SHOWS(sl_stv(shared)->v[1], "y=0\nx=0");
  ck_assert(!sl_equal(s, shared));
  ck_assert_int_lt(sl_setpath(C, &s, 2, kinds, keys, sl_str("no")), 0);
  ck_assert_str_eq(C->err, "cannot assign string to member `x` (int) of vpoint");
  sl_clear_error(C);
  sl_value x;
  ck_assert_int_lt(sl_member(C, s, "c", &x), 0);
  ck_assert_str_eq(C->err, "vseg has no member `c` (its members: a, b)");
  sl_clear_error(C);
  sl_release(keys[0]); sl_release(keys[1]); sl_release(s); sl_release(shared);
  sl_ctx_free(C);
  sl_world_free(W);
}
END_TEST

START_TEST(test_conversions) {
  sl_world *W = sl_world_new();
  sl_ctx *C = sl_ctx_new(W);
  sl_value v = SL_INT(3);
  ck_assert_int_eq(sl_convert(C, SL_T_BIGINT, &v, "b"), 0);
  ck_assert_int_eq(v.type, SL_T_BIGINT);
  ck_assert_int_eq(sl_convert(C, SL_T_INT, &v, "i"), 0);
  ck_assert_int_eq(v.type, SL_T_INT);
  sl_value s = sl_str("x");
  ck_assert_int_lt(sl_convert(C, SL_T_INT, &s, "n"), 0);
  ck_assert_str_eq(C->err, "cannot assign string to int `n`");
  sl_clear_error(C);
  sl_release(s);
  sl_value out;
  ck_assert_int_eq(sl_arith(C, SL_ADD, SL_INT(INT64_MAX), SL_INT(1), &out), 0);
  ck_assert_int_eq(out.type, SL_T_BIGINT);   /* promoted, never wrapped */
  SHOWS(out, "9223372036854775808");
  sl_release(out);
  ck_assert_int_lt(sl_arith(C, SL_IDIV, SL_INT(1), SL_INT(0), &out), 0);
  ck_assert_str_eq(C->err, "division by 0");
  sl_ctx_free(C);
  sl_world_free(W);
}
END_TEST

/* many threads assign strings to one global and read it back: no crash,
 * and every string is freed (checked by the count going back to one) */
static sl_slot *gslot;
static void *hammer(void *arg) {
  char buf[32];
  for (int i = 0; i < 20000; i++) {
    snprintf(buf, sizeof buf, "t%ld-%d", (long)(intptr_t)arg, i);
    sl_slot_set(gslot, sl_str(buf), -1);
    sl_value v = sl_slot_get(gslot);
    ck_assert_int_eq(v.type, SL_T_STRING);
    sl_release(v);
  }
  return NULL;
}

START_TEST(test_concurrent_globals) {
  sl_world *W = sl_world_new();
  sl_set_threaded();
  gslot = sl_global_slot(W, "shared");
  sl_slot_set(gslot, sl_str("start"), SL_T_DEF);
  pthread_t t[4];
  for (long i = 0; i < 4; i++) pthread_create(&t[i], NULL, hammer, (void *)(intptr_t)i);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  sl_value v = sl_slot_get(gslot);
  ck_assert_int_eq(atomic_load(&((sl_obj *)v.u.p)->rc), 2);
  sl_release(v);
  ck_assert(sl_global_slot(W, "shared") == gslot);
  sl_world_free(W);
}
END_TEST

START_TEST(test_run_in_two_contexts) {
  sl_world *W = sl_world_new();
  sl_ctx *A = sl_ctx_new(W), *B = sl_ctx_new(W);
  ck_assert_int_eq(sl_run_string(A, "proc sq(int n) { return(n * n); } int g = 5;", "a"), 0);
  sl_value fn = sl_slot_get(sl_global_slot(W, "sq")), r;
  sl_value arg = SL_INT(7);
  ck_assert_int_eq(sl_call_value(B, fn, 1, &arg, &r), 0);
  ck_assert_int_eq(r.u.i, 49);
  ck_assert_int_lt(sl_run_string(B, "g = \"x\";", "b"), 0);
  ck_assert_str_eq(B->err, "b:1: cannot assign string to int `g`");
  sl_release(fn);
  sl_ctx_free(A); sl_ctx_free(B);
  sl_world_free(W);
}
END_TEST

/* several contexts on several threads run scripts at once: shared procs,
 * shared globals assigned concurrently, lists passed between them */
static sl_world *mt_world;
static void *run_worker(void *arg) {
  sl_ctx *C = sl_ctx_new(mt_world);
  sl_value fn = sl_slot_get(sl_global_slot(mt_world, "runit")), r;
  sl_value id = SL_INT((int64_t)(intptr_t)arg);
  int rc = sl_call_value(C, fn, 1, &id, &r);
  if (rc != 0) fprintf(stderr, "worker: %s\n", C->err ? C->err : "?");
  else if (r.type != SL_T_INT || r.u.i != 3000) rc = -5;
  sl_release(r);
  sl_release(fn);
  sl_ctx_free(C);
  return (void *)(intptr_t)rc;
}

START_TEST(test_threads_share_globals) {
  mt_world = sl_world_new();
  sl_ctx *C = sl_ctx_new(mt_world);
  ck_assert_int_eq(sl_run_string(C,
      "proc work(int n) { list l = n, n; return(l[1] + l[2]); }"
      "def counter = 0; def shared = list();"
      "proc runit(int id) { int k; list mine; int done;"
      "  for (k = 1; k <= 3000; k++) {"
      "    counter = k; shared = list(k, \"s\", intvec(1, 2));"
      "    mine = shared; mine[1] = id; string s = string(mine);"
      "    if (work(k) != k * 2) { ERROR(\"bad result\"); }"
      "    done++;"
      "  }"
      "  return(done); }", "setup"), 0);
  pthread_t t[4];
  for (long i = 0; i < 4; i++) pthread_create(&t[i], NULL, run_worker, (void *)(intptr_t)i);
  for (int i = 0; i < 4; i++) {
    void *r;
    pthread_join(t[i], &r);
    ck_assert_int_eq((int)(intptr_t)r, 0);
  }
  ck_assert_int_eq(sl_run_string(C, "if (size(shared) != 3) { ERROR(\"shared\"); }", "check"), 0);
  sl_ctx_free(C);
  sl_world_free(mt_world);
}
END_TEST

/* the mirroring api of the cluster plugin: world B follows world A's
 * globals through globals_changed, proc_source/make_proc, encode/decode
 * and set_global, as another rank does */
typedef struct { sl_ctx *src, *dst; int n; } mirror_t;
static void mirror_one(void *ud, const char *name, sl_value v, int decl) {
  mirror_t *m = ud;
  m->n++;
  if (decl == -1) { sl_api.set_global(m->dst, name, SL_NONE, -2); return; }
  const char *file = NULL;
  int line = 0;
  char *src = sl_api.proc_source(v, &file, &line);
  sl_value copy = SL_NONE;
  if (src) {
    ck_assert_int_eq(sl_api.make_proc(m->dst, src, file, line, &copy), 0);
    free(src);
  } else {
    char *bytes;
    size_t len;
    if (sl_api.encode(m->src, v, &bytes, &len) < 0) { sl_clear_error(m->src); return; }
    ck_assert_int_eq(sl_api.decode(m->dst, bytes, len, &copy), 0);
    free(bytes);
  }
  sl_api.set_global(m->dst, name, copy, decl);
  sl_release(copy);
}

static int64_t eval_int(sl_ctx *C, const char *code) {
  sl_slot *s = sl_global_slot(C->W, "result_");
  ck_assert_msg(sl_run_string(C, code, "eval") == 0, "%s: %s", code, C->err ? C->err : "");
  sl_value v = sl_slot_get(s);
  ck_assert_int_eq(v.type, SL_T_INT);
  return v.u.i;
}

START_TEST(test_mirror_globals) {
  sl_world *WA = sl_world_new(), *WB = sl_world_new();
  sl_ctx *A = sl_ctx_new(WA), *B = sl_ctx_new(WB);
  ck_assert_int_eq(sl_run_string(A,
      "int k = 5; list L = list(1, \"two\", bigint(3)^70);\n"
      "proc helper(int x) { return(x + k); }\n"
      "proc f(int x, list #)\n{\n  if (size(#) > 0) { return(helper(x) + #[1]); }\n  return(helper(x));\n}\n",
      "a.sing"), 0);
  mirror_t m = {A, B, 0};
  sl_api.globals_changed(A, mirror_one, &m);   /* first call: everything */
  ck_assert_int_ge(m.n, 4);
  ck_assert_int_eq(eval_int(B, "int result_ = f(1);"), 6);
  ck_assert_int_eq(eval_int(B, "result_ = f(1, 10);"), 16);
  ck_assert_int_eq(eval_int(B, "result_ = size(L) + (L[3] == bigint(3)^70);"), 4);
  /* nothing changed: nothing reported */
  m.n = 0;
  sl_api.globals_changed(A, mirror_one, &m);
  ck_assert_int_eq(m.n, 0);
  /* a global written in a loop is reported once; a redefined proc, a
   * killed global */
  ck_assert_int_eq(sl_run_string(A, "int i; for (i = 1; i <= 100; i++) { k = i; }"
                                    "proc helper(int x) { return(x * k); } kill L;", "a2"), 0);
  m.n = 0;
  sl_api.globals_changed(A, mirror_one, &m);
  ck_assert_int_eq(m.n, 4);   /* i, k, helper, L */
  ck_assert_int_eq(eval_int(B, "result_ = f(2);"), 200);
  ck_assert_int_eq(eval_int(B, "result_ = defined(L);"), 0);
  /* a proc's error in B names A's file and line */
  ck_assert_int_eq(sl_run_string(A, "proc bad()\n{\n  int y = 1;\n  ERROR(\"boom\");\n}", "b.sing"), 0);
  sl_api.globals_changed(A, mirror_one, &m);
  ck_assert_int_lt(sl_run_string(B, "bad();", "call"), 0);
  ck_assert_msg(strstr(B->err, "b.sing:4:") != NULL, "%s", B->err);
  /* not a proc: no source; a text that is no proc: an error */
  ck_assert_ptr_null(sl_api.proc_source(SL_INT(1), NULL, NULL));
  sl_value x;
  ck_assert_int_lt(sl_api.make_proc(B, "int q = 1;", NULL, 1, &x), 0);
  sl_ctx_free(A); sl_ctx_free(B);
  sl_world_free(WA); sl_world_free(WB);
}
END_TEST

/* the checked allocators: what they return, and that a failure ends in
 * "out of memory" and abort() (sl_oom), not in a NULL used later */
START_TEST(test_xalloc) {
  char *p = sl_xmalloc(0);            /* a size of 0 is 1 byte, never NULL */
  ck_assert_ptr_nonnull(p);
  p = sl_xrealloc(p, 4);
  memcpy(p, "abc", 4);
  p = sl_xrealloc(p, 1 << 20);        /* the contents move with it */
  ck_assert_str_eq(p, "abc");
  free(p);
  int *z = sl_xcalloc(16, sizeof *z);
  for (int i = 0; i < 16; i++) ck_assert_int_eq(z[i], 0);
  free(z);
  char *d = sl_xstrdup("spindle"), *n = sl_xstrndup("spindle", 4);
  ck_assert_str_eq(d, "spindle");
  ck_assert_str_eq(n, "spin");
  free(d);
  free(n);
}
END_TEST

/* ASan and TSan answer an impossible malloc with their own report, not
 * NULL (allocator_may_return_null=0): the failure path is checked in the
 * plain build */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define SL_TEST_XALLOC_FAILS 1
START_TEST(test_xalloc_fails) {
  size_t huge = (size_t)-1 / 2;       /* no system gives that much */
  void *volatile p = sl_xmalloc(huge);
  (void)p;                            /* not reached: aborted */
}
END_TEST
#endif

int main(void) {
  Suite *s = suite_create("value");
  TCase *tc = tcase_create("value");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_refcount);
  tcase_add_test(tc, test_display);
  tcase_add_test(tc, test_equality);
  tcase_add_test(tc, test_copy_on_write);
  tcase_add_test(tc, test_conversions);
  tcase_add_test(tc, test_intmat);
  tcase_add_test(tc, test_newstruct);
  tcase_add_test(tc, test_concurrent_globals);
  tcase_add_test(tc, test_run_in_two_contexts);
  tcase_add_test(tc, test_threads_share_globals);
  tcase_add_test(tc, test_mirror_globals);
  tcase_add_test(tc, test_xalloc);
#ifdef SL_TEST_XALLOC_FAILS
  tcase_add_test_raise_signal(tc, test_xalloc_fails, SIGABRT);
#endif
  suite_add_tcase(s, tc);
  return check_run(s);
}
