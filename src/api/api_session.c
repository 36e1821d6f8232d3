/* api_session.c — the public session API: one sequence, appended to and sampled from.
 *
 * Tokens appended are only recorded; the next sample call computes everything not yet in the
 * KV cache in chunks and samples from the last row, so a prompt costs one batched prefill.
 */
#include "api_internal.h"
#include "engine/sampler.h"

#include "base/error.h"
#include "base/xalloc.h"

#include <stdlib.h>
#include <string.h>

struct gptoss_session {
    struct gptoss_model *owner;
    struct api_sequence seq;
    struct sampler *sampler;
    struct sampling_params params;
    struct sampler_rng rng;
    uint32_t *tokens; /* [capacity] the sequence so far */
    size_t n_tokens;
    size_t n_prompt; /* the output (for penalties) is what was sampled after token n_prompt */
    bool sampled;    /* last_sampled is the token the previous sample call returned */
    uint32_t last_sampled;
    float *logits; /* [V] */
};

GPTOSS_API void gptoss_sampling_init(struct gptoss_sampling *sampling)
{
    memset(sampling, 0, sizeof(*sampling));
    sampling->temperature = 1.0f;
    sampling->top_p = 1.0f;
    sampling->repetition_penalty = 1.0f;
}

GPTOSS_API enum gptoss_status gptoss_session_create(struct gptoss_model *model, uint32_t max_tokens,
                                                    const struct gptoss_sampling *sampling,
                                                    struct gptoss_session **session_out)
{
    *session_out = NULL;
    const struct model_config *c = model_config(model->model);
    if (model->session_live)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "the model already has a live session");
    if (max_tokens == 0 || max_tokens > c->max_position)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "max_tokens must be in 1..%u, got %u",
                         c->max_position, max_tokens);
    struct sampling_params params;
    sampling_params_init(&params);
    if (sampling) {
        params.temperature = sampling->temperature;
        params.top_k = sampling->top_k;
        params.top_p = sampling->top_p;
        params.min_p = sampling->min_p;
        params.presence_penalty = sampling->presence_penalty;
        params.frequency_penalty = sampling->frequency_penalty;
        params.repetition_penalty = sampling->repetition_penalty;
    }
    enum gptoss_status st = sampling_params_validate(&params, c->n_vocab);
    if (st != GPTOSS_OK)
        return st;
    struct gptoss_session *s = xcalloc(1, sizeof(*s));
    s->owner = model;
    s->params = params;
    sampler_rng_seed(&s->rng, sampling ? sampling->seed : 0);
    s->tokens = malloc(max_tokens * sizeof(uint32_t));
    s->logits = malloc(c->n_vocab * sizeof(float));
    s->sampler = sampler_create(c->n_vocab);
    if (!s->tokens || !s->logits || !s->sampler) {
        st = error_set(GPTOSS_ERR_NOMEM, "cannot allocate a session of %u tokens", max_tokens);
        goto fail;
    }
    st = api_sequence_init(&s->seq, model->model, max_tokens);
    if (st != GPTOSS_OK)
        goto fail;
    model->session_live = true;
    *session_out = s;
    return GPTOSS_OK;
fail:
    sampler_destroy(s->sampler);
    free(s->tokens);
    free(s->logits);
    free(s);
    return st;
}

GPTOSS_API void gptoss_session_destroy(struct gptoss_session *session)
{
    if (!session)
        return;
    if (session->seq.model)
        session->owner->session_live = false;
    api_sequence_deinit(&session->seq);
    sampler_destroy(session->sampler);
    free(session->tokens);
    free(session->logits);
    free(session);
}

GPTOSS_API enum gptoss_status gptoss_session_append(struct gptoss_session *session,
                                                    const uint32_t *tokens, size_t n)
{
    uint32_t n_vocab = model_config(session->owner->model)->n_vocab;
    if (n > session->seq.capacity - session->n_tokens)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "%zu more tokens do not fit the session (%zu of %u used)", n,
                         session->n_tokens, session->seq.capacity);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] >= n_vocab)
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "token %u is outside the vocabulary",
                             tokens[i]);
    /* Appending the token just sampled continues the output; anything else is new prompt. */
    bool continues = session->sampled && n == 1 && tokens[0] == session->last_sampled;
    memcpy(session->tokens + session->n_tokens, tokens, n * sizeof(uint32_t));
    session->n_tokens += n;
    if (!continues)
        session->n_prompt = session->n_tokens;
    session->sampled = false;
    return GPTOSS_OK;
}

GPTOSS_API enum gptoss_status gptoss_session_sample(struct gptoss_session *session,
                                                    uint32_t *token_out)
{
    *token_out = 0;
    struct api_sequence *seq = &session->seq;
    if (session->n_tokens == 0)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "nothing to continue: the session is empty");
    if (seq->n_computed == session->n_tokens) {
        /* The last token is already in the cache but its logits are gone: recompute it. */
        api_sequence_rewind(seq, (uint32_t)session->n_tokens - 1);
    }
    while (seq->n_computed < session->n_tokens) {
        size_t left = session->n_tokens - seq->n_computed;
        uint32_t m = left < API_CHUNK ? (uint32_t)left : API_CHUNK;
        enum gptoss_status st = api_sequence_run(seq, session->tokens + seq->n_computed, m,
                                                 /*all_logits=*/false, session->logits);
        if (st != GPTOSS_OK)
            return st;
    }
    size_t n_prompt = session->n_prompt;
    *token_out = sampler_sample(session->sampler, &session->params, session->logits,
                                session->tokens, n_prompt, session->tokens + n_prompt,
                                session->n_tokens - n_prompt, &session->rng);
    session->sampled = true;
    session->last_sampled = *token_out;
    return GPTOSS_OK;
}

GPTOSS_API void gptoss_session_truncate(struct gptoss_session *session, size_t n)
{
    if (n >= session->n_tokens)
        return;
    session->n_tokens = n;
    session->sampled = false;
    if (session->n_prompt > n)
        session->n_prompt = n;
    api_sequence_rewind(&session->seq, (uint32_t)n);
}

GPTOSS_API size_t gptoss_session_n_tokens(const struct gptoss_session *session)
{
    return session->n_tokens;
}
