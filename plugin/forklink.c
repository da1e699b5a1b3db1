/* forklink.c: Singular's ssi:fork links on jobs (the service "ssi:fork"
 * that lang/link.c calls; spindle_fork_iface in lang/plugin.h).
 *
 * In Singular, opening `link l = "ssi:fork";` forks a child process that
 * reads expressions from the link, evaluates them one after the other and
 * writes each result back; `read(l)` takes the oldest result, waitfirst and
 * waitall wait for results on several links. Here the child is a job: a
 * link keeps the expressions written to it in order, and while some are
 * waiting to be evaluated one job of the fork links' pool (made at the
 * first open, as many workers as getcores()) takes them in turn, so a
 * link's expressions run in the order written, one at a time, and the
 * links run in parallel. The job exists only while there is work: a link
 * that waits to be read costs no thread and no job.
 *
 * As with tasks, the child shares the script's globals instead of getting
 * a copy at the open: an expression sees what the script has defined by
 * the time it runs, and what it defines the script sees.
 *
 * Waiting (read, waitfirst, waitall) registers a watcher, a channel and a
 * tag, on each link waited for; an evaluation that ends, and a close, send
 * every watcher's tag after the link's mutex is released (no runtime call
 * under a pthread mutex). A timeout is a tag from the tasks' timer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "threads.h"

enum { FK_PENDING, FK_RUNNING, FK_DONE, FK_FAILED };

typedef struct fk_req {
  struct fk_req *next;
  spindle_value expr;
  int st;                 /* FK_* */
  spindle_value result;   /* FK_DONE */
  char *err;              /* FK_FAILED */
} fk_req;

typedef struct fk_link {
  _Atomic long rc;
  pthread_mutex_t mu;
  fk_req *head, **tail;   /* written, not read yet, oldest first */
  int busy;               /* a job is taking the pending requests */
  int closed;
  unsigned gen;           /* jobs started so far */
  sp_job *child;          /* the latest such job once started (a
                           * reference), or NULL */
  tk_watch *watchers;
} fk_link;

#define TAG_OF(i) ((intptr_t)(i) + 2)

/* the links' pool: getcores() workers, and one more for each link open
 * beyond that (never fewer later), so that every open link can have its
 * job running at once, as every Singular link has its process: an
 * expression that blocks in a system call (system("sh", ...)) holds its
 * worker */
static th_pool *fk_pool;
static int fk_open_links, fk_workers;
static pthread_mutex_t fk_mu = PTHREAD_MUTEX_INITIALIZER;   /* the three */

static void req_free(fk_req *r) {
  api->release(r->expr);
  api->release(r->result);
  free(r->err);
  free(r);
}

static void fk_retain(void *h) { atomic_fetch_add_explicit(&((fk_link *)h)->rc, 1, memory_order_relaxed); }

static void fk_release(void *h) {
  fk_link *k = h;
  if (!k || atomic_fetch_sub_explicit(&k->rc, 1, memory_order_acq_rel) != 1) return;
  for (fk_req *r = k->head, *nx; r; r = nx) { nx = r->next; req_free(r); }
  for (tk_watch *w = k->watchers, *nx; w; w = nx) { nx = w->next; sp_chan_release(w->ch); free(w); }
  if (k->child) sp_job_release(k->child);
  pthread_mutex_destroy(&k->mu);
  free(k);
}

/* ---- the child job ------------------------------------------------------ */

static int child_poll(void *ud) {
  (void)ud;
  return sp_checkpoint() == SP_ECANCELED;
}

/* every request not evaluated yet fails with msg (k->mu held): no job
 * will take them; the watchers are returned to be told */
static tk_watch *fail_pending(fk_link *k, const char *msg) {
  for (fk_req *r = k->head; r; r = r->next)
    if (r->st == FK_PENDING) {
      r->st = FK_FAILED;
      r->err = strdup(msg);
    }
  k->busy = 0;
  tk_watch *w = k->watchers;
  k->watchers = NULL;
  return w;
}

