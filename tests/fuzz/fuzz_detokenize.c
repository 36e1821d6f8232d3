/* fuzz_detokenize.c — arbitrary token ids (some outside the vocabulary) through the whole-text
 * decoder and the streaming one; the stream's output must always be valid UTF-8. */
#include "fuzz_common.h"

#include "base/buf.h"
#include "base/error.h"
#include "base/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct tokenizer *tok = fuzz_tokenizer();
    static uint32_t ids[4096];
    size_t n = fuzz_ids(data, size, ids, sizeof ids / sizeof ids[0]);
    struct buf out;
    buf_init(&out);
    (void)tokenizer_decode(tok, ids, n, size % 2, &out);
    buf_deinit(&out);
    for (int skip = 0; skip <= 1; skip++) {
        struct tokenizer_stream s;
        struct buf text;
        buf_init(&text);
        tokenizer_stream_init(&s, tok, skip);
        for (size_t i = 0; i < n; i++)
            if (ids[i] < TOKENIZER_N_VOCAB)
                tokenizer_stream_push(&s, ids[i], &text);
        tokenizer_stream_flush(&s, &text);
        if (!utf8_is_valid((const unsigned char *)text.data, text.len))
            abort();
        buf_deinit(&text);
    }
    error_clear();
    return 0;
}
