/* tokenizer_json.c — reading and writing Hugging Face tokenizer.json files for o200k_harmony.
 *
 * HF stores byte-level BPE tokens as printable strings: GPT-2's bytes_to_unicode() maps each
 * byte to a code point (printable Latin-1 bytes to themselves, the other 68 bytes to U+0100 and
 * up, in byte order). Reading inverts that map to recover token bytes; ids come from
 * model.vocab, special names from added_tokens. Only files that describe o200k_harmony are
 * accepted (o200k pre-tokenizer pattern, 199998 BPE tokens, harmony's special ids), because the
 * engine is built for exactly that vocabulary.
 *
 * Writing produces what transformers' tiktoken converter produces for gpt-oss: the vocab in
 * rank order, and merges listing for every token each split into two tokens, ordered by the
 * token's rank and then by the ranks of the two halves.
 */
#include "tokenizer_impl.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The byte <-> code point map ------------------------------------------------------------- */

static bool byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* cp_of[b] = the code point standing for byte b. */
static void byte_level_table(uint32_t cp_of[256])
{
    uint32_t next = 256;
    for (unsigned b = 0; b < 256; b++)
        cp_of[b] = byte_is_printable(b) ? b : next++;
}

/* Appends the byte-level string of bytes p[0..n) to *out. */
static void byte_level_encode(const uint32_t cp_of[256], const unsigned char *p, size_t n,
                              struct buf *out)
{
    for (size_t i = 0; i < n; i++) {
        char u[4];
        buf_append(out, u, utf8_encode(cp_of[p[i]], u));
    }
}

/* Decodes a byte-level string back to bytes; false if a character is not in the map. */
static bool byte_level_decode(const int16_t *byte_of_cp, const char *s, size_t n, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = utf8_next(p + i, n - i, &cp);
        if (k <= 0 || cp >= 512 || byte_of_cp[cp] < 0)
            return false;
        unsigned char b = (unsigned char)byte_of_cp[cp];
        buf_append(out, &b, 1);
        i += (size_t)k;
    }
    return true;
}

/* ---- Reading --------------------------------------------------------------------------------- */

/* Finds the regex of the Split pre-tokenizer, alone or inside a Sequence. */
static const char *tokenizer_json_split_pattern(const json_t *pre)
{
    if (!json_is_object(pre))
        return NULL;
    const char *type = json_string_value(json_object_get(pre, "type"));
    if (type && strcmp(type, "Split") == 0)
        return json_string_value(json_object_get(json_object_get(pre, "pattern"), "Regex"));
    const json_t *list = json_object_get(pre, "pretokenizers");
    size_t i;
    const json_t *item;
    json_array_foreach (list, i, item) {
        const char *pattern = tokenizer_json_split_pattern(item);
        if (pattern)
            return pattern;
    }
    return NULL;
}

static enum gptoss_status tokenizer_json_vocab(const json_t *vocab, const char *path,
                                               struct buf *bytes, uint32_t *off, uint32_t *len)
{
    uint32_t cp_of[256];
    int16_t byte_of_cp[512];
    byte_level_table(cp_of);
    memset(byte_of_cp, 0xFF, sizeof byte_of_cp);
    for (unsigned b = 0; b < 256; b++)
        byte_of_cp[cp_of[b]] = (int16_t)b;

    if (!json_is_object(vocab))
        return error_set(GPTOSS_ERR_FORMAT, "%s: model.vocab is missing or not an object", path);
    if (json_object_size(vocab) != TOKENIZER_N_ORDINARY)
        return error_set(GPTOSS_ERR_FORMAT, "%s: model.vocab has %zu tokens, but o200k has %u",
                         path, json_object_size(vocab), TOKENIZER_N_ORDINARY);
    memset(off, 0xFF, TOKENIZER_N_ORDINARY * sizeof *off);
    const char *key;
    size_t key_len;
    json_t *value;
    void *tmp;
    json_object_keylen_foreach_safe ((json_t *)vocab, tmp, key, key_len, value) {
        json_int_t id = json_integer_value(value);
        if (!json_is_integer(value) || id < 0 || id >= TOKENIZER_N_ORDINARY)
            return error_set(GPTOSS_ERR_FORMAT, "%s: model.vocab[\"%.*s\"] is not an id in 0..%u",
                             path, (int)(key_len > 64 ? 64 : key_len), key,
                             TOKENIZER_N_ORDINARY - 1);
        if (off[id] != UINT32_MAX)
            return error_set(GPTOSS_ERR_FORMAT, "%s: model.vocab gives id %lld twice", path,
                             (long long)id);
        size_t at = bytes->len;
        if (!byte_level_decode(byte_of_cp, key, key_len, bytes) || bytes->len == at)
            return error_set(GPTOSS_ERR_FORMAT,
                             "%s: model.vocab[\"%.*s\"] is not a byte-level token string", path,
                             (int)(key_len > 64 ? 64 : key_len), key);
        off[id] = (uint32_t)at;
        len[id] = (uint32_t)(bytes->len - at);
    }
    return GPTOSS_OK;
}

