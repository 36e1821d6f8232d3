/* sampler.h — turning one row of logits into the next token.
 *
 * The order follows vLLM's: logit bias, then penalties (repetition over prompt and output;
 * presence and frequency over output only, OpenAI's definitions), then greedy when temperature
 * is 0, else temperature, then min-p, top-k and top-p filtering, then a draw from the
 * request's own random stream. The stream is seeded per request, so the same seed and the same
 * logits give the same tokens regardless of what else is being served.
 */
#ifndef GPTOSS_ENGINE_SAMPLER_H
#define GPTOSS_ENGINE_SAMPLER_H

#include "gptoss.h"

#include <stddef.h>
#include <stdint.h>

struct logit_bias {
    uint32_t token;
    float bias;
};

struct sampling_params {
    float temperature;        /* 0: greedy (ties: lowest id) */
    uint32_t top_k;           /* 0: off */
    float top_p;              /* 1: off; (0, 1] */
    float min_p;              /* 0: off; [0, 1] */
    float presence_penalty;   /* [-2, 2]; subtracted once from tokens present in the output */
    float frequency_penalty;  /* [-2, 2]; subtracted per occurrence in the output */
    float repetition_penalty; /* 1: off; > 0; positive logits divided, negative multiplied */
    const struct logit_bias *logit_bias; /* borrowed for the call */
    size_t n_logit_bias;
};

/* Defaults: temperature 1, top_p 1, everything else off. */
void sampling_params_init(struct sampling_params *params);

/* Checks ranges; GPTOSS_ERR_INVALID_ARGUMENT with a message naming the parameter. */
enum gptoss_status sampling_params_validate(const struct sampling_params *params, uint32_t n_vocab);

/* xoshiro256** state of one request. */
struct sampler_rng {
    uint64_t s[4];
};

void sampler_rng_seed(struct sampler_rng *rng, uint64_t seed);

/* A uniform double in [0, 1). */
double sampler_rng_uniform(struct sampler_rng *rng);

/* Scratch space sized for a vocabulary; one per thread that samples. */
struct sampler;

struct sampler *sampler_create(uint32_t n_vocab);
void sampler_destroy(struct sampler *sampler);

/* Picks the next token from logits[n_vocab] (modified in place). `prompt` and `output` are the
 * request's tokens so far, for the penalties. */
uint32_t sampler_sample(struct sampler *sampler, const struct sampling_params *params,
                        float *logits, const uint32_t *prompt, size_t n_prompt,
                        const uint32_t *output, size_t n_output, struct sampler_rng *rng);

#endif
