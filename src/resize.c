/*
 * resize.c - resizing a pool (sp_pool_set_workers) and jobs bound to one
 * worker (sp_job_start_on).
 *
 * Shrinking reuses the machinery of the KLT handoff (preempt.c): a
 * worker is *retired* (w->retired), nobody queues on it any more
 * (pick_worker, requeue, the direct yield and the stealing paths all
 * skip retired workers), and its thread leaves once its current job has
 * left it. Here the retired worker's queue is spread over the remaining
 * workers, its running job is asked to yield at its next safe point (it
 * is then requeued on a live worker, like a job woken after a
 * suspension, whose last worker is retired), and whatever a racing push
 * still left in its queue is handed over by the leaving thread itself
 * (sp__worker_hand_over) -- or stolen before that, since thieves scan
 * retired queues too.
 *
 * Growing starts workers in the slots of retired workers whose thread
 * has exited (joined here; their counters are folded into pool->dead,
 * their struct kept on pool->graveyard, since jobs may still point to it
 * through j->worker), else at the end of workers[].
 *
 * Every change of workers[] happens under pool->lock. A job must not
 * block on that lock: sp_pool_close with wait holds it while it waits
 * for jobs to end. So it is only tried, and a job yields between tries.
 */
#include "internal.h"

#include <sched.h>
#include <stdlib.h>
#include <time.h>

/* pool->lock, or SP_ECLOSED once the pool is closed. */
static int lock_pool(sp_pool *p)
{
    for (;;) {
        if (atomic_load(&p->closed))
            return SP_ECLOSED;
        if (pthread_mutex_trylock(&p->lock) == 0) {
            if (!p->stopped && !atomic_load(&p->closed))
                return 0;
            pthread_mutex_unlock(&p->lock);
            return SP_ECLOSED;
        }
        if (sp__current()) {
            sp_yield();
        } else {
            struct timespec ts = {0, 100 * 1000};
            nanosleep(&ts, NULL);
        }
    }
}

static int live(const sp__worker *w)
{
    return w && !atomic_load(&((sp__worker *)w)->retired);
}

/* The next live worker, round robin from *rr; NULL if none. */
static sp__worker *live_next(sp_pool *p, unsigned *rr)
{
    int n = atomic_load(&p->nw);
    for (int k = 0; k < n; k++) {
        sp__worker *w = p->workers[(*rr)++ % (unsigned)n];
        if (live(w))
            return w;
    }
    return NULL;
}

/* The next live worker with its queue locked (trylock: two movers never
 * wait for each other's queue), or NULL if none. */
static sp__worker *lock_target(sp_pool *p, unsigned *rr)
{
    for (;;) {
        sp__worker *t = live_next(p, rr);
        if (!t)
            return NULL;
        if (sp__runq_trylock(&t->q))
            return t;
        __builtin_ia32_pause();
    }
}

/* Spread the jobs queued on w over the live workers (priorities kept:
 * a job's level is its prio), then wake sleepers and preempt a running
 * job of lower priority than the best moved one. Each job goes from one
 * queue to the other with both locked: sp_pool_close's "nothing queued
 * or running" test must never see a job in neither. */
void sp__move_queue(sp_pool *p, sp__worker *w)
{
    unsigned rr = atomic_fetch_add(&p->rr, 1);
    int top = -1;
    sp__spin *lw = sp__runq_lock(&w->q);
    for (;;) {
        /* the target first: a job popped is pushed at once (the counts
         * that close reads without a lock never both miss it for long) */
        sp__worker *t = lock_target(p, &rr);
        if (!t) /* none left (not while n >= 1): leave them */
            break;
        sp_job *j = sp__runq_pop(&w->q);
        if (j)
            sp__runq_push(&t->q, j);
        sp__spin_unlock(&t->q.lock); /* lock_target's */
        if (!j)
            break;
        if (j->prio > top)
            top = j->prio;
    }
    sp__spin_unlock(lw);
    if (top < 0)
        return;
    atomic_thread_fence(memory_order_seq_cst); /* pushes, then idle flags */
    sp__pool_wake_all(p);
    sp__prio_check(p, NULL, top);
}

void sp__worker_hand_over(sp__worker *w)
{
    sp_pool *p = w->pool;
    if (!atomic_load(&p->stopping) && sp__runq_has(&w->q))
        sp__move_queue(p, w); /* when stopping, sp__pool_stop drains it */
}

/* Retire w (pool->lock held): see the top of the file. */
static void retire(sp_pool *p, sp__worker *w)
{
    atomic_store(&w->retired, 1);
    atomic_fetch_sub(&p->nlive, 1);
    sp__move_queue(p, w);
    sp_job *j = sp__pin_cur(w);
    if (j) /* leave at the next safe point; requeued on a live worker */
        sp__request_preempt(w, j, SP__PC_SLICE, 1);
    sp__unpin(w);
    sp__pool_wake_all(p); /* parked, it wakes up and leaves */
}

