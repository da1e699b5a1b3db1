# tests/singular/local.mk: Singular compatibility tests.
