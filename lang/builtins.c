/* builtins.c: the core builtin functions. Each checks its argument count
 * and types and reports "name: argument i must be T, not U" on a mistake. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "sl.h"

#define T(x) sl_type_name((int)(x).type)

void sl_def_builtin(sl_world *W, const char *name, sl_cfn fn) {
  sl_builtin *b = sl_alloc_obj(sizeof *b, SL_T_BUILTIN);
  memset((char *)b + sizeof(sl_obj), 0, sizeof *b - sizeof(sl_obj));
  b->name = sl_xstrdup(name);
  b->fn = fn;
  sl_slot_set(sl_global_slot(W, name), SL_OBJ(SL_T_BUILTIN, b), SL_T_DEF);
}

int sl_argc_err(sl_ctx *C, const char *fn, int argc, const char *want) {
  return sl_error(C, "%s: expected %s, got %d", fn, want, argc);
}

int sl_arg_err(sl_ctx *C, const char *fn, int i, const char *want, sl_value got) {
  return sl_error(C, "%s: argument %d must be %s, not %s", fn, i, want, T(got));
}

#define ARGC(n, want) if (argc != (n)) return sl_argc_err(C, fname, argc, want)
#define ARG(i, t, want) if (argv[i].type != (t)) return sl_arg_err(C, fname, (i) + 1, want, argv[i])

/* where the running builtin was called from (for execute's line numbers) */
static void cur_loc(sl_ctx *C, const char **file, int *line) {
  *file = "(unknown)";
  *line = 1;
  if (!C->nframes) return;
  sl_frame *f = &C->frames[C->nframes - 1];
  int idx = (int)(f->pc - f->code->ins) - 1;
  *file = f->code->file;
  *line = idx >= 0 && idx < f->code->nins ? (int)f->code->lines[idx] : 1;
}

/* ---- print(x, fmt), sprintf, printf, fprintf --------------------------- */
/* %l: the expression that makes v, as Singular's print(v, "%l") writes it;
 * dim 2 (%2l): an intmat's rows and a list's entries end lines */
static void lform(sl_buf *b, sl_value v, int depth, int dim) {
  switch (v.type) {
  case SL_T_INT: sl_buf_printf(b, "int(%lld)", (long long)v.u.i); return;
  case SL_T_BIGINT: sl_buf_puts(b, "bigint("); sl_string_value(b, v); sl_buf_puts(b, ")"); return;
  case SL_T_INTVEC: sl_buf_puts(b, "intvec("); sl_string_value(b, v); sl_buf_puts(b, ")"); return;
  case SL_T_INTMAT: {
    sl_intmat *m = sl_imv(v);
    sl_buf_puts(b, "intmat(intvec(");
    sl_intmat_string(b, v, dim == 2 ? 0 : -1);
    sl_buf_printf(b, "),%zu,%zu)", m->r, m->c);
    return;
  }
  case SL_T_STRING: {
    sl_string *s = sl_sv(v);
    sl_buf_add(b, "\"", 1);
    sl_buf_add(b, s->s, s->len);
    sl_buf_add(b, "\"", 1);
    return;
  }
  case SL_T_LIST: case SL_T_MULTI: {
    sl_list *l = sl_lv(v);
    sl_buf_puts(b, "list(");
    for (size_t i = 0; i < l->n; i++) {
      if (i) sl_buf_add(b, dim == 2 ? ",\n" : ",", dim == 2 ? 2 : 1);
      if (depth < 1000) lform(b, l->v[i], depth + 1, dim);
    }
    sl_buf_puts(b, ")");
    return;
  }
  default: sl_string_value(b, v); return;
  }
}

static void chop_nl(sl_buf *b, size_t from) {
  if (b->len > from && b->s[b->len - 1] == '\n') b->s[--b->len] = 0;
}

/* what print(v) prints, as Singular's jjPRINT: an intvec as a column, an
 * intmat as a table, anything else as displayed; one newline at the end
 * taken off */
static void print_text(sl_buf *b, sl_value v) {
  size_t at = b->len;
  if (v.type == SL_T_INTVEC) {
    sl_intvec *iv = sl_iv(v);
    for (size_t i = 0; i < iv->n; i++) sl_buf_printf(b, "%lld%s", (long long)iv->v[i], i + 1 < iv->n ? ",\n" : " ");
  } else if (v.type == SL_T_INTMAT) sl_intmat_table(b, v);
  else {
    sl_print_value(b, v, 0);
    /* a string's own newline at the end stays: Singular's display adds
     * one after it, which is the one taken off */
    if (sl_ends_in_string_nl(v)) return;
  }
  chop_nl(b, at);
}

/* print(v, fmt)'s text, as Singular's: %s string(v), %l the expression
 * that makes v, %t its type line (as `type`, named after the variable
 * print was given, else _), %; its display and
 * a newline, %p what print(v) prints; %2s, %2l, ... add a newline; any
 * other format (%b: Betti numbers, the algebra) is %s */
static void fmt_value(sl_buf *b, sl_value v, const char *fmt, const char *name) {
  size_t at = b->len;
  int nl = fmt[0] == '%' && fmt[1] == '2';
  char c = fmt[0] == '%' ? fmt[1 + nl] : 0;
  if (c == 'l') lform(b, v, 0, nl ? 2 : 1);
  else if (c == 't') {
    sl_type_text(b, name, v);
    chop_nl(b, at);
  } else if (c == ';') {
    sl_print_value(b, v, 0);
    chop_nl(b, at);
    sl_buf_add(b, "\n", 1);
  } else if (c == 'p') print_text(b, v);
  else sl_string_value_dim(b, v, nl ? 2 : 1);
  if (nl) sl_buf_add(b, "\n", 1);
}

/* the values after sprintf's format: an expression list is its values,
 * and one list is its entries (Singular's `list #`) */
static size_t fmt_args(int argc, sl_value *argv, sl_value **out) {
  if (argc == 1 && (argv[0].type == SL_T_LIST || argv[0].type == SL_T_MULTI)) {
    *out = sl_lv(argv[0])->v;
    return sl_lv(argv[0])->n;
  }
  *out = argv;
  return (size_t)argc;
}

/* Singular's sprintf: the text of fmt, each conversion of fmt (%s, %l, %t,
 * %;, %p, %b, %2s, %2l: see fmt_value) replaced by the next value, and %n
 * or %2 by a newline, while values are left; the rest of fmt then stays
 * as it is (%% and unknown conversions too) */
int sl_format(sl_ctx *C, const char *fname, int argc, sl_value *argv, sl_buf *b) {
  static const char *const conv[] = {"%l", "%s", "%2l", "%2s", "%t", "%;", "%p", "%b", "%n", "%2"};
  if (argc < 1) return sl_argc_err(C, fname, argc, "at least 1 argument");
  ARG(0, SL_T_STRING, "string");
  const char *f = sl_sv(argv[0])->s;
  sl_value *vals;
  size_t n = fmt_args(argc - 1, argv + 1, &vals), next = 0;
  while (next < n) {
    const char *p = f, *hit = NULL;
    size_t k = 0;
    for (; (p = strchr(p, '%')) && !hit; p++)
      for (k = 0; k < sizeof conv / sizeof conv[0]; k++)
        if (!strncmp(p, conv[k], strlen(conv[k]))) { hit = p; break; }
    if (!hit) break;
    sl_buf_add(b, f, (size_t)(hit - f));
    if (conv[k][1] == 'n' || !strcmp(conv[k], "%2")) sl_buf_add(b, "\n", 1);
    else fmt_value(b, vals[next++], conv[k], "_");
    f = hit + strlen(conv[k]);
  }
  sl_buf_puts(b, f);
  return 0;
}

