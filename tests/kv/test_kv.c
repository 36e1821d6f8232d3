/* test_kv.c — the KV block manager: tables, the sliding window, atomic allocation, prefix hits
 * (whole prompts, multi-turn, evicted sliding blocks), LRU eviction, sharing, and a random
 * stress test that simulates the KV contents to prove every reused block holds the right keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kv/kv.h"
#include "kv/kv_internal.h"

#include "base/rand.h"

#include <stdlib.h>
#include <string.h>

#define B KV_BLOCK_SIZE

static struct kv_manager *new_manager(uint32_t n_full, uint32_t n_sliding, uint32_t window,
                                      bool caching)
{
    struct kv_manager_config config = {
        .n_blocks = {[KV_GROUP_FULL] = n_full, [KV_GROUP_SLIDING] = n_sliding},
        .sliding_window = window,
        .prefix_caching = caching,
    };
    struct kv_manager *m = NULL;
    assert_int_equal(kv_manager_create(&config, &m), GPTOSS_OK);
    assert_non_null(m);
    return m;
}

static uint32_t n_free(const struct kv_manager *m, enum kv_group g)
{
    struct kv_stats stats;
    kv_manager_stats(m, &stats);
    return stats.n_free[g];
}

/* Tokens seed, seed + 1, ... so that different seeds give different blocks. */
static void fill_tokens(uint32_t *tokens, uint32_t n, uint32_t seed)
{
    for (uint32_t i = 0; i < n; i++)
        tokens[i] = seed * 100003u + i;
}

/* Runs a prompt the way the engine will: look up the prefix, then compute the rest in chunks,
 * committing after each. Returns the prefix hit in tokens. */
static uint32_t run_prompt(struct kv_manager *m, struct kv_seq *seq, const uint32_t *tokens,
                           uint32_t n, uint32_t chunk)
{
    uint32_t hit = kv_manager_match_prefix(m, seq, tokens, n);
    for (uint32_t done = hit; done < n;) {
        uint32_t step = n - done < chunk ? n - done : chunk;
        assert_true(kv_manager_allocate(m, seq, done, step));
        done += step;
        kv_manager_commit(m, seq, tokens, done);
    }
    return hit;
}

/* Every block is referenced exactly by the tables that hold it, and the free counts agree. */
static void check_refs(const struct kv_manager *m, struct kv_seq *const *seqs, size_t n_seqs)
{
    kv_manager_check(m);
    struct kv_stats stats;
    kv_manager_stats(m, &stats);
    for (int g = 0; g < KV_N_GROUPS; g++) {
        uint32_t n = stats.n_blocks[g];
        uint32_t *refs = calloc(n ? n : 1, sizeof(*refs));
        assert_non_null(refs);
        for (size_t s = 0; s < n_seqs; s++) {
            const struct kv_seq *seq = seqs[s];
            bool seen_block = false;
            for (uint32_t i = 0; i < seq->n_entries; i++) {
                uint32_t id = seq->tables[g][i];
                if (id == KV_BLOCK_NONE) {
                    /* Full tables are complete; sliding ones are NONE only on a prefix. */
                    assert_true(n == 0 || (g == KV_GROUP_SLIDING && !seen_block));
                    continue;
                }
                assert_true(id < n);
                seen_block = true;
                refs[id]++;
            }
        }
        uint32_t free_count = 0;
        for (uint32_t id = 0; id < n; id++) {
            assert_int_equal(kv_manager_block_refs(m, (enum kv_group)g, id), refs[id]);
            free_count += refs[id] == 0;
        }
        assert_int_equal(stats.n_free[g], free_count);
        free(refs);
    }
}

static void test_create_invalid(void **state)
{
    (void)state;
    struct kv_manager *m = (struct kv_manager *)1;
    struct kv_manager_config config = {.n_blocks = {4, 4}, .sliding_window = 0};
    assert_int_equal(kv_manager_create(&config, &m), GPTOSS_ERR_INVALID_ARGUMENT);
    assert_null(m);
    kv_manager_destroy(NULL);
}

