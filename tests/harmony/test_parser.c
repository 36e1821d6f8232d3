/* test_parser.c — the streaming harmony parser against openai-harmony, and under abuse.
 *
 * Goldens (tests/data/harmony/parser_goldens.json, from tools/make_parser_goldens.py) hold
 * completions and the messages openai-harmony's StreamableParser yields for them; each is
 * replayed one id at a time and the messages rebuilt from the events must match exactly.
 *
 * The robustness tests feed truncated, shuffled, random and hostile streams. Whatever comes in,
 * the events must form well-nested messages, every delta must be non-empty valid UTF-8, and
 * content must never hold a special token's name unless ordinary tokens spelled it out. Random
 * streams come from a fixed-seed generator, so failures reproduce.
 */
#include "harmony/harmony.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct tokenizer *tok;
static json_t *goldens;
static uint32_t byte_id[256]; /* the one-byte token of each byte */

/* ---- collecting events into messages --------------------------------------------------------- */

struct msg {
    enum harmony_role role;
    char *name, *recipient, *channel, *content_type;
    struct buf content;
    uint32_t end_token;
    bool started_at_end; /* MESSAGE_START came from the call that ended it: a degraded header */
};

struct collector {
    struct msg *msgs;
    size_t n, cap;
    bool open;
    struct idbuf ids; /* everything pushed, for the special-name check */
};

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void collector_reset(struct collector *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->msgs[i].name);
        free(c->msgs[i].recipient);
        free(c->msgs[i].channel);
        free(c->msgs[i].content_type);
        buf_deinit(&c->msgs[i].content);
    }
    c->n = 0;
    c->open = false;
    idbuf_reset(&c->ids);
}

static void collector_free(struct collector *c)
{
    collector_reset(c);
    free(c->msgs);
    idbuf_deinit(&c->ids);
}

static void check_string(const char *s)
{
    if (s)
        assert_true(utf8_is_valid((const unsigned char *)s, strlen(s)));
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Checks one call's events and folds them into the collected messages. */
static void collect(struct collector *c, const struct harmony_event *ev, size_t n)
{
    size_t n_content = 0;
    bool started = false;
    for (size_t i = 0; i < n; i++) {
        const struct harmony_event *e = &ev[i];
        assert_non_null(e->header);
        assert_true(e->header->role <= HARMONY_ROLE_TOOL);
        switch (e->type) {
        case HARMONY_EVENT_MESSAGE_START: {
            assert_false(c->open);
            check_string(e->header->name);
            check_string(e->header->recipient);
            check_string(e->header->channel);
            check_string(e->header->content_type);
            c->msgs = xgrow(c->msgs, &c->cap, c->n + 1, sizeof *c->msgs);
            struct msg *m = &c->msgs[c->n++];
            *m = (struct msg){
                .role = e->header->role,
                .name = dup_or_null(e->header->name),
                .recipient = dup_or_null(e->header->recipient),
                .channel = dup_or_null(e->header->channel),
                .content_type = dup_or_null(e->header->content_type),
            };
            buf_append(&m->content, "", 0);
            c->open = true;
            started = true;
            break;
        }
        case HARMONY_EVENT_CONTENT: {
            assert_true(c->open);
            assert_non_null(e->text);
            assert_true(e->text_len > 0);
            assert_true(utf8_is_valid((const unsigned char *)e->text, e->text_len));
            n_content++;
            struct msg *m = &c->msgs[c->n - 1];
            assert_true(same(m->channel, e->header->channel));
            assert_true(same(m->recipient, e->header->recipient));
            buf_append(&m->content, e->text, e->text_len);
            break;
        }
        case HARMONY_EVENT_MESSAGE_END:
            assert_true(c->open);
            assert_true(e->end_token == 0 || e->end_token == TOKEN_END ||
                        e->end_token == TOKEN_RETURN || e->end_token == TOKEN_CALL);
            c->msgs[c->n - 1].end_token = e->end_token;
            c->msgs[c->n - 1].started_at_end = started;
            c->open = false;
            break;
        default: fail_msg("unknown event type %d", (int)e->type);
        }
    }
    assert_true(n_content <= 1);
}

static void push(struct harmony_parser *p, struct collector *c, uint32_t id)
{
    const struct harmony_event *ev;
    idbuf_push(&c->ids, id);
    size_t n = harmony_parser_push(p, id, &ev);
    collect(c, ev, n);
}

static void finish(struct harmony_parser *p, struct collector *c)
{
    const struct harmony_event *ev;
    size_t n = harmony_parser_finish(p, &ev);
    collect(c, ev, n);
    assert_false(c->open);
}

static const char *find_bytes(const char *s, size_t n, const char *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++) {
        if (memcmp(s + i, needle, m) == 0)
            return s + i;
    }
    return NULL;
}

