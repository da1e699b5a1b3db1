/* test_faults.c: the runtime under faults -- each ends with a clear error
 * and the process in a defined state:
 *   - out of memory on job creation (injected: sp__fault_alloc),
 *   - a storm of SIGURG (the preemption signal) at every thread while
 *     jobs compute and yield,
 *   - several SIGINTs under sp_signals_install, the third starting
 *     sp_shutdown,
 *   - a job that calls exit(): the process ends with its status.
 * (Stack overflow in a job: tests/unit/test_job.c.) */
#include "internal.h"

#include <check.h>
#include "../unit/check_main.h"
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void *ident(void *arg) { return arg; }

static void pause_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

/* ---- out of memory on job creation ---- */

START_TEST(test_oom_job_create)
{
    atomic_store(&sp__fault_alloc, 1);
    ck_assert_ptr_null(sp_job_create(ident, NULL));  /* the injected failure */
    sp_job *j = sp_job_create(ident, (void *)7);     /* and then it works again */
    ck_assert_ptr_nonnull(j);
    sp_pool *p = sp_pool_create(_i);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sp_job_start(p, 0, j), 0);
    ck_assert_ptr_eq(sp_job_wait(j), (void *)7);
    sp_job_release(j);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* sp_job_spawn when the job's memory cannot be had: SP_ENOMEM, nothing
 * started or held (the pool closes), and the next spawn works */
