/* sampler.c — logits to a token: bias, penalties, temperature, min-p/top-k/top-p, the draw.
 *
 * A call is a few linear passes over the vocabulary, written so that the compiler can vectorise
 * them (the exponential included), and it sorts only when top-k or top-p asks for an order.
 * Even then a histogram of the probabilities' leading bits first narrows the field to the
 * tokens that can survive, so selection and sort usually see hundreds of tokens, not the whole
 * vocabulary; both fall back to heapsort, so no input costs more than O(V log V).
 */
#include "engine/sampler.h"

#include "base/error.h"
#include "base/rand.h"
#include "base/xalloc.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Below this temperature the distribution is a point mass in float anyway; vLLM uses the same
 * cut-off to switch to greedy. */
#define SAMPLER_GREEDY_TEMPERATURE 1e-5f

/* OpenAI's documented range for logit_bias values. */
#define SAMPLER_MAX_BIAS 100.0f

/* Tokens per partial sum of the probabilities: the draw walks the sums, then one block. */
#define SAMPLER_BLOCK 256

/* Histogram keys: a probability's exponent and top 3 mantissa bits, i.e. its float bits shifted
 * right. Probabilities are at most 1, so the keys stop at 1's. */
#define SAMPLER_KEY_SHIFT 20
#define SAMPLER_KEYS      ((0x3f800000u >> SAMPLER_KEY_SHIFT) + 1)

/* Keeps a nucleus that ends exactly at top_p (0.4 + 0.3 for top_p 0.7) from being extended by
 * rounding in the last place. */
#define SAMPLER_TOP_P_SLACK (1.0 - 1e-6)

struct sampler {
    uint32_t n_vocab;
    /* Occurrences of each token in the output; zero between calls. */
    uint32_t *counts;
    /* 1 when a token's repetition penalty was applied in this call; zero between calls. */
    uint8_t *marks;
    /* The tokens whose counts or marks this call set, to reset just those. */
    uint32_t *touched;
    /* Unnormalised probabilities, exp((logit - max) / T), so the most likely token has 1. */
    float *probs;
    /* probs summed over each block of SAMPLER_BLOCK tokens. */
    double *block_mass;
    /* Candidates of a filtered draw: probability bits in the high half, ~id in the low, so that
     * a larger key is a better token and ties go to the lower id. */
    uint64_t *keys;
};

void sampling_params_init(struct sampling_params *params)
{
    memset(params, 0, sizeof *params);
    params->temperature = 1.0f;
    params->top_p = 1.0f;
    params->repetition_penalty = 1.0f;
}

enum gptoss_status sampling_params_validate(const struct sampling_params *params, uint32_t n_vocab)
{
    /* Comparisons are written so that NaN fails them. */
    if (!(params->temperature >= 0.0f && isfinite(params->temperature)))
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "temperature must be a finite number >= 0, got %g",
                         (double)params->temperature);
    if (!(params->top_p > 0.0f && params->top_p <= 1.0f))
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "top_p must be in (0, 1], got %g",
                         (double)params->top_p);
    if (!(params->min_p >= 0.0f && params->min_p <= 1.0f))
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "min_p must be in [0, 1], got %g",
                         (double)params->min_p);
    if (!(params->presence_penalty >= -2.0f && params->presence_penalty <= 2.0f))
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "presence_penalty must be in [-2, 2], got %g",
                         (double)params->presence_penalty);
    if (!(params->frequency_penalty >= -2.0f && params->frequency_penalty <= 2.0f))
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "frequency_penalty must be in [-2, 2], got %g",
                         (double)params->frequency_penalty);
    if (!(params->repetition_penalty > 0.0f && isfinite(params->repetition_penalty)))
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "repetition_penalty must be a finite number > 0, got %g",
                         (double)params->repetition_penalty);
    if (params->n_logit_bias && !params->logit_bias)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "logit_bias has %zu entries but no data",
                         params->n_logit_bias);
    for (size_t i = 0; i < params->n_logit_bias; i++) {
        const struct logit_bias *b = &params->logit_bias[i];
        if (b->token >= n_vocab)
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                             "logit_bias: token id %u is out of range (vocabulary of %u)",
                             (unsigned)b->token, (unsigned)n_vocab);
        if (!(b->bias >= -SAMPLER_MAX_BIAS && b->bias <= SAMPLER_MAX_BIAS))
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                             "logit_bias: value for token %u must be in [-100, 100], got %g",
                             (unsigned)b->token, (double)b->bias);
    }
    return GPTOSS_OK;
}

