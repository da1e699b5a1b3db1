# tests/faults/local.mk: fault tests of the runtime (Check): injected
# out-of-memory, signal storms, exit() in a job. See test_faults.c.
check_PROGRAMS += tests/faults/test_faults
TESTS += tests/faults/test_faults
tests_faults_test_faults_SOURCES = tests/faults/test_faults.c
tests_faults_test_faults_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_faults_test_faults_LDADD = src/libspindle_core.la $(CHECK_LIBS) $(PTHREAD_LIBS)

# Plugins that must fail to load (tests/scripts/plugin_faults.sing): one
# built for another ABI (exported spindle_plugin_abi), one whose init
# refuses with SPINDLE_PLUGIN_CHECK, one without an entry point. Built
# for make check only, next to the example plugin (plugin/.libs, where
# the script tests look); -rpath makes libtool build a shared object.
check_LTLIBRARIES += plugin/fault_badabi.la plugin/fault_oldabi.la \
	plugin/fault_noentry.la
FAULT_PLUGIN_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
plugin_fault_badabi_la_SOURCES = tests/faults/plugin_badabi.c
plugin_fault_badabi_la_LDFLAGS = $(FAULT_PLUGIN_LDFLAGS)
plugin_fault_oldabi_la_SOURCES = tests/faults/plugin_oldabi.c
plugin_fault_oldabi_la_LDFLAGS = $(FAULT_PLUGIN_LDFLAGS)
plugin_fault_noentry_la_SOURCES = tests/faults/plugin_noentry.c
plugin_fault_noentry_la_LDFLAGS = $(FAULT_PLUGIN_LDFLAGS)
EXTRA_DIST += tests/tsan.supp
