/* model_shard.c — a tensor-parallel rank's part of the checkpoint (model_shard.h): the plan,
 * and the weights cut down to it.
 *
 * Large contiguous row ranges stay views into the mapped files (q/k/v rows, unembedding rows),
 * so a rank only touches its own bytes of them. The experts and o_proj are copied once at load
 * into memory of the rank's own (2 MB pages, like the int8 copies) and their mapped pages given
 * back: o_proj's columns and down_proj's input blocks are slices of every row, and each
 * expert's gate/up rows are 4 MB pieces whose 2 MB folios the neighbouring rank's rows share,
 * so as views they would keep nearly all of them resident on every rank.
 */
#include "model/model_internal.h"

#include "base/error.h"
#include "base/pages.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* [first, first + count) of `total` units split as evenly as possible over n ranks. */
static void split_even(uint32_t total, uint32_t n, uint32_t rank, uint32_t *first, uint32_t *count)
{
    uint32_t base = total / n, extra = total % n;
    *first = rank * base + (rank < extra ? rank : extra);
    *count = base + (rank < extra ? 1 : 0);
}

enum gptoss_status model_shard_plan(const struct model_config *c, uint32_t rank, uint32_t n,
                                    struct model_shard *out)
{
    if (n == 0 || rank >= n)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "rank %u of %u tensor-parallel ranks", rank,
                         n);
    if (c->n_heads % n != 0 || (c->n_kv_heads % n != 0 && n % c->n_kv_heads != 0))
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "--tensor-parallel-size %u: the model's %u query heads and %u KV heads "
                         "do not split %u ways (the query heads must divide evenly, and the KV "
                         "heads by it or it by them)",
                         n, c->n_heads, c->n_kv_heads, n);
    struct model_shard s = {.rank = rank, .n_ranks = n};
    s.n_q_heads = c->n_heads / n;
    s.q_head0 = rank * s.n_q_heads;
    if (c->n_kv_heads % n == 0) {
        s.n_kv_heads = c->n_kv_heads / n;
        s.kv_head0 = rank * s.n_kv_heads;
    } else {
        /* More ranks than KV heads: each holds the one KV head its queries read. */
        s.n_kv_heads = 1;
        s.kv_head0 = s.q_head0 / (c->n_heads / c->n_kv_heads);
    }
    /* Hidden units in whole MXFP4 blocks (bf16 experts too, when they divide by 32). */
    uint32_t unit = c->d_ff % 32 == 0 ? 32 : 1, first, count;
    split_even(c->d_ff / unit, n, rank, &first, &count);
    s.ff0 = first * unit;
    s.n_ff = count * unit;
    split_even(c->n_vocab, n, rank, &s.vocab0, &s.n_vocab);
    *out = s;
    return GPTOSS_OK;
}

/* ---- cutting the weights --------------------------------------------------------------------- */

/* Rows [r0, r0 + nr) of t (any rank: the first dimension), as a view. */
static void slice_rows(struct tensor *t, uint64_t r0, uint64_t nr)
{
    uint64_t row = t->n_bytes / t->shape[0];
    t->data = (const char *)t->data + r0 * row;
    t->shape[0] = nr;
    t->n_bytes = nr * row;
}

/* Carves n bytes, 64-aligned, off the store (or only counts them when store is NULL). */
static void *carve(char *store, uint64_t *used, uint64_t n)
{
    void *p = store ? store + *used : NULL;
    *used += (n + 63) / 64 * 64;
    return p;
}

/* out[o][j] = in[o][c0 + j] for j < nc: columns of a row-major (n_rows, n_cols) array of esize
 * bytes per element. */
static void copy_columns(void *out, const void *in, uint64_t n_rows, uint64_t n_cols, uint64_t c0,
                         uint64_t nc, size_t esize)
{
    for (uint64_t r = 0; r < n_rows; r++)
        memcpy((char *)out + r * nc * esize, (const char *)in + (r * n_cols + c0) * esize,
               nc * esize);
}

/* max |w| of each row of a (n_rows, n_cols) F32 or BF16 tensor. */
static void row_amax(const struct tensor *t, uint64_t n_rows, uint64_t n_cols, float *out)
{
    for (uint64_t r = 0; r < n_rows; r++) {
        float m = 0.0f;
        for (uint64_t k = 0; k < n_cols; k++) {
            float a = fabsf(tensor_get_f32(t, r * n_cols + k));
            m = a > m ? a : m;
        }
        out[r] = m;
    }
}

