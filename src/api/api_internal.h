/* api_internal.h — what the public API's files share: the layer objects behind each handle and
 * the one-sequence runner that sessions and teacher-forced logits use. */
#ifndef GPTOSS_API_INTERNAL_H
#define GPTOSS_API_INTERNAL_H

#include "gptoss.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

/* The layer tokenizer behind a public handle; lives as long as the handle. */
const struct tokenizer *api_tokenizer_inner(const struct gptoss_tokenizer *t);

struct gptoss_model {
    struct model *model;
    struct gptoss_tokenizer *tokenizer;
    bool session_live; /* a session holds the KV cache */
};

/* Most tokens one forward step takes for a single sequence. */
#define API_CHUNK 256

/* One sequence over the whole KV cache of a model: full-attention layers get a block per 16
 * positions, sliding-window layers a ring just large enough for the window plus one chunk. */
struct api_sequence {
    struct model *model;
    uint32_t capacity;             /* most tokens the sequence may hold */
    uint32_t n_computed;           /* tokens whose keys and values are in the cache */
    uint32_t *tables[KV_N_GROUPS]; /* block tables */
    uint32_t *positions, *seq_of_token, *slots[KV_N_GROUPS]; /* [API_CHUNK] step inputs */
    bool *need_logits;                                       /* [API_CHUNK] */
    uint32_t ring_tokens; /* positions the sliding-window ring holds */
};

enum gptoss_status api_sequence_init(struct api_sequence *seq, struct model *model,
                                     uint32_t capacity);
void api_sequence_deinit(struct api_sequence *seq);

/* Runs tokens[0..m) (m <= API_CHUNK) at the next positions. Stores logits of every token
 * ([m][V]) when all_logits, else of the last one only ([V]). */
enum gptoss_status api_sequence_run(struct api_sequence *seq, const uint32_t *tokens, uint32_t m,
                                    bool all_logits, float *logits);

/* Forgets every position from n on. Returns the number of positions still in the cache: n, or
 * 0 when the rewind reaches further back than the sliding-window ring remembers (the caller then
 * recomputes from the start). */
uint32_t api_sequence_rewind(struct api_sequence *seq, uint32_t n);

#endif
