/* prog.c: a C program built out of tree against an installed libspindle
 * with `pkg-config --cflags --libs spindle` (tests/install/outoftree.sh):
 * fork-join over a 2-worker pool, checked against the serial answer. */
#include <stdint.h>
#include <stdio.h>
#include <spindle.h>

static long fib(long n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static void *pfib(void *arg) {
  intptr_t n = (intptr_t)arg;
  if (n < 15) return (void *)(intptr_t)fib(n);
  sp_job *a = sp_job_create(pfib, (void *)(n - 1));
  sp_job_start(sp_pool_current(), 0, a);
  intptr_t b = (intptr_t)pfib((void *)(n - 2));
  intptr_t r = (intptr_t)sp_job_wait(a) + b;   /* suspends this fiber only */
  sp_job_release(a);
  return (void *)r;
}

int main(void) {
  sp_pool *pool = sp_pool_create(2);
  if (!pool) { fputs("prog: sp_pool_create failed\n", stderr); return 1; }
  sp_job *job = sp_job_create(pfib, (void *)(intptr_t)25);
  int rc = sp_job_start(pool, 0, job);
  if (rc < 0) { fprintf(stderr, "prog: sp_job_start: %s\n", sp_strerror(rc)); return 1; }
  intptr_t r = (intptr_t)sp_job_wait(job);
  sp_job_release(job);
  sp_pool_close(pool, 1);
  printf("fib(25) = %ld on %s\n", (long)r, r == fib(25) ? "2 workers, right" : "2 workers, WRONG");
  return r == fib(25) ? 0 : 1;
}
