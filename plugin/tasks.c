/* tasks.c: Singular's tasks.lib on jobs: the type `task`, its procedures,
 * and the wait that parallel.lib shares (tk_wait; parallel.lib and
 * resources.lib are tasks_par.c). Part of threads.so, which
 * scripts/lib/{tasks,parallel,resources}.lib load.
 *
 * Singular forks a process per task and passes every argument and result
 * through an ssi link. Here a task is a job of one pool kept for tasks
 * (sized by setcores), so arguments and results are shared by reference
 * and a task that waits for tasks of its own suspends only its fiber.
 *
 * A `task` value points to a tk_task: reference semantics, as Singular's
 * (a task is an index into a library-global list there): `task t2 = t1;`
 * shares, killTask(t1) is seen through t2, copyTask makes a new one.
 * Each start of a task makes a tk_run, shared by the task and its job;
 * stopTask detaches the run and cancels its job. The job records its end
 * in the run; a task becomes "completed" only when a wait or a poll
 * observes that end (Singular's rule: nothing printed depends on speed).
 *
 * Waiting (waitTasks and parallel.lib) registers a watcher on each run it
 * waits for: a node holding a channel. A run that ends detaches its
 * watchers under its lock and sends each node's tag to its channel after
 * the unlock (no runtime call under a pthread mutex: a runtime call is a
 * safe point, where a fiber may be switched away). The waiter receives
 * from its channel, which suspends a job's fiber or blocks a plain
 * thread; a timeout is a tag sent by the timer thread. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "threads.h"
#include "xalloc.h"

/* wakers for the deadlock check (src/spindle.h); absent from older runtimes */
#pragma weak sp_waker_add
#pragma weak sp_waker_remove

enum { TS_UNINIT, TS_CREATED, TS_STARTED, TS_STOPPED, TS_COMPLETED };
static const char *const state_names[] = {"uninitialized", "created", "started", "stopped", "completed"};

enum { R_RUNNING, R_DONE, R_FAILED, R_CANCELLED };


typedef struct tk_run {
  _Atomic long rc;
  pthread_mutex_t mu;
  int end;                /* R_* */
  spindle_value fn;       /* the proc or builtin the command names */
  spindle_value args;     /* list */
  spindle_value result;   /* R_DONE */
  char *err;              /* R_FAILED */
  sp_job *job;            /* the task's reference */
  tk_watch *watchers;
} tk_run;

typedef struct tk_task {
  _Atomic long rc;
  pthread_mutex_t mu;
  int state;              /* TS_* */
  char *cmd;
  spindle_value args;     /* list */
  spindle_value result;   /* completed */
  tk_run *run;            /* started */
} tk_task;

static int tk_type;
static th_pool *tk_pool;          /* made at the first start or setcores */
static int tk_cores;              /* getcores(); 0 until first asked */
static pthread_mutex_t tk_mu = PTHREAD_MUTEX_INITIALIZER;   /* tk_pool, tk_cores */

#define TAG_OF(i) ((intptr_t)(i) + 2)

/* ---- runs ---------------------------------------------------------------- */

static void run_release(tk_run *r) {
  if (!r || atomic_fetch_sub_explicit(&r->rc, 1, memory_order_acq_rel) != 1) return;
  api->release(r->fn);
  api->release(r->args);
  api->release(r->result);
  free(r->err);
  for (tk_watch *w = r->watchers, *nx; w; w = nx) { nx = w->next; sp_chan_release(w->ch); free(w); }
  pthread_mutex_destroy(&r->mu);
  free(r);
}

static int task_poll(void *ud) {
  (void)ud;
  return sp_checkpoint() == SP_ECANCELED;
}

/* the end of a run: record it, then tell the watchers */
static void run_end(tk_run *r, int end, spindle_value result, char *err) {
  pthread_mutex_lock(&r->mu);
  r->end = end;
  r->result = result;
  r->err = err;
  tk_watch *w = r->watchers;
  r->watchers = NULL;
  pthread_mutex_unlock(&r->mu);
  tk_notify(w);
}

void tk_unwatch(pthread_mutex_t *mu, tk_watch **head, tk_watch *node) {
  pthread_mutex_lock(mu);
  tk_watch **pp = head;
  while (*pp && *pp != node) pp = &(*pp)->next;
  int found = *pp == node;
  if (found) *pp = node->next;
  pthread_mutex_unlock(mu);
  if (found) { sp_chan_release(node->ch); free(node); }   /* else a sender owns it */
}

void tk_notify(tk_watch *w) {
  while (w) {
    tk_watch *nx = w->next;
    sp_chan_send(w->ch, (void *)w->tag);
    sp_chan_release(w->ch);
    free(w);
    w = nx;
  }
}

