/* plugin.c: loading plugins and libraries, the api table handed to
 * plugins, and calls of C functions through libffi (plugin functions with
 * a signature string, and native() functions from any shared library). */
#include <ctype.h>
#include <dlfcn.h>
#include <ffi.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "sl.h"
#include "ast.h"

#ifndef SL_PKGLIBDIR
#define SL_PKGLIBDIR "/usr/local/lib/spindle"
#endif
#ifndef SL_PKGDATADIR
#define SL_PKGDATADIR "/usr/local/share/spindle"
#endif

const char *sl_builddir;   /* set by main when the program runs uninstalled */
const char *sl_srcdir;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static char **loaded;      /* plugins and libraries already loaded */
static int nloaded, caploaded;
static int next_type = SL_T_FIRST_USER;
typedef struct hook { void (*created)(sl_ctx *); void (*destroyed)(sl_ctx *); } hook;
static hook hooks[16];
static int nhooks;

static int is_loaded(const char *key) {
  pthread_mutex_lock(&reg_mu);
  int found = 0;
  for (int i = 0; i < nloaded && !found; i++) found = !strcmp(loaded[i], key);
  pthread_mutex_unlock(&reg_mu);
  return found;
}

static void mark_loaded(const char *key) {
  pthread_mutex_lock(&reg_mu);
  /* no limit: past a fixed 64, libraries were loaded again at every LIB,
   * and Singular's, which load each other, without end (all.lib) */
  if (nloaded == caploaded) {
    caploaded = caploaded ? 2 * caploaded : 64;
    loaded = sl_xrealloc(loaded, (size_t)caploaded * sizeof *loaded);
  }
  loaded[nloaded++] = sl_xstrdup(key);
  pthread_mutex_unlock(&reg_mu);
}

/* ---- libffi signatures ------------------------------------------------- */
enum { F_VOID, F_INT, F_LONG, F_INT64, F_DOUBLE, F_STRING, F_BOOL, F_DEF, F_USER };

typedef struct sl_ffisig {
  int ret, nargs;
  int rtype_code, *atype_code;    /* user type codes for F_USER */
  int *args;
  ffi_cif cif;
  ffi_type **atypes;
  char *text;
} sl_ffisig;

static ffi_type *value_elems[] = {&ffi_type_uint32, &ffi_type_uint32, &ffi_type_sint64, NULL};
static ffi_type ffi_type_value = {0, 0, FFI_TYPE_STRUCT, value_elems};

static ffi_type *ffi_of(int f) {
  switch (f) {
  case F_VOID: return &ffi_type_void;
  case F_INT: case F_BOOL: return &ffi_type_sint;
  case F_LONG: return &ffi_type_slong;
  case F_INT64: return &ffi_type_sint64;
  case F_DOUBLE: return &ffi_type_double;
  case F_DEF: return &ffi_type_value;
  default: return &ffi_type_pointer;
  }
}

static int find_utype(const char *name) {
  for (int t = SL_T_FIRST_USER; t < SL_T_MAX; t++)
    if (sl_utypes[t] && !strcmp(sl_utypes[t]->name, name)) return t;
  return -1;
}

int sl_utype_find(const char *name) {
  pthread_mutex_lock(&reg_mu);
  int t = find_utype(name);
  pthread_mutex_unlock(&reg_mu);
  return t;
}

int sl_singular_algebra_type(const char *name) {
  static const char *const algebra[] = {
    "ring", "qring", "cring", "poly", "ideal", "module", "vector", "matrix",
    "smatrix", "bigintmat", "number", "map", "resolution", "cone", "fan",
    "polytope", "pyobject", NULL,
  };
  for (int i = 0; algebra[i]; i++)
    if (!strcmp(name, algebra[i])) return 1;
  return 0;
}

char *sl_unknown_type_msg(const char *tname) {
  sl_buf b = {0};
  if (sl_singular_algebra_type(tname))
    sl_buf_printf(&b, "unknown type `%s`: Singular's algebra (rings, polynomials, ideals, "
                      "modules, matrices, numbers, maps) is not part of spindle", tname);
  else
    sl_buf_printf(&b, "unknown type `%s` (is its plugin loaded?)", tname);
  return b.s;
}

int sl_unknown_type(sl_ctx *C, const char *tname) {
  char *m = sl_unknown_type_msg(tname);
  int rc = sl_error(C, "%s", m);
  free(m);
  return rc;
}

int sl_utype_init(sl_ctx *C, const char *tname, sl_value *v) {
  int t = sl_utype_find(tname);
  if (t < 0) return sl_unknown_type(C, tname);
  if (sl_is_struct(t)) {   /* `point p;`: a newstruct with its members' defaults */
    sl_value r;
    if (sl_struct_default(C, t, &r) < 0) return -1;
    sl_release(*v);
    *v = r;
    return 0;
  }
  const spindle_type_ext *x = sl_utype_ext(t);
  if (!x->init) return 0;
  sl_value r = SL_NONE;
  if (x->init(C, &r) < 0) return -1;
  sl_release(*v);
  *v = r;
  return 0;
}

