/* bpe.c — byte-pair merging of one pre-token piece, and the byte-string maps it looks ranks up in.
 *
 * The merge rule is tiktoken's: start from single bytes and repeatedly merge the adjacent pair
 * whose concatenation has the lowest rank (the leftmost on ties) until no adjacent pair is a
 * token. A piece that is itself a token is emitted directly, which is what HF's
 * ignore_merges=true also does. Short pieces use a flat array scan; longer ones — runs of
 * spaces, emoji or symbols, words thousands of letters long — a min-tree, so the cost stays
 * O(n log n) where tiktoken's is O(n^2).
 */
#include "tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

#define RANK_NONE UINT32_MAX

static inline uint32_t tok_slot_id(const struct tokenizer *tok, const struct tok_slot *s)
{
    uint32_t id;
    memcpy(&id, tok->blob + s->off - 4, 4);
    return id;
}

/* ---- Hashing and maps ---------------------------------------------------------------------- */

uint64_t tok_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0x243F6A8885A308D3ull ^ ((uint64_t)len * 0x9E3779B97F4A7C15ull);
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    uint64_t v = 0;
    if (len)
        memcpy(&v, p, len);
    h = (h ^ v) * 0x94D049BB133111EBull;
    h ^= h >> 32;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    return h;
}

static inline const char *tok_key(const struct tokenizer *tok, uint32_t id, size_t *len)
{
    *len = tok->offsets[id + 1] - 4 - tok->offsets[id];
    return tok->blob + tok->offsets[id];
}

static inline uint32_t tok_tag(uint64_t h, size_t len)
{
    return (uint32_t)(h >> 40) << 8 | (uint32_t)(len < 255 ? len : 255);
}

uint32_t tok_map_find(const struct tok_map *m, const struct tokenizer *tok, const void *key,
                      size_t len)
{
    uint64_t h = tok_hash(key, len);
    uint32_t bit = (uint32_t)(h >> 20) & m->filter_mask;
    if (!(m->filter[bit / 64] >> (bit % 64) & 1))
        return UINT32_MAX;
    uint32_t tag = tok_tag(h, len);
    for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
        const struct tok_slot *s = &m->slots[i];
        if (!s->off)
            return UINT32_MAX;
        /* The tag holds the length below 255; longer keys check it before comparing. */
        if (s->tag == tag &&
            (len < 255 || tok->offsets[tok_slot_id(tok, s) + 1] - 4 - s->off == len) &&
            memcmp(tok->blob + s->off, key, len) == 0)
            return tok_slot_id(tok, s);
    }
}

enum gptoss_status tok_map_build(struct tok_map *m, const struct tokenizer *tok, uint32_t first,
                                 uint32_t last)
{
    uint32_t cap = 16;
    while (cap < 2 * (last - first) + 16)
        cap *= 2;
    m->slots = xcalloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    uint32_t bits = 1024;
    while (bits < 20 * (last - first))
        bits *= 2;
    m->filter = xcalloc(bits / 64, sizeof *m->filter);
    m->filter_mask = bits - 1;
    for (uint32_t id = first; id < last; id++) {
        size_t len;
        const char *key = tok_key(tok, id, &len);
        uint32_t dup = tok_map_find(m, tok, key, len);
        if (dup != UINT32_MAX)
            return error_set(GPTOSS_ERR_FORMAT, "tokens %u and %u have the same bytes", dup, id);
        uint64_t h = tok_hash(key, len);
        uint32_t i = (uint32_t)h & m->mask;
        while (m->slots[i].off)
            i = (i + 1) & m->mask;
        m->slots[i] = (struct tok_slot){tok->offsets[id], tok_tag(h, len)};
        uint32_t bit = (uint32_t)(h >> 20) & m->filter_mask;
        m->filter[bit / 64] |= 1ull << (bit % 64);
    }
    return GPTOSS_OK;
}

void tok_map_free(struct tok_map *m)
{
    free(m->slots);
    free(m->filter);
    m->slots = NULL;
    m->filter = NULL;
    m->mask = 0;
}

/* ---- Merging --------------------------------------------------------------------------------- */

static inline uint32_t bpe_rank(const struct tokenizer *tok, const unsigned char *p, size_t len)
{
    if (len == 2)
        return tok->pair_id[(unsigned)p[0] << 8 | p[1]];
    return tok_map_find(&tok->ordinary, tok, p, len);
}

static void bpe_emit(const struct tokenizer *tok, const unsigned char *p, size_t len,
                     struct idbuf *out)
{
    uint32_t id = len == 1 ? tok->byte_id[p[0]] : bpe_rank(tok, p, len);
    /* Merges only ever form vocabulary entries, and every byte is one. */
    GPTOSS_ASSERT(id != UINT32_MAX);
    idbuf_push(out, id);
}

#define BPE_SHORT 16

/* Flat version for short pieces: parts are start[0..n_parts], rank[i] is the rank of part i
 * merged with part i + 1, and each round scans for the lowest. */
