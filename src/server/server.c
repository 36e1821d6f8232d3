/* server.c — the server's life and its small endpoints: health, version, models, tokenize,
 * detokenize, metrics, and the status the web UI shows. The generation endpoints live in
 * openai_serving.c, the web UI's files in webui.c.
 *
 * Start-up order: listen (health answers 503), load the model and tokenizer, size the KV cache,
 * start the engine, mark ready. Shutdown order: stop the HTTP server (which ends every open
 * stream and wakes every waiting handler, whose requests are aborted), then the engine, then the
 * model. Everything a handler touches stays alive until the HTTP server is gone.
 */
#include "server/server_internal.h"

#include "base/error.h"
#include "base/log.h"
#include "base/threadpool.h"
#include "base/xalloc.h"
#include "server/webui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_MODEL_LEN 8192
#define STATS_INTERVAL_S      10.0

static const double latency_bounds[METRICS_N_BUCKETS] = {
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 20.0};
static const double request_bounds[METRICS_N_BUCKETS] = {
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0};

double server_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void server_config_init(struct server_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->host = "127.0.0.1";
    cfg->port = 8000;
    cfg->max_num_seqs = 64;
    cfg->max_num_batched_tokens = 512;
    cfg->enable_prefix_caching = true;
    cfg->log_stats = true;
    cfg->public_endpoints = GPTOSS_PUBLIC_ALL;
    cfg->max_n = 16;
    cfg->max_queued_requests = 1024;
    cfg->max_body_bytes = 32u << 20;
    cfg->max_connections = 512;
    cfg->read_timeout_s = 30;
    cfg->max_tools = 128;
    cfg->webui = true;
}

/* ---- Errors ---------------------------------------------------------------------------------- */

void server_respond_status(struct http_exchange *ex, enum gptoss_status st, const char *param)
{
    switch (st) {
    case GPTOSS_ERR_INVALID_ARGUMENT:
        http_respond_error(ex, 400, "invalid_request_error", error_message(), param, NULL);
        return;
    case GPTOSS_ERR_UNSUPPORTED:
        http_respond_error(ex, 400, "invalid_request_error", error_message(), param, "unsupported");
        return;
    case GPTOSS_ERR_NOMEM:
        http_respond_error(ex, 503, "server_error", error_message(), NULL, NULL);
        return;
    default: http_respond_error(ex, 500, "server_error", error_message(), NULL, NULL); return;
    }
}

bool server_check_ready(struct server *s, struct http_exchange *ex)
{
    if (atomic_load(&s->ready) && model_lost(s->model)) {
        http_respond_error(ex, 503, "server_error",
                           "a tensor-parallel rank was lost; the server is shutting down", NULL,
                           NULL);
        return false;
    }
    if (atomic_load(&s->ready))
        return true;
    http_respond_error(ex, 503, "server_error", "the model is still loading", NULL, NULL);
    return false;
}

/* ---- Metrics --------------------------------------------------------------------------------- */

