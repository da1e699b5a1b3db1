/*
 * job.c - the job object and the public job calls.
 *
 * References: the creator holds one; a started job is also held by its
 * pool ("the hold") from sp_job_start until the runtime is done with it
 * as a queue entry (after it ended, or when a cancelled queued entry is
 * dropped). The hold is counted from the creation on, so that the start
 * adds nothing (one locked instruction less a job); a job that is never
 * started drops it with the last of the other references (sp_job_release:
 * a job without a pool was never started). State changes CREATED ->
 * QUEUED -> RUNNING are compare-and-swaps, so a cancel racing with a
 * worker picking the job has one winner.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static const int g_never_set = 0;

/*
 * Job memory. A batch of a million jobs is a normal workload, and fresh
 * pages are expensive (a fault per 16 jobs); so jobs come from 2 MiB
 * chunks marked for transparent huge pages, through a per-thread cache
 * and a global free list. Chunks are never returned to the system.
 * Under valgrind (SP_VALGRIND) and ASan (SP_ASAN) plain calloc/free
 * keep their checks useful: LeakSanitizer does not scan
 * memory mapped by the program, so what a job in a chunk points to (its
 * argument list, name, result) would be reported as leaked, and ASan
 * could not see a use of a freed job. (Not under TSan: it does not model
 * the seq_cst fence of the pin protocol between the monitor and a job's
 * end, so a free() there would be reported as a race.)
 */
#if defined(SP_VALGRIND) || defined(SP_ASAN)
#define SP__JOB_MALLOC 1
#endif
#ifndef SP__JOB_MALLOC
#define SP__JCHUNK ((size_t)2 << 20)
/* A thread's cache of free jobs: a FIFO ring (a job freed is allocated
 * again after the ones freed before it), made on first use. */
#define SP__JRING 256
#define SP__JMOVE 64          /* jobs moved per refill or give-back */
#define SP__JAHEAD 12          /* an allocation prefetches the job this far on */

#define SP__WAHEAD 8           /* a wait prefetches the job this far on */

typedef struct jcache { sp_job **r; unsigned h, n; } jcache_t;
static __thread jcache_t tls_jc __attribute__((tls_model("initial-exec")));
static pthread_mutex_t g_jlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t g_jkey;
static pthread_once_t g_jonce = PTHREAD_ONCE_INIT;
/* Free jobs between threads: a FIFO ring of pointers (g_jh its oldest,
 * g_jn how many, g_jcap a power of two), so refill reads 64 in a row and
 * chases no pointer through jobs last touched by another core (that chase
 * was most of a job's creation in a 1M batch); and a linked list used
 * only when the ring cannot grow.
 *
 * First in, first out, all the way: a program that frees its jobs in the
 * order it made them gets the same addresses again in the same, rising,
 * order, which the hardware prefetchers follow. With last-in-first-out
 * caches a second batch of a million walked its jobs in a scrambled
 * order, every job a cache miss that nothing had fetched ahead: recycled
 * memory was slower than fresh (issue 19). */
static sp_job **g_jdepot;
static size_t g_jh, g_jn, g_jcap;
static sp_job *g_jfree;
static char *g_jcur, *g_jend;
static void **g_chunks; /* keeps chunks reachable for leak checkers */
static size_t g_nchunks;

__attribute__((noinline, noipa)) static jcache_t *jcache(void)
{
    return &tls_jc;
}

static int new_chunk(void)
{
    size_t len = 2 * SP__JCHUNK;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    char *a = (char *)(((uintptr_t)m + SP__JCHUNK - 1) & ~(SP__JCHUNK - 1));
    if (a > m)
        munmap(m, (size_t)(a - m));
    munmap(a + SP__JCHUNK, (size_t)(m + len - (a + SP__JCHUNK)));
    madvise(a, SP__JCHUNK, MADV_HUGEPAGE);
    void **c = realloc(g_chunks, (g_nchunks + 1) * sizeof *c);
    if (!c) {
        munmap(a, SP__JCHUNK);
        return -1;
    }
    g_chunks = c;
    g_chunks[g_nchunks++] = a;
    g_jcur = a;
    g_jend = a + SP__JCHUNK;
    return 0;
}

/* Where the job carved at c (the bump pointer, in steps of sz) lies:
 * consecutive jobs on consecutive pages, the 32 jobs of a page 512 jobs
 * apart. A thread that makes a batch writes job k+1 while a worker reads
 * job k; were they neighbours, the stream prefetcher of the worker's core
 * would fetch the lines of the next jobs, which the making thread then
 * has to take back to write them (a batch of 1M on a 1-worker pool:
 * 123-142 ns a job in the neighbours' order against 73-77 spread,
 * alternating runs, AMD EPYC). Prefetchers stop at page ends. The free
 * ring keeps this order from one batch to the next. */
static char *spread(char *c, size_t sz)
{
    char *base = g_jend - SP__JCHUNK;
    size_t per = 4096 / sz, pages = SP__JCHUNK / 4096;
    if (4096 % sz)
        return c; /* sanitizer builds: a job of another size */
    size_t i = (size_t)(c - base) / sz;
    return base + (i % pages) * 4096 + (i / pages % per) * sz;
}

/* The job carved d places after j in its chunk (see spread), which a
 * program that makes a batch and then waits for it in order waits for d
 * waits later: the free ring keeps the carving order. Only an address to
 * prefetch (it may be free, or past the chunk's last job: a prefetch
 * never faults). */