int sl_utype_assign(sl_ctx *C, int t, sl_value *v) {
  const sl_value *conv = sl_struct_type_op(t, "=", 1);
  if (conv) {   /* Singular's `=` installed for a newstruct: its proc converts */
    sl_value r;
    if (sl_call_value(C, *conv, 1, v, &r) < 0) return -1;
    if ((int)r.type != t) {
      sl_error(C, "cannot assign %s to a variable of type %s: the proc installed for `=` returned %s",
               sl_type_name((int)v->type), sl_utypes[t]->name, sl_type_name((int)r.type));
      sl_release(r);
      return -1;
    }
    sl_release(*v);
    *v = r;
    return 0;
  }
  const spindle_type_ext *x = sl_utype_ext(t);
  if (!x->assign) return 1;
  sl_value one[1] = {*v}, *argv = one, r = SL_NONE;
  int argc = 1;
  if (v->type == SL_T_MULTI) { argv = sl_lv(*v)->v; argc = (int)sl_lv(*v)->n; }
  int rc = x->assign(C, argc, argv, &r);
  if (rc < 0) return -1;
  if ((int)r.type != t) {
    sl_release(r);
    return sl_error(C, "cannot assign %s to a variable of type %s", sl_type_name((int)v->type), sl_utypes[t]->name);
  }
  sl_release(*v);
  *v = r;
  return 0;
}

/* system("what", ...) requests registered by plugins */
static struct { char *what; sl_cfn fn; } sys_handlers[16];
static int nsys_handlers;

sl_cfn sl_system_handler(const char *what) {
  pthread_mutex_lock(&reg_mu);
  sl_cfn fn = NULL;
  for (int i = 0; i < nsys_handlers && !fn; i++)
    if (!strcmp(sys_handlers[i].what, what)) fn = sys_handlers[i].fn;
  pthread_mutex_unlock(&reg_mu);
  return fn;
}

static int parse_type(const char *s, size_t n, int *code, int *ucode) {
  static const struct { const char *n; int f; } tab[] = {
    {"void", F_VOID}, {"int", F_INT}, {"long", F_LONG}, {"int64", F_INT64},
    {"double", F_DOUBLE}, {"string", F_STRING}, {"bool", F_BOOL}, {"def", F_DEF},
  };
  while (n && (*s == ' ')) { s++; n--; }
  while (n && s[n - 1] == ' ') n--;
  *ucode = 0;
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
    if (strlen(tab[i].n) == n && !memcmp(tab[i].n, s, n)) { *code = tab[i].f; return 0; }
  char name[64];
  if (n == 0 || n >= sizeof name) return -1;
  memcpy(name, s, n);
  name[n] = 0;
  int t = find_utype(name);
  if (t < 0) return -1;
  *code = F_USER;
  *ucode = t;
  return 0;
}

static void sig_free(sl_ffisig *g);

void sl_ffisig_free(struct sl_ffisig *g, void *dl) {
  sig_free(g);
  if (dl) dlclose(dl);
}

static void sig_free(sl_ffisig *g) {
  if (!g) return;
  free(g->args); free(g->atype_code); free(g->atypes); free(g->text); free(g);
}

/* "ret(a,b,...)" -> a prepared libffi call interface */
static sl_ffisig *sig_parse(const char *sig, char *err, size_t errsz) {
  const char *lp = strchr(sig, '('), *rp = strrchr(sig, ')');
  if (!lp || !rp || rp < lp) { snprintf(err, errsz, "bad signature \"%s\": expected ret(args)", sig); return NULL; }
  sl_ffisig *g = sl_xcalloc(1, sizeof *g);
  g->text = sl_xstrdup(sig);
  if (parse_type(sig, (size_t)(lp - sig), &g->ret, &g->rtype_code) < 0) goto bad;
  const char *p = lp + 1;
  int cap = 0;
  while (p < rp) {
    const char *e = p;
    while (e < rp && *e != ',') e++;
    int blank = 1;
    for (const char *q = p; q < e; q++) blank &= *q == ' ';
    if (blank && e == rp && g->nargs == 0) break;
    if (g->nargs == cap) {
      cap = cap ? cap * 2 : 4;
      g->args = sl_xrealloc(g->args, (size_t)cap * sizeof(int));
      g->atype_code = sl_xrealloc(g->atype_code, (size_t)cap * sizeof(int));
    }
    if (parse_type(p, (size_t)(e - p), &g->args[g->nargs], &g->atype_code[g->nargs]) < 0 ||
        g->args[g->nargs] == F_VOID) goto bad;
    g->nargs++;
    p = e < rp ? e + 1 : e;
  }
  g->atypes = sl_xcalloc((size_t)g->nargs + 1, sizeof(ffi_type *));
  for (int i = 0; i < g->nargs; i++) g->atypes[i] = ffi_of(g->args[i]);
  if (ffi_prep_cif(&g->cif, FFI_DEFAULT_ABI, (unsigned)g->nargs, ffi_of(g->ret), g->atypes) != FFI_OK) goto bad;
  return g;
bad:
  snprintf(err, errsz, "bad signature \"%s\": unknown type", sig);
  sig_free(g);
  return NULL;
}

static const char *fname_of(int f, int ucode) {
  switch (f) {
  case F_INT: case F_LONG: case F_INT64: case F_BOOL: return "int";
  case F_DOUBLE: return "int or string (a number)";
  case F_STRING: return "string";
  case F_USER: return sl_type_name(ucode);
  default: return "any";
  }
}

typedef union slot_u { int i; long l; int64_t q; double d; void *p; sl_value v; } slot_u;

