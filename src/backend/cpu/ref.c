/* ref.c — the plain scalar backend: the oracle every faster backend is tested against.
 *
 * Each op is the obvious loop over the formula in gpt-oss.md §3, in f32, accumulating in index
 * order, so that its numbers are those of transformers' fp32 eager path up to summation order and
 * libm rounding. Nothing here is tuned; clarity wins over speed, but every op keeps the natural
 * cost (attention reads only the visible keys). Also here: the shared pieces every backend needs
 * to agree on exactly — the YaRN table (rope_init) and MXFP4 decoding.
 */
#include "backend/backend.h"

#include "base/error.h"
#include "base/xalloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REF_PI 3.14159265358979323846

/* ---- RoPE / YaRN ------------------------------------------------------------------------- */

/* The head dimension at which `n_rotations` full turns fit in the original context; done in
 * double because transformers computes it with Python floats. */
static double yarn_correction_dim(double n_rotations, double dim, double base, double orig_ctx)
{
    return (dim * log(orig_ctx / (n_rotations * 2.0 * REF_PI))) / (2.0 * log(base));
}

void rope_init(struct rope *rope, const struct rope_params *params)
{
    uint32_t dim = params->head_dim;
    GPTOSS_ASSERT(dim >= 2 && dim % 2 == 0 && dim / 2 <= ROPE_MAX_HALF);
    uint32_t half = dim / 2;
    memset(rope, 0, sizeof(*rope));
    rope->head_dim = dim;

    /* torch evaluates base ** (arange(0, dim, 2).float() / dim) in f32: keep every step f32. */
    float pos_freqs[ROPE_MAX_HALF];
    for (uint32_t i = 0; i < half; i++)
        pos_freqs[i] = powf(params->theta, (float)(2 * i) / (float)dim);

    if (params->factor <= 1.0f) {
        for (uint32_t i = 0; i < half; i++)
            rope->inv_freq[i] = 1.0f / pos_freqs[i];
        rope->attention_factor = params->attention_factor > 0.0f ? params->attention_factor : 1.0f;
        return;
    }

    double low =
        yarn_correction_dim(params->beta_fast, dim, params->theta, params->original_max_position);
    double high =
        yarn_correction_dim(params->beta_slow, dim, params->theta, params->original_max_position);
    if (params->truncate) {
        low = floor(low);
        high = ceil(high);
    }
    if (low < 0.0)
        low = 0.0;
    if (high > (double)(dim - 1))
        high = (double)(dim - 1);
    if (low == high)
        high += 0.001;

    /* torch subtracts and divides the Python scalars from an f32 arange: both become f32. */
    float low_f = (float)low;
    float range_f = (float)(high - low);
    float factor = params->factor;
    for (uint32_t i = 0; i < half; i++) {
        float extrap = 1.0f / pos_freqs[i];
        float interp = 1.0f / (factor * pos_freqs[i]);
        float ramp = ((float)i - low_f) / range_f;
        if (ramp < 0.0f)
            ramp = 0.0f;
        if (ramp > 1.0f)
            ramp = 1.0f;
        float extrap_factor = 1.0f - ramp;
        rope->inv_freq[i] = interp * (1.0f - extrap_factor) + extrap * extrap_factor;
    }
    rope->attention_factor = params->attention_factor > 0.0f
                                 ? params->attention_factor
                                 : (float)(0.1 * log((double)factor) + 1.0);
}

static void ref_rope(float *x, size_t n, uint32_t n_heads, const uint32_t *positions,
                     const struct rope *rope)
{
    uint32_t dim = rope->head_dim;
    uint32_t half = dim / 2;
    for (size_t t = 0; t < n; t++) {
        float pos = (float)positions[t];
        for (uint32_t h = 0; h < n_heads; h++) {
            float *u = x + (t * n_heads + h) * dim;
            for (uint32_t i = 0; i < half; i++) {
                float angle = pos * rope->inv_freq[i];
                float c = cosf(angle) * rope->attention_factor;
                float s = sinf(angle) * rope->attention_factor;
                float a = u[i];
                float b = u[i + half];
                u[i] = a * c - b * s;
                u[i + half] = b * c + a * s;
            }
        }
    }
}

