/*
 * stack.c - fiber stacks.
 *
 * Two kinds, because of the kernel's limit on memory mappings
 * (vm.max_map_count, 65530 by default):
 *
 *  GUARDED: one mmap per stack with a PROT_NONE guard page below it. An
 *  overflow faults on the guard and the SIGSEGV handler fails the job.
 *  Each costs two VMAs, so they are used while the number of guarded
 *  stacks stays under a budget derived from max_map_count (a quarter of
 *  the mappings are left to the rest of the process).
 *
 *  SLAB: past the budget, stacks are carved from 64-stack slabs (one VMA
 *  each). They have no guard page. Instead, when a job on such a stack
 *  ends, mincore() tells whether the lowest page of the stack or any
 *  page of the gap below it was ever touched: if so the job overflowed and is
 *  reported FAILED ("stack overflow"), and the stack is wiped
 *  (MADV_DONTNEED) before reuse. A 16 KiB unused gap separates
 *  neighbours, so a modest overflow lands in the gap rather than in the
 *  next stack. (Reading a canary would not do: on this kernel even a
 *  read of an untouched page commits memory, 4 KiB per suspended job.)
 *  The guarantee is weaker than a guard page's: the overflow is found
 *  when the job ends, and one beyond the gap corrupts a neighbour.
 *
 * Pages are committed lazily (MAP_NORESERVE), so the virtual size is
 * cheap: a suspended job costs the pages its frames touched.
 *
 * The sp__stack descriptor lives at the top of the stack memory itself,
 * in the page the first frame touches anyway.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef SP_VALGRIND
#include <valgrind/valgrind.h>
#endif
#ifdef SP_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define SP__SLAB_N 64
#define SP__SLAB_GAP (16u * 1024u)
#define SP__DESC_ROOM 64            /* bytes above hi for the descriptor */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static sp__stack *g_free;           /* global free list, any size */
static long g_nfree;
/* Guarded stacks beyond the free list's reserve, waiting to go back to
 * the kernel in one batch (still reusable until then). An munmap in a
 * process whose threads run on other CPUs costs a TLB shootdown (an IPI
 * to each; ~30 us on this VM): one per stack made a chain of 20,000
 * suspended jobs spend most of its time there. Batched, the stacks are
 * sorted by address and adjacent mappings (mmap hands them out next to
 * each other, usually) go in one call. */
#define SP__REL_BATCH 256
static sp__stack *g_rel;
static long g_nrel;
static long g_guarded_now, g_guarded_max = -1, g_slab_stacks;
static size_t g_page; /* set once, by whoever needs it first: relaxed
                       * atomics, as sp__stack_round runs unlocked */

static size_t page_size(void)
{
    size_t p = __atomic_load_n(&g_page, __ATOMIC_RELAXED);
    if (p == 0) {
        p = (size_t)sysconf(_SC_PAGESIZE);
        __atomic_store_n(&g_page, p, __ATOMIC_RELAXED);
    }
    return p;
}

static void budget_init(void)
{
    long maps = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &maps) != 1)
            maps = 65530;
        fclose(f);
    }
    g_guarded_max = (maps - maps / 4) / 2;
    if (getenv("SP_GUARDED_MAX"))   /* tests force the slab path */
        g_guarded_max = atol(getenv("SP_GUARDED_MAX"));
}

void sp__stack_set_budget(long guarded_max)
{
    pthread_mutex_lock(&g_lock);
    if (g_guarded_max < 0)
        budget_init();
    g_guarded_max = guarded_max;
    pthread_mutex_unlock(&g_lock);
}

size_t sp__stack_round(size_t size)
{
    size_t page = page_size();
    if (size < 16 * 1024)
        size = 16 * 1024;
    return (size + page - 1) & ~(page - 1);
}

long sp__stack_slab_count(void)
{
    pthread_mutex_lock(&g_lock);
    long n = g_slab_stacks;
    pthread_mutex_unlock(&g_lock);
    return n;
}

