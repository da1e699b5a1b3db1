/* parse.c: tokens -> syntax tree, by recursive descent. Errors never
 * longjmp: every function returns NULL after recording the first error. */
#include <stdlib.h>
#include <string.h>
#include "ast.h"
#include "lex.h"
#include "sl.h"

typedef struct parser {
  sl_lexed lx;
  int i;
  char *err;
  int errline;
  const char *src;
  int lib;   /* a part of a library's text (sl_parse_lib): a LIB line may
              * lack its `;`, the head (version=...) is dropped */
} parser;

static sl_token *peek(parser *P) { return &P->lx.t[P->i]; }
static sl_token *peek2(parser *P) {
  return P->i + 1 < P->lx.n ? &P->lx.t[P->i + 1] : &P->lx.t[P->lx.n - 1];
}
static sl_token *next(parser *P) {
  sl_token *t = &P->lx.t[P->i];
  if (t->kind != T_EOF && t->kind != T_ERROR) P->i++;
  return t;
}
static int at(parser *P, int k) { return peek(P)->kind == k; }
static int accept(parser *P, int k) {
  if (!at(P, k)) return 0;
  next(P);
  return 1;
}

static int is_word(sl_token *t, const char *w) { return t->kind == T_NAME && !strcmp(t->str, w); }

static void *perr(parser *P, const char *what) {
  if (P->err) return NULL;
  sl_token *t = peek(P);
  sl_buf b = {0};
  if (t->kind == T_ERROR) sl_buf_printf(&b, "syntax error: %s", P->lx.err);
  else if (t->kind == T_EOF) sl_buf_printf(&b, "syntax error: %s, found end of input", what);
  else sl_buf_printf(&b, "syntax error: %s, found `%.*s`", what, (int)(t->len > 30 ? 30 : t->len), t->start);
  P->err = b.s;
  P->errline = t->line;
  return NULL;
}

static int expect(parser *P, int k, const char *what) {
  if (accept(P, k)) return 1;
  perr(P, what);
  return 0;
}

static sl_node *mk(int kind, int line) {
  sl_node *n = sl_xcalloc(1, sizeof *n);
  n->kind = kind;
  n->line = line;
  return n;
}

static void add(sl_nodes *l, sl_node *n) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 4;
    l->v = sl_xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
  }
  l->v[l->n++] = n;
}

void sl_node_free(sl_node *n) {
  if (!n) return;
  sl_node_free(n->a); sl_node_free(n->b); sl_node_free(n->c); sl_node_free(n->d);
  for (int i = 0; i < n->kids.n; i++) sl_node_free(n->kids.v[i]);
  for (int i = 0; i < n->kids2.n; i++) sl_node_free(n->kids2.v[i]);
  free(n->kids.v);
  free(n->kids2.v);
  free(n->str);
  free(n);
}

static sl_node *expr(parser *P);
static sl_node *statement(parser *P);
static sl_node *qualified_name(parser *P, sl_token *pkg);
static sl_node *backquote(parser *P);

static int exprlist(parser *P, sl_nodes *out) {
  do {
    sl_node *e = expr(P);
    if (!e) return 0;
    add(out, e);
  } while (accept(P, T_COMMA));
  return 1;
}

static sl_node *listvar_arg(parser *P);

/* a string literal node holding s: a name passed as a string (listvar's
 * types, option's and importfrom's names) */
static sl_node *string_node(const char *s, int line) {
  sl_node *n = mk(N_STRING, line);
  n->str = sl_xstrdup(s);
  n->ival = (int64_t)strlen(s);
  return n;
}

static sl_node *call_args(parser *P, sl_node *callee) {
  sl_node *n = mk(N_CALL, callee->line);
  n->a = callee;
  if (callee->kind == N_NAME && !strcmp(callee->str, "importfrom")) {
    /* importfrom(P, name): the name is passed as a string */
    if (at(P, T_RPAREN)) {
      expect(P, T_NAME, "importfrom: expected a package, then the name to import");
      sl_node_free(n);
      return NULL;
    }
    sl_node *pkg = expr(P);
    if (!pkg) { sl_node_free(n); return NULL; }
    add(&n->kids, pkg);
    if (!expect(P, T_COMMA, "importfrom: expected a package, then the name to import") ||
        peek(P)->kind != T_NAME) {
      if (!P->err) expect(P, T_NAME, "importfrom: expected the name to import");
      sl_node_free(n);
      return NULL;
    }
    sl_token *t = next(P);
    add(&n->kids, string_node(t->str, t->line));
    if (!expect(P, T_RPAREN, "importfrom: expected `)` after the name (one name a call)")) { sl_node_free(n); return NULL; }
    return n;
  }
  if (callee->kind == N_NAME && !strcmp(callee->str, "option")) {
    /* option(redSB, noprot): option names as strings; option(set, v)
     * takes an expression after `set` */
    for (int set = 0; !set && peek(P)->kind == T_NAME &&
                      (peek2(P)->kind == T_COMMA || peek2(P)->kind == T_RPAREN);) {
      sl_token *t = next(P);
      add(&n->kids, string_node(t->str, t->line));
      set = !strcmp(t->str, "set");
      if (at(P, T_RPAREN)) { next(P); return n; }
      next(P);   /* the comma */
    }
    if (n->kids.n && !exprlist(P, &n->kids)) { sl_node_free(n); return NULL; }
    if (n->kids.n) {
      if (!expect(P, T_RPAREN, "expected `)`")) { sl_node_free(n); return NULL; }
      return n;
    }
  }
  if (callee->kind == N_NAME && !strcmp(callee->str, "listvar")) {
    sl_node *x;
    while ((x = listvar_arg(P))) {
      add(&n->kids, x);
      if (!accept(P, T_COMMA)) break;
    }
    if (n->kids.n && at(P, T_RPAREN)) { next(P); return n; }
  }
  if (!accept(P, T_RPAREN)) {
    if (!exprlist(P, &n->kids) || !expect(P, T_RPAREN, "expected `)`")) {
      sl_node_free(n);
      return NULL;
    }
  }
  return n;
}

