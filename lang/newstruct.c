/* newstruct.c: user-defined types (Singular's newstruct). A type gets a
 * code from the plugin types' range (sl_utype_register), so typeof,
 * declarations (`point p;`) and the check of what a variable declared
 * with it receives work as for plugin types. A value is an sl_struct:
 * one value per member, in the order of the definition; like a list it
 * is changed in place only while its count is 1, so `q = p; q.x = 1;`
 * leaves p alone (Singular copies on assignment; sharing until a change
 * gives the same results without the copy). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "sl.h"

int sl_is_struct(int t) {
  if (t < SL_T_FIRST_USER || t >= SL_T_MAX) return 0;
  sl_utype *u = __atomic_load_n(&sl_utypes[t], __ATOMIC_ACQUIRE);
  return u && u->ns;
}

const sl_nsdesc *sl_struct_desc(int t) { return sl_is_struct(t) ? sl_utypes[t]->ns : NULL; }

sl_value sl_struct_new(int type, size_t n) {
  sl_struct *s = sl_alloc_obj(sizeof *s + n * sizeof(sl_value), type);
  s->n = n;
  for (size_t i = 0; i < n; i++) s->v[i] = SL_NONE;
  return SL_OBJ(type, s);
}

sl_value sl_struct_copy(sl_value v) {
  sl_struct *s = sl_stv(v);
  sl_value r = sl_struct_new((int)v.type, s->n);
  for (size_t i = 0; i < s->n; i++) { sl_retain(s->v[i]); sl_stv(r)->v[i] = s->v[i]; }
  return r;
}

/* ---- member types ------------------------------------------------------ */
static const struct { const char *name; int type; } builtin_types[] = {
  {"int", SL_T_INT}, {"bigint", SL_T_BIGINT}, {"string", SL_T_STRING}, {"list", SL_T_LIST},
  {"intvec", SL_T_INTVEC}, {"intmat", SL_T_INTMAT}, {"def", SL_T_DEF},
};

/* names a newstruct may not take: the language's own words */
static const char *const reserved[] = {
  "proc", "if", "else", "while", "for", "break", "continue", "return", "div", "mod", "and",
  "or", "not", "quit", "exit", "kill", "LIB", "static", "none", "list", "link", "package",
};

static int member_type(const char *name) {
  for (size_t i = 0; i < sizeof builtin_types / sizeof builtin_types[0]; i++)
    if (!strcmp(builtin_types[i].name, name)) return builtin_types[i].type;
  int t = sl_utype_find(name);
  return t >= 0 && sl_is_struct(t) ? t : -1;
}

static const char *member_type_name(int t) { return t == SL_T_DEF ? "def" : sl_type_name(t); }

static int is_ident(const char *s, size_t n) {
  if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
  for (size_t i = 1; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '_') return 0;
  return 1;
}

static void desc_free(sl_nsdesc *d) {
  if (!d) return;
  for (int i = 0; i < d->n; i++) free(d->names[i]);
  free(d->names);
  free(d->types);
  free(d->spec);
  free(d);
}

/* "int x, point p": members as type/name pairs; the normalized spec
 * ("int x, point p") lets a second definition be compared with the first */