/* Appends the bytes of the ordinary ids pushed so far. */
static void ordinary_bytes(const struct collector *c, struct buf *out)
{
    buf_append(out, "", 0);
    for (size_t k = 0; k < c->ids.len; k++) {
        size_t len;
        const char *b = tokenizer_token_bytes(tok, c->ids.data[k], &len);
        if (b && !tokenizer_is_special(c->ids.data[k]))
            buf_append(out, b, len);
    }
}

/* No content may spell a special token's name, unless the ordinary ids of the stream did. */
static void check_no_special_names(const struct collector *c)
{
    struct buf plain = {0};
    for (size_t i = 0; i < c->n; i++) {
        const char *s = c->msgs[i].content.data, *end = s + c->msgs[i].content.len;
        while ((s = find_bytes(s, (size_t)(end - s), "<|", 2)) != NULL) {
            const char *close = find_bytes(s + 2, (size_t)(end - s - 2), "|>", 2);
            size_t len = close ? (size_t)(close + 2 - s) : 0;
            uint32_t id;
            if (close && tokenizer_special_id(tok, s, len, &id)) {
                if (!plain.data)
                    ordinary_bytes(c, &plain);
                if (!find_bytes(plain.data, plain.len, s, len))
                    fail_msg("special name %.*s leaked into content", (int)len, s);
            }
            s += 2;
        }
    }
    buf_deinit(&plain);
}

/* Runs ids[0..n) through a fresh parser, then finish(). */
static void run(struct collector *c, const uint32_t *ids, size_t n, bool assistant_started)
{
    struct harmony_parser *p;
    collector_reset(c);
    assert_int_equal(harmony_parser_create(tok, assistant_started, &p), GPTOSS_OK);
    for (size_t i = 0; i < n; i++)
        push(p, c, ids[i]);
    finish(p, c);
    harmony_parser_destroy(p);
    check_no_special_names(c);
}

/* ---- goldens --------------------------------------------------------------------------------- */

struct golden {
    const char *name;
    bool assistant_started;
    struct idbuf ids;
    json_t *messages;
};

static void golden_load(json_t *jc, struct golden *g)
{
    g->name = json_string_value(json_object_get(jc, "name"));
    g->assistant_started = json_is_true(json_object_get(jc, "assistant_started"));
    g->messages = json_object_get(jc, "messages");
    idbuf_init(&g->ids);
    size_t i;
    json_t *v;
    json_array_foreach (json_object_get(jc, "tokens"), i, v)
        idbuf_push(&g->ids, (uint32_t)json_integer_value(v));
    assert_non_null(g->name);
    assert_true(json_is_array(g->messages));
}

static void expect_field(const char *golden, const char *field, json_t *want, const char *got)
{
    const char *w = json_is_null(want) ? NULL : json_string_value(want);
    if (!same(w, got))
        fail_msg("%s: %s is \"%s\", want \"%s\"", golden, field, got ? got : "(null)",
                 w ? w : "(null)");
}

