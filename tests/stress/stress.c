/* stress.c: randomized stress of the runtime and its coordination layer.
 *   stress [ROUNDS [SEED]]   (default: 400 rounds, about a second; seed from the clock)
 * Prints its seed; a round is reproducible from "stress 1 SEED+k".
 * Each round builds, on a pool of 0 (pseudo), 1, 2 or 4 workers, a random
 * graph of jobs: computing jobs with dependencies on earlier jobs, jobs
 * scheduled on COUNT triggers chained to other jobs, channel producers and
 * consumers; cancels some jobs (queued, scheduled or running) and closes
 * the pool with or without waiting. Checked invariants:
 *   - every job ends exactly once, in one final state (its cleanup runs
 *     once, with DONE, CANCELLED or FAILED, never with a live state);
 *   - every DONE job's result arrives and is the job's own value;
 *   - no job starts after a cancel of it was seen completed;
 *   - channel items are conserved (sent = received + left over);
 *   - bounded wall time (a watchdog aborts after 60 s per round);
 *   - no leak: every value the runtime retained is released.
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
static const sp_value_ops ops = {val_retain, val_release, NULL, NULL};

/* ---- per-job records ---- */
enum { MAXJ = 96 };
typedef struct rec {
    int idx;
    int kind;              /* 0 compute, 1 producer, 2 consumer */
    int count;             /* items to send / receive */
    _Atomic int started, ends, end_state, cancel_done;
} rec;

static rec recs[MAXJ];
static sp_chan *chan;
/* sent: counted before each send, sent_ok after it: a producer cancelled
 * inside sp_chan_send (a runtime call is a safe point) may end there */
static _Atomic long sent, sent_ok, received, violations;

static void fail(const char *what, int i)
{
    fprintf(stderr, "violation: %s (job %d)\n", what, i);
    atomic_fetch_add(&violations, 1);
}

static void *job_fn(void *ud, size_t argc, void *const *argv)
{
    rec *r = ud;
    if (atomic_load(&r->cancel_done))
        fail("job started after its cancel completed", r->idx);
    if (atomic_fetch_add(&r->started, 1) != 0)
        fail("job ran twice", r->idx);
    unsigned long acc = 0;
    for (size_t k = 0; k < argc; k++)
        if (argv[k]) acc += (unsigned long)((val *)argv[k])->id;
    switch (r->kind) {
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

static int one_round(uint64_t seed)
{
    static const int sizes[] = {0, 1, 2, 4};
    rs = seed * 2654435761u + 1;
    int nw = sizes[rnd(4)];
    int nj = 8 + (int)rnd(MAXJ - 8);
    sp_pool *p = sp_pool_create(nw);
    if (!p) { fprintf(stderr, "pool_create failed\n"); return 1; }
    chan = sp_chan_create(&ops);
    atomic_store(&sent, 0);
    atomic_store(&sent_ok, 0);
    atomic_store(&received, 0);
    memset(recs, 0, sizeof recs);
    sp_job *js[MAXJ];
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
    /* feed the consumers: every consumer can finish whatever the producers do */
    for (int i = 0; i < consumed; i++) {
        val *v = val_new(1);
        atomic_fetch_add(&sent, 1);
        sp_chan_send(chan, v);
        val_release(v);
        atomic_fetch_add(&sent_ok, 1);
    }
    /* cancel some while they may run */
    for (int i = 0; i < nj; i++)
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
        for (int i = 0; i < nj; i++)
            if (rnd(3) == 0) sp_job_wait(js[i]);
    }
    sp_pool_close(p, wait);
    for (int i = 0; i < nj; i++) {
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
    for (int i = 0; i < nj; i++) sp_job_release(js[i]);
    for (int i = 0; i < ntrig; i++) sp_trigger_release(trig[i]);
    /* the runtime may drop its own hold on a job a moment after the
     * job's waiters woke: give the last cleanups up to 5 s */
    for (int t = 0; t < 5000; t++) {
        int all = 1;
        for (int i = 0; i < nj && all; i++) all = atomic_load(&recs[i].ends) >= 1;
        if (all) break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    for (int i = 0; i < nj; i++)
        if (atomic_load(&recs[i].ends) != 1) fail("job did not end exactly once", i);
    long left = (long)sp_chan_count(chan);
    long got = atomic_load(&received) + left;
    if (got < atomic_load(&sent_ok) || got > atomic_load(&sent)) {
        fprintf(stderr, "sent %ld, received %ld, left %ld\n", atomic_load(&sent),
                atomic_load(&received), left);
        fail("channel items not conserved", -1);
    }
    sp_chan_release(chan);   /* the pool is freed by its close and its jobs' release */
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
