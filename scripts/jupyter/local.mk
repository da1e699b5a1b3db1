# scripts/jupyter/local.mk: the Jupyter kernel, included by Makefile.am.
# Installs the kernel (one Python file, run by Debian's python3 with its
# python3-ipykernel) in $(pkgdatadir)/jupyter and its kernel spec in
# $(datadir)/jupyter/kernels/spindle, where Jupyter looks when $(datadir)
# is /usr/share or /usr/local/share (else add $(datadir)/jupyter to
# JUPYTER_PATH). `make PYTHON_FOR_JUPYTER=...` names another Python.
PYTHON_FOR_JUPYTER = /usr/bin/python3

spindlejupyterdir = $(pkgdatadir)/jupyter
dist_spindlejupyter_DATA = scripts/jupyter/spindle_kernel.py
jupyterkerneldir = $(datadir)/jupyter/kernels/spindle
jupyterkernel_DATA = scripts/jupyter/kernel.json

# the installed paths (the program's name after --program-transform-name)
scripts/jupyter/kernel.json: $(srcdir)/scripts/jupyter/kernel.json.in Makefile
	$(AM_V_GEN)$(MKDIR_P) scripts/jupyter && \
	sed -e 's|@PYTHON@|$(PYTHON_FOR_JUPYTER)|g' \
	    -e 's|@KERNELPY@|$(spindlejupyterdir)/spindle_kernel.py|g' \
	    -e "s|@SPINDLE@|$(bindir)/`echo spindle | sed '$(transform)'`|g" \
	    $(srcdir)/scripts/jupyter/kernel.json.in > $@.tmp && mv $@.tmp $@
CLEANFILES += scripts/jupyter/kernel.json
EXTRA_DIST += scripts/jupyter/kernel.json.in scripts/jupyter/README.md \
	scripts/examples/tour.ipynb
