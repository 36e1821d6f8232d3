/* api_model.c — the public model API (gptoss_model_*, gptoss_random_model_write,
 * gptoss_compact_model_expand) over
 * src/model: a loaded checkpoint plus its tokenizer, the numbers `gptoss info` shows, and
 * teacher-forced logits.
 */
#include "api_internal.h"
#include "model/model.h"
#include "model/model_compact.h"
#include "model/model_random.h"

#include "base/error.h"
#include "base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tokens per forward step when computing teacher-forced logits: bounds the activation memory
 * (the logits rows themselves are the caller's) without changing the result. */
#define LOGITS_CHUNK 256

GPTOSS_API void gptoss_model_options_init(struct gptoss_model_options *options)
{
    memset(options, 0, sizeof(*options));
}

static void api_progress(void *user, uint64_t done, uint64_t total)
{
    const struct gptoss_progress *p = user;
    p->fn(p->user, done, total);
}

GPTOSS_API enum gptoss_status gptoss_model_create(const char *dir,
                                                  const struct gptoss_model_options *options,
                                                  struct gptoss_model **model_out)
{
    *model_out = NULL;
    if (!dir)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "no model directory given");
    struct gptoss_model *m = xcalloc(1, sizeof(*m));
    struct model_progress progress = {0};
    struct model_options mo = {0};
    if (options) {
        mo.n_threads = options->n_threads;
        mo.f32_activations = options->dtype == GPTOSS_DTYPE_FLOAT32;
        mo.bf16_activations = options->dtype == GPTOSS_DTYPE_BFLOAT16;
        mo.weights_int8 = options->weights == GPTOSS_WEIGHTS_INT8;
        mo.tensor_parallel_size = options->tensor_parallel_size;
        mo.distributed_mpi = options->distributed_backend == GPTOSS_DISTRIBUTED_MPI;
        if (options->progress && options->progress->fn) {
            progress.fn = api_progress;
            progress.user = (void *)options->progress;
            mo.progress = &progress;
        }
    }
    enum gptoss_status st = model_load(dir, &mo, &m->model);
    if (st != GPTOSS_OK)
        goto fail;
    char *tok_path = xmalloc(strlen(dir) + sizeof("/tokenizer.json"));
    sprintf(tok_path, "%s/tokenizer.json", dir);
    st = gptoss_tokenizer_create(tok_path, &m->tokenizer);
    free(tok_path);
    if (st != GPTOSS_OK)
        goto fail;
    if (model_config(m->model)->n_vocab < gptoss_tokenizer_n_vocab(m->tokenizer)) {
        st = error_set(GPTOSS_ERR_FORMAT,
                       "%s/config.json: vocab_size %u is smaller than the tokenizer's %u", dir,
                       model_config(m->model)->n_vocab, gptoss_tokenizer_n_vocab(m->tokenizer));
        goto fail;
    }
    *model_out = m;
    return GPTOSS_OK;
fail:
    gptoss_model_destroy(m);
    return st;
}

GPTOSS_API void gptoss_model_destroy(struct gptoss_model *model)
{
    if (!model)
        return;
    model_destroy(model->model);
    gptoss_tokenizer_destroy(model->tokenizer);
    free(model);
}

GPTOSS_API uint32_t gptoss_model_rank(const struct gptoss_model *model)
{
    return model_rank(model->model);
}

GPTOSS_API uint32_t gptoss_model_n_ranks(const struct gptoss_model *model)
{
    return model_n_ranks(model->model);
}

GPTOSS_API enum gptoss_status gptoss_model_run_worker(struct gptoss_model *model)
{
    return model_worker_run(model->model);
}

GPTOSS_API void gptoss_model_rank_info(const struct gptoss_model *model, uint32_t rank,
                                       struct gptoss_rank_info *info)
{
    struct model_rank_plan p;
    model_rank_plan(model->model, rank, &p);
    const struct model *held = model_rank_model(model->model, rank);
    *info = (struct gptoss_rank_info){
        .rank = rank,
        .q_head0 = p.shard.q_head0,
        .n_q_heads = p.shard.n_q_heads,
        .kv_head0 = p.shard.kv_head0,
        .n_kv_heads = p.shard.n_kv_heads,
        .ff0 = p.shard.ff0,
        .n_ff = p.shard.n_ff,
        .vocab0 = p.shard.vocab0,
        .n_vocab = p.shard.n_vocab,
        .weight_bytes = p.weight_bytes,
        .kv_bytes_per_token = p.kv_bytes_per_token,
        .kv_bytes = p.kv_bytes,
        .weight_resident = held ? (int64_t)model_rank_resident(held) : -1,
    };
}

GPTOSS_API const struct gptoss_tokenizer *gptoss_model_tokenizer(const struct gptoss_model *model)
{
    return model->tokenizer;
}

