/* A chain of n dependent jobs on a 2-worker pool, two ways.
 * link_ns: job i waits on job i-1 (sp_job_wait inside the job, which
 * suspends its fiber when the predecessor has not finished) and returns its
 * result + 1.  All jobs are created and started in order by the main
 * thread, which then waits on the last one.
 * sched_link_ns: job i is an argument-list job scheduled on job i-1
 * (sp_job_schedule): it is queued only once i-1 is done, and receives i-1's
 * result as its argument; no job ever suspends.
 * Prints both (wall time / n). */
#include <stdint.h>
#include "spindle.h"
#include "bench.h"

static void *link_fn(void *arg)
{
    sp_job *prev = arg;
    return (void *)((uintptr_t)(prev ? sp_job_wait(prev) : NULL) + 1);
}

static double chain(sp_pool *pool, sp_job **jobs, long n)
{
    double t0 = bench_now_ns(), t1;
    uintptr_t r;
    for (long i = 0; i < n; i++) {
        jobs[i] = sp_job_create(link_fn, i ? jobs[i - 1] : NULL);
        if (!jobs[i] || sp_job_start(pool, 0, jobs[i]) < 0)
            bench_fail("job create/start failed");
    }
    r = (uintptr_t)sp_job_wait(jobs[n - 1]);
    t1 = bench_now_ns();
    if (r != (uintptr_t)n)
        bench_fail("wrong chain result");
    for (long i = 0; i < n; i++)
        sp_job_release(jobs[i]);
    return (t1 - t0) / (double)n;
}

static void *link_v(void *ud, size_t argc, void *const *argv)
{
    (void)ud;
    return (void *)((uintptr_t)(argc ? argv[argc - 1] : NULL) + 1);
}

static double sched_chain(sp_pool *pool, sp_job **jobs, long n)
{
    double t0 = bench_now_ns(), t1;
    uintptr_t r;
    for (long i = 0; i < n; i++) {
        sp_dep d = {i ? jobs[i - 1] : NULL, NULL};
        jobs[i] = sp_job_createv(link_v, NULL, NULL, 0, NULL);
        if (!jobs[i] || sp_job_schedule(pool, 0, jobs[i], i ? 1 : 0, &d) < 0)
            bench_fail("job create/schedule failed");
    }
    r = (uintptr_t)sp_job_wait(jobs[n - 1]);
    t1 = bench_now_ns();
    if (r != (uintptr_t)n)
        bench_fail("wrong scheduled chain result");
    for (long i = 0; i < n; i++)
        sp_job_release(jobs[i]);
    return (t1 - t0) / (double)n;
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, "n", 100000);
    sp_job **jobs = malloc((size_t)n * sizeof *jobs);
    sp_pool *pool = sp_pool_create((int)bench_arg(argc, argv, "workers", 2));
    if (!pool || !jobs || n < 1)
        bench_fail("setup failed");
    chain(pool, jobs, n < 1000 ? n : 1000);     /* warm up */
    bench_report("link_ns", chain(pool, jobs, n));
    sched_chain(pool, jobs, n < 1000 ? n : 1000);
    bench_report("sched_link_ns", sched_chain(pool, jobs, n));
    sp_pool_close(pool, 1);
    free(jobs);
    return 0;
}
