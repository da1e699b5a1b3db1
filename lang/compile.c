/* compile.c: syntax tree -> bytecode. Locals of a proc are resolved to
 * frame slots here; every other name becomes a pointer to its global slot,
 * kept in the code object (so a global lookup at run time is one load). */
#include <stdlib.h>
#include <string.h>
#include "ast.h"
#include "opcodes.h"
#include "sl.h"

/* utk: for a local declared with a plugin type (`task t`), the constant
 * holding the type's name (stores to it go through OP_CHECKU); else -1 */
typedef struct local { char *name; int slot; int type; int utk; } local;
typedef struct loop { int *brk; int nbrk; int *cont; int ncont; int cont_target; } loop;

typedef struct comp {
  sl_ctx *C;
  sl_code *code;
  int cap_ins, cap_k, cap_g;
  int depth, line;
  int in_proc;
  local *loc; int nloc, caploc;
  loop *loops; int nloops;
  char *err; int errline;
  const char *pkg;    /* package of the code (proc P::f), NULL for Top */
  const char *self;   /* the proc's own name without its package */
  const char *libpkg; /* a library's package (Foo of foo.lib): its procs are Foo::f too
                       * (inherited by the comps of its procs and quotes) */
  char **statics; int nstatics; /* a library's static procs: Foo::f only, and
                                 * f in the library's code means Foo::f
                                 * (shared by its procs' comps) */
  char **procs; int nprocs;     /* every proc the library defines (shared) */
  sl_node *top;      /* the top-level statement being compiled, and */
  int top_first;     /* whether it is the text's first statement */
  int top_last;      /* whether it is the text's last: an if there with no
                      * else records its condition for an else that comes
                      * as the next text's first statement (Singular's
                      * else on a later line of the REPL or piped stdin) */
  struct dfix { int at; char *name; } *dfix; int ndfix; /* defined(x) in a proc
                          * before any local x: DEFINEDG at `at`, which
                          * becomes DEFINEDL if the proc declares x later */
  int *gix; int gix_cap; /* once code->g is long: slot -> its first index
                          * (open addressing, -1 empty), so a script that
                          * declares 100,000 names compiles in linear time */
} comp;

static const int op_delta[OP_NOPS] = {
  [OP_NONE] = 1, [OP_CONVDEF] = 0, [OP_INT] = 1, [OP_CONST] = 1, [OP_LOADL] = 1, [OP_STOREL] = -1,
  [OP_LOADG] = 1, [OP_STOREG] = -1, [OP_DECLG] = -1, [OP_POP] = -1,
  [OP_ADD] = -1, [OP_SUB] = -1, [OP_MUL] = -1, [OP_DIV] = -1, [OP_IDIV] = -1,
  [OP_MOD] = -1, [OP_POW] = -1, [OP_EQ] = -1, [OP_NE] = -1, [OP_LT] = -1,
  [OP_LE] = -1, [OP_GT] = -1, [OP_GE] = -1, [OP_JF] = -1, [OP_JT] = -1,
  [OP_RET] = -1, [OP_INDEX] = -1, [OP_INDEXL] = 0, [OP_INDEX2] = -2, [OP_SETINDEXL] = -2,
  [OP_SETINDEXG] = -2, [OP_RANGE] = -1, [OP_PRINT] = -1, [OP_DEFINEDG] = 1, [OP_DEFINEDL] = 1,
  [OP_LAST] = 1, [OP_QUIT] = -1, [OP_LIB] = 0, [OP_DEFAULT] = 1,
  [OP_LOADGP] = 1, [OP_STOREGP] = -1, [OP_LOADGC] = 1, [OP_LOADGCP] = 1,
  [OP_NAMEVAL] = 0, [OP_STORENAME] = -2, [OP_KILLNAME] = -1, [OP_DEFINEDNAME] = 0,
  [OP_DECLNAME] = -2,
};

static void *cerr(comp *cp, int line, const char *fmt, const char *arg) {
  if (cp->err) return NULL;
  sl_buf b = {0};
  sl_buf_printf(&b, fmt, arg);
  cp->err = b.s;
  cp->errline = line;
  return NULL;
}

static int emit(comp *cp, uint32_t ins) {
  sl_code *c = cp->code;
  if (c->nins == cp->cap_ins) {
    cp->cap_ins = cp->cap_ins ? cp->cap_ins * 2 : 64;
    c->ins = sl_xrealloc(c->ins, (size_t)cp->cap_ins * sizeof *c->ins);
    c->lines = sl_xrealloc(c->lines, (size_t)cp->cap_ins * sizeof *c->lines);
  }
  int op = GET_OP(ins);
  int d = op_delta[op];
  if (op == OP_CALL || op == OP_QBIND) d = -(int)GET_A(ins);
  else if (op == OP_MULTI) d = 1 - (int)GET_A(ins);
  else if (op == OP_UNPACK) d = (int)GET_A(ins) - 1;
  else if (op == OP_SETPATHL || op == OP_SETPATHG) d = -(int)GET_B8(ins) - 2;
  cp->depth += d;
  if (cp->depth > c->maxstack) c->maxstack = cp->depth;
  c->lines[c->nins] = (uint32_t)cp->line;
  c->ins[c->nins] = ins;
  return c->nins++;
}

static int add_const(comp *cp, sl_value v) {
  sl_code *c = cp->code;
  if (c->nk == cp->cap_k) {
    cp->cap_k = cp->cap_k ? cp->cap_k * 2 : 8;
    c->k = sl_xrealloc(c->k, (size_t)cp->cap_k * sizeof *c->k);
  }
  c->k[c->nk] = v;
  return c->nk++;
}

/* ---- the code's table of global slots (code->g) ---- */
static unsigned slot_hash(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 17;
  x *= 0x9E3779B97F4A7C15ull;
  return (unsigned)(x >> 32);
}

/* record g[i] in the index unless an earlier entry holds its slot */
static void gix_put(comp *cp, int i) {
  sl_slot *s = cp->code->g[i];
  unsigned m = (unsigned)cp->gix_cap - 1;
  for (unsigned h = slot_hash(s) & m;; h = (h + 1) & m) {
    int k = cp->gix[h];
    if (k < 0) { cp->gix[h] = i; return; }
    if (cp->code->g[k] == s) return;
  }
}

static void gix_build(comp *cp, int cap) {
  free(cp->gix);
  cp->gix = sl_xmalloc((size_t)cap * sizeof *cp->gix);
  cp->gix_cap = cap;
  for (int h = 0; h < cap; h++) cp->gix[h] = -1;
  for (int i = 0; i < cp->code->ng; i++) gix_put(cp, i);
}

/* the first entry of g holding s, or -1 */
static int g_find(comp *cp, sl_slot *s) {
  sl_code *c = cp->code;
  if (!cp->gix) {
    for (int i = 0; i < c->ng; i++)
      if (c->g[i] == s) return i;
    return -1;
  }
  unsigned m = (unsigned)cp->gix_cap - 1;
  for (unsigned h = slot_hash(s) & m;; h = (h + 1) & m) {
    int k = cp->gix[h];
    if (k < 0) return -1;
    if (c->g[k] == s) return k;
  }
}

static void g_append(comp *cp, sl_slot *s) {
  sl_code *c = cp->code;
  if (c->ng == cp->cap_g) {
    cp->cap_g = cp->cap_g ? cp->cap_g * 2 : 8;
    c->g = sl_xrealloc(c->g, (size_t)cp->cap_g * sizeof *c->g);
  }
  c->g[c->ng++] = s;
  if (cp->gix && 2 * c->ng <= cp->gix_cap) gix_put(cp, c->ng - 1);
  else if (c->ng > 32) gix_build(cp, cp->gix_cap ? 2 * cp->gix_cap : 256);
}

static int global_ref(comp *cp, const char *name) {
  sl_slot *s = sl_global_slot(cp->C->W, name);
  int i = g_find(cp, s);
  if (i >= 0) return i;
  g_append(cp, s);
  return cp->code->ng - 1;
}

static local *find_local(comp *cp, const char *name) {
  for (int i = cp->nloc - 1; i >= 0; i--)
    if (!strcmp(cp->loc[i].name, name)) return &cp->loc[i];
  return NULL;
}

static void add_node(sl_nodes *l, sl_node *n) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 4;
    l->v = sl_xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
  }
  l->v[l->n++] = n;
}

/* ---- global names and packages ----------------------------------------- */
static char *cat3(const char *a, const char *b, const char *c) {
  size_t x = strlen(a), y = strlen(b), z = strlen(c);
  char *s = sl_xmalloc(x + y + z + 1);
  memcpy(s, a, x);
  memcpy(s + x, b, y);
  memcpy(s + x + y, c, z + 1);
  return s;
}

/* name is a builtin (size, print, ...) that the library being compiled
 * does not define as a proc of its own: code in a package calls it
 * without looking for P::name first */
static int is_builtin(comp *cp, const char *name) {
  sl_slot *s = sl_global_find(cp->C->W, name);
  if (!s || sl_slot_peek(s, NULL) != SL_T_BUILTIN) return 0;
  for (int i = 0; i < cp->nprocs; i++)
    if (!strcmp(cp->procs[i], name)) return 0;
  return 1;
}

/* The slot name for a global name of the source (malloc'ed): Top::x is x,
 * Current::x is x of the package being compiled, P::x stays. In the code
 * of a package P an unqualified x is P::x when that is defined, else x:
 * *alt gets "x" and the caller decides at run time (a pair of slots); the
 * proc's own name and Current are P's. Without alt the choice is made now. */
static int lib_static(const comp *cp, const char *name) {   /* a static proc of this library */
  for (int i = 0; i < cp->nstatics; i++)
    if (!strcmp(cp->statics[i], name)) return 1;
  return 0;
}

static char *gname(comp *cp, const char *name, char **alt) {
  if (alt) *alt = NULL;
  if (lib_static(cp, name)) return cat3(cp->libpkg, "::", name);
  if (!strncmp(name, "Top::", 5)) return strdup(name + 5);
  if (!strncmp(name, "Current::", 9)) return cp->pkg ? cat3(cp->pkg, "::", name + 9) : strdup(name + 9);
  if (!cp->pkg || strstr(name, "::")) return strdup(name);
  if (!strcmp(name, "Current")) return strdup(cp->pkg);
  if (is_builtin(cp, name)) return strdup(name);   /* no package has its own */
  char *q = cat3(cp->pkg, "::", name);
  if (cp->self && !strcmp(name, cp->self)) return q;
  if (alt) { *alt = sl_xstrdup(name); return q; }
  sl_slot *s = sl_global_find(cp->C->W, q);
  if (s && sl_slot_peek(s, NULL) != SL_T_UNDEF) return q;
  free(q);
  return strdup(name);
}

