/* test_coord.c - the coordination layer: argument-list jobs, dependencies
 * (sp_job_schedule), triggers, channels and syncvars, each on a pseudo
 * pool (0 workers), 1 and 2 workers (loop tests: _i = workers). Values
 * are counted: every retain must be matched by a release. */
#include "internal.h"

#include <check.h>
#include "check_main.h"
#include <sched.h>
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
    ck_assert_int_eq(r, d); /* every reference dropped exactly once */
    ck_assert_int_eq(alive, 0);
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
    counts_reset();
    sp_pool *p = sp_pool_create(_i);
    sp_job *a = sp_job_createv(sumv, NULL, &OPS, 0, NULL);
    sp_job *b = sp_job_createv(sumv, NULL, &OPS, 0, NULL);
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
    sp_job *c = sp_job_createv(sumv, NULL, &OPS, 0, NULL);
    sp_job *e = sp_job_createv(sumv, NULL, &OPS, 0, NULL);
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
    counts_check();
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

/* close: a wait runs scheduled jobs whose dependencies complete; jobs
 * whose dependencies never complete end CANCELLED (never lost) */
START_TEST(test_close_with_pending)
{
    counts_reset();
    sp_pool *p = sp_pool_create(_i);
    enum { L = 50 };
    sp_job *js[L];
    for (int i = 0; i < L; i++) {
        js[i] = sp_job_createv(inc, NULL, &OPS, 0, NULL);
        sp_dep d = DJ(i ? js[i - 1] : NULL);
        ck_assert_int_eq(sp_job_schedule(p, 0, js[i], i ? 1 : 0, &d), 0);
    }
    sp_trigger *never = sp_trigger_create(SP_TRIGGER_COUNT, 1, NULL);
    sp_job *stuck = sp_job_createv(inc, NULL, &OPS, 0, NULL);
    sp_dep dn = DT(never);
    ck_assert_int_eq(sp_job_schedule(p, 0, stuck, 1, &dn), 0);
    if (_i > 0) /* workers: close's "nothing moves any more" is timing */
        sp_job_wait(js[L - 1]);
    ck_assert_int_eq(sp_pool_close(p, 1), 1);
    for (int i = 0; i < L; i++) {
        ck_assert_int_eq(sp_job_state(js[i]), SP_JOB_DONE);
        sp_job_release(js[i]);
    }
    ck_assert_int_eq(sp_job_join(stuck, NULL), SP_ECANCELED);
    sp_job_release(stuck);
    sp_trigger_release(never);
    counts_check();
}
END_TEST

/* ---- triggers ---- */

START_TEST(test_trigger_create_bad)
{
    ck_assert_ptr_null(sp_trigger_create(SP_TRIGGER_ACC, 0, NULL));
    ck_assert_ptr_null(sp_trigger_create(SP_TRIGGER_COUNT, 0, NULL));
    ck_assert_ptr_null(sp_trigger_create(SP_TRIGGER_SET, 0, NULL));
    ck_assert_ptr_null(sp_trigger_create(SP_TRIGGER_FN, 1, NULL));
    ck_assert_ptr_null(sp_trigger_create_fn(NULL, NULL, NULL));
    ck_assert_int_eq(sp_trigger_update(NULL, NULL), SP_EINVAL);
}
END_TEST

START_TEST(test_trigger_acc)
{
    counts_reset();
    sp_trigger *t = sp_trigger_create(SP_TRIGGER_ACC, 3, &OPS);
    ck_assert_int_eq(sp_trigger_kind_of(t), SP_TRIGGER_ACC);
    val *v[4] = {V(3), V(1), V(2), V(4)};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(sp_trigger_fired(t), 0);
        ck_assert_ptr_null(sp_trigger_values(t));
        ck_assert_int_eq(sp_trigger_update(t, v[i]), 0);
        ck_assert_uint_eq(sp_trigger_count(t), (size_t)i + 1);
    }
    ck_assert_int_eq(sp_trigger_fired(t), 1);
    ck_assert_int_eq(sp_trigger_update(t, v[3]), 1); /* ignored */
    ck_assert_uint_eq(sp_trigger_count(t), 3);
    const sp_list *l = sp_trigger_values(t);
    ck_assert_uint_eq(l->n, 3);
    ck_assert_int_eq(N(l->v[0]) * 100 + N(l->v[1]) * 10 + N(l->v[2]), 312);
    ck_assert_int_eq(sp_trigger_wait(t), 0); /* fired: returns at once */
    for (int i = 0; i < 4; i++)
        vdrop(v[i]);
    sp_trigger_release(t);
    counts_check();
}
END_TEST

START_TEST(test_trigger_count)
{
    sp_trigger *t = sp_trigger_create(SP_TRIGGER_COUNT, 2, NULL);
    ck_assert_int_eq(sp_trigger_update(t, (void *)7), 0);
    ck_assert_int_eq(sp_trigger_fired(t), 0);
    ck_assert_int_eq(sp_trigger_update(t, NULL), 0);
    ck_assert_int_eq(sp_trigger_fired(t), 1);
    ck_assert_int_eq(sp_trigger_update(t, NULL), 1);
    ck_assert_uint_eq(sp_trigger_count(t), 2);
    ck_assert_ptr_null(sp_trigger_values(t));
    sp_trigger_release(t);
}
END_TEST

