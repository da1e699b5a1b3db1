/* vm.c: the bytecode interpreter. Script frames live in a per-context
 * array (never on the C stack): a script call pushes a frame and goes on in
 * the same C loop, so the C stack stays small whatever the recursion depth.
 * Dispatch is by computed goto; ints are unboxed and their arithmetic is
 * inlined. Errors return SL_ERR up the C calls; nothing longjmps. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "opcodes.h"
#include "sl.h"

#define STACK_VALUES (1u << 20)
#define MAX_FRAMES 100000

static const int zero_flag;

static void *map_region(size_t bytes) {
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

sl_ctx *sl_ctx_new(sl_world *W) {
  static _Atomic int nctx;
  if (atomic_fetch_add(&nctx, 1) > 0) sl_set_threaded();
  /* on cache lines of its own: the VM writes the context on every call
   * (sp, nframes), and contexts of jobs run side by side on other cores */
  size_t size = (sizeof(sl_ctx) + 63) & ~(size_t)63;
  sl_ctx *C = aligned_alloc(64, size);
  if (!C) return NULL;
  memset(C, 0, size);
  C->W = W;
  C->stack = map_region(STACK_VALUES * sizeof(sl_value));
  C->frames = map_region(MAX_FRAMES * sizeof(sl_frame));
  if (!C->stack || !C->frames) {
    if (C->stack) munmap(C->stack, STACK_VALUES * sizeof(sl_value));
    free(C);
    return NULL;
  }
  C->sp = C->stack;
  C->stack_end = C->stack + STACK_VALUES;
  C->maxframes = MAX_FRAMES;
  C->poll_flag = &zero_flag;
  return C;
}

void sl_ctx_free(sl_ctx *C) {
  if (!C) return;
  while (C->sp > C->stack) sl_release(*--C->sp);
  sl_release(C->last);
  munmap(C->stack, STACK_VALUES * sizeof(sl_value));
  munmap(C->frames, MAX_FRAMES * sizeof(sl_frame));
  free(C->err);
  free(C);
}

int sl_error(sl_ctx *C, const char *fmt, ...) {
  if (C->err) return SL_ERR;   /* keep the first (innermost) message */
  sl_buf b = {0};
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  sl_buf_puts(&b, tmp);
  C->err = b.s;
  C->errline = 0;
  return SL_ERR;
}

void sl_clear_error(sl_ctx *C) {
  free(C->err);
  C->err = NULL;
  C->errline = 0;
}

/* prefix the pending message with file:line (once, where it happened) */
static void locate_error(sl_ctx *C, sl_frame *f, uint32_t *pc) {
  if (!C->err) sl_error(C, "error");
  if (C->errline) return;
  sl_code *c = f->code;
  int idx = (int)(pc - c->ins) - 1;
  int line = idx >= 0 && idx < c->nins ? (int)c->lines[idx] : c->line;
  sl_buf b = {0};
  sl_buf_printf(&b, "%s:%d: ", c->file, line);
  if (strcmp(c->name, "(top)") && strcmp(c->name, "quote"))
    sl_buf_printf(&b, "in proc %s: ", c->name);
  sl_buf_puts(&b, C->err);
  free(C->err);
  C->err = b.s;
  C->errline = line > 0 ? line : 1;
}

/* unwinds every frame down to and including the innermost entry frame */
static void unwind(sl_ctx *C, sl_value *sp) {
  int e = C->nframes - 1;
  while (e > 0 && !C->frames[e].entry) e--;
  sl_value *bottom = C->frames[e].base - 1;
  while (sp > bottom) sl_release(*--sp);
  for (int i = e; i < C->nframes; i++)
    if (C->frames[i].own & SL_FRAME_OWN) sl_code_release(C->frames[i].code);
  C->sp = bottom;
  C->nframes = e;
}

static int default_value(int type, sl_value *v) {
  switch (type) {
  case SL_T_INT: *v = SL_INT(0); return 0;
  case SL_T_BIGINT: *v = sl_bigint_new(); return 0;
  case SL_T_STRING: *v = sl_str_new("", 0); return 0;
  case SL_T_LIST: *v = sl_list_new(0); return 0;
  case SL_T_INTVEC: *v = sl_intvec_new(1); return 0;
  case SL_T_INTMAT: *v = sl_intmat_new(1, 1); return 0;
  default: *v = SL_NONE; return 0;
  }
}

/* f(v[1..3]) passes 3 arguments, as in Singular: the expression lists
 * among the argc values below sp spread in place; the new sp, or NULL
 * (error set) when the stack has no room */
static sl_value *spread_args(sl_ctx *C, sl_value *sp, int *argc) {
  int n = *argc;
  size_t total = 0;
  for (int i = 0; i < n; i++) total += sp[i - n].type == SL_T_MULTI ? sl_lv(sp[i - n])->n : 1;
  if (sp - n + total >= C->stack_end) { sl_error(C, "stack overflow in a call's arguments"); return NULL; }
  sl_value *args = sl_xmalloc((size_t)n * sizeof *args);
  memcpy(args, sp - n, (size_t)n * sizeof *args);
  sl_value *out = sp - n;
  for (int i = 0; i < n; i++) {
    if (args[i].type != SL_T_MULTI) { *out++ = args[i]; continue; }
    sl_list *l = sl_lv(args[i]);
    for (size_t j = 0; j < l->n; j++) { *out = l->v[j]; sl_retain(*out); out++; }
    sl_release(args[i]);
  }
  free(args);
  *argc = (int)total;
  return out;
}

static int sl_trace_calls;   /* TRACE's bit 1, as sl_trace_set left it */
static int execute(sl_ctx *C);

/* TRACE: "entering f (level 0)" for frame f (the innermost), or "leaving "
 * on its return, indented by its level as Singular does */
static void trace_call(sl_ctx *C, sl_frame *f, const char *what) {
  const char *name = f->code->name ? f->code->name : "?", *p;
  while ((p = strstr(name, "::"))) name = p + 2;
  int level = sl_voice(C) - 2;
  printf("%s %*s%s (level %d)\n", what, 2 * (level > 0 ? level : 0), "", name, level);
}

/* a builtin called with a value of a plugin or newstruct type first:
 * size(x), print(x), string(x), ... installed for x's newstruct type run
 * that proc (out of the VM's loop: it is rare) */
static __attribute__((noinline, cold)) int call_builtin_user(sl_ctx *C, sl_builtin *bi, int argc, sl_value *argv,
                                                             sl_value *r) {
  if (sl_struct_op(argv[0], bi->name, argc)) return sl_struct_call(C, bi->name, argc, argv, r);
  return bi->ffi ? sl_ffi_call(C, bi, argc, argv, r) : bi->fn(C, argc, argv, r);
}

/* -x by the proc installed for x's newstruct type: 1 (x replaced), 0
 * (none installed), < 0 */
static __attribute__((noinline, cold)) int neg_user(sl_ctx *C, sl_value *x) {
  sl_value r;
  int rc = sl_struct_apply(C, "-", 1, x, &r);
  if (rc <= 0) return rc;
  sl_release(*x);
  *x = r;
  return 1;
}

/* Sets up a frame for a script proc whose callee and argc arguments are
 * the top of the stack at sp. Returns the new frame, or NULL on error. */
