/* model_config.c — config.json and generation_config.json into struct model_config.
 *
 * The parser accepts the Hub's config.json (rope_scaling + rope_theta) and transformers v5's
 * rope_parameters, takes transformers' defaults for the fields a gpt-oss config may omit, and
 * bounds every size before anything multiplies them: model_weights and the KV allocator trust
 * these numbers. Every failure is one line naming the file and the field.
 */
#include "model/model_config.h"

#include "base/error.h"
#include "base/file.h"
#include "base/xalloc.h"

#include <float.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CONFIG_MAX_FILE     (16u << 20)
#define CONFIG_MAX_POSITION (1u << 30)

/* Stop tokens when generation_config.json is absent: <|return|>, <|endoftext|>, <|call|>. */
static const uint32_t config_default_eos[] = {200002, 199999, 200012};

/* "PATH: field 'NAME' <reason>", the one shape every config error takes. */
static enum gptoss_status config_fail(enum gptoss_status status, const char *path,
                                      const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum gptoss_status config_fail(enum gptoss_status status, const char *path,
                                      const char *field, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return error_set(status, "%s: field '%s' %s", path, field, reason);
}

/* A JSON null counts as absent: transformers writes null for unset optional fields. */
static const json_t *config_get(const json_t *obj, const char *key)
{
    const json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_null(v) ? NULL : v;
}

/* An integer field in [min, max]. Integral reals (4096.0) are accepted since Python writers
 * sometimes produce them. *present (may be NULL) tells whether the field was there; absent
 * optional fields leave *out untouched. */
static enum gptoss_status config_uint(const json_t *obj, const char *key, const char *field,
                                      const char *path, bool required, uint64_t min, uint64_t max,
                                      uint32_t *out, bool *present)
{
    const json_t *v = config_get(obj, key);
    if (present)
        *present = v != NULL;
    if (!v) {
        if (required)
            return config_fail(GPTOSS_ERR_FORMAT, path, field, "is missing");
        return GPTOSS_OK;
    }
    long long value;
    if (json_is_integer(v)) {
        value = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d > -9e18 && d < 9e18) || (double)(long long)d != d)
            return config_fail(GPTOSS_ERR_FORMAT, path, field, "must be an integer (got %g)", d);
        value = (long long)d;
    } else {
        return config_fail(GPTOSS_ERR_FORMAT, path, field, "must be an integer");
    }
    if (value < 0 || (unsigned long long)value < min || (unsigned long long)value > max)
        return config_fail(GPTOSS_ERR_FORMAT, path, field,
                           "must be between %llu and %llu (got %lld)", (unsigned long long)min,
                           (unsigned long long)max, value);
    *out = (uint32_t)value;
    return GPTOSS_OK;
}

/* A number that is finite as a float and, when `positive`, > 0. */
static enum gptoss_status config_float(const json_t *obj, const char *key, const char *field,
                                       const char *path, bool required, bool positive, float *out,
                                       bool *present)
{
    const json_t *v = config_get(obj, key);
    if (present)
        *present = v != NULL;
    if (!v) {
        if (required)
            return config_fail(GPTOSS_ERR_FORMAT, path, field, "is missing");
        return GPTOSS_OK;
    }
    if (!json_is_number(v))
        return config_fail(GPTOSS_ERR_FORMAT, path, field, "must be a number");
    double d = json_number_value(v);
    if (!(d >= -FLT_MAX && d <= FLT_MAX))
        return config_fail(GPTOSS_ERR_FORMAT, path, field, "must be a finite number (got %g)", d);
    if (positive && !(d > 0))
        return config_fail(GPTOSS_ERR_FORMAT, path, field, "must be positive (got %g)", d);
    *out = (float)d;
    return GPTOSS_OK;
}

static enum gptoss_status config_bool(const json_t *obj, const char *key, const char *field,
                                      const char *path, bool *out)
{
    const json_t *v = config_get(obj, key);
    if (!v)
        return GPTOSS_OK;
    if (!json_is_boolean(v))
        return config_fail(GPTOSS_ERR_FORMAT, path, field, "must be true or false");
    *out = json_is_true(v);
    return GPTOSS_OK;
}

