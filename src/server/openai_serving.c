/* openai_serving.c — POST /v1/chat/completions and POST /v1/completions over the engine.
 *
 * A request becomes a job: one engine request per choice (n per prompt), each with its own
 * output translator (harmony → OpenAI for chat, streaming detokenizer for completions). The
 * engine thread feeds tokens through on_output(), which translates them under the job's lock
 * and either appends Server-Sent Events for the connection thread to send or, for a plain
 * response, just accumulates. The connection thread waits on the job and polls whether the
 * client left; if it did, every choice is aborted, so its KV blocks return at the next step.
 *
 * A job is freed by whichever side lets go last: the HTTP side (response sent or stream
 * closed) and each choice's final engine callback hold one reference each.
 */
#include "server/openai_output.h"
#include "server/server_internal.h"

#include "base/error.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "harmony/harmony.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct job;

struct choice {
    struct job *job;
    uint32_t index;
    uint64_t engine_id;
    bool submitted;
    struct openai_output *out;  /* chat */
    struct tokenizer_stream ts; /* completions */
    struct buf text;            /* completions: all text so far (echo included) */
    size_t text_sent;           /* completions: bytes already streamed */
    size_t echo_len;            /* completions: bytes of echoed prompt at the start of text */
    json_t *logprobs;           /* chat: [items]; completions: {tokens, token_logprobs, ...} */
    size_t logprobs_sent;       /* chat streaming: items already attached to a chunk */
    enum engine_finish finish;
    bool stop_hit; /* a stop string matched; the engine request was aborted */
    bool done;
    uint32_t n_prompt, n_output, n_cached;
};

struct job {
    struct server *s;
    enum openai_api api;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;
    char id[48];
    long long created;
    const char *model_name;
    struct openai_params params;
    struct choice *choices;
    uint32_t n_choices, n_done;
    struct buf sse; /* stream: bytes not yet handed to the connection */
    size_t sse_pos;
    bool sse_end;       /* "data: [DONE]" appended */
    struct arena arena; /* request-scoped parsing */
};

/* ---- Job life -------------------------------------------------------------------------------- */

static void job_free(struct job *j)
{
    for (uint32_t i = 0; i < j->n_choices; i++) {
        openai_output_destroy(j->choices[i].out);
        buf_deinit(&j->choices[i].text);
        json_decref(j->choices[i].logprobs);
    }
    free(j->choices);
    buf_deinit(&j->sse);
    arena_deinit(&j->arena);
    pthread_cond_destroy(&j->cond);
    pthread_mutex_destroy(&j->lock);
    free(j);
}

/* Drops one reference; the caller holds the lock, which this releases. */
static void job_unref_locked(struct job *j)
{
    bool last = --j->refs == 0;
    pthread_mutex_unlock(&j->lock);
    if (last)
        job_free(j);
}

static void job_abort_all(struct job *j)
{
    for (uint32_t i = 0; i < j->n_choices; i++)
        if (j->choices[i].submitted && !j->choices[i].done)
            engine_abort(j->s->engine, j->choices[i].engine_id);
}

/* ---- Logprobs -------------------------------------------------------------------------------- */

static json_t *token_text(const struct tokenizer *tok, uint32_t id, json_t **bytes_out)
{
    size_t len = 0;
    const char *p = tokenizer_token_bytes(tok, id, &len);
    struct buf b;
    buf_init(&b);
    utf8_append_lossy(&b, (const unsigned char *)p, p ? len : 0);
    json_t *s = json_stringn(b.data ? b.data : "", b.len);
    buf_deinit(&b);
    if (bytes_out) {
        *bytes_out = json_array();
        for (size_t i = 0; i < len; i++)
            json_array_append_new(*bytes_out, json_integer((unsigned char)p[i]));
    }
    return s;
}

static void chat_logprob_add(struct choice *c, const struct tokenizer *tok,
                             const struct engine_output *o)
{
    json_t *bytes, *top = json_array();
    for (uint32_t i = 0; i < o->n_top; i++) {
        json_t *tb;
        json_t *t = token_text(tok, o->top[i].token, &tb);
        json_array_append_new(top, json_pack("{s:o,s:f,s:o}", "token", t, "logprob",
                                             (double)o->top[i].logprob, "bytes", tb));
    }
    json_t *t = token_text(tok, o->token, &bytes);
    json_array_append_new(c->logprobs, json_pack("{s:o,s:f,s:o,s:o}", "token", t, "logprob",
                                                 (double)o->logprob->logprob, "bytes", bytes,
                                                 "top_logprobs", top));
}

