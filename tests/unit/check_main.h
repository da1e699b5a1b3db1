/* check_main.h - what every Check suite's main() here shares: run the
 * suite (forking per test, so a crash fails one test, not the program),
 * and exit non-zero if any test failed. */
#ifndef SPINDLE_CHECK_MAIN_H
#define SPINDLE_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

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
