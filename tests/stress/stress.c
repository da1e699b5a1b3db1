/* stress.c: randomized stress of the runtime and its coordination layer.
 *   stress [ROUNDS [SEED]]   (default: 400 rounds, about a second; seed from the clock)
 * Prints its seed; a round is reproducible from "stress 1 SEED+k".
 * Each round builds, on a pool of 0 (pseudo), 1, 2 or 4 workers, a random
 * graph of jobs: computing jobs with dependencies on earlier jobs, jobs
 * scheduled on COUNT triggers chained to other jobs, channel producers and
 * consumers; cancels some jobs (queued, scheduled or running) and closes
 * the pool with or without waiting. Besides, each round adds a few of
 * these patterns (their jobs are cancelled at random like the others):
 *   - ACC trigger: 1-2 updater jobs add numbered values; a job scheduled
 *     on it receives the values list; a COUNT trigger chained to it
 *     releases one more job; an endless job is cancelled on it;
 *   - SET trigger {1..n}: updater jobs add every element (some twice,
 *     some out of range); a job scheduled on it; a job cancelled on it;
 *   - syncvar: 1-2 writer jobs race to write it, 1-4 reader jobs read it;
 *   - first of N: 2-4 racing jobs chained to a COUNT(1) trigger that
 *     cancels them all; a collector job scheduled on it;
 *   - spawn: jobs made by sp_job_spawn, some cancelled, each spawning
 *     0-3 fire-and-forget jobs on its own pool; fire-and-forget jobs
 *     spawned by the main thread.
 * Checked invariants:
 *   - every job ends exactly once, in one final state (its cleanup runs
 *     once, with DONE, CANCELLED or FAILED, never with a live state);
 *   - every DONE job's result arrives and is the job's own value;
 *   - no job starts after a cancel of it was seen completed;
 *   - channel items are conserved (sent = received + left over);
 *   - bounded wall time (a watchdog aborts after 60 s per round);
 *   - no leak: every value the runtime retained is released (within 5 s
 *     of the round's end: a job's values go just after its cleanup);
 *   - ACC: the values arrive in update order (each updater's in the
 *     order it added them), n of them, each once; a chained trigger
 *     fires only after its source did;
 *   - SET: it fires once every element was added, never before (a job
 *     scheduled on it, and any updater that sees it fired, find every
 *     element added); an element out of range is refused (SP_EINVAL);
 *   - cancel-on: a job cancelled on a trigger never ends DONE, and once
 *     the trigger fired it ends CANCELLED;
 *   - syncvar: exactly one write succeeds (the others: SP_EBUSY), and
 *     every reader that ends DONE read the winner's value;
 *   - first of N: once the trigger fired and its waiters woke, every
 *     racer ends DONE or CANCELLED and at least one DONE; the collector
 *     runs only after a racer finished;
 *   - spawn: a spawned job ends DONE with its own value or CANCELLED;
 *     no more fire-and-forget jobs run than were spawned, and after a
 *     close that waits, every one of them ran.
 * Exit status 0 when every round holds every invariant. */
#include "spindle.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- reference-counted values, so leaks show ---- */
typedef struct val { _Atomic int rc; long id; } val;
static _Atomic long live;

static val *val_new(long id)
{
    val *v = malloc(sizeof *v);
    if (!v) abort();
    atomic_init(&v->rc, 1);
    v->id = id;
    atomic_fetch_add(&live, 1);
    return v;
}
static void val_retain(void *p) { atomic_fetch_add(&((val *)p)->rc, 1); }
static void val_release(void *p)
{
    val *v = p;
    if (atomic_fetch_sub(&v->rc, 1) == 1) {
        atomic_fetch_sub(&live, 1);
        free(v);
    }
}
static int val_to_long(void *p, long *out)
{
    *out = ((val *)p)->id;
    return 0;
}
static const sp_value_ops ops = {val_retain, val_release, NULL, val_to_long};

