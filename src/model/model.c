/* model.c — a loaded model: config, weights, RoPE table, f32 copies of the sinks, the paged KV
 * memory and the activation scratch that forward steps reuse.
 *
 * Loading builds everything into locals and hands the finished struct over at the end; the
 * `fail:` path frees only what is still local. The KV cache is allocated separately, by whoever
 * decides how many blocks there are (the engine from --kv-cache-memory, the CLI for one prompt).
 */
#include "model/model.h"
#include "model/model_internal.h"
#include "model/model_weights.h"
#include "model/safetensors.h"

#include "base/error.h"
#include "base/pages.h"
#include "base/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* f32 copies of this rank's sinks (the tensors are already cut to its heads). */
static enum gptoss_status sinks_to_f32(const struct model_config *config,
                                       const struct model_weights *weights, uint32_t n_heads,
                                       float **sinks_out)
{
    size_t n = (size_t)config->n_layers * n_heads;
    float *sinks = xmalloc((n ? n : 1) * sizeof(*sinks));
    for (uint32_t l = 0; l < config->n_layers; l++)
        for (uint32_t h = 0; h < n_heads; h++)
            sinks[(size_t)l * n_heads + h] = tensor_get_f32(&weights->layers[l].sinks, h);
    *sinks_out = sinks;
    return GPTOSS_OK;
}

enum gptoss_status model_load_rank(const char *dir, const struct model_options *options,
                                   struct comm *comm, struct model **model_out)
{
    *model_out = NULL;
    struct model *model = xcalloc(1, sizeof(*model));
    model->comm = comm;
    enum gptoss_status st = model_config_load(dir, &model->config);
    if (st != GPTOSS_OK)
        goto fail;
    st = model_shard_plan(&model->config, comm ? comm->rank : 0, comm ? comm->size : 1,
                          &model->shard);
    if (st != GPTOSS_OK)
        goto fail;
    st = model_weights_load(dir, &model->config, options ? options->progress : NULL,
                            &model->weights);
    if (st != GPTOSS_OK)
        goto fail;
    st = model_weights_shard(model, options && options->weights_int8);
    if (st != GPTOSS_OK)
        goto fail;
    /* GPTOSS_BACKEND=ref runs the scalar oracle instead, for comparisons. */
    const char *which = getenv("GPTOSS_BACKEND");
    bool f32 = options && options->f32_activations;
    bool bf16 = options && options->bf16_activations;
    model->ops = which && strcmp(which, "ref") == 0 ? backend_cpu_ref()
                 : f32                              ? backend_cpu_f32()
                 : bf16                             ? backend_cpu_bf16()
                                                    : backend_cpu();
    if (options && options->n_threads)
        backend_cpu_set_threads(options->n_threads);
    if (options && options->weights_int8) {
        st = model_weights_to_int8(model, options->n_threads);
        if (st != GPTOSS_OK)
            goto fail;
        model_shard_release_o(model);
    }
    rope_init(&model->rope, &model->config.rope);
    st = sinks_to_f32(&model->config, model->weights, model->shard.n_q_heads, &model->sinks);
    if (st != GPTOSS_OK)
        goto fail;
    model->kv = xcalloc(model->config.n_layers, sizeof(*model->kv));
    *model_out = model;
    return GPTOSS_OK;
fail:
    model->comm = NULL; /* the caller still owns it on failure */
    model_destroy(model);
    return st;
}

bool model_lost(const struct model *model)
{
    return atomic_load(&((struct model *)model)->lost);
}

uint32_t model_rank(const struct model *model)
{
    return model->shard.rank;
}

uint32_t model_n_ranks(const struct model *model)
{
    return model->shard.n_ranks;
}

const struct model_shard *model_shard_of(const struct model *model)
{
    return &model->shard;
}

