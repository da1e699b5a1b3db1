/*
 * sched.c - priority run queues and wait queues.
 *
 * A run queue is one FIFO per priority level plus a bitmap of the
 * non-empty levels, so push and pop are O(1) and "the best priority
 * waiting here" is one bit scan (the preemption check uses it).
 *
 * Wait queues (see internal.h for the contract) are intrusive lists of
 * sp__waiter nodes that live on the waiter's own stack: a fiber's stack
 * stays put while it is suspended, and a blocked thread's frame lives
 * until it has re-taken the caller's mutex, after every waker let go.
 */
#include "internal.h"

#include <cpuid.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { SP__REBIAS_MIN = 1u << 12, SP__REBIAS_MAX = 1u << 24 };

void sp__runq_init(sp__runq *q)
{
    atomic_init(&q->lock.v, 0);
    atomic_init(&q->bias, 0);
    atomic_init(&q->own.v, 0);
    q->quiet = 0;
    q->rebias_at = sp__rebias_fixed ? sp__rebias_fixed : SP__REBIAS_MIN;
    q->bitmap = 0;
    for (int i = 0; i < SP_NPRIO; i++)
        q->lv[i].head = q->lv[i].tail = NULL;
    atomic_init(&q->n, 0);
    q->highwater = 0;
    atomic_init(&q->inbox, NULL);
}

int sp__prefetchw_ok;

__attribute__((constructor)) static void prefetchw_probe(void)
{
    unsigned a, b, c, d;
    sp__prefetchw_ok = __get_cpuid(0x80000001, &a, &b, &c, &d) &&
                       (c & (1u << 8)) != 0; /* PRFCHW */
}

/* ---- owner bias (see internal.h) ---- */

int sp__asym_ok;
unsigned sp__rebias_fixed;
_Atomic long sp__nrevoke;
static pthread_once_t asym_once = PTHREAD_ONCE_INIT;

static void asym_setup(void)
{
#if defined(SP_TSAN)
    sp__asym_ok = 0;
#else
    long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    sp__asym_ok = q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
                  syscall(SYS_membarrier,
                          MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0,
                          0) == 0;
    const char *e = getenv("SPINDLE_NO_BIAS");
    if (e && *e && *e != '0')
        sp__asym_ok = 0;
#endif
}

void sp__asym_init(void)
{
    pthread_once(&asym_once, asym_setup);
}

void sp__runq_revoke(sp__runq *q)
{
    atomic_store_explicit(&q->bias, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&sp__nrevoke, 1, memory_order_relaxed);
    if (sp__rebias_fixed)
        q->rebias_at = sp__rebias_fixed;
    else if (q->rebias_at < SP__REBIAS_MAX)
        q->rebias_at *= 2;
    /* every thread of the process passes a full barrier: the owner's
     * own = 1, if stored before that, is visible now; if after, the
     * owner's re-check sees bias 0 */
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) &&
        (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
                 0, 0) ||
         syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0))) {
        /* registered at the first pool (and kept across fork): without
         * the barrier the owner could be inside, unseen */
        fputs("spindle: membarrier failed after it was registered\n", stderr);
        abort();
    }
    for (int n = 0; atomic_load_explicit(&q->own.v, memory_order_acquire);
         n++)
        sp__spin_backoff(n);
}

void sp__runq_rebias(sp__runq *q)
{
    q->quiet = 0;
    if (sp__asym_ok) /* published by the spin lock's release */
        atomic_store_explicit(&q->bias, 1, memory_order_relaxed);
    else
        q->rebias_at = SP__REBIAS_MAX;
}

void sp__runq_destroy(sp__runq *q)
{
    (void)q;
}

void sp__runq_push(sp__runq *q, sp_job *j)
{
    int p = j->prio - SP_PRIO_MIN;
    j->next = NULL;
    if (q->lv[p].tail)
        q->lv[p].tail->next = j;
    else
        q->lv[p].head = j;
    q->lv[p].tail = j;
    __atomic_store_n(&q->bitmap, q->bitmap | 1u << p, __ATOMIC_RELAXED);
    int n = atomic_load_explicit(&q->n, memory_order_relaxed) + 1;
    atomic_store_explicit(&q->n, n, memory_order_release);
    if (n > q->highwater)
        q->highwater = n;
}

