/*
 * deps.c - jobs with argument lists, and jobs scheduled on dependencies.
 *
 * An argument-list job is an ordinary job whose fn is a trampoline that
 * calls the sp_job_fnv with the job's list (sp__jx, owned through the
 * job's sp_value_ops).
 *
 * sp_job_schedule leaves the job CREATED but marks it scheduled (so
 * sp_job_start refuses it, and it may itself be a dependency: it is not
 * "still CREATED" in the sense of the contract). A pend record counts the
 * dependencies not yet done; each dependency reports through a job-end
 * hook or a trigger listener. The first report that decides the outcome
 * claims the pend: all done -> results appended, job started; a dependency
 * cancelled or failed -> job ended the same way without running. A hook
 * on the scheduled job itself claims the pend when the job is cancelled
 * while it waits, and detaches it from its triggers (the pend holds them,
 * they hold the pend: that cycle must be broken).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- argument lists ---- */

static const sp_value_ops *jx_ops(const sp__jx *x)
{
    return x->has_ops ? &x->ops : NULL;
}

static int jx_reserve(sp__jx *x, size_t more)
{
    if (x->n + more <= x->cap)
        return 0;
    size_t cap = x->cap ? x->cap : 4;
    while (cap < x->n + more)
        cap *= 2;
    void **v = realloc(x->v, cap * sizeof *v);
    if (!v)
        return SP_ENOMEM;
    x->v = v;
    x->cap = cap;
    return 0;
}

/* Append values; retain them through ops unless owned (already ours). */
static int jx_append(sp__jx *x, size_t n, void *const *v, int owned)
{
    if (n && !v)
        return SP_EINVAL;
    if (jx_reserve(x, n) != 0)
        return SP_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!owned)
            sp__vretain(jx_ops(x), v[i]);
        x->v[x->n++] = v[i];
    }
    return 0;
}

void *sp__jx_tramp(void *arg)
{
    sp_job *j = arg;
    sp__jx *x = sp__job_x(j);
    return x->fn(x->ud, x->n, x->v);
}

static int borrowed(const sp__jx *x, size_t i)
{
    for (size_t k = 0; k < x->nkeep; k++)
        if (x->kidx[k] == i)
            return 1;
    return 0;
}

/* Record that argument i is t's own list (t retained here). */
static int keep_trigger(sp__jx *x, sp_trigger *t, size_t i)
{
    sp_trigger **k = realloc(x->keep, (x->nkeep + 1) * sizeof *k);
    if (!k)
        return SP_ENOMEM;
    x->keep = k;
    size_t *ki = realloc(x->kidx, (x->nkeep + 1) * sizeof *ki);
    if (!ki)
        return SP_ENOMEM;
    x->kidx = ki;
    sp_trigger_retain(t);
    x->keep[x->nkeep] = t;
    x->kidx[x->nkeep++] = i;
    return 0;
}

void sp__jx_free(sp_job *j)
{
    sp__jside *side = sp__jside_peek(j);
    sp__jx *x = side->x;
    const sp_value_ops *o = jx_ops(x);
    sp__vrelease(o, j->result); /* the job owns its result */
    j->result = NULL;
    for (size_t i = 0; i < x->n; i++)
        if (!x->nkeep || !borrowed(x, i))
            sp__vrelease(o, x->v[i]);
    for (size_t i = 0; i < x->nkeep; i++)
        sp_trigger_release(x->keep[i]);
    free(x->keep);
    free(x->kidx);
    free(x->v);
    sp__blk_free(x);
    side->x = NULL;
}

