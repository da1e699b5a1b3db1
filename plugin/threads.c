/* threads.c: the threads plugin (threads.so; "systhreads.so" is an alias).
 * Script functions for threadpools and jobs, each a thin layer over
 * libspindle (src/spindle.h): check and convert the arguments, call the
 * runtime, turn its error codes into messages. No scheduling here.
 *
 * A script job is a runtime job with an argument list (sp_job_createv)
 * whose arguments and result are boxed script values (th_box, counted
 * through th_vops). When it runs, it borrows an interpreter context from
 * a cache, wires the context's poll hook to the job's safe point
 * (sp_poll_flag + sp_checkpoint) and calls the proc. Jobs are created
 * with SP_JOB_DEFER_CANCEL: a cancel makes the poll hook return non-zero,
 * the interpreter unwinds with "cancelled", and the job then ends
 * CANCELLED. Triggers, channels and syncvars: threads_coord.c. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "threads.h"
#include "xalloc.h"
#include "cluster.h"

const struct spindle_api *th_api;
int th_pool_t, th_job_t, th_trig_t, th_chan_t, th_svar_t, th_table_t, th_alist_t;
static spindle_ctx *main_ctx;

/* ---- errors ------------------------------------------------------------ */

int th_argerr(spindle_ctx *C, const char *fn, int i, const char *want, spindle_value got) {
  return api->error(C, "%s: argument %d must be %s, not %s", fn, i, want, api->type_name(got));
}

int th_counterr(spindle_ctx *C, const char *fn, int argc, const char *want) {
  return api->error(C, "%s: expected %s, got %d argument%s", fn, want, argc, argc == 1 ? "" : "s");
}

static int th_deadlock(spindle_ctx *C, const char *fn);

int th_rterr(spindle_ctx *C, const char *fn, int rc) {
  /* a wait of the session's main flow ended by its Ctrl-C (the REPL, the
   * kernel): sp_wait_interruptible in spindle_plugin_init */
  if (rc == SP_EINTR) return api->error(C, "interrupted");
  if (rc == SP_EDEADLK) return th_deadlock(C, fn);
  return api->error(C, "%s: %s", fn, sp_strerror(rc));
}

/* ---- boxed values -------------------------------------------------------- */

void *th_box_new(spindle_value v) {
  th_box *b = malloc(sizeof *b);
  if (!b) { api->release(v); return NULL; }
  atomic_init(&b->rc, 1);
  b->v = v;
  return b;
}

static void box_retain(void *p) {
  if (p) atomic_fetch_add_explicit(&((th_box *)p)->rc, 1, memory_order_relaxed);
}

void th_box_release(void *p) {
  th_box *b = p;
  if (b && atomic_fetch_sub_explicit(&b->rc, 1, memory_order_acq_rel) == 1) {
    api->release(b->v);
    free(b);
  }
}

spindle_value th_unbox(void *p) {
  if (!p) return api->none();
  spindle_value v = ((th_box *)p)->v;
  api->retain(v);
  return v;
}

static void *box_pack(size_t n, void *const *v) {
  spindle_value l = api->make_list(n);
  for (size_t i = 0; i < n; i++) api->list_set(l, i, th_unbox(v[i]));
  return th_box_new(l);
}

static int box_to_long(void *p, long *out) {
  if (!p || ((th_box *)p)->v.type != SPINDLE_T_INT) return SP_EINVAL;
  *out = (long)((th_box *)p)->v.u.i;
  return 0;
}

const sp_value_ops th_vops = {box_retain, th_box_release, box_pack, box_to_long};

/* ---- interpreter contexts for jobs --------------------------------------- */

/* Contexts are never freed, only cached: a context is two large
 * mappings (lang/vm.c) whose pages are committed where used, and
 * unmapping them costs TLB shootdowns on every core. So the cache holds
 * as many contexts as jobs were ever running or suspended at once. */
static pthread_mutex_t ctx_mu = PTHREAD_MUTEX_INITIALIZER;
static spindle_ctx **ctx_free;
static size_t nctx_free, cap_ctx_free;

spindle_ctx *th_ctx_get(void) {
  spindle_ctx *C = NULL;
  pthread_mutex_lock(&ctx_mu);
  if (nctx_free > 0) C = ctx_free[--nctx_free];
  pthread_mutex_unlock(&ctx_mu);
  return C ? C : api->new_context(main_ctx);
}

void th_ctx_put(spindle_ctx *C) {
  api->set_poll(C, NULL, NULL, NULL);
  *api->userdata(C, 0) = NULL;
  *api->userdata(C, 1) = NULL;
  *api->userdata(C, 2) = NULL;
  pthread_mutex_lock(&ctx_mu);
  if (nctx_free == cap_ctx_free) {
    size_t cap = cap_ctx_free ? 2 * cap_ctx_free : 64;
    spindle_ctx **v = realloc(ctx_free, cap * sizeof *v);
    if (v) { ctx_free = v; cap_ctx_free = cap; }
  }
  int keep = nctx_free < cap_ctx_free;
  if (keep) ctx_free[nctx_free++] = C;
  pthread_mutex_unlock(&ctx_mu);
  if (!keep) api->free_context(C);
}

/* the poll hook of a job's context: the job's safe point */
static int job_poll(void *ud) {
  return sp_checkpoint() == SP_ECANCELED;
}

/* ---- threadpools ----------------------------------------------------------- */

struct th_pool {
  sp_pool *p;
  int n;                /* workers (of every rank, for a cluster pool) */
  _Atomic int closed;
  int quiet;            /* closed at exit without a word (the tasks' pool) */
  cl_pool *cl;          /* a cluster pool's slots on every rank, else NULL */
  int exit_cancelled;   /* its suspended jobs cancelled at exit (wg_cancel_at_exit) */
};

/* the cluster plugin, when this process is rank 0 of several (cluster.h) */
static const spindle_cluster *cluster(void) {
  static const spindle_cluster *c;
  static _Atomic int looked;
  if (!atomic_load_explicit(&looked, memory_order_acquire)) {
    if (api->size >= offsetof(struct spindle_api, service) + sizeof api->service) c = api->service(CL_SERVICE);
    atomic_store_explicit(&looked, 1, memory_order_release);
  }
  return c;
}

/* every pool ever made, in order of creation (never freed: small, and a
 * job's context keeps a pointer to its pool) */
static pthread_mutex_t pools_mu = PTHREAD_MUTEX_INITIALIZER;
static th_pool **pools;
static int npools, cap_pools;
static th_pool *cur_pool;      /* setCurrentThreadPool, outside jobs */

static void pool_print(void *ptr, char *buf, size_t size) {
  th_pool *p = ptr;
  int n = __atomic_load_n(&p->n, __ATOMIC_RELAXED);
  if (p->cl)
    snprintf(buf, size, "<threadpool %d worker%s on %d ranks%s>", n, n == 1 ? "" : "s", cluster()->size,
             atomic_load(&p->closed) ? ", closed" : "");
  else
    snprintf(buf, size, "<threadpool %d worker%s%s>", n, n == 1 ? "" : "s", atomic_load(&p->closed) ? ", closed" : "");
}

static spindle_value pool_value(th_pool *p) { return api->make_user(th_pool_t, p); }

/* the pool a job of the calling context runs on, else the current one */
static th_pool *current_pool(spindle_ctx *C) {
  th_pool *p = *api->userdata(C, 1);
  return p ? p : cur_pool;
}

int th_pool_usable(spindle_ctx *C, const char *fn, th_pool *p) {
  if (!p) return api->error(C, "%s: no threadpool given and no current threadpool (see setCurrentThreadPool)", fn);
  if (atomic_load(&p->closed)) return api->error(C, "%s: the threadpool is closed", fn);
  return 0;
}

/* an optional leading threadpool argument at argv[*i] */
th_pool *th_arg_pool(spindle_ctx *C, const char *fn, int argc, spindle_value *argv, int *i) {
  if (*i < argc && (int)argv[*i].type == th_pool_t) return api->user_ptr(argv[(*i)++], th_pool_t);
  return current_pool(C);
}

static th_pool *pool_arg(spindle_ctx *C, const char *fn, int argc, spindle_value *argv, int need) {
  if (argc < 1 || (int)argv[0].type != th_pool_t) {
    if (argc < 1) th_counterr(C, fn, argc, need ? "a threadpool and more arguments" : "a threadpool");
    else th_argerr(C, fn, 1, "threadpool", argv[0]);
    return NULL;
  }
  return api->user_ptr(argv[0], th_pool_t);
}

static th_pool *pool_new_cl(const sp_pool_opts *o, int quiet, cl_pool *cl);

/* a new pool, listed for the close at exit; a quiet one (the tasks' pool)
 * never becomes the current pool and closes at exit without a word */
static th_pool *pool_new(const sp_pool_opts *o, int quiet) {
  return pool_new_cl(o, quiet, NULL);
}

static th_pool *pool_new_cl(const sp_pool_opts *o, int quiet, cl_pool *cl) {
  th_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->n = cl ? cluster()->workers(cl, -1) : o->nworkers;
  p->quiet = quiet;
  p->cl = cl;
  p->p = sp_pool_create_opts(o);
  if (!p->p) { free(p); return NULL; }
  pthread_mutex_lock(&pools_mu);
  if (npools == cap_pools) {
    cap_pools = cap_pools ? 2 * cap_pools : 16;
    pools = th_xrealloc(pools, (size_t)cap_pools * sizeof *pools);
  }
  pools[npools++] = p;
  if (!cur_pool && !quiet) cur_pool = p;
  pthread_mutex_unlock(&pools_mu);
  return p;
}