/* Counters of a worker whose slot is reused go to pool->dead. */
static void bury(sp_pool *p, int slot)
{
    sp__worker *old = p->workers[slot];
    pthread_join(old->thread, NULL); /* it has exited */
    sp__move_queue(p, old); /* a push that raced with its retirement */
    pthread_mutex_lock(&p->statlock);
    _Atomic uint64_t *d = (_Atomic uint64_t *)&p->dead;
    _Atomic uint64_t *s = (_Atomic uint64_t *)&old->st;
    for (size_t i = 0; i < sizeof(sp__wstats) / sizeof(uint64_t); i++)
        atomic_fetch_add_explicit(&d[i], atomic_load_explicit(&s[i],
                                  memory_order_relaxed), memory_order_relaxed);
    /* its job counts too (pool->lock held: sp__pool_active's readers) */
    atomic_fetch_add(&p->dead_jc.started, atomic_load(&old->jc.started));
    atomic_fetch_add(&p->dead_jc.ended, atomic_load(&old->jc.ended));
    atomic_fetch_add(&p->dead_jc.done, atomic_load(&old->jc.done));
    atomic_fetch_add(&p->dead_jc.cancelled, atomic_load(&old->jc.cancelled));
    atomic_fetch_add(&p->dead_jc.failed, atomic_load(&old->jc.failed));
    p->workers[slot] = NULL;
    pthread_mutex_unlock(&p->statlock);
    sp__spin *l = sp__runq_lock(&old->q);
    uint64_t hw = (uint64_t)old->q.highwater;
    sp__spin_unlock(l);
    if (hw > atomic_load(&p->c_highwater))
        atomic_store(&p->c_highwater, hw);
    old->gnext = p->graveyard;
    p->graveyard = old;
}

/* Start one worker (pool->lock held): in the slot of an exited retired
 * worker, else at the end. */
static int grow_one(sp_pool *p)
{
    int n = atomic_load(&p->nw), slot = -1;
    for (int k = 0; k < n && slot < 0; k++) {
        sp__worker *w = p->workers[k];
        if (!w || (atomic_load(&w->retired) && atomic_load(&w->exited) &&
                   !atomic_load(&w->pin)))
            slot = k;
    }
    if (slot < 0 && n >= SP__MAX_WORKERS)
        return SP_ENOMEM; /* every slot holds a worker or a stuck thread */
    if (slot >= 0 && p->workers[slot])
        bury(p, slot);
    int idx = slot >= 0 ? slot : n;
    int rc = sp__worker_spawn(p, idx);
    if (rc != 0)
        return rc;
    if (idx == n)
        atomic_store(&p->nw, n + 1);
    atomic_fetch_add(&p->nlive, 1);
    return 0;
}

int sp_pool_set_workers(sp_pool *p, int n)
{
    if (!p)
        return SP_EINVAL;
    if (p->nworkers == 0) /* a pseudo pool stays one */
        return n == 0 ? 0 : SP_ESTATE;
    if (n < 1 || n > SP_MAX_WORKERS)
        return SP_EINVAL;
    int rc = lock_pool(p);
    if (rc < 0)
        return rc;
    while (rc == 0 && atomic_load(&p->nlive) < n)
        rc = grow_one(p);
    /* shrink: retire the live workers of the highest slots */
    for (int k = atomic_load(&p->nw) - 1;
         k >= 0 && atomic_load(&p->nlive) > n; k--)
        if (live(p->workers[k]))
            retire(p, p->workers[k]);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* ---- bound jobs ---- */

/* The k-th live worker in slot order, or NULL. */
static sp__worker *live_at(sp_pool *p, int k)
{
    int n = atomic_load(&p->nw);
    for (int i = 0; i < n; i++) {
        sp__worker *w = p->workers[i];
        if (live(w) && k-- == 0)
            return w;
    }
    return NULL;
}

int sp_worker_index(void)
{
    sp__worker *w = sp__self();
    if (!w || w->is_runner || !sp__current() || !live(w))
        return -1;
    sp_pool *p = w->pool;
    int n = atomic_load(&p->nw), k = 0;
    for (int i = 0; i < n; i++) {
        sp__worker *v = p->workers[i];
        if (v == w)
            return k;
        if (live(v))
            k++;
    }
    return -1;
}

static void bound_ended(sp_job *j, void *ud)
{
    (void)j;
    sp_pool *p = ud;
    atomic_fetch_sub(&p->nbound, 1);
    sp_pool_release(p);
}

int sp_job_start_on(sp_pool *p, int worker, int prio, sp_job *j)
{
    if (!p || !j || worker < 0)
        return SP_EINVAL;
    if (p->nworkers == 0)
        return SP_ESTATE;
    if (atomic_load(&p->closed) || atomic_load(&sp__shutdown_flag))
        return SP_ECLOSED;
    sp__worker *w = live_at(p, worker);
    if (!w)
        return SP_EINVAL;
    sp__lk_lock(&j->lock);
    int free_to_start = !__atomic_load_n(&j->pool, __ATOMIC_RELAXED) && !j->scheduled &&
                        atomic_load(&j->state) == SP_JOB_CREATED &&
                        !(j->flags & SP__JOB_BOUND);
    int refused = free_to_start ? 0 : sp__start_refused(j);
    sp__lk_unlock(&j->lock);
    if (refused)
        return refused;
    sp_pool_retain(p); /* for bound_ended, which may run at the job's free */
    if (sp__job_on_end(j, bound_ended, p) != 0) {
        sp_pool_release(p);
        return SP_ENOMEM;
    }
    atomic_fetch_add(&p->nbound, 1); /* before the job can be seen queued */
    sp__lk_lock(&j->lock);
    j->worker = w;
    j->flags |= SP__JOB_BOUND;
    sp__lk_unlock(&j->lock);
    int rc = sp__job_start(p, prio, j, 0);
    if (rc < 0) {
        sp__lk_lock(&j->lock);
        j->flags &= ~SP__JOB_BOUND; /* its hook still runs, at free */
        sp__lk_unlock(&j->lock);
    }
    return rc;
}
