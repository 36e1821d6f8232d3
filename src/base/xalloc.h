/* xalloc.h — allocation of small objects, which aborts when memory is exhausted.
 *
 * Running out of memory for a few hundred bytes leaves nothing sensible to do (redis, h2o make
 * the same choice); large buffers such as weights and the KV cache use plain malloc/mmap and
 * return GPTOSS_ERR_NOMEM instead.
 */
#ifndef GPTOSS_BASE_XALLOC_H
#define GPTOSS_BASE_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t n);
/* Grows an array of `*cap` elements of `size` bytes to hold at least `need`, doubling. */
void *xgrow(void *ptr, size_t *cap, size_t need, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Copies n bytes into a fresh NUL-terminated buffer. */
char *xmemdup0(const void *p, size_t n);

#endif
