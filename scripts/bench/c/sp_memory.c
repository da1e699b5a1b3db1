/* Memory of suspended jobs: n jobs on a 1-worker pool, each waiting on a
 * "gate" job that has not finished.  The gate yields until every waiter
 * has run up to its wait (on one worker, when the gate runs again, all of
 * them are suspended), reads the RSS, and only then returns.
 * Prints: rss_mib (process RSS with n jobs suspended), per_job_kib (RSS
 * growth over the idle pool, per job). */
#include <stdatomic.h>
#include <stdint.h>
#include "spindle.h"
#include "bench.h"

static long n_jobs;
static _Atomic long waiting;
static double rss_suspended;
static sp_job *gate;

static void *gate_fn(void *arg)
{
    while (atomic_load(&waiting) < n_jobs)
        sp_yield();
    sp_yield();             /* the last waiter reaches its wait */
    rss_suspended = bench_rss_bytes("VmRSS");
    return arg;
}

static void *waiter(void *arg)
{
    atomic_fetch_add(&waiting, 1);
    return sp_job_wait(gate);
}

int main(int argc, char **argv)
{
    double rss0;
    sp_job **jobs;
    sp_pool *pool;

    n_jobs = bench_arg(argc, argv, "n", 100000);
    jobs = malloc((size_t)n_jobs * sizeof *jobs);
    pool = sp_pool_create(1);
    if (!pool || !jobs)
        bench_fail("setup failed");
    rss0 = bench_rss_bytes("VmRSS");
    gate = sp_job_create(gate_fn, NULL);
    if (!gate || sp_job_start(pool, 0, gate) < 0)
        bench_fail("gate job failed");
    for (long i = 0; i < n_jobs; i++) {
        jobs[i] = sp_job_create(waiter, NULL);
        if (!jobs[i] || sp_job_start(pool, 0, jobs[i]) < 0)
            bench_fail("job create/start failed");
    }
    sp_job_wait(gate);
    for (long i = 0; i < n_jobs; i++) {
        sp_job_wait(jobs[i]);
        sp_job_release(jobs[i]);
    }
    sp_job_release(gate);
    sp_pool_close(pool, 1);
    bench_report("rss_mib", rss_suspended / (1024.0 * 1024.0));
    bench_report("per_job_kib", (rss_suspended - rss0) / 1024.0 / (double)n_jobs);
    free(jobs);
    return 0;
}
