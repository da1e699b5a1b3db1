/* names.c: packages (package P, P::x, exportto, export, Top, Current),
 * names made at run time (foo(1), `expr`), listvar, and the debug output
 * builtins (dbprint, voice, type, printlevel).
 *
 * A package is a value (SL_T_PACKAGE: an sl_string holding its name, and
 * after a NUL the library file for a package made by LIB) bound to a
 * global name. Its variables are ordinary global slots named "P::x", so
 * they are shared by every context, locked, mirrored to a cluster's other
 * ranks and compiled to slot pointers exactly like Top's, which are the
 * slots without a "P::" prefix. */
#include <stdlib.h>
#include <string.h>
#include "sl.h"

#define T(x) sl_type_name((int)(x).type)

static sl_value package_make(const char *name, const char *lib) {
  sl_buf b = {0};
  sl_buf_puts(&b, name);
  if (lib) { sl_buf_add(&b, "", 1); sl_buf_puts(&b, lib); }   /* "Foo\0foo.lib" */
  sl_value v = sl_str_new(b.s, b.len);
  sl_buf_free(&b);
  sl_sv(v)->h.type = SL_T_PACKAGE;
  v.type = SL_T_PACKAGE;
  return v;
}

sl_value sl_package_new(const char *name) { return package_make(name, NULL); }
sl_value sl_package_lib(const char *name, const char *file) { return package_make(name, file); }

static const char *package_lib(sl_value p) {
  sl_string *s = sl_sv(p);
  size_t n = strlen(s->s);
  return n < s->len ? s->s + n + 1 : NULL;
}

void sl_package_show(sl_buf *b, sl_value p) {
  const char *name = sl_sv(p)->s, *lib = package_lib(p);
  if (lib) sl_buf_printf(b, " %s (S,%s)", name, lib);
  else sl_buf_printf(b, " %s (%s)", name, !strcmp(name, "Top") ? "T" : "N");
}

static int is_top(sl_value p) { return p.type == SL_T_PACKAGE && !strcmp(sl_sv(p)->s, "Top"); }

/* ---- kill P -------------------------------------------------------------- */
typedef struct pkg_names { const char *prefix; size_t plen; sl_slot **v; size_t n; } pkg_names;

static void collect_prefixed(sl_slot *s, void *ud) {
  pkg_names *a = ud;
  if (strncmp(s->name, a->prefix, a->plen) || sl_slot_peek(s, NULL) == SL_T_UNDEF) return;
  a->v = sl_xrealloc(a->v, (a->n + 1) * sizeof *a->v);
  a->v[a->n++] = s;
}

/* kill P: P and every P::x; Top (or Current, which is Top) cannot go */
int sl_kill_package(sl_ctx *C, sl_slot *s) {
  sl_value p = sl_slot_get(s);
  if (p.type != SL_T_PACKAGE) { sl_release(p); return sl_error(C, "kill: `%s` is not a package", s->name); }
  if (is_top(p)) { sl_release(p); return sl_error(C, "kill: cannot kill the package `Top`"); }
  size_t n = strlen(sl_sv(p)->s);
  char *prefix = sl_xmalloc(n + 3);
  memcpy(prefix, sl_sv(p)->s, n);
  memcpy(prefix + n, "::", 3);
  sl_release(p);
  pkg_names a = {prefix, n + 2, NULL, 0};
  sl_global_names(C->W, collect_prefixed, &a);
  for (size_t i = 0; i < a.n; i++) sl_slot_set(a.v[i], (sl_value){.type = SL_T_UNDEF}, SL_T_DEF);
  sl_slot_set(s, (sl_value){.type = SL_T_UNDEF}, SL_T_DEF);
  free(a.v);
  free(prefix);
  return 0;
}

/* package P; (the compiler calls this with "P"): a second time keeps P */
static int b_package(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc != 1 || argv[0].type != SL_T_STRING) return sl_error(C, "package: expected a name");
  const char *name = sl_sv(argv[0])->s;
  sl_slot *s = sl_global_slot(C->W, name);
  int decl;
  if (sl_slot_peek(s, &decl) == SL_T_PACKAGE) return 0;
  if (sl_slot_peek(s, NULL) != SL_T_UNDEF) {
    char msg[300];
    snprintf(msg, sizeof msg, "redefining %s", name);
    sl_warn(C, msg, SL_WARN_AT);
  }
  sl_slot_set(s, sl_package_new(name), SL_T_DEF);
  return 0;
}

