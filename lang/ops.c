/* ops.c: the slow paths of the VM -- arithmetic beyond two small ints,
 * comparisons, indexing, conversions on assignment and truth tests. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sl.h"

static const char *opsym[] = {"+", "-", "*", "/", "div", "mod", "^",
                              "==", "!=", "<", "<=", ">", ">="};

static int type_err(sl_ctx *C, int op, sl_value a, sl_value b) {
  return sl_error(C, "`%s` is not supported for %s and %s", opsym[op],
                  sl_type_name((int)a.type), sl_type_name((int)b.type));
}

static int isnum(sl_value v) { return v.type == SL_T_INT || v.type == SL_T_BIGINT; }

static void to_mpz(mpz_t z, sl_value v) {
  if (v.type == SL_T_INT) mpz_set_si(z, (long)v.u.i);
  else mpz_set(z, sl_bv(v)->z);
}

static int big_arith(sl_ctx *C, int op, sl_value a, sl_value b, sl_value *out) {
  mpz_t x, y;
  mpz_init(x); mpz_init(y);
  to_mpz(x, a); to_mpz(y, b);
  /* refuse a result over sl_limits.bigint_bits before GMP computes it */
  double bits = 0;
  size_t bx = mpz_sizeinbase(x, 2), by = mpz_sizeinbase(y, 2);
  if (op == SL_ADD || op == SL_SUB) bits = (double)(bx > by ? bx : by) + 1;
  else if (op == SL_MUL) bits = (double)bx + (double)by;
  else if (op == SL_POW && mpz_sgn(y) > 0 && mpz_cmpabs_ui(x, 1) > 0) {
    long ex;
    double d = mpz_get_d_2exp(&ex, x);
    bits = mpz_get_d(y) * ((double)ex + log2(fabs(d)));
  }
  if (bits > (double)sl_limits.bigint_bits) {
    mpz_clear(x); mpz_clear(y);
    return sl_error(C, "`%s`: bigint result too large (about %.0f bits; the limit is %llu bits)",
                    opsym[op], bits, (unsigned long long)sl_limits.bigint_bits);
  }
  sl_value r = sl_bigint_new();
  mpz_ptr z = sl_bv(r)->z;
  int rc = 0;
  switch (op) {
  case SL_ADD: mpz_add(z, x, y); break;
  case SL_SUB: mpz_sub(z, x, y); break;
  case SL_MUL: mpz_mul(z, x, y); break;
  case SL_DIV: case SL_IDIV: case SL_MOD:
    if (!mpz_sgn(y)) { rc = sl_error(C, "division by 0"); break; }
    /* Euclidean, as Singular's bigints: 0 <= a mod b < |b| and
     * (a div b) * b + (a mod b) == a */
    mpz_mod(z, x, y);
    if (op != SL_MOD) { mpz_sub(x, x, z); mpz_divexact(z, x, y); }
    break;
  case SL_POW:
    if (mpz_sgn(y) < 0 || !mpz_fits_ulong_p(y) || mpz_get_ui(y) > 100000000UL) {
      rc = sl_error(C, "`^`: exponent must be a non-negative int");
      break;
    }
    mpz_pow_ui(z, x, mpz_get_ui(y));
    break;
  }
  mpz_clear(x); mpz_clear(y);
  if (rc < 0) { sl_release(r); return rc; }
  *out = r;
  return 0;
}

static int int_pow(sl_ctx *C, int64_t x, int64_t e, sl_value *out) {
  if (e < 0) return sl_error(C, "`^`: negative exponent %lld", (long long)e);
  int64_t r = 1;
  for (int64_t i = 0; i < e; i++) {
    if (__builtin_mul_overflow(r, x, &r)) return big_arith(C, SL_POW, SL_INT(x), SL_INT(e), out);
    if (r == 0 || r == 1) break;
  }
  if (r == 1 && x == -1 && (e & 1)) r = -1;
  *out = SL_INT(r);
  return 0;
}

