/* test_coord.c - the coordination layer: argument-list jobs, dependencies
 * (sp_job_schedule), triggers, channels and syncvars, each on a pseudo
 * pool (0 workers), 1 and 2 workers (loop tests: _i = workers). Values
 * are counted: every retain must be matched by a release. */
#include "internal.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- counted values ---- */

typedef struct val {
    _Atomic int refs;
    long n;
} val;

static _Atomic long g_alive, g_retains, g_releases;

static val *V(long n)
{
    val *v = malloc(sizeof *v);
    atomic_init(&v->refs, 1);
    v->n = n;
    atomic_fetch_add(&g_alive, 1);
    atomic_fetch_add(&g_retains, 1); /* the creator's reference */
    return v;
}

static void vretain(void *p)
{
    atomic_fetch_add(&((val *)p)->refs, 1);
    atomic_fetch_add(&g_retains, 1);
}

static void vrelease(void *p)
{
    val *v = p;
    atomic_fetch_add(&g_releases, 1);
    if (atomic_fetch_sub(&v->refs, 1) == 1) {
        atomic_fetch_sub(&g_alive, 1);
        free(v);
    }
}

static void vdrop(val *v) /* the test's own reference */
{
    atomic_fetch_add(&g_releases, 1);
    if (atomic_fetch_sub(&v->refs, 1) == 1) {
        atomic_fetch_sub(&g_alive, 1);
        free(v);
    }
}

/* pack: a value whose n is the sum of the packed values' n, times 1000
 * plus the count (so order and count are both visible) */
static _Atomic long g_packs;
static void *vpack(size_t n, void *const *v)
{
    long s = 0;
    for (size_t i = 0; i < n; i++)
        s = s * 10 + ((val *)v[i])->n;
    atomic_fetch_add(&g_packs, 1);
    return V(s);
}

static int vlong(void *p, long *out)
{
    if (!p)
        return SP_EINVAL;
    *out = ((val *)p)->n;
    return 0;
}

static const sp_value_ops OPS = {vretain, vrelease, vpack, vlong};

static void counts_reset(void)
{
    atomic_store(&g_alive, 0);
    atomic_store(&g_retains, 0);
    atomic_store(&g_releases, 0);
}

static void counts_check(void)
{
    long alive = atomic_load(&g_alive), r = atomic_load(&g_retains),
         d = atomic_load(&g_releases);
    ck_assert_int_eq(alive, 0);
    ck_assert_int_eq(r, d); /* every reference dropped exactly once */
}

static long N(void *p)
{
    return p ? ((val *)p)->n : -1;
}

/* ---- argument-list jobs ---- */

static void *nop(void *a) { return a; }

/* result: a new value: ud's base plus the sum of the args' n * 10^i */
static void *sumv(void *ud, size_t argc, void *const *argv)
{
    long s = (long)(intptr_t)ud;
    for (size_t i = 0; i < argc; i++)
        s = s * 10 + ((val *)argv[i])->n;
    return V(s);
}

START_TEST(test_args)
{
    counts_reset();
    sp_pool *p = sp_pool_create(_i);
    val *a = V(1), *b = V(2), *c = V(3);
    void *av[] = {a, b};
    sp_job *j = sp_job_createv(sumv, NULL, &OPS, 2, av);
    ck_assert_ptr_nonnull(j);
    ck_assert_uint_eq(sp_job_argc(j), 2);
    ck_assert_ptr_eq(sp_job_argv(j)[1], b);
    void *cv[] = {c};
    ck_assert_int_eq(sp_job_add_args(j, 1, cv), 0);
    sp_job *k = sp_job_copy(j, 1, cv);
    ck_assert_ptr_nonnull(k);
    ck_assert_uint_eq(sp_job_argc(j), 3); /* the original is unchanged */
    ck_assert_uint_eq(sp_job_argc(k), 4);
    ck_assert_int_eq(sp_job_start(p, 0, j), 0);
    ck_assert_int_eq(sp_job_add_args(j, 1, cv), SP_EBUSY);
    ck_assert_int_eq(sp_job_start(p, 0, k), 0);
    ck_assert_int_eq(N(sp_job_wait(j)), 123);
    ck_assert_int_eq(N(sp_job_wait(k)), 1233);
    sp_job *k2 = sp_job_copy(k, 0, NULL); /* copy of a finished job */
    ck_assert_uint_eq(sp_job_argc(k2), 4);
    sp_job_release(j);
    sp_job_release(k);
    sp_job_release(k2); /* never started: args released all the same */
    vdrop(a);
    vdrop(b);
    vdrop(c);
    sp_pool_close(p, 1);
    counts_check();
}
END_TEST

START_TEST(test_args_plain_job_has_none)
{
    sp_job *j = sp_job_create(nop, NULL);
    ck_assert_ptr_null(sp_job_copy(j, 0, NULL));
    ck_assert_uint_eq(sp_job_argc(j), 0);
    ck_assert_int_eq(sp_job_add_args(j, 0, NULL), SP_EINVAL);
    sp_job_release(j);
    ck_assert_ptr_null(sp_job_createv(NULL, NULL, NULL, 0, NULL));
}
END_TEST

