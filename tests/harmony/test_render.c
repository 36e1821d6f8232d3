/* test_render.c — the harmony renderer against openai-harmony.
 *
 * The main test replays tests/data/harmony/render_goldens.json: each case describes a
 * conversation in harmony's terms (written by tools/make_render_goldens.py, which also recorded
 * the ids openai-harmony renders for it); the case is turned into harmony_message structures,
 * rendered, and the ids compared exactly. A mismatch prints the decoded text around the first
 * differing id. The other tests exercise harmony_schema_to_typescript directly on schemas whose
 * expected text was taken from openai-harmony, and the error paths of the renderer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "harmony/harmony.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKENIZER_PATH GPTOSS_TEST_DATA_DIR "/tokenizer/o200k_base.tiktoken"
#define GOLDENS_PATH   GPTOSS_TEST_DATA_DIR "/harmony/render_goldens.json"

static struct tokenizer *tok;

static int setup(void **state)
{
    if (tokenizer_create(TOKENIZER_PATH, &tok) != GPTOSS_OK) {
        fprintf(stderr, "cannot load %s: %s\n", TOKENIZER_PATH, error_message());
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    tokenizer_destroy(tok);
    return 0;
}

/* ---- Building harmony structures from a golden case ------------------------------------- */

/* Everything a case needs lives in the arena or in the case's JSON (strings are borrowed). */
struct built_case {
    struct arena arena;
    struct harmony_message *msgs;
    size_t n;
    enum harmony_role next_role;
    bool auto_drop;
};

static enum harmony_role role_of(const char *s)
{
    static const char *const names[] = {"system", "developer", "user", "assistant", "tool"};
    for (int r = 0; r < 5; r++) {
        if (strcmp(s, names[r]) == 0)
            return (enum harmony_role)r;
    }
    fail_msg("unknown role %s", s);
    return HARMONY_ROLE_USER;
}

/* The string member `key`: absent or null gives NULL. */
static const char *str_or_null(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void build_tools(struct arena *a, const json_t *arr, const struct harmony_tool **tools_out,
                        size_t *n_out)
{
    size_t n = json_array_size(arr);
    struct harmony_tool *tools = arena_calloc(a, n ? n : 1, sizeof *tools);
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(arr, i);
        tools[i].name = str_or_null(t, "name");
        tools[i].description = str_or_null(t, "description");
        const json_t *params = json_object_get(t, "parameters");
        if (params && !json_is_null(params)) {
            char *text = json_dumps(params, JSON_COMPACT | JSON_ENCODE_ANY);
            tools[i].parameters_json = arena_strdup(a, text);
            free(text);
        }
    }
    *tools_out = tools;
    *n_out = n;
}

static const struct harmony_namespace *build_namespace(struct arena *a, const json_t *ns)
{
    if (json_is_string(ns)) {
        if (strcmp(json_string_value(ns), "browser") == 0)
            return harmony_namespace_browser();
        if (strcmp(json_string_value(ns), "python") == 0)
            return harmony_namespace_python();
        fail_msg("unknown built-in namespace %s", json_string_value(ns));
    }
    struct harmony_namespace *out = arena_calloc(a, 1, sizeof *out);
    out->name = str_or_null(ns, "name");
    out->description = str_or_null(ns, "description");
    build_tools(a, json_object_get(ns, "tools"), &out->tools, &out->n_tools);
    return out;
}

