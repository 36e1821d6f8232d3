/* kv.c — the KV block manager: two block pools with refcounts, an LRU free list and a
 * hash → block map each, and the per-sequence block tables built on them.
 *
 * The design follows vLLM's KV cache manager. A block with no reference sits on its pool's free
 * list; if it still carries a prefix hash it stays findable there, so "free" and "cached" are not
 * exclusive. Allocation pops the head of the list (the block released longest ago) and only then
 * forgets its hash, which makes the free list the eviction order of the prefix cache as well.
 * A sequence's blocks go back to the tail last block first: a later prompt can only reuse a
 * block if it also reuses every block before it, so the start of a prefix is worth keeping
 * longest.
 *
 * Every operation costs O(1) per block it touches: the list is intrusive and doubly linked (a
 * prefix hit unlinks a cached block from the middle), and the map is open addressing with linear
 * probing and backward-shift deletion, sized to twice the pool so probes stay short. Its slots
 * hold block ids only; the key is read from the block, which keeps a slot at four bytes.
 */
#include "kv/kv.h"
#include "kv/kv_internal.h"

#include "base/error.h"
#include "base/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Parent hash of a sequence's first block. Any fixed value works; a nonzero one keeps the
 * first block's seed from coinciding with XXH3's default. */
#define KV_HASH_ROOT 0x9e3779b97f4a7c15ull

/* Bytes hashed per block: its 16 token ids. */
#define KV_BLOCK_BYTES (KV_BLOCK_SIZE * sizeof(uint32_t))

/* Largest pool: the map has a power-of-two size of at least twice the pool in 32-bit slots,
 * and KV_BLOCK_NONE must stay out of the id range. */
#define KV_MAX_BLOCKS (1u << 30)

struct kv_block {
    uint64_t hash;   /* valid while cached */
    uint32_t n_refs; /* sequences whose tables hold this block */
    uint32_t prev;   /* free list neighbours, KV_BLOCK_NONE at the ends; unused while n_refs > 0 */
    uint32_t next;
    bool cached; /* hash is set and the map points here */
};

struct kv_pool {
    uint32_t n_blocks;
    uint32_t n_free;
    struct kv_block *blocks; /* [n_blocks] */
    /* Free list: head is the least recently released block, the next to be reused. */
    uint32_t head;
    uint32_t tail;
    /* Hash map, [map_mask + 1] block ids or KV_BLOCK_NONE; NULL when caching is off or the pool
     * is empty. */
    uint32_t *map;
    uint32_t map_mask;
};

struct kv_manager {
    struct kv_pool pools[KV_N_GROUPS];
    uint32_t sliding_window;
    bool prefix_caching;
    uint64_t prefix_queries;
    uint64_t prefix_hits;
};

/* ---- Free list -------------------------------------------------------------------------- */

static void kv_pool_list_push_tail(struct kv_pool *pool, uint32_t id)
{
    struct kv_block *b = &pool->blocks[id];
    b->prev = pool->tail;
    b->next = KV_BLOCK_NONE;
    if (pool->tail != KV_BLOCK_NONE)
        pool->blocks[pool->tail].next = id;
    else
        pool->head = id;
    pool->tail = id;
    pool->n_free++;
}

static void kv_pool_list_remove(struct kv_pool *pool, uint32_t id)
{
    struct kv_block *b = &pool->blocks[id];
    if (b->prev != KV_BLOCK_NONE)
        pool->blocks[b->prev].next = b->next;
    else
        pool->head = b->next;
    if (b->next != KV_BLOCK_NONE)
        pool->blocks[b->next].prev = b->prev;
    else
        pool->tail = b->prev;
    b->prev = b->next = KV_BLOCK_NONE;
    pool->n_free--;
}

/* ---- Hash map --------------------------------------------------------------------------- */

/* The keys are XXH3 outputs, already uniform, so their low bits index the table directly. */
static uint32_t kv_pool_map_home(const struct kv_pool *pool, uint64_t hash)
{
    return (uint32_t)hash & pool->map_mask;
}

