/* parser.c — the streaming harmony parser: generated ids in, message events out (harmony.h).
 *
 * The server feeds every sampled id to harmony_parser_push() and forwards the events at once,
 * so the parser never looks ahead. A header is collected as text (ordinary bytes plus the names
 * of <|channel|> and <|constrain|>) and split into fields the way openai-harmony's
 * parse_header_from_string() does; content bytes stream out as UTF-8 text, holding back at most
 * three bytes of a character split across tokens.
 *
 * Well-formed output parses exactly as openai-harmony's StreamableParser parses it. Anything
 * else is recovered from without failing (rules below), and no special token ever shows up in
 * content text: content is made of ordinary-token bytes only.
 *
 * Memory is bounded: a header holds at most PARSER_HEADER_MAX tokens, content is streamed and not
 * kept, and every buffer is reused from message to message.
 */
#include "harmony.h"

#include <stdlib.h>
#include <string.h>

/* States. T is a terminator (<|end|>, <|return|> or <|call|>); * marks a recovery edge.
 *
 *        +-----------------> EXPECT_START
 *        |                     |       |
 *        |    <|start|>,       |       |  *ordinary text,
 *        |    *<|channel|>,    |       |  *<|message|>
 *        |    *<|constrain|>   v       |
 *        |            +----> HEADER    |
 *        |            |        |  |    |
 *        +--- T, end -|--------|--+    |     (*T or end in HEADER: the header's
 *        |            |        |       |      words become a message)
 *        |  *<|start|>,        | <|message|>,
 *        |  *<|channel|>       | *257th header token
 *        |            |        v       |
 *        |            +----- CONTENT <-+
 *        |                     |
 *        +------ T, end -------+
 *
 * Recovery, where openai-harmony would fail or print special tokens as text:
 *   - HEADER meets a terminator, <|start|> or the end of generation before <|message|>: the
 *     header becomes a message whose content is the header's words after the role and channel
 *     (harmony's non-strict rule, minus the <|constrain|> marker); an empty header yields none.
 *   - <|start|> inside content ends the message (the model skipped <|end|>); <|channel|> inside
 *     content does the same and opens an implicit assistant header ("<|end|><|start|>assistant"
 *     skipped). Other special ids inside content are dropped.
 *   - Between messages, ordinary text opens an implicit assistant message without channel, and
 *     <|message|> does so with empty text; terminators and other specials are dropped.
 *   - A header of more than PARSER_HEADER_MAX tokens is taken to be content without a header.
 *   - Header fields harmony rejects are accepted: no role word gives assistant, an unknown single
 *     word a tool author of that name, an empty channel no channel, leftover words are dropped.
 *   - Ids outside the vocabulary are dropped everywhere.
 */

#define PARSER_HEADER_MAX 256
#define PARSER_MAX_EVENTS 4 /* most one id can cause: START, CONTENT, END */

#define MARK_CHANNEL   "<|channel|>"
#define MARK_CONSTRAIN "<|constrain|>"

enum parser_state {
    PARSER_EXPECT_START,
    PARSER_HEADER,
    PARSER_CONTENT,
};

struct parser_span {
    size_t off, len;
};

struct harmony_parser {
    const struct tokenizer *tok;
    enum parser_state state;
    bool role_preset; /* the header follows "<|start|>assistant" (possibly implicit) */

    struct buf header_text; /* the header so far: ordinary bytes and marker names */
    size_t header_tokens;

    /* The current message's header; the fields point into these buffers. */
    struct harmony_header header;
    struct buf name, recipient, channel, content_type;

    /* Content decoding: holds a character split across tokens; special ids are never pushed,
     * so one inside a character leaves its bytes waiting rather than breaking them. */
    struct tokenizer_stream stream;
    struct buf decoded; /* scratch for the stream's output */

    struct buf work[2];        /* header text during parsing */
    struct parser_span *words; /* the header's words, offsets into the parsed text */
    size_t n_words, cap_words;

