/* tokenizer_stream.c — incremental decoding of generated ids into always-valid UTF-8.
 *
 * A character may be split across tokens (most CJK characters and emoji are, in o200k), so the
 * bytes of an incomplete sequence at the end of a token wait in s->pending for the next one.
 * Ill-formed bytes are replaced with U+FFFD one maximal subpart at a time, the rule Python's
 * errors="replace" and Rust's from_utf8_lossy use, so streamed text equals a whole decode.
 */
#include "tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

void tokenizer_stream_init(struct tokenizer_stream *s, const struct tokenizer *tok,
                           bool skip_special)
{
    s->tok = tok;
    s->skip_special = skip_special;
    s->n_pending = 0;
}

void tokenizer_stream_flush(struct tokenizer_stream *s, struct buf *out)
{
    if (s->n_pending)
        buf_append(out, UTF8_REPLACEMENT, 3);
    s->n_pending = 0;
}

static void tokenizer_stream_feed(struct tokenizer_stream *s, const char *bytes, size_t n,
                                  struct buf *out)
{
    unsigned char local[256];
    size_t total = s->n_pending + n;
    unsigned char *data = total <= sizeof local ? local : xmalloc(total);
    memcpy(data, s->pending, s->n_pending);
    memcpy(data + s->n_pending, bytes, n);
    s->n_pending = 0;
    size_t i = 0;
    while (i < total) {
        size_t valid = utf8_valid_prefix(data + i, total - i);
        buf_append(out, data + i, valid);
        i += valid;
        if (i == total)
            break;
        uint32_t cp;
        int k = utf8_next(data + i, total - i, &cp);
        if (k == 0) {
            /* An incomplete sequence is at most 3 bytes: hold it for the next token. */
            s->n_pending = total - i;
            memcpy(s->pending, data + i, s->n_pending);
            break;
        }
        buf_append(out, UTF8_REPLACEMENT, 3);
        i += (size_t)-k;
    }
    if (data != local)
        free(data);
}

void tokenizer_stream_push(struct tokenizer_stream *s, uint32_t id, struct buf *out)
{
    if (id >= TOKENIZER_N_VOCAB) {
        tokenizer_stream_flush(s, out);
        buf_append(out, UTF8_REPLACEMENT, 3);
        return;
    }
    size_t len;
    const char *bytes = tokenizer_token_bytes(s->tok, id, &len);
    if (tokenizer_is_special(id)) {
        tokenizer_stream_flush(s, out);
        if (!s->skip_special)
            buf_append(out, bytes, len);
        return;
    }
    tokenizer_stream_feed(s, bytes, len, out);
}
