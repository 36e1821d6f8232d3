/* model_weights.c — finds every tensor the config calls for in the checkpoint's shards and
 * checks its dtype and shape, so that the forward pass can index weights without checks.
 *
 * A sharded checkpoint is resolved through model.safetensors.index.json's weight_map (never by
 * guessing which shard holds what); a single-file checkpoint is model.safetensors. Shards stay
 * mapped for the life of struct model_weights, and every struct tensor points into them.
 */
#include "model/model_weights.h"

#include "base/error.h"
#include "base/file.h"
#include "base/xalloc.h"
#include "model/safetensors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WEIGHTS_INDEX_NAME  "model.safetensors.index.json"
#define WEIGHTS_SINGLE_NAME "model.safetensors"
#define WEIGHTS_MAX_INDEX   (64u << 20)
#define WEIGHTS_MAX_SHARDS  4096

#define WEIGHTS_FLOAT ((1u << DTYPE_F32) | (1u << DTYPE_BF16))
#define WEIGHTS_BF16  (1u << DTYPE_BF16)
#define WEIGHTS_U8    (1u << DTYPE_U8)

/* Everything the binding steps share while the result is still being built. */
struct weights_build {
    const char *dir;
    json_t *weight_map;          /* NULL for a single-file checkpoint */
    char **shard_names;          /* [n_shards] plain file names inside dir */
    struct safetensors **shards; /* [n_shards] */
    size_t n_shards;
    uint64_t n_bytes;
};

static char *weights_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void weights_format_shape(char *out, size_t size, uint32_t n_dims, const uint64_t *shape)
{
    size_t len = (size_t)snprintf(out, size, "[");
    for (uint32_t i = 0; i < n_dims && len < size; i++)
        len += (size_t)snprintf(out + len, size - len, "%s%llu", i ? ", " : "",
                                (unsigned long long)shape[i]);
    if (len < size)
        snprintf(out + len, size - len, "]");
}

/* A shard named by the index must stay inside the checkpoint directory. */
static bool weights_plain_file_name(const char *name)
{
    return name[0] != '\0' && strchr(name, '/') == NULL && strchr(name, '\\') == NULL &&
           strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int weights_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reads the index into b->weight_map and the sorted distinct shard names. */
static enum gptoss_status weights_read_index(struct weights_build *b, const char *index_path)
{
    char *text = NULL;
    size_t len = 0;
    enum gptoss_status st = file_read_all(index_path, WEIGHTS_MAX_INDEX, &text, &len);
    if (st != GPTOSS_OK)
        return st;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!root)
        return error_set(GPTOSS_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", index_path, jerr.line,
                         jerr.column, jerr.text);
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map)) {
        json_decref(root);
        return error_set(GPTOSS_ERR_FORMAT, "%s: \"weight_map\" must be a JSON object", index_path);
    }
    b->weight_map = json_incref(map);
    json_decref(root);

    size_t cap = 0;
    const char *key;
    json_t *value;
    json_object_foreach (b->weight_map, key, value) {
        const char *file = json_string_value(value);
        if (!file || !weights_plain_file_name(file))
            return error_set(GPTOSS_ERR_FORMAT,
                             "%s: weight_map entry for '%s' must be a file name in the checkpoint "
                             "directory",
                             index_path, key);
        bool seen = false;
        for (size_t i = 0; i < b->n_shards && !seen; i++)
            seen = strcmp(b->shard_names[i], file) == 0;
        if (seen)
            continue;
        if (b->n_shards == WEIGHTS_MAX_SHARDS)
            return error_set(GPTOSS_ERR_FORMAT, "%s: more than %d shard files", index_path,
                             WEIGHTS_MAX_SHARDS);
        b->shard_names = xgrow(b->shard_names, &cap, b->n_shards + 1, sizeof *b->shard_names);
        b->shard_names[b->n_shards++] = xstrdup(file);
    }
    if (b->n_shards == 0)
        return error_set(GPTOSS_ERR_FORMAT, "%s: \"weight_map\" is empty", index_path);
    qsort(b->shard_names, b->n_shards, sizeof *b->shard_names, weights_cmp_str);
    return GPTOSS_OK;
}