static sl_frame *enter_proc(sl_ctx *C, sl_value *sp, int argc, int entry) {
  sl_value fn = sp[-argc - 1];
  sl_code *code = ((sl_proc *)fn.u.p)->code;
  int np = code->nparams;
  for (int i = 0; i < argc; i++)
    if (sp[i - argc].type == SL_T_MULTI) {
      sl_value *nsp = spread_args(C, sp, &argc);
      if (!nsp) { C->sp = sp; return NULL; }
      sp = nsp;
      break;
    }
  /* one list for `#` is `#` itself (Singular: g(list(1, 2)) has size(#) 2) */
  int whole = code->varargs == 1 && argc == np && sp[-1].type == SL_T_LIST;
  if (code->varargs && argc >= np - 1 && !whole) {
    sl_value rest = sl_list_new((size_t)(argc - np + 1));
    for (int i = np - 1; i < argc; i++) sl_list_push(&rest, sp[i - argc]);
    sp -= argc - (np - 1);
    *sp++ = rest;
    argc = np;
  }
  C->sp = sp;
  if (argc > np && !code->varargs) {
    /* Singular warns and drops the extra arguments */
    fflush(stdout);
    fprintf(stderr, "// ** too many arguments for %s\n", code->name);
    while (argc > np) { sl_release(*--sp); argc--; }
    C->sp = sp;
  }
  if (argc != np) {
    int need = code->varargs ? np - 1 : np;   /* `#` may be empty */
    sl_error(C, "%s: expected %s%d argument%s, got %d", code->name, code->varargs ? "at least " : "",
             need, need == 1 ? "" : "s", argc);
    return NULL;
  }
  sl_value *base = sp - argc;
  for (int i = 0; i < np; i++) {
    int t = code->ptypes[i];
    if (t != SL_T_DEF && base[i].type != (uint32_t)t) {
      char what[160];
      snprintf(what, sizeof what, "%s: argument %d (%s)", code->name, i + 1, code->pnames[i]);
      if (sl_convert(C, t, &base[i], what) < 0) return NULL;
    }
  }
  if (C->nframes >= C->maxframes) {
    sl_error(C, "recursion depth limit (%d) reached in %s", C->maxframes, code->name);
    return NULL;
  }
  if (base + code->nlocals + code->maxstack >= C->stack_end) {
    sl_error(C, "stack overflow in %s", code->name);
    return NULL;
  }
  for (int i = argc; i < code->nlocals; i++) base[i] = SL_NONE;
  sl_frame *f = &C->frames[C->nframes++];
  f->code = code;
  f->pc = code->ins;
  f->base = base;
  f->entry = entry;
  f->own = 0;
  f->argc = argc;
  C->sp = base + code->nlocals;
  if (__atomic_load_n(&sl_trace_calls, __ATOMIC_RELAXED)) {
    f->own = SL_FRAME_TRACED;
    trace_call(C, f, "entering");
  }
  return f;
}

/* a frame for top-level code (execute, LIB, eval): its result goes in
 * the slot just below sp, which the caller has pushed */
static sl_frame *enter_code(sl_ctx *C, sl_code *code, int entry, int own) {
  if (C->nframes >= C->maxframes) {
    sl_error(C, "recursion depth limit (%d) reached", C->maxframes);
    if (own) sl_code_release(code);
    return NULL;
  }
  if (C->sp + code->nlocals + code->maxstack >= C->stack_end) {
    sl_error(C, "stack overflow");
    if (own) sl_code_release(code);
    return NULL;
  }
  sl_frame *f = &C->frames[C->nframes++];
  f->code = code;
  f->pc = code->ins;
  f->base = C->sp;
  f->entry = entry;
  f->own = own ? SL_FRAME_OWN : 0;
  f->argc = 0;
  for (int i = 0; i < code->nlocals; i++) *C->sp++ = SL_NONE;
  return f;
}

int sl_print_stmt(sl_ctx *C, sl_value v) { return sl_print_out(C, v, 1); }

/* a value whose display ends with a plugin value that wants an empty line
 * after it (Singular's newstruct types with a print procedure), itself or
 * as the last entry of a list */
static int ends_blank(sl_value v) {
  for (;;) {
    int t = (int)v.type;
    if (t != SL_T_LIST && t != SL_T_MULTI) return sl_utype_ext(t)->blank_line;
    const sl_list *l = sl_lv(v);
    size_t n = l->n;
    while (n && l->v[n - 1].type == SL_T_NONE) n--;
    if (!n) return 0;
    v = l->v[n - 1];
  }
}

/* whether v's display ends with a string's own newline (read("file")
 * gives one): Singular still ends the display with a newline of its own */
static int ends_in_string_nl(sl_value v);
int sl_ends_in_string_nl(sl_value v) { return ends_in_string_nl(v); }

static int ends_in_string_nl(sl_value v) {
  for (int depth = 0; depth < 1000; depth++) {
    if (v.type == SL_T_STRING) return sl_sv(v)->len && sl_sv(v)->s[sl_sv(v)->len - 1] == '\n';
    if (v.type != SL_T_LIST && v.type != SL_T_MULTI) return 0;
    sl_list *l = sl_lv(v);
    size_t n = l->n;
    while (n && l->v[n - 1].type == SL_T_NONE) n--;
    if (!n || (v.type == SL_T_MULTI && l->v[n - 1].type == SL_T_LIST)) return 0;
    v = l->v[n - 1];
  }
  return 0;
}

/* v is a newstruct with an installed print or string proc, or a list
 * that holds one */
static int has_struct_show(sl_value v, int depth);
int sl_has_struct_show(sl_value v) { return has_struct_show(v, 0); }

static int has_struct_show(sl_value v, int depth) {
  if ((int)v.type >= SL_T_FIRST_USER) return sl_struct_op(v, "print", 1) || sl_struct_op(v, "string", 1);
  if (v.type != SL_T_LIST || depth > 1000) return 0;   /* as deep as value.c prints */
  for (size_t i = 0; i < sl_lv(v)->n; i++)
    if (has_struct_show(sl_lv(v)->v[i], depth + 1)) return 1;
  return 0;
}

static void flush_buf(sl_buf *b) {
  if (b->len) fwrite(b->s, 1, b->len, stdout);
  b->len = 0;
  fflush(stdout);
}

/* The display of v at indent ind into b, in Singular's layout, where v is
 * or holds newstructs with installed procs: a print proc prints (b is
 * written out first, then the proc runs, then an empty line follows, as
 * Singular's), a string proc gives the text. *bol: whether the output is
 * at the start of a line. */
static int show_value(sl_ctx *C, sl_value v, int ind, sl_buf *b, int *bol) {
  const sl_value *p;
  if ((p = sl_struct_op(v, "print", 1))) {
    for (int i = 0; i < ind; i++) sl_buf_add(b, " ", 1);
    flush_buf(b);
    sl_value r;
    int rc = sl_struct_call(C, "print", 1, &v, &r);
    if (rc < 0) return rc;
    sl_release(r);
    sl_buf_add(b, "\n", 1);
    *bol = 1;
    return 0;
  }
  if ((p = sl_struct_op(v, "string", 1))) {
    sl_value r;
    int rc = sl_call_value(C, *p, 1, &v, &r);
    if (rc < 0) return rc;
    if (r.type == SL_T_STRING) {
      for (int i = 0; i < ind; i++) sl_buf_add(b, " ", 1);
      sl_buf_add(b, sl_sv(r)->s, sl_sv(r)->len);
    } else {
      sl_print_value(b, v, ind);
    }
    sl_release(r);
  } else if (v.type == SL_T_LIST && has_struct_show(v, 0)) {
    sl_list *l = sl_lv(v);
    for (size_t i = 0; i < l->n; i++) {
      if (l->v[i].type == SL_T_NONE) continue;
      if (!*bol) sl_buf_add(b, "\n", 1);
      for (int j = 0; j < ind; j++) sl_buf_add(b, " ", 1);
      sl_buf_printf(b, "[%zu]:\n", i + 1);
      *bol = 1;
      int rc = show_value(C, l->v[i], ind + 3, b, bol);
      if (rc < 0) return rc;
    }
    return 0;
  } else {
    sl_print_value(b, v, ind);   /* indents itself */
  }
  *bol = b->len && b->s[b->len - 1] == '\n';
  return 0;
}