static enum gptoss_status tokenizer_json_specials(const json_t *added, const char *path,
                                                  char **names)
{
    if (added && !json_is_array(added))
        return error_set(GPTOSS_ERR_FORMAT, "%s: added_tokens is not an array", path);
    size_t i;
    const json_t *item;
    json_array_foreach (added, i, item) {
        const json_t *jid = json_object_get(item, "id");
        const char *content = json_string_value(json_object_get(item, "content"));
        json_int_t id = json_integer_value(jid);
        if (!json_is_integer(jid) || !content)
            return error_set(GPTOSS_ERR_FORMAT, "%s: added_tokens[%zu] needs an id and a content",
                             path, i);
        if (id < TOKENIZER_N_ORDINARY || id >= TOKENIZER_N_VOCAB)
            return error_set(GPTOSS_ERR_FORMAT,
                             "%s: added_tokens[%zu] has id %lld, outside the special ids %u..%u",
                             path, i, (long long)id, TOKENIZER_N_ORDINARY, TOKENIZER_N_VOCAB - 1);
        char expected[32];
        tokenizer_harmony_special_name((uint32_t)id, expected);
        /* The ids the harmony format is built from must carry their names. */
        bool structural = strncmp(expected, "<|reserved_", 11) != 0;
        if (structural && strcmp(content, expected) != 0)
            return error_set(GPTOSS_ERR_FORMAT, "%s: added token %lld is \"%s\", expected \"%s\"",
                             path, (long long)id, content, expected);
        if (strlen(content) >= 32 || strncmp(content, "<|", 2) != 0)
            return error_set(GPTOSS_ERR_FORMAT,
                             "%s: added token %lld (\"%.40s\") is not a <|name|> special", path,
                             (long long)id, content);
        names[id - TOKENIZER_N_ORDINARY] = (char *)content;
    }
    return GPTOSS_OK;
}

enum gptoss_status tokenizer_load_json(struct tokenizer *tok, const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        bool missing = jerr.line == -1;
        return error_set(missing ? GPTOSS_ERR_IO : GPTOSS_ERR_FORMAT, "%s:%d:%d: %s", path,
                         jerr.line, jerr.column, jerr.text);
    }
    enum gptoss_status st = GPTOSS_OK;
    struct buf bytes;
    buf_init(&bytes);
    uint32_t *off = xmalloc(TOKENIZER_N_ORDINARY * sizeof *off);
    uint32_t *len = xmalloc(TOKENIZER_N_ORDINARY * sizeof *len);
    char **names = xcalloc(TOKENIZER_N_VOCAB - TOKENIZER_N_ORDINARY, sizeof *names);

    const json_t *model = json_object_get(root, "model");
    const char *type = json_string_value(json_object_get(model, "type"));
    const char *pattern = tokenizer_json_split_pattern(json_object_get(root, "pre_tokenizer"));
    if (!json_is_object(model)) {
        st = error_set(GPTOSS_ERR_FORMAT, "%s: no \"model\" object", path);
    } else if (type && strcmp(type, "BPE") != 0) {
        st = error_set(GPTOSS_ERR_UNSUPPORTED, "%s: model.type is \"%s\", not BPE", path, type);
    } else if (!pattern || strcmp(pattern, tokenizer_o200k_pattern) != 0) {
        st = error_set(GPTOSS_ERR_UNSUPPORTED,
                       "%s: pre_tokenizer is not the o200k Split regex; only o200k_harmony "
                       "tokenizers are supported",
                       path);
    } else {
        st = tokenizer_json_vocab(json_object_get(model, "vocab"), path, &bytes, off, len);
        if (st == GPTOSS_OK)
            st = tokenizer_json_specials(json_object_get(root, "added_tokens"), path, names);
        if (st == GPTOSS_OK)
            tokenizer_assemble(tok, bytes.data, off, len, names);
    }
    free(names);
    free(off);
    free(len);
    buf_deinit(&bytes);
    json_decref(root);
    return st;
}

/* ---- Writing --------------------------------------------------------------------------------- */

static void json_put_string(struct buf *b, const char *s, size_t n)
{
    buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            buf_printf(b, "\\u%04x", c);
        else
            buf_putc(b, (char)c);
    }
    buf_putc(b, '"');
}

struct merge_pair {
    uint32_t left, right;
};