/* ---- exportto ------------------------------------------------------------ */
char *sl_proc_text(sl_code *c, const char *name) {
  sl_buf b = {0};
  sl_buf_printf(&b, "proc %s(", name);
  for (int i = 0; i < c->nparams && c->varargs != 2; i++) {   /* "(args)": compiled again so */
    int t = c->ptypes[i];
    const char *tn = c->varargs && i == c->nparams - 1 ? "list" : t == SL_T_PROC ? "proc" : sl_type_name(t);
    sl_buf_printf(&b, "%s%s %s", i ? ", " : "", tn, c->pnames[i]);
  }
  sl_buf_printf(&b, ") %s", c->src ? c->src : "{}");
  return b.s;
}

static const char *short_name(const char *name) {
  const char *sep = strstr(name, "::");
  return sep ? sep + 2 : name;
}

/* a proc moving into package pkg (NULL: Top) is compiled again there, so
 * that its free names are looked up in pkg first, as Singular does */
static int rehome_proc(sl_ctx *C, sl_value *v, const char *pkg, const char *name) {
  sl_code *c = ((sl_proc *)v->u.p)->code;
  if (!c->src) return 0;
  if ((!pkg && !c->pkg) || (pkg && c->pkg && !strcmp(pkg, c->pkg))) return 0;
  sl_buf full = {0};
  if (pkg) sl_buf_printf(&full, "%s::%s", pkg, name);
  else sl_buf_puts(&full, name);
  char *text = sl_proc_text(c, full.s);
  sl_buf_free(&full);
  sl_code *code = sl_compile(C, text, strlen(text), c->file, c->src_line ? c->src_line : c->line);
  free(text);
  if (!code) return SL_ERR;
  for (int i = 0; i < code->nk; i++)
    if (code->k[i].type == SL_T_PROC) {
      sl_release(*v);
      *v = code->k[i];
      sl_retain(*v);
      break;
    }
  sl_code_release(code);
  return 0;
}

/* the global slot t takes v (taken), declared decl; a name that held
 * something already is redefined, with Singular's warning */
static void declare_warn(sl_ctx *C, sl_slot *t, sl_value v, int decl, const char *shortn) {
  if (sl_slot_declare(t, v, decl) != SL_T_UNDEF) {
    char msg[300];
    snprintf(msg, sizeof msg, "redefining %s", shortn);
    sl_warn(C, msg, SL_WARN_TEXT);
  }
}

/* moves the value v (taken) to name in package pkg */
static int export_one(sl_ctx *C, sl_value pkg, const char *name, sl_value v, int decl) {
  const char *p = sl_sv(pkg)->s, *shortn = short_name(name);
  int top = is_top(pkg);
  if (v.type == SL_T_PROC && rehome_proc(C, &v, top ? NULL : p, shortn) < 0) { sl_release(v); return SL_ERR; }
  sl_buf to = {0};
  if (top) sl_buf_puts(&to, shortn);
  else sl_buf_printf(&to, "%s::%s", p, shortn);
  declare_warn(C, sl_global_slot(C->W, to.s), v, decl, shortn);
  sl_buf_free(&to);
  return 0;
}

/* the global named name goes to package pkg (quiet: no warning when it is
 * there already) */
static int export_global(sl_ctx *C, sl_value pkg, const char *fname, const char *name, int quiet) {
  sl_slot *s = sl_global_find(C->W, name);
  int decl = SL_T_DEF;
  if (!s || sl_slot_peek(s, &decl) == SL_T_UNDEF) return sl_error(C, "%s: `%s` is undefined", fname, name);
  if (sl_slot_peek(s, NULL) == SL_T_BUILTIN) return sl_error(C, "%s: `%s` is a builtin, not a variable", fname, name);
  int same = is_top(pkg) ? !strstr(name, "::")
                         : !strncmp(name, sl_sv(pkg)->s, strlen(sl_sv(pkg)->s)) && !strncmp(name + strlen(sl_sv(pkg)->s), "::", 2);
  if (same) {
    if (quiet) return 0;
    char msg[300];
    snprintf(msg, sizeof msg, "`%s` is already %s", short_name(name), is_top(pkg) ? "global" : "in that package");
    fflush(stdout);
    fprintf(stderr, "// ** %s\n", msg);
    return 0;
  }
  if (sl_slot_peek(s, NULL) == SL_T_PACKAGE) return sl_error(C, "%s: a package (`%s`) cannot be exported", fname, name);
  sl_value v = sl_slot_get(s);
  sl_slot_set(s, (sl_value){.type = SL_T_UNDEF}, SL_T_DEF);
  return export_one(C, pkg, name, v, decl);
}

/* importfrom(P, name) (the parser passes the name as a string): Top's
 * `name` becomes a copy of P::name, as Singular's; the same proc for a
 * proc, whose free names are still P's first */