static int int_arith(sl_ctx *C, int op, int64_t x, int64_t y, sl_value *out) {
  int64_t r;
  switch (op) {
  case SL_ADD: if (__builtin_add_overflow(x, y, &r)) goto big; break;
  case SL_SUB: if (__builtin_sub_overflow(x, y, &r)) goto big; break;
  case SL_MUL: if (__builtin_mul_overflow(x, y, &r)) goto big; break;
  case SL_DIV: case SL_IDIV: case SL_MOD:
    if (y == 0) return sl_error(C, "division by 0");
    if (x == INT64_MIN && y == -1) goto big;
    if (op == SL_DIV) sl_warn(C, "int division with `/`: use `div` instead", SL_WARN_INLINE);
    r = op == SL_MOD ? x % y : x / y;
    break;
  case SL_POW: return int_pow(C, x, y, out);
  default: return sl_error(C, "bad operator");
  }
  *out = SL_INT(r);
  return 0;
big:
  return big_arith(C, op, SL_INT(x), SL_INT(y), out);
}

static int concat_str(sl_ctx *C, sl_value a, sl_value b, sl_value *out) {
  sl_string *x = sl_sv(a), *y = sl_sv(b);
  if (x->len + y->len > sl_limits.str_len)
    return sl_error(C, "`+`: string too long (%zu bytes; the limit is %zu)", x->len + y->len, sl_limits.str_len);
  sl_string *o = sl_alloc_obj(sizeof *o + x->len + y->len + 1, SL_T_STRING);
  o->len = x->len + y->len;
  memcpy(o->s, x->s, x->len);
  memcpy(o->s + x->len, y->s, y->len);
  o->s[o->len] = 0;
  *out = SL_OBJ(SL_T_STRING, o);
  return 0;
}

static int concat_list(sl_ctx *C, sl_value a, sl_value b, sl_value *out) {
  sl_list *y = sl_lv(b);
  if (sl_lv(a)->n + y->n > sl_limits.elems)
    return sl_error(C, "`+`: list too long (%zu entries; the limit is %zu)", sl_lv(a)->n + y->n, sl_limits.elems);
  sl_value r = sl_list_copy(a);
  for (size_t i = 0; i < y->n; i++) { sl_retain(y->v[i]); sl_list_push(&r, y->v[i]); }
  *out = r;
  return 0;
}

/* x div n and x % n as Singular's intvec and intmat: the remainder is in
 * 0..|n|-1 (-7 div 2 is -4, -7 % 4 is 1); 1 on overflow (INT64_MIN div
 * -1). n != 0. */
int sl_euclid(int64_t x, int64_t n, int mod, int64_t *out) {
  if (n == -1) {   /* x % -1 traps for INT64_MIN in C */
    if (mod) { *out = 0; return 0; }
    if (x == INT64_MIN) return 1;
    *out = -x;
    return 0;
  }
  int64_t r = x % n, q;
  if (r < 0) r = (int64_t)((uint64_t)r + (n < 0 ? -(uint64_t)n : (uint64_t)n));
  if (mod) { *out = r; return 0; }
  if (__builtin_sub_overflow(x, r, &q)) return 1;
  *out = q / n;
  return 0;
}

static int iv_elem(sl_ctx *C, int op, int64_t x, int64_t y, int64_t *r) {
  switch (op) {
  case SL_ADD: if (!__builtin_add_overflow(x, y, r)) return 0; break;
  case SL_SUB: if (!__builtin_sub_overflow(x, y, r)) return 0; break;
  case SL_MUL: if (!__builtin_mul_overflow(x, y, r)) return 0; break;
  case SL_DIV: case SL_IDIV: case SL_MOD:
    if (y == 0) return sl_error(C, "division by 0");
    if (!sl_euclid(x, y, op == SL_MOD, r)) return 0;   /* Singular's: remainder in 0..|y|-1 */
    break;
  default: return sl_error(C, "`%s` is not supported for intvec", opsym[op]);
  }
  return sl_error(C, "intvec entry overflow in `%s`", opsym[op]);
}

/* intvec with int or intvec, elementwise; the shorter intvec counts as
 * padded with zeros (Singular's rule) */
static int intvec_arith(sl_ctx *C, int op, sl_value a, sl_value b, sl_value *out) {
  int av = a.type == SL_T_INTVEC, bv = b.type == SL_T_INTVEC;
  size_t na = av ? sl_iv(a)->n : 1, nb = bv ? sl_iv(b)->n : 1;
  size_t n = av && bv ? (na > nb ? na : nb) : (av ? na : nb);
  if (av && bv && op != SL_ADD && op != SL_SUB)
    return sl_error(C, "`%s` is not supported for intvec and intvec", opsym[op]);
  sl_value r = sl_intvec_new(n);
  for (size_t i = 0; i < n; i++) {
    int64_t x = av ? (i < na ? sl_iv(a)->v[i] : 0) : a.u.i;
    int64_t y = bv ? (i < nb ? sl_iv(b)->v[i] : 0) : b.u.i;
    if (iv_elem(C, op, x, y, &sl_iv(r)->v[i]) < 0) { sl_release(r); return SL_ERR; }
  }
  *out = r;
  return 0;
}

