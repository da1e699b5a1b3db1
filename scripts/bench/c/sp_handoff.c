/* Where a batch's time goes (issue 19): the two sides of the job
 * hand-off measured apart, then together.
 *
 * In cache (n = 1,000 jobs, best of 200 rounds): the only worker of a
 * 1-worker pool is held by a gate job that spins on a flag, so the main
 * thread's steps run alone:
 *   maker_create_ns   sp_job_create
 *   maker_start_ns    sp_job_start (queued behind the gate)
 *   maker_wait_ns     sp_job_wait + sp_job_release of an ended job
 * and, the gate opened with the n jobs queued, the worker alone:
 *   worker_job_ns     the worker's time per job (claim, run, end)
 *
 * A batch of 1M as in sp_jobs (second batch, memory recycled), split:
 *   batch_start_ns    the create+start loop, per job
 *   batch_done_pct    share of the batch the worker had ended when the
 *                     start loop finished (jobs end in order: a binary
 *                     search for the first unfinished one)
 *   batch_wait_ns     the wait+release loop that follows, per job
 *   batch_ns          both, per job (sp_jobs' job_ns)
 * The batch is bound by the slower side: a worker that ended about half
 * the jobs when the start loop finished is the bottleneck; one that ended
 * them all leaves the main thread's loops as the batch's time. */
#include <stdatomic.h>
#include <stdint.h>
#include "spindle.h"
#include "bench.h"

static void *trivial(void *arg)
{
    return arg;
}

static void *gate_job(void *arg)
{
    while (!atomic_load((_Atomic int *)arg))
        __builtin_ia32_pause();
    return NULL;
}

static void in_cache(long n, int rounds)
{
    sp_pool_opts o;
    sp_pool_opts_init(&o);
    o.nworkers = 1;
    o.flags = SP_POOL_NOPREEMPT; /* the gate is never moved off its worker */
    sp_pool *p = sp_pool_create_opts(&o);
    sp_job **jobs = malloc((size_t)n * sizeof *jobs);
    _Atomic int gate;
    double best_c = 1e30, best_s = 1e30, best_w = 1e30, best_k = 1e30;
    if (!p || !jobs)
        bench_fail("setup failed");
    for (int r = 0; r < rounds; r++) {
        atomic_store(&gate, 0);
        sp_job *g = sp_job_create(gate_job, &gate);
        if (!g || sp_job_start(p, 0, g) < 0)
            bench_fail("gate failed");
        while (sp_job_state(g) != SP_JOB_RUNNING)
            __builtin_ia32_pause();
        double t0 = bench_now_ns();
        for (long i = 0; i < n; i++)
            if (!(jobs[i] = sp_job_create(trivial, (void *)(intptr_t)i)))
                bench_fail("job create failed");
        double t1 = bench_now_ns();
        for (long i = 0; i < n; i++)
            if (sp_job_start(p, 0, jobs[i]) < 0)
                bench_fail("job start failed");
        double t2 = bench_now_ns();
        atomic_store(&gate, 1);
        while (!sp_job_finished(jobs[n - 1]))
            __builtin_ia32_pause();
        double t3 = bench_now_ns();
        for (long i = 0; i < n; i++) {
            if ((long)(intptr_t)sp_job_wait(jobs[i]) != i)
                bench_fail("a job returned a wrong result");
            sp_job_release(jobs[i]);
        }
        double t4 = bench_now_ns();
        sp_job_release(g);
        if ((t1 - t0) / n < best_c)
            best_c = (t1 - t0) / n;
        if ((t2 - t1) / n < best_s)
            best_s = (t2 - t1) / n;
        if ((t3 - t2) / n < best_k)
            best_k = (t3 - t2) / n;
        if ((t4 - t3) / n < best_w)
            best_w = (t4 - t3) / n;
    }
    bench_report("maker_create_ns", best_c);
    bench_report("maker_start_ns", best_s);
    bench_report("maker_wait_ns", best_w);
    bench_report("worker_job_ns", best_k);
    sp_pool_close(p, 1);
    free(jobs);
}

static void batch(long n)
{
    sp_pool *p = sp_pool_create(1);
    sp_job **jobs = malloc((size_t)n * sizeof *jobs);
    if (!p || !jobs)
        bench_fail("setup failed");
    for (int round = 0; round < 2; round++) { /* the first: fresh memory */
        double t0 = bench_now_ns();
        for (long i = 0; i < n; i++) {
            jobs[i] = sp_job_create(trivial, (void *)(intptr_t)i);
            if (!jobs[i] || sp_job_start(p, 0, jobs[i]) < 0)
                bench_fail("job create/start failed");
        }
        double t1 = bench_now_ns();
        long lo = 0, hi = n;
        while (lo < hi) {
            long m = lo + (hi - lo) / 2;
            if (sp_job_finished(jobs[m]))
                lo = m + 1;
            else
                hi = m;
        }
        double t2 = bench_now_ns(); /* the search: microseconds */
        for (long i = 0; i < n; i++) {
            if ((long)(intptr_t)sp_job_wait(jobs[i]) != i)
                bench_fail("a job returned a wrong result");
            sp_job_release(jobs[i]);
        }
        double t3 = bench_now_ns();
        if (round == 1) {
            bench_report("batch_start_ns", (t1 - t0) / n);
            bench_report("batch_done_pct", 100.0 * lo / n);
            bench_report("batch_wait_ns", (t3 - t2) / n);
            bench_report("batch_ns", (t3 - t2 + t1 - t0) / n);
        }
    }
    sp_pool_close(p, 1);
    free(jobs);
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, "n", 1000);
    long big = bench_arg(argc, argv, "batch", 1000000);
    in_cache(n, (int)bench_arg(argc, argv, "rounds", 200));
    batch(big);
    return 0;
}
