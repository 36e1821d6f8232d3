/* cpu.c — the fast CPU backend: backend_cpu(), threaded ops over the simd.h kernels.
 *
 * The heavy ops split their OUTPUT elements across a persistent thread pool: matmul and the
 * MXFP4 experts by weight rows, the transposed bf16 experts by output columns, attention by
 * (token, kv head). Each output element is then computed entirely by one task, in the order
 * the ISA's kernels fix (simd.h), so a row's result never depends on the other rows in the
 * call, on n, or on the number of threads: the serving layer relies on that. Which route a
 * matmul takes (weights read in place for a few input rows, or converted to f32 a group of rows
 * at a time and reused for many) changes speed only, never bits.
 *
 * On a table with bf16 kernels (avx512bf16), the MXFP4 experts and the bf16 matmuls round each
 * input row to bf16 once per call and multiply with bf16 dot products. On a table with int8
 * kernels (AVX512_VNNI), backend_cpu() instead quantises the rows entering the MXFP4 experts and
 * the int8 matrices (--weights int8) to int8 per 32 values and sums exact integers per block.
 * backend_cpu_bf16() (--dtype bfloat16) strips the int8 kernels from the call's table and
 * backend_cpu_f32() (--dtype float32, the exact mode) both; int8 weights are then summed as
 * exact integers against f32 rows and scaled per row.
 *
 * The cheap ops (embed, kv_write, router_topk, swiglu, add_scaled) are the reference ones;
 * rope is the reference arithmetic with each (cos, sin) pair computed once per token instead of
 * once per head, and rmsnorm sums its squares with the vector dot.
 *
 * Threads: one process-wide pool, created on first use with backend_cpu_set_threads()'s count,
 * unless the calling thread bound a context of its own (backend_cpu_bind: each tensor-parallel
 * rank in a process runs its ops on its own pool).
 * Ops are meant to be called from one thread at a time; a call that finds the pool busy (another
 * thread inside an op) runs on its own thread with private scratch rather than waiting, with
 * the same numbers.
 */
#include "backend/backend.h"

#include "backend/cpu/simd.h"
#include "base/error.h"
#include "base/threadpool.h"
#include "base/xalloc.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Weight rows widened or decoded to f32 at a time on the many-input-rows route; a group of
 * 2880-wide rows (184 KB) stays in L2 while all the input rows stream past it. */
#define CPU_GROUP 16

/* Tasks per thread a loop is cut into, so that a slow thread does not hold up the rest. */
#define CPU_TASKS_PER_THREAD 4

/* ---- execution context ----------------------------------------------------------------------- */

/* A growable, 64-byte aligned f32 buffer. */
struct cpu_scratch {
    float *data;
    size_t cap; /* floats */
};

static float *cpu_scratch_reserve(struct cpu_scratch *s, size_t n_floats)
{
    if (s->cap >= n_floats)
        return s->data;
    free(s->data);
    size_t cap = n_floats + n_floats / 2;
    void *p = NULL;
    if (posix_memalign(&p, 64, cap * sizeof(float)) != 0) {
        fprintf(stderr, "gptoss: out of memory allocating %zu bytes of CPU scratch\n",
                cap * sizeof(float));
        abort();
    }
    s->data = p;
    s->cap = cap;
    return s->data;
}

/* A pool and its per-worker scratch; `lock` is held while an op runs. The process-wide one
 * serves every thread that has not bound its own (backend_cpu_bind). */
struct backend_cpu_context {
    pthread_mutex_t lock;
    uint32_t n_threads; /* requested; 0 = one per CPU */
    bool started;       /* pool creation attempted for n_threads */
    struct threadpool *pool;
    struct cpu_scratch *scratch; /* [workers + 1]; the last is shared by the whole op */
    uint32_t n_scratch;
};

static struct backend_cpu_context cpu_state = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The context this thread's ops run on; NULL: cpu_state. */
static _Thread_local struct backend_cpu_context *cpu_bound;

/* What one op call runs with. */
struct cpu_exec {
    struct backend_cpu_context *ctx;
    struct threadpool *pool; /* NULL: the calling thread alone */
    uint32_t n_workers;
    struct cpu_scratch *scratch; /* [n_workers] per worker, then one shared */
    const struct simd_kernels *k;
    struct simd_kernels k_own; /* k without the activation kernels the call may not use */
    bool own;                  /* private fallback: scratch is ours to free */
};