/* print(v, fmt): the text, as a string; name: v's variable, or "_" */
static int print_fmt(sl_ctx *C, sl_value *argv, const char *name, sl_value *ret) {
  const char *fname = "print";
  ARG(1, SL_T_STRING, "string (a format such as \"%s\", \"%l\", \"%p\")");
  sl_buf b = {0};
  fmt_value(&b, argv[0], sl_sv(argv[1])->s, name);
  *ret = sl_str_new(b.s ? b.s : "", b.len);
  sl_buf_free(&b);
  return 0;
}

/* "(if)"(cond), at an if that ends a top-level text: notes whether cond
 * held, for an else that begins the next text; "(if)"(), at the start of
 * a text that does not begin with else: forgets it (compile.c, celse) */
static int b_if_note(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  int outer = C->nframes <= 1;   /* not a text run by execute() or a proc */
  if (argc == 0) { if (outer) C->else_state = 0; *ret = SL_NONE; return 0; }
  if (outer) C->else_state = argv[0].type == SL_T_INT && argv[0].u.i == 0 ? 2 : 1;
  *ret = argv[0];
  sl_retain(*ret);
  return 0;
}

/* "(else)"(): 1 if the else that begins this text is to run (the if
 * that ended the text before did not hold); an else with no such if is
 * skipped with a warning, as in Singular; "(else)"(1): an else after
 * another statement or in a proc, which never has one */
static int b_else_take(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)argv;
  if (argc == 1) {
    char msg[64];
    snprintf(msg, sizeof msg, "`else` without `if` in level %d", sl_voice(C) - 1);
    sl_warn(C, msg, SL_WARN_PLAIN);
    *ret = SL_INT(0);
    return 0;
  }
  int st = C->nframes <= 1 ? C->else_state : 0;   /* execute("else ...") has no if */
  if (st == 0) sl_warn(C, "`else` without `if` in level 0", SL_WARN_PLAIN);   /* Singular's words */
  C->else_state = st == 1 ? 1 : 0;   /* a chain after a taken branch skips on */
  *ret = SL_INT(st == 2);
  return 0;
}

/* "(:)"(a, n): Singular's a:n, an intvec of n entries a (the parser
 * makes a:b this call, at the precedence of + and -) */
static int b_repeat(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc != 2) return sl_error(C, "(:): internal call");
  if (argv[0].type != SL_T_INT || argv[1].type != SL_T_INT)
    return sl_error(C, "`:` takes int : int (an entry, then how many), not %s : %s",
                    sl_type_name((int)argv[0].type), sl_type_name((int)argv[1].type));
  int64_t n = argv[1].u.i;
  if (n < 0) return sl_error(C, "`:`: the count must be 0 or more, not %lld", (long long)n);
  if ((uint64_t)n > sl_limits.elems)
    return sl_error(C, "`:`: %lld entries are too many (the limit is %zu)", (long long)n, sl_limits.elems);
  sl_value r = sl_intvec_new((size_t)n);
  for (int64_t i = 0; i < n; i++) sl_iv(r)->v[i] = argv[0].u.i;
  *ret = r;
  return 0;
}

/* "(print named)"(name, v, fmt): print(x, fmt) of a variable x, as the
 * compiler calls it (so that %t names x, as Singular's) */
static int b_print_named(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc != 3 || argv[0].type != SL_T_STRING) return sl_error(C, "(print named): internal call");
  return print_fmt(C, argv + 1, sl_sv(argv[0])->s, ret);
}

int sl_b_print(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "print";
  if (argc == 2) return print_fmt(C, argv, "_", ret);
  ARGC(1, "1 or 2 arguments");
  if (sl_has_struct_show(argv[0])) {
    /* an installed print proc prints as it runs: its text cannot be
     * kept (Singular keeps it), so it is printed now */
    int rc = sl_print_out(C, argv[0], 0);
    *ret = sl_str("");
    return rc;
  }
  sl_buf b = {0};
  print_text(&b, argv[0]);
  *ret = sl_str_new(b.s ? b.s : "", b.len);
  sl_buf_free(&b);
  return 0;
}

int sl_print_direct(sl_ctx *C, sl_value v) {
  if ((int)v.type >= SL_T_FIRST_USER && sl_struct_op(v, "print", 1)) {
    /* the installed print proc, as print(x) calls it (vm.c,
     * call_builtin_user); what it returns is shown */
    sl_value r = SL_NONE;
    int rc = sl_struct_call(C, "print", 1, &v, &r);
    if (rc == 0) rc = sl_print_stmt(C, r);
    sl_release(r);
    return rc;
  }
  if (sl_has_struct_show(v)) return sl_print_out(C, v, 0);
  sl_buf b = {0};
  print_text(&b, v);
  sl_value t = sl_str_new(b.s ? b.s : "", b.len);
  sl_buf_add(&b, "\n", 1);
  fwrite(b.s, 1, b.len, stdout);
  sl_buf_free(&b);
  sl_release(C->last);
  C->last = t;   /* `_` is the text, as Singular's */
  return 0;
}

/* "(print stmt)"(v): `print(v);` as a whole statement (compile.c) */
static int b_print_stmt(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc != 1) return sl_error(C, "(print stmt): internal call");
  *ret = SL_NONE;
  return sl_print_direct(C, argv[0]);
}

static int b_string(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  sl_buf b = {0};
  for (int i = 0; i < argc; i++) {
    if (argv[i].type == SL_T_LIST && argc == 1) { sl_string_value(&b, argv[i]); continue; }
    sl_string_value(&b, argv[i]);
  }
  *ret = sl_str_new(b.s ? b.s : "", b.len);
  sl_buf_free(&b);
  return 0;
}

/* proc(x): x, which must be a proc (Singular's cast: proc(l[1])(2)
 * calls the proc in a list) */
static int b_proc(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "proc";
  ARGC(1, "1 argument");
  if (argv[0].type != SL_T_PROC && argv[0].type != SL_T_BUILTIN) return sl_arg_err(C, fname, 1, "proc", argv[0]);
  *ret = argv[0];
  sl_retain(*ret);
  return 0;
}