static void *child_main(void *arg) {
  fk_link *k = arg;
  spindle_ctx *C = th_ctx_get();
  if (C) {
    *api->userdata(C, 1) = fk_pool;   /* startJob without a pool in an expression */
    api->set_poll(C, sp_poll_flag(), child_poll, NULL);
  } else {
    pthread_mutex_lock(&k->mu);
    tk_watch *w = k->closed ? NULL : fail_pending(k, "out of memory for an interpreter context");
    pthread_mutex_unlock(&k->mu);
    tk_notify(w);
    return NULL;
  }
  for (;;) {
    pthread_mutex_lock(&k->mu);
    fk_req *r = k->head;
    while (r && r->st != FK_PENDING) r = r->next;
    if (!r || k->closed || sp_job_cancelled()) {
      if (!k->closed) k->busy = 0;
      pthread_mutex_unlock(&k->mu);
      break;
    }
    r->st = FK_RUNNING;
    spindle_value e = r->expr;
    api->retain(e);
    pthread_mutex_unlock(&k->mu);
    spindle_value res = api->none();
    int failed = 0;
    char *err = NULL;
    if (e.type == SPINDLE_T_QUOTE) {
      if (api->eval(C, e, &res) < 0) {
        failed = 1;
        err = strdup(api->errmsg(C));
        api->clear_error(C);
        res = api->none();
      }
    } else {
      res = e;
      api->retain(res);
    }
    api->release(e);
    pthread_mutex_lock(&k->mu);
    if (k->closed) {   /* closed meanwhile: r is gone */
      pthread_mutex_unlock(&k->mu);
      api->release(res);
      free(err);
      break;
    }
    r->result = res;
    r->err = err;
    r->st = failed ? FK_FAILED : FK_DONE;
    tk_watch *w = k->watchers;
    k->watchers = NULL;
    pthread_mutex_unlock(&k->mu);
    tk_notify(w);
  }
  th_ctx_put(C);
  return NULL;
}

/* the job's reference to its link, however it ended (or never ran: a
 * job cancelled before it ran is the pool's stop at the script's end, or
 * the link's close) */
static void child_cleanup(void *arg, void *result, sp_state st, void *ud) {
  (void)result; (void)st; (void)ud;
  fk_release(arg);
}

/* ---- the interface ------------------------------------------------------- */

static void *fk_open(spindle_ctx *C) {
  int cores = tk_get_cores(), grow = 0;
  pthread_mutex_lock(&fk_mu);
  if (!fk_pool && (fk_pool = th_pool_new(cores, 1))) fk_workers = cores;
  th_pool *p = fk_pool;
  if (p && ++fk_open_links > fk_workers) grow = fk_workers = fk_open_links;
  pthread_mutex_unlock(&fk_mu);
  if (!p) { api->error(C, "open: cannot start the threadpool of ssi:fork links"); return NULL; }
  if (grow) th_pool_set_workers(p, grow);   /* outside fk_mu: a runtime call */
  fk_link *k = calloc(1, sizeof *k);
  if (!k) {
    pthread_mutex_lock(&fk_mu);
    fk_open_links--;
    pthread_mutex_unlock(&fk_mu);
    api->error(C, "open: out of memory");
    return NULL;
  }
  atomic_init(&k->rc, 1);
  pthread_mutex_init(&k->mu, NULL);
  k->tail = &k->head;
  return k;
}

/* ends the link for its opener (the interpreter's link): what runs is
 * cancelled, what was not read is dropped, waiters see it closed */
static void fk_close(void *h) {
  fk_link *k = h;
  if (!k) return;
  pthread_mutex_lock(&fk_mu);
  fk_open_links--;
  pthread_mutex_unlock(&fk_mu);
  pthread_mutex_lock(&k->mu);
  k->closed = 1;
  fk_req *r = k->head;
  k->head = NULL;
  k->tail = &k->head;
  sp_job *j = k->child;
  k->child = NULL;
  tk_watch *w = k->watchers;
  k->watchers = NULL;
  pthread_mutex_unlock(&k->mu);
  while (r) { fk_req *nx = r->next; req_free(r); r = nx; }
  if (j) {
    sp_job_cancel(j);   /* SP_EBUSY: it ended already */
    sp_job_release(j);
  }
  tk_notify(w);
  fk_release(k);
}

