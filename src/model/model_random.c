/* model_random.c — writes a gpt-oss checkpoint with deterministic random weights, laid out
 * exactly like the Hub's (config.json, generation_config.json, shards + index).
 *
 * Tests load the tiny preset; benchmarks write full-size 20b/120b checkpoints, so the writer
 * streams: each tensor is generated into one 16 MiB buffer at a time and written out. Every
 * tensor has its own generator, seeded from the seed and a hash of its name, so its bytes do
 * not depend on where it sits in the file. Values come from integer arithmetic and single,
 * correctly rounded float operations only (no libm), which makes the output the same on every
 * IEEE machine.
 */
#include "model/model_random.h"

#include "base/error.h"
#include "base/rand.h"
#include "base/xalloc.h"
#include "model/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RANDOM_CHUNK (16u << 20) /* a multiple of 8: see random_fill */

struct random_preset {
    const char *name;
    uint32_t n_layers, d_model, n_heads, n_kv_heads, head_dim, n_experts, n_experts_per_token;
    uint32_t d_ff, n_vocab, sliding_window, original_max_position, rope_factor, n_shards;
    float sink_scale;
};

/* Shapes of gpt-oss.md §1.1; tiny keeps the real vocabulary so the real tokenizer fits it. */
static const struct random_preset random_presets[] = {
    {"tiny", 4, 96, 4, 2, 64, 8, 4, 64, 201088, 128, 4096, 32, 1, 1.0f},
    {"20b", 24, 2880, 64, 8, 64, 32, 4, 2880, 201088, 128, 4096, 32, 3, 1.0f},
    {"120b", 36, 2880, 64, 8, 64, 128, 4, 2880, 201088, 128, 4096, 32, 15, 1.0f},
};

enum random_init {
    RANDOM_UNIFORM, /* bf16 uniform in [-a, a) */
    RANDOM_GAIN,    /* bf16 uniform in [1 - a, 1 + a): norm gains that are not all ones */
    RANDOM_BYTES,   /* MXFP4 blocks: every FP4 code equally likely */
    RANDOM_SCALES,  /* E8M0 scales: base - 1, base or base + 1 */
};

struct random_tensor {
    char name[96];
    enum dtype dtype;
    uint32_t n_dims;
    uint64_t shape[TENSOR_MAX_DIMS];
    uint64_t n_bytes;
    enum random_init init;
    float mul;          /* uniform: half-width / 2^23, applied to a 24-bit signed integer */
    uint8_t scale_base; /* scales */
    uint32_t group;     /* 0 embedding, 1..L layers, L + 1 final norm and lm_head */
};

struct random_model {
    struct random_preset p;
    bool mxfp4;
    uint32_t max_position;
    struct random_tensor *tensors;
    size_t n_tensors;
};

/* FNV-1a of the tensor name, mixed with the seed: each tensor's stream stands alone. */
static uint64_t random_tensor_seed(uint64_t seed, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    uint64_t s = seed;
    return rand_splitmix64(&s) ^ h;
}

static uint64_t random_isqrt(uint64_t n)
{
    uint64_t x = 0, bit = 1ull << 62;
    while (bit > n)
        bit >>= 2;
    while (bit) {
        if (n >= x + bit) {
            n -= x + bit;
            x = (x >> 1) + bit;
        } else {
            x >>= 1;
        }
        bit >>= 2;
    }
    return x;
}

/* c / sqrt(n) from an integer square root and one correctly rounded division: the same bits
 * on every machine, unlike a libm call. */
static double random_inv_sqrt(uint64_t n, double c)
{
    return c * (double)(1u << 20) / (double)random_isqrt(n << 40);
}

/* The multiplier that maps a 24-bit signed integer onto [-a, a). */
static float random_mul(double a)
{
    return (float)(a / 8388608.0);
}

/* E8M0 exponent that puts random FP4 values (rms about 2.9) near 1/sqrt(n_in): 127 - c - 2
 * with c = ceil(log2(sqrt(n_in))). */
static uint8_t random_scale_base(uint64_t n_in)
{
    uint32_t c = 0;
    while ((1ull << (2 * c)) < n_in)
        c++;
    return (uint8_t)(127 - c - 2);
}

