/*
 * worker.c - worker threads and the scheduler loop.
 *
 * A worker is a pthread with a scheduler context (its own pthread stack)
 * and a priority run queue. Jobs always switch back to the scheduler
 * context, never straight to each other: the scheduler then performs the
 * "post action" the job asked for (requeue it, release the lock of the
 * wait queue it sleeps on, reclaim its stack...). Doing these only once
 * the job is off its stack is what makes it safe for another worker to
 * resume it at once.
 *
 * Idle workers first look for work to steal, spin briefly, then park on
 * a futex; whoever queues work wakes a parked worker.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SP__CACHE_MAX 8
#define SP__SPIN 200

static __thread sp__worker *tls_self __attribute__((tls_model("initial-exec")));

/* The one way to reach per-thread state. noipa: GCC must neither inline
 * it nor treat it as const, or a fiber that migrated would keep reading
 * the previous thread's copy. */
__attribute__((noinline, noipa)) sp__worker *sp__self(void)
{
    return tls_self;
}

__attribute__((noinline, noipa)) void sp__set_self(sp__worker *w)
{
    tls_self = w;
}

/* The calling thread's running job, or NULL. Read once per call: only
 * noipa/noinline functions may use it (sp__current, sp_yield), so that
 * no caller keeps what it read across a switch. */
static inline __attribute__((always_inline)) sp_job *thread_job(void)
{
    sp__worker *w = tls_self;
    return w ? atomic_load_explicit(&w->cur, memory_order_relaxed) : NULL;
}

/* noipa as sp__self, which it does not call: one call less a yield */
__attribute__((noinline, noipa)) sp_job *sp__current(void)
{
    return thread_job();
}

_Atomic long sp__npins;

sp_job *sp__pin_cur(sp__worker *w)
{
    atomic_fetch_add(&w->pin, 1);
    atomic_fetch_add(&sp__npins, 1);
    return atomic_load(&w->cur);
}

void sp__unpin(sp__worker *w)
{
    atomic_fetch_sub(&sp__npins, 1);
    atomic_fetch_sub(&w->pin, 1);
}

/* ---- stacks per worker ---- */

static sp__stack *stack_get(sp__worker *w, size_t size)
{
    sp__stack *s = w->cache;
    if (s && s->size == size) {
        w->cache = s->next;
        w->ncache--;
        s->next = NULL;
        return s;
    }
    return sp__stack_alloc(size);
}

static void stack_put(sp__worker *w, sp__stack *s)
{
    if (w->ncache < SP__CACHE_MAX && s->size == w->pool->stack_size) {
        s->next = w->cache;
        w->cache = s;
        w->ncache++;
        return;
    }
    sp__stack_free(s);
}

static void cache_flush(sp__worker *w)
{
    while (w->cache) {
        sp__stack *s = w->cache;
        w->cache = s->next;
        sp__stack_free(s);
    }
    w->ncache = 0;
}

void sp__altstack_on(sp__worker *w)
{
    size_t sz = 64 * 1024;
    w->altstack.ss_sp = malloc(sz);
    w->altstack.ss_size = sz;
    w->altstack.ss_flags = 0;
    if (w->altstack.ss_sp)
        sigaltstack(&w->altstack, &w->old_altstack);
}

void sp__altstack_off(sp__worker *w)
{
    if (!w->altstack.ss_sp)
        return;
    stack_t dis = {.ss_flags = SS_DISABLE};
    sigaltstack(w->old_altstack.ss_sp ? &w->old_altstack : &dis, NULL);
    free(w->altstack.ss_sp);
    w->altstack.ss_sp = NULL;
}

/* ---- switching ---- */

/* Every job that was switched out by sp__switch_out or yield_direct
 * resumes here, on its own stack, resumed either by its worker's
 * scheduler or, directly, by another job that left the run-queue lock
 * held for us to release (see yield_direct). */
static inline void resumed(sp_job *j)
{
    /* maybe another worker now; whoever resumed j entered it there
     * first (enter() sets j->worker), so no TLS read is needed */
    sp__worker *w = j->worker;
    sp__spin *held = w->held;
    if (held) {
        sp__lockp wl = w->held_wait;
        w->held = NULL;
        sp__spin_unlock(held);
        sp__san_direct_entered(j);
        if (wl) { /* the job before us suspended in sp__wait_direct */
            w->held_wait = 0;
            sp__san_lock_in(wl);
            sp__lockp_unlock(wl);
        }
    } else {
        sp__san_job_entered(w, j);
    }
}

void sp__switch_out(sp_job *j, int post, sp__lockp lock)
{
    sp__worker *w = sp__self();
    w->post = post;
    w->post_lock = lock;
    sp__san_job_leaving(w, j, post >= SP__POST_END);
    sp__ctx_switch(&j->sp, w->sched_sp);
    resumed(j);
}

static void lent_entered(sp__worker *w, sp_job *j);

/* Make j the running job of w (the worker's side of a switch to j);
 * inlined into the direct switch, a call elsewhere (enter). */
static inline __attribute__((always_inline)) void enter_inl(sp__worker *w,
                                                            sp_job *j)
{
    if (SP__UNLIKELY(atomic_load_explicit(&j->pool->stopping,
                                          memory_order_relaxed))) {
        atomic_store(&j->cancel, 1);
        __atomic_store_n(&j->poll, 1, __ATOMIC_RELAXED);
    }
    /* clear stale requests, but never lose a cancel: the canceller
     * stores cancel and then poll, we store poll and then read cancel
     * (poll is written by other threads too: atomic, relaxed) */
    if (__atomic_load_n(&j->poll, __ATOMIC_RELAXED)) {
        __atomic_store_n(&j->poll, 0, __ATOMIC_RELAXED);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load(&j->cancel))
            __atomic_store_n(&j->poll, 1, __ATOMIC_RELAXED);
    }
    /* read by sp_job_cancel on any thread (checked against w->cur);
     * release (a plain store on x86-64): w may be a spare the monitor
     * has just made, whose fields the canceller then reads */
    __atomic_store_n(&j->worker, w, __ATOMIC_RELEASE);
    atomic_store_explicit(&w->cur_prio, j->prio, memory_order_relaxed);
    atomic_store_explicit(&w->cur, j, memory_order_release);
    if (SP__UNLIKELY(w->lent))
        lent_entered(w, j);
    uint64_t ns = atomic_load_explicit(&w->st.switches,
                                       memory_order_relaxed) + 1;
    atomic_store_explicit(&w->st.switches, ns, memory_order_relaxed);
    atomic_store_explicit(&w->nswitch, ns, memory_order_relaxed);
}

static __attribute__((noinline)) void enter(sp__worker *w, sp_job *j)
{
    enter_inl(w, j);
}

/*
 * The fast path of a yield or a preemption at a safe point: hand the
 * worker straight to the next job of its own queue, fiber to fiber,
 * without the scheduler context in between (one switch instead of two,
 * one lock round instead of two).
 *
 * The rule that nobody may resume a job whose registers are not saved
 * yet still holds: j is queued before the switch, but the queue's lock
 * stays held across it and is released by the job we resume (resumed()),
 * once j is off its stack. The next job must have run before and have
 * been switched out by sp__switch_out or here (not fresh, not suspended
 * in the signal handler), since that is where it resumes and unlocks.
 * Returns 0, having done nothing, when the fast path does not apply; the
 * caller then switches out the slow way.
 */
/* The job a direct switch from j may hand w to: the head of the best
 * level of w's own queue, if that is at least min_prio and has run
 * before; returned with the queue's lock held (the caller switches with
 * it held), else NULL, unlocked. Not on a runner or a stand-in (w->lent
 * runs one job and gives the worker back), nor in a traced pool (the
 * trace records every slice at the scheduler), nor when w was preempted
 * for a job queued elsewhere. */