static void completion_logprob_add(struct choice *c, const struct tokenizer *tok,
                                   const struct engine_output *o, size_t offset)
{
    json_t *top = json_object();
    for (uint32_t i = 0; i < o->n_top; i++) {
        json_t *t = token_text(tok, o->top[i].token, NULL);
        json_object_set_new(top, json_string_value(t), json_real(o->top[i].logprob));
        json_decref(t);
    }
    json_array_append_new(json_object_get(c->logprobs, "tokens"), token_text(tok, o->token, NULL));
    json_array_append_new(json_object_get(c->logprobs, "token_logprobs"),
                          json_real(o->logprob->logprob));
    json_array_append_new(json_object_get(c->logprobs, "top_logprobs"), top);
    json_array_append_new(json_object_get(c->logprobs, "text_offset"), json_integer(offset));
}

/* ---- Server-Sent Events ---------------------------------------------------------------------- */

static void sse_event(struct job *j, json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    buf_printf(&j->sse, "data: %s\n\n", text);
    free(text);
}

static json_t *usage_json(const struct job *j)
{
    uint32_t completion = 0, prompt = 0, cached = 0;
    for (uint32_t i = 0; i < j->n_choices; i++) {
        completion += j->choices[i].n_output;
        /* Every choice of one prompt saw the same prompt: count it once per prompt. */
        if (i % j->params.n == 0) {
            prompt += j->choices[i].n_prompt;
            cached += j->choices[i].n_cached;
        }
    }
    return json_pack("{s:i,s:i,s:i,s:{s:i}}", "prompt_tokens", (int)prompt, "completion_tokens",
                     (int)completion, "total_tokens", (int)(prompt + completion),
                     "prompt_tokens_details", "cached_tokens", (int)cached);
}

static json_t *chunk_base(const struct job *j)
{
    return json_pack("{s:s,s:s,s:I,s:s}", "id", j->id, "object",
                     j->api == OPENAI_API_CHAT ? "chat.completion.chunk" : "text_completion",
                     "created", (json_int_t)j->created, "model", j->model_name);
}

static const char *finish_reason(const struct choice *c)
{
    if (c->stop_hit)
        return "stop";
    switch (c->finish) {
    case ENGINE_FINISH_LENGTH: return c->out ? openai_output_finish_reason(c->out, true) : "length";
    case ENGINE_FINISH_STOP: return c->out ? openai_output_finish_reason(c->out, false) : "stop";
    default: return "abort";
    }
}

/* Chat: one chunk per delta; pending logprob items ride on the first. */
static void chat_stream_deltas(struct job *j, struct choice *c, json_t *deltas, bool final)
{
    size_t i;
    json_t *delta;
    size_t n = json_array_size(deltas);
    for (i = 0; i < n || (final && i == n); i++) {
        delta = i < n ? json_incref(json_array_get(deltas, i)) : json_object();
        json_t *ch = json_pack("{s:i,s:o,s:n,s:n}", "index", (int)c->index, "delta", delta,
                               "logprobs", "finish_reason");
        if (c->logprobs && json_array_size(c->logprobs) > c->logprobs_sent) {
            json_t *items = json_array();
            for (size_t k = c->logprobs_sent; k < json_array_size(c->logprobs); k++)
                json_array_append(items, json_array_get(c->logprobs, k));
            c->logprobs_sent = json_array_size(c->logprobs);
            json_object_set_new(ch, "logprobs", json_pack("{s:o}", "content", items));
        }
        if (final && i == n)
            json_object_set_new(ch, "finish_reason", json_string(finish_reason(c)));
        json_t *chunk = chunk_base(j);
        json_object_set_new(chunk, "choices", json_pack("[o]", ch));
        sse_event(j, chunk);
    }
}

static void completion_stream_text(struct job *j, struct choice *c, bool final)
{
    size_t len = c->text.len - c->text_sent;
    if (len == 0 && !final)
        return;
    json_t *ch = json_pack("{s:i,s:s%,s:n,s:n}", "index", (int)c->index, "text",
                           c->text.data ? c->text.data + c->text_sent : "", len, "logprobs",
                           "finish_reason");
    c->text_sent = c->text.len;
    /* The logprobs of the tokens not yet sent ride on this chunk. */
    size_t n_lp = c->logprobs ? json_array_size(json_object_get(c->logprobs, "tokens")) : 0;
    if (n_lp > c->logprobs_sent) {
        static const char *const keys[] = {"tokens", "token_logprobs", "top_logprobs",
                                           "text_offset"};
        json_t *lp = json_object();
        for (size_t k = 0; k < 4; k++) {
            json_t *all = json_object_get(c->logprobs, keys[k]), *part = json_array();
            for (size_t i = c->logprobs_sent; i < n_lp; i++)
                json_array_append(part, json_array_get(all, i));
            json_object_set_new(lp, keys[k], part);
        }
        json_object_set_new(ch, "logprobs", lp);
        c->logprobs_sent = n_lp;
    }
    if (final)
        json_object_set_new(ch, "finish_reason", json_string(finish_reason(c)));
    json_t *chunk = chunk_base(j);
    json_object_set_new(chunk, "choices", json_pack("[o]", ch));
    sse_event(j, chunk);
}

