/*
 * pool.c - pools: creation, close, reference counts, the registry of
 * live pools (creation order, for shutdown and the monitor), counters.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

_Atomic int sp__shutdown_flag;

static pthread_mutex_t g_reg = PTHREAD_MUTEX_INITIALIZER;
static sp_pool *g_head, *g_tail;

void sp__registry_lock(void) { pthread_mutex_lock(&g_reg); }
void sp__registry_unlock(void) { pthread_mutex_unlock(&g_reg); }
sp_pool *sp__registry_last(void) { return g_tail; }

_Atomic int sp__npseudo;

/* A pseudo pool with queued jobs, retained (it may be dying: refs 0). */
sp_pool *sp__pseudo_with_work(void)
{
    sp_pool *found = NULL;
    pthread_mutex_lock(&g_reg);
    for (sp_pool *p = g_head; p && !found; p = p->reg_next) {
        if (p->nworkers != 0 || atomic_load(&p->q.n) == 0)
            continue;
        int r = atomic_load(&p->refs);
        while (r > 0 && !atomic_compare_exchange_weak(&p->refs, &r, r + 1))
            ;
        if (r > 0)
            found = p;
    }
    pthread_mutex_unlock(&g_reg);
    return found;
}

static void reg_add(sp_pool *p)
{
    pthread_mutex_lock(&g_reg);
    p->reg_prev = g_tail;
    p->reg_next = NULL;
    if (g_tail)
        g_tail->reg_next = p;
    else
        g_head = p;
    g_tail = p;
    pthread_mutex_unlock(&g_reg);
}

/* Pools not freed yet (tests) */
long sp__pool_live_count(void)
{
    long n = 0;
    pthread_mutex_lock(&g_reg);
    for (sp_pool *p = g_head; p; p = p->reg_next)
        n++;
    pthread_mutex_unlock(&g_reg);
    return n;
}

static void reg_del(sp_pool *p)
{
    pthread_mutex_lock(&g_reg);
    if (p->reg_prev)
        p->reg_prev->reg_next = p->reg_next;
    else
        g_head = p->reg_next;
    if (p->reg_next)
        p->reg_next->reg_prev = p->reg_prev;
    else
        g_tail = p->reg_prev;
    pthread_mutex_unlock(&g_reg);
}

void sp_pool_opts_init(sp_pool_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->nworkers = 1;
}

sp_pool *sp_pool_create(int nworkers)
{
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = nworkers;
    return sp_pool_create_opts(&o);
}

static sp_pool *pool_alloc(const sp_pool_opts *o)
{
    sp_pool *p = NULL;
    if (posix_memalign((void **)&p, 64, sizeof *p) != 0)
        return NULL; /* 64: the struct has cache-line aligned members */
    memset(p, 0, sizeof *p);
    p->name = strdup(o->name ? o->name : "pool");
    if (!p->name) {
        free(p);
        return NULL;
    }
    atomic_init(&p->refs, 1);
    p->nworkers = o->nworkers;
    atomic_init(&p->nlive, o->nworkers); /* sp_pool_set_workers changes it */
    p->stack_size = sp__stack_round(o->stack_size ? o->stack_size
                                                  : SP_DEFAULT_STACK_SIZE);
    atomic_init(&p->slice_us, o->slice_us ? o->slice_us : SP_DEFAULT_SLICE_US);
    p->flags = o->flags;
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->statlock, NULL);
    pthread_mutex_init(&p->deplock, NULL);
    sp__runq_init(&p->q);
    if (p->nworkers == 0)
        atomic_fetch_add(&sp__npseudo, 1);
    return p;
}

sp_pool *sp_pool_create_opts(const sp_pool_opts *o)
{
    if (!o || o->nworkers < 0 || o->nworkers > SP_MAX_WORKERS)
        return NULL;
    if (atomic_load(&sp__shutdown_flag))
        return NULL;
    sp__asym_init(); /* run-queue owner bias (internal.h) */
    sp__preempt_init();
    sp_pool *p = pool_alloc(o);
    if (!p)
        return NULL;
    sp__trace_pool_created(p); /* SPINDLE_TRACE */
    reg_add(p);
    for (int i = 0; i < o->nworkers; i++) {
        if (sp__worker_spawn(p, i) != 0) {
            sp_pool_close(p, 0);
            return NULL;
        }
        atomic_store(&p->nw, i + 1);
    }
    if (o->nworkers > 0)
        sp__monitor_add();
    return p;
}