static int f_createThreadPool(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 1 && argc != 2)
    return th_counterr(C, "createThreadPool", argc, "1 or 2 arguments (int workers[, int slice_us])");
  if (argv[0].type != SPINDLE_T_INT) return th_argerr(C, "createThreadPool", 1, "int", argv[0]);
  if (argv[0].u.i < 0 || argv[0].u.i > SP_MAX_WORKERS)
    return api->error(C, "createThreadPool: %lld workers: expected 0..%d", (long long)argv[0].u.i, SP_MAX_WORKERS);
  if (argc == 2 && argv[1].type != SPINDLE_T_INT) return th_argerr(C, "createThreadPool", 2, "int", argv[1]);
  if (argc == 2 && (argv[1].u.i < 0 || argv[1].u.i > 100000000))
    return api->error(C, "createThreadPool: time slice %lld us: expected 0 (no slicing) .. 100000000", (long long)argv[1].u.i);
  sp_pool_opts o;
  sp_pool_opts_init(&o);
  o.nworkers = (int)argv[0].u.i;
  if (argc == 2 && argv[1].u.i == 0) o.flags |= SP_POOL_NOPREEMPT;   /* priority and cancel still preempt */
  else if (argc == 2) o.slice_us = (unsigned)argv[1].u.i;
  th_pool *p = pool_new(&o, 0);
  if (!p) return api->error(C, "createThreadPool: cannot create a pool of %d workers", (int)argv[0].u.i);
  *ret = pool_value(p);
  return 0;
}

th_pool *th_pool_new(int nworkers, int quiet) {
  sp_pool_opts o;
  sp_pool_opts_init(&o);
  o.nworkers = nworkers;
  return pool_new(&o, quiet);
}

/* a cluster pool of w[r] workers on rank r (nranks entries), or, on one
 * machine, a pool of w[0]; NULL with a message in err */
static th_pool *cluster_pool_new(const int *w, unsigned slice_us, int noslice, int quiet, char *err, size_t errlen) {
  sp_pool_opts o;
  sp_pool_opts_init(&o);
  if (noslice) o.flags |= SP_POOL_NOPREEMPT;
  else if (slice_us) o.slice_us = slice_us;
  const spindle_cluster *c = cluster();
  if (!c) {
    o.nworkers = w[0];
    th_pool *p = pool_new(&o, quiet);
    if (!p) snprintf(err, errlen, "cannot create a pool of %d workers", w[0]);
    return p;
  }
  cl_pool *cl = c->pool_new(w, noslice ? UINT32_MAX : slice_us, err, errlen);
  if (!cl) return NULL;
  o.nworkers = c->local_threads(cl);
  th_pool *p = pool_new_cl(&o, quiet, cl);
  if (!p) { c->pool_close(cl); snprintf(err, errlen, "cannot create rank 0's pool of %d workers", o.nworkers); }
  else c->attach(cl, p->p);
  return p;
}

th_pool *th_pool_new_all(int nworkers, int quiet) {
  const spindle_cluster *c = cluster();
  if (!c) return th_pool_new(nworkers, quiet);
  int *w = th_xmalloc((size_t)c->size * sizeof *w);
  th_spread(nworkers, w);
  char err[200];
  th_pool *p = cluster_pool_new(w, 0, 0, quiet, err, sizeof err);
  free(w);
  return p;
}

/* n workers over the ranks: n / size each, the first n % size ranks one
 * more (setcores(1) keeps the tasks on rank 0) */
void th_spread(int n, int *w) {
  const spindle_cluster *c = cluster();
  int size = c ? c->size : 1;
  for (int r = 0; r < size; r++) w[r] = n / size + (r < n % size);
}

/* spindle --cpus=N (Singular's option) sets SPINDLE_CPUS: the cores the
 * script is told it has (getcores(), the tasks' pool). Read once, at the
 * plugin's init (a script's system("setenv") may run in a job later) */
static long cpus_limit;

int th_cores(void) {
  const spindle_cluster *c = cluster();
  if (c) return c->cores(-1);
  long n = cpus_limit > 0 ? cpus_limit : sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 4096 ? 4096 : (int)n;
}

static int f_createClusterPool(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  const char *who = "createClusterPool";
  if (argc != 1 && argc != 2)
    return th_counterr(C, who, argc, "1 or 2 arguments (int workersPerRank or intvec workers[, int slice_us])");
  const spindle_cluster *c = cluster();
  int size = c ? c->size : 1;
  int *w = calloc((size_t)size, sizeof *w);
  if (!w) return api->error(C, "%s: out of memory", who);
  int rc = 0;
  if (argv[0].type == SPINDLE_T_INT) {
    if (argv[0].u.i < 1 || argv[0].u.i > SP_MAX_WORKERS)
      rc = api->error(C, "%s: %lld workers per rank: expected 1..%d", who, (long long)argv[0].u.i, SP_MAX_WORKERS);
    for (int r = 0; r < size; r++) w[r] = (int)argv[0].u.i;
  } else if (argv[0].type == SPINDLE_T_INTVEC) {
    size_t n = api->length(argv[0]);
    long long sum = 0;
    if (n != (size_t)size)
      rc = api->error(C, "%s: an intvec of %zu worker counts for %d rank%s: expected one per rank (rank 0 first)", who, n,
                      size, size == 1 ? "" : "s");
    for (size_t r = 0; r < n && rc == 0; r++) {
      int64_t k = api->intvec_get(argv[0], r);
      if (k < 0 || k > SP_MAX_WORKERS)
        rc = api->error(C, "%s: %lld workers on rank %zu: expected 0..%d", who, (long long)k, r, SP_MAX_WORKERS);
      else w[r] = (int)k, sum += k;
    }
    if (rc == 0 && sum == 0) rc = api->error(C, "%s: no workers on any rank", who);
    if (rc == 0 && size == 1 && w[0] == 0) rc = api->error(C, "%s: no workers", who);
  } else {
    rc = th_argerr(C, who, 1, "int or intvec", argv[0]);
  }
  if (rc == 0 && argc == 2 && argv[1].type != SPINDLE_T_INT) rc = th_argerr(C, who, 2, "int", argv[1]);
  if (rc == 0 && argc == 2 && (argv[1].u.i < 0 || argv[1].u.i > 100000000))
    rc = api->error(C, "%s: time slice %lld us: expected 0 (no slicing) .. 100000000", who, (long long)argv[1].u.i);
  if (rc < 0) { free(w); return -1; }
  char err[200] = "";
  th_pool *p = cluster_pool_new(w, argc == 2 ? (unsigned)argv[1].u.i : 0, argc == 2 && argv[1].u.i == 0, 0, err, sizeof err);
  free(w);
  if (!p) return api->error(C, "%s: %s", who, err);
  *ret = pool_value(p);
  return 0;
}

sp_pool *th_pool_sp(th_pool *p) { return p->p; }

/* close a pool the plugin made for itself (a thread's), without a word */
void th_pool_close(th_pool *p) {
  int was = 0;
  if (atomic_compare_exchange_strong(&p->closed, &was, 1)) {
    if (p->cl) cluster()->pool_close(p->cl);   /* first: its line starts no more jobs */
    sp_pool_close(p->p, 0);
  }
}

static int cluster_set_workers(th_pool *p, int n) {
  const spindle_cluster *c = cluster();
  int *w = malloc((size_t)c->size * sizeof *w);
  if (!w) return SP_ENOMEM;
  th_spread(n, w);
  int rc = c->set_workers(p->cl, w);
  free(w);
  if (rc == 0) rc = sp_pool_set_workers(p->p, c->local_threads(p->cl));
  __atomic_store_n(&p->n, c->workers(p->cl, -1), __ATOMIC_RELAXED);
  return rc;
}

/* On a job's fiber, before it takes an interpreter context: a slot of
 * cluster pool p (the rank to run on; -1: the job was cancelled while it
 * waited), or 0 for any other pool. */
int th_pool_slot(th_pool *p) {
  if (!p || !p->cl) return 0;
  return cluster()->acquire(p->cl, sp_job_priority(sp_job_current()));
}

/* fn(argv) as a job of p, on its fiber, in slot (th_pool_slot): on a
 * cluster pool, on that slot's rank */