static uint32_t kv_pool_map_find(const struct kv_pool *pool, uint64_t hash)
{
    for (uint32_t i = kv_pool_map_home(pool, hash);; i = (i + 1) & pool->map_mask) {
        uint32_t id = pool->map[i];
        if (id == KV_BLOCK_NONE || pool->blocks[id].hash == hash)
            return id;
    }
}

static void kv_pool_map_insert(struct kv_pool *pool, uint32_t id)
{
    uint32_t i = kv_pool_map_home(pool, pool->blocks[id].hash);
    while (pool->map[i] != KV_BLOCK_NONE)
        i = (i + 1) & pool->map_mask;
    pool->map[i] = id;
}

/* Removes block `id`'s entry, then pulls later entries of the same probe run back into the hole
 * so that no lookup stops early at it (no tombstones, so the load never creeps up). */
static void kv_pool_map_remove(struct kv_pool *pool, uint32_t id)
{
    uint32_t mask = pool->map_mask;
    uint32_t hole = kv_pool_map_home(pool, pool->blocks[id].hash);
    while (pool->map[hole] != id) {
        GPTOSS_ASSERT(pool->map[hole] != KV_BLOCK_NONE);
        hole = (hole + 1) & mask;
    }
    for (uint32_t j = (hole + 1) & mask; pool->map[j] != KV_BLOCK_NONE; j = (j + 1) & mask) {
        uint32_t home = kv_pool_map_home(pool, pool->blocks[pool->map[j]].hash);
        /* The entry at j may move into the hole unless its home lies after the hole (cyclically,
         * in (hole, j]), where a lookup would never pass the hole to find it. */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            pool->map[hole] = pool->map[j];
            hole = j;
        }
    }
    pool->map[hole] = KV_BLOCK_NONE;
}

/* ---- Blocks ----------------------------------------------------------------------------- */

/* Takes the least recently released block for new contents, evicting its cached prefix. The
 * caller has checked that one is free. */
static uint32_t kv_pool_take(struct kv_pool *pool)
{
    uint32_t id = pool->head;
    GPTOSS_ASSERT(id != KV_BLOCK_NONE);
    kv_pool_list_remove(pool, id);
    struct kv_block *b = &pool->blocks[id];
    if (b->cached) {
        kv_pool_map_remove(pool, id);
        b->cached = false;
    }
    b->n_refs = 1;
    return id;
}

/* Another reference to a block found by hash; a free one leaves the list but keeps its hash. */
static void kv_pool_ref(struct kv_pool *pool, uint32_t id)
{
    if (pool->blocks[id].n_refs++ == 0)
        kv_pool_list_remove(pool, id);
}

static void kv_pool_unref(struct kv_pool *pool, uint32_t id)
{
    struct kv_block *b = &pool->blocks[id];
    GPTOSS_ASSERT(b->n_refs > 0);
    if (--b->n_refs == 0)
        kv_pool_list_push_tail(pool, id);
}

/* Makes a just-filled block findable under `hash`, unless another block already holds that
 * prefix (two sequences computed it at once): the first stays, ours remains private. */
static void kv_pool_publish(struct kv_pool *pool, uint32_t id, uint64_t hash)
{
    struct kv_block *b = &pool->blocks[id];
    if (b->cached || kv_pool_map_find(pool, hash) != KV_BLOCK_NONE)
        return;
    b->hash = hash;
    b->cached = true;
    kv_pool_map_insert(pool, id);
}

static uint32_t kv_pool_find(const struct kv_pool *pool, uint64_t hash)
{
    return pool->map ? kv_pool_map_find(pool, hash) : KV_BLOCK_NONE;
}

