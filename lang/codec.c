/* codec.c: values to bytes and back, for values that cross a process
 * (a job of a cluster pool runs on another MPI rank). Inside one process
 * nothing is ever encoded: values are shared by reference.
 *
 * Format, version 2 (all integers are LEB128 varints, at most 10 bytes;
 * "zz" marks a zigzag-mapped signed one; version 1 is the same without
 * tags 7 to 9, and is still read):
 *
 *   value stream := "SPV" version(1 byte) value      (nothing after it)
 *   value := 0                                       none
 *          | 1 zz                                    int
 *          | 2 sign(0|1) nbytes magnitude[nbytes]    bigint, big-endian
 *          | 3 len bytes[len]                        string
 *          | 4 n value*n                             list
 *          | 5 n zz*n                                intvec
 *          | 6 k                                     the k-th object again
 *          | 7 rows cols zz*(rows*cols)              intmat, row by row
 *          | 8 t n value*n                           newstruct value of the
 *                                                    t-th type defined, its
 *                                                    n members in order
 *          | 9 len name[len] len spec[len] value     defines the next type
 *                                                    (newstruct(name, spec))
 *                                                    for the value after it
 *
 * A newstruct type is defined in the stream before its first value, after
 * the types of its members; the decoding process defines a type it does
 * not know yet, and refuses one it knows with other members. A decoded
 * newstruct value is checked member by member against its type.
 *
 * Objects (bigints, strings, lists, intvecs) are numbered 0, 1, ... in the
 * order their encoding ends (a list after its elements), and a value that
 * is an object already encoded in this stream is written as a reference
 * to it (the encoder looks up only objects held more than once). So sharing survives the trip (list(l, l) decodes to a list whose
 * two entries are one list) and a value whose tree is exponential but
 * whose graph is small stays small. A reference can only name an object
 * that is complete, so no cycle can be decoded. Other types (procs,
 * builtins, quotes, plugin values) do not cross: encoding them is an
 * error that names the type and where it sits.
 *
 * The decoder trusts no length: every count is checked against the bytes
 * left (an element takes at least one byte) and against sl_limits before
 * anything is allocated, so what it allocates is bounded by a small
 * multiple of its input. Nesting uses an explicit stack, not the C stack
 * (a job's fiber stack is small). Truncated, oversized or malformed input
 * is an error naming the byte offset, never a crash. */
#include <stdlib.h>
#include <string.h>
#include "sl.h"

enum { T_NONE, T_INT, T_BIGINT, T_STRING, T_LIST, T_INTVEC, T_REF, T_INTMAT, T_STRUCT, T_TYPEDEF };

static const char magic[3] = {'S', 'P', 'V'};

/* ---- encoding -------------------------------------------------------------- */

/* pointer -> object number, open addressing */
typedef struct seen { const void **key; size_t *idx; size_t cap, n; } seen;

