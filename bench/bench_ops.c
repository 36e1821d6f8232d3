/* bench_ops.c — times the CPU backend's heavy ops against the scalar reference.
 *
 * Usage: bench_ops [--repeat R] [--threads N] [--quick]
 * For bf16 matmuls of gpt-oss-20b's shapes (the 201088×2880 unembedding and a 4096×2880
 * projection) and MXFP4 experts (5760×2880 gate_up, 2880×2880 down) at n = 1, 4, 16, 64 input
 * rows, prints one line per (op, n, backend): the median of R timed calls (after one warm-up)
 * and the weight bandwidth (bytes of weights read per second) and arithmetic rate it implies.
 * backend_cpu runs with 1 thread and with N (default: one per CPU). The reference is slow, so
 * it is timed once per shape and n and skipped where one call would take over ~20 s. Also
 * prints the time of a threadpool_run of one 20 us task per thread, whose excess over 20 us is
 * the pool's overhead, the floor under every threaded op. --quick
 * drops the unembedding, for a fast look.
 */
#include "backend/backend.h"
#include "base/threadpool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
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

static uint64_t bench_rng = 0x9e3779b97f4a7c15ull;
static uint32_t bench_next(void)
{
    bench_rng = bench_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(bench_rng >> 32);
}

/* One op on prepared data, so that the timing loop is the same for every case. */
struct bench_case {
    const char *name;
    double weight_bytes, flops_per_row;
    const struct tensor *w;        /* matmul */
    const struct expert_matrix *e; /* expert_matmul */
    const float *x;
    float *y;
};

static void bench_call(const struct backend_ops *ops, const struct bench_case *c, size_t n)
{
    if (c->w)
        ops->matmul(c->x, n, c->w, NULL, c->y);
    else
        ops->expert_matmul(c->x, n, c->e, /*expert=*/1, c->y);
}

/* Median seconds of `repeat` calls after a warm-up. */
static double bench_time(const struct backend_ops *ops, const struct bench_case *c, size_t n,
                         int repeat)
{
    double *t = malloc((size_t)repeat * sizeof(double));
    bench_call(ops, c, n);
    for (int r = 0; r < repeat; r++) {
        double t0 = now_seconds();
        bench_call(ops, c, n);
        t[r] = now_seconds() - t0;
    }
    qsort(t, (size_t)repeat, sizeof(double), cmp_double);
    double median = t[repeat / 2];
    free(t);
    return median;
}

static void bench_print(const struct bench_case *c, size_t n, const char *backend, uint32_t threads,
                        double seconds)
{
    printf("%-28s n=%-3zu %-8s t=%u %10.3f ms %8.2f GB/s %8.2f GFLOP/s\n", c->name, n, backend,
           threads, seconds * 1e3, c->weight_bytes / seconds * 1e-9,
           c->flops_per_row * (double)n / seconds * 1e-9);
    fflush(stdout);
}

static void bench_run(const struct bench_case *c, int repeat, uint32_t threads)
{
    static const size_t rows[] = {1, 4, 16, 64};
    double ref_one = 0.0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t n = rows[i];
        /* The reference: once, and only where its time (about linear in n) stays small. */
        if (ref_one == 0.0 || ref_one * (double)n < 20.0) {
            double t0 = now_seconds();
            bench_call(backend_cpu_ref(), c, n);
            double t = now_seconds() - t0;
            if (n == 1)
                ref_one = t;
            bench_print(c, n, "ref", 1, t);
        }
        backend_cpu_set_threads(1);
        bench_print(c, n, "cpu", 1, bench_time(backend_cpu(), c, n, repeat));
        if (threads > 1) {
            backend_cpu_set_threads(threads);
            bench_print(c, n, "cpu", threads, bench_time(backend_cpu(), c, n, repeat));
        }
    }
}

/* A task that keeps its thread busy for ctx's number of microseconds. */
static void bench_busy(void *ctx, uint32_t task, uint32_t worker)
{
    (void)task;
    (void)worker;
    double until = now_seconds() + *(const double *)ctx * 1e-6;
    while (now_seconds() < until)
        ;
}

