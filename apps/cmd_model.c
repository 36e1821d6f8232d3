/* cmd_model.c — the subcommands that load or write a model: random-model, info, logits,
 * generate and chat.
 *
 * They are thin: flags become library options, the library does the work, and this file prints
 * (a progress bar while a large checkpoint loads, the answer as it streams).
 */
#include "cli.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_MODEL_LEN 8192

/* ---- Shared ---------------------------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A one-line progress bar on stderr, drawn only when stderr is a terminal. */
static void progress_bar(void *user, uint64_t done, uint64_t total)
{
    const char *what = user;
    int width = 30, filled = total ? (int)((double)done / (double)total * width) : width;
    fprintf(stderr, "\r%s [%.*s%*s] %5.1f%% %.2f/%.2f GB", what, filled,
            "##############################", width - filled, "",
            total ? 100.0 * (double)done / (double)total : 100.0, done / 1e9, total / 1e9);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}

int load_model_cli(struct flags *f, struct gptoss_model **model_out)
{
    int rc = cli_default_model(f);
    if (rc)
        return rc;
    struct gptoss_progress progress = {progress_bar, (void *)"loading"};
    struct gptoss_model_options options;
    gptoss_model_options_init(&options);
    if (isatty(STDERR_FILENO))
        options.progress = &progress;
    if (f->threads) {
        uint64_t n;
        if (!flag_u64("--threads", f->threads, 1, 1024, &n))
            return EXIT_USAGE;
        options.n_threads = (uint32_t)n;
    }
    if (f->dtype && (rc = cli_parse_dtype(f->dtype, &options.dtype)))
        return rc;
    if (f->weights && (rc = cli_parse_weights(f->weights, &options.weights)))
        return rc;
    if ((rc = cli_parse_parallel(f, &options.tensor_parallel_size, &options.distributed_backend)))
        return rc;
    if (gptoss_model_create(f->model, &options, model_out) != GPTOSS_OK)
        return fail_status("cannot load the model");
    if (gptoss_model_rank(*model_out) != 0) {
        /* An MPI rank other than 0: run rank 0's steps, then leave; rank 0 prints. */
        enum gptoss_status st = gptoss_model_run_worker(*model_out);
        gptoss_model_destroy(*model_out);
        exit(st == GPTOSS_OK ? 0 : fail_status("tensor-parallel worker"));
    }
    return 0;
}

/* Reads the sampling flags; the seed defaults to the clock so runs differ unless asked not to. */
int cli_parse_sampling(const struct flags *f, struct gptoss_sampling *s)
{
    gptoss_sampling_init(s);
    uint64_t v;
    s->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (f->seed) {
        if (!flag_u64("--seed", f->seed, 0, UINT64_MAX, &v))
            return EXIT_USAGE;
        s->seed = v;
    }
    if (f->top_k) {
        if (!flag_u64("--top-k", f->top_k, 0, UINT32_MAX, &v))
            return EXIT_USAGE;
        s->top_k = (uint32_t)v;
    }
    if ((f->temperature && !flag_float("--temperature", f->temperature, 0, 100, &s->temperature)) ||
        (f->top_p && !flag_float("--top-p", f->top_p, 1e-9, 1, &s->top_p)) ||
        (f->min_p && !flag_float("--min-p", f->min_p, 0, 1, &s->min_p)) ||
        (f->presence_penalty &&
         !flag_float("--presence-penalty", f->presence_penalty, -2, 2, &s->presence_penalty)) ||
        (f->frequency_penalty &&
         !flag_float("--frequency-penalty", f->frequency_penalty, -2, 2, &s->frequency_penalty)) ||
        (f->repetition_penalty && !flag_float("--repetition-penalty", f->repetition_penalty, 1e-3,
                                              100, &s->repetition_penalty)))
        return EXIT_USAGE;
    return 0;
}

static int parse_u32_flag(const char *name, const char *value, uint32_t def, uint32_t min,
                          uint32_t max, uint32_t *out)
{
    uint64_t v = def;
    if (value && !flag_u64(name, value, min, max, &v))
        return EXIT_USAGE;
    *out = (uint32_t)v;
    return 0;
}

/* ---- random-model ---------------------------------------------------------------------------- */