static sp_job *createv(sp_job_fnv fn, void *ud, const sp_value_ops *ops)
{
    sp__jx *x = sp__blk_alloc();
    if (!x)
        return NULL;
    sp_job *j = sp_job_create(sp__jx_tramp, NULL);
    if (!j) {
        sp__blk_free(x);
        return NULL;
    }
    j->arg = j;
    x->fn = fn;
    x->ud = ud;
    if (ops) {
        x->ops = *ops;
        x->has_ops = 1;
    }
    sp__jside *side = sp__jside_get(j);
    if (!side) {
        sp__blk_free(x);
        sp_job_release(j);
        return NULL;
    }
    side->x = x;
    return j;
}

sp_job *sp_job_createv(sp_job_fnv fn, void *ud, const sp_value_ops *ops,
                       size_t argc, void *const *argv)
{
    if (!fn || (argc && !argv))
        return NULL;
    sp_job *j = createv(fn, ud, ops);
    if (j && jx_append(sp__job_x(j), argc, argv, 0) != 0) {
        sp_job_release(j);
        return NULL;
    }
    return j;
}

int sp_job_add_args(sp_job *j, size_t argc, void *const *argv)
{
    sp__jx *x = j ? sp__job_x(j) : NULL;
    if (!x || (argc && !argv))
        return SP_EINVAL;
    sp__lk_lock(&j->lock);
    int rc = SP_EBUSY;
    if (atomic_load(&j->state) == SP_JOB_CREATED && !j->scheduled)
        rc = jx_append(x, argc, argv, 0);
    sp__lk_unlock(&j->lock);
    return rc;
}

sp_job *sp_job_copy(const sp_job *src, size_t argc, void *const *argv)
{
    sp__jx *sx = src ? sp__job_x(src) : NULL;
    if (!sx || (argc && !argv))
        return NULL;
    sp_job *s = (sp_job *)src;
    sp__jside *ss = sp__jside_peek(s); /* non-NULL: it holds sx */
    sp_job *j = createv(sx->fn, sx->ud, jx_ops(sx));
    if (!j)
        return NULL;
    sp__jside *js = sp__jside_peek(j);
    sp__jx *jx = js->x;
    j->flags = s->flags & ~SP__JOB_BOUND; /* bound: sp_job_start_on */
    js->cleanup = ss->cleanup;
    js->cleanup_ud = ss->cleanup_ud;
    sp__lk_lock(&s->lock); /* against add_args and set_name */
    int rc = 0;
    for (size_t i = 0; i < sx->n && rc == 0; i++) {
        int b = sx->nkeep && borrowed(sx, i);
        rc = jx_append(jx, 1, &sx->v[i], b);
        for (size_t k = 0; b && rc == 0 && k < sx->nkeep; k++)
            if (sx->kidx[k] == i)
                rc = keep_trigger(jx, sx->keep[k], i);
    }
    if (rc == 0 && ss->name && sp_job_set_name(j, ss->name) != 0)
        rc = SP_ENOMEM;
    sp__lk_unlock(&s->lock);
    if (rc == 0)
        rc = jx_append(jx, argc, argv, 0);
    if (rc != 0) {
        sp_job_release(j);
        return NULL;
    }
    return j;
}

size_t sp_job_argc(const sp_job *j)
{
    sp__jx *x = j ? sp__job_x(j) : NULL;
    return x ? x->n : 0;
}

void *const *sp_job_argv(const sp_job *j)
{
    sp__jx *x = j ? sp__job_x(j) : NULL;
    return x ? x->v : NULL;
}

/* ---- dependencies ---- */

typedef struct pend pend;

typedef struct pdep {
    sp_dep d;
    pend *p;
    sp__tlisten l;
    sp__hook hook;          /* job dependency: its end hook */
} pdep;

struct pend {
    pend *pnext, *pprev;    /* the pool's pending list (deplock) */
    int listed;
    _Atomic int refs;
    _Atomic int left;       /* dependencies not yet done, + 1 while set up */
    _Atomic int claimed;
    sp__hook self_hook;     /* on the scheduled job itself */
    sp_job *job;
    sp_pool *pool;
    int prio;
    size_t n;
    pdep dep[];
};

