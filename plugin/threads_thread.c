/* threads_thread.c: Singular's threads -- createThread, threadEval and
 * threadResult, threadExec, threadExecString, threadExecFile,
 * threadLoadLib, joinThread -- and createThreadPoolSet
 * (getThreadPoolConcurrency and setThreadPoolConcurrency are threads.c's).
 *
 * A thread is a job that serves requests in order, on a pool of its own
 * with one worker (so it is an OS thread of its own, as in Singular, and
 * a thread that blocks in native code blocks no other). Requests travel
 * through a channel, results back through another: threadEval's results
 * come out of threadResult in the order they were asked for. The thread
 * runs in an interpreter context of its own, but unlike Singular's
 * threads (a fresh interpreter each) it shares the script's globals, as
 * every job does: what the script defined is there without threadExec,
 * and what the thread defines is seen by the script. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "threads.h"

int th_thread_t;

enum { RQ_EVAL, RQ_EXEC, RQ_STRING, RQ_FILE, RQ_LIB, RQ_QUIT };

typedef struct th_request {
  int kind;
  spindle_value v;        /* quote or value (EVAL, EXEC), string (others) */
} th_request;

typedef struct th_result {
  int ok;
  spindle_value v;        /* ok */
  char *err;              /* !ok */
} th_result;

typedef struct th_thread {
  _Atomic long rc;        /* the script's values (one user object) and the server */
  int id;                 /* threadID() inside it: 1, 2, ... */
  th_pool *pool;          /* one worker */
  sp_job *job;            /* the server */
  sp_chan *req, *res;     /* th_request *, th_result * */
  pthread_mutex_t mu;
  int pending;            /* threadEval results not yet taken */
  int joined;
  char *exec_err;         /* "threadExec... failed: ...": the first since the last report */
  spindle_ctx *ctx;       /* the server's context while it runs */
} th_thread;

/* every thread not yet freed: a thread never joined lives as long as the
 * process, and when the process ends its server may be left suspended
 * (its pool closes): it and its context stay reachable from here */
static pthread_mutex_t all_mu = PTHREAD_MUTEX_INITIALIZER;
static th_thread **all;
static size_t nall, capall;

static void all_add(th_thread *t) {
  pthread_mutex_lock(&all_mu);
  if (nall == capall) {
    size_t cap = capall ? 2 * capall : 16;
    th_thread **v = realloc(all, cap * sizeof *v);
    if (v) { all = v; capall = cap; }
  }
  if (nall < capall) all[nall++] = t;
  pthread_mutex_unlock(&all_mu);
}

static void all_remove(const th_thread *t) {
  pthread_mutex_lock(&all_mu);
  for (size_t i = 0; i < nall; i++)
    if (all[i] == t) { all[i] = all[--nall]; break; }
  pthread_mutex_unlock(&all_mu);
}

static _Atomic int next_id = 1;

static void thread_unref(th_thread *t);

/* ---- the server -------------------------------------------------------------- */

static int thread_poll(void *ud) {
  (void)ud;
  return sp_checkpoint() == SP_ECANCELED;
}

static int serve_one(spindle_ctx *C, th_request *rq, spindle_value *r) {
  const char *s = api->string_ptr(rq->v, NULL);
  switch (rq->kind) {
  case RQ_EVAL: case RQ_EXEC:
    if (!api->is_quote_of(rq->v, NULL)) { *r = rq->v; api->retain(*r); return 0; }
    return api->eval(C, rq->v, r);
  case RQ_STRING: return api->execute(C, s);
  case RQ_FILE: return api->execute_file(C, s);
  default: {   /* RQ_LIB */
    size_t n = strlen(s) + 16;
    char *code = malloc(n);
    if (!code) return api->error(C, "out of memory");
    snprintf(code, n, "LIB \"%s\";", s);
    int rc = api->execute(C, code);
    free(code);
    return rc;
  }
  }
}