static inline const void *carved_after(const sp_job *j, unsigned d)
{
    const size_t pages = SP__JCHUNK / 4096;
    uintptr_t a = (uintptr_t)j, base = a & ~(uintptr_t)(SP__JCHUNK - 1);
    size_t pg = (a - base) / 4096 + d, off = (a - base) % 4096;
    return (const void *)(base + (pg % pages) * 4096 + off +
                          pg / pages * sizeof(sp_job));
}

/* One free job from the global sources, oldest first: the ring, the
 * list, fresh memory (global lock held); NULL when out of memory. */
static sp_job *next_free(void)
{
    /* 32-byte steps, not cache lines: a batch of a million jobs pays
     * for every byte of fresh memory (page zeroing dominates it here) */
    size_t sz = (sizeof(sp_job) + 31) & ~(size_t)31;
    sp_job *j;
    if (g_jn) {
        j = g_jdepot[g_jh];
        g_jh = (g_jh + 1) & (g_jcap - 1);
        g_jn--;
    } else if ((j = g_jfree)) {
        g_jfree = j->next;
    } else {
        if (g_jcur + sz > g_jend && new_chunk() != 0)
            return NULL;
        j = (sp_job *)spread(g_jcur, sz);
        g_jcur += sz;
    }
    return j;
}

/* Copy n job pointers from the ring src (smask + 1 entries, from index
 * s on) to the ring dst (dmask + 1 entries, from d on), a memcpy per
 * stretch between wraps: moving 64 jobs one at a time, with the masks,
 * was a tenth of a batch's instructions on the making thread. */
static void ring_copy(sp_job **dst, size_t dmask, size_t d,
                      sp_job *const *src, size_t smask, size_t s, size_t n)
{
    while (n) {
        size_t di = d & dmask, si = s & smask, k = n;
        if (k > dmask + 1 - di)
            k = dmask + 1 - di;
        if (k > smask + 1 - si)
            k = smask + 1 - si;
        memcpy(dst + di, src + si, k * sizeof *dst);
        d += k;
        s += k;
        n -= k;
    }
}

/* Move up to SP__JMOVE free jobs into the thread's ring (global lock
 * held): from the global ring in one copy, else one by one. */
static void refill(jcache_t *c)
{
    size_t m = SP__JMOVE < SP__JRING - c->n ? SP__JMOVE : SP__JRING - c->n;
    if (m > g_jn)
        m = g_jn;
    ring_copy(c->r, SP__JRING - 1, c->h + c->n, g_jdepot, g_jcap - 1, g_jh, m);
    g_jh = (g_jh + m) & (g_jcap ? g_jcap - 1 : 0);
    g_jn -= m;
    c->n += (unsigned)m;
    sp_job *j;
    while (c->n < SP__JMOVE && (j = next_free()))
        c->r[(c->h + c->n++) & (SP__JRING - 1)] = j;
}

/* Hand the thread's oldest cached jobs to the global ring until keep are
 * left. */
static void give_back(jcache_t *c, unsigned keep)
{
    size_t m = c->n - keep;
    pthread_mutex_lock(&g_jlock);
    if (g_jn + m > g_jcap) {
        size_t cap = g_jcap ? 2 * g_jcap : 1024;
        while (cap < g_jn + m)
            cap *= 2;
        sp_job **d = malloc(cap * sizeof *d);
        if (d) { /* unwrapped into the new ring */
            ring_copy(d, cap - 1, 0, g_jdepot, g_jcap - 1, g_jh, g_jn);
            free(g_jdepot);
            g_jdepot = d;
            g_jcap = cap;
            g_jh = 0;
        }
    }
    if (g_jn + m <= g_jcap) {
        ring_copy(g_jdepot, g_jcap - 1, g_jh + g_jn, c->r, SP__JRING - 1,
                  c->h, m);
        g_jn += m;
        c->h = (c->h + (unsigned)m) & (SP__JRING - 1);
        c->n = keep;
    }
    while (c->n > keep) { /* no memory for a bigger ring */
        sp_job *j = c->r[c->h];
        c->h = (c->h + 1) & (SP__JRING - 1);
        c->n--;
        j->next = g_jfree;
        g_jfree = j;
    }
    pthread_mutex_unlock(&g_jlock);
}

/* Without a ring (no memory for one): one job at a time, under the lock. */
static sp_job *take_one(void)
{
    pthread_mutex_lock(&g_jlock);
    sp_job *j = next_free();
    pthread_mutex_unlock(&g_jlock);
    if (j)
        memset(j, 0, sizeof *j);
    return j;
}

static void give_one(sp_job *j)
{
    pthread_mutex_lock(&g_jlock);
    j->next = g_jfree;
    g_jfree = j;
    pthread_mutex_unlock(&g_jlock);
}

/* A thread that leaves gives its cached jobs back (workers call it
 * themselves, the key's destructor does it for the others). */
static void jcache_exit(void *v)
{
    jcache_t *c = v;
    if (c->n)
        give_back(c, 0);
    free(c->r);
    c->r = NULL;
}

static void jkey_init(void)
{
    pthread_key_create(&g_jkey, jcache_exit);
}

/* The thread's ring, made on first use; 0 if there is no memory. */
static __attribute__((noinline)) int jcache_init(jcache_t *c)
{
    pthread_once(&g_jonce, jkey_init);
    c->r = malloc(SP__JRING * sizeof *c->r);
    if (!c->r)
        return 0;
    c->h = c->n = 0;
    pthread_setspecific(g_jkey, c);
    return 1;
}

#endif

_Atomic long sp__fault_alloc;
_Atomic unsigned sp__test_join_gap_ns;

/* A zeroed block of a job's size from the job memory: a job, and the other
 * parts of a job that one thread makes and another frees (the side part,
 * an argument list's header): through malloc, glibc's arena lock was
 * contended between a script's thread creating jobs and the workers
 * freeing them (half the time of a scheduleJob-heavy script went to
 * malloc and free). */