static int ffi_arg_in(sl_ctx *C, sl_builtin *b, int i, sl_value v, int f, int uc, slot_u *s) {
  switch (f) {
  case F_INT: case F_LONG: case F_INT64: case F_BOOL: {
    int64_t x;
    if (v.type == SL_T_INT) x = v.u.i;
    else if (v.type == SL_T_BIGINT && sl_bigint_fits(v, &x)) {}
    else break;
    if (f == F_INT || f == F_BOOL) {
      if (x < INT_MIN || x > INT_MAX) return sl_error(C, "%s: argument %d: %lld does not fit a C int", b->name, i + 1, (long long)x);
      s->i = (int)x;
    } else if (f == F_LONG) s->l = (long)x;
    else s->q = x;
    return 0;
  }
  case F_DOUBLE:
    if (v.type == SL_T_INT) { s->d = (double)v.u.i; return 0; }
    if (v.type == SL_T_STRING) {
      char *end;
      s->d = strtod(sl_sv(v)->s, &end);
      if (end != sl_sv(v)->s && !*end) return 0;
      return sl_error(C, "%s: argument %d: \"%s\" is not a number", b->name, i + 1, sl_sv(v)->s);
    }
    break;
  case F_STRING:
    if (v.type == SL_T_STRING) { s->p = sl_sv(v)->s; return 0; }
    break;
  case F_DEF: s->v = v; return 0;
  case F_USER:
    if ((int)v.type == uc) { s->p = ((sl_user *)v.u.p)->ptr; return 0; }
    break;
  }
  return sl_error(C, "%s: argument %d must be %s, not %s", b->name, i + 1, fname_of(f, uc), sl_type_name((int)v.type));
}

static sl_value make_user(int type, void *ptr);

static void ffi_ret_out(sl_ffisig *g, slot_u *r, sl_value *ret) {
  char tmp[64];
  switch (g->ret) {
  case F_INT: *ret = SL_INT((int)r->l); break;   /* ffi widens to ffi_arg */
  case F_BOOL: *ret = SL_INT((int)r->l != 0); break;
  case F_LONG: *ret = SL_INT(r->l); break;
  case F_INT64: *ret = SL_INT(r->q); break;
  case F_DOUBLE: snprintf(tmp, sizeof tmp, "%.17g", r->d); *ret = sl_str(tmp); break;
  case F_STRING: *ret = r->p ? sl_str((const char *)r->p) : SL_NONE; break;
  case F_DEF: *ret = r->v; break;
  case F_USER: *ret = r->p ? make_user(g->rtype_code, r->p) : SL_NONE; break;
  default: *ret = SL_NONE; break;
  }
}

int sl_ffi_call(sl_ctx *C, sl_builtin *b, int argc, sl_value *argv, sl_value *ret) {
  sl_ffisig *g = b->ffi;
  if (argc != g->nargs)
    return sl_error(C, "%s: expected %d argument%s, got %d", b->name, g->nargs, g->nargs == 1 ? "" : "s", argc);
  slot_u vals[16], *v = g->nargs <= 16 ? vals : malloc((size_t)g->nargs * sizeof(slot_u));
  void *ptrs[16], **pp = g->nargs <= 16 ? ptrs : malloc((size_t)g->nargs * sizeof(void *));
  int rc = 0;
  for (int i = 0; i < g->nargs && !rc; i++) {
    rc = ffi_arg_in(C, b, i, argv[i], g->args[i], g->atype_code[i], &v[i]);
    pp[i] = &v[i];
  }
  if (!rc) {
    slot_u r;
    memset(&r, 0, sizeof r);
    ffi_call(&g->cif, FFI_FN(b->fnptr), &r, pp);
    ffi_ret_out(g, &r, ret);
  }
  if (v != vals) free(v);
  if (pp != ptrs) free(pp);
  return rc;
}

static sl_builtin *new_ffi_builtin(const char *name, sl_ffisig *g, void *fn) {
  sl_builtin *b = sl_alloc_obj(sizeof *b, SL_T_BUILTIN);
  memset((char *)b + sizeof(sl_obj), 0, sizeof *b - sizeof(sl_obj));
  b->name = sl_xstrdup(name);
  b->ffi = g;
  b->fnptr = fn;
  return b;
}

int sl_native(sl_ctx *C, const char *lib, const char *sym, const char *sig, sl_value *ret) {
  void *dl = dlopen(*lib ? lib : NULL, RTLD_NOW | RTLD_LOCAL);
  if (!dl) return sl_error(C, "native: cannot open library \"%s\": %s", lib, dlerror());
  void *fn = dlsym(dl, sym);
  if (!fn) { dlclose(dl); return sl_error(C, "native: no function \"%s\" in \"%s\"", sym, lib); }
  char err[200];
  sl_ffisig *g = sig_parse(sig, err, sizeof err);
  if (!g) { dlclose(dl); return sl_error(C, "native: %s", err); }
  sl_builtin *b = new_ffi_builtin(sym, g, fn);
  b->dl = dl;
  *ret = SL_OBJ(SL_T_BUILTIN, b);
  return 0;
}

/* ---- registration ------------------------------------------------------ */
typedef struct reg_internal { sl_world *W; char *fail; } reg_internal;

