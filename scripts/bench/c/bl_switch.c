/* Baseline: glibc swapcontext ping-pong between two contexts on one thread.
 * swapcontext saves and restores the signal mask with a syscall on every
 * switch, which is what spindle's own switch avoids.
 * Prints: swapcontext_ns (ns per switch). */
#include <ucontext.h>
#include "bench.h"

static ucontext_t main_ctx, other_ctx;
static long rounds, n_rounds;

static void other_fn(void)
{
    for (;;)
        swapcontext(&other_ctx, &main_ctx);
}

int main(int argc, char **argv)
{
    static char stack[64 * 1024];
    double t0, t1;

    n_rounds = bench_arg(argc, argv, "n", 1000000);
    getcontext(&other_ctx);
    other_ctx.uc_stack.ss_sp = stack;
    other_ctx.uc_stack.ss_size = sizeof stack;
    other_ctx.uc_link = NULL;
    makecontext(&other_ctx, other_fn, 0);
    for (long i = 0; i < 1000; i++)          /* warm up */
        swapcontext(&main_ctx, &other_ctx);
    t0 = bench_now_ns();
    for (rounds = 0; rounds < n_rounds; rounds++)
        swapcontext(&main_ctx, &other_ctx);
    t1 = bench_now_ns();
    /* each round is two switches: there and back */
    bench_report("swapcontext_ns", (t1 - t0) / (2.0 * (double)n_rounds));
    return 0;
}
