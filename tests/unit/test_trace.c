/* test_trace.c - pool counters after known workloads, and the scheduling
 * trace: real workloads (jobs that yield, wait on each other, are
 * preempted, cancelled, fail) traced with sp_pool_trace and with
 * SPINDLE_TRACE, each file checked by scripts/trace-check (well formed,
 * every begin has an end, one job at a time per worker, timestamps
 * monotone per worker, job lives consistent). */
#include "internal.h"

#include <check.h>
#include "check_main.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* TSan delivers a signal only when the thread next calls a function it
 * intercepts: a job that never calls out is never switched by the
 * signal there, so the async-preemption parts are left out under TSan. */
#ifdef SP_TSAN
#define ASYNC_TESTS 0
#else
#define ASYNC_TESTS 1
#endif

#ifndef SP_TOP_SRCDIR
#define SP_TOP_SRCDIR "."
#endif

static void *ident(void *arg) { return arg; }

static void *yielder(void *arg)
{
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i++)
        sp_yield();
    return NULL;
}

static _Atomic long g_yields;
static _Atomic int g_stop;

/* yields until g_stop, counting */
static void *counting_yielder(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop)) {
        atomic_fetch_add(&g_yields, 1);
        sp_yield();
    }
    return NULL;
}

/* until the counting yielders have yielded n more times */
static void wait_yields(long n)
{
    long until = atomic_load(&g_yields) + n;
    while (atomic_load(&g_yields) < until)
        nap_ms(1);
}

static void *failer(void *arg)
{
    (void)arg;
    sp_job_fail("failed on purpose");
    return NULL;
}

/* spins at safe points until flag[0] is set; flag[1] says it runs */
static void *spin_until(void *arg)
{
    _Atomic int *flag = arg;
    atomic_store(&flag[1], 1);
    while (!atomic_load(&flag[0]))
        sp_checkpoint();
    return NULL;
}

/* spins forever at safe points (to be cancelled) */
static void *spin_forever(void *arg)
{
    _Atomic int *running = arg;
    atomic_store(running, 1);
    for (;;)
        sp_checkpoint();
    return NULL;
}

/* never reaches a safe point: only a signal can stop it (SP_JOB_ASYNC) */
static void *spin_async(void *arg)
{
    _Atomic int *running = arg;
    atomic_store(running, 1);
    for (volatile unsigned long i = 0;; i++)
        ;
    return NULL;
}

static void *set_flag(void *arg)
{
    atomic_store((_Atomic int *)arg, 1);
    return NULL;
}

static void wait_flag(_Atomic int *f)
{
    while (!atomic_load(f))
        nap_ms(1);
}

static sp_job *start(sp_pool *p, int prio, sp_job_fn fn, void *arg,
                     const char *name)
{
    sp_job *j = sp_job_create(fn, arg);
    ck_assert_ptr_nonnull(j);
    if (name)
        sp_job_set_name(j, name);
    ck_assert_int_eq(sp_job_start(p, prio, j), 0);
    return j;
}

static void wait_release(sp_job *j)
{
    sp_job_wait(j);
    sp_job_release(j);
}

/* fork-join fib: every level waits on its children (suspends) */
static void *fib(void *arg)
{
    long n = (long)(intptr_t)arg;
    if (n < 2)
        return (void *)(intptr_t)n;
    sp_pool *p = sp_pool_current();
    sp_job *a = start(p, 0, fib, (void *)(intptr_t)(n - 1), "fib");
    sp_job *b = start(p, 0, fib, (void *)(intptr_t)(n - 2), "fib");
    long r = (long)(intptr_t)sp_job_wait(a) + (long)(intptr_t)sp_job_wait(b);
    sp_job_release(a);
    sp_job_release(b);
    return (void *)(intptr_t)r;
}

static sp_stats stats_of(sp_pool *p)
{
    sp_stats st;
    ck_assert_int_eq(sp_pool_stats(p, &st), 0);
    return st;
}

/* ------------------------------------------------------------------ */
/* Counters                                                            */
/* ------------------------------------------------------------------ */

