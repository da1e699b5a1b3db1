/*
 * spindle.h - the whole public API of libspindle.
 *
 * libspindle runs jobs (a C function and its argument) on fibers: small
 * stacks switched by hand-written assembly, multiplexed onto pools of
 * worker threads. Jobs can wait on each other (the waiting fiber is
 * suspended, never the worker), are preempted at safe points when they
 * run past their pool's time slice, when a job of higher priority becomes
 * ready or when they are cancelled; and jobs flagged async-preemptible are
 * preempted by a signal even when they never reach a safe point.
 *
 * Conventions:
 *  - Every function whose name does not say otherwise returns 0 on success
 *    or a negative SP_E* code; sp_strerror() names a code.
 *  - Objects are reference counted: a creating call returns one reference
 *    owned by the caller (see each type for how to drop it).
 *  - "Inside a job" means: called from code running on a job's fiber.
 *    Calls documented "inside a job" are harmless no-ops (or return an
 *    error) when called elsewhere.
 *  - Every runtime call made inside a job is a safe point: a pending
 *    preemption or cancel request is honoured there.
 */
#ifndef SPINDLE_H
#define SPINDLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SP_BUILDING_LIBRARY)
#define SP_API __attribute__((visibility("default")))
#else
#define SP_API
#endif

#define SP_VERSION_MAJOR 0
#define SP_VERSION_MINOR 1

typedef struct sp_pool sp_pool;
typedef struct sp_job sp_job;

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

enum {
    SP_OK = 0,
    SP_EINVAL = -1,      /* bad argument (NULL, out of range, ...) */
    SP_ENOMEM = -2,      /* out of memory (malloc, mmap, threads) */
    SP_ECANCELED = -3,   /* the job was cancelled */
    SP_EFAILED = -4,     /* the job failed: see sp_job_error() */
    SP_ECLOSED = -5,     /* pool closed or process shutting down */
    SP_EBUSY = -6,       /* job already started / already finished */
    SP_ESTATE = -7,      /* call not valid in the object's state */
    SP_ENOTJOB = -8,     /* call valid only inside a job */
    SP_ESYS = -9,        /* a system call failed unexpectedly */
    SP_EDEADLK = -10,    /* the wait could never end (sp_deadlock_check) */
    SP_EINTR = -11       /* a wait was interrupted (sp_wait_interruptible) */
};

/* A static, never NULL, English description of an SP_E* code. */
SP_API const char *sp_strerror(int code);

/* ------------------------------------------------------------------ */
/* Pools                                                               */
/* ------------------------------------------------------------------ */

/*
 * Lifetime: sp_pool_create returns the creator's reference. sp_pool_close
 * stops the pool and drops that reference; the memory itself is freed
 * when the last job that belonged to the pool has been released (jobs
 * keep their pool alive so sp_pool_current() stays valid). Other code
 * may take extra references with sp_pool_retain/sp_pool_release; only
 * the creator calls sp_pool_close, once.
 */

#define SP_DEFAULT_STACK_SIZE (256u * 1024u) /* GMP's alloca needs room */
#define SP_DEFAULT_SLICE_US 10000u           /* 10 ms */
#define SP_PRIO_MIN 0                        /* priorities are clamped */
#define SP_PRIO_MAX 31                       /* into [MIN, MAX]        */

enum {
    SP_POOL_NOPREEMPT = 1u << 0 /* no time slicing (prio/cancel still work) */
};

typedef struct sp_pool_opts {
    int nworkers;        /* worker threads; 0 = pseudo pool */
    size_t stack_size;   /* usable bytes per job stack; 0 = default */
    unsigned slice_us;   /* time slice in microseconds; 0 = default */
    const char *name;    /* copied; NULL = "pool" */
    unsigned flags;      /* SP_POOL_* */
} sp_pool_opts;

/* Fill *opts with the defaults (nworkers = 1). */
SP_API void sp_pool_opts_init(sp_pool_opts *opts);

/* The most workers a pool may have (sp_pool_create, sp_pool_set_workers):
 * a pool keeps twice as many slots, for the threads of retired workers
 * that have not exited yet. */
#define SP_MAX_WORKERS 1024

/*
 * A pool of nworkers worker threads, 0..SP_MAX_WORKERS (0: a pseudo pool,
 * whose jobs are run by whichever plain thread waits on one of them, or
 * by sp_pool_close with wait). Returns NULL on bad arguments, out of
 * memory, or while the process is shutting down.
 */
SP_API sp_pool *sp_pool_create(int nworkers);
SP_API sp_pool *sp_pool_create_opts(const sp_pool_opts *opts);

/*
 * Close the pool: new sp_job_start calls are refused with SP_ECLOSED.
 * With wait != 0, first every job that can still run is run to its end
 * (until the pool has no runnable or running job left). Then queued jobs
 * are cancelled, running ones are asked to cancel and the workers stop.
 * Returns the number of jobs that did not complete normally (cancelled
 * while queued, or left suspended); never loses a job silently: each such
 * job ends CANCELLED and its waiters wake. A job left suspended that is
 * woken later (a send to its channel, a write of its syncvar) is resumed
 * by a thread of the runtime with its cancel set, so it ends at its next
 * safe point as a cancelled job does and drops nothing it holds (an item
 * handed to it). Drops the creator's reference.
 * Must not be called from inside a job of the same pool (SP_ESTATE).
 */