static struct harmony_system *build_system(struct arena *a, const json_t *s)
{
    struct harmony_system *sys = arena_calloc(a, 1, sizeof *sys);
    harmony_system_init(sys);
    const json_t *v;
    if (json_object_get(s, "model_identity"))
        sys->model_identity = str_or_null(s, "model_identity");
    if (json_object_get(s, "knowledge_cutoff"))
        sys->knowledge_cutoff = str_or_null(s, "knowledge_cutoff");
    if (json_object_get(s, "current_date"))
        sys->current_date = str_or_null(s, "current_date");
    if ((v = json_object_get(s, "reasoning_effort"))) {
        sys->has_effort = json_is_string(v);
        if (sys->has_effort) {
            const char *e = json_string_value(v);
            sys->effort = strcmp(e, "low") == 0    ? HARMONY_EFFORT_LOW
                          : strcmp(e, "high") == 0 ? HARMONY_EFFORT_HIGH
                                                   : HARMONY_EFFORT_MEDIUM;
        }
    }
    if ((v = json_object_get(s, "tools"))) {
        size_t n = json_array_size(v);
        const struct harmony_namespace **nss = arena_calloc(a, n ? n : 1, sizeof *nss);
        for (size_t i = 0; i < n; i++)
            nss[i] = build_namespace(a, json_array_get(v, i));
        sys->namespaces = nss;
        sys->n_namespaces = n;
    }
    if ((v = json_object_get(s, "channels"))) {
        sys->channels = NULL;
        sys->n_channels = 0;
        sys->channel_required = false;
        if (json_is_object(v)) {
            const json_t *valid = json_object_get(v, "valid");
            size_t n = json_array_size(valid);
            const char **chans = arena_calloc(a, n ? n : 1, sizeof *chans);
            for (size_t i = 0; i < n; i++)
                chans[i] = json_string_value(json_array_get(valid, i));
            sys->channels = chans;
            sys->n_channels = n;
            sys->channel_required = json_is_true(json_object_get(v, "required"));
        }
    }
    return sys;
}

static struct harmony_developer *build_developer(struct arena *a, const json_t *d)
{
    struct harmony_developer *dev = arena_calloc(a, 1, sizeof *dev);
    dev->instructions = str_or_null(d, "instructions");
    const json_t *tools = json_object_get(d, "tools");
    if (tools)
        build_tools(a, tools, &dev->functions, &dev->n_functions);
    return dev;
}

static void build_case(const json_t *c, struct built_case *out)
{
    arena_init(&out->arena);
    const json_t *msgs = json_object_get(c, "messages");
    out->n = json_array_size(msgs);
    out->msgs = arena_calloc(&out->arena, out->n ? out->n : 1, sizeof *out->msgs);
    for (size_t i = 0; i < out->n; i++) {
        const json_t *m = json_array_get(msgs, i);
        struct harmony_message *msg = &out->msgs[i];
        msg->role = role_of(str_or_null(m, "role"));
        msg->name = str_or_null(m, "name");
        msg->recipient = str_or_null(m, "recipient");
        msg->channel = str_or_null(m, "channel");
        msg->content_type = str_or_null(m, "content_type");
        msg->text = str_or_null(m, "text");
        const json_t *v;
        if ((v = json_object_get(m, "system")))
            msg->system = build_system(&out->arena, v);
        if ((v = json_object_get(m, "developer")))
            msg->developer = build_developer(&out->arena, v);
    }
    const char *next = str_or_null(c, "next_role");
    out->next_role = next ? role_of(next) : HARMONY_ROLE_ASSISTANT;
    const json_t *drop = json_object_get(c, "auto_drop_analysis");
    out->auto_drop = drop ? json_is_true(drop) : true;
}

/* ---- Golden comparison ------------------------------------------------------------------- */

static void print_window(const char *label, const uint32_t *ids, size_t n, size_t at)
{
    size_t lo = at > 24 ? at - 24 : 0, hi = at + 24 < n ? at + 24 : n;
    struct buf before, after;
    buf_init(&before);
    buf_init(&after);
    tokenizer_decode(tok, ids + lo, at - lo, false, &before);
    if (at < hi)
        tokenizer_decode(tok, ids + at, hi - at, false, &after);
    fprintf(stderr, "  %s (%zu ids): ...%s[[HERE]]%s...\n", label, n,
            before.data ? before.data : "", after.data ? after.data : "");
    buf_deinit(&before);
    buf_deinit(&after);
}