/* x; (stmt; a plugin type may want an empty line after it) and print(x)
 * (stmt 0): the display of v, written out, and `_` set. A newstruct with
 * an installed print proc shows through it (print(x) of one calls it as
 * the builtin print's installed proc, call_builtin_user) */
int sl_print_out(sl_ctx *C, sl_value v, int stmt) {
  if (v.type == SL_T_NONE) return 0;
  sl_buf b = {0};
  if (has_struct_show(v, 0)) {   /* installed print or string procs of newstructs */
    int bol = 1, rc = show_value(C, v, 0, &b, &bol);
    if (rc == 0 && !bol) sl_buf_add(&b, "\n", 1);
    flush_buf(&b);
    sl_buf_free(&b);
    if (rc < 0) return rc;
    sl_release(C->last);
    C->last = v;
    sl_retain(v);
    return 0;
  }
  sl_print_value(&b, v, 0);
  if (!b.len || b.s[b.len - 1] != '\n' || ends_in_string_nl(v)) sl_buf_add(&b, "\n", 1);
  if (stmt && ends_blank(v)) sl_buf_add(&b, "\n", 1);
  if (stmt && C->display) C->display(C, b.s, b.len);
  else fwrite(b.s, 1, b.len, stdout);
  sl_buf_free(&b);
  sl_release(C->last);
  /* "_" after an expression list is its first value (as in Singular) */
  if (v.type == SL_T_MULTI) v = sl_lv(v)->n ? sl_lv(v)->v[0] : SL_NONE;
  C->last = v;
  sl_retain(v);
  return 0;
}



static void src_line(sl_code *c, int line, sl_buf *b) {
  if (!c->text) return;
  const char *p = c->text->s, *end = p + c->text->len;
  for (int l = c->text_line0; l < line && p < end; l++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    p = nl ? nl + 1 : end;
  }
  const char *e = memchr(p, '\n', (size_t)(end - p));
  sl_buf_add(b, p, (size_t)((e ? e : end) - p));
}

int sl_no_warnings;

void sl_warn(sl_ctx *C, const char *msg, int how) {
  if (__atomic_load_n(&sl_no_warnings, __ATOMIC_RELAXED)) return;   /* --no-warn, as Singular's */
  /* every "redefining x" warning passes here: option(noredefine) */
  if (!strncmp(msg, "redefining ", 11) && !sl_option(SL_OPT_REDEFINE)) return;
  sl_buf b = {0}, t = {0};
  int line = 0;
  sl_code *c = NULL;
  if (C->nframes) {
    sl_frame *f = &C->frames[C->nframes - 1];
    c = f->code;
    int idx = (int)(f->pc - c->ins) - 1;
    line = idx >= 0 && idx < c->nins ? (int)c->lines[idx] : c->line;
    src_line(c, line, &t);
  }
  const char *text = t.s ? t.s : "";
  if (how == SL_WARN_INLINE) sl_buf_printf(&b, "// ** %s in line >>%s<<\n", msg, text);
  else if (how == SL_WARN_LINE) sl_buf_printf(&b, "// ** %s\n// ** in line >>%s<<\n", msg, text);
  else if (how == SL_WARN_TEXT) sl_buf_printf(&b, "// ** %s (%s)\n", msg, text);
  else if (how == SL_WARN_PLAIN) sl_buf_printf(&b, "// ** %s\n", msg);
  else sl_buf_printf(&b, "// ** %s (%s) %s:%d\n", msg, text, c ? c->file : "", line);
  fflush(stdout);
  fputs(b.s, stderr);
  sl_buf_free(&b);
  sl_buf_free(&t);
}

/* ---- names at run time: packages, `name`, foo(1) ----------------------- */
/* g[i] is P::x and g[i + 1] is x (a package's code): the first defined */
static sl_slot *pick(sl_slot **g, uint32_t i) {
  return sl_slot_peek(g[i], NULL) != SL_T_UNDEF ? g[i] : g[i + 1];
}

/* "`x` is undefined", or for P::x with no package P, says so */
static void undefined(sl_ctx *C, sl_slot *s) {
  const char *sep = strstr(s->name, "::");
  if (sep) {
    char pkg[256];
    snprintf(pkg, sizeof pkg, "%.*s", (int)(sep - s->name), s->name);
    sl_slot *p = sl_global_find(C->W, pkg);
    if (!p || sl_slot_peek(p, NULL) != SL_T_PACKAGE) {
      sl_error(C, "`%s`: there is no package `%s`", s->name, pkg);
      return;
    }
  }
  sl_error(C, "`%s` is undefined", s->name);
}

/* x = v for a defined global slot (v taken; decl and cur from
 * sl_slot_peek): converted to the slot's declared type, an intmat filled,
 * a plugin value's own assignment, a multi value made a list */
static int assign_global(sl_ctx *C, sl_slot *s, int decl, uint32_t cur, sl_value v) {
  int rc = 0;
  if (decl == SL_T_INTMAT && v.type != SL_T_INTMAT) {
    /* `m = 1, 2, 3;` fills the intmat m holds */
    sl_value m = sl_slot_get(s);
    rc = sl_intmat_assign(C, m, &v, s->name);
    sl_release(m);
  } else if (decl != SL_T_DEF && v.type != (uint32_t)decl) {
    rc = sl_convert(C, decl, &v, s->name);
  } else if (decl == SL_T_DEF && v.type != cur && cur != SL_T_NONE && !sl_utype_ext((int)cur)->assign) {
    sl_value c = sl_slot_get(s);   /* an intmat is filled in its shape */
    rc = sl_def_assign(C, c, &v, s->name);
    sl_release(c);
  } else if (v.type != cur && sl_utype_ext((int)cur)->assign) {
    /* a global holding a plugin value whose type converts assignments
     * (`task t; t = "f", list(1);`) */
    rc = sl_utype_assign(C, (int)cur, &v);
  } else if (decl == SL_T_DEF && v.type == SL_T_MULTI) {
    rc = sl_convert(C, SL_T_LIST, &v, s->name);
  }
  if (rc < 0) { sl_release(v); return SL_ERR; }
  sl_slot_set(s, v, -1);
  return 0;
}

/* x = v for a global slot (v taken), a package's included */
static int store_global(sl_ctx *C, sl_slot *s, sl_value v) {
  int decl;
  uint32_t cur = sl_slot_peek(s, &decl);
  if (cur == SL_T_UNDEF) { sl_release(v); undefined(C, s); return SL_ERR; }
  return assign_global(C, s, decl, cur, v);
}

/* a name given at run time (`...` in what) must be a string */
static int need_name(sl_ctx *C, sl_value name, const char *what) {
  if (name.type == SL_T_STRING) return 0;
  return sl_error(C, "%s: a name must be a string, not %s", what, sl_type_name((int)name.type));
}

/* kill of the global s (NULL: none is named so): a package's names go
 * with it */
static int kill_global(sl_ctx *C, sl_slot *s, const char *name) {
  uint32_t t = s ? sl_slot_peek(s, NULL) : SL_T_UNDEF;
  if (t == SL_T_UNDEF) return sl_error(C, "kill: `%s` is undefined", name);
  if (t == SL_T_PACKAGE) return sl_kill_package(C, s);
  sl_slot_set(s, (sl_value){.type = SL_T_UNDEF}, SL_T_DEF);
  return 0;
}

/* The global a name given at run time means in code c: P::name in the
 * package P of a library proc, if defined, else the name itself ("Top::x"
 * is x); NULL if neither exists. */
