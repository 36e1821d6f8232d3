/* model_forward.c — one forward step over a batch of tokens from many sequences.
 *
 * The loop reads top to bottom like the spec (../shared/gpt-oss.md §3): embed, then per layer
 * attention (RMSNorm, q/k/v, RoPE, KV write, paged attention with sinks, o_proj, residual) and
 * the MoE (RMSNorm, router top-k, experts, weighted sum, residual), then the final norm and the
 * unembedding of the rows that asked for logits. Every op is a backend slot.
 *
 * The MoE runs expert by expert over the rows routed to it, so a prefill chunk reads each
 * selected expert's weights once, and sums the weighted outputs in expert order as transformers
 * does, before one residual add.
 */
#include "model/model_internal.h"

#include "base/error.h"

#include <math.h>
#include <string.h>

/* ---- Batch validation ------------------------------------------------------------------------ */

/* Checks that every index the step will follow stays inside the model and the KV memory, so a
 * bad batch is an error and never a wild read or write. */
static enum gptoss_status batch_check(const struct model *model, const struct batch *b)
{
    const struct model_config *c = &model->config;
    if (b->n_tokens == 0 || b->n_seqs == 0 || !b->tokens || !b->positions || !b->seq_of_token ||
        !b->need_logits)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "empty or incomplete batch");
    for (int g = 0; g < KV_N_GROUPS; g++)
        if (model->kv_blocks[g] && (!b->slots[g] || !b->block_tables[g]))
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "batch lacks slots or block tables");
    for (uint32_t i = 0; i < b->n_tokens; i++) {
        uint32_t p = b->positions[i], s = b->seq_of_token[i];
        if (b->tokens[i] >= c->n_vocab)
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "token %u is outside the vocabulary (%u)",
                             b->tokens[i], c->n_vocab);
        if (s >= b->n_seqs)
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "token %u names sequence %u of %u", i, s,
                             b->n_seqs);
        if (p >= c->max_position)
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                             "position %u is beyond the model's context (%u)", p, c->max_position);
        for (int g = 0; g < KV_N_GROUPS; g++) {
            if (model->kv_blocks[g] == 0)
                continue;
            const uint32_t *table = b->block_tables[g][s];
            uint32_t first = 0;
            if (g == KV_GROUP_SLIDING && p + 1 > c->sliding_window)
                first = (p + 1 - c->sliding_window) / KV_BLOCK_SIZE;
            for (uint32_t blk = first; blk <= p / KV_BLOCK_SIZE; blk++)
                if (table[blk] >= model->kv_blocks[g])
                    return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                                     "sequence %u: block %u of position %u is %u, outside the KV "
                                     "cache (%u blocks)",
                                     s, blk, p, table[blk], model->kv_blocks[g]);
            uint32_t want = table[p / KV_BLOCK_SIZE] * KV_BLOCK_SIZE + p % KV_BLOCK_SIZE;
            if (b->slots[g][i] != want)
                return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                                 "token %u writes slot %u but its block table says %u", i,
                                 b->slots[g][i], want);
        }
    }
    for (uint32_t l = 0; l < c->n_layers; l++)
        if (model->kv_blocks[model_layer_group(model, l)] == 0)
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "no KV cache allocated for layer %u", l);
    return GPTOSS_OK;
}

/* ---- Mixture of experts ---------------------------------------------------------------------- */

