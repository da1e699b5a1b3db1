/* link.c: Singular's links -- ASCII files (":r file", ":w file", ":a file",
 * "file"), pipes to a shell command ("|: command") and ssi files
 * ("ssi:w file", "ssi:a file", "ssi:r file": Singular's own format,
 * ssi.c) -- as a value type
 * "link", and the builtins over them: write, read, open, close, status,
 * dump, getdump.
 *
 * A link is shared by reference like every value, so jobs on several
 * threads may use one link: each link has a mutex, and each write() is one
 * text composed first and then given to the kernel in one write(2) call
 * (files are opened O_APPEND except for ":w"), so two jobs writing lines to
 * one file interleave whole lines, and nothing is buffered in user space:
 * what a write returned from is in the file even if the script fails
 * later. The I/O retries on EINTR (the threads plugin preempts with
 * SIGURG); a pipe read waits in short polls and polls the script between
 * them (without the mutex), so cancelJob and Ctrl-C reach it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "sl.h"

extern char **environ;

/* kind: LK_NONE is `link l;`; LK_SSI an ssi file ("ssi:w file", lang/ssi.c);
 * LK_FORK is "ssi:fork" (the threads plugin's service "ssi:fork" runs it:
 * spindle_fork_iface in plugin.h) */
enum { LK_NONE, LK_ASCII, LK_PIPE, LK_SSI, LK_FORK };
enum { LK_R = 1, LK_W = 2 };           /* what a link is open for */

typedef struct sl_link {
  pthread_mutex_t mu;
  int kind;
  char *mode;       /* as Singular shows it: an ASCII link's becomes r, w or a when opened */
  char given;       /* the mode of the description: 0, 'r', 'w' or 'a' */
  char *name;       /* the file (empty: stdin/stdout) or the command */
  int open;         /* LK_R, LK_W, both (a pipe) or 0 */
  int fd;           /* ASCII: the file; -1 for stdin/stdout */
  pid_t pid;        /* pipe: the shell, leader of its own process group */
  int rfd, wfd;     /* pipe: its stdout and stdin */
  sl_buf in;        /* pipe: output read and not yet returned, from in_pos;
                     * ssi: the file open for reading, its next record at in_pos */
  size_t in_pos;
  int nread;        /* ssi: records read since it was opened */
  int eof;
  int was_open;     /* pipe: opened once (a closed one is "not ready", a new one "not open") */
  void *fork;       /* ssi:fork: the open link's handle (a reference), or NULL */
} sl_link;

static int link_type = -1;

static const char *errstr(int e, char *buf, size_t n) { return strerror_r(e, buf, n); }

/* ---- the value --------------------------------------------------------- */
static sl_link *lk_new(int kind, const char *mode, size_t ml, const char *name) {
  sl_link *l = sl_xcalloc(1, sizeof *l);
  pthread_mutex_init(&l->mu, NULL);
  l->kind = kind;
  l->mode = strndup(mode, ml);
  l->given = ml ? mode[0] : 0;
  l->name = strdup(name);
  if (!l->mode || !l->name) sl_oom();
  l->fd = l->rfd = l->wfd = -1;
  return l;
}

static void lk_close(sl_link *l);

