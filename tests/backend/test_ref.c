/* test_ref.c — the scalar reference backend against the spec's traps (gpt-oss.md §2.4, §2.5, §3,
 * Appendices A and C).
 *
 * Every expected value here is computed independently of src/backend: the FP4 table from its
 * bit-field formula, the YaRN table from Appendix A, attention and the MoE pieces with double
 * loops written straight from the formulas. Each test is built so that the classic wrong variant
 * (high nibble first, a transposed expert, rounded YaRN range, a scaled or missing sink, a window
 * of 127 or 129 keys, h % Hkv, an unclamped or NaN-producing SwiGLU, ties to the higher index)
 * gives a visibly different answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backend/backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct backend_ops *ops;

static int setup(void **state)
{
    (void)state;
    ops = backend_cpu_ref();
    return ops ? 0 : -1;
}

/* Fails with both numbers printed, which assert_true would not show. */
static void check_close_at(double got, double want, double abs_tol, double rel_tol,
                           const char *what, int line)
{
    double err = fabs(got - want);
    if (!(err <= abs_tol || err <= rel_tol * fabs(want)))
        fail_msg("line %d: %s: got %.9g, want %.9g (|diff| %.3g)", line, what, got, want, err);
}
#define check_close(got, want, abs_tol, rel_tol, what)                                             \
    check_close_at((got), (want), (abs_tol), (rel_tol), (what), __LINE__)

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

/* A small deterministic generator, so failures reproduce. */
static uint32_t lcg_state;
static uint32_t lcg_next(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state >> 8;
}
static float lcg_uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)(lcg_next() & 0xffff) / 65535.0f;
}

/* ---- tensor helpers ------------------------------------------------------------------------ */

static void test_tensor_helpers(void **state)
{
    (void)state;
    assert_int_equal(dtype_size(DTYPE_F32), 4);
    assert_int_equal(dtype_size(DTYPE_BF16), 2);
    assert_int_equal(dtype_size(DTYPE_U8), 1);
    assert_string_equal(dtype_name(DTYPE_F32), "F32");
    assert_string_equal(dtype_name(DTYPE_BF16), "BF16");
    assert_string_equal(dtype_name(DTYPE_U8), "U8");
    struct tensor t = {.n_dims = 4, .shape = {32, 2880, 90, 16}};
    assert_int_equal(tensor_n_elements(&t), (uint64_t)32 * 2880 * 90 * 16);
    t.n_dims = 0;
    assert_int_equal(tensor_n_elements(&t), 1);
    assert_true(bf16_to_f32(f32_to_bf16(1.5f)) == 1.5f);
    assert_true(bf16_to_f32(0xc0c0) == -6.0f);
}

/* ---- 1. MXFP4 decoding ------------------------------------------------------------------- */

/* bit 3 = sign, bits 2..1 = exponent, bit 0 = mantissa (gpt-oss.md §2.4). */
static double fp4_formula(unsigned code)
{
    unsigned sign = code >> 3, e = (code >> 1) & 3u, m = code & 1u;
    double mag = e == 0 ? 0.5 * m : (1.0 + m / 2.0) * ldexp(1.0, (int)e - 1);
    return sign ? -mag : mag;
}

