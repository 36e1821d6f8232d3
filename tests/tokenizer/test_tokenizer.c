/* test_tokenizer.c — the o200k_harmony tokenizer against tiktoken's goldens, and its failure modes.
 *
 * tests/data/tokenizer/goldens.json holds tiktoken's ids for every corpus file (made by
 * tools/make_tokenizer_goldens.py); each must come out identical, from both the .tiktoken file
 * and a tokenizer.json we write and read back, and decode back to the file's bytes. Arbitrary
 * bytes, streamed decoding and malformed vocabulary files are covered too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tokenizer/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA  GPTOSS_TEST_DATA_DIR "/tokenizer"
#define VOCAB DATA "/o200k_base.tiktoken"

static struct tokenizer *tok_tiktoken;
static json_t *goldens;

static int setup(void **state)
{
    (void)state;
    if (tokenizer_create(VOCAB, &tok_tiktoken) != GPTOSS_OK) {
        fprintf(stderr, "%s\n", error_message());
        return -1;
    }
    json_error_t jerr;
    goldens = json_load_file(DATA "/goldens.json", 0, &jerr);
    if (!goldens) {
        fprintf(stderr, "goldens.json: %s\n", jerr.text);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tokenizer_destroy(tok_tiktoken);
    json_decref(goldens);
    return 0;
}

/* The id of the single-byte token for `byte`. */
static uint32_t byte_token(unsigned char byte)
{
    struct idbuf ids;
    idbuf_init(&ids);
    tokenizer_encode(tok_tiktoken, (const char *)&byte, 1, false, &ids);
    assert_int_equal(ids.len, 1);
    uint32_t id = ids.data[0];
    idbuf_deinit(&ids);
    return id;
}

static char *read_corpus(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, DATA "/corpus/%s", name);
    char *data;
    assert_int_equal(file_read_all(path, 1 << 24, &data, len), GPTOSS_OK);
    return data;
}

/* Compares ids with a JSON array, reporting the first difference. */
static void assert_ids_equal(const char *what, const struct idbuf *ids, const json_t *want)
{
    size_t n = json_array_size(want);
    size_t i = 0;
    while (i < n && i < ids->len &&
           (json_int_t)ids->data[i] == json_integer_value(json_array_get(want, i)))
        i++;
    if (i != n || ids->len != n) {
        fprintf(stderr, "%s: ids differ at %zu (got %zu ids, want %zu): got %lld want %lld\n", what,
                i, ids->len, n, i < ids->len ? (long long)ids->data[i] : -1LL,
                i < n ? (long long)json_integer_value(json_array_get(want, i)) : -1LL);
        fail();
    }
}

static void check_corpus(const struct tokenizer *tok)
{
    size_t i;
    json_t *file;
    size_t n_bytes = 0;
    json_array_foreach (json_object_get(goldens, "files"), i, file) {
        const char *name = json_string_value(json_object_get(file, "name"));
        size_t len;
        char *text = read_corpus(name, &len);
        n_bytes += len;
        struct idbuf ids;
        idbuf_init(&ids);
        tokenizer_encode(tok, text, len, /*allow_special=*/false, &ids);
        assert_ids_equal(name, &ids, json_object_get(file, "ids"));
        struct buf back;
        buf_init(&back);
        assert_int_equal(tokenizer_decode(tok, ids.data, ids.len, false, &back), GPTOSS_OK);
        assert_int_equal(back.len, len);
        assert_memory_equal(back.data, text, len);
        buf_deinit(&back);
        idbuf_deinit(&ids);
        free(text);
    }
    /* The acceptance criterion asks for at least 200 KB of corpus. */
    assert_true(n_bytes >= 200 * 1024);
}

static void test_corpus_matches_tiktoken(void **state)
{
    (void)state;
    check_corpus(tok_tiktoken);
}

static void test_lines_match_tiktoken(void **state)
{
    (void)state;
    const json_t *lines = json_object_get(goldens, "lines");
    const char *name = json_string_value(json_object_get(lines, "name"));
    size_t len;
    char *text = read_corpus(name, &len);
    const json_t *want = json_object_get(lines, "ids");
    size_t start = 0, k = 0;
    struct idbuf ids;
    idbuf_init(&ids);
    while (start < len) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - text) + 1 : len;
        idbuf_reset(&ids);
        tokenizer_encode(tok_tiktoken, text + start, end - start, false, &ids);
        assert_ids_equal(name, &ids, json_array_get(want, k++));
        start = end;
    }
    assert_int_equal(k, json_array_size(want));
    idbuf_deinit(&ids);
    free(text);
}