void sp_pool_retain(sp_pool *p)
{
    if (p)
        atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void sp_pool_release(sp_pool *p)
{
    if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        sp__pool_free(p);
}

void sp__pool_free(sp_pool *p)
{
    reg_del(p);
    if (p->nworkers == 0)
        atomic_fetch_sub(&sp__npseudo, 1);
    sp__trace_pool_free(p);
    int n = atomic_load(&p->nw);
    for (int k = 0; k < n; k++)
        if (p->workers[k])
            sp__worker_free(p->workers[k]);
    for (sp__worker *w = p->graveyard, *next; w; w = next) {
        next = w->gnext; /* workers whose slot a resize reused */
        sp__worker_free(w);
    }
    sp__runq_destroy(&p->q);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->statlock);
    pthread_mutex_destroy(&p->deplock);
    free(p->name);
    free(p);
}

const char *sp_pool_name(const sp_pool *p)
{
    return p ? p->name : "";
}

int sp_pool_nworkers(const sp_pool *p)
{
    return !p ? SP_EINVAL : p->nworkers ? atomic_load(&((sp_pool *)p)->nlive) : 0;
}

int sp_pool_set_slice_us(sp_pool *p, unsigned us)
{
    if (!p || us == 0)
        return SP_EINVAL;
    atomic_store(&p->slice_us, us);
    return 0;
}

int sp_pool_set_spin_us(sp_pool *p, unsigned us)
{
    if (!p || us > 1000000)
        return SP_EINVAL;
    atomic_store(&p->spin_us, us);
    return 0;
}

int sp_pool_set_poll_hook(sp_pool *p, int (*fn)(void *ud, int stop),
                          void *ud)
{
    if (!p)
        return SP_EINVAL;
    atomic_store(&p->poll_fn, NULL); /* never a new fn with an old ud */
    atomic_store(&p->poll_ud, ud);
    atomic_store(&p->poll_fn, fn);
    return 0;
}

#define SP__POLL_YIELD_NS 4000u

void sp__pool_poll(sp_pool *p, int (*done)(void *), void *arg)
{
    unsigned spin = atomic_load_explicit(&p->spin_us, memory_order_relaxed);
    if (!spin)
        return;
    uint64_t now = sp__now_ns(), end = now + (uint64_t)spin * 1000u;
    uint64_t yield_at = now + SP__POLL_YIELD_NS;
    int (*fn)(void *, int) = NULL;
    void *ud = NULL;
    for (;;) {
        fn = atomic_load(&p->poll_fn);
        ud = atomic_load(&p->poll_ud);
        int did = fn && fn(ud, 0);
        now = sp__now_ns();
        if (did) {
            end = now + (uint64_t)spin * 1000u;
        } else if (now >= yield_at) {
            /* a yield costs a system call (microseconds on a VM): one
             * every few microseconds leaves the CPU to a thread that
             * shares it, without paying it every round */
            sched_yield();
            yield_at = sp__now_ns() + SP__POLL_YIELD_NS;
        } else {
            __builtin_ia32_pause();
        }
        if (done(arg) || now >= end)
            break;
    }
    if (fn)
        fn(ud, 1); /* this thread stops polling */
}

/* ---- close ---- */

static void nap_us(long us)
{
    struct timespec ts = {0, us * 1000};
    while (nanosleep(&ts, &ts) != 0)
        ; /* EINTR: sleep the rest */
}

/* ---- job counts (see sp__jcount) ---- */

static inline sp__worker *own_of(sp_pool *p, sp__worker *w)
{
    return w && w->pool == p && !w->is_runner ? w : NULL;
}

static sp__worker *own_worker(sp_pool *p)
{
    return own_of(p, sp__self());
}

void sp__count_start(sp_pool *p)
{
    sp__count_start_by(p, sp__self());
}

/*
 * A plain thread's starts, counted on a record of its own (issue 19). A
 * thread that is no worker counted each start with a locked add on
 * p->active; on an Intel host (6 ns a locked instruction, and each one
 * waits for the stores before it: those of the job just made) that add
 * was 11 ns of a batch's 94 ns start loop. The thread now counts its
 * starts on the pool it last started a job on with a plain increment of
 * its record (its own line), and the record is linked into the pool's
 * list, which sp__pool_active and the stats sum together with active
 * under ts_lock. Turning to another pool, closing this one and the
 * thread's exit fold the count into active and unlink the record, under
 * the same lock, so a sum never misses or doubles a start. A linked
 * record holds a reference to its pool: a pool closed by another thread
 * keeps its memory until this thread starts a job elsewhere or exits (as
 * its batch of references does, above). Only threads that are no worker
 * count here (self NULL): a worker's are on its own line already, and a
 * runner's go to active, as before.
 */