static enum gptoss_status kv_pool_init(struct kv_pool *pool, uint32_t n_blocks, bool with_map)
{
    memset(pool, 0, sizeof(*pool));
    pool->head = pool->tail = KV_BLOCK_NONE;
    if (n_blocks == 0)
        return GPTOSS_OK;
    pool->blocks = malloc((size_t)n_blocks * sizeof(*pool->blocks));
    if (!pool->blocks)
        return error_set(GPTOSS_ERR_NOMEM, "kv: cannot allocate %u block descriptors", n_blocks);
    pool->n_blocks = n_blocks;
    for (uint32_t i = 0; i < n_blocks; i++) {
        pool->blocks[i] = (struct kv_block){.n_refs = 0, .cached = false};
        kv_pool_list_push_tail(pool, i);
    }
    if (with_map) {
        size_t size = 2;
        while (size < 2 * (size_t)n_blocks)
            size *= 2;
        pool->map = malloc(size * sizeof(*pool->map));
        if (!pool->map)
            return error_set(GPTOSS_ERR_NOMEM, "kv: cannot allocate a %zu-slot prefix map", size);
        memset(pool->map, 0xff, size * sizeof(*pool->map)); /* all KV_BLOCK_NONE */
        pool->map_mask = (uint32_t)(size - 1);
    }
    return GPTOSS_OK;
}

static void kv_pool_deinit(struct kv_pool *pool)
{
    free(pool->blocks);
    free(pool->map);
    memset(pool, 0, sizeof(*pool));
}

/* ---- Sequences -------------------------------------------------------------------------- */

void kv_seq_init(struct kv_seq *seq)
{
    memset(seq, 0, sizeof(*seq));
}

void kv_seq_deinit(struct kv_seq *seq)
{
    for (int g = 0; g < KV_N_GROUPS; g++)
        free(seq->tables[g]);
    free(seq->hashes);
    memset(seq, 0, sizeof(*seq));
}

static void kv_seq_reserve(struct kv_seq *seq, uint32_t need)
{
    if (need <= seq->cap)
        return;
    /* Doubling keeps a token-by-token decode at amortised O(1) reallocations. */
    uint64_t cap = seq->cap ? 2 * (uint64_t)seq->cap : 16;
    if (cap < need)
        cap = need;
    if (cap > UINT32_MAX)
        cap = UINT32_MAX;
    for (int g = 0; g < KV_N_GROUPS; g++)
        seq->tables[g] = xrealloc(seq->tables[g], (size_t)cap * sizeof(*seq->tables[g]));
    seq->hashes = xrealloc(seq->hashes, (size_t)cap * sizeof(*seq->hashes));
    seq->cap = (uint32_t)cap;
}

/* ---- Manager ---------------------------------------------------------------------------- */

enum gptoss_status kv_manager_create(const struct kv_manager_config *config,
                                     struct kv_manager **manager_out)
{
    *manager_out = NULL;
    for (int g = 0; g < KV_N_GROUPS; g++)
        if (config->n_blocks[g] > KV_MAX_BLOCKS)
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "kv: %u blocks in one pool (max %u)",
                             config->n_blocks[g], KV_MAX_BLOCKS);
    if (config->n_blocks[KV_GROUP_SLIDING] > 0 && config->sliding_window == 0)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "kv: sliding blocks without a window");

    struct kv_manager *m = xcalloc(1, sizeof(*m));
    m->sliding_window = config->sliding_window;
    m->prefix_caching = config->prefix_caching;
    for (int g = 0; g < KV_N_GROUPS; g++) {
        enum gptoss_status st =
            kv_pool_init(&m->pools[g], config->n_blocks[g], config->prefix_caching);
        if (st != GPTOSS_OK) {
            kv_manager_destroy(m);
            return st;
        }
    }
    *manager_out = m;
    return GPTOSS_OK;
}

void kv_manager_destroy(struct kv_manager *m)
{
    if (!m)
        return;
    for (int g = 0; g < KV_N_GROUPS; g++)
        kv_pool_deinit(&m->pools[g]);
    free(m);
}

/* First block-table entry the query at position `pos` still reads in the sliding group: the
 * one holding key pos - W + 1. Every earlier entry lies wholly outside the window. */