static void test_special_cases(void **state)
{
    (void)state;
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get(goldens, "special_cases"), i, c) {
        const json_t *text = json_object_get(c, "text");
        struct idbuf ids;
        idbuf_init(&ids);
        tokenizer_encode(tok_tiktoken, json_string_value(text), json_string_length(text),
                         /*allow_special=*/true, &ids);
        assert_ids_equal(json_string_value(text), &ids, json_object_get(c, "ids"));
        idbuf_deinit(&ids);
    }
}

static void test_known_vectors(void **state)
{
    (void)state;
    struct idbuf ids;
    idbuf_init(&ids);
    tokenizer_encode(tok_tiktoken, "hello world", 11, false, &ids);
    assert_int_equal(ids.len, 2);
    assert_int_equal(ids.data[0], 24912);
    assert_int_equal(ids.data[1], 2375);
    idbuf_reset(&ids);
    tokenizer_encode(tok_tiktoken, "<|start|>", 9, /*allow_special=*/false, &ids);
    uint32_t plain[] = {27, 91, 5236, 91, 29};
    assert_int_equal(ids.len, 5);
    assert_memory_equal(ids.data, plain, sizeof plain);
    idbuf_deinit(&ids);

    uint32_t id;
    assert_true(tokenizer_special_id(tok_tiktoken, "<|call|>", 8, &id));
    assert_int_equal(id, TOKEN_CALL);
    assert_true(tokenizer_special_id(tok_tiktoken, "<|endofprompt|>", 15, &id));
    assert_int_equal(id, TOKEN_ENDOFPROMPT);
    assert_true(tokenizer_special_id(tok_tiktoken, "<|reserved_201087|>", 19, &id));
    assert_int_equal(id, 201087);
    assert_false(tokenizer_special_id(tok_tiktoken, "<|reserved_201088|>", 19, &id));
    size_t len;
    const char *name = tokenizer_token_bytes(tok_tiktoken, TOKEN_START, &len);
    assert_int_equal(len, 9);
    assert_memory_equal(name, "<|start|>", 9);
    assert_null(tokenizer_token_bytes(tok_tiktoken, TOKENIZER_N_VOCAB, &len));
}

/* Any bytes encode, and decode back to themselves. */
static void test_arbitrary_bytes_round_trip(void **state)
{
    (void)state;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    unsigned char text[512];
    struct idbuf ids;
    struct buf back;
    idbuf_init(&ids);
    buf_init(&back);
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = (size_t)(iter % 300);
        for (size_t i = 0; i < len; i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            /* Mostly bytes that form or break UTF-8 sequences. */
            unsigned r = (unsigned)(rng >> 32);
            text[i] = (unsigned char)(r % 4 == 0 ? 0x80 + r % 64 : r % 4 == 1 ? 0xC0 + r % 64 : r);
        }
        idbuf_reset(&ids);
        buf_reset(&back);
        tokenizer_encode(tok_tiktoken, (const char *)text, len, iter % 2 == 0, &ids);
        for (size_t i = 0; i < ids.len; i++)
            assert_true(ids.data[i] < TOKENIZER_N_VOCAB);
        assert_int_equal(tokenizer_decode(tok_tiktoken, ids.data, ids.len, false, &back),
                         GPTOSS_OK);
        assert_int_equal(back.len, len);
        if (len)
            assert_memory_equal(back.data, text, len);
    }
    idbuf_deinit(&ids);
    buf_deinit(&back);
}

