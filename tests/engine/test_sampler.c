/* test_sampler.c — the sampler: the random stream, greedy, temperature, the filters, the
 * penalties, logit bias, validation, and logits that are NaN or infinite.
 *
 * Penalty tests set up a greedy pick that flips within a hair of the value the definition
 * gives, so an implementation that applies a penalty twice, in another order or to the wrong
 * tokens picks the other token. Distribution tests draw from fixed seeds, so they are
 * deterministic; their bounds are loose enough for any correct sampler and far too tight for a
 * wrong temperature or a missing renormalisation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/error.h"
#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BIG_VOCAB 201088u

/* Samples once from a copy of `logits`, since the sampler writes into its input. */
static uint32_t sample_copy(struct sampler *s, const struct sampling_params *params,
                            const float *logits, uint32_t n_vocab, const uint32_t *prompt,
                            size_t n_prompt, const uint32_t *output, size_t n_output,
                            struct sampler_rng *rng)
{
    float *copy = malloc(n_vocab * sizeof *copy);
    assert_non_null(copy);
    memcpy(copy, logits, n_vocab * sizeof *copy);
    uint32_t t = sampler_sample(s, params, copy, prompt, n_prompt, output, n_output, rng);
    free(copy);
    assert_true(t < n_vocab);
    return t;
}

/* Greedy pick with penalties from the given prompt and output. */
static uint32_t greedy(const struct sampling_params *base, const float *logits, uint32_t n_vocab,
                       const uint32_t *prompt, size_t n_prompt, const uint32_t *output,
                       size_t n_output)
{
    struct sampling_params params = *base;
    params.temperature = 0.0f;
    struct sampler *s = sampler_create(n_vocab);
    assert_non_null(s);
    struct sampler_rng rng;
    sampler_rng_seed(&rng, 0);
    uint32_t t = sample_copy(s, &params, logits, n_vocab, prompt, n_prompt, output, n_output, &rng);
    sampler_destroy(s);
    return t;
}

/* Tallies `n_draws` samples into counts[n_vocab]. */
static void draw_counts(const struct sampling_params *params, const float *logits, uint32_t n_vocab,
                        uint64_t seed, int n_draws, int *counts)
{
    struct sampler *s = sampler_create(n_vocab);
    assert_non_null(s);
    struct sampler_rng rng;
    sampler_rng_seed(&rng, seed);
    float *copy = malloc(n_vocab * sizeof *copy);
    assert_non_null(copy);
    memset(counts, 0, n_vocab * sizeof *counts);
    for (int i = 0; i < n_draws; i++) {
        memcpy(copy, logits, n_vocab * sizeof *copy);
        uint32_t t = sampler_sample(s, params, copy, NULL, 0, NULL, 0, &rng);
        assert_true(t < n_vocab);
        counts[t]++;
    }
    free(copy);
    sampler_destroy(s);
}

/* Pearson's statistic of observed counts against probabilities want[] (0 entries must be 0). */
static double chi_square(const int *counts, const double *want, uint32_t n, int n_draws)
{
    double chi2 = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        if (want[i] == 0.0) {
            assert_int_equal(counts[i], 0);
            continue;
        }
        double expected = want[i] * n_draws;
        double d = counts[i] - expected;
        chi2 += d * d / expected;
    }
    return chi2;
}

static void softmax_ref(const float *logits, uint32_t n, double temperature, double *out)
{
    double max = -INFINITY, total = 0.0;
    for (uint32_t i = 0; i < n; i++)
        max = fmax(max, logits[i]);
    for (uint32_t i = 0; i < n; i++)
        total += out[i] = exp((logits[i] - max) / temperature);
    for (uint32_t i = 0; i < n; i++)
        out[i] /= total;
}

/* A deterministic stream of floats for big vocabularies, independent of the sampler's RNG. */
static float test_noise(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return (float)((*x >> 40) * 0x1.0p-24) * 8.0f - 4.0f;
}

static void test_rng_reference(void **state)
{
    (void)state;
    /* The published outputs of xoshiro256** seeded from splitmix64(0), which other ports test
     * against too; the 1000th and seed 42 come from an independent transcription. */
    static const uint64_t seed0[] = {0x99ec5f36cb75f2b4u, 0xbf6e1f784956452au, 0x1a5f849d4933e6e0u,
                                     0x6aa594f1262d2d2cu, 0xbba5ad4a1f842e59u, 0xffef8375d9ebcacau};
    struct sampler_rng rng;
    sampler_rng_seed(&rng, 0);
    assert_true(rng.s[0] == 0xe220a8397b1dcdafu);
    assert_true(rng.s[1] == 0x6e789e6aa1b965f4u);
    assert_true(rng.s[2] == 0x06c45d188009454fu);
    assert_true(rng.s[3] == 0xf88bb8a8724c81ecu);
    for (size_t i = 0; i < sizeof seed0 / sizeof *seed0; i++)
        assert_true(sampler_rng_uniform(&rng) == (double)(seed0[i] >> 11) * 0x1.0p-53);
    for (int i = 6; i < 999; i++)
        sampler_rng_uniform(&rng);
    assert_true(sampler_rng_uniform(&rng) == (double)(0x7aac8c483a2edd2fu >> 11) * 0x1.0p-53);

    sampler_rng_seed(&rng, 42);
    assert_true(sampler_rng_uniform(&rng) == (double)(0x15780b2e0c2ec716u >> 11) * 0x1.0p-53);
    assert_true(sampler_rng_uniform(&rng) == (double)(0x6104d9866d113a7eu >> 11) * 0x1.0p-53);

    double sum = 0.0;
    for (int i = 0; i < 100000; i++) {
        double u = sampler_rng_uniform(&rng);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
    }
    assert_true(fabs(sum / 100000 - 0.5) < 0.005);
}