/* A job started by a job of this worker goes to the head of its level:
 * the owner then runs depth-first (fork-join keeps few jobs, and so few
 * stacks, alive) while thieves take the oldest, largest work from the
 * tail (sp__runq_steal). */
void sp__runq_push_head(sp__runq *q, sp_job *j)
{
    int p = j->prio - SP_PRIO_MIN;
    j->next = q->lv[p].head;
    q->lv[p].head = j;
    if (!q->lv[p].tail)
        q->lv[p].tail = j;
    __atomic_store_n(&q->bitmap, q->bitmap | 1u << p, __ATOMIC_RELAXED);
    int n = atomic_load_explicit(&q->n, memory_order_relaxed) + 1;
    atomic_store_explicit(&q->n, n, memory_order_release);
    if (n > q->highwater)
        q->highwater = n;
}

/* A thief's pop: the tail of the best level when it is near (the list
 * is singly linked; a walk of at most 64), else the head. */
sp_job *sp__runq_steal(sp__runq *q)
{
    sp__runq_drain(q);
    if (!q->bitmap)
        return NULL;
    int p = 31 - __builtin_clz(q->bitmap);
    sp_job *prev = q->lv[p].head;
    if (!prev->next)
        return sp__runq_pop(q);
    int k = 0;
    while (prev->next->next && ++k < 64)
        prev = prev->next;
    if (prev->next->next)
        return sp__runq_pop(q); /* long level: the head will do */
    sp_job *j = prev->next;
    prev->next = NULL;
    q->lv[p].tail = prev;
    atomic_store_explicit(&q->n,
                          atomic_load_explicit(&q->n, memory_order_relaxed) - 1,
                          memory_order_release);
    return j;
}

static void append_chain(sp__runq *q, sp_job *l, int n0);

void sp__runq_drain_slow(sp__runq *q)
{
    /* Between taking the inbox and counting its jobs into n, they are in
     * neither place a lockless reader looks (sp__runq_has): a worker
     * parking meanwhile would see no work and sleep on a job nobody
     * wakes it for (the drainer may be a thief or a stats reader). So n
     * counts one of them before the inbox is emptied; sp__runq_has reads
     * the inbox first, then n. */
    int n0 = atomic_load_explicit(&q->n, memory_order_relaxed);
    atomic_store_explicit(&q->n, n0 + 1, memory_order_relaxed);
    sp_job *l = atomic_exchange_explicit(&q->inbox, NULL, memory_order_seq_cst);
    if (!l) {
        atomic_store_explicit(&q->n, n0, memory_order_relaxed);
        return;
    }
    append_chain(q, l, n0);
}

void sp__runq_put_back(sp__runq *q, sp_job *l)
{
    append_chain(q, l, atomic_load_explicit(&q->n, memory_order_relaxed));
}

/* Append a chain taken from the inbox (newest first) to the lowest
 * level in arrival order; n0: the count before it (lock held). */
static void append_chain(sp__runq *q, sp_job *l, int n0)
{
    /* newest first: reverse into arrival order, then append the chain */
    sp_job *first = NULL, *last = l;
    int k = 0;
    while (l) {
        /* the walk writes each job's link (its second line): that line
         * of the job 8 further on (inbox_hint, worker.c) is fetched for
         * writing now. Its first line is left to the pop before it
         * (pop: one job ahead). Fetching both lines of every job here
         * cost 14 % of a batch on Intel (Round 11): behind a backlog a
         * chain is popped long after its drain, and the lines fetched
         * for it had left the cache by then. */
        sp__prefetch_w((const char *)l->sp + 64);
        sp_job *nx = l->next;
        l->next = first;
        first = l;
        l = nx;
        k++;
    }
    int p = 0; /* SP_PRIO_MIN's level */
    if (q->lv[p].tail)
        q->lv[p].tail->next = first;
    else
        q->lv[p].head = first;
    q->lv[p].tail = last;
    __atomic_store_n(&q->bitmap, q->bitmap | 1u << p, __ATOMIC_RELAXED);
    int n = n0 + k;
    q->drained = k;
    atomic_store_explicit(&q->n, n, memory_order_release);
    if (n > q->highwater)
        q->highwater = n;
}

