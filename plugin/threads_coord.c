/* threads_coord.c: triggers, channels and syncvars for scripts, over the
 * runtime's sp_trigger, sp_chan and sp_syncvar (values boxed as in
 * threads.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "threads.h"
#include "xalloc.h"

#pragma weak sp_trigger_create
#pragma weak sp_trigger_release
#pragma weak sp_trigger_update
#pragma weak sp_trigger_fired
#pragma weak sp_trigger_chain_job
#pragma weak sp_trigger_chain
#pragma weak sp_trigger_cancel_on
#pragma weak sp_trigger_wait
#pragma weak sp_chan_create
#pragma weak sp_chan_release
#pragma weak sp_chan_send
#pragma weak sp_chan_recv
#pragma weak sp_chan_count
#pragma weak sp_chan_try_recv
#pragma weak sp_syncvar_create
#pragma weak sp_syncvar_release
#pragma weak sp_syncvar_write
#pragma weak sp_syncvar_read
#pragma weak sp_syncvar_written
#pragma weak sp_trigger_create_fn

/* ---- shared objects -------------------------------------------------------- */

th_obj *th_obj_new(int type, void *p, const char *name) {
  th_obj *o = th_xcalloc(1, sizeof *o);
  atomic_init(&o->rc, 1);
  o->type = type;
  o->p = p;
  o->name = name ? strdup(name) : NULL;
  o->fn = api->none();
  pthread_mutex_init(&o->mu, NULL);
  return o;
}

spindle_value th_obj_value(th_obj *o) {
  atomic_fetch_add(&o->rc, 1);
  return api->make_user(o->type, o);
}

void th_obj_release(void *ptr) {
  th_obj *o = ptr;
  if (atomic_fetch_sub(&o->rc, 1) != 1) return;
  if (o->type == th_trig_t) sp_trigger_release(o->p);
  else if (o->type == th_chan_t) sp_chan_release(o->p);
  else if (o->type == th_svar_t) sp_syncvar_release(o->p);
  else if (o->type == th_rlock_t) th_rlock_free(o);   /* regions themselves live for ever */
  th_box_release(o->cur);
  for (size_t i = 0; i < o->len; i++) {
    th_box_release(o->vals[i]);
    if (o->keys) free(o->keys[i]);
  }
  free(o->keys);
  free(o->vals);
  api->release(o->fn);
  pthread_mutex_destroy(&o->mu);
  free(o->name);
  free(o);
}

int th_def_obj_type(spindle_reg *reg, const char *name) {
  const spindle_type_desc d = {name, th_obj_print, NULL, th_obj_release, NULL};   /* copied */
  return api->def_type(reg, &d);
}

sp_chan *th_tokens(long n) {
  sp_chan *c = sp_chan_create(NULL);   /* no ops: tokens, not values */
  for (long k = 0; c && k < n; k++) sp_chan_send(c, TH_TOKEN);
  return c;
}

void th_obj_print(void *ptr, char *buf, size_t size) {
  th_obj *o = ptr;
  /* a regionlock prints as its region, as in Singular */
  const char *what = th_obj_type_name(o->type == th_rlock_t ? th_region_t : o->type);
  if (o->type == th_trig_t)
    snprintf(buf, size, o->n ? "<trigger \"%s\" %ld>" : "<trigger \"%s\">", o->kind, o->n);
  else if (o->name)
    snprintf(buf, size, "<%s \"%s\">", what, o->name);
  else
    snprintf(buf, size, "<%s>", what);
}

static th_obj *obj_arg(spindle_ctx *C, const char *who, int argc, spindle_value *argv, int i, int type,
                       const char *tname) {
  if (i >= argc) { th_counterr(C, who, argc, "more arguments"); return NULL; }
  th_obj *o = api->user_ptr(argv[i], type);
  if (!o) th_argerr(C, who, i + 1, tname, argv[i]);
  return o;
}

#define NEED(fn, who, what) \
  do { if (!(fn)) return api->error(C, "%s: the runtime has no %s yet", who, what); } while (0)