_Static_assert(sizeof(sp__jside) <= sizeof(sp_job), "a side part fits a block");
_Static_assert(sizeof(sp__jx) <= sizeof(sp_job), "an argument list header fits a block");

/* memset(j, 0, sizeof *j) without `rep stos`, which GCC picks for 128
 * bytes and which has a start-up cost of its own (tens of cycles) that
 * a job's creation paid every time */
static inline void job_zero(sp_job *j)
{
#if defined(__SSE2__)
    if (sizeof *j == 128 && ((uintptr_t)j & 15) == 0) {
        /* written out: GCC turns a loop of these back into rep stos */
        __m128i z = _mm_setzero_si128(), *q = (__m128i *)j;
        _mm_store_si128(q + 0, z);
        _mm_store_si128(q + 1, z);
        _mm_store_si128(q + 2, z);
        _mm_store_si128(q + 3, z);
        _mm_store_si128(q + 4, z);
        _mm_store_si128(q + 5, z);
        _mm_store_si128(q + 6, z);
        _mm_store_si128(q + 7, z);
        return;
    }
#endif
    memset(j, 0, sizeof *j);
}

void *sp__blk_alloc(void)
{
#ifdef SP__JOB_MALLOC
    return calloc(1, sizeof(sp_job));
#else
    jcache_t *c = jcache();
    if (SP__UNLIKELY(!c->n)) {
        if (!c->r && !jcache_init(c))
            return take_one();
        pthread_mutex_lock(&g_jlock);
        refill(c);
        pthread_mutex_unlock(&g_jlock);
        if (!c->n)
            return NULL;
    }
    sp_job *j = c->r[c->h];
    c->h = (c->h + 1) & (SP__JRING - 1);
    c->n--;
    /* the lines of a job a few allocations on: recycled jobs were last
     * touched a whole batch ago (a million jobs are 128 MB), and a miss
     * on a line held up the job lock's locked instruction behind the
     * stores of this memset; one job ahead was too close to hide it */
    if (c->n > SP__JAHEAD)
        sp__prefetch_job(c->r[(c->h + SP__JAHEAD) & (SP__JRING - 1)]);
    job_zero(j);
    return j;
#endif
}

static sp_job *job_alloc(void)
{
    if (sp__fault_alloc_hit())
        return NULL;
    return sp__blk_alloc();
}

void sp__blk_free(void *b)
{
    sp_job *j = b;
#ifdef SP__JOB_MALLOC
    free(j);
#else
    jcache_t *c = jcache();
    if (SP__UNLIKELY(!c->r) && !jcache_init(c)) {
        give_one(j);
        return;
    }
    c->r[(c->h + c->n) & (SP__JRING - 1)] = j;
    if (++c->n == SP__JRING)
        give_back(c, SP__JRING - SP__JMOVE);
#endif
}

/* A thread that leaves (a worker) hands its cached jobs back. */
void sp__job_cache_flush(void)
{
#ifndef SP__JOB_MALLOC
    jcache_t *c = jcache();
    if (c->r)
        jcache_exit(c);
#endif
}

/* sp__rt_enter for the current job j (NULL: a plain thread) */
static inline void rt_enter_job(sp_job *j)
{
    if (j)
        j->in_rt++;
}

void sp__rt_enter(void)
{
    rt_enter_job(sp__current());
}

/* Leave without honouring a pending request here (it stays pending for
 * the next safe point): for calls that just handed the caller a reference
 * it must get to see, e.g. a received channel item. */
void sp__rt_leave_quiet(void)
{
    sp_job *j = sp__current();
    if (j)
        j->in_rt--;
}

/* sp__rt_leave for the current job j (NULL: a plain thread) */
static inline void rt_leave_job(sp_job *j)
{
    if (j) {
        j->in_rt--;
        if (SP__UNLIKELY(__atomic_load_n(&j->poll, __ATOMIC_RELAXED)) && j->in_rt == 0)
            sp__safepoint(j);
    }
}

void sp__rt_leave(void)
{
    rt_leave_job(sp__current());
}

/* A job of fn(arg) with refs references, in state (CREATED, or QUEUED
 * for sp_job_spawn); lock, side, waiters: zero from job_alloc */
static sp_job *job_make(sp_job_fn fn, void *arg, int refs, int state)
{
    sp_job *j = job_alloc();
    if (!j)
        return NULL;
    j->fn = fn;
    j->arg = arg;
    j->in_rt = 1;
    atomic_init(&j->refs, refs);
    atomic_init(&j->state, state);
    return j;
}

sp_job *sp_job_create(sp_job_fn fn, void *arg)
{
    /* the creator's reference and the hold, which the start then uses */
    return fn ? job_make(fn, arg, 2, SP_JOB_CREATED) : NULL;
}

static inline int clamp_prio(int prio)
{
    return prio < SP_PRIO_MIN ? SP_PRIO_MIN : prio > SP_PRIO_MAX ? SP_PRIO_MAX : prio;
}

/* the job the calling thread runs, given its worker record (NULL on a
 * plain thread); read once: no switch can happen while the caller is in
 * the runtime */
static inline sp_job *running_job(sp__worker *self)
{
    return self ? atomic_load_explicit(&self->cur, memory_order_relaxed) : NULL;
}

sp__jside *sp__jside_get(sp_job *j)
{
    sp__jside *s = sp__jside_peek(j);
    if (s)
        return s;
    sp__jside *n = sp__blk_alloc();
    if (!n)
        return NULL;
    if (!atomic_compare_exchange_strong_explicit(&j->side, &s, n,
                                                 memory_order_acq_rel,
                                                 memory_order_acquire)) {
        sp__blk_free(n); /* another thread installed one first: s is it */
        return s;
    }
    return n;
}