/* ---- per-job records ---- */
enum { MAXJ = 96, MAXP = 64, MAXG = 8, MAXN = 8 };
enum {
    K_COMPUTE, K_PRODUCER, K_CONSUMER,
    K_ACC_UPD, K_ACC_USE, K_CHAINED, K_VICTIM,
    K_SET_UPD, K_SET_USE, K_SYNC_W, K_SYNC_R, K_RACER, K_COLLECT
};
/* a pattern (ACC, SET, syncvar or first of N) */
typedef struct grp {
    int kind;              /* K_ACC_UPD, K_SET_UPD, K_SYNC_W, K_RACER */
    int n;                 /* ACC: values; SET: elements; first of N: racers */
    sp_trigger *t, *t2;    /* the trigger; ACC: the chained COUNT(1) */
    sp_syncvar *sv;
    _Atomic int added[MAXN + 1]; /* SET: element e added (before update) */
    _Atomic long winner;   /* syncvar: the value written, 0 none */
    _Atomic int finished;  /* first of N: racers that returned */
} grp;
typedef struct rec {
    int idx;
    int kind;              /* K_* */
    int count;             /* items to send / receive */
    int g, u;              /* pattern and updater number */
    int elems[MAXN + 2], nelems; /* SET updater: elements to add */
    _Atomic long got;      /* syncvar reader: the value it read */
    _Atomic int started, ends, end_state, cancel_done;
} rec;
static grp grps[MAXG];

static rec recs[MAXJ + MAXP];
static sp_chan *chan;
/* sent: counted before each send, sent_ok after it: a producer cancelled
 * inside sp_chan_send (a runtime call is a safe point) may end there */
static _Atomic long sent, sent_ok, received, violations;

static void fail(const char *what, int i)
{
    fprintf(stderr, "violation: %s (job %d)\n", what, i);
    atomic_fetch_add(&violations, 1);
}

static void pattern_job(rec *r, grp *g, size_t argc, void *const *argv);

static void *job_fn(void *ud, size_t argc, void *const *argv)
{
    rec *r = ud;
    if (atomic_load(&r->cancel_done))
        fail("job started after its cancel completed", r->idx);
    if (atomic_fetch_add(&r->started, 1) != 0)
        fail("job ran twice", r->idx);
    unsigned long acc = 0;
    for (size_t k = 0; k < argc && r->kind <= K_CONSUMER; k++)
        if (argv[k]) acc += (unsigned long)((val *)argv[k])->id;
    grp *g = &grps[r->g];
    switch (r->kind) {
    case K_ACC_UPD:   /* ids 1000*(u+1)+seq, seq = 1, 2, ... */
    case K_SET_UPD:
    case K_SYNC_W:
    case K_SYNC_R:
    case K_ACC_USE:
    case K_CHAINED:
    case K_VICTIM:
    case K_SET_USE:
    case K_RACER:
    case K_COLLECT:
        pattern_job(r, g, argc, argv);
        break;
    case 0:
        for (unsigned long i = 0; i < 20000 + (acc % 20000); i++) {
            acc += i;
            if ((i & 1023) == 0) sp_checkpoint();
        }
        break;
    case 1:
        for (int i = 0; i < r->count; i++) {
            val *v = val_new(1);
            atomic_fetch_add(&sent, 1);
            sp_chan_send(chan, v);
            val_release(v);
            atomic_fetch_add(&sent_ok, 1);
            if (i % 3 == 0) sp_yield();
            if (sp_checkpoint() == SP_ECANCELED) break;
        }
        break;
    case 2:
        for (int i = 0; i < r->count; i++) {
            void *it;
            if (sp_chan_recv(chan, &it) != 0) break;
            atomic_fetch_add(&received, 1);
            val_release(it);
        }
        break;
    }
    (void)acc;
    return val_new(r->idx);   /* the job owns this reference */
}

/* ---- the patterns' jobs ---- */

static void check_acc(rec *r, grp *g, const sp_list *l)
{
    if (!l || (int)l->n != g->n) {
        fail("ACC: wrong number of values", r->idx);
        return;
    }
    long last[3] = {0, 0, 0};
    for (size_t k = 0; k < l->n; k++) {
        long id = ((val *)l->v[k])->id, u = id / 1000 - 1, seq = id % 1000;
        if (u < 0 || u > 1 || seq != last[u] + 1)
            fail("ACC: values not in update order", r->idx);
        else
            last[u] = seq;
    }
}

static void check_set_complete(rec *r, grp *g, const char *what)
{
    for (int e = 1; e <= g->n; e++)
        if (!atomic_load(&g->added[e])) {
            fail(what, r->idx);
            return;
        }
}