static inline __attribute__((always_inline)) sp_job *
pop(sp__runq *q, int fresh_only)
{
    /* The inbox's line is the one the pushing thread writes for every
     * job: a pop reads it only when the levels are empty, or every
     * SP__DRAIN_EVERY pops so that inbox jobs are not starved by jobs
     * that keep requeueing themselves at the lowest level. The levels'
     * best is the queue's best whenever they are not empty (the inbox
     * holds the lowest priority only), and inbox jobs are younger than
     * those drained before them: order is kept but for the owner's own
     * pushes, which may pass them by that many pops. */
    if (!q->bitmap || ++q->pops >= SP__DRAIN_EVERY) {
        q->pops = 0;
        q->drained = 0;
        sp__runq_drain(q);
    }
    if (!q->bitmap)
        return NULL;
    int p = 31 - __builtin_clz(q->bitmap);
    sp_job *j = q->lv[p].head;
    if (fresh_only && (j->stack || j->async_susp))
        return NULL;
    q->lv[p].head = j->next;
    if (j->next) {
        /* fetch the next job's lines while this one runs */
        sp__prefetch_job(j->next);
    } else {
        q->lv[p].tail = NULL;
        __atomic_store_n(&q->bitmap, q->bitmap & ~(1u << p), __ATOMIC_RELAXED);
    }
    j->next = NULL;
    atomic_store_explicit(&q->n,
                          atomic_load_explicit(&q->n, memory_order_relaxed) - 1,
                          memory_order_release);
    return j;
}

sp_job *sp__runq_pop(sp__runq *q)
{
    return pop(q, 0);
}

/* The owner's pop when it wants a job that never ran: the same head, if
 * it has no stack yet, else NULL and nothing popped (sp__run_on). */
sp_job *sp__runq_pop_fresh(sp__runq *q)
{
    return pop(q, 1);
}

int sp__runq_remove(sp__runq *q, sp_job *j)
{
    sp__runq_drain(q);
    int p = j->prio - SP_PRIO_MIN;
    sp_job *prev = NULL;
    for (sp_job *c = q->lv[p].head; c; prev = c, c = c->next) {
        if (c != j)
            continue;
        if (prev)
            prev->next = c->next;
        else
            q->lv[p].head = c->next;
        if (q->lv[p].tail == c)
            q->lv[p].tail = prev;
        if (!q->lv[p].head)
            __atomic_store_n(&q->bitmap, q->bitmap & ~(1u << p),
                             __ATOMIC_RELAXED);
        c->next = NULL;
        /* under the lock; fewer jobs need no fence (a seq_cst store was
         * a locked exchange): a lockless reader that still sees j
         * counted takes the lock and finds it gone */
        atomic_store_explicit(&q->n, atomic_load_explicit(&q->n,
                              memory_order_relaxed) - 1, memory_order_release);
        return 1;
    }
    return 0;
}

int sp__runq_top(sp__runq *q)
{
    uint32_t b = __atomic_load_n(&q->bitmap, __ATOMIC_RELAXED);
    if (b)
        return 31 - __builtin_clz(b) + SP_PRIO_MIN;
    return atomic_load_explicit(&q->inbox, memory_order_relaxed) ? SP_PRIO_MIN
                                                                 : -1;
}

/* ---- bound jobs (sp_job_start_on) ---- */

/* The job a thief takes from level p when jobs bound to the queue's
 * owner are skipped: as sp__runq_steal, the tail when the level is
 * short, else the head; failing those, the last unpinned one seen in the
 * first 64. NULL when every candidate is pinned. */
static sp_job *unpinned_in_level(sp__runq *q, int p)
{
    sp_job *head = q->lv[p].head, *c = head, *last = NULL;
    for (int k = 0; c && k < 64; c = c->next, k++)
        if (!sp__job_pinned(c))
            last = c;
    if (c && !sp__job_pinned(head))
        return head; /* long level: the head will do */
    return last;
}

sp_job *sp__runq_steal_unpinned(sp__runq *q)
{
    sp__runq_drain(q);
    for (uint32_t bm = q->bitmap; bm;) {
        int p = 31 - __builtin_clz(bm);
        bm &= ~(1u << p);
        sp_job *j = unpinned_in_level(q, p);
        if (j) {
            sp__runq_remove(q, j);
            return j;
        }
    }
    return NULL;
}

/* Does q hold a job that another worker may take? (Takes the lock.) */
int sp__runq_stealable(sp__runq *q)
{
    sp__spin *l = sp__runq_lock(q);
    sp__runq_drain(q);
    int found = 0;
    for (int p = 0; p < SP_NPRIO && !found; p++)
        for (sp_job *c = q->lv[p].head; c && !found; c = c->next)
            found = !sp__job_pinned(c);
    sp__spin_unlock(l);
    return found;
}

