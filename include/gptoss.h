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

#include <signal.h>
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

/* ---- Models ------------------------------------------------------------------------------- */

struct gptoss_model;

/* Called while a large checkpoint loads or is written: bytes done of total. */
struct gptoss_progress {
    void (*fn)(void *user, uint64_t done, uint64_t total);
    void *user;
};

/* The precision of the activations in the weight products (vLLM's --dtype). */
enum gptoss_dtype {
    GPTOSS_DTYPE_AUTO,     /* the fastest the CPU has: bfloat16, and where it has AVX512_VNNI,
                              the MXFP4 experts and --weights int8 matrices multiply activations
                              quantised to int8 per 32 values (as llama.cpp's q8_0) */
    GPTOSS_DTYPE_BFLOAT16, /* the MXFP4 experts and bf16 matrices multiply bf16 activations
                              where the CPU has a bf16 dot product (AVX512_BF16); all else f32 */
    GPTOSS_DTYPE_FLOAT32,  /* every product in f32: the exact mode the reference tests use */
};

/* How the non-expert weights are held (the experts are always the checkpoint's MXFP4). */
enum gptoss_weights {
    GPTOSS_WEIGHTS_EXACT, /* as the checkpoint has them (bf16) */
    GPTOSS_WEIGHTS_INT8,  /* q/k/v/o and the unembedding requantised at load to int8 with one
                             scale per row: half the bytes a decoded token reads there */
};

/* How the ranks of a model split with tensor parallelism talk (vLLM's --distributed-backend). */
enum gptoss_distributed_backend {
    GPTOSS_DISTRIBUTED_THREADS, /* every rank a thread group of this process */
    GPTOSS_DISTRIBUTED_MPI,     /* one rank per process of an MPI job (mpirun -np N) */
};

struct gptoss_model_options {
    const struct gptoss_progress *progress; /* NULL: silent */
    uint32_t n_threads;                     /* CPU threads; 0: one per available core. With
                                               threads tensor parallelism, shared by the ranks */
    enum gptoss_dtype dtype;                /* GPTOSS_DTYPE_AUTO */
    enum gptoss_weights weights;            /* GPTOSS_WEIGHTS_EXACT */
    /* Split over this many ranks (0 or 1: not split; with MPI, 0 means the job's size): each
     * holds 1/N of the attention heads, of every expert's hidden units, of the unembedding and
     * of the KV cache. */
    uint32_t tensor_parallel_size;
    enum gptoss_distributed_backend distributed_backend;
};

GPTOSS_API void gptoss_model_options_init(struct gptoss_model_options *options);

/* Loads the Hugging Face checkpoint directory `dir` (config.json, generation_config.json,
 * model.safetensors[.index.json] and shards, tokenizer.json). Weights are memory-mapped and
 * checked against the config before use; a missing, truncated or malformed file fails with a
 * message naming the file and the tensor. */
GPTOSS_API enum gptoss_status gptoss_model_create(const char *dir,
                                                  const struct gptoss_model_options *options,
                                                  struct gptoss_model **model_out);
GPTOSS_API void gptoss_model_destroy(struct gptoss_model *model);

/* The model's tokenizer; borrowed, lives as long as the model. */
GPTOSS_API const struct gptoss_tokenizer *gptoss_model_tokenizer(const struct gptoss_model *model);

/* What `gptoss info` prints. */
struct gptoss_model_info {
    uint32_t n_layers, d_model, n_heads, n_kv_heads, head_dim;
    uint32_t n_experts, n_experts_per_token, d_ff, n_vocab;
    uint32_t sliding_window, max_position;
    float rope_theta, rope_factor;
    uint32_t rope_original_max_position;
    bool experts_mxfp4;
    uint64_t n_params;     /* from the config */
    uint64_t weight_bytes; /* bytes of tensors mapped */
    uint32_t n_shards;
    uint64_t kv_bytes_per_token;     /* all layers, keys and values */
    uint64_t decode_bytes_per_token; /* weights one decoded token reads (top-k experts), all
                                        tensor-parallel ranks together */
    const char *backend;             /* e.g. "cpu avx512"; static */
    uint32_t eos_ids[8];             /* stop tokens from generation_config.json */
    uint32_t n_eos;
};