/* a global_ref for the name as the source writes it (choice made now) */
static int gref(comp *cp, const char *name) {
  char *n = gname(cp, name, NULL);
  int i = global_ref(cp, n);
  free(n);
  return i;
}

/* two adjacent entries of g: P::x, then x (the VM takes the first that is
 * defined) */
static int gref_pair(comp *cp, const char *a, const char *b) {
  sl_code *c = cp->code;
  sl_slot *sa = sl_global_slot(cp->C->W, a), *sb = sl_global_slot(cp->C->W, b);
  for (int i = 0; i + 1 < c->ng; i++)
    if (c->g[i] == sa && c->g[i + 1] == sb) return i;
  int i = c->ng;
  g_append(cp, sa);
  g_append(cp, sb);
  return i;
}

/* emits op (or opp, the pair form, in a package's code) for a global */
static void emit_global(comp *cp, int op, int opp, const char *name) {
  char *alt, *n = gname(cp, name, &alt);
  if (alt) emit(cp, INS_A(opp, gref_pair(cp, n, alt)));
  else emit(cp, INS_A(op, global_ref(cp, n)));
  free(n);
  free(alt);
}

static void fix_defined(comp *cp, const char *name, int slot);

static local *new_local(comp *cp, const char *name, int type) {
  local *l = find_local(cp, name);
  if (l) { l->type = type; l->utk = -1; return l; }
  if (cp->ndfix) fix_defined(cp, name, cp->code->nlocals);
  if (cp->nloc == cp->caploc) {
    cp->caploc = cp->caploc ? cp->caploc * 2 : 8;
    cp->loc = sl_xrealloc(cp->loc, (size_t)cp->caploc * sizeof *cp->loc);
  }
  l = &cp->loc[cp->nloc++];
  l->name = sl_xstrdup(name);
  l->slot = cp->code->nlocals++;
  l->type = type;
  l->utk = -1;
  return l;
}

static void patch(comp *cp, int at, int target) {
  uint32_t *ins = &cp->code->ins[at];
  *ins = INS_A(GET_OP(*ins), (uint32_t)(target - (at + 1)) & 0xffffff);
}

static int fits24(int64_t v) { return v >= -(1 << 23) && v < (1 << 23); }

static int cexpr(comp *cp, sl_node *n);
static int cstmt(comp *cp, sl_node *n);

static int cint(comp *cp, int64_t v) {
  if (fits24(v)) return emit(cp, INS_A(OP_INT, (uint32_t)v & 0xffffff)), 0;
  emit(cp, INS_A(OP_CONST, add_const(cp, SL_INT(v))));
  return 0;
}

/* an expression list: one value on the stack (an expression list value
 * when it holds more than one expression, or force is set) */
static int cexprlist(comp *cp, sl_nodes *l, int force) {
  for (int i = 0; i < l->n; i++)
    if (cexpr(cp, l->v[i]) < 0) return -1;
  if (l->n > 1 || force) emit(cp, INS_A(OP_MULTI, l->n));
  return 0;
}

static int imm_op(int op) {
  switch (op) {
  case SL_ADD: return OP_ADDI;
  case SL_SUB: return OP_SUBI;
  case SL_LT: return OP_LTI;
  case SL_LE: return OP_LEI;
  case SL_GT: return OP_GTI;
  case SL_GE: return OP_GEI;
  case SL_EQ: return OP_EQI;
  case SL_NE: return OP_NEI;
  default: return -1;
  }
}

static int cbinop(comp *cp, sl_node *n) {
  if (cexpr(cp, n->a) < 0) return -1;
  if (n->b->kind == N_INT && fits24(n->b->ival) && imm_op(n->op) >= 0) {
    cp->line = n->line;
    emit(cp, INS_A(imm_op(n->op), (uint32_t)n->b->ival & 0xffffff));
    return 0;
  }
  if (cexpr(cp, n->b) < 0) return -1;
  cp->line = n->line;
  emit(cp, INS_A(OP_ADD + n->op, 0));
  return 0;
}

/* a && b, a || b: short-circuit, the result is 0 or 1 */
static int clogic(comp *cp, sl_node *n) {
  int jop = n->kind == N_AND ? OP_JF : OP_JT;
  if (cexpr(cp, n->a) < 0) return -1;
  int j1 = emit(cp, INS_A(jop, 0));
  if (cexpr(cp, n->b) < 0) return -1;
  int j2 = emit(cp, INS_A(jop, 0));
  cint(cp, n->kind == N_AND ? 1 : 0);
  int j3 = emit(cp, INS_A(OP_JMP, 0));
  cp->depth--;
  patch(cp, j1, cp->code->nins);
  patch(cp, j2, cp->code->nins);
  cint(cp, n->kind == N_AND ? 0 : 1);
  patch(cp, j3, cp->code->nins);
  return 0;
}

static int cname(comp *cp, sl_node *n) {
  local *l = cp->in_proc ? find_local(cp, n->str) : NULL;
  if (l) { emit(cp, INS_A(OP_LOADL, l->slot)); return 0; }
  if (!strcmp(n->str, "timer") || !strcmp(n->str, "rtimer") || !strcmp(n->str, "voice")) {
    emit(cp, INS_A(OP_LOADG, global_ref(cp, n->str)));
    emit(cp, INS_A(OP_CALL, 0));
    return 0;
  }
  emit_global(cp, OP_LOADG, OP_LOADGP, n->str);
  return 0;
}

sl_code *sl_compile_quote(comp *cp, sl_node *e, int ncaps);

static int indexed_names(comp *cp, sl_node *n, char ***out);
static int cexportto(comp *cp, sl_node *pkg, sl_nodes *names, int from, int line);

static void free_names(char **v, int k) {
  for (int i = 0; i < k; i++) free(v[i]);
  free(v);
}

/* foo(i) where foo is a global name: a proc or builtin is called; else
 * (foo undefined, or not callable) the variable named "foo(i)" is read,
 * as in Singular. A local foo(1) with a constant index is found here. */
static int ccall_name(comp *cp, sl_node *n) {
  if (cp->in_proc && n->kids.n == 1) {
    char **nm;
    int k = indexed_names(cp, n, &nm);
    local *l = k == 1 ? find_local(cp, nm[0]) : NULL;
    if (k > 0) free_names(nm, k);
    if (l) { emit(cp, INS_A(OP_LOADL, l->slot)); return 1; }
  }
  emit_global(cp, OP_LOADGC, OP_LOADGCP, n->a->str);
  return 0;
}

/* branchTo("type", ..., p) in a proc (Singular's, which methods.lib's
 * installMethod writes): when the proc's arguments are of those types
 * (typeof; "def" is any), the proc returns p's result on them at once;
 * else nothing happens. The arguments are the proc's `#`, or the hidden
 * "(args)" a proc without parameters keeps for it (cprocdef) */
static int cbranchto(comp *cp, sl_node *n) {
  local *args = find_local(cp, "(args)");
  if (!args && cp->code->varargs) args = find_local(cp, "#");
  if (!args) return cerr(cp, n->line, "branchTo: only in a proc without parameters, or with `#`%s", ""), -1;
  if (n->kids.n < 1) return cerr(cp, n->line, "branchTo: expected type names and a proc%s", ""), -1;
  emit(cp, INS_A(OP_LOADG, global_ref(cp, "(branchTo)")));
  emit(cp, INS_A(OP_LOADL, args->slot));
  for (int i = 0; i < n->kids.n; i++)
    if (cexpr(cp, n->kids.v[i]) < 0) return -1;
  cp->line = n->line;
  emit(cp, INS_A(OP_CALL, n->kids.n + 1));
  int j = emit(cp, INS_A(OP_JF, 0));
  emit(cp, INS_A(OP_LOADG, global_ref(cp, "(branch result)")));
  emit(cp, INS_A(OP_CALL, 0));
  emit(cp, INS_A(OP_RET, 0));
  cp->depth++;   /* RET took the result; the other path goes on with none */
  patch(cp, j, cp->code->nins);
  emit(cp, INS_A(OP_NONE, 0));
  cp->depth--;
  return 0;
}

static int ccall(comp *cp, sl_node *n) {
  int multi = n->a->kind == N_NAME && !strcmp(n->a->str, "(list)");
  int byname = !multi && n->a->kind == N_NAME && !(cp->in_proc && find_local(cp, n->a->str)) &&
               strcmp(n->a->str, "timer") && strcmp(n->a->str, "rtimer") && strcmp(n->a->str, "voice");
  if (byname && !strcmp(n->a->str, "exportto"))
    return cexportto(cp, n->kids.n ? n->kids.v[0] : NULL, &n->kids, 1, n->line);
  if (byname && !strcmp(n->a->str, "branchTo")) {
    if (!cp->in_proc) return cerr(cp, n->line, "branchTo can only occur in a proc%s", ""), -1;
    return cbranchto(cp, n);
  }
  if (byname && !strcmp(n->a->str, "nameof") && n->kids.n == 1 && n->kids.v[0]->kind == N_NAME &&
      !strchr(n->kids.v[0]->str, ':') && strcmp(n->kids.v[0]->str, "Current")) {
    /* nameof(x) of a name is the name, as Singular's (a variable, a
     * parameter, a def, a proc, a package; defined or not); nameof of
     * anything else asks the value (a proc's name, Current's package) */
    emit(cp, INS_A(OP_CONST, add_const(cp, sl_str(n->kids.v[0]->str))));
    return 0;
  }
  if (byname && !strcmp(n->a->str, "print") && n->kids.n == 2 && n->kids.v[0]->kind == N_NAME) {
    /* print(x, fmt) of a variable: "%t" names x, as Singular's */
    emit(cp, INS_A(OP_LOADG, global_ref(cp, "(print named)")));
    emit(cp, INS_A(OP_CONST, add_const(cp, sl_str(n->kids.v[0]->str))));
    if (cexpr(cp, n->kids.v[0]) < 0 || cexpr(cp, n->kids.v[1]) < 0) return -1;
    cp->line = n->line;
    emit(cp, INS_A(OP_CALL, 3));
    return 0;
  }
  if (byname) {
    int r = ccall_name(cp, n);
    if (r) return r < 0 ? -1 : 0;
  } else if (!multi && cexpr(cp, n->a) < 0) return -1;
  for (int i = 0; i < n->kids.n; i++)
    if (cexpr(cp, n->kids.v[i]) < 0) return -1;
  cp->line = n->line;
  if (n->kids.n > 255) return cerr(cp, n->line, "too many arguments%s", ""), -1;
  emit(cp, INS_A(multi ? OP_MULTI : OP_CALL, n->kids.n));
  return 0;
}