typedef struct sp__tstart {
    sp_pool *p;                     /* the pool it counts for, or NULL */
    _Atomic long n;                 /* starts on p not folded into active */
    struct sp__tstart *prev, *next; /* in p's list (p->ts_lock) */
} sp__tstart;
static __thread sp__tstart tls_ts __attribute__((tls_model("initial-exec")));
static pthread_key_t g_tskey;
static pthread_once_t g_tsonce = PTHREAD_ONCE_INIT;

/* Fold t's count into its pool's active, unlink t, drop its reference. */
static void ts_leave(sp__tstart *t)
{
    sp_pool *p = t->p;
    if (!p)
        return;
    sp__spin_lock(&p->ts_lock);
    atomic_fetch_add(&p->active, atomic_load_explicit(&t->n, memory_order_relaxed));
    atomic_store_explicit(&t->n, 0, memory_order_relaxed);
    if (t->prev)
        t->prev->next = t->next;
    else
        p->ts_head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    sp__spin_unlock(&p->ts_lock);
    t->p = NULL;
    sp_pool_release(p);
}

static void ts_exit(void *v)
{
    ts_leave(v);
}

static void ts_key(void)
{
    pthread_key_create(&g_tskey, ts_exit);
}

static __attribute__((noinline)) void ts_join(sp__tstart *t, sp_pool *p)
{
    ts_leave(t);
    pthread_once(&g_tsonce, ts_key);
    pthread_setspecific(g_tskey, t);
    sp_pool_retain(p);
    sp__spin_lock(&p->ts_lock);
    t->prev = NULL;
    t->next = p->ts_head;
    if (t->next)
        t->next->prev = t;
    p->ts_head = t;
    sp__spin_unlock(&p->ts_lock);
    t->p = p;
}

void sp__count_start_by(sp_pool *p, sp__worker *self)
{
    sp__worker *w = own_of(p, self);
    if (w) {
        SP__OWN_INC(w->jc.started);
        return;
    }
    if (self) { /* a runner */
        atomic_fetch_add(&p->active, 1); /* a start: active - c_pend */
        return;
    }
    sp__tstart *t = &tls_ts;
    if (SP__UNLIKELY(t->p != p))
        ts_join(t, p);
    /* only this thread writes n; a reader that sees the job's end sees
     * the start (the push that follows is a release) */
    atomic_store_explicit(&t->n, atomic_load_explicit(&t->n, memory_order_relaxed) + 1,
                          memory_order_release);
}

void sp__count_end(sp_pool *p, int state)
{
    sp__worker *w = own_worker(p);
    /* the outcome's count first: a reader that sees the job ended sees
     * how (close's progress test) */
    if (w) {
        _Atomic uint64_t *c = state == SP_JOB_DONE ? &w->jc.done
            : state == SP_JOB_CANCELLED ? &w->jc.cancelled : &w->jc.failed;
        SP__OWN_INC(*c);
        SP__OWN_INC(w->jc.ended);
        return;
    }
    _Atomic uint64_t *c = state == SP_JOB_DONE ? &p->c_done
        : state == SP_JOB_CANCELLED ? &p->c_cancelled : &p->c_failed;
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->ended, 1, memory_order_release);
}

#define SP__PREF_BATCH 64

void sp__pool_retain_job(sp_pool *p)
{
    sp__pool_retain_job_by(p, sp__self());
}

/*
 * A plain thread's references, in batches too. A thread that starts a
 * batch of jobs took and later dropped a reference to the pool per job:
 * two locked instructions on the pool's line for every job (issue 19).
 * It now takes SP__PREF_BATCH at a time, for the last pool it started a
 * job on, and keeps up to twice that from the jobs it frees. What it
 * holds goes back when it turns to another pool, when it closes this one
 * (sp_pool_close), and when the thread exits; until then a pool closed by
 * another thread keeps its memory (not its threads, which close joins).
 * Only threads that are no worker (self NULL) do this: a job can be
 * freed in a worker's signal handler, between any two steps here.
 */