static void histogram_add(struct histogram *h, double v)
{
    size_t i = 0;
    while (i < METRICS_N_BUCKETS && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

void server_metrics_record(struct server *s, const struct engine_output *out)
{
    struct server_metrics *m = &s->metrics;
    pthread_mutex_lock(&m->lock);
    if (out->finish == ENGINE_FINISH_STOP)
        m->success[0]++;
    else if (out->finish == ENGINE_FINISH_LENGTH)
        m->success[1]++;
    else
        m->success[2]++;
    m->prompt_tokens += out->n_prompt_tokens;
    m->generation_tokens += out->n_output_tokens;
    histogram_add(&m->e2e, out->t_now - out->t_arrival);
    if (out->t_scheduled > 0)
        histogram_add(&m->queue, out->t_scheduled - out->t_arrival);
    if (out->t_first_token > 0) {
        histogram_add(&m->ttft, out->t_first_token - out->t_arrival);
        if (out->n_output_tokens > 1)
            histogram_add(&m->tpot, (out->t_now - out->t_first_token) / (out->n_output_tokens - 1));
    }
    pthread_mutex_unlock(&m->lock);
}

static void metrics_histogram(struct buf *b, const char *name, const char *label,
                              const struct histogram *h)
{
    buf_printf(b, "# TYPE vllm:%s histogram\n", name);
    uint64_t cum = 0;
    for (size_t i = 0; i < METRICS_N_BUCKETS; i++) {
        cum += h->counts[i];
        buf_printf(b, "vllm:%s_bucket{%s,le=\"%g\"} %llu\n", name, label, h->bounds[i],
                   (unsigned long long)cum);
    }
    cum += h->counts[METRICS_N_BUCKETS];
    buf_printf(b, "vllm:%s_bucket{%s,le=\"+Inf\"} %llu\n", name, label, (unsigned long long)cum);
    buf_printf(b, "vllm:%s_sum{%s} %.6f\nvllm:%s_count{%s} %llu\n", name, label, h->sum, name,
               label, (unsigned long long)h->count);
}

/* Memory per tensor-parallel rank (one rank: the whole model): its part of the weights, of
 * those the bytes resident (where this process holds the rank), and its KV cache. */
static void metrics_ranks(struct buf *b, const struct server *s, const char *label)
{
    uint32_t n = model_n_ranks(s->model);
    struct model_rank_plan *p = xcalloc(n, sizeof(*p));
    for (uint32_t r = 0; r < n; r++) {
        model_rank_plan(s->model, r, &p[r]);
        const struct model *held = model_rank_model(s->model, r);
        if (held)
            p[r].weight_resident = (int64_t)model_rank_resident(held);
    }
    buf_printf(b, "# TYPE gptoss:rank_weight_bytes gauge\n");
    for (uint32_t r = 0; r < n; r++)
        buf_printf(b, "gptoss:rank_weight_bytes{%s,rank=\"%u\"} %llu\n", label, r,
                   (unsigned long long)p[r].weight_bytes);
    buf_printf(b, "# TYPE gptoss:rank_weight_resident_bytes gauge\n");
    for (uint32_t r = 0; r < n; r++)
        if (p[r].weight_resident >= 0)
            buf_printf(b, "gptoss:rank_weight_resident_bytes{%s,rank=\"%u\"} %lld\n", label, r,
                       (long long)p[r].weight_resident);
    buf_printf(b, "# TYPE gptoss:rank_kv_cache_bytes gauge\n");
    for (uint32_t r = 0; r < n; r++)
        buf_printf(b, "gptoss:rank_kv_cache_bytes{%s,rank=\"%u\"} %llu\n", label, r,
                   (unsigned long long)p[r].kv_bytes);
    free(p);
}

static void handle_metrics(void *ctx, struct http_exchange *ex)
{
    struct server *s = ctx;
    struct engine_stats es = {0};
    if (atomic_load(&s->ready))
        engine_stats(s->engine, &es);
    char label[300];
    snprintf(label, sizeof(label), "model_name=\"%s\"", s->cfg.served_model_name);
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{%s} %u\n",
               label, es.n_running);
    buf_printf(&b, "# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{%s} %u\n",
               label, es.n_waiting);
    buf_printf(&b, "# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{%s} %.6f\n",
               label, es.kv_usage);
    buf_printf(&b,
               "# TYPE vllm:prefix_cache_queries counter\nvllm:prefix_cache_queries_total{%s} "
               "%llu\n",
               label, (unsigned long long)es.prefix_queries);
    buf_printf(&b, "# TYPE vllm:prefix_cache_hits counter\nvllm:prefix_cache_hits_total{%s} %llu\n",
               label, (unsigned long long)es.prefix_hits);
    buf_printf(&b, "# TYPE vllm:num_preemptions counter\nvllm:num_preemptions_total{%s} %llu\n",
               label, (unsigned long long)es.n_preemptions);
    struct server_metrics *m = &s->metrics;
    pthread_mutex_lock(&m->lock);
    buf_printf(&b, "# TYPE vllm:prompt_tokens counter\nvllm:prompt_tokens_total{%s} %llu\n", label,
               (unsigned long long)m->prompt_tokens);
    buf_printf(&b, "# TYPE vllm:generation_tokens counter\nvllm:generation_tokens_total{%s} %llu\n",
               label, (unsigned long long)m->generation_tokens);
    static const char *const reasons[3] = {"stop", "length", "abort"};
    buf_printf(&b, "# TYPE vllm:request_success counter\n");
    for (int i = 0; i < 3; i++)
        buf_printf(&b, "vllm:request_success_total{%s,finished_reason=\"%s\"} %llu\n", label,
                   reasons[i], (unsigned long long)m->success[i]);
    metrics_histogram(&b, "time_to_first_token_seconds", label, &m->ttft);
    metrics_histogram(&b, "time_per_output_token_seconds", label, &m->tpot);
    metrics_histogram(&b, "e2e_request_latency_seconds", label, &m->e2e);
    metrics_histogram(&b, "request_queue_time_seconds", label, &m->queue);
    pthread_mutex_unlock(&m->lock);
    if (atomic_load(&s->ready))
        metrics_ranks(&b, s, label);
    http_respond(ex, 200, "text/plain; version=0.0.4", b.data, b.len);
    buf_deinit(&b);
}

/* ---- Small endpoints ------------------------------------------------------------------------- */

static void handle_health(void *ctx, struct http_exchange *ex)
{
    struct server *s = ctx;
    if (server_check_ready(s, ex))
        http_respond(ex, 200, "text/plain", "", 0);
}

static void handle_version(void *ctx, struct http_exchange *ex)
{
    (void)ctx;
    http_respond_json(ex, 200, json_pack("{s:s}", "version", gptoss_version()));
}

static json_t *model_card(struct server *s)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:s,s:i}", "id", s->cfg.served_model_name, "object", "model",
                     "created", (json_int_t)time(NULL), "owned_by", "gptoss", "root",
                     s->cfg.model_dir, "max_model_len", (int)s->max_model_len);
}