/* Compares every field of a collected message with a golden one. */
static void expect_message(const char *golden, const struct msg *m, json_t *jm)
{
    expect_field(golden, "role", json_object_get(jm, "role"), harmony_role_name(m->role));
    expect_field(golden, "name", json_object_get(jm, "name"), m->name);
    expect_field(golden, "recipient", json_object_get(jm, "recipient"), m->recipient);
    expect_field(golden, "channel", json_object_get(jm, "channel"), m->channel);
    expect_field(golden, "content_type", json_object_get(jm, "content_type"), m->content_type);
    expect_field(golden, "content", json_object_get(jm, "content"), m->content.data);
    /* Content holds no NUL, so the string comparison above saw all of it. */
    assert_int_equal(strlen(m->content.data), m->content.len);
}

static void test_goldens(void **state)
{
    json_t *cases = json_object_get(goldens, "cases");
    assert_true(json_array_size(cases) >= 40);
    struct collector c = {0};
    size_t i;
    json_t *jc;
    json_array_foreach (cases, i, jc) {
        struct golden g;
        golden_load(jc, &g);
        run(&c, g.ids.data, g.ids.len, g.assistant_started);
        if (c.n != json_array_size(g.messages))
            fail_msg("%s: %zu messages, want %zu", g.name, c.n, json_array_size(g.messages));
        for (size_t k = 0; k < c.n; k++)
            expect_message(g.name, &c.msgs[k], json_array_get(g.messages, k));
        /* Each terminator ends one message, reported as its end_token. */
        size_t k = 0;
        for (size_t t = 0; t < g.ids.len; t++) {
            uint32_t id = g.ids.data[t];
            if (id != TOKEN_END && id != TOKEN_RETURN && id != TOKEN_CALL)
                continue;
            while (k < c.n && c.msgs[k].end_token == 0)
                k++;
            if (k == c.n || c.msgs[k].end_token != id)
                fail_msg("%s: terminator %u at %zu ends no message", g.name, id, t);
            k++;
        }
        idbuf_deinit(&g.ids);
    }
    collector_free(&c);
}

/* Every prefix of every golden: completed messages match the golden, a message cut short in
 * its content holds a prefix of the golden content (plus at most one U+FFFD for a split
 * character), and nothing fails. */
static void test_truncations(void **state)
{
    json_t *cases = json_object_get(goldens, "cases");
    struct collector c = {0};
    size_t i;
    json_t *jc;
    json_array_foreach (cases, i, jc) {
        struct golden g;
        golden_load(jc, &g);
        for (size_t len = 0; len <= g.ids.len; len++) {
            run(&c, g.ids.data, len, g.assistant_started);
            assert_true(c.n <= json_array_size(g.messages));
            for (size_t k = 0; k < c.n; k++) {
                const struct msg *m = &c.msgs[k];
                json_t *jm = json_array_get(g.messages, k);
                if (m->end_token != 0) {
                    expect_message(g.name, m, jm);
                    continue;
                }
                assert_int_equal(k, c.n - 1);
                if (m->started_at_end)
                    continue;
                expect_field(g.name, "channel", json_object_get(jm, "channel"), m->channel);
                expect_field(g.name, "recipient", json_object_get(jm, "recipient"), m->recipient);
                const char *want = json_string_value(json_object_get(jm, "content"));
                size_t got = m->content.len;
                if (got >= 3 && memcmp(m->content.data + got - 3, UTF8_REPLACEMENT, 3) == 0 &&
                    (got > strlen(want) || memcmp(want, m->content.data, got) != 0))
                    got -= 3;
                if (got > strlen(want) || memcmp(want, m->content.data, got) != 0)
                    fail_msg("%s cut at %zu: content \"%s\" is no prefix of \"%s\"", g.name, len,
                             m->content.data, want);
            }
        }
        idbuf_deinit(&g.ids);
    }
    collector_free(&c);
}

