/* gptoss.c — the gptoss command: flag parsing and subcommands over the public API.
 *
 * Each subcommand reads its flags, calls into libgptoss (include/gptoss.h) and prints the
 * result; errors are printed here, once, as one line naming the flag, file or field at fault,
 * with exit status 2 for usage errors and 1 for failures.
 */
#include "cli.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: gptoss <command> [flags]\n"
    "\n"
    "commands:\n"
    "  tokenize (--model DIR | --tokenizer FILE) [--chat] [--allow-special]\n"
    "           [--date YYYY-MM-DD|none] [--reasoning-effort low|medium|high]\n"
    "           [--model-identity TEXT] [--knowledge-cutoff TEXT]\n"
    "      stdin text -> JSON array of token ids. With --chat, stdin is an OpenAI\n"
    "      chat-completions request and the ids are its harmony prompt (the current-date\n"
    "      line defaults to today; --date none leaves it out).\n"
    "  detokenize (--model DIR | --tokenizer FILE)\n"
    "      stdin JSON array of ids -> the exact bytes they stand for.\n"
    "  convert-tokenizer --tokenizer FILE --out tokenizer.json\n"
    "      writes a Hugging Face tokenizer.json for an o200k_harmony tokenizer.\n"
    "  serve [--model DIR] [--host 127.0.0.1] [--port 8000] [--served-model-name NAME]\n"
    "        [--max-model-len N] [--max-num-seqs N] [--max-num-batched-tokens N]\n"
    "        [--kv-cache-memory 4G] [--api-key KEY]... [--api-key-file F]\n"
    "        [--public-endpoints health,version,metrics,status|none]\n"
    "        [--log-requests] [--max-log-len N]\n"
    "        [--no-enable-prefix-caching] [--disable-log-stats] [--date YYYY-MM-DD]\n"
    "        [--max-queued-requests N] [--max-body-bytes 32M] [--max-connections 512]\n"
    "        [--read-timeout 30] [--max-n 16] [--max-tools 128]\n"
    "        [--allowed-origins https://a.example,https://b.example|*]\n"
    "        [--threads N] [--dtype auto|bfloat16|float32]\n"
    "        [--weights exact|int8] [--tensor-parallel-size N]\n"
    "        [--distributed-backend threads|mpi] [--no-webui] [--webui-dir DIR]\n"
    "      serves the OpenAI API (/v1/chat/completions, /v1/completions, /v1/models,\n"
    "      /tokenize, /detokenize, /health, /metrics, /status, /version) and the web\n"
    "      chat UI at / (--webui-dir serves web/'s files from DIR, for UI work).\n"
    "  random-model --preset tiny|20b|120b --out DIR --tokenizer FILE [--seed S]\n"
    "           [--experts mxfp4|bf16] [--shards N] [--layers N] [--num-experts N]\n"
    "           [--rope-original-max-position N] [--sink-scale X]\n"
    "      writes a checkpoint with random weights in the Hugging Face layout.\n"
    "  expand-model --model COMPACT_DIR --tokenizer FILE --out DIR\n"
    "      expands a compact checkpoint (as models/demo ships) into the Hugging Face layout.\n"
    "  info [--model DIR] [--tensor-parallel-size N]\n"
    "      prints the config, parameter count and memory plan (per rank).\n"
    "  logits [--model DIR] --tokens 1,2,3 --out FILE.npy [--dtype D] [--weights W]\n"
    "      teacher-forced logits of the tokens as a float32 [n_tokens, vocab] .npy file.\n"
    "  generate [--model DIR] --prompt TEXT [--system TEXT] [--max-tokens N] [--raw]\n"
    "           [--show-reasoning] [--reasoning-effort low|medium|high] [sampling flags]\n"
    "      answers one prompt (rendered with harmony; --raw continues plain text).\n"
    "  chat [--model DIR] [--system TEXT] [--reasoning-effort E] [sampling flags]\n"
    "      interactive chat in the terminal; the reasoning is shown dimmed.\n"
    "      sampling flags: --temperature T --top-p P --top-k K --min-p P --seed S\n"
    "      --presence-penalty X --frequency-penalty X --repetition-penalty X\n"
    "      --max-model-len N --threads N --dtype auto|bfloat16|float32 --weights exact|int8\n"
    "  bench [--model DIR] [-p 512] [-n 128] [-r 3] [--batch 1,4,8,16] [--threads N]\n"
    "        [--dtype auto|bfloat16|float32] [--weights exact|int8] [--json]\n"
    "      times prefill (pp) and decode (tg) like llama-bench: medians of -r runs, the\n"
    "      decode's weight bandwidth against the machine's measured read bandwidth, and\n"
    "      batched decode with B sequences per step. -p, -n and --batch take lists.\n"
    "  version\n"
    "      prints the version.\n"
    "--dtype: bfloat16 multiplies the MXFP4 experts and bf16 matrices with bf16 activations\n"
    "where the CPU has AVX512_BF16; auto also quantises the activations of the MXFP4 experts\n"
    "and int8 matrices to int8 (per 32 values) where it has AVX512_VNNI; float32 keeps every\n"
    "product in f32 (the exact mode).\n"
    "--weights int8 requantises q/k/v/o and the unembedding to per-row int8 at load.\n"
    "--tensor-parallel-size N splits the model over N ranks (heads, expert units, vocabulary,\n"
    "KV cache); --distributed-backend threads (default) runs them in this process, mpi as the\n"
    "processes of `mpirun -np N` (docs/distributed.md). serve, chat, generate, info, logits\n"
    "and bench take both.\n"
    "Without --model, serve, chat, generate, info, logits and bench use the built-in demo model.\n";