/* layer_types, or transformers' default rule: even layers slide, odd layers see everything. */
static enum gptoss_status config_layer_types(const json_t *root, const char *path,
                                             struct model_config *c)
{
    const json_t *types = config_get(root, "layer_types");
    if (!types) {
        for (uint32_t i = 0; i < c->n_layers; i++)
            c->layer_sliding[i] = i % 2 == 0;
        return GPTOSS_OK;
    }
    if (!json_is_array(types))
        return config_fail(GPTOSS_ERR_FORMAT, path, "layer_types", "must be an array");
    if (json_array_size(types) != c->n_layers)
        return config_fail(GPTOSS_ERR_FORMAT, path, "layer_types",
                           "has %zu entries, but num_hidden_layers is %u", json_array_size(types),
                           c->n_layers);
    for (uint32_t i = 0; i < c->n_layers; i++) {
        const char *s = json_string_value(json_array_get(types, i));
        if (s && strcmp(s, "sliding_attention") == 0)
            c->layer_sliding[i] = true;
        else if (s && strcmp(s, "full_attention") == 0)
            c->layer_sliding[i] = false;
        else
            return config_fail(GPTOSS_ERR_FORMAT, path, "layer_types",
                               "entry %u must be \"sliding_attention\" or \"full_attention\"", i);
    }
    return GPTOSS_OK;
}

/* Joins an object's name and a key into `out` for error messages ("rope_scaling.factor"). */
static const char *config_subfield(char *out, size_t size, const char *object, const char *key)
{
    snprintf(out, size, "%s.%s", object, key);
    return out;
}

/* RoPE from rope_parameters (v5, theta inside) or rope_scaling + rope_theta (the Hub file).
 * YaRN defaults are transformers' (beta 32/1, truncate true, original context =
 * max_position_embeddings); a missing or "default" rope_type is plain RoPE. */
static enum gptoss_status config_rope(const json_t *root, const char *path, struct model_config *c)
{
    struct rope_params *r = &c->rope;
    const char *name = "rope_parameters";
    const json_t *ro = config_get(root, name);
    if (!ro) {
        name = "rope_scaling";
        ro = config_get(root, name);
    }
    if (ro && !json_is_object(ro))
        return config_fail(GPTOSS_ERR_FORMAT, path, name, "must be an object");

    char field[96];
    enum gptoss_status st;
    bool have_theta = false;
    if (ro) {
        st =
            config_float(ro, "rope_theta", config_subfield(field, sizeof field, name, "rope_theta"),
                         path, false, true, &r->theta, &have_theta);
        if (st != GPTOSS_OK)
            return st;
    }
    if (!have_theta) {
        st = config_float(root, "rope_theta", "rope_theta", path, true, true, &r->theta, NULL);
        if (st != GPTOSS_OK)
            return st;
    }

    r->head_dim = c->head_dim;
    r->factor = 1.0f;
    r->beta_fast = 32.0f;
    r->beta_slow = 1.0f;
    r->original_max_position = c->max_position;
    r->truncate = true;
    r->attention_factor = 1.0f;

    const char *type = "default";
    const char *type_key = "rope_type";
    if (ro) {
        const json_t *t = config_get(ro, "rope_type");
        if (!t) {
            type_key = "type"; /* the pre-4.45 transformers spelling */
            t = config_get(ro, "type");
        }
        if (t) {
            type = json_string_value(t);
            if (!type)
                return config_fail(GPTOSS_ERR_FORMAT, path,
                                   config_subfield(field, sizeof field, name, type_key),
                                   "must be a string");
        }
    }
    if (strcmp(type, "default") == 0)
        return GPTOSS_OK;
    if (strcmp(type, "yarn") != 0)
        return config_fail(GPTOSS_ERR_FORMAT, path,
                           config_subfield(field, sizeof field, name, type_key),
                           "is \"%s\"; only \"yarn\" and \"default\" are supported", type);

    static const char *const unsupported[] = {"mscale", "mscale_all_dim"};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (config_get(ro, unsupported[i]))
            return config_fail(GPTOSS_ERR_UNSUPPORTED, path,
                               config_subfield(field, sizeof field, name, unsupported[i]),
                               "is not supported");

