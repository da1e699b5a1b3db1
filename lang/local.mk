# lang/local.mk: the language -- a convenience library (everything but
# main.c, so unit tests can link it) and the spindle program.
noinst_LTLIBRARIES += lang/libsl.la
lang_libsl_la_SOURCES = \
	lang/sl.h lang/plugin.h lang/lex.h lang/ast.h lang/opcodes.h \
	lang/value.c lang/lex.c lang/parse.c lang/compile.c lang/vm.c \
	lang/ops.c lang/world.c lang/builtins.c lang/plugin.c lang/repl.c \
	lang/codec.c lang/names.c lang/link.c lang/ssi.c lang/os.c lang/intmat.c lang/newstruct.c \
	lang/kernel.c
lang_libsl_la_CPPFLAGS = $(AM_CPPFLAGS) $(FFI_CFLAGS) \
	-DSL_PKGLIBDIR='"$(pkglibdir)"' -DSL_PKGDATADIR='"$(pkgdatadir)"'
lang_libsl_la_LIBADD = $(FFI_LIBS) $(GMP_LIBS) $(READLINE_LIBS) $(DL_LIBS) $(PTHREAD_LIBS)

bin_PROGRAMS += spindle
spindle_SOURCES = lang/main.c
spindle_CPPFLAGS = $(AM_CPPFLAGS) \
	-DSL_ABS_BUILDDIR='"$(abs_top_builddir)"' -DSL_ABS_SRCDIR='"$(abs_top_srcdir)"'
spindle_LDADD = lang/libsl.la

# the plugin ABI: $(includedir)/spindle/plugin.h (spindle-plugin.pc)
pkginclude_HEADERS += lang/plugin.h
EXTRA_DIST += lang/README.md

# libraries written in the language, installed in $(pkgdatadir)/lib
spindlelibdir = $(pkgdatadir)/lib
dist_spindlelib_DATA = scripts/lib/systhreads.lib scripts/lib/tasks.lib scripts/lib/parallel.lib \
	scripts/lib/resources.lib scripts/lib/general.lib scripts/lib/inout.lib
EXTRA_DIST += scripts/lib/README.md scripts/examples/hello.sing scripts/examples/README.md