/* ---- MXFP4 ------------------------------------------------------------------------------- */

float mxfp4_value(uint8_t code)
{
    static const float lut[16] = {
        +0.0f, +0.5f, +1.0f, +1.5f, +2.0f, +3.0f, +4.0f, +6.0f,
        -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f,
    };
    return lut[code & 0x0f];
}

void mxfp4_decode_block(const uint8_t block[16], uint8_t scale, float out[32])
{
    /* 2^(scale-127) is a float for every scale (2^-127 as a subnormal), and FP4 values have at
     * most two significant bits, so each product is exact: the same numbers ldexp gives. */
    float factor = ldexpf(1.0f, (int)scale - 127);
    for (int j = 0; j < 16; j++) {
        out[2 * j] = mxfp4_value(block[j] & 0x0f) * factor;
        out[2 * j + 1] = mxfp4_value(block[j] >> 4) * factor;
    }
}

/* ---- dense ops --------------------------------------------------------------------------- */

static void ref_embed(const struct tensor *table, const uint32_t *ids, size_t n, float *out)
{
    GPTOSS_ASSERT(table->n_dims == 2);
    uint64_t n_rows = table->shape[0];
    uint64_t d = table->shape[1];
    for (size_t i = 0; i < n; i++) {
        GPTOSS_ASSERT(ids[i] < n_rows);
        for (uint64_t j = 0; j < d; j++)
            out[i * d + j] = tensor_get_f32(table, (uint64_t)ids[i] * d + j);
    }
}

static void ref_rmsnorm(const float *x, size_t n, const struct tensor *gain, float eps, float *y)
{
    size_t d = (size_t)tensor_n_elements(gain);
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        float *yi = y + i * d;
        float sum_sq = 0.0f;
        for (size_t j = 0; j < d; j++)
            sum_sq += xi[j] * xi[j];
        float rinv = 1.0f / sqrtf(sum_sq / (float)d + eps);
        /* transformers normalizes first, then multiplies by the gain: keep that rounding. */
        for (size_t j = 0; j < d; j++)
            yi[j] = tensor_get_f32(gain, j) * (xi[j] * rinv);
    }
}

static void ref_matmul(const float *x, size_t n, const struct tensor *w, const struct tensor *bias,
                       float *y)
{
    GPTOSS_ASSERT(w->n_dims == 2);
    uint64_t n_out = w->shape[0];
    uint64_t n_in = w->shape[1];
    GPTOSS_ASSERT(!bias || tensor_n_elements(bias) == n_out);
    /* Weight rows outer, so each is read (and widened to f32) once for all n input rows. */
    float *wrow = xmalloc(n_in * sizeof(float));
    for (uint64_t o = 0; o < n_out; o++) {
        for (uint64_t k = 0; k < n_in; k++)
            wrow[k] = tensor_get_f32(w, o * n_in + k);
        float b = bias ? tensor_get_f32(bias, o) : 0.0f;
        for (size_t i = 0; i < n; i++) {
            const float *xi = x + i * n_in;
            float acc = 0.0f;
            for (uint64_t k = 0; k < n_in; k++)
                acc += wrow[k] * xi[k];
            y[i * n_out + o] = bias ? acc + b : acc;
        }
    }
    free(wrow);
}

static void ref_add_scaled(float *y, const float *x, size_t n_elements, float scale)
{
    for (size_t i = 0; i < n_elements; i++)
        y[i] += scale * x[i];
}

/* ---- attention --------------------------------------------------------------------------- */

static void ref_kv_write(const struct kv_layer *kv, uint32_t block_size, uint32_t kv_width,
                         const float *k, const float *v, const uint32_t *slots, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        GPTOSS_ASSERT(slots[i] < (uint64_t)kv->n_blocks * block_size);
        size_t at = (size_t)slots[i] * kv_width;
        memcpy(kv->k + at, k + i * kv_width, kv_width * sizeof(float));
        memcpy(kv->v + at, v + i * kv_width, kv_width * sizeof(float));
    }
}