int sl_arith(sl_ctx *C, int op, sl_value a, sl_value b, sl_value *out) {
  if (a.type == SL_T_INT && b.type == SL_T_INT) return int_arith(C, op, a.u.i, b.u.i, out);
  if (a.type == SL_T_INTMAT || b.type == SL_T_INTMAT) return sl_intmat_arith(C, op, a, b, out);
  if (isnum(a) && isnum(b)) {
    if (op == SL_DIV) op = SL_IDIV;
    return big_arith(C, op, a, b, out);
  }
  if (op == SL_ADD && a.type == SL_T_STRING && b.type == SL_T_STRING)
    return concat_str(C, a, b, out);
  if (op == SL_ADD && a.type == SL_T_LIST && b.type == SL_T_LIST)
    return concat_list(C, a, b, out);
  if ((a.type == SL_T_INTVEC && (b.type == SL_T_INT || b.type == SL_T_INTVEC)) ||
      (b.type == SL_T_INTVEC && a.type == SL_T_INT && op != SL_DIV && op != SL_IDIV && op != SL_MOD))
    return intvec_arith(C, op, a, b, out);
  if ((int)a.type >= SL_T_FIRST_USER || (int)b.type >= SL_T_FIRST_USER) {   /* installed for a newstruct */
    sl_value ab[2] = {a, b};
    int rc = sl_struct_apply(C, opsym[op], 2, ab, out);
    if (rc) return rc < 0 ? rc : 0;
  }
  return type_err(C, op, a, b);
}

/* a comparison installed for a newstruct (its proc's result is the
 * truth): 1 when done, 0 when none is installed, < 0 on error; != falls
 * back to the negation of an installed == */
static int struct_compare(sl_ctx *C, int op, sl_value a, sl_value b, int *out) {
  sl_value ab[2] = {a, b}, r;
  int neg = 0, rc = sl_struct_apply(C, opsym[op], 2, ab, &r);
  if (rc == 0 && op == SL_NE) { neg = 1; rc = sl_struct_apply(C, "==", 2, ab, &r); }
  if (rc <= 0) return rc;
  if (r.type != SL_T_INT) {
    sl_error(C, "`%s`: the proc installed for %s returned %s, not int", opsym[op],
             sl_type_name((int)((int)a.type >= SL_T_FIRST_USER ? a.type : b.type)), sl_type_name((int)r.type));
    sl_release(r);
    return SL_ERR;
  }
  *out = neg ? !r.u.i : r.u.i != 0;
  return 1;
}

/* Singular's intvec::compare of two intvecs or intmats (r x c entries
 * each; an intvec is n x 1): entries in order, the shorter padded with
 * zeros ([1,2] == [1,2,0], [1,2] > [1,2,-3]); an intmat of more than one
 * column only against one of the same shape, else -2 */
static int iv_cmp(const int64_t *x, size_t xr, size_t xc, const int64_t *y, size_t yr, size_t yc) {
  if ((xc != 1 || yc != 1) && (xc != yc || xr != yr)) return -2;
  size_t nx = xr * xc, ny = yr * yc, i;
  for (i = 0; i < nx && i < ny; i++)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  for (; i < nx; i++)
    if (x[i]) return x[i] > 0 ? 1 : -1;
  for (; i < ny; i++)
    if (y[i]) return y[i] < 0 ? 1 : -1;
  return 0;
}

/* an intvec, intmat or int (one entry) as r x c entries */
static int iv_shape(sl_value v, int64_t *one, const int64_t **p, size_t *r, size_t *c) {
  switch (v.type) {
  case SL_T_INTVEC: *p = sl_iv(v)->v; *r = sl_iv(v)->n; *c = 1; return 1;
  case SL_T_INTMAT: *p = sl_imv(v)->v; *r = sl_imv(v)->r; *c = sl_imv(v)->c; return 1;
  case SL_T_INT: *one = v.u.i; *p = one; *r = 1; *c = 1; return 1;
  default: return 0;
  }
}

