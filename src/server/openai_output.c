/* openai_output.c — generated ids to OpenAI chat-completion output (openai_output.h).
 *
 * Every id goes through the harmony parser; its events are routed by the message header (the
 * table in openai_output.h) into three accumulators — content, reasoning and tool calls — and,
 * when streaming, into delta objects at the same moment, from the same bytes. Because the
 * message is built from exactly what the deltas carried (content only up to what has been
 * released past the stop-string check), merging the deltas gives the message by construction.
 *
 * Strings handed to jansson are valid UTF-8 by construction: the parser only emits valid UTF-8,
 * tool names are checked ASCII, and the stop-string hold-back only splits content where a valid
 * UTF-8 stop string begins, which is always a character boundary.
 */
#include "openai_output.h"

#include "harmony/harmony.h"

#include <stdlib.h>
#include <string.h>

#define OPENAI_OUTPUT_NAME_MAX  64 /* OpenAI's limit on function names */
#define OPENAI_OUTPUT_ID_CHARS  24
#define OPENAI_OUTPUT_FUNCTIONS "functions."
#define OPENAI_OUTPUT_SEPARATOR "\n" /* between two messages' texts in one field */

/* Where the current message's text goes. */
enum openai_output_kind {
    OPENAI_OUTPUT_DROP,
    OPENAI_OUTPUT_CONTENT,
    OPENAI_OUTPUT_REASONING,
    OPENAI_OUTPUT_TOOL_CALL,
};

struct openai_output_call {
    char id[sizeof "call_" + OPENAI_OUTPUT_ID_CHARS];
    char name[OPENAI_OUTPUT_NAME_MAX + 1];
    struct buf arguments;
};

struct openai_output {
    const struct tokenizer *tok;
    struct harmony_parser *parser;

    char *stop[OPENAI_OUTPUT_MAX_STOP];
    size_t stop_len[OPENAI_OUTPUT_MAX_STOP];
    size_t n_stop;
    uint64_t id_state; /* splitmix64 state for tool-call ids */

    struct buf content;   /* content so far; [0, content_sent) has been released */
    size_t content_sent;  /* the rest is held back: it may begin a stop string */
    struct buf reasoning; /* analysis and built-in tool messages */
    struct openai_output_call *calls;
    size_t n_calls, cap_calls;

    enum openai_output_kind kind; /* the current message's route */
    bool kind_has_text;           /* the current message has put text in its field */

    bool role_sent; /* the {"role":"assistant"} delta went out */
    bool stopped;   /* a stop string matched: everything after is ignored */
    bool finished;
};

/* ---- deltas ---------------------------------------------------------------------------------- */

static json_t *openai_output_string(const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    GPTOSS_ASSERT(v); /* only fails on invalid UTF-8, which cannot reach here (see above) */
    return v;
}

static void openai_output_begin_deltas(struct openai_output *o, json_t *deltas)
{
    if (!deltas || o->role_sent)
        return;
    json_array_append_new(deltas, json_pack("{s:s}", "role", "assistant"));
    o->role_sent = true;
}

static void openai_output_delta_content(json_t *deltas, const char *s, size_t n)
{
    if (!deltas || n == 0)
        return;
    json_t *d = json_object();
    json_object_set_new(d, "content", openai_output_string(s, n));
    json_array_append_new(deltas, d);
}

static void openai_output_delta_reasoning(json_t *deltas, const char *s, size_t n)
{
    if (!deltas || n == 0)
        return;
    json_t *d = json_object();
    json_object_set_new(d, "reasoning_content", openai_output_string(s, n));
    json_object_set_new(d, "reasoning", openai_output_string(s, n));
    json_array_append_new(deltas, d);
}

/* {"tool_calls":[call]} */
static void openai_output_delta_call(json_t *deltas, json_t *call)
{
    json_t *d = json_object();
    json_t *calls = json_array();
    json_array_append_new(calls, call);
    json_object_set_new(d, "tool_calls", calls);
    json_array_append_new(deltas, d);
}

/* ---- content and stop strings ---------------------------------------------------------------- */

static const char *openai_output_find(const char *s, size_t n, const char *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++) {
        if (memcmp(s + i, needle, m) == 0)
            return s + i;
    }
    return NULL;
}