void sp__job_set_error(sp_job *j, char *msg, int keep_old)
{
    sp__jside *s = sp__jside_get(j);
    if (!s || (keep_old && s->error)) {
        free(msg);
        return;
    }
    free(s->error);
    s->error = msg;
}

void sp_job_retain(sp_job *j)
{
    if (j)
        atomic_fetch_add_explicit(&j->refs, 1, memory_order_relaxed);
}

static void job_free(sp_job *j)
{
    int st = atomic_load(&j->state);
    sp__jside *s = atomic_load_explicit(&j->side, memory_order_acquire);
    if (s) {
        /* a job freed without having ended (never started) still runs
         * its end hooks, state CREATED, so that they can drop what they
         * hold */
        for (sp__hook *h = s->hooks, *n; h; h = n) {
            n = h->next;
            int own = h->caller_owned;
            h->fn(j, h->ud);
            if (!own)
                free(h);
        }
        s->hooks = NULL;
        if (s->cleanup)
            s->cleanup(s->x ? s->x->ud : j->arg,
                       st == SP_JOB_DONE ? j->result : NULL, (sp_state)st,
                       s->cleanup_ud);
        if (s->x)
            sp__jx_free(j);
    }
    if (j->stack)
        sp__stack_free(j->stack);
    sp__san_job_freed(j);
    if (j->pool)
        sp__pool_release_job(j->pool);
    if (s) {
        free(s->error);
        sp__detach *d = atomic_load_explicit(&s->det, memory_order_relaxed);
        if (d) {
            free(d->err);
            free(d);
        }
        for (sp__name *n = s->names, *prev; n; n = prev) {
            prev = n->prev;
            free(n);
        }
        sp__blk_free(s);
    }
    sp__blk_free(j);
}

/*
 * The job is read only while this reference still holds it: once the
 * count has dropped, the other holder (the runtime's hold) may free it at
 * any moment. So the last holder is found before anything is dropped: a
 * count of 1 is this reference alone, and a count of 2 on a job without
 * a pool is this reference and the unused hold counted at the creation
 * (no pool: never started, since only the start that claims a job sets
 * it; and with no other reference no start can come). Either way nobody
 * else can reach the job: it is freed with no locked instruction. Other
 * counts drop one with a compare-and-swap. Whether the pool is read set
 * is decided while the count reads 2: with the other holder a second
 * reference the job has ended, so it was started; with it the hold, the
 * start that used it set the pool before its caller's release, which
 * the count's acquire load read from.
 */
void sp_job_release(sp_job *j)
{
    if (!j)
        return;
    int c = atomic_load_explicit(&j->refs, memory_order_acquire);
    for (;;) {
        if (c == 1 ||
            (c == 2 && !__atomic_load_n(&j->pool, __ATOMIC_RELAXED))) {
            job_free(j);
            return;
        }
        if (atomic_compare_exchange_weak_explicit(&j->refs, &c, c - 1,
                                                  memory_order_acq_rel,
                                                  memory_order_acquire))
            return;
    }
}

int sp_job_set_flags(sp_job *j, unsigned flags)
{
    if (!j)
        return SP_EINVAL;
    if (atomic_load(&j->state) != SP_JOB_CREATED)
        return SP_EBUSY;
    /* every SP_JOB_* flag fits; the runtime's own bits stay */
    j->flags = (uint8_t)((j->flags & (SP__JOB_PROMISED | SP__JOB_BOUND)) |
                         (flags & ~(unsigned)(SP__JOB_PROMISED |
                                              SP__JOB_BOUND)));
    return 0;
}

int sp_job_set_cleanup(sp_job *j, sp_job_cleanup_fn fn, void *ud)
{
    if (!j)
        return SP_EINVAL;
    if (atomic_load(&j->state) != SP_JOB_CREATED)
        return SP_EBUSY;
    sp__jside *s = sp__jside_get(j);
    if (!s)
        return SP_ENOMEM;
    s->cleanup = fn;
    s->cleanup_ud = ud;
    return 0;
}

/* Names may change while others read them (a script renames a running
 * job, whose scheduler or trace reads its name): the pointer is published
 * with a release store and read with an acquire load, and a replaced name
 * is kept until the job is freed, so a reader's pointer never dangles. */
int sp_job_set_name(sp_job *j, const char *name)
{
    if (!j || !name)
        return SP_EINVAL;
    sp__jside *s = sp__jside_get(j);
    if (!s)
        return SP_ENOMEM;
    size_t len = strlen(name);
    sp__lk_lock(&j->lock);
    if (!s->name && len < sizeof s->name_inl) { /* the first, short */
        memcpy(s->name_inl, name, len + 1);
        __atomic_store_n(&s->name, s->name_inl, __ATOMIC_RELEASE);
        sp__lk_unlock(&j->lock);
        return 0;
    }
    sp__lk_unlock(&j->lock);
    sp__name *n = malloc(sizeof *n + len + 1);
    if (!n)
        return SP_ENOMEM;
    memcpy(n->s, name, len + 1);
    sp__lk_lock(&j->lock);
    n->prev = s->names;
    s->names = n;
    __atomic_store_n(&s->name, n->s, __ATOMIC_RELEASE);
    sp__lk_unlock(&j->lock);
    return 0;
}

const char *sp_job_name(const sp_job *j)
{
    sp__jside *s = j ? sp__jside_peek(j) : NULL;
    const char *n = s ? __atomic_load_n(&s->name, __ATOMIC_ACQUIRE) : NULL;
    return n ? n : "";
}

