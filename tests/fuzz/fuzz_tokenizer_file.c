/* fuzz_tokenizer_file.c — a tokenizer file as gptoss loads one: tokenizer.json (when it starts
 * with '{') or a .tiktoken rank list; an accepted one encodes and decodes a little text. */
#include "fuzz_common.h"

#include "base/buf.h"
#include "base/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    struct tokenizer *tok = NULL;
    if (tokenizer_create(path, &tok) == GPTOSS_OK) {
        static const char text[] = "Hello, world! <|start|>user 123 \xf0\x9f\x98\x80";
        struct idbuf ids;
        struct buf out;
        idbuf_init(&ids);
        buf_init(&out);
        tokenizer_encode(tok, text, sizeof text - 1, true, &ids);
        (void)tokenizer_decode(tok, ids.data, ids.len, false, &out);
        idbuf_deinit(&ids);
        buf_deinit(&out);
        tokenizer_destroy(tok);
    }
    close(fd);
    error_clear();
    return 0;
}
