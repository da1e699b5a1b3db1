# src/local.mk: libspindle, included by the top-level Makefile.am.
#
# All objects go into a convenience library (libspindle_core.la) that the
# unit tests link directly, so they can reach sp__ internals; the
# installed libspindle.la wraps it and exports only SP_API names.

noinst_LTLIBRARIES += src/libspindle_core.la
src_libspindle_core_la_SOURCES = \
	src/context_x86_64.S src/fiber.c src/stack.c src/sched.c \
	src/worker.c src/job.c src/pool.c src/preempt.c src/signals.c \
	src/deps.c src/trigger.c src/channel.c
src_libspindle_core_la_CPPFLAGS = $(AM_CPPFLAGS) -DSP_BUILDING_LIBRARY
src_libspindle_core_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden
src_libspindle_core_la_LIBADD = $(PTHREAD_LIBS)

lib_LTLIBRARIES += src/libspindle.la
src_libspindle_la_SOURCES =
src_libspindle_la_LIBADD = src/libspindle_core.la $(PTHREAD_LIBS)
src_libspindle_la_LDFLAGS = $(AM_LDFLAGS) -version-info 0:0:0
# libtool needs a C source to pick the linker; none is needed here
nodist_EXTRA_src_libspindle_la_SOURCES = dummy.c

# installed as $(includedir)/spindle/spindle.h; spindle.pc's Cflags put
# $(includedir)/spindle on the path, so #include <spindle.h> works
pkginclude_HEADERS += src/spindle.h
noinst_HEADERS += src/internal.h
pkgconfig_DATA += src/spindle.pc src/spindle-plugin.pc
EXTRA_DIST += src/README.md

# ---- unit tests of the runtime ----
SP_UNIT_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
SP_UNIT_LIBS = src/libspindle_core.la $(CHECK_LIBS) $(PTHREAD_LIBS)

check_PROGRAMS += tests/unit/test_fiber tests/unit/test_job \
	tests/unit/test_preempt tests/unit/test_coord
TESTS += tests/unit/test_fiber tests/unit/test_job tests/unit/test_preempt \
	tests/unit/test_coord

tests_unit_test_fiber_SOURCES = tests/unit/test_fiber.c
tests_unit_test_fiber_CFLAGS = $(SP_UNIT_CFLAGS)
tests_unit_test_fiber_LDADD = $(SP_UNIT_LIBS)
tests_unit_test_job_SOURCES = tests/unit/test_job.c
tests_unit_test_job_CFLAGS = $(SP_UNIT_CFLAGS)
tests_unit_test_job_LDADD = $(SP_UNIT_LIBS)
tests_unit_test_preempt_SOURCES = tests/unit/test_preempt.c
tests_unit_test_preempt_CFLAGS = $(SP_UNIT_CFLAGS)
tests_unit_test_preempt_LDADD = $(SP_UNIT_LIBS)
tests_unit_test_coord_SOURCES = tests/unit/test_coord.c
tests_unit_test_coord_CFLAGS = $(SP_UNIT_CFLAGS)
tests_unit_test_coord_LDADD = $(SP_UNIT_LIBS)

# ---- stats and trace (issue 7) ----
src_libspindle_core_la_SOURCES += src/stats.c src/trace.c

# ---- resizing pools, bound jobs (sp_pool_set_workers, sp_job_start_on) ----
src_libspindle_core_la_SOURCES += src/resize.c
check_PROGRAMS += tests/unit/test_trace
TESTS += tests/unit/test_trace
tests_unit_test_trace_SOURCES = tests/unit/test_trace.c
tests_unit_test_trace_CPPFLAGS = $(AM_CPPFLAGS) \
	-DSP_TOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_trace_CFLAGS = $(SP_UNIT_CFLAGS)
tests_unit_test_trace_LDADD = $(SP_UNIT_LIBS)
EXTRA_DIST += scripts/trace-check
CLEANFILES += tests/unit/*.trace.json
check_PROGRAMS += tests/unit/test_resize
TESTS += tests/unit/test_resize
tests_unit_test_resize_SOURCES = tests/unit/test_resize.c
tests_unit_test_resize_CPPFLAGS = $(AM_CPPFLAGS) \
	-DSP_TOP_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_resize_CFLAGS = $(SP_UNIT_CFLAGS)
tests_unit_test_resize_LDADD = $(SP_UNIT_LIBS)
check_PROGRAMS += tests/unit/test_inline
TESTS += tests/unit/test_inline
tests_unit_test_inline_SOURCES = tests/unit/test_inline.c
tests_unit_test_inline_CFLAGS = $(SP_UNIT_CFLAGS)
tests_unit_test_inline_LDADD = $(SP_UNIT_LIBS)
