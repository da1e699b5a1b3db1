/* test_fiber.c - the raw context switch and the stack allocator. */
#include "internal.h"

#include <check.h>
#include "check_main.h"
#include <fenv.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* ---- raw switch, without workers: a tiny ping-pong ---- */

static void *main_sp, *fib_sp;
static int counter;
static sp__worker w;
static sp_job fake;

/* A fresh context enters sp__fiber_main, which runs the current job's
 * fn; here the test stands in for the scheduler with a fake worker. */
static void *pingpong(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        counter++;
        sp__san_job_leaving(&w, &fake, 0); /* sanitizer builds */
        sp__ctx_switch(&fib_sp, main_sp);
        sp__san_job_entered(&w, &fake);
    }
    return (void *)0x42;
}

START_TEST(test_switch_pingpong)
{
    sp__stack *s = sp__stack_alloc(64 * 1024);
    ck_assert_ptr_nonnull(s);
    memset(&w, 0, sizeof w);
    memset(&fake, 0, sizeof fake);
    fake.fn = pingpong;
    fake.stack = s;
    w.cur = &fake;
    sp__set_self(&w);
    fib_sp = sp__ctx_init(s->lo, s->hi);
    counter = 0;
    for (int i = 0; i < 3; i++) {
        sp__san_to_job(&w, &fake);
        sp__ctx_switch(&main_sp, fib_sp);
        sp__san_back_in_sched(&w);
        ck_assert_int_eq(counter, i + 1);
    }
    sp__set_self(NULL);
    sp__stack_free(s);
}
END_TEST

/* callee-saved registers and FP control survive switches */
static void *fpu_job(void *arg)
{
    int *ok = arg;
    fesetround(FE_UPWARD);
    sp_yield();
    *ok = fegetround() == FE_UPWARD;
    fesetround(FE_TONEAREST);
    return NULL;
}

static void *other_job(void *arg)
{
    (void)arg;
    fesetround(FE_DOWNWARD);
    sp_yield();
    fesetround(FE_TONEAREST);
    return NULL;
}

START_TEST(test_switch_fpu_state)
{
    int ok = 0;
    sp_pool *p = sp_pool_create(1);
    sp_job *a = sp_job_create(fpu_job, &ok);
    sp_job *b = sp_job_create(other_job, NULL);
    sp_job_start(p, 0, a);
    sp_job_start(p, 0, b);
    sp_job_wait(a);
    sp_job_wait(b);
    ck_assert_int_eq(ok, 1);
    ck_assert_int_eq(fegetround(), FE_TONEAREST);
    sp_job_release(a);
    sp_job_release(b);
    ck_assert_int_eq(sp_pool_close(p, 1), 0);
}
END_TEST

/* ---- stacks ---- */

START_TEST(test_stack_guarded)
{
    sp__stack *s = sp__stack_alloc(100 * 1000);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->kind, SP__STACK_GUARDED);
    ck_assert(s->size % 4096 == 0 && s->size >= 100 * 1000);
    memset(s->lo, 0xab, (size_t)(s->hi - s->lo)); /* all usable */
    ck_assert(sp__stack_in_guard(s, s->guard));
    ck_assert(!sp__stack_in_guard(s, s->lo));
    sp__stack_free(s);
}
END_TEST

START_TEST(test_stack_reuse)
{
    sp__stack *a = sp__stack_alloc(64 * 1024);
    sp__stack_free(a);
    sp__stack *b = sp__stack_alloc(64 * 1024);
    ck_assert_ptr_eq(a, b); /* came back from the free list */
    sp__stack_free(b);
}
END_TEST