/* ---- triggers ------------------------------------------------------------- */

/* a "proc" trigger: each update calls the proc with the value; it fires
 * when the proc returns nothing or a non-zero int */
static int proc_trig_fn(void *ud, void *value) {
  th_obj *o = ud;
  spindle_ctx *C = th_ctx_get();
  if (!C) return 0;
  spindle_value a = value ? ((th_box *)value)->v : api->none(), r = api->none();
  int fire = 0;
  if (api->call(C, o->fn, value ? 1 : 0, &a, &r) < 0) {
    fflush(stdout);
    fprintf(stderr, "// ** proc trigger: %s\n", api->errmsg(C));
  } else {
    fire = r.type == SPINDLE_T_NONE || (r.type == SPINDLE_T_INT && r.u.i != 0);
  }
  api->release(r);
  th_ctx_put(C);
  return fire;
}

static int proc_trigger(spindle_ctx *C, spindle_value name, int pos, spindle_value *ret) {
  NEED(sp_trigger_create_fn, "createTrigger", "proc triggers");
  if (name.type != SPINDLE_T_STRING) return th_argerr(C, "createTrigger", pos, "string (a proc name)", name);
  spindle_value fn;
  const char *nm = api->string_ptr(name, NULL);
  if (api->lookup(C, nm, &fn) < 0) {
    api->clear_error(C);
    return api->error(C, "createTrigger: no proc named \"%s\"", nm);
  }
  th_obj *o = th_obj_new(th_trig_t, NULL, NULL);
  o->fn = fn;
  snprintf(o->kind, sizeof o->kind, "proc");
  atomic_fetch_add(&o->rc, 1);   /* the trigger's callback keeps o (never freed) */
  o->p = sp_trigger_create_fn(proc_trig_fn, o, &th_vops);
  if (!o->p) return api->error(C, "createTrigger: out of memory");
  *ret = api->make_user(th_trig_t, o);
  return 0;
}

static int f_createTrigger(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  NEED(sp_trigger_create, "createTrigger", "triggers");
  int i = 0;
  th_pool *p = th_arg_pool(C, "createTrigger", argc, argv, &i);
  if (p && th_pool_usable(C, "createTrigger", p) < 0) return -1;
  if (argc - i != 2) return th_counterr(C, "createTrigger", argc, "([threadpool,] string type, int n)");
  if (argv[i].type != SPINDLE_T_STRING) return th_argerr(C, "createTrigger", i + 1, "string", argv[i]);
  const char *type = api->string_ptr(argv[i], NULL);
  if (!strcmp(type, "proc")) return proc_trigger(C, argv[i + 1], i + 2, ret);
  sp_trigger_kind k;
  if (!strcmp(type, "acc")) k = SP_TRIGGER_ACC;
  else if (!strcmp(type, "count")) k = SP_TRIGGER_COUNT;
  else if (!strcmp(type, "set")) k = SP_TRIGGER_SET;
  else return api->error(C, "createTrigger: unknown trigger type \"%s\" (expected \"acc\", \"count\" or \"set\")", type);
  if (argv[i + 1].type != SPINDLE_T_INT) return th_argerr(C, "createTrigger", i + 2, "int", argv[i + 1]);
  long n = (long)argv[i + 1].u.i;
  if (n < 1) return api->error(C, "createTrigger: a \"%s\" trigger needs n >= 1, not %ld", type, n);
  sp_trigger *t = sp_trigger_create(k, (size_t)n, &th_vops);
  if (!t) return api->error(C, "createTrigger: out of memory");
  th_obj *o = th_obj_new(th_trig_t, t, NULL);
  snprintf(o->kind, sizeof o->kind, "%s", type);
  o->n = n;
  *ret = api->make_user(th_trig_t, o);
  return 0;
}