typedef struct sp__tref { sp_pool *p; long n; } sp__tref;
static __thread sp__tref tls_tref __attribute__((tls_model("initial-exec")));
static pthread_key_t g_trkey;
static pthread_once_t g_tronce = PTHREAD_ONCE_INIT;

/* Give back what the record holds (a pool it holds nothing of may be
 * gone: t->p is then only compared) */
static void tref_flush(sp__tref *t)
{
    long n = t->n;
    t->n = 0;
    if (n > 0 && atomic_fetch_sub_explicit(&t->p->refs, (int)n,
                                           memory_order_acq_rel) == n)
        sp__pool_free(t->p);
}

static void tref_exit(void *v)
{
    tref_flush(v);
}

static void tref_key(void)
{
    pthread_key_create(&g_trkey, tref_exit);
}

/* The thread's exit gives back what t holds. */
static void tref_register(sp__tref *t)
{
    pthread_once(&g_tronce, tref_key);
    pthread_setspecific(g_trkey, t);
}

static __attribute__((noinline)) void tref_refill(sp__tref *t, sp_pool *p)
{
    if (t->p != p)
        tref_flush(t);
    tref_register(t);
    atomic_fetch_add_explicit(&p->refs, SP__PREF_BATCH, memory_order_relaxed);
    t->p = p;
    t->n = SP__PREF_BATCH - 1;
}

/* The calling thread gives back what it holds of p (sp_pool_close). */
static void pool_tref_flush(sp_pool *p)
{
    sp__tref *t = &tls_tref;
    if (t->p == p)
        tref_flush(t);
}

void sp__pool_retain_job_by(sp_pool *p, sp__worker *self)
{
    sp__worker *w = own_of(p, self);
    if (!w) {
        if (self) {
            sp_pool_retain(p);
            return;
        }
        sp__tref *t = &tls_tref;
        if (SP__LIKELY(t->p == p && t->n > 0))
            t->n--;
        else
            tref_refill(t, p);
        return;
    }
    /* relaxed RMWs on the worker's own line: a job may be freed in the
     * preemption signal's handler, between any two steps here */
    if (atomic_load_explicit(&w->pref, memory_order_relaxed) <= 0) {
        atomic_fetch_add_explicit(&p->refs, SP__PREF_BATCH,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&w->pref, SP__PREF_BATCH,
                                  memory_order_relaxed);
    }
    atomic_fetch_sub_explicit(&w->pref, 1, memory_order_relaxed);
}

void sp__pool_release_job(sp_pool *p)
{
    sp__worker *self = sp__self();
    sp__worker *w = own_of(p, self);
    if (!w) {
        sp__tref *t = &tls_tref;
        if (self || (t->p != p && t->n) ||
            atomic_load_explicit(&p->closed, memory_order_relaxed)) {
            /* nothing is kept of a closed pool: the last job's release
             * frees it, as it did before */
            if (!self && t->p == p)
                tref_flush(t);
            sp_pool_release(p);
            return;
        }
        /* kept: it is a reference to p, as the record's are; past twice
         * a batch, a batch goes back (the record keeps more than a
         * batch: not 0) */
        t->p = p;
        if (!t->n++) {
            tref_register(t);
        } else if (t->n > 2 * SP__PREF_BATCH) {
            t->n -= SP__PREF_BATCH;
            atomic_fetch_sub_explicit(&p->refs, SP__PREF_BATCH,
                                      memory_order_release);
        }
        return;
    }
    /* p->refs keeps the batches this worker holds, and the creator's
     * reference while it runs: it cannot reach 0 here */
    if (atomic_fetch_add_explicit(&w->pref, 1, memory_order_relaxed) >=
        2 * SP__PREF_BATCH) {
        atomic_fetch_sub_explicit(&w->pref, SP__PREF_BATCH,
                                  memory_order_relaxed);
        atomic_fetch_sub_explicit(&p->refs, SP__PREF_BATCH,
                                  memory_order_release);
    }
}

void sp__pool_refs_flush(sp__worker *w)
{
    long n = atomic_exchange(&w->pref, 0);
    if (n > 0)
        atomic_fetch_sub_explicit(&w->pool->refs, (int)n,
                                  memory_order_release);
}

