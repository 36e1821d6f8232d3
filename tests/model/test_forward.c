/* test_forward.c — the batched forward step over the paged KV cache.
 *
 * Batching must not change results: three sequences of different lengths are run once each on
 * their own (one batch per sequence) and once interleaved over several steps that mix prompt
 * chunks with single decode tokens, with shuffled block tables that differ between the
 * full-attention and sliding-window groups. Every logits row must agree. A bad batch (token,
 * position, slot or block out of range) must be refused without touching memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "model/model.h"
#include "model/model_random.h"
#include "base/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_DIR  GPTOSS_TEST_BUILD_DIR "/test_forward_model"
#define N_SEQS     3
#define MAX_LEN    192
#define MAX_BLOCKS 64

static const uint32_t seq_len[N_SEQS] = {170, 23, 41};

static struct model *model;
static uint32_t tokens[N_SEQS][MAX_LEN];
static float *alone[N_SEQS]; /* [len][V] logits of each sequence run by itself */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* A batch under construction: tokens appended one by one with their sequence's tables. */
struct builder {
    uint32_t n;
    uint32_t tokens[512], positions[512], seq[512], slots[KV_N_GROUPS][512];
    bool need[512];
    const uint32_t *tables[KV_N_GROUPS][N_SEQS];
};

static void builder_add(struct builder *b, uint32_t s, uint32_t pos, uint32_t token)
{
    uint32_t i = b->n++;
    b->tokens[i] = token;
    b->positions[i] = pos;
    b->seq[i] = s;
    b->need[i] = true;
    for (int g = 0; g < KV_N_GROUPS; g++)
        b->slots[g][i] = b->tables[g][s][pos / KV_BLOCK_SIZE] * KV_BLOCK_SIZE + pos % KV_BLOCK_SIZE;
}

static struct batch builder_batch(const struct builder *b)
{
    struct batch batch = {
        .n_tokens = b->n,
        .n_seqs = N_SEQS,
        .tokens = b->tokens,
        .positions = b->positions,
        .seq_of_token = b->seq,
        .slots = {b->slots[0], b->slots[1]},
        .block_tables = {b->tables[0], b->tables[1]},
        .need_logits = b->need,
    };
    return batch;
}

static int setup(void **state)
{
    (void)state;
    /* A small vocabulary keeps the unembedding cheap; nothing else depends on it. */
    struct model_random_options o = {.preset = "tiny", .seed = 11, .n_vocab = 4096};
    if (model_random_write(&o, MODEL_DIR) != GPTOSS_OK ||
        model_load(MODEL_DIR, NULL, &model) != GPTOSS_OK) {
        print_error("%s\n", error_message());
        return -1;
    }
    uint32_t blocks[KV_N_GROUPS] = {MAX_BLOCKS, MAX_BLOCKS};
    if (model_kv_alloc(model, blocks) != GPTOSS_OK)
        return -1;
    for (int s = 0; s < N_SEQS; s++)
        for (uint32_t i = 0; i < seq_len[s]; i++)
            tokens[s][i] = rng_next() % 4096;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int s = 0; s < N_SEQS; s++)
        free(alone[s]);
    model_destroy(model);
    return 0;
}

static void test_alone(void **state)
{
    (void)state;
    uint32_t V = model_config(model)->n_vocab;
    static uint32_t identity[MAX_BLOCKS];
    for (uint32_t i = 0; i < MAX_BLOCKS; i++)
        identity[i] = i;
    for (int s = 0; s < N_SEQS; s++) {
        struct builder *b = calloc(1, sizeof(*b));
        for (int g = 0; g < KV_N_GROUPS; g++)
            for (int t = 0; t < N_SEQS; t++)
                b->tables[g][t] = identity;
        for (uint32_t i = 0; i < seq_len[s]; i++)
            builder_add(b, (uint32_t)s, i, tokens[s][i]);
        struct batch batch = builder_batch(b);
        alone[s] = malloc((size_t)seq_len[s] * V * sizeof(float));
        assert_int_equal(model_forward(model, &batch, alone[s]), GPTOSS_OK);
        for (size_t i = 0; i < (size_t)seq_len[s] * V; i++)
            assert_true(isfinite(alone[s][i]));
        free(b);
    }
}

/* The schedule: each step gives every unfinished sequence a chunk of this many tokens. */
static const uint32_t chunks[][N_SEQS] = {
    {100, 10, 0}, {40, 1, 30}, {1, 1, 5}, {13, 1, 1}, {1, 4, 1}, {15, 6, 4}, {0, 0, 0},
};

