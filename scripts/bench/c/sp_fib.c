/* Fork-join fib(n): above the cutoff, fib(n-1) becomes a job on the
 * current pool while the caller computes fib(n-2) itself, then waits.
 * Below it, plain recursion.  Timed on pools of 1..W workers (default 2).
 * Prints: wN_ms for each worker count, jobs (jobs per run), speedup
 * (w1_ms / w2_ms, both medians of 15 runs in this process, the pools
 * taking turns in rounds). */
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

/* The pools of 1..W workers take turns in ROUNDS rounds, so that a burst
 * of load on the machine hits every pool alike; in each round a pool has
 * a warm-up run (its caches and stacks went cold while the others ran)
 * and PER timed runs. Medians of the ROUNDS * PER runs. */
#define ROUNDS 5
#define PER 3
#define RUNS (ROUNDS * PER)

static void timed_all(int wmax, long n, double *med)
{
    sp_pool *pools[16];
    double t[16][RUNS];
    for (int w = 1; w <= wmax; w++) {
        pools[w - 1] = sp_pool_create(w);
        if (!pools[w - 1])
            bench_fail("sp_pool_create failed");
    }
    for (int r = 0; r < ROUNDS; r++)
        for (int w = 1; w <= wmax; w++) {
            cur_pool = pools[w - 1];
            run_once(n); /* warm up */
            for (int i = 0; i < PER; i++)
                t[w - 1][r * PER + i] = run_once(n);
        }
    for (int w = 1; w <= wmax; w++) {
        char key[32];
        sp_pool_close(pools[w - 1], 1);
        med[w] = bench_quantile(t[w - 1], RUNS, 0.5);
        snprintf(key, sizeof key, "w%d_ms", w);
        bench_report(key, med[w]);
    }
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
    if (wmax < 1 || wmax > 15)
        bench_fail("workers must be 1..15");
    double med[16] = {0};
    timed_all(wmax, n, med);
    t1 = med[1];
    t2 = wmax >= 2 ? med[2] : 0;
    bench_report("jobs", (double)count_jobs(n));
    if (t1 > 0 && t2 > 0)
        bench_report("speedup", t1 / t2);
    return 0;
}