/* Create and start in one: the job is the caller's alone until the push
 * publishes it (a release on the inbox, or the queue's lock), so its
 * fields are plain stores, the count starts at the caller's reference
 * plus the hold, and nobody can cancel, schedule or start it meanwhile:
 * no job lock. */
int sp_job_spawn(sp_pool *p, int prio, sp_job_fn fn, void *arg, sp_job **out)
{
    if (out)
        *out = NULL;
    if (!p || !fn)
        return SP_EINVAL;
    if (atomic_load(&p->closed) || atomic_load(&sp__shutdown_flag))
        return SP_ECLOSED;
    sp__worker *self = sp__self();
    sp_job *cur = running_job(self);
    rt_enter_job(cur);
    /* the caller's reference (when out) and the hold */
    sp_job *j = job_make(fn, arg, out ? 2 : 1, SP_JOB_QUEUED);
    if (!j) {
        rt_leave_job(cur);
        return SP_ENOMEM;
    }
    j->pool = p;
    j->prio = clamp_prio(prio);
    sp__pool_retain_job_by(p, self);
    sp__count_start_by(p, self);
    if (out)
        *out = j; /* before the push: from there on j may end and go */
    sp__job_ready_by(j, self, out != NULL);
    rt_leave_job(cur);
    return 0;
}

int sp_job_start(sp_pool *p, int prio, sp_job *j)
{
    return sp__job_start(p, prio, j, 0);
}

int sp__start_refused(sp_job *j)
{
    /* the cancel's flag is stored before its claim of the job (seq_cst),
     * and a job cancelled unstarted never gets a pool */
    return !__atomic_load_n(&j->pool, __ATOMIC_RELAXED) && atomic_load(&j->cancel)
               ? SP_ECANCELED
               : SP_EBUSY;
}

/* scheduled: the dependencies of a job taken by sp_job_schedule are
 * done. Such a job was accepted before any close, so only a stopping
 * pool refuses it. */
int sp__job_start(sp_pool *p, int prio, sp_job *j, int scheduled)
{
    if (!p || !j)
        return SP_EINVAL;
    if (scheduled ? atomic_load(&p->stopping)
                  : atomic_load(&p->closed) || atomic_load(&sp__shutdown_flag))
        return SP_ECLOSED;
    sp__worker *self = sp__self();
    sp_job *cur = running_job(self);
    rt_enter_job(cur);
    /* The start is claimed with one compare-and-swap of the state
     * (SP__JOB_STARTING, internal.h). The job lock is taken as well only
     * where others look at the job under it meanwhile: a pool without
     * workers wakes the job's waiters (they run the pool), a job with an
     * argument list keeps sp_job_add_args out, and the start of a
     * scheduled job is the rare path anyway. */
    int locked = p->nworkers == 0 || scheduled || sp__job_x(j);
    if (locked)
        sp__lk_lock(&j->lock);
    /* another start in progress is waited out: refused once it is
     * QUEUED, as under the lock; it may end CREATED (a scheduled job),
     * and the scheduled start must not be refused for it */
    int st;
    int ok = sp__job_take_created(j, SP__JOB_STARTING, &st);
    /* scheduled and started are told apart with mark_scheduled (deps.c)
     * as a Dekker pair: it stores scheduled, then reads the state; we
     * stored the state, then read scheduled (both seq_cst). A job still
     * CREATED has no pool: only a claimed start sets it. */
    if (ok && !scheduled && __atomic_load_n(&j->scheduled, __ATOMIC_SEQ_CST)) {
        atomic_store(&j->state, SP_JOB_CREATED);
        ok = 0;
    }
    if (!ok) {
        int rc = sp__start_refused(j);
        if (locked)
            sp__lk_unlock(&j->lock);
        rt_leave_job(cur);
        return rc;
    }
    /* atomic: a refused start or sp_job_schedule may read it meanwhile */
    __atomic_store_n(&j->pool, p, __ATOMIC_RELAXED);
    j->prio = clamp_prio(prio);
    sp__pool_retain_job_by(p, self);
    sp__count_start_by(p, self); /* the hold: counted at the creation */
    /* release: what was filled in above goes with it, and the push that
     * publishes the job is seq_cst */
    atomic_store_explicit(&j->state, SP_JOB_QUEUED, memory_order_release);
    if (p->nworkers == 0) /* threads already waiting must run the pool */
        sp__wake_all(&j->waiters);
    if (locked)
        sp__lk_unlock(&j->lock);
    sp__job_ready_by(j, self, 1);
    rt_leave_job(cur);
    return 0;
}

static void run_hooks(sp_job *j, sp__hook *h)
{
    while (h) {
        sp__hook *n = h->next;
        int own = h->caller_owned; /* fn may free or re-link it */
        h->fn(j, h->ud);
        if (!own)
            free(h);
        h = n;
    }
}

/* Mark the end: state, waiters, hooks, counters. The hold is dropped by
 * the caller. Runs on whichever thread ended the job. */