static uint32_t kv_manager_window_start(const struct kv_manager *m, uint32_t pos)
{
    uint64_t first_key_plus_w = (uint64_t)pos + 1;
    if (first_key_plus_w <= m->sliding_window)
        return 0;
    return (uint32_t)((first_key_plus_w - m->sliding_window) / KV_BLOCK_SIZE);
}

static uint64_t kv_manager_hash_block(const uint32_t *tokens, uint64_t parent)
{
    return XXH3_64bits_withSeed(tokens, KV_BLOCK_BYTES, parent);
}

uint32_t kv_manager_match_prefix(struct kv_manager *m, struct kv_seq *seq, const uint32_t *tokens,
                                 uint32_t n)
{
    if (!m->prefix_caching)
        return 0;
    GPTOSS_ASSERT(seq->n_entries == 0);
    m->prefix_queries += n;
    struct kv_pool *full = &m->pools[KV_GROUP_FULL];
    struct kv_pool *sliding = &m->pools[KV_GROUP_SLIDING];
    /* With no pool at all nothing was ever cached, so nothing can be reused. */
    if (n == 0 || (full->n_blocks == 0 && sliding->n_blocks == 0))
        return 0;

    /* At least one token must be left to compute, to produce the logits of the next one. */
    uint32_t max_k = (n - 1) / KV_BLOCK_SIZE;
    kv_seq_reserve(seq, max_k);

    /* The full group needs every block of the prefix: hash until its first miss. */
    uint32_t k = 0;
    uint64_t parent = KV_HASH_ROOT;
    while (k < max_k) {
        uint64_t hash = kv_manager_hash_block(tokens + (size_t)k * KV_BLOCK_SIZE, parent);
        if (full->n_blocks > 0 && kv_pool_find(full, hash) == KV_BLOCK_NONE)
            break;
        seq->hashes[k++] = hash;
        parent = hash;
    }

    /* The sliding group needs only the window before the hit, [window_start(16k), k). Walk it
     * downwards; a miss at entry j rules out every k whose window contains j, so the next
     * candidate is k = j, whose window lies wholly below the entries already checked. Each
     * entry is looked up at most once. */
    if (sliding->n_blocks > 0) {
        uint32_t checked = k; /* entries [checked, k) are cached */
        while (k > 0) {
            uint32_t lo = kv_manager_window_start(m, k * KV_BLOCK_SIZE);
            while (checked > lo && kv_pool_find(sliding, seq->hashes[checked - 1]) != KV_BLOCK_NONE)
                checked--;
            if (checked <= lo)
                break;
            k = checked - 1;
            checked = k;
        }
    }

    uint32_t lo = sliding->n_blocks > 0 ? kv_manager_window_start(m, k * KV_BLOCK_SIZE) : k;
    for (uint32_t i = 0; i < k; i++) {
        uint32_t id = KV_BLOCK_NONE;
        if (full->n_blocks > 0) {
            id = kv_pool_find(full, seq->hashes[i]);
            GPTOSS_ASSERT(id != KV_BLOCK_NONE);
            kv_pool_ref(full, id);
        }
        seq->tables[KV_GROUP_FULL][i] = id;
        id = KV_BLOCK_NONE;
        if (i >= lo) {
            id = kv_pool_find(sliding, seq->hashes[i]);
            GPTOSS_ASSERT(id != KV_BLOCK_NONE);
            kv_pool_ref(sliding, id);
        }
        seq->tables[KV_GROUP_SLIDING][i] = id;
    }
    seq->n_entries = k;
    seq->n_hashed = k;
    m->prefix_hits += (uint64_t)k * KV_BLOCK_SIZE;
    return k * KV_BLOCK_SIZE;
}

