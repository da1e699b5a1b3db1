/* pfib.c: libspindle from C -- fork-join fib with a job per call above a
 * cutoff, on a pool of 2 workers. Jobs wait on their children inside the
 * job: the waiting fiber is suspended, the worker runs other jobs.
 *
 *   cc pfib.c $(pkg-config --cflags --libs spindle) -o pfib && ./pfib 30
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <spindle.h>

static long fib_seq(long n) { return n < 2 ? n : fib_seq(n - 1) + fib_seq(n - 2); }

static void *fib_job(void *arg)
{
    long n = (long)(intptr_t)arg;
    if (n < 20)
        return (void *)(intptr_t)fib_seq(n);
    /* create and start in one call (sp_job_create + sp_job_start) */
    sp_job *a, *b = NULL;
    int rc = sp_job_spawn(sp_pool_current(), 0, fib_job, (void *)(intptr_t)(n - 1), &a);
    if (rc == 0)
        rc = sp_job_spawn(sp_pool_current(), 0, fib_job, (void *)(intptr_t)(n - 2), &b);
    long r = 0;
    if (a)
        r += (long)(intptr_t)sp_job_wait(a);
    if (b)
        r += (long)(intptr_t)sp_job_wait(b);
    sp_job_release(a);
    sp_job_release(b);
    if (rc < 0) {
        sp_job_fail("cannot start a job: %s", sp_strerror(rc));
        return NULL;
    }
    return (void *)(intptr_t)r;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 30;
    sp_pool *pool = sp_pool_create(2);
    sp_job *job = sp_job_create(fib_job, (void *)(intptr_t)n);
    void *result;
    int rc = SP_ENOMEM;

    if (!pool || !job || (rc = sp_job_start(pool, 0, job)) < 0) {
        fprintf(stderr, "pfib: cannot start: %s\n", pool && job ? sp_strerror(rc) : "out of memory");
        return 1;
    }
    rc = sp_job_join(job, &result);
    if (rc < 0) {
        fprintf(stderr, "pfib: %s: %s\n", sp_strerror(rc),
                sp_job_error(job) ? sp_job_error(job) : "");
        return 1;
    }
    sp_stats st;
    sp_pool_stats(pool, &st);
    printf("fib(%ld) = %ld  (%llu jobs, %llu steals)\n", n, (long)(intptr_t)result,
           (unsigned long long)st.jobs_finished, (unsigned long long)st.steals);
    sp_job_release(job);
    sp_pool_close(pool, 1);
    return (long)(intptr_t)result == fib_seq(n) ? 0 : 1;
}
