# tests/cluster/local.mk: cluster pools on MPI (plugin/cluster.c), run by
# tests/scripts/run-test under `mpirun -n 3 --oversubscribe` ("// mpirun"
# tests, and shell tests that start mpirun themselves). Each skips (77)
# where mpirun or cluster.so is missing.
CLUSTER_TESTS = \
	tests/cluster/api.sing \
	tests/cluster/values.sing \
	tests/cluster/procs.sing \
	tests/cluster/tasks.sing \
	tests/cluster/same.sing \
	tests/cluster/errors.sing \
	tests/cluster/signals.sing \
	tests/cluster/packages.sing \
	tests/cluster/line.sing
# the README's example
CLUSTER_EXAMPLES = scripts/examples/cluster.sing
TESTS += $(CLUSTER_TESTS) $(CLUSTER_EXAMPLES)
EXTRA_DIST += $(CLUSTER_TESTS) $(CLUSTER_TESTS:.sing=.out) tests/cluster/cluster_helpers.lib \
	$(CLUSTER_EXAMPLES) $(CLUSTER_EXAMPLES:.sing=.out)