static sl_slot *named_global(sl_ctx *C, const sl_code *c, const char *name) {
  if (c && c->pkg && !strstr(name, "::")) {
    size_t n = strlen(c->pkg) + strlen(name) + 3;
    char *q = sl_xmalloc(n);
    snprintf(q, n, "%s::%s", c->pkg, name);
    sl_slot *s = sl_global_find(C->W, q);
    free(q);
    if (s && sl_slot_peek(s, NULL) != SL_T_UNDEF) return s;
  }
  return sl_global_find(C->W, !strncmp(name, "Top::", 5) ? name + 5 : name);
}

/* the local of code c named name, or -1 (never the hidden ones) */
static int named_local(const sl_code *c, const char *name) {
  if (name[0] == '(') return -1;
  for (int i = 0; c->lnames && i < c->nlocals; i++)
    if (c->lnames[i] && !strcmp(c->lnames[i], name)) return i;
  return -1;
}

sl_list *sl_named_locals(const sl_frame *f, int i) {
  const sl_code *c = f->code;
  return c->lnames && c->lnames[i] && !strcmp(c->lnames[i], SL_NAMED_LOCALS) && f->base[i].type == SL_T_LIST
             ? sl_lv(f->base[i])
             : NULL;
}

/* The run-time-named locals of frame f (SL_NAMED_LOCALS, sl.h): the list
 * of name, type, value triples, or NULL when the proc made none. The
 * frame's return releases it with the other locals. */
static sl_list *named_table(const sl_frame *f) {
  for (int i = 0; f->code->lnames && i < f->code->nlocals; i++) {
    sl_list *l = sl_named_locals(f, i);
    if (l) return l;
  }
  return NULL;
}

/* Singular's warning for a declaration that replaces a value */
static void warn_redefining(sl_ctx *C, const char *name) {
  char msg[600];
  snprintf(msg, sizeof msg, "redefining %s", name);
  sl_warn(C, msg, SL_WARN_AT);
}

/* whether a declaration of type t converts a value of type vt */
static int decl_converts(int t, uint32_t vt) {
  return (t != SL_T_DEF && vt != (uint32_t)t && vt != SL_T_NONE) || vt == SL_T_MULTI;
}

/* the index in that list of the value of f's run-time-named local name
 * (its type in *type), or -1 */
int sl_named_local(const sl_frame *f, const char *name, int *type) {
  sl_list *l = named_table(f);
  for (size_t i = 0; l && i + 3 <= l->n; i += 3)
    if (!strcmp(sl_sv(l->v[i])->s, name)) {
      if (type) *type = (int)l->v[i + 1].u.i;
      return (int)i + 2;
    }
  return -1;
}

/* int foo(i) = v; with i known only at run time (OP_DECLNAME): in a proc
 * (slot: its SL_NAMED_LOCALS local + 1) a local of the running frame, as
 * Singular makes it, else the global; v taken, converted to type t. */
static int declare_name(sl_ctx *C, sl_frame *f, int t, int slot, sl_value name, sl_value v) {
  const char *n = sl_sv(name)->s;
  if (decl_converts(t, v.type) && sl_convert(C, t == SL_T_DEF ? SL_T_LIST : t, &v, n) < 0) {
    sl_release(v);
    return SL_ERR;
  }
  if (!slot) {
    sl_slot *s = named_global(C, f->code, n);
    if (!s) s = sl_global_slot(C->W, !strncmp(n, "Top::", 5) ? n + 5 : n);
    uint32_t old = sl_slot_declare(s, v, t);
    if (old != SL_T_UNDEF && t != SL_T_PROC && old != SL_T_PROC && old != SL_T_BUILTIN) warn_redefining(C, n);
    return 0;
  }
  sl_value *tab = &f->base[slot - 1];
  if (tab->type != SL_T_LIST) { sl_release(*tab); *tab = sl_list_new(6); }
  int at = sl_named_local(f, n, NULL);
  if (at >= 0) {   /* declared again (a loop): as Singular, a warning */
    sl_list *l = sl_lv(*tab);
    l->v[at - 1] = SL_INT(t);
    sl_release(l->v[at]);
    l->v[at] = v;
    warn_redefining(C, n);
    return 0;
  }
  sl_retain(name);
  sl_list_push(tab, name);
  sl_list_push(tab, SL_INT(t));
  sl_list_push(tab, v);
  return 0;
}

/* kill of a run-time-named local of f: 1 if there was one */
static int kill_named_local(sl_frame *f, const char *name) {
  int at = sl_named_local(f, name, NULL);
  if (at < 0) return 0;
  sl_list *l = named_table(f);
  for (int k = at - 2; k <= at; k++) sl_release(l->v[k]);
  memmove(&l->v[at - 2], &l->v[at + 1], (l->n - (size_t)at - 1) * sizeof *l->v);
  l->n -= 3;
  return 1;
}

/* `expr`: the value of the variable the string names */
static int name_value(sl_ctx *C, sl_value name, sl_value *out) {
  if (need_name(C, name, "`...`") < 0) return SL_ERR;
  if (sl_lookup_name(C, sl_sv(name)->s, out) < 0) return sl_error(C, "`%s` is undefined", sl_sv(name)->s);
  return 0;
}

/* `expr` = v: a local of frame f, else a defined global (v taken) */
static int store_name(sl_ctx *C, sl_frame *f, sl_value name, sl_value v) {
  if (need_name(C, name, "`...`") < 0) { sl_release(v); return SL_ERR; }
  const char *n = sl_sv(name)->s;
  int i = named_local(f->code, n);
  if (i >= 0) {
    if (v.type == SL_T_MULTI && sl_convert(C, SL_T_LIST, &v, n) < 0) { sl_release(v); return SL_ERR; }
    sl_release(f->base[i]);
    f->base[i] = v;
    return 0;
  }
  int t;
  if ((i = sl_named_local(f, n, &t)) >= 0) {   /* int foo(i); before */
    if (((t != SL_T_DEF && v.type != (uint32_t)t) || v.type == SL_T_MULTI) &&
        sl_convert(C, t == SL_T_DEF ? SL_T_LIST : t, &v, n) < 0) { sl_release(v); return SL_ERR; }
    sl_list *l = named_table(f);
    sl_release(l->v[i]);
    l->v[i] = v;
    return 0;
  }
  sl_slot *s = named_global(C, f->code, n);
  if (!s) { sl_release(v); return sl_error(C, "`%s` is undefined", n); }
  int rc = store_global(C, s, v);
  if (rc == 0 && !strcmp(s->name, "TRACE")) sl_trace_stored(C);
  return rc;
}

/* kill `expr`: the global of that name (the proc's package first, as
 * store_name). Not a local: the compiler forgets a local's name where
 * `kill x` stands, which a name known only at run time cannot do. */
static int kill_name(sl_ctx *C, sl_frame *f, sl_value name) {
  if (need_name(C, name, "kill `...`") < 0) return SL_ERR;
  const char *n = sl_sv(name)->s;
  if (named_local(f->code, n) >= 0)
    return sl_error(C, "kill `...`: `%s` is a local of %s: kill `...` kills globals; write kill %s", n,
                    f->code->name ? f->code->name : "this proc", n);
  if (kill_named_local(f, n)) return 0;
  return kill_global(C, named_global(C, f->code, n), n);
}

/* TRACE switches the CALL entry of execute's dispatch table between the
 * call with its fast path and one that always takes enter_proc (which
 * traces), as LuaJIT switches its dispatch table for debug hooks: an
 * untraced call pays nothing for the feature. The table is process-wide,
 * as TRACE is; execute(NULL) publishes it. Past the opcodes it holds the
 * two calls: [OP_NOPS] the plain one, [OP_NOPS + 1] the traced one. */
static void **dispatch;

