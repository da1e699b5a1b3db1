/* kernel.c: `spindle --kernel`, one session driven by a program (the
 * Jupyter kernel in scripts/jupyter/) over a machine-readable protocol:
 * JSON objects, one per line, requests on stdin and replies on stdout.
 * The protocol is described in lang/README.md ("The kernel protocol").
 *
 * The script's own output never touches the protocol stream: at start
 * the protocol takes private copies of fds 0 and 1, fd 0 becomes
 * /dev/null and fds 1 and 2 become pipes. A pump thread reads the pipes
 * and sends what it reads as "stream" messages, so whatever any thread
 * prints (a job on a worker included) reaches the client whole, inside a
 * message. Before a reply or a display the main thread flushes stdio and
 * asks the pump to drain both pipes (a byte on a control pipe; it reads
 * the pipes until they are empty, then answers on a condition variable):
 * what the cell printed is sent before the cell's reply. Writes to the
 * protocol stream are whole lines under one mutex. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "sl.h"

#define KERNEL_PROTOCOL 1
#define MAX_REQUEST ((size_t)256 << 20)   /* bytes of one request line */

static int proto_in = -1, proto_out = -1, diag_fd = -1;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static int peer_gone;                      /* under out_mu */
static char *cur_id;                       /* under out_mu: raw JSON id of the running execute */

/* ---- writing JSON --------------------------------------------------- */

/* length of a valid UTF-8 sequence at s (n bytes available), 0 if invalid,
 * -1 if s holds a valid but incomplete start */
static int utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  int k;
  unsigned min;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) { k = 2; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { k = 3; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf4) { k = 4; min = 0x10000; }
  else return 0;
  unsigned cp = c & (0x7f >> k);
  for (int i = 1; i < k; i++) {
    if ((size_t)i >= n) return -1;
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3f);
    /* reject overlong forms and surrogates as early as they show */
    if (i == 1 && k == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))) return 0;
    if (i == 1 && k == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))) return 0;
  }
  return cp >= min ? k : 0;
}

