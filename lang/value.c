/* value.c: heap values (strings, lists, intvecs, bigints, procs, plugin
 * types), their reference counts, equality and Singular-style display. */
#include <stdlib.h>
#include <string.h>
#include "sl.h"

sl_utype *sl_utypes[SL_T_MAX];

sl_limits_t sl_limits = {1ull << 30, (size_t)1 << 30, 100000000};

/* Nesting deeper than this is shown as "..." (and compared by identity):
 * display, string() and equality recurse, and may run on a small fiber
 * stack. */
#define SL_MAX_NEST 1000

void sl_oom(void) { fputs("spindle: out of memory\n", stderr); abort(); }

void *sl_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) sl_oom();
  return p;
}

void *sl_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) sl_oom();
  return p;
}

void *sl_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) sl_oom();
  return q;
}

char *sl_xstrdup(const char *s) {
  char *d = strdup(s);
  if (!d) sl_oom();
  return d;
}

char *sl_xstrndup(const char *s, size_t n) {
  char *d = strndup(s, n);
  if (!d) sl_oom();
  return d;
}

const char *sl_path_base(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}
#define oom sl_oom

#ifdef SL_COUNT_OBJS
/* objects alive (a build for the fuzzers only, tests/fuzz/fuzz_exec.c):
 * a count that does not come back after a world is freed is a leak that
 * LSan, which keeps anything a stale word still points at, may not see */
_Atomic long sl_live_objs;
#define COUNT_OBJ(d) atomic_fetch_add_explicit(&sl_live_objs, (d), memory_order_relaxed)
#else
#define COUNT_OBJ(d) ((void)0)
#endif

void *sl_alloc_obj(size_t size, int type) {
  sl_obj *o = malloc(size);
  if (!o) oom();
  COUNT_OBJ(1);
  atomic_init(&o->rc, 1);
  o->type = (uint16_t)type;
  o->flags = 0;
  return o;
}

sl_value sl_str_new(const char *s, size_t len) {
  sl_string *o = sl_alloc_obj(sizeof *o + len + 1, SL_T_STRING);
  o->len = len;
  if (len) memcpy(o->s, s, len);
  o->s[len] = 0;
  return SL_OBJ(SL_T_STRING, o);
}

sl_value sl_str(const char *s) { return sl_str_new(s, strlen(s)); }

sl_value sl_list_new(size_t cap) {
  sl_list *o = sl_alloc_obj(sizeof *o, SL_T_LIST);
  o->n = 0;
  o->cap = cap;
  o->v = cap ? malloc(cap * sizeof(sl_value)) : NULL;
  if (cap && !o->v) oom();
  return SL_OBJ(SL_T_LIST, o);
}

void sl_list_push(sl_value *list, sl_value item) {
  sl_list *l = sl_lv(*list);
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 4;
    l->v = realloc(l->v, l->cap * sizeof(sl_value));
    if (!l->v) oom();
  }
  l->v[l->n++] = item;
}

sl_value sl_list_copy(sl_value lv) {
  sl_list *l = sl_lv(lv);
  sl_value r = sl_list_new(l->n);
  for (size_t i = 0; i < l->n; i++) {
    sl_retain(l->v[i]);
    sl_lv(r)->v[i] = l->v[i];
  }
  sl_lv(r)->n = l->n;
  r.type = lv.type;
  sl_lv(r)->h.type = (uint16_t)lv.type;
  return r;
}

sl_value sl_intvec_new(size_t n) {
  sl_intvec *o = sl_alloc_obj(sizeof *o + n * sizeof(int64_t), SL_T_INTVEC);
  o->n = n;
  memset(o->v, 0, n * sizeof(int64_t));
  return SL_OBJ(SL_T_INTVEC, o);
}

sl_value sl_bigint_new(void) {
  sl_bigint *o = sl_alloc_obj(sizeof *o, SL_T_BIGINT);
  mpz_init(o->z);
  return SL_OBJ(SL_T_BIGINT, o);
}

sl_value sl_bigint_from_mpz(mpz_srcptr z) {
  sl_value v = sl_bigint_new();
  mpz_set(sl_bv(v)->z, z);
  return v;
}