int fail_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gptoss: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n(run `gptoss help` for usage)\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

int fail_status(const char *what)
{
    fprintf(stderr, "gptoss: %s: %s\n", what, gptoss_last_error());
    return EXIT_FAILURE;
}

/* ---- Flags ----------------------------------------------------------------------------------- */

int flags_parse(int argc, char **argv, int first, const char *allowed, struct flags *f)
{
    static const struct {
        const char *name;
        size_t offset; /* of a const char * field, or SIZE_MAX for booleans */
        size_t bool_offset;
    } table[] = {
        {"--model", offsetof(struct flags, model), 0},
        {"--tokenizer", offsetof(struct flags, tokenizer), 0},
        {"--out", offsetof(struct flags, out), 0},
        {"--date", offsetof(struct flags, date), 0},
        {"--reasoning-effort", offsetof(struct flags, effort), 0},
        {"--model-identity", offsetof(struct flags, identity), 0},
        {"--knowledge-cutoff", offsetof(struct flags, cutoff), 0},
        {"--preset", offsetof(struct flags, preset), 0},
        {"--seed", offsetof(struct flags, seed), 0},
        {"--experts", offsetof(struct flags, experts), 0},
        {"--shards", offsetof(struct flags, shards), 0},
        {"--layers", offsetof(struct flags, layers), 0},
        {"--num-experts", offsetof(struct flags, num_experts), 0},
        {"--rope-original-max-position", offsetof(struct flags, rope_original), 0},
        {"--sink-scale", offsetof(struct flags, sink_scale), 0},
        {"--tokens", offsetof(struct flags, tokens), 0},
        {"--prompt", offsetof(struct flags, prompt), 0},
        {"--system", offsetof(struct flags, system), 0},
        {"--max-tokens", offsetof(struct flags, max_tokens), 0},
        {"--max-model-len", offsetof(struct flags, max_model_len), 0},
        {"--temperature", offsetof(struct flags, temperature), 0},
        {"--top-p", offsetof(struct flags, top_p), 0},
        {"--top-k", offsetof(struct flags, top_k), 0},
        {"--min-p", offsetof(struct flags, min_p), 0},
        {"--presence-penalty", offsetof(struct flags, presence_penalty), 0},
        {"--frequency-penalty", offsetof(struct flags, frequency_penalty), 0},
        {"--repetition-penalty", offsetof(struct flags, repetition_penalty), 0},
        {"--host", offsetof(struct flags, host), 0},
        {"--threads", offsetof(struct flags, threads), 0},
        {"--webui-dir", offsetof(struct flags, webui_dir), 0},
        {"--port", offsetof(struct flags, port), 0},
        {"-p", offsetof(struct flags, bench_prompt), 0},
        {"-n", offsetof(struct flags, bench_gen), 0},
        {"-r", offsetof(struct flags, bench_repeat), 0},
        {"--batch", offsetof(struct flags, bench_batch), 0},
        {"--json", SIZE_MAX, offsetof(struct flags, json)},
        {"--served-model-name", offsetof(struct flags, served_model_name), 0},
        {"--max-num-seqs", offsetof(struct flags, max_num_seqs), 0},
        {"--max-num-batched-tokens", offsetof(struct flags, max_num_batched_tokens), 0},
        {"--tensor-parallel-size", offsetof(struct flags, tensor_parallel_size), 0},
        {"--distributed-backend", offsetof(struct flags, distributed_backend), 0},
        {"--kv-cache-memory", offsetof(struct flags, kv_cache_memory), 0},
        {"--weights", offsetof(struct flags, weights), 0},
        {"--dtype", offsetof(struct flags, dtype), 0},
        {"--quantization", offsetof(struct flags, quantization), 0},
        {"--api-key", offsetof(struct flags, api_key), 0},
        {"--api-key-file", offsetof(struct flags, api_key_file), 0},
        {"--max-queued-requests", offsetof(struct flags, max_queued_requests), 0},
        {"--max-body-bytes", offsetof(struct flags, max_body_bytes), 0},
        {"--max-connections", offsetof(struct flags, max_connections), 0},
        {"--read-timeout", offsetof(struct flags, read_timeout), 0},
        {"--max-n", offsetof(struct flags, max_n), 0},
        {"--max-tools", offsetof(struct flags, max_tools), 0},
        {"--allowed-origins", offsetof(struct flags, allowed_origins), 0},
        {"--public-endpoints", offsetof(struct flags, public_endpoints), 0},
        {"--max-log-len", offsetof(struct flags, max_log_len), 0},
        {"--log-requests", SIZE_MAX, offsetof(struct flags, log_requests)},
        {"--enable-log-requests", SIZE_MAX, offsetof(struct flags, log_requests)},
        {"--no-enable-prefix-caching", SIZE_MAX, offsetof(struct flags, no_prefix_caching)},
        {"--enable-prefix-caching", SIZE_MAX, offsetof(struct flags, enable_prefix_caching)},
        {"--disable-log-stats", SIZE_MAX, offsetof(struct flags, disable_log_stats)},
        {"--no-webui", SIZE_MAX, offsetof(struct flags, no_webui)},
        {"--chat", SIZE_MAX, offsetof(struct flags, chat)},
        {"--allow-special", SIZE_MAX, offsetof(struct flags, allow_special)},
        {"--show-reasoning", SIZE_MAX, offsetof(struct flags, show_reasoning)},
        {"--raw", SIZE_MAX, offsetof(struct flags, raw)},
    };
    memset(f, 0, sizeof *f);
    f->command = first > 1 ? argv[first - 1] : NULL;
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        size_t k;
        for (k = 0; k < sizeof table / sizeof table[0]; k++)
            if (strlen(table[k].name) == name_len && strncmp(arg, table[k].name, name_len) == 0)
                break;
        /* A whole word of `allowed`: "--max-n" must not be found inside "--max-num-seqs". */
        bool whole = false;
        for (const char *hit = k < sizeof table / sizeof table[0] ? allowed : NULL;
             hit && (hit = strstr(hit, table[k].name)) != NULL; hit += name_len)
            if ((hit == allowed || hit[-1] == ' ') &&
                (hit[name_len] == ' ' || hit[name_len] == '\0')) {
                whole = true;
                break;
            }
        if (!whole)
            return fail_usage("%s: unknown flag for `%s`", arg, argv[first - 1]);
        if (table[k].offset == SIZE_MAX) {
            if (eq)
                return fail_usage("%s takes no value", table[k].name);
            *(bool *)((char *)f + table[k].bool_offset) = true;
            continue;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value)
            return fail_usage("%s needs a value", table[k].name);
        *(const char **)((char *)f + table[k].offset) = value;
        /* --api-key may be given several times: each is an accepted key. */
        if (table[k].offset == offsetof(struct flags, api_key)) {
            if (f->n_api_keys == CLI_MAX_API_KEYS)
                return fail_usage("--api-key: at most %d keys on the command line; put more in "
                                  "--api-key-file",
                                  CLI_MAX_API_KEYS);
            f->api_keys[f->n_api_keys++] = value;
        }
    }
    return 0;
}