/* Streaming decode equals a whole decode with lossy UTF-8, one token at a time. */
static void test_stream_decoder(void **state)
{
    (void)state;
    size_t i;
    json_t *file;
    json_array_foreach (json_object_get(goldens, "files"), i, file) {
        const json_t *want = json_object_get(file, "ids");
        struct buf whole, streamed, piece;
        buf_init(&whole);
        buf_init(&streamed);
        buf_init(&piece);
        struct tokenizer_stream s;
        tokenizer_stream_init(&s, tok_tiktoken, false);
        size_t k;
        json_t *v;
        json_array_foreach (want, k, v) {
            uint32_t id = (uint32_t)json_integer_value(v);
            size_t len;
            const char *b = tokenizer_token_bytes(tok_tiktoken, id, &len);
            buf_append(&whole, b, len);
            buf_reset(&piece);
            tokenizer_stream_push(&s, id, &piece);
            assert_true(utf8_is_valid((const unsigned char *)piece.data, piece.len));
            buf_append(&streamed, piece.data, piece.len);
        }
        tokenizer_stream_flush(&s, &streamed);
        assert_int_equal(streamed.len, whole.len);
        assert_memory_equal(streamed.data, whole.data, whole.len);
        buf_deinit(&whole);
        buf_deinit(&streamed);
        buf_deinit(&piece);
    }

    /* Random single-byte tokens: the result must equal a lossy decode of all the bytes. */
    uint64_t rng = 12345;
    for (int iter = 0; iter < 2000; iter++) {
        struct buf raw, streamed, lossy;
        buf_init(&raw);
        buf_init(&streamed);
        buf_init(&lossy);
        struct tokenizer_stream s;
        tokenizer_stream_init(&s, tok_tiktoken, true);
        for (int n = 0; n < 24; n++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            unsigned char byte = (unsigned char)(rng >> 40);
            if (byte < 0x40)
                byte = (unsigned char)(0xE0 + byte % 24); /* many lead bytes */
            uint32_t id = byte_token(byte);
            buf_append(&raw, &byte, 1);
            tokenizer_stream_push(&s, id, &streamed);
        }
        tokenizer_stream_flush(&s, &streamed);
        utf8_append_lossy(&lossy, (const unsigned char *)raw.data, raw.len);
        assert_int_equal(streamed.len, lossy.len);
        assert_memory_equal(streamed.data, lossy.data, lossy.len);
        buf_deinit(&raw);
        buf_deinit(&streamed);
        buf_deinit(&lossy);
    }

    /* A special between the bytes of a character flushes them as U+FFFD. */
    struct tokenizer_stream s;
    struct buf out;
    buf_init(&out);
    tokenizer_stream_init(&s, tok_tiktoken, false);
    tokenizer_stream_push(&s, byte_token(0xE4), &out);
    assert_int_equal(out.len, 0);
    tokenizer_stream_push(&s, TOKEN_END, &out);
    tokenizer_stream_push(&s, TOKENIZER_N_VOCAB + 5, &out);
    assert_string_equal(out.data, UTF8_REPLACEMENT "<|end|>" UTF8_REPLACEMENT);
    buf_deinit(&out);
}

/* A tokenizer.json we write reads back into the same tokenizer. */
static void test_tokenizer_json_round_trip(void **state)
{
    (void)state;
    const char *path = GPTOSS_TEST_BUILD_DIR "/test_tokenizer.json";
    assert_int_equal(tokenizer_write_json(tok_tiktoken, path), GPTOSS_OK);
    struct tokenizer *tok;
    if (tokenizer_create(path, &tok) != GPTOSS_OK)
        fail_msg("%s", error_message());
    for (uint32_t id = 0; id < TOKENIZER_N_VOCAB; id++) {
        size_t a, b;
        const char *x = tokenizer_token_bytes(tok_tiktoken, id, &a);
        const char *y = tokenizer_token_bytes(tok, id, &b);
        if (id == TOKEN_ENDOFPROMPT) {
            assert_int_equal(b, 15);
            assert_memory_equal(y, "<|endofprompt|>", 15);
            continue;
        }
        assert_int_equal(a, b);
        assert_memory_equal(x, y, a);
    }
    check_corpus(tok);
    tokenizer_destroy(tok);
    remove(path);
}

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void expect_load_error(const char *path, enum gptoss_status want, const char *needle)
{
    struct tokenizer *tok = (struct tokenizer *)1;
    enum gptoss_status st = tokenizer_create(path, &tok);
    assert_null(tok);
    if (st != want || !strstr(error_message(), needle))
        fail_msg("loading %s: status %d, message \"%s\", expected %d with \"%s\"", path, st,
                 error_message(), want, needle);
}

