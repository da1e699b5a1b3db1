/*
 * preempt.c - preemption: the monitor thread, the preemption signal
 * (SIGURG) and the fault handler that turns a stack overflow into a
 * failed job.
 *
 * Layers (cheapest first):
 *  1. The monitor wakes every tick (1 ms) while any pool has workers. A
 *     job that has run past its slice while other jobs are queued gets
 *     its poll flag set; so do jobs to cancel (sp_job_cancel) and running
 *     jobs of lower priority than a newly queued one (sp__prio_check, on
 *     the queuing thread, at once).
 *  2. Code that polls (runtime calls, sp_checkpoint, the interpreter's
 *     back-edges) sees the flag and yields or ends.
 *  3. A flag still set one tick later: SIGURG is sent to that worker
 *     (one in flight per worker). The handler switches the job out right
 *     there only if the job is SP_JOB_ASYNC, is not inside the runtime
 *     (in_rt == 0) and the signal interrupted the job's own stack;
 *     otherwise it returns and leaves the flag.
 *  4. A non-async job still holding its worker a few ticks later while
 *     other jobs wait: the worker is retired and a spare thread takes its
 *     queue (KLT handoff); the stuck job keeps its thread, and that
 *     thread exits when the job next leaves it.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#ifdef SP_VALGRIND
#include <valgrind/valgrind.h>
/* valgrind's emulated sigreturn restores the whole thread state of the
 * thread the signal hit (TLS pointer included), so a handler that
 * resumes on another worker breaks: no switching in the handler there */
#define SP__ASYNC_OK (!RUNNING_ON_VALGRIND)
#else
#define SP__ASYNC_OK 1
#endif

#define SP__TICK_US 1000

sigset_t sp__worker_mask;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static struct sigaction g_old_segv, g_old_bus;

static pthread_mutex_t g_mon_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_mon_cond = PTHREAD_COND_INITIALIZER;
static int g_mon_users, g_mon_started;
static pthread_t g_mon_thread;

__attribute__((noinline, noipa)) static int *errno_loc(void)
{
    return &errno;
}

/* ---- the preemption signal ---- */

static int on_job_stack(const sp_job *j, const ucontext_t *uc)
{
    uintptr_t rsp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    return j->stack && rsp >= (uintptr_t)j->stack->lo &&
           rsp < (uintptr_t)j->stack->hi;
}

static int killable(const sp_job *j)
{
    return atomic_load(&((sp_job *)j)->cancel) &&
           !(j->flags & SP_JOB_DEFER_CANCEL);
}

static void async_switch(sp_job *j)
{
    int post = killable(j) ? SP__POST_CANCEL_ASYNC : SP__POST_ASYNC;
    if (post == SP__POST_ASYNC)
        __atomic_store_n(&j->poll, 0, __ATOMIC_RELAXED);
    j->in_rt = 1;
    j->async_susp = 1;
    sp__switch_out(j, post, 0);
    /* resumed (maybe on another worker) with the signal blocked; the
     * handler's return restores the interrupted mask */
    j->async_susp = 0;
    if (killable(j))
        sp__switch_out(j, SP__POST_CANCEL_ASYNC, 0);
    j->in_rt = 0;
}

static void on_preempt_signal(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    int saved = *errno_loc();
    sp__worker *w = sp__self();
    if (w && !w->is_runner) {
        atomic_store(&w->sig_inflight, 0);
        sp_job *j = atomic_load_explicit(&w->cur, memory_order_relaxed);
        if (j && (j->flags & SP_JOB_ASYNC) && j->in_rt == 0 &&
            __atomic_load_n(&j->poll, __ATOMIC_RELAXED) &&
            SP__ASYNC_OK && on_job_stack(j, ucv))
            async_switch(j);
    }
    *errno_loc() = saved; /* this thread's errno, after a migration too */
}

static void send_signal(sp__worker *w)
{
    if (atomic_load(&w->exited) || atomic_exchange(&w->sig_inflight, 1))
        return;
    if (pthread_kill(w->thread, SP_PREEMPT_SIGNAL) == 0)
        atomic_fetch_add_explicit(&w->pool->c_signals, 1,
                                  memory_order_relaxed);
    else
        atomic_store(&w->sig_inflight, 0);
}

void sp__request_preempt(sp__worker *w, sp_job *j, int cause, int signal_now)
{
    /* poll and preempt_cause are written by any thread and read by the
     * job's worker: relaxed atomics (plain moves on x86-64) */
    if (__atomic_load_n(&j->preempt_cause, __ATOMIC_RELAXED) !=
        SP__PC_CANCEL)
        __atomic_store_n(&j->preempt_cause, cause, __ATOMIC_RELAXED);
    __atomic_store_n(&j->poll, 1, __ATOMIC_RELAXED);
    if (signal_now && (j->flags & SP_JOB_ASYNC))
        send_signal(w);
}