SP_API int sp_pool_close(sp_pool *pool, int wait);

SP_API void sp_pool_retain(sp_pool *pool);
SP_API void sp_pool_release(sp_pool *pool);

SP_API const char *sp_pool_name(const sp_pool *pool);
/* The pool's workers now (as created, then as set by sp_pool_set_workers;
 * 0 for a pseudo pool). Spare threads of a KLT handoff replace a worker
 * and do not add to it. */
SP_API int sp_pool_nworkers(const sp_pool *pool);
SP_API int sp_pool_set_slice_us(sp_pool *pool, unsigned slice_us);
/*
 * A worker that runs out of work polls for new work for up to us
 * microseconds (yielding the CPU between polls) before it sleeps; 0 (the
 * default) sleeps at once. For a pool fed at a high rate by a thread
 * that never waits for the jobs (a network or MPI receiver): a job
 * handed to a polling worker starts without a cross-thread wake-up,
 * which costs microseconds on some machines. The CPU is spent while it
 * polls. us at most 1000000 (SP_EINVAL otherwise).
 */
SP_API int sp_pool_set_spin_us(sp_pool *pool, unsigned us);
/*
 * A pool fed from outside can let its idle workers poll the source
 * themselves, instead of a thread of its own handing each job over: while
 * a worker polls for work (sp_pool_set_spin_us), it calls fn(ud, 0) each
 * round, from its own thread but outside any job, and once after each
 * job it runs (a worker busy with queued jobs still sends and receives);
 * so does a plain thread waiting in sp_job_join for a job of this pool,
 * before it sleeps. fn
 * returns nonzero when it did something (the polling time starts again),
 * 0 otherwise (the caller yields the CPU before the next round). When
 * the thread stops polling (it found work, its job ended, or the time ran
 * out) it calls fn(ud, 1) once: the source's own receiver takes over.
 * fn may start jobs and complete detached ones; it must not block, and
 * must not close or resize this pool. NULL removes the hook. 0; SP_EINVAL.
 */
SP_API int sp_pool_set_poll_hook(sp_pool *pool, int (*fn)(void *ud, int stop),
                                 void *ud);

/*
 * Resize a pool to n workers, at any time, from any thread or job (its
 * own pool's jobs included). Returns once the change is made:
 *  - growing starts n - current worker threads, which take work at once
 *    (by stealing, and new jobs are spread over them);
 *  - shrinking retires workers (the last ones): every job queued on a
 *    retired worker moves to the remaining workers at once, keeping its
 *    priority; its running job is asked to yield at its next safe point
 *    and is then requeued on a remaining worker (counted in
 *    preempt_slice); jobs suspended on it (waiting) resume on the
 *    remaining workers. Its thread exits once its running job has left
 *    it: a job that never reaches a safe point keeps that thread until it
 *    returns or waits (as with a KLT handoff; it is not time-sliced any
 *    more meanwhile). No job is lost, cancelled or run twice.
 * Counters of retired workers stay in sp_pool_stats. Jobs bound to a
 * retired worker (sp_job_start_on) move like the others.
 * A pseudo pool stays one: n == 0 is a no-op there, anything else
 * SP_ESTATE; a pool with workers keeps at least one.
 * Errors: SP_EINVAL (NULL pool; n outside 1..SP_MAX_WORKERS for a pool
 * with workers); SP_ESTATE (pseudo pool, n != 0); SP_ECLOSED (closed or
 * being closed: a resize racing with sp_pool_close either completes
 * before the close starts or fails); SP_ENOMEM (a thread could not be
 * started, or 2 * SP_MAX_WORKERS threads exist already: the pool keeps
 * the workers started so far,
 * see sp_pool_nworkers).
 */
SP_API int sp_pool_set_workers(sp_pool *pool, int n);

/*
 * Start job bound to one worker of the pool: worker k is the k-th of the
 * pool's current workers (0 <= k < sp_pool_nworkers). The job is queued
 * on that worker only: it is never stolen, and when it is woken after a
 * wait it resumes there. If that worker is retired (sp_pool_set_workers
 * shrinking the pool, or a KLT handoff replacing a stuck worker) the job
 * moves like any other job (to a remaining worker, or the spare thread)
 * and is then bound to the worker that runs it next. Otherwise as
 * sp_job_start (a job that waits for a job bound to a busy worker waits
 * until that worker reaches a safe point: give bound jobs a high
 * priority). For per-worker set-up: one job per worker.
 * Errors: as sp_job_start; SP_EINVAL k out of range (the pool may have
 * shrunk meanwhile); SP_ESTATE a pseudo pool (no workers: start the job
 * with sp_job_start, it runs in the thread that waits on it).
 */
SP_API int sp_job_start_on(sp_pool *pool, int worker, int prio, sp_job *job);

/* Inside a job of a pool with workers: the number k of the worker that
 * runs it, as sp_job_start_on counts them (0..sp_pool_nworkers-1; the
 * numbering changes when the pool is resized or a worker is replaced).
 * -1 elsewhere (a plain thread, a pseudo pool's job, a retired worker). */