static void *task_main(void *arg) {
  tk_run *r = arg;
  int slot = th_pool_slot(tk_pool);
  if (slot < 0) { run_end(r, R_CANCELLED, api->none(), NULL); return NULL; }
  spindle_ctx *C = th_ctx_get();
  if (!C) { run_end(r, R_FAILED, api->none(), strdup("out of memory for an interpreter context")); return NULL; }
  *api->userdata(C, 1) = tk_pool;   /* startJob without a pool inside a task */
  api->set_poll(C, sp_poll_flag(), task_poll, NULL);
  size_t n = api->length(r->args);
  spindle_value small[8], *a = n <= 8 ? small : malloc(n * sizeof *a);
  for (size_t i = 0; i < n; i++) a[i] = api->list_get(r->args, i);
  spindle_value res = api->none();
  int rc = th_pool_call(tk_pool, slot, C, api->proc_name(r->fn), r->fn, (int)n, a, &res, 0);
  if (a != small) free(a);
  if (sp_job_cancelled()) {
    api->release(res);
    run_end(r, R_CANCELLED, api->none(), NULL);
  } else if (rc < 0) {
    run_end(r, R_FAILED, api->none(), strdup(api->errmsg(C)));
  } else {
    run_end(r, R_DONE, res, NULL);
  }
  th_ctx_put(C);
  return NULL;
}

static void run_cleanup(void *arg, void *result, sp_state st, void *ud) {
  (void)result; (void)ud;
  tk_run *r = arg;
  if (st == SP_JOB_CANCELLED) {   /* cancelled before it ran: watchers still wait */
    pthread_mutex_lock(&r->mu);
    int ended = r->end != R_RUNNING;
    pthread_mutex_unlock(&r->mu);
    if (!ended) run_end(r, R_CANCELLED, api->none(), NULL);
  }
  run_release(r);
}

/* ---- the tasks' pool and cores -------------------------------------------- */

static int cores_locked(void) {
  if (!tk_cores) {   /* under mpirun: every rank's cores */
    int n = th_cores();
    tk_cores = n < 1 ? 1 : n > 1024 ? 1024 : n;
  }
  return tk_cores;
}

static th_pool *task_pool(spindle_ctx *C, const char *who) {
  pthread_mutex_lock(&tk_mu);
  if (!tk_pool) tk_pool = th_pool_new_all(cores_locked(), 1);
  th_pool *p = tk_pool;
  pthread_mutex_unlock(&tk_mu);
  if (!p) api->error(C, "%s: cannot start the tasks' threadpool", who);
  return p;
}

/* ---- task objects ----------------------------------------------------------- */

static tk_task *task_new(void) {
  tk_task *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  atomic_init(&t->rc, 1);
  pthread_mutex_init(&t->mu, NULL);
  t->args = api->none();
  t->result = api->none();
  return t;
}

static void task_retain(void *p) { atomic_fetch_add_explicit(&((tk_task *)p)->rc, 1, memory_order_relaxed); }

/* back to uninitialized (t->mu held); the run, if any, is returned to be
 * cancelled and released by the caller outside the lock */
static tk_run *task_clear(tk_task *t) {
  tk_run *r = t->run;
  t->run = NULL;
  free(t->cmd);
  t->cmd = NULL;
  api->release(t->args);
  api->release(t->result);
  t->args = t->result = api->none();
  t->state = TS_UNINIT;
  return r;
}

static void run_stop(tk_run *r) {
  if (!r) return;
  sp_job_cancel(r->job);   /* SP_EBUSY: it ended already */
  sp_job_release(r->job);
  run_release(r);
}

void tk_task_release(void *p) {
  tk_task *t = p;
  if (atomic_fetch_sub_explicit(&t->rc, 1, memory_order_acq_rel) != 1) return;
  run_stop(task_clear(t));
  pthread_mutex_destroy(&t->mu);
  free(t);
}

static spindle_value task_value(tk_task *t) { return api->make_user(tk_type, t); }

static void task_print_locked(tk_task *t, char *buf, size_t size) {
  if (t->state == TS_UNINIT) { snprintf(buf, size, "An uninitialized task"); return; }
  snprintf(buf, size,
           "A task with the following properties:\n"
           "command:          %s\n"
           "no. of arguments: %zu\n"
           "state:            %s",
           t->cmd, api->length(t->args), state_names[t->state]);
}

static void task_print(void *p, char *buf, size_t size) {
  tk_task *t = p;
  pthread_mutex_lock(&t->mu);
  task_print_locked(t, buf, size);
  pthread_mutex_unlock(&t->mu);
}

/* Singular's compareTasks: same command and state, and for started tasks
 * the same start (there: the same supervisor and position); arguments
 * and results are not compared */
static int task_equal(void *pa, void *pb) {
  if (pa == pb) return 1;
  tk_task *a = pa < pb ? pa : pb, *b = pa < pb ? pb : pa;   /* lock order */
  pthread_mutex_lock(&a->mu);
  pthread_mutex_lock(&b->mu);
  int eq = a->state == b->state &&
           (a->state == TS_UNINIT || (!strcmp(a->cmd, b->cmd) && (a->state != TS_STARTED || a->run == b->run)));
  pthread_mutex_unlock(&b->mu);
  pthread_mutex_unlock(&a->mu);
  return eq;
}