/* Appends content text, then releases what can no longer be part of a stop string. A match
 * must lie within the unreleased tail: the tail held back is the longest suffix that is a
 * prefix of a stop string, so no match can start in text already released. */
static void openai_output_add_content(struct openai_output *o, const char *s, size_t n,
                                      json_t *deltas)
{
    buf_append(&o->content, s, n);
    const char *tail = o->content.data + o->content_sent;
    size_t tail_len = o->content.len - o->content_sent;

    size_t cut = tail_len; /* earliest match start in the tail */
    for (size_t k = 0; k < o->n_stop; k++) {
        const char *hit = openai_output_find(tail, tail_len, o->stop[k], o->stop_len[k]);
        if (hit && (size_t)(hit - tail) < cut)
            cut = (size_t)(hit - tail);
    }
    if (cut < tail_len) {
        openai_output_delta_content(deltas, tail, cut);
        o->content.len = o->content_sent + cut;
        o->content.data[o->content.len] = '\0';
        o->content_sent = o->content.len;
        o->stopped = true;
        return;
    }

    size_t hold = 0;
    for (size_t k = 0; k < o->n_stop; k++) {
        size_t l = o->stop_len[k] - 1 < tail_len ? o->stop_len[k] - 1 : tail_len;
        for (; l > hold; l--) {
            if (memcmp(tail + tail_len - l, o->stop[k], l) == 0) {
                hold = l;
                break;
            }
        }
    }
    openai_output_delta_content(deltas, tail, tail_len - hold);
    o->content_sent += tail_len - hold;
}

/* Text of the current message into its field; the first text of a message that follows
 * another in the same field is preceded by the separator. */
static void openai_output_text(struct openai_output *o, const char *s, size_t n, json_t *deltas)
{
    if (n == 0)
        return;
    bool first = !o->kind_has_text;
    o->kind_has_text = true;
    switch (o->kind) {
    case OPENAI_OUTPUT_DROP: break;
    case OPENAI_OUTPUT_CONTENT:
        if (first && o->content.len > 0) {
            struct buf t;
            buf_init(&t);
            buf_puts(&t, OPENAI_OUTPUT_SEPARATOR);
            buf_append(&t, s, n);
            openai_output_add_content(o, t.data, t.len, deltas);
            buf_deinit(&t);
        } else {
            openai_output_add_content(o, s, n, deltas);
        }
        break;
    case OPENAI_OUTPUT_REASONING: {
        size_t start = o->reasoning.len;
        if (first && o->reasoning.len > 0)
            buf_puts(&o->reasoning, OPENAI_OUTPUT_SEPARATOR);
        buf_append(&o->reasoning, s, n);
        openai_output_delta_reasoning(deltas, o->reasoning.data + start, o->reasoning.len - start);
        break;
    }
    case OPENAI_OUTPUT_TOOL_CALL: {
        struct openai_output_call *c = &o->calls[o->n_calls - 1];
        buf_append(&c->arguments, s, n);
        if (deltas) {
            json_t *call = json_pack("{s:I,s:{s:o}}", "index", (json_int_t)(o->n_calls - 1),
                                     "function", "arguments", openai_output_string(s, n));
            openai_output_delta_call(deltas, call);
        }
        break;
    }
    }
}

/* ---- routing --------------------------------------------------------------------------------- */

/* A function name a client can have declared: 1-64 of [A-Za-z0-9_.-]. */
static bool openai_output_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > OPENAI_OUTPUT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* Whether header words recovered as content hold a "to=" word (a call whose header broke). */
static bool openai_output_has_to_word(const char *s, size_t n)
{
    for (size_t i = 0; i + 3 <= n; i++) {
        if ((i == 0 || s[i - 1] == ' ') && memcmp(s + i, "to=", 3) == 0)
            return true;
    }
    return false;
}

/* The route of a message: the table in openai_output.h. `recovered` marks a header the parser
 * turned into content; its words are `text`. */