static void handle_models(void *ctx, struct http_exchange *ex)
{
    struct server *s = ctx;
    if (!server_check_ready(s, ex))
        return;
    const char *path = http_exchange_path(ex);
    if (strcmp(path, "/v1/models") == 0 || strcmp(path, "/v1/models/") == 0) {
        http_respond_json(ex, 200,
                          json_pack("{s:s,s:[o]}", "object", "list", "data", model_card(s)));
        return;
    }
    const char *name = path + strlen("/v1/models/");
    if (strcmp(name, s->cfg.served_model_name) != 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "The model `%.400s` does not exist.", name);
        http_respond_error(ex, 404, "invalid_request_error", msg, "model", "model_not_found");
        return;
    }
    http_respond_json(ex, 200, model_card(s));
}

json_t *server_body_json(struct http_exchange *ex)
{
    size_t len;
    const char *body = http_exchange_body(ex, &len);
    json_error_t jerr;
    json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!req || !json_is_object(req)) {
        char msg[300];
        if (req)
            snprintf(msg, sizeof(msg), "the request body must be a JSON object");
        else
            snprintf(msg, sizeof(msg), "invalid JSON at line %d column %d: %s", jerr.line,
                     jerr.column, jerr.text);
        json_decref(req);
        http_respond_error(ex, 400, "invalid_request_error", msg, NULL, NULL);
        return NULL;
    }
    return req;
}

/* POST /tokenize: {"prompt": "..."} or {"messages": [...]} (a chat rendered with harmony). */
static void handle_tokenize(void *ctx, struct http_exchange *ex)
{
    struct server *s = ctx;
    if (!server_check_ready(s, ex))
        return;
    json_t *req = server_body_json(ex);
    if (!req)
        return;
    struct idbuf ids;
    idbuf_init(&ids);
    enum gptoss_status st = GPTOSS_OK;
    const char *param = NULL;
    const json_t *prompt = json_object_get(req, "prompt");
    struct arena arena;
    arena_init(&arena);
    if (json_object_get(req, "messages")) {
        struct openai_chat_options opts;
        openai_chat_options_init(&opts);
        opts.current_date = s->cfg.current_date;
        struct openai_chat chat;
        st = openai_chat_parse(req, &opts, &arena, &chat, &param);
        if (st == GPTOSS_OK)
            st = openai_chat_render(s->tok, &chat, &ids);
    } else if (json_is_string(prompt)) {
        tokenizer_encode(s->tok, json_string_value(prompt), json_string_length(prompt),
                         /*allow_special=*/false, &ids);
    } else {
        param = "prompt";
        st = error_set(GPTOSS_ERR_INVALID_ARGUMENT, "'prompt' (a string) or 'messages' is needed");
    }
    if (st != GPTOSS_OK) {
        server_respond_status(ex, st, param);
    } else {
        json_t *tokens = json_array();
        for (size_t i = 0; i < ids.len; i++)
            json_array_append_new(tokens, json_integer(ids.data[i]));
        http_respond_json(ex, 200,
                          json_pack("{s:i,s:o,s:i}", "count", (int)ids.len, "tokens", tokens,
                                    "max_model_len", (int)s->max_model_len));
    }
    arena_deinit(&arena);
    idbuf_deinit(&ids);
    json_decref(req);
}