/* s as a JSON string; invalid UTF-8 becomes U+FFFD */
static void j_str(sl_buf *b, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  sl_buf_add(b, "\"", 1);
  while (p < end) {
    const unsigned char *q = p;
    while (q < end && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\') q++;
    if (q > p) { sl_buf_add(b, (const char *)p, (size_t)(q - p)); p = q; continue; }
    unsigned c = *p;
    if (c == '"') sl_buf_add(b, "\\\"", 2);
    else if (c == '\\') sl_buf_add(b, "\\\\", 2);
    else if (c == '\n') sl_buf_add(b, "\\n", 2);
    else if (c == '\t') sl_buf_add(b, "\\t", 2);
    else if (c == '\r') sl_buf_add(b, "\\r", 2);
    else if (c < 0x20) sl_buf_printf(b, "\\u%04x", c);
    else {
      int k = utf8_len(p, (size_t)(end - p));
      if (k > 0) { sl_buf_add(b, (const char *)p, (size_t)k); p += k; continue; }
      sl_buf_add(b, "\\ufffd", 6);
    }
    p++;
  }
  sl_buf_add(b, "\"", 1);
}

static void j_cstr(sl_buf *b, const char *s) { j_str(b, s, strlen(s)); }

/* {"type":TYPE,"id":ID, -- the caller adds the rest and the closing } */
static void j_begin(sl_buf *b, const char *type, const char *id) {
  sl_buf_puts(b, "{\"type\":");
  j_cstr(b, type);
  sl_buf_puts(b, ",\"id\":");
  sl_buf_puts(b, id ? id : "null");
}

static int write_all(int fd, const char *s, size_t n) {
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

/* one message: b's text, a newline; b is freed */
static void send_locked(sl_buf *b) {
  sl_buf_add(b, "\n", 1);
  if (!peer_gone && write_all(proto_out, b->s, b->len) < 0) peer_gone = 1;
  sl_buf_free(b);
}

static void send_msg(sl_buf *b) {
  pthread_mutex_lock(&out_mu);
  send_locked(b);
  pthread_mutex_unlock(&out_mu);
}

/* ---- the pump: fds 1 and 2 to stream messages ----------------------- */

typedef struct stream {
  int fd;                  /* read end of the pipe */
  const char *name;        /* "stdout" or "stderr" */
  unsigned char tail[4];   /* an incomplete UTF-8 sequence kept for the next read */
  size_t ntail;
} stream;

static stream streams[2];
static int ctl_r = -1, ctl_w = -1;
static pthread_mutex_t drain_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t drain_cv = PTHREAD_COND_INITIALIZER;
static unsigned long drain_req, drain_done;   /* under drain_mu */
static int pump_stop;                          /* under drain_mu */
static pthread_t pump_thread;

static void send_stream(stream *s, const char *text, size_t n) {
  if (!n) return;
  sl_buf b = {0};
  pthread_mutex_lock(&out_mu);
  j_begin(&b, "stream", cur_id);
  sl_buf_puts(&b, ",\"name\":");
  j_cstr(&b, s->name);
  sl_buf_puts(&b, ",\"text\":");
  j_str(&b, text, n);
  sl_buf_add(&b, "}", 1);
  send_locked(&b);
  pthread_mutex_unlock(&out_mu);
}

/* Read what s's pipe holds (once, or until it is empty when all is set)
 * and send it; an incomplete UTF-8 sequence at the end waits for the next
 * read unless flush is set. 0 at end of file. */
static int pump_read(stream *s, int all, int flush) {
  char buf[65536];
  int open = 1;
  do {
    memcpy(buf, s->tail, s->ntail);
    ssize_t r = read(s->fd, buf + s->ntail, sizeof buf - s->ntail);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) { open = r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK); break; }
    size_t n = s->ntail + (size_t)r, keep = 0;
    /* an incomplete sequence at the end: at most 3 bytes from a lead byte */
    for (size_t k = 1; k <= 3 && k <= n; k++) {
      unsigned char c = (unsigned char)buf[n - k];
      if ((c & 0xc0) == 0x80) continue;
      if (c >= 0xc0 && utf8_len((unsigned char *)buf + n - k, k) < 0) keep = k;
      break;
    }
    send_stream(s, buf, n - keep);
    memcpy(s->tail, buf + n - keep, keep);
    s->ntail = keep;
  } while (all);
  if ((flush || !open) && s->ntail) {
    send_stream(s, (char *)s->tail, s->ntail);   /* shows as U+FFFD */
    s->ntail = 0;
  }
  return open;
}

static void *pump_main(void *arg) {
  (void)arg;
  int open[2] = {1, 1};
  for (;;) {
    struct pollfd p[3] = {
      {open[0] ? streams[0].fd : -1, POLLIN, 0},
      {open[1] ? streams[1].fd : -1, POLLIN, 0},
      {ctl_r, POLLIN, 0}};
    if (poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int k = 0; k < 2; k++)
      if (open[k] && (p[k].revents & (POLLIN | POLLHUP | POLLERR))) open[k] = pump_read(&streams[k], 0, 0);
    if (p[2].revents & (POLLIN | POLLHUP)) {
      char c[64];
      while (read(ctl_r, c, sizeof c) > 0) {}
      pthread_mutex_lock(&drain_mu);
      unsigned long want = drain_req;
      int stop = pump_stop;
      pthread_mutex_unlock(&drain_mu);
      /* everything written before the request is in the pipes now */
      for (int k = 0; k < 2; k++)
        if (open[k]) open[k] = pump_read(&streams[k], 1, 1);
      pthread_mutex_lock(&drain_mu);
      drain_done = want;
      pthread_cond_broadcast(&drain_cv);
      pthread_mutex_unlock(&drain_mu);
      if (stop) break;
    }
  }
  return NULL;
}

/* Everything this process printed so far is sent (stdio flushed, both
 * pipes drained); stop: the pump ends after that. */