static int b_int(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "int";
  ARGC(1, "1 argument");
  sl_value v = argv[0];
  if (v.type == SL_T_INT) { *ret = v; return 0; }
  if (v.type == SL_T_BIGINT) {
    int64_t x;
    if (!sl_bigint_fits(v, &x)) return sl_error(C, "int: bigint value too large for int");
    *ret = SL_INT(x);
    return 0;
  }
  if (v.type == SL_T_STRING) {
    /* Singular's atoi: blanks, a sign and the digits that follow; the
     * rest is ignored, no digits is 0 (int(read(f)) of "42\n" is 42).
     * Past the 64-bit range an error (Singular wraps to 32 bits). */
    errno = 0;
    long long x = strtoll(sl_sv(v)->s, NULL, 10);
    if (errno == ERANGE)
      return sl_error(C, "int: \"%s\" is out of the int range (bigint converts it)", sl_sv(v)->s);
    *ret = SL_INT(x);
    return 0;
  }
  return sl_arg_err(C, fname, 1, "int, bigint or string", v);
}

static int b_bigint(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "bigint";
  ARGC(1, "1 argument");
  sl_value v = argv[0];
  if (v.type == SL_T_INT) { *ret = sl_bigint_from_i64(v.u.i); return 0; }
  if (v.type == SL_T_BIGINT) { *ret = v; sl_retain(v); return 0; }
  if (v.type == SL_T_STRING) {
    sl_value r = sl_bigint_new();
    if (mpz_set_str(sl_bv(r)->z, sl_sv(v)->s, 10) < 0) {
      sl_release(r);
      return sl_error(C, "bigint: cannot convert \"%s\" to bigint", sl_sv(v)->s);
    }
    *ret = r;
    return 0;
  }
  return sl_arg_err(C, fname, 1, "int, bigint or string", v);
}

static int b_intvec(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  sl_value m;
  sl_flatten(C, argc, argv, &m);
  if (sl_convert(C, SL_T_INTVEC, &m, "intvec: each argument") < 0) { sl_release(m); return SL_ERR; }
  *ret = m;
  return 0;
}

static int b_list(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  sl_value m;
  sl_flatten(C, argc, argv, &m);
  sl_convert(C, SL_T_LIST, &m, "list");
  *ret = m;
  return 0;
}

static int b_typeof(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "typeof";
  ARGC(1, "1 argument");
  if (argv[0].type == SL_T_MULTI) {   /* typeof(v[2..3]) is "int int" */
    sl_value r = sl_list_new(sl_lv(argv[0])->n);
    r.type = SL_T_MULTI;
    sl_lv(r)->h.type = SL_T_MULTI;
    for (size_t i = 0; i < sl_lv(argv[0])->n; i++) sl_list_push(&r, sl_str(T(sl_lv(argv[0])->v[i])));
    *ret = r;
    return 0;
  }
  *ret = sl_str(T(argv[0]));
  return 0;
}

static int b_size(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "size";
  ARGC(1, "1 argument");
  sl_value v = argv[0];
  switch (v.type) {
  case SL_T_STRING: *ret = SL_INT((int64_t)sl_sv(v)->len); return 0;
  case SL_T_LIST: case SL_T_MULTI: *ret = SL_INT((int64_t)sl_lv(v)->n); return 0;
  case SL_T_INTVEC: *ret = SL_INT((int64_t)sl_iv(v)->n); return 0;
  case SL_T_INTMAT: *ret = SL_INT((int64_t)(sl_imv(v)->r * sl_imv(v)->c)); return 0;
  case SL_T_INT: case SL_T_BIGINT: *ret = SL_INT(1); return 0;
  default: return sl_arg_err(C, fname, 1, "string, list or intvec", v);
  }
}

static int b_insert(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "insert";
  if (argc != 2 && argc != 3) return sl_argc_err(C, fname, argc, "2 or 3 arguments");
  ARG(0, SL_T_LIST, "list");
  int64_t pos = 0;
  if (argc == 3) { ARG(2, SL_T_INT, "int"); pos = argv[2].u.i; }
  size_t n = sl_lv(argv[0])->n;
  if (pos < 0)
    return sl_error(C, "insert: the position must be 0 or more (after which entry), not %lld", (long long)pos);
  if ((uint64_t)pos >= sl_limits.elems)
    return sl_error(C, "insert: position %lld is past the limit of %zu entries", (long long)pos, sl_limits.elems);
  /* past the end: the entry goes at pos + 1, those between stay empty
   * (Singular's) */
  sl_value r = sl_list_new((size_t)pos > n ? (size_t)pos + 1 : n + 1);
  for (size_t i = 0; i < n; i++) {
    if (i == (size_t)pos) { sl_retain(argv[1]); sl_list_push(&r, argv[1]); }
    sl_retain(sl_lv(argv[0])->v[i]);
    sl_list_push(&r, sl_lv(argv[0])->v[i]);
  }
  if ((size_t)pos >= n) {
    for (size_t i = n; i < (size_t)pos; i++) sl_list_push(&r, SL_NONE);
    sl_retain(argv[1]);
    sl_list_push(&r, argv[1]);
  }
  *ret = r;
  return 0;
}

static int b_delete(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "delete";
  ARGC(2, "2 arguments");
  ARG(1, SL_T_INT, "int");
  int64_t k = argv[1].u.i;
  if (argv[0].type == SL_T_INTVEC) {
    sl_intvec *v = sl_iv(argv[0]);
    if (k < 1 || (size_t)k > v->n) return sl_error(C, "delete: index %lld out of range 1..%zu", (long long)k, v->n);
    sl_value r = sl_intvec_new(v->n - 1);
    for (size_t i = 0, j = 0; i < v->n; i++) if (i != (size_t)k - 1) sl_iv(r)->v[j++] = v->v[i];
    *ret = r;
    return 0;
  }
  ARG(0, SL_T_LIST, "list or intvec");
  sl_list *l = sl_lv(argv[0]);
  if (k < 1 || (size_t)k > l->n) return sl_error(C, "delete: index %lld out of range 1..%zu", (long long)k, l->n);
  sl_value r = sl_list_new(l->n);
  for (size_t i = 0; i < l->n; i++)
    if (i != (size_t)k - 1) { sl_retain(l->v[i]); sl_list_push(&r, l->v[i]); }
  *ret = r;
  return 0;
}

static int b_execute(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "execute";
  ARGC(1, "1 argument");
  ARG(0, SL_T_STRING, "string");
  const char *file;
  int line;
  cur_loc(C, &file, &line);
  sl_code *code = sl_compile(C, sl_sv(argv[0])->s, sl_sv(argv[0])->len, file, line);
  if (!code) return SL_ERR;
  C->push_code = code;
  return SL_PUSH;
}

/* "(source)"(file): `< "file";`, Singular's way to run a file in the
 * current session: its statements run as the caller's (globals are the
 * same), its errors name the file and its lines */
static int b_source(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)ret;
  if (argc != 1 || argv[0].type != SL_T_STRING)
    return sl_error(C, "`<` runs a file: `< \"name\";` takes a string, not %s",
                    argc == 1 ? sl_type_name((int)argv[0].type) : "this");
  const char *path = sl_sv(argv[0])->s;
  size_t n;
  char *src = sl_read_file(path, &n);
  if (!src) return sl_error(C, "<: cannot open `%s`: %s", path, strerror(errno));
  sl_code *code = sl_compile(C, src, n, path, 1);
  free(src);
  if (!code) return SL_ERR;
  C->push_code = code;
  return SL_PUSH;
}