/* Sum of one field over the pool, its workers and dead_jc. */
#define JC_SUM(p, pool_field, field)                                       \
    ({                                                                     \
        long _s = (long)atomic_load_explicit(&(p)->pool_field,             \
                                             memory_order_acquire) +       \
                  (long)atomic_load_explicit(&(p)->dead_jc.field,          \
                                             memory_order_acquire);        \
        int _n = atomic_load(&(p)->nw);                                    \
        for (int _k = 0; _k < _n; _k++) {                                  \
            sp__worker *_w = (p)->workers[_k];                             \
            if (_w)                                                        \
                _s += (long)atomic_load_explicit(&_w->jc.field,            \
                                                 memory_order_acquire);    \
        }                                                                  \
        _s;                                                                \
    })

/* The calling thread's count on p folds into active (sp_pool_close). */
static void pool_ts_flush(sp_pool *p)
{
    if (tls_ts.p == p)
        ts_leave(&tls_ts);
}

/* active plus the starts on the records (what JC_SUM(p, active, started)
 * was before them) */
static long started_sum(sp_pool *p)
{
    sp__spin_lock(&p->ts_lock);
    long s = JC_SUM(p, active, started);
    for (sp__tstart *t = p->ts_head; t; t = t->next)
        s += atomic_load_explicit(&t->n, memory_order_acquire);
    sp__spin_unlock(&p->ts_lock);
    return s;
}

/* started jobs and the deps' pend links: p->active counts both (c_pend
 * says how many links) */
long sp__pool_active(sp_pool *p)
{
    long e = JC_SUM(p, ended, ended); /* first: never below the truth */
    return started_sum(p) - e;
}

/* Every live worker of p asleep: 1, with the sum of their park counts. */
static int pool_asleep(sp_pool *p, uint64_t *parks)
{
    uint64_t sum = 0;
    int n = atomic_load(&p->nw);
    for (int k = 0; k < n; k++) {
        sp__worker *w = p->workers[k];
        if (!w || atomic_load(&w->exited))
            continue;
        if (atomic_load(&w->idle) != SP__W_PARKED)
            return 0;
        sum += atomic_load_explicit(&w->st.parks, memory_order_relaxed);
    }
    *parks = sum;
    return 1;
}

/*
 * Nothing of p can run (jobs suspended in waits may remain, which only
 * something outside the pool can wake). Exact, not sampled: a sample of
 * the queues and of the workers' current jobs missed a job between two
 * places (popped by a thief, not entered yet), and under load a thread
 * can stay there for milliseconds, so a close with wait then cancelled
 * a job that could run (tests/stress, under TSan on a busy machine).
 * A worker pool is quiet when every worker sleeps, seen twice with the
 * same sum of park counts (none woke in between, as in sp__stalled; a
 * worker with a job in hand is awake), and its queues, read after that,
 * are empty. A pseudo pool's jobs are counted from before their push to
 * after a runner is done with them (nready).
 */
static int pool_queues_empty(sp_pool *p)
{
    int n = atomic_load(&p->nw);
    for (int k = 0; k < n; k++) {
        sp__worker *w = p->workers[k];
        if (w && !atomic_load(&w->exited) && sp__runq_has(&w->q))
            return 0;
    }
    return 1;
}

static int quiet(sp_pool *p)
{
    if (p->nworkers == 0)
        return atomic_load(&p->nready) == 0;
    uint64_t a, b;
    return pool_asleep(p, &a) && pool_asleep(p, &b) && a == b &&
           pool_queues_empty(p) && atomic_load(&p->q.n) == 0;
}

/* Run (or let the workers run) everything that can still run. */
static void run_what_can_run(sp_pool *p)
{
    while (sp__pool_active(p) > 0) {
        if (p->nworkers == 0)
            sp__pseudo_run(p, NULL);
        if (quiet(p))
            return;
        nap_us(500);
    }
}

static void cancel_running(sp_pool *p)
{
    int n = atomic_load(&p->nw);
    for (int k = 0; k < n; k++) {
        sp__worker *w = p->workers[k];
        if (!w)
            continue;
        sp_job *j = sp__pin_cur(w);
        if (j) {
            atomic_store(&j->cancel, 1);
            sp__request_preempt(w, j, SP__PC_CANCEL, 1);
        }
        sp__unpin(w);
    }
}

/* Entries left in a queue once no worker serves it any more. */
static void drain(sp__runq *q)
{
    for (;;) {
        sp__spin *l = sp__runq_lock(q);
        sp_job *j = sp__runq_pop(q);
        sp__spin_unlock(l);
        if (!j)
            return;
        int st = SP_JOB_QUEUED;
        if (j->stack || atomic_compare_exchange_strong(&j->state, &st,
                                                       SP_JOB_RUNNING))
            sp__job_abandon(j);
        else
            sp_job_release(j); /* claimed by a cancel: the entry's hold */
    }
}

