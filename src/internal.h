/*
 * internal.h - what crosses files inside libspindle (never installed).
 *
 * Names here start with sp__. The shared library is built with
 * -fvisibility=hidden, so none of them is exported; unit tests link the
 * convenience library libspindle_core.la and may use them.
 *
 * Two families matter to code outside the core (src/trigger.c,
 * src/channel.c, src/deps.c):
 *
 *  Wait queues (sp__waitq): suspend the current fiber -- or block the
 *  current plain thread -- on a queue guarded by the caller's mutex:
 *
 *      pthread_mutex_lock(&obj->lock);
 *      while (!obj->ready) {
 *          int rc = sp__wait(&obj->waiters, &obj->lock);
 *          if (rc < 0) break;           // SP_ECANCELED (deferred cancel)
 *      }
 *      pthread_mutex_unlock(&obj->lock);
 *
 *  and elsewhere, with the same mutex held: sp__wake_one / sp__wake_all.
 *  sp__wait releases the mutex only once the fiber is off its stack, so
 *  a wake can never race with the switch. A job whose cancel is requested
 *  while it waits is woken (sp__wait then ends it as CANCELLED at this
 *  safe point, releasing the mutex first; with SP_JOB_DEFER_CANCEL it
 *  returns SP_ECANCELED with the mutex held).
 *
 *  Job-end hooks (sp__job_on_end): fn(job, ud) runs exactly once when the
 *  job ends in any state (DONE, CANCELLED, FAILED), on the thread that
 *  ended it, with no runtime lock held; if the job has already ended,
 *  sp__job_on_end returns SP_EBUSY and does not call fn. A hook reads the
 *  final state from job->end_state (job->state is stored after the hooks
 *  ran, so that a joiner sees their effects). A job freed without ever
 *  having ended (never started) runs its hooks at free, end_state
 *  SP_JOB_CREATED, so that they can drop what they hold.
 */
#ifndef SP_INTERNAL_H
#define SP_INTERNAL_H

#include "config.h"
#include "spindle.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>

#define SP_NPRIO (SP_PRIO_MAX - SP_PRIO_MIN + 1)
#define SP_PREEMPT_SIGNAL SIGURG

/* ------------------------------------------------------------------ */
/* Low level: context switch, futex, time                              */
/* ------------------------------------------------------------------ */

/* context_x86_64.S: save callee-saved registers, MXCSR and the x87
 * control word on the current stack, store the stack pointer in *save,
 * load new_sp and restore the same from there. */
void sp__ctx_switch(void **save, void *new_sp);
/* First code a new fiber runs: calls sp__fiber_main() on an aligned stack. */
void sp__ctx_boot(void);
/* Prepare a fresh stack [lo, hi) so that switching to the returned
 * stack pointer enters sp__fiber_main. */
void *sp__ctx_init(void *lo, void *hi);
void sp__fiber_main(void) __attribute__((noreturn));

void sp__futex_wait(_Atomic int *addr, int val);
/* the calling plain thread's waits are interruptible (sp_wait_interruptible):
 * it does not stand in for a parked worker (sp__lend_run), so that what
 * it runs is never what it waits for */
int sp__wait_intr_on(void);
/* its flag is set now (sp__wait_verdict: SP_EINTR) */
int sp__wait_intr_pending(void);
void sp__futex_wake(_Atomic int *addr, int n);
/* As sp__futex_wait for at most ns: 1 if that time ran out. */
int sp__futex_wait_ns(_Atomic int *addr, int val, uint64_t ns);
uint64_t sp__now_ns(void);

/* ------------------------------------------------------------------ */
/* Stacks (stack.c)                                                    */
/* ------------------------------------------------------------------ */

enum { SP__STACK_GUARDED = 1, SP__STACK_SLAB = 2 };

typedef struct sp__stack {
    struct sp__stack *next;   /* free-list link */
    char *lo, *hi;            /* usable range; the descriptor sits at hi */
    char *guard;              /* guard page (GUARDED) or NULL */
    size_t size;              /* usable size requested */
    int kind;
    unsigned vg_id;           /* valgrind stack id */
} sp__stack;


sp__stack *sp__stack_alloc(size_t size);      /* global: mmap or slab */
void sp__stack_free(sp__stack *s);            /* global free list */
int sp__stack_canary_ok(const sp__stack *s);  /* slab stacks only */
int sp__stack_in_guard(const sp__stack *s, const void *addr);
size_t sp__stack_round(size_t size);
void sp__stack_budget(long *guarded_max, long *guarded_now);
void sp__stack_set_budget(long guarded_max); /* tests */
long sp__stack_slab_count(void); /* slab stacks carved so far */

/* ------------------------------------------------------------------ */
/* Jobs, queues, workers                                               */
/* ------------------------------------------------------------------ */

/* The job lock: 4 bytes where a pthread mutex takes 40 (a million-job
 * batch pays for every byte of a job in fresh pages). A futex mutex
 * (Drepper's "mutex 2"): 0 free, 1 held, 2 held with sleepers. */
typedef struct sp__lk { _Atomic int v; } sp__lk;

void sp__lk_lock_slow(sp__lk *l);

static inline void sp__lk_lock(sp__lk *l)
{
    int c = 0;
    if (!atomic_compare_exchange_strong_explicit(&l->v, &c, 1,
                                                 memory_order_acquire,
                                                 memory_order_relaxed))
        sp__lk_lock_slow(l);
}

static inline int sp__lk_trylock(sp__lk *l) /* 0 when taken */
{
    int c = 0;
    return atomic_compare_exchange_strong_explicit(&l->v, &c, 1,
                                                   memory_order_acquire,
                                                   memory_order_relaxed)
               ? 0 : -1;
}

static inline void sp__lk_unlock(sp__lk *l)
{
    if (atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2)
        sp__futex_wake(&l->v, 1);
}

/* The lock guarding a wait queue: a pthread mutex (coordination objects)
 * or, low bit set, a job's sp__lk (joiners of a job). */
typedef uintptr_t sp__lockp;
#define SP__LOCKP_MUTEX(m) ((sp__lockp)(pthread_mutex_t *)(m))
#define SP__LOCKP_LK(l) ((sp__lockp)(sp__lk *)(l) | 1u)

static inline void sp__lockp_lock(sp__lockp l)
{
    if (l & 1)
        sp__lk_lock((sp__lk *)(l & ~(sp__lockp)1));
    else
        pthread_mutex_lock((pthread_mutex_t *)l);
}