/* Gives the mapped checkpoint pages under t back (the rank read its slice of them into a copy
 * and never reads them again), so that its resident memory is its part only: a slice of every
 * row touches every page, and a 2 MB folio that holds the end of one rank's rows holds the start
 * of the next one's. Only whole pages inside t; another rank of this process that still reads
 * them faults them back in from the page cache. */
static void drop_pages(const struct tensor *t)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)t->data + page - 1) / page * page;
    uintptr_t hi = ((uintptr_t)t->data + t->n_bytes) / page * page;
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* The copies of one layer (store NULL: only their bytes are counted): o_proj's columns and
 * their row maxima go to o_store (which --weights int8 gives back once it has requantised them,
 * model_shard_release_o), the experts to store. */
static void shard_layer(const struct model_config *c, const struct model_shard *s,
                        struct layer_weights *lw, bool int8, char *o_store, uint64_t *o_used,
                        char *store, uint64_t *used)
{
    const uint64_t S = c->head_dim, D = c->d_model, F = c->d_ff, E = c->n_experts;
    const uint64_t q_cols = (uint64_t)c->n_heads * S, nq = (uint64_t)s->n_q_heads * S;

    /* o_proj (D, Hq*S): this rank's columns. */
    size_t esize = dtype_size(lw->o.dtype);
    void *o = carve(o_store, o_used, D * nq * esize);
    float *amax = int8 ? carve(o_store, o_used, D * sizeof(float)) : NULL;
    if (store && int8) {
        row_amax(&lw->o, D, q_cols, amax);
        lw->o_row_amax = amax;
    }
    if (store) {
        copy_columns(o, lw->o.data, D, q_cols, s->q_head0 * S, nq, esize);
        drop_pages(&lw->o);
        lw->o.data = o;
        lw->o.shape[1] = nq;
        lw->o.n_bytes = D * nq * esize;
    }

    if (c->experts_mxfp4) {
        const uint64_t nb = F / 32, b0 = s->ff0 / 32, lb = s->n_ff / 32;
        /* down (E, D, F/32, 16) and scales (E, D, F/32): this rank's blocks of every row. */
        void *blocks = carve(store, used, E * D * lb * 16);
        void *scales = carve(store, used, E * D * lb);
        if (store) {
            copy_columns(blocks, lw->w2_blocks.data, E * D, nb, b0, lb, 16);
            copy_columns(scales, lw->w2_scales.data, E * D, nb, b0, lb, 1);
            drop_pages(&lw->w2_blocks);
            drop_pages(&lw->w2_scales);
            lw->w2_blocks.data = blocks;
            lw->w2_blocks.shape[2] = lb;
            lw->w2_blocks.n_bytes = E * D * lb * 16;
            lw->w2_scales.data = scales;
            lw->w2_scales.shape[2] = lb;
            lw->w2_scales.n_bytes = E * D * lb;
            lw->down.blocks = blocks;
            lw->down.scales = scales;
        }
        /* gate_up (E, 2F, D/32, 16) and scales: rows 2*ff0.. of each expert. */
        const uint64_t rb = D / 32;
        void *gu = carve(store, used, E * 2 * s->n_ff * rb * 16);
        void *gus = carve(store, used, E * 2 * s->n_ff * rb);
        if (store) {
            copy_columns(gu, lw->w1_blocks.data, E, 2 * F * rb * 16, 2 * s->ff0 * rb * 16,
                         2 * s->n_ff * rb * 16, 1);
            copy_columns(gus, lw->w1_scales.data, E, 2 * F * rb, 2 * s->ff0 * rb, 2 * s->n_ff * rb,
                         1);
            drop_pages(&lw->w1_blocks);
            drop_pages(&lw->w1_scales);
            lw->w1_blocks.data = gu;
            lw->w1_blocks.shape[1] = 2 * s->n_ff;
            lw->w1_blocks.n_bytes = E * 2 * s->n_ff * rb * 16;
            lw->w1_scales.data = gus;
            lw->w1_scales.shape[1] = 2 * s->n_ff;
            lw->w1_scales.n_bytes = E * 2 * s->n_ff * rb;
            lw->gate_up.blocks = gu;
            lw->gate_up.scales = gus;
        }
    } else {
        /* bf16 [E, in, out]: gate_up's output columns 2*ff0.., down's input rows ff0.. */
        void *w1 = carve(store, used, E * D * 2 * s->n_ff * 2);
        void *w2 = carve(store, used, E * s->n_ff * D * 2);
        if (store) {
            copy_columns(w1, lw->w1.data, E * D, 2 * F, 2 * s->ff0, 2 * s->n_ff, 2);
            for (uint64_t e = 0; e < E; e++)
                memcpy((char *)w2 + e * s->n_ff * D * 2,
                       (const char *)lw->w2.data + (e * F + s->ff0) * D * 2, s->n_ff * D * 2);
            drop_pages(&lw->w1);
            drop_pages(&lw->w2);
            lw->w1.data = w1;
            lw->w1.shape[2] = 2 * s->n_ff;
            lw->w1.n_bytes = E * D * 2 * s->n_ff * 2;
            lw->w2.data = w2;
            lw->w2.shape[1] = s->n_ff;
            lw->w2.n_bytes = E * s->n_ff * D * 2;
            lw->gate_up.weight = w1;
            lw->down.weight = w2;
        }
    }
    if (!store)
        return;

    slice_rows(&lw->q, s->q_head0 * S, nq);
    slice_rows(&lw->q_bias, s->q_head0 * S, nq);
    slice_rows(&lw->k, s->kv_head0 * S, (uint64_t)s->n_kv_heads * S);
    slice_rows(&lw->k_bias, s->kv_head0 * S, (uint64_t)s->n_kv_heads * S);
    slice_rows(&lw->v, s->kv_head0 * S, (uint64_t)s->n_kv_heads * S);
    slice_rows(&lw->v_bias, s->kv_head0 * S, (uint64_t)s->n_kv_heads * S);
    slice_rows(&lw->sinks, s->q_head0, s->n_q_heads);
    lw->gate_up.n_out = 2 * s->n_ff;
    lw->gate_up.bias_first = 2 * s->ff0;
    lw->gate_up.bias_stride = (uint32_t)(2 * F);
    lw->w1_bias.n_bytes = lw->w1_bias.n_bytes / F * s->n_ff;
    lw->down.n_in = s->n_ff;
    if (s->rank != 0) {
        /* Added once, by rank 0, before the sum over ranks. */
        lw->down.bias = NULL;
        lw->w2_bias.n_bytes = 0;
        lw->o_bias.n_bytes = 0;
    }
}