static void test_allocate_and_release(void **state)
{
    (void)state;
    struct kv_manager *m = new_manager(64, 64, 1024, false);
    struct kv_seq seq;
    kv_seq_init(&seq);

    assert_true(kv_manager_allocate(m, &seq, 0, 1));
    assert_int_equal(seq.n_entries, 1);
    assert_true(kv_manager_allocate(m, &seq, 1, 16)); /* 17 positions: 2 entries */
    assert_int_equal(seq.n_entries, 2);
    assert_true(kv_manager_allocate(m, &seq, 17, 300)); /* 317: 20 entries */
    assert_int_equal(seq.n_entries, 20);
    assert_true(seq.cap >= 20);
    assert_true(kv_manager_allocate(m, &seq, 317, 0)); /* nothing new */
    assert_int_equal(seq.n_entries, 20);
    assert_int_equal(n_free(m, KV_GROUP_FULL), 44);
    assert_int_equal(n_free(m, KV_GROUP_SLIDING), 44);

    /* Distinct blocks within a table. */
    for (int g = 0; g < KV_N_GROUPS; g++)
        for (uint32_t i = 0; i < seq.n_entries; i++) {
            assert_int_not_equal(seq.tables[g][i], KV_BLOCK_NONE);
            for (uint32_t j = 0; j < i; j++)
                assert_int_not_equal(seq.tables[g][i], seq.tables[g][j]);
        }
    struct kv_seq *seqs[] = {&seq};
    check_refs(m, seqs, 1);

    kv_manager_release(m, &seq);
    assert_int_equal(seq.n_entries, 0);
    assert_int_equal(n_free(m, KV_GROUP_FULL), 64);
    assert_int_equal(n_free(m, KV_GROUP_SLIDING), 64);
    check_refs(m, seqs, 1);

    /* The arrays are kept for the next use. */
    assert_true(seq.cap >= 20);
    assert_true(kv_manager_allocate(m, &seq, 0, 40));
    assert_int_equal(seq.n_entries, 3);
    kv_manager_release(m, &seq);
    kv_seq_deinit(&seq);
    kv_manager_destroy(m);
}

static void test_allocate_atomic(void **state)
{
    (void)state;
    /* Full pool short. */
    struct kv_manager *m = new_manager(4, 64, 1024, false);
    struct kv_seq a, b;
    kv_seq_init(&a);
    kv_seq_init(&b);
    assert_true(kv_manager_allocate(m, &a, 0, 48));
    assert_false(kv_manager_allocate(m, &b, 0, 32));
    assert_int_equal(b.n_entries, 0);
    assert_int_equal(n_free(m, KV_GROUP_FULL), 1);
    assert_int_equal(n_free(m, KV_GROUP_SLIDING), 61);
    assert_false(kv_manager_allocate(m, &a, 48, 17));
    assert_int_equal(a.n_entries, 3);
    assert_true(kv_manager_allocate(m, &a, 48, 16));
    assert_int_equal(n_free(m, KV_GROUP_FULL), 0);
    kv_manager_release(m, &a);
    kv_manager_destroy(m);

    /* Sliding pool short, and a group with no pool never limits. */
    m = new_manager(0, 3, 32, false);
    assert_true(kv_manager_allocate(m, &a, 0, 48));
    assert_int_equal(a.tables[KV_GROUP_FULL][0], KV_BLOCK_NONE);
    assert_false(kv_manager_allocate(m, &b, 0, 1));
    assert_int_equal(n_free(m, KV_GROUP_SLIDING), 0);
    /* At position 48 the window (32) starts at key 17: entry 0 can go, and its block serves
     * the new entry, so this succeeds in a full pool. */
    assert_true(kv_manager_allocate(m, &a, 48, 16));
    assert_int_equal(a.tables[KV_GROUP_SLIDING][0], KV_BLOCK_NONE);
    assert_int_equal(n_free(m, KV_GROUP_SLIDING), 0);
    /* Two more entries but only one released: fails, and drops nothing. */
    assert_false(kv_manager_allocate(m, &a, 64, 32));
    assert_int_equal(a.n_entries, 4);
    assert_int_not_equal(a.tables[KV_GROUP_SLIDING][1], KV_BLOCK_NONE);
    struct kv_seq *seqs[] = {&a, &b};
    check_refs(m, seqs, 2);
    kv_manager_release(m, &a);
    assert_int_equal(n_free(m, KV_GROUP_SLIDING), 3);
    kv_seq_deinit(&a);
    kv_seq_deinit(&b);
    kv_manager_destroy(m);
}

