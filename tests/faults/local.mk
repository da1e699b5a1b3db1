# tests/faults/local.mk: fault tests of the runtime (Check): injected
# out-of-memory, signal storms, exit() in a job. See test_faults.c.
check_PROGRAMS += tests/faults/test_faults
TESTS += tests/faults/test_faults
tests_faults_test_faults_SOURCES = tests/faults/test_faults.c
tests_faults_test_faults_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_faults_test_faults_LDADD = src/libspindle_core.la $(CHECK_LIBS) $(PTHREAD_LIBS)