/* ---- random streams -------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rng(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static uint32_t rng_below(uint32_t n)
{
    return rng() % n;
}

static const uint32_t harmony_ids[] = {TOKEN_START,     TOKEN_END,    TOKEN_MESSAGE, TOKEN_CHANNEL,
                                       TOKEN_CONSTRAIN, TOKEN_RETURN, TOKEN_CALL};

static uint32_t random_id(void)
{
    uint32_t r = rng_below(100);
    if (r < 40)
        return rng_below(TOKENIZER_N_ORDINARY);
    if (r < 60)
        return harmony_ids[rng_below(sizeof harmony_ids / sizeof harmony_ids[0])];
    if (r < 70)
        return TOKENIZER_N_ORDINARY + rng_below(TOKENIZER_N_VOCAB - TOKENIZER_N_ORDINARY);
    if (r < 75)
        return r < 73 ? TOKENIZER_N_VOCAB + rng_below(1000) : rng();
    if (r < 90)
        return byte_id[0x80 + rng_below(0x80)]; /* lead and continuation bytes, 0xC0-0xFF */
    return byte_id[rng_below(0x80)];
}

static void test_shuffled_goldens(void **state)
{
    json_t *cases = json_object_get(goldens, "cases");
    struct collector c = {0};
    struct idbuf ids = {0};
    size_t i;
    json_t *jc;
    json_array_foreach (cases, i, jc) {
        struct golden g;
        golden_load(jc, &g);
        for (int round = 0; round < 200; round++) {
            idbuf_reset(&ids);
            idbuf_append(&ids, g.ids.data, g.ids.len);
            if (round % 2 == 0) {
                for (size_t k = ids.len; k > 1; k--) {
                    size_t j = rng_below((uint32_t)k);
                    uint32_t t = ids.data[k - 1];
                    ids.data[k - 1] = ids.data[j];
                    ids.data[j] = t;
                }
            } else {
                /* A few local edits: a dropped, duplicated or foreign id. */
                for (int e = 0; e < 3 && ids.len > 0; e++) {
                    size_t at = rng_below((uint32_t)ids.len);
                    uint32_t kind = rng_below(3);
                    if (kind == 0) {
                        memmove(ids.data + at, ids.data + at + 1,
                                (ids.len - at - 1) * sizeof *ids.data);
                        ids.len--;
                    } else if (kind == 1) {
                        ids.data[at] = ids.data[rng_below((uint32_t)ids.len)];
                    } else {
                        ids.data[at] = random_id();
                    }
                }
            }
            run(&c, ids.data, ids.len, round % 4 < 2 ? g.assistant_started : !g.assistant_started);
        }
        idbuf_deinit(&g.ids);
    }
    idbuf_deinit(&ids);
    collector_free(&c);
}

static void test_random_streams(void **state)
{
    struct collector c = {0};
    uint32_t ids[96];
    for (int round = 0; round < 20000; round++) {
        size_t n = 1 + rng_below(sizeof ids / sizeof ids[0]);
        for (size_t k = 0; k < n; k++)
            ids[k] = random_id();
        run(&c, ids, n, round % 2 == 0);
    }
    /* Every id of the vocabulary and beyond, once, in content and in a header. */
    struct harmony_parser *p;
    for (int started = 0; started < 2; started++) {
        collector_reset(&c);
        assert_int_equal(harmony_parser_create(tok, started, &p), GPTOSS_OK);
        if (started)
            push(p, &c, TOKEN_MESSAGE);
        for (uint32_t id = TOKENIZER_N_ORDINARY; id < TOKENIZER_N_VOCAB + 16; id++) {
            push(p, &c, id);
            push(p, &c, 17); /* "2" */
        }
        push(p, &c, UINT32_MAX);
        finish(p, &c);
        check_no_special_names(&c);
        harmony_parser_destroy(p);
    }
    collector_free(&c);
}

/* ---- hostile and malformed streams ----------------------------------------------------------- */

static struct idbuf encode(const char *text)
{
    struct idbuf ids = {0};
    tokenizer_encode(tok, text, strlen(text), true, &ids);
    return ids;
}

static void run_text(struct collector *c, const char *text, bool assistant_started)
{
    struct idbuf ids = encode(text);
    run(c, ids.data, ids.len, assistant_started);
    idbuf_deinit(&ids);
}

