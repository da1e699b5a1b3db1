/* threads_shared.c: the rest of Singular's shared objects -- names as
 * identities, regions with their shared tables and lists, region locks,
 * and the lookup by name (findSharedObject, bindSharedObject,
 * typeSharedObject).
 *
 * Names. makeChannel("x") (and makeSyncVar, makeAtomicTable,
 * makeAtomicList, makeRegion) called twice, in any job or thread, returns
 * the one object named "x": that is how Singular's threads find each
 * other's objects. The registry keeps a reference to every named object
 * for the life of the process (as Singular does). A name held by an
 * object of another type is an error (Singular crashes there). Without a
 * name, channels, syncvars and atomic tables and lists are anonymous, new
 * each time (a spindle extension); a region always has a name, so it and
 * its tables (which it keeps, as Singular does: a proc that makes the
 * table "globals" of a region again finds what was put there before)
 * live as long as the process.
 *
 * Regions. A region's lock is a channel holding one token: lockRegion
 * receives it (a job waiting for the lock is suspended, its worker runs
 * others), unlockRegion sends it back. The region records who holds it:
 * the job (sp_job_current) or, outside jobs, the plain thread. Shared
 * tables and lists live in their region's own namespace and may be used
 * only by the holder of its lock ("region not acquired" otherwise).
 * regionLock(r) locks and returns a `regionlock`; when the last copy of
 * it goes (a local at the end of its proc) the region is unlocked. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "threads.h"
#include "xalloc.h"

int th_region_t, th_rlock_t, th_stable_t, th_slist_t;


const char *th_obj_type_name(int type) {
  return type == th_chan_t     ? "channel"
         : type == th_svar_t   ? "syncvar"
         : type == th_table_t  ? "atomic_table"
         : type == th_alist_t  ? "atomic_list"
         : type == th_region_t ? "region"
         : type == th_stable_t ? "shared_table"
         : type == th_slist_t  ? "shared_list"
         : type == th_rlock_t  ? "regionlock"
         : type == th_trig_t   ? "trigger"
                               : "shared object";
}

/* ---- names ------------------------------------------------------------------ */

/* a namespace: the process's, or a region's (for its tables and lists) */
typedef struct th_names { char **names; th_obj **objs; size_t n, cap; } th_names;

static pthread_mutex_t names_mu = PTHREAD_MUTEX_INITIALIZER;
static th_names global_names;

static th_obj *names_find(th_names *ns, const char *name) {
  for (size_t i = 0; i < ns->n; i++)
    if (!strcmp(ns->names[i], name)) return ns->objs[i];
  return NULL;
}

static void names_add(th_names *ns, const char *name, th_obj *o) {
  if (ns->n == ns->cap) {
    ns->cap = ns->cap ? 2 * ns->cap : 16;
    ns->names = th_xrealloc(ns->names, ns->cap * sizeof *ns->names);
    ns->objs = th_xrealloc(ns->objs, ns->cap * sizeof *ns->objs);
  }
  ns->names[ns->n] = th_xstrdup(name);
  ns->objs[ns->n++] = o;
}

/* the object of that name and type in ns (a new reference in *ret), made
 * by make(ud) the first time; mu guards ns */
static int named_in(spindle_ctx *C, const char *who, th_names *ns, pthread_mutex_t *mu, int type,
                    const char *name, th_obj *(*make)(void *ud), void *ud, spindle_value *ret) {
  pthread_mutex_lock(mu);
  th_obj *o = names_find(ns, name);
  if (o && o->type != type) {
    pthread_mutex_unlock(mu);
    return api->error(C, "%s: the name \"%s\" is taken by a %s", who, name, th_obj_type_name(o->type));
  }
  if (!o) {
    o = make(ud);
    if (o) names_add(ns, name, o);   /* the namespace's reference */
  }
  if (o) *ret = th_obj_value(o);
  pthread_mutex_unlock(mu);
  return o ? 0 : api->error(C, "%s: out of memory", who);
}

int th_named(spindle_ctx *C, const char *who, int type, const char *name, th_obj *(*make)(void *ud), void *ud,
             spindle_value *ret) {
  return named_in(C, who, &global_names, &names_mu, type, name, make, ud, ret);
}