static void drain(int stop) {
  fflush(stdout);
  fflush(stderr);
  pthread_mutex_lock(&drain_mu);
  unsigned long want = ++drain_req;
  if (stop) pump_stop = 1;
  pthread_mutex_unlock(&drain_mu);
  if (write_all(ctl_w, "d", 1) < 0) return;
  pthread_mutex_lock(&drain_mu);
  while (drain_done < want) pthread_cond_wait(&drain_cv, &drain_mu);
  pthread_mutex_unlock(&drain_mu);
}

/* the main context's `x;`: after what was printed before it */
static void display(sl_ctx *C, const char *text, size_t len) {
  (void)C;
  drain(0);
  sl_buf b = {0};
  pthread_mutex_lock(&out_mu);
  j_begin(&b, "display", cur_id);
  sl_buf_puts(&b, ",\"text\":");
  j_str(&b, text, len);
  sl_buf_add(&b, "}", 1);
  send_locked(&b);
  pthread_mutex_unlock(&out_mu);
}

/* Moves the protocol to private fds and fds 0-2 to /dev/null and the
 * pipes; starts the pump with SIGINT blocked (the main thread takes it). */
static int setup_fds(void) {
  int out[2], err[2], ctl[2];
  proto_in = fcntl(0, F_DUPFD_CLOEXEC, 3);
  proto_out = fcntl(1, F_DUPFD_CLOEXEC, 3);
  diag_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
  if (proto_in < 0 || proto_out < 0 || diag_fd < 0) return -1;
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || pipe2(ctl, O_CLOEXEC | O_NONBLOCK) < 0)
    return -1;
  int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (nul < 0 || dup2(nul, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) return -1;
  close(nul);
  close(out[1]);
  close(err[1]);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  streams[0] = (stream){.fd = out[0], .name = "stdout"};
  streams[1] = (stream){.fd = err[0], .name = "stderr"};
  ctl_r = ctl[0];
  ctl_w = ctl[1];
  /* a line at a time: a long cell's prints show while it runs */
  setvbuf(stdout, NULL, _IOLBF, 0);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int rc = pthread_create(&pump_thread, NULL, pump_main, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc ? -1 : 0;
}

/* ---- reading JSON --------------------------------------------------- */

typedef struct jp {
  const char *s, *p, *end;
  const char *err;         /* what is wrong, at p */
} jp;

static void ws(jp *J) {
  while (J->p < J->end && (*J->p == ' ' || *J->p == '\t' || *J->p == '\r' || *J->p == '\n')) J->p++;
}

static int fail(jp *J, const char *what) {
  if (!J->err) J->err = what;
  return -1;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int hex4(jp *J, unsigned *out) {
  if (J->end - J->p < 4) return fail(J, "bad \\u escape");
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval((unsigned char)J->p[i]);
    if (h < 0) return fail(J, "bad \\u escape");
    v = v << 4 | (unsigned)h;
  }
  J->p += 4;
  *out = v;
  return 0;
}

static void put_utf8(sl_buf *b, unsigned cp) {
  char t[4];
  size_t n;
  if (cp < 0x80) { t[0] = (char)cp; n = 1; }
  else if (cp < 0x800) { t[0] = (char)(0xc0 | cp >> 6); t[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
  else if (cp < 0x10000) {
    t[0] = (char)(0xe0 | cp >> 12); t[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    t[2] = (char)(0x80 | (cp & 0x3f)); n = 3;
  } else {
    t[0] = (char)(0xf0 | cp >> 18); t[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    t[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); t[3] = (char)(0x80 | (cp & 0x3f)); n = 4;
  }
  sl_buf_add(b, t, n);
}

/* a string at p (after ws); its value appended to out (NULL: skipped) */
static int j_string(jp *J, sl_buf *out) {
  if (J->p >= J->end || *J->p != '"') return fail(J, "expected a string");
  J->p++;
  for (;;) {
    if (J->p >= J->end) return fail(J, "unterminated string");
    unsigned char c = (unsigned char)*J->p;
    if (c == '"') { J->p++; return 0; }
    if (c < 0x20) return fail(J, "control character in a string");
    if (c != '\\') {
      int k = utf8_len((const unsigned char *)J->p, (size_t)(J->end - J->p));
      if (k <= 0) return fail(J, "invalid UTF-8");
      if (out) sl_buf_add(out, J->p, (size_t)k);
      J->p += k;
      continue;
    }
    J->p++;
    if (J->p >= J->end) return fail(J, "unterminated string");
    char e = *J->p++, r;
    unsigned cp;
    switch (e) {
    case '"': r = '"'; break;
    case '\\': r = '\\'; break;
    case '/': r = '/'; break;
    case 'b': r = '\b'; break;
    case 'f': r = '\f'; break;
    case 'n': r = '\n'; break;
    case 'r': r = '\r'; break;
    case 't': r = '\t'; break;
    case 'u':
      if (hex4(J, &cp) < 0) return -1;
      if (cp >= 0xd800 && cp < 0xdc00 && J->end - J->p >= 6 && J->p[0] == '\\' && J->p[1] == 'u') {
        const char *save = J->p;
        unsigned lo;
        J->p += 2;
        if (hex4(J, &lo) < 0) return -1;
        if (lo >= 0xdc00 && lo < 0xe000) cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        else J->p = save;
      }
      if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd;   /* a lone surrogate */
      if (out) put_utf8(out, cp);
      continue;
    default:
      J->p--;
      return fail(J, "bad escape in a string");
    }
    if (out) sl_buf_add(out, &r, 1);
  }
}

static int j_number(jp *J) {
  const char *p = J->p;
  if (p < J->end && *p == '-') p++;
  if (p >= J->end || *p < '0' || *p > '9') return fail(J, "bad number");
  if (*p == '0') p++;
  else while (p < J->end && *p >= '0' && *p <= '9') p++;
  if (p < J->end && *p == '.') {
    p++;
    if (p >= J->end || *p < '0' || *p > '9') return fail(J, "bad number");
    while (p < J->end && *p >= '0' && *p <= '9') p++;
  }
  if (p < J->end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < J->end && (*p == '+' || *p == '-')) p++;
    if (p >= J->end || *p < '0' || *p > '9') return fail(J, "bad number");
    while (p < J->end && *p >= '0' && *p <= '9') p++;
  }
  J->p = p;
  return 0;
}

/* any value, checked and skipped */
static int j_skip(jp *J, int depth) {
  if (depth > 64) return fail(J, "nested too deeply");
  ws(J);
  if (J->p >= J->end) return fail(J, "expected a value");
  char c = *J->p;
  if (c == '"') return j_string(J, NULL);
  if (c == '-' || (c >= '0' && c <= '9')) return j_number(J);
  static const char *const words[] = {"true", "false", "null"};
  for (int i = 0; i < 3; i++) {
    size_t n = strlen(words[i]);
    if ((size_t)(J->end - J->p) >= n && !memcmp(J->p, words[i], n)) { J->p += n; return 0; }
  }
  if (c != '[' && c != '{') return fail(J, "expected a value");
  char close = c == '[' ? ']' : '}';
  J->p++;
  ws(J);
  if (J->p < J->end && *J->p == close) { J->p++; return 0; }
  for (;;) {
    if (close == '}') {
      ws(J);
      if (j_string(J, NULL) < 0) return -1;
      ws(J);
      if (J->p >= J->end || *J->p != ':') return fail(J, "expected `:`");
      J->p++;
    }
    if (j_skip(J, depth + 1) < 0) return -1;
    ws(J);
    if (J->p < J->end && *J->p == ',') { J->p++; continue; }
    if (J->p < J->end && *J->p == close) { J->p++; return 0; }
    return fail(J, close == ']' ? "expected `,` or `]`" : "expected `,` or `}`");
  }
}

/* a request: the fields the kernel knows, the others checked and ignored */
typedef struct request {
  sl_buf type, code, file;
  char *id;                /* raw JSON of "id", or NULL */
  long long cursor;        /* "cursor_pos", -1 if absent */
  int has_type, has_code, has_file;
  const char *bad;         /* a field of the wrong type */
} request;

static void request_free(request *r) {
  sl_buf_free(&r->type);
  sl_buf_free(&r->code);
  sl_buf_free(&r->file);
  free(r->id);
}

static int j_request(jp *J, request *r) {
  ws(J);
  if (J->p >= J->end || *J->p != '{') return fail(J, "a request is a JSON object");
  J->p++;
  ws(J);
  if (J->p < J->end && *J->p == '}') { J->p++; goto end; }
  for (;;) {
    sl_buf key = {0};
    ws(J);
    if (j_string(J, &key) < 0) { sl_buf_free(&key); return -1; }
    ws(J);
    if (J->p >= J->end || *J->p != ':') { sl_buf_free(&key); return fail(J, "expected `:`"); }
    J->p++;
    ws(J);
    const char *k = key.s ? key.s : "", *v = J->p;
    int is_str = v < J->end && *v == '"';
    sl_buf *dst = NULL;
    int *has = NULL;
    if (!strcmp(k, "type")) { dst = &r->type; has = &r->has_type; }
    else if (!strcmp(k, "code")) { dst = &r->code; has = &r->has_code; }
    else if (!strcmp(k, "file")) { dst = &r->file; has = &r->has_file; }
    int rc;
    if (dst && is_str) {
      dst->len = 0;
      rc = j_string(J, dst);
      *has = 1;
      if (!dst->s) sl_buf_add(dst, "", 0);
    } else {
      rc = j_skip(J, 0);
      if (rc == 0 && dst && !r->bad) r->bad = !strcmp(k, "type") ? "type" : !strcmp(k, "code") ? "code" : "file";
      if (rc == 0 && !strcmp(k, "id")) {
        free(r->id);
        r->id = sl_xstrndup(v, (size_t)(J->p - v));
      }
      if (rc == 0 && !strcmp(k, "cursor_pos")) {
        char *e;
        long long c = strtoll(v, &e, 10);
        if (e == J->p && c >= 0) r->cursor = c;
        else if (!r->bad) r->bad = "cursor_pos";
      }
    }
    sl_buf_free(&key);
    if (rc < 0) return -1;
    ws(J);
    if (J->p < J->end && *J->p == ',') { J->p++; continue; }
    if (J->p < J->end && *J->p == '}') { J->p++; break; }
    return fail(J, "expected `,` or `}`");
  }
end:
  ws(J);
  if (J->p != J->end) return fail(J, "text after the object");
  return 0;
}

/* ---- requests ------------------------------------------------------- */

static void protocol_error(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void protocol_error(const char *id, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sl_buf b = {0};
  j_begin(&b, "protocol_error", id);
  sl_buf_puts(&b, ",\"message\":");
  j_cstr(&b, msg);
  sl_buf_add(&b, "}", 1);
  send_msg(&b);
}

static void info_fields(sl_buf *b) {
  sl_buf_printf(b, ",\"protocol\":%d,\"implementation\":\"spindle\",\"version\":", KERNEL_PROTOCOL);
  j_cstr(b, PACKAGE_VERSION);
  sl_buf_puts(b, ",\"language\":\"spindle\",\"file_extension\":\".sing\","
                 "\"banner\":");
  char banner[128];
  snprintf(banner, sizeof banner, "spindle %s: a Singular-style language with threads", PACKAGE_VERSION);
  j_cstr(b, banner);
}

/* poll function of the main context: an interrupt cancels the cell */
static volatile int interrupted_cell;   /* the cell saw an interrupt */
static int kernel_poll(void *ud) {
  (void)ud;
  if (!__atomic_load_n(&sl_interrupted, __ATOMIC_RELAXED)) return 0;
  __atomic_store_n(&sl_interrupted, 0, __ATOMIC_RELAXED);
  interrupted_cell = 1;
  return 1;
}

static void on_sigint(int sig) { (void)sig; __atomic_store_n(&sl_interrupted, 1, __ATOMIC_RELAXED); }

/* the line N of "FILE:N: ..." when FILE is the cell's name, else 0 */
static long err_line(const char *err, const char *file) {
  size_t n = strlen(file);
  if (!err || strncmp(err, file, n) || err[n] != ':') return 0;
  char *e;
  long line = strtol(err + n + 1, &e, 10);
  return *e == ':' && line > 0 ? line : 0;
}

/* returns 1 after `quit;` (the session ends), else 0 */
static int execute(sl_ctx *C, request *r, int *quit_code) {
  const char *file = r->has_file && r->file.len ? r->file.s : "(cell)";
  pthread_mutex_lock(&out_mu);
  free(cur_id);
  cur_id = r->id ? strdup(r->id) : NULL;
  pthread_mutex_unlock(&out_mu);
  sl_clear_error(C);
  __atomic_store_n(&sl_interrupted, 0, __ATOMIC_RELAXED);
  interrupted_cell = 0;
  int rc;
  sl_code *code = sl_compile(C, r->code.s, r->code.len, file, 1);
  if (!code) rc = SL_ERR;
  else {
    sl_value v;
    rc = sl_run(C, code, &v);
    sl_release(v);
    sl_code_release(code);
  }
  /* an interrupt that ended a wait (never polled) is seen here */
  int intr = interrupted_cell || __atomic_load_n(&sl_interrupted, __ATOMIC_RELAXED);
  __atomic_store_n(&sl_interrupted, 0, __ATOMIC_RELAXED);
  drain(0);
  sl_buf b = {0};
  pthread_mutex_lock(&out_mu);
  j_begin(&b, "execute_reply", cur_id);
  if (rc == SL_ERR) {
    const char *e = C->err ? C->err : "error";
    sl_buf_puts(&b, ",\"status\":\"error\",\"message\":");
    j_cstr(&b, e);
    long line = err_line(e, file);
    if (line) sl_buf_printf(&b, ",\"line\":%ld", line);
    else sl_buf_puts(&b, ",\"line\":null");
  } else {
    sl_buf_puts(&b, ",\"status\":\"ok\"");
    if (rc == SL_QUIT) sl_buf_printf(&b, ",\"quit\":%d", C->quit_code);
  }
  sl_buf_printf(&b, ",\"interrupted\":%s}", intr ? "true" : "false");
  send_locked(&b);
  free(cur_id);
  cur_id = NULL;
  pthread_mutex_unlock(&out_mu);
  sl_clear_error(C);
  if (rc != SL_QUIT) return 0;
  *quit_code = C->quit_code;
  return 1;
}

static int is_name_char(unsigned char c) {
  return c == '_' || c == '@' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void complete(sl_ctx *C, request *r) {
  size_t end = r->cursor < 0 || (size_t)r->cursor > r->code.len ? r->code.len : (size_t)r->cursor;
  size_t start = end;
  while (start > 0 && is_name_char((unsigned char)r->code.s[start - 1])) start--;
  char *prefix = sl_xstrndup(r->code.s + start, end - start);
  size_t n = 0;
  char **m = sl_complete_names(C->W, prefix, &n);
  free(prefix);
  sl_buf b = {0};
  j_begin(&b, "complete_reply", r->id);
  sl_buf_puts(&b, ",\"matches\":[");
  for (size_t i = 0; i < n; i++) {
    if (i) sl_buf_add(&b, ",", 1);
    j_cstr(&b, m[i]);
    free(m[i]);
  }
  free(m);
  sl_buf_printf(&b, "],\"cursor_start\":%zu,\"cursor_end\":%zu}", start, end);
  send_msg(&b);
}

/* one request line; 1 when the session ends */
static int handle(sl_ctx *C, const char *line, size_t len, int *quit_code) {
  request r = {.cursor = -1};
  jp J = {line, line, line + len, NULL};
  if (j_request(&J, &r) < 0) {
    protocol_error(r.id, "bad request: %s at byte %zu", J.err, (size_t)(J.p - line));
    request_free(&r);
    return 0;
  }
  int end = 0;
  const char *t = r.type.s;
  if (r.bad) protocol_error(r.id, "bad request: \"%s\" has the wrong type", r.bad);
  else if (!r.has_type) protocol_error(r.id, "bad request: no \"type\"");
  else if (!strcmp(t, "execute") || !strcmp(t, "complete") || !strcmp(t, "is_complete")) {
    if (!r.has_code) protocol_error(r.id, "bad request: %s needs \"code\" (a string)", t);
    else if (memchr(r.code.s, 0, r.code.len)) protocol_error(r.id, "bad request: \"code\" holds a NUL character");
    else if (!strcmp(t, "execute")) end = execute(C, &r, quit_code);
    else if (!strcmp(t, "complete")) complete(C, &r);
    else {
      sl_buf b = {0};
      j_begin(&b, "is_complete_reply", r.id);
      sl_buf_printf(&b, ",\"status\":\"%s\"}", sl_source_complete(r.code.s) ? "complete" : "incomplete");
      send_msg(&b);
    }
  } else if (!strcmp(t, "info")) {
    sl_buf b = {0};
    j_begin(&b, "info_reply", r.id);
    info_fields(&b);
    sl_buf_add(&b, "}", 1);
    send_msg(&b);
  } else if (!strcmp(t, "shutdown")) {
    sl_buf b = {0};
    j_begin(&b, "shutdown_reply", r.id);
    sl_buf_add(&b, "}", 1);
    send_msg(&b);
    end = 1;
  } else {
    protocol_error(r.id, "unknown request type \"%s\"", t);
  }
  request_free(&r);
  return end;
}

int sl_kernel(sl_ctx *C) {
  if (setup_fds() < 0) {
    fprintf(stderr, "spindle: --kernel: cannot set up its file descriptors: %s\n", strerror(errno));
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);   /* a client gone: write fails, the session ends */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;  /* no SA_RESTART: a read between cells returns */
  sigaction(SIGINT, &sa, NULL);
  sl_session_interrupt = &sl_interrupted;
  C->poll_flag = &sl_interrupted;
  C->poll_fn = kernel_poll;
  C->display = display;
  sl_buf b = {0};
  j_begin(&b, "ready", NULL);
  info_fields(&b);
  sl_buf_add(&b, "}", 1);
  send_msg(&b);

  sl_buf in = {0};
  size_t scanned = 0;
  int quit_code = 0, done = 0, eof = 0, skipping = 0;
  while (!done) {
    char *nl = in.len > scanned ? memchr(in.s + scanned, '\n', in.len - scanned) : NULL;
    if (!nl) {
      if (eof) break;
      scanned = in.len;
      if (in.len > MAX_REQUEST) {   /* drop the line, answer once it ends */
        skipping = 1;
        in.len = scanned = 0;
      }
      char *dst = sl_buf_reserve(&in, 65536);
      ssize_t n = read(proto_in, dst, 65536);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {   /* the client closed its end: a last line without \n runs */
        eof = 1;
        if (in.len && !skipping) { sl_buf_add(&in, "\n", 1); }
        continue;
      }
      in.len += (size_t)n;
      continue;
    }
    size_t len = (size_t)(nl - in.s);
    if (skipping) protocol_error(NULL, "bad request: longer than %zu bytes", MAX_REQUEST);
    else if (len && !(len == 1 && in.s[0] == '\r')) done = handle(C, in.s, len, &quit_code);
    skipping = 0;
    pthread_mutex_lock(&out_mu);
    int gone = peer_gone;
    pthread_mutex_unlock(&out_mu);
    if (gone) break;
    memmove(in.s, nl + 1, in.len - len - 1);
    in.len -= len + 1;
    scanned = 0;
  }
  sl_buf_free(&in);
  /* what is printed from now on (pools closed at exit) goes to the
   * client's stderr, never into the protocol */
  drain(1);
  pthread_join(pump_thread, NULL);
  fflush(stdout);
  dup2(diag_fd, 1);
  dup2(diag_fd, 2);
  C->display = NULL;
  return quit_code;
}
