/* simd_avx512bf16.c — weight products with bf16 activations (AVX-512 BF16): the MXFP4 experts
 * and bf16 rows read in place. Built with -mavx512f -mavx512bw -mavx512vl -mavx512bf16.
 *
 * The avx512bf16 table is the avx512 one plus these kernels (simd.h, struct simd_bf16_kernels):
 * an FP4 value times its power-of-two scale is exact in bf16, so a weight block becomes one
 * vector of 32 bf16 with a 32-entry word lookup (vpermw) whose entries have the block's scale
 * already added to their exponents, and vdpbf16ps multiplies it with the activations rounded
 * to bf16, two exact products per lane per instruction. That halves the work per weight of the
 * f32 route, which decodes to f32 and needs two fused multiply-adds per block. Scales outside
 * 2..252 (whose products leave the normal range) are decoded through f32 instead; both routes
 * of the table (in registers, or decoded once to bf16 rows) call the same block decoder, so
 * they give the same bits. bf16 weight rows need no decoding: dot_rows feeds them to
 * vdpbf16ps as they are. Only reached when simd_supported(SIMD_AVX512BF16) said yes.
 */
#include "backend/cpu/simd.h"
#include "backend/cpu/simd_avx512_reduce.h"

#include "backend/backend.h"

#include <immintrin.h>
#include <pthread.h>

#define BF16_TILE_RW 4
#define BF16_TILE_RX 4

/* The bf16 bits of FP4 codes 0..15, twice: the lookup takes the low 5 bits of each index. */
static const uint16_t fp4_bf16[32] = {
    0x0000, 0x3f00, 0x3f80, 0x3fc0, 0x4000, 0x4040, 0x4080, 0x40c0, 0x8000, 0xbf00, 0xbf80,
    0xbfc0, 0xc000, 0xc040, 0xc080, 0xc0c0, 0x0000, 0x3f00, 0x3f80, 0x3fc0, 0x4000, 0x4040,
    0x4080, 0x40c0, 0x8000, 0xbf00, 0xbf80, 0xbfc0, 0xc000, 0xc040, 0xc080, 0xc0c0,
};

/* Entries that are not ±0, whose exponents the scale moves. */
#define FP4_NONZERO ((__mmask32)~0x01010101u)

/* A block whose scale takes products out of the normal range: value × 2^(s-127) in f32 (as
 * mxfp4_decode_block), then rounded to bf16. */
static __attribute__((noinline)) __m512i decode_block_wide(const uint8_t *blk, uint8_t scale)
{
    float v[32];
    float s = simd_e8m0_scale(scale);
    for (int j = 0; j < 16; j++) {
        v[j] = mxfp4_value(blk[j] & 15) * s;
        v[16 + j] = mxfp4_value(blk[j] >> 4) * s;
    }
    return (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(v + 16), _mm512_loadu_ps(v));
}

/* The lookup table of every scale 2..252: the FP4 values with the scale added to their
 * exponents (16 KB, built once), so that a block costs one load of its table. */
static uint16_t scaled_lut[256][32] __attribute__((aligned(64)));
static pthread_once_t scaled_lut_once = PTHREAD_ONCE_INIT;

static void scaled_lut_build(void)
{
    for (int s = 2; s <= 252; s++)
        for (int j = 0; j < 32; j++)
            scaled_lut[s][j] = (j & 7) ? (uint16_t)(fp4_bf16[j] + (s - 127) * 128) : fp4_bf16[j];
}

/* One 32-value block → 32 bf16 in nibble order (16 low nibbles, then 16 high ones). */
static inline __m512i decode_block(const uint8_t *blk, uint8_t scale, __m512i shifts)
{
    if (__builtin_expect((unsigned)scale - 2u > 250u, 0))
        return decode_block_wide(blk, scale);
    __m512i idx =
        _mm512_cvtepu8_epi16(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)blk)));
    idx = _mm512_srlv_epi16(idx, shifts);
    return _mm512_permutexvar_epi16(idx, _mm512_load_si512(scaled_lut[scale]));
}

/* Call before decode_block. */
static inline void decode_init(void)
{
    pthread_once(&scaled_lut_once, scaled_lut_build);
}

/* Words 0..15 keep their byte (the low nibble and, in bit 4, a bit the lookup ignores); words
 * 16..31 take the high nibble. */
static inline __m512i decode_shifts(void)
{
    return _mm512_set_epi64(0x0004000400040004, 0x0004000400040004, 0x0004000400040004,
                            0x0004000400040004, 0, 0, 0, 0);
}

static inline size_t bf16_min(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ---- x to bf16 --------------------------------------------------------------------------- */

static void x_to_bf16_avx512bf16(const float *x, size_t n, uint16_t *dst)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
        _mm512_storeu_si512(dst + i, (__m512i)v);
    }
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);
        __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i));
        _mm256_mask_storeu_epi16(dst + i, m, (__m256i)v);
    }
}

/* ---- MXFP4 decoded in registers ---------------------------------------------------------- */