static tk_task *task_arg(spindle_value v) { return api->user_ptr(v, tk_type); }

tk_task *tk_task_create(const char *cmd, spindle_value args) {
  tk_task *t = task_new();
  if (!t) return NULL;
  t->cmd = th_xstrdup(cmd);
  t->args = args;
  api->retain(args);
  t->state = TS_CREATED;
  return t;
}

/* ---- argument checks ------------------------------------------------------- */

static int one_task(spindle_ctx *C, const char *who, int argc, spindle_value *argv, tk_task **t) {
  if (argc != 1) return th_counterr(C, who, argc, "1 argument (task)");
  *t = task_arg(argv[0]);
  if (!*t) return th_argerr(C, who, 1, "task", argv[0]);
  return 0;
}

/* "argument 2" or "" for a single argument */
static void argpos(char *buf, size_t size, int pos) {
  if (pos > 0) snprintf(buf, size, " (argument %d)", pos);
  else snprintf(buf, size, "%s", "");
}

/* the task's state (t->mu held) must be one of the two */
static int need_state(spindle_ctx *C, const char *who, const char *verb, tk_task *t, int pos, int s1, int s2) {
  if (t->state == s1 || t->state == s2) return 0;
  char p[32];
  argpos(p, sizeof p, pos);
  if (t->state == TS_UNINIT) return api->error(C, "%s: cannot %s an uninitialized task%s", who, verb, p);
  if (s2 < 0)
    return api->error(C, "%s: cannot %s task \"%s\"%s: its state is '%s', not '%s'", who, verb, t->cmd, p,
                      state_names[t->state], state_names[s1]);
  return api->error(C, "%s: cannot %s task \"%s\"%s: its state is '%s', not '%s' or '%s'", who, verb, t->cmd, p,
                    state_names[t->state], state_names[s1], state_names[s2]);
}

/* ---- tasks.lib -------------------------------------------------------------------- */

static int make_task(spindle_ctx *C, const char *who, spindle_value cmd, spindle_value args, spindle_value *ret) {
  if (cmd.type != SPINDLE_T_STRING) return th_argerr(C, who, 1, "string (a proc name)", cmd);
  if (args.type != SPINDLE_T_LIST) return th_argerr(C, who, 2, "list (the arguments)", args);
  tk_task *t = tk_task_create(api->string_ptr(cmd, NULL), args);
  if (!t) return api->error(C, "%s: out of memory", who);
  *ret = task_value(t);
  return 0;
}

static int f_createTask(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 2) return th_counterr(C, "createTask", argc, "2 arguments (string command, list arguments)");
  return make_task(C, "createTask", argv[0], argv[1], ret);
}

/* `task t;` and `task t = "cmd", list(...);` */
static int task_init(spindle_ctx *C, spindle_value *out) {
  tk_task *t = task_new();
  if (!t) return api->error(C, "task: out of memory");
  *out = task_value(t);
  return 0;
}

static int task_assign(spindle_ctx *C, int argc, const spindle_value *argv, spindle_value *out) {
  if (argc != 2 || argv[0].type != SPINDLE_T_STRING || argv[1].type != SPINDLE_T_LIST) {
    char got[128] = "";
    for (int i = 0; i < argc && strlen(got) < 100; i++)
      snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? ", " : "", api->type_name(argv[i]));
    return api->error(C, "task: cannot assign %s to a task (expected a string and a list: \"cmd\", list(args))",
                      argc ? got : "nothing");
  }
  return make_task(C, "task", argv[0], argv[1], out);
}

static int f_killTask(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  tk_task *t;
  if (one_task(C, "killTask", argc, argv, &t) < 0) return -1;
  pthread_mutex_lock(&t->mu);
  tk_run *r = task_clear(t);
  pthread_mutex_unlock(&t->mu);
  run_stop(r);
  *ret = api->none();
  return 0;
}

static int f_copyTask(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  tk_task *t;
  if (one_task(C, "copyTask", argc, argv, &t) < 0) return -1;
  tk_task *c = task_new();
  if (!c) return api->error(C, "copyTask: out of memory");
  pthread_mutex_lock(&t->mu);
  if (t->state == TS_STARTED) {
    pthread_mutex_unlock(&t->mu);
    tk_task_release(c);
    return api->error(C, "copyTask: cannot copy task \"%s\": its state is 'started'", t->cmd);
  }
  c->state = t->state;
  c->cmd = t->cmd ? strdup(t->cmd) : NULL;
  c->args = t->args;
  c->result = t->result;
  api->retain(c->args);
  api->retain(c->result);
  pthread_mutex_unlock(&t->mu);
  *ret = task_value(c);
  return 0;
}