void sampler_rng_seed(struct sampler_rng *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = rand_splitmix64(&x);
}

static uint64_t sampler_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t sampler_rng_next(struct sampler_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = sampler_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sampler_rotl(s[3], 45);
    return result;
}

double sampler_rng_uniform(struct sampler_rng *rng)
{
    /* The top 53 bits fill a double's mantissa exactly, so the result is below 1. */
    return (double)(sampler_rng_next(rng) >> 11) * 0x1.0p-53;
}

struct sampler *sampler_create(uint32_t n_vocab)
{
    if (n_vocab == 0)
        return NULL;
    struct sampler *s = xcalloc(1, sizeof *s);
    size_t n_blocks = ((size_t)n_vocab + SAMPLER_BLOCK - 1) / SAMPLER_BLOCK;
    s->n_vocab = n_vocab;
    s->counts = calloc(n_vocab, sizeof *s->counts);
    s->marks = calloc(n_vocab, sizeof *s->marks);
    s->touched = malloc((size_t)n_vocab * sizeof *s->touched);
    s->probs = malloc((size_t)n_vocab * sizeof *s->probs);
    s->block_mass = malloc(n_blocks * sizeof *s->block_mass);
    s->keys = malloc((size_t)n_vocab * sizeof *s->keys);
    if (!s->counts || !s->marks || !s->touched || !s->probs || !s->block_mass || !s->keys) {
        sampler_destroy(s);
        return NULL;
    }
    return s;
}

void sampler_destroy(struct sampler *sampler)
{
    if (!sampler)
        return;
    free(sampler->counts);
    free(sampler->marks);
    free(sampler->touched);
    free(sampler->probs);
    free(sampler->block_mass);
    free(sampler->keys);
    free(sampler);
}

static void sampler_apply_bias(const struct sampling_params *params, float *logits,
                               uint32_t n_vocab)
{
    for (size_t i = 0; i < params->n_logit_bias; i++) {
        const struct logit_bias *b = &params->logit_bias[i];
        /* validate rejects these; skipping keeps an unvalidated call memory-safe. */
        if (b->token < n_vocab)
            logits[b->token] += b->bias;
    }
}

static void sampler_repeat(struct sampler *s, float penalty, float *logits, const uint32_t *tokens,
                           size_t n, size_t *n_touched)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t t = tokens[i];
        if (t >= s->n_vocab || s->marks[t])
            continue;
        s->marks[t] = 1;
        s->touched[(*n_touched)++] = t;
        /* HF/vLLM: dividing a negative logit would raise it, so those are multiplied. */
        logits[t] = logits[t] > 0.0f ? logits[t] / penalty : logits[t] * penalty;
    }
}

/* Repetition over prompt and output, then presence and frequency over the output; the scratch
 * is reset at exactly the entries written, so the cost is O(n_prompt + n_output). */
static void sampler_apply_penalties(struct sampler *s, const struct sampling_params *params,
                                    float *logits, const uint32_t *prompt, size_t n_prompt,
                                    const uint32_t *output, size_t n_output)
{
    bool repetition = params->repetition_penalty != 1.0f;
    bool counted = params->presence_penalty != 0.0f || params->frequency_penalty != 0.0f;
    size_t n_touched = 0;

    if (repetition) {
        sampler_repeat(s, params->repetition_penalty, logits, prompt, n_prompt, &n_touched);
        sampler_repeat(s, params->repetition_penalty, logits, output, n_output, &n_touched);
    }
    if (counted) {
        for (size_t i = 0; i < n_output; i++) {
            uint32_t t = output[i];
            if (t >= s->n_vocab)
                continue;
            if (s->counts[t]++ == 0 && !s->marks[t])
                s->touched[n_touched++] = t;
        }
    }
    for (size_t i = 0; i < n_touched; i++) {
        uint32_t t = s->touched[i];
        uint32_t count = s->counts[t];
        if (count) {
            logits[t] -= params->frequency_penalty * (float)count;
            logits[t] -= params->presence_penalty;
        }
        s->counts[t] = 0;
        s->marks[t] = 0;
    }
}

