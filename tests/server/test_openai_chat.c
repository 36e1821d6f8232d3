/* test_openai_chat.c — OpenAI chat requests to harmony prompts, against openai-harmony's goldens.
 *
 * tests/data/harmony/chat_goldens.json (tools/make_chat_goldens.py) holds requests with the ids
 * openai-harmony renders for them; the mapping in openai_chat.c must reproduce each exactly.
 * Malformed requests must fail with the offending field named, never crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "server/server.h"

#include <stdio.h>
#include <string.h>

static struct tokenizer *tok;

static int setup(void **state)
{
    (void)state;
    if (tokenizer_create(GPTOSS_TEST_DATA_DIR "/tokenizer/o200k_base.tiktoken", &tok) !=
        GPTOSS_OK) {
        fprintf(stderr, "%s\n", error_message());
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tokenizer_destroy(tok);
    return 0;
}

static enum harmony_effort effort_of(const char *s)
{
    if (s && strcmp(s, "low") == 0)
        return HARMONY_EFFORT_LOW;
    if (s && strcmp(s, "high") == 0)
        return HARMONY_EFFORT_HIGH;
    return HARMONY_EFFORT_MEDIUM;
}

static void test_goldens(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *goldens = json_load_file(GPTOSS_TEST_DATA_DIR "/harmony/chat_goldens.json", 0, &jerr);
    assert_non_null(goldens);
    assert_true(json_array_size(goldens) >= 30);
    size_t i;
    json_t *g;
    json_array_foreach (goldens, i, g) {
        const char *name = json_string_value(json_object_get(g, "name"));
        const json_t *o = json_object_get(g, "options");
        struct openai_chat_options opts;
        openai_chat_options_init(&opts);
        opts.current_date = json_string_value(json_object_get(o, "date"));
        opts.model_identity = json_string_value(json_object_get(o, "identity"));
        opts.knowledge_cutoff = json_string_value(json_object_get(o, "cutoff"));
        opts.default_effort = effort_of(json_string_value(json_object_get(o, "effort")));
        struct arena arena;
        arena_init(&arena);
        struct openai_chat chat;
        const char *param;
        enum gptoss_status st =
            openai_chat_parse(json_object_get(g, "request"), &opts, &arena, &chat, &param);
        if (st != GPTOSS_OK)
            fail_msg("%s: %s (param %s)", name, error_message(), param);
        struct idbuf ids;
        idbuf_init(&ids);
        assert_int_equal(openai_chat_render(tok, &chat, &ids), GPTOSS_OK);
        const json_t *want = json_object_get(g, "ids");
        size_t k = 0;
        while (k < ids.len && k < json_array_size(want) &&
               (json_int_t)ids.data[k] == json_integer_value(json_array_get(want, k)))
            k++;
        if (k != ids.len || k != json_array_size(want)) {
            struct buf text;
            buf_init(&text);
            tokenizer_decode(tok, ids.data + k, ids.len - k < 12 ? ids.len - k : 12, false, &text);
            fail_msg("%s: prompt differs at id %zu of %zu (want %zu ids); ours continues \"%s\"",
                     name, k, ids.len, json_array_size(want), text.data ? text.data : "");
        }
        idbuf_deinit(&ids);
        arena_deinit(&arena);
    }
    json_decref(goldens);
}

struct bad_case {
    const char *json;
    enum gptoss_status status;
    const char *param;
    const char *message; /* a substring of the error message */
};

