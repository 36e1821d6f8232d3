/* model_weights.h — the checkpoint's tensors, found by name, checked against the config and
 * used in place from the memory-mapped shards.
 *
 * Dimensions: D = d_model, Hq = query heads, Hkv = kv heads, S = head size, E = experts,
 *             F = expert hidden size, V = vocabulary.
 * Non-expert tensors may be BF16 or F32; biases, norms and sinks likewise.
 */
#ifndef GPTOSS_MODEL_WEIGHTS_H
#define GPTOSS_MODEL_WEIGHTS_H

#include "gptoss.h"
#include "backend/backend.h"
#include "model/model_config.h"

struct layer_weights {
    struct tensor attn_norm;            /* (D) input_layernorm */
    struct tensor q, q_bias;            /* (Hq*S, D), (Hq*S) */
    struct tensor k, k_bias;            /* (Hkv*S, D), (Hkv*S) */
    struct tensor v, v_bias;            /* (Hkv*S, D), (Hkv*S) */
    struct tensor o, o_bias;            /* (D, Hq*S), (D) */
    struct tensor sinks;                /* (Hq) raw sink logits */
    struct tensor mlp_norm;             /* (D) post_attention_layernorm */
    struct tensor router, router_bias;  /* (E, D), (E) */
    struct tensor w1_blocks, w1_scales; /* MXFP4: (E, 2F, D/32, 16), (E, 2F, D/32) u8 */
    struct tensor w2_blocks, w2_scales; /* MXFP4: (E, D, F/32, 16), (E, D, F/32) u8 */
    struct tensor w1, w2;  /* bf16 experts: gate_up_proj (E, D, 2F), down_proj (E, F, D) */
    struct tensor w1_bias; /* (E, 2F) gate/up interleaved like the rows of w1 */
    struct tensor w2_bias; /* (E, D) */
    /* A tensor-parallel rank's o holds some columns of each row; with --weights int8 its rows
     * are scaled by the whole row's max |w| (model_shard.c), as one rank's would be. */
    const float *o_row_amax;      /* (D) or NULL */
    struct expert_matrix gate_up; /* views of the above, ready for backend expert_matmul */
    struct expert_matrix down;
};

struct safetensors;

struct model_weights {
    struct tensor embed;          /* (V, D) model.embed_tokens.weight */
    struct tensor final_norm;     /* (D) model.norm.weight */
    struct tensor lm_head;        /* (V, D) lm_head.weight (untied) */
    struct layer_weights *layers; /* [n_layers] */
    struct safetensors **shards;  /* [n_shards], owned */
    size_t n_shards;
    uint64_t n_bytes; /* bytes of all tensors used */
};

/* Progress while mapping and checking shards: done and total in bytes. */
struct model_progress {
    void (*fn)(void *user, uint64_t done, uint64_t total);
    void *user;
};

/* Opens DIR/model.safetensors.index.json (resolving every tensor through its weight_map) or
 * else DIR/model.safetensors, and binds every tensor the config calls for, checking dtype and
 * shape. Errors name the file and the tensor. `progress` may be NULL. */
enum gptoss_status model_weights_load(const char *dir, const struct model_config *config,
                                      const struct model_progress *progress,
                                      struct model_weights **weights_out);
void model_weights_destroy(struct model_weights *weights);

/* Bytes of weights one decoded token reads: every layer's attention, norms and router, the
 * top-k experts' share of the expert tensors, the final norm and the unembedding, plus one row
 * of the embedding. The denominator of decode's bandwidth figures. */
uint64_t model_weights_decode_bytes(const struct model_weights *weights,
                                    const struct model_config *config);

#endif