static int api_def(spindle_reg *r, const char *name, const char *sig, void *fn) {
  reg_internal *ri = r->internal_;
  char err[200];
  sl_ffisig *g = sig_parse(sig, err, sizeof err);
  if (!g) {
    if (!ri->fail) { ri->fail = malloc(300); snprintf(ri->fail, 300, "%s: %s", name, err); }
    return -1;
  }
  sl_builtin *b = new_ffi_builtin(name, g, fn);
  sl_slot_set(sl_global_slot(ri->W, name), SL_OBJ(SL_T_BUILTIN, b), SL_T_DEF);
  return 0;
}

static int api_def_raw(spindle_reg *r, const char *name, spindle_rawfn fn) {
  reg_internal *ri = r->internal_;
  sl_def_builtin(ri->W, name, (sl_cfn)fn);
  return 0;
}

static int api_def_type(spindle_reg *r, const spindle_type_desc *d) {
  pthread_mutex_lock(&reg_mu);
  int t = find_utype(d->name);
  if (t < 0 && next_type < SL_T_MAX) {
    t = next_type++;
    sl_utype *u = sl_xcalloc(1, sizeof *u);
    u->d = *d;
    u->name = sl_xstrdup(d->name);
    u->d.name = u->name;
    sl_utypes[t] = u;
  }
  pthread_mutex_unlock(&reg_mu);
  return t;
}

static int api_def_type_ext(spindle_reg *r, int type, const spindle_type_ext *x) {
  (void)r;
  if (!x || type < SL_T_FIRST_USER || type >= SL_T_MAX) return -1;
  pthread_mutex_lock(&reg_mu);
  int ok = sl_utypes[type] != NULL;
  if (ok) {
    memset(&sl_utypes[type]->x, 0, sizeof sl_utypes[type]->x);
    memcpy(&sl_utypes[type]->x, x, x->size < sizeof *x ? x->size : sizeof *x);
  }
  pthread_mutex_unlock(&reg_mu);
  return ok ? 0 : -1;
}

/* a type made by the language itself (newstruct): the same codes and
 * name space as plugin types, under the same lock */
