/*
 * fiber.c - fiber start-up and the small system helpers (futex, clock)
 * the scheduler builds on. The switch itself is context_x86_64.S.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#ifdef SP_ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifdef SP_TSAN
#include <sanitizer/tsan_interface.h>
#endif
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

int sp__futex_wait_ns(_Atomic int *addr, int val, uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    long r = syscall(SYS_futex, (int *)addr, FUTEX_WAIT_PRIVATE, val, &ts,
                     NULL, 0);
    return r != 0 && errno == ETIMEDOUT;
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

/* ---- sanitizer annotations ---- */

#if defined(SP_ASAN) || defined(SP_TSAN)

#ifdef SP_TSAN
/* Creating a TSan fiber costs milliseconds (TSan sets up the state of a
 * new thread: 20,000 short jobs took minutes), destroying one about
 * 1 ms. So each OS thread keeps the fibers of jobs that ended on it
 * (up to 64) for the next jobs it starts. That hides no race: every
 * switch is annotated with synchronization, so TSan already orders all
 * that runs on one thread (job A ends, the scheduler's fiber runs, job
 * B starts); a reused fiber only carries that same order. Fibers left
 * in a cache when its thread exits are destroyed then. */
enum { SP__TSAN_CACHE = 64 };
typedef struct fcache { int n; void *f[SP__TSAN_CACHE]; } fcache;
static pthread_key_t g_fkey;
static pthread_once_t g_fonce = PTHREAD_ONCE_INIT;

static void fcache_drop(void *p)
{
    fcache *c = p;
    while (c->n > 0)
        __tsan_destroy_fiber(c->f[--c->n]);
    free(c);
}

static void fcache_init(void)
{
    pthread_key_create(&g_fkey, fcache_drop);
}

static fcache *fcache_self(void)
{
    pthread_once(&g_fonce, fcache_init);
    fcache *c = pthread_getspecific(g_fkey);
    if (!c && (c = calloc(1, sizeof *c)))
        pthread_setspecific(g_fkey, c);
    return c;
}

static void *fiber_get(void)
{
    fcache *c = fcache_self();
    return c && c->n > 0 ? c->f[--c->n] : __tsan_create_fiber(0);
}

/* on the thread the fiber last ran on, once it is not running */
static void fiber_put(void *f)
{
    fcache *c = fcache_self();
    if (c && c->n < SP__TSAN_CACHE)
        c->f[c->n++] = f;
    else
        __tsan_destroy_fiber(f);
}
#endif

void sp__san_to_job(sp__worker *w, sp_job *j)
{
#ifdef SP_ASAN
    __sanitizer_start_switch_fiber(&w->san_fake, j->stack->lo,
                                   (size_t)(j->stack->hi - j->stack->lo));
#endif
#ifdef SP_TSAN
    if (!w->tsan_fiber)
        w->tsan_fiber = __tsan_get_current_fiber();
    if (!j->tsan_fiber)
        j->tsan_fiber = fiber_get();
    __tsan_switch_to_fiber(j->tsan_fiber, 0);
#endif
    (void)w;
    (void)j;
}

/* TSan treats each fiber as a thread of its own and checks that a
 * pthread mutex is unlocked by the thread that locked it. A job that
 * suspends in sp__wait holds the wait queue's mutex (post_lock) across
 * its switch out, and the scheduler unlocks it once the job is off its
 * stack (the post action): by TSan's reckoning another thread. So the
 * ownership is handed over in TSan's model, without touching the real
 * mutex: the job's fiber "unlocks" it just before the switch (a release,
 * as the switch is), and the scheduler's fiber "locks" it right after
 * (an acquire; a try-lock, so no lock-order edge is recorded), before it
 * really unlocks it. Between the two nobody else can take the mutex:
 * it is really held all along. */
static void tsan_lock_to_sched(sp__lockp l)
{
#ifdef SP_TSAN
    /* a job's sp__lk is plain atomics to TSan: nothing to hand over */
    pthread_mutex_t *lock = l && !(l & 1) ? (pthread_mutex_t *)l : NULL;
    if (lock) {
        __tsan_mutex_pre_unlock(lock, 0);
        __tsan_mutex_post_unlock(lock, 0);
    }
#endif
    (void)l;
}

static void tsan_lock_in_sched(sp__lockp l)
{
#ifdef SP_TSAN
    /* a job's sp__lk is plain atomics to TSan: nothing to hand over */
    pthread_mutex_t *lock = l && !(l & 1) ? (pthread_mutex_t *)l : NULL;
    if (lock) {
        __tsan_mutex_pre_lock(lock, __tsan_mutex_try_lock);
        __tsan_mutex_post_lock(lock, __tsan_mutex_try_lock, 0);
    }
#endif
    (void)l;
}

void sp__san_back_in_sched(sp__worker *w)
{
#ifdef SP_ASAN
    __sanitizer_finish_switch_fiber(w->san_fake, NULL, NULL);
#endif
    /* every switch back to the scheduler is sp__switch_out's, which set
     * post_lock: the mutex after_switch is about to unlock, or NULL */
    tsan_lock_in_sched(w->post_lock);
}

void sp__san_job_entered(sp__worker *w, sp_job *j)
{
#ifdef SP_ASAN
    __sanitizer_finish_switch_fiber(j->san_fake, &w->san_bottom, &w->san_size);
#endif
    (void)w;
    (void)j;
}