SP_API int sp_worker_index(void);

/* Inside a job: its pool (no reference added); NULL elsewhere. */
SP_API sp_pool *sp_pool_current(void);

/* ------------------------------------------------------------------ */
/* Jobs                                                                */
/* ------------------------------------------------------------------ */

typedef void *(*sp_job_fn)(void *arg);

typedef enum sp_state {
    SP_JOB_CREATED = 0,  /* created, not started */
    SP_JOB_QUEUED,       /* started, waiting for a worker */
    SP_JOB_RUNNING,      /* on a worker, or suspended mid-run (waiting);
                          * also, for a moment, a job ended without
                          * running (cancelled, a dependency failed)
                          * while its end hooks run */
    SP_JOB_DONE,         /* fn returned; sp_job_wait gives its result */
    SP_JOB_CANCELLED,    /* cancelled before or while running */
    SP_JOB_FAILED        /* sp_job_fail was called, or stack overflow */
} sp_state;

enum {
    /* Pure computation that takes no libc or runtime locks: the job may
     * be switched out from inside the preemption signal handler. */
    SP_JOB_ASYNC = 1u << 0,
    /* Cancel does not end the job at safe points: sp_checkpoint() and
     * waits return SP_ECANCELED and the job is expected to return soon.
     * (For interpreters that must unwind their own frames.) */
    SP_JOB_DEFER_CANCEL = 1u << 1,
    /* With SP_JOB_DEFER_CANCEL: a job that returns after a cancel was
     * requested ends CANCELLED (its result dropped), not DONE. (For an
     * interpreter that unwinds on cancel.) */
    SP_JOB_CANCEL_ON_RETURN = 1u << 2
};

/*
 * Called once, when the job's last reference is dropped, with the job's
 * argument, its result (NULL unless the state is SP_JOB_DONE) and its
 * final state; lets an owner free what arg/result point to.
 */
typedef void (*sp_job_cleanup_fn)(void *arg, void *result, sp_state state,
                                  void *ud);

/* A new job in state CREATED, with one reference for the caller. The
 * stack is allocated only when the job first runs. NULL on ENOMEM. */
SP_API sp_job *sp_job_create(sp_job_fn fn, void *arg);

SP_API void sp_job_retain(sp_job *job);
/* Drop a reference. A started job is also held by its pool until it
 * ends, so releasing a running job is fine (fire and forget). */
SP_API void sp_job_release(sp_job *job);

/* Before start only (else SP_EBUSY). */
SP_API int sp_job_set_flags(sp_job *job, unsigned flags);
SP_API int sp_job_set_cleanup(sp_job *job, sp_job_cleanup_fn fn, void *ud);
/* Any time; the name is copied. */
SP_API int sp_job_set_name(sp_job *job, const char *name);
SP_API const char *sp_job_name(const sp_job *job); /* "" when unset */

/*
 * Queue the job on the pool with priority prio (higher runs first,
 * clamped to [SP_PRIO_MIN, SP_PRIO_MAX]). SP_EBUSY if already started,
 * SP_ECANCELED if it was cancelled before it was started (it never
 * runs), SP_ECLOSED if the pool is closed or the process is shutting
 * down.
 */
SP_API int sp_job_start(sp_pool *pool, int prio, sp_job *job);

/*
 * Create a job running fn(arg) and queue it on the pool with priority
 * prio, in one call: sp_job_create and sp_job_start together, with
 * three locked instructions less (nobody else can see the job before it
 * is queued, so the start takes neither the job's lock nor a locked add
 * for the pool's hold).
 * With out != NULL, *out is the job, with one reference for the caller
 * (wait for it, release it); with out == NULL nobody holds the job but
 * the pool, which frees it when it ends (fire and forget: a parked
 * worker is woken at once, since no waiter will run it).
 * Returns 0, SP_EINVAL (no pool or no fn), SP_ECLOSED (the pool is
 * closed or the process is shutting down) or SP_ENOMEM; *out is NULL
 * then. For flags, a name or a cleanup, use sp_job_create.
 */
SP_API int sp_job_spawn(sp_pool *pool, int prio, sp_job_fn fn, void *arg,
                        sp_job **out);

/*
 * Wait for the job to end. Inside a job this suspends the calling fiber
 * (its worker runs other jobs meanwhile); in a plain thread it blocks the
 * thread, and for a job of a pseudo pool the thread runs that pool's
 * queued jobs while it waits. Returns the job's result, or NULL when it
 * was cancelled or failed (use sp_job_join to tell those apart).
 * Waiting on a job that was never started blocks until it is started
 * and ends, or is cancelled.
 */
SP_API void *sp_job_wait(sp_job *job);

/*
 * Like sp_job_wait, reporting the outcome: 0 (done; *result set when
 * result != NULL), SP_ECANCELED or SP_EFAILED (*result = NULL).
 * Inside a job with SP_JOB_DEFER_CANCEL that is itself cancelled while
 * waiting, returns SP_ECANCELED at once without the job having ended.
 */
SP_API int sp_job_join(sp_job *job, void **result);

