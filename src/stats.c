/*
 * stats.c - counters that need more than a load to read.
 *
 * The queue high-water mark: every run queue keeps its own maximum
 * (sp__runq_push, under the queue's lock), which covers every push --
 * from outside, requeues after a yield or preemption, a KLT handoff, a
 * pseudo pool's queue -- while pool->c_highwater only sees the pushes
 * of sp__job_ready. The pool's figure is the largest of them.
 */
#include "internal.h"

static uint64_t runq_highwater(sp__runq *q)
{
    sp__spin *l = sp__runq_lock(q);
    sp__runq_drain(q); /* the inbox counts in its figure */
    uint64_t h = (uint64_t)q->highwater;
    sp__spin_unlock(l);
    return h;
}

uint64_t sp__pool_highwater(sp_pool *p)
{
    uint64_t h = atomic_load(&p->c_highwater);
    uint64_t q = runq_highwater(&p->q);
    if (q > h)
        h = q;
    int n = atomic_load(&p->nw);
    for (int k = 0; k < n; k++) {
        sp__worker *w = p->workers[k];
        if (w && (q = runq_highwater(&w->q)) > h)
            h = q;
    }
    return h;
}