static inline __attribute__((always_inline)) void
tile_mxfp4_bf16(const uint8_t *blocks, const uint8_t *scales, size_t n_blocks, const uint16_t *x,
                size_t xs, float *out, size_t os, const int rw, const int rx)
{
    decode_init();
    const __m512i shifts = decode_shifts();
    __m512 acc[BF16_TILE_RW][BF16_TILE_RX];
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            acc[r][i] = _mm512_setzero_ps();
    for (size_t b = 0; b < n_blocks; b++) {
        __m512bh xv[BF16_TILE_RX];
        for (int i = 0; i < rx; i++)
            xv[i] = (__m512bh)_mm512_loadu_si512(x + i * xs + b * 32);
        for (int r = 0; r < rw; r++) {
            /* Decoding is slower than memory, so the loads would wait on every miss: ask for the
             * same block of the next tile's rows (one line per 4 blocks) while this one works.
             * A prefetch past the matrix is harmless. */
            if ((b & 3) == 0)
                _mm_prefetch((const char *)blocks + ((r + rw) * n_blocks + b) * 16, _MM_HINT_T0);
            __m512bh w = (__m512bh)decode_block(blocks + (r * n_blocks + b) * 16,
                                                scales[r * n_blocks + b], shifts);
            for (int i = 0; i < rx; i++)
                acc[r][i] = _mm512_dpbf16_ps(acc[r][i], w, xv[i]);
        }
    }
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            out[i * os + r] = simd_reduce_avx512(acc[r][i]);
}

static void dot_mxfp4_avx512bf16(const uint8_t *blocks, const uint8_t *scales, size_t n_w,
                                 size_t n_blocks, const uint16_t *x, size_t x_stride, size_t n_x,
                                 float *out, size_t out_stride)
{
    for (size_t r = 0; r < n_w; r += BF16_TILE_RW) {
        size_t rw = bf16_min(BF16_TILE_RW, n_w - r);
        for (size_t i = 0; i < n_x; i += BF16_TILE_RX) {
            size_t rx = bf16_min(BF16_TILE_RX, n_x - i);
            SIMD_TILE_CASES(tile_mxfp4_bf16, blocks + r * n_blocks * 16, scales + r * n_blocks,
                            n_blocks, x + i * x_stride, x_stride, out + i * out_stride + r,
                            out_stride)
        }
    }
}

static void mxfp4_to_bf16_avx512bf16(const uint8_t *blocks, const uint8_t *scales, size_t n_blocks,
                                     uint16_t *dst)
{
    decode_init();
    const __m512i shifts = decode_shifts();
    for (size_t b = 0; b < n_blocks; b++)
        _mm512_storeu_si512(dst + b * 32, decode_block(blocks + b * 16, scales[b], shifts));
}

/* ---- bf16 weight rows read in place ----------------------------------------------------- */

static inline __attribute__((always_inline)) void tile_rows_bf16(const uint16_t *w, size_t ws,
                                                                 size_t n_in, const uint16_t *x,
                                                                 size_t xs, float *out, size_t os,
                                                                 const int rw, const int rx)
{
    __m512 acc[BF16_TILE_RW][BF16_TILE_RX];
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            acc[r][i] = _mm512_setzero_ps();
    size_t k = 0;
    for (; k + 32 <= n_in; k += 32) {
        __m512bh xv[BF16_TILE_RX];
        for (int i = 0; i < rx; i++)
            xv[i] = (__m512bh)_mm512_loadu_si512(x + i * xs + k);
        for (int r = 0; r < rw; r++) {
            /* One input (one-sequence decode) streams the weights: ask for the same line of
             * the next tile's row into L2, BF16_TILE_RW rows on (a prefetch past the matrix is
             * harmless). Exact-weights decode of the 20b, alternated token by token in one
             * process: 1.11-1.14x; 8 KB on, 1.06-1.09x; 4 KB on, 1.01-1.07x. */
            if (rx == 1)
                _mm_prefetch((const char *)(w + (r + BF16_TILE_RW) * ws + k), _MM_HINT_T1);
            __m512bh wv = (__m512bh)_mm512_loadu_si512(w + r * ws + k);
            for (int i = 0; i < rx; i++)
                acc[r][i] = _mm512_dpbf16_ps(acc[r][i], wv, xv[i]);
        }
    }
    if (k < n_in) {
        /* The ragged end: masked loads read nothing past the row (x is zero-padded). */
        __mmask32 m = (__mmask32)((1ull << (n_in - k)) - 1);
        __m512bh xv[BF16_TILE_RX];
        for (int i = 0; i < rx; i++)
            xv[i] = (__m512bh)_mm512_loadu_si512(x + i * xs + k);
        for (int r = 0; r < rw; r++) {
            __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(m, w + r * ws + k);
            for (int i = 0; i < rx; i++)
                acc[r][i] = _mm512_dpbf16_ps(acc[r][i], wv, xv[i]);
        }
    }
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            out[i * os + r] = simd_reduce_avx512(acc[r][i]);
}

static void dot_rows_avx512bf16(const uint16_t *w, size_t w_stride, size_t n_w, size_t n_in,
                                const uint16_t *x, size_t x_stride, size_t n_x, float *out,
                                size_t out_stride)
{
    for (size_t i = 0; i < n_x; i += BF16_TILE_RX) {
        size_t rx = bf16_min(BF16_TILE_RX, n_x - i);
        for (size_t r = 0; r < n_w; r += BF16_TILE_RW) {
            size_t rw = bf16_min(BF16_TILE_RW, n_w - r);
            SIMD_TILE_CASES(tile_rows_bf16, w + r * w_stride, w_stride, n_in, x + i * x_stride,
                            x_stride, out + i * out_stride + r, out_stride)
        }
    }
}

const struct simd_bf16_kernels simd_bf16_kernels_avx512 = {
    .dot_rows = dot_rows_avx512bf16,
    .x_to_bf16 = x_to_bf16_avx512bf16,
    .dot_mxfp4 = dot_mxfp4_avx512bf16,
    .mxfp4_to_bf16 = mxfp4_to_bf16_avx512bf16,
    .few_rows = 4,
};
