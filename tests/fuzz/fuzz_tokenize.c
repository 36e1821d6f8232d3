/* fuzz_tokenize.c — the real tokenizer on arbitrary bytes (with and without special tokens),
 * and the ids it gives decoded back: encoding is lossless, so decoding must give the bytes
 * back exactly when no specials were allowed. */
#include "fuzz_common.h"

#include "base/buf.h"
#include "base/error.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct tokenizer *tok = fuzz_tokenizer();
    for (int special = 0; special <= 1; special++) {
        struct idbuf ids;
        struct buf out;
        idbuf_init(&ids);
        buf_init(&out);
        tokenizer_encode(tok, (const char *)data, size, special, &ids);
        if (tokenizer_decode(tok, ids.data, ids.len, false, &out) != GPTOSS_OK)
            abort();
        /* Without specials encoding is lossless. (With them HF's alias <|endofprompt|>
         * comes back under harmony's name for the same id.) */
        if (!special && (out.len != size || (size && memcmp(out.data, data, size) != 0)))
            abort();
        idbuf_deinit(&ids);
        buf_deinit(&out);
    }
    error_clear();
    return 0;
}