/* The first unpinned job of the best level that has one. */
sp_job *sp__runq_pop_unpinned(sp__runq *q)
{
    sp__runq_drain(q);
    for (uint32_t bm = q->bitmap; bm;) {
        int p = 31 - __builtin_clz(bm);
        bm &= ~(1u << p);
        for (sp_job *c = q->lv[p].head; c; c = c->next)
            if (!sp__job_pinned(c)) {
                sp__runq_remove(q, c);
                return c;
            }
    }
    return NULL;
}

/* ---- wait queues ---- */

/* head is read without the lock by a job's end (sp__job_end): written
 * atomically (a plain store on x86) */
static inline void wq_set_head(sp__waitq *q, sp__waiter *n)
{
    __atomic_store_n(&q->head, n, __ATOMIC_RELAXED);
}

static void wq_append(sp__waitq *q, sp__waiter *n)
{
    n->next = NULL;
    if (q->tail)
        q->tail->next = n;
    else
        wq_set_head(q, n);
    q->tail = n;
}

static int wq_unlink(sp__waitq *q, sp__waiter *n);

static void join_gap(void) /* tests: sp__test_join_gap_ns */
{
    unsigned gap = atomic_load_explicit(&sp__test_join_gap_ns,
                                        memory_order_relaxed);
    if (SP__UNLIKELY(gap))
        for (uint64_t t = sp__now_ns(); sp__now_ns() - t < gap;)
            __builtin_ia32_pause();
}

/* A joiner's node is linked (lock held): its job may have ended without
 * the lock, having seen no waiter (sp__job_end). The Dekker pair: the
 * node stored, a full barrier, the state read here; the state stored
 * with a full barrier, the head read there. 1 if the job has ended: the
 * node is unlinked again, and the wait returns 0 with the lock held. */
static int join_ended(sp__waitq *q, sp__waiter *n)
{
    sp_job *t = (sp_job *)((char *)q - offsetof(sp_job, waiters));
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&t->state, memory_order_acquire) < SP_JOB_DONE)
        return 0;
    wq_unlink(q, n);
    return 1;
}

static int wq_unlink(sp__waitq *q, sp__waiter *n)
{
    sp__waiter *prev = NULL;
    for (sp__waiter *c = q->head; c; prev = c, c = c->next) {
        if (c != n)
            continue;
        if (prev)
            prev->next = c->next;
        else
            wq_set_head(q, c->next);
        if (q->tail == c)
            q->tail = prev;
        return 1;
    }
    return 0;
}

static void set_waiting(sp_job *j, sp__waiter *n)
{
    sp__lk_lock(&j->lock); /* atomics: wait_fiber sets it without */
    __atomic_store_n(&j->waitnode, n, __ATOMIC_RELAXED);
    sp__lk_unlock(&j->lock);
}

/* A cancel may end the job right here: give back the caller's lock. */
static int cancelled_in_wait(sp_job *j, sp__lockp lock, int flags)
{
    if ((j->flags & SP_JOB_DEFER_CANCEL) || (flags & SP__WAIT_RETCANCEL))
        return SP_ECANCELED;
    j->in_rt++;
    sp__switch_out(j, SP__POST_CANCEL, lock);
    __builtin_unreachable();
}

static int wait_fiber(sp_job *j, sp__waitq *q, sp__lockp lock, int flags)
{
    sp__waiter node = {.job = j, .q = q, .lock = lock};
    if (atomic_load(&j->cancel))
        return cancelled_in_wait(j, lock, flags);
    if (flags & SP__WAIT_JOIN)
        join_gap();
    wq_append(q, &node);
    /* No job lock here: a canceller reads waitnode under the job lock and
     * then needs our queue lock, which we hold until we are off the
     * stack. waitnode (which carries q and lock) seq_cst, against the
     * cancel flag (a Dekker pair with sp_job_cancel: store cancel, then
     * read waitnode). */
    __atomic_store_n(&j->waitnode, &node, __ATOMIC_SEQ_CST);
    if (SP__UNLIKELY(atomic_load(&j->cancel))) { /* it missed us */
        wq_unlink(q, &node);
        set_waiting(j, NULL);
        return cancelled_in_wait(j, lock, flags);
    }
    if ((flags & SP__WAIT_JOIN) && join_ended(q, &node)) {
        set_waiting(j, NULL);
        return 0;
    }
    j->in_rt++;
    if (!sp__wait_direct(j, lock))
        sp__switch_out(j, SP__POST_WAIT, lock);
    /* resumed, possibly on another worker; the waker unlinked us */
    if ((flags & SP__WAIT_NOLOCK) && !atomic_load(&j->cancel)) {
        j->in_rt--;
        return SP__WAITED_UNLOCKED;
    }
    sp__lockp_lock(lock);
    j->in_rt--;
    if (atomic_load(&j->cancel))
        return cancelled_in_wait(j, lock, flags);
    return 0;
}

