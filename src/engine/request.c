/* request.c — creating and destroying engine requests. */
#include "engine/request.h"

#include "base/xalloc.h"

#include <stdlib.h>
#include <string.h>

struct request *request_create(uint64_t id, const struct engine_request *in, uint32_t max_model_len)
{
    struct request *r = xcalloc(1, sizeof(*r));
    r->id = id;
    r->n_prompt = in->n_prompt;
    uint64_t cap = (uint64_t)in->n_prompt + in->max_tokens;
    r->cap = cap < max_model_len ? (uint32_t)cap : max_model_len;
    r->tokens = xmalloc((size_t)r->cap * sizeof(uint32_t));
    memcpy(r->tokens, in->prompt, (size_t)in->n_prompt * sizeof(uint32_t));
    r->n_tokens = in->n_prompt;
    kv_seq_init(&r->kv);
    r->sampling = in->sampling;
    if (in->sampling.n_logit_bias) {
        r->bias = xmalloc(in->sampling.n_logit_bias * sizeof(*r->bias));
        memcpy(r->bias, in->sampling.logit_bias, in->sampling.n_logit_bias * sizeof(*r->bias));
    }
    r->sampling.logit_bias = r->bias;
    sampler_rng_seed(&r->rng, in->seed);
    memcpy(r->stop_ids, in->stop_ids, sizeof(r->stop_ids));
    r->n_stop_ids = in->n_stop_ids;
    r->logprobs = in->logprobs || in->top_logprobs > 0;
    r->top_logprobs = in->top_logprobs;
    r->on_output = in->on_output;
    r->user = in->user;
    return r;
}

void request_destroy(struct request *r)
{
    if (!r)
        return;
    kv_seq_deinit(&r->kv);
    free(r->tokens);
    free(r->bias);
    free(r);
}