void sl_trace_set(int on) {
  if (!dispatch) execute(NULL);
  __atomic_store_n(&sl_trace_calls, on, __ATOMIC_RELAXED);
  __atomic_store_n(&dispatch[OP_CALL], dispatch[OP_NOPS + (on != 0)], __ATOMIC_RELAXED);
}

static int execute(sl_ctx *C) {
  static void *labels[] = {
#define X(n) &&L_##n,
    OPCODES(X)
#undef X
    &&L_CALL, &&L_CALL_TRACED
  };
  if (__builtin_expect(!C, 0)) {
    dispatch = labels;
    return 0;
  }
  sl_frame *f = &C->frames[C->nframes - 1];
  uint32_t *pc = f->pc;
  sl_value *base = f->base, *sp = C->sp;
  sl_value *k = f->code->k;
  sl_slot **g = f->code->g;
  const volatile int *pf = C->poll_flag;
  uint32_t ins;
  sl_value a, b, r;
  int rc, argc;

/* sl_trace_set may switch the CALL entry while other threads dispatch:
 * it stores an aligned pointer atomically, and a plain load of it sees
 * the old or the new entry on every target this runs on (x86-64,
 * aarch64), so a thread picks the switch up at its next call. Under
 * ThreadSanitizer the load is a relaxed atomic one, as the C model wants
 * (elsewhere that form costs 0.5 % of the instructions of a loop:
 * callgrind, 119.6M against 120.2M). */
#if defined(SP_TSAN) || defined(__SANITIZE_THREAD__)
#define DISPATCH() do { ins = *pc++; goto *__atomic_load_n(&labels[ins & 0xff], __ATOMIC_RELAXED); } while (0)
#else
#define DISPATCH() do { ins = *pc++; goto *labels[ins & 0xff]; } while (0)
#endif
#define SAVE() (f->pc = pc, C->sp = sp)
#define LOAD_FRAME() (pc = f->pc, base = f->base, k = f->code->k, g = f->code->g)
#define FAIL(...) do { SAVE(); sl_error(C, __VA_ARGS__); goto error; } while (0)
/* the flag is written by other threads (the runtime's monitor, a cancel):
 * a relaxed atomic load, the same plain load on x86, and visible to TSan */
#define POLL() do { if (__builtin_expect(__atomic_load_n(pf, __ATOMIC_RELAXED), 0)) { SAVE(); \
      if (C->poll_fn && C->poll_fn(C->poll_ud)) { sl_error(C, "cancelled"); goto error; } \
      pf = C->poll_flag; } } while (0)

  DISPATCH();

L_NONE: *sp++ = SL_NONE; DISPATCH();
L_INT: sp->type = SL_T_INT; sp->u.i = GET_SA(ins); sp++; DISPATCH();
L_CONST: *sp = k[GET_A(ins)]; sl_retain(*sp); sp++; DISPATCH();
L_LOADL: *sp = base[GET_A(ins)]; sl_retain(*sp); sp++; DISPATCH();
L_STOREL: sp--; sl_release(base[GET_A(ins)]); base[GET_A(ins)] = *sp; DISPATCH();
L_LOADG: {
  sl_slot *s = g[GET_A(ins)];
  *sp = sl_slot_get(s);
  if (sp->type == SL_T_UNDEF) { SAVE(); undefined(C, s); goto error; }
  sp++;
  DISPATCH();
}
L_LOADGP: {   /* in a package's code: P::x, else x */
  sl_slot *s = pick(g, GET_A(ins));
  *sp = sl_slot_get(s);
  if (sp->type == SL_T_UNDEF) { SAVE(); undefined(C, s); goto error; }
  sp++;
  DISPATCH();
}
L_LOADGC: L_LOADGCP: {   /* the callee foo of foo(i): when foo cannot be called, its slot */
  sl_slot *s = (ins & 0xff) == OP_LOADGCP ? pick(g, GET_A(ins)) : g[GET_A(ins)];
  *sp = sl_slot_get(s);
  if (__builtin_expect(sp->type != SL_T_PROC && sp->type != SL_T_BUILTIN, 0)) {
    sl_release(*sp);
    sp->type = SL_T_UNDEF;
    sp->pad_ = 0;
    sp->u.p = s;
  }
  sp++;
  DISPATCH();
}
L_STOREGP:
  sp--;
  SAVE();
  if (store_global(C, pick(g, GET_A(ins)), *sp) < 0) goto error;
  DISPATCH();
L_NAMEVAL:
  SAVE();
  rc = name_value(C, sp[-1], &r);
  sl_release(sp[-1]);
  sp--;
  if (rc < 0) goto error;
  *sp++ = r;
  DISPATCH();
L_STORENAME:
  SAVE();
  rc = store_name(C, f, sp[-1], sp[-2]);
  sl_release(sp[-1]);
  sp -= 2;
  if (rc < 0) goto error;
  DISPATCH();
L_STOREG: {
  sl_slot *s = g[GET_A(ins)];
  int decl;
  sp--;
  uint32_t cur = sl_slot_peek(s, &decl);
  if (cur == SL_T_UNDEF) { sl_release(*sp); FAIL("`%s` is undefined", s->name); }
  if (sp->type == cur && (decl == SL_T_DEF || sp->type == (uint32_t)decl) && cur != SL_T_MULTI) {
    sl_slot_set(s, *sp, -1);   /* nothing to convert: what assign_global would do */
    DISPATCH();
  }
  SAVE();
  if (assign_global(C, s, decl, cur, *sp) < 0) goto error;
  DISPATCH();
}
L_DECLG: {
  sl_slot *s = g[GET_A16(ins)];
  int t = GET_B8(ins);
  if (decl_converts(t, sp[-1].type)) {
    SAVE();
    if (sl_convert(C, t == SL_T_DEF ? SL_T_LIST : t, &sp[-1], s->name) < 0) goto error;
  }
  sp--;
  uint32_t old = sl_slot_declare(s, *sp, t);
  if (old != SL_T_UNDEF && t != SL_T_PROC && old != SL_T_PROC && old != SL_T_BUILTIN) {
    SAVE();
    warn_redefining(C, s->name);
  }
  DISPATCH();
}
L_CONV: {
  int t = GET_B8(ins);
  if (t == SL_T_INTMAT && sp[-1].type != SL_T_INTMAT) {
    /* a local intmat: `m = 1, 2, 3;` fills the intmat it holds */
    SAVE();
    if (sl_intmat_assign(C, base[GET_A16(ins)], &sp[-1], "variable") < 0) goto error;
  } else if (sp[-1].type != (uint32_t)t) {
    SAVE();
    sl_code *c = f->code;
    const char *nm = "";
    for (int i = 0; i < c->nparams; i++) if ((int)GET_A16(ins) == i) nm = c->pnames[i];
    if (sl_convert(C, t, &sp[-1], *nm ? nm : "variable") < 0) goto error;
  }
  DISPATCH();
}
L_CONVDEF: {   /* x = v for a def local x: v takes x's type (sl_def_assign) */
  sl_value cur = base[GET_A(ins)];
  if (cur.type != sp[-1].type && cur.type != SL_T_NONE) {
    SAVE();
    sl_code *c = f->code;
    const char *nm = c->lnames && c->lnames[GET_A(ins)] ? c->lnames[GET_A(ins)] : "variable";
    if (sl_def_assign(C, cur, &sp[-1], nm) < 0) goto error;
  }
  DISPATCH();
}
L_DEFAULT: default_value(GET_A(ins), sp); sp++; DISPATCH();
L_CHECKU: {
  const char *want = sl_sv(k[GET_A(ins)])->s;
  if (strcmp(sl_type_name((int)sp[-1].type), want)) {
    int t = sl_utype_find(want);
    if (t < 0) { SAVE(); sl_unknown_type(C, want); goto error; }
    SAVE();
    rc = sl_utype_assign(C, t, &sp[-1]);
    if (rc < 0) goto error;
    if (rc > 0) FAIL("cannot assign %s to a variable of type %s", sl_type_name((int)sp[-1].type), want);
  }
  DISPATCH();
}
L_HASU:   /* `ring r = ...;`: the type is checked before the right side runs */
  if (sl_utype_find(sl_sv(k[GET_A(ins)])->s) < 0) { SAVE(); sl_unknown_type(C, sl_sv(k[GET_A(ins)])->s); goto error; }
  DISPATCH();