static int same_bits(float a, float b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

static void test_mxfp4_values(void **state)
{
    (void)state;
    static const double table[16] = {0,  0.5,  1,  1.5,  2,  3,  4,  6,
                                     -0, -0.5, -1, -1.5, -2, -3, -4, -6};
    for (unsigned code = 0; code < 16; code++) {
        assert_true(fp4_formula(code) == table[code]);
        assert_true(same_bits(mxfp4_value((uint8_t)code), (float)fp4_formula(code)));
    }
    assert_true(signbit(mxfp4_value(8)));
    assert_false(signbit(mxfp4_value(0)));
}

static void check_block(const uint8_t block[16], uint8_t scale)
{
    float out[32];
    mxfp4_decode_block(block, scale, out);
    double mult = ldexp(1.0, (int)scale - 127);
    for (int j = 0; j < 16; j++) {
        float lo = (float)(fp4_formula(block[j] & 0x0fu) * mult);
        float hi = (float)(fp4_formula(block[j] >> 4) * mult);
        if (!same_bits(out[2 * j], lo) || !same_bits(out[2 * j + 1], hi))
            fail_msg("scale %u byte %d (0x%02x): got %g %g, want %g %g", scale, j, block[j],
                     out[2 * j], out[2 * j + 1], lo, hi);
    }
}

static void test_mxfp4_blocks(void **state)
{
    (void)state;
    static const uint8_t scales[] = {0, 1, 126, 127, 128, 254};
    for (size_t s = 0; s < sizeof(scales); s++) {
        uint8_t a[16], b[16], c[16];
        for (int j = 0; j < 16; j++) {
            a[j] = (uint8_t)(j | ((15 - j) << 4)); /* every code in both nibble positions */
            b[j] = (uint8_t)((15 - j) | (j << 4));
            c[j] = (uint8_t)(((j * 5 + 3) & 15) | (((j * 11 + 7) & 15) << 4));
        }
        check_block(a, scales[s]);
        check_block(b, scales[s]);
        check_block(c, scales[s]);
    }

    /* Explicit nibble order: 0x71 is element 0 = code 1 (+0.5), element 1 = code 7 (+6). */
    uint8_t block[16] = {0x71};
    float out[32];
    mxfp4_decode_block(block, 127, out);
    assert_true(out[0] == 0.5f);
    assert_true(out[1] == 6.0f);
    mxfp4_decode_block(block, 128, out);
    assert_true(out[0] == 1.0f && out[1] == 12.0f);
    /* Scale 0 is 2^-127: 0.5 of it is the subnormal 2^-128, not zero. */
    mxfp4_decode_block(block, 0, out);
    assert_true(out[0] > 0.0f);
    assert_true(out[0] == ldexpf(1.0f, -128));
    assert_true(out[1] == ldexpf(6.0f, -127));
    mxfp4_decode_block(block, 254, out);
    assert_true(out[1] == ldexpf(6.0f, 127));
}

/* ---- 2. Expert orientation ----------------------------------------------------------------- */

/* Builds a random MXFP4 expert set, its BF16_IO twin and the logical W[e][r][c] (as doubles,
 * decoded by the test's own formula), then checks that both formats give W[e] x + b exactly.
 * All values are dyadic with few bits, so every f32 sum is exact and the test can use ==. */
static void check_orientation(uint32_t n_experts, uint32_t n_out, uint32_t n_in, uint32_t seed)
{
    lcg_state = seed;
    uint32_t n_groups = n_in / 32;
    size_t n_w = (size_t)n_experts * n_out * n_in;
    uint8_t *blocks = malloc((size_t)n_experts * n_out * n_groups * 16);
    uint8_t *scales = malloc((size_t)n_experts * n_out * n_groups);
    uint16_t *weight_io = malloc(n_w * sizeof(uint16_t));
    double *w = malloc(n_w * sizeof(double));
    uint16_t *bias = malloc((size_t)n_experts * n_out * sizeof(uint16_t));
    const size_t n_rows = 3;
    float *x = malloc(n_rows * n_in * sizeof(float));
    float *y = malloc(n_rows * n_out * sizeof(float));
    assert_true(blocks && scales && weight_io && w && bias && x && y);

    for (uint32_t e = 0; e < n_experts; e++) {
        for (uint32_t r = 0; r < n_out; r++) {
            for (uint32_t g = 0; g < n_groups; g++) {
                size_t at = ((size_t)e * n_out + r) * n_groups + g;
                scales[at] = (uint8_t)(125 + lcg_next() % 5);
                for (int j = 0; j < 16; j++) {
                    uint8_t byte = (uint8_t)lcg_next();
                    blocks[at * 16 + j] = byte;
                    double mult = ldexp(1.0, (int)scales[at] - 127);
                    size_t row = ((size_t)e * n_out + r) * n_in + 32 * g;
                    w[row + 2 * j] = fp4_formula(byte & 0x0fu) * mult;
                    w[row + 2 * j + 1] = fp4_formula(byte >> 4) * mult;
                }
            }
            bias[(size_t)e * n_out + r] = f32_to_bf16(0.25f * (float)(e * n_out + r) - 3.0f);
        }
        /* transformers' unquantized layout is the transpose: [E][in][out]. */
        for (uint32_t c = 0; c < n_in; c++)
            for (uint32_t o = 0; o < n_out; o++)
                weight_io[((size_t)e * n_in + c) * n_out + o] =
                    f32_to_bf16((float)w[((size_t)e * n_out + o) * n_in + c]);
    }
    for (size_t i = 0; i < n_rows * n_in; i++)
        x[i] = (float)((int)(lcg_next() % 9) - 4) * 0.125f;

    struct tensor bias_t = tensor_2d(DTYPE_BF16, bias, n_experts, n_out);
    struct expert_matrix mx = {
        .format = EXPERT_MXFP4,
        .n_experts = n_experts,
        .n_out = n_out,
        .n_in = n_in,
        .blocks = blocks,
        .scales = scales,
        .bias = &bias_t,
    };
    struct expert_matrix io = {
        .format = EXPERT_BF16_IO,
        .n_experts = n_experts,
        .n_out = n_out,
        .n_in = n_in,
        .weight = weight_io,
        .bias = &bias_t,
    };

    int transposed_differs = 0;
    for (uint32_t e = 0; e < n_experts; e++) {
        for (int f = 0; f < 2; f++) {
            ops->expert_matmul(x, n_rows, f == 0 ? &mx : &io, e, y);
            for (size_t i = 0; i < n_rows; i++) {
                for (uint32_t o = 0; o < n_out; o++) {
                    double want = bf16_to_f32(bias[(size_t)e * n_out + o]);
                    double want_t = want;
                    for (uint32_t c = 0; c < n_in; c++) {
                        want += w[((size_t)e * n_out + o) * n_in + c] * x[i * n_in + c];
                        if (n_out == n_in)
                            want_t += w[((size_t)e * n_out + c) * n_in + o] * x[i * n_in + c];
                    }
                    if (n_out == n_in && want_t != want)
                        transposed_differs = 1;
                    if ((double)y[i * n_out + o] != want)
                        fail_msg("%s expert %u row %zu out %u: got %.9g, want %.9g",
                                 f == 0 ? "MXFP4" : "BF16_IO", e, i, o, y[i * n_out + o], want);
                }
            }
        }
    }
    /* For a square matrix a transposed reading would pass any shape check: make sure this one
     * would have been caught by the values. */
    if (n_out == n_in)
        assert_true(transposed_differs);

    free(blocks);
    free(scales);
    free(weight_io);
    free(w);
    free(bias);
    free(x);
    free(y);
}

static void test_expert_orientation(void **state)
{
    (void)state;
    check_orientation(2, 5, 64, 1);  /* n_out not a multiple of 32, two blocks per row */
    check_orientation(2, 64, 32, 2); /* more outputs than inputs */
    check_orientation(3, 32, 96, 3); /* more inputs than outputs; expert 2 checks the offsets */
    check_orientation(1, 32, 32, 4); /* square, like down_proj */
    check_orientation(2, 64, 64, 5);
}

/* ---- 3. YaRN ------------------------------------------------------------------------------- */

/* Appendix A, inv_freq column (float64). */
static const double appendix_a[32] = {
    1.000000000e+00, 6.890443059e-01, 4.747820555e-01, 3.271458719e-01, 2.254180002e-01,
    1.553229895e-01, 1.070244215e-01, 7.374456821e-02, 5.081327482e-02, 3.170569618e-02,
    1.933500113e-02, 1.159204926e-02, 6.794959490e-03, 3.860359317e-03, 2.093792379e-03,
    1.052602101e-03, 4.564839192e-04, 1.293187012e-04, 3.830881237e-05, 2.639646903e-05,
    1.818833668e-05, 1.253256982e-05, 8.635495875e-06, 5.950239261e-06, 4.099978482e-06,
    2.825066827e-06, 1.946596211e-06, 1.341291035e-06, 9.242089502e-07, 6.368209146e-07,
    4.387978251e-07, 3.023511428e-07,
};

static struct rope_params gpt_oss_rope(void)
{
    struct rope_params p = {
        .head_dim = 64,
        .theta = 150000.0f,
        .factor = 32.0f,
        .beta_fast = 32.0f,
        .beta_slow = 1.0f,
        .original_max_position = 4096,
        .truncate = false,
        .attention_factor = 0.0f,
    };
    return p;
}

static void test_yarn_table(void **state)
{
    (void)state;
    struct rope_params params = gpt_oss_rope();
    struct rope rope;
    rope_init(&rope, &params);
    assert_int_equal(rope.head_dim, 64);
    for (int i = 0; i < 32; i++)
        check_close(rope.inv_freq[i], appendix_a[i], 0.0, 1e-6, "yarn inv_freq");
    check_close(rope.attention_factor, 1.3465735902799727, 0.0, 1e-7, "mscale");
    assert_true(rope.attention_factor == 1.3465736f);

    /* Rounding the correction range to 8/18 (truncate) must change the blended entries. */
    params.truncate = true;
    struct rope truncated;
    rope_init(&truncated, &params);
    for (int i = 0; i < 32; i++) {
        double freq = pow(150000.0, 2.0 * i / 64.0);
        double ramp = fmin(fmax((i - 8.0) / 10.0, 0.0), 1.0);
        double want = (1.0 / freq) * (1.0 - ramp) + (1.0 / (32.0 * freq)) * ramp;
        check_close(truncated.inv_freq[i], want, 0.0, 1e-6, "truncated inv_freq");
        if (i >= 9 && i <= 17)
            assert_true(fabs(truncated.inv_freq[i] - rope.inv_freq[i]) > 1e-3 * rope.inv_freq[i]);
        else
            check_close(truncated.inv_freq[i], rope.inv_freq[i], 0.0, 1e-7, "outside the ramp");
    }

    /* factor <= 1 is plain RoPE; an explicit attention factor is honoured. */
    params = gpt_oss_rope();
    params.factor = 1.0f;
    rope_init(&rope, &params);
    assert_true(rope.attention_factor == 1.0f);
    for (int i = 0; i < 32; i++)
        check_close(rope.inv_freq[i], 1.0 / pow(150000.0, 2.0 * i / 64.0), 0.0, 1e-6,
                    "plain inv_freq");
    params = gpt_oss_rope();
    params.attention_factor = 2.0f;
    rope_init(&rope, &params);
    assert_true(rope.attention_factor == 2.0f);
}

static void test_rope_rotation(void **state)
{
    (void)state;
    static const uint32_t positions[] = {0, 1, 127, 128, 4095, 4096, 131071};
    const size_t n = sizeof(positions) / sizeof(positions[0]);
    const uint32_t n_heads = 64, S = 64;
    struct rope_params params = gpt_oss_rope();
    struct rope rope;
    rope_init(&rope, &params);

    /* Head h of every token holds the unit vector e_h, so the rotated heads spell out every
     * (cos, sin) pair and show which component each one lands in. */
    float *x = calloc(n * n_heads * S, sizeof(float));
    assert_non_null(x);
    for (size_t t = 0; t < n; t++)
        for (uint32_t h = 0; h < n_heads; h++)
            x[(t * n_heads + h) * S + h] = 1.0f;
    ops->rope(x, n, n_heads, positions, &rope);

    double m = 1.3465735902799727;
    for (size_t t = 0; t < n; t++) {
        for (uint32_t h = 0; h < n_heads; h++) {
            uint32_t i = h % 32;
            /* The spec computes the angle in f32; cos and sin of it here in double. */
            float angle = (float)positions[t] * rope.inv_freq[i];
            double c = cos((double)angle) * m, s = sin((double)angle) * m;
            const float *u = x + (t * n_heads + h) * S;
            for (uint32_t d = 0; d < S; d++) {
                double want = 0.0;
                if (h < 32 && d == i)
                    want = c;
                else if (h < 32 && d == i + 32)
                    want = s;
                else if (h >= 32 && d == i)
                    want = -s;
                else if (h >= 32 && d == h)
                    want = c;
                char what[64];
                snprintf(what, sizeof(what), "pos %u head %u comp %u", positions[t], h, d);
                check_close(u[d], want, 2e-6, 0.0, what);
            }
        }
    }
    free(x);
}

/* ---- attention ------------------------------------------------------------------------- */

/* A paged KV cache and the double-precision attention the spec writes down (§3.5, §3.6). */
struct toy_cache {
    uint32_t n_kv_heads, head_dim, block_size;
    struct kv_layer kv;
};

static void toy_cache_init(struct toy_cache *c, uint32_t n_blocks, uint32_t block_size,
                           uint32_t n_kv_heads, uint32_t head_dim)
{
    c->n_kv_heads = n_kv_heads;
    c->head_dim = head_dim;
    c->block_size = block_size;
    c->kv.n_blocks = n_blocks;
    size_t n = (size_t)n_blocks * block_size * n_kv_heads * head_dim;
    /* NaN everywhere unwritten, so reading a wrong slot cannot go unnoticed. */
    c->kv.k = malloc(n * sizeof(float));
    c->kv.v = malloc(n * sizeof(float));
    assert_non_null(c->kv.k);
    assert_non_null(c->kv.v);
    for (size_t i = 0; i < n; i++)
        c->kv.k[i] = c->kv.v[i] = NAN;
}

static void toy_cache_free(struct toy_cache *c)
{
    free(c->kv.k);
    free(c->kv.v);
}

static uint32_t slot_of(const uint32_t *table, uint32_t block_size, uint32_t pos)
{
    return table[pos / block_size] * block_size + pos % block_size;
}

/* Writes positions 0..n-1 of one sequence through the backend's kv_write. */
static void toy_cache_fill(struct toy_cache *c, const uint32_t *table, uint32_t n, const float *k,
                           const float *v)
{
    uint32_t *slots = malloc(n * sizeof(uint32_t));
    assert_non_null(slots);
    for (uint32_t p = 0; p < n; p++)
        slots[p] = slot_of(table, c->block_size, p);
    ops->kv_write(&c->kv, c->block_size, c->n_kv_heads * c->head_dim, k, v, slots, n);
    free(slots);
}

static void attention_double(const struct attention_args *a, double *out)
{
    uint32_t S = a->head_dim, group = a->n_heads / a->n_kv_heads;
    size_t kv_width = (size_t)a->n_kv_heads * S;
    for (uint32_t t = 0; t < a->n_tokens; t++) {
        uint32_t p = a->positions[t];
        uint32_t first = (a->window && p >= a->window) ? p - a->window + 1 : 0;
        const uint32_t *table = a->block_tables[a->seq_of_token[t]];
        for (uint32_t h = 0; h < a->n_heads; h++) {
            uint32_t g = h / group;
            const float *q = a->q + ((size_t)t * a->n_heads + h) * S;
            double mx = a->sinks ? a->sinks[h] : -INFINITY;
            for (uint32_t j = first; j <= p; j++) {
                const float *k = a->kv->k + slot_of(table, a->block_size, j) * kv_width + g * S;
                double dot = 0;
                for (uint32_t d = 0; d < S; d++)
                    dot += (double)q[d] * k[d];
                mx = fmax(mx, dot * a->scale);
            }
            double den = a->sinks ? exp(a->sinks[h] - mx) : 0.0;
            double *o = out + ((size_t)t * a->n_heads + h) * S;
            for (uint32_t d = 0; d < S; d++)
                o[d] = 0;
            for (uint32_t j = first; j <= p; j++) {
                size_t at = slot_of(table, a->block_size, j) * kv_width + g * S;
                double dot = 0;
                for (uint32_t d = 0; d < S; d++)
                    dot += (double)q[d] * a->kv->k[at + d];
                double e = exp(dot * a->scale - mx);
                den += e;
                for (uint32_t d = 0; d < S; d++)
                    o[d] += e * a->kv->v[at + d];
            }
            for (uint32_t d = 0; d < S; d++)
                o[d] /= den;
        }
    }
}

/* ---- 4. Sinks ---------------------------------------------------------------------------- */

static void test_attention_sinks(void **state)
{
    (void)state;
    const uint32_t Hq = 2, Hkv = 1, S = 4, B = 4, n_keys = 7;
    struct toy_cache c;
    toy_cache_init(&c, 3, B, Hkv, S);
    static const uint32_t table[] = {2, 0};
    lcg_state = 42;
    float k[7 * 4], v[7 * 4], q[2 * 4];
    for (int i = 0; i < 28; i++) {
        k[i] = lcg_uniform(-1.0f, 1.0f);
        v[i] = lcg_uniform(-2.0f, 2.0f);
    }
    for (int i = 0; i < 8; i++)
        q[i] = lcg_uniform(-1.0f, 1.0f);
    toy_cache_fill(&c, table, n_keys, k, v);

    const uint32_t *tables[] = {table};
    uint32_t pos = n_keys - 1, seq = 0;
    float out[8];
    double want[8], plain[8];
    struct attention_args a = {
        .q = q,
        .out = out,
        .n_tokens = 1,
        .n_heads = Hq,
        .n_kv_heads = Hkv,
        .head_dim = S,
        .block_size = B,
        .kv = &c.kv,
        .positions = &pos,
        .seq_of_token = &seq,
        .block_tables = tables,
        .window = 0,
        .sinks = NULL,
        .scale = 0.5f,
    };
    attention_double(&a, plain);

    /* No sinks: plain softmax attention. */
    ops->attention(&a);
    for (int i = 0; i < 8; i++)
        check_close(out[i], plain[i], 1e-6, 0.0, "no sink");

    /* A sink far below every logit takes no mass. */
    float low[2] = {-1000.0f, -1000.0f};
    a.sinks = low;
    ops->attention(&a);
    for (int i = 0; i < 8; i++)
        check_close(out[i], plain[i], 1e-6, 0.0, "sink << logits");

    /* A sink far above takes all of it and brings no value: the output vanishes. */
    float high[2] = {1000.0f, 1000.0f};
    a.sinks = high;
    ops->attention(&a);
    for (int i = 0; i < 8; i++) {
        assert_false(isnan(out[i]));
        check_close(out[i], 0.0, 1e-6, 0.0, "sink >> logits");
    }

    /* A comparable sink enters the denominator raw (not times scale), one per query head. */
    float mid[2] = {1.0f, -0.5f};
    a.sinks = mid;
    ops->attention(&a);
    attention_double(&a, want);
    for (int i = 0; i < 8; i++)
        check_close(out[i], want[i], 1e-6, 0.0, "comparable sink");
    float scaled[2] = {mid[0] * a.scale, mid[1] * a.scale};
    a.sinks = scaled;
    double wrong[8];
    attention_double(&a, wrong);
    double max_diff = 0;
    for (int i = 0; i < 8; i++)
        max_diff = fmax(max_diff, fabs(wrong[i] - want[i]));
    assert_true(max_diff > 1e-3); /* the scaled-sink variant would have been caught */

    toy_cache_free(&c);
}

/* ---- 5. Sliding window over a scrambled block table ------------------------------------- */

static void test_attention_window(void **state)
{
    (void)state;
    const uint32_t Hq = 2, Hkv = 1, S = 2, B = 16, n_blocks = 32;
    const uint32_t seq_len[2] = {301, 160};
    struct toy_cache c;
    toy_cache_init(&c, n_blocks, B, Hkv, S);

    /* Blocks handed out in a scrambled order: 3, 10, 17, 24, 31, 6, ... */
    uint32_t tables[2][19];
    uint32_t next = 0;
    for (int s = 0; s < 2; s++)
        for (uint32_t b = 0; b < (seq_len[s] + B - 1) / B; b++, next++)
            tables[s][b] = (next * 7 + 3) % n_blocks;

    /* Keys are all zero and the sinks 0, so every visible key and the sink weigh the same:
     * out[0] = count / (count + 1) and out[1] = sum(id) / (count + 1) tell exactly which keys
     * were read (a window shifted by one keeps the count but changes the sum). */
    for (int s = 0; s < 2; s++) {
        float *k = calloc(seq_len[s] * S, sizeof(float));
        float *v = malloc(seq_len[s] * S * sizeof(float));
        assert_non_null(k);
        assert_non_null(v);
        for (uint32_t j = 0; j < seq_len[s]; j++) {
            v[j * S] = 1.0f;
            v[j * S + 1] = (float)(j + 1000 * s);
        }
        toy_cache_fill(&c, tables[s], seq_len[s], k, v);
        free(k);
        free(v);
    }

    static const uint32_t positions[] = {0, 1, 126, 127, 128, 129, 200, 300, 5, 127, 128, 159};
    static const uint32_t seqs[] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1};
    const uint32_t n = sizeof(positions) / sizeof(positions[0]);
    const uint32_t *table_ptrs[] = {tables[0], tables[1]};
    float q[12 * 2 * 2], out[12 * 2 * 2];
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
        q[i] = (float)i - 7.0f;
    static const float sinks[2] = {0.0f, 0.0f};
    struct attention_args a = {
        .q = q,
        .out = out,
        .n_tokens = n,
        .n_heads = Hq,
        .n_kv_heads = Hkv,
        .head_dim = S,
        .block_size = B,
        .kv = &c.kv,
        .positions = positions,
        .seq_of_token = seqs,
        .block_tables = table_ptrs,
        .window = 128,
        .sinks = sinks,
        .scale = 0.125f,
    };

    for (int pass = 0; pass < 2; pass++) {
        a.window = pass == 0 ? 128 : 0;
        ops->attention(&a);
        for (uint32_t t = 0; t < n; t++) {
            uint32_t p = positions[t];
            uint32_t first = (a.window && p >= 127) ? p - 127 : 0; /* p-127 in, p-128 out */
            double count = p - first + 1, sum = 0;
            for (uint32_t j = first; j <= p; j++)
                sum += j + 1000.0 * seqs[t];
            for (uint32_t h = 0; h < Hq; h++) {
                char what[64];
                snprintf(what, sizeof(what), "window %u pos %u head %u", a.window, p, h);
                check_close(out[(t * Hq + h) * S], count / (count + 1), 1e-5, 0.0, what);
                check_close(out[(t * Hq + h) * S + 1], sum / (count + 1), 0.05, 1e-5, what);
            }
        }
    }
    toy_cache_free(&c);
}