void sp__job_end(sp_job *j, int state)
{
    sp_pool *p = j->pool;
    /* atomic: a job cancelled before it ran has its state stored already
     * (cancel_unstarted), and a dependent listening just then reads this
     * without the lock (dep_job_end) */
    __atomic_store_n(&j->end_state, (uint8_t)state, __ATOMIC_RELEASE);
    if (p) { /* counters first: a woken waiter may read them at once */
        sp__count_end(p, state);
    }
    sp__hook *h = NULL;
    sp__jside *s = sp__jside_peek(j);
    int stored = !s;
    if (stored) {
        /* No side part, so no hooks: the state stored without the job
         * lock (one locked instruction instead of the lock's two), and
         * the lock taken only for a waiter, or for a hook linked since
         * (link_hook makes the side part before it reads the state). A
         * joiner links its node, then reads the state (join_ended in
         * sched.c): it sees the end, or the end sees its node. */
        atomic_exchange_explicit(&j->state, state, memory_order_seq_cst);
        if (!__atomic_load_n(&j->waiters.head, __ATOMIC_SEQ_CST) &&
            !sp__jside_peek(j))
            goto ended;
    } else if (__atomic_load_n(&s->hooks, __ATOMIC_ACQUIRE)) {
        /* hooks run before the waiters wake (a joiner sees their
         * effects); hooks added meanwhile are taken with the final
         * state */
        sp__lk_lock(&j->lock);
        h = s->hooks;
        s->hooks = NULL;
        sp__lk_unlock(&j->lock);
        run_hooks(j, h);
    }
    sp__lk_lock(&j->lock);
    if (!stored) /* release, as in start */
        atomic_store_explicit(&j->state, state, memory_order_release);
    s = sp__jside_peek(j); /* under the lock: link_hook's is current */
    h = NULL;
    if (s) {
        h = s->hooks;
        s->hooks = NULL;
    }
    sp__wake_all(&j->waiters);
    sp__lk_unlock(&j->lock);
    run_hooks(j, h);
ended:
    if (p && p->nworkers == 0) {
        atomic_fetch_add(&p->seq, 1);
        sp__futex_wake(&p->seq, 0x7fffffff);
    }
}

static int link_hook(sp_job *j, sp__hook *h);

int sp__job_on_end(sp_job *j, void (*fn)(sp_job *, void *), void *ud)
{
    sp__hook *h = malloc(sizeof *h);
    if (!h)
        return SP_ENOMEM;
    h->fn = fn;
    h->ud = ud;
    h->caller_owned = 0;
    int rc = link_hook(j, h);
    if (rc != 0)
        free(h);
    return rc;
}

int sp_job_promise(sp_job *j)
{
    if (!j)
        return SP_EINVAL;
    if (atomic_load(&j->state) != SP_JOB_CREATED)
        return SP_EBUSY;
    __atomic_fetch_or(&j->flags, (uint8_t)SP__JOB_PROMISED, __ATOMIC_RELEASE);
    return 0;
}

int sp_job_on_end(sp_job *j, void (*fn)(sp_job *, void *), void *ud)
{
    if (!j || !fn)
        return SP_EINVAL;
    return sp__job_on_end(j, fn, ud);
}

int sp__job_on_end_node(sp_job *j, sp__hook *h)
{
    h->caller_owned = 1;
    return link_hook(j, h);
}

static int link_hook(sp_job *j, sp__hook *h)
{
    sp__jside *s = sp__jside_get(j);
    if (!s)
        return SP_ENOMEM;
    sp__lk_lock(&j->lock);
    int st = atomic_load(&j->state);
    if (st >= SP_JOB_DONE) {
        sp__lk_unlock(&j->lock);
        return SP_EBUSY;
    }
    h->next = s->hooks;
    __atomic_store_n(&s->hooks, h, __ATOMIC_RELEASE);
    sp__lk_unlock(&j->lock);
    return 0;
}

int sp_job_finished(const sp_job *j)
{
    return j && atomic_load(&((sp_job *)j)->state) >= SP_JOB_DONE;
}

sp_state sp_job_state(const sp_job *j)
{
    int st = j ? atomic_load(&((sp_job *)j)->state) : SP_JOB_CREATED;
    return st == SP__JOB_STARTING ? SP_JOB_CREATED : (sp_state)st;
}

void *sp_job_result(const sp_job *j)
{
    return j && sp_job_state(j) == SP_JOB_DONE ? j->result : NULL;
}

const char *sp_job_error(const sp_job *j)
{
    return j && sp_job_state(j) == SP_JOB_FAILED ? sp__job_err(j) : NULL;
}

static int outcome(sp_job *j, void **result)
{
    int st = atomic_load(&j->state);
    if (result)
        *result = st == SP_JOB_DONE ? j->result : NULL;
    return st == SP_JOB_DONE ? 0 : st == SP_JOB_FAILED ? SP_EFAILED
                                                        : SP_ECANCELED;
}

static int job_ended_p(void *arg)
{
    return atomic_load_explicit(&((sp_job *)arg)->state,
                                memory_order_acquire) >= SP_JOB_DONE;
}

/*
 * A plain thread that waits for a job of a real pool first watches its
 * state for up to SP__JOIN_WATCH_NS, reading only. A batch waited for in
 * order catches up with the worker that runs it (the wait and release
 * of an ended job is 11 ns, the worker's job 30-50): each wait then
 * registered on the job, the worker's end took the job lock against it
 * and woke it, and either side could sleep on a futex, per job -- on the
 * worker, which is the batch's bottleneck then (issue 19). 1 if j ended.
 */
#define SP__JOIN_WATCH_NS 4000u

static int join_watch(sp_job *j)
{
    uint64_t end = 0;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&j->state, memory_order_acquire) >=
            SP_JOB_DONE)
            return 1;
        __builtin_ia32_pause();
        if ((i & 31) == 0) {
            uint64_t now = sp__now_ns();
            if (!end)
                end = now + SP__JOIN_WATCH_NS;
            else if (now >= end)
                return 0;
        }
    }
}

