/* lex.h: the lexer turns source text into an array of tokens. */
#ifndef SL_LEX_H
#define SL_LEX_H
#include <stddef.h>
#include <stdint.h>

enum sl_tok {
  T_EOF, T_ERROR, T_INT, T_BIGNUM, T_STRING, T_NAME,
  /* punctuation */
  T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_LBRACE, T_RBRACE,
  T_COMMA, T_SEMI, T_COLON2, T_DOTDOT,
  T_PLUS, T_MINUS, T_STAR, T_SLASH, T_PERCENT, T_CARET,
  T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_ASSIGN,
  T_ANDAND, T_OROR, T_BANG, T_INC, T_DEC,
  T_PLUSEQ, T_MINUSEQ, T_STAREQ, T_SLASHEQ, T_COLON,
  /* keywords */
  T_IF, T_ELSE, T_WHILE, T_FOR, T_BREAK, T_CONTINUE, T_RETURN, T_PROC,
  T_DIV, T_MOD, T_AND, T_OR, T_NOT, T_QUIT, T_KILL, T_LIB, T_STATIC,
  T_TYPE,      /* int bigint string list intvec def proc-as-type: ival = type */
  T_BACKQ,     /* ` (a name given by a string: `"x" + "(1)"`) */
  T_DOT,       /* p.x: a member */
  T_NTOK
};

typedef struct sl_token {
  int kind;
  int line;
  int64_t ival;          /* T_INT value; T_TYPE type code */
  const char *start;     /* into the source */
  size_t len;
  char *str;             /* T_STRING (unescaped), T_NAME, T_BIGNUM: malloc'd */
} sl_token;

typedef struct sl_lexed {
  sl_token *t;
  int n;
  char *err;             /* malloc'd message on a lexical error */
} sl_lexed;

/* Tokenizes all of src; on error err is set and the last token is T_ERROR. */
int sl_lex(const char *src, size_t len, int line0, sl_lexed *out);
void sl_lex_free(sl_lexed *lx);
const char *sl_tok_name(int kind);

#endif