int th_pool_call(th_pool *p, int slot, spindle_ctx *C, const char *name, spindle_value fn, int argc,
                 const spindle_value *argv, spindle_value *ret, int detach) {
  if (!p || !p->cl) return api->call(C, fn, argc, argv, ret);
  const spindle_cluster *c = cluster();
  if (slot > 0) {
    void *msg = c->prepare(p->cl, C, name, fn, argc, argv);
    if (!msg) { c->giveback(p->cl, slot); return -1; }
    if (detach) return c->run_detached(p->cl, slot, msg, C, th_box_new, th_box_release);
    return c->run(p->cl, slot, msg, C, ret);
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = api->call(C, fn, argc, argv, ret);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  c->done(p->cl, 0, (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
  if (rc == 0 && ret->type != SPINDLE_T_NONE) {   /* it must be able to cross, wherever it ran */
    char *b;
    size_t n;
    if (api->encode(C, *ret, &b, &n) < 0) {
      api->clear_error(C);
      rc = api->error(C, "the result is a %s, which cannot cross from another rank of a cluster pool "
                      "(only int, bigint, string, list, intvec, intmat, newstruct and none can)", api->type_name(*ret));
      api->release(*ret);
      *ret = api->none();
    } else {
      free(b);
    }
  }
  return rc;
}

static int check_arg(spindle_ctx *C, const char *who, const char *job, int i, spindle_value v) {
  char *b;
  size_t n;
  if (api->encode(C, v, &b, &n) == 0) { free(b); return 0; }
  char *why = th_xstrdup(api->errmsg(C));
  api->clear_error(C);
  int rc = api->error(C, "%s: job \"%s\": argument %d (%s) cannot cross to another rank of a cluster pool: %s", who, job,
                      i, api->type_name(v), why ? why : "?");
  free(why);
  return rc;
}

int th_pool_set_workers(th_pool *p, int n) {
  if (p->cl) return cluster_set_workers(p, n);
  int rc = sp_pool_set_workers(p->p, n);
  __atomic_store_n(&p->n, sp_pool_nworkers(p->p), __ATOMIC_RELAXED);
  return rc;
}

static int f_closeThreadPool(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc < 1 || argc > 2) return th_counterr(C, "closeThreadPool", argc, "1 or 2 arguments (threadpool[, int wait])");
  th_pool *p = pool_arg(C, "closeThreadPool", argc, argv, 0);
  if (!p) return -1;
  if (argc == 2 && argv[1].type != SPINDLE_T_INT) return th_argerr(C, "closeThreadPool", 2, "int", argv[1]);
  if (sp_pool_current() == p->p) return api->error(C, "closeThreadPool: a job cannot close its own threadpool");
  int was = 0;
  if (!atomic_compare_exchange_strong(&p->closed, &was, 1))
    return api->error(C, "closeThreadPool: the threadpool is already closed");
  if (cur_pool == p) cur_pool = NULL;
  int rc = sp_pool_close(p->p, argc == 2 && argv[1].u.i != 0);
  if (p->cl) cluster()->pool_close(p->cl);
  if (rc < 0) return th_rterr(C, "closeThreadPool", rc);
  *ret = api->none();
  return 0;
}

static int f_setCurrentThreadPool(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 1) return th_counterr(C, "setCurrentThreadPool", argc, "1 argument (threadpool)");
  th_pool *p = pool_arg(C, "setCurrentThreadPool", argc, argv, 0);
  if (!p || th_pool_usable(C, "setCurrentThreadPool", p) < 0) return -1;
  if (*api->userdata(C, 1)) *api->userdata(C, 1) = p;   /* inside a job: for this job */
  else cur_pool = p;
  *ret = api->none();
  return 0;
}

static int f_currentThreadPool(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 0) return th_counterr(C, "currentThreadPool", argc, "no arguments");
  th_pool *p = current_pool(C);
  if (!p) return api->error(C, "currentThreadPool: there is no current threadpool");
  *ret = pool_value(p);
  return 0;
}

static int get_workers(spindle_ctx *C, const char *who, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 1) return th_counterr(C, who, argc, "1 argument (threadpool)");
  th_pool *p = pool_arg(C, who, argc, argv, 0);
  if (!p) return -1;
  *ret = api->make_int(__atomic_load_n(&p->n, __ATOMIC_RELAXED));   /* p->p may be freed once closed */
  return 0;
}

static int set_workers(spindle_ctx *C, const char *who, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 2) return th_counterr(C, who, argc, "2 arguments (threadpool, int)");
  th_pool *p = pool_arg(C, who, argc, argv, 1);
  if (!p || th_pool_usable(C, who, p) < 0) return -1;
  if (argv[1].type != SPINDLE_T_INT) return th_argerr(C, who, 2, "int", argv[1]);
  long long n = argv[1].u.i;
  if (p->n == 0 && n != 0)
    return api->error(C, "%s: a threadpool of 0 workers (run by whoever waits on it) cannot get workers", who);
  if (p->n > 0 && (n < 1 || n > SP_MAX_WORKERS))
    return api->error(C, "%s: %lld workers: expected 1..%d", who, n, SP_MAX_WORKERS);
  int rc = th_pool_set_workers(p, (int)n);
  if (rc == SP_ECLOSED) return api->error(C, "%s: the threadpool is closed", who);
  if (rc == SP_ENOMEM) return api->error(C, "%s: cannot start %lld workers (the threadpool has %d)", who, n, p->n);
  if (rc < 0) return th_rterr(C, who, rc);
  *ret = api->none();
  return 0;
}

static int f_getThreadPoolWorkers(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return get_workers(C, "getThreadPoolWorkers", argc, argv, ret);
}
static int f_setThreadPoolWorkers(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return set_workers(C, "setThreadPoolWorkers", argc, argv, ret);
}
/* Singular's getThreadPoolConcurrency/setThreadPoolConcurrency store a
 * number its scheduler never reads; here a pool's concurrency is what
 * bounds how many of its jobs run at once: its workers */
static int f_getThreadPoolConcurrency(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return get_workers(C, "getThreadPoolConcurrency", argc, argv, ret);
}
static int f_setThreadPoolConcurrency(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return set_workers(C, "setThreadPoolConcurrency", argc, argv, ret);
}

/* workerID(): inside a job of a pool with workers, the number of the
 * worker that runs it (0..getThreadPoolWorkers-1); -1 elsewhere */
static int f_workerID(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  (void)argv;
  if (argc != 0) return th_counterr(C, "workerID", argc, "no arguments");
  *ret = api->make_int(sp_worker_index());
  return 0;
}

static const char *stat_names[] = {
  "jobs_started", "jobs_finished", "jobs_cancelled", "jobs_failed", "switches", "yields",
  "preempt_slice", "preempt_prio", "preempt_cancel", "preempt_async", "signals_sent",
  "steals", "parks", "wakes", "spares", "queue_highwater", "stacks_guarded", "stacks_slab",
  "inline_runs"};

static int f_threadPoolStats(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 1 && argc != 2) return th_counterr(C, "threadPoolStats", argc, "1 or 2 arguments (threadpool[, string counter])");
  if (argc == 2 && argv[1].type != SPINDLE_T_STRING) return th_argerr(C, "threadPoolStats", 2, "string", argv[1]);
  th_pool *p = pool_arg(C, "threadPoolStats", argc, argv, 0);
  if (!p) return -1;
  sp_stats st;
  int rc = sp_pool_stats(p->p, &st);
  if (rc < 0) return th_rterr(C, "threadPoolStats", rc);
  const uint64_t *v = (const uint64_t *)&st;
  size_t n = sizeof stat_names / sizeof *stat_names;
  if (argc == 2) {   /* one counter, as an int */
    const char *want = api->string_ptr(argv[1], NULL);
    for (size_t i = 0; i < n; i++)
      if (!strcmp(want, stat_names[i])) { *ret = api->make_int((int64_t)v[i]); return 0; }
    return api->error(C, "threadPoolStats: no counter named \"%s\"", want);
  }
  spindle_value ranks = p->cl ? cluster()->stats(p->cl) : api->none();
  size_t nr = api->length(ranks);
  spindle_value l = api->make_list(n + nr);
  for (size_t i = 0; i < n; i++) {
    char buf[96];
    int len = snprintf(buf, sizeof buf, "%s %llu", stat_names[i], (unsigned long long)v[i]);
    api->list_set(l, i, api->make_string(buf, (size_t)len));
  }
  for (size_t i = 0; i < nr; i++) {   /* a cluster pool: one line per rank */
    spindle_value x = api->list_get(ranks, i);
    api->retain(x);
    api->list_set(l, n + i, x);
  }
  api->release(ranks);
  *ret = l;
  return 0;
}

#pragma weak sp_pool_trace
static int f_threadPoolTrace(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 2) return th_counterr(C, "threadPoolTrace", argc, "2 arguments (threadpool, string file)");
  th_pool *p = pool_arg(C, "threadPoolTrace", argc, argv, 1);
  if (!p) return -1;
  if (argv[1].type != SPINDLE_T_STRING) return th_argerr(C, "threadPoolTrace", 2, "string", argv[1]);
  if (!sp_pool_trace) return api->error(C, "threadPoolTrace: this runtime has no tracing yet");
  const char *path = api->string_ptr(argv[1], NULL);
  int rc = sp_pool_trace(p->p, *path ? path : NULL);
  if (rc < 0) return th_rterr(C, "threadPoolTrace", rc);
  *ret = api->none();
  return 0;
}

/* at the end of the script: close the pools still open, newest first */
static void wg_cancel_at_exit(void);

static void close_all_pools(void) {
  wg_cancel_at_exit();
  pthread_mutex_lock(&pools_mu);
  int n = npools;
  pthread_mutex_unlock(&pools_mu);
  for (int i = n - 1; i >= 0; i--) {
    th_pool *p = pools[i];
    int was = 0;
    if (!atomic_compare_exchange_strong(&p->closed, &was, 1)) continue;
    int left = p->cl ? cluster()->pool_close(p->cl) : 0;   /* first: its line starts no more jobs */
    left += sp_pool_close(p->p, 0) + p->exit_cancelled;
    if (left > 0 && !p->quiet) {
      fflush(stdout);
      fprintf(stderr, "// ** threadpool %d (%d worker%s) closed at exit: %d job%s cancelled\n", i + 1, p->n,
              p->n == 1 ? "" : "s", left, left == 1 ? "" : "s");
    }
  }
}

/* ---- jobs ---------------------------------------------------------------- */

enum { K_CALL, K_QUOTE, K_EXEC, K_FILE };

/* the job's ud: what it runs. Lives exactly as long as the runtime job
 * (freed by its cleanup), so a job value can point to it. */
