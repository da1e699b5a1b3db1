/* main.c: the spindle program -- runs a file, a -e string, piped stdin,
 * or the REPL on a terminal. File and -e runs print only what the script
 * prints; an uncaught error ends the run with status 1. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "sl.h"

extern const char *sl_srcdir;

/* the world and context left alive when a plugin was loaded (see main) */
static void *volatile kept[2];

static void usage(FILE *f) {
  fputs("usage: spindle [options] [FILE [args...]]\n"
        "  FILE        run a script (\"-\" reads stdin)\n"
        "  -e CODE     run CODE\n"
        "  -q          no banner in the REPL\n"
        "  --trace FILE  write a scheduling trace of every threadpool of the\n"
        "              run to FILE (Chrome trace JSON: Perfetto, chrome://tracing);\n"
        "              the same as SPINDLE_TRACE=FILE in the environment\n"
        "  --help      this text\n"
        "  --version   print the version\n"
        "  --list-builtins [PLUGIN...]  load the plugins, print every builtin's name\n"
        "  --kernel    one session driven by a program (the Jupyter kernel): JSON\n"
        "              requests on stdin, one a line (execute, complete, is_complete,\n"
        "              info, shutdown), replies and the session's output as JSON\n"
        "              lines on stdout; SIGINT interrupts the running request\n"
        "              (protocol: lang/README.md, \"The kernel protocol\")\n"
        "With no FILE and no -e: a REPL on a terminal, else stdin runs as a script,\n"
        "  each statement as soon as its last line has come.\n"
        "Singular's options (its command lines run spindle unchanged):\n"
        "  -c, --execute=CODE  run CODE first, then go on (with FILE, the REPL or stdin)\n"
        "  --quiet (-q), -v (--version), -r/--random=SEED (system(\"random\", SEED)),\n"
        "  --ticks-per-sec=N (rtimer's unit), --cpus=N (system(\"--cpus\") and the\n"
        "  tasks' cores; the same as SPINDLE_CPUS=N), -u/--user-option=S\n"
        "  (system(\"--user-option\")), --no-warn (no \"// **\" warnings), --no-out (no\n"
        "  output on stdout); accepted, doing nothing here: -t/--no-tty, --no-rc,\n"
        "  --no-stdlib, --emacs, --allow-net, --browser=, --cntrlc, --min-time=,\n"
        "  --threads=, --flint-threads=. Singular's -e is --echo; spindle's -e runs CODE.\n"
        "Exit status: 0, 1 after an error, 128+N after signal N (SIGINT: 130, SIGTERM: 143).\n"
        "Environment: SPINDLE_PATH (libraries for LIB), SPINDLE_PLUGIN_PATH (plugins for load),\n"
        "  SPINDLE_TRACE (trace file, read by the runtime when a pool is created),\n"
        "  SPINDLE_NO_DEADLOCK_CHECK=1 (a wait that could never end waits instead of failing),\n"
        "  SPINDLE_NO_CLUSTER=1 (under mpirun, every rank runs the script on its own),\n"
        "  SPINDLE_CPUS=N (the cores a script is told it has: system(\"--cpus\"), getcores()).\n",
        f);
}

/* when the program runs from its build tree, libraries and plugins are
 * found there (scripts/lib in the source tree, plugin/.libs) */
