/* tokenizer_tiktoken.c — loading an o200k_base.tiktoken vocabulary.
 *
 * The format is one token per line: the token's bytes in base64, a space, its rank. The file
 * carries no special tokens; the harmony specials are added by name (tokenizer_assemble). The
 * ranks must be exactly 0..199997, each once, so that ids line up with the model's embedding
 * rows; anything else is reported with the line number.
 */
#include "tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes standard padded base64 s[0..n) onto *out; false if it is not valid base64. */
static bool base64_decode(const unsigned char *s, size_t n, struct buf *out)
{
    if (n == 0 || n % 4 != 0)
        return false;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        size_t n_pad = 0;
        for (size_t k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                n_pad++;
            } else {
                if (n_pad)
                    return false; /* data after padding */
                v[k] = base64_value(s[i + k]);
                if (v[k] < 0)
                    return false;
            }
        }
        unsigned triple =
            (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        unsigned char bytes[3] = {(unsigned char)(triple >> 16), (unsigned char)(triple >> 8),
                                  (unsigned char)triple};
        buf_append(out, bytes, 3 - n_pad);
    }
    return true;
}

enum gptoss_status tokenizer_load_tiktoken(struct tokenizer *tok, const char *path)
{
    struct file_map map;
    enum gptoss_status st = file_map_open(path, &map);
    if (st != GPTOSS_OK)
        return st;
    struct buf bytes;
    buf_init(&bytes);
    uint32_t *off = xmalloc(TOKENIZER_N_ORDINARY * sizeof *off);
    uint32_t *len = xmalloc(TOKENIZER_N_ORDINARY * sizeof *len);
    memset(off, 0xFF, TOKENIZER_N_ORDINARY * sizeof *off);

    /* An empty file maps to NULL, and NULL + 0 is undefined behaviour in C. */
    const unsigned char *p = map.data, *end = map.size ? map.data + map.size : map.data;
    size_t line = 0, n_tokens = 0;
    while (p < end) {
        line++;
        const unsigned char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const unsigned char *sp = memchr(p, ' ', (size_t)(eol - p));
        if (eol == p) { /* blank lines (a trailing newline) are allowed */
            p = eol + 1;
            continue;
        }
        if (!sp) {
            st = error_set(GPTOSS_ERR_FORMAT, "%s:%zu: expected \"BASE64 RANK\"", path, line);
            goto done;
        }
        size_t at = bytes.len;
        if (!base64_decode(p, (size_t)(sp - p), &bytes) || bytes.len == at) {
            st = error_set(GPTOSS_ERR_FORMAT, "%s:%zu: invalid base64 token", path, line);
            goto done;
        }
        unsigned long rank = 0;
        const unsigned char *q = sp + 1;
        const unsigned char *rank_end = eol > q && eol[-1] == '\r' ? eol - 1 : eol;
        if (q == rank_end) {
            st = error_set(GPTOSS_ERR_FORMAT, "%s:%zu: missing rank", path, line);
            goto done;
        }
        for (; q < rank_end; q++) {
            if (*q < '0' || *q > '9' || rank > TOKENIZER_N_ORDINARY) {
                st = error_set(GPTOSS_ERR_FORMAT, "%s:%zu: invalid rank", path, line);
                goto done;
            }
            rank = rank * 10 + (unsigned long)(*q - '0');
        }
        if (rank >= TOKENIZER_N_ORDINARY) {
            st = error_set(GPTOSS_ERR_FORMAT, "%s:%zu: rank %lu is outside 0..%u of o200k", path,
                           line, rank, TOKENIZER_N_ORDINARY - 1);
            goto done;
        }
        if (off[rank] != UINT32_MAX) {
            st = error_set(GPTOSS_ERR_FORMAT, "%s:%zu: rank %lu appears twice", path, line, rank);
            goto done;
        }
        off[rank] = (uint32_t)at;
        len[rank] = (uint32_t)(bytes.len - at);
        n_tokens++;
        p = eol + 1;
    }
    if (n_tokens != TOKENIZER_N_ORDINARY) {
        st = error_set(GPTOSS_ERR_FORMAT, "%s: %zu tokens, but o200k has %u", path, n_tokens,
                       TOKENIZER_N_ORDINARY);
        goto done;
    }
    tokenizer_assemble(tok, bytes.data, off, len, NULL);
    st = GPTOSS_OK;
done:
    buf_deinit(&bytes);
    free(off);
    free(len);
    file_map_close(&map);
    return st;
}
