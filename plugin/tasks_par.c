/* tasks_par.c: Singular's resources.lib and parallel.lib (part of
 * threads.so), over the tasks of tasks.c.
 *
 * resources.lib: setcores/getcores/addcores size the pool kept for tasks
 * (how many tasks run at once, nested ones included); semaphore(n) and
 * system("semaphore", ...) are Singular's counting semaphores, here a
 * channel of tokens, so acquiring suspends a job, not its worker.
 *
 * parallel.lib: parallelWaitN/First/All start one task per command and
 * wait with tk_wait; parallelTestAND/OR stop waiting as soon as the
 * answer is known. The tasks still running then are stopped (their jobs
 * cancelled) when the procedure returns, also after an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "threads.h"


/* ---- resources.lib ---------------------------------------------------------------- */

static int set_cores(spindle_ctx *C, const char *who, int64_t n, spindle_value *ret) {
  if (n < 1) return api->error(C, "%s: the number of cores to use must be at least 1, not %lld", who, (long long)n);
  if (n > 128) return api->error(C, "%s: %lld cores: at most 128", who, (long long)n);
  int rc = tk_set_cores((int)n);
  if (rc < 0) return th_rterr(C, who, rc);
  *ret = api->make_int(n);
  return 0;
}

static int f_setcores(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 1) return th_counterr(C, "setcores", argc, "1 argument (int)");
  if (argv[0].type != SPINDLE_T_INT) return th_argerr(C, "setcores", 1, "int", argv[0]);
  return set_cores(C, "setcores", argv[0].u.i, ret);
}

static int f_getcores(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  (void)argv;
  if (argc != 0) return th_counterr(C, "getcores", argc, "no arguments");
  int n = tk_get_cores();
  *ret = api->make_int(n);
  return 0;
}

static int f_addcores(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 1) return th_counterr(C, "addcores", argc, "1 argument (int)");
  if (argv[0].type != SPINDLE_T_INT) return th_argerr(C, "addcores", 1, "int", argv[0]);
  int n = tk_get_cores();
  return set_cores(C, "addcores", n + argv[0].u.i, ret);
}

/* Semaphores: semaphore(n) gives an index, system("semaphore", ...) uses
 * it. A semaphore is a channel of tokens: acquiring receives one (a job
 * is suspended, not its worker), releasing sends one. */
static pthread_mutex_t sem_mu = PTHREAD_MUTEX_INITIALIZER;
static sp_chan *sems[1024];

static int sem_init_at(int i, int64_t n) {
  return (sems[i] = th_tokens((long)n)) ? 0 : -1;
}

static int f_semaphore(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  if (argc != 1) return th_counterr(C, "semaphore", argc, "1 argument (int)");
  if (argv[0].type != SPINDLE_T_INT) return th_argerr(C, "semaphore", 1, "int", argv[0]);
  if (argv[0].u.i < 0 || argv[0].u.i > 1000000)
    return api->error(C, "semaphore: initial value %lld: expected 0..1000000", (long long)argv[0].u.i);
  pthread_mutex_lock(&sem_mu);
  int i = 0;
  while (i < 1024 && sems[i]) i++;
  int rc = i < 1024 ? sem_init_at(i, argv[0].u.i) : -1;
  pthread_mutex_unlock(&sem_mu);
  if (rc < 0) return api->error(C, "semaphore: no more semaphores (at most 1024)");
  *ret = api->make_int(i);
  return 0;
}

static sp_chan *sem_at(spindle_value v) {
  if (v.type != SPINDLE_T_INT || v.u.i < 0 || v.u.i >= 1024) return NULL;
  pthread_mutex_lock(&sem_mu);
  sp_chan *c = sems[v.u.i];
  pthread_mutex_unlock(&sem_mu);
  return c;
}

