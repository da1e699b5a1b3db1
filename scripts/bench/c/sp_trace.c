/* Cost of the scheduling trace: the sp_yield ping-pong of sp_switch.c
 * (two jobs on a 1-worker pool, every yield switches to the other job),
 * on a pool without a trace and on one traced with sp_pool_trace. With
 * the trace on, every switch records one event (a run slice).
 * Rounds alternate off/on inside the run; each figure is the median of
 * its rounds.
 * Prints: switch_off_ns, switch_on_ns (per yield), event_ns (on - off:
 * the cost of recording one event). The trace file goes to /dev/null
 * (or -out FILE), written at close, outside the timed part. */
#include <stdatomic.h>
#include <stdint.h>
#include "spindle.h"
#include "bench.h"

static long n_yields;
static _Atomic int running, finished;
static double t_start, t_end;

static void *pingpong(void *arg)
{
    if (atomic_fetch_add(&running, 1) == 0)
        t_start = bench_now_ns();
    for (long i = 0; i < n_yields; i++)
        sp_yield();
    if (atomic_fetch_add(&finished, 1) == 1)
        t_end = bench_now_ns();
    return arg;
}

static double run(sp_pool *pool, long n)
{
    sp_job *a, *b;
    n_yields = n;
    atomic_store(&running, 0);
    atomic_store(&finished, 0);
    a = sp_job_create(pingpong, NULL);
    b = sp_job_create(pingpong, NULL);
    if (!a || !b)
        bench_fail("sp_job_create failed");
    sp_job_set_name(a, "ping");
    sp_job_set_name(b, "pong");
    if (sp_job_start(pool, 0, a) < 0 || sp_job_start(pool, 0, b) < 0)
        bench_fail("sp_job_start failed");
    sp_job_wait(a);
    sp_job_wait(b);
    sp_job_release(a);
    sp_job_release(b);
    return (t_end - t_start) / (2.0 * (double)n);
}

static double median(double *v, int n)
{
    return bench_quantile(v, (size_t)n, 0.5);
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, "n", 200000);
    int rounds = (int)bench_arg(argc, argv, "rounds", 5);
    const char *out = "/dev/null";
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "-out") == 0)
            out = argv[i + 1];
    if (rounds < 1 || rounds > 64)
        bench_fail("-rounds: 1..64");
    sp_pool *off = sp_pool_create(1), *on = sp_pool_create(1);
    if (!off || !on)
        bench_fail("sp_pool_create failed");
    if (sp_pool_trace(on, out) != 0)
        bench_fail("sp_pool_trace failed");
    run(off, 10000); /* warm up: stacks, caches, trace buffers */
    run(on, 10000);
    double v_off[64], v_on[64];
    for (int r = 0; r < rounds; r++) {
        v_off[r] = run(off, n);
        v_on[r] = run(on, n);
    }
    double m_off = median(v_off, rounds), m_on = median(v_on, rounds);
    bench_report("switch_off_ns", m_off);
    bench_report("switch_on_ns", m_on);
    bench_report("event_ns", m_on - m_off);
    sp_pool_close(off, 1);
    sp_pool_close(on, 1); /* writes the trace */
    return 0;
}