static void test_create_destroy(void **state)
{
    (void)state;
    sampler_destroy(NULL);
    assert_null(sampler_create(0));
    struct sampler *s = sampler_create(1);
    assert_non_null(s);
    struct sampling_params params;
    sampling_params_init(&params);
    struct sampler_rng rng;
    sampler_rng_seed(&rng, 1);
    float logit = 0.5f;
    assert_int_equal(sampler_sample(s, &params, &logit, NULL, 0, NULL, 0, &rng), 0);
    sampler_destroy(s);
}

static void test_defaults(void **state)
{
    (void)state;
    struct sampling_params params;
    memset(&params, 0xff, sizeof params);
    sampling_params_init(&params);
    assert_true(params.temperature == 1.0f);
    assert_true(params.top_p == 1.0f);
    assert_int_equal(params.top_k, 0);
    assert_true(params.min_p == 0.0f);
    assert_true(params.presence_penalty == 0.0f);
    assert_true(params.frequency_penalty == 0.0f);
    assert_true(params.repetition_penalty == 1.0f);
    assert_null(params.logit_bias);
    assert_int_equal(params.n_logit_bias, 0);
    assert_int_equal(sampling_params_validate(&params, 10), GPTOSS_OK);
}

static void test_greedy(void **state)
{
    (void)state;
    struct sampling_params params;
    sampling_params_init(&params);
    const float logits[] = {0.5f, 2.0f, -1.0f, 3.0f, 1.0f};
    assert_int_equal(greedy(&params, logits, 5, NULL, 0, NULL, 0), 3);
    const float ties[] = {1.0f, 4.0f, 2.0f, 4.0f, 4.0f};
    assert_int_equal(greedy(&params, ties, 5, NULL, 0, NULL, 0), 1);
    const float negative[] = {-5.0f, -3.0f, -3.0f, -4.0f};
    assert_int_equal(greedy(&params, negative, 4, NULL, 0, NULL, 0), 1);

    /* Below 1e-5 counts as greedy and consumes no randomness. */
    struct sampler *s = sampler_create(5);
    params.temperature = 1e-6f;
    struct sampler_rng rng, before;
    sampler_rng_seed(&rng, 7);
    before = rng;
    for (int i = 0; i < 100; i++)
        assert_int_equal(sample_copy(s, &params, ties, 5, NULL, 0, NULL, 0, &rng), 1);
    assert_memory_equal(&rng, &before, sizeof rng);
    sampler_destroy(s);
}

static void test_seed_determinism(void **state)
{
    (void)state;
    enum { V = 64, N = 1000 };
    float logits[V];
    uint64_t x = 99;
    for (int i = 0; i < V; i++)
        logits[i] = test_noise(&x) * 0.25f;
    struct sampling_params params;
    sampling_params_init(&params);

    /* Two samplers: the stream, not the scratch, must decide the tokens. */
    struct sampler *a = sampler_create(V), *b = sampler_create(V);
    struct sampler_rng ra, rb, rc;
    sampler_rng_seed(&ra, 1234);
    sampler_rng_seed(&rb, 1234);
    sampler_rng_seed(&rc, 1235);
    int differ = 0;
    for (int i = 0; i < N; i++) {
        uint32_t ta = sample_copy(a, &params, logits, V, NULL, 0, NULL, 0, &ra);
        uint32_t tb = sample_copy(b, &params, logits, V, NULL, 0, NULL, 0, &rb);
        uint32_t tc = sample_copy(a, &params, logits, V, NULL, 0, NULL, 0, &rc);
        assert_int_equal(ta, tb);
        differ += ta != tc;
    }
    assert_true(differ > N / 2);
    sampler_destroy(a);
    sampler_destroy(b);
}

static void test_temperature_distribution(void **state)
{
    (void)state;
    enum { V = 5, N = 20000 };
    const float logits[V] = {0.3f, 1.2f, -0.5f, 2.0f, 0.9f};
    const float temperatures[] = {1.0f, 0.7f, 1.6f};
    struct sampling_params params;
    sampling_params_init(&params);
    int counts[V];
    double want[V], wrong[V];
    for (size_t k = 0; k < sizeof temperatures / sizeof *temperatures; k++) {
        params.temperature = temperatures[k];
        draw_counts(&params, logits, V, 1000 + k, N, counts);
        softmax_ref(logits, V, temperatures[k], want);
        /* 4 degrees of freedom: P(chi2 > 25) is about 5e-5. */
        assert_true(chi_square(counts, want, V, N) < 25.0);
        /* The same draws against temperature 1.2x off must be rejected, or the test is blind. */
        softmax_ref(logits, V, temperatures[k] * 1.2, wrong);
        assert_true(chi_square(counts, wrong, V, N) > 50.0);
    }
}