/* ---- Engine side ----------------------------------------------------------------------------- */

/* Completions: the earliest stop string in the new text cuts it there. */
static bool completion_check_stop(struct job *j, struct choice *c, size_t from)
{
    for (uint32_t k = 0; k < j->params.n_stop; k++) {
        size_t sl = strlen(j->params.stop[k]);
        /* Only generated text can stop a request, never the echoed prompt. */
        size_t start = from >= sl ? from - sl + 1 : 0;
        if (start < c->echo_len)
            start = c->echo_len;
        for (size_t p = start; p + sl <= c->text.len; p++)
            if (memcmp(c->text.data + p, j->params.stop[k], sl) == 0) {
                c->text.len = p;
                c->text.data[p] = '\0';
                return true;
            }
    }
    return false;
}

/* Longest tail of the text that could still grow into a stop string: held back from streams. */
static size_t completion_holdback(const struct job *j, const struct choice *c)
{
    size_t hold = 0;
    for (uint32_t k = 0; k < j->params.n_stop; k++) {
        size_t sl = strlen(j->params.stop[k]);
        for (size_t h = sl - 1; h > hold; h--)
            if (h <= c->text.len - c->text_sent &&
                memcmp(c->text.data + c->text.len - h, j->params.stop[k], h) == 0) {
                hold = h;
                break;
            }
    }
    return hold;
}

static void on_output(void *user, const struct engine_output *o)
{
    struct choice *c = user;
    struct job *j = c->job;
    struct server *s = j->s;
    pthread_mutex_lock(&j->lock);
    bool finishing = o->finish != ENGINE_RUNNING;
    if (finishing)
        c->finish = o->finish; /* before any chunk is built: it carries the finish reason */
    c->n_prompt = o->n_prompt_tokens;
    c->n_cached = o->n_cached_tokens;
    json_t *deltas = json_array();
    if (o->n_tokens && !c->stop_hit) {
        c->n_output = o->n_output_tokens;
        if (j->api == OPENAI_API_CHAT) {
            if (o->logprob)
                chat_logprob_add(c, s->tok, o);
            if (openai_output_push(c->out, o->token, deltas)) {
                c->stop_hit = true;
                engine_abort(s->engine, c->engine_id);
            }
        } else {
            size_t before = c->text.len;
            bool is_eos = false;
            for (uint32_t k = 0; k < s->n_eos; k++)
                is_eos |= o->token == s->eos_ids[k];
            if (o->logprob)
                completion_logprob_add(c, s->tok, o, before);
            if (!is_eos)
                tokenizer_stream_push(&c->ts, o->token, &c->text);
            if (completion_check_stop(j, c, before)) {
                c->stop_hit = true;
                engine_abort(s->engine, c->engine_id);
            }
        }
    }
    if (finishing && j->api == OPENAI_API_CHAT)
        openai_output_finish(c->out, deltas);
    else if (finishing && !c->stop_hit)
        tokenizer_stream_flush(&c->ts, &c->text);
    if (j->params.stream) {
        if (j->api == OPENAI_API_CHAT) {
            chat_stream_deltas(j, c, deltas, finishing);
        } else {
            size_t hold = finishing ? 0 : completion_holdback(j, c);
            c->text.len -= hold;
            completion_stream_text(j, c, finishing);
            c->text.len += hold;
        }
    }
    json_decref(deltas);
    if (finishing) {
        c->done = true;
        j->n_done++;
        server_metrics_record(s, o);
        if (s->cfg.log_stats)
            log_info("%s choice %u: %u prompt tokens (%u cached), %u generated, %s; queued "
                     "%.3f s, first token %.3f s, total %.3f s",
                     j->id, c->index, o->n_prompt_tokens, o->n_cached_tokens, o->n_output_tokens,
                     finish_reason(c), o->t_scheduled > 0 ? o->t_scheduled - o->t_arrival : 0,
                     o->t_first_token > 0 ? o->t_first_token - o->t_arrival : 0,
                     o->t_now - o->t_arrival);
        if (j->params.stream && j->n_done == j->n_choices) {
            if (j->params.include_usage) {
                json_t *chunk = chunk_base(j);
                json_object_set_new(chunk, "choices", json_array());
                json_object_set_new(chunk, "usage", usage_json(j));
                sse_event(j, chunk);
            }
            buf_printf(&j->sse, "data: [DONE]\n\n");
            j->sse_end = true;
        }
    }
    pthread_cond_broadcast(&j->cond);
    if (finishing)
        job_unref_locked(j);
    else
        pthread_mutex_unlock(&j->lock);
}