START_TEST(test_trigger_set)
{
    counts_reset();
    sp_trigger *t = sp_trigger_create(SP_TRIGGER_SET, 3, &OPS);
    val *e[5] = {V(0), V(4), V(2), V(1), V(3)};
    ck_assert_int_eq(sp_trigger_update(t, e[0]), SP_EINVAL);
    ck_assert_int_eq(sp_trigger_update(t, e[1]), SP_EINVAL);
    ck_assert_int_eq(sp_trigger_update(t, NULL), SP_EINVAL); /* to_long */
    ck_assert_uint_eq(sp_trigger_count(t), 0);
    ck_assert_int_eq(sp_trigger_update(t, e[2]), 0);
    ck_assert_int_eq(sp_trigger_update(t, e[2]), 0); /* repeats are fine */
    ck_assert_int_eq(sp_trigger_update(t, e[3]), 0);
    ck_assert_uint_eq(sp_trigger_count(t), 2);
    ck_assert_int_eq(sp_trigger_fired(t), 0);
    ck_assert_int_eq(sp_trigger_update(t, e[4]), 0);
    ck_assert_int_eq(sp_trigger_fired(t), 1);
    ck_assert_int_eq(sp_trigger_update(t, e[0]), 1); /* fired: ignored */
    sp_trigger_release(t);
    /* without ops: the element is the pointer's integer value */
    t = sp_trigger_create(SP_TRIGGER_SET, 2, NULL);
    ck_assert_int_eq(sp_trigger_update(t, (void *)3), SP_EINVAL);
    ck_assert_int_eq(sp_trigger_update(t, (void *)2), 0);
    ck_assert_int_eq(sp_trigger_update(t, (void *)1), 0);
    ck_assert_int_eq(sp_trigger_fired(t), 1);
    sp_trigger_release(t);
    for (int i = 0; i < 5; i++)
        vdrop(e[i]);
    counts_check();
}
END_TEST

static int over_ten(void *ud, void *value)
{
    atomic_fetch_add((_Atomic int *)ud, 1);
    return (intptr_t)value > 10;
}

START_TEST(test_trigger_fn)
{
    _Atomic int calls = 0;
    sp_trigger *t = sp_trigger_create_fn(over_ten, &calls, NULL);
    ck_assert_int_eq(sp_trigger_kind_of(t), SP_TRIGGER_FN);
    ck_assert_int_eq(sp_trigger_update(t, (void *)5), 0);
    ck_assert_int_eq(sp_trigger_fired(t), 0);
    ck_assert_int_eq(sp_trigger_update(t, (void *)11), 0);
    ck_assert_int_eq(sp_trigger_fired(t), 1);
    ck_assert_int_eq(sp_trigger_update(t, (void *)12), 1);
    ck_assert_int_eq(calls, 2); /* not called once fired */
    ck_assert_uint_eq(sp_trigger_count(t), 2);
    sp_trigger_release(t);
}
END_TEST

static void *list_len_sum(void *ud, size_t argc, void *const *argv)
{
    (void)ud;
    /* argv[0] is an unpacked const sp_list * (ops without pack) */
    const sp_list *l = argv[0];
    long s = (long)argc * 1000 + (long)l->n * 100;
    for (size_t i = 0; i < l->n; i++)
        s += ((val *)l->v[i])->n;
    return V(s);
}

START_TEST(test_trigger_deps)
{
    counts_reset();
    atomic_store(&g_packs, 0);
    sp_pool *p = sp_pool_create(_i);
    sp_trigger *acc = sp_trigger_create(SP_TRIGGER_ACC, 2, &OPS);
    sp_trigger *cnt = sp_trigger_create(SP_TRIGGER_COUNT, 1, NULL);
    sp_job *a = sp_job_createv(sumv, NULL, &OPS, 0, NULL);
    sp_job *j = sp_job_createv(sumv, (void *)5, &OPS, 0, NULL);
    sp_dep d[] = {DT(cnt), DJ(a), DT(acc)};
    ck_assert_int_eq(sp_job_schedule(p, 0, a, 1, &d[0]), 0);
    ck_assert_int_eq(sp_job_schedule(p, 0, j, 3, d), 0);
    val *x = V(7), *y = V(8);
    sp_trigger_update(acc, x);
    sp_trigger_update(cnt, NULL);
    sp_trigger_update(acc, y);
    /* a = 0 (no args); acc packed = 78; j = 5, 0, 78 -> 5*10+0 -> 50*10+78 */
    ck_assert_int_eq(N(sp_job_wait(j)), 578);
    ck_assert_int_eq(atomic_load(&g_packs), 1);
    /* without pack: the trigger's own list, kept alive with the job */
    sp_value_ops nopack = OPS;
    nopack.pack = NULL;
    sp_trigger *acc2 = sp_trigger_create(SP_TRIGGER_ACC, 2, &nopack);
    sp_job *k = sp_job_createv(list_len_sum, NULL, &OPS, 0, NULL);
    sp_dep d2 = DT(acc2);
    sp_trigger_update(acc2, x);
    ck_assert_int_eq(sp_job_schedule(p, 0, k, 1, &d2), 0);
    sp_trigger_update(acc2, y);
    sp_trigger_release(acc2); /* the job keeps it */
    ck_assert_int_eq(N(sp_job_wait(k)), 1215);
    /* a copy borrows the same list (and keeps the trigger too) */
    sp_job *k2 = sp_job_copy(k, 0, NULL);
    sp_job_release(k);
    ck_assert_int_eq(sp_job_start(p, 0, k2), 0);
    ck_assert_int_eq(N(sp_job_wait(k2)), 1215);
    sp_job_release(k2);
    sp_job_release(a);
    sp_job_release(j);
    sp_trigger_release(acc);
    sp_trigger_release(cnt);
    vdrop(x);
    vdrop(y);
    sp_pool_close(p, 1);
    counts_check();
}
END_TEST

