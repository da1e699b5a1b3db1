/* Baselines for "channel ping-pong": one message bounced between two
 * threads,
 *  - pipe_ns: over two pipes (one byte each way);
 *  - condvar_queue_ns: over two mutex+condvar queues of ints.
 * Prints ns per message (one direction). */
#include <pthread.h>
#include <unistd.h>
#include <errno.h>
#include "bench.h"

static long rounds;

/* ---- pipes ---- */
static int ping[2], pong[2];

static void xread(int fd)
{
    char c;
    while (read(fd, &c, 1) != 1)
        if (errno != EINTR)
            bench_fail("read failed");
}

static void xwrite(int fd)
{
    char c = 'x';
    while (write(fd, &c, 1) != 1)
        if (errno != EINTR)
            bench_fail("write failed");
}

static void *pipe_echo(void *arg)
{
    for (long i = 0; i < rounds; i++) {
        xread(ping[0]);
        xwrite(pong[1]);
    }
    return arg;
}

static double pipe_pingpong(void)
{
    pthread_t th;
    double t0, t1;
    if (pipe(ping) || pipe(pong) || pthread_create(&th, NULL, pipe_echo, NULL))
        bench_fail("setup failed");
    t0 = bench_now_ns();
    for (long i = 0; i < rounds; i++) {
        xwrite(ping[1]);
        xread(pong[0]);
    }
    t1 = bench_now_ns();
    pthread_join(th, NULL);
    close(ping[0]); close(ping[1]); close(pong[0]); close(pong[1]);
    return (t1 - t0) / (2.0 * (double)rounds);
}

/* ---- mutex+condvar queues: a ring of ints per direction ---- */
#define QCAP 64
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long items[QCAP];
    int head, count;
} queue;

static queue qa = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0 };
static queue qb = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0 };

static void q_send(queue *q, long v)
{
    pthread_mutex_lock(&q->mu);
    q->items[(q->head + q->count) % QCAP] = v;
    q->count++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static long q_recv(queue *q)
{
    long v;
    pthread_mutex_lock(&q->mu);
    while (q->count == 0)
        pthread_cond_wait(&q->cv, &q->mu);
    v = q->items[q->head];
    q->head = (q->head + 1) % QCAP;
    q->count--;
    pthread_mutex_unlock(&q->mu);
    return v;
}

static void *queue_echo(void *arg)
{
    for (long i = 0; i < rounds; i++)
        q_send(&qb, q_recv(&qa) + 1);
    return arg;
}

static double queue_pingpong(void)
{
    pthread_t th;
    double t0, t1;
    long v = 0;
    if (pthread_create(&th, NULL, queue_echo, NULL))
        bench_fail("setup failed");
    t0 = bench_now_ns();
    for (long i = 0; i < rounds; i++) {
        q_send(&qa, v);
        v = q_recv(&qb);
    }
    t1 = bench_now_ns();
    pthread_join(th, NULL);
    if (v != rounds)
        bench_fail("queue ping-pong lost a message");
    return (t1 - t0) / (2.0 * (double)rounds);
}

int main(int argc, char **argv)
{
    rounds = bench_arg(argc, argv, "n", 100000);
    bench_report("pipe_ns", pipe_pingpong());
    bench_report("condvar_queue_ns", queue_pingpong());
    return 0;
}