static void test_rejects_malformed_requests(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"[]", GPTOSS_ERR_INVALID_ARGUMENT, "", "JSON object"},
        {"{}", GPTOSS_ERR_INVALID_ARGUMENT, "messages", "non-empty array"},
        {"{\"messages\": []}", GPTOSS_ERR_INVALID_ARGUMENT, "messages", "non-empty"},
        {"{\"messages\": \"hi\"}", GPTOSS_ERR_INVALID_ARGUMENT, "messages", "array"},
        {"{\"messages\": [1]}", GPTOSS_ERR_INVALID_ARGUMENT, "messages[0]", "role"},
        {"{\"messages\": [{\"content\": \"x\"}]}", GPTOSS_ERR_INVALID_ARGUMENT, "messages[0]",
         "role"},
        {"{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}", GPTOSS_ERR_INVALID_ARGUMENT,
         "messages[0].role", "robot"},
        {"{\"messages\": [{\"role\": \"user\"}]}", GPTOSS_ERR_INVALID_ARGUMENT,
         "messages[0].content", "required"},
        {"{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", GPTOSS_ERR_INVALID_ARGUMENT,
         "messages[0].content", "string or an array"},
        {"{\"messages\": [{\"role\": \"user\", \"content\": \"a\\u0000b\"}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "messages[0].content", "NUL"},
        {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", "
         "\"image_url\": {\"url\": \"x\"}}]}]}",
         GPTOSS_ERR_UNSUPPORTED, "messages[0].content[0]", "image_url"},
        {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\"}]}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "messages[0].content[0].text", "string"},
        {"{\"messages\": [{\"role\": \"user\", \"content\": [\"x\"]}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "messages[0].content[0]", "type"},
        {"{\"reasoning_effort\": \"max\", \"messages\": [{\"role\": \"user\", \"content\": "
         "\"x\"}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "reasoning_effort", "low"},
        {"{\"tools\": {}, \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "tools", "array"},
        {"{\"tools\": [{\"type\": \"file_search\"}], \"messages\": [{\"role\": \"user\", "
         "\"content\": \"x\"}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "tools[0]", "function"},
        {"{\"tools\": [{\"type\": \"function\", \"function\": {}}], \"messages\": [{\"role\": "
         "\"user\", \"content\": \"x\"}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "tools[0].function.name", "string"},
        {"{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"\"}}], \"messages\": "
         "[{\"role\": \"user\", \"content\": \"x\"}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "tools[0].function.name", "empty"},
        {"{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": "
         "[]}}], \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "tools[0].function.parameters", "schema"},
        {"{\"tools\": [], \"tool_choice\": 3, \"messages\": [{\"role\": \"user\", \"content\": "
         "\"x\"}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "tool_choice", "none"},
        {"{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": {}}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "messages[0].tool_calls", "array"},
        {"{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"type\": \"function\"}]}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "messages[0].tool_calls[0]", "function"},
        {"{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"name\": "
         "\"f\", \"arguments\": 5}}]}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "messages[0].tool_calls[0].function.arguments", "string"},
        {"{\"messages\": [{\"role\": \"assistant\", \"reasoning_content\": 1, \"content\": "
         "\"x\"}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "messages[0].reasoning_content", "string"},
        {"{\"messages\": [{\"role\": \"tool\", \"tool_call_id\": \"nope\", \"content\": \"x\"}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "messages[0].tool_call_id", "does not match"},
        {"{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"a\", \"function\": "
         "{\"name\": \"f\", \"arguments\": \"{}\"}}]}, {\"role\": \"tool\", \"tool_call_id\": "
         "\"b\", \"content\": \"x\"}]}",
         GPTOSS_ERR_INVALID_ARGUMENT, "messages[1].tool_call_id", "does not match"},
        {"{\"messages\": [{\"role\": \"system\", \"content\": {}}]}", GPTOSS_ERR_INVALID_ARGUMENT,
         "messages[0].content", "string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct bad_case *c = &cases[i];
        json_error_t jerr;
        json_t *req = json_loads(c->json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!req)
            fail_msg("case %zu is not JSON: %s", i, jerr.text);
        struct openai_chat_options opts;
        openai_chat_options_init(&opts);
        struct arena arena;
        arena_init(&arena);
        struct openai_chat chat;
        const char *param = NULL;
        enum gptoss_status st = openai_chat_parse(req, &opts, &arena, &chat, &param);
        if (st != c->status || !param || strcmp(param, c->param) != 0 ||
            !strstr(error_message(), c->message))
            fail_msg("case %zu (%s): status %d param \"%s\" message \"%s\"; expected %d \"%s\" "
                     "containing \"%s\"",
                     i, c->json, st, param ? param : "(null)", error_message(), c->status, c->param,
                     c->message);
        arena_deinit(&arena);
        json_decref(req);
    }
}

/* A request that omits optional parts still renders, and without a developer message. */
static void test_minimal_request_has_no_developer_message(void **state)
{
    (void)state;
    json_t *req =
        json_loads("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", 0, NULL);
    struct openai_chat_options opts;
    openai_chat_options_init(&opts);
    struct arena arena;
    arena_init(&arena);
    struct openai_chat chat;
    const char *param;
    assert_int_equal(openai_chat_parse(req, &opts, &arena, &chat, &param), GPTOSS_OK);
    assert_int_equal(chat.n_messages, 2);
    assert_int_equal(chat.messages[0].role, HARMONY_ROLE_SYSTEM);
    assert_int_equal(chat.messages[1].role, HARMONY_ROLE_USER);
    arena_deinit(&arena);
    json_decref(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_goldens),
        cmocka_unit_test(test_rejects_malformed_requests),
        cmocka_unit_test(test_minimal_request_has_no_developer_message),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