/* POST /detokenize: {"tokens": [ids]} -> {"prompt": text}. */
static void handle_detokenize(void *ctx, struct http_exchange *ex)
{
    struct server *s = ctx;
    if (!server_check_ready(s, ex))
        return;
    json_t *req = server_body_json(ex);
    if (!req)
        return;
    const json_t *tokens = json_object_get(req, "tokens");
    if (!json_is_array(tokens)) {
        http_respond_error(ex, 400, "invalid_request_error", "'tokens' must be an array of ids",
                           "tokens", NULL);
        json_decref(req);
        return;
    }
    struct idbuf ids;
    idbuf_init(&ids);
    size_t i;
    const json_t *v;
    bool ok = true;
    json_array_foreach (tokens, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= TOKENIZER_N_VOCAB) {
            ok = false;
            break;
        }
        idbuf_push(&ids, (uint32_t)json_integer_value(v));
    }
    if (!ok) {
        http_respond_error(ex, 400, "invalid_request_error",
                           "'tokens' must hold token ids of this model's vocabulary", "tokens",
                           NULL);
    } else {
        struct buf text;
        buf_init(&text);
        tokenizer_decode(s->tok, ids.data, ids.len, /*skip_special=*/false, &text);
        struct buf valid;
        buf_init(&valid);
        utf8_append_lossy(&valid, (const unsigned char *)text.data, text.len);
        http_respond_json(ex, 200,
                          json_pack("{s:s%}", "prompt", valid.data ? valid.data : "", valid.len));
        buf_deinit(&valid);
        buf_deinit(&text);
    }
    idbuf_deinit(&ids);
    json_decref(req);
}

/* Bytes resident in this process (RSS), 0 when /proc cannot tell. */
static uint64_t process_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? resident * (uint64_t)page : 0;
}

static uint64_t physical_memory_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

/* GET /status: what the web UI's status panel shows, in one small JSON object. Public like
 * /metrics; `devices` has one entry per rank (memory of this process for a CPU rank). */
