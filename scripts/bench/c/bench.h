/* bench.h: helpers shared by the benchmark programs of scripts/bench/c/.
 *
 * Every program does one measurement per run and prints one line per
 * figure, "key value", on stdout; scripts/bench/run repeats the program and
 * takes medians.  Nothing here is part of the spindle library. */
#ifndef SP_BENCH_H
#define SP_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline void bench_report(const char *key, double value)
{
    printf("%s %.6g\n", key, value);
    fflush(stdout);
}

/* Value of "-NAME N" on the command line, or dflt. */
static inline long bench_arg(int argc, char **argv, const char *name, long dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (argv[i][0] == '-' && strcmp(argv[i] + 1, name) == 0)
            return strtol(argv[i + 1], NULL, 10);
    return dflt;
}

static inline void bench_fail(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

/* Resident set size of this process now, and its peak, in bytes
 * (from /proc/self/status; 0 when unreadable). */
static inline double bench_rss_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = 0;
    size_t n = strlen(field);
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            kib = strtod(line + n + 1, NULL);
    fclose(f);
    return kib * 1024.0;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of v[0..n-1]; sorts v. */
static inline double bench_quantile(double *v, size_t n, double q)
{
    size_t i;
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, bench_cmp_double);
    i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* Keeps a computed value alive so the compiler cannot drop its work. */
static inline void bench_keep(long v)
{
    __asm__ volatile("" : : "r"(v) : "memory");
}

#endif