/* system("semaphore", "acquire"|"try_acquire"|"release"|"get_value"|"exists"|"init", i[, n]) */
static int sys_semaphore(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  const char *who = "system(\"semaphore\")";
  if (argc < 2 || argv[0].type != SPINDLE_T_STRING || argv[1].type != SPINDLE_T_INT)
    return api->error(C, "%s: expected an operation (\"acquire\", \"try_acquire\", \"release\", \"get_value\", "
                         "\"exists\" or \"init\") and a semaphore number", who);
  const char *op = api->string_ptr(argv[0], NULL);
  if (!strcmp(op, "exists") && argc == 2) { *ret = api->make_int(sem_at(argv[1]) != NULL); return 0; }
  if (!strcmp(op, "init")) {
    if (argc != 3 || argv[2].type != SPINDLE_T_INT || argv[2].u.i < 0 || argv[2].u.i > 1000000)
      return api->error(C, "%s: \"init\" needs a semaphore number and an initial value 0..1000000", who);
    if (argv[1].u.i < 0 || argv[1].u.i >= 1024) return api->error(C, "%s: semaphore %lld: expected 0..1023", who, (long long)argv[1].u.i);
    pthread_mutex_lock(&sem_mu);
    int ok = !sems[argv[1].u.i] && sem_init_at((int)argv[1].u.i, argv[2].u.i) == 0;
    pthread_mutex_unlock(&sem_mu);
    *ret = api->make_int(ok);
    return 0;
  }
  sp_chan *c = sem_at(argv[1]);
  if (argc != 2) return api->error(C, "%s: \"%s\" takes a semaphore number only", who, op);
  if (!c) return api->error(C, "%s: there is no semaphore %lld", who, (long long)argv[1].u.i);
  void *tok;
  if (!strcmp(op, "acquire")) {
    int rc = sp_chan_recv(c, &tok);
    if (rc == SP_ECANCELED) return api->error(C, "cancelled");
    if (rc < 0) return th_rterr(C, who, rc);
    *ret = api->make_int(1);
  } else if (!strcmp(op, "try_acquire")) {
    *ret = api->make_int(sp_chan_try_recv(c, &tok) == 0);
  } else if (!strcmp(op, "release")) {
    sp_chan_send(c, TH_TOKEN);
    *ret = api->make_int(1);
  } else if (!strcmp(op, "get_value")) {
    *ret = api->make_int((int64_t)sp_chan_count(c));
  } else {
    return api->error(C, "%s: unknown operation \"%s\"", who, op);
  }
  return 0;
}

/* ---- parallel.lib ------------------------------------------------------------------ */

typedef struct par_job {
  int n;
  tk_task **t;
} par_job;

static void par_free(par_job *pj) {
  for (int i = 0; i < pj->n; i++)
    if (pj->t[i]) tk_task_release(pj->t[i]);   /* stops what still runs */
  free(pj->t);
}

/* commands (a string or a list of strings, as allowed) and args (a list
 * of lists): the started tasks */