/* Maps every shard once, reporting progress in bytes of shard files. */
static enum gptoss_status weights_open_shards(struct weights_build *b,
                                              const struct model_progress *progress)
{
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < b->n_shards; i++) {
        char *path = weights_join(b->dir, b->shard_names[i]);
        struct stat sb;
        if (stat(path, &sb) == 0)
            total += (uint64_t)sb.st_size;
        free(path);
    }
    b->shards = xcalloc(b->n_shards, sizeof *b->shards);
    for (size_t i = 0; i < b->n_shards; i++) {
        char *path = weights_join(b->dir, b->shard_names[i]);
        enum gptoss_status st = safetensors_open(path, &b->shards[i]);
        free(path);
        if (st != GPTOSS_OK)
            return b->weight_map
                       ? error_wrap(st, "%s/" WEIGHTS_INDEX_NAME " names shard '%s': ", b->dir,
                                    b->shard_names[i])
                       : st;
        done += b->shards[i]->map.size;
        if (progress && progress->fn)
            progress->fn(progress->user, done, total > done ? total : done);
    }
    return GPTOSS_OK;
}

/* Finds `name`, checks it, and stores the view in *out. `dtypes` is a mask of allowed dtypes. */
static enum gptoss_status weights_bind(struct weights_build *b, const char *name, unsigned dtypes,
                                       uint32_t n_dims, const uint64_t *shape, struct tensor *out)
{
    const struct safetensors *shard = b->shards[0];
    if (b->weight_map) {
        const char *file = json_string_value(json_object_get(b->weight_map, name));
        if (!file)
            return error_set(GPTOSS_ERR_FORMAT,
                             "%s/" WEIGHTS_INDEX_NAME ": tensor '%s' is missing from weight_map",
                             b->dir, name);
        size_t lo = 0, hi = b->n_shards;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(b->shard_names[mid], file) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        shard = b->shards[lo]; /* present: every weight_map value was collected */
    }
    const struct tensor *t = safetensors_find(shard, name);
    if (!t)
        return error_set(GPTOSS_ERR_FORMAT, "%s: tensor '%s' is missing%s", shard->path, name,
                         b->weight_map ? " (" WEIGHTS_INDEX_NAME " puts it there)" : "");
    if (!(dtypes & (1u << t->dtype)))
        return error_set(GPTOSS_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected %s",
                         shard->path, name, dtype_name(t->dtype),
                         dtypes == WEIGHTS_FLOAT  ? "BF16 or F32"
                         : dtypes == WEIGHTS_BF16 ? "BF16"
                                                  : "U8");
    bool same = t->n_dims == n_dims;
    for (uint32_t i = 0; same && i < n_dims; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char want[128], got[128];
        weights_format_shape(want, sizeof want, n_dims, shape);
        weights_format_shape(got, sizeof got, t->n_dims, t->shape);
        return error_set(GPTOSS_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s",
                         shard->path, name, got, want);
    }
    *out = *t;
    b->n_bytes += t->n_bytes;
    return GPTOSS_OK;
}

#define WEIGHTS_SHAPE(...) ((const uint64_t[]){__VA_ARGS__})
#define WEIGHTS_NDIMS(...) ((uint32_t)(sizeof((uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t)))
#define WEIGHTS_BIND(b, name, dtypes, out, ...)                                                    \
    weights_bind(b, name, dtypes, WEIGHTS_NDIMS(__VA_ARGS__), WEIGHTS_SHAPE(__VA_ARGS__), out)