static void stop_workers(sp_pool *p)
{
    cancel_running(p);
    sp__pool_wake_all(p);
    /* spares may be added while we join: re-read nw */
    for (int k = 0; k < atomic_load(&p->nw); k++) {
        sp__worker *w = p->workers[k];
        if (w)
            pthread_join(w->thread, NULL);
    }
    for (int k = 0; k < atomic_load(&p->nw); k++)
        if (p->workers[k])
            drain(&p->workers[k]->q);
}

int sp__pool_stop(sp_pool *p, int wait)
{
    sp__owed_flush(); /* a wake this thread put off: no waiting a tick */
    pthread_mutex_lock(&p->lock);
    if (__atomic_load_n(&p->stopped, __ATOMIC_RELAXED)) {
        pthread_mutex_unlock(&p->lock);
        return p->left;
    }
    sp__orphans_start(); /* before anything can be orphaned */
    atomic_store(&p->closed, 1);
    if (wait)
        run_what_can_run(p);
    long c0 = JC_SUM(p, c_cancelled, cancelled);
    atomic_store(&p->stopping, 1);
    int pend_left = sp__deps_pool_stop(p);
    if (p->nworkers == 0)
        sp__pseudo_run(p, NULL); /* ends what is queued as cancelled */
    else
        stop_workers(p);
    drain(&p->q);
    p->left = (int)(JC_SUM(p, c_cancelled, cancelled) - c0 +
                    (uint64_t)sp__pool_active(p)) + pend_left;
    /* read by the monitor and sp_shutdown under the registry lock, not
     * p->lock: atomic */
    __atomic_store_n(&p->stopped, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&p->lock);
    sp__trace_pool_stopped(p); /* writes its trace file */
    if (p->nworkers > 0)
        sp__monitor_remove();
    return p->left;
}

int sp_pool_close(sp_pool *p, int wait)
{
    if (!p)
        return SP_EINVAL;
    sp_job *cur = sp__current();
    if (cur && cur->pool == p)
        return SP_ESTATE;
    int left = sp__pool_stop(p, wait);
    pool_tref_flush(p);
    pool_ts_flush(p);
    sp_pool_release(p);
    return left;
}

/* ---- counters ---- */

#define SP__LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void add_stats(sp_stats *o, sp__wstats *s)
{
    o->switches += SP__LD(s->switches);
    o->yields += SP__LD(s->yields);
    o->preempt_slice += SP__LD(s->preempt_slice);
    o->preempt_prio += SP__LD(s->preempt_prio);
    o->preempt_cancel += SP__LD(s->preempt_cancel);
    o->preempt_async += SP__LD(s->preempt_async);
    o->steals += SP__LD(s->steals);
    o->parks += SP__LD(s->parks);
    o->wakes += SP__LD(s->wakes);
    o->inline_runs += SP__LD(s->inline_runs);
}

int sp_pool_stats(sp_pool *p, sp_stats *o)
{
    if (!p || !o)
        return SP_EINVAL;
    memset(o, 0, sizeof *o);
    /* against runner_stats, and a resize moving a worker's counters to
     * dead when it reuses the worker's slot */
    pthread_mutex_lock(&p->statlock);
    add_stats(o, &p->dead);
    int n = atomic_load(&p->nw);
    for (int k = 0; k < n; k++)
        if (p->workers[k])
            add_stats(o, &p->workers[k]->st);
    long started = started_sum(p); /* then c_pend (deps.c adds it
                                    * first) */
    o->jobs_started = (uint64_t)(started - atomic_load(&p->c_pend));
    o->jobs_finished = (uint64_t)JC_SUM(p, c_done, done);
    o->jobs_cancelled = (uint64_t)JC_SUM(p, c_cancelled, cancelled);
    o->jobs_failed = (uint64_t)JC_SUM(p, c_failed, failed);
    pthread_mutex_unlock(&p->statlock);
    o->signals_sent = atomic_load(&p->c_signals);
    o->spares = atomic_load(&p->c_spares);
    o->wakes += atomic_load(&p->c_wakes);
    o->queue_highwater = sp__pool_highwater(p);
    long gmax, gnow;
    sp__stack_budget(&gmax, &gnow);
    o->stacks_guarded = (uint64_t)gnow;
    o->stacks_slab = (uint64_t)sp__stack_slab_count();
    return 0;
}