START_TEST(test_oom_job_spawn)
{
    sp_pool *p = sp_pool_create(_i);
    ck_assert_ptr_nonnull(p);
    sp_job *j = (sp_job *)0x1;
    atomic_store(&sp__fault_alloc, 1);
    ck_assert_int_eq(sp_job_spawn(p, 0, ident, (void *)7, &j), SP_ENOMEM);
    ck_assert_ptr_null(j);
    atomic_store(&sp__fault_alloc, 1);
    ck_assert_int_eq(sp_job_spawn(p, 0, ident, (void *)7, NULL), SP_ENOMEM);
    sp_stats st;
    ck_assert_int_eq(sp_pool_stats(p, &st), 0);
    ck_assert_uint_eq(st.jobs_started, 0);
    ck_assert_int_eq(sp_job_spawn(p, 0, ident, (void *)8, &j), 0);
    ck_assert_ptr_eq(sp_job_wait(j), (void *)8);
    sp_job_release(j);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* a job whose child job cannot be created fails with a message; the pool
 * and its other jobs go on */
static void *spawner(void *arg)
{
    sp_job *c = sp_job_create(ident, arg);
    if (!c) {
        sp_job_fail("cannot create a job: out of memory");
        return NULL;
    }
    sp_job_start(sp_pool_current(), 0, c);
    void *r = sp_job_wait(c);
    sp_job_release(c);
    return r;
}

START_TEST(test_oom_in_job)
{
    sp_pool *p = sp_pool_create(_i);
    sp_job *a = sp_job_create(spawner, (void *)1);
    atomic_store(&sp__fault_alloc, 1);  /* a's child */
    ck_assert_int_eq(sp_job_start(p, 0, a), 0);
    sp_job_wait(a);
    ck_assert_int_eq(sp_job_state(a), SP_JOB_FAILED);
    ck_assert_str_eq(sp_job_error(a), "cannot create a job: out of memory");
    sp_job *b = sp_job_create(spawner, (void *)2);
    ck_assert_int_eq(sp_job_start(p, 0, b), 0);
    ck_assert_ptr_eq(sp_job_wait(b), (void *)2);
    ck_assert_int_eq(sp_job_state(b), SP_JOB_DONE);
    sp_job_release(a);
    sp_job_release(b);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- signal storm ---- */

static void *compute(void *arg)
{
    uintptr_t n = (uintptr_t)arg, acc = 0;
    for (uintptr_t i = 0; i < n; i++) {
        acc += i * i;
        if (i % 1000 == 0)
            sp_checkpoint();
        if (i % 50000 == 0)
            sp_yield();
    }
    return (void *)acc;
}

static uintptr_t expect(uintptr_t n)
{
    uintptr_t acc = 0;
    for (uintptr_t i = 0; i < n; i++)
        acc += i * i;
    return acc;
}

START_TEST(test_sigurg_storm)
{
    enum { NJ = 16, N = 400000 };
    sp_pool *p = sp_pool_create(_i);
    sp_job *j[NJ];
    for (int k = 0; k < NJ; k++) {
        j[k] = sp_job_create(compute, (void *)(uintptr_t)(N + k));
        if (k % 2)
            sp_job_set_flags(j[k], SP_JOB_ASYNC);
        ck_assert_int_eq(sp_job_start(p, k % 3, j[k]), 0);
    }
    /* process-directed: any thread that does not block it takes it,
     * the main (non-worker) thread included */
    for (int s = 0; s < 3000; s++) {
        kill(getpid(), SIGURG);
        if (s % 100 == 0)
            pause_ms(1);
    }
    for (int k = 0; k < NJ; k++) {
        ck_assert_uint_eq((uintptr_t)sp_job_wait(j[k]), expect(N + k));
        ck_assert_int_eq(sp_job_state(j[k]), SP_JOB_DONE);
        sp_job_release(j[k]);
    }
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

static _Atomic int sigint_count;

static void on_signal(int signo, int count, void *ud)
{
    atomic_store(&sigint_count, count);
    if (count == 3)
        sp_shutdown();
}

static void *forever(void *arg)
{
    for (;;)
        if (sp_checkpoint())
            return NULL;
}

START_TEST(test_sigint_storm)
{
    ck_assert_int_eq(sp_signals_install(on_signal, NULL), 0);
    sp_pool *p = sp_pool_create(2);
    sp_job *j[4];
    for (int k = 0; k < 4; k++) {
        j[k] = sp_job_create(forever, NULL);
        ck_assert_int_eq(sp_job_start(p, 0, j[k]), 0);
    }
    /* SIGINTs are not queued: send the next once the last was taken */
    for (int s = 1; s <= 3; s++) {
        kill(getpid(), SIGINT);
        for (int t = 0; t < 5000 && atomic_load(&sigint_count) < s; t++)
            pause_ms(1);
        ck_assert_int_eq(atomic_load(&sigint_count), s);
    }
    for (int k = 0; k < 4; k++) {
        sp_job_wait(j[k]);
        ck_assert_int_eq(sp_job_state(j[k]), SP_JOB_CANCELLED);
        sp_job_release(j[k]);
    }
    ck_assert_int_ne(sp_shutting_down(), 0);
    ck_assert_ptr_null(sp_pool_create(1));  /* refused after shutdown */
    /* a storm after the shutdown changes nothing */
    for (int s = 0; s < 20; s++)
        kill(getpid(), SIGINT);
    pause_ms(20);
    sp_pool_close(p, 1);
}
END_TEST

/* ---- a job that calls exit() ---- */

static void *exiter(void *arg)
{
    exit(7);
}

START_TEST(test_job_exit)
{
    sp_pool *p = sp_pool_create(_i);
    sp_job *busy[4];
    for (int k = 0; k < 4; k++) {
        busy[k] = sp_job_create(compute, (void *)(uintptr_t)100000000);
        sp_job_start(p, 0, busy[k]);
    }
    sp_job *j = sp_job_create(exiter, NULL);
    sp_job_start(p, 1, j);
    sp_job_wait(j);
    ck_abort_msg("exit() in a job did not end the process");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_oom_job_create, 0, 3);   /* 0, 1, 2 workers */
    tcase_add_loop_test(tc, test_oom_job_spawn, 0, 3);
    tcase_add_loop_test(tc, test_oom_in_job, 0, 3);
    tcase_add_loop_test(tc, test_sigurg_storm, 1, 5);     /* 1..4 workers */
    tcase_add_test(tc, test_sigint_storm);
    tcase_add_loop_exit_test(tc, test_job_exit, 7, 1, 3);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(suite)