static int f_updateTrigger(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  NEED(sp_trigger_update, "updateTrigger", "triggers");
  if (argc < 1 || argc > 2) return th_counterr(C, "updateTrigger", argc, "1 or 2 arguments (trigger[, value])");
  th_obj *o = obj_arg(C, "updateTrigger", argc, argv, 0, th_trig_t, "trigger");
  if (!o) return -1;
  void *b = NULL;
  if (argc == 2) { api->retain(argv[1]); b = th_box_new(argv[1]); }
  int rc = sp_trigger_update(o->p, b);
  th_box_release(b);
  if (rc == SP_EINVAL)
    return api->error(C, "updateTrigger: a \"set\" trigger takes an int in 1..%ld", o->n);
  if (rc < 0) return th_rterr(C, "updateTrigger", rc);
  *ret = api->none();
  return 0;
}

static int f_chainTrigger(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  NEED(sp_trigger_chain_job, "chainTrigger", "triggers");
  if (argc != 2) return th_counterr(C, "chainTrigger", argc, "2 arguments (trigger, job|trigger)");
  th_obj *o = obj_arg(C, "chainTrigger", argc, argv, 0, th_trig_t, "trigger");
  if (!o) return -1;
  sp_job *j = th_job_of(argv[1]);
  th_obj *src = api->user_ptr(argv[1], th_trig_t);
  int rc;
  if (j) rc = sp_trigger_chain_job(o->p, j);
  else if (src) rc = sp_trigger_chain(o->p, src->p);
  else return th_argerr(C, "chainTrigger", 2, "job or trigger", argv[1]);
  if (rc < 0) return th_rterr(C, "chainTrigger", rc);
  *ret = api->none();
  return 0;
}

static int f_testTrigger(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  NEED(sp_trigger_fired, "testTrigger", "triggers");
  if (argc != 1) return th_counterr(C, "testTrigger", argc, "1 argument (trigger)");
  th_obj *o = obj_arg(C, "testTrigger", argc, argv, 0, th_trig_t, "trigger");
  if (!o) return -1;
  *ret = api->make_int(sp_trigger_fired(o->p));
  return 0;
}

static int cancel_on(spindle_ctx *C, th_obj *o, int pos, spindle_value v) {
  if (v.type == SPINDLE_T_LIST) {
    size_t n = api->length(v);
    for (size_t k = 0; k < n; k++)
      if (cancel_on(C, o, pos, api->list_get(v, k)) < 0) return -1;
    return 0;
  }
  sp_job *j = th_job_of(v);
  if (!j) return th_argerr(C, "cancelOnTrigger", pos, "job or list of jobs", v);
  int rc = sp_trigger_cancel_on(o->p, j);
  return rc < 0 ? th_rterr(C, "cancelOnTrigger", rc) : 0;
}

static int f_cancelOnTrigger(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  NEED(sp_trigger_cancel_on, "cancelOnTrigger", "triggers");
  if (argc < 1) return th_counterr(C, "cancelOnTrigger", argc, "a trigger and jobs");
  th_obj *o = obj_arg(C, "cancelOnTrigger", argc, argv, 0, th_trig_t, "trigger");
  if (!o) return -1;
  for (int i = 1; i < argc; i++)
    if (cancel_on(C, o, i + 1, argv[i]) < 0) return -1;
  *ret = api->none();
  return 0;
}

/* waitTrigger(t): suspends until t fires (beyond Singular) */
static int f_waitTrigger(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  NEED(sp_trigger_wait, "waitTrigger", "triggers");
  if (argc != 1) return th_counterr(C, "waitTrigger", argc, "1 argument (trigger)");
  th_obj *o = obj_arg(C, "waitTrigger", argc, argv, 0, th_trig_t, "trigger");
  if (!o) return -1;
  th_wait w;
  th_wait_begin(C, &w, "waitTrigger", o);
  int rc = sp_trigger_wait(o->p);
  th_wait_end(&w);
  if (rc == SP_ECANCELED) return api->error(C, "cancelled");
  if (rc < 0) return th_rterr(C, "waitTrigger", rc);
  *ret = api->none();
  return 0;
}

