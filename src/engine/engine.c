/* engine.c — the step loop: schedule, execute, update, on a thread of its own.
 *
 *     engine_submit ─┐                       ┌─► on_output(user, token / finish)
 *     engine_abort ──┤ (mutex)   step loop:  │
 *                    └─► incoming ─► sched_schedule ─► model_forward ─► sample, stop checks
 *
 * Only the step thread touches requests once they are queued; other threads talk to it through
 * the incoming list and the abort list under one mutex, and read statistics copied out after
 * every step. The KV cache is split between the two KV groups here: the sliding-window pool
 * needs only each running request's window plus the step's new tokens, everything else goes to
 * the full-attention pool.
 */
#include "engine/engine.h"
#include "engine/request.h"
#include "engine/sched.h"

#include "base/error.h"
#include "base/log.h"
#include "base/xalloc.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct engine {
    struct engine_config cfg;
    struct model *model;
    uint32_t n_vocab;
    struct kv_manager *kv;
    uint32_t n_blocks[KV_N_GROUPS];
    struct sched sched;
    struct sampler *sampler;

    /* Step buffers, sized for the limits. */
    float *logits; /* [max_num_seqs][V] */
    float *raw;    /* [V] an unmodified row, for logprobs */
    uint32_t *tokens, *positions, *seq_of_token, *slots[KV_N_GROUPS];
    bool *need_logits;
    const uint32_t **tables[KV_N_GROUPS]; /* [max_num_seqs] */
    struct engine_logprob *top;           /* [ENGINE_MAX_TOP_LOGPROBS] */

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct request *incoming_head, *incoming_tail; /* under lock */
    uint64_t *aborts;                              /* under lock */
    size_t n_aborts, cap_aborts;
    bool stopping;             /* under lock */
    uint64_t next_id;          /* under lock */
    uint32_t n_incoming;       /* under lock */
    struct engine_stats stats; /* under lock */
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- Reporting ------------------------------------------------------------------------------- */

static void report(struct engine *e, struct request *r, bool with_token,
                   const struct engine_logprob *lp, uint32_t n_top, enum engine_finish finish)
{
    struct engine_output out = {
        .request_id = r->id,
        .token = with_token ? r->tokens[r->n_tokens - 1] : 0,
        .n_tokens = with_token ? 1 : 0,
        .logprob = lp,
        .top = n_top ? e->top : NULL,
        .n_top = n_top,
        .finish = finish,
        .n_prompt_tokens = r->n_prompt,
        .n_cached_tokens = r->n_cached,
        .n_output_tokens = r->n_tokens - r->n_prompt,
        .t_arrival = r->t_arrival,
        .t_scheduled = r->t_scheduled,
        .t_first_token = r->t_first_token,
        .t_now = now_seconds(),
    };
    if (r->on_output)
        r->on_output(r->user, &out);
}

static void finish(struct engine *e, struct request *r, enum engine_finish why)
{
    sched_remove(&e->sched, r);
    r->state = why == ENGINE_FINISH_STOP     ? REQUEST_FINISHED_STOP
               : why == ENGINE_FINISH_LENGTH ? REQUEST_FINISHED_LENGTH
                                             : REQUEST_FINISHED_ABORT;
    if (why == ENGINE_FINISH_ABORT)
        report(e, r, false, NULL, 0, why);
    pthread_mutex_lock(&e->lock);
    e->stats.n_finished[why]++;
    pthread_mutex_unlock(&e->lock);
    request_destroy(r);
}

/* ---- Logprobs -------------------------------------------------------------------------------- */

/* log-softmax of the raw logits for the sampled token and the k most likely ones. */
static void logprobs(struct engine *e, const float *row, uint32_t token, uint32_t k,
                     struct engine_logprob *sampled)
{
    uint32_t V = e->n_vocab;
    float max = -INFINITY;
    for (uint32_t v = 0; v < V; v++)
        if (row[v] > max)
            max = row[v];
    double sum = 0;
    for (uint32_t v = 0; v < V; v++)
        sum += exp((double)row[v] - max);
    float log_z = max + (float)log(sum);
    sampled->token = token;
    sampled->logprob = row[token] - log_z;
    /* Insertion into a k-long sorted list: k is at most 20. */
    uint32_t n = 0;
    for (uint32_t v = 0; v < V && k > 0; v++) {
        float x = row[v];
        if (n == k && !(x > e->top[n - 1].logprob))
            continue;
        uint32_t i = n < k ? n++ : k - 1;
        while (i > 0 && x > e->top[i - 1].logprob) {
            e->top[i] = e->top[i - 1];
            i--;
        }
        e->top[i].token = v;
        e->top[i].logprob = x;
    }
    for (uint32_t i = 0; i < n; i++)
        e->top[i].logprob -= log_z;
}