void sp__stack_budget(long *guarded_max, long *guarded_now)
{
    pthread_mutex_lock(&g_lock);
    if (g_guarded_max < 0)
        budget_init();
    *guarded_max = g_guarded_max;
    *guarded_now = g_guarded_now;
    pthread_mutex_unlock(&g_lock);
}

static sp__stack *describe(char *lo, size_t size, char *guard, int kind)
{
    /* usable range [lo, hi); descriptor just above hi, inside the map */
    char *hi = lo + size - SP__DESC_ROOM;
    sp__stack *s = (sp__stack *)hi;
    s->next = NULL;
    s->lo = lo;
    s->hi = hi;
    s->guard = guard;
    s->size = size;
    s->kind = kind;
#ifdef SP_VALGRIND
    s->vg_id = VALGRIND_STACK_REGISTER(lo, hi);
#else
    s->vg_id = 0;
#endif
    return s;
}

static sp__stack *alloc_guarded(size_t size)
{
    char *m = mmap(NULL, size + page_size(), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    if (mprotect(m, page_size(), PROT_NONE) != 0) {
        munmap(m, size + page_size());
        return NULL;
    }
    return describe(m + page_size(), size, m, SP__STACK_GUARDED);
}

/* Carve a slab; all but the first stack go to the free list (lock held). */
static sp__stack *alloc_slab(size_t size)
{
    size_t stride = size + SP__SLAB_GAP;
    char *m = mmap(NULL, stride * SP__SLAB_N, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                   -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    g_slab_stacks += SP__SLAB_N;
    for (int i = 1; i < SP__SLAB_N; i++) {
        sp__stack *s = describe(m + i * stride + SP__SLAB_GAP, size, NULL,
                                SP__STACK_SLAB);
        s->next = g_free;
        g_free = s;
        g_nfree++;
    }
    return describe(m + SP__SLAB_GAP, size, NULL, SP__STACK_SLAB);
}

static sp__stack *take_free(size_t size)
{
    sp__stack **pp = &g_free;
    for (int n = 0; *pp && n < 32; pp = &(*pp)->next, n++) {
        if ((*pp)->size == size) {
            sp__stack *s = *pp;
            *pp = s->next;
            g_nfree--;
            s->next = NULL;
            return s;
        }
    }
    return NULL;
}

/* A stack of this size from the release batch (lock held). */
static sp__stack *take_rel(size_t size)
{
    for (sp__stack **pp = &g_rel; *pp; pp = &(*pp)->next)
        if ((*pp)->size == size) {
            sp__stack *s = *pp;
            *pp = s->next;
            g_nrel--;
            s->next = NULL;
            return s;
        }
    return NULL;
}

/* A mapping to release: read out of the descriptor, which lives in the
 * mapping itself, before any of the batch is unmapped. */
typedef struct { char *lo; size_t len; } span;

static int by_addr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const span *)a)->lo;
    uintptr_t y = (uintptr_t)((const span *)b)->lo;
    return x < y ? -1 : x > y;
}

/* Unmap a detached list of n guarded stacks, adjacent ones together. */
static void release_batch(sp__stack *list, long n)
{
    span *v = malloc((size_t)n * sizeof *v);
    long k = 0;
    for (sp__stack *s = list, *next; s; s = next) {
        next = s->next;
#ifdef SP_VALGRIND
        VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
        if (v) /* s is gone once its span is unmapped: copy it out */
            v[k++] = (span){s->guard, s->size + page_size()};
        else /* no memory for the sort: one at a time */
            munmap(s->guard, s->size + page_size());
    }
    if (!v)
        return;
    qsort(v, (size_t)k, sizeof *v, by_addr);
    for (long i = 0; i < k;) {
        char *start = v[i].lo, *end = v[i].lo + v[i].len;
        long j = i + 1;
        while (j < k && v[j].lo == end)
            end += v[j++].len;
        munmap(start, (size_t)(end - start));
        i = j;
    }
    free(v);
}