/* What a quote takes when it is made, as Singular's: eval(e) inside it
 * is e's value at that moment (quote(f(eval(x))) sends f(3) to a forked
 * link), and so is a local of the proc the quote is in (Singular's child
 * has a copy of the proc's locals; the quote's code cannot see them).
 * Nested quotes, defined(...) and x++ keep their names. */
typedef struct captures { sl_node **v; int n, cap; } captures;

static void find_captures(comp *cp, sl_node *n, captures *out) {
  if (!n) return;
  switch (n->kind) {
  case N_QUOTE: case N_DEFINED: case N_INCDEC: case N_CAPTURE: return;
  case N_CALL:
    if (n->a && n->a->kind == N_NAME && !strcmp(n->a->str, "eval") && n->kids.n == 1) break;
    if (n->a && n->a->kind != N_NAME) find_captures(cp, n->a, out);
    for (int i = 0; i < n->kids.n; i++) find_captures(cp, n->kids.v[i], out);
    return;
  case N_NAME:
    if (cp->in_proc && find_local(cp, n->str)) break;
    return;
  default:
    find_captures(cp, n->a, out);
    find_captures(cp, n->b, out);
    find_captures(cp, n->c, out);
    find_captures(cp, n->d, out);
    for (int i = 0; i < n->kids.n; i++) find_captures(cp, n->kids.v[i], out);
    for (int i = 0; i < n->kids2.n; i++) find_captures(cp, n->kids2.v[i], out);
    return;
  }
  if (out->n == out->cap) {
    out->cap = out->cap ? 2 * out->cap : 4;
    out->v = sl_xrealloc(out->v, (size_t)out->cap * sizeof *out->v);
  }
  out->v[out->n++] = n;
}

static int cquote(comp *cp, sl_node *n) {
  captures cs = {0};
  find_captures(cp, n->a, &cs);
  if (cs.n > 255) {
    free(cs.v);
    return cerr(cp, n->line, "quote: more than 255 values taken at once (eval(...) and locals)%s", ""), -1;
  }
  /* the values, here; then the quote's code reads them as constants */
  for (int i = 0; i < cs.n; i++) {
    sl_node *c = cs.v[i];
    if (cexpr(cp, c->kind == N_CALL ? c->kids.v[0] : c) < 0) { free(cs.v); return -1; }
  }
  int *kind = sl_xcalloc((size_t)cs.n + 1, sizeof *kind);
  int64_t *ival = sl_xcalloc((size_t)cs.n + 1, sizeof *ival);
  for (int i = 0; i < cs.n; i++) {
    kind[i] = cs.v[i]->kind;
    ival[i] = cs.v[i]->ival;
    cs.v[i]->kind = N_CAPTURE;
    cs.v[i]->ival = i;
  }
  sl_code *code = sl_compile_quote(cp, n->a, cs.n);
  for (int i = 0; i < cs.n; i++) {
    cs.v[i]->kind = kind[i];
    cs.v[i]->ival = ival[i];
  }
  free(kind);
  free(ival);
  free(cs.v);
  if (!code) return -1;
  sl_quote *q = sl_alloc_obj(sizeof *q, SL_T_QUOTE);
  q->code = code;
  sl_value s = sl_str(n->str);
  q->src = sl_sv(s);
  emit(cp, INS_A(OP_CONST, add_const(cp, SL_OBJ(SL_T_QUOTE, q))));
  if (code->ncaps) emit(cp, INS_A(OP_QBIND, code->ncaps));
  return 0;
}

static int cexpr(comp *cp, sl_node *n) {
  if (cp->err) return -1;
  cp->line = n->line;
  switch (n->kind) {
  case N_INT: return cint(cp, n->ival);
  case N_BIGNUM: {
    sl_value b = sl_bigint_new();
    mpz_set_str(sl_bv(b)->z, n->str, 10);
    emit(cp, INS_A(OP_CONST, add_const(cp, b)));
    return 0;
  }
  case N_STRING:
    emit(cp, INS_A(OP_CONST, add_const(cp, sl_str_new(n->str, (size_t)n->ival))));
    return 0;
  case N_NAME: return cname(cp, n);
  case N_BINOP: return cbinop(cp, n);
  case N_AND: case N_OR: return clogic(cp, n);
  case N_NOT: case N_NEG:
    if (cexpr(cp, n->a) < 0) return -1;
    emit(cp, INS_A(n->kind == N_NOT ? OP_NOT : OP_NEG, 0));
    return 0;
  case N_CALL: return ccall(cp, n);
  case N_INDEX: {
    /* x[i] of a local x reads x in place: no count change on the
     * container (atomic once threads exist) */
    local *l = !n->c && n->a->kind == N_NAME && cp->in_proc ? find_local(cp, n->a->str) : NULL;
    if (l) {
      if (cexpr(cp, n->b) < 0) return -1;
      cp->line = n->line;
      emit(cp, INS_A(OP_INDEXL, l->slot));
      return 0;
    }
  }
    if (cexpr(cp, n->a) < 0 || cexpr(cp, n->b) < 0) return -1;
    if (n->c && cexpr(cp, n->c) < 0) return -1;
    cp->line = n->line;
    emit(cp, INS_A(n->c ? OP_INDEX2 : OP_INDEX, 0));
    return 0;
  case N_RANGE:
    if (cexpr(cp, n->a) < 0 || cexpr(cp, n->b) < 0) return -1;
    cp->line = n->line;
    emit(cp, INS_A(OP_RANGE, 0));
    return 0;
  case N_QUOTE: return cquote(cp, n);
  case N_CAPTURE:   /* a quote's value taken when it is made: a constant of the bound copy */
    cp->code->caps[n->ival] = add_const(cp, SL_NONE);
    emit(cp, INS_A(OP_CONST, cp->code->caps[n->ival]));
    return 0;
  case N_DEFINED:
    if (n->a && n->a->kind == N_CALL && n->a->a->kind == N_NAME) {   /* defined(foo(1)) */
      char **nm;
      int k = indexed_names(cp, n->a, &nm);
      if (k == 1) {
        int loc = cp->in_proc && find_local(cp, nm[0]);
        if (loc) cint(cp, 1);
        else emit(cp, INS_A(OP_DEFINEDG, gref(cp, nm[0])));
        free_names(nm, k);
        return 0;
      }
      if (k > 0) free_names(nm, k);
    }
    if (n->a && n->a->kind == N_NAME) {   /* defined(P::x) */
      emit(cp, INS_A(OP_DEFINEDG, gref(cp, n->a->str)));
      return 0;
    }
    if (n->a && n->a->kind == N_BACKQ) {   /* defined(`s`): by name at run time */
      if (cexpr(cp, n->a->a) < 0) return -1;
      cp->line = n->line;
      emit(cp, INS_A(OP_DEFINEDNAME, 0));
      return 0;
    }
    if (n->a) return cerr(cp, n->line, "defined: expected a name%s", ""), -1;
    if (cp->in_proc && find_local(cp, n->str)) return cint(cp, 1);
    if (cp->in_proc) {   /* Singular's locals come into being where declared: see fix_defined */
      cp->dfix = sl_xrealloc(cp->dfix, (size_t)(cp->ndfix + 1) * sizeof *cp->dfix);
      cp->dfix[cp->ndfix++] = (struct dfix){cp->code->nins, sl_xstrdup(n->str)};
    }
    {
      char *alt, *q = gname(cp, n->str, &alt);
      if (alt) {   /* in package P's code: P::x or x, whichever exists then */
        emit(cp, INS_A(OP_DEFINEDG, global_ref(cp, q)));
        emit(cp, INS_A(OP_DEFINEDG, global_ref(cp, alt)));
        emit(cp, INS_A(OP_ADD, 0));
        cint(cp, 0);
        emit(cp, INS_A(OP_GT, 0));
      } else {
        emit(cp, INS_A(OP_DEFINEDG, global_ref(cp, q)));
      }
      free(q);
      free(alt);
    }
    return 0;
  case N_LAST: emit(cp, INS_A(OP_LAST, 0)); return 0;
  case N_BACKQ:
    if (cexpr(cp, n->a) < 0) return -1;
    cp->line = n->line;
    emit(cp, INS_A(OP_NAMEVAL, 0));
    return 0;
  case N_MEMBER:
    if (cexpr(cp, n->a) < 0) return -1;
    cp->line = n->line;
    emit(cp, INS_A(OP_MEMBER, add_const(cp, sl_str(n->str))));
    return 0;
  case N_INCDEC:
    return cerr(cp, n->line, "`++` and `--` can only be used as statements%s", ""), -1;
  default:
    return cerr(cp, n->line, "expected an expression%s", ""), -1;
  }
}

/* system names: voice is never a variable, printlevel and TRACE always
 * Top's ints,
 * newline Top's string "\n", Top and Current name packages. what:
 * "assigned", "declared", "killed" */
static int reserved(comp *cp, const char *name, const char *what, int line) {
  int bad = !strcmp(name, "voice") || !strcmp(name, "Top") || !strcmp(name, "Current") ||
            !strcmp(name, "newline") ||
            ((!strcmp(name, "printlevel") || !strcmp(name, "TRACE")) && strcmp(what, "assigned"));
  if (!bad) return 0;
  char msg[200];
  snprintf(msg, sizeof msg, "`%s` is a system name: it cannot be %s", name, what);
  cerr(cp, line, "%s", msg);
  return -1;
}

/* ---- stores ------------------------------------------------------------ */
static int store_name(comp *cp, sl_node *t) {
  local *l = cp->in_proc ? find_local(cp, t->str) : NULL;
  if (!l && reserved(cp, t->str, "assigned", t->line) < 0) return -1;
  if (l) {
    if (l->type != SL_T_DEF) emit(cp, INS_AB(OP_CONV, l->type, l->slot));
    else if (l->utk < 0) emit(cp, INS_A(OP_CONVDEF, l->slot));
    if (l->utk >= 0) emit(cp, INS_A(OP_CHECKU, l->utk));
    emit(cp, INS_A(OP_STOREL, l->slot));
  } else {
    emit_global(cp, OP_STOREG, OP_STOREGP, t->str);
    if (!strcmp(t->str, "TRACE")) {   /* the VM's copy of it: (trace)() */
      emit(cp, INS_A(OP_LOADG, global_ref(cp, "(trace)")));
      emit(cp, INS_A(OP_CALL, 0));
      emit(cp, INS_A(OP_POP, 0));
    }
  }
  return 0;
}