static void test_sliding_window(void **state)
{
    (void)state;
    struct kv_manager *m = new_manager(256, 256, 128, true);
    struct kv_seq seq;
    kv_seq_init(&seq);
    uint32_t tokens[1000];
    fill_tokens(tokens, 1000, 1);
    uint32_t max_sliding = 0;
    for (uint32_t p = 0; p < 1000; p++) {
        assert_true(kv_manager_allocate(m, &seq, p, 1));
        kv_manager_commit(m, &seq, tokens, p + 1);
        uint32_t held = 256 - n_free(m, KV_GROUP_SLIDING);
        if (held > max_sliding)
            max_sliding = held;
        /* Entries wholly before key p - 127 are gone; the one holding it stays. */
        if (p >= 127) {
            uint32_t first = (p - 127) / B;
            assert_int_not_equal(seq.tables[KV_GROUP_SLIDING][first], KV_BLOCK_NONE);
            if (first > 0)
                assert_int_equal(seq.tables[KV_GROUP_SLIDING][first - 1], KV_BLOCK_NONE);
        }
    }
    assert_int_equal(seq.n_entries, 63);
    assert_int_equal(256 - n_free(m, KV_GROUP_FULL), 63);
    uint32_t held = 256 - n_free(m, KV_GROUP_SLIDING);
    assert_true(held >= 9 && held <= 10);
    assert_true(max_sliding <= 10);
    struct kv_seq *seqs[] = {&seq};
    check_refs(m, seqs, 1);

    /* Prefill in one go holds everything, then the next step drops the old entries. */
    kv_manager_release(m, &seq);
    struct kv_manager *m2 = new_manager(256, 256, 128, false);
    assert_true(kv_manager_allocate(m2, &seq, 0, 1000));
    assert_int_equal(n_free(m2, KV_GROUP_SLIDING), 256 - 63);
    assert_true(kv_manager_allocate(m2, &seq, 1000, 1));
    assert_int_equal(256 - n_free(m2, KV_GROUP_SLIDING), 63 - (1001 - 128) / B);
    kv_manager_release(m2, &seq);
    kv_manager_destroy(m2);

    kv_seq_deinit(&seq);
    kv_manager_destroy(m);
}

static void test_prefix_hit_same_prompt(void **state)
{
    (void)state;
    static const uint32_t lengths[] = {1, 15, 16, 17, 33, 64, 65, 200};
    for (size_t t = 0; t < sizeof(lengths) / sizeof(lengths[0]); t++) {
        uint32_t n = lengths[t];
        struct kv_manager *m = new_manager(64, 64, 128, true);
        uint32_t tokens[200];
        fill_tokens(tokens, n, 7);
        struct kv_seq seq;
        kv_seq_init(&seq);
        assert_int_equal(run_prompt(m, &seq, tokens, n, 48), 0);
        /* Generated tokens are committed too; the hit still must leave one token. */
        kv_manager_release(m, &seq);
        assert_int_equal(n_free(m, KV_GROUP_FULL), 64);

        uint32_t want = (n - 1) / B * B;
        assert_int_equal(kv_manager_match_prefix(m, &seq, tokens, n), want);
        assert_int_equal(seq.n_entries, want / B);
        assert_int_equal(seq.n_hashed, want / B);
        struct kv_seq *seqs[] = {&seq};
        check_refs(m, seqs, 1);
        /* The rest computes on top. */
        assert_true(kv_manager_allocate(m, &seq, want, n - want));
        kv_manager_commit(m, &seq, tokens, n);
        check_refs(m, seqs, 1);
        kv_manager_release(m, &seq);
        kv_seq_deinit(&seq);

        struct kv_stats stats;
        kv_manager_stats(m, &stats);
        assert_int_equal(stats.prefix_queries, 2 * n);
        assert_int_equal(stats.prefix_hits, want);
        kv_manager_destroy(m);
    }
}