static void find_build_tree(void) {
#if defined(SL_ABS_BUILDDIR) && defined(SL_ABS_SRCDIR)
  char exe[PATH_MAX], dir[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return;
  exe[n] = 0;
  char *slash = strrchr(exe, '/');
  if (!slash) return;
  *slash = 0;
  if (!realpath(SL_ABS_BUILDDIR, dir) || strcmp(dir, exe)) return;
  sl_builddir = SL_ABS_BUILDDIR;
  sl_srcdir = SL_ABS_SRCDIR;
#endif
}

static void set_argv(sl_ctx *C, int argc, char **argv) {
  sl_value l = sl_list_new((size_t)argc);
  for (int i = 0; i < argc; i++) sl_list_push(&l, sl_str(argv[i]));
  sl_slot_set(sl_global_slot(C->W, "ARGV"), l, SL_T_LIST);
}

/* ---- SIGINT and SIGTERM in a script run ----------------------------------
 * Both are blocked in every thread (set before any thread exists, so
 * threads made later inherit it) and taken by one thread with sigwait.
 * The first sets the main context's poll flag (the script unwinds at its
 * next call or loop back-edge, as for a cancel) and runs the plugins'
 * hooks (the threads plugin shuts the runtime down, so a script waiting
 * on a job wakes up); the main flow then prints "FILE:LINE: interrupted"
 * (or "terminated") after what the script printed and exits 128+signo.
 * If it has not within a second (native code that never polls), or at a
 * second signal, the signal thread flushes what it safely can, says so
 * and ends the process itself. A signal ignored when spindle started (a
 * background job of a non-interactive shell) stays ignored. */
static volatile int sig_flag;          /* the main context's poll flag */
static _Atomic int sig_got;             /* signo of the first signal */
static atomic_flag sig_said = ATOMIC_FLAG_INIT;   /* the message is out */
static sigset_t sig_set;

static int sig_poll(void *ud) { (void)ud; return 1; }

static const char *sig_word(int sig) { return sig == SIGTERM ? "terminated" : "interrupted"; }

/* flush stdout unless another thread is inside stdio, say why, exit now */
static void sig_exit_now(int sig, const char *why) {
  if (ftrylockfile(stdout) == 0) {
    fflush_unlocked(stdout);
    funlockfile(stdout);
  }
  if (!atomic_flag_test_and_set(&sig_said)) {
    char msg[160];
    int n = snprintf(msg, sizeof msg, "spindle: %s (%s)\n", sig_word(sig), why);
    if (n > 0 && write(2, msg, (size_t)n) < 0) { /* nothing left to tell */ }
  }
  _exit(128 + sig);
}

static void *hooks_main(void *arg) {
  sl_run_signal_hooks((int)(intptr_t)arg);
  return NULL;
}

static void *signal_main(void *arg) {
  (void)arg;
  int sig;
  while (sigwait(&sig_set, &sig) != 0) {}
  atomic_store(&sig_got, sig);
  __atomic_store_n(&sig_flag, 1, __ATOMIC_RELAXED);
  /* the hooks on a thread of their own: a shutdown waits for workers to
   * stop, and one in native code stops when that code returns; the
   * second counts from the signal all the same */
  pthread_t h;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&h, &a, hooks_main, (void *)(intptr_t)sig) != 0) sl_run_signal_hooks(sig);
  pthread_attr_destroy(&a);
  struct timespec second = {1, 0};
  int again = sigtimedwait(&sig_set, NULL, &second);
  sig_exit_now(sig, again > 0 ? "a second signal: exiting at once" : "the script did not stop within a second");
  return NULL;
}

static void signals_for_script(sl_ctx *C) {
  sigemptyset(&sig_set);
  const int sigs[] = {SIGINT, SIGTERM};
  for (int k = 0; k < 2; k++) {
    struct sigaction old;
    if (sigaction(sigs[k], NULL, &old) == 0 && old.sa_handler != SIG_IGN) sigaddset(&sig_set, sigs[k]);
  }
  if (sigismember(&sig_set, SIGINT) != 1 && sigismember(&sig_set, SIGTERM) != 1) return;
  pthread_sigmask(SIG_BLOCK, &sig_set, NULL);
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &a, signal_main, NULL) == 0) {
    C->poll_flag = &sig_flag;
    C->poll_fn = sig_poll;
  } else {
    pthread_sigmask(SIG_UNBLOCK, &sig_set, NULL);   /* the defaults, then */
  }
  pthread_attr_destroy(&a);
}

/* "FILE:LINE: " at the start of an error message, or "" */
static int err_location(const char *e) {
  const char *p = e ? strchr(e, ':') : NULL;
  if (!p || p[1] < '0' || p[1] > '9') return 0;
  for (p++; *p >= '0' && *p <= '9'; p++) {}
  return *p == ':' ? (int)(p - e) + 1 : 0;
}

static int finish(sl_ctx *C, int rc) {
  fflush(stdout);
  int sig = atomic_load(&sig_got);
  if (sig && rc < 0) {   /* the script unwound because of the signal */
    if (!atomic_flag_test_and_set(&sig_said)) {
      int n = err_location(C->err);
      fprintf(stderr, "%.*s%s%s\n", n, n ? C->err : "", n ? " " : "spindle: ", sig_word(sig));
    }
    fflush(stderr);
    return 128 + sig;
  }
  if (rc == SL_QUIT) return C->quit_code;
  if (rc < 0) {
    fprintf(stderr, "%s\n", C->err ? C->err : "error");
    return 1;
  }
  return 0;
}