/* ---- One step -------------------------------------------------------------------------------- */

static enum gptoss_status execute(struct engine *e)
{
    struct sched *s = &e->sched;
    uint32_t n = 0, n_rows = 0;
    for (uint32_t i = 0; i < s->n_items; i++) {
        const struct sched_item *it = &s->items[i];
        struct request *r = it->r;
        for (int g = 0; g < KV_N_GROUPS; g++)
            e->tables[g][i] = r->kv.tables[g];
        for (uint32_t j = 0; j < it->n_new; j++, n++) {
            uint32_t p = r->n_computed + j;
            e->tokens[n] = r->tokens[p];
            e->positions[n] = p;
            e->seq_of_token[n] = i;
            for (int g = 0; g < KV_N_GROUPS; g++)
                e->slots[g][n] =
                    e->n_blocks[g]
                        ? r->kv.tables[g][p / KV_BLOCK_SIZE] * KV_BLOCK_SIZE + p % KV_BLOCK_SIZE
                        : 0;
            e->need_logits[n] = it->sample && j == it->n_new - 1;
            n_rows += e->need_logits[n];
        }
    }
    struct batch batch = {
        .n_tokens = n,
        .n_seqs = s->n_items,
        .tokens = e->tokens,
        .positions = e->positions,
        .seq_of_token = e->seq_of_token,
        .slots = {e->slots[0], e->slots[1]},
        .block_tables = {(const uint32_t *const *)e->tables[0],
                         (const uint32_t *const *)e->tables[1]},
        .need_logits = e->need_logits,
    };
    (void)n_rows;
    return model_forward(e->model, &batch, e->logits);
}

static void update(struct engine *e, double t_step)
{
    struct sched *s = &e->sched;
    uint64_t n_prompt_tokens = 0, n_generated = 0;
    /* Copy the items: finishing a request edits the running list. */
    uint32_t n_items = s->n_items, row = 0;
    for (uint32_t i = 0; i < n_items; i++) {
        struct sched_item it = s->items[i];
        struct request *r = it.r;
        if (r->t_scheduled == 0)
            r->t_scheduled = t_step;
        uint32_t prompt_part = 0;
        if (r->n_computed - it.n_new < r->n_prompt) {
            uint32_t end = r->n_computed < r->n_prompt ? r->n_computed : r->n_prompt;
            prompt_part = end - (r->n_computed - it.n_new);
        }
        n_prompt_tokens += prompt_part;
        if (!it.sample)
            continue;
        float *logits = e->logits + (size_t)row++ * e->n_vocab;
        struct engine_logprob lp;
        uint32_t n_top = r->logprobs ? r->top_logprobs : 0;
        /* Logprobs describe the model's own distribution: keep the raw row, since sampling
         * edits it in place (bias, penalties, temperature). */
        if (r->logprobs)
            memcpy(e->raw, logits, e->n_vocab * sizeof(float));
        uint32_t token =
            sampler_sample(e->sampler, &r->sampling, logits, r->tokens, r->n_prompt,
                           r->tokens + r->n_prompt, r->n_tokens - r->n_prompt, &r->rng);
        if (r->logprobs)
            logprobs(e, e->raw, token, n_top, &lp);
        r->tokens[r->n_tokens++] = token;
        n_generated++;
        if (r->t_first_token == 0)
            r->t_first_token = now_seconds();
        enum engine_finish why = ENGINE_RUNNING;
        for (uint32_t k = 0; k < r->n_stop_ids; k++)
            if (token == r->stop_ids[k])
                why = ENGINE_FINISH_STOP;
        if (why == ENGINE_RUNNING && r->n_tokens >= r->cap)
            why = ENGINE_FINISH_LENGTH;
        report(e, r, true, r->logprobs ? &lp : NULL, n_top, why);
        if (why != ENGINE_RUNNING)
            finish(e, r, why);
    }
    pthread_mutex_lock(&e->lock);
    e->stats.prompt_tokens += n_prompt_tokens;
    e->stats.generation_tokens += n_generated;
    pthread_mutex_unlock(&e->lock);
}

