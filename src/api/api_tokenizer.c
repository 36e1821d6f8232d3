/* api_tokenizer.c — the public tokenizer API (gptoss_tokenizer_*) over src/tokenizer.
 *
 * struct gptoss_tokenizer is the internal struct tokenizer under its public name; the wrappers
 * only convert between the public calling convention (malloc'd *_out arrays, gptoss_free) and
 * the layer's buffers.
 */
#include "api_internal.h"

#include <stdlib.h>

struct gptoss_tokenizer {
    struct tokenizer *tok;
};

GPTOSS_API void gptoss_free(void *ptr)
{
    free(ptr);
}

GPTOSS_API const char *gptoss_version(void)
{
    return GPTOSS_VERSION_STRING;
}

const struct tokenizer *api_tokenizer_inner(const struct gptoss_tokenizer *t)
{
    return t->tok;
}

GPTOSS_API enum gptoss_status gptoss_tokenizer_create(const char *path,
                                                      struct gptoss_tokenizer **tokenizer_out)
{
    *tokenizer_out = NULL;
    if (!path)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "no tokenizer path given");
    struct tokenizer *tok;
    enum gptoss_status st = tokenizer_create(path, &tok);
    if (st != GPTOSS_OK)
        return st;
    struct gptoss_tokenizer *t = xmalloc(sizeof *t);
    t->tok = tok;
    *tokenizer_out = t;
    return GPTOSS_OK;
}

GPTOSS_API void gptoss_tokenizer_destroy(struct gptoss_tokenizer *tokenizer)
{
    if (!tokenizer)
        return;
    tokenizer_destroy(tokenizer->tok);
    free(tokenizer);
}

GPTOSS_API uint32_t gptoss_tokenizer_n_vocab(const struct gptoss_tokenizer *tokenizer)
{
    (void)tokenizer;
    return TOKENIZER_N_VOCAB;
}

GPTOSS_API enum gptoss_status gptoss_tokenizer_encode(const struct gptoss_tokenizer *tokenizer,
                                                      const char *text, size_t len,
                                                      bool allow_special, uint32_t **ids_out,
                                                      size_t *n_ids_out)
{
    struct idbuf ids;
    idbuf_init(&ids);
    tokenizer_encode(tokenizer->tok, text, len, allow_special, &ids);
    *ids_out = ids.data;
    *n_ids_out = ids.len;
    return GPTOSS_OK;
}

GPTOSS_API enum gptoss_status gptoss_tokenizer_decode(const struct gptoss_tokenizer *tokenizer,
                                                      const uint32_t *ids, size_t n_ids,
                                                      char **text_out, size_t *len_out)
{
    *text_out = NULL;
    *len_out = 0;
    struct buf text;
    buf_init(&text);
    enum gptoss_status st = tokenizer_decode(tokenizer->tok, ids, n_ids, false, &text);
    if (st != GPTOSS_OK) {
        buf_deinit(&text);
        return st;
    }
    *text_out = buf_steal(&text, len_out);
    return GPTOSS_OK;
}

GPTOSS_API enum gptoss_status gptoss_tokenizer_write_json(const struct gptoss_tokenizer *tokenizer,
                                                          const char *path)
{
    return tokenizer_write_json(tokenizer->tok, path);
}
