/* api_serve.c — the public serving call (gptoss_serve) over the server layer. */
#include "api_internal.h"
#include "server/server.h"

#include <string.h>

GPTOSS_API void gptoss_serve_options_init(struct gptoss_serve_options *options)
{
    struct server_config c;
    server_config_init(&c);
    memset(options, 0, sizeof(*options));
    options->host = c.host;
    options->port = c.port;
    options->max_num_seqs = c.max_num_seqs;
    options->max_num_batched_tokens = c.max_num_batched_tokens;
    options->enable_prefix_caching = c.enable_prefix_caching;
    options->log_stats = c.log_stats;
    options->public_endpoints = c.public_endpoints;
    options->max_n = c.max_n;
    options->max_queued_requests = c.max_queued_requests;
    options->max_body_bytes = c.max_body_bytes;
    options->max_connections = c.max_connections;
    options->read_timeout_s = c.read_timeout_s;
    options->max_tools = c.max_tools;
    options->webui = c.webui;
}

GPTOSS_API enum gptoss_status gptoss_serve(const struct gptoss_serve_options *o,
                                           volatile sig_atomic_t *stop)
{
    struct server_config c;
    server_config_init(&c);
    c.model_dir = o->model_dir;
    c.served_model_name = o->served_model_name;
    c.host = o->host;
    c.port = o->port;
    c.api_keys = o->api_keys;
    c.n_api_keys = o->n_api_keys;
    c.public_endpoints = o->public_endpoints;
    c.log_requests = o->log_requests;
    c.max_log_len = o->max_log_len;
    c.max_model_len = o->max_model_len;
    c.max_num_seqs = o->max_num_seqs;
    c.max_num_batched_tokens = o->max_num_batched_tokens;
    c.kv_cache_bytes = o->kv_cache_bytes;
    c.enable_prefix_caching = o->enable_prefix_caching;
    c.log_stats = o->log_stats;
    c.max_n = o->max_n;
    c.max_queued_requests = o->max_queued_requests;
    c.max_body_bytes = o->max_body_bytes;
    c.max_connections = o->max_connections;
    c.read_timeout_s = o->read_timeout_s;
    c.max_tools = o->max_tools;
    c.allowed_origins = o->allowed_origins;
    c.n_allowed_origins = o->n_allowed_origins;
    c.n_threads = o->n_threads;
    c.f32_activations = o->dtype == GPTOSS_DTYPE_FLOAT32;
    c.bf16_activations = o->dtype == GPTOSS_DTYPE_BFLOAT16;
    c.weights_int8 = o->weights == GPTOSS_WEIGHTS_INT8;
    c.tensor_parallel_size = o->tensor_parallel_size;
    c.distributed_mpi = o->distributed_backend == GPTOSS_DISTRIBUTED_MPI;
    c.current_date = o->current_date;
    c.webui = o->webui;
    c.webui_dir = o->webui_dir;
    c.demo = o->demo;
    return server_run(&c, stop);
}
