/* test_engine.c — the engine end to end on a tiny random model (small vocabulary).
 *
 * Batching must not change results: 16 greedy requests of different lengths submitted at once
 * produce exactly the tokens each produces alone. A KV cache too small for all of them at once
 * forces preemption, and every request still completes with the same tokens. A repeated prompt
 * is served from the prefix cache. Aborting returns every block to the pool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/error.h"
#include "engine/engine.h"
#include "model/model_random.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MODEL_DIR GPTOSS_TEST_BUILD_DIR "/test_engine_model"
#define N_VOCAB   4096
#define N_REQ     16
#define MAX_OUT   24

static struct model *model;

/* Collects one request's output; the engine thread writes, the test thread waits. */
struct collector {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    uint32_t tokens[MAX_OUT + 1];
    uint32_t n;
    enum engine_finish finish;
    uint32_t n_cached;
    bool done;
};

static void on_output(void *user, const struct engine_output *out)
{
    struct collector *c = user;
    pthread_mutex_lock(&c->lock);
    if (out->n_tokens && c->n < MAX_OUT + 1)
        c->tokens[c->n++] = out->token;
    c->n_cached = out->n_cached_tokens;
    if (out->finish != ENGINE_RUNNING) {
        c->finish = out->finish;
        c->done = true;
        pthread_cond_signal(&c->done_cond);
    }
    pthread_mutex_unlock(&c->lock);
}

static void collector_init(struct collector *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->done_cond, NULL);
}

