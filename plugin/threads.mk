# plugin/threads.mk: the threads plugin (threads.so), included by Makefile.am.