/* ---- dependencies ---- */

static sp_dep DJ(sp_job *j) { return (sp_dep){.job = j, .trigger = NULL}; }
static sp_dep DT(sp_trigger *t) { return (sp_dep){.job = NULL, .trigger = t}; }

START_TEST(test_dep_results_in_order)
{
    counts_reset();
    sp_pool *p = sp_pool_create(_i);
    val *x = V(9);
    sp_job *a = sp_job_createv(sumv, (void *)1, &OPS, 0, NULL);
    sp_job *b = sp_job_createv(sumv, (void *)2, &OPS, 0, NULL);
    void *xv[] = {x};
    sp_job *c = sp_job_createv(sumv, NULL, &OPS, 1, xv);
    ck_assert_int_eq(sp_job_start(p, 0, b), 0);
    ck_assert_int_eq(sp_job_start(p, 0, a), 0);
    sp_job_wait(b); /* one finished already, one maybe not */
    sp_dep d[] = {DJ(a), DJ(b)};
    ck_assert_int_eq(sp_job_schedule(p, 0, c, 2, d), 0);
    ck_assert_int_eq(N(sp_job_wait(c)), 912);
    ck_assert_uint_eq(sp_job_argc(c), 3);
    sp_job_release(a);
    sp_job_release(b);
    sp_job_release(c);
    vdrop(x);
    sp_pool_close(p, 1);
    counts_check();
}
END_TEST

START_TEST(test_schedule_errors)
{
    sp_pool *p = sp_pool_create(_i);
    sp_job *a = sp_job_createv(sumv, NULL, NULL, 0, NULL);
    sp_job *b = sp_job_createv(sumv, NULL, NULL, 0, NULL);
    sp_dep d = DJ(a);
    ck_assert_int_eq(sp_job_schedule(p, 0, b, 1, &d), SP_ESTATE);
    sp_dep bad = {.job = a, .trigger = (sp_trigger *)1};
    ck_assert_int_eq(sp_job_schedule(p, 0, b, 1, &bad), SP_EINVAL);
    sp_dep self = DJ(b);
    ck_assert_int_eq(sp_job_schedule(p, 0, b, 1, &self), SP_ESTATE);
    sp_trigger *t = sp_trigger_create(SP_TRIGGER_COUNT, 1, NULL);
    sp_dep dt = DT(t);
    ck_assert_int_eq(sp_job_schedule(p, 0, a, 1, &dt), 0);
    ck_assert_int_eq(sp_job_schedule(p, 0, a, 1, &dt), SP_EBUSY);
    ck_assert_int_eq(sp_job_start(p, 0, a), SP_EBUSY);
    ck_assert_int_eq(sp_job_add_args(a, 0, NULL), SP_EBUSY);
    /* a is scheduled: it may be a dependency now */
    ck_assert_int_eq(sp_job_schedule(p, 0, b, 1, &d), 0);
    ck_assert_int_eq(sp_job_state(a), SP_JOB_CREATED);
    ck_assert_int_eq(sp_trigger_update(t, NULL), 0);
    sp_job_wait(b);
    ck_assert_int_eq(sp_job_state(a), SP_JOB_DONE);
    ck_assert_int_eq(sp_job_state(b), SP_JOB_DONE);
    ck_assert_int_eq(sp_job_schedule(p, 0, b, 0, NULL), SP_EBUSY);
    sp_job_release(a);
    sp_job_release(b);
    sp_trigger_release(t);
    sp_job *c = sp_job_createv(sumv, NULL, NULL, 0, NULL);
    sp_job *e = sp_job_createv(sumv, NULL, NULL, 0, NULL);
    ck_assert_int_eq(sp_job_start(p, 0, e), 0);
    sp_job_wait(e);
    sp_pool_retain(p);
    sp_pool_close(p, 1);
    sp_dep de = DJ(e);
    ck_assert_int_eq(sp_job_schedule(p, 0, c, 0, NULL), SP_ECLOSED);
    ck_assert_int_eq(sp_job_schedule(p, 0, c, 1, &de), SP_ECLOSED);
    sp_pool_release(p);
    sp_job_release(c);
    sp_job_release(e);
}
END_TEST

/* result = first argument + 1 (a fresh value), or 1 without arguments */
static void *inc(void *ud, size_t argc, void *const *argv)
{
    (void)ud;
    return V(argc ? ((val *)argv[argc - 1])->n + 1 : 1);
}

START_TEST(test_chain_1000)
{
    counts_reset();
    sp_pool *p = sp_pool_create(_i);
    enum { L = 1000 };
    sp_job **js = calloc(L, sizeof *js);
    for (int i = 0; i < L; i++) {
        js[i] = sp_job_createv(inc, NULL, &OPS, 0, NULL);
        sp_dep d = DJ(i ? js[i - 1] : NULL);
        ck_assert_int_eq(sp_job_schedule(p, 0, js[i], i ? 1 : 0, &d), 0);
    }
    ck_assert_int_eq(N(sp_job_wait(js[L - 1])), L);
    for (int i = 0; i < L; i++) {
        ck_assert_int_eq(sp_job_state(js[i]), SP_JOB_DONE);
        sp_job_release(js[i]);
    }
    free(js);
    sp_pool_close(p, 1);
    counts_check();
}
END_TEST

