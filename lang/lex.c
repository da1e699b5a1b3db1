/* lex.c: source text -> tokens. Strings follow Singular: a backslash
 * takes the next character literally (\" and \\), and may span lines. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lex.h"
#include "sl.h"

static const struct { const char *w; int kind; int type; } keywords[] = {
  {"if", T_IF, 0}, {"else", T_ELSE, 0}, {"while", T_WHILE, 0},
  {"for", T_FOR, 0}, {"break", T_BREAK, 0}, {"continue", T_CONTINUE, 0},
  {"return", T_RETURN, 0}, {"proc", T_PROC, SL_T_PROC}, {"div", T_DIV, 0},
  {"mod", T_MOD, 0}, {"and", T_AND, 0}, {"or", T_OR, 0}, {"not", T_NOT, 0},
  {"quit", T_QUIT, 0}, {"exit", T_QUIT, 0}, {"kill", T_KILL, 0},
  {"LIB", T_LIB, 0}, {"static", T_STATIC, 0},
  {"int", T_TYPE, SL_T_INT}, {"bigint", T_TYPE, SL_T_BIGINT},
  {"string", T_TYPE, SL_T_STRING}, {"list", T_TYPE, SL_T_LIST},
  {"intvec", T_TYPE, SL_T_INTVEC}, {"def", T_TYPE, SL_T_DEF},
  {"intmat", T_TYPE, SL_T_INTMAT},
};

static const char *names[T_NTOK] = {
  "end of input", "error", "integer", "integer", "string", "name",
  "`(`", "`)`", "`[`", "`]`", "`{`", "`}`", "`,`", "`;`", "`::`", "`..`",
  "`+`", "`-`", "`*`", "`/`", "`%`", "`^`", "`==`", "`!=`", "`<`", "`<=`",
  "`>`", "`>=`", "`=`", "`&&`", "`||`", "`!`", "`++`", "`--`", "`+=`",
  "`-=`", "`*=`", "`/=`", "`:`", "`if`", "`else`", "`while`", "`for`",
  "`break`", "`continue`", "`return`", "`proc`", "`div`", "`mod`", "`and`",
  "`or`", "`not`", "`quit`", "`kill`", "`LIB`", "`static`", "type name",
  "`` ` ``", "`.`",
};

const char *sl_tok_name(int kind) {
  return kind >= 0 && kind < T_NTOK ? names[kind] : "?";
}

typedef struct lexer {
  const char *p, *end;
  int line;
  sl_lexed *out;
  int cap;
} lexer;

static sl_token *push(lexer *L, int kind, const char *start) {
  if (L->out->n == L->cap) {
    L->cap = L->cap ? L->cap * 2 : 64;
    L->out->t = sl_xrealloc(L->out->t, (size_t)L->cap * sizeof(sl_token));
  }
  sl_token *t = &L->out->t[L->out->n++];
  memset(t, 0, sizeof *t);
  t->kind = kind;
  t->line = L->line;
  t->start = start;
  t->len = (size_t)(L->p - start);
  return t;
}

static int fail(lexer *L, const char *msg) {
  char buf[160];
  snprintf(buf, sizeof buf, "%s", msg);
  L->out->err = sl_xstrdup(buf);
  push(L, T_ERROR, L->p);
  return -1;
}

/* skips blanks and comments; -1 on an unterminated comment */
static int skip_space(lexer *L) {
  for (;;) {
    while (L->p < L->end && isspace((unsigned char)*L->p)) {
      if (*L->p == '\n') L->line++;
      L->p++;
    }
    if (L->p + 1 < L->end && L->p[0] == '/' && L->p[1] == '/') {
      while (L->p < L->end && *L->p != '\n') L->p++;
    } else if (L->p + 1 < L->end && L->p[0] == '/' && L->p[1] == '*') {
      L->p += 2;
      while (L->p + 1 < L->end && !(L->p[0] == '*' && L->p[1] == '/')) {
        if (*L->p == '\n') L->line++;
        L->p++;
      }
      if (L->p + 1 >= L->end) return fail(L, "unterminated comment");
      L->p += 2;
    } else {
      return 0;
    }
  }
}

