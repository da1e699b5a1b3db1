# plugin/threads.mk: the threads plugin (threads.so), included by Makefile.am.
# A libtool module linked to libspindle; "systhreads.so" is an alias that
# the loader maps to threads.so (lang/plugin.c).
pkglib_LTLIBRARIES += plugin/threads.la
plugin_threads_la_SOURCES = plugin/threads.c plugin/threads_coord.c plugin/threads_shared.c plugin/threads_thread.c plugin/tasks.c plugin/tasks_par.c plugin/forklink.c plugin/threads.h plugin/cluster.h plugin/xalloc.h
plugin_threads_la_LDFLAGS = -module -avoid-version -shared
plugin_threads_la_LIBADD = src/libspindle.la $(PTHREAD_LIBS)

# cluster.so: cluster pools over MPI (the only part that links MPI); built
# when configure finds Open MPI (--without-mpi skips it)
if HAVE_MPI
pkglib_LTLIBRARIES += plugin/cluster.la
plugin_cluster_la_SOURCES = plugin/cluster.c plugin/cluster.h plugin/xalloc.h
plugin_cluster_la_CFLAGS = $(AM_CFLAGS) $(MPI_CFLAGS)
plugin_cluster_la_LDFLAGS = -module -avoid-version -shared
plugin_cluster_la_LIBADD = src/libspindle.la $(MPI_LIBS) $(PTHREAD_LIBS)
endif
