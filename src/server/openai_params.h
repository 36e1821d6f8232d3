/* openai_params.h — the generation fields an OpenAI request shares between chat completions and
 * completions: sampling, n, max_tokens, stop, seed, logprobs, stream.
 *
 * Each field is checked for type and range as OpenAI documents it (temperature 0..2, top_p
 * 0..1, penalties -2..2, logit_bias values -100..100, top_logprobs 0..20); vLLM's extensions
 * (top_k, min_p, repetition_penalty) are accepted too. Absent fields take OpenAI's defaults.
 */
#ifndef GPTOSS_SERVER_OPENAI_PARAMS_H
#define GPTOSS_SERVER_OPENAI_PARAMS_H

#include "base/base.h"
#include "engine/sampler.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum openai_api {
    OPENAI_API_CHAT,        /* logprobs: bool, top_logprobs: int */
    OPENAI_API_COMPLETIONS, /* logprobs: int (the number of alternatives) */
};

struct openai_limits {
    uint32_t max_n;    /* largest n accepted */
    uint32_t max_stop; /* most stop strings */
    uint32_t n_vocab;  /* logit_bias ids must be below */
};

struct openai_params {
    const char *model;               /* NULL when absent */
    struct sampling_params sampling; /* logit_bias allocated from the arena */
    bool has_seed;
    uint64_t seed;
    uint32_t n;
    int64_t max_tokens; /* -1: not given (use what the context leaves) */
    const char **stop;  /* [n_stop], from the arena */
    uint32_t n_stop;
    bool stream;
    bool include_usage; /* stream_options.include_usage */
    bool logprobs;
    uint32_t top_logprobs;
    bool echo; /* completions only */
};

/* Reads the fields of `request` for `api`. On a bad field returns GPTOSS_ERR_INVALID_ARGUMENT,
 * with the reason in error_message() and the field's name in *param_out. */
enum gptoss_status openai_params_parse(const json_t *request, enum openai_api api,
                                       const struct openai_limits *limits, struct arena *arena,
                                       struct openai_params *out, const char **param_out);

#endif
