/* api_chat.c — the public chat-prompt API (gptoss_chat_*) over the server layer's OpenAI
 * mapping, so programs embedding the library build the same prompts the server does. */
#include "api_internal.h"
#include "server/server.h"

#include <string.h>

GPTOSS_API void gptoss_chat_options_init(struct gptoss_chat_options *options)
{
    memset(options, 0, sizeof *options);
    options->default_effort = GPTOSS_REASONING_MEDIUM;
}

static enum harmony_effort api_effort(enum gptoss_reasoning_effort e)
{
    switch (e) {
    case GPTOSS_REASONING_LOW: return HARMONY_EFFORT_LOW;
    case GPTOSS_REASONING_HIGH: return HARMONY_EFFORT_HIGH;
    case GPTOSS_REASONING_MEDIUM: break;
    }
    return HARMONY_EFFORT_MEDIUM;
}

GPTOSS_API enum gptoss_status gptoss_chat_render(const struct gptoss_tokenizer *tokenizer,
                                                 const char *request_json, size_t len,
                                                 const struct gptoss_chat_options *options,
                                                 uint32_t **ids_out, size_t *n_ids_out)
{
    *ids_out = NULL;
    *n_ids_out = 0;
    json_error_t jerr;
    json_t *request = json_loadb(request_json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!request)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "request JSON, line %d column %d: %s",
                         jerr.line, jerr.column, jerr.text);
    struct openai_chat_options opts;
    openai_chat_options_init(&opts);
    if (options) {
        opts.model_identity = options->model_identity;
        opts.knowledge_cutoff = options->knowledge_cutoff;
        opts.current_date = options->current_date;
        opts.default_effort = api_effort(options->default_effort);
    }
    struct arena arena;
    arena_init(&arena);
    struct openai_chat chat;
    const char *param;
    struct idbuf ids;
    idbuf_init(&ids);
    enum gptoss_status st = openai_chat_parse(request, &opts, &arena, &chat, &param);
    if (st == GPTOSS_OK)
        st = openai_chat_render(api_tokenizer_inner(tokenizer), &chat, &ids);
    arena_deinit(&arena);
    json_decref(request);
    if (st != GPTOSS_OK) {
        idbuf_deinit(&ids);
        return st;
    }
    *ids_out = ids.data;
    *n_ids_out = ids.len;
    return GPTOSS_OK;
}
