/* Baselines for "job create+start+run+wait":
 *  - condvar_pool_ns: a plain thread pool of one worker thread, one mutex
 *    and condition variable guarding a FIFO of malloc'ed jobs; every job
 *    has a done flag the waiter checks under the lock.  Like the spindle
 *    figure, a batch of n jobs is created and started, then all are waited
 *    on and freed.
 *  - condvar_array_ns: the same pool, its jobs in one array allocated
 *    before the batch (no malloc or free per job), as a user who writes
 *    such a pool by hand for one known batch would.
 *  - pthread_create_ns: a thread created and joined per job.
 * Prints ns per job for each. */
#include <pthread.h>
#include "bench.h"

typedef struct job {
    void *(*fn)(void *);
    void *arg, *result;
    int done;
    struct job *next;
} job;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    job *head, *tail;
    int stop;
} pool;

static void *trivial(void *arg)
{
    return arg;
}

static job *pool_take(pool *p)
{
    job *j;
    while (!p->head && !p->stop)
        pthread_cond_wait(&p->work, &p->mu);
    j = p->head;
    if (j) {
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
    }
    return j;
}

static void *worker(void *arg)
{
    pool *p = arg;
    job *j;
    pthread_mutex_lock(&p->mu);
    while ((j = pool_take(p))) {
        pthread_mutex_unlock(&p->mu);
        void *r = j->fn(j->arg);
        pthread_mutex_lock(&p->mu);
        j->result = r;
        j->done = 1;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* slot: the job's place in a preallocated array, or NULL (malloc'ed) */
static job *job_start(pool *p, void *(*fn)(void *), void *arg, job *slot)
{
    job *j = slot ? slot : calloc(1, sizeof *j);
    if (!j)
        bench_fail("out of memory");
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return j;
}

static void *job_wait(pool *p, job *j, int owned)
{
    void *r;
    pthread_mutex_lock(&p->mu);
    while (!j->done)
        pthread_cond_wait(&p->done, &p->mu);
    r = j->result;
    pthread_mutex_unlock(&p->mu);
    if (owned)
        free(j);
    return r;
}

/* arr: run the batch in this preallocated array of n jobs (zeroed) */
static double condvar_pool(long n, job *arr)
{
    pool p = { .mu = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER,
               .done = PTHREAD_COND_INITIALIZER };
    pthread_t th;
    job **jobs = malloc((size_t)n * sizeof *jobs);
    double t0, t1;
    long sum = 0;

    if (!jobs || pthread_create(&th, NULL, worker, &p) != 0)
        bench_fail("setup failed");
    t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        jobs[i] = job_start(&p, trivial, (void *)i, arr ? &arr[i] : NULL);
    for (long i = 0; i < n; i++)
        sum += (long)job_wait(&p, jobs[i], !arr);
    t1 = bench_now_ns();
    bench_keep(sum);
    pthread_mutex_lock(&p.mu);
    p.stop = 1;
    pthread_cond_broadcast(&p.work);
    pthread_mutex_unlock(&p.mu);
    pthread_join(th, NULL);
    free(jobs);
    return (t1 - t0) / (double)n;
}

static double thread_per_job(long n)
{
    double t0 = bench_now_ns(), t1;
    long sum = 0;
    for (long i = 0; i < n; i++) {
        pthread_t th;
        void *r;
        if (pthread_create(&th, NULL, trivial, (void *)i) != 0)
            bench_fail("pthread_create failed");
        pthread_join(th, &r);
        sum += (long)r;
    }
    t1 = bench_now_ns();
    bench_keep(sum);
    return (t1 - t0) / (double)n;
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, "n", 1000000);
    long nthreads = bench_arg(argc, argv, "threads", 20000);
    /* like sp_jobs: the first batch takes its memory from the kernel
     * (malloc), the second reuses what the first freed */
    bench_report("condvar_pool_cold_ns", condvar_pool(n, NULL));
    bench_report("condvar_pool_ns", condvar_pool(n, NULL));
    /* the array is touched once before the batch (its pages mapped), as
     * a pool that keeps its array between batches would have it */
    job *arr = calloc((size_t)n, sizeof *arr);
    if (!arr)
        bench_fail("out of memory");
    for (long i = 0; i < n; i++)
        arr[i].done = 0;
    bench_report("condvar_array_ns", condvar_pool(n, arr));
    free(arr);
    bench_report("pthread_create_ns", thread_per_job(nthreads));
    return 0;
}