static void test_prefix_multi_turn(void **state)
{
    (void)state;
    struct kv_manager *m = new_manager(64, 64, 128, true);
    uint32_t tokens[300];
    fill_tokens(tokens, 300, 3);
    struct kv_seq seq;
    kv_seq_init(&seq);
    /* Turn 1: a 50-token prompt plus 20 generated tokens, one at a time. */
    run_prompt(m, &seq, tokens, 50, 64);
    for (uint32_t p = 50; p < 70; p++) {
        assert_true(kv_manager_allocate(m, &seq, p, 1));
        kv_manager_commit(m, &seq, tokens, p + 1);
    }
    kv_manager_release(m, &seq);
    /* Turn 2 repeats everything and adds more: the 4 full blocks of turn 1 come back. */
    assert_int_equal(run_prompt(m, &seq, tokens, 150, 64), 64);
    kv_manager_release(m, &seq);
    /* Turn 3 likewise hits all 9 full blocks of turn 2. */
    assert_int_equal(run_prompt(m, &seq, tokens, 300, 64), 144);
    kv_manager_release(m, &seq);
    /* A prompt that differs in its second block hits only the first. */
    tokens[20] ^= 1;
    assert_int_equal(kv_manager_match_prefix(m, &seq, tokens, 300), 16);
    kv_manager_release(m, &seq);
    kv_seq_deinit(&seq);
    kv_manager_destroy(m);
}

static void test_prefix_sliding_evicted(void **state)
{
    (void)state;
    /* W = 32: a hit at 16k needs sliding entries window_start(16k) .. k-1, two of them. */
    struct kv_manager *m = new_manager(64, 8, 32, true);
    uint32_t a_tokens[100], b_tokens[48];
    fill_tokens(a_tokens, 100, 11);
    fill_tokens(b_tokens, 48, 12);
    struct kv_seq a, b;
    kv_seq_init(&a);
    kv_seq_init(&b);
    /* One prefill: A holds 7 sliding blocks and, released last first, they queue as
     * [never used, e6, e5, e4, e3, e2, e1, e0]. */
    run_prompt(m, &a, a_tokens, 100, 100);
    kv_manager_release(m, &a);

    /* B takes three sliding blocks: the unused one, e6 (never cached) and e5. */
    assert_true(kv_manager_allocate(m, &b, 0, 48));
    /* Full blocks 0..5 are all cached, but entry 5 is gone: k = 6 fails, and so does every k
     * whose window contains 5. k = 5 needs entries 3 and 4, which survive. */
    assert_int_equal(kv_manager_match_prefix(m, &a, a_tokens, 100), 80);
    assert_int_equal(a.n_entries, 5);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(a.tables[KV_GROUP_SLIDING][i], KV_BLOCK_NONE);
    for (uint32_t i = 3; i < 5; i++)
        assert_int_not_equal(a.tables[KV_GROUP_SLIDING][i], KV_BLOCK_NONE);
    for (uint32_t i = 0; i < 5; i++)
        assert_int_not_equal(a.tables[KV_GROUP_FULL][i], KV_BLOCK_NONE);
    struct kv_seq *seqs[] = {&a, &b};
    check_refs(m, seqs, 2);
    /* A computes on from 80 as usual. */
    assert_true(kv_manager_allocate(m, &a, 80, 20));
    check_refs(m, seqs, 2);
    kv_manager_release(m, &a);

    /* B grows to 128 tokens: its entry 0 leaves the window, and it takes five more blocks,
     * which evicts every sliding block A left. The full group still has all of A's prefix,
     * but no window before it survives, so nothing is a hit. */
    assert_true(kv_manager_allocate(m, &b, 48, 80));
    assert_int_equal(kv_manager_match_prefix(m, &a, a_tokens, 100), 0);
    assert_int_equal(a.n_entries, 0);
    check_refs(m, seqs, 2);
    kv_manager_release(m, &a);
    kv_manager_release(m, &b);
    kv_seq_deinit(&a);
    kv_seq_deinit(&b);
    kv_manager_destroy(m);
}