static void cpu_begin(struct cpu_exec *ex)
{
    struct backend_cpu_context *c = cpu_bound ? cpu_bound : &cpu_state;
    ex->k = simd_kernels();
    ex->ctx = c;
    if (pthread_mutex_trylock(&c->lock) != 0) {
        /* Another thread is inside an op: run alone rather than queue behind it. */
        ex->pool = NULL;
        ex->n_workers = 1;
        ex->scratch = xcalloc(2, sizeof(struct cpu_scratch));
        ex->own = true;
        return;
    }
    if (!c->started) {
        uint32_t n = c->n_threads ? c->n_threads : threadpool_default_threads();
        if (n > 1 && threadpool_create(n, /*pin=*/false, &c->pool) != GPTOSS_OK)
            c->pool = NULL; /* run single-threaded rather than fail */
        c->n_scratch = threadpool_n_threads(c->pool) + 1;
        c->scratch = xcalloc(c->n_scratch, sizeof(struct cpu_scratch));
        c->started = true;
    }
    ex->pool = c->pool;
    ex->n_workers = threadpool_n_threads(c->pool);
    ex->scratch = c->scratch;
    ex->own = false;
}

static void cpu_end(struct cpu_exec *ex)
{
    if (ex->own) {
        for (uint32_t i = 0; i <= ex->n_workers; i++)
            free(ex->scratch[i].data);
        free(ex->scratch);
        return;
    }
    pthread_mutex_unlock(&ex->ctx->lock);
}

/* Grows every worker's scratch to n_floats before a loop (workers never allocate). */
static void cpu_reserve_workers(struct cpu_exec *ex, size_t n_floats)
{
    for (uint32_t w = 0; w < ex->n_workers; w++)
        cpu_scratch_reserve(&ex->scratch[w], n_floats);
}

static float *cpu_shared(struct cpu_exec *ex, size_t n_floats)
{
    return cpu_scratch_reserve(&ex->scratch[ex->n_workers], n_floats);
}

/* Drops c's pool and scratch; the next op recreates them for n threads. */
static void cpu_context_reset(struct backend_cpu_context *c, uint32_t n)
{
    pthread_mutex_lock(&c->lock);
    threadpool_destroy(c->pool);
    c->pool = NULL;
    for (uint32_t i = 0; i < c->n_scratch; i++)
        free(c->scratch[i].data);
    free(c->scratch);
    c->scratch = NULL;
    c->n_scratch = 0;
    c->n_threads = n;
    c->started = false;
    pthread_mutex_unlock(&c->lock);
}

void backend_cpu_set_threads(uint32_t n)
{
    cpu_context_reset(cpu_bound ? cpu_bound : &cpu_state, n);
}

struct backend_cpu_context *backend_cpu_context_create(uint32_t n_threads)
{
    struct backend_cpu_context *c = xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->n_threads = n_threads;
    return c;
}

