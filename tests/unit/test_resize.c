/* test_resize.c - sp_pool_set_workers (grow and shrink under load, with
 * queued, suspended, running and spinning jobs; priorities; racing with
 * close; counters of retired workers) and jobs bound to one worker
 * (sp_job_start_on, sp_worker_index). Behaviour only: no timing. */
#include "internal.h"

#include <check.h>
#include "check_main.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Tests that check which worker ran a job use pools without time
 * slicing: on a loaded machine a worker descheduled for a few ticks
 * while its job is flagged is replaced by a spare (KLT handoff), which
 * renumbers the workers. Priority requests still flag jobs, so (under a
 * sanitizer, say) a handoff may still happen: worker numbers are checked
 * exactly only when the pool started no spare. */
static int spares(sp_pool *p)
{
    sp_stats st;
    sp_pool_stats(p, &st);
    return (int)st.spares;
}

static sp_pool *pool_noslice(int n)
{
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = n;
    o.flags = SP_POOL_NOPREEMPT;
    return sp_pool_create_opts(&o);
}

/* ---- job bodies ---- */

typedef struct {
    _Atomic int *go;       /* spin until set */
    _Atomic int *running;  /* bumped once started */
    int polling;           /* sp_checkpoint in the loop */
    intptr_t result;
} spin_t;

static void *spinner(void *arg)
{
    spin_t *s = arg;
    atomic_fetch_add(s->running, 1);
    while (!atomic_load(s->go)) {
        if (s->polling)
            sp_checkpoint();
        else
            __builtin_ia32_pause();
    }
    return (void *)s->result;
}

/* n -> sum 1..n, with safe points */
static void *sum_to(void *arg)
{
    intptr_t n = (intptr_t)arg, s = 0;
    for (intptr_t i = 1; i <= n; i++) {
        s += i;
        if ((i & 63) == 0)
            sp_checkpoint();
    }
    return (void *)s;
}

typedef struct {
    sp_syncvar *v;
    int idx_after;         /* sp_worker_index() after the wait */
    _Atomic int *waiting;
} waiter_t;

static void *waits(void *arg)
{
    waiter_t *w = arg;
    atomic_fetch_add(w->waiting, 1);
    void *val = NULL;
    sp_syncvar_read(w->v, &val);
    w->idx_after = sp_worker_index();
    return val;
}

static void *where(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)(sp_worker_index() + 100);
}

/* ---- argument checks ---- */

/* A pool past the 128 workers that were once the limit: created at 136,
 * grown to 160 under a batch, a job bound to its last worker, shrunk to
 * 2, every job run once; SP_MAX_WORKERS itself is the limit of both
 * calls. (Under TSan this found workers that paused in sp__pins_drain
 * while the pinner waited for a CPU: 160 threads on 2 cores ran for
 * minutes; they now give the CPU away.) */
static void *count_one(void *arg)
{
    atomic_fetch_add((_Atomic int *)arg, 1);
    return NULL;
}

START_TEST(test_many_workers)
{
    ck_assert_ptr_null(sp_pool_create(SP_MAX_WORKERS + 1));
    sp_pool *p = sp_pool_create(136);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sp_pool_nworkers(p), 136);
    _Atomic int ran = 0;
    sp_job *js[400];
    for (int i = 0; i < 400; i++) {
        js[i] = sp_job_create(count_one, &ran);
        ck_assert_int_eq(sp_job_start(p, 0, js[i]), 0);
        if (i == 200)
            ck_assert_int_eq(sp_pool_set_workers(p, 160), 0);
    }
    for (int i = 0; i < 400; i++) {
        sp_job_wait(js[i]);
        ck_assert_int_eq(sp_job_state(js[i]), SP_JOB_DONE);
        sp_job_release(js[i]);
    }
    ck_assert_int_eq(atomic_load(&ran), 400);
    ck_assert_int_eq(sp_pool_nworkers(p), 160);
    sp_job *b = sp_job_create(where, NULL);
    ck_assert_int_eq(sp_job_start_on(p, 159, 0, b), 0);
    ck_assert_ptr_eq(sp_job_wait(b), (void *)(intptr_t)259);
    sp_job_release(b);
    ck_assert_int_eq(sp_pool_set_workers(p, 2), 0);
    ck_assert_int_eq(sp_pool_nworkers(p), 2);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