static void lk_free(sl_link *l) {
  lk_close(l);
  sl_buf_free(&l->in);
  free(l->mode);
  free(l->name);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

static void lk_release(void *p) { lk_free(p); }

/* Singular's link description "type:mode name": no colon, all is the
 * name; the type is ASCII (none given) or "|" (a pipe). */
static sl_link *lk_parse(sl_ctx *C, const char *fn, const char *s) {
  const char *colon = strchr(s, ':'), *type = "", *mode = "", *name = s;
  size_t tl = 0, ml = 0;
  if (colon) {
    type = s;
    tl = (size_t)(colon - s);
    mode = colon + 1;
    ml = strcspn(mode, " ");
    name = mode + ml;
  }
  while (*name == ' ') name++;
  int kind;
  if (tl == 0 || (tl == 5 && !memcmp(type, "ASCII", 5))) kind = LK_ASCII;
  else if (tl == 1 && type[0] == '|') kind = LK_PIPE;
  else if (tl == 3 && !memcmp(type, "ssi", 3) && ml <= 1 && (!ml || strchr("rwa", mode[0]))) kind = LK_SSI;
  else if (tl == 3 && !memcmp(type, "ssi", 3) && ml == 4 && !memcmp(mode, "fork", 4)) {
    if (*name) {
      sl_error(C, "%s: an ssi:fork link has no name (\"ssi:fork\", not \"%s\")", fn, s);
      return NULL;
    }
    kind = LK_FORK;
  } else {
    sl_error(C, "%s: link type \"%.*s\" of \"%s\" is not supported (there are ASCII files, \"|:\" pipes, \"ssi:r\", \"ssi:w\", \"ssi:a\" files and \"ssi:fork\")",
             fn, (int)tl, type, s);
    return NULL;
  }
  if (kind == LK_ASCII && ml && (ml > 1 || !strchr("rwa", mode[0]))) {
    sl_error(C, "%s: bad mode \"%.*s\" in \"%s\" (an ASCII link's mode is r, w or a)", fn, (int)ml, mode, s);
    return NULL;
  }
  if ((kind == LK_PIPE || kind == LK_SSI) && !*name) {
    sl_error(C, kind == LK_PIPE ? "%s: the pipe \"%s\" names no command" : "%s: the ssi link \"%s\" names no file", fn, s);
    return NULL;
  }
  return lk_new(kind, mode, ml, name);
}

static int lk_init(spindle_ctx *C, spindle_value *out) {
  (void)C;
  *out = sl_api.make_user(link_type, lk_new(LK_NONE, "", 0, ""));
  return 0;
}

/* `link l = "...";` */
static int lk_assign(spindle_ctx *C, int argc, const spindle_value *argv, spindle_value *out) {
  if (argc != 1 || argv[0].type != SL_T_STRING)
    return sl_error(C, "link: a link is made from a string such as \":w file\", not %s",
                    argc == 1 ? sl_type_name((int)argv[0].type) : "several values");
  sl_link *l = lk_parse(C, "link", sl_sv(argv[0])->s);
  if (!l) return -1;
  *out = sl_api.make_user(link_type, l);
  return 0;
}

static const char *kind_name(const sl_link *l) {
  return l->kind == LK_ASCII ? "ASCII" : l->kind == LK_PIPE ? "pipe" : l->kind == LK_SSI || l->kind == LK_FORK ? "ssi" : "unknown link type";
}

/* ---- ssi:fork: the threads plugin's service ---------------------------- */
static const spindle_fork_iface *fork_iface(sl_ctx *C, const char *fn) {
  const spindle_fork_iface *f = sl_api.service("ssi:fork");
  if (!f) {   /* the plugin is loaded at the first open, as by load("threads.so") */
    if (sl_load_plugin(C, "threads.so") < 0) {
      char *why = sl_xstrdup(C->err ? C->err : "");
      sl_clear_error(C);
      sl_error(C, "%s: an ssi:fork link runs on the threads plugin, which did not load: %s", fn, why);
      free(why);
      return NULL;
    }
    f = sl_api.service("ssi:fork");
    if (!f) { sl_error(C, "%s: the threads plugin loaded has no ssi:fork links (an older plugin?)", fn); return NULL; }
  }
  return f;
}

/* the open link's handle with a reference for the caller, or NULL when
 * it is not open */
static void *fork_peek(sl_link *l, const spindle_fork_iface *f) {
  pthread_mutex_lock(&l->mu);
  void *h = l->fork;
  if (h) f->retain(h);
  pthread_mutex_unlock(&l->mu);
  return h;
}

/* the open link's handle, with a reference for the caller; opened first
 * if it is not (Singular's write and read open a link); NULL: error set.
 * The open happens outside l->mu (it may make the links' pool). */
static void *fork_handle(sl_ctx *C, const char *fn, sl_link *l, const spindle_fork_iface **fi) {
  const spindle_fork_iface *f = fork_iface(C, fn);
  if (!f) return NULL;
  *fi = f;
  void *h = fork_peek(l, f);
  if (h) return h;
  void *n = f->open(C);
  if (!n) return NULL;
  pthread_mutex_lock(&l->mu);
  h = l->fork;
  if (!h) {   /* ours; else another thread opened it first */
    l->fork = h = n;
    n = NULL;
    l->open = LK_R | LK_W;
    l->was_open = 1;
  }
  f->retain(h);
  pthread_mutex_unlock(&l->mu);
  if (n) f->close(n);
  return h;
}

/* closes an ssi:fork link (l->mu not held: the close cancels a job) */
static void fork_close(sl_link *l) {
  pthread_mutex_lock(&l->mu);
  void *h = l->fork;
  l->fork = NULL;
  l->open = 0;
  pthread_mutex_unlock(&l->mu);
  if (h) ((const spindle_fork_iface *)sl_api.service("ssi:fork"))->close(h);
}

/* status(l, "read") and status(l, "write"), as Singular answers them */
static const char *lk_ready(sl_link *l, int what) {
  if (l->kind == LK_NONE) return "unknown link type";
  if (l->kind == LK_ASCII) return l->open & what ? "ready" : "not ready";
  if (l->kind == LK_FORK) {
    if (!l->fork) return "not open";
    const spindle_fork_iface *f = sl_api.service("ssi:fork");
    return what == LK_W || f->ready(l->fork) ? "ready" : "not ready";
  }
  if (l->kind == LK_SSI) {   /* Singular's: read is ready once a read has filled its buffer */
    if (!l->open) return "not open";
    if (!(l->open & what)) return "not ready";
    if (what == LK_W) return "ready";
    for (size_t i = l->in_pos; l->nread && i < l->in.len; i++)
      if ((unsigned char)l->in.s[i] > ' ') return "ready";
    return "not ready";
  }
  if (!l->open) return l->was_open ? "not ready" : "not open";
  if (what == LK_W) return "ready";
  if (l->in.len > l->in_pos || l->eof) return l->in.len > l->in_pos ? "ready" : "not ready";
  struct pollfd p = {l->rfd, POLLIN, 0};
  return poll(&p, 1, 0) > 0 ? "ready" : "not ready";
}

/* the display: Singular's "// type : ASCII" block */
static void lk_show(sl_buf *b, void *p) {
  sl_link *l = p;
  pthread_mutex_lock(&l->mu);
  if (l->kind == LK_NONE) {
    static const char *const k[] = {"type ", "mode ", "name ", "open ", "read ", "write"};
    for (int i = 0; i < 6; i++) sl_buf_printf(b, "%s// %s: unknown link type", i ? "\n" : "", k[i]);
  } else {
    sl_buf_printf(b, "// type : %s\n// mode : %s\n// name : %s\n// open : %s\n", kind_name(l), l->mode,
                  l->name, l->open ? "yes" : "no");
    sl_buf_printf(b, "// read : %s\n// write: %s", lk_ready(l, LK_R), lk_ready(l, LK_W));
  }
  pthread_mutex_unlock(&l->mu);
}

static void lk_register(void) {
  static const spindle_type_desc d = {"link", NULL, NULL, lk_release, NULL};
  static const spindle_type_ext x = {sizeof x, lk_init, lk_assign, 0};
  int t = sl_api.def_type(NULL, &d);
  if (t < 0) { fputs("spindle: no room for the link type\n", stderr); abort(); }
  sl_api.def_type_ext(NULL, t, &x);
  sl_utypes[t]->show = lk_show;
  link_type = t;
}

/* ---- I/O primitives ---------------------------------------------------- */
static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* a pipe whose reader is gone gives EPIPE, not a SIGPIPE that would end
 * the process: the signal is blocked in this thread around the write and
 * a pending one taken back */
static int write_pipe(int fd, const char *p, size_t n) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  int rc = write_all(fd, p, n), e = errno;
  if (rc < 0 && e == EPIPE) {
    static const struct timespec zero;
    while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {}
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  errno = e;
  return rc;
}

/* what is left of fd, appended to b: 0, an errno, or EFBIG past what a
 * string may hold */
static int read_rest(int fd, sl_buf *b) {
  for (;;) {
    if (b->len > sl_limits.str_len) return EFBIG;
    ssize_t k = read(fd, sl_buf_reserve(b, 65536), 65536);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return errno;
    if (k == 0) return 0;
    b->len += (size_t)k;
  }
}

/* the whole file from its start (Singular reads it again each time) */
static int read_file(sl_ctx *C, const char *fn, sl_link *l, sl_value *ret) {
  char eb[128];
  sl_buf b = {0};
  if (lseek(l->fd, 0, SEEK_SET) < 0 && errno != ESPIPE)
    return sl_error(C, "%s: cannot read from `%s`: %s", fn, l->name, errstr(errno, eb, sizeof eb));
  int e = read_rest(l->fd, &b);
  if (e) {
    sl_buf_free(&b);
    if (e == EFBIG)
      return sl_error(C, "%s: `%s` is larger than a string may be (%zu bytes)", fn, l->name, sl_limits.str_len);
    return sl_error(C, "%s: cannot read from `%s`: %s", fn, l->name, errstr(e, eb, sizeof eb));
  }
  *ret = sl_str_new(b.s ? b.s : "", b.len);
  sl_buf_free(&b);
  return 0;
}

/* ---- pipes ------------------------------------------------------------- */
static int lk_open_pipe(sl_ctx *C, const char *fn, sl_link *l) {
  char eb[128];
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) < 0) return sl_error(C, "%s: cannot start `%s`: %s", fn, l->name, errstr(errno, eb, sizeof eb));
  if (pipe2(out, O_CLOEXEC) < 0) {
    int e = errno;
    close(in[0]); close(in[1]);
    return sl_error(C, "%s: cannot start `%s`: %s", fn, l->name, errstr(e, eb, sizeof eb));
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  sl_spawn_attr(&at, 1);   /* a process group of its own: close ends it whole */
  char *argv[] = {"sh", "-c", l->name, NULL};
  pid_t pid;
  fflush(stdout);
  int rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(in[0]);
  close(out[1]);
  if (rc) {
    close(in[1]); close(out[0]);
    return sl_error(C, "%s: cannot start `%s`: %s", fn, l->name, errstr(rc, eb, sizeof eb));
  }
  l->pid = pid;
  l->wfd = in[1];
  l->rfd = out[0];
  l->open = LK_R | LK_W;
  l->was_open = 1;
  l->eof = 0;
  l->in.len = l->in_pos = 0;
  return 0;
}