/* ---- Stream source --------------------------------------------------------------------------- */

static long stream_read(void *user, char *out, size_t max)
{
    struct job *j = user;
    pthread_mutex_lock(&j->lock);
    if (j->sse_pos == j->sse.len && !j->sse_end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&j->cond, &j->lock, &ts);
    }
    long n;
    if (j->sse_pos < j->sse.len) {
        size_t left = j->sse.len - j->sse_pos;
        n = (long)(left < max ? left : max);
        memcpy(out, j->sse.data + j->sse_pos, (size_t)n);
        j->sse_pos += (size_t)n;
    } else {
        n = j->sse_end ? -1 : 0;
    }
    pthread_mutex_unlock(&j->lock);
    return n;
}

static void stream_close(void *user, enum http_close reason)
{
    struct job *j = user;
    pthread_mutex_lock(&j->lock);
    if (reason != HTTP_CLOSE_DONE)
        job_abort_all(j);
    job_unref_locked(j);
}

/* ---- Building and running a job -------------------------------------------------------------- */

static struct job *job_create(struct server *s, enum openai_api api, uint32_t n_choices)
{
    struct job *j = xcalloc(1, sizeof(*j));
    j->s = s;
    j->api = api;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    j->refs = 1;
    arena_init(&j->arena);
    buf_init(&j->sse);
    unsigned long long n = (unsigned long long)atomic_fetch_add(&s->next_id, 1);
    snprintf(j->id, sizeof(j->id), "%s-%llx%08llx", api == OPENAI_API_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)time(NULL), n);
    j->created = (long long)time(NULL);
    j->model_name = s->cfg.served_model_name;
    j->choices = xcalloc(n_choices, sizeof(*j->choices));
    j->n_choices = n_choices;
    for (uint32_t i = 0; i < n_choices; i++) {
        j->choices[i].job = j;
        j->choices[i].index = i;
        buf_init(&j->choices[i].text);
    }
    return j;
}

/* Copies the parsed parameters into the job; the stop strings move to the job's arena because
 * the engine side reads them after the handler's arena is gone. */
static void job_set_params(struct job *j, const struct openai_params *params)
{
    j->params = *params;
    j->params.stop = arena_calloc(&j->arena, params->n_stop ? params->n_stop : 1, sizeof(char *));
    for (uint32_t k = 0; k < params->n_stop; k++)
        j->params.stop[k] = arena_strdup(&j->arena, params->stop[k]);
    j->params.model = NULL;
}

/* --log-requests: one line per prompt with its text (as the model sees it, special tokens
 * included, escaped onto one line, cut at --max-log-len bytes) and the sampling parameters.
 * Without the flag prompts are never logged; keys never are. */