START_TEST(test_trigger_chain)
{
    counts_reset();
    sp_pool *p = sp_pool_create(_i);
    sp_trigger *two = sp_trigger_create(SP_TRIGGER_ACC, 2, &OPS);
    sp_trigger *down = sp_trigger_create(SP_TRIGGER_ACC, 1, &OPS);
    sp_trigger *cnt = sp_trigger_create(SP_TRIGGER_COUNT, 1, NULL);
    sp_trigger *never = sp_trigger_create(SP_TRIGGER_COUNT, 1, NULL);
    ck_assert_int_eq(sp_trigger_chain(down, two), 0);
    ck_assert_int_eq(sp_trigger_chain(cnt, down), 0);
    sp_job *a = sp_job_createv(sumv, (void *)4, &OPS, 0, NULL);
    sp_job *b = sp_job_createv(fails, NULL, &OPS, 0, NULL);
    sp_job *c = sp_job_createv(sumv, (void *)6, &OPS, 0, NULL);
    ck_assert_int_eq(sp_trigger_chain_job(two, a), 0); /* CREATED is fine */
    ck_assert_int_eq(sp_trigger_chain_job(two, b), 0); /* fails: no update */
    sp_job *unstarted = sp_job_createv(sumv, NULL, &OPS, 0, NULL);
    ck_assert_int_eq(sp_trigger_chain_job(never, unstarted), 0);
    sp_job_release(unstarted); /* freed unstarted: drops its hold on never */
    sp_job_start(p, 0, a);
    sp_job_start(p, 0, b);
    sp_job_wait(a);
    sp_job_wait(b);
    ck_assert_int_eq(sp_trigger_fired(two), 0);
    sp_job_start(p, 0, c);
    sp_job_wait(c);
    ck_assert_int_eq(sp_trigger_chain_job(two, c), 0); /* ended: now */
    ck_assert_int_eq(sp_trigger_fired(two), 1);
    ck_assert_int_eq(sp_trigger_fired(down), 1);
    ck_assert_int_eq(sp_trigger_fired(cnt), 1);
    ck_assert_int_eq(N(sp_trigger_values(down)->v[0]), 46);
    /* chaining to a fired trigger updates at once */
    sp_trigger *late = sp_trigger_create(SP_TRIGGER_COUNT, 1, NULL);
    ck_assert_int_eq(sp_trigger_chain(late, cnt), 0);
    ck_assert_int_eq(sp_trigger_fired(late), 1);
    ck_assert_int_eq(sp_trigger_chain(late, late), SP_EINVAL);
    sp_trigger_release(late);
    sp_job_release(a);
    sp_job_release(b);
    sp_job_release(c);
    sp_trigger_release(two);
    sp_trigger_release(down);
    sp_trigger_release(cnt);
    sp_trigger_release(never);
    sp_pool_close(p, 1);
    counts_check();
}
END_TEST

static void count_cleanup(void *arg, void *result, sp_state st, void *ud)
{
    (void)arg, (void)result, (void)st;
    atomic_fetch_add((_Atomic int *)ud, 1);
}

/* cancel_on: a trigger holds its jobs until it fires or is freed */
START_TEST(test_trigger_cancel_on_refs)
{
    _Atomic int freed = 0;
    sp_trigger *never = sp_trigger_create(SP_TRIGGER_COUNT, 1, NULL);
    sp_job *x = sp_job_createv(sumv, NULL, &OPS, 0, NULL);
    sp_job_set_cleanup(x, count_cleanup, &freed);
    ck_assert_int_eq(sp_trigger_cancel_on(never, x), 0);
    sp_job_release(x);
    ck_assert_int_eq(atomic_load(&freed), 0); /* the trigger holds it */
    sp_trigger_release(never);
    ck_assert_int_eq(atomic_load(&freed), 1);
    sp_trigger *fired = sp_trigger_create(SP_TRIGGER_COUNT, 1, NULL);
    sp_trigger_update(fired, NULL);
    sp_job *y = sp_job_createv(sumv, NULL, &OPS, 0, NULL);
    ck_assert_int_eq(sp_trigger_cancel_on(fired, y), 0); /* at once */
    ck_assert_int_eq(sp_job_state(y), SP_JOB_CANCELLED);
    ck_assert_int_eq(sp_trigger_cancel_on(NULL, y), SP_EINVAL);
    sp_job_release(y);
    sp_trigger_release(fired);
}
END_TEST