    struct buf text; /* this call's content delta */
    struct harmony_event events[PARSER_MAX_EVENTS];
    size_t n_events;
};

/* ---- text helpers ---------------------------------------------------------------------------- */

/* Rust's char::is_whitespace (Unicode White_Space): harmony trims and ends channels with it. */
static bool parser_is_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

/* Rust's u8::is_ascii_whitespace, which split_ascii_whitespace uses (no vertical tab). */
static bool parser_is_ascii_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static const char *parser_find(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        if (memcmp(s + i, needle, m) == 0)
            return s + i;
    }
    return NULL;
}

/* Decodes the character at s[0..n) of valid UTF-8 (as produced by utf8_append_lossy). */
static size_t parser_char(const char *s, size_t n, uint32_t *cp)
{
    int k = utf8_next((const unsigned char *)s, n, cp);
    GPTOSS_ASSERT(k > 0);
    return (size_t)k;
}

/* Trims Unicode whitespace at both ends of the valid UTF-8 in b, as str::trim does. */
static void parser_trim(struct buf *b)
{
    size_t start = 0, end = b->len;
    uint32_t cp;
    while (start < end) {
        size_t k = parser_char(b->data + start, end - start, &cp);
        if (!parser_is_space(cp))
            break;
        start += k;
    }
    while (end > start) {
        size_t last = end - 1;
        while (last > start && ((unsigned char)b->data[last] & 0xC0) == 0x80)
            last--;
        parser_char(b->data + last, end - last, &cp);
        if (!parser_is_space(cp))
            break;
        end = last;
    }
    memmove(b->data, b->data + start, end - start);
    b->len = end - start;
    b->data[b->len] = '\0';
}

/* dst = src with every `marker` replaced by `with`. */
static void parser_replace(struct buf *dst, const struct buf *src, const char *marker,
                           const char *with)
{
    size_t m = strlen(marker);
    const char *s = src->data, *end = src->data + src->len;
    buf_reset(dst);
    buf_append(dst, "", 0);
    const char *hit;
    while ((hit = parser_find(s, (size_t)(end - s), marker)) != NULL) {
        buf_append(dst, s, (size_t)(hit - s));
        buf_puts(dst, with);
        s = hit + m;
    }
    buf_append(dst, s, (size_t)(end - s));
}

static void parser_swap(struct buf **x, struct buf **y)
{
    struct buf *t = *x;
    *x = *y;
    *y = t;
}

static void parser_set(struct buf *b, const char *s, size_t n, const char **field)
{
    buf_reset(b);
    buf_append(b, s, n);
    *field = b->data;
}

/* ---- events ---------------------------------------------------------------------------------- */

static struct harmony_event *parser_emit(struct harmony_parser *p, enum harmony_event_type type)
{
    GPTOSS_ASSERT(p->n_events < PARSER_MAX_EVENTS);
    struct harmony_event *e = &p->events[p->n_events++];
    *e = (struct harmony_event){.type = type, .header = &p->header};
    return e;
}

/* Appends valid UTF-8 to this call's single CONTENT event, opening it if needed. */
static void parser_content(struct harmony_parser *p, const void *s, size_t n)
{
    if (n == 0)
        return;
    if (p->text.len == 0) {
        for (size_t i = 0; i < p->n_events; i++)
            GPTOSS_ASSERT(p->events[i].type != HARMONY_EVENT_CONTENT);
        parser_emit(p, HARMONY_EVENT_CONTENT);
    } else {
        GPTOSS_ASSERT(p->events[p->n_events - 1].type == HARMONY_EVENT_CONTENT);
    }
    buf_append(&p->text, s, n);
}

/* Streams one ordinary content id: complete characters go out, each ill-formed maximal subpart
 * becomes U+FFFD, and a valid but incomplete tail waits for the next id. */