static void random_add(struct random_model *m, size_t *cap, uint32_t group, const char *name,
                       enum dtype dtype, enum random_init init, double a, uint32_t n_dims,
                       const uint64_t *shape)
{
    m->tensors = xgrow(m->tensors, cap, m->n_tensors + 1, sizeof *m->tensors);
    struct random_tensor *t = &m->tensors[m->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = dtype;
    t->n_dims = n_dims;
    uint64_t n = 1;
    for (uint32_t i = 0; i < n_dims; i++) {
        t->shape[i] = shape[i];
        n *= shape[i];
    }
    t->n_bytes = n * dtype_size(dtype);
    t->init = init;
    t->group = group;
    if (init == RANDOM_UNIFORM || init == RANDOM_GAIN)
        t->mul = random_mul(a);
    if (init == RANDOM_SCALES)
        t->scale_base = random_scale_base((uint64_t)a);
}

#define RANDOM_ADD(m, cap, group, name, dtype, init, a, ...)                                       \
    random_add(m, cap, group, name, dtype, init, a,                                                \
               (uint32_t)(sizeof((uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t)),                   \
               (const uint64_t[]){__VA_ARGS__})

/* The Hub's tensor list (gpt-oss.md §2.2) with each tensor's distribution. */
static void random_plan(struct random_model *m)
{
    const struct random_preset *p = &m->p;
    const uint64_t d = p->d_model, f = p->d_ff, e = p->n_experts, v = p->n_vocab;
    const uint64_t q = (uint64_t)p->n_heads * p->head_dim;
    const uint64_t kv = (uint64_t)p->n_kv_heads * p->head_dim;
    const double bias = 0.02, gain = 0.1;
    size_t cap = 0;
    char name[96];

    RANDOM_ADD(m, &cap, 0, "model.embed_tokens.weight", DTYPE_BF16, RANDOM_UNIFORM, 1.0, v, d);
    for (uint32_t l = 0; l < p->n_layers; l++) {
        uint32_t g = l + 1;
#define LAYER_ADD(suffix, dtype, init, a, ...)                                                     \
    do {                                                                                           \
        snprintf(name, sizeof name, "model.layers.%u.%s", l, suffix);                              \
        RANDOM_ADD(m, &cap, g, name, dtype, init, a, __VA_ARGS__);                                 \
    } while (0)
        LAYER_ADD("input_layernorm.weight", DTYPE_BF16, RANDOM_GAIN, gain, d);
        LAYER_ADD("self_attn.q_proj.weight", DTYPE_BF16, RANDOM_UNIFORM, random_inv_sqrt(d, 1), q,
                  d);
        LAYER_ADD("self_attn.q_proj.bias", DTYPE_BF16, RANDOM_UNIFORM, bias, q);
        LAYER_ADD("self_attn.k_proj.weight", DTYPE_BF16, RANDOM_UNIFORM, random_inv_sqrt(d, 1), kv,
                  d);
        LAYER_ADD("self_attn.k_proj.bias", DTYPE_BF16, RANDOM_UNIFORM, bias, kv);
        LAYER_ADD("self_attn.v_proj.weight", DTYPE_BF16, RANDOM_UNIFORM, random_inv_sqrt(d, 1), kv,
                  d);
        LAYER_ADD("self_attn.v_proj.bias", DTYPE_BF16, RANDOM_UNIFORM, bias, kv);
        LAYER_ADD("self_attn.o_proj.weight", DTYPE_BF16, RANDOM_UNIFORM, random_inv_sqrt(q, 1), d,
                  q);
        LAYER_ADD("self_attn.o_proj.bias", DTYPE_BF16, RANDOM_UNIFORM, bias, d);
        LAYER_ADD("self_attn.sinks", DTYPE_BF16, RANDOM_UNIFORM, (double)p->sink_scale, p->n_heads);
        LAYER_ADD("post_attention_layernorm.weight", DTYPE_BF16, RANDOM_GAIN, gain, d);
        /* A wide router makes the top-k choice decisive, so tiny numeric differences between
         * backends rarely flip an expert. */
        LAYER_ADD("mlp.router.weight", DTYPE_BF16, RANDOM_UNIFORM, random_inv_sqrt(d, 2), e, d);
        LAYER_ADD("mlp.router.bias", DTYPE_BF16, RANDOM_UNIFORM, bias, e);
        if (m->mxfp4) {
            LAYER_ADD("mlp.experts.gate_up_proj_blocks", DTYPE_U8, RANDOM_BYTES, 0, e, 2 * f,
                      d / 32, 16);
            LAYER_ADD("mlp.experts.gate_up_proj_scales", DTYPE_U8, RANDOM_SCALES, (double)d, e,
                      2 * f, d / 32);
            LAYER_ADD("mlp.experts.gate_up_proj_bias", DTYPE_BF16, RANDOM_UNIFORM, bias, e, 2 * f);
            LAYER_ADD("mlp.experts.down_proj_blocks", DTYPE_U8, RANDOM_BYTES, 0, e, d, f / 32, 16);
            LAYER_ADD("mlp.experts.down_proj_scales", DTYPE_U8, RANDOM_SCALES, (double)f, e, d,
                      f / 32);
            LAYER_ADD("mlp.experts.down_proj_bias", DTYPE_BF16, RANDOM_UNIFORM, bias, e, d);
        } else {
            LAYER_ADD("mlp.experts.gate_up_proj", DTYPE_BF16, RANDOM_UNIFORM, random_inv_sqrt(d, 1),
                      e, d, 2 * f);
            LAYER_ADD("mlp.experts.gate_up_proj_bias", DTYPE_BF16, RANDOM_UNIFORM, bias, e, 2 * f);
            LAYER_ADD("mlp.experts.down_proj", DTYPE_BF16, RANDOM_UNIFORM, random_inv_sqrt(f, 1), e,
                      f, d);
            LAYER_ADD("mlp.experts.down_proj_bias", DTYPE_BF16, RANDOM_UNIFORM, bias, e, d);
        }
#undef LAYER_ADD
    }
    uint32_t last = p->n_layers + 1;
    RANDOM_ADD(m, &cap, last, "model.norm.weight", DTYPE_BF16, RANDOM_GAIN, gain, d);
    RANDOM_ADD(m, &cap, last, "lm_head.weight", DTYPE_BF16, RANDOM_UNIFORM, random_inv_sqrt(d, 1),
               v, d);
}

static void random_put16(unsigned char *out, uint16_t h)
{
    out[0] = (unsigned char)(h & 0xff);
    out[1] = (unsigned char)(h >> 8);
}

/* The top 24 bits as a signed integer in [-2^23, 2^23): exactly representable as a float. */
static float random_signed24(uint64_t *state)
{
    return (float)((int32_t)(rand_splitmix64(state) >> 40) - (1 << 23));
}

/* Generates the next n bytes of tensor t's stream. Streams are cut into RANDOM_CHUNK pieces
 * (multiples of 8), so byte-packed generators never split a draw across calls. */
static void random_fill(const struct random_tensor *t, uint64_t *state, unsigned char *out,
                        size_t n)
{
    switch (t->init) {
    case RANDOM_UNIFORM:
        for (size_t i = 0; i + 1 < n; i += 2) {
            float v = random_signed24(state) * t->mul;
            random_put16(out + i, f32_to_bf16(v));
        }
        break;
    case RANDOM_GAIN:
        for (size_t i = 0; i + 1 < n; i += 2) {
            /* Two statements, so no compiler may fuse them into an FMA. */
            float delta = random_signed24(state) * t->mul;
            float g = 1.0f + delta;
            random_put16(out + i, f32_to_bf16(g));
        }
        break;
    case RANDOM_BYTES:
        for (size_t i = 0; i < n; i += 8) {
            uint64_t r = rand_splitmix64(state);
            for (size_t b = 0; b < 8 && i + b < n; b++)
                out[i + b] = (unsigned char)(r >> (8 * b));
        }
        break;
    case RANDOM_SCALES:
        for (size_t i = 0; i < n; i++)
            out[i] = (unsigned char)(t->scale_base + (rand_splitmix64(state) >> 32) % 3 - 1);
        break;
    }
}

/* mkdir -p: the benchmarks point the writer at fresh nested directories. */
static char *random_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static enum gptoss_status random_write_json(const char *dir, const char *name, json_t *root)
{
    char *path = random_join(dir, name);
    enum gptoss_status st = GPTOSS_OK;
    /* %.9g keeps 1e-05 and 0.9 as the Hub writes them instead of 17-digit expansions. */
    if (json_dump_file(root, path, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(9)) != 0)
        st = error_set(GPTOSS_ERR_IO, "%s: cannot write", path);
    free(path);
    json_decref(root);
    return st;
}

static enum gptoss_status random_write_configs(const struct random_model *m, const char *dir)
{
    const struct random_preset *p = &m->p;
    json_t *c = json_object();
    json_object_set_new(c, "architectures", json_pack("[s]", "GptOssForCausalLM"));
    json_object_set_new(c, "attention_bias", json_true());
    json_object_set_new(c, "attention_dropout", json_real(0.0));
    json_object_set_new(c, "eos_token_id",
                        json_integer(p->n_vocab > 200002 ? 200002 : p->n_vocab - 1));
    json_object_set_new(c, "experts_per_token", json_integer(p->n_experts_per_token));
    json_object_set_new(c, "head_dim", json_integer(p->head_dim));
    json_object_set_new(c, "hidden_act", json_string("silu"));
    json_object_set_new(c, "hidden_size", json_integer(p->d_model));
    json_object_set_new(c, "initial_context_length", json_integer(p->original_max_position));
    json_object_set_new(c, "initializer_range", json_real(0.02));
    json_object_set_new(c, "intermediate_size", json_integer(p->d_ff));
    json_t *types = json_array();
    for (uint32_t i = 0; i < p->n_layers; i++)
        json_array_append_new(types,
                              json_string(i % 2 == 0 ? "sliding_attention" : "full_attention"));
    json_object_set_new(c, "layer_types", types);
    json_object_set_new(c, "max_position_embeddings", json_integer(m->max_position));
    json_object_set_new(c, "model_type", json_string("gpt_oss"));
    json_object_set_new(c, "num_attention_heads", json_integer(p->n_heads));
    json_object_set_new(c, "num_experts_per_tok", json_integer(p->n_experts_per_token));
    json_object_set_new(c, "num_hidden_layers", json_integer(p->n_layers));
    json_object_set_new(c, "num_key_value_heads", json_integer(p->n_kv_heads));
    json_object_set_new(c, "num_local_experts", json_integer(p->n_experts));
    json_object_set_new(c, "output_router_logits", json_false());
    json_object_set_new(c, "pad_token_id", json_integer(199999));
    if (m->mxfp4)
        json_object_set_new(c, "quantization_config",
                            json_pack("{s:s, s:[s,s,s,s]}", "quant_method", "mxfp4",
                                      "modules_to_not_convert", "model.layers.*.self_attn",
                                      "model.layers.*.mlp.router", "model.embed_tokens",
                                      "lm_head"));
    json_object_set_new(c, "rms_norm_eps", json_real(1e-5));
    json_object_set_new(
        c, "rope_scaling",
        json_pack("{s:f, s:f, s:f, s:I, s:s, s:b}", "beta_fast", 32.0, "beta_slow", 1.0, "factor",
                  (double)p->rope_factor, "original_max_position_embeddings",
                  (json_int_t)p->original_max_position, "rope_type", "yarn", "truncate", 0));
    json_object_set_new(c, "rope_theta", json_integer(150000));
    json_object_set_new(c, "router_aux_loss_coef", json_real(0.9));
    json_object_set_new(c, "sliding_window", json_integer(p->sliding_window));
    json_object_set_new(c, "swiglu_limit", json_real(7.0));
    json_object_set_new(c, "tie_word_embeddings", json_false());
    json_object_set_new(c, "torch_dtype", json_string("bfloat16"));
    json_object_set_new(c, "transformers_version", json_string("4.55.0.dev0"));
    json_object_set_new(c, "use_cache", json_true());
    json_object_set_new(c, "vocab_size", json_integer(p->n_vocab));
    enum gptoss_status st = random_write_json(dir, "config.json", c);
    if (st != GPTOSS_OK)
        return st;

    json_t *g = json_pack("{s:i, s:b, s:[i,i,i], s:i}", "bos_token_id", 199998, "do_sample", 1,
                          "eos_token_id", 200002, 199999, 200012, "pad_token_id", 199999);
    if (p->n_vocab <= 200012) {
        /* A cut-down vocabulary (model-layer unit tests) has no harmony specials. */
        json_object_set_new(g, "eos_token_id", json_integer(p->n_vocab - 1));
        json_object_del(g, "bos_token_id");
        json_object_del(g, "pad_token_id");
    }
    return random_write_json(dir, "generation_config.json", g);
}

/* Splits the groups (embedding, layers, head) into n contiguous, non-empty shard ranges of
 * roughly equal bytes. first_group[s] is shard s's first group; first_group[n] = n_groups. */
static void random_split(const uint64_t *group_bytes, uint32_t n_groups, uint32_t n,
                         uint32_t *first_group)
{
    uint64_t total = 0;
    for (uint32_t g = 0; g < n_groups; g++)
        total += group_bytes[g];
    uint32_t g = 0;
    uint64_t done = 0;
    for (uint32_t s = 0; s < n; s++) {
        first_group[s] = g;
        done += group_bytes[g++];
        if (s == n - 1) {
            g = n_groups;
            break;
        }
        /* Take the next group while that lands closer to this shard's share of the bytes and
         * leaves one group for each remaining shard. */
        uint64_t target = total / n * (s + 1);
        while (g < n_groups - (n - 1 - s)) {
            uint64_t with = done + group_bytes[g];
            uint64_t gap_with = with > target ? with - target : target - with;
            uint64_t gap_without = done > target ? done - target : target - done;
            if (gap_with > gap_without)
                break;
            done = with;
            g++;
        }
    }
    first_group[n] = n_groups;
}

static enum gptoss_status random_write_shard(const struct random_model *m, const char *path,
                                             size_t first, size_t end, uint64_t seed,
                                             unsigned char *chunk, const struct model_progress *pr,
                                             uint64_t *done, uint64_t total)
{
    struct tensor *views = xcalloc(end - first ? end - first : 1, sizeof *views);
    for (size_t i = first; i < end; i++) {
        const struct random_tensor *t = &m->tensors[i];
        struct tensor *v = &views[i - first];
        v->name = t->name;
        v->dtype = t->dtype;
        v->n_dims = t->n_dims;
        memcpy(v->shape, t->shape, sizeof v->shape);
        v->n_bytes = t->n_bytes;
    }
    size_t header_size;
    unsigned char *header = safetensors_header_build(views, end - first, &header_size);
    free(views);

    enum gptoss_status st = GPTOSS_OK;
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        free(header);
        return error_set(GPTOSS_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (fwrite(header, 1, header_size, fp) != header_size)
        st = error_set(GPTOSS_ERR_IO, "%s: write: %s", path, strerror(errno));
    free(header);
    for (size_t i = first; st == GPTOSS_OK && i < end; i++) {
        const struct random_tensor *t = &m->tensors[i];
        uint64_t state = random_tensor_seed(seed, t->name);
        for (uint64_t off = 0; off < t->n_bytes; off += RANDOM_CHUNK) {
            size_t n = (size_t)(t->n_bytes - off < RANDOM_CHUNK ? t->n_bytes - off : RANDOM_CHUNK);
            random_fill(t, &state, chunk, n);
            if (fwrite(chunk, 1, n, fp) != n) {
                st = error_set(GPTOSS_ERR_IO, "%s: write: %s", path, strerror(errno));
                break;
            }
            *done += n;
            if (pr && pr->fn)
                pr->fn(pr->user, *done, total);
        }
    }
    if (fclose(fp) != 0 && st == GPTOSS_OK)
        st = error_set(GPTOSS_ERR_IO, "%s: close: %s", path, strerror(errno));
    return st;
}

/* Resolves the preset and the overrides into m. */
static enum gptoss_status random_resolve(const struct model_random_options *o,
                                         struct random_model *m)
{
    const char *preset = o->preset ? o->preset : "tiny";
    const struct random_preset *p = NULL;
    for (size_t i = 0; i < sizeof random_presets / sizeof random_presets[0]; i++)
        if (strcmp(random_presets[i].name, preset) == 0)
            p = &random_presets[i];
    if (!p)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "random model preset '%s' is unknown (tiny, 20b, 120b)", preset);
    m->p = *p;
    m->mxfp4 = !o->experts_bf16;
    if (o->n_layers)
        m->p.n_layers = o->n_layers;
    if (o->n_experts)
        m->p.n_experts = o->n_experts;
    if (m->p.n_experts_per_token > m->p.n_experts)
        m->p.n_experts_per_token = m->p.n_experts;
    if (o->rope_original_max_position)
        m->p.original_max_position = o->rope_original_max_position;
    if (o->n_shards)
        m->p.n_shards = o->n_shards;
    if (o->n_vocab)
        m->p.n_vocab = o->n_vocab;
    if (o->sink_scale != 0)
        m->p.sink_scale = o->sink_scale;
    if (m->p.n_layers > MODEL_MAX_LAYERS || m->p.n_experts > MODEL_MAX_EXPERTS)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "random model: at most %d layers and %d experts", MODEL_MAX_LAYERS,
                         MODEL_MAX_EXPERTS);
    if (!(m->p.sink_scale > 0 && m->p.sink_scale < 1e30f))
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "random model: sink_scale must be positive and finite");
    if (m->p.n_shards > m->p.n_layers + 2 || m->p.n_shards > 99999)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "random model: %u shards for %u layers; at most layers + 2", m->p.n_shards,
                         m->p.n_layers);
    uint64_t max_position = (uint64_t)m->p.original_max_position * m->p.rope_factor;
    if (max_position > (1u << 30))
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "random model: rope_original_max_position %u is too large",
                         m->p.original_max_position);
    m->max_position = (uint32_t)max_position;
    return GPTOSS_OK;
}