static void expect_msg(const struct collector *c, size_t k, enum harmony_role role,
                       const char *channel, const char *recipient, const char *content_type,
                       const char *content, uint32_t end_token)
{
    assert_true(k < c->n);
    const struct msg *m = &c->msgs[k];
    assert_int_equal(m->role, role);
    if (!same(m->channel, channel) || !same(m->recipient, recipient) ||
        !same(m->content_type, content_type) || strcmp(m->content.data, content) != 0)
        fail_msg("message %zu: channel %s recipient %s type %s content \"%s\", want %s %s %s "
                 "\"%s\"",
                 k, m->channel, m->recipient, m->content_type, m->content.data, channel, recipient,
                 content_type, content);
    assert_int_equal(m->end_token, end_token);
}

static void test_recovery_rules(void **state)
{
    struct collector c = {0};
    const enum harmony_role A = HARMONY_ROLE_ASSISTANT;

    /* A header that meets a terminator: its words become content, the marker does not. */
    run_text(&c, "<|channel|>commentary to=functions.x <|constrain|>json<|call|>", true);
    assert_int_equal(c.n, 1);
    expect_msg(&c, 0, A, "commentary", NULL, NULL, "to=functions.x json", TOKEN_CALL);

    /* A header cut off by the end of generation. */
    run_text(&c, "<|channel|>final", true);
    assert_int_equal(c.n, 1);
    expect_msg(&c, 0, A, "final", NULL, NULL, "", 0);
    run_text(&c, "<|start|>", false);
    assert_int_equal(c.n, 0);
    run_text(&c, "<|end|>", true);
    assert_int_equal(c.n, 0);

    /* <|start|> inside content: the model skipped <|end|>. */
    run_text(&c,
             "<|channel|>analysis<|message|>abc<|start|>assistant<|channel|>final<|message|>"
             "x<|return|>",
             true);
    assert_int_equal(c.n, 2);
    expect_msg(&c, 0, A, "analysis", NULL, NULL, "abc", 0);
    expect_msg(&c, 1, A, "final", NULL, NULL, "x", TOKEN_RETURN);

    /* <|channel|> inside content: "<|end|><|start|>assistant" skipped. */
    run_text(&c, "<|channel|>analysis<|message|>abc<|channel|>final<|message|>x<|return|>", true);
    assert_int_equal(c.n, 2);
    expect_msg(&c, 0, A, "analysis", NULL, NULL, "abc", 0);
    expect_msg(&c, 1, A, "final", NULL, NULL, "x", TOKEN_RETURN);

    /* <|start|> inside a header: the partial header becomes a message of its own. */
    run_text(&c, "<|channel|>analysis oops<|start|>assistant<|channel|>final<|message|>y<|end|>",
             true);
    assert_int_equal(c.n, 2);
    expect_msg(&c, 0, A, "analysis", NULL, NULL, "oops", 0);
    expect_msg(&c, 1, A, "final", NULL, NULL, "y", TOKEN_END);

    /* Text and stray tokens between messages. */
    run_text(&c,
             "<|channel|>final<|message|>a<|end|><|end|><|reserved_200100|>hello"
             "<|start|>assistant<|channel|>final<|message|>b<|return|>",
             true);
    assert_int_equal(c.n, 3);
    expect_msg(&c, 1, A, NULL, NULL, NULL, "hello", 0);
    expect_msg(&c, 2, A, "final", NULL, NULL, "b", TOKEN_RETURN);
    run_text(&c,
             "<|channel|>final<|message|>a<|end|><|channel|>final<|message|>b<|end|>"
             "<|message|>c<|end|>",
             true);
    assert_int_equal(c.n, 3);
    expect_msg(&c, 1, A, "final", NULL, NULL, "b", TOKEN_END);
    expect_msg(&c, 2, A, NULL, NULL, NULL, "c", TOKEN_END);
    run_text(&c, "stray", false);
    assert_int_equal(c.n, 1);
    expect_msg(&c, 0, A, NULL, NULL, NULL, "stray", 0);

    /* Special ids inside content are dropped. */
    run_text(&c,
             "<|channel|>final<|message|>a<|reserved_200100|>b<|endoftext|>c<|message|>d"
             "<|constrain|>e<|startoftext|>f<|return|>",
             true);
    assert_int_equal(c.n, 1);
    expect_msg(&c, 0, A, "final", NULL, NULL, "abcdef", TOKEN_RETURN);

    /* Headers harmony rejects. */
    run_text(&c, "<|start|>foo<|message|>x<|end|>", false);
    expect_msg(&c, 0, HARMONY_ROLE_TOOL, NULL, NULL, NULL, "x", TOKEN_END);
    assert_string_equal(c.msgs[0].name, "foo");
    run_text(&c, "<|start|><|message|>x<|end|>", false);
    expect_msg(&c, 0, A, NULL, NULL, NULL, "x", TOKEN_END);
    run_text(&c, "<|channel|><|message|>x<|end|>", true);
    expect_msg(&c, 0, A, NULL, NULL, NULL, "x", TOKEN_END);
    run_text(&c, "<|channel|>commentary a b to=f json<|message|>{}<|call|>", true);
    expect_msg(&c, 0, A, "commentary", "f", "json", "{}", TOKEN_CALL);
    run_text(&c, "<|channel|>commentary<|channel|>analysis to=f<|message|>{}<|call|>", true);
    expect_msg(&c, 0, A, "commentary", "f", NULL, "{}", TOKEN_CALL);
    run_text(&c, "<|channel|>final<|reserved_200100|><|startoftext|><|message|>z<|end|>", true);
    expect_msg(&c, 0, A, "final", NULL, NULL, "z", TOKEN_END);

    /* Ids outside the vocabulary vanish. */
    struct idbuf ids = encode("<|channel|>final<|message|>ab<|return|>");
    uint32_t bad[] = {ids.data[0], TOKENIZER_N_VOCAB, ids.data[1],           UINT32_MAX,
                      ids.data[2], ids.data[3],       TOKENIZER_N_VOCAB + 7, ids.data[4]};
    assert_int_equal(ids.len, 5);
    run(&c, bad, sizeof bad / sizeof bad[0], true);
    expect_msg(&c, 0, A, "final", NULL, NULL, "ab", TOKEN_RETURN);
    idbuf_deinit(&ids);
    collector_free(&c);
}