int sl_utype_register(sl_utype *u, int *dup) {
  pthread_mutex_lock(&reg_mu);
  int t = find_utype(u->name);
  if (dup) *dup = t;
  if (t >= 0 || next_type >= SL_T_MAX) t = -1;
  else {
    t = next_type++;
    __atomic_store_n(&sl_utypes[t], u, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&reg_mu);
  return t;
}

/* hooks for the first SIGINT/SIGTERM of a script run (api->on_signal) */
static void (*sig_hooks[8])(int);
static int nsig_hooks;

static int api_on_signal(spindle_reg *r, void (*fn)(int signo)) {
  (void)r;
  pthread_mutex_lock(&reg_mu);
  int ok = nsig_hooks < (int)(sizeof sig_hooks / sizeof *sig_hooks);
  if (ok) sig_hooks[nsig_hooks++] = fn;
  pthread_mutex_unlock(&reg_mu);
  return ok ? 0 : -1;
}

void sl_run_signal_hooks(int signo) {
  pthread_mutex_lock(&reg_mu);
  int n = nsig_hooks;
  void (*fns[8])(int);
  memcpy(fns, sig_hooks, sizeof fns);
  pthread_mutex_unlock(&reg_mu);
  for (int i = 0; i < n; i++) fns[i](signo);
}

static int api_def_system(spindle_reg *r, const char *what, spindle_rawfn fn) {
  (void)r;
  pthread_mutex_lock(&reg_mu);
  int i = 0;
  while (i < nsys_handlers && strcmp(sys_handlers[i].what, what)) i++;
  int ok = i < (int)(sizeof sys_handlers / sizeof *sys_handlers);
  if (ok && i == nsys_handlers) sys_handlers[nsys_handlers++].what = sl_xstrdup(what);
  if (ok) sys_handlers[i].fn = (sl_cfn)fn;
  pthread_mutex_unlock(&reg_mu);
  return ok ? 0 : -1;
}

static int api_on_context(spindle_reg *r, void (*created)(sl_ctx *), void (*destroyed)(sl_ctx *)) {
  pthread_mutex_lock(&reg_mu);
  int ok = nhooks < 16;
  if (ok) hooks[nhooks++] = (hook){created, destroyed};
  pthread_mutex_unlock(&reg_mu);
  if (ok && created && r->ctx) created(r->ctx);
  return ok ? 0 : -1;
}

static int api_fail(spindle_reg *r, const char *msg) {
  reg_internal *ri = r->internal_;
  if (!ri->fail) ri->fail = strdup(msg);
  return -1;
}

/* ---- contexts and calls ------------------------------------------------ */
static sl_ctx *api_new_context(sl_ctx *parent) {
  sl_ctx *C = sl_ctx_new(parent->W);
  if (!C) return NULL;
  C->cur_file = parent->cur_file;
  for (int i = 0; i < nhooks; i++) if (hooks[i].created) hooks[i].created(C);
  return C;
}

static void api_free_context(sl_ctx *C) {
  for (int i = nhooks - 1; i >= 0; i--) if (hooks[i].destroyed) hooks[i].destroyed(C);
  sl_ctx_free(C);
}

static void **api_userdata(sl_ctx *C, int i) { return i >= 0 && i < 4 ? &C->user[i] : NULL; }

static void api_set_poll(sl_ctx *C, const volatile int *flag, spindle_pollfn fn, void *ud) {
  static const int zero;
  C->poll_flag = flag ? flag : &zero;
  C->poll_fn = fn;
  C->poll_ud = ud;
}

static int fix_rc(sl_ctx *C, int rc) {
  if (rc == SL_QUIT) { if (!C->err) sl_error(C, "quit called"); return -1; }
  return rc < 0 ? -1 : 0;
}

static int api_call(sl_ctx *C, sl_value fn, int argc, const sl_value *argv, sl_value *ret) {
  sl_clear_error(C);
  return fix_rc(C, sl_call_value(C, fn, argc, argv, ret));
}

static int api_lookup(sl_ctx *C, const char *name, sl_value *ret) {
  /* P::x is P's x; Top::x, Current::x (and P::x when P has no x: a
   * library's proc is also global) the global x */
  const char *c = strstr(name, "::");
  sl_slot *s = c ? sl_global_find(C->W, name) : NULL;
  if (s && sl_slot_peek(s, NULL) != SL_T_UNDEF) {
    *ret = sl_slot_get(s);
    if (ret->type != SL_T_UNDEF) return 0;
  }
  if (c) name = c + 2;
  s = sl_global_find(C->W, name);
  *ret = s ? sl_slot_get(s) : (sl_value){.type = SL_T_UNDEF};
  if (ret->type == SL_T_UNDEF) { *ret = SL_NONE; return sl_error(C, "`%s` is undefined", name); }
  return 0;
}

static int api_call_name(sl_ctx *C, const char *name, int argc, const sl_value *argv, sl_value *ret) {
  sl_value fn;
  *ret = SL_NONE;
  sl_clear_error(C);
  if (api_lookup(C, name, &fn) < 0) return -1;
  int rc = api_call(C, fn, argc, argv, ret);
  sl_release(fn);
  return rc;
}

static int api_execute(sl_ctx *C, const char *code) {
  sl_clear_error(C);
  return fix_rc(C, sl_run_string(C, code, "(execute)"));
}

static int api_execute_file(sl_ctx *C, const char *path) {
  sl_clear_error(C);
  return fix_rc(C, sl_run_file(C, path));
}

static int api_eval(sl_ctx *C, sl_value q, sl_value *ret) {
  sl_clear_error(C);
  if (q.type != SL_T_QUOTE) { *ret = q; sl_retain(q); return 0; }
  return fix_rc(C, sl_run(C, ((sl_quote *)q.u.p)->code, ret));
}

static const char *api_errmsg(sl_ctx *C) { return C->err ? C->err : ""; }

static int api_error(sl_ctx *C, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  return sl_error(C, "%s", tmp);
}

static void api_retain(sl_value v) { sl_retain(v); }
static void api_release(sl_value v) { sl_release(v); }
static sl_value api_make_int(int64_t i) { return SL_INT(i); }
static sl_value api_make_bigint(const char *s) {
  sl_value v = sl_bigint_new();
  if (mpz_set_str(sl_bv(v)->z, s, 10) < 0) mpz_set_ui(sl_bv(v)->z, 0);
  return v;
}
static sl_value api_make_string(const char *s, size_t n) { return sl_str_new(s, n); }
static sl_value api_make_list(size_t n) {
  sl_value l = sl_list_new(n);
  for (size_t i = 0; i < n; i++) sl_list_push(&l, SL_NONE);
  return l;
}
static sl_value api_make_intvec(size_t n, const int64_t *v) {
  sl_value r = sl_intvec_new(n);
  if (n && v) memcpy(sl_iv(r)->v, v, n * sizeof(int64_t));
  return r;
}
static sl_value make_user(int type, void *ptr) {
  sl_user *u = sl_alloc_obj(sizeof *u, type);
  u->ptr = ptr;
  return SL_OBJ(type, u);
}
static sl_value api_make_user(int type, void *ptr) {
  if (type < SL_T_FIRST_USER || type >= SL_T_MAX || !sl_utypes[type]) return SL_NONE;
  return make_user(type, ptr);
}
static sl_value api_none(void) { return SL_NONE; }
static const char *api_string_ptr(sl_value v, size_t *len) {
  if (v.type != SL_T_STRING) { if (len) *len = 0; return NULL; }
  if (len) *len = sl_sv(v)->len;
  return sl_sv(v)->s;
}
static size_t api_size(sl_value v) {
  switch (v.type) {
  case SL_T_STRING: return sl_sv(v)->len;
  case SL_T_LIST: case SL_T_MULTI: return sl_lv(v)->n;
  case SL_T_INTVEC: return sl_iv(v)->n;
  case SL_T_INTMAT: return sl_imv(v)->r * sl_imv(v)->c;
  default: return 0;
  }
}
static sl_value api_list_get(sl_value l, size_t i) {
  if ((l.type != SL_T_LIST && l.type != SL_T_MULTI) || i >= sl_lv(l)->n) return SL_NONE;
  return sl_lv(l)->v[i];
}
static void api_list_set(sl_value l, size_t i, sl_value x) {
  if (l.type != SL_T_LIST || i >= sl_lv(l)->n) { sl_release(x); return; }
  sl_release(sl_lv(l)->v[i]);
  sl_lv(l)->v[i] = x;
}
static int64_t api_intvec_get(sl_value v, size_t i) {
  return v.type == SL_T_INTVEC && i < sl_iv(v)->n ? sl_iv(v)->v[i] : 0;
}
static void *api_user_ptr(sl_value v, int type) {
  /* a newstruct value is no sl_user: it has no pointer to give */
  return (int)v.type == type && type >= SL_T_FIRST_USER && !sl_is_struct(type) ? ((sl_user *)v.u.p)->ptr : NULL;
}
static const char *api_type_name(sl_value v) { return sl_type_name((int)v.type); }
static char *api_to_string(sl_value v) {
  sl_buf b = {0};
  sl_print_value(&b, v, 0);
  return b.s ? b.s : strdup("");
}
static char *api_bigint_str(sl_value v) {
  if (v.type == SL_T_INT) { char *s = sl_xmalloc(24); snprintf(s, 24, "%lld", (long long)v.u.i); return s; }
  if (v.type != SL_T_BIGINT) return NULL;
  return mpz_get_str(NULL, 10, sl_bv(v)->z);
}
static int api_is_quote_of(sl_value v, char **src) {
  if (v.type != SL_T_QUOTE) return 0;
  if (src) *src = sl_xstrdup(((sl_quote *)v.u.p)->src->s);
  return 1;
}

static int api_encode(sl_ctx *C, sl_value v, char **bytes, size_t *len) {
  sl_buf b = {0};
  if (sl_encode(C, v, &b) < 0) { sl_buf_free(&b); return -1; }
  *bytes = b.s;
  *len = b.len;
  return 0;
}

/* ---- mirroring (the cluster plugin) ------------------------------------ */
static char *api_proc_source(sl_value fn, const char **file, int *line) {
  if (fn.type != SL_T_PROC) return NULL;
  sl_code *c = ((sl_proc *)fn.u.p)->code;
  if (!c->src) return NULL;
  if (file) *file = c->file;
  if (line) *line = c->src_line ? c->src_line : c->line;   /* the body's `{` is on it */
  return sl_proc_text(c, c->name);   /* a package's proc: "proc P::f(...)" */
}

static int api_make_proc(sl_ctx *C, const char *text, const char *file, int line, sl_value *out) {
  sl_clear_error(C);
  *out = SL_NONE;
  sl_code *code = sl_compile(C, text, strlen(text), file ? file : "(proc)", line);
  if (!code) return -1;
  for (int i = 0; i < code->nk; i++)
    if (code->k[i].type == SL_T_PROC) { *out = code->k[i]; sl_retain(*out); break; }
  sl_code_release(code);
  if (out->type != SL_T_PROC) return sl_error(C, "make_proc: not a proc definition");
  return 0;
}

typedef struct { void (*fn)(void *, const char *, sl_value, int); void *ud; } changed_cb;
static void changed_one(sl_slot *s, void *ud) {
  changed_cb *cb = ud;
  int decl;
  uint32_t t = sl_slot_peek(s, &decl);
  if (t == SL_T_BUILTIN) return;   /* the other process has its own */
  if (t == SL_T_UNDEF) { cb->fn(cb->ud, s->name, SL_NONE, -1); return; }
  sl_value v = sl_slot_get(s);
  if (v.type == SL_T_UNDEF) { cb->fn(cb->ud, s->name, SL_NONE, -1); return; }
  cb->fn(cb->ud, s->name, v, decl);
  sl_release(v);
}
static void api_globals_changed(sl_ctx *C, void (*fn)(void *, const char *, sl_value, int), void *ud) {
  changed_cb cb = {fn, ud};
  sl_globals_changed(C->W, changed_one, &cb);
}

static int api_set_global(sl_ctx *C, const char *name, sl_value v, int decl) {
  sl_slot *s = sl_global_slot(C->W, name);
  if (decl == -2) { sl_slot_set(s, (sl_value){.type = SL_T_UNDEF}, SL_T_DEF); return 0; }
  if (decl < 0 || decl >= SL_T_FIRST_USER) decl = SL_T_DEF;
  sl_retain(v);
  sl_slot_set(s, v, decl);
  return 0;
}

static const char *api_loaded(int i) {
  pthread_mutex_lock(&reg_mu);
  const char *r = i >= 0 && i < nloaded ? loaded[i] : NULL;
  pthread_mutex_unlock(&reg_mu);
  return r;
}

static struct { char *name; void *iface; } services[16];
static int nservices;
static int api_provide(spindle_reg *r, const char *name, void *iface) {
  (void)r;
  pthread_mutex_lock(&reg_mu);
  int ok = nservices < 16;
  if (ok) services[nservices++] = (typeof(services[0])){strdup(name), iface};
  pthread_mutex_unlock(&reg_mu);
  return ok ? 0 : -1;
}
static void *api_service(const char *name) {
  void *r = NULL;
  pthread_mutex_lock(&reg_mu);
  for (int i = 0; i < nservices && !r; i++) if (!strcmp(services[i].name, name)) r = services[i].iface;
  pthread_mutex_unlock(&reg_mu);
  return r;
}

/* the REPL's or the kernel's interrupt flag; NULL in a script run */
const volatile int *sl_session_interrupt;
static const volatile int *api_interrupt_flag(void) { return sl_session_interrupt; }

const struct spindle_api sl_api = {
  SPINDLE_PLUGIN_ABI, sizeof(struct spindle_api),
  api_def, api_def_raw, api_def_type, api_on_context, api_fail,
  api_new_context, api_free_context, api_userdata, api_set_poll,
  api_call, api_call_name, api_execute, api_execute_file, api_eval, api_lookup,
  api_errmsg, sl_clear_error, api_error,
  api_retain, api_release, api_make_int, api_make_bigint, api_make_string,
  api_make_list, api_make_intvec, api_make_user, api_none,
  api_string_ptr, api_size, api_list_get, api_list_set, api_intvec_get,
  api_user_ptr, api_type_name, api_to_string, api_bigint_str, api_is_quote_of,
  sl_proc_name, api_def_type_ext, api_def_system, api_encode, sl_decode, api_on_signal,
  api_proc_source, api_make_proc, api_globals_changed, api_set_global, api_loaded,
  api_provide, api_service, api_interrupt_flag,
};

/* ---- search paths ------------------------------------------------------ */
/* tries dir/name for each dir of a colon-separated list */
static int try_dirs(const char *dirs, const char *name, char **out, sl_buf *seen) {
  if (!dirs || !*dirs) return 0;
  char *copy = sl_xstrdup(dirs), *save = NULL;
  for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", d, name);
    if (seen->len) sl_buf_puts(seen, ":");
    sl_buf_puts(seen, d);
    if (access(path, R_OK) == 0) { *out = sl_xstrdup(path); free(copy); return 1; }
  }
  free(copy);
  return 0;
}