static inline __attribute__((always_inline)) sp_job *
direct_next(sp__worker *w, int min_prio, int *top_out, sp__spin **held)
{
    /* no test of an empty queue first: the lock of an empty one costs
     * little beside the scheduler's round that follows then */
    if (SP__UNLIKELY(w->is_runner | w->lent) ||
        atomic_load_explicit(&w->pool->trace, memory_order_relaxed) ||
        atomic_load_explicit(&w->want_best, memory_order_relaxed))
        return NULL;
    sp__spin *l = sp__runq_lock_own(&w->q);
    sp__runq_drain(&w->q);
    uint32_t bm = w->q.bitmap;
    int top = bm ? 31 - __builtin_clz(bm) + SP_PRIO_MIN : -1;
    sp_job *n = top >= min_prio ? w->q.lv[top - SP_PRIO_MIN].head : NULL;
    if (!n || !n->stack || n->async_susp ||
        atomic_load_explicit(&w->retired, memory_order_relaxed)) {
        sp__spin_unlock(l);
        return NULL;
    }
    *top_out = top;
    *held = l;
    return n;
}

/* Switch from j to n (direct_next's, queue lock held): n releases it. */
static inline __attribute__((always_inline)) void
direct_switch(sp__worker *w, sp_job *j, sp_job *n, sp__spin *held)
{
    w->held = held;
    enter_inl(w, n);
    sp__san_job_to_job(j, n);
    sp__ctx_switch(&j->sp, n->sp);
    resumed(j);
}

static inline __attribute__((always_inline)) int yield_direct(sp_job *j,
                                                              int post)
{
    sp__worker *w = j->worker; /* set when j was entered: no TLS read */
    int top;
    sp__spin *held;
    sp_job *n = direct_next(w, j->prio, &top, &held);
    if (!n)
        return 0;
    sp__runq_rotate(&w->q, top, n, j);
    if (post == SP__POST_YIELD) {
        SP__BUMP(w->st.yields);
    } else {
        if (__atomic_load_n(&j->preempt_cause, __ATOMIC_RELAXED) ==
            SP__PC_PRIO)
            SP__BUMP(w->st.preempt_prio);
        else
            SP__BUMP(w->st.preempt_slice);
        __atomic_store_n(&j->preempt_cause, SP__PC_NONE, __ATOMIC_RELAXED);
    }
    direct_switch(w, j, n, held);
    return 1;
}

/* j gives its worker away (post: YIELD or PREEMPT) and comes back; a
 * cancel that arrived meanwhile ends it here */
static inline __attribute__((always_inline)) void yield_now(sp_job *j,
                                                           int post)
{
    __atomic_store_n(&j->poll, 0, __ATOMIC_RELAXED);
    j->in_rt++;
    if (!yield_direct(j, post))
        sp__switch_out(j, post, 0);
    j->in_rt--;
    if (atomic_load(&j->cancel) && !(j->flags & SP_JOB_DEFER_CANCEL))
        sp__end_cancelled(j);
}

/* The safe points that give the worker away live here, not in job.c
 * with the others: the direct switch is inlined into them (one call and
 * one frame less a yield). */

/* A pending request on j: honour it. */
void sp__safepoint(sp_job *j)
{
    if (atomic_load(&j->cancel)) {
        if (j->flags & SP_JOB_DEFER_CANCEL)
            return;
        sp__end_cancelled(j);
    }
    yield_now(j, SP__POST_PREEMPT);
}

/* It reads the thread's worker itself: once, before any switch (a fiber
 * may resume on another thread), so noinline, or a caller here could
 * reuse what it read. */
__attribute__((noinline)) void sp_yield(void)
{
    sp_job *j = thread_job();
    if (!j)
        return;
    if (atomic_load(&j->cancel) && !(j->flags & SP_JOB_DEFER_CANCEL))
        sp__end_cancelled(j);
    yield_now(j, SP__POST_YIELD);
}

/*
 * The same for a job that suspends on a wait queue (sp__wait): instead of
 * switching to the scheduler, which would unlock the wait queue's lock
 * and pop the next job, hand the worker to the next job of its queue.
 * Both locks stay held across the switch (a waker needs the wait queue's
 * lock to resume j, so it cannot resume j before j is off its stack) and
 * the resumed job releases them (resumed()). j is not requeued: it is
 * suspended, on the wait queue. A channel ping-pong between two jobs of
 * one worker is one switch per message this way.
 */
int sp__wait_direct(sp_job *j, sp__lockp lock)
{
    sp__worker *w = j->worker;
    int top;
    sp__spin *held;
    sp_job *n = direct_next(w, SP_PRIO_MIN, &top, &held); /* j: not queued */
    if (!n)
        return 0;
    sp__runq_pop(&w->q); /* n */
    w->held_wait = lock;
    sp__san_lock_out(lock);
    direct_switch(w, j, n, held);
    return 1;
}

static void restore_mask(sp__worker *w)
{
    pthread_sigmask(SIG_SETMASK, w->lent ? w->lent_mask : &sp__worker_mask,
                    NULL);
}

static void requeue(sp__worker *w, sp_job *j)
{
    if (!w->is_runner) {
        sp__spin *l = sp__runq_lock_own(&w->q);
        if (!atomic_load_explicit(&w->retired, memory_order_relaxed)) {
            sp__runq_push(&w->q, j);
            sp__spin_unlock(l);
            return;
        }
        sp__spin_unlock(l);
    }
    sp__job_ready(j);
}

static void end_job(sp__worker *w, sp_job *j, int state, const char *err)
{
    char *e = err ? strdup(err) : NULL;
    if (SP__UNLIKELY(sp__job_detached(j)))
        sp__detach_ending(j, &state, &e);
    if (e)
        sp__job_set_error(j, e, 1);
    if (j->stack)
        stack_put(w, j->stack);
    j->stack = NULL;
    sp__job_end(j, state);
    sp__pins_drain_after_end(); /* w->cur was cleared before */
    sp_job_release(j); /* the hold */
}

static void overflowed(sp__worker *w, sp_job *j)
{
    sp__stack_free(j->stack); /* not to the cache: wiped first if slab */
    j->stack = NULL;
    end_job(w, j, SP_JOB_FAILED, "stack overflow");
}

/* The job j has just switched out of worker w: do what it asked. */
static void after_switch(sp__worker *w, sp_job *j)
{
    int post = w->post;
    sp__lockp lock = w->post_lock;
    w->post = SP__POST_NONE;
    if (post == SP__POST_ASYNC || post == SP__POST_CANCEL_ASYNC ||
        post == SP__POST_OVERFLOW)
        restore_mask(w); /* we left a signal handler without returning */
    if ((post == SP__POST_END || post == SP__POST_CANCEL ||
         post == SP__POST_CANCEL_ASYNC || post == SP__POST_DETACH) &&
        !sp__stack_canary_ok(j->stack)) { /* slab stacks only */
        if (lock)
            sp__lockp_unlock(lock);
        overflowed(w, j);
        return;
    }
    switch (post) {
    case SP__POST_YIELD:
        SP__BUMP(w->st.yields);
        requeue(w, j);
        break;
    case SP__POST_PREEMPT:
    case SP__POST_ASYNC:
        if (post == SP__POST_ASYNC)
            SP__BUMP(w->st.preempt_async);
        if (__atomic_load_n(&j->preempt_cause, __ATOMIC_RELAXED) ==
            SP__PC_PRIO)
            SP__BUMP(w->st.preempt_prio);
        else
            SP__BUMP(w->st.preempt_slice);
        __atomic_store_n(&j->preempt_cause, SP__PC_NONE, __ATOMIC_RELAXED);
        requeue(w, j);
        break;
    case SP__POST_WAIT:
        sp__lockp_unlock(lock);
        break;
    case SP__POST_END:
        end_job(w, j, sp__job_err(j) ? SP_JOB_FAILED : SP_JOB_DONE, NULL);
        break;
    case SP__POST_CANCEL:
    case SP__POST_CANCEL_ASYNC:
        if (lock) /* cancelled inside sp__wait */
            sp__lockp_unlock(lock);
        SP__BUMP(w->st.preempt_cancel);
        end_job(w, j, SP_JOB_CANCELLED, NULL);
        break;
    case SP__POST_OVERFLOW:
        overflowed(w, j);
        break;
    case SP__POST_DETACH: {
        /* the fiber is done; the job waits for sp_job_complete, unless
         * that came first (EARLY: end_job ends it with its outcome) */
        if (j->stack)
            stack_put(w, j->stack);
        j->stack = NULL;
        sp__detach *d = atomic_load(&sp__jside_peek(j)->det);
        int st = SP__DET_ON;
        if (!atomic_compare_exchange_strong(&d->st, &st, SP__DET_GONE))
            end_job(w, j, SP_JOB_DONE, NULL);
        break;
    }
    default:
        fprintf(stderr, "spindle: job switched out without a reason\n");
        abort();
    }
}