static sl_nsdesc *parse_spec(sl_ctx *C, const char *tname, const char *spec) {
  sl_nsdesc *d = calloc(1, sizeof *d);
  sl_buf norm = {0};
  if (!d) sl_oom();
  const char *p = spec;
  for (int k = 1;; k++) {
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    const char *a = p, *e = end;
    while (a < e && isspace((unsigned char)*a)) a++;
    while (e > a && isspace((unsigned char)e[-1])) e--;
    const char *sp = a;
    while (sp < e && !isspace((unsigned char)*sp)) sp++;
    const char *nm = sp;
    while (nm < e && isspace((unsigned char)*nm)) nm++;
    if (a == e && !*end && k == 1) { sl_error(C, "newstruct: `%s` needs at least one member (\"type name, ...\")", tname); goto bad; }
    if (nm == e || !is_ident(nm, (size_t)(e - nm))) {
      sl_error(C, "newstruct: member %d of `%s` (\"%.*s\") is not \"type name\"", k, tname, (int)(e - a), a);
      goto bad;
    }
    char *ty = sl_xstrndup(a, (size_t)(sp - a)), *name = sl_xstrndup(nm, (size_t)(e - nm));
    int t = member_type(ty);
    /* a member of Singular's algebra (ideal, ring, ...; libraries' mod_init
     * make such types): accepted, it holds nothing here */
    if (t < 0 && sl_singular_algebra_type(ty)) t = SL_T_UNDEF;
    int dup = 0;
    for (int i = 0; i < d->n; i++) dup |= !strcmp(d->names[i], name);
    if (t < 0) sl_error(C, "newstruct: unknown type `%s` of member `%s` in `%s`", ty, name, tname);
    else if (dup) sl_error(C, "newstruct: member `%s` of `%s` declared twice", name, tname);
    if (t < 0 || dup) { free(ty); free(name); goto bad; }
    d->names = realloc(d->names, (size_t)(d->n + 1) * sizeof *d->names);
    d->types = realloc(d->types, (size_t)(d->n + 1) * sizeof *d->types);
    if (!d->names || !d->types) sl_oom();
    d->names[d->n] = name;
    d->types[d->n++] = t;
    sl_buf_printf(&norm, "%s%s %s", k > 1 ? ", " : "", ty, name);
    free(ty);
    if (!*end) break;
    p = end + 1;
  }
  d->spec = norm.s;
  return d;
bad:
  sl_buf_free(&norm);
  desc_free(d);
  return NULL;
}

int sl_struct_define(sl_ctx *C, const char *name, const char *spec, int *type, int *existed) {
  *existed = 0;
  if (!is_ident(name, strlen(name)))
    return sl_error(C, "newstruct: `%s` is not a name for a type", name);
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    if (!strcmp(reserved[i], name)) return sl_error(C, "newstruct: `%s` is a word of the language", name);
  for (size_t i = 0; i < sizeof builtin_types / sizeof builtin_types[0]; i++)
    if (!strcmp(builtin_types[i].name, name)) return sl_error(C, "newstruct: `%s` is a built-in type", name);
  sl_nsdesc *d = parse_spec(C, name, spec);
  if (!d) return SL_ERR;
  sl_utype *u = sl_xcalloc(1, sizeof *u);
  u->name = sl_xstrdup(name);
  u->d.name = u->name;
  u->ns = d;
  int dup = -1, t = sl_utype_register(u, &dup);
  if (t >= 0) { *type = t; return 0; }
  free(u->name);
  free(u);
  int rc = 0;
  if (dup >= 0 && sl_is_struct(dup) && !strcmp(sl_utypes[dup]->ns->spec, d->spec)) { *type = dup; *existed = 1; }
  else if (dup >= 0 && sl_is_struct(dup))
    rc = sl_error(C, "newstruct: type `%s` is already defined, with other members (\"%s\")", name, sl_utypes[dup]->ns->spec);
  else if (dup >= 0) rc = sl_error(C, "newstruct: `%s` is already a type (of a plugin)", name);
  else rc = sl_error(C, "newstruct: too many types (at most %d, with those of plugins)", SL_T_MAX - SL_T_FIRST_USER);
  desc_free(d);
  return rc;
}

/* a member's value in a fresh struct (Singular's: 0, "", empty list, the
 * intvec 0, the 1 x 1 intmat 0, none for def, a fresh struct) */