/* moe_out = Σ_k w_k · expert_{idx_k}(xn), for every token, experts visited in index order. */
static void moe(struct model *model, const struct layer_weights *lw, uint32_t n)
{
    const struct model_config *c = &model->config;
    const struct backend_ops *ops = model->ops;
    struct model_scratch *s = &model->scratch;
    uint32_t k = c->n_experts_per_token, D = c->d_model, F = model->shard.n_ff;

    memset(s->moe_out, 0, (size_t)n * D * sizeof(float));
    if (F == 0)
        return; /* a tensor-parallel rank left without hidden units adds nothing */

    ops->matmul(s->xn, n, &lw->router, &lw->router_bias, s->router);
    ops->router_topk(s->router, n, c->n_experts, k, s->expert_idx, s->expert_w);

    /* Counting sort of the n*k (token, choice) rows by expert. */
    memset(s->expert_count, 0, c->n_experts * sizeof(uint32_t));
    for (uint32_t i = 0; i < n * k; i++)
        s->expert_count[s->expert_idx[i]]++;
    s->expert_start[0] = 0;
    for (uint32_t e = 0; e < c->n_experts; e++)
        s->expert_start[e + 1] = s->expert_start[e] + s->expert_count[e];
    memset(s->expert_count, 0, c->n_experts * sizeof(uint32_t));
    for (uint32_t t = 0; t < n; t++)
        for (uint32_t j = 0; j < k; j++) {
            uint32_t e = s->expert_idx[t * k + j];
            uint32_t r = s->expert_start[e] + s->expert_count[e]++;
            s->rows_token[r] = t;
            s->rows_slot[r] = j;
        }

    for (uint32_t e = 0; e < c->n_experts; e++) {
        uint32_t r0 = s->expert_start[e], m = s->expert_start[e + 1] - r0;
        if (m == 0)
            continue;
        for (uint32_t r = 0; r < m; r++)
            memcpy(s->rows_x + (size_t)r * D, s->xn + (size_t)s->rows_token[r0 + r] * D,
                   D * sizeof(float));
        ops->expert_matmul(s->rows_x, m, &lw->gate_up, e, s->rows_u);
        ops->swiglu(s->rows_u, m, F, c->swiglu_alpha, c->swiglu_limit, s->rows_a);
        ops->expert_matmul(s->rows_a, m, &lw->down, e, s->rows_y);
        for (uint32_t r = 0; r < m; r++) {
            uint32_t t = s->rows_token[r0 + r];
            float w = s->expert_w[t * k + s->rows_slot[r0 + r]];
            ops->add_scaled(s->moe_out + (size_t)t * D, s->rows_y + (size_t)r * D, D, w);
        }
    }
}

/* ---- The step -------------------------------------------------------------------------------- */

/* Sums a tensor-parallel rank's partial sums over all ranks (nothing for one rank). */
static enum gptoss_status tp_sum(struct model *model, float *buf, size_t n)
{
    if (!model->comm || model->comm->size <= 1)
        return GPTOSS_OK;
    enum gptoss_status st = comm_allreduce_sum(model->comm, buf, n);
    if (st != GPTOSS_OK)
        atomic_store(&model->lost, true);
    return st;
}

/* Rank 0 gathers every rank's columns of the n_out rows of logits into logits_out. */
static enum gptoss_status tp_gather_logits(struct model *model, uint32_t n_out, float *logits_out)
{
    const struct model_config *c = &model->config;
    struct model_scratch *s = &model->scratch;
    uint32_t n_ranks = model->shard.n_ranks;
    size_t counts[64];
    struct model_shard part[64];
    GPTOSS_ASSERT(n_ranks <= 64);
    for (uint32_t r = 0; r < n_ranks; r++) {
        enum gptoss_status st = model_shard_plan(c, r, n_ranks, &part[r]);
        GPTOSS_ASSERT(st == GPTOSS_OK); /* this rank's own plan succeeded */
        counts[r] = (size_t)n_out * part[r].n_vocab;
    }
    enum gptoss_status st = comm_gather(model->comm, s->logits_local, s->logits_all, counts);
    if (st != GPTOSS_OK)
        atomic_store(&model->lost, true);
    if (st != GPTOSS_OK || model->shard.rank != 0)
        return st;
    const float *src = s->logits_all;
    for (uint32_t r = 0; r < n_ranks; r++) {
        uint32_t nv = part[r].n_vocab;
        for (uint32_t i = 0; i < n_out; i++)
            memcpy(logits_out + (size_t)i * c->n_vocab + part[r].vocab0, src + (size_t)i * nv,
                   nv * sizeof(float));
        src += (size_t)n_out * nv;
    }
    return GPTOSS_OK;
}

enum gptoss_status model_forward(struct model *model, const struct batch *batch, float *logits_out)
{
    if (atomic_load(&model->lost))
        return error_set(GPTOSS_ERR_IO, "a tensor-parallel rank was lost; the model cannot run");
    enum gptoss_status st = batch_check(model, batch);
    if (st != GPTOSS_OK)
        return st;
    if (model->comm && model->comm->size > 1) {
        st = model_tp_send_forward(model, batch);
        if (st != GPTOSS_OK) {
            atomic_store(&model->lost, true);
            return st;
        }
    }
    return model_forward_local(model, batch, logits_out);
}

