/* bpe.c — byte-pair merging of one pre-token piece, and the byte-string maps it looks ranks up in.
 *
 * The merge rule is tiktoken's: start from single bytes and repeatedly merge the adjacent pair
 * whose concatenation has the lowest rank (the leftmost on ties) until no adjacent pair is a
 * token. A piece that is itself a token is emitted directly, which is what HF's
 * ignore_merges=true also does. Short pieces use a flat array scan (cache-friendly, and pieces
 * are a few bytes long in real text); long ones — runs of emoji or symbols, words thousands of
 * letters long — use a heap so the cost stays O(n log n) instead of tiktoken's O(n^2).
 */
#include "tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

#define RANK_NONE UINT32_MAX

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
    *len = tok->offsets[id + 1] - tok->offsets[id];
    return tok->blob + tok->offsets[id];
}

uint32_t tok_map_find(const struct tok_map *m, const struct tokenizer *tok, const void *key,
                      size_t len)
{
    uint64_t h = tok_hash(key, len);
    uint32_t tag = (uint32_t)(h >> 32) << 8 | (uint32_t)(len < 255 ? len : 255);
    for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
        const struct tok_slot *s = &m->slots[i];
        if (!s->id1)
            return UINT32_MAX;
        if (s->tag == tag) {
            size_t klen;
            const char *k = tok_key(tok, s->id1 - 1, &klen);
            if (klen == len && memcmp(k, key, len) == 0)
                return s->id1 - 1;
        }
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
    for (uint32_t id = first; id < last; id++) {
        size_t len;
        const char *key = tok_key(tok, id, &len);
        uint32_t dup = tok_map_find(m, tok, key, len);
        if (dup != UINT32_MAX)
            return error_set(GPTOSS_ERR_FORMAT, "tokens %u and %u have the same bytes", dup, id);
        uint64_t h = tok_hash(key, len);
        uint32_t i = (uint32_t)h & m->mask;
        while (m->slots[i].id1)
            i = (i + 1) & m->mask;
        m->slots[i] =
            (struct tok_slot){id + 1, (uint32_t)(h >> 32) << 8 | (uint32_t)(len < 255 ? len : 255)};
    }
    return GPTOSS_OK;
}

void tok_map_free(struct tok_map *m)
{
    free(m->slots);
    m->slots = NULL;
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

#define BPE_SHORT 128

/* Flat version: parts are start[0..n_parts], rank[i] is the rank of part i merged with i+1. */
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

/* Heap version for long pieces. Parts form a linked list; the heap holds (rank, part start)
 * candidates, ordered so the lowest rank and then the leftmost part comes first, which is the
 * order the flat scan merges in. Stale entries (a part merged away or re-ranked since) are
 * skipped when popped. */
struct bpe_part {
    uint32_t start;
    uint32_t next; /* index of the next live part; n for none */
    uint32_t prev; /* UINT32_MAX for none */
    uint32_t rank; /* rank of this part merged with next */
};

struct bpe_cand {
    uint32_t rank;
    uint32_t part;
};

static inline int bpe_cand_less(struct bpe_cand a, struct bpe_cand b)
{
    return a.rank < b.rank || (a.rank == b.rank && a.part < b.part);
}

static void bpe_heap_push(struct bpe_cand *heap, size_t *n, struct bpe_cand c)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bpe_cand_less(c, heap[parent]))
            break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = c;
}

static struct bpe_cand bpe_heap_pop(struct bpe_cand *heap, size_t *n)
{
    struct bpe_cand top = heap[0];
    struct bpe_cand last = heap[--*n];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= *n)
            break;
        if (child + 1 < *n && bpe_cand_less(heap[child + 1], heap[child]))
            child++;
        if (!bpe_cand_less(heap[child], last))
            break;
        heap[i] = heap[child];
        i = child;
    }
    if (*n)
        heap[i] = last;
    return top;
}

static uint32_t bpe_part_rank(const struct tokenizer *tok, const unsigned char *p, size_t len,
                              const struct bpe_part *parts, uint32_t i)
{
    uint32_t j = parts[i].next;
    if (j == len)
        return RANK_NONE;
    uint32_t end = parts[j].next == len ? (uint32_t)len : parts[parts[j].next].start;
    return bpe_rank(tok, p + parts[i].start, end - parts[i].start);
}

static void bpe_merge_long(const struct tokenizer *tok, const unsigned char *p, size_t len,
                           struct idbuf *out)
{
    /* Part i starts at byte i, so a part's index is also its start: the heap's tie-break on the
     * index is a tie-break on position. */
    struct bpe_part *parts = xmalloc(len * sizeof *parts);
    struct bpe_cand *heap = xmalloc(3 * len * sizeof *heap);
    size_t n_heap = 0;
    for (uint32_t i = 0; i < len; i++) {
        parts[i].start = i;
        parts[i].next = i + 1;
        parts[i].prev = i ? i - 1 : UINT32_MAX;
    }
    for (uint32_t i = 0; i < len; i++) {
        parts[i].rank = bpe_part_rank(tok, p, len, parts, i);
        if (parts[i].rank != RANK_NONE)
            bpe_heap_push(heap, &n_heap, (struct bpe_cand){parts[i].rank, i});
    }
    while (n_heap) {
        struct bpe_cand c = bpe_heap_pop(heap, &n_heap);
        struct bpe_part *a = &parts[c.part];
        if (a->start == UINT32_MAX || a->rank != c.rank)
            continue; /* stale */
        uint32_t j = a->next;
        a->next = parts[j].next;
        if (a->next != len)
            parts[a->next].prev = c.part;
        parts[j].start = UINT32_MAX;
        /* A re-ranked part covers more bytes than before, so its new rank differs from any
         * entry of its still in the heap: the rank check above tells stale entries apart. */
        a->rank = bpe_part_rank(tok, p, len, parts, c.part);
        if (a->rank != RANK_NONE)
            bpe_heap_push(heap, &n_heap, (struct bpe_cand){a->rank, c.part});
        if (a->prev != UINT32_MAX) {
            struct bpe_part *b = &parts[a->prev];
            b->rank = bpe_part_rank(tok, p, len, parts, a->prev);
            if (b->rank != RANK_NONE)
                bpe_heap_push(heap, &n_heap, (struct bpe_cand){b->rank, a->prev});
        }
        GPTOSS_ASSERT(n_heap <= 3 * len);
    }
    for (uint32_t i = 0; i != len; i = parts[i].next) {
        uint32_t end = parts[i].next == len ? (uint32_t)len : parts[parts[i].next].start;
        bpe_emit(tok, p + parts[i].start, end - parts[i].start, out);
    }
    free(heap);
    free(parts);
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