static inline void sp__lockp_unlock(sp__lockp l)
{
    if (l & 1)
        sp__lk_unlock((sp__lk *)(l & ~(sp__lockp)1));
    else
        pthread_mutex_unlock((pthread_mutex_t *)l);
}

static inline int sp__lockp_trylock(sp__lockp l) /* 0 when taken */
{
    if (l & 1)
        return sp__lk_trylock((sp__lk *)(l & ~(sp__lockp)1));
    return pthread_mutex_trylock((pthread_mutex_t *)l) == 0 ? 0 : -1;
}

typedef struct sp__waitq sp__waitq;

typedef struct sp__waiter {
    struct sp__waiter *next;
    sp_job *job;              /* a suspended fiber, or NULL: a thread */
    _Atomic int woken;        /* thread waiters sleep on this futex */
    int pseudo;               /* thread waiter running pseudo pools: it
                               * sleeps on sp__pseudo_gseq instead */
    sp__waitq *q;             /* fibers: the queue, and the lock that */
    sp__lockp lock;           /* guards it (for a cancel to unlink) */
} sp__waiter;

struct sp__waitq {
    sp__waiter *head, *tail;
};

typedef struct sp__hook {
    struct sp__hook *next;
    void (*fn)(sp_job *job, void *ud);
    void *ud;
    int caller_owned;         /* sp__job_on_end_node: never freed here */
} sp__hook;

typedef struct sp__worker sp__worker;
typedef struct sp__trace sp__trace;   /* trace.c */
typedef struct sp__tbuf sp__tbuf;

/* a job name set by a rename (sp_job_set_name), chained to the one before */
typedef struct sp__name {
    struct sp__name *prev;
    char s[];
} sp__name;

/* The rarely used part of a job, allocated on first use (sp__jside_get):
 * a trivial job never has one. */
typedef struct sp__jside {
    char *error, *name;
    sp_job_cleanup_fn cleanup;
    void *cleanup_ud;
    sp__hook *hooks;          /* guarded by the job lock */
    struct sp__jx *x;         /* argument list (sp_job_createv), or NULL */
    /* a job's first name, when short, lives here (name points to it):
     * the part is a 128-byte block anyway (sp__blk_alloc), and a script
     * names every job it starts */
    char name_inl[64];
    /* heap names the job has had (the current one first): a rename never
     * frees the name it replaces, so sp_job_name's pointer stays valid
     * while the job lives; all freed with the job */
    struct sp__name *names;
    struct sp__detach *_Atomic det; /* sp_job_detach, or NULL */
} sp__jside;

/* A detached job (sp_job_detach): its end comes from sp_job_complete.
 * st moves ON -> GONE (the fiber ended, the job waits for its completion)
 * -> ENDED, or ON -> EARLY (completed while the fiber still ran: the
 * fiber's end ends the job) -> ENDED; the runtime ending the fiber
 * otherwise (a cancel at a safe point, a stack overflow) goes to ENDED
 * at once and the completion is refused. */
enum { SP__DET_ON = 1, SP__DET_GONE, SP__DET_EARLY, SP__DET_ENDED };
typedef struct sp__detach {
    sp_job_cancel_fn on_cancel;
    void *ud;
    _Atomic int st;            /* SP__DET_* */
    _Atomic int told;          /* on_cancel was called */
    _Atomic int claimed;       /* sp_job_complete was called */
    int end;                   /* EARLY: the completion's state, result */
    void *result;              /* and message */
    char *err;
} sp__detach;

/* A detached job's fiber is being ended by the runtime (worker side):
 * mark it ENDED; a completion that came first replaces *state, and the
 * result or *err (malloc'ed, the caller frees it) with its own. */
void sp__detach_ending(sp_job *j, int *state, char **err);


/* Poll for up to the pool's spin_us (sp_pool_set_spin_us), calling its
 * poll hook each round (or yielding the CPU), until done(arg) says so; a
 * round whose hook did something starts the time again. */
void sp__pool_poll(sp_pool *p, int (*done)(void *), void *arg);

/* 128 bytes (two cache lines) without the sanitizer fields: every byte
 * of a job is fresh memory in a million-job batch. */
struct sp_job {
    volatile int poll;         /* first: sp_poll_flag points here */
    volatile int in_rt;        /* >0 while in runtime code (no async switch) */
    _Atomic int refs;
    _Atomic int state;         /* sp_state */
    _Atomic int cancel;        /* cancel requested */
    sp__lk lock;               /* guards waiters, side->hooks, waitnode */
    int8_t prio;
    uint8_t flags;             /* SP_JOB_* (all fit in 8 bits) */
    volatile uint8_t async_susp; /* suspended inside the signal handler */
    uint8_t preempt_cause;     /* SP__PC_* pending */
    uint8_t scheduled;         /* sp_job_schedule took it (deps pending) */
    uint8_t end_state;         /* set first thing in sp__job_end: what end
                                * hooks read (state is stored after them) */
    /* the rest of the first line: what a waiter and the release read
     * (a batch's waits then fetch one line per job, not two) */
    void *result;
    sp_pool *pool;
    sp__stack *stack;          /* NULL until the job first runs */
    sp__jside *_Atomic side;   /* NULL until needed */
    sp_job_fn fn;
    void *arg;
    void *sp;                  /* saved stack pointer while switched out */
    sp_job *next;              /* run-queue link */
    sp__worker *worker;        /* worker it last ran on */
    sp__waitq waiters;         /* joiners */
    sp__waiter *waitnode;      /* its wait node while suspended on a wait
                                * queue (node->q, node->lock), else NULL */
#if defined(SP_ASAN) || defined(SP_TSAN)
    void *san_fake;            /* ASan fake stack */
    void *tsan_fiber;          /* TSan fiber */
#endif
};

#if !defined(SP_ASAN) && !defined(SP_TSAN)
_Static_assert(sizeof(struct sp_job) == 128, "a job is two cache lines");
_Static_assert(offsetof(struct sp_job, side) + sizeof(void *) <= 64,
               "what a waiter and the release read is on the first line");
#endif

/* The side part of j, allocated if needed (lock-free: any thread, any
 * time); NULL only when out of memory. */
sp__jside *sp__jside_get(sp_job *j);

/* The side part if it exists (NULL otherwise). */
static inline sp__jside *sp__jside_peek(const sp_job *j)
{
    return atomic_load_explicit(&((sp_job *)j)->side, memory_order_acquire);
}

/* sp_job_detach was called for j (one load for a job without a side part) */
static inline int sp__job_detached(const sp_job *j)
{
    sp__jside *s = sp__jside_peek(j);
    return s && atomic_load_explicit(&s->det, memory_order_acquire) != NULL;
}