/* closes its ends (the command sees the end of its input), gives it a
 * second to finish, then ends its process group */
static void lk_close_pipe(sl_link *l) {
  close(l->wfd);
  close(l->rfd);
  l->wfd = l->rfd = -1;
  int st;
  long waited = 0;
  for (long step = 1000000; ; step = step < 64000000 ? step * 2 : step) {
    pid_t r = waitpid(l->pid, &st, WNOHANG);
    if (r == l->pid || (r < 0 && errno != EINTR)) break;
    if (waited >= 1000000000L) {
      kill(-l->pid, SIGKILL);
      while (waitpid(l->pid, &st, 0) < 0 && errno == EINTR) {}
      break;
    }
    struct timespec ts = {0, step};
    nanosleep(&ts, NULL);
    waited += step;
  }
  l->pid = 0;
}

/* one line of the command's output, without its newline; the last line
 * may lack one. Waits in polls of 10 ms, polling the script between them
 * with the mutex released. */
static int lk_read_line(sl_ctx *C, const char *fn, sl_link *l, sl_value *ret) {
  char eb[128];
  for (;;) {
    pthread_mutex_lock(&l->mu);
    if (!l->open && lk_open_pipe(C, fn, l) < 0) { pthread_mutex_unlock(&l->mu); return -1; }
    char *s = l->in.len > l->in_pos ? l->in.s + l->in_pos : NULL;
    char *nl = s ? memchr(s, '\n', l->in.len - l->in_pos) : NULL;
    if (nl || (l->eof && l->in.len > l->in_pos)) {
      size_t n = nl ? (size_t)(nl - s) : l->in.len - l->in_pos;
      *ret = sl_str_new(s, n);
      l->in_pos += n + (nl != NULL);
      if (l->in_pos == l->in.len) l->in.len = l->in_pos = 0;
      pthread_mutex_unlock(&l->mu);
      return 0;
    }
    if (l->eof) {   /* as Singular: the link is closed, the read fails */
      lk_close(l);
      pthread_mutex_unlock(&l->mu);
      return sl_error(C, "%s: cannot read from `%s`: its output has ended", fn, l->name);
    }
    if (l->in_pos && l->in_pos * 2 >= l->in.len) {
      memmove(l->in.s, l->in.s + l->in_pos, l->in.len - l->in_pos);
      l->in.len -= l->in_pos;
      l->in_pos = 0;
    }
    struct pollfd p = {l->rfd, POLLIN, 0};
    int e = 0;
    if (poll(&p, 1, 10) > 0) {
      ssize_t k = read(l->rfd, sl_buf_reserve(&l->in, 4096), 4096);
      if (k > 0) l->in.len += (size_t)k;
      else if (k == 0) l->eof = 1;
      else if (errno != EINTR && errno != EAGAIN) e = errno;
    }
    if (l->in.len - l->in_pos > sl_limits.str_len) e = EFBIG;
    pthread_mutex_unlock(&l->mu);
    if (e) return sl_error(C, "%s: cannot read from `%s`: %s", fn, l->name, errstr(e, eb, sizeof eb));
    if (sl_poll(C) < 0) return -1;
  }
}