/* Comparisons with an intvec or intmat, as Singular's: an intvec with an
 * int on its right (==, <, <=, >, >=) looks at the first entry that
 * differs from the int (1,1 == 1; 1,2 > 1); anything else -- intvecs,
 * an int on the left, != with an int (Singular turns the int into an
 * intvec of one entry there: both 1,1 == 1 and 1,1 != 1 hold), intmats
 * (== and != only) -- compares entries in order (iv_cmp). 1 when done,
 * 0 when a and b are not such a pair. */
static int iv_compare(sl_ctx *C, int op, sl_value a, sl_value b, int *c) {
  int av = a.type == SL_T_INTVEC, am = a.type == SL_T_INTMAT;
  int bv = b.type == SL_T_INTVEC, bm = b.type == SL_T_INTMAT;
  if (!av && !am && !bv && !bm) return 0;
  int64_t one_a, one_b;
  const int64_t *x, *y;
  size_t xr, xc, yr, yc;
  if (!iv_shape(a, &one_a, &x, &xr, &xc) || !iv_shape(b, &one_b, &y, &yr, &yc) ||
      ((am || bm) && ((op != SL_EQ && op != SL_NE) || a.type == SL_T_INT || b.type == SL_T_INT)))
    return type_err(C, op, a, b);
  if (av && b.type == SL_T_INT && op != SL_NE) {
    *c = 0;
    for (size_t i = 0; i < xr && !*c; i++)
      *c = (x[i] > b.u.i) - (x[i] < b.u.i);
    return 1;
  }
  *c = iv_cmp(x, xr, xc, y, yr, yc);
  if (*c == -2)
    return sl_error(C, "`%s`: sizes not compatible (%zu x %zu and %zu x %zu)", opsym[op], xr, xc, yr, yc);
  return 1;
}

int sl_compare(sl_ctx *C, int op, sl_value a, sl_value b, int *out) {
  if ((int)a.type >= SL_T_FIRST_USER || (int)b.type >= SL_T_FIRST_USER) {
    int done = struct_compare(C, op, a, b, out);
    if (done) return done < 0 ? done : 0;
  }
  int c, rc = iv_compare(C, op, a, b, &c);
  if (rc < 0) return SL_ERR;
  if (rc == 0) {
    if (op == SL_EQ || op == SL_NE) {
      int e = sl_equal(a, b);
      *out = op == SL_EQ ? e : !e;
      return 0;
    }
    if (isnum(a) && isnum(b)) {
      mpz_t x, y;
      mpz_init(x); mpz_init(y);
      to_mpz(x, a); to_mpz(y, b);
      c = mpz_cmp(x, y);
      mpz_clear(x); mpz_clear(y);
    } else if (a.type == SL_T_STRING && b.type == SL_T_STRING) {
      c = strcmp(sl_sv(a)->s, sl_sv(b)->s);
    } else {
      return type_err(C, op, a, b);
    }
  }
  switch (op) {
  case SL_EQ: *out = c == 0; break;
  case SL_NE: *out = c != 0; break;
  case SL_LT: *out = c < 0; break;
  case SL_LE: *out = c <= 0; break;
  case SL_GT: *out = c > 0; break;
  default: *out = c >= 0; break;
  }
  return 0;
}

int sl_truth(sl_ctx *C, sl_value v, int *out) {
  if (v.type == SL_T_INT) { *out = v.u.i != 0; return 0; }
  if (v.type == SL_T_BIGINT) { *out = mpz_sgn(sl_bv(v)->z) != 0; return 0; }
  return sl_error(C, "a condition must be int, not %s", sl_type_name((int)v.type));
}

/* ---- indexing ---------------------------------------------------------- */
static int index1(sl_ctx *C, sl_value a, int64_t i, sl_value *out) {
  size_t n;
  switch (a.type) {
  case SL_T_STRING: n = sl_sv(a)->len; break;
  case SL_T_LIST: n = sl_lv(a)->n; break;
  case SL_T_INTVEC: n = sl_iv(a)->n; break;
  default: return sl_error(C, "a value of type %s cannot be indexed", sl_type_name((int)a.type));
  }
  if (a.type == SL_T_STRING && (i < 1 || (size_t)i > n)) {
    *out = sl_str_new("", 0);   /* Singular: past either end is "" */
    return 0;
  }
  if (i < 1 || (size_t)i > n)
    return sl_error(C, "index %lld out of range 1..%zu", (long long)i, n);
  if (a.type == SL_T_STRING) *out = sl_str_new(sl_sv(a)->s + i - 1, 1);
  else if (a.type == SL_T_INTVEC) *out = SL_INT(sl_iv(a)->v[i - 1]);
  else { *out = sl_lv(a)->v[i - 1]; sl_retain(*out); }
  return 0;
}

