/* Mass cancel: a parallel depth-first search over a tree (fanout F, depth
 * D) on a 2-worker pool, one job per node.  A node job does a little
 * polling work, then starts a job per child at priority = child depth (so
 * deeper jobs run first: depth-first order).  Every job is registered
 * with sp_trigger_cancel_on on one "goal" trigger (count 1) as it is
 * started; the job of the goal leaf stamps the time and updates the
 * trigger, which cancels every job not yet ended, running ones included
 * (a job started after it fired is cancelled at once).  The main thread
 * then joins every job ever started (kept in an array filled with an
 * atomic counter).
 * Prints: cancel_us (goal stamped -> every job joined), cancelled_jobs,
 * explored_nodes (nodes that ran their work before the cancel). */
#include <stdatomic.h>
#include <stdint.h>
#include <sched.h>
#include "spindle.h"
#include "bench.h"

static long fanout, depth, work_iters;
static uint64_t goal;
static sp_pool *pool;
static sp_trigger *goal_trig;
static sp_job **reg;
static _Atomic long reg_n, explored;
static _Atomic int stopping;
static double t_goal;

#define NODE(d, i) ((void *)(uintptr_t)(((uint64_t)(d) << 48) | (i)))

static void *node(void *arg);

static void spawn(long d, uint64_t idx)
{
    sp_job *j;
    long slot;
    if (atomic_load(&stopping))
        return;
    j = sp_job_create(node, NODE(d, idx));
    if (!j)
        bench_fail("sp_job_create failed");
    slot = atomic_fetch_add(&reg_n, 1);
    atomic_store_explicit((_Atomic(sp_job *) *)&reg[slot], j,
                          memory_order_release);
    if (sp_job_start(pool, (int)d, j) < 0 ||
        sp_trigger_cancel_on(goal_trig, j) < 0)
        bench_fail("sp_job_start/sp_trigger_cancel_on failed");
}

static void work(uint64_t seed)
{
    const volatile int *flag = sp_poll_flag();
    for (long i = 0; i < work_iters; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        if (*flag)
            sp_checkpoint();
    }
    bench_keep((long)seed);
}

static void *node(void *arg)
{
    uint64_t id = (uintptr_t)arg, idx = id & ((1ULL << 48) - 1);
    long d = (long)(id >> 48);
    if (atomic_load(&stopping))
        return NULL;
    work(id);
    atomic_fetch_add(&explored, 1);
    if (d == depth) {
        if (idx == goal && !atomic_exchange(&stopping, 1)) {
            t_goal = bench_now_ns();
            sp_trigger_update(goal_trig, NULL); /* cancels all the others */
        }
        return NULL;
    }
    for (long c = 0; c < fanout; c++)
        spawn(d + 1, idx * (uint64_t)fanout + (uint64_t)c);
    return NULL;
}

/* Joins every registered job, including ones registered meanwhile. */
static long join_all(void)
{
    long i = 0, cancelled = 0;
    while (i < atomic_load(&reg_n)) {
        sp_job *j;
        while (!(j = atomic_load_explicit((_Atomic(sp_job *) *)&reg[i],
                                          memory_order_acquire)))
            sched_yield();
        if (sp_job_join(j, NULL) == SP_ECANCELED)
            cancelled++;
        i++;
    }
    return cancelled;
}

int main(int argc, char **argv)
{
    uint64_t leaves = 1, nodes = 1;
    long cancelled;
    double t_end;
    fanout = bench_arg(argc, argv, "fanout", 8);
    depth = bench_arg(argc, argv, "depth", 5);
    work_iters = bench_arg(argc, argv, "work", 2000);
    for (long d = 0; d < depth; d++) {
        leaves *= (uint64_t)fanout;
        nodes += leaves;
    }
    goal = leaves * 2 / 3;
    reg = calloc(nodes, sizeof *reg);
    pool = sp_pool_create(2);
    goal_trig = sp_trigger_create(SP_TRIGGER_COUNT, 1, NULL);
    if (!reg || !pool)
        bench_fail("setup failed");
    spawn(0, 0);
    while (!atomic_load(&stopping))
        sched_yield();
    cancelled = join_all();
    t_end = bench_now_ns();
    bench_report("cancel_us", (t_end - t_goal) / 1e3);
    bench_report("cancelled_jobs", (double)cancelled);
    bench_report("explored_nodes", (double)atomic_load(&explored));
    for (long i = 0; i < atomic_load(&reg_n); i++)
        sp_job_release(reg[i]);
    sp_pool_close(pool, 1);
    sp_trigger_release(goal_trig);
    free(reg);
    return 0;
}