/* Logits whose softmax at temperature 1 is exactly probs[] (up to rounding). */
static void logits_from_probs(const double *probs, float *logits, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        logits[i] = probs[i] > 0.0 ? (float)log(probs[i]) : -INFINITY;
}

/* Draws N samples from logits whose tempered softmax is probs[] and checks their frequencies
 * against probs restricted to keep[] and renormalised. */
static void check_kept(const struct sampling_params *params, const double *probs, uint32_t n,
                       const int *keep, uint64_t seed)
{
    enum { N = 20000 };
    float logits[16];
    double want[16];
    int counts[16];
    assert_true(n <= 16);
    /* Scaled so that softmax at the params' temperature gives probs back. */
    logits_from_probs(probs, logits, n);
    for (uint32_t i = 0; i < n; i++)
        logits[i] *= params->temperature;
    double total = 0.0;
    for (uint32_t i = 0; i < n; i++)
        total += keep[i] ? probs[i] : 0.0;
    for (uint32_t i = 0; i < n; i++)
        want[i] = keep[i] ? probs[i] / total : 0.0;
    draw_counts(params, logits, n, seed, N, counts);
    for (uint32_t i = 0; i < n; i++) {
        if (keep[i])
            assert_true(counts[i] > 0);
        else
            assert_int_equal(counts[i], 0);
    }
    assert_true(chi_square(counts, want, n, N) < 30.0);
}

static void test_top_k(void **state)
{
    (void)state;
    const double probs[] = {0.1, 0.3, 0.05, 0.35, 0.2};
    struct sampling_params params;
    sampling_params_init(&params);
    params.top_k = 2;
    check_kept(&params, probs, 5, (const int[]){0, 1, 0, 1, 0}, 11);
    params.top_k = 3;
    check_kept(&params, probs, 5, (const int[]){0, 1, 0, 1, 1}, 12);
    params.top_k = 1;
    check_kept(&params, probs, 5, (const int[]){0, 0, 0, 1, 0}, 13);
    /* k at or past the vocabulary is no filter. */
    params.top_k = 5;
    check_kept(&params, probs, 5, (const int[]){1, 1, 1, 1, 1}, 14);
    params.top_k = 1000;
    check_kept(&params, probs, 5, (const int[]){1, 1, 1, 1, 1}, 15);

    /* Ties at the cut keep the lowest ids, as greedy does. */
    const double flat[] = {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1};
    params.top_k = 3;
    check_kept(&params, flat, 10, (const int[]){1, 1, 1, 0, 0, 0, 0, 0, 0, 0}, 16);
}

static void test_top_p(void **state)
{
    (void)state;
    /* Sorted: id 2 (0.4), id 0 (0.3), id 3 (0.2), id 1 (0.1). */
    const double probs[] = {0.3, 0.1, 0.4, 0.2};
    struct sampling_params params;
    sampling_params_init(&params);
    params.top_p = 0.5f;
    check_kept(&params, probs, 4, (const int[]){1, 0, 1, 0}, 21);
    params.top_p = 0.35f;
    check_kept(&params, probs, 4, (const int[]){0, 0, 1, 0}, 22);
    params.top_p = 0.75f;
    check_kept(&params, probs, 4, (const int[]){1, 0, 1, 1}, 23);
    params.top_p = 0.95f;
    check_kept(&params, probs, 4, (const int[]){1, 1, 1, 1}, 24);
    /* A nucleus that reaches top_p exactly stops there, whichever way exp() rounds. */
    params.top_p = 0.7f;
    check_kept(&params, probs, 4, (const int[]){1, 0, 1, 0}, 25);
    params.top_p = 0.4f;
    check_kept(&params, probs, 4, (const int[]){0, 0, 1, 0}, 27);
    params.top_p = 0.8f;
    check_kept(&params, (const double[]){0.1, 0.6, 0.1, 0.2}, 4, (const int[]){0, 1, 0, 1}, 28);
    /* Only one token can survive a tiny top_p. */
    params.top_p = 1e-6f;
    check_kept(&params, probs, 4, (const int[]){0, 0, 1, 0}, 26);
}

static void test_min_p(void **state)
{
    (void)state;
    /* Max 0.5 at id 3. */
    const double probs[] = {0.25, 0.15, 0.1, 0.5};
    struct sampling_params params;
    sampling_params_init(&params);
    params.min_p = 0.25f; /* threshold 0.125 */
    check_kept(&params, probs, 4, (const int[]){1, 1, 0, 1}, 31);
    params.min_p = 0.6f; /* threshold 0.3 */
    check_kept(&params, probs, 4, (const int[]){0, 0, 0, 1}, 32);
    params.min_p = 1.0f;
    check_kept(&params, probs, 4, (const int[]){0, 0, 0, 1}, 33);
    params.min_p = 0.01f;
    check_kept(&params, probs, 4, (const int[]){1, 1, 1, 1}, 34);
}