/* Non-blocking: 1 if the job has ended (DONE, CANCELLED or FAILED). */
SP_API int sp_job_finished(const sp_job *job);
SP_API sp_state sp_job_state(const sp_job *job);
/* Valid once finished: result (DONE) or NULL. */
SP_API void *sp_job_result(const sp_job *job);
/* The error message of a FAILED job ("stack overflow", or what
 * sp_job_fail set); NULL otherwise. Valid while a reference is held. */
SP_API const char *sp_job_error(const sp_job *job);

/*
 * Cancel. CREATED or QUEUED job: it ends CANCELLED now (never runs) and
 * its waiters wake; returns 0. RUNNING job: the cancel request is set and
 * the job preempted; it ends CANCELLED at its next safe point (its stack
 * is reclaimed, its waiters wake), or with SP_JOB_ASYNC from the signal
 * handler; returns 1. Already ended: SP_EBUSY.
 */
SP_API int sp_job_cancel(sp_job *job);

/* Inside a job: 1 if a cancel was requested for it, else 0. */
SP_API int sp_job_cancelled(void);

/*
 * Inside a job: mark the current job FAILED with a message (printf
 * format) and return; the job should then return from its function (its
 * return value is ignored) and waiters see SP_EFAILED and the message.
 * Returns SP_ENOTJOB outside a job.
 */
SP_API int sp_job_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Inside a job: the job (no reference added); NULL elsewhere. */
SP_API sp_job *sp_job_current(void);

/* A plain thread that starts a job on a parked worker (or makes one
 * ready: a syncvar write, a channel send) puts the worker's wake off,
 * expecting to wait for the job itself and run it in its stead; the wake
 * happens when the thread waits, or at the monitor's next tick (about a
 * millisecond) if it never does. A thread that hands work to pools and
 * goes on with other things (an event loop: a network or MPI receiver)
 * calls sp_flush_wakes after handing work over: the workers it put off
 * wake now. Harmless anywhere (a job, a thread that owes nothing). */
SP_API void sp_flush_wakes(void);

/* The priority the job was started or scheduled with (0 before, and for
 * NULL). */
SP_API int sp_job_priority(const sp_job *job);

/*
 * Jobs completed from outside. A job whose work goes elsewhere (another
 * process, a device, a network peer) need not keep a fiber while it
 * waits: inside the job, sp_job_detach says that its end will come from
 * sp_job_complete. When the job's function then returns, its fiber ends
 * (the stack goes back to the cache, the worker runs other jobs) and its
 * return value is ignored; the job stays RUNNING for everyone else
 * (joiners, dependents, triggers, sp_pool_close) until some thread calls
 * sp_job_complete. Detach before handing the work over, so that a
 * completion can never come first.
 *
 * A cancel of a detached job (sp_job_cancel, or a trigger's cancel)
 * not completed yet calls on_cancel(job, ud) once, on the cancelling
 * thread, or inside sp_job_detach when the cancel came first; the owner
 * then stops the work and completes the job, usually SP_JOB_CANCELLED.
 * on_cancel must not block, and may run while another thread completes
 * the job (it then finds the work done). sp_pool_close counts a detached
 * job as one left suspended, as it does a job suspended in a wait, and
 * does not wait for it; its completion still ends it. Until completed, a
 * detached job counts as a waker for the deadlock check (sp_waker_add):
 * something outside the pools will end it.
 *
 * sp_job_detach: 0; SP_ENOTJOB outside a job; SP_EBUSY if it was
 * detached already; SP_ENOMEM.
 */
typedef void (*sp_job_cancel_fn)(sp_job *job, void *ud);
SP_API int sp_job_detach(sp_job_cancel_fn on_cancel, void *ud);

/*
 * End a detached job, from any thread, once: state SP_JOB_DONE (result is
 * what joiners get, released as the job's result is), SP_JOB_FAILED
 * (error: the message, copied) or SP_JOB_CANCELLED. Called while the
 * job's function still runs, the job ends when the function returns.
 * 0; SP_EINVAL (bad state); SP_EBUSY when the job is not detached, was
 * completed already, or was ended by the runtime meanwhile (cancelled at
 * a safe point before its function returned, a stack overflow): the
 * caller then still owns result.
 */
SP_API int sp_job_complete(sp_job *job, sp_state state, void *result,
                           const char *error);

/*
 * The job is not started yet but will be (or cancelled) by its owner, say
 * when a resource it waits for frees up: sp_job_schedule accepts it as a
 * dependency meanwhile (it refuses other unstarted jobs, which might never
 * run). 0; SP_EBUSY if it was started already; SP_EINVAL.
 */
SP_API int sp_job_promise(sp_job *job);

/*
 * Call fn(job, ud) once when the job ends (DONE, CANCELLED or FAILED), on
 * the thread that ends it, before its joiners wake; or when the job is
 * freed without ever having ended (never started). fn must not block; it
 * may start or cancel other jobs. 0; SP_EBUSY if the job has ended
 * already (fn is not called); SP_ENOMEM; SP_EINVAL.
 */
SP_API int sp_job_on_end(sp_job *job, void (*fn)(sp_job *job, void *ud),
                         void *ud);