enum gptoss_status model_weights_shard(struct model *model, bool int8)
{
    const struct model_config *c = &model->config;
    const struct model_shard *s = &model->shard;
    struct model_weights *w = model->weights;
    if (s->n_ranks <= 1)
        return GPTOSS_OK;
    uint64_t o_bytes = 0, bytes = 0;
    for (uint32_t l = 0; l < c->n_layers; l++)
        shard_layer(c, s, &w->layers[l], int8, NULL, &o_bytes, NULL, &bytes);
    /* The o_proj copies first, on whole pages of their own, so that they can be given back. */
    long page = sysconf(_SC_PAGESIZE);
    o_bytes = (o_bytes + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
    char *store = pages_alloc(o_bytes + bytes);
    if (!store)
        return error_set(GPTOSS_ERR_NOMEM, "cannot allocate %.2f GB for rank %u's weights",
                         (o_bytes + bytes) / 1e9, s->rank);
    uint64_t o_used = 0, used = 0;
    for (uint32_t l = 0; l < c->n_layers; l++)
        shard_layer(c, s, &w->layers[l], int8, store, &o_used, store + o_bytes, &used);
    slice_rows(&w->lm_head, s->vocab0, s->n_vocab);
    model->shard_store = store;
    model->shard_store_bytes = o_bytes + bytes;
    model->shard_o_bytes = o_bytes;
    return GPTOSS_OK;
}

void model_shard_release_o(struct model *model)
{
    if (!model->shard_store || model->shard_o_bytes == 0)
        return;
    for (uint32_t l = 0; l < model->config.n_layers; l++)
        model->weights->layers[l].o_row_amax = NULL;
    madvise(model->shard_store, model->shard_o_bytes, MADV_DONTNEED);
    model->shard_o_bytes = 0;
}

/* ---- the plan of any rank, and what this process sees resident ---------------------------------
 */

/* Bytes of n elements of t's dtype, plus its per-row int8 scales for `rows` rows. */
static uint64_t elems(const struct tensor *t, uint64_t n, uint64_t rows)
{
    return n * dtype_size(t->dtype) + (t->row_scales ? rows * sizeof(float) : 0);
}

void model_rank_plan(const struct model *model, uint32_t rank, struct model_rank_plan *out)
{
    const struct model_config *c = &model->config;
    const struct model_weights *w = model->weights;
    struct model_shard s;
    enum gptoss_status st = model_shard_plan(c, rank, model->shard.n_ranks, &s);
    GPTOSS_ASSERT(st == GPTOSS_OK); /* rank 0's plan of the same config succeeded */
    const uint64_t S = c->head_dim, D = c->d_model, E = c->n_experts;
    const uint64_t nq = (uint64_t)s.n_q_heads * S, nkv = (uint64_t)s.n_kv_heads * S;
    uint64_t b =
        w->embed.n_bytes + w->final_norm.n_bytes + elems(&w->lm_head, s.n_vocab * D, s.n_vocab);
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const struct layer_weights *lw = &w->layers[l];
        b += lw->attn_norm.n_bytes + lw->mlp_norm.n_bytes + lw->router.n_bytes +
             lw->router_bias.n_bytes;
        b += elems(&lw->q, nq * D, nq) + elems(&lw->q_bias, nq, 0);
        b += 2 * (elems(&lw->k, nkv * D, nkv) + elems(&lw->k_bias, nkv, 0));
        b += elems(&lw->o, D * nq, D) + elems(&lw->sinks, s.n_q_heads, 0);
        if (rank == 0)
            b += D * dtype_size(lw->o_bias.dtype) + E * D * dtype_size(lw->w2_bias.dtype);
        b += E * 2 * s.n_ff * dtype_size(lw->w1_bias.dtype);
        if (c->experts_mxfp4)
            b += E * 2 * s.n_ff * (D / 32) * 17 + E * D * (s.n_ff / 32) * 17;
        else
            b += E * D * 2 * s.n_ff * 2 + E * s.n_ff * D * 2;
    }
    uint64_t kv = 0;
    for (uint32_t l = 0; l < c->n_layers; l++)
        kv += (uint64_t)model->kv_blocks[model_layer_group(model, l)] * KV_BLOCK_SIZE * nkv * 2 *
              sizeof(float);
    *out = (struct model_rank_plan){
        .shard = s,
        .weight_bytes = b,
        .kv_bytes_per_token = 2ull * c->n_layers * nkv * sizeof(float),
        .kv_bytes = kv,
        .weight_resident = -1,
    };
}