static void pend_unref(pend *p)
{
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    for (size_t i = 0; i < p->n; i++) {
        sp_job_release(p->dep[i].d.job);
        sp_trigger_release(p->dep[i].d.trigger);
    }
    sp_job_release(p->job);
    sp_pool_release(p->pool);
    free(p);
}

static void pool_link(pend *p)
{
    sp_pool *pl = p->pool;
    atomic_fetch_add(&pl->c_pend, 1); /* first: jobs_started never high */
    atomic_fetch_add(&pl->active, 1);
    pthread_mutex_lock(&pl->deplock);
    p->pprev = NULL;
    p->pnext = pl->pending;
    if (p->pnext)
        p->pnext->pprev = p;
    pl->pending = p;
    p->listed = 1;
    pthread_mutex_unlock(&pl->deplock);
}

static void pool_unlink(pend *p)
{
    sp_pool *pl = p->pool;
    pthread_mutex_lock(&pl->deplock);
    if (p->listed) {
        if (p->pprev)
            p->pprev->pnext = p->pnext;
        else
            pl->pending = p->pnext;
        if (p->pnext)
            p->pnext->pprev = p->pprev;
        p->listed = 0;
    }
    pthread_mutex_unlock(&pl->deplock);
}

/* The one call that decides the outcome. Until the job is started (which
 * counts it again), it counts in the pool's active jobs. */
static int claim(pend *p)
{
    int zero = 0;
    if (!atomic_compare_exchange_strong(&p->claimed, &zero, 1))
        return 0;
    pool_unlink(p);
    return 1;
}

static void unclaim_count(pend *p)
{
    atomic_fetch_add(&p->pool->ended, 1);
}

int sp__deps_pool_stop(sp_pool *pl)
{
    int n = 0;
    for (;;) {
        pthread_mutex_lock(&pl->deplock);
        pend *p = pl->pending;
        if (p)
            atomic_fetch_add(&p->refs, 1);
        pthread_mutex_unlock(&pl->deplock);
        if (!p)
            return n;
        if (sp_job_cancel(p->job) == 0)
            n++;
        pool_unlink(p); /* in case the cancel lost to another claim */
        pend_unref(p);
    }
}

/* Triggers that have not fired drop the pend (its outcome is decided). */
static void detach(pend *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->dep[i].d.trigger &&
            sp__trigger_unlisten(p->dep[i].d.trigger, &p->dep[i].l))
            pend_unref(p);
}

/* End a job that never started, as CANCELLED or FAILED with msg. */
static void end_unstarted(sp_job *j, int state, char *msg)
{
    if (state == SP_JOB_CANCELLED) {
        free(msg);
        sp_job_cancel(j); /* no-op (SP_EBUSY) if it has ended already */
        return;
    }
    if (!msg)
        msg = strdup("dependency failed");
    sp__jside_get(j); /* not under the lock (calloc) */
    sp__lk_lock(&j->lock);
    /* claimed as a worker would: FAILED is stored by sp__job_end once
     * the end hooks ran */
    int st;
    int ok = sp__job_take_created(j, SP_JOB_RUNNING, &st);
    if (ok) {
        sp__job_set_error(j, msg, 0);
        msg = NULL;
    }
    sp__lk_unlock(&j->lock);
    if (ok)
        sp__job_end(j, SP_JOB_FAILED);
    else
        free(msg);
}

static void add_result(sp_job *j, sp_job *dep)
{
    /* the last dependency may still be in its end hooks: end_state */
    void *r = sp__job_final_state(dep) == SP_JOB_DONE ? dep->result : NULL;
    sp__jx *x = sp__job_x(j);
    if (r && x)
        jx_append(x, 1, &r, 0);
}