/* ------------------------------------------------------------------ */
/* Scheduling points                                                   */
/* ------------------------------------------------------------------ */

/* Inside a job: requeue behind ready jobs of equal priority. */
SP_API void sp_yield(void);

/*
 * Inside a job: a safe point. Yields if a preemption is pending; if a
 * cancel was requested the job ends CANCELLED here (no return), or with
 * SP_JOB_DEFER_CANCEL this returns SP_ECANCELED. Otherwise 0.
 * Cheap when nothing is pending: test *sp_poll_flag() first in hot loops.
 */
SP_API int sp_checkpoint(void);

/*
 * The address of the current job's poll flag: non-zero when the job
 * should call sp_checkpoint() soon. The address stays valid and right for
 * the job's whole life, even when it migrates between workers, so an
 * interpreter may fetch it once per job and test it with one load at each
 * call and loop back-edge. Other threads set it, so make that load a
 * relaxed atomic one (__atomic_load_n(flag, __ATOMIC_RELAXED): a plain
 * move on x86-64, and no data race for ThreadSanitizer). Outside a job:
 * the address of a flag that is never set.
 */
SP_API const volatile int *sp_poll_flag(void);

/* ------------------------------------------------------------------ */
/* Values carried by the runtime                                       */
/* ------------------------------------------------------------------ */

/*
 * Job arguments and results, trigger values, channel items and syncvar
 * values are opaque pointers to the runtime. An owner whose values are
 * reference counted (an interpreter) passes sp_value_ops when it creates
 * the object; the runtime then holds one reference to every value it
 * keeps and drops it when it lets go. NULL ops: plain pointers the
 * runtime never retains, releases or frees.
 */
typedef struct sp_value_ops {
    void (*retain)(void *v);    /* may be NULL */
    void (*release)(void *v);   /* may be NULL */
    /* Pack n values into one new value (a new reference): how an acc
     * trigger's values become one job argument. NULL: the argument is a
     * const sp_list * owned by the trigger (valid while the job lives). */
    void *(*pack)(size_t n, void *const *v);
    /* The element number a value stands for (a set trigger chained to a
     * job whose result is the element). 0 on success, else SP_EINVAL.
     * NULL: (intptr_t)v. */
    int (*to_long)(void *v, long *out);
} sp_value_ops;

typedef struct sp_list {
    size_t n;
    void *v[];
} sp_list;

/* ------------------------------------------------------------------ */
/* Jobs with argument lists, dependencies                              */
/* ------------------------------------------------------------------ */

/*
 * A job whose function receives an argument list. The list starts as
 * argv[0..argc) (each value retained through ops), may be extended while
 * the job is CREATED (sp_job_add_args), and gets the results of its
 * dependencies appended when it is scheduled (sp_job_schedule). ud is
 * passed through untouched. The job owns one reference to the result fn
 * returns (released with the job through ops, also when the job FAILED);
 * sp_job_wait/sp_job_result lend it. NULL results mean "no result", and
 * NULL arguments are never retained or released. A cleanup function set
 * on such a job receives ud as its arg. All values of one job, and of the
 * jobs and triggers it depends on, are expected to share one ops.
 */
typedef void *(*sp_job_fnv)(void *ud, size_t argc, void *const *argv);

SP_API sp_job *sp_job_createv(sp_job_fnv fn, void *ud,
                              const sp_value_ops *ops,
                              size_t argc, void *const *argv);

/* Append arguments: CREATED jobs only (else SP_EBUSY); values retained. */
SP_API int sp_job_add_args(sp_job *job, size_t argc, void *const *argv);

/* A new CREATED job with the same function, ud, ops, flags, cleanup and
 * name, whose arguments are job's followed by argv[0..argc). job itself
 * is unchanged (it may be in any state). NULL on ENOMEM or for a job made
 * by sp_job_create (no argument list). */
SP_API sp_job *sp_job_copy(const sp_job *job, size_t argc, void *const *argv);

/* The job's current argument list (borrowed; stable once started). An
 * unpacked acc list (ops without pack) is lent by its trigger, which the
 * job keeps alive; it is never retained or released through ops. */
SP_API size_t sp_job_argc(const sp_job *job);
SP_API void *const *sp_job_argv(const sp_job *job);

typedef struct sp_trigger sp_trigger;

/* A dependency: exactly one of job and trigger is non-NULL. */
typedef struct sp_dep {
    sp_job *job;
    sp_trigger *trigger;
} sp_dep;

