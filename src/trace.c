/*
 * trace.c - the scheduling trace (sp_pool_trace, SPINDLE_TRACE).
 *
 * A trace session belongs to one pool. Every thread that runs the pool's
 * jobs (a worker, a spare, or a plain thread running a pseudo pool) owns
 * one buffer in the session and is the only one to append to it, so the
 * hot path takes no lock: one record per job run slice (begin and end
 * time, how it ended, the job's name), written when the slice ends.
 * Records live in chunks; a chunk's count is published with a release
 * store and chunks are linked with release stores, so a writer may read
 * every buffer while the workers keep appending (sp_pool_trace(pool,
 * NULL), exit()) and sees a consistent prefix.
 *
 * Sessions are never freed while a thread may still append to them: a
 * session turned off is kept on its pool's list until the pool is freed
 * (all its workers are gone by then); sessions of SPINDLE_TRACE belong
 * to the process.
 *
 * Output: Chrome trace event JSON. pid = session (one per pool), tid =
 * worker index + 1, or 1000 + k for the k-th plain thread that ran a
 * pseudo pool. A slice is an "X" event; a slice that ended by
 * preemption, cancel or failure is followed by an instant event ("i")
 * at its end.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SP__TR_NAME 36
#define SP__TR_CHUNK0 64           /* first chunk: runners are many */
#define SP__TR_CHUNK_BYTES ((size_t)2 << 20)
#define SP__TR_CHUNK ((uint32_t)((SP__TR_CHUNK_BYTES - 64) / sizeof(sp__trec)))
#define SP__TR_MAX (1u << 22)      /* records per buffer, then dropped */

/* How a slice ended. */
enum {
    SP__TE_YIELD = 1, SP__TE_SLICE, SP__TE_PRIO, SP__TE_CANCELREQ,
    SP__TE_SUSPEND, SP__TE_DONE, SP__TE_FAILED, SP__TE_CANCEL,
    SP__TE_OVERFLOW, SP__TE_DROPPED /* instant: cancelled while queued */
};

/* 32 bytes: fresh memory is most of the cost of a record */
typedef struct sp__trec {
    uint64_t t0;                   /* ns, CLOCK_MONOTONIC */
    uintptr_t job;
    uint32_t dur;                  /* ns; top bit set: µs */
    uint32_t name;                 /* index in the buffer's name table */
    uint8_t end;                   /* SP__TE_* */
    uint8_t first;                 /* the job's first slice (start) */
    uint8_t async;                 /* switched out in the signal handler */
} sp__trec;

_Static_assert(sizeof(sp__trec) == 32, "a trace record is 32 bytes");

#define SP__TN_CHUNK 1024
#define SP__TN_MAX (1u << 20)      /* names per buffer, then "job" */
#define SP__TN_NONE UINT32_MAX

/* Job names, interned per buffer: published like records. */
typedef struct sp__tnchunk {
    struct sp__tnchunk *_Atomic next;
    _Atomic uint32_t n;
    char s[SP__TN_CHUNK][SP__TR_NAME + 4];
} sp__tnchunk;

typedef struct sp__tchunk {
    struct sp__tchunk *_Atomic next;
    _Atomic uint32_t n;            /* records published */
    uint32_t cap;
    sp__trec r[];
} sp__tchunk;

struct sp__tbuf {
    sp__tbuf *next;                /* session list (session lock) */
    sp__tchunk *head, *tail;       /* tail: owner only */
    uint32_t total;                /* owner only */
    _Atomic uint64_t dropped;
    int tid;
    long os_tid;                   /* runners: the thread it belongs to */
    char label[40];
    uint64_t t0;                   /* owner: begin of the open slice */
    int first;
    sp__tnchunk *_Atomic nhead;    /* interned job names */
    sp__tnchunk *ntail;            /* owner only */
    uint32_t nnames;               /* owner only */
    struct { const char *s; uint32_t idx; } hc[256]; /* owner's cache */
};