/* The pool's overhead: `threads` tasks of 20 us each take 20 us if they run in parallel. */
static void bench_pool(uint32_t threads)
{
    struct threadpool *pool;
    if (threads < 2 || threadpool_create(threads, /*pin=*/false, &pool) != GPTOSS_OK)
        return;
    double task_us = 20.0, t[501];
    for (int i = 0; i < 501; i++) {
        double t0 = now_seconds();
        threadpool_run(pool, threads, bench_busy, &task_us);
        t[i] = now_seconds() - t0;
    }
    qsort(t, 501, sizeof(double), cmp_double);
    printf("threadpool_run (%u tasks of %.0f us, %u threads): median %.2f us, p90 %.2f us\n",
           threads, task_us, threads, t[250] * 1e6, t[450] * 1e6);
    threadpool_destroy(pool);
}

int main(int argc, char **argv)
{
    int repeat = 5;
    uint32_t threads = threadpool_default_threads();
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (uint32_t)atoi(argv[++i]);
        else if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else {
            fprintf(stderr, "usage: bench_ops [--repeat R] [--threads N] [--quick]\n");
            return 2;
        }
    }
    if (repeat < 1)
        repeat = 1;
    printf("bench_ops: %d repeats, up to %u threads\n", repeat, threads);
    bench_pool(threads);

    const size_t D = 2880, max_n = 64, max_out = 201088;
    float *x = malloc(max_n * D * sizeof(float));
    float *y = malloc(max_n * max_out * sizeof(float));
    if (!x || !y)
        return 1;
    for (size_t i = 0; i < max_n * D; i++)
        x[i] = (float)((int)(bench_next() % 2001) - 1000) * 1e-3f;

    /* bf16 matmuls. */
    static const size_t outs[] = {201088, 4096};
    for (size_t s = quick ? 1 : 0; s < 2; s++) {
        size_t n_out = outs[s];
        uint16_t *w = malloc(n_out * D * sizeof(uint16_t));
        if (!w)
            return 1;
        for (size_t i = 0; i < n_out * D; i++)
            w[i] = (uint16_t)(0x3c00 + (bench_next() & 0x1ff) + ((bench_next() & 1) << 15));
        struct tensor wt = {
            .name = "w",
            .dtype = DTYPE_BF16,
            .n_dims = 2,
            .shape = {n_out, D},
            .data = w,
            .n_bytes = n_out * D * 2,
        };
        char name[64];
        snprintf(name, sizeof(name), "matmul bf16 %zux%zu", n_out, D);
        struct bench_case c = {
            .name = name,
            .weight_bytes = (double)wt.n_bytes,
            .flops_per_row = 2.0 * (double)n_out * (double)D,
            .w = &wt,
            .x = x,
            .y = y,
        };
        bench_run(&c, repeat, threads);
        free(w);
    }

    /* MXFP4 experts (two experts, expert 1 timed, so offsets are exercised). */
    static const size_t e_outs[] = {5760, 2880};
    for (size_t s = 0; s < 2; s++) {
        size_t n_out = e_outs[s], n_groups = D / 32, n_experts = 2;
        size_t n_blocks = n_experts * n_out * n_groups;
        uint8_t *blocks = malloc(n_blocks * 16), *scales = malloc(n_blocks);
        float *bias = malloc(n_experts * n_out * sizeof(float));
        if (!blocks || !scales || !bias)
            return 1;
        for (size_t i = 0; i < n_blocks * 16; i++)
            blocks[i] = (uint8_t)bench_next();
        for (size_t i = 0; i < n_blocks; i++)
            scales[i] = (uint8_t)(120 + bench_next() % 8);
        for (size_t i = 0; i < n_experts * n_out; i++)
            bias[i] = 0.01f * (float)(i % 7);
        struct tensor bt = {
            .name = "bias",
            .dtype = DTYPE_F32,
            .n_dims = 2,
            .shape = {n_experts, n_out},
            .data = bias,
            .n_bytes = n_experts * n_out * 4,
        };
        struct expert_matrix em = {
            .format = EXPERT_MXFP4,
            .n_experts = (uint32_t)n_experts,
            .n_out = (uint32_t)n_out,
            .n_in = (uint32_t)D,
            .blocks = blocks,
            .scales = scales,
            .bias = &bt,
        };
        char name[64];
        snprintf(name, sizeof(name), "expert mxfp4 %zux%zu", n_out, D);
        struct bench_case c = {
            .name = name,
            .weight_bytes = (double)(n_out * n_groups * 17),
            .flops_per_row = 2.0 * (double)n_out * (double)D,
            .e = &em,
            .x = x,
            .y = y,
        };
        bench_run(&c, repeat, threads);
        free(blocks);
        free(scales);
        free(bias);
    }
    free(x);
    free(y);
    return 0;
}
