/* world.c: the global name table shared by every execution context.
 * Slots are created once and never freed while the world lives, so
 * compiled code keeps direct pointers to them; a slot's value is guarded
 * by a tiny spinlock, held only to copy the value and bump its count. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "sl.h"

struct sl_world {
  pthread_mutex_t mu;        /* guards the hash chains (not slot values) */
  sl_slot **buckets;
  size_t nbuckets, count;
  /* objects made immortal by a global of this world: listed, so that
   * leak checkers see them as reachable after their last name was
   * redefined, and freed with the world */
  pthread_mutex_t immortal_mu;
  sl_obj **immortals;
  size_t nimmortals, cap_immortals;
  /* change tracking (sl_globals_changed) */
  _Atomic int track;
  pthread_mutex_t dirty_mu;
  sl_slot **dirty;
  size_t ndirty, cap_dirty;
};

static size_t hash(const char *s) {
  size_t h = 5381;
  while (*s) h = h * 33 + (unsigned char)*s++;
  return h;
}

sl_world *sl_world_new(void) {
  sl_world *W = sl_xcalloc(1, sizeof *W);
  pthread_mutex_init(&W->mu, NULL);
  pthread_mutex_init(&W->immortal_mu, NULL);
  pthread_mutex_init(&W->dirty_mu, NULL);
  W->nbuckets = 512;
  W->buckets = sl_xcalloc(W->nbuckets, sizeof *W->buckets);
  sl_builtins_init(W);
  return W;
}

void sl_world_free(sl_world *W) {
  for (size_t i = 0; i < W->nbuckets; i++) {
    sl_slot *s = W->buckets[i];
    while (s) {
      sl_slot *n = s->next;
      sl_release(s->val);   /* not an immortal: freed below */
      free(s->name);
      free(s);
      s = n;
    }
  }
  /* nothing else refers to them now (contexts and code are gone first);
   * one immortal's reference to another is not counted, so each is freed
   * once, from this list */
  for (size_t i = 0; i < W->nimmortals; i++) sl_free_obj(W->immortals[i]);
  free(W->immortals);
  free(W->buckets);
  pthread_mutex_destroy(&W->immortal_mu);
  pthread_mutex_destroy(&W->dirty_mu);
  free(W->dirty);
  pthread_mutex_destroy(&W->mu);
  free(W);
}

static void grow(sl_world *W) {
  size_t n = W->nbuckets * 2;
  sl_slot **b = sl_xcalloc(n, sizeof *b);
  for (size_t i = 0; i < W->nbuckets; i++) {
    sl_slot *s = W->buckets[i];
    while (s) {
      sl_slot *next = s->next;
      size_t h = hash(s->name) & (n - 1);
      s->next = b[h];
      b[h] = s;
      s = next;
    }
  }
  free(W->buckets);
  W->buckets = b;
  W->nbuckets = n;
}

static sl_slot *find_locked(sl_world *W, const char *name) {
  for (sl_slot *s = W->buckets[hash(name) & (W->nbuckets - 1)]; s; s = s->next)
    if (!strcmp(s->name, name)) return s;
  return NULL;
}

sl_slot *sl_global_find(sl_world *W, const char *name) {
  pthread_mutex_lock(&W->mu);
  sl_slot *s = find_locked(W, name);
  pthread_mutex_unlock(&W->mu);
  return s;
}

sl_slot *sl_global_slot(sl_world *W, const char *name) {
  pthread_mutex_lock(&W->mu);
  sl_slot *s = find_locked(W, name);
  if (!s) {
    if (W->count >= W->nbuckets) grow(W);
    s = sl_xcalloc(1, sizeof *s);
    s->name = sl_xstrdup(name);
    s->val.type = SL_T_UNDEF;
    s->decl = SL_T_DEF;
    s->W = W;
    atomic_init(&s->plain, 1);   /* undefined: nothing to count */
    size_t h = hash(name) & (W->nbuckets - 1);
    s->next = W->buckets[h];
    W->buckets[h] = s;
    W->count++;
  }
  pthread_mutex_unlock(&W->mu);
  return s;
}

/* alone on its cache line: every count change reads it, and a neighbour
 * written by one thread (a counter) would make every other thread miss */
struct sl_threaded_line sl_threaded_line;
_Static_assert(sizeof(struct sl_threaded_line) == 64, "sl_threaded has its own line");
void sl_set_threaded(void) { atomic_store(&sl_threaded, 1); }

void sl_make_immortal(sl_world *W, sl_value v) {
  if (!sl_isobj(v) || !atomic_load(&sl_threaded)) return;
  sl_obj *o = v.u.p;
  if (sl_rc_immortal(atomic_load_explicit(&o->rc, memory_order_relaxed))) return;
  pthread_mutex_lock(&W->immortal_mu);
  if (W->nimmortals == W->cap_immortals) {
    size_t cap = W->cap_immortals ? 2 * W->cap_immortals : 256;
    sl_obj **n = realloc(W->immortals, cap * sizeof *n);
    if (n) { W->immortals = n; W->cap_immortals = cap; }
  }
  /* checked again under the lock: listed once; not listed, it stays
   * counted (slower to share, never leaked) */
  if (W->nimmortals < W->cap_immortals && !sl_rc_immortal(atomic_fetch_or(&o->rc, SL_RC_IMMORTAL)))
    W->immortals[W->nimmortals++] = o;
  pthread_mutex_unlock(&W->immortal_mu);
}

/* what a global name's value may be made: procs and builtins are called
 * by every job and almost never redefined */
