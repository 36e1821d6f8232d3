/* cmd_bench.c — `gptoss bench`: prefill and decode speed in llama-bench's terms.
 *
 * For every -p value a pp test (tokens/s of one prefill), for every -n value and --batch size a
 * tg test (tokens/s of decode steps with that many sequences, all of them counted). Each test
 * runs once to warm up, then -r times; the table shows the median and the spread. Decode of one
 * sequence is memory-bound, so its line also shows the bandwidth it implies (weight bytes one
 * token reads × tokens/s) and that as a share of the machine's read bandwidth, measured here
 * with the same number of threads: the best of 15 reads before the tests, and the median of
 * short reads between the repeats of that test (what the machine's neighbours left it).
 */
#include "cli.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAX_LIST     16
#define BENCH_AROUND_READS 3
#define BENCH_MAX_AROUND   (BENCH_AROUND_READS * 65)

static double bench_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, size_t n)
{
    double *s = malloc(n * sizeof(double));
    memcpy(s, v, n * sizeof(double));
    qsort(s, n, sizeof(double), cmp_double);
    double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

/* "512" or "1,4,16" → values in [min, max]; a usage error naming the flag otherwise. */
static int parse_list(const char *flag, const char *value, uint32_t min, uint32_t max,
                      uint32_t *out, size_t *n_out)
{
    size_t n = 0;
    const char *s = value;
    for (;;) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || *s < '0' || *s > '9' || errno || v < min || v > max ||
            (*end && *end != ',') || n == BENCH_MAX_LIST)
            return fail_usage("%s must be up to %d comma-separated integers in %u..%u, got \"%s\"",
                              flag, BENCH_MAX_LIST, min, max, value);
        out[n++] = (uint32_t)v;
        if (!*end)
            break;
        s = end + 1;
    }
    *n_out = n;
    return 0;
}

/* ---- Read bandwidth -------------------------------------------------------------------------- */

/* 16 bytes: plain SSE2 loads on x86-64, whatever the build flags. */
typedef uint64_t bw_vec __attribute__((vector_size(16)));

struct bw_slice {
    const bw_vec *p;
    size_t n; /* vectors, a multiple of 4 */
    bw_vec sum;
    pthread_barrier_t *start;
};

static void *bw_reader(void *arg)
{
    struct bw_slice *s = arg;
    pthread_barrier_wait(s->start);
    bw_vec a = {0}, b = {0}, c = {0}, d = {0};
    for (size_t i = 0; i < s->n; i += 4) {
        a ^= s->p[i];
        b ^= s->p[i + 1];
        c ^= s->p[i + 2];
        d ^= s->p[i + 3];
    }
    s->sum = a ^ b ^ c ^ d;
    return NULL;
}

/* A 1 GiB buffer on 2 MB pages (as the weights are: on 4 KB pages the same reads go half as fast
 * here) and the threads that read it. */
struct bw_meter {
    bw_vec *buf;
    size_t n_vec;
    uint32_t n_threads;
    uint64_t sink;
    double around[BENCH_MAX_AROUND]; /* reads between the repeats of the current test */
    size_t n_around;
};

static bool bw_open(struct bw_meter *m, uint32_t n_threads)
{
    size_t bytes = (size_t)1 << 30;
    *m = (struct bw_meter){.n_vec = bytes / sizeof(bw_vec), .n_threads = n_threads};
    if (posix_memalign((void **)&m->buf, (size_t)2 << 20, bytes) != 0) {
        m->buf = NULL;
        return false;
    }
    madvise(m->buf, bytes, MADV_HUGEPAGE);
    memset(m->buf, 1, bytes);
    return true;
}

static void bw_close(struct bw_meter *m)
{
    free(m->buf);
    m->buf = NULL;
}

/* GB/s of one read of the first `bytes` of the buffer, split over the meter's threads; 0 if it
 * cannot run. */