/* Everything at once on random data: GQA, two sequences, window, sinks, against doubles. */
static void test_attention_random(void **state)
{
    (void)state;
    const uint32_t Hq = 8, Hkv = 2, S = 16, B = 4, n_blocks = 12, window = 5;
    struct toy_cache c;
    toy_cache_init(&c, n_blocks, B, Hkv, S);
    static const uint32_t table0[] = {7, 1, 4, 10, 2};
    static const uint32_t table1[] = {0, 11, 5, 3, 9, 6, 8};
    const uint32_t *tables[] = {table0, table1};
    const uint32_t len[2] = {18, 27};
    lcg_state = 7;
    for (int s = 0; s < 2; s++) {
        size_t nkv = (size_t)len[s] * Hkv * S;
        float *k = malloc(nkv * sizeof(float)), *v = malloc(nkv * sizeof(float));
        assert_non_null(k);
        assert_non_null(v);
        for (size_t i = 0; i < nkv; i++) {
            k[i] = lcg_uniform(-1.0f, 1.0f);
            v[i] = lcg_uniform(-1.0f, 1.0f);
        }
        toy_cache_fill(&c, tables[s], len[s], k, v);
        free(k);
        free(v);
    }
    static const uint32_t positions[] = {17, 0, 26, 3, 4, 5, 12, 25};
    static const uint32_t seqs[] = {0, 1, 1, 0, 1, 0, 0, 1};
    const uint32_t n = 8;
    float q[8 * 8 * 16], out[8 * 8 * 16], sinks[8];
    double want[8 * 8 * 16];
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
        q[i] = lcg_uniform(-2.0f, 2.0f);
    for (int h = 0; h < 8; h++)
        sinks[h] = lcg_uniform(-2.0f, 2.0f);
    struct attention_args a = {
        .q = q,
        .out = out,
        .n_tokens = n,
        .n_heads = Hq,
        .n_kv_heads = Hkv,
        .head_dim = S,
        .block_size = B,
        .kv = &c.kv,
        .positions = positions,
        .seq_of_token = seqs,
        .block_tables = tables,
        .window = window,
        .sinks = sinks,
        .scale = 0.25f,
    };
    for (int pass = 0; pass < 2; pass++) {
        a.window = pass == 0 ? window : 0;
        a.sinks = pass == 0 ? sinks : NULL;
        ops->attention(&a);
        attention_double(&a, want);
        for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
            check_close(out[i], want[i], 1e-6, 1e-5, "random attention");
    }
    toy_cache_free(&c);
}