static sl_node *name_node(const char *s, int line) {
  sl_node *n = mk(N_NAME, line);
  n->str = sl_xstrdup(s);
  return n;
}

/* a call of one of the language's internal builtins ("(:)", "(source)",
 * "(example)": names no script can write) */
static sl_node *internal_call(const char *name, int line) {
  sl_node *c = mk(N_CALL, line);
  c->a = name_node(name, line);
  return c;
}

/* the statement `e;` */
static sl_node *expr_stmt(sl_node *e, int line) {
  sl_node *n = mk(N_EXPRS, line);
  add(&n->kids, e);
  return n;
}

/* P::x after the name P (already taken): the node "P::x" */
static sl_node *qualified_name(parser *P, sl_token *pkg) {
  next(P);
  sl_token *t = next(P);
  sl_node *n = mk(N_NAME, pkg->line);
  size_t a = strlen(pkg->str), b = strlen(t->str);
  n->str = sl_xmalloc(a + b + 3);
  memcpy(n->str, pkg->str, a);
  memcpy(n->str + a, "::", 2);
  memcpy(n->str + a + 2, t->str, b + 1);
  return n;
}

/* `expr`: the variable named by the string expr */
static sl_node *backquote(parser *P) {
  sl_node *n = mk(N_BACKQ, next(P)->line);
  if (!(n->a = expr(P)) || !expect(P, T_BACKQ, "expected a closing `` ` ``")) { sl_node_free(n); return NULL; }
  return n;
}

/* listvar(int), listvar(proc), listvar(package), listvar(all): a type
 * name or `all` as the argument is passed as a string */
static sl_node *listvar_arg(parser *P) {
  sl_token *t = peek(P), *t2 = peek2(P);
  if (t2->kind != T_RPAREN && t2->kind != T_COMMA) return NULL;
  const char *s = NULL;
  if (t->kind == T_TYPE) s = sl_type_name((int)t->ival);
  else if (t->kind == T_PROC) s = "proc";
  else if (t->kind == T_NAME && (!strcmp(t->str, "all") || !strcmp(t->str, "package"))) s = t->str;
  if (!s) return NULL;
  next(P);
  return string_node(s, t->line);
}

/* quote(expr) keeps its expression unevaluated, with its text */
static sl_node *quote_expr(parser *P, int line) {
  next(P);
  if (!expect(P, T_LPAREN, "expected `(` after quote")) return NULL;
  const char *s = peek(P)->start;
  sl_node *e = expr(P);
  if (!e) return NULL;
  const char *end = peek(P)->start;
  if (!expect(P, T_RPAREN, "expected `)`")) { sl_node_free(e); return NULL; }
  sl_node *n = mk(N_QUOTE, line);
  n->a = e;
  n->str = sl_xstrndup(s, (size_t)(end - s));
  return n;
}

static sl_node *defined_expr(parser *P, int line) {
  next(P);
  next(P);
  sl_token *t = peek(P);
  if (t->kind == T_NAME && peek2(P)->kind == T_RPAREN) {
    sl_node *n = mk(N_DEFINED, line);
    n->str = sl_xstrdup(t->str);
    next(P);
    next(P);
    return n;
  }
  sl_node *e = expr(P);
  if (!e || !expect(P, T_RPAREN, "expected `)`")) { sl_node_free(e); return NULL; }
  sl_node *n = mk(N_DEFINED, line);
  n->a = e;
  return n;
}

static sl_node *primary(parser *P) {
  sl_token *t = peek(P);
  sl_node *n;
  switch (t->kind) {
  case T_INT: next(P); n = mk(N_INT, t->line); n->ival = t->ival; return n;
  case T_BIGNUM: next(P); n = mk(N_BIGNUM, t->line); n->str = sl_xstrdup(t->str); return n;
  case T_STRING:
    next(P);
    n = mk(N_STRING, t->line);
    n->str = sl_xmalloc(t->len + 1);
    memcpy(n->str, t->str, t->len + 1);
    n->ival = (int64_t)t->len;
    return n;
  case T_NAME:
    if (!strcmp(t->str, "quote") && peek2(P)->kind == T_LPAREN) return quote_expr(P, t->line);
    if (!strcmp(t->str, "defined") && peek2(P)->kind == T_LPAREN) return defined_expr(P, t->line);
    next(P);
    if (!strcmp(t->str, "_")) return mk(N_LAST, t->line);
    /* P::name: the global name of package P (the compiler maps Top:: and
     * Current::) */
    if (at(P, T_COLON2) && peek2(P)->kind == T_NAME) return qualified_name(P, t);
    return name_node(t->str, t->line);
  case T_TYPE: case T_PROC:
    if (peek2(P)->kind == T_LPAREN) {
      next(P);
      return name_node(t->kind == T_PROC ? "proc" : sl_type_name((int)t->ival), t->line);
    }
    return perr(P, "expected an expression");
  case T_BACKQ: return backquote(P);
  case T_LPAREN: {
    next(P);
    sl_node *e = expr(P);
    if (e && at(P, T_COMMA)) {   /* (a, b): an expression list */
      n = internal_call("(list)", e->line);
      add(&n->kids, e);
      while (accept(P, T_COMMA)) {
        sl_node *x = expr(P);
        if (!x) { sl_node_free(n); return NULL; }
        add(&n->kids, x);
      }
      e = n;
    }
    if (!e || !expect(P, T_RPAREN, "expected `)`")) { sl_node_free(e); return NULL; }
    return e;
  }
  default:
    return perr(P, "expected an expression");
  }
}

