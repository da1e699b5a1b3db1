/* Channel ping-pong: two jobs on a 1-worker pool bounce a value over two
 * channels n times (a receive with nothing queued suspends the fiber and
 * the worker switches to the other job).
 * Prints: channel_ns (wall time / messages, one direction each).
 */
#include <stdatomic.h>
#include <stdint.h>
#include "spindle.h"
#include "bench.h"

static long n_msgs;
static sp_chan *ping, *pong;
static double t_start, t_end;

static void *pinger(void *arg)
{
    void *v = NULL;
    t_start = bench_now_ns();
    for (long i = 0; i < n_msgs; i++) {
        if (sp_chan_send(ping, (void *)(intptr_t)i) < 0 ||
            sp_chan_recv(pong, &v) < 0)
            bench_fail("channel send/recv failed");
    }
    t_end = bench_now_ns();
    return v;
}

static void *ponger(void *arg)
{
    void *v;
    for (long i = 0; i < n_msgs; i++) {
        if (sp_chan_recv(ping, &v) < 0 || sp_chan_send(pong, v) < 0)
            bench_fail("channel send/recv failed");
    }
    return arg;
}

static double run(sp_pool *pool, long n)
{
    sp_job *a = sp_job_create(pinger, NULL), *b = sp_job_create(ponger, NULL);
    void *last;
    n_msgs = n;
    if (!a || !b || sp_job_start(pool, 0, b) < 0 || sp_job_start(pool, 0, a) < 0)
        bench_fail("job create/start failed");
    last = sp_job_wait(a);
    sp_job_wait(b);
    sp_job_release(a);
    sp_job_release(b);
    if ((intptr_t)last != n - 1)
        bench_fail("ping-pong lost a message");
    return (t_end - t_start) / (2.0 * (double)n);
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, "n", 1000000);
    sp_pool *pool = sp_pool_create(1);
    ping = sp_chan_create(NULL);
    pong = sp_chan_create(NULL);
    if (!pool || !ping || !pong)
        bench_fail("setup failed");
    run(pool, 10000);                       /* warm up */
    bench_report("channel_ns", run(pool, n));
    sp_pool_close(pool, 1);
    sp_chan_release(ping);
    sp_chan_release(pong);
    return 0;
}
