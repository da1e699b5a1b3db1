/* Cost of the scheduling trace: the sp_yield ping-pong of sp_switch.c
 * (two jobs on a 1-worker pool, every yield switches to the other job),
 * on a pool without a trace and on one traced with sp_pool_trace. With
 * the trace on, every switch records one event (a run slice).
 * Rounds alternate off/on inside the run; each figure is the median of
 * its rounds.
 * Prints: switch_off_ns, switch_on_ns (per yield), event_ns (on - off:
 * the cost of recording one event). The trace file goes to /dev/null
 * (or -out FILE), written at close, outside the timed part. */
#include <string.h>
#include "pingpong.h"

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
    pingpong_run(off, 10000, "ping", "pong"); /* warm up: stacks, caches, trace buffers */
    pingpong_run(on, 10000, "ping", "pong");
    double v_off[64], v_on[64];
    for (int r = 0; r < rounds; r++) {
        v_off[r] = pingpong_run(off, n, "ping", "pong");
        v_on[r] = pingpong_run(on, n, "ping", "pong");
    }
    double m_off = median(v_off, rounds), m_on = median(v_on, rounds);
    bench_report("switch_off_ns", m_off);
    bench_report("switch_on_ns", m_on);
    bench_report("event_ns", m_on - m_off);
    sp_pool_close(off, 1);
    sp_pool_close(on, 1); /* writes the trace */
    return 0;
}
