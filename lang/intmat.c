/* intmat.c: matrices of ints (Singular's intmat): the value, its display,
 * arithmetic with intmats, intvecs and ints, indexing m[i, j], and the
 * builtins nrows, ncols, transpose, trace and intmat(...).
 *
 * Singular's rules, kept here: an intvec in arithmetic with an intmat is
 * an n x 1 intmat (intmat * intvec is an intvec); intmat +- int adds to
 * the diagonal only, intmat * int, div and % work on every entry (with
 * a remainder in 0..|n|-1, as Singular's intvecs and intmats); sizes
 * that do not fit are an error. An entry overflow is an error, never a
 * wrap (entries are 64-bit). */
#include <stdlib.h>
#include <string.h>
#include "sl.h"

static const char *opsym[] = {"+", "-", "*", "/", "div", "mod", "^",
                              "==", "!=", "<", "<=", ">", ">="};

sl_value sl_intmat_new(size_t r, size_t c) {
  sl_intmat *m = sl_alloc_obj(sizeof *m + r * c * sizeof(int64_t), SL_T_INTMAT);
  m->r = r;
  m->c = c;
  if (r * c != 0) memset(m->v, 0, r * c * sizeof(int64_t));
  return SL_OBJ(SL_T_INTMAT, m);
}

/* r x c within the limit on entries of one value */
static int check_dims(sl_ctx *C, const char *who, int64_t r, int64_t c) {
  if (r < 0 || c < 0)
    return sl_error(C, "%s: the size of an intmat must not be negative (%lld x %lld)", who, (long long)r, (long long)c);
  if ((c && (uint64_t)r > sl_limits.elems / (uint64_t)c) || (uint64_t)r > sl_limits.elems || (uint64_t)c > sl_limits.elems)
    return sl_error(C, "%s: intmat of %lld x %lld too large (the limit is %zu entries)", who, (long long)r,
                    (long long)c, sl_limits.elems);
  return 0;
}

static sl_value im_copy(sl_value v) {
  sl_intmat *m = sl_imv(v);
  sl_value r = sl_intmat_new(m->r, m->c);
  if (m->r * m->c != 0) memcpy(sl_imv(r)->v, m->v, m->r * m->c * sizeof(int64_t));
  return r;
}

/* ---- display ----------------------------------------------------------- */

/* `m;` (indent >= 0: rows on lines of their own, each further row
 * indented) and string(m) (indent < 0: one line), as Singular's
 * intvec::ivString: "1,2,\n3,4 " -- a one-column intmat is "1,2,3" */
void sl_intmat_string(sl_buf *b, sl_value v, int indent) {
  sl_intmat *m = sl_imv(v);
  if (m->c == 1) {
    for (size_t i = 0; i < m->r; i++) sl_buf_printf(b, i ? ",%lld" : "%lld", (long long)m->v[i]);
    return;
  }
  for (size_t i = 0; i < m->r; i++) {
    for (size_t j = 0; j < m->c; j++)
      sl_buf_printf(b, "%lld%c", (long long)m->v[i * m->c + j], i + 1 == m->r && j + 1 == m->c ? ' ' : ',');
    if (i + 1 < m->r && indent >= 0) {
      sl_buf_add(b, "\n", 1);
      for (int k = 0; k < indent; k++) sl_buf_add(b, " ", 1);
    }
  }
}

/* print(m): a table, each entry " %5d" (Singular's ipPrint) */
void sl_intmat_table(sl_buf *b, sl_value v) {
  sl_intmat *m = sl_imv(v);
  if (!m->r) sl_buf_add(b, "\n", 1);   /* no rows: an empty line, as Singular */
  for (size_t i = 0; i < m->r; i++) {
    for (size_t j = 0; j < m->c; j++) sl_buf_printf(b, " %5lld", (long long)m->v[i * m->c + j]);
    sl_buf_add(b, "\n", 1);
  }
}

/* ---- arithmetic -------------------------------------------------------- */

static int overflow(sl_ctx *C, int op) {
  return sl_error(C, "intmat entry overflow in `%s`", opsym[op]);
}