static uint32_t sampler_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static float sampler_float(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* The largest logit, NaN ignored (it fails every comparison); -inf if nothing else is there.
 * Eight running maxima so that the loop vectorises. */
static float sampler_max(const float *x, uint32_t n)
{
    float m[8];
    for (int l = 0; l < 8; l++)
        m[l] = -INFINITY;
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int l = 0; l < 8; l++)
            m[l] = x[i + l] > m[l] ? x[i + l] : m[l];
    }
    for (; i < n; i++)
        m[0] = x[i] > m[0] ? x[i] : m[0];
    float best = m[0];
    for (int l = 1; l < 8; l++)
        best = m[l] > best ? m[l] : best;
    return best;
}

/* Greedy's pick: the lowest id holding the max; id 0 when every logit is -inf or NaN. */
static uint32_t sampler_argmax(const float *x, uint32_t n, float max)
{
    if (!(max > -INFINITY))
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        if (x[i] == max)
            return i;
    }
    return 0;
}

/* e^x for x in (-87, 0], where the result is a normal float; garbage elsewhere, which callers
 * mask out. This is Cephes' expf (about 1 ulp) in plain arithmetic, so that loops around it
 * vectorise where a call to expf would not; e^0 is exactly 1. */
static inline float sampler_exp(float x)
{
    /* Adding 1.5 * 2^23 rounds to an integer n, which then sits in the low mantissa bits. */
    float t = x * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f;
    uint32_t ni = sampler_bits(t) - 0x4b400000u;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* n is in [-126, 0], so 2^n is a normal float. */
    return p * sampler_float((ni + 127u) << 23);
}

/* Sum of n floats, in eight float lanes (at most SAMPLER_BLOCK / 8 terms each, so the rounding
 * stays near one part in 10^6) that vectorise. */
static double sampler_sum(const float *p, size_t n)
{
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int l = 0; l < 8; l++)
            acc[l] += p[i + l];
    }
    double total = 0.0;
    for (; i < n; i++)
        total += p[i];
    for (int l = 0; l < 8; l++)
        total += acc[l];
    return total;
}

/* Fills probs with exp((logit - max) / T), min-p applied, and block_mass with their block sums;
 * returns the total. Subtracting the max before scaling keeps a tiny temperature from
 * overflowing; -inf and NaN logits get 0. An infinite max shares the mass among the +inf
 * tokens. */
static double sampler_probs(struct sampler *s, const float *restrict logits, float max, float inv_t,
                            float min_p)
{
    float *restrict p = s->probs;
    uint32_t n = s->n_vocab;
    if (isinf(max)) {
        for (uint32_t i = 0; i < n; i++)
            p[i] = logits[i] == max ? 1.0f : 0.0f;
    } else {
        for (uint32_t i = 0; i < n; i++) {
            float x = (logits[i] - max) * inv_t;
            float q = sampler_exp(x);
            /* One select with both conditions, NaN failing each: split, GCC's jump threading
             * makes the exponential conditional, which trapping math will not vectorise. The
             * max has q = 1, so min_p relative to the top probability is min_p itself. */
            bool keep = (x > -87.0f) & (q >= min_p);
            p[i] = keep ? q : 0.0f;
        }
    }
    double total = 0.0;
    for (uint32_t b = 0, start = 0; start < n; b++, start += SAMPLER_BLOCK) {
        uint32_t len = n - start < SAMPLER_BLOCK ? n - start : SAMPLER_BLOCK;
        s->block_mass[b] = sampler_sum(p + start, len);
        total += s->block_mass[b];
    }
    return total;
}

/* The token where the running sum of probs first exceeds u, u in [0, total): whole blocks by
 * their sums, then one block token by token. */
