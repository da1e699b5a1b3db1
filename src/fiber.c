/*
 * fiber.c - fiber start-up and the small system helpers (futex, clock)
 * the scheduler builds on. The switch itself is context_x86_64.S.
 */
#include "internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Default MXCSR (all exceptions masked, round to nearest) and x87 control
 * word (extended precision, all exceptions masked), as a fresh thread has. */
#define SP__FPU_INIT (0x1F80ull | (0x037Full << 32))

void *sp__ctx_init(void *lo, void *hi)
{
    (void)lo;
    uint64_t *sp = (uint64_t *)((uintptr_t)hi & ~(uintptr_t)15);
    *--sp = 0;                              /* keeps the boot frame aligned */
    *--sp = (uint64_t)(uintptr_t)sp__ctx_boot; /* "return address" */
    for (int i = 0; i < 6; i++)             /* rbp rbx r12 r13 r14 r15 */
        *--sp = 0;
    *--sp = SP__FPU_INIT;
    return sp;
}

void sp__futex_wait(_Atomic int *addr, int val)
{
    /* EINTR and EAGAIN are both fine: every caller loops on its condition. */
    syscall(SYS_futex, (int *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

void sp__futex_wake(_Atomic int *addr, int n)
{
    syscall(SYS_futex, (int *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

uint64_t sp__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Runs on the job's own stack; reached through sp__ctx_boot. The job is
 * re-read through sp__self() because nothing may be cached across the
 * first switch. */
void sp__fiber_main(void)
{
    sp_job *j = sp__current();
    j->in_rt = 0;
    void *r = j->fn(j->arg);
    j->in_rt = 1;
    j = sp__current();
    j->result = r;
    sp__switch_out(j, SP__POST_END, NULL);
    __builtin_unreachable();
}
