/* kv.h — bookkeeping of the paged KV cache: which block belongs to whom, refcounts, the free
 * list, and prefix caching. The memory itself belongs to model/ (model_kv_alloc); this layer
 * only hands out block ids.
 *
 * There are two pools, one per KV group (batch.h): full-attention layers and sliding-window
 * layers. A sequence has one block table per group with the same indexing (entry i holds
 * positions 16i..16i+15). In the sliding group, entries whose block lies wholly before the
 * window of the next position to compute are released (set to KV_BLOCK_NONE), so a long
 * sequence holds only about W/16 + 1 sliding blocks.
 *
 * Prefix caching: when a block becomes full, it is hashed from its parent's hash and its 16
 * token ids (XXH3-64) and entered in that group's hash table. A released block keeps its hash
 * and sits on the free list in LRU order until it is reused for something else, so a later
 * sequence with the same prefix can take it back. A prefix hit needs every full-group block of
 * the prefix, and the sliding-group blocks that cover the last W positions before the hit.
 *
 *     positions:  0 ........ 15 | 16 ....... 31 | 32 .. 40 (computing)
 *     full:       [block 7]       [block 2]       [block 9]
 *     sliding:    NONE            [block 4]       [block 1]      (W = 16 here)
 */
#ifndef GPTOSS_KV_H
#define GPTOSS_KV_H

#include "gptoss.h"
#include "model/batch.h"

#include <stdbool.h>
#include <stdint.h>

struct kv_manager;

struct kv_manager_config {
    uint32_t n_blocks[KV_N_GROUPS]; /* pool sizes (a group may have 0 blocks if no layer uses it) */
    uint32_t sliding_window;        /* W, keys per query including itself */
    bool prefix_caching;
};

/* One sequence's blocks. Embedded in the engine's request; kv_seq_init() before first use. */
struct kv_seq {
    uint32_t *tables[KV_N_GROUPS]; /* [cap] block ids or KV_BLOCK_NONE */
    uint32_t n_entries;            /* entries in use (same for both groups) */
    uint32_t cap;
    uint64_t *hashes; /* [cap] hash of each full block, for the first n_hashed */
    uint32_t n_hashed;
};

void kv_seq_init(struct kv_seq *seq);
void kv_seq_deinit(struct kv_seq *seq); /* frees the arrays; blocks must be released first */

enum gptoss_status kv_manager_create(const struct kv_manager_config *config,
                                     struct kv_manager **manager_out);
void kv_manager_destroy(struct kv_manager *manager);

/* For a sequence that holds no blocks yet: finds the longest cached prefix of tokens[0..n) that
 * is a whole number of blocks and leaves at least one token to compute, takes a reference on
 * its blocks (filling seq's tables and hashes) and returns its length in tokens (0 when
 * caching is off or nothing matches). Counts a query of n tokens and a hit of the result. */
uint32_t kv_manager_match_prefix(struct kv_manager *m, struct kv_seq *seq, const uint32_t *tokens,
                                 uint32_t n);

/* Gives seq blocks for positions [0, n_computed + n_new) and, in the sliding group, releases
 * blocks wholly before position n_computed - W + 1. Returns false and changes nothing when a
 * pool lacks free blocks (the caller preempts someone and retries). */
bool kv_manager_allocate(struct kv_manager *m, struct kv_seq *seq, uint32_t n_computed,
                         uint32_t n_new);

/* After a step: tokens[0..n_computed) are in the cache. Hashes and publishes every block that
 * became full (no-op when caching is off). */
void kv_manager_commit(struct kv_manager *m, struct kv_seq *seq, const uint32_t *tokens,
                       uint32_t n_computed);

/* Releases all of seq's blocks (finish, abort or preemption); hashed ones stay reusable. */
void kv_manager_release(struct kv_manager *m, struct kv_seq *seq);

struct kv_stats {
    uint32_t n_blocks[KV_N_GROUPS];
    uint32_t n_free[KV_N_GROUPS]; /* blocks with no reference (cached or not) */
    uint64_t prefix_queries;      /* tokens looked up by kv_manager_match_prefix */
    uint64_t prefix_hits;         /* tokens found */
};

void kv_manager_stats(const struct kv_manager *m, struct kv_stats *stats);

/* Frees every cached (unreferenced) block's hash, e.g. when caching is reset. */
void kv_manager_reset_prefix_cache(struct kv_manager *m);

#endif
