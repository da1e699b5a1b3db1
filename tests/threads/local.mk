# tests/threads/local.mk: script tests of the threads plugin (threads.so),
# run by tests/scripts/run-test like the language's script tests.
THREADS_TESTS = \
	tests/threads/basics.sing \
	tests/threads/errors.sing \
	tests/threads/seed.sing \
	tests/threads/preempt.sing \
	tests/threads/stress.sing \
	tests/threads/globals.sing \
	tests/threads/compat.sing \
	tests/threads/resize.sing \
	tests/threads/shared.sing \
	tests/threads/sthreads.sing \
	tests/threads/shared_errors.sing \
	tests/threads/signals.sing \
	tests/threads/deadlock.sing \
	tests/threads/stalled.sing \
	tests/threads/stalled_off.sing \
	tests/threads/packages.sing \
	tests/threads/files.sing \
	tests/threads/values.sing \
	tests/threads/random.sing \
	tests/threads/forklink.sing \
	tests/threads/forklink_errors.sing \
	tests/threads/repl_interrupt.sing
# real workloads, each checking its own result
THREADS_EXAMPLES = \
	scripts/examples/parfac.sing \
	scripts/examples/parfib.sing \
	scripts/examples/collatz.sing \
	scripts/examples/nqueens.sing
TESTS += $(THREADS_TESTS) $(THREADS_EXAMPLES)
EXTRA_DIST += $(THREADS_TESTS) $(THREADS_TESTS:.sing=.out) \
	tests/threads/basics_init.inc tests/threads/basics.lib \
	tests/threads/resize_init.inc \
	$(THREADS_EXAMPLES) $(THREADS_EXAMPLES:.sing=.out)