static int type_err(sl_ctx *C, int op, sl_value a, sl_value b) {
  return sl_error(C, "`%s` is not supported for %s and %s", opsym[op], sl_type_name((int)a.type),
                  sl_type_name((int)b.type));
}

/* an intmat, or an intvec seen as an n x 1 intmat (borrowed entries) */
typedef struct mview { size_t r, c; const int64_t *v; } mview;

static int view(sl_value x, mview *m) {
  if (x.type == SL_T_INTMAT) { *m = (mview){sl_imv(x)->r, sl_imv(x)->c, sl_imv(x)->v}; return 1; }
  if (x.type == SL_T_INTVEC) { *m = (mview){sl_iv(x)->n, 1, sl_iv(x)->v}; return 1; }
  return 0;
}

static int size_err(sl_ctx *C, int op, const mview *a, const mview *b) {
  return sl_error(C, "`%s`: intmat sizes not compatible (%zu x %zu and %zu x %zu)", opsym[op], a->r, a->c, b->r, b->c);
}

static int add_sub(sl_ctx *C, int op, const mview *a, const mview *b, sl_value *out) {
  if (a->r != b->r || a->c != b->c) return size_err(C, op, a, b);
  sl_value r = sl_intmat_new(a->r, a->c);
  int64_t *d = sl_imv(r)->v;
  for (size_t i = 0; i < a->r * a->c; i++)
    if (op == SL_ADD ? __builtin_add_overflow(a->v[i], b->v[i], &d[i]) : __builtin_sub_overflow(a->v[i], b->v[i], &d[i])) {
      sl_release(r);
      return overflow(C, op);
    }
  *out = r;
  return 0;
}

static uint64_t max_abs(const int64_t *v, size_t n) {
  uint64_t m = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t x = v[i] < 0 ? -(uint64_t)v[i] : (uint64_t)v[i];
    if (x > m) m = x;
  }
  return m;
}

/* a bound on the sums of a->c products of entries of a and b (UINT64_MAX:
 * they may overflow) */
static uint64_t product_bound(const mview *a, const mview *b) {
  uint64_t ma = max_abs(a->v, a->r * a->c), mb = max_abs(b->v, b->r * b->c), p, s;
  if (__builtin_mul_overflow(ma, mb, &p) || __builtin_mul_overflow(p, (uint64_t)a->c, &s)) return UINT64_MAX;
  return s;
}

/* one row of a product whose sums cannot overflow: eight entries at a
 * time, summed in registers (no store in the inner loop: about a fifth
 * faster than adding rows of b into the row of the result) */
static void mul_row(const int64_t *arow, const mview *b, int64_t *drow, size_t n) {
  size_t j = 0, c = b->c;
  const int64_t *bv = b->v;
  for (; j + 8 <= c; j += 8) {   /* eight named sums: an array would live on the stack at -O2 */
    int64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (size_t k = 0; k < n; k++) {
      int64_t x = arow[k];
      const int64_t *bp = bv + k * c + j;
      s0 += x * bp[0]; s1 += x * bp[1]; s2 += x * bp[2]; s3 += x * bp[3];
      s4 += x * bp[4]; s5 += x * bp[5]; s6 += x * bp[6]; s7 += x * bp[7];
    }
    drow[j] = s0; drow[j + 1] = s1; drow[j + 2] = s2; drow[j + 3] = s3;
    drow[j + 4] = s4; drow[j + 5] = s5; drow[j + 6] = s6; drow[j + 7] = s7;
  }
  for (; j < c; j++) {
    int64_t t = 0;
    for (size_t k = 0; k < n; k++) t += arow[k] * bv[k * c + j];
    drow[j] = t;
  }
}

/* a * b: by mul_row when a bound on the entries shows that no sum can
 * overflow, else row by row of b (i-k-j order: both read sequentially)
 * with every product and sum checked */
