/* test_lex.c: the lexer -- tokens, literals, keywords, lines, errors. */
#include <check.h>
#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include "lex.h"
#include "sl.h"

static sl_lexed lx;

static void lex(const char *s) {
  sl_lex_free(&lx);
  sl_lex(s, strlen(s), 1, &lx);
}

START_TEST(test_punct_and_ops) {
  lex("a+b*(c-1)..2 == != <> <= >= && || ! ++ -- += :: ;");
  int want[] = {T_NAME, T_PLUS, T_NAME, T_STAR, T_LPAREN, T_NAME, T_MINUS, T_INT,
                T_RPAREN, T_DOTDOT, T_INT, T_EQ, T_NE, T_NE, T_LE, T_GE, T_ANDAND,
                T_OROR, T_BANG, T_INC, T_DEC, T_PLUSEQ, T_COLON2, T_SEMI, T_EOF};
  ck_assert_int_eq(lx.n, (int)(sizeof want / sizeof want[0]));
  for (int i = 0; i < lx.n; i++) ck_assert_int_eq(lx.t[i].kind, want[i]);
}
END_TEST

START_TEST(test_numbers) {
  lex("0 42 9223372036854775807 9223372036854775808 1..5");
  ck_assert_int_eq(lx.t[0].kind, T_INT);
  ck_assert_int_eq(lx.t[1].ival, 42);
  ck_assert_int_eq(lx.t[2].kind, T_INT);
  ck_assert(lx.t[2].ival == INT64_MAX);
  ck_assert_int_eq(lx.t[3].kind, T_BIGNUM);
  ck_assert_str_eq(lx.t[3].str, "9223372036854775808");
  ck_assert_int_eq(lx.t[4].ival, 1);
  ck_assert_int_eq(lx.t[5].kind, T_DOTDOT);
  ck_assert_int_eq(lx.t[6].ival, 5);
}
END_TEST

START_TEST(test_strings) {
  lex("\"a\\\"b\\\\c\" \"two\nlines\" \"\"");
  ck_assert_int_eq(lx.t[0].kind, T_STRING);
  ck_assert_str_eq(lx.t[0].str, "a\"b\\c");
  ck_assert_str_eq(lx.t[1].str, "two\nlines");
  ck_assert_int_eq(lx.t[2].line, 2);
  ck_assert_str_eq(lx.t[2].str, "");
  ck_assert_int_eq((int)lx.t[2].len, 0);
}
END_TEST

START_TEST(test_keywords_types) {
  lex("if else while for break continue return proc div mod and or not quit exit kill LIB int bigint string list intvec def x_1 #");
  int want[] = {T_IF, T_ELSE, T_WHILE, T_FOR, T_BREAK, T_CONTINUE, T_RETURN, T_PROC,
                T_DIV, T_MOD, T_AND, T_OR, T_NOT, T_QUIT, T_QUIT, T_KILL, T_LIB};
  for (int i = 0; i < (int)(sizeof want / sizeof want[0]); i++) ck_assert_int_eq(lx.t[i].kind, want[i]);
  ck_assert_int_eq(lx.t[17].kind, T_TYPE);
  ck_assert_int_eq(lx.t[17].ival, SL_T_INT);
  ck_assert_int_eq(lx.t[21].ival, SL_T_INTVEC);
  ck_assert_int_eq(lx.t[22].ival, SL_T_DEF);
  ck_assert_int_eq(lx.t[23].kind, T_NAME);
  ck_assert_str_eq(lx.t[23].str, "x_1");
  ck_assert_str_eq(lx.t[24].str, "#");
}
END_TEST

START_TEST(test_comments_and_lines) {
  lex("a // comment\n/* block\ncomment */ b\n\nc");
  ck_assert_int_eq(lx.n, 4);
  ck_assert_int_eq(lx.t[0].line, 1);
  ck_assert_int_eq(lx.t[1].line, 3);
  ck_assert_int_eq(lx.t[2].line, 5);
}
END_TEST

START_TEST(test_errors) {
  ck_assert_int_lt(sl_lex("\"open", 5, 1, &lx), 0);
  ck_assert_str_eq(lx.err, "unterminated string");
  ck_assert_int_eq(lx.t[lx.n - 1].kind, T_ERROR);
  sl_lex_free(&lx);
  ck_assert_int_lt(sl_lex("/* open", 7, 1, &lx), 0);
  ck_assert_str_eq(lx.err, "unterminated comment");
  sl_lex_free(&lx);
  ck_assert_int_lt(sl_lex("a $ b", 5, 1, &lx), 0);
  ck_assert_str_eq(lx.err, "unexpected character `$`");
  sl_lex_free(&lx);
}
END_TEST

int main(void) {
  Suite *s = suite_create("lex");
  TCase *tc = tcase_create("lex");
  tcase_add_test(tc, test_punct_and_ops);
  tcase_add_test(tc, test_numbers);
  tcase_add_test(tc, test_strings);
  tcase_add_test(tc, test_keywords_types);
  tcase_add_test(tc, test_comments_and_lines);
  tcase_add_test(tc, test_errors);
  suite_add_tcase(s, tc);
  return check_run(s);
}