static inline char *sp__job_err(const sp_job *j)
{
    sp__jside *s = sp__jside_peek(j);
    return s ? s->error : NULL;
}

static inline struct sp__jx *sp__job_x(const sp_job *j)
{
    sp__jside *s = sp__jside_peek(j);
    return s ? s->x : NULL;
}

/* Give j the error message msg (taken over; freed if one is set already
 * and keep_old, or if there is no memory for the side part). */
void sp__job_set_error(sp_job *j, char *msg, int keep_old);

/* In an end hook, or once ended: the final state (CREATED when the job
 * is being freed without having ended). */
static inline int sp__job_final_state(sp_job *j)
{
    int s = __atomic_load_n(&j->end_state, __ATOMIC_ACQUIRE);
    return s ? s : atomic_load(&j->state);
}

/* An argument-list job (deps.c). Values are owned through ops. */
typedef struct sp__jx {
    sp_job_fnv fn;
    void *ud;
    sp_value_ops ops;
    int has_ops;
    size_t n, cap;
    void **v;
    sp_trigger **keep;        /* triggers whose unpacked lists are args: */
    size_t *kidx;             /* at these indices (not owned through ops) */
    size_t nkeep;
} sp__jx;

static inline void sp__vretain(const sp_value_ops *o, void *v)
{
    if (o && o->retain && v)
        o->retain(v);
}

static inline void sp__vrelease(const sp_value_ops *o, void *v)
{
    if (o && o->release && v)
        o->release(v);
}

enum { SP__PC_NONE = 0, SP__PC_SLICE, SP__PC_PRIO, SP__PC_CANCEL };

#define SP__LIKELY(x) __builtin_expect(!!(x), 1)
#define SP__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Prefetch the line of p for writing: PREFETCHW fetches it exclusive,
 * so that the first store does not need a second trip to the core that
 * wrote it last (a job made by one thread and run by another). The
 * instruction (PRFCHW) is on every AMD64 CPU of AMD and on Intel's
 * since Broadwell; sp__prefetchw_ok is set from CPUID at load time, and
 * without it this is a plain prefetch. Never faults, whatever p is. */
extern int sp__prefetchw_ok;
static inline void sp__prefetch_w(const void *p)
{
    if (SP__LIKELY(sp__prefetchw_ok))
        __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
    else
        __builtin_prefetch(p, 1, 3);
}

/* A job's first two lines (all of it but in sanitizer builds). */
static inline void sp__prefetch_job(const void *j)
{
    sp__prefetch_w(j);
    sp__prefetch_w((const char *)j + 64);
}

/* One round of waiting for a lock word held by another thread: pause,
 * then give the CPU away, for when the holder was descheduled. */
static inline void sp__spin_backoff(int round)
{
    if (round < 64)
        __builtin_ia32_pause();
    else
        sched_yield();
}

/* A start in progress (sp__job_start): the state between CREATED and
 * QUEUED while the starting thread fills in the job's pool, priority and
 * counts. A start claims the job with one compare-and-swap of the state
 * (CREATED -> STARTING) instead of the job's lock pair (issue 19), so
 * whoever must see a job stay CREATED while it acts (a cancel of an
 * unstarted job, a failed dependency, sp_job_schedule, a second start)
 * waits for the state to move on (sp__job_settled): the starter stores
 * QUEUED, or CREATED again when the job turned out to be scheduled.
 * Negative: every
 * ">= SP_JOB_DONE" test reads it as not ended, and no test of CREATED or
 * QUEUED matches it; sp_job_state reports CREATED. */
#define SP__JOB_STARTING (-1)
static inline int sp__job_settled(sp_job *j)
{
    int st;
    for (int n = 0; (st = atomic_load(&j->state)) == SP__JOB_STARTING; n++)
        sp__spin_backoff(n);
    return st;
}

/* CREATED -> to with one compare-and-swap, a start in progress waited
 * out; 1 if done, else 0 with the state it found in *seen */
static inline int sp__job_take_created(sp_job *j, int to, int *seen)
{
    int st;
    do {
        st = SP_JOB_CREATED;
        if (atomic_compare_exchange_strong(&j->state, &st, to))
            return 1;
    } while (st == SP__JOB_STARTING && sp__job_settled(j) >= 0);
    *seen = st;
    return 0;
}

/* Run-queue lock: critical sections are a few pointer moves, so spin. */
typedef struct sp__spin { _Atomic int v; } sp__spin;

static inline void sp__spin_lock(sp__spin *l)
{
    for (int n = 0;; n++) {
        if (!atomic_load_explicit(&l->v, memory_order_relaxed) &&
            !atomic_exchange_explicit(&l->v, 1, memory_order_acquire))
            return;
        sp__spin_backoff(n);
    }
}

static inline void sp__spin_unlock(sp__spin *l)
{
    atomic_store_explicit(&l->v, 0, memory_order_release);
}

typedef struct sp__runq {
    sp__spin lock;
    /* Owner bias (sp__runq_lock_own): while bias is 1 the owner worker
     * enters with plain stores on own, no locked instruction; anyone
     * else takes lock and revokes the bias first (sp__runq_lock). */
    _Atomic int bias;
    sp__spin own;
    unsigned quiet, rebias_at;                /* lock held */
    uint32_t bitmap;                          /* bit p: level p non-empty */
    unsigned pops;                            /* since the last drain */
    int drained;                              /* jobs the last drain moved */
    struct { sp_job *head, *tail; } lv[SP_NPRIO];
    _Atomic int n;                            /* jobs in the levels */
    int highwater;
    /* Inbox: jobs of priority SP_PRIO_MIN made ready by threads other
     * than the owner, pushed without the lock (one CAS on a line of its
     * own, which stays in the pushing core's cache while it pushes a
     * batch), newest first. Whoever holds the lock moves them into level
     * SP_PRIO_MIN, oldest first, before it looks at the levels
     * (sp__runq_drain: every "lock held" function below does). Only the
     * lowest priority goes here, so the levels' best priority is the
     * queue's best whenever the levels are not empty. */
    _Alignas(64) sp_job *_Atomic inbox;
    char pad1[64 - sizeof(void *)];
} sp__runq;

/* Jobs queued, in the levels or the inbox (no lock). The inbox first:
 * a drain counts into n before it empties the inbox (sp__runq_drain_slow),
 * so a reader that sees the inbox emptied then sees the count. */
static inline int sp__runq_has(sp__runq *q)
{
    return atomic_load_explicit(&q->inbox, memory_order_acquire) != NULL ||
           atomic_load_explicit(&q->n, memory_order_relaxed) > 0;
}

