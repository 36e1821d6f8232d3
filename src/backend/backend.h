/* backend.h — the operations the model's forward pass is made of, behind one vtable.
 *
 * model/ calls only these slots and never includes SIMD or device headers. Every backend fills
 * the same struct backend_ops; backend/cpu/ref.c is the plain scalar implementation that every
 * faster one is tested against. All activations are f32, row-major, one row per token. Weights
 * are struct tensor views (F32 or BF16 unless a slot says otherwise) that the ops read in place.
 *
 * Dimensions used below: n = rows (tokens) in the call, D = d_model, Hq = query heads,
 * Hkv = kv heads, S = head size, E = experts, F = expert hidden size, B = tokens per KV block.
 */
#ifndef GPTOSS_BACKEND_H
#define GPTOSS_BACKEND_H

#include "backend/tensor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RoPE with YaRN, precomputed once per model (S <= 256). */
#define ROPE_MAX_HALF 128
struct rope {
    uint32_t head_dim;             /* S; rotation pairs are (i, i + S/2) */
    float inv_freq[ROPE_MAX_HALF]; /* (S/2) */
    float attention_factor;        /* multiplies both cos and sin (YaRN mscale) */
};

struct rope_params {
    uint32_t head_dim;
    float theta;  /* base, 150000 for gpt-oss */
    float factor; /* YaRN scaling factor; <= 1 means plain RoPE */
    float beta_fast, beta_slow;
    uint32_t original_max_position; /* YaRN's original context */
    bool truncate;                  /* floor/ceil the correction range (false for gpt-oss) */
    float attention_factor;         /* 0 means 0.1 * ln(factor) + 1 */
};

/* Fills *rope the way transformers' _compute_yarn_parameters does, in f32. */
void rope_init(struct rope *rope, const struct rope_params *params);

/* One projection of all experts: W[e] is logically (n_out, n_in), y = W[e] x + bias[e]. */
enum expert_format {
    EXPERT_MXFP4,   /* blocks [E][n_out][n_in/32][16] u8, scales [E][n_out][n_in/32] u8 */
    EXPERT_BF16_IO, /* weight [E][n_in][n_out] bf16 (transformers' unquantized layout) */
};

struct expert_matrix {
    enum expert_format format;
    uint32_t n_experts, n_out, n_in;
    const uint8_t *blocks;     /* EXPERT_MXFP4 */
    const uint8_t *scales;     /* EXPERT_MXFP4 */
    const uint16_t *weight;    /* EXPERT_BF16_IO */
    const struct tensor *bias; /* [E][n_out] F32 or BF16; NULL: none */
    /* A tensor-parallel rank's outputs are some of each expert's (0 for the whole matrix):
     * output r of expert e takes element e * bias_stride + bias_first + r of bias
     * (bias_stride: 0 = n_out). */
    uint32_t bias_stride, bias_first;
};

/* The paged KV cache of one layer: B-token blocks of keys and values. */
struct kv_layer {
    float *k; /* [n_blocks][B][Hkv][S] */
    float *v; /* [n_blocks][B][Hkv][S] */
    uint32_t n_blocks;
};

struct attention_args {
    const float *q; /* [n][Hq*S], RoPE applied */
    float *out;     /* [n][Hq*S] */
    uint32_t n_tokens;
    uint32_t n_heads, n_kv_heads, head_dim; /* query head h reads kv head h / (Hq/Hkv) */
    uint32_t block_size;                    /* B */
    const struct kv_layer *kv;
    const uint32_t *positions;           /* [n] absolute position of each query */
    const uint32_t *seq_of_token;        /* [n] index into block_tables */
    const uint32_t *const *block_tables; /* [n_seqs][...]: block holding positions B*i..B*i+B-1 */
    uint32_t window;    /* 0: keys 0..p; W: keys p-W+1..p (W keys including self) */
    const float *sinks; /* [Hq] raw sink logits, or NULL for none */
    float scale;        /* multiplies q.k (1/sqrt(S)); not applied to the sink */
};

struct backend_ops {
    const char *name;

    /* out[i] = table[ids[i]] as f32. table: [V][D]. */
    void (*embed)(const struct tensor *table, const uint32_t *ids, size_t n, float *out);

    /* y[i] = gain * x[i] / sqrt(mean(x[i]^2) + eps). x, y: [n][D] (may alias); gain: [D]. */
    void (*rmsnorm)(const float *x, size_t n, const struct tensor *gain, float eps, float *y);

    /* y[i] = W x[i] + bias. W: [n_out][n_in]; bias: [n_out] or NULL; y: [n][n_out]. */
    void (*matmul)(const float *x, size_t n, const struct tensor *w, const struct tensor *bias,
                   float *y);

