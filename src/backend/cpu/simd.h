/* simd.h — the vector kernels the CPU backend's heavy ops are built from, one table per ISA.
 *
 * cpu.c never touches intrinsics: it splits an op into tasks and calls these kernels through
 * struct simd_kernels. simd_generic.c implements every kernel in plain C and is always built;
 * simd_avx2.c and simd_avx512.c implement the same kernels with intrinsics, each compiled with
 * its own -m flags, and are used only when the CPU reports the ISA at run time.
 *
 * The summation rule, which makes results independent of batching and threading: every dot
 * product of length k_pad (a multiple of SIMD_PAD) is accumulated in ONE accumulator vector of
 * the ISA's width W (8 for generic and AVX2, 16 for AVX-512), lane l summing elements l, l+W,
 * l+2W, ... in ascending order with one multiply-add each (a fused one on AVX2/AVX-512), and
 * is then reduced by a fixed tree. Every kernel of a table follows it, whatever the tile shape
 * it uses internally or the number of rows it is given, so the same weight row and input row
 * give bit-identical output in dot_f32, dot_bf16 and dot_mxfp4 alike, and the same as the
 * decode-then-dot_f32 route. Operands are zero-padded from n_in to k_pad; padding lanes add
 * 0 * 0. Different ISAs round differently; each is close to backend_cpu_ref().
 */
#ifndef GPTOSS_BACKEND_CPU_SIMD_H
#define GPTOSS_BACKEND_CPU_SIMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Rows given to the dot kernels are padded to a multiple of this many elements. */
#define SIMD_PAD 16

enum simd_isa {
    SIMD_GENERIC,
    SIMD_AVX2,       /* AVX2 + FMA + F16C */
    SIMD_AVX512,     /* AVX-512 F/BW/VL (+ AVX2, FMA, F16C) */
    SIMD_AVX512BF16, /* SIMD_AVX512 + AVX512_BF16: products with bf16 activations */
    SIMD_ISA_COUNT,
};

/* Products with the activations rounded to bf16 once (x_to_bf16), where the ISA has a bf16
 * dot product: the MXFP4 experts and the bf16 dense matmuls (dot_rows). An FP4 value times its
 * power-of-two scale is exact in bf16 (for scales 2..252; others are decoded through f32 and
 * rounded) and every product of two bf16 is exact in f32, so the only rounding beyond the f32
 * route's is that of the activations (a relative 2^-9 at most per product). Sums: one f32
 * accumulator vector per output, each lane adding the two products of its pair of elements, blocks
 * in ascending order, then the ISA's fixed tree; dot_mxfp4 (decoding in registers) and
 * mxfp4_to_bf16 followed by dot_rows (decoded rows) therefore give the same bits. For the experts
 * x, the decoded rows and k_pad are in nibble order and multiples of 32. */
struct simd_bf16_kernels {
    void (*x_to_bf16)(const float *x, size_t n, uint16_t *dst);
    void (*dot_mxfp4)(const uint8_t *blocks, const uint8_t *scales, size_t n_w, size_t n_blocks,
                      const uint16_t *x, size_t x_stride, size_t n_x, float *out,
                      size_t out_stride);
    void (*mxfp4_to_bf16)(const uint8_t *blocks, const uint8_t *scales, size_t n_blocks,
                          uint16_t *dst);
    uint32_t few_rows; /* up to this many input rows, dot_mxfp4 beats decoding rows once */

    /* bf16 weight rows of n_in values read in place (row stride w_stride) against x rounded to
     * bf16 (x_to_bf16, rows zero-padded to a multiple of 32): the dense matmuls' products. */
    void (*dot_rows)(const uint16_t *w, size_t w_stride, size_t n_w, size_t n_in, const uint16_t *x,
                     size_t x_stride, size_t n_x, float *out, size_t out_stride);
};

/* Products with the activations quantised to int8 once per call, one scale d = max|x|/127 per
 * 32 values (llama.cpp's q8_0), summed in exact integers with an int8 dot product (VNNI): the
 * MXFP4 experts and the int8 matrices. Besides the activations' rounding (at most d/2 per value),
 * each 32-value block's sum is rounded once to f32 and multiplied by its two scales; weight
 * blocks with an E8M0 scale of 0 count as 0 (they are below 2^-120). A quantised row is a run of
 * 64-byte aligned groups, each the int8 values, then int32 offsets and f32 scales the kernels
 * load as vectors:
 *   MXFP4 (quantize_mxfp4, from x in its natural order): per 4 blocks of 32, 256 bytes: the even
 *   elements of the 4 blocks (64 bytes), the odd ones (64), 16 int32, 16 f32;
 *   rows (quantize_rows): per 64 values, 192 bytes: the values, 16 int32, 16 f32.
 * Tails are zero-padded to whole groups. Row buffers must be 64-byte aligned. */