static _Atomic int g_runs;

static void *counted_sum(void *ud, size_t argc, void *const *argv)
{
    atomic_fetch_add(&g_runs, 1);
    return sumv(ud, argc, argv);
}

START_TEST(test_diamond)
{
    counts_reset();
    atomic_store(&g_runs, 0);
    sp_pool *p = sp_pool_create(_i);
    sp_job *a = sp_job_createv(counted_sum, (void *)1, &OPS, 0, NULL);
    sp_job *b = sp_job_createv(counted_sum, NULL, &OPS, 0, NULL);
    sp_job *c = sp_job_createv(counted_sum, (void *)2, &OPS, 0, NULL);
    sp_job *d = sp_job_createv(counted_sum, NULL, &OPS, 0, NULL);
    sp_dep da = DJ(a);
    sp_dep dbc[] = {DJ(b), DJ(c)};
    ck_assert_int_eq(sp_job_start(p, 0, a), 0);
    ck_assert_int_eq(sp_job_schedule(p, 0, b, 1, &da), 0);
    ck_assert_int_eq(sp_job_schedule(p, 0, c, 1, &da), 0);
    ck_assert_int_eq(sp_job_schedule(p, 0, d, 2, dbc), 0);
    /* b = 1, c = 21, d = 1*10 + 21 = 31 */
    ck_assert_int_eq(N(sp_job_wait(d)), 31);
    ck_assert_int_eq(atomic_load(&g_runs), 4);
    sp_job_release(a);
    sp_job_release(b);
    sp_job_release(c);
    sp_job_release(d);
    sp_pool_close(p, 1);
    counts_check();
}
END_TEST

static void *fails(void *ud, size_t argc, void *const *argv)
{
    (void)ud, (void)argc, (void)argv;
    sp_job_fail("boom %d", 7);
    return V(5); /* ignored, but owned: released with the job */
}

START_TEST(test_dep_failed_or_cancelled)
{
    counts_reset();
    atomic_store(&g_runs, 0);
    sp_pool *p = sp_pool_create(_i);
    sp_job *a = sp_job_createv(fails, NULL, &OPS, 0, NULL);
    sp_job_set_name(a, "a");
    sp_job *b = sp_job_createv(counted_sum, NULL, &OPS, 0, NULL);
    sp_job *c = sp_job_createv(counted_sum, NULL, &OPS, 0, NULL);
    sp_dep da = DJ(a), db = DJ(b);
    ck_assert_int_eq(sp_job_start(p, 0, a), 0);
    ck_assert_int_eq(sp_job_schedule(p, 0, b, 1, &da), 0);
    ck_assert_int_eq(sp_job_schedule(p, 0, c, 1, &db), 0);
    ck_assert_int_eq(sp_job_join(c, NULL), SP_EFAILED);
    ck_assert_int_eq(sp_job_join(b, NULL), SP_EFAILED);
    ck_assert_str_eq(sp_job_error(b), "dependency a failed: boom 7");
    ck_assert_str_eq(sp_job_error(c),
                     "dependency  failed: dependency a failed: boom 7");
    /* cancelled: a dependency waiting on a trigger is cancelled */
    sp_trigger *t = sp_trigger_create(SP_TRIGGER_COUNT, 1, NULL);
    sp_job *x = sp_job_createv(counted_sum, NULL, &OPS, 0, NULL);
    sp_job *y = sp_job_createv(counted_sum, NULL, &OPS, 0, NULL);
    sp_dep dt = DT(t), dx = DJ(x);
    ck_assert_int_eq(sp_job_schedule(p, 0, x, 1, &dt), 0);
    ck_assert_int_eq(sp_job_schedule(p, 0, y, 1, &dx), 0);
    ck_assert_int_eq(sp_job_cancel(x), 0);
    ck_assert_int_eq(sp_job_join(y, NULL), SP_ECANCELED);
    ck_assert_int_eq(sp_trigger_update(t, NULL), 0); /* too late: no run */
    ck_assert_int_eq(sp_job_state(x), SP_JOB_CANCELLED);
    ck_assert_int_eq(atomic_load(&g_runs), 0);
    sp_job_release(a);
    sp_job_release(b);
    sp_job_release(c);
    sp_job_release(x);
    sp_job_release(y);
    sp_trigger_release(t);
    sp_pool_close(p, 1);
    counts_check();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("coord");
    TCase *tc = tcase_create("deps");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_args, 0, 3);
    tcase_add_test(tc, test_args_plain_job_has_none);
    tcase_add_loop_test(tc, test_dep_results_in_order, 0, 3);
    tcase_add_loop_test(tc, test_schedule_errors, 0, 3);
    tcase_add_loop_test(tc, test_chain_1000, 0, 3);
    tcase_add_loop_test(tc, test_diamond, 0, 3);
    tcase_add_loop_test(tc, test_dep_failed_or_cancelled, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