static size_t hash_ptr(const void *p) {
  uintptr_t x = (uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return (size_t)x;
}

static int seen_find(const seen *s, const void *p, size_t *idx) {
  if (!s->cap) return 0;
  for (size_t i = hash_ptr(p) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
    if (!s->key[i]) return 0;
    if (s->key[i] == p) { *idx = s->idx[i]; return 1; }
  }
}

static void seen_add(seen *s, const void *p, size_t idx) {
  if (2 * (s->n + 1) > s->cap) {
    seen g = {0};
    g.cap = s->cap ? 2 * s->cap : 64;
    g.key = calloc(g.cap, sizeof *g.key);
    g.idx = malloc(g.cap * sizeof *g.idx);
    if (!g.key || !g.idx) sl_oom();
    for (size_t i = 0; i < s->cap; i++)
      if (s->key[i]) seen_add(&g, s->key[i], s->idx[i]);
    free(s->key);
    free(s->idx);
    *s = g;
  }
  size_t i = hash_ptr(p) & (s->cap - 1);
  while (s->key[i]) i = (i + 1) & (s->cap - 1);
  s->key[i] = p;
  s->idx[i] = idx;
  s->n++;
}

static inline void put_u(sl_buf *b, uint64_t x) {
  char *p = sl_buf_reserve(b, 10), *q = p;
  while (x > 0x7f) { *q++ = (char)((x & 0x7f) | 0x80); x >>= 7; }
  *q++ = (char)x;
  b->len += (size_t)(q - p);
}

/* zigzag: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ... */
static inline void put_i(sl_buf *b, int64_t x) {
  uint64_t u = (uint64_t)x;
  put_u(b, (u << 1) ^ (0 - (u >> 63)));
}

static inline void put_byte(sl_buf *b, int c) {
  *sl_buf_reserve(b, 1) = (char)c;
  b->len++;
}

static void put_bigint(sl_buf *b, mpz_srcptr z) {
  size_t n = (mpz_sizeinbase(z, 2) + 7) / 8;
  put_byte(b, T_BIGINT);
  put_byte(b, mpz_sgn(z) < 0);
  if (mpz_sgn(z) == 0) { put_u(b, 0); return; }
  unsigned char *m = sl_xmalloc(n);
  size_t count = 0;
  mpz_export(m, &count, 1, 1, 1, 0, z);
  put_u(b, count);
  sl_buf_add(b, (const char *)m, count);
  free(m);
}

/* an open list or newstruct value: its entries v[0..n-1], i written */
typedef struct enc_frame { const void *obj; const sl_value *v; size_t n, i; int type; } enc_frame;

typedef struct encoder {
  sl_ctx *C;
  sl_buf *out;
  seen objs;
  size_t nobjs;
  enc_frame *st;
  size_t depth, cap;
  int types[SL_T_MAX];   /* newstruct type -> its number in the stream + 1 */
  int ntypes;
} encoder;

/* where a value that cannot cross sits: "list entry 3 of list entry 1" */
static int cannot_cross(encoder *e, sl_value v) {
  sl_buf where = {0};
  for (size_t k = e->depth; k > 0; k--) {
    const enc_frame *f = &e->st[k - 1];
    sl_buf_puts(&where, k == e->depth ? " (" : " of ");
    if (f->type == SL_T_LIST) sl_buf_printf(&where, "list entry %zu", f->i);
    else sl_buf_printf(&where, "member %s of %s", sl_struct_desc(f->type)->names[f->i - 1], sl_type_name(f->type));
  }
  if (e->depth) sl_buf_puts(&where, ")");
  sl_error(e->C, "a %s cannot cross processes%s: only int, bigint, string, list, intvec, intmat, newstruct and none can",
           sl_type_name((int)v.type), where.s ? where.s : "");
  sl_buf_free(&where);
  return -1;
}

/* An object held once (count 1) has one parent, so it cannot occur twice
 * in the value: only the others go into the table (every object is still
 * numbered, as the decoder numbers them). Most objects of a value built
 * by a script are held once, and so the table stays small. */
static int maybe_shared(const void *o) {
  return atomic_load_explicit(&((const sl_obj *)o)->rc, memory_order_relaxed) != 1;
}

static void number(encoder *e, const void *o) {
  size_t k = e->nobjs++;
  if (maybe_shared(o)) seen_add(&e->objs, o, k);
}

static void open_frame(encoder *e, enc_frame f) {
  if (e->depth == e->cap) {
    e->cap = e->cap ? 2 * e->cap : 16;
    e->st = sl_xrealloc(e->st, e->cap * sizeof *e->st);
  }
  e->st[e->depth++] = f;
}

static void put_str(sl_buf *b, const char *s) {
  size_t n = strlen(s);
  put_u(b, n);
  sl_buf_add(b, s, n);
}

/* the definition of newstruct type t (after those of its members' types),
 * once per stream; its number in the stream */
static int put_typedef(encoder *e, int t) {
  if (e->types[t]) return e->types[t] - 1;
  const sl_nsdesc *d = sl_struct_desc(t);
  for (int i = 0; i < d->n; i++)
    if (sl_is_struct(d->types[i])) put_typedef(e, d->types[i]);
  put_byte(e->out, T_TYPEDEF);
  put_str(e->out, sl_type_name(t));
  put_str(e->out, d->spec);
  e->types[t] = ++e->ntypes;
  return e->ntypes - 1;
}

/* one value; a list is opened (its entries follow from the stack) */
static int enc_value(encoder *e, sl_value v) {
  size_t k;
  if (sl_isobj(v) && e->objs.n && maybe_shared(v.u.p) && seen_find(&e->objs, v.u.p, &k)) {
    put_byte(e->out, T_REF);
    put_u(e->out, k);
    return 0;
  }
  switch (v.type) {
  case SL_T_NONE: put_byte(e->out, T_NONE); return 0;
  case SL_T_INT: put_byte(e->out, T_INT); put_i(e->out, v.u.i); return 0;
  case SL_T_BIGINT: put_bigint(e->out, sl_bv(v)->z); break;
  case SL_T_STRING:
    put_byte(e->out, T_STRING);
    put_u(e->out, sl_sv(v)->len);
    sl_buf_add(e->out, sl_sv(v)->s, sl_sv(v)->len);
    break;
  case SL_T_INTVEC: {
    const sl_intvec *iv = sl_iv(v);
    put_byte(e->out, T_INTVEC);
    put_u(e->out, iv->n);
    for (size_t i = 0; i < iv->n; i++) put_i(e->out, iv->v[i]);
    break;
  }
  case SL_T_INTMAT: {
    const sl_intmat *m = sl_imv(v);
    put_byte(e->out, T_INTMAT);
    put_u(e->out, m->r);
    put_u(e->out, m->c);
    for (size_t i = 0; i < m->r * m->c; i++) put_i(e->out, m->v[i]);
    break;
  }
  case SL_T_LIST: case SL_T_MULTI:
    put_byte(e->out, T_LIST);
    put_u(e->out, sl_lv(v)->n);
    open_frame(e, (enc_frame){v.u.p, sl_lv(v)->v, sl_lv(v)->n, 0, SL_T_LIST});
    return 0;   /* numbered when closed */
  default:
    if (sl_is_struct((int)v.type)) {
      int ti = put_typedef(e, (int)v.type);
      put_byte(e->out, T_STRUCT);
      put_u(e->out, (uint64_t)ti);
      put_u(e->out, sl_stv(v)->n);
      open_frame(e, (enc_frame){v.u.p, sl_stv(v)->v, sl_stv(v)->n, 0, (int)v.type});
      return 0;   /* numbered when closed */
    }
    return cannot_cross(e, v);
  }
  number(e, v.u.p);
  return 0;
}

int sl_encode(sl_ctx *C, sl_value v, sl_buf *out) {
  encoder e = {C, out, {0}, 0, NULL, 0, 0, {0}, 0};
  size_t start = out->len;
  sl_buf_add(out, magic, sizeof magic);
  put_byte(out, SL_CODEC_VERSION);
  int rc = enc_value(&e, v);
  while (rc == 0 && e.depth) {
    enc_frame *f = &e.st[e.depth - 1];
    if (f->i == f->n) {
      number(&e, f->obj);
      e.depth--;
      continue;
    }
    f->i++;
    rc = enc_value(&e, f->v[f->i - 1]);
  }
  free(e.objs.key);
  free(e.objs.idx);
  free(e.st);
  if (rc < 0) out->len = start;
  out->s[out->len] = 0;   /* sl_buf keeps a NUL after its bytes */
  return rc;
}

/* ---- decoding -------------------------------------------------------------- */

/* an open list or newstruct value: want entries, have decoded */
typedef struct dec_frame { sl_value obj; size_t want, have; } dec_frame;

typedef struct decoder {
  sl_ctx *C;
  const unsigned char *p, *start, *end;
  sl_value *objs;          /* borrowed: each lives in the value being built */
  size_t nobjs, capobjs;
  dec_frame *st;
  size_t depth, cap;
  int *types;              /* the stream's newstruct types, in order */
  size_t ntypes;
  int version;             /* of the stream: 1 has no intmat or newstruct */
} decoder;

static int bad(decoder *d, const char *what) {
  return sl_error(d->C, "value codec: %s at byte %zu of %zu", what, (size_t)(d->p - d->start),
                  (size_t)(d->end - d->start));
}

static size_t left(const decoder *d) { return (size_t)(d->end - d->p); }

static int get_u(decoder *d, uint64_t *x) {
  uint64_t r = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (d->p == d->end) return bad(d, "truncated number");
    unsigned c = *d->p++;
    if (shift == 63 && (c & 0x7e)) return bad(d, "number too large");
    r |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) { *x = r; return 0; }
  }
  return bad(d, "number too long");
}