/* ---- channels and syncvars ------------------------------------------------ */

static int opt_name(spindle_ctx *C, const char *who, int argc, spindle_value *argv, const char **name) {
  *name = NULL;
  if (argc > 1) return th_counterr(C, who, argc, "0 or 1 argument (string name)");
  if (argc == 1) {
    if (argv[0].type != SPINDLE_T_STRING) return th_argerr(C, who, 1, "string", argv[0]);
    *name = api->string_ptr(argv[0], NULL);
  }
  return 0;
}

/* a new shared object of a type (ud: its type code), for th_named */
static th_obj *make_obj(void *ud) {
  int type = *(int *)ud;
  void *p = NULL;
  if (type == th_chan_t && !(p = sp_chan_create(&th_vops))) return NULL;
  if (type == th_svar_t && !(p = sp_syncvar_create(&th_vops))) return NULL;
  return th_obj_new(type, p, NULL);
}

/* makeChannel, makeSyncVar, makeAtomicTable, makeAtomicList: with a name,
 * the one object of that name (threads_shared.c); without, a new one */
static int make_named(spindle_ctx *C, const char *who, int type, int argc, spindle_value *argv,
                      spindle_value *ret) {
  const char *name;
  if (opt_name(C, who, argc, argv, &name) < 0) return -1;
  if (!name) {
    th_obj *o = make_obj(&type);
    if (!o) return api->error(C, "%s: out of memory", who);
    *ret = api->make_user(type, o);
    return 0;
  }
  if (th_named(C, who, type, name, make_obj, &type, ret) < 0) return -1;
  th_obj *o = api->user_ptr(*ret, type);
  pthread_mutex_lock(&o->mu);
  if (!o->name) o->name = strdup(name);
  pthread_mutex_unlock(&o->mu);
  return 0;
}

static int f_makeChannel(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  NEED(sp_chan_create, "makeChannel", "channels");
  return make_named(C, "makeChannel", th_chan_t, argc, argv, ret);
}

static int f_sendChannel(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  NEED(sp_chan_send, "sendChannel", "channels");
  if (argc != 2) return th_counterr(C, "sendChannel", argc, "2 arguments (channel, value)");
  th_obj *o = obj_arg(C, "sendChannel", argc, argv, 0, th_chan_t, "channel");
  if (!o) return -1;
  api->retain(argv[1]);
  void *b = th_box_new(argv[1]);
  int rc = sp_chan_send(o->p, b);
  th_box_release(b);
  if (rc < 0) return th_rterr(C, "sendChannel", rc);
  *ret = api->none();
  return 0;
}

static int f_receiveChannel(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  NEED(sp_chan_recv, "receiveChannel", "channels");
  if (argc != 1) return th_counterr(C, "receiveChannel", argc, "1 argument (channel)");
  th_obj *o = obj_arg(C, "receiveChannel", argc, argv, 0, th_chan_t, "channel");
  if (!o) return -1;
  void *b = NULL;
  int rc = sp_chan_try_recv ? sp_chan_try_recv(o->p, &b) : SP_EBUSY;   /* most find an item: no wait to name */
  if (rc != 0) {
    th_wait w;
    th_wait_begin(C, &w, "receiveChannel", o);
    rc = sp_chan_recv(o->p, &b);
    th_wait_end(&w);
  }
  if (rc == SP_ECANCELED) return api->error(C, "cancelled");
  if (rc < 0) return th_rterr(C, "receiveChannel", rc);
  *ret = th_unbox(b);
  th_box_release(b);
  return 0;
}

static int f_statChannel(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  NEED(sp_chan_count, "statChannel", "channels");
  if (argc != 1) return th_counterr(C, "statChannel", argc, "1 argument (channel)");
  th_obj *o = obj_arg(C, "statChannel", argc, argv, 0, th_chan_t, "channel");
  if (!o) return -1;
  *ret = api->make_int((int64_t)sp_chan_count(o->p));
  return 0;
}