sl_value sl_bigint_from_i64(int64_t i) {
  sl_value v = sl_bigint_new();
  mpz_set_si(sl_bv(v)->z, (long)i);
  return v;
}

sl_value sl_bigint_norm(sl_value b) { return b; }

int sl_bigint_fits(sl_value b, int64_t *out) {
  if (!mpz_fits_slong_p(sl_bv(b)->z)) return 0;
  *out = mpz_get_si(sl_bv(b)->z);
  return 1;
}

/* drops one count; returns o when that was the last one */
static sl_obj *drop(sl_value v) {
  if (!sl_isobj(v)) return NULL;
  sl_obj *o = (sl_obj *)v.u.p;
  int32_t old = atomic_load_explicit(&o->rc, memory_order_relaxed);
  if (sl_rc_immortal(old)) return NULL;
  if (atomic_load_explicit(&sl_threaded, memory_order_relaxed))
    old = atomic_fetch_sub_explicit(&o->rc, 1, memory_order_acq_rel);
  else atomic_store_explicit(&o->rc, old - 1, memory_order_relaxed);
  return old == 1 ? o : NULL;
}

typedef struct free_stack { sl_obj **v; size_t n, cap; sl_obj *small[32]; } free_stack;

static void fs_push(free_stack *fs, sl_obj *o) {
  if (!o) return;
  if (fs->n == fs->cap) {
    size_t cap = fs->cap * 2;
    sl_obj **v = malloc(cap * sizeof *v);
    if (!v) oom();
    memcpy(v, fs->v, fs->n * sizeof *v);
    if (fs->v != fs->small) free(fs->v);
    fs->v = v;
    fs->cap = cap;
  }
  fs->v[fs->n++] = o;
}

static void free_one(sl_obj *o, free_stack *fs) {
  switch (o->type) {
  case SL_T_LIST: case SL_T_MULTI: {
    sl_list *l = (sl_list *)o;
    for (size_t i = 0; i < l->n; i++) fs_push(fs, drop(l->v[i]));
    free(l->v);
    break;
  }
  case SL_T_BIGINT: mpz_clear(((sl_bigint *)o)->z); break;
  case SL_T_PROC: sl_code_release(((sl_proc *)o)->code); break;
  case SL_T_QUOTE: {
    sl_quote *q = (sl_quote *)o;
    sl_code_release(q->code);
    fs_push(fs, drop(SL_OBJ(SL_T_STRING, q->src)));
    break;
  }
  case SL_T_BUILTIN: {
    sl_builtin *b = (sl_builtin *)o;
    free(b->name);
    if (b->ffi || b->dl) sl_ffisig_free(b->ffi, b->dl);
    break;
  }
  default:
    if (sl_is_struct(o->type)) {   /* a newstruct value: its members */
      sl_struct *st = (sl_struct *)o;
      for (size_t i = 0; i < st->n; i++) fs_push(fs, drop(st->v[i]));
      break;
    }
    if (o->type >= SL_T_FIRST_USER && sl_utypes[o->type] && sl_utypes[o->type]->d.release)
      sl_utypes[o->type]->d.release(((sl_user *)o)->ptr);
    break;
  }
  COUNT_OBJ(-1);
  free(o);
}

/* Frees o and whatever only it kept alive, with an explicit work stack:
 * a deeply nested list must not recurse on a small fiber stack. */
void sl_free_obj(sl_obj *o) {
  free_stack fs;
  fs.v = fs.small;
  fs.n = 0;
  fs.cap = sizeof fs.small / sizeof fs.small[0];
  fs_push(&fs, o);
  while (fs.n) free_one(fs.v[--fs.n], &fs);
  if (fs.v != fs.small) free(fs.v);
}

static int big_cmp(sl_value a, sl_value b) {
  if (a.type == SL_T_INT && b.type == SL_T_INT)
    return (a.u.i > b.u.i) - (a.u.i < b.u.i);
  if (a.type == SL_T_INT) return -mpz_cmp_si(sl_bv(b)->z, (long)a.u.i);
  if (b.type == SL_T_INT) return mpz_cmp_si(sl_bv(a)->z, (long)b.u.i);
  return mpz_cmp(sl_bv(a)->z, sl_bv(b)->z);
}