static int par_start(spindle_ctx *C, const char *who, spindle_value cmds, spindle_value args, int str_ok,
                     par_job *pj) {
  pj->n = 0;
  pj->t = NULL;
  if (cmds.type != SPINDLE_T_LIST && !(str_ok && cmds.type == SPINDLE_T_STRING))
    return th_argerr(C, who, 1, str_ok ? "string or list (of strings)" : "list (of strings)", cmds);
  if (args.type != SPINDLE_T_LIST) return th_argerr(C, who, 2, "list (of lists of arguments)", args);
  int n = (int)api->length(args);
  if (cmds.type == SPINDLE_T_LIST && (int)api->length(cmds) != n)
    return api->error(C, "%s: %zu command%s but %d list%s of arguments: the numbers must match", who,
                      api->length(cmds), api->length(cmds) == 1 ? "" : "s", n, n == 1 ? "" : "s");
  if (n <= 0) return api->error(C, "%s: no commands specified", who);
  for (int i = 0; i < n; i++) {
    spindle_value c = cmds.type == SPINDLE_T_LIST ? api->list_get(cmds, (size_t)i) : cmds;
    if (c.type != SPINDLE_T_STRING)
      return api->error(C, "%s: command no. %d must be a string, not %s", who, i + 1, api->type_name(c));
    spindle_value a = api->list_get(args, (size_t)i);
    if (a.type != SPINDLE_T_LIST)
      return api->error(C, "%s: arguments no. %d must be a list, not %s", who, i + 1, api->type_name(a));
  }
  pj->t = calloc((size_t)n, sizeof *pj->t);
  if (!pj->t) return api->error(C, "%s: out of memory", who);
  pj->n = n;
  for (int i = 0; i < n; i++) {
    spindle_value c = cmds.type == SPINDLE_T_LIST ? api->list_get(cmds, (size_t)i) : cmds;
    pj->t[i] = tk_task_create(api->string_ptr(c, NULL), api->list_get(args, (size_t)i));
    if (!pj->t[i]) { par_free(pj); return api->error(C, "%s: out of memory", who); }
    if (tk_task_start(C, who, i + 1, "command no.", pj->t[i]) < 0) { par_free(pj); return -1; }
  }
  return 0;
}

/* [timeout[, ncores]] after the fixed arguments; ncores is obsolete in
 * Singular and ignored here as long as it is an int */
static int par_timeout(spindle_ctx *C, const char *who, int argc, spindle_value *argv, int first, long *ms) {
  *ms = 0;
  if (argc > first + 2) return api->error(C, "%s: too many arguments (%d)", who, argc);
  for (int i = first; i < argc; i++)
    if (argv[i].type != SPINDLE_T_INT) return th_argerr(C, who, i + 1, i == first ? "int (timeout in ms)" : "int", argv[i]);
  if (argc > first) *ms = (long)argv[first].u.i;
  if (*ms < 0) return api->error(C, "%s: negative timeout (%ld ms)", who, *ms);
  return 0;
}

typedef struct par_res { spindle_value *v; int max; } par_res;

static int each_keep(spindle_ctx *C, void *ud, int i, spindle_value r) {
  (void)C;
  par_res *pr = ud;
  api->retain(r);
  pr->v[i] = r;
  if (i + 1 > pr->max) pr->max = i + 1;
  return 0;
}

static int par_wait_n(spindle_ctx *C, const char *who, spindle_value cmds, spindle_value args, int str_ok,
                      int64_t N, int nall, long ms, spindle_value *ret) {
  par_job pj;
  if (par_start(C, who, cmds, args, str_ok, &pj) < 0) return -1;
  if (nall) N = pj.n;
  if (N < 1 || N > pj.n) {
    par_free(&pj);
    return api->error(C, "%s: cannot wait for %lld of %d task%s (expected 1..%d)", who, (long long)N, pj.n,
                      pj.n == 1 ? "" : "s", pj.n);
  }
  par_res pr = {calloc((size_t)pj.n, sizeof(spindle_value)), 0};
  if (!pr.v) { par_free(&pj); return api->error(C, "%s: out of memory", who); }
  for (int i = 0; i < pj.n; i++) pr.v[i] = api->none();
  int rc = tk_wait(C, who, pj.t, pj.n, (int)N, ms, each_keep, &pr);
  par_free(&pj);
  if (rc == 0) {   /* as Singular's list: up to the last result, none where missing */
    spindle_value l = api->make_list((size_t)pr.max);
    for (int i = 0; i < pr.max; i++) { api->list_set(l, (size_t)i, pr.v[i]); pr.v[i] = api->none(); }
    *ret = l;
  }
  for (int i = 0; i < pj.n; i++) api->release(pr.v[i]);
  free(pr.v);
  return rc;
}

/* the fixed arguments' count, then [timeout[, ncores]] */
static int par_args(spindle_ctx *C, const char *who, int argc, spindle_value *argv, int fixed,
                    const char *usage, long *ms) {
  if (argc < fixed) return th_counterr(C, who, argc, usage);
  return par_timeout(C, who, argc, argv, fixed, ms);
}