typedef struct {
    sp_trigger *t;
    sp_chan *c;
    sp_syncvar *sv;
    sp_trigger *started;
} shared_t;

static void *wait_trig(void *arg)
{
    shared_t *s = arg;
    if (s->started)
        sp_trigger_update(s->started, NULL);
    int rc = sp_trigger_wait(s->t);
    return (void *)(intptr_t)(rc == 0 ? 1 : rc);
}

static void *plain_wait_trig(void *arg)
{
    return wait_trig(arg);
}

static void *update_trig(void *arg)
{
    shared_t *s = arg;
    sp_trigger_update(s->t, NULL);
    return NULL;
}

START_TEST(test_trigger_wait)
{
    sp_pool *p = sp_pool_create(_i);
    enum { W = 50 };
    shared_t s = {.t = sp_trigger_create(SP_TRIGGER_COUNT, 3, NULL),
                  .started = sp_trigger_create(SP_TRIGGER_COUNT, W, NULL)};
    sp_job *w[W], *u[3];
    for (int i = 0; i < W; i++) {
        w[i] = sp_job_create(wait_trig, &s);
        sp_job_start(p, 0, w[i]);
    }
    pthread_t th;
    pthread_create(&th, NULL, plain_wait_trig, &(shared_t){.t = s.t});
    ck_assert_int_eq(sp_trigger_wait(s.started), 0); /* runs pseudo pools */
    for (int i = 0; i < 3; i++) {
        u[i] = sp_job_create(update_trig, &s);
        sp_job_start(p, 0, u[i]);
    }
    ck_assert_int_eq(sp_trigger_wait(s.t), 0);
    for (int i = 0; i < W; i++) {
        ck_assert_ptr_eq(sp_job_wait(w[i]), (void *)1);
        sp_job_release(w[i]);
    }
    void *r;
    pthread_join(th, &r);
    ck_assert_ptr_eq(r, (void *)1);
    for (int i = 0; i < 3; i++) {
        sp_job_wait(u[i]);
        sp_job_release(u[i]);
    }
    sp_trigger_release(s.t);
    sp_trigger_release(s.started);
    sp_pool_close(p, 1);
}
END_TEST

/* ---- first of N ---- */

static void *spin_until_cancelled(void *ud, size_t argc, void *const *argv)
{
    (void)argc, (void)argv;
    sp_trigger_update(ud, NULL); /* running */
    const volatile int *flag = sp_poll_flag();
    for (unsigned long i = 0;; i++) {
        if (__atomic_load_n(flag, __ATOMIC_RELAXED))
            sp_checkpoint(); /* ends the job once cancelled */
        if ((i & 1023) == 0)
            sp_yield(); /* pseudo pools have no time slices */
    }
    return NULL;
}

static void *winner(void *ud, size_t argc, void *const *argv)
{
    (void)argc, (void)argv;
    sp_trigger *started = ud;
    sp_trigger_wait(started); /* every spinner has run */
    return V(42);
}

START_TEST(test_first_of_n)
{
    counts_reset();
    sp_pool *p = sp_pool_create(_i);
    enum { S = 40 };
    sp_trigger *first = sp_trigger_create(SP_TRIGGER_ACC, 1, &OPS);
    sp_trigger *started = sp_trigger_create(SP_TRIGGER_COUNT, S, NULL);
    sp_job *js[S + 1];
    for (int i = 0; i < S; i++)
        js[i] = sp_job_createv(spin_until_cancelled, started, &OPS, 0, NULL);
    js[S] = sp_job_createv(winner, started, &OPS, 0, NULL);
    for (int i = 0; i <= S; i++) {
        ck_assert_int_eq(sp_trigger_chain_job(first, js[i]), 0);
        ck_assert_int_eq(sp_trigger_cancel_on(first, js[i]), 0);
    }
    /* the winner ends once every spinner has run: then its result fires
     * 'first', which cancels all the others, running ones included */
    for (int i = 0; i <= S; i++)
        ck_assert_int_eq(sp_job_start(p, 0, js[i]), 0);
    ck_assert_int_eq(sp_trigger_wait(first), 0);
    ck_assert_int_eq(N(sp_trigger_values(first)->v[0]), 42);
    ck_assert_int_eq(sp_job_join(js[S], NULL), 0);
    for (int i = 0; i < S; i++)
        ck_assert_int_eq(sp_job_join(js[i], NULL), SP_ECANCELED);
    for (int i = 0; i <= S; i++)
        sp_job_release(js[i]);
    sp_trigger_release(first);
    sp_trigger_release(started);
    sp_pool_close(p, 1);
    counts_check();
}
END_TEST

/* deferred cancel: waits return SP_ECANCELED; normal jobs end there */
static void *defer_waits(void *arg)
{
    shared_t *s = arg;
    sp_trigger_update(s->started, NULL);
    void *v;
    int r1 = sp_trigger_wait(s->t);
    int r2 = sp_chan_recv(s->c, &v);
    int r3 = sp_syncvar_read(s->sv, &v);
    return (void *)(intptr_t)(r1 == SP_ECANCELED && r2 == SP_ECANCELED &&
                              r3 == SP_ECANCELED);
}