_Atomic int sp__pseudo_gseq;
_Atomic int sp__pseudo_gwaiters;

/* sp_wait_interruptible: the calling plain thread's flag, or NULL. Its
 * waits are the timed sleeps below; sp__wait_verdict ends them with
 * SP_EINTR once the flag is set, and sp__dl_delay keeps each sleep at
 * most 20 ms long for such a thread. */
static _Thread_local const volatile int *tls_intr;

void sp_wait_interruptible(const volatile int *flag)
{
    tls_intr = flag;
}

int sp__wait_intr_on(void)
{
    return tls_intr != NULL;
}

int sp__wait_intr_pending(void)
{
    return tls_intr && __atomic_load_n(tls_intr, __ATOMIC_RELAXED);
}

/* A plain thread waits while pseudo pools exist: their jobs may be what
 * it waits for, and nobody else runs them. So it runs whatever they have
 * queued, and sleeps on the counter every pseudo push bumps (and every
 * wake of such a node: woken is stored first). */
static int wait_running_pseudo(sp__waiter *node, sp__waitq *q,
                               sp__lockp lock, int join)
{
    unsigned naps = 0;
    while (!atomic_load(&node->woken)) {
        int s = atomic_load(&sp__pseudo_gseq);
        sp__lockp_unlock(lock);
        sp__owed_flush(); /* a wake this thread put off (worker.c) */
        int late = 0;
        if (!sp__pseudo_run_any(&node->woken) && !atomic_load(&node->woken)) {
            atomic_fetch_add(&sp__pseudo_gwaiters, 1);
            late = sp__futex_wait_ns(&sp__pseudo_gseq, s, sp__dl_delay(naps++));
            atomic_fetch_sub(&sp__pseudo_gwaiters, 1);
        }
        int rc = late ? sp__wait_verdict(join) : 0;
        sp__lockp_lock(lock);
        if (rc && !atomic_load(&node->woken)) {
            wq_unlink(q, node);
            return rc;
        }
    }
    return 0;
}

/* A plain thread's wait: spin a little first (a joined job may be about
 * to end, and a futex sleep and wake cost microseconds on this VM), but
 * briefly (~3 us): on 2 cores a waiter that spins long takes a CPU from
 * the workers. woken 2 tells the waker that we sleep on the futex, so
 * that only then it pays for a futex wake. */
#define SP__WAIT_SPIN 100

/* 0 once woken, 1 when ns ran out first */
static int sleep_until_woken(sp__waiter *n, uint64_t ns)
{
    for (int i = 0; i < SP__WAIT_SPIN; i++) {
        if (atomic_load_explicit(&n->woken, memory_order_acquire) == 1)
            return 0;
        __builtin_ia32_pause();
    }
    int z = 0;
    if (!atomic_compare_exchange_strong(&n->woken, &z, 2))
        return 0; /* woken meanwhile */
    while (atomic_load(&n->woken) == 2) {
        if (sp__futex_wait_ns(&n->woken, 2, ns)) {
            int two = 2; /* back to awake, unless woken meanwhile */
            return atomic_compare_exchange_strong(&n->woken, &two, 0);
        }
    }
    return 0;
}

/* The sleeps are timed (1, 2, 4 ... 64, then 100 ms: a wait that ends
 * sooner pays nothing for it), and each that runs out asks
 * sp__wait_verdict whether to go on: a wait ends (SP_ECANCELED) once
 * sp_shutdown has begun, since the shutdown wakes jobs but knows no
 * plain thread (not a join: the shutdown ends the job, and the joiner
 * must not return while it may still run), with sp_wait_interruptible
 * once the thread's flag is set (SP_EINTR, a join too: the job goes on,
 * and the sleeps are then at most 20 ms long), and, with
 * sp_deadlock_check on, when nothing can run any more (SP_EDEADLK). The
 * node is still queued whenever woken is not 1 under the lock (wakers
 * unlink it under the lock before they store 1). */