struct th_job {
  sp_job *sj;
  th_pool *pool;        /* set when started / scheduled */
  spindle_value fn;     /* proc or builtin (K_CALL), quote, or string */
  int kind;
  _Atomic int started;  /* started or scheduled */
  _Atomic int cancelled_by_script;
  /* the wait graph (wg_mu): the job this one's waitJob waits for, and
   * the jobs it was scheduled after (their runtime jobs retained) */
  th_job *waiting_on;
  th_job **deps;
  size_t ndeps;
  /* its wait in waitJob, or as a scheduled job not yet running, on the
   * list of waits (wg_waits, wg_mu) while wl.fn is set; its waits in other
   * calls use a node on the caller's stack (th_wait_begin) */
  th_wait wl;
};

/* Waits that close a cycle are errors at the waiting call. A job in
 * waitJob points at the job it waits for; a scheduled job points at its
 * dependencies until it starts. A wait from job `me` on `t` is refused
 * when following those edges from t leads back to me (each edge's target
 * is kept alive by its source, which holds a reference while it waits or
 * is scheduled, until it runs; wg_mu guards waiting_on, and a job's deps
 * once it can run: they are set before it is scheduled and dropped when
 * it starts). Only waits from inside a job pay for
 * it: a lock, and the chain. */
static pthread_mutex_t wg_mu = PTHREAD_MUTEX_INITIALIZER;
static th_wait *wg_waits;   /* jobs in a waiting call, for deadlock reports and the exit */

/* wg_mu held */
static void wg_link(th_wait *w, sp_job *sj, th_job *t, const char *fn, const th_obj *obj) {
  w->sj = sj;
  w->t = t;
  w->fn = fn;
  w->obj = obj;
  w->prev = NULL;
  w->next = wg_waits;
  if (wg_waits) wg_waits->prev = w;
  wg_waits = w;
}

static void wg_unlink(th_wait *w) {
  if (w->prev) w->prev->next = w->next;
  else wg_waits = w->next;
  if (w->next) w->next->prev = w->prev;
  w->fn = NULL;
}

#pragma weak sp_job_createv
#pragma weak sp_job_add_args
#pragma weak sp_job_argc
#pragma weak sp_job_argv
#pragma weak sp_job_schedule
#pragma weak sp_deadlock_check

static th_job *job_ptr(spindle_value v) { return api->user_ptr(v, th_job_t); }
sp_job *th_job_of(spindle_value v) {
  th_job *t = job_ptr(v);
  return t ? t->sj : NULL;
}

const char *th_job_name(sp_job *j) { return sp_job_name(j); }

static void job_print(void *ptr, char *buf, size_t size) {
  snprintf(buf, size, "<job \"%s\">", sp_job_name(((th_job *)ptr)->sj));
}
static void job_release(void *ptr) { sp_job_release(((th_job *)ptr)->sj); }

static spindle_value job_value(th_job *t) {
  sp_job_retain(t->sj);
  return api->make_user(th_job_t, t);
}

static void job_cleanup(void *arg, void *result, sp_state st, void *ud) {
  th_job *t = arg;
  api->release(t->fn);
  if (t->wl.fn) {   /* scheduled, and never ran */
    pthread_mutex_lock(&wg_mu);
    wg_unlink(&t->wl);
    pthread_mutex_unlock(&wg_mu);
  }
  /* no lock: nothing reaches t through the graph any more (a dependent
   * would hold t's job, a waiter t's value); deps are left only when it
   * never ran */
  for (size_t i = 0; i < t->ndeps; i++) sp_job_release(t->deps[i]->sj);
  free(t->deps);
  free(t);
}

/* the jobs t waits for now: the one its waitJob waits on, or, not yet
 * running, its unfinished dependencies (wg_mu held) */
static size_t wg_edges(th_job *t, th_job **out, size_t max) {
  size_t n = 0;
  if (t->waiting_on) {
    out[n++] = t->waiting_on;
    return n;
  }
  sp_state st = sp_job_state(t->sj);
  if (st != SP_JOB_CREATED && st != SP_JOB_QUEUED) return 0;
  for (size_t i = 0; i < t->ndeps && n < max; i++)
    if (!sp_job_finished(t->deps[i]->sj)) out[n++] = t->deps[i];
  return n;
}

/* a path from `from` to `to` along the wait graph: its jobs (from first)
 * in path, their count returned; 0 when there is none (wg_mu held) */
static size_t wg_path(th_job *from, th_job *to, th_job **path, size_t depth, size_t maxdepth, th_job **seen,
                      size_t *nseen) {
  if (from == to) { path[depth] = from; return depth + 1; }
  if (depth + 1 >= maxdepth) return 0;
  for (size_t i = 0; i < *nseen; i++) if (seen[i] == from) return 0;
  if (*nseen < 256) seen[(*nseen)++] = from;
  path[depth] = from;
  th_job *e[16];
  size_t ne = wg_edges(from, e, 16);
  for (size_t i = 0; i < ne; i++) {
    size_t n = wg_path(e[i], to, path, depth + 1, maxdepth, seen, nseen);
    if (n) return n;
  }
  return 0;
}

/* before job `me` waits for t: an error naming the cycle the wait would
 * close, else 0 with me->waiting_on set (wg_mu taken and released) */
static int wg_enter(spindle_ctx *C, th_job *me, th_job *t) {
  if (me == t) return api->error(C, "waitJob: job \"%s\" waits for itself: it would never end", sp_job_name(me->sj));
  th_job *path[64], *seen[256];
  size_t nseen = 0;
  pthread_mutex_lock(&wg_mu);
  size_t n = wg_path(t, me, path, 0, 64, seen, &nseen);
  if (!n) {
    me->waiting_on = t;
    wg_link(&me->wl, me->sj, me, "waitJob", NULL);
    pthread_mutex_unlock(&wg_mu);
    return 0;
  }
  char buf[1024];
  size_t len = (size_t)snprintf(buf, sizeof buf, "job \"%s\" would wait for \"%s\"", sp_job_name(me->sj),
                                sp_job_name(path[0]->sj));
  for (size_t i = 0; i + 1 < n && len < sizeof buf; i++) {
    th_job *a = path[i], *b = path[i + 1];
    len += (size_t)snprintf(buf + len, sizeof buf - len, ", which %s \"%s\"",
                            a->waiting_on == b ? "waits for" : "is scheduled after", sp_job_name(b->sj));
  }
  pthread_mutex_unlock(&wg_mu);
  return api->error(C, "waitJob: deadlock: %s", buf);
}

static void wg_leave(th_job *me) {
  pthread_mutex_lock(&wg_mu);
  me->waiting_on = NULL;
  wg_unlink(&me->wl);
  pthread_mutex_unlock(&wg_mu);
}

/* At exit, jobs still suspended in a script's wait (after a deadlock
 * report, or an error while jobs waited) are cancelled and waited for
 * before the pools close: a pool's close stops its workers, and a job
 * left suspended would keep its interpreter context and values for good.
 * Cancelled, each unwinds from its wait at once. */
static void wg_cancel_waiting(int wait);
static void wg_cancel_at_exit(void) { wg_cancel_waiting(1); }

/* cancel every job in a script's wait; with wait, wait for each to end
 * and count it in its pool's closing message. Every job found unended in
 * a wait counts, however it ends then: cancelling one job may end another's wait
 * before that one's own cancel lands (a job waiting for the first), and
 * it may then return or fail instead of ending CANCELLED, which made
 * the count depend on timing (stalled.sing: 1 job instead of 2). */
static void wg_cancel_waiting(int wait) {
  pthread_mutex_lock(&wg_mu);
  size_t n = 0;
  for (th_wait *w = wg_waits; w; w = w->next) n++;
  struct { sp_job *sj; th_pool *p; int live; } *all = n ? malloc(n * sizeof *all) : NULL;
  n = 0;
  for (th_wait *w = wg_waits; w && all; w = w->next) {
    sp_job_retain(w->sj);
    all[n].sj = w->sj;
    all[n].live = !sp_job_finished(w->sj);   /* before any cancel below */
    all[n++].p = w->t ? w->t->pool : NULL;   /* a task's: its pool closes without a word */
  }
  pthread_mutex_unlock(&wg_mu);
  for (size_t i = 0; i < n; i++) sp_job_cancel(all[i].sj);
  for (size_t i = 0; i < n; i++) {
    if (wait) {
      sp_job_join(all[i].sj, NULL);
      if (all[i].live && all[i].p) all[i].p->exit_cancelled++;
    }
    sp_job_release(all[i].sj);
  }
  free(all);
}

void th_wait_begin(spindle_ctx *C, th_wait *w, const char *fn, const th_obj *obj) {
  sp_job *sj = sp_job_current();
  w->fn = NULL;
  if (!sj) return;   /* the main flow: the runtime reports its deadlocks */
  pthread_mutex_lock(&wg_mu);
  wg_link(w, sj, *api->userdata(C, 0), fn, obj);   /* no th_job: a task's job */
  pthread_mutex_unlock(&wg_mu);
}

void th_wait_end(th_wait *w) {
  if (!w->fn) return;
  pthread_mutex_lock(&wg_mu);
  wg_unlink(w);
  pthread_mutex_unlock(&wg_mu);
}

/* The error for a wait of the script's main flow that the runtime found
 * could never end (SP_EDEADLK): every job suspended, none queued or
 * running. Names what each suspended job waits in, as far as the plugin
 * knows (waitJob, channels, syncvars, triggers, region locks), then how
 * many more jobs are not ended (waiting for dependencies, or in a wait
 * of their own). Nothing runs meanwhile, so the lists hold still. */