/* Push j (priority SP_PRIO_MIN) on q's inbox, lock not held; 1 if the
 * inbox was empty. seq_cst: the Dekker pair with a parking owner
 * (idle stored, then the queue read) and with retire (retired stored,
 * then the inbox taken) needs no extra fence. */
static inline int sp__runq_push_inbox(sp__runq *q, sp_job *j)
{
    /* no load first: a load would fetch the line shared (the owner took
     * it last) and the CAS then fetch it again for writing; a CAS that
     * fails holds it exclusive and the retry succeeds */
    sp_job *old = NULL;
    do
        j->next = old;
    while (!atomic_compare_exchange_weak(&q->inbox, &old, j));
    return old == NULL;
}

void sp__runq_drain_slow(sp__runq *q);
/* Put a chain taken from the inbox with a compare-and-swap (newest
 * first) into the levels where a drain at that moment would have put
 * it (lock held; then drain what was pushed since). */
void sp__runq_put_back(sp__runq *q, sp_job *l);
/* Spread w's queued jobs over the pool's live workers (resize.c): what a
 * retire does, and what a push does that finds its target retired. */
struct sp_pool;
void sp__move_queue(struct sp_pool *p, sp__worker *w);
/* sp__runq_pop drains a non-empty inbox at least every this many pops. */
#define SP__DRAIN_EVERY 16

/* Move the inbox into the levels (lock held). */
static inline void sp__runq_drain(sp__runq *q)
{
    if (atomic_load_explicit(&q->inbox, memory_order_relaxed))
        sp__runq_drain_slow(q);
}

void sp__runq_init(sp__runq *q);

/*
 * The run-queue lock is biased to the worker that owns the queue. Its
 * owner's hot paths (a yield, a pop, a push of its own job) would pay a
 * locked exchange (~6 ns here) for a lock nobody else wants most of the
 * time: thieves and foreign pushers come only when workers are idle or
 * jobs of other priorities wake. So the owner enters with a plain store
 * (own = 1) and a re-check of bias, with no fence: an asymmetric Dekker.
 * A foreigner takes the spin lock, clears bias and runs a process-wide
 * barrier (membarrier): after it, the owner either sees bias 0 or its
 * own = 1 is visible, and the foreigner waits for own to drop. The
 * barrier costs ~20 us, so the owner re-biases only after rebias_at
 * acquisitions of its own with no foreigner between, and each
 * revocation doubles that. A biased section never takes another lock
 * (a foreigner may hold one and wait for own). Off under TSan (which
 * cannot see the barrier) and where membarrier is missing.
 * Both kinds of holder release with sp__spin_unlock on what they got.
 */
extern int sp__asym_ok;
extern unsigned sp__rebias_fixed;  /* tests: re-bias after this many, always */
extern _Atomic long sp__nrevoke;   /* revocations so far (tests) */
void sp__asym_init(void);
void sp__runq_revoke(sp__runq *q);                 /* lock held */
void sp__runq_rebias(sp__runq *q);                 /* lock held */

/* A foreigner has taken q's spin lock: revoke the bias if set. */
static inline sp__spin *sp__runq_foreign_in(sp__runq *q)
{
    if (SP__UNLIKELY(atomic_load_explicit(&q->bias, memory_order_relaxed)))
        sp__runq_revoke(q);
    q->quiet = 0;
    return &q->lock;
}

/* Lock q from any thread, the owner's included (no bias afterwards). */
static inline sp__spin *sp__runq_lock(sp__runq *q)
{
    sp__spin_lock(&q->lock);
    return sp__runq_foreign_in(q);
}

/* As sp__runq_lock, without waiting for the spin lock: NULL if taken. */
static inline sp__spin *sp__runq_trylock(sp__runq *q)
{
    if (atomic_exchange_explicit(&q->lock.v, 1, memory_order_acquire))
        return NULL;
    return sp__runq_foreign_in(q);
}

/* Lock q from its owner worker's thread only. */
static inline sp__spin *sp__runq_lock_own(sp__runq *q)
{
    if (atomic_load_explicit(&q->bias, memory_order_relaxed)) {
        atomic_store_explicit(&q->own.v, 1, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst); /* the barrier's pair */
        if (SP__LIKELY(atomic_load_explicit(&q->bias, memory_order_relaxed)))
            return &q->own;
        atomic_store_explicit(&q->own.v, 0, memory_order_release);
    }
    sp__spin_lock(&q->lock);
    if (SP__UNLIKELY(++q->quiet >= q->rebias_at))
        sp__runq_rebias(q);
    return &q->lock;
}
void sp__runq_destroy(sp__runq *q);
void sp__runq_push(sp__runq *q, sp_job *j);       /* lock held */
sp_job *sp__runq_pop_fresh(sp__runq *q);
sp_job *sp__runq_pop(sp__runq *q);                /* lock held */
void sp__runq_push_head(sp__runq *q, sp_job *j);  /* lock held */
sp_job *sp__runq_steal(sp__runq *q);              /* lock held */
int sp__runq_remove(sp__runq *q, sp_job *j);      /* lock held; 1 if found */
int sp__runq_top(sp__runq *q);                    /* best prio or -1 */
/* As sp__runq_steal / sp__runq_pop, skipping jobs pinned to the queue's
 * owner (sp__job_pinned); lock held. Only needed while bound jobs exist. */
sp_job *sp__runq_steal_unpinned(sp__runq *q);
sp_job *sp__runq_pop_unpinned(sp__runq *q);
int sp__runq_stealable(sp__runq *q);              /* takes the lock */

/* Pop the head n of level top and push j (lock held): a yield's queue
 * work in one step. The count is unchanged, so q->n is not written. */
static inline void sp__runq_rotate(sp__runq *q, int top, sp_job *n,
                                   sp_job *j)
{
    uint32_t bm = q->bitmap;
    int t = top - SP_PRIO_MIN, p = j->prio - SP_PRIO_MIN;
    q->lv[t].head = n->next;
    if (!n->next) {
        q->lv[t].tail = NULL;
        bm &= ~(1u << t);
    }
    n->next = NULL;
    j->next = NULL;
    if (q->lv[p].tail)
        q->lv[p].tail->next = j;
    else
        q->lv[p].head = j;
    q->lv[p].tail = j;
    __atomic_store_n(&q->bitmap, bm | 1u << p, __ATOMIC_RELAXED);
}