int sl_struct_default(sl_ctx *C, int type, sl_value *out) {
  const sl_nsdesc *d = sl_struct_desc(type);
  if (!d) return sl_error(C, "`%s` is not a newstruct type", sl_type_name(type));
  sl_value r = sl_struct_new(type, (size_t)d->n);
  for (int i = 0; i < d->n; i++) {
    sl_value *m = &sl_stv(r)->v[i];
    switch (d->types[i]) {
    case SL_T_INT: *m = SL_INT(0); break;
    case SL_T_BIGINT: *m = sl_bigint_new(); break;
    case SL_T_STRING: *m = sl_str_new("", 0); break;
    case SL_T_LIST: *m = sl_list_new(0); break;
    case SL_T_INTVEC: *m = sl_intvec_new(1); break;
    case SL_T_INTMAT: *m = sl_intmat_new(1, 1); break;
    case SL_T_DEF: case SL_T_UNDEF: break;
    default:
      if (sl_struct_default(C, d->types[i], m) < 0) { sl_release(r); return SL_ERR; }
      break;
    }
  }
  *out = r;
  return 0;
}

/* ---- display ---------------------------------------------- */

/* Singular's layout: "name=value" lines, the last member first; a list
 * member shows as <list>, a newstruct member as <its type> */
void sl_struct_string(sl_buf *b, sl_value v) {
  const sl_nsdesc *d = sl_struct_desc((int)v.type);
  sl_struct *s = sl_stv(v);
  for (int i = d->n - 1; i >= 0; i--) {
    sl_value m = s->v[i];
    sl_buf_printf(b, "%s=", d->names[i]);
    if (m.type == SL_T_LIST) sl_buf_puts(b, "<list>");
    else if (sl_is_struct((int)m.type)) sl_buf_printf(b, "<%s>", sl_type_name((int)m.type));
    else sl_string_value(b, m);
    if (i) sl_buf_add(b, "\n", 1);
  }
}

/* ---- members ----------------------------------------------------------- */

static int find_member(sl_ctx *C, sl_value v, const char *name, int *k) {
  const sl_nsdesc *d = sl_struct_desc((int)v.type);
  if (!d) return sl_error(C, "`.%s`: a value of type %s has no members", name, sl_type_name((int)v.type));
  for (int i = 0; i < d->n; i++)
    if (!strcmp(d->names[i], name)) { *k = i; return 0; }
  sl_buf all = {0};
  for (int i = 0; i < d->n; i++) sl_buf_printf(&all, "%s%s", i ? ", " : "", d->names[i]);
  sl_error(C, "%s has no member `%s` (its members: %s)", sl_type_name((int)v.type), name, all.s);
  sl_buf_free(&all);
  return SL_ERR;
}

int sl_member(sl_ctx *C, sl_value v, const char *name, sl_value *out) {
  int k;
  if (find_member(C, v, name, &k) < 0) return SL_ERR;
  *out = sl_stv(v)->v[k];
  sl_retain(*out);
  return 0;
}

/* x (taken) converted for member k of s: its declared type, or any for
 * def; int goes into bigint, intvec and intmat members, an expression
 * list into list, intvec and intmat ones, nothing else converts */
static int member_value(sl_ctx *C, sl_value s, int k, sl_value *x) {
  const sl_nsdesc *d = sl_struct_desc((int)s.type);
  int t = d->types[k], xt = (int)x->type;
  char what[160];
  snprintf(what, sizeof what, "%s.%s", sl_type_name((int)s.type), d->names[k]);
  if (t == SL_T_DEF) return sl_convert(C, SL_T_DEF, x, what);
  if (t == SL_T_UNDEF)
    return sl_error(C, "cannot assign %s to member `%s` of %s: its type is of Singular's algebra, which is "
                    "not part of spindle", sl_type_name(xt), d->names[k], sl_type_name((int)s.type));
  if (xt == t) return 0;
  if (t == SL_T_INTMAT && (xt == SL_T_INT || xt == SL_T_INTVEC || xt == SL_T_MULTI))
    return sl_intmat_assign(C, sl_stv(s)->v[k], x, what);
  if ((t == SL_T_BIGINT && xt == SL_T_INT) || (t == SL_T_INTVEC && (xt == SL_T_INT || xt == SL_T_MULTI)) ||
      (t == SL_T_LIST && xt == SL_T_MULTI))
    return sl_convert(C, t, x, what);
  return sl_error(C, "cannot assign %s to member `%s` (%s) of %s", sl_type_name(xt), d->names[k],
                  member_type_name(t), sl_type_name((int)s.type));
}

