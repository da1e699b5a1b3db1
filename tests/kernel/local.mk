# tests/kernel/local.mk: the kernel protocol (spindle --kernel) and the
# Jupyter kernel (scripts/jupyter/), run under Debian's python3. The
# Jupyter tests skip (77) when it lacks jupyter_client / nbconvert.
KERNEL_TESTS = \
	tests/kernel/protocol.py \
	tests/kernel/jupyter.py \
	tests/kernel/notebook.py \
	tests/kernel/install.py
TESTS += $(KERNEL_TESTS)
TEST_EXTENSIONS += .py
PY_LOG_COMPILER = $(SHELL) $(srcdir)/tests/kernel/run-py
AM_TESTS_ENVIRONMENT += PYTHON_FOR_JUPYTER='$(PYTHON_FOR_JUPYTER)'; \
	abs_top_srcdir='$(abs_top_srcdir)'; abs_top_builddir='$(abs_top_builddir)'; \
	MAKE='$(MAKE)'; export PYTHON_FOR_JUPYTER abs_top_srcdir abs_top_builddir MAKE;
EXTRA_DIST += $(KERNEL_TESTS) tests/kernel/run-py tests/kernel/kernel_test.py