static void pattern_job(rec *r, grp *g, size_t argc, void *const *argv)
{
    switch (r->kind) {
    case K_ACC_UPD:
        for (int s = 1; s <= r->count; s++) {
            val *v = val_new(1000L * (r->u + 1) + s);
            int rc = sp_trigger_update(g->t, v);
            val_release(v);
            if (rc != 0) fail("ACC: update refused before it fired", r->idx);
            if (s % 2 == 0) sp_yield();
            if (sp_checkpoint() == SP_ECANCELED) break;
        }
        break;
    case K_ACC_USE: /* scheduled on the ACC: its list is the last argument */
        if (!sp_trigger_fired(g->t)) fail("ACC: dependent ran before it fired", r->idx);
        check_acc(r, g, argc >= 2 ? (const sp_list *)argv[argc - 1] : NULL);
        break;
    case K_CHAINED:
        if (!sp_trigger_fired(g->t2) || !sp_trigger_fired(g->t))
            fail("chain: dependent ran before its source fired", r->idx);
        break;
    case K_VICTIM: /* until cancelled: never returns */
        for (;;) sp_yield();
        break;
    case K_SET_UPD:
        for (int k = 0; k < r->nelems; k++) {
            int e = r->elems[k];
            if (e >= 1 && e <= g->n) atomic_store(&g->added[e], 1);
            val *v = val_new(e);
            int rc = sp_trigger_update(g->t, v);
            val_release(v);
            if (rc == 1) {
                /* fired already: ignored */
            } else if (e < 1 || e > g->n) {
                if (rc != SP_EINVAL) fail("SET: element out of range accepted", r->idx);
            } else if (rc < 0) {
                fail("SET: update failed", r->idx);
            }
            if (sp_trigger_fired(g->t))
                check_set_complete(r, g, "SET: fired before every element was added");
            if (k % 2) sp_yield();
            if (sp_checkpoint() == SP_ECANCELED) break;
        }
        break;
    case K_SET_USE:
        check_set_complete(r, g, "SET: dependent ran before every element was added");
        if ((int)sp_trigger_count(g->t) != g->n) fail("SET: count after firing", r->idx);
        break;
    case K_SYNC_W: {
        val *v = val_new(7000 + r->idx);
        int rc = sp_syncvar_write(g->sv, v);
        if (rc == 0) {
            long none = 0;
            if (!atomic_compare_exchange_strong(&g->winner, &none, v->id))
                fail("syncvar written twice", r->idx);
        } else if (rc != SP_EBUSY) {
            fail("syncvar: second write not SP_EBUSY", r->idx);
        }
        val_release(v);
        break;
    }
    case K_SYNC_R: {
        void *x = NULL;
        if (sp_syncvar_read(g->sv, &x) == 0) {
            if (!x) fail("syncvar read without a value", r->idx);
            else atomic_store(&r->got, ((val *)x)->id);
        }
        break;
    }
    case K_RACER:
        for (unsigned long i = 0; i < 1000ul * (unsigned long)r->count; i++)
            if ((i & 255) == 0) sp_checkpoint();
        atomic_fetch_add(&g->finished, 1);
        break;
    case K_COLLECT:
        if (atomic_load(&g->finished) < 1) fail("first of N: collector before any racer", r->idx);
        break;
    }
}

static void cleanup(void *arg, void *result, sp_state state, void *ud)
{
    rec *r = arg;
    if (atomic_fetch_add(&r->ends, 1) != 0) fail("job ended twice", r->idx);
    atomic_store(&r->end_state, (int)state);
    if (state != SP_JOB_DONE && state != SP_JOB_CANCELLED && state != SP_JOB_FAILED)
        fail("cleanup with a live state", r->idx);
}

/* ---- watchdog: bounded wall time ---- */
static _Atomic long round_no;
static uint64_t seed0;
static void *watchdog(void *arg)
{
    long last = -1;
    for (;;) {
        sleep(60);
        long now = atomic_load(&round_no);
        if (now == last) {
            fprintf(stderr, "stress: round %ld (seed %" PRIu64 ") stuck for 60 s\n", now,
                    seed0 + (uint64_t)now);
            abort();
        }
        last = now;
    }
    return NULL;
}