/*
 * Queue job on pool once every dependency is done: a job ended DONE, a
 * trigger fired. Then the dependencies' results are appended to its
 * arguments in the order given: a job's non-NULL result as one argument,
 * an acc trigger's values as one packed argument (see sp_value_ops.pack);
 * count and set triggers add none. ndeps == 0 is sp_job_start.
 * If a dependency job ends CANCELLED, job ends CANCELLED without running;
 * if one ends FAILED, job ends FAILED with "dependency <name> failed:
 * <message>". Its waiters wake either way.
 * Errors: SP_EBUSY job already started or scheduled; SP_ECANCELED job
 * cancelled before it was started or scheduled; SP_ESTATE a
 * dependency job that is still CREATED (so no cycle can be formed);
 * SP_EINVAL a malformed sp_dep; SP_ECLOSED pool closed. The job holds a
 * reference to each dependency until it ends.
 *
 * While its dependencies are pending the job stays in state CREATED but is
 * "scheduled": sp_job_start/sp_job_add_args refuse it (SP_EBUSY), and it
 * may itself be a dependency of another sp_job_schedule (which is how
 * chains and diamonds are built: schedule in dependency order). It can be
 * cancelled (ends CANCELLED, never runs) and waited on. A dependent job is
 * queued only once the last dependency's final state is visible, so it
 * never runs while a dependency still reads RUNNING. A job ended by a
 * dependency never started: the pool's counters do not count it. While
 * pending it counts as active in its pool: sp_pool_close with wait runs it
 * once its dependencies complete; when the pool stops, jobs still pending
 * end CANCELLED (and count in close's result). "<name>" is the failed
 * dependency's sp_job_name ("" when unset). A job made by sp_job_create
 * has no argument list: it may be scheduled too, and gets no results.
 */
SP_API int sp_job_schedule(sp_pool *pool, int prio, sp_job *job,
                           size_t ndeps, const sp_dep *deps);

/* ------------------------------------------------------------------ */
/* Triggers                                                            */
/* ------------------------------------------------------------------ */

typedef enum sp_trigger_kind {
    SP_TRIGGER_ACC,    /* fires after n updates; carries the n values */
    SP_TRIGGER_COUNT,  /* fires after n activations */
    SP_TRIGGER_SET,    /* {1..n}: fires once every element was added */
    SP_TRIGGER_FN      /* fires when fn(ud, value) returns non-zero */
} sp_trigger_kind;

typedef int (*sp_trigger_fn)(void *ud, void *value);

/* One reference for the caller. n >= 1 for ACC, COUNT, SET (n == 0, or
 * kind SP_TRIGGER_FN, which needs sp_trigger_create_fn: NULL). */
SP_API sp_trigger *sp_trigger_create(sp_trigger_kind kind, size_t n,
                                     const sp_value_ops *ops);
SP_API sp_trigger *sp_trigger_create_fn(sp_trigger_fn fn, void *ud,
                                        const sp_value_ops *ops);
SP_API void sp_trigger_retain(sp_trigger *t);
SP_API void sp_trigger_release(sp_trigger *t);
SP_API sp_trigger_kind sp_trigger_kind_of(const sp_trigger *t);

/*
 * Update. ACC: value kept (retained), in update order. COUNT: one
 * activation, value ignored. SET: value is the element, converted with
 * ops->to_long; outside 1..n is SP_EINVAL (nothing changes). FN: calls
 * fn (outside the trigger's lock; fn may call the runtime; never called
 * again once fired). A trigger fires exactly once, inside the update that
 * completes it: jobs scheduled on it are queued, chained triggers updated,
 * cancel-on jobs cancelled (in the order they were registered), and only
 * then waiters woken. Updates after it fired are ignored and return 1 (no
 * error, nothing retained); otherwise 0.
 */
SP_API int sp_trigger_update(sp_trigger *t, void *value);

SP_API int sp_trigger_fired(const sp_trigger *t);      /* 1 or 0 */
/* How many updates/elements so far (ACC, COUNT, FN: updates; SET:
 * distinct elements). */
SP_API size_t sp_trigger_count(const sp_trigger *t);
/* An ACC trigger's values (borrowed; NULL before it fired). */
SP_API const sp_list *sp_trigger_values(const sp_trigger *t);

/*
 * Chain: when job ends DONE, t is updated with the job's result; when
 * job ends CANCELLED or FAILED, t is not updated. job may be in any
 * state, CREATED included; already ended DONE: t is updated now. A job
 * freed without ever having been started lets go of t. (The update runs in
 * the job's end, before the job's own waiters wake.)
 */
SP_API int sp_trigger_chain_job(sp_trigger *t, sp_job *job);
/* Chain: when src fires, t is updated with src's packed values (ACC) or
 * NULL (others). src fired already: now. Without ops->pack the value is
 * src's const sp_list * (t must not outlive src if it keeps it). */
SP_API int sp_trigger_chain(sp_trigger *t, sp_trigger *src);
/* When t fires, cancel job if it has not ended (running ones too); t
 * fired already: cancel now. */
SP_API int sp_trigger_cancel_on(sp_trigger *t, sp_job *job);

/* Wait until t has fired and its listeners ran: suspends a job's fiber
 * (a cancelled job ends CANCELLED here); blocks a plain thread (which runs
 * pseudo pools' queued jobs meanwhile: every blocking call of this layer,
 * and sp_job_wait on a job of a real pool, does so while a pseudo pool
 * exists). 0, or SP_ECANCELED in a cancelled SP_JOB_DEFER_CANCEL job. */
SP_API int sp_trigger_wait(sp_trigger *t);

/* ------------------------------------------------------------------ */
/* Channels and syncvars                                               */
/* ------------------------------------------------------------------ */

typedef struct sp_chan sp_chan;

