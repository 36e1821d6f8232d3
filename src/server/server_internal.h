/* server_internal.h — what the server's files share: the server object behind every handler,
 * its metrics, and the endpoints' entry points.
 */
#ifndef GPTOSS_SERVER_INTERNAL_H
#define GPTOSS_SERVER_INTERNAL_H

#include "engine/engine.h"
#include "model/model.h"
#include "server/http.h"
#include "server/openai_params.h"
#include "server/server.h"
#include "tokenizer/tokenizer.h"

#include <pthread.h>
#include <stdatomic.h>

#define METRICS_N_BUCKETS 16

/* A Prometheus histogram with fixed bucket bounds. */
struct histogram {
    const double *bounds;                   /* [METRICS_N_BUCKETS] upper bounds, ascending */
    uint64_t counts[METRICS_N_BUCKETS + 1]; /* the last is +Inf */
    double sum;
    uint64_t count;
};

struct server_metrics {
    pthread_mutex_t lock;
    struct histogram ttft, tpot, e2e, queue;
    uint64_t success[3]; /* stop, length, abort */
    uint64_t prompt_tokens, generation_tokens;
};

struct server {
    struct server_config cfg;
    struct http_server *http;
    struct model *model;
    struct tokenizer *tok;
    struct engine *engine;
    atomic_bool ready;         /* model loaded, engine running */
    struct http_route *routes; /* the API's, then the web UI's */
    uint64_t kv_cache_bytes;
    uint32_t max_model_len;
    uint32_t eos_ids[MODEL_MAX_EOS]; /* raw-completion stops (generation_config.json) */
    uint32_t n_eos;
    struct openai_limits limits;
    atomic_uint_fast64_t next_id; /* for response ids */
    double t_start;
    struct server_metrics metrics;
};

/* Endpoint handlers (openai_serving.c). */
void server_handle_chat(void *ctx, struct http_exchange *ex);
void server_handle_completions(void *ctx, struct http_exchange *ex);

/* Records a finished request in the metrics. */
void server_metrics_record(struct server *s, const struct engine_output *out);

/* Answers 503 and returns false while the model is still loading. */
bool server_check_ready(struct server *s, struct http_exchange *ex);

/* Responds with an OpenAI error for `st` (400 for invalid arguments, ...) and the message left
 * by the failing call. */
void server_respond_status(struct http_exchange *ex, enum gptoss_status st, const char *param);

/* Parses the request body as a JSON object (duplicate keys refused); answers 400 and returns
 * NULL when it is not one. */
json_t *server_body_json(struct http_exchange *ex);

double server_now(void);

#endif