static void *chan_waiter(void *arg)
{
    shared_t *s = arg;
    sp_trigger_update(s->started, NULL);
    void *v;
    sp_chan_recv(s->c, &v);
    return (void *)1; /* never reached: cancelled in the receive */
}

static void *sv_waiter(void *arg)
{
    shared_t *s = arg;
    sp_trigger_update(s->started, NULL);
    void *v;
    sp_syncvar_read(s->sv, &v);
    return (void *)1;
}

START_TEST(test_cancel_in_waits)
{
    sp_pool *p = sp_pool_create(_i);
    shared_t s = {.t = sp_trigger_create(SP_TRIGGER_COUNT, 1, NULL),
                  .c = sp_chan_create(NULL),
                  .sv = sp_syncvar_create(NULL),
                  .started = sp_trigger_create(SP_TRIGGER_COUNT, 4, NULL)};
    sp_job *d = sp_job_create(defer_waits, &s);
    sp_job_set_flags(d, SP_JOB_DEFER_CANCEL);
    sp_job *n[3] = {sp_job_create(wait_trig, &s), sp_job_create(chan_waiter, &s),
                    sp_job_create(sv_waiter, &s)};
    sp_job_start(p, 0, d);
    for (int i = 0; i < 3; i++)
        sp_job_start(p, 0, n[i]);
    sp_trigger_wait(s.started);
    /* all four are (about to be) suspended; cancel them */
    ck_assert_int_ge(sp_job_cancel(d), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_ge(sp_job_cancel(n[i]), 0);
        ck_assert_int_eq(sp_job_join(n[i], NULL), SP_ECANCELED);
        sp_job_release(n[i]);
    }
    void *r = NULL;
    ck_assert_int_eq(sp_job_join(d, &r), 0);
    ck_assert_ptr_eq(r, (void *)1);
    sp_job_release(d);
    /* the channel lost no receiver record: an item sent now stays */
    ck_assert_int_eq(sp_chan_send(s.c, (void *)5), 0);
    ck_assert_uint_eq(sp_chan_count(s.c), 1);
    sp_trigger_release(s.t);
    sp_trigger_release(s.started);
    sp_chan_release(s.c);
    sp_syncvar_release(s.sv);
    sp_pool_close(p, 1);
}
END_TEST

/* ---- channels ---- */

START_TEST(test_chan_basic)
{
    counts_reset();
    sp_chan *c = sp_chan_create(&OPS);
    void *v;
    ck_assert_int_eq(sp_chan_try_recv(c, &v), SP_EBUSY);
    val *x[40];
    for (int i = 0; i < 40; i++) { /* past the first ring size */
        x[i] = V(i);
        ck_assert_int_eq(sp_chan_send(c, x[i]), 0);
    }
    ck_assert_uint_eq(sp_chan_count(c), 40);
    for (int i = 0; i < 30; i++) {
        ck_assert_int_eq(i % 2 ? sp_chan_recv(c, &v) : sp_chan_try_recv(c, &v),
                         0);
        ck_assert_ptr_eq(v, x[i]);
        vrelease(v); /* the receiver got the channel's reference */
    }
    for (int i = 0; i < 40; i++)
        vdrop(x[i]);
    sp_chan_release(c); /* releases the 10 items left */
    counts_check();
}
END_TEST

typedef struct {
    sp_chan *c;
    long from, n;
    _Atomic long *sum;
} pc_t;

static void *producer(void *arg)
{
    pc_t *a = arg;
    for (long i = 0; i < a->n; i++) {
        sp_chan_send(a->c, (void *)(intptr_t)(a->from + i));
        if (i % 7 == 0)
            sp_yield();
    }
    return NULL;
}

static void *consumer(void *arg)
{
    pc_t *a = arg;
    long got = 0;
    for (;;) {
        void *v;
        if (sp_chan_recv(a->c, &v) != 0)
            return NULL;
        if ((intptr_t)v == -1)
            break;
        atomic_fetch_add(a->sum, (long)(intptr_t)v);
        got++;
    }
    return (void *)(intptr_t)got;
}

START_TEST(test_chan_producer_consumer)
{
    sp_pool *p = sp_pool_create(_i);
    enum { P = 20, C = 30, PER = 500 };
    _Atomic long sum = 0;
    sp_chan *c = sp_chan_create(NULL);
    pc_t pa[P], ca = {.c = c, .sum = &sum};
    sp_job *pj[P], *cj[C];
    for (int i = 0; i < C; i++) {
        cj[i] = sp_job_create(consumer, &ca);
        sp_job_start(p, 0, cj[i]);
    }
    for (int i = 0; i < P; i++) {
        pa[i] = (pc_t){.c = c, .from = (long)i * PER + 1, .n = PER};
        pj[i] = sp_job_create(producer, &pa[i]);
        sp_job_start(p, 0, pj[i]);
    }
    for (int i = 0; i < P; i++) {
        sp_job_wait(pj[i]);
        sp_job_release(pj[i]);
    }
    for (int i = 0; i < C; i++)
        sp_chan_send(c, (void *)(intptr_t)-1);
    long got = 0;
    for (int i = 0; i < C; i++) {
        got += (long)(intptr_t)sp_job_wait(cj[i]);
        sp_job_release(cj[i]);
    }
    long n = (long)P * PER;
    ck_assert_int_eq(got, n);
    ck_assert_int_eq(atomic_load(&sum), n * (n + 1) / 2);
    ck_assert_uint_eq(sp_chan_count(c), 0);
    sp_chan_release(c);
    sp_pool_close(p, 1);
}
END_TEST