/* Unbounded FIFO. One reference for the caller. */
SP_API sp_chan *sp_chan_create(const sp_value_ops *ops);
SP_API void sp_chan_retain(sp_chan *c);
SP_API void sp_chan_release(sp_chan *c);   /* items left are released */
/* Never blocks; the item is retained. */
SP_API int sp_chan_send(sp_chan *c, void *item);
/* Take the oldest item (the caller receives the channel's reference).
 * With none, suspends the job (blocks a plain thread, which runs pseudo
 * pools' queued jobs meanwhile) until one arrives; receivers are served
 * in the order they arrived (a send hands its item to the oldest waiting
 * receiver directly). 0, or SP_ECANCELED (deferred cancel; a normal job
 * ends CANCELLED here). A receiver cancelled while it waits never takes
 * an item: one already handed to it goes to the next receiver, or back
 * to the front of the channel. */
SP_API int sp_chan_recv(sp_chan *c, void **item);
/* Non-blocking: 0 and an item, or SP_EBUSY when empty. */
SP_API int sp_chan_try_recv(sp_chan *c, void **item);
SP_API size_t sp_chan_count(const sp_chan *c);

typedef struct sp_syncvar sp_syncvar;

/* Write-once variable. One reference for the caller. */
SP_API sp_syncvar *sp_syncvar_create(const sp_value_ops *ops);
SP_API void sp_syncvar_retain(sp_syncvar *v);
SP_API void sp_syncvar_release(sp_syncvar *v);
/* Set the value (retained); a second write is SP_EBUSY. */
SP_API int sp_syncvar_write(sp_syncvar *v, void *value);
/* Wait until written (suspends a job, blocks a plain thread) and lend
 * the value (valid while a reference to v is held). 0, or SP_ECANCELED
 * (deferred cancel; a normal job ends CANCELLED here). */
SP_API int sp_syncvar_read(sp_syncvar *v, void **value);
SP_API int sp_syncvar_written(const sp_syncvar *v);   /* 1 or 0 */

/* ------------------------------------------------------------------ */
/* Scheduling trace                                                    */
/* ------------------------------------------------------------------ */

/*
 * Record every job start/stop/suspend/resume/preempt of the pool (worker,
 * time, job name) in per-worker buffers and write it as Chrome trace
 * event JSON (Perfetto, chrome://tracing) to path when the pool is
 * closed or when tracing is turned off with path == NULL. The environment
 * variable SPINDLE_TRACE=path traces every pool of the process into one
 * file written at exit.
 *
 * Details:
 *  - path != NULL starts a new trace of the pool into path; a trace
 *    already running is written to its own file first (or, for
 *    SPINDLE_TRACE, left to the process file). path == NULL turns the
 *    trace off and writes it; harmless when none runs.
 *  - Returns 0; SP_EINVAL (NULL pool, empty path); SP_ECLOSED (path
 *    given for a closed pool); SP_ENOMEM; SP_ESYS when the file of the
 *    trace just ended could not be written (a message goes to stderr).
 *  - SPINDLE_TRACE is read when a pool is created: each pool created
 *    while it is set is traced into that one file, written when the last
 *    such pool is closed and again at exit (atexit) if pools are still
 *    open then. (`spindle --trace FILE` sets it.)
 *  - The file: one process (pid) per traced pool, named "pool NAME"; one
 *    thread (tid) per worker ("worker N", tid N+1; the spare threads of
 *    a KLT handoff are workers too, and so are those sp_pool_set_workers
 *    adds: one started in the slot of a retired worker, whose thread
 *    has exited, continues that worker's tid) and per plain thread that
 *    ran a pseudo pool ("runner (thread T)", tid 1000+k). Each run
 *    slice of a job is a complete event ("ph":"X", ts and dur in µs from
 *    the first trace of the process, CLOCK_MONOTONIC, ns precision)
 *    named after the job ("job" when unnamed), with args job (address),
 *    start (true on the job's first slice) and end: "yield", "preempt"
 *    (with cause "slice", "priority" or "cancel"; async: true when the
 *    signal handler switched it out), "suspend" (waiting: a join, a
 *    channel...), "done", "failed", "cancelled". Preemptions, cancels and
 *    failures also get an instant event ("ph":"i") at the slice's end; a
 *    job cancelled while queued gets a "cancel" instant (queued: true)
 *    when a worker drops it. Thread and process names are "M" events.
 *  - Cost: off, one predicted branch per run slice (the pool's trace
 *    pointer, loaded once per slice). On, two clock reads and one 32-byte
 *    record per slice, appended without a lock to the buffer of the
 *    thread that ran it; at most 4M records per thread and trace, then
 *    they are dropped (counted in the file). Events recorded after the
 *    trace was written are not in it.
 *  - scripts/trace-check FILE checks a trace (well formed, one job at a
 *    time per worker, every begin has an end, monotone timestamps).
 */
SP_API int sp_pool_trace(sp_pool *pool, const char *path);

/* ------------------------------------------------------------------ */
/* Statistics                                                          */
/* ------------------------------------------------------------------ */