static int name_arg(spindle_ctx *C, const char *who, int argc, spindle_value *argv, const char **name) {
  if (argc != 1) return th_counterr(C, who, argc, "1 argument (string name)");
  if (argv[0].type != SPINDLE_T_STRING) return th_argerr(C, who, 1, "string", argv[0]);
  *name = api->string_ptr(argv[0], NULL);
  return 0;
}

static th_obj *lookup(const char *name) {
  pthread_mutex_lock(&names_mu);
  th_obj *o = names_find(&global_names, name);
  pthread_mutex_unlock(&names_mu);
  return o;
}

static int f_findSharedObject(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  const char *name;
  if (name_arg(C, "findSharedObject", argc, argv, &name) < 0) return -1;
  *ret = api->make_int(lookup(name) != NULL);
  return 0;
}

static int f_typeSharedObject(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  const char *name;
  if (name_arg(C, "typeSharedObject", argc, argv, &name) < 0) return -1;
  th_obj *o = lookup(name);
  const char *t = o ? th_obj_type_name(o->type) : "undefined";
  *ret = api->make_string(t, strlen(t));
  return 0;
}

static int f_bindSharedObject(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  const char *name;
  if (name_arg(C, "bindSharedObject", argc, argv, &name) < 0) return -1;
  th_obj *o = lookup(name);   /* named objects are never freed */
  if (!o) return api->error(C, "bindSharedObject: no shared object named \"%s\"", name);
  *ret = th_obj_value(o);
  return 0;
}

/* ---- regions ------------------------------------------------------------------ */

/* who holds a lock: the job, or outside jobs the plain thread */
static void *holder(void) {
  static __thread char thread_anchor;
  sp_job *j = sp_job_current();
  return j ? (void *)j : (void *)&thread_anchor;
}

typedef struct th_region {
  sp_chan *token;         /* one token while unlocked */
  void *owner;            /* holder(), or NULL (under the object's mu) */
  th_names names;         /* its shared tables and lists */
} th_region;

static th_region *region_of(th_obj *o) { return o->p; }

static th_obj *region_make(void *ud) {
  (void)ud;
  th_region *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->token = th_tokens(1);
  if (!r->token) { free(r); return NULL; }
  return th_obj_new(th_region_t, r, NULL);
}

static int f_makeRegion(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  const char *name;
  if (name_arg(C, "makeRegion", argc, argv, &name) < 0) return -1;
  if (th_named(C, "makeRegion", th_region_t, name, region_make, NULL, ret) < 0) return -1;
  th_obj *o = api->user_ptr(*ret, th_region_t);
  pthread_mutex_lock(&o->mu);
  if (!o->name) o->name = strdup(name);
  pthread_mutex_unlock(&o->mu);
  return 0;
}

static th_obj *region_arg(spindle_ctx *C, const char *who, int argc, spindle_value *argv, int want) {
  if (argc != want) {
    th_counterr(C, who, argc, want == 1 ? "1 argument (region)" : "2 arguments (region, string name)");
    return NULL;
  }
  th_obj *o = api->user_ptr(argv[0], th_region_t);
  if (!o) th_argerr(C, who, 1, "region", argv[0]);
  return o;
}

static const char *oname(th_obj *o) { return o->name ? o->name : ""; }

/* take the region's lock for holder() */
static int region_lock(spindle_ctx *C, const char *who, th_obj *o) {
  th_region *r = region_of(o);
  void *me = holder();
  pthread_mutex_lock(&o->mu);
  int mine = r->owner == me;
  pthread_mutex_unlock(&o->mu);
  if (mine) return api->error(C, "%s: region \"%s\" is already locked by this thread", who, oname(o));
  void *tok;
  int rc = sp_chan_recv(r->token, &tok);
  if (rc == SP_ECANCELED) return api->error(C, "cancelled");
  if (rc < 0) return th_rterr(C, who, rc);
  pthread_mutex_lock(&o->mu);
  r->owner = me;
  pthread_mutex_unlock(&o->mu);
  return 0;
}

static void region_unlock(th_obj *o) {
  th_region *r = region_of(o);
  pthread_mutex_lock(&o->mu);
  r->owner = NULL;
  pthread_mutex_unlock(&o->mu);
  sp_chan_send(r->token, TH_TOKEN);
}

static int f_lockRegion(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_obj *o = region_arg(C, "lockRegion", argc, argv, 1);
  if (!o || region_lock(C, "lockRegion", o) < 0) return -1;
  *ret = api->none();
  return 0;
}