static void *blocked_recv(void *arg)
{
    shared_t *s = arg;
    sp_trigger_update(s->started, NULL);
    void *v = NULL;
    if (sp_chan_recv(s->c, &v) != 0)
        return NULL;
    return v;
}

START_TEST(test_chan_10000_blocked)
{
    int nw = _i;
    sp_pool *p = sp_pool_create(nw);
    /* under TSan each blocked job is a TSan fiber of its own, which costs
     * milliseconds to create: 10,000 took minutes there */
#ifdef SP_TSAN
    enum { R = 300 };
#else
    enum { R = 10000 };
#endif
    shared_t s = {.c = sp_chan_create(NULL),
                  .started = sp_trigger_create(SP_TRIGGER_COUNT, R, NULL)};
    sp_job **js = calloc(R, sizeof *js);
    for (int i = 0; i < R; i++) {
        js[i] = sp_job_create(blocked_recv, &s);
        ck_assert_int_eq(sp_job_start(p, 0, js[i]), 0);
    }
    ck_assert_int_eq(sp_trigger_wait(s.started), 0);
    for (int i = 0; i < R; i++)
        ck_assert_int_eq(sp_chan_send(s.c, (void *)(intptr_t)(i + 1)), 0);
    long sum = 0;
    for (int i = 0; i < R; i++) {
        intptr_t v = (intptr_t)sp_job_wait(js[i]);
        if (nw == 0) /* no preemption: arrival order is start order */
            ck_assert_int_eq(v, i + 1);
        sum += v;
        sp_job_release(js[i]);
    }
    ck_assert_int_eq(sum, (long)R * (R + 1) / 2);
    free(js);
    sp_chan_release(s.c);
    sp_trigger_release(s.started);
    sp_pool_close(p, 1);
}
END_TEST

START_TEST(test_chan_plain_thread_recv_runs_pseudo)
{
    sp_pool *p = sp_pool_create(_i);
    sp_chan *c = sp_chan_create(NULL);
    pc_t pa = {.c = c, .from = 1, .n = 100};
    sp_job *j = sp_job_create(producer, &pa);
    sp_job_start(p, 0, j);
    long sum = 0;
    for (int i = 0; i < 100; i++) {
        void *v;
        ck_assert_int_eq(sp_chan_recv(c, &v), 0);
        ck_assert_int_eq((intptr_t)v, i + 1); /* FIFO */
        sum += (intptr_t)v;
    }
    ck_assert_int_eq(sum, 5050);
    sp_job_wait(j);
    sp_job_release(j);
    sp_chan_release(c);
    sp_pool_close(p, 1);
}
END_TEST

/* cancels racing with receivers entering their wait: none is lost (every
 * join returns), no receiver record is left behind */
static void *plain_recv(void *arg)
{
    void *v;
    sp_chan_recv(arg, &v);
    return (void *)1;
}

START_TEST(test_chan_cancel_race)
{
    sp_pool *p = sp_pool_create(_i);
    sp_chan *c = sp_chan_create(NULL);
    enum { K = 300 };
    for (int i = 0; i < K; i++) {
        sp_job *j = sp_job_create(plain_recv, c);
        sp_job_start(p, 0, j);
        if (i % 3 == 1)
            sched_yield(); /* let some reach the wait first */
        ck_assert_int_ge(sp_job_cancel(j), 0);
        ck_assert_int_eq(sp_job_join(j, NULL), SP_ECANCELED);
        sp_job_release(j);
    }
    ck_assert_int_eq(sp_chan_send(c, (void *)9), 0);
    ck_assert_uint_eq(sp_chan_count(c), 1);
    sp_chan_release(c);
    sp_pool_close(p, 1);
}
END_TEST

/* A receiver suspended in sp_chan_recv when its pool closed without
 * waiting is left suspended; a send then hands it an item. The item must
 * not be lost with the receiver's stack: the runtime resumes the job in
 * its wait, with its cancel set, so its recv returns the item it was
 * handed (a cancel is honoured at the next safe point, not where an item
 * was taken), or, had it not been handed one, gives it back to the
 * channel and ends CANCELLED. One receiver is a plain job, one
 * SP_JOB_DEFER_CANCEL (an interpreter's). Either way every item sent is
 * in a job's result or in the channel, and each job ended. */
typedef struct {
    sp_chan *c;
    _Atomic int in_recv, rc, after;
} rcv_t;

static void *rcv_fn(void *arg)
{
    rcv_t *r = arg;
    void *it = NULL;
    atomic_store(&r->in_recv, 1);
    int rc = sp_chan_recv(r->c, &it);
    atomic_store(&r->rc, rc);
    atomic_store(&r->after, 1);
    return it;
}

static int workers_parked(sp_pool *p)
{
    for (int k = 0; k < atomic_load(&p->nw); k++)
        if (atomic_load(&p->workers[k]->idle) != SP__W_PARKED)
            return 0;
    return 1;
}