    st = config_float(ro, "factor", config_subfield(field, sizeof field, name, "factor"), path,
                      true, true, &r->factor, NULL);
    if (st == GPTOSS_OK)
        st = config_uint(
            ro, "original_max_position_embeddings",
            config_subfield(field, sizeof field, name, "original_max_position_embeddings"), path,
            false, 1, CONFIG_MAX_POSITION, &r->original_max_position, NULL);
    if (st == GPTOSS_OK)
        st = config_float(ro, "beta_fast", config_subfield(field, sizeof field, name, "beta_fast"),
                          path, false, true, &r->beta_fast, NULL);
    if (st == GPTOSS_OK)
        st = config_float(ro, "beta_slow", config_subfield(field, sizeof field, name, "beta_slow"),
                          path, false, true, &r->beta_slow, NULL);
    if (st == GPTOSS_OK)
        st = config_bool(ro, "truncate", config_subfield(field, sizeof field, name, "truncate"),
                         path, &r->truncate);
    if (st != GPTOSS_OK)
        return st;
    /* 0 asks rope_init for YaRN's 0.1 * ln(factor) + 1. */
    r->attention_factor = 0.0f;
    return config_float(ro, "attention_factor",
                        config_subfield(field, sizeof field, name, "attention_factor"), path, false,
                        true, &r->attention_factor, NULL);
}

/* "mxfp4" experts or none; other quantization methods would need kernels this build lacks. */
static enum gptoss_status config_quantization(const json_t *root, const char *path,
                                              struct model_config *c)
{
    c->experts_mxfp4 = false;
    const json_t *q = config_get(root, "quantization_config");
    if (!q)
        return GPTOSS_OK;
    if (!json_is_object(q))
        return config_fail(GPTOSS_ERR_FORMAT, path, "quantization_config", "must be an object");
    const json_t *m = config_get(q, "quant_method");
    if (!json_is_string(m))
        return config_fail(GPTOSS_ERR_FORMAT, path, "quantization_config.quant_method",
                           "must be a string");
    if (strcmp(json_string_value(m), "mxfp4") != 0)
        return config_fail(GPTOSS_ERR_UNSUPPORTED, path, "quantization_config.quant_method",
                           "is \"%s\"; only \"mxfp4\" is supported", json_string_value(m));
    c->experts_mxfp4 = true;
    return GPTOSS_OK;
}

/* Sizes first (everything else is checked against them), then the cross-field rules. */
static enum gptoss_status config_sizes(const json_t *root, const char *path, struct model_config *c)
{
    enum gptoss_status st;
#define CONFIG_UINT(key, req, lo, hi, dst)                                                         \
    do {                                                                                           \
        st = config_uint(root, key, key, path, req, lo, hi, dst, NULL);                            \
        if (st != GPTOSS_OK)                                                                       \
            return st;                                                                             \
    } while (0)
    CONFIG_UINT("hidden_size", true, 1, MODEL_MAX_DIM, &c->d_model);
    CONFIG_UINT("intermediate_size", true, 1, MODEL_MAX_DIM, &c->d_ff);
    CONFIG_UINT("num_hidden_layers", true, 1, MODEL_MAX_LAYERS, &c->n_layers);
    CONFIG_UINT("num_attention_heads", true, 1, MODEL_MAX_DIM, &c->n_heads);
    CONFIG_UINT("num_key_value_heads", true, 1, MODEL_MAX_DIM, &c->n_kv_heads);
    CONFIG_UINT("vocab_size", true, 1, MODEL_MAX_VOCAB, &c->n_vocab);
    CONFIG_UINT("max_position_embeddings", true, 1, CONFIG_MAX_POSITION, &c->max_position);
    c->sliding_window = 128;
    CONFIG_UINT("sliding_window", false, 1, CONFIG_MAX_POSITION, &c->sliding_window);
#undef CONFIG_UINT

    /* num_experts / experts_per_token are the original checkpoint's names. */
    bool have;
    const char *experts_key = "num_local_experts";
    st = config_uint(root, experts_key, experts_key, path, false, 1, MODEL_MAX_EXPERTS,
                     &c->n_experts, &have);
    if (st == GPTOSS_OK && !have) {
        experts_key = "num_experts";
        st = config_uint(root, experts_key, "num_local_experts", path, true, 1, MODEL_MAX_EXPERTS,
                         &c->n_experts, NULL);
    }
    if (st != GPTOSS_OK)
        return st;
    st = config_uint(root, "num_experts_per_tok", "num_experts_per_tok", path, false, 1,
                     MODEL_MAX_EXPERTS, &c->n_experts_per_token, &have);
    if (st == GPTOSS_OK && !have)
        st = config_uint(root, "experts_per_token", "num_experts_per_tok", path, true, 1,
                         MODEL_MAX_EXPERTS, &c->n_experts_per_token, NULL);
    if (st != GPTOSS_OK)
        return st;
    if (c->n_experts_per_token > c->n_experts)
        return config_fail(GPTOSS_ERR_FORMAT, path, "num_experts_per_tok",
                           "(%u) must not exceed the number of experts (%u)",
                           c->n_experts_per_token, c->n_experts);

