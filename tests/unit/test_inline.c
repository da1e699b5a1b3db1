/* test_inline.c - a plain thread that waits for a job queued alone on a
 * parked worker runs it itself, standing in for that worker (worker.c):
 * results and counters; never more jobs at once than workers while
 * others push; cancel, priorities, a job that suspends, stack overflow,
 * close and resize while a job runs on its waiter. Behaviour only: no
 * timing. Whether a given job runs on its waiter depends on timing (the
 * worker must be asleep), so tests that need one to do so retry until
 * one did. */
#include "internal.h"

#include <check.h>
#include "check_main.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef SP_TSAN
enum { N_RESULTS = 2000, N_PUSH = 100 };
#else
enum { N_RESULTS = 10000, N_PUSH = 400 };
#endif

static sp_pool *pool1(void)
{
    sp_pool *p = sp_pool_create(1);
    ck_assert_ptr_nonnull(p);
    nap_ms(5); /* let the worker go to sleep */
    return p;
}

/* ---- job bodies ---- */

static void *twice(void *arg)
{
    return (void *)((intptr_t)arg * 2);
}

/* A job that knows where it runs: the thread that ran it, the last time
 * it was entered. */
typedef struct {
    pthread_t waiter;      /* the thread that waits for it */
    _Atomic int on_waiter; /* it started on the waiter's thread */
    _Atomic int started;
    _Atomic int *stop;     /* spin (with safe points) until set */
    int yielding;          /* sp_yield in the loop, else sp_checkpoint */
    intptr_t result;
} spin_t;

static void *spinner(void *arg)
{
    spin_t *s = arg;
    if (pthread_equal(pthread_self(), s->waiter))
        atomic_store(&s->on_waiter, 1);
    atomic_store(&s->started, 1);
    for (long i = 0; i < 600000000L && !atomic_load(s->stop); i++) {
        if (s->yielding)
            sp_yield();
        else
            sp_checkpoint();
    }
    return atomic_load(s->stop) ? (void *)s->result : NULL;
}

/* ---- results and counters ---- */

static void start_wait_many(sp_pool *p, int n)
{
    for (int i = 0; i < n; i++) {
        sp_job *j = sp_job_create(twice, (void *)(intptr_t)i);
        ck_assert_int_eq(sp_job_start(p, 0, j), 0);
        void *r = (void *)1;
        ck_assert_int_eq(sp_job_join(j, &r), 0);
        ck_assert_ptr_eq(r, (void *)((intptr_t)i * 2));
        ck_assert_int_eq(sp_job_state(j), SP_JOB_DONE);
        sp_job_release(j);
    }
}