/* --list-builtins: one name a line, sorted (the bad-input walker,
 * tests/scripts/builtins_walk.sing, calls each with wrong arguments) */
typedef struct { char **v; size_t n, cap; } name_list;

static void add_builtin(sl_slot *s, void *ud) {
  name_list *l = ud;
  if (sl_slot_peek(s, NULL) != SL_T_BUILTIN) return;
  if (s->name[0] == '(') return;   /* internal: "(exportto)", the compiler's "(intmat decl)" */
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    char **nv = realloc(l->v, l->cap * sizeof *nv);
    if (!nv) return;
    l->v = nv;
  }
  sl_value v = sl_slot_get(s);
  l->v[l->n++] = sl_xstrdup(((sl_builtin *)v.u.p)->name);
  sl_release(v);
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_builtins(sl_ctx *C, int argc, char **argv) {
  for (int i = 0; i < argc; i++)
    if (sl_load_plugin(C, argv[i]) < 0) return finish(C, SL_ERR);
  name_list l = {0};
  sl_global_names(C->W, add_builtin, &l);
  if (l.n) qsort(l.v, l.n, sizeof *l.v, cmp_name);
  for (size_t i = 0; i < l.n; i++) { puts(l.v[i]); free(l.v[i]); }
  free(l.v);
  return 0;
}

/* runs b's text, its first line line0, and empties b; *line0 moves past
 * its lines and past those that read("") took meanwhile */
static int run_chunk(sl_ctx *C, sl_buf *b, int *line0, int *lines) {
  int first = *line0;
  *line0 += *lines;
  *lines = 0;
  if (!b->len) return 0;
  long taken = __atomic_load_n(&sl_stdin_lines, __ATOMIC_RELAXED);
  int rc = sl_run_text(C, b->s, b->len, "(stdin)", first);
  b->len = 0;
  b->s[0] = 0;
  fflush(stdout);
  *line0 += (int)(__atomic_load_n(&sl_stdin_lines, __ATOMIC_RELAXED) - taken);
  return rc;
}

/* Piped stdin runs as Singular reads it: statement by statement, each
 * as soon as its last line has come (brackets, strings and comments
 * closed, ending with `;` or `}`), so a program can drive spindle through
 * a pipe, and read("") and pause() read the lines that follow the
 * statement calling them. An `else` on a later line than its `if` is a
 * statement of its own, as in Singular (compile.c, celse). Line numbers
 * count from the first line of stdin; the first error ends the run (exit
 * status 1), as in a script file. */
static int run_stdin(sl_ctx *C) {
  sl_buf b = {0};
  sl_buf_puts(&b, "");
  sl_scan sc = {0};
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc = 0, line0 = 1, lines = 0;
  while (rc >= 0 && rc != SL_QUIT && (n = getline(&line, &cap, stdin)) >= 0) {
    sl_buf_add(&b, line, (size_t)n);
    lines++;
    sl_scan_feed(&sc, line, (size_t)n);
    /* complete, and not only blank lines and comments (those wait for
     * what follows them, so that the line numbers stay right) */
    if (!sc.last || !sl_scan_complete(&sc)) continue;
    rc = run_chunk(C, &b, &line0, &lines);
    memset(&sc, 0, sizeof sc);
  }
  /* what is left: incomplete, or a comment never closed (the compiler
   * says which) */
  if (rc >= 0 && rc != SL_QUIT && (sc.last || sc.state == 3)) rc = run_chunk(C, &b, &line0, &lines);
  free(line);
  sl_buf_free(&b);
  return finish(C, rc);
}

/* Started by mpirun or srun as one of several processes (ranks): the
 * cluster plugin takes over. On rank 0 it returns and the script runs
 * (cluster pools reach the other ranks); on the others it serves jobs and
 * ends the process when rank 0 ends, so they never run the script.
 * Returns 0, or an exit status. */
static int mpi_ranks(void) {
  const char *v = getenv("OMPI_COMM_WORLD_SIZE");
  if (!v) v = getenv("PMI_SIZE");
  if (!v) v = getenv("SLURM_NTASKS");
  if (v) return atoi(v);
  return getenv("PMIX_RANK") || getenv("PMI_RANK") ? -1 : 0;
}