static void log_request(const struct job *j, const uint32_t *ids, size_t n_ids, uint32_t max_tokens)
{
    const struct server *s = j->s;
    if (!s->cfg.log_requests)
        return;
    struct buf text, line;
    buf_init(&text);
    buf_init(&line);
    tokenizer_decode(s->tok, ids, n_ids, /*skip_special=*/false, &text);
    size_t keep = text.len;
    if (s->cfg.max_log_len > 0 && keep > s->cfg.max_log_len) {
        keep = s->cfg.max_log_len;
        while (keep > 0 && ((unsigned char)text.data[keep] & 0xc0) == 0x80)
            keep--; /* not inside a UTF-8 sequence */
    }
    for (size_t i = 0; i < keep; i++) {
        unsigned char c = (unsigned char)text.data[i];
        if (c == '\n')
            buf_append(&line, "\\n", 2);
        else if (c == '"' || c == '\\')
            buf_printf(&line, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            buf_printf(&line, "\\x%02x", c);
        else
            buf_append(&line, (const char *)&c, 1);
    }
    char seed[32] = "none";
    if (j->params.has_seed)
        snprintf(seed, sizeof(seed), "%llu", (unsigned long long)j->params.seed);
    const struct sampling_params *sp = &j->params.sampling;
    log_info("%s: prompt (%zu tokens): \"%.*s\"%s; n %u, max_tokens %u, temperature %g, top_p %g, "
             "top_k %u, min_p %g, presence_penalty %g, frequency_penalty %g, repetition_penalty "
             "%g, seed %s, stream %s",
             j->id, n_ids, (int)line.len, line.data ? line.data : "",
             keep < text.len ? " (cut)" : "", j->params.n, max_tokens, (double)sp->temperature,
             (double)sp->top_p, sp->top_k, (double)sp->min_p, (double)sp->presence_penalty,
             (double)sp->frequency_penalty, (double)sp->repetition_penalty, seed,
             j->params.stream ? "yes" : "no");
    buf_deinit(&text);
    buf_deinit(&line);
}

/* Submits choice i for `prompt`. Holds the job's lock. */
static enum gptoss_status job_submit(struct job *j, uint32_t i, const uint32_t *prompt,
                                     uint32_t n_prompt, uint32_t max_tokens,
                                     const uint32_t *stop_ids, uint32_t n_stop_ids)
{
    struct choice *c = &j->choices[i];
    struct engine_request req = {
        .prompt = prompt,
        .n_prompt = n_prompt,
        .sampling = j->params.sampling,
        .max_tokens = max_tokens,
        .n_stop_ids = n_stop_ids,
        .logprobs = j->params.logprobs,
        .top_logprobs = j->params.top_logprobs,
        .on_output = on_output,
        .user = c,
    };
    memcpy(req.stop_ids, stop_ids, n_stop_ids * sizeof(uint32_t));
    /* A seed makes every choice repeatable; choices differ from each other by their index. */
    uint64_t base =
        j->params.has_seed ? j->params.seed : ((uint64_t)time(NULL) << 20) ^ (uint64_t)(uintptr_t)c;
    req.seed = base + 0x9e3779b97f4a7c15ull * (c->index % j->params.n);
    c->n_prompt = n_prompt;
    enum gptoss_status st = engine_submit(j->s->engine, &req, &c->engine_id);
    if (st == GPTOSS_OK) {
        c->submitted = true;
        j->refs++;
    }
    return st;
}

/* Waits for a non-streamed job, aborting it if the client leaves. True when all finished. */
static bool job_wait(struct job *j, struct http_exchange *ex)
{
    pthread_mutex_lock(&j->lock);
    bool aborted = false;
    while (j->n_done < j->n_choices) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&j->cond, &j->lock, &ts);
        if (!aborted && j->n_done < j->n_choices && http_exchange_client_gone(ex)) {
            job_abort_all(j);
            aborted = true;
        }
    }
    pthread_mutex_unlock(&j->lock);
    return !aborted;
}

static json_t *chat_response(struct job *j)
{
    json_t *choices = json_array();
    for (uint32_t i = 0; i < j->n_choices; i++) {
        struct choice *c = &j->choices[i];
        json_t *lp = c->logprobs ? json_pack("{s:O}", "content", c->logprobs) : json_null();
        json_array_append_new(choices, json_pack("{s:i,s:o,s:o,s:s}", "index", (int)i, "message",
                                                 openai_output_message(c->out), "logprobs", lp,
                                                 "finish_reason", finish_reason(c)));
    }
    return json_pack("{s:s,s:s,s:I,s:s,s:o,s:o}", "id", j->id, "object", "chat.completion",
                     "created", (json_int_t)j->created, "model", j->model_name, "choices", choices,
                     "usage", usage_json(j));
}

static json_t *completion_response(struct job *j)
{
    json_t *choices = json_array();
    for (uint32_t i = 0; i < j->n_choices; i++) {
        struct choice *c = &j->choices[i];
        json_array_append_new(choices,
                              json_pack("{s:i,s:s%,s:O?,s:s}", "index", (int)i, "text",
                                        c->text.data ? c->text.data : "", c->text.len, "logprobs",
                                        c->logprobs, "finish_reason", finish_reason(c)));
    }
    return json_pack("{s:s,s:s,s:I,s:s,s:o,s:o}", "id", j->id, "object", "text_completion",
                     "created", (json_int_t)j->created, "model", j->model_name, "choices", choices,
                     "usage", usage_json(j));
}

