# scripts/local.mk: included by the top-level Makefile.am.

# ---- benchmarks (scripts/bench/) ----
# The benchmark programs are EXTRA_PROGRAMS: plain `make` and `make check`
# never build them, so a runtime API that is not there yet cannot break the
# build.  `make bench` (or scripts/bench/run, which builds each program on
# its own and reports n/a for those that fail) builds and runs them.
# Benchmarks are not tests: nothing timed runs under `make check`.
bench_baselines = \
	scripts/bench/bin/bl_switch \
	scripts/bench/bin/bl_pool \
	scripts/bench/bin/bl_pingpong \
	scripts/bench/bin/bl_fib
bench_spindle = \
	scripts/bench/bin/sp_switch \
	scripts/bench/bin/sp_jobs \
	scripts/bench/bin/sp_memory \
	scripts/bench/bin/sp_fib \
	scripts/bench/bin/sp_preempt \
	scripts/bench/bin/sp_channel \
	scripts/bench/bin/sp_chain \
	scripts/bench/bin/sp_cancel_dfs \
	scripts/bench/bin/sp_trace \
	scripts/bench/bin/sp_startwait \
	scripts/bench/bin/sp_handoff
# the language's own pieces, against lang/sl.h
bench_lang = scripts/bench/bin/sl_codec
EXTRA_PROGRAMS = $(bench_baselines) $(bench_spindle) $(bench_lang)

# Baselines: plain C and pthreads, no spindle.
scripts_bench_bin_bl_switch_SOURCES = scripts/bench/c/bl_switch.c scripts/bench/c/bench.h
scripts_bench_bin_bl_pool_SOURCES = scripts/bench/c/bl_pool.c scripts/bench/c/bench.h
scripts_bench_bin_bl_pool_LDADD = $(PTHREAD_LIBS)
scripts_bench_bin_bl_pingpong_SOURCES = scripts/bench/c/bl_pingpong.c scripts/bench/c/bench.h
scripts_bench_bin_bl_pingpong_LDADD = $(PTHREAD_LIBS)
scripts_bench_bin_bl_fib_SOURCES = scripts/bench/c/bl_fib.c scripts/bench/c/bench.h

# spindle side: linked statically against the in-tree libspindle (no
# libtool wrapper script, no PLT in the timed loops).
bench_sp_ldadd = $(top_builddir)/src/libspindle.la $(PTHREAD_LIBS)
bench_sp_ldflags = -static
scripts_bench_bin_sp_switch_SOURCES = scripts/bench/c/sp_switch.c scripts/bench/c/bench.h scripts/bench/c/pingpong.h
scripts_bench_bin_sp_switch_LDADD = $(bench_sp_ldadd)
scripts_bench_bin_sp_switch_LDFLAGS = $(bench_sp_ldflags)
scripts_bench_bin_sp_jobs_SOURCES = scripts/bench/c/sp_jobs.c scripts/bench/c/bench.h
scripts_bench_bin_sp_jobs_LDADD = $(bench_sp_ldadd)
scripts_bench_bin_sp_jobs_LDFLAGS = $(bench_sp_ldflags)
scripts_bench_bin_sp_memory_SOURCES = scripts/bench/c/sp_memory.c scripts/bench/c/bench.h
scripts_bench_bin_sp_memory_LDADD = $(bench_sp_ldadd)
scripts_bench_bin_sp_memory_LDFLAGS = $(bench_sp_ldflags)
scripts_bench_bin_sp_fib_SOURCES = scripts/bench/c/sp_fib.c scripts/bench/c/bench.h
scripts_bench_bin_sp_fib_LDADD = $(bench_sp_ldadd)
scripts_bench_bin_sp_fib_LDFLAGS = $(bench_sp_ldflags)
scripts_bench_bin_sp_preempt_SOURCES = scripts/bench/c/sp_preempt.c scripts/bench/c/bench.h
scripts_bench_bin_sp_preempt_LDADD = $(bench_sp_ldadd)
scripts_bench_bin_sp_preempt_LDFLAGS = $(bench_sp_ldflags)
scripts_bench_bin_sp_channel_SOURCES = scripts/bench/c/sp_channel.c scripts/bench/c/bench.h
scripts_bench_bin_sp_channel_LDADD = $(bench_sp_ldadd)
scripts_bench_bin_sp_channel_LDFLAGS = $(bench_sp_ldflags)
scripts_bench_bin_sp_chain_SOURCES = scripts/bench/c/sp_chain.c scripts/bench/c/bench.h
scripts_bench_bin_sp_chain_LDADD = $(bench_sp_ldadd)
scripts_bench_bin_sp_chain_LDFLAGS = $(bench_sp_ldflags)
scripts_bench_bin_sp_cancel_dfs_SOURCES = scripts/bench/c/sp_cancel_dfs.c scripts/bench/c/bench.h
scripts_bench_bin_sp_cancel_dfs_LDADD = $(bench_sp_ldadd)
scripts_bench_bin_sp_cancel_dfs_LDFLAGS = $(bench_sp_ldflags)
scripts_bench_bin_sp_trace_SOURCES = scripts/bench/c/sp_trace.c scripts/bench/c/bench.h scripts/bench/c/pingpong.h
scripts_bench_bin_sp_trace_LDADD = $(bench_sp_ldadd)
scripts_bench_bin_sp_trace_LDFLAGS = $(bench_sp_ldflags)
scripts_bench_bin_sp_startwait_SOURCES = scripts/bench/c/sp_startwait.c scripts/bench/c/bench.h
scripts_bench_bin_sp_startwait_LDADD = $(bench_sp_ldadd)
scripts_bench_bin_sp_startwait_LDFLAGS = $(bench_sp_ldflags)
scripts_bench_bin_sp_handoff_SOURCES = scripts/bench/c/sp_handoff.c scripts/bench/c/bench.h
scripts_bench_bin_sp_handoff_LDADD = $(bench_sp_ldadd)
scripts_bench_bin_sp_handoff_LDFLAGS = $(bench_sp_ldflags)