static void test_bad_files(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/bad_vocab.tiktoken", GPTOSS_TEST_BUILD_DIR);
    expect_load_error(DATA "/does-not-exist.tiktoken", GPTOSS_ERR_IO, "does-not-exist");
    write_file(path, "");
    expect_load_error(path, GPTOSS_ERR_FORMAT, "0 tokens");
    write_file(path, "IQ== 0\nIg== 1\n");
    expect_load_error(path, GPTOSS_ERR_FORMAT, "2 tokens");
    write_file(path, "IQ== 0\nIQ== 1\n");
    expect_load_error(path, GPTOSS_ERR_FORMAT, "2 tokens");
    write_file(path, "IQ== 0\nIg== 0\n");
    expect_load_error(path, GPTOSS_ERR_FORMAT, ":2: rank 0 appears twice");
    write_file(path, "I!== 0\n");
    expect_load_error(path, GPTOSS_ERR_FORMAT, ":1: invalid base64");
    write_file(path, "IQ==\n");
    expect_load_error(path, GPTOSS_ERR_FORMAT, ":1: expected");
    write_file(path, "IQ== 199998\n");
    expect_load_error(path, GPTOSS_ERR_FORMAT, "outside");
    write_file(path, "IQ== 12x\n");
    expect_load_error(path, GPTOSS_ERR_FORMAT, "invalid rank");

    snprintf(path, sizeof path, "%s/bad_tokenizer.json", GPTOSS_TEST_BUILD_DIR);
    write_file(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}");
    expect_load_error(path, GPTOSS_ERR_FORMAT, "bad_tokenizer.json:1:");
    write_file(path, "{\"model\": {\"type\": \"Unigram\"}}");
    expect_load_error(path, GPTOSS_ERR_UNSUPPORTED, "not BPE");
    write_file(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}, \"pre_tokenizer\": "
                     "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\s+\"}}}");
    expect_load_error(path, GPTOSS_ERR_UNSUPPORTED, "o200k");
    /* A directory without tokenizer.json names the file it looked for. */
    expect_load_error(GPTOSS_TEST_BUILD_DIR, GPTOSS_ERR_IO, "tokenizer.json");
    remove(path);
}

/* Writing a real file then corrupting one entry: each must be reported by name. */
static void test_bad_tokenizer_json_entries(void **state)
{
    (void)state;
    const char *good = GPTOSS_TEST_BUILD_DIR "/good_tokenizer.json";
    assert_int_equal(tokenizer_write_json(tok_tiktoken, good), GPTOSS_OK);
    json_error_t jerr;
    json_t *root = json_load_file(good, 0, &jerr);
    assert_non_null(root);
    const char *bad = GPTOSS_TEST_BUILD_DIR "/bad_tokenizer.json";

    json_t *copy = json_deep_copy(root);
    json_object_set_new(json_object_get(json_object_get(copy, "model"), "vocab"), "Ġthe",
                        json_integer(5));
    json_dump_file(copy, bad, 0);
    expect_load_error(bad, GPTOSS_ERR_FORMAT, "id 5 twice");
    json_decref(copy);

    copy = json_deep_copy(root);
    json_object_set_new(json_array_get(json_object_get(copy, "added_tokens"), 8), "content",
                        json_string("<|begin|>"));
    json_dump_file(copy, bad, 0);
    expect_load_error(bad, GPTOSS_ERR_FORMAT, "expected \"<|start|>\"");
    json_decref(copy);

    copy = json_deep_copy(root);
    json_object_set_new(json_array_get(json_object_get(copy, "added_tokens"), 0), "id",
                        json_integer(5));
    json_dump_file(copy, bad, 0);
    expect_load_error(bad, GPTOSS_ERR_FORMAT, "outside the special ids");
    json_decref(copy);

    json_decref(root);
    remove(bad);
    remove(good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_corpus_matches_tiktoken),
        cmocka_unit_test(test_lines_match_tiktoken),
        cmocka_unit_test(test_special_cases),
        cmocka_unit_test(test_arbitrary_bytes_round_trip),
        cmocka_unit_test(test_stream_decoder),
        cmocka_unit_test(test_tokenizer_json_round_trip),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_bad_tokenizer_json_entries),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
