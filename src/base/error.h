/* error.h — recoverable errors: a status code plus a one-line message per thread.
 *
 * Functions that can fail return enum gptoss_status. The code that detects the failure records
 * why with error_set() (which returns the status, so `return error_set(...)` reads naturally);
 * callers further up may prepend context with error_wrap(). Nothing below apps/ prints errors:
 * the top level reads error_message() and decides. Programmer errors use GPTOSS_ASSERT.
 */
#ifndef GPTOSS_BASE_ERROR_H
#define GPTOSS_BASE_ERROR_H

#include "gptoss.h"

#include <stdio.h>
#include <stdlib.h>

/* Records a printf-style message for the current thread and returns `status`. */
enum gptoss_status error_set(enum gptoss_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes the current message with a printf-style context ("tokenizer.json: " + old) and
 * returns `status`. */
enum gptoss_status error_wrap(enum gptoss_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The current thread's last message, "" if none. Valid until the next error_set/wrap/clear. */
const char *error_message(void);

void error_clear(void);

/* Aborts with file:line on a broken invariant. Kept in release builds: these are cheap checks
 * whose failure means memory is already wrong. */
#define GPTOSS_ASSERT(cond)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