/* a target with a member (p.x, s.b.x, l[2].x), an intmat entry (m[i, j])
 * or an entry of an entry (l[1][2], l[1][2][3]) */
static int is_path(sl_node *t) {
  if (t->kind == N_INDEX && t->a->kind == N_INDEX) return 1;
  for (; t->kind == N_INDEX || t->kind == N_MEMBER; t = t->a)
    if (t->kind == N_MEMBER || t->c) return 1;
  return 0;
}

/* stack: value, then the steps' keys and a mask (the number of steps and
 * 2 bits per step: SL_PATH_*), then SETPATHL/G changes the variable in
 * place (copying what is shared on the way down) */
#define MAX_PATH 8
static int store_path(comp *cp, sl_node *t) {
  sl_node *steps[MAX_PATH];
  int ns = 0, nkeys = 0;
  sl_node *x = t;
  for (; x->kind == N_INDEX || x->kind == N_MEMBER; x = x->a) {
    if (ns == MAX_PATH) return cerr(cp, t->line, "assignment to a part more than %s steps deep", "8"), -1;
    steps[ns++] = x;
  }
  if (x->kind != N_NAME) return cerr(cp, t->line, "cannot assign to this expression%s", ""), -1;
  int64_t mask = ns;
  for (int e = 0; e < ns; e++) {
    sl_node *st = steps[ns - 1 - e];
    int kind = st->kind == N_MEMBER ? SL_PATH_MEMBER : st->c ? SL_PATH_INDEX2 : SL_PATH_INDEX;
    mask |= (int64_t)kind << (6 + 2 * e);
    if (kind == SL_PATH_MEMBER) {
      emit(cp, INS_A(OP_CONST, add_const(cp, sl_str(st->str))));
      nkeys++;
      continue;
    }
    if (cexpr(cp, st->b) < 0 || (st->c && cexpr(cp, st->c) < 0)) return -1;
    nkeys += st->c ? 2 : 1;
  }
  cint(cp, mask);
  cp->line = t->line;
  local *l = cp->in_proc ? find_local(cp, x->str) : NULL;
  if (l) emit(cp, INS_AB(OP_SETPATHL, nkeys, l->slot));
  else {
    int g = global_ref(cp, x->str);
    if (g > 0xffff) return cerr(cp, t->line, "too many global names%s", ""), -1;
    emit(cp, INS_AB(OP_SETPATHG, nkeys, g));
  }
  return 0;
}

/* the name of foo(i), i known only at run time, made then (stack: -> name) */
static int runtime_name(comp *cp, sl_node *t, int declaring) {
  emit(cp, INS_A(OP_LOADG, global_ref(cp, "(indexed name)")));
  emit(cp, INS_A(OP_CONST, add_const(cp, sl_str(t->a->str))));
  if (cexpr(cp, t->kids.v[0]) < 0) return -1;
  if (declaring) emit(cp, INS_A(OP_INT, 1));
  cp->line = t->line;
  emit(cp, INS_A(OP_CALL, declaring ? 3 : 2));
  return 0;
}

/* a declared name foo(i) whose index is known only at run time */
static int runtime_named(const sl_node *x) {
  return x->kind == N_CALL && x->a->kind == N_NAME && x->kids.n == 1;
}

/* stack: value -> stored into target (a name or name[index]) */
static int store_target(comp *cp, sl_node *t) {
  cp->line = t->line;
  if (t->kind == N_NAME) return store_name(cp, t);
  if (t->kind == N_BACKQ) {   /* `"x" + "1"` = v */
    if (cexpr(cp, t->a) < 0) return -1;
    cp->line = t->line;
    emit(cp, INS_A(OP_STORENAME, 0));
    return 0;
  }
  if (t->kind == N_CALL && t->a->kind == N_NAME) {   /* foo(1) = v */
    char **nm;
    int k = indexed_names(cp, t, &nm);
    if (k < 0) return -1;
    if (k == 0 && t->kids.n == 1) {   /* foo(i) = v: the name made at run time, stored as `...` = v */
      if (runtime_name(cp, t, 0) < 0) return -1;
      emit(cp, INS_A(OP_STORENAME, 0));
      return 0;
    }
    if (k != 1) { free_names(nm, k); return cerr(cp, t->line, "cannot assign to `%s(...)`: the index must be one int", t->a->str), -1; }
    if (cp->in_proc && !find_local(cp, nm[0])) {
      /* foo(1) = v in a proc: maybe a local declared with a run-time
       * index (int foo(i);), which only the running frame knows */
      emit(cp, INS_A(OP_CONST, add_const(cp, sl_str(nm[0]))));
      emit(cp, INS_A(OP_STORENAME, 0));
      free_names(nm, k);
      return 0;
    }
    sl_node tmp = {.kind = N_NAME, .line = t->line, .str = nm[0]};
    int rc = store_name(cp, &tmp);
    free_names(nm, k);
    return rc;
  }
  if (is_path(t)) return store_path(cp, t);
  if (t->kind == N_INDEX && t->a->kind == N_NAME && !t->c) {
    if (cexpr(cp, t->b) < 0) return -1;
    cp->line = t->line;
    local *l = cp->in_proc ? find_local(cp, t->a->str) : NULL;
    if (l) emit(cp, INS_A(OP_SETINDEXL, l->slot));
    else emit(cp, INS_A(OP_SETINDEXG, gref(cp, t->a->str)));
    return 0;
  }
  return cerr(cp, t->line, "cannot assign to this expression%s", ""), -1;
}

static int declare(comp *cp, sl_node *name, int type) {
  cp->line = name->line;
  if (name->kind == N_CALL) {   /* int foo(i) = v;: OP_DECLNAME (vm.c) */
    if (reserved(cp, name->a->str, "declared", name->line) < 0) return -1;
    if (runtime_name(cp, name, 1) < 0) return -1;
    cp->line = name->line;
    int slot = cp->in_proc ? new_local(cp, SL_NAMED_LOCALS, SL_T_DEF)->slot + 1 : 0;
    if (slot > 0xffff) return cerr(cp, name->line, "too many locals%s", ""), -1;
    emit(cp, INS_AB(OP_DECLNAME, type, slot));
    return 0;
  }
  if (reserved(cp, name->str, "declared", name->line) < 0) return -1;
  if (cp->in_proc) {
    local *l = new_local(cp, name->str, type);
    if (type != SL_T_DEF) emit(cp, INS_AB(OP_CONV, type, l->slot));
    emit(cp, INS_A(OP_STOREL, l->slot));
  } else {
    int g = gref(cp, name->str);
    if (g > 0xffff) return cerr(cp, name->line, "too many global names%s", ""), -1;
    emit(cp, INS_AB(OP_DECLG, type, g));
  }
  return 0;
}

/* a local declared with a plugin type keeps it: later stores convert */
static void mark_utype(comp *cp, sl_node *name, int tk) {
  local *l = cp->in_proc && name->kind == N_NAME ? find_local(cp, name->str) : NULL;
  if (l) l->utk = tk;
}

static int expand_decl_names(comp *cp, sl_node *n);
static int cpackage(comp *cp, sl_node *n);

/* the value of `intmat m[r][c]` (zeros) or of `intmat m` (a 1 x 1 zero) */
static int intmat_init(comp *cp, sl_node *name) {
  if (!name->a) { emit(cp, INS_A(OP_DEFAULT, SL_T_INTMAT)); return 0; }
  emit(cp, INS_A(OP_LOADG, global_ref(cp, "(intmat decl)")));
  if (cexpr(cp, name->a) < 0 || cexpr(cp, name->b) < 0) return -1;
  cp->line = name->line;
  emit(cp, INS_A(OP_CALL, 2));
  return 0;
}

/* intmat declarations: the sizes, then what the right side gives fills
 * the zero intmat (`intmat m[2][3] = 1, 2, 3;`: the rest stays 0) */
static int cdecl_intmat(comp *cp, sl_node *n) {
  int k = n->kids.n;
  if (n->kids2.n && k > 1)
    return cerr(cp, n->line, "declare one intmat at a time when it is given a value%s", ""), -1;
  for (int i = 0; i < k; i++) {
    sl_node *name = n->kids.v[i];
    if (n->kids2.n) {
      emit(cp, INS_A(OP_LOADG, global_ref(cp, "(intmat fill)")));
      if (intmat_init(cp, name) < 0 || cexprlist(cp, &n->kids2, 0) < 0) return -1;
      emit(cp, INS_A(OP_CONST, add_const(cp, sl_str(name->str))));
      cp->line = name->line;
      emit(cp, INS_A(OP_CALL, 3));
    } else if (intmat_init(cp, name) < 0) {
      return -1;
    }
    if (declare(cp, name, SL_T_INTMAT) < 0) return -1;
  }
  return 0;
}

static int copassign(comp *cp, sl_node *target, int op, sl_node *rhs, int64_t imm);

/* a warning at run time: OP_WARN carries the mode (SL_WARN_*) and a
 * 16-bit constant index */
static int emit_warn(comp *cp, int line, int how, const char *msg) {
  int k = add_const(cp, sl_str(msg));
  if (k > 0xffff) return cerr(cp, line, "too many constants%s", ""), -1;
  emit(cp, INS_AB(OP_WARN, how, k));
  return 0;
}

/* "j = i++;" and "int j = i++;": Singular increments i, warns, and
 * assigns nothing (a declared j keeps its type's default) */
static int incdec_rhs(comp *cp, sl_node *inc) {
  if (copassign(cp, inc->a, 0, NULL, inc->op) < 0) return -1;
  return emit_warn(cp, inc->line, SL_WARN_LINE, "right side is not a datum, assignment ignored");
}

/* does the tree n read the name nm (a plain name)? */
static int mentions(const sl_node *n, const char *nm) {
  if (!n) return 0;
  if (n->kind == N_NAME && n->str && !strcmp(n->str, nm)) return 1;
  if (mentions(n->a, nm) || mentions(n->b, nm) || mentions(n->c, nm) || mentions(n->d, nm)) return 1;
  for (int i = 0; i < n->kids.n; i++) if (mentions(n->kids.v[i], nm)) return 1;
  for (int i = 0; i < n->kids2.n; i++) if (mentions(n->kids2.v[i], nm)) return 1;
  return 0;
}

