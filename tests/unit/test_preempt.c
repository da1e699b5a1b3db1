/* test_preempt.c - time slices, priority preemption, cancel of running
 * jobs (polling and async), KLT handoff, a malloc/printf stress under
 * preemption, shutdown and process signals. Behaviour only: no timing
 * assertions beyond "it finishes". */
#include "internal.h"

#include <check.h>
#include "check_main.h"
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic int stop_all;

/* spins, reaching a safe point in every iteration */
static void *spin_polling(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_all))
        sp_checkpoint();
    return NULL;
}

/* spins and never reaches a safe point */
static void *spin_pure(void *arg)
{
    volatile _Atomic int *stop = arg ? arg : &stop_all;
    unsigned long x = 0;
    while (!atomic_load(stop))
        x++;
    return (void *)x;
}

static void *mark(void *arg)
{
    atomic_store((_Atomic int *)arg, 1);
    return NULL;
}

static sp_pool *pool_1(unsigned slice_us)
{
    atomic_store(&stop_all, 0); /* CK_FORK=no runs cases in one process */
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = 1;
    o.slice_us = slice_us;
    return sp_pool_create_opts(&o);
}

static sp_job *start(sp_pool *p, int prio, sp_job_fn fn, void *arg,
                     unsigned flags)
{
    sp_job *j = sp_job_create(fn, arg);
    sp_job_set_flags(j, flags);
    ck_assert_int_eq(sp_job_start(p, prio, j), 0);
    return j;
}

static void finish(sp_pool *p, sp_job **js, int n)
{
    atomic_store(&stop_all, 1);
    for (int i = 0; i < n; i++) {
        sp_job_wait(js[i]);
        sp_job_release(js[i]);
    }
    sp_pool_close(p, 1);
}

/* ---- time slices ---- */

static void slice_case(unsigned flags, sp_job_fn spinner)
{
    sp_pool *p = pool_1(2000);
    _Atomic int done = 0;
    sp_job *js[3];
    js[0] = start(p, 0, spinner, NULL, flags);
    js[1] = start(p, 0, spinner, NULL, flags);
    js[2] = start(p, 0, mark, &done, 0);
    sp_job_wait(js[2]); /* the short job finishes while both spin */
    ck_assert_int_eq(done, 1);
    ck_assert_int_eq(sp_job_finished(js[0]), 0);
    sp_stats st;
    sp_pool_stats(p, &st);
    ck_assert_uint_gt(st.preempt_slice, 0);
    finish(p, js, 3);
}

START_TEST(test_slice_polling) { slice_case(0, spin_polling); }
END_TEST
START_TEST(test_slice_async) { slice_case(SP_JOB_ASYNC, spin_pure); }
END_TEST

/* A spinner that starts on the stack of the job before it (run on,
 * worker.c): the slice's signal still switches it out there, and the
 * job after it runs on a fiber of its own meanwhile. */
static void *nothing(void *arg) { return arg; }

static void *gate_job(void *arg)
{
    while (!atomic_load((_Atomic int *)arg))
        __builtin_ia32_pause();
    return NULL;
}

static void slice_run_on_case(unsigned flags, sp_job_fn spinner)
{
    sp_pool *p = pool_1(2000);
    _Atomic int done = 0;
    _Atomic int open;
    sp_job *js[4];
    for (int round = 0; round < 3; round++) {
        atomic_store(&stop_all, 0);
        atomic_store(&done, 0);
        atomic_store(&open, 0);
        /* the worker waits until all four are queued (microseconds) */
        sp_job *g = start(p, 0, gate_job, &open, 0);
        js[0] = start(p, 0, nothing, NULL, 0);
        js[1] = start(p, 0, spinner, NULL, flags);
        js[2] = start(p, 0, nothing, NULL, 0);
        js[3] = start(p, 0, mark, &done, 0);
        atomic_store(&open, 1);
        sp_job_wait(js[3]);
        sp_job_release(g);
        ck_assert_int_eq(done, 1);
        ck_assert_int_eq(sp_job_finished(js[1]), 0);
        atomic_store(&stop_all, 1);
        for (int i = 0; i < 4; i++) {
            ck_assert_int_eq(sp_job_join(js[i], NULL), 0);
            sp_job_release(js[i]);
        }
    }
    sp_stats st;
    sp_pool_stats(p, &st);
    ck_assert_uint_gt(st.preempt_slice, 0);
    sp_pool_close(p, 1);
}