static int mat_mul(sl_ctx *C, const mview *a, const mview *b, int as_intvec, sl_value *out) {
  if (a->c != b->r) return size_err(C, SL_MUL, a, b);
  sl_value r = as_intvec ? sl_intvec_new(a->r) : sl_intmat_new(a->r, b->c);
  int64_t *d = as_intvec ? sl_iv(r)->v : sl_imv(r)->v;
  if (product_bound(a, b) <= (uint64_t)INT64_MAX) {
    for (size_t i = 0; i < a->r; i++) {
      if (sl_poll(C) < 0) { sl_release(r); return SL_ERR; }
      mul_row(a->v + i * a->c, b, d + i * b->c, a->c);
    }
    *out = r;
    return 0;
  }
  for (size_t i = 0; i < a->r; i++) {
    if (sl_poll(C) < 0) { sl_release(r); return SL_ERR; }   /* a cancel reaches a big product */
    int64_t *row = d + i * b->c;
    for (size_t k = 0; k < a->c; k++) {
      int64_t x = a->v[i * a->c + k], t;
      if (!x) continue;
      const int64_t *brow = b->v + k * b->c;
      for (size_t j = 0; j < b->c; j++)
        if (__builtin_mul_overflow(x, brow[j], &t) || __builtin_add_overflow(row[j], t, &row[j])) {
          sl_release(r);
          return overflow(C, SL_MUL);
        }
    }
  }
  *out = r;
  return 0;
}

/* m op n for an int n: +- on the diagonal, the rest on every entry;
 * rev: n op m (only + - *; n - m is n*I - m) */
static int with_int(sl_ctx *C, int op, const mview *m, int64_t n, int rev, sl_value *out) {
  sl_value r = sl_intmat_new(m->r, m->c);
  int64_t *d = sl_imv(r)->v;
  size_t N = m->r * m->c;
  int bad = 0;
  for (size_t i = 0; i < N && !bad; i++) {
    int64_t x = m->v[i];
    int diag = i / m->c == i % m->c;
    switch (op) {
    case SL_ADD: bad = diag ? __builtin_add_overflow(x, n, &d[i]) : (d[i] = x, 0); break;
    case SL_SUB:
      if (rev) bad = diag ? __builtin_sub_overflow(n, x, &d[i]) : __builtin_sub_overflow((int64_t)0, x, &d[i]);
      else bad = diag ? __builtin_sub_overflow(x, n, &d[i]) : (d[i] = x, 0);
      break;
    case SL_MUL: bad = __builtin_mul_overflow(x, n, &d[i]); break;
    default:   /* div, /, %: n != 0, checked by the caller */
      bad = sl_euclid(x, n, op == SL_MOD, &d[i]);
      break;
    }
  }
  if (bad) { sl_release(r); return overflow(C, op); }
  *out = r;
  return 0;
}

int sl_intmat_arith(sl_ctx *C, int op, sl_value a, sl_value b, sl_value *out) {
  mview x, y;
  int am = view(a, &x), bm = view(b, &y);
  if (am && bm) {
    if (op == SL_ADD || op == SL_SUB) return add_sub(C, op, &x, &y, out);
    if (op == SL_MUL) return mat_mul(C, &x, &y, b.type == SL_T_INTVEC, out);
    return type_err(C, op, a, b);
  }
  if (am && b.type == SL_T_INT) {
    if (op == SL_POW) return type_err(C, op, a, b);
    if ((op == SL_DIV || op == SL_IDIV || op == SL_MOD) && b.u.i == 0) return sl_error(C, "division by 0");
    return with_int(C, op, &x, b.u.i, 0, out);
  }
  if (bm && a.type == SL_T_INT && (op == SL_ADD || op == SL_SUB || op == SL_MUL))
    return with_int(C, op, &y, a.u.i, 1, out);
  return type_err(C, op, a, b);
}

/* ---- indexing ---------------------------------------------------------- */

/* an index (int or intvec) as a list of positions (one: room for an int) */
static int positions(sl_ctx *C, sl_value i, int64_t *one, const int64_t **p, size_t *n) {
  if (i.type == SL_T_INT) { *one = i.u.i; *p = one; *n = 1; return 0; }
  if (i.type == SL_T_INTVEC) { *p = sl_iv(i)->v; *n = sl_iv(i)->n; return 0; }
  return sl_error(C, "an intmat index must be int or intvec, not %s", sl_type_name((int)i.type));
}