bool flag_u64(const char *name, const char *value, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (value[0] < '0' || value[0] > '9' || *end || errno || v < min || v > max) {
        fail_usage("%s must be an integer in %llu..%llu, got \"%s\"", name, (unsigned long long)min,
                   (unsigned long long)max, value);
        return false;
    }
    *out = v;
    return true;
}

bool flag_float(const char *name, const char *value, double min, double max, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (end == value || *end || errno || !(v >= min && v <= max)) {
        fail_usage("%s must be a number in [%g, %g], got \"%s\"", name, min, max, value);
        return false;
    }
    *out = (float)v;
    return true;
}

int cli_parse_dtype(const char *value, enum gptoss_dtype *out)
{
    if (!strcmp(value, "auto"))
        *out = GPTOSS_DTYPE_AUTO;
    else if (!strcmp(value, "bfloat16"))
        *out = GPTOSS_DTYPE_BFLOAT16;
    else if (!strcmp(value, "float32"))
        *out = GPTOSS_DTYPE_FLOAT32;
    else if (!strcmp(value, "half") || !strcmp(value, "float16"))
        return fail_usage("--dtype %s: gpt-oss activations overflow float16 (they reach ~1e5); "
                          "use auto, bfloat16 or float32",
                          value);
    else
        return fail_usage("--dtype must be auto, bfloat16 or float32, got \"%s\"", value);
    return 0;
}