static void handle_status(void *ctx, struct http_exchange *ex)
{
    struct server *s = ctx;
    bool ready = atomic_load(&s->ready);
    struct engine_stats es = {0};
    if (ready)
        engine_stats(s->engine, &es);
    uint32_t blocks_used = 0, blocks_total = 0; /* both pools: full and sliding-window layers */
    for (int g = 0; g < KV_N_GROUPS; g++) {
        blocks_used += es.kv_blocks_used[g];
        blocks_total += es.kv_blocks_total[g];
    }
    uint32_t threads = s->cfg.n_threads ? s->cfg.n_threads : threadpool_default_threads();
    uint32_t n_ranks = ready ? model_n_ranks(s->model) : 1;
    json_t *devices = json_array();
    for (uint32_t r = 0; r < n_ranks; r++) {
        char device_name[96];
        uint32_t t = n_ranks > 1 ? (threads / n_ranks ? threads / n_ranks : 1) : threads;
        if (n_ranks > 1)
            snprintf(device_name, sizeof(device_name), "CPU rank %u, %u thread%s", r, t,
                     t == 1 ? "" : "s");
        else
            snprintf(device_name, sizeof(device_name), "CPU, %u thread%s", t, t == 1 ? "" : "s");
        uint64_t weights = ready ? model_weights(s->model)->n_bytes : 0, kv = s->kv_cache_bytes;
        uint64_t used = process_rss_bytes();
        if (n_ranks > 1) {
            /* One process may hold several ranks: each is its resident weights and its KV. */
            struct model_rank_plan p;
            model_rank_plan(s->model, r, &p);
            const struct model *held = model_rank_model(s->model, r);
            weights = p.weight_bytes;
            kv = p.kv_bytes;
            used = (held ? model_rank_resident(held) : p.weight_bytes) + p.kv_bytes;
        }
        json_array_append_new(
            devices, json_pack("{s:i,s:s,s:s,s:I,s:I,s:I,s:I}", "rank", (int)r, "kind", "cpu",
                               "name", device_name, "memory_used", (json_int_t)used, "memory_total",
                               (json_int_t)physical_memory_bytes(), "weights_bytes",
                               (json_int_t)weights, "kv_cache_bytes", (json_int_t)kv));
    }
    json_t *kv =
        json_pack("{s:f,s:i,s:i,s:i,s:f}", "usage", es.kv_usage, "blocks_used", (int)blocks_used,
                  "blocks_total", (int)blocks_total, "tokens_capacity", (int)es.kv_tokens,
                  "prefix_cache_hit_rate",
                  es.prefix_queries ? (double)es.prefix_hits / (double)es.prefix_queries : 0.0);
    json_t *body = json_pack(
        "{s:s,s:b,s:s,s:b,s:f,s:i,s:b,s:{s:i,s:i},s:o,s:{s:I,s:I},s:o}", "model",
        s->cfg.served_model_name, "demo", s->cfg.demo, "version", gptoss_version(), "ready", ready,
        "uptime_s", server_now() - s->t_start, "max_model_len", (int)s->max_model_len,
        "auth_required", s->cfg.n_api_keys > 0, "requests", "running", (int)es.n_running, "waiting",
        (int)es.n_waiting, "kv_cache", kv, "tokens", "prompt", (json_int_t)es.prompt_tokens,
        "generation", (json_int_t)es.generation_tokens, "devices", devices);
    http_respond_json(ex, 200, body);
}

static void handle_webui(void *ctx, struct http_exchange *ex)
{
    struct server *s = ctx;
    webui_serve(ex, s->cfg.webui_dir);
}

static const struct http_route routes[] = {
    {"GET", "/health", handle_health, true},
    {"GET", "/version", handle_version, true},
    {"GET", "/metrics", handle_metrics, true},
    {"GET", "/status", handle_status, true},
    {"GET", "/v1/models", handle_models, false},
    {"GET", "/v1/models/*", handle_models, false},
    {"POST", "/v1/chat/completions", server_handle_chat, false},
    {"POST", "/v1/completions", server_handle_completions, false},
    {"POST", "/tokenize", handle_tokenize, false},
    {"POST", "/detokenize", handle_detokenize, false},
};

/* ---- Life cycle ------------------------------------------------------------------------------ */

/* A default KV budget: half of the memory available now, at most 32 GiB. */
static uint64_t default_kv_bytes(void)
{
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    uint64_t avail = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 4ull << 30;
    uint64_t kv = avail / 2;
    return kv > (32ull << 30) ? 32ull << 30 : kv;
}