/* Resident bytes of [p, p + n) (whole pages), by mincore. */
static uint64_t resident_bytes(const void *p, uint64_t n)
{
    if (!p || n == 0)
        return 0;
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)p / page * page, hi = ((uintptr_t)p + n + page - 1) / page * page;
    size_t n_pages = (hi - lo) / page;
    unsigned char *vec = malloc(n_pages);
    if (!vec || mincore((void *)lo, hi - lo, vec) != 0) {
        free(vec);
        return 0;
    }
    uint64_t pages = 0;
    for (size_t i = 0; i < n_pages; i++)
        pages += vec[i] & 1;
    free(vec);
    uint64_t got = pages * (uint64_t)page;
    return got < n ? got : n; /* the partial pages at the ends count for what they hold */
}

uint64_t model_rank_resident(const struct model *model)
{
    const struct model_config *c = &model->config;
    const struct model_weights *w = model->weights;
    const struct tensor *top[] = {&w->embed, &w->final_norm, &w->lm_head};
    uint64_t r = 0;
    for (size_t i = 0; i < 3; i++)
        r += resident_bytes(top[i]->data, top[i]->n_bytes);
    if (w->lm_head.row_scales)
        r += resident_bytes(w->lm_head.row_scales, w->lm_head.shape[0] * sizeof(float));
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const struct layer_weights *lw = &w->layers[l];
        const struct tensor *t[] = {&lw->attn_norm, &lw->q,        &lw->q_bias,    &lw->k,
                                    &lw->k_bias,    &lw->v,        &lw->v_bias,    &lw->o,
                                    &lw->sinks,     &lw->mlp_norm, &lw->router,    &lw->router_bias,
                                    &lw->w1,        &lw->w2,       &lw->w1_blocks, &lw->w1_scales,
                                    &lw->w2_blocks, &lw->w2_scales};
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
            r += resident_bytes(t[i]->data, t[i]->n_bytes);
            if (t[i]->row_scales)
                r += resident_bytes(t[i]->row_scales, t[i]->shape[0] * sizeof(float));
        }
        if (model->shard.rank == 0) {
            r += resident_bytes(lw->o_bias.data, lw->o_bias.n_bytes);
            r += resident_bytes(lw->w2_bias.data, lw->w2_bias.n_bytes);
        }
        r += resident_bytes((const char *)lw->w1_bias.data +
                                (uint64_t)model->shard.ff0 * 2 * dtype_size(lw->w1_bias.dtype),
                            lw->w1_bias.n_bytes);
    }
    return r;
}