static int by_text(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int th_deadlock(spindle_ctx *C, const char *fn) {
  char buf[1200], e[320];
  size_t len = 0, named = 0, pending = 0;   /* pending: scheduled, not started */
  pthread_mutex_lock(&wg_mu);
  size_t n = 0;
  for (th_wait *w = wg_waits; w; w = w->next) n++;
  char **all = malloc((n ? n : 1) * sizeof *all);   /* sorted: the same report every time */
  n = 0;
  for (th_wait *w = wg_waits; w && all; w = w->next) {
    th_job *t = w->t;
    size_t k = (size_t)snprintf(e, sizeof e, "job \"%s\" ", sp_job_name(w->sj));
    if (t && t->waiting_on) {
      snprintf(e + k, sizeof e - k, "waits for job \"%s\"", sp_job_name(t->waiting_on->sj));
    } else if (t && t->ndeps) {
      const char *sep = "is scheduled after ";
      for (size_t d = 0; d < t->ndeps && k < sizeof e - 1; d++)
        if (!sp_job_finished(t->deps[d]->sj)) {
          k += (size_t)snprintf(e + k, sizeof e - k, "%sjob \"%s\"", sep, sp_job_name(t->deps[d]->sj));
          sep = " and ";
        }
      pending++;
    } else if (w->obj && w->obj->name) {
      snprintf(e + k, sizeof e - k, "waits in %s(\"%s\")", w->fn, w->obj->name);
    } else {
      snprintf(e + k, sizeof e - k, "waits in %s", w->fn);
    }
    all[n++] = strdup(e);
  }
  pthread_mutex_unlock(&wg_mu);
  if (all) qsort(all, n, sizeof *all, by_text);
  for (size_t i = 0; i < n; i++, named++) {
    if (all[i] && len < sizeof buf - 200)
      len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", named ? ", " : "", all[i]);
    free(all[i]);
  }
  free(all);
  long open = 0;
  pthread_mutex_lock(&pools_mu);
  for (int i = 0; i < npools; i++) {
    sp_stats st;
    if (sp_pool_stats(pools[i]->p, &st) == 0)
      open += (long)(st.jobs_started - st.jobs_finished - st.jobs_cancelled - st.jobs_failed);
  }
  pthread_mutex_unlock(&pools_mu);
  long more = open - (long)(named - pending);
  if (!named && more <= 0)
    return api->error(C, "%s: deadlock: this wait would never end: no job is left that could end it", fn);
  if (more > 0)
    snprintf(buf + len, sizeof buf - len, "%s%ld %sjob%s suspended in other calls", named ? "; " : "",
             more, named ? "more " : "", more == 1 ? "" : "s");
  return api->error(C, "%s: deadlock: this wait would never end: no job can run (%s)", fn, buf);
}

static void *job_run(void *ud, size_t argc, void *const *argv) {
  th_job *t = ud;
  if (t->ndeps) {   /* running now: its dependencies are no edges of the wait graph any more */
    pthread_mutex_lock(&wg_mu);
    th_job **d = t->deps;
    size_t n = t->ndeps;
    t->deps = NULL;
    t->ndeps = 0;
    if (t->wl.fn) wg_unlink(&t->wl);
    pthread_mutex_unlock(&wg_mu);
    for (size_t i = 0; i < n; i++) sp_job_release(d[i]->sj);
    free(d);
  }
  int slot = t->kind == K_CALL ? th_pool_slot(t->pool) : 0;
  if (slot < 0) return NULL;   /* cancelled while it waited for a worker of the cluster */
  spindle_ctx *C = th_ctx_get();
  if (!C) { sp_job_fail("out of memory for an interpreter context"); return NULL; }
  *api->userdata(C, 0) = t;
  *api->userdata(C, 1) = t->pool;
  api->set_poll(C, sp_poll_flag(), job_poll, NULL);
  spindle_value small[8], *a = argc <= 8 ? small : malloc(argc * sizeof *a);
  for (size_t i = 0; i < argc; i++) a[i] = argv[i] ? ((th_box *)argv[i])->v : api->none();
  spindle_value r = api->none();
  int rc;
  switch (t->kind) {
  case K_CALL: rc = th_pool_call(t->pool, slot, C, sp_job_name(t->sj), t->fn, (int)argc, a, &r, 1); break;
  case K_QUOTE: rc = api->eval(C, t->fn, &r); break;
  case K_EXEC: rc = api->execute(C, api->string_ptr(t->fn, NULL)); break;
  default: rc = api->execute_file(C, api->string_ptr(t->fn, NULL)); break;
  }
  if (a != small) free(a);
  void *res = NULL;
  if (rc == 1) {   /* sent to another rank, detached: the comm thread ends the job */
    th_ctx_put(C);
    return NULL;
  }
  if (rc < 0) {
    if (!sp_job_cancelled()) sp_job_fail("%s", api->errmsg(C));
  } else if (sp_job_cancelled()) {
    api->release(r);       /* ends CANCELLED: no result */
  } else if (r.type != SPINDLE_T_NONE) {
    res = th_box_new(r);
  }
  th_ctx_put(C);
  return res;
}

static const char *NO_ARGLISTS = "the runtime has no argument-list jobs yet";

/* a new job running fn (kind) with args; name copied */
static th_job *job_new(spindle_ctx *C, const char *who, spindle_value fn, int kind, const char *name,
                       int argc, const spindle_value *argv) {
  if (!sp_job_createv) { api->error(C, "%s: %s", who, NO_ARGLISTS); return NULL; }
  th_job *t = calloc(1, sizeof *t);
  if (!t) { api->error(C, "%s: out of memory", who); return NULL; }
  t->fn = fn;
  api->retain(fn);
  t->kind = kind;
  void *small[8], **b = argc <= 8 ? small : th_xmalloc((size_t)argc * sizeof *b);
  for (int i = 0; i < argc; i++) { api->retain(argv[i]); b[i] = th_box_new(argv[i]); }
  t->sj = sp_job_createv(job_run, t, &th_vops, (size_t)argc, b);
  for (int i = 0; i < argc; i++) th_box_release(b[i]);
  if (b != small) free(b);
  if (!t->sj) { api->release(fn); free(t); api->error(C, "%s: out of memory", who); return NULL; }
  sp_job_set_flags(t->sj, SP_JOB_DEFER_CANCEL | SP_JOB_CANCEL_ON_RETURN);
  sp_job_set_cleanup(t->sj, job_cleanup, NULL);
  sp_job_set_name(t->sj, name);
  return t;
}

static int add_args(spindle_ctx *C, const char *who, th_job *t, int argc, const spindle_value *argv) {
  if (argc == 0) return 0;
  void *small[8], **b = argc <= 8 ? small : th_xmalloc((size_t)argc * sizeof *b);
  for (int i = 0; i < argc; i++) { api->retain(argv[i]); b[i] = th_box_new(argv[i]); }
  int rc = sp_job_add_args(t->sj, (size_t)argc, b);
  for (int i = 0; i < argc; i++) th_box_release(b[i]);
  if (b != small) free(b);
  if (rc == SP_EBUSY) return api->error(C, "%s: job \"%s\" was already started", who, sp_job_name(t->sj));
  return rc < 0 ? th_rterr(C, who, rc) : 0;
}

/* a job from its description: string name, proc/builtin, quote, or job
 * (copied); then argv[0..argc) appended */
static th_job *job_from(spindle_ctx *C, const char *who, int pos, spindle_value what, int argc,
                        const spindle_value *argv) {
  th_job *src = job_ptr(what);
  if (src) {
    if (!sp_job_argc) { api->error(C, "%s: %s", who, NO_ARGLISTS); return NULL; }
    size_t n = sp_job_argc(src->sj);
    void *const *v = sp_job_argv(src->sj);
    spindle_value *all = th_xmalloc((n + (size_t)argc + 1) * sizeof *all);
    for (size_t i = 0; i < n; i++) all[i] = v[i] ? ((th_box *)v[i])->v : api->none();
    for (int i = 0; i < argc; i++) all[n + (size_t)i] = argv[i];
    th_job *t = job_new(C, who, src->fn, src->kind, sp_job_name(src->sj), (int)n + argc, all);
    free(all);
    return t;
  }
  if (what.type == SPINDLE_T_STRING) {
    const char *name = api->string_ptr(what, NULL);
    spindle_value fn;
    if (api->lookup(C, name, &fn) < 0) {
      api->clear_error(C);
      api->error(C, "%s: no proc named \"%s\"", who, name);
      return NULL;
    }
    if (fn.type != SPINDLE_T_PROC && fn.type != SPINDLE_T_BUILTIN) {
      api->error(C, "%s: \"%s\" is a %s, not a proc", who, name, api->type_name(fn));
      api->release(fn);
      return NULL;
    }
    th_job *t = job_new(C, who, fn, K_CALL, name, argc, argv);
    api->release(fn);
    return t;
  }
  if (what.type == SPINDLE_T_PROC || what.type == SPINDLE_T_BUILTIN) {
    const char *pn = api->proc_name(what);
    return job_new(C, who, what, K_CALL, pn && *pn ? pn : "proc", argc, argv);
  }
  if (what.type == SPINDLE_T_QUOTE) {
    if (argc > 0) { api->error(C, "%s: a quote(...) job takes no arguments", who); return NULL; }
    return job_new(C, who, what, K_QUOTE, "quote(...)", 0, NULL);
  }
  th_argerr(C, who, pos, "string (a proc name), job, proc or quote(...)", what);
  return NULL;
}

static int f_createJob(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc < 1) return th_counterr(C, "createJob", argc, "at least 1 argument (string|job|quote[, args...])");
  th_job *t = job_from(C, "createJob", 1, argv[0], argc - 1, argv + 1);
  if (!t) return -1;
  *ret = api->make_user(th_job_t, t);   /* takes the creation reference */
  return 0;
}