static int f_parallelWaitN(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  long ms;
  if (par_args(C, "parallelWaitN", argc, argv, 3,
               "3 to 5 arguments (list commands, list arguments, int N[, int timeout])", &ms) < 0) return -1;
  if (argv[2].type != SPINDLE_T_INT) return th_argerr(C, "parallelWaitN", 3, "int", argv[2]);
  return par_wait_n(C, "parallelWaitN", argv[0], argv[1], 0, argv[2].u.i, 0, ms, ret);
}

static int f_parallelWaitFirst(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  long ms;
  if (par_args(C, "parallelWaitFirst", argc, argv, 2,
               "2 to 4 arguments (list commands, list arguments[, int timeout])", &ms) < 0) return -1;
  return par_wait_n(C, "parallelWaitFirst", argv[0], argv[1], 0, 1, 0, ms, ret);
}

static int f_parallelWaitAll(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  long ms;
  if (par_args(C, "parallelWaitAll", argc, argv, 2,
               "2 to 4 arguments (string|list commands, list arguments[, int timeout])", &ms) < 0) return -1;
  return par_wait_n(C, "parallelWaitAll", argv[0], argv[1], 1, 0, 1, ms, ret);
}

typedef struct par_test { const char *who; int or; int answer; } par_test;

static int each_test(spindle_ctx *C, void *ud, int i, spindle_value r) {
  par_test *pt = ud;
  if (r.type != SPINDLE_T_INT)
    return api->error(C, "%s: result no. %d must be an int, not %s", pt->who, i + 1, api->type_name(r));
  if ((r.u.i != 0) == pt->or) { pt->answer = pt->or; return 1; }   /* known: stop the rest */
  return 0;
}

static int par_test_run(spindle_ctx *C, const char *who, int or, int argc, spindle_value *argv, spindle_value *ret) {
  long ms;
  if (par_args(C, who, argc, argv, 2, "2 to 4 arguments (string|list commands, list arguments[, int timeout])",
               &ms) < 0) return -1;
  par_job pj;
  if (par_start(C, who, argv[0], argv[1], 1, &pj) < 0) return -1;
  par_test pt = {who, or, -1};
  int rc = tk_wait(C, who, pj.t, pj.n, pj.n, ms, each_test, &pt);
  if (rc == 0 && pt.answer < 0) {   /* no early answer: all done, or timeout */
    int all = 1;
    for (int i = 0; i < pj.n; i++) {
      all &= tk_task_completed(pj.t[i]);
    }
    pt.answer = all ? !or : -1;
  }
  par_free(&pj);
  if (rc == 0) *ret = api->make_int(pt.answer);
  return rc;
}

static int f_parallelTestAND(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return par_test_run(C, "parallelTestAND", 0, argc, argv, ret);
}

static int f_parallelTestOR(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return par_test_run(C, "parallelTestOR", 1, argc, argv, ret);
}

/* ---- registration ------------------------------------------------------------------ */

void th_tasks_par_register(spindle_reg *reg) {
  if (api->size >= offsetof(struct spindle_api, def_system) + sizeof api->def_system)
    api->def_system(reg, "semaphore", sys_semaphore);
  static const struct { const char *name; spindle_rawfn fn; } fns[] = {
    {"setcores", f_setcores}, {"getcores", f_getcores}, {"addcores", f_addcores}, {"semaphore", f_semaphore},
    {"parallelWaitN", f_parallelWaitN}, {"parallelWaitFirst", f_parallelWaitFirst},
    {"parallelWaitAll", f_parallelWaitAll}, {"parallelTestAND", f_parallelTestAND},
    {"parallelTestOR", f_parallelTestOR},
  };
  for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) api->def_raw(reg, fns[i].name, fns[i].fn);
}
