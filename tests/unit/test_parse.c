/* test_parse.c: the parser -- precedence, statements, syntax errors. */
#include <check.h>
#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include "ast.h"
#include "sl.h"

/* parses src and returns the dump of its first statement */
static char *first(const char *src) {
  sl_parsed p;
  if (sl_parse(src, strlen(src), 1, &p) < 0) {
    char *e = strdup(p.err);
    free(p.err);
    return e;
  }
  char *d = sl_node_dump(p.root->kids.v[0]);
  sl_node_free(p.root);
  return d;
}

#define PARSES(src, want) do { char *d = first(src); ck_assert_str_eq(d, want); free(d); } while (0)

START_TEST(test_precedence) {
  PARSES("1 + 2 * 3;", "(exprs (+ 1 (* 2 3)))");
  PARSES("(1 + 2) * 3;", "(exprs (* (+ 1 2) 3))");
  PARSES("2 ^ 3 ^ 2;", "(exprs (^ (^ 2 3) 2))");
  PARSES("-x ^ 2;", "(exprs (neg (^ x 2)))");
  PARSES("a < b && c || !d;", "(exprs (or (and (< a b) c) (not d)))");
  PARSES("a and b or not c;", "(exprs (or (and a b) (not c)))");
  PARSES("7 div 2 mod 3;", "(exprs (mod (div 7 2) 3))");
  PARSES("1..n + 1;", "(exprs (range 1 (+ n 1)))");
  PARSES("10 - 2 - 3;", "(exprs (- (- 10 2) 3))");
}
END_TEST

START_TEST(test_postfix) {
  PARSES("f(1, g(2))[3];", "(exprs (index (call f 1 (call g 2)) 3))");
  PARSES("s[2, 3];", "(exprs (index s 2 3))");
  PARSES("l[1][2];", "(exprs (index (index l 1) 2))");
  PARSES("int(x);", "(exprs (call int x))");
  PARSES("quote(a + 1);", "(exprs (quote (+ a 1)))");
  PARSES("Top::foo(1);", "(exprs (call Top::foo 1))");
  PARSES("p.x;", "(exprs (. x p))");
  PARSES("s.b.x + 1;", "(exprs (+ (. x (. b s)) 1))");
  PARSES("l[2].x[3];", "(exprs (index (. x (index l 2)) 3))");
  PARSES("f(1).y;", "(exprs (. y (call f 1)))");
  PARSES("1..3;", "(exprs (range 1 3))");   /* `..` is not two member dots */
  PARSES("P::x + 1;", "(exprs (+ P::x 1))");
  PARSES("`\"a\" + b`;", "(exprs (backquote (+ \"a\" b)))");
  PARSES("`s`(1);", "(exprs (call (backquote s) 1))");
}
END_TEST

/* packages, export, type, indexed names (issue 24) */
START_TEST(test_names) {
  PARSES("int i(1..3);", "(decl int (call i (range 1 3)))");
  PARSES("int foo(1) = 42;", "(decl int (call foo 1) = 42)");
  PARSES("package P;", "(decl def P package)");
  PARSES("export a, b;", "(export a b)");
  PARSES("export(a);", "(export a)");
  PARSES("export = 1;", "(assign export = 1)");
  PARSES("type x;", "(type x)");
  PARSES("type(l[1]);", "(type (index l 1))");
  PARSES("type;", "(exprs type)");
  PARSES("listvar(int);", "(exprs (call listvar \"int\"))");
  PARSES("listvar(package);", "(exprs (call listvar \"package\"))");
  PARSES("listvar(P);", "(exprs (call listvar P))");
  PARSES("proc P::f() { }", "(proc P::f (block))");
  PARSES("`x` = 1;", "(assign (backquote x) = 1)");
  PARSES("`x;", "syntax error: expected a closing `` ` ``, found `;`");
}
END_TEST

START_TEST(test_statements) {
  PARSES("int a, b = 5, 6;", "(decl int a b = 5 6)");
  PARSES("list l = 1, \"x\";", "(decl list l = 1 \"x\")");
  PARSES("a, b = b, a;", "(assign a b = b a)");
  PARSES("a, b;", "(exprs a b)");
  PARSES("l[2] = 5;", "(assign (index l 2) = 5)");
  PARSES("i++;", "(exprs (incdec i))");
  PARSES("x += 2;", "(opassign 2 x)");
  PARSES("if (a) { b; } else c;", "(if a (block (exprs b)) (exprs c))");
  PARSES("while (1) { break; }", "(while 1 (block (break)))");
  PARSES("for (int i = 1; i <= 3; i++) { continue; }",
         "(for (decl int i = 1) (<= i 3) (exprs (incdec i)) (block (continue)))");
  PARSES("return(x);", "(return x)");
  PARSES("return();", "(return)");
  PARSES("kill a, b;", "(kill a b)");
  PARSES("LIB \"x.lib\";", "(LIB \"x.lib\")");
  PARSES("quit;", "(quit)");
  PARSES("counter c = f();", "(decl def c = (call f) counter)");
  PARSES("intmat m[2][n + 1] = 1, 2;", "(decl intmat (m 2 (+ n 1)) = 1 2)");
  PARSES("intmat a, b[1][2];", "(decl intmat a (b 1 2))");
  PARSES("m[1, 2] = 3;", "(assign (index m 1 2) = 3)");
  PARSES("s.b.x = 10;", "(assign (. x (. b s)) = 10)");
  PARSES("point p;", "(decl def p point)");
}
END_TEST

START_TEST(test_procs) {
  PARSES("proc f(int n, m) { return(n); }", "(proc f (block (return n)) (decl int n) (decl def m))");
  /* no parameter list: the arguments are `#` (proc h() takes none) */
  PARSES("proc g { 1; }", "(proc g (block (exprs 1)) (decl def #))");
  PARSES("proc h() \"help text\" { }", "(proc h (block))");
  PARSES("proc v(list #) { }", "(proc v (block) (decl list #))");
  PARSES("static proc s() { }", "(proc s (block))");
  PARSES("proc p = f;", "(decl proc p = f)");
}
END_TEST

START_TEST(test_errors) {
  PARSES("1 +;", "syntax error: expected an expression, found `;`");
  PARSES("int x = 1", "syntax error: expected `;`, found end of input");
  PARSES("if (1 { }", "syntax error: expected `)`, found `{`");
  PARSES("{ 1;", "syntax error: expected `}`, found end of input");
  PARSES("int = 3;", "syntax error: expected an expression, found `int`");
  PARSES("\"open", "syntax error: unterminated string");
  PARSES("proc f(1) { }", "syntax error: expected a parameter name, found `1`");
  PARSES("p.1;", "syntax error: expected a member name after `.`, found `1`");
  PARSES("intmat m[2] = 1;", "syntax error: expected `[` (intmat m[rows][columns]), found `=`");
  PARSES("intmat m[2][;", "syntax error: expected an expression, found `;`");
  sl_parsed p;
  ck_assert_int_lt(sl_parse("\n\n1 +;", 5, 1, &p), 0);
  ck_assert_int_eq(p.errline, 3);
  free(p.err);
}
END_TEST

int main(void) {
  Suite *s = suite_create("parse");
  TCase *tc = tcase_create("parse");
  tcase_add_test(tc, test_precedence);
  tcase_add_test(tc, test_postfix);
  tcase_add_test(tc, test_statements);
  tcase_add_test(tc, test_procs);
  tcase_add_test(tc, test_errors);
  tcase_add_test(tc, test_names);
  suite_add_tcase(s, tc);
  return check_run(s);
}