static uint32_t sampler_draw_all(const struct sampler *s, double u)
{
    const float *p = s->probs;
    uint32_t n = s->n_vocab;
    uint32_t n_blocks = (n + SAMPLER_BLOCK - 1) / SAMPLER_BLOCK;
    double cum = 0.0;
    uint32_t b = 0;
    for (; b < n_blocks; b++) {
        if (cum + s->block_mass[b] > u)
            break;
        cum += s->block_mass[b];
    }
    if (b == n_blocks) {
        /* Rounding left u at the total: the last token with mass is the limit. */
        for (uint32_t i = n; i-- > 0;) {
            if (p[i] > 0.0f)
                return i;
        }
        return 0;
    }
    uint32_t start = b * SAMPLER_BLOCK;
    uint32_t end = n - start < SAMPLER_BLOCK ? n : start + SAMPLER_BLOCK;
    uint32_t last = start;
    for (uint32_t i = start; i < end; i++) {
        if (p[i] > 0.0f) {
            cum += p[i];
            last = i;
            if (cum > u)
                return i;
        }
    }
    return last;
}

static float sampler_key_prob(uint64_t key)
{
    return sampler_float((uint32_t)(key >> 32));
}

static uint32_t sampler_key_id(uint64_t key)
{
    return ~(uint32_t)key;
}

static double sampler_key_mass(const uint64_t *keys, size_t n)
{
    double total = 0.0;
    for (size_t i = 0; i < n; i++)
        total += sampler_key_prob(keys[i]);
    return total;
}

static void sampler_swap(uint64_t *keys, size_t i, size_t j)
{
    uint64_t t = keys[i];
    keys[i] = keys[j];
    keys[j] = t;
}

/* Min-heap: the worst key rises to the root. */
static void sampler_sift_down(uint64_t *keys, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && keys[child + 1] < keys[child])
            child++;
        if (keys[root] <= keys[child])
            return;
        sampler_swap(keys, root, child);
        root = child;
    }
}

/* Heapsort, best first: no recursion, no memory, O(n log n) whatever the input. */
static void sampler_sort(uint64_t *keys, size_t n)
{
    if (n < 2)
        return;
    for (size_t i = n / 2; i-- > 0;)
        sampler_sift_down(keys, i, n);
    for (size_t end = n - 1; end > 0; end--) {
        sampler_swap(keys, 0, end);
        sampler_sift_down(keys, 0, end);
    }
}

/* Moves the k best keys of keys[0..n) to the front, unordered. Quickselect with a
 * median-of-three pivot is linear on average; once it has partitioned more often than a
 * balanced run would, the rest is heapsorted, which caps the cost at O(n log n). */
static void sampler_select(uint64_t *keys, size_t n, size_t k)
{
    size_t lo = 0, hi = n;
    int budget = 2;
    for (size_t m = n; m > 1; m >>= 1)
        budget += 2;
    while (hi - lo > 1) {
        if (budget-- == 0 || hi - lo <= 16) {
            sampler_sort(keys + lo, hi - lo);
            return;
        }
        size_t mid = lo + (hi - lo) / 2, last = hi - 1;
        if (keys[mid] > keys[lo])
            sampler_swap(keys, mid, lo);
        if (keys[last] > keys[lo])
            sampler_swap(keys, last, lo);
        if (keys[last] > keys[mid])
            sampler_swap(keys, last, mid);
        /* keys[mid] is the median of the three; park it at the end and partition around it. */
        sampler_swap(keys, mid, last);
        uint64_t pivot = keys[last];
        size_t store = lo;
        for (size_t i = lo; i < last; i++) {
            if (keys[i] > pivot)
                sampler_swap(keys, i, store++);
        }
        sampler_swap(keys, store, last);
        /* keys[lo..store) beat the pivot, which now sits at store; keys are distinct. */
        if (store == k || store + 1 == k)
            return;
        if (store > k)
            hi = store;
        else
            lo = store + 1;
    }
}

/* Applies top-k, then top-p to the renormalised survivors; leaves them in s->keys and returns
 * their count, or 0 when neither filter removes anything. */