static int setpath(sl_ctx *C, sl_value *t, int e, int ne, const int *kinds, sl_value *keys, sl_value x) {
  int last = e == ne - 1;
  switch (kinds[e]) {
  case SL_PATH_MEMBER: {
    int k;
    if (find_member(C, *t, sl_sv(keys[0])->s, &k) < 0) { sl_release(x); return SL_ERR; }
    if (!sl_unique(*t)) { sl_value c = sl_struct_copy(*t); sl_release(*t); *t = c; }
    sl_value *m = &sl_stv(*t)->v[k];
    if (!last) return setpath(C, m, e + 1, ne, kinds, keys + 1, x);
    if (member_value(C, *t, k, &x) < 0) { sl_release(x); return SL_ERR; }
    sl_release(*m);
    *m = x;
    return 0;
  }
  case SL_PATH_INDEX2:
    if (t->type != SL_T_INTMAT) {
      sl_release(x);
      return sl_error(C, "`[i, j]` assigns an intmat entry, not a part of %s", sl_type_name((int)t->type));
    }
    if (!last) { sl_release(x); return sl_error(C, "an intmat entry is an int: it has no parts to assign"); }
    return sl_intmat_setindex2(C, t, keys[0], keys[1], x);
  default:
    if (last) return sl_setindex(C, t, keys[0], x);
    if (t->type != SL_T_LIST || keys[0].type != SL_T_INT) {
      sl_release(x);
      return sl_error(C, "only a list entry (x[i] with an int i) can be assigned a part of, not an entry of %s",
                      sl_type_name((int)t->type));
    }
    int64_t i = keys[0].u.i;
    if (i < 1 || (size_t)i > sl_lv(*t)->n) {
      sl_release(x);
      return sl_error(C, "index %lld out of range 1..%zu", (long long)i, sl_lv(*t)->n);
    }
    if (!sl_unique(*t)) { sl_value c = sl_list_copy(*t); sl_release(*t); *t = c; }
    return setpath(C, &sl_lv(*t)->v[i - 1], e + 1, ne, kinds, keys + 1, x);
  }
}

/* keys: one per member or x[i] step, two for the x[i, j] step (the last) */
int sl_setpath(sl_ctx *C, sl_value *t, int nel, const int *kinds, sl_value *keys, sl_value x) {
  return setpath(C, t, 0, nel, kinds, keys, x);
}

/* ---- newstruct(name, members) ------------------------------------------ */
static int b_newstruct(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)ret;
  if (argc != 2) return sl_argc_err(C, "newstruct", argc, "2 arguments (type name, \"type member, ...\")");
  for (int i = 0; i < 2; i++)
    if (argv[i].type != SL_T_STRING) return sl_arg_err(C, "newstruct", i + 1, "string", argv[i]);
  int t, existed;
  if (sl_struct_define(C, sl_sv(argv[0])->s, sl_sv(argv[1])->s, &t, &existed) < 0) return SL_ERR;
  if (existed) {   /* Singular warns and keeps the type */
    fflush(stdout);
    fprintf(stderr, "// ** not redefining newstruct type %s (defined before with the same members)\n", sl_sv(argv[0])->s);
  }
  return 0;
}

void sl_struct_builtins(sl_world *W) { sl_def_builtin(W, "newstruct", b_newstruct); }

/* ---- installed operations (Singular's system("install", ...)) -------- */

/* Singular's names of what may be installed: operators and kernel
 * commands; a name the language has as a builtin is accepted too */
static const char *const install_ops[] = {
  "+", "-", "*", "/", "^", "div", "mod", "%", "==", "!=", "<>", "<", "<=", ">", ">=",
  "[", "=", "print", "string", "size", "(", "++", "--", "and", "or", "not", NULL};

