/*
 * channel.c - unbounded FIFO channels and write-once syncvars.
 *
 * Channel: items sit in a ring buffer only while nobody waits to
 * receive. A receiver that finds it empty queues a record on its own
 * stack (receivers in arrival order) and suspends; a send hands its item
 * straight to the oldest record and wakes that receiver, so a newcomer
 * can never overtake a woken receiver. A receiver cancelled while it
 * waits takes its record off the queue (sp__wait with
 * SP__WAIT_RETCANCEL), giving back an item that was already handed to it
 * to the next receiver or the front of the buffer; only then does it end.
 *
 * Syncvar: a value, a written flag and a wait queue.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct rrec {
    struct rrec *next, *prev;
    void *item;
    int got;
    sp__waitq q;            /* just this receiver */
} rrec;

struct sp_chan {
    _Atomic int refs;
    pthread_mutex_t lock;
    void **buf;             /* ring: head, count, cap (a power of 2) */
    size_t head, count, cap;
    rrec *rhead, *rtail;    /* waiting receivers, oldest first */
    sp_value_ops ops;
    int has_ops;
};

sp_chan *sp_chan_create(const sp_value_ops *ops)
{
    sp_chan *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cap = 16;
    c->buf = malloc(c->cap * sizeof *c->buf);
    if (!c->buf) {
        free(c);
        return NULL;
    }
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->lock, NULL);
    if (ops) {
        c->ops = *ops;
        c->has_ops = 1;
    }
    return c;
}

static const sp_value_ops *chan_ops(const sp_chan *c)
{
    return c->has_ops ? &c->ops : NULL;
}

void sp_chan_retain(sp_chan *c)
{
    if (c)
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void sp_chan_release(sp_chan *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < c->count; i++)
        sp__vrelease(chan_ops(c), c->buf[(c->head + i) & (c->cap - 1)]);
    free(c->buf);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static int grow(sp_chan *c)
{
    size_t cap = c->cap * 2;
    void **b = malloc(cap * sizeof *b);
    if (!b)
        return SP_ENOMEM;
    for (size_t i = 0; i < c->count; i++)
        b[i] = c->buf[(c->head + i) & (c->cap - 1)];
    free(c->buf);
    c->buf = b;
    c->head = 0;
    c->cap = cap;
    return 0;
}

static void rrec_unlink(sp_chan *c, rrec *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        c->rhead = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        c->rtail = r->prev;
}

/* Lock held: give item to the oldest waiting receiver, if any. */
static int hand_off(sp_chan *c, void *item)
{
    rrec *r = c->rhead;
    if (!r)
        return 0;
    rrec_unlink(c, r);
    r->item = item;
    r->got = 1;
    sp__wake_one(&r->q);
    return 1;
}

int sp_chan_send(sp_chan *c, void *item)
{
    if (!c)
        return SP_EINVAL;
    sp__rt_enter();
    int rc = 0;
    sp__vretain(chan_ops(c), item);
    pthread_mutex_lock(&c->lock);
    if (!hand_off(c, item)) {
        if (c->count == c->cap)
            rc = grow(c);
        if (rc == 0)
            c->buf[(c->head + c->count++) & (c->cap - 1)] = item;
    }
    pthread_mutex_unlock(&c->lock);
    if (rc != 0)
        sp__vrelease(chan_ops(c), item);
    sp__rt_leave();
    return rc;
}

/* Lock held, count > 0. */
static void *take(sp_chan *c)
{
    void *v = c->buf[c->head];
    c->head = (c->head + 1) & (c->cap - 1);
    c->count--;
    return v;
}

/* Lock held: put a handed item back, first in line. */
static void give_back(sp_chan *c, void *item)
{
    if (hand_off(c, item))
        return;
    if (c->count == c->cap && grow(c) != 0) {
        sp__vrelease(chan_ops(c), item); /* out of memory: dropped */
        return;
    }
    c->head = (c->head + c->cap - 1) & (c->cap - 1);
    c->buf[c->head] = item;
    c->count++;
}

/* noinline: the record lives on the receiver's stack on purpose (it is
 * unlinked before recv returns); keeps GCC's dangling-pointer check calm */
__attribute__((noinline)) static void rrec_append(sp_chan *c, rrec *r)
{
    r->prev = c->rtail;
    if (c->rtail)
        c->rtail->next = r;
    else
        c->rhead = r;
    c->rtail = r;
}

static int recv_wait(sp_chan *c, void **item)
{
    rrec r;
    memset(&r, 0, sizeof r);
    rrec_append(c, &r);
    while (!r.got) {
        int rc = sp__wait_flags(&r.q, &c->lock,
                                SP__WAIT_RETCANCEL | SP__WAIT_NOLOCK);
        if (rc == SP__WAITED_UNLOCKED) {
            /* only a hand-off wakes a receiver that is not cancelled; it
             * wrote the item before making us ready */
            *item = r.item;
            return SP__WAITED_UNLOCKED;
        }
        if (rc < 0) {
            if (r.got)
                give_back(c, r.item);
            else
                rrec_unlink(c, &r);
            return rc; /* cancelled, or a plain thread's verdict */
        }
    }
    *item = r.item;
    return 0;
}

int sp_chan_recv(sp_chan *c, void **item)
{
    if (!c || !item)
        return SP_EINVAL;
    sp__rt_enter();
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    if (c->count > 0) /* then nobody waits: items queue only then */
        *item = take(c);
    else
        rc = recv_wait(c, item);
    if (rc == SP__WAITED_UNLOCKED)
        rc = 0;
    else
        pthread_mutex_unlock(&c->lock);
    if (rc != 0) {
        *item = NULL;
        sp__cancel_point(); /* a normal job ends here */
    }
    /* an item taken is the caller's: a cancel that arrived meanwhile is
     * honoured at its next safe point, not here (it would leak the item) */
    sp__rt_leave_quiet();
    return rc;
}

int sp_chan_try_recv(sp_chan *c, void **item)
{
    if (!c || !item)
        return SP_EINVAL;
    sp__rt_enter();
    int rc = SP_EBUSY;
    *item = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->count > 0) {
        *item = take(c);
        rc = 0;
    }
    pthread_mutex_unlock(&c->lock);
    sp__rt_leave_quiet(); /* as in sp_chan_recv */
    return rc;
}