static sl_node *postfix(parser *P) {
  sl_node *e = primary(P);
  while (e) {
    int line = peek(P)->line;
    if (accept(P, T_LPAREN)) {
      e = call_args(P, e);
    } else if (accept(P, T_LBRACK)) {
      sl_node *n = mk(N_INDEX, line);
      n->a = e;
      e = n;
      if (!(n->b = expr(P))) { sl_node_free(n); return NULL; }
      if (accept(P, T_COMMA) && !(n->c = expr(P))) { sl_node_free(n); return NULL; }
      if (!expect(P, T_RBRACK, "expected `]`")) { sl_node_free(n); return NULL; }
    } else if (accept(P, T_DOT)) {
      if (!at(P, T_NAME)) { sl_node_free(e); return perr(P, "expected a member name after `.`"); }
      sl_node *n = mk(N_MEMBER, line);
      n->a = e;
      n->str = sl_xstrdup(next(P)->str);
      e = n;
    } else if (at(P, T_INC) || at(P, T_DEC)) {
      sl_node *n = mk(N_INCDEC, line);
      n->op = next(P)->kind == T_INC ? 1 : -1;
      n->a = e;
      return n;
    } else {
      break;
    }
  }
  return e;
}

static sl_node *binop(int op, sl_node *a, sl_node *b, int line) {
  sl_node *n = mk(N_BINOP, line);
  n->op = op;
  n->a = a;
  n->b = b;
  return n;
}

static sl_node *unary(parser *P);

/* ^ groups from the left, as in Singular: 2^3^2 is 64 */
static sl_node *power(parser *P) {
  sl_node *a = postfix(P);
  while (a && at(P, T_CARET)) {
    int line = next(P)->line;
    sl_node *b = at(P, T_MINUS) ? unary(P) : postfix(P);
    if (!b) { sl_node_free(a); return NULL; }
    a = binop(SL_POW, a, b, line);
  }
  return a;
}

static sl_node *unary(parser *P) {
  int line = peek(P)->line;
  if (accept(P, T_MINUS)) {
    sl_node *e = unary(P);
    if (!e) return NULL;
    if (e->kind == N_INT) { e->ival = -e->ival; return e; }
    sl_node *n = mk(N_NEG, line);
    n->a = e;
    return n;
  }
  if (accept(P, T_PLUS)) return unary(P);
  if (accept(P, T_BANG) || accept(P, T_NOT)) {
    sl_node *e = unary(P);
    if (!e) return NULL;
    sl_node *n = mk(N_NOT, line);
    n->a = e;
    return n;
  }
  return power(P);
}

static int mulop(int k) {
  switch (k) {
  case T_STAR: return SL_MUL;
  case T_SLASH: return SL_DIV;
  case T_DIV: return SL_IDIV;
  case T_MOD: case T_PERCENT: return SL_MOD;
  default: return -1;
  }
}

static sl_node *term(parser *P) {
  sl_node *a = unary(P);
  while (a && mulop(peek(P)->kind) >= 0) {
    sl_token *t = next(P);
    sl_node *b = unary(P);
    if (!b) { sl_node_free(a); return NULL; }
    a = binop(mulop(t->kind), a, b, t->line);
  }
  return a;
}

/* + and -, and Singular's a:n (an intvec of n entries a) at their
 * precedence, left to right: 1:2+1 is (1:2)+1 */
static sl_node *sum(parser *P) {
  sl_node *a = term(P);
  while (a && (at(P, T_PLUS) || at(P, T_MINUS) || at(P, T_COLON))) {
    sl_token *t = next(P);
    sl_node *b = term(P);
    if (!b) { sl_node_free(a); return NULL; }
    if (t->kind == T_COLON) {
      sl_node *c = internal_call("(:)", t->line);
      add(&c->kids, a);
      add(&c->kids, b);
      a = c;
      continue;
    }
    a = binop(t->kind == T_PLUS ? SL_ADD : SL_SUB, a, b, t->line);
  }
  return a;
}

static sl_node *range(parser *P) {
  sl_node *a = sum(P);
  if (a && at(P, T_DOTDOT)) {
    int line = next(P)->line;
    sl_node *b = sum(P);
    if (!b) { sl_node_free(a); return NULL; }
    sl_node *n = mk(N_RANGE, line);
    n->a = a;
    n->b = b;
    return n;
  }
  return a;
}

static int cmpop(int k) {
  switch (k) {
  case T_EQ: return SL_EQ;
  case T_NE: return SL_NE;
  case T_LT: return SL_LT;
  case T_LE: return SL_LE;
  case T_GT: return SL_GT;
  case T_GE: return SL_GE;
  default: return -1;
  }
}

static sl_node *comparison(parser *P) {
  sl_node *a = range(P);
  while (a && cmpop(peek(P)->kind) >= 0) {
    sl_token *t = next(P);
    sl_node *b = range(P);
    if (!b) { sl_node_free(a); return NULL; }
    a = binop(cmpop(t->kind), a, b, t->line);
  }
  return a;
}

static sl_node *logic_and(parser *P) {
  sl_node *a = comparison(P);
  while (a && (at(P, T_ANDAND) || at(P, T_AND))) {
    int line = next(P)->line;
    sl_node *b = comparison(P);
    if (!b) { sl_node_free(a); return NULL; }
    sl_node *n = mk(N_AND, line);
    n->a = a;
    n->b = b;
    a = n;
  }
  return a;
}

static sl_node *expr(parser *P) {
  sl_node *a = logic_and(P);
  while (a && (at(P, T_OROR) || at(P, T_OR))) {
    int line = next(P)->line;
    sl_node *b = logic_and(P);
    if (!b) { sl_node_free(a); return NULL; }
    sl_node *n = mk(N_OR, line);
    n->a = a;
    n->b = b;
    a = n;
  }
  return a;
}

/* ---- statements -------------------------------------------------------- */
static sl_node *block(parser *P) {
  sl_node *n = mk(N_BLOCK, peek(P)->line);
  if (!expect(P, T_LBRACE, "expected `{`")) { free(n); return NULL; }
  while (!at(P, T_RBRACE)) {
    if (at(P, T_EOF) || at(P, T_ERROR)) {
      perr(P, "expected `}`");
      sl_node_free(n);
      return NULL;
    }
    sl_node *s = statement(P);
    if (!s) { sl_node_free(n); return NULL; }
    add(&n->kids, s);
  }
  next(P);
  return n;
}