static enum openai_output_kind openai_output_route(const struct harmony_header *h, bool recovered,
                                                   const char *text, size_t text_len)
{
    if (h->role != HARMONY_ROLE_ASSISTANT)
        return OPENAI_OUTPUT_DROP;
    if (h->recipient && strcmp(h->recipient, "all") != 0) {
        size_t p = strlen(OPENAI_OUTPUT_FUNCTIONS);
        if (strncmp(h->recipient, OPENAI_OUTPUT_FUNCTIONS, p) == 0 &&
            openai_output_name_ok(h->recipient + p))
            return OPENAI_OUTPUT_TOOL_CALL;
        return OPENAI_OUTPUT_REASONING;
    }
    if (recovered && openai_output_has_to_word(text, text_len))
        return OPENAI_OUTPUT_REASONING;
    if (h->channel && strcmp(h->channel, "analysis") == 0)
        return OPENAI_OUTPUT_REASONING;
    return OPENAI_OUTPUT_CONTENT;
}

static void openai_output_start_call(struct openai_output *o, const char *name, json_t *deltas)
{
    o->calls = xgrow(o->calls, &o->cap_calls, o->n_calls + 1, sizeof *o->calls);
    struct openai_output_call *c = &o->calls[o->n_calls++];
    memset(c, 0, sizeof *c);
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    memcpy(c->id, "call_", 5);
    for (size_t i = 0; i < OPENAI_OUTPUT_ID_CHARS; i++)
        c->id[5 + i] = alnum[rand_splitmix64(&o->id_state) % (sizeof alnum - 1)];
    c->id[5 + OPENAI_OUTPUT_ID_CHARS] = '\0';
    strcpy(c->name, name); /* checked by openai_output_name_ok: fits */
    buf_init(&c->arguments);
    if (deltas) {
        json_t *call =
            json_pack("{s:I,s:s,s:s,s:{s:s,s:s}}", "index", (json_int_t)(o->n_calls - 1), "id",
                      c->id, "type", "function", "function", "name", c->name, "arguments", "");
        GPTOSS_ASSERT(call);
        openai_output_delta_call(deltas, call);
    }
}

/* Routes one call's parser events. `recovery` says that a MESSAGE_START in this call can only
 * come from a header that never reached <|message|>: the parser opens a message on a
 * terminator, <|start|> or the end of generation for no other reason. */
static void openai_output_events(struct openai_output *o, const struct harmony_event *ev, size_t n,
                                 bool recovery, json_t *deltas)
{
    for (size_t i = 0; i < n && !o->stopped; i++) {
        switch (ev[i].type) {
        case HARMONY_EVENT_MESSAGE_START: {
            const char *text = "";
            size_t text_len = 0;
            if (recovery && i + 1 < n && ev[i + 1].type == HARMONY_EVENT_CONTENT) {
                text = ev[i + 1].text;
                text_len = ev[i + 1].text_len;
            }
            o->kind = openai_output_route(ev[i].header, recovery, text, text_len);
            o->kind_has_text = false;
            if (o->kind == OPENAI_OUTPUT_TOOL_CALL)
                openai_output_start_call(
                    o, ev[i].header->recipient + strlen(OPENAI_OUTPUT_FUNCTIONS), deltas);
            break;
        }
        case HARMONY_EVENT_CONTENT:
            openai_output_text(o, ev[i].text, ev[i].text_len, deltas);
            break;
        case HARMONY_EVENT_MESSAGE_END: o->kind = OPENAI_OUTPUT_DROP; break;
        }
    }
}

/* ---- API ------------------------------------------------------------------------------------- */

void openai_output_options_init(struct openai_output_options *opts)
{
    memset(opts, 0, sizeof *opts);
}