static int wants_immortal(sl_value v) {
  return v.type == SL_T_PROC || v.type == SL_T_BUILTIN;
}

/* can lock-free readers use v without counting it? */
static int plain_value(sl_slot *s) {
  sl_value v = s->val;
  if (!sl_isobj(v)) return 1;
  if (wants_immortal(v)) sl_make_immortal(s->W, v);
  return sl_rc_immortal(atomic_load_explicit(&((sl_obj *)v.u.p)->rc, memory_order_relaxed));
}

static inline void slot_lock(sl_slot *s) {
  if (!atomic_load_explicit(&sl_threaded, memory_order_relaxed)) return;
  while (atomic_exchange_explicit(&s->lock, 1, memory_order_acquire))
    while (atomic_load_explicit(&s->lock, memory_order_relaxed)) __builtin_ia32_pause();
}
static inline void slot_unlock(sl_slot *s) {
  if (atomic_load_explicit(&sl_threaded, memory_order_relaxed)) atomic_store_explicit(&s->lock, 0, memory_order_release);
}

/* writer side of the sequence counter (lock held) */
void sl_slot_write_begin(sl_slot *s) {
  atomic_store_explicit(&s->seq, atomic_load_explicit(&s->seq, memory_order_relaxed) + 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
}
static void mark_dirty(sl_slot *s) {
  sl_world *W = s->W;
  pthread_mutex_lock(&W->dirty_mu);
  if (!atomic_exchange_explicit(&s->dirty, 1, memory_order_relaxed)) {
    if (W->ndirty == W->cap_dirty) {
      size_t cap = W->cap_dirty ? 2 * W->cap_dirty : 64;
      sl_slot **v = sl_xrealloc(W->dirty, cap * sizeof *v);
      W->dirty = v;
      W->cap_dirty = cap;
    }
    W->dirty[W->ndirty++] = s;
  }
  pthread_mutex_unlock(&W->dirty_mu);
}

void sl_slot_write_end(sl_slot *s) {
  atomic_store_explicit(&s->plain, (uint8_t)plain_value(s), memory_order_relaxed);
  atomic_store_explicit(&s->seq, atomic_load_explicit(&s->seq, memory_order_relaxed) + 1, memory_order_release);
  if (__builtin_expect(s->W && atomic_load_explicit(&s->W->track, memory_order_relaxed), 0) &&
      !atomic_load_explicit(&s->dirty, memory_order_relaxed))
    mark_dirty(s);
}

void sl_globals_changed(sl_world *W, void (*f)(sl_slot *, void *), void *ud) {
  if (!atomic_exchange(&W->track, 1)) {   /* first call: everything */
    sl_global_names(W, f, ud);
    return;
  }
  pthread_mutex_lock(&W->dirty_mu);
  sl_slot **v = W->dirty;
  size_t n = W->ndirty;
  W->dirty = NULL;
  W->ndirty = W->cap_dirty = 0;
  for (size_t i = 0; i < n; i++) atomic_store_explicit(&v[i]->dirty, 0, memory_order_relaxed);
  pthread_mutex_unlock(&W->dirty_mu);
  for (size_t i = 0; i < n; i++) f(v[i], ud);
  free(v);
}

sl_value sl_slot_get_locked(sl_slot *s) {
  slot_lock(s);
  sl_value v = s->val;
  if (wants_immortal(v) && !atomic_load_explicit(&s->plain, memory_order_relaxed)) {
    /* defined before threads existed: make it lock-free from now on
     * (the value does not change, so no sequence bump is needed) */
    atomic_store_explicit(&s->plain, (uint8_t)plain_value(s), memory_order_relaxed);
  }
  sl_retain(v);
  slot_unlock(s);
  return v;
}

/* the type of the slot's value and its declared type, read consistently */
uint32_t sl_slot_peek(sl_slot *s, int *decl) {
  sl_value v;
  if (atomic_load_explicit(&sl_threaded, memory_order_relaxed) && sl_slot_try_plain(s, &v, decl))
    return v.type;
  slot_lock(s);
  uint32_t t = s->val.type;
  if (decl) *decl = s->decl;
  slot_unlock(s);
  return t;
}

/* decl < 0 keeps the declared type */
void sl_slot_set(sl_slot *s, sl_value v, int decl) {
  (void)sl_slot_declare(s, v, decl);
}

uint32_t sl_slot_declare(sl_slot *s, sl_value v, int decl) {
  slot_lock(s);
  sl_slot_write_begin(s);
  sl_value old = s->val;
  __atomic_store_n(&s->val.type, v.type, __ATOMIC_RELAXED);
  __atomic_store_n(&s->val.u.i, v.u.i, __ATOMIC_RELAXED);
  if (decl >= 0) {
    static _Atomic uint64_t clock;
    __atomic_store_n(&s->decl, (uint8_t)decl, __ATOMIC_RELAXED);
    s->seq_decl = atomic_fetch_add_explicit(&clock, 1, memory_order_relaxed) + 1;
  }
  sl_slot_write_end(s);
  slot_unlock(s);
  sl_release(old);
  return old.type;
}

void sl_global_names(sl_world *W, void (*f)(sl_slot *, void *), void *ud) {
  pthread_mutex_lock(&W->mu);
  size_t n = W->count, k = 0;
  sl_slot **all = sl_xmalloc((n + 1) * sizeof *all);
  for (size_t i = 0; i < W->nbuckets; i++)
    for (sl_slot *s = W->buckets[i]; s; s = s->next) all[k++] = s;
  pthread_mutex_unlock(&W->mu);
  for (size_t i = 0; i < k; i++) f(all[i], ud);
  free(all);
}
