/*
 * signals.c - process signals (SIGINT, SIGTERM) and error names.
 *
 * One thread takes both signals with sigwait, so no async-signal-safety
 * rules constrain the policy: it may lock, allocate and call the runtime.
 * The default policy starts an orderly shutdown on a helper thread (so
 * that the signal thread stays free to notice a second signal, which
 * ends the process at once).
 */
#include "internal.h"

#include <stdlib.h>
#include <unistd.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static sp_signal_fn g_fn;
static void *g_ud;
static int g_started, g_count;

static void *shutdown_main(void *arg)
{
    int sig = (int)(intptr_t)arg;
    sp_shutdown();
    exit(128 + sig);
}

static void default_policy(int sig, int count, void *ud)
{
    (void)ud;
    if (count > 1)
        _exit(128 + sig);
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &a, shutdown_main, (void *)(intptr_t)sig) != 0)
        _exit(128 + sig);
    pthread_attr_destroy(&a);
}

static void *signal_main(void *arg)
{
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0)
            continue;
        pthread_mutex_lock(&g_lock);
        int count = ++g_count;
        sp_signal_fn fn = g_fn;
        void *ud = g_ud;
        pthread_mutex_unlock(&g_lock);
        fn(sig, count, ud);
    }
    return NULL;
}

int sp_signals_install(sp_signal_fn fn, void *ud)
{
    if (!fn)
        return SP_EINVAL;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_mutex_lock(&g_lock);
    g_fn = fn;
    g_ud = ud;
    int rc = 0;
    if (!g_started) {
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, signal_main, NULL) == 0)
            g_started = 1;
        else
            rc = SP_ENOMEM;
        pthread_attr_destroy(&a);
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

int sp_signals_default(void)
{
    return sp_signals_install(default_policy, NULL);
}

const char *sp_strerror(int code)
{
    switch (code) {
    case SP_OK: return "success";
    case SP_EINVAL: return "invalid argument";
    case SP_ENOMEM: return "out of memory";
    case SP_ECANCELED: return "job cancelled";
    case SP_EFAILED: return "job failed";
    case SP_ECLOSED: return "pool closed or shutting down";
    case SP_EBUSY: return "job already started or finished";
    case SP_ESTATE: return "not valid in this state";
    case SP_ENOTJOB: return "only valid inside a job";
    case SP_ESYS: return "system call failed";
    case SP_EDEADLK: return "deadlock: the wait could never end";
    case SP_EINTR: return "wait interrupted";
    default: return "unknown error";
    }
}