/* a string literal of s[0, n) into b */
static void put_literal(sl_buf *b, const char *s, size_t n) {
  sl_buf_puts(b, "print(\"");
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"' || s[i] == '\\') sl_buf_add(b, "\\", 1);
    sl_buf_add(b, s + i, 1);
  }
  sl_buf_puts(b, "\");\n");
}

/* "(example)"(name): `example f;`, Singular's way to show a library
 * proc at work: "// proc f from lib x.lib", then its example block run,
 * each statement echoed as Singular's echo = 2 shows it (its lines as
 * written, before what it prints), then an empty line. The block is
 * rewritten to print each statement's lines before the statement. */
static int b_example(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)ret;
  if (argc != 1 || argv[0].type != SL_T_STRING) return sl_error(C, "(example): internal call");
  const char *name = sl_sv(argv[0])->s;
  sl_value v;
  if (sl_lookup_name(C, name, &v) < 0) { sl_clear_error(C); return sl_error(C, "no example for %s", name); }
  const sl_code *code = v.type == SL_T_PROC ? ((sl_proc *)v.u.p)->code : NULL;
  if (!code) { sl_release(v); return sl_error(C, "no example for %s", name); }   /* Singular's words */
  const char *ex = code->example, *lib = sl_code_lib(code);
  char *theirs = NULL;   /* spindle's general.lib has none: Singular's general.lib's */
  if (!ex && lib && code->file) ex = theirs = sl_singular_example(code->file, name);
  if (!ex) {   /* Singular: a library proc's name only; a script's proc, nothing */
    if (lib) printf("// proc %s from lib %s\n", name, lib);
    sl_release(v);
    *ret = SL_NONE;
    return 0;
  }
  sl_buf b = {0};
  sl_buf_puts(&b, "proc example() {");   /* on the block's first line: its lines keep their numbers */
  /* up to `echo = N;`: run as it is (the `{` line: "EXAMPLE:"; echo = 2;) */
  const char *p = ex, *e = ex + strlen(ex), *on = NULL;
  for (const char *q = strstr(p, "echo"); q && !on; q = strstr(q + 4, "echo")) {
    const char *r = q + 4;
    while (*r == ' ' || *r == '\t') r++;
    if (*r != '=' || r[1] == '=' || (q > ex && (isalnum((unsigned char)q[-1]) || q[-1] == '_'))) continue;
    for (r++; *r == ' ' || *r == '\t' || isdigit((unsigned char)*r); r++) {}
    if (*r == ';') on = r + 1;
    if (on) {
      sl_buf_add(&b, p, (size_t)(q - p));   /* the echo assignment itself is dropped */
      p = on;
    }
  }
  /* the rest of that line, then a statement at a time, echoed; Singular
   * echoes only what runs at the first level (echo = 2 shows voice 1): an
   * example run from an example or a proc shows no statements */
  if (C->nframes > 1) on = NULL;
  const char *nl = strchr(p, '\n');
  if (on && nl) { sl_buf_add(&b, p, (size_t)(nl + 1 - p)); p = nl + 1; }
  if (!on) { sl_buf_add(&b, p, (size_t)(e - p)); p = e; }
  /* the statements, by lines: [g0, g1), [g1, g2), ... */
  size_t ng = 0, cap = 16;
  const char **g = sl_xmalloc(cap * sizeof *g);
  g[ng++] = p;
  sl_buf pend = {0};
  while (p < e) {
    const char *end = strchr(p, '\n');
    end = end ? end + 1 : e;
    sl_buf_add(&pend, p, (size_t)(end - p));
    p = end;
    int blank = 1;
    for (size_t i = 0; i < pend.len && blank; i++) blank = isspace((unsigned char)pend.s[i]);
    if (!blank && !sl_source_complete(pend.s) && p < e) continue;
    sl_buf_free(&pend);
    if (blank) {   /* empty lines between statements: a group that echoes them */
      if (ng == cap) g = sl_xrealloc(g, (cap *= 2) * sizeof *g);
      g[ng++] = p;
      continue;
    }
    /* an else goes with its if: one statement here (Singular echoes its
     * lines after the if has run) */
    const char *q = g[ng - 1];
    while (q < p && isspace((unsigned char)*q)) q++;
    if (ng > 1 && !strncmp(q, "else", 4) && !(isalnum((unsigned char)q[4]) || q[4] == '_')) g[ng - 1] = p;
    else {
      if (ng == cap) g = sl_xrealloc(g, (cap *= 2) * sizeof *g);
      g[ng++] = p;
    }
  }
  sl_buf_free(&pend);
  for (size_t k = 0; k + 1 < ng; k++) {
    /* its lines as written, but a line that only closes a block (`}`),
     * which Singular's echo does not show; empty lines between statements
     * are shown */
    int all_blank = 1;
    for (const char *q = g[k]; q < g[k + 1] && all_blank; q++) all_blank = isspace((unsigned char)*q);
    for (const char *l = g[k]; l < g[k + 1];) {
      const char *le = memchr(l, '\n', (size_t)(g[k + 1] - l));
      if (!le) le = g[k + 1];
      const char *t = l, *te = le;
      while (t < te && isspace((unsigned char)*t)) t++;
      while (te > t && isspace((unsigned char)te[-1])) te--;
      if (t < te && !(te - t == 1 && *t == '}')) put_literal(&b, l, (size_t)(le - l));
      else if (all_blank && le < g[k + 1]) put_literal(&b, "", 0);
      l = le + 1;
    }
    sl_buf_add(&b, g[k], (size_t)(g[k + 1] - g[k]));
  }
  free(g);
  free(theirs);
  sl_buf_puts(&b, on ? "\nprint(\"\");\n" : "\n");   /* Singular's echo ends with an empty line */
  sl_buf_puts(&b, "}\n");
  /* the block runs as a proc, as Singular's: what it declares is its own
   * (a script's L is not replaced by the example's) */
  char label[160];
  snprintf(label, sizeof label, "example %s", name);
  sl_code *run = sl_compile(C, b.s, b.len, label, 1);
  sl_buf_free(&b);
  sl_value body = SL_NONE;
  for (int i = 0; run && i < run->nk; i++)
    if (run->k[i].type == SL_T_PROC) { body = run->k[i]; sl_retain(body); break; }
  if (run) sl_code_release(run);
  if (body.type != SL_T_PROC) { sl_release(v); return SL_ERR; }
  printf("// proc %s from lib %s\n", name, lib ? lib : sl_path_base(code->file ? code->file : ""));
  sl_release(v);
  sl_value r;
  int rc = sl_call_value(C, body, 0, NULL, &r);
  sl_release(body);
  if (rc < 0) return rc;
  sl_release(r);
  return 0;
}

/* "(cannot run)"(why): the body of a library proc spindle could not
 * compile (compile.c, stub_proc) */
static int b_cannot_run(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)ret;
  if (argc != 1 || argv[0].type != SL_T_STRING) return sl_error(C, "(cannot run): internal call");
  return sl_error(C, "%s", sl_sv(argv[0])->s);
}

/* "(mod_init)"(proc, "x.lib"), at the end of a library that defines
 * mod_init: Singular runs it once the library is read (it exports what
 * the library's procs share, makes newstruct types). One that fails here
 * (mostly: a type or value of Singular's algebra) leaves the library
 * loaded, as its procs that need the algebra are, and says why on stderr;
 * a cancel or quit goes on as it is. */
