/* ast.h: the syntax tree the parser builds and the compiler walks. */
#ifndef SL_AST_H
#define SL_AST_H
#include <stdint.h>

enum sl_node_kind {
  /* expressions */
  N_INT, N_BIGNUM, N_STRING, N_NAME, N_BINOP, N_AND, N_OR, N_NOT, N_NEG,
  N_CALL, N_INDEX, N_RANGE, N_QUOTE, N_DEFINED, N_LAST, N_INCDEC,
  /* statements */
  N_EXPRS, N_DECL, N_ASSIGN, N_OPASSIGN, N_IF, N_WHILE, N_FOR, N_BREAK,
  N_CONTINUE, N_RETURN, N_BLOCK, N_PROCDEF, N_QUIT, N_KILL, N_LIB, N_EMPTY,
  /* `expr` (a name computed at run time); export a, b; type x; */
  N_BACKQ, N_EXPORT, N_TYPE,
  N_MEMBER,    /* a.str: a member of a newstruct value */
  N_ELSE,      /* else a; with no if before it in the same text: Singular's
                * else of the last top-level if (the REPL, piped stdin) */
  N_CAPTURE    /* only while a quote is compiled (compile.c cquote): its
                * ival-th value taken when the quote is made */
};

typedef struct sl_node sl_node;
typedef struct sl_nodes { sl_node **v; int n, cap; } sl_nodes;

struct sl_node {
  int kind;
  int line;
  int op;          /* N_BINOP: SL_ADD..; N_DECL: type; N_INCDEC: +1/-1;
                    * N_PROCDEF: 1 for a static proc (and its c: the
                    * example block of a library proc, a string node) */
  int64_t ival;
  char *str;       /* names, string literals, big numbers, proc source */
  sl_node *a, *b, *c, *d;
  sl_nodes kids;   /* call args, block statements, decl names, params... */
  sl_nodes kids2;  /* right-hand sides */
};

typedef struct sl_parsed {
  sl_node *root;   /* an N_BLOCK */
  char *err;       /* "line N: message" on a syntax error */
  int errline;
} sl_parsed;

int sl_parse(const char *src, size_t len, int line0, sl_parsed *out);
/* A library's text: a proc whose body cannot be parsed stays, with the
 * error in its d (a string node) and an empty body; a proc's example
 * block is kept in its c (a string node). */
int sl_parse_lib(const char *src, size_t len, int line0, sl_parsed *out);
void sl_node_free(sl_node *n);
/* a compact s-expression of the tree, for tests: (+ 1 (* 2 3)) */
char *sl_node_dump(const sl_node *n);

#endif
