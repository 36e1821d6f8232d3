/* model_tp.c — tensor parallelism: loading a model split over ranks, and the step protocol.
 *
 * Rank 0 owns the scheduler: each step it broadcasts what to do (a header) and the batch, then
 * runs its own part; the other ranks sit in model_worker_run, receive the same batch and run
 * theirs, meeting rank 0 in the all-reduces of the forward pass. The same protocol serves both
 * transports: a thread group (one thread per rank in this process, each with its own CPU pool)
 * and MPI processes (one per rank).
 *
 *   rank 0:  header ─ batch ─ forward(part 0) ─┬─ all-reduce ... gather logits ─ next step
 *   rank r:  header ─ batch ─ forward(part r) ─┘
 *
 * Every rank runs the same collectives in the same order, and a rank that cannot go on (no
 * memory for its activations or its KV cache) says so through model_tp_agree, so all ranks
 * fail the step together instead of leaving the others waiting.
 */
#include "model/model_internal.h"

#include "base/error.h"
#include "base/threadpool.h"
#include "base/xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tp_op {
    TP_FORWARD = 1,
    TP_KV_ALLOC = 2,
    TP_QUIT = 3,
};

/* What every step starts with. For TP_FORWARD the payload follows: n_words u32s holding
 * tokens, positions, seq_of_token and need_logits (n_tokens each), then per KV group with
 * (has_group >> g) & 1: the slots (n_tokens), the table length of every sequence (n_seqs) and
 * the tables one after the other. */
struct tp_header {
    uint32_t op;
    uint32_t n_tokens, n_seqs;
    uint32_t has_group;
    uint32_t n_blocks[KV_N_GROUPS]; /* TP_KV_ALLOC */
    uint64_t n_words;
};

bool model_tp_agree(struct comm *comm, bool ok)
{
    float flag = ok ? 0.0f : 1.0f;
    if (comm_allreduce_sum(comm, &flag, 1) != GPTOSS_OK)
        return false;
    return flag == 0.0f;
}

enum gptoss_status model_tp_agree_step(struct model *model, enum gptoss_status mine,
                                       const char *what)
{
    float flag = mine == GPTOSS_OK ? 0.0f : 1.0f;
    enum gptoss_status st = comm_allreduce_sum(model->comm, &flag, 1);
    if (st != GPTOSS_OK) {
        atomic_store(&model->lost, true);
        return st;
    }
    if (flag == 0.0f)
        return GPTOSS_OK;
    return mine != GPTOSS_OK
               ? mine
               : error_set(GPTOSS_ERR_NOMEM, "another tensor-parallel rank could not allocate %s",
                           what);
}

/* ---- rank 0: sending ------------------------------------------------------------------------- */

/* The table length sequence s needs: blocks up to its last position in the batch. */
static void table_lengths(const struct batch *b, uint32_t *len)
{
    memset(len, 0, b->n_seqs * sizeof(uint32_t));
    for (uint32_t i = 0; i < b->n_tokens; i++) {
        uint32_t need = b->positions[i] / KV_BLOCK_SIZE + 1;
        uint32_t *l = &len[b->seq_of_token[i]];
        *l = need > *l ? need : *l;
    }
}

enum gptoss_status model_tp_send_forward(struct model *model, const struct batch *b)
{
    uint32_t n = b->n_tokens, ns = b->n_seqs;
    uint32_t *len = xcalloc(ns ? ns : 1, sizeof(uint32_t));
    table_lengths(b, len);
    struct tp_header h = {.op = TP_FORWARD, .n_tokens = n, .n_seqs = ns};
    uint64_t words = 4ull * n;
    for (int g = 0; g < KV_N_GROUPS; g++) {
        if (!b->slots[g] || !b->block_tables[g])
            continue;
        h.has_group |= 1u << g;
        words += n + ns;
        for (uint32_t s = 0; s < ns; s++)
            words += len[s];
    }
    h.n_words = words;
    uint32_t *p = xmalloc(words * sizeof(uint32_t)), *at = p;
    memcpy(at, b->tokens, n * sizeof(uint32_t));
    at += n;
    memcpy(at, b->positions, n * sizeof(uint32_t));
    at += n;
    memcpy(at, b->seq_of_token, n * sizeof(uint32_t));
    at += n;
    for (uint32_t i = 0; i < n; i++)
        *at++ = b->need_logits[i];
    for (int g = 0; g < KV_N_GROUPS; g++) {
        if (!(h.has_group >> g & 1))
            continue;
        memcpy(at, b->slots[g], n * sizeof(uint32_t));
        at += n;
        memcpy(at, len, ns * sizeof(uint32_t));
        at += ns;
        for (uint32_t s = 0; s < ns; s++) {
            memcpy(at, b->block_tables[g][s], len[s] * sizeof(uint32_t));
            at += len[s];
        }
    }
    enum gptoss_status st = comm_bcast(model->comm, &h, sizeof h);
    if (st == GPTOSS_OK)
        st = comm_bcast(model->comm, p, words * sizeof(uint32_t));
    free(p);
    free(len);
    return st;
}

