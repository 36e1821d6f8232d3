/* batch.h — the step input: a flat batch of tokens from many sequences.
 *
 * Prefill chunks and decode tokens travel in the same batch; there is no prefill or decode mode.
 * Token i of the batch belongs to sequence seq_of_token[i], sits at absolute position
 * positions[i] and writes its keys and values to KV slot slots[g][i] (block * KV_BLOCK_SIZE +
 * offset) of each KV group g. Within one sequence the tokens of a batch are consecutive
 * positions in increasing order, and every earlier position of that sequence is already in the
 * cache (or in this batch), so attention reads positions 0..p through the block table.
 *
 * The two KV groups exist because sliding-window layers only ever read the last W positions:
 * their blocks can be released as a sequence grows while the full-attention layers keep theirs.
 * A block table entry for a block that lies wholly outside the window may be KV_BLOCK_NONE for
 * the sliding group.
 */
#ifndef GPTOSS_MODEL_BATCH_H
#define GPTOSS_MODEL_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#define KV_BLOCK_SIZE 16
#define KV_BLOCK_NONE UINT32_MAX

enum kv_group {
    KV_GROUP_FULL,    /* full-attention layers */
    KV_GROUP_SLIDING, /* sliding-window layers */
    KV_N_GROUPS,
};

struct batch {
    uint32_t n_tokens;
    uint32_t n_seqs;
    const uint32_t *tokens;                           /* [n_tokens] */
    const uint32_t *positions;                        /* [n_tokens] */
    const uint32_t *seq_of_token;                     /* [n_tokens] < n_seqs */
    const uint32_t *slots[KV_N_GROUPS];               /* [n_tokens] each */
    const uint32_t *const *block_tables[KV_N_GROUPS]; /* [n_seqs][ceil((max pos + 1) / 16)] */
    const bool *need_logits; /* [n_tokens]; logits rows come out in batch order */
};

#endif