/* ---- 8. GQA mapping and kv_write --------------------------------------------------------- */

static void test_attention_gqa(void **state)
{
    (void)state;
    const uint32_t Hq = 4, Hkv = 2, S = 2, B = 4;
    struct toy_cache c;
    toy_cache_init(&c, 2, B, Hkv, S);
    static const uint32_t table[] = {1};
    /* One key: softmax weight 1, so each query head returns exactly its kv head's value. */
    const float k[4] = {0.5f, -1.0f, 2.0f, 0.25f};
    const float v[4] = {1.0f, 2.0f, 10.0f, 20.0f};
    toy_cache_fill(&c, table, 1, k, v);
    const uint32_t *tables[] = {table};
    uint32_t pos = 0, seq = 0;
    float q[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8];
    struct attention_args a = {
        .q = q,
        .out = out,
        .n_tokens = 1,
        .n_heads = Hq,
        .n_kv_heads = Hkv,
        .head_dim = S,
        .block_size = B,
        .kv = &c.kv,
        .positions = &pos,
        .seq_of_token = &seq,
        .block_tables = tables,
        .scale = 0.125f,
    };
    ops->attention(&a);
    /* h / (Hq/Hkv): heads 0,1 → kv 0 and 2,3 → kv 1 (h % Hkv would give 0,1,0,1). */
    static const float want[8] = {1, 2, 1, 2, 10, 20, 10, 20};
    for (int i = 0; i < 8; i++)
        assert_true(out[i] == want[i]);
    toy_cache_free(&c);
}

