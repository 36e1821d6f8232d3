/* buf.c — growable byte and id buffers (see buf.h). */
#include "buf.h"

#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_deinit(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_reserve(struct buf *b, size_t extra)
{
    /* +1 keeps room for the terminating NUL. */
    b->data = xgrow(b->data, &b->cap, b->len + extra + 1, 1);
}

void buf_append(struct buf *b, const void *data, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_putc(struct buf *b, char c)
{
    buf_append(b, &c, 1);
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *buf_steal(struct buf *b, size_t *len_out)
{
    if (!b->data)
        buf_reserve(b, 0), b->data[0] = '\0';
    char *p = b->data;
    if (len_out)
        *len_out = b->len;
    buf_init(b);
    return p;
}

void idbuf_init(struct idbuf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void idbuf_deinit(struct idbuf *b)
{
    free(b->data);
    idbuf_init(b);
}

void idbuf_reset(struct idbuf *b)
{
    b->len = 0;
}

void idbuf_push(struct idbuf *b, uint32_t id)
{
    if (b->len == b->cap)
        b->data = xgrow(b->data, &b->cap, b->len + 1, sizeof *b->data);
    b->data[b->len++] = id;
}

void idbuf_append(struct idbuf *b, const uint32_t *ids, size_t n)
{
    b->data = xgrow(b->data, &b->cap, b->len + n, sizeof *b->data);
    if (n)
        memcpy(b->data + b->len, ids, n * sizeof *ids);
    b->len += n;
}