int cli_parse_parallel(const struct flags *f, uint32_t *size,
                       enum gptoss_distributed_backend *backend)
{
    uint64_t v;
    if (f->tensor_parallel_size) {
        if (!flag_u64("--tensor-parallel-size", f->tensor_parallel_size, 1, 64, &v))
            return EXIT_USAGE;
        *size = (uint32_t)v;
    }
    if (f->distributed_backend) {
        if (strcmp(f->distributed_backend, "threads") == 0)
            *backend = GPTOSS_DISTRIBUTED_THREADS;
        else if (strcmp(f->distributed_backend, "mpi") == 0)
            *backend = GPTOSS_DISTRIBUTED_MPI;
        else
            return fail_usage("--distributed-backend must be threads or mpi, got \"%s\"",
                              f->distributed_backend);
    }
    if (*backend == GPTOSS_DISTRIBUTED_MPI && !getenv("OMPI_COMM_WORLD_SIZE") &&
        !getenv("PMIX_RANK") && !getenv("PMI_RANK"))
        return fail_usage("--distributed-backend mpi runs one rank per process: start it with "
                          "mpirun -np N (see docs/distributed.md)");
    return 0;
}

int cli_parse_weights(const char *value, enum gptoss_weights *out)
{
    if (!strcmp(value, "exact"))
        *out = GPTOSS_WEIGHTS_EXACT;
    else if (!strcmp(value, "int8"))
        *out = GPTOSS_WEIGHTS_INT8;
    else
        return fail_usage("--weights must be exact or int8, got \"%s\"", value);
    return 0;
}

int load_tokenizer(const struct flags *f, struct gptoss_tokenizer **tok)
{
    if (f->model && f->tokenizer)
        return fail_usage("give either --model or --tokenizer, not both");
    const char *path = f->model ? f->model : f->tokenizer;
    if (!path)
        return fail_usage("no tokenizer: pass --model DIR or --tokenizer FILE");
    if (gptoss_tokenizer_create(path, tok) != GPTOSS_OK)
        return fail_status("cannot load the tokenizer");
    return 0;
}

/* ---- The built-in demo model ----------------------------------------------------------------- */

static char demo_dir[4096 + 16];

