/* cli.h — what the gptoss command's source files share: flags, error exits, number parsing.
 *
 * Subcommands return their exit status: 0 on success, 2 (EXIT_USAGE) for a usage error and 1
 * for a failure, after printing one line that names the flag, file or field at fault.
 */
#ifndef GPTOSS_APPS_CLI_H
#define GPTOSS_APPS_CLI_H

#include "gptoss.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXIT_USAGE 2

#define CLI_MAX_API_KEYS 64

/* Every flag of every subcommand, as given on the command line (NULL when absent). */
struct flags {
    const char *command; /* the subcommand (argv[1]) */
    const char *model;
    const char *tokenizer;
    const char *out;
    const char *date;
    const char *effort;
    const char *identity;
    const char *cutoff;
    const char *preset, *seed, *experts, *shards, *layers, *num_experts, *rope_original,
        *sink_scale;
    const char *tokens, *prompt, *system, *max_tokens, *max_model_len;
    const char *temperature, *top_p, *top_k, *min_p, *presence_penalty, *frequency_penalty,
        *repetition_penalty;
    const char *host, *port, *served_model_name, *max_num_seqs, *max_num_batched_tokens,
        *tensor_parallel_size, *distributed_backend, *kv_cache_memory, *weights, *dtype,
        *quantization, *api_key, *api_key_file, *max_queued_requests, *max_body_bytes,
        *max_connections, *read_timeout, *max_n, *max_tools, *allowed_origins, *public_endpoints,
        *max_log_len;
    const char *api_keys[CLI_MAX_API_KEYS]; /* every --api-key given, in order */
    unsigned n_api_keys;
    const char *threads, *webui_dir;
    const char *bench_prompt, *bench_gen, *bench_repeat, *bench_batch; /* -p -n -r --batch */
    bool no_prefix_caching, enable_prefix_caching, disable_log_stats, no_webui, log_requests;
    bool chat;
    bool allow_special;
    bool show_reasoning;
    bool raw;
    bool json;
};

/* Parses argv[first..argc) into *f, accepting "--name value" and "--name=value". `allowed` lists
 * the flags the subcommand takes, separated by spaces. Returns 0 or an exit status. */
int flags_parse(int argc, char **argv, int first, const char *allowed, struct flags *f);

/* Prints "gptoss: MESSAGE" and a pointer to help; returns EXIT_USAGE. */
int fail_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "gptoss: WHAT: <last library error>"; returns EXIT_FAILURE. */
int fail_status(const char *what);

/* Loads the tokenizer named by --model or --tokenizer. Returns 0 or an exit status. */
int load_tokenizer(const struct flags *f, struct gptoss_tokenizer **tok);

/* With no --model, points f->model at the built-in demo model (demo-model/ next to the
 * executable, made from models/demo at build time) and says so on stderr; fails with the reason
 * when it is not there. Returns 0 or an exit status. */
int cli_default_model(struct flags *f);

/* True when f->model is the built-in demo model (set by cli_default_model). */
bool cli_is_demo_model(const struct flags *f);

/* Parses an unsigned integer flag value within [min, max]; false (after printing the usage
 * error) when it is not one. */
bool flag_u64(const char *name, const char *value, uint64_t min, uint64_t max, uint64_t *out);

/* Parses a finite float flag value within [min, max]. */
bool flag_float(const char *name, const char *value, double min, double max, float *out);

/* --dtype auto|bfloat16|float32. Returns 0 or an exit status. */
int cli_parse_dtype(const char *value, enum gptoss_dtype *out);

/* --tensor-parallel-size N and --distributed-backend threads|mpi into *size and *backend
 * (unchanged when absent). mpi outside an MPI job, or threads with more ranks than the
 * machine has memory for, are the library's to refuse; this checks the spelling and that mpi
 * runs under mpirun. Returns 0 or an exit status. */
int cli_parse_parallel(const struct flags *f, uint32_t *size,
                       enum gptoss_distributed_backend *backend);

/* --weights exact|int8. Returns 0 or an exit status. */
int cli_parse_weights(const char *value, enum gptoss_weights *out);

/* Loads --model with a progress bar on a terminal (cmd_model.c). */
int load_model_cli(struct flags *f, struct gptoss_model **model_out);

/* Reads the sampling flags into *s; the seed defaults to the clock. */
int cli_parse_sampling(const struct flags *f, struct gptoss_sampling *s);

/* Subcommands over a model (cmd_model.c, cmd_chat.c). */
int cmd_random_model(int argc, char **argv);
int cmd_expand_model(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