static int b_importfrom(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "importfrom";
  (void)ret;
  if (argc != 2) return sl_argc_err(C, fname, argc, "2 arguments");
  if (argv[0].type != SL_T_PACKAGE) return sl_arg_err(C, fname, 1, "a package", argv[0]);
  if (argv[1].type != SL_T_STRING) return sl_arg_err(C, fname, 2, "a name", argv[1]);
  const char *p = sl_sv(argv[0])->s, *name = sl_sv(argv[1])->s;
  if (is_top(argv[0])) {
    fflush(stdout);
    fputs("// ** source and destination packages are identical\n", stderr);
    return 0;
  }
  sl_buf full = {0};
  sl_buf_printf(&full, "%s::%s", p, name);
  sl_slot *s = sl_global_find(C->W, full.s);
  sl_buf_free(&full);
  int decl = SL_T_DEF;
  if (!s || sl_slot_peek(s, &decl) == SL_T_UNDEF) return sl_error(C, "importfrom: `%s` not found in `%s`", name, p);
  sl_value v = sl_slot_get(s);
  sl_slot *t = sl_global_slot(C->W, name);
  if (sl_slot_peek(t, NULL) == SL_T_BUILTIN) {
    sl_release(v);
    return sl_error(C, "importfrom: `%s` is a builtin, not a variable", name);
  }
  declare_warn(C, t, v, decl, name);
  return 0;
}

/* the running code is what execute (or LIB) runs inside a proc: the
 * names it defines are globals here, where Singular's are that proc's
 * locals, which exportto moves without a word (methods.lib's
 * installMethod: execute("proc f() ..."), then exportto(Top, f)) */
static int in_proc_execute(sl_ctx *C) {
  int n = C->nframes;
  return n >= 2 && (C->frames[n - 1].own & SL_FRAME_OWN) &&
         strcmp(C->frames[n - 2].code->name, "(top)");
}

/* the name foo(i) of an indexed variable (names of up to 500 bytes) */
static void indexed(char nm[512], const char *base, int64_t i) {
  snprintf(nm, 512, "%s(%lld)", base, (long long)i);
}

/* (exportto)(P, then name, kind, value for each name): see cexportto */
static int b_exportto(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "exportto";
  sl_value pkg = argv[0];
  if (pkg.type != SL_T_PACKAGE) return sl_arg_err(C, fname, 1, "a package", pkg);
  for (int i = 1; i < argc; i += 3)   /* as the compiler passes them */
    if (i + 2 >= argc || argv[i].type != SL_T_STRING || argv[i + 1].type != SL_T_INT)
      return sl_error(C, "exportto: expected names to export");
  for (int i = 1; i + 2 < argc; i += 3) {
    const char *name = sl_sv(argv[i])->s;
    int64_t kind = argv[i + 1].u.i;
    sl_value v = argv[i + 2];
    if (kind == 1) {   /* a local */
      sl_retain(v);
      if (export_one(C, pkg, name, v, SL_T_DEF) < 0) return SL_ERR;
    } else if (kind == 0 || kind == 3 || kind == 4) {
      if (kind == 4) {   /* a library's static f: Foo::f, else (moved away) the f a script sees */
        sl_slot *st = sl_global_find(C->W, name);
        if ((!st || sl_slot_peek(st, NULL) == SL_T_UNDEF) && strstr(name, "::")) name = strstr(name, "::") + 2;
      }
      if (export_global(C, pkg, fname, name, kind == 3 || in_proc_execute(C)) < 0) return SL_ERR;
    } else {           /* foo(i): the globals foo(i) for each i of an int or intvec */
      int64_t one;
      const int64_t *ix = &one;
      size_t n = 1;
      if (v.type == SL_T_INT) one = v.u.i;
      else if (v.type == SL_T_INTVEC) { ix = sl_iv(v)->v; n = sl_iv(v)->n; }
      else return sl_error(C, "exportto: the index of `%s(...)` must be int or intvec, not %s", name, T(v));
      for (size_t j = 0; j < n; j++) {
        char nm[512];
        indexed(nm, name, ix[j]);
        if (export_global(C, pkg, fname, nm, 0) < 0) return SL_ERR;
      }
    }
  }
  return 0;
}

/* ---- names at run time --------------------------------------------------- */
/* foo(i) where foo cannot be called (slot s): the variable "foo(i)", or
 * for an intvec index the expression list of foo(i) for each i */
