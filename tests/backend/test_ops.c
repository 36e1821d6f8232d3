/* test_ops.c — backend_cpu() against the scalar oracle backend_cpu_ref(), on every ISA path.
 *
 * Every op runs on random inputs with awkward sizes (widths that are not a multiple of any
 * vector width where the op allows it, 1, 3, 17 and 64 rows) and is compared with the reference
 * within a tolerance scaled by the magnitude of what was summed (Σ|w||x| for a dot product).
 * The property the serving layer relies on is checked bit for bit: a row's output is the same
 * when computed alone, inside a batch, with one thread or with two. Each test loops over the
 * ISAs this machine supports (simd_force), so generic, AVX2 and AVX-512 are each checked where
 * the CPU has them, and the matrix products under each of the backend's three precisions (f32,
 * bf16 activations, int8 activations); the kernels' own contract (fused and decode-then-dot routes
 * agree exactly) and the thread pool are tested directly too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "backend/cpu/simd.h"
#include "base/threadpool.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct backend_ops *ops, *ref;

/* The fast backend's three precisions, each checked with its own tolerance. */
enum act { ACT_F32, ACT_BF16, ACT_Q8, ACT_COUNT };
static const char *const matmul_names[ACT_COUNT] = {"matmul f32", "matmul bf16", "matmul q8"};
static const char *const mxfp4_names[ACT_COUNT] = {"expert mxfp4 f32", "expert mxfp4 bf16",
                                                   "expert mxfp4 q8"};
static const struct backend_ops *act_ops[ACT_COUNT];

/* Σ_k |w_k| · max|x| over k's 32-value block / 254: the most that quantising x to int8 with one
 * scale per block (d = max/127, rounded to nearest) moves a dot product. */
static double q8_error(const float *w, const float *x, size_t n)
{
    double sum = 0;
    for (size_t b = 0; b < n; b += 32) {
        size_t e = b + 32 < n ? b + 32 : n;
        double amax = 0, wsum = 0;
        for (size_t k = b; k < e; k++) {
            amax = fmax(amax, fabs(x[k]));
            wsum += fabs(w[k]);
        }
        sum += wsum * amax / 254;
    }
    return sum;
}

/* The bound for one output: mag = Σ|w||x| (+|bias|), q8 = q8_error; which rounding applies
 * depends on the table, the weights and what the ISA has. */
static double act_bound(enum act a, bool bf16_eligible, bool q8_eligible, double mag, double q8)
{
    const struct simd_kernels *k = simd_kernels();
    if (a == ACT_Q8 && q8_eligible && k->q8)
        return q8 + 1e-5 * mag;
    if (a >= ACT_BF16 && bf16_eligible && k->bf16)
        return (1.0 / 512 + 1e-5) * mag; /* each product off by at most 2^-9 of itself */
    return 1e-5 * mag;
}

/* ---- helpers --------------------------------------------------------------------------------- */

static uint64_t rng_state;
static uint32_t rng_next(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}
static float rng_uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)(rng_next() & 0xffffff) / (float)0xffffff;
}

static float *random_floats(size_t n, float lo, float hi)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = rng_uniform(lo, hi);
    return p;
}

static uint16_t *random_bf16(size_t n)
{
    uint16_t *p = malloc((n ? n : 1) * sizeof(uint16_t));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = f32_to_bf16(rng_uniform(-1.0f, 1.0f));
    return p;
}

static struct tensor tensor_2d(enum dtype dtype, const void *data, uint64_t rows, uint64_t cols)
{
    struct tensor t = {
        .name = "test",
        .dtype = dtype,
        .n_dims = 2,
        .shape = {rows, cols},
        .data = data,
        .n_bytes = rows * cols * dtype_size(dtype),
    };
    return t;
}

static struct tensor tensor_1d(enum dtype dtype, const void *data, uint64_t n)
{
    struct tensor t = tensor_2d(dtype, data, n, 1);
    t.n_dims = 1;
    t.shape[1] = 0;
    return t;
}

/* The ISAs this machine runs; each test body runs once per ISA and thread count. */
static int n_isas;
static enum simd_isa isas[SIMD_ISA_COUNT];

static void collect_isas(void)
{
    n_isas = 0;
    for (int i = 0; i < SIMD_ISA_COUNT; i++) {
        if (simd_supported((enum simd_isa)i))
            isas[n_isas++] = (enum simd_isa)i;
        else
            print_message("[  SKIP    ] ISA %s not supported here\n",
                          simd_isa_name((enum simd_isa)i));
    }
}

static void use(enum simd_isa isa, uint32_t threads)
{
    assert_true(simd_force(isa));
    backend_cpu_set_threads(threads);
}