static int find_in(const char *name, const char *env, const char *sub, const char *installed,
                   int cwd, char **out, sl_buf *seen) {
  if (strchr(name, '/')) {
    if (access(name, R_OK) == 0) { *out = sl_xstrdup(name); return 1; }
    sl_buf_puts(seen, "(a path)");
    return 0;
  }
  if (cwd && try_dirs(".", name, out, seen)) return 1;
  if (try_dirs(getenv(env), name, out, seen)) return 1;
  if (sl_builddir) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", !strcmp(sub, "plugin/.libs") ? sl_builddir : (sl_srcdir ? sl_srcdir : sl_builddir), sub);
    if (try_dirs(dir, name, out, seen)) return 1;
  }
  return try_dirs(installed, name, out, seen);
}

/* Singular's own library directory, searched last: SPINDLE_SINGULAR_LIB
 * when set (empty: none), else the one configure was given */
static const char *singular_libdir(void) {
  const char *env = getenv("SPINDLE_SINGULAR_LIB");
  return env ? env : SL_SINGULAR_LIBDIR;
}

/* the directories LIB searches after the current one, colon-separated
 * (system("SingularLib")) */
void sl_lib_dirs(sl_buf *b) {
  const char *env = getenv("SPINDLE_PATH");
  if (env && *env) sl_buf_puts(b, env);
  if (sl_builddir) sl_buf_printf(b, "%s%s/scripts/lib", b->len ? ":" : "", sl_srcdir ? sl_srcdir : sl_builddir);
  sl_buf_printf(b, "%s%s", b->len ? ":" : "", SL_PKGDATADIR "/lib");
  if (*singular_libdir()) sl_buf_printf(b, ":%s", singular_libdir());
}