static int in_range(sl_ctx *C, const sl_intmat *m, int64_t i, int64_t j) {
  if (i >= 1 && j >= 1 && (uint64_t)i <= m->r && (uint64_t)j <= m->c) return 0;
  return sl_error(C, "index [%lld, %lld] out of range for a %zu x %zu intmat", (long long)i, (long long)j, m->r, m->c);
}

/* m[i, j]: an int; with intvec indices the entries row by row (an
 * expression list, as Singular's m[1..2, 3..5]) */
int sl_intmat_index2(sl_ctx *C, sl_value mv, sl_value i, sl_value j, sl_value *out) {
  sl_intmat *m = sl_imv(mv);
  const int64_t *pi = NULL, *pj = NULL;
  size_t ni = 0, nj = 0;
  int64_t ii, jj;
  if (positions(C, i, &ii, &pi, &ni) < 0 || positions(C, j, &jj, &pj, &nj) < 0) return SL_ERR;
  if (i.type == SL_T_INT && j.type == SL_T_INT) {
    if (in_range(C, m, ii, jj) < 0) return SL_ERR;
    *out = SL_INT(m->v[(ii - 1) * (int64_t)m->c + jj - 1]);
    return 0;
  }
  sl_value r = sl_list_new(ni * nj);
  r.type = SL_T_MULTI;
  sl_lv(r)->h.type = SL_T_MULTI;
  for (size_t a = 0; a < ni; a++)
    for (size_t b = 0; b < nj; b++) {
      if (in_range(C, m, pi[a], pj[b]) < 0) { sl_release(r); return SL_ERR; }
      sl_list_push(&r, SL_INT(m->v[(pi[a] - 1) * (int64_t)m->c + pj[b] - 1]));
    }
  *out = r;
  return 0;
}

/* the ints of x (an int, bigint that fits, or an expression list of them) */
static int entry_of(sl_ctx *C, sl_value x, int64_t *out) {
  if (x.type == SL_T_INT) { *out = x.u.i; return 0; }
  if (x.type == SL_T_BIGINT && sl_bigint_fits(x, out)) return 0;
  return sl_error(C, "an intmat entry must be int, not %s", sl_type_name((int)x.type));
}

/* m[i, j] = x (takes x); intvec indices take one value per entry */
int sl_intmat_setindex2(sl_ctx *C, sl_value *t, sl_value i, sl_value j, sl_value x) {
  const int64_t *pi = NULL, *pj = NULL;
  size_t ni = 0, nj = 0;
  int64_t ii, jj;
  int rc = positions(C, i, &ii, &pi, &ni);
  if (rc == 0) rc = positions(C, j, &jj, &pj, &nj);
  if (rc < 0) { sl_release(x); return SL_ERR; }
  size_t nx = x.type == SL_T_MULTI ? sl_lv(x)->n : 1;
  if (nx != ni * nj) {
    sl_release(x);
    return sl_error(C, "%zu intmat entr%s but %zu value%s to assign", ni * nj, ni * nj == 1 ? "y" : "ies", nx,
                    nx == 1 ? "" : "s");
  }
  sl_intmat *m = sl_imv(*t);
  for (size_t a = 0; a < ni; a++)
    for (size_t b = 0; b < nj; b++)
      if (in_range(C, m, pi[a], pj[b]) < 0) { sl_release(x); return SL_ERR; }
  int64_t *vals = sl_xmalloc(nx * sizeof *vals);
  for (size_t k = 0; k < nx; k++)
    if (entry_of(C, x.type == SL_T_MULTI ? sl_lv(x)->v[k] : x, &vals[k]) < 0) {
      free(vals);
      sl_release(x);
      return SL_ERR;
    }
  sl_release(x);
  if (!sl_unique(*t)) { sl_value c = im_copy(*t); sl_release(*t); *t = c; }
  m = sl_imv(*t);
  for (size_t a = 0, k = 0; a < ni; a++)
    for (size_t b = 0; b < nj; b++) m->v[(pi[a] - 1) * (int64_t)m->c + pj[b] - 1] = vals[k++];
  free(vals);
  return 0;
}

/* ---- conversion on assignment ------------------------------------------ */