int cmd_random_model(int argc, char **argv)
{
    struct flags f;
    int rc = flags_parse(argc, argv, 2,
                         "--preset --out --tokenizer --seed --experts --shards --layers "
                         "--num-experts --rope-original-max-position --sink-scale",
                         &f);
    if (rc)
        return rc;
    if (!f.out)
        return fail_usage("random-model needs --out DIR");
    if (!f.tokenizer)
        return fail_usage("random-model needs --tokenizer FILE (an o200k_base.tiktoken or a "
                          "tokenizer.json) for the checkpoint's tokenizer.json");
    struct gptoss_random_model_options o;
    gptoss_random_model_options_init(&o);
    o.preset = f.preset ? f.preset : "tiny";
    if (strcmp(o.preset, "tiny") && strcmp(o.preset, "20b") && strcmp(o.preset, "120b"))
        return fail_usage("--preset must be tiny, 20b or 120b, got \"%s\"", o.preset);
    if (f.experts && strcmp(f.experts, "mxfp4") && strcmp(f.experts, "bf16"))
        return fail_usage("--experts must be mxfp4 or bf16, got \"%s\"", f.experts);
    o.experts_bf16 = f.experts && strcmp(f.experts, "bf16") == 0;
    uint64_t seed = 0;
    if (f.seed && !flag_u64("--seed", f.seed, 0, UINT64_MAX, &seed))
        return EXIT_USAGE;
    o.seed = seed;
    if ((rc = parse_u32_flag("--shards", f.shards, 0, 1, 256, &o.n_shards)) ||
        (rc = parse_u32_flag("--layers", f.layers, 0, 1, 256, &o.n_layers)) ||
        (rc = parse_u32_flag("--num-experts", f.num_experts, 0, 1, 1024, &o.n_experts)) ||
        (rc = parse_u32_flag("--rope-original-max-position", f.rope_original, 0, 1, 1u << 24,
                             &o.rope_original_max_position)))
        return rc;
    if (f.sink_scale && !flag_float("--sink-scale", f.sink_scale, 1e-6, 1e3, &o.sink_scale))
        return EXIT_USAGE;
    struct gptoss_tokenizer *tok;
    if ((rc = load_tokenizer(&f, &tok)))
        return rc;
    o.tokenizer = tok;
    struct gptoss_progress progress = {progress_bar, (void *)"writing"};
    if (isatty(STDERR_FILENO))
        o.progress = &progress;
    double t0 = now_seconds();
    enum gptoss_status st = gptoss_random_model_write(&o, f.out);
    gptoss_tokenizer_destroy(tok);
    if (st != GPTOSS_OK)
        return fail_status("random-model");
    fprintf(stderr, "wrote a random %s checkpoint (%s experts, seed %llu) to %s in %.1f s\n",
            o.preset, o.experts_bf16 ? "bf16" : "mxfp4", (unsigned long long)seed, f.out,
            now_seconds() - t0);
    return 0;
}

/* ---- expand-model ---------------------------------------------------------------------------- */

int cmd_expand_model(int argc, char **argv)
{
    struct flags f;
    int rc = flags_parse(argc, argv, 2, "--model --out --tokenizer", &f);
    if (rc)
        return rc;
    if (!f.model || !f.out || !f.tokenizer)
        return fail_usage("expand-model needs --model DIR (a compact checkpoint), --tokenizer FILE "
                          "and --out DIR");
    struct flags tf = {.tokenizer = f.tokenizer}; /* --model here is not the tokenizer's */
    struct gptoss_tokenizer *tok;
    if ((rc = load_tokenizer(&tf, &tok)))
        return rc;
    double t0 = now_seconds();
    enum gptoss_status st = gptoss_compact_model_expand(f.model, tok, f.out);
    gptoss_tokenizer_destroy(tok);
    if (st != GPTOSS_OK)
        return fail_status("expand-model");
    fprintf(stderr, "expanded %s into %s in %.1f s\n", f.model, f.out, now_seconds() - t0);
    return 0;
}

/* ---- info ------------------------------------------------------------------------------------ */

int cmd_info(int argc, char **argv)
{
    struct flags f;
    int rc = flags_parse(argc, argv, 2,
                         "--model --max-model-len --threads --dtype --weights "
                         "--tensor-parallel-size --distributed-backend",
                         &f);
    if (rc)
        return rc;
    uint32_t ctx;
    if ((rc = parse_u32_flag("--max-model-len", f.max_model_len, 0, 1, UINT32_MAX, &ctx)))
        return rc;
    struct gptoss_model *model;
    double t0 = now_seconds();
    if ((rc = load_model_cli(&f, &model)))
        return rc;
    double load_s = now_seconds() - t0;
    struct gptoss_model_info in;
    gptoss_model_info(model, &in);
    if (!f.max_model_len)
        ctx = in.max_position < DEFAULT_MAX_MODEL_LEN ? in.max_position : DEFAULT_MAX_MODEL_LEN;
    printf("model            %s\n", f.model);
    printf("layers           %u (sliding window %u on even layers)\n", in.n_layers,
           in.sliding_window);
    printf("hidden size      %u\n", in.d_model);
    printf("attention        %u query heads, %u kv heads, head size %u\n", in.n_heads,
           in.n_kv_heads, in.head_dim);
    printf("experts          %u, %u per token, hidden size %u, %s\n", in.n_experts,
           in.n_experts_per_token, in.d_ff, in.experts_mxfp4 ? "mxfp4" : "bf16");
    printf("vocabulary       %u\n", in.n_vocab);
    printf("context          %u positions; rope theta %g, yarn factor %g over %u\n",
           in.max_position, in.rope_theta, in.rope_factor, in.rope_original_max_position);
    printf("stop tokens     ");
    for (uint32_t i = 0; i < in.n_eos; i++)
        printf(" %u", in.eos_ids[i]);
    printf("\nparameters       %llu (%.2f B)\n", (unsigned long long)in.n_params,
           in.n_params / 1e9);
    uint32_t n_ranks = gptoss_model_n_ranks(model);
    printf("memory plan      %u rank%s%s, %s\n", n_ranks, n_ranks == 1 ? "" : "s",
           n_ranks == 1 ? "" : " (tensor parallel)", in.backend);
    printf("  weights        %.3f GB in %u file%s\n", in.weight_bytes / 1e9, in.n_shards,
           in.n_shards == 1 ? "" : "s");
    for (uint32_t r = 0; r < n_ranks; r++) {
        struct gptoss_rank_info ri;
        gptoss_model_rank_info(model, r, &ri);
        printf("  rank %-3u       query heads %u-%u, kv heads %u-%u, expert units %u-%u, "
               "vocabulary %u-%u\n",
               r, ri.q_head0, ri.q_head0 + ri.n_q_heads - 1, ri.kv_head0,
               ri.kv_head0 + ri.n_kv_heads - 1, ri.ff0, ri.ff0 + ri.n_ff - 1, ri.vocab0,
               ri.vocab0 + ri.n_vocab - 1);
        printf("                 weights %.3f GB (%.0f%% of all)", ri.weight_bytes / 1e9,
               100.0 * ri.weight_bytes / (double)in.weight_bytes);
        if (ri.weight_resident >= 0)
            printf(", %.3f GB resident now", ri.weight_resident / 1e9);
        printf("; kv cache %llu bytes per token (f32), %.3f GB for %u tokens\n",
               (unsigned long long)ri.kv_bytes_per_token, (double)ri.kv_bytes_per_token * ctx / 1e9,
               ctx);
    }
    printf("loaded in        %.2f s\n", load_s);
    gptoss_model_destroy(model);
    return 0;
}

