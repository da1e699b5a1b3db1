# tests/stress/local.mk: the randomized stress program (tests/stress/stress.c).
# make check runs a bounded number of rounds (its default); scripts/stress N
# runs N rounds.
check_PROGRAMS += tests/stress/stress
TESTS += tests/stress/stress
tests_stress_stress_SOURCES = tests/stress/stress.c
tests_stress_stress_LDADD = src/libspindle.la $(PTHREAD_LIBS)