int sl_call_indexed(sl_ctx *C, void *slot, int argc, sl_value *argv, sl_value *ret) {
  sl_slot *s = slot;
  const char *base = s->name;
  int defined = sl_slot_peek(s, NULL) != SL_T_UNDEF;
  if (argc != 1 || (argv[0].type != SL_T_INT && argv[0].type != SL_T_INTVEC)) {
    if (!defined) return sl_error(C, "`%s` is undefined", base);
    sl_value v = sl_slot_get(s);
    sl_error(C, "a value of type %s cannot be called", T(v));
    sl_release(v);
    return SL_ERR;
  }
  int64_t one = argv[0].u.i;
  const int64_t *ix = &one;
  size_t n = 1;
  if (argv[0].type == SL_T_INTVEC) { ix = sl_iv(argv[0])->v; n = sl_iv(argv[0])->n; }
  sl_value multi = SL_NONE;
  if (n != 1) {
    multi = sl_list_new(n);
    multi.type = SL_T_MULTI;
    sl_lv(multi)->h.type = SL_T_MULTI;
  }
  for (size_t i = 0; i < n; i++) {
    char nm[512];
    indexed(nm, base, ix[i]);
    sl_value v;
    if (sl_lookup_name(C, nm, &v) < 0) {
      sl_release(multi);
      return sl_error(C, "`%s` is undefined", nm);
    }
    if (n == 1) { *ret = v; return 0; }
    sl_list_push(&multi, v);
  }
  *ret = multi;
  return 0;
}

/* (indexed name)(base, i[, 1]): the name "base(i)" that `base(i) = v`
 * stores into, or (1) `int base(i)` declares, when i is known only at
 * run time (compile.c, runtime_name) */
static int b_indexed_name(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc < 2 || argc > 3 || argv[0].type != SL_T_STRING) return sl_error(C, "(indexed name): expected a name and an index");
  const char *base = sl_sv(argv[0])->s;
  if (argv[1].type != SL_T_INT)
    return sl_error(C, "cannot %s `%s(...)`: the index must be one int, not %s", argc == 3 ? "declare" : "assign to", base,
                    T(argv[1]));
  char nm[512];
  indexed(nm, base, argv[1].u.i);
  *ret = sl_str(nm);
  return 0;
}

/* ---- listvar ------------------------------------------------------------- */
typedef struct lv_acc { sl_slot **v; size_t n; } lv_acc;

int sl_system_global(const char *name) {
  return !strcmp(name, "ARGV") || !strcmp(name, "printlevel") || !strcmp(name, "newline") ||
         !strcmp(name, "TRACE");
}

static void lv_all(sl_slot *s, void *ud) {
  lv_acc *a = ud;
  uint32_t t = sl_slot_peek(s, NULL);
  if (t == SL_T_UNDEF || t == SL_T_BUILTIN || sl_system_global(s->name) || !strcmp(s->name, "Current"))
    return;
  a->v = sl_xrealloc(a->v, (a->n + 1) * sizeof *a->v);
  a->v[a->n++] = s;
}

static int lv_cmp(const void *x, const void *y) {
  uint64_t a = (*(sl_slot *const *)x)->seq_decl, b = (*(sl_slot *const *)y)->seq_decl;
  return (a < b) - (a > b);
}

/* one line: "// NAME(30) [LEVEL]  TYPE VALUE" */
static void lv_line(const char *name, int level, sl_value v) {
  sl_buf b = {0};
  sl_buf_printf(&b, "// %-30.30s [%d]  %s", name, level, v.type == SL_T_NONE ? "def" : T(v));
  switch (v.type) {
  case SL_T_LIST: sl_buf_printf(&b, ", size: %zu", sl_lv(v)->n); break;
  case SL_T_INTVEC: sl_buf_printf(&b, " (%zu)", sl_iv(v)->n); break;
  case SL_T_INTMAT: sl_buf_printf(&b, " %zu x %zu", sl_imv(v)->r, sl_imv(v)->c); break;
  case SL_T_INT: sl_buf_printf(&b, " %lld", (long long)v.u.i); break;
  case SL_T_STRING: {
    sl_string *s = sl_sv(v);
    const char *nl = memchr(s->s, '\n', s->len);
    size_t cut = nl ? (size_t)(nl - s->s) : s->len;
    if (cut > 20) cut = 20;
    sl_buf_puts(&b, " ");
    sl_buf_add(&b, s->s, cut);
    if (cut < s->len) sl_buf_printf(&b, "..., %zu char(s)", s->len);
    break;
  }
  case SL_T_PROC: {
    const char *lib = sl_code_lib(((sl_proc *)v.u.p)->code);
    if (lib) sl_buf_printf(&b, " from %s", lib);
    break;
  }
  case SL_T_PACKAGE: sl_package_show(&b, v); break;
  default: break;
  }
  puts(b.s);
  sl_buf_free(&b);
}

