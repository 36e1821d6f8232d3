/* arena.h — a bump allocator for memory that lives exactly as long as one piece of work.
 *
 * A request (an HTTP call, a rendered conversation) allocates everything it needs from its
 * arena and frees it all with one arena_deinit(); no error path needs its own clean-up list.
 * Memory comes in chunks of at least ARENA_CHUNK bytes; allocations are 16-byte aligned.
 * Exhaustion aborts, as for xmalloc: arenas hold request-sized data.
 */
#ifndef GPTOSS_BASE_ARENA_H
#define GPTOSS_BASE_ARENA_H

#include <stddef.h>

#define ARENA_CHUNK 16384

struct arena_chunk;

struct arena {
    struct arena_chunk *head; /* newest chunk first */
    size_t used;              /* bytes used in head */
};

void arena_init(struct arena *a);
void arena_deinit(struct arena *a); /* frees every chunk; the arena may be reused after */
void *arena_alloc(struct arena *a, size_t n);
void *arena_calloc(struct arena *a, size_t count, size_t size);
char *arena_strdup(struct arena *a, const char *s);
char *arena_memdup0(struct arena *a, const void *p, size_t n); /* NUL-terminated copy */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
