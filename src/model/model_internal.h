/* model_internal.h — struct model, shared by model.c (life cycle, memory) and model_forward.c
 * (the step). Nothing outside src/model/ includes this.
 */
#ifndef GPTOSS_MODEL_INTERNAL_H
#define GPTOSS_MODEL_INTERNAL_H

#include "backend/backend.h"
#include "comm/comm.h"
#include "model/model.h"
#include "model/model_shard.h"

#include <stdatomic.h>

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
    float *logits_local;    /* (n, V/N) tensor parallel: this rank's logits columns */
    float *logits_all;      /* (n, V) tensor parallel, rank 0: every rank's, rank after rank */
    float *flag;            /* (1) tensor parallel: the step's agreement */
};

struct model_tp_threads;

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
    /* Tensor parallelism: this rank's part, its link to the others (NULL: one rank), the
     * copies its part needed (model_shard.c), and on rank 0 of a thread group the other
     * ranks' threads (model_tp.c). */
    struct model_shard shard;
    struct comm *comm;
    void *shard_store;
    size_t shard_store_bytes;
    size_t shard_o_bytes; /* of shard_store, the o_proj copies at its start (whole pages) */
    struct model_tp_threads *threads;
    _Atomic bool lost; /* a collective failed: the ranks are out of step for good */
};

/* Cuts the loaded weights down to model->shard (model_shard.c); nothing for one rank. With
 * int8 the whole rows of o_proj are read once for their max |w| (layer_weights.o_row_amax). */
enum gptoss_status model_weights_shard(struct model *model, bool int8);

/* After --weights int8 has requantised a rank's o_proj copies: gives their pages back. */
void model_shard_release_o(struct model *model);

/* Loads rank comm->rank's part (comm NULL: the whole model), taking ownership of comm. */
enum gptoss_status model_load_rank(const char *dir, const struct model_options *options,
                                   struct comm *comm, struct model **model_out);

/* The step on this rank's part: every rank runs it with the same batch, and rank 0 (only)
 * gets the logits. */
enum gptoss_status model_forward_local(struct model *model, const struct batch *batch,
                                       float *logits_out);

/* Rank 0's half of the step protocol (model_tp.c): sends the batch, or the KV sizes, to the
 * other ranks, which run model_worker_run. */
enum gptoss_status model_tp_send_forward(struct model *model, const struct batch *batch);
enum gptoss_status model_tp_send_kv_alloc(struct model *model,
                                          const uint32_t n_blocks[KV_N_GROUPS]);
/* Stops the other ranks (rank 0, at destroy) and joins a thread group's threads. */
void model_tp_stop(struct model *model);

/* model_kv_alloc on one rank, then agreement: what the other ranks run for rank 0's call. */
enum gptoss_status model_kv_alloc_rank(struct model *model, const uint32_t n_blocks[KV_N_GROUPS]);

/* Whether every rank has ok set (each rank calls it with its own): one tiny all-reduce. A
 * failed collective counts as not ok. */
bool model_tp_agree(struct comm *comm, bool ok);

/* The same for a loaded model's step, where `mine` is this rank's status: GPTOSS_OK when all
 * ranks were ok; else mine, or an error saying another rank could not allocate `what`; a failed
 * collective also marks the model lost (model_lost). */
enum gptoss_status model_tp_agree_step(struct model *model, enum gptoss_status mine,
                                       const char *what);

/* --weights int8: requantises q/k/v/o and the unembedding to per-row int8 (model_int8.c),
 * with n_threads threads (0: one per CPU), and points their tensors at the copies. */
enum gptoss_status model_weights_to_int8(struct model *model, uint32_t n_threads);

/* Which KV group layer `layer` belongs to. */
enum kv_group model_layer_group(const struct model *model, uint32_t layer);

/* Makes the scratch hold at least n_tokens rows. */
enum gptoss_status model_scratch_reserve(struct model *model, uint32_t n_tokens);

#endif
