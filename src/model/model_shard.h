/* model_shard.h — which part of the model a tensor-parallel rank holds.
 *
 * Rank r of N holds: query heads [q_head0, +n_q_heads) with the q rows, sinks and o_proj
 * columns that go with them; the KV heads those queries read (its share of the 8, or the one
 * it shares with other ranks when N exceeds the KV heads, as vLLM replicates them); every
 * expert's hidden units [ff0, +n_ff) (gate/up row pairs and down_proj columns, whole MXFP4
 * blocks of 32); unembedding rows [vocab0, +n_vocab). Embedding, norms and router are whole on
 * every rank; the biases that are added after a sum (o_proj, down_proj) only on rank 0.
 */
#ifndef GPTOSS_MODEL_SHARD_H
#define GPTOSS_MODEL_SHARD_H

#include "gptoss.h"
#include "model/model_config.h"

#include <stdint.h>

struct model_shard {
    uint32_t rank, n_ranks;
    uint32_t q_head0, n_q_heads;
    uint32_t kv_head0, n_kv_heads;
    uint32_t ff0, n_ff;
    uint32_t vocab0, n_vocab;
};

/* Rank `rank` of `n_ranks`'s part; GPTOSS_ERR_INVALID_ARGUMENT, naming
 * --tensor-parallel-size, when the heads do not split that many ways. */
enum gptoss_status model_shard_plan(const struct model_config *config, uint32_t rank,
                                    uint32_t n_ranks, struct model_shard *out);

#endif