static int b_mod_init(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)ret;
  if (argc != 2 || argv[1].type != SL_T_STRING) return sl_error(C, "(mod_init): internal call");
  sl_value r;
  int rc = sl_call_value(C, argv[0], 0, NULL, &r);
  if (rc == SL_OK) { sl_release(r); return 0; }
  if (rc != SL_ERR || !C->err || !strcmp(C->err, "cancelled") || sl_interrupted) return rc;
  fflush(stdout);
  fprintf(stderr, "// ** %s: its mod_init failed, the library is loaded without it: %s\n", sl_sv(argv[1])->s, C->err);
  sl_clear_error(C);
  return 0;
}

/* "(branchTo)"(args, "type", ..., p): see cbranchto (compile.c). 1 when
 * the types match and p ran (its result kept for "(branch result)"),
 * else 0 */
static int b_branch_to(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc < 2 || argv[0].type != SL_T_LIST) return sl_error(C, "(branchTo): internal call");
  sl_value p = argv[argc - 1];
  if (p.type != SL_T_PROC) return sl_error(C, "branchTo: the last argument must be a proc, not %s", T(p));
  for (int i = 1; i < argc - 1; i++)
    if (argv[i].type != SL_T_STRING) return sl_error(C, "branchTo: argument %d must be a type name (string), not %s", i, T(argv[i]));
  const sl_list *a = sl_lv(argv[0]);
  *ret = SL_INT(0);
  if ((int)a->n != argc - 2) return 0;
  for (size_t i = 0; i < a->n; i++)   /* the types exactly (Singular's "def" matches none) */
    if (strcmp(sl_sv(argv[i + 1])->s, T(a->v[i]))) return 0;
  sl_value r;
  int rc = sl_call_value(C, p, (int)a->n, a->v, &r);
  if (rc < 0) return rc;
  sl_release(C->branch_result);
  C->branch_result = r;
  *ret = SL_INT(1);
  return 0;
}

/* "(branch none)"(args): the end of a proc using branchTo, reached with
 * arguments no branch took */
static int b_branch_none(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)ret;
  if (argc == 1 && argv[0].type == SL_T_LIST && sl_lv(argv[0])->n) {
    char msg[300];
    snprintf(msg, sizeof msg, "too many arguments for %s", C->nframes ? C->frames[C->nframes - 1].code->name : "?");
    sl_warn(C, msg, SL_WARN_PLAIN);
  }
  return 0;
}

static int b_branch_result(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)argc, (void)argv;
  *ret = C->branch_result;
  C->branch_result = SL_NONE;
  return 0;
}

static int b_eval(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "eval";
  ARGC(1, "1 argument");
  if (argv[0].type != SL_T_QUOTE) { *ret = argv[0]; sl_retain(*ret); return 0; }
  sl_code *code = ((sl_quote *)argv[0].u.p)->code;
  sl_code_retain(code);
  C->push_code = code;
  return SL_PUSH;
}

static int b_error(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "ERROR";
  ARGC(1, "1 argument");
  ARG(0, SL_T_STRING, "string");
  sl_buf b = {0};
  for (int i = 0; i < argc; i++) sl_string_value(&b, argv[i]);
  sl_error(C, "%s", b.s ? b.s : "ERROR");
  sl_buf_free(&b);
  return SL_ERR;
}

static double now_real(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* sleep(ms): sleeps in short steps, polling, so a cancel gets through */
static int b_sleep(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "sleep";
  ARGC(1, "1 argument");
  ARG(0, SL_T_INT, "int (milliseconds)");
  double end = now_real() + (double)argv[0].u.i / 1000.0;
  for (;;) {
    if (sl_poll(C) < 0) return SL_ERR;
    double left = end - now_real();
    if (left <= 0) return 0;
    if (left > 0.01) left = 0.01;
    struct timespec ts = {0, (long)(left * 1e9)};
    nanosleep(&ts, NULL);
  }
}

/* timer (CPU time) and rtimer (wall clock) count in ticks of
 * 1/ticks_per_sec seconds, 1 unless system("--ticks-per-sec", n) said */
static _Atomic int64_t ticks_per_sec = 1;

static int b_timer(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  *ret = SL_INT((int64_t)((double)clock() / CLOCKS_PER_SEC * (double)ticks_per_sec));
  return 0;
}

static int b_rtimer(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  *ret = SL_INT((int64_t)(((double)tv.tv_sec + tv.tv_usec * 1e-6) * (double)ticks_per_sec));
  return 0;
}

/* msec(): wall-clock milliseconds, for timing scripts */
static int b_msec(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  *ret = SL_INT((int64_t)(now_real() * 1000.0));
  return 0;
}

/* memory(n), as Singular's (a bigint of bytes): 0 what the allocator
 * holds for live objects, 1 what the process took from the system for
 * them (under an allocator that is not glibc's: the resident and the
 * virtual size),
 * 2 the process's peak resident size */
static int b_memory(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "memory";
  ARGC(1, "1 argument");
  ARG(0, SL_T_INT, "int");
  int64_t n = argv[0].u.i, bytes;
  if (n == 0 || n == 1) {
    struct mallinfo2 mi = mallinfo2();
    bytes = (int64_t)((n == 0 ? mi.uordblks : mi.arena) + mi.hblkhd);
    if (bytes == 0) {   /* not glibc's allocator (a sanitizer's): the process's sizes */
      long total = 0, resident = 0;
      FILE *f = fopen("/proc/self/statm", "r");
      if (f) {
        if (fscanf(f, "%ld %ld", &total, &resident) != 2) total = resident = 0;
        fclose(f);
      }
      bytes = (int64_t)(n == 0 ? resident : total) * sysconf(_SC_PAGESIZE);
    }
  } else if (n == 2) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    bytes = (int64_t)ru.ru_maxrss * 1024;
  } else {
    return sl_error(C, "memory: argument 1 must be 0 (in use), 1 (taken from the system) or 2 (peak resident), not %lld",
                    (long long)n);
  }
  *ret = sl_bigint_from_i64(bytes);
  return 0;
}

static int b_load(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "load";
  if (argc != 1 && argc != 2) return sl_argc_err(C, fname, argc, "1 or 2 arguments");
  ARG(0, SL_T_STRING, "string");
  if (argc == 2) ARG(1, SL_T_STRING, "string");
  const char *n = sl_sv(argv[0])->s;
  size_t len = strlen(n);
  if (len > 4 && !strcmp(n + len - 4, ".lib")) {   /* load("x.lib"): as LIB */
    int rc = sl_lib(C, fname, argv[0]);
    return rc < 0 ? rc : C->push_code ? SL_PUSH : 0;
  }
  return sl_load_plugin(C, n);
}