GPTOSS_API void gptoss_model_info(const struct gptoss_model *model, struct gptoss_model_info *info);

/* Tensor parallelism. With MPI every process of the job calls gptoss_model_create; on rank 0
 * it returns the model to serve, on the others gptoss_model_run_worker must follow: it runs
 * rank 0's steps on this rank's part until rank 0 destroys its model, then returns (destroy the
 * model after it). With threads only rank 0 exists to the caller. */
GPTOSS_API uint32_t gptoss_model_rank(const struct gptoss_model *model);
GPTOSS_API uint32_t gptoss_model_n_ranks(const struct gptoss_model *model);
GPTOSS_API enum gptoss_status gptoss_model_run_worker(struct gptoss_model *model);

/* The memory plan of one rank: which part it holds and the bytes that costs. */
struct gptoss_rank_info {
    uint32_t rank;
    uint32_t q_head0, n_q_heads, kv_head0, n_kv_heads; /* attention heads held */
    uint32_t ff0, n_ff;                                /* every expert's hidden units held */
    uint32_t vocab0, n_vocab;                          /* unembedding rows held */
    uint64_t weight_bytes;       /* of the checkpoint's tensors, this rank's part (the whole
                                    embedding included: it is read a row per token) */
    uint64_t kv_bytes_per_token; /* of the KV cache, this rank's part */
    uint64_t kv_bytes;           /* the KV cache allocated on this rank now */
    int64_t weight_resident;     /* of weight_bytes, resident now; -1 where this process
                                    cannot see (another MPI process) */
};

/* rank < gptoss_model_n_ranks(). */
GPTOSS_API void gptoss_model_rank_info(const struct gptoss_model *model, uint32_t rank,
                                       struct gptoss_rank_info *info);

/* Of the weights' memory resident now (the mapped files and the --weights int8 copies): the
 * bytes resident, and the bytes of those mapped with 2 MB pages, which decode streams up to
 * twice as fast (Linux; both 0 where the kernel does not say). */
GPTOSS_API void gptoss_model_weight_pages(const struct gptoss_model *model, uint64_t *resident,
                                          uint64_t *huge);

/* Teacher-forced logits: runs tokens[0..n) as one sequence from position 0 and stores a
 * gptoss_free()able float array [n][n_vocab] in *logits_out, row i being the distribution
 * after tokens[0..i]. */
GPTOSS_API enum gptoss_status gptoss_model_logits(struct gptoss_model *model,
                                                  const uint32_t *tokens, size_t n,
                                                  float **logits_out);

/* ---- Benchmarking ------------------------------------------------------------------------- */

/* One timed run of `gptoss bench`, llama-bench's pp and tg tests: n_prompt random tokens
 * prefilled as one sequence in steps of at most 512 tokens (logits of the last one only), and,
 * on a fresh cache, n_seqs sequences decoded together for n_gen steps, one random token per
 * sequence per step with the logits of every one. Either part is skipped when its count is 0. */
struct gptoss_bench_params {
    uint32_t n_prompt;
    uint32_t n_gen;
    uint32_t n_seqs; /* sequences per decode step, 1..256 */
    uint64_t seed;   /* of the random tokens */
};

struct gptoss_bench_timing {
    double prefill_seconds; /* the n_prompt tokens */
    double decode_seconds;  /* the n_gen steps of n_seqs tokens */
};

/* Runs `params` once; fails when the model has a live session (the run uses the KV cache). */
GPTOSS_API enum gptoss_status gptoss_model_bench(struct gptoss_model *model,
                                                 const struct gptoss_bench_params *params,
                                                 struct gptoss_bench_timing *timing_out);

/* ---- Random checkpoints ------------------------------------------------------------------- */

struct gptoss_random_model_options {
    const char *preset; /* "tiny", "20b" or "120b" */
    uint64_t seed;
    bool experts_bf16;                        /* unquantized experts instead of MXFP4 */
    uint32_t n_shards;                        /* 0: the preset's */
    uint32_t n_layers;                        /* 0: the preset's */
    uint32_t n_experts;                       /* 0: the preset's */
    uint32_t rope_original_max_position;      /* 0: the preset's (4096) */
    float sink_scale;                         /* 0: the preset's */
    const struct gptoss_tokenizer *tokenizer; /* written as tokenizer.json */
    const struct gptoss_progress *progress;   /* NULL: silent */
};

