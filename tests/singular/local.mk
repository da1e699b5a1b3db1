# tests/singular/local.mk: Singular compatibility tests (issue 10).
# manual/: ring-free examples of Singular's manual with what Debian's Singular
# prints (NAME.out); NAME.spindle.out where spindle differs on purpose.
SINGULAR_MANUAL_TESTS = \
	tests/singular/manual/ERROR.sing \
	tests/singular/manual/Formatting_output.sing \
	tests/singular/manual/Miscellaneous_oddities_3.sing \
	tests/singular/manual/Miscellaneous_oddities_4.sing \
	tests/singular/manual/Names.sing \
	tests/singular/manual/Names_3.sing \
	tests/singular/manual/Names_in_procedures.sing \
	tests/singular/manual/Print_command.sing \
	tests/singular/manual/Return_type_of_procedures.sing \
	tests/singular/manual/_trace.sing \
	tests/singular/manual/bigint_expressions.sing \
	tests/singular/manual/bigint_operations.sing \
	tests/singular/manual/boolean_operations.sing \
	tests/singular/manual/def_declarations.sing \
	tests/singular/manual/delete.sing \
	tests/singular/manual/find.sing \
	tests/singular/manual/insert.sing \
	tests/singular/manual/int_declarations.sing \
	tests/singular/manual/int_operations.sing \
	tests/singular/manual/intmat_declarations.sing \
	tests/singular/manual/intmat_expressions.sing \
	tests/singular/manual/intmat_operations.sing \
	tests/singular/manual/intmat_type_cast.sing \
	tests/singular/manual/intvec_declarations.sing \
	tests/singular/manual/intvec_operations.sing \
	tests/singular/manual/link_declarations.sing \
	tests/singular/manual/list_operations.sing \
	tests/singular/manual/prime.sing \
	tests/singular/manual/primefactors.sing \
	tests/singular/manual/status.sing \
	tests/singular/manual/string_declarations.sing \
	tests/singular/manual/string_expressions.sing \
	tests/singular/manual/string_operations.sing \
	tests/singular/manual/dbprint.sing \
	tests/singular/manual/package_declarations.sing \
	tests/singular/manual/printlevel.sing \
	tests/singular/manual/type.sing \
	tests/singular/manual/typeof.sing \
	tests/singular/manual/voice.sing \
	tests/singular/manual/ASCII.sing \
	tests/singular/manual/deleteSublist.sing \
	tests/singular/manual/factorial.sing \
	tests/singular/manual/fibonacci.sing \
	tests/singular/manual/pause.sing \
	tests/singular/manual/primes.sing \
	tests/singular/manual/tab.sing \
	tests/singular/manual/TRACE.sing \
	tests/singular/manual/Tracing_of_procedures.sing \
	tests/singular/manual/LIB.sing \
	tests/singular/manual/load.sing \
	tests/singular/manual/load_1.sing \
	tests/singular/manual/Loading_a_library.sing \
	tests/singular/manual/Ssi_tcp_links.sing

# demo/: Singular's own systhreads demo programs, run unchanged on the
# threads plugin (4 workers).
SINGULAR_DEMO_TESTS = tests/singular/demo/fac.sg tests/singular/demo/fib.sg

TEST_EXTENSIONS += .sg
SG_LOG_COMPILER = $(SING_LOG_COMPILER)
TESTS += $(SINGULAR_MANUAL_TESTS) $(SINGULAR_DEMO_TESTS)
EXTRA_DIST += $(SINGULAR_MANUAL_TESTS) $(SINGULAR_MANUAL_TESTS:.sing=.out) \
	tests/singular/manual/ERROR.spindle.out tests/singular/manual/ERROR.spindle.rc \
	tests/singular/manual/bigint_expressions.spindle.out \
	tests/singular/manual/link_declarations.spindle.out tests/singular/manual/link_declarations.spindle.rc \
	tests/singular/manual/package_declarations.spindle.out tests/singular/manual/package_declarations.spindle.rc \
	tests/singular/manual/typeof.spindle.out \
	tests/singular/manual/ASCII.spindle.out \
	tests/singular/manual/TRACE.spindle.out \
	tests/singular/manual/Tracing_of_procedures.spindle.out \
	tests/singular/manual/load.spindle.out \
	tests/singular/manual/Loading_a_library.spindle.out \
	$(SINGULAR_DEMO_TESTS) $(SINGULAR_DEMO_TESTS:.sg=.out) \
	tests/singular/README.md tests/singular/NOTES.md tests/singular/classification.tsv \
	tests/singular/select-examples.py tests/singular/check-notes.py tests/singular/sweep.py \
	tests/singular/demo/make-expected.sh

# written by the manual example link_declarations (run inside manual/)
CLEANFILES += tests/singular/manual/example.txt