START_TEST(test_slice_run_on_polling) { slice_run_on_case(0, spin_polling); }
END_TEST
START_TEST(test_slice_run_on_async) { slice_run_on_case(SP_JOB_ASYNC, spin_pure); }
END_TEST

/* ---- priority ---- */

static void prio_case(unsigned flags, sp_job_fn spinner)
{
    sp_pool *p = pool_1(1000000); /* slices far too long to matter */
    sp_job *js[2];
    js[0] = start(p, 1, spinner, NULL, flags);
    sp_stats st;
    do
        sp_pool_stats(p, &st);
    while (st.switches < 1);
    _Atomic int done = 0;
    js[1] = start(p, 9, mark, &done, 0);
    sp_job_wait(js[1]);
    ck_assert_int_eq(done, 1);
    ck_assert_int_eq(sp_job_finished(js[0]), 0);
    sp_pool_stats(p, &st);
    /* the high-priority job got through by preempting the spinner, or,
     * when the OS kept the worker's thread off a CPU past the monitor's
     * patience, on a spare thread that took the queue (KLT handoff) */
    ck_assert_uint_ge(st.preempt_prio + st.spares, 1);
    finish(p, js, 2);
}

START_TEST(test_prio_polling) { prio_case(0, spin_polling); }
END_TEST
START_TEST(test_prio_async) { prio_case(SP_JOB_ASYNC, spin_pure); }
END_TEST

/* ---- cancel of running jobs ---- */

static void cancel_case(unsigned flags, sp_job_fn spinner)
{
    sp_pool *p = pool_1(0);
    sp_job *j = start(p, 0, spinner, NULL, flags);
    sp_stats st;
    do
        sp_pool_stats(p, &st);
    while (st.switches < 1);
    ck_assert_int_eq(sp_job_cancel(j), 1); /* running: requested */
    ck_assert_int_eq(sp_job_join(j, NULL), SP_ECANCELED);
    ck_assert_int_eq(sp_job_state(j), SP_JOB_CANCELLED);
    sp_job_release(j);
    /* the worker is free again */
    _Atomic int done = 0;
    sp_job *m = start(p, 0, mark, &done, 0);
    sp_job_wait(m);
    ck_assert_int_eq(done, 1);
    sp_job_release(m);
    sp_pool_stats(p, &st);
    ck_assert_uint_eq(st.jobs_cancelled, 1);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}

START_TEST(test_cancel_running_polling) { cancel_case(0, spin_polling); }
END_TEST
START_TEST(test_cancel_running_async) { cancel_case(SP_JOB_ASYNC, spin_pure); }
END_TEST

static void *cooperative(void *arg)
{
    (void)arg;
    while (!sp_job_cancelled())
        if (sp_checkpoint() == SP_ECANCELED)
            break;
    return (void *)77; /* finishes cleanly */
}

START_TEST(test_cancel_deferred)
{
    sp_pool *p = pool_1(0);
    sp_job *j = start(p, 0, cooperative, NULL, SP_JOB_DEFER_CANCEL);
    sp_stats st;
    do
        sp_pool_stats(p, &st);
    while (st.switches < 1);
    ck_assert_int_eq(sp_job_cancel(j), 1);
    void *r = NULL;
    ck_assert_int_eq(sp_job_join(j, &r), 0);
    ck_assert_ptr_eq(r, (void *)77);
    sp_job_release(j);
    sp_pool_close(p, 1);
}
END_TEST

/* ---- a stuck native job does not stop the others (KLT handoff) ---- */