void backend_cpu_context_destroy(struct backend_cpu_context *c)
{
    if (!c)
        return;
    cpu_context_reset(c, 0);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void backend_cpu_bind(struct backend_cpu_context *c)
{
    cpu_bound = c;
}

static size_t cpu_round_up(size_t n, size_t unit)
{
    return (n + unit - 1) / unit * unit;
}

/* Cuts n_items into tasks of a multiple of `unit` items; returns the task count. */
static uint32_t cpu_split(const struct cpu_exec *ex, size_t n_items, size_t unit, size_t *chunk)
{
    size_t per = (n_items + ex->n_workers * CPU_TASKS_PER_THREAD - 1) /
                 (ex->n_workers * CPU_TASKS_PER_THREAD);
    *chunk = cpu_round_up(per ? per : 1, unit);
    return (uint32_t)((n_items + *chunk - 1) / *chunk);
}

/* x itself when its rows are already a multiple of SIMD_PAD wide, else a zero-padded copy. */
static const float *cpu_pad_rows(struct cpu_exec *ex, const float *x, size_t n, size_t n_in,
                                 size_t k_pad)
{
    if (n_in == k_pad)
        return x;
    float *p = cpu_shared(ex, n * k_pad);
    for (size_t i = 0; i < n; i++) {
        memcpy(p + i * k_pad, x + i * n_in, n_in * sizeof(float));
        memset(p + i * k_pad + n_in, 0, (k_pad - n_in) * sizeof(float));
    }
    return p;
}

/* ---- matmul ---------------------------------------------------------------------------------- */

struct cpu_matmul {
    struct cpu_exec *ex;
    const float *x;     /* [n][k_pad], zero-padded */
    const uint16_t *xb; /* bf16 weights on a bf16 table: x as bf16, [n][k32], zero-padded */
    const void *xq;     /* int8 weights on a q8 table: x quantised (SIMD_Q8_ROW_BYTES per row) */
    size_t k32;
    size_t n;
    const struct tensor *w, *bias;
    float *y;
    size_t n_out, n_in, k_pad, chunk;
};

static void cpu_add_bias(float *y, size_t n, size_t y_stride, size_t r0, size_t r1,
                         const struct tensor *bias, size_t bias_at)
{
    for (size_t r = r0; r < r1; r++) {
        float b = tensor_get_f32(bias, bias_at + r);
        for (size_t i = 0; i < n; i++)
            y[i * y_stride + r] += b;
    }
}

/* Rows r0..r1 of every output: the int8 rows' scales (their kernels sum the integers), the bias. */
static void cpu_matmul_finish(const struct cpu_matmul *m, size_t r0, size_t r1)
{
    if (m->w->dtype == DTYPE_I8)
        for (size_t i = 0; i < m->n; i++)
            for (size_t r = r0; r < r1; r++)
                m->y[i * m->n_out + r] *= m->w->row_scales[r];
    if (m->bias)
        cpu_add_bias(m->y, m->n, m->n_out, r0, r1, m->bias, 0);
}

static void cpu_matmul_task(void *arg, uint32_t task, uint32_t worker)
{
    const struct cpu_matmul *m = arg;
    const struct simd_kernels *k = m->ex->k;
    size_t r0 = (size_t)task * m->chunk;
    size_t r1 = r0 + m->chunk < m->n_out ? r0 + m->chunk : m->n_out;
    size_t n_in = m->n_in, k_pad = m->k_pad;
    float *tile = m->ex->scratch[worker].data; /* [CPU_GROUP][k_pad] */

    if (m->xb) {
        /* Groups of rows, so that each stays in L2 while all the input rows pass. */
        const uint16_t *w = m->w->data;
        for (size_t g = r0; g < r1; g += CPU_GROUP) {
            size_t rows = r1 - g < CPU_GROUP ? r1 - g : CPU_GROUP;
            k->bf16->dot_rows(w + g * n_in, n_in, rows, n_in, m->xb, m->k32, m->n, m->y + g,
                              m->n_out);
        }
    } else if (m->w->dtype == DTYPE_BF16 && m->n <= k->few_rows_bf16) {
        const uint16_t *w = (const uint16_t *)m->w->data + r0 * n_in;
        k->dot_bf16(w, n_in, r1 - r0, n_in, m->x, k_pad, m->n, k_pad, m->y + r0, m->n_out);
    } else if (m->w->dtype == DTYPE_I8 && m->n <= k->few_rows_bf16) {
        const int8_t *w = (const int8_t *)m->w->data + r0 * n_in;
        k->dot_i8(w, n_in, r1 - r0, n_in, m->x, k_pad, m->n, k_pad, m->y + r0, m->n_out);
    } else {
        for (size_t g = r0; g < r1; g += CPU_GROUP) {
            size_t rows = r1 - g < CPU_GROUP ? r1 - g : CPU_GROUP;
            const float *wg; /* [rows][k_pad] */
            if (m->w->dtype == DTYPE_F32 && n_in == k_pad) {
                wg = (const float *)m->w->data + g * n_in; /* already padded: read in place */
            } else {
                for (size_t r = 0; r < rows; r++) {
                    float *row = tile + r * k_pad;
                    if (m->w->dtype == DTYPE_BF16)
                        k->bf16_to_f32((const uint16_t *)m->w->data + (g + r) * n_in, n_in, row);
                    else if (m->w->dtype == DTYPE_I8)
                        k->i8_to_f32((const int8_t *)m->w->data + (g + r) * n_in, n_in, row);
                    else
                        memcpy(row, (const float *)m->w->data + (g + r) * n_in,
                               n_in * sizeof(float));
                    memset(row + n_in, 0, (k_pad - n_in) * sizeof(float));
                }
                wg = tile;
            }
            k->dot_f32(wg, k_pad, rows, m->x, k_pad, m->n, k_pad, m->y + g, m->n_out);
        }
    }
    cpu_matmul_finish(m, r0, r1);
}

/* How far an op may round its activations in the weight products: the three backends. */
enum cpu_act {
    CPU_ACT_F32,  /* backend_cpu_f32 */
    CPU_ACT_BF16, /* backend_cpu_bf16 */
    CPU_ACT_Q8,   /* backend_cpu */
};

/* Drops the activation kernels this call may not use from its table. */
static void cpu_limit(struct cpu_exec *ex, enum cpu_act act)
{
    bool drop_q8 = act < CPU_ACT_Q8 && ex->k->q8, drop_bf16 = act < CPU_ACT_BF16 && ex->k->bf16;
    if (!drop_q8 && !drop_bf16)
        return;
    ex->k_own = *ex->k;
    if (drop_q8)
        ex->k_own.q8 = NULL;
    if (drop_bf16)
        ex->k_own.bf16 = NULL;
    ex->k = &ex->k_own;
}

/* int8 weights × int8 activations: tasks are ranges of rows, quantised x is shared. */
static void cpu_matmul_q8_task(void *arg, uint32_t task, uint32_t worker)
{
    (void)worker;
    const struct cpu_matmul *m = arg;
    size_t r0 = (size_t)task * m->chunk;
    size_t r1 = r0 + m->chunk < m->n_out ? r0 + m->chunk : m->n_out;
    const int8_t *w = (const int8_t *)m->w->data + r0 * m->n_in;
    m->ex->k->q8->dot_i8(w, m->n_in, r1 - r0, m->n_in, m->xq, SIMD_Q8_ROW_BYTES(m->n_in), m->n,
                         m->y + r0, m->n_out);
    cpu_matmul_finish(m, r0, r1);
}

static void cpu_matmul_with(const float *x, size_t n, const struct tensor *w,
                            const struct tensor *bias, float *y, enum cpu_act act)
{
    GPTOSS_ASSERT(w->n_dims == 2);
    GPTOSS_ASSERT(w->dtype == DTYPE_F32 || w->dtype == DTYPE_BF16 || w->dtype == DTYPE_I8);
    size_t n_out = w->shape[0], n_in = w->shape[1];
    GPTOSS_ASSERT(!bias || tensor_n_elements(bias) == n_out);
    if (n == 0 || n_out == 0)
        return;
    struct cpu_exec ex;
    cpu_begin(&ex);
    cpu_limit(&ex, act);
    if (ex.k->q8 && w->dtype == DTYPE_I8) {
        size_t row = SIMD_Q8_ROW_BYTES(n_in);
        uint8_t *xq = (uint8_t *)cpu_shared(&ex, (n * row + 3) / 4);
        for (size_t i = 0; i < n; i++)
            ex.k->q8->quantize_rows(x + i * n_in, n_in, xq + i * row);
        struct cpu_matmul m = {.ex = &ex,
                               .xq = xq,
                               .n = n,
                               .w = w,
                               .bias = bias,
                               .y = y,
                               .n_out = n_out,
                               .n_in = n_in};
        uint32_t n_tasks = cpu_split(&ex, n_out, CPU_GROUP, &m.chunk);
        threadpool_run(ex.pool, n_tasks, cpu_matmul_q8_task, &m);
        cpu_end(&ex);
        return;
    }
    size_t k_pad = cpu_round_up(n_in ? n_in : 1, SIMD_PAD);
    const uint16_t *xb = NULL;
    size_t k32 = cpu_round_up(n_in ? n_in : 1, 32);
    if (ex.k->bf16 && w->dtype == DTYPE_BF16) {
        uint16_t *p = (uint16_t *)cpu_shared(&ex, (n * k32 + 1) / 2);
        for (size_t i = 0; i < n; i++) {
            ex.k->bf16->x_to_bf16(x + i * n_in, n_in, p + i * k32);
            memset(p + i * k32 + n_in, 0, (k32 - n_in) * sizeof(uint16_t));
        }
        xb = p;
    }
    struct cpu_matmul m = {
        .ex = &ex,
        .x = xb ? NULL : cpu_pad_rows(&ex, x, n, n_in, k_pad),
        .xb = xb,
        .k32 = k32,
        .n = n,
        .w = w,
        .bias = bias,
        .y = y,
        .n_out = n_out,
        .n_in = n_in,
        .k_pad = k_pad,
    };
    cpu_reserve_workers(&ex, CPU_GROUP * k_pad);
    uint32_t n_tasks = cpu_split(&ex, n_out, CPU_GROUP, &m.chunk);
    threadpool_run(ex.pool, n_tasks, cpu_matmul_task, &m);
    cpu_end(&ex);
}

/* ---- experts --------------------------------------------------------------------------------- */

struct cpu_expert {
    struct cpu_exec *ex;
    const float *x;     /* [n][n_in]; for MXFP4 in the kernels' nibble order */
    const uint16_t *xb; /* x rounded to bf16, where the kernels have bf16 */
    const void *xq;     /* x quantised to int8 (SIMD_Q8_MXFP4_BYTES per row), where allowed */
    size_t n;
    const struct expert_matrix *w;
    size_t expert;
    float *y;
    size_t chunk;
};

/* The bias element of `expert`'s output 0 (struct expert_matrix). */
static size_t cpu_expert_bias_at(const struct expert_matrix *w, size_t expert)
{
    return expert * (w->bias_stride ? w->bias_stride : w->n_out) + w->bias_first;
}

/* MXFP4: tasks are ranges of weight rows, like matmul. */
static void cpu_expert_mxfp4_task(void *arg, uint32_t task, uint32_t worker)
{
    const struct cpu_expert *m = arg;
    const struct simd_kernels *k = m->ex->k;
    size_t n_out = m->w->n_out, n_in = m->w->n_in, n_blocks = n_in / 32;
    size_t r0 = (size_t)task * m->chunk;
    size_t r1 = r0 + m->chunk < n_out ? r0 + m->chunk : n_out;
    size_t first = m->expert * n_out; /* the expert's first row */
    const uint8_t *blocks = m->w->blocks + (first + r0) * n_blocks * 16;
    const uint8_t *scales = m->w->scales + (first + r0) * n_blocks;

    const struct simd_bf16_kernels *kb = k->bf16;
    if (m->xq) {
        k->q8->dot_mxfp4(blocks, scales, r1 - r0, n_blocks, m->xq, SIMD_Q8_MXFP4_BYTES(n_in), m->n,
                         m->y + r0, n_out);
    } else if (kb && m->n <= kb->few_rows) {
        kb->dot_mxfp4(blocks, scales, r1 - r0, n_blocks, m->xb, n_in, m->n, m->y + r0, n_out);
    } else if (kb) {
        uint16_t *tile = (uint16_t *)m->ex->scratch[worker].data; /* [CPU_GROUP][n_in] */
        for (size_t g = r0; g < r1; g += CPU_GROUP) {
            size_t rows = r1 - g < CPU_GROUP ? r1 - g : CPU_GROUP;
            for (size_t r = 0; r < rows; r++)
                kb->mxfp4_to_bf16(blocks + (g - r0 + r) * n_blocks * 16,
                                  scales + (g - r0 + r) * n_blocks, n_blocks, tile + r * n_in);
            kb->dot_rows(tile, n_in, rows, n_in, m->xb, n_in, m->n, m->y + g, n_out);
        }
    } else if (m->n <= k->few_rows_mxfp4) {
        k->dot_mxfp4(blocks, scales, r1 - r0, n_blocks, m->x, n_in, m->n, m->y + r0, n_out);
    } else {
        float *tile = m->ex->scratch[worker].data; /* [CPU_GROUP][n_in] */
        for (size_t g = r0; g < r1; g += CPU_GROUP) {
            size_t rows = r1 - g < CPU_GROUP ? r1 - g : CPU_GROUP;
            for (size_t r = 0; r < rows; r++)
                k->mxfp4_to_f32(blocks + (g - r0 + r) * n_blocks * 16,
                                scales + (g - r0 + r) * n_blocks, n_blocks, tile + r * n_in);
            k->dot_f32(tile, n_in, rows, m->x, n_in, m->n, n_in, m->y + g, n_out);
        }
    }
    if (m->w->bias)
        cpu_add_bias(m->y, m->n, n_out, r0, r1, m->w->bias, cpu_expert_bias_at(m->w, m->expert));
}

/* BF16_IO: the weights are [in][out], so tasks are ranges of output columns. */
static void cpu_expert_io_task(void *arg, uint32_t task, uint32_t worker)
{
    (void)worker;
    const struct cpu_expert *m = arg;
    size_t n_out = m->w->n_out, n_in = m->w->n_in;
    size_t o0 = (size_t)task * m->chunk;
    size_t o1 = o0 + m->chunk < n_out ? o0 + m->chunk : n_out;
    const uint16_t *w = m->w->weight + m->expert * n_in * n_out;
    m->ex->k->dot_bf16_io(w, n_out, n_in, o0, o1, m->x, n_in, m->n, m->y, n_out);
    if (m->w->bias)
        cpu_add_bias(m->y, m->n, n_out, o0, o1, m->w->bias, cpu_expert_bias_at(m->w, m->expert));
}

static void cpu_expert_matmul_with(const float *x, size_t n, const struct expert_matrix *w,
                                   uint32_t expert, float *y, enum cpu_act act)
{
    GPTOSS_ASSERT(expert < w->n_experts);
    if (n == 0 || w->n_out == 0)
        return;
    struct cpu_exec ex;
    cpu_begin(&ex);
    struct cpu_expert m = {.ex = &ex, .x = x, .n = n, .w = w, .expert = expert, .y = y};
    uint32_t n_tasks;
    if (w->format == EXPERT_MXFP4) {
        GPTOSS_ASSERT(w->n_in % 32 == 0);
        cpu_limit(&ex, act);
        if (ex.k->q8) {
            size_t row = SIMD_Q8_MXFP4_BYTES(w->n_in);
            uint8_t *xq = (uint8_t *)cpu_shared(&ex, (n * row + 3) / 4);
            for (size_t i = 0; i < n; i++)
                ex.k->q8->quantize_mxfp4(x + i * w->n_in, w->n_in, xq + i * row);
            m.xq = xq;
            n_tasks = cpu_split(&ex, w->n_out, CPU_GROUP, &m.chunk);
            threadpool_run(ex.pool, n_tasks, cpu_expert_mxfp4_task, &m);
            cpu_end(&ex);
            return;
        }
        /* Room for x in nibble order and, after it, its bf16 copy. */
        float *xo = cpu_shared(&ex, n * w->n_in + (n * w->n_in + 1) / 2);
        for (size_t i = 0; i < n; i++)
            simd_mxfp4_order(x + i * w->n_in, w->n_in, xo + i * w->n_in);
        m.x = xo;
        if (ex.k->bf16) {
            uint16_t *xb = (uint16_t *)(xo + n * w->n_in);
            ex.k->bf16->x_to_bf16(xo, n * w->n_in, xb);
            m.xb = xb;
        }
        cpu_reserve_workers(&ex, (size_t)CPU_GROUP * w->n_in);
        n_tasks = cpu_split(&ex, w->n_out, CPU_GROUP, &m.chunk);
        threadpool_run(ex.pool, n_tasks, cpu_expert_mxfp4_task, &m);
    } else {
        GPTOSS_ASSERT(w->format == EXPERT_BF16_IO);
        n_tasks = cpu_split(&ex, w->n_out, 64, &m.chunk);
        threadpool_run(ex.pool, n_tasks, cpu_expert_io_task, &m);
    }
    cpu_end(&ex);
}

/* ---- attention ------------------------------------------------------------------------------- */

/* The first key position a query at `pos` may see (as ref.c). */
static uint32_t cpu_first_visible(uint32_t pos, uint32_t window)
{
    if (window == 0 || pos + 1 <= window)
        return 0;
    return pos + 1 - window;
}

struct cpu_attention {
    struct cpu_exec *ex;
    const struct attention_args *a;
};

/* The slot of key position `key` in a sequence's block table. */
static size_t cpu_slot(const struct attention_args *a, const uint32_t *table, uint32_t key)
{
    size_t slot = (size_t)table[key / a->block_size] * a->block_size + key % a->block_size;
    GPTOSS_ASSERT(slot < (size_t)a->kv->n_blocks * a->block_size);
    return slot;
}

/* One token and one kv head: the `group` query heads that read it go through the keys and the
 * values together, so each cached vector is loaded once for all of them. Logits are laid out
 * [key][head]; when S is a multiple of SIMD_PAD, each run of keys within one KV block is one
 * dot_f32 call (the group's queries × the run's keys), else one dot per (key, head). */
static void cpu_attention_task(void *arg, uint32_t task, uint32_t worker)
{
    const struct cpu_attention *c = arg;
    const struct attention_args *a = c->a;
    const struct simd_kernels *k = c->ex->k;
    uint32_t S = a->head_dim, Hkv = a->n_kv_heads, group = a->n_heads / Hkv, B = a->block_size;
    uint32_t t = task / Hkv, g = task % Hkv;
    size_t q_width = (size_t)a->n_heads * S, kv_width = (size_t)Hkv * S;
    const float *q = a->q + t * q_width + (size_t)g * group * S; /* [group][S] */
    float *out = a->out + t * q_width + (size_t)g * group * S;   /* [group][S] */
    uint32_t pos = a->positions[t];
    uint32_t first = cpu_first_visible(pos, a->window);
    uint32_t n_keys = pos - first + 1;
    const uint32_t *table = a->block_tables[a->seq_of_token[t]];
    float *logits = c->ex->scratch[worker].data; /* [n_keys][group] */
    float max[64], denom[64], p[64];
    GPTOSS_ASSERT(group <= 64);

    for (uint32_t key = first; key <= pos;) {
        uint32_t run = B - key % B; /* keys left in this KV block */
        if (run > pos + 1 - key)
            run = pos + 1 - key;
        const float *kv = a->kv->k + cpu_slot(a, table, key) * kv_width + (size_t)g * S;
        float *l = logits + (size_t)(key - first) * group;
        if (S % SIMD_PAD == 0) {
            cpu_slot(a, table, key + run - 1); /* bounds check of the run's end */
            k->dot_f32(q, S, group, kv, kv_width, run, S, l, group);
        } else {
            for (uint32_t i = 0; i < run; i++)
                for (uint32_t j = 0; j < group; j++)
                    l[(size_t)i * group + j] = k->dot(q + (size_t)j * S, kv + i * kv_width, S);
        }
        key += run;
    }
    for (uint32_t j = 0; j < group; j++)
        max[j] = a->sinks ? a->sinks[g * group + j] : -INFINITY;
    for (uint32_t i = 0; i < n_keys; i++) {
        float *l = logits + (size_t)i * group;
        for (uint32_t j = 0; j < group; j++) {
            l[j] *= a->scale;
            if (l[j] > max[j])
                max[j] = l[j];
        }
    }
    for (uint32_t j = 0; j < group; j++)
        denom[j] = a->sinks ? expf(a->sinks[g * group + j] - max[j]) : 0.0f;
    for (uint32_t i = 0; i < n_keys; i++) {
        float *l = logits + (size_t)i * group;
        for (uint32_t j = 0; j < group; j++) {
            l[j] = expf(l[j] - max[j]);
            denom[j] += l[j];
        }
    }

    memset(out, 0, (size_t)group * S * sizeof(float));
    for (uint32_t i = 0; i < n_keys; i++) {
        const float *v = a->kv->v + cpu_slot(a, table, first + i) * kv_width + (size_t)g * S;
        for (uint32_t j = 0; j < group; j++)
            p[j] = logits[(size_t)i * group + j] / denom[j];
        k->axpy_rows(out, group, S, p, v);
    }
}

static void cpu_attention(const struct attention_args *a)
{
    GPTOSS_ASSERT(a->n_kv_heads > 0 && a->n_heads % a->n_kv_heads == 0);
    if (a->n_tokens == 0)
        return;
    size_t max_keys = 1;
    for (uint32_t t = 0; t < a->n_tokens; t++) {
        size_t visible = a->positions[t] - cpu_first_visible(a->positions[t], a->window) + 1;
        if (visible > max_keys)
            max_keys = visible;
    }
    struct cpu_exec ex;
    cpu_begin(&ex);
    cpu_reserve_workers(&ex, max_keys * (a->n_heads / a->n_kv_heads));
    struct cpu_attention c = {.ex = &ex, .a = a};
    threadpool_run(ex.pool, a->n_tokens * a->n_kv_heads, cpu_attention_task, &c);
    cpu_end(&ex);
}

/* ---- small ops ------------------------------------------------------------------------------- */

static void cpu_rmsnorm(const float *x, size_t n, const struct tensor *gain, float eps, float *y)
{
    size_t d = (size_t)tensor_n_elements(gain);
    const struct simd_kernels *k = simd_kernels();
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        float *yi = y + i * d;
        float rinv = 1.0f / sqrtf(k->dot(xi, xi, d) / (float)d + eps);
        for (size_t j = 0; j < d; j++)
            yi[j] = tensor_get_f32(gain, j) * (xi[j] * rinv);
    }
}

