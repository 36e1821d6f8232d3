/* api_sequence.c — running one token sequence through the model's paged KV cache, for the
 * public calls that have no scheduler under them (sessions, teacher-forced logits).
 *
 * Block tables are fixed at start: full-attention block i is block i; sliding-window block i
 * is block i mod R, where R blocks hold the last W positions plus one chunk, so that the keys a
 * chunk writes never overwrite keys one of its own queries still reads.
 */
#include "api_internal.h"

#include "base/error.h"

#include <stdlib.h>
#include <string.h>

enum gptoss_status api_sequence_init(struct api_sequence *seq, struct model *model,
                                     uint32_t capacity)
{
    memset(seq, 0, sizeof(*seq));
    const struct model_config *c = model_config(model);
    uint32_t n_blocks = (capacity + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE;
    uint32_t ring = (c->sliding_window - 1 + API_CHUNK + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE + 1;
    if (ring > n_blocks)
        ring = n_blocks;
    uint32_t blocks[KV_N_GROUPS] = {[KV_GROUP_FULL] = n_blocks, [KV_GROUP_SLIDING] = ring};
    enum gptoss_status st = model_kv_alloc(model, blocks);
    if (st != GPTOSS_OK)
        return st;
    seq->model = model;
    seq->capacity = capacity;
    seq->ring_tokens = ring * KV_BLOCK_SIZE;
    for (int g = 0; g < KV_N_GROUPS; g++) {
        seq->tables[g] = malloc(n_blocks * sizeof(uint32_t));
        seq->slots[g] = malloc(API_CHUNK * sizeof(uint32_t));
    }
    seq->positions = malloc(API_CHUNK * sizeof(uint32_t));
    seq->seq_of_token = calloc(API_CHUNK, sizeof(uint32_t));
    seq->need_logits = malloc(API_CHUNK * sizeof(bool));
    if (!seq->tables[0] || !seq->tables[1] || !seq->slots[0] || !seq->slots[1] || !seq->positions ||
        !seq->seq_of_token || !seq->need_logits) {
        api_sequence_deinit(seq);
        return error_set(GPTOSS_ERR_NOMEM, "cannot allocate block tables for %u tokens", capacity);
    }
    for (uint32_t i = 0; i < n_blocks; i++) {
        seq->tables[KV_GROUP_FULL][i] = i;
        seq->tables[KV_GROUP_SLIDING][i] = i % ring;
    }
    return GPTOSS_OK;
}

void api_sequence_deinit(struct api_sequence *seq)
{
    for (int g = 0; g < KV_N_GROUPS; g++) {
        free(seq->tables[g]);
        free(seq->slots[g]);
    }
    free(seq->positions);
    free(seq->seq_of_token);
    free(seq->need_logits);
    memset(seq, 0, sizeof(*seq));
}

enum gptoss_status api_sequence_run(struct api_sequence *seq, const uint32_t *tokens, uint32_t m,
                                    bool all_logits, float *logits)
{
    if (m == 0 || m > API_CHUNK || seq->capacity - seq->n_computed < m)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "%u tokens do not fit the sequence (%u of %u)", m, seq->n_computed,
                         seq->capacity);
    for (uint32_t i = 0; i < m; i++) {
        uint32_t p = seq->n_computed + i;
        seq->positions[i] = p;
        for (int g = 0; g < KV_N_GROUPS; g++)
            seq->slots[g][i] =
                seq->tables[g][p / KV_BLOCK_SIZE] * KV_BLOCK_SIZE + p % KV_BLOCK_SIZE;
        seq->need_logits[i] = all_logits || i == m - 1;
    }
    const uint32_t *const *tables[KV_N_GROUPS] = {(const uint32_t *const *)&seq->tables[0],
                                                  (const uint32_t *const *)&seq->tables[1]};
    struct batch batch = {
        .n_tokens = m,
        .n_seqs = 1,
        .tokens = tokens,
        .positions = seq->positions,
        .seq_of_token = seq->seq_of_token,
        .slots = {seq->slots[0], seq->slots[1]},
        .block_tables = {tables[0], tables[1]},
        .need_logits = seq->need_logits,
    };
    enum gptoss_status st = model_forward(seq->model, &batch, logits);
    if (st == GPTOSS_OK)
        seq->n_computed += m;
    return st;
}

uint32_t api_sequence_rewind(struct api_sequence *seq, uint32_t n)
{
    if (n >= seq->n_computed)
        return seq->n_computed;
    uint32_t window = model_config(seq->model)->sliding_window;
    /* Positions n - W .. n - 1 must not have been overwritten by n_computed - ring .. */
    if (seq->ring_tokens < window || seq->n_computed - n > seq->ring_tokens - window)
        n = 0;
    seq->n_computed = n;
    return n;
}