/* Takes what other threads queued: new requests and aborts. Returns false when stopping. */
static bool take_incoming(struct engine *e, bool block)
{
    pthread_mutex_lock(&e->lock);
    while (block && !e->stopping && !e->incoming_head && e->n_aborts == 0)
        pthread_cond_wait(&e->wake, &e->lock);
    struct request *in = e->incoming_head;
    e->incoming_head = e->incoming_tail = NULL;
    e->n_incoming = 0;
    size_t n_aborts = e->n_aborts;
    uint64_t *aborts = NULL;
    if (n_aborts) {
        aborts = xmalloc(n_aborts * sizeof(uint64_t));
        memcpy(aborts, e->aborts, n_aborts * sizeof(uint64_t));
        e->n_aborts = 0;
    }
    bool stopping = e->stopping;
    pthread_mutex_unlock(&e->lock);

    while (in) {
        struct request *next = in->next;
        sched_add(&e->sched, in);
        in = next;
    }
    for (size_t i = 0; i < n_aborts; i++) {
        struct request *victim = NULL;
        for (uint32_t k = 0; k < e->sched.n_running && !victim; k++)
            if (e->sched.running[k]->id == aborts[i])
                victim = e->sched.running[k];
        for (struct request *r = e->sched.waiting_head; r && !victim; r = r->next)
            if (r->id == aborts[i])
                victim = r;
        if (victim)
            finish(e, victim, ENGINE_FINISH_ABORT);
    }
    free(aborts);
    return !stopping;
}

static void publish_stats(struct engine *e)
{
    struct kv_stats ks;
    kv_manager_stats(e->kv, &ks);
    uint32_t total = 0, used = 0;
    pthread_mutex_lock(&e->lock);
    for (int g = 0; g < KV_N_GROUPS; g++) {
        total += ks.n_blocks[g];
        used += ks.n_blocks[g] - ks.n_free[g];
        e->stats.kv_blocks_used[g] = ks.n_blocks[g] - ks.n_free[g];
        e->stats.kv_blocks_total[g] = ks.n_blocks[g];
    }
    e->stats.n_running = e->sched.n_running;
    e->stats.n_waiting = e->sched.n_waiting + e->n_incoming;
    e->stats.kv_usage = total ? (double)used / total : 0;
    e->stats.prefix_queries = ks.prefix_queries;
    e->stats.prefix_hits = ks.prefix_hits;
    e->stats.n_preemptions = e->sched.n_preemptions;
    e->stats.n_steps++;
    pthread_mutex_unlock(&e->lock);
}