GPTOSS_API void gptoss_random_model_options_init(struct gptoss_random_model_options *options);

/* Writes a checkpoint with random weights into `dir` in exactly the Hub layout. The same options
 * give the same bytes. */
GPTOSS_API enum gptoss_status
gptoss_random_model_write(const struct gptoss_random_model_options *options, const char *dir);

/* Expands a compact checkpoint (config.json, generation_config.json, model.compact.safetensors:
 * the embedding and unembedding stored as rows for the tokens the model uses plus one shared
 * row) from `compact_dir` into a Hub checkpoint in `dir`, with `tokenizer` written as
 * tokenizer.json. This is how the built-in demo model is made at build time. */
GPTOSS_API enum gptoss_status gptoss_compact_model_expand(const char *compact_dir,
                                                          const struct gptoss_tokenizer *tokenizer,
                                                          const char *dir);

/* ---- Sampling and sessions ---------------------------------------------------------------- */

struct gptoss_sampling {
    float temperature; /* 0: greedy */
    uint32_t top_k;    /* 0: off */
    float top_p;       /* 1: off */
    float min_p;       /* 0: off */
    float presence_penalty;
    float frequency_penalty;
    float repetition_penalty; /* 1: off */
    uint64_t seed;
};

/* temperature 1, top_p 1, the rest off, seed 0. */
GPTOSS_API void gptoss_sampling_init(struct gptoss_sampling *sampling);

/* A session is one token sequence with its own KV cache: append tokens, sample the next. It
 * takes over the model's KV memory, so a model has at most one live session (the server's
 * engine, not sessions, serves many sequences). */
struct gptoss_session;

GPTOSS_API enum gptoss_status gptoss_session_create(struct gptoss_model *model, uint32_t max_tokens,
                                                    const struct gptoss_sampling *sampling,
                                                    struct gptoss_session **session_out);
GPTOSS_API void gptoss_session_destroy(struct gptoss_session *session);

/* Appends tokens to the sequence; they are computed on the next sample call. Fails when the
 * sequence would exceed max_tokens or a token is outside the vocabulary. */
GPTOSS_API enum gptoss_status gptoss_session_append(struct gptoss_session *session,
                                                    const uint32_t *tokens, size_t n);

/* Computes the pending tokens and samples the next one (not appended: append it to continue). */
GPTOSS_API enum gptoss_status gptoss_session_sample(struct gptoss_session *session,
                                                    uint32_t *token_out);

/* Drops tokens after the first n (for rewriting the end of a conversation). */
GPTOSS_API void gptoss_session_truncate(struct gptoss_session *session, size_t n);

GPTOSS_API size_t gptoss_session_n_tokens(const struct gptoss_session *session);

/* True when `token` ends an assistant turn (<|return|>, <|call|>, or a generation_config stop). */
GPTOSS_API bool gptoss_model_is_stop(const struct gptoss_model *model, uint32_t token);

/* ---- Reading generated tokens (harmony) --------------------------------------------------- */

struct gptoss_chat_parser;

enum gptoss_chat_event_type {
    GPTOSS_CHAT_MESSAGE_START,
    GPTOSS_CHAT_CONTENT,
    GPTOSS_CHAT_MESSAGE_END,
};

struct gptoss_chat_event {
    enum gptoss_chat_event_type type;
    const char *channel;   /* "analysis", "commentary", "final" or NULL */
    const char *recipient; /* "functions.NAME" for tool calls, or NULL */
    const char *text;      /* CONTENT: UTF-8 delta, not NUL-terminated */
    size_t text_len;
};

/* A parser for the tokens sampled after a prompt that ends with <|start|>assistant. The
 * tokenizer is borrowed and must outlive the parser. */
GPTOSS_API enum gptoss_status gptoss_chat_parser_create(const struct gptoss_tokenizer *tokenizer,
                                                        struct gptoss_chat_parser **parser_out);