/* A job popped that never ran: QUEUED -> RUNNING, 1; or 0 when it was
 * cancelled while queued (its entry and hold dropped, the job ended if
 * need be). tr: the pool's trace, or NULL. */
static int claim_fresh(sp__worker *w, sp_job *j, sp__trace *tr)
{
    int st = SP_JOB_QUEUED;
    if (!atomic_compare_exchange_strong(&j->state, &st, SP_JOB_RUNNING)) {
        if (tr)
            sp__trace_dropped(w, j, tr);
        sp_job_release(j); /* cancelled while queued: drop the hold */
        return 0;
    }
    if (atomic_load(&j->cancel)) { /* cancelled before it ever ran */
        if (tr)
            sp__trace_dropped(w, j, tr);
        sp__job_end(j, SP_JOB_CANCELLED);
        sp_job_release(j);
        return 0;
    }
    return 1;
}

/*
 * Pacing the inbox. A worker that runs a foreign thread's batch faster
 * than that thread starts it empties its levels after every few jobs and
 * drains the inbox again at once, a job or two at a time: the inbox's
 * line then crosses between the two cores for every job or two, and the
 * starting thread waits for it each time (a 1M batch from main on a
 * 1-worker pool, jobs running on (below): 1.5-2.5 jobs a drain made it
 * 115-155 ns a job, 15 a drain 67-70, 60 a drain 63-68). So while a stream flows, a worker whose levels ran empty lets
 * some time pass since its last drain before the next one, for jobs to
 * gather: pace_ns, doubling while drains bring fewer than SP__PACE_THIN
 * jobs (from SP__PACE_MIN_NS up to SP__PACE_MAX_NS), halving when they
 * bring more than twice that. It watches its levels meanwhile (jobs of
 * other priorities and wakes by its own jobs go there, not to the
 * inbox), a stop and a preemption for a job queued elsewhere. A drain
 * that finds nothing ends the stream: the worker parks the usual way,
 * and a job that comes after a pause is taken at once.
 */
#define SP__PACE_THIN 64
#define SP__PACE_MIN_NS 250
#define SP__PACE_MAX_NS 4000

static inline void pace_wait(sp__worker *w)
{
    unsigned ns = w->pace_ns;
    if (SP__LIKELY(!ns) || atomic_load_explicit(&w->q.n, memory_order_relaxed))
        return;
    for (;;) {
        if (sp__now_ns() - w->drain_at >= ns)
            return;
        for (int i = 0; i < 4; i++)
            __builtin_ia32_pause();
        if (atomic_load_explicit(&w->q.n, memory_order_relaxed) ||
            atomic_load_explicit(&w->want_best, memory_order_relaxed) ||
            atomic_load_explicit(&w->pool->stopping, memory_order_relaxed))
            return;
    }
}

/* After a pop of w's own queue (lock held): was_empty, the levels were
 * empty before it, so it drained the inbox. */
static inline void pace_after(sp__worker *w, int was_empty)
{
    if (!was_empty)
        return;
    int k = w->q.drained;
    if (k == 0) {
        w->pace_ns = 0;
        return;
    }
    w->drain_at = sp__now_ns();
    if (k < SP__PACE_THIN)
        w->pace_ns = w->pace_ns ? (w->pace_ns < SP__PACE_MAX_NS ? 2 * w->pace_ns
                                                                : w->pace_ns)
                                : SP__PACE_MIN_NS;
    else if (k > 2 * SP__PACE_THIN)
        w->pace_ns /= 2;
}

/*
 * Run on: the fiber of a job that returned goes straight on with the next
 * job of its worker's queue, when that one never ran, from the frame of
 * sp__fiber_main: no switch to the scheduler and back, no fresh context,
 * the stack not put back and taken again. A batch of short jobs is then
 * one call after the other on one stack, as in a plain thread pool, and
 * the scheduler context is entered only when the chain breaks.
 *
 * The ending job is ended here, as the scheduler would (w->cur cleared
 * first, pins drained, the hold dropped); end hooks and wakes run on this
 * stack with no current job, as they would in the scheduler. What the
 * scheduler loop checks between jobs, this checks too: a stopping or
 * retired worker, a preemption for a job queued elsewhere, a poll hook,
 * a stand-in or pseudo-pool runner, the trace (which records every
 * slice at the scheduler), a slab stack's canary.
 *
 * Only a job without a side part ends here: its end runs no hooks and
 * its free no cleanup, so what runs on the job's stack (which may be
 * small) is a few frames deep. A job with hooks, a cleanup, an argument
 * list or an error message ends in the scheduler, on the thread's own
 * stack, as before: an interpreter's cleanup that frees a deeply nested
 * result recurses as deep as the value.
 */
/* The owner's pop of w's own queue, paced; fresh: only a job that never
 * ran (sp__runq_pop_fresh), and none from a retired worker's queue. */
static sp_job *pop_paced(sp__worker *w, int fresh)
{
    pace_wait(w);
    sp__spin *l = sp__runq_lock_own(&w->q);
    int was_empty = !w->q.bitmap;
    sp_job *j = !fresh ? sp__runq_pop(&w->q)
                : atomic_load_explicit(&w->retired, memory_order_relaxed)
                    ? NULL
                    : sp__runq_pop_fresh(&w->q);
    pace_after(w, was_empty);
    sp__spin_unlock(l);
    return j;
}

static int run_on_ok(sp__worker *w, sp_job *j)
{
    sp_pool *p = w->pool;
    return !(w->is_runner | w->lent) &&
           !atomic_load_explicit(&p->trace, memory_order_relaxed) &&
           !atomic_load_explicit(&p->poll_fn, memory_order_relaxed) &&
           !atomic_load_explicit(&w->want_best, memory_order_relaxed) &&
           !atomic_load_explicit(&p->stopping, memory_order_relaxed) &&
           !atomic_load_explicit(&w->retired, memory_order_relaxed) &&
           !sp__jside_peek(j) &&
           j->stack->size == p->stack_size && sp__stack_canary_ok(j->stack);
}

sp_job *sp__run_on(sp_job *j)
{
    sp__worker *w = j->worker;
    if (!run_on_ok(w, j))
        return NULL;
    sp__stack *st = j->stack;
    void *tf = sp__san_run_on_take(j);
    j->stack = NULL;
    atomic_store_explicit(&w->cur_prio, -1, memory_order_relaxed);
    atomic_store_explicit(&w->cur, NULL, memory_order_release);
    end_job(w, j, SP_JOB_DONE, NULL); /* no side part: no error */
    for (;;) {
        sp_job *n = NULL;
        if (!atomic_load_explicit(&w->want_best, memory_order_relaxed) &&
            !atomic_load_explicit(&w->pool->stopping, memory_order_relaxed))
            n = pop_paced(w, 1);
        if (!n)
            break;
        if (!claim_fresh(w, n, NULL))
            continue;
        n->stack = st;
        sp__san_run_on_give(n, tf);
        enter(w, n);
        return n;
    }
    /* nothing to run on with: leave the stack to the scheduler */
    w->post = SP__POST_FREE;
    w->post_lock = 0;
    w->post_stack = st;
    sp__san_free_leaving(w, st, tf);
    void *gone;
    sp__ctx_switch(&gone, w->sched_sp);
    __builtin_unreachable();
}