static int b_find(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "find";
  if (argc != 2 && argc != 3) return sl_argc_err(C, fname, argc, "2 or 3 arguments");
  ARG(0, SL_T_STRING, "string");
  ARG(1, SL_T_STRING, "string");
  int64_t start = 1;
  if (argc == 3) { ARG(2, SL_T_INT, "int"); start = argv[2].u.i; }
  sl_string *s = sl_sv(argv[0]);
  if (start < 1 || (size_t)start > s->len + 1)
    return sl_error(C, "find: start position %lld out of range 1..%zu", (long long)start, s->len + 1);
  const char *p = memmem(s->s + start - 1, s->len - (size_t)(start - 1), sl_sv(argv[1])->s, sl_sv(argv[1])->len);
  *ret = SL_INT(p ? (int64_t)(p - s->s) + 1 : 0);
  return 0;
}

static int b_sprintf(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  sl_buf b = {0};
  if (sl_format(C, "sprintf", argc, argv, &b) < 0) { sl_buf_free(&b); return SL_ERR; }
  *ret = sl_str_new(b.s ? b.s : "", b.len);
  sl_buf_free(&b);
  return 0;
}

static int b_printf(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  sl_buf b = {0};
  if (sl_format(C, "printf", argc, argv, &b) < 0) { sl_buf_free(&b); return SL_ERR; }
  sl_buf_add(&b, "\n", 1);
  fwrite(b.s, 1, b.len, stdout);
  sl_buf_free(&b);
  return 0;
}

static int num_arg(sl_ctx *C, const char *fname, sl_value *argv, int i, mpz_t z) {
  if (argv[i].type == SL_T_INT) { mpz_set_si(z, (long)argv[i].u.i); return 0; }
  if (argv[i].type == SL_T_BIGINT) { mpz_set(z, sl_bv(argv[i])->z); return 0; }
  return sl_arg_err(C, fname, i + 1, "int or bigint", argv[i]);
}

/* an int result when both arguments are ints, else a bigint */
static void num_ret(sl_value *argv, int n, mpz_t z, sl_value *ret) {
  int ints = 1;
  for (int i = 0; i < n; i++) ints &= argv[i].type == SL_T_INT;
  if (ints && mpz_fits_slong_p(z)) *ret = SL_INT(mpz_get_si(z));
  else *ret = sl_bigint_from_mpz(z);
}

static int b_gcd(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "gcd";
  ARGC(2, "2 arguments");
  mpz_t a, b;
  mpz_init(a); mpz_init(b);
  int rc = num_arg(C, fname, argv, 0, a) < 0 || num_arg(C, fname, argv, 1, b) < 0 ? SL_ERR : 0;
  if (!rc) { mpz_gcd(a, a, b); num_ret(argv, 2, a, ret); }
  mpz_clear(a); mpz_clear(b);
  return rc;
}

/* min(x, ...) and max(x, ...): the first least (greatest) value, by < (>)
 * as the language compares (Singular's standard.lib procs); an int result
 * after a bigint first is a bigint, as Singular's (its result variable
 * takes the first value's type), and a bigint after an int first stays a
 * bigint (Singular's cannot assign it) */
static int minmax(sl_ctx *C, const char *fname, int op, int argc, sl_value *argv, sl_value *ret) {
  sl_value *v;
  size_t n = fmt_args(argc, argv, &v);
  if (argc == 1 && argv[0].type == SL_T_LIST) { v = argv; n = 1; }   /* max(L) is L */
  if (n == 0) return sl_argc_err(C, fname, argc, "at least 1 argument");
  size_t best = 0;
  for (size_t i = 1; i < n; i++) {
    int c;
    if (sl_compare(C, op, v[i], v[best], &c) < 0) {
      sl_clear_error(C);
      return sl_error(C, "%s: cannot compare %s with %s", fname, T(v[i]), T(v[best]));
    }
    if (c) best = i;
  }
  *ret = v[best];
  sl_retain(*ret);
  if (v[0].type == SL_T_BIGINT && ret->type == SL_T_INT) *ret = sl_bigint_from_i64(ret->u.i);
  return 0;
}

static int b_min(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  return minmax(C, "min", SL_LT, argc, argv, ret);
}

static int b_max(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  return minmax(C, "max", SL_GT, argc, argv, ret);
}

/* extgcd(a, b): list(g, s, t) with g = gcd(a, b) = s*a + t*b. Ints take
 * Singular's loop (its s and t), a bigint GMP's mpz_gcdext (as Singular's
 * bigints do); the result is bigints if either argument is one */
static int b_extgcd(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "extgcd";
  ARGC(2, "2 arguments");
  mpz_t a, b, g, s, t;
  mpz_inits(a, b, g, s, t, NULL);
  int rc = num_arg(C, fname, argv, 0, a) < 0 || num_arg(C, fname, argv, 1, b) < 0 ? SL_ERR : 0;
  int ints = argv[0].type == SL_T_INT && argv[1].type == SL_T_INT;
  if (!rc && ints && argv[0].u.i != INT64_MIN && argv[1].u.i != INT64_MIN) {
    /* 128 bits: the cofactors stay below 2^63, a product on the way may not */
    __int128 p0 = llabs(argv[0].u.i), p1 = llabs(argv[1].u.i), f0 = 1, f1 = 0, g0 = 0, g1 = 1, q, r;
    while (p1) {
      q = p0 / p1;
      r = p0 % p1; p0 = p1; p1 = r;
      r = g0 - g1 * q; g0 = g1; g1 = r;
      r = f0 - f1 * q; f0 = f1; f1 = r;
    }
    mpz_set_si(g, (long)p0);
    mpz_set_si(s, (long)(argv[0].u.i < 0 ? -f0 : f0));
    mpz_set_si(t, (long)(argv[1].u.i < 0 ? -g0 : g0));
  } else if (!rc) {
    mpz_gcdext(g, s, t, a, b);
  }
  if (!rc) {
    *ret = sl_list_new(3);
    mpz_t *z[] = {&g, &s, &t};
    for (int i = 0; i < 3; i++) {
      sl_value x;
      num_ret(argv, 2, *z[i], &x);
      sl_list_push(ret, x);
    }
  }
  mpz_clears(a, b, g, s, t, NULL);
  return rc;
}

/* entry i of a chinrem argument (a list or an intvec) as an integer */
static int chin_entry(sl_ctx *C, sl_value v, size_t i, const char *what, mpz_t z) {
  if (v.type == SL_T_INTVEC) { mpz_set_si(z, (long)sl_iv(v)->v[i]); return 0; }
  sl_value e = sl_lv(v)->v[i];
  if (e.type == SL_T_INT) { mpz_set_si(z, (long)e.u.i); return 0; }
  if (e.type == SL_T_BIGINT) { mpz_set(z, sl_bv(e)->z); return 0; }
  return sl_error(C, "chinrem: %s %zu must be an int or bigint, not %s", what, i + 1, sl_type_name((int)e.type));
}

static size_t chin_size(sl_value v) {
  return v.type == SL_T_INTVEC ? sl_iv(v)->n : sl_lv(v)->n;
}

/* chinrem(r, m): the x with x = r[i] mod m[i] for every i, as Singular's
 * (a bigint in the symmetric range: -M/2 < x <= M/2, M the product of
 * the moduli), for lists of ints and bigints or two intvecs; a list of
 * such lists gives the list of their results. Moduli must be positive;
 * moduli that share factors are allowed when the residues agree (M is
 * then their lcm), and residues that contradict each other are an error
 * (Singular returns a number that solves nothing). */