static int lex_string(lexer *L) {
  const char *start = L->p++;
  int line = L->line;
  sl_buf b = {0};
  while (L->p < L->end && *L->p != '"') {
    if (*L->p == '\\' && L->p + 1 < L->end) L->p++;
    if (*L->p == '\n') L->line++;
    sl_buf_add(&b, L->p, 1);
    L->p++;
  }
  if (L->p >= L->end) {
    sl_buf_free(&b);
    L->line = line;
    return fail(L, "unterminated string");
  }
  L->p++;
  sl_token *t = push(L, T_STRING, start);
  t->line = line;
  t->str = b.s ? b.s : strdup("");
  t->len = b.len;
  return 0;
}

static void lex_number(lexer *L) {
  const char *start = L->p;
  while (L->p < L->end && isdigit((unsigned char)*L->p)) L->p++;
  size_t n = (size_t)(L->p - start);
  int64_t v = 0;
  int big = 0;
  for (size_t i = 0; i < n && !big; i++)
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, start[i] - '0', &v))
      big = 1;
  sl_token *t = push(L, big ? T_BIGNUM : T_INT, start);
  t->ival = v;
  if (big) t->str = sl_xstrndup(start, n);
}

/* Singular's names may hold and begin with @ (libraries name their helpers
 * @i, @marie); # is the varargs list */
static int is_name_char(int c) { return isalnum(c) || c == '_' || c == '#' || c == '@'; }

static void lex_name(lexer *L) {
  const char *start = L->p;
  while (L->p < L->end && is_name_char((unsigned char)*L->p)) L->p++;
  size_t n = (size_t)(L->p - start);
  for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
    if (strlen(keywords[i].w) == n && !memcmp(keywords[i].w, start, n)) {
      sl_token *t = push(L, keywords[i].kind, start);
      t->ival = keywords[i].type;
      return;
    }
  sl_token *t = push(L, T_NAME, start);
  t->str = sl_xstrndup(start, n);
}

static const struct { const char *s; int kind; } ops[] = {
  {"::", T_COLON2}, {"..", T_DOTDOT}, {"==", T_EQ}, {"!=", T_NE},
  {"<>", T_NE}, {"<=", T_LE}, {">=", T_GE}, {"&&", T_ANDAND},
  {"||", T_OROR}, {"++", T_INC}, {"--", T_DEC}, {"+=", T_PLUSEQ},
  {"-=", T_MINUSEQ}, {"*=", T_STAREQ}, {"/=", T_SLASHEQ}, {"**", T_CARET},
  {"(", T_LPAREN}, {")", T_RPAREN}, {"[", T_LBRACK}, {"]", T_RBRACK},
  {"{", T_LBRACE}, {"}", T_RBRACE}, {",", T_COMMA}, {";", T_SEMI},
  {"+", T_PLUS}, {"-", T_MINUS}, {"*", T_STAR}, {"/", T_SLASH},
  {"%", T_PERCENT}, {"^", T_CARET}, {"<", T_LT}, {">", T_GT},
  {"=", T_ASSIGN}, {"!", T_BANG}, {":", T_COLON}, {"&", T_ANDAND}, {"|", T_OROR},
  {"`", T_BACKQ},
  {".", T_DOT},
};

static int lex_op(lexer *L) {
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    size_t n = strlen(ops[i].s);
    if ((size_t)(L->end - L->p) >= n && !memcmp(L->p, ops[i].s, n)) {
      const char *start = L->p;
      L->p += n;
      push(L, ops[i].kind, start);
      return 0;
    }
  }
  char msg[64];
  snprintf(msg, sizeof msg, "unexpected character `%c`", *L->p);
  return fail(L, msg);
}

int sl_lex(const char *src, size_t len, int line0, sl_lexed *out) {
  lexer L = {src, src + len, line0, out, 0};
  memset(out, 0, sizeof *out);
  for (;;) {
    if (skip_space(&L) < 0) return -1;
    if (L.p >= L.end) { push(&L, T_EOF, L.p); return 0; }
    unsigned char c = (unsigned char)*L.p;
    int rc = 0;
    if (c == '"') rc = lex_string(&L);
    else if (isdigit(c)) lex_number(&L);
    else if (isalpha(c) || c == '_' || c == '#' || c == '@') lex_name(&L);
    else rc = lex_op(&L);
    if (rc < 0) return -1;
  }
}

void sl_lex_free(sl_lexed *lx) {
  for (int i = 0; i < lx->n; i++) free(lx->t[i].str);
  free(lx->t);
  free(lx->err);
  memset(lx, 0, sizeof *lx);
}
