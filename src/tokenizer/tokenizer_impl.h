/* tokenizer_impl.h — the inside of struct tokenizer, shared by the tokenizer's source files.
 *
 * Token bytes live in one blob: ordinary tokens in rank order, then the special names, with
 * offsets[id]..offsets[id + 1] delimiting id's bytes. Two open-addressing maps (bytes -> id)
 * find ordinary tokens (for BPE) and special names (for encode with specials). Nothing here is
 * mutated after tokenizer creation, which is what makes a tokenizer safe to share.
 */
#ifndef GPTOSS_TOKENIZER_IMPL_H
#define GPTOSS_TOKENIZER_IMPL_H

#include "tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Open-addressing map from byte strings (stored in a tokenizer's blob) to ids. A slot keeps the
 * key's place in the blob and 24 bits of its hash with its length, so a probe touches the blob
 * only when both agree; the id sits in the 4 bytes before the key, on the cache line the key
 * comparison has just loaded. off == 0 marks an empty slot (no key starts at 0). */
struct tok_slot {
    uint32_t off; /* key bytes start at blob[off]; the id is at blob[off - 4] */
    uint32_t tag; /* high 24 bits of the hash | key length (255 for longer keys) */
};

struct tok_map {
    struct tok_slot *slots;
    uint32_t mask;
    /* A bit per key hash (about 20 bits per key): most BPE candidates are not tokens, and
     * this filter, unlike the slots, stays in cache to say so. */
    uint64_t *filter;
    uint32_t filter_mask; /* bit count - 1 */
};

struct tokenizer {
    char *blob;            /* all token bytes, see above */
    uint32_t *offsets;     /* (TOKENIZER_N_VOCAB + 1) */
    uint32_t byte_id[256]; /* id of each single byte */
    uint32_t *pair_id;     /* (65536) id of each two-byte token, UINT32_MAX if none: the first
                            * round of every merge looks these up, so they skip the hash map */
    struct tok_map ordinary;
    struct tok_map special; /* special names */
    pcre2_code *regex;
    bool regex_jit;
};

/* The o200k pre-tokenizer pattern as tiktoken states it, and the equivalent we compile for
 * PCRE2 (see tokenizer.c for why they differ in spelling). */
extern const char tokenizer_o200k_pattern[];

uint64_t tok_hash(const void *data, size_t len);

/* Builds a map over ids [first, last) of tok's blob. Fails with GPTOSS_ERR_FORMAT when two ids
 * have the same bytes (message names both). */
enum gptoss_status tok_map_build(struct tok_map *m, const struct tokenizer *tok, uint32_t first,
                                 uint32_t last);
void tok_map_free(struct tok_map *m);
/* Looks bytes up; returns the id or UINT32_MAX. */
uint32_t tok_map_find(const struct tok_map *m, const struct tokenizer *tok, const void *key,
                      size_t len);

/* Byte-pair-encodes one pre-token piece and appends its ids. */
void bpe_encode_piece(const struct tokenizer *tok, const unsigned char *piece, size_t len,
                      struct idbuf *out);

/* Finishes a tokenizer whose blob, offsets (all TOKENIZER_N_VOCAB ids) are filled in: builds
 * the maps and compiles the regex. `source` names the file for messages. */
enum gptoss_status tokenizer_finish(struct tokenizer *tok, const char *source);

/* Fills tok->blob/offsets. Ordinary id i's bytes are src[src_off[i]..src_off[i] + src_len[i]);
 * special id s gets special_names[s - TOKENIZER_N_ORDINARY] when that is non-NULL, else its
 * harmony name. */
void tokenizer_assemble(struct tokenizer *tok, const char *src, const uint32_t *src_off,
                        const uint32_t *src_len, char *const *special_names);

/* Fills blob/offsets from an o200k_base.tiktoken file plus harmony's special names. */
enum gptoss_status tokenizer_load_tiktoken(struct tokenizer *tok, const char *path);
/* Fills blob/offsets from a Hugging Face tokenizer.json. */
enum gptoss_status tokenizer_load_json(struct tokenizer *tok, const char *path);

/* The harmony name of special id `id` ("<|start|>", "<|reserved_200100|>"), written to buf. */
void tokenizer_harmony_special_name(uint32_t id, char buf[32]);

#endif