static int fk_write(spindle_ctx *C, const char *who, void *h, spindle_value v) {
  fk_link *k = h;
  fk_req *r = calloc(1, sizeof *r);
  if (!r) return api->error(C, "%s: out of memory", who);
  api->retain(v);
  r->expr = v;
  r->result = api->none();
  pthread_mutex_lock(&k->mu);
  if (k->closed) {
    pthread_mutex_unlock(&k->mu);
    req_free(r);
    return api->error(C, "%s: the ssi:fork link was closed", who);
  }
  *k->tail = r;
  k->tail = &r->next;
  int start = !k->busy;
  unsigned gen = 0;
  sp_job *old = NULL;
  if (start) {
    k->busy = 1;
    gen = ++k->gen;
    old = k->child;   /* it ended its loop: busy was 0 */
    k->child = NULL;
  }
  pthread_mutex_unlock(&k->mu);
  if (old) sp_job_release(old);
  if (!start) return 0;
  sp_job *j = sp_job_create(child_main, k);
  if (!j) goto fail;
  fk_retain(k);   /* the job's, dropped by its cleanup */
  sp_job_set_flags(j, SP_JOB_DEFER_CANCEL | SP_JOB_CANCEL_ON_RETURN);
  if (sp_job_set_cleanup(j, child_cleanup, NULL) < 0) {
    fk_release(k);
    sp_job_release(j);
    goto fail;
  }
  sp_job_set_name(j, "ssi:fork");
  int rc = sp_job_start(th_pool_sp(fk_pool), 0, j);
  if (rc < 0) {   /* the pool is closing (the script's end) */
    sp_job_release(j);   /* never started: its cleanup drops k */
    pthread_mutex_lock(&k->mu);
    tk_watch *w = k->closed ? NULL : fail_pending(k, "the threadpool of ssi:fork links is closed");
    pthread_mutex_unlock(&k->mu);
    tk_notify(w);
    return th_rterr(C, who, rc);
  }
  /* published once started (a reader joins it), unless a close or a
   * later start came first */
  pthread_mutex_lock(&k->mu);
  int keep = !k->closed && k->gen == gen;
  if (keep) k->child = j;
  pthread_mutex_unlock(&k->mu);
  if (!keep) {
    sp_job_cancel(j);   /* closed: it stops at once; else it has ended its loop */
    sp_job_release(j);
  }
  return 0;
fail:
  pthread_mutex_lock(&k->mu);
  tk_watch *w = k->closed ? NULL : fail_pending(k, "out of memory for a job");
  pthread_mutex_unlock(&k->mu);
  tk_notify(w);
  return api->error(C, "%s: out of memory", who);
}

static int fk_ready(void *h) {
  fk_link *k = h;
  pthread_mutex_lock(&k->mu);
  int ready = k->head && k->head->st >= FK_DONE;
  pthread_mutex_unlock(&k->mu);
  return ready;
}

/* What a wait sees now. waitfirst: the index of a ready link (the last
 * one, as Singular's poll scan finds it); waitall: 1 when every link is
 * ready. 0: not yet, something is running. NEVER: not yet, and nothing
 * can come (*idle: the index of a link with nothing written and unread,
 * or 0 for a list without links) -- Singular waits for such a link
 * without end, or until the timeout. */
#define NEVER (-2)

static int check(fk_link **L, int n, int all, int *idle) {
  int ready = 0, busy = 0, links = 0;
  *idle = 0;
  for (int i = n - 1; i >= 0; i--) {
    if (!L[i]) continue;
    links++;
    pthread_mutex_lock(&L[i]->mu);
    fk_req *r = L[i]->closed ? NULL : L[i]->head;
    int st = r ? r->st : -1;
    pthread_mutex_unlock(&L[i]->mu);
    if (st >= FK_DONE) {
      if (!all) return i + 1;
      ready++;
    } else if (st >= 0) {
      busy = 1;
    } else {
      *idle = i + 1;
    }
  }
  if (all && links && ready == links) return 1;
  if (!links) return -1;   /* Singular's waitall of an empty list */
  if (all) return *idle ? NEVER : 0;
  return busy ? 0 : NEVER;
}

/* a wait (waitfirst, waitall) on element idle of its list, which has
 * nothing written and unread */
static int never(spindle_ctx *C, const char *who, int idle) {
  return api->error(C, "%s: the ssi:fork link of element %d of the list has nothing written and unread: the wait "
                    "would never end", who, idle);
}

