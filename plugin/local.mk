# plugin/local.mk: plugins are libtool modules loaded with dlopen.
# example.so: a tiny plugin showing the ABI (lang/plugin.h); script tests load it.
pkglib_LTLIBRARIES += plugin/example.la
plugin_example_la_SOURCES = plugin/example.c
plugin_example_la_LDFLAGS = -module -avoid-version -shared
EXTRA_DIST += plugin/README.md
