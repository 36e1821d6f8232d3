/* test_base.c — the base layer: UTF-8 maximal subparts, buffers, the arena, errors, file reads,
 * huge-page buffers.
 *
 * The UTF-8 vectors are the Unicode standard's examples for U+FFFD substitution (the same
 * results Python's bytes.decode(errors="replace") and Rust's from_utf8_lossy give).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/base.h"

#include <stdio.h>
#include <string.h>

#define R UTF8_REPLACEMENT

static void check_lossy(const char *in, size_t n, const char *want)
{
    struct buf b;
    buf_init(&b);
    utf8_append_lossy(&b, (const unsigned char *)in, n);
    assert_non_null(b.data);
    assert_string_equal(b.data, want);
    buf_deinit(&b);
}

static void test_utf8_lossy(void **state)
{
    (void)state;
    check_lossy("abc", 3, "abc");
    check_lossy("\xC3\xA9", 2, "\xC3\xA9");
    check_lossy("\x80", 1, R);
    check_lossy("\xC0\xAF", 2, R R);             /* overlong lead */
    check_lossy("\xE0\x80\xAF", 3, R R R);       /* overlong 3-byte */
    check_lossy("\xED\xA0\x80", 3, R R R);       /* surrogate */
    check_lossy("\xF4\x90\x80\x80", 4, R R R R); /* above U+10FFFF */
    check_lossy("\xE2\x82", 2, R);               /* truncated: one subpart */
    check_lossy("\xE2\x82"
                "A",
                3, R "A");
    check_lossy("\xF0\x9F\x98", 3, R);
    check_lossy("\xF0\x9F\x98\x80", 4, "\xF0\x9F\x98\x80");
    check_lossy("a\xFF"
                "b\xFE",
                4, "a" R "b" R);
    /* The Unicode standard's example: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 */
    check_lossy("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64", 13,
                "a" R R R "b" R "c" R R "d");
}

static void test_utf8_next(void **state)
{
    (void)state;
    uint32_t cp;
    assert_int_equal(utf8_next((const unsigned char *)"\xE2\x82\xAC", 3, &cp), 3);
    assert_int_equal(cp, 0x20AC);
    assert_int_equal(utf8_next((const unsigned char *)"\xE2\x82", 2, &cp), 0);
    assert_int_equal(utf8_next((const unsigned char *)"\xE2\x41", 2, &cp), -1);
    assert_int_equal(utf8_next((const unsigned char *)"\xF0\x9F\x41", 3, &cp), -2);
    char out[4];
    for (uint32_t c = 0; c <= 0x10FFFF; c += 0x101) {
        if (c >= 0xD800 && c <= 0xDFFF)
            continue;
        size_t n = utf8_encode(c, out);
        assert_int_equal(utf8_next((const unsigned char *)out, n, &cp), (int)n);
        assert_int_equal(cp, c);
    }
}

static void test_buf_and_idbuf(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i);
    assert_int_equal(strlen(b.data), b.len);
    assert_memory_equal(b.data, "0,1,2,", 6);
    size_t len;
    char *s = buf_steal(&b, &len);
    assert_null(b.data);
    assert_int_equal(strlen(s), len);
    free(s);

    struct idbuf ids;
    idbuf_init(&ids);
    for (uint32_t i = 0; i < 5000; i++)
        idbuf_push(&ids, i);
    uint32_t more[3] = {7, 8, 9};
    idbuf_append(&ids, more, 3);
    assert_int_equal(ids.len, 5003);
    assert_int_equal(ids.data[4999], 4999);
    assert_int_equal(ids.data[5002], 9);
    idbuf_deinit(&ids);
}

static void test_arena(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a);
    for (int i = 0; i < 2000; i++) {
        char *p = arena_alloc(&a, (size_t)(i % 97) + 1);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xAB, (size_t)(i % 97) + 1);
    }
    char *big = arena_alloc(&a, 3 * ARENA_CHUNK);
    memset(big, 1, 3 * ARENA_CHUNK);
    assert_string_equal(arena_printf(&a, "%s-%d", "x", 42), "x-42");
    assert_string_equal(arena_memdup0(&a, "hello", 4), "hell");
    arena_deinit(&a);
    arena_deinit(&a); /* deinit twice is fine */
}

static void test_errors(void **state)
{
    (void)state;
    assert_int_equal(error_set(GPTOSS_ERR_FORMAT, "bad %s", "thing"), GPTOSS_ERR_FORMAT);
    assert_int_equal(error_wrap(GPTOSS_ERR_IO, "%s: ", "file.json"), GPTOSS_ERR_IO);
    assert_string_equal(error_message(), "file.json: bad thing");
    assert_string_equal(gptoss_last_error(), "file.json: bad thing");
    error_clear();
    assert_string_equal(error_message(), "");
    assert_string_equal(gptoss_status_string(GPTOSS_ERR_NOMEM), "out of memory");
}

static void test_file_read(void **state)
{
    (void)state;
    char *data;
    size_t size;
    assert_int_equal(file_read_all("/nonexistent/x", 100, &data, &size), GPTOSS_ERR_IO);
    assert_non_null(strstr(error_message(), "/nonexistent/x"));
    assert_null(data);
    assert_int_equal(
        file_read_all(GPTOSS_TEST_DATA_DIR "/tokenizer/o200k_base.tiktoken", 10, &data, &size),
        GPTOSS_ERR_FORMAT);
    assert_int_equal(file_read_all(GPTOSS_TEST_DATA_DIR, 10, &data, &size), GPTOSS_ERR_IO);
    struct file_map map;
    assert_int_equal(file_map_open(GPTOSS_TEST_DATA_DIR "/tokenizer/o200k_base.tiktoken", &map),
                     GPTOSS_OK);
    assert_true(map.size > 3000000);
    file_map_close(&map);
    assert_true(file_is_dir(GPTOSS_TEST_DATA_DIR));
}

/* Whether the kernel gives huge pages to a mapping that asks (THP "always" or "madvise"). */
static bool thp_on(void)
{
    char line[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f)
        return false;
    bool on = fgets(line, sizeof line, f) && !strstr(line, "[never]");
    fclose(f);
    return on;
}

static void test_pages(void **state)
{
    (void)state;
    size_t n = ((size_t)5 << 20) + 3;
    unsigned char *p = pages_alloc(n);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % ((uintptr_t)2 << 20), 0);
    assert_int_equal(p[0] | p[n / 2] | p[n - 1], 0);
    memset(p, 7, n);
    uint64_t resident = 0, huge = 0;
    pages_count(p, n, &resident, &huge);
    assert_true(resident >= n);
    assert_true(huge <= resident);
    if (thp_on())
        assert_true(huge >= ((uint64_t)2 << 20)); /* at least one of its two whole 2 MB pages */
    else
        print_message("transparent huge pages are off here: only the small-page path ran\n");
    uint64_t r2 = 0, h2 = 0;
    pages_count(p + n + ((size_t)64 << 20), 4096, &r2, &h2); /* nothing mapped starts there */
    assert_int_equal(r2 + h2, 0);
    pages_free(p, n);
    assert_null(pages_alloc(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_lossy),    cmocka_unit_test(test_utf8_next),
        cmocka_unit_test(test_buf_and_idbuf), cmocka_unit_test(test_arena),
        cmocka_unit_test(test_errors),        cmocka_unit_test(test_file_read),
        cmocka_unit_test(test_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
