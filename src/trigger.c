/*
 * trigger.c - triggers: acc, count, set and fn; chains, cancel-on, waits.
 *
 * A trigger fires exactly once, inside the update that completes it: that
 * update sets done under the lock and takes the listener list with it, so
 * a listener is either run by the firing update or refused at
 * registration ("fired already": the caller acts at once). Listeners
 * (scheduled jobs, chained triggers, cancel-on jobs) run with no lock
 * held, in registration order; only then are waiters woken (settled), so
 * whoever waited on a first-of-N trigger finds the other jobs cancelled.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct sp_trigger {
    _Atomic int refs;
    pthread_mutex_t lock;
    sp_trigger_kind kind;
    size_t n;               /* target (ACC, COUNT, SET) */
    size_t count;           /* updates (ACC, COUNT, FN), elements (SET) */
    _Atomic int done;       /* fired: later updates are ignored */
    int settled;            /* listeners ran: waiters may go */
    sp_value_ops ops;
    int has_ops;
    sp_trigger_fn fn;
    void *ud;
    sp_list *vals;          /* ACC: the values, in update order */
    unsigned char *seen;    /* SET: elements added */
    sp__tlisten *lhead, *ltail;
    sp__waitq waiters;
};

static const sp_value_ops *ops_of(const sp_trigger *t)
{
    return t->has_ops ? &t->ops : NULL;
}

const sp_value_ops *sp__trigger_ops(const sp_trigger *t)
{
    return ops_of(t);
}

static sp_trigger *trig_new(sp_trigger_kind kind, size_t n,
                            const sp_value_ops *ops)
{
    sp_trigger *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    atomic_init(&t->refs, 1);
    pthread_mutex_init(&t->lock, NULL);
    t->kind = kind;
    t->n = n;
    if (ops) {
        t->ops = *ops;
        t->has_ops = 1;
    }
    if (kind == SP_TRIGGER_ACC)
        t->vals = calloc(1, sizeof(sp_list) + n * sizeof(void *));
    if (kind == SP_TRIGGER_SET)
        t->seen = calloc(n, 1);
    if ((kind == SP_TRIGGER_ACC && !t->vals) ||
        (kind == SP_TRIGGER_SET && !t->seen)) {
        sp_trigger_release(t);
        return NULL;
    }
    return t;
}

sp_trigger *sp_trigger_create(sp_trigger_kind kind, size_t n,
                              const sp_value_ops *ops)
{
    if (kind != SP_TRIGGER_ACC && kind != SP_TRIGGER_COUNT &&
        kind != SP_TRIGGER_SET)
        return NULL;
    if (n == 0 || n > ((size_t)1 << 40))
        return NULL;
    return trig_new(kind, n, ops);
}

sp_trigger *sp_trigger_create_fn(sp_trigger_fn fn, void *ud,
                                 const sp_value_ops *ops)
{
    if (!fn)
        return NULL;
    sp_trigger *t = trig_new(SP_TRIGGER_FN, 0, ops);
    if (t) {
        t->fn = fn;
        t->ud = ud;
    }
    return t;
}