static void parser_content_token(struct harmony_parser *p, uint32_t id)
{
    buf_reset(&p->decoded);
    tokenizer_stream_push(&p->stream, id, &p->decoded);
    parser_content(p, p->decoded.data, p->decoded.len);
}

static void parser_end_message(struct harmony_parser *p, uint32_t end_token)
{
    buf_reset(&p->decoded);
    tokenizer_stream_flush(&p->stream, &p->decoded);
    parser_content(p, p->decoded.data, p->decoded.len);
    parser_emit(p, HARMONY_EVENT_MESSAGE_END)->end_token = end_token;
    p->state = PARSER_EXPECT_START;
}

/* ---- headers --------------------------------------------------------------------------------- */

static void parser_open_header(struct harmony_parser *p, bool role_preset)
{
    p->state = PARSER_HEADER;
    p->role_preset = role_preset;
    buf_reset(&p->header_text);
    p->header_tokens = 0;
}

static void parser_header_append(struct harmony_parser *p, const char *s, size_t n)
{
    buf_append(&p->header_text, s, n);
    p->header_tokens++;
}

static bool parser_word_is(const struct harmony_parser *p, const char *text, size_t w,
                           const char *s)
{
    size_t n = strlen(s);
    return p->words[w].len == n && memcmp(text + p->words[w].off, s, n) == 0;
}

static void parser_drop_first_word(struct harmony_parser *p)
{
    memmove(p->words, p->words + 1, (p->n_words - 1) * sizeof *p->words);
    p->n_words--;
}

static void parser_set_word(struct harmony_parser *p, struct buf *b, const char *text, size_t w,
                            bool strip_to, const char **field)
{
    const char *s = text + p->words[w].off;
    size_t n = p->words[w].len;
    if (strip_to && n >= 3 && memcmp(s, "to=", 3) == 0) {
        s += 3;
        n -= 3;
    }
    parser_set(b, s, n, field);
}

/* Parses the collected header into p->header as harmony's parse_header_from_string() does.
 * With as_content the words after role and channel become content instead of recipient and
 * content type (the recovery for a header that never reached <|message|>); they are written to
 * *content joined by single spaces. */