static void test_lru_eviction(void **state)
{
    (void)state;
    struct kv_manager *m = new_manager(8, 0, 0, true);
    uint32_t a_tokens[33], b_tokens[33];
    fill_tokens(a_tokens, 33, 21);
    fill_tokens(b_tokens, 33, 22);
    struct kv_seq a, b, c;
    kv_seq_init(&a);
    kv_seq_init(&b);
    kv_seq_init(&c);
    run_prompt(m, &a, a_tokens, 33, 64);
    run_prompt(m, &b, b_tokens, 33, 64);
    uint32_t a0 = a.tables[KV_GROUP_FULL][0], a1 = a.tables[KV_GROUP_FULL][1];
    assert_true(kv_manager_block_cached(m, KV_GROUP_FULL, a0));
    assert_true(kv_manager_block_cached(m, KV_GROUP_FULL, a1));
    assert_int_equal(a.tables[KV_GROUP_SLIDING][0], KV_BLOCK_NONE);
    kv_manager_release(m, &a);
    kv_manager_release(m, &b);
    /* Free: [2 unused, a2, a1, a0, b2, b1, b0]. C takes the four oldest: A's block 1 goes. */
    assert_true(kv_manager_allocate(m, &c, 0, 64));
    assert_false(kv_manager_block_cached(m, KV_GROUP_FULL, a1));
    assert_true(kv_manager_block_cached(m, KV_GROUP_FULL, a0));
    assert_int_equal(kv_manager_match_prefix(m, &a, a_tokens, 33), 16);
    assert_int_equal(kv_manager_match_prefix(m, &b, b_tokens, 33), 32);
    struct kv_seq *seqs[] = {&a, &b, &c};
    check_refs(m, seqs, 3);
    /* Released again, A before B before C: free is [b2, a0, b1, b0, C's four]. b2 was never
     * cached, so the second block D takes evicts A's prefix while B's stays whole. */
    kv_manager_release(m, &a);
    kv_manager_release(m, &b);
    kv_manager_release(m, &c);
    struct kv_seq d;
    kv_seq_init(&d);
    assert_true(kv_manager_allocate(m, &d, 0, 32));
    assert_int_equal(kv_manager_match_prefix(m, &a, a_tokens, 33), 0);
    assert_int_equal(kv_manager_match_prefix(m, &b, b_tokens, 33), 32);
    kv_manager_release(m, &a);
    kv_manager_release(m, &b);
    kv_manager_release(m, &d);
    assert_int_equal(n_free(m, KV_GROUP_FULL), 8);

    /* reset_prefix_cache forgets every free block. */
    kv_manager_reset_prefix_cache(m);
    kv_manager_check(m);
    assert_int_equal(kv_manager_match_prefix(m, &a, a_tokens, 33), 0);
    kv_seq_deinit(&a);
    kv_seq_deinit(&b);
    kv_seq_deinit(&c);
    kv_seq_deinit(&d);
    kv_manager_destroy(m);
}

static void test_shared_blocks(void **state)
{
    (void)state;
    struct kv_manager *m = new_manager(32, 32, 128, true);
    uint32_t tokens[80];
    fill_tokens(tokens, 80, 31);
    struct kv_seq a, b;
    kv_seq_init(&a);
    kv_seq_init(&b);
    run_prompt(m, &a, tokens, 80, 32);
    uint32_t free_after_a = n_free(m, KV_GROUP_FULL);
    /* B shares A's four full blocks while A still runs. */
    assert_int_equal(kv_manager_match_prefix(m, &b, tokens, 80), 64);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(b.tables[KV_GROUP_FULL][i], a.tables[KV_GROUP_FULL][i]);
        assert_int_equal(kv_manager_block_refs(m, KV_GROUP_FULL, a.tables[KV_GROUP_FULL][i]), 2);
        assert_int_equal(b.tables[KV_GROUP_SLIDING][i], a.tables[KV_GROUP_SLIDING][i]);
    }
    assert_int_equal(n_free(m, KV_GROUP_FULL), free_after_a);
    /* B's own last block is new, not A's partial one. */
    assert_true(kv_manager_allocate(m, &b, 64, 16));
    assert_int_not_equal(b.tables[KV_GROUP_FULL][4], a.tables[KV_GROUP_FULL][4]);
    /* A finishing keeps the shared blocks in use. */
    kv_manager_release(m, &a);
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(kv_manager_block_refs(m, KV_GROUP_FULL, b.tables[KV_GROUP_FULL][i]), 1);
    assert_int_equal(n_free(m, KV_GROUP_FULL), 32 - 5);
    /* B computing A's last block again publishes nothing new: A's copy is already cached. */
    kv_manager_commit(m, &b, tokens, 80);
    assert_false(kv_manager_block_cached(m, KV_GROUP_FULL, b.tables[KV_GROUP_FULL][4]));
    struct kv_seq *seqs[] = {&a, &b};
    check_refs(m, seqs, 2);
    kv_manager_release(m, &b);
    assert_int_equal(n_free(m, KV_GROUP_FULL), 32);
    assert_int_equal(n_free(m, KV_GROUP_SLIDING), 32);
    kv_seq_deinit(&a);
    kv_seq_deinit(&b);
    kv_manager_destroy(m);
}