static int cdecl(comp *cp, sl_node *n) {
  if (n->str && !strcmp(n->str, "package")) return cpackage(cp, n);
  if (expand_decl_names(cp, n) < 0) return -1;
  for (int i = 0; i < n->kids.n; i++) {
    sl_node *x = n->kids.v[i];
    const char *nm = x->kind == N_NAME ? x->str : x->a->str, *sep = strstr(nm, "::");
    if (sep && strncmp(nm, "Top::", 5) && strncmp(nm, "Current::", 9))
      return cerr(cp, n->line, "cannot declare `%s` in another package: declare it, then exportto it", nm), -1;
  }
  int k = n->kids.n, tk = -1;
  if (n->op == SL_T_INTMAT) {
    for (int i = 0; i < k; i++)
      if (n->kids.v[i]->kind != N_NAME)
        return cerr(cp, n->line, "`%s(...)`: an intmat's name needs a constant index", n->kids.v[i]->a->str), -1;
    return cdecl_intmat(cp, n);
  }
  if (n->str) tk = add_const(cp, sl_str(n->str));   /* plugin type name */
  int incdec = n->kids2.n == 1 && n->kids2.v[0]->kind == N_INCDEC;
  if (incdec && incdec_rhs(cp, n->kids2.v[0]) < 0) return -1;
  if (n->kids2.n == 0 || incdec) {
    for (int i = 0; i < k; i++) {
      emit(cp, INS_A(OP_DEFAULT, n->op));
      if (tk >= 0) emit(cp, INS_A(OP_INITU, tk));
      if (declare(cp, n->kids.v[i], n->op) < 0) return -1;
      mark_utype(cp, n->kids.v[i], tk);
    }
    return 0;
  }
  /* Singular's algebra types: the type is the error, not what the right
   * side says (`ring r = 0,(x,y),dp;` is not "`x` is undefined"). Only
   * for those names: the check looks the type up under the registry's
   * lock, which a declaration of a plugin type (`job j = ...;`) in a
   * loop of every worker must not pay. */
  if (tk >= 0 && sl_singular_algebra_type(n->str)) emit(cp, INS_A(OP_HASU, tk));
  /* a global exists (with its type's default) before the right side
   * runs, as in Singular: "int i = i + 1;" redefines i as 1; so does a
   * local the right side reads (crypto.lib: list l = insert(l, 1);) */
  int pre = !cp->in_proc;
  for (int i = 0; i < k && !pre; i++)
    for (int j = 0; j < n->kids2.n && !pre && n->kids.v[i]->kind == N_NAME; j++)
      pre = mentions(n->kids2.v[j], n->kids.v[i]->str);
  for (int i = 0; i < k; i++)   /* a name made at run time is made once, with its value */
    if (n->kids.v[i]->kind != N_NAME) pre = 0;
  if (pre) {
    for (int i = 0; i < k; i++) {
      emit(cp, INS_A(OP_DEFAULT, n->op));
      if (declare(cp, n->kids.v[i], n->op) < 0) return -1;
    }
  }
  if (cexprlist(cp, &n->kids2, k > 1) < 0) return -1;
  if (k > 1) emit(cp, INS_A(OP_UNPACK, k));
  for (int i = k - 1; i >= 0; i--) {
    if (tk >= 0) emit(cp, INS_A(OP_CHECKU, tk));
    if (pre) store_name(cp, n->kids.v[i]);
    else if (declare(cp, n->kids.v[i], n->op) < 0) return -1;
    mark_utype(cp, n->kids.v[i], tk);
  }
  return 0;
}

static int cassign(comp *cp, sl_node *n) {
  int k = n->kids.n;
  if (n->kids2.n == 1 && n->kids2.v[0]->kind == N_INCDEC)
    return incdec_rhs(cp, n->kids2.v[0]);   /* "j = i++;": j is left alone */
  if (cexprlist(cp, &n->kids2, k > 1) < 0) return -1;
  if (k > 1) emit(cp, INS_A(OP_UNPACK, k));
  for (int i = k - 1; i >= 0; i--)
    if (store_target(cp, n->kids.v[i]) < 0) return -1;
  return 0;
}

static int copassign(comp *cp, sl_node *target, int op, sl_node *rhs, int64_t imm) {
  if (cexpr(cp, target) < 0) return -1;
  cp->line = target->line;
  if (rhs) {
    if (cexpr(cp, rhs) < 0) return -1;
    emit(cp, INS_A(OP_ADD + op, 0));
  } else {
    emit(cp, INS_A(OP_ADDI, (uint32_t)imm & 0xffffff));
  }
  return store_target(cp, target);
}

/* ---- control flow ------------------------------------------------------ */
static void addjump(int **v, int *n, int at) {
  *v = sl_xrealloc(*v, (size_t)(*n + 1) * sizeof **v);
  (*v)[(*n)++] = at;
}

static void drop_loop(loop *lp) {
  free(lp->cont);
  free(lp->brk);
  lp->cont = lp->brk = NULL;
}

static int cloop_body(comp *cp, sl_node *body, loop *lp) {
  cp->loops = sl_xrealloc(cp->loops, (size_t)(cp->nloops + 1) * sizeof *cp->loops);
  cp->loops[cp->nloops++] = *lp;
  int rc = cstmt(cp, body);
  *lp = cp->loops[--cp->nloops];
  if (rc < 0) drop_loop(lp);
  return rc;
}

static void close_loop(comp *cp, loop *lp, int cont_target, int end) {
  for (int i = 0; i < lp->ncont; i++) patch(cp, lp->cont[i], cont_target);
  for (int i = 0; i < lp->nbrk; i++) patch(cp, lp->brk[i], end);
  drop_loop(lp);
}

static int cwhile(comp *cp, sl_node *n) {
  int top = cp->code->nins;
  if (cexpr(cp, n->a) < 0) return -1;
  int jf = emit(cp, INS_A(OP_JF, 0));
  loop lp = {0};
  if (cloop_body(cp, n->b, &lp) < 0) return -1;
  int back = emit(cp, INS_A(OP_LOOP, 0));
  patch(cp, back, top);
  patch(cp, jf, cp->code->nins);
  close_loop(cp, &lp, top, cp->code->nins);
  return 0;
}

/* for (init; test; step) body: `continue` jumps to the test without the
 * step, as Singular's (its libraries write `i++; continue;`: a step run
 * there too would skip an entry) */
static int cfor(comp *cp, sl_node *n) {
  if (n->a && cstmt(cp, n->a) < 0) return -1;
  int top = cp->code->nins, jf = -1;
  if (n->b) {
    if (cexpr(cp, n->b) < 0) return -1;
    jf = emit(cp, INS_A(OP_JF, 0));
  }
  loop lp = {0};
  if (cloop_body(cp, n->d, &lp) < 0) return -1;
  if (n->c && cstmt(cp, n->c) < 0) {
    drop_loop(&lp);
    return -1;
  }
  int back = emit(cp, INS_A(OP_LOOP, 0));
  patch(cp, back, top);
  if (jf >= 0) patch(cp, jf, cp->code->nins);
  close_loop(cp, &lp, top, cp->code->nins);
  return 0;
}

static int cif(comp *cp, sl_node *n) {
  int top = n == cp->top && cp->top_last && !cp->in_proc && !n->c;
  if (top) emit(cp, INS_A(OP_LOADG, global_ref(cp, "(if)")));   /* notes the condition */
  if (cexpr(cp, n->a) < 0) return -1;
  if (top) emit(cp, INS_A(OP_CALL, 1));
  int jf = emit(cp, INS_A(OP_JF, 0));
  if (cstmt(cp, n->b) < 0) return -1;
  if (!n->c) { patch(cp, jf, cp->code->nins); return 0; }
  int j = emit(cp, INS_A(OP_JMP, 0));
  patch(cp, jf, cp->code->nins);
  if (cstmt(cp, n->c) < 0) return -1;
  patch(cp, j, cp->code->nins);
  return 0;
}

/* else body; with no if before it in this text: as the text's first
 * statement, the else of an if that ended the text run before (the REPL
 * and piped stdin run a text a statement; Singular's else too is a
 * statement of its own); an else-if's if may end this text in turn */
static int celse(comp *cp, sl_node *n) {
  /* anywhere else (after another statement, in a proc) it has no if:
   * Singular warns "`else` without `if` in level N" and skips it */
  int stray = n != cp->top || cp->top_first == 0 || cp->in_proc;
  emit(cp, INS_A(OP_LOADG, global_ref(cp, "(else)")));
  if (stray) emit(cp, INS_A(OP_CONST, add_const(cp, SL_INT(1))));
  emit(cp, INS_A(OP_CALL, stray));
  int jf = emit(cp, INS_A(OP_JF, 0));
  if (!stray) {
    cp->top = n->a;   /* an else if: that if may end the text */
    cp->top_first = 0;
  }
  if (cstmt(cp, n->a) < 0) return -1;
  patch(cp, jf, cp->code->nins);
  return 0;
}

static int cbreak(comp *cp, sl_node *n) {
  if (!cp->nloops) return cerr(cp, n->line, "`%s` outside a loop", n->kind == N_BREAK ? "break" : "continue"), -1;
  loop *lp = &cp->loops[cp->nloops - 1];
  if (n->kind == N_BREAK) addjump(&lp->brk, &lp->nbrk, emit(cp, INS_A(OP_JMP, 0)));
  else addjump(&lp->cont, &lp->ncont, emit(cp, INS_A(OP_LOOP, 0)));
  return 0;
}

static sl_code *new_code_text(const char *name, const char *file, int line, sl_code *from) {
  sl_code *c = sl_xcalloc(1, sizeof *c);
  if (from && from->text) {
    c->text = from->text;
    c->text_line0 = from->text_line0;
    sl_retain(SL_OBJ(SL_T_STRING, c->text));
  }
  c->name = sl_xstrdup(name);
  c->file = sl_xstrdup(file);
  c->line = line;
  atomic_init(&c->rc, 1);
  return c;
}

#define new_code(name, file, line) new_code_text(name, file, line, cp->code)

static void comp_free(comp *cp) {
  free(cp->gix);
  cp->gix = NULL;
  for (int i = 0; i < cp->ndfix; i++) free(cp->dfix[i].name);
  free(cp->dfix);
  cp->dfix = NULL;
  cp->ndfix = 0;
  for (int i = 0; i < cp->nloc; i++) free(cp->loc[i].name);
  free(cp->loc);
  free(cp->loops);
}