int sp_job_join(sp_job *j, void **result)
{
    if (result)
        *result = NULL;
    if (!j)
        return SP_EINVAL;
    if (atomic_load_explicit(&j->state, memory_order_acquire) >= SP_JOB_DONE) {
#ifndef SP__JOB_MALLOC
        /* a batch waited for in the order it was made: the first line
         * of a wait to come (what it and the release read), for writing */
        if (sizeof(sp_job) == 128)
            sp__prefetch_w(carved_after(j, SP__WAHEAD));
#endif
        return outcome(j, result); /* fast path: already ended */
    }
    sp_job *cur = sp__current();
    if (cur == j)
        return SP_ESTATE;
    /* a plain thread runs j itself if j waits alone on a parked worker
     * (worker.c: standing in); QUEUED, read with acquire, publishes
     * j->pool */
    if (!cur && atomic_load_explicit(&j->state, memory_order_acquire) ==
                    SP_JOB_QUEUED &&
        j->pool->nworkers > 0 && !sp__wait_intr_on())
        sp__lend_run(j);
    /* a pool that polls (sp_pool_set_spin_us): so does a plain thread
     * waiting for its job, calling its poll hook, before it sleeps */
    sp_pool *jp = !cur && atomic_load_explicit(&j->state, memory_order_acquire) >=
                              SP_JOB_QUEUED
                      ? j->pool /* published by the state, as above */
                      : NULL;
    if (jp && atomic_load_explicit(&jp->spin_us, memory_order_relaxed) &&
        !sp__wait_intr_on())
        sp__pool_poll(jp, job_ended_p, j);
    else if (jp && jp->nworkers > 0 && join_watch(j))
        return outcome(j, result);
    sp__rt_enter();
    sp__lk_lock(&j->lock);
    int rc = 0;
    while (rc == 0 && atomic_load(&j->state) < SP_JOB_DONE) {
        if (!cur && j->pool && j->pool->nworkers == 0) {
            /* a plain thread runs a pseudo pool while it waits (also
             * after a wake-up that says the job was just started) */
            sp__lk_unlock(&j->lock);
            rc = sp__pseudo_wait(j);
            if (rc != SP_EDEADLK && rc != SP_ECANCELED && rc != SP_EINTR)
                rc = 0;
            sp__lk_lock(&j->lock);
            continue;
        }
        rc = sp__wait_any(&j->waiters, SP__LOCKP_LK(&j->lock), SP__WAIT_JOIN);
    }
    sp__lk_unlock(&j->lock);
    sp__rt_leave();
    return rc < 0 ? rc : outcome(j, result);
}

void *sp_job_wait(sp_job *j)
{
    void *r = NULL;
    sp_job_join(j, &r);
    return r;
}

/* Cancel a job that has not run yet; 1 if this call ended it. The call
 * claims the job as a worker would (CREATED or QUEUED -> RUNNING) and
 * ends it: the end state is stored only after the end hooks ran, so a
 * joiner that sees CANCELLED sees their effects (sp__job_end). */
static int cancel_unstarted(sp_job *j)
{
    int st;
    sp__lk_lock(&j->lock);
    int ok = sp__job_take_created(j, SP_JOB_RUNNING, &st);
    sp__lk_unlock(&j->lock);
    if (ok) { /* never started: no pool, nobody holds it */
        sp__job_end(j, SP_JOB_CANCELLED);
        return 1;
    }
    if (st != SP_JOB_QUEUED)
        return 0;
    /* queued: the entry stays linked; the worker that pops it finds it
     * claimed and drops it and the hold (claim_fresh). */
    if (!atomic_compare_exchange_strong(&j->state, &st, SP_JOB_RUNNING))
        return 0;
    sp__job_end(j, SP_JOB_CANCELLED);
    return 1;
}

/* Once, unless the owner completed it already: also when the runtime
 * ended the job at a safe point meanwhile, as the work goes on elsewhere. */
static void tell_cancel(sp_job *j, sp__detach *d)
{
    if (!atomic_load(&d->claimed) && d->on_cancel &&
        !atomic_exchange(&d->told, 1))
        d->on_cancel(j, d->ud);
}

int sp_job_cancel(sp_job *j)
{
    if (!j)
        return SP_EINVAL;
    sp__rt_enter();
    /* A queued or unstarted job reads CANCELLED from sp__job_end's
     * store on, before that function has returned: a joiner may return
     * then and drop the caller's reference, and the worker that pops the
     * entry drops the hold, freeing j while sp__job_end still uses it
     * (found by TSan, test_sigint_custom_policy). Keep j alive for the
     * call. */
    sp_job_retain(j);
    /* ended before the request: SP_EBUSY. A job that ends once the flag
     * is set (a worker starting it sees the flag and ends it CANCELLED
     * at once) was still running as far as this call goes: 1 */
    int ended_before = atomic_load(&j->state) >= SP_JOB_DONE;
    atomic_store(&j->cancel, 1);
    int rc = 0;
    if (!cancel_unstarted(j)) {
        if (ended_before) {
            rc = SP_EBUSY;
        } else if (atomic_load(&j->state) >= SP_JOB_DONE) {
            rc = 1;
        } else {
            rc = 1;
            __atomic_store_n(&j->preempt_cause, SP__PC_CANCEL, __ATOMIC_RELAXED);
            __atomic_store_n(&j->poll, 1, __ATOMIC_RELAXED);
            sp__waitq_remove_job(j);
            /* real workers live as long as the pool (which j holds);
             * a pseudo pool's runner may be gone: the flag must do */
            sp__worker *w = j->pool && j->pool->nworkers > 0
                                ? __atomic_load_n(&j->worker, __ATOMIC_ACQUIRE)
                                : NULL;
            if (w && atomic_load(&w->cur) == j)
                sp__request_preempt(w, j, SP__PC_CANCEL, 1);
            /* detached: its owner stops the work (seq_cst: the flag
             * above against sp_job_detach's store of det) */
            sp__jside *s = sp__jside_peek(j);
            sp__detach *d = s ? atomic_load(&s->det) : NULL;
            if (d)
                tell_cancel(j, d);
        }
    }
    sp_job_release(j);
    sp__rt_leave();
    return rc;
}

