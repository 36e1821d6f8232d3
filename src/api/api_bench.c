/* api_bench.c — gptoss_model_bench(): the timed prefill and decode runs behind `gptoss bench`.
 *
 * The runs go straight to model_forward with block tables of their own, like llama-bench's
 * tests: no scheduler, no sampling (tokens are random), so the numbers are the model's forward
 * steps and nothing else. Sequence s of a decode run owns blocks s*nb .. s*nb+nb-1 in both KV
 * groups; the sliding-window group simply keeps every block of these short runs.
 */
#include "api_internal.h"

#include "base/error.h"
#include "base/rand.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Most tokens one prefill step takes, llama-bench's default micro-batch. */
#define BENCH_CHUNK    512u
#define BENCH_MAX_SEQS 256u

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Step inputs for up to `rows` tokens over `n_seqs` sequences of `nb` blocks each. */
struct bench_step {
    uint32_t *tokens, *positions, *seq_of_token, *slots;
    bool *need_logits;
    uint32_t *table_data; /* [n_seqs][nb] */
    const uint32_t **tables;
    float *logits; /* [rows][V] */
};

static void bench_step_free(struct bench_step *b)
{
    free(b->tokens);
    free(b->positions);
    free(b->seq_of_token);
    free(b->slots);
    free(b->need_logits);
    free(b->table_data);
    free(b->tables);
    free(b->logits);
}

static enum gptoss_status bench_step_alloc(struct bench_step *b, uint32_t rows, uint32_t n_seqs,
                                           uint32_t nb, uint32_t n_vocab, uint32_t logit_rows)
{
    memset(b, 0, sizeof(*b));
    b->tokens = malloc(rows * sizeof(uint32_t));
    b->positions = malloc(rows * sizeof(uint32_t));
    b->seq_of_token = malloc(rows * sizeof(uint32_t));
    b->slots = malloc(rows * sizeof(uint32_t));
    b->need_logits = malloc(rows * sizeof(bool));
    b->table_data = malloc((size_t)n_seqs * nb * sizeof(uint32_t));
    b->tables = malloc(n_seqs * sizeof(uint32_t *));
    b->logits = malloc((size_t)logit_rows * n_vocab * sizeof(float));
    if (!b->tokens || !b->positions || !b->seq_of_token || !b->slots || !b->need_logits ||
        !b->table_data || !b->tables || !b->logits) {
        bench_step_free(b);
        return error_set(GPTOSS_ERR_NOMEM, "cannot allocate the benchmark's step buffers");
    }
    for (uint32_t s = 0; s < n_seqs; s++) {
        for (uint32_t i = 0; i < nb; i++)
            b->table_data[(size_t)s * nb + i] = s * nb + i;
        b->tables[s] = b->table_data + (size_t)s * nb;
    }
    return GPTOSS_OK;
}

/* Runs rows 0..m of *b (already holding tokens, positions and sequences) as one step. */
static enum gptoss_status bench_forward(struct model *model, struct bench_step *b, uint32_t m,
                                        uint32_t n_seqs)
{
    for (uint32_t i = 0; i < m; i++) {
        uint32_t p = b->positions[i];
        b->slots[i] =
            b->tables[b->seq_of_token[i]][p / KV_BLOCK_SIZE] * KV_BLOCK_SIZE + p % KV_BLOCK_SIZE;
    }
    struct batch batch = {
        .n_tokens = m,
        .n_seqs = n_seqs,
        .tokens = b->tokens,
        .positions = b->positions,
        .seq_of_token = b->seq_of_token,
        .slots = {b->slots, b->slots},
        .block_tables = {(const uint32_t *const *)b->tables, (const uint32_t *const *)b->tables},
        .need_logits = b->need_logits,
    };
    return model_forward(model, &batch, b->logits);
}

GPTOSS_API enum gptoss_status gptoss_model_bench(struct gptoss_model *model,
                                                 const struct gptoss_bench_params *params,
                                                 struct gptoss_bench_timing *timing_out)
{
    memset(timing_out, 0, sizeof(*timing_out));
    const struct model_config *c = model_config(model->model);
    if (model->session_live)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "the model has a live session");
    if (params->n_seqs == 0 || params->n_seqs > BENCH_MAX_SEQS)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "sequences per step must be in 1..%u, got %u",
                         BENCH_MAX_SEQS, params->n_seqs);
    if (params->n_prompt > c->max_position || params->n_gen > c->max_position)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "prompt and generation lengths must be at most the context (%u)",
                         c->max_position);

    uint32_t nb_prompt = (params->n_prompt + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE;
    uint32_t nb_gen = (params->n_gen + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE;
    uint64_t gen_blocks = (uint64_t)nb_gen * params->n_seqs;
    uint32_t total = (uint32_t)(gen_blocks > nb_prompt ? gen_blocks : nb_prompt);
    if (total == 0)
        return GPTOSS_OK;
    uint32_t blocks[KV_N_GROUPS] = {total, total};
    enum gptoss_status st = model_kv_alloc(model->model, blocks);
    if (st != GPTOSS_OK)
        return st;
    uint64_t rng = params->seed;

    if (params->n_prompt) {
        struct bench_step b;
        uint32_t rows = params->n_prompt < BENCH_CHUNK ? params->n_prompt : BENCH_CHUNK;
        st = bench_step_alloc(&b, rows, 1, nb_prompt, c->n_vocab, 1);
        if (st != GPTOSS_OK)
            return st;
        double t0 = bench_now();
        for (uint32_t done = 0; done < params->n_prompt && st == GPTOSS_OK;) {
            uint32_t m = params->n_prompt - done < rows ? params->n_prompt - done : rows;
            for (uint32_t i = 0; i < m; i++) {
                b.tokens[i] = (uint32_t)(rand_splitmix64(&rng) % c->n_vocab);
                b.positions[i] = done + i;
                b.seq_of_token[i] = 0;
                b.need_logits[i] = i == m - 1;
            }
            st = bench_forward(model->model, &b, m, 1);
            done += m;
        }
        timing_out->prefill_seconds = bench_now() - t0;
        bench_step_free(&b);
        if (st != GPTOSS_OK)
            return st;
    }

    if (params->n_gen) {
        struct bench_step b;
        uint32_t n = params->n_seqs;
        st = bench_step_alloc(&b, n, n, nb_gen, c->n_vocab, n);
        if (st != GPTOSS_OK)
            return st;
        double t0 = bench_now();
        for (uint32_t step = 0; step < params->n_gen && st == GPTOSS_OK; step++) {
            for (uint32_t s = 0; s < n; s++) {
                b.tokens[s] = (uint32_t)(rand_splitmix64(&rng) % c->n_vocab);
                b.positions[s] = step;
                b.seq_of_token[s] = s;
                b.need_logits[s] = true;
            }
            st = bench_forward(model->model, &b, n, n);
        }
        timing_out->decode_seconds = bench_now() - t0;
        bench_step_free(&b);
    }
    return st;
}
