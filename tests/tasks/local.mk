# tests/tasks/local.mk: Singular's parallel libraries (tasks.lib,
# parallel.lib, resources.lib; plugin/tasks.c), run by tests/scripts/run-test.
# tasks_s and parallel_s are Singular's own Tst/Short tests with their ring
# commands replaced by procs; their .out is what Singular 4.3.1 prints.
TASKS_TESTS = \
	tests/tasks/tasks_s.sing \
	tests/tasks/parallel_s.sing \
	tests/tasks/behaviour.sing \
	tests/tasks/errors.sing \
	tests/tasks/repl.sing
# the README's example
TASKS_EXAMPLES = scripts/examples/tasks.sing
TESTS += $(TASKS_TESTS) $(TASKS_EXAMPLES)
EXTRA_DIST += $(TASKS_TESTS) $(TASKS_TESTS:.sing=.out) \
	$(TASKS_EXAMPLES) $(TASKS_EXAMPLES:.sing=.out)