static void parser_parse_header(struct harmony_parser *p, bool as_content, struct buf *content)
{
    struct buf *a = &p->work[0], *b = &p->work[1];
    buf_reset(a);
    buf_append(a, "", 0);
    utf8_append_lossy(a, (const unsigned char *)p->header_text.data, p->header_text.len);

    p->header = (struct harmony_header){.role = HARMONY_ROLE_ASSISTANT};

    /* The channel runs from the first marker to whitespace or '<' and is cut out. */
    const char *mark = parser_find(a->data, a->len, MARK_CHANNEL);
    if (mark) {
        size_t start = (size_t)(mark - a->data) + strlen(MARK_CHANNEL), end = start;
        uint32_t cp;
        while (end < a->len) {
            size_t k = parser_char(a->data + end, a->len - end, &cp);
            if (cp == '<' || parser_is_space(cp))
                break;
            end += k;
        }
        if (end > start)
            parser_set(&p->channel, a->data + start, end - start, &p->header.channel);
        buf_reset(b);
        buf_append(b, a->data, (size_t)(mark - a->data));
        buf_append(b, a->data + end, a->len - end);
        parser_swap(&a, &b);
    }
    /* Content must not spell special tokens: markers harmony would keep as text go. */
    if (as_content && parser_find(a->data, a->len, MARK_CHANNEL)) {
        parser_replace(b, a, MARK_CHANNEL, " ");
        parser_swap(&a, &b);
    }
    parser_trim(a);
    /* A space before the marker makes the content type a word of its own. */
    if (parser_find(a->data, a->len, MARK_CONSTRAIN)) {
        parser_replace(b, a, MARK_CONSTRAIN, as_content ? " " : " " MARK_CONSTRAIN);
        parser_swap(&a, &b);
        parser_trim(a);
    }

    const char *text = a->data;
    p->n_words = 0;
    for (size_t i = 0; i < a->len;) {
        if (parser_is_ascii_space((unsigned char)text[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < a->len && !parser_is_ascii_space((unsigned char)text[j]))
            j++;
        p->words = xgrow(p->words, &p->cap_words, p->n_words + 1, sizeof *p->words);
        p->words[p->n_words++] = (struct parser_span){i, j - i};
        i = j;
    }

    if (!p->role_preset && p->n_words > 0) {
        bool known = false;
        for (int r = HARMONY_ROLE_SYSTEM; r <= HARMONY_ROLE_TOOL && !known; r++) {
            if (parser_word_is(p, text, 0, harmony_role_name((enum harmony_role)r))) {
                p->header.role = (enum harmony_role)r;
                known = true;
            }
        }
        if (!known || p->header.role == HARMONY_ROLE_TOOL) {
            /* An unknown first word is a tool's name ("functions.get_weather"). */
            parser_set_word(p, &p->name, text, 0, false, &p->header.name);
            p->header.role = HARMONY_ROLE_TOOL;
        }
        if (!known)
            parser_drop_first_word(p);
    }
    if (p->n_words > 0 && parser_word_is(p, text, 0, harmony_role_name(p->header.role)))
        parser_drop_first_word(p);

    if (as_content) {
        for (size_t w = 0; w < p->n_words; w++) {
            if (w > 0)
                buf_putc(content, ' ');
            buf_append(content, text + p->words[w].off, p->words[w].len);
        }
        return;
    }
    if (p->n_words == 0)
        return;
    size_t last = p->n_words - 1;
    if (p->n_words == 1 ||
        (p->words[last].len >= 3 && memcmp(text + p->words[last].off, "to=", 3) == 0)) {
        parser_set_word(p, &p->recipient, text, last, true, &p->header.recipient);
    } else {
        parser_set_word(p, &p->content_type, text, last, false, &p->header.content_type);
        parser_set_word(p, &p->recipient, text, last - 1, true, &p->header.recipient);
    }
}

/* Header complete: the message begins. */
static void parser_start_message(struct harmony_parser *p)
{
    parser_parse_header(p, false, NULL);
    parser_emit(p, HARMONY_EVENT_MESSAGE_START);
    p->state = PARSER_CONTENT;
    tokenizer_stream_init(&p->stream, p->tok, /*skip_special=*/true);
}

/* A header that will never see <|message|>: its words become the content of a message, which
 * ends with end_token unless the rest of the stream is to be its content. */
static void parser_header_as_content(struct harmony_parser *p, bool end, uint32_t end_token)
{
    if (p->header_tokens == 0) {
        p->state = PARSER_EXPECT_START;
        return;
    }
    struct buf words;
    buf_init(&words);
    parser_parse_header(p, true, &words);
    parser_emit(p, HARMONY_EVENT_MESSAGE_START);
    parser_content(p, words.data, words.len);
    buf_deinit(&words);
    p->state = PARSER_CONTENT;
    tokenizer_stream_init(&p->stream, p->tok, /*skip_special=*/true);
    if (end)
        parser_end_message(p, end_token);
}

/* A message with no header at all, as if "<|start|>assistant<|message|>" had been skipped. */
static void parser_implicit_message(struct harmony_parser *p)
{
    parser_open_header(p, true);
    parser_start_message(p);
}

/* ---- the state machine ----------------------------------------------------------------------- */

static bool parser_is_terminator(uint32_t id)
{
    return id == TOKEN_END || id == TOKEN_RETURN || id == TOKEN_CALL;
}

static void parser_step(struct harmony_parser *p, uint32_t id)
{
    size_t n = 0;
    const char *bytes = tokenizer_token_bytes(p->tok, id, &n);
    if (!bytes)
        return;
    bool special = tokenizer_is_special(id);

    switch (p->state) {
    case PARSER_EXPECT_START:
        if (id == TOKEN_START) {
            parser_open_header(p, false);
        } else if (id == TOKEN_CHANNEL || id == TOKEN_CONSTRAIN) {
            parser_open_header(p, true);
            parser_header_append(p, bytes, n);
        } else if (id == TOKEN_MESSAGE) {
            parser_implicit_message(p);
        } else if (!special) {
            parser_implicit_message(p);
            parser_content_token(p, id);
        }
        break;
    case PARSER_HEADER:
        if (id == TOKEN_MESSAGE) {
            parser_start_message(p);
        } else if (parser_is_terminator(id)) {
            parser_header_as_content(p, true, id);
        } else if (id == TOKEN_START) {
            parser_header_as_content(p, true, 0);
            parser_open_header(p, false);
        } else if (!special || id == TOKEN_CHANNEL || id == TOKEN_CONSTRAIN) {
            parser_header_append(p, bytes, n);
            if (p->header_tokens > PARSER_HEADER_MAX)
                parser_header_as_content(p, false, 0);
        }
        break;
    case PARSER_CONTENT:
        if (parser_is_terminator(id)) {
            parser_end_message(p, id);
        } else if (id == TOKEN_START) {
            parser_end_message(p, 0);
            parser_open_header(p, false);
        } else if (id == TOKEN_CHANNEL) {
            parser_end_message(p, 0);
            parser_open_header(p, true);
            parser_header_append(p, bytes, n);
        } else if (!special) {
            parser_content_token(p, id);
        }
        break;
    }
}

static size_t parser_events(struct harmony_parser *p, const struct harmony_event **events_out)
{
    for (size_t i = 0; i < p->n_events; i++) {
        if (p->events[i].type == HARMONY_EVENT_CONTENT) {
            p->events[i].text = p->text.data;
            p->events[i].text_len = p->text.len;
        }
    }
    *events_out = p->events;
    return p->n_events;
}

static void parser_begin_call(struct harmony_parser *p)
{
    p->n_events = 0;
    buf_reset(&p->text);
}

/* ---- API ------------------------------------------------------------------------------------- */

enum gptoss_status harmony_parser_create(const struct tokenizer *tok, bool assistant_started,
                                         struct harmony_parser **parser_out)
{
    GPTOSS_ASSERT(tok && parser_out);
    struct harmony_parser *p = xcalloc(1, sizeof *p);
    p->tok = tok;
    tokenizer_stream_init(&p->stream, tok, /*skip_special=*/true);
    p->header.role = HARMONY_ROLE_ASSISTANT;
    if (assistant_started)
        parser_open_header(p, true);
    else
        p->state = PARSER_EXPECT_START;
    *parser_out = p;
    return GPTOSS_OK;
}

void harmony_parser_destroy(struct harmony_parser *p)
{
    if (!p)
        return;
    buf_deinit(&p->header_text);
    buf_deinit(&p->name);
    buf_deinit(&p->recipient);
    buf_deinit(&p->channel);
    buf_deinit(&p->content_type);
    buf_deinit(&p->work[0]);
    buf_deinit(&p->work[1]);
    buf_deinit(&p->text);
    buf_deinit(&p->decoded);
    free(p->words);
    free(p);
}

size_t harmony_parser_push(struct harmony_parser *p, uint32_t id,
                           const struct harmony_event **events_out)
{
    parser_begin_call(p);
    parser_step(p, id);
    return parser_events(p, events_out);
}

size_t harmony_parser_finish(struct harmony_parser *p, const struct harmony_event **events_out)
{
    parser_begin_call(p);
    if (p->state == PARSER_HEADER)
        parser_header_as_content(p, true, 0);
    else if (p->state == PARSER_CONTENT)
        parser_end_message(p, 0);
    p->state = PARSER_EXPECT_START;
    return parser_events(p, events_out);
}
