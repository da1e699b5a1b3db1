/* cluster.c: the cluster plugin (cluster.so), spindle's only part that
 * links MPI. Under `mpirun -n N spindle script.sing` the program loads it
 * before the script (lang/main.c). Rank 0 runs the script; the other
 * ranks never return from this plugin's init: they serve jobs until rank
 * 0 ends, then exit.
 *
 * One thread per process (the comm thread) makes every MPI call, MPI
 * initialization and finalization included (MPI_THREAD_FUNNELED): job
 * fibers may be preempted anywhere, so they never hold MPI's locks. Other
 * threads hand it frames through per-rank outgoing buffers; it sends each
 * rank's frames as one message (MPI_Isend), and polls for incoming ones
 * (MPI_Iprobe), spinning for a while after traffic and sleeping on a
 * condition variable (woken by new outgoing frames) with growing timeouts
 * when idle.
 *
 * Rank 0 (what cluster.h offers the threads plugin): a cluster pool is a
 * rank-0 pool whose jobs first take a slot (acquire). Each rank has as
 * many slots as workers; another rank gets a few more while its jobs are
 * short (prefetch, so trivial jobs stream instead of paying a round trip
 * each). A rank-0 slot runs the job in place; another rank's slot sends
 * the globals changed since that rank's last job, then the job (its proc
 * by global name or by source, its arguments in the value codec), and the
 * job's fiber waits on a syncvar that the comm thread writes when the
 * rank's result arrives; cancelling the job sends a cancel.
 *
 * Other ranks: frames from rank 0 are applied in order by the comm thread
 * (globals set, procs compiled, plugins loaded, pools made and closed);
 * a job runs on a runtime pool of that rank as an ordinary job (preempted,
 * cancelled), and its end sends its result. What a job prints goes to rank
 * 0's stdout (this process's stdout is a stream that sends lines), before
 * its result.
 *
 * Frames: type (1 byte), body length (4 bytes, little-endian), body. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <mpi.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "cluster.h"
#include "xalloc.h"
#include "spindle.h"

static const struct spindle_api *api;
static spindle_ctx *comm_ctx;     /* the comm thread's own context */

enum {
  /* rank 0 -> others */
  F_GLOBAL = 1, F_LOAD, F_POOL, F_RESIZE, F_CLOSE, F_JOB, F_CANCEL, F_STOP,
  /* others -> rank 0 */
  F_RESULT = 16, F_OUTPUT, F_STOPPED
};
enum { G_VALUE, G_PROC, G_KILL };               /* F_GLOBAL kinds */
enum { FN_GLOBAL, FN_SOURCE, FN_BUILTIN };      /* how a job names its function */
enum { R_DONE, R_FAILED, R_CANCELLED };         /* F_RESULT status */
#define TAG 7
/* The comm thread polls MPI (no MPI transport wakes a thread). After
 * a message came or went it keeps polling, yielding the CPU between polls,
 * for SPIN_MIN_US, or twice the usual gap between two incoming messages
 * while that gap is under SPIN_MAX_US; rank 0 keeps polling up to
 * QUICK_SPIN_US while results of short jobs are due (a stream of short jobs
 * is served at once; a rank whose jobs take long does not burn a core
 * waiting for their results). Then it naps for 5, 10, 20 ... NAP_MAX_US
 * microseconds between polls; new outgoing frames wake it at once. */
#define SPIN_MIN_US 150
/* rank 0 with results of short jobs (QUICK_US) due: up to QUICK_SPIN_US */
#define QUICK_US 500
#define QUICK_SPIN_US 2000
#define SPIN_MAX_US 1000
/* a serving rank's workers poll this long for the next job before they
 * sleep (sp_pool_set_spin_us): jobs come from the comm thread, which never
 * waits for them, and a wake-up costs microseconds */
#define WORKER_SPIN_US 100
/* while a pool hook has polled within HOOK_FRESH_US, the comm thread
 * leaves MPI to it (pool_poll) */
#define HOOK_FRESH_US 200
/* ... napping HOOK_NAP_US at a time */
#define HOOK_NAP_US 200
/* frames queued when no hook polled for HOOK_SEND_US (its thread went to
 * run jobs: a worker busy with prefetched ones) wake the comm thread */
#define HOOK_SEND_US 20
/* ... and goes on polling while it has itself sent or received within
 * HOOK_IDLE_US (a stream of results from a busy worker: one wake-up, not
 * one per result) */
#define HOOK_IDLE_US 100
#define NAP_MAX_US 1000

static int nranks = 1, myrank;
static int *rank_cores;

/* ---- byte buffers ------------------------------------------------------------ */

typedef struct wbuf { char *p; size_t n, cap; } wbuf;

static void wb_need(wbuf *b, size_t k) {
  if (b->n + k <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->n + k) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) { fputs("spindle: cluster: out of memory\n", stderr); abort(); }
  b->p = p;
  b->cap = cap;
}
static void wb_put(wbuf *b, const void *x, size_t k) { wb_need(b, k); memcpy(b->p + b->n, x, k); b->n += k; }
static void wb_u8(wbuf *b, uint8_t x) { wb_put(b, &x, 1); }
static void wb_u32(wbuf *b, uint32_t x) {
  uint8_t v[4] = {(uint8_t)x, (uint8_t)(x >> 8), (uint8_t)(x >> 16), (uint8_t)(x >> 24)};
  wb_put(b, v, 4);
}
static void wb_u64(wbuf *b, uint64_t x) { wb_u32(b, (uint32_t)x); wb_u32(b, (uint32_t)(x >> 32)); }
static void wb_bytes(wbuf *b, const void *x, size_t k) { wb_u32(b, (uint32_t)k); wb_put(b, x, k); }
static void wb_str(wbuf *b, const char *s) { wb_bytes(b, s, strlen(s)); }
/* a frame: wb_frame, then the body, then wb_end(b, at) */
static size_t wb_frame(wbuf *b, int type) { wb_u8(b, (uint8_t)type); wb_u32(b, 0); return b->n; }
static void wb_end(wbuf *b, size_t at) {
  uint32_t k = (uint32_t)(b->n - at);
  uint8_t *p = (uint8_t *)b->p + at - 4;
  p[0] = (uint8_t)k; p[1] = (uint8_t)(k >> 8); p[2] = (uint8_t)(k >> 16); p[3] = (uint8_t)(k >> 24);
}

/* a length-checked reader: a short or bad frame sets bad and reads zeros */
typedef struct rbuf { const uint8_t *p, *end; int bad; } rbuf;
static int rb_has(rbuf *r, size_t k) {
  if (r->bad || (size_t)(r->end - r->p) < k) { r->bad = 1; return 0; }
  return 1;
}
static uint8_t rb_u8(rbuf *r) { return rb_has(r, 1) ? *r->p++ : 0; }
static uint32_t rb_u32(rbuf *r) {
  if (!rb_has(r, 4)) return 0;
  uint32_t x = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
  r->p += 4;
  return x;
}
static uint64_t rb_u64(rbuf *r) { uint64_t lo = rb_u32(r); return lo | (uint64_t)rb_u32(r) << 32; }
static const char *rb_bytes(rbuf *r, size_t *k) {
  *k = rb_u32(r);
  if (!rb_has(r, *k)) { *k = 0; return ""; }
  const char *s = (const char *)r->p;
  r->p += *k;
  return s;
}
static char *rb_str(rbuf *r) {   /* malloc'ed copy */
  size_t k;
  const char *s = rb_bytes(r, &k);
  return strndup(s, k);
}

/* ---- the comm thread ---------------------------------------------------------- */

static pthread_t comm_thread;
/* Every MPI call is made under mpi_mu (MPI_THREAD_SERIALIZED): by the
 * comm thread, or by a pool hook that finds it free (pool_poll) */
static pthread_mutex_t mpi_mu = PTHREAD_MUTEX_INITIALIZER;
static int hooks_ok;                /* MPI gave MPI_THREAD_SERIALIZED */
static int mpi_closed;              /* finalizing: no more MPI calls (mpi_mu) */
static _Atomic uint64_t hook_last_us;   /* when a hook last polled */
static int comm_napping;            /* the comm thread waits on out_cv (out_mu) */
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t out_cv = PTHREAD_COND_INITIALIZER;
static wbuf *outq;                  /* per destination rank */
static wbuf *outq_taken;            /* what flush_out took from outq, being sent */
static int out_any;                 /* some outq has frames */
static int stop_asked;              /* rank 0: send F_STOP and finish */
static int comm_done;               /* the comm thread has finalized MPI */
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;

static uint64_t now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* frames are queued, not sent yet */
static int out_pending(void) {
  pthread_mutex_lock(&out_mu);
  int any = out_any;
  pthread_mutex_unlock(&out_mu);
  return any;
}