struct sp__trace {
    pthread_mutex_t lock;          /* bufs, nrunners */
    sp__tbuf *bufs, **tailp;
    int nrunners;
    int pid;
    char *pool_name;
    char *path;                    /* own file, or NULL (env trace) */
    int env;                       /* part of the SPINDLE_TRACE file */
    sp__trace *next;               /* pool's retired list / env list */
};

/* Cold-path state: session lists, the env file. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int g_next_pid = 1;
static _Atomic uint64_t g_epoch;   /* ts 0 of every file */
static sp__trace *g_env, **g_env_tail = &g_env;
static char *g_env_path;
static int g_env_open, g_env_dirty, g_env_atexit;

/* ---- recording (owner thread only) ---- */

/* Big chunks are mapped with their pages populated in one system call:
 * first touches of fresh pages, a fault every 64 records, cost more than
 * the rest of the recording (several µs a fault in a VM). */
static sp__tchunk *chunk_new(uint32_t cap)
{
    size_t len = sizeof(sp__tchunk) + cap * sizeof(sp__trec);
    sp__tchunk *c;
    if (cap == SP__TR_CHUNK) {
        c = mmap(NULL, SP__TR_CHUNK_BYTES, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (c == MAP_FAILED)
            return NULL;
    } else if (!(c = malloc(len))) {
        return NULL;
    }
    atomic_init(&c->next, NULL);
    atomic_init(&c->n, 0);
    c->cap = cap;
    return c;
}

static void chunk_free(sp__tchunk *c)
{
    if (c->cap == SP__TR_CHUNK)
        munmap(c, SP__TR_CHUNK_BYTES);
    else
        free(c);
}

static long os_tid(void)
{
    return (long)syscall(SYS_gettid);
}

static sp__tbuf *buf_new(sp__trace *t, sp__worker *w)
{
    sp__tbuf *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->head = b->tail = chunk_new(w->is_runner ? SP__TR_CHUNK0 : SP__TR_CHUNK);
    if (!b->head) {
        free(b);
        return NULL;
    }
    if (w->is_runner) {
        b->os_tid = os_tid();
        b->tid = 1000 + t->nrunners++;
        snprintf(b->label, sizeof b->label, "runner (thread %ld)", b->os_tid);
    } else {
        b->tid = w->index + 1;
        snprintf(b->label, sizeof b->label, "worker %d", w->index);
    }
    b->next = NULL;
    *t->tailp = b;
    t->tailp = &b->next;
    return b;
}

/* The buffer of w in session t: created on first use; a runner reuses
 * the buffer of its thread (one runner per thread at a time). */
static sp__tbuf *buf_for(sp__worker *w, sp__trace *t)
{
    if (w->tsess == t)
        return w->tbuf;
    pthread_mutex_lock(&t->lock);
    sp__tbuf *b = NULL;
    if (w->is_runner) {
        long me = os_tid();
        for (b = t->bufs; b && !(b->os_tid == me); b = b->next)
            ;
    }
    if (!b)
        b = buf_new(t, w);
    pthread_mutex_unlock(&t->lock);
    w->tsess = t;
    w->tbuf = b;
    return b;
}

static sp__trec *rec_slot(sp__tbuf *b)
{
    if (b->total >= SP__TR_MAX) {
        atomic_fetch_add_explicit(&b->dropped, 1, memory_order_relaxed);
        return NULL;
    }
    sp__tchunk *c = b->tail;
    uint32_t n = atomic_load_explicit(&c->n, memory_order_relaxed);
    if (n == c->cap) {
        sp__tchunk *d = chunk_new(SP__TR_CHUNK);
        if (!d) {
            atomic_fetch_add_explicit(&b->dropped, 1, memory_order_relaxed);
            return NULL;
        }
        atomic_store_explicit(&c->next, d, memory_order_release);
        b->tail = c = d;
        n = 0;
    }
    return &c->r[n];
}

static void rec_publish(sp__tbuf *b)
{
    sp__tchunk *c = b->tail;
    b->total++;
    atomic_store_explicit(&c->n, atomic_load_explicit(&c->n,
                          memory_order_relaxed) + 1, memory_order_release);
}

/* Copy at most SP__TR_NAME bytes, never cutting a UTF-8 sequence. */
static void copy_name(char *dst, const char *src)
{
    size_t n = strlen(src);
    if (n > SP__TR_NAME) {
        n = SP__TR_NAME;
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = 0;
}

static uint32_t name_append(sp__tbuf *b, const char *s)
{
    if (b->nnames >= SP__TN_MAX)
        return SP__TN_NONE;
    sp__tnchunk *c = b->ntail;
    uint32_t n = c ? atomic_load_explicit(&c->n, memory_order_relaxed) : 0;
    if (!c || n == SP__TN_CHUNK) {
        sp__tnchunk *d = malloc(sizeof *d);
        if (!d)
            return SP__TN_NONE;
        atomic_init(&d->next, NULL);
        atomic_init(&d->n, 0);
        if (c)
            atomic_store_explicit(&c->next, d, memory_order_release);
        else
            atomic_store_explicit(&b->nhead, d, memory_order_release);
        b->ntail = c = d;
        n = 0;
    }
    memcpy(c->s[n], s, strlen(s) + 1);
    atomic_store_explicit(&c->n, n + 1, memory_order_release);
    return b->nnames++;
}

/* The index of name in b's table; a cache of 256 recent names makes the
 * usual case (few distinct names) a hash and a compare. */
static uint32_t intern(sp__tbuf *b, const char *name)
{
    char tmp[SP__TR_NAME + 1];
    copy_name(tmp, name);
    uint32_t h = 2166136261u;
    for (const unsigned char *c = (const unsigned char *)tmp; *c; c++)
        h = (h ^ *c) * 16777619u;
    h = (h ^ (h >> 8)) & 255;
    if (b->hc[h].s && strcmp(b->hc[h].s, tmp) == 0)
        return b->hc[h].idx;
    uint32_t i = name_append(b, tmp);
    if (i != SP__TN_NONE) {
        b->hc[h].s = b->ntail->s[(i % SP__TN_CHUNK)];
        b->hc[h].idx = i;
    }
    return i;
}

static uint32_t encode_dur(uint64_t ns)
{
    if (ns < 0x80000000ull)
        return (uint32_t)ns;
    uint64_t us = ns / 1000;
    return 0x80000000u | (uint32_t)(us < 0x7fffffffull ? us : 0x7fffffffull);
}

static uint64_t decode_dur(uint32_t d)
{
    return d & 0x80000000u ? (uint64_t)(d & 0x7fffffffu) * 1000 : d;
}

void sp__trace_begin(sp__worker *w, sp_job *j, sp__trace *t, int fresh)
{
    sp__tbuf *b = buf_for(w, t);
    if (!b)
        return;
    b->first = fresh;
    b->t0 = sp__now_ns();
    (void)j;
}

static int end_reason(sp__worker *w, sp_job *j)
{
    switch (w->post) {
    case SP__POST_YIELD:
        return SP__TE_YIELD;
    case SP__POST_PREEMPT:
    case SP__POST_ASYNC: {
        int c = __atomic_load_n(&j->preempt_cause, __ATOMIC_RELAXED);
        return c == SP__PC_PRIO ? SP__TE_PRIO
             : c == SP__PC_CANCEL ? SP__TE_CANCELREQ : SP__TE_SLICE;
    }
    case SP__POST_WAIT:
    case SP__POST_DETACH: /* the job goes on elsewhere */
        return SP__TE_SUSPEND;
    case SP__POST_END:
        return sp__job_err(j) ? SP__TE_FAILED : SP__TE_DONE;
    case SP__POST_CANCEL:
    case SP__POST_CANCEL_ASYNC:
        return SP__TE_CANCEL;
    default:
        return SP__TE_OVERFLOW;
    }
}

void sp__trace_end(sp__worker *w, sp_job *j, sp__trace *t)
{
    uint64_t now = sp__now_ns();
    if (w->tsess != t || !w->tbuf)
        return;
    sp__tbuf *b = w->tbuf;
    sp__trec *r = rec_slot(b);
    if (!r)
        return;
    r->t0 = b->t0;
    r->dur = encode_dur(now - b->t0);
    r->job = (uintptr_t)j;
    r->end = (uint8_t)end_reason(w, j);
    r->first = (uint8_t)b->first;
    r->async = w->post == SP__POST_ASYNC || w->post == SP__POST_CANCEL_ASYNC;
    r->name = intern(b, sp_job_name(j));
    rec_publish(b);
}

void sp__trace_dropped(sp__worker *w, sp_job *j, sp__trace *t)
{
    sp__tbuf *b = buf_for(w, t);
    sp__trec *r = b ? rec_slot(b) : NULL;
    if (!r)
        return;
    r->t0 = sp__now_ns();
    r->dur = 0;
    r->job = (uintptr_t)j;
    r->end = SP__TE_DROPPED;
    r->first = 1;
    r->async = 0;
    r->name = intern(b, sp_job_name(j));
    rec_publish(b);
}

/* ---- sessions ---- */

static sp__trace *session_new(sp_pool *p, const char *path, int env)
{
    sp__trace *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->pool_name = strdup(p->name);
    t->path = path ? strdup(path) : NULL;
    if (!t->pool_name || (path && !t->path)) {
        free(t->pool_name);
        free(t->path);
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    t->tailp = &t->bufs;
    t->env = env;
    t->pid = atomic_fetch_add(&g_next_pid, 1);
    uint64_t zero = 0;
    atomic_compare_exchange_strong(&g_epoch, &zero, sp__now_ns());
    return t;
}

static void session_free(sp__trace *t)
{
    for (sp__tbuf *b = t->bufs, *nb; b; b = nb) {
        nb = b->next;
        for (sp__tchunk *c = b->head, *nc; c; c = nc) {
            nc = atomic_load(&c->next);
            chunk_free(c);
        }
        for (sp__tnchunk *c = atomic_load(&b->nhead), *nc; c; c = nc) {
            nc = atomic_load(&c->next);
            free(c);
        }
        free(b);
    }
    pthread_mutex_destroy(&t->lock);
    free(t->pool_name);
    free(t->path);
    free(t);
}

/* ---- writing ---- */

static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(f, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(f, "\\u%04x", *c);
        else
            fputc(*c, f);
    }
    fputc('"', f);
}

static const char *end_name(int e)
{
    static const char *const n[] = {
        "?", "yield", "preempt", "preempt", "preempt", "suspend", "done",
        "failed", "cancelled", "failed", "cancelled"};
    return e >= 0 && e <= SP__TE_DROPPED ? n[e] : "?";
}

static const char *cause_name(int e)
{
    return e == SP__TE_SLICE ? "slice" : e == SP__TE_PRIO ? "priority"
         : e == SP__TE_CANCELREQ ? "cancel" : NULL;
}

static double us(uint64_t t)
{
    uint64_t e = atomic_load(&g_epoch);
    return t >= e ? (double)(t - e) / 1000.0 : 0.0;
}

static void sep(FILE *f, int *n)
{
    fputs(*n ? ",\n" : "\n", f);
    (*n)++;
}

/* The name at index i of b (a reader: every index a published record
 * holds was published before it). */
static const char *name_at(const sp__tbuf *b, uint32_t i)
{
    if (i == SP__TN_NONE)
        return "";
    sp__tnchunk *c = atomic_load_explicit(&((sp__tbuf *)b)->nhead,
                                          memory_order_acquire);
    for (uint32_t k = i / SP__TN_CHUNK; c && k; k--)
        c = atomic_load_explicit(&c->next, memory_order_acquire);
    if (!c || i % SP__TN_CHUNK >= atomic_load_explicit(&c->n,
                                                       memory_order_acquire))
        return "";
    return c->s[i % SP__TN_CHUNK];
}

static void put_record(FILE *f, int *n, int pid, int tid, const sp__tbuf *b,
                       const sp__trec *r)
{
    const char *name = name_at(b, r->name);
    uint64_t t1 = r->t0 + decode_dur(r->dur);
    if (!name[0])
        name = "job";
    if (r->end != SP__TE_DROPPED) {
        sep(f, n);
        fprintf(f, "{\"ph\":\"X\",\"cat\":\"job\",\"pid\":%d,\"tid\":%d,"
                "\"ts\":%.3f,\"dur\":%.3f,\"name\":", pid, tid, us(r->t0),
                (double)(t1 - r->t0) / 1000.0);
        put_str(f, name);
        fprintf(f, ",\"args\":{\"job\":\"%#lx\",\"start\":%s,\"end\":\"%s\"",
                (unsigned long)r->job, r->first ? "true" : "false",
                end_name(r->end));
        if (cause_name(r->end))
            fprintf(f, ",\"cause\":\"%s\"", cause_name(r->end));
        if (r->async)
            fputs(",\"async\":true", f);
        fputs("}}", f);
    }
    const char *inst = r->end == SP__TE_DROPPED ? "cancel"
                     : cause_name(r->end) ? "preempt"
                     : r->end == SP__TE_CANCEL ? "cancel"
                     : r->end == SP__TE_FAILED || r->end == SP__TE_OVERFLOW
                         ? "fail" : NULL;
    if (!inst)
        return;
    sep(f, n);
    fprintf(f, "{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"sched\",\"pid\":%d,"
            "\"tid\":%d,\"ts\":%.3f,\"name\":\"%s\",\"args\":{\"job\":"
            "\"%#lx\",\"job_name\":", pid, tid, us(t1), inst,
            (unsigned long)r->job);
    put_str(f, name);
    if (cause_name(r->end))
        fprintf(f, ",\"cause\":\"%s\"", cause_name(r->end));
    if (r->end == SP__TE_DROPPED)
        fputs(",\"queued\":true", f);
    fputs("}}", f);
}

static void put_meta(FILE *f, int *n, int pid, int tid, const char *what,
                     const char *name)
{
    sep(f, n);
    fprintf(f, "{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"%s\","
            "\"args\":{\"name\":", pid, tid, what);
    put_str(f, name);
    fputs("}}", f);
}

static void put_session(FILE *f, int *n, sp__trace *t)
{
    char pname[300];
    snprintf(pname, sizeof pname, "pool %s", t->pool_name);
    put_meta(f, n, t->pid, 0, "process_name", pname);
    /* the buffers there now (threads may add some while we write) */
    pthread_mutex_lock(&t->lock);
    size_t nb = 0;
    for (sp__tbuf *b = t->bufs; b; b = b->next)
        nb++;
    sp__tbuf **bufs = malloc((nb ? nb : 1) * sizeof *bufs);
    nb = 0;
    for (sp__tbuf *b = t->bufs; b && bufs; b = b->next)
        bufs[nb++] = b;
    pthread_mutex_unlock(&t->lock);
    for (size_t ib = 0; ib < nb; ib++) {
        sp__tbuf *b = bufs[ib];
        char label[96];
        uint64_t d = atomic_load(&b->dropped);
        if (d)
            snprintf(label, sizeof label, "%s (%llu records dropped)",
                     b->label, (unsigned long long)d);
        else
            snprintf(label, sizeof label, "%s", b->label);
        put_meta(f, n, t->pid, b->tid, "thread_name", label);
        sep(f, n); /* workers in index order, runners after them */
        fprintf(f, "{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":"
                "\"thread_sort_index\",\"args\":{\"sort_index\":%d}}",
                t->pid, b->tid, b->tid);
        for (sp__tchunk *c = b->head; c;
             c = atomic_load_explicit(&c->next, memory_order_acquire)) {
            uint32_t k = atomic_load_explicit(&c->n, memory_order_acquire);
            for (uint32_t i = 0; i < k; i++)
                put_record(f, n, t->pid, b->tid, b, &c->r[i]);
        }
    }
    free(bufs);
}

/* Write sessions (a list linked by next, or one) to path. */
static int write_file(const char *path, sp__trace *list, int one)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "spindle: trace: cannot write %s: %s\n", path,
                strerror(errno));
        return SP_ESYS;
    }
    int n = 0;
    fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", f);
    for (sp__trace *t = list; t; t = one ? NULL : t->next)
        put_session(f, &n, t);
    fputs("\n]}\n", f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "spindle: trace: error writing %s\n", path);
        return SP_ESYS;
    }
    return 0;
}

