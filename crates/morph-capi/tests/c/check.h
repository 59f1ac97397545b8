/* Shared by the C tests: CHECK stops the program with the library's last
 * error when a condition fails. */
#ifndef MORPH_TEST_CHECK_H
#define MORPH_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "morph_mem_v2.h"

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n  last error %d: %s\n", __FILE__, \
                    __LINE__, #cond, (int)morph_last_error(), morph_last_error_message()); \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* A call that must return MORPH_OK. */
#define CHECK_OK(call) CHECK((call) == MORPH_OK)

/* A call that must fail with `status`. */
#define CHECK_STATUS(call, status)                                                     \
    do {                                                                               \
        MorphStatus check_got_ = (call);                                               \
        if (check_got_ != (status)) {                                                  \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s\n", __FILE__,     \
                    __LINE__, #call, (int)check_got_, morph_status_message(check_got_), \
                    #status);                                                          \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#endif