static void test_filter_order(void **state)
{
    (void)state;
    const double probs[] = {0.4, 0.3, 0.2, 0.1};
    struct sampling_params params;

    /* top-k renormalises before top-p: of {0.4, 0.3} (0.7), top_p 0.55 needs only 0.4. Applied
     * to the full distribution top_p 0.55 would keep two. */
    sampling_params_init(&params);
    params.top_k = 2;
    params.top_p = 0.55f;
    check_kept(&params, probs, 4, (const int[]){1, 0, 0, 0}, 41);

    /* min-p renormalises before top-p: without 0.1 the mass is 0.9, and 0.75 of it (0.675) is
     * reached by 0.4 + 0.3. On the full distribution it would take 0.2 as well. */
    sampling_params_init(&params);
    params.min_p = 0.3f; /* threshold 0.12 */
    params.top_p = 0.75f;
    check_kept(&params, probs, 4, (const int[]){1, 1, 0, 0}, 42);

    /* All three together, plus a temperature: the filters act on the tempered distribution. */
    sampling_params_init(&params);
    params.temperature = 0.5f; /* squares the ratios: 16, 9, 4, 1 over 30 */
    params.min_p = 0.1f;       /* 1/16 < 0.1: drops id 3 */
    params.top_k = 3;
    params.top_p = 0.6f; /* of 29: 16 is 0.55, 25 is 0.86 */
    check_kept(&params, (const double[]){16.0 / 30, 9.0 / 30, 4.0 / 30, 1.0 / 30}, 4,
               (const int[]){1, 1, 0, 0}, 43);
}

static void test_repetition_penalty(void **state)
{
    (void)state;
    struct sampling_params params;
    sampling_params_init(&params);
    params.repetition_penalty = 2.0f;
    const uint32_t zero[] = {0};

    /* Positive logits are divided: 3 -> 1.5. */
    assert_int_equal(greedy(&params, (const float[]){3.0f, 1.49f, -9.0f}, 3, zero, 1, NULL, 0), 0);
    assert_int_equal(greedy(&params, (const float[]){3.0f, 1.51f, -9.0f}, 3, zero, 1, NULL, 0), 1);
    /* Negative logits are multiplied: -1 -> -2. */
    assert_int_equal(greedy(&params, (const float[]){-1.0f, -1.99f, -9.0f}, 3, NULL, 0, zero, 1),
                     1);
    assert_int_equal(greedy(&params, (const float[]){-1.0f, -2.01f, -9.0f}, 3, NULL, 0, zero, 1),
                     0);
    /* Once per distinct token, however often it occurs in prompt and output. */
    const uint32_t many[] = {0, 0, 0, 2};
    assert_int_equal(greedy(&params, (const float[]){3.0f, 1.4f, -9.0f}, 3, many, 4, many, 4), 0);
    /* Only tokens that occurred. */
    assert_int_equal(greedy(&params, (const float[]){3.0f, 2.9f, -9.0f}, 3, zero, 1, NULL, 0), 1);
    /* Below 1 it rewards repetition. */
    params.repetition_penalty = 0.5f;
    const uint32_t one[] = {1};
    assert_int_equal(greedy(&params, (const float[]){3.0f, 1.6f, -9.0f}, 3, one, 1, NULL, 0), 1);
}

static void test_presence_frequency(void **state)
{
    (void)state;
    struct sampling_params params;
    const uint32_t thrice[] = {0, 3, 0, 0};

    /* Presence: subtracted once from tokens in the output, 1.0 -> 0.5. */
    sampling_params_init(&params);
    params.presence_penalty = 0.5f;
    assert_int_equal(greedy(&params, (const float[]){1.0f, 0.55f, -9, -9}, 4, NULL, 0, thrice, 4),
                     1);
    assert_int_equal(greedy(&params, (const float[]){1.0f, 0.45f, -9, -9}, 4, NULL, 0, thrice, 4),
                     0);
    /* The prompt does not count. */
    params.presence_penalty = 2.0f;
    assert_int_equal(greedy(&params, (const float[]){1.0f, 0.9f, -9, -9}, 4, thrice, 4, NULL, 0),
                     0);
    /* Negative values encourage: 0 -> 2. */
    params.presence_penalty = -2.0f;
    assert_int_equal(greedy(&params, (const float[]){0.0f, 1.9f, -9, -9}, 4, NULL, 0, thrice, 4),
                     0);

    /* Frequency: subtracted per occurrence, 1.0 - 3 * 0.3 = 0.1. */
    sampling_params_init(&params);
    params.frequency_penalty = 0.3f;
    assert_int_equal(greedy(&params, (const float[]){1.0f, 0.15f, -9, -9}, 4, NULL, 0, thrice, 4),
                     1);
    assert_int_equal(greedy(&params, (const float[]){1.0f, 0.05f, -9, -9}, 4, NULL, 0, thrice, 4),
                     0);
    assert_int_equal(greedy(&params, (const float[]){1.0f, 0.95f, -9, -9}, 4, thrice, 4, NULL, 0),
                     0);

    /* Both: 1.0 - 0.9 - 0.5 = -0.4. */
    params.presence_penalty = 0.5f;
    assert_int_equal(greedy(&params, (const float[]){1.0f, -0.35f, -9, -9}, 4, NULL, 0, thrice, 4),
                     1);
    assert_int_equal(greedy(&params, (const float[]){1.0f, -0.45f, -9, -9}, 4, NULL, 0, thrice, 4),
                     0);
}