void sp__run_job(sp__worker *w, sp_job *j)
{
    /* the trace costs one predicted branch per slice when off */
    sp__trace *tr = atomic_load_explicit(&j->pool->trace,
                                         memory_order_acquire);
    int fresh = 0;
    if (atomic_load(&j->pool->stopping)) {
        atomic_store(&j->cancel, 1);
        __atomic_store_n(&j->poll, 1, __ATOMIC_RELAXED);
    }
    if (!j->stack) {
        if (!claim_fresh(w, j, tr))
            return;
        j->stack = stack_get(w, j->pool->stack_size);
        if (!j->stack) {
            sp__job_set_error(j, strdup("out of memory for a job stack"), 1);
            sp__job_end(j, SP_JOB_FAILED);
            sp_job_release(j);
            return;
        }
        j->sp = sp__ctx_init(j->stack->lo, j->stack->hi);
        fresh = 1;
    }
    enter(w, j);
    if (j->async_susp) {
        /* it resumes inside the signal handler, which returns with
         * sigreturn: keep the preemption signal out until then */
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SP_PREEMPT_SIGNAL);
        pthread_sigmask(SIG_BLOCK, &s, NULL);
    }
    if (SP__UNLIKELY(tr))
        sp__trace_begin(w, j, tr, fresh);
    sp__san_to_job(w, j);
    sp__ctx_switch(&w->sched_sp, j->sp);
    sp__san_back_in_sched(w);
    /* the job that switched back: j, or one that j (or a successor)
     * handed the worker to directly; none when a fiber that ran on
     * ended its last job itself */
    j = atomic_load_explicit(&w->cur, memory_order_relaxed);
    if (SP__UNLIKELY(!j)) {
        w->post = SP__POST_NONE;
        stack_put(w, w->post_stack);
        w->post_stack = NULL;
        return;
    }
    if (SP__UNLIKELY(tr))
        sp__trace_end(w, j, tr);
    /* release only: the fence that pairs with sp__pin_cur is paid in
     * end_job (on whichever worker the job ends: it may be requeued and
     * stolen now), the one place a job may then be freed */
    atomic_store_explicit(&w->cur_prio, -1, memory_order_relaxed);
    atomic_store_explicit(&w->cur, NULL, memory_order_release);
    after_switch(w, j);
}

/* ---- finding work ---- */

static sp_job *pop_own(sp__worker *w)
{
    /* n first: while the levels hold jobs, the inbox's line (written by
     * every foreign push) is not read. A "no" here may be wrong while
     * another thread drains the inbox; park() looks again, in the order
     * that cannot miss (sp__runq_has). */
    if (!atomic_load_explicit(&w->q.n, memory_order_relaxed) &&
        !atomic_load_explicit(&w->q.inbox, memory_order_relaxed))
        return NULL;
    return pop_paced(w, 0);
}

static sp_job *steal(sp__worker *w)
{
    sp_pool *p = w->pool;
    int n = atomic_load(&p->nw);
    for (int k = 1; k < n; k++) {
        sp__worker *v = p->workers[(w->index + k) % n];
        if (!v || !sp__runq_has(&v->q))
            continue;
        sp__spin *l = sp__runq_lock(&v->q);
        sp_job *j = SP__UNLIKELY(atomic_load_explicit(&p->nbound,
                                                      memory_order_relaxed))
                        ? sp__runq_steal_unpinned(&v->q) /* resize.c */
                        : sp__runq_steal(&v->q);
        sp__spin_unlock(l);
        if (j) {
            SP__BUMP(w->st.steals);
            return j;
        }
    }
    return NULL;
}

/* After a priority preemption for a job queued on another worker: take
 * the job of best priority in any queue of the pool. */
static sp_job *take_best(sp__worker *w)
{
    atomic_store(&w->want_best, 0);
    sp_pool *p = w->pool;
    int n = atomic_load(&p->nw), best = -1;
    sp__worker *from = NULL;
    for (int k = 0; k < n; k++) {
        sp__worker *v = p->workers[k];
        int t = v && !atomic_load(&v->retired) ? sp__runq_top(&v->q) : -1;
        if (t > best || (t == best && v == w)) {
            best = t;
            from = v;
        }
    }
    if (!from)
        return NULL;
    sp__spin *l = from == w ? sp__runq_lock_own(&w->q)
                            : sp__runq_lock(&from->q);
    sp_job *j = from != w && atomic_load(&p->nbound)
                    ? sp__runq_pop_unpinned(&from->q) /* bound jobs */
                    : sp__runq_pop(&from->q);
    sp__spin_unlock(l);
    if (j && from != w)
        SP__BUMP(w->st.steals);
    return j;
}

static int work_visible(sp__worker *w)
{
    sp_pool *p = w->pool;
    int n = atomic_load(&p->nw);
    for (int k = 0; k < n; k++) {
        sp__worker *v = p->workers[k];
        if (v && sp__runq_has(&v->q) &&
            /* jobs bound to a busy worker are no work for us (resize.c) */
            (v == w || SP__LIKELY(!atomic_load(&p->nbound)) ||
             sp__runq_stealable(&v->q)))
            return 1;
    }
    return 0;
}

static void lent_yield(sp__worker *w);

int sp__worker_wake(sp__worker *w, int want)
{
    for (;;) {
        int v = atomic_load(&w->idle);
        if (v == SP__W_PARKED || v == SP__W_OWED) {
            if (!atomic_compare_exchange_strong(&w->idle, &v, SP__W_RUN))
                continue;
            atomic_fetch_sub(&w->pool->nidle, 1);
            atomic_fetch_add_explicit(&w->pool->c_wakes, 1,
                                      memory_order_relaxed);
            sp__futex_wake(&w->idle, 1);
            return 1;
        }
        if (v != SP__W_LENT || !want)
            return 0; /* running, or wanted back already */
        if (atomic_compare_exchange_strong(&w->idle, &v, SP__W_WANTED)) {
            lent_yield(w);
            return 0;
        }
    }
}

void sp__pool_wake_all(sp_pool *p)
{
    int n = atomic_load(&p->nw);
    for (int k = 0; k < n; k++)
        if (p->workers[k])
            sp__worker_wake(p->workers[k], 1);
}

static int park_done(void *arg)
{
    sp__worker *w = arg;
    return work_visible(w) || atomic_load(&w->pool->stopping) ||
           atomic_load(&w->retired);
}

static void park(sp__worker *w)
{
    sp_pool *p = w->pool;
    /* the gaps between looks double (to 32 pauses): each look reads the
     * inbox's line, which a thread starting a batch writes for every
     * job; fewer looks leave it there longer, and a worker that looks
     * less often finds more jobs per drain */
    for (int i = 0, gap = 1; i < SP__SPIN; i += gap) {
        if (work_visible(w) || atomic_load(&p->stopping))
            return;
        for (int k = 0; k < gap; k++)
            __builtin_ia32_pause();
        if (gap < 32)
            gap *= 2;
    }
    if (atomic_load_explicit(&p->spin_us, memory_order_relaxed)) {
        /* sp_pool_set_spin_us, sp_pool_set_poll_hook */
        sp__pool_poll(p, park_done, w);
        if (park_done(w))
            return;
    }
    atomic_store(&w->idle, 1);
    atomic_fetch_add(&p->nidle, 1);
    atomic_thread_fence(memory_order_seq_cst);
    if (work_visible(w) || atomic_load(&p->stopping) ||
        atomic_load(&w->retired)) {
        for (;;) {
            int v = atomic_load(&w->idle);
            if (v != SP__W_PARKED && v != SP__W_OWED)
                break; /* woken, or lent: it is given back woken */
            if (atomic_compare_exchange_strong(&w->idle, &v, SP__W_RUN)) {
                atomic_fetch_sub(&p->nidle, 1);
                return;
            }
        }
    } else {
        SP__BUMP(w->st.parks);
    }
    /* asleep until someone stores RUN: a lent worker stays asleep while
     * a waiting thread stands in for it, whatever the futex says */
    for (int v; (v = atomic_load(&w->idle)) != SP__W_RUN;)
        sp__futex_wait(&w->idle, v);
}