static sl_node *body(parser *P) {
  if (at(P, T_LBRACE)) return block(P);
  return statement(P);
}

static sl_node *end_stmt(parser *P, sl_node *n) {
  if (!n) return NULL;
  if (!expect(P, T_SEMI, "expected `;`")) { sl_node_free(n); return NULL; }
  return n;
}

static sl_node *paren_cond(parser *P) {
  if (!expect(P, T_LPAREN, "expected `(`")) return NULL;
  sl_node *c = expr(P);
  if (!c || !expect(P, T_RPAREN, "expected `)`")) { sl_node_free(c); return NULL; }
  return c;
}

static sl_node *if_stmt(parser *P, int line) {
  sl_node *n = mk(N_IF, line);
  if (!(n->a = paren_cond(P)) || !(n->b = body(P))) { sl_node_free(n); return NULL; }
  if (accept(P, T_ELSE) && !(n->c = body(P))) { sl_node_free(n); return NULL; }
  return n;
}

static sl_node *while_stmt(parser *P, int line) {
  sl_node *n = mk(N_WHILE, line);
  if (!(n->a = paren_cond(P)) || !(n->b = body(P))) { sl_node_free(n); return NULL; }
  return n;
}

static sl_node *simple_stmt(parser *P);

static sl_node *for_stmt(parser *P, int line) {
  sl_node *n = mk(N_FOR, line);
  if (!expect(P, T_LPAREN, "expected `(`")) goto bad;
  if (!at(P, T_SEMI) && !(n->a = simple_stmt(P))) goto bad;
  if (!expect(P, T_SEMI, "expected `;`")) goto bad;
  if (!at(P, T_SEMI) && !(n->b = expr(P))) goto bad;
  if (!expect(P, T_SEMI, "expected `;`")) goto bad;
  if (!at(P, T_RPAREN) && !(n->c = simple_stmt(P))) goto bad;
  if (!expect(P, T_RPAREN, "expected `)`")) goto bad;
  if (!(n->d = body(P))) goto bad;
  return n;
bad:
  sl_node_free(n);
  return NULL;
}

static sl_node *proc_def(parser *P, int line) {
  sl_token *name = next(P);
  sl_node *n = mk(N_PROCDEF, line);
  if (at(P, T_COLON2) && peek2(P)->kind == T_NAME) n->a = qualified_name(P, name);   /* proc P::f */
  else n->a = name_node(name->str, name->line);
  if (accept(P, T_LPAREN) && !accept(P, T_RPAREN)) {
    do {
      sl_node *p = mk(N_DECL, peek(P)->line);
      p->op = SL_T_DEF;
      add(&n->kids, p);
      /* Singular's `alias int a`: the argument is not copied; values are
       * shared here anyway (changed only as copies), so it is a plain one */
      if (is_word(peek(P), "alias") && (peek2(P)->kind == T_TYPE || peek2(P)->kind == T_NAME ||
                                        peek2(P)->kind == T_PROC))
        next(P);
      if (at(P, T_TYPE) || at(P, T_PROC)) {
        sl_token *t = next(P);
        p->op = t->kind == T_PROC ? SL_T_PROC : (int)t->ival;
      } else if (at(P, T_NAME) && peek2(P)->kind == T_NAME) {
        sl_token *t = next(P);   /* a plugin type: checked by the plugin's functions */
        p->a = name_node(t->str, t->line);   /* assignments to p convert */
      }
      if (!at(P, T_NAME)) { perr(P, "expected a parameter name"); goto bad; }
      p->str = strdup(next(P)->str);
    } while (accept(P, T_COMMA));
    if (!expect(P, T_RPAREN, "expected `)`")) goto bad;
  } else if (!n->kids.n && P->lx.t[P->i - 1].kind != T_RPAREN) {
    /* proc f { ... } with no parameter list: its arguments are `#`, as
     * Singular's (proc f() { ... } takes none) */
    sl_node *p = mk(N_DECL, line);
    p->op = SL_T_DEF;
    p->str = strdup("#");
    add(&n->kids, p);
  }
  if (at(P, T_STRING)) next(P);           /* help text */
  const char *s = peek(P)->start;
  if (!(n->b = block(P))) goto bad;
  const char *e = P->lx.t[P->i - 1].start + 1;
  n->str = sl_xstrndup(s, (size_t)(e - s));
  return n;
bad:
  sl_node_free(n);
  return NULL;
}

/* intmat m[r][c]: the sizes hang on the name (a: rows, b: columns) */
static int intmat_dims(parser *P, sl_node *name) {
  next(P);
  if (!(name->a = expr(P)) || !expect(P, T_RBRACK, "expected `]`")) return 0;
  if (!expect(P, T_LBRACK, "expected `[` (intmat m[rows][columns])")) return 0;
  if (!(name->b = expr(P)) || !expect(P, T_RBRACK, "expected `]`")) return 0;
  return 1;
}

static sl_node *decl(parser *P) {
  sl_token *t = next(P);
  sl_node *n = mk(N_DECL, t->line);
  n->op = t->kind == T_PROC ? SL_T_PROC : (int)t->ival;
  do {
    if (!at(P, T_NAME)) { perr(P, "expected a name to declare"); sl_node_free(n); return NULL; }
    sl_token *nm = next(P);
    sl_node *x = at(P, T_COLON2) && peek2(P)->kind == T_NAME ? qualified_name(P, nm) : name_node(nm->str, nm->line);
    if (accept(P, T_LPAREN) && !(x = call_args(P, x))) { sl_node_free(n); return NULL; }   /* int foo(1..3) */
    add(&n->kids, x);
    if (n->op == SL_T_INTMAT && x->kind == N_NAME && at(P, T_LBRACK) && !intmat_dims(P, x)) { sl_node_free(n); return NULL; }
  } while (accept(P, T_COMMA));
  if (accept(P, T_ASSIGN) && !exprlist(P, &n->kids2)) { sl_node_free(n); return NULL; }
  return n;
}

