/* xalloc.h - allocations that never return NULL, for the plugins.
 *
 * Where a plugin has no way to report a failed allocation (a table grown
 * deep inside a call, a name copied into a registry), a NULL would be
 * dereferenced a moment later: these report "out of memory" and abort
 * instead, as the interpreter's sl_oom does. Calls that can fail cleanly
 * (a script error, SP_ENOMEM) keep plain malloc and their check. */
#ifndef SPINDLE_PLUGIN_XALLOC_H
#define SPINDLE_PLUGIN_XALLOC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline __attribute__((noreturn)) void th_oom(void)
{
    fputs("spindle: out of memory\n", stderr);
    abort();
}

static inline void *th_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        th_oom();
    return p;
}

static inline void *th_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        th_oom();
    return p;
}

static inline void *th_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        th_oom();
    return q;
}

static inline char *th_xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        th_oom();
    return d;
}

#endif