/* xorshift */
static uint64_t rs;
static unsigned rnd(unsigned n)
{
    rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
    return (unsigned)(rs % n);
}

/* ---- the patterns, built after the random graph ---- */

static sp_job *js[MAXJ + MAXP];
static sp_pool *pool;
/* A trigger that fires only if its producers end well: a close with
 * wait first waits for them, then cancels the dependents if it has not
 * fired (they would wait forever). */
typedef struct gate { sp_trigger *t; int prod[4], nprod, dep[4], ndep; } gate;
static gate gates[2 * MAXG];
static int ngates, nt, ngrp;
static int victims[MAXG], nvictims;

static int new_job(int kind, int g, int count, unsigned flags)
{
    int i = nt++;
    rec *r = &recs[i];
    r->idx = i;
    r->kind = kind;
    r->g = g;
    r->count = count;
    val *a = val_new(i);
    void *argv[1] = {a};
    js[i] = sp_job_createv(job_fn, r, &ops, 1, argv);
    val_release(a);
    sp_job_set_cleanup(js[i], cleanup, NULL);
    if (flags) sp_job_set_flags(js[i], flags);
    return i;
}

static void start(int i, int prio)
{
    if (sp_job_start(pool, prio, js[i]) != 0) fail("start", i);
}

static void sched_on(int i, sp_trigger *t)
{
    sp_dep d = {NULL, t};
    if (sp_job_schedule(pool, (int)rnd(4), js[i], 1, &d) != 0) fail("schedule", i);
}

static gate *new_gate(sp_trigger *t)
{
    gate *G = &gates[ngates++];
    memset(G, 0, sizeof *G);
    G->t = t;
    return G;
}

/* an endless job, cancelled when t fires */
static int victim_on(sp_trigger *t, int g)
{
    int v = new_job(K_VICTIM, g, 0, 0);
    start(v, 0);  /* lowest priority: it must not starve the others */
    sp_trigger_cancel_on(t, js[v]);
    victims[nvictims++] = v;
    return v;
}

static void pattern_acc(int g, grp *G)
{
    int nu = 1 + (int)rnd(2), cnt[2];
    G->n = 0;
    for (int u = 0; u < nu; u++) G->n += cnt[u] = 1 + (int)rnd(3);
    G->t = sp_trigger_create(SP_TRIGGER_ACC, (size_t)G->n, &ops);
    G->t2 = sp_trigger_create(SP_TRIGGER_COUNT, 1, &ops);
    sp_trigger_chain(G->t2, G->t);
    gate *a = new_gate(G->t), *b = new_gate(G->t2);
    int use = new_job(K_ACC_USE, g, 0, 0), ch = new_job(K_CHAINED, g, 0, 0);
    sched_on(use, G->t);
    sched_on(ch, G->t2);
    int v = victim_on(rnd(2) ? G->t : G->t2, g);
    a->dep[a->ndep++] = use;
    a->dep[a->ndep++] = v;
    b->dep[b->ndep++] = ch;
    b->dep[b->ndep++] = v;
    for (int u = 0; u < nu; u++) {
        /* it holds a value across sp_trigger_update: deferred cancel */
        int i = new_job(K_ACC_UPD, g, cnt[u], SP_JOB_DEFER_CANCEL);
        recs[i].u = u;
        a->prod[a->nprod++] = b->prod[b->nprod++] = i;
        start(i, (int)rnd(4));
    }
}

static void pattern_set(int g, grp *G)
{
    G->n = 2 + (int)rnd(MAXN - 1);
    G->t = sp_trigger_create(SP_TRIGGER_SET, (size_t)G->n, &ops);
    gate *a = new_gate(G->t);
    int use = new_job(K_SET_USE, g, 0, 0);
    sched_on(use, G->t);
    a->dep[a->ndep++] = use;
    a->dep[a->ndep++] = victim_on(G->t, g);
    int nu = 1 + (int)rnd(3), first = nt;
    for (int u = 0; u < nu; u++)
        a->prod[a->nprod++] = new_job(K_SET_UPD, g, 0, SP_JOB_DEFER_CANCEL);
    for (int e = 1; e <= G->n; e++) {           /* every element once... */
        rec *r = &recs[first + (int)rnd((unsigned)nu)];
        r->elems[r->nelems++] = e;
    }
    for (int u = 0; u < nu; u++) {              /* ...some twice, some bad */
        rec *r = &recs[first + u];
        if (r->nelems < MAXN + 2 && rnd(2)) r->elems[r->nelems++] = 1 + (int)rnd((unsigned)G->n);
        if (r->nelems < MAXN + 2 && rnd(4) == 0) r->elems[r->nelems++] = rnd(2) ? 0 : G->n + 1;
        start(first + u, (int)rnd(4));
    }
}