int cli_default_model(struct flags *f)
{
    if (f->model)
        return 0;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        fprintf(stderr, "gptoss: no --model given and the executable's folder is unknown; pass "
                        "--model DIR\n");
        return EXIT_FAILURE;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    snprintf(demo_dir, sizeof(demo_dir), "%s/demo-model", exe);
    char config[sizeof(demo_dir) + 32];
    snprintf(config, sizeof(config), "%s/model.safetensors", demo_dir);
    if (access(config, R_OK) != 0) {
        fprintf(stderr,
                "gptoss: no --model given, and the built-in demo model is not at %s (the build "
                "makes it from models/demo); pass --model DIR\n",
                demo_dir);
        return EXIT_FAILURE;
    }
    f->model = demo_dir;
    fprintf(stderr,
            "gptoss: no --model given: using the built-in demo model (%s), a tiny model trained "
            "for demonstrations. For gpt-oss-20b: gptoss %s --model /path/to/gpt-oss-20b\n",
            demo_dir, f->command ? f->command : "serve");
    return 0;
}

bool cli_is_demo_model(const struct flags *f)
{
    return f->model == demo_dir;
}

/* ---- I/O helpers ----------------------------------------------------------------------------- */

static int read_stdin(char **data_out, size_t *len_out)
{
    size_t cap = 1 << 16, len = 0;
    char *data = malloc(cap);
    for (;;) {
        if (!data) {
            fprintf(stderr, "gptoss: out of memory reading stdin\n");
            return EXIT_FAILURE;
        }
        size_t n = fread(data + len, 1, cap - len, stdin);
        len += n;
        if (n == 0) {
            if (ferror(stdin)) {
                fprintf(stderr, "gptoss: reading stdin: %s\n", strerror(errno));
                free(data);
                return EXIT_FAILURE;
            }
            break;
        }
        if (len == cap) {
            cap *= 2;
            char *bigger = realloc(data, cap);
            if (!bigger)
                free(data);
            data = bigger;
        }
    }
    *data_out = data;
    *len_out = len;
    return 0;
}

static void print_ids(const uint32_t *ids, size_t n)
{
    putchar('[');
    for (size_t i = 0; i < n; i++)
        printf(i ? ", %u" : "%u", ids[i]);
    fputs("]\n", stdout);
}

/* ---- Subcommands ----------------------------------------------------------------------------- */

static int cmd_tokenize(int argc, char **argv)
{
    struct flags f;
    int rc = flags_parse(argc, argv, 2,
                         "--model --tokenizer --chat --allow-special --date --reasoning-effort "
                         "--model-identity --knowledge-cutoff",
                         &f);
    if (rc)
        return rc;
    if (!f.chat && (f.date || f.effort || f.identity || f.cutoff))
        return fail_usage("--date, --reasoning-effort, --model-identity and --knowledge-cutoff "
                          "apply to --chat only");
    struct gptoss_chat_options opts;
    gptoss_chat_options_init(&opts);
    char today[16];
    if (f.chat) {
        if (f.effort) {
            if (strcmp(f.effort, "low") == 0)
                opts.default_effort = GPTOSS_REASONING_LOW;
            else if (strcmp(f.effort, "medium") == 0)
                opts.default_effort = GPTOSS_REASONING_MEDIUM;
            else if (strcmp(f.effort, "high") == 0)
                opts.default_effort = GPTOSS_REASONING_HIGH;
            else
                return fail_usage("--reasoning-effort must be low, medium or high, not \"%s\"",
                                  f.effort);
        }
        if (!f.date) {
            time_t now = time(NULL);
            struct tm tm;
            localtime_r(&now, &tm);
            strftime(today, sizeof today, "%Y-%m-%d", &tm);
            opts.current_date = today;
        } else if (strcmp(f.date, "none") != 0) {
            opts.current_date = f.date;
        }
        opts.model_identity = f.identity;
        opts.knowledge_cutoff = f.cutoff;
    }
    struct gptoss_tokenizer *tok;
    rc = load_tokenizer(&f, &tok);
    if (rc)
        return rc;
    char *input;
    size_t len;
    rc = read_stdin(&input, &len);
    if (rc) {
        gptoss_tokenizer_destroy(tok);
        return rc;
    }
    uint32_t *ids;
    size_t n_ids;
    enum gptoss_status st =
        f.chat ? gptoss_chat_render(tok, input, len, &opts, &ids, &n_ids)
               : gptoss_tokenizer_encode(tok, input, len, f.allow_special, &ids, &n_ids);
    free(input);
    gptoss_tokenizer_destroy(tok);
    if (st != GPTOSS_OK)
        return fail_status(f.chat ? "invalid chat request" : "tokenize");
    print_ids(ids, n_ids);
    gptoss_free(ids);
    return 0;
}