/* Preempt w's running job if its priority is below prio; 1 if done,
 * 0 if w runs a job of priority >= prio, -1 if w is between jobs. */
static int preempt_below(sp__worker *w, int prio)
{
    /* between jobs: it may have popped a lower job just before ours was
     * queued, and is about to enter it; wait a moment for that (else
     * the monitor finds it a tick or two later) */
    for (int spins = 0;; spins++) {
        sp_job *j = sp__pin_cur(w);
        int rc = j ? 0 : -1;
        if (j && j->prio < prio) {
            sp__request_preempt(w, j, SP__PC_PRIO, 1);
            rc = 1;
        }
        sp__unpin(w);
        if (rc >= 0 || spins >= 1000)
            return rc;
        __builtin_ia32_pause();
    }
}

/* A job of priority prio was queued on target and no worker was idle:
 * preempt a running job of lower priority now. target's own job first
 * (its worker then pops the new job at once); and the running job of
 * lowest priority elsewhere, whose worker is told to take the best job
 * of any queue next (want_best) rather than its own queue's head. The
 * second one is a hedge: with more threads than cores, target's thread
 * may be waiting for a CPU for a whole scheduler slice, and the first
 * of the two to reach a safe point runs the new job (the other resumes
 * its own job after one yield). cur_prio is read without a pin, so the
 * common case -- nothing to preempt -- costs a few plain loads. */
void sp__prio_check(sp_pool *p, sp__worker *target, int prio)
{
    if (prio <= SP_PRIO_MIN)
        return;
    if (target && !atomic_load_explicit(&target->retired,
                                        memory_order_relaxed)) {
        if (atomic_load_explicit(&target->cur_prio, memory_order_relaxed) <
            prio) {
            if (preempt_below(target, prio) < 0)
                return; /* between jobs: it pops ours next */
        }
    }
    int n = atomic_load(&p->nw), best = prio;
    sp__worker *victim = NULL;
    for (int k = 0; k < n; k++) {
        sp__worker *w = p->workers[k];
        if (!w || w == target || atomic_load(&w->retired))
            continue;
        int cp = atomic_load_explicit(&w->cur_prio, memory_order_relaxed);
        if (cp < best) {
            best = cp;
            victim = w;
        }
    }
    if (!victim)
        return;
    atomic_store(&victim->want_best, 1);
    if (preempt_below(victim, prio) == 0)
        atomic_store(&victim->want_best, 0);
}

/* ---- stack overflow ---- */

static void on_fault(int sig, siginfo_t *si, void *ucv)
{
    (void)ucv;
    sp__worker *w = sp__self();
    sp_job *j = w ? atomic_load_explicit(&w->cur, memory_order_relaxed) : NULL;
    if (j && j->stack && sp__stack_in_guard(j->stack, si->si_addr)) {
        j->in_rt = 1;
        sp__switch_out(j, SP__POST_OVERFLOW, 0); /* never resumed */
    }
    /* not ours: put the previous disposition back; the fault repeats */
    sigaction(sig, sig == SIGSEGV ? &g_old_segv : &g_old_bus, NULL);
}

/* ---- set-up ---- */

static void init_once(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_preempt_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SP_PREEMPT_SIGNAL, &sa, NULL);

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SP_PREEMPT_SIGNAL);
    sigaction(SIGSEGV, &sa, &g_old_segv);
    sigaction(SIGBUS, &sa, &g_old_bus);

    /* workers: the creator's mask, minus the process signals (the
     * signal thread takes those), plus the preemption signal */
    pthread_sigmask(SIG_SETMASK, NULL, &sp__worker_mask);
    sigaddset(&sp__worker_mask, SIGINT);
    sigaddset(&sp__worker_mask, SIGTERM);
    sigdelset(&sp__worker_mask, SP_PREEMPT_SIGNAL);
    sigdelset(&sp__worker_mask, SIGSEGV);
    sigdelset(&sp__worker_mask, SIGBUS);
}

void sp__preempt_init(void)
{
    pthread_once(&g_once, init_once);
}

void sp__block_preempt_signal(void)
{
    sigset_t s;
    sigfillset(&s);
    sigdelset(&s, SIGSEGV);
    sigdelset(&s, SIGBUS);
    sigdelset(&s, SIGFPE);
    sigdelset(&s, SIGILL);
    pthread_sigmask(SIG_SETMASK, &s, NULL);
}

/* ---- the monitor ---- */

static int queued_anywhere(sp_pool *p)
{
    int n = atomic_load(&p->nw);
    for (int k = 0; k < n; k++)
        if (p->workers[k] && sp__runq_has(&p->workers[k]->q))
            return 1;
    return 0;
}