size_t sp_chan_count(const sp_chan *c)
{
    if (!c)
        return 0;
    sp_chan *m = (sp_chan *)c;
    pthread_mutex_lock(&m->lock);
    size_t n = m->count;
    pthread_mutex_unlock(&m->lock);
    return n;
}

/* ---- syncvars ---- */

struct sp_syncvar {
    _Atomic int refs;
    pthread_mutex_t lock;
    _Atomic int written;
    void *value;
    sp__waitq waiters;
    sp_value_ops ops;
    int has_ops;
};

sp_syncvar *sp_syncvar_create(const sp_value_ops *ops)
{
    sp_syncvar *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    atomic_init(&v->refs, 1);
    pthread_mutex_init(&v->lock, NULL);
    if (ops) {
        v->ops = *ops;
        v->has_ops = 1;
    }
    return v;
}

void sp_syncvar_retain(sp_syncvar *v)
{
    if (v)
        atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
}

void sp_syncvar_release(sp_syncvar *v)
{
    if (!v || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (atomic_load(&v->written))
        sp__vrelease(v->has_ops ? &v->ops : NULL, v->value);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

int sp_syncvar_write(sp_syncvar *v, void *value)
{
    if (!v)
        return SP_EINVAL;
    sp__rt_enter();
    int rc = SP_EBUSY;
    pthread_mutex_lock(&v->lock);
    if (!atomic_load(&v->written)) {
        sp__vretain(v->has_ops ? &v->ops : NULL, value);
        v->value = value;
        atomic_store(&v->written, 1);
        sp__wake_all(&v->waiters);
        rc = 0;
    }
    pthread_mutex_unlock(&v->lock);
    sp__rt_leave();
    return rc;
}

int sp_syncvar_read(sp_syncvar *v, void **value)
{
    if (!v || !value)
        return SP_EINVAL;
    *value = NULL;
    sp__rt_enter();
    int rc = 0;
    pthread_mutex_lock(&v->lock);
    while (!atomic_load(&v->written) && rc == 0)
        rc = sp__wait(&v->waiters, &v->lock);
    if (rc == 0)
        *value = v->value;
    pthread_mutex_unlock(&v->lock);
    sp__rt_leave();
    return rc;
}

int sp_syncvar_written(const sp_syncvar *v)
{
    return v && atomic_load(&((sp_syncvar *)v)->written) ? 1 : 0;
}