static int f_compareTasks(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 2) return th_counterr(C, "compareTasks", argc, "2 arguments (task, task)");
  for (int i = 0; i < 2; i++)
    if (!task_arg(argv[i])) return th_argerr(C, "compareTasks", i + 1, "task", argv[i]);
  *ret = api->make_int(task_equal(task_arg(argv[0]), task_arg(argv[1])));
  return 0;
}

static int f_printTask(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  tk_task *t;
  if (one_task(C, "printTask", argc, argv, &t) < 0) return -1;
  char buf[1024];
  task_print(t, buf, sizeof buf);
  printf("%s\n", buf);
  *ret = api->none();
  return 0;
}

/* Start t (created or stopped): a new run, queued on the pool. t->mu is
 * not held across runtime calls (each is a safe point, where the fiber
 * may be switched away), so the state is reserved first. */
int tk_task_start(spindle_ctx *C, const char *who, int pos, const char *posname, tk_task *t) {
  th_pool *p = task_pool(C, who);
  if (!p) return -1;
  char ps[48] = "";
  if (pos > 0) snprintf(ps, sizeof ps, " (%s %d)", posname, pos);
  pthread_mutex_lock(&t->mu);
  int prev = t->state;
  if (prev != TS_CREATED && prev != TS_STOPPED) {
    int rc = need_state(C, who, "start", t, pos, TS_CREATED, TS_STOPPED);
    pthread_mutex_unlock(&t->mu);
    return rc;
  }
  char *cmd = th_xstrdup(t->cmd);
  spindle_value args = t->args;
  api->retain(args);
  t->state = TS_STARTED;
  pthread_mutex_unlock(&t->mu);
  spindle_value fn = api->none();
  tk_run *r = NULL;
  int rc;
  if (!cmd) { rc = api->error(C, "%s: out of memory", who); goto fail; }
  if (api->lookup(C, cmd, &fn) < 0) {
    api->clear_error(C);
    rc = api->error(C, "%s: no proc named \"%s\"%s", who, cmd, ps);
    goto fail;
  }
  if (fn.type != SPINDLE_T_PROC && fn.type != SPINDLE_T_BUILTIN) {
    rc = api->error(C, "%s: \"%s\"%s is a %s, not a proc", who, cmd, ps, api->type_name(fn));
    goto fail;
  }
  r = calloc(1, sizeof *r);
  if (!r) { rc = api->error(C, "%s: out of memory", who); goto fail; }
  atomic_init(&r->rc, 2);   /* the task's and the job's */
  pthread_mutex_init(&r->mu, NULL);
  r->fn = fn;
  r->args = args;
  r->result = api->none();
  fn = args = api->none();
  r->job = sp_job_create(task_main, r);
  if (!r->job) { atomic_store(&r->rc, 1); run_release(r); r = NULL; rc = api->error(C, "%s: out of memory", who); goto fail; }
  sp_job_set_flags(r->job, SP_JOB_DEFER_CANCEL | SP_JOB_CANCEL_ON_RETURN);
  sp_job_set_cleanup(r->job, run_cleanup, NULL);
  sp_job_set_name(r->job, cmd);
  pthread_mutex_lock(&t->mu);
  api->release(t->result);
  t->result = api->none();
  t->run = r;
  pthread_mutex_unlock(&t->mu);
  rc = sp_job_start(th_pool_sp(p), 0, r->job);
  if (rc == 0) { free(cmd); return 0; }
  pthread_mutex_lock(&t->mu);
  if (t->run == r) t->run = NULL;
  pthread_mutex_unlock(&t->mu);
  run_end(r, R_CANCELLED, api->none(), NULL);
  sp_job_release(r->job);   /* never started: its cleanup drops the job's reference */
  run_release(r);
  rc = rc == SP_ECLOSED ? api->error(C, "%s: the tasks' threadpool is closed", who) : th_rterr(C, who, rc);
fail:
  api->release(fn);
  api->release(args);
  free(cmd);
  pthread_mutex_lock(&t->mu);
  if (t->state == TS_STARTED && !t->run) t->state = prev;
  pthread_mutex_unlock(&t->mu);
  return rc;
}

static int f_startTasks(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc < 1) return th_counterr(C, "startTasks", argc, "at least 1 argument (task, ...)");
  for (int i = 0; i < argc; i++) {
    tk_task *t = task_arg(argv[i]);
    if (!t) return th_argerr(C, "startTasks", i + 1, "task", argv[i]);
    pthread_mutex_lock(&t->mu);
    int rc = need_state(C, "startTasks", "start", t, argc > 1 ? i + 1 : 0, TS_CREATED, TS_STOPPED);
    pthread_mutex_unlock(&t->mu);
    if (rc < 0) return -1;
    for (int j = 0; j < i; j++)
      if (task_arg(argv[j]) == t) return api->error(C, "startTasks: arguments %d and %d are the same task", j + 1, i + 1);
  }
  for (int i = 0; i < argc; i++)
    if (tk_task_start(C, "startTasks", argc > 1 ? i + 1 : 0, "argument", task_arg(argv[i])) < 0) return -1;
  *ret = api->none();
  return 0;
}