/* defined(x) in a proc, compiled before a local x was declared
 * (`while (!defined(end)) { ... int end; }`, cisimplicial.lib): when the
 * proc declares x (in slot) after it, the check becomes DEFINEDL, which
 * asks that local first (set: defined; none yet, or killed: the global,
 * as before) */
static void fix_defined(comp *cp, const char *name, int slot) {
  for (int i = 0; i < cp->ndfix; i++) {
    if (!cp->dfix[i].name || strcmp(cp->dfix[i].name, name)) continue;
    uint32_t *ins = &cp->code->ins[cp->dfix[i].at];
    if (slot <= 0xff && GET_OP(*ins) == OP_DEFINEDG && GET_A(*ins) <= 0xffff)
      *ins = INS_AB(OP_DEFINEDL, (uint32_t)slot, GET_A(*ins));
    free(cp->dfix[i].name);
    cp->dfix[i].name = NULL;
  }
}

static sl_code *finish(comp *cp, comp *parent) {
  if (cp->err) {
    if (parent && !parent->err) { parent->err = cp->err; parent->errline = cp->errline; cp->err = NULL; }
    sl_code_release(cp->code);
    comp_free(cp);
    return NULL;
  }
  sl_code *c = cp->code;
  if (c->nlocals) {
    c->lnames = sl_xcalloc((size_t)c->nlocals, sizeof *c->lnames);
    for (int i = 0; i < cp->nloc; i++)
      if (cp->loc[i].name[0] && !c->lnames[cp->loc[i].slot]) c->lnames[cp->loc[i].slot] = sl_xstrdup(cp->loc[i].name);
  }
  comp_free(cp);
  cp->code->maxstack += 4;
  return cp->code;
}

/* a comp for code nested in cp's (a proc's body, a quote): a library's
 * package and static procs go with it */
static comp nested_comp(const comp *cp, int in_proc, int line) {
  return (comp){.C = cp->C, .in_proc = in_proc, .line = line, .libpkg = cp->libpkg,
                .statics = cp->statics, .nstatics = cp->nstatics, .procs = cp->procs, .nprocs = cp->nprocs};
}

/* A library proc spindle cannot compile (Singular's algebra, mostly; the
 * parser's message in n->d, or the compiler's in why): a proc that takes
 * any arguments and whose call is the error saying why. Singular reads a
 * proc's body only when it is called, so such a library loads and its
 * other procs run. */
static sl_code *stub_proc(comp *cp, sl_node *n, const char *name, char *pkg, const char *why, int why_line) {
  comp sub = nested_comp(cp, 1, n->line);
  sub.code = new_code(name, cp->code->file, n->line);
  sub.code->pkg = pkg;   /* taken */
  sub.code->src = sl_xstrdup(n->str);
  sub.code->src_line = n->b->line;
  sub.code->nparams = 1;
  sub.code->varargs = 1;
  sub.code->ptypes = sl_xcalloc(2, 1);
  sub.code->ptypes[0] = SL_T_LIST;
  sub.code->pnames = sl_xcalloc(2, sizeof(char *));
  sub.code->pnames[0] = sl_xstrdup("#");
  new_local(&sub, "#", SL_T_LIST);
  sl_buf b = {0};
  sl_buf_printf(&b, "cannot run in spindle: %s:%d: %s", sl_path_base(cp->code->file ? cp->code->file : ""),
                why_line, why);
  emit(&sub, INS_A(OP_LOADG, global_ref(&sub, "(cannot run)")));
  emit(&sub, INS_A(OP_CONST, add_const(&sub, sl_str(b.s))));
  sl_buf_free(&b);
  emit(&sub, INS_A(OP_CALL, 1));
  emit(&sub, INS_A(OP_RET0, 0));
  return finish(&sub, cp);
}

static int cprocdef(comp *cp, sl_node *n) {
  if (reserved(cp, n->a->str, "defined as a proc", n->line) < 0) return -1;
  comp sub = nested_comp(cp, 1, n->line);
  char *pkg = NULL;
  const char *sep = strstr(n->a->str, "::");
  if (sep && strncmp(n->a->str, "Top::", 5)) {   /* proc P::f: P's names first */
    pkg = sl_xstrndup(n->a->str, (size_t)(sep - n->a->str));
    sub.pkg = pkg;
    sub.self = sep + 2;
  } else if (!sep && cp->libpkg && !cp->in_proc) {
    /* a library's proc f is Foo::f: in its code x is Foo::x when that is
     * defined (what its mod_init or its procs export), else x, as in
     * Singular, where a library proc runs in its package */
    sub.pkg = cp->libpkg;
    sub.self = n->a->str;
  }
  sub.code = new_code(sep && !pkg ? sep + 2 : n->a->str, cp->code->file, n->line);
  sub.code->pkg = pkg ? pkg : sub.pkg ? sl_xstrdup(sub.pkg) : NULL;
  sub.code->src = sl_xstrdup(n->str);
  sub.code->src_line = n->b->line;
  int np = n->kids.n;
  /* a proc without parameters that uses branchTo keeps its arguments */
  int keep_args = np == 0 && n->str && strstr(n->str, "branchTo");
  sub.code->nparams = np;
  sub.code->ptypes = sl_xcalloc((size_t)np + 1, 1);
  sub.code->pnames = sl_xcalloc((size_t)np + 1, sizeof(char *));
  sl_buf redef = {0};   /* a name given to two parameters: Singular's warning */
  for (int i = 0; i < np; i++) {
    sl_node *p = n->kids.v[i];
    if (!strcmp(p->str, "#") && !p->a && (p->op == SL_T_LIST || p->op == SL_T_DEF)) {
      /* `#` (list #): the arguments left; with another type (methods.lib's
       * `HashTable #`) it is a parameter of that name, as in Singular */
      if (i != np - 1) { cerr(&sub, p->line, "`#` must be the last parameter%s", ""); break; }
      sub.code->varargs = 1;
      p->op = SL_T_LIST;
    }
    sub.code->ptypes[i] = (uint8_t)p->op;
    sub.code->defparams += p->op == SL_T_DEF;
    sub.code->pnames[i] = sl_xstrdup(p->str);
    /* slot i holds argument i (enter_proc, the VM's fast call and OP_CONV
     * rely on it): a name given twice gets a slot of its own and the last
     * one wins, as in Singular; the earlier slot keeps its argument,
     * nameless (sharing it left an argument above the frame, uncounted) */
    local *prev = find_local(&sub, p->str);
    if (prev) {
      free(prev->name);
      prev->name = strdup("");
      if (!redef.len) sl_buf_printf(&redef, "redefining %s (", p->str);
    }
    if (p->a && sl_singular_algebra_type(p->a->str) && !sub.err) {
      /* a parameter of Singular's algebra: the proc cannot run here (in a
       * library it loads and a call says so: stub_proc) */
      char *m = sl_unknown_type_msg(p->a->str);
      sl_buf b = {0};
      sl_buf_printf(&b, "parameter %s: %s", p->str, m);
      cerr(&sub, p->line, "%s", b.s);
      sl_buf_free(&b);
      free(m);
    }
    local *l = new_local(&sub, p->str, p->op);
    if (p->a) l->utk = add_const(&sub, sl_str(p->a->str));
  }
  if (keep_args) {
    sub.code->nparams = 1;
    sub.code->varargs = 2;
    free(sub.code->ptypes);
    free(sub.code->pnames);
    sub.code->ptypes = sl_xcalloc(2, 1);
    sub.code->ptypes[0] = SL_T_LIST;
    sub.code->pnames = sl_xcalloc(2, sizeof(char *));
    sub.code->pnames[0] = sl_xstrdup("(args)");
    new_local(&sub, "(args)", SL_T_LIST);
  }
  if (redef.len && !sub.err) {
    /* at each call, as Singular says it: "// ** redefining a (parameter
     * def a; parameter def a; ) ::f:0" */
    for (int i = 0; i < np; i++) {
      sl_node *p = n->kids.v[i];
      sl_buf_printf(&redef, "parameter %s %s; ", p->a ? p->a->str : sl_type_name(p->op), p->str);
    }
    sl_buf_printf(&redef, ") ::%s:0", sep ? sep + 2 : n->a->str);
    emit_warn(&sub, n->line, SL_WARN_PLAIN, redef.s);   /* an error is sub.err */
  }
  sl_buf_free(&redef);
  if (!sub.err) {
    for (int i = 0; i < n->b->kids.n && !sub.err; i++) cstmt(&sub, n->b->kids.v[i]);
    if (keep_args) {   /* no branch taken: Singular warns of the arguments left */
      emit(&sub, INS_A(OP_LOADG, global_ref(&sub, "(branch none)")));
      emit(&sub, INS_A(OP_LOADL, find_local(&sub, "(args)")->slot));
      emit(&sub, INS_A(OP_CALL, 1));
      emit(&sub, INS_A(OP_POP, 0));
    }
    emit(&sub, INS_A(OP_RET0, 0));
  }
  sl_code *code;
  if (cp->libpkg && !cp->in_proc && (n->d || sub.err)) {
    char *why = n->d ? sl_xstrdup(n->d->str) : sub.err;
    int why_line = n->d ? n->d->line : sub.errline;
    if (n->d) free(sub.err);   /* the parser's error is the first */
    char *name = sl_xstrdup(sep && !pkg ? sep + 2 : n->a->str);
    pkg = pkg ? sl_xstrdup(pkg) : NULL;   /* sub.code's goes with it */
    sub.err = NULL;
    sl_code_release(sub.code);
    comp_free(&sub);
    code = stub_proc(cp, n, name, pkg, why, why_line);
    free(name);
    free(why);
  } else {
    code = finish(&sub, cp);
  }
  if (!code) return -1;
  if (n->c) code->example = sl_xstrdup(n->c->str);   /* a library's example block */
  sl_proc *p = sl_alloc_obj(sizeof *p, SL_T_PROC);
  p->code = code;
  cp->line = n->line;
  emit(cp, INS_A(OP_CONST, add_const(cp, SL_OBJ(SL_T_PROC, p))));
  int g = pkg ? global_ref(cp, n->a->str) : gref(cp, n->a->str);
  if (g > 0xffff) return cerr(cp, n->line, "too many global names%s", ""), -1;
  emit(cp, INS_AB(OP_DECLG, SL_T_PROC, g));
  if (cp->libpkg && !cp->in_proc && !sep && !n->op) {   /* LIB "foo.lib": f is also Foo::f */
    char *q = cat3(cp->libpkg, "::", n->a->str);
    g = global_ref(cp, q);
    free(q);
    if (g > 0xffff) return cerr(cp, n->line, "too many global names%s", ""), -1;
    emit(cp, INS_A(OP_CONST, cp->code->nk - 1));
    emit(cp, INS_AB(OP_DECLG, SL_T_PROC, g));
  }
  return 0;
}