static void *worker_main(void *arg)
{
    sp__worker *w = arg;
    sp__set_self(w);
    pthread_sigmask(SIG_SETMASK, &sp__worker_mask, NULL);
    sp__altstack_on(w);
    for (;;) {
        sp_job *j = NULL;
        if (SP__UNLIKELY(atomic_load_explicit(&w->want_best,
                                              memory_order_relaxed)))
            j = take_best(w);
        if (!j)
            j = pop_own(w);
        if (!j && !atomic_load_explicit(&w->retired, memory_order_relaxed))
            j = steal(w); /* a retired worker leaves instead */
        if (j) {
            sp__run_job(w, j);
            if (atomic_load(&w->retired))
                break;
            /* a pool fed from outside: one round of its poll hook between
             * jobs, so that a worker busy with queued jobs still sends
             * and receives (sp_pool_set_poll_hook) */
            int (*fn)(void *, int) = atomic_load_explicit(
                &w->pool->poll_fn, memory_order_relaxed);
            if (SP__UNLIKELY(fn != NULL))
                fn(atomic_load(&w->pool->poll_ud), 0);
            continue;
        }
        if (atomic_load(&w->pool->stopping) || atomic_load(&w->retired))
            break;
        park(w);
    }
    if (atomic_load(&w->retired))
        sp__worker_hand_over(w); /* resize.c */
    cache_flush(w);
    sp__job_cache_flush();
    sp__altstack_off(w);
    sp__set_self(NULL); /* then no job is freed here as the pool's */
    sp__pool_refs_flush(w);
    atomic_store(&w->exited, 1);
    return NULL;
}

sp__worker *sp__worker_new(void)
{
    void *w;
    if (posix_memalign(&w, 64, sizeof(sp__worker)) != 0)
        return NULL;
    return memset(w, 0, sizeof(sp__worker));
}

int sp__worker_spawn(sp_pool *p, int index)
{
    if (index >= SP__MAX_WORKERS)
        return SP_EINVAL;
    sp__worker *w = sp__worker_new();
    if (!w)
        return SP_ENOMEM;
    w->pool = p;
    w->index = index;
    atomic_init(&w->cur_prio, -1);
    sp__runq_init(&w->q);
    p->workers[index] = w;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 * 1024);
    int rc = pthread_create(&w->thread, &a, worker_main, w);
    pthread_attr_destroy(&a);
    if (rc != 0) {
        p->workers[index] = NULL;
        sp__runq_destroy(&w->q);
        free(w);
        return SP_ENOMEM;
    }
    return 0;
}

void sp__worker_free(sp__worker *w)
{
    sp__runq_destroy(&w->q);
    free(w);
}

/* ---- making jobs ready ---- */

static sp__worker *pick_worker(sp_pool *p, sp_job *j)
{
    if (sp__job_pinned(j)) /* sp_job_start_on */
        return j->worker;
    sp__worker *self = sp__self();
    if (self && self->pool == p && !self->is_runner &&
        !atomic_load(&self->retired))
        return self;
    sp__worker *w = j->worker;
    if (w && w->pool == p && !w->is_runner && !atomic_load(&w->retired))
        return w;
    int n = atomic_load(&p->nw);
    if (n == 1) { /* no round robin: no write to the shared pool line */
        w = p->workers[0];
        return w && !atomic_load(&w->retired) ? w : NULL;
    }
    /* One start, then every slot; again while none is found: a resize
     * may be retiring and starting workers meanwhile (it always keeps one
     * live, but slots change under the scan, and others move rr). A job
     * is never dropped for want of a worker while the pool is open. */
    while (!atomic_load(&p->stopping)) {
        unsigned start = atomic_fetch_add(&p->rr, 1);
        n = atomic_load(&p->nw);
        for (int k = 0; k < n; k++) {
            w = p->workers[(start + (unsigned)k) % (unsigned)n];
            if (w && !atomic_load(&w->retired))
                return w;
        }
        sched_yield();
    }
    return NULL;
}

static int put_off_wake(sp__worker *w, int v);

/* defer: a plain thread queued a fresh job alone (see put_off_wake); -1:
 * alone in the inbox, and so alone if w's levels are empty; own: w
 * is the calling thread's worker (its own thread, or a waiting thread
 * standing in for it, whose job is then not asked to yield, as a job on
 * w's thread is not: the same semantics) */
static void wake_for(sp_pool *p, sp__worker *w, int prio, int defer, int own,
                     int fenced)
{
    if (own) {
        /* pushed on our own queue: w runs (on this thread), so no wake
         * can be lost (a stand-in gives w back woken if its queue has
         * work) and the fence (the Dekker pair with park) is not needed. An idle worker is still woken to steal, on a
         * relaxed read: missing one that is parking now costs only
         * parallelism, never the job (we run it). A fork-join spawn and
         * a channel hand-off between jobs of one worker take this path. */
        if (atomic_load_explicit(&p->nidle, memory_order_relaxed) > 0) {
            int n = atomic_load(&p->nw);
            for (int k = 0; k < n; k++)
                if (p->workers[k] && p->workers[k] != w &&
                    sp__worker_wake(p->workers[k], 0))
                    break;
        }
        sp__prio_check(p, w, prio);
        return;
    }
    if (!fenced) /* an inbox push was a seq_cst RMW already */
        atomic_thread_fence(memory_order_seq_cst);
    int v = atomic_load(&w->idle);
    if (defer && (v == SP__W_PARKED || v == SP__W_OWED) &&
        (defer > 0 ||
         atomic_load_explicit(&w->q.n, memory_order_relaxed) == 0) &&
        put_off_wake(w, v))
        return;
    if (v && sp__worker_wake(w, 1))
        return;
    if (atomic_load(&p->nidle) > 0) {
        int n = atomic_load(&p->nw);
        for (int k = 0; k < n; k++) /* a lent one cannot help here */
            if (p->workers[k] && sp__worker_wake(p->workers[k], 0))
                return;
    }
    sp__prio_check(p, w, prio);
}

/* May a waiting thread run j, standing in for a worker? Not bound
 * jobs (they belong to their worker), not async-preemptible ones (their
 * preemption is a signal to the worker's thread), not in a traced pool
 * (the trace records workers), not once the pool stops. */
static int lendable(sp_pool *p, sp_job *j)
{
    return !(j->flags & (SP__JOB_BOUND | SP_JOB_ASYNC)) &&
           !atomic_load_explicit(&p->trace, memory_order_relaxed) &&
           !atomic_load_explicit(&p->stopping, memory_order_relaxed);
}

static int orphan(sp_job *j);

static void pseudo_push(sp_pool *p, sp_job *j)
{
    /* a job that has run, made ready once the pool stops: nobody may
     * come back to run the queue (see orphans below) */
    if (SP__UNLIKELY(atomic_load_explicit(&p->stopping, memory_order_relaxed)) &&
        j->stack && orphan(j))
        return;
    /* counted before the push, uncounted once a runner is done with it:
     * a close with wait reads "nothing runnable" from it (pool.c) */
    atomic_fetch_add(&p->nready, 1);
    sp__spin_lock(&p->q.lock);
    sp__runq_push(&p->q, j);
    sp__spin_unlock(&p->q.lock);
    atomic_fetch_add(&p->seq, 1);
    sp__futex_wake(&p->seq, INT_MAX);
    atomic_fetch_add(&sp__pseudo_gseq, 1); /* then read the sleepers */
    if (atomic_load(&sp__pseudo_gwaiters) > 0)
        sp__futex_wake(&sp__pseudo_gseq, INT_MAX);
}