enum gptoss_status model_tp_send_kv_alloc(struct model *model, const uint32_t n_blocks[KV_N_GROUPS])
{
    if (atomic_load(&model->lost))
        return error_set(GPTOSS_ERR_IO, "a tensor-parallel rank was lost; the model cannot run");
    struct tp_header h = {.op = TP_KV_ALLOC};
    memcpy(h.n_blocks, n_blocks, sizeof(h.n_blocks));
    enum gptoss_status st = comm_bcast(model->comm, &h, sizeof h);
    if (st != GPTOSS_OK)
        atomic_store(&model->lost, true);
    return st;
}

/* ---- the other ranks: receiving -------------------------------------------------------------- */

/* A batch rebuilt from a TP_FORWARD payload; its arrays point into the payload. */
struct tp_batch {
    struct batch b;
    bool *need_logits;
    const uint32_t **tables[KV_N_GROUPS];
};

static void tp_batch_build(struct tp_batch *t, const struct tp_header *h, const uint32_t *p)
{
    uint32_t n = h->n_tokens, ns = h->n_seqs;
    memset(t, 0, sizeof(*t));
    t->b.n_tokens = n;
    t->b.n_seqs = ns;
    t->b.tokens = p;
    t->b.positions = p + n;
    t->b.seq_of_token = p + 2 * n;
    t->need_logits = xmalloc((n ? n : 1) * sizeof(bool));
    for (uint32_t i = 0; i < n; i++)
        t->need_logits[i] = p[3 * n + i] != 0;
    t->b.need_logits = t->need_logits;
    const uint32_t *at = p + 4 * n;
    for (int g = 0; g < KV_N_GROUPS; g++) {
        if (!(h->has_group >> g & 1))
            continue;
        t->b.slots[g] = at;
        at += n;
        const uint32_t *len = at;
        at += ns;
        t->tables[g] = xmalloc((ns ? ns : 1) * sizeof(*t->tables[g]));
        for (uint32_t s = 0; s < ns; s++) {
            t->tables[g][s] = at;
            at += len[s];
        }
        t->b.block_tables[g] = (const uint32_t *const *)t->tables[g];
    }
}

static void tp_batch_free(struct tp_batch *t)
{
    free(t->need_logits);
    for (int g = 0; g < KV_N_GROUPS; g++)
        free(t->tables[g]);
}

enum gptoss_status model_worker_run(struct model *model)
{
    if (!model->comm || model->comm->size <= 1 || model->shard.rank == 0)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "only a tensor-parallel rank other than 0 runs the worker loop");
    uint32_t *payload = NULL;
    size_t cap = 0;
    for (;;) {
        struct tp_header h;
        enum gptoss_status st = comm_bcast(model->comm, &h, sizeof h);
        if (st != GPTOSS_OK) {
            free(payload);
            return error_wrap(st, "rank %u: ", model->shard.rank);
        }
        if (h.op == TP_QUIT)
            break;
        if (h.op == TP_KV_ALLOC) {
            /* A failure is reported through the agreement to rank 0, which reports it. */
            (void)model_kv_alloc_rank(model, h.n_blocks);
            continue;
        }
        GPTOSS_ASSERT(h.op == TP_FORWARD);
        if (h.n_words > cap) {
            free(payload);
            cap = h.n_words;
            payload = xmalloc(cap * sizeof(uint32_t));
        }
        st = comm_bcast(model->comm, payload, h.n_words * sizeof(uint32_t));
        if (st != GPTOSS_OK) {
            free(payload);
            return error_wrap(st, "rank %u: ", model->shard.rank);
        }
        struct tp_batch t;
        tp_batch_build(&t, &h, payload);
        (void)model_forward_local(model, &t.b, NULL); /* as above: failures are agreed on */
        tp_batch_free(&t);
    }
    free(payload);
    return GPTOSS_OK;
}

/* ---- a thread group -------------------------------------------------------------------------- */

struct tp_rank_thread {
    struct model_tp_threads *group;
    uint32_t rank;
    struct comm *comm;
    pthread_t thread;
    enum gptoss_status status; /* of its load */
    struct model *model;       /* once loaded, until the group stops */
    char error[256];
};

struct model_tp_threads {
    const char *dir;
    struct model_options options; /* n_threads: per rank */
    uint32_t n;
    struct tp_rank_thread *ranks; /* [n]; [0] unused (rank 0 is the caller) */
};

static void *tp_rank_main(void *arg)
{
    struct tp_rank_thread *t = arg;
    struct model_tp_threads *g = t->group;
    struct backend_cpu_context *ctx = backend_cpu_context_create(g->options.n_threads);
    backend_cpu_bind(ctx);
    struct model *model = NULL;
    struct comm *comm = t->comm;
    t->status = model_load_rank(g->dir, &g->options, comm, &model);
    if (t->status != GPTOSS_OK)
        snprintf(t->error, sizeof t->error, "%s", error_message());
    t->model = model;
    bool all = model_tp_agree(comm, t->status == GPTOSS_OK);
    if (all)
        (void)model_worker_run(model);
    if (model)
        model_destroy(model); /* destroys comm with it */
    else
        comm_destroy(comm);
    backend_cpu_bind(NULL);
    backend_cpu_context_destroy(ctx);
    return NULL;
}