L_INITU: SAVE(); if (sl_utype_init(C, sl_sv(k[GET_A(ins)])->s, &sp[-1]) < 0) goto error; DISPATCH();
L_WARN: SAVE(); sl_warn(C, sl_sv(k[GET_A16(ins)])->s, (int)GET_B8(ins)); DISPATCH();
L_POP: sp--; sl_release(*sp); DISPATCH();

#define ARITH_SLOW(op) do { SAVE(); rc = sl_arith(C, op, sp[-2], sp[-1], &r); \
    sl_release(sp[-2]); sl_release(sp[-1]); sp -= 2; \
    if (rc < 0) { goto error; } \
    *sp++ = r; } while (0)
#define CMP_SLOW(op) do { int res; SAVE(); rc = sl_compare(C, op, sp[-2], sp[-1], &res); \
    sl_release(sp[-2]); sl_release(sp[-1]); sp -= 2; \
    if (rc < 0) { goto error; } \
    *sp++ = SL_INT(res); } while (0)

L_ADD: {
  int64_t t;
  if (sp[-2].type == SL_T_INT && sp[-1].type == SL_T_INT &&
      !__builtin_add_overflow(sp[-2].u.i, sp[-1].u.i, &t)) { sp[-2].u.i = t; sp--; DISPATCH(); }
}
  ARITH_SLOW(SL_ADD); DISPATCH();
L_SUB: {
  int64_t t;
  if (sp[-2].type == SL_T_INT && sp[-1].type == SL_T_INT &&
      !__builtin_sub_overflow(sp[-2].u.i, sp[-1].u.i, &t)) { sp[-2].u.i = t; sp--; DISPATCH(); }
}
  ARITH_SLOW(SL_SUB); DISPATCH();
L_MUL: {
  int64_t t;
  if (sp[-2].type == SL_T_INT && sp[-1].type == SL_T_INT &&
      !__builtin_mul_overflow(sp[-2].u.i, sp[-1].u.i, &t)) { sp[-2].u.i = t; sp--; DISPATCH(); }
}
  ARITH_SLOW(SL_MUL); DISPATCH();
L_DIV: ARITH_SLOW(SL_DIV); DISPATCH();
L_IDIV: ARITH_SLOW(SL_IDIV); DISPATCH();
L_MOD: ARITH_SLOW(SL_MOD); DISPATCH();
L_POW: ARITH_SLOW(SL_POW); DISPATCH();

#define CMP_FAST(op, OPC) \
  if (sp[-2].type == SL_T_INT && sp[-1].type == SL_T_INT) { \
    sp[-2].u.i = sp[-2].u.i op sp[-1].u.i; sp--; DISPATCH(); } \
  CMP_SLOW(OPC); DISPATCH();
L_EQ: CMP_FAST(==, SL_EQ)
L_NE: CMP_FAST(!=, SL_NE)
L_LT: CMP_FAST(<, SL_LT)
L_LE: CMP_FAST(<=, SL_LE)
L_GT: CMP_FAST(>, SL_GT)
L_GE: CMP_FAST(>=, SL_GE)

#define IMM_SLOW(op) do { sp->type = SL_T_INT; sp->u.i = GET_SA(ins); sp++; } while (0)
L_ADDI: {
  int64_t t;
  if (sp[-1].type == SL_T_INT && !__builtin_add_overflow(sp[-1].u.i, (int64_t)GET_SA(ins), &t)) { sp[-1].u.i = t; DISPATCH(); }
}
  IMM_SLOW(); ARITH_SLOW(SL_ADD); DISPATCH();
L_SUBI: {
  int64_t t;
  if (sp[-1].type == SL_T_INT && !__builtin_sub_overflow(sp[-1].u.i, (int64_t)GET_SA(ins), &t)) { sp[-1].u.i = t; DISPATCH(); }
}
  IMM_SLOW(); ARITH_SLOW(SL_SUB); DISPATCH();
#define CMPI(op, OPC) \
  if (sp[-1].type == SL_T_INT) { sp[-1].u.i = sp[-1].u.i op GET_SA(ins); DISPATCH(); } \
  IMM_SLOW(); CMP_SLOW(OPC); DISPATCH();
L_LTI: CMPI(<, SL_LT)
L_LEI: CMPI(<=, SL_LE)
L_GTI: CMPI(>, SL_GT)
L_GEI: CMPI(>=, SL_GE)
L_EQI: CMPI(==, SL_EQ)
L_NEI: CMPI(!=, SL_NE)

L_NEG:
  if (sp[-1].type == SL_T_INT && sp[-1].u.i != INT64_MIN) { sp[-1].u.i = -sp[-1].u.i; DISPATCH(); }
  if (__builtin_expect((int)sp[-1].type >= SL_T_FIRST_USER, 0)) {   /* -x installed for a newstruct */
    SAVE();
    rc = neg_user(C, &sp[-1]);
    if (rc < 0) goto error;
    if (rc) DISPATCH();
  }
  a = sp[-1]; sp[-1] = SL_INT(0); sp[0] = a; sp++;
  ARITH_SLOW(SL_SUB); DISPATCH();
L_NOT: {
  int t;
  SAVE();
  rc = sl_truth(C, sp[-1], &t);
  sl_release(sp[-1]);
  sp--;
  if (rc < 0) goto error;
  *sp++ = SL_INT(!t);
  DISPATCH();
}
L_JMP: pc += GET_SA(ins); DISPATCH();
L_JF: L_JT: {
  int t;
  sp--;
  if (sp->type == SL_T_INT) t = sp->u.i != 0;
  else {
    SAVE();
    rc = sl_truth(C, *sp, &t);
    sl_release(*sp);
    if (rc < 0) goto error;
  }
  if (t == ((ins & 0xff) == OP_JT)) pc += GET_SA(ins);
  DISPATCH();
}
L_LOOP: POLL(); pc += GET_SA(ins); DISPATCH();

