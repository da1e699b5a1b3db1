# tests/threads/local.mk: script tests of the threads plugin.
