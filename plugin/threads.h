/* threads.h: what the files of the threads plugin share (threads.c:
 * values, pools, jobs; threads_coord.c: triggers, channels, syncvars,
 * atomic tables). Private to plugin/. */
#ifndef THREADS_H
#define THREADS_H

#include <pthread.h>
#include <stdatomic.h>
#include "plugin.h"
#include "spindle.h"

extern const struct spindle_api *th_api;
#define api th_api

/* type codes of the plugin's types */
extern int th_pool_t, th_job_t, th_trig_t, th_chan_t, th_svar_t, th_table_t, th_alist_t;
extern int th_region_t, th_rlock_t, th_stable_t, th_slist_t, th_thread_t;

/* a script value boxed for the runtime (one atomic count) */
typedef struct th_box {
  _Atomic long rc;
  spindle_value v;
} th_box;
extern const sp_value_ops th_vops;
void *th_box_new(spindle_value v);           /* takes v's reference */
void th_box_release(void *b);
spindle_value th_unbox(void *b);             /* a new reference; NULL -> none */

/* a shared object of the plugin: trigger, channel, syncvar, table, list */
typedef struct th_obj {
  _Atomic long rc;
  int type;             /* th_trig_t, ... */
  void *p;              /* sp_trigger *, sp_chan *, sp_syncvar *, ... */
  char *name;           /* may be NULL */
  char kind[8];         /* triggers: "acc", "count", "set", "proc" */
  long n;
  spindle_value fn;     /* "proc" triggers: the proc */
  pthread_mutex_t mu;   /* syncvar updates, tables, lists, a region's owner */
  void *owner;          /* regionlock: whom it locked the region for */
  void *cur;            /* syncvar: latest updateSyncVar value (a box) */
  /* atomic tables (keys[i] -> vals[i]) and lists (vals[i]) */
  char **keys;
  void **vals;
  size_t len, cap;
} th_obj;
spindle_value th_obj_value(th_obj *o);        /* a new reference to o */
th_obj *th_obj_new(int type, void *p, const char *name);
void th_obj_release(void *o);
/* a type whose values are th_objs (printed and released as such) */
int th_def_obj_type(spindle_reg *reg, const char *name);
/* a channel of n tokens (TH_TOKEN): semaphores and region locks; receive
 * to take one (a job is suspended, not its worker), send to give back */
#define TH_TOKEN ((void *)1)
sp_chan *th_tokens(long n);
void th_obj_print(void *o, char *buf, size_t size);
const char *th_obj_type_name(int type);      /* "channel", "region", ... */

/* shared objects by name (threads_shared.c): the object of that name and
 * type (made by make(ud) the first time) as a new value in *ret; an error
 * when the name is taken by another type */
int th_named(spindle_ctx *C, const char *who, int type, const char *name, th_obj *(*make)(void *ud), void *ud,
             spindle_value *ret);
/* shared tables and lists: 0 when the caller holds their region's lock */
int th_shared_usable(spindle_ctx *C, const char *who, th_obj *o);
void th_rlock_free(th_obj *lk);
void th_shared_register(spindle_reg *reg);
void th_thread_register(spindle_reg *reg);   /* threads_thread.c */
int th_thread_id(spindle_ctx *C);            /* threadID(): 0 at top level */

/* interpreter contexts for code the plugin runs (jobs, proc triggers) */
spindle_ctx *th_ctx_get(void);
void th_ctx_put(spindle_ctx *C);

/* pools */
typedef struct th_pool th_pool;
th_pool *th_arg_pool(spindle_ctx *C, const char *fn, int argc, spindle_value *argv, int *i);
int th_pool_usable(spindle_ctx *C, const char *fn, th_pool *p);
th_pool *th_pool_new(int nworkers, int quiet);   /* NULL on failure */
sp_pool *th_pool_sp(th_pool *p);
int th_pool_set_workers(th_pool *p, int n);      /* sp_pool_set_workers */
/* cluster pools (cluster.h): under mpirun, a pool with workers on every
 * rank (n spread by th_spread), else th_pool_new */
