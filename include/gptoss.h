/* gptoss.h — the public API of libgptoss.
 *
 * Everything a program embedding gptoss.c may call lives here, behind opaque handles and status
 * codes. Objects are created by gptoss_<object>_create*() and released by the matching
 * gptoss_<object>_destroy() (NULL is a no-op). Arrays and strings the library hands back through
 * *_out parameters are owned by the caller and released with gptoss_free(). When a call fails it
 * returns a status other than GPTOSS_OK, stores NULL/0 in its outputs, and leaves a one-line
 * explanation (naming the file, field or token at fault) for gptoss_last_error() on the calling
 * thread.
 */
#ifndef GPTOSS_H
#define GPTOSS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GPTOSS_API __attribute__((visibility("default")))
#else
#define GPTOSS_API
#endif

enum gptoss_status {
    GPTOSS_OK = 0,
    GPTOSS_ERR_INVALID_ARGUMENT, /* the caller passed something malformed (a request, an id) */
    GPTOSS_ERR_IO,               /* a file could not be opened, read or written */
    GPTOSS_ERR_FORMAT,           /* a file's content is not what it must be */
    GPTOSS_ERR_UNSUPPORTED,      /* well-formed but not something this build can do */
    GPTOSS_ERR_NOMEM,            /* a large allocation (weights, KV, activations) failed */
    GPTOSS_ERR_INTERNAL,         /* a library failure (e.g. the regex engine) */
    GPTOSS_AGAIN,                /* non-blocking call: nothing ready yet */
};

/* A short constant name for a status ("invalid argument", ...). Never NULL. */
GPTOSS_API const char *gptoss_status_string(enum gptoss_status status);

/* The message left by the last failing call on this thread; "" when there is none. The pointer
 * stays valid until the next library call on the same thread. */
GPTOSS_API const char *gptoss_last_error(void);

/* Releases memory the library returned through an *_out parameter. NULL is a no-op. */
GPTOSS_API void gptoss_free(void *ptr);

/* The library version, "MAJOR.MINOR.PATCH". */
GPTOSS_API const char *gptoss_version(void);

/* ---- Tokenizer (o200k_harmony) ------------------------------------------------------------ */

struct gptoss_tokenizer;

/* Loads a tokenizer from `path`, which may be a checkpoint directory (its tokenizer.json), a
 * Hugging Face tokenizer.json file, or an o200k_base.tiktoken file (the harmony special tokens
 * are added to it). On success stores the tokenizer in *tokenizer_out. A tokenizer is immutable
 * and may be used from several threads at once. */
GPTOSS_API enum gptoss_status gptoss_tokenizer_create(const char *path,
                                                      struct gptoss_tokenizer **tokenizer_out);
GPTOSS_API void gptoss_tokenizer_destroy(struct gptoss_tokenizer *tokenizer);

/* Number of token ids the tokenizer knows, including every special and reserved id (201088). */
GPTOSS_API uint32_t gptoss_tokenizer_n_vocab(const struct gptoss_tokenizer *tokenizer);

/* Encodes `len` bytes of text. Special-token strings such as "<|start|>" are encoded as their
 * special ids only when allow_special is true; otherwise they are ordinary text. Any bytes are
 * accepted: bytes that are not valid UTF-8 become single-byte tokens. Stores a gptoss_free()able
 * array in *ids_out (NULL when the text is empty) and its length in *n_ids_out. */
GPTOSS_API enum gptoss_status gptoss_tokenizer_encode(const struct gptoss_tokenizer *tokenizer,
                                                      const char *text, size_t len,
                                                      bool allow_special, uint32_t **ids_out,
                                                      size_t *n_ids_out);

/* Decodes ids into the exact bytes they stand for; special ids become their names ("<|end|>").
 * Fails with GPTOSS_ERR_INVALID_ARGUMENT on an id outside the vocabulary. Stores a
 * NUL-terminated gptoss_free()able buffer in *text_out and its length (without the NUL) in
 * *len_out. */
GPTOSS_API enum gptoss_status gptoss_tokenizer_decode(const struct gptoss_tokenizer *tokenizer,
                                                      const uint32_t *ids, size_t n_ids,
                                                      char **text_out, size_t *len_out);

/* Writes the tokenizer as a Hugging Face tokenizer.json (byte-level BPE with the o200k
 * pre-tokenizer, merges and the special tokens 199998-200018), as published with gpt-oss. */
GPTOSS_API enum gptoss_status gptoss_tokenizer_write_json(const struct gptoss_tokenizer *tokenizer,
                                                          const char *path);

/* ---- Chat prompts (harmony) --------------------------------------------------------------- */

enum gptoss_reasoning_effort {
    GPTOSS_REASONING_LOW,
    GPTOSS_REASONING_MEDIUM,
    GPTOSS_REASONING_HIGH,
};

/* Settings of the harmony system message that do not come from a chat request. Initialise with
 * gptoss_chat_options_init(); NULL strings mean the harmony defaults. */
struct gptoss_chat_options {
    const char *model_identity;   /* NULL: "You are ChatGPT, a large language model ..." */
    const char *knowledge_cutoff; /* NULL: "2024-06" */
    const char *current_date;     /* "YYYY-MM-DD", or NULL for no "Current date:" line */
    enum gptoss_reasoning_effort default_effort; /* when the request names none */
};

GPTOSS_API void gptoss_chat_options_init(struct gptoss_chat_options *options);

/* Renders an OpenAI chat-completions request (JSON text: messages, tools, reasoning_effort, ...)
 * into the token ids of a harmony prompt ending with "<|start|>assistant". A malformed request
 * fails with GPTOSS_ERR_INVALID_ARGUMENT and a message naming the offending field. */
GPTOSS_API enum gptoss_status gptoss_chat_render(const struct gptoss_tokenizer *tokenizer,
                                                 const char *request_json, size_t len,
                                                 const struct gptoss_chat_options *options,
                                                 uint32_t **ids_out, size_t *n_ids_out);

#ifdef __cplusplus
}
#endif

#endif /* GPTOSS_H */