static int opassign(int k) {
  switch (k) {
  case T_PLUSEQ: return SL_ADD;
  case T_MINUSEQ: return SL_SUB;
  case T_STAREQ: return SL_MUL;
  case T_SLASHEQ: return SL_DIV;
  default: return -1;
  }
}

/* declaration, assignment or expression list (no trailing `;`) */
static sl_node *simple_stmt(parser *P) {
  sl_token *t = peek(P);
  if ((t->kind == T_TYPE || t->kind == T_PROC) && peek2(P)->kind == T_NAME) return decl(P);
  if (t->kind == T_NAME && peek2(P)->kind == T_NAME && P->i + 2 < P->lx.n) {
    int k3 = P->lx.t[P->i + 2].kind;   /* "counter c = ...": a plugin type; "link l(i) = ..." */
    if (k3 == T_ASSIGN || k3 == T_SEMI || k3 == T_COMMA || k3 == T_LPAREN) {
      char *tname = sl_xstrdup(t->str);
      sl_node *n = decl(P);
      if (n) { n->op = SL_T_DEF; n->str = tname; } else free(tname);
      return n;
    }
    if (sl_singular_algebra_type(t->str) && !P->err) {   /* `matrix m[2][2];` */
      P->err = sl_unknown_type_msg(t->str);
      P->errline = t->line;
      return NULL;
    }
  }
  sl_node *n = mk(N_EXPRS, t->line);
  if (!exprlist(P, &n->kids)) { sl_node_free(n); return NULL; }
  if (accept(P, T_ASSIGN)) {
    n->kind = N_ASSIGN;
    if (!exprlist(P, &n->kids2)) { sl_node_free(n); return NULL; }
  } else if (opassign(peek(P)->kind) >= 0 && n->kids.n == 1) {
    n->kind = N_OPASSIGN;
    n->op = opassign(next(P)->kind);
    if (!(n->a = expr(P))) { sl_node_free(n); return NULL; }
  }
  return n;
}

static sl_node *return_stmt(parser *P, int line) {
  sl_node *n = mk(N_RETURN, line);
  if (at(P, T_SEMI)) return n;
  if (at(P, T_LPAREN) && peek2(P)->kind == T_RPAREN) { next(P); next(P); return n; }
  if (!exprlist(P, &n->kids)) { sl_node_free(n); return NULL; }
  return n;
}

static sl_node *kill_stmt(parser *P, int line) {
  sl_node *n = mk(N_KILL, line);
  do {
    if (at(P, T_BACKQ)) {   /* kill `s`: the name s holds */
      sl_node *x = backquote(P);
      if (!x) { sl_node_free(n); return NULL; }
      add(&n->kids, x);
      continue;
    }
    if (!at(P, T_NAME)) { perr(P, "expected a name after kill"); sl_node_free(n); return NULL; }
    sl_token *t = next(P);
    sl_node *x = at(P, T_COLON2) && peek2(P)->kind == T_NAME ? qualified_name(P, t) : name_node(t->str, line);
    if (accept(P, T_LPAREN) && !(x = call_args(P, x))) { sl_node_free(n); return NULL; }   /* kill i(1..3) */
    add(&n->kids, x);
  } while (accept(P, T_COMMA));
  return n;
}

/* export a, b;  export(a);  type x;  type(x): statements, as in Singular */

static sl_node *export_stmt(parser *P, int line) {
  sl_node *n = mk(N_EXPORT, line);
  int paren = accept(P, T_LPAREN);
  do {
    if (!at(P, T_NAME)) { perr(P, "expected a name after export"); sl_node_free(n); return NULL; }
    add(&n->kids, name_node(next(P)->str, line));
  } while (accept(P, T_COMMA));
  if (paren && !expect(P, T_RPAREN, "expected `)`")) { sl_node_free(n); return NULL; }
  return end_stmt(P, n);
}

static sl_node *names_stmt(parser *P) {
  sl_token *t = peek(P), *t2 = peek2(P);
  if (is_word(t, "export") && (t2->kind == T_NAME || (t2->kind == T_LPAREN && P->i + 2 < P->lx.n &&
                                                       P->lx.t[P->i + 2].kind == T_NAME))) {
    next(P);
    return export_stmt(P, t->line);
  }
  int k = t2->kind;
  if (is_word(t, "type") && (k == T_NAME || k == T_LPAREN || k == T_INT || k == T_BIGNUM ||
                             k == T_STRING || k == T_BACKQ || k == T_MINUS)) {
    next(P);
    sl_node *n = mk(N_TYPE, t->line);
    if (!(n->a = expr(P))) { sl_node_free(n); return NULL; }
    return end_stmt(P, n);
  }
  return NULL;
}