static int conv_err(sl_ctx *C, sl_value v, const char *what) {
  if (strchr(what, ':')) return sl_error(C, "%s must be intmat, not %s", what, sl_type_name((int)v.type));
  return sl_error(C, "cannot assign %s to intmat `%s`", sl_type_name((int)v.type), what);
}

/* the entries of an int, intvec or intmat x go to d[*k...] while room is left */
static int fill_from(sl_ctx *C, sl_value x, int64_t *d, size_t n, size_t *k, const char *what) {
  if (x.type == SL_T_INTVEC) {
    for (size_t i = 0; i < sl_iv(x)->n && *k < n; i++) d[(*k)++] = sl_iv(x)->v[i];
    return 0;
  }
  if (x.type == SL_T_INTMAT) {   /* `intmat m[3][2] = _, 1, -2;` */
    for (size_t i = 0; i < sl_imv(x)->r * sl_imv(x)->c && *k < n; i++) d[(*k)++] = sl_imv(x)->v[i];
    return 0;
  }
  int64_t e;
  if (x.type != SL_T_INT && !(x.type == SL_T_BIGINT && sl_bigint_fits(x, &e))) return conv_err(C, x, what);
  if (*k < n) d[(*k)++] = x.type == SL_T_INT ? x.u.i : e;
  return 0;
}

/* intmat = intmat (the value), = intvec (an n x 1 intmat), = ints and
 * intvecs (the entries of the intmat assigned to, row by row; entries
 * left over keep their value, values left over are dropped: Singular) */
int sl_intmat_assign(sl_ctx *C, sl_value old, sl_value *v, const char *what) {
  if (v->type == SL_T_INTMAT) return 0;
  if (v->type == SL_T_INTVEC) {
    sl_intvec *iv = sl_iv(*v);
    sl_value r = sl_intmat_new(iv->n, 1);
    if (iv->n) memcpy(sl_imv(r)->v, iv->v, iv->n * sizeof(int64_t));
    sl_release(*v);
    *v = r;
    return 0;
  }
  if (v->type != SL_T_INT && v->type != SL_T_BIGINT && v->type != SL_T_MULTI) return conv_err(C, *v, what);
  sl_value r = old.type == SL_T_INTMAT ? im_copy(old) : sl_intmat_new(1, 1);
  size_t n = sl_imv(r)->r * sl_imv(r)->c, k = 0;
  int rc = 0;
  if (v->type == SL_T_MULTI)
    for (size_t i = 0; i < sl_lv(*v)->n && rc == 0; i++) rc = fill_from(C, sl_lv(*v)->v[i], sl_imv(r)->v, n, &k, what);
  else rc = fill_from(C, *v, sl_imv(r)->v, n, &k, what);
  if (rc < 0) { sl_release(r); return SL_ERR; }
  sl_release(*v);
  *v = r;
  return 0;
}

/* ---- builtins ---------------------------------------------------------- */

static int argc_is(sl_ctx *C, const char *fn, int argc, int n) {
  return argc == n ? 0 : sl_argc_err(C, fn, argc, n == 1 ? "1 argument" : "3 arguments");
}

static int b_nrows(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc_is(C, "nrows", argc, 1) < 0) return SL_ERR;
  if (argv[0].type == SL_T_INTMAT) { *ret = SL_INT((int64_t)sl_imv(argv[0])->r); return 0; }
  if (argv[0].type == SL_T_INTVEC) { *ret = SL_INT((int64_t)sl_iv(argv[0])->n); return 0; }
  return sl_arg_err(C, "nrows", 1, "intmat or intvec", argv[0]);
}

static int b_ncols(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc_is(C, "ncols", argc, 1) < 0) return SL_ERR;
  if (argv[0].type != SL_T_INTMAT) return sl_arg_err(C, "ncols", 1, "intmat", argv[0]);
  *ret = SL_INT((int64_t)sl_imv(argv[0])->c);
  return 0;
}

