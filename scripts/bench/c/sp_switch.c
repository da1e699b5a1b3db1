/* Fiber switch: two jobs on a 1-worker pool, each calling sp_yield() n
 * times, so every yield switches from one job to the other.
 * Prints: switch_ns (wall time of the ping-pong / number of yields). */
#include <stdatomic.h>
#include <stdint.h>
#include "spindle.h"
#include "bench.h"

static long n_yields;
static _Atomic int running, finished;
static double t_start, t_end;

static void *pingpong(void *arg)
{
    /* the first job in starts the clock once the other is queued too */
    if (atomic_fetch_add(&running, 1) == 0)
        t_start = bench_now_ns();
    for (long i = 0; i < n_yields; i++)
        sp_yield();
    if (atomic_fetch_add(&finished, 1) == 1)
        t_end = bench_now_ns();
    return arg;
}

static double run(sp_pool *pool, long n)
{
    sp_job *a, *b;
    n_yields = n;
    atomic_store(&running, 0);
    atomic_store(&finished, 0);
    a = sp_job_create(pingpong, NULL);
    b = sp_job_create(pingpong, NULL);
    if (!a || !b)
        bench_fail("sp_job_create failed");
    /* both are queued before the worker can pick either */
    if (sp_job_start(pool, 0, a) < 0 || sp_job_start(pool, 0, b) < 0)
        bench_fail("sp_job_start failed");
    sp_job_wait(a);
    sp_job_wait(b);
    sp_job_release(a);
    sp_job_release(b);
    return (t_end - t_start) / (2.0 * (double)n);
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, "n", 5000000);
    sp_pool *pool = sp_pool_create(1);
    if (!pool)
        bench_fail("sp_pool_create failed");
    run(pool, 10000);                        /* warm up: stacks, caches */
    bench_report("switch_ns", run(pool, n));
    sp_pool_close(pool, 1);
    return 0;
}