enum gptoss_status model_forward_local(struct model *model, const struct batch *batch,
                                       float *logits_out)
{
    enum gptoss_status st = model_scratch_reserve(model, batch->n_tokens);
    bool tp = model->comm && model->comm->size > 1;
    if (tp && atomic_load(&model->lost))
        return error_set(GPTOSS_ERR_IO, "a tensor-parallel rank was lost");
    if (tp)
        st = model_tp_agree_step(model, st, "its activations");
    if (st != GPTOSS_OK)
        return st;

    const struct model_config *c = &model->config;
    const struct model_shard *sh = &model->shard;
    const struct model_weights *w = model->weights;
    const struct backend_ops *ops = model->ops;
    struct model_scratch *s = &model->scratch;
    uint32_t n = batch->n_tokens, D = c->d_model;
    uint32_t kv_w = sh->n_kv_heads * c->head_dim;

    ops->embed(&w->embed, batch->tokens, n, s->x);

    for (uint32_t l = 0; l < c->n_layers; l++) {
        const struct layer_weights *lw = &w->layers[l];
        enum kv_group group = model_layer_group(model, l);

        /* Attention, over this rank's heads. */
        ops->rmsnorm(s->x, n, &lw->attn_norm, c->rms_norm_eps, s->xn);
        ops->matmul(s->xn, n, &lw->q, &lw->q_bias, s->q);
        ops->matmul(s->xn, n, &lw->k, &lw->k_bias, s->k);
        ops->matmul(s->xn, n, &lw->v, &lw->v_bias, s->v);
        ops->rope(s->q, n, sh->n_q_heads, batch->positions, &model->rope);
        ops->rope(s->k, n, sh->n_kv_heads, batch->positions, &model->rope);
        ops->kv_write(&model->kv[l], KV_BLOCK_SIZE, kv_w, s->k, s->v, batch->slots[group], n);
        struct attention_args args = {
            .q = s->q,
            .out = s->attn,
            .n_tokens = n,
            .n_heads = sh->n_q_heads,
            .n_kv_heads = sh->n_kv_heads,
            .head_dim = c->head_dim,
            .block_size = KV_BLOCK_SIZE,
            .kv = &model->kv[l],
            .positions = batch->positions,
            .seq_of_token = batch->seq_of_token,
            .block_tables = batch->block_tables[group],
            .window = c->layer_sliding[l] ? c->sliding_window : 0,
            .sinks = model->sinks + (size_t)l * sh->n_q_heads,
            .scale = 1.0f / sqrtf((float)c->head_dim),
        };
        ops->attention(&args);
        /* o_proj's bias once, on rank 0, before the ranks' partial sums are added up. */
        ops->matmul(s->attn, n, &lw->o, sh->rank == 0 ? &lw->o_bias : NULL, s->proj);
        if ((st = tp_sum(model, s->proj, (size_t)n * D)) != GPTOSS_OK)
            return st;
        ops->add_scaled(s->x, s->proj, (size_t)n * D, 1.0f);

        /* Mixture of experts, over this rank's hidden units of each. */
        ops->rmsnorm(s->x, n, &lw->mlp_norm, c->rms_norm_eps, s->xn);
        moe(model, lw, n);
        if ((st = tp_sum(model, s->moe_out, (size_t)n * D)) != GPTOSS_OK)
            return st;
        ops->add_scaled(s->x, s->moe_out, (size_t)n * D, 1.0f);
    }

    /* Final norm and unembedding, only for the rows that need logits. */
    uint32_t n_out = 0;
    for (uint32_t i = 0; i < n; i++)
        if (batch->need_logits[i])
            memmove(s->xn + (size_t)n_out++ * D, s->x + (size_t)i * D, D * sizeof(float));
    if (n_out) {
        ops->rmsnorm(s->xn, n_out, &w->final_norm, c->rms_norm_eps, s->xn);
        if (!tp) {
            ops->matmul(s->xn, n_out, &w->lm_head, NULL, logits_out);
            return GPTOSS_OK;
        }
        if (sh->n_vocab)
            ops->matmul(s->xn, n_out, &w->lm_head, NULL, s->logits_local);
        return tp_gather_logits(model, n_out, logits_out);
    }
    return GPTOSS_OK;
}