static sl_node *statement(parser *P) {
  sl_token *t = peek(P);
  int line = t->line;
  if (t->kind == T_NAME && (is_word(t, "export") || is_word(t, "type"))) {
    int i0 = P->i;
    sl_node *n = names_stmt(P);
    if (n || P->err) return n;
    P->i = i0;
  }
  switch (t->kind) {
  case T_SEMI: next(P); return mk(N_EMPTY, line);
  case T_LBRACE: return block(P);
  case T_IF: next(P); return if_stmt(P, line);
  case T_ELSE: {   /* an else of its own: the compiler decides (top level only) */
    next(P);
    sl_node *n = mk(N_ELSE, line);
    if (!(n->a = body(P))) { sl_node_free(n); return NULL; }
    return n;
  }
  case T_WHILE: next(P); return while_stmt(P, line);
  case T_FOR: next(P); return for_stmt(P, line);
  case T_BREAK: next(P); return end_stmt(P, mk(N_BREAK, line));
  case T_CONTINUE: next(P); return end_stmt(P, mk(N_CONTINUE, line));
  case T_RETURN: {   /* Singular returns at once: `return(d) }` lacks nothing there (aksaka.lib) */
    next(P);
    sl_node *n = return_stmt(P, line);
    if (n && at(P, T_RBRACE)) return n;
    return end_stmt(P, n);
  }
  case T_STATIC:
    next(P);
    if (!at(P, T_PROC)) return perr(P, "expected `proc` after `static`");
    {
      sl_node *n = statement(P);
      if (n && n->kind == N_PROCDEF) n->op = 1;   /* static: its library's own */
      return n;
    }
  case T_PROC:
    if (peek2(P)->kind == T_NAME && P->i + 2 < P->lx.n &&
        P->lx.t[P->i + 2].kind != T_ASSIGN && P->lx.t[P->i + 2].kind != T_SEMI &&
        P->lx.t[P->i + 2].kind != T_COMMA) {
      next(P);
      return proc_def(P, line);
    }
    break;
  case T_QUIT: {
    next(P);
    sl_node *n = mk(N_QUIT, line);
    if (accept(P, T_LPAREN) && !accept(P, T_RPAREN)) {
      if (!(n->a = expr(P)) || !expect(P, T_RPAREN, "expected `)`")) { sl_node_free(n); return NULL; }
    }
    return end_stmt(P, n);
  }
  case T_KILL: next(P); return end_stmt(P, kill_stmt(P, line));
  case T_NAME:   /* example f; runs a library proc's example: "(example)"("f") */
    if (is_word(t, "example") && peek2(P)->kind == T_NAME && P->i + 2 < P->lx.n &&
        P->lx.t[P->i + 2].kind == T_SEMI) {
      next(P);
      sl_node *c = internal_call("(example)", line);
      add(&c->kids, string_node(next(P)->str, line));
      return end_stmt(P, expr_stmt(c, line));
    }
    break;
  case T_LT: {   /* < "file"; runs a file, as Singular's: "(source)"(file) */
    next(P);
    sl_node *arg = expr(P);
    if (!arg) return NULL;
    sl_node *c = internal_call("(source)", line);
    add(&c->kids, arg);
    return end_stmt(P, expr_stmt(c, line));
  }
  case T_LIB: {
    next(P);
    sl_node *n = mk(N_LIB, line);
    if (!(n->a = expr(P))) { sl_node_free(n); return NULL; }
    /* Singular's libraries also end a LIB line without `;` (central.lib) */
    if (P->lib && !at(P, T_SEMI) && peek(P)->line > P->lx.t[P->i - 1].line) return n;
    return end_stmt(P, n);
  }
  default: break;
  }
  return end_stmt(P, simple_stmt(P));
}

static int parse(const char *src, size_t len, int line0, int lib, sl_parsed *out) {
  parser P;
  memset(&P, 0, sizeof P);
  memset(out, 0, sizeof *out);
  P.src = src;
  P.lib = lib;
  sl_lex(src, len, line0, &P.lx);
  sl_node *root = mk(N_BLOCK, line0);
  while (!at(&P, T_EOF)) {
    if (at(&P, T_ERROR)) { perr(&P, ""); break; }
    /* a Singular library's head, version="..."; category="..."; info="...";
     * is what Singular's help shows: read and dropped (no variables) */
    sl_token *t = peek(&P);
    int head = lib && (peek2(&P)->kind == T_ASSIGN || peek2(&P)->kind == T_EQ) &&   /* == : classifyci.lib */
               (is_word(t, "version") || is_word(t, "category") || is_word(t, "info"));
    if (head) {   /* its `;` may be missing too (groups.lib) */
      next(&P);
      next(&P);
      sl_node *e = expr(&P);
      if (!e) break;
      sl_node_free(e);
      accept(&P, T_SEMI);
      continue;
    }
    sl_node *s = statement(&P);
    if (!s) break;
    add(&root->kids, s);
  }
  if (P.err) {
    sl_node_free(root);
    out->err = P.err;
    out->errline = P.errline;
    sl_lex_free(&P.lx);
    return -1;
  }
  out->root = root;
  sl_lex_free(&P.lx);
  return 0;
}

int sl_parse(const char *src, size_t len, int line0, sl_parsed *out) {
  return parse(src, len, line0, 0, out);
}

/* the end of the string literal that starts at s[i] (its closing quote),
 * or len */
static size_t string_end(const char *s, size_t i, size_t len) {
  for (i++; i < len && s[i] != '"'; i++)
    if (s[i] == '\\' && i + 1 < len) i++;
  return i;
}

static int ident_char(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

/* the next character past blanks (spaces, tabs, line ends) from i */
static size_t skip_ws(const char *s, size_t i, size_t len) {
  while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  return i;
}

/* Singular's libraries also write a proc's help the old way: a quote
 * that is not closed before the body's `{`, or no quote at all (even a
 * `;` and comments: Singular's libparse reads whatever comes between a
 * proc's head and the first `{` as its help). In a copy of the text,
 * such help is blanked (newlines kept, so lines still count); help
 * closed properly stays, for the parser to skip. */
static char *old_help_blanked(const char *src, size_t len) {
  char *s = sl_xmalloc(len + 1);
  memcpy(s, src, len);
  s[len] = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '/' && i + 1 < len && s[i + 1] == '/') {
      while (i < len && s[i] != '\n') i++;
    } else if (s[i] == '/' && i + 1 < len && s[i + 1] == '*') {
      for (i += 2; i + 1 < len && !(s[i] == '*' && s[i + 1] == '/'); i++) {}
      i++;
    } else if (s[i] == '"') {
      i = string_end(s, i, len);
    } else if (!strncmp(s + i, "proc", 4) && (i == 0 || !ident_char(s[i - 1])) && i + 4 < len &&
               (s[i + 4] == ' ' || s[i + 4] == '\t')) {
      size_t j = i + 4;
      while (j < len && (s[j] == ' ' || s[j] == '\t')) j++;
      if (j >= len || !ident_char(s[j])) continue;   /* proc p = f; and such */
      while (j < len && (ident_char(s[j]) || s[j] == ':')) j++;
      j = skip_ws(s, j, len);
      if (j < len && s[j] == '(') {
        int depth = 0;
        for (; j < len; j++) {
          if (s[j] == '(') depth++;
          else if (s[j] == ')' && --depth == 0) { j++; break; }
        }
      }
      j = skip_ws(s, j, len);
      i = j - 1;
      if (j >= len || s[j] == '{' || s[j] == '=') continue;
      if (s[j] == '"') {
        size_t e = string_end(s, j, len), k = skip_ws(s, e + 1, len);
        if (e < len && k < len && s[k] == '{') { i = e; continue; }   /* help closed properly */
      }
      size_t b = j;
      while (b < len && s[b] != '{') b++;
      for (size_t m = j; m < b; m++)
        if (s[m] != '\n') s[m] = ' ';
      i = b - 1;
    }
  }
  return s;
}