    st = config_uint(root, "head_dim", "head_dim", path, false, 1, 2 * ROPE_MAX_HALF, &c->head_dim,
                     &have);
    if (st != GPTOSS_OK)
        return st;
    if (!have) {
        if (c->d_model % c->n_heads != 0)
            return config_fail(GPTOSS_ERR_FORMAT, path, "head_dim",
                               "is missing and hidden_size (%u) is not a multiple of "
                               "num_attention_heads (%u)",
                               c->d_model, c->n_heads);
        c->head_dim = c->d_model / c->n_heads;
        if (c->head_dim > 2 * ROPE_MAX_HALF)
            return config_fail(GPTOSS_ERR_FORMAT, path, "head_dim",
                               "(hidden_size / num_attention_heads = %u) must be at most %u",
                               c->head_dim, 2 * ROPE_MAX_HALF);
    }
    if (c->head_dim % 2 != 0)
        return config_fail(GPTOSS_ERR_FORMAT, path, "head_dim", "must be even for RoPE (got %u)",
                           c->head_dim);
    if ((uint64_t)c->n_heads * c->head_dim > MODEL_MAX_DIM)
        return config_fail(GPTOSS_ERR_FORMAT, path, "num_attention_heads",
                           "times head_dim (%u * %u) must be at most %u", c->n_heads, c->head_dim,
                           MODEL_MAX_DIM);
    if (c->n_heads % c->n_kv_heads != 0)
        return config_fail(GPTOSS_ERR_FORMAT, path, "num_key_value_heads",
                           "(%u) must divide num_attention_heads (%u)", c->n_kv_heads, c->n_heads);
    return GPTOSS_OK;
}

static void config_generation_defaults(struct model_config *c)
{
    c->n_eos = sizeof config_default_eos / sizeof config_default_eos[0];
    memcpy(c->eos_ids, config_default_eos, sizeof config_default_eos);
    c->default_temperature = -1.0f;
    c->default_top_p = -1.0f;
}

static json_t *config_parse_json(const char *json_text, size_t len, const char *path,
                                 enum gptoss_status *st)
{
    json_error_t jerr;
    json_t *root = json_loadb(json_text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        *st = error_set(GPTOSS_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", path, jerr.line,
                        jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *st = error_set(GPTOSS_ERR_FORMAT, "%s: the top level must be a JSON object", path);
        return NULL;
    }
    *st = GPTOSS_OK;
    return root;
}

enum gptoss_status model_config_parse(const char *json_text, size_t len, const char *path,
                                      struct model_config *config_out)
{
    memset(config_out, 0, sizeof *config_out);
    enum gptoss_status st;
    json_t *root = config_parse_json(json_text, len, path, &st);
    if (!root)
        return st;

    struct model_config c;
    memset(&c, 0, sizeof c);
    c.rms_norm_eps = 1e-5f;
    c.swiglu_limit = 7.0f;
    c.swiglu_alpha = 1.702f;
    config_generation_defaults(&c);