static void test_kv_write(void **state)
{
    (void)state;
    const uint32_t B = 4, width = 6, n_blocks = 3;
    float kbuf[3 * 4 * 6], vbuf[3 * 4 * 6];
    for (int i = 0; i < 72; i++)
        kbuf[i] = vbuf[i] = -1.0f;
    struct kv_layer kv = {.k = kbuf, .v = vbuf, .n_blocks = n_blocks};
    float k[3 * 6], v[3 * 6];
    for (int i = 0; i < 18; i++) {
        k[i] = (float)i;
        v[i] = 100.0f + (float)i;
    }
    static const uint32_t slots[3] = {9, 0, 7}; /* block 2 offset 1, block 0 offset 0, ... */
    ops->kv_write(&kv, B, width, k, v, slots, 3);
    for (uint32_t slot = 0; slot < n_blocks * B; slot++) {
        int row = -1;
        for (int i = 0; i < 3; i++)
            if (slots[i] == slot)
                row = i;
        for (uint32_t d = 0; d < width; d++) {
            float wk = row < 0 ? -1.0f : k[row * width + d];
            float wv = row < 0 ? -1.0f : v[row * width + d];
            assert_true(kbuf[slot * width + d] == wk);
            assert_true(vbuf[slot * width + d] == wv);
        }
    }
}