const char *model_backend_name(const struct model *model)
{
    if (model->ops == backend_cpu_f32())
        return strcmp(backend_cpu_isa(), "avx512bf16") == 0 ? "cpu avx512 f32" : "cpu f32";
    bool int8 = model->ops == backend_cpu() && backend_cpu_int8_activations();
    if (model->ops != backend_cpu() && model->ops != backend_cpu_bf16())
        return model->ops->name;
    static const char *const names[][2] = {
        {"cpu avx512bf16", "cpu avx512bf16 int8-act"},
        {"cpu avx512", "cpu avx512 int8-act"},
        {"cpu avx2", "cpu avx2"},
        {"cpu generic", "cpu generic"},
    };
    const char *isa = backend_cpu_isa();
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i][0] + 4, isa) == 0)
            return names[i][int8];
    return "cpu";
}

static void scratch_free(struct model_scratch *s)
{
    float **bufs[] = {&s->x,          &s->xn,     &s->q,      &s->k,        &s->v,
                      &s->attn,       &s->proj,   &s->router, &s->expert_w, &s->moe_out,
                      &s->rows_x,     &s->rows_u, &s->rows_a, &s->rows_y,   &s->logits_local,
                      &s->logits_all, &s->flag};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
    free(s->expert_idx);
    free(s->rows_token);
    free(s->rows_slot);
    free(s->expert_count);
    free(s->expert_start);
    memset(s, 0, sizeof(*s));
}

/* Bytes of one layer's keys (or values) for nb blocks; 0 when that overflows. */
static size_t kv_bytes(const struct model *model, uint32_t nb)
{
    size_t row = (size_t)model->shard.n_kv_heads * model->config.head_dim;
    size_t n = (size_t)nb * KV_BLOCK_SIZE * row * sizeof(float);
    return nb && n / nb / KV_BLOCK_SIZE / sizeof(float) == row ? n : 0;
}

static void kv_free(struct model *model)
{
    for (uint32_t l = 0; model->kv && l < model->config.n_layers; l++) {
        size_t n = kv_bytes(model, model->kv[l].n_blocks);
        pages_free(model->kv[l].k, n);
        pages_free(model->kv[l].v, n);
        model->kv[l] = (struct kv_layer){0};
    }
    memset(model->kv_blocks, 0, sizeof(model->kv_blocks));
}

void model_destroy(struct model *model)
{
    if (!model)
        return;
    if (model->comm && model->shard.rank == 0)
        model_tp_stop(model);
    comm_destroy(model->comm);
    kv_free(model);
    free(model->kv);
    scratch_free(&model->scratch);
    free(model->sinks);
    model_weights_destroy(model->weights);
    pages_free(model->int8_store, model->int8_store_bytes);
    pages_free(model->shard_store, model->shard_store_bytes);
    free(model);
}

void model_weight_pages(const struct model *model, uint64_t *resident, uint64_t *huge)
{
    *resident = *huge = 0;
    const struct model_weights *w = model->weights;
    for (size_t i = 0; i < w->n_shards; i++)
        pages_count(w->shards[i]->map.data, w->shards[i]->map.size, resident, huge);
    if (model->int8_store)
        pages_count(model->int8_store, model->int8_store_bytes, resident, huge);
    if (model->shard_store)
        pages_count(model->shard_store, model->shard_store_bytes, resident, huge);
}

const struct model_config *model_config(const struct model *model)
{
    return &model->config;
}

const struct model_weights *model_weights(const struct model *model)
{
    return model->weights;
}

enum kv_group model_layer_group(const struct model *model, uint32_t layer)
{
    return model->config.layer_sliding[layer] ? KV_GROUP_SLIDING : KV_GROUP_FULL;
}

uint64_t model_kv_block_bytes(const struct model *model, enum kv_group group)
{
    uint64_t per_layer =
        2ull * KV_BLOCK_SIZE * model->shard.n_kv_heads * model->config.head_dim * sizeof(float);
    uint64_t n = 0;
    for (uint32_t l = 0; l < model->config.n_layers; l++)
        n += model_layer_group(model, l) == group ? per_layer : 0;
    return n;
}