static void test_batched_equals_alone(void **state)
{
    (void)state;
    uint32_t V = model_config(model)->n_vocab;
    /* Shuffled, disjoint block assignments; the sliding group gets a different shuffle. */
    static uint32_t tables[KV_N_GROUPS][N_SEQS][MAX_BLOCKS / N_SEQS];
    for (int g = 0; g < KV_N_GROUPS; g++) {
        uint32_t perm[MAX_BLOCKS];
        for (uint32_t i = 0; i < MAX_BLOCKS; i++)
            perm[i] = i;
        for (uint32_t i = MAX_BLOCKS - 1; i > 0; i--) {
            uint32_t j = rng_next() % (i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (int s = 0; s < N_SEQS; s++)
            for (uint32_t i = 0; i < MAX_BLOCKS / N_SEQS; i++)
                tables[g][s][i] = perm[s * (MAX_BLOCKS / N_SEQS) + i];
    }
    uint32_t done[N_SEQS] = {0};
    float *logits = malloc(512 * (size_t)V * sizeof(float));
    double worst = 0;
    for (size_t step = 0; chunks[step][0] || chunks[step][1] || chunks[step][2]; step++) {
        struct builder *b = calloc(1, sizeof(*b));
        for (int g = 0; g < KV_N_GROUPS; g++)
            for (int s = 0; s < N_SEQS; s++)
                b->tables[g][s] = tables[g][s];
        /* Interleave the sequences' tokens to show order inside a batch does not matter. */
        for (int s = N_SEQS - 1; s >= 0; s--)
            for (uint32_t i = 0; i < chunks[step][s] && done[s] + i < seq_len[s]; i++)
                builder_add(b, (uint32_t)s, done[s] + i, tokens[s][done[s] + i]);
        struct batch batch = builder_batch(b);
        assert_int_equal(model_forward(model, &batch, logits), GPTOSS_OK);
        for (uint32_t r = 0; r < b->n; r++) {
            const float *want = alone[b->seq[r]] + (size_t)b->positions[r] * V;
            const float *got = logits + (size_t)r * V;
            double max_abs = 0, max_diff = 0;
            for (uint32_t v = 0; v < V; v++) {
                max_abs = fmax(max_abs, fabs(want[v]));
                max_diff = fmax(max_diff, fabs((double)got[v] - want[v]));
            }
            worst = fmax(worst, max_diff / max_abs);
            assert_true(max_diff <= 1e-5 * max_abs);
        }
        for (int s = 0; s < N_SEQS; s++) {
            done[s] += chunks[step][s];
            if (done[s] > seq_len[s])
                done[s] = seq_len[s];
        }
        free(b);
    }
    for (int s = 0; s < N_SEQS; s++)
        assert_int_equal(done[s], seq_len[s]);
    print_message("batched vs alone: max relative difference %.3g\n", worst);
    free(logits);
}

static void test_bad_batches(void **state)
{
    (void)state;
    static uint32_t table[MAX_BLOCKS];
    for (uint32_t i = 0; i < MAX_BLOCKS; i++)
        table[i] = i;
    struct builder *b = calloc(1, sizeof(*b));
    for (int g = 0; g < KV_N_GROUPS; g++)
        for (int s = 0; s < N_SEQS; s++)
            b->tables[g][s] = table;
    builder_add(b, 0, 0, 5);
    float *logits = malloc((size_t)model_config(model)->n_vocab * sizeof(float));
    struct batch batch = builder_batch(b);

    b->tokens[0] = model_config(model)->n_vocab; /* outside the vocabulary */
    assert_int_equal(model_forward(model, &batch, logits), GPTOSS_ERR_INVALID_ARGUMENT);
    b->tokens[0] = 5;
    b->seq[0] = N_SEQS; /* no such sequence */
    assert_int_equal(model_forward(model, &batch, logits), GPTOSS_ERR_INVALID_ARGUMENT);
    b->seq[0] = 0;
    b->positions[0] = MAX_BLOCKS * KV_BLOCK_SIZE; /* block table entry beyond the cache */
    static uint32_t big[MAX_BLOCKS * 2];
    for (uint32_t i = 0; i < MAX_BLOCKS * 2; i++)
        big[i] = i;
    b->tables[0][0] = big;
    b->slots[0][0] = MAX_BLOCKS * KV_BLOCK_SIZE;
    batch = builder_batch(b);
    assert_int_equal(model_forward(model, &batch, logits), GPTOSS_ERR_INVALID_ARGUMENT);
    b->positions[0] = 3; /* a slot that disagrees with the block table */
    b->tables[0][0] = table;
    b->slots[0][0] = 7;
    batch = builder_batch(b);
    assert_int_equal(model_forward(model, &batch, logits), GPTOSS_ERR_INVALID_ARGUMENT);
    free(logits);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alone),
        cmocka_unit_test(test_batched_equals_alone),
        cmocka_unit_test(test_bad_batches),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
