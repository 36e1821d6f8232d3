/* openai_params.c — see openai_params.h. */
#include "server/openai_params.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static enum gptoss_status bad(const char **param_out, const char *param, const char *fmt, double lo,
                              double hi)
{
    *param_out = param;
    return error_set(GPTOSS_ERR_INVALID_ARGUMENT, fmt, param, lo, hi);
}

/* A number field within [lo, hi]; absent or null leaves *out. */
static enum gptoss_status number(const json_t *req, const char *key, double lo, double hi,
                                 double *out, const char **param_out)
{
    const json_t *v = json_object_get(req, key);
    if (!v || json_is_null(v))
        return GPTOSS_OK;
    if (!json_is_number(v))
        return bad(param_out, key, "'%s' must be a number between %g and %g", lo, hi);
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi))
        return bad(param_out, key, "'%s' must be between %g and %g", lo, hi);
    *out = d;
    return GPTOSS_OK;
}

static enum gptoss_status integer(const json_t *req, const char *key, int64_t lo, int64_t hi,
                                  int64_t *out, const char **param_out)
{
    const json_t *v = json_object_get(req, key);
    if (!v || json_is_null(v))
        return GPTOSS_OK;
    if (!json_is_integer(v))
        return bad(param_out, key, "'%s' must be an integer between %g and %g", (double)lo,
                   (double)hi);
    json_int_t i = json_integer_value(v);
    if (i < lo || i > hi)
        return bad(param_out, key, "'%s' must be between %g and %g", (double)lo, (double)hi);
    *out = i;
    return GPTOSS_OK;
}

static enum gptoss_status boolean(const json_t *req, const char *key, bool *out,
                                  const char **param_out)
{
    const json_t *v = json_object_get(req, key);
    if (!v || json_is_null(v))
        return GPTOSS_OK;
    if (!json_is_boolean(v)) {
        *param_out = key;
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "'%s' must be a boolean", key);
    }
    *out = json_is_true(v);
    return GPTOSS_OK;
}

static enum gptoss_status parse_stop(const json_t *req, const struct openai_limits *limits,
                                     struct arena *arena, struct openai_params *out,
                                     const char **param_out)
{
    const json_t *v = json_object_get(req, "stop");
    if (!v || json_is_null(v))
        return GPTOSS_OK;
    size_t n = json_is_string(v) ? 1 : json_is_array(v) ? json_array_size(v) : SIZE_MAX;
    *param_out = "stop";
    if (n == SIZE_MAX)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "'stop' must be a string or an array of strings");
    if (n > limits->max_stop)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "'stop' may hold at most %u strings",
                         limits->max_stop);
    out->stop = arena_calloc(arena, n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(s) || json_string_length(s) == 0)
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "'stop' entries must be non-empty "
                                                          "strings");
        out->stop[out->n_stop++] =
            arena_memdup0(arena, json_string_value(s), json_string_length(s));
    }
    *param_out = NULL;
    return GPTOSS_OK;
}

static enum gptoss_status parse_logit_bias(const json_t *req, const struct openai_limits *limits,
                                           struct arena *arena, struct openai_params *out,
                                           const char **param_out)
{
    const json_t *v = json_object_get(req, "logit_bias");
    if (!v || json_is_null(v))
        return GPTOSS_OK;
    *param_out = "logit_bias";
    if (!json_is_object(v))
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "'logit_bias' must map token ids to numbers");
    size_t n = json_object_size(v), i = 0;
    struct logit_bias *bias = arena_calloc(arena, n ? n : 1, sizeof(*bias));
    const char *key;
    const json_t *val;
    json_object_foreach ((json_t *)v, key, val) {
        char *end;
        unsigned long id = strtoul(key, &end, 10);
        if (!*key || *end || key[0] == '-' || key[0] == '+' || id >= limits->n_vocab)
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                             "'logit_bias' key \"%s\" is not a token id below %u", key,
                             limits->n_vocab);
        if (!json_is_number(val) ||
            !(json_number_value(val) >= -100 && json_number_value(val) <= 100))
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                             "'logit_bias' values must be numbers between -100 and 100");
        bias[i].token = (uint32_t)id;
        bias[i].bias = (float)json_number_value(val);
        i++;
    }
    out->sampling.logit_bias = bias;
    out->sampling.n_logit_bias = i;
    *param_out = NULL;
    return GPTOSS_OK;
}