static void *thread_main(void *arg) {
  th_thread *t = arg;
  spindle_ctx *C = th_ctx_get();
  if (!C) { sp_job_fail("out of memory for an interpreter context"); return NULL; }
  t->ctx = C;
  *api->userdata(C, 2) = t;   /* threadID(), mainThread() */
  api->set_poll(C, sp_poll_flag(), thread_poll, NULL);
  for (;;) {
    void *item;
    if (sp_chan_recv(t->req, &item) < 0) break;   /* cancelled: the process ends */
    th_request *rq = item;
    if (rq->kind == RQ_QUIT) { free(rq); break; }
    spindle_value r = api->none();
    int rc = serve_one(C, rq, &r);
    if (rq->kind == RQ_EVAL) {
      th_result *res = calloc(1, sizeof *res);
      if (res) {
        res->ok = rc == 0;
        res->v = r;
        if (rc < 0) res->err = strdup(api->errmsg(C));
        sp_chan_send(t->res, res);
      } else {
        api->release(r);
      }
    } else {
      api->release(r);
      if (rc < 0) {
        static const char *const names[] = {"threadEval", "threadExec", "threadExecString", "threadExecFile",
                                             "threadLoadLib"};
        size_t n = strlen(api->errmsg(C)) + 32;
        char *e = malloc(n);
        if (e) snprintf(e, n, "%s failed: %s", names[rq->kind], api->errmsg(C));
        pthread_mutex_lock(&t->mu);
        if (!t->exec_err) t->exec_err = e;
        else free(e);
        pthread_mutex_unlock(&t->mu);
      }
    }
    api->clear_error(C);
    api->release(rq->v);
    free(rq);
  }
  *api->userdata(C, 2) = NULL;
  t->ctx = NULL;
  th_ctx_put(C);
  thread_unref(t);
  return NULL;
}

/* ---- the type ------------------------------------------------------------------- */

static void thread_print(void *p, char *buf, size_t size) {
  th_thread *t = p;
  snprintf(buf, size, "<thread #%d%s>", t->id, t->joined ? ", joined" : "");
}

static void free_results(sp_chan *c) {
  void *item;
  while (sp_chan_try_recv(c, &item) == 0) {
    th_result *r = item;
    api->release(r->v);
    free(r->err);
    free(r);
  }
}

/* one of the two references (the script's values, the server) goes */
static void thread_unref(th_thread *t) {
  if (atomic_fetch_sub(&t->rc, 1) != 1) return;
  all_remove(t);
  void *item;
  while (sp_chan_try_recv(t->req, &item) == 0) {
    th_request *rq = item;
    api->release(rq->v);
    free(rq);
  }
  free_results(t->res);
  sp_chan_release(t->req);
  sp_chan_release(t->res);
  sp_job_release(t->job);
  pthread_mutex_destroy(&t->mu);
  free(t->exec_err);
  free(t);
}

/* the script's last copy went: a thread never joined is told to quit
 * (it first serves what was asked of it; its pool closes at exit) */
static void thread_release(void *p) {
  th_thread *t = p;
  if (!t->joined) {
    th_request *rq = calloc(1, sizeof *rq);
    if (rq) { rq->kind = RQ_QUIT; rq->v = api->none(); sp_chan_send(t->req, rq); }
  }
  thread_unref(t);
}

static th_thread *thread_arg(spindle_ctx *C, const char *who, int argc, spindle_value *argv, int want,
                             const char *usage) {
  if (argc != want) { th_counterr(C, who, argc, usage); return NULL; }
  th_thread *t = api->user_ptr(argv[0], th_thread_t);
  if (!t) { th_argerr(C, who, 1, "thread", argv[0]); return NULL; }
  if (t->joined) { api->error(C, "%s: thread #%d was joined already", who, t->id); return NULL; }
  return t;
}

/* the first error of a threadExec* not yet reported, as this call's error */
static int exec_error(spindle_ctx *C, const char *who, th_thread *t) {
  pthread_mutex_lock(&t->mu);
  char *e = t->exec_err;
  t->exec_err = NULL;
  pthread_mutex_unlock(&t->mu);
  if (!e) return 0;
  api->error(C, "%s: thread #%d: an earlier %s", who, t->id, e);
  free(e);
  return -1;
}

/* ---- commands ------------------------------------------------------------------- */

