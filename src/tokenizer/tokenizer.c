/* tokenizer.c — creating an o200k_harmony tokenizer, encoding and decoding.
 *
 * Encoding is tiktoken's: the o200k regex splits text into pieces, each piece is byte-pair
 * encoded (bpe.c). The regex runs on PCRE2 with JIT. tiktoken's regex engine (Rust's regex
 * crate) differs from PCRE2 in two ways the compiled pattern makes up for, so that both match
 * the same strings: its \s is Unicode White_Space, which includes U+0085 (PCRE2's does not),
 * and its Unicode tables are newer than Debian's PCRE2 (unicode_extra.h adds the difference).
 *
 * Text that is not valid UTF-8 (which tiktoken cannot even be given) is encoded in valid runs,
 * with each byte of an ill-formed sequence as its own single-byte token, so any input encodes
 * and decode(encode(x)) == x holds for arbitrary bytes.
 */
#include "tokenizer_impl.h"
#include "unicode_extra.h"

#include <stdio.h>
#include <string.h>

const char tokenizer_o200k_pattern[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*"
    "|\\s*[\\r\\n]+"
    "|\\s+(?!\\S)"
    "|\\s+";

/* Unicode White_Space, the meaning of \s in tiktoken's regex engine. */
#define WS                                                                                         \
    "\\t-\\r "                                                                                     \
    "\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
/* The pattern's classes, with the characters newer Unicode versions added (unicode_extra.h). */
#define L           "\\p{L}" UNICODE_EXTRA_L
#define N           "\\p{N}" UNICODE_EXTRA_N
#define UPPER       "\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}" UNICODE_EXTRA_UPPER
#define LOWER       "\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}" UNICODE_EXTRA_LOWER
#define CONTRACTION "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"

static const char tokenizer_pcre2_pattern[] =
    "[^\\r\\n" L N "]?[" UPPER "]*[" LOWER "]+" CONTRACTION "|[^\\r\\n" L N "]?[" UPPER "]+[" LOWER
    "]*" CONTRACTION "|[" N "]{1,3}"
    "| ?[^" WS L N "]+[\\r\\n/]*"
    "|[" WS "]*[\\r\\n]+"
    "|[" WS "]+(?![^" WS "])"
    "|[" WS "]+";

/* ---- Creation -------------------------------------------------------------------------------- */

void tokenizer_harmony_special_name(uint32_t id, char buf[32])
{
    const char *name = NULL;
    switch (id) {
    case TOKEN_STARTOFTEXT: name = "<|startoftext|>"; break;
    case TOKEN_ENDOFTEXT: name = "<|endoftext|>"; break;
    case TOKEN_RETURN: name = "<|return|>"; break;
    case TOKEN_CONSTRAIN: name = "<|constrain|>"; break;
    case TOKEN_CHANNEL: name = "<|channel|>"; break;
    case TOKEN_START: name = "<|start|>"; break;
    case TOKEN_END: name = "<|end|>"; break;
    case TOKEN_MESSAGE: name = "<|message|>"; break;
    case TOKEN_CALL: name = "<|call|>"; break;
    default: break;
    }
    if (name)
        snprintf(buf, 32, "%s", name);
    else
        snprintf(buf, 32, "<|reserved_%u|>", id);
}

void tokenizer_assemble(struct tokenizer *tok, const char *src, const uint32_t *src_off,
                        const uint32_t *src_len, char *const *special_names)
{
    struct buf blob;
    buf_init(&blob);
    tok->offsets = xmalloc((TOKENIZER_N_VOCAB + 1) * sizeof *tok->offsets);
    for (uint32_t id = 0; id < TOKENIZER_N_VOCAB; id++) {
        buf_append(&blob, &id, 4);
        tok->offsets[id] = (uint32_t)blob.len;
        if (id < TOKENIZER_N_ORDINARY) {
            buf_append(&blob, src + src_off[id], src_len[id]);
        } else if (special_names && special_names[id - TOKENIZER_N_ORDINARY]) {
            buf_puts(&blob, special_names[id - TOKENIZER_N_ORDINARY]);
        } else {
            char name[32];
            tokenizer_harmony_special_name(id, name);
            buf_puts(&blob, name);
        }
    }
    tok->offsets[TOKENIZER_N_VOCAB] = (uint32_t)blob.len + 4;
    tok->blob = buf_steal(&blob, NULL);
}

static enum gptoss_status tokenizer_compile_regex(struct tokenizer *tok)
{
    int err;
    PCRE2_SIZE err_off;
    tok->regex = pcre2_compile((PCRE2_SPTR)tokenizer_pcre2_pattern, PCRE2_ZERO_TERMINATED,
                               PCRE2_UTF | PCRE2_UCP, &err, &err_off, NULL);
    if (!tok->regex) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return error_set(GPTOSS_ERR_INTERNAL, "pre-tokenizer regex at %zu: %s", (size_t)err_off,
                         (const char *)msg);
    }
    /* JIT is an optimisation: PCRE2 builds without it still match correctly. */
    tok->regex_jit = pcre2_jit_compile(tok->regex, PCRE2_JIT_COMPLETE) == 0;
    return GPTOSS_OK;
}