void sp__san_job_leaving(sp__worker *w, sp_job *j, int ending)
{
#ifdef SP_ASAN
    __sanitizer_start_switch_fiber(ending ? NULL : &j->san_fake, w->san_bottom,
                                   w->san_size);
    /* j's frames are abandoned, not returned from: their redzones stay
     * poisoned, and the next job on this (cached) stack would trip over
     * them where uninstrumented code writes (seen: sigaltstack in ASan's
     * own __asan_handle_no_return, under a cancel in sp_yield) */
    if (ending && j->stack)
        __asan_unpoison_memory_region(j->stack->lo,
                                      (size_t)(j->stack->hi - j->stack->lo));
#endif
    tsan_lock_to_sched(w->post_lock); /* set by sp__switch_out */
#ifdef SP_TSAN
    __tsan_switch_to_fiber(w->tsan_fiber, 0);
    if (ending) {
        /* j never runs again. A job that ended inside a signal handler
         * (cancelled there, or a stack overflow) leaves its fiber in the
         * handler by TSan's reckoning: that one is not reused. */
        int in_handler = w->post == SP__POST_CANCEL_ASYNC ||
                         w->post == SP__POST_OVERFLOW;
        if (in_handler)
            __tsan_destroy_fiber(j->tsan_fiber);
        else
            fiber_put(j->tsan_fiber);
        j->tsan_fiber = NULL;
    }
#endif
    (void)w;
    (void)j;
    (void)ending;
}

/* A fiber that runs on (sp__run_on) from j to the next job: no switch,
 * so ASan has nothing to hear; TSan's fiber goes with the stack, taken
 * from j before j can be freed. */
void *sp__san_run_on_take(sp_job *j)
{
#ifdef SP_TSAN
    void *f = j->tsan_fiber;
    j->tsan_fiber = NULL;
    return f;
#else
    (void)j;
    return NULL;
#endif
}

void sp__san_run_on_give(sp_job *n, void *f)
{
#ifdef SP_TSAN
    n->tsan_fiber = f;
#endif
    (void)n;
    (void)f;
}

/* That fiber, its last job ended, leaves for the scheduler for good: as
 * sp__san_job_leaving for an ending job, with no job. */
void sp__san_free_leaving(sp__worker *w, sp__stack *s, void *f)
{
#ifdef SP_ASAN
    __sanitizer_start_switch_fiber(NULL, w->san_bottom, w->san_size);
    __asan_unpoison_memory_region(s->lo, (size_t)(s->hi - s->lo));
#endif
#ifdef SP_TSAN
    __tsan_switch_to_fiber(w->tsan_fiber, 0);
    fiber_put(f);
#endif
    (void)w;
    (void)s;
    (void)f;
}

void sp__san_job_freed(sp_job *j)
{
#ifdef SP_TSAN
    if (j->tsan_fiber)
        __tsan_destroy_fiber(j->tsan_fiber);
    j->tsan_fiber = NULL;
#endif
    (void)j;
}

/* A job hands its worker straight to another job that has run before
 * (yield_direct, worker.c): no scheduler context in between. */
void sp__san_job_to_job(sp_job *from, sp_job *to)
{
#ifdef SP_ASAN
    __sanitizer_start_switch_fiber(&from->san_fake, to->stack->lo,
                                   (size_t)(to->stack->hi - to->stack->lo));
#endif
#ifdef SP_TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    (void)from;
    (void)to;
}

/* A direct wait (sp__wait_direct) hands the wait queue's lock from the
 * suspending job's fiber to the job it resumes, which unlocks it: the
 * same hand-over as to the scheduler (tsan_lock_to_sched). */
void sp__san_lock_out(sp__lockp l)
{
    tsan_lock_to_sched(l);
}

void sp__san_lock_in(sp__lockp l)
{
    tsan_lock_in_sched(l);
}

/* j resumed by another job, not by the scheduler: the stack we came from
 * is that job's, which must not replace the scheduler's bounds. */
void sp__san_direct_entered(sp_job *j)
{
#ifdef SP_ASAN
    __sanitizer_finish_switch_fiber(j->san_fake, NULL, NULL);
#endif
    (void)j;
}
#endif /* SP_ASAN || SP_TSAN */

/* Runs on the job's own stack; reached through sp__ctx_boot. The job is
 * re-read through sp__self() because nothing may be cached across the
 * first switch. */
void sp__fiber_main(void)
{
    sp_job *j = sp__current();
    sp__san_job_entered(sp__self(), j);
    for (;;) {
        j->in_rt = 0;
        void *r = j->fn(j->arg);
        j->in_rt = 1;
        j = sp__current();
        if (sp__job_detached(j)) { /* sp_job_complete ends it */
            j->result = NULL;
            sp__switch_out(j, SP__POST_DETACH, 0);
        }
        j->result = r;
        /* SP_JOB_CANCEL_ON_RETURN: a deferred cancel ends the job
         * CANCELLED when it returns */
        if ((j->flags & SP_JOB_CANCEL_ON_RETURN) && atomic_load(&j->cancel))
            sp__switch_out(j, SP__POST_CANCEL, 0);
        /* the next job on this stack, j ended here (worker.c), or the
         * usual way out */
        sp_job *n = sp__run_on(j);
        if (!n)
            sp__switch_out(j, SP__POST_END, 0);
        j = n;
    }
}