/* ---- opening and closing ----------------------------------------------- */
static void lk_close(sl_link *l) {
  if (l->kind == LK_FORK) { fork_close(l); return; }   /* l->mu not held */
  if (l->kind == LK_PIPE && l->open) lk_close_pipe(l);
  else if (l->open && l->fd >= 0) close(l->fd);
  if (l->kind == LK_SSI) {
    sl_buf_free(&l->in);
    l->in_pos = 0;
  }
  l->fd = -1;
  l->open = 0;
}

/* opens an ssi link for reading (the whole file read into l->in) or
 * writing (its header written), as Singular's ssiOpen: the mode becomes r,
 * or w for a "w" link (the file emptied), else a (appended to). A link
 * given as "ssi:r" is never written; a closed "ssi:w" one may be read (the
 * manual's example writes, closes and reads). With mu held. */
static int lk_open_ssi(sl_ctx *C, const char *fn, sl_link *l, int want) {
  char eb[128];
  if (l->open & want) return 0;
  if (want == LK_W && l->given == 'r')
    return sl_error(C, "%s: cannot write to `%s`: the link is for reading (mode r)", fn, l->name);
  if (l->open)
    return sl_error(C, "%s: cannot %s `%s`: the link is open for %s: close it first", fn,
                    want == LK_R ? "read from" : "write to", l->name, l->open == LK_R ? "reading" : "writing");
  const char *m = want == LK_R ? "r" : !strcmp(l->mode, "w") ? "w" : "a";
  int flags = O_CLOEXEC | (*m == 'r' ? O_RDONLY : *m == 'w' ? O_WRONLY | O_CREAT | O_TRUNC : O_WRONLY | O_CREAT | O_APPEND);
  int fd;
  do fd = open(l->name, flags, 0666); while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return sl_error(C, "%s: cannot %s `%s`: %s", fn, want == LK_R ? "read from" : "write to", l->name,
                    errstr(errno, eb, sizeof eb));
  l->fd = fd;
  l->in.len = l->in_pos = 0;
  l->nread = 0;
  int e = 0;
  if (want == LK_R) e = read_rest(fd, &l->in);
  else if (write_all(fd, sl_ssi_header, strlen(sl_ssi_header)) < 0) e = errno;
  if (e) {
    close(fd);
    l->fd = -1;
    l->in.len = 0;
    return sl_error(C, "%s: cannot %s `%s`: %s", fn, want == LK_R ? "read from" : "write to", l->name,
                    errstr(e, eb, sizeof eb));
  }
  char *nm = sl_xstrdup(m);
  free(l->mode);
  l->mode = nm;
  l->open = want;
  return 0;
}

/* opens an ASCII link for reading (LK_R) or writing (LK_W) unless it is
 * open so already; with mu held */
static int lk_open_ascii(sl_ctx *C, const char *fn, sl_link *l, int want) {
  char eb[128];
  if (l->open & want) return 0;
  if (want == LK_R && (l->given == 'w' || l->given == 'a'))
    return sl_error(C, "%s: cannot read from `%s`: the link is for writing (mode %c)", fn, l->name, l->given);
  if (want == LK_W && l->given == 'r')
    return sl_error(C, "%s: cannot write to `%s`: the link is for reading (mode r)", fn, l->name);
  if (l->open)
    return sl_error(C, "%s: the link to `%s` is open for %s: close it first", fn, l->name,
                    l->open == LK_R ? "reading" : "writing");
  const char *path = l->name, *m = want == LK_R ? "r" : l->given == 'w' ? "w" : "a";
  if (want == LK_W && path[0] == '>') {   /* Singular's ">file" and ">>file" */
    m = path[1] == '>' ? "a" : "w";
    path += path[1] == '>' ? 2 : 1;
  }
  int fd = -1;
  if (*path) {
    int flags = O_CLOEXEC | (*m == 'r' ? O_RDONLY : *m == 'w' ? O_WRONLY | O_CREAT | O_TRUNC : O_WRONLY | O_CREAT | O_APPEND);
    do fd = open(path, flags, 0666); while (fd < 0 && errno == EINTR);
    if (fd < 0)
      return sl_error(C, "%s: cannot %s `%s`: %s", fn, want == LK_R ? "read from" : "write to", path,
                      errstr(errno, eb, sizeof eb));
  }
  char *nm = sl_xstrdup(m);
  free(l->mode);
  l->mode = nm;
  l->fd = fd;
  l->open = want;
  return 0;
}

