/* Job overhead: a batch of n trivial jobs created and started on a
 * 1-worker pool from the main thread, then waited on and released in
 * order.  Prints: job_cold_ns, the first batch of n (job memory fresh
 * from the kernel: 128 bytes a job, page faults and zeroing included),
 * job_ns, the next batch of n (memory recycled: the steady state of
 * a program that runs such batches), and job_spawn_ns, a third batch of
 * n made with sp_job_spawn (create and start in one call). */
#include <stdint.h>
#include "spindle.h"
#include "bench.h"

static void *trivial(void *arg)
{
    return arg;
}

static double batch(sp_pool *pool, sp_job **jobs, long n, int spawn)
{
    double t0 = bench_now_ns(), t1;
    long bad = 0, first_bad = -1;
    if (spawn) {
        for (long i = 0; i < n; i++)
            if (sp_job_spawn(pool, 0, trivial, (void *)(intptr_t)i, &jobs[i]) < 0)
                bench_fail("job spawn failed");
    } else {
        for (long i = 0; i < n; i++) {
            jobs[i] = sp_job_create(trivial, (void *)(intptr_t)i);
            if (!jobs[i] || sp_job_start(pool, 0, jobs[i]) < 0)
                bench_fail("job create/start failed");
        }
    }
    for (long i = 0; i < n; i++) {
        if ((long)(intptr_t)sp_job_wait(jobs[i]) != i && bad++ == 0)
            first_bad = i;
        sp_job_release(jobs[i]);
    }
    t1 = bench_now_ns();
    if (bad) {
        fprintf(stderr, "bench: %ld of %ld jobs returned a wrong result "
                "(first: job %ld)\n", bad, n, first_bad);
        exit(1);
    }
    return (t1 - t0) / (double)n;
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, "n", 1000000);
    sp_job **jobs = malloc((size_t)n * sizeof *jobs);
    sp_pool *pool = sp_pool_create(1);
    if (!pool || !jobs)
        bench_fail("setup failed");
    batch(pool, jobs, n < 10000 ? n : 10000, 0);   /* threads, stacks */
    bench_report("job_cold_ns", batch(pool, jobs, n, 0));
    bench_report("job_ns", batch(pool, jobs, n, 0));
    bench_report("job_spawn_ns", batch(pool, jobs, n, 1));
    sp_pool_close(pool, 1);
    free(jobs);
    return 0;
}