static int install_op_ok(sl_ctx *C, const char *op) {
  for (int i = 0; install_ops[i]; i++)
    if (!strcmp(install_ops[i], op)) return 1;
  sl_value v;
  if (sl_lookup_name(C, op, &v) < 0) { sl_clear_error(C); return 0; }
  int ok = v.type == SL_T_BUILTIN;
  sl_release(v);
  return ok || sl_singular_algebra_type(op);
}

int sl_struct_install(sl_ctx *C, int argc, sl_value *argv) {
  const char *fname = "system(\"install\")";
  if (argc != 4) return sl_error(C, "%s: expected a type, an operation, a proc and a number of arguments", fname);
  if (argv[0].type != SL_T_STRING) return sl_arg_err(C, fname, 2, "a string (the type)", argv[0]);
  if (argv[1].type != SL_T_STRING) return sl_arg_err(C, fname, 3, "a string (the operation)", argv[1]);
  if (argv[2].type != SL_T_PROC) return sl_arg_err(C, fname, 4, "a proc", argv[2]);
  if (argv[3].type != SL_T_INT) return sl_arg_err(C, fname, 5, "an int (the number of arguments)", argv[3]);
  const char *tname = sl_sv(argv[0])->s, *op = sl_sv(argv[1])->s;
  int t = sl_utype_find(tname);
  if (t < 0 || !sl_is_struct(t)) return sl_error(C, "%s: `%s` is not a newstruct type", fname, tname);
  if (!install_op_ok(C, op)) return sl_error(C, "%s: `%s` is not an operation or command", fname, op);
  int64_t n = argv[3].u.i;
  if (n < 1 || n > 4) return sl_error(C, "%s: the number of arguments must be 1, 2, 3 or 4 (any), not %lld", fname, (long long)n);
  if (!strcmp(op, "<>")) op = "!=";
  sl_nsdesc *d = (sl_nsdesc *)sl_struct_desc(t);
  sl_nsop *o = sl_xcalloc(1, sizeof *o);
  o->op = sl_xstrdup(op);
  o->nargs = (int)n;
  o->proc = argv[2];
  sl_retain(o->proc);
  sl_nsop *head = atomic_load_explicit(&d->ops, memory_order_relaxed);
  do o->next = head;
  while (!atomic_compare_exchange_weak_explicit(&d->ops, &head, o, memory_order_release, memory_order_relaxed));
  return 0;
}

const sl_value *sl_struct_type_op(int t, const char *op, int argc) {
  if (t < SL_T_FIRST_USER || !sl_is_struct(t)) return NULL;
  sl_nsdesc *d = sl_utypes[t]->ns;
  for (const sl_nsop *o = atomic_load_explicit(&d->ops, memory_order_acquire); o; o = o->next)
    if ((o->nargs == argc || o->nargs == 4) && !strcmp(o->op, op)) return &o->proc;
  return NULL;
}

const sl_value *sl_struct_op(sl_value v, const char *op, int argc) {
  return sl_struct_type_op((int)v.type, op, argc);
}

int sl_struct_apply(sl_ctx *C, const char *op, int argc, const sl_value *argv, sl_value *ret) {
  const sl_value *p = NULL;
  for (int i = 0; i < argc && !p; i++) p = sl_struct_op(argv[i], op, argc);
  if (!p) return 0;
  int rc = sl_call_value(C, *p, argc, argv, ret);
  return rc < 0 ? rc : 1;
}

int sl_struct_call(sl_ctx *C, const char *name, int argc, sl_value *argv, sl_value *ret) {
  int rc = sl_struct_apply(C, name, argc, argv, ret);
  if (rc < 0) return rc;
  if (!strcmp(name, "print") && ret->type != SL_T_NONE) {   /* Singular's newstruct_Print */
    char msg[96];
    snprintf(msg, sizeof msg, "ignoring return value (%s)", sl_type_name((int)ret->type));
    sl_warn(C, msg, SL_WARN_PLAIN);
    sl_release(*ret);
    *ret = SL_NONE;
  }
  return 0;
}