void sp__job_ready(sp_job *j)
{
    sp__job_ready_by(j, sp__self(), 1);
}

/* A drain walks the inbox's chain, and each job's link is a miss on a
 * line the pushing core wrote: a chain of dependent misses, one per job
 * (on an Intel mesh about 30 ns each). So a fresh job (no stack yet: its
 * saved stack pointer is unused until its first run sets it) carries in
 * sp the job its pushing thread pushed HINT_AHEAD pushes before: in a
 * chain that thread pushed alone, the job that many links further on,
 * which the drain prefetches while it walks (append_chain, sched.c).
 * Only a hint: the drain never reads through it, so a stale one (that
 * job drained, run, freed, its memory reused) costs a wasted prefetch,
 * and so does a resumed job's real stack pointer. A signal handler
 * pushing between two steps here leaves a wrong hint, nothing worse. */
#define HINT_AHEAD 8
typedef struct { sp_job *r[HINT_AHEAD]; unsigned h; } hints_t;
static __thread hints_t tls_hints __attribute__((tls_model("initial-exec")));

static inline void inbox_hint(sp_job *j)
{
    if (!j->stack) {
        hints_t *t = &tls_hints;
        unsigned i = t->h++ & (HINT_AHEAD - 1);
        j->sp = t->r[i];
        t->r[i] = j;
    }
}

void sp__job_ready_by(sp_job *j, sp__worker *self, int may_defer)
{
    sp_pool *p = j->pool;
    if (p->nworkers == 0) {
        pseudo_push(p, j);
        return;
    }
    sp__worker *w;
    /* read before the push: then a worker may run j, and end it */
    int n, defer = may_defer && !self && !j->stack && lendable(p, j);
    int prio = j->prio;
    for (;;) {
        w = atomic_load(&p->stopping) ? NULL : pick_worker(p, j);
        if (!w) {
            sp__job_abandon(j); /* the pool is gone */
            return;
        }
        /* fork-join: a job started or woken by a job of w (or by w's
         * scheduler, when a child ends) runs next, depth-first */
        int lifo = w == self;
        if (!lifo && prio == SP_PRIO_MIN && !sp__job_pinned(j)) {
            /* another thread's job of the lowest priority: the inbox, no
             * lock (a batch from a plain thread no longer fights the
             * worker's pops for the queue's lock) */
            inbox_hint(j);
            int was_empty = sp__runq_push_inbox(&w->q, j);
            /* j may be running, or gone, from here on */
            if (SP__UNLIKELY(atomic_load(&w->retired))) {
                /* retire() stored retired, then took the inbox under
                 * the lock: if it ran before our push, move the job on */
                sp__move_queue(p, w);
                return;
            }
            /* the defer wants "queued alone": the levels are read only
             * if w is parked (a running worker writes that line per
             * job); the highwater is counted by the drain */
            wake_for(p, w, prio, defer && was_empty ? -1 : 0, 0, 1);
            return;
        }
        sp__spin *l = lifo ? sp__runq_lock_own(&w->q) : sp__runq_lock(&w->q);
        /* retire() sets retired, then empties the queue under this lock:
         * a push seen after that would sit in a queue nobody serves (its
         * thread may have handed over and left, the slot be reused) */
        if (SP__UNLIKELY(atomic_load_explicit(&w->retired,
                                              memory_order_relaxed))) {
            sp__spin_unlock(l);
            continue;
        }
        if (lifo)
            sp__runq_push_head(&w->q, j);
        else
            sp__runq_push(&w->q, j);
        n = atomic_load(&w->q.n);
        sp__spin_unlock(l);
        break;
    }
    if ((uint64_t)n > atomic_load(&p->c_highwater))
        atomic_store(&p->c_highwater, (uint64_t)n);
    /* the wake of a fresh job queued by a plain thread can be put off
     * (the thread may wait for it next); not for a batch: a waiter runs
     * a job only if it is alone in the queue */
    wake_for(p, w, prio, defer && n == 1, w == self, 0);
}

/* ---- pseudo pools ---- */

static void runner_stats(sp_pool *p, sp__worker *w)
{
    pthread_mutex_lock(&p->statlock);
    _Atomic uint64_t *d = (_Atomic uint64_t *)&p->dead;
    _Atomic uint64_t *s = (_Atomic uint64_t *)&w->st;
    for (size_t i = 0; i < sizeof(sp__wstats) / sizeof(uint64_t); i++)
        atomic_fetch_add_explicit(&d[i], atomic_load_explicit(&s[i],
                                  memory_order_relaxed), memory_order_relaxed);
    pthread_mutex_unlock(&p->statlock);
}

/* Run the pseudo pool of target in this plain thread until target has
 * ended (or, with target NULL, until the pool has nothing runnable). */
int sp__pseudo_wait(sp_job *target)
{
    sp_pool *p = target ? target->pool : NULL;
    return sp__pseudo_run(p, target);
}

static int pseudo_loop(sp_pool *p, sp_job *target, _Atomic int *stop);

int sp__pseudo_run(sp_pool *p, sp_job *target)
{
    return pseudo_loop(p, target, NULL);
}

/* Run every pseudo pool's queued jobs until none is left or *stop. */
int sp__pseudo_run_any(_Atomic int *stop)
{
    int ran = 0;
    while (atomic_load(&sp__npseudo) > 0 && !(stop && atomic_load(stop))) {
        sp_pool *p = sp__pseudo_with_work();
        if (!p)
            break;
        pseudo_loop(p, NULL, stop);
        sp_pool_release(p);
        ran = 1;
    }
    return ran;
}

static int pseudo_loop(sp_pool *p, sp_job *target, _Atomic int *stop)
{
    sp__worker *prev = sp__self();
    sp__worker *w = sp__worker_new();
    if (!w)
        return SP_ENOMEM;
    w->pool = p;
    w->is_runner = 1;
    sp__altstack_on(w);
    sp__set_self(w);
    int rc = 0;
    unsigned naps = 0;
    for (;;) {
        int s = atomic_load(&p->seq);
        if ((target && sp_job_finished(target)) || (stop && atomic_load(stop)))
            break;
        sp__spin_lock(&p->q.lock);
        sp_job *j = sp__runq_pop(&p->q);
        sp__spin_unlock(&p->q.lock);
        if (j) {
            sp__run_job(w, j);
            atomic_fetch_sub(&p->nready, 1);
            continue;
        }
        if (!target)
            break;
        if (sp__futex_wait_ns(&p->seq, s, sp__dl_delay(naps++)) &&
            !sp_job_finished(target) && (rc = sp__wait_verdict(1)) != 0)
            break; /* target suspended, and nothing can wake it */
    }
    sp__set_self(prev);
    sp__altstack_off(w);
    cache_flush(w);
    runner_stats(p, w);
    free(w);
    return rc;
}

/* ---- orphans: jobs that have run, made ready after their pool stopped ----
 *
 * Such a job can never run on its pool's workers again, and ending it
 * where it stands (as for a job that never ran) would drop what its
 * frames hold: an item a channel handed to it as a waiting receiver (it
 * gives the item back when its wait is cancelled), an interpreter's
 * frames. So one thread of the runtime, started at the first stop of a
 * pool, resumes each one as a runner (as a plain thread runs a pseudo
 * pool): sp__run_job sets the cancel of a stopping pool's job, so it ends
 * at the safe point it resumes in, or, SP_JOB_DEFER_CANCEL, its wait
 * returns SP_ECANCELED and it unwinds and returns. A job that yields or
 * waits again comes back here. Once the process shuts down (sp_shutdown)
 * jobs are ended where they stand, as before: nothing runs after exit. */