static int f_stopTask(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  tk_task *t;
  if (one_task(C, "stopTask", argc, argv, &t) < 0) return -1;
  pthread_mutex_lock(&t->mu);
  if (need_state(C, "stopTask", "stop", t, 0, TS_STARTED, -1) < 0) { pthread_mutex_unlock(&t->mu); return -1; }
  tk_run *r = t->run;
  t->run = NULL;
  t->state = TS_STOPPED;
  pthread_mutex_unlock(&t->mu);
  run_stop(r);
  *ret = api->none();
  return 0;
}

static int f_getCommand(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  tk_task *t;
  if (one_task(C, "getCommand", argc, argv, &t) < 0) return -1;
  pthread_mutex_lock(&t->mu);
  int ok = t->state != TS_UNINIT;
  if (ok) *ret = api->make_string(t->cmd, strlen(t->cmd));
  pthread_mutex_unlock(&t->mu);
  return ok ? 0 : api->error(C, "getCommand: cannot get the command of an uninitialized task");
}

static int f_getArguments(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  tk_task *t;
  if (one_task(C, "getArguments", argc, argv, &t) < 0) return -1;
  pthread_mutex_lock(&t->mu);
  int ok = t->state != TS_UNINIT;
  if (ok) { *ret = t->args; api->retain(*ret); }
  pthread_mutex_unlock(&t->mu);
  return ok ? 0 : api->error(C, "getArguments: cannot get the arguments of an uninitialized task");
}

static int f_getResult(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  tk_task *t;
  if (one_task(C, "getResult", argc, argv, &t) < 0) return -1;
  pthread_mutex_lock(&t->mu);
  int rc = need_state(C, "getResult", "get the result of", t, 0, TS_COMPLETED, -1);
  if (rc == 0) { *ret = t->result; api->retain(*ret); }
  pthread_mutex_unlock(&t->mu);
  return rc;
}

static int f_getState(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  tk_task *t;
  if (one_task(C, "getState", argc, argv, &t) < 0) return -1;
  pthread_mutex_lock(&t->mu);
  const char *s = state_names[t->state];
  pthread_mutex_unlock(&t->mu);
  *ret = api->make_string(s, strlen(s));
  return 0;
}

/* ---- waiting ---------------------------------------------------------------------- */

/* the timer thread: sends TAG_TIMEOUT to a waiter's channel at its deadline */
typedef struct tk_timer {
  struct tk_timer *next;
  struct timespec at;     /* CLOCK_MONOTONIC */
  sp_chan *ch;            /* one reference */
} tk_timer;

static pthread_mutex_t tm_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tm_cv;
static tk_timer *tm_list;          /* sorted by deadline */
static int tm_started;

static int ts_before(struct timespec a, struct timespec b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

static void *timer_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&tm_mu);
  for (;;) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    tk_timer *due = NULL;
    while (tm_list && !ts_before(now, tm_list->at)) {
      tk_timer *e = tm_list;
      tm_list = e->next;
      e->next = due;
      due = e;
    }
    if (due) {
      pthread_mutex_unlock(&tm_mu);
      while (due) {
        tk_timer *nx = due->next;
        sp_chan_send(due->ch, (void *)TAG_TIMEOUT);
        sp_chan_release(due->ch);
        free(due);
        if (sp_waker_remove) sp_waker_remove();   /* sent: its waiter is awake */
        due = nx;
      }
      pthread_mutex_lock(&tm_mu);
      continue;
    }
    if (tm_list) pthread_cond_timedwait(&tm_cv, &tm_mu, &tm_list->at);
    else pthread_cond_wait(&tm_cv, &tm_mu);
  }
  return NULL;
}

tk_timer *tk_timer_add(sp_chan *ch, long ms) {
  tk_timer *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  clock_gettime(CLOCK_MONOTONIC, &e->at);
  e->at.tv_sec += ms / 1000;
  e->at.tv_nsec += (ms % 1000) * 1000000L;
  if (e->at.tv_nsec >= 1000000000L) { e->at.tv_sec++; e->at.tv_nsec -= 1000000000L; }
  sp_chan_retain(ch);
  e->ch = ch;
  pthread_mutex_lock(&tm_mu);
  if (!tm_started) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&tm_cv, &ca);
    pthread_condattr_destroy(&ca);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);   /* signals stay with the threads that take them */
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    tm_started = pthread_create(&th, &at, timer_main, NULL) == 0;
    pthread_attr_destroy(&at);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!tm_started) { pthread_mutex_unlock(&tm_mu); sp_chan_release(ch); free(e); return NULL; }
  }
  if (sp_waker_add) sp_waker_add();   /* a wait with a timer pending always ends */
  tk_timer **pp = &tm_list;
  while (*pp && !ts_before(e->at, (*pp)->at)) pp = &(*pp)->next;
  e->next = *pp;
  *pp = e;
  pthread_cond_signal(&tm_cv);
  pthread_mutex_unlock(&tm_mu);
  return e;
}