GPTOSS_API void gptoss_model_info(const struct gptoss_model *model, struct gptoss_model_info *info)
{
    const struct model_config *c = model_config(model->model);
    const struct model_weights *w = model_weights(model->model);
    memset(info, 0, sizeof(*info));
    info->n_layers = c->n_layers;
    info->d_model = c->d_model;
    info->n_heads = c->n_heads;
    info->n_kv_heads = c->n_kv_heads;
    info->head_dim = c->head_dim;
    info->n_experts = c->n_experts;
    info->n_experts_per_token = c->n_experts_per_token;
    info->d_ff = c->d_ff;
    info->n_vocab = c->n_vocab;
    info->sliding_window = c->sliding_window;
    info->max_position = c->max_position;
    info->rope_theta = c->rope.theta;
    info->rope_factor = c->rope.factor;
    info->rope_original_max_position = c->rope.original_max_position;
    info->experts_mxfp4 = c->experts_mxfp4;
    info->n_params = model_config_n_params(c);
    info->weight_bytes = w->n_bytes;
    info->n_shards = (uint32_t)w->n_shards;
    info->kv_bytes_per_token = (model_kv_block_bytes(model->model, KV_GROUP_FULL) +
                                model_kv_block_bytes(model->model, KV_GROUP_SLIDING)) /
                               KV_BLOCK_SIZE;
    /* Split over ranks, every rank reads its part (ranks' parts differ by a few biases): the
     * bytes all of them read together, which is what the machine's bandwidth must carry. */
    info->decode_bytes_per_token = model_weights_decode_bytes(w, c) * model_n_ranks(model->model);
    info->backend = model_backend_name(model->model);
    info->n_eos = c->n_eos < 8 ? c->n_eos : 8;
    memcpy(info->eos_ids, c->eos_ids, info->n_eos * sizeof(uint32_t));
}

GPTOSS_API void gptoss_model_weight_pages(const struct gptoss_model *model, uint64_t *resident,
                                          uint64_t *huge)
{
    model_weight_pages(model->model, resident, huge);
}

GPTOSS_API bool gptoss_model_is_stop(const struct gptoss_model *model, uint32_t token)
{
    const struct model_config *c = model_config(model->model);
    for (uint32_t i = 0; i < c->n_eos; i++)
        if (c->eos_ids[i] == token)
            return true;
    return false;
}

GPTOSS_API enum gptoss_status gptoss_model_logits(struct gptoss_model *model,
                                                  const uint32_t *tokens, size_t n,
                                                  float **logits_out)
{
    *logits_out = NULL;
    if (model->session_live)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "the model's KV cache is in use by a session");
    const struct model_config *c = model_config(model->model);
    if (n == 0 || n > c->max_position)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "need 1 to %u tokens, got %zu",
                         c->max_position, n);
    size_t bytes = n * (size_t)c->n_vocab * sizeof(float);
    float *logits = malloc(bytes);
    struct api_sequence seq;
    enum gptoss_status st = logits ? api_sequence_init(&seq, model->model, (uint32_t)n)
                                   : error_set(GPTOSS_ERR_NOMEM,
                                               "cannot allocate %zu bytes of "
                                               "logits",
                                               bytes);
    if (st != GPTOSS_OK) {
        free(logits);
        return st;
    }
    for (size_t done = 0; done < n && st == GPTOSS_OK; done += LOGITS_CHUNK) {
        size_t m = n - done < LOGITS_CHUNK ? n - done : LOGITS_CHUNK;
        st = api_sequence_run(&seq, tokens + done, (uint32_t)m, /*all_logits=*/true,
                              logits + done * c->n_vocab);
    }
    api_sequence_deinit(&seq);
    if (st != GPTOSS_OK) {
        free(logits);
        return st;
    }
    *logits_out = logits;
    return GPTOSS_OK;
}

GPTOSS_API void gptoss_random_model_options_init(struct gptoss_random_model_options *options)
{
    memset(options, 0, sizeof(*options));
    options->preset = "tiny";
}

GPTOSS_API enum gptoss_status
gptoss_random_model_write(const struct gptoss_random_model_options *options, const char *dir)
{
    if (!options->tokenizer)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "a random model needs a tokenizer");
    struct model_progress progress = {0};
    struct model_random_options ro = {
        .preset = options->preset,
        .seed = options->seed,
        .experts_bf16 = options->experts_bf16,
        .n_shards = options->n_shards,
        .n_layers = options->n_layers,
        .n_experts = options->n_experts,
        .rope_original_max_position = options->rope_original_max_position,
        .sink_scale = options->sink_scale,
    };
    if (options->progress && options->progress->fn) {
        progress.fn = api_progress;
        progress.user = (void *)options->progress;
        ro.progress = &progress;
    }
    enum gptoss_status st = model_random_write(&ro, dir);
    if (st != GPTOSS_OK)
        return st;
    char *path = xmalloc(strlen(dir) + sizeof("/tokenizer.json"));
    sprintf(path, "%s/tokenizer.json", dir);
    st = gptoss_tokenizer_write_json(options->tokenizer, path);
    free(path);
    return st;
}

GPTOSS_API enum gptoss_status gptoss_compact_model_expand(const char *compact_dir,
                                                          const struct gptoss_tokenizer *tokenizer,
                                                          const char *dir)
{
    if (!tokenizer)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "expanding a model needs a tokenizer");
    enum gptoss_status st = model_compact_expand(compact_dir, dir);
    if (st != GPTOSS_OK)
        return st;
    char *path = xmalloc(strlen(dir) + sizeof("/tokenizer.json"));
    sprintf(path, "%s/tokenizer.json", dir);
    st = gptoss_tokenizer_write_json(tokenizer, path);
    free(path);
    return st;
}