static void test_penalty_order(void **state)
{
    (void)state;
    struct sampling_params params;
    const uint32_t zero[] = {0};

    /* Repetition before presence: 2 / 2 - 0.5 = 0.5 (the other order gives 0.75). */
    sampling_params_init(&params);
    params.repetition_penalty = 2.0f;
    params.presence_penalty = 0.5f;
    assert_int_equal(greedy(&params, (const float[]){2.0f, 0.6f}, 2, NULL, 0, zero, 1), 1);
    assert_int_equal(greedy(&params, (const float[]){2.0f, 0.45f}, 2, NULL, 0, zero, 1), 0);

    /* Bias before repetition: (1 + 1) / 2 = 1 (the other order gives 1.5). */
    sampling_params_init(&params);
    params.repetition_penalty = 2.0f;
    const struct logit_bias bias[] = {{0, 1.0f}};
    params.logit_bias = bias;
    params.n_logit_bias = 1;
    assert_int_equal(greedy(&params, (const float[]){1.0f, 1.2f}, 2, zero, 1, NULL, 0), 1);
    assert_int_equal(greedy(&params, (const float[]){1.0f, 0.9f}, 2, zero, 1, NULL, 0), 0);
}

static void test_penalty_scratch_reset(void **state)
{
    (void)state;
    /* The per-token scratch must be clean again for the next request on the same sampler. */
    struct sampler *s = sampler_create(4);
    struct sampler_rng rng;
    sampler_rng_seed(&rng, 0);
    struct sampling_params params;
    sampling_params_init(&params);
    params.temperature = 0.0f;
    params.repetition_penalty = 100.0f;
    params.frequency_penalty = 2.0f;
    params.presence_penalty = 2.0f;
    const float logits[] = {1.0f, 0.9f, 0.0f, 0.0f};
    const uint32_t tokens[] = {0, 0, 0, 2, 1, 0};
    assert_int_equal(sample_copy(s, &params, logits, 4, tokens, 6, tokens, 6, &rng), 3);
    assert_int_equal(sample_copy(s, &params, logits, 4, NULL, 0, NULL, 0, &rng), 0);
    assert_int_equal(sample_copy(s, &params, logits, 4, tokens, 1, NULL, 0, &rng), 1);
    assert_int_equal(sample_copy(s, &params, logits, 4, NULL, 0, tokens + 4, 1, &rng), 0);

    /* A stale count would make the second call see four 1s: 1.2 - 4 * 0.3 < 0.8. */
    sampling_params_init(&params);
    params.temperature = 0.0f;
    params.frequency_penalty = 0.3f;
    const float close[] = {0.8f, 1.2f, 0.0f, 0.0f};
    const uint32_t ones[] = {1, 1, 1};
    assert_int_equal(sample_copy(s, &params, close, 4, NULL, 0, ones, 3, &rng), 0);
    assert_int_equal(sample_copy(s, &params, close, 4, NULL, 0, ones, 1, &rng), 1);
    sampler_destroy(s);
}

static void test_out_of_range_history(void **state)
{
    (void)state;
    /* Ids past the vocabulary in the history are ignored, not read or written. */
    struct sampling_params params;
    sampling_params_init(&params);
    params.repetition_penalty = 2.0f;
    params.presence_penalty = 1.0f;
    params.frequency_penalty = 1.0f;
    const uint32_t bad[] = {3, 4, 1000000, UINT32_MAX, 3};
    assert_int_equal(greedy(&params, (const float[]){0.0f, 1.0f, 0.5f}, 3, bad, 5, bad, 5), 1);
    const uint32_t mixed[] = {UINT32_MAX, 1, 7};
    assert_int_equal(greedy(&params, (const float[]){0.0f, 1.0f, 0.5f}, 3, mixed, 3, mixed, 3), 2);
}

static void test_logit_bias(void **state)
{
    (void)state;
    struct sampling_params params;
    sampling_params_init(&params);
    const double probs[] = {0.7, 0.2, 0.1};

    /* -100 removes the favourite. */
    const struct logit_bias ban[] = {{0, -100.0f}};
    params.logit_bias = ban;
    params.n_logit_bias = 1;
    check_kept(&params, probs, 3, (const int[]){0, 1, 1}, 51);
    float logits[3];
    logits_from_probs(probs, logits, 3);
    assert_int_equal(greedy(&params, logits, 3, NULL, 0, NULL, 0), 1);

    /* +100 forces the least likely token. */
    const struct logit_bias force[] = {{2, 100.0f}};
    params.logit_bias = force;
    check_kept(&params, probs, 3, (const int[]){0, 0, 1}, 52);
    assert_int_equal(greedy(&params, logits, 3, NULL, 0, NULL, 0), 2);

    /* Several entries; a bias also shifts the logits by exactly its value. */
    const struct logit_bias nudge[] = {{0, -0.5f}, {1, 0.4f}};
    params.logit_bias = nudge;
    params.n_logit_bias = 2;
    assert_int_equal(greedy(&params, (const float[]){1.0f, 0.05f, 0.0f}, 3, NULL, 0, NULL, 0), 0);
    assert_int_equal(greedy(&params, (const float[]){1.0f, 0.15f, 0.0f}, 3, NULL, 0, NULL, 0), 1);
}