L_CALL: {
  argc = (int)GET_A(ins);
  POLL();
  a = sp[-argc - 1];
  if (a.type == SL_T_PROC) {
    /* fast path: exact argument count and types, room for the frame */
    sl_code *code = ((sl_proc *)a.u.p)->code;
    sl_value *nb = sp - argc;
    if (argc == code->nparams && !code->varargs && C->nframes < C->maxframes &&
        nb + code->nlocals + code->maxstack < C->stack_end) {
      int ok = 1;
      for (int i = 0; i < argc; i++)
        ok &= code->ptypes[i] == SL_T_DEF || nb[i].type == code->ptypes[i];
      /* an expression list for a def parameter: spread (enter_proc) */
      if (__builtin_expect(code->defparams != 0, 0))
        for (int i = 0; i < argc; i++) ok &= nb[i].type != SL_T_MULTI;
      if (__builtin_expect(ok, 1)) {
        for (int i = argc; i < code->nlocals; i++) nb[i] = SL_NONE;
        f->pc = pc;
        f = &C->frames[C->nframes++];
        f->code = code;
        f->base = nb;
        f->entry = 0;
        f->own = 0;
        f->argc = argc;
        sp = nb + code->nlocals;
        pc = code->ins;
        base = nb;
        k = code->k;
        g = code->g;
        DISPATCH();
      }
    }
  call_proc:
    f->pc = pc;
    sl_frame *nf = enter_proc(C, sp, argc, 0);
    if (!nf) { sp = C->sp; goto error; }
    f = nf;
    sp = C->sp;
    LOAD_FRAME();
    DISPATCH();
  }
call_other:
  if (a.type == SL_T_UNDEF) {   /* foo(1): the variable named so (LOADGC) */
    SAVE();
    rc = sl_call_indexed(C, a.u.p, argc, sp - argc, &r);
    for (int i = 0; i < argc; i++) sl_release(sp[-1 - i]);
    sp -= argc + 1;
    if (rc < 0) goto error;
    *sp++ = r;
    DISPATCH();
  }
  if (a.type != SL_T_BUILTIN) FAIL("a value of type %s cannot be called", sl_type_name((int)a.type));
  sl_builtin *bi = (sl_builtin *)a.u.p;
  SAVE();
  r = SL_NONE;
  C->push_code = NULL;
  if (__builtin_expect(argc && (int)sp[-argc].type >= SL_T_FIRST_USER, 0)) rc = call_builtin_user(C, bi, argc, sp - argc, &r);
  else rc = bi->ffi ? sl_ffi_call(C, bi, argc, sp - argc, &r) : bi->fn(C, argc, sp - argc, &r);
  pf = C->poll_flag;
  for (int i = 0; i <= argc; i++) sl_release(sp[-1 - i]);
  sp -= argc + 1;
  if (rc == SL_OK) {
    /* a builtin may have handled an error of a nested call: forget it */
    if (__builtin_expect(C->err != NULL, 0)) sl_clear_error(C);
    *sp++ = r;
    DISPATCH();
  }
  if (rc == SL_PUSH) {
    *sp++ = SL_NONE;
    C->sp = sp;
    sl_frame *nf = enter_code(C, C->push_code, 0, 1);
    if (!nf) goto error;
    f = nf;
    sp = C->sp;
    LOAD_FRAME();
    DISPATCH();
  }
  if (rc == SL_QUIT) goto quit;
  goto error;
}
L_CALL_TRACED:   /* TRACE on: every proc call through enter_proc */
  argc = (int)GET_A(ins);
  POLL();
  a = sp[-argc - 1];
  if (a.type == SL_T_PROC) goto call_proc;
  goto call_other;
L_RET:
  r = *--sp;
  goto do_return;
L_RET0:
  r = SL_NONE;
do_return:
  while (sp > base) sl_release(*--sp);
  sl_release(base[-1]);
  base[-1] = r;
  if (f->own) {
    if (f->own & SL_FRAME_TRACED) trace_call(C, f, "leaving ");
    if (f->own & SL_FRAME_OWN) sl_code_release(f->code);
  }
  C->nframes--;
  if (f->entry) { C->sp = sp; return SL_OK; }
  f--;
  LOAD_FRAME();
  DISPATCH();

L_INDEX:
  SAVE();
  rc = sl_index(C, sp[-2], sp[-1], &r);
  sl_release(sp[-2]); sl_release(sp[-1]); sp -= 2;
  if (rc < 0) goto error;
  *sp++ = r;
  DISPATCH();
L_INDEXL:
  SAVE();
  rc = sl_index(C, base[GET_A(ins)], sp[-1], &r);
  sl_release(sp[-1]);
  sp--;
  if (rc < 0) goto error;
  *sp++ = r;
  DISPATCH();
L_INDEX2:
  SAVE();
  rc = sl_index2(C, sp[-3], sp[-2], sp[-1], &r);
  sl_release(sp[-3]); sl_release(sp[-2]); sl_release(sp[-1]); sp -= 3;
  if (rc < 0) goto error;
  *sp++ = r;
  DISPATCH();
L_SETINDEXL:
  SAVE();
  rc = sl_setindex(C, &base[GET_A(ins)], sp[-1], sp[-2]);
  sl_release(sp[-1]);
  sp -= 2;
  if (rc < 0) goto error;
  DISPATCH();
L_SETINDEXG: {
  sl_slot *s = g[GET_A(ins)];
  SAVE();
  while (atomic_load_explicit(&sl_threaded, memory_order_relaxed) && atomic_exchange_explicit(&s->lock, 1, memory_order_acquire)) {}
  if (s->val.type == SL_T_UNDEF) {
    atomic_store_explicit(&s->lock, 0, memory_order_release);
    sl_release(sp[-1]); sl_release(sp[-2]); sp -= 2;
    FAIL("`%s` is undefined", s->name);
  }
  sl_slot_write_begin(s);
  rc = sl_setindex(C, &s->val, sp[-1], sp[-2]);
  sl_slot_write_end(s);
  atomic_store_explicit(&s->lock, 0, memory_order_release);
  sl_release(sp[-1]);
  sp -= 2;
  if (rc < 0) goto error;
  DISPATCH();
}
L_MEMBER:
  SAVE();
  rc = sl_member(C, sp[-1], sl_sv(k[GET_A(ins)])->s, &r);
  sl_release(sp[-1]);
  if (rc < 0) { sp--; goto error; }
  sp[-1] = r;
  DISPATCH();
L_SETPATHL: L_SETPATHG: {
  /* value, keys, mask: p.x = v, s.b.x = v, m[i, j] = v, l[2].x = v */
  int nk = GET_B8(ins), kinds[8];
  int64_t mask = sp[-1].u.i;
  int ne = (int)(mask & 63);
  for (int e = 0; e < ne; e++) kinds[e] = (int)(mask >> (6 + 2 * e)) & 3;
  sl_value x = sp[-nk - 2], *keys = sp - nk - 1;
  SAVE();
  if ((ins & 0xff) == OP_SETPATHL) {
    rc = sl_setpath(C, &base[GET_A16(ins)], ne, kinds, keys, x);
  } else {
    sl_slot *s = g[GET_A16(ins)];
    while (atomic_load_explicit(&sl_threaded, memory_order_relaxed) && atomic_exchange_explicit(&s->lock, 1, memory_order_acquire)) {}
    if (s->val.type == SL_T_UNDEF) {
      sl_release(x);
      rc = sl_error(C, "`%s` is undefined", s->name);
    } else {
      sl_slot_write_begin(s);
      rc = sl_setpath(C, &s->val, ne, kinds, keys, x);
      sl_slot_write_end(s);
    }
    atomic_store_explicit(&s->lock, 0, memory_order_release);
  }
  for (int i = 0; i < nk; i++) sl_release(keys[i]);
  sp -= nk + 2;
  if (rc < 0) goto error;
  DISPATCH();
}
L_RANGE: {
  a = sp[-2]; b = sp[-1];
  if (a.type != SL_T_INT || b.type != SL_T_INT) {
    sl_release(a); sl_release(b); sp -= 2;
    FAIL("`..`: both ends of a range must be int, not %s and %s", sl_type_name((int)a.type), sl_type_name((int)b.type));
  }
  uint64_t span = a.u.i <= b.u.i ? (uint64_t)b.u.i - (uint64_t)a.u.i : (uint64_t)a.u.i - (uint64_t)b.u.i;
  if (span >= sl_limits.elems) {
    sp -= 2;
    FAIL("`..`: range %lld..%lld too large (the limit is %zu entries)", (long long)a.u.i, (long long)b.u.i, sl_limits.elems);
  }
  int64_t n = (int64_t)span + 1;
  r = sl_intvec_new((size_t)n);
  for (int64_t i = 0; i < n; i++) sl_iv(r)->v[i] = a.u.i <= b.u.i ? a.u.i + i : a.u.i - i;
  sp -= 2;
  *sp++ = r;
  DISPATCH();
}
L_MULTI:
  argc = (int)GET_A(ins);
  SAVE();
  rc = sl_flatten(C, argc, sp - argc, &r);
  for (int i = 0; i < argc; i++) sl_release(sp[-1 - i]);
  sp -= argc;
  if (rc < 0) goto error;
  *sp++ = r;
  DISPATCH();
