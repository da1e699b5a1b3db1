/* test_job.c - jobs and pools: start, wait, priorities, fork-join, pseudo
 * pools, cancel, failures, stack overflow, close, reference counts. */
#include "internal.h"

#include <check.h>
#include "check_main.h"
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *ident(void *arg) { return arg; }

/* waits up to 2 s for w to park (its thread asleep on the futex) */
static void await_parked(sp__worker *w)
{
    for (int i = 0; i < 2000 && atomic_load(&w->idle) != SP__W_PARKED; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

START_TEST(test_create_start_wait)
{
    sp_pool *p = sp_pool_create(2);
    ck_assert_ptr_nonnull(p);
    sp_job *j = sp_job_create(ident, (void *)0x1234);
    ck_assert_int_eq(sp_job_state(j), SP_JOB_CREATED);
    ck_assert_int_eq(sp_job_start(p, 0, j), 0);
    ck_assert_int_eq(sp_job_start(p, 0, j), SP_EBUSY);
    ck_assert_ptr_eq(sp_job_wait(j), (void *)0x1234);
    ck_assert_int_eq(sp_job_state(j), SP_JOB_DONE);
    void *r = NULL;
    ck_assert_int_eq(sp_job_join(j, &r), 0);
    ck_assert_ptr_eq(r, (void *)0x1234);
    ck_assert_ptr_eq(sp_job_result(j), (void *)0x1234);
    ck_assert_ptr_null(sp_job_error(j));
    sp_job_release(j);
    sp_stats st;
    ck_assert_int_eq(sp_pool_stats(p, &st), 0);
    ck_assert_uint_eq(st.jobs_started, 1);
    ck_assert_uint_eq(st.jobs_finished, 1);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

START_TEST(test_bad_arguments)
{
    ck_assert_ptr_null(sp_job_create(NULL, NULL));
    ck_assert_ptr_null(sp_pool_create(-1));
    ck_assert_int_eq(sp_job_start(NULL, 0, NULL), SP_EINVAL);
    ck_assert_int_eq(sp_job_cancel(NULL), SP_EINVAL);
    ck_assert_int_eq(sp_job_join(NULL, NULL), SP_EINVAL);
    ck_assert_int_eq(sp_pool_close(NULL, 0), SP_EINVAL);
    ck_assert_int_eq(sp_job_fail("x"), SP_ENOTJOB);
    ck_assert_ptr_null(sp_job_current());
    ck_assert_ptr_null(sp_pool_current());
    ck_assert_int_eq(*sp_poll_flag(), 0);
    ck_assert_int_eq(sp_checkpoint(), 0);
    sp_yield(); /* harmless outside a job */
    ck_assert_str_eq(sp_strerror(SP_ECANCELED), "job cancelled");
    ck_assert_str_eq(sp_strerror(12345), "unknown error");
}
END_TEST

/* ---- identity inside a job ---- */

typedef struct { sp_pool *pool; sp_job *job; const volatile int *flag; } who_t;

static void *who(void *arg)
{
    who_t *w = arg;
    w->pool = sp_pool_current();
    w->job = sp_job_current();
    w->flag = sp_poll_flag();
    return NULL;
}

START_TEST(test_current)
{
    sp_pool *p = sp_pool_create(1);
    who_t w = {0};
    sp_job *j = sp_job_create(who, &w);
    sp_job_set_name(j, "named");
    sp_job_start(p, 3, j);
    sp_job_wait(j);
    ck_assert_ptr_eq(w.pool, p);
    ck_assert_ptr_eq(w.job, j);
    ck_assert_ptr_ne((const void *)w.flag, (const void *)sp_poll_flag());
    ck_assert_str_eq(sp_job_name(j), "named");
    sp_job_release(j);
    sp_pool_close(p, 1);
}
END_TEST

/* ---- priorities ---- */

static int order[16], norder;
static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;

static void *record(void *arg)
{
    pthread_mutex_lock(&order_lock);
    order[norder++] = (int)(intptr_t)arg;
    pthread_mutex_unlock(&order_lock);
    return NULL;
}

static void *starter(void *arg)
{
    /* inside the only worker: queue jobs, then let them run */
    sp_pool *p = sp_pool_current();
    sp_job **js = arg;
    int prios[5] = {1, 7, 3, 7, 0};
    for (int i = 0; i < 5; i++) {
        js[i] = sp_job_create(record, (void *)(intptr_t)prios[i]);
        sp_job_start(p, prios[i], js[i]);
    }
    return NULL;
}

START_TEST(test_priorities_order)
{
    sp_pool *p = sp_pool_create(1);
    sp_job *js[5];
    sp_job *s = sp_job_create(starter, js);
    norder = 0;
    sp_job_start(p, 31, s);
    sp_job_wait(s);
    for (int i = 0; i < 5; i++) {
        sp_job_wait(js[i]);
        sp_job_release(js[i]);
    }
    ck_assert_int_eq(norder, 5);
    int want[5] = {7, 7, 3, 1, 0};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(order[i], want[i]);
    sp_job_release(s);
    sp_pool_close(p, 1);
}
END_TEST

/* ---- many jobs ---- */

static void *add_one(void *arg)
{
    atomic_fetch_add((_Atomic long *)arg, 1);
    return NULL;
}

START_TEST(test_many_jobs)
{
    enum { N = 20000 };
    sp_pool *p = sp_pool_create(2);
    _Atomic long count = 0;
    sp_job **js = malloc(N * sizeof *js);
    for (int i = 0; i < N; i++) {
        js[i] = sp_job_create(add_one, &count);
        ck_assert_int_eq(sp_job_start(p, i % 4, js[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        sp_job_wait(js[i]);
        sp_job_release(js[i]);
    }
    ck_assert_int_eq(count, N);
    free(js);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* fire and forget: release right after start; close waits for them */
START_TEST(test_fire_and_forget)
{
    sp_pool *p = sp_pool_create(2);
    _Atomic long count = 0;
    for (int i = 0; i < 1000; i++) {
        sp_job *j = sp_job_create(add_one, &count);
        sp_job_start(p, 0, j);
        sp_job_release(j);
    }
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
    ck_assert_int_eq(count, 1000);
}
END_TEST

/* ---- sp_job_spawn: create and start in one call ---- */

START_TEST(test_spawn)
{
    sp_pool *p = sp_pool_create(2);
    sp_job *j = (sp_job *)0x1;
    ck_assert_int_eq(sp_job_spawn(p, 0, ident, (void *)0x4321, &j), 0);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(sp_job_start(p, 0, j), SP_EBUSY);   /* started already */
    ck_assert_int_eq(sp_job_set_flags(j, SP_JOB_DEFER_CANCEL), SP_EBUSY);
    ck_assert_ptr_eq(sp_job_wait(j), (void *)0x4321);
    ck_assert_int_eq(sp_job_state(j), SP_JOB_DONE);
    sp_job_release(j);
    /* priorities are clamped as sp_job_start clamps them */
    sp_job *hi, *lo;
    ck_assert_int_eq(sp_job_spawn(p, 1000, ident, NULL, &hi), 0);
    ck_assert_int_eq(sp_job_spawn(p, -1000, ident, NULL, &lo), 0);
    ck_assert_int_eq(sp_job_priority(hi), SP_PRIO_MAX);
    ck_assert_int_eq(sp_job_priority(lo), SP_PRIO_MIN);
    sp_job_wait(hi);
    sp_job_wait(lo);
    sp_job_release(hi);
    sp_job_release(lo);
    /* fire and forget: nobody holds the jobs; close waits for them */
    _Atomic long count = 0;
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(sp_job_spawn(p, i % 3, add_one, &count, NULL), 0);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
    ck_assert_int_eq(count, 1000);
}
END_TEST

START_TEST(test_spawn_bad_arguments)
{
    sp_job *j = (sp_job *)0x1;
    ck_assert_int_eq(sp_job_spawn(NULL, 0, ident, NULL, &j), SP_EINVAL);
    ck_assert_ptr_null(j);
    sp_pool *p = sp_pool_create(1);
    j = (sp_job *)0x1;
    ck_assert_int_eq(sp_job_spawn(p, 0, NULL, NULL, &j), SP_EINVAL);
    ck_assert_ptr_null(j);
    ck_assert_int_eq(sp_job_spawn(p, 0, NULL, NULL, NULL), SP_EINVAL);
    sp_pool_retain(p);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
    j = (sp_job *)0x1;
    ck_assert_int_eq(sp_job_spawn(p, 0, ident, NULL, &j), SP_ECLOSED);
    ck_assert_ptr_null(j);
    ck_assert_int_eq(sp_job_spawn(p, 0, ident, NULL, NULL), SP_ECLOSED);
    sp_stats st;
    ck_assert_int_eq(sp_pool_stats(p, &st), 0);
    ck_assert_uint_eq(st.jobs_started, 0);   /* nothing counted, nothing held */
    sp_pool_release(p);
}
END_TEST

/* the counts of a pool: spawned jobs are started jobs */
START_TEST(test_spawn_counted)
{
    sp_pool *p = sp_pool_create(1);
    sp_job *js[100];
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(sp_job_spawn(p, 0, ident, (void *)(intptr_t)i, &js[i]), 0);
    for (int i = 0; i < 100; i++) {
        ck_assert_ptr_eq(sp_job_wait(js[i]), (void *)(intptr_t)i);
        sp_job_release(js[i]);
    }
    sp_stats st;
    ck_assert_int_eq(sp_pool_stats(p, &st), 0);
    ck_assert_uint_eq(st.jobs_started, 100);
    ck_assert_uint_eq(st.jobs_finished, 100);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* A start claims its job with one compare-and-swap of the state
 * (SP__JOB_STARTING), not the job lock: two threads race on one fresh job
 * 2,000 times, a start against a second start, a cancel and a schedule.
 * Exactly one of two starts wins; a start and a cancel leave the job ended
 * once, CANCELLED unless the start won first and the job ran; a start and
 * a schedule never both win. Every job ends, and the pool's counts add
 * up: a start counted without its job, or twice, would show. */
enum { RACE_START, RACE_CANCEL, RACE_SCHEDULE, RACE_KINDS };
typedef struct {
    sp_pool *p;
    sp_job *_Atomic job;
    sp_trigger *t;
    _Atomic int go, round, kind, rc;
} race_arg;

static void *race_peer(void *v)
{
    race_arg *a = v;
    for (int r = 1;; r++) {
        while (atomic_load(&a->round) != r)
            __builtin_ia32_pause();
        sp_job *j = atomic_load(&a->job);
        if (!j)
            return NULL;
        while (!atomic_load(&a->go))
            __builtin_ia32_pause();
        int k = atomic_load(&a->kind), rc;
        if (k == RACE_START) {
            rc = sp_job_start(a->p, 0, j);
        } else if (k == RACE_CANCEL) {
            rc = sp_job_cancel(j);
        } else {
            sp_dep d = {NULL, a->t};
            rc = sp_job_schedule(a->p, 0, j, 1, &d);
        }
        atomic_store(&a->rc, rc);
        atomic_store(&a->go, 0);
    }
}

START_TEST(test_start_claim_races)
{
    race_arg a;
    memset(&a, 0, sizeof a);
    a.p = sp_pool_create(2);
    ck_assert_ptr_nonnull(a.p);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, race_peer, &a), 0);
    for (int r = 1; r <= 2000; r++) {
        int k = r % RACE_KINDS;
        sp_job *j = sp_job_create(ident, (void *)(intptr_t)r);
        ck_assert_ptr_nonnull(j);
        a.t = k == RACE_SCHEDULE ? sp_trigger_create(SP_TRIGGER_COUNT, 1, NULL) : NULL;
        atomic_store(&a.kind, k);
        atomic_store(&a.job, j);
        atomic_store(&a.round, r);
        atomic_store(&a.go, 1);
        int mine = sp_job_start(a.p, 0, j);
        while (atomic_load(&a.go))
            __builtin_ia32_pause();
        int theirs = atomic_load(&a.rc);
        if (k == RACE_START) {
            /* exactly one start */
            ck_assert_int_eq((mine == 0) + (theirs == 0), 1);
            ck_assert_int_eq(mine == 0 ? theirs : mine, SP_EBUSY);
            ck_assert_ptr_eq(sp_job_wait(j), (void *)(intptr_t)r);
        } else if (k == RACE_CANCEL) {
            /* the cancel: 0 (it ended the job before it ran), 1 (the
             * job was running) or SP_EBUSY (it had ended); a start it
             * beat says SP_ECANCELED */
            ck_assert(theirs == 0 || theirs == 1 || theirs == SP_EBUSY);
            if (mine != 0)
                ck_assert_int_eq(theirs, 0);
            ck_assert(mine == 0 || mine == SP_ECANCELED);
            sp_job_wait(j);
            int st = sp_job_state(j);
            ck_assert(st == SP_JOB_DONE || st == SP_JOB_CANCELLED);
            if (mine != 0)
                ck_assert_int_eq(st, SP_JOB_CANCELLED);
        } else {
            /* never both; if neither (each saw the other), the job
             * stays CREATED and is cancelled here */
            ck_assert(!(mine == 0 && theirs == 0));
            ck_assert(mine == 0 || mine == SP_EBUSY);
            ck_assert(theirs == 0 || theirs == SP_EBUSY);
            sp_trigger_update(a.t, NULL); /* runs the scheduled one */
            if (mine != 0 && theirs != 0) {
                ck_assert_int_eq(sp_job_state(j), SP_JOB_CREATED);
                ck_assert_int_eq(sp_job_cancel(j), 1);
            } else {
                ck_assert_ptr_eq(sp_job_wait(j), (void *)(intptr_t)r);
            }
            sp_trigger_release(a.t);
        }
        ck_assert(sp_job_finished(j));
        sp_job_release(j);
    }
    atomic_store(&a.job, NULL);
    atomic_store(&a.round, 2001);
    pthread_join(th, NULL);
    sp_stats st;
    ck_assert_int_eq(sp_pool_stats(a.p, &st), 0);
    /* every start counted once and ended once (a job cancelled unstarted
     * or refused by both sides is not counted) */
    ck_assert_uint_eq(st.jobs_started, st.jobs_finished + st.jobs_cancelled + st.jobs_failed);
    ck_assert_int_eq(sp_pool_close(a.p, 1), 0);
}
END_TEST

/* Plain threads count their starts on records of their own (pool.c,
 * sp__tstart): four threads start jobs on pool a, then on b, then on a
 * again without waiting. Two of them exit before the counts are read
 * (their records fold into the pool at exit), two stay alive past a's
 * close (their records hold a's memory until they exit). The stats see
 * every start, and the close with wait runs every job it did not see
 * end: a start the close missed would leave a job cancelled. */
#define TS_THREADS 4
#define TS_N 300
typedef struct {
    sp_pool *a, *b;
    sp_job *late[TS_N];
    sem_t started, go;
    int stay; /* block until go after starting the late jobs */
} ts_arg;

static void *ts_thread(void *v)
{
    ts_arg *t = v;
    for (int round = 0; round < 2; round++) {
        sp_pool *p = round ? t->b : t->a;
        for (int i = 0; i < TS_N; i++) {
            sp_job *j = NULL;
            ck_assert_int_eq(sp_job_spawn(p, 0, ident, (void *)(intptr_t)i, &j), 0);
            ck_assert_ptr_eq(sp_job_wait(j), (void *)(intptr_t)i);
            sp_job_release(j);
        }
    }
    for (int i = 0; i < TS_N; i++) {
        t->late[i] = sp_job_create(ident, (void *)(intptr_t)i);
        ck_assert_int_eq(sp_job_start(t->a, 0, t->late[i]), 0);
    }
    sem_post(&t->started);
    if (t->stay)
        sem_wait(&t->go);
    return NULL;
}

START_TEST(test_thread_start_counts)
{
    ts_arg t[TS_THREADS];
    pthread_t th[TS_THREADS];
    sp_pool *a = sp_pool_create(1), *b = sp_pool_create(2);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    for (int k = 0; k < TS_THREADS; k++) {
        t[k].a = a;
        t[k].b = b;
        t[k].stay = k >= TS_THREADS / 2;
        sem_init(&t[k].started, 0, 0);
        sem_init(&t[k].go, 0, 0);
        ck_assert_int_eq(pthread_create(&th[k], NULL, ts_thread, &t[k]), 0);
    }
    for (int k = 0; k < TS_THREADS; k++)
        sem_wait(&t[k].started);
    for (int k = 0; k < TS_THREADS / 2; k++) /* these two have exited */
        pthread_join(th[k], NULL);
    sp_stats st;
    ck_assert_int_eq(sp_pool_stats(b, &st), 0);
    ck_assert_uint_eq(st.jobs_started, TS_THREADS * TS_N);
    ck_assert_uint_eq(st.jobs_finished, TS_THREADS * TS_N);
    ck_assert_int_eq(sp_pool_stats(a, &st), 0);
    ck_assert_uint_eq(st.jobs_started, 2 * TS_THREADS * TS_N);
    /* the late jobs may still be queued: the close runs them all */
    sp_pool_retain(a); /* for the stats after the close */
    ck_assert_int_eq(sp_pool_close(a, 1), 0);
    ck_assert_int_eq(sp_pool_stats(a, &st), 0);
    ck_assert_uint_eq(st.jobs_started, 2 * TS_THREADS * TS_N);
    ck_assert_uint_eq(st.jobs_finished, 2 * TS_THREADS * TS_N);
    for (int k = 0; k < TS_THREADS; k++)
        for (int i = 0; i < TS_N; i++) {
            ck_assert_int_eq(sp_job_state(t[k].late[i]), SP_JOB_DONE);
            sp_job_release(t[k].late[i]);
        }
    sp_pool_release(a);
    ck_assert_int_eq(sp_pool_close(b, 1), 0);
    /* the last two records held a: it goes with them */
    for (int k = TS_THREADS / 2; k < TS_THREADS; k++) {
        sem_post(&t[k].go);
        pthread_join(th[k], NULL);
    }
    for (int k = 0; k < TS_THREADS; k++) {
        sem_destroy(&t[k].started);
        sem_destroy(&t[k].go);
    }
}
END_TEST

/* from inside a job: children spawned on the job's own pool, waited for
 * (the one worker runs them while the parent waits), and one spawned
 * fire-and-forget */
static void *spawn_children(void *arg)
{
    _Atomic long *count = arg;
    sp_job *c[8];
    for (int i = 0; i < 8; i++)
        if (sp_job_spawn(sp_pool_current(), 0, ident, (void *)(intptr_t)(i + 1), &c[i]) != 0)
            return NULL;
    long sum = 0;
    for (int i = 0; i < 8; i++) {
        sum += (long)(intptr_t)sp_job_wait(c[i]);
        sp_job_release(c[i]);
    }
    if (sp_job_spawn(sp_pool_current(), 0, add_one, count, NULL) != 0)
        return NULL;
    return (void *)(intptr_t)sum;
}

START_TEST(test_spawn_in_job)
{
    for (int nw = 0; nw <= 2; nw++) {   /* 0: a pseudo pool, run by the waiter */
        sp_pool *p = sp_pool_create(nw);
        _Atomic long count = 0;
        sp_job *j;
        ck_assert_int_eq(sp_job_spawn(p, 0, spawn_children, &count, &j), 0);
        ck_assert_ptr_eq(sp_job_wait(j), (void *)(intptr_t)36);
        sp_job_release(j);
        ck_assert_int_eq(sp_pool_close(p, 1), 0);
        ck_assert_int_eq(count, 1);
    }
}
END_TEST

/* A fire-and-forget job on a parked worker wakes it at once (nobody can
 * wait for it and run it), where a job the thread holds may owe the
 * wake (test_flush_wakes) */
START_TEST(test_spawn_forget_wakes)
{
    sp_pool *p = sp_pool_create(1);
    sp__worker *w = p->workers[0];
    _Atomic long count = 0;
    for (int round = 0; round < 20; round++) {
        await_parked(w);
        ck_assert_int_eq(sp_job_spawn(p, 0, add_one, &count, NULL), 0);
        ck_assert_int_ne(atomic_load(&w->idle), SP__W_OWED);
        while (atomic_load(&count) != round + 1) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
    }
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- waiting inside jobs ---- */

static void *wait_other(void *arg)
{
    sp_job *inner = sp_job_create(ident, arg);
    sp_job_start(sp_pool_current(), 0, inner);
    void *r = sp_job_wait(inner); /* suspends: the only worker runs inner */
    sp_job_release(inner);
    return r;
}

START_TEST(test_wait_in_job_one_worker)
{
    sp_pool *p = sp_pool_create(1);
    sp_job *j = sp_job_create(wait_other, (void *)7);
    sp_job_start(p, 0, j);
    ck_assert_ptr_eq(sp_job_wait(j), (void *)7);
    sp_job_release(j);
    sp_pool_close(p, 1);
}
END_TEST

static long fib_seq(long n) { return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2); }

static void *fib_job(void *arg)
{
    long n = (long)(intptr_t)arg;
    if (n < 12)
        return (void *)(intptr_t)fib_seq(n);
    sp_job *a = sp_job_create(fib_job, (void *)(intptr_t)(n - 1));
    sp_job *b = sp_job_create(fib_job, (void *)(intptr_t)(n - 2));
    sp_job_start(sp_pool_current(), 0, a);
    sp_job_start(sp_pool_current(), 0, b);
    long r = (long)(intptr_t)sp_job_wait(a) + (long)(intptr_t)sp_job_wait(b);
    sp_job_release(a);
    sp_job_release(b);
    return (void *)(intptr_t)r;
}

static void fib_on(int nworkers)
{
    sp_pool *p = sp_pool_create(nworkers);
    sp_job *j = sp_job_create(fib_job, (void *)(intptr_t)22);
    sp_job_start(p, 0, j);
    ck_assert_int_eq((long)(intptr_t)sp_job_wait(j), 17711);
    sp_job_release(j);
    sp_stats st;
    sp_pool_stats(p, &st);
    ck_assert_uint_eq(st.jobs_finished, st.jobs_started);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}

/* Owner bias of the run-queue lock (internal.h): re-biased after every
 * 2 acquisitions, so that thieves (the other worker, idle), foreign
 * pushers (this thread, at a priority that takes the lock), a stats
 * reader (locks every queue) and the owner's lock-free yields meet all
 * the time. A job run twice at once or
 * lost from a queue crashes or hangs; the counts must come out exact. */
enum { BIAS_YIELDERS = 6, BIAS_ROUNDS = 20000, BIAS_FOREIGN = 3000 };
static long bias_count[BIAS_YIELDERS];

static void *bias_yielder(void *arg)
{
    long *c = arg;
    for (int i = 0; i < BIAS_ROUNDS; i++) {
        long v = *c;
        sp_yield();
        *c = v + 1; /* only this job writes it: a double run loses counts */
    }
    return NULL;
}

static _Atomic int bias_stop;

static void *bias_stats_loop(void *arg)
{
    sp_stats st;
    while (!atomic_load(&bias_stop))
        sp_pool_stats(arg, &st); /* locks every worker's queue */
    return NULL;
}

START_TEST(test_owner_bias_contended)
{
    sp__rebias_fixed = 2;
    long revokes0 = atomic_load(&sp__nrevoke);
    sp_pool *p = sp_pool_create(2);
    sp_job *y[BIAS_YIELDERS];
    for (int i = 0; i < BIAS_YIELDERS; i++) {
        bias_count[i] = 0;
        y[i] = sp_job_create(bias_yielder, &bias_count[i]);
        ck_assert_int_eq(sp_job_start(p, 0, y[i]), 0);
    }
    pthread_t t;
    atomic_store(&bias_stop, 0);
    ck_assert_int_eq(pthread_create(&t, NULL, bias_stats_loop, p), 0);
    for (int i = 0; i < BIAS_FOREIGN; i++) {
        sp_job *j = sp_job_create(ident, (void *)(intptr_t)(i + 1));
        ck_assert_int_eq(sp_job_start(p, 1 + i % 3, j), 0);
        ck_assert_ptr_eq(sp_job_wait(j), (void *)(intptr_t)(i + 1));
        sp_job_release(j);
    }
    sp_job *f = sp_job_create(fib_job, (void *)(intptr_t)20);
    sp_job_start(p, 0, f);
    ck_assert_int_eq((long)(intptr_t)sp_job_wait(f), 6765);
    sp_job_release(f);
    for (int i = 0; i < BIAS_YIELDERS; i++) {
        sp_job_wait(y[i]);
        ck_assert_int_eq(sp_job_state(y[i]), SP_JOB_DONE);
        ck_assert_int_eq(bias_count[i], BIAS_ROUNDS);
        sp_job_release(y[i]);
    }
    atomic_store(&bias_stop, 1);
    pthread_join(t, NULL);
    sp_stats st;
    sp_pool_stats(p, &st);
    ck_assert_uint_eq(st.jobs_finished, st.jobs_started);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
    if (sp__asym_ok) /* off under TSan and without membarrier */
        ck_assert_int_gt(atomic_load(&sp__nrevoke) - revokes0, 0);
    sp__rebias_fixed = 0;
}
END_TEST

START_TEST(test_fib_1_worker) { fib_on(1); }
END_TEST
START_TEST(test_fib_2_workers) { fib_on(2); }
END_TEST
START_TEST(test_fib_pseudo) { fib_on(0); }
END_TEST

/* 100,000 jobs suspended at once, each waiting on a job not yet run */
static void *wait_arg(void *arg)
{
    return sp_job_wait((sp_job *)arg);
}

START_TEST(test_100k_suspended)
{
    /* valgrind cannot track 100k mappings: it runs this with fewer.
     * Under TSan every job that has run is a TSan fiber with shadow
     * state of its own (about a MiB): 100k exhaust the memory TSan may
     * map ("failed to allocate"), and each costs milliseconds to create:
     * the default there is 200. */
#ifdef SP_TSAN
    enum { N_DEFAULT = 200 };
#else
    enum { N_DEFAULT = 100000 };
#endif
    int N = getenv("SP_TEST_SUSPENDED") ? atoi(getenv("SP_TEST_SUSPENDED"))
                                        : N_DEFAULT;
    sp_pool *p = sp_pool_create(2);
    sp_job *gate = sp_job_create(ident, (void *)5); /* started at the end */
    sp_job **js = malloc(N * sizeof *js);
    for (int i = 0; i < N; i++) {
        js[i] = sp_job_create(wait_arg, gate);
        sp_job_start(p, 0, js[i]);
    }
    /* let them all reach their wait */
    sp_stats st;
    do {
        sp_pool_stats(p, &st);
    } while (st.switches < (uint64_t)N);
    sp_job_start(p, 0, gate);
    for (int i = 0; i < N; i++) {
        ck_assert_ptr_eq(sp_job_wait(js[i]), (void *)5);
        sp_job_release(js[i]);
    }
    free(js);
    sp_job_release(gate);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- pseudo pool ---- */

START_TEST(test_pseudo_pool)
{
    sp_pool *p = sp_pool_create(0);
    _Atomic long count = 0;
    sp_job *js[10];
    for (int i = 0; i < 10; i++) {
        js[i] = sp_job_create(add_one, &count);
        sp_job_start(p, 0, js[i]);
    }
    ck_assert_int_eq(count, 0); /* nobody runs them yet */
    sp_job_wait(js[9]);         /* the waiter runs the queue */
    ck_assert_int_eq(count, 10);
    for (int i = 0; i < 10; i++)
        sp_job_release(js[i]);
    sp_job *w = sp_job_create(wait_other, (void *)3);
    sp_job_start(p, 0, w);
    ck_assert_ptr_eq(sp_job_wait(w), (void *)3);
    sp_job_release(w);
    /* close with wait runs what is left */
    sp_job *k = sp_job_create(add_one, &count);
    sp_job_start(p, 0, k);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
    ck_assert_int_eq(count, 11);
    ck_assert_int_eq(sp_job_state(k), SP_JOB_DONE);
    sp_job_release(k);
}
END_TEST

/* a thread waits on a job before it is started on a pseudo pool */
static void *thread_join(void *arg)
{
    return sp_job_wait((sp_job *)arg);
}

START_TEST(test_pseudo_wait_before_start)
{
    sp_pool *p = sp_pool_create(0);
    sp_job *j = sp_job_create(ident, (void *)4);
    pthread_t t;
    pthread_create(&t, NULL, thread_join, j);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL); /* let it block (the test holds either way) */
    sp_job_start(p, 0, j);
    void *r = NULL;
    pthread_join(t, &r);
    ck_assert_ptr_eq(r, (void *)4);
    sp_job_release(j);
    sp_pool_close(p, 1);
}
END_TEST

/* ---- cancel ---- */

static void *blocker(void *arg)
{
    return sp_job_wait((sp_job *)arg);
}

START_TEST(test_cancel_queued)
{
    sp_pool *p = sp_pool_create(1);
    sp_job *gate = sp_job_create(ident, NULL);
    sp_job *b = sp_job_create(blocker, gate);
    sp_job_start(p, 0, b); /* occupies... then suspends on gate */
    _Atomic long count = 0;
    sp_job *q = sp_job_create(add_one, &count);
    sp_job *c = sp_job_create(add_one, &count);
    ck_assert_int_eq(sp_job_cancel(c), 0); /* never started */
    ck_assert_int_eq(sp_job_state(c), SP_JOB_CANCELLED);
    /* cancelled first: refused as such, by every way to start it */
    ck_assert_int_eq(sp_job_start(p, 0, c), SP_ECANCELED);
    ck_assert_int_eq(sp_job_start_on(p, 0, 0, c), SP_ECANCELED);
    ck_assert_int_eq(sp_job_schedule(p, 0, c, 0, NULL), SP_ECANCELED);
    sp_job_start(p, 0, q);
    /* the worker is free once b waits: q may be queued (0), running (1:
     * it ends at its next safe point, or DONE if it returns first) or
     * already ended (SP_EBUSY) when the cancel comes */
    int rc = sp_job_cancel(q);
    ck_assert(rc == 0 || rc == 1 || rc == SP_EBUSY);
    void *r = (void *)1;
    int out = sp_job_join(q, &r);
    if (rc == 0) {
        ck_assert_int_eq(out, SP_ECANCELED);
        ck_assert_ptr_null(r);
    } else if (rc == 1) {
        ck_assert(out == 0 || out == SP_ECANCELED);
    } else {
        ck_assert_int_eq(out, 0);
    }
    ck_assert_int_eq(count, out == 0 ? 1 : 0);
    ck_assert_int_eq(sp_job_join(c, NULL), SP_ECANCELED);
    sp_job_start(p, 0, gate);
    sp_job_wait(b);
    sp_job_release(gate);
    sp_job_release(b);
    sp_job_release(q);
    sp_job_release(c);
    ck_assert_int_eq(sp_job_cancel(gate = sp_job_create(ident, NULL)), 0);
    sp_job_release(gate);
    sp_pool_close(p, 1);
}
END_TEST

/* queued behind a job that never lets go of the worker: surely queued */
static void *hog(void *arg)
{
    while (!atomic_load((_Atomic int *)arg))
        sp_yield();
    return NULL;
}

/* ---- a job started from outside is not starved by requeueing ones ----
 * Jobs that yield forever keep the worker's lowest level non-empty; a
 * pop drains the foreign inbox only every SP__DRAIN_EVERY pops then, and
 * the yield's direct hand-over drains it too. In a traced pool there is
 * no direct hand-over: every yield goes through the scheduler's pop. */

static _Atomic int spin_stop;

static void *stop_spinners(void *arg)
{
    atomic_store(&spin_stop, 1);
    return arg;
}

static void inbox_not_starved(int traced)
{
    char path[64];
    snprintf(path, sizeof path, "tests/unit/inbox.%d.trace.json", (int)getpid());
    sp_pool *p = sp_pool_create(1);
    if (traced)
        ck_assert_int_eq(sp_pool_trace(p, path), 0);
    atomic_store(&spin_stop, 0);
    sp_job *y[3];
    for (int i = 0; i < 3; i++) {
        y[i] = sp_job_create(hog, &spin_stop);
        ck_assert_int_eq(sp_job_start(p, SP_PRIO_MIN, y[i]), 0);
    }
    for (sp_stats st = {0}; st.yields < 1000;) { /* all yielding */
        sched_yield();
        ck_assert_int_eq(sp_pool_stats(p, &st), 0);
    }
    sp_job *s = sp_job_create(stop_spinners, (void *)0x5);
    ck_assert_int_eq(sp_job_start(p, SP_PRIO_MIN, s), 0);
    ck_assert_ptr_eq(sp_job_wait(s), (void *)0x5); /* a hang: starved */
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_null(sp_job_wait(y[i]));
        ck_assert_int_eq(sp_job_state(y[i]), SP_JOB_DONE);
        sp_job_release(y[i]);
    }
    sp_job_release(s);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
    if (traced)
        remove(path);
}

START_TEST(test_inbox_not_starved)
{
    inbox_not_starved(0);
    inbox_not_starved(1);
}
END_TEST

/* spins until *arg is set (no safe point) */
static void *ro_gate(void *arg)
{
    _Atomic int *gate = arg;
    while (!atomic_load(gate))
        __builtin_ia32_pause();
    return NULL;
}

/* one worker with 64 KiB stacks, never preempted: a gate job that spins
 * holds it while a queue builds up */
static sp_pool *gated_pool(void)
{
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = 1;
    o.stack_size = 64 * 1024;
    o.flags = SP_POOL_NOPREEMPT;
    return sp_pool_create_opts(&o);
}

/* Queued jobs cancelled: the last 25 while the only worker is surely
 * held (a job that spins on a pool without time slicing, so nothing
 * queued behind it can run, however the threads are scheduled: with a
 * hog that yields, a loaded machine let the worker run all 50 before the
 * first cancel), then the first 25 while the worker runs them: each job
 * either ran (joined 0, counted) or was cancelled (SP_ECANCELED, not
 * counted), never both, never neither. */
START_TEST(test_cancel_queued_surely)
{
    sp_pool *p = gated_pool();
    ck_assert_ptr_nonnull(p);
    _Atomic int stop = 0;
    sp_job *h = sp_job_create(ro_gate, &stop);
    ck_assert_int_eq(sp_job_start(p, 0, h), 0);
    _Atomic long count = 0;
    sp_job *q[50];
    for (int i = 0; i < 50; i++) {
        q[i] = sp_job_create(add_one, &count);
        ck_assert_int_eq(sp_job_start(p, 0, q[i]), 0);
    }
    int cancelled = 0;
    for (int i = 49; i >= 25; i--) {
        ck_assert_int_eq(sp_job_cancel(q[i]), 0);   /* queued behind h */
        cancelled++;
    }
    atomic_store(&stop, 1);
    for (int i = 24; i >= 0; i--)
        if (sp_job_cancel(q[i]) == 0)
            cancelled++;
    /* a cancel that found the job claimed (1: running) may still stop it
     * before its function runs (the claim checks the request): the
     * joins tell which jobs ran */
    int ran = 0, gone = 0;
    for (int i = 0; i < 50; i++) {
        int rc = sp_job_join(q[i], NULL);
        ck_assert(rc == 0 || rc == SP_ECANCELED);
        ck_assert(i < 25 || rc == SP_ECANCELED);
        ran += rc == 0;
        gone += rc == SP_ECANCELED;
        sp_job_release(q[i]);
    }
    ck_assert_int_eq(ran + gone, 50);
    ck_assert_int_eq(count, ran);
    ck_assert_int_ge(gone, cancelled);
    sp_job_wait(h);
    sp_job_release(h);
    sp_pool_close(p, 1);
}
END_TEST

/* Spawned jobs cancelled: queued behind a gate that holds the only
 * worker (cancel 0, they never run), and running (cancel 1: a job that
 * polls until cancelled ends CANCELLED at its next safe point) */
static void *poll_forever(void *arg)
{
    atomic_store((_Atomic int *)arg, 1);
    for (;;)
        sp_checkpoint();
    return NULL;
}

START_TEST(test_spawn_cancel)
{
    sp_pool *p = gated_pool();
    ck_assert_ptr_nonnull(p);
    _Atomic int stop = 0;
    sp_job *h;
    ck_assert_int_eq(sp_job_spawn(p, 0, ro_gate, &stop, &h), 0);
    _Atomic long count = 0;
    sp_job *q[10];
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(sp_job_spawn(p, 0, add_one, &count, &q[i]), 0);
    for (int i = 9; i >= 5; i--)   /* the last ones: surely still queued */
        ck_assert_int_eq(sp_job_cancel(q[i]), 0);
    atomic_store(&stop, 1);
    int ran = 0;
    for (int i = 0; i < 10; i++) {
        int rc = sp_job_join(q[i], NULL);
        ck_assert(i < 5 ? rc == 0 : rc == SP_ECANCELED);
        ran += rc == 0;
        sp_job_release(q[i]);
    }
    ck_assert_int_eq(count, ran);
    sp_job_wait(h);
    sp_job_release(h);
    sp_pool_close(p, 1);

    p = sp_pool_create(1);
    _Atomic int running = 0;
    sp_job *r;
    ck_assert_int_eq(sp_job_spawn(p, 0, poll_forever, (void *)&running, &r), 0);
    while (!atomic_load(&running))
        sched_yield();
    ck_assert_int_eq(sp_job_cancel(r), 1);
    ck_assert_int_eq(sp_job_join(r, NULL), SP_ECANCELED);
    ck_assert_int_eq(sp_job_state(r), SP_JOB_CANCELLED);
    sp_job_release(r);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* a suspended (waiting) job cancelled: it ends, its waiter wakes */
START_TEST(test_cancel_waiting_job)
{
    sp_pool *p = sp_pool_create(1);
    sp_job *gate = sp_job_create(ident, NULL); /* never started */
    sp_job *b = sp_job_create(blocker, gate);
    sp_job_start(p, 0, b);
    sp_stats st;
    do
        sp_pool_stats(p, &st);
    while (st.switches < 1);
    ck_assert_int_ge(sp_job_cancel(b), 0);
    ck_assert_int_eq(sp_job_join(b, NULL), SP_ECANCELED);
    sp_job_release(b);
    sp_job_release(gate);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- interruptible waits of a plain thread (sp_wait_interruptible) ---- */

static void *until_stopped(void *arg)
{
    _Atomic int *stop = arg;
    while (!atomic_load(stop))
        sp_checkpoint();
    return (void *)7;
}

static void *recv_one(void *arg)
{
    void *item = NULL;
    sp_chan_recv(arg, &item);
    return item;
}

static volatile int intr_flag;

static void *raise_flag_later(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    __atomic_store_n(&intr_flag, 1, __ATOMIC_RELAXED);
    return NULL;
}

START_TEST(test_wait_interruptible)
{
    sp_pool *p = sp_pool_create(2);
    _Atomic int stop = 0;
    sp_job *j = sp_job_create(until_stopped, (void *)&stop);
    ck_assert_int_eq(sp_job_start(p, 0, j), 0);
    __atomic_store_n(&intr_flag, 0, __ATOMIC_RELAXED);
    sp_wait_interruptible(&intr_flag);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, raise_flag_later, NULL), 0);
    uint64_t t0 = sp__now_ns();
    ck_assert_int_eq(sp_job_join(j, NULL), SP_EINTR);
    ck_assert_uint_lt(sp__now_ns() - t0, 2000000000ull);
    pthread_join(t, NULL);
    ck_assert(!sp_job_finished(j)); /* the job goes on */
    /* flag still set: other waits end at once */
    sp_chan *c = sp_chan_create(NULL);
    void *item = (void *)1;
    ck_assert_int_eq(sp_chan_recv(c, &item), SP_EINTR);
    ck_assert_ptr_null(item);
    /* a 0-worker pool: the waiter runs its jobs, then sleeps on them */
    sp_pool *z = sp_pool_create(0);
    sp_job *r = sp_job_create(recv_one, c);
    ck_assert_int_eq(sp_job_start(z, 0, r), 0);
    __atomic_store_n(&intr_flag, 0, __ATOMIC_RELAXED);
    ck_assert_int_eq(pthread_create(&t, NULL, raise_flag_later, NULL), 0);
    ck_assert_int_eq(sp_job_join(r, NULL), SP_EINTR);
    pthread_join(t, NULL);
    /* cleared: waits go on to the end again */
    __atomic_store_n(&intr_flag, 0, __ATOMIC_RELAXED);
    sp_chan_send(c, (void *)9);
    void *v = NULL;
    ck_assert_int_eq(sp_job_join(r, &v), 0);
    ck_assert_ptr_eq(v, (void *)9);
    atomic_store(&stop, 1);
    ck_assert_int_eq(sp_job_join(j, &v), 0);
    ck_assert_ptr_eq(v, (void *)7);
    sp_wait_interruptible(NULL);
    sp_job_release(r);
    sp_job_release(j);
    sp_chan_release(c);
    ck_assert_int_eq(sp_pool_close(z, 1), 0);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- failures ---- */

static void *failing(void *arg)
{
    sp_job_fail("bad value %d", (int)(intptr_t)arg);
    return (void *)1;
}

START_TEST(test_fail_seen_by_waiter)
{
    sp_pool *p = sp_pool_create(1);
    sp_job *j = sp_job_create(failing, (void *)42);
    sp_job_start(p, 0, j);
    void *r = (void *)1;
    ck_assert_int_eq(sp_job_join(j, &r), SP_EFAILED);
    ck_assert_ptr_null(r);
    ck_assert_ptr_null(sp_job_wait(j));
    ck_assert_int_eq(sp_job_state(j), SP_JOB_FAILED);
    ck_assert_str_eq(sp_job_error(j), "bad value 42");
    sp_job_release(j);
    sp_stats st;
    sp_pool_stats(p, &st);
    ck_assert_uint_eq(st.jobs_failed, 1);
    sp_pool_close(p, 1);
}
END_TEST

static int __attribute__((noinline)) recurse(volatile char *prev, int depth)
{
    volatile char buf[512];
    if (depth > (1 << 30))
        return 0;
    buf[0] = (char)depth;
    if (prev)
        buf[1] = prev[0];
    return recurse(buf, depth + 1) + buf[1];
}

static void *overflow(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)recurse(NULL, 0);
}

START_TEST(test_stack_overflow_seen_by_waiter)
{
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = 1;
    o.stack_size = 64 * 1024;
    sp_pool *p = sp_pool_create_opts(&o);
    for (int round = 0; round < 3; round++) { /* the worker survives */
        sp_job *j = sp_job_create(overflow, NULL);
        sp_job_start(p, 0, j);
        ck_assert_int_eq(sp_job_join(j, NULL), SP_EFAILED);
        ck_assert_str_eq(sp_job_error(j), "stack overflow");
        sp_job_release(j);
    }
    sp_job *ok = sp_job_create(ident, (void *)9);
    sp_job_start(p, 0, ok);
    ck_assert_ptr_eq(sp_job_wait(ok), (void *)9);
    sp_job_release(ok);
    sp_pool_close(p, 1);
}
END_TEST

/* ---- run on: a returning job's fiber goes on with the next fresh job
 * of its worker's queue (worker.c, sp__run_on) ----
 * A gate holds the only worker (no preemption: it cannot be moved) while
 * a mixed queue builds up; then every kind of job runs in one chain: some
 * suspend (a yield, a join on a job behind them), some were cancelled
 * while queued, some fail, some have end hooks, one overflows its stack,
 * and the rest return. */
typedef struct {
    int i;
    _Atomic int *gate, *ran, *ends;
    sp_job *later;
} ro_t;

static void *ro_job(void *arg)
{
    ro_t *t = arg;
    atomic_fetch_add(&t->ran[t->i], 1);
    switch (t->i % 10) {
    case 3:
        sp_yield();
        break;
    case 5:
        sp_job_join(t->later, NULL); /* queued behind us */
        break;
    case 6:
        if (t->i % 20 == 6)
            return (void *)(intptr_t)recurse(NULL, 0);
        break;
    case 8:
        sp_job_fail("bad %d", t->i);
        return NULL;
    }
    return (void *)(intptr_t)(3 * t->i);
}

static void count_end(sp_job *j, void *ud)
{
    (void)j;
    atomic_fetch_add((_Atomic int *)ud, 1);
}

START_TEST(test_run_on)
{
    enum { N = 400 };
    sp_pool *p = gated_pool();
    static _Atomic int ran[N];
    _Atomic int gate = 0, ends = 0;
    static ro_t t[N];
    sp_job *j[N];
    for (int round = 0; round < 3; round++) {
        atomic_store(&gate, 0);
        atomic_store(&ends, 0);
        for (int i = 0; i < N; i++) {
            atomic_store(&ran[i], 0);
            t[i] = (ro_t){.i = i, .gate = &gate, .ran = ran, .ends = &ends};
            j[i] = sp_job_create(ro_job, &t[i]);
        }
        for (int i = 0; i + 1 < N; i++)
            t[i].later = j[i + 1];
        sp_job *g = sp_job_create(ro_gate, &gate);
        ck_assert_int_eq(sp_job_start(p, 0, g), 0);
        for (int i = 0; i < N; i++) {
            if (i % 10 == 9)
                ck_assert_int_eq(sp_job_on_end(j[i], count_end, &ends), 0);
            ck_assert_int_eq(sp_job_start(p, 0, j[i]), 0);
        }
        int cancelled = 0;
        for (int i = 7; i < N; i += 10)
            if (sp_job_cancel(j[i]) == 0)
                cancelled++;
        ck_assert_int_eq(cancelled, N / 10); /* all still queued */
        atomic_store(&gate, 1);
        for (int i = 0; i < N; i++) {
            void *r = NULL;
            int rc = sp_job_join(j[i], &r);
            switch (i % 10) {
            case 7:
                ck_assert_int_eq(rc, SP_ECANCELED);
                ck_assert_int_eq(ran[i], 0);
                break;
            case 8:
                ck_assert_int_eq(rc, SP_EFAILED);
                char want[32];
                snprintf(want, sizeof want, "bad %d", i);
                ck_assert_str_eq(sp_job_error(j[i]), want);
                break;
            case 6:
                if (i % 20 == 6) {
                    ck_assert_int_eq(rc, SP_EFAILED);
                    ck_assert_str_eq(sp_job_error(j[i]), "stack overflow");
                    break;
                }
                /* fall through */
            default:
                ck_assert_int_eq(rc, 0);
                ck_assert_ptr_eq(r, (void *)(intptr_t)(3 * i));
            }
            if (i % 10 != 7)
                ck_assert_int_eq(ran[i], 1);
        }
        ck_assert_int_eq(sp_job_join(g, NULL), 0);
        ck_assert_int_eq(ends, N / 10);
        for (int i = 0; i < N; i++)
            sp_job_release(j[i]);
        sp_job_release(g);
    }
    sp_pool_close(p, 1);
}
END_TEST

/* A job's cleanup and end hooks run where the scheduler runs, on the
 * worker thread's own stack (256 KiB), even when jobs around it run on:
 * a 64 KiB job stack would not hold this cleanup's 120 KiB of frames.
 * Fire and forget jobs, so the runtime's hold is the last reference and
 * the cleanup runs on the worker. */
static int __attribute__((noinline)) deep(volatile char *prev, int depth)
{
    volatile char buf[1024];
    buf[0] = (char)depth;
    if (prev)
        buf[1] = prev[0];
    if (depth == 0)
        return buf[0];
    return deep(buf, depth - 1) + buf[1];
}

static void deep_cleanup(void *arg, void *result, sp_state st, void *ud)
{
    (void)arg;
    (void)result;
    (void)st;
    deep(NULL, 120); /* about 120 KiB */
    atomic_fetch_add((_Atomic int *)ud, 1);
}

START_TEST(test_run_on_deep_cleanup)
{
    enum { N = 60 };
    sp_pool *p = gated_pool();
    _Atomic int gate = 0, cleaned = 0;
    _Atomic long ran = 0;
    sp_job *g = sp_job_create(ro_gate, &gate);
    ck_assert_int_eq(sp_job_start(p, 0, g), 0);
    for (int i = 0; i < N; i++) {
        sp_job *j = sp_job_create(add_one, &ran);
        if (i % 3 == 1)
            ck_assert_int_eq(sp_job_set_cleanup(j, deep_cleanup, &cleaned), 0);
        ck_assert_int_eq(sp_job_start(p, 0, j), 0);
        sp_job_release(j); /* fire and forget: the hold frees it */
    }
    atomic_store(&gate, 1);
    sp_job_release(g);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
    ck_assert_int_eq(ran, N);
    ck_assert_int_eq(cleaned, N / 3);
}
END_TEST

/* ---- slab stacks (past the guarded-stack budget) ---- */

static void *touch_below(void *arg)
{
    /* move the stack pointer past the bottom of a 64 KiB stack and write
     * there: lands in the gap under a slab stack */
    size_t n = (size_t)(intptr_t)arg;
    volatile char *buf = __builtin_alloca(n);
    buf[0] = 1;
    return (void *)(intptr_t)buf[0];
}

START_TEST(test_slab_stacks)
{
    long max, now;
    sp__stack_budget(&max, &now);
    sp__stack_set_budget(now); /* no more guarded stacks */
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = 2;
    o.stack_size = 64 * 1024;
    sp_pool *p = sp_pool_create_opts(&o);
    sp_job *j = sp_job_create(fib_job, (void *)(intptr_t)18);
    sp_job_start(p, 0, j);
    ck_assert_int_eq((long)(intptr_t)sp_job_wait(j), 2584);
    sp_job_release(j);
    sp_stats st;
    sp_pool_stats(p, &st);
    ck_assert_uint_gt(st.stacks_slab, 0);
    /* fits: fine */
    j = sp_job_create(touch_below, (void *)(intptr_t)(16 * 1024));
    sp_job_start(p, 0, j);
    ck_assert_int_eq(sp_job_join(j, NULL), 0);
    sp_job_release(j);
    /* overflow into the gap: found when the job ends */
    j = sp_job_create(touch_below, (void *)(intptr_t)(68 * 1024));
    sp_job_start(p, 0, j);
    ck_assert_int_eq(sp_job_join(j, NULL), SP_EFAILED);
    ck_assert_str_eq(sp_job_error(j), "stack overflow");
    sp_job_release(j);
    /* and the wiped stack serves again */
    for (int i = 0; i < 20; i++) {
        j = sp_job_create(ident, (void *)3);
        sp_job_start(p, 0, j);
        ck_assert_int_eq(sp_job_join(j, NULL), 0);
        sp_job_release(j);
    }
    sp_pool_close(p, 1);
    sp__stack_set_budget(max);
}
END_TEST

/* ---- the poll flag and identity survive migration ---- */

static void *migrate(void *arg)
{
    (void)arg;
    const volatile int *f = sp_poll_flag();
    sp_job *me = sp_job_current();
    for (int i = 0; i < 2000; i++) {
        sp_yield();
        if (sp_poll_flag() != f || sp_job_current() != me)
            return (void *)1;
    }
    return NULL;
}

START_TEST(test_poll_flag_stable)
{
    sp_pool *p = sp_pool_create(2);
    sp_job *js[8];
    for (int i = 0; i < 8; i++) {
        js[i] = sp_job_create(migrate, NULL);
        sp_job_start(p, 0, js[i]);
    }
    for (int i = 0; i < 8; i++) {
        ck_assert_ptr_null(sp_job_wait(js[i]));
        sp_job_release(js[i]);
    }
    sp_pool_close(p, 1);
}
END_TEST

/* ---- deferred cancel while waiting ---- */

static void *deferred_waiter(void *arg)
{
    int rc = sp_job_join((sp_job *)arg, NULL);
    return (void *)(intptr_t)(rc == SP_ECANCELED ? 1 : 2);
}

START_TEST(test_deferred_cancel_in_wait)
{
    sp_pool *p = sp_pool_create(1);
    sp_job *gate = sp_job_create(ident, NULL); /* never started */
    sp_job *w = sp_job_create(deferred_waiter, gate);
    sp_job_set_flags(w, SP_JOB_DEFER_CANCEL);
    sp_job_start(p, 0, w);
    sp_stats st;
    do
        sp_pool_stats(p, &st);
    while (st.switches < 1);
    ck_assert_int_ge(sp_job_cancel(w), 0);
    void *r = NULL;
    ck_assert_int_eq(sp_job_join(w, &r), 0); /* it returned by itself */
    ck_assert_ptr_eq(r, (void *)1);          /* seeing SP_ECANCELED */
    sp_job_release(w);
    sp_job_release(gate);
    sp_pool_close(p, 1);
}
END_TEST

/* ---- close ---- */

START_TEST(test_close_with_jobs_in_flight)
{
    sp_pool *p = sp_pool_create(1);
    _Atomic int stop = 0;
    sp_job *h = sp_job_create(hog, &stop); /* yields forever */
    sp_job_start(p, 0, h);
    _Atomic long count = 0;
    sp_job *q[20];
    for (int i = 0; i < 20; i++) {
        q[i] = sp_job_create(add_one, &count);
        sp_job_start(p, 0, q[i]);
    }
    int left = sp_pool_close(p, 0); /* p is gone for us now */
    ck_assert_int_ge(left, 1);      /* at least the hog */
    ck_assert_int_eq(sp_job_join(h, NULL), SP_ECANCELED);
    int notdone = 0;
    for (int i = 0; i < 20; i++) {
        int rc = sp_job_join(q[i], NULL);
        ck_assert(rc == 0 || rc == SP_ECANCELED);
        notdone += rc != 0;
        sp_job_release(q[i]);
    }
    ck_assert_int_eq(left, notdone + 1);
    sp_job_release(h);
}
END_TEST

START_TEST(test_closed_pool_refuses)
{
    sp_pool *p = sp_pool_create(1);
    sp_pool_retain(p);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
    sp_job *j = sp_job_create(ident, NULL);
    ck_assert_int_eq(sp_job_start(p, 0, j), SP_ECLOSED);
    sp_job_release(j);
    sp_pool_release(p);
}
END_TEST

/* ---- reference counts and cleanup ---- */

static int cleaned;
static void on_clean(void *arg, void *result, sp_state st, void *ud)
{
    ck_assert_ptr_eq(arg, (void *)11);
    ck_assert_ptr_eq(result, (void *)11);
    ck_assert_int_eq(st, SP_JOB_DONE);
    ck_assert_ptr_eq(ud, &cleaned);
    cleaned++;
}

START_TEST(test_refcounts_and_cleanup)
{
    sp_pool *p = sp_pool_create(1);
    sp_job *j = sp_job_create(ident, (void *)11);
    ck_assert_int_eq(sp_job_set_cleanup(j, on_clean, &cleaned), 0);
    ck_assert_int_eq(sp_job_set_flags(j, SP_JOB_ASYNC), 0);
    sp_job_retain(j);
    sp_job_start(p, 0, j);
    ck_assert_int_eq(sp_job_set_flags(j, 0), SP_EBUSY);
    sp_job_wait(j);
    sp_job_release(j);
    ck_assert_int_eq(cleaned, 0); /* one reference left */
    ck_assert_int_eq(sp_job_cancel(j), SP_EBUSY);
    sp_job_release(j);
    sp_pool_close(p, 1); /* the worker may still hold it: now it doesn't */
    ck_assert_int_eq(cleaned, 1);
}
END_TEST

/* A job goes with its last reference: never started, refused by a
 * closed pool, cancelled before it was started, or started (after its
 * end: the runtime's hold goes then). */
static _Atomic int freed_n;
static void count_free(void *arg, void *result, sp_state st, void *ud)
{
    (void)arg;
    (void)result;
    (void)st;
    (void)ud;
    atomic_fetch_add(&freed_n, 1);
}

static sp_job *counted_job(void)
{
    sp_job *j = sp_job_create(ident, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(sp_job_set_cleanup(j, count_free, NULL), 0);
    return j;
}

START_TEST(test_unstarted_hold)
{
    atomic_store(&freed_n, 0);
    sp_job *a = counted_job(); /* never started */
    sp_job_release(a);
    ck_assert_int_eq(atomic_load(&freed_n), 1);
    sp_job *b = counted_job(); /* shared, then each lets go */
    sp_job_retain(b);
    sp_job_release(b);
    ck_assert_int_eq(atomic_load(&freed_n), 1);
    sp_job_release(b);
    ck_assert_int_eq(atomic_load(&freed_n), 2);
    sp_job *c = counted_job(); /* cancelled before it was started */
    ck_assert_int_eq(sp_job_cancel(c), 0);
    ck_assert_int_eq(sp_job_state(c), SP_JOB_CANCELLED);
    sp_job_release(c);
    ck_assert_int_eq(atomic_load(&freed_n), 3);
    sp_pool *p = sp_pool_create(1); /* refused by a closed pool */
    sp_pool_retain(p);
    sp_pool_close(p, 1);
    sp_job *d = counted_job();
    ck_assert_int_eq(sp_job_start(p, 0, d), SP_ECLOSED);
    sp_job_release(d);
    ck_assert_int_eq(atomic_load(&freed_n), 4);
    sp_pool_release(p);
    sp_pool *q = sp_pool_create(1); /* started: the hold goes after its end */
    sp_job *e = counted_job();
    sp_job_retain(e);
    ck_assert_int_eq(sp_job_start(q, 0, e), 0);
    ck_assert_int_eq(sp_job_start(q, 0, e), SP_EBUSY);
    sp_job_wait(e);
    sp_job_release(e);
    sp_job_release(e);
    sp_pool_close(q, 1);
    ck_assert_int_eq(atomic_load(&freed_n), 5);
}
END_TEST

/* A plain thread takes its references to a pool in batches: what it
 * holds goes back when it closes the pool, turns to another one or
 * exits, and nothing is kept of a closed pool. */
static void *start_some(void *arg)
{
    sp_pool *p = arg;
    sp_job *j[200];
    for (int i = 0; i < 200; i++) {
        j[i] = sp_job_create(ident, (void *)(intptr_t)i);
        ck_assert_int_eq(sp_job_start(p, 0, j[i]), 0);
    }
    for (int i = 0; i < 200; i++) {
        ck_assert_ptr_eq(sp_job_wait(j[i]), (void *)(intptr_t)i);
        sp_job_release(j[i]);
    }
    return NULL;
}

static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cv = PTHREAD_COND_INITIALIZER;
static int park_step;

static void park_until(int step)
{
    pthread_mutex_lock(&park_mu);
    while (park_step < step)
        pthread_cond_wait(&park_cv, &park_mu);
    pthread_mutex_unlock(&park_mu);
}

static void park_go(int step)
{
    pthread_mutex_lock(&park_mu);
    park_step = step;
    pthread_cond_broadcast(&park_cv);
    pthread_mutex_unlock(&park_mu);
}

static sp_pool *other_pool;

static void *start_park_switch(void *arg)
{
    start_some(arg);
    park_go(1);     /* it holds references to arg now */
    park_until(2);  /* arg closed by main meanwhile */
    start_some(other_pool); /* turning to another pool gives them back */
    park_go(3);
    park_until(4);
    return NULL;
}

START_TEST(test_plain_thread_pool_refs)
{
    long base = sp__pool_live_count();
    /* the closing thread gives its references back in the close */
    sp_pool *p = sp_pool_create(1);
    start_some(p);
    sp_pool_close(p, 1);
    ck_assert_int_eq(sp__pool_live_count(), base);
    /* jobs released after the close: the last one frees the pool */
    p = sp_pool_create(1);
    sp_job *j[100];
    for (int i = 0; i < 100; i++) {
        j[i] = sp_job_create(ident, NULL);
        ck_assert_int_eq(sp_job_start(p, 0, j[i]), 0);
    }
    for (int i = 0; i < 100; i++)
        sp_job_wait(j[i]);
    sp_pool_close(p, 1);
    ck_assert_int_eq(sp__pool_live_count(), base + 1);
    for (int i = 0; i < 100; i++)
        sp_job_release(j[i]);
    ck_assert_int_eq(sp__pool_live_count(), base);
    /* another thread's references go back when it exits */
    p = sp_pool_create(2);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, start_some, p), 0);
    pthread_join(t, NULL);
    sp_pool_close(p, 1);
    ck_assert_int_eq(sp__pool_live_count(), base);
    /* ... or when it turns to another pool: until then the pool closed
     * by main keeps its memory */
    p = sp_pool_create(1);
    other_pool = sp_pool_create(1);
    park_step = 0;
    ck_assert_int_eq(pthread_create(&t, NULL, start_park_switch, p), 0);
    park_until(1);
    sp_pool_close(p, 1);
    ck_assert_int_eq(sp__pool_live_count(), base + 2);
    park_go(2);
    park_until(3);
    ck_assert_int_eq(sp__pool_live_count(), base + 1);
    park_go(4);
    pthread_join(t, NULL);
    sp_pool_close(other_pool, 1);
    ck_assert_int_eq(sp__pool_live_count(), base);
}
END_TEST

/* A plain thread's join first watches the job's state (sp_job_join):
 * what it returns is the same whether the job ends during the watch
 * (short jobs, a batch waited for in order), after it (the thread then
 * sleeps until woken), by failing or by a cancel. */
static void *spin_us_job(void *arg)
{
    uint64_t end = sp__now_ns() + (uint64_t)(intptr_t)arg * 1000u;
    while (sp__now_ns() < end)
        sp_checkpoint();
    return arg;
}

static _Atomic int watch_go;

static void *gated_spin(void *arg)
{
    while (!atomic_load(&watch_go))
        sp_checkpoint();
    return spin_us_job(arg);
}

static void *gated_fail(void *arg)
{
    gated_spin(arg);
    sp_job_fail("late %d", 7);
    return NULL;
}

struct cancel_after { sp_job *j; long us; int rc; };

static void *cancel_after_fn(void *arg)
{
    struct cancel_after *c = arg;
    struct timespec ts = {0, c->us * 1000};
    nanosleep(&ts, NULL);
    c->rc = sp_job_cancel(c->j);
    return NULL;
}

START_TEST(test_join_watch)
{
    sp_pool *p = sp_pool_create(1);
    enum { N = 20000 };
    sp_job **j = malloc(N * sizeof *j);
    for (int i = 0; i < N; i++) {
        j[i] = sp_job_create(ident, (void *)(intptr_t)(i + 1));
        ck_assert_int_eq(sp_job_start(p, 0, j[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        void *r = NULL;
        ck_assert_int_eq(sp_job_join(j[i], &r), 0);
        ck_assert_ptr_eq(r, (void *)(intptr_t)(i + 1));
        sp_job_release(j[i]);
    }
    free(j);
    /* running when the join begins; ends during the watch (2 us) or
     * after it (20 ms), returning or failing */
    long us[] = {2, 20000};
    for (int k = 0; k < 4; k++) {
        atomic_store(&watch_go, 0);
        sp_job *a = sp_job_create(k < 2 ? gated_spin : gated_fail,
                                  (void *)(intptr_t)us[k % 2]);
        ck_assert_int_eq(sp_job_start(p, 0, a), 0);
        while (sp_job_state(a) != SP_JOB_RUNNING)
            sched_yield();
        atomic_store(&watch_go, 1);
        void *r = (void *)1;
        if (k < 2) {
            ck_assert_int_eq(sp_job_join(a, &r), 0);
            ck_assert_ptr_eq(r, (void *)(intptr_t)us[k]);
        } else {
            ck_assert_int_eq(sp_job_join(a, &r), SP_EFAILED);
            ck_assert_ptr_null(r);
            ck_assert_str_eq(sp_job_error(a), "late 7");
        }
        sp_job_release(a);
    }
    /* cancelled while the joiner watches or sleeps */
    for (int k = 0; k < 2; k++) {
        sp_job *c = sp_job_create(spin_us_job, (void *)(intptr_t)5000000);
        ck_assert_int_eq(sp_job_start(p, 0, c), 0);
        while (sp_job_state(c) != SP_JOB_RUNNING)
            sched_yield();
        pthread_t t;
        struct cancel_after ca = {c, k ? 20000 : 1, 0};
        ck_assert_int_eq(pthread_create(&t, NULL, cancel_after_fn, &ca), 0);
        ck_assert_int_eq(sp_job_join(c, NULL), SP_ECANCELED);
        pthread_join(t, NULL);
        ck_assert_int_eq(ca.rc, 1);
        sp_job_release(c);
    }
    sp_pool_close(p, 1);
}
END_TEST

/* A job without a side part ends without the job lock when nobody waits
 * (sp__job_end); a joiner that links its node just then must still see
 * the end (join_ended in sched.c), or it would sleep for good. Jobs that
 * end about when their joiner, a plain thread past its watch or a job on
 * the other worker, registers. */
static void *spin_rand(void *arg)
{
    long ns = (long)(intptr_t)arg;
    uint64_t end = sp__now_ns() + (uint64_t)ns;
    while (sp__now_ns() < end)
        __builtin_ia32_pause();
    return arg;
}

static sp_pool *child_pool; /* another pool: the child runs on another thread */

static void *join_child(void *arg)
{
    sp_pool *p = child_pool;
    long ns = (long)(intptr_t)arg;
    sp_job *c = sp_job_create(spin_rand, (void *)(intptr_t)ns);
    if (!c || sp_job_start(p, 0, c) != 0)
        return NULL;
    void *r = NULL;
    int rc = sp_job_join(c, &r);
    sp_job_release(c);
    return rc == 0 && r == (void *)(intptr_t)ns ? arg : NULL;
}

START_TEST(test_end_races_join)
{
    sp_pool *p = sp_pool_create(1);
    child_pool = sp_pool_create(1);
    unsigned seed = 12345;
    atomic_store(&sp__test_join_gap_ns, 3000);
    for (int i = 0; i < 2000; i++) {
        seed = seed * 1103515245u + 12345u;
        /* around the plain thread's watch (4 us), or short for a fiber */
        long ns = i & 1 ? 3000 + (long)(seed >> 16) % 3000
                        : 1 + (long)(seed >> 16) % 2000;
        sp_job *j = sp_job_create(i & 1 ? spin_rand : join_child,
                                  (void *)(intptr_t)ns);
        /* not run by the joining thread itself (standing in) */
        ck_assert_int_eq(sp_job_set_flags(j, SP_JOB_ASYNC), 0);
        ck_assert_int_eq(sp_job_start(p, 0, j), 0);
        void *r = NULL;
        ck_assert_int_eq(sp_job_join(j, &r), 0);
        ck_assert_ptr_eq(r, (void *)(intptr_t)ns);
        sp_job_release(j);
    }
    atomic_store(&sp__test_join_gap_ns, 0);
    sp_pool_close(p, 1);
    sp_pool_close(child_pool, 1);
}
END_TEST

/* ---- completion hooks and wait queues (for the coordination layer) ---- */

static void hook(sp_job *j, void *ud)
{
    (void)j;
    atomic_fetch_add((_Atomic int *)ud, 1);
}

START_TEST(test_end_hooks)
{
    sp_pool *p = sp_pool_create(1);
    _Atomic int n = 0;
    sp_job *j = sp_job_create(ident, NULL);
    ck_assert_int_eq(sp__job_on_end(j, hook, &n), 0);
    ck_assert_int_eq(sp__job_on_end(j, hook, &n), 0);
    sp_job_start(p, 0, j);
    sp_job_wait(j);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(sp__job_on_end(j, hook, &n), SP_EBUSY);
    sp_job_release(j);
    sp_job *c = sp_job_create(ident, NULL);
    sp__job_on_end(c, hook, &n);
    sp_job_cancel(c);
    ck_assert_int_eq(n, 3);
    sp_job_release(c);
    sp_pool_close(p, 1);
}
END_TEST

typedef struct {
    pthread_mutex_t lock;
    sp__waitq q;
    int value;
} box_t;

static void *box_get(void *arg)
{
    box_t *b = arg;
    pthread_mutex_lock(&b->lock);
    while (b->value == 0)
        sp__wait(&b->q, &b->lock);
    int v = b->value;
    pthread_mutex_unlock(&b->lock);
    return (void *)(intptr_t)v;
}

START_TEST(test_waitq_fibers_and_threads)
{
    box_t b = {.lock = PTHREAD_MUTEX_INITIALIZER};
    sp_pool *p = sp_pool_create(1);
    sp_job *js[20];
    for (int i = 0; i < 20; i++) {
        js[i] = sp_job_create(box_get, &b);
        sp_job_start(p, 0, js[i]);
    }
    pthread_t t;
    pthread_create(&t, NULL, box_get, &b); /* a plain thread waits too */
    pthread_mutex_lock(&b.lock);
    b.value = 8;
    sp__wake_all(&b.q);
    pthread_mutex_unlock(&b.lock);
    void *tr;
    pthread_join(t, &tr);
    ck_assert_ptr_eq(tr, (void *)8);
    for (int i = 0; i < 20; i++) {
        ck_assert_ptr_eq(sp_job_wait(js[i]), (void *)8);
        sp_job_release(js[i]);
    }
    sp_pool_close(p, 1);
}
END_TEST

static void *own_prio(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)sp_job_priority(sp_job_current());
}

START_TEST(test_job_priority)
{
    sp_pool *p = sp_pool_create(1);
    sp_job *j = sp_job_create(own_prio, NULL);
    ck_assert_int_eq(sp_job_priority(j), 0);
    ck_assert_int_eq(sp_job_start(p, 5, j), 0);
    ck_assert_int_eq(sp_job_priority(j), 5);
    ck_assert_int_eq((int)(intptr_t)sp_job_wait(j), 5);
    ck_assert_int_eq(sp_job_priority(NULL), 0);
    sp_job_release(j);
    sp_pool_close(p, 1);
}
END_TEST

/* An event-loop thread starts a job on a parked worker and does not wait
 * for it: the wake it put off happens at sp_flush_wakes, not at the
 * monitor's next tick. The monitor may still get there first (a slow run,
 * TSan): then the start is tried again, up to 50 times. */
START_TEST(test_flush_wakes)
{
    sp_pool *p = sp_pool_create(1);
    sp__worker *w = p->workers[0];
    int seen_owed = 0;
    for (int round = 0; round < 50 && !seen_owed; round++) {
        await_parked(w);
        ck_assert_int_eq(atomic_load(&w->idle), SP__W_PARKED);
        sp_job *j = sp_job_create(ident, (void *)0x77);
        ck_assert_int_eq(sp_job_start(p, 0, j), 0);
        if (atomic_load(&w->idle) == SP__W_OWED) {   /* put off: we might wait */
            seen_owed = 1;
            sp_flush_wakes();
            ck_assert_int_ne(atomic_load(&w->idle), SP__W_OWED);
        }
        while (!sp_job_finished(j)) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
        ck_assert_ptr_eq(sp_job_result(j), (void *)0x77);
        sp_flush_wakes();   /* owing nothing: harmless */
        sp_job_release(j);
    }
    ck_assert_int_eq(seen_owed, 1);
    sp_pool_close(p, 1);
}
END_TEST

/* A plain thread starts two jobs on a parked worker and waits for the
 * second: not alone in the inbox, it is run by the worker, after the
 * first (arrival order); alone, it is run by the waiting thread, standing
 * in, with no wake of the worker (worker.c, borrow). The rarer case, a
 * job found not alone only after the stand-in took the inbox, is
 * test_runq_put_back in test_fiber.c. */
static _Atomic int lend_order;
static void *note_order(void *arg)
{
    *(int *)arg = atomic_fetch_add(&lend_order, 1) + 1;
    return arg;
}

START_TEST(test_lend_not_alone)
{
    sp_pool *p = sp_pool_create(1);
    sp__worker *w = p->workers[0];
    for (int round = 0; round < 20; round++) {
        await_parked(w);
        ck_assert_int_eq(atomic_load(&w->idle), SP__W_PARKED);
        atomic_store(&lend_order, 0);
        int oa = 0, oj = 0;
        sp_job *a = sp_job_create(note_order, &oa);
        sp_job *j = sp_job_create(note_order, &oj);
        ck_assert_int_eq(sp_job_start(p, 0, a), 0);
        ck_assert_int_eq(sp_job_start(p, 0, j), 0);
        ck_assert_ptr_eq(sp_job_wait(j), &oj);
        ck_assert_ptr_eq(sp_job_wait(a), &oa);
        ck_assert_int_eq(oa, 1);   /* arrival order kept */
        ck_assert_int_eq(oj, 2);
        sp_job_release(a);
        sp_job_release(j);
    }
    /* alone, it runs on this thread (the worker is not woken) */
    sp_stats before, after;
    await_parked(w);
    sp_pool_stats(p, &before);
    int o = 0;
    sp_job *j = sp_job_create(note_order, &o);
    ck_assert_int_eq(sp_job_start(p, 0, j), 0);
    ck_assert_ptr_eq(sp_job_wait(j), &o);
    sp_job_release(j);
    sp_pool_stats(p, &after);
    ck_assert_uint_eq(after.wakes, before.wakes);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* Plain threads that start and wait for jobs one at a time (each may
 * stand in for a parked worker, taking its job from the inbox with a
 * compare-and-swap) while another thread pushes fire-and-forget jobs on
 * the same workers and the workers steal from each other: every job
 * runs once, every wait gets its own result. */
typedef struct { sp_pool *p; int n; _Atomic long *bad; } lend_arg;
static _Atomic long lend_forgot;

static void *lend_waiter(void *arg)
{
    lend_arg *a = arg;
    for (int i = 0; i < a->n; i++) {
        sp_job *j = sp_job_create(ident, (void *)(intptr_t)(i + 1));
        void *r = NULL;
        if (!j || sp_job_start(a->p, 0, j) != 0 || sp_job_join(j, &r) != 0 ||
            r != (void *)(intptr_t)(i + 1))
            atomic_fetch_add(a->bad, 1);
        sp_job_release(j);
    }
    return NULL;
}

static void *lend_pusher(void *arg)
{
    lend_arg *a = arg;
    for (int i = 0; i < a->n; i++)
        if (sp_job_spawn(a->p, 0, add_one, &lend_forgot, NULL) != 0)
            atomic_fetch_add(a->bad, 1);
    return NULL;
}

START_TEST(test_lend_races)
{
    for (int nw = 1; nw <= 2; nw++) {
        sp_pool *p = sp_pool_create(nw);
        _Atomic long bad = 0;
        atomic_store(&lend_forgot, 0);
        enum { W = 3, N = 3000 };
        lend_arg a = {p, N, &bad};
        pthread_t t[W + 1];
        for (int k = 0; k < W; k++)
            ck_assert_int_eq(pthread_create(&t[k], NULL, lend_waiter, &a), 0);
        ck_assert_int_eq(pthread_create(&t[W], NULL, lend_pusher, &a), 0);
        for (int k = 0; k <= W; k++)
            pthread_join(t[k], NULL);
        ck_assert_int_eq(sp_pool_close(p, 1), 0);
        ck_assert_int_eq(bad, 0);
        ck_assert_int_eq(lend_forgot, N);
    }
}
END_TEST

/* ---- jobs completed from outside (sp_job_detach, sp_job_complete) ---- */

typedef struct {
    _Atomic int detached;   /* the job has detached */
    _Atomic int completed;  /* the other side completed it */
    _Atomic int told;       /* on_cancel calls */
    int complete_in_hook;   /* on_cancel completes it CANCELLED */
    int wait_completion;    /* the job returns only once completed (EARLY) */
    int cancel_point;       /* after detaching: a safe point, then return */
    int rc;                 /* what sp_job_detach returned */
} det_t;

static void det_cancel(sp_job *j, void *ud)
{
    det_t *d = ud;
    atomic_fetch_add(&d->told, 1);
    if (d->complete_in_hook)
        ck_assert_int_eq(sp_job_complete(j, SP_JOB_CANCELLED, NULL, NULL), 0);
}

static void *det_job(void *arg)
{
    det_t *d = arg;
    d->rc = sp_job_detach(det_cancel, d);
    if (d->rc == 0)
        ck_assert_int_eq(sp_job_detach(det_cancel, d), SP_EBUSY);
    atomic_store(&d->detached, 1);
    if (d->wait_completion)
        while (!atomic_load(&d->completed))
            sched_yield();
    if (d->cancel_point) {
        while (!sp_job_cancelled())
            sched_yield();
        sp_checkpoint(); /* ends it CANCELLED here */
    }
    return (void *)0xbad; /* ignored: the completion gives the result */
}

/* detaches only once det_go is set (cancelled before, meanwhile) */
static _Atomic int det_go;
static void *det_late(void *arg)
{
    while (!atomic_load(&det_go))
        sched_yield();
    return det_job(arg);
}

static void await_flag(_Atomic int *f)
{
    while (!atomic_load(f)) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
}

START_TEST(test_detach_complete)
{
    ck_assert_int_eq(sp_job_detach(NULL, NULL), SP_ENOTJOB);
    sp_pool *p = sp_pool_create(1);
    /* completed after its fiber ended: the worker ran another job meanwhile */
    det_t d = {0};
    sp_job *j = sp_job_create(det_job, &d);
    ck_assert_int_eq(sp_job_complete(j, SP_JOB_DONE, NULL, NULL), SP_EBUSY);
    ck_assert_int_eq(sp_job_start(p, 0, j), 0);
    await_flag(&d.detached);
    ck_assert_int_eq(d.rc, 0);
    sp_job *other = sp_job_create(ident, (void *)0x5);
    ck_assert_int_eq(sp_job_start(p, 0, other), 0);
    ck_assert_ptr_eq(sp_job_wait(other), (void *)0x5);   /* the one worker is free */
    sp_job_release(other);
    ck_assert_int_eq(sp_job_state(j), SP_JOB_RUNNING);
    ck_assert_int_eq(sp_job_complete(j, SP_JOB_QUEUED, NULL, NULL), SP_EINVAL);
    ck_assert_int_eq(sp_job_complete(j, SP_JOB_DONE, (void *)0x77, NULL), 0);
    ck_assert_int_eq(sp_job_complete(j, SP_JOB_DONE, (void *)0x78, NULL), SP_EBUSY);
    void *r = NULL;
    ck_assert_int_eq(sp_job_join(j, &r), 0);
    ck_assert_ptr_eq(r, (void *)0x77);
    ck_assert_int_eq(sp_job_cancel(j), SP_EBUSY);
    ck_assert_int_eq(atomic_load(&d.told), 0);
    sp_job_release(j);
    sp_stats st;
    ck_assert_int_eq(sp_pool_stats(p, &st), 0);
    ck_assert_uint_eq(st.jobs_finished, 2);

    /* completed while its function still ran: it ends when that returns */
    det_t e = {0};
    e.wait_completion = 1;
    j = sp_job_create(det_job, &e);
    ck_assert_int_eq(sp_job_start(p, 0, j), 0);
    await_flag(&e.detached);
    ck_assert_int_eq(sp_job_complete(j, SP_JOB_FAILED, NULL, "far away"), 0);
    atomic_store(&e.completed, 1);
    ck_assert_int_eq(sp_job_join(j, NULL), SP_EFAILED);
    ck_assert_str_eq(sp_job_error(j), "far away");
    sp_job_release(j);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

START_TEST(test_detach_cancel)
{
    sp_pool *p = sp_pool_create(1);
    /* cancelled after it detached: the owner is told once and completes it */
    det_t d = {0};
    d.complete_in_hook = 1;
    sp_job *j = sp_job_create(det_job, &d);
    ck_assert_int_eq(sp_job_start(p, 0, j), 0);
    await_flag(&d.detached);
    ck_assert_int_eq(sp_job_cancel(j), 1);
    ck_assert_int_eq(sp_job_join(j, NULL), SP_ECANCELED);
    ck_assert_int_eq(atomic_load(&d.told), 1);
    sp_job_release(j);

    /* cancelled before it detached: sp_job_detach tells the owner */
    det_t e = {0};
    e.complete_in_hook = 1;
    e.wait_completion = 1;   /* ... which completes it in the hook */
    j = sp_job_create(det_job, &e);
    sp_job_set_flags(j, SP_JOB_DEFER_CANCEL);
    atomic_store(&e.completed, 1);   /* no need to wait: returns at once */
    ck_assert_int_eq(sp_job_cancel(j), 0);   /* not started: never runs */
    ck_assert_int_eq(sp_job_state(j), SP_JOB_CANCELLED);
    sp_job_release(j);

    det_t f = {0};
    f.complete_in_hook = 1;
    j = sp_job_create(det_late, &f);
    sp_job_set_flags(j, SP_JOB_DEFER_CANCEL);
    det_go = 0;
    ck_assert_int_eq(sp_job_start(p, 0, j), 0);
    while (sp_job_state(j) != SP_JOB_RUNNING)
        sched_yield();
    ck_assert_int_eq(sp_job_cancel(j), 1);   /* running, not detached yet */
    ck_assert_int_eq(atomic_load(&f.told), 0);
    atomic_store(&det_go, 1);
    ck_assert_int_eq(sp_job_join(j, NULL), SP_ECANCELED);
    ck_assert_int_eq(atomic_load(&f.told), 1);
    sp_job_release(j);

    /* the runtime ends it first (a safe point after a cancel): a late
     * completion is refused */
    det_t g = {0};
    g.cancel_point = 1;
    j = sp_job_create(det_job, &g);
    ck_assert_int_eq(sp_job_start(p, 0, j), 0);
    await_flag(&g.detached);
    ck_assert_int_eq(sp_job_cancel(j), 1);
    ck_assert_int_eq(sp_job_join(j, NULL), SP_ECANCELED);
    ck_assert_int_eq(atomic_load(&g.told), 1);
    ck_assert_int_eq(sp_job_complete(j, SP_JOB_DONE, (void *)1, NULL), SP_EBUSY);
    sp_job_release(j);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* a detached job is a waker: a checked wait on it is no deadlock; a
 * closing pool counts it as left suspended, as it does a job suspended in
 * a wait, and its completion still ends it */
static void *complete_later(void *arg)
{
    struct timespec ts = {0, 300 * 1000000};
    nanosleep(&ts, NULL);
    ck_assert_int_eq(sp_job_complete(arg, SP_JOB_DONE, (void *)0x99, NULL), 0);
    return NULL;
}

START_TEST(test_detach_waker)
{
    sp_pool *p = sp_pool_create(1);
    for (int round = 0; round < 2; round++) {
        det_t d = {0};
        sp_job *j = sp_job_create(det_job, &d);
        ck_assert_int_eq(sp_job_start(p, 0, j), 0);
        await_flag(&d.detached);
        pthread_t t;
        pthread_create(&t, NULL, complete_later, j);
        if (round == 0) {
            sp_deadlock_check(1);
            void *r = NULL;
            ck_assert_int_eq(sp_job_join(j, &r), 0);
            ck_assert_ptr_eq(r, (void *)0x99);
            sp_deadlock_check(0);
        } else {
            ck_assert_int_eq(sp_pool_close(p, 1), 1);
            void *r = NULL;
            ck_assert_int_eq(sp_job_join(j, &r), 0);
            ck_assert_ptr_eq(r, (void *)0x99);
        }
        pthread_join(t, NULL);
        sp_job_release(j);
    }
}
END_TEST

/* sp_job_on_end: once, at the end, in any state; sp_job_promise: a
 * dependency on a job its owner starts later */
static void *add_two(void *arg, size_t argc, void *const *argv)
{
    (void)arg;
    ck_assert_uint_eq(argc, 1);
    return (void *)((uintptr_t)argv[0] + 2);
}

START_TEST(test_on_end_promise)
{
    sp_pool *p = sp_pool_create(1);
    _Atomic int ends = 0;
    sp_job *a = sp_job_create(ident, (void *)40);
    ck_assert_int_eq(sp_job_on_end(a, count_end, &ends), 0);
    ck_assert_int_eq(sp_job_on_end(NULL, count_end, &ends), SP_EINVAL);
    ck_assert_int_eq(sp_job_on_end(a, NULL, NULL), SP_EINVAL);
    /* unstarted: refused as a dependency unless promised */
    sp_job *b = sp_job_createv(add_two, NULL, NULL, 0, NULL);
    sp_dep d = {a, NULL};
    ck_assert_int_eq(sp_job_schedule(p, 0, b, 1, &d), SP_ESTATE);
    ck_assert_int_eq(sp_job_promise(a), 0);
    sp_job_set_flags(a, 0);   /* keeps the promise */
    ck_assert_int_eq(sp_job_schedule(p, 0, b, 1, &d), 0);
    ck_assert_int_eq(sp_job_state(b), SP_JOB_CREATED);
    ck_assert_int_eq(sp_job_start(p, 0, a), 0);
    ck_assert_ptr_eq(sp_job_wait(b), (void *)42);
    ck_assert_int_eq(atomic_load(&ends), 1);
    ck_assert_int_eq(sp_job_on_end(a, count_end, &ends), SP_EBUSY);
    ck_assert_int_eq(sp_job_promise(a), SP_EBUSY);
    /* a cancelled job ends too; a job freed unstarted runs it at free */
    sp_job *c = sp_job_create(ident, NULL);
    ck_assert_int_eq(sp_job_on_end(c, count_end, &ends), 0);
    ck_assert_int_eq(sp_job_cancel(c), 0);
    ck_assert_int_eq(atomic_load(&ends), 2);
    sp_job *e = sp_job_create(ident, NULL);
    ck_assert_int_eq(sp_job_on_end(e, count_end, &ends), 0);
    sp_job_release(e);
    ck_assert_int_eq(atomic_load(&ends), 3);
    sp_job_release(a);
    sp_job_release(b);
    sp_job_release(c);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* A job that ends without running -- cancelled before it was started,
 * cancelled while queued, failed for a failed dependency -- has run its
 * end hooks before a joiner sees it ended: the hook below dawdles while
 * the main thread joins (it returned in between when the end state was
 * stored before the hooks ran). */
typedef struct {
    _Atomic int entered, left;
} slow_end_t;

static void slow_end(sp_job *j, void *ud)
{
    (void)j;
    slow_end_t *s = ud;
    atomic_store(&s->entered, 1);
    nap_ms(30);
    atomic_store(&s->left, 1);
}

static void *cancel_thread(void *arg)
{
    sp_job_cancel(arg);
    return NULL;
}

/* join j once its hook has begun: the join sees the hook ended */
static void join_after_hook(sp_job *j, slow_end_t *s, int want)
{
    ck_assert(wait_for(&s->entered, 1));
    ck_assert_int_eq(sp_job_join(j, NULL), want);
    ck_assert_int_eq(atomic_load(&s->left), 1);
    ck_assert(sp_job_finished(j));
}

START_TEST(test_end_hooks_before_join)
{
    /* never started, cancelled from another thread */
    slow_end_t s1 = {0};
    sp_job *a = sp_job_create(ident, NULL);
    ck_assert_int_eq(sp_job_on_end(a, slow_end, &s1), 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, cancel_thread, a), 0);
    join_after_hook(a, &s1, SP_ECANCELED);
    pthread_join(t, NULL);
    ck_assert_int_eq(sp_job_state(a), SP_JOB_CANCELLED);
    sp_job_release(a);

    /* queued behind a job that holds the only worker */
    sp_pool *p = gated_pool();
    ck_assert_ptr_nonnull(p);
    _Atomic int stop = 0;
    sp_job *h = sp_job_create(ro_gate, &stop);
    ck_assert_int_eq(sp_job_start(p, 0, h), 0);
    slow_end_t s2 = {0};
    sp_job *q = sp_job_create(ident, NULL);
    ck_assert_int_eq(sp_job_on_end(q, slow_end, &s2), 0);
    ck_assert_int_eq(sp_job_start(p, 0, q), 0);
    ck_assert_int_eq(pthread_create(&t, NULL, cancel_thread, q), 0);
    join_after_hook(q, &s2, SP_ECANCELED);
    pthread_join(t, NULL);
    atomic_store(&stop, 1);
    ck_assert_ptr_null(sp_job_wait(h));

    /* scheduled on a dependency that fails: ended by the worker */
    slow_end_t s3 = {0};
    sp_job *dep = sp_job_create(failing, (void *)3);
    ck_assert_int_eq(sp_job_promise(dep), 0);
    sp_job *b = sp_job_createv(add_two, NULL, NULL, 0, NULL);
    ck_assert_int_eq(sp_job_on_end(b, slow_end, &s3), 0);
    sp_dep d = {dep, NULL};
    ck_assert_int_eq(sp_job_schedule(p, 0, b, 1, &d), 0);
    ck_assert_int_eq(sp_job_start(p, 0, dep), 0);
    join_after_hook(b, &s3, SP_EFAILED);
    ck_assert_int_eq(sp_job_state(b), SP_JOB_FAILED);
    ck_assert_ptr_nonnull(strstr(sp_job_error(b), "bad value 3"));
    sp_job_release(h);
    sp_job_release(q);
    sp_job_release(dep);
    sp_job_release(b);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* a pool fed by its own idle workers (sp_pool_set_spin_us,
 * sp_pool_set_poll_hook): the hook "receives" work from an outside
 * counter and starts jobs; a plain thread waiting for a detached job
 * completes it from the hook */
typedef struct {
    sp_pool *pool;
    _Atomic int to_start;   /* jobs the outside asks for */
    _Atomic int started, ran;
    _Atomic int rounds, stops;
    _Atomic int in_hook;    /* never re-entered on one thread */
    sp_job *_Atomic pending; /* a detached job the hook completes */
} feed_t;

static void *feed_job(void *arg)
{
    atomic_fetch_add(&((feed_t *)arg)->ran, 1);
    return NULL;
}

static __thread int hook_depth;
static int feed_hook(void *ud, int stop)
{
    feed_t *f = ud;
    ck_assert_ptr_null(sp_job_current());   /* outside any job */
    ck_assert_int_eq(hook_depth, 0);
    if (stop) {
        atomic_fetch_add(&f->stops, 1);
        return 0;
    }
    hook_depth++;
    atomic_fetch_add(&f->rounds, 1);
    int did = 0;
    if (atomic_load(&f->to_start) > 0) {
        atomic_fetch_sub(&f->to_start, 1);
        sp_job *j = sp_job_create(feed_job, f);
        ck_assert_int_eq(sp_job_start(f->pool, 0, j), 0);
        sp_job_release(j);
        atomic_fetch_add(&f->started, 1);
        did = 1;
    }
    sp_job *d = atomic_exchange(&f->pending, NULL);
    if (d) {
        ck_assert_int_eq(sp_job_complete(d, SP_JOB_DONE, (void *)0x42, NULL), 0);
        did = 1;
    }
    hook_depth--;
    return did;
}

static void *detach_only(void *arg)
{
    (void)arg;
    ck_assert_int_eq(sp_job_detach(NULL, NULL), 0);
    return NULL;
}

START_TEST(test_poll_hook)
{
    ck_assert_int_eq(sp_pool_set_spin_us(NULL, 10), SP_EINVAL);
    ck_assert_int_eq(sp_pool_set_poll_hook(NULL, feed_hook, NULL), SP_EINVAL);
    feed_t f = {0};
    sp_pool *p = f.pool = sp_pool_create(1);
    ck_assert_int_eq(sp_pool_set_spin_us(p, 2000000), SP_EINVAL);
    ck_assert_int_eq(sp_pool_set_spin_us(p, 200000), 0);
    ck_assert_int_eq(sp_pool_set_poll_hook(p, feed_hook, &f), 0);
    /* the idle worker polls: work asked for from outside runs, started
     * by the worker's own polling (no thread hands it over). A job
     * started and not waited for wakes the worker first. */
    atomic_store(&f.to_start, 50);
    sp_job *kick = sp_job_create(ident, NULL);
    ck_assert_int_eq(sp_job_start(p, 0, kick), 0);
    sp_flush_wakes();
    sp_job_release(kick);
    for (int i = 0; i < 100000 && atomic_load(&f.ran) < 50; i++) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    ck_assert_int_eq(atomic_load(&f.ran), 50);
    /* a plain thread waiting for a detached job polls with the hook */
    sp_job *d = sp_job_create(detach_only, NULL);
    ck_assert_int_eq(sp_job_start(p, 0, d), 0);
    while (sp_job_state(d) != SP_JOB_RUNNING || !sp__jside_peek(d) ||
           !atomic_load(&sp__jside_peek(d)->det))
        sched_yield();
    atomic_store(&f.pending, d);
    void *r = NULL;
    ck_assert_int_eq(sp_job_join(d, &r), 0);
    ck_assert_ptr_eq(r, (void *)0x42);
    ck_assert_int_gt(atomic_load(&f.stops), 0);   /* the joiner's, at least */
    sp_job_release(d);
    ck_assert_int_eq(sp_pool_set_poll_hook(p, NULL, NULL), 0);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* a job's name changes while it runs and reads it (a script's nameJob on
 * a running job): every read is a whole name, never freed memory */
static _Atomic int rename_stop;
static void *read_own_name(void *arg)
{
    (void)arg;
    size_t bad = 0;
    while (!atomic_load(&rename_stop)) {
        const char *n = sp_job_name(sp_job_current());
        if (strncmp(n, "name-", 5) != 0 && strcmp(n, "first") != 0)
            bad++;
        sp_yield();
    }
    return (void *)bad;
}

START_TEST(test_rename_running)
{
    sp_pool *p = sp_pool_create(1);
    sp_job *j = sp_job_create(read_own_name, NULL);
    sp_job_set_name(j, "first");
    atomic_store(&rename_stop, 0);
    ck_assert_int_eq(sp_job_start(p, 0, j), 0);
    char buf[96];
    for (int i = 0; i < 2000; i++) {
        snprintf(buf, sizeof buf, "name-%d-%s", i, i % 2 ? "a long one, longer than the inline room of sixty-four bytes" : "short");
        ck_assert_int_eq(sp_job_set_name(j, buf), 0);
    }
    ck_assert_str_eq(sp_job_name(j), buf);
    atomic_store(&rename_stop, 1);
    ck_assert_ptr_eq(sp_job_wait(j), NULL);
    sp_job_release(j);
    sp_pool_close(p, 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("job");
    TCase *tc = tcase_create("basic");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_create_start_wait);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_current);
    tcase_add_test(tc, test_priorities_order);
    tcase_add_test(tc, test_inbox_not_starved);
    tcase_add_test(tc, test_many_jobs);
    tcase_add_test(tc, test_fire_and_forget);
    tcase_add_test(tc, test_spawn);
    tcase_add_test(tc, test_spawn_bad_arguments);
    tcase_add_test(tc, test_spawn_counted);
    tcase_add_test(tc, test_spawn_forget_wakes);
    tcase_add_test(tc, test_refcounts_and_cleanup);
    tcase_add_test(tc, test_unstarted_hold);
    tcase_add_test(tc, test_plain_thread_pool_refs);
    tcase_add_test(tc, test_join_watch);
    tcase_add_test(tc, test_end_races_join);
    tcase_add_test(tc, test_end_hooks);
    tcase_add_test(tc, test_waitq_fibers_and_threads);
    suite_add_tcase(s, tc);
    tc = tcase_create("wait");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_wait_in_job_one_worker);
    tcase_add_test(tc, test_fib_1_worker);
    tcase_add_test(tc, test_fib_2_workers);
    tcase_add_test(tc, test_owner_bias_contended);
    tcase_add_test(tc, test_fib_pseudo);
    tcase_add_test(tc, test_spawn_in_job);
    tcase_add_test(tc, test_pseudo_pool);
    tcase_add_test(tc, test_pseudo_wait_before_start);
    tcase_add_test(tc, test_100k_suspended);
    suite_add_tcase(s, tc);
    tc = tcase_create("cancel_fail_close");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_cancel_queued);
    tcase_add_test(tc, test_cancel_queued_surely);
    tcase_add_test(tc, test_spawn_cancel);
    tcase_add_test(tc, test_cancel_waiting_job);
    tcase_add_test(tc, test_fail_seen_by_waiter);
    tcase_add_test(tc, test_stack_overflow_seen_by_waiter);
    tcase_add_test(tc, test_close_with_jobs_in_flight);
    tcase_add_test(tc, test_closed_pool_refuses);
    tcase_add_test(tc, test_slab_stacks);
    tcase_add_test(tc, test_run_on);
    tcase_add_test(tc, test_run_on_deep_cleanup);
    tcase_add_test(tc, test_poll_flag_stable);
    tcase_add_test(tc, test_deferred_cancel_in_wait);
    tcase_add_test(tc, test_job_priority);
    tcase_add_test(tc, test_flush_wakes);
    tcase_add_test(tc, test_lend_not_alone);
    tcase_add_test(tc, test_lend_races);
    tcase_add_test(tc, test_rename_running);
    tcase_add_test(tc, test_wait_interruptible);
    tcase_add_test(tc, test_detach_complete);
    tcase_add_test(tc, test_detach_cancel);
    tcase_add_test(tc, test_detach_waker);
    tcase_add_test(tc, test_on_end_promise);
    tcase_add_test(tc, test_end_hooks_before_join);
    tcase_add_test(tc, test_poll_hook);
    tcase_add_test(tc, test_thread_start_counts);
    tcase_add_test(tc, test_start_claim_races);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(suite)