int sl_index(sl_ctx *C, sl_value a, sl_value i, sl_value *out) {
  if ((int)a.type >= SL_T_FIRST_USER) {   /* x[i] installed for a newstruct */
    sl_value ai[2] = {a, i};
    int rc = sl_struct_apply(C, "[", 2, ai, out);
    if (rc) return rc < 0 ? rc : 0;
  }
  if (a.type == SL_T_INTMAT) return sl_error(C, "an intmat entry needs two indices: m[i, j]");
  if (i.type == SL_T_INT) return index1(C, a, i.u.i, out);
  if (i.type == SL_T_INTVEC) {
    sl_value r = sl_list_new(sl_iv(i)->n);
    sl_lv(r)->h.type = SL_T_MULTI;
    r.type = SL_T_MULTI;
    for (size_t j = 0; j < sl_iv(i)->n; j++) {
      sl_value x;
      if (index1(C, a, sl_iv(i)->v[j], &x) < 0) { sl_release(r); return SL_ERR; }
      sl_list_push(&r, x);
    }
    *out = r;
    return 0;
  }
  return sl_error(C, "an index must be int or intvec, not %s", sl_type_name((int)i.type));
}

/* s[i, n]: n characters from i, padded with blanks past the end */
int sl_index2(sl_ctx *C, sl_value a, sl_value i, sl_value n, sl_value *out) {
  if ((int)a.type >= SL_T_FIRST_USER) {   /* x[i, j] installed for a newstruct */
    sl_value ain[3] = {a, i, n};
    int rc = sl_struct_apply(C, "[", 3, ain, out);
    if (rc) return rc < 0 ? rc : 0;
  }
  if (a.type == SL_T_INTMAT) return sl_intmat_index2(C, a, i, n, out);
  if (a.type != SL_T_STRING)
    return sl_error(C, "`[i, n]` needs a string, not %s", sl_type_name((int)a.type));
  if (i.type != SL_T_INT || n.type != SL_T_INT || i.u.i < 1 || n.u.i < 0)
    return sl_error(C, "`s[i, n]` needs ints i >= 1 and n >= 0");
  if ((uint64_t)n.u.i > sl_limits.str_len)
    return sl_error(C, "`s[i, n]`: n = %lld is over the string limit of %zu bytes", (long long)n.u.i, sl_limits.str_len);
  sl_string *s = sl_sv(a);
  if ((size_t)i.u.i > s->len)
    return sl_error(C, "`s[%lld, %lld]`: %lld is past the end of the string (size %zu)",
                    (long long)i.u.i, (long long)n.u.i, (long long)i.u.i, s->len);
  sl_buf b = {0};
  for (int64_t j = 0; j < n.u.i; j++) {
    size_t p = (size_t)(i.u.i - 1 + j);
    sl_buf_add(&b, p < s->len ? &s->s[p] : " ", 1);
  }
  *out = sl_str_new(b.s ? b.s : "", b.len);
  sl_buf_free(&b);
  return 0;
}

/* target[i] = x, copying the target first if someone else shares it.
 * Always takes x's reference. */
/* v[2..3] = 8, 9: one entry per index */
static int setindex_many(sl_ctx *C, sl_value *t, sl_value i, sl_value x) {
  sl_intvec *iv = sl_iv(i);
  size_t n = x.type == SL_T_MULTI ? sl_lv(x)->n : 1;
  if (n != iv->n) {
    sl_release(x);
    return sl_error(C, "%zu indices but %zu values to assign", iv->n, n);
  }
  for (size_t j = 0; j < n; j++) {
    sl_value e = x.type == SL_T_MULTI ? sl_lv(x)->v[j] : x;
    sl_retain(e);
    if (sl_setindex(C, t, SL_INT(iv->v[j]), e) < 0) { sl_release(x); return SL_ERR; }
  }
  sl_release(x);
  return 0;
}