static int start_cluster(sl_ctx *C) {
  int n = mpi_ranks();
  if (n == 0 || getenv("SPINDLE_NO_CLUSTER")) return 0;
  if (sl_load_plugin(C, "cluster.so") == 0) return 0;
  if (n == 1) { sl_clear_error(C); return 0; }   /* one rank: the script runs here anyway */
  fprintf(stderr, "spindle: started by mpirun/srun as one of %s ranks, but the cluster plugin cannot run: %s\n",
          n > 0 ? "several" : "an unknown number of", C->err ? C->err : "?");
  return 1;
}

/* ---- Singular's options -------------------------------------------------
 * So that the command lines Singular users have run spindle: those that
 * mean something here do what Singular's do; those about things spindle
 * does not have (a terminal setup, start-up files, standard.lib, the help
 * browser, flint) are accepted and do nothing; those of Singular features
 * spindle lacks (batch mode over ssi links, the source debugger,
 * profiling, input logs, echo) are refused, saying so. */

/* an option's value: "--name=V", or the next argument for a short form
 * ("-r V") or a long one without '=' ("--name V"); NULL (and a message)
 * when it is missing */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
  const char *a = argv[*i], *eq = strchr(a, '=');
  if (eq && a[1] == '-') return eq + 1;
  if (*i + 1 < argc) return argv[++*i];
  fprintf(stderr, "spindle: %s needs a value\n", name);
  return NULL;
}

static int long_opt(const char *a, const char *name) {   /* "--name" or "--name=..." */
  size_t n = strlen(name);
  return !strncmp(a, name, n) && (a[n] == 0 || a[n] == '=');
}

/* a positive int option value: 0 and a message if it is not one */
static long opt_positive(const char *name, const char *v) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end || n < 1) {
    fprintf(stderr, "spindle: %s needs a positive integer, not \"%s\"\n", name, v);
    return 0;
  }
  return n;
}