/* which globals a listvar call shows */
typedef struct lv_filter {
  const char *type;      /* "int", "proc", "package", ...; NULL: all but procs */
  const char *pkg;       /* listvar(P): the names P::x (NULL: Top's names) */
} lv_filter;

/* the name x of a global "P::x" of package pkg, else NULL */
static const char *member_of(const char *name, const char *pkg) {
  const char *sep = strstr(name, "::");
  size_t n = strlen(pkg);
  return sep && (size_t)(sep - name) == n && !strncmp(name, pkg, n) ? sep + 2 : NULL;
}

static int lv_wants(const lv_filter *f, sl_slot *s, sl_value v) {
  const char *sep = strstr(s->name, "::");
  if (f->type && !strcmp(f->type, "package")) return v.type == SL_T_PACKAGE;
  if (f->pkg) return member_of(s->name, f->pkg) != NULL;
  if (sep || v.type == SL_T_PACKAGE) return 0;
  if (f->type) return !strcmp(f->type, v.type == SL_T_NONE ? "def" : T(v));
  return v.type != SL_T_PROC;
}

/* local i of frame fr has a name and is declared (a parameter, or
 * given a value) */
static int local_shown(const sl_frame *fr, int i) {
  const sl_code *c = fr->code;
  return c->lnames[i] && c->lnames[i][0] && c->lnames[i][0] != '(' &&
         (fr->base[i].type != SL_T_NONE || i < c->nparams);
}


/* the locals of the running proc, newest first, at level voice - 1 */
static void lv_locals(sl_ctx *C, const lv_filter *f) {
  if (!C->nframes || f->pkg || (f->type && !strcmp(f->type, "package"))) return;
  sl_frame *fr = &C->frames[C->nframes - 1];
  sl_code *c = fr->code;
  if (!c->src || !c->lnames) return;
  int level = sl_voice(C) - 1;
  for (int i = c->nlocals - 1; i >= 0; i--) {
    sl_list *nl = sl_named_locals(fr, i);
    for (size_t k = nl ? nl->n : 0; k >= 3; k -= 3) {   /* newest first */
      sl_value v = nl->v[k - 1];
      if (f->type ? strcmp(f->type, v.type == SL_T_NONE ? "def" : T(v)) : v.type == SL_T_PROC) continue;
      lv_line(sl_sv(nl->v[k - 3])->s, level, v);
    }
    sl_value v = fr->base[i];
    if (!local_shown(fr, i)) continue;
    if (f->type ? strcmp(f->type, v.type == SL_T_NONE ? "def" : T(v)) : v.type == SL_T_PROC) continue;
    lv_line(c->lnames[i], level, v);
  }
}

/* listvar(), listvar(TYPE), listvar(all), listvar(P): as Singular lists */
static int b_listvar(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "listvar";
  lv_filter f = {0};
  if (argc > 1) return sl_argc_err(C, fname, argc, "at most 1 argument");
  if (argc == 1) {
    if (argv[0].type == SL_T_STRING) f.type = strcmp(sl_sv(argv[0])->s, "all") ? sl_sv(argv[0])->s : NULL;
    else if (argv[0].type == SL_T_PACKAGE) f.pkg = sl_sv(argv[0])->s;
    else return sl_arg_err(C, fname, 1, "a package, a type name or all", argv[0]);
  }
  lv_acc a = {0};
  sl_global_names(C->W, lv_all, &a);
  if (a.n) qsort(a.v, a.n, sizeof *a.v, lv_cmp);   /* qsort(NULL, 0) is UB (UBSan) */
  if (f.pkg) {
    sl_slot *ps = sl_global_find(C->W, f.pkg);
    sl_value p = ps ? sl_slot_get(ps) : SL_NONE;
    if (p.type == SL_T_PACKAGE) lv_line(f.pkg, 0, p);
    else if (!strcmp(f.pkg, "Top")) { sl_release(p); p = sl_package_new("Top"); lv_line("Top", 0, p); }
    sl_release(p);
    if (!strcmp(f.pkg, "Top")) f.pkg = NULL, f.type = "(Top)";
  }
  lv_locals(C, &f);
  for (size_t i = 0; i < a.n; i++) {
    sl_value v = sl_slot_get(a.v[i]);
    int show;
    if (f.type && !strcmp(f.type, "(Top)")) show = !strstr(a.v[i]->name, "::") && v.type != SL_T_PACKAGE;
    else show = lv_wants(&f, a.v[i], v);
    if (show && v.type != SL_T_UNDEF) {
      const char *sep = strstr(a.v[i]->name, "::");
      if (f.pkg || (f.type && !strcmp(f.type, "(Top)"))) {
        sl_buf nm = {0};
        sl_buf_printf(&nm, "::%s", sep ? sep + 2 : a.v[i]->name);
        lv_line(nm.s, 0, v);
        sl_buf_free(&nm);
      } else {
        lv_line(a.v[i]->name, 0, v);
      }
    }
    sl_release(v);
  }
  free(a.v);
  return 0;
}