void sp_trigger_retain(sp_trigger *t)
{
    if (t)
        atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

static void trig_free(sp_trigger *t)
{
    /* listeners of a trigger that never fired: let them drop their
     * references (nobody else can reach t now: no lock needed) */
    for (sp__tlisten *l = t->lhead, *nx; l; l = nx) {
        nx = l->next;
        l->linked = 0;
        l->fn(t, l, 0);
    }
    if (t->vals)
        for (size_t i = 0; i < t->vals->n; i++)
            sp__vrelease(ops_of(t), t->vals->v[i]);
    free(t->vals);
    free(t->seen);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

void sp_trigger_release(sp_trigger *t)
{
    if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
        trig_free(t);
}

sp_trigger_kind sp_trigger_kind_of(const sp_trigger *t)
{
    return t ? t->kind : SP_TRIGGER_ACC;
}

/* ---- firing ---- */

/* Lock held, the completing update: no more updates, listeners taken. */
static sp__tlisten *take_listeners(sp_trigger *t)
{
    atomic_store(&t->done, 1);
    sp__tlisten *l = t->lhead;
    t->lhead = t->ltail = NULL;
    for (sp__tlisten *c = l; c; c = c->next)
        c->linked = 0;
    return l;
}

/* No lock held. A listener may free itself: read next first. */
static void fire(sp_trigger *t, sp__tlisten *l)
{
    sp_trigger_retain(t);
    while (l) {
        sp__tlisten *nx = l->next;
        l->fn(t, l, 1);
        l = nx;
    }
    pthread_mutex_lock(&t->lock);
    t->settled = 1;
    sp__wake_all(&t->waiters);
    pthread_mutex_unlock(&t->lock);
    sp_trigger_release(t);
}

static int set_index(sp_trigger *t, void *v, size_t *k)
{
    long x;
    if (t->has_ops && t->ops.to_long) {
        if (t->ops.to_long(v, &x) != 0)
            return SP_EINVAL;
    } else {
        x = (long)(intptr_t)v;
    }
    if (x < 1 || (size_t)x > t->n)
        return SP_EINVAL;
    *k = (size_t)x - 1;
    return 0;
}

/* Lock held, not done: apply the update; 1 if it completes t. */
static int apply(sp_trigger *t, void *v, int fn_said, int *rc)
{
    size_t k;
    switch (t->kind) {
    case SP_TRIGGER_ACC:
        sp__vretain(ops_of(t), v);
        t->vals->v[t->vals->n++] = v;
        return ++t->count == t->n;
    case SP_TRIGGER_COUNT:
        return ++t->count == t->n;
    case SP_TRIGGER_SET:
        if ((*rc = set_index(t, v, &k)) != 0)
            return 0;
        if (!t->seen[k]) {
            t->seen[k] = 1;
            t->count++;
        }
        return t->count == t->n;
    case SP_TRIGGER_FN:
        t->count++;
        return fn_said;
    }
    return 0;
}

static int update(sp_trigger *t, void *v)
{
    int fn_said = 0, rc = 0;
    if (atomic_load(&t->done))
        return 1;
    if (t->kind == SP_TRIGGER_FN) /* outside the lock: fn may call us */
        fn_said = t->fn(t->ud, v) != 0;
    pthread_mutex_lock(&t->lock);
    if (atomic_load(&t->done)) {
        pthread_mutex_unlock(&t->lock);
        return 1;
    }
    sp__tlisten *l = NULL;
    int complete = apply(t, v, fn_said, &rc);
    if (complete)
        l = take_listeners(t);
    pthread_mutex_unlock(&t->lock);
    if (complete)
        fire(t, l);
    return rc;
}

int sp_trigger_update(sp_trigger *t, void *value)
{
    if (!t)
        return SP_EINVAL;
    sp__rt_enter();
    int rc = update(t, value);
    sp__rt_leave();
    return rc;
}

int sp_trigger_fired(const sp_trigger *t)
{
    return t && atomic_load(&((sp_trigger *)t)->done) ? 1 : 0;
}

size_t sp_trigger_count(const sp_trigger *t)
{
    if (!t)
        return 0;
    sp_trigger *m = (sp_trigger *)t;
    pthread_mutex_lock(&m->lock);
    size_t n = m->count;
    pthread_mutex_unlock(&m->lock);
    return n;
}

const sp_list *sp_trigger_values(const sp_trigger *t)
{
    return t && t->kind == SP_TRIGGER_ACC && sp_trigger_fired(t) ? t->vals
                                                                 : NULL;
}

void *sp__trigger_packed(sp_trigger *t, int *owned)
{
    *owned = 0;
    if (t->kind != SP_TRIGGER_ACC)
        return NULL;
    if (t->has_ops && t->ops.pack) {
        *owned = 1;
        return t->ops.pack(t->vals->n, t->vals->v);
    }
    return t->vals;
}

/* ---- listeners ---- */

int sp__trigger_listen(sp_trigger *t, sp__tlisten *l)
{
    pthread_mutex_lock(&t->lock);
    if (atomic_load(&t->done)) {
        pthread_mutex_unlock(&t->lock);
        return 1;
    }
    l->next = NULL;
    l->prev = t->ltail;
    if (t->ltail)
        t->ltail->next = l;
    else
        t->lhead = l;
    t->ltail = l;
    l->linked = 1;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

int sp__trigger_unlisten(sp_trigger *t, sp__tlisten *l)
{
    pthread_mutex_lock(&t->lock);
    int was = l->linked;
    if (was) {
        if (l->prev)
            l->prev->next = l->next;
        else
            t->lhead = l->next;
        if (l->next)
            l->next->prev = l->prev;
        else
            t->ltail = l->prev;
        l->linked = 0;
    }
    pthread_mutex_unlock(&t->lock);
    return was;
}

typedef struct chain_l {
    sp__tlisten l;
    sp_trigger *target;
    sp_job *job;
} chain_l;

static void chained_fired(sp_trigger *src, sp__tlisten *l, int fired)
{
    chain_l *c = (chain_l *)l;
    if (fired) {
        int owned;
        void *v = sp__trigger_packed(src, &owned);
        update(c->target, v);
        if (owned)
            sp__vrelease(ops_of(src), v);
    }
    sp_trigger_release(c->target);
    free(c);
}

static void cancel_fired(sp_trigger *t, sp__tlisten *l, int fired)
{
    chain_l *c = (chain_l *)l;
    (void)t;
    if (fired)
        sp_job_cancel(c->job);
    sp_job_release(c->job);
    free(c);
}

/* Link a new listener holding a reference to target or job; when t has
 * fired already, run it now. */
static int add_listener(sp_trigger *t, sp_trigger *target, sp_job *job,
                        void (*fn)(sp_trigger *, sp__tlisten *, int))
{
    chain_l *c = calloc(1, sizeof *c);
    if (!c)
        return SP_ENOMEM;
    c->l.fn = fn;
    c->target = target;
    c->job = job;
    sp_trigger_retain(target);
    sp_job_retain(job);
    sp__rt_enter();
    if (sp__trigger_listen(t, &c->l) != 0)
        fn(t, &c->l, 1);
    sp__rt_leave();
    return 0;
}

int sp_trigger_chain(sp_trigger *t, sp_trigger *src)
{
    if (!t || !src || t == src)
        return SP_EINVAL;
    return add_listener(src, t, NULL, chained_fired);
}

int sp_trigger_cancel_on(sp_trigger *t, sp_job *job)
{
    if (!t || !job)
        return SP_EINVAL;
    return add_listener(t, NULL, job, cancel_fired);
}

/* End hook of a job chained to t (ud, one reference). */
static void job_ended(sp_job *job, void *ud)
{
    sp_trigger *t = ud;
    if (sp__job_final_state(job) == SP_JOB_DONE)
        update(t, job->result);
    sp_trigger_release(t);
}

int sp_trigger_chain_job(sp_trigger *t, sp_job *job)
{
    if (!t || !job)
        return SP_EINVAL;
    sp__rt_enter();
    sp_trigger_retain(t);
    int rc = sp__job_on_end(job, job_ended, t);
    if (rc == SP_EBUSY) { /* ended already */
        job_ended(job, t);
        rc = 0;
    } else if (rc != 0) {
        sp_trigger_release(t);
    }
    sp__rt_leave();
    return rc;
}

/* ---- waiting ---- */

int sp_trigger_wait(sp_trigger *t)
{
    if (!t)
        return SP_EINVAL;
    sp__rt_enter();
    int rc = 0;
    pthread_mutex_lock(&t->lock);
    while (!t->settled && rc == 0)
        rc = sp__wait(&t->waiters, &t->lock);
    pthread_mutex_unlock(&t->lock);
    sp__rt_leave();
    return rc;
}