/* createNativeJob(string lib, string sym, string sig[, args...]) */
static int f_createNativeJob(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc < 3) return th_counterr(C, "createNativeJob", argc, "at least 3 arguments (string lib, string function, string signature[, args...])");
  for (int i = 0; i < 3; i++)
    if (argv[i].type != SPINDLE_T_STRING) return th_argerr(C, "createNativeJob", i + 1, "string", argv[i]);
  spindle_value fn;
  if (api->call_name(C, "native", 3, argv, &fn) < 0) {
    char *m = th_xstrdup(api->errmsg(C));
    api->clear_error(C);
    api->error(C, "createNativeJob: %s", m);
    free(m);
    return -1;
  }
  th_job *t = job_from(C, "createNativeJob", 1, fn, argc - 3, argv + 3);
  api->release(fn);
  if (!t) return -1;
  *ret = api->make_user(th_job_t, t);
  return 0;
}

/* [threadpool p, [int prio,]] ...: the pool and priority; *i moves on */
static int pool_prio(spindle_ctx *C, const char *who, int argc, spindle_value *argv, int *i, th_pool **p,
                     int *prio) {
  *p = th_arg_pool(C, who, argc, argv, i);
  *prio = 0;
  if (*i + 1 < argc && argv[*i].type == SPINDLE_T_INT) *prio = (int)argv[(*i)++].u.i;
  if (*i >= argc) return th_counterr(C, who, argc, "a job or proc name");
  return th_pool_usable(C, who, *p);
}

static int start_err(spindle_ctx *C, const char *who, th_job *t, int rc) {
  if (rc == SP_EBUSY) return api->error(C, "%s: job \"%s\" was already started", who, sp_job_name(t->sj));
  if (rc == SP_ECLOSED) return api->error(C, "%s: the threadpool is closed", who);
  return th_rterr(C, who, rc);
}

/* a job of a cluster pool: its arguments so far must be able to cross */
static int check_job_args(spindle_ctx *C, const char *who, th_pool *p, th_job *t) {
  if (!p->cl || !sp_job_argc) return 0;
  size_t n = sp_job_argc(t->sj);
  void *const *v = sp_job_argv(t->sj);
  for (size_t i = 0; i < n; i++)
    if (check_arg(C, who, sp_job_name(t->sj), (int)i + 1, v[i] ? ((th_box *)v[i])->v : api->none()) < 0) return -1;
  return 0;
}

static int f_startJob(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  int i = 0, prio;
  th_pool *p = NULL;
  if (pool_prio(C, "startJob", argc, argv, &i, &p, &prio) < 0) return -1;
  th_job *t = job_ptr(argv[i]);
  if (t) {
    if (atomic_load(&t->started)) return api->error(C, "startJob: job \"%s\" was already started", sp_job_name(t->sj));
    if (add_args(C, "startJob", t, argc - i - 1, argv + i + 1) < 0) return -1;
    sp_job_retain(t->sj);
  } else {
    t = job_from(C, "startJob", i + 1, argv[i], argc - i - 1, argv + i + 1);
    if (!t) return -1;
  }
  if (check_job_args(C, "startJob", p, t) < 0) { sp_job_release(t->sj); return -1; }
  t->pool = p;
  atomic_store(&t->started, 1);
  /* a cluster pool with every slot taken: the job waits unstarted, with
   * no fiber, until a slot is free (cluster.h: admit) */
  if (p->cl && !cluster()->admit(p->cl, t->sj, prio)) {
    *ret = api->make_user(th_job_t, t);
    return 0;
  }
  int rc = sp_job_start(p->p, prio, t->sj);
  if (rc == SP_ECANCELED) rc = 0;  /* cancelled first: never runs */
  if (rc < 0) {
    atomic_store(&t->started, 0);
    rc = start_err(C, "startJob", t, rc);
    sp_job_release(t->sj);
    return rc;
  }
  *ret = api->make_user(th_job_t, t);   /* takes our reference */
  return 0;
}

static int job_arg(spindle_ctx *C, const char *who, int argc, spindle_value *argv, th_job **t) {
  if (argc != 1) return th_counterr(C, who, argc, "1 argument (job)");
  *t = job_ptr(argv[0]);
  if (!*t) return th_argerr(C, who, 1, "job", argv[0]);
  return 0;
}

static int f_waitJob(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_job *t;
  if (job_arg(C, "waitJob", argc, argv, &t) < 0) return -1;
  const char *nm = sp_job_name(t->sj);
  if (!atomic_load(&t->started) && sp_job_state(t->sj) == SP_JOB_CREATED)
    return api->error(C, "waitJob: job \"%s\" was never started", nm);
  void *r = NULL;
  th_job *me = sp_job_current() ? *api->userdata(C, 0) : NULL;   /* a job's context: its th_job */
  if (me && wg_enter(C, me, t) < 0) return -1;
  int rc = sp_job_join(t->sj, &r);
  if (me) wg_leave(me);
  if (rc == 0) { *ret = th_unbox(r); return 0; }
  if (rc == SP_ECANCELED && !sp_job_finished(t->sj)) return api->error(C, "cancelled");
  if (rc == SP_ECANCELED) return api->error(C, "waitJob: job \"%s\" was cancelled", nm);
  if (rc == SP_EFAILED) {
    const char *e = sp_job_error(t->sj);
    return api->error(C, "waitJob: job \"%s\" failed: %s", nm, e ? e : "?");
  }
  return th_rterr(C, "waitJob", rc);
}

static int f_cancelJob(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_job *t;
  if (job_arg(C, "cancelJob", argc, argv, &t) < 0) return -1;
  const char *nm = sp_job_name(t->sj);
  if (!atomic_load(&t->started) && sp_job_state(t->sj) == SP_JOB_CREATED)
    return api->error(C, "cancelJob: job \"%s\" was never started", nm);
  if (atomic_exchange(&t->cancelled_by_script, 1))
    return api->error(C, "cancelJob: job \"%s\" was already cancelled", nm);
  sp_job_cancel(t->sj);   /* SP_EBUSY: it has ended already, nothing to do */
  *ret = api->none();
  return 0;
}

static int f_jobStatus(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_job *t;
  if (job_arg(C, "jobStatus", argc, argv, &t) < 0) return -1;
  static const char *names[] = {"created", "queued", "running", "done", "cancelled", "failed"};
  sp_state st = sp_job_state(t->sj);
  const char *s = st == SP_JOB_CREATED && atomic_load(&t->started) ? "queued" : names[st];
  *ret = api->make_string(s, strlen(s));
  return 0;
}

static int f_jobCancelled(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc == 1) {   /* jobCancelled(j): was a cancel asked for j */
    th_job *t;
    if (job_arg(C, "jobCancelled", argc, argv, &t) < 0) return -1;
    *ret = api->make_int(atomic_load(&t->cancelled_by_script) || sp_job_state(t->sj) == SP_JOB_CANCELLED);
    return 0;
  }
  if (argc != 0) return th_counterr(C, "jobCancelled", argc, "no arguments");
  *ret = api->make_int(sp_job_cancelled());
  return 0;
}

static int f_currentJob(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 0) return th_counterr(C, "currentJob", argc, "no arguments");
  th_job *t = *api->userdata(C, 0);
  if (!t) return api->error(C, "currentJob: not inside a job");
  *ret = job_value(t);
  return 0;
}

static int f_nameJob(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 2) return th_counterr(C, "nameJob", argc, "2 arguments (job, string)");
  th_job *t = job_ptr(argv[0]);
  if (!t) return th_argerr(C, "nameJob", 1, "job", argv[0]);
  if (argv[1].type != SPINDLE_T_STRING) return th_argerr(C, "nameJob", 2, "string", argv[1]);
  sp_job_set_name(t->sj, api->string_ptr(argv[1], NULL));
  *ret = api->none();
  return 0;
}

static int f_getJobName(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_job *t;
  if (job_arg(C, "getJobName", argc, argv, &t) < 0) return -1;
  const char *s = sp_job_name(t->sj);
  *ret = api->make_string(s, strlen(s));
  return 0;
}

/* deps: jobs, triggers, lists of them (nested) */
static int collect_deps(spindle_ctx *C, const char *who, int pos, spindle_value v, sp_dep **d, size_t *n,
                        size_t *cap) {
  if (v.type == SPINDLE_T_LIST) {
    size_t len = api->length(v);
    for (size_t k = 0; k < len; k++)
      if (collect_deps(C, who, pos, api->list_get(v, k), d, n, cap) < 0) return -1;
    return 0;
  }
  sp_dep dep = {NULL, NULL};
  th_job *t = job_ptr(v);
  if (t) {
    const char *nm = sp_job_name(t->sj);
    sp_state st = sp_job_state(t->sj);
    if (st == SP_JOB_CREATED && !atomic_load(&t->started))
      return api->error(C, "%s: dependency job \"%s\" was never started", who, nm);
    if (st == SP_JOB_CANCELLED) return api->error(C, "%s: dependency job \"%s\" was cancelled", who, nm);
    if (st == SP_JOB_FAILED) return api->error(C, "%s: dependency job \"%s\" failed", who, nm);
    dep.job = t->sj;
  } else if ((int)v.type == th_trig_t) {
    dep.trigger = ((th_obj *)api->user_ptr(v, th_trig_t))->p;
  } else {
    return th_argerr(C, who, pos, "job, trigger or list of them", v);
  }
  if (*n == *cap) {
    *cap = *cap ? 2 * *cap : 8;
    *d = th_xrealloc(*d, *cap * sizeof **d);
  }
  (*d)[(*n)++] = dep;
  return 0;
}