int sl_setindex(sl_ctx *C, sl_value *t, sl_value i, sl_value x) {
  if (t->type == SL_T_INTMAT) { sl_release(x); return sl_error(C, "an intmat entry needs two indices: m[i, j]"); }
  if (i.type == SL_T_INTVEC) return setindex_many(C, t, i, x);
  if (i.type != SL_T_INT) { sl_release(x); return sl_error(C, "an index to assign must be int, not %s", sl_type_name((int)i.type)); }
  int64_t k = i.u.i;
  if (k < 1) { sl_release(x); return sl_error(C, "index %lld out of range: indices start at 1", (long long)k); }
  if ((uint64_t)k > sl_limits.elems) { sl_release(x); return sl_error(C, "index %lld is past the limit of %zu entries", (long long)k, sl_limits.elems); }
  if (t->type == SL_T_LIST) {
    if (!sl_unique(*t)) { sl_value c = sl_list_copy(*t); sl_release(*t); *t = c; }
    while (sl_lv(*t)->n < (size_t)k) sl_list_push(t, SL_NONE);
    if (x.type == SL_T_MULTI) sl_convert(C, SL_T_LIST, &x, "element");
    sl_release(sl_lv(*t)->v[k - 1]);
    sl_lv(*t)->v[k - 1] = x;
    return 0;
  }
  if (t->type == SL_T_INTVEC) {
    if (x.type != SL_T_INT) { sl_release(x); return sl_error(C, "an intvec entry must be int, not %s", sl_type_name((int)x.type)); }
    sl_intvec *v = sl_iv(*t);
    if (!sl_unique(*t) || (size_t)k > v->n) {
      size_t n = (size_t)k > v->n ? (size_t)k : v->n;
      sl_value c = sl_intvec_new(n);
      memcpy(sl_iv(c)->v, v->v, v->n * sizeof(int64_t));
      sl_release(*t);
      *t = c;
    }
    sl_iv(*t)->v[k - 1] = x.u.i;
    return 0;
  }
  if (t->type == SL_T_STRING) {
    if (x.type != SL_T_STRING || sl_sv(x)->len < 1) { sl_release(x); return sl_error(C, "a string entry must be a non-empty string, not %s", sl_type_name((int)x.type)); }
    sl_string *s = sl_sv(*t);
    if ((size_t)k > s->len) { sl_release(x); return sl_error(C, "index %lld out of range 1..%zu", (long long)k, s->len); }
    sl_value c = sl_str_new(s->s, s->len);
    sl_sv(c)->s[k - 1] = sl_sv(x)->s[0];
    sl_release(x);
    sl_release(*t);
    *t = c;
    return 0;
  }
  sl_release(x);
  return sl_error(C, "cannot assign to an entry of %s (only of a list, an intvec, a string or an intmat)",
                  sl_type_name((int)t->type));
}

int sl_flatten(sl_ctx *C, int n, sl_value *v, sl_value *out) {
  sl_value r = sl_list_new((size_t)n);
  r.type = SL_T_MULTI;
  sl_lv(r)->h.type = SL_T_MULTI;
  for (int i = 0; i < n; i++) {
    if (v[i].type == SL_T_MULTI) {
      sl_list *m = sl_lv(v[i]);
      for (size_t j = 0; j < m->n; j++) { sl_retain(m->v[j]); sl_list_push(&r, m->v[j]); }
    } else {
      sl_retain(v[i]);
      sl_list_push(&r, v[i]);
    }
  }
  *out = r;
  return 0;
}

/* ---- conversion on assignment ------------------------------------------ */
static int conv_err(sl_ctx *C, int type, sl_value v, const char *what) {
  if (strchr(what, ':'))
    return sl_error(C, "%s must be %s, not %s", what, sl_type_name(type), sl_type_name((int)v.type));
  return sl_error(C, "cannot assign %s to %s `%s`", sl_type_name((int)v.type), sl_type_name(type), what);
}

static int to_intvec(sl_ctx *C, sl_value *v, const char *what) {
  sl_value r = sl_intvec_new(0);
  sl_list *l = sl_lv(*v);
  sl_buf b = {0};
  for (size_t i = 0; i < l->n; i++) {
    sl_value x = l->v[i];
    if (x.type == SL_T_INT) sl_buf_add(&b, (const char *)&x.u.i, sizeof(int64_t));
    else if (x.type == SL_T_INTVEC) sl_buf_add(&b, (const char *)sl_iv(x)->v, sl_iv(x)->n * sizeof(int64_t));
    else if (x.type == SL_T_INTMAT) sl_buf_add(&b, (const char *)sl_imv(x)->v, sl_imv(x)->r * sl_imv(x)->c * sizeof(int64_t));
    else { sl_buf_free(&b); sl_release(r); return conv_err(C, SL_T_INTVEC, x, what); }
  }
  size_t n = b.len / sizeof(int64_t);
  sl_release(r);
  r = sl_intvec_new(n);
  if (n) memcpy(sl_iv(r)->v, b.s, b.len);
  sl_buf_free(&b);
  sl_release(*v);
  *v = r;
  return 0;
}