static int wait_thread(sp__waitq *q, sp__lockp lock, int flags)
{
    int join = (flags & SP__WAIT_JOIN) != 0;
    sp__waiter node = {.job = NULL};
    atomic_init(&node.woken, 0);
    node.pseudo = atomic_load(&sp__npseudo) > 0;
    if (sp__wait_intr_pending())
        return SP_EINTR;
    if (join)
        join_gap();
    wq_append(q, &node);
    if (join && join_ended(q, &node))
        return 0;
    if (node.pseudo)
        return wait_running_pseudo(&node, q, lock, join);
    unsigned naps = 0;
    while (atomic_load(&node.woken) != 1) {
        sp__lockp_unlock(lock);
        sp__owed_flush(); /* a wake this thread put off (worker.c) */
        int rc = sleep_until_woken(&node, sp__dl_delay(naps++)) ? sp__wait_verdict(join) : 0;
        sp__lockp_lock(lock);
        if (rc && atomic_load(&node.woken) != 1) {
            wq_unlink(q, &node);
            return rc;
        }
    }
    return 0;
}

int sp__wait_any(sp__waitq *q, sp__lockp lock, int flags)
{
    sp_job *j = sp__current();
    return j ? wait_fiber(j, q, lock, flags) : wait_thread(q, lock, flags);
}

int sp__wait_flags(sp__waitq *q, pthread_mutex_t *lock, int flags)
{
    return sp__wait_any(q, SP__LOCKP_MUTEX(lock), flags);
}

int sp__wait(sp__waitq *q, pthread_mutex_t *lock)
{
    return sp__wait_any(q, SP__LOCKP_MUTEX(lock), 0);
}

static void wake_node(sp__waiter *n)
{
    if (n->job) {
        sp_job *j = n->job;
        set_waiting(j, NULL);
        sp__job_ready(j);
        return;
    }
    if (n->pseudo) {
        atomic_store(&n->woken, 1);
        atomic_fetch_add(&sp__pseudo_gseq, 1);
        sp__futex_wake(&sp__pseudo_gseq, 0x7fffffff);
        return;
    }
    /* n may be gone once woken is 1: read nothing of it after */
    _Atomic int *addr = &n->woken;
    if (atomic_exchange(addr, 1) == 2)
        sp__futex_wake(addr, 1);
}

int sp__wake_one(sp__waitq *q)
{
    sp__waiter *n = q->head;
    if (!n)
        return 0;
    wq_set_head(q, n->next);
    if (!q->head)
        q->tail = NULL;
    wake_node(n);
    return 1;
}

void sp__wake_all(sp__waitq *q)
{
    while (sp__wake_one(q))
        ;
}

/* Cancel of a job suspended on some wait queue: take it off the queue
 * and make it ready, so that it ends at the safe point it resumes in.
 * Lock order elsewhere is queue lock -> job lock, hence the trylock. */
void sp__waitq_remove_job(sp_job *j)
{
    for (;;) {
        sp__lk_lock(&j->lock);
        sp__waiter *n = __atomic_load_n(&j->waitnode, __ATOMIC_SEQ_CST);
        if (!n) {
            sp__lk_unlock(&j->lock);
            return;
        }
        sp__lockp l = n->lock;
        if (sp__lockp_trylock(l) == 0) {
            int found = wq_unlink(n->q, n);
            j->waitnode = NULL;
            sp__lk_unlock(&j->lock);
            if (found)
                sp__job_ready(j);
            sp__lockp_unlock(l);
            return;
        }
        sp__lk_unlock(&j->lock);
        sched_yield();
    }
}

/* ---- the job lock ---- */

void sp__lk_lock_slow(sp__lk *l)
{
    for (int i = 0; i < 100; i++) { /* held for a few stores, usually */
        __builtin_ia32_pause();
        int c = 0;
        if (atomic_load_explicit(&l->v, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->v, &c, 1,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return;
    }
    while (atomic_exchange_explicit(&l->v, 2, memory_order_acquire) != 0)
        sp__futex_wait(&l->v, 2);
}