/* the jobs among a scheduleJob's dependencies (lists flattened) */
static void collect_tjobs(spindle_value v, th_job ***tj, size_t *n, size_t *cap) {
  if (v.type == SPINDLE_T_LIST) {
    size_t len = api->length(v);
    for (size_t k = 0; k < len; k++) collect_tjobs(api->list_get(v, k), tj, n, cap);
    return;
  }
  th_job *t = job_ptr(v);
  if (!t) return;
  if (*n == *cap) {
    *cap = *cap ? 2 * *cap : 8;
    *tj = th_xrealloc(*tj, *cap * sizeof **tj);
  }
  (*tj)[(*n)++] = t;
}

/* tl_deps: the jobs among deps, for the wait graph */
static int schedule_one(spindle_ctx *C, const char *who, int pos, th_pool *p, int prio, spindle_value what,
                        sp_dep *deps, size_t ndeps, th_job **tl_deps, size_t tl_ndeps, spindle_value *out) {
  th_job *t = job_ptr(what);
  if (t) {
    if (atomic_load(&t->started)) return api->error(C, "%s: job \"%s\" was already started", who, sp_job_name(t->sj));
    sp_job_retain(t->sj);
  } else {
    t = job_from(C, who, pos, what, 0, NULL);
    if (!t) return -1;
  }
  if (check_job_args(C, who, p, t) < 0) { sp_job_release(t->sj); return -1; }
  t->pool = p;
  if (tl_ndeps) {   /* the wait graph: t waits for these until it starts */
    th_job **d = malloc(tl_ndeps * sizeof *d);
    if (d) {   /* t is not started: nobody follows its edges yet, no lock */
      for (size_t k = 0; k < tl_ndeps; k++) { d[k] = tl_deps[k]; sp_job_retain(d[k]->sj); }
      for (size_t k = 0; k < t->ndeps; k++) sp_job_release(t->deps[k]->sj);
      free(t->deps);
      t->deps = d;
      t->ndeps = tl_ndeps;
    }
  }
  if (t->ndeps) {   /* named in deadlock reports until it runs */
    pthread_mutex_lock(&wg_mu);
    wg_link(&t->wl, t->sj, t, "scheduleJob", NULL);
    pthread_mutex_unlock(&wg_mu);
  }
  atomic_store(&t->started, 1);
  int rc = sp_job_schedule(p->p, prio, t->sj, ndeps, deps);
  if (rc == SP_ECANCELED) rc = 0;  /* cancelled first: never runs */
  if (rc < 0) {
    if (t->wl.fn) {
      pthread_mutex_lock(&wg_mu);
      wg_unlink(&t->wl);
      pthread_mutex_unlock(&wg_mu);
    }
    atomic_store(&t->started, 0);
    if (rc == SP_ESTATE) rc = api->error(C, "%s: a dependency was never started", who);
    else rc = start_err(C, who, t, rc);
    sp_job_release(t->sj);
    return rc;
  }
  *out = api->make_user(th_job_t, t);
  return 0;
}

static int do_schedule(spindle_ctx *C, const char *who, int argc, spindle_value *argv, spindle_value *ret) {
  if (!sp_job_schedule) return api->error(C, "%s: the runtime has no dependency scheduling yet", who);
  int i = 0, prio;
  th_pool *p = NULL;
  if (pool_prio(C, who, argc, argv, &i, &p, &prio) < 0) return -1;
  sp_dep *deps = NULL;
  size_t nd = 0, cap = 0;
  for (int k = i + 1; k < argc; k++)
    if (collect_deps(C, who, k + 1, argv[k], &deps, &nd, &cap) < 0) { free(deps); return -1; }
  th_job **tj = NULL;
  size_t ntj = 0, captj = 0;
  for (int k = i + 1; k < argc; k++) collect_tjobs(argv[k], &tj, &ntj, &captj);
  int rc = 0;
  if (argv[i].type == SPINDLE_T_LIST) {
    size_t n = api->length(argv[i]);
    spindle_value l = api->make_list(n);
    for (size_t k = 0; k < n && rc == 0; k++) {
      spindle_value j;
      rc = schedule_one(C, who, i + 1, p, prio, api->list_get(argv[i], k), deps, nd, tj, ntj, &j);
      if (rc == 0) api->list_set(l, k, j);
    }
    if (rc == 0) *ret = l;
    else api->release(l);
  } else {
    rc = schedule_one(C, who, i + 1, p, prio, argv[i], deps, nd, tj, ntj, ret);
  }
  free(tj);
  free(deps);
  return rc;
}

static int f_scheduleJob(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return do_schedule(C, "scheduleJob", argc, argv, ret);
}
static int f_scheduleJobs(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return do_schedule(C, "scheduleJobs", argc, argv, ret);
}

/* ---- pool initialization: run code on every worker and wait for it ---- */

/* A pseudo pool: once, in the caller (which runs the pool's queue while
 * it waits, or is itself a job of that pool). */
static int run_once(spindle_ctx *C, const char *who, th_pool *p, spindle_value fn, int kind, const char *name) {
  if (sp_pool_current() == p->p) {   /* from a job of that pool: run it here */
    spindle_value r = api->none();
    int rc = kind == K_EXEC ? api->execute(C, api->string_ptr(fn, NULL))
           : kind == K_FILE ? api->execute_file(C, api->string_ptr(fn, NULL)) : api->eval(C, fn, &r);
    api->release(r);
    return rc;
  }
  th_job *t = job_new(C, who, fn, kind, name, 0, NULL);
  if (!t) return -1;
  t->pool = p;
  atomic_store(&t->started, 1);
  int rc = sp_job_start(p->p, SP_PRIO_MAX, t->sj);
  if (rc < 0) { rc = start_err(C, who, t, rc); sp_job_release(t->sj); return rc; }
  rc = sp_job_join(t->sj, NULL);
  if (rc == SP_EFAILED) rc = api->error(C, "%s: %s", who, sp_job_error(t->sj));
  else if (rc == SP_ECANCELED && !sp_job_finished(t->sj)) rc = api->error(C, "cancelled");
  else if (rc < 0) rc = th_rterr(C, who, rc);
  sp_job_release(t->sj);
  return rc;
}

/* Wait for the per-worker jobs ts[0..n); the first failure is the
 * caller's error, naming the worker and the pool. */
static int join_each(spindle_ctx *C, const char *who, th_pool *p, th_job **ts, int n, int rc) {
  for (int k = 0; k < n; k++) {
    sp_job *sj = ts[k]->sj;
    int r = sp_job_join(sj, NULL);   /* all of them, even after an error */
    if (r == SP_ECANCELED && !sp_job_finished(sj)) {   /* the caller was cancelled */
      if (rc == 0) rc = api->error(C, "cancelled");
    } else if (r == SP_EDEADLK) {
      if (rc == 0) rc = th_rterr(C, who, r);
    } else if (r < 0 && rc == 0) {
      char pb[64];
      pool_print(p, pb, sizeof pb);
      const char *e = r == SP_EFAILED ? sp_job_error(sj) : sp_strerror(r);
      rc = api->error(C, "%s: worker %d of %s: %s", who, k, pb, e ? e : "?");
    }
    sp_job_release(sj);
  }
  return rc;
}

/* Run the code once on each worker of the pool (a job bound to each,
 * top priority) and wait for all; a pseudo pool runs it once. */
static int run_on_pool(spindle_ctx *C, const char *who, th_pool *p, spindle_value fn, int kind, const char *name) {
  if (th_pool_usable(C, who, p) < 0) return -1;
  int n = sp_pool_nworkers(p->p);
  if (n <= 0) return run_once(C, who, p, fn, kind, name);
  th_job **ts = calloc((size_t)n, sizeof *ts);
  if (!ts) return api->error(C, "%s: out of memory", who);
  int started = 0, rc = 0;
  for (int k = 0; k < n && rc == 0; k++) {
    th_job *t = job_new(C, who, fn, kind, name, 0, NULL);
    if (!t) { rc = -1; break; }
    t->pool = p;
    atomic_store(&t->started, 1);
    int r = sp_job_start_on(p->p, k, SP_PRIO_MAX, t->sj);
    if (r == SP_EINVAL) { sp_job_release(t->sj); break; }   /* the pool shrank meanwhile */
    if (r < 0) { rc = start_err(C, who, t, r); sp_job_release(t->sj); break; }
    ts[started++] = t;
  }
  rc = join_each(C, who, p, ts, started, rc);
  free(ts);
  return rc;
}

static int exec_args(spindle_ctx *C, const char *who, int argc, spindle_value *argv, th_pool **p, int want) {
  if (argc != 2) return th_counterr(C, who, argc, "2 arguments");
  *p = pool_arg(C, who, argc, argv, 1);
  if (!*p) return -1;
  if (want >= 0 && (int)argv[1].type != want)
    return th_argerr(C, who, 2, want == SPINDLE_T_STRING ? "string" : "quote(...)", argv[1]);
  return 0;
}