static int b_chinrem(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "chinrem";
  ARGC(2, "2 arguments (the residues and the moduli: lists, or intvecs)");
  sl_value r = argv[0], m = argv[1];
  if (r.type != SL_T_LIST && r.type != SL_T_INTVEC) return sl_arg_err(C, fname, 1, "list or intvec", r);
  if (m.type != SL_T_LIST && m.type != SL_T_INTVEC) return sl_arg_err(C, fname, 2, "list or intvec", m);
  size_t n = chin_size(r);
  if (r.type == SL_T_LIST && n && sl_lv(r)->v[0].type == SL_T_LIST) {   /* a list of residue lists */
    sl_value out = sl_list_new(n);
    for (size_t i = 0; i < n; i++) {
      sl_value a[2] = {sl_lv(r)->v[i], m}, x;
      if (a[0].type != SL_T_LIST) { sl_release(out); return sl_error(C, "chinrem: entry %zu of the residues must be a list, as the first one, not %s", i + 1, sl_type_name((int)a[0].type)); }
      if (b_chinrem(C, 2, a, &x) < 0) { sl_release(out); return SL_ERR; }
      sl_list_push(&out, x);
    }
    *ret = out;
    return 0;
  }
  if ((r.type == SL_T_INTVEC) != (m.type == SL_T_INTVEC))
    return sl_error(C, "chinrem: the residues and the moduli must both be lists or both intvecs, not %s and %s",
                    sl_type_name((int)r.type), sl_type_name((int)m.type));
  if (n == 0) return sl_error(C, "chinrem: no residues");
  if (chin_size(m) != n)
    return sl_error(C, "chinrem: %zu residue%s but %zu modul%s", n, n == 1 ? "" : "s", chin_size(m),
                    chin_size(m) == 1 ? "us" : "i");
  mpz_t x, M, a, q, g, s, t;
  mpz_inits(x, M, a, q, g, s, t, NULL);
  int rc = 0;
  mpz_set_ui(x, 0);
  mpz_set_ui(M, 1);
  for (size_t i = 0; i < n && !rc; i++) {
    if (chin_entry(C, r, i, "residue", a) < 0 || chin_entry(C, m, i, "modulus", q) < 0) { rc = SL_ERR; break; }
    if (mpz_sgn(q) <= 0) {
      char *qs = mpz_get_str(NULL, 10, q);
      rc = sl_error(C, "chinrem: modulus %zu must be positive, not %s", i + 1, qs);
      free(qs);
      break;
    }
    /* x' = x + M k with x + M k = a mod q: M k = a - x mod q, solvable iff
     * g = gcd(M, q) divides a - x; then k = s (a - x) / g mod q / g */
    mpz_gcdext(g, s, t, M, q);
    mpz_sub(a, a, x);
    if (!mpz_divisible_p(a, g)) {
      char *gs = mpz_get_str(NULL, 10, g);
      rc = sl_error(C, "chinrem: no solution: residue %zu contradicts the ones before it modulo %s (the moduli share that factor)", i + 1, gs);
      free(gs);
      break;
    }
    mpz_divexact(a, a, g);
    mpz_divexact(q, q, g);   /* q / g */
    mpz_mul(a, a, s);
    mpz_mod(a, a, q);        /* k */
    mpz_mul(a, a, M);
    mpz_add(x, x, a);
    mpz_mul(M, M, q);        /* lcm */
    mpz_mod(x, x, M);
    if ((rc = sl_poll(C)) < 0) break;   /* long lists: cancel and Ctrl-C reach it */
  }
  if (!rc) {
    mpz_fdiv_q_2exp(a, M, 1);   /* M div 2: above it, the negative representative */
    if (mpz_cmp(x, a) > 0) mpz_sub(x, x, M);
    *ret = sl_bigint_from_mpz(x);
  }
  mpz_clears(x, M, a, q, g, s, t, NULL);
  return rc;
}

/* det(m) of a square intmat: exact (Bareiss' fraction-free elimination
 * on GMP integers); an int when it fits, else a bigint */
static int b_det(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "det";
  ARGC(1, "1 argument");
  ARG(0, SL_T_INTMAT, "intmat (matrices of polynomials are Singular's algebra, not part of spindle)");
  sl_intmat *m = sl_imv(argv[0]);
  if (m->r != m->c) return sl_error(C, "det: the intmat must be square, not %zu x %zu", m->r, m->c);
  size_t n = m->r;
  mpz_t *a = sl_xcalloc(n * n + 1, sizeof *a), prev, d;
  for (size_t i = 0; i < n * n; i++) mpz_init_set_si(a[i], (long)m->v[i]);
  mpz_init_set_ui(prev, 1);
  mpz_init_set_ui(d, 1);
  int sign = 1, zero = 0, rc = 0;
  for (size_t k = 0; k + 1 < n && !zero; k++) {
    if ((rc = sl_poll(C)) < 0) break;   /* n^3 steps: cancel and Ctrl-C reach it */
    if (!mpz_sgn(a[k * n + k])) {   /* a nonzero pivot from below, or det 0 */
      size_t p = k + 1;
      while (p < n && !mpz_sgn(a[p * n + k])) p++;
      if (p == n) { zero = 1; break; }
      for (size_t j = 0; j < n; j++) mpz_swap(a[k * n + j], a[p * n + j]);
      sign = -sign;
    }
    for (size_t i = k + 1; i < n; i++)
      for (size_t j = k + 1; j < n; j++) {
        /* a[i][j] = (a[i][j] a[k][k] - a[i][k] a[k][j]) / prev, exact */
        mpz_mul(a[i * n + j], a[i * n + j], a[k * n + k]);
        mpz_submul(a[i * n + j], a[i * n + k], a[k * n + j]);
        mpz_divexact(a[i * n + j], a[i * n + j], prev);
      }
    mpz_set(prev, a[k * n + k]);
  }
  if (rc < 0 || zero) mpz_set_ui(d, 0);
  else if (n) mpz_mul_si(d, a[n * n - 1], sign);
  for (size_t i = 0; i < n * n; i++) mpz_clear(a[i]);
  free(a);
  if (!rc) *ret = mpz_fits_slong_p(d) ? SL_INT(mpz_get_si(d)) : sl_bigint_from_mpz(d);
  mpz_clears(prev, d, NULL);
  return rc;
}

static int b_prime(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "prime";
  ARGC(1, "1 argument");
  mpz_t a;
  mpz_init(a);
  int rc = num_arg(C, fname, argv, 0, a);
  if (!rc) {
    /* Singular: the largest prime <= n (2 for n < 2) */
    if (mpz_cmp_ui(a, 2) < 0) mpz_set_ui(a, 2);
    while (mpz_cmp_ui(a, 2) > 0 && !mpz_probab_prime_p(a, 30)) {
      if ((rc = sl_poll(C)) < 0) break;
      mpz_sub_ui(a, a, 1);
    }
    if (!rc) num_ret(argv, 1, a, ret);
  }
  mpz_clear(a);
  return rc;
}