void tk_timer_cancel(tk_timer *e) {
  if (!e) return;
  pthread_mutex_lock(&tm_mu);
  tk_timer **pp = &tm_list;
  while (*pp && *pp != e) pp = &(*pp)->next;
  int found = *pp == e;
  if (found) *pp = e->next;
  pthread_mutex_unlock(&tm_mu);
  if (found) {
    sp_chan_release(e->ch);
    free(e);
    if (sp_waker_remove) sp_waker_remove();
  }   /* else the timer thread owns it */
}

/* One wait over n tasks. each(ud, i, result) is called for every task that
 * is (or becomes) completed, in the order observed; it returns 0 to go on,
 * 1 when the waiter knows enough, -1 on an error (already raised). */

typedef struct tk_waitset {
  spindle_ctx *C;
  const char *who;
  tk_task **t;
  int n;
  tk_run **runs;          /* the run watched for task i (a reference), or NULL */
  tk_watch **nodes;       /* its watcher node while registered */
  char *seen;             /* task i was reported to each */
  sp_chan *ch;
} tk_waitset;

/* complete task i if its watched run has ended: 1 completed (reported),
 * 0 not yet, -1 error (failed task, or stopped under the waiter) */
/* task i is completed with result res (a reference, taken): tell each */
static int report(tk_waitset *w, int i, spindle_value res, tk_each_fn each, void *ud, int *stop) {
  w->seen[i] = 1;
  int rc = each(w->C, ud, i, res);
  api->release(res);
  if (rc) *stop = rc;
  return rc < 0 ? -1 : 1;
}

static int wait_collect(tk_waitset *w, int i, tk_each_fn each, void *ud, int *stop) {
  tk_task *t = w->t[i];
  tk_run *r = w->runs[i];
  if (w->seen[i]) return 0;
  pthread_mutex_lock(&t->mu);
  if (t->state == TS_COMPLETED) {   /* completed before, or by another waiter */
    spindle_value res = t->result;
    api->retain(res);
    pthread_mutex_unlock(&t->mu);
    return report(w, i, res, each, ud, stop);
  }
  if (!r || t->state != TS_STARTED || t->run != r) {
    int st = t->state;
    pthread_mutex_unlock(&t->mu);
    return api->error(w->C, "%s: task no. %d was %s while waited for", w->who, i + 1,
                      st == TS_UNINIT ? "killed" : state_names[st]);
  }
  pthread_mutex_lock(&r->mu);
  int end = r->end;
  pthread_mutex_unlock(&r->mu);
  if (end == R_RUNNING) { pthread_mutex_unlock(&t->mu); return 0; }
  if (end != R_DONE) {
    char *cmd = th_xstrdup(t->cmd);
    pthread_mutex_unlock(&t->mu);
    int rc = end == R_FAILED
                 ? api->error(w->C, "%s: task no. %d (\"%s\") failed: %s", w->who, i + 1, cmd, r->err)
                 : api->error(w->C, "%s: task no. %d (\"%s\") was cancelled", w->who, i + 1, cmd);
    free(cmd);
    return rc;
  }
  t->result = r->result;   /* the run keeps its own reference until freed */
  api->retain(t->result);
  t->run = NULL;
  t->state = TS_COMPLETED;
  spindle_value res = t->result;
  api->retain(res);
  pthread_mutex_unlock(&t->mu);
  sp_job_release(r->job);
  run_release(r);          /* the task's reference */
  return report(w, i, res, each, ud, stop);
}

static void wait_unwatch(tk_waitset *w) {
  for (int i = 0; i < w->n; i++) {
    tk_run *r = w->runs[i];
    if (!r) continue;
    if (w->nodes[i]) tk_unwatch(&r->mu, &r->watchers, w->nodes[i]);
    run_release(r);
  }
}

/* Wait until `need` of the n tasks are completed (or each says stop, or
 * timeout_ms passes; 0 = none). Every task must be started or completed.
 * Returns 0, or -1 with the error raised. */