static int f_threadPoolExec(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_pool *p = NULL;
  if (exec_args(C, "threadPoolExec", argc, argv, &p, -1) < 0) return -1;
  int kind = argv[1].type == SPINDLE_T_STRING ? K_EXEC : argv[1].type == SPINDLE_T_QUOTE ? K_QUOTE : -1;
  if (kind < 0) return th_argerr(C, "threadPoolExec", 2, "quote(...) or string", argv[1]);
  *ret = api->none();
  return run_on_pool(C, "threadPoolExec", p, argv[1], kind, "threadPoolExec");
}

static int f_threadPoolExecString(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_pool *p = NULL;
  if (exec_args(C, "threadPoolExecString", argc, argv, &p, SPINDLE_T_STRING) < 0) return -1;
  *ret = api->none();
  return run_on_pool(C, "threadPoolExecString", p, argv[1], K_EXEC, "threadPoolExecString");
}

static int f_threadPoolExecFile(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_pool *p = NULL;
  if (exec_args(C, "threadPoolExecFile", argc, argv, &p, SPINDLE_T_STRING) < 0) return -1;
  *ret = api->none();
  return run_on_pool(C, "threadPoolExecFile", p, argv[1], K_FILE, "threadPoolExecFile");
}

static int exec_built(spindle_ctx *C, const char *who, th_pool *p, const char *code) {
  spindle_value s = api->make_string(code, strlen(code));
  int rc = run_on_pool(C, who, p, s, K_EXEC, who);
  api->release(s);
  return rc;
}

static int f_threadPoolExecFunc(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_pool *p = NULL;
  if (exec_args(C, "threadPoolExecFunc", argc, argv, &p, SPINDLE_T_STRING) < 0) return -1;
  const char *name = api->string_ptr(argv[1], NULL);
  spindle_value fn;
  if (api->lookup(C, name, &fn) < 0) {
    api->clear_error(C);
    return api->error(C, "threadPoolExecFunc: no proc named \"%s\"", name);
  }
  api->release(fn);
  const char *c = strstr(name, "::");
  char code[300];
  snprintf(code, sizeof code, "%s();", c ? c + 2 : name);
  *ret = api->none();
  return exec_built(C, "threadPoolExecFunc", p, code);
}

static int load_lib(spindle_ctx *C, const char *who, int argc, spindle_value *argv, spindle_value *ret) {
  th_pool *p = NULL;
  if (exec_args(C, who, argc, argv, &p, SPINDLE_T_STRING) < 0) return -1;
  const char *lib = api->string_ptr(argv[1], NULL);
  if (strchr(lib, '"')) return api->error(C, "%s: bad library name", who);
  char code[600];
  snprintf(code, sizeof code, "LIB \"%s\";", lib);
  *ret = api->none();
  return exec_built(C, who, p, code);
}
static int f_threadPoolLoadLib(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return load_lib(C, "threadPoolLoadLib", argc, argv, ret);
}
static int f_threadPoolsLoadLib(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return load_lib(C, "threadPoolsLoadLib", argc, argv, ret);
}

/* ---- Singular compatibility --------------------------------------------- */

static int f_threadID(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 0) return th_counterr(C, "threadID", argc, "no arguments");
  *ret = api->make_int(th_thread_id(C));
  return 0;
}

static int f_mainThread(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 0) return th_counterr(C, "mainThread", argc, "no arguments");
  *ret = api->make_int(th_thread_id(C) == 0);
  return 0;
}

static int is_shared(spindle_value v) {
  int t = (int)v.type;
  return t == th_trig_t || t == th_chan_t || t == th_svar_t || t == th_table_t || t == th_alist_t ||
         t == th_region_t || t == th_stable_t || t == th_slist_t;
}

static int f_setSharedName(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 2) return th_counterr(C, "setSharedName", argc, "2 arguments (object, string)");
  if (argv[1].type != SPINDLE_T_STRING) return th_argerr(C, "setSharedName", 2, "string", argv[1]);
  const char *s = api->string_ptr(argv[1], NULL);
  th_job *t = job_ptr(argv[0]);
  if (t) sp_job_set_name(t->sj, s);
  else if (is_shared(argv[0])) {
    th_obj *o = api->user_ptr(argv[0], (int)argv[0].type);
    char *old = o->name;   /* names are set rarely; the old one is kept */
    (void)old;
    o->name = th_xstrdup(s);
  } else {
    return th_argerr(C, "setSharedName", 1, "job, trigger, channel, syncvar or atomic table/list", argv[0]);
  }
  *ret = api->none();
  return 0;
}

static int f_getSharedName(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 1) return th_counterr(C, "getSharedName", argc, "1 argument");
  const char *s = NULL;
  th_job *t = job_ptr(argv[0]);
  if (t) s = sp_job_name(t->sj);
  else if (is_shared(argv[0]))
    s = ((th_obj *)api->user_ptr(argv[0], (int)argv[0].type))->name;
  else return th_argerr(C, "getSharedName", 1, "job, trigger, channel, syncvar or atomic table/list", argv[0]);
  if (!s) s = "";
  *ret = api->make_string(s, strlen(s));
  return 0;
}

/* the first SIGINT/SIGTERM of a script run (the program's signal thread):
 * the orderly shutdown of src/README.md -- new jobs refused, queued and
 * running jobs cancelled, pools stopped newest first -- so that a script
 * waiting on a job wakes up and unwinds */
/* SIGINT/SIGTERM on a script run: the runtime's shutdown cancels the jobs
 * that run or are queued, and those suspended in a script's wait are
 * cancelled here (the runtime cannot reach them), so that a script
 * waiting for one of them ends within the 100 ms rule as well */
static void on_signal(int signo) {
  (void)signo;
  wg_cancel_waiting(0);
  sp_shutdown();
}

/* ---- registration -------------------------------------------------------- */

#undef api  /* reg->api below */
int spindle_plugin_abi = SPINDLE_PLUGIN_ABI;

int spindle_plugin_init(spindle_reg *reg) {
  SPINDLE_PLUGIN_CHECK(reg);
  const char *lim = getenv("SPINDLE_CPUS");
  cpus_limit = lim ? atol(lim) : 0;
  th_api = reg->api;
  main_ctx = reg->ctx;
  static const spindle_type_desc pool_d = {"threadpool", pool_print, NULL, NULL, NULL};
  static const spindle_type_desc job_d = {"job", job_print, NULL, job_release, NULL};
  th_pool_t = th_api->def_type(reg, &pool_d);
  th_job_t = th_api->def_type(reg, &job_d);
  if (th_pool_t < 0 || th_job_t < 0) return th_api->fail(reg, "cannot register the threadpool and job types");
  static const struct { const char *name; spindle_rawfn fn; } fns[] = {
    {"createThreadPool", f_createThreadPool}, {"closeThreadPool", f_closeThreadPool},
    {"createClusterPool", f_createClusterPool},
    {"setCurrentThreadPool", f_setCurrentThreadPool}, {"currentThreadPool", f_currentThreadPool},
    {"getThreadPoolWorkers", f_getThreadPoolWorkers}, {"setThreadPoolWorkers", f_setThreadPoolWorkers},
    {"getThreadPoolConcurrency", f_getThreadPoolConcurrency},
    {"setThreadPoolConcurrency", f_setThreadPoolConcurrency},
    {"workerID", f_workerID},
    {"threadPoolStats", f_threadPoolStats}, {"threadPoolTrace", f_threadPoolTrace},
    {"threadPoolExec", f_threadPoolExec}, {"threadPoolExecString", f_threadPoolExecString},
    {"threadPoolExecFile", f_threadPoolExecFile}, {"threadPoolExecFunc", f_threadPoolExecFunc},
    {"threadPoolLoadLib", f_threadPoolLoadLib}, {"threadPoolsLoadLib", f_threadPoolsLoadLib},
    {"createJob", f_createJob}, {"createNativeJob", f_createNativeJob}, {"startJob", f_startJob},
    {"waitJob", f_waitJob}, {"cancelJob", f_cancelJob}, {"jobStatus", f_jobStatus},
    {"jobCancelled", f_jobCancelled}, {"currentJob", f_currentJob}, {"nameJob", f_nameJob},
    {"getJobName", f_getJobName}, {"scheduleJob", f_scheduleJob}, {"scheduleJobs", f_scheduleJobs},
    {"threadID", f_threadID}, {"mainThread", f_mainThread},
    {"setSharedName", f_setSharedName}, {"getSharedName", f_getSharedName},
  };
  for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) th_api->def_raw(reg, fns[i].name, fns[i].fn);
  th_coord_register(reg);
  th_shared_register(reg);
  th_thread_register(reg);
  th_tasks_register(reg);
  th_fork_register(reg);
  /* the script's main flow (this thread) reports waits that could never
   * end; the plugin counts its own threads and timers as wakers */
  if (sp_deadlock_check && !getenv("SPINDLE_NO_DEADLOCK_CHECK") && !sp_job_current())
    sp_deadlock_check(1);
  if (th_api->size >= offsetof(struct spindle_api, on_signal) + sizeof th_api->on_signal)
    th_api->on_signal(reg, on_signal);
  /* an interactive session (REPL, kernel): its interrupt ends what the
   * main flow waits for (waitJob, receiveChannel, ...), the jobs go on.
   * The plugin is loaded by the session's own thread. */
  if (th_api->size >= offsetof(struct spindle_api, interrupt_flag) + sizeof th_api->interrupt_flag &&
      th_api->interrupt_flag())
    sp_wait_interruptible(th_api->interrupt_flag());
  atexit(close_all_pools);
  return 0;
}
