/* engine.h — the engine's face: many requests, one model, one step loop on its own thread.
 *
 * engine_submit() queues a request (token ids in, token ids out: the engine never sees text);
 * the loop batches every running request into each forward step (continuous batching with
 * chunked prefill), samples, and reports each request's new tokens through the request's
 * callback. All calls are thread-safe. The callback runs on the engine thread and must not
 * block: copy what it needs and return.
 */
#ifndef GPTOSS_ENGINE_H
#define GPTOSS_ENGINE_H

#include "gptoss.h"
#include "engine/sampler.h"
#include "model/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENGINE_MAX_STOP_IDS     8
#define ENGINE_MAX_TOP_LOGPROBS 20

struct engine;

struct engine_config {
    struct model *model;             /* borrowed; must outlive the engine */
    uint32_t max_num_seqs;           /* requests running at once */
    uint32_t max_num_batched_tokens; /* tokens per forward step */
    uint32_t max_model_len;          /* prompt + output tokens per request */
    uint64_t kv_cache_bytes;         /* KV memory for both groups together */
    bool enable_prefix_caching;
};

enum engine_finish {
    ENGINE_RUNNING,       /* not finished yet */
    ENGINE_FINISH_STOP,   /* a stop id was sampled */
    ENGINE_FINISH_LENGTH, /* max_tokens or max_model_len reached */
    ENGINE_FINISH_ABORT,  /* engine_abort() or shutdown */
};

struct engine_logprob {
    uint32_t token;
    float logprob; /* log-softmax of the raw logits */
};

/* What one step produced for one request. Pointers are valid during the callback only. */
struct engine_output {
    uint64_t request_id;
    uint32_t token;                       /* the new token (absent when n_tokens == 0: an abort) */
    uint32_t n_tokens;                    /* 0 or 1 */
    const struct engine_logprob *logprob; /* the sampled token's, when asked */
    const struct engine_logprob *top;     /* [n_top], highest first, when asked */
    uint32_t n_top;
    enum engine_finish finish;
    uint32_t n_prompt_tokens;
    uint32_t n_cached_tokens; /* prompt tokens served from the prefix cache */
    uint32_t n_output_tokens; /* so far, including this one */
    double t_arrival;         /* engine_submit() (CLOCK_MONOTONIC seconds) */
    double t_scheduled;       /* first step that ran it (0 if none yet) */
    double t_first_token;     /* first sampled token (0 if none yet) */
    double t_now;             /* when this output was made */
};

struct engine_request {
    const uint32_t *prompt; /* copied by engine_submit */
    uint32_t n_prompt;
    struct sampling_params sampling; /* logit_bias copied by engine_submit */
    uint64_t seed;
    uint32_t max_tokens;                    /* output tokens; capped by max_model_len */
    uint32_t stop_ids[ENGINE_MAX_STOP_IDS]; /* sampling one of these finishes with STOP; the id
                                             * is reported as the last output token */
    uint32_t n_stop_ids;
    bool logprobs;         /* report the sampled token's logprob */
    uint32_t top_logprobs; /* and this many alternatives (<= ENGINE_MAX_TOP_LOGPROBS) */
    void (*on_output)(void *user, const struct engine_output *out);
    void *user;
};

/* Sizes the KV cache from config->kv_cache_bytes, allocates it in the model and starts the step
 * thread. Fails when the cache cannot hold one max_model_len request. */
enum gptoss_status engine_create(const struct engine_config *config, struct engine **engine_out);

/* Aborts every request (their callbacks see ENGINE_FINISH_ABORT), stops the thread, frees. */
void engine_destroy(struct engine *engine);

/* Queues a request and stores its id. GPTOSS_ERR_INVALID_ARGUMENT (with a message) for an empty
 * prompt, one longer than max_model_len - 1, an id outside the vocabulary or bad sampling. */
enum gptoss_status engine_submit(struct engine *engine, const struct engine_request *request,
                                 uint64_t *request_id_out);

/* Finishes a request at the next step (its callback gets ENGINE_FINISH_ABORT) and returns its
 * blocks. Unknown or finished ids are ignored. */
void engine_abort(struct engine *engine, uint64_t request_id);

struct engine_stats {
    uint32_t n_running, n_waiting;
    double kv_usage;                       /* fraction of KV blocks referenced, 0..1 */
    uint32_t kv_tokens;                    /* tokens the full-attention pool can hold */
    uint32_t kv_blocks_used[KV_N_GROUPS];  /* referenced blocks per group (full, sliding) */
    uint32_t kv_blocks_total[KV_N_GROUPS]; /* blocks per group */
    uint64_t prefix_queries, prefix_hits;  /* tokens */
    uint64_t n_preemptions;
    uint64_t prompt_tokens, generation_tokens; /* computed so far */
    uint64_t n_finished[4];                    /* by enum engine_finish */
    uint64_t n_steps;
};

void engine_stats(struct engine *engine, struct engine_stats *stats);

#endif