static int f_createThread(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  (void)argv;
  if (argc != 0) return th_counterr(C, "createThread", argc, "no arguments");
  th_thread *t = calloc(1, sizeof *t);
  if (!t) return api->error(C, "createThread: out of memory");
  atomic_init(&t->rc, 2);   /* the script's values and the server */
  pthread_mutex_init(&t->mu, NULL);
  t->id = atomic_fetch_add(&next_id, 1);
  t->req = sp_chan_create(NULL);   /* no ops: the items are this file's structs */
  t->res = sp_chan_create(NULL);
  t->pool = th_pool_new(1, 1);
  t->job = sp_job_create(thread_main, t);
  if (t->job) {
    /* a cancel (the pool closing at exit) ends the server's wait with an
     * error, so that it unwinds and gives its context back */
    sp_job_set_flags(t->job, SP_JOB_DEFER_CANCEL | SP_JOB_CANCEL_ON_RETURN);
    char name[32];
    snprintf(name, sizeof name, "thread #%d", t->id);
    sp_job_set_name(t->job, name);
  }
  int rc = t->req && t->res && t->pool && t->job ? sp_job_start(th_pool_sp(t->pool), 0, t->job) : SP_ENOMEM;
  if (rc < 0) {
    if (t->job) sp_job_release(t->job);
    if (t->req) sp_chan_release(t->req);
    if (t->res) sp_chan_release(t->res);
    pthread_mutex_destroy(&t->mu);
    free(t);
    return rc == SP_ENOMEM ? api->error(C, "createThread: cannot start a thread") : th_rterr(C, "createThread", rc);
  }

  all_add(t);
  *ret = api->make_user(th_thread_t, t);
  return 0;
}

static int send_request(spindle_ctx *C, const char *who, th_thread *t, int kind, spindle_value v) {
  th_request *rq = calloc(1, sizeof *rq);
  if (!rq) return api->error(C, "%s: out of memory", who);
  rq->kind = kind;
  rq->v = v;
  api->retain(v);
  int rc = sp_chan_send(t->req, rq);
  if (rc < 0) { api->release(v); free(rq); return th_rterr(C, who, rc); }
  return 0;
}

static int f_threadEval(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_thread *t = thread_arg(C, "threadEval", argc, argv, 2, "2 arguments (thread, quote(expression))");
  if (!t || send_request(C, "threadEval", t, RQ_EVAL, argv[1]) < 0) return -1;
  pthread_mutex_lock(&t->mu);
  t->pending++;
  pthread_mutex_unlock(&t->mu);
  *ret = api->none();
  return 0;
}

static int f_threadExec(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_thread *t = thread_arg(C, "threadExec", argc, argv, 2, "2 arguments (thread, quote(expression))");
  if (!t || send_request(C, "threadExec", t, RQ_EXEC, argv[1]) < 0) return -1;
  *ret = api->none();
  return 0;
}

static int exec_text(spindle_ctx *C, const char *who, int kind, int argc, spindle_value *argv, spindle_value *ret) {
  th_thread *t = thread_arg(C, who, argc, argv, 2, "2 arguments (thread, string)");
  if (!t) return -1;
  if (argv[1].type != SPINDLE_T_STRING) return th_argerr(C, who, 2, "string", argv[1]);
  if (send_request(C, who, t, kind, argv[1]) < 0) return -1;
  *ret = api->none();
  return 0;
}

static int f_threadExecString(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return exec_text(C, "threadExecString", RQ_STRING, argc, argv, ret);
}
static int f_threadExecFile(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return exec_text(C, "threadExecFile", RQ_FILE, argc, argv, ret);
}
static int f_threadLoadLib(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return exec_text(C, "threadLoadLib", RQ_LIB, argc, argv, ret);
}

