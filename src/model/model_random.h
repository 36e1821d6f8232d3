/* model_random.h — writes a gpt-oss checkpoint with random weights in exactly the Hub layout.
 *
 * Used by tests (tiny) and benchmarks (full 20b/120b size): config.json,
 * generation_config.json, model.safetensors.index.json and shards named as the Hub names them
 * (model-0000K-of-0000N.safetensors, zero-based, N = shards - 1). The tokenizer.json is written
 * by the caller (the model layer does not know the tokenizer). Output is a pure function of the
 * options: the same seed gives the same bytes on every machine (integer PRNG, no libm).
 */
#ifndef GPTOSS_MODEL_RANDOM_H
#define GPTOSS_MODEL_RANDOM_H

#include "gptoss.h"
#include "model/model_weights.h"

#include <stdbool.h>
#include <stdint.h>

struct model_random_options {
    const char *preset; /* "tiny", "20b" or "120b" */
    uint64_t seed;
    bool experts_bf16; /* gate_up_proj/down_proj in bf16 instead of MXFP4 */
    uint32_t n_shards; /* 0: the preset's (1 for tiny, 3 for 20b, 15 for 120b) */
    /* Overrides; 0 keeps the preset's value. */
    uint32_t n_layers;
    uint32_t n_experts;
    uint32_t rope_original_max_position;
    uint32_t n_vocab; /* for unit tests of the model layer alone: a small vocabulary */
    float sink_scale; /* sinks drawn from [-s, s]; 0 keeps the preset's */
    const struct model_progress *progress; /* may be NULL */
};

/* Writes the checkpoint into `dir` (created if missing). */
enum gptoss_status model_random_write(const struct model_random_options *options, const char *dir);

#endif