static void add_packed(sp_job *j, sp_trigger *t)
{
    if (sp_trigger_kind_of(t) != SP_TRIGGER_ACC)
        return;
    int owned;
    void *v = sp__trigger_packed(t, &owned);
    sp__jx *x = sp__job_x(j);
    if (!x) { /* no argument list: nowhere to put it */
        if (owned)
            sp__vrelease(sp__trigger_ops(t), v);
        return;
    }
    if (!owned) { /* the list lives in t: keep t as long as the job */
        if (jx_reserve(x, 1) != 0 || keep_trigger(x, t, x->n) != 0)
            return;
    }
    if (jx_append(x, 1, &v, 1) != 0 && owned)
        sp__vrelease(sp__trigger_ops(t), v);
}

static void all_done(pend *p)
{
    if (!claim(p))
        return;
    sp_job *j = p->job;
    sp__lk_lock(&j->lock); /* against a racing sp_job_copy */
    for (size_t i = 0; i < p->n; i++) {
        if (p->dep[i].d.job)
            add_result(j, p->dep[i].d.job);
        else
            add_packed(j, p->dep[i].d.trigger);
    }
    sp__lk_unlock(&j->lock);
    int rc = sp__job_start(p->pool, p->prio, j, 1);
    if (rc == SP_ECLOSED)
        sp_job_cancel(j); /* the pool stopped meanwhile: never lost */
    unclaim_count(p);
}

static void dep_failed(pend *p, sp_job *dep, int state)
{
    if (!claim(p))
        return;
    char *msg = NULL;
    if (state == SP_JOB_FAILED) {
        const char *e = sp__job_err(dep);
        if (asprintf(&msg, "dependency %s failed: %s", sp_job_name(dep),
                     e ? e : "failed") < 0)
            msg = NULL;
    }
    end_unstarted(p->job, state, msg);
    detach(p);
    unclaim_count(p);
}

static void dep_done(pend *p, sp_job *dep, int state)
{
    if (state == SP_JOB_DONE || !dep) {
        if (atomic_fetch_sub(&p->left, 1) == 1)
            all_done(p);
    } else if (state == SP_JOB_CANCELLED || state == SP_JOB_FAILED) {
        dep_failed(p, dep, state);
    } /* CREATED: the dependency is being freed unstarted (cannot happen:
       * we hold it) */
}

static void dep_job_end(sp_job *dep, void *ud)
{
    pdep *d = ud;
    /* First pass of the end hooks: the state is not stored yet. Run again
     * in the second pass, so that a dependent job never starts (nor ends)
     * while its dependency still looks RUNNING. */
    if (__atomic_load_n(&dep->end_state, __ATOMIC_ACQUIRE) && atomic_load(&dep->state) < SP_JOB_DONE &&
        sp__job_on_end_node(dep, &d->hook) == 0)
        return;
    pend *p = d->p;
    dep_done(p, dep, sp__job_final_state(dep));
    pend_unref(p);
}

static void dep_trigger_fired(sp_trigger *t, sp__tlisten *l, int fired)
{
    (void)t;
    pdep *d = (pdep *)((char *)l - offsetof(pdep, l));
    pend *p = d->p;
    if (fired)
        dep_done(p, NULL, SP_JOB_DONE);
    pend_unref(p);
}

/* The scheduled job ended: by its own run, or cancelled while waiting. */
static void self_end(sp_job *j, void *ud)
{
    pend *p = ud;
    (void)j;
    if (claim(p)) {
        detach(p);
        unclaim_count(p);
    }
    pend_unref(p);
}

static int check_deps(sp_job *job, size_t ndeps, const sp_dep *deps)
{
    if (ndeps && !deps)
        return SP_EINVAL;
    for (size_t i = 0; i < ndeps; i++) {
        const sp_dep *d = &deps[i];
        if (!d->job == !d->trigger)
            return SP_EINVAL;
        if (d->job == job)
            return SP_ESTATE;
        if (d->job && atomic_load(&d->job->state) == SP_JOB_CREATED &&
            !d->job->scheduled &&
            !(__atomic_load_n(&d->job->flags, __ATOMIC_ACQUIRE) &
              SP__JOB_PROMISED))
            return SP_ESTATE;
    }
    return 0;
}