static int fk_wait(spindle_ctx *C, const char *who, void **hv, int n, int all, long timeout_ms, int *ret) {
  fk_link **L = (fk_link **)hv;
  tk_watch **nodes = NULL;
  sp_chan *ch = NULL;
  tk_timer *tm = NULL;
  int rc = 0, idle;
  *ret = check(L, n, all, &idle);
  if (*ret == NEVER && timeout_ms < 0) return never(C, who, idle);
  if (*ret == NEVER && timeout_ms == 0) *ret = 0;
  if (*ret != NEVER && (*ret != 0 || timeout_ms == 0)) return 0;
  nodes = calloc((size_t)n, sizeof *nodes);
  ch = nodes ? sp_chan_create(NULL) : NULL;   /* no ops: tags, not values */
  if (!ch) { free(nodes); return api->error(C, "%s: out of memory", who); }
  if (timeout_ms > 0 && !(tm = tk_timer_add(ch, timeout_ms))) { rc = api->error(C, "%s: cannot start the timer", who); goto out; }
  th_wait tw;
  th_wait_begin(C, &tw, who, NULL);
  for (;;) {
    /* watch first, then look: an end between the two is sent to ch */
    for (int i = 0; i < n; i++) {
      if (!L[i] || nodes[i]) continue;
      tk_watch *w = malloc(sizeof *w);
      if (!w) { rc = api->error(C, "%s: out of memory", who); break; }
      w->ch = ch;
      w->tag = TAG_OF(i);
      sp_chan_retain(ch);
      pthread_mutex_lock(&L[i]->mu);
      w->next = L[i]->watchers;
      L[i]->watchers = w;
      pthread_mutex_unlock(&L[i]->mu);
      nodes[i] = w;
    }
    if (rc < 0) break;
    *ret = check(L, n, all, &idle);
    if (*ret == NEVER && timeout_ms < 0) { rc = never(C, who, idle); break; }   /* read or closed meanwhile */
    if (*ret != 0 && *ret != NEVER) break;
    void *item = NULL;
    int e = sp_chan_recv(ch, &item);
    if (e == SP_ECANCELED) { rc = api->error(C, "cancelled"); break; }
    if (e < 0) { rc = th_rterr(C, who, e); break; }
    intptr_t tag = (intptr_t)item;
    if (tag == TAG_TIMEOUT) {   /* fired: the timer thread freed it */
      tm = NULL;
      *ret = check(L, n, all, &idle);
      if (*ret == NEVER) *ret = 0;
      break;
    }
    int i = (int)(tag - 2);
    if (i >= 0 && i < n) nodes[i] = NULL;   /* the sender freed it */
  }
  th_wait_end(&tw);
out:
  tk_timer_cancel(tm);
  for (int i = 0; i < n; i++)
    if (nodes[i]) tk_unwatch(&L[i]->mu, &L[i]->watchers, nodes[i]);
  free(nodes);
  sp_chan_release(ch);
  return rc < 0 ? -1 : 0;
}

static int fk_read(spindle_ctx *C, const char *who, void *h, spindle_value *ret) {
  fk_link *k = h;
  sp_job *joined = NULL;
  for (;;) {
    pthread_mutex_lock(&k->mu);
    fk_req *r = k->closed ? NULL : k->head;
    if (r && r->st >= FK_DONE) {
      k->head = r->next;
      if (!k->head) k->tail = &k->head;
      pthread_mutex_unlock(&k->mu);
      int rc = 0;
      if (r->st == FK_FAILED)
        rc = api->error(C, "%s: the expression written to the ssi:fork link failed: %s", who,
                        r->err ? r->err : "out of memory");
      else {
        *ret = r->result;
        r->result = api->none();
      }
      req_free(r);
      return rc;
    }
    int closed = k->closed;
    /* the expression read is the last one written: wait for the job that
     * runs it to end (a plain thread then runs a job that no worker has
     * taken yet itself, as sp_job_join does: no thread is woken); once
     * per job (a job stopped with the pool's end leaves it pending) */
    sp_job *j = r && !r->next && k->child != joined ? k->child : NULL;
    if (j) sp_job_retain(j);
    pthread_mutex_unlock(&k->mu);
    if (closed) return api->error(C, "%s: the ssi:fork link was closed", who);
    if (!r) return api->error(C, "%s: nothing to read from the ssi:fork link: write an expression to it first", who);
    if (j) {
      int rc = sp_job_join(j, NULL);
      joined = j;   /* compared, never followed: k->child holds it while it is the same */
      sp_job_release(j);
      if (rc == SP_ECANCELED && sp_job_cancelled()) return api->error(C, "cancelled");
      if (rc == SP_EINTR || rc == SP_EDEADLK) return th_rterr(C, who, rc);
      continue;   /* it ended (or was cancelled by a close): look again */
    }
    int got;
    void *hv[1] = {k};
    if (fk_wait(C, who, hv, 1, 0, -1, &got) < 0) return -1;
  }
}

static const spindle_fork_iface the_iface = {
  sizeof(spindle_fork_iface), fk_open, fk_retain, fk_release, fk_close, fk_write, fk_read, fk_ready, fk_wait,
};

void th_fork_register(spindle_reg *reg) {
  api->provide(reg, "ssi:fork", (void *)&the_iface);
}