/* ref.c's arithmetic exactly, with cos and sin computed once per token rather than per head. */
static void cpu_rope(float *x, size_t n, uint32_t n_heads, const uint32_t *positions,
                     const struct rope *rope)
{
    uint32_t dim = rope->head_dim, half = dim / 2;
    float cs[ROPE_MAX_HALF], sn[ROPE_MAX_HALF];
    for (size_t t = 0; t < n; t++) {
        float pos = (float)positions[t];
        for (uint32_t i = 0; i < half; i++) {
            float angle = pos * rope->inv_freq[i];
            cs[i] = cosf(angle) * rope->attention_factor;
            sn[i] = sinf(angle) * rope->attention_factor;
        }
        for (uint32_t h = 0; h < n_heads; h++) {
            float *u = x + (t * n_heads + h) * dim;
            for (uint32_t i = 0; i < half; i++) {
                float a = u[i], b = u[i + half];
                u[i] = a * cs[i] - b * sn[i];
                u[i + half] = b * cs[i] + a * sn[i];
            }
        }
    }
}

/* The cheap ops are the reference ones, called through its table (their bodies are static). */
static void cpu_embed(const struct tensor *table, const uint32_t *ids, size_t n, float *out)
{
    backend_cpu_ref()->embed(table, ids, n, out);
}