static void pattern_syncvar(int g, grp *G)
{
    G->sv = sp_syncvar_create(&ops);
    gate *a = new_gate(NULL);   /* settled by writing it from main */
    int nr = 1 + (int)rnd(4), nw = 1 + (int)rnd(2);
    for (int k = 0; k < nr; k++) start(new_job(K_SYNC_R, g, 0, 0), (int)rnd(4));
    for (int k = 0; k < nw; k++) {
        int i = new_job(K_SYNC_W, g, 0, SP_JOB_DEFER_CANCEL);
        a->prod[a->nprod++] = i;
        start(i, (int)rnd(4));
    }
    a->dep[0] = g;    /* for settle(): the pattern */
}

static void pattern_first(int g, grp *G)
{
    G->n = 2 + (int)rnd(3);
    G->t = sp_trigger_create(SP_TRIGGER_COUNT, 1, &ops);
    gate *a = new_gate(G->t);
    int coll = new_job(K_COLLECT, g, 0, 0);
    sched_on(coll, G->t);
    a->dep[a->ndep++] = coll;
    for (int k = 0; k < G->n; k++) {
        int i = new_job(K_RACER, g, 1 + (int)rnd(40), 0);
        a->prod[a->nprod++] = i;
        sp_trigger_chain_job(G->t, js[i]);
        start(i, (int)rnd(4));
        sp_trigger_cancel_on(G->t, js[i]);
    }
}

static void add_patterns(void)
{
    ngrp = 1 + (int)rnd(4);
    for (int g = 0; g < ngrp; g++) {
        grp *G = &grps[g];
        memset(G, 0, sizeof *G);
        switch (rnd(4)) {
        case 0: G->kind = K_ACC_UPD; pattern_acc(g, G); break;
        case 1: G->kind = K_SET_UPD; pattern_set(g, G); break;
        case 2: G->kind = K_SYNC_W; pattern_syncvar(g, G); break;
        default: G->kind = K_RACER; pattern_first(g, G); break;
        }
    }
}

static void write_syncvar(grp *S)
{
    val *v = val_new(6999);
    long none = 0;
    if (sp_syncvar_write(S->sv, v) == 0 &&
        !atomic_compare_exchange_strong(&S->winner, &none, 6999))
        fail("syncvar written twice", -1);
    val_release(v);
}

/* A close without wait cancels queued and running jobs, but a job
 * suspended on a syncvar is only counted ("left suspended") until
 * something wakes it: then it ends CANCELLED. Write the syncvars nobody
 * wrote, so that their readers end. */
static void after_close(void)
{
    for (int g = 0; g < ngrp; g++)
        if (grps[g].kind == K_SYNC_W && !sp_syncvar_written(grps[g].sv))
            write_syncvar(&grps[g]);
}

/* before a close with wait: nothing may be left waiting for ever */
static void settle(void)
{
    for (int k = 0; k < ngates; k++) {
        gate *G = &gates[k];
        for (int q = 0; q < G->nprod; q++) sp_job_wait(js[G->prod[q]]);
        if (!G->t) {                             /* a syncvar */
            grp *S = &grps[G->dep[0]];
            if (!sp_syncvar_written(S->sv)) write_syncvar(S);
            continue;
        }
        if (!sp_trigger_fired(G->t))
            for (int q = 0; q < G->ndep; q++) sp_job_cancel(js[G->dep[q]]);
    }
}