/* ---- 6. SwiGLU --------------------------------------------------------------------------- */

static double swiglu_double(double g, double u, double alpha, double limit)
{
    g = fmin(g, limit);
    u = fmin(fmax(u, -limit), limit);
    return g / (1.0 + exp(-alpha * g)) * (u + 1.0);
}

static void test_swiglu(void **state)
{
    (void)state;
    const float alpha = 1.702f, limit = 7.0f;
    /* Interleaved (gate, up) pairs: even entries gate, odd entries up. */
    static const float u[2][16] = {
        {20.0f, 0.0f, 7.0f, 0.0f, -20.0f, 0.0f, -1e30f, 3.0f, 1.0f, 20.0f, 1.0f, -20.0f, 2.0f, 3.0f,
         3.0f, 2.0f},
        {-1e30f, -20.0f, 0.5f, -0.5f, -3.0f, 6.5f, 6.9f, -7.5f, -0.0f, 1.0f, 100.0f, 100.0f, -88.0f,
         1.0f, 0.0f, 0.0f},
    };
    float a[2][8];
    ops->swiglu(&u[0][0], 2, 8, alpha, limit, &a[0][0]);
    for (int r = 0; r < 2; r++) {
        for (int c = 0; c < 8; c++) {
            assert_false(isnan(a[r][c]));
            check_close(a[r][c], swiglu_double(u[r][2 * c], u[r][2 * c + 1], alpha, limit), 1e-12,
                        2e-6, "swiglu");
        }
    }
    assert_true(a[0][0] == a[0][1]);      /* gate 20 behaves as gate 7 */
    assert_true(fabsf(a[0][2]) < 1e-12f); /* gate -20: ~0 */
    assert_true(a[0][3] == 0.0f);         /* gate -1e30: (-)0, not NaN */
    assert_true(a[1][0] == 0.0f);         /* gate -1e30, up -20 */
    check_close(a[0][4], 1.0 / (1.0 + exp(-1.702)) * 8.0, 0, 1e-6, "up 20 → 7 (+1)");
    check_close(a[0][5], 1.0 / (1.0 + exp(-1.702)) * -6.0, 0, 1e-6, "up -20 → -7 (+1)");
    /* (2, 3) and (3, 2) differ: a half-split or swapped reading would mix them up. */
    check_close(a[0][6], 2.0 / (1.0 + exp(-1.702 * 2)) * 4.0, 0, 1e-6, "gate 2 up 3");
    check_close(a[0][7], 3.0 / (1.0 + exp(-1.702 * 3)) * 3.0, 0, 1e-6, "gate 3 up 2");

    /* The limit is the argument, not a constant. */
    float u2[2] = {6.0f, 6.0f}, a2;
    ops->swiglu(u2, 1, 1, alpha, 5.0f, &a2);
    check_close(a2, 5.0 / (1.0 + exp(-1.702 * 5)) * 6.0, 0, 1e-6, "limit 5");
}