static int f_makeSyncVar(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  NEED(sp_syncvar_create, "makeSyncVar", "syncvars");
  return make_named(C, "makeSyncVar", th_svar_t, argc, argv, ret);
}

static int f_writeSyncVar(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  NEED(sp_syncvar_write, "writeSyncVar", "syncvars");
  if (argc != 2) return th_counterr(C, "writeSyncVar", argc, "2 arguments (syncvar, value)");
  th_obj *o = obj_arg(C, "writeSyncVar", argc, argv, 0, th_svar_t, "syncvar");
  if (!o) return -1;
  api->retain(argv[1]);
  void *b = th_box_new(argv[1]);
  int rc = sp_syncvar_write(o->p, b);
  th_box_release(b);
  if (rc == SP_EBUSY) return api->error(C, "writeSyncVar: the syncvar was already written");
  if (rc < 0) return th_rterr(C, "writeSyncVar", rc);
  *ret = api->none();
  return 0;
}

static int f_readSyncVar(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  NEED(sp_syncvar_read, "readSyncVar", "syncvars");
  if (argc != 1) return th_counterr(C, "readSyncVar", argc, "1 argument (syncvar)");
  th_obj *o = obj_arg(C, "readSyncVar", argc, argv, 0, th_svar_t, "syncvar");
  if (!o) return -1;
  void *b = NULL;
  th_wait w = {0};   /* a written syncvar: no wait to name */
  if (!sp_syncvar_written || !sp_syncvar_written(o->p)) th_wait_begin(C, &w, "readSyncVar", o);
  int rc = sp_syncvar_read(o->p, &b);
  th_wait_end(&w);
  if (rc == SP_ECANCELED) return api->error(C, "cancelled");
  if (rc < 0) return th_rterr(C, "readSyncVar", rc);
  pthread_mutex_lock(&o->mu);
  *ret = th_unbox(o->cur ? o->cur : b);   /* lent by the syncvar */
  pthread_mutex_unlock(&o->mu);
  return 0;
}

static int f_statSyncVar(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  NEED(sp_syncvar_written, "statSyncVar", "syncvars");
  if (argc != 1) return th_counterr(C, "statSyncVar", argc, "1 argument (syncvar)");
  th_obj *o = obj_arg(C, "statSyncVar", argc, argv, 0, th_svar_t, "syncvar");
  if (!o) return -1;
  *ret = api->make_int(sp_syncvar_written(o->p));
  return 0;
}

/* updateSyncVar(v, procname, args...): waits for a value, stores
 * procname(value, args...) and returns it. The proc runs outside any
 * lock; a concurrent update makes it run again on the newer value. */
static int f_updateSyncVar(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  NEED(sp_syncvar_read, "updateSyncVar", "syncvars");
  if (argc < 2) return th_counterr(C, "updateSyncVar", argc, "at least 2 arguments (syncvar, string procname[, args...])");
  th_obj *o = obj_arg(C, "updateSyncVar", argc, argv, 0, th_svar_t, "syncvar");
  if (!o) return -1;
  if (argv[1].type != SPINDLE_T_STRING) return th_argerr(C, "updateSyncVar", 2, "string", argv[1]);
  const char *nm = api->string_ptr(argv[1], NULL);
  spindle_value fn;
  if (api->lookup(C, nm, &fn) < 0) {
    api->clear_error(C);
    return api->error(C, "updateSyncVar: no proc named \"%s\"", nm);
  }
  void *base = NULL;
  th_wait w = {0};
  if (!sp_syncvar_written || !sp_syncvar_written(o->p)) th_wait_begin(C, &w, "updateSyncVar", o);
  int rc = sp_syncvar_read(o->p, &base);
  th_wait_end(&w);
  if (rc < 0) { api->release(fn); return rc == SP_ECANCELED ? api->error(C, "cancelled") : th_rterr(C, "updateSyncVar", rc); }
  spindle_value *a = th_xmalloc((size_t)argc * sizeof *a);
  for (int i = 2; i < argc; i++) a[i - 1] = argv[i];
  for (;;) {
    pthread_mutex_lock(&o->mu);
    void *seen = o->cur ? o->cur : base;
    ((th_box *)seen)->rc++;
    pthread_mutex_unlock(&o->mu);
    a[0] = ((th_box *)seen)->v;
    spindle_value r;
    if (api->call(C, fn, argc - 1, a, &r) < 0) {
      th_box_release(seen);
      rc = -1;
      break;
    }
    pthread_mutex_lock(&o->mu);
    void *now = o->cur ? o->cur : base, *old = NULL;
    if (now == seen) {
      old = o->cur;
      api->retain(r);
      o->cur = th_box_new(r);
    }
    pthread_mutex_unlock(&o->mu);
    th_box_release(seen);
    if (now == seen) { th_box_release(old); *ret = r; rc = 0; break; }
    api->release(r);
  }
  free(a);
  api->release(fn);
  return rc;
}