/* Renders one case and compares; prints a readable diff and returns false on a mismatch. */
static bool check_case(const json_t *c)
{
    const char *name = str_or_null(c, "name");
    const json_t *want = json_object_get(c, "ids");
    size_t n_want = json_array_size(want);
    uint32_t *expected = calloc(n_want ? n_want : 1, sizeof *expected);
    for (size_t i = 0; i < n_want; i++)
        expected[i] = (uint32_t)json_integer_value(json_array_get(want, i));

    struct built_case bc;
    build_case(c, &bc);
    struct idbuf got;
    idbuf_init(&got);
    enum gptoss_status st =
        harmony_render_conversation(tok, bc.msgs, bc.n, bc.next_role, bc.auto_drop, &got);
    bool ok = st == GPTOSS_OK;
    if (!ok) {
        fprintf(stderr, "case %s: render failed: %s\n", name, error_message());
    } else {
        size_t i = 0;
        while (i < n_want && i < got.len && expected[i] == got.data[i])
            i++;
        if (i < n_want || i < got.len) {
            ok = false;
            fprintf(stderr, "case %s: ids differ at %zu (expected %ld, got %ld)\n", name, i,
                    i < n_want ? (long)expected[i] : -1L, i < got.len ? (long)got.data[i] : -1L);
            print_window("expected", expected, n_want, i);
            print_window("got     ", got.data, got.len, i);
        }
    }
    idbuf_deinit(&got);
    arena_deinit(&bc.arena);
    free(expected);
    return ok;
}

static void test_goldens(void **state)
{
    json_error_t err;
    json_t *doc = json_load_file(GOLDENS_PATH, 0, &err);
    if (!doc)
        fail_msg("%s:%d: %s", GOLDENS_PATH, err.line, err.text);
    const json_t *cases = json_object_get(doc, "cases");
    size_t n = json_array_size(cases), failed = 0;
    assert_true(n >= 30);
    for (size_t i = 0; i < n; i++) {
        if (!check_case(json_array_get(cases, i)))
            failed++;
    }
    json_decref(doc);
    if (failed)
        fail_msg("%zu of %zu golden cases differ", failed, n);
}

/* ---- Schemas ----------------------------------------------------------------------------- */

static void expect_ts(const char *schema, const char *want)
{
    struct buf out;
    buf_init(&out);
    assert_int_equal(harmony_schema_to_typescript(schema, &out), GPTOSS_OK);
    assert_string_equal(out.data ? out.data : "", want);
    buf_deinit(&out);
}

static void test_schema_scalars(void **state)
{
    expect_ts("{\"type\":\"string\"}", "string");
    expect_ts("{\"type\":\"integer\"}", "number");
    expect_ts("{\"type\":\"boolean\"}", "boolean");
    expect_ts("{\"type\":\"null\"}", "any");
    expect_ts("{}", "any");
    expect_ts("true", "any");
    expect_ts("[1,2]", "any");
    expect_ts("{\"type\":\"string\",\"enum\":[\"a\",2,\"b\"]}", "\"a\" | \"b\"");
    expect_ts("{\"type\":\"string\",\"enum\":[2]}", "string");
    expect_ts("{\"type\":[\"integer\",7,\"null\"]}", "number | null");
    expect_ts("{\"type\":[7]}", "any");
    expect_ts("{\"type\":\"array\"}", "Array<any>");
    expect_ts(
        "{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}}",
        "number[][]");
}

/* Properties come out in the order of the text, not sorted: jansson keeps insertion order. */
static void test_schema_key_order(void **state)
{
    expect_ts("{\"type\":\"object\",\"properties\":{\"zeta\":{\"type\":\"string\"},"
              "\"alpha\":{\"type\":\"number\"},\"mid\":{\"type\":\"boolean\"}},"
              "\"required\":[\"alpha\"]}",
              "{\nzeta?: string,\nalpha: number,\nmid?: boolean,\n}");
    expect_ts(
        "{\"type\":\"object\",\"properties\":{\"d\":{\"type\":\"object\","
        "\"default\":{\"z\":1,\"a\":[true,null,\"x\"],\"m\":{\"q\":0.5}}}}}",
        "{\nd?: {\n    }, // default: {\"z\":1,\"a\":[true,null,\"x\"],\"m\":{\"q\":0.5}}\n}");
}

