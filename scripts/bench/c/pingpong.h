/* pingpong.h - the sp_yield ping-pong shared by sp_switch.c and
 * sp_trace.c: two jobs on a 1-worker pool, each calling sp_yield() n
 * times, so every yield switches from one job to the other.
 * pingpong_run() returns the wall time per yield in ns. */
#ifndef SPINDLE_BENCH_PINGPONG_H
#define SPINDLE_BENCH_PINGPONG_H
#include <stdatomic.h>
#include <stdint.h>
#include "spindle.h"
#include "bench.h"

static long pp_n;
static _Atomic int pp_running, pp_finished;
static double pp_t_start, pp_t_end;

static void *pingpong(void *arg)
{
    /* the first job in starts the clock once the other is queued too */
    if (atomic_fetch_add(&pp_running, 1) == 0)
        pp_t_start = bench_now_ns();
    for (long i = 0; i < pp_n; i++)
        sp_yield();
    if (atomic_fetch_add(&pp_finished, 1) == 1)
        pp_t_end = bench_now_ns();
    return arg;
}

/* names: for the trace (NULL: none) */
static double pingpong_run(sp_pool *pool, long n, const char *name_a,
                           const char *name_b)
{
    pp_n = n;
    atomic_store(&pp_running, 0);
    atomic_store(&pp_finished, 0);
    sp_job *a = sp_job_create(pingpong, NULL);
    sp_job *b = sp_job_create(pingpong, NULL);
    if (!a || !b)
        bench_fail("sp_job_create failed");
    if (name_a)
        sp_job_set_name(a, name_a);
    if (name_b)
        sp_job_set_name(b, name_b);
    /* both are queued before the worker can pick either */
    if (sp_job_start(pool, 0, a) < 0 || sp_job_start(pool, 0, b) < 0)
        bench_fail("sp_job_start failed");
    sp_job_wait(a);
    sp_job_wait(b);
    sp_job_release(a);
    sp_job_release(b);
    return (pp_t_end - pp_t_start) / (2.0 * (double)n);
}
#endif