/* Loads n ranks as threads: this thread is rank 0. */
static enum gptoss_status tp_load_threads(const char *dir, const struct model_options *options,
                                          uint32_t n, struct model **model_out)
{
    struct comm **comms = xcalloc(n, sizeof(*comms));
    enum gptoss_status st = comm_threads_create(n, comms);
    if (st != GPTOSS_OK) {
        free(comms);
        return st;
    }
    struct model_tp_threads *g = xcalloc(1, sizeof(*g));
    g->dir = dir;
    g->options = *options;
    g->options.progress = NULL; /* rank 0 reports for all */
    uint32_t total = options->n_threads ? options->n_threads : threadpool_default_threads();
    g->options.n_threads = total / n ? total / n : 1;
    g->n = n;
    g->ranks = xcalloc(n, sizeof(*g->ranks));
    for (uint32_t r = 1; r < n; r++) {
        struct tp_rank_thread *t = &g->ranks[r];
        *t = (struct tp_rank_thread){.group = g, .rank = r, .comm = comms[r]};
        if (pthread_create(&t->thread, NULL, tp_rank_main, t) != 0) {
            /* Without all its ranks the group cannot run: a thread that did start waits in
             * the agreement forever, so this is fatal rather than an error to return. */
            fprintf(stderr, "gptoss: cannot start the thread of tensor-parallel rank %u\n", r);
            abort();
        }
    }
    struct model_options o0 = g->options;
    o0.progress = options->progress;
    struct model *model = NULL;
    st = model_load_rank(dir, &o0, comms[0], &model);
    bool all = model_tp_agree(comms[0], st == GPTOSS_OK);
    if (!all) {
        if (st == GPTOSS_OK) {
            for (uint32_t r = 1; r < n; r++)
                if (g->ranks[r].status != GPTOSS_OK) {
                    st = error_set(g->ranks[r].status, "tensor-parallel rank %u: %s", r,
                                   g->ranks[r].error);
                    break;
                }
            model->comm = NULL; /* the workers are not listening: no QUIT to send */
            model_destroy(model);
            comm_destroy(comms[0]);
        } else {
            comm_destroy(comms[0]);
        }
        for (uint32_t r = 1; r < n; r++)
            pthread_join(g->ranks[r].thread, NULL);
        free(g->ranks);
        free(g);
        free(comms);
        return st;
    }
    model->threads = g;
    free(comms);
    *model_out = model;
    return GPTOSS_OK;
}

void model_tp_stop(struct model *model)
{
    if (!model->comm || model->comm->size <= 1)
        return;
    struct tp_header h = {.op = TP_QUIT};
    /* With a rank lost there may be nobody to hear it: do not wait on them. */
    if (!atomic_load(&model->lost))
        (void)comm_bcast(model->comm, &h, sizeof h);
    struct model_tp_threads *g = model->threads;
    if (!g)
        return;
    for (uint32_t r = 1; r < g->n; r++)
        pthread_join(g->ranks[r].thread, NULL);
    free(g->ranks);
    free(g);
    model->threads = NULL;
}

const struct model *model_rank_model(const struct model *model, uint32_t rank)
{
    if (rank == model->shard.rank)
        return model;
    if (model->threads && rank < model->threads->n && model->shard.rank == 0)
        return model->threads->ranks[rank].model;
    return NULL;
}

/* ---- loading ----------------------------------------------------------------------------------
 */

enum gptoss_status model_load(const char *dir, const struct model_options *options,
                              struct model **model_out)
{
    *model_out = NULL;
    struct model_options none = {0};
    const struct model_options *o = options ? options : &none;
    uint32_t n = o->tensor_parallel_size ? o->tensor_parallel_size : 1;
    if (n > 64)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "--tensor-parallel-size %u: at most 64 ranks",
                         n);
    if (o->distributed_mpi) {
        struct comm *comm;
        enum gptoss_status st = comm_mpi_create(&comm);
        if (st != GPTOSS_OK)
            return st;
        if (o->tensor_parallel_size && o->tensor_parallel_size != comm->size) {
            st = error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                           "--tensor-parallel-size %u does not match the %u processes of the "
                           "MPI job (mpirun -np)",
                           o->tensor_parallel_size, comm->size);
            model_tp_agree(comm, false);
            comm_destroy(comm);
            return st;
        }
        struct model *model = NULL;
        st = model_load_rank(dir, o, comm, &model);
        if (!model_tp_agree(comm, st == GPTOSS_OK)) {
            if (st == GPTOSS_OK) {
                st = error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                               "another MPI rank could not load its part of the model (its "
                               "output says why)");
                model->comm = NULL;
                model_destroy(model);
            }
            comm_destroy(comm);
            return st;
        }
        *model_out = model;
        return GPTOSS_OK;
    }
    if (n == 1)
        return model_load_rank(dir, o, NULL, model_out);
    return tp_load_threads(dir, o, n, model_out);
}
