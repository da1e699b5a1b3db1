/* startJob+waitJob from a plain thread, in C: n times create a trivial
 * job, start it on a 1-worker pool from the main thread, wait for it,
 * release it (the pattern of startjob.sing's "top" mode without the
 * interpreter).  Prints: startwait_ns (wall time / n) and nowake_pct
 * (the share of jobs that cost no wake-up of the worker: the waiting
 * thread ran them itself, standing in for the parked worker, see
 * src/worker.c). */
#include <stdint.h>
#include "spindle.h"
#include "bench.h"

static void *trivial(void *arg)
{
    return arg;
}

static double run(sp_pool *pool, long n)
{
    double t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        sp_job *j = sp_job_create(trivial, (void *)(intptr_t)i);
        void *r = NULL;
        if (!j || sp_job_start(pool, 0, j) < 0 || sp_job_join(j, &r) != 0)
            bench_fail("job create/start/wait failed");
        if ((long)(intptr_t)r != i)
            bench_fail("a job returned a wrong result");
        sp_job_release(j);
    }
    return (bench_now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, "n", 100000);
    sp_pool *pool = sp_pool_create(1);
    if (!pool)
        bench_fail("setup failed");
    run(pool, n < 1000 ? n : 1000); /* warm up */
    sp_stats a, b;
    sp_pool_stats(pool, &a);
    bench_report("startwait_ns", run(pool, n));
    sp_pool_stats(pool, &b);
    /* a job that needed no wake-up of the worker */
    bench_report("nowake_pct", 100.0 * (double)(n - (long)(b.wakes - a.wakes)) /
                               (double)n);
    sp_pool_close(pool, 1);
    return 0;
}
