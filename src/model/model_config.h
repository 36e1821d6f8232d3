/* model_config.h — the numbers a gpt-oss checkpoint's config.json and generation_config.json
 * hold, parsed and checked once so that every later step can trust them.
 *
 * Both the Hub's `rope_scaling` + `rope_theta` and transformers v5's `rope_parameters` are
 * accepted. Every size is bounded (see MODEL_MAX_*), so a hostile config.json cannot make the
 * loader multiply its way past SIZE_MAX or allocate absurd buffers.
 */
#ifndef GPTOSS_MODEL_CONFIG_H
#define GPTOSS_MODEL_CONFIG_H

#include "gptoss.h"
#include "backend/backend.h"

#include <stdbool.h>
#include <stdint.h>

#define MODEL_MAX_LAYERS  256
#define MODEL_MAX_EXPERTS 1024
#define MODEL_MAX_DIM     65536 /* hidden size, expert size, heads * head size */
#define MODEL_MAX_VOCAB   1048576
#define MODEL_MAX_EOS     8

struct model_config {
    uint32_t n_layers;
    uint32_t d_model;                     /* hidden_size (D) */
    uint32_t n_heads;                     /* num_attention_heads (Hq) */
    uint32_t n_kv_heads;                  /* num_key_value_heads (Hkv), divides Hq */
    uint32_t head_dim;                    /* S, even, <= 2 * ROPE_MAX_HALF */
    uint32_t n_experts;                   /* num_local_experts (E) */
    uint32_t n_experts_per_token;         /* num_experts_per_tok (k <= E) */
    uint32_t d_ff;                        /* intermediate_size (F) per expert */
    uint32_t n_vocab;                     /* vocab_size (V) */
    uint32_t sliding_window;              /* W keys including self */
    uint32_t max_position;                /* max_position_embeddings */
    bool layer_sliding[MODEL_MAX_LAYERS]; /* layer_types, or even layers when absent */
    float rms_norm_eps;
    float swiglu_limit;
    float swiglu_alpha; /* 1.702 unless config.json says swiglu_alpha */
    struct rope_params rope;
    bool experts_mxfp4; /* quantization_config.quant_method == "mxfp4" */

    /* generation_config.json (defaults when the file is absent). */
    uint32_t eos_ids[MODEL_MAX_EOS]; /* stop tokens */
    uint32_t n_eos;
    float default_temperature; /* < 0 when not given */
    float default_top_p;       /* < 0 when not given */
};

/* Parses config.json text. `path` only names the file in error messages ("config.json: field
 * 'hidden_size' must be ..."). Fails with GPTOSS_ERR_FORMAT on invalid JSON, a missing or
 * mistyped field, or a value out of range. */
enum gptoss_status model_config_parse(const char *json_text, size_t len, const char *path,
                                      struct model_config *config_out);

/* Fills the generation defaults of *config from generation_config.json text. */
enum gptoss_status model_config_parse_generation(const char *json_text, size_t len,
                                                 const char *path, struct model_config *config);

/* Reads DIR/config.json and, when present, DIR/generation_config.json. */
enum gptoss_status model_config_load(const char *dir, struct model_config *config_out);

/* Parameter count implied by the config (embedding and unembedding included). */
uint64_t model_config_n_params(const struct model_config *config);

#endif