static void collector_wait(struct collector *c)
{
    pthread_mutex_lock(&c->lock);
    while (!c->done)
        pthread_cond_wait(&c->done_cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

static uint32_t prompt_tokens[N_REQ][400];
static uint32_t prompt_len(int i)
{
    return 5 + (uint32_t)i * 23; /* 5 .. 350: some longer than the 128-token window */
}

static struct engine *make_engine(uint64_t kv_bytes, uint32_t max_num_seqs, uint32_t budget,
                                  bool prefix)
{
    struct engine_config cfg = {
        .model = model,
        .max_num_seqs = max_num_seqs,
        .max_num_batched_tokens = budget,
        .max_model_len = 512,
        .kv_cache_bytes = kv_bytes,
        .enable_prefix_caching = prefix,
    };
    struct engine *e;
    enum gptoss_status st = engine_create(&cfg, &e);
    if (st != GPTOSS_OK)
        print_error("%s\n", error_message());
    assert_int_equal(st, GPTOSS_OK);
    return e;
}

static void submit(struct engine *e, int i, struct collector *c, uint32_t max_tokens)
{
    struct engine_request req = {
        .prompt = prompt_tokens[i],
        .n_prompt = prompt_len(i),
        .seed = 1,
        .max_tokens = max_tokens,
        .on_output = on_output,
        .user = c,
    };
    sampling_params_init(&req.sampling);
    req.sampling.temperature = 0;
    uint64_t id;
    assert_int_equal(engine_submit(e, &req, &id), GPTOSS_OK);
}

static struct collector solo[N_REQ];

static int setup(void **state)
{
    (void)state;
    struct model_random_options o = {.preset = "tiny", .seed = 21, .n_vocab = N_VOCAB};
    if (model_random_write(&o, MODEL_DIR) != GPTOSS_OK ||
        model_load(MODEL_DIR, NULL, &model) != GPTOSS_OK) {
        print_error("%s\n", error_message());
        return -1;
    }
    uint64_t x = 99;
    for (int i = 0; i < N_REQ; i++)
        for (uint32_t j = 0; j < 400; j++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            prompt_tokens[i][j] = (uint32_t)(x >> 33) % N_VOCAB;
        }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    model_destroy(model);
    return 0;
}

static uint32_t max_out(int i)
{
    return 8 + (uint32_t)(i % 5) * 4;
}

static void test_solo_runs(void **state)
{
    (void)state;
    struct engine *e = make_engine(64ull << 20, 16, 256, false);
    for (int i = 0; i < N_REQ; i++) {
        collector_init(&solo[i]);
        submit(e, i, &solo[i], max_out(i));
        collector_wait(&solo[i]);
        assert_int_equal(solo[i].finish, ENGINE_FINISH_LENGTH);
        assert_int_equal(solo[i].n, max_out(i));
    }
    engine_destroy(e);
}

static void check_batch(uint64_t kv_bytes, uint32_t max_num_seqs, uint32_t budget,
                        bool expect_preemption)
{
    struct engine *e = make_engine(kv_bytes, max_num_seqs, budget, true);
    static struct collector c[N_REQ];
    for (int i = 0; i < N_REQ; i++) {
        collector_init(&c[i]);
        submit(e, i, &c[i], max_out(i));
    }
    for (int i = 0; i < N_REQ; i++) {
        collector_wait(&c[i]);
        assert_int_equal(c[i].finish, ENGINE_FINISH_LENGTH);
        assert_int_equal(c[i].n, solo[i].n);
        assert_memory_equal(c[i].tokens, solo[i].tokens, solo[i].n * sizeof(uint32_t));
    }
    struct engine_stats st;
    engine_stats(e, &st);
    if (expect_preemption)
        assert_true(st.n_preemptions > 0);
    print_message("kv %llu bytes, %u seqs, budget %u: %llu steps, %llu preemptions\n",
                  (unsigned long long)kv_bytes, max_num_seqs, budget,
                  (unsigned long long)st.n_steps, (unsigned long long)st.n_preemptions);
    engine_destroy(e);
}

static void test_batched_equals_solo(void **state)
{
    (void)state;
    check_batch(64ull << 20, 16, 256, false);
    check_batch(64ull << 20, 16, 37, false); /* small budget: many prefill chunks */
}

static void test_preemption(void **state)
{
    (void)state;
    /* Room for one 512-token request in the full pool and the sliding pools of 16: the 16
     * requests together need more, so some are preempted and recomputed. */
    uint64_t full = model_kv_block_bytes(model, KV_GROUP_FULL);
    uint64_t sliding = model_kv_block_bytes(model, KV_GROUP_SLIDING);
    uint64_t n_sliding = 16 * ((127 + 15) / 16 + 2) + 128 / 16; /* as engine_size_kv */
    check_batch(n_sliding * sliding + 34 * full, 16, 128, true);
}

static void test_prefix_cache(void **state)
{
    (void)state;
    struct engine *e = make_engine(64ull << 20, 16, 256, true);
    struct collector a, b;
    collector_init(&a);
    submit(e, 15, &a, 4);
    collector_wait(&a);
    collector_init(&b);
    submit(e, 15, &b, 4);
    collector_wait(&b);
    /* 350 tokens: 21 full blocks (336 tokens) come back from the cache. */
    assert_int_equal(a.n_cached, 0);
    assert_int_equal(b.n_cached, 336);
    assert_memory_equal(a.tokens, b.tokens, 4 * sizeof(uint32_t));
    struct engine_stats st;
    engine_stats(e, &st);
    assert_int_equal(st.prefix_hits, 336);
    engine_destroy(e);
}

static void test_abort_frees_blocks(void **state)
{
    (void)state;
    struct engine *e = make_engine(64ull << 20, 16, 256, false);
    struct collector c[4];
    uint64_t ids[4];
    for (int i = 0; i < 4; i++) {
        collector_init(&c[i]);
        struct engine_request req = {
            .prompt = prompt_tokens[10 + i],
            .n_prompt = prompt_len(10 + i),
            .max_tokens = 400,
            .on_output = on_output,
            .user = &c[i],
        };
        sampling_params_init(&req.sampling);
        assert_int_equal(engine_submit(e, &req, &ids[i]), GPTOSS_OK);
    }
    for (int i = 0; i < 4; i++)
        engine_abort(e, ids[i]);
    for (int i = 0; i < 4; i++) {
        collector_wait(&c[i]);
        assert_true(c[i].finish == ENGINE_FINISH_ABORT || c[i].finish == ENGINE_FINISH_LENGTH);
    }
    struct engine_stats st;
    for (int tries = 0; tries < 100; tries++) {
        engine_stats(e, &st);
        if (st.kv_usage == 0 && st.n_running == 0)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_true(st.kv_usage == 0.0);
    assert_int_equal(st.n_running, 0);
    engine_destroy(e);
}

/* Sliding-window layers hold only the window: after a 350-token prompt and 100 generated tokens
 * the full-attention layers hold ceil(449/16) = 29 blocks, the sliding ones at most 10. */
struct window_probe {
    struct collector c;
    struct engine *e;
    struct engine_stats at_end;
};

static void on_output_probe(void *user, const struct engine_output *out)
{
    struct window_probe *p = user;
    if (out->finish != ENGINE_RUNNING)
        engine_stats(p->e, &p->at_end); /* published after the step before this one */
    on_output(&p->c, out);
}

static void test_sliding_window_memory(void **state)
{
    (void)state;
    static struct window_probe p;
    memset(&p, 0, sizeof(p));
    collector_init(&p.c);
    p.e = make_engine(64ull << 20, 4, 256, false);
    struct engine_request req = {
        .prompt = prompt_tokens[15],
        .n_prompt = prompt_len(15),
        .max_tokens = 100,
        .on_output = on_output_probe,
        .user = &p,
    };
    sampling_params_init(&req.sampling);
    uint64_t id;
    assert_int_equal(engine_submit(p.e, &req, &id), GPTOSS_OK);
    collector_wait(&p.c);
    assert_true(p.at_end.kv_blocks_used[KV_GROUP_FULL] >= 28);
    assert_true(p.at_end.kv_blocks_used[KV_GROUP_SLIDING] <= 10);
    print_message("near the end of 449 positions: %u full-attention blocks, %u sliding-window "
                  "blocks\n",
                  p.at_end.kv_blocks_used[KV_GROUP_FULL],
                  p.at_end.kv_blocks_used[KV_GROUP_SLIDING]);
    engine_destroy(p.e);
}

static void test_bad_requests(void **state)
{
    (void)state;
    struct engine *e = make_engine(64ull << 20, 4, 64, false);
    struct engine_request req = {.prompt = prompt_tokens[0], .n_prompt = 0, .max_tokens = 4};
    sampling_params_init(&req.sampling);
    uint64_t id;
    assert_int_equal(engine_submit(e, &req, &id), GPTOSS_ERR_INVALID_ARGUMENT);
    req.n_prompt = 512;
    assert_int_equal(engine_submit(e, &req, &id), GPTOSS_ERR_INVALID_ARGUMENT);
    uint32_t bad = N_VOCAB;
    req.prompt = &bad;
    req.n_prompt = 1;
    assert_int_equal(engine_submit(e, &req, &id), GPTOSS_ERR_INVALID_ARGUMENT);
    engine_destroy(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_solo_runs),          cmocka_unit_test(test_batched_equals_solo),
        cmocka_unit_test(test_preemption),         cmocka_unit_test(test_prefix_cache),
        cmocka_unit_test(test_abort_frees_blocks), cmocka_unit_test(test_sliding_window_memory),
        cmocka_unit_test(test_bad_requests),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