START_TEST(test_results_from_main)
{
    sp_pool *p = pool1();
    start_wait_many(p, N_RESULTS);
    sp_stats st;
    sp_pool_stats(p, &st);
    ck_assert_uint_eq(st.jobs_started, N_RESULTS);
    ck_assert_uint_eq(st.jobs_finished, N_RESULTS);
    ck_assert_uint_gt(sp__pool_inline_runs(p), 0);
    ck_assert_uint_le(sp__pool_inline_runs(p), N_RESULTS);
    /* the public counter is the same sum (nothing runs now) */
    ck_assert_uint_eq(st.inline_runs, sp__pool_inline_runs(p));
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

static void *results_thread(void *arg)
{
    start_wait_many(arg, N_RESULTS / 4);
    return NULL;
}

/* Plain threads that come and go (their per-thread record, owed wake
 * and signal stack are dropped at exit), several pools. */
START_TEST(test_results_from_threads)
{
    sp_pool *p = pool1(), *q = sp_pool_create(2);
    for (int round = 0; round < 3; round++) {
        pthread_t t[2];
        pthread_create(&t[0], NULL, results_thread, p);
        pthread_create(&t[1], NULL, results_thread, q);
        pthread_join(t[0], NULL);
        pthread_join(t[1], NULL);
    }
    start_wait_many(p, 10);
    sp_stats st;
    sp_pool_stats(p, &st);
    ck_assert_uint_eq(st.jobs_finished, 3 * (N_RESULTS / 4) + 10);
    sp_pool_stats(q, &st);
    ck_assert_uint_eq(st.jobs_finished, 3 * (N_RESULTS / 4));
    ck_assert_uint_gt(sp__pool_inline_runs(p) + sp__pool_inline_runs(q), 0);
    ck_assert_int_eq(sp_pool_close(q, 1), 0);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

static void *start_only(void *arg)
{
    sp_job *j = sp_job_create(twice, (void *)21);
    sp_job_start(arg, 0, j);
    sp_job_release(j); /* its wake may be owed: settled at thread exit */
    return NULL;
}

/* A plain thread that starts a job and goes on with something else
 * than waiting: the job still runs (the monitor wakes the worker). */
START_TEST(test_started_not_waited)
{
    sp_pool *p = pool1();
    for (int i = 0; i < 50; i++) {
        sp_job *j = sp_job_create(twice, (void *)(intptr_t)i);
        sp_job_retain(j);
        ck_assert_int_eq(sp_job_start(p, 0, j), 0);
        for (int k = 0; k < 60000 && !sp_job_finished(j); k++)
            nap_ms(1); /* never a runtime call */
        ck_assert(sp_job_finished(j));
        ck_assert_ptr_eq(sp_job_result(j), (void *)((intptr_t)i * 2));
        sp_job_release(j);
        sp_job_release(j);
    }
    pthread_t t;
    pthread_create(&t, NULL, start_only, p);
    pthread_join(t, NULL);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* A thread that stood in leaves the worker OWED: its debt and the pool
 * reference stay, so its next start puts the wake off with no locked
 * instruction. The worker sleeps on; once the thread goes on with
 * something else the monitor puts it back to PARKED without waking it;
 * the thread's next job is stood in again; a job another thread starts
 * meanwhile runs. */
/* 1 once a job ran on its waiter and left worker w OWED (retried: the
 * worker may be awake, or a monitor tick may come between) */
static int stood_in_left_owed(sp_pool *p, sp__worker *w)
{
    for (int tries = 0; tries < 200; tries++) {
        uint64_t r0 = sp__pool_inline_runs(p);
        start_wait_many(p, 1);
        if (sp__pool_inline_runs(p) == r0 + 1 &&
            atomic_load(&w->idle) == SP__W_OWED)
            return 1;
        nap_ms(2);
    }
    return 0;
}

START_TEST(test_left_owed)
{
    sp_pool *p = pool1();
    sp__worker *w = p->workers[0];
    ck_assert_msg(stood_in_left_owed(p, w),
                  "no job ran on its waiter leaving the worker OWED");
    sp_stats a, b;
    sp_pool_stats(p, &a);
    for (int k = 0; k < 5000 && atomic_load(&w->idle) == SP__W_OWED; k++)
        nap_ms(1); /* never a runtime call: only the monitor acts */
    ck_assert_int_eq(atomic_load(&w->idle), SP__W_PARKED);
    sp_pool_stats(p, &b);
    ck_assert_uint_eq(b.wakes, a.wakes); /* paid without a wake */
    /* stood in again (a PARKED worker, the record still held) */
    ck_assert(stood_in_left_owed(p, w));
    /* another thread's job on the OWED worker runs: that thread owes
     * the wake too and pays it at its exit */
    sp_pool_stats(p, &a);
    pthread_t t;
    pthread_create(&t, NULL, start_only, p);
    pthread_join(t, NULL);
    for (int k = 0; k < 5000; k++) {
        sp_pool_stats(p, &b);
        if (b.jobs_finished == a.jobs_finished + 1)
            break;
        nap_ms(1);
    }
    ck_assert_uint_eq(b.jobs_finished, a.jobs_finished + 1);
    start_wait_many(p, 10);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- one job at a time ---- */

static _Atomic int g_running, g_max;

static void *counted(void *arg)
{
    for (int i = 0; i < 20; i++) {
        int c = atomic_fetch_add(&g_running, 1) + 1;
        for (int m = atomic_load(&g_max); c > m;)
            if (atomic_compare_exchange_weak(&g_max, &m, c))
                break;
        for (int k = 0; k < 200; k++)
            __builtin_ia32_pause();
        atomic_fetch_sub(&g_running, 1);
        if (i % 4 == 3)
            sp_yield();
        else
            sp_checkpoint();
    }
    return arg;
}

static void *counted_waiter(void *arg)
{
    sp_pool *p = arg;
    for (int i = 0; i < N_PUSH; i++) {
        sp_job *j = sp_job_create(counted, (void *)(intptr_t)(i + 1));
        ck_assert_int_eq(sp_job_start(p, 0, j), 0);
        void *r = NULL;
        ck_assert_int_eq(sp_job_join(j, &r), 0);
        ck_assert_ptr_eq(r, (void *)(intptr_t)(i + 1));
        sp_job_release(j);
    }
    return NULL;
}

static void *counted_pusher(void *arg)
{
    sp_pool *p = arg;
    sp_job **js = malloc(N_PUSH * sizeof *js);
    for (int i = 0; i < N_PUSH; i++) {
        js[i] = sp_job_create(counted, (void *)(intptr_t)(i + 7));
        ck_assert_int_eq(sp_job_start(p, i % 3, js[i]), 0);
        if (i % 16 == 15)
            nap_ms(1); /* let the waiter borrow the worker now and then */
    }
    for (int i = 0; i < N_PUSH; i++) {
        ck_assert_ptr_eq(sp_job_wait(js[i]), (void *)(intptr_t)(i + 7));
        sp_job_release(js[i]);
    }
    free(js);
    return NULL;
}

START_TEST(test_one_job_at_a_time)
{
    /* no time slicing: fewer flags left unhonoured by a thread the
     * loaded machine deschedules, so fewer spares (see below) */
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.flags = SP_POOL_NOPREEMPT;
    sp_pool *p = sp_pool_create_opts(&o);
    nap_ms(5);
    atomic_store(&g_running, 0);
    atomic_store(&g_max, 0);
    pthread_t w[2], u[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&w[i], NULL, counted_waiter, p);
    for (int i = 0; i < 2; i++)
        pthread_create(&u[i], NULL, counted_pusher, p);
    for (int i = 0; i < 2; i++) {
        pthread_join(w[i], NULL);
        pthread_join(u[i], NULL);
    }
    sp_stats st;
    sp_pool_stats(p, &st);
    ck_assert_uint_eq(st.jobs_finished, 4 * N_PUSH);
    /* a worker descheduled for a few ticks while its job is flagged is
     * replaced by a spare (KLT handoff, by design: two threads then);
     * exact only when none was started */
    ck_assert_msg(atomic_load(&g_max) == 1 || st.spares > 0,
                  "%d jobs at once, no spare, %llu inline", atomic_load(&g_max),
                  (unsigned long long)sp__pool_inline_runs(p));
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- cancel ---- */

typedef struct {
    sp_pool *p;
    spin_t *s;
    sp_job *j;
    int rc;
    _Atomic int joined;
} waiter_t;

/* The waiter: start the job, then wait for it (in its own thread, so
 * that the test's thread can act on the job meanwhile). */
static void *waiter_main(void *arg)
{
    waiter_t *w = arg;
    w->s->waiter = pthread_self();
    sp_job_start(w->p, 0, w->j);
    w->rc = sp_job_join(w->j, NULL);
    atomic_store(&w->joined, 1);
    return NULL;
}

/* Start spinner s as a job waited for by a new thread; 1 if it runs on
 * that thread. The job is left running. */
static int spin_on_waiter(sp_pool *p, spin_t *s, waiter_t *w, pthread_t *t)
{
    memset(w, 0, sizeof *w);
    w->p = p;
    w->s = s;
    w->j = sp_job_create(spinner, s);
    sp_job_retain(w->j); /* the waiter's join and ours */
    pthread_create(t, NULL, waiter_main, w);
    ck_assert(wait_for(&s->started, 1));
    return atomic_load(&s->on_waiter);
}

static void end_waiter(waiter_t *w, pthread_t t)
{
    pthread_join(t, NULL);
    sp_job_release(w->j);
    sp_job_release(w->j);
}

START_TEST(test_cancel_inline)
{
    sp_pool *p = pool1();
    int inlined = 0;
    for (int yielding = 0; yielding < 2; yielding++) {
        for (int round = 0; round < 50 && inlined <= yielding; round++) {
            _Atomic int stop = 0;
            spin_t s = {.stop = &stop, .yielding = yielding};
            waiter_t w;
            pthread_t t;
            inlined += spin_on_waiter(p, &s, &w, &t);
            ck_assert_int_eq(sp_job_cancel(w.j), 1);
            ck_assert(wait_for(&w.joined, 1));
            ck_assert_int_eq(w.rc, SP_ECANCELED);
            ck_assert_int_eq(sp_job_state(w.j), SP_JOB_CANCELLED);
            end_waiter(&w, t);
            nap_ms(2);
        }
    }
    ck_assert_int_ge(inlined, 2);
    /* the pool still works */
    start_wait_many(p, 100);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- a job that suspends ---- */

static void *waits_for_child(void *arg)
{
    sp_job *c = sp_job_create(twice, arg);
    sp_job_start(sp_pool_current(), 0, c);
    void *r = NULL;
    int rc = sp_job_join(c, &r);
    sp_job_release(c);
    return rc == 0 ? (void *)((intptr_t)r + 1) : NULL;
}

static void *waits_for_arg(void *arg)
{
    return sp_job_wait(arg);
}

typedef struct {
    sp_pool *p;
    sp_job *j;
} starter_t;

static void *start_later(void *arg)
{
    starter_t *s = arg;
    nap_ms(3);
    sp_job_start(s->p, 0, s->j);
    return NULL;
}

START_TEST(test_inline_job_suspends)
{
    sp_pool *p = pool1();
    for (int i = 0; i < 200; i++) {
        sp_job *j = sp_job_create(waits_for_child, (void *)(intptr_t)i);
        sp_job_start(p, 0, j);
        ck_assert_ptr_eq(sp_job_wait(j), (void *)(intptr_t)(2 * i + 1));
        sp_job_release(j);
    }
    /* waits for a job that another thread starts later */
    for (int i = 0; i < 20; i++) {
        sp_job *g = sp_job_create(twice, (void *)(intptr_t)i);
        sp_job *j = sp_job_create(waits_for_arg, g);
        starter_t st = {p, g};
        pthread_t t;
        sp_job_start(p, 0, j);
        pthread_create(&t, NULL, start_later, &st);
        void *r = NULL;
        ck_assert_int_eq(sp_job_join(j, &r), 0);
        ck_assert_ptr_eq(r, (void *)(intptr_t)(2 * i));
        pthread_join(t, NULL);
        sp_job_release(j);
        sp_job_release(g);
        nap_ms(1);
    }
    ck_assert_uint_gt(sp__pool_inline_runs(p), 0);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- priorities: a job queued meanwhile gets the worker ---- */

static void *set_flag(void *arg)
{
    atomic_store((_Atomic int *)arg, 1);
    return NULL;
}

START_TEST(test_push_while_inline)
{
    sp_pool *p = pool1();
    int inlined = 0;
    for (int round = 0; round < 50 && inlined < 3; round++) {
        for (int prio = 0; prio <= SP_PRIO_MAX; prio += SP_PRIO_MAX) {
            _Atomic int stop = 0;
            spin_t s = {.stop = &stop, .result = 5};
            waiter_t w;
            pthread_t t;
            inlined += spin_on_waiter(p, &s, &w, &t);
            /* the spinner ends once this job ran: it must leave the
             * worker to it (run on its waiter: a yield request) */
            sp_job *h = sp_job_create(set_flag, &stop);
            ck_assert_int_eq(sp_job_start(p, prio, h), 0);
            ck_assert_int_eq(sp_job_join(h, NULL), 0);
            ck_assert(wait_for(&w.joined, 1));
            ck_assert_int_eq(w.rc, 0);
            ck_assert_ptr_eq(sp_job_result(w.j), (void *)5);
            sp_job_release(h);
            end_waiter(&w, t);
            nap_ms(2);
        }
    }
    ck_assert_int_ge(inlined, 1);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- failures ---- */

static int recurse(char *prev, int depth)
{
    volatile char buf[512];
    if (depth > (1 << 30))
        return 0;
    buf[0] = (char)depth;
    if (prev)
        buf[1] = prev[0];
    return recurse((char *)buf, depth + 1) + buf[1];
}

static void *overflow(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)recurse(NULL, 0);
}

static void *fails(void *arg)
{
    sp_job_fail("no %s", (const char *)arg);
    return NULL;
}

START_TEST(test_inline_failures)
{
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = 1;
    o.stack_size = 64 * 1024;
    sp_pool *p = sp_pool_create_opts(&o);
    sigset_t before, after;
    pthread_sigmask(SIG_BLOCK, NULL, &before);
    for (int round = 0; round < 5; round++) {
        nap_ms(2);
        sp_job *j = sp_job_create(overflow, NULL);
        sp_job_start(p, 0, j);
        ck_assert_int_eq(sp_job_join(j, NULL), SP_EFAILED);
        ck_assert_str_eq(sp_job_error(j), "stack overflow");
        sp_job_release(j);
        j = sp_job_create(fails, "luck");
        sp_job_start(p, 0, j);
        ck_assert_int_eq(sp_job_join(j, NULL), SP_EFAILED);
        ck_assert_str_eq(sp_job_error(j), "no luck");
        sp_job_release(j);
    }
    /* the waiter's signal mask is its own again */
    pthread_sigmask(SIG_BLOCK, NULL, &after);
    for (int sig = 1; sig < 32; sig++)
        ck_assert_int_eq(sigismember(&before, sig), sigismember(&after, sig));
    ck_assert_uint_gt(sp__pool_inline_runs(p), 0);
    start_wait_many(p, 10);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- close and resize while a job runs on its waiter ---- */

typedef struct {
    _Atomic int *flag;
    long ms;
} later_t;

static void *set_later(void *arg)
{
    later_t *l = arg;
    nap_ms(l->ms);
    atomic_store(l->flag, 1);
    return NULL;
}

START_TEST(test_close_while_inline)
{
    for (int wait = 0; wait < 2; wait++) {
        int inlined = 0;
        for (int round = 0; round < 30 && !inlined; round++) {
            sp_pool *p = pool1();
            _Atomic int stop = 0;
            spin_t s = {.stop = &stop, .result = 3};
            waiter_t w;
            pthread_t t, l;
            inlined = spin_on_waiter(p, &s, &w, &t);
            later_t lt = {&stop, 30};
            if (wait) /* close waits for the job: it must end by itself */
                pthread_create(&l, NULL, set_later, &lt);
            int left = sp_pool_close(p, wait);
            ck_assert(wait_for(&w.joined, 1));
            if (wait) {
                pthread_join(l, NULL);
                ck_assert_int_eq(left, 0);
                ck_assert_int_eq(w.rc, 0);
                ck_assert_ptr_eq(sp_job_result(w.j), (void *)3);
            } else {
                ck_assert_int_eq(left, 1);
                ck_assert_int_eq(w.rc, SP_ECANCELED);
            }
            end_waiter(&w, t);
        }
        ck_assert(inlined);
    }
}
END_TEST

static void *resizer(void *arg)
{
    sp_pool *p = arg;
    for (int i = 0; i < 40; i++) {
        ck_assert_int_eq(sp_pool_set_workers(p, 1 + i % 3), 0);
        nap_ms(1);
    }
    ck_assert_int_eq(sp_pool_set_workers(p, 1), 0);
    return NULL;
}

START_TEST(test_resize_while_inline)
{
    sp_pool *p = pool1();
    pthread_t r;
    pthread_create(&r, NULL, resizer, p);
    for (int i = 0; i < N_PUSH; i++) {
        sp_job *j = sp_job_create(counted, (void *)(intptr_t)(i + 1));
        ck_assert_int_eq(sp_job_start(p, 0, j), 0);
        ck_assert_ptr_eq(sp_job_wait(j), (void *)(intptr_t)(i + 1));
        sp_job_release(j);
        if (i % 8 == 0)
            nap_ms(1);
    }
    pthread_join(r, NULL);
    /* a job spinning on its waiter while the worker it stands in for is
     * retired: it is moved to a live worker and ends */
    int inlined = 0;
    for (int round = 0; round < 30 && !inlined; round++) {
        nap_ms(3);
        _Atomic int stop = 0;
        spin_t s = {.stop = &stop, .result = 4, .yielding = round % 2};
        waiter_t w;
        pthread_t t;
        inlined = spin_on_waiter(p, &s, &w, &t);
        ck_assert_int_eq(sp_pool_set_workers(p, 2), 0);
        ck_assert_int_eq(sp_pool_set_workers(p, 1), 0);
        atomic_store(&stop, 1);
        ck_assert(wait_for(&w.joined, 1));
        ck_assert_int_eq(w.rc, 0);
        ck_assert_ptr_eq(sp_job_result(w.j), (void *)4);
        end_waiter(&w, t);
    }
    start_wait_many(p, 50);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- what never runs on its waiter ---- */

START_TEST(test_not_inline)
{
    sp_pool *p = pool1();
    pthread_t self = pthread_self();
    /* bound and async jobs */
    for (int i = 0; i < 50; i++) {
        _Atomic int stop = 1;
        spin_t s = {.stop = &stop, .waiter = self, .result = 1};
        sp_job *j = sp_job_create(spinner, &s);
        if (i % 2)
            sp_job_set_flags(j, SP_JOB_ASYNC);
        ck_assert_int_eq(i % 2 ? sp_job_start(p, 0, j)
                               : sp_job_start_on(p, 0, 0, j), 0);
        ck_assert_int_eq(sp_job_join(j, NULL), 0);
        ck_assert_int_eq(atomic_load(&s.on_waiter), 0);
        sp_job_release(j);
        nap_ms(1);
    }
    ck_assert_uint_eq(sp__pool_inline_runs(p), 0);
    /* a job waiting from inside a job suspends (the worker runs the
     * other one): unchanged */
    sp_job *j = sp_job_create(waits_for_child, (void *)4);
    sp_job_start(p, 0, j);
    ck_assert_ptr_eq(sp_job_wait(j), (void *)9);
    sp_job_release(j);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("inline");
    TCase *tc = tcase_create("inline");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_results_from_main);
    tcase_add_test(tc, test_results_from_threads);
    tcase_add_test(tc, test_started_not_waited);
    tcase_add_test(tc, test_left_owed);
    tcase_add_test(tc, test_one_job_at_a_time);
    tcase_add_test(tc, test_cancel_inline);
    tcase_add_test(tc, test_inline_job_suspends);
    tcase_add_test(tc, test_push_while_inline);
    tcase_add_test(tc, test_inline_failures);
    tcase_add_test(tc, test_close_while_inline);
    tcase_add_test(tc, test_resize_while_inline);
    tcase_add_test(tc, test_not_inline);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(suite)