static pthread_mutex_t g_orph_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_orph_cond = PTHREAD_COND_INITIALIZER;
static sp_job **g_orph;           /* a stack of jobs, each with its hold */
static size_t g_norph, g_corph;
static _Atomic int g_orph_state;  /* 1 once the thread runs */

static void *orphans_main(void *arg)
{
    sp__worker *w = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    sp__altstack_on(w);
    sp__set_self(w);
    pthread_mutex_lock(&g_orph_lock);
    for (;;) {
        while (g_norph == 0)
            pthread_cond_wait(&g_orph_cond, &g_orph_lock);
        sp_job *j = g_orph[--g_norph];
        pthread_mutex_unlock(&g_orph_lock);
        sp_pool *p = j->pool; /* kept alive by j until j is released */
        sp_pool_retain(p);
        w->pool = p;
        sp__run_job(w, j);
        cache_flush(w); /* stack sizes are per pool */
        runner_stats(p, w);
        memset(&w->st, 0, sizeof w->st);
        w->pool = NULL;
        sp_pool_release(p);
        pthread_mutex_lock(&g_orph_lock);
    }
    return NULL;
}

static pthread_once_t g_orph_once = PTHREAD_ONCE_INIT;

static void orphans_init(void)
{
    /* one runner for the thread's life: j->worker may point at it after
     * the job ended (sp_job_cancel reads it); "exited" keeps signals off
     * it (the thread blocks them all) */
    sp__worker *w = sp__worker_new();
    if (!w)
        return; /* no thread: orphans end where they stand */
    w->is_runner = 1;
    atomic_store(&w->exited, 1);
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &a, orphans_main, w) == 0)
        atomic_store(&g_orph_state, 1);
    else
        free(w);
    pthread_attr_destroy(&a);
}

/* a stop calls this before it sets stopping: whoever stops a pool
 * concurrently waits here until the thread runs */
void sp__orphans_start(void)
{
    pthread_once(&g_orph_once, orphans_init);
}

/* 1 when the orphans' thread takes j (and its hold); 0 when j must end
 * where it stands (shutdown, no such thread, out of memory) */
static int orphan(sp_job *j)
{
    if (atomic_load(&g_orph_state) != 1 || atomic_load(&sp__shutdown_flag))
        return 0;
    pthread_mutex_lock(&g_orph_lock);
    if (g_norph == g_corph) {
        size_t c = g_corph ? 2 * g_corph : 16;
        sp_job **n = realloc(g_orph, c * sizeof *n);
        if (!n) {
            pthread_mutex_unlock(&g_orph_lock);
            return 0; /* out of memory: ended where it stands */
        }
        g_orph = n;
        g_corph = c;
    }
    g_orph[g_norph++] = j;
    pthread_cond_signal(&g_orph_cond);
    pthread_mutex_unlock(&g_orph_lock);
    return 1;
}

void sp__job_abandon(sp_job *j)
{
    if (j->stack && orphan(j))
        return; /* it has run: it ends at the safe point it resumes in */
    if (j->stack)
        sp__stack_free(j->stack);
    j->stack = NULL;
    sp__job_end(j, SP_JOB_CANCELLED);
    sp_job_release(j);
}

/* ---- a waiting thread stands in for a parked worker ----
 *
 * startJob + waitJob from a plain thread (a script's top level) used to
 * cost two cross-thread wake-ups per job: the pusher woke the parked
 * worker, the worker woke the waiter. Now the plain thread that queues a
 * fresh job on a parked worker puts the wake off (OWED), and when it
 * then waits for that job, still queued alone there, it borrows the
 * worker (LENT: the worker's thread sleeps on) and runs the job itself,
 * as that worker: sp__self() is the worker, its stack cache, counters
 * and scheduler fields serve the stand-in, which is exclusive since the
 * worker's thread sleeps meanwhile. So the pool never runs more jobs at
 * once than it has workers, the monitor sees the job as the worker's
 * (time slices, priority and cancel requests, the KLT handoff for a job
 * stuck in native code), and a job that yields or suspends is queued on
 * the worker as usual. Whoever needs the worker meanwhile (a push from
 * elsewhere, a stop, a resize) marks it WANTED and asks the job to yield
 * at its next safe point (a flag: nothing signals the stand-in's
 * thread); the stand-in then gives the worker back and wakes it. (A job
 * queued by the stand-in job itself waits as it would behind a job on
 * the worker's thread: for a thief, a yield, a time slice.)
 *
 * A wake put off is owed by the thread (tls_plain->owed): it does it
 * before it sleeps (sp__owed_flush, from the wait queues), when it owes
 * another worker, and at its exit; the monitor does it at its next tick
 * for a thread that went on with something else; any other pusher does
 * it at once.
 */

typedef struct plain {
    sp__worker *owed;   /* the worker whose wake this thread put off last
                         * (its pool retained), or NULL; w may be no
                         * longer OWED (paid by a give-back, the monitor
                         * or another thread's flush) */
    int alt_ok;         /* an alternate signal stack is installed */
    int alt_mine;       /* ... and it is ours (freed at thread exit) */
    stack_t alt;
    sigset_t mask;      /* the thread's signal mask when first seen */
} plain_t;

/* global-dynamic: libspindle may be dlopen'ed (through the plugin),
 * where the static TLS room that initial-exec needs is scarce. Only
 * plain threads use it, on their own stacks (no fiber migrates). */
static __thread plain_t *tls_plain;
static pthread_key_t g_plain_key;
static pthread_once_t g_plain_once = PTHREAD_ONCE_INIT;

static void flush_owed(plain_t *t);

static void plain_exit(void *v)
{
    plain_t *t = v;
    flush_owed(t);
    if (t->alt_mine) {
        stack_t dis = {.ss_flags = SS_DISABLE};
        sigaltstack(&dis, NULL);
        free(t->alt.ss_sp);
    }
    tls_plain = NULL;
    free(t);
}

static void plain_key_init(void)
{
    pthread_key_create(&g_plain_key, plain_exit);
}

/* The thread's record, made on first use: its signal mask (restored
 * after a stand-in job overflowed its stack, which leaves the fault
 * handler without returning) and an alternate signal stack for that
 * handler, kept until the thread exits. */
static plain_t *plain_get(void)
{
    plain_t *t = tls_plain;
    if (SP__LIKELY(t != NULL))
        return t;
    pthread_once(&g_plain_once, plain_key_init);
    t = calloc(1, sizeof *t);
    if (!t || pthread_setspecific(g_plain_key, t) != 0) {
        free(t);
        return NULL;
    }
    pthread_sigmask(SIG_BLOCK, NULL, &t->mask);
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) {
        t->alt_ok = 1; /* the thread's own (or a sanitizer's) */
    } else {
        size_t sz = 64 * 1024;
        t->alt.ss_sp = malloc(sz);
        t->alt.ss_size = sz;
        if (t->alt.ss_sp && sigaltstack(&t->alt, NULL) == 0)
            t->alt_ok = t->alt_mine = 1;
        else
            free(t->alt.ss_sp);
    }
    tls_plain = t;
    return t;
}

/* w is PARKED now (given back, or its wake no longer owed): wake it if
 * it has something to do. Against a pusher: it pushes (a seq_cst RMW, or
 * a store and a seq_cst fence), reads idle; we store idle with a seq_cst
 * RMW (every caller) and read the queue with seq_cst loads: one of us
 * sees the other, with no fence here (on x86 the RMW's locked
 * instruction orders them; a fence was one more). */
static void wake_if_work(sp__worker *w)
{
    sp_pool *p = w->pool;
    if (atomic_load_explicit(&w->q.inbox, memory_order_seq_cst) ||
        atomic_load_explicit(&w->q.n, memory_order_seq_cst) > 0 ||
        atomic_load(&p->stopping) || atomic_load(&w->retired) ||
        atomic_load(&w->want_best))
        sp__worker_wake(w, 0);
}

