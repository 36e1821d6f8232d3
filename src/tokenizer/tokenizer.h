/* tokenizer.h — the o200k_harmony tokenizer: byte-level BPE over the o200k ranks plus the
 * harmony special tokens. The face of the tokenizer layer (depends on base only).
 *
 * Id space (201088 ids, the model's vocabulary):
 *   0 .. 199997        ordinary BPE tokens; the id is the o200k merge rank
 *   199998 .. 201087   special tokens: <|startoftext|>, <|endoftext|>, <|return|>, <|constrain|>,
 *                      <|channel|>, <|start|>, <|end|>, <|message|>, <|call|>, and
 *                      <|reserved_N|> for every other id (harmony's names)
 *
 * Encoding splits text with the o200k pre-tokenizer regex (PCRE2, JIT) and runs BPE on each
 * piece, exactly as tiktoken does. A tokenizer is immutable after creation; every function that
 * takes a const tokenizer may be called from several threads at once.
 */
#ifndef GPTOSS_TOKENIZER_H
#define GPTOSS_TOKENIZER_H

#include "base/base.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKENIZER_N_ORDINARY 199998u /* ids below this are BPE tokens */
#define TOKENIZER_N_VOCAB    201088u

/* The special ids the harmony format uses, fixed by the o200k_harmony vocabulary. */
enum tokenizer_special {
    TOKEN_STARTOFTEXT = 199998,
    TOKEN_ENDOFTEXT = 199999,
    TOKEN_RETURN = 200002,
    TOKEN_CONSTRAIN = 200003,
    TOKEN_CHANNEL = 200005,
    TOKEN_START = 200006,
    TOKEN_END = 200007,
    TOKEN_MESSAGE = 200008,
    TOKEN_CALL = 200012,
    TOKEN_ENDOFPROMPT = 200018, /* HF's name; harmony calls it <|reserved_200018|> */
};

struct tokenizer;

/* Loads a tokenizer. `path` may be:
 *   - a directory holding tokenizer.json (a Hugging Face checkpoint directory);
 *   - a Hugging Face tokenizer.json (byte-level BPE: model.vocab gives the ranks, added_tokens
 *     the specials 199998-200018; merges are checked for shape but the ranks decide merges,
 *     which is equivalent for tokenizers converted from tiktoken);
 *   - an o200k_base.tiktoken file (base64 token, space, rank per line), to which the harmony
 *     specials are added.
 * Anything else, or a file whose vocabulary is not o200k-shaped (wrong count, duplicate or
 * missing ranks, a special at the wrong id), fails with GPTOSS_ERR_FORMAT and a message naming
 * the file and the entry. */
enum gptoss_status tokenizer_create(const char *path, struct tokenizer **tokenizer_out);
void tokenizer_destroy(struct tokenizer *tok); /* NULL is a no-op */

/* Encodes text[0..len). Appends the ids to *out; never fails. Invalid UTF-8 bytes become the
 * single-byte tokens of those bytes (the text between them is encoded normally). When
 * allow_special is true, occurrences of special-token names ("<|start|>", "<|reserved_200100|>",
 * and HF's "<|endofprompt|>") become their ids; otherwise they are ordinary text. */
void tokenizer_encode(const struct tokenizer *tok, const char *text, size_t len, bool allow_special,
                      struct idbuf *out);

/* The bytes a token stands for: its BPE bytes, or its name for a special id. Returns NULL for an
 * id >= TOKENIZER_N_VOCAB. The pointer lives as long as the tokenizer. */
const char *tokenizer_token_bytes(const struct tokenizer *tok, uint32_t id, size_t *len_out);

static inline bool tokenizer_is_special(uint32_t id)
{
    return id >= TOKENIZER_N_ORDINARY && id < TOKENIZER_N_VOCAB;
}

/* Looks a special token up by name ("<|call|>"); false if there is none by that name. */
bool tokenizer_special_id(const struct tokenizer *tok, const char *name, size_t len,
                          uint32_t *id_out);

/* Appends the bytes of ids[0..n) to *out (specials as their names, or nothing when
 * skip_special). Fails with GPTOSS_ERR_INVALID_ARGUMENT, naming the id, if one is outside the
 * vocabulary; *out then holds the bytes up to it. */
enum gptoss_status tokenizer_decode(const struct tokenizer *tok, const uint32_t *ids, size_t n,
                                    bool skip_special, struct buf *out);

/* Writes a Hugging Face tokenizer.json equivalent to this tokenizer: the o200k pre-tokenizer
 * (Split + ByteLevel), byte-level BPE with ignore_merges, vocab and merges derived from the
 * ranks as transformers' tiktoken converter derives them, ByteLevel decoder, and the added
 * tokens 199998-200018 with HF's names. */
enum gptoss_status tokenizer_write_json(const struct tokenizer *tok, const char *path);

/* ---- Streaming decode --------------------------------------------------------------------- */

/* Turns ids arriving one at a time into text that is always valid UTF-8: bytes of a character
 * split across tokens are held back until it is complete; ill-formed bytes become U+FFFD (one
 * per maximal subpart, as in utf8.h). Caller-embedded; no allocation of its own. */
struct tokenizer_stream {
    const struct tokenizer *tok;
    bool skip_special;        /* drop special ids instead of writing their names */
    unsigned char pending[4]; /* an incomplete UTF-8 sequence awaiting its next bytes */
    size_t n_pending;
};

void tokenizer_stream_init(struct tokenizer_stream *s, const struct tokenizer *tok,
                           bool skip_special);
/* Appends the text completed by `id` to *out (possibly nothing). An id outside the vocabulary
 * is written as U+FFFD. A special id first flushes any pending bytes as U+FFFD. */
void tokenizer_stream_push(struct tokenizer_stream *s, uint32_t id, struct buf *out);
/* End of stream: pending bytes become U+FFFD. */
void tokenizer_stream_flush(struct tokenizer_stream *s, struct buf *out);

#endif