START_TEST(test_stack_slab_when_over_budget)
{
    long max, now;
    sp__stack_budget(&max, &now);
    sp__stack_set_budget(now + 2);
    sp__stack *s[5];
    for (int i = 0; i < 5; i++) {
        s[i] = sp__stack_alloc(32 * 1024);
        ck_assert_ptr_nonnull(s[i]);
    }
    ck_assert_int_eq(s[0]->kind, SP__STACK_GUARDED);
    ck_assert_int_eq(s[1]->kind, SP__STACK_GUARDED);
    ck_assert_int_eq(s[4]->kind, SP__STACK_SLAB);
    ck_assert(sp__stack_canary_ok(s[4]));
    s[4]->lo[-1] = 1; /* an overflow would do this */
    ck_assert(!sp__stack_canary_ok(s[4]));
    sp__stack_free(s[4]); /* wiped before reuse */
    ck_assert(sp__stack_canary_ok(s[4]));
    s[4] = NULL;
    for (int i = 0; i < 5; i++)
        sp__stack_free(s[i]);
    sp__stack_set_budget(max);
}
END_TEST

START_TEST(test_stack_budget_from_max_map_count)
{
    long max, now;
    sp__stack_budget(&max, &now);
    ck_assert(max > 1000);       /* a fraction of vm.max_map_count */
    ck_assert(max * 2 < 65530 || max * 2 < 4 * 65530);
}
END_TEST

/* ---- runqueue ---- */

START_TEST(test_runq_priorities)
{
    sp__runq q;
    sp__runq_init(&q);
    sp_job j[4];
    memset(j, 0, sizeof j);
    int pr[4] = {1, 5, 1, 3};
    for (int i = 0; i < 4; i++) {
        j[i].prio = pr[i];
        sp__runq_push(&q, &j[i]);
    }
    ck_assert_int_eq(sp__runq_top(&q), 5);
    ck_assert_ptr_eq(sp__runq_pop(&q), &j[1]);
    ck_assert_ptr_eq(sp__runq_pop(&q), &j[3]);
    ck_assert_int_eq(sp__runq_remove(&q, &j[2]), 1);
    ck_assert_ptr_eq(sp__runq_pop(&q), &j[0]);
    ck_assert_ptr_null(sp__runq_pop(&q));
    ck_assert_int_eq(sp__runq_top(&q), -1);
    sp__runq_destroy(&q);
}
END_TEST

/* The inbox taken whole with a compare-and-swap (a stand-in's borrow)
 * and put back: its jobs land where a drain would have put them, in
 * arrival order, after the jobs already in the level and before those
 * pushed since (worker.c, borrow; sched.c, sp__runq_put_back) */
START_TEST(test_runq_put_back)
{
    sp__runq q;
    sp__runq_init(&q);
    sp_job j[5];
    memset(j, 0, sizeof j);
    for (int i = 0; i < 5; i++)
        j[i].prio = SP_PRIO_MIN;
    sp__runq_push_inbox(&q, &j[0]);
    sp__runq_drain(&q);                  /* j0: in the level already */
    sp__runq_push_inbox(&q, &j[1]);
    sp__runq_push_inbox(&q, &j[2]);
    sp__runq_push_inbox(&q, &j[3]);      /* the inbox: j3 -> j2 -> j1 */
    sp_job *head = &j[3];
    ck_assert(atomic_compare_exchange_strong(&q.inbox, &head, NULL));
    ck_assert_ptr_eq(j[3].next, &j[2]);  /* not alone: put back */
    sp__runq_push_inbox(&q, &j[4]);      /* pushed meanwhile */
    sp__runq_put_back(&q, &j[3]);
    ck_assert_int_eq(atomic_load(&q.n), 4);
    for (int i = 0; i < 5; i++)
        ck_assert_ptr_eq(sp__runq_pop(&q), &j[i]);
    ck_assert_ptr_null(sp__runq_pop(&q));
    ck_assert_int_eq(atomic_load(&q.n), 0);
    sp__runq_destroy(&q);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fiber");
    TCase *tc = tcase_create("switch");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_switch_pingpong);
    tcase_add_test(tc, test_switch_fpu_state);
    suite_add_tcase(s, tc);
    tc = tcase_create("stack");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stack_guarded);
    tcase_add_test(tc, test_stack_reuse);
    tcase_add_test(tc, test_stack_slab_when_over_budget);
    tcase_add_test(tc, test_stack_budget_from_max_map_count);
    tcase_add_test(tc, test_runq_priorities);
    tcase_add_test(tc, test_runq_put_back);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(suite)