static double bw_read(struct bw_meter *m, size_t bytes)
{
    if (!m->buf)
        return 0;
    pthread_t *tid = calloc(m->n_threads, sizeof(pthread_t));
    struct bw_slice *sl = calloc(m->n_threads, sizeof(struct bw_slice));
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, m->n_threads + 1);
    size_t n_vec = bytes / sizeof(bw_vec) < m->n_vec ? bytes / sizeof(bw_vec) : m->n_vec;
    size_t per = n_vec / m->n_threads / 4 * 4;
    for (uint32_t t = 0; t < m->n_threads; t++) {
        sl[t] = (struct bw_slice){m->buf + t * per, per, {0}, &start};
        pthread_create(&tid[t], NULL, bw_reader, &sl[t]);
    }
    double t0 = bench_seconds();
    pthread_barrier_wait(&start);
    for (uint32_t t = 0; t < m->n_threads; t++) {
        pthread_join(tid[t], NULL);
        /* The xor of everything read keeps the compiler from dropping the reads. */
        m->sink ^= sl[t].sum[0] ^ sl[t].sum[1];
    }
    double gbps = (double)per * sizeof(bw_vec) * m->n_threads / (bench_seconds() - t0) / 1e9;
    pthread_barrier_destroy(&start);
    free(tid);
    free(sl);
    return gbps;
}

/* The fastest of 15 reads of the whole buffer: what memory can deliver to these threads when
 * the machine's neighbours are quiet. */
static double bw_best(struct bw_meter *m)
{
    double best = 0;
    for (int r = 0; r < 15; r++) {
        double g = bw_read(m, m->n_vec * sizeof(bw_vec));
        best = g > best ? g : best;
    }
    return best;
}

/* A few short reads (256 MiB, eight times the largest L3 here) before and after each repeat
 * of a decode test: on a shared machine the bandwidth left by the neighbours changes within
 * seconds, so the share a decode reached is judged against what memory gave while it ran. */
static void bw_sample_around(struct bw_meter *m)
{
    for (int i = 0; i < BENCH_AROUND_READS && m->n_around < BENCH_MAX_AROUND; i++) {
        double g = bw_read(m, (size_t)256 << 20);
        if (g > 0)
            m->around[m->n_around++] = g;
    }
}

/* The CPU's model name from /proc/cpuinfo (as llama-bench's cpu_info), or "unknown": a cloud VM
 * can move to another host between runs, and its numbers with it. */
static void cpu_name(char *out, size_t n)
{
    snprintf(out, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon += 1 + (colon[1] == ' ');
            colon[strcspn(colon, "\n")] = 0;
            snprintf(out, n, "%s", colon);
            break;
        }
    }
    fclose(f);
}

/* ---- Tests ----------------------------------------------------------------------------------- */

struct bench_test {
    char name[32];
    uint32_t n_prompt, n_gen, n_seqs;
    double ts[64]; /* tokens/s of each repeat */
    double median, stddev;
    double gbps, bw_share;          /* decode of one sequence only; 0 otherwise */
    double bw_around, around_share; /* the median read around its repeats, and gbps of it */
    double huge_share;              /* of the resident weights, on 2 MB pages after the test */
};

/* With a meter, samples the read bandwidth around every repeat (see bw_sample_around). */
static int run_test(struct gptoss_model *model, struct bench_test *t, uint32_t repeats,
                    uint64_t seed, struct bw_meter *meter)
{
    /* Warm-up: a short run of the same kind, which also faults the weights in. */
    struct gptoss_bench_params warm = {
        .n_prompt = t->n_prompt ? (t->n_prompt < 32 ? t->n_prompt : 32) : 0,
        .n_gen = t->n_gen ? 1 : 0,
        .n_seqs = t->n_seqs,
        .seed = seed,
    };
    struct gptoss_bench_timing timing;
    if (gptoss_model_bench(model, &warm, &timing) != GPTOSS_OK)
        return fail_status("benchmark");
    if (meter) {
        meter->n_around = 0;
        bw_sample_around(meter);
    }
    for (uint32_t r = 0; r < repeats; r++) {
        struct gptoss_bench_params p = {t->n_prompt, t->n_gen, t->n_seqs, seed + r + 1};
        if (gptoss_model_bench(model, &p, &timing) != GPTOSS_OK)
            return fail_status("benchmark");
        if (meter)
            bw_sample_around(meter);
        t->ts[r] = t->n_prompt ? t->n_prompt / timing.prefill_seconds
                               : (double)t->n_gen * t->n_seqs / timing.decode_seconds;
    }
    t->median = median(t->ts, repeats);
    double mean = 0, var = 0;
    for (uint32_t r = 0; r < repeats; r++)
        mean += t->ts[r] / repeats;
    for (uint32_t r = 0; r < repeats; r++)
        var += (t->ts[r] - mean) * (t->ts[r] - mean);
    t->stddev = repeats > 1 ? sqrt(var / (repeats - 1)) : 0;
    uint64_t resident = 0, huge = 0;
    gptoss_model_weight_pages(model, &resident, &huge);
    t->huge_share = resident ? (double)huge / resident : 0;
    return 0;
}