static int lk_open(sl_ctx *C, const char *fn, sl_link *l, int want) {
  if (l->kind == LK_NONE) return sl_error(C, "%s: the link was never given a description (link l = \":w file\";)", fn);
  if (l->kind == LK_PIPE) return l->open ? 0 : lk_open_pipe(C, fn, l);
  if (l->kind == LK_FORK) return sl_error(C, "%s: internal error: an ssi:fork link opened under its lock", fn);
  if (l->kind == LK_SSI) return lk_open_ssi(C, fn, l, want);
  return lk_open_ascii(C, fn, l, want);
}

/* ---- arguments --------------------------------------------------------- */
/* argument i: a link, or a string describing one (a link made for this
 * call only: *tmp set, freed by the caller with lk_free) */
static sl_link *link_arg(sl_ctx *C, const char *fn, sl_value *argv, int i, int *tmp) {
  *tmp = 0;
  if ((int)argv[i].type == link_type) return sl_api.user_ptr(argv[i], link_type);
  if (argv[i].type == SL_T_STRING) {
    *tmp = 1;
    sl_link *l = lk_parse(C, fn, sl_sv(argv[i])->s);
    if (l && l->kind == LK_FORK) {   /* its job would end with the call */
      lk_free(l);
      sl_error(C, "%s: an ssi:fork link must be a link variable (link l = \"ssi:fork\";), not a string", fn);
      return NULL;
    }
    return l;
  }
  sl_arg_err(C, fn, i + 1, "link or string", argv[i]);
  return NULL;
}

static sl_link *link_only(sl_ctx *C, const char *fn, int argc, sl_value *argv, int nargs) {
  if (argc != nargs) {
    sl_argc_err(C, fn, argc, nargs == 1 ? "1 argument" : "2 arguments");
    return NULL;
  }
  if ((int)argv[0].type != link_type) { sl_arg_err(C, fn, 1, "link", argv[0]); return NULL; }
  return sl_api.user_ptr(argv[0], link_type);
}

/* ---- builtins ---------------------------------------------------------- */
/* what write() puts out: each value on a line of its own, as string()
 * gives it (an expression list gives a line per entry) */
/* each value given to write(), an expression list's values each: fn(ud,
 * v) in order, stopping at the first that fails (-1) */
static int each_written(int argc, sl_value *argv, int (*fn)(void *ud, sl_value v), void *ud) {
  for (int i = 0; i < argc; i++) {
    int rc = argv[i].type == SL_T_MULTI ? each_written((int)sl_lv(argv[i])->n, sl_lv(argv[i])->v, fn, ud)
                                        : fn(ud, argv[i]);
    if (rc < 0) return -1;
  }
  return 0;
}

static int text_line(void *b, sl_value v) {
  sl_string_value(b, v);
  sl_buf_add(b, "\n", 1);
  return 0;
}

static void write_text(sl_buf *b, int argc, sl_value *argv) { each_written(argc, argv, text_line, b); }

/* write() to an ssi link: each value a record and a newline */
typedef struct { sl_ctx *C; sl_link *l; sl_buf *b; } ssi_out;

static int ssi_record(void *ud, sl_value v) {
  ssi_out *o = ud;
  if (sl_ssi_encode(o->C, "write", o->l->name, v, o->b) < 0) return -1;
  sl_buf_add(o->b, "\n", 1);
  return 0;
}

static int write_ssi(sl_ctx *C, sl_link *l, sl_buf *b, int argc, sl_value *argv) {
  return each_written(argc, argv, ssi_record, &(ssi_out){C, l, b});
}

static int lk_write_text(sl_ctx *C, const char *fn, sl_link *l, const sl_buf *b) {
  char eb[128];
  pthread_mutex_lock(&l->mu);
  int rc = lk_open(C, fn, l, LK_W);
  if (!rc && b->len) {
    if (l->kind == LK_PIPE) rc = write_pipe(l->wfd, b->s, b->len);
    else if (l->fd < 0) fwrite(b->s, 1, b->len, stdout);
    else rc = write_all(l->fd, b->s, b->len);
    if (rc < 0) rc = sl_error(C, "%s: cannot write to `%s`: %s", fn, l->name, errstr(errno, eb, sizeof eb));
  }
  pthread_mutex_unlock(&l->mu);
  return rc;
}

/* write() to an ssi:fork link: each value one expression for the link's
 * job, in order */
typedef struct { sl_ctx *C; const spindle_fork_iface *f; void *h; } fork_out;

static int fork_expr(void *ud, sl_value v) {
  fork_out *o = ud;
  return o->f->write(o->C, "write", o->h, v);
}

static int fork_write(sl_ctx *C, sl_link *l, int argc, sl_value *argv) {
  const spindle_fork_iface *f;
  void *h = fork_handle(C, "write", l, &f);
  if (!h) return -1;
  int rc = each_written(argc, argv, fork_expr, &(fork_out){C, f, h});
  f->release(h);
  return rc;
}

static int b_write(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc < 2) return sl_argc_err(C, "write", argc, "at least 2 arguments");
  int tmp;
  sl_link *l = link_arg(C, "write", argv, 0, &tmp);
  if (!l) return -1;
  if (l->kind == LK_FORK) return fork_write(C, l, argc - 1, argv + 1);   /* a variable: link_arg */
  sl_buf b = {0};
  int rc = 0;
  if (l->kind == LK_SSI) rc = write_ssi(C, l, &b, argc - 1, argv + 1);
  else write_text(&b, argc - 1, argv + 1);
  if (!rc) rc = lk_write_text(C, "write", l, &b);
  sl_buf_free(&b);
  if (tmp) lk_free(l);
  return rc;
}