static int f_threadResult(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_thread *t = thread_arg(C, "threadResult", argc, argv, 1, "1 argument (thread)");
  if (!t) return -1;
  pthread_mutex_lock(&t->mu);
  int pending = t->pending;
  if (pending) t->pending--;
  pthread_mutex_unlock(&t->mu);
  if (!pending) {
    if (exec_error(C, "threadResult", t) < 0) return -1;
    return api->error(C, "threadResult: thread #%d has no result pending (threadEval asks for one)", t->id);
  }
  void *item;
  int rc = sp_chan_recv(t->res, &item);
  if (rc < 0) {
    pthread_mutex_lock(&t->mu);
    t->pending++;   /* not taken */
    pthread_mutex_unlock(&t->mu);
    return rc == SP_ECANCELED ? api->error(C, "cancelled") : th_rterr(C, "threadResult", rc);
  }
  th_result *r = item;
  rc = r->ok ? 0 : api->error(C, "threadResult: thread #%d: %s", t->id, r->err);
  *ret = r->ok ? r->v : api->none();
  free(r->err);
  free(r);
  return rc;
}

static int f_joinThread(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_thread *t = thread_arg(C, "joinThread", argc, argv, 1, "1 argument (thread)");
  if (!t) return -1;
  if (t->job == sp_job_current()) return api->error(C, "joinThread: thread #%d cannot join itself", t->id);
  if (send_request(C, "joinThread", t, RQ_QUIT, api->none()) < 0) return -1;
  int rc = sp_job_join(t->job, NULL);
  if (rc == SP_ECANCELED && !sp_job_finished(t->job)) return api->error(C, "cancelled");
  if (rc == SP_EDEADLK) return th_rterr(C, "joinThread", rc);
  t->joined = 1;
  th_pool_close(t->pool);
  free_results(t->res);   /* results never taken are dropped, as in Singular */
  rc = exec_error(C, "joinThread", t);
  if (rc == 0) *ret = api->none();
  return rc;
}

/* threadID(): 0 at top level, a thread's number inside it, 1 in other jobs */
int th_thread_id(spindle_ctx *C) {
  th_thread *t = *api->userdata(C, 2);
  return t ? t->id : *api->userdata(C, 0) ? 1 : 0;
}

/* ---- Singular's other pool commands -------------------------------------------- */

/* createThreadPoolSet(c, list(m1, m2, ...)): one pool of mi workers for
 * each entry (Singular runs them on one shared scheduler of sum(mi)
 * threads; here each pool has its own workers, and c is not used) */
static int f_createThreadPoolSet(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  const char *who = "createThreadPoolSet";
  if (argc != 2) return th_counterr(C, who, argc, "2 arguments (int concurrency, list of ints)");
  if (argv[0].type != SPINDLE_T_INT) return th_argerr(C, who, 1, "int", argv[0]);
  if (argv[1].type != SPINDLE_T_LIST) return th_argerr(C, who, 2, "list (of ints)", argv[1]);
  size_t n = api->length(argv[1]);
  if (n == 0) return api->error(C, "%s: the list of worker counts is empty", who);
  for (size_t i = 0; i < n; i++) {
    spindle_value m = api->list_get(argv[1], i);
    if (m.type != SPINDLE_T_INT) return api->error(C, "%s: entry %zu of the list must be an int, not %s", who, i + 1, api->type_name(m));
  }
  spindle_value l = api->make_list(n);
  for (size_t i = 0; i < n; i++) {
    spindle_value m = api->list_get(argv[1], i), p;
    if (api->call_name(C, "createThreadPool", 1, &m, &p) < 0) { api->release(l); return -1; }
    api->list_set(l, i, p);
  }
  *ret = l;
  return 0;
}

void th_thread_register(spindle_reg *reg) {
  static const spindle_type_desc thread_d = {"thread", thread_print, NULL, thread_release, NULL};
  th_thread_t = api->def_type(reg, &thread_d);
  static const struct { const char *name; spindle_rawfn fn; } fns[] = {
    {"createThread", f_createThread}, {"threadEval", f_threadEval}, {"threadResult", f_threadResult},
    {"threadExec", f_threadExec}, {"threadExecString", f_threadExecString},
    {"threadExecFile", f_threadExecFile}, {"threadLoadLib", f_threadLoadLib},
    {"joinThread", f_joinThread},
    {"createThreadPoolSet", f_createThreadPoolSet},
  };
  for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) api->def_raw(reg, fns[i].name, fns[i].fn);
}