/* ---- the SPINDLE_TRACE file ---- */

static void env_write_locked(void)
{
    if (g_env_path && g_env)
        write_file(g_env_path, g_env, 0);
    g_env_dirty = 0;
}

static void env_at_exit(void)
{
    pthread_mutex_lock(&g_lock);
    if (g_env_open > 0 || g_env_dirty)
        env_write_locked();
    pthread_mutex_unlock(&g_lock);
}

/* A new pool: traced into the SPINDLE_TRACE file when that is set. */
void sp__trace_pool_created(sp_pool *p)
{
    const char *path = getenv("SPINDLE_TRACE");
    if (!path || !*path)
        return;
    sp__trace *t = session_new(p, NULL, 1);
    if (!t)
        return;
    pthread_mutex_lock(&g_lock);
    if (!g_env_path)
        g_env_path = strdup(path);
    if (!g_env_atexit && atexit(env_at_exit) == 0)
        g_env_atexit = 1;
    *g_env_tail = t;
    g_env_tail = &t->next;
    g_env_open++;
    g_env_dirty = 1;
    atomic_store_explicit(&p->trace, t, memory_order_release);
    pthread_mutex_unlock(&g_lock);
}

/* Replace the pool's active session by t (or NULL), g_lock held. An env
 * session stays in the process list, and the env file is written once
 * no traced pool is left open; an own session is retired on the pool
 * and returned: the caller writes it after letting go of g_lock (the
 * new session records meanwhile). */