# the cluster figures' baseline: Open MPI's own ping-pong
if HAVE_MPI
bench_mpi = scripts/bench/bin/bl_mpi_pingpong
EXTRA_PROGRAMS += $(bench_mpi)
scripts_bench_bin_bl_mpi_pingpong_SOURCES = scripts/bench/c/bl_mpi_pingpong.c scripts/bench/c/bench.h
scripts_bench_bin_bl_mpi_pingpong_CFLAGS = $(AM_CFLAGS) $(MPI_CFLAGS)
scripts_bench_bin_bl_mpi_pingpong_LDADD = $(MPI_LIBS)
CLEANFILES += $(bench_mpi)
endif

bench_files = \
	scripts/bench/run \
	scripts/bench/README.md \
	scripts/bench/scripts/fib.sing \
	scripts/bench/scripts/intmat.sing \
	scripts/bench/scripts/fib.lua \
	scripts/bench/scripts/startjob.sing \
	scripts/bench/scripts/primes.sing \
	scripts/bench/scripts/queens.sing \
	scripts/bench/scripts/cluster.sing \
	scripts/bench/scripts/partasks.sing \
	scripts/bench/scripts/parprimes.sing \
	scripts/bench/c/bl_mpi_pingpong.c
EXTRA_DIST += $(bench_files)

# `make bench`: build what builds (-k), then run the whole suite.
# BENCH_FLAGS=--quick for a shorter run.
bench-programs:
	-$(MAKE) $(AM_MAKEFLAGS) -k $(bench_baselines) $(bench_spindle)
bench: bench-programs
	$(srcdir)/scripts/bench/run --build $(abs_top_builddir) $(BENCH_FLAGS)
# Bench programs are EXTRA_PROGRAMS, which automake does not clean itself.
# (scripts/bench/out/ holds results and is left alone.)
CLEANFILES += $(bench_baselines) $(bench_spindle)
.PHONY: bench bench-programs

# ---- examples (scripts/examples/) ----
# The C example of the README, built against the in-tree library and run
# as a test (it checks its own answer).
check_PROGRAMS += scripts/examples/c/pfib
TESTS += scripts/examples/c/pfib
scripts_examples_c_pfib_SOURCES = scripts/examples/c/pfib.c
scripts_examples_c_pfib_LDADD = $(top_builddir)/src/libspindle.la $(PTHREAD_LIBS)
# The README's threads tour, checked against its expected output.
EXAMPLE_TESTS = scripts/examples/tour.sing
TESTS += $(EXAMPLE_TESTS)
EXTRA_DIST += $(EXAMPLE_TESTS) $(EXAMPLE_TESTS:.sing=.out) scripts/examples/primes.sing \
	scripts/examples/hello.sing

# The language's pieces: linked to the language's convenience library.
scripts_bench_bin_sl_codec_SOURCES = scripts/bench/c/sl_codec.c scripts/bench/c/bench.h
scripts_bench_bin_sl_codec_LDADD = lang/libsl.la