/* KLT handoff: a spare thread takes over w's queue. Registry lock held. */
static void handoff(sp_pool *p, sp__worker *w)
{
    if (pthread_mutex_trylock(&p->lock) != 0)
        return; /* closing: try again next tick */
    int idx = atomic_load(&p->nw);
    if (__atomic_load_n(&p->stopped, __ATOMIC_RELAXED) ||
        atomic_load(&p->stopping) || idx >= SP__MAX_WORKERS ||
        atomic_load(&w->retired)) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    if (sp__worker_spawn(p, idx) != 0) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    /* the spare is visible (nw) before w is retired: a job made ready
     * in between must find a worker, or it would be ended as if the
     * pool were gone */
    sp__worker *s = p->workers[idx];
    atomic_store(&p->nw, idx + 1);
    atomic_store(&w->retired, 1);
    sp__spin *lw = sp__runq_lock(&w->q);
    sp__spin *ls = sp__runq_lock(&s->q);
    for (sp_job *j; (j = sp__runq_pop(&w->q));)
        sp__runq_push(&s->q, j);
    sp__spin_unlock(ls);
    sp__spin_unlock(lw);
    atomic_fetch_add(&p->c_spares, 1);
    pthread_mutex_unlock(&p->lock);
    sp__pool_wake_all(p); /* the spare may have parked before the move */
}

static void watch(sp_pool *p, sp__worker *w, uint64_t now)
{
    sp_job *j = sp__pin_cur(w);
    uint64_t ns = atomic_load(&w->nswitch);
    if (!j || ns != w->mon_nswitch) {
        w->mon_nswitch = ns;
        w->mon_since = now;
        w->mon_flagged = 0;
        sp__unpin(w);
        return;
    }
    if (atomic_load(&p->stopping) && !atomic_load(&j->cancel))
        atomic_store(&j->cancel, 1); /* it started as the pool stopped */
    int poll = __atomic_load_n(&j->poll, __ATOMIC_RELAXED);
    if (atomic_load(&j->cancel) && !poll)
        sp__request_preempt(w, j, SP__PC_CANCEL, 1);
    else if (!poll && sp__runq_top(&w->q) > j->prio) /* missed at queuing */
        sp__request_preempt(w, j, SP__PC_PRIO, 1);
    uint64_t slice = (uint64_t)atomic_load(&p->slice_us) * 1000u;
    int others = queued_anywhere(p);
    if (!__atomic_load_n(&j->poll, __ATOMIC_RELAXED)) {
        if (!(p->flags & SP_POOL_NOPREEMPT) && others &&
            now - w->mon_since >= slice) {
            sp__request_preempt(w, j, SP__PC_SLICE, 0);
            w->mon_flagged = 1;
        }
    } else if (++w->mon_flagged >= 2) {
        if (j->flags & SP_JOB_ASYNC)
            send_signal(w);
        else if (w->mon_flagged >= 4 && others && !atomic_load(&w->retired))
            handoff(p, w);
    }
    sp__unpin(w);
}

static void scan(uint64_t now)
{
    sp__registry_lock();
    for (sp_pool *p = sp__registry_last(); p; p = p->reg_prev) {
        if (p->nworkers == 0 ||
            __atomic_load_n(&p->stopped, __ATOMIC_RELAXED))
            continue;
        int n = atomic_load(&p->nw);
        for (int k = 0; k < n; k++) {
            sp__worker *w = p->workers[k];
            if (!w || atomic_load(&w->retired) || atomic_load(&w->exited))
                continue;
            /* a wake put off by a plain thread that went on with
             * something else than waiting (worker.c) */
            sp__owed_pay(w);
            watch(p, w, now);
        }
    }
    sp__registry_unlock();
}

static void *monitor_main(void *arg)
{
    (void)arg;
    sp__block_preempt_signal();
    for (;;) {
        pthread_mutex_lock(&g_mon_lock);
        while (g_mon_users == 0)
            pthread_cond_wait(&g_mon_cond, &g_mon_lock);
        pthread_mutex_unlock(&g_mon_lock);
        struct timespec ts = {0, SP__TICK_US * 1000};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        scan(sp__now_ns());
    }
    return NULL;
}

void sp__monitor_add(void)
{
    pthread_mutex_lock(&g_mon_lock);
    if (!g_mon_started) {
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&g_mon_thread, &a, monitor_main, NULL) == 0)
            g_mon_started = 1;
        pthread_attr_destroy(&a);
    }
    g_mon_users++;
    pthread_cond_signal(&g_mon_cond);
    pthread_mutex_unlock(&g_mon_lock);
}

void sp__monitor_remove(void)
{
    pthread_mutex_lock(&g_mon_lock);
    if (g_mon_users > 0)
        g_mon_users--;
    pthread_mutex_unlock(&g_mon_lock);
}