/* ---- jobs completed from outside ---- */

int sp_job_detach(sp_job_cancel_fn on_cancel, void *ud)
{
    sp_job *j = sp__current();
    if (!j)
        return SP_ENOTJOB;
    if (sp__job_detached(j))
        return SP_EBUSY;
    j->in_rt++; /* no async switch while half detached */
    sp__jside *s = sp__jside_get(j);
    sp__detach *d = s ? calloc(1, sizeof *d) : NULL;
    if (!d) {
        j->in_rt--;
        return SP_ENOMEM;
    }
    d->on_cancel = on_cancel;
    d->ud = ud;
    atomic_init(&d->st, SP__DET_ON);
    sp_waker_add(); /* removed when it ends, however it ends */
    atomic_store(&s->det, d); /* seq_cst: against sp_job_cancel's flag */
    if (atomic_load(&j->cancel))
        tell_cancel(j, d);
    sp__rt_leave_quiet(); /* a pending cancel: the owner was told */
    return 0;
}

void sp__detach_ending(sp_job *j, int *state, char **err)
{
    sp__detach *d = atomic_load(&sp__jside_peek(j)->det);
    int prev = atomic_exchange(&d->st, SP__DET_ENDED);
    if (prev == SP__DET_EARLY) {
        *state = d->end;
        j->result = d->end == SP_JOB_DONE ? d->result : NULL;
        free(*err);
        *err = d->err;
        d->err = NULL;
    }
    sp_waker_remove();
}

int sp_job_complete(sp_job *j, sp_state state, void *result,
                    const char *error)
{
    if (!j || (state != SP_JOB_DONE && state != SP_JOB_FAILED &&
               state != SP_JOB_CANCELLED))
        return SP_EINVAL;
    sp__jside *s = sp__jside_peek(j);
    sp__detach *d = s ? atomic_load(&s->det) : NULL;
    if (!d || atomic_exchange(&d->claimed, 1))
        return SP_EBUSY;
    char *msg = NULL;
    if (state == SP_JOB_FAILED &&
        !(msg = strdup(error && *error ? error : "job failed")))
        return SP_ENOMEM;
    d->end = state;
    d->result = state == SP_JOB_DONE ? result : NULL;
    d->err = msg;
    int st = SP__DET_ON;
    if (atomic_compare_exchange_strong(&d->st, &st, SP__DET_EARLY))
        return 0; /* the fiber's end ends it */
    if (st != SP__DET_GONE ||
        !atomic_compare_exchange_strong(&d->st, &st, SP__DET_ENDED)) {
        d->result = NULL; /* ended by the runtime: refused */
        free(d->err);
        d->err = NULL;
        return SP_EBUSY;
    }
    sp__rt_enter();
    if (state == SP_JOB_DONE)
        j->result = result;
    if (msg) {
        sp__job_set_error(j, msg, 1);
        d->err = NULL;
    }
    sp__job_end(j, state);
    sp_waker_remove();
    sp__pins_drain(); /* a pinner may still hold j from its last run */
    sp_job_release(j); /* the hold */
    sp__rt_leave();
    return 0;
}

int sp_job_cancelled(void)
{
    sp_job *j = sp__current();
    return j ? atomic_load(&j->cancel) != 0 : 0;
}

int sp_job_fail(const char *fmt, ...)
{
    sp_job *j = sp__current();
    if (!j)
        return SP_ENOTJOB;
    j->in_rt++;
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt ? fmt : "failed", ap) < 0)
        msg = NULL;
    va_end(ap);
    sp__job_set_error(j, msg ? msg : strdup("job failed"), 0);
    j->in_rt--;
    return 0;
}

sp_job *sp_job_current(void)
{
    return sp__current();
}

int sp_job_priority(const sp_job *job)
{
    return job ? __atomic_load_n(&job->prio, __ATOMIC_RELAXED) : 0;
}

/* ---- safe points ---- */

void sp__end_cancelled(sp_job *j)
{
    j->in_rt++;
    sp__switch_out(j, SP__POST_CANCEL, 0);
    __builtin_unreachable();
}

void sp__cancel_point(void)
{
    sp_job *j = sp__current();
    if (j && atomic_load(&j->cancel) && !(j->flags & SP_JOB_DEFER_CANCEL))
        sp__end_cancelled(j);
}

/* sp__safepoint and sp_yield: worker.c, beside the direct switch they
 * inline */

int sp_checkpoint(void)
{
    sp_job *j = sp__current();
    if (!j)
        return 0;
    if (__atomic_load_n(&j->poll, __ATOMIC_RELAXED))
        sp__safepoint(j);
    /* sp_job_cancel stores cancel before poll: a checkpoint between the
     * two must still end a non-deferred job here, as documented, not
     * return SP_ECANCELED to code that does not expect it */
    if (atomic_load(&j->cancel)) {
        if (!(j->flags & SP_JOB_DEFER_CANCEL))
            sp__end_cancelled(j);
        return SP_ECANCELED;
    }
    return 0;
}

const volatile int *sp_poll_flag(void)
{
    sp_job *j = sp__current();
    return j ? &j->poll : &g_never_set;
}

sp_pool *sp_pool_current(void)
{
    sp_job *j = sp__current();
    return j ? j->pool : NULL;
}
