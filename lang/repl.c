/* repl.c: the interactive loop on GNU readline (callback interface, so a
 * Ctrl-C is noticed in our own loop, outside the signal handler). Input is
 * collected until braces, parentheses and strings are closed and the text
 * ends with `;` or `}`; then it runs. Errors are reported, the loop goes on. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <readline/history.h>
#include <readline/readline.h>
#include "config.h"
#include "sl.h"

/* set by the SIGINT handler, read by the VM poll and the runtime's
 * interruptible waits (sp_wait_interruptible): accessed atomically */
volatile int sl_interrupted;

static void on_sigint(int sig) { (void)sig; __atomic_store_n(&sl_interrupted, 1, __ATOMIC_RELAXED); }
/* SIGTERM ends the session: what runs is cancelled, the history saved */
static volatile sig_atomic_t terminated;
static void on_sigterm(int sig) { (void)sig; terminated = 1; __atomic_store_n(&sl_interrupted, 1, __ATOMIC_RELAXED); }

/* poll function of the REPL's context: a Ctrl-C cancels the evaluation */
static int repl_poll(void *ud) {
  (void)ud;
  if (!__atomic_load_n(&sl_interrupted, __ATOMIC_RELAXED)) return 0;
  __atomic_store_n(&sl_interrupted, 0, __ATOMIC_RELAXED);
  return 1;
}

/* The scanner behind sl_source_complete, fed a piece at a time (piped
 * stdin feeds it a line at a time: no rescan of what came before). It
 * follows strings, comments and bracket depth, and the last significant
 * character. */

/* one character of code (not in a string or comment) */
static void scan_code(sl_scan *sc, char c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return;
  sc->last = c;
  if (c == '"') sc->state = 1;
  else if (c == '{' || c == '(' || c == '[') sc->depth++;
  else if (c == '}' || c == ')' || c == ']') sc->depth--;
}

void sl_scan_feed(sl_scan *sc, const char *p, size_t n) {
  for (const char *e = p + n; p < e; p++) {
    char c = *p;
    switch (sc->state) {
    case 1:                                  /* in a string */
      if (sc->esc) sc->esc = 0;
      else if (c == '\\') sc->esc = 1;
      else if (c == '"') sc->state = 0;
      continue;
    case 2:                                  /* a // comment, to the line's end */
      if (c == '\n') sc->state = 0;
      continue;
    case 3:                                  /* a block comment */
      if (c == '/' && sc->star) sc->state = 0;
      sc->star = c == '*';
      continue;
    }
    if (sc->slash) {                         /* the '/' before: a comment, or code */
      sc->slash = 0;
      if (c == '/' || c == '*') { sc->state = c == '/' ? 2 : 3; sc->star = 0; continue; }
      scan_code(sc, '/');
    }
    if (c == '/') { sc->slash = 1; continue; }   /* decided by the next character */
    scan_code(sc, c);
  }
}

int sl_scan_complete(const sl_scan *sc) {
  if (sc->state == 1 || sc->state == 3 || sc->depth > 0) return 0;
  char last = sc->slash ? '/' : sc->last;   /* a '/' that ended the text so far */
  return last == 0 || last == ';' || last == '}' || sc->depth < 0;
}

int sl_source_complete(const char *s) {
  sl_scan sc = {0};
  sl_scan_feed(&sc, s, strlen(s));
  return sl_scan_complete(&sc);
}

/* ---- completion -------------------------------------------------------- */
static const char *keywords[] = {
  "if", "else", "while", "for", "break", "continue", "return", "proc", "div",
  "mod", "and", "or", "not", "quit", "exit", "kill", "LIB", "int", "bigint",
  "string", "list", "intvec", "def", "quote", "defined",
  "intmat", NULL};

typedef struct names { char **v; size_t n, cap; const char *prefix; size_t len; } names;
static sl_ctx *repl_ctx;

static void add_cand(names *nm, const char *s) {
  if (strncmp(s, nm->prefix, nm->len)) return;
  if (nm->n == nm->cap) {
    nm->cap = nm->cap ? 2 * nm->cap : 64;
    char **nv = sl_xrealloc(nm->v, nm->cap * sizeof *nv);
    nm->v = nv;
  }
  if (!(nm->v[nm->n] = strdup(s))) sl_oom();
  nm->n++;
}