/* Float defaults as serde_json prints them (expected values taken from openai-harmony). */
static void test_schema_float_defaults(void **state)
{
    static const char *const cases[][2] = {
        {"0.5", "0.5"},
        {"1.0", "1.0"},
        {"1e-07", "1e-7"},
        {"1.5e-7", "1.5e-7"},
        {"1e+20", "1e20"},
        {"0.1", "0.1"},
        {"123456.789", "123456.789"},
        {"5e-324", "5e-324"},
        {"1.7976931348623157e308", "1.7976931348623157e308"},
        {"2.5e-05", "0.000025"},
        {"9007199254740993.0", "9007199254740992.0"},
        {"1e21", "1e21"},
        {"1.23e20", "1.23e20"},
        {"-0.0", "-0.0"},
        {"-1e-10", "-1e-10"},
        {"0.3", "0.3"},
        {"2.2250738585072014e-308", "2.2250738585072014e-308"},
        {"4.35", "4.35"},
        {"1e-5", "0.00001"},
        {"1e-6", "1e-6"},
        {"1e15", "1000000000000000.0"},
        {"1e16", "1e16"},
        {"1.2345678901234568e+17", "1.2345678901234568e17"},
        {"1234567890123456.8", "1234567890123456.8"},
        {"0.000123", "0.000123"},
        {"100", "100"},
        {"-42", "-42"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char schema[200], want[200];
        snprintf(schema, sizeof schema,
                 "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"number\","
                 "\"default\":%s}}}",
                 cases[i][0]);
        snprintf(want, sizeof want, "{\nx?: number, // default: %s\n}", cases[i][1]);
        expect_ts(schema, want);
    }
}

static void test_schema_string_defaults(void **state)
{
    /* Quoted verbatim (no escaping) unless the schema is an enum, then bare. */
    expect_ts("{\"type\":\"object\",\"properties\":{"
              "\"q\":{\"type\":\"string\",\"default\":\"say \\\"hi\\\"\"},"
              "\"e\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"],\"default\":\"b\"},"
              "\"n\":{\"type\":\"number\",\"enum\":[],\"default\":\"str\"},"
              "\"c\":{\"type\":\"object\",\"default\":\"tab\\there\"},"
              "\"j\":{\"default\":[\"\\u0001\\\"\\\\/\\n\\u007f\"]}}}",
              "{\nq?: string, // default: \"say \"hi\"\"\ne?: \"a\" | \"b\", // default: b\n"
              "n?: number, // default: \"str\"\nc?: {\n    }, // default: \"tab\there\"\n"
              "j?: any, // default: [\"\\u0001\\\"\\\\/\\n\x7f\"]\n}");
}

static void test_schema_one_of(void **state)
{
    /* Property level: description deduplicated against the first variant. */
    expect_ts("{\"type\":\"object\",\"properties\":{\"p\":{\"description\":\"D\",\"default\":1,"
              "\"oneOf\":[{\"type\":\"string\",\"description\":\"D\"},"
              "{\"type\":\"number\",\"description\":\"N\",\"nullable\":true}]}},"
              "\"required\":[\"p\"]}",
              "{\n// default: 1\np:\n | string\n | number | null // N\n,\n}");
    /* Top level: variants indented by 3, string default of an enum written as JSON. */
    expect_ts("{\"oneOf\":[{\"type\":\"string\",\"enum\":[\"x\"],\"default\":\"x\"},"
              "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}]}",
              "\n | \"x\" // default: \"x\"\n | {\n   a?: string,\n   }");
    expect_ts("{\"oneOf\":[]}", "");
    /* oneOf that is not an array: ignored, and the property's description and default with it. */
    expect_ts("{\"type\":\"object\",\"properties\":{\"p\":{\"oneOf\":{},\"description\":\"D\","
              "\"default\":2,\"type\":\"string\"}}}",
              "{\np?: string,\n}");
}