int tk_wait(spindle_ctx *C, const char *who, tk_task **T, int n, int need, long timeout_ms,
                      tk_each_fn each, void *ud) {
  tk_waitset w = {C, who, T, n, calloc((size_t)n, sizeof(tk_run *)), calloc((size_t)n, sizeof(tk_watch *)),
               calloc((size_t)n, 1), NULL};
  int rc = 0, got = 0, stop = 0;
  if (!w.runs || !w.nodes || !w.seen) { rc = api->error(C, "%s: out of memory", who); goto out; }
  w.ch = sp_chan_create(NULL);   /* no ops: tags, not values */
  if (!w.ch) { rc = api->error(C, "%s: out of memory", who); goto out; }
  /* watch every started task; a run that ended already sends nothing */
  for (int i = 0; i < n; i++) {
    tk_task *t = T[i];
    pthread_mutex_lock(&t->mu);
    tk_run *r = t->state == TS_STARTED ? t->run : NULL;
    if (r) {
      atomic_fetch_add(&r->rc, 1);
      w.runs[i] = r;
      tk_watch *node = malloc(sizeof *node);
      if (node) {
        node->ch = w.ch;
        node->tag = TAG_OF(i);
        pthread_mutex_lock(&r->mu);
        if (r->end == R_RUNNING) {
          sp_chan_retain(w.ch);
          node->next = r->watchers;
          r->watchers = node;
          w.nodes[i] = node;
          node = NULL;
        }
        pthread_mutex_unlock(&r->mu);
        free(node);
      }
    }
    pthread_mutex_unlock(&t->mu);
  }
  for (int i = 0; i < n && !stop; i++) {
    int c = wait_collect(&w, i, each, ud, &stop);
    if (c < 0) { rc = -1; goto out; }
    got += c;
  }
  tk_timer *tm = NULL;
  if (timeout_ms > 0 && got < need && !stop) tm = tk_timer_add(w.ch, timeout_ms);
  if (timeout_ms > 0 && got < need && !stop && !tm) { rc = api->error(C, "%s: cannot start the timer", who); goto out; }
  while (got < need && !stop) {
    void *item = NULL;
    int r = sp_chan_recv(w.ch, &item);
    if (r == SP_ECANCELED) { rc = api->error(C, "cancelled"); break; }
    if (r < 0) { rc = th_rterr(C, who, r); break; }
    intptr_t tag = (intptr_t)item;
    if (tag == TAG_TIMEOUT) { tm = NULL; break; }   /* fired: the timer thread freed it */
    int i = (int)(tag - 2);
    if (i < 0 || i >= n) continue;
    w.nodes[i] = NULL;   /* the run's end freed it */
    int c = wait_collect(&w, i, each, ud, &stop);
    if (c < 0) { rc = -1; break; }
    got += c;
  }
  tk_timer_cancel(tm);
  /* what else has ended by now counts too (Singular: "at the same time") */
  for (int i = 0; i < n && rc == 0 && !stop; i++) {
    int c = wait_collect(&w, i, each, ud, &stop);
    if (c < 0) rc = -1;
  }
out:
  if (w.runs) wait_unwatch(&w);
  if (w.ch) sp_chan_release(w.ch);
  free(w.runs);
  free(w.nodes);
  free(w.seen);
  return rc < 0 ? -1 : 0;
}

/* checks of waitTasks' list (or waitAllTasks' arguments) */
static int wait_args(spindle_ctx *C, const char *who, int n, const spindle_value *v, int in_list, tk_task **T) {
  for (int i = 0; i < n; i++) {
    T[i] = task_arg(v[i]);
    if (!T[i]) {
      if (in_list) return api->error(C, "%s: element %d of the list must be a task, not %s", who, i + 1, api->type_name(v[i]));
      return th_argerr(C, who, i + 1, "task", v[i]);
    }
    pthread_mutex_lock(&T[i]->mu);
    int rc = need_state(C, who, "wait for", T[i], n > 1 || in_list ? i + 1 : 0, TS_STARTED, TS_COMPLETED);
    pthread_mutex_unlock(&T[i]->mu);
    if (rc < 0) return -1;
  }
  return 0;
}

static int each_nothing(spindle_ctx *C, void *ud, int i, spindle_value r) { (void)C; (void)ud; (void)i; (void)r; return 0; }

static int f_waitTasks(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  const char *who = "waitTasks";
  if (argc != 2 && argc != 3) return th_counterr(C, who, argc, "2 or 3 arguments (list tasks, int N[, int timeout_ms])");
  if (argv[0].type != SPINDLE_T_LIST) return th_argerr(C, who, 1, "list (of tasks)", argv[0]);
  if (argv[1].type != SPINDLE_T_INT) return th_argerr(C, who, 2, "int", argv[1]);
  if (argc == 3 && argv[2].type != SPINDLE_T_INT) return th_argerr(C, who, 3, "int (milliseconds)", argv[2]);
  long timeout = argc == 3 ? (long)argv[2].u.i : 0;
  if (timeout < 0) return api->error(C, "%s: negative timeout (%ld ms)", who, timeout);
  int n = (int)api->length(argv[0]);
  if (n == 0) return api->error(C, "%s: the list of tasks is empty", who);
  int64_t need = argv[1].u.i;
  if (need < 1 || need > n)
    return api->error(C, "%s: cannot wait for %lld of %d task%s (expected 1..%d)", who, (long long)need, n,
                      n == 1 ? "" : "s", n);
  tk_task **T = malloc((size_t)n * sizeof *T);
  spindle_value *v = malloc((size_t)n * sizeof *v);
  if (!T || !v) { free(T); free(v); return api->error(C, "%s: out of memory", who); }
  for (int i = 0; i < n; i++) v[i] = api->list_get(argv[0], (size_t)i);
  int rc = wait_args(C, who, n, v, 1, T);
  free(v);
  if (rc == 0) rc = tk_wait(C, who, T, n, (int)need, timeout, each_nothing, NULL);
  if (rc == 0) {   /* the indices of the completed tasks, in order */
    int k = 0;
    for (int i = 0; i < n; i++) k += tk_task_completed(T[i]);
    spindle_value l = api->make_list((size_t)k);
    for (int i = 0, j = 0; i < n && j < k; i++)
      if (tk_task_completed(T[i])) api->list_set(l, (size_t)j++, api->make_int(i + 1));
    *ret = l;
  }
  free(T);
  return rc;
}