    st = config_sizes(root, path, &c);
    if (st == GPTOSS_OK)
        st = config_layer_types(root, path, &c);
    if (st == GPTOSS_OK)
        st = config_float(root, "rms_norm_eps", "rms_norm_eps", path, false, true, &c.rms_norm_eps,
                          NULL);
    if (st == GPTOSS_OK)
        st = config_float(root, "swiglu_limit", "swiglu_limit", path, false, true, &c.swiglu_limit,
                          NULL);
    if (st == GPTOSS_OK)
        st = config_float(root, "swiglu_alpha", "swiglu_alpha", path, false, true, &c.swiglu_alpha,
                          NULL);
    if (st == GPTOSS_OK)
        st = config_rope(root, path, &c);
    if (st == GPTOSS_OK)
        st = config_quantization(root, path, &c);
    if (st == GPTOSS_OK && c.experts_mxfp4 && (c.d_model % 32 != 0 || c.d_ff % 32 != 0))
        st = config_fail(
            GPTOSS_ERR_FORMAT, path, c.d_model % 32 ? "hidden_size" : "intermediate_size",
            "(%u) must be a multiple of 32 for MXFP4 experts", c.d_model % 32 ? c.d_model : c.d_ff);
    json_decref(root);
    if (st == GPTOSS_OK)
        *config_out = c;
    return st;
}

enum gptoss_status model_config_parse_generation(const char *json_text, size_t len,
                                                 const char *path, struct model_config *config)
{
    enum gptoss_status st;
    json_t *root = config_parse_json(json_text, len, path, &st);
    if (!root)
        return st;

    uint32_t eos[MODEL_MAX_EOS];
    uint32_t n_eos = 0;
    float temperature = -1.0f, top_p = -1.0f;
    const json_t *e = config_get(root, "eos_token_id");
    if (json_is_array(e)) {
        if (json_array_size(e) == 0 || json_array_size(e) > MODEL_MAX_EOS)
            st = config_fail(GPTOSS_ERR_FORMAT, path, "eos_token_id",
                             "must list between 1 and %d token ids (got %zu)", MODEL_MAX_EOS,
                             json_array_size(e));
        for (size_t i = 0; st == GPTOSS_OK && i < json_array_size(e); i++) {
            const json_t *id = json_array_get(e, i);
            if (!json_is_integer(id) || json_integer_value(id) < 0 ||
                json_integer_value(id) >= (json_int_t)config->n_vocab)
                st = config_fail(GPTOSS_ERR_FORMAT, path, "eos_token_id",
                                 "entry %zu must be a token id below vocab_size (%u)", i,
                                 config->n_vocab);
            else
                eos[n_eos++] = (uint32_t)json_integer_value(id);
        }
    } else if (e) {
        st = config_uint(root, "eos_token_id", "eos_token_id", path, true, 0,
                         config->n_vocab ? config->n_vocab - 1 : 0, &eos[0], NULL);
        n_eos = 1;
    }
    bool have_t = false, have_p = false;
    if (st == GPTOSS_OK)
        st = config_float(root, "temperature", "temperature", path, false, false, &temperature,
                          &have_t);
    if (st == GPTOSS_OK && have_t && temperature < 0)
        st = config_fail(GPTOSS_ERR_FORMAT, path, "temperature", "must not be negative");
    if (st == GPTOSS_OK)
        st = config_float(root, "top_p", "top_p", path, false, true, &top_p, &have_p);
    if (st == GPTOSS_OK && have_p && top_p > 1)
        st = config_fail(GPTOSS_ERR_FORMAT, path, "top_p", "must be in (0, 1]");
    json_decref(root);
    if (st != GPTOSS_OK)
        return st;

    if (n_eos > 0) {
        memcpy(config->eos_ids, eos, n_eos * sizeof eos[0]);
        config->n_eos = n_eos;
    }
    config->default_temperature = have_t ? temperature : -1.0f;
    config->default_top_p = have_p ? top_p : -1.0f;
    return GPTOSS_OK;
}

static char *config_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

enum gptoss_status model_config_load(const char *dir, struct model_config *config_out)
{
    memset(config_out, 0, sizeof *config_out);
    char *path = config_join(dir, "config.json");
    char *text = NULL;
    size_t len = 0;
    struct model_config c;
    enum gptoss_status st = file_read_all(path, CONFIG_MAX_FILE, &text, &len);
    if (st == GPTOSS_OK)
        st = model_config_parse(text, len, path, &c);
    free(text);
    text = NULL;
    free(path);
    if (st != GPTOSS_OK)
        return st;

    path = config_join(dir, "generation_config.json");
    if (file_exists(path)) {
        st = file_read_all(path, CONFIG_MAX_FILE, &text, &len);
        if (st == GPTOSS_OK)
            st = model_config_parse_generation(text, len, path, &c);
        free(text);
    }
    free(path);
    if (st == GPTOSS_OK)
        *config_out = c;
    return st;
}

uint64_t model_config_n_params(const struct model_config *c)
{
    uint64_t d = c->d_model, f = c->d_ff, e = c->n_experts;
    uint64_t q = (uint64_t)c->n_heads * c->head_dim;
    uint64_t kv = (uint64_t)c->n_kv_heads * c->head_dim;
    uint64_t attn = (q * d + q) + 2 * (kv * d + kv) + (d * q + d) + c->n_heads;
    uint64_t router = e * d + e;
    uint64_t experts = e * (2 * f * d + 2 * f + d * f + d);
    uint64_t layer = 2 * d + attn + router + experts;
    return 2 * (uint64_t)c->n_vocab * d + c->n_layers * layer + d;
}