static enum gptoss_status server_load(struct server *s)
{
    double t0 = server_now();
    struct model_options mo = {.n_threads = s->cfg.n_threads,
                               .f32_activations = s->cfg.f32_activations,
                               .bf16_activations = s->cfg.bf16_activations,
                               .weights_int8 = s->cfg.weights_int8,
                               .tensor_parallel_size = s->cfg.tensor_parallel_size,
                               .distributed_mpi = s->cfg.distributed_mpi};
    enum gptoss_status st = model_load(s->cfg.model_dir, &mo, &s->model);
    if (st != GPTOSS_OK || model_rank(s->model) != 0)
        return st; /* an MPI rank other than 0 only runs rank 0's steps (server_run) */
    char *tok_path = xmalloc(strlen(s->cfg.model_dir) + sizeof("/tokenizer.json"));
    sprintf(tok_path, "%s/tokenizer.json", s->cfg.model_dir);
    st = tokenizer_create(tok_path, &s->tok);
    free(tok_path);
    if (st != GPTOSS_OK)
        return st;
    const struct model_config *c = model_config(s->model);
    if (c->n_vocab < TOKENIZER_N_VOCAB)
        return error_set(GPTOSS_ERR_FORMAT, "%s: vocab_size %u is smaller than the tokenizer's %u",
                         s->cfg.model_dir, c->n_vocab, TOKENIZER_N_VOCAB);
    s->max_model_len = s->cfg.max_model_len;
    if (!s->max_model_len)
        s->max_model_len =
            c->max_position < DEFAULT_MAX_MODEL_LEN ? c->max_position : DEFAULT_MAX_MODEL_LEN;
    if (s->max_model_len > c->max_position)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "--max-model-len %u is larger than the model's context (%u)",
                         s->max_model_len, c->max_position);
    s->n_eos = c->n_eos;
    memcpy(s->eos_ids, c->eos_ids, sizeof(s->eos_ids));
    s->limits.max_n = s->cfg.max_n;
    s->limits.max_stop = 4;
    s->limits.n_vocab = c->n_vocab;
    struct engine_config ec = {
        .model = s->model,
        .max_num_seqs = s->cfg.max_num_seqs,
        .max_num_batched_tokens = s->cfg.max_num_batched_tokens,
        .max_model_len = s->max_model_len,
        .kv_cache_bytes = s->cfg.kv_cache_bytes ? s->cfg.kv_cache_bytes : default_kv_bytes(),
        .enable_prefix_caching = s->cfg.enable_prefix_caching,
    };
    s->kv_cache_bytes = ec.kv_cache_bytes;
    st = engine_create(&ec, &s->engine);
    if (st != GPTOSS_OK)
        return st;
    struct engine_stats es;
    engine_stats(s->engine, &es);
    log_info("loaded %s in %.1f s: %u layers, %u experts, %.2f GB of weights; KV cache %.2f GB "
             "holds %u tokens; max model len %u, %u sequences, %u tokens per step, prefix "
             "caching %s",
             s->cfg.model_dir, server_now() - t0, c->n_layers, c->n_experts,
             model_weights(s->model)->n_bytes / 1e9, ec.kv_cache_bytes / 1e9, es.kv_tokens,
             s->max_model_len, ec.max_num_seqs, ec.max_num_batched_tokens,
             ec.enable_prefix_caching ? "on" : "off");
    return GPTOSS_OK;
}

static void log_stats_line(struct server *s, uint64_t *last_prompt, uint64_t *last_gen, double dt)
{
    struct engine_stats es;
    engine_stats(s->engine, &es);
    log_info("stats: prompt %.1f tokens/s, generation %.1f tokens/s, running %u, waiting %u, KV "
             "cache %.1f%%, prefix cache hit rate %.1f%%, preemptions %llu",
             (es.prompt_tokens - *last_prompt) / dt, (es.generation_tokens - *last_gen) / dt,
             es.n_running, es.n_waiting, 100 * es.kv_usage,
             es.prefix_queries ? 100.0 * es.prefix_hits / es.prefix_queries : 0.0,
             (unsigned long long)es.n_preemptions);
    *last_prompt = es.prompt_tokens;
    *last_gen = es.generation_tokens;
}

enum gptoss_status server_run(const struct server_config *cfg, volatile sig_atomic_t *stop)
{
    struct server *s = xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    if (!s->cfg.served_model_name) {
        const char *slash = strrchr(cfg->model_dir, '/');
        s->cfg.served_model_name = slash && slash[1] ? slash + 1 : cfg->model_dir;
    }
    atomic_init(&s->ready, false);
    atomic_init(&s->next_id, 1);
    s->t_start = server_now();
    pthread_mutex_init(&s->metrics.lock, NULL);
    s->metrics.ttft.bounds = latency_bounds;
    s->metrics.tpot.bounds = latency_bounds;
    s->metrics.e2e.bounds = request_bounds;
    s->metrics.queue.bounds = request_bounds;