START_TEST(test_chan_handed_after_close)
{
    counts_reset();
    sp_pool *p = sp_pool_create(_i);
    sp_chan *c = sp_chan_create(&OPS);
    rcv_t r[2] = {{.c = c}, {.c = c}};
    sp_job *j[2];
    for (int k = 0; k < 2; k++) {
        j[k] = sp_job_create(rcv_fn, &r[k]);
        if (k == 1)
            sp_job_set_flags(j[k], SP_JOB_DEFER_CANCEL);
        ck_assert_int_eq(sp_job_start(p, 0, j[k]), 0);
    }
    /* both suspended in their wait: every worker asleep */
    for (int t = 0; t < 100000 && !(atomic_load(&r[0].in_recv) &&
                                    atomic_load(&r[1].in_recv) && workers_parked(p));
         t++)
        sched_yield();
    ck_assert(workers_parked(p));
    ck_assert_int_eq(sp_pool_close(p, 0), 2); /* left suspended */
    for (int k = 0; k < 2; k++) {
        val *v = V(k + 1);
        ck_assert_int_eq(sp_chan_send(c, v), 0); /* handed to a receiver */
        vdrop(v);
    }
    long sum = 0;
    int items = 0;
    for (int k = 0; k < 2; k++) {
        void *res = NULL;
        int rc = sp_job_join(j[k], &res);
        if (rc == 0 && atomic_load(&r[k].rc) == 0) {
            /* its recv returned the item it was handed */
            ck_assert_ptr_nonnull(res);
            sum += N(res);
            items++;
            vrelease(res);
        } else if (rc == 0) { /* deferred: its recv said SP_ECANCELED */
            ck_assert_int_eq(k, 1);
            ck_assert_int_eq(atomic_load(&r[k].rc), SP_ECANCELED);
            ck_assert_ptr_null(res);
        } else {
            ck_assert_int_eq(rc, SP_ECANCELED);
        }
        sp_job_release(j[k]);
    }
    /* the deferred one's code went on past its recv in any case */
    ck_assert_int_eq(atomic_load(&r[1].after), 1);
    while (sp_chan_count(c) > 0) { /* the rest was given back */
        void *a = NULL;
        ck_assert_int_eq(sp_chan_try_recv(c, &a), 0);
        sum += N(a);
        items++;
        vrelease(a);
    }
    ck_assert_int_eq(items, 2);
    ck_assert_int_eq(sum, 3);
    sp_chan_release(c);
    counts_check();
}
END_TEST

/* ---- syncvars ---- */

static void *sv_read(void *arg)
{
    shared_t *s = arg;
    void *v = NULL;
    if (sp_syncvar_read(s->sv, &v) != 0)
        return NULL;
    return v;
}

START_TEST(test_syncvar)
{
    counts_reset();
    sp_pool *p = sp_pool_create(_i);
    shared_t s = {.sv = sp_syncvar_create(&OPS)};
    enum { RD = 30 };
    sp_job *r[RD];
    for (int i = 0; i < RD; i++) {
        r[i] = sp_job_create(sv_read, &s);
        sp_job_start(p, 0, r[i]);
    }
    pthread_t th;
    pthread_create(&th, NULL, sv_read, &s);
    ck_assert_int_eq(sp_syncvar_written(s.sv), 0);
    val *x = V(11), *y = V(12);
    ck_assert_int_eq(sp_syncvar_write(s.sv, x), 0);
    ck_assert_int_eq(sp_syncvar_write(s.sv, y), SP_EBUSY);
    ck_assert_int_eq(sp_syncvar_written(s.sv), 1);
    for (int i = 0; i < RD; i++) {
        ck_assert_ptr_eq(sp_job_wait(r[i]), x);
        sp_job_release(r[i]);
    }
    void *tv;
    pthread_join(th, &tv);
    ck_assert_ptr_eq(tv, x);
    void *v;
    ck_assert_int_eq(sp_syncvar_read(s.sv, &v), 0);
    ck_assert_ptr_eq(v, x);
    vdrop(x);
    vdrop(y);
    sp_syncvar_release(s.sv);
    sp_pool_close(p, 1);
    counts_check();
}
END_TEST

/* ---- whole-program deadlocks (sp_deadlock_check) ---- */

static void *recv_job(void *arg)
{
    void *it = NULL;
    sp_chan_recv(arg, &it);
    return it;
}

static void *nap_send(void *arg) /* a job in "native code", then a send */
{
    nap_ms(150);
    sp_chan_send(arg, (void *)7);
    return NULL;
}

static void *waker_send(void *arg) /* a thread the runtime does not know */
{
    nap_ms(150);
    sp_chan_send(arg, (void *)9);
    sp_waker_remove();
    return NULL;
}