enum gptoss_status openai_output_create(const struct tokenizer *tok,
                                        const struct openai_output_options *opts,
                                        struct openai_output **out)
{
    GPTOSS_ASSERT(tok && opts && out);
    *out = NULL;
    if (opts->n_stop > OPENAI_OUTPUT_MAX_STOP)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "stop: at most %d sequences, got %zu",
                         OPENAI_OUTPUT_MAX_STOP, opts->n_stop);
    for (size_t k = 0; k < opts->n_stop; k++) {
        const char *s = opts->stop[k];
        if (!s || !utf8_is_valid((const unsigned char *)s, strlen(s)))
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "stop[%zu]: not a UTF-8 string", k);
    }

    struct openai_output *o = xcalloc(1, sizeof *o);
    o->tok = tok;
    o->id_state = opts->seed;
    o->kind = OPENAI_OUTPUT_DROP;
    buf_init(&o->content);
    buf_init(&o->reasoning);
    for (size_t k = 0; k < opts->n_stop; k++) {
        if (opts->stop[k][0] == '\0')
            continue; /* an empty stop would end every output at once; OpenAI ignores it */
        o->stop_len[o->n_stop] = strlen(opts->stop[k]);
        o->stop[o->n_stop++] = xstrdup(opts->stop[k]);
    }
    enum gptoss_status st = harmony_parser_create(tok, /*assistant_started=*/true, &o->parser);
    if (st != GPTOSS_OK) {
        openai_output_destroy(o);
        return st;
    }
    *out = o;
    return GPTOSS_OK;
}

void openai_output_destroy(struct openai_output *o)
{
    if (!o)
        return;
    harmony_parser_destroy(o->parser);
    for (size_t k = 0; k < o->n_stop; k++)
        free(o->stop[k]);
    for (size_t i = 0; i < o->n_calls; i++)
        buf_deinit(&o->calls[i].arguments);
    free(o->calls);
    buf_deinit(&o->content);
    buf_deinit(&o->reasoning);
    free(o);
}

bool openai_output_push(struct openai_output *o, uint32_t token, json_t *deltas)
{
    openai_output_begin_deltas(o, deltas);
    if (o->stopped || o->finished)
        return o->stopped;
    const struct harmony_event *ev;
    size_t n = harmony_parser_push(o->parser, token, &ev);
    bool recovery =
        token == TOKEN_END || token == TOKEN_RETURN || token == TOKEN_CALL || token == TOKEN_START;
    openai_output_events(o, ev, n, recovery, deltas);
    return o->stopped;
}

void openai_output_finish(struct openai_output *o, json_t *deltas)
{
    openai_output_begin_deltas(o, deltas);
    if (o->finished)
        return;
    o->finished = true;
    if (o->stopped)
        return;
    const struct harmony_event *ev;
    size_t n = harmony_parser_finish(o->parser, &ev);
    openai_output_events(o, ev, n, /*recovery=*/true, deltas);
    if (o->stopped)
        return;
    /* The held-back tail can no longer grow into a stop string. */
    if (o->content.len > o->content_sent)
        openai_output_delta_content(deltas, o->content.data + o->content_sent,
                                    o->content.len - o->content_sent);
    o->content_sent = o->content.len;
}

json_t *openai_output_message(const struct openai_output *o)
{
    json_t *m = json_pack("{s:s}", "role", "assistant");
    if (o->content.len > 0)
        json_object_set_new(m, "content", openai_output_string(o->content.data, o->content.len));
    else
        json_object_set_new(m, "content", o->n_calls > 0 ? json_null() : json_string(""));
    if (o->reasoning.len > 0) {
        json_object_set_new(m, "reasoning_content",
                            openai_output_string(o->reasoning.data, o->reasoning.len));
        json_object_set_new(m, "reasoning",
                            openai_output_string(o->reasoning.data, o->reasoning.len));
    }
    if (o->n_calls > 0) {
        json_t *calls = json_array();
        for (size_t i = 0; i < o->n_calls; i++) {
            const struct openai_output_call *c = &o->calls[i];
            json_t *args =
                openai_output_string(c->arguments.len ? c->arguments.data : "", c->arguments.len);
            json_array_append_new(calls, json_pack("{s:s,s:s,s:{s:s,s:o}}", "id", c->id, "type",
                                                   "function", "function", "name", c->name,
                                                   "arguments", args));
        }
        json_object_set_new(m, "tool_calls", calls);
    }
    return m;
}

const char *openai_output_finish_reason(const struct openai_output *o, bool length_limited)
{
    if (o->stopped)
        return "stop";
    if (length_limited)
        return "length";
    if (o->n_calls > 0)
        return "tool_calls";
    return "stop";
}

size_t openai_output_n_tool_calls(const struct openai_output *o)
{
    return o->n_calls;
}