static int get_i(decoder *d, int64_t *x) {
  uint64_t u;
  if (get_u(d, &u) < 0) return -1;
  *x = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
  return 0;
}

/* a count of things that take at least a byte each, within the input and
 * the limit */
static int get_count(decoder *d, size_t limit, const char *what, size_t *n) {
  uint64_t x;
  if (get_u(d, &x) < 0) return -1;
  if (x > limit) return sl_error(d->C, "value codec: %s of %llu exceeds the limit (%zu) at byte %zu", what,
                                 (unsigned long long)x, limit, (size_t)(d->p - d->start));
  if (x > left(d)) return bad(d, "truncated value (a length passes the end)");
  *n = (size_t)x;
  return 0;
}

static void note_obj(decoder *d, sl_value v) {
  if (d->nobjs == d->capobjs) {
    d->capobjs = d->capobjs ? 2 * d->capobjs : 64;
    d->objs = sl_xrealloc(d->objs, d->capobjs * sizeof *d->objs);
  }
  d->objs[d->nobjs++] = v;
}

static int dec_bigint(decoder *d, sl_value *v) {
  if (d->p == d->end) return bad(d, "truncated bigint");
  unsigned sign = *d->p++;
  if (sign > 1) return bad(d, "bad bigint sign");
  size_t n;
  if (get_count(d, (size_t)(sl_limits.bigint_bits / 8 + 1), "bigint bytes", &n) < 0) return -1;
  *v = sl_bigint_new();
  mpz_import(sl_bv(*v)->z, n, 1, 1, 1, 0, d->p);
  if (sign) mpz_neg(sl_bv(*v)->z, sl_bv(*v)->z);
  d->p += n;
  return 0;
}