int sl_convert(sl_ctx *C, int type, sl_value *v, const char *what) {
  int t = (int)v->type;
  if (t == type && t != SL_T_MULTI) return 0;
  switch (type) {
  case SL_T_DEF:
    if (t != SL_T_MULTI) return 0;
    /* fall through */
  case SL_T_LIST:
    if (t == SL_T_MULTI) {
      sl_value c = sl_list_copy(*v);
      c.type = SL_T_LIST;
      sl_lv(c)->h.type = SL_T_LIST;
      sl_release(*v);
      *v = c;
      return 0;
    }
    if (t == SL_T_NONE) { *v = sl_list_new(0); return 0; }
    { sl_value l = sl_list_new(1); sl_list_push(&l, *v); *v = l; }
    return 0;
  case SL_T_INT:
    if (t == SL_T_BIGINT) {
      int64_t x;
      if (!sl_bigint_fits(*v, &x))
        return sl_error(C, "%s%sbigint value too large for int", what, strchr(what, ':') ? " " : ": ");
      sl_release(*v);
      *v = SL_INT(x);
      return 0;
    }
    break;
  case SL_T_BIGINT:
    if (t == SL_T_INT) { *v = sl_bigint_from_i64(v->u.i); return 0; }
    break;
  case SL_T_INTVEC:
    if (t == SL_T_INT) {
      sl_value r = sl_intvec_new(1);
      sl_iv(r)->v[0] = v->u.i;
      *v = r;
      return 0;
    }
    if (t == SL_T_MULTI || t == SL_T_LIST) return to_intvec(C, v, what);
    break;
  case SL_T_PROC:
    if (t == SL_T_BUILTIN) return 0;
    break;
  case SL_T_INTMAT: return sl_intmat_assign(C, SL_NONE, v, what);
  case SL_T_STRING:
    if (t == SL_T_MULTI) {   /* string t = s[1..3]: the pieces joined */
      sl_buf b = {0};
      sl_list *l = sl_lv(*v);
      for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].type != SL_T_STRING) { sl_buf_free(&b); return conv_err(C, type, l->v[i], what); }
        sl_buf_add(&b, sl_sv(l->v[i])->s, sl_sv(l->v[i])->len);
      }
      sl_release(*v);
      *v = sl_str_new(b.s ? b.s : "", b.len);
      sl_buf_free(&b);
      return 0;
    }
    break;
  default:
    if (type >= SL_T_FIRST_USER && sl_struct_type_op(type, "=", 1))   /* `=` installed for a newstruct */
      return sl_utype_assign(C, type, v) < 0 ? SL_ERR : 0;
    break;
  }
  return conv_err(C, type, *v, what);
}

/* v, to be assigned to a def variable that holds cur, converted to cur's
 * type: a def takes the type of its first value, as in Singular (`def d
 * = 5; d = "s";` is an error, `def l = list(1); l = 3;` makes a list).
 * A def holding nothing takes any value; none may always be assigned. */
int sl_def_assign(sl_ctx *C, sl_value cur, sl_value *v, const char *what) {
  int t = (int)cur.type, vt = (int)v->type;
  if (t == SL_T_NONE || t == SL_T_UNDEF || vt == SL_T_NONE || vt == t) return 0;
  if (t == SL_T_MULTI) t = SL_T_LIST;
  if ((t == SL_T_PROC || t == SL_T_BUILTIN) && (vt == SL_T_PROC || vt == SL_T_BUILTIN)) return 0;
  if (t == SL_T_INTMAT) return sl_intmat_assign(C, cur, v, what);   /* fills cur's shape */
  return sl_convert(C, t, v, what);
}

const char *sl_proc_name(sl_value fn) {
  if (fn.type == SL_T_PROC) return ((sl_proc *)fn.u.p)->code->name;
  if (fn.type == SL_T_BUILTIN) return ((sl_builtin *)fn.u.p)->name;
  return NULL;
}
