/* cluster.h: what the cluster plugin (cluster.so, the only part of
 * spindle that links MPI) offers the threads plugin, as the plugin
 * service "spindle.cluster" (api->provide / api->service). Private to
 * plugin/: both plugins are built from this tree.
 *
 * A cluster pool is a threads-plugin pool (th_pool) on rank 0 whose jobs
 * first take a slot: a free worker on some rank. A rank-0 slot means the
 * job runs here, as in any pool; another rank's slot means the job's proc
 * and arguments are sent there and the job's fiber waits for the result.
 * Coordination (dependencies, triggers, waits, priorities) is the rank-0
 * pool's, unchanged. */
#ifndef CLUSTER_H
#define CLUSTER_H

#include "plugin.h"
#include "spindle.h"

#define CL_SERVICE "spindle.cluster"

typedef struct cl_pool cl_pool;

typedef struct spindle_cluster {
  int size;                    /* ranks (> 1: the plugin is only provided then) */
  int (*cores)(int rank);      /* a rank's cores (-1: all ranks together) */
  /* a pool with w[r] workers on rank r; NULL with a message in err */
  cl_pool *(*pool_new)(const int *w, unsigned slice_us, char *err, size_t errlen);
  /* the workers rank 0's runtime pool needs (its slots, plus one that
   * sends jobs to the other ranks) */
  int (*local_threads)(cl_pool *cp);
  /* rank 0's runtime pool of the cluster pool, once made (its idle
   * workers, and threads waiting for its jobs, poll MPI themselves) */
  void (*attach)(cl_pool *cp, sp_pool *rp);
  int (*workers)(cl_pool *cp, int rank);        /* -1: all ranks */
  int (*set_workers)(cl_pool *cp, const int *w);
  /* the other ranks stop its jobs; jobs still waiting unstarted in the
   * line (admit) end cancelled: their number */
  int (*pool_close)(cl_pool *cp);
  /* On the job's fiber. prepare: encode a job (fn and arguments) for
   * another rank: a message, or NULL with api->error set on C (an
   * argument that cannot cross). acquire: wait for a slot, in priority
   * order; the rank (0: run the job here, then call done(cp, 0, its run
   * time)), or -1 when the job was cancelled meanwhile. run:
   * send the message to rank (> 0, from acquire; the slot is given back
   * when that rank reports the job's end) and wait: 0 with *ret, or -1
   * with api->error set on C (the job's error, naming the rank; or
   * "cancelled"). run and discard free the message. */
  void *(*prepare)(cl_pool *cp, spindle_ctx *C, const char *name, spindle_value fn, int argc, const spindle_value *argv);
  int (*acquire)(cl_pool *cp, int prio);
  /* startJob of job on the pool, before sp_job_start: 1 when the caller
   * starts it now (a slot is reserved for it, which its acquire takes),
   * 0 when every slot is taken: the job waits unstarted (no fiber) in the
   * pool's line, and is started on the attached runtime pool when a slot
   * is handed to it. A job that ends without running gives its
   * reservation back (an end hook). */
  int (*admit)(cl_pool *cp, sp_job *job, int prio);
  void (*done)(cl_pool *cp, int rank, uint64_t busy_us);   /* a job ran here */
  void (*giveback)(cl_pool *cp, int rank);     /* a slot not used after all */
  int (*run)(cl_pool *cp, int rank, void *msg, spindle_ctx *C, spindle_value *ret);
  /* run without waiting: the job (sp_job_current) is detached
   * (sp_job_detach) and sent; 1, and whoever receives the rank's report
   * (the comm thread, or a pool poller) completes the job (a result as
   * box(value), released with unbox when the job was ended meanwhile),
   * or -1 with api->error set on C (nothing sent, not detached). Frees
   * msg. */
  int (*run_detached)(cl_pool *cp, int rank, void *msg, spindle_ctx *C, void *(*box)(spindle_value),
                      void (*unbox)(void *));
  void (*discard)(void *msg);
  /* per-rank counters of the pool as a list of strings */
  spindle_value (*stats)(cl_pool *cp);
} spindle_cluster;

#endif