static int merge_pair_cmp(const void *a, const void *b)
{
    const struct merge_pair *x = a, *y = b;
    if (x->left != y->left)
        return x->left < y->left ? -1 : 1;
    return x->right < y->right ? -1 : x->right > y->right;
}

static void tokenizer_json_put_merges(const struct tokenizer *tok, const uint32_t cp_of[256],
                                      struct buf *b)
{
    struct merge_pair *pairs = NULL;
    size_t cap = 0;
    bool first = true;
    struct buf s;
    buf_init(&s);
    for (uint32_t id = 0; id < TOKENIZER_N_ORDINARY; id++) {
        size_t len;
        const unsigned char *t = (const unsigned char *)tokenizer_token_bytes(tok, id, &len);
        size_t n = 0;
        for (size_t i = 1; i < len; i++) {
            uint32_t l = tok_map_find(&tok->ordinary, tok, t, i);
            uint32_t r = tok_map_find(&tok->ordinary, tok, t + i, len - i);
            if (l == UINT32_MAX || r == UINT32_MAX)
                continue;
            pairs = xgrow(pairs, &cap, n + 1, sizeof *pairs);
            pairs[n++] = (struct merge_pair){l, r};
        }
        if (n > 1)
            qsort(pairs, n, sizeof *pairs, merge_pair_cmp);
        for (size_t k = 0; k < n; k++) {
            size_t ll, rl;
            const char *lb = tokenizer_token_bytes(tok, pairs[k].left, &ll);
            const char *rb = tokenizer_token_bytes(tok, pairs[k].right, &rl);
            buf_puts(b, first ? "\n    [" : ",\n    [");
            first = false;
            buf_reset(&s);
            byte_level_encode(cp_of, (const unsigned char *)lb, ll, &s);
            json_put_string(b, s.data, s.len);
            buf_puts(b, ", ");
            buf_reset(&s);
            byte_level_encode(cp_of, (const unsigned char *)rb, rl, &s);
            json_put_string(b, s.data, s.len);
            buf_putc(b, ']');
        }
    }
    buf_deinit(&s);
    free(pairs);
}

enum gptoss_status tokenizer_write_json(const struct tokenizer *tok, const char *path)
{
    uint32_t cp_of[256];
    byte_level_table(cp_of);
    struct buf b, s;
    buf_init(&b);
    buf_init(&s);
    buf_puts(&b, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
                 "  \"added_tokens\": [");
    for (uint32_t id = TOKENIZER_N_ORDINARY; id <= TOKEN_ENDOFPROMPT; id++) {
        size_t len;
        const char *name = tokenizer_token_bytes(tok, id, &len);
        if (id == TOKEN_ENDOFPROMPT)
            name = "<|endofprompt|>", len = strlen(name);
        buf_printf(&b, "%s\n    {\"id\": %u, \"content\": ", id == TOKENIZER_N_ORDINARY ? "" : ",",
                   id);
        json_put_string(&b, name, len);
        buf_puts(&b, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
                     "\"normalized\": false, \"special\": true}");
    }
    buf_puts(&b, "\n  ],\n  \"normalizer\": null,\n  \"pre_tokenizer\": {\"type\": \"Sequence\", "
                 "\"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": ");
    json_put_string(&b, tokenizer_o200k_pattern, strlen(tokenizer_o200k_pattern));
    buf_puts(&b, "}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", "
                 "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]},\n"
                 "  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
                 "\"trim_offsets\": false, \"use_regex\": true},\n"
                 "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
                 "\"trim_offsets\": true, \"use_regex\": true},\n"
                 "  \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, "
                 "\"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, "
                 "\"fuse_unk\": false, \"byte_fallback\": false, \"ignore_merges\": true,\n"
                 "  \"vocab\": {");
    for (uint32_t id = 0; id < TOKENIZER_N_ORDINARY; id++) {
        size_t len;
        const char *t = tokenizer_token_bytes(tok, id, &len);
        buf_reset(&s);
        byte_level_encode(cp_of, (const unsigned char *)t, len, &s);
        buf_puts(&b, id ? ",\n    " : "\n    ");
        json_put_string(&b, s.data, s.len);
        buf_printf(&b, ": %u", id);
    }
    buf_puts(&b, "\n  },\n  \"merges\": [");
    tokenizer_json_put_merges(tok, cp_of, &b);
    buf_puts(&b, "\n  ]}\n}\n");
    buf_deinit(&s);

    enum gptoss_status st = GPTOSS_OK;
    FILE *f = fopen(path, "wb");
    if (!f) {
        st = error_set(GPTOSS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    } else {
        bool ok = fwrite(b.data, 1, b.len, f) == b.len;
        ok = (fclose(f) == 0) && ok;
        if (!ok)
            st = error_set(GPTOSS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    buf_deinit(&b);
    return st;
}