enum gptoss_status tokenizer_finish(struct tokenizer *tok, const char *source)
{
    enum gptoss_status st = tok_map_build(&tok->ordinary, tok, 0, TOKENIZER_N_ORDINARY);
    if (st == GPTOSS_OK)
        st = tok_map_build(&tok->special, tok, TOKENIZER_N_ORDINARY, TOKENIZER_N_VOCAB);
    if (st != GPTOSS_OK)
        return error_wrap(st, "%s: ", source);
    for (unsigned b = 0; b < 256; b++) {
        unsigned char byte = (unsigned char)b;
        tok->byte_id[b] = tok_map_find(&tok->ordinary, tok, &byte, 1);
        if (tok->byte_id[b] == UINT32_MAX)
            return error_set(GPTOSS_ERR_FORMAT, "%s: no token for the single byte 0x%02x", source,
                             b);
    }
    tok->pair_id = xmalloc(65536 * sizeof *tok->pair_id);
    for (unsigned pair = 0; pair < 65536; pair++) {
        unsigned char two[2] = {(unsigned char)(pair >> 8), (unsigned char)pair};
        tok->pair_id[pair] = tok_map_find(&tok->ordinary, tok, two, 2);
    }
    return tokenizer_compile_regex(tok);
}

enum gptoss_status tokenizer_create(const char *path, struct tokenizer **tokenizer_out)
{
    *tokenizer_out = NULL;
    struct tokenizer *tok = xcalloc(1, sizeof *tok);
    char *json_path = NULL;
    enum gptoss_status st;
    if (file_is_dir(path)) {
        size_t n = strlen(path) + sizeof "/tokenizer.json";
        json_path = xmalloc(n);
        snprintf(json_path, n, "%s/tokenizer.json", path);
        st = tokenizer_load_json(tok, json_path);
    } else {
        /* Tell the two file formats apart by their first byte: JSON opens with '{'. */
        struct file_map map;
        st = file_map_open(path, &map);
        if (st != GPTOSS_OK)
            goto fail;
        size_t i = 0;
        while (i < map.size && (map.data[i] == ' ' || map.data[i] == '\n' || map.data[i] == '\t' ||
                                map.data[i] == '\r'))
            i++;
        bool is_json = i < map.size && map.data[i] == '{';
        file_map_close(&map);
        st = is_json ? tokenizer_load_json(tok, path) : tokenizer_load_tiktoken(tok, path);
    }
    if (st != GPTOSS_OK)
        goto fail;
    st = tokenizer_finish(tok, json_path ? json_path : path);
    if (st != GPTOSS_OK)
        goto fail;
    free(json_path);
    *tokenizer_out = tok;
    return GPTOSS_OK;
fail:
    free(json_path);
    tokenizer_destroy(tok);
    return st;
}

void tokenizer_destroy(struct tokenizer *tok)
{
    if (!tok)
        return;
    tok_map_free(&tok->ordinary);
    tok_map_free(&tok->special);
    if (tok->regex)
        pcre2_code_free(tok->regex);
    free(tok->blob);
    free(tok->offsets);
    free(tok->pair_id);
    free(tok);
}

/* ---- Encoding -------------------------------------------------------------------------------- */

/* Splits valid UTF-8 text into pre-token pieces and byte-pair encodes each. */
static void tokenizer_encode_valid(const struct tokenizer *tok, pcre2_match_data *md,
                                   const unsigned char *text, size_t len, struct idbuf *out)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t pos = 0;
    while (pos < len) {
        int rc;
        if (tok->regex_jit)
            rc = pcre2_jit_match(tok->regex, text, len, pos, 0, md, NULL);
        else
            rc = pcre2_match(tok->regex, text, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(tok->regex, text, len, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md,
                             NULL);
        if (rc < 0) {
            /* Every character matches some alternative, so only resource limits get here;
             * encode what is left as one piece rather than lose it. */
            bpe_encode_piece(tok, text + pos, len - pos, out);
            return;
        }
        size_t start = ov[0], end = ov[1];
        if (start > pos)
            bpe_encode_piece(tok, text + pos, start - pos, out);
        GPTOSS_ASSERT(end > start);
        bpe_encode_piece(tok, text + start, end - start, out);
        pos = end;
    }
}