static void test_schema_nested(void **state)
{
    expect_ts("{\"type\":\"object\",\"description\":\"top\",\"properties\":{"
              "\"o\":{\"type\":\"object\",\"description\":\"inner\",\"properties\":{"
              "\"p\":{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\","
              "\"title\":\"Q\",\"examples\":[\"e1\",3]}}}}},"
              "\"a\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
              "\"x\":{\"type\":\"number\"}}}}}}",
              "// top\n{\n// inner\n"
              "o?:     // inner\n{\n    p?: {\n        // Q\n        //\n        // Examples:\n"
              "        // - \"e1\"\n        q?: string,\n        },\n    },\n"
              "a?: {\n    x?: number,\n    }[],\n}");
}

static void test_schema_invalid(void **state)
{
    struct buf out;
    buf_init(&out);
    buf_puts(&out, "keep");
    assert_int_equal(harmony_schema_to_typescript("{\"type\": ", &out),
                     GPTOSS_ERR_INVALID_ARGUMENT);
    assert_int_equal(harmony_schema_to_typescript("", &out), GPTOSS_ERR_INVALID_ARGUMENT);
    assert_int_equal(harmony_schema_to_typescript("{} extra", &out), GPTOSS_ERR_INVALID_ARGUMENT);
    assert_int_equal(harmony_schema_to_typescript(NULL, &out), GPTOSS_ERR_INVALID_ARGUMENT);
    assert_string_equal(out.data, "keep");
    buf_deinit(&out);
}

/* ---- Renderer API and errors ------------------------------------------------------------- */

static void test_basics(void **state)
{
    assert_int_equal(harmony_stop_ids[0], TOKEN_RETURN);
    assert_int_equal(harmony_stop_ids[1], TOKEN_CALL);
    assert_string_equal(harmony_role_name(HARMONY_ROLE_SYSTEM), "system");
    assert_string_equal(harmony_role_name(HARMONY_ROLE_TOOL), "tool");
    assert_null(harmony_role_name((enum harmony_role)99));
    assert_int_equal(harmony_namespace_browser()->n_tools, 3);
    assert_int_equal(harmony_namespace_python()->n_tools, 0);
}

/* The single-message entry point decides the "Calls to these tools" line by its flag. */
static void test_render_message_flag(void **state)
{
    struct harmony_system sys;
    harmony_system_init(&sys);
    struct harmony_message msg = {.role = HARMONY_ROLE_SYSTEM, .system = &sys};
    struct idbuf with, without;
    idbuf_init(&with);
    idbuf_init(&without);
    assert_int_equal(harmony_render_message(tok, &msg, true, &with), GPTOSS_OK);
    assert_int_equal(harmony_render_message(tok, &msg, false, &without), GPTOSS_OK);
    struct buf text;
    buf_init(&text);
    assert_int_equal(tokenizer_decode(tok, with.data, with.len, false, &text), GPTOSS_OK);
    assert_non_null(strstr(text.data, "every message.\nCalls to these tools must go to the "
                                      "commentary channel: 'functions'.<|end|>"));
    buf_reset(&text);
    assert_int_equal(tokenizer_decode(tok, without.data, without.len, false, &text), GPTOSS_OK);
    assert_null(strstr(text.data, "Calls to these tools"));
    assert_int_equal(without.data[0], TOKEN_START);
    assert_int_equal(without.data[without.len - 1], TOKEN_END);
    buf_deinit(&text);
    idbuf_deinit(&with);
    idbuf_deinit(&without);
}

/* Renders msgs expecting GPTOSS_ERR_INVALID_ARGUMENT, *out untouched and `needle` in the
 * error message. */
static void expect_render_error(const struct harmony_message *msgs, size_t n, const char *needle)
{
    struct idbuf out;
    idbuf_init(&out);
    idbuf_push(&out, 42);
    assert_int_equal(harmony_render_conversation(tok, msgs, n, HARMONY_ROLE_ASSISTANT, true, &out),
                     GPTOSS_ERR_INVALID_ARGUMENT);
    assert_int_equal(out.len, 1);
    assert_int_equal(out.data[0], 42);
    if (!strstr(error_message(), needle))
        fail_msg("error \"%s\" does not mention \"%s\"", error_message(), needle);
    idbuf_deinit(&out);
}