/* Answers the job: a stream (the connection pulls events) or, after waiting, one JSON body. */
static void job_respond(struct job *j, struct http_exchange *ex)
{
    if (j->params.stream) {
        struct http_stream_source src = {stream_read, stream_close, j};
        http_respond_stream(ex, 200, "text/event-stream", &src);
        return;
    }
    bool complete = job_wait(j, ex);
    pthread_mutex_lock(&j->lock);
    if (!complete)
        http_respond_error(ex, 499, "invalid_request_error", "the client closed the connection",
                           NULL, NULL);
    else
        http_respond_json(ex, 200,
                          j->api == OPENAI_API_CHAT ? chat_response(j) : completion_response(j));
    job_unref_locked(j);
}

/* Common request checks: body is a JSON object; the model is ours; the parameters parse. */
static json_t *request_start(struct server *s, struct http_exchange *ex, enum openai_api api,
                             struct openai_params *params, struct arena *arena)
{
    if (!server_check_ready(s, ex))
        return NULL;
    struct engine_stats es;
    engine_stats(s->engine, &es);
    if (es.n_waiting >= s->cfg.max_queued_requests) {
        http_respond_error(ex, 503, "server_error",
                           "the server is overloaded: too many requests are waiting; retry later",
                           NULL, NULL);
        return NULL;
    }
    json_t *req = server_body_json(ex);
    if (!req)
        return NULL;
    const char *param;
    enum gptoss_status st = openai_params_parse(req, api, &s->limits, arena, params, &param);
    if (st != GPTOSS_OK) {
        server_respond_status(ex, st, param);
        json_decref(req);
        return NULL;
    }
    if (params->model && strcmp(params->model, s->cfg.served_model_name) != 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "The model `%.400s` does not exist.", params->model);
        http_respond_error(ex, 404, "invalid_request_error", msg, "model", "model_not_found");
        json_decref(req);
        return NULL;
    }
    return req;
}

/* max_tokens for a prompt: what the request asked, within what the context leaves. */
static bool output_budget(struct server *s, struct http_exchange *ex, const struct job *j,
                          uint32_t n_prompt, uint32_t *max_tokens)
{
    if (n_prompt >= s->max_model_len) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "This model's maximum context length is %u tokens. However, your request has "
                 "%u input tokens. Please reduce the length of the input messages.",
                 s->max_model_len, n_prompt);
        http_respond_error(ex, 400, "invalid_request_error", msg, "messages",
                           "context_length_exceeded");
        return false;
    }
    uint32_t room = s->max_model_len - n_prompt;
    if (j->params.max_tokens > (int64_t)room) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "'max_tokens' is too large: %lld. This model's maximum context length is %u "
                 "tokens and your request has %u input tokens (%lld > %u - %u).",
                 (long long)j->params.max_tokens, s->max_model_len, n_prompt,
                 (long long)j->params.max_tokens, s->max_model_len, n_prompt);
        http_respond_error(ex, 400, "invalid_request_error", msg, "max_tokens", NULL);
        return false;
    }
    *max_tokens = j->params.max_tokens > 0 ? (uint32_t)j->params.max_tokens : room;
    return true;
}

/* tool_choice "required" or a named function: gpt-oss has no switch for it, so the assistant's
 * turn is begun for it — the prompt continues with the header of a tool call
 * ("<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>", or only up to
 * "functions." for "required", leaving the name to the model). The same tokens are fed to each
 * choice's output translator first, so the response reports the call like any other.
 * Returns false (after answering 400) for a choice that names no declared tool. */
static bool forced_tool_prefix(struct server *s, struct http_exchange *ex, const json_t *req,
                               struct idbuf *forced)
{
    const json_t *choice = json_object_get(req, "tool_choice");
    const json_t *tools = json_object_get(req, "tools");
    const char *name = NULL;
    if (json_is_object(choice)) {
        const json_t *fn = json_object_get(choice, "function");
        name = json_string_value(json_object_get(fn, "name"));
        if (!name) {
            http_respond_error(ex, 400, "invalid_request_error",
                               "'tool_choice' must name a function: {\"type\": \"function\", "
                               "\"function\": {\"name\": ...}}",
                               "tool_choice", NULL);
            return false;
        }
    } else if (!json_is_string(choice) || strcmp(json_string_value(choice), "required") != 0) {
        return true;
    }
    bool declared = false;
    size_t i;
    const json_t *t;
    json_array_foreach (tools, i, t) {
        const char *tn = json_string_value(json_object_get(json_object_get(t, "function"), "name"));
        if (tn && (!name || strcmp(tn, name) == 0))
            declared = true;
    }
    if (!declared) {
        http_respond_error(ex, 400, "invalid_request_error",
                           name ? "'tool_choice' names a function that is not in 'tools'"
                                : "'tool_choice' is \"required\" but 'tools' declares no function",
                           "tool_choice", NULL);
        return false;
    }
    idbuf_push(forced, TOKEN_CHANNEL);
    char text[160];
    int len = snprintf(text, sizeof(text), "commentary to=functions.%s", name ? name : "");
    if (len < 0 || (size_t)len >= sizeof(text)) {
        http_respond_error(ex, 400, "invalid_request_error", "the function name is too long",
                           "tool_choice", NULL);
        return false;
    }
    tokenizer_encode(s->tok, text, (size_t)len, /*allow_special=*/false, forced);
    if (name) {
        tokenizer_encode(s->tok, " ", 1, false, forced);
        idbuf_push(forced, TOKEN_CONSTRAIN);
        tokenizer_encode(s->tok, "json", 4, false, forced);
        idbuf_push(forced, TOKEN_MESSAGE);
    }
    return true;
}