static void cpu_kv_write(const struct kv_layer *kv, uint32_t block_size, uint32_t kv_width,
                         const float *k, const float *v, const uint32_t *slots, size_t n)
{
    backend_cpu_ref()->kv_write(kv, block_size, kv_width, k, v, slots, n);
}

static void cpu_router_topk(const float *logits, size_t n, uint32_t n_experts, uint32_t k,
                            uint32_t *idx, float *w)
{
    backend_cpu_ref()->router_topk(logits, n, n_experts, k, idx, w);
}

static void cpu_swiglu(const float *u, size_t n, uint32_t n_ff, float alpha, float limit, float *a)
{
    backend_cpu_ref()->swiglu(u, n, n_ff, alpha, limit, a);
}

static void cpu_add_scaled(float *y, const float *x, size_t n_elements, float scale)
{
    backend_cpu_ref()->add_scaled(y, x, n_elements, scale);
}

static void cpu_matmul(const float *x, size_t n, const struct tensor *w, const struct tensor *bias,
                       float *y)
{
    cpu_matmul_with(x, n, w, bias, y, CPU_ACT_Q8);
}

static void cpu_matmul_f32(const float *x, size_t n, const struct tensor *w,
                           const struct tensor *bias, float *y)
{
    cpu_matmul_with(x, n, w, bias, y, CPU_ACT_F32);
}