static void test_caching_off(void **state)
{
    (void)state;
    struct kv_manager *m = new_manager(32, 32, 128, false);
    uint32_t tokens[80];
    fill_tokens(tokens, 80, 41);
    struct kv_seq seq;
    kv_seq_init(&seq);
    assert_int_equal(run_prompt(m, &seq, tokens, 80, 80), 0);
    assert_false(kv_manager_block_cached(m, KV_GROUP_FULL, seq.tables[KV_GROUP_FULL][0]));
    kv_manager_release(m, &seq);
    assert_int_equal(kv_manager_match_prefix(m, &seq, tokens, 80), 0);
    assert_int_equal(seq.n_entries, 0);
    struct kv_stats stats;
    kv_manager_stats(m, &stats);
    assert_int_equal(stats.prefix_hits, 0);
    kv_manager_check(m);
    kv_seq_deinit(&seq);
    kv_manager_destroy(m);
}

/* ---- Random stress ------------------------------------------------------------------------ */

#define STRESS_SEQS    12
#define STRESS_MAX_LEN 400

struct stress_seq {
    struct kv_seq kv;
    uint32_t tokens[STRESS_MAX_LEN];
    uint32_t len;      /* tokens the sequence will have in all */
    uint32_t computed; /* tokens in the cache */
    bool active;
};

/* The simulated cache: content[g][slot] is the token whose keys sit in that slot. */
struct stress_cache {
    uint32_t *content[KV_N_GROUPS];
    uint32_t window;
};

/* The first query to compute (at position `pos`) must find its keys: the whole prefix in the
 * full group, the last W positions in the sliding group. */
static void stress_check_visible(const struct kv_manager *m, const struct stress_cache *cache,
                                 const struct stress_seq *s, uint32_t pos)
{
    struct kv_stats stats;
    kv_manager_stats(m, &stats);
    for (int g = 0; g < KV_N_GROUPS; g++) {
        if (stats.n_blocks[g] == 0)
            continue;
        uint32_t lo =
            g == KV_GROUP_SLIDING && pos + 1 > cache->window ? pos + 1 - cache->window : 0;
        for (uint32_t p = lo; p < pos; p++) {
            uint32_t id = s->kv.tables[g][p / B];
            assert_int_not_equal(id, KV_BLOCK_NONE);
            assert_int_equal(cache->content[g][id * B + p % B], s->tokens[p]);
        }
    }
}

/* The "forward pass": writes keys for [from, to), only ever into private, unpublished blocks. */
static void stress_write(const struct kv_manager *m, struct stress_cache *cache,
                         const struct stress_seq *s, uint32_t from, uint32_t to)
{
    struct kv_stats stats;
    kv_manager_stats(m, &stats);
    for (int g = 0; g < KV_N_GROUPS; g++) {
        if (stats.n_blocks[g] == 0)
            continue;
        for (uint32_t p = from; p < to; p++) {
            uint32_t id = s->kv.tables[g][p / B];
            assert_int_not_equal(id, KV_BLOCK_NONE);
            assert_int_equal(kv_manager_block_refs(m, (enum kv_group)g, id), 1);
            assert_false(kv_manager_block_cached(m, (enum kv_group)g, id));
            cache->content[g][id * B + p % B] = s->tokens[p];
        }
    }
}

