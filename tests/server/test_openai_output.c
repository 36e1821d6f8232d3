/* test_openai_output.c — generated ids to OpenAI chat-completion messages and stream deltas.
 *
 * Streams are written as harmony text (special-token names become their ids) or built from
 * single-byte tokens where token boundaries matter. Every stream is run twice, streamed and not:
 * the deltas must be well-formed (role first, reasoning keys paired, tool-call indices dense and
 * stable), merging them must give exactly the non-streaming message, and both runs must agree.
 * Random streams from a fixed-seed generator check that no input crashes, leaks a special
 * token's name, or yields a tool call with a bad name or id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/openai_output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct tokenizer *tok;
static uint32_t byte_id[256]; /* the one-byte token of each byte */

static int setup(void **state)
{
    (void)state;
    if (tokenizer_create(GPTOSS_TEST_DATA_DIR "/tokenizer/o200k_base.tiktoken", &tok) !=
        GPTOSS_OK) {
        fprintf(stderr, "%s\n", error_message());
        return -1;
    }
    for (int b = 0; b < 256; b++) {
        struct idbuf ids;
        idbuf_init(&ids);
        char c = (char)b;
        tokenizer_encode(tok, &c, 1, false, &ids);
        if (ids.len != 1)
            return -1;
        byte_id[b] = ids.data[0];
        idbuf_deinit(&ids);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tokenizer_destroy(tok);
    return 0;
}

/* ---- streams --------------------------------------------------------------------------------- */

/* Harmony text to ids: special-token names become their ids, the rest is BPE-encoded. */
static void encode(struct idbuf *ids, const char *text)
{
    tokenizer_encode(tok, text, strlen(text), true, ids);
}

/* Ordinary text as one token per byte, so every byte boundary is a token boundary. */
static void encode_bytes(struct idbuf *ids, const char *text)
{
    for (const char *s = text; *s; s++)
        idbuf_push(ids, byte_id[(unsigned char)*s]);
}

/* ---- checking deltas ------------------------------------------------------------------------- */

static bool is_call_id(const char *s)
{
    if (strncmp(s, "call_", 5) != 0 || strlen(s) != 5 + 24)
        return false;
    for (const char *p = s + 5; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return false;
    }
    return true;
}

static bool is_tool_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

static const char *str_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void append_json_string(struct buf *b, const json_t *v)
{
    assert_true(json_is_string(v));
    assert_true(json_string_length(v) > 0); /* no empty fragments */
    buf_append(b, json_string_value(v), json_string_length(v));
}

/* Checks the shape of every delta and merges them into the message they describe. */
static json_t *merge_deltas(const json_t *deltas)
{
    assert_true(json_array_size(deltas) >= 1);
    const json_t *first = json_array_get(deltas, 0);
    assert_int_equal(json_object_size(first), 1);
    assert_string_equal(str_of(first, "role"), "assistant");

    struct buf content, reasoning;
    buf_init(&content);
    buf_init(&reasoning);
    json_t *calls = json_array();
    for (size_t i = 1; i < json_array_size(deltas); i++) {
        const json_t *d = json_array_get(deltas, i);
        assert_true(json_is_object(d));
        const json_t *v;
        if ((v = json_object_get(d, "content"))) {
            assert_int_equal(json_object_size(d), 1);
            append_json_string(&content, v);
        } else if ((v = json_object_get(d, "reasoning_content"))) {
            assert_int_equal(json_object_size(d), 2);
            assert_true(json_equal((json_t *)v, json_object_get(d, "reasoning")));
            append_json_string(&reasoning, v);
        } else {
            assert_int_equal(json_object_size(d), 1);
            const json_t *tc = json_object_get(d, "tool_calls");
            assert_int_equal(json_array_size(tc), 1);
            const json_t *c = json_array_get(tc, 0);
            const json_t *fn = json_object_get(c, "function");
            assert_true(json_is_integer(json_object_get(c, "index")));
            size_t index = (size_t)json_integer_value(json_object_get(c, "index"));
            if (index == json_array_size(calls)) { /* a call begins: everything but arguments */
                assert_int_equal(json_object_size(c), 4);
                assert_true(is_call_id(str_of(c, "id")));
                assert_string_equal(str_of(c, "type"), "function");
                assert_int_equal(json_object_size(fn), 2);
                assert_true(is_tool_name(str_of(fn, "name")));
                assert_string_equal(str_of(fn, "arguments"), "");
                json_array_append_new(calls,
                                      json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", str_of(c, "id"),
                                                "type", "function", "function", "name",
                                                str_of(fn, "name"), "arguments", ""));
            } else { /* more arguments of a call already begun */
                assert_true(index < json_array_size(calls));
                assert_int_equal(json_object_size(c), 2);
                assert_int_equal(json_object_size(fn), 1);
                json_t *mf = json_object_get(json_array_get(calls, index), "function");
                struct buf args;
                buf_init(&args);
                buf_puts(&args, str_of(mf, "arguments"));
                append_json_string(&args, json_object_get(fn, "arguments"));
                json_object_set_new(mf, "arguments", json_stringn(args.data, args.len));
                buf_deinit(&args);
            }
        }
    }

    json_t *m = json_pack("{s:s}", "role", "assistant");
    if (content.len > 0)
        json_object_set_new(m, "content", json_stringn(content.data, content.len));
    else
        json_object_set_new(m, "content",
                            json_array_size(calls) > 0 ? json_null() : json_string(""));
    if (reasoning.len > 0) {
        json_object_set_new(m, "reasoning_content", json_stringn(reasoning.data, reasoning.len));
        json_object_set_new(m, "reasoning", json_stringn(reasoning.data, reasoning.len));
    }
    if (json_array_size(calls) > 0)
        json_object_set(m, "tool_calls", calls);
    json_decref(calls);
    buf_deinit(&content);
    buf_deinit(&reasoning);
    return m;
}

