# tests/scripts/tests.mk: the script tests (kept apart so adding one is one line)
SING_TESTS = \
	tests/scripts/arith.sing \
	tests/scripts/builtins.sing \
	tests/scripts/quote.sing \
	tests/scripts/indexed_assign.sing \
	tests/scripts/indexed_assign_errors.sing \
	tests/scripts/indexed_decl.sing \
	tests/scripts/indexed_decl_errors.sing \
	tests/scripts/builtins_walk.sing \
	tests/scripts/cli.sing \
	tests/scripts/stdin_stream.sing \
	tests/scripts/source_file.sing \
	tests/scripts/singular_lib.sing \
	tests/scripts/singular_lib_examples.sing \
	tests/scripts/cli_singular.sing \
	tests/scripts/chinrem.sing \
	tests/scripts/chinrem_errors.sing \
	tests/scripts/compat.sing \
	tests/scripts/control.sing \
	tests/scripts/cstack.sing \
	tests/scripts/decl.sing \
	tests/scripts/errors.sing \
	tests/scripts/limits.sing \
	tests/scripts/links.sing \
	tests/scripts/errors_builtins.sing \
	tests/scripts/files.sing \
	tests/scripts/files_errors.sing \
	tests/scripts/ssi.sing \
	tests/scripts/ssi_errors.sing \
	tests/scripts/intvec.sing \
	tests/scripts/intmat.sing \
	tests/scripts/intmat_errors.sing \
	tests/scripts/newstruct.sing \
	tests/scripts/newstruct_errors.sing \
	tests/scripts/newstruct_install.sing \
	tests/scripts/newstruct_install_errors.sing \
	tests/scripts/lib.sing \
	tests/scripts/lists.sing \
	tests/scripts/misc.sing \
	tests/scripts/native.sing \
	tests/scripts/plugin.sing \
	tests/scripts/plugin_errors.sing \
	tests/scripts/plugin_faults.sing \
	tests/scripts/procs.sing \
	tests/scripts/repl.sing \
	tests/scripts/strings.sing \
	tests/scripts/trace_option.sing \
	tests/scripts/types.sing \
	tests/scripts/packages.sing \
	tests/scripts/packages_errors.sing \
	tests/scripts/packages_lib.sing \
	tests/scripts/dbprint.sing \
	tests/scripts/dbprint_errors.sing \
	tests/scripts/names.sing \
	tests/scripts/names_errors.sing \
	tests/scripts/general_lib.sing \
	tests/scripts/general_lib_more.sing \
	tests/scripts/general_lib_errors.sing \
	tests/scripts/inout_lib.sing \
	tests/scripts/inout_lib_more.sing \
	tests/scripts/inout_lib_errors.sing \
	tests/scripts/proc_trace.sing \
	tests/scripts/proc_trace_errors.sing \
	tests/scripts/formats.sing \
	tests/scripts/formats_errors.sing \
	tests/scripts/minmax_det.sing \
	tests/scripts/det_exact.sing \
	tests/scripts/option.sing \
	tests/scripts/option_errors.sing \
	tests/scripts/system_os.sing \
	scripts/examples/types.sing

EXTRA_DIST += tests/scripts/testlib.lib tests/scripts/pkglib.lib
# files written by Singular 4.3.1 (ssi-data/make.sing) that ssi*.sing read
EXTRA_DIST += tests/scripts/ssi-data/make.sing tests/scripts/ssi-data/values.ssi \
	tests/scripts/ssi-data/append.ssi tests/scripts/ssi-data/attr.ssi \
	tests/scripts/ssi-data/proc.ssi tests/scripts/ssi-data/ring.ssi
