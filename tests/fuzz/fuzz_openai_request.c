/* fuzz_openai_request.c — a request body, as the server receives it: JSON parsing (duplicate
 * keys refused, as server.c does), the sampling and output fields for both APIs, the chat's
 * messages and tools, and rendering the chat into a harmony prompt. */
#include "fuzz_common.h"

#include "base/arena.h"
#include "base/buf.h"
#include "base/error.h"
#include "server/openai_chat.h"
#include "server/openai_params.h"

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct tokenizer *tok = fuzz_tokenizer();
    json_error_t jerr;
    json_t *req = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!req)
        return 0;
    struct openai_limits limits = {.max_n = 16, .max_stop = 4, .n_vocab = TOKENIZER_N_VOCAB};
    for (int api = OPENAI_API_CHAT; api <= OPENAI_API_COMPLETIONS; api++) {
        struct arena arena;
        arena_init(&arena);
        struct openai_params params;
        const char *param = NULL;
        (void)openai_params_parse(req, (enum openai_api)api, &limits, &arena, &params, &param);
        arena_deinit(&arena);
    }
    struct arena arena;
    arena_init(&arena);
    struct openai_chat_options opts;
    openai_chat_options_init(&opts);
    opts.current_date = "2025-06-28";
    struct openai_chat chat;
    const char *param = NULL;
    if (openai_chat_parse(req, &opts, &arena, &chat, &param) == GPTOSS_OK) {
        struct idbuf ids;
        idbuf_init(&ids);
        (void)openai_chat_render(tok, &chat, &ids);
        idbuf_deinit(&ids);
    }
    arena_deinit(&arena);
    json_decref(req);
    error_clear();
    return 0;
}