/* What the scheduler does once a job has switched out. */
enum {
    SP__POST_NONE = 0,
    SP__POST_YIELD,       /* requeue */
    SP__POST_PREEMPT,     /* requeue, counted as preemption */
    SP__POST_ASYNC,       /* requeue; switched out in the signal handler */
    SP__POST_WAIT,        /* suspended on a wait queue: unlock post_lock */
    SP__POST_END,         /* fn returned (DONE or FAILED) */
    SP__POST_CANCEL,      /* ended by cancel at a safe point */
    SP__POST_CANCEL_ASYNC,/* ended by cancel in the signal handler */
    SP__POST_OVERFLOW,    /* guard page hit: FAILED "stack overflow" */
    SP__POST_DETACH,      /* fn returned after sp_job_detach: the fiber
                           * ends, the job waits for sp_job_complete */
    SP__POST_FREE         /* a fiber that ran on (sp__run_on) ended its
                           * last job itself: only its stack is left,
                           * post_stack; w->cur is NULL */
};

/* Counters of one worker: only its thread writes them (SP__BUMP: a
 * relaxed load and store, a plain add without a lock prefix), while
 * sp_pool_stats reads them from any thread with relaxed loads. */
#define SP__BUMP(c)                                                      \
    atomic_store_explicit(&(c), atomic_load_explicit(&(c),               \
                          memory_order_relaxed) + 1, memory_order_relaxed)

#if defined(__x86_64__) && !defined(SP_TSAN)
/* "memory": a release store as far as the compiler goes (x86 stores are
 * release already) */
#define SP__OWN_INC(c)                                                   \
    __asm__ volatile("addq $1, %0" : "+m"(*(volatile long *)&(c)) :: "memory")
#else /* TSan must see the write */
#define SP__OWN_INC(c) atomic_fetch_add_explicit(&(c), 1, memory_order_release)
#endif

typedef struct sp__wstats {
    _Atomic uint64_t switches, yields, preempt_slice, preempt_prio, preempt_cancel,
        preempt_async, steals, parks, wakes, signals,
        inline_runs;  /* jobs run by a waiting thread standing in */
} sp__wstats;

/* Job counts of one starter/ender: a pool's own (jobs started or ended
 * by threads that are not its workers), each worker's (the jobs it
 * started and ended itself: a fork-join pool would otherwise bounce two
 * pool cache lines between its workers on every job), and those of
 * workers whose slot a resize reused (pool->dead_jc). Read summed
 * (pool.c). A worker's are written by its thread only (or by the plain
 * thread standing in for it, which the hand-over orders), also from
 * inside the preemption signal's handler: SP__OWN_INC, one add
 * instruction without a lock prefix (a signal arrives between two
 * instructions, so the handler never splits it; other threads read the
 * old or the new value). The pool's own are locked RMWs. */
typedef struct sp__jcount {
    _Atomic long started, ended;
    _Atomic uint64_t done, cancelled, failed;
} sp__jcount;

/* sp__worker.idle: what a worker's thread is doing, and who may wake it.
 * A plain thread that waits for a job queued alone on a parked worker
 * borrows that worker (LENT) and runs the job itself, as that worker
 * (worker.c, "standing in"); and a plain thread that queues a fresh job
 * on a parked worker may put its wake off (OWED): it is likely to wait
 * for that job next, and then runs it without any wake at all. nidle
 * counts the workers asleep: PARKED, OWED, LENT and WANTED (a lent one
 * stays counted, so a lend costs no add on the pool's line; the scans
 * that read nidle wake only PARKED and OWED ones). */
enum {
    SP__W_RUN = 0,      /* running or looking for work */
    SP__W_PARKED = 1,   /* asleep on the futex */
    SP__W_OWED = 2,     /* asleep, with work queued whose wake a plain
                         * thread owes (or nothing queued, given back by
                         * a thread that stood in and may start its next
                         * job here): the thread flushes it at its next
                         * wait, the monitor at its next tick (both: to
                         * PARKED, woken if it has work), any other
                         * pusher wakes it at once */
    SP__W_LENT = 3,     /* asleep, borrowed by a waiting thread */
    SP__W_WANTED = 4    /* borrowed, and wanted back (a push, a stop):
                         * the lender wakes it when it gives it back */
};

/* Lines by writer (allocated 64-aligned, sp__worker_new): what other
 * threads read on every push (pool, retired, idle) is never on a line the
 * worker writes per job or per switch (cur, nswitch, stats, the stack
 * cache): a thread starting a batch of jobs missed two lines per job. */
struct sp__worker {
    /* set at creation */
    sp_pool *pool;             /* pool served */
    int index;
    int is_runner;             /* plain thread running a pseudo pool */
    pthread_t thread;
    /* read by pushers, written rarely (park, wake, retire, exit) */
    _Alignas(64) _Atomic int idle; /* SP__W_* (futex word) */
    _Atomic int retired;       /* replaced by a spare (KLT handoff) */
    _Atomic int exited;
    /* the worker's own, written per job */
    _Alignas(64) void *sched_sp; /* scheduler context while a job runs */
    sp_job *_Atomic cur;       /* job running now (see sp__pin_cur) */
    _Atomic int cur_prio;      /* its priority (read without a pin) */
    _Atomic int want_best;     /* preempted for a job queued elsewhere */
    int post;                  /* SP__POST_* left by the switching job */
    sp__lockp post_lock;       /* 0 or a lock to release (POST_WAIT...) */
    sp__stack *post_stack;     /* POST_FREE: the stack to put back */
    unsigned pace_ns;          /* worker.c, pacing the inbox */
    uint64_t drain_at;
    sp__spin *held;            /* direct switch: the resumed job unlocks */
    sp__lockp held_wait;       /* direct wait: and this wait queue lock */
    int lent;                  /* a waiting thread stands in for it
                                * (only that thread reads or writes it
                                * meanwhile; the worker sleeps) */
    const sigset_t *lent_mask; /* that thread's signal mask */
    _Atomic uint64_t nswitch;  /* read by the monitor */
    _Atomic int sig_inflight;
    _Atomic int pin;           /* >0 while another thread reads cur's job */
    /* monitor's private bookkeeping */
    uint64_t mon_nswitch, mon_since;
    int mon_flagged;
    /* stack cache (owner only) */
    sp__stack *cache;
    int ncache;
    stack_t altstack, old_altstack;
    sp__wstats st;
    sp__jcount jc;             /* jobs this worker started/ended (owner) */
    _Atomic long pref;         /* pool references cached for its jobs */
    void *san_fake;            /* sanitizers: the scheduler context */
    const void *san_bottom;
    size_t san_size;
    void *tsan_fiber;
    sp__trace *tsess;          /* trace: session of tbuf (owner only) */
    sp__tbuf *tbuf;
    sp__worker *gnext;         /* resize.c: a recycled slot's old worker */
    /* own run queue (unused by runners): its lock and levels, then the
     * inbox, each on lines of their own */
    _Alignas(64) sp__runq q;
};
sp__worker *sp__worker_new(void); /* zeroed, 64-aligned; free() it */