/* fprintf(l, fmt, ...): write(l, sprintf(fmt, ...)), as Singular's */
static int b_fprintf(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  (void)ret;
  if (argc < 2) return sl_argc_err(C, "fprintf", argc, "at least 2 arguments");
  int tmp;
  if (argv[1].type != SL_T_STRING) return sl_arg_err(C, "fprintf", 2, "string (the format)", argv[1]);
  sl_link *l = link_arg(C, "fprintf", argv, 0, &tmp);
  if (!l) return -1;
  if (l->kind == LK_FORK) return sl_error(C, "fprintf: an ssi:fork link takes values (write), not text");
  sl_buf b = {0};
  int rc = l->kind == LK_SSI ? sl_error(C, "fprintf: `%s` is an ssi link: write(l, sprintf(...)) writes a string to it", l->name)
                             : sl_format(C, "fprintf", argc - 1, argv + 1, &b);
  if (!rc) {
    sl_buf_add(&b, "\n", 1);
    rc = lk_write_text(C, "fprintf", l, &b);
  }
  sl_buf_free(&b);
  if (tmp) lk_free(l);
  return rc;
}

long sl_stdin_lines;

/* a line from stdin (an ASCII link with no name), after the prompt */
static int read_stdin(sl_ctx *C, const char *prompt, sl_value *ret) {
  fputs(prompt, stdout);
  fflush(stdout);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, stdin);
  if (n > 0) __atomic_fetch_add(&sl_stdin_lines, 1, __ATOMIC_RELAXED);
  *ret = sl_str_new(line && n > 0 ? line : "", n > 0 ? (size_t)n : 0);
  free(line);
  (void)C;
  return 0;
}

/* the next record of an ssi link; at the end of the file, as Singular,
 * none, and the link is closed (a read after that starts again) */
static int read_ssi(sl_ctx *C, const char *fn, sl_link *l, sl_value *ret) {
  pthread_mutex_lock(&l->mu);
  int rc = lk_open(C, fn, l, LK_R);
  if (!rc) {
    rc = sl_ssi_decode(C, fn, l->name, l->in.s, l->in.len, &l->in_pos, ret);
    l->nread++;
    if (rc == 1) {
      lk_close(l);
      *ret = SL_NONE;
      rc = 0;
    }
  }
  pthread_mutex_unlock(&l->mu);
  return rc;
}

static int lk_read(sl_ctx *C, const char *fn, sl_link *l, const char *prompt, sl_value *ret) {
  if (l->kind == LK_PIPE) return lk_read_line(C, fn, l, ret);
  if (l->kind == LK_FORK) {
    const spindle_fork_iface *f;
    void *h = fork_handle(C, fn, l, &f);
    if (!h) return -1;
    int rc = f->read(C, fn, h, ret);
    f->release(h);
    return rc;
  }
  if (l->kind == LK_SSI) return read_ssi(C, fn, l, ret);
  pthread_mutex_lock(&l->mu);
  int rc = lk_open(C, fn, l, LK_R);
  if (!rc) rc = l->fd < 0 ? read_stdin(C, prompt, ret) : read_file(C, fn, l, ret);
  pthread_mutex_unlock(&l->mu);
  return rc;
}

static int b_read(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc != 1 && argc != 2) return sl_argc_err(C, "read", argc, "1 or 2 arguments");
  if (argc == 2 && argv[1].type != SL_T_STRING) return sl_arg_err(C, "read", 2, "string (a prompt)", argv[1]);
  int tmp;
  sl_link *l = link_arg(C, "read", argv, 0, &tmp);
  if (!l) return -1;
  int rc = lk_read(C, "read", l, argc == 2 ? sl_sv(argv[1])->s : "? ", ret);
  if (tmp) lk_free(l);
  return rc;
}

static int b_open(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  sl_link *l = link_only(C, "open", argc, argv, 1);
  if (!l) return -1;
  pthread_mutex_lock(&l->mu);
  int rc = 0;
  if (l->open) {   /* Singular warns and goes on */
    char msg[600];
    snprintf(msg, sizeof msg, "open: link of type: %s, mode: %s, name: %.400s is already open", kind_name(l), l->mode, l->name);
    pthread_mutex_unlock(&l->mu);
    fflush(stdout);
    printf("// ** %s\n", msg);
    return 0;
  }
  if (l->kind == LK_FORK) {
    pthread_mutex_unlock(&l->mu);
    const spindle_fork_iface *f;
    void *h = fork_handle(C, "open", l, &f);
    if (!h) return -1;
    f->release(h);
    return 0;
  }
  int want = l->kind == LK_SSI ? (!strcmp(l->mode, "r") ? LK_R : LK_W) : l->given == 'r' ? LK_R : LK_W;
  rc = lk_open(C, "open", l, want);
  pthread_mutex_unlock(&l->mu);
  return rc;
}

static int b_close(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  sl_link *l = link_only(C, "close", argc, argv, 1);
  if (!l) return -1;
  if (l->kind == LK_FORK) { fork_close(l); return 0; }
  pthread_mutex_lock(&l->mu);
  lk_close(l);
  pthread_mutex_unlock(&l->mu);
  return 0;
}