sp__stack *sp__stack_alloc(size_t size)
{
    size = sp__stack_round(size);
    pthread_mutex_lock(&g_lock);
    if (g_guarded_max < 0)
        budget_init();
    sp__stack *s = take_free(size);
    if (!s && g_rel)
        s = take_rel(size);
    if (!s && g_guarded_now < g_guarded_max) {
        /* the mmap, mprotect and first touch outside the lock: with
         * thousands of jobs suspending at once, workers queued on it */
        g_guarded_now++;
        pthread_mutex_unlock(&g_lock);
        s = alloc_guarded(size);
        if (s)
            return s;
        pthread_mutex_lock(&g_lock);
        g_guarded_now--;
    }
    if (!s)
        s = alloc_slab(size);
    pthread_mutex_unlock(&g_lock);
    return s;
}

/* Guarded stacks beyond a small reserve go back to the kernel; slab
 * stacks cannot (they share a mapping), so their pages are dropped. */
void sp__stack_free(sp__stack *s)
{
    if (!s)
        return;
#ifdef SP_ASAN
    /* A job that never ran to its end (left suspended in a stopped pool,
     * or freed while suspended) leaves its frames' redzones poisoned: the
     * next job on this memory would trip over them where code ASan does
     * not instrument writes (seen in the stress program: sigaltstack in
     * ASan's own __asan_handle_no_return). Jobs that end unpoison their
     * stack as they leave it (fiber.c). */
    __asan_unpoison_memory_region(s->lo, (size_t)(s->hi - s->lo));
#endif
    pthread_mutex_lock(&g_lock);
    if (s->kind == SP__STACK_GUARDED && g_nfree >= 64) {
        s->next = g_rel;
        g_rel = s;
        if (++g_nrel < SP__REL_BATCH) {
            pthread_mutex_unlock(&g_lock);
            return;
        }
        sp__stack *list = g_rel;
        long n = g_nrel;
        g_rel = NULL;
        g_nrel = 0;
        g_guarded_now -= n;
        pthread_mutex_unlock(&g_lock);
        release_batch(list, n);
        return;
    }
    if (s->kind == SP__STACK_SLAB && !sp__stack_canary_ok(s)) {
        /* overflowed: wipe the gap below too, so the next check passes */
        size_t drop = ((size_t)(s->hi - s->lo)) & ~(page_size() - 1);
        madvise(s->lo - SP__SLAB_GAP, drop + SP__SLAB_GAP, MADV_DONTNEED);
    } else if (s->kind == SP__STACK_SLAB && g_nfree >= 64) {
        /* keep the descriptor page; drop what the frames dirtied */
        size_t drop = ((size_t)(s->hi - s->lo)) & ~(page_size() - 1);
        if (drop > 0)
            madvise(s->lo, drop, MADV_DONTNEED);
    }
    s->next = g_free;
    g_free = s;
    g_nfree++;
    pthread_mutex_unlock(&g_lock);
}

int sp__stack_canary_ok(const sp__stack *s)
{
    if (s->kind != SP__STACK_SLAB)
        return 1;
    /* the whole gap below and the stack's lowest page */
    unsigned char vec[SP__SLAB_GAP / 4096 + 1];
    size_t page = page_size(), n = SP__SLAB_GAP / page + 1;
    if (n > sizeof vec || mincore(s->lo - SP__SLAB_GAP, n * page, vec) != 0)
        return 1; /* cannot tell */
    for (size_t i = 0; i < n; i++)
        if (vec[i] & 1)
            return 0;
    return 1;
}

int sp__stack_in_guard(const sp__stack *s, const void *addr)
{
    const char *a = addr;
    /* a big frame may jump over the guard page: accept 64 KiB below it */
    if (s->kind == SP__STACK_GUARDED)
        return a >= s->guard - 65536 && a < s->lo;
    return 0;
}