static enum gptoss_status kv_alloc_local(struct model *model, const uint32_t n_blocks[KV_N_GROUPS])
{
    kv_free(model);
    for (uint32_t l = 0; l < model->config.n_layers; l++) {
        uint32_t nb = n_blocks[model_layer_group(model, l)];
        if (nb == 0)
            continue;
        size_t n = kv_bytes(model, nb);
        if (n == 0)
            return error_set(GPTOSS_ERR_NOMEM, "KV cache of %u blocks is too large", nb);
        model->kv[l].n_blocks = nb; /* first: kv_free() sizes the buffers by it */
        model->kv[l].k = pages_alloc(n);
        model->kv[l].v = pages_alloc(n);
        if (!model->kv[l].k || !model->kv[l].v) {
            kv_free(model);
            return error_set(GPTOSS_ERR_NOMEM, "cannot allocate %zu bytes of KV cache", 2 * n);
        }
    }
    memcpy(model->kv_blocks, n_blocks, sizeof(model->kv_blocks));
    return GPTOSS_OK;
}

/* Every rank allocates its part; all keep it only if all could. */
enum gptoss_status model_kv_alloc_rank(struct model *model, const uint32_t n_blocks[KV_N_GROUPS])
{
    enum gptoss_status st = kv_alloc_local(model, n_blocks);
    if (model->comm && model->comm->size > 1) {
        enum gptoss_status all = model_tp_agree_step(model, st, "its part of the KV cache");
        if (all != GPTOSS_OK && st == GPTOSS_OK)
            kv_free(model);
        st = all;
    }
    return st;
}

enum gptoss_status model_kv_alloc(struct model *model, const uint32_t n_blocks[KV_N_GROUPS])
{
    if (model->comm && model->comm->size > 1) {
        enum gptoss_status st = model_tp_send_kv_alloc(model, n_blocks);
        if (st != GPTOSS_OK)
            return st;
    }
    return model_kv_alloc_rank(model, n_blocks);
}

/* Grows one scratch buffer to n floats; false when memory is short. */
static bool grow(float **buf, size_t n)
{
    float *p = realloc(*buf, n * sizeof(float));
    if (!p)
        return false;
    *buf = p;
    return true;
}

static bool grow_u32(uint32_t **buf, size_t n)
{
    uint32_t *p = realloc(*buf, n * sizeof(uint32_t));
    if (!p)
        return false;
    *buf = p;
    return true;
}

enum gptoss_status model_scratch_reserve(struct model *model, uint32_t n_tokens)
{
    struct model_scratch *s = &model->scratch;
    if (n_tokens <= s->cap_tokens)
        return GPTOSS_OK;
    const struct model_config *c = &model->config;
    size_t n = n_tokens, k = c->n_experts_per_token, nk = n * k;
    const struct model_shard *sh = &model->shard;
    size_t q_w = (size_t)sh->n_q_heads * c->head_dim, kv_w = (size_t)sh->n_kv_heads * c->head_dim;
    size_t ff = sh->n_ff ? sh->n_ff : 1;
    bool tp = sh->n_ranks > 1;
    bool ok = grow(&s->x, n * c->d_model) && grow(&s->xn, n * c->d_model) && grow(&s->q, n * q_w) &&
              grow(&s->k, n * kv_w) && grow(&s->v, n * kv_w) && grow(&s->attn, n * q_w) &&
              grow(&s->proj, n * c->d_model) && grow(&s->router, n * c->n_experts) &&
              grow(&s->expert_w, nk) && grow(&s->moe_out, n * c->d_model) &&
              grow(&s->rows_x, n * c->d_model) && grow(&s->rows_u, n * 2 * ff) &&
              grow(&s->rows_a, n * ff) && grow(&s->rows_y, n * c->d_model) &&
              (!tp || grow(&s->logits_local, n * (size_t)(sh->n_vocab ? sh->n_vocab : 1))) &&
              (!tp || sh->rank != 0 || grow(&s->logits_all, n * (size_t)c->n_vocab)) &&
              grow(&s->flag, 1) && grow_u32(&s->expert_idx, nk) && grow_u32(&s->rows_token, nk) &&
              grow_u32(&s->rows_slot, nk) && grow_u32(&s->expert_count, c->n_experts) &&
              grow_u32(&s->expert_start, c->n_experts + 1);
    if (!ok) {
        scratch_free(s);
        return error_set(GPTOSS_ERR_NOMEM, "cannot allocate activations for %u tokens", n_tokens);
    }
    s->cap_tokens = n_tokens;
    return GPTOSS_OK;
}