/* |got - want| <= rel * scale + abs, else a failure naming where. */
static void check_near(float got, float want, double scale, double rel, const char *what,
                       size_t row, size_t col)
{
    double err = fabs((double)got - (double)want);
    if (!(err <= rel * scale + 1e-30))
        fail_msg("%s (%s) row %zu col %zu: got %.9g want %.9g, |diff| %.3g > %.3g", what,
                 simd_kernels()->name, row, col, got, want, err, rel * scale);
}

static void check_same_bits(const float *a, const float *b, size_t n, const char *what)
{
    if (memcmp(a, b, n * sizeof(float)) == 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            fail_msg("%s (%s): element %zu differs: %.9g vs %.9g", what, simd_kernels()->name, i,
                     a[i], b[i]);
}

static const size_t row_counts[] = {1, 3, 17, 64};
#define N_ROW_COUNTS (sizeof(row_counts) / sizeof(row_counts[0]))

/* ---- thread pool ----------------------------------------------------------------------------- */

struct pool_check {
    _Atomic uint32_t *hits;
    uint32_t n_threads;
    _Atomic uint32_t bad_worker;
};

static void pool_task(void *ctx, uint32_t task, uint32_t worker)
{
    struct pool_check *c = ctx;
    atomic_fetch_add(&c->hits[task], 1);
    if (worker >= c->n_threads)
        atomic_store(&c->bad_worker, 1);
}

static void test_threadpool(void **state)
{
    (void)state;
    for (uint32_t n_threads = 1; n_threads <= 3; n_threads++) {
        struct threadpool *pool;
        assert_int_equal(threadpool_create(n_threads, /*pin=*/n_threads == 2, &pool), GPTOSS_OK);
        assert_int_equal(threadpool_n_threads(pool), n_threads);
        const uint32_t n_tasks = 257;
        _Atomic uint32_t *hits = calloc(n_tasks, sizeof(*hits));
        assert_non_null(hits);
        struct pool_check c = {.hits = hits, .n_threads = n_threads};
        for (uint32_t round = 0; round < 300; round++) {
            uint32_t n = round % 5 == 4 ? 0 : (round * 37) % n_tasks + 1;
            threadpool_run(pool, n, pool_task, &c);
            for (uint32_t t = 0; t < n; t++) {
                assert_int_equal(atomic_load(&hits[t]), 1);
                atomic_store(&hits[t], 0);
            }
        }
        assert_int_equal(atomic_load(&c.bad_worker), 0);
        free(hits);
        threadpool_destroy(pool);
    }
    threadpool_destroy(NULL);
    assert_true(threadpool_default_threads() >= 1);
}

/* ---- kernels -----------------------------------------------------------------------------------
 */

/* The fused kernels (weights read in place) give the same bits as decode-then-dot_f32, for
 * every tile shape. */
static void test_kernel_routes(void **state)
{
    (void)state;
    rng_state = 11;
    /* Rows longer than the AVX2 kernel's 256-element passes, with a ragged end. */
    const size_t n_in = 600 + 5, k_pad = 608, n_w = 9, n_x = 7, n_blocks = 19;
    uint16_t *wb = random_bf16(n_w * n_in);
    float *x = calloc(n_x * k_pad, sizeof(float));
    assert_non_null(x);
    for (size_t i = 0; i < n_x; i++)
        for (size_t k = 0; k < n_in; k++)
            x[i * k_pad + k] = rng_uniform(-1.0f, 1.0f);
    uint8_t *blocks = malloc(n_w * n_blocks * 16), *scales = malloc(n_w * n_blocks);
    assert_true(blocks && scales);
    for (size_t i = 0; i < n_w * n_blocks * 16; i++)
        blocks[i] = (uint8_t)rng_next();
    for (size_t i = 0; i < n_w * n_blocks; i++)
        scales[i] = (uint8_t)(120 + rng_next() % 12);
    float *wf = calloc(n_w * k_pad, sizeof(float));
    float *fused = malloc(n_x * n_w * sizeof(float)), *viaf = malloc(n_x * n_w * sizeof(float));
    assert_true(wf && fused && viaf);

    for (int s = 0; s < n_isas; s++) {
        assert_true(simd_force(isas[s]));
        const struct simd_kernels *k = simd_kernels();
        for (size_t r = 0; r < n_w; r++)
            k->bf16_to_f32(wb + r * n_in, n_in, wf + r * k_pad);
        for (size_t nw = 1; nw <= n_w; nw++) {
            for (size_t nx = 1; nx <= n_x; nx++) {
                k->dot_bf16(wb, n_in, nw, n_in, x, k_pad, nx, k_pad, fused, n_w);
                k->dot_f32(wf, k_pad, nw, x, k_pad, nx, k_pad, viaf, n_w);
                for (size_t i = 0; i < nx; i++)
                    check_same_bits(fused + i * n_w, viaf + i * n_w, nw, "dot_bf16 vs dot_f32");
            }
        }
        /* MXFP4: rows of 19 blocks against the first 608 inputs of each row. */
        float *wm = calloc(n_w * 608, sizeof(float));
        assert_non_null(wm);
        for (size_t r = 0; r < n_w; r++)
            k->mxfp4_to_f32(blocks + r * n_blocks * 16, scales + r * n_blocks, n_blocks,
                            wm + r * 608);
        for (size_t nw = 1; nw <= n_w; nw++) {
            for (size_t nx = 1; nx <= n_x; nx++) {
                k->dot_mxfp4(blocks, scales, nw, n_blocks, x, k_pad, nx, fused, n_w);
                k->dot_f32(wm, 608, nw, x, k_pad, nx, 608, viaf, n_w);
                for (size_t i = 0; i < nx; i++)
                    check_same_bits(fused + i * n_w, viaf + i * n_w, nw, "dot_mxfp4 vs dot_f32");
            }
        }
        free(wm);

        /* The bf16-activation route: in-register decoding and decoded rows agree exactly, at
         * every scale (2..252 by exponent arithmetic, the rest through f32). */
        const struct simd_bf16_kernels *kb = k->bf16;
        if (kb) {
            uint16_t *xb = malloc(n_x * 608 * sizeof(uint16_t));
            uint16_t *wbd = malloc(n_w * 608 * sizeof(uint16_t));
            uint8_t *sc = malloc(n_w * n_blocks);
            assert_true(xb && wbd && sc);
            for (size_t i = 0; i < n_w * n_blocks; i++)
                sc[i] = (uint8_t)(i % 7 == 0 ? rng_next() : 120 + rng_next() % 12);
            for (size_t i = 0; i < n_x; i++)
                kb->x_to_bf16(x + i * k_pad, 608, xb + i * 608);
            for (size_t r = 0; r < n_w; r++)
                kb->mxfp4_to_bf16(blocks + r * n_blocks * 16, sc + r * n_blocks, n_blocks,
                                  wbd + r * 608);
            for (size_t nw = 1; nw <= n_w; nw++) {
                for (size_t nx = 1; nx <= n_x; nx++) {
                    kb->dot_mxfp4(blocks, sc, nw, n_blocks, xb, 608, nx, fused, n_w);
                    kb->dot_rows(wbd, 608, nw, 608, xb, 608, nx, viaf, n_w);
                    for (size_t i = 0; i < nx; i++)
                        check_same_bits(fused + i * n_w, viaf + i * n_w, nw,
                                        "bf16 dot_mxfp4 vs dot_rows");
                }
            }
            /* The decoded weights are the exact values wherever they are normal numbers. */
            uint8_t blk[16];
            for (int j = 0; j < 16; j++)
                blk[j] = (uint8_t)(j | ((15 - j) << 4));
            for (int s2 = 2; s2 <= 252; s2++) {
                uint16_t got[32];
                float want[32], order[32];
                uint8_t scale = (uint8_t)s2;
                kb->mxfp4_to_bf16(blk, &scale, 1, got);
                mxfp4_decode_block(blk, scale, want);
                simd_mxfp4_order(want, 32, order);
                for (int j = 0; j < 32; j++)
                    if (bf16_to_f32(got[j]) != order[j])
                        fail_msg("%s bf16 scale %d value %d: %g vs %g", k->name, s2, j,
                                 bf16_to_f32(got[j]), order[j]);
            }
            free(xb);
            free(wbd);
            free(sc);
        }

        /* mxfp4_to_f32 gives mxfp4_decode_block's values bit for bit (in nibble order), for
         * every scale, and simd_mxfp4_order puts x in the same order. */
        uint8_t blk[16];
        for (int j = 0; j < 16; j++)
            blk[j] = (uint8_t)(j | ((15 - j) << 4));
        for (int sc = 0; sc < 256; sc++) {
            float got[32], want[32], order[32];
            uint8_t scale = (uint8_t)sc;
            k->mxfp4_to_f32(blk, &scale, 1, got);
            mxfp4_decode_block(blk, scale, want);
            simd_mxfp4_order(want, 32, order);
            for (int j = 0; j < 32; j++)
                if (memcmp(&got[j], &order[j], sizeof(float)) != 0 &&
                    !(isnan(got[j]) && isnan(order[j])))
                    fail_msg("%s scale %d value %d: %g vs %g", k->name, sc, j, got[j], order[j]);
        }

        /* dot and axpy against plain loops, at every length up to 70. */
        for (size_t n = 0; n <= 70; n++) {
            double want = 0, mag = 0;
            float y[70], y0[70];
            for (size_t i = 0; i < n; i++) {
                want += (double)x[i] * x[k_pad + i];
                mag += fabs((double)x[i] * x[k_pad + i]);
                y[i] = y0[i] = x[2 * k_pad + i];
            }
            check_near(k->dot(x, x + k_pad, n), (float)want, mag, 1e-6, "dot", n, 0);
            k->axpy(y, 0.75f, x, n);
            for (size_t i = 0; i < n; i++)
                check_near(y[i], y0[i] + 0.75f * x[i], fabs(y0[i]) + fabs(x[i]), 1e-7, "axpy", n,
                           i);
        }
    }
    free(wb);
    free(x);
    free(blocks);
    free(scales);
    free(wf);
    free(fused);
    free(viaf);
}

/* ---- the driver of the matrix-product tests ------------------------------------------------ */

/* One product under test: run() computes n rows of it with the current `ops`; check() compares
 * one output with the reference under precision a (x_row: that output's input row). */
struct product_case {
    const char *name;
    size_t n_in, n_out;
    void (*run)(const void *ctx, const float *x, size_t n, float *y);
    void (*check)(const void *ctx, enum act a, const float *x_row, size_t i, size_t o, float got,
                  float want);
    const void *ctx;
};

/* Every precision, ISA and thread count: outputs near y_ref (64 rows of x), a row alone the same
 * bits as inside a batch, and one thread the same bits as two. */
static void check_product(const struct product_case *pc, const float *x, const float *y_ref)
{
    size_t n_in = pc->n_in, n_out = pc->n_out, max_n = 64;
    float *y = malloc(max_n * n_out * sizeof(float));
    float *y_one = malloc(n_out * sizeof(float));
    float *y_first = malloc(max_n * n_out * sizeof(float));
    assert_true(y && y_one && y_first);
    char batch_what[64], thread_what[64];
    snprintf(batch_what, sizeof(batch_what), "%s row alone vs batch", pc->name);
    snprintf(thread_what, sizeof(thread_what), "%s 1 vs 2 threads", pc->name);
    for (int a = 0; a < ACT_COUNT; a++) {
        ops = act_ops[a];
        for (int s = 0; s < n_isas; s++) {
            for (uint32_t threads = 1; threads <= 2; threads++) {
                use(isas[s], threads);
                for (size_t c = 0; c < N_ROW_COUNTS; c++) {
                    size_t n = row_counts[c];
                    pc->run(pc->ctx, x, n, y);
                    for (size_t i = 0; i < n; i++)
                        for (size_t o = 0; o < n_out; o++)
                            pc->check(pc->ctx, (enum act)a, x + i * n_in, i, o, y[i * n_out + o],
                                      y_ref[i * n_out + o]);
                    for (size_t i = 0; i<n; i += n> 8 ? 7 : 1) {
                        pc->run(pc->ctx, x + i * n_in, 1, y_one);
                        check_same_bits(y + i * n_out, y_one, n_out, batch_what);
                    }
                }
                pc->run(pc->ctx, x, max_n, y);
                if (threads == 1)
                    memcpy(y_first, y, max_n * n_out * sizeof(float));
                else
                    check_same_bits(y, y_first, max_n * n_out, thread_what);
            }
        }
    }
    free(y);
    free(y_one);
    free(y_first);
}

/* ---- matmul -------------------------------------------------------------------------------- */

struct matmul_case {
    enum dtype w_dtype;
    int bias; /* 0 none, 1 F32, 2 BF16 */
    size_t n_out, n_in;
};

struct matmul_ctx {
    const struct matmul_case *mc;
    const struct tensor *w, *bias;
    float *wrow; /* [n_in] scratch: one logical weight row */
};

static void matmul_run(const void *ctx, const float *x, size_t n, float *y)
{
    const struct matmul_ctx *m = ctx;
    ops->matmul(x, n, m->w, m->bias, y);
}

static void matmul_check(const void *ctx, enum act a, const float *x_row, size_t i, size_t o,
                         float got, float want)
{
    const struct matmul_ctx *m = ctx;
    size_t n_in = m->mc->n_in;
    double mag = m->bias ? fabs(tensor_get_f32(m->bias, o)) : 0.0;
    for (size_t k = 0; k < n_in; k++) {
        m->wrow[k] = tensor_get_f32(m->w, o * n_in + k);
        mag += fabs(m->wrow[k] * x_row[k]);
    }
    /* bf16 weights take bf16 activations, int8 ones int8 activations. */
    enum dtype dt = m->mc->w_dtype;
    double bound =
        act_bound(a, dt == DTYPE_BF16, dt == DTYPE_I8, mag, q8_error(m->wrow, x_row, n_in));
    check_near(got, want, bound, 1.0, matmul_names[a], i, o);
}

static void check_matmul_case(const struct matmul_case *mc)
{
    size_t n_out = mc->n_out, n_in = mc->n_in, max_n = 64;
    void *w;
    float *row_scales = random_floats(n_out, 0.001f, 0.02f);
    if (mc->w_dtype == DTYPE_BF16) {
        w = random_bf16(n_out * n_in);
    } else if (mc->w_dtype == DTYPE_I8) {
        int8_t *q = malloc(n_out * n_in);
        assert_non_null(q);
        for (size_t i = 0; i < n_out * n_in; i++)
            q[i] = (int8_t)(rng_next() % 255 - 127);
        w = q;
    } else {
        w = random_floats(n_out * n_in, -1.0f, 1.0f);
    }
    struct tensor wt = tensor_2d(mc->w_dtype, w, n_out, n_in);
    wt.row_scales = row_scales;
    float *bias_f = random_floats(n_out, -2.0f, 2.0f);
    uint16_t *bias_b = random_bf16(n_out);
    struct tensor bt =
        mc->bias == 2 ? tensor_1d(DTYPE_BF16, bias_b, n_out) : tensor_1d(DTYPE_F32, bias_f, n_out);
    const struct tensor *bias = mc->bias ? &bt : NULL;
    float *x = random_floats(max_n * n_in, -1.0f, 1.0f);
    float *y_ref = malloc(max_n * n_out * sizeof(float));
    float *wrow = malloc(n_in * sizeof(float));
    assert_true(y_ref && wrow);
    ref->matmul(x, max_n, &wt, bias, y_ref);

    struct matmul_ctx ctx = {.mc = mc, .w = &wt, .bias = bias, .wrow = wrow};
    struct product_case pc = {.name = "matmul",
                              .n_in = n_in,
                              .n_out = n_out,
                              .run = matmul_run,
                              .check = matmul_check,
                              .ctx = &ctx};
    check_product(&pc, x, y_ref);
    free(wrow);
    free(w);
    free(row_scales);
    free(bias_f);
    free(bias_b);
    free(x);
    free(y_ref);
}

static void test_matmul(void **state)
{
    (void)state;
    rng_state = 1;
    static const struct matmul_case cases[] = {
        {DTYPE_BF16, 1, 37, 45}, {DTYPE_BF16, 0, 64, 2880}, {DTYPE_BF16, 2, 5, 16},
        {DTYPE_BF16, 1, 33, 7},  {DTYPE_F32, 1, 37, 45},    {DTYPE_F32, 0, 40, 2880},
        {DTYPE_F32, 2, 3, 1},    {DTYPE_BF16, 0, 201, 130}, {DTYPE_F32, 1, 18, 64},
        {DTYPE_I8, 1, 37, 45},   {DTYPE_I8, 0, 64, 2880},   {DTYPE_I8, 2, 5, 16},
        {DTYPE_I8, 0, 201, 131},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_matmul_case(&cases[i]);
}

/* ---- experts ------------------------------------------------------------------------------- */

struct expert_ctx {
    const struct expert_matrix *em;
    uint32_t expert;
    const float *wl; /* [n_out][n_in]: the expert's logical weights, to size the bound */
};

static void expert_run(const void *ctx, const float *x, size_t n, float *y)
{
    const struct expert_ctx *m = ctx;
    ops->expert_matmul(x, n, m->em, m->expert, y);
}

static void expert_check(const void *ctx, enum act a, const float *x_row, size_t i, size_t o,
                         float got, float want)
{
    const struct expert_ctx *m = ctx;
    size_t n_in = m->em->n_in, n_out = m->em->n_out;
    const float *w = m->wl + o * n_in;
    double mag = fabs(tensor_get_f32(m->em->bias, (size_t)m->expert * n_out + o));
    for (size_t k = 0; k < n_in; k++)
        mag += fabs(w[k] * x_row[k]);
    bool mx = m->em->format == EXPERT_MXFP4;
    double q8 = mx ? q8_error(w, x_row, n_in) : 0;
    check_near(got, want, act_bound(a, mx, mx, mag, q8), 1.0,
               mx ? mxfp4_names[a] : "expert bf16_io", i, o);
}

static void check_expert_case(enum expert_format format, uint32_t n_experts, uint32_t n_out,
                              uint32_t n_in, int bias_bf16)
{
    size_t n_w = (size_t)n_experts * n_out * n_in, max_n = 64;
    uint32_t n_groups = n_in / 32;
    uint8_t *blocks = NULL, *scales = NULL;
    uint16_t *weight = NULL;
    if (format == EXPERT_MXFP4) {
        blocks = malloc(n_w / 2);
        scales = malloc((size_t)n_experts * n_out * n_groups);
        assert_true(blocks && scales);
        for (size_t i = 0; i < n_w / 2; i++)
            blocks[i] = (uint8_t)rng_next();
        for (size_t i = 0; i < (size_t)n_experts * n_out * n_groups; i++)
            scales[i] = (uint8_t)(118 + rng_next() % 10);
    } else {
        weight = random_bf16(n_w);
    }
    float *bias_f = random_floats((size_t)n_experts * n_out, -2.0f, 2.0f);
    uint16_t *bias_b = random_bf16((size_t)n_experts * n_out);
    struct tensor bt = bias_bf16 ? tensor_2d(DTYPE_BF16, bias_b, n_experts, n_out)
                                 : tensor_2d(DTYPE_F32, bias_f, n_experts, n_out);
    struct expert_matrix em = {
        .format = format,
        .n_experts = n_experts,
        .n_out = n_out,
        .n_in = n_in,
        .blocks = blocks,
        .scales = scales,
        .weight = weight,
        .bias = &bt,
    };
    /* The logical weights, to size the tolerance. */
    float *wl = malloc((size_t)n_out * n_in * sizeof(float));
    float *x = random_floats(max_n * n_in, -1.0f, 1.0f);
    float *y_ref = malloc(max_n * n_out * sizeof(float));
    assert_true(wl && y_ref);

    uint32_t e = n_experts - 1;
    for (uint32_t o = 0; o < n_out; o++) {
        for (uint32_t g = 0; g < n_in / 32 && format == EXPERT_MXFP4; g++) {
            size_t at = ((size_t)e * n_out + o) * n_groups + g;
            mxfp4_decode_block(blocks + at * 16, scales[at], wl + (size_t)o * n_in + g * 32);
        }
        for (uint32_t c = 0; c < n_in && format == EXPERT_BF16_IO; c++)
            wl[(size_t)o * n_in + c] = bf16_to_f32(weight[((size_t)e * n_in + c) * n_out + o]);
    }
    ref->expert_matmul(x, max_n, &em, e, y_ref);

    struct expert_ctx ctx = {.em = &em, .expert = e, .wl = wl};
    struct product_case pc = {.name = "expert",
                              .n_in = n_in,
                              .n_out = n_out,
                              .run = expert_run,
                              .check = expert_check,
                              .ctx = &ctx};
    check_product(&pc, x, y_ref);
    free(blocks);
    free(scales);
    free(weight);
    free(bias_f);
    free(bias_b);
    free(wl);
    free(x);
    free(y_ref);
}

static void test_expert_matmul(void **state)
{
    (void)state;
    rng_state = 2;
    check_expert_case(EXPERT_MXFP4, 3, 37, 96, 1);
    check_expert_case(EXPERT_MXFP4, 2, 64, 32, 0);
    check_expert_case(EXPERT_MXFP4, 2, 70, 2880, 1);
    check_expert_case(EXPERT_BF16_IO, 3, 37, 45, 1);
    check_expert_case(EXPERT_BF16_IO, 2, 130, 100, 0);
    check_expert_case(EXPERT_BF16_IO, 2, 7, 3, 0);
}

/* ---- attention ------------------------------------------------------------------------------- */

struct attn_case {
    uint32_t n_heads, n_kv_heads, head_dim, block_size, window;
    int sinks;
};

static void check_attention_case(const struct attn_case *ac)
{
    const uint32_t n_seqs = 3, seq_len[3] = {70, 5, 33}, n_blocks = 16;
    uint32_t Hq = ac->n_heads, Hkv = ac->n_kv_heads, S = ac->head_dim, B = ac->block_size;
    size_t kv_width = (size_t)Hkv * S, q_width = (size_t)Hq * S;
    size_t n_slots = (size_t)n_blocks * B;
    struct kv_layer kv = {
        .k = random_floats(n_slots * kv_width, -1.0f, 1.0f),
        .v = random_floats(n_slots * kv_width, -2.0f, 2.0f),
        .n_blocks = n_blocks,
    };
    /* Scrambled block tables: block b of sequence s is (7 * (5 s + b) + 3) % n_blocks, distinct
     * for every (s, b) used here (B >= 16 keeps each sequence within 5 blocks). */
    uint32_t tables[3][8];
    const uint32_t *table_ptrs[3];
    for (uint32_t s = 0; s < n_seqs; s++) {
        for (uint32_t b = 0; b < 8; b++)
            tables[s][b] = (7 * (s * 5 + b) + 3) % n_blocks;
        table_ptrs[s] = tables[s];
    }
    /* Queries: a mix of positions from every sequence, the last tokens of each included. */
    const uint32_t max_tokens = 17;
    uint32_t positions[17], seqs[17];
    for (uint32_t t = 0; t < max_tokens; t++) {
        seqs[t] = t % n_seqs;
        positions[t] = t < n_seqs ? seq_len[t] - 1 : rng_next() % seq_len[seqs[t]];
    }
    float *q = random_floats(max_tokens * q_width, -1.0f, 1.0f);
    float *sinks = random_floats(Hq, -1.0f, 1.0f);
    float *out = malloc(max_tokens * q_width * sizeof(float));
    float *out_ref = malloc(max_tokens * q_width * sizeof(float));
    float *out_one = malloc(q_width * sizeof(float));
    float *out_first = malloc(max_tokens * q_width * sizeof(float));
    assert_true(out && out_ref && out_one && out_first);
    struct attention_args a = {
        .q = q,
        .out = out_ref,
        .n_tokens = max_tokens,
        .n_heads = Hq,
        .n_kv_heads = Hkv,
        .head_dim = S,
        .block_size = B,
        .kv = &kv,
        .positions = positions,
        .seq_of_token = seqs,
        .block_tables = table_ptrs,
        .window = ac->window,
        .sinks = ac->sinks ? sinks : NULL,
        .scale = 1.0f / sqrtf((float)S),
    };
    ref->attention(&a);

    static const uint32_t counts[] = {1, 3, 17};
    for (int s = 0; s < n_isas; s++) {
        for (uint32_t threads = 1; threads <= 2; threads++) {
            use(isas[s], threads);
            for (size_t c = 0; c < 3; c++) {
                a.n_tokens = counts[c];
                a.out = out;
                ops->attention(&a);
                /* Outputs are convex combinations of values in [-2, 2]. */
                for (size_t i = 0; i < counts[c] * q_width; i++)
                    check_near(out[i], out_ref[i], 2.0, 2e-6, "attention", i / q_width,
                               i % q_width);
                struct attention_args one = a;
                for (uint32_t t = 0; t < counts[c]; t += 5) {
                    one.q = q + t * q_width;
                    one.out = out_one;
                    one.n_tokens = 1;
                    one.positions = positions + t;
                    one.seq_of_token = seqs + t;
                    ops->attention(&one);
                    check_same_bits(out + t * q_width, out_one, q_width, "attention alone");
                }
            }
            if (threads == 1)
                memcpy(out_first, out, max_tokens * q_width * sizeof(float));
            else
                check_same_bits(out, out_first, max_tokens * q_width, "attention 1 vs 2 threads");
        }
    }
    free(kv.k);
    free(kv.v);
    free(q);
    free(sinks);
    free(out);
    free(out_ref);
    free(out_one);
    free(out_first);
}

static void test_attention(void **state)
{
    (void)state;
    rng_state = 3;
    static const struct attn_case cases[] = {
        {8, 2, 64, 16, 0, 1},  /* gpt-oss-like, full context, sinks */
        {8, 2, 64, 16, 5, 1},  /* sliding window */
        {6, 3, 20, 32, 0, 0},  /* odd head size, no sinks */
        {4, 4, 13, 16, 40, 1}, /* no grouping, ragged head size */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_attention_case(&cases[i]);
}

/* ---- small ops ------------------------------------------------------------------------------- */

static void test_small_ops(void **state)
{
    (void)state;
    rng_state = 4;
    const size_t n = 17, D = 2887, V = 50;
    float *x = random_floats(n * D, -3.0f, 3.0f);
    float *y = malloc(n * D * sizeof(float)), *y_ref = malloc(n * D * sizeof(float));
    uint16_t *gain = random_bf16(D);
    struct tensor gt = tensor_1d(DTYPE_BF16, gain, D);
    assert_true(y && y_ref);

    /* rmsnorm: the sum of squares in another order; normalized values are O(1). */
    ref->rmsnorm(x, n, &gt, 1e-5f, y_ref);
    for (int s = 0; s < n_isas; s++) {
        use(isas[s], 2);
        ops->rmsnorm(x, n, &gt, 1e-5f, y);
        for (size_t i = 0; i < n * D; i++)
            check_near(y[i], y_ref[i], fabs(y_ref[i]) + 1e-6, 1e-5, "rmsnorm", i / D, i % D);
        memcpy(y, x, n * D * sizeof(float));
        ops->rmsnorm(y, n, &gt, 1e-5f, y); /* in place */
        for (size_t i = 0; i < n * D; i++)
            check_near(y[i], y_ref[i], fabs(y_ref[i]) + 1e-6, 1e-5, "rmsnorm in place", i / D,
                       i % D);
    }

    /* rope: the reference's arithmetic, so the same bits. */
    struct rope_params rp = {
        .head_dim = 64,
        .theta = 150000.0f,
        .factor = 32.0f,
        .beta_fast = 32.0f,
        .beta_slow = 1.0f,
        .original_max_position = 4096,
    };
    struct rope rope;
    rope_init(&rope, &rp);
    uint32_t positions[17];
    for (size_t t = 0; t < n; t++)
        positions[t] = rng_next() % 131072;
    const uint32_t heads = 5;
    float *r1 = random_floats(n * heads * 64, -1.0f, 1.0f);
    float *r2 = malloc(n * heads * 64 * sizeof(float));
    assert_non_null(r2);
    memcpy(r2, r1, n * heads * 64 * sizeof(float));
    ref->rope(r1, n, heads, positions, &rope);
    ops->rope(r2, n, heads, positions, &rope);
    check_same_bits(r1, r2, n * heads * 64, "rope");

    /* The reference ops reused as they are: the same bits. */
    float *table = random_floats(V * 31, -1.0f, 1.0f);
    struct tensor tt = tensor_2d(DTYPE_F32, table, V, 31);
    uint32_t ids[5] = {0, 49, 7, 7, 20};
    float e1[5 * 31], e2[5 * 31];
    ref->embed(&tt, ids, 5, e1);
    ops->embed(&tt, ids, 5, e2);
    check_same_bits(e1, e2, 5 * 31, "embed");

    float *u = random_floats(n * 2 * 45, -10.0f, 10.0f);
    float a1[17 * 45], a2[17 * 45];
    ref->swiglu(u, n, 45, 1.702f, 7.0f, a1);
    ops->swiglu(u, n, 45, 1.702f, 7.0f, a2);
    check_same_bits(a1, a2, n * 45, "swiglu");

    memcpy(y, x, n * D * sizeof(float));
    memcpy(y_ref, x, n * D * sizeof(float));
    ref->add_scaled(y_ref, x + 1, n * D - 1, 0.3f);
    ops->add_scaled(y, x + 1, n * D - 1, 0.3f);
    check_same_bits(y, y_ref, n * D, "add_scaled");

    uint32_t i1[17 * 4], i2[17 * 4];
    float w1[17 * 4], w2[17 * 4];
    ref->router_topk(u, n, 32, 4, i1, w1);
    ops->router_topk(u, n, 32, 4, i2, w2);
    assert_memory_equal(i1, i2, sizeof(i1));
    check_same_bits(w1, w2, n * 4, "router_topk");

    float kbuf[4 * 2 * 3], vbuf[4 * 2 * 3], kref[4 * 2 * 3], vref[4 * 2 * 3];
    memset(kbuf, 0, sizeof(kbuf));
    memset(vbuf, 0, sizeof(vbuf));
    memset(kref, 0, sizeof(kref));
    memset(vref, 0, sizeof(vref));
    struct kv_layer kv = {.k = kbuf, .v = vbuf, .n_blocks = 2};
    struct kv_layer kv_ref = {.k = kref, .v = vref, .n_blocks = 2};
    uint32_t slots[2] = {3, 0};
    ref->kv_write(&kv_ref, 2, 6, x, x + 12, slots, 2);
    ops->kv_write(&kv, 2, 6, x, x + 12, slots, 2);
    check_same_bits(kbuf, kref, 24, "kv_write k");
    check_same_bits(vbuf, vref, 24, "kv_write v");

    free(x);
    free(y);
    free(y_ref);
    free(gain);
    free(r1);
    free(r2);
    free(table);
    free(u);
}

/* ---- concurrency ----------------------------------------------------------------------------- */

struct concurrent_call {
    const float *x;
    const struct tensor *w;
    float *y;
};

static void *concurrent_main(void *arg)
{
    struct concurrent_call *c = arg;
    for (int i = 0; i < 20; i++)
        ops->matmul(c->x, 5, c->w, NULL, c->y);
    return NULL;
}

/* Two threads calling ops at once: one gets the pool, the other runs alone; both give the
 * numbers a single call gives. */
static void test_concurrent_callers(void **state)
{
    (void)state;
    rng_state = 5;
    backend_cpu_set_threads(2);
    const size_t n_out = 300, n_in = 200;
    uint16_t *w = random_bf16(n_out * n_in);
    struct tensor wt = tensor_2d(DTYPE_BF16, w, n_out, n_in);
    float *x = random_floats(5 * n_in, -1.0f, 1.0f);
    float *want = malloc(5 * n_out * sizeof(float));
    float *y1 = malloc(5 * n_out * sizeof(float)), *y2 = malloc(5 * n_out * sizeof(float));
    assert_true(want && y1 && y2);
    ops->matmul(x, 5, &wt, NULL, want);
    struct concurrent_call c1 = {x, &wt, y1}, c2 = {x, &wt, y2};
    pthread_t t1, t2;
    assert_int_equal(pthread_create(&t1, NULL, concurrent_main, &c1), 0);
    assert_int_equal(pthread_create(&t2, NULL, concurrent_main, &c2), 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    check_same_bits(y1, want, 5 * n_out, "concurrent caller 1");
    check_same_bits(y2, want, 5 * n_out, "concurrent caller 2");
    free(w);
    free(x);
    free(want);
    free(y1);
    free(y2);
}

static int setup(void **state)
{
    (void)state;
    ops = backend_cpu();
    ref = backend_cpu_ref();
    act_ops[ACT_F32] = backend_cpu_f32();
    act_ops[ACT_BF16] = backend_cpu_bf16();
    act_ops[ACT_Q8] = backend_cpu();
    return 0;
}

int main(void)
{
    /* GPTOSS_CPU_ISA is read once, on first use: check that it is honoured. */
    setenv("GPTOSS_CPU_ISA", "generic", 1);
    if (simd_kernels() != &simd_kernels_generic) {
        fprintf(stderr, "GPTOSS_CPU_ISA=generic was not honoured\n");
        return 1;
    }
    collect_isas();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threadpool),
        cmocka_unit_test(test_kernel_routes),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_expert_matmul),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_small_ops),
        cmocka_unit_test(test_concurrent_callers),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