static sp__trace *swap_locked(sp_pool *p, sp__trace *t)
{
    sp__trace *old = atomic_exchange(&p->trace, t);
    if (!old)
        return NULL;
    if (old->env) {
        if (--g_env_open == 0)
            env_write_locked();
        return NULL;
    }
    old->next = p->trace_old;
    p->trace_old = old;
    return old;
}

int sp_pool_trace(sp_pool *p, const char *path)
{
    if (!p || (path && !*path))
        return SP_EINVAL;
    int rc = 0;
    sp__trace *t = NULL;
    pthread_mutex_lock(&g_lock);
    if (path && atomic_load(&p->closed))
        rc = SP_ECLOSED;
    else if (path && !(t = session_new(p, path, 0)))
        rc = SP_ENOMEM;
    sp__trace *old = rc ? NULL : swap_locked(p, t);
    pthread_mutex_unlock(&g_lock);
    /* the pool outlives this call (the caller holds it), and retired
     * sessions live as long as the pool */
    if (old && write_file(old->path, old, 1) != 0)
        rc = SP_ESYS;
    return rc;
}

void sp__trace_pool_stopped(sp_pool *p)
{
    pthread_mutex_lock(&g_lock);
    sp__trace *old = swap_locked(p, NULL);
    pthread_mutex_unlock(&g_lock);
    if (old)
        write_file(old->path, old, 1);
}

void sp__trace_pool_free(sp_pool *p)
{
    pthread_mutex_lock(&g_lock);
    sp__trace *t = swap_locked(p, NULL); /* freed without sp__pool_stop */
    pthread_mutex_unlock(&g_lock);
    if (t)
        write_file(t->path, t, 1);
    pthread_mutex_lock(&g_lock);
    t = p->trace_old;
    p->trace_old = NULL;
    pthread_mutex_unlock(&g_lock);
    while (t) {
        sp__trace *n = t->next;
        session_free(t);
        t = n;
    }
}