static void test_errors(void **state)
{
    struct harmony_system sys;
    harmony_system_init(&sys);
    struct harmony_message msgs[3] = {
        {.role = HARMONY_ROLE_SYSTEM, .system = &sys},
        {.role = HARMONY_ROLE_USER, .text = "hi"},
        {.role = HARMONY_ROLE_TOOL, .channel = "commentary", .text = "{}"},
    };
    expect_render_error(msgs, 3, "message 2: name");

    struct harmony_tool bad = {.name = "f", .description = "d", .parameters_json = "{\"a\":"};
    struct harmony_developer dev = {.functions = &bad, .n_functions = 1};
    struct harmony_message with_dev[2] = {
        {.role = HARMONY_ROLE_USER, .text = "hi"},
        {.role = HARMONY_ROLE_DEVELOPER, .developer = &dev},
    };
    expect_render_error(with_dev, 2, "message 1: developer: namespace functions: tool f: ");

    struct harmony_tool bad_sys_tool = {.name = "t", .parameters_json = "nope"};
    struct harmony_namespace ns = {.name = "custom", .tools = &bad_sys_tool, .n_tools = 1};
    const struct harmony_namespace *nss[1] = {&ns};
    sys.namespaces = nss;
    sys.n_namespaces = 1;
    expect_render_error(msgs, 1, "message 0: system: namespace custom: tool t:");
    harmony_system_init(&sys);

    struct harmony_message wrong_content = {.role = HARMONY_ROLE_USER, .system = &sys};
    expect_render_error(&wrong_content, 1, "message 0: content");
    struct harmony_message two_contents = {
        .role = HARMONY_ROLE_SYSTEM, .system = &sys, .text = "x"};
    expect_render_error(&two_contents, 1, "message 0: content");
    struct harmony_message dev_in_user = {.role = HARMONY_ROLE_USER, .developer = &dev};
    expect_render_error(&dev_in_user, 1, "message 0: content");
    struct harmony_message bad_role = {.role = (enum harmony_role)7, .text = "x"};
    expect_render_error(&bad_role, 1, "message 0: role");
    sys.has_effort = true;
    sys.effort = (enum harmony_effort)5;
    expect_render_error(msgs, 1, "message 0: system");

    struct idbuf out;
    idbuf_init(&out);
    assert_int_equal(harmony_render_message(tok, &msgs[2], false, &out),
                     GPTOSS_ERR_INVALID_ARGUMENT);
    assert_int_equal(out.len, 0);
    assert_int_equal(harmony_render_conversation(tok, NULL, 0, (enum harmony_role)9, true, &out),
                     GPTOSS_ERR_INVALID_ARGUMENT);
    assert_int_equal(out.len, 0);
    idbuf_deinit(&out);
}

/* A dropped analysis message is not rendered, so its errors go unnoticed, as in harmony. */
static void test_dropped_message_not_checked(void **state)
{
    struct harmony_message msgs[3] = {
        {.role = HARMONY_ROLE_USER, .text = "q"},
        {.role = HARMONY_ROLE_TOOL, .channel = "analysis", .text = "no name"},
        {.role = HARMONY_ROLE_ASSISTANT, .channel = "final", .text = "a"},
    };
    struct idbuf out;
    idbuf_init(&out);
    assert_int_equal(harmony_render_conversation(tok, msgs, 3, HARMONY_ROLE_USER, true, &out),
                     GPTOSS_OK);
    idbuf_reset(&out);
    assert_int_equal(harmony_render_conversation(tok, msgs, 3, HARMONY_ROLE_USER, false, &out),
                     GPTOSS_ERR_INVALID_ARGUMENT);
    idbuf_deinit(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goldens),
        cmocka_unit_test(test_schema_scalars),
        cmocka_unit_test(test_schema_key_order),
        cmocka_unit_test(test_schema_float_defaults),
        cmocka_unit_test(test_schema_string_defaults),
        cmocka_unit_test(test_schema_one_of),
        cmocka_unit_test(test_schema_nested),
        cmocka_unit_test(test_schema_invalid),
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_render_message_flag),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_dropped_message_not_checked),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