/* ---- Singular's libraries ---------------------------------------------
 * Singular reads a library proc's body only when the proc is called, so a
 * library whose procs use its algebra loads there, and its other procs
 * run. Here the text is cut into its procs (each with the example block
 * after it, kept for `example f;`) and what lies between them; each proc is parsed on
 * its own, and one whose body cannot be parsed (or lexed: 'x is
 * Singular's) stays a proc with the error in d, which the compiler makes
 * a proc whose call says why (compile.c, stub_proc). */

/* the next character past blanks and comments from i (len at the end;
 * i may be len + 1 after an unclosed string) */
static size_t skip_blank(const char *s, size_t i, size_t len) {
  if (i > len) i = len;
  for (;;) {
    i = skip_ws(s, i, len);
    if (i + 1 < len && s[i] == '/' && s[i + 1] == '/') {
      while (i < len && s[i] != '\n') i++;
    } else if (i + 1 < len && s[i] == '/' && s[i + 1] == '*') {
      for (i += 2; i + 1 < len && !(s[i] == '*' && s[i + 1] == '/'); i++) {}
      i = i + 2 < len ? i + 2 : len;
    } else {
      return i;
    }
  }
}

/* a word w at i, standing alone */
static int word_at(const char *s, size_t i, size_t len, const char *w) {
  size_t n = strlen(w);
  return i + n <= len && !strncmp(s + i, w, n) && (i == 0 || !ident_char(s[i - 1])) &&
         (i + n == len || !ident_char(s[i + n]));
}

/* from a `{` at i: just past its `}` (strings and comments skipped), or
 * len when it is never closed */
static size_t past_brace(const char *s, size_t i, size_t len) {
  int depth = 0;
  for (; i < len; i++) {
    if (s[i] == '"') i = string_end(s, i, len);
    else if (s[i] == '/' && i + 1 < len && (s[i + 1] == '/' || s[i + 1] == '*')) i = skip_blank(s, i, len) - 1;
    else if (s[i] == '{') depth++;
    else if (s[i] == '}' && --depth == 0) return i + 1;
  }
  return len;
}

/* a proc's body: the first `{` after its head (a help string skipped) */
static size_t body_open(const char *s, size_t i, size_t len) {
  for (; i < len && s[i] != '{'; i++)
    if (s[i] == '"') i = string_end(s, i, len);
  return i < len ? i : len;
}

/* the line of s[pos], counted on from the last question (the chunker
 * asks in order: a library of 10,000 lines is read once, not per proc) */
typedef struct { const char *s; size_t pos; int line; } line_cursor;

static int line_of(line_cursor *c, size_t pos) {
  if (pos < c->pos) { c->pos = 0; c->line = 0; }
  for (; c->pos < pos; c->pos++) c->line += c->s[c->pos] == '\n';
  return c->line;
}

/* the name after the word proc at s[i]: its start; its end in *end
 * (start == end: no name) */
static size_t proc_name(const char *s, size_t i, size_t len, size_t *end) {
  size_t j = skip_blank(s, i + 4, len), k = j;
  while (k < len && (ident_char(s[k]) || s[k] == ':')) k++;
  *end = k;
  return j;
}

/* parse s[from, to) (starting at line) and add its statements to root;
 * -1 with out's error set on a syntax error */
static int parse_part(const char *s, size_t from, size_t to, int line, sl_node *root, sl_parsed *out) {
  sl_parsed pr;
  if (parse(s + from, to - from, line, 1, &pr) < 0) {
    *out = pr;
    return -1;
  }
  for (int k = 0; k < pr.root->kids.n; k++) add(&root->kids, pr.root->kids.v[k]);
  pr.root->kids.n = 0;
  sl_node_free(pr.root);
  return 0;
}

/* a proc that cannot be parsed (its text s[from, to), the word proc at
 * at, its body's `{` at open): its head alone, with the error */
static int broken_proc(const char *s, size_t from, size_t at, size_t open, size_t to, int line,
                       sl_parsed *err, sl_node *root, sl_parsed *out) {
  size_t n = open - from;
  char *head = sl_xmalloc(n + 3);
  memcpy(head, s + from, n);
  memcpy(head + n, "{}", 3);
  sl_parsed pr;
  int rc = parse(head, n + 2, line, 1, &pr);
  free(head);
  if (rc < 0 || pr.root->kids.n != 1 || pr.root->kids.v[0]->kind != N_PROCDEF) {
    /* the head is broken too (parameters of Singular's algebra types):
     * the proc by its name alone */
    if (rc == 0) sl_node_free(pr.root);
    else free(pr.err);
    size_t k, i = proc_name(s, at, open, &k);
    char *nm = sl_xmalloc(k - i + 16);
    snprintf(nm, k - i + 16, "proc %.*s {}", (int)(k - i), s + i);
    rc = k > i ? parse(nm, strlen(nm), line, 1, &pr) : -1;
    free(nm);
    if (rc < 0 || pr.root->kids.n != 1 || pr.root->kids.v[0]->kind != N_PROCDEF) {
      if (rc == 0) sl_node_free(pr.root);
      else if (k > i) free(pr.err);
      *out = *err;   /* not even a name: the body's error stands */
      return -1;
    }
  }
  sl_node *p = pr.root->kids.v[0];
  pr.root->kids.n = 0;
  sl_node_free(pr.root);
  p->d = string_node(err->err, err->errline);
  free(err->err);
  free(p->str);
  p->str = sl_xstrndup(s + open, to - open);
  add(&root->kids, p);
  return 0;
}