/* ---- 7. Router --------------------------------------------------------------------------- */

static void test_router_topk(void **state)
{
    (void)state;
    static const float logits[3][8] = {
        {1.0f, 3.0f, 3.0f, 0.5f, 3.0f, 2.0f, 3.0f, 3.0f},
        {0.1f, 5.0f, 2.0f, 2.0f, 4.0f, -3.0f, 2.0f, 1.0f},
        {-1.0f, -2.0f, -0.5f, -8.0f, -0.25f, -3.0f, 0.75f, -0.5f},
    };
    static const uint32_t want_idx[3][4] = {{1, 2, 4, 6}, {1, 4, 2, 3}, {6, 4, 2, 7}};
    uint32_t idx[3][4];
    float w[3][4];
    ops->router_topk(&logits[0][0], 3, 8, 4, &idx[0][0], &w[0][0]);
    for (int r = 0; r < 3; r++) {
        double den = 0, sum = 0;
        for (int s = 0; s < 4; s++) {
            assert_int_equal(idx[r][s], want_idx[r][s]);
            den += exp(logits[r][want_idx[r][s]]);
        }
        for (int s = 0; s < 4; s++) {
            check_close(w[r][s], exp(logits[r][want_idx[r][s]]) / den, 0, 1e-6, "router w");
            if (s > 0)
                assert_true(w[r][s] <= w[r][s - 1]);
            sum += w[r][s];
        }
        check_close(sum, 1.0, 1e-6, 0, "router weights sum");
    }
    check_close(w[0][0], 0.25, 0, 1e-7, "ties");

    /* k = 1 gives weight exactly 1. */
    ops->router_topk(&logits[1][0], 1, 8, 1, &idx[0][0], &w[0][0]);
    assert_int_equal(idx[0][0], 1);
    assert_true(w[0][0] == 1.0f);
}

/* ---- 8. Dense ops ------------------------------------------------------------------------ */