int sl_find_lib(sl_ctx *C, const char *fn, const char *name, char **path) {
  sl_buf seen = {0};
  int ok = find_in(name, "SPINDLE_PATH", "scripts/lib", SL_PKGDATADIR "/lib", 1, path, &seen) ||
           (!strchr(name, '/') && try_dirs(singular_libdir(), name, path, &seen));
  if (!ok)   /* system("SingularLib") lists the directories */
    sl_error(C, "%s: library \"%s\" not found (looked in the current directory, SPINDLE_PATH, spindle's "
             "library directory and Singular's)", fn, name);
  sl_buf_free(&seen);
  return ok ? 0 : SL_ERR;
}

static char *plugin_file(const char *name) {
  const char *base = sl_path_base(name);
  if (!strncmp(base, "systhreads", 10)) return strdup("threads.so");
  size_t n = strlen(name);
  if (strstr(base, ".so")) return strdup(name);
  char *s = sl_xmalloc(n + 4);
  snprintf(s, n + 4, "%s.so", name);
  return s;
}

static int init_plugin(sl_ctx *C, void *dl, const char *file) {
  int (*init)(spindle_reg *) = (int (*)(spindle_reg *))dlsym(dl, "spindle_plugin_init");
  if (!init) return sl_error(C, "load: \"%s\" is not a spindle plugin (no spindle_plugin_init)", file);
  const int *abi = dlsym(dl, "spindle_plugin_abi");
  if (abi && *abi != SPINDLE_PLUGIN_ABI)
    return sl_error(C, "load: plugin \"%s\" was built for ABI %d, this spindle has ABI %d", file, *abi, SPINDLE_PLUGIN_ABI);
  reg_internal ri = {C->W, NULL};
  spindle_reg reg = {SPINDLE_PLUGIN_ABI, &sl_api, file, C, &ri};
  int rc = init(&reg);
  if (rc != 0 || ri.fail) {
    sl_error(C, "load: plugin \"%s\" refused to load: %s", file, ri.fail ? ri.fail : "its init failed");
    free(ri.fail);
    return SL_ERR;
  }
  return 0;
}

int sl_load_plugin(sl_ctx *C, const char *name) {
  char *file = plugin_file(name);
  if (is_loaded(file)) { free(file); return 0; }
  char *path = NULL;
  sl_buf seen = {0};
  if (!find_in(file, "SPINDLE_PLUGIN_PATH", "plugin/.libs", SL_PKGLIBDIR, 0, &path, &seen)) {
    sl_error(C, "load: plugin \"%s\" not found (looked in SPINDLE_PLUGIN_PATH and the plugin directory)%s", file,
             !strcmp(file, "threads.so") ? "; the threads plugin is not built in this tree" : "");
    sl_buf_free(&seen);
    free(file);
    return SL_ERR;
  }
  sl_buf_free(&seen);
  sl_set_threaded();   /* a plugin may start threads: counts go atomic now */
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  int rc;
  if (!dl) rc = sl_error(C, "load: cannot load plugin \"%s\": %s", path, dlerror());
  else if ((rc = init_plugin(C, dl, file)) < 0) dlclose(dl);
  else mark_loaded(file);
  free(path);
  free(file);
  return rc;
}

