/* check_main.h - what the Check suites here share: main() (run the
 * suite, forking per test, so a crash fails one test, not the program;
 * exit non-zero if any test failed) and the waits of the runtime's
 * suites (a nap, a bounded wait for a counter). */
#ifndef SPINDLE_CHECK_MAIN_H
#define SPINDLE_CHECK_MAIN_H

#include <check.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

static inline void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ; /* EINTR: sleep the rest */
}

/* Wait (bounded, generous: 60 s) until *v >= want. */
static inline int wait_for(_Atomic int *v, int want)
{
    for (int i = 0; i < 60000 && atomic_load(v) < want; i++)
        nap_ms(1);
    return atomic_load(v) >= want;
}

static inline int check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* main() for a file whose suite is built by a function */
#define CHECK_MAIN(suite_fn)                                                 \
    int main(void)                                                           \
    {                                                                        \
        return check_run(suite_fn());                                        \
    }

#endif
