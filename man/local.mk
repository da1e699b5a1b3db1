# man/local.mk: the manual pages spindle(1) and libspindle(3), made from
# their .in files with the installed paths filled in.
nodist_man_MANS = man/spindle.1 man/libspindle.3
EXTRA_DIST += man/spindle.1.in man/libspindle.3.in
CLEANFILES += $(nodist_man_MANS)
man_edit = sed -e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' \
	-e 's|@pkglibdir[@]|$(pkglibdir)|g' -e 's|@pkgdatadir[@]|$(pkgdatadir)|g' \
	-e 's|@pkgincludedir[@]|$(pkgincludedir)|g' -e 's|@libdir[@]|$(libdir)|g' \
	-e 's|@datadir[@]|$(datadir)|g' \
	-e '/^\.IR\{0,1\} \//{s|/|/\\:|g;s|^\(\.IR\{0,1\} \)|\1\\%|;}'
# (the last line: a path that begins a line is hyphenated nowhere, \%,
# and may break after each /, \:, so that a long prefix still renders)
man/spindle.1: $(srcdir)/man/spindle.1.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(man_edit) $(srcdir)/man/spindle.1.in > $@.tmp && mv $@.tmp $@
man/libspindle.3: $(srcdir)/man/libspindle.3.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && $(man_edit) $(srcdir)/man/libspindle.3.in > $@.tmp && mv $@.tmp $@