static void test_rmsnorm(void **state)
{
    (void)state;
    const size_t n = 2, D = 5;
    float x[10] = {1.0f, -2.0f, 3.0f, 0.5f, -0.25f, 100.0f, 200.0f, -300.0f, 1e-3f, 0.0f};
    const float gain_f[5] = {1.0f, 0.5f, 2.0f, -1.0f, 3.0f};
    uint16_t gain_b[5];
    for (int i = 0; i < 5; i++)
        gain_b[i] = f32_to_bf16(gain_f[i]);
    const float eps = 1e-5f;
    double want[10];
    for (size_t i = 0; i < n; i++) {
        double ss = 0;
        for (size_t j = 0; j < D; j++)
            ss += (double)x[i * D + j] * x[i * D + j];
        double rinv = 1.0 / sqrt(ss / D + eps);
        for (size_t j = 0; j < D; j++)
            want[i * D + j] = gain_f[j] * x[i * D + j] * rinv;
    }
    float y[10];
    struct tensor gf = tensor_1d(DTYPE_F32, gain_f, D);
    ops->rmsnorm(x, n, &gf, eps, y);
    for (int i = 0; i < 10; i++)
        check_close(y[i], want[i], 1e-7, 1e-6, "rmsnorm f32");

    /* bf16 gain, in place. */
    struct tensor gb = tensor_1d(DTYPE_BF16, gain_b, D);
    ops->rmsnorm(x, n, &gb, eps, x);
    for (int i = 0; i < 10; i++)
        check_close(x[i], want[i], 1e-7, 1e-6, "rmsnorm in place");

    /* eps matters for a near-zero row. */
    float z[5] = {1e-4f, 0, 0, 0, 0}, zy[5];
    ops->rmsnorm(z, 1, &gf, eps, zy);
    check_close(zy[0], 1e-4 / sqrt(1e-8 / 5 + 1e-5), 0, 1e-5, "rmsnorm eps");
}

static void test_matmul(void **state)
{
    (void)state;
    enum { N = 2, OUT = 3, IN = 5 };
    const float x[N * IN] = {1, 2, 3, 4, 5, -1, 0.5f, 0.25f, -2, 8};
    float w_f[OUT * IN];
    uint16_t w_b[OUT * IN];
    for (int i = 0; i < OUT * IN; i++) {
        w_f[i] = 0.125f * (float)(i * i % 7) - 0.375f + 0.01f * (float)i;
        w_b[i] = f32_to_bf16(w_f[i]);
    }
    const float b_f[OUT] = {0.5f, -1.0f, 2.0f};
    uint16_t b_b[OUT];
    for (int i = 0; i < OUT; i++)
        b_b[i] = f32_to_bf16(b_f[i]);

    for (int variant = 0; variant < 4; variant++) {
        int bf16 = variant & 1, with_bias = variant >> 1;
        struct tensor w =
            bf16 ? tensor_2d(DTYPE_BF16, w_b, OUT, IN) : tensor_2d(DTYPE_F32, w_f, OUT, IN);
        struct tensor b = bf16 ? tensor_1d(DTYPE_BF16, b_b, OUT) : tensor_1d(DTYPE_F32, b_f, OUT);
        float y[N * OUT];
        ops->matmul(x, N, &w, with_bias ? &b : NULL, y);
        for (int i = 0; i < N; i++) {
            for (int o = 0; o < OUT; o++) {
                double want = with_bias ? tensor_get_f32(&b, o) : 0.0;
                for (int c = 0; c < IN; c++)
                    want += (double)tensor_get_f32(&w, (uint64_t)o * IN + c) * x[i * IN + c];
                check_close(y[i * OUT + o], want, 1e-6, 1e-6, "matmul");
            }
        }
    }
}

static void test_embed(void **state)
{
    (void)state;
    uint16_t table[4 * 3];
    for (int i = 0; i < 12; i++)
        table[i] = f32_to_bf16((float)(i - 6) * 0.375f + 0.001f * (float)i);
    struct tensor t = tensor_2d(DTYPE_BF16, table, 4, 3);
    static const uint32_t ids[3] = {2, 0, 3};
    float out[9];
    ops->embed(&t, ids, 3, out);
    for (int i = 0; i < 3; i++)
        for (int d = 0; d < 3; d++)
            assert_true(out[i * 3 + d] == bf16_to_f32(table[ids[i] * 3 + d]));

    float table_f[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct tensor tf = tensor_2d(DTYPE_F32, table_f, 2, 4);
    static const uint32_t ids2[2] = {1, 1};
    float out2[8];
    ops->embed(&tf, ids2, 2, out2);
    for (int d = 0; d < 8; d++)
        assert_true(out2[d] == table_f[4 + d % 4]);
}

static void test_add_scaled(void **state)
{
    (void)state;
    float y[4] = {1, 2, 3, 4};
    const float x[4] = {10, -20, 0.5f, 0};
    ops->add_scaled(y, x, 3, 0.25f);
    assert_true(y[0] == 3.5f && y[1] == -3.0f && y[2] == 3.125f && y[3] == 4.0f);
    assert_non_null(ops->name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_helpers),   cmocka_unit_test(test_mxfp4_values),
        cmocka_unit_test(test_mxfp4_blocks),     cmocka_unit_test(test_expert_orientation),
        cmocka_unit_test(test_yarn_table),       cmocka_unit_test(test_rope_rotation),
        cmocka_unit_test(test_attention_sinks),  cmocka_unit_test(test_attention_window),
        cmocka_unit_test(test_attention_random), cmocka_unit_test(test_attention_gqa),
        cmocka_unit_test(test_kv_write),         cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_router_topk),      cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_matmul),           cmocka_unit_test(test_embed),
        cmocka_unit_test(test_add_scaled),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