L_UNPACK: {
  argc = (int)GET_A(ins);
  a = *--sp;
  size_t n = a.type == SL_T_MULTI ? sl_lv(a)->n : 1;
  if (n != (size_t)argc) {
    sl_release(a);
    FAIL("expected %d values to assign, got %zu", argc, n);
  }
  for (int i = 0; i < argc; i++) { *sp = sl_lv(a)->v[i]; sl_retain(*sp); sp++; }
  sl_release(a);
  DISPATCH();
}
L_PRINT:
  a = *--sp;
  SAVE();
  rc = sl_print_stmt(C, a);
  sl_release(a);
  if (rc < 0) goto error;
  DISPATCH();
L_DEFINEDL:   /* defined(x): local x (B) if it holds a value, else global (A16) */
  *sp++ = SL_INT(base[GET_B8(ins)].type != SL_T_NONE || sl_slot_peek(g[GET_A16(ins)], NULL) != SL_T_UNDEF);
  DISPATCH();
L_DEFINEDG: {   /* defined(foo(1)) may mean a local declared as foo(i) */
  sl_slot *s = g[GET_A(ins)];
  *sp++ = SL_INT(sl_slot_peek(s, NULL) != SL_T_UNDEF || sl_named_local(f, s->name, NULL) >= 0);
  DISPATCH();
}
L_KILLL: sl_release(base[GET_A(ins)]); base[GET_A(ins)] = SL_NONE; DISPATCH();
L_QBIND: {   /* a quote that takes A values when made (compile.c cquote): a copy with them */
  int nv = (int)GET_A(ins);
  sl_quote *tq = (sl_quote *)sp[-1].u.p;
  sl_quote *q = sl_alloc_obj(sizeof *q, SL_T_QUOTE);
  q->code = sl_code_bind(tq->code, sp - 1 - nv);
  q->src = tq->src;
  sl_retain(SL_OBJ(SL_T_STRING, q->src));
  for (int i = 0; i <= nv; i++) sl_release(sp[-1 - i]);
  sp -= nv + 1;
  *sp++ = SL_OBJ(SL_T_QUOTE, q);
  DISPATCH();
}
L_DEFINEDNAME: {
  SAVE();
  rc = need_name(C, sp[-1], "defined(`...`)");
  int found = rc == 0 && sl_lookup_name(C, sl_sv(sp[-1])->s, &r) == 0;
  if (found) sl_release(r);
  sl_release(sp[-1]);
  sp[-1] = SL_INT(found);
  if (rc < 0) goto error;
  DISPATCH();
}
L_KILLNAME:
  SAVE();
  rc = kill_name(C, f, sp[-1]);
  sl_release(sp[-1]);
  sp--;
  if (rc < 0) goto error;
  DISPATCH();
L_KILLG:
  SAVE();
  if (sl_slot_peek(g[GET_A(ins)], NULL) == SL_T_UNDEF && kill_named_local(f, g[GET_A(ins)]->name)) DISPATCH();
  if (kill_global(C, g[GET_A(ins)], g[GET_A(ins)]->name) < 0) goto error;
  DISPATCH();
L_DECLNAME:
  SAVE();
  rc = declare_name(C, f, (int)GET_B8(ins), (int)GET_A16(ins), sp[-1], sp[-2]);
  sl_release(sp[-1]);
  sp -= 2;
  if (rc < 0) goto error;
  DISPATCH();
L_LAST: *sp = C->last; sl_retain(*sp); sp++; DISPATCH();
L_QUIT:
  a = *--sp;
  C->quit_code = a.type == SL_T_INT ? (int)a.u.i : 0;
  sl_release(a);
  goto quit;
L_LIB:
  a = *--sp;
  SAVE();
  C->push_code = NULL;
  rc = sl_lib(C, "LIB", a);
  sl_release(a);
  *sp++ = SL_NONE;
  if (rc < 0) goto error;
  if (C->push_code) {
    C->sp = sp;
    sl_frame *nf = enter_code(C, C->push_code, 0, 1);
    if (!nf) goto error;
    f = nf;
    sp = C->sp;
    LOAD_FRAME();
  }
  DISPATCH();

error:
  locate_error(C, &C->frames[C->nframes - 1], C->frames[C->nframes - 1].pc);
  unwind(C, sp);
  return SL_ERR;
quit:
  unwind(C, sp);
  return SL_QUIT;
}

int sl_voice(sl_ctx *C) {
  int v = 1;
  for (int i = 0; i < C->nframes; i++) v += C->frames[i].code->src != NULL;
  return v;
}

int sl_lookup_name(sl_ctx *C, const char *name, sl_value *out) {
  const sl_code *c = NULL;
  if (C->nframes) {
    sl_frame *f = &C->frames[C->nframes - 1];
    c = f->code;
    int i = named_local(c, name);
    if (i >= 0) {
      *out = f->base[i];
      sl_retain(*out);
      return 0;
    }
    if ((i = sl_named_local(f, name, NULL)) >= 0) {
      *out = named_table(f)->v[i];
      sl_retain(*out);
      return 0;
    }
  }
  sl_slot *s = named_global(C, c, name);
  if (!s) return -1;
  *out = sl_slot_get(s);
  return out->type == SL_T_UNDEF ? -1 : 0;
}

int sl_run(sl_ctx *C, sl_code *code, sl_value *ret) {
  *ret = SL_NONE;
  if (C->sp + 1 >= C->stack_end) return sl_error(C, "stack overflow");
  *C->sp++ = SL_NONE;
  if (!enter_code(C, code, 1, 0)) { C->sp--; return SL_ERR; }
  int rc = execute(C);
  if (rc == SL_OK) *ret = *--C->sp;
  return rc;
}

int sl_call_value(sl_ctx *C, sl_value fn, int argc, const sl_value *argv, sl_value *ret) {
  *ret = SL_NONE;
  if (C->sp + argc + 1 >= C->stack_end) return sl_error(C, "stack overflow");
  if (fn.type == SL_T_BUILTIN) {
    sl_builtin *bi = (sl_builtin *)fn.u.p;
    sl_value *args = C->sp;
    for (int i = 0; i < argc; i++) { args[i] = argv[i]; sl_retain(args[i]); }
    C->sp += argc;
    C->push_code = NULL;
    int rc = bi->ffi ? sl_ffi_call(C, bi, argc, args, ret) : bi->fn(C, argc, args, ret);
    for (int i = 0; i < argc; i++) sl_release(args[i]);
    C->sp = args;
    if (rc == SL_PUSH) return sl_run(C, C->push_code, ret) == SL_OK ? (sl_code_release(C->push_code), SL_OK) : (sl_code_release(C->push_code), SL_ERR);
    return rc;
  }
  if (fn.type == SL_T_QUOTE) return sl_run(C, ((sl_quote *)fn.u.p)->code, ret);
  if (fn.type != SL_T_PROC)
    return sl_error(C, "a value of type %s cannot be called", sl_type_name((int)fn.type));
  sl_value *sp = C->sp;
  sl_retain(fn);
  *sp++ = fn;
  for (int i = 0; i < argc; i++) { *sp = argv[i]; sl_retain(*sp); sp++; }
  C->sp = sp;
  if (!enter_proc(C, sp, argc, 1)) {
    while (C->sp > sp - argc - 1) sl_release(*--C->sp);
    return SL_ERR;
  }
  int rc = execute(C);
  if (rc == SL_OK) *ret = *--C->sp;
  return rc;
}