enum gptoss_status openai_params_parse(const json_t *req, enum openai_api api,
                                       const struct openai_limits *limits, struct arena *arena,
                                       struct openai_params *out, const char **param_out)
{
    memset(out, 0, sizeof(*out));
    *param_out = NULL;
    sampling_params_init(&out->sampling);
    out->n = 1;
    out->max_tokens = -1;

    const json_t *model = json_object_get(req, "model");
    if (model && !json_is_null(model)) {
        if (!json_is_string(model)) {
            *param_out = "model";
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "'model' must be a string");
        }
        out->model = arena_strdup(arena, json_string_value(model));
    }

    double temperature = 1, top_p = 1, min_p = 0, presence = 0, frequency = 0, repetition = 1;
    int64_t top_k = 0, n = 1, max_tokens = -1, max_completion = -1, seed = 0, top_logprobs = 0;
    enum gptoss_status st;
#define TRY(call)                                                                                  \
    do {                                                                                           \
        if ((st = (call)) != GPTOSS_OK)                                                            \
            return st;                                                                             \
    } while (0)
    TRY(number(req, "temperature", 0, 2, &temperature, param_out));
    TRY(number(req, "top_p", 0, 1, &top_p, param_out));
    TRY(number(req, "min_p", 0, 1, &min_p, param_out));
    TRY(number(req, "presence_penalty", -2, 2, &presence, param_out));
    TRY(number(req, "frequency_penalty", -2, 2, &frequency, param_out));
    TRY(number(req, "repetition_penalty", 1e-3, 100, &repetition, param_out));
    TRY(integer(req, "top_k", -1, 1 << 30, &top_k, param_out));
    TRY(integer(req, "n", 1, limits->max_n, &n, param_out));
    TRY(integer(req, "max_tokens", 1, INT32_MAX, &max_tokens, param_out));
    TRY(integer(req, "max_completion_tokens", 1, INT32_MAX, &max_completion, param_out));
    TRY(integer(req, "seed", INT64_MIN, INT64_MAX, &seed, param_out));
    TRY(boolean(req, "stream", &out->stream, param_out));
    if (api == OPENAI_API_CHAT) {
        TRY(boolean(req, "logprobs", &out->logprobs, param_out));
        TRY(integer(req, "top_logprobs", 0, 20, &top_logprobs, param_out));
        if (top_logprobs > 0 && !out->logprobs) {
            *param_out = "top_logprobs";
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                             "'top_logprobs' needs 'logprobs' set to true");
        }
    } else {
        int64_t k = -1;
        TRY(integer(req, "logprobs", 0, 20, &k, param_out));
        out->logprobs = k >= 0;
        top_logprobs = k > 0 ? k : 0;
        TRY(boolean(req, "echo", &out->echo, param_out));
    }
    TRY(parse_stop(req, limits, arena, out, param_out));
    TRY(parse_logit_bias(req, limits, arena, out, param_out));
#undef TRY
    const json_t *so = json_object_get(req, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            *param_out = "stream_options";
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "'stream_options' must be an object");
        }
        if ((st = boolean(so, "include_usage", &out->include_usage, param_out)) != GPTOSS_OK) {
            *param_out = "stream_options.include_usage";
            return st;
        }
    }
    out->sampling.temperature = (float)temperature;
    out->sampling.top_p = top_p > 0 ? (float)top_p : 1e-6f; /* top_p 0 means greedy-ish */
    out->sampling.min_p = (float)min_p;
    out->sampling.top_k = top_k > 0 ? (uint32_t)top_k : 0;
    out->sampling.presence_penalty = (float)presence;
    out->sampling.frequency_penalty = (float)frequency;
    out->sampling.repetition_penalty = (float)repetition;
    out->n = (uint32_t)n;
    out->max_tokens = max_completion > 0 ? max_completion : max_tokens;
    out->has_seed = json_object_get(req, "seed") && !json_is_null(json_object_get(req, "seed"));
    out->seed = (uint64_t)seed;
    out->top_logprobs = (uint32_t)top_logprobs;
    return GPTOSS_OK;
}