static void flush_owed(plain_t *t)
{
    sp__worker *w = t->owed;
    if (!w)
        return;
    t->owed = NULL;
    sp__owed_pay(w);
    sp_pool_release(w->pool);
}

/* A wake put off on w is paid (the thread's flush, or the monitor's tick
 * for a thread that went on with something else): an OWED w goes back
 * to PARKED and is woken if it has work. Read first: a stale record (w
 * no longer OWED) costs no locked instruction. */
void sp__owed_pay(sp__worker *w)
{
    int v = SP__W_OWED;
    if (atomic_load_explicit(&w->idle, memory_order_relaxed) == v &&
        atomic_compare_exchange_strong(&w->idle, &v, SP__W_PARKED))
        wake_if_work(w);
}

void sp__owed_flush(void)
{
    plain_t *t = tls_plain;
    if (t && t->owed)
        flush_owed(t);
}

void sp_flush_wakes(void)
{
    sp__owed_flush();
}

/* A plain thread queued a fresh job on w, parked (v: PARKED or OWED,
 * read after the push): owe its wake. 0 if it must be woken now. */
static int put_off_wake(sp__worker *w, int v)
{
    plain_t *t = plain_get();
    if (!t)
        return 0;
    if (t->owed == w)
        return v == SP__W_OWED ||
               atomic_compare_exchange_strong(&w->idle, &v, SP__W_OWED);
    /* the owed pointer must stay valid: a reference to the pool, from
     * the thread's batch of them (pool.c: no locked instruction) */
    sp__pool_retain_job_by(w->pool, NULL);
    if (v != SP__W_OWED &&
        !atomic_compare_exchange_strong(&w->idle, &v, SP__W_OWED)) {
        sp__pool_release_job(w->pool);
        return 0;
    }
    flush_owed(t); /* one owed wake per thread */
    t->owed = w;
    return 1;
}

/* A lent worker is wanted back: its stand-in job yields at its next
 * safe point (cur is NULL while the stand-in is between switches: then
 * lent_entered sees WANTED, or the give-back does). */
static void lent_yield(sp__worker *w)
{
    sp_job *j = sp__pin_cur(w);
    if (j)
        sp__request_preempt(w, j, SP__PC_SLICE, 0);
    sp__unpin(w);
}

/* enter() on a lent worker: cur is stored; a WANTED mark made before it
 * found no job to ask (a Dekker pair with lent_yield's pin and read). */
static void lent_entered(sp__worker *w, sp_job *j)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load(&w->idle) == SP__W_WANTED)
        sp__request_preempt(w, j, SP__PC_SLICE, 0);
}

/* Give a lent worker back: asleep (to: PARKED, or OWED when the thread
 * still owes w's wake), and woken if it was wanted or has work (a job
 * that yielded or suspended meanwhile may be queued there). */
static void give_back(sp__worker *w, int to)
{
    /* nidle counted w while lent (it is asleep): nothing to add */
    int v = atomic_exchange(&w->idle, to);
    if (v == SP__W_WANTED)
        sp__worker_wake(w, 0);
    else
        wake_if_work(w);
}

/* Run j on this thread as w (lent to us; j taken from w's queue). The
 * sanitizers' notion of the scheduler context is per thread: w's own is
 * kept aside meanwhile. */
static void run_lent(plain_t *t, sp__worker *w, sp_job *j)
{
    void *fake = w->san_fake, *tsan = w->tsan_fiber;
    const void *bottom = w->san_bottom;
    size_t size = w->san_size;
    w->tsan_fiber = NULL;
    w->lent = 1;
    w->lent_mask = &t->mask;
    SP__BUMP(w->st.inline_runs);
    sp__set_self(w);
    sp__run_job(w, j);
    sp__set_self(NULL);
    w->lent = 0;
    w->lent_mask = NULL;
    w->san_fake = fake;
    w->tsan_fiber = tsan;
    w->san_bottom = bottom;
    w->san_size = size;
}

/* Borrow w if it sleeps with j alone in its queue, and take j out. */
static int borrow(sp__worker *w, sp_job *j)
{
    /* alone: one in the levels, or none there and one in the inbox
     * (checked exactly under the lock) */
    int n = atomic_load_explicit(&w->q.n, memory_order_relaxed);
    if (n > 1 || (n == 1) == (atomic_load_explicit(&w->q.inbox,
                                                  memory_order_relaxed) != NULL))
        return 0;
    int v = atomic_load(&w->idle);
    if ((v != SP__W_PARKED && v != SP__W_OWED) ||
        !atomic_compare_exchange_strong(&w->idle, &v, SP__W_LENT))
        return 0;
    /* nidle keeps counting w: a lent worker sleeps, and the scans that
     * read nidle wake nobody that is LENT (want 0) */
    int found = 0;
    if (atomic_load(&w->retired))
        ;
    else if (atomic_load_explicit(&w->q.n, memory_order_relaxed) == 0 &&
             atomic_load_explicit(&w->q.inbox, memory_order_relaxed) == j) {
        /* j on top of the inbox (a fresh job this thread just started):
         * the inbox taken with one compare-and-swap, no lock and no
         * drain. The CAS fails for a push on top of j, a drain or a
         * retire that took the inbox; once it succeeds, the chain under
         * j is ours (j is QUEUED: pushed once, it cannot come back), so
         * its next is read without a race. Alone: found. Else (older
         * jobs under j, pushed by others just before it) the chain goes
         * back where a drain would have put it, ahead of anything pushed
         * since, and the worker is given back with work. */
        sp_job *head = j;
        if (atomic_compare_exchange_strong(&w->q.inbox, &head, NULL)) {
            if (!j->next) {
                found = 1;
            } else {
                sp__spin *l = sp__runq_lock(&w->q);
                sp__runq_put_back(&w->q, j);
                sp__spin_unlock(l);
            }
        }
    } else {
        sp__spin *l = sp__runq_lock(&w->q);
        sp__runq_drain(&w->q);
        found = atomic_load_explicit(&w->q.n, memory_order_relaxed) == 1 &&
                sp__runq_remove(&w->q, j);
        sp__spin_unlock(l);
    }
    if (!found)
        give_back(w, SP__W_PARKED);
    return found;
}

int sp__lend_run(sp_job *j)
{
    sp_pool *p = j->pool;
    if (sp__self() || p->nworkers == 0 || !lendable(p, j) ||
        atomic_load(&p->closed))
        return 0;
    plain_t *t = plain_get();
    if (!t || !t->alt_ok)
        return 0;
    int n = atomic_load(&p->nw);
    for (int k = 0; k < n; k++) {
        sp__worker *w = p->workers[k];
        if (!w || !borrow(w, j))
            continue;
        run_lent(t, w, j);
        /* the wake owed for j is paid by the give-back (it wakes w if
         * need be). The debt and its pool reference stay, for the
         * thread's next job on w: w goes back OWED, so that job's start
         * puts its wake off with no locked instruction and no reference
         * taken (put_off_wake). A worker left OWED with nothing queued
         * is put back to PARKED by the thread's next flush or by the
         * monitor's next tick, neither of which then wakes it. */
        give_back(w, t->owed == w ? SP__W_OWED : SP__W_PARKED);
        return 1;
    }
    return 0;
}

uint64_t sp__pool_inline_runs(sp_pool *p)
{
    pthread_mutex_lock(&p->statlock);
    uint64_t r = atomic_load(&p->dead.inline_runs);
    int n = atomic_load(&p->nw);
    for (int k = 0; k < n; k++)
        if (p->workers[k])
            r += atomic_load(&p->workers[k]->st.inline_runs);
    pthread_mutex_unlock(&p->statlock);
    return r;
}