static void test_long_runs(void **state)
{
    struct collector c = {0};
    struct harmony_parser *p;
    static const uint32_t runs[] = {TOKEN_CHANNEL,   TOKEN_START, TOKEN_END, TOKEN_MESSAGE,
                                    TOKEN_CONSTRAIN, 200100,      17};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        for (int started = 0; started < 2; started++) {
            collector_reset(&c);
            assert_int_equal(harmony_parser_create(tok, started, &p), GPTOSS_OK);
            for (int k = 0; k < 20000; k++)
                push(p, &c, runs[r]);
            finish(p, &c);
            harmony_parser_destroy(p);
            check_no_special_names(&c);
        }
    }

    /* A header that never ends turns into content after 256 tokens, then streams. */
    collector_reset(&c);
    assert_int_equal(harmony_parser_create(tok, true, &p), GPTOSS_OK);
    struct idbuf head = encode("<|channel|>final");
    struct idbuf filler = encode(" x");
    assert_int_equal(head.len, 2);
    assert_int_equal(filler.len, 1);
    push(p, &c, head.data[0]);
    push(p, &c, head.data[1]);
    for (int k = 0; k < 254; k++)
        push(p, &c, filler.data[0]);
    assert_int_equal(c.n, 0);
    push(p, &c, filler.data[0]);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.msgs[0].channel, "final");
    assert_int_equal(c.msgs[0].content.len, 255 * 2 - 1);
    push(p, &c, filler.data[0]);
    assert_int_equal(c.msgs[0].content.len, 256 * 2 - 1);
    idbuf_deinit(&head);
    idbuf_deinit(&filler);
    push(p, &c, TOKEN_RETURN);
    assert_int_equal(c.msgs[0].end_token, TOKEN_RETURN);
    finish(p, &c);
    harmony_parser_destroy(p);
    collector_free(&c);
}