/* The first key position a query at `pos` may see. */
static uint32_t first_visible(uint32_t pos, uint32_t window)
{
    if (window == 0 || pos + 1 <= window)
        return 0;
    return pos + 1 - window;
}

static void ref_attention(const struct attention_args *a)
{
    uint32_t S = a->head_dim;
    uint32_t Hq = a->n_heads;
    uint32_t Hkv = a->n_kv_heads;
    GPTOSS_ASSERT(Hkv > 0 && Hq % Hkv == 0);
    uint32_t group = Hq / Hkv;
    size_t q_width = (size_t)Hq * S;
    size_t kv_width = (size_t)Hkv * S;

    size_t max_keys = 1;
    for (uint32_t t = 0; t < a->n_tokens; t++) {
        size_t visible = a->positions[t] - first_visible(a->positions[t], a->window) + 1;
        if (visible > max_keys)
            max_keys = visible;
    }
    float *logits = xmalloc(max_keys * sizeof(float));

    for (uint32_t t = 0; t < a->n_tokens; t++) {
        uint32_t pos = a->positions[t];
        uint32_t first = first_visible(pos, a->window);
        uint32_t n_keys = pos - first + 1;
        const uint32_t *table = a->block_tables[a->seq_of_token[t]];
        for (uint32_t h = 0; h < Hq; h++) {
            uint32_t g = h / group;
            const float *q = a->q + t * q_width + (size_t)h * S;
            float *out = a->out + t * q_width + (size_t)h * S;

            float max = a->sinks ? a->sinks[h] : -INFINITY;
            for (uint32_t j = 0; j < n_keys; j++) {
                uint32_t key = first + j;
                size_t slot =
                    (size_t)table[key / a->block_size] * a->block_size + key % a->block_size;
                GPTOSS_ASSERT(slot < (size_t)a->kv->n_blocks * a->block_size);
                const float *k = a->kv->k + slot * kv_width + (size_t)g * S;
                float dot = 0.0f;
                for (uint32_t d = 0; d < S; d++)
                    dot += q[d] * k[d];
                logits[j] = dot * a->scale;
                if (logits[j] > max)
                    max = logits[j];
            }

            /* The sink is one more softmax column with no value: it only joins the max and the
             * denominator. */
            float denom = a->sinks ? expf(a->sinks[h] - max) : 0.0f;
            for (uint32_t j = 0; j < n_keys; j++) {
                logits[j] = expf(logits[j] - max);
                denom += logits[j];
            }

            for (uint32_t d = 0; d < S; d++)
                out[d] = 0.0f;
            for (uint32_t j = 0; j < n_keys; j++) {
                uint32_t key = first + j;
                size_t slot =
                    (size_t)table[key / a->block_size] * a->block_size + key % a->block_size;
                const float *v = a->kv->v + slot * kv_width + (size_t)g * S;
                float p = logits[j] / denom;
                for (uint32_t d = 0; d < S; d++)
                    out[d] += p * v[d];
            }
        }
    }
    free(logits);
}

/* ---- MoE --------------------------------------------------------------------------------- */

static void ref_router_topk(const float *logits, size_t n, uint32_t n_experts, uint32_t k,
                            uint32_t *idx, float *w)
{
    GPTOSS_ASSERT(k >= 1 && k <= n_experts);
    unsigned char *taken = xmalloc(n_experts);
    for (size_t i = 0; i < n; i++) {
        const float *row = logits + i * n_experts;
        uint32_t *row_idx = idx + i * k;
        float *row_w = w + i * k;
        memset(taken, 0, n_experts);
        /* k passes of "largest not yet taken": a strict > keeps the lowest index on ties. */
        for (uint32_t s = 0; s < k; s++) {
            uint32_t best = UINT32_MAX;
            for (uint32_t e = 0; e < n_experts; e++) {
                if (taken[e])
                    continue;
                if (best == UINT32_MAX || row[e] > row[best])
                    best = e;
            }
            taken[best] = 1;
            row_idx[s] = best;
        }
        float max = row[row_idx[0]];
        float sum = 0.0f;
        for (uint32_t s = 0; s < k; s++) {
            row_w[s] = expf(row[row_idx[s]] - max);
            sum += row_w[s];
        }
        for (uint32_t s = 0; s < k; s++)
            row_w[s] /= sum;
    }
    free(taken);
}

