/* Baseline for fork-join fib: plain sequential recursive fib(n) in C,
 * the work the parallel version splits into jobs.
 * Prints: serial_fib_ms. */
#include "bench.h"

__attribute__((noipa)) static long fib(long n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

int main(int argc, char **argv)
{
    long n = bench_arg(argc, argv, "n", 30);
    double best = 0;
    /* median-free: the harness repeats the program; one warm-up first */
    bench_keep(fib(n));
    double t0 = bench_now_ns();
    long r = fib(n);
    best = bench_now_ns() - t0;
    bench_keep(r);
    bench_report("serial_fib_ms", best / 1e6);
    return 0;
}