static int equal(sl_value a, sl_value b, int depth);
int sl_equal(sl_value a, sl_value b) { return equal(a, b, 0); }

static int equal(sl_value a, sl_value b, int depth) {
again:;
  int an = a.type == SL_T_INT || a.type == SL_T_BIGINT;
  int bn = b.type == SL_T_INT || b.type == SL_T_BIGINT;
  if (an && bn) return big_cmp(a, b) == 0;
  if (a.type != b.type) return 0;
  switch (a.type) {
  case SL_T_NONE: return 1;
  case SL_T_STRING:
    return sl_sv(a)->len == sl_sv(b)->len && !memcmp(sl_sv(a)->s, sl_sv(b)->s, sl_sv(a)->len);
  case SL_T_LIST: case SL_T_MULTI: {
    sl_list *x = sl_lv(a), *y = sl_lv(b);
    if (x == y) return 1;
    if (x->n != y->n || depth > SL_MAX_NEST) return 0;
    if (x->n == 0) return 1;
    for (size_t i = 0; i + 1 < x->n; i++)
      if (!equal(x->v[i], y->v[i], depth + 1)) return 0;
    /* the last element by iteration: a chain of nested lists costs no C
     * stack (with ASan's redzones SL_MAX_NEST recursive frames overflow a
     * 256 KiB stack) */
    a = x->v[x->n - 1]; b = y->v[y->n - 1]; depth++;
    goto again;
  }
  case SL_T_PACKAGE: return !strcmp(sl_sv(a)->s, sl_sv(b)->s);
  case SL_T_INTVEC: {
    sl_intvec *x = sl_iv(a), *y = sl_iv(b);
    return x->n == y->n && !memcmp(x->v, y->v, x->n * sizeof(int64_t));
  }
  case SL_T_INTMAT: {
    sl_intmat *x = sl_imv(a), *y = sl_imv(b);
    return x->r == y->r && x->c == y->c && !memcmp(x->v, y->v, x->r * x->c * sizeof(int64_t));
  }
  default:
    if (sl_is_struct((int)a.type)) {   /* newstruct values of one type: member by member */
      sl_struct *x = sl_stv(a), *y = sl_stv(b);
      if (x == y) return 1;
      if (depth > SL_MAX_NEST) return 0;
      for (size_t i = 0; i < x->n; i++)
        if (!equal(x->v[i], y->v[i], depth + 1)) return 0;
      return 1;
    }
    if (a.type >= SL_T_FIRST_USER && sl_utypes[a.type] && sl_utypes[a.type]->d.equal)
      return sl_utypes[a.type]->d.equal(((sl_user *)a.u.p)->ptr, ((sl_user *)b.u.p)->ptr) != 0;
    if (a.type >= SL_T_FIRST_USER)
      return ((sl_user *)a.u.p)->ptr == ((sl_user *)b.u.p)->ptr;
    return a.u.p == b.u.p;
  }
}

/* ---- buffers ----------------------------------------------------------- */
char *sl_buf_reserve(sl_buf *b, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t c = b->cap ? b->cap : 64;
    while (c < b->len + n + 1) c *= 2;
    b->s = realloc(b->s, c);
    if (!b->s) oom();
    b->cap = c;
  }
  return b->s + b->len;
}

void sl_buf_add(sl_buf *b, const char *s, size_t n) {
  memcpy(sl_buf_reserve(b, n), s, n);
  b->len += n;
  b->s[b->len] = 0;
}

void sl_buf_puts(sl_buf *b, const char *s) { sl_buf_add(b, s, strlen(s)); }

void sl_buf_printf(sl_buf *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < (int)sizeof tmp) { sl_buf_add(b, tmp, (size_t)n); return; }
  char *big = malloc((size_t)n + 1);
  if (!big) oom();
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sl_buf_add(b, big, (size_t)n);
  free(big);
}