/* Singular's answers to status(l, request) */
static const char *lk_status(sl_link *l, const char *req) {
  if (l->kind == LK_NONE) return "unknown link type";
  if (!strcmp(req, "type")) return kind_name(l);
  if (!strcmp(req, "mode")) return l->mode;
  if (!strcmp(req, "name")) return l->name;
  if (!strcmp(req, "open")) return l->open ? "yes" : "no";
  if (!strcmp(req, "openread")) return l->open & LK_R ? "yes" : "no";
  if (!strcmp(req, "openwrite")) return l->open & LK_W ? "yes" : "no";
  if (!strcmp(req, "exists")) {
    struct stat st;
    return lstat(l->name, &st) == 0 ? "yes" : "no";
  }
  if (!strcmp(req, "read")) return lk_ready(l, LK_R);
  if (!strcmp(req, "write")) return lk_ready(l, LK_W);
  return "unknown status request";
}

/* status(l, request): the answer; status(l, request, value): 1 when the
 * answer is value, else 0 */
static int b_status(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  const char *fn = "status";
  if (argc != 2 && argc != 3) return sl_argc_err(C, fn, argc, "2 or 3 arguments");
  if ((int)argv[0].type != link_type) return sl_arg_err(C, fn, 1, "link", argv[0]);
  for (int i = 1; i < argc; i++)
    if (argv[i].type != SL_T_STRING) return sl_arg_err(C, fn, i + 1, "string", argv[i]);
  sl_link *l = sl_api.user_ptr(argv[0], link_type);
  pthread_mutex_lock(&l->mu);
  const char *a = lk_status(l, sl_sv(argv[1])->s);
  *ret = argc == 2 ? sl_str(a) : SL_INT(!strcmp(a, sl_sv(argv[2])->s));
  pthread_mutex_unlock(&l->mu);
  return 0;
}

/* ---- dump and getdump -------------------------------------------------- */
/* the right side that makes v again, as Singular's dump writes it; -1 for
 * a value that has none (Singular skips such a variable) */
static int dump_rhs(sl_buf *b, sl_value v, int depth) {
  switch (v.type) {
  case SL_T_INT: sl_buf_printf(b, "%lld", (long long)v.u.i); return 0;
  case SL_T_BIGINT: sl_buf_puts(b, "bigint("); sl_string_value(b, v); sl_buf_puts(b, ")"); return 0;
  case SL_T_INTVEC: sl_buf_puts(b, "intvec("); sl_string_value(b, v); sl_buf_puts(b, ")"); return 0;
  case SL_T_STRING: {
    sl_string *s = sl_sv(v);
    sl_buf_add(b, "\"", 1);
    for (size_t i = 0; i < s->len; i++) {
      if (s->s[i] == '"' || s->s[i] == '\\') sl_buf_add(b, "\\", 1);
      sl_buf_add(b, &s->s[i], 1);
    }
    sl_buf_add(b, "\"", 1);
    return 0;
  }
  case SL_T_LIST: {
    sl_list *l = sl_lv(v);
    if (depth > 1000) return -1;
    sl_buf_puts(b, "list(");
    for (size_t i = 0; i < l->n; i++) {
      if (i) sl_buf_add(b, ",", 1);
      if (dump_rhs(b, l->v[i], depth + 1) < 0) return -1;
    }
    sl_buf_puts(b, ")");
    return 0;
  }
  default: return -1;   /* none (an unset list entry), procs, links, plugin values */
  }
}

typedef struct dump_acc { sl_slot **v; size_t n, cap; } dump_acc;

static void dump_collect(sl_slot *s, void *ud) {
  dump_acc *a = ud;
  /* ARGV is the run's own, printlevel and newline system variables, P::x
   * a member of a package (names.c): as in Singular, none is dumped */
  if (sl_slot_peek(s, NULL) == SL_T_UNDEF || sl_system_global(s->name) || strstr(s->name, "::"))
    return;
  if (a->n == a->cap) {
    a->cap = a->cap ? 2 * a->cap : 64;
    a->v = sl_xrealloc(a->v, a->cap * sizeof *a->v);
  }
  a->v[a->n++] = s;
}

static int dump_cmp(const void *x, const void *y) {   /* oldest declaration first */
  uint64_t a = (*(sl_slot *const *)x)->seq_decl, b = (*(sl_slot *const *)y)->seq_decl;
  return (a > b) - (a < b);
}

/* "TYPE NAME = RHS;" for each global with a dumpable value, in the order
 * they were declared */
static void dump_text(sl_ctx *C, sl_buf *b) {
  dump_acc a = {0};
  sl_global_names(C->W, dump_collect, &a);
  if (a.n) qsort(a.v, a.n, sizeof *a.v, dump_cmp);
  for (size_t i = 0; i < a.n; i++) {
    sl_value v = sl_slot_get(a.v[i]);
    size_t mark = b->len;
    if (v.type != SL_T_UNDEF) {
      sl_buf_printf(b, "%s %s = ", sl_type_name((int)v.type), a.v[i]->name);
      if (dump_rhs(b, v, 0) < 0) b->len = mark;
      else sl_buf_puts(b, ";\n");
      if (b->s) b->s[b->len] = 0;
    }
    sl_release(v);
  }
  free(a.v);
}

