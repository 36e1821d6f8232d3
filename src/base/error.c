/* error.c — the per-thread error message behind error.h and gptoss_last_error(). */
#include "error.h"

#include <stdarg.h>
#include <string.h>

#define ERROR_MAX 1024

static _Thread_local char error_buf[ERROR_MAX];

enum gptoss_status error_set(enum gptoss_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_buf, sizeof error_buf, fmt, ap);
    va_end(ap);
    return status;
}

enum gptoss_status error_wrap(enum gptoss_status status, const char *fmt, ...)
{
    char old[ERROR_MAX];
    memcpy(old, error_buf, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(error_buf, sizeof error_buf, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof error_buf)
        snprintf(error_buf + n, sizeof error_buf - (size_t)n, "%s", old);
    return status;
}

const char *error_message(void)
{
    return error_buf;
}

void error_clear(void)
{
    error_buf[0] = '\0';
}

GPTOSS_API const char *gptoss_last_error(void)
{
    return error_buf;
}

GPTOSS_API const char *gptoss_status_string(enum gptoss_status status)
{
    switch (status) {
    case GPTOSS_OK: return "ok";
    case GPTOSS_ERR_INVALID_ARGUMENT: return "invalid argument";
    case GPTOSS_ERR_IO: return "i/o error";
    case GPTOSS_ERR_FORMAT: return "bad file format";
    case GPTOSS_ERR_UNSUPPORTED: return "unsupported";
    case GPTOSS_ERR_NOMEM: return "out of memory";
    case GPTOSS_ERR_INTERNAL: return "internal error";
    case GPTOSS_AGAIN: return "try again";
    }
    return "unknown status";
}