/* Reads stdin as a JSON array of token ids into a malloc'd array. */
static int read_stdin_ids(uint32_t **ids_out, size_t *n_out)
{
    json_error_t jerr;
    json_t *arr = json_loadf(stdin, JSON_DECODE_ANY, &jerr);
    if (!arr)
        return fail_usage("stdin is not JSON (line %d column %d: %s)", jerr.line, jerr.column,
                          jerr.text);
    int rc = 0;
    size_t n = json_array_size(arr);
    uint32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!json_is_array(arr)) {
        rc = fail_usage("stdin must be a JSON array of token ids");
    } else if (!ids) {
        fprintf(stderr, "gptoss: out of memory reading %zu ids\n", n);
        rc = EXIT_FAILURE;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *v = json_array_get(arr, i);
        json_int_t id = json_integer_value(v);
        if (!json_is_integer(v) || id < 0 || id > (json_int_t)UINT32_MAX)
            rc = fail_usage("stdin[%zu] is not a token id", i);
        else
            ids[i] = (uint32_t)id;
    }
    json_decref(arr);
    if (rc) {
        free(ids);
        return rc;
    }
    *ids_out = ids;
    *n_out = n;
    return 0;
}

static int cmd_detokenize(int argc, char **argv)
{
    struct flags f;
    int rc = flags_parse(argc, argv, 2, "--model --tokenizer", &f);
    if (rc)
        return rc;
    uint32_t *ids = NULL;
    size_t n = 0;
    rc = read_stdin_ids(&ids, &n);
    if (rc)
        return rc;
    struct gptoss_tokenizer *tok;
    rc = load_tokenizer(&f, &tok);
    if (rc) {
        free(ids);
        return rc;
    }
    char *text = NULL;
    size_t len = 0;
    enum gptoss_status st = gptoss_tokenizer_decode(tok, ids, n, &text, &len);
    free(ids);
    gptoss_tokenizer_destroy(tok);
    if (st != GPTOSS_OK)
        return fail_status("detokenize");
    fwrite(text, 1, len, stdout);
    gptoss_free(text);
    return 0;
}

static int cmd_convert_tokenizer(int argc, char **argv)
{
    struct flags f;
    int rc = flags_parse(argc, argv, 2, "--tokenizer --model --out", &f);
    if (rc)
        return rc;
    if (!f.out)
        return fail_usage("convert-tokenizer needs --out FILE");
    struct gptoss_tokenizer *tok;
    rc = load_tokenizer(&f, &tok);
    if (rc)
        return rc;
    enum gptoss_status st = gptoss_tokenizer_write_json(tok, f.out);
    gptoss_tokenizer_destroy(tok);
    if (st != GPTOSS_OK)
        return fail_status("convert-tokenizer");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return fail_usage("no command given");
    const char *cmd = argv[1];
    if (strcmp(cmd, "tokenize") == 0)
        return cmd_tokenize(argc, argv);
    if (strcmp(cmd, "detokenize") == 0)
        return cmd_detokenize(argc, argv);
    if (strcmp(cmd, "convert-tokenizer") == 0)
        return cmd_convert_tokenizer(argc, argv);
    if (strcmp(cmd, "random-model") == 0)
        return cmd_random_model(argc, argv);
    if (strcmp(cmd, "expand-model") == 0)
        return cmd_expand_model(argc, argv);
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc, argv);
    if (strcmp(cmd, "logits") == 0)
        return cmd_logits(argc, argv);
    if (strcmp(cmd, "generate") == 0)
        return cmd_generate(argc, argv);
    if (strcmp(cmd, "chat") == 0)
        return cmd_chat(argc, argv);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc, argv);
    if (strcmp(cmd, "bench") == 0)
        return cmd_bench(argc, argv);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("gptoss %s\n", gptoss_version());
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    return fail_usage("unknown command \"%s\"", cmd);
}