/* Sanitizer annotations of every switch (no-ops, inlined away, unless
 * configured with --enable-asan or --enable-tsan); see fiber.c. */
#if defined(SP_ASAN) || defined(SP_TSAN)
void sp__san_to_job(sp__worker *w, sp_job *j);
void sp__san_back_in_sched(sp__worker *w);
void sp__san_job_entered(sp__worker *w, sp_job *j);
void sp__san_job_leaving(sp__worker *w, sp_job *j, int ending);
void *sp__san_run_on_take(sp_job *j);  /* run on: j's fiber, for the next */
void sp__san_run_on_give(sp_job *n, void *f);
void sp__san_free_leaving(sp__worker *w, sp__stack *s, void *f);
void sp__san_job_freed(sp_job *j);
void sp__san_job_to_job(sp_job *from, sp_job *to); /* direct switch */
void sp__san_direct_entered(sp_job *j);
void sp__san_lock_out(sp__lockp l); /* a lock handed to the next fiber */
void sp__san_lock_in(sp__lockp l);
#else
static inline void sp__san_to_job(sp__worker *w, sp_job *j)
{ (void)w; (void)j; }
static inline void sp__san_back_in_sched(sp__worker *w) { (void)w; }
static inline void sp__san_job_entered(sp__worker *w, sp_job *j)
{ (void)w; (void)j; }
static inline void sp__san_job_leaving(sp__worker *w, sp_job *j, int ending)
{ (void)w; (void)j; (void)ending; }
static inline void sp__san_job_freed(sp_job *j) { (void)j; }
static inline void *sp__san_run_on_take(sp_job *j) { (void)j; return 0; }
static inline void sp__san_run_on_give(sp_job *n, void *f)
{ (void)n; (void)f; }
static inline void sp__san_free_leaving(sp__worker *w, sp__stack *s, void *f)
{ (void)w; (void)s; (void)f; }
static inline void sp__san_job_to_job(sp_job *from, sp_job *to)
{ (void)from; (void)to; }
static inline void sp__san_direct_entered(sp_job *j) { (void)j; }
static inline void sp__san_lock_out(sp__lockp l) { (void)l; }
static inline void sp__san_lock_in(sp__lockp l) { (void)l; }
#endif

#define SP__MAX_WORKERS (2 * SP_MAX_WORKERS) /* slots: workers and retiring threads */

/* Fields written once per job sit on lines of their own (_Alignas):
 * the thread that starts jobs and the worker that ends them would
 * otherwise bounce the lines that every job start and run only read. */
struct sp_pool {
    _Atomic int refs;
    _Alignas(64) _Atomic int closed; /* refusing new jobs */
    _Atomic int stopping;      /* workers must exit */
    int nworkers;              /* as created */
    size_t stack_size;
    _Atomic unsigned slice_us;
    _Atomic unsigned spin_us;  /* sp_pool_set_spin_us: a worker with no work
                                * polls this long before it sleeps */
    int (*_Atomic poll_fn)(void *, int); /* sp_pool_set_poll_hook */
    void *_Atomic poll_ud;
    unsigned flags;
    char *name;
    pthread_mutex_t lock;      /* workers array, close */
    pthread_mutex_t statlock;  /* dead */
    sp__worker *_Atomic workers[SP__MAX_WORKERS]; /* atomic: resize.c reuses slots while the monitor and thieves read them */
    _Atomic int nw;            /* entries used in workers[] */
    _Atomic int nidle;
    _Atomic unsigned rr;       /* round robin for outside pushes */
    /* written by whoever starts jobs */
    _Alignas(64) _Atomic long active; /* jobs started (or pending on deps) */
    _Atomic long c_pend;       /* of active: pend links (deps.c); the
                                * rest are starts (sp_stats.jobs_started) */
    _Atomic uint64_t c_highwater; /* written only on a new maximum */
    /* written by whoever ends jobs (a worker, usually) */
    _Alignas(64) _Atomic long ended;  /* of those counted in active:
                                       * active - ended are not ended */
    _Atomic uint64_t c_done, c_cancelled, c_failed;
    _Alignas(64) _Atomic uint64_t c_spares, c_signals;
    _Atomic uint64_t c_wakes;  /* wakes (from any thread) */
    _Alignas(64) sp__runq q;   /* pseudo pool queue */
    _Atomic int seq;           /* pseudo pool: bumped on every change */
    _Atomic long nready;       /* pseudo pool: jobs queued or being run by
                                * a runner (read by a close with wait) */
    sp_pool *reg_next, *reg_prev; /* registry, creation order */
    sp__wstats dead;           /* stats of runner threads that left */
    sp__jcount dead_jc;        /* jc of workers whose slot was reused */
    int stopped;               /* sp__pool_stop done */
    int left;                  /* its result */
    pthread_mutex_t deplock;   /* guards pending (deps.c) */
    void *pending;             /* jobs scheduled here, dependencies pending */
    sp__trace *_Atomic trace;  /* active trace session, or NULL */
    sp__trace *trace_old;      /* sessions turned off (trace.c's lock) */
    /* resize.c (sp_pool_set_workers, bound jobs) */
    _Atomic int nlive;         /* workers not retired: sp_pool_nworkers */
    _Atomic int nbound;        /* bound jobs not ended yet */
    sp__worker *graveyard;     /* workers whose slot was reused (lock) */
    /* plain threads' start counts (pool.c, sp__tstart): their records,
     * summed with active under ts_lock */
    sp__spin ts_lock;
    struct sp__tstart *ts_head;
};

/* A job started by sp_job_start_on: j->worker is the worker it is bound
 * to (never stolen) while that worker is not retired. Internal bit of
 * j->flags (the public SP_JOB_* use the low bits; bit 7 so that it still
 * fits if flags ever becomes a byte), set only at start. */
#define SP__JOB_BOUND (1u << 7)
/* sp_job_promise: its owner starts it later (a dependency already) */
#define SP__JOB_PROMISED (1u << 5)

static inline int sp__job_pinned(const sp_job *j)
{
    return __builtin_expect((j->flags & SP__JOB_BOUND) != 0, 0) &&
           !atomic_load_explicit(&j->worker->retired, memory_order_relaxed);
}