    /* Rotates each S-wide head of x in place: pairs (i, i+S/2) by angle position * inv_freq[i],
     * cos and sin both multiplied by rope->attention_factor. x: [n][n_heads*S]. */
    void (*rope)(float *x, size_t n, uint32_t n_heads, const uint32_t *positions,
                 const struct rope *rope);

    /* Stores k[i], v[i] (each [Hkv*S]) at KV slot slots[i] = block * B + offset. */
    void (*kv_write)(const struct kv_layer *kv, uint32_t block_size, uint32_t kv_width,
                     const float *k, const float *v, const uint32_t *slots, size_t n);

    /* Causal attention over the paged cache with one sink logit per head (an extra softmax
     * column that carries no value). The keys a query sees are already in the cache. */
    void (*attention)(const struct attention_args *args);

    /* For each row: the k largest logits (ties: lower expert index first), in descending order,
     * and their softmax over those k only. logits: [n][E]; idx, w: [n][k]. */
    void (*router_topk)(const float *logits, size_t n, uint32_t n_experts, uint32_t k,
                        uint32_t *idx, float *w);

    /* y[i] = W[expert] x[i] + bias[expert]. x: [n][n_in]; y: [n][n_out]. */
    void (*expert_matmul)(const float *x, size_t n, const struct expert_matrix *w, uint32_t expert,
                          float *y);

    /* Clamped SwiGLU on interleaved gate/up pairs: g = min(u[2c], limit),
     * l = clamp(u[2c+1], -limit, limit), a[c] = g * sigmoid(alpha * g) * (l + 1).
     * u: [n][2F]; a: [n][F]. Never NaN for very negative g. */
    void (*swiglu)(const float *u, size_t n, uint32_t n_ff, float alpha, float limit, float *a);

    /* y[i] += scale * x[i] for i < n_elements. */
    void (*add_scaled)(float *y, const float *x, size_t n_elements, float scale);
};

/* The plain scalar backend: the oracle. */
const struct backend_ops *backend_cpu_ref(void);

/* The fast CPU backend: SIMD kernels chosen at run time (AVX-512, AVX2 or portable C; the
 * environment variable GPTOSS_CPU_ISA=generic|avx2|avx512|avx512bf16 overrides the choice, read
 * once) and a thread pool for matmul, the experts and attention. A row's results are
 * bit-identical whatever the other rows of the call, n and the thread count; they differ from
 * backend_cpu_ref()'s by rounding only, which includes rounding activations: to bf16 for the
 * MXFP4 experts and bf16 matrices where the CPU has a bf16 dot product (avx512bf16), and to int8
 * per 32 values for the MXFP4 experts and int8 matrices where it has AVX512_VNNI. Its ops are
 * meant to be called from one thread at a time (a concurrent call still works,
 * single-threaded). */
const struct backend_ops *backend_cpu(void);

/* The kernel set backend_cpu() runs: "avx512bf16", "avx512", "avx2" or "generic". */
const char *backend_cpu_isa(void);

/* backend_cpu() with every product in f32 (float32 activations): the MXFP4 experts never take
 * the bf16-activation kernels. Same threads, same ISA. */
const struct backend_ops *backend_cpu_f32(void);

/* backend_cpu() without the int8-activation kernels: bf16 activations at most. */
const struct backend_ops *backend_cpu_bf16(void);

/* Whether backend_cpu() quantises the activations of the MXFP4 experts and int8 matrices to
 * int8 (the CPU has AVX512_VNNI). */
bool backend_cpu_int8_activations(void);

/* Sets backend_cpu()'s thread count, the caller included (0, the default: one per CPU the
 * process may run on). Takes effect at the next op; waits for an op in progress to finish. */
void backend_cpu_set_threads(uint32_t n);

/* A private pool for the threads that bind it: n_threads workers (0: one per CPU), created on
 * the first op. Several ranks of one process each bind their own, so that their ops run side
 * by side instead of taking turns on the process-wide pool. backend_cpu_set_threads() applies
 * to the calling thread's bound context. */
struct backend_cpu_context;
struct backend_cpu_context *backend_cpu_context_create(uint32_t n_threads);
void backend_cpu_context_destroy(struct backend_cpu_context *context);
/* Binds `context` to the calling thread (NULL: back to the process-wide pool). */
void backend_cpu_bind(struct backend_cpu_context *context);

/* FP4 E2M1 code (0..15) → value. */
float mxfp4_value(uint8_t code);

/* Decodes one 32-value MXFP4 block: out[2j] = low nibble of block[j], out[2j+1] = high nibble,
 * each times 2^(scale - 127). */
void mxfp4_decode_block(const uint8_t block[16], uint8_t scale, float out[32]);

#endif