static int f_unlockRegion(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_obj *o = region_arg(C, "unlockRegion", argc, argv, 1);
  if (!o) return -1;
  pthread_mutex_lock(&o->mu);
  int mine = region_of(o)->owner == holder();
  pthread_mutex_unlock(&o->mu);
  if (!mine) return api->error(C, "unlockRegion: region \"%s\" is not locked by this thread", oname(o));
  region_unlock(o);
  *ret = api->none();
  return 0;
}

/* regionLock(r): a regionlock holding r; the last copy unlocks it */
static int f_regionLock(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  th_obj *o = region_arg(C, "regionLock", argc, argv, 1);
  if (!o || region_lock(C, "regionLock", o) < 0) return -1;
  th_obj *lk = th_obj_new(th_rlock_t, o, o->name);   /* regions live for ever */
  if (!lk) { region_unlock(o); return api->error(C, "regionLock: out of memory"); }
  lk->owner = holder();
  *ret = api->make_user(th_rlock_t, lk);
  return 0;
}

/* the last copy of a regionlock went: unlock, unless the holder already
 * did (unlockRegion) and the region is someone else's now */
void th_rlock_free(th_obj *lk) {
  th_obj *o = lk->p;
  pthread_mutex_lock(&o->mu);
  int held = region_of(o)->owner == lk->owner;
  pthread_mutex_unlock(&o->mu);
  if (held) region_unlock(o);
}

/* ---- shared tables and lists ---------------------------------------------------- */

static th_obj *shared_make(void *ud) {
  int *type = ud;
  return th_obj_new(*type, NULL, NULL);
}

static int make_shared(spindle_ctx *C, const char *who, int type, int argc, spindle_value *argv,
                       spindle_value *ret) {
  th_obj *o = region_arg(C, who, argc, argv, 2);
  if (!o) return -1;
  if (argv[1].type != SPINDLE_T_STRING) return th_argerr(C, who, 2, "string", argv[1]);
  const char *name = api->string_ptr(argv[1], NULL);
  if (named_in(C, who, &region_of(o)->names, &o->mu, type, name, shared_make, &type, ret) < 0) return -1;
  th_obj *s = api->user_ptr(*ret, type);
  pthread_mutex_lock(&o->mu);
  if (!s->name) s->name = strdup(name);
  if (!s->p) s->p = o;   /* its region: regions live for ever */
  pthread_mutex_unlock(&o->mu);
  return 0;
}

static int f_makeSharedTable(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return make_shared(C, "makeSharedTable", th_stable_t, argc, argv, ret);
}

static int f_makeSharedList(spindle_ctx *C, int argc, spindle_value *argv, spindle_value *ret) {
  return make_shared(C, "makeSharedList", th_slist_t, argc, argv, ret);
}

/* a shared table or list may be used only by the holder of its region */
int th_shared_usable(spindle_ctx *C, const char *who, th_obj *o) {
  if (o->type != th_stable_t && o->type != th_slist_t) return 0;
  th_obj *reg = o->p;
  pthread_mutex_lock(&reg->mu);
  int mine = region_of(reg)->owner == holder();
  pthread_mutex_unlock(&reg->mu);
  if (mine) return 0;
  return api->error(C, "%s: region \"%s\" not acquired (lock it with lockRegion or regionLock)", who, oname(reg));
}

void th_shared_register(spindle_reg *reg) {
  th_region_t = th_def_obj_type(reg, "region");
  th_rlock_t = th_def_obj_type(reg, "regionlock");
  th_stable_t = th_def_obj_type(reg, "shared_table");
  th_slist_t = th_def_obj_type(reg, "shared_list");
  static const struct { const char *name; spindle_rawfn fn; } fns[] = {
    {"findSharedObject", f_findSharedObject}, {"typeSharedObject", f_typeSharedObject},
    {"bindSharedObject", f_bindSharedObject}, {"makeRegion", f_makeRegion},
    {"lockRegion", f_lockRegion}, {"unlockRegion", f_unlockRegion}, {"regionLock", f_regionLock},
    {"makeSharedTable", f_makeSharedTable}, {"makeSharedList", f_makeSharedList},
  };
  for (size_t i = 0; i < sizeof fns / sizeof *fns; i++) api->def_raw(reg, fns[i].name, fns[i].fn);
}