static pend *pend_new(sp_pool *pool, int prio, sp_job *job, size_t n,
                      const sp_dep *deps)
{
    pend *p = calloc(1, sizeof *p + n * sizeof(pdep));
    if (!p)
        return NULL;
    atomic_init(&p->refs, 1);
    atomic_init(&p->left, (int)n + 1);
    p->job = job;
    p->pool = pool;
    p->prio = prio;
    p->n = n;
    for (size_t i = 0; i < n; i++) {
        p->dep[i].d = deps[i];
        p->dep[i].p = p;
        p->dep[i].l.fn = dep_trigger_fired;
    }
    return p;
}

/* Take the job: CREATED, neither started nor scheduled. */
static int mark_scheduled(sp_job *job)
{
    sp__lk_lock(&job->lock);
    int ok = !__atomic_load_n(&job->pool, __ATOMIC_RELAXED) && !job->scheduled;
    if (ok) {
        /* a start claims the job without the lock (sp__job_start): store
         * scheduled, then read the state (a Dekker pair with its claim
         * and its read of scheduled); a start in progress ends QUEUED, or
         * CREATED once it saw scheduled */
        __atomic_store_n(&job->scheduled, 1, __ATOMIC_SEQ_CST);
        ok = sp__job_settled(job) == SP_JOB_CREATED; /* so no pool */
        if (!ok)
            __atomic_store_n(&job->scheduled, 0, __ATOMIC_RELAXED);
    }
    int rc = ok ? 0 : sp__start_refused(job);
    sp__lk_unlock(&job->lock);
    return rc;
}

static void listen_dep(pend *p, size_t i)
{
    pdep *d = &p->dep[i];
    atomic_fetch_add(&p->refs, 1);
    if (d->d.job) {
        sp_job_retain(d->d.job);
        d->hook.fn = dep_job_end;
        d->hook.ud = d;
        if (sp__job_on_end_node(d->d.job, &d->hook) != 0)
            dep_job_end(d->d.job, d); /* ended already (or ENOMEM) */
        return;
    }
    sp_trigger_retain(d->d.trigger);
    if (sp__trigger_listen(d->d.trigger, &d->l) != 0)
        dep_trigger_fired(d->d.trigger, &d->l, 1);
}

int sp_job_schedule(sp_pool *pool, int prio, sp_job *job, size_t ndeps,
                    const sp_dep *deps)
{
    if (!pool || !job)
        return SP_EINVAL;
    int rc = check_deps(job, ndeps, deps);
    if (rc != 0)
        return rc;
    if (ndeps == 0)
        return sp_job_start(pool, prio, job);
    if (atomic_load(&pool->closed) || atomic_load(&sp__shutdown_flag))
        return SP_ECLOSED;
    pend *p = pend_new(pool, prio, job, ndeps, deps);
    if (!p)
        return SP_ENOMEM;
    sp__rt_enter();
    if ((rc = mark_scheduled(job)) != 0) {
        free(p);
        sp__rt_leave();
        return rc;
    }
    sp_job_retain(job);
    sp_pool_retain(pool);
    pool_link(p);
    atomic_fetch_add(&p->refs, 1);
    p->self_hook.fn = self_end;
    p->self_hook.ud = p;
    if (sp__job_on_end_node(job, &p->self_hook) != 0)
        self_end(job, p); /* cancelled already: claims the pend */
    for (size_t i = 0; i < ndeps; i++)
        listen_dep(p, i);
    if (atomic_load(&p->claimed))
        detach(p); /* decided early: listeners linked since then */
    dep_done(p, NULL, SP_JOB_DONE); /* the set-up guard */
    pend_unref(p);
    sp__rt_leave();
    return 0;
}