char *sl_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  sl_buf b = {0};
  char tmp[4096];   /* small: this may run on a job's fiber stack */
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) sl_buf_add(&b, tmp, n);
  fclose(f);
  *len = b.len;
  return b.s ? b.s : strdup("");
}

/* The example block of proc name in Singular's own copy of the library
 * file (malloc'ed), or NULL (none, or file is that copy): `example f;` of
 * a proc of spindle's general.lib or inout.lib, which reimplement
 * Singular's, shows Singular's example */
char *sl_singular_example(const char *file, const char *name) {
  if (!*singular_libdir()) return NULL;
  sl_buf path = {0};
  sl_buf_printf(&path, "%s/%s", singular_libdir(), sl_path_base(file));
  size_t n;
  char *src = strcmp(path.s, file) ? sl_read_file(path.s, &n) : NULL;
  sl_buf_free(&path);
  if (!src) return NULL;
  sl_parsed pr;
  char *ex = NULL;
  if (sl_parse_lib(src, n, 1, &pr) == 0) {
    for (int i = 0; i < pr.root->kids.n && !ex; i++) {
      sl_node *d = pr.root->kids.v[i];
      if (d->kind == N_PROCDEF && d->c && !strcmp(d->a->str, name)) ex = sl_xstrdup(d->c->str);
    }
    sl_node_free(pr.root);
  } else {
    free(pr.err);
  }
  free(src);
  return ex;
}

/* LIB "foo.lib" makes the package Foo (as Singular does; its procs are
 * both f and Foo::f): its name, malloc'ed; *base: the file's name */
static char *lib_package_name(const char *lib, const char **basep) {
  const char *base = sl_path_base(lib);
  *basep = base;
  size_t n = strlen(base);
  if (n > 4 && !strcmp(base + n - 4, ".lib")) n -= 4;
  char *name = sl_xstrndup(base, n);
  name[0] = (char)toupper((unsigned char)name[0]);
  return name;
}

/* LIB "x.lib": a library in the language (run once), or a plugin */
int sl_lib(sl_ctx *C, const char *fn, sl_value name) {
  if (name.type != SL_T_STRING) return sl_error(C, "%s: expected a string, not %s", fn, sl_type_name((int)name.type));
  const char *n = sl_sv(name)->s;
  size_t len = strlen(n);
  if (len > 3 && !strcmp(n + len - 3, ".so")) return sl_load_plugin(C, n);
  /* Singular loads standard.lib at its start, and spindle's builtins are
   * its procs (printf, sprintf, min, max, datetime, ...): LIB of it, which
   * Singular's libraries write too (groups.lib), has nothing to load.
   * Singular's own copy, found in its directory, would replace them with
   * procs that need Singular's insides. */
  if (!strcmp(sl_path_base(n), "standard.lib")) return 0;
  char *path;
  if (sl_find_lib(C, fn, n, &path) < 0) return SL_ERR;
  /* loaded once; again when its package was killed since (killall("proc")
   * kills them) */
  const char *base;
  char *pkg = lib_package_name(n, &base);
  sl_slot *ps = sl_global_slot(C->W, pkg);
  int again = is_loaded(path);
  if (again && sl_slot_peek(ps, NULL) == SL_T_PACKAGE) { free(pkg); free(path); return 0; }
  size_t sz;
  char *src = sl_read_file(path, &sz);
  if (!src) { free(pkg); free(path); return sl_error(C, "%s: cannot read \"%s\"", fn, n); }
  if (!again) mark_loaded(path);
  if (sl_option(SL_OPT_LOADLIB)) {   /* option(loadLib), as Singular says it */
    printf("// ** loaded %s\n", path);
    fflush(stdout);
  }
  if (sl_slot_peek(ps, NULL) == SL_T_UNDEF)
    sl_slot_set(ps, sl_package_lib(pkg, base), SL_T_DEF);
  sl_code *code = sl_compile_lib(C, src, sz, path, pkg);
  free(pkg);
  free(src);
  free(path);
  if (!code) return SL_ERR;
  C->push_code = code;
  return 0;
}

int sl_run_text(sl_ctx *C, const char *src, size_t len, const char *file, int line0) {
  sl_code *code = sl_compile(C, src, len, file, line0);
  if (!code) return SL_ERR;
  sl_value r;
  int rc = sl_run(C, code, &r);
  sl_release(r);
  sl_code_release(code);
  return rc;
}

int sl_run_string(sl_ctx *C, const char *src, const char *file) {
  return sl_run_text(C, src, strlen(src), file, 1);
}

int sl_run_file(sl_ctx *C, const char *path) {
  size_t n;
  char *src = sl_read_file(path, &n);
  if (!src) return sl_error(C, "cannot open \"%s\": %s", path, strerror(errno));
  int rc = sl_run_text(C, src, n, path, 1);
  free(src);
  return rc;
}