int main(int argc, char **argv) {
  const char *code = NULL, *first = NULL;
  int quiet = 0, list = 0, kernel = 0, i = 1;
  static sl_buf setup;  /* what Singular's options ask for, run before all
                         * (static: an option error's early exit leaves it
                         * reachable, not leaked) */
  for (; i < argc; i++) {
    const char *a = argv[i], *v;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
    if (!strcmp(a, "--version") || !strcmp(a, "-v") || !strcmp(a, "--dump-versiontuple")) {
      printf(!strcmp(a, "--dump-versiontuple") ? "%s\n" : "spindle %s\n", PACKAGE_VERSION);
      return 0;
    }
    if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { quiet = 1; continue; }
    if (!strcmp(a, "-c") || long_opt(a, "--execute")) {
      if (!(first = opt_value(argc, argv, &i, "-c/--execute"))) return 2;
      continue;
    }
    if (!strcmp(a, "-r") || long_opt(a, "--random")) {
      if (!(v = opt_value(argc, argv, &i, "-r/--random"))) return 2;
      char *end;
      errno = 0;
      long long seed = strtoll(v, &end, 10);
      if (errno || end == v || *end) {
        fprintf(stderr, "spindle: -r/--random needs an integer seed, not \"%s\"\n", v);
        return 2;
      }
      sl_buf_printf(&setup, "system(\"random\", %lld);\n", seed);
      continue;
    }
    if (long_opt(a, "--ticks-per-sec")) {
      long n;
      if (!(v = opt_value(argc, argv, &i, "--ticks-per-sec")) || !(n = opt_positive("--ticks-per-sec", v))) return 2;
      sl_buf_printf(&setup, "system(\"--ticks-per-sec\", %ld);\n", n);
      continue;
    }
    if (long_opt(a, "--cpus")) {
      if (!(v = opt_value(argc, argv, &i, "--cpus")) || !opt_positive("--cpus", v)) return 2;
      setenv("SPINDLE_CPUS", v, 1);   /* read by system("--cpus") and by the tasks' pool */
      continue;
    }
    if (!strcmp(a, "-u") || long_opt(a, "--user-option")) {
      if (!(v = opt_value(argc, argv, &i, "-u/--user-option"))) return 2;
      sl_user_option = v;
      continue;
    }
    if (!strcmp(a, "--no-warn")) { sl_no_warnings = 1; continue; }
    if (!strcmp(a, "--no-out")) {
      if (!freopen("/dev/null", "w", stdout)) { perror("spindle: --no-out"); return 2; }
      continue;
    }
    if (!strcmp(a, "-t") || !strcmp(a, "--no-tty") || !strcmp(a, "--no-rc") ||
        !strcmp(a, "--no-stdlib") || !strcmp(a, "--emacs") || !strcmp(a, "--allow-net") ||
        long_opt(a, "--cntrlc"))
      continue;
    if (long_opt(a, "--browser") || long_opt(a, "--min-time") || long_opt(a, "--threads") ||
        long_opt(a, "--flint-threads")) {
      if (!strchr(a, '=') && !opt_value(argc, argv, &i, a)) return 2;
      continue;
    }
    static const struct { const char *opt, *what; } lacking[] = {
      {"-b", "batch mode over ssi links"}, {"--batch", "batch mode over ssi links"},
      {"--link", "batch mode over ssi links"}, {"--MPhost", "batch mode over ssi links"},
      {"--MPport", "batch mode over ssi links"}, {"-d", "the source code debugger"},
      {"--sdb", "the source code debugger"}, {"-p", "profiling into smon.out"},
      {"--profile", "profiling into smon.out"}, {"--log", "input logs"},
      {"--echo", "echo; spindle's -e runs CODE"}, {"--no-shell", "a restricted mode"},
    };
    for (size_t k = 0; k < sizeof lacking / sizeof *lacking; k++)
      if (a[1] == '-' ? long_opt(a, lacking[k].opt) : !strcmp(a, lacking[k].opt)) {
        fprintf(stderr, "spindle: %s is Singular's option for something spindle does not have (%s)\n",
                a, lacking[k].what);
        return 2;
      }
    if (!strcmp(a, "--list-builtins")) { list = 1; continue; }
    if (!strcmp(argv[i], "--kernel")) { kernel = 1; continue; }
    if (!strcmp(argv[i], "-e")) {
      if (i + 1 >= argc) { fputs("spindle: -e needs an argument\n", stderr); return 2; }
      code = argv[++i];
      continue;
    }
    /* --trace: the language knows nothing of threads; the runtime reads
     * SPINDLE_TRACE when the threads plugin creates a pool, and writes
     * the file when the last traced pool closes or at exit */
    if (!strcmp(argv[i], "--trace") || !strncmp(argv[i], "--trace=", 8)) {
      const char *f = argv[i][7] == '=' ? argv[i] + 8 : (i + 1 < argc ? argv[++i] : NULL);
      if (!f || !*f) { fputs("spindle: --trace needs a file name\n", stderr); return 2; }
      setenv("SPINDLE_TRACE", f, 1);
      continue;
    }
    if (!strcmp(argv[i], "--")) { i++; break; }
    if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "spindle: unknown option %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
    break;
  }
  if (kernel && (list || code || first || i < argc)) {
    fputs("spindle: --kernel takes no script, -e, -c or --list-builtins\n", stderr);
    return 2;
  }
  find_build_tree();
  sl_world *W = sl_world_new();
  sl_ctx *C = sl_ctx_new(W);
  if (!C) { fputs("spindle: out of memory\n", stderr); return 1; }
  set_argv(C, argc - i, argv + i);
  int rc;
  int repl = !list && !kernel && !code && i >= argc && isatty(0) && isatty(1);
  if (!list && !kernel && !repl) signals_for_script(C);
  if (!list && !kernel && (rc = start_cluster(C)) != 0) return rc;
  /* Singular's options, then its -c CODE, before the rest */
  int pre = 0;
  if (!list && (setup.len || first)) {
    pre = setup.len ? sl_run_string(C, setup.s, "(options)") : 0;
    if (pre >= 0 && pre != SL_QUIT && first) pre = sl_run_string(C, first, "-c");
  }
  sl_buf_free(&setup);
  if (pre < 0 || pre == SL_QUIT) rc = finish(C, pre);   /* the rest does not run */
  else if (kernel) rc = sl_kernel(C);
  else if (list) rc = list_builtins(C, argc - i, argv + i);
  else if (code) rc = finish(C, sl_run_string(C, code, "-e"));
  else if (i < argc && strcmp(argv[i], "-")) rc = finish(C, sl_run_file(C, argv[i]));
  else if (i >= argc && isatty(0) && isatty(1)) rc = sl_repl(C, quiet);
  else rc = run_stdin(C);
  fflush(stdout);
  /* with a plugin loaded the world is left to the OS (its threads may
   * still use it); else everything is freed, so leak checkers see a
   * clean exit */
  if (!sl_threaded) {
    sl_ctx_free(C);
    sl_world_free(W);
  } else {
    /* kept reachable, so LeakSanitizer does not report the world that
     * is deliberately left alive */
    kept[0] = W;
    kept[1] = C;
  }
  return rc;
}