/* ---- shutdown ---- */

void sp_shutdown(void)
{
    atomic_store(&sp__shutdown_flag, 1);
    for (;;) {
        /* newest first; each pool is stopped once (stopped flag) */
        sp__registry_lock();
        sp_pool *p = g_tail;
        while (p && __atomic_load_n(&p->stopped, __ATOMIC_RELAXED))
            p = p->reg_prev;
        if (p) { /* it may be dying (refs 0, waiting for the registry) */
            int r = atomic_load(&p->refs);
            while (r > 0 && !atomic_compare_exchange_weak(&p->refs, &r, r + 1))
                ;
            if (r == 0) {
                __atomic_store_n(&p->stopped, 1, __ATOMIC_RELAXED);
                p = NULL;
            }
        }
        sp__registry_unlock();
        if (!p)
            return;
        sp__pool_stop(p, 0);
        sp_pool_release(p);
    }
}

int sp_shutting_down(void)
{
    return atomic_load(&sp__shutdown_flag);
}

/* ---- whole-program deadlocks ----
 *
 * A plain thread that asked for it (sp_deadlock_check) checks, while it
 * sleeps in a wait, whether anything can still run. Nothing can when
 * every worker is asleep (PARKED: not owed a wake, not lent to a thread
 * standing in) with its queue empty, no pseudo pool has a queued job and
 * no waker is counted: then every job not ended is suspended in a wait
 * that only another suspended job, or the checking thread itself, could
 * end. The workers are read one by one, so two passes: a worker's park
 * count moves each time it goes to sleep, so if both passes see every
 * worker asleep with the same sum of park counts, none of them woke in
 * between, and at the moment between the passes all slept at once. The
 * queues are read after the second pass: only a running thread pushes,
 * and none ran. Costs nothing outside such a thread's sleeps. */

_Thread_local int sp__dl_on;
static _Atomic int g_wakers;

void sp_deadlock_check(int on) { sp__dl_on = on != 0; }
void sp_waker_add(void) { atomic_fetch_add(&g_wakers, 1); }
void sp_waker_remove(void) { atomic_fetch_sub(&g_wakers, 1); }

int sp__wait_verdict(int join)
{
    if (sp__wait_intr_pending())
        return SP_EINTR;
    if (atomic_load(&sp__shutdown_flag))
        return join ? 0 : SP_ECANCELED;
    return sp__dl_on && sp__stalled() ? SP_EDEADLK : 0;
}

uint64_t sp__dl_delay(unsigned n)
{
    uint64_t d = n < 7 ? 1000000ull << n : 100000000ull; /* 1, 2, ... 64, 100 ms */
    /* an interruptible thread (sp_wait_interruptible) looks at its flag
     * at least every 20 ms */
    return d > 20000000ull && sp__wait_intr_on() ? 20000000ull : d;
}

/* every live worker of the registry's pools asleep: 1, with the sum of
 * their park counts in *parks (registry lock held) */
static int all_asleep(uint64_t *parks)
{
    uint64_t sum = 0;
    for (sp_pool *p = g_head; p; p = p->reg_next) {
        if (p->nworkers == 0) {
            if (atomic_load(&p->q.n) > 0)
                return 0;
            continue;
        }
        if (__atomic_load_n(&p->stopped, __ATOMIC_RELAXED))
            continue;
        uint64_t s;
        if (!pool_asleep(p, &s))
            return 0;
        sum += s;
    }
    *parks = sum;
    return 1;
}

static int queues_empty(void)
{
    for (sp_pool *p = g_head; p; p = p->reg_next) {
        if (p->nworkers == 0 || __atomic_load_n(&p->stopped, __ATOMIC_RELAXED))
            continue;
        if (!pool_queues_empty(p))
            return 0;
    }
    return 1;
}

int sp__stalled(void)
{
    if (atomic_load(&g_wakers) > 0 || atomic_load(&sp__shutdown_flag))
        return 0;
    uint64_t a, b;
    pthread_mutex_lock(&g_reg);
    int st = all_asleep(&a) && all_asleep(&b) && a == b && queues_empty();
    pthread_mutex_unlock(&g_reg);
    return st && atomic_load(&g_wakers) == 0;
}
