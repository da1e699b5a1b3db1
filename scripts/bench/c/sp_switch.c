/* Fiber switch: two jobs on a 1-worker pool, each calling sp_yield() n
 * times, so every yield switches from one job to the other.
 * Prints: switch_ns (wall time of the ping-pong / number of yields). */
#include "pingpong.h"

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, "n", 5000000);
    sp_pool *pool = sp_pool_create(1);
    if (!pool)
        bench_fail("sp_pool_create failed");
    pingpong_run(pool, 10000, NULL, NULL); /* warm up: stacks, caches */
    bench_report("switch_ns", pingpong_run(pool, n, NULL, NULL));
    sp_pool_close(pool, 1);
    return 0;
}
