/* ssi.c: Singular's ssi format (Singular/links/ssiLink.cc, ssiWrite and
 * ssiRead1) for the values spindle has, so that "ssi:w file" links write
 * files Singular 4.3.1 reads and read the files it writes.
 *
 * The format is text: numbers in decimal, each followed by a space; a
 * record is a type number and its data, and each value given to write()
 * is one record and a newline. A file opened for writing starts with a
 * header record "98 13 538 0 10256\n" (Singular 4.3.1's SSI_VERSION 13,
 * MAX_TOK 538, and its default option bits si_opt_1, si_opt_2).
 *
 *   1 n                 int (a C int: 32 bits)
 *   2 len bytes         string (len bytes, then a space)
 *   4 4 n               bigint with -2^28 <= n < 2^28
 *   4 8 hex             bigint, GMP's mpz_out_str in base 16 ("-" first)
 *                       (Singular also reads 4 3 decimal)
 *   12 len name         a name (Singular evaluates it; a hole of a list
 *                       is written "12 1 _")
 *   14 n v1 ... vn      list
 *   16                  none
 *   17 n e1 ... en      intvec
 *   18 r c e ...        intmat, row by row
 *   21 flag n v         v with attributes (read: v, the attributes dropped)
 *   98 v m o1 o2        the header (read: skipped, wherever it is)
 *   99                  quit (read: the end)
 *
 * Singular's other records (3 number, 5/15 ring, 6 poly, 7 ideal, 8
 * matrix, 9 vector, 10 module, 22 smatrix, 23 ring properties, 11 a
 * command, 13 a proc, 19 bigintmat, 20 a blackbox, 24 bigintvec) hold
 * types spindle does not have: reading one is an error naming it.
 *
 * spindle's int is 64 bits: an int outside Singular's 32-bit int is
 * written as a bigint record (Singular would write its low 32 bits), and
 * an intvec or intmat entry outside it is an error. The decoder trusts no
 * count: each is checked against the bytes left and sl_limits before
 * anything is allocated; nesting uses a stack of its own, not the C
 * stack. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "sl.h"

const char sl_ssi_header[] = "98 13 538 0 10256\n";

/* ---- writing ----------------------------------------------------------- */
static void put_bigint(sl_buf *b, mpz_srcptr z) {
  if (mpz_cmp_si(z, 1L << 28) < 0 && mpz_cmp_si(z, -(1L << 28)) >= 0) {   /* Singular's small ints */
    sl_buf_printf(b, "4 %ld ", mpz_get_si(z));
    return;
  }
  sl_buf_puts(b, "8 ");
  size_t n = mpz_sizeinbase(z, 16) + 2;
  char *p = sl_buf_reserve(b, n);
  mpz_get_str(p, 16, z);
  b->len += strlen(p);
  sl_buf_add(b, " ", 1);
}

static int fits32(int64_t x) { return x >= INT32_MIN && x <= INT32_MAX; }

typedef struct { const sl_value *v; size_t n, i; } enc_frame;

/* one value as a record (no newline); -1 with the error set (and b as it
 * was) for a type ssi cannot hold */