static void add_name(sl_slot *s, void *ud) {
  if (s->val.type != SL_T_UNDEF) add_cand(ud, s->name);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

char **sl_complete_names(sl_world *W, const char *prefix, size_t *n) {
  names nm = {.prefix = prefix, .len = strlen(prefix)};
  for (int j = 0; keywords[j]; j++) add_cand(&nm, keywords[j]);
  sl_global_names(W, add_name, &nm);
  if (nm.n) qsort(nm.v, nm.n, sizeof *nm.v, cmp_str);
  size_t k = 0;
  for (size_t j = 0; j < nm.n; j++) {   /* a keyword may also be a global */
    if (k && !strcmp(nm.v[k - 1], nm.v[j])) free(nm.v[j]);
    else nm.v[k++] = nm.v[j];
  }
  *n = k;
  return nm.v;
}

/* readline's generator over sl_complete_names */
static char *generator(const char *text, int state) {
  static char **cands;
  static size_t i, n;
  if (!state) {
    for (size_t j = i; j < n; j++) free(cands[j]);
    free(cands);
    cands = sl_complete_names(repl_ctx->W, text, &n);
    i = 0;
  }
  return i < n ? cands[i++] : NULL;   /* readline frees what it gets */
}

static char **complete(const char *text, int start, int end) {
  (void)start; (void)end;
  rl_attempted_completion_over = 1;
  return rl_completion_matches(text, generator);
}

/* ---- the loop ---------------------------------------------------------- */
static sl_buf pending;
static int done, lineno;
static char histfile[4096];

static void run_input(sl_ctx *C, const char *src) {
  sl_clear_error(C);
  __atomic_store_n(&sl_interrupted, 0, __ATOMIC_RELAXED);
  int rc = sl_run_string(C, src, "(repl)");
  __atomic_store_n(&sl_interrupted, 0, __ATOMIC_RELAXED);   /* a Ctrl-C that ended a wait (never polled) */
  fflush(stdout);
  if (rc == SL_QUIT) { done = 1; return; }
  if (rc < 0) fprintf(stderr, "%s\n", C->err ? C->err : "error");
  sl_clear_error(C);
}

static void on_line(char *line) {
  if (!line) { done = 1; fputc('\n', stdout); return; }
  lineno++;
  if (pending.len) sl_buf_add(&pending, "\n", 1);
  sl_buf_puts(&pending, line);
  free(line);
  if (!sl_source_complete(pending.s)) { rl_set_prompt(". "); return; }
  if (pending.len) {
    add_history(pending.s);
    append_history(1, histfile);
  }
  rl_callback_handler_remove();
  run_input(repl_ctx, pending.s);
  sl_buf_free(&pending);
  if (!done) rl_callback_handler_install("> ", on_line);
}

static void cancel_input(void) {
  __atomic_store_n(&sl_interrupted, 0, __ATOMIC_RELAXED);
  sl_buf_free(&pending);
  fputs("^C\n", stdout);
  rl_replace_line("", 0);
  rl_set_prompt("> ");
  rl_on_new_line();
  rl_redisplay();
}

int sl_repl(sl_ctx *C, int quiet) {
  repl_ctx = C;
  sl_session_interrupt = &sl_interrupted;
  C->poll_flag = &sl_interrupted;
  C->poll_fn = repl_poll;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = on_sigterm;
  sigaction(SIGTERM, &sa, NULL);
  rl_catch_signals = 0;
  rl_readline_name = "spindle";
  rl_attempted_completion_function = complete;
  /* a name is letters, digits, _ and @: every other character ends one */
  rl_completer_word_break_characters = (char *)" \t\n\"\\'`$><=;|&{}()[],.:+-*/^%!~";
  const char *h = getenv("SPINDLE_HISTORY"), *home = getenv("HOME");
  if (h) snprintf(histfile, sizeof histfile, "%s", h);
  else snprintf(histfile, sizeof histfile, "%s/.spindle_history", home ? home : ".");
  read_history(histfile);
  FILE *touch = fopen(histfile, "a");
  if (touch) fclose(touch);
  if (!quiet) printf("spindle %s -- Ctrl-D or quit; to leave\n", PACKAGE_VERSION);
  rl_callback_handler_install("> ", on_line);
  while (!done && !terminated) {
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(0, &fds);
    int n = select(1, &fds, NULL, NULL, NULL);
    if (terminated) break;
    if (__atomic_load_n(&sl_interrupted, __ATOMIC_RELAXED)) { cancel_input(); continue; }
    if (n < 0) { if (errno == EINTR) continue; break; }
    if (n > 0) rl_callback_read_char();
  }
  rl_callback_handler_remove();
  history_truncate_file(histfile, 1000);
  if (terminated) { fputc('\n', stdout); return 128 + SIGTERM; }
  return C->quit_code;
}