#define SIMD_Q8_MXFP4_BYTES(n) (((n) / 32 + 3) / 4 * 256)
#define SIMD_Q8_ROW_BYTES(n)   (((n) + 63) / 64 * 192)

struct simd_q8_kernels {
    void (*quantize_mxfp4)(const float *x, size_t n, void *dst); /* n a multiple of 32 */
    void (*dot_mxfp4)(const uint8_t *blocks, const uint8_t *scales, size_t n_w, size_t n_blocks,
                      const void *xq, size_t xq_stride, size_t n_x, float *out, size_t out_stride);
    void (*quantize_rows)(const float *x, size_t n, void *dst);
    /* Σ w x for int8 rows of n_in values (row stride w_stride); the caller applies row scales. */
    void (*dot_i8)(const int8_t *w, size_t w_stride, size_t n_w, size_t n_in, const void *xq,
                   size_t xq_stride, size_t n_x, float *out, size_t out_stride);
};

struct simd_kernels {
    const char *name;

    /* out[i * out_stride + r] = Σ_k w[r * w_stride + k] · x[i * x_stride + k] over k < k_pad,
     * for r < n_w, i < n_x. Both operands are f32 and zero beyond the logical length. */
    void (*dot_f32)(const float *w, size_t w_stride, size_t n_w, const float *x, size_t x_stride,
                    size_t n_x, size_t k_pad, float *out, size_t out_stride);

    /* dot_f32 with bf16 weight rows of n_in values (n_in <= k_pad), read as if zero-padded to
     * k_pad; x must be zero in n_in..k_pad-1. Widens each weight vector once per tile of input
     * rows, so it reads the weights straight from memory: the path for a few input rows. */
    void (*dot_bf16)(const uint16_t *w, size_t w_stride, size_t n_w, size_t n_in, const float *x,
                     size_t x_stride, size_t n_x, size_t k_pad, float *out, size_t out_stride);

    /* dot_f32 with MXFP4 weight rows of n_blocks 32-value blocks (k_pad = 32 n_blocks): row r
     * is blocks[r * n_blocks * 16 ...] with scales[r * n_blocks ...]. Decodes in registers.
     * Inside each block the kernels take the values in NIBBLE ORDER: the 16 low nibbles
     * (elements 0, 2, ..., 30) then the 16 high nibbles (1, 3, ..., 31), which spares the
     * interleaving shuffles; x must be given in that order too (simd_mxfp4_order). */
    void (*dot_mxfp4)(const uint8_t *blocks, const uint8_t *scales, size_t n_w, size_t n_blocks,
                      const float *x, size_t x_stride, size_t n_x, float *out, size_t out_stride);

    /* dst[0..n) = src widened to f32 (exact). */
    void (*bf16_to_f32)(const uint16_t *src, size_t n, float *dst);

    /* dot_bf16 and bf16_to_f32 for int8 weight rows, widened exactly (--weights int8; the
     * caller multiplies each output by its row's scale). */
    void (*dot_i8)(const int8_t *w, size_t w_stride, size_t n_w, size_t n_in, const float *x,
                   size_t x_stride, size_t n_x, size_t k_pad, float *out, size_t out_stride);
    void (*i8_to_f32)(const int8_t *src, size_t n, float *dst);

    /* dst[0..32 n_blocks) = the decoded blocks in nibble order: exactly mxfp4_decode_block's
     * values, rearranged, and the numbers dot_mxfp4 multiplies by. */
    void (*mxfp4_to_f32)(const uint8_t *blocks, const uint8_t *scales, size_t n_blocks, float *dst);

    /* Transposed bf16 weights (EXPERT_BF16_IO): for o in [o_begin, o_end) and i < n_x,
     * y[i * y_stride + o] = Σ_c w[c * w_stride + o] · x[i * x_stride + c] over c < n_in, one
     * output per lane, c ascending (fused multiply-add where the ISA has it). */
    void (*dot_bf16_io)(const uint16_t *w, size_t w_stride, size_t n_in, size_t o_begin,
                        size_t o_end, const float *x, size_t x_stride, size_t n_x, float *y,
                        size_t y_stride);

    /* Σ a[i] b[i] over i < n, any n, in an order fixed by n. */
    float (*dot)(const float *a, const float *b, size_t n);

    /* y[i] += a · x[i] for i < n, one (fused where the ISA has it) multiply-add each. */
    void (*axpy)(float *y, float a, const float *x, size_t n);

    /* axpy into n_rows rows at once: y[r * n + i] += a[r] · x[i], the same arithmetic. */
    void (*axpy_rows)(float *y, size_t n_rows, size_t n, const float *a, const float *x);