START_TEST(test_stuck_job_handoff)
{
    sp_pool *p = pool_1(2000);
    _Atomic int stop = 0, done = 0;
    sp_job *s = start(p, 0, spin_pure, (void *)&stop, 0); /* not async */
    sp_stats st;
    do
        sp_pool_stats(p, &st);
    while (st.switches < 1);
    sp_job *m = start(p, 0, mark, &done, 0);
    sp_job_wait(m);
    ck_assert_int_eq(done, 1);
    ck_assert_int_eq(sp_job_finished(s), 0);
    sp_pool_stats(p, &st);
    ck_assert_uint_ge(st.spares, 1);
    atomic_store(&stop, 1);
    sp_job_wait(s);
    ck_assert_int_eq(sp_job_state(s), SP_JOB_DONE);
    sp_job_release(s);
    sp_job_release(m);
    /* the pool still works after the stuck thread left */
    done = 0;
    m = start(p, 0, mark, &done, 0);
    sp_job_wait(m);
    ck_assert_int_eq(done, 1);
    sp_job_release(m);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- stress: preemption while jobs use malloc and stdio ---- */

static void *libc_worker(void *arg)
{
    long n = (long)(intptr_t)arg, sum = 0;
    for (long i = 0; i < n; i++) {
        size_t len = 16 + (size_t)(i % 200);
        char *b = malloc(len);
        snprintf(b, len, "%ld:%ld", n, i);
        sum += (long)strlen(b);
        free(b);
        if (i % 64 == 0) {
            FILE *f = fopen("/dev/null", "w");
            fprintf(f, "%s %ld\n", "x", i);
            fclose(f);
        }
    }
    return (void *)(intptr_t)sum;
}

START_TEST(test_stress_libc_under_preemption)
{
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = 2;
    o.slice_us = 1000;
    sp_pool *p = sp_pool_create_opts(&o);
    enum { N = 24 };
    sp_job *spin[4], *js[N];
    _Atomic int stop = 0;
    /* async spinners draw signals; at the lowest priority, since a job
     * of lower priority than an endless one would starve (documented) */
    for (int i = 0; i < 4; i++)
        spin[i] = start(p, 0, spin_pure, (void *)&stop, SP_JOB_ASYNC);
    for (int i = 0; i < N; i++)
        js[i] = start(p, i % 3, libc_worker, (void *)(intptr_t)40000, 0);
    for (int i = 0; i < N; i++) {
        void *r = sp_job_wait(js[i]);
        long want = 0;
        for (long k = 0; k < 40000; k++) {
            char b[64];
            snprintf(b, sizeof b, "%ld:%ld", 40000L, k);
            size_t cap = 16 + (size_t)(k % 200) - 1;
            want += (long)(strlen(b) < cap ? strlen(b) : cap);
        }
        ck_assert_int_eq((long)(intptr_t)r, want);
        sp_job_release(js[i]);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++) {
        sp_job_wait(spin[i]);
        sp_job_release(spin[i]);
    }
    sp_stats st;
    sp_pool_stats(p, &st);
    ck_assert_uint_gt(st.preempt_slice + st.preempt_prio, 0);
    if (getenv("SP_TEST_VERBOSE"))
        fprintf(stderr, "slice %lu prio %lu async %lu signals %lu spares %lu\n",
                (unsigned long)st.preempt_slice, (unsigned long)st.preempt_prio,
                (unsigned long)st.preempt_async, (unsigned long)st.signals_sent,
                (unsigned long)st.spares);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- shutdown and signals ---- */

START_TEST(test_shutdown_with_jobs_in_flight)
{
    sp_pool *a = sp_pool_create(1), *b = sp_pool_create(2);
    sp_job *js[6];
    for (int i = 0; i < 3; i++) {
        js[i] = start(a, 0, spin_polling, NULL, 0);
        js[3 + i] = start(b, 0, spin_polling, NULL, 0);
    }
    sp_shutdown();
    ck_assert(sp_shutting_down());
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(sp_job_join(js[i], NULL), SP_ECANCELED);
        sp_job_release(js[i]);
    }
    sp_job *late = sp_job_create(mark, NULL);
    ck_assert_int_eq(sp_job_start(a, 0, late), SP_ECLOSED);
    sp_job_release(late);
    ck_assert_ptr_null(sp_pool_create(1));
    ck_assert_int_ge(sp_pool_close(a, 0), 0);
    ck_assert_int_ge(sp_pool_close(b, 0), 0);
}
END_TEST

/* still referenced when the process exits (volatile: kept by the compiler) */
static sp_job *volatile exiting[4];

START_TEST(test_sigint_orderly_exit)
{
    ck_assert_int_eq(sp_signals_default(), 0);
    sp_pool *p = sp_pool_create(2);
    for (int i = 0; i < 4; i++)
        exiting[i] = start(p, 0, spin_polling, NULL, 0);
    kill(getpid(), SIGINT);
    sleep(60); /* the signal thread exits the process with 130 */
}
END_TEST

static _Atomic int got_signal;
/* set by the test, read by the signal thread: kill() and sigwait() are
 * no synchronization TSan (or C11) knows of, so an atomic */
static sp_job *_Atomic fg;

static void my_policy(int sig, int count, void *ud)
{
    (void)ud;
    atomic_store(&got_signal, sig * 100 + count);
    sp_job_cancel(atomic_load(&fg)); /* only the foreground evaluation */
}

START_TEST(test_sigint_custom_policy)
{
    ck_assert_int_eq(sp_signals_install(my_policy, NULL), 0);
    sp_pool *p = sp_pool_create(1);
    atomic_store(&fg, start(p, 0, spin_polling, NULL, 0));
    kill(getpid(), SIGINT);
    ck_assert_int_eq(sp_job_join(fg, NULL), SP_ECANCELED);
    ck_assert_int_eq(got_signal, SIGINT * 100 + 1);
    ck_assert(!sp_shutting_down());
    sp_job_release(fg);
    _Atomic int done = 0;
    sp_job *m = start(p, 0, mark, &done, 0);
    sp_job_wait(m);
    ck_assert_int_eq(done, 1);
    sp_job_release(m);
    sp_pool_close(p, 1);
}
END_TEST

/* TSan delivers a signal only when the thread next calls a function it
 * intercepts: a pure-computation SP_JOB_ASYNC job is never switched by
 * the signal there, so the async-preemption tests (and the libc stress,
 * whose point is signals landing inside libc) are left out under TSan,
 * as in test_trace. The polling variants run. */
#ifdef SP_TSAN
#define ASYNC_TESTS 0
#else
#define ASYNC_TESTS 1
#endif

static Suite *suite(void)
{
    Suite *s = suite_create("preempt");
    TCase *tc = tcase_create("slice_prio");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_slice_polling);
    tcase_add_test(tc, test_slice_run_on_polling);
    if (ASYNC_TESTS) {
        tcase_add_test(tc, test_slice_async);
        tcase_add_test(tc, test_slice_run_on_async);
    }
    tcase_add_test(tc, test_prio_polling);
    if (ASYNC_TESTS)
        tcase_add_test(tc, test_prio_async);
    suite_add_tcase(s, tc);
    tc = tcase_create("cancel");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_cancel_running_polling);
    if (ASYNC_TESTS)
        tcase_add_test(tc, test_cancel_running_async);
    tcase_add_test(tc, test_cancel_deferred);
    tcase_add_test(tc, test_stuck_job_handoff);
    suite_add_tcase(s, tc);
    if (ASYNC_TESTS) {
        tc = tcase_create("stress");
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, test_stress_libc_under_preemption);
        suite_add_tcase(s, tc);
    }
    tc = tcase_create("signals");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_shutdown_with_jobs_in_flight);
    tcase_add_exit_test(tc, test_sigint_orderly_exit, 128 + SIGINT);
    tcase_add_test(tc, test_sigint_custom_policy);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(suite)
