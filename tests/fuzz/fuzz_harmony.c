/* fuzz_harmony.c — arbitrary generated ids through the streaming harmony parser (as a
 * completion that follows "<|start|>assistant" and as a bare stream) and through the server's
 * OpenAI output on top of it: malformed output must degrade to content, never crash. */
#include "fuzz_common.h"

#include "base/error.h"
#include "harmony/harmony.h"
#include "server/openai_output.h"

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct tokenizer *tok = fuzz_tokenizer();
    static uint32_t ids[4096];
    size_t n = fuzz_ids(data, size, ids, sizeof ids / sizeof ids[0]);
    for (int started = 0; started <= 1; started++) {
        struct harmony_parser *p;
        if (harmony_parser_create(tok, started, &p) != GPTOSS_OK)
            abort();
        const struct harmony_event *ev;
        for (size_t i = 0; i < n; i++)
            (void)harmony_parser_push(p, ids[i], &ev);
        (void)harmony_parser_finish(p, &ev);
        harmony_parser_destroy(p);
    }
    struct openai_output_options opts;
    openai_output_options_init(&opts);
    static const char *const stops[] = {"\n\n", "END"};
    opts.stop = stops;
    opts.n_stop = size % 3 == 0 ? 2 : 0;
    struct openai_output *o;
    if (openai_output_create(tok, &opts, &o) != GPTOSS_OK)
        abort();
    json_t *deltas = json_array();
    for (size_t i = 0; i < n; i++)
        if (openai_output_push(o, ids[i], deltas))
            break;
    openai_output_finish(o, deltas);
    json_t *msg = openai_output_message(o);
    (void)openai_output_finish_reason(o, false);
    json_decref(msg);
    json_decref(deltas);
    openai_output_destroy(o);
    error_clear();
    return 0;
}
