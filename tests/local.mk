# tests/local.mk: unit tests (Check) of the language, and script tests:
# tests/scripts/*.sing run by tests/scripts/run-test, compared with *.out.
noinst_HEADERS += tests/unit/check_main.h
LANG_UNIT = tests/unit/test_lex tests/unit/test_parse tests/unit/test_value \
	tests/unit/test_codec
check_PROGRAMS += $(LANG_UNIT)
TESTS += $(LANG_UNIT)
tests_unit_test_lex_SOURCES = tests/unit/test_lex.c
tests_unit_test_lex_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_lex_LDADD = lang/libsl.la $(CHECK_LIBS)
tests_unit_test_parse_SOURCES = tests/unit/test_parse.c
tests_unit_test_parse_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_parse_LDADD = lang/libsl.la $(CHECK_LIBS)
tests_unit_test_value_SOURCES = tests/unit/test_value.c
tests_unit_test_value_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_value_LDADD = lang/libsl.la $(CHECK_LIBS)
tests_unit_test_codec_SOURCES = tests/unit/test_codec.c
tests_unit_test_codec_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_codec_LDADD = lang/libsl.la $(CHECK_LIBS)

include $(srcdir)/tests/scripts/tests.mk
SING_LOG_COMPILER = $(SHELL) $(srcdir)/tests/scripts/run-test
AM_TESTS_ENVIRONMENT += SPINDLE='$(abs_top_builddir)/spindle'; \
	SPINDLE_PLUGIN_PATH='$(abs_top_builddir)/plugin/.libs'; \
	SPINDLE_PATH='$(abs_top_srcdir)/scripts/lib'; \
	SPINDLE_HISTORY='$(abs_top_builddir)/tests/scripts/repl_history.tmp'; \
	export SPINDLE SPINDLE_PLUGIN_PATH SPINDLE_PATH SPINDLE_HISTORY;
TESTS += $(SING_TESTS)
EXTRA_DIST += tests/README.md
EXTRA_DIST += $(SING_TESTS) $(SING_TESTS:.sing=.out) tests/scripts/run-test \
	tests/scripts/README.md tests/scripts/tests.mk \
	tests/scripts/singlib/fmt.lib tests/scripts/singlib/general.lib \
	tests/scripts/singlib/helpa.lib tests/scripts/singlib/helpb.lib \
	tests/scripts/singlib/standard.lib tests/scripts/singlib/shared.lib \
	tests/scripts/singlib/badinit.lib
CLEANFILES += tests/scripts/*.tmp