    /* Speed hints for cpu.c: up to this many input rows, dot_bf16 / dot_mxfp4 beat widening or
     * decoding a group of rows once and running dot_f32 over it (the results are the same). */
    uint32_t few_rows_bf16, few_rows_mxfp4;

    /* Products with bf16 activations, used for the MXFP4 experts (instead of dot_mxfp4) and
     * the bf16 matmuls (instead of dot_bf16) when not NULL and the caller allows them. */
    const struct simd_bf16_kernels *bf16;

    /* Products with int8 activations, where the CPU has them and the caller allows them. */
    const struct simd_q8_kernels *q8;
};

/* Calls FN(..., rw, rx) with rw and rx (1..4 each, from variables of those names) as constants,
 * so that a tile function inlined into each case keeps its accumulators in registers. */
#define SIMD_TILE_CASES(FN, ...)                                                                   \
    switch (rw * 8 + rx) {                                                                         \
    case 4 * 8 + 4: FN(__VA_ARGS__, 4, 4); break;                                                  \
    case 4 * 8 + 3: FN(__VA_ARGS__, 4, 3); break;                                                  \
    case 4 * 8 + 2: FN(__VA_ARGS__, 4, 2); break;                                                  \
    case 4 * 8 + 1: FN(__VA_ARGS__, 4, 1); break;                                                  \
    case 3 * 8 + 4: FN(__VA_ARGS__, 3, 4); break;                                                  \
    case 3 * 8 + 3: FN(__VA_ARGS__, 3, 3); break;                                                  \
    case 3 * 8 + 2: FN(__VA_ARGS__, 3, 2); break;                                                  \
    case 3 * 8 + 1: FN(__VA_ARGS__, 3, 1); break;                                                  \
    case 2 * 8 + 4: FN(__VA_ARGS__, 2, 4); break;                                                  \
    case 2 * 8 + 3: FN(__VA_ARGS__, 2, 3); break;                                                  \
    case 2 * 8 + 2: FN(__VA_ARGS__, 2, 2); break;                                                  \
    case 2 * 8 + 1: FN(__VA_ARGS__, 2, 1); break;                                                  \
    case 1 * 8 + 4: FN(__VA_ARGS__, 1, 4); break;                                                  \
    case 1 * 8 + 3: FN(__VA_ARGS__, 1, 3); break;                                                  \
    case 1 * 8 + 2: FN(__VA_ARGS__, 1, 2); break;                                                  \
    default: FN(__VA_ARGS__, 1, 1); break;                                                         \
    }

/* The kernel tables; the x86 ones exist only where GPTOSS_SIMD_X86 is defined. */
extern const struct simd_kernels simd_kernels_generic;
extern const struct simd_kernels simd_kernels_avx2;
extern const struct simd_kernels simd_kernels_avx512;
extern const struct simd_bf16_kernels simd_bf16_kernels_avx512;
extern const struct simd_q8_kernels simd_q8_kernels_avx512vnni;

/* Whether this build and this CPU can run `isa`'s kernels. */
bool simd_supported(enum simd_isa isa);

/* The table the CPU backend uses. Chosen on first use: the environment variable
 * GPTOSS_CPU_ISA (generic, avx2 or avx512) if set and supported, else the best supported. */
const struct simd_kernels *simd_kernels(void);

/* Test hook: makes simd_kernels() return `isa`'s table from now on. Returns false and changes
 * nothing when `isa` is not supported. Not safe while ops are running. */
bool simd_force(enum simd_isa isa);

/* Lower-case ISA name, as GPTOSS_CPU_ISA spells it. */
const char *simd_isa_name(enum simd_isa isa);

/* Rearranges x[0..n) (n a multiple of 32) into the nibble order of the MXFP4 kernels:
 * out[32b + j] = x[32b + 2j] and out[32b + 16 + j] = x[32b + 2j + 1] for j < 16. */
void simd_mxfp4_order(const float *x, size_t n, float *out);

/* An E8M0 scale s as the float 2^(s - 127): subnormal 2^-127 for s = 0, +inf for s = 255, as
 * mxfp4_decode_block's ldexpf gives. */
static inline float simd_e8m0_scale(uint8_t s)
{
    union {
        uint32_t u;
        float f;
    } v = {.u = s ? (uint32_t)s << 23 : 0x00400000u};
    return v.f;
}

/* FP4 code (0..15) → the high byte of its value as an IEEE half (the low byte is always 0):
 * the kernels look codes up in this with a byte shuffle and widen the halves exactly. */
#define SIMD_FP4_HALF_HIGH                                                                         \
    {                                                                                              \
        0x00, 0x38, 0x3c, 0x3e, 0x40, 0x42, 0x44, 0x46, 0x80, 0xb8, 0xbc, 0xbe, 0xc0, 0xc2, 0xc4,  \
            0xc6                                                                                   \
    }

#endif