static void cpu_matmul_bf16(const float *x, size_t n, const struct tensor *w,
                            const struct tensor *bias, float *y)
{
    cpu_matmul_with(x, n, w, bias, y, CPU_ACT_BF16);
}

static void cpu_expert_matmul(const float *x, size_t n, const struct expert_matrix *w,
                              uint32_t expert, float *y)
{
    cpu_expert_matmul_with(x, n, w, expert, y, CPU_ACT_Q8);
}

static void cpu_expert_matmul_f32(const float *x, size_t n, const struct expert_matrix *w,
                                  uint32_t expert, float *y)
{
    cpu_expert_matmul_with(x, n, w, expert, y, CPU_ACT_F32);
}

static void cpu_expert_matmul_bf16(const float *x, size_t n, const struct expert_matrix *w,
                                   uint32_t expert, float *y)
{
    cpu_expert_matmul_with(x, n, w, expert, y, CPU_ACT_BF16);
}

/* The two tables differ only in whether the weight products may take bf16 activations. */
#define CPU_OPS(MATMUL, EXPERT_MATMUL)                                                             \
    {                                                                                              \
        .name = "cpu", .embed = cpu_embed, .rmsnorm = cpu_rmsnorm, .matmul = MATMUL,               \
        .rope = cpu_rope, .kv_write = cpu_kv_write, .attention = cpu_attention,                    \
        .router_topk = cpu_router_topk, .expert_matmul = EXPERT_MATMUL, .swiglu = cpu_swiglu,      \
        .add_scaled = cpu_add_scaled,                                                              \
    }

const struct backend_ops *backend_cpu_f32(void)
{
    static const struct backend_ops ops = CPU_OPS(cpu_matmul_f32, cpu_expert_matmul_f32);
    return &ops;
}

const struct backend_ops *backend_cpu_bf16(void)
{
    static const struct backend_ops ops = CPU_OPS(cpu_matmul_bf16, cpu_expert_matmul_bf16);
    return &ops;
}

const struct backend_ops *backend_cpu(void)
{
    static const struct backend_ops ops = CPU_OPS(cpu_matmul, cpu_expert_matmul);
    return &ops;
}

bool backend_cpu_int8_activations(void)
{
    return simd_kernels()->q8 != NULL;
}

const char *backend_cpu_isa(void)
{
    return simd_kernels()->name;
}