th_pool *th_pool_new_all(int nworkers, int quiet);
void th_spread(int n, int *w);                   /* n workers over the ranks */
int th_cores(void);                              /* every rank's cores */
/* a job of a cluster pool first takes a slot (th_pool_slot, before it
 * takes an interpreter context: the rank it runs on, -1 when cancelled
 * meanwhile, 0 for other pools), then runs fn(argv) there (th_pool_call);
 * its arguments must be able to cross (startJob and scheduleJob check).
 * With detach, a job sent to another rank is detached (sp_job_detach):
 * th_pool_call returns 1 and the job's end, with its result boxed
 * (th_box_new), comes from the cluster's comm thread; otherwise the call
 * waits for the result: 0 with *ret, or -1 with the error set on C. */
int th_pool_slot(th_pool *p);
int th_pool_call(th_pool *p, int slot, spindle_ctx *C, const char *name, spindle_value fn, int argc,
                 const spindle_value *argv, spindle_value *ret, int detach);
void th_pool_close(th_pool *p);                  /* without waiting, quietly */

/* jobs */
typedef struct th_job th_job;
sp_job *th_job_of(spindle_value v);           /* NULL unless a job */
const char *th_job_name(sp_job *j);

/* errors */
int th_argerr(spindle_ctx *C, const char *fn, int i, const char *want, spindle_value got);
int th_counterr(spindle_ctx *C, const char *fn, int argc, const char *want);
int th_rterr(spindle_ctx *C, const char *fn, int rc);   /* SP_EDEADLK: the deadlock report */
/* Around a call that may suspend a job (receiveChannel, readSyncVar,
 * waitTrigger, ...): names what the job waits in, for a deadlock report,
 * and lets the exit cancel it. w lives on the caller's stack; nothing is
 * done on the main flow. */
typedef struct th_wait {
  struct th_wait *prev, *next;
  sp_job *sj;            /* the waiting job */
  th_job *t;             /* its th_job, or NULL (a task's job) */
  const char *fn;        /* the waiting call; NULL: not on the list */
  const th_obj *obj;
} th_wait;
void th_wait_begin(spindle_ctx *C, th_wait *w, const char *fn, const th_obj *obj);
void th_wait_end(th_wait *w);

void th_coord_register(spindle_reg *reg);
void th_tasks_register(spindle_reg *reg);   /* tasks.c */

/* tasks (tasks.c), for resources.lib and parallel.lib (tasks_par.c) */
typedef struct tk_task tk_task;
/* called for each task of a wait that is (or becomes) completed: 0 go on,
 * 1 the waiter knows enough, -1 error (raised) */
typedef int (*tk_each_fn)(spindle_ctx *C, void *ud, int i, spindle_value result);
tk_task *tk_task_create(const char *cmd, spindle_value args);   /* "created" */
void tk_task_release(void *t);             /* the last one stops a started task */
/* start t on the tasks' pool; pos > 0: "(posname pos)" in messages */
int tk_task_start(spindle_ctx *C, const char *who, int pos, const char *posname, tk_task *t);
int tk_task_completed(tk_task *t);
int tk_wait(spindle_ctx *C, const char *who, tk_task **T, int n, int need, long timeout_ms,
            tk_each_fn each, void *ud);
int tk_get_cores(void);
int tk_set_cores(int n);                   /* 0 or an SP_E* code */
void th_tasks_par_register(spindle_reg *reg);   /* tasks_par.c */

/* the timer thread (tasks.c): tk_timer_add sends TAG_TIMEOUT to ch in ms
 * milliseconds (NULL: no memory or no thread); tk_timer_cancel before it
 * fired drops it (after, the tag is in ch: the caller drops ch anyway) */
#define TAG_TIMEOUT ((intptr_t)1)
/* a waiter's node on what it waits for: a channel and the tag to send it */
typedef struct tk_watch {
  struct tk_watch *next;
  sp_chan *ch;            /* one reference */
  intptr_t tag;
} tk_watch;
/* sends each node's tag, drops its channel and frees it (no mutex held) */
void tk_notify(tk_watch *w);
/* takes node off the list at *head (guarded by mu) and frees it, unless a
 * sender took the list first: then the sender frees it */
void tk_unwatch(pthread_mutex_t *mu, tk_watch **head, tk_watch *node);
typedef struct tk_timer tk_timer;
tk_timer *tk_timer_add(sp_chan *ch, long ms);
void tk_timer_cancel(tk_timer *e);

/* Singular's ssi:fork links on jobs (forklink.c): the service "ssi:fork" */
void th_fork_register(spindle_reg *reg);

#endif