START_TEST(test_resize_args)
{
    ck_assert_int_eq(sp_pool_set_workers(NULL, 1), SP_EINVAL);
    sp_pool *pp = sp_pool_create(0);
    ck_assert_int_eq(sp_pool_set_workers(pp, 0), 0);
    ck_assert_int_eq(sp_pool_set_workers(pp, 2), SP_ESTATE);
    ck_assert_int_eq(sp_pool_nworkers(pp), 0);
    sp_job *j = sp_job_create(where, NULL);
    ck_assert_int_eq(sp_job_start_on(pp, 0, 0, j), SP_ESTATE);
    ck_assert_int_eq(sp_job_start(pp, 0, j), 0);
    ck_assert_ptr_eq(sp_job_wait(j), (void *)(intptr_t)99); /* -1: pseudo */
    sp_job_release(j);
    sp_pool_close(pp, 1);

    sp_pool *p = pool_noslice(2);
    ck_assert_int_eq(sp_pool_set_workers(p, 0), SP_EINVAL);
    ck_assert_int_eq(sp_pool_set_workers(p, -1), SP_EINVAL);
    ck_assert_int_eq(sp_pool_set_workers(p, SP_MAX_WORKERS + 1), SP_EINVAL);
    ck_assert_int_eq(sp_pool_nworkers(p), 2);
    ck_assert_int_eq(sp_pool_set_workers(p, 2), 0);
    ck_assert_int_eq(sp_worker_index(), -1); /* not in a job */
    j = sp_job_create(where, NULL);
    ck_assert_int_eq(sp_job_start_on(p, 2, 0, j), SP_EINVAL);
    ck_assert_int_eq(sp_job_start_on(p, -1, 0, j), SP_EINVAL);
    ck_assert_int_eq(sp_job_start_on(p, 1, 0, j), 0);
    ck_assert_int_eq(sp_job_start_on(p, 1, 0, j), SP_EBUSY);
    ck_assert_int_eq(sp_job_start(p, 0, j), SP_EBUSY);
    void *r = sp_job_wait(j);
    ck_assert(r == (void *)(intptr_t)101 || spares(p));
    sp_job_release(j);
    sp_pool_retain(p);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
    ck_assert_int_eq(sp_pool_set_workers(p, 3), SP_ECLOSED);
    j = sp_job_create(where, NULL);
    ck_assert_int_eq(sp_job_start_on(p, 0, 0, j), SP_ECLOSED);
    sp_job_release(j);
    sp_pool_release(p);
}
END_TEST

/* ---- grow ---- */