static void expect_invalid(const struct sampling_params *params, uint32_t n_vocab,
                           const char *needle, const char *needle2)
{
    error_clear();
    assert_int_equal(sampling_params_validate(params, n_vocab), GPTOSS_ERR_INVALID_ARGUMENT);
    const char *msg = error_message();
    if (!strstr(msg, needle) || (needle2 && !strstr(msg, needle2)))
        fail_msg("message \"%s\" lacks \"%s\"", msg, needle2 ? needle2 : needle);
    assert_null(strchr(msg, '\n'));
}

static void test_validate(void **state)
{
    (void)state;
    struct sampling_params params, bad;
    sampling_params_init(&params);
    params.temperature = 0.0f;
    params.top_k = 50;
    params.top_p = 1.0f;
    params.min_p = 1.0f;
    params.presence_penalty = -2.0f;
    params.frequency_penalty = 2.0f;
    params.repetition_penalty = 0.01f;
    const struct logit_bias ok[] = {{0, -100.0f}, {BIG_VOCAB - 1, 100.0f}};
    params.logit_bias = ok;
    params.n_logit_bias = 2;
    assert_int_equal(sampling_params_validate(&params, BIG_VOCAB), GPTOSS_OK);
    params.temperature = 2.0f;
    params.top_p = 1e-3f;
    params.min_p = 0.0f;
    assert_int_equal(sampling_params_validate(&params, BIG_VOCAB), GPTOSS_OK);

#define EXPECT_BAD(field, value, needle)                                                           \
    do {                                                                                           \
        bad = params;                                                                              \
        bad.field = (value);                                                                       \
        expect_invalid(&bad, BIG_VOCAB, needle, NULL);                                             \
    } while (0)
    EXPECT_BAD(temperature, -0.1f, "temperature");
    EXPECT_BAD(temperature, NAN, "temperature");
    EXPECT_BAD(temperature, INFINITY, "temperature");
    EXPECT_BAD(top_p, 0.0f, "top_p must be in (0, 1], got 0");
    EXPECT_BAD(top_p, 1.5f, "top_p must be in (0, 1], got 1.5");
    EXPECT_BAD(top_p, NAN, "top_p");
    EXPECT_BAD(min_p, -0.1f, "min_p");
    EXPECT_BAD(min_p, 1.01f, "min_p");
    EXPECT_BAD(min_p, NAN, "min_p");
    EXPECT_BAD(presence_penalty, 2.5f, "presence_penalty");
    EXPECT_BAD(presence_penalty, -2.01f, "presence_penalty");
    EXPECT_BAD(presence_penalty, NAN, "presence_penalty");
    EXPECT_BAD(frequency_penalty, -3.0f, "frequency_penalty");
    EXPECT_BAD(frequency_penalty, NAN, "frequency_penalty");
    EXPECT_BAD(repetition_penalty, 0.0f, "repetition_penalty");
    EXPECT_BAD(repetition_penalty, -1.0f, "repetition_penalty");
    EXPECT_BAD(repetition_penalty, INFINITY, "repetition_penalty");
    EXPECT_BAD(repetition_penalty, NAN, "repetition_penalty");
#undef EXPECT_BAD

    bad = params;
    const struct logit_bias out_of_range[] = {{5, 1.0f}, {BIG_VOCAB, 1.0f}};
    bad.logit_bias = out_of_range;
    expect_invalid(&bad, BIG_VOCAB, "logit_bias", "201088");
    const struct logit_bias too_big[] = {{17, 100.5f}};
    bad.logit_bias = too_big;
    bad.n_logit_bias = 1;
    expect_invalid(&bad, BIG_VOCAB, "logit_bias", "17");
    const struct logit_bias not_finite[] = {{3, NAN}};
    bad.logit_bias = not_finite;
    expect_invalid(&bad, BIG_VOCAB, "logit_bias", NULL);
    bad.logit_bias = NULL;
    expect_invalid(&bad, BIG_VOCAB, "logit_bias", NULL);

    /* Out-of-range bias ids in an unvalidated call are skipped, not written. */
    struct sampling_params loose;
    sampling_params_init(&loose);
    loose.logit_bias = out_of_range;
    loose.n_logit_bias = 2;
    assert_int_equal(greedy(&loose, (const float[]){0.0f, 1.0f}, 2, NULL, 0, NULL, 0), 1);
}