/* hand frames to the comm thread for rank dest (takes nothing: copies) */
static void send_to(int dest, const wbuf *frames) {
  pthread_mutex_lock(&out_mu);
  wb_put(&outq[dest], frames->p, frames->n);
  out_any = 1;
  /* a napping comm thread is woken, unless pool hooks poll meanwhile
   * (they flush what is queued; the nap is short then) */
  if (comm_napping &&
      now_us() - atomic_load_explicit(&hook_last_us, memory_order_relaxed) >= HOOK_SEND_US)
    pthread_cond_signal(&out_cv);
  pthread_mutex_unlock(&out_mu);
}

static void mpi_fail(const char *what, int err) {
  char s[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(err, s, &n);
  fflush(stdout);
  fprintf(stderr, "spindle: rank %d: MPI error in %s: %.*s\n", myrank, what, n, s);
  MPI_Abort(MPI_COMM_WORLD, 1);
  _exit(1);
}
#define MPI_CHECK(call)                         \
  do {                                          \
    int e_ = (call);                            \
    if (e_ != MPI_SUCCESS) mpi_fail(#call, e_); \
  } while (0)

typedef struct pending { MPI_Request rq; char *buf; } pending;
static pending *sends;
static size_t nsends, cap_sends;


static void handle(int src, const uint8_t *p, size_t n);   /* rank 0 or server */
static int stopped_ranks;            /* rank 0: F_STOPPED seen */
/* rank 0: jobs in flight on other ranks whose pool's jobs there are
 * short: their results are due soon, so the comm thread keeps polling */
static _Atomic int quick_inflight;
static int serve_stop;               /* other ranks: F_STOP seen */

/* send what is queued; 1 if anything went */
static int flush_out(void) {
  int did = 0;
  pthread_mutex_lock(&out_mu);
  if (!out_any) { pthread_mutex_unlock(&out_mu); return 0; }
  wbuf *take = outq_taken;   /* the comm thread's own: only it flushes */
  for (int r = 0; r < nranks; r++) { take[r] = outq[r]; outq[r] = (wbuf){0}; }
  out_any = 0;
  pthread_mutex_unlock(&out_mu);
  for (int r = 0; r < nranks; r++) {
    if (!take[r].n) { free(take[r].p); continue; }
    if (take[r].n > (size_t)INT32_MAX) {
      fprintf(stderr, "spindle: rank %d: a message of %zu bytes for rank %d is too large for MPI\n", myrank, take[r].n, r);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (nsends == cap_sends) {
      cap_sends = cap_sends ? 2 * cap_sends : 16;
      sends = th_xrealloc(sends, cap_sends * sizeof *sends);
    }
    pending *s = &sends[nsends++];
    s->buf = take[r].p;
    MPI_CHECK(MPI_Isend(s->buf, (int)take[r].n, MPI_BYTE, r, TAG, MPI_COMM_WORLD, &s->rq));
    did = 1;
  }
  return did;
}

static void reap_sends(void) {
  for (size_t i = 0; i < nsends;) {
    int flag = 0;
    MPI_CHECK(MPI_Test(&sends[i].rq, &flag, MPI_STATUS_IGNORE));
    if (flag) { free(sends[i].buf); sends[i] = sends[--nsends]; }
    else i++;
  }
}

/* Messages a pool hook received but may not handle (frames that make or
 * close pools, load plugins or stop the rank: the comm thread's), kept in
 * order; while any is kept, hooks receive nothing more. mpi_mu. */
typedef struct dmsg { struct dmsg *next; int src; uint8_t *buf; size_t n; } dmsg;
static dmsg *deferred, *deferred_tail;
static _Atomic int deferred_any;    /* deferred != NULL, for readers without mpi_mu */

/* every frame of the message is one a pool hook may handle */
static int hook_safe(const uint8_t *p, size_t n) {
  rbuf r = {p, p + n, 0};
  while (r.p < r.end && !r.bad) {
    int type = rb_u8(&r);
    uint32_t k = rb_u32(&r);
    if (!rb_has(&r, k)) return 0;
    r.p += k;
    if (type != F_JOB && type != F_CANCEL && type != F_GLOBAL && type != F_RESULT && type != F_OUTPUT) return 0;
  }
  return !r.bad;
}

/* receive and handle what has come; all: the comm thread (else a pool
 * hook, which leaves what it may not handle to the comm thread). mpi_mu */
static int poll_in(int all) {
  int did = 0;
  while (!deferred) {
    int flag = 0;
    MPI_Status st;
    MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, TAG, MPI_COMM_WORLD, &flag, &st));
    if (!flag) return did;
    int n = 0;
    MPI_CHECK(MPI_Get_count(&st, MPI_BYTE, &n));
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    MPI_CHECK(MPI_Recv(buf, n, MPI_BYTE, st.MPI_SOURCE, TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    did = 1;
    if (!all && !hook_safe(buf, (size_t)n)) {
      dmsg *d = malloc(sizeof *d);
      if (!d) { fputs("spindle: cluster: out of memory\n", stderr); abort(); }
      *d = (dmsg){NULL, st.MPI_SOURCE, buf, (size_t)n};
      if (deferred_tail) deferred_tail->next = d; else deferred = d;
      deferred_tail = d;
      atomic_store(&deferred_any, 1);
      pthread_mutex_lock(&out_mu);
      pthread_cond_signal(&out_cv);
      pthread_mutex_unlock(&out_mu);
      return did;
    }
    handle(st.MPI_SOURCE, buf, (size_t)n);
    sp_flush_wakes();   /* jobs it started or woke run now */
    free(buf);
  }
  return did;
}

/* the comm thread: handle what hooks left to it, in order; mpi_mu */
static int run_deferred(void) {
  int did = 0;
  while (deferred) {
    dmsg *d = deferred;
    deferred = d->next;
    if (!deferred) { deferred_tail = NULL; atomic_store(&deferred_any, 0); }
    handle(d->src, d->buf, d->n);
    sp_flush_wakes();
    free(d->buf);
    free(d);
    did = 1;
  }
  return did;
}

/* A pool's poll hook (sp_pool_set_poll_hook): an idle worker of a pool
 * whose jobs come through MPI, or a thread waiting for such a job, makes
 * the comm thread's rounds itself, when MPI is free: a job handed over,
 * or a result received, without a thread in between. */
static int pool_poll(void *ud, int stop) {
  (void)ud;
  if (stop) return 0;   /* the comm thread takes over once no hook polled for HOOK_FRESH_US */
  if (atomic_load_explicit(&deferred_any, memory_order_relaxed) || pthread_mutex_trylock(&mpi_mu) != 0) return 0;
  int did = 0;
  if (!mpi_closed) {
    did = flush_out();
    reap_sends();
    did |= poll_in(0);
  }
  pthread_mutex_unlock(&mpi_mu);
  atomic_store_explicit(&hook_last_us, now_us(), memory_order_relaxed);
  return did;
}

/* a pool of this process that polls MPI when idle: serving ranks' pools,
 * rank 0's side of a cluster pool */
static void pool_polls(sp_pool *p) {
  if (!p || !hooks_ok) return;
  sp_pool_set_spin_us(p, WORKER_SPIN_US);
  sp_pool_set_poll_hook(p, pool_poll, NULL);
}

/* the comm thread sleeps up to us microseconds; send_to wakes it
 * (comm_napping). It does not when the end is due, nor, unless pool hooks
 * poll (hooked), when frames or messages kept for it wait. */
static void comm_nap(long us, int stop_sent, int hooked) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += us * 1000;
  if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
  pthread_mutex_lock(&out_mu);
  if ((!stop_asked || stop_sent) && (hooked || (!out_any && !atomic_load(&deferred_any)))) {
    comm_napping = 1;
    pthread_cond_timedwait(&out_cv, &out_mu, &ts);
    comm_napping = 0;
  }
  pthread_mutex_unlock(&out_mu);
}

static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t init_cv = PTHREAD_COND_INITIALIZER;
static int init_state;               /* 1: MPI is up (nranks, myrank set), -1: failed */
static int loop_go;                  /* the plugin's init is ready for frames */

static void *comm_main(void *arg) {
  (void)arg;
  int provided = 0;
  /* Open MPI's own SIGSEGV/SIGBUS handlers would replace the runtime's
   * stack-overflow handler */
  setenv("OMPI_MCA_opal_signal", "", 0);
  int e = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
  if (e == MPI_SUCCESS) {
    hooks_ok = provided >= MPI_THREAD_SERIALIZED && !getenv("SPINDLE_CLUSTER_NO_POLL");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    MPI_Comm_rank(MPI_COMM_WORLD, &myrank);
    rank_cores = th_xcalloc((size_t)nranks, sizeof *rank_cores);
    outq = th_xcalloc((size_t)nranks, sizeof *outq);
    outq_taken = th_xcalloc((size_t)nranks, sizeof *outq_taken);
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    int mine = c < 1 ? 1 : (int)c;
    MPI_CHECK(MPI_Allgather(&mine, 1, MPI_INT, rank_cores, 1, MPI_INT, MPI_COMM_WORLD));
  }
  pthread_mutex_lock(&init_mu);
  init_state = e == MPI_SUCCESS ? 1 : -1;
  pthread_cond_broadcast(&init_cv);
  pthread_mutex_unlock(&init_mu);
  if (e != MPI_SUCCESS) return NULL;
  pthread_mutex_lock(&init_mu);
  while (!loop_go) pthread_cond_wait(&init_cv, &init_mu);
  pthread_mutex_unlock(&init_mu);

  uint64_t last_in = now_us(), last_act = last_in, last_did = 0;
  double gap = -1;   /* the usual time between two incoming messages, microseconds */
  long nap_us = 5;
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);   /* naps of a few microseconds mean it */
  int stop_sent = 0;
  for (;;) {
    /* a pool hook polls MPI right now (an idle worker, a thread waiting
     * for a job): leave MPI and the CPU to it */
    uint64_t t_top = now_us(), since = t_top - atomic_load_explicit(&hook_last_us, memory_order_relaxed);
    if (!atomic_load(&deferred_any) && since < HOOK_FRESH_US && t_top - last_did >= HOOK_IDLE_US &&
        (since < HOOK_SEND_US || !out_pending())) {
      pthread_mutex_lock(&out_mu);
      int stop = stop_asked && !stop_sent;   /* the end is the comm thread's: go on to it */
      pthread_mutex_unlock(&out_mu);
      if (!stop) {
        comm_nap(HOOK_NAP_US, stop_sent, 1);   /* a nap, not a yield: a yield gives it every other turn of the CPU */
        last_act = now_us();
        continue;
      }
    }
    pthread_mutex_lock(&mpi_mu);
    int got = run_deferred();
    int sent = flush_out();
    reap_sends();
    got |= poll_in(1);
    int did = sent | got, end = 0;
    if (myrank == 0) {
      pthread_mutex_lock(&out_mu);
      int stop = stop_asked;
      pthread_mutex_unlock(&out_mu);
      if (stop && !stop_sent) {
        wbuf f = {0};
        wb_end(&f, wb_frame(&f, F_STOP));
        for (int r = 1; r < nranks; r++) send_to(r, &f);
        free(f.p);
        stop_sent = 1;
        did = 1;
      } else if (stop_sent && stopped_ranks == nranks - 1 && nsends == 0) {
        end = 1;
      }
    } else if (serve_stop && nsends == 0) {
      pthread_mutex_lock(&out_mu);
      end = !out_any;
      pthread_mutex_unlock(&out_mu);
    }
    if (end) mpi_closed = 1;   /* pool hooks make no more MPI calls */
    pthread_mutex_unlock(&mpi_mu);
    if (end) break;
    uint64_t t = now_us();
    if (got) {
      double g = (double)(t - last_in);
      gap = gap < 0 ? g : 0.8 * gap + 0.2 * g;
      last_in = t;
    }
    if (did) { last_act = last_did = t; nap_us = 5; continue; }
    double spin = gap >= 0 && gap < SPIN_MAX_US ? 2 * gap + 50 : 0;
    if (spin < SPIN_MIN_US) spin = SPIN_MIN_US;
    if (atomic_load_explicit(&quick_inflight, memory_order_relaxed) > 0 && spin < QUICK_SPIN_US) spin = QUICK_SPIN_US;
    if ((double)(t - last_act) < spin) { sched_yield(); continue; }
    comm_nap(nap_us, stop_sent, 0);
    if (nap_us < NAP_MAX_US) nap_us *= 2;
  }
  MPI_Finalize();
  pthread_mutex_lock(&out_mu);
  comm_done = 1;
  pthread_cond_broadcast(&done_cv);
  pthread_mutex_unlock(&out_mu);
  return NULL;
}

/* ---- rank 0: slots ------------------------------------------------------------- */

typedef struct waiter {
  struct waiter *next;
  int prio;
  sp_syncvar *sv;        /* written with rank + 1 when a slot is handed over */
} waiter;

typedef struct rstat { uint64_t jobs, failed, cancelled, busy_us; } rstat;

struct cl_pool {
  uint32_t id;
  pthread_mutex_t mu;
  int *w;                /* workers per rank */
  int *pf;               /* extra slots per rank while its jobs are short */
  int *used;             /* slots taken per rank */
  double *avg_us;        /* recent run time of a job per rank (-1: none yet) */
  rstat *st;
  waiter *waiters;       /* highest priority first, then in order of arrival */
  waiter *wtail;         /* the last one */
  /* startJob's jobs that found no free slot wait here unstarted (no fiber,
   * no stack), in the same order as waiters; a slot handed to one is
   * reserved for it (resv) and the job started (tostart, by whoever
   * handed it out, once cp->mu is let go). The job takes its reserved
   * slot when it runs (acquire); if it ends first (cancelled), its end
   * hook gives the slot back. */
  struct lnode *line, *ltail, *resv, *tostart;
  sp_pool *rp;           /* the rank-0 runtime pool the line starts jobs on */
  int closed;
};

/* One per job that went through admit, freed when the job ends (its end
 * hook) or, if that happens while start_handed or the close hold it, by
 * them. */
enum { L_LINE, L_START, L_RESV, L_USED, L_OUT };
typedef struct lnode {
  struct lnode *next, *prev;   /* line: both; resv, tostart: next */
  cl_pool *cp;
  sp_job *job;           /* L_LINE, L_START: a reference */
  int prio;
  int rank;              /* L_START, L_RESV: the slot's rank */
  int where;             /* L_*; L_OUT: taken out by the close, or ended in L_START */
} lnode;

static pthread_mutex_t pools_mu = PTHREAD_MUTEX_INITIALIZER;
static uint32_t npools;

static int free_slots(cl_pool *cp, int r) { return cp->w[r] + cp->pf[r] - cp->used[r]; }

/* the rank with most free slots (rank 0 on a tie), or -1; cp->mu held */
static int pick(cl_pool *cp) {
  int best = -1, most = 0;
  for (int r = 0; r < nranks; r++) {
    int f = free_slots(cp, r);
    if (f > most) { most = f; best = r; }
  }
  return best;
}

/* hand free slots to waiters and to the line, in priority order (a
 * waiter first on a tie: it started before); cp->mu held. Started jobs
 * of the line go to cp->tostart: the caller calls start_handed after
 * letting cp->mu go. */
static void hand_out(cl_pool *cp) {
  for (;;) {
    lnode *ln = cp->closed ? NULL : cp->line;
    if (!cp->waiters && !ln) return;
    int r = pick(cp);
    if (r < 0) return;
    if (ln && (!cp->waiters || ln->prio > cp->waiters->prio)) {
      cp->line = ln->next;
      if (cp->line) cp->line->prev = NULL;
      else cp->ltail = NULL;
      cp->used[r]++;
      ln->rank = r;
      ln->where = L_START;
      ln->next = cp->tostart;
      cp->tostart = ln;
      continue;
    }
    waiter *wt = cp->waiters;
    cp->waiters = wt->next;
    if (!cp->waiters) cp->wtail = NULL;
    cp->used[r]++;
    sp_syncvar_write(wt->sv, (void *)(intptr_t)(r + 1));
  }
}

/* the reservation of job (unlinked from resv), or NULL; cp->mu held */
static lnode *take_resv(cl_pool *cp, sp_job *job) {
  for (lnode **at = &cp->resv; *at; at = &(*at)->next)
    if ((*at)->job == job) {
      lnode *n = *at;
      *at = n->next;
      return n;
    }
  return NULL;
}

/* start the jobs hand_out took from the line (cp->mu not held), each with
 * its slot reserved first. A start refused (the job was cancelled
 * meanwhile, the pool is closing) ends the job, whose end hook hands its
 * slot to the next in line: that one is started by this loop, not by a
 * nested call (no recursion over a long line). */
static __thread int starting_handed;
static void start_handed(cl_pool *cp) {
  if (starting_handed) return;
  starting_handed = 1;
  for (;;) {
    pthread_mutex_lock(&cp->mu);
    lnode *l = cp->tostart, *rev = NULL;
    cp->tostart = NULL;
    pthread_mutex_unlock(&cp->mu);
    if (!l) break;
    while (l) { lnode *n = l->next; l->next = rev; rev = l; l = n; }   /* in the order taken */
    while (rev) {
      lnode *n = rev->next;
      sp_job *job = rev->job;
      pthread_mutex_lock(&cp->mu);
      int alive = rev->where == L_START;
      if (alive) {   /* reserved before it can run and ask for it */
        rev->where = L_RESV;
        rev->next = cp->resv;
        cp->resv = rev;
      }
      pthread_mutex_unlock(&cp->mu);
      if (!alive) free(rev);   /* it ended meanwhile: its hook gave the slot back */
      else if (sp_job_start(cp->rp, rev->prio, job) < 0) sp_job_cancel(job);
      sp_job_release(job);     /* the line's reference */
      rev = n;
    }
  }
  starting_handed = 0;
  sp_flush_wakes();
}

/* a job that went through admit has ended (or is freed unstarted): its
 * place in the line, or its reserved slot, is given back */
static void admitted_end(sp_job *job, void *ud) {
  (void)job;
  lnode *n = ud;
  cl_pool *cp = n->cp;
  int release = 0, keep = 0;
  pthread_mutex_lock(&cp->mu);
  switch (n->where) {
  case L_LINE:
    if (n->prev) n->prev->next = n->next; else cp->line = n->next;
    if (n->next) n->next->prev = n->prev; else cp->ltail = n->prev;
    release = 1;
    break;
  case L_START:   /* start_handed holds it: it frees it */
    cp->used[n->rank]--;
    n->where = L_OUT;
    keep = 1;
    break;
  case L_RESV:
    take_resv(cp, n->job);
    cp->used[n->rank]--;
    break;
  case L_OUT:     /* the close holds it */
    keep = 1;
    break;
  default:        /* L_USED: its slot went the usual way */
    break;
  }
  hand_out(cp);
  pthread_mutex_unlock(&cp->mu);
  start_handed(cp);
  if (release) sp_job_release(n->job);   /* the canceller holds it too */
  if (!keep) free(n);
}

/* startJob on a cluster pool, before the job is started: 1 when it
 * may start now (a slot is reserved for it), 0 when it waits in the line
 * unstarted (hand_out starts it on cp->rp when a slot is free). */
static int cl_admit(cl_pool *cp, sp_job *job, int prio) {
  lnode *n = calloc(1, sizeof *n);
  if (!n) return 1;   /* no reservation: it takes a slot when it runs */
  n->cp = cp;
  n->job = job;
  n->prio = prio;
  n->where = L_USED;   /* until placed below: an end meanwhile just frees it */
  if (sp_job_on_end(job, admitted_end, n) != 0) {
    free(n);
    return 1;
  }
  pthread_mutex_lock(&cp->mu);
  int r = cp->closed || cp->waiters || cp->line ? -1 : pick(cp);
  if (cp->closed) {   /* the start is refused; the hook frees n when the job goes */
    pthread_mutex_unlock(&cp->mu);
    return 1;
  }
  if (r >= 0) {
    cp->used[r]++;
    n->rank = r;
    n->where = L_RESV;
    n->next = cp->resv;
    cp->resv = n;
    pthread_mutex_unlock(&cp->mu);
    return 1;
  }
  sp_job_retain(job);
  sp_job_promise(job);   /* jobs may be scheduled on it meanwhile */
  n->where = L_LINE;
  lnode *after = cp->ltail;   /* the usual case: at the end */
  while (after && after->prio < prio) after = after->prev;
  n->prev = after;
  n->next = after ? after->next : cp->line;
  if (n->next) n->next->prev = n; else cp->ltail = n;
  if (after) after->next = n; else cp->line = n;
  pthread_mutex_unlock(&cp->mu);
  return 0;
}

static int cl_acquire(cl_pool *cp, int prio) {
  pthread_mutex_lock(&cp->mu);
  lnode *rv = cp->resv ? take_resv(cp, sp_job_current()) : NULL;
  if (rv) {   /* its slot was reserved at startJob, or in the line */
    rv->where = L_USED;
    int r = rv->rank;
    pthread_mutex_unlock(&cp->mu);
    return r;
  }
  int r = cp->waiters ? -1 : pick(cp);
  if (r >= 0) {
    cp->used[r]++;
    pthread_mutex_unlock(&cp->mu);
    return r;
  }
  waiter wt = {NULL, prio, sp_syncvar_create(NULL)};
  waiter **at = &cp->waiters;
  if (cp->wtail && cp->wtail->prio >= prio) at = &cp->wtail->next;   /* the usual case: at the end */
  else while (*at && (*at)->prio >= prio) at = &(*at)->next;
  wt.next = *at;
  *at = &wt;
  if (!wt.next) cp->wtail = &wt;
  pthread_mutex_unlock(&cp->mu);
  void *v = NULL;
  int rc = sp_syncvar_read(wt.sv, &v);
  if (rc == 0) {
    sp_syncvar_release(wt.sv);
    return (int)(intptr_t)v - 1;
  }
  /* cancelled while waiting: leave the line, or give back what came */
  pthread_mutex_lock(&cp->mu);
  waiter *prev = NULL;
  for (at = &cp->waiters; *at; prev = *at, at = &(*at)->next)
    if (*at == &wt) {
      *at = wt.next;
      if (cp->wtail == &wt) cp->wtail = prev;
      break;
    }
  if (sp_syncvar_written(wt.sv)) {
    sp_syncvar_read(wt.sv, &v);   /* written: returns at once */
    cp->used[(int)(intptr_t)v - 1]--;
    hand_out(cp);
  }
  pthread_mutex_unlock(&cp->mu);
  start_handed(cp);
  sp_syncvar_release(wt.sv);
  return -1;
}

static void slot_back(cl_pool *cp, int rank) {
  pthread_mutex_lock(&cp->mu);
  cp->used[rank]--;
  hand_out(cp);
  pthread_mutex_unlock(&cp->mu);
  start_handed(cp);
}

static void cl_done(cl_pool *cp, int rank, uint64_t us) {
  pthread_mutex_lock(&cp->mu);
  cp->st[rank].jobs++;
  cp->st[rank].busy_us += us;
  pthread_mutex_unlock(&cp->mu);
  slot_back(cp, rank);
}

static void pool_frame(wbuf *b, int type, cl_pool *cp, int r, unsigned slice_us) {
  size_t at = wb_frame(b, type);
  wb_u32(b, cp->id);
  wb_u32(b, (uint32_t)cp->w[r]);
  if (type == F_POOL) wb_u32(b, slice_us);
  wb_end(b, at);
}

static cl_pool *cl_pool_new(const int *w, unsigned slice_us, char *err, size_t errlen) {
  cl_pool *cp = calloc(1, sizeof *cp);
  if (!cp) { snprintf(err, errlen, "out of memory"); return NULL; }
  pthread_mutex_init(&cp->mu, NULL);
  cp->w = th_xcalloc((size_t)nranks, sizeof *cp->w);
  cp->pf = th_xcalloc((size_t)nranks, sizeof *cp->pf);
  cp->used = th_xcalloc((size_t)nranks, sizeof *cp->used);
  cp->avg_us = th_xcalloc((size_t)nranks, sizeof *cp->avg_us);
  cp->st = th_xcalloc((size_t)nranks, sizeof *cp->st);
  for (int r = 0; r < nranks; r++) { cp->w[r] = w[r]; cp->avg_us[r] = -1; }
  pthread_mutex_lock(&pools_mu);
  cp->id = ++npools;
  pthread_mutex_unlock(&pools_mu);
  /* slice_us 0 with SP_POOL_NOPREEMPT is sent as UINT32_MAX */
  for (int r = 1; r < nranks; r++) {
    wbuf f = {0};
    pool_frame(&f, F_POOL, cp, r, slice_us);
    send_to(r, &f);
    free(f.p);
  }
  return cp;
}

static int cl_local_threads(cl_pool *cp) { return cp->w[0] + 1; }

/* rank 0's runtime pool of cp: its idle workers, and the threads that
 * wait for its jobs, poll MPI themselves */
static void cl_attach(cl_pool *cp, sp_pool *rp) {
  pthread_mutex_lock(&cp->mu);
  cp->rp = rp;
  pthread_mutex_unlock(&cp->mu);
  pool_polls(rp);
}

static int cl_workers(cl_pool *cp, int rank) {
  pthread_mutex_lock(&cp->mu);
  int n = 0;
  for (int r = 0; r < nranks; r++) if (rank < 0 || r == rank) n += cp->w[r];
  pthread_mutex_unlock(&cp->mu);
  return n;
}

static int cl_set_workers(cl_pool *cp, const int *w) {
  pthread_mutex_lock(&cp->mu);
  for (int r = 0; r < nranks; r++) {
    int changed = cp->w[r] != w[r];
    cp->w[r] = w[r];
    if (!w[r]) cp->pf[r] = 0;
    if (changed && r > 0) {
      wbuf f = {0};
      pool_frame(&f, F_RESIZE, cp, r, 0);
      send_to(r, &f);
      free(f.p);
    }
  }
  hand_out(cp);
  pthread_mutex_unlock(&cp->mu);
  start_handed(cp);
  return 0;
}

static int cl_pool_close(cl_pool *cp) {
  pthread_mutex_lock(&cp->mu);
  int was = cp->closed;
  cp->closed = 1;
  lnode *l = cp->line;   /* never started: they end cancelled */
  cp->line = cp->ltail = NULL;
  for (lnode *x = l; x; x = x->next) x->where = L_OUT;
  pthread_mutex_unlock(&cp->mu);
  int n = 0;
  for (; l; n++) {
    lnode *nx = l->next;
    sp_job *job = l->job;
    sp_job_cancel(job);   /* its end hook leaves l to us */
    free(l);
    sp_job_release(job);
    l = nx;
  }
  if (was) return n;
  wbuf f = {0};
  size_t at = wb_frame(&f, F_CLOSE);
  wb_u32(&f, cp->id);
  wb_end(&f, at);
  for (int r = 1; r < nranks; r++) send_to(r, &f);
  free(f.p);
  /* cp stays: results of cancelled jobs may still come back to it */
  return n;
}

static spindle_value cl_stats(cl_pool *cp) {
  spindle_value l = api->make_list((size_t)nranks);
  pthread_mutex_lock(&cp->mu);
  for (int r = 0; r < nranks; r++) {
    char buf[200];
    int n = snprintf(buf, sizeof buf, "rank %d: workers %d, jobs %llu, failed %llu, cancelled %llu, busy_ms %llu", r,
                     cp->w[r], (unsigned long long)cp->st[r].jobs, (unsigned long long)cp->st[r].failed,
                     (unsigned long long)cp->st[r].cancelled, (unsigned long long)(cp->st[r].busy_us / 1000));
    api->list_set(l, (size_t)r, api->make_string(buf, (size_t)n));
  }
  pthread_mutex_unlock(&cp->mu);
  return l;
}

static int cl_cores(int rank) {
  if (rank >= 0) return rank < nranks ? rank_cores[rank] : 0;
  int n = 0;
  for (int r = 0; r < nranks; r++) n += rank_cores[r];
  return n;
}

/* ---- rank 0: globals and plugins the other ranks mirror ------------------------ */

/* Every global rank 0 has shipped, newest last; each rank has seen the
 * entries up to synced[rank]. A global changed again moves to the end. */
typedef struct gent {
  char *name;
  uint64_t seq;
  wbuf frame;
  struct gent *prev, *next, *hnext;
} gent;

static pthread_mutex_t sync_mu = PTHREAD_MUTEX_INITIALIZER;
static gent *g_head, *g_tail, *g_hash[1024];
static uint64_t g_seq, *synced;
static int nloaded_seen;

static size_t hash_name(const char *s) {
  size_t h = 5381;
  while (*s) h = h * 33 + (unsigned char)*s++;
  return h & 1023;
}

static gent *gent_for(const char *name) {
  size_t h = hash_name(name);
  for (gent *e = g_hash[h]; e; e = e->hnext)
    if (!strcmp(e->name, name)) return e;
  gent *e = th_xcalloc(1, sizeof *e);
  e->name = th_xstrdup(name);
  e->hnext = g_hash[h];
  g_hash[h] = e;
  return e;
}

static void gent_touch(gent *e) {
  if (e->seq) {   /* unlink */
    if (e->prev) e->prev->next = e->next; else g_head = e->next;
    if (e->next) e->next->prev = e->prev; else g_tail = e->prev;
  }
  e->seq = ++g_seq;
  e->prev = g_tail;
  e->next = NULL;
  if (g_tail) g_tail->next = e; else g_head = e;
  g_tail = e;
}

static void global_changed(void *ud, const char *name, spindle_value v, int decl) {
  spindle_ctx *C = ud;
  gent *e = gent_for(name);
  e->frame.n = 0;
  size_t at = wb_frame(&e->frame, F_GLOBAL);
  wb_str(&e->frame, name);
  const char *file = NULL;
  int line = 0;
  char *src = v.type == SPINDLE_T_PROC ? api->proc_source(v, &file, &line) : NULL;
  char *bytes = NULL;
  size_t len = 0;
  if (src) {
    wb_u8(&e->frame, G_PROC);
    wb_str(&e->frame, src);
    wb_str(&e->frame, file ? file : "");
    wb_u32(&e->frame, (uint32_t)line);
    free(src);
  } else if (decl != -1 && api->encode(C, v, &bytes, &len) == 0) {
    wb_u8(&e->frame, G_VALUE);
    wb_u32(&e->frame, (uint32_t)(decl < SPINDLE_T_FIRST_USER ? decl : -1));
    wb_bytes(&e->frame, bytes, len);
    free(bytes);
  } else {   /* killed, or a value that cannot cross: undefined there */
    api->clear_error(C);
    wb_u8(&e->frame, G_KILL);
  }
  wb_end(&e->frame, at);
  gent_touch(e);
}

/* what rank has not seen yet, appended to out; sync_mu held */
static void sync_collect(spindle_ctx *C, int rank, wbuf *out) {
  api->globals_changed(C, global_changed, C);
  const char *nm;
  for (; (nm = api->loaded(nloaded_seen)); nloaded_seen++) {
    size_t k = strlen(nm);
    if (k < 3 || strcmp(nm + k - 3, ".so") || !strcmp(nm, "cluster.so")) continue;
    char key[300];
    snprintf(key, sizeof key, "\001load %s", nm);
    gent *e = gent_for(key);
    e->frame.n = 0;
    size_t at = wb_frame(&e->frame, F_LOAD);
    wb_str(&e->frame, nm);
    wb_end(&e->frame, at);
    gent_touch(e);
  }
  gent *e = g_tail;
  while (e && e->prev && e->prev->seq > synced[rank]) e = e->prev;
  for (; e; e = e->next)
    if (e->seq > synced[rank]) wb_put(out, e->frame.p, e->frame.n);
  synced[rank] = g_seq;
}

/* ---- rank 0: jobs on other ranks ------------------------------------------------ */

/* Jobs in flight by id: rank 0's requests, another rank's served jobs.
 * An entry starts with its idlink. */
typedef struct idlink { uint64_t id; struct idlink *next; } idlink;
typedef struct idtab { pthread_mutex_t mu; idlink *b[4096]; } idtab;

static void idtab_put(idtab *t, idlink *e) {
  pthread_mutex_lock(&t->mu);
  e->next = t->b[e->id & 4095];
  t->b[e->id & 4095] = e;
  pthread_mutex_unlock(&t->mu);
}

/* where id's entry is linked (t->mu held) */
static idlink **idtab_at(idtab *t, uint64_t id) {
  idlink **at = &t->b[id & 4095];
  while (*at && (*at)->id != id) at = &(*at)->next;
  return at;
}

/* id's entry, unlinked; NULL if none */
static idlink *idtab_take(idtab *t, uint64_t id) {
  pthread_mutex_lock(&t->mu);
  idlink **at = idtab_at(t, id), *e = *at;
  if (e) *at = e->next;
  pthread_mutex_unlock(&t->mu);
  return e;
}

/* a job ready to send: everything but its id */
typedef struct prepared { wbuf body; } prepared;

typedef struct req {
  idlink link;           /* first: the request's id */
  cl_pool *cp;
  int rank;
  _Atomic int refs;      /* the sender and the table */
  sp_syncvar *sv;        /* run: the result frame's body, a malloc'ed wbuf */
  sp_job *job;           /* run_detached: the job to complete (a reference) */
  void *(*box)(spindle_value);
  void (*unbox)(void *);
  int sent;              /* run_detached: F_JOB queued (sync_mu) */
  int cancel_asked;      /* the job was cancelled (sync_mu and reqs.mu) */
  int quick;             /* counted in quick_inflight */
} req;

static idtab reqs = {.mu = PTHREAD_MUTEX_INITIALIZER};
static _Atomic uint64_t req_ids;

static void req_unref(req *q) {
  if (atomic_fetch_sub(&q->refs, 1) != 1) return;
  if (q->sv && sp_syncvar_written(q->sv)) {
    void *v;
    sp_syncvar_read(q->sv, &v);
    wbuf *b = v;
    free(b->p);
    free(b);
  }
  if (q->sv) sp_syncvar_release(q->sv);
  if (q->job) sp_job_release(q->job);
  free(q);
}

static req *req_new(cl_pool *cp, int rank) {
  req *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  q->link.id = atomic_fetch_add(&req_ids, 1) + 1;
  q->cp = cp;
  q->rank = rank;
  atomic_init(&q->refs, 2);
  pthread_mutex_lock(&cp->mu);
  q->quick = cp->avg_us[rank] < QUICK_US;   /* none yet (-1): likely quick too */
  pthread_mutex_unlock(&cp->mu);
  return q;
}

/* the frames of a job for rank q->rank: the globals it has not seen, then
 * the job; sync_mu held, so that no other job overtakes its definitions */
static void queue_job(req *q, spindle_ctx *C, prepared *pm) {
  wbuf out = {0};
  sync_collect(C, q->rank, &out);
  size_t at = wb_frame(&out, F_JOB);
  wb_u64(&out, q->link.id);
  wb_u32(&out, q->cp->id);
  wb_u32(&out, (uint32_t)sp_job_priority(sp_job_current()));
  wb_put(&out, pm->body.p, pm->body.n);
  wb_end(&out, at);
  send_to(q->rank, &out);
  free(out.p);
}

static void send_cancel(int rank, uint64_t id) {
  wbuf f = {0};
  size_t at = wb_frame(&f, F_CANCEL);
  wb_u64(&f, id);
  wb_end(&f, at);
  send_to(rank, &f);
  free(f.p);
}


static void *cl_prepare(cl_pool *cp, spindle_ctx *C, const char *name, spindle_value fn, int argc,
                        const spindle_value *argv) {
  (void)cp;
  prepared *m = th_xcalloc(1, sizeof *m);
  wbuf *b = &m->body;
  wb_str(b, name ? name : "");
  const char *pn = api->proc_name(fn);
  spindle_value g = api->none();
  int global = pn && *pn && api->lookup(C, pn, &g) == 0 && g.type == fn.type && g.u.p == fn.u.p;
  api->release(g);
  api->clear_error(C);
  if (fn.type == SPINDLE_T_PROC && global) {
    wb_u8(b, FN_GLOBAL);
    wb_str(b, pn);
  } else if (fn.type == SPINDLE_T_PROC) {
    const char *file = NULL;
    int line = 0;
    char *src = api->proc_source(fn, &file, &line);
    if (!src) goto uncrossable;
    wb_u8(b, FN_SOURCE);
    wb_str(b, src);
    wb_str(b, file ? file : "");
    wb_u32(b, (uint32_t)line);
    free(src);
  } else if (fn.type == SPINDLE_T_BUILTIN && global) {
    wb_u8(b, FN_BUILTIN);
    wb_str(b, pn);
  } else {
    goto uncrossable;
  }
  wb_u32(b, (uint32_t)argc);
  for (int i = 0; i < argc; i++) {
    char *bytes;
    size_t len;
    if (api->encode(C, argv[i], &bytes, &len) < 0) {
      char *why = th_xstrdup(api->errmsg(C));
      api->clear_error(C);
      api->error(C, "argument %d (%s) cannot cross to another rank of a cluster pool: %s", i + 1,
                 api->type_name(argv[i]), why ? why : "?");
      free(why);
      free(m->body.p);
      free(m);
      return NULL;
    }
    wb_bytes(b, bytes, len);
    free(bytes);
  }
  return m;
uncrossable:
  api->error(C, "its function (a %s) cannot cross to another rank of a cluster pool: only procs and "
             "builtins named by a global can", api->type_name(fn));
  free(m->body.p);
  free(m);
  return NULL;
}

static void cl_discard(void *m) {
  prepared *p = m;
  if (p) free(p->body.p);
  free(p);
}

/* A rank's report of a job's end: 0 with *ret (its result, decoded in
 * C), or -1 with *msg (malloc'ed, NULL when out of memory): the job's
 * error, naming the rank */
static int read_report(spindle_ctx *C, int rank, int status, const char *bytes, size_t len, int bad,
                       spindle_value *ret, char **msg) {
  *ret = api->none();
  *msg = NULL;
  int n;
  if (bad) {
    n = asprintf(msg, "a malformed result from rank %d", rank);
  } else if (status == R_DONE && len && api->decode(C, bytes, len, ret) < 0) {
    n = asprintf(msg, "the result from rank %d: %s", rank, api->errmsg(C));
    api->clear_error(C);
  } else if (status == R_FAILED) {
    n = asprintf(msg, "%.*s (on rank %d)", (int)len, bytes, rank);
  } else if (status == R_CANCELLED) {
    n = asprintf(msg, "cancelled on rank %d", rank);
  } else {
    return 0;
  }
  if (n < 0) *msg = NULL;
  return -1;
}

static int cl_run(cl_pool *cp, int rank, void *m, spindle_ctx *C, spindle_value *ret) {
  prepared *pm = m;
  req *q = req_new(cp, rank);
  q->sv = sp_syncvar_create(NULL);
  if (q->quick) atomic_fetch_add(&quick_inflight, 1);
  sp_waker_add();   /* the result (the comm thread) wakes this job: no deadlock meanwhile */
  idtab_put(&reqs, &q->link);
  pthread_mutex_lock(&sync_mu);
  queue_job(q, C, pm);
  pthread_mutex_unlock(&sync_mu);
  cl_discard(pm);

  void *v = NULL;
  if (sp_syncvar_read(q->sv, &v) != 0) {   /* cancelled: tell the rank, leave the rest to the comm thread */
    send_cancel(rank, q->link.id);
    req_unref(q);
    return api->error(C, "cancelled");
  }
  wbuf *res = v;
  rbuf r = {(const uint8_t *)res->p, (const uint8_t *)res->p + res->n, 0};
  int status = rb_u8(&r);
  (void)rb_u64(&r);   /* run time: counted by the comm thread */
  size_t len;
  const char *bytes = rb_bytes(&r, &len);
  char *msg;
  int rc = read_report(C, rank, status, bytes, len, r.bad, ret, &msg);
  if (rc < 0) {
    rc = api->error(C, "%s", msg ? msg : "out of memory");
    free(msg);
  }
  req_unref(q);
  return rc;
}

/* on_cancel of a detached job (any thread): a job already sent is
 * cancelled on its rank, which then reports it; one not sent yet is not
 * sent. sync_mu orders the F_CANCEL after the F_JOB. */
static void detached_cancel(sp_job *job, void *ud) {
  (void)job;
  uint64_t id = (uint64_t)(uintptr_t)ud;
  pthread_mutex_lock(&sync_mu);
  pthread_mutex_lock(&reqs.mu);
  req *q = (req *)*idtab_at(&reqs, id);
  int sent = 0, rank = 0;
  if (q) {
    q->cancel_asked = 1;
    sent = q->sent;
    rank = q->rank;
  }
  pthread_mutex_unlock(&reqs.mu);
  if (sent) send_cancel(rank, id);
  pthread_mutex_unlock(&sync_mu);
}

static int cl_run_detached(cl_pool *cp, int rank, void *m, spindle_ctx *C, void *(*box)(spindle_value),
                           void (*unbox)(void *)) {
  prepared *pm = m;
  req *q = req_new(cp, rank);
  sp_job *job = sp_job_current();
  if (!q || !job) {
    free(q);
    cl_discard(pm);
    slot_back(cp, rank);
    return api->error(C, q ? "not inside a job" : "out of memory");
  }
  sp_job_retain(job);
  q->job = job;
  q->box = box;
  q->unbox = unbox;
  idtab_put(&reqs, &q->link);
  /* detached before it is sent: its result can never come first */
  int rc = sp_job_detach(detached_cancel, (void *)(uintptr_t)q->link.id);
  if (rc < 0) {
    if (idtab_take(&reqs, q->link.id)) req_unref(q);
    req_unref(q);
    cl_discard(pm);
    slot_back(cp, rank);
    return api->error(C, "cannot detach the job: %s", sp_strerror(rc));
  }
  pthread_mutex_lock(&sync_mu);
  pthread_mutex_lock(&reqs.mu);
  int asked = q->cancel_asked;
  pthread_mutex_unlock(&reqs.mu);
  if (!asked) {
    if (q->quick) atomic_fetch_add(&quick_inflight, 1);
    queue_job(q, C, pm);
    q->sent = 1;
  }
  pthread_mutex_unlock(&sync_mu);
  cl_discard(pm);
  if (asked) {   /* cancelled before it went: it ends when its function returns */
    if (idtab_take(&reqs, q->link.id)) req_unref(q);
    slot_back(cp, rank);
    sp_job_complete(job, SP_JOB_CANCELLED, NULL, NULL);
  }
  req_unref(q);
  return 1;
}

/* the comm thread: end the detached job of q with the rank's report */
static void complete_detached(req *q, int src, int status, const char *bytes, size_t len, int bad) {
  if (q->cancel_asked) {
    sp_job_complete(q->job, SP_JOB_CANCELLED, NULL, NULL);
    return;
  }
  spindle_value v;
  char *msg;
  if (read_report(comm_ctx, src, status, bytes, len, bad, &v, &msg) < 0) {
    sp_job_complete(q->job, SP_JOB_FAILED, NULL, msg ? msg : "out of memory");
    free(msg);
    return;
  }
  void *res = v.type != SPINDLE_T_NONE ? q->box(v) : NULL;
  if (sp_job_complete(q->job, SP_JOB_DONE, res, NULL) < 0 && res) q->unbox(res);
}

/* the comm thread: a result from rank src */
static void got_result(int src, rbuf *r) {
  uint64_t id = rb_u64(r);
  size_t start = (size_t)(r->end - r->p);
  const uint8_t *body = r->p;
  req *q = (req *)idtab_take(&reqs, id);
  if (!q) return;
  if (q->quick) atomic_fetch_sub(&quick_inflight, 1);
  rbuf peek = {body, body + start, 0};
  int status = rb_u8(&peek);
  uint64_t us = rb_u64(&peek);
  cl_pool *cp = q->cp;
  pthread_mutex_lock(&cp->mu);
  rstat *st = &cp->st[src];
  st->jobs++;
  st->busy_us += us;
  if (status == R_FAILED) st->failed++;
  if (status == R_CANCELLED) st->cancelled++;
  /* prefetch while this rank's jobs are short: a few jobs queued there
   * cover the round trip; none for jobs of 0.5 ms or more, so that
   * uneven jobs never wait behind a long one while another rank idles */
  double avg = cp->avg_us[src] < 0 ? (double)us : 0.75 * cp->avg_us[src] + 0.25 * (double)us;
  cp->avg_us[src] = avg;
  int w = cp->w[src];
  cp->pf[src] = !w ? 0 : avg < 20 ? 64 * w : avg < 100 ? 16 * w : avg < 500 ? 4 * w : 0;
  cp->used[src]--;
  hand_out(cp);
  pthread_mutex_unlock(&cp->mu);
  start_handed(cp);
  r->p += start;
  if (q->job) {   /* a detached job: end it here, no fiber to wake */
    size_t len;
    const char *bytes = rb_bytes(&peek, &len);
    complete_detached(q, src, status, bytes, len, peek.bad);
    req_unref(q);
    return;
  }
  wbuf *b = th_xcalloc(1, sizeof *b);
  wb_put(b, body, start);
  sp_syncvar_write(q->sv, b);
  sp_waker_remove();
  req_unref(q);
}

static void got_output(rbuf *r) {
  size_t len;
  const char *s = rb_bytes(r, &len);
  if (len) {
    fwrite(s, 1, len, stdout);
    fflush(stdout);
  }
}

/* ---- other ranks: serving jobs -------------------------------------------------- */

typedef struct spool { uint32_t id; sp_pool *p; int w; } spool;
static spool *spools;
static uint32_t nspools;

typedef struct sjob {
  idlink link;           /* first: rank 0's id of the job */
  uint32_t pool;
  int prio;
  char *name;
  spindle_value fn;
  wbuf args;             /* argc, then each argument's bytes */
  sp_job *job;           /* the table's reference */
  _Atomic int claimed;   /* the job ran, or its end was reported */
} sjob;

static idtab served = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void sj_free(sjob *j) {
  api->release(j->fn);
  free(j->name);
  free(j->args.p);
  if (j->job) sp_job_release(j->job);
  free(j);
}

/* report j's end to rank 0 (status and payload) and forget it */
static void sj_report(sjob *j, int status, uint64_t us, const char *bytes, size_t len) {
  fflush(stdout);   /* what it printed goes first */
  wbuf f = {0};
  size_t at = wb_frame(&f, F_RESULT);
  wb_u64(&f, j->link.id);
  wb_u8(&f, (uint8_t)status);
  wb_u64(&f, us);
  wb_bytes(&f, bytes, len);
  wb_end(&f, at);
  send_to(0, &f);
  free(f.p);
  sjob *t = (sjob *)idtab_take(&served, j->link.id);
  if (t) sj_free(t);
}

static pthread_mutex_t cx_mu = PTHREAD_MUTEX_INITIALIZER;
static spindle_ctx *cx_free[256];
static int ncx_free;

static spindle_ctx *cx_get(void) {
  spindle_ctx *C = NULL;
  pthread_mutex_lock(&cx_mu);
  if (ncx_free) C = cx_free[--ncx_free];
  pthread_mutex_unlock(&cx_mu);
  return C ? C : api->new_context(comm_ctx);
}
static void cx_put(spindle_ctx *C) {
  api->set_poll(C, NULL, NULL, NULL);
  pthread_mutex_lock(&cx_mu);
  int keep = ncx_free < 256;
  if (keep) cx_free[ncx_free++] = C;
  pthread_mutex_unlock(&cx_mu);
  if (!keep) api->free_context(C);
}

static int job_poll(void *ud) {
  (void)ud;
  return sp_checkpoint() == SP_ECANCELED;
}

static void *serve_job(void *arg) {
  sjob *j = arg;
  if (atomic_exchange(&j->claimed, 1)) return NULL;
  uint64_t t0 = now_us();
  spindle_ctx *C = cx_get();
  api->set_poll(C, sp_poll_flag(), job_poll, NULL);
  rbuf r = {(const uint8_t *)j->args.p, (const uint8_t *)j->args.p + j->args.n, 0};
  uint32_t argc = rb_u32(&r);
  int rc = 0;
  if (argc > (size_t)(r.end - r.p) / 4) {   /* each argument has at least its length */
    rc = api->error(C, "a malformed job from rank 0");
    argc = 0;
  }
  spindle_value small[8], *a = argc <= 8 ? small : calloc(argc, sizeof *a);
  uint32_t got = 0;
  for (; got < argc && rc == 0; got++) {
    size_t len;
    const char *bytes = rb_bytes(&r, &len);
    if (r.bad) rc = api->error(C, "a malformed job from rank 0");
    else rc = api->decode(C, bytes, len, &a[got]);
    if (rc < 0) break;
  }
  spindle_value res = api->none();
  if (rc == 0) rc = api->call(C, j->fn, (int)argc, a, &res);
  for (uint32_t i = 0; i < got; i++) api->release(a[i]);
  if (a != small) free(a);
  uint64_t us = now_us() - t0;
  if (sp_job_cancelled()) {
    api->release(res);
    sj_report(j, R_CANCELLED, us, "", 0);
  } else if (rc < 0) {
    const char *e = api->errmsg(C);
    sj_report(j, R_FAILED, us, e, strlen(e));
  } else {
    char *bytes = NULL;
    size_t len = 0;
    if (res.type != SPINDLE_T_NONE && api->encode(C, res, &bytes, &len) < 0) {
      char msg[300];
      snprintf(msg, sizeof msg, "the result is a %s, which cannot cross from another rank of a cluster pool "
               "(only int, bigint, string, list, intvec, intmat, newstruct and none can)", api->type_name(res));
      sj_report(j, R_FAILED, us, msg, strlen(msg));
    } else {
      sj_report(j, R_DONE, us, bytes ? bytes : "", len);
    }
    free(bytes);
    api->release(res);
  }
  api->clear_error(C);
  cx_put(C);
  return NULL;
}

static spool *spool_of(uint32_t id) { return id >= 1 && id <= nspools ? &spools[id - 1] : NULL; }

/* jobs of pool (0: any) that never ran: report them cancelled. The claim
 * is made under the table's lock, where the job is still linked (only
 * its claimer reports and frees it). */
static void report_unrun(uint32_t pool) {
  for (int h = 0; h < 4096; h++) {
    for (;;) {
      pthread_mutex_lock(&served.mu);
      sjob *j = (sjob *)served.b[h];
      while (j && !((!pool || j->pool == pool) && sp_job_finished(j->job) && !atomic_load(&j->claimed)))
        j = (sjob *)j->link.next;
      int mine = j && !atomic_exchange(&j->claimed, 1);
      pthread_mutex_unlock(&served.mu);
      if (!mine) break;
      sj_report(j, R_CANCELLED, 0, "", 0);
    }
  }
}

static void serve_frame(int type, rbuf *r) {
  switch (type) {
  case F_GLOBAL: {
    char *name = rb_str(r);
    int kind = rb_u8(r);
    spindle_value v = api->none();
    int rc = 0;
    if (kind == G_PROC) {
      char *src = rb_str(r), *file = rb_str(r);
      int line = (int)rb_u32(r);
      rc = api->make_proc(comm_ctx, src, *file ? file : NULL, line, &v);
      if (rc == 0) api->set_global(comm_ctx, name, v, SPINDLE_T_PROC);
      free(src);
      free(file);
    } else if (kind == G_VALUE) {
      int decl = (int)rb_u32(r);
      size_t len;
      const char *bytes = rb_bytes(r, &len);
      rc = r->bad ? -1 : api->decode(comm_ctx, bytes, len, &v);
      if (rc == 0) api->set_global(comm_ctx, name, v, decl);
    } else {
      api->set_global(comm_ctx, name, api->none(), -2);
    }
    if (rc < 0 || r->bad)
      fprintf(stderr, "spindle: rank %d: cannot mirror the global `%s`: %s\n", myrank, name,
              r->bad ? "malformed frame" : api->errmsg(comm_ctx));
    api->clear_error(comm_ctx);
    api->release(v);
    free(name);
    break;
  }
  case F_LOAD: {
    char *name = rb_str(r);
    spindle_value a = api->make_string(name, strlen(name)), ret;
    if (api->call_name(comm_ctx, "load", 1, &a, &ret) < 0)
      fprintf(stderr, "spindle: rank %d: %s\n", myrank, api->errmsg(comm_ctx));
    else api->release(ret);
    api->clear_error(comm_ctx);
    api->release(a);
    free(name);
    break;
  }
  case F_POOL: {
    uint32_t id = rb_u32(r), w = rb_u32(r), slice = rb_u32(r);
    if (id != nspools + 1) break;   /* ids come in order */
    spools = th_xrealloc(spools, (size_t)id * sizeof *spools);
    spool *s = &spools[id - 1];
    nspools = id;
    s->id = id;
    s->w = (int)w;
    s->p = NULL;
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = (int)w;
    if (slice == UINT32_MAX) o.flags |= SP_POOL_NOPREEMPT;
    else if (slice) o.slice_us = slice;
    if (w > 0 && !(s->p = sp_pool_create_opts(&o)))
      fprintf(stderr, "spindle: rank %d: cannot create a pool of %u workers\n", myrank, w);
    pool_polls(s->p);
    break;
  }
  case F_RESIZE: {
    spool *s = spool_of(rb_u32(r));
    uint32_t w = rb_u32(r);
    if (!s) break;
    if (s->p && w > 0) sp_pool_set_workers(s->p, (int)w);
    else if (!s->p && w > 0) {
      sp_pool_opts o;
      sp_pool_opts_init(&o);
      o.nworkers = (int)w;
      s->p = sp_pool_create_opts(&o);
      pool_polls(s->p);
    }
    s->w = (int)w;   /* 0: rank 0 sends no more jobs; the workers stay */
    break;
  }
  case F_CLOSE: {
    spool *s = spool_of(rb_u32(r));
    if (!s || !s->p) break;
    sp_pool_close(s->p, 0);
    s->p = NULL;
    report_unrun(s->id);
    break;
  }
  case F_JOB: {
    sjob *j = th_xcalloc(1, sizeof *j);
    j->link.id = rb_u64(r);
    j->pool = rb_u32(r);
    j->prio = (int)rb_u32(r);
    j->name = rb_str(r);
    int kind = rb_u8(r);
    int rc = 0;
    j->fn = api->none();
    if (kind == FN_GLOBAL || kind == FN_BUILTIN) {
      char *pn = rb_str(r);
      rc = api->lookup(comm_ctx, pn, &j->fn);
      free(pn);
    } else {
      char *src = rb_str(r), *file = rb_str(r);
      int line = (int)rb_u32(r);
      rc = api->make_proc(comm_ctx, src, *file ? file : NULL, line, &j->fn);
      free(src);
      free(file);
    }
    wb_put(&j->args, r->p, (size_t)(r->end - r->p));
    r->p = r->end;
    spool *s = spool_of(j->pool);
    idtab_put(&served, &j->link);
    if (rc < 0 || !s || !s->p) {
      const char *e = rc < 0 ? api->errmsg(comm_ctx) : "its pool is closed there";
      atomic_store(&j->claimed, 1);
      sj_report(j, R_FAILED, 0, e, strlen(e));
      api->clear_error(comm_ctx);
      break;
    }
    j->job = sp_job_create(serve_job, j);
    sp_job_set_flags(j->job, SP_JOB_DEFER_CANCEL | SP_JOB_CANCEL_ON_RETURN);
    sp_job_set_name(j->job, j->name);
    if (sp_job_start(s->p, j->prio, j->job) < 0 && !atomic_exchange(&j->claimed, 1)) {
      const char *e = "its pool is closed there";
      sj_report(j, R_FAILED, 0, e, strlen(e));
    }
    break;
  }
  case F_CANCEL: {
    uint64_t id = rb_u64(r);
    pthread_mutex_lock(&served.mu);
    sjob *j = (sjob *)*idtab_at(&served, id);
    sp_job *job = j && j->job ? j->job : NULL;
    if (job) sp_job_retain(job);
    pthread_mutex_unlock(&served.mu);
    if (!job) break;
    sp_job_cancel(job);
    if (sp_job_finished(job)) {   /* cancelled before it ran: it never will, say so here */
      pthread_mutex_lock(&served.mu);
      j = (sjob *)*idtab_at(&served, id);
      int mine = j && !atomic_exchange(&j->claimed, 1);
      pthread_mutex_unlock(&served.mu);
      if (mine) sj_report(j, R_CANCELLED, 0, "", 0);
    }
    sp_job_release(job);
    break;
  }
  case F_STOP:
    for (uint32_t i = 0; i < nspools; i++)
      if (spools[i].p) { sp_pool_close(spools[i].p, 0); spools[i].p = NULL; }
    report_unrun(0);
    fflush(stdout);
    {
      wbuf f = {0};
      wb_end(&f, wb_frame(&f, F_STOPPED));
      send_to(0, &f);
      free(f.p);
    }
    serve_stop = 1;
    break;
  default:
    break;
  }
}

/* every frame of one message from src */
static void handle(int src, const uint8_t *p, size_t n) {
  rbuf all = {p, p + n, 0};
  while (all.p < all.end && !all.bad) {
    int type = rb_u8(&all);
    uint32_t len = rb_u32(&all);
    if (!rb_has(&all, len)) break;
    rbuf r = {all.p, all.p + len, 0};
    all.p += len;
    if (myrank == 0) {
      if (type == F_RESULT) got_result(src, &r);
      else if (type == F_OUTPUT) got_output(&r);
      else if (type == F_STOPPED) stopped_ranks++;
    } else if (src == 0) {
      serve_frame(type, &r);
    }
  }
  if (all.bad) fprintf(stderr, "spindle: rank %d: a malformed message from rank %d\n", myrank, src);
}

/* ---- stdout of the other ranks: lines to rank 0 -------------------------------- */

static ssize_t out_write(void *cookie, const char *buf, size_t n) {
  (void)cookie;
  wbuf f = {0};
  size_t at = wb_frame(&f, F_OUTPUT);
  wb_bytes(&f, buf, n);
  wb_end(&f, at);
  send_to(0, &f);
  free(f.p);
  return (ssize_t)n;
}

/* ---- start and end --------------------------------------------------------------- */

static void at_exit(void) {
  /* rank 0's script is over (the threads plugin closed its pools first:
   * its exit hook was registered after this one) */
  pthread_mutex_lock(&out_mu);
  stop_asked = 1;
  pthread_cond_signal(&out_cv);
  /* after SIGINT/SIGTERM mpirun is ending every rank anyway (and one may
   * be dead): no long wait for their goodbyes */
  int sig = sp_shutting_down();
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (sig) ts.tv_nsec += 200000000;
  else ts.tv_sec += 10;
  if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
  while (!comm_done)
    if (pthread_cond_timedwait(&done_cv, &out_mu, &ts) != 0) break;
  int done = comm_done;
  pthread_mutex_unlock(&out_mu);
  if (!done && !sig) {
    fflush(stdout);
    fputs("spindle: the other ranks did not stop within 10 seconds\n", stderr);
    fflush(stderr);
    _exit(1);
  }
}

static void serve_signal(int signo) {
  fflush(stdout);
  _exit(128 + signo);
}

static void go(void) {
  pthread_mutex_lock(&init_mu);
  loop_go = 1;
  pthread_cond_broadcast(&init_cv);
  pthread_mutex_unlock(&init_mu);
}

static const spindle_cluster iface = {
  .cores = cl_cores,
  .pool_new = cl_pool_new,
  .local_threads = cl_local_threads,
  .attach = cl_attach,
  .workers = cl_workers,
  .set_workers = cl_set_workers,
  .pool_close = cl_pool_close,
  .prepare = cl_prepare,
  .admit = cl_admit,
  .acquire = cl_acquire,
  .done = cl_done,
  .giveback = slot_back,
  .run = cl_run,
  .run_detached = cl_run_detached,
  .discard = cl_discard,
  .stats = cl_stats,
};
static spindle_cluster the_iface;

int spindle_plugin_abi = SPINDLE_PLUGIN_ABI;

int spindle_plugin_init(spindle_reg *reg) {
  SPINDLE_PLUGIN_CHECK(reg);
  api = reg->api;
  if (api->size < offsetof(struct spindle_api, service) + sizeof api->service)
    return api->fail(reg, "the cluster plugin needs a newer spindle");
  comm_ctx = api->new_context(reg->ctx);
  if (pthread_create(&comm_thread, NULL, comm_main, NULL) != 0)
    return api->fail(reg, "cannot start the cluster's communication thread");
  pthread_mutex_lock(&init_mu);
  while (!init_state) pthread_cond_wait(&init_cv, &init_mu);
  pthread_mutex_unlock(&init_mu);
  if (init_state < 0) {
    pthread_join(comm_thread, NULL);
    return api->fail(reg, "MPI_Init_thread failed");
  }
  synced = th_xcalloc((size_t)nranks, sizeof *synced);
  if (myrank == 0) {
    the_iface = iface;
    the_iface.size = nranks;
    if (nranks > 1) api->provide(reg, CL_SERVICE, &the_iface);
    atexit(at_exit);
    go();
    return 0;
  }
  /* another rank: serve jobs until rank 0 ends, then exit; a signal ends
   * it at once and quietly (rank 0 tells the story) */
  api->on_signal(reg, serve_signal);
  spindle_value a = api->make_string("threads.so", 10), ret;
  if (api->call_name(reg->ctx, "load", 1, &a, &ret) == 0) api->release(ret);
  else fprintf(stderr, "spindle: rank %d: %s\n", myrank, api->errmsg(reg->ctx));
  api->release(a);
  cookie_io_functions_t io = {.write = out_write};
  FILE *f = fopencookie(NULL, "w", io);
  if (f) {
    fflush(stdout);
    setvbuf(f, NULL, _IOLBF, 0);
    stdout = f;
  }
  go();
  pthread_join(comm_thread, NULL);
  _exit(0);
}
