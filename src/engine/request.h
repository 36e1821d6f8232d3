/* request.h — one request inside the engine: its tokens, progress, KV blocks and sampling state.
 *
 * n_computed counts tokens whose keys and values are in the cache; tokens[n_computed..n_tokens)
 * still have to run. A running request in decode has exactly one such token (the last one
 * sampled). Preemption releases the blocks and sets n_computed to 0: the request is recomputed
 * from its prompt and the tokens it already produced, so its output continues unchanged.
 *
 * States are ordered so that request_is_finished() is one comparison.
 */
#ifndef GPTOSS_ENGINE_REQUEST_H
#define GPTOSS_ENGINE_REQUEST_H

#include "engine/engine.h"
#include "engine/sampler.h"
#include "kv/kv.h"

#include <stdbool.h>
#include <stdint.h>

enum request_state {
    REQUEST_WAITING,
    REQUEST_RUNNING,
    REQUEST_PREEMPTED,
    REQUEST_FINISHED_STOP,
    REQUEST_FINISHED_LENGTH,
    REQUEST_FINISHED_ABORT,
};

static inline bool request_is_finished(enum request_state s)
{
    return s > REQUEST_PREEMPTED;
}

struct request {
    uint64_t id;
    enum request_state state;
    uint32_t *tokens; /* [cap]: prompt, then output */
    uint32_t n_prompt;
    uint32_t n_tokens;
    uint32_t cap; /* n_prompt + max output tokens */
    uint32_t n_computed;
    uint32_t n_cached; /* prompt tokens the prefix cache supplied at first admission */
    bool admitted_once;
    struct kv_seq kv;
    struct sampling_params sampling; /* logit_bias points into `bias` */
    struct logit_bias *bias;
    struct sampler_rng rng;
    uint32_t stop_ids[ENGINE_MAX_STOP_IDS];
    uint32_t n_stop_ids;
    bool logprobs;
    uint32_t top_logprobs;
    void (*on_output)(void *user, const struct engine_output *out);
    void *user;
    double t_arrival, t_scheduled, t_first_token;
    struct request *next; /* in the waiting or running list */
};

/* Builds a request from what engine_submit() received (copies prompt and logit bias). */
struct request *request_create(uint64_t id, const struct engine_request *in,
                               uint32_t max_model_len);
void request_destroy(struct request *r);

#endif