static enum gptoss_status weights_bind_layer(struct weights_build *b, const struct model_config *c,
                                             uint32_t layer, struct layer_weights *lw)
{
    const uint64_t d = c->d_model, f = c->d_ff, e = c->n_experts;
    const uint64_t q = (uint64_t)c->n_heads * c->head_dim;
    const uint64_t kv = (uint64_t)c->n_kv_heads * c->head_dim;
    char name[128];
    enum gptoss_status st = GPTOSS_OK;
#define LAYER_BIND(suffix, dtypes, out, ...)                                                       \
    do {                                                                                           \
        snprintf(name, sizeof name, "model.layers.%u.%s", layer, suffix);                          \
        st = WEIGHTS_BIND(b, name, dtypes, out, __VA_ARGS__);                                      \
        if (st != GPTOSS_OK)                                                                       \
            return st;                                                                             \
    } while (0)
    LAYER_BIND("input_layernorm.weight", WEIGHTS_FLOAT, &lw->attn_norm, d);
    LAYER_BIND("self_attn.q_proj.weight", WEIGHTS_FLOAT, &lw->q, q, d);
    LAYER_BIND("self_attn.q_proj.bias", WEIGHTS_FLOAT, &lw->q_bias, q);
    LAYER_BIND("self_attn.k_proj.weight", WEIGHTS_FLOAT, &lw->k, kv, d);
    LAYER_BIND("self_attn.k_proj.bias", WEIGHTS_FLOAT, &lw->k_bias, kv);
    LAYER_BIND("self_attn.v_proj.weight", WEIGHTS_FLOAT, &lw->v, kv, d);
    LAYER_BIND("self_attn.v_proj.bias", WEIGHTS_FLOAT, &lw->v_bias, kv);
    LAYER_BIND("self_attn.o_proj.weight", WEIGHTS_FLOAT, &lw->o, d, q);
    LAYER_BIND("self_attn.o_proj.bias", WEIGHTS_FLOAT, &lw->o_bias, d);
    LAYER_BIND("self_attn.sinks", WEIGHTS_FLOAT, &lw->sinks, c->n_heads);
    LAYER_BIND("post_attention_layernorm.weight", WEIGHTS_FLOAT, &lw->mlp_norm, d);
    LAYER_BIND("mlp.router.weight", WEIGHTS_FLOAT, &lw->router, e, d);
    LAYER_BIND("mlp.router.bias", WEIGHTS_FLOAT, &lw->router_bias, e);
    LAYER_BIND("mlp.experts.gate_up_proj_bias", WEIGHTS_FLOAT, &lw->w1_bias, e, 2 * f);
    LAYER_BIND("mlp.experts.down_proj_bias", WEIGHTS_FLOAT, &lw->w2_bias, e, d);

    lw->gate_up = (struct expert_matrix){
        .n_experts = c->n_experts, .n_out = 2 * c->d_ff, .n_in = c->d_model, .bias = &lw->w1_bias};
    lw->down = (struct expert_matrix){
        .n_experts = c->n_experts, .n_out = c->d_model, .n_in = c->d_ff, .bias = &lw->w2_bias};
    if (c->experts_mxfp4) {
        LAYER_BIND("mlp.experts.gate_up_proj_blocks", WEIGHTS_U8, &lw->w1_blocks, e, 2 * f, d / 32,
                   16);
        LAYER_BIND("mlp.experts.gate_up_proj_scales", WEIGHTS_U8, &lw->w1_scales, e, 2 * f, d / 32);
        LAYER_BIND("mlp.experts.down_proj_blocks", WEIGHTS_U8, &lw->w2_blocks, e, d, f / 32, 16);
        LAYER_BIND("mlp.experts.down_proj_scales", WEIGHTS_U8, &lw->w2_scales, e, d, f / 32);
        lw->gate_up.format = EXPERT_MXFP4;
        lw->gate_up.blocks = lw->w1_blocks.data;
        lw->gate_up.scales = lw->w1_scales.data;
        lw->down.format = EXPERT_MXFP4;
        lw->down.blocks = lw->w2_blocks.data;
        lw->down.scales = lw->w2_scales.data;
    } else {
        /* transformers' unquantized layout: [E, in, out], hence EXPERT_BF16_IO. */
        LAYER_BIND("mlp.experts.gate_up_proj", WEIGHTS_BF16, &lw->w1, e, d, 2 * f);
        LAYER_BIND("mlp.experts.down_proj", WEIGHTS_BF16, &lw->w2, e, f, d);
        lw->gate_up.format = EXPERT_BF16_IO;
        lw->gate_up.weight = lw->w1.data;
        lw->down.format = EXPERT_BF16_IO;
        lw->down.weight = lw->w2.data;
    }
#undef LAYER_BIND
    return st;
}

static void weights_build_free(struct weights_build *b)
{
    for (size_t i = 0; i < b->n_shards; i++) {
        if (b->shards)
            safetensors_close(b->shards[i]);
        free(b->shard_names[i]);
    }
    free(b->shards);
    free(b->shard_names);
    json_decref(b->weight_map);
}