sl_code *sl_compile_quote(comp *cp, sl_node *e, int ncaps) {
  comp sub = nested_comp(cp, 0, e->line);
  sub.code = new_code("quote", cp->code->file, e->line);
  if (ncaps) {
    sub.code->caps = sl_xcalloc((size_t)ncaps, sizeof *sub.code->caps);
    sub.code->ncaps = ncaps;
  }
  if (cexpr(&sub, e) == 0) emit(&sub, INS_A(OP_RET, 0));
  return finish(&sub, cp);
}

static int ckill(comp *cp, sl_node *n) {
  for (int i = 0; i < n->kids.n; i++) {
    if (n->kids.v[i]->kind == N_CALL) {   /* kill i(1..3): each name */
      sl_node *x = n->kids.v[i];
      char **nm;
      int k = x->a->kind == N_NAME ? indexed_names(cp, x, &nm) : 0;
      if (k <= 0) return k ? -1 : (cerr(cp, x->line, "kill: the index of `%s(...)` must be a constant int or range", x->a->kind == N_NAME ? x->a->str : "?"), -1);
      sl_nodes one = {0};
      sl_node tmp = {.kind = N_KILL, .line = n->line};
      int rc = 0;
      for (int j = 0; j < k && !rc; j++) {
        sl_node nmn = {.kind = N_NAME, .line = x->line, .str = nm[j]};
        sl_node *p = &nmn;
        one.v = &p;
        one.n = one.cap = 1;
        tmp.kids = one;
        rc = ckill(cp, &tmp);
      }
      free_names(nm, k);
      if (rc < 0) return -1;
      continue;
    }
    if (n->kids.v[i]->kind == N_BACKQ) {   /* kill `"x" + "1"`: by name at run time */
      if (cexpr(cp, n->kids.v[i]->a) < 0) return -1;
      cp->line = n->line;
      emit(cp, INS_A(OP_KILLNAME, 0));
      continue;
    }
    const char *name = n->kids.v[i]->str;
    local *l = cp->in_proc ? find_local(cp, name) : NULL;
    if (l) {
      emit(cp, INS_A(OP_KILLL, l->slot));
      free(l->name);
      l->name = sl_xstrdup("");   /* name gone; the slot stays allocated */
    } else {
      if (strcmp(name, "Top") && strcmp(name, "Current") && reserved(cp, name, "killed", n->line) < 0) return -1;
      emit(cp, INS_A(OP_KILLG, gref(cp, name)));
    }
  }
  return 0;
}

/* a call print(x) of the builtin (not a local named print) */
static int is_print_stmt(comp *cp, sl_node *e) {
  return e->kind == N_CALL && e->a && e->a->kind == N_NAME && !strcmp(e->a->str, "print") &&
         e->kids.n == 1 && !(cp->in_proc && find_local(cp, "print"));
}

static int cstmt(comp *cp, sl_node *n) {
  if (cp->err) return -1;
  cp->line = n->line;
  switch (n->kind) {
  case N_EMPTY: return 0;
  case N_BLOCK:
    for (int i = 0; i < n->kids.n; i++)
      if (cstmt(cp, n->kids.v[i]) < 0) return -1;
    return 0;
  case N_EXPRS:
    if (n->kids.n == 1 && n->kids.v[0]->kind == N_INCDEC)
      return copassign(cp, n->kids.v[0]->a, 0, NULL, n->kids.v[0]->op);
    if (n->kids.n == 1 && is_print_stmt(cp, n->kids.v[0])) {
      /* `print(x);`: its text is program output (a stream in the kernel),
       * not a value displayed; print(x) elsewhere gives the text */
      emit(cp, INS_A(OP_LOADG, global_ref(cp, "(print stmt)")));
      if (cexpr(cp, n->kids.v[0]->kids.v[0]) < 0) return -1;
      cp->line = n->line;
      emit(cp, INS_A(OP_CALL, 1));
      emit(cp, INS_A(OP_POP, 0));
      return 0;
    }
    if (cexprlist(cp, &n->kids, 0) < 0) return -1;
    cp->line = n->line;
    emit(cp, INS_A(OP_PRINT, 0));
    return 0;
  case N_DECL: return cdecl(cp, n);
  case N_ASSIGN: return cassign(cp, n);
  case N_OPASSIGN: return copassign(cp, n->kids.v[0], n->op, n->a, 0);
  case N_IF: return cif(cp, n);
  case N_ELSE: return celse(cp, n);
  case N_WHILE: return cwhile(cp, n);
  case N_FOR: return cfor(cp, n);
  case N_BREAK: case N_CONTINUE: return cbreak(cp, n);
  case N_RETURN:
    if (!n->kids.n) { emit(cp, INS_A(OP_RET0, 0)); return 0; }
    if (cexprlist(cp, &n->kids, 0) < 0) return -1;
    emit(cp, INS_A(OP_RET, 0));
    return 0;
  case N_PROCDEF: return cprocdef(cp, n);
  case N_QUIT:
    if (n->a) { if (cexpr(cp, n->a) < 0) return -1; }
    else cint(cp, 0);
    emit(cp, INS_A(OP_QUIT, 0));
    return 0;
  case N_KILL: return ckill(cp, n);
  case N_EXPORT:
    if (cexportto(cp, NULL, &n->kids, 0, n->line) < 0) return -1;
    emit(cp, INS_A(OP_POP, 0));
    return 0;
  case N_TYPE: {
    emit(cp, INS_A(OP_LOADG, global_ref(cp, "(type)")));
    /* type foo(1);: (type) shows the name foo(1) when that is a variable */
    char **nm = NULL;
    int k = n->a->kind == N_CALL && n->a->a->kind == N_NAME ? indexed_names(cp, n->a, &nm) : 0;
    emit(cp, INS_A(OP_CONST, add_const(cp, sl_str(n->a->kind == N_NAME ? n->a->str : "_"))));
    if (cexpr(cp, n->a) < 0) { if (k > 0) free_names(nm, k); return -1; }
    if (k == 1) emit(cp, INS_A(OP_CONST, add_const(cp, sl_str(nm[0]))));
    if (k > 0) free_names(nm, k);
    cp->line = n->line;
    emit(cp, INS_A(OP_CALL, k == 1 ? 3 : 2));
    emit(cp, INS_A(OP_POP, 0));
    return 0;
  }
  case N_LIB:
    if (cexpr(cp, n->a) < 0) return -1;
    cp->line = n->line;
    emit(cp, INS_A(OP_LIB, 0));
    emit(cp, INS_A(OP_POP, 0));
    return 0;
  default:
    return cerr(cp, n->line, "unexpected statement%s", ""), -1;
  }
}

/* ---- indexed names, packages, exportto --------------------------------- */
/* The names foo(i) of foo(1), foo(-2) or foo(1..3) when the index is
 * constant (malloc'ed, *out): their count, 0 when the index is not a
 * constant int or range, -1 on an error. */
static int indexed_names(comp *cp, sl_node *n, char ***out) {
  *out = NULL;
  if (n->kids.n != 1) return 0;
  sl_node *x = n->kids.v[0];
  int64_t a, b;
  if (x->kind == N_INT) a = b = x->ival;
  else if (x->kind == N_RANGE && x->a->kind == N_INT && x->b->kind == N_INT) { a = x->a->ival; b = x->b->ival; }
  else return 0;
  uint64_t span = a <= b ? (uint64_t)b - (uint64_t)a : (uint64_t)a - (uint64_t)b;
  size_t most = sl_limits.elems < 100000 ? sl_limits.elems : 100000;   /* each is a name for good */
  if (span >= most) {
    char msg[160];
    snprintf(msg, sizeof msg, "`%s(...)`: too many indexed names (at most %zu)", n->a->str, most);
    return cerr(cp, n->line, "%s", msg), -1;
  }
  int k = (int)span + 1;
  char **v = sl_xmalloc((size_t)k * sizeof *v);
  for (int i = 0; i < k; i++) {
    char num[32];
    snprintf(num, sizeof num, "(%lld)", (long long)(a <= b ? a + i : a - i));
    v[i] = cat3(n->a->str, num, "");
  }
  *out = v;
  return k;
}

/* int foo(1) = 42; int i(1..3);: each indexed name becomes a name */
static int expand_decl_names(comp *cp, sl_node *n) {
  int any = 0;
  for (int i = 0; i < n->kids.n; i++) any |= n->kids.v[i]->kind != N_NAME;
  if (!any) return 0;
  sl_nodes out = {0};
  for (int i = 0; i < n->kids.n; i++) {
    sl_node *x = n->kids.v[i];
    if (x->kind == N_NAME) { add_node(&out, x); continue; }
    char **nm;
    int k = x->a->kind == N_NAME ? indexed_names(cp, x, &nm) : 0;
    if (k == 0 && runtime_named(x)) { add_node(&out, x); continue; }   /* declare() */
    if (k <= 0) {
      if (!k) cerr(cp, x->line, "`%s(...)`: the index of a declared name must be an int or a constant range, as in foo(i) or foo(1..3)",
                   x->a->kind == N_NAME ? x->a->str : "?");
      for (int j = 0; j < out.n; j++) {   /* free the new nodes only */
        int orig = 0;
        for (int o = 0; o < i; o++) orig |= n->kids.v[o] == out.v[j];
        if (!orig) sl_node_free(out.v[j]);
      }
      free(out.v);
      return -1;
    }
    for (int j = 0; j < k; j++) {
      sl_node *m = sl_xcalloc(1, sizeof *m);
      m->kind = N_NAME;
      m->line = x->line;
      m->str = nm[j];
      add_node(&out, m);
    }
    free(nm);
  }
  for (int i = 0; i < n->kids.n; i++) {   /* the expanded ones: not kept in out */
    int kept = 0;
    for (int j = 0; j < out.n && !kept; j++) kept = out.v[j] == n->kids.v[i];
    if (!kept) sl_node_free(n->kids.v[i]);
  }
  free(n->kids.v);
  n->kids = out;
  return 0;
}

