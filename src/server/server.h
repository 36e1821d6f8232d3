/* server.h — the face of the server layer: the OpenAI-compatible HTTP API over the engine.
 *
 * server_run() listens first (so /health can say 503 while the model loads), then loads the
 * checkpoint and starts the engine, serves until *stop becomes non-zero (a signal handler sets
 * it), then stops accepting, ends in-flight requests and returns. The OpenAI chat mapping
 * (openai_chat.h) is shared with the command line.
 */
#ifndef GPTOSS_SERVER_H
#define GPTOSS_SERVER_H

#include "gptoss.h"
#include "server/openai_chat.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct server_config {
    const char *model_dir;
    const char *served_model_name; /* NULL: the directory name */
    const char *host;
    uint16_t port;
    const char *const *api_keys;
    size_t n_api_keys;
    unsigned public_endpoints; /* GPTOSS_PUBLIC_* bits: routes open without a key */
    bool log_requests;         /* log each request's prompt and parameters */
    uint32_t max_log_len;      /* prompt bytes per logged request; 0: all */
    uint32_t max_model_len;    /* 0: min(the model's context, 8192) */
    uint32_t max_num_seqs;
    uint32_t max_num_batched_tokens;
    uint64_t kv_cache_bytes; /* 0: a share of available memory */
    bool enable_prefix_caching;
    bool log_stats;               /* periodic stats line and per-request lines */
    uint32_t max_n;               /* largest `n` */
    uint32_t max_queued_requests; /* waiting requests beyond this get 503 */
    size_t max_body_bytes;
    unsigned max_connections;
    unsigned read_timeout_s;            /* a client silent this long mid-request is disconnected */
    uint32_t max_tools;                 /* most tools a chat request may declare */
    const char *const *allowed_origins; /* CORS (http_config); none: same origin only */
    size_t n_allowed_origins;
    uint32_t n_threads;            /* CPU threads; 0: one per available core */
    bool f32_activations;          /* every product in f32 (--dtype float32) */
    bool bf16_activations;         /* no int8 activations (--dtype bfloat16) */
    bool weights_int8;             /* --weights int8 */
    uint32_t tensor_parallel_size; /* 0 or 1: one rank */
    bool distributed_mpi;          /* ranks are the processes of an MPI job */
    const char *current_date;      /* for the harmony system message; NULL: today */
    bool webui;                    /* serve the web UI at / */
    const char *webui_dir; /* serve web/'s files from this folder instead (NULL: embedded) */
    bool demo;             /* the model is the built-in demo model */
};

void server_config_init(struct server_config *cfg);

/* Serves until *stop != 0. Returns GPTOSS_OK after a clean shutdown, or the load/listen error. */
enum gptoss_status server_run(const struct server_config *cfg, volatile sig_atomic_t *stop);

#endif