/* Read w's running job from another thread and keep it from being freed
 * until sp__unpin. A job that leaves w without ending (a yield, a
 * preemption, a wait) may run on and end on another worker while the
 * pinner still looks at it, so the count that ends wait for is global
 * (sp__npins, besides w->pin, which keeps w itself alive for resize.c):
 * whatever worker ends a job waits for sp__npins == 0 before dropping
 * its hold. The pinner's locked increment comes before its read of cur;
 * cur stops naming the job before the job can be seen elsewhere; the
 * ender fences before it reads the count (x86 TSO: the increment is
 * visible to it whenever the pinner saw the job as cur). Pins are rare
 * and short (the monitor's tick, a priority check, cancel, stop,
 * resize), so an end almost never waits. */
extern _Atomic long sp__npins;

/* Before the last of a job's end drops its hold: wait until no pinner
 * (sp__pin_cur, of any worker: j may have run on another one) can still
 * hold it from its last run. */
static inline void sp__pins_drain(void)
{
    atomic_thread_fence(memory_order_seq_cst); /* cur = NULL, then pins */
    /* a pause, then the CPU given away: with more workers than cores the
     * pinner (the monitor, a resize) may be descheduled, and workers that
     * only paused kept it off the CPU for their whole time slices (under
     * TSan, a pool grown to 160 workers on 2 cores stalled for minutes) */
    for (int round = 0; atomic_load(&sp__npins); round++)
        sp__spin_backoff(round);
}

/* The same after sp__job_end, whose locked instructions (the state's
 * exchange, or the job lock's) came after cur stopped naming the job:
 * on x86 each is a full barrier, the
 * fence above (a locked instruction of its own, a tenth of a worker's
 * time per job in a batch of short jobs) adds nothing. The signal fence
 * keeps the compiler from moving the read up. */
static inline void sp__pins_drain_after_end(void)
{
#if defined(__x86_64__) && !defined(SP_TSAN)
    atomic_signal_fence(memory_order_seq_cst);
    for (int round = 0;
         atomic_load_explicit(&sp__npins, memory_order_relaxed); round++)
        sp__spin_backoff(round); /* as in sp__pins_drain */
#else
    sp__pins_drain();
#endif
}

sp_job *sp__pin_cur(sp__worker *w);
void sp__unpin(sp__worker *w);

/* worker.c */
sp__worker *sp__self(void);          /* noinline/noipa TLS accessor */
void sp__set_self(sp__worker *w);
sp_job *sp__current(void);
int sp__worker_spawn(sp_pool *pool, int index);
void sp__worker_free(sp__worker *w);
void sp__run_job(sp__worker *w, sp_job *j);
/* Called by the fiber of j, whose fn has just returned (and which is to
 * end DONE or FAILED): end j right there and return the next job to run
 * on this stack; or NULL, j untouched, when the scheduler must end it. */
sp_job *sp__run_on(sp_job *j);
void sp__switch_out(sp_job *j, int post, sp__lockp lock);
/* j (running, cancel requested) ends CANCELLED at this safe point */
__attribute__((noreturn)) void sp__end_cancelled(sp_job *j);
int sp__wait_direct(sp_job *j, sp__lockp lock); /* 1: switched, resumed */
void sp__job_ready(sp_job *j);
/* The same, self being sp__self() (the caller read it already). */
/* may_defer: a plain thread may owe the wake of a parked worker (it may
 * wait for j next and run it itself); 0 when nobody can wait for j */
void sp__job_ready_by(sp_job *j, sp__worker *self, int may_defer);
int sp__pseudo_wait(sp_job *target);
int sp__pseudo_run(sp_pool *pool, sp_job *target);
/* j, with its hold, can never run on its stopped pool: one that has run
 * (it has a stack) goes to the orphans' thread, which resumes it with its
 * cancel set so that it ends at its own safe point; any other (and any
 * after sp_shutdown) ends CANCELLED here. worker.c. */
void sp__job_abandon(sp_job *j);
void sp__orphans_start(void); /* once, by the first pool stop */
int sp__pseudo_run_any(_Atomic int *stop); /* 1 if it ran anything */
void sp__pool_wake_all(sp_pool *pool);
/* Wake w if it sleeps (PARKED or OWED: 1); a LENT one is marked WANTED
 * and, if want, its stand-in job is asked to yield. */
int sp__worker_wake(sp__worker *w, int want);
/* A plain thread waiting for j (QUEUED, pool with workers): run j here
 * if it sits alone in the queue of a parked worker, standing in for that
 * worker. 1 if it ran j (j may not have ended: it can have yielded or
 * suspended and been queued again), 0 if it did nothing. */
int sp__lend_run(sp_job *j);
/* A plain thread about to sleep: do the wake it put off (if any). */
void sp__owed_flush(void);
void sp__owed_pay(sp__worker *w); /* an OWED w: PARKED, woken if it has work */
uint64_t sp__pool_inline_runs(sp_pool *pool); /* tests */
void sp__altstack_on(sp__worker *w);
void sp__altstack_off(sp__worker *w);

/* job.c */
void sp__job_cache_flush(void);
int sp__job_start(sp_pool *pool, int prio, sp_job *job, int scheduled);
/* Why a start (or schedule) of job is refused once it left CREATED or
 * was started: SP_ECANCELED if it was cancelled before it was started,
 * else SP_EBUSY. */
int sp__start_refused(sp_job *job);
void sp__cancel_point(void); /* after SP__WAIT_RETCANCEL: end if cancelled */
void sp__job_end(sp_job *j, int state);
void sp__job_cancel_queued(sp_job *j);
int sp__job_on_end(sp_job *job, void (*fn)(sp_job *, void *), void *ud);
/* The same with a node the caller owns (fn, ud set; it must stay valid
 * until fn has been called; fn may free it, or link it again). */
int sp__job_on_end_node(sp_job *job, sp__hook *h);
void sp__rt_enter(void);
void sp__rt_leave(void);
void sp__rt_leave_quiet(void);
void sp__safepoint(sp_job *j);

/* sched.c: wait queues. With SP__WAIT_RETCANCEL a cancelled job is
 * never ended inside the wait: SP_ECANCELED comes back (lock held) so the
 * caller can undo what it set up, unlock, then call sp__cancel_point().
 * A plain thread waiting while pseudo pools exist runs their queued jobs
 * (sp__pseudo_run_any) and sleeps on sp__pseudo_gseq. */
/* With SP__WAIT_NOLOCK a fiber woken normally (not cancelled) returns
 * SP__WAITED_UNLOCKED without re-taking the lock: for a waker that hands
 * over everything before the wake (a channel's hand-off). */