/* names(): the running proc's locals (at top level, Top's names);
 * names(P): the names of package P, names(Top) Top's (the last is Top
 * itself); each list newest first, as Singular's */
static int b_names(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "names";
  if (argc > 1) return sl_argc_err(C, fname, argc, "at most 1 argument");
  if (argc == 1 && argv[0].type != SL_T_PACKAGE) return sl_arg_err(C, fname, 1, "a package", argv[0]);
  const char *pkg = argc ? sl_sv(argv[0])->s : NULL;
  sl_value l = sl_list_new(0);
  if (!argc && C->nframes && C->frames[C->nframes - 1].code->src) {   /* a proc's locals */
    sl_frame *fr = &C->frames[C->nframes - 1];
    sl_code *c = fr->code;
    for (int i = c->nlocals - 1; c->lnames && i >= 0; i--) {
      sl_list *nl = sl_named_locals(fr, i);
      for (size_t k = nl ? nl->n : 0; k >= 3; k -= 3) {
        sl_value nm = nl->v[k - 3];
        sl_retain(nm);
        sl_list_push(&l, nm);
      }
      if (local_shown(fr, i)) sl_list_push(&l, sl_str_new(c->lnames[i], strlen(c->lnames[i])));
    }
    *ret = l;
    return 0;
  }
  int top = !pkg || !strcmp(pkg, "Top");
  lv_acc a = {0};
  sl_global_names(C->W, lv_all, &a);
  if (a.n) qsort(a.v, a.n, sizeof *a.v, lv_cmp);
  for (size_t i = 0; i < a.n; i++) {
    const char *nm = top ? (strstr(a.v[i]->name, "::") ? NULL : a.v[i]->name) : member_of(a.v[i]->name, pkg);
    if (nm) sl_list_push(&l, sl_str_new(nm, strlen(nm)));
  }
  free(a.v);
  *ret = l;
  return 0;
}

/* ---- debug output -------------------------------------------------------- */
static int b_voice(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)argv;
  if (argc) return sl_argc_err(C, "voice", argc, "no arguments");
  *ret = SL_INT(sl_voice(C));
  return 0;
}

static int64_t printlevel(sl_ctx *C) {
  sl_slot *s = sl_global_find(C->W, "printlevel");
  sl_value v = s ? sl_slot_get(s) : SL_NONE;
  int64_t p = v.type == SL_T_INT ? v.u.i : 0;
  sl_release(v);
  return p;
}

/* dbprint(i, x, ...) prints each x as print does when i > 0;
 * dbprint(x, ...) when printlevel >= voice (Singular's rule) */
static int b_dbprint(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc < 1) return sl_argc_err(C, "dbprint", argc, "at least 1 argument");
  int show = printlevel(C) >= sl_voice(C), from = 0;
  if (argc > 1 && argv[0].type == SL_T_INT) { show = argv[0].u.i > 0; from = 1; }
  if (!show) return 0;
  /* print's builtin itself: a script's own `print` (a global may take a
   * builtin's name) is not what dbprint means */
  int rc = 0;
  for (int i = from; i < argc && rc == 0; i++) rc = sl_print_direct(C, argv[i]);
  return rc;
}

/* type x; (the compiler passes the name, "_" for an expression, and for
 * foo(1) that name too: shown when it names a variable) */
void sl_type_text(sl_buf *b, const char *name, sl_value v) {
  sl_value first = v.type == SL_T_MULTI && sl_lv(v)->n ? sl_lv(v)->v[0] : v;
  sl_buf_printf(b, "// %s %s ", name, first.type == SL_T_NONE ? "none" : T(first));
  if (v.type == SL_T_LIST) sl_buf_printf(b, ", size %zu\n", sl_lv(v)->n);
  else if (v.type == SL_T_PROC) sl_buf_puts(b, "\n");
  else if (v.type == SL_T_INTMAT) sl_buf_printf(b, " %zu x %zu\n", sl_imv(v)->r, sl_imv(v)->c);
  sl_print_value(b, v, 0);
}