static void print_row(const char *model, const struct gptoss_model_info *in, const char *weights,
                      uint32_t threads, const struct bench_test *t)
{
    printf("| %s | %.2f GiB | %.2f B | %s | %s | %u | %s | %.2f ± %.2f |", model,
           in->weight_bytes / 1073741824.0, in->n_params / 1e9, in->backend, weights, threads,
           t->name, t->median, t->stddev);
    if (t->gbps > 0 && t->bw_around > 0)
        printf(" %.1f | %.0f%% | %.1f | %.0f%% |\n", t->gbps, 100 * t->bw_share, t->bw_around,
               100 * t->around_share);
    else if (t->gbps > 0)
        printf(" %.1f | %.0f%% | | |\n", t->gbps, 100 * t->bw_share);
    else
        printf(" | | | |\n");
    fflush(stdout);
}

int cmd_bench(int argc, char **argv)
{
    struct flags f;
    int rc = flags_parse(argc, argv, 2,
                         "-p -n -r --batch --model --threads --dtype --weights --seed --json "
                         "--tensor-parallel-size --distributed-backend",
                         &f);
    if (rc)
        return rc;
    uint32_t pp[BENCH_MAX_LIST], tg[BENCH_MAX_LIST], batch[BENCH_MAX_LIST], repeats = 3;
    size_t n_pp = 1, n_tg = 1, n_batch = 1;
    pp[0] = 512;
    tg[0] = 128;
    batch[0] = 1;
    if (f.bench_prompt && (rc = parse_list("-p", f.bench_prompt, 0, 1 << 20, pp, &n_pp)))
        return rc;
    if (f.bench_gen && (rc = parse_list("-n", f.bench_gen, 0, 1 << 20, tg, &n_tg)))
        return rc;
    if (f.bench_batch && (rc = parse_list("--batch", f.bench_batch, 1, 256, batch, &n_batch)))
        return rc;
    uint64_t v, seed = 1;
    if (f.bench_repeat) {
        if (!flag_u64("-r", f.bench_repeat, 1, 64, &v))
            return EXIT_USAGE;
        repeats = (uint32_t)v;
    }
    if (f.seed) {
        if (!flag_u64("--seed", f.seed, 0, UINT64_MAX, &v))
            return EXIT_USAGE;
        seed = v;
    }
    uint32_t threads = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
    if (f.threads) {
        if (!flag_u64("--threads", f.threads, 1, 1024, &v))
            return EXIT_USAGE;
        threads = (uint32_t)v;
    }

    const char *weights = f.weights ? f.weights : "exact";
    struct gptoss_model *model;
    double t0 = bench_seconds();
    if ((rc = load_model_cli(&f, &model)))
        return rc;
    double load_s = bench_seconds() - t0;
    struct gptoss_model_info in;
    gptoss_model_info(model, &in);
    struct bw_meter meter;
    bw_open(&meter, threads);
    double bw = bw_best(&meter);
    char cpu[128];
    cpu_name(cpu, sizeof cpu);
    if (!f.json) {
        printf("model %s: loaded in %.2f s; %.2f GB of weights read per decoded token\n", f.model,
               load_s, in.decode_bytes_per_token / 1e9);
        printf("%s: read bandwidth with %u thread%s: %.1f GB/s, best of 15 (decode limit %.1f "
               "tokens/s)\n\n",
               cpu, threads, threads == 1 ? "" : "s", bw, bw * 1e9 / in.decode_bytes_per_token);
        printf("| model | size | params | backend | weights | threads | test | t/s | GB/s | %% of "
               "bw | bw during | %% of bw during |\n");
        printf("| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
               "|\n");
    }

    struct bench_test *tests = calloc(n_pp + n_tg * n_batch, sizeof(struct bench_test));
    size_t n_tests = 0;
    for (size_t i = 0; i < n_pp; i++)
        if (pp[i]) {
            struct bench_test *t = &tests[n_tests++];
            snprintf(t->name, sizeof t->name, "pp%u", pp[i]);
            t->n_prompt = pp[i];
            t->n_seqs = 1;
        }
    for (size_t b = 0; b < n_batch; b++)
        for (size_t i = 0; i < n_tg; i++)
            if (tg[i]) {
                struct bench_test *t = &tests[n_tests++];
                if (batch[b] == 1)
                    snprintf(t->name, sizeof t->name, "tg%u", tg[i]);
                else
                    snprintf(t->name, sizeof t->name, "tg%u ×%u", tg[i], batch[b]);
                t->n_gen = tg[i];
                t->n_seqs = batch[b];
            }
    for (size_t i = 0; i < n_tests && rc == 0; i++) {
        struct bench_test *t = &tests[i];
        bool decode1 = t->n_gen && t->n_seqs == 1;
        rc = run_test(model, t, repeats, seed, decode1 && meter.buf ? &meter : NULL);
        if (rc == 0 && decode1) {
            t->gbps = t->median * in.decode_bytes_per_token / 1e9;
            t->bw_share = bw > 0 ? t->gbps / bw : 0;
            if (meter.n_around) {
                t->bw_around = median(meter.around, meter.n_around);
                t->around_share = t->gbps / t->bw_around;
            }
        }
        if (rc == 0 && !f.json)
            print_row(f.model, &in, weights, threads, t);
    }
    if (rc == 0 && !f.json && n_tests) {
        /* Decode runs up to twice as fast from 2 MB pages; say when the weights are not. */
        double share = tests[n_tests - 1].huge_share;
        printf("\n%% of bw: of the best read above; bw during: the median of short reads between "
               "the test's repeats (GB/s), what the machine's neighbours left it\n");
        printf("weights on 2 MB pages: %.0f%% of those resident", 100 * share);
        if (share < 0.9)
            printf(" (the rest sit in the page cache in small pages: dropping the model's files "
                   "from the cache, e.g. with `dd if=FILE iflag=nocache count=0`, lets the next "
                   "load read them in as huge pages)");
        printf("\n");
    }

    if (rc == 0 && f.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n_tests; i++) {
            const struct bench_test *t = &tests[i];
            json_t *samples = json_array();
            for (uint32_t r = 0; r < repeats; r++)
                json_array_append_new(samples, json_real(t->ts[r]));
            json_t *o = json_pack(
                "{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:i, s:i, s:i, s:f, s:f, s:o, s:f, s:f, "
                "s:f, s:f, s:f, s:f, s:s}",
                "model", f.model, "backend", in.backend, "weights", weights, "test", t->name,
                "model_size", (json_int_t)in.weight_bytes, "model_n_params",
                (json_int_t)in.n_params, "decode_bytes_per_token",
                (json_int_t)in.decode_bytes_per_token, "n_threads", (int)threads, "n_prompt",
                (int)t->n_prompt, "n_gen", (int)t->n_gen, "n_seqs", (int)t->n_seqs, "median_ts",
                t->median, "stddev_ts", t->stddev, "samples_ts", samples, "read_bandwidth_gbps", bw,
                "decode_gbps", t->gbps, "bandwidth_share", t->bw_share,
                "read_bandwidth_during_gbps", t->bw_around, "bandwidth_share_during",
                t->around_share, "weights_huge_page_share", t->huge_share, "cpu_info", cpu);
            json_array_append_new(arr, o);
        }
        char *text = json_dumps(arr, JSON_INDENT(2));
        puts(text);
        free(text);
        json_decref(arr);
    }
    free(tests);
    bw_close(&meter);
    gptoss_model_destroy(model);
    return rc;
}