static void random_shard_name(char *out, size_t size, uint32_t k, uint32_t n)
{
    if (n == 1)
        snprintf(out, size, "model.safetensors");
    else
        snprintf(out, size, "model-%05u-of-%05u.safetensors", k, n - 1);
}

enum gptoss_status model_random_write(const struct model_random_options *options, const char *dir)
{
    struct random_model m;
    memset(&m, 0, sizeof m);
    enum gptoss_status st = random_resolve(options, &m);
    if (st != GPTOSS_OK)
        return st;
    st = file_mkdirs(dir);
    if (st != GPTOSS_OK)
        return st;
    random_plan(&m);

    const uint32_t n_shards = m.p.n_shards, n_groups = m.p.n_layers + 2;
    uint64_t *group_bytes = xcalloc(n_groups, sizeof *group_bytes);
    uint64_t total = 0;
    for (size_t i = 0; i < m.n_tensors; i++) {
        group_bytes[m.tensors[i].group] += m.tensors[i].n_bytes;
        total += m.tensors[i].n_bytes;
    }
    uint32_t *first_group = xcalloc(n_shards + 1, sizeof *first_group);
    random_split(group_bytes, n_groups, n_shards, first_group);
    free(group_bytes);

    /* A stale index (or single file) from an earlier write would shadow this one on load. */
    char *stale =
        random_join(dir, n_shards == 1 ? "model.safetensors.index.json" : "model.safetensors");
    unlink(stale);
    free(stale);