int sl_ssi_encode(sl_ctx *C, const char *fn, const char *file, sl_value v, sl_buf *b) {
  size_t mark = b->len;
  enc_frame *st = NULL;
  size_t depth = 0, cap = 0;
  int in_list = 0;
  for (;;) {
    switch (v.type) {
    case SL_T_NONE: sl_buf_puts(b, in_list ? "12 1 _ " : "16 "); break;
    case SL_T_INT:
      if (fits32(v.u.i)) sl_buf_printf(b, "1 %lld ", (long long)v.u.i);
      else {
        mpz_t z;
        mpz_init_set_si(z, (long)v.u.i);
        sl_buf_puts(b, "4 ");
        put_bigint(b, z);
        mpz_clear(z);
      }
      break;
    case SL_T_BIGINT: sl_buf_puts(b, "4 "); put_bigint(b, sl_bv(v)->z); break;
    case SL_T_STRING:
      sl_buf_printf(b, "2 %zu ", sl_sv(v)->len);
      sl_buf_add(b, sl_sv(v)->s, sl_sv(v)->len);
      sl_buf_add(b, " ", 1);
      break;
    case SL_T_INTVEC: {
      sl_intvec *iv = sl_iv(v);
      sl_buf_printf(b, "17 %zu ", iv->n);
      for (size_t i = 0; i < iv->n; i++) {
        if (!fits32(iv->v[i])) goto too_big;
        sl_buf_printf(b, "%lld ", (long long)iv->v[i]);
      }
      break;
    }
    case SL_T_INTMAT: {
      sl_intmat *m = sl_imv(v);
      sl_buf_printf(b, "18 %zu %zu ", m->r, m->c);
      for (size_t i = 0; i < m->r * m->c; i++) {
        if (!fits32(m->v[i])) goto too_big;
        sl_buf_printf(b, "%lld ", (long long)m->v[i]);
      }
      break;
    }
    case SL_T_LIST: {
      sl_list *l = sl_lv(v);
      sl_buf_printf(b, "14 %zu ", l->n);
      if (depth == cap) {
        cap = cap ? 2 * cap : 16;
        st = sl_xrealloc(st, cap * sizeof *st);
      }
      st[depth++] = (enc_frame){l->v, l->n, 0};
      break;
    }
    default:
      sl_error(C, "%s: an ssi file (`%s`) cannot hold a %s%s", fn, file, sl_type_name((int)v.type),
               in_list ? " (in a list)" : "");
      goto fail;
    }
    while (depth && st[depth - 1].i == st[depth - 1].n) depth--;
    if (!depth) break;
    v = st[depth - 1].v[st[depth - 1].i++];
    in_list = 1;
  }
  free(st);
  return 0;
too_big:
  sl_error(C, "%s: an ssi file (`%s`) holds an %s's entries as 32-bit ints: an entry does not fit", fn, file,
           sl_type_name((int)v.type));
fail:   /* b as it was */
  free(st);
  b->len = mark;
  if (b->s) b->s[mark] = 0;
  return SL_ERR;
}

/* ---- reading ----------------------------------------------------------- */
typedef struct {
  sl_ctx *C;
  const char *fn, *file;
  const char *p, *start, *end;
} dec;

static int bad(dec *d, const char *what) {
  if (d->p >= d->end)
    return sl_error(d->C, "%s: `%s` is not a valid ssi file: it ends inside a record (%s)", d->fn, d->file, what);
  return sl_error(d->C, "%s: `%s` is not a valid ssi file: %s at byte %zu", d->fn, d->file, what,
                  (size_t)(d->p - d->start));
}

static void skip_space(dec *d) {
  while (d->p < d->end && (unsigned char)*d->p <= ' ') d->p++;
}

/* a decimal number as Singular's s_readint reads it, checked */
static int get_int(dec *d, const char *what, int64_t *out) {
  skip_space(d);
  int neg = d->p < d->end && *d->p == '-';
  if (neg) d->p++;
  if (d->p >= d->end || !isdigit((unsigned char)*d->p)) {
    char msg[80];
    snprintf(msg, sizeof msg, "%s expected", what);
    return bad(d, msg);
  }
  uint64_t r = 0;
  while (d->p < d->end && isdigit((unsigned char)*d->p)) {
    if (r > (UINT64_MAX - 9) / 10) goto big;
    r = r * 10 + (uint64_t)(*d->p++ - '0');
  }
  if (r > (uint64_t)INT64_MAX + neg) goto big;
  *out = neg ? (int64_t)(0 - r) : (int64_t)r;
  return 0;
big: {
    char msg[80];
    snprintf(msg, sizeof msg, "%s too large", what);
    return bad(d, msg);
  }
}