bool kv_manager_allocate(struct kv_manager *m, struct kv_seq *seq, uint32_t n_computed,
                         uint32_t n_new)
{
    struct kv_pool *full = &m->pools[KV_GROUP_FULL];
    struct kv_pool *sliding = &m->pools[KV_GROUP_SLIDING];
    uint64_t want = ((uint64_t)n_computed + n_new + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE;
    uint32_t n_old = seq->n_entries;
    uint32_t n_end = want > n_old ? (uint32_t)want : n_old;
    uint32_t need_full = full->n_blocks > 0 ? n_end - n_old : 0;

    /* Sliding entries before `drop_end` lie outside the window of the first new query. The
     * table is KV_BLOCK_NONE on a prefix and held after it, so among the existing entries the
     * ones still to drop are the run [drop_from, drop_to) that ends at min(drop_end, n_old),
     * found by walking back to the first NONE: O(blocks dropped), not O(sequence). */
    uint32_t drop_end = 0, drop_from = 0, drop_to = 0, need_sliding = 0, freed_sliding = 0;
    if (sliding->n_blocks > 0) {
        const uint32_t *table = seq->tables[KV_GROUP_SLIDING];
        drop_end = kv_manager_window_start(m, n_computed);
        if (drop_end > n_end)
            drop_end = n_end;
        /* A kept entry that is already NONE would mean keys the query reads are gone
         * (n_computed went backwards without a release): a caller bug. */
        if (drop_end < n_old)
            GPTOSS_ASSERT(table[drop_end] != KV_BLOCK_NONE);
        drop_to = drop_end < n_old ? drop_end : n_old;
        drop_from = drop_to;
        while (drop_from > 0 && table[drop_from - 1] != KV_BLOCK_NONE) {
            drop_from--;
            if (sliding->blocks[table[drop_from]].n_refs == 1)
                freed_sliding++;
        }
        need_sliding = n_end - (drop_end > n_old ? drop_end : n_old);
    }
    /* Blocks the window releases count as available: they are released before the new ones
     * are taken, so a long decode can run in a sliding pool of about W/16 + 1 blocks. */
    if (need_full > full->n_free || need_sliding > sliding->n_free + freed_sliding)
        return false;

    kv_seq_reserve(seq, n_end);
    uint32_t *full_table = seq->tables[KV_GROUP_FULL];
    uint32_t *sliding_table = seq->tables[KV_GROUP_SLIDING];
    /* Oldest first, so the start of the window is also the first to be evicted. */
    for (uint32_t i = drop_from; i < drop_to; i++) {
        kv_pool_unref(sliding, sliding_table[i]);
        sliding_table[i] = KV_BLOCK_NONE;
    }
    for (uint32_t i = n_old; i < n_end; i++) {
        full_table[i] = full->n_blocks > 0 ? kv_pool_take(full) : KV_BLOCK_NONE;
        sliding_table[i] =
            sliding->n_blocks > 0 && i >= drop_end ? kv_pool_take(sliding) : KV_BLOCK_NONE;
    }
    seq->n_entries = n_end;
    return true;
}

void kv_manager_commit(struct kv_manager *m, struct kv_seq *seq, const uint32_t *tokens,
                       uint32_t n_computed)
{
    if (!m->prefix_caching)
        return;
    uint32_t n_full = n_computed / KV_BLOCK_SIZE;
    GPTOSS_ASSERT(n_full <= seq->n_entries);
    for (uint32_t b = seq->n_hashed; b < n_full; b++) {
        uint64_t parent = b > 0 ? seq->hashes[b - 1] : KV_HASH_ROOT;
        uint64_t hash = kv_manager_hash_block(tokens + (size_t)b * KV_BLOCK_SIZE, parent);
        seq->hashes[b] = hash;
        for (int g = 0; g < KV_N_GROUPS; g++) {
            uint32_t id = seq->tables[g][b];
            if (id != KV_BLOCK_NONE)
                kv_pool_publish(&m->pools[g], id, hash);
        }
    }
    if (n_full > seq->n_hashed)
        seq->n_hashed = n_full;
}

void kv_manager_release(struct kv_manager *m, struct kv_seq *seq)
{
    for (int g = 0; g < KV_N_GROUPS; g++) {
        uint32_t *table = seq->tables[g];
        /* Last block first: the tail of the free list is evicted last, and a prefix's first
         * blocks are the ones any later reuse of it needs. */
        for (uint32_t i = seq->n_entries; i-- > 0;) {
            if (table[i] != KV_BLOCK_NONE) {
                kv_pool_unref(&m->pools[g], table[i]);
                table[i] = KV_BLOCK_NONE;
            }
        }
    }
    seq->n_entries = 0;
    seq->n_hashed = 0;
}

void kv_manager_stats(const struct kv_manager *m, struct kv_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    for (int g = 0; g < KV_N_GROUPS; g++) {
        stats->n_blocks[g] = m->pools[g].n_blocks;
        stats->n_free[g] = m->pools[g].n_free;
    }
    stats->prefix_queries = m->prefix_queries;
    stats->prefix_hits = m->prefix_hits;
}

void kv_manager_reset_prefix_cache(struct kv_manager *m)
{
    /* Blocks in use keep their hashes: they are still valid and a sequence holds them. */
    for (int g = 0; g < KV_N_GROUPS; g++) {
        struct kv_pool *pool = &m->pools[g];
        for (uint32_t id = pool->head; id != KV_BLOCK_NONE; id = pool->blocks[id].next) {
            if (pool->blocks[id].cached) {
                kv_pool_map_remove(pool, id);
                pool->blocks[id].cached = false;
            }
        }
    }
}

/* ---- Inspection (kv_internal.h) --------------------------------------------------------- */

uint32_t kv_manager_block_refs(const struct kv_manager *m, enum kv_group group, uint32_t block)
{
    GPTOSS_ASSERT(block < m->pools[group].n_blocks);
    return m->pools[group].blocks[block].n_refs;
}

bool kv_manager_block_cached(const struct kv_manager *m, enum kv_group group, uint32_t block)
{
    GPTOSS_ASSERT(block < m->pools[group].n_blocks);
    return m->pools[group].blocks[block].cached;
}

void kv_manager_check(const struct kv_manager *m)
{
    for (int g = 0; g < KV_N_GROUPS; g++) {
        const struct kv_pool *pool = &m->pools[g];
        /* The list, both ways, holds exactly the unreferenced blocks. */
        uint32_t n_listed = 0, prev = KV_BLOCK_NONE;
        for (uint32_t id = pool->head; id != KV_BLOCK_NONE; id = pool->blocks[id].next) {
            GPTOSS_ASSERT(id < pool->n_blocks);
            GPTOSS_ASSERT(pool->blocks[id].n_refs == 0);
            GPTOSS_ASSERT(pool->blocks[id].prev == prev);
            GPTOSS_ASSERT(n_listed < pool->n_blocks);
            prev = id;
            n_listed++;
        }
        GPTOSS_ASSERT(pool->tail == prev);
        GPTOSS_ASSERT(n_listed == pool->n_free);
        uint32_t n_unreferenced = 0, n_cached = 0;
        for (uint32_t id = 0; id < pool->n_blocks; id++) {
            n_unreferenced += pool->blocks[id].n_refs == 0;
            if (pool->blocks[id].cached) {
                GPTOSS_ASSERT(pool->map != NULL);
                GPTOSS_ASSERT(kv_pool_map_find(pool, pool->blocks[id].hash) == id);
                n_cached++;
            }
        }
        GPTOSS_ASSERT(n_unreferenced == pool->n_free);
        if (!pool->map) {
            GPTOSS_ASSERT(n_cached == 0);
            continue;
        }
        uint32_t n_mapped = 0;
        for (uint32_t i = 0; i <= pool->map_mask; i++) {
            uint32_t id = pool->map[i];
            if (id == KV_BLOCK_NONE)
                continue;
            GPTOSS_ASSERT(id < pool->n_blocks && pool->blocks[id].cached);
            n_mapped++;
        }
        GPTOSS_ASSERT(n_mapped == n_cached);
    }
}
