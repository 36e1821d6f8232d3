/* model_internal.h — struct model, shared by model.c (life cycle, memory) and model_forward.c
 * (the step). Nothing outside src/model/ includes this.
 */
#ifndef GPTOSS_MODEL_INTERNAL_H
#define GPTOSS_MODEL_INTERNAL_H

#include "backend/backend.h"
#include "model/model.h"

/* Activations of one step, grown to the largest batch seen. Dimensions as in model_weights.h,
 * n = tokens in the batch, k = experts per token. */
struct model_scratch {
    uint32_t cap_tokens;
    float *x;               /* (n, D) residual stream */
    float *xn;              /* (n, D) normalised */
    float *q;               /* (n, Hq*S) */
    float *k, *v;           /* (n, Hkv*S) */
    float *attn;            /* (n, Hq*S) attention output before o_proj */
    float *proj;            /* (n, D) o_proj output */
    float *router;          /* (n, E) router logits */
    uint32_t *expert_idx;   /* (n, k) chosen experts */
    float *expert_w;        /* (n, k) their weights */
    float *moe_out;         /* (n, D) weighted sum of expert outputs */
    uint32_t *expert_count; /* (E) rows routed to each expert */
    uint32_t *expert_start; /* (E + 1) prefix sums of expert_count */
    uint32_t *rows_token;   /* (n*k) token of each routed row, grouped by expert */
    uint32_t *rows_slot;    /* (n*k) which of the token's k choices it is */
    float *rows_x;          /* (n, D) gathered inputs of one expert */
    float *rows_u;          /* (n, 2F) gate/up */
    float *rows_a;          /* (n, F) after SwiGLU */
    float *rows_y;          /* (n, D) expert output */
};

struct model {
    struct model_config config;
    struct model_weights *weights;
    const struct backend_ops *ops;
    struct rope rope;
    float *sinks;                    /* (L, Hq) f32 copies of self_attn.sinks */
    struct kv_layer *kv;             /* (L) */
    uint32_t kv_blocks[KV_N_GROUPS]; /* blocks allocated per group */
    struct model_scratch scratch;
    void *int8_store; /* --weights int8: the requantised matrices and their scales */
    size_t int8_store_bytes;
};

/* --weights int8: requantises q/k/v/o and the unembedding to per-row int8 (model_int8.c),
 * with n_threads threads (0: one per CPU), and points their tensors at the copies. */
enum gptoss_status model_weights_to_int8(struct model *model, uint32_t n_threads);

/* Which KV group layer `layer` belongs to. */
enum kv_group model_layer_group(const struct model *model, uint32_t layer);

/* Makes the scratch hold at least n_tokens rows. */
enum gptoss_status model_scratch_reserve(struct model *model, uint32_t n_tokens);

#endif