/* a count of things that take at least min_bytes each, within limit */
static int get_count(dec *d, const char *what, size_t min_bytes, size_t limit, size_t *out) {
  int64_t n;
  if (get_int(d, what, &n) < 0) return -1;
  if (n < 0) return bad(d, "negative count");
  if ((uint64_t)n > limit || (uint64_t)n > (size_t)(d->end - d->p) / min_bytes) {
    char msg[120];
    snprintf(msg, sizeof msg, "%s %lld larger than the file or the limit", what, (long long)n);
    return bad(d, msg);
  }
  *out = (size_t)n;
  return 0;
}

static int get_entry(dec *d, int64_t *x) {
  if (get_int(d, "an entry", x) < 0) return -1;
  if (!fits32(*x)) return bad(d, "an entry beyond a 32-bit int");
  return 0;
}

/* the number after a bigint record's 4 (Singular's nlReadFd) */
static int get_bigint(dec *d, sl_value *out) {
  int64_t sub, x;
  if (get_int(d, "a bigint's kind", &sub) < 0) return -1;
  if (sub == 4) {
    if (get_int(d, "a bigint", &x) < 0) return -1;
    *out = sl_bigint_from_i64(x);
    return 0;
  }
  if (sub == 0 || sub == 1 || sub == 5 || sub == 6) return bad(d, "a rational number where a bigint belongs");
  if (sub != 3 && sub != 8) return bad(d, "an unknown kind of bigint");
  skip_space(d);
  const char *s = d->p;
  if (s < d->end && *s == '-') s++;
  const char *q = s;
  while (q < d->end && isalnum((unsigned char)*q)) q++;
  if (q == s) return bad(d, "a bigint expected");
  size_t nd = (size_t)(q - s);
  if ((uint64_t)nd > sl_limits.bigint_bits / (sub == 8 ? 4 : 3) + 1) return bad(d, "a bigint larger than the limit");
  char *t = sl_xstrndup(s, nd);
  mpz_t z;
  mpz_init(z);
  int rc = mpz_set_str(z, t, sub == 8 ? 16 : 10);
  free(t);
  if (rc < 0) {
    mpz_clear(z);
    return bad(d, "a malformed bigint");
  }
  if (*d->p == '-') mpz_neg(z, z);
  d->p = q;
  *out = sl_bigint_from_mpz(z);
  mpz_clear(z);
  return 0;
}

static const char *algebra_name(int64_t t) {
  switch (t) {
  case 3: return "number";
  case 5: case 15: return "ring";
  case 6: return "poly";
  case 7: return "ideal";
  case 8: return "matrix";
  case 9: return "vector";
  case 10: return "module";
  case 11: return "command (a quoted expression)";
  case 13: return "proc";
  case 19: return "bigintmat";
  case 20: return "blackbox value (a newstruct or a type of a Singular module)";
  case 22: return "smatrix";
  case 23: return "ring's properties";
  case 24: return "bigintvec";
  default: return NULL;
  }
}

typedef struct { sl_value list; size_t want; } dec_frame;

/* The record at *pos of the len bytes at p (the file's name for errors):
 * 0 and *out, 1 at the end of the data (only white space left, or
 * Singular's quit record 99), or -1 with the error set. *pos moves past
 * what was read. */