/* SP__WAIT_JOIN: a plain thread joining a job; sp_shutdown does not end
 * such a wait early (the shutdown ends the job, and a joiner must not
 * return while its job may still run). */
enum { SP__WAIT_RETCANCEL = 1, SP__WAIT_NOLOCK = 2, SP__WAIT_JOIN = 4 };
#define SP__WAITED_UNLOCKED 1
int sp__wait(sp__waitq *q, pthread_mutex_t *lock);
int sp__wait_flags(sp__waitq *q, pthread_mutex_t *lock, int flags);
int sp__wait_any(sp__waitq *q, sp__lockp lock, int flags);
extern _Atomic int sp__pseudo_gseq;     /* bumped by pseudo pushes */
extern _Atomic int sp__pseudo_gwaiters; /* threads asleep on it */
int sp__wake_one(sp__waitq *q);
void sp__wake_all(sp__waitq *q);
void sp__waitq_remove_job(sp_job *j); /* cancel: wake a waiting job */

/* pool.c */
/* Jobs started (or pending) and not ended yet: a sum of the pool's and
 * its workers' counts, p->lock held (against a resize folding a worker's
 * counts into dead_jc). */
long sp__pool_active(sp_pool *p);
/* Count a job started / ended on p, by the calling thread. */
void sp__count_start(sp_pool *p);
void sp__count_end(sp_pool *p, int state);
void sp__count_start_by(sp_pool *p, sp__worker *self); /* self: sp__self() */
/* A job's reference to its pool: on a worker of the pool, from and to a
 * cache of references the worker took in batches (flushed when its
 * thread leaves: before the creator's reference can go, since close
 * joins the workers first). */
void sp__pool_retain_job(sp_pool *p);
void sp__pool_retain_job_by(sp_pool *p, sp__worker *self);
void sp__pool_release_job(sp_pool *p);
void sp__pool_refs_flush(sp__worker *w);
long sp__pool_live_count(void); /* pools not freed yet (tests) */
int sp__pool_stop(sp_pool *pool, int wait);
void sp__pool_free(sp_pool *pool);
extern _Atomic int sp__shutdown_flag;
void sp__registry_lock(void);
void sp__registry_unlock(void);
sp_pool *sp__registry_last(void);
extern _Atomic int sp__npseudo;          /* live pseudo pools */
sp_pool *sp__pseudo_with_work(void);     /* a retained one, or NULL */

/* Whole-program deadlocks (sp_deadlock_check). sp__dl_on: this thread
 * checks its waits. sp__dl_delay: how long its n-th sleep of one wait
 * lasts before the next check. sp__stalled: 1 when nothing can run. */
extern _Thread_local int sp__dl_on;
uint64_t sp__dl_delay(unsigned n);
int sp__stalled(void);
/* A plain thread's wait, after a timed sleep ran out: 0 to go on, else
 * what to end it with (SP_ECANCELED: shutting down, unless join;
 * SP_EDEADLK). */
int sp__wait_verdict(int join);

/* deps.c */
void sp__jx_free(sp_job *j);
/* The pool stops: cancel the jobs still waiting for dependencies; how
 * many. (While they wait they count in pool->active, so that a close
 * with wait runs the jobs whose dependencies can still complete.) */
int sp__deps_pool_stop(sp_pool *pool);
void *sp__jx_tramp(void *job);

/* trigger.c: listeners run once, when the trigger fires (fired = 1) or
 * when it is freed without having fired (fired = 0). */
typedef struct sp__tlisten {
    struct sp__tlisten *prev, *next;
    void (*fn)(sp_trigger *t, struct sp__tlisten *l, int fired);
    int linked;
} sp__tlisten;
/* 0: linked; 1: t has fired already (not linked, fn not called). */
int sp__trigger_listen(sp_trigger *t, sp__tlisten *l);
/* 1 if l was still linked and is now unlinked (fn will not run). */
int sp__trigger_unlisten(sp_trigger *t, sp__tlisten *l);
/* An ACC trigger's values as one value: packed through ops (*owned = 1,
 * a new reference) or the trigger's own sp_list (*owned = 0). */
void *sp__trigger_packed(sp_trigger *t, int *owned);
const sp_value_ops *sp__trigger_ops(const sp_trigger *t);

/* preempt.c */
void sp__preempt_init(void);
void sp__monitor_add(void);
void sp__monitor_remove(void);
void sp__request_preempt(sp__worker *w, sp_job *j, int cause, int signal_now);
void sp__prio_check(sp_pool *pool, sp__worker *target, int prio);
void sp__block_preempt_signal(void);
extern sigset_t sp__worker_mask;

/* trace.c: hooks of the scheduling trace (see sp_pool_trace). The hot
 * path tests pool->trace once per run slice and calls these only when
 * it is set. */
void sp__trace_begin(sp__worker *w, sp_job *j, sp__trace *t, int fresh);
void sp__trace_end(sp__worker *w, sp_job *j, sp__trace *t);
void sp__trace_dropped(sp__worker *w, sp_job *j, sp__trace *t);
void sp__trace_pool_created(sp_pool *pool);
void sp__trace_pool_stopped(sp_pool *pool);
void sp__trace_pool_free(sp_pool *pool);
/* stats.c */
uint64_t sp__pool_highwater(sp_pool *pool);

/* resize.c: a retired worker's thread, leaving, hands the jobs still in
 * its queue (queued there in a race with the retirement) to live ones. */
void sp__worker_hand_over(sp__worker *w);

/* Fault injection for tests (tests/faults/): when sp__fault_alloc is N > 0,
 * the Nth job allocation from then on fails as if memory ran out (0: off).
 * Always compiled in; it costs one relaxed load per job creation. */
extern _Atomic long sp__fault_alloc;

/* Tests: a join pauses this long between its read of the job's state
 * and the link of its node (sched.c), which widens the window in which
 * a job's end without the job lock (sp__job_end) must not go unseen
 * (test_end_races_join). 0 but in that test. */
extern _Atomic unsigned sp__test_join_gap_ns;
/* Zeroed blocks of sizeof(sp_job) from the job memory (job.c): a job's
 * side part and argument list header */
void *sp__blk_alloc(void);
void sp__blk_free(void *b);

static inline int sp__fault_alloc_hit(void)
{
    long n = atomic_load_explicit(&sp__fault_alloc, memory_order_relaxed);
    return SP__UNLIKELY(n > 0) &&
           atomic_fetch_sub_explicit(&sp__fault_alloc, 1, memory_order_relaxed) == 1;
}

#endif /* SP_INTERNAL_H */
