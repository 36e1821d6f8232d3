/* log.c — leveled logging to stderr with a timestamp (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level log_min_level = LOG_LEVEL_INFO;

void log_set_level(enum log_level level)
{
    log_min_level = level;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < log_min_level)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[2048];
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %-5s ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, names[level]);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int len = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* A longer line (a logged prompt) is written whole, in one call, so that lines from other
     * threads do not land inside it. */
    char *big = len > 0 && (size_t)len >= sizeof line - (size_t)n
                    ? malloc((size_t)n + (size_t)len + 2)
                    : NULL;
    if (big) {
        memcpy(big, line, (size_t)n);
        vsnprintf(big + n, (size_t)len + 1, fmt, again);
        big[n + len] = '\n';
        fwrite(big, 1, (size_t)n + (size_t)len + 1, stderr);
        free(big);
    } else {
        fprintf(stderr, "%s\n", line);
    }
    va_end(again);
}