typedef struct sp_stats {
    uint64_t jobs_started;      /* sp_job_start accepted */
    uint64_t jobs_finished;     /* ended DONE */
    uint64_t jobs_cancelled;    /* ended CANCELLED */
    uint64_t jobs_failed;       /* ended FAILED */
    uint64_t switches;          /* fiber switches into jobs */
    uint64_t yields;            /* voluntary sp_yield calls */
    uint64_t preempt_slice;     /* preemptions: time slice expired */
    uint64_t preempt_prio;      /* preemptions: higher priority ready */
    uint64_t preempt_cancel;    /* running jobs ended by cancel */
    uint64_t preempt_async;     /* switched out inside the signal handler */
    uint64_t signals_sent;      /* SIGURG sent to workers */
    uint64_t steals;            /* jobs taken from another worker */
    uint64_t parks;             /* times an idle worker went to sleep */
    uint64_t wakes;             /* times a parked worker was woken */
    uint64_t spares;            /* spare threads started (KLT handoff) */
    uint64_t queue_highwater;   /* most jobs queued on one worker */
    uint64_t stacks_guarded;    /* process-wide: guarded stacks mapped now */
    uint64_t stacks_slab;       /* process-wide: slab stacks carved so far */
    uint64_t inline_runs;       /* jobs a waiting plain thread ran itself,
                                 * standing in for a parked worker */
} sp_stats;

/* Snapshot the pool's counters (monotonic, approximate while running). */
SP_API int sp_pool_stats(sp_pool *pool, sp_stats *out);

/* ------------------------------------------------------------------ */
/* Process signals and shutdown                                        */
/* ------------------------------------------------------------------ */

/*
 * Policy for SIGINT and SIGTERM. Both calls block the two signals in the
 * calling thread (call them from main() before creating threads, so every
 * thread inherits the mask) and start one signal thread taking them with
 * sigwait.
 *
 * sp_signals_default: the first signal starts an orderly shutdown
 * (sp_shutdown: new jobs refused, jobs cancelled, pools closed in reverse
 * order of creation) and then exits with status 128+signo; a second
 * signal during the shutdown exits at once (_exit).
 *
 * sp_signals_install: instead call fn(signo, count, ud) on the signal
 * thread for each signal (count = how many of SIGINT/SIGTERM arrived so
 * far). fn may call any runtime function, e.g. sp_job_cancel on the
 * foreground job, or sp_shutdown. Calling either again replaces the policy.
 */
typedef void (*sp_signal_fn)(int signo, int count, void *ud);
SP_API int sp_signals_default(void);
SP_API int sp_signals_install(sp_signal_fn fn, void *ud);

/*
 * Interruptible waits of a plain thread (an interactive program's main
 * thread: Ctrl-C cancels what it waits for, not the jobs). After
 * sp_wait_interruptible(flag), the calling thread's waits in sp_job_join,
 * sp_chan_recv, sp_syncvar_read and sp_trigger_wait look at *flag at
 * least every 20 ms while they sleep and return SP_EINTR once it is
 * non-zero (the awaited job keeps running). NULL turns it off. Only the
 * calling thread; inside a job it changes nothing (jobs are cancelled,
 * not interrupted). Such a thread never stands in for a parked worker
 * (it would run the job it waits for); a wait on a 0-worker pool's job
 * still runs that pool's jobs itself and sees the flag only between them.
 */
SP_API void sp_wait_interruptible(const volatile int *flag);

/*
 * Orderly shutdown without exiting: refuse new pools and jobs, cancel
 * queued and running jobs, stop every pool (newest first). Pools stay
 * allocated until their creators close them. Safe to call twice. A plain
 * thread waiting in sp_chan_recv, sp_syncvar_read or sp_trigger_wait
 * returns SP_ECANCELED within 100 ms of it (the jobs that would have
 * ended the wait are cancelled); sp_job_join still returns once the job
 * has ended.
 */
SP_API void sp_shutdown(void);
SP_API int sp_shutting_down(void);

/* ------------------------------------------------------------------ */
/* Whole-program deadlocks                                             */
/* ------------------------------------------------------------------ */

/*
 * sp_deadlock_check(1) makes the calling thread's waits (a plain thread:
 * sp_job_join, sp_chan_recv, sp_syncvar_read, sp_trigger_wait, pseudo
 * pools included) return SP_EDEADLK when nothing can ever end them: every
 * worker of every pool asleep with nothing queued, no pseudo pool with a
 * queued job, no wait of a plain thread standing in for a worker, and no
 * waker registered. Off by default, per thread; sp_deadlock_check(0)
 * turns it off again. The check runs while the thread sleeps, 1 ms after
 * the wait starts and then at most every 100 ms, so a deadlock is
 * reported within about 100 ms of forming, and a wait that ends costs
 * nothing more.
 *
 * The runtime sees its own workers only. Anything else that may still
 * wake a waiter (a thread of the program's own that sends on channels,
 * writes syncvars or starts jobs; a timer; a network reply) is a waker:
 * count it with sp_waker_add() while it may act and sp_waker_remove()
 * once it cannot. While any waker is counted, nothing is reported. An
 * embedder with threads of its own that it does not count leaves the
 * check off.
 */
SP_API void sp_deadlock_check(int on);
SP_API void sp_waker_add(void);
SP_API void sp_waker_remove(void);

#ifdef __cplusplus
}
#endif
#endif /* SPINDLE_H */