static void bpe_merge_short(const struct tokenizer *tok, const unsigned char *p, size_t len,
                            struct idbuf *out)
{
    uint32_t start[BPE_SHORT + 1], rank[BPE_SHORT];
    size_t n = len; /* number of parts */
    for (size_t i = 0; i <= len; i++)
        start[i] = (uint32_t)i;
    for (size_t i = 0; i + 1 < n; i++)
        rank[i] = bpe_rank(tok, p + i, 2);
    while (n > 1) {
        size_t best = 0;
        uint32_t best_rank = RANK_NONE;
        for (size_t i = 0; i + 1 < n; i++) {
            if (rank[i] < best_rank) {
                best_rank = rank[i];
                best = i;
            }
        }
        if (best_rank == RANK_NONE)
            break;
        /* Merge parts best and best+1: drop the boundary start[best+1]. */
        memmove(&start[best + 1], &start[best + 2], (n - best - 1) * sizeof *start);
        if (n - best >= 3)
            memmove(&rank[best + 1], &rank[best + 2], (n - best - 3) * sizeof *rank);
        n--;
        if (best + 1 < n)
            rank[best] = bpe_rank(tok, p + start[best], start[best + 2] - start[best]);
        else
            rank[best] = RANK_NONE;
        if (best > 0)
            rank[best - 1] = bpe_rank(tok, p + start[best - 1], start[best + 1] - start[best - 1]);
    }
    for (size_t i = 0; i < n; i++)
        bpe_emit(tok, p + start[i], start[i + 1] - start[i], out);
}

/* Tree version for longer pieces (a long word, a run of spaces or emoji). A part is named by
 * the byte it starts at; live parts form a linked list. A min-tree over the parts holds
 * (rank << 32 | start) for each part merged with its successor, so the root is always the
 * lowest rank and, among equal ranks, the leftmost part — the pair the flat scan would pick.
 * A merge changes three leaves, each O(log n), where the flat scan pays O(n) per merge. */
struct bpe_tree {
    uint32_t *next; /* start of the next live part, or len */
    uint32_t *prev; /* start of the previous live part, or UINT32_MAX */
    uint64_t *node; /* (2 * size) min-tree; leaves at node[size + start] */
    size_t size;
};

#define BPE_DEAD UINT64_MAX

static void bpe_tree_set(struct bpe_tree *t, size_t leaf, uint64_t key)
{
    size_t i = t->size + leaf;
    t->node[i] = key;
    for (i /= 2; i >= 1; i /= 2) {
        uint64_t a = t->node[2 * i], b = t->node[2 * i + 1];
        t->node[i] = a < b ? a : b;
    }
}

/* The key of part i merged with its successor. */
static uint64_t bpe_tree_key(const struct tokenizer *tok, const unsigned char *p, size_t len,
                             const struct bpe_tree *t, uint32_t i)
{
    uint32_t j = t->next[i];
    if (j == len)
        return (uint64_t)RANK_NONE << 32 | i;
    uint32_t end = t->next[j];
    return (uint64_t)bpe_rank(tok, p + i, end - i) << 32 | i;
}

static void bpe_merge_long(const struct tokenizer *tok, const unsigned char *p, size_t len,
                           struct idbuf *out)
{
    struct bpe_tree t;
    t.size = 1;
    while (t.size < len)
        t.size *= 2;
    t.next = xmalloc(len * sizeof *t.next);
    t.prev = xmalloc(len * sizeof *t.prev);
    t.node = xmalloc(2 * t.size * sizeof *t.node);
    for (uint32_t i = 0; i < len; i++) {
        t.next[i] = i + 1;
        t.prev[i] = i ? i - 1 : UINT32_MAX;
    }
    for (size_t i = 0; i < t.size; i++)
        t.node[t.size + i] = i < len ? bpe_tree_key(tok, p, len, &t, (uint32_t)i) : BPE_DEAD;
    for (size_t i = t.size - 1; i >= 1; i--) {
        uint64_t a = t.node[2 * i], b = t.node[2 * i + 1];
        t.node[i] = a < b ? a : b;
    }
    while ((uint32_t)(t.node[1] >> 32) != RANK_NONE) {
        uint32_t i = (uint32_t)t.node[1];
        uint32_t j = t.next[i];
        t.next[i] = t.next[j];
        if (t.next[i] != len)
            t.prev[t.next[i]] = i;
        bpe_tree_set(&t, j, BPE_DEAD);
        bpe_tree_set(&t, i, bpe_tree_key(tok, p, len, &t, i));
        if (t.prev[i] != UINT32_MAX)
            bpe_tree_set(&t, t.prev[i], bpe_tree_key(tok, p, len, &t, t.prev[i]));
    }
    for (uint32_t i = 0; i != len; i = t.next[i])
        bpe_emit(tok, p + i, t.next[i] - i, out);
    free(t.next);
    free(t.prev);
    free(t.node);
}

void bpe_encode_piece(const struct tokenizer *tok, const unsigned char *piece, size_t len,
                      struct idbuf *out)
{
    if (len == 0)
        return;
    if (len == 1) {
        idbuf_push(out, tok->byte_id[piece[0]]);
        return;
    }
    uint32_t id = bpe_rank(tok, piece, len);
    if (id != RANK_NONE) {
        idbuf_push(out, id);
        return;
    }
    if (len <= BPE_SHORT)
        bpe_merge_short(tok, piece, len, out);
    else
        bpe_merge_long(tok, piece, len, out);
}