static int b_dump(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc != 1) return sl_argc_err(C, "dump", argc, "1 argument");
  int tmp;
  sl_link *l = link_arg(C, "dump", argv, 0, &tmp);
  if (!l) return -1;
  int rc;
  if (l->kind == LK_PIPE) rc = sl_error(C, "dump: a pipe (`%s`) cannot hold a dump; use a file", l->name);
  else if (l->kind == LK_FORK) rc = sl_error(C, "dump: an ssi:fork link cannot hold a dump; use a file");
  else if (l->kind == LK_SSI) rc = sl_error(C, "dump: an ssi link (`%s`) cannot hold a dump in spindle; use an ASCII file", l->name);
  else {
    sl_buf b = {0};
    dump_text(C, &b);
    rc = lk_write_text(C, "dump", l, &b);
    sl_buf_free(&b);
  }
  if (tmp) lk_free(l);
  return rc;
}

/* getdump(l): runs what dump wrote (the whole file, as execute would) */
static int b_getdump(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  if (argc != 1) return sl_argc_err(C, "getdump", argc, "1 argument");
  int tmp;
  sl_link *l = link_arg(C, "getdump", argv, 0, &tmp);
  if (!l) return -1;
  sl_value text = SL_NONE;
  int rc;
  if (l->kind == LK_PIPE) rc = sl_error(C, "getdump: a pipe (`%s`) holds no dump; use a file", l->name);
  else if (l->kind == LK_FORK) rc = sl_error(C, "getdump: an ssi:fork link holds no dump; use a file");
  else if (l->kind == LK_SSI) rc = sl_error(C, "getdump: spindle reads no dump from an ssi link (`%s`); use an ASCII file", l->name);
  else if (l->kind == LK_ASCII && !*l->name) rc = sl_error(C, "getdump: cannot get a dump from stdin");
  else rc = lk_read(C, "getdump", l, "", &text);
  sl_code *code = NULL;
  if (!rc) {
    code = sl_compile(C, sl_sv(text)->s, sl_sv(text)->len, l->name, 1);
    if (!code) rc = -1;
  }
  sl_release(text);
  if (tmp) lk_free(l);
  if (rc < 0) return rc;
  C->push_code = code;
  return SL_PUSH;
}

/* ---- waitfirst and waitall -------------------------------------------- */
/* waitfirst(L[, timeout]) and waitall(L[, timeout]) over a list of open
 * ssi:fork links (entries that hold nothing are skipped, as in Singular):
 * Singular's answers (waitfirst: the index of a ready link, waitall: 1
 * when all are ready; 0 when the timeout in milliseconds passed first; -1
 * for a list without links). A negative timeout, or none, waits without
 * end: an error where Singular would hang (no link that can become ready
 * for waitfirst, one such link for waitall). 0 polls. */
static int wait_links(sl_ctx *C, const char *fn, int all, int argc, sl_value *argv, sl_value *ret) {
  if (argc != 1 && argc != 2) return sl_argc_err(C, fn, argc, "1 or 2 arguments (list of links[, int timeout_ms])");
  if (argv[0].type != SL_T_LIST) return sl_arg_err(C, fn, 1, "list (of ssi:fork links)", argv[0]);
  if (argc == 2 && argv[1].type != SL_T_INT) return sl_arg_err(C, fn, 2, "int (milliseconds)", argv[1]);
  long timeout = argc == 2 ? (argv[1].u.i < 0 ? -1 : argv[1].u.i > LONG_MAX ? LONG_MAX : (long)argv[1].u.i) : -1;
  sl_list *L = sl_lv(argv[0]);
  size_t n = L->n;
  const spindle_fork_iface *f = NULL;
  for (size_t i = 0; i < n; i++) {
    sl_value v = L->v[i];
    if (v.type == SL_T_NONE) continue;
    if ((int)v.type != link_type)
      return sl_error(C, "%s: element %zu of the list is %s, not a link", fn, i + 1, sl_type_name((int)v.type));
    sl_link *l = sl_api.user_ptr(v, link_type);
    if (l->kind != LK_FORK)
      return sl_error(C, "%s: element %zu of the list is a%s %s link, not an ssi:fork link", fn, i + 1,
                      l->kind == LK_ASCII ? "n" : "", kind_name(l));
    if (!f && !(f = fork_iface(C, fn))) return -1;
  }
  void **h = sl_xcalloc(n ? n : 1, sizeof *h);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (L->v[i].type == SL_T_NONE) continue;
    if (!(h[i] = fork_peek(sl_api.user_ptr(L->v[i], link_type), f))) rc = sl_error(C, "%s: the ssi:fork link of element %zu of the list is not open", fn, i + 1);
  }
  int r = -1;
  if (rc == 0 && f) rc = f->wait(C, fn, h, (int)n, all, timeout, &r);
  for (size_t i = 0; i < n; i++)
    if (h[i]) f->release(h[i]);
  free(h);
  if (rc == 0) *ret = SL_INT(r);
  return rc;
}

static int b_waitfirst(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  return wait_links(C, "waitfirst", 0, argc, argv, ret);
}

static int b_waitall(sl_ctx *C, int argc, sl_value *argv, sl_value *ret) {
  return wait_links(C, "waitall", 1, argc, argv, ret);
}

static pthread_once_t lk_once = PTHREAD_ONCE_INIT;

void sl_link_init(sl_world *W) {
  pthread_once(&lk_once, lk_register);
  static const struct { const char *name; sl_cfn fn; } tab[] = {
    {"write", b_write}, {"fprintf", b_fprintf}, {"read", b_read}, {"open", b_open}, {"close", b_close},
    {"status", b_status}, {"dump", b_dump}, {"getdump", b_getdump}, {"waitfirst", b_waitfirst},
    {"waitall", b_waitall},
  };
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) sl_def_builtin(W, tab[i].name, tab[i].fn);
}