START_TEST(test_grow_under_load)
{
    sp_pool *p = pool_noslice(1);
    enum { N = 400 };
    sp_job *js[N];
    for (int i = 0; i < N; i++) {
        js[i] = sp_job_create(sum_to, (void *)(intptr_t)(1000 + i));
        ck_assert_int_eq(sp_job_start(p, i % 5, js[i]), 0);
    }
    ck_assert_int_eq(sp_pool_set_workers(p, 4), 0);
    ck_assert_int_eq(sp_pool_nworkers(p), 4);
    /* the new workers exist and run jobs bound to them */
    for (int k = 0; k < 4; k++) {
        sp_job *b = sp_job_create(where, NULL);
        ck_assert_int_eq(sp_job_start_on(p, k, SP_PRIO_MAX, b), 0);
        void *r = sp_job_wait(b);
        ck_assert(r == (void *)(intptr_t)(100 + k) || spares(p));
        sp_job_release(b);
    }
    for (int i = 0; i < N; i++) {
        intptr_t n = 1000 + i;
        ck_assert_ptr_eq(sp_job_wait(js[i]), (void *)(n * (n + 1) / 2));
        sp_job_release(js[i]);
    }
    sp_stats st;
    sp_pool_stats(p, &st);
    ck_assert_uint_eq(st.jobs_finished, N + 4);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- shrink, with every kind of job in flight ---- */

START_TEST(test_shrink_under_load)
{
    sp_pool *p = sp_pool_create(4);
    _Atomic int go = 0, running = 0, waiting = 0;
    /* spinning jobs: polling ones and one that never polls */
    enum { NS = 4, NW = 20, NQ = 300 };
    spin_t sp[NS];
    sp_job *spj[NS];
    for (int i = 0; i < NS; i++) {
        sp[i] = (spin_t){&go, &running, i != 0, 7000 + i};
        spj[i] = sp_job_create(spinner, &sp[i]);
        ck_assert_int_eq(sp_job_start(p, 1, spj[i]), 0);
    }
    /* suspended jobs */
    sp_syncvar *v = sp_syncvar_create(NULL);
    waiter_t wt[NW];
    sp_job *wj[NW];
    for (int i = 0; i < NW; i++) {
        wt[i] = (waiter_t){v, -2, &waiting};
        wj[i] = sp_job_create(waits, &wt[i]);
        ck_assert_int_eq(sp_job_start(p, 2, wj[i]), 0);
    }
    ck_assert(wait_for(&waiting, NW));
    /* queued jobs, several priorities */
    sp_job *qj[NQ];
    for (int i = 0; i < NQ; i++) {
        qj[i] = sp_job_create(sum_to, (void *)(intptr_t)(500 + i));
        ck_assert_int_eq(sp_job_start(p, i % 7, qj[i]), 0);
    }
    ck_assert_int_eq(sp_pool_set_workers(p, 1), 0);
    ck_assert_int_eq(sp_pool_nworkers(p), 1);
    /* suspended jobs resume on the one worker left */
    ck_assert_int_eq(sp_syncvar_write(v, (void *)0x77), 0);
    for (int i = 0; i < NW; i++) {
        ck_assert_ptr_eq(sp_job_wait(wj[i]), (void *)0x77);
        ck_assert(wt[i].idx_after == 0 || spares(p));
        sp_job_release(wj[i]);
    }
    atomic_store(&go, 1);
    for (int i = 0; i < NQ; i++) {
        intptr_t n = 500 + i;
        ck_assert_ptr_eq(sp_job_wait(qj[i]), (void *)(n * (n + 1) / 2));
        sp_job_release(qj[i]);
    }
    for (int i = 0; i < NS; i++) {
        ck_assert_ptr_eq(sp_job_wait(spj[i]), (void *)(intptr_t)(7000 + i));
        sp_job_release(spj[i]);
    }
    /* new jobs run on worker 0 only */
    for (int i = 0; i < 20; i++) {
        sp_job *j = sp_job_create(where, NULL);
        sp_job_start(p, 0, j);
        void *r = sp_job_wait(j);
        ck_assert(r == (void *)(intptr_t)100 || spares(p));
        sp_job_release(j);
    }
    sp_stats st;
    sp_pool_stats(p, &st);
    ck_assert_uint_eq(st.jobs_finished, NS + NW + NQ + 20);
    ck_assert_uint_eq(st.jobs_cancelled, 0);
    ck_assert_uint_eq(st.jobs_failed, 0);
    sp_syncvar_release(v);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- shrink to one: queued jobs keep their priorities ---- */

static _Atomic int g_order_n;
static int g_order[256];

static void *record_prio(void *arg)
{
    g_order[atomic_fetch_add(&g_order_n, 1)] = (int)(intptr_t)arg;
    return NULL;
}

START_TEST(test_shrink_keeps_priorities)
{
    sp_pool *p = pool_noslice(3);
    _Atomic int go = 0, running = 0;
    spin_t sp[3];
    sp_job *spj[3];
    for (int i = 0; i < 3; i++) { /* top priority: nothing below runs */
        sp[i] = (spin_t){&go, &running, 1, i};
        spj[i] = sp_job_create(spinner, &sp[i]);
        ck_assert_int_eq(sp_job_start(p, SP_PRIO_MAX, spj[i]), 0);
    }
    ck_assert(wait_for(&running, 3));
    enum { N = 120 };
    sp_job *js[N];
    atomic_store(&g_order_n, 0);
    for (int i = 0; i < N; i++) {
        int prio = (i * 7) % 20 + 1;
        js[i] = sp_job_create(record_prio, (void *)(intptr_t)prio);
        ck_assert_int_eq(sp_job_start(p, prio, js[i]), 0);
    }
    ck_assert_int_eq(sp_pool_set_workers(p, 1), 0);
    atomic_store(&go, 1);
    for (int i = 0; i < 3; i++) {
        sp_job_wait(spj[i]);
        sp_job_release(spj[i]);
    }
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(sp_job_join(js[i], NULL), 0);
        sp_job_release(js[i]);
    }
    ck_assert_int_eq(atomic_load(&g_order_n), N);
    for (int i = 1; i < N; i++)
        ck_assert_int_le(g_order[i], g_order[i - 1]);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- shrink and grow again, many times: slots reused, counters kept ---- */

static void wait_retired_exited(sp_pool *p)
{
    for (int i = 0; i < 60000; i++) {
        int busy = 0, n = atomic_load(&p->nw);
        for (int k = 0; k < n; k++) {
            sp__worker *w = p->workers[k];
            if (w && atomic_load(&w->retired) && !atomic_load(&w->exited))
                busy = 1;
        }
        if (!busy)
            return;
        nap_ms(1);
    }
}

START_TEST(test_resize_cycles_keep_stats)
{
    sp_pool *p = sp_pool_create(2);
    uint64_t last_sw = 0, done = 0;
    for (int round = 0; round < 100; round++) {
        int n = round % 2 ? 1 : 4;
        ck_assert_int_eq(sp_pool_set_workers(p, n), 0);
        ck_assert_int_eq(sp_pool_nworkers(p), n);
        sp_job *js[8];
        for (int i = 0; i < 8; i++) {
            js[i] = sp_job_create(sum_to, (void *)(intptr_t)100);
            sp_job_start(p, 0, js[i]);
        }
        for (int i = 0; i < 8; i++) {
            ck_assert_ptr_eq(sp_job_wait(js[i]), (void *)(intptr_t)5050);
            sp_job_release(js[i]);
        }
        done += 8;
        sp_stats st;
        sp_pool_stats(p, &st);
        ck_assert_uint_eq(st.jobs_finished, done);
        ck_assert_uint_ge(st.switches, last_sw + 8); /* nothing lost */
        last_sw = st.switches;
        wait_retired_exited(p);
    }
    /* slots were reused (a handoff's spare takes a new one) */
    ck_assert_int_le(atomic_load(&p->nw), 8 + spares(p));
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- resize from inside a job of the pool ---- */

static void *resize_self(void *arg)
{
    int n = (int)(intptr_t)arg;
    return (void *)(intptr_t)sp_pool_set_workers(sp_pool_current(), n);
}

START_TEST(test_resize_from_job)
{
    sp_pool *p = sp_pool_create(3);
    for (int n = 1; n <= 4; n++) {
        sp_job *j = sp_job_create(resize_self, (void *)(intptr_t)(5 - n));
        sp_job_start(p, 0, j);
        ck_assert_ptr_eq(sp_job_wait(j), (void *)0);
        sp_job_release(j);
        ck_assert_int_eq(sp_pool_nworkers(p), 5 - n);
    }
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- resize racing with close ---- */

typedef struct { sp_pool *p; _Atomic int stop; int bad; } racer_t;

static void *resizer(void *arg)
{
    racer_t *r = arg;
    for (int i = 0; !atomic_load(&r->stop); i++) {
        int rc = sp_pool_set_workers(r->p, 1 + i % 4);
        if (rc == SP_ECLOSED)
            break;
        if (rc != 0)
            r->bad = rc;
    }
    return NULL;
}

START_TEST(test_resize_races_close)
{
    for (int round = 0; round < 10; round++) {
        sp_pool *p = sp_pool_create(2);
        sp_pool_retain(p);
        racer_t r = {p, 0, 0};
        pthread_t th;
        pthread_create(&th, NULL, resizer, &r);
        enum { N = 200 };
        sp_job *js[N];
        for (int i = 0; i < N; i++) {
            js[i] = sp_job_create(sum_to, (void *)(intptr_t)2000);
            ck_assert_int_eq(sp_job_start(p, i % 3, js[i]), 0);
        }
        int left = sp_pool_close(p, round % 2);
        ck_assert_int_ge(left, 0);
        atomic_store(&r.stop, 1);
        pthread_join(th, NULL);
        ck_assert_int_eq(r.bad, 0);
        int done = 0, cancelled = 0;
        for (int i = 0; i < N; i++) {
            int rc = sp_job_join(js[i], NULL);
            ck_assert(rc == 0 || rc == SP_ECANCELED);
            if (rc == 0) {
                ck_assert_ptr_eq(sp_job_result(js[i]),
                                 (void *)(intptr_t)(2000 * 2001 / 2));
                done++;
            } else {
                cancelled++;
            }
            sp_job_release(js[i]);
        }
        ck_assert_int_eq(done + cancelled, N);
        if (round % 2)
            ck_assert_int_eq(done, N);
        sp_stats st;
        sp_pool_stats(p, &st);
        ck_assert_uint_eq(st.jobs_finished + st.jobs_cancelled, N);
        sp_pool_release(p);
    }
}
END_TEST

/* ---- bound jobs ---- */

START_TEST(test_bound_runs_on_its_worker)
{
    sp_pool *p = pool_noslice(3);
    for (int round = 0; round < 50; round++)
        for (int k = 0; k < 3; k++) {
            sp_job *j = sp_job_create(where, NULL);
            ck_assert_int_eq(sp_job_start_on(p, k, round % 32, j), 0);
            void *r = sp_job_wait(j);
            ck_assert(r == (void *)(intptr_t)(100 + k) || spares(p));
            sp_job_release(j);
        }
    ck_assert_int_eq(atomic_load(&p->nbound), 0);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* Worker 1 is busy: its bound job waits for it, never stolen; a bound
 * job woken after a wait resumes on its worker. */
START_TEST(test_bound_not_stolen)
{
    sp_pool *p = pool_noslice(3);
    _Atomic int go = 0, running = 0, waiting = 0;
    spin_t s = {&go, &running, 1, 5};
    sp_job *spin = sp_job_create(spinner, &s);
    ck_assert_int_eq(sp_job_start_on(p, 1, SP_PRIO_MAX, spin), 0);
    ck_assert(wait_for(&running, 1));
    sp_job *js[6];
    for (int i = 0; i < 6; i++) {
        js[i] = sp_job_create(where, NULL);
        ck_assert_int_eq(sp_job_start_on(p, 1, 0, js[i]), 0);
    }
    sp_syncvar *v = sp_syncvar_create(NULL);
    waiter_t wt[3];
    sp_job *wj[3];
    for (int k = 0; k < 3; k++) {
        wt[k] = (waiter_t){v, -2, &waiting};
        wj[k] = sp_job_create(waits, &wt[k]);
        ck_assert_int_eq(sp_job_start_on(p, k, SP_PRIO_MAX, wj[k]), 0);
    }
    nap_ms(20);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(sp_job_state(js[i]), SP_JOB_QUEUED);
    atomic_store(&go, 1);
    for (int i = 0; i < 6; i++) {
        ck_assert_ptr_eq(sp_job_wait(js[i]), (void *)(intptr_t)101);
        sp_job_release(js[i]);
    }
    ck_assert(wait_for(&waiting, 3));
    sp_syncvar_write(v, (void *)0x5);
    for (int k = 0; k < 3; k++) {
        ck_assert_ptr_eq(sp_job_wait(wj[k]), (void *)0x5);
        ck_assert(wt[k].idx_after == k || spares(p));
        sp_job_release(wj[k]);
    }
    sp_job_wait(spin);
    sp_job_release(spin);
    sp_syncvar_release(v);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* A bound job whose worker is retired before it ran still runs. */
START_TEST(test_bound_worker_retired)
{
    sp_pool *p = sp_pool_create(3);
    _Atomic int go = 0, running = 0;
    spin_t s = {&go, &running, 1, 5};
    sp_job *spin = sp_job_create(spinner, &s);
    ck_assert_int_eq(sp_job_start_on(p, 2, SP_PRIO_MAX, spin), 0);
    ck_assert(wait_for(&running, 1));
    sp_job *js[5];
    for (int i = 0; i < 5; i++) {
        js[i] = sp_job_create(where, NULL);
        ck_assert_int_eq(sp_job_start_on(p, 2, 3, js[i]), 0);
    }
    ck_assert_int_eq(sp_pool_set_workers(p, 2), 0);
    for (int i = 0; i < 5; i++) {
        void *r = sp_job_wait(js[i]);
        ck_assert((intptr_t)r == 100 || (intptr_t)r == 101 || spares(p));
        sp_job_release(js[i]);
    }
    atomic_store(&go, 1);
    sp_job_wait(spin);
    sp_job_release(spin);
    ck_assert_int_eq(atomic_load(&p->nbound), 0);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- a trace across resizes stays well formed ---- */

#ifndef SP_TOP_SRCDIR
#define SP_TOP_SRCDIR "."
#endif

START_TEST(test_resize_traced)
{
    char path[64];
    snprintf(path, sizeof path, "tests/unit/resize.%d.trace.json", (int)getpid());
    sp_pool *p = sp_pool_create(2);
    ck_assert_int_eq(sp_pool_trace(p, path), 0);
    for (int round = 0; round < 20; round++) {
        ck_assert_int_eq(sp_pool_set_workers(p, round % 2 ? 1 : 3), 0);
        sp_job *js[6];
        for (int i = 0; i < 6; i++) {
            js[i] = sp_job_create(sum_to, (void *)(intptr_t)3000);
            sp_job_start(p, i % 2, js[i]);
        }
        for (int i = 0; i < 6; i++) {
            sp_job_wait(js[i]);
            sp_job_release(js[i]);
        }
        wait_retired_exited(p); /* so that slots are reused */
    }
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "python3 '%s/scripts/trace-check' -q --complete '%s'",
             SP_TOP_SRCDIR, path);
    fflush(stdout);
    int st = system(cmd);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    remove(path);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("resize");
    TCase *tc = tcase_create("resize");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_resize_args);
    tcase_add_test(tc, test_many_workers);
    tcase_add_test(tc, test_grow_under_load);
    tcase_add_test(tc, test_shrink_under_load);
    tcase_add_test(tc, test_shrink_keeps_priorities);
    tcase_add_test(tc, test_resize_cycles_keep_stats);
    tcase_add_test(tc, test_resize_from_job);
    tcase_add_test(tc, test_bound_runs_on_its_worker);
    tcase_add_test(tc, test_bound_not_stolen);
    tcase_add_test(tc, test_bound_worker_retired);
    tcase_add_test(tc, test_resize_traced);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("race");
    tcase_set_timeout(tr, 240);
    tcase_add_test(tr, test_resize_races_close);
    suite_add_tcase(s, tr);
    return s;
}

CHECK_MAIN(suite)