/* Multi-byte characters one byte token at a time, ill-formed bytes, and specials in between. */
static void test_split_characters(void **state)
{
    struct collector c = {0};
    struct harmony_parser *p;
    const struct harmony_event *ev;
    assert_int_equal(harmony_parser_create(tok, true, &p), GPTOSS_OK);
    push(p, &c, TOKEN_MESSAGE);
    static const unsigned char euro[] = {0xE2, 0x82, 0xAC};
    for (size_t k = 0; k < 3; k++) {
        size_t n = harmony_parser_push(p, byte_id[euro[k]], &ev);
        collect(&c, ev, n);
        assert_int_equal(n, k == 2 ? 1 : 0);
    }
    assert_string_equal(c.msgs[0].content.data, "\xE2\x82\xAC");
    /* A special between the bytes of a character is transparent. */
    push(p, &c, byte_id[0xF0]);
    push(p, &c, 200100);
    push(p, &c, byte_id[0x9F]);
    push(p, &c, TOKEN_CONSTRAIN);
    push(p, &c, byte_id[0x98]);
    push(p, &c, byte_id[0x80]);
    assert_string_equal(c.msgs[0].content.data, "\xE2\x82\xAC\xF0\x9F\x98\x80");
    /* A broken sequence: the held bytes become one U+FFFD, the new byte starts afresh. */
    push(p, &c, byte_id[0xE2]);
    push(p, &c, byte_id[0x82]);
    push(p, &c, byte_id['a']);
    push(p, &c, byte_id[0xFF]);
    push(p, &c, byte_id[0xC3]);
    push(p, &c, byte_id[0xE2]);
    push(p, &c, byte_id[0x82]);
    push(p, &c, TOKEN_END);
    assert_string_equal(c.msgs[0].content.data,
                        "\xE2\x82\xAC\xF0\x9F\x98\x80" UTF8_REPLACEMENT
                        "a" UTF8_REPLACEMENT UTF8_REPLACEMENT UTF8_REPLACEMENT);
    finish(p, &c);
    harmony_parser_destroy(p);

    /* Every pair and triple of high bytes, checked against utf8_append_lossy. */
    struct buf want = {0};
    for (unsigned a = 0x80; a < 0x100; a++) {
        for (unsigned b = 0x60; b < 0x100; b += 3) {
            unsigned char bytes[3] = {(unsigned char)a, (unsigned char)b, 0x9A};
            for (size_t len = 2; len <= 3; len++) {
                collector_reset(&c);
                assert_int_equal(harmony_parser_create(tok, false, &p), GPTOSS_OK);
                push(p, &c, TOKEN_MESSAGE);
                for (size_t k = 0; k < len; k++)
                    push(p, &c, byte_id[bytes[k]]);
                finish(p, &c);
                harmony_parser_destroy(p);
                buf_reset(&want);
                buf_append(&want, "", 0);
                utf8_append_lossy(&want, bytes, len);
                assert_string_equal(c.msgs[0].content.data, want.data);
            }
        }
    }
    buf_deinit(&want);
    collector_free(&c);
}

/* ---- set-up ---------------------------------------------------------------------------------- */

static int setup(void **state)
{
    const char *path = GPTOSS_TEST_DATA_DIR "/tokenizer/o200k_base.tiktoken";
    if (tokenizer_create(path, &tok) != GPTOSS_OK) {
        fprintf(stderr, "%s\n", error_message());
        return -1;
    }
    for (uint32_t id = 0; id < TOKENIZER_N_ORDINARY; id++) {
        size_t len;
        const char *b = tokenizer_token_bytes(tok, id, &len);
        if (len == 1)
            byte_id[(unsigned char)b[0]] = id;
    }
    json_error_t err;
    goldens = json_load_file(GPTOSS_TEST_DATA_DIR "/harmony/parser_goldens.json", 0, &err);
    if (!goldens) {
        fprintf(stderr, "parser_goldens.json:%d: %s\n", err.line, err.text);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    json_decref(goldens);
    tokenizer_destroy(tok);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goldens),        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_recovery_rules), cmocka_unit_test(test_split_characters),
        cmocka_unit_test(test_long_runs),      cmocka_unit_test(test_shuffled_goldens),
        cmocka_unit_test(test_random_streams),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