void sl_buf_free(sl_buf *b) { free(b->s); b->s = NULL; b->len = b->cap = 0; }

/* ---- display ----------------------------------------------------------- */
const char *sl_type_name(int t) {
  switch (t) {
  case SL_T_NONE: return "none";
  case SL_T_INT: return "int";
  case SL_T_BIGINT: return "bigint";
  case SL_T_STRING: return "string";
  case SL_T_LIST: return "list";
  case SL_T_INTVEC: return "intvec";
  case SL_T_PROC: return "proc";
  case SL_T_BUILTIN: return "proc";
  case SL_T_QUOTE: return "quote";
  case SL_T_DEF: return "def";
  case SL_T_MULTI: return "list";
  case SL_T_UNDEF: return "?unknown type?";
  case SL_T_PACKAGE: return "package";
  case SL_T_INTMAT: return "intmat";
  default:
    if (t >= SL_T_FIRST_USER && t < SL_T_MAX && sl_utypes[t]) return sl_utypes[t]->name;
    return "?unknown type?";
  }
}

static void indent_to(sl_buf *b, int n) {
  for (int i = 0; i < n; i++) sl_buf_add(b, " ", 1);
}

static void print_bigint(sl_buf *b, sl_value v) {
  char *s = mpz_get_str(NULL, 10, sl_bv(v)->z);
  sl_buf_puts(b, s);
  free(s);
}

static void print_intvec(sl_buf *b, sl_value v) {
  sl_intvec *iv = sl_iv(v);
  for (size_t i = 0; i < iv->n; i++)
    sl_buf_printf(b, i ? ",%lld" : "%lld", (long long)iv->v[i]);
}

static void print_user(sl_buf *b, sl_value v) {
  char tmp[512] = "";
  sl_utype *t = sl_utypes[v.type];
  if (t && t->show) { t->show(b, ((sl_user *)v.u.p)->ptr); return; }
  if (t && t->d.print) t->d.print(((sl_user *)v.u.p)->ptr, tmp, sizeof tmp);
  else snprintf(tmp, sizeof tmp, "<%s>", sl_type_name(v.type));
  sl_buf_puts(b, tmp);
}

/* A list prints one "[i]:" header per element that is not none, the
 * element below it three columns further in (Singular's layout). */
static void print_list(sl_buf *b, sl_value v, int ind) {
  sl_list *l = sl_lv(v);
  int first = 1;
  if (l->n == 0) { indent_to(b, ind); sl_buf_puts(b, "empty list"); return; }
  for (size_t i = 0; i < l->n; i++) {
    if (l->v[i].type == SL_T_NONE) continue;
    if (!first) sl_buf_add(b, "\n", 1);
    first = 0;
    indent_to(b, ind);
    sl_buf_printf(b, "[%zu]:\n", i + 1);
    sl_print_value(b, l->v[i], ind + 3);
    if (sl_utype_ext((int)l->v[i].type)->blank_line) sl_buf_add(b, "\n", 1);   /* as at top level */
  }
}