static void push_factor(sl_value *primes, sl_value *mults, mpz_t p, int ints) {
  size_t n = sl_lv(*primes)->n;
  if (n && mpz_cmp_si(sl_bv(sl_lv(*primes)->v[n - 1])->z, 0) >= 0 &&
      !mpz_cmp(sl_bv(sl_lv(*primes)->v[n - 1])->z, p)) {
    sl_lv(*mults)->v[n - 1].u.i++;
    return;
  }
  (void)ints;
  sl_list_push(primes, sl_bigint_from_mpz(p));
  sl_list_push(mults, SL_INT(1));
}

/* primefactors(n[, bound]): list(primes, multiplicities, rest) */
static int b_primefactors(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "primefactors";
  if (argc != 1 && argc != 2) return sl_argc_err(C, fname, argc, "1 or 2 arguments");
  mpz_t n, p;
  mpz_init(n); mpz_init_set_ui(p, 2);
  if (num_arg(C, fname, argv, 0, n) < 0) { mpz_clear(n); mpz_clear(p); return SL_ERR; }
  uint64_t bound = 0;
  if (argc == 2) {
    if (argv[1].type != SL_T_INT || argv[1].u.i < 0) { mpz_clear(n); mpz_clear(p); return sl_arg_err(C, fname, 2, "a non-negative int", argv[1]); }
    bound = (uint64_t)argv[1].u.i;
  }
  int neg = mpz_sgn(n) < 0;
  mpz_abs(n, n);
  sl_value primes = sl_list_new(0), mults = sl_list_new(0);
  while (mpz_cmp_ui(n, 1) > 0 && (!bound || mpz_cmp_ui(p, bound) <= 0)) {
    if (sl_poll(C) < 0) {   /* trial division of a big n takes long */
      sl_release(primes); sl_release(mults); mpz_clear(n); mpz_clear(p);
      return SL_ERR;
    }
    if (mpz_divisible_p(n, p)) { mpz_divexact(n, n, p); push_factor(&primes, &mults, p, 1); continue; }
    mpz_t sq;
    mpz_init(sq);
    mpz_mul(sq, p, p);
    int done = mpz_cmp(sq, n) > 0;
    mpz_clear(sq);
    if (done && !bound) { push_factor(&primes, &mults, n, 1); mpz_set_ui(n, 1); break; }
    if (done && mpz_cmp_ui(n, bound) <= 0) { push_factor(&primes, &mults, n, 1); mpz_set_ui(n, 1); break; }
    mpz_nextprime(p, p);
  }
  if (neg) mpz_neg(n, n);
  int ints = argv[0].type == SL_T_INT;
  sl_list *pl = sl_lv(primes);
  for (size_t i = 0; ints && i < pl->n; i++) {
    int64_t x;
    if (sl_bigint_fits(pl->v[i], &x)) { sl_release(pl->v[i]); pl->v[i] = SL_INT(x); }
  }
  sl_value r = sl_list_new(3);
  sl_list_push(&r, primes);
  sl_list_push(&r, mults);
  sl_list_push(&r, ints && mpz_fits_slong_p(n) ? SL_INT(mpz_get_si(n)) : sl_bigint_from_mpz(n));
  mpz_clear(n); mpz_clear(p);
  *ret = r;
  return 0;
}

static int b_native(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "native";
  ARGC(3, "3 arguments");
  ARG(0, SL_T_STRING, "string");
  ARG(1, SL_T_STRING, "string");
  ARG(2, SL_T_STRING, "string");
  return sl_native(C, sl_sv(argv[0])->s, sl_sv(argv[1])->s, sl_sv(argv[2])->s, ret);
}

static int b_nameof(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "nameof";
  ARGC(1, "1 argument");
  if (argv[0].type == SL_T_PACKAGE) { *ret = sl_str(sl_sv(argv[0])->s); return 0; }
  const char *n = sl_proc_name(argv[0]);
  if (n && argv[0].type == SL_T_PROC && strstr(n, "::")) n = strstr(n, "::") + 2;   /* P::f is f */
  *ret = sl_str(n ? n : "");
  return 0;
}

static int b_system(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fname = "system";
  if (argc < 1) return sl_argc_err(C, fname, argc, "at least 1 argument");
  ARG(0, SL_T_STRING, "string");
  const char *what = sl_sv(argv[0])->s;
  if (!strcmp(what, "sh")) {
    if (argc != 2 || argv[1].type != SL_T_STRING) return sl_error(C, "system: \"sh\" needs a string (the command)");
    return sl_shell(C, sl_sv(argv[1])->s, ret);
  }
  if (!strcmp(what, "pid")) { *ret = SL_INT(getpid()); return 0; }
  if (!strcmp(what, "install")) return sl_struct_install(C, argc - 1, argv + 1);
  sl_cfn h = sl_system_handler(what);
  if (h) return h(C, argc - 1, argv + 1, ret);
  if (!strcmp(what, "--ticks-per-sec")) {
    if (argc == 1) { *ret = SL_INT(ticks_per_sec); return 0; }
    if (argc != 2 || argv[1].type != SL_T_INT || argv[1].u.i < 1)
      return sl_error(C, "system: \"--ticks-per-sec\" needs a positive int");
    ticks_per_sec = argv[1].u.i;
    return 0;
  }
  return sl_error(C, "system: unsupported request \"%s\"", what);
}

void sl_builtins_init(sl_world *W) {
  static const struct { const char *name; sl_cfn fn; } tab[] = {
    {"chinrem", b_chinrem}, {"(if)", b_if_note}, {"(else)", b_else_take}, {"(:)", b_repeat}, {"(source)", b_source}, {"(cannot run)", b_cannot_run}, {"(mod_init)", b_mod_init}, {"(branchTo)", b_branch_to}, {"(branch result)", b_branch_result}, {"(branch none)", b_branch_none}, {"(example)", b_example}, {"print", sl_b_print}, {"(print stmt)", b_print_stmt}, {"(print named)", b_print_named}, {"string", b_string}, {"int", b_int}, {"proc", b_proc},
    {"bigint", b_bigint}, {"intvec", b_intvec}, {"list", b_list},
    {"typeof", b_typeof}, {"size", b_size}, {"insert", b_insert},
    {"delete", b_delete}, {"execute", b_execute}, {"eval", b_eval},
    {"ERROR", b_error}, {"sleep", b_sleep}, {"timer", b_timer},
    {"rtimer", b_rtimer}, {"msec", b_msec},
    {"load", b_load}, {"find", b_find}, {"sprintf", b_sprintf},
    {"printf", b_printf}, {"gcd", b_gcd}, {"prime", b_prime},
    {"min", b_min}, {"max", b_max}, {"extgcd", b_extgcd}, {"det", b_det},
    {"primefactors", b_primefactors}, {"native", b_native},
    {"nameof", b_nameof}, {"system", b_system}, {"memory", b_memory},
  };
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) sl_def_builtin(W, tab[i].name, tab[i].fn);
  sl_names_init(W);   /* listvar, packages, dbprint, voice, type (names.c) */
  sl_link_init(W);
  sl_os_init(W);
  sl_intmat_builtins(W);
  sl_struct_builtins(W);
}