/* package P;: made once (a second `package P;` keeps P's names); always
 * global, also in a proc */
static int cpackage(comp *cp, sl_node *n) {
  if (n->kids2.n) return cerr(cp, n->line, "package: a package cannot be assigned%s", ""), -1;
  for (int i = 0; i < n->kids.n; i++) {
    sl_node *x = n->kids.v[i];
    if (x->kind != N_NAME || strstr(x->str, "::"))
      return cerr(cp, x->line, "package: expected a plain name%s", ""), -1;
    cp->line = x->line;
    emit(cp, INS_A(OP_LOADG, global_ref(cp, "(package)")));
    emit(cp, INS_A(OP_CONST, add_const(cp, sl_str(x->str))));
    emit(cp, INS_A(OP_CALL, 1));
    emit(cp, INS_A(OP_POP, 0));
  }
  return 0;
}

/* exportto(P, a, i(1..3), ...) (from = 1) and export a, b; (pkg NULL: Top,
 * from = 0). The builtin (exportto) gets the package, then for each name
 * its source name, how it is held and its value: 0 a global (none), 1 a
 * local (its value: the local is gone afterwards, as in Singular, so the
 * name means the global from then on), 2 indexed globals (the index), 3 a
 * global named by `export` at top level (none; quiet when it is already
 * there, as in Singular), 4 a static proc of the library (Foo::f, or f
 * when Foo::f has moved away: pfd.lib's mod_init exports its statics to
 * Tasks, imports them to Top, and exports them back). */
static int cexportto(comp *cp, sl_node *pkg, sl_nodes *names, int from, int line) {
  if (from && names->n < 2) return cerr(cp, line, "exportto: expected a package and at least one name%s", ""), -1;
  emit(cp, INS_A(OP_LOADG, global_ref(cp, "(exportto)")));
  if (pkg) { if (cexpr(cp, pkg) < 0) return -1; }
  else emit(cp, INS_A(OP_LOADG, global_ref(cp, cp->pkg ? cp->pkg : "Top")));   /* export: Current */
  int argc = 1, nkill = 0;
  int *kill = sl_xcalloc((size_t)names->n + 1, sizeof *kill);
  for (int i = from; i < names->n && !cp->err; i++) {
    sl_node *x = names->v[i];
    cp->line = x->line;
    char **nm = NULL;
    int k = 0;
    if (x->kind == N_CALL && x->a->kind == N_NAME && cp->in_proc) k = indexed_names(cp, x, &nm);
    int all_local = k > 0;
    for (int j = 0; j < k; j++) all_local &= find_local(cp, nm[j]) != NULL;
    if (x->kind == N_NAME || all_local) {
      int cnt = x->kind == N_NAME ? 1 : k;
      for (int j = 0; j < cnt; j++) {
        const char *name = x->kind == N_NAME ? x->str : nm[j];
        local *l = cp->in_proc ? find_local(cp, name) : NULL;
        if (l) {
          emit(cp, INS_A(OP_CONST, add_const(cp, sl_str(name))));
          cint(cp, 1);
          emit(cp, INS_A(OP_LOADL, l->slot));
          kill = sl_xrealloc(kill, (size_t)(nkill + 1) * sizeof *kill);
          kill[nkill++] = (int)(l - cp->loc);
        } else {
          char *g = gname(cp, name, NULL);
          emit(cp, INS_A(OP_CONST, add_const(cp, sl_str(g))));
          free(g);
          cint(cp, lib_static(cp, name) ? 4 : from || cp->in_proc ? 0 : 3);
          emit(cp, INS_A(OP_NONE, 0));
        }
        argc += 3;
      }
    } else if (x->kind == N_CALL && x->a->kind == N_NAME && x->kids.n == 1) {
      char *g = gname(cp, x->a->str, NULL);
      emit(cp, INS_A(OP_CONST, add_const(cp, sl_str(g))));
      free(g);
      cint(cp, 2);
      cexpr(cp, x->kids.v[0]);
      argc += 3;
    } else {
      cerr(cp, x->line, "%s: expected a name to export", from ? "exportto" : "export");
    }
    if (nm) free_names(nm, k);
  }
  if (!cp->err && argc > 255) cerr(cp, line, "%s: too many names", from ? "exportto" : "export");
  if (cp->err) { free(kill); return -1; }
  cp->line = line;
  emit(cp, INS_A(OP_CALL, argc));   /* its value (none) stays: exportto(...) is an expression */
  for (int i = 0; i < nkill; i++) {
    local *l = &cp->loc[kill[i]];
    if (!l->name[0]) continue;
    emit(cp, INS_A(OP_KILLL, l->slot));
    free(l->name);
    l->name = sl_xstrdup("");
  }
  free(kill);
  return 0;
}

void sl_code_release(sl_code *c) {
  if (!c || atomic_fetch_sub(&c->rc, 1) != 1) return;
  for (int i = 0; i < c->nk; i++) sl_release(c->k[i]);
  free(c->k);
  if (c->base) {   /* a bound quote: the rest is its base's */
    sl_code_release(c->base);
    free(c);
    return;
  }
  free(c->caps);
  free(c->g);
  free(c->ins);
  free(c->lines);
  free(c->ptypes);
  for (int i = 0; c->pnames && i < c->nparams; i++) free(c->pnames[i]);
  free(c->pnames);
  for (int i = 0; c->lnames && i < c->nlocals; i++) free(c->lnames[i]);
  free(c->lnames);
  free(c->pkg);
  free(c->name);
  free(c->file);
  free(c->src);
  free(c->example);
  if (c->text) sl_release(SL_OBJ(SL_T_STRING, c->text));
  free(c);
}

sl_code *sl_code_bind(sl_code *c, const sl_value *v) {
  sl_code *b = sl_xmalloc(sizeof *b);
  /* every field but the count, which other threads change meanwhile
   * (rc is the last one) */
  _Static_assert(offsetof(sl_code, rc) > offsetof(sl_code, base), "rc comes after every other field");
  memcpy(b, c, offsetof(sl_code, rc));
  atomic_init(&b->rc, 1);
  b->base = c;
  atomic_fetch_add(&c->rc, 1);
  b->k = sl_xmalloc((size_t)(c->nk ? c->nk : 1) * sizeof *b->k);
  for (int i = 0; i < c->nk; i++) { b->k[i] = c->k[i]; sl_retain(b->k[i]); }
  for (int i = 0; i < c->ncaps; i++) {
    sl_release(b->k[c->caps[i]]);
    b->k[c->caps[i]] = v[i];
    sl_retain(v[i]);
  }
  b->caps = NULL;
  b->ncaps = 0;
  return b;
}

const char *sl_code_lib(const sl_code *c) {
  const char *base = sl_path_base(c->file ? c->file : "");
  size_t n = strlen(base);
  return n > 4 && !strcmp(base + n - 4, ".lib") ? base : NULL;
}

static sl_code *compile(sl_ctx *C, const char *src, size_t len, const char *file, int line0, const char *libpkg);

sl_code *sl_compile(sl_ctx *C, const char *src, size_t len, const char *file, int line0) {
  return compile(C, src, len, file, line0, NULL);
}

sl_code *sl_compile_lib(sl_ctx *C, const char *src, size_t len, const char *file, const char *pkg) {
  return compile(C, src, len, file, 1, pkg);
}

static sl_code *compile(sl_ctx *C, const char *src, size_t len, const char *file, int line0, const char *libpkg) {
  sl_parsed pr;
  if ((libpkg ? sl_parse_lib : sl_parse)(src, len, line0, &pr) < 0) {
    sl_error(C, "%s:%d: %s", file, pr.errline, pr.err);
    C->errline = pr.errline;
    free(pr.err);
    return NULL;
  }
  comp cp = {.C = C, .line = line0, .libpkg = libpkg};
  cp.code = new_code_text("(top)", file, line0, NULL);
  sl_value text = sl_str_new(src, len);
  cp.code->text = sl_sv(text);
  cp.code->text_line0 = line0;
  sl_nodes *k = &pr.root->kids;
  /* a library's static procs are its own (Foo::f, and f in its code): two
   * libraries' helpers of one name do not replace each other */
  sl_node *mod_init = NULL;
  for (int i = 0; libpkg && i < k->n; i++) {
    sl_node *d = k->v[i];
    if (d->kind != N_PROCDEF || strstr(d->a->str, "::")) continue;
    cp.procs = sl_xrealloc(cp.procs, (size_t)(cp.nprocs + 1) * sizeof *cp.procs);
    cp.procs[cp.nprocs++] = d->a->str;
    if (!strcmp(d->a->str, "mod_init")) mod_init = d;
    if (!d->op) continue;
    cp.statics = sl_xrealloc(cp.statics, (size_t)(cp.nstatics + 1) * sizeof *cp.statics);
    cp.statics[cp.nstatics++] = d->a->str;
  }
  /* top-level statements: an if that ends the text notes its condition
   * for an else that begins the next one; any other text forgets it */
  if (k->n && k->v[0]->kind != N_ELSE) {
    emit(&cp, INS_A(OP_LOADG, global_ref(&cp, "(if)")));
    emit(&cp, INS_A(OP_CALL, 0));
    emit(&cp, INS_A(OP_POP, 0));
  }
  for (int i = 0; i < k->n && !cp.err; i++) {
    cp.top = k->v[i];
    cp.top_first = i == 0;
    cp.top_last = i == k->n - 1;
    cstmt(&cp, cp.top);
  }
  if (mod_init && !cp.err) {
    /* Singular runs a library's mod_init once it is read: it sets up what
     * the library's procs share (globals it exports, newstruct types) */
    char *q = cat3(libpkg, "::", "mod_init");
    cp.line = mod_init->line;
    emit(&cp, INS_A(OP_LOADG, global_ref(&cp, "(mod_init)")));
    emit(&cp, INS_A(OP_LOADG, global_ref(&cp, q)));
    emit(&cp, INS_A(OP_CONST, add_const(&cp, sl_str(sl_path_base(file)))));
    emit(&cp, INS_A(OP_CALL, 2));
    emit(&cp, INS_A(OP_POP, 0));
    free(q);
  }
  if (!cp.err) emit(&cp, INS_A(OP_RET0, 0));
  free(cp.statics);   /* the names were the tree's */
  free(cp.procs);
  sl_node_free(pr.root);
  if (cp.err) {
    sl_error(C, "%s:%d: %s", file, cp.errline, cp.err);
    C->errline = cp.errline;
    free(cp.err);
  }
  return finish(&cp, NULL);
}