static int b_transpose(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  mview m;
  if (argc_is(C, "transpose", argc, 1) < 0) return SL_ERR;
  if (!view(argv[0], &m)) return sl_arg_err(C, "transpose", 1, "intmat or intvec", argv[0]);
  sl_value r = sl_intmat_new(m.c, m.r);
  for (size_t i = 0; i < m.r; i++)
    for (size_t j = 0; j < m.c; j++) sl_imv(r)->v[j * m.r + i] = m.v[i * m.c + j];
  *ret = r;
  return 0;
}

/* the sum of the diagonal (of its min(r, c) entries, as Singular) */
static int b_trace(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc_is(C, "trace", argc, 1) < 0) return SL_ERR;
  if (argv[0].type != SL_T_INTMAT) return sl_arg_err(C, "trace", 1, "intmat", argv[0]);
  sl_intmat *m = sl_imv(argv[0]);
  int64_t s = 0;
  for (size_t i = 0; i < m->r && i < m->c; i++)
    if (__builtin_add_overflow(s, m->v[i * m->c + i], &s)) return sl_error(C, "trace: int overflow");
  *ret = SL_INT(s);
  return 0;
}

/* intmat(m), intmat(v): as assignment does; intmat(v, r, c): an r x c
 * intmat filled row by row with the entries of v (an intvec or intmat),
 * zeros past its end */
static int b_intmat(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fn = "intmat";
  mview m;
  if (argc != 1 && argc != 3) return sl_argc_err(C, fn, argc, "1 or 3 arguments");
  if (!view(argv[0], &m)) return sl_arg_err(C, fn, 1, "intmat or intvec", argv[0]);
  if (argc == 1) {
    *ret = argv[0];
    sl_retain(*ret);
    return sl_intmat_assign(C, SL_NONE, ret, "intmat: argument 1");
  }
  if (argv[1].type != SL_T_INT) return sl_arg_err(C, fn, 2, "int", argv[1]);
  if (argv[2].type != SL_T_INT) return sl_arg_err(C, fn, 3, "int", argv[2]);
  if (check_dims(C, fn, argv[1].u.i, argv[2].u.i) < 0) return SL_ERR;
  sl_value r = sl_intmat_new((size_t)argv[1].u.i, (size_t)argv[2].u.i);
  size_t n = sl_imv(r)->r * sl_imv(r)->c, have = m.r * m.c;
  if (n && have) memcpy(sl_imv(r)->v, m.v, (n < have ? n : have) * sizeof(int64_t));
  *ret = r;
  return 0;
}

/* internal: the zero intmat of `intmat m[r][c];` (the compiler calls it) */
static int b_intmat_decl(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc != 2) return sl_argc_err(C, "intmat", argc, "2 sizes");
  for (int i = 0; i < 2; i++)
    if (argv[i].type != SL_T_INT)
      return sl_error(C, "intmat m[r][c]: %s must be int, not %s", i ? "c" : "r", sl_type_name((int)argv[i].type));
  if (check_dims(C, "intmat m[r][c]", argv[0].u.i, argv[1].u.i) < 0) return SL_ERR;
  *ret = sl_intmat_new((size_t)argv[0].u.i, (size_t)argv[1].u.i);
  return 0;
}

/* internal: `intmat m[r][c] = a, b, ...;` fills the new zero intmat
 * (arguments: it, the right side, the name) */
static int b_intmat_fill(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc != 3 || argv[0].type != SL_T_INTMAT || argv[2].type != SL_T_STRING) return sl_error(C, "intmat: bad fill");
  *ret = argv[1];
  sl_retain(*ret);
  if (sl_intmat_assign(C, argv[0], ret, sl_sv(argv[2])->s) == 0) return 0;
  sl_release(*ret);
  *ret = SL_NONE;
  return SL_ERR;
}

void sl_intmat_builtins(sl_world *W) {
  sl_def_builtin(W, "nrows", b_nrows);
  sl_def_builtin(W, "ncols", b_ncols);
  sl_def_builtin(W, "transpose", b_transpose);
  sl_def_builtin(W, "trace", b_trace);
  sl_def_builtin(W, "intmat", b_intmat);
  sl_def_builtin(W, "(intmat decl)", b_intmat_decl);
  sl_def_builtin(W, "(intmat fill)", b_intmat_fill);
}