static void ref_expert_matmul(const float *x, size_t n, const struct expert_matrix *w,
                              uint32_t expert, float *y)
{
    GPTOSS_ASSERT(expert < w->n_experts);
    uint32_t n_out = w->n_out;
    uint32_t n_in = w->n_in;
    size_t e = expert;
    size_t bias_at = e * (w->bias_stride ? w->bias_stride : n_out) + w->bias_first;

    /* Each weight row is decoded once per call and reused for every input row, so a prefill
     * chunk costs one decode of the expert, as the reference's one-time dequantisation does. */
    float *wrow = xmalloc((size_t)n_in * sizeof(float));
    if (w->format == EXPERT_MXFP4) {
        GPTOSS_ASSERT(n_in % 32 == 0);
        size_t n_groups = n_in / 32;
        for (uint32_t r = 0; r < n_out; r++) {
            size_t row = (e * n_out + r) * n_groups;
            for (size_t g = 0; g < n_groups; g++)
                mxfp4_decode_block(w->blocks + (row + g) * 16, w->scales[row + g], wrow + g * 32);
            float bias = w->bias ? tensor_get_f32(w->bias, bias_at + r) : 0.0f;
            for (size_t i = 0; i < n; i++) {
                const float *xi = x + i * n_in;
                float acc = 0.0f;
                for (uint32_t c = 0; c < n_in; c++)
                    acc += wrow[c] * xi[c];
                y[i * n_out + r] = acc + bias;
            }
        }
        free(wrow);
        return;
    }

    /* Stored [in][out]: walk it row by row, accumulating every output at once (each output
     * still sums over the inputs in index order). */
    GPTOSS_ASSERT(w->format == EXPERT_BF16_IO);
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * n_in;
        float *yi = y + i * n_out;
        for (uint32_t o = 0; o < n_out; o++)
            yi[o] = 0.0f;
        for (uint32_t c = 0; c < n_in; c++) {
            const uint16_t *wc = w->weight + (e * n_in + c) * n_out;
            for (uint32_t o = 0; o < n_out; o++)
                yi[o] += bf16_to_f32(wc[o]) * xi[c];
        }
        for (uint32_t o = 0; w->bias && o < n_out; o++)
            yi[o] += tensor_get_f32(w->bias, bias_at + o);
    }
    free(wrow);
}

static void ref_swiglu(const float *u, size_t n, uint32_t n_ff, float alpha, float limit, float *a)
{
    for (size_t i = 0; i < n; i++) {
        const float *ui = u + i * 2 * (size_t)n_ff;
        float *ai = a + i * n_ff;
        for (uint32_t c = 0; c < n_ff; c++) {
            float gate = ui[2 * c];
            float up = ui[2 * c + 1];
            if (gate > limit)
                gate = limit;
            if (up > limit)
                up = limit;
            if (up < -limit)
                up = -limit;
            /* The gate has no lower clamp: for very negative gates expf overflows to inf and the
             * quotient is -0, never NaN. */
            float glu = gate / (1.0f + expf(-alpha * gate));
            ai[c] = glu * (up + 1.0f);
        }
    }
}

const struct backend_ops *backend_cpu_ref(void)
{
    static const struct backend_ops ops = {
        .name = "cpu-ref",
        .embed = ref_embed,
        .rmsnorm = ref_rmsnorm,
        .matmul = ref_matmul,
        .rope = ref_rope,
        .kv_write = ref_kv_write,
        .attention = ref_attention,
        .router_topk = ref_router_topk,
        .expert_matmul = ref_expert_matmul,
        .swiglu = ref_swiglu,
        .add_scaled = ref_add_scaled,
    };
    return &ops;
}