/* ---- atomic tables and lists (Singular's shared tables and lists) ------- */

static int f_makeAtomicTable(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return make_named(C, "makeAtomicTable", th_table_t, argc, argv, ret);
}
static int f_makeAtomicList(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return make_named(C, "makeAtomicList", th_alist_t, argc, argv, ret);
}

/* index of key in o (under o->mu), or -1 */
static long table_find(th_obj *o, const char *key) {
  for (size_t i = 0; i < o->len; i++)
    if (!strcmp(o->keys[i], key)) return (long)i;
  return -1;
}

static void grow(th_obj *o, size_t need, int keys) {
  if (need <= o->cap) return;
  size_t cap = o->cap ? o->cap : 8;
  while (cap < need) cap *= 2;
  o->vals = th_xrealloc(o->vals, cap * sizeof *o->vals);
  if (keys) o->keys = th_xrealloc(o->keys, cap * sizeof *o->keys);
  for (size_t i = o->cap; i < cap; i++) o->vals[i] = NULL;
  o->cap = cap;
}

/* an atomic table or list, or a shared one whose region the caller holds */
static th_obj *coll_arg(spindle_ctx *C, const char *who, spindle_value v, int atomic, int shared, const char *tname) {
  th_obj *o = api->user_ptr(v, atomic);
  if (!o) o = api->user_ptr(v, shared);
  if (!o) { th_argerr(C, who, 1, tname, v); return NULL; }
  return th_shared_usable(C, who, o) < 0 ? NULL : o;
}

static int table_args(spindle_ctx *C, const char *who, int argc, spindle_value *argv, int want, th_obj **o) {
  if (argc != want) return th_counterr(C, who, argc, want == 3 ? "3 arguments (table, string key, value)" : "2 arguments (table, string key)");
  *o = coll_arg(C, who, argv[0], th_table_t, th_stable_t, "atomic_table or shared_table");
  if (!*o) return -1;
  if (argv[1].type != SPINDLE_T_STRING) return th_argerr(C, who, 2, "string", argv[1]);
  return 0;
}

static int f_putTable(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_obj *o;
  if (table_args(C, "putTable", argc, argv, 3, &o) < 0) return -1;
  const char *key = api->string_ptr(argv[1], NULL);
  api->retain(argv[2]);
  void *b = th_box_new(argv[2]), *old = NULL;
  pthread_mutex_lock(&o->mu);
  long i = table_find(o, key);
  if (i >= 0) { old = o->vals[i]; o->vals[i] = b; }
  else { grow(o, o->len + 1, 1); o->keys[o->len] = th_xstrdup(key); o->vals[o->len++] = b; }
  pthread_mutex_unlock(&o->mu);
  th_box_release(old);
  *ret = api->none();
  return 0;
}