static int f_waitAllTasks(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc < 1) return th_counterr(C, "waitAllTasks", argc, "at least 1 argument (task, ...)");
  tk_task **T = malloc((size_t)argc * sizeof *T);
  if (!T) return api->error(C, "waitAllTasks: out of memory");
  int rc = wait_args(C, "waitAllTasks", argc, argv, 0, T);
  if (rc == 0) rc = tk_wait(C, "waitAllTasks", T, argc, argc, 0, each_nothing, NULL);
  free(T);
  if (rc == 0) *ret = api->none();
  return rc;
}

static int f_pollTask(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  tk_task *t;
  if (one_task(C, "pollTask", argc, argv, &t) < 0) return -1;
  pthread_mutex_lock(&t->mu);
  int rc = need_state(C, "pollTask", "poll", t, 0, TS_STARTED, TS_COMPLETED);
  pthread_mutex_unlock(&t->mu);
  if (rc < 0) return -1;
  tk_run *r = NULL;
  pthread_mutex_lock(&t->mu);
  if (t->state == TS_STARTED) { r = t->run; atomic_fetch_add(&r->rc, 1); }
  pthread_mutex_unlock(&t->mu);
  if (r) {   /* a wait that does not wait: collect it if it has ended */
    tk_waitset w = {C, "pollTask", &t, 1, &r, (tk_watch *[]){NULL}, (char[]){0}, NULL};
    int stop = 0;
    rc = wait_collect(&w, 0, each_nothing, NULL, &stop);
    run_release(r);
    if (rc < 0) return -1;
  }
  *ret = api->make_int(tk_task_completed(t));
  return 0;
}

/* ---- cores (resources.lib's setcores; tasks_par.c) ------------------------------ */

int tk_get_cores(void) {
  pthread_mutex_lock(&tk_mu);
  int n = cores_locked();
  pthread_mutex_unlock(&tk_mu);
  return n;
}

/* the tasks' pool gets n workers; it is made now if it was not (a script
 * that says setcores means to run tasks: their first start then does not
 * wait for threads to be made); 0 or SP_E* */
int tk_set_cores(int n) {
  pthread_mutex_lock(&tk_mu);
  int rc = 0;
  if (tk_pool) rc = th_pool_set_workers(tk_pool, n);
  else if (!(tk_pool = th_pool_new_all(n, 1))) rc = SP_ENOMEM;
  if (rc == 0) tk_cores = n;
  pthread_mutex_unlock(&tk_mu);
  return rc;
}

int tk_task_completed(tk_task *t) {
  pthread_mutex_lock(&t->mu);
  int done = t->state == TS_COMPLETED;
  pthread_mutex_unlock(&t->mu);
  return done;
}

/* ---- registration ------------------------------------------------------------------ */

void th_tasks_register(spindle_reg *reg) {
  static const spindle_type_desc task_d = {"task", task_print, task_retain, tk_task_release, task_equal};
  tk_type = api->def_type(reg, &task_d);
  if (tk_type < 0) return;
  if (api->size >= offsetof(struct spindle_api, def_system) + sizeof api->def_system) {
    static const spindle_type_ext ext = {sizeof ext, task_init, task_assign, 1};
    api->def_type_ext(reg, tk_type, &ext);
  }
  static const struct { const char *name; spindle_rawfn fn; } fns[] = {
    {"createTask", f_createTask}, {"killTask", f_killTask}, {"copyTask", f_copyTask},
    {"compareTasks", f_compareTasks}, {"printTask", f_printTask}, {"startTasks", f_startTasks},
    {"stopTask", f_stopTask}, {"waitTasks", f_waitTasks}, {"waitAllTasks", f_waitAllTasks},
    {"pollTask", f_pollTask}, {"getCommand", f_getCommand}, {"getArguments", f_getArguments},
    {"getResult", f_getResult}, {"getState", f_getState},
  };
  for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) api->def_raw(reg, fns[i].name, fns[i].fn);
  th_tasks_par_register(reg);
}