GPTOSS_API void gptoss_chat_parser_destroy(struct gptoss_chat_parser *parser);

/* Feeds one sampled token (or, with token UINT32_MAX, ends the stream) and stores the events
 * it caused; the array and its strings stay valid until the next call. Returns their count. */
GPTOSS_API size_t gptoss_chat_parser_push(struct gptoss_chat_parser *parser, uint32_t token,
                                          const struct gptoss_chat_event **events_out);

/* ---- Serving (OpenAI-compatible HTTP API) ------------------------------------------------- */

/* Endpoints that may be open without an API key when keys are configured (bits). The web UI's
 * own files are always open: they hold no data, and the UI asks for a key for the rest. */
enum gptoss_public_endpoint {
    GPTOSS_PUBLIC_HEALTH = 1u << 0,  /* GET /health */
    GPTOSS_PUBLIC_VERSION = 1u << 1, /* GET /version */
    GPTOSS_PUBLIC_METRICS = 1u << 2, /* GET /metrics */
    GPTOSS_PUBLIC_STATUS = 1u << 3,  /* GET /status */
    GPTOSS_PUBLIC_ALL = 0xfu,
};

struct gptoss_serve_options {
    const char *model_dir;
    const char *served_model_name; /* NULL: the directory's name */
    const char *host;              /* "127.0.0.1" */
    uint16_t port;                 /* 8000 */
    const char *const *api_keys;   /* bearer keys; none: no authentication */
    size_t n_api_keys;
    unsigned public_endpoints; /* GPTOSS_PUBLIC_* bits open without a key; GPTOSS_PUBLIC_ALL */
    bool log_requests;         /* false: prompts are never logged; true: each request's prompt
                                  and parameters (never keys) */
    uint32_t max_log_len;      /* with log_requests: bytes of prompt logged at most; 0: all */
    uint32_t max_model_len;    /* 0: min(the model's context, 8192) */
    uint32_t max_num_seqs;     /* 64 */
    uint32_t max_num_batched_tokens;    /* 512 */
    uint64_t kv_cache_bytes;            /* 0: half the available memory, at most 32 GiB */
    bool enable_prefix_caching;         /* true */
    bool log_stats;                     /* true: access log and a stats line every 10 s */
    uint32_t max_n;                     /* 16: largest `n` a request may ask */
    uint32_t max_queued_requests;       /* 1024: more waiting requests get 503 */
    size_t max_body_bytes;              /* 32 MiB */
    unsigned max_connections;           /* 512 */
    unsigned read_timeout_s;            /* 30: a client silent this long mid-request is cut off */
    uint32_t max_tools;                 /* 128: most tools a chat request may declare */
    const char *const *allowed_origins; /* CORS: pages of these origins ("*": any) may call the
                                           API from a browser; none: same origin only */
    size_t n_allowed_origins;
    uint32_t n_threads;            /* CPU threads; 0: one per available core */
    enum gptoss_dtype dtype;       /* GPTOSS_DTYPE_AUTO */
    enum gptoss_weights weights;   /* GPTOSS_WEIGHTS_EXACT */
    uint32_t tensor_parallel_size; /* 0 or 1: one rank (gptoss_model_options) */
    enum gptoss_distributed_backend distributed_backend; /* GPTOSS_DISTRIBUTED_THREADS */
    const char *current_date; /* "YYYY-MM-DD" for prompts; NULL: today (UTC) */
    bool webui;               /* true: the web chat UI at / */
    bool demo; /* the model is the built-in demo model (said in the log, /status and the UI) */
    const char *webui_dir; /* NULL: the UI embedded in the library; else web/'s files from here */
};

GPTOSS_API void gptoss_serve_options_init(struct gptoss_serve_options *options);

/* Serves the model over HTTP until *stop becomes non-zero (set it from a signal handler), then
 * stops accepting, ends in-flight requests and returns GPTOSS_OK. Fails early, with the reason,
 * when the address cannot be bound or the model cannot be loaded. */
GPTOSS_API enum gptoss_status gptoss_serve(const struct gptoss_serve_options *options,
                                           volatile sig_atomic_t *stop);

#ifdef __cplusplus
}
#endif

#endif /* GPTOSS_H */