static int f_getTable(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_obj *o;
  if (table_args(C, "getTable", argc, argv, 2, &o) < 0) return -1;
  const char *key = api->string_ptr(argv[1], NULL);
  pthread_mutex_lock(&o->mu);
  long i = table_find(o, key);
  if (i >= 0) *ret = th_unbox(o->vals[i]);
  pthread_mutex_unlock(&o->mu);
  if (i < 0) return api->error(C, "getTable: no key \"%s\" in the table", key);
  return 0;
}

static int f_inTable(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_obj *o;
  if (table_args(C, "inTable", argc, argv, 2, &o) < 0) return -1;
  pthread_mutex_lock(&o->mu);
  long i = table_find(o, api->string_ptr(argv[1], NULL));
  pthread_mutex_unlock(&o->mu);
  *ret = api->make_int(i >= 0);
  return 0;
}

static int list_args(spindle_ctx *C, const char *who, int argc, spindle_value *argv, int want, th_obj **o) {
  if (argc != want) return th_counterr(C, who, argc, want == 3 ? "3 arguments (list, int index, value)" : "2 arguments (list, int index)");
  *o = coll_arg(C, who, argv[0], th_alist_t, th_slist_t, "atomic_list or shared_list");
  if (!*o) return -1;
  if (argv[1].type != SPINDLE_T_INT) return th_argerr(C, who, 2, "int", argv[1]);
  if (argv[1].u.i < 1 || argv[1].u.i > 100000000) return api->error(C, "%s: index %lld out of range", who, (long long)argv[1].u.i);
  return 0;
}

static int f_putList(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_obj *o;
  if (list_args(C, "putList", argc, argv, 3, &o) < 0) return -1;
  size_t i = (size_t)argv[1].u.i - 1;
  api->retain(argv[2]);
  void *b = th_box_new(argv[2]), *old;
  pthread_mutex_lock(&o->mu);
  grow(o, i + 1, 0);
  if (o->len < i + 1) o->len = i + 1;
  old = o->vals[i];
  o->vals[i] = b;
  pthread_mutex_unlock(&o->mu);
  th_box_release(old);
  *ret = api->none();
  return 0;
}

static int f_getList(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_obj *o;
  if (list_args(C, "getList", argc, argv, 2, &o) < 0) return -1;
  size_t i = (size_t)argv[1].u.i - 1;
  pthread_mutex_lock(&o->mu);
  int ok = i < o->len;
  if (ok) *ret = th_unbox(o->vals[i]);
  pthread_mutex_unlock(&o->mu);
  if (!ok) return api->error(C, "getList: index %zu beyond the list's end", i + 1);
  return 0;
}

void th_coord_register(spindle_reg *reg) {
  th_trig_t = th_def_obj_type(reg, "trigger");
  th_chan_t = th_def_obj_type(reg, "channel");
  th_svar_t = th_def_obj_type(reg, "syncvar");
  th_table_t = th_def_obj_type(reg, "atomic_table");
  th_alist_t = th_def_obj_type(reg, "atomic_list");
  static const struct { const char *name; spindle_rawfn fn; } fns[] = {
    {"createTrigger", f_createTrigger}, {"updateTrigger", f_updateTrigger},
    {"chainTrigger", f_chainTrigger}, {"testTrigger", f_testTrigger},
    {"cancelOnTrigger", f_cancelOnTrigger}, {"waitTrigger", f_waitTrigger},
    {"makeChannel", f_makeChannel}, {"sendChannel", f_sendChannel},
    {"receiveChannel", f_receiveChannel}, {"statChannel", f_statChannel},
    {"makeSyncVar", f_makeSyncVar}, {"writeSyncVar", f_writeSyncVar},
    {"readSyncVar", f_readSyncVar}, {"statSyncVar", f_statSyncVar},
    {"updateSyncVar", f_updateSyncVar},
    {"makeAtomicTable", f_makeAtomicTable}, {"putTable", f_putTable},
    {"getTable", f_getTable}, {"inTable", f_inTable},
    {"makeAtomicList", f_makeAtomicList}, {"putList", f_putList}, {"getList", f_getList},
  };
  for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) api->def_raw(reg, fns[i].name, fns[i].fn);
}