int sl_ssi_decode(sl_ctx *C, const char *fn, const char *file, const char *p, size_t len, size_t *pos,
                  sl_value *out) {
  dec d = {C, fn, file, p + *pos, p, p + len};
  dec_frame *st = NULL;
  size_t depth = 0, cap = 0;
  int rc = 0;
  sl_value v = SL_NONE;
  for (;;) {
    int64_t t;
    skip_space(&d);
    if (d.p >= d.end && !depth) { rc = 1; break; }
    if (get_int(&d, "a record's type", &t) < 0) goto fail;
    switch (t) {
    case 98: {   /* a header: four numbers, skipped */
      int64_t x;
      for (int i = 0; i < 4; i++)
        if (get_int(&d, "the header", &x) < 0) goto fail;
      continue;
    }
    case 99:
      if (depth) { bad(&d, "quit inside a list"); goto fail; }
      rc = 1;
      goto done;
    case 21: {   /* attributes: flag and count, then the value */
      int64_t x;
      if (get_int(&d, "an attribute's flag", &x) < 0 || get_int(&d, "a count of attributes", &x) < 0) goto fail;
      continue;
    }
    case 1: {
      int64_t x;
      if (get_int(&d, "an int", &x) < 0) goto fail;
      v = SL_INT(x);
      break;
    }
    case 2: case 12: {
      size_t n;
      if (get_count(&d, "a string's length", 1, sl_limits.str_len, &n) < 0) goto fail;
      if (d.p >= d.end) { bad(&d, "a string"); goto fail; }
      d.p++;   /* the space before the bytes */
      if ((size_t)(d.end - d.p) < n) { d.p = d.end; bad(&d, "a string"); goto fail; }
      v = t == 2 ? sl_str_new(d.p, n) : SL_NONE;   /* a name: none (Singular looks it up) */
      d.p += n;
      break;
    }
    case 4:
      if (get_bigint(&d, &v) < 0) goto fail;
      break;
    case 16: v = SL_NONE; break;
    case 17: {
      size_t n;
      if (get_count(&d, "an intvec's length", 2, sl_limits.elems, &n) < 0) goto fail;
      v = sl_intvec_new(n);
      for (size_t i = 0; i < n; i++)
        if (get_entry(&d, &sl_iv(v)->v[i]) < 0) { sl_release(v); goto fail; }
      break;
    }
    case 18: {
      size_t r, c;
      if (get_count(&d, "an intmat's rows", 1, sl_limits.elems, &r) < 0 ||
          get_count(&d, "an intmat's columns", 1, sl_limits.elems, &c) < 0)
        goto fail;
      if ((c && r > (size_t)(d.end - d.p) / 2 / c) || r * c > sl_limits.elems) {
        bad(&d, "an intmat larger than the file or the limit");
        goto fail;
      }
      v = sl_intmat_new(r, c);
      for (size_t i = 0; i < r * c; i++)
        if (get_entry(&d, &sl_imv(v)->v[i]) < 0) { sl_release(v); goto fail; }
      break;
    }
    case 14: {
      size_t n;
      if (get_count(&d, "a list's length", 2, sl_limits.elems, &n) < 0) goto fail;
      if (n) {
        if (depth == cap) {
          cap = cap ? 2 * cap : 16;
          st = sl_xrealloc(st, cap * sizeof *st);
        }
        st[depth++] = (dec_frame){sl_list_new(n), n};
        continue;
      }
      v = sl_list_new(0);
      break;
    }
    default: {
      const char *what = algebra_name(t);
      d.p = d.start + *pos;
      skip_space(&d);
      if (what)
        sl_error(C, "%s: `%s` holds a %s (ssi record %lld), which spindle does not have", fn, file, what,
                 (long long)t);
      else
        bad(&d, "an unknown record type");
      goto fail;
    }
    }
    /* v is complete: into the open list, closing those it completes */
    while (depth) {
      sl_list_push(&st[depth - 1].list, v);
      if (sl_lv(st[depth - 1].list)->n < st[depth - 1].want) break;
      v = st[--depth].list;
    }
    if (!depth) break;
    if (depth > 0 && sl_poll(C) < 0) goto fail;
  }
done:
  free(st);
  *pos = (size_t)(d.p - d.start);
  if (rc == 0) *out = v;
  return rc;
fail:
  for (size_t i = 0; i < depth; i++) sl_release(st[i].list);
  free(st);
  return -1;
}