static int b_type(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc < 2 || argc > 3 || argv[0].type != SL_T_STRING || (argc == 3 && argv[2].type != SL_T_STRING))
    return sl_error(C, "type: expected a name and a value");
  sl_value v = argv[1];
  const char *name = sl_sv(argv[0])->s;
  sl_value var;
  if (argc == 3 && sl_lookup_name(C, sl_sv(argv[2])->s, &var) == 0) {   /* type foo(1); */
    name = sl_sv(argv[2])->s;
    sl_release(var);
  }
  sl_buf b = {0};
  if (v.type == SL_T_NONE && strcmp(name, "_")) {   /* def d; type d; */
    printf("// %s def `%s`\n", name, name);
    return 0;
  }
  sl_type_text(&b, name, v);
  /* an intmat's display never ends in a newline (an empty one is "") */
  if (v.type == SL_T_INTMAT || !b.len || b.s[b.len - 1] != '\n') sl_buf_add(&b, "\n", 1);
  fwrite(b.s, 1, b.len, stdout);
  sl_buf_free(&b);
  return 0;
}

/* ---- option ------------------------------------------------------------------ */
/* Singular's two option words, with its names and bits (the first steers
 * its Groebner bases, which spindle has not: kept and shown only; of the
 * second, redefine and loadLib act here). Process-wide, as Singular's. */
typedef struct { const char *name; int bit; } opt_name;
static const opt_name test_opts[] = {
  {"prot", 0}, {"redSB", 1}, {"notBuckets", 2}, {"notSugar", 3}, {"interrupt", 4},
  {"sugarCrit", 5}, {"teach", 6}, {"notSyzMinim", 8}, {"returnSB", 9}, {"fastHC", 10},
  {"staircaseBound", 22}, {"multBound", 23}, {"degBound", 24}, {"redTailSyz", 21},
  {"redTail", 25}, {"redThrough", 7}, {"lazy", 20}, {"intStrategy", 26},
  {"infRedTail", 28}, {"notRegularity", 30}, {"weightM", 31}};
static const opt_name verbose_opts[] = {
  {"assign_none", 27}, {"mem", 2}, {"yacc", 3}, {"redefine", SL_OPT_REDEFINE}, {"reading", 5},
  {"loadLib", SL_OPT_LOADLIB}, {"debugLib", 7}, {"loadProc", 8}, {"defRes", 9}, {"usage", 11},
  {"Imap", 12}, {"prompt", 13}, {"length", 22}, {"notWarnSB", 14}, {"contentSB", 15},
  {"cancelunit", 16}, {"modpsolve", 17}, {"geometricSB", 18}, {"findMonomials", 19},
  {"coefStrat", 20}, {"qringNF", 1}, {"warn", 24}, {"intersectSyz", 26},
  {"intersectElim", 25}, {"not_tricks", 28}};
#define NOPTS(t) (sizeof t / sizeof t[0])
/* multBound and degBound (23, 24) take their bound from a ring */
static const uint32_t valid_test = ~((1u << 23) | (1u << 24));
#define OPT_VERBOSE_START ((1u << SL_OPT_REDEFINE) | (1u << 11) | (1u << 13))   /* redefine usage prompt */
static uint32_t opt_test, opt_verbose = OPT_VERBOSE_START;

int sl_option(int bit) {
  return (__atomic_load_n(&opt_verbose, __ATOMIC_RELAXED) >> bit) & 1;
}

static void show_word(sl_buf *b, uint32_t w, const opt_name *t, size_t n, int first, int add) {
  for (size_t i = 0; i < n; i++)
    if (w & (1u << t[i].bit)) { sl_buf_printf(b, " %s", t[i].name); w &= ~(1u << t[i].bit); }
  for (int i = first; i < 32; i++)
    if (w & (1u << i)) sl_buf_printf(b, " %d", i + add);
}

static const opt_name *find_opt(const opt_name *t, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(t[i].name, name)) return &t[i];
  return NULL;
}

/* option(): prints the options set; option(name, ...) sets each, option(noname)
 * clears it; option(none); option(get) is intvec(word 1, word 2) and
 * option(set, v) puts such an intvec back */