static size_t sampler_filter(struct sampler *s, const struct sampling_params *params, double total)
{
    const float *p = s->probs;
    uint32_t n_vocab = s->n_vocab;
    uint32_t top_k = params->top_k > 0 && params->top_k < n_vocab ? params->top_k : 0;
    bool top_p = params->top_p < 1.0f;
    double target = (double)params->top_p * total * SAMPLER_TOP_P_SLACK;

    /* Every token under a smaller key is less likely than every token under a larger one, so a
     * histogram bounds the survivors without any order among them. Zeros land in key 0, which
     * only ever means "take everything". The nucleus of the top-k lies within the top-k, so
     * with both filters the count alone sets the floor. */
    uint32_t floor_key = 0;
    if (top_k) {
        uint32_t count[SAMPLER_KEYS] = {0};
        for (uint32_t i = 0; i < n_vocab; i++)
            count[sampler_bits(p[i]) >> SAMPLER_KEY_SHIFT]++;
        uint32_t cum = 0;
        for (uint32_t key = SAMPLER_KEYS - 1; key > 0; key--) {
            cum += count[key];
            if (cum >= top_k) {
                floor_key = key;
                break;
            }
        }
    } else {
        double mass[SAMPLER_KEYS] = {0};
        for (uint32_t i = 0; i < n_vocab; i++)
            mass[sampler_bits(p[i]) >> SAMPLER_KEY_SHIFT] += p[i];
        double cum = 0.0;
        for (uint32_t key = SAMPLER_KEYS - 1; key > 0; key--) {
            cum += mass[key];
            if (cum >= target) {
                floor_key = key;
                break;
            }
        }
    }

    /* Survivors are usually few, so a predictable branch beats a branch-free gather. The
     * floor is at least the smallest subnormal, which keeps zeros out. */
    float floor_p = sampler_float(floor_key ? floor_key << SAMPLER_KEY_SHIFT : 1);
    uint64_t *keys = s->keys;
    size_t n = 0;
    for (uint32_t i = 0; i < n_vocab; i++) {
        if (p[i] >= floor_p)
            keys[n++] = (uint64_t)sampler_bits(p[i]) << 32 | (uint32_t)~i;
    }

    if (top_k && top_k <= n) {
        if (top_k < n)
            sampler_select(keys, n, top_k);
        n = top_k;
        target = (double)params->top_p * sampler_key_mass(keys, n) * SAMPLER_TOP_P_SLACK;
    } else if (!top_p) {
        /* Fewer tokens with mass than top_k: nothing to cut. */
        return 0;
    }
    if (top_p) {
        sampler_sort(keys, n);
        double cum = 0.0;
        for (size_t i = 0; i < n; i++) {
            cum += sampler_key_prob(keys[i]);
            if (cum >= target)
                return i + 1;
        }
    }
    return n;
}

uint32_t sampler_sample(struct sampler *sampler, const struct sampling_params *params,
                        float *logits, const uint32_t *prompt, size_t n_prompt,
                        const uint32_t *output, size_t n_output, struct sampler_rng *rng)
{
    GPTOSS_ASSERT(sampler && params && logits);
    GPTOSS_ASSERT(prompt || n_prompt == 0);
    GPTOSS_ASSERT(output || n_output == 0);
    uint32_t n_vocab = sampler->n_vocab;

    sampler_apply_bias(params, logits, n_vocab);
    sampler_apply_penalties(sampler, params, logits, prompt, n_prompt, output, n_output);

    float max = sampler_max(logits, n_vocab);
    /* Written so that a NaN temperature also means greedy. */
    if (!(params->temperature >= SAMPLER_GREEDY_TEMPERATURE) || !(max > -INFINITY))
        return sampler_argmax(logits, n_vocab, max);
    GPTOSS_ASSERT(rng);

    /* Clamped so that unvalidated values still keep the top token (q = 1). */
    float min_p = params->min_p > 0.0f ? fminf(params->min_p, 1.0f) : 0.0f;
    double total = sampler_probs(sampler, logits, max, 1.0f / params->temperature, min_p);

    bool filtered = (params->top_k > 0 && params->top_k < n_vocab) || params->top_p < 1.0f;
    size_t n = filtered ? sampler_filter(sampler, params, total) : 0;
    if (n == 0)
        return sampler_draw_all(sampler, sampler_rng_uniform(rng) * total);

    const uint64_t *keys = sampler->keys;
    double u = sampler_rng_uniform(rng) * sampler_key_mass(keys, n);
    double cum = 0.0;
    for (size_t i = 0; i < n; i++) {
        cum += sampler_key_prob(keys[i]);
        if (cum > u)
            return sampler_key_id(keys[i]);
    }
    return sampler_key_id(keys[n - 1]);
}
