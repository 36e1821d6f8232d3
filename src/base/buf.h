/* buf.h — growable buffers: bytes (struct buf) and token ids (struct idbuf).
 *
 * Both are caller-embedded: zero-initialise (or *_init), append, then *_deinit. A struct buf's
 * data is kept NUL-terminated once anything has been appended, so it can be used as a C string
 * when it holds text. Growth aborts on exhaustion (xalloc.h): these hold prompts and outputs,
 * not weights.
 */
#ifndef GPTOSS_BASE_BUF_H
#define GPTOSS_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

void buf_init(struct buf *b);
void buf_deinit(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, keeps the memory */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Hands the bytes over to the caller (NUL-terminated, free() them) and empties the buffer. */
char *buf_steal(struct buf *b, size_t *len_out);

struct idbuf {
    uint32_t *data;
    size_t len;
    size_t cap;
};

void idbuf_init(struct idbuf *b);
void idbuf_deinit(struct idbuf *b);
void idbuf_reset(struct idbuf *b);
void idbuf_push(struct idbuf *b, uint32_t id);
void idbuf_append(struct idbuf *b, const uint32_t *ids, size_t n);

#endif
