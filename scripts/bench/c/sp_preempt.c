/* Preemption figures (issue 3):
 *  - prio_p50_us / prio_p99_us: every worker of a 2-worker pool runs a
 *    low-priority job spinning in a loop that polls its safe-point flag
 *    (as the interpreter does); a high-priority job is started and stamps
 *    its first instruction; latency = stamp - start call.
 *  - cancel_p50_us / cancel_p99_us: a spinning (polling) job is cancelled;
 *    latency = sp_job_cancel call -> sp_job_wait returns in the canceller.
 *  - cancel_async_p50_us / cancel_async_p99_us: the same for a job that
 *    never polls (SP_JOB_ASYNC: switched out from the signal handler).
 *  - overhead_pct: a CPU-bound workload (4 polling jobs on 1 worker) on a
 *    pool with the default time slice vs one with SP_POOL_NOPREEMPT;
 *    (median on / median off - 1) * 100 over alternating runs.
 *  - signals_per_preemption: signals sent / preemptions, summed over the
 *    pools of the polling workloads above; signals_per_preemption_async
 *    for the async cancel pool.
 * -samples N sets the number of latency samples (default 200). */
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>
#include "spindle.h"
#include "bench.h"

static _Atomic int stop_spin, spinning;
static _Atomic double stamp;
static long cpu_iters;

static uint64_t preemptions(const sp_stats *s)
{
    return s->preempt_slice + s->preempt_prio + s->preempt_cancel +
           s->preempt_async;
}

typedef struct {
    uint64_t signals, preempts;
} sig_count;

static void count_pool(sp_pool *pool, sig_count *c)
{
    sp_stats s;
    if (sp_pool_stats(pool, &s) == 0) {
        c->signals += s.signals_sent;
        c->preempts += preemptions(&s);
    }
}

/* A low-priority spinner that polls its safe-point flag. */
static void *spin_poll(void *arg)
{
    const volatile int *flag = sp_poll_flag();
    atomic_fetch_add(&spinning, 1);
    while (!atomic_load_explicit(&stop_spin, memory_order_relaxed))
        if (*flag)
            sp_checkpoint();
    return arg;
}

/* A spinner that never reaches a safe point. */
static void *spin_async(void *arg)
{
    atomic_fetch_add(&spinning, 1);
    while (!atomic_load_explicit(&stop_spin, memory_order_relaxed))
        ;
    return arg;
}

static void *stamp_now(void *arg)
{
    atomic_store(&stamp, bench_now_ns());
    return arg;
}

static sp_job *start(sp_pool *pool, int prio, sp_job_fn fn, unsigned flags)
{
    sp_job *j = sp_job_create(fn, NULL);
    if (!j || (flags && sp_job_set_flags(j, flags) < 0) ||
        sp_job_start(pool, prio, j) < 0)
        bench_fail("job create/start failed");
    return j;
}

static void wait_spinning(int n)
{
    while (atomic_load(&spinning) < n)
        usleep(100);
}

static void report_quantiles(const char *name, double *v, long n)
{
    char key[64];
    snprintf(key, sizeof key, "%s_p50_us", name);
    bench_report(key, bench_quantile(v, (size_t)n, 0.50) / 1e3);
    snprintf(key, sizeof key, "%s_p99_us", name);
    bench_report(key, bench_quantile(v, (size_t)n, 0.99) / 1e3);
}

static void prio_latency(long samples, sig_count *sc)
{
    sp_pool *pool = sp_pool_create(2);
    sp_job *spin[2];
    double *lat = malloc((size_t)samples * sizeof *lat);
    if (!pool || !lat)
        bench_fail("setup failed");
    atomic_store(&stop_spin, 0);
    atomic_store(&spinning, 0);
    for (int i = 0; i < 2; i++)
        spin[i] = start(pool, SP_PRIO_MIN, spin_poll, 0);
    wait_spinning(2);
    for (long i = 0; i < samples; i++) {
        double t0 = bench_now_ns();
        sp_job *hi = start(pool, SP_PRIO_MAX, stamp_now, 0);
        sp_job_wait(hi);
        lat[i] = atomic_load(&stamp) - t0;
        sp_job_release(hi);
        usleep(200);       /* let the spinner get its worker back */
    }
    atomic_store(&stop_spin, 1);
    for (int i = 0; i < 2; i++) {
        sp_job_wait(spin[i]);
        sp_job_release(spin[i]);
    }
    count_pool(pool, sc);
    sp_pool_close(pool, 1);
    report_quantiles("prio", lat, samples);
    free(lat);
}

