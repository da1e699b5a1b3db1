/* Fork-join fib(n): above the cutoff, fib(n-1) becomes a job on the
 * current pool while the caller computes fib(n-2) itself, then waits.
 * Below it, plain recursion.  Timed on pools of 1..W workers (default 2).
 * Prints: wN_ms for each worker count, jobs (jobs per run), speedup
 * (w1_ms / w2_ms, both medians of 3 runs in this process). */
#include <stdint.h>
#include "spindle.h"
#include "bench.h"

static long cutoff;
static sp_pool *cur_pool;
static long expected; /* fib(n), computed once, outside the timed region */

__attribute__((noipa)) static long fib_serial(long n)
{
    return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}

static void *fib_job(void *arg)
{
    long n = (long)(intptr_t)arg, a, b;
    sp_job *j;
    if (n < cutoff)
        return (void *)(intptr_t)fib_serial(n);
    j = sp_job_create(fib_job, (void *)(intptr_t)(n - 1));
    if (!j || sp_job_start(cur_pool, 0, j) < 0)
        bench_fail("job create/start failed");
    b = (long)(intptr_t)fib_job((void *)(intptr_t)(n - 2));
    a = (long)(intptr_t)sp_job_wait(j);
    sp_job_release(j);
    return (void *)(intptr_t)(a + b);
}

static double run_once(long n)
{
    double t0 = bench_now_ns();
    sp_job *root = sp_job_create(fib_job, (void *)(intptr_t)n);
    long r;
    if (!root || sp_job_start(cur_pool, 0, root) < 0)
        bench_fail("root job failed");
    r = (long)(intptr_t)sp_job_wait(root);
    double t1 = bench_now_ns();
    sp_job_release(root);
    /* the check is not timed: a serial fib(n) is as long as the whole
     * 1-worker run, and timing it made the speedup look like Amdahl's */
    if (r != expected)
        bench_fail("wrong fib result");
    return (t1 - t0) / 1e6;
}

static double timed(int workers, long n)
{
    double t[3];
    char key[32];
    cur_pool = sp_pool_create(workers);
    if (!cur_pool)
        bench_fail("sp_pool_create failed");
    run_once(n);                             /* warm up */
    for (int i = 0; i < 3; i++)
        t[i] = run_once(n);
    sp_pool_close(cur_pool, 1);
    snprintf(key, sizeof key, "w%d_ms", workers);
    bench_report(key, bench_quantile(t, 3, 0.5));
    return bench_quantile(t, 3, 0.5);
}

static long count_jobs(long n)
{
    return n < cutoff ? 0 : 1 + count_jobs(n - 1) + count_jobs(n - 2);
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, "n", 30);
    int wmax = (int)bench_arg(argc, argv, "workers", 2);
    double t1 = 0, t2 = 0;
    cutoff = bench_arg(argc, argv, "cutoff", 16);
    expected = fib_serial(n);
    for (int w = 1; w <= wmax; w++) {
        double t = timed(w, n);
        if (w == 1)
            t1 = t;
        if (w == 2)
            t2 = t;
    }
    bench_report("jobs", (double)count_jobs(n));
    if (t1 > 0 && t2 > 0)
        bench_report("speedup", t1 / t2);
    return 0;
}