    st = random_write_configs(&m, dir);
    unsigned char *chunk = NULL;
    json_t *weight_map = json_object();
    if (st == GPTOSS_OK) {
        chunk = malloc(RANDOM_CHUNK);
        if (!chunk)
            st = error_set(GPTOSS_ERR_NOMEM, "random model: no memory for a %u-byte buffer",
                           RANDOM_CHUNK);
    }
    uint64_t done = 0;
    size_t first = 0;
    for (uint32_t s = 0; st == GPTOSS_OK && s < n_shards; s++) {
        size_t end = first;
        while (end < m.n_tensors && m.tensors[end].group < first_group[s + 1])
            end++;
        char name[64];
        random_shard_name(name, sizeof name, s, n_shards);
        for (size_t i = first; i < end; i++)
            json_object_set_new(weight_map, m.tensors[i].name, json_string(name));
        char *path = random_join(dir, name);
        st = random_write_shard(&m, path, first, end, options->seed, chunk, options->progress,
                                &done, total);
        free(path);
        first = end;
    }
    free(chunk);
    free(first_group);
    free(m.tensors);
    if (st == GPTOSS_OK && n_shards > 1) {
        json_t *index = json_pack("{s:{s:I}, s:O}", "metadata", "total_size", (json_int_t)total,
                                  "weight_map", weight_map);
        st = random_write_json(dir, "model.safetensors.index.json", index);
    }
    json_decref(weight_map);
    return st;
}