/* Runs every sampling path (greedy, plain, each filter) on `logits`, checking each draw. */
static void sample_all_paths(const float *logits, uint32_t n_vocab, const int *allowed)
{
    struct sampling_params variants[6];
    for (int i = 0; i < 6; i++)
        sampling_params_init(&variants[i]);
    variants[0].temperature = 0.0f;
    variants[2].top_k = 2;
    variants[3].top_p = 0.9f;
    variants[4].min_p = 0.1f;
    variants[5].top_k = 3;
    variants[5].top_p = 0.5f;
    variants[5].min_p = 0.05f;
    variants[5].repetition_penalty = 1.5f;
    variants[5].presence_penalty = 1.0f;
    struct sampler *s = sampler_create(n_vocab);
    struct sampler_rng rng;
    sampler_rng_seed(&rng, 5);
    const uint32_t history[] = {0, 1, 1};
    for (int v = 0; v < 6; v++) {
        for (int i = 0; i < 200; i++) {
            uint32_t t =
                sample_copy(s, &variants[v], logits, n_vocab, history, 3, history, 3, &rng);
            if (!allowed[t])
                fail_msg("variant %d drew token %u", v, t);
        }
    }
    sampler_destroy(s);
}

static void test_nan_and_infinite(void **state)
{
    (void)state;
    /* NaN is never chosen over a finite logit. */
    const float nan_mixed[] = {NAN, 1.0f, NAN, 0.5f, -INFINITY};
    assert_int_equal(
        greedy(&(struct sampling_params){.temperature = 0, .top_p = 1, .repetition_penalty = 1},
               nan_mixed, 5, NULL, 0, NULL, 0),
        1);
    sample_all_paths(nan_mixed, 5, (const int[]){0, 1, 0, 1, 0});
    /* Long enough for the vectorised loops: NaN in every lane, finite logits lower. */
    float nan_long[37];
    int nan_allowed[37];
    for (int i = 0; i < 37; i++) {
        nan_long[i] = i % 3 ? NAN : -(float)i;
        nan_allowed[i] = !(i % 3);
    }
    sample_all_paths(nan_long, 37, nan_allowed);
    const float first[] = {2.0f, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    sample_all_paths(first, 11, (const int[]){1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});

    /* Nothing finite at all: id 0, on every path. */
    const float all_ninf[] = {-INFINITY, -INFINITY, -INFINITY};
    sample_all_paths(all_ninf, 3, (const int[]){1, 0, 0});
    const float all_nan[] = {NAN, NAN, NAN};
    sample_all_paths(all_nan, 3, (const int[]){1, 0, 0});
    const float nan_ninf[] = {-INFINITY, NAN, -INFINITY, NAN};
    sample_all_paths(nan_ninf, 4, (const int[]){1, 0, 0, 0});

    /* +inf takes all the mass, shared among the infinite ones. */
    const float pinf[] = {0.0f, INFINITY, 3.0f, INFINITY, NAN};
    sample_all_paths(pinf, 5, (const int[]){0, 1, 0, 1, 0});

    /* Everything biased away still leaves the relative order. */
    struct sampling_params params;
    sampling_params_init(&params);
    const struct logit_bias away[] = {{0, -100}, {1, -100}, {2, -100}};
    params.logit_bias = away;
    params.n_logit_bias = 3;
    check_kept(&params, (const double[]){0.5, 0.3, 0.2}, 3, (const int[]){1, 1, 1}, 61);

    /* Extreme logits and temperature must not overflow into NaN. */
    const float huge[] = {-3e38f, 2.9e38f, 3e38f};
    sample_all_paths(huge, 3, (const int[]){0, 0, 1});
    struct sampler *s = sampler_create(2);
    struct sampler_rng rng;
    sampler_rng_seed(&rng, 3);
    params.n_logit_bias = 0;
    params.temperature = 1e-4f;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(
            sample_copy(s, &params, (const float[]){10.0f, 10.01f}, 2, NULL, 0, NULL, 0, &rng), 1);
    params.temperature = 1e30f;
    int seen[2] = {0, 0};
    for (int i = 0; i < 1000; i++)
        seen[sample_copy(s, &params, (const float[]){-1e30f, 1e30f}, 2, NULL, 0, NULL, 0, &rng)]++;
    assert_true(seen[0] > 0 && seen[1] > 0);
    sampler_destroy(s);
}

static const float *order_logits;

static int order_desc(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (order_logits[x] != order_logits[y])
        return order_logits[x] > order_logits[y] ? -1 : 1;
    return x < y ? -1 : 1;
}

static void test_large_vocab(void **state)
{
    (void)state;
    const uint32_t V = BIG_VOCAB;
    float *logits = malloc(V * sizeof *logits);
    uint32_t *order = malloc(V * sizeof *order);
    uint8_t *allowed = malloc(V);
    assert_non_null(logits);
    assert_non_null(order);
    assert_non_null(allowed);
    uint64_t x = 2024;
    for (uint32_t i = 0; i < V; i++) {
        logits[i] = test_noise(&x) * 2.0f;
        order[i] = i;
    }
    order_logits = logits;
    qsort(order, V, sizeof *order, order_desc);

    struct sampling_params params;
    sampling_params_init(&params);
    assert_int_equal(greedy(&params, logits, V, NULL, 0, NULL, 0), order[0]);

    struct sampler *s = sampler_create(V);
    assert_non_null(s);
    struct sampler_rng rng;
    sampler_rng_seed(&rng, 77);

    /* top-k against a reference sort. */
    const uint32_t ks[] = {1, 40, 1000, 150000};
    for (size_t j = 0; j < sizeof ks / sizeof *ks; j++) {
        memset(allowed, 0, V);
        for (uint32_t i = 0; i < ks[j]; i++)
            allowed[order[i]] = 1;
        sampling_params_init(&params);
        params.top_k = ks[j];
        for (int i = 0; i < 10; i++)
            assert_true(allowed[sample_copy(s, &params, logits, V, NULL, 0, NULL, 0, &rng)]);
    }

    /* top-p against a reference nucleus. */
    const float top_ps[] = {0.1f, 0.5f, 0.9f};
    double *probs = malloc(V * sizeof *probs);
    assert_non_null(probs);
    softmax_ref(logits, V, 1.0, probs);
    for (size_t j = 0; j < sizeof top_ps / sizeof *top_ps; j++) {
        memset(allowed, 0, V);
        double cum = 0.0;
        uint32_t kept = 0;
        while (cum < top_ps[j])
            cum += probs[order[kept]], allowed[order[kept++]] = 1;
        sampling_params_init(&params);
        params.top_p = top_ps[j];
        int outside_top = 0;
        for (int i = 0; i < 25; i++) {
            uint32_t t = sample_copy(s, &params, logits, V, NULL, 0, NULL, 0, &rng);
            assert_true(allowed[t]);
            outside_top += t != order[0];
        }
        assert_true(kept > 100 && outside_top > 20);
    }
    free(probs);

    /* Ties everywhere: top-k keeps the lowest ids, top-p the lowest that add up. */
    for (uint32_t i = 0; i < V; i++)
        logits[i] = 0.25f;
    sampling_params_init(&params);
    params.top_k = 1000;
    for (int i = 0; i < 5; i++)
        assert_true(sample_copy(s, &params, logits, V, NULL, 0, NULL, 0, &rng) < 1000);
    sampling_params_init(&params);
    params.top_p = 0.01f;
    for (int i = 0; i < 5; i++)
        assert_true(sample_copy(s, &params, logits, V, NULL, 0, NULL, 0, &rng) <= V / 100 + 1);

    /* Ascending and descending logits, the classic quickselect worst cases. */
    for (int dir = 0; dir < 2; dir++) {
        for (uint32_t i = 0; i < V; i++)
            logits[i] = (float)(dir ? V - i : i) * 1e-3f;
        sampling_params_init(&params);
        params.top_k = 5;
        for (int i = 0; i < 5; i++) {
            uint32_t t = sample_copy(s, &params, logits, V, NULL, 0, NULL, 0, &rng);
            assert_true(dir ? t < 5 : t >= V - 5);
        }
    }

    /* The plain draw reaches the far end of the vocabulary, in the right proportion. */
    for (uint32_t i = 0; i < V; i++)
        logits[i] = -INFINITY;
    logits[100000] = 0.0f;
    logits[V - 1] = logf(3.0f);
    sampling_params_init(&params);
    int last = 0;
    for (int i = 0; i < 120; i++) {
        uint32_t t = sample_copy(s, &params, logits, V, NULL, 0, NULL, 0, &rng);
        assert_true(t == 100000 || t == V - 1);
        last += t == V - 1;
    }
    assert_true(last > 72 && last < 108);

    /* Penalties with a long history of in- and out-of-range ids. */
    uint32_t *history = malloc(50000 * sizeof *history);
    assert_non_null(history);
    for (uint32_t i = 0; i < 50000; i++)
        history[i] = (i * 7919u) % (V + 1000);
    sampling_params_init(&params);
    params.temperature = 0.0f;
    params.repetition_penalty = 1.3f;
    params.frequency_penalty = 0.5f;
    params.presence_penalty = 0.5f;
    for (uint32_t i = 0; i < V; i++)
        logits[i] = 0.0f;
    logits[history[0]] = 1.0f; /* penalised below the untouched ones: 1 / 1.3 - 1 < 0 */
    assert_int_not_equal(sample_copy(s, &params, logits, V, history, 50000, history, 50000, &rng),
                         history[0]);

    free(history);
    sampler_destroy(s);
    free(allowed);
    free(order);
    free(logits);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_reference),
        cmocka_unit_test(test_create_destroy),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_seed_determinism),
        cmocka_unit_test(test_temperature_distribution),
        cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_top_p),
        cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_filter_order),
        cmocka_unit_test(test_repetition_penalty),
        cmocka_unit_test(test_presence_frequency),
        cmocka_unit_test(test_penalty_order),
        cmocka_unit_test(test_penalty_scratch_reset),
        cmocka_unit_test(test_out_of_range_history),
        cmocka_unit_test(test_logit_bias),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_nan_and_infinite),
        cmocka_unit_test(test_large_vocab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