static void tokenizer_encode_ordinary(const struct tokenizer *tok, const unsigned char *text,
                                      size_t len, struct idbuf *out)
{
    if (len == 0)
        return;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(tok->regex, NULL);
    GPTOSS_ASSERT(md);
    size_t pos = 0;
    while (pos < len) {
        size_t valid = utf8_valid_prefix(text + pos, len - pos);
        if (valid)
            tokenizer_encode_valid(tok, md, text + pos, valid, out);
        pos += valid;
        if (pos < len) {
            uint32_t cp;
            int k = utf8_next(text + pos, len - pos, &cp);
            size_t bad = k < 0 ? (size_t)-k : len - pos;
            for (size_t i = 0; i < bad; i++)
                idbuf_push(out, tok->byte_id[text[pos + i]]);
            pos += bad;
        }
    }
    pcre2_match_data_free(md);
}

/* Longest special name, "<|reserved_201087|>", with room to spare. */
#define SPECIAL_NAME_MAX 40

void tokenizer_encode(const struct tokenizer *tok, const char *text, size_t len, bool allow_special,
                      struct idbuf *out)
{
    const unsigned char *p = (const unsigned char *)text;
    if (!allow_special) {
        tokenizer_encode_ordinary(tok, p, len, out);
        return;
    }
    size_t seg = 0, i = 0;
    while (i + 1 < len) {
        const unsigned char *lt = memchr(p + i, '<', len - i - 1);
        if (!lt)
            break;
        i = (size_t)(lt - p);
        if (p[i + 1] != '|') {
            i++;
            continue;
        }
        size_t limit = len - i < SPECIAL_NAME_MAX ? len - i : SPECIAL_NAME_MAX;
        size_t name_len = 0;
        for (size_t j = 2; j + 1 < limit; j++) {
            if (p[i + j] == '|' && p[i + j + 1] == '>') {
                name_len = j + 2;
                break;
            }
        }
        uint32_t id;
        if (name_len && tokenizer_special_id(tok, text + i, name_len, &id)) {
            tokenizer_encode_ordinary(tok, p + seg, i - seg, out);
            idbuf_push(out, id);
            i += name_len;
            seg = i;
        } else {
            i++;
        }
    }
    tokenizer_encode_ordinary(tok, p + seg, len - seg, out);
}

/* ---- Lookup and decoding --------------------------------------------------------------------- */

const char *tokenizer_token_bytes(const struct tokenizer *tok, uint32_t id, size_t *len_out)
{
    if (id >= TOKENIZER_N_VOCAB) {
        *len_out = 0;
        return NULL;
    }
    *len_out = tok->offsets[id + 1] - 4 - tok->offsets[id];
    return tok->blob + tok->offsets[id];
}

bool tokenizer_special_id(const struct tokenizer *tok, const char *name, size_t len,
                          uint32_t *id_out)
{
    uint32_t id = tok_map_find(&tok->special, tok, name, len);
    if (id == UINT32_MAX) {
        /* 200018 has a name in each convention; accept both whichever the file used. */
        static const char hf[] = "<|endofprompt|>", harmony[] = "<|reserved_200018|>";
        if ((len == sizeof hf - 1 && memcmp(name, hf, len) == 0) ||
            (len == sizeof harmony - 1 && memcmp(name, harmony, len) == 0))
            id = TOKEN_ENDOFPROMPT;
    }
    if (id == UINT32_MAX)
        return false;
    *id_out = id;
    return true;
}

enum gptoss_status tokenizer_decode(const struct tokenizer *tok, const uint32_t *ids, size_t n,
                                    bool skip_special, struct buf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] >= TOKENIZER_N_VOCAB)
            return error_set(GPTOSS_ERR_INVALID_ARGUMENT,
                             "token id %u at index %zu is outside the vocabulary (0..%u)", ids[i],
                             i, TOKENIZER_N_VOCAB - 1);
        if (skip_special && tokenizer_is_special(ids[i]))
            continue;
        size_t len;
        const char *b = tokenizer_token_bytes(tok, ids[i], &len);
        buf_append(out, b, len);
    }
    return GPTOSS_OK;
}