/* ---- running a stream ------------------------------------------------------------------------ */

struct result {
    json_t *message;
    json_t *deltas;
    char finish_reason[16];
    bool stopped;      /* a push reported a stop string */
    size_t stopped_at; /* ids consumed when it did */
};

static void result_clear(struct result *r)
{
    json_decref(r->message);
    json_decref(r->deltas);
    memset(r, 0, sizeof *r);
}

static char *dump(const json_t *v)
{
    return json_dumps(v, JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

/* Runs ids[0..n) streamed and not; checks the two agree and the deltas merge to the message. */
static void run_opts(const uint32_t *ids, size_t n, const struct openai_output_options *opts,
                     bool length_limited, struct result *r)
{
    memset(r, 0, sizeof *r);
    struct openai_output *o;
    assert_int_equal(openai_output_create(tok, opts, &o), GPTOSS_OK);
    r->deltas = json_array();
    size_t i = 0;
    for (; i < n; i++) {
        if (openai_output_push(o, ids[i], r->deltas)) {
            r->stopped = true;
            r->stopped_at = i + 1;
            break;
        }
    }
    openai_output_finish(o, r->deltas);
    r->message = openai_output_message(o);
    snprintf(r->finish_reason, sizeof r->finish_reason, "%s",
             openai_output_finish_reason(o, length_limited && !r->stopped));
    assert_int_equal(openai_output_n_tool_calls(o),
                     json_array_size(json_object_get(r->message, "tool_calls")));
    openai_output_destroy(o);

    json_t *merged = merge_deltas(r->deltas);
    if (!json_equal(merged, r->message)) {
        char *a = dump(merged), *b = dump(r->message);
        fail_msg("merged deltas %s\n!= message %s", a, b);
    }
    json_decref(merged);

    /* Non-streaming: no deltas, the same ids, the same message (ids come from the seed). */
    assert_int_equal(openai_output_create(tok, opts, &o), GPTOSS_OK);
    bool stopped = false;
    for (size_t k = 0; k < n && !stopped; k++)
        stopped = openai_output_push(o, ids[k], NULL);
    openai_output_finish(o, NULL);
    json_t *whole = openai_output_message(o);
    assert_true(json_equal(whole, r->message));
    assert_int_equal(stopped, r->stopped);
    json_decref(whole);
    openai_output_destroy(o);
}

static void run(const uint32_t *ids, size_t n, bool length_limited, struct result *r)
{
    struct openai_output_options opts;
    openai_output_options_init(&opts);
    opts.seed = 42;
    run_opts(ids, n, &opts, length_limited, r);
}

static void run_text(const char *text, struct result *r)
{
    struct idbuf ids;
    idbuf_init(&ids);
    encode(&ids, text);
    run(ids.data, ids.len, false, r);
    idbuf_deinit(&ids);
}

/* The message's field as a string, NULL when null or absent. */
static const char *field(const struct result *r, const char *key)
{
    return json_string_value(json_object_get(r->message, key));
}

static const json_t *call_at(const struct result *r, size_t i)
{
    return json_array_get(json_object_get(r->message, "tool_calls"), i);
}

static const char *call_name(const struct result *r, size_t i)
{
    return json_string_value(json_object_get(json_object_get(call_at(r, i), "function"), "name"));
}

static const char *call_args(const struct result *r, size_t i)
{
    return json_string_value(
        json_object_get(json_object_get(call_at(r, i), "function"), "arguments"));
}

static size_t n_calls(const struct result *r)
{
    return json_array_size(json_object_get(r->message, "tool_calls"));
}

static size_t count_deltas_with(const struct result *r, const char *key)
{
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(r->deltas); i++)
        n += json_object_get(json_array_get(r->deltas, i), key) != NULL;
    return n;
}

/* ---- well-formed output ---------------------------------------------------------------------- */

static void test_analysis_then_final(void **state)
{
    (void)state;
    /* The spec's example completion, token for token. */
    static const uint32_t ids[] = {
        200005, 35644, 200008, 1844,  31064, 25,  392,   4827, 382, 220,    17,     659,
        220,    17,    16842,  12295, 81645, 13,  51441, 6052, 13,  200007, 200006, 173781,
        200005, 17196, 200008, 17,    659,   220, 17,    314,  220, 19,     13,     200002};
    struct result r;
    run(ids, sizeof ids / sizeof *ids, false, &r);
    assert_string_equal(field(&r, "reasoning_content"),
                        "User asks: \"What is 2 + 2?\" Simple arithmetic. Provide answer.");
    assert_string_equal(field(&r, "reasoning"), field(&r, "reasoning_content"));
    assert_string_equal(field(&r, "content"), "2 + 2 = 4.");
    assert_null(json_object_get(r.message, "tool_calls"));
    assert_string_equal(r.finish_reason, "stop");
    /* Streamed token by token, not in one piece. */
    assert_true(count_deltas_with(&r, "reasoning_content") > 5);
    assert_true(count_deltas_with(&r, "content") > 3);
    result_clear(&r);
}

static void test_final_only(void **state)
{
    (void)state;
    struct result r;
    run_text("<|channel|>final<|message|>Hello, world!<|return|>", &r);
    assert_string_equal(field(&r, "content"), "Hello, world!");
    assert_null(json_object_get(r.message, "reasoning_content"));
    assert_null(json_object_get(r.message, "reasoning"));
    assert_string_equal(r.finish_reason, "stop");
    result_clear(&r);

    /* Nothing generated at all: an empty answer, still with its role delta. */
    run(NULL, 0, false, &r);
    assert_string_equal(field(&r, "content"), "");
    assert_int_equal(json_array_size(r.deltas), 1);
    result_clear(&r);
}

static void test_preamble_and_tool_call(void **state)
{
    (void)state;
    struct result r;
    run_text("<|channel|>analysis<|message|>Need the weather.<|end|>"
             "<|start|>assistant<|channel|>commentary<|message|>Let me check.<|end|>"
             "<|start|>assistant<|channel|>commentary to=functions.get_weather "
             "<|constrain|>json<|message|>{\"location\":\"Paris\",\"unit\":\"celsius\"}<|call|>",
             &r);
    assert_string_equal(field(&r, "reasoning_content"), "Need the weather.");
    assert_string_equal(field(&r, "content"), "Let me check.");
    assert_int_equal(n_calls(&r), 1);
    assert_string_equal(call_name(&r, 0), "get_weather");
    assert_string_equal(call_args(&r, 0), "{\"location\":\"Paris\",\"unit\":\"celsius\"}");
    assert_true(is_call_id(json_string_value(json_object_get(call_at(&r, 0), "id"))));
    assert_string_equal(json_string_value(json_object_get(call_at(&r, 0), "type")), "function");
    assert_string_equal(r.finish_reason, "tool_calls");
    /* Arguments streamed in fragments after the opening delta. */
    assert_true(count_deltas_with(&r, "tool_calls") > 3);
    result_clear(&r);

    /* A tool call alone: content is null, as OpenAI sends it. */
    run_text("<|channel|>commentary to=functions.f <|constrain|>json<|message|>{}<|call|>", &r);
    assert_true(json_is_null(json_object_get(r.message, "content")));
    assert_string_equal(call_name(&r, 0), "f");
    assert_string_equal(call_args(&r, 0), "{}");
    result_clear(&r);

    /* No arguments at all still makes a call, with "". */
    run_text("<|channel|>commentary to=functions.get_time<|message|><|call|>", &r);
    assert_int_equal(n_calls(&r), 1);
    assert_string_equal(call_args(&r, 0), "");
    result_clear(&r);
}

static void test_several_tool_calls(void **state)
{
    (void)state;
    struct result r;
    run_text("<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>"
             "{\"location\":\"Paris\"}<|call|>"
             "<|start|>assistant<|channel|>analysis<|message|>And Tokyo too.<|end|>"
             "<|start|>assistant<|channel|>commentary to=functions.get_weather "
             "<|constrain|>json<|message|>{\"location\":\"Tokyo\"}<|call|>"
             "<|start|>assistant<|channel|>commentary to=functions.get_time json<|message|>"
             "{\"tz\":\"Asia/Tokyo\"}<|call|>",
             &r);
    assert_int_equal(n_calls(&r), 3);
    assert_string_equal(call_name(&r, 0), "get_weather");
    assert_string_equal(call_args(&r, 0), "{\"location\":\"Paris\"}");
    assert_string_equal(call_name(&r, 1), "get_weather");
    assert_string_equal(call_args(&r, 1), "{\"location\":\"Tokyo\"}");
    assert_string_equal(call_name(&r, 2), "get_time");
    assert_string_equal(call_args(&r, 2), "{\"tz\":\"Asia/Tokyo\"}");
    assert_string_equal(field(&r, "reasoning"), "And Tokyo too.");
    const char *id0 = json_string_value(json_object_get(call_at(&r, 0), "id"));
    const char *id1 = json_string_value(json_object_get(call_at(&r, 1), "id"));
    const char *id2 = json_string_value(json_object_get(call_at(&r, 2), "id"));
    assert_string_not_equal(id0, id1);
    assert_string_not_equal(id1, id2);
    assert_string_not_equal(id0, id2);
    assert_string_equal(r.finish_reason, "tool_calls");
    /* Once a later call has begun, no fragment goes back to an earlier index. */
    json_int_t last = -1;
    for (size_t i = 0; i < json_array_size(r.deltas); i++) {
        const json_t *tc = json_object_get(json_array_get(r.deltas, i), "tool_calls");
        if (!tc)
            continue;
        json_int_t index = json_integer_value(json_object_get(json_array_get(tc, 0), "index"));
        assert_true(index >= last);
        last = index;
    }
    assert_int_equal(last, 2);
    result_clear(&r);
}

static void test_call_ids_follow_the_seed(void **state)
{
    (void)state;
    struct idbuf ids;
    idbuf_init(&ids);
    encode(&ids, "<|channel|>commentary to=functions.f<|message|>{}<|call|>");
    struct openai_output_options opts;
    openai_output_options_init(&opts);
    struct result a, b, c;
    opts.seed = 7;
    run_opts(ids.data, ids.len, &opts, false, &a);
    run_opts(ids.data, ids.len, &opts, false, &b);
    opts.seed = 8;
    run_opts(ids.data, ids.len, &opts, false, &c);
    const char *ia = json_string_value(json_object_get(call_at(&a, 0), "id"));
    assert_string_equal(ia, json_string_value(json_object_get(call_at(&b, 0), "id")));
    assert_string_not_equal(ia, json_string_value(json_object_get(call_at(&c, 0), "id")));
    result_clear(&a);
    result_clear(&b);
    result_clear(&c);
    idbuf_deinit(&ids);
}

static void test_recipient_before_and_after_channel(void **state)
{
    (void)state;
    static const char *const streams[] = {
        /* the model's usual order */
        "<|channel|>commentary to=functions.lookup <|constrain|>json<|message|>{\"q\":1}<|call|>",
        /* harmony's rendering order, first message (role preset) */
        " to=functions.lookup<|channel|>commentary <|constrain|>json<|message|>{\"q\":1}<|call|>",
        /* harmony's rendering order after an explicit <|start|> */
        "<|channel|>analysis<|message|>x<|end|><|start|>assistant to=functions.lookup"
        "<|channel|>commentary json<|message|>{\"q\":1}<|call|>",
        /* on the analysis channel, with a content type "code" */
        "<|start|>assistant to=functions.lookup<|channel|>analysis code<|message|>{\"q\":1}"
        "<|call|>",
        /* no space before <|constrain|> */
        "<|channel|>commentary to=functions.lookup<|constrain|>json<|message|>{\"q\":1}<|call|>",
    };
    for (size_t i = 0; i < sizeof streams / sizeof *streams; i++) {
        struct result r;
        run_text(streams[i], &r);
        assert_int_equal(n_calls(&r), 1);
        assert_string_equal(call_name(&r, 0), "lookup");
        assert_string_equal(call_args(&r, 0), "{\"q\":1}");
        assert_string_equal(r.finish_reason, "tool_calls");
        result_clear(&r);
    }
}

static void test_builtin_tools_are_reasoning(void **state)
{
    (void)state;
    struct result r;
    run_text("<|channel|>analysis<|message|>Search it.<|end|>"
             "<|start|>assistant<|channel|>analysis to=browser.search code<|message|>"
             "{\"query\":\"weather\"}<|call|>",
             &r);
    assert_int_equal(n_calls(&r), 0);
    assert_string_equal(field(&r, "reasoning"), "Search it.\n{\"query\":\"weather\"}");
    assert_string_equal(field(&r, "content"), "");
    assert_string_equal(r.finish_reason, "stop");
    result_clear(&r);

    run_text("<|channel|>commentary to=python code<|message|>print(1)<|call|>", &r);
    assert_int_equal(n_calls(&r), 0);
    assert_string_equal(field(&r, "reasoning"), "print(1)");
    assert_string_equal(field(&r, "content"), "");
    result_clear(&r);

    /* Recipient "all" is harmony's broadcast: no recipient at all. */
    run_text("<|channel|>final to=all<|message|>Hi all.<|return|>", &r);
    assert_string_equal(field(&r, "content"), "Hi all.");
    result_clear(&r);
}

static void test_messages_join_with_newline(void **state)
{
    (void)state;
    struct result r;
    run_text("<|channel|>analysis<|message|>one<|end|><|start|>assistant<|channel|>analysis"
             "<|message|>two<|end|><|start|>assistant<|channel|>final<|message|>A<|end|>"
             "<|start|>assistant<|channel|>final<|message|><|end|>"
             "<|start|>assistant<|channel|>final<|message|>B<|return|>",
             &r);
    assert_string_equal(field(&r, "reasoning"), "one\ntwo");
    assert_string_equal(field(&r, "content"), "A\nB");
    result_clear(&r);
}

/* ---- malformed output ------------------------------------------------------------------------ */

static void test_malformed_headers(void **state)
{
    (void)state;
    struct result r;

    /* No <|message|>: the parser keeps the words; a final answer stays content. */
    run_text("<|channel|>final The answer is 4.<|return|>", &r);
    assert_string_equal(field(&r, "content"), "The answer is 4.");
    result_clear(&r);

    /* No <|message|> in a call: header words must not become the answer or a call. */
    run_text("<|channel|>commentary to=functions.get_weather <|constrain|>json<|call|>", &r);
    assert_int_equal(n_calls(&r), 0);
    assert_string_equal(field(&r, "content"), "");
    assert_null(strstr(field(&r, "reasoning"), "<|"));
    result_clear(&r);

    /* Same, cut off by the next <|start|>. */
    run_text("<|channel|>commentary to=functions.f json<|start|>assistant<|channel|>final"
             "<|message|>ok<|return|>",
             &r);
    assert_int_equal(n_calls(&r), 0);
    assert_string_equal(field(&r, "content"), "ok");
    result_clear(&r);

    /* Recipients that are no function name a client could have declared. */
    static const char *const bad[] = {
        "<|channel|>commentary to=functions.get weather <|constrain|>json<|message|>{}<|call|>",
        "<|channel|>commentary to=functions.\"get\" <|constrain|>json<|message|>{}<|call|>",
        "<|channel|>commentary to=functions.a'b json<|message|>{}<|call|>",
        "<|channel|>commentary to= <|constrain|>json<|message|>{}<|call|>",
        "<|channel|>commentary to=<|message|>{}<|call|>",
        "<|channel|>commentary to=functions. <|constrain|>json<|message|>{}<|call|>",
        "<|channel|>commentary to=functions <|constrain|>json<|message|>{}<|call|>",
        "<|channel|>commentary to=functions.f\xc3\xa9 json<|message|>{}<|call|>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        run_text(bad[i], &r);
        assert_int_equal(n_calls(&r), 0);
        assert_string_equal(field(&r, "content"), "");
        assert_string_equal(field(&r, "reasoning"), "{}");
        assert_string_equal(r.finish_reason, "stop");
        result_clear(&r);
    }
    /* OpenAI's limit: 64 characters is a name, 65 is not. */
    for (size_t len = 64; len <= 65; len++) {
        char name[66], text[160];
        memset(name, 'a', len);
        name[len] = '\0';
        snprintf(text, sizeof text,
                 "<|channel|>commentary to=functions.%s json<|message|>{}<|call|>", name);
        run_text(text, &r);
        assert_int_equal(n_calls(&r), len == 64 ? 1 : 0);
        if (len == 64)
            assert_string_equal(call_name(&r, 0), name);
        else
            assert_string_equal(field(&r, "reasoning"), "{}");
        result_clear(&r);
    }

    /* No channel, or no header at all: the text is the answer. */
    run_text("<|message|>hi<|return|>", &r);
    assert_string_equal(field(&r, "content"), "hi");
    result_clear(&r);
    run_text("Just text.<|return|>", &r);
    assert_string_equal(field(&r, "content"), "Just text.");
    result_clear(&r);
    run_text("<|channel|>final<|message|>a<|end|>b<|return|>", &r);
    assert_string_equal(field(&r, "content"), "a\nb");
    result_clear(&r);

    /* A hallucinated user or tool turn is not the assistant's output. */
    run_text("<|channel|>final<|message|>Done.<|end|><|start|>user<|message|>thanks<|end|>"
             "<|start|>functions.f to=assistant<|channel|>commentary<|message|>{}<|end|>",
             &r);
    assert_string_equal(field(&r, "content"), "Done.");
    assert_null(json_object_get(r.message, "reasoning"));
    result_clear(&r);

    /* Special tokens inside content, text after <|return|>. */
    run_text("<|channel|>final<|message|>a<|constrain|>b<|message|>c<|return|>d<|call|>", &r);
    assert_null(strstr(field(&r, "content"), "<|"));
    assert_true(strncmp(field(&r, "content"), "abc", 3) == 0);
    result_clear(&r);
}

static void test_truncated(void **state)
{
    (void)state;
    struct idbuf ids;
    idbuf_init(&ids);
    encode(&ids, "<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>"
                 "commentary to=functions.get_weather <|constrain|>json<|message|>"
                 "{\"location\":\"Par");
    struct result r;
    run(ids.data, ids.len, true, &r);
    assert_int_equal(n_calls(&r), 1);
    assert_string_equal(call_args(&r, 0), "{\"location\":\"Par");
    assert_string_equal(r.finish_reason, "length");
    result_clear(&r);

    /* Every prefix of a full exchange: never a crash, always consistent. */
    idbuf_reset(&ids);
    encode(&ids, "<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>"
                 "commentary<|message|>Checking.<|end|><|start|>assistant to=functions.f"
                 "<|channel|>commentary <|constrain|>json<|message|>{\"a\":\"\xe2\x82\xac\"}"
                 "<|call|>");
    for (size_t n = 0; n <= ids.len; n++) {
        run(ids.data, n, n < ids.len, &r);
        assert_string_equal(r.finish_reason, n < ids.len ? "length" : "tool_calls");
        result_clear(&r);
    }

    /* Cut inside a multi-byte character: it is completed as U+FFFD, never split. */
    idbuf_reset(&ids);
    encode(&ids, "<|channel|>final<|message|>");
    idbuf_push(&ids, byte_id[0xe2]);
    idbuf_push(&ids, byte_id[0x82]);
    run(ids.data, ids.len, true, &r);
    assert_string_equal(field(&r, "content"), UTF8_REPLACEMENT);
    result_clear(&r);
    idbuf_deinit(&ids);
}

/* ---- stop strings ---------------------------------------------------------------------------- */

/* Runs `prefix` (harmony text) then `bytes` one byte per token, with the given stops. */
static void run_stops(const char *prefix, const char *bytes, const char *suffix,
                      const char *const *stop, size_t n_stop, struct result *r)
{
    struct idbuf ids;
    idbuf_init(&ids);
    encode(&ids, prefix);
    encode_bytes(&ids, bytes);
    encode(&ids, suffix);
    struct openai_output_options opts;
    openai_output_options_init(&opts);
    opts.stop = stop;
    opts.n_stop = n_stop;
    run_opts(ids.data, ids.len, &opts, false, r);
    idbuf_deinit(&ids);
}

static void test_stop_strings(void **state)
{
    (void)state;
    struct result r;
    const char *const final = "<|channel|>final<|message|>";

    /* Inside one token. */
    const char *s1[] = {"=", "never"};
    struct idbuf ids;
    idbuf_init(&ids);
    encode(&ids, "<|channel|>final<|message|>2 + 2 = 4.<|return|>");
    struct openai_output_options opts;
    openai_output_options_init(&opts);
    opts.stop = s1;
    opts.n_stop = 2;
    run_opts(ids.data, ids.len, &opts, false, &r);
    assert_true(r.stopped);
    assert_string_equal(field(&r, "content"), "2 + 2 ");
    assert_string_equal(r.finish_reason, "stop");
    result_clear(&r);
    idbuf_deinit(&ids);

    /* Across tokens; the ids after the match are never consumed. */
    const char *s2[] = {"lo wor"};
    run_stops(final, "hello world", "<|return|>", s2, 1, &r);
    assert_true(r.stopped);
    assert_string_equal(field(&r, "content"), "hel");
    assert_int_equal(r.stopped_at, 3 + 9); /* header ids + "hello wor" */
    result_clear(&r);

    /* At the very end of the content. */
    const char *s3[] = {"end."};
    run_stops(final, "the end.", "<|return|>", s3, 1, &r);
    assert_true(r.stopped);
    assert_string_equal(field(&r, "content"), "the ");
    result_clear(&r);

    /* Overlapping prefixes: the held-back tail must restart inside itself. */
    const char *s4[] = {"abcabd"};
    run_stops(final, "xabcabcabdyz", "<|return|>", s4, 1, &r);
    assert_true(r.stopped);
    assert_string_equal(field(&r, "content"), "xabc");
    result_clear(&r);

    /* The first stop string to complete wins (output cannot wait for a longer one); of those
     * completing on the same token, the one that starts first. */
    const char *s5[] = {"e", "bcdef", "cde"};
    run_stops(final, "abcdefg", "<|return|>", s5, 3, &r);
    assert_string_equal(field(&r, "content"), "ab");
    result_clear(&r);
    run_stops(final, "abcdefg", "<|return|>", s5 + 1, 1, &r);
    assert_string_equal(field(&r, "content"), "a");
    result_clear(&r);

    /* A tail that might have begun a stop string is released at the end. */
    const char *s6[] = {"abc"};
    run_stops(final, "xyab", "<|return|>", s6, 1, &r);
    assert_false(r.stopped);
    assert_string_equal(field(&r, "content"), "xyab");
    /* ... and held back until then: the last content delta comes from finish. */
    const json_t *last = json_array_get(r.deltas, json_array_size(r.deltas) - 1);
    assert_string_equal(str_of(last, "content"), "ab");
    result_clear(&r);

    /* Reasoning and tool arguments are not subject to stop strings. */
    const char *s7[] = {"Paris"};
    run_stops("<|channel|>analysis<|message|>Paris?<|end|><|start|>assistant<|channel|>"
              "commentary to=functions.w json<|message|>",
              "{\"city\":\"Paris\"}", "<|call|>", s7, 1, &r);
    assert_false(r.stopped);
    assert_string_equal(field(&r, "reasoning"), "Paris?");
    assert_string_equal(call_args(&r, 0), "{\"city\":\"Paris\"}");
    assert_string_equal(r.finish_reason, "tool_calls");
    result_clear(&r);

    /* Content spans messages: a stop string may straddle the separator. */
    const char *s8[] = {"one\ntw"};
    run_stops("<|channel|>commentary<|message|>one<|end|><|start|>assistant<|channel|>final"
              "<|message|>",
              "two", "<|return|>", s8, 1, &r);
    assert_true(r.stopped);
    assert_string_equal(field(&r, "content"), "");
    result_clear(&r);

    /* Multi-byte stop strings, matched inside a character-aligned tail. */
    const char *s9[] = {"\xe2\x82\xac"
                        "5"};
    run_stops(final,
              "costs \xe2\x82\xac 4, \xe2\x82\xac"
              "5",
              "<|return|>", s9, 1, &r);
    assert_string_equal(field(&r, "content"), "costs \xe2\x82\xac 4, ");
    result_clear(&r);

    /* An empty stop string is ignored. */
    const char *s10[] = {""};
    run_stops(final, "abc", "<|return|>", s10, 1, &r);
    assert_false(r.stopped);
    assert_string_equal(field(&r, "content"), "abc");
    result_clear(&r);

    /* Pushes after a match are ignored and keep reporting it. */
    struct openai_output *o;
    opts.stop = s3;
    opts.n_stop = 1;
    assert_int_equal(openai_output_create(tok, &opts, &o), GPTOSS_OK);
    idbuf_init(&ids);
    encode(&ids, final);
    encode_bytes(&ids, "the end.");
    bool stopped = false;
    for (size_t i = 0; i < ids.len; i++)
        stopped = openai_output_push(o, ids.data[i], NULL);
    assert_true(stopped);
    assert_true(openai_output_push(o, byte_id['x'], NULL));
    openai_output_finish(o, NULL);
    json_t *m = openai_output_message(o);
    assert_string_equal(json_string_value(json_object_get(m, "content")), "the ");
    json_decref(m);
    assert_string_equal(openai_output_finish_reason(o, true), "stop");
    openai_output_destroy(o);
    idbuf_deinit(&ids);
}

static void test_bad_options(void **state)
{
    (void)state;
    struct openai_output *o = (struct openai_output *)&o;
    struct openai_output_options opts;
    openai_output_options_init(&opts);
    const char *five[] = {"a", "b", "c", "d", "e"};
    opts.stop = five;
    opts.n_stop = 5;
    assert_int_equal(openai_output_create(tok, &opts, &o), GPTOSS_ERR_INVALID_ARGUMENT);
    assert_null(o);
    assert_non_null(strstr(error_message(), "stop"));
    const char *bad[] = {"ok", "\xff"};
    opts.stop = bad;
    opts.n_stop = 2;
    assert_int_equal(openai_output_create(tok, &opts, &o), GPTOSS_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(error_message(), "stop[1]"));
    openai_output_destroy(NULL);
}

/* ---- random streams -------------------------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    return (uint32_t)(rand_splitmix64(&rng_state) % n);
}

/* Ordinary ids whose bytes hold neither '<' nor '|', so "<|" in any output is a leak. */
static uint32_t random_ordinary(void)
{
    for (;;) {
        uint32_t id = rnd(TOKENIZER_N_ORDINARY);
        size_t n;
        const char *b = tokenizer_token_bytes(tok, id, &n);
        if (!memchr(b, '<', n) && !memchr(b, '|', n))
            return id;
    }
}

static void assert_no_special_names(const char *s)
{
    if (s)
        assert_null(strstr(s, "<|"));
}

static void test_random_streams(void **state)
{
    (void)state;
    static const uint32_t specials[] = {TOKEN_START,     TOKEN_END,    TOKEN_MESSAGE, TOKEN_CHANNEL,
                                        TOKEN_CONSTRAIN, TOKEN_RETURN, TOKEN_CALL};
    static const char *const words[] = {
        "assistant",
        "user",
        "analysis",
        "final",
        "commentary",
        " to=functions.get_weather",
        " to=functions.",
        " to=browser.search",
        " to=",
        " to=all",
        " json",
        " code",
        "functions",
        ".",
        "{\"a\":1}",
        " ",
        "\n",
        "tool",
        " to=functions.a b",
        "abc",
        "\xe2\x82\xac",
    };
    static const char *const stops[] = {"a", "the", "\n", " ", "abcabd", "\xe2\x82\xac"};
    struct idbuf pieces[sizeof words / sizeof *words];
    for (size_t w = 0; w < sizeof words / sizeof *words; w++) {
        idbuf_init(&pieces[w]);
        tokenizer_encode(tok, words[w], strlen(words[w]), false, &pieces[w]);
    }
    size_t seen_calls = 0, seen_content = 0, seen_reasoning = 0, seen_stops = 0;
    rng_state = 20240806;
    struct idbuf ids;
    idbuf_init(&ids);
    for (int iter = 0; iter < 10000; iter++) {
        idbuf_reset(&ids);
        size_t len = rnd(80);
        while (ids.len < len) {
            switch (rnd(8)) {
            case 0:
            case 1: idbuf_push(&ids, specials[rnd(sizeof specials / sizeof *specials)]); break;
            case 2:
                idbuf_push(&ids,
                           TOKENIZER_N_ORDINARY + rnd(TOKENIZER_N_VOCAB - TOKENIZER_N_ORDINARY));
                break;
            case 3:
                idbuf_push(&ids, rnd(4) ? random_ordinary() : TOKENIZER_N_VOCAB + rnd(1000));
                break;
            case 4: idbuf_push(&ids, byte_id[0x80 + rnd(0x80)]); break; /* broken UTF-8 */
            default: {
                const struct idbuf *p = &pieces[rnd(sizeof words / sizeof *words)];
                idbuf_append(&ids, p->data, p->len);
            }
            }
        }
        struct openai_output_options opts;
        openai_output_options_init(&opts);
        opts.seed = (uint64_t)iter;
        const char *chosen[2];
        if (rnd(3) == 0) {
            opts.n_stop = 1 + rnd(2);
            for (size_t k = 0; k < opts.n_stop; k++)
                chosen[k] = stops[rnd(sizeof stops / sizeof *stops)];
            opts.stop = chosen;
        }
        struct result r;
        run_opts(ids.data, ids.len, &opts, rnd(2) == 0, &r);

        /* Every string survives a JSON round trip, and nothing spells a special token. */
        char *text = json_dumps(r.deltas, 0);
        assert_non_null(text);
        json_error_t jerr;
        json_t *back = json_loads(text, 0, &jerr);
        assert_non_null(back);
        assert_true(json_equal(back, r.deltas));
        json_decref(back);
        free(text);
        assert_no_special_names(field(&r, "content"));
        assert_no_special_names(field(&r, "reasoning"));
        for (size_t i = 0; i < n_calls(&r); i++) {
            assert_true(is_tool_name(call_name(&r, i)));
            assert_true(is_call_id(json_string_value(json_object_get(call_at(&r, i), "id"))));
            assert_no_special_names(call_args(&r, i));
        }
        /* Stopped or not, the content never holds a stop string. */
        for (size_t k = 0; k < opts.n_stop && field(&r, "content"); k++)
            assert_null(strstr(field(&r, "content"), opts.stop[k]));
        seen_calls += n_calls(&r) > 0;
        seen_content += field(&r, "content") && *field(&r, "content");
        seen_reasoning += field(&r, "reasoning") != NULL;
        seen_stops += r.stopped;
        const char *fr = r.finish_reason;
        assert_true(strcmp(fr, "stop") == 0 || strcmp(fr, "length") == 0 ||
                    strcmp(fr, "tool_calls") == 0);
        result_clear(&r);
    }
    idbuf_deinit(&ids);
    for (size_t w = 0; w < sizeof words / sizeof *words; w++)
        idbuf_deinit(&pieces[w]);
    /* The generator reaches every route, or this test proves little. */
    print_message("random streams: %zu with calls, %zu content, %zu reasoning, %zu stopped\n",
                  seen_calls, seen_content, seen_reasoning, seen_stops);
    assert_true(seen_calls > 100 && seen_content > 1000 && seen_reasoning > 1000 &&
                seen_stops > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_analysis_then_final),
        cmocka_unit_test(test_final_only),
        cmocka_unit_test(test_preamble_and_tool_call),
        cmocka_unit_test(test_several_tool_calls),
        cmocka_unit_test(test_call_ids_follow_the_seed),
        cmocka_unit_test(test_recipient_before_and_after_channel),
        cmocka_unit_test(test_builtin_tools_are_reasoning),
        cmocka_unit_test(test_messages_join_with_newline),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_stop_strings),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_random_streams),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