static void stress_run(uint32_t n_full, uint32_t n_sliding, uint32_t window, uint64_t seed)
{
    struct kv_manager *m = new_manager(n_full, n_sliding, window, true);
    struct stress_cache cache = {.window = window};
    cache.content[KV_GROUP_FULL] = calloc((size_t)n_full * B + 1, sizeof(uint32_t));
    cache.content[KV_GROUP_SLIDING] = calloc((size_t)n_sliding * B + 1, sizeof(uint32_t));
    struct stress_seq *seqs = calloc(STRESS_SEQS, sizeof(*seqs));
    assert_non_null(seqs);
    struct kv_seq *tables[STRESS_SEQS];
    for (int i = 0; i < STRESS_SEQS; i++) {
        kv_seq_init(&seqs[i].kv);
        tables[i] = &seqs[i].kv;
    }
    /* A few shared system prompts so that prefixes repeat. */
    uint32_t prompts[4][STRESS_MAX_LEN];
    uint64_t rng = seed;
    for (int p = 0; p < 4; p++)
        for (int i = 0; i < STRESS_MAX_LEN; i++)
            prompts[p][i] = (uint32_t)(rand_splitmix64(&rng) % 50);

    uint32_t n_hits = 0, n_preempted = 0;
    for (int iter = 0; iter < 4000; iter++) {
        struct stress_seq *s = &seqs[rand_splitmix64(&rng) % STRESS_SEQS];
        uint32_t action = (uint32_t)(rand_splitmix64(&rng) % 10);
        if (!s->active) {
            /* Start: a shared prompt's prefix, then random tokens. */
            s->len = 1 + (uint32_t)(rand_splitmix64(&rng) % STRESS_MAX_LEN);
            uint32_t shared = (uint32_t)(rand_splitmix64(&rng) % (s->len + 1));
            const uint32_t *prompt = prompts[rand_splitmix64(&rng) % 4];
            for (uint32_t i = 0; i < s->len; i++)
                s->tokens[i] = i < shared ? prompt[i] : (uint32_t)(rand_splitmix64(&rng) % 50);
            s->computed = kv_manager_match_prefix(m, &s->kv, s->tokens, s->len);
            assert_true(s->computed % B == 0 && s->computed < s->len);
            n_hits += s->computed > 0;
            s->active = true;
        } else if (action == 0 || s->computed == s->len) {
            kv_manager_release(m, &s->kv);
            s->active = false;
        } else {
            uint32_t left = s->len - s->computed;
            uint32_t step = 1 + (uint32_t)(rand_splitmix64(&rng) % (action < 5 ? 1 : 64));
            if (step > left)
                step = left;
            if (!kv_manager_allocate(m, &s->kv, s->computed, step)) {
                /* Preempt: this sequence gives everything back and starts over later. */
                kv_manager_release(m, &s->kv);
                s->active = false;
                n_preempted++;
            } else {
                stress_check_visible(m, &cache, s, s->computed);
                stress_write(m, &cache, s, s->computed, s->computed + step);
                s->computed += step;
                kv_manager_commit(m, &s->kv, s->tokens, s->computed);
            }
        }
        if (iter % 16 == 0)
            check_refs(m, tables, STRESS_SEQS);
        if (iter % 1000 == 999)
            kv_manager_reset_prefix_cache(m);
    }
    assert_true(n_hits > 0);
    (void)n_preempted;
    for (int i = 0; i < STRESS_SEQS; i++) {
        kv_manager_release(m, &seqs[i].kv);
        kv_seq_deinit(&seqs[i].kv);
    }
    check_refs(m, tables, 0);
    assert_int_equal(n_free(m, KV_GROUP_FULL), n_full);
    assert_int_equal(n_free(m, KV_GROUP_SLIDING), n_sliding);
    free(seqs);
    free(cache.content[KV_GROUP_FULL]);
    free(cache.content[KV_GROUP_SLIDING]);
    kv_manager_destroy(m);
}

static void test_stress(void **state)
{
    (void)state;
    stress_run(120, 60, 48, 1);   /* both pools tight */
    stress_run(400, 400, 128, 2); /* roomy */
    stress_run(100, 0, 0, 3);     /* full attention only */
    stress_run(0, 40, 32, 4);     /* sliding only */
    stress_run(60, 200, 16, 5);   /* window of one block */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_invalid),
        cmocka_unit_test(test_allocate_and_release),
        cmocka_unit_test(test_allocate_atomic),
        cmocka_unit_test(test_sliding_window),
        cmocka_unit_test(test_prefix_hit_same_prompt),
        cmocka_unit_test(test_prefix_multi_turn),
        cmocka_unit_test(test_prefix_sliding_evicted),
        cmocka_unit_test(test_lru_eviction),
        cmocka_unit_test(test_shared_blocks),
        cmocka_unit_test(test_caching_off),
        cmocka_unit_test(test_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