int sl_parse_lib(const char *src, size_t len, int line0, sl_parsed *out) {
  char *s = old_help_blanked(src, len);
  sl_node *root = mk(N_BLOCK, line0);
  memset(out, 0, sizeof *out);
  size_t part = 0, i = 0;   /* the text before the next proc starts at part */
  int rc = 0;
  line_cursor lc = {s, 0, 0};
  while (rc == 0) {
    i = skip_blank(s, i, len);
    size_t start = i;
    if (word_at(s, i, len, "static")) i = skip_blank(s, i + 6, len);
    int is_proc = word_at(s, i, len, "proc");
    if (is_proc) {   /* proc name..., not proc p = f; */
      size_t k, j = proc_name(s, i, len, &k);
      k = skip_blank(s, k, len);
      is_proc = k > j && k < len && s[k] != '=' && s[k] != ';' && s[k] != ',';
    }
    if (i >= len || is_proc) {
      if (start > part &&
          parse_part(s, part, start, line0 + line_of(&lc, part), root, out) < 0) { rc = -1; break; }
      if (i >= len) break;
      size_t open = body_open(s, i, len), end = past_brace(s, open, len);
      int line = line0 + line_of(&lc, start);
      sl_parsed pr;
      if (parse_part(s, start, end, line, root, &pr) < 0 &&
          broken_proc(s, start, i, open, end, line, &pr, root, out) < 0) {
        rc = -1;
        break;
      }
      i = skip_blank(s, end, len);
      if (i < len && s[i] == ';') i = skip_blank(s, i + 1, len);   /* `};` (grobcov.lib) */
      /* example blocks, run by `example f;` only (two in a row in
       * mprimdec.lib, `example;` in dmodapp.lib, `examples` in
       * arnoldclassify.lib): the first is kept with the proc */
      sl_node *last = root->kids.n ? root->kids.v[root->kids.n - 1] : NULL;
      while (word_at(s, i, len, "example") || word_at(s, i, len, "examples")) {
        size_t b = skip_blank(s, i + (s[i + 7] == 's' ? 8 : 7), len);
        if (b < len && s[b] == ';') b = skip_blank(s, b + 1, len);
        if (b >= len || s[b] != '{') break;
        size_t e = past_brace(s, b, len);
        if (last && last->kind == N_PROCDEF && !last->c && e > b + 1 && s[e - 1] == '}') {
          /* from the `{`'s line on (its own text included), without the braces */
          char *t = sl_xstrndup(src + b + 1, e - b - 2);
          last->c = string_node(t, line0 + line_of(&lc, b));
          free(t);
        }
        i = skip_blank(s, e, len);
      }
      part = i;
      continue;
    }
    /* anything else: a statement, up to its `;` or the next proc (a LIB
     * line may lack its `;`) */
    for (; i < len; i++) {
      if (i > start && (word_at(s, i, len, "proc") || word_at(s, i, len, "static"))) break;
      if (s[i] == '"') i = string_end(s, i, len);
      else if (s[i] == '/' && i + 1 < len && (s[i + 1] == '/' || s[i + 1] == '*')) i = skip_blank(s, i, len) - 1;
      else if (s[i] == '{') i = past_brace(s, i, len) - 1;
      else if (s[i] == ';') { i++; break; }
    }
  }
  free(s);
  if (rc < 0) {
    sl_node_free(root);
    return -1;
  }
  out->root = root;
  return 0;
}

/* ---- dump (tests and debugging) ---------------------------------------- */
static const char *opname[] = {"+", "-", "*", "/", "div", "mod", "^",
                               "==", "!=", "<", "<=", ">", ">="};
static const char *kindname[] = {
  "int", "bignum", "str", "name", "op", "and", "or", "not", "neg", "call",
  "index", "range", "quote", "defined", "_", "incdec", "exprs", "decl",
  "assign", "opassign", "if", "while", "for", "break", "continue", "return",
  "block", "proc", "quit", "kill", "LIB", "empty", "backquote", "export", "type", "member",
  "else", "capture"};

static void dump(sl_buf *b, const sl_node *n) {
  if (!n) { sl_buf_puts(b, "nil"); return; }
  switch (n->kind) {
  case N_INT: sl_buf_printf(b, "%lld", (long long)n->ival); return;
  case N_BIGNUM: case N_NAME:
    if (n->a) { sl_buf_printf(b, "(%s", n->str); break; }   /* intmat m[r][c] */
    sl_buf_puts(b, n->str);
    return;
  case N_MEMBER: sl_buf_printf(b, "(. %s", n->str); break;
  case N_STRING: sl_buf_printf(b, "\"%s\"", n->str); return;
  case N_BINOP: sl_buf_printf(b, "(%s", opname[n->op]); break;
  case N_DECL: sl_buf_printf(b, "(decl %s", sl_type_name(n->op)); break;
  default: sl_buf_printf(b, "(%s", kindname[n->kind]); break;
  }
  const sl_node *parts[4] = {n->a, n->b, n->c, n->d};
  for (int i = 0; i < 4; i++)
    if (parts[i]) { sl_buf_puts(b, " "); dump(b, parts[i]); }
  for (int i = 0; i < n->kids.n; i++) { sl_buf_puts(b, " "); dump(b, n->kids.v[i]); }
  if (n->kids2.n) sl_buf_puts(b, " =");
  for (int i = 0; i < n->kids2.n; i++) { sl_buf_puts(b, " "); dump(b, n->kids2.v[i]); }
  if (n->kind == N_DECL && n->str) sl_buf_printf(b, " %s", n->str);
  sl_buf_puts(b, ")");
}

char *sl_node_dump(const sl_node *n) {
  sl_buf b = {0};
  dump(&b, n);
  return b.s;
}
