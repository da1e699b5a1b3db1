# tests/install/local.mk: what `make install` gives a user, checked from
# an install into a temporary DESTDIR (tests/install/outoftree.sh: an
# out-of-tree plugin and C program built with pkg-config alone), and the
# manual pages (tests/install/manlint.sh: groff -ww and mandoc -Tlint).
INSTALL_TESTS = tests/install/outoftree.sh tests/install/manlint.sh
TESTS += $(INSTALL_TESTS)
TEST_EXTENSIONS += .sh
SH_LOG_COMPILER = env MAKE='$(MAKE)' CC='$(CC)' SAN_CFLAGS='$(SAN_CFLAGS)' \
	abs_top_builddir='$(abs_top_builddir)' abs_top_srcdir='$(abs_top_srcdir)' \
	prefix='$(prefix)' bindir='$(bindir)' libdir='$(libdir)' pkglibdir='$(pkglibdir)' \
	pkgdatadir='$(pkgdatadir)' mandir='$(mandir)' $(SHELL)
# the man pages are made by `make all`; the lint test reads them
EXTRA_DIST += $(INSTALL_TESTS) tests/install/myplugin.c tests/install/prog.c \
	tests/install/plugin_use.sing
CLEANFILES += tests/install/*.tmp
clean-local: clean-install-tests
clean-install-tests:
	-rm -rf tests/install/dest.tmp
.PHONY: clean-install-tests
# `make install` relinks the libtool plugins in the build tree (libtool's
# relink on install): a test loading build-tree plugins at that moment
# read a half-written cluster.so ("file too short", seen under ASan in
# make check -j2). The install test runs after every other test.
tests/install/outoftree.log: $(TEST_LOGS:tests/install/outoftree.log=)