void server_handle_chat(void *ctx, struct http_exchange *ex)
{
    struct server *s = ctx;
    struct arena arena;
    arena_init(&arena);
    struct openai_params params;
    struct job *j = NULL;
    json_t *req = request_start(s, ex, OPENAI_API_CHAT, &params, &arena);
    if (!req) {
        arena_deinit(&arena);
        return;
    }
    struct openai_chat_options opts;
    openai_chat_options_init(&opts);
    opts.max_tools = s->cfg.max_tools;
    char date[16];
    if (s->cfg.current_date) {
        opts.current_date = s->cfg.current_date;
    } else {
        time_t t = time(NULL);
        struct tm tm;
        strftime(date, sizeof(date), "%Y-%m-%d", gmtime_r(&t, &tm));
        opts.current_date = date;
    }
    struct openai_chat chat;
    const char *param = NULL;
    struct idbuf ids, forced;
    idbuf_init(&ids);
    idbuf_init(&forced);
    enum gptoss_status st = openai_chat_parse(req, &opts, &arena, &chat, &param);
    if (st == GPTOSS_OK)
        st = openai_chat_render(s->tok, &chat, &ids);
    if (st != GPTOSS_OK) {
        server_respond_status(ex, st, param);
        goto done;
    }
    if (!forced_tool_prefix(s, ex, req, &forced))
        goto done;
    idbuf_append(&ids, forced.data, forced.len);
    j = job_create(s, OPENAI_API_CHAT, params.n);
    job_set_params(j, &params);
    uint32_t max_tokens;
    if (!output_budget(s, ex, j, (uint32_t)ids.len, &max_tokens)) {
        pthread_mutex_lock(&j->lock);
        job_unref_locked(j);
        goto done;
    }
    log_request(j, ids.data, ids.len, max_tokens);
    pthread_mutex_lock(&j->lock);
    for (uint32_t i = 0; i < j->n_choices && st == GPTOSS_OK; i++) {
        struct openai_output_options oo;
        openai_output_options_init(&oo);
        oo.stop = params.stop;
        oo.n_stop = params.n_stop;
        oo.seed = ((uint64_t)atomic_load(&s->next_id) << 8) + i;
        st = openai_output_create(s->tok, &oo, &j->choices[i].out);
        if (st == GPTOSS_OK && params.logprobs)
            j->choices[i].logprobs = json_array();
        if (st == GPTOSS_OK && forced.len) {
            json_t *deltas = json_array();
            for (size_t k = 0; k < forced.len; k++)
                openai_output_push(j->choices[i].out, forced.data[k], deltas);
            if (params.stream)
                chat_stream_deltas(j, &j->choices[i], deltas, false);
            json_decref(deltas);
        }
        if (st == GPTOSS_OK)
            st = job_submit(j, i, ids.data, (uint32_t)ids.len, max_tokens, harmony_stop_ids, 2);
    }
    if (st != GPTOSS_OK) {
        job_abort_all(j);
        server_respond_status(ex, st, NULL);
        job_unref_locked(j);
        goto done;
    }
    pthread_mutex_unlock(&j->lock);
    job_respond(j, ex);
done:
    idbuf_deinit(&forced);
    idbuf_deinit(&ids);
    json_decref(req);
    arena_deinit(&arena);
}

/* One prompt of a completions request as token ids: a string is encoded (no special tokens),
 * an array of integers is taken as ids. */