static void open_frame_d(decoder *d, sl_value obj, size_t want) {
  if (d->depth == d->cap) {
    d->cap = d->cap ? 2 * d->cap : 16;
    d->st = sl_xrealloc(d->st, d->cap * sizeof *d->st);
  }
  d->st[d->depth++] = (dec_frame){obj, want, 0};
}

static int dec_intmat(decoder *d, sl_value *v) {
  uint64_t r, c, n;
  if (get_u(d, &r) < 0 || get_u(d, &c) < 0) return -1;
  if (__builtin_mul_overflow(r, c, &n) || n > sl_limits.elems || r > sl_limits.elems || c > sl_limits.elems)
    return sl_error(d->C, "value codec: intmat of %llu x %llu exceeds the limit (%zu entries) at byte %zu",
                    (unsigned long long)r, (unsigned long long)c, sl_limits.elems, (size_t)(d->p - d->start));
  if (n > left(d)) return bad(d, "truncated value (a length passes the end)");   /* an entry takes a byte */
  sl_value m = sl_intmat_new((size_t)r, (size_t)c);
  for (size_t i = 0; i < n; i++)
    if (get_i(d, &sl_imv(m)->v[i]) < 0) { sl_release(m); return -1; }
  *v = m;
  return 0;
}

/* a string of the stream as a C string (malloc'd), at most limit bytes */
static int get_cstr(decoder *d, size_t limit, const char *what, char **out) {
  size_t n;
  if (get_count(d, limit, what, &n) < 0) return -1;
  *out = strndup((const char *)d->p, n);
  if (!*out) sl_oom();
  d->p += n;
  return 0;
}

/* 9 name spec: the type this process has under that name (defined now if
 * it has none) becomes the stream's next type */
static int dec_typedef(decoder *d) {
  char *name = NULL, *spec = NULL;
  size_t at = (size_t)(d->p - d->start);
  int rc = get_cstr(d, 1024, "type name length", &name);
  if (rc == 0) rc = get_cstr(d, 1 << 20, "type spec length", &spec);
  int t = -1, existed;
  if (rc == 0 && sl_struct_define(d->C, name, spec, &t, &existed) < 0) {
    char *msg = strdup(d->C->err ? d->C->err : "");
    sl_clear_error(d->C);
    rc = sl_error(d->C, "value codec: type at byte %zu: %s", at, msg ? msg : "");
    free(msg);
  }
  free(name);
  free(spec);
  if (rc < 0) return -1;
  d->types = sl_xrealloc(d->types, (d->ntypes + 1) * sizeof *d->types);
  d->types[d->ntypes++] = t;
  return 0;
}

static int dec_struct(decoder *d) {
  uint64_t k;
  size_t n;
  if (get_u(d, &k) < 0) return -1;
  if (k >= d->ntypes) return bad(d, "newstruct value of a type not defined in the stream");
  const sl_nsdesc *desc = sl_struct_desc(d->types[k]);
  if (get_count(d, sl_limits.elems, "newstruct members", &n) < 0) return -1;
  if (n != (size_t)desc->n) return bad(d, "newstruct value with another number of members than its type");
  open_frame_d(d, sl_struct_new(d->types[k], n), n);
  return 0;
}