static void cancel_latency(const char *name, long samples, sp_job_fn fn,
                           unsigned flags, sig_count *sc)
{
    sp_pool *pool = sp_pool_create(1);
    double *lat = malloc((size_t)samples * sizeof *lat);
    if (!pool || !lat)
        bench_fail("setup failed");
    atomic_store(&stop_spin, 0);
    for (long i = 0; i < samples; i++) {
        sp_job *j;
        double t0;
        atomic_store(&spinning, 0);
        j = start(pool, 0, fn, flags);
        wait_spinning(1);
        t0 = bench_now_ns();
        sp_job_cancel(j);
        if (sp_job_join(j, NULL) != SP_ECANCELED)
            bench_fail("cancelled job did not end cancelled");
        lat[i] = bench_now_ns() - t0;
        sp_job_release(j);
    }
    count_pool(pool, sc);
    sp_pool_close(pool, 1);
    report_quantiles(name, lat, samples);
    free(lat);
}

/* CPU-bound work that polls like an interpreter loop. */
static void *cpu_job(void *arg)
{
    const volatile int *flag = sp_poll_flag();
    uint64_t x = (uintptr_t)arg + 1;
    for (long i = 0; i < cpu_iters; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        if (*flag)
            sp_checkpoint();
    }
    return (void *)(uintptr_t)x;
}

static double cpu_run(unsigned flags, sig_count *sc)
{
    sp_pool_opts o;
    sp_pool *pool;
    sp_job *j[4];
    double t0, t1;
    sp_pool_opts_init(&o);
    o.nworkers = 1;
    o.flags = flags;
    pool = sp_pool_create_opts(&o);
    if (!pool)
        bench_fail("sp_pool_create_opts failed");
    t0 = bench_now_ns();
    for (int i = 0; i < 4; i++) {
        j[i] = sp_job_create(cpu_job, (void *)(uintptr_t)i);
        if (!j[i] || sp_job_start(pool, 0, j[i]) < 0)
            bench_fail("job start failed");
    }
    for (int i = 0; i < 4; i++)
        bench_keep((long)(uintptr_t)sp_job_wait(j[i]));
    t1 = bench_now_ns();
    for (int i = 0; i < 4; i++)
        sp_job_release(j[i]);
    if (!flags)
        count_pool(pool, sc);
    sp_pool_close(pool, 1);
    return t1 - t0;
}

static void overhead(int pairs, sig_count *sc)
{
    double on[16], off[16];
    if (pairs > 16)
        pairs = 16;
    cpu_run(SP_POOL_NOPREEMPT, sc);                /* warm up */
    for (int i = 0; i < pairs; i++) {   /* alternate which goes first */
        if (i % 2)
            off[i] = cpu_run(SP_POOL_NOPREEMPT, sc);
        on[i] = cpu_run(0, sc);
        if (i % 2 == 0)
            off[i] = cpu_run(SP_POOL_NOPREEMPT, sc);
    }
    bench_report("overhead_pct",
                 (bench_quantile(on, (size_t)pairs, 0.5) /
                  bench_quantile(off, (size_t)pairs, 0.5) - 1.0) * 100.0);
}

int main(int argc, char **argv)
{
    long samples = bench_arg(argc, argv, "samples", 200);
    sig_count poll = {0, 0}, async = {0, 0};
    cpu_iters = bench_arg(argc, argv, "iters", 40000000);
    prio_latency(samples, &poll);
    cancel_latency("cancel", samples, spin_poll, 0, &poll);
    overhead((int)bench_arg(argc, argv, "pairs", 4), &poll);
    if (poll.preempts)
        bench_report("signals_per_preemption",
                     (double)poll.signals / (double)poll.preempts);
    bench_report("preemptions", (double)poll.preempts);
    cancel_latency("cancel_async", samples, spin_async, SP_JOB_ASYNC, &async);
    if (async.preempts)
        bench_report("signals_per_preemption_async",
                     (double)async.signals / (double)async.preempts);
    return 0;
}