static int b_option(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "option";
  uint32_t t = __atomic_load_n(&opt_test, __ATOMIC_RELAXED), v = __atomic_load_n(&opt_verbose, __ATOMIC_RELAXED);
  if (argc == 0) {
    sl_buf b = {0};
    sl_buf_puts(&b, "//options:");
    if (!t && !v) sl_buf_puts(&b, " none");
    show_word(&b, t, test_opts, NOPTS(test_opts), 0, 0);
    show_word(&b, v, verbose_opts, NOPTS(verbose_opts), 1, 32);
    printf("%s\n", b.s);
    sl_buf_free(&b);
    return 0;
  }
  for (int i = 0; i < argc; i++) {
    if (argv[i].type != SL_T_STRING) return sl_arg_err(C, fname, i + 1, "an option name", argv[i]);
    const char *n = sl_sv(argv[i])->s;
    const opt_name *o;
    int no = !strncmp(n, "no", 2);
    if (!strcmp(n, "get")) {
      if (argc != 1) return sl_error(C, "option: get takes no other argument");
      *ret = sl_intvec_new(2);
      sl_iv(*ret)->v[0] = (int32_t)t;
      sl_iv(*ret)->v[1] = (int32_t)v;
      return 0;
    } else if (!strcmp(n, "set")) {
      if (i + 1 >= argc || argv[i + 1].type != SL_T_INTVEC || sl_iv(argv[i + 1])->n != 2)
        return sl_error(C, "option: set needs the intvec of option(get) (2 entries)");
      t = (uint32_t)sl_iv(argv[i + 1])->v[0];
      v = (uint32_t)sl_iv(argv[i + 1])->v[1];
      i++;
    } else if (!strcmp(n, "none")) {
      t = v = 0;
    } else if ((o = find_opt(test_opts, NOPTS(test_opts), n))) {
      if (!((valid_test >> o->bit) & 1))
        return sl_error(C, "option: %s needs a ring (Singular's algebra, not part of spindle)", n);
      t = (t | (1u << o->bit)) & (o->bit == 20 ? ~(1u << 7) : ~0u);   /* lazy: not redThrough */
    } else if (no && (o = find_opt(test_opts, NOPTS(test_opts), n + 2))) {
      if ((valid_test >> o->bit) & 1) t &= ~(1u << o->bit);
    } else if ((o = find_opt(verbose_opts, NOPTS(verbose_opts), n))) {
      v |= 1u << o->bit;
    } else if (no && (o = find_opt(verbose_opts, NOPTS(verbose_opts), n + 2))) {
      v &= ~(1u << o->bit);
    } else {
      return sl_error(C, "option: unknown option `%s`", n);
    }
  }
  __atomic_store_n(&opt_test, t, __ATOMIC_RELAXED);
  __atomic_store_n(&opt_verbose, v, __ATOMIC_RELAXED);
  return 0;
}

/* ---- TRACE ---------------------------------------------------------------- */
/* TRACE's value as the slot holds it (0 when it is not an int) */
static int64_t trace_value(sl_world *W) {
  sl_slot *s = sl_global_find(W, "TRACE");
  sl_value v = s ? sl_slot_get(s) : SL_INT(0);
  int64_t t = v.type == SL_T_INT ? v.u.i : 0;
  sl_release(v);
  return t;
}

void sl_trace_stored(sl_ctx *C) {
  int64_t t = trace_value(C->W);
  sl_trace_set((int)(t & 1));
  if (t & ~(int64_t)1)
    sl_warn(C, "TRACE: only 1 (procedure calls) is traced here; Singular's line numbers (2) and stepping (4) are not", SL_WARN_TEXT);
}

/* (trace)(): after a compiled store to TRACE */
static int b_trace_sync(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)argc; (void)argv;
  sl_trace_stored(C);
  *ret = SL_NONE;
  return SL_OK;
}

void sl_names_init(sl_world *W) {
  sl_def_builtin(W, "listvar", b_listvar);
  sl_def_builtin(W, "names", b_names);
  sl_def_builtin(W, "voice", b_voice);
  sl_def_builtin(W, "dbprint", b_dbprint);
  sl_def_builtin(W, "(type)", b_type);
  sl_def_builtin(W, "(package)", b_package);
  sl_def_builtin(W, "(exportto)", b_exportto);
  sl_def_builtin(W, "(indexed name)", b_indexed_name);
  sl_def_builtin(W, "importfrom", b_importfrom);
  sl_slot_set(sl_global_slot(W, "Top"), sl_package_new("Top"), SL_T_DEF);
  sl_slot_set(sl_global_slot(W, "Current"), sl_package_new("Top"), SL_T_DEF);
  sl_slot_set(sl_global_slot(W, "printlevel"), SL_INT(0), SL_T_INT);
  sl_slot_set(sl_global_slot(W, "TRACE"), SL_INT(0), SL_T_INT);
  sl_def_builtin(W, "(trace)", b_trace_sync);
  sl_def_builtin(W, "option", b_option);
  /* a new world starts with Singular's options (redefine usage prompt) */
  __atomic_store_n(&opt_test, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&opt_verbose, OPT_VERBOSE_START, __ATOMIC_RELAXED);
  sl_trace_set((int)(trace_value(W) & 1));
  sl_slot_set(sl_global_slot(W, "newline"), sl_str_new("\n", 1), SL_T_STRING);
}