START_TEST(test_deadlock_reported)
{
    sp_deadlock_check(1);
    sp_pool *p = sp_pool_create(_i);
    sp_chan *c = sp_chan_create(NULL), *d = sp_chan_create(NULL);
    void *it = NULL;
    /* no job at all: a receive could never end */
    ck_assert_int_eq(sp_chan_recv(d, &it), SP_EDEADLK);
    ck_assert_ptr_null(it);
    /* a job suspended on c, and nothing else: joining it never ends */
    sp_job *a = sp_job_create(recv_job, c);
    ck_assert_int_eq(sp_job_start(p, 0, a), 0);
    ck_assert_int_eq(sp_job_join(a, NULL), SP_EDEADLK);
    ck_assert_int_eq(sp_job_finished(a), 0);
    /* the report unqueued the waiter cleanly: the job still completes */
    ck_assert_int_eq(sp_chan_send(c, (void *)5), 0);
    ck_assert_int_eq(sp_job_join(a, &it), 0);
    ck_assert_ptr_eq(it, (void *)5);
    sp_job_release(a);
    /* look-alikes that end: a job that sends after a nap (running, not
     * suspended), a thread counted as a waker */
    sp_job *b = sp_job_create(nap_send, d);
    ck_assert_int_eq(sp_job_start(p, 0, b), 0);
    if (_i == 0) { /* a pseudo pool runs in the waiting thread */
        ck_assert_int_eq(sp_job_join(b, NULL), 0);
    }
    ck_assert_int_eq(sp_chan_recv(d, &it), 0);
    ck_assert_ptr_eq(it, (void *)7);
    ck_assert_int_eq(sp_job_join(b, NULL), 0);
    sp_job_release(b);
    sp_waker_add();
    pthread_t th;
    pthread_create(&th, NULL, waker_send, d);
    ck_assert_int_eq(sp_chan_recv(d, &it), 0);
    ck_assert_ptr_eq(it, (void *)9);
    pthread_join(th, NULL);
    /* a syncvar and a trigger nobody can write or fire */
    sp_syncvar *v = sp_syncvar_create(NULL);
    ck_assert_int_eq(sp_syncvar_read(v, &it), SP_EDEADLK);
    sp_syncvar_release(v);
    sp_trigger *t = sp_trigger_create(SP_TRIGGER_COUNT, 1, NULL);
    ck_assert_int_eq(sp_trigger_wait(t), SP_EDEADLK);
    sp_trigger_release(t);
    sp_chan_release(c);
    sp_chan_release(d);
    sp_pool_close(p, 1);
    sp_deadlock_check(0);
}
END_TEST

static void *shutdown_later(void *arg)
{
    (void)arg;
    nap_ms(100);
    sp_shutdown();
    return NULL;
}

static void *long_nap(void *arg)
{
    (void)arg;
    nap_ms(2000);
    return NULL;
}

/* a plain thread's wait that the shutdown does not end by itself (no job
 * will ever send: the one that might is in "native code") ends within
 * 100 ms of it, with the check on or off */
START_TEST(test_shutdown_ends_plain_waits)
{
    sp_pool *p = sp_pool_create(1);
    sp_chan *c = sp_chan_create(NULL);
    sp_job *j = sp_job_create(long_nap, NULL);
    ck_assert_int_eq(sp_job_start(p, 0, j), 0);
    pthread_t th;
    pthread_create(&th, NULL, shutdown_later, NULL);
    void *it = NULL;
    uint64_t t0 = sp__now_ns();
    ck_assert_int_eq(sp_chan_recv(c, &it), SP_ECANCELED);
    uint64_t ms = (sp__now_ns() - t0) / 1000000;
    ck_assert_uint_lt(ms, 1500); /* the job naps 2 s: it was not waited for */
    pthread_join(th, NULL);
    sp_chan_release(c);
    sp_job_release(j);
    sp_pool_release(p);
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
    tcase_add_loop_test(tc, test_close_with_pending, 0, 3);
    suite_add_tcase(s, tc);
    tc = tcase_create("triggers");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_trigger_create_bad);
    tcase_add_test(tc, test_trigger_acc);
    tcase_add_test(tc, test_trigger_count);
    tcase_add_test(tc, test_trigger_set);
    tcase_add_test(tc, test_trigger_fn);
    tcase_add_loop_test(tc, test_trigger_deps, 0, 3);
    tcase_add_loop_test(tc, test_trigger_chain, 0, 3);
    tcase_add_test(tc, test_trigger_cancel_on_refs);
    tcase_add_loop_test(tc, test_trigger_wait, 0, 3);
    tcase_add_loop_test(tc, test_first_of_n, 0, 3);
    tcase_add_loop_test(tc, test_cancel_in_waits, 0, 3);
    suite_add_tcase(s, tc);
    tc = tcase_create("channels");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_chan_basic);
    tcase_add_loop_test(tc, test_chan_producer_consumer, 0, 3);
    tcase_add_loop_test(tc, test_chan_10000_blocked, 0, 3);
    tcase_add_loop_test(tc, test_chan_plain_thread_recv_runs_pseudo, 0, 3);
    tcase_add_loop_test(tc, test_chan_cancel_race, 0, 3);
    tcase_add_loop_test(tc, test_chan_handed_after_close, 1, 3);
    tcase_add_loop_test(tc, test_syncvar, 0, 3);
    suite_add_tcase(s, tc);
    tc = tcase_create("deadlocks");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_deadlock_reported, 0, 3);
    tcase_add_test(tc, test_shutdown_ends_plain_waits);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(suite)