START_TEST(test_stats_jobs_and_switches)
{
    sp_pool *p = sp_pool_create(1);
    for (int i = 0; i < 10; i++)
        wait_release(start(p, 0, ident, NULL, NULL));
    sp_job *y = start(p, 0, yielder, (void *)(intptr_t)5, NULL);
    wait_release(y);
    wait_release(start(p, 0, failer, NULL, NULL));
    sp_stats st = stats_of(p);
    ck_assert_uint_eq(st.jobs_started, 12);
    ck_assert_uint_eq(st.jobs_finished, 11);
    ck_assert_uint_eq(st.jobs_failed, 1);
    ck_assert_uint_eq(st.jobs_cancelled, 0);
    ck_assert_uint_eq(st.yields, 5);
    ck_assert_uint_eq(st.switches, 10 + 6 + 1); /* one per run slice */
    ck_assert_uint_eq(st.preempt_cancel, 0);
    ck_assert_uint_eq(st.steals, 0); /* one worker: nobody to steal from */
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

START_TEST(test_stats_cancel)
{
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = 1;
    o.flags = SP_POOL_NOPREEMPT;
    sp_pool *p = sp_pool_create_opts(&o);
    _Atomic int running = 0, arunning = 0;
    sp_job *a = start(p, 0, spin_forever, &running, NULL);
    wait_flag(&running);
    sp_job *q = start(p, 0, ident, NULL, NULL); /* queued behind a */
    ck_assert_int_eq(sp_job_cancel(q), 0);      /* cancelled while queued */
    ck_assert_int_eq(sp_job_cancel(a), 1);      /* running: at a safe point */
    ck_assert_int_eq(sp_job_join(a, NULL), SP_ECANCELED);
    if (ASYNC_TESTS) {
        sp_job *b = sp_job_create(spin_async, &arunning);
        sp_job_set_flags(b, SP_JOB_ASYNC);
        sp_job_start(p, 0, b);
        wait_flag(&arunning);
        ck_assert_int_eq(sp_job_cancel(b), 1); /* only a signal stops it */
        ck_assert_int_eq(sp_job_join(b, NULL), SP_ECANCELED);
        sp_job_release(b);
    }
    sp_stats st = stats_of(p);
    ck_assert_uint_eq(st.jobs_started, 2 + ASYNC_TESTS);
    ck_assert_uint_eq(st.jobs_cancelled, 2 + ASYNC_TESTS);
    /* running jobs ended by cancel */
    ck_assert_uint_eq(st.preempt_cancel, 1 + ASYNC_TESTS);
    if (ASYNC_TESTS)
        ck_assert_uint_ge(st.signals_sent, 1);
    ck_assert_uint_eq(st.jobs_finished, 0);
    sp_job_release(a);
    sp_job_release(q);
    sp_pool_close(p, 1);
}
END_TEST

START_TEST(test_stats_priority)
{
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = 1;
    o.flags = SP_POOL_NOPREEMPT;
    sp_pool *p = sp_pool_create_opts(&o);
    _Atomic int flag[2] = {0, 0};
    /* a prio-0 spinner holds the only worker; a prio-5 job preempts it.
     * (Wait until it runs: a job queued while the worker is between
     * popping one and running it is not checked for priority.) */
    sp_job *lo = start(p, 0, spin_until, flag, NULL);
    wait_flag(&flag[1]);
    sp_job *hi = start(p, 5, set_flag, &flag[0], NULL);
    wait_release(hi);
    wait_release(lo);
    sp_stats st = stats_of(p);
    /* on a loaded machine the spinner may lose its CPU before it sees
     * the request: then the KLT handoff runs the job on a spare */
    ck_assert_uint_ge(st.preempt_prio + st.spares, 1);
    ck_assert_uint_eq(st.preempt_slice, 0); /* NOPREEMPT: no time slicing */
    sp_pool_close(p, 1);
}
END_TEST

static _Atomic int g_spinners;

static void *spin_until_all(void *arg)
{
    long n = (long)(intptr_t)arg;
    atomic_fetch_add(&g_spinners, 1);
    while (atomic_load(&g_spinners) < n)
        sp_checkpoint();
    return NULL;
}

START_TEST(test_stats_slice)
{
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = 1;
    o.slice_us = 1000;
    sp_pool *p = sp_pool_create_opts(&o);
    /* two spinners that each wait for the other to have started: on one
     * worker the second can only start when the first is time-sliced */
    atomic_store(&g_spinners, 0);
    sp_job *a = start(p, 0, spin_until_all, (void *)(intptr_t)2, NULL);
    sp_job *b = start(p, 0, spin_until_all, (void *)(intptr_t)2, NULL);
    wait_release(a);
    wait_release(b);
    sp_stats st = stats_of(p);
    ck_assert_uint_ge(st.preempt_slice + st.spares, 1); /* see above */
    ck_assert_uint_eq(st.preempt_prio, 0);
    /* 3 switches (a, b, a again), or 2 when a spare took the queue: a
     * keeps its retired worker's thread and ends there without one */
    ck_assert_uint_ge(st.switches + st.spares, 3);
    sp_pool_close(p, 1);
}
END_TEST

static sp_job *g_kids[64];

static void *parent(void *arg)
{
    long n = (long)(intptr_t)arg;
    _Atomic int done = 0;
    for (long i = 0; i < n; i++) /* to this worker's own queue */
        g_kids[i] = start(sp_pool_current(), 0, set_flag, &done, NULL);
    for (long i = 0; i < n; i++) { /* busy: only a thief can run them */
        while (!sp_job_finished(g_kids[i]))
            sp_checkpoint();
        sp_job_release(g_kids[i]);
    }
    return NULL;
}

START_TEST(test_stats_steals_parks_wakes)
{
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = 2;
    o.flags = SP_POOL_NOPREEMPT;
    sp_pool *p = sp_pool_create_opts(&o);
    sp_stats st = stats_of(p);
    while (st.parks < 2) { /* both workers park */
        nap_ms(1);
        st = stats_of(p);
    }
    wait_release(start(p, 0, parent, (void *)(intptr_t)8, NULL));
    st = stats_of(p);
    ck_assert_uint_eq(st.steals, 8);
    ck_assert_uint_ge(st.wakes, 1);
    ck_assert_uint_eq(st.jobs_started, 9);
    ck_assert_uint_eq(st.jobs_finished, 9);
    ck_assert_uint_ge(st.queue_highwater, 1); /* the thief races the pushes */
    sp_pool_close(p, 1);
}
END_TEST

START_TEST(test_stats_highwater_pseudo)
{
    sp_pool *p = sp_pool_create(0);
    sp_job *j[7];
    for (int i = 0; i < 7; i++)
        j[i] = start(p, 0, ident, NULL, NULL);
    ck_assert_uint_eq(stats_of(p).queue_highwater, 7);
    for (int i = 0; i < 7; i++)
        wait_release(j[i]);
    sp_stats st = stats_of(p);
    ck_assert_uint_eq(st.jobs_finished, 7);
    ck_assert_uint_eq(st.switches, 7); /* runner threads count too */
    ck_assert_uint_eq(st.queue_highwater, 7);
    sp_pool_close(p, 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Trace                                                               */
/* ------------------------------------------------------------------ */

static int trace_check(const char *file, const char *opts)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "python3 '%s/scripts/trace-check' %s '%s'",
             SP_TOP_SRCDIR, opts, file);
    fflush(stdout);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *trace_path(const char *base)
{
    static char buf[4][256];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 256, "tests/unit/%s.%ld.trace.json", base, (long)getpid());
    return b;
}

/* The mixed workload of pool p (2 workers, 1 ms slice). */
static void workload(sp_pool *p)
{
    sp_job *f = start(p, 0, fib, (void *)(intptr_t)12, "fib");
    sp_job *y[4];
    for (int i = 0; i < 4; i++)
        y[i] = start(p, 0, yielder, (void *)(intptr_t)20, "yielder");
    sp_job *fl = start(p, 0, failer, NULL, "failer");
    atomic_store(&g_spinners, 0);
    sp_job *s[3]; /* 3 spinners on 2 workers: time slicing must happen */
    for (int i = 0; i < 3; i++)
        s[i] = start(p, 0, spin_until_all, (void *)(intptr_t)3, "spinner");
    _Atomic int running = 0, arunning = 0;
    sp_job *c = start(p, 0, spin_forever, &running, "cancel me");
    wait_flag(&running);
    sp_job_cancel(c);
    /* a name to escape; under TSan (see ASYNC_TESTS) a polling job */
    sp_job *a = sp_job_create(ASYNC_TESTS ? spin_async : spin_forever,
                              &arunning);
    sp_job_set_name(a, "async \"quoted\" \\ é");
    sp_job_set_flags(a, ASYNC_TESTS ? SP_JOB_ASYNC : 0);
    sp_job_start(p, 0, a);
    wait_flag(&arunning);
    sp_job_cancel(a);
    ck_assert_int_eq(sp_job_join(c, NULL), SP_ECANCELED);
    ck_assert_int_eq(sp_job_join(a, NULL), SP_ECANCELED);
    ck_assert_int_eq(sp_job_join(fl, NULL), SP_EFAILED);
    ck_assert_int_eq((long)(intptr_t)sp_job_wait(f), 144);
    for (int i = 0; i < 4; i++)
        wait_release(y[i]);
    for (int i = 0; i < 3; i++)
        wait_release(s[i]);
    sp_job_release(c);
    sp_job_release(a);
    sp_job_release(fl);
    sp_job_release(f);
}

START_TEST(test_trace_workload)
{
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = 2;
    o.slice_us = 1000;
    o.name = "mixed";
    sp_pool *p = sp_pool_create_opts(&o);
    char *path = trace_path("workload");
    ck_assert_int_eq(sp_pool_trace(p, path), 0);
    workload(p);
    sp_stats st = stats_of(p);
    ck_assert_int_eq(sp_pool_close(p, 1), 0); /* writes the file */
    /* (a KLT handoff may stand in for a preemption on a loaded machine) */
    ck_assert_int_eq(trace_check(path, st.spares ?
        "--expect-end yield,suspend,done,failed,cancelled "
        "--expect-instant cancel,fail --min-threads 2 --complete" :
        "--expect-end yield,preempt,suspend,done,failed,cancelled "
        "--expect-cause slice --expect-instant preempt,cancel,fail "
        "--min-threads 2 --complete"), 0);
    unlink(path);
}
END_TEST

START_TEST(test_trace_priority_and_queued_cancel)
{
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = 1;
    o.flags = SP_POOL_NOPREEMPT;
    sp_pool *p = sp_pool_create_opts(&o);
    char *path = trace_path("prio");
    ck_assert_int_eq(sp_pool_trace(p, path), 0);
    _Atomic int flag[2] = {0, 0};
    sp_job *lo = start(p, 0, spin_until, flag, "low");
    wait_flag(&flag[1]);
    sp_job *q = start(p, 0, ident, NULL, "queued");
    ck_assert_int_eq(sp_job_cancel(q), 0); /* the worker drops it later */
    sp_job *hi = start(p, 5, set_flag, &flag[0], "high");
    wait_release(hi);
    wait_release(lo);
    sp_job_release(q);
    sp_stats st = stats_of(p);
    sp_pool_close(p, 1);
    ck_assert_int_eq(trace_check(path, st.spares ?
        "--expect-end done --expect-instant cancel --complete" :
        "--expect-end preempt,done --expect-cause priority "
        "--expect-instant preempt,cancel --complete"), 0);
    unlink(path);
}
END_TEST

START_TEST(test_trace_pseudo_pool)
{
    sp_pool *p = sp_pool_create(0);
    char *path = trace_path("pseudo");
    ck_assert_int_eq(sp_pool_trace(p, path), 0);
    sp_job *f = start(p, 0, fib, (void *)(intptr_t)10, "fib");
    sp_job *y = start(p, 0, yielder, (void *)(intptr_t)10, "yielder");
    ck_assert_int_eq((long)(intptr_t)sp_job_wait(f), 55);
    wait_release(y);
    sp_job_release(f);
    sp_pool_close(p, 1);
    ck_assert_int_eq(trace_check(path,
        "--expect-end yield,suspend,done --min-threads 1 --complete"), 0);
    unlink(path);
}
END_TEST

/* Turn the trace over to another file, then off, while jobs run: the
 * files are written while workers append (race-free: see trace.c). */
START_TEST(test_trace_switch_off_while_running)
{
    sp_pool *p = sp_pool_create(2);
    char *p1 = trace_path("first"), *p2 = trace_path("second");
    ck_assert_int_eq(sp_pool_trace(p, p1), 0);
    sp_job *y[8];
    atomic_store(&g_stop, 0);
    for (int i = 0; i < 8; i++)
        y[i] = start(p, 0, counting_yielder, NULL, "yielder");
    wait_yields(1000);
    ck_assert_int_eq(sp_pool_trace(p, p2), 0); /* p1 written now */
    wait_yields(1000);
    ck_assert_int_eq(sp_pool_trace(p, NULL), 0); /* p2 written now */
    ck_assert_int_eq(sp_pool_trace(p, NULL), 0); /* off already: fine */
    atomic_store(&g_stop, 1);
    for (int i = 0; i < 8; i++)
        wait_release(y[i]);
    ck_assert_int_eq(sp_pool_trace(p, ""), SP_EINVAL);
    ck_assert_int_eq(sp_pool_trace(NULL, p1), SP_EINVAL);
    sp_pool_close(p, 1);
    ck_assert_int_eq(trace_check(p1, "--expect-end yield"), 0);
    ck_assert_int_eq(trace_check(p2, "--expect-end yield"), 0);
    unlink(p1);
    unlink(p2);
}
END_TEST

START_TEST(test_trace_closed_pool)
{
    sp_pool *p = sp_pool_create(1);
    sp_pool_retain(p);
    sp_pool_close(p, 1);
    ck_assert_int_eq(sp_pool_trace(p, trace_path("closed")), SP_ECLOSED);
    sp_pool_release(p);
}
END_TEST

/* SPINDLE_TRACE: every pool of the process into one file, written at
 * exit (here one pool is still open then). Runs in a child process, so
 * the variable and the exit stay there. */
START_TEST(test_trace_env)
{
    char *path = trace_path("env");
    unlink(path);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("SPINDLE_TRACE", path, 1);
        sp_pool *a = sp_pool_create(2), *b = sp_pool_create(0);
        sp_job *f = start(a, 0, fib, (void *)(intptr_t)10, "fib");
        sp_job *g = start(b, 0, fib, (void *)(intptr_t)8, "fib");
        int ok = (intptr_t)sp_job_wait(f) == 55 && (intptr_t)sp_job_wait(g) == 21;
        sp_job_release(f);
        sp_job_release(g);
        sp_pool_close(b, 1);
        exit(ok ? 0 : 3); /* a is left open: written by the exit handler */
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_int_eq(access(path, R_OK), 0);
    ck_assert_int_eq(trace_check(path,
        "--expect-end suspend,done --min-pools 2 --complete"), 0);
    unlink(path);
}
END_TEST

/* Last env-traced pool closed: the file is there before exit. */
START_TEST(test_trace_env_last_close)
{
    char *path = trace_path("envclose");
    unlink(path);
    setenv("SPINDLE_TRACE", path, 1);
    sp_pool *a = sp_pool_create(1);
    unsetenv("SPINDLE_TRACE");
    sp_pool *untraced = sp_pool_create(1);
    wait_release(start(a, 0, yielder, (void *)(intptr_t)3, "y"));
    wait_release(start(untraced, 0, yielder, (void *)(intptr_t)3, "u"));
    ck_assert_int_ne(access(path, R_OK), 0);
    sp_pool_close(a, 1);
    ck_assert_int_eq(access(path, R_OK), 0);
    ck_assert_int_eq(trace_check(path, "--expect-end yield,done "
                                       "--min-pools 1 --complete"), 0);
    sp_pool_close(untraced, 1);
    unlink(path);
}
END_TEST

/* The checker itself: it must refuse broken traces. */
static int check_text(const char *json, const char *opts)
{
    char *path = trace_path("bad");
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(json, f);
    fclose(f);
    int rc = trace_check(path, opts);
    unlink(path);
    return rc;
}

#define META "{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\"," \
    "\"args\":{\"name\":\"p\"}},{\"ph\":\"M\",\"pid\":1,\"tid\":1," \
    "\"name\":\"thread_name\",\"args\":{\"name\":\"w\"}}"

START_TEST(test_trace_check_refuses)
{
    /* fine: two slices one after the other, a B/E pair */
    ck_assert_int_eq(check_text("[" META ",{\"ph\":\"X\",\"pid\":1,\"tid\":1,"
        "\"ts\":1,\"dur\":2,\"name\":\"a\"},{\"ph\":\"B\",\"pid\":1,"
        "\"tid\":1,\"ts\":4,\"name\":\"b\"},{\"ph\":\"E\",\"pid\":1,"
        "\"tid\":1,\"ts\":5}]", "-q"), 0);
    /* not JSON */
    ck_assert_int_eq(check_text("{\"traceEvents\":[", "-q"), 1);
    /* two jobs at once on one worker */
    ck_assert_int_eq(check_text("[" META ",{\"ph\":\"X\",\"pid\":1,\"tid\":1,"
        "\"ts\":1,\"dur\":5,\"name\":\"a\"},{\"ph\":\"X\",\"pid\":1,"
        "\"tid\":1,\"ts\":3,\"dur\":1,\"name\":\"b\"}]", "-q"), 1);
    /* a begin without an end */
    ck_assert_int_eq(check_text("[" META ",{\"ph\":\"B\",\"pid\":1,\"tid\":1,"
        "\"ts\":1,\"name\":\"a\"}]", "-q"), 1);
    /* time going back on a worker */
    ck_assert_int_eq(check_text("[" META ",{\"ph\":\"i\",\"pid\":1,\"tid\":1,"
        "\"ts\":5,\"name\":\"a\"},{\"ph\":\"i\",\"pid\":1,\"tid\":1,"
        "\"ts\":4,\"name\":\"b\"}]", "-q"), 1);
    /* a thread without a name */
    ck_assert_int_eq(check_text("[" META ",{\"ph\":\"i\",\"pid\":1,\"tid\":2,"
        "\"ts\":5,\"name\":\"a\"}]", "-q"), 1);
    /* a job running after its end */
    ck_assert_int_eq(check_text("[" META ",{\"ph\":\"X\",\"pid\":1,\"tid\":1,"
        "\"ts\":1,\"dur\":1,\"name\":\"a\",\"args\":{\"job\":\"0x1\","
        "\"start\":true,\"end\":\"done\"}},{\"ph\":\"X\",\"pid\":1,"
        "\"tid\":1,\"ts\":3,\"dur\":1,\"name\":\"a\",\"args\":{\"job\":"
        "\"0x1\",\"start\":false,\"end\":\"yield\"}}]", "-q"), 1);
    /* an expectation not met */
    ck_assert_int_eq(check_text("[" META "]", "-q --expect-end yield"), 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("stats");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stats_jobs_and_switches);
    tcase_add_test(tc, test_stats_cancel);
    tcase_add_test(tc, test_stats_priority);
    tcase_add_test(tc, test_stats_slice);
    tcase_add_test(tc, test_stats_steals_parks_wakes);
    tcase_add_test(tc, test_stats_highwater_pseudo);
    suite_add_tcase(s, tc);
    tc = tcase_create("trace");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_trace_workload);
    tcase_add_test(tc, test_trace_priority_and_queued_cancel);
    tcase_add_test(tc, test_trace_pseudo_pool);
    tcase_add_test(tc, test_trace_switch_off_while_running);
    tcase_add_test(tc, test_trace_closed_pool);
    tcase_add_test(tc, test_trace_env);
    tcase_add_test(tc, test_trace_env_last_close);
    tcase_add_test(tc, test_trace_check_refuses);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(suite)