static void check_patterns(void)
{
    for (int k = 0; k < nvictims; k++) {
        sp_state st = sp_job_state(js[victims[k]]);
        if (st == SP_JOB_DONE || st == SP_JOB_FAILED) fail("cancel-on: victim not cancelled", victims[k]);
    }
    for (int g = 0; g < ngrp; g++) {
        grp *G = &grps[g];
        rec dummy = {.idx = -1};
        if (G->kind == K_ACC_UPD && sp_trigger_fired(G->t))
            check_acc(&dummy, G, sp_trigger_values(G->t));
        if (G->kind == K_ACC_UPD && sp_trigger_fired(G->t2) && !sp_trigger_fired(G->t))
            fail("chain: fired without its source", -1);
        if (G->kind == K_SET_UPD && sp_trigger_fired(G->t))
            check_set_complete(&dummy, G, "SET: fired before every element was added");
        if (G->kind == K_SYNC_W && sp_syncvar_written(G->sv)) {
            void *x = NULL;
            if (sp_syncvar_read(G->sv, &x) != 0 || !x || ((val *)x)->id != atomic_load(&G->winner))
                fail("syncvar: main read another value than the one written", -1);
        }
        if (G->kind == K_RACER && sp_trigger_fired(G->t)) {
            sp_trigger_wait(G->t);
            int done = 0;
            for (int i = 0; i < nt; i++) {
                if (recs[i].g != g || recs[i].kind != K_RACER) continue;
                sp_job_wait(js[i]);
                sp_state st = sp_job_state(js[i]);
                if (st == SP_JOB_DONE) done++;
                else if (st != SP_JOB_CANCELLED) fail("first of N: racer neither DONE nor CANCELLED", i);
            }
            if (done < 1) fail("first of N: fired, but no racer DONE", -1);
        }
    }
    for (int i = 0; i < nt; i++)
        if (recs[i].kind == K_SYNC_R && sp_job_state(js[i]) == SP_JOB_DONE &&
            atomic_load(&recs[i].got) != atomic_load(&grps[recs[i].g].winner))
            fail("syncvar: a reader got another value than the one written", i);
}

/* ---- sp_job_spawn: create and start in one call ---- */
enum { MAXS = 16 };
static sp_job *sj[MAXS];
static long sj_arg[MAXS];
static int nsj;
/* spawned is counted before each spawn (and uncounted when it fails):
 * a fire-and-forget job may run before its spawn returns */
static _Atomic long forgot_spawned, forgot_ran;

static void *forgot_fn(void *arg)
{
    (void)arg;
    atomic_fetch_add(&forgot_ran, 1);
    return NULL;
}

static int spawn_forgot(sp_pool *p, int prio)
{
    atomic_fetch_add(&forgot_spawned, 1);
    int rc = sp_job_spawn(p, prio, forgot_fn, NULL, NULL);
    if (rc != 0)
        atomic_fetch_sub(&forgot_spawned, 1);
    return rc;
}

/* spawns arg % 4 fire-and-forget jobs on its own pool (a cancel may end
 * it at a spawn's return: a safe point), returns arg */
static void *spawner_fn(void *arg)
{
    long k = (long)(intptr_t)arg % 4;
    for (long q = 0; q < k; q++) {
        int rc = spawn_forgot(sp_pool_current(), (int)q);
        if (rc != 0 && rc != SP_ECLOSED)
            fail("spawn inside a job", -1);
    }
    return arg;
}

static void spawn_some(sp_pool *p)
{
    nsj = (int)rnd(MAXS + 1);
    for (int k = 0; k < nsj; k++) {
        sj_arg[k] = 1000 + k * 4 + (long)rnd(4);
        if (sp_job_spawn(p, (int)rnd(4), spawner_fn, (void *)(intptr_t)sj_arg[k], &sj[k]) != 0 || !sj[k]) {
            fail("spawn", -1);
            nsj = k;
            return;
        }
        if (rnd(5) == 0)
            sp_job_cancel(sj[k]);
    }
    for (unsigned k = rnd(8); k > 0; k--)
        if (spawn_forgot(p, (int)rnd(4)) != 0)
            fail("spawn fire-and-forget", -1);
}

static void check_spawned(int waited)
{
    for (int k = 0; k < nsj; k++) {
        void *r = NULL;
        int rc = sp_job_join(sj[k], &r);
        if (rc == 0 ? (long)(intptr_t)r != sj_arg[k] : rc != SP_ECANCELED)
            fail("spawn: neither its own value nor cancelled", -1);
        sp_job_release(sj[k]);
    }
    long ran = atomic_load(&forgot_ran), spawned = atomic_load(&forgot_spawned);
    if (ran > spawned || (waited && ran != spawned)) {
        fprintf(stderr, "fire-and-forget: %ld spawned, %ld ran\n", spawned, ran);
        fail("spawn: fire-and-forget jobs lost or run twice", -1);
    }
}