    struct http_config hc;
    http_config_init(&hc);
    hc.host = cfg->host;
    hc.port = cfg->port;
    hc.api_keys = cfg->api_keys;
    hc.n_api_keys = cfg->n_api_keys;
    hc.max_body_bytes = cfg->max_body_bytes;
    hc.max_connections = cfg->max_connections;
    hc.read_timeout_s = cfg->read_timeout_s;
    hc.allowed_origins = cfg->allowed_origins;
    hc.n_allowed_origins = cfg->n_allowed_origins;
    hc.quiet = !cfg->log_stats;
    /* The API's routes, then one public route per web UI file. */
    size_t n_api = sizeof(routes) / sizeof(routes[0]), n_routes = n_api;
    s->routes = xcalloc(n_api + webui_n_assets, sizeof(*s->routes));
    memcpy(s->routes, routes, sizeof(routes));
    static const struct {
        const char *path;
        unsigned bit;
    } openable[] = {{"/health", GPTOSS_PUBLIC_HEALTH},
                    {"/version", GPTOSS_PUBLIC_VERSION},
                    {"/metrics", GPTOSS_PUBLIC_METRICS},
                    {"/status", GPTOSS_PUBLIC_STATUS}};
    for (size_t i = 0; i < n_api; i++)
        for (size_t k = 0; k < sizeof(openable) / sizeof(openable[0]); k++)
            if (strcmp(s->routes[i].path, openable[k].path) == 0)
                s->routes[i].public_ = (cfg->public_endpoints & openable[k].bit) != 0;
    for (size_t i = 0; cfg->webui && i < webui_n_assets; i++)
        s->routes[n_routes++] =
            (struct http_route){"GET", webui_assets[i].path, handle_webui, true};
    enum gptoss_status st = GPTOSS_OK;
    if (cfg->distributed_mpi) {
        /* Every process of the job loads its rank's part first; only rank 0 then listens. */
        st = server_load(s);
        if (st == GPTOSS_OK && model_rank(s->model) != 0) {
            log_info("tensor-parallel rank %u of %u: running rank 0's steps", model_rank(s->model),
                     model_n_ranks(s->model));
            st = model_worker_run(s->model);
            free(s->routes);
            model_destroy(s->model);
            pthread_mutex_destroy(&s->metrics.lock);
            free(s);
            return st;
        }
    }
    if (st == GPTOSS_OK)
        st = http_server_create(&hc, s->routes, n_routes, s, &s->http);
    if (st == GPTOSS_OK && !s->model) {
        log_info("listening on http://%s:%u (model %s loading)", cfg->host,
                 http_server_port(s->http), s->cfg.served_model_name);
        st = server_load(s);
    } else if (st == GPTOSS_OK) {
        log_info("listening on http://%s:%u", cfg->host, http_server_port(s->http));
    }
    if (st == GPTOSS_OK) {
        atomic_store(&s->ready, true);
        log_info("ready: serving %s as \"%s\" on http://%s:%u", cfg->model_dir,
                 s->cfg.served_model_name, cfg->host, http_server_port(s->http));
        if (cfg->webui)
            log_info("web UI: http://%s:%u/%s", cfg->host, http_server_port(s->http),
                     cfg->webui_dir ? " (files from --webui-dir)" : "");
        uint64_t last_prompt = 0, last_gen = 0;
        double last = server_now();
        while (!*stop) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
            if (model_lost(s->model)) {
                /* /health says so meanwhile; the open requests end with an error. */
                log_error("a tensor-parallel rank was lost: shutting down");
                st = error_set(GPTOSS_ERR_IO, "a tensor-parallel rank was lost");
                break;
            }
            double now = server_now();
            if (cfg->log_stats && now - last >= STATS_INTERVAL_S) {
                log_stats_line(s, &last_prompt, &last_gen, now - last);
                last = now;
            }
        }
        log_info("shutting down: ending open requests");
    }
    http_server_destroy(s->http);
    free(s->routes);
    engine_destroy(s->engine);
    tokenizer_destroy(s->tok);
    model_destroy(s->model);
    pthread_mutex_destroy(&s->metrics.lock);
    free(s);
    return st;
}