static enum gptoss_status completion_prompt(struct server *s, const json_t *p, struct idbuf *ids)
{
    ids->len = 0;
    if (json_is_string(p)) {
        tokenizer_encode(s->tok, json_string_value(p), json_string_length(p),
                         /*allow_special=*/false, ids);
        return GPTOSS_OK;
    }
    size_t i;
    const json_t *v;
    json_array_foreach (p, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= s->limits.n_vocab)
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                             "'prompt' token ids must be integers below %u", s->limits.n_vocab);
        idbuf_push(ids, (uint32_t)json_integer_value(v));
    }
    return GPTOSS_OK;
}

void server_handle_completions(void *ctx, struct http_exchange *ex)
{
    struct server *s = ctx;
    struct arena arena;
    arena_init(&arena);
    struct openai_params params;
    struct job *j = NULL;
    json_t *req = request_start(s, ex, OPENAI_API_COMPLETIONS, &params, &arena);
    if (!req) {
        arena_deinit(&arena);
        return;
    }
    /* The prompt: a string, ids, or a list of either (one set of n choices per prompt). */
    const json_t *prompt = json_object_get(req, "prompt");
    const json_t *single[1] = {prompt};
    const json_t *const *prompts = single;
    size_t n_prompts = 1;
    bool list =
        json_is_array(prompt) && json_array_size(prompt) > 0 &&
        (json_is_string(json_array_get(prompt, 0)) || json_is_array(json_array_get(prompt, 0)));
    const json_t **many = NULL;
    if (list) {
        n_prompts = json_array_size(prompt);
        many = arena_calloc(&arena, n_prompts, sizeof(*many));
        for (size_t i = 0; i < n_prompts; i++) {
            many[i] = json_array_get(prompt, i);
            if (!json_is_string(many[i]) && !json_is_array(many[i]))
                n_prompts = 0;
        }
        prompts = many;
    }
    if (!prompt || n_prompts == 0 || (!json_is_string(prompt) && !json_is_array(prompt)) ||
        n_prompts * params.n > 256) {
        http_respond_error(ex, 400, "invalid_request_error",
                           "'prompt' must be a string, an array of token ids, or a list of "
                           "either (at most 256 choices in all)",
                           "prompt", NULL);
        json_decref(req);
        arena_deinit(&arena);
        return;
    }
    j = job_create(s, OPENAI_API_COMPLETIONS, (uint32_t)(n_prompts * params.n));
    job_set_params(j, &params);
    struct idbuf ids;
    idbuf_init(&ids);
    enum gptoss_status st = GPTOSS_OK;
    pthread_mutex_lock(&j->lock);
    for (size_t p = 0; p < n_prompts && st == GPTOSS_OK; p++) {
        st = completion_prompt(s, prompts[p], &ids);
        if (st != GPTOSS_OK)
            break;
        if (ids.len == 0) {
            st = error_set(GPTOSS_ERR_INVALID_ARGUMENT, "'prompt' is empty");
            break;
        }
        uint32_t max_tokens;
        pthread_mutex_unlock(&j->lock);
        bool ok = output_budget(s, ex, j, (uint32_t)ids.len, &max_tokens);
        pthread_mutex_lock(&j->lock);
        if (!ok) {
            job_abort_all(j);
            job_unref_locked(j);
            goto done;
        }
        log_request(j, ids.data, ids.len, max_tokens);
        for (uint32_t i = 0; i < params.n && st == GPTOSS_OK; i++) {
            struct choice *c = &j->choices[p * params.n + i];
            tokenizer_stream_init(&c->ts, s->tok, /*skip_special=*/true);
            if (params.echo) {
                if (json_is_string(prompts[p]))
                    buf_append(&c->text, json_string_value(prompts[p]),
                               json_string_length(prompts[p]));
                else
                    tokenizer_decode(s->tok, ids.data, ids.len, /*skip_special=*/true, &c->text);
                c->echo_len = c->text.len;
            }
            if (params.logprobs)
                c->logprobs = json_pack("{s:[],s:[],s:[],s:[]}", "tokens", "token_logprobs",
                                        "top_logprobs", "text_offset");
            st = job_submit(j, (uint32_t)(p * params.n + i), ids.data, (uint32_t)ids.len,
                            max_tokens, s->eos_ids,
                            s->n_eos < ENGINE_MAX_STOP_IDS ? s->n_eos : ENGINE_MAX_STOP_IDS);
        }
    }
    if (st != GPTOSS_OK) {
        job_abort_all(j);
        server_respond_status(ex, st, "prompt");
        job_unref_locked(j);
        goto done;
    }
    pthread_mutex_unlock(&j->lock);
    job_respond(j, ex);
done:
    idbuf_deinit(&ids);
    json_decref(req);
    arena_deinit(&arena);
}