static void release_patterns(void)
{
    for (int g = 0; g < ngrp; g++) {
        if (grps[g].t) sp_trigger_release(grps[g].t);
        if (grps[g].t2) sp_trigger_release(grps[g].t2);
        if (grps[g].sv) sp_syncvar_release(grps[g].sv);
    }
}

static int one_round(uint64_t seed)
{
    static const int sizes[] = {0, 1, 2, 4};
    rs = seed * 2654435761u + 1;
    int nw = sizes[rnd(4)];
    int nj = 8 + (int)rnd(MAXJ - 8);
    sp_pool *p = sp_pool_create(nw);
    if (!p) { fprintf(stderr, "pool_create failed\n"); return 1; }
    pool = p;
    ngates = nvictims = ngrp = 0;
    chan = sp_chan_create(&ops);
    atomic_store(&sent, 0);
    atomic_store(&sent_ok, 0);
    atomic_store(&received, 0);
    memset(recs, 0, sizeof recs);
    sp_trigger *trig[MAXJ];
    int trig_of[MAXJ];          /* job i's trigger, or -1 */
    int chained[MAXJ][3], nchained[MAXJ];
    int ntrig = 0, consumed = 0;
    for (int i = 0; i < nj; i++) {
        rec *r = &recs[i];
        r->idx = i;
        trig_of[i] = -1;
        nchained[i] = 0;
        unsigned k = rnd(10);
        r->kind = k < 6 ? 0 : k < 8 ? 1 : 2;
        r->count = 1 + (int)rnd(8);
        if (r->kind == 2) consumed += r->count;
        val *a = val_new(i);
        void *argv[1] = {a};
        js[i] = sp_job_createv(job_fn, r, &ops, 1, argv);
        val_release(a);
        sp_job_set_cleanup(js[i], cleanup, NULL);
        /* a producer holds an item across sp_chan_send (a safe point): a
         * cancel must not end it there, or the item leaks */
        if (r->kind == 1) sp_job_set_flags(js[i], SP_JOB_DEFER_CANCEL);
        int prio = (int)rnd(4), rc;
        unsigned how = i ? rnd(10) : 0;
        if (how < 5 || r->kind == 2) {
            rc = sp_job_start(p, prio, js[i]);
        } else if (how < 8) {                  /* depend on 1..3 earlier jobs */
            sp_dep d[3];
            int nd = 1 + (int)rnd(3);
            for (int q = 0; q < nd; q++) d[q] = (sp_dep){js[rnd((unsigned)i)], NULL};
            rc = sp_job_schedule(p, prio, js[i], (size_t)nd, d);
        } else {                               /* a COUNT trigger over earlier jobs */
            int nd = 1 + (int)rnd(3);
            sp_trigger *t = sp_trigger_create(SP_TRIGGER_COUNT, (size_t)nd, &ops);
            for (int q = 0; q < nd; q++) {
                int c = (int)rnd((unsigned)i);
                chained[i][nchained[i]++] = c;
                sp_trigger_chain_job(t, js[c]);
            }
            sp_dep d = {NULL, t};
            rc = sp_job_schedule(p, prio, js[i], 1, &d);
            trig_of[i] = ntrig;
            trig[ntrig++] = t;
        }
        if (rc != 0) { fprintf(stderr, "start/schedule of job %d: %s\n", i, sp_strerror(rc)); fail("start", i); }
        if (rnd(12) == 0) {                    /* cancel right away: queued or scheduled */
            sp_job_cancel(js[i]);
            if (sp_job_finished(js[i]) && sp_job_state(js[i]) == SP_JOB_CANCELLED)
                atomic_store(&r->cancel_done, 1);
        }
    }
    nt = nj;
    add_patterns();
    atomic_store(&forgot_spawned, 0);
    atomic_store(&forgot_ran, 0);
    spawn_some(p);
    /* feed the consumers: every consumer can finish whatever the producers do */
    for (int i = 0; i < consumed; i++) {
        val *v = val_new(1);
        atomic_fetch_add(&sent, 1);
        sp_chan_send(chan, v);
        val_release(v);
        atomic_fetch_add(&sent_ok, 1);
    }
    /* cancel some while they may run */
    for (int i = 0; i < nt; i++)
        if (rnd(10) == 0) {
            sp_job_cancel(js[i]);
            if (sp_job_finished(js[i]) && sp_job_state(js[i]) == SP_JOB_CANCELLED)
                atomic_store(&recs[i].cancel_done, 1);
        }
    int wait = rnd(4) != 0;
    if (wait) {
        /* A COUNT trigger whose chained job did not end DONE never fires,
         * and a job scheduled on it stays pending: a close with wait
         * would wait for it forever (as the contract says). Settle those
         * first, in index order (chained jobs have lower indices). */
        for (int i = 0; i < nj; i++) {
            if (trig_of[i] < 0) continue;
            for (int q = 0; q < nchained[i]; q++) sp_job_wait(js[chained[i][q]]);
            if (!sp_trigger_fired(trig[trig_of[i]])) sp_job_cancel(js[i]);
        }
        settle();
        for (int i = 0; i < nj; i++)
            if (rnd(3) == 0) sp_job_wait(js[i]);
    }
    sp_pool_close(p, wait);
    after_close();
    for (int i = 0; i < nt; i++) {
        sp_job_wait(js[i]);
        sp_state st = sp_job_state(js[i]);
        if (st != SP_JOB_DONE && st != SP_JOB_CANCELLED && st != SP_JOB_FAILED)
            fail("not ended after close", i);
        if (st == SP_JOB_DONE) {
            val *res = sp_job_result(js[i]);
            if (!res || res->id != i) fail("result missing or wrong", i);
            if (!atomic_load(&recs[i].started)) fail("DONE without running", i);
        }
    }
    check_patterns();
    check_spawned(wait);
    for (int i = 0; i < nt; i++) sp_job_release(js[i]);
    for (int i = 0; i < ntrig; i++) sp_trigger_release(trig[i]);
    release_patterns();
    /* the runtime may drop its own hold on a job a moment after the
     * job's waiters woke: give the last cleanups up to 5 s */
    for (int t = 0; t < 5000; t++) {
        int all = 1;
        for (int i = 0; i < nt && all; i++) all = atomic_load(&recs[i].ends) >= 1;
        if (all) break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    for (int i = 0; i < nt; i++)
        if (atomic_load(&recs[i].ends) != 1) fail("job did not end exactly once", i);
    long left = (long)sp_chan_count(chan);
    long got = atomic_load(&received) + left;
    if (got < atomic_load(&sent_ok) || got > atomic_load(&sent)) {
        fprintf(stderr, "sent %ld, received %ld, left %ld\n", atomic_load(&sent),
                atomic_load(&received), left);
        fail("channel items not conserved", -1);
    }
    sp_chan_release(chan);   /* the pool is freed by its close and its jobs' release */
    /* a job's values (its arguments, its result) are released just after
     * its cleanup returns, in the thread that dropped its last hold: give
     * those releases up to 5 s too (a value live after that is a leak) */
    for (int t = 0; t < 5000 && atomic_load(&live) != 0; t++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    if (atomic_load(&live) != 0) {
        fprintf(stderr, "%ld values leaked\n", atomic_load(&live));
        fail("leak", -1);
        atomic_store(&live, 0);
    }
    return 0;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 400;
    seed0 = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 16;
    printf("stress: %ld rounds, seed %" PRIu64 "\n", rounds, seed0);
    fflush(stdout);
    pthread_t wd;
    pthread_create(&wd, NULL, watchdog, NULL);
    pthread_detach(wd);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long r = 0; r < rounds; r++) {
        atomic_store(&round_no, r);
        long before = atomic_load(&violations);
        one_round(seed0 + (uint64_t)r);
        if (atomic_load(&violations) != before)
            fprintf(stderr, "round %ld failed: rerun with: stress 1 %" PRIu64 "\n", r, seed0 + (uint64_t)r);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("stress: %ld rounds in %.2f s, %ld violations\n", rounds, s, atomic_load(&violations));
    return atomic_load(&violations) ? 1 : 0;
}