enum gptoss_status model_weights_load(const char *dir, const struct model_config *config,
                                      const struct model_progress *progress,
                                      struct model_weights **weights_out)
{
    *weights_out = NULL;
    struct weights_build b = {.dir = dir};
    struct layer_weights *layers = NULL;
    struct model_weights w = {0};
    enum gptoss_status st;

    char *index_path = weights_join(dir, WEIGHTS_INDEX_NAME);
    char *single_path = weights_join(dir, WEIGHTS_SINGLE_NAME);
    if (file_exists(index_path)) {
        st = weights_read_index(&b, index_path);
    } else if (file_exists(single_path)) {
        b.shard_names = xmalloc(sizeof *b.shard_names);
        b.shard_names[0] = xstrdup(WEIGHTS_SINGLE_NAME);
        b.n_shards = 1;
        st = GPTOSS_OK;
    } else {
        st = error_set(GPTOSS_ERR_IO, "%s: no weights: neither %s nor %s exists", dir,
                       WEIGHTS_INDEX_NAME, WEIGHTS_SINGLE_NAME);
    }
    free(index_path);
    free(single_path);
    if (st != GPTOSS_OK)
        goto fail;
    st = weights_open_shards(&b, progress);
    if (st != GPTOSS_OK)
        goto fail;

    const uint64_t v = config->n_vocab, d = config->d_model;
    st = WEIGHTS_BIND(&b, "model.embed_tokens.weight", WEIGHTS_FLOAT, &w.embed, v, d);
    if (st != GPTOSS_OK)
        goto fail;
    layers = xcalloc(config->n_layers, sizeof *layers);
    for (uint32_t i = 0; i < config->n_layers; i++) {
        st = weights_bind_layer(&b, config, i, &layers[i]);
        if (st != GPTOSS_OK)
            goto fail;
    }
    st = WEIGHTS_BIND(&b, "model.norm.weight", WEIGHTS_FLOAT, &w.final_norm, d);
    if (st == GPTOSS_OK)
        st = WEIGHTS_BIND(&b, "lm_head.weight", WEIGHTS_FLOAT, &w.lm_head, v, d);
    if (st != GPTOSS_OK)
        goto fail;

    struct model_weights *out = xmalloc(sizeof *out);
    *out = w;
    out->layers = layers;
    out->shards = b.shards;
    out->n_shards = b.n_shards;
    out->n_bytes = b.n_bytes;
    for (size_t i = 0; i < b.n_shards; i++)
        free(b.shard_names[i]);
    free(b.shard_names);
    json_decref(b.weight_map);
    *weights_out = out;
    return GPTOSS_OK;

fail:
    free(layers);
    weights_build_free(&b);
    return st;
}

void model_weights_destroy(struct model_weights *weights)
{
    if (!weights)
        return;
    for (size_t i = 0; i < weights->n_shards; i++)
        safetensors_close(weights->shards[i]);
    free(weights->shards);
    free(weights->layers);
    free(weights);
}

uint64_t model_weights_decode_bytes(const struct model_weights *w, const struct model_config *c)
{
    uint64_t bytes = w->final_norm.n_bytes + w->lm_head.n_bytes + w->embed.n_bytes / c->n_vocab;
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const struct layer_weights *lw = &w->layers[l];
        const struct tensor *dense[] = {&lw->attn_norm,  &lw->q,     &lw->q_bias,   &lw->k,
                                        &lw->k_bias,     &lw->v,     &lw->v_bias,   &lw->o,
                                        &lw->o_bias,     &lw->sinks, &lw->mlp_norm, &lw->router,
                                        &lw->router_bias};
        const struct tensor *expert[] = {&lw->w1_blocks, &lw->w1_scales, &lw->w2_blocks,
                                         &lw->w2_scales, &lw->w1,        &lw->w2,
                                         &lw->w1_bias,   &lw->w2_bias};
        for (size_t i = 0; i < sizeof(dense) / sizeof(dense[0]); i++)
            bytes += dense[i]->n_bytes;
        for (size_t i = 0; i < sizeof(expert) / sizeof(expert[0]); i++)
            bytes += expert[i]->n_bytes / c->n_experts * c->n_experts_per_token;
    }
    return bytes;
}