static void *engine_main(void *arg)
{
    struct engine *e = arg;
    for (;;) {
        bool idle = e->sched.n_running == 0 && e->sched.n_waiting == 0;
        if (!take_incoming(e, idle))
            break;
        sched_schedule(&e->sched);
        if (e->sched.n_items == 0) {
            publish_stats(e);
            if (e->sched.n_running || e->sched.n_waiting) {
                /* Nothing fits right now; let aborts or finishing requests free room. */
                struct timespec ts = {0, 5 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
            continue;
        }
        double t_step = now_seconds();
        enum gptoss_status st = execute(e);
        if (st != GPTOSS_OK) {
            /* A batch the model refuses is a scheduler bug; fail those requests, keep serving. */
            log_error("engine: step failed: %s", error_message());
            for (uint32_t i = e->sched.n_items; i-- > 0;)
                finish(e, e->sched.items[i].r, ENGINE_FINISH_ABORT);
            publish_stats(e);
            continue;
        }
        sched_commit(&e->sched);
        update(e, t_step);
        publish_stats(e);
    }
    /* Shutdown: everyone still here is aborted. */
    while (e->sched.n_running)
        finish(e, e->sched.running[e->sched.n_running - 1], ENGINE_FINISH_ABORT);
    while (e->sched.waiting_head)
        finish(e, e->sched.waiting_head, ENGINE_FINISH_ABORT);
    return NULL;
}

/* ---- Life cycle ------------------------------------------------------------------------------ */

/* Splits kv_cache_bytes between the pools: the sliding pool holds, for every request that may
 * run, its window plus the largest chunk a step can add; the rest is full-attention blocks. */
static enum gptoss_status engine_size_kv(struct engine *e)
{
    const struct model_config *c = model_config(e->model);
    uint64_t full_bytes = model_kv_block_bytes(e->model, KV_GROUP_FULL);
    uint64_t sliding_bytes = model_kv_block_bytes(e->model, KV_GROUP_SLIDING);
    uint64_t n_sliding = 0;
    if (sliding_bytes) {
        uint64_t per_seq = (c->sliding_window - 1 + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE + 2;
        n_sliding = (uint64_t)e->cfg.max_num_seqs * per_seq +
                    (e->cfg.max_num_batched_tokens + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE;
    }
    uint64_t need_full = (e->cfg.max_model_len + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE + 1;
    uint64_t n_full = 0;
    if (full_bytes) {
        if (e->cfg.kv_cache_bytes <= n_sliding * sliding_bytes)
            n_full = 0;
        else
            n_full = (e->cfg.kv_cache_bytes - n_sliding * sliding_bytes) / full_bytes;
        if (n_full < need_full)
            return error_set(
                GPTOSS_ERR_INVALID_ARGUMENT,
                "--kv-cache-memory %llu bytes cannot hold one %u-token request "
                "(needs %llu bytes at --max-num-seqs %u); raise it or lower "
                "--max-model-len",
                (unsigned long long)e->cfg.kv_cache_bytes, e->cfg.max_model_len,
                (unsigned long long)(need_full * full_bytes + n_sliding * sliding_bytes),
                e->cfg.max_num_seqs);
        if (n_full > UINT32_MAX / KV_BLOCK_SIZE)
            n_full = UINT32_MAX / KV_BLOCK_SIZE;
    } else {
        /* Only sliding layers: every request needs just its window. */
        n_sliding = e->cfg.kv_cache_bytes / sliding_bytes;
    }
    e->n_blocks[KV_GROUP_FULL] = (uint32_t)n_full;
    e->n_blocks[KV_GROUP_SLIDING] = (uint32_t)n_sliding;
    enum gptoss_status st = model_kv_alloc(e->model, e->n_blocks);
    if (st != GPTOSS_OK)
        return st;
    struct kv_manager_config kc = {
        .n_blocks = {e->n_blocks[0], e->n_blocks[1]},
        .sliding_window = c->sliding_window,
        .prefix_caching = e->cfg.enable_prefix_caching,
    };
    return kv_manager_create(&kc, &e->kv);
}

static enum gptoss_status engine_buffers(struct engine *e)
{
    size_t nt = e->cfg.max_num_batched_tokens, ns = e->cfg.max_num_seqs;
    e->logits = malloc(ns * e->n_vocab * sizeof(float));
    e->raw = malloc(e->n_vocab * sizeof(float));
    if (!e->logits || !e->raw)
        return error_set(GPTOSS_ERR_NOMEM, "cannot allocate logits for %zu sequences", ns);
    e->tokens = xmalloc(nt * sizeof(uint32_t));
    e->positions = xmalloc(nt * sizeof(uint32_t));
    e->seq_of_token = xmalloc(nt * sizeof(uint32_t));
    e->need_logits = xmalloc(nt * sizeof(bool));
    for (int g = 0; g < KV_N_GROUPS; g++) {
        e->slots[g] = xmalloc(nt * sizeof(uint32_t));
        e->tables[g] = xcalloc(ns, sizeof(*e->tables[g]));
    }
    e->top = xmalloc(ENGINE_MAX_TOP_LOGPROBS * sizeof(*e->top));
    e->sampler = sampler_create(e->n_vocab);
    if (!e->sampler)
        return error_set(GPTOSS_ERR_NOMEM, "cannot allocate the sampler");
    return GPTOSS_OK;
}

enum gptoss_status engine_create(const struct engine_config *config, struct engine **engine_out)
{
    *engine_out = NULL;
    const struct model_config *c = model_config(config->model);
    if (config->max_num_seqs == 0 || config->max_num_batched_tokens == 0 ||
        config->max_model_len < 2 || config->max_model_len > c->max_position)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "engine limits out of range (max_model_len must be 2..%u)",
                         c->max_position);
    struct engine *e = xcalloc(1, sizeof(*e));
    e->cfg = *config;
    e->model = config->model;
    e->n_vocab = c->n_vocab;
    e->next_id = 1;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->wake, NULL);
    enum gptoss_status st = engine_size_kv(e);
    if (st == GPTOSS_OK)
        st = engine_buffers(e);
    if (st != GPTOSS_OK)
        goto fail;
    sched_init(&e->sched, e->kv, config->max_num_seqs, config->max_num_batched_tokens);
    e->stats.kv_tokens = e->n_blocks[KV_GROUP_FULL] * KV_BLOCK_SIZE;
    for (int g = 0; g < KV_N_GROUPS; g++)
        e->stats.kv_blocks_total[g] = e->n_blocks[g];
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        st = error_set(GPTOSS_ERR_INTERNAL, "cannot start the engine thread");
        goto fail;
    }
    e->thread_started = true;
    *engine_out = e;
    return GPTOSS_OK;
fail:
    engine_destroy(e);
    return st;
}

void engine_destroy(struct engine *e)
{
    if (!e)
        return;
    if (e->thread_started) {
        pthread_mutex_lock(&e->lock);
        e->stopping = true;
        pthread_cond_signal(&e->wake);
        pthread_mutex_unlock(&e->lock);
        pthread_join(e->thread, NULL);
    }
    /* Requests submitted after the thread stopped were never seen by it. */
    while (e->incoming_head) {
        struct request *r = e->incoming_head;
        e->incoming_head = r->next;
        report(e, r, false, NULL, 0, ENGINE_FINISH_ABORT);
        request_destroy(r);
    }
    if (e->sched.running)
        sched_deinit(&e->sched);
    kv_manager_destroy(e->kv);
    sampler_destroy(e->sampler);
    free(e->logits);
    free(e->raw);
    free(e->tokens);
    free(e->positions);
    free(e->seq_of_token);
    free(e->need_logits);
    for (int g = 0; g < KV_N_GROUPS; g++) {
        free(e->slots[g]);
        free(e->tables[g]);
    }
    free(e->top);
    free(e->aborts);
    pthread_cond_destroy(&e->wake);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

enum gptoss_status engine_submit(struct engine *e, const struct engine_request *in,
                                 uint64_t *request_id_out)
{
    *request_id_out = 0;
    if (in->n_prompt == 0)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "the prompt is empty");
    if (in->n_prompt >= e->cfg.max_model_len)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                         "the prompt has %u tokens; the maximum context length is %u, and at "
                         "least one token must be left for the output",
                         in->n_prompt, e->cfg.max_model_len);
    if (in->max_tokens == 0)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "max_tokens must be at least 1");
    if (in->n_stop_ids > ENGINE_MAX_STOP_IDS || in->top_logprobs > ENGINE_MAX_TOP_LOGPROBS)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "too many stop ids or top_logprobs");
    for (uint32_t i = 0; i < in->n_prompt; i++)
        if (in->prompt[i] >= e->n_vocab)
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                             "prompt token %u is outside the vocabulary (%u)", in->prompt[i],
                             e->n_vocab);
    enum gptoss_status st = sampling_params_validate(&in->sampling, e->n_vocab);
    if (st != GPTOSS_OK)
        return st;
    pthread_mutex_lock(&e->lock);
    uint64_t id = e->next_id++;
    pthread_mutex_unlock(&e->lock);
    struct request *r = request_create(id, in, e->cfg.max_model_len);
    r->t_arrival = now_seconds();
    pthread_mutex_lock(&e->lock);
    if (e->incoming_tail)
        e->incoming_tail->next = r;
    else
        e->incoming_head = r;
    e->incoming_tail = r;
    e->n_incoming++;
    e->stats.n_waiting++;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
    *request_id_out = id;
    return GPTOSS_OK;
}

void engine_abort(struct engine *e, uint64_t request_id)
{
    pthread_mutex_lock(&e->lock);
    e->aborts = xgrow(e->aborts, &e->cap_aborts, e->n_aborts + 1, sizeof(uint64_t));
    e->aborts[e->n_aborts++] = request_id;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
}

void engine_stats(struct engine *e, struct engine_stats *stats)
{
    pthread_mutex_lock(&e->lock);
    *stats = e->stats;
    pthread_mutex_unlock(&e->lock);
}