/* ---- logits ---------------------------------------------------------------------------------- */

/* "1,2,3" → ids; a usage error for anything else. */
static int parse_token_list(const char *s, uint32_t **ids_out, size_t *n_out)
{
    size_t cap = 16, n = 0;
    uint32_t *ids = malloc(cap * sizeof(*ids));
    while (ids && *s) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || *s < '0' || *s > '9' || errno || v > UINT32_MAX || (*end && *end != ',')) {
            free(ids);
            return fail_usage("--tokens must be comma-separated token ids, e.g. 1,2,3");
        }
        if (n == cap) {
            uint32_t *bigger = realloc(ids, (cap *= 2) * sizeof(*ids));
            if (!bigger)
                free(ids);
            ids = bigger;
            if (!ids)
                break;
        }
        ids[n++] = (uint32_t)v;
        s = *end ? end + 1 : end;
    }
    if (!ids) {
        fprintf(stderr, "gptoss: out of memory\n");
        return EXIT_FAILURE;
    }
    if (n == 0) {
        free(ids);
        return fail_usage("--tokens is empty");
    }
    *ids_out = ids;
    *n_out = n;
    return 0;
}

/* Writes a float32 C-order array [rows][cols] as a NumPy .npy (format 1.0). */
static int write_npy(const char *path, const float *data, size_t rows, size_t cols)
{
    char header[128];
    int len =
        snprintf(header, sizeof(header),
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", rows, cols);
    size_t total = 10 + (size_t)len + 1;
    size_t pad = (64 - total % 64) % 64;
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        fprintf(stderr, "gptoss: %s: %s\n", path, strerror(errno));
        return EXIT_FAILURE;
    }
    unsigned short hlen = (unsigned short)(len + pad + 1);
    unsigned char magic[10] = {0x93,
                               'N',
                               'U',
                               'M',
                               'P',
                               'Y',
                               1,
                               0,
                               (unsigned char)(hlen & 0xff),
                               (unsigned char)(hlen >> 8)};
    fwrite(magic, 1, sizeof(magic), fp);
    fwrite(header, 1, (size_t)len, fp);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', fp);
    fputc('\n', fp);
    fwrite(data, sizeof(float), rows * cols, fp);
    bool failed = ferror(fp) != 0;
    if (fclose(fp) != 0 || failed) {
        fprintf(stderr, "gptoss: %s: write failed\n", path);
        return EXIT_FAILURE;
    }
    return 0;
}

int cmd_logits(int argc, char **argv)
{
    struct flags f;
    int rc = flags_parse(argc, argv, 2,
                         "--model --tokens --out --threads --dtype --weights "
                         "--tensor-parallel-size --distributed-backend",
                         &f);
    if (rc)
        return rc;
    if (!f.tokens || !f.out)
        return fail_usage("logits needs --tokens 1,2,3 and --out FILE.npy");
    uint32_t *ids = NULL;
    size_t n = 0;
    if ((rc = parse_token_list(f.tokens, &ids, &n)))
        return rc;
    struct gptoss_model *model;
    if ((rc = load_model_cli(&f, &model))) {
        free(ids);
        return rc;
    }
    struct gptoss_model_info in;
    gptoss_model_info(model, &in);
    float *logits;
    if (gptoss_model_logits(model, ids, n, &logits) != GPTOSS_OK)
        rc = fail_status("logits");
    else
        rc = write_npy(f.out, logits, n, in.n_vocab);
    gptoss_free(logits);
    gptoss_model_destroy(model);
    free(ids);
    return rc;
}
