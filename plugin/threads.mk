# plugin/threads.mk: the threads plugin (threads.so), included by Makefile.am.
# A libtool module linked to libspindle; "systhreads.so" is an alias that
# the loader maps to threads.so (lang/plugin.c).
pkglib_LTLIBRARIES += plugin/threads.la
plugin_threads_la_SOURCES = plugin/threads.c plugin/threads_coord.c plugin/threads_shared.c plugin/threads_thread.c plugin/tasks.c plugin/tasks_par.c plugin/threads.h
plugin_threads_la_LDFLAGS = -module -avoid-version -shared
plugin_threads_la_LIBADD = src/libspindle.la $(PTHREAD_LIBS)