/* a decoded newstruct value holds what its members' types say */
static int check_struct(decoder *d, sl_value v) {
  const sl_nsdesc *desc = sl_struct_desc((int)v.type);
  for (int i = 0; i < desc->n; i++) {
    int t = desc->types[i], vt = (int)sl_stv(v)->v[i].type;
    if (t != SL_T_DEF && vt != t) {
      return sl_error(d->C, "value codec: member %s of a %s holds a %s, not a %s (before byte %zu)", desc->names[i],
                      sl_type_name((int)v.type), sl_type_name(vt), sl_type_name(t), (size_t)(d->p - d->start));
    }
  }
  return 0;
}

/* one value, or *opened when a list was opened (its entries follow) */
static int dec_value(decoder *d, sl_value *v, int *opened) {
  *opened = 0;
again:
  if (d->p == d->end) return bad(d, "truncated value");
  int tag = *d->p++;
  size_t n;
  switch (tag) {
  case T_NONE: *v = SL_NONE; return 0;
  case T_INT: { int64_t x; if (get_i(d, &x) < 0) return -1; *v = SL_INT(x); return 0; }
  case T_BIGINT: if (dec_bigint(d, v) < 0) return -1; break;
  case T_STRING:
    if (get_count(d, sl_limits.str_len, "string length", &n) < 0) return -1;
    *v = sl_str_new((const char *)d->p, n);
    d->p += n;
    break;
  case T_INTVEC: {
    if (get_count(d, sl_limits.elems, "intvec length", &n) < 0) return -1;
    sl_value iv = sl_intvec_new(n);
    for (size_t i = 0; i < n; i++)
      if (get_i(d, &sl_iv(iv)->v[i]) < 0) { sl_release(iv); return -1; }
    *v = iv;
    break;
  }
  case T_LIST:
    if (get_count(d, sl_limits.elems, "list length", &n) < 0) return -1;
    open_frame_d(d, sl_list_new(n), n);
    *opened = 1;
    return 0;
  case T_INTMAT: if (d->version < 2 || dec_intmat(d, v) < 0) return d->version < 2 ? bad(d, "unknown type tag") : -1; break;
  case T_STRUCT:
    if (d->version < 2) return bad(d, "unknown type tag");
    if (dec_struct(d) < 0) return -1;
    *opened = 1;
    return 0;
  case T_TYPEDEF:
    if (d->version < 2) return bad(d, "unknown type tag");
    if (dec_typedef(d) < 0) return -1;
    goto again;
  case T_REF: {
    uint64_t k;
    if (get_u(d, &k) < 0) return -1;
    if (k >= d->nobjs) return bad(d, "reference to an object not decoded yet");
    *v = d->objs[k];
    sl_retain(*v);
    return 0;
  }
  default: return bad(d, "unknown type tag");
  }
  note_obj(d, *v);
  return 0;
}

int sl_decode(sl_ctx *C, const void *data, size_t len, sl_value *out) {
  decoder d = {.C = C, .p = data, .start = data, .end = (const unsigned char *)data + len};
  *out = SL_NONE;
  if (len < sizeof magic + 1 || memcmp(data, magic, sizeof magic))
    return sl_error(C, "value codec: not an encoded value (no \"SPV\" header)");
  d.p += sizeof magic;
  if (*d.p < 1 || *d.p > SL_CODEC_VERSION)
    return sl_error(C, "value codec: version %d is not supported (this is version %d)", *d.p, SL_CODEC_VERSION);
  d.version = *d.p++;
  sl_value v = SL_NONE, root = SL_NONE;
  int rc = 0, opened, done = 0;
  while (rc == 0 && !done) {
    if (d.depth && d.st[d.depth - 1].have == d.st[d.depth - 1].want) {
      v = d.st[--d.depth].obj;   /* a list or newstruct value is complete */
      if (v.type != SL_T_LIST && check_struct(&d, v) < 0) { sl_release(v); rc = -1; continue; }
      note_obj(&d, v);
    } else {
      rc = dec_value(&d, &v, &opened);
      if (rc < 0 || opened) continue;
    }
    if (d.depth) {
      dec_frame *f = &d.st[d.depth - 1];
      if (f->obj.type == SL_T_LIST) sl_list_push(&f->obj, v);
      else sl_stv(f->obj)->v[f->have] = v;
      f->have++;
    } else {
      root = v;
      done = 1;
    }
  }
  if (rc == 0 && d.p != d.end) { rc = bad(&d, "trailing bytes after the value"); sl_release(root); }
  for (size_t i = 0; i < d.depth; i++) sl_release(d.st[i].obj);
  free(d.st);
  free(d.types);
  free(d.objs);
  if (rc == 0) *out = root;
  return rc;
}