void sl_print_value(sl_buf *b, sl_value v, int ind) {
  if (v.type == SL_T_LIST && ind > 3 * SL_MAX_NEST) { indent_to(b, ind); sl_buf_puts(b, "..."); return; }
  if (v.type == SL_T_LIST) { print_list(b, v, ind); return; }
  if (v.type == SL_T_PROC) {
    sl_code *c = ((sl_proc *)v.u.p)->code;
    indent_to(b, ind);
    const char *lib = sl_code_lib(c);
    sl_buf_printf(b, "// libname  : %s\n", lib ? lib : "");
    indent_to(b, ind);
    sl_buf_printf(b, "// procname : %s\n", strstr(c->name, "::") ? strstr(c->name, "::") + 2 : c->name);
    indent_to(b, ind);
    sl_buf_puts(b, "// type     : singular");
    return;
  }
  indent_to(b, ind);
  if (v.type == SL_T_PACKAGE) { sl_package_show(b, v); return; }
  if (v.type == SL_T_INTMAT) { sl_intmat_string(b, v, ind); return; }
  if (v.type == SL_T_MULTI) {
    /* values separated by a blank; a list ends its display with a newline
     * and no blank follows it (Singular's layout) */
    sl_list *l = sl_lv(v);
    int after_list = 1;
    for (size_t i = 0; i < l->n; i++) {
      if (!after_list) sl_buf_add(b, " ", 1);
      sl_print_value(b, l->v[i], 0);
      after_list = l->v[i].type == SL_T_LIST;
      if (after_list) sl_buf_add(b, "\n", 1);
    }
    return;
  }
  if (ind && v.type >= SL_T_FIRST_USER && v.type < SL_T_MAX && sl_utypes[v.type] && sl_utypes[v.type]->show) {
    /* a display of several lines (a link's), each indented in a list */
    sl_buf t = {0};
    sl_string_value(&t, v);
    for (char *p = t.s, *nl; p && *p; p = nl + 1) {
      nl = strchr(p, '\n');
      if (!nl) { sl_buf_puts(b, p); break; }
      sl_buf_add(b, p, (size_t)(nl - p) + 1);
      indent_to(b, ind);
    }
    sl_buf_free(&t);
    return;
  }
  sl_string_value(b, v);
}

static void string_value(sl_buf *b, sl_value v, int depth, int dim);

/* string(v): the value as text, lists flattened with commas */
void sl_string_value(sl_buf *b, sl_value v) { string_value(b, v, 0, 1); }
/* dim 2 (print's %2s): an intmat's rows and a list's entries end lines */
void sl_string_value_dim(sl_buf *b, sl_value v, int dim) { string_value(b, v, 0, dim); }

/* A list's entries: an entry whose text is empty ("", an empty list,
 * none) is left out with its comma, as Singular's lString does. Nested
 * lists recurse here, not through string_value, whose frame is larger:
 * SL_MAX_NEST levels fit in a job's fiber stack, under ASan too
 * (tests/scripts/cstack.sing) */
static void string_list(sl_buf *b, const sl_list *l, int depth, int dim) {
  int first = 1;
  for (size_t i = 0; i < l->n; i++) {
    size_t mark = b->len;
    if (!first) sl_buf_add(b, dim == 2 ? ",\n" : ",", dim == 2 ? 2 : 1);
    size_t at = b->len;
    if (depth > SL_MAX_NEST) { sl_buf_puts(b, "..."); return; }
    sl_value x = l->v[i];
    if (x.type == SL_T_LIST || x.type == SL_T_MULTI) string_list(b, sl_lv(x), depth + 1, dim);
    else string_value(b, x, depth + 1, dim);
    if (b->len == at) {   /* nothing: take the comma back */
      b->len = mark;
      if (b->s) b->s[mark] = 0;
      continue;
    }
    first = 0;
  }
}

static void string_value(sl_buf *b, sl_value v, int depth, int dim) {
  switch (v.type) {
  case SL_T_NONE: break;
  case SL_T_INT: sl_buf_printf(b, "%lld", (long long)v.u.i); break;
  case SL_T_BIGINT: print_bigint(b, v); break;
  case SL_T_STRING: sl_buf_add(b, sl_sv(v)->s, sl_sv(v)->len); break;
  case SL_T_INTVEC: print_intvec(b, v); break;
  case SL_T_INTMAT: sl_intmat_string(b, v, dim == 2 ? 0 : -1); break;
  case SL_T_LIST: case SL_T_MULTI: string_list(b, sl_lv(v), depth, dim); break;
  case SL_T_PROC: sl_buf_puts(b, ((sl_proc *)v.u.p)->code->src ? ((sl_proc *)v.u.p)->code->src : ""); break;
  case SL_T_BUILTIN: sl_buf_printf(b, "<builtin %s>", ((sl_builtin *)v.u.p)->name); break;
  case SL_T_QUOTE: sl_buf_printf(b, "quote(%s)", ((sl_quote *)v.u.p)->src->s); break;
  default:
    if (sl_is_struct((int)v.type)) sl_struct_string(b, v);
    else if (v.type >= SL_T_FIRST_USER) print_user(b, v);
    break;
  }
}
