/* simd_avx2.c — the simd.h kernels for AVX2 + FMA + F16C (8 f32 lanes), built with -mavx2 -mfma
 * -mf16c.
 *
 * Every dot product follows simd.h's rule with W = 8: one __m256 accumulator per output, one
 * _mm256_fmadd_ps per 8 elements in ascending order, then simd_reduce_avx2's fixed tree. The
 * tile kernels compute RW weight rows × RX input rows at once so that each weight vector is
 * loaded (and widened or decoded) once per tile and each input vector once per RW rows; the
 * shapes change only which accumulators live side by side, never the order of any one of them.
 * Only reached when simd_supported(SIMD_AVX2) said yes.
 */
#include "backend/cpu/simd.h"

#include <immintrin.h>
#include <string.h>

#define AVX2_W 8

/* ---- shared pieces ----------------------------------------------------------------------- */

/* ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)). */
static inline float simd_reduce_avx2(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 8 bf16 → 8 f32: the bf16 bits become the high half of each f32. */
static inline __m256 simd_widen_avx2(const uint16_t *p)
{
    __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}

/* The 8 bf16 at p[0..n) (n may be 0..8) followed by zeros. */
static inline __m256 simd_widen_tail_avx2(const uint16_t *p, size_t n)
{
    uint16_t tmp[AVX2_W] = {0};
    memcpy(tmp, p, (n < AVX2_W ? n : AVX2_W) * sizeof(uint16_t));
    return simd_widen_avx2(tmp);
}

/* 8 int8 → 8 f32, exactly. */
static inline __m256 simd_widen_i8_avx2(const int8_t *p)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/* The 8 int8 at p[0..n) (n may be 0..8) followed by zeros. */
static inline __m256 simd_widen_i8_tail_avx2(const int8_t *p, size_t n)
{
    int8_t tmp[AVX2_W] = {0};
    memcpy(tmp, p, n < AVX2_W ? n : AVX2_W);
    return simd_widen_i8_avx2(tmp);
}

/* One 32-value MXFP4 block → 4 vectors in nibble order (simd.h): each nibble is looked up as
 * the high byte of an IEEE half, which F16C widens exactly, then scaled by 2^(s-127) — the
 * products of mxfp4_decode_block, bit for bit. */
static inline void simd_decode_avx2(const uint8_t *blk, uint8_t scale, __m256 d[4])
{
    static const uint8_t half_high[16] = SIMD_FP4_HALF_HIGH;
    const __m128i lut = _mm_loadu_si128((const __m128i *)half_high);
    const __m128i nibble = _mm_set1_epi8(0x0f);
    const __m128i zero = _mm_setzero_si128();
    __m128i bytes = _mm_loadu_si128((const __m128i *)blk);
    __m128i even = _mm_shuffle_epi8(lut, _mm_and_si128(bytes, nibble));
    __m128i odd = _mm_shuffle_epi8(lut, _mm_and_si128(_mm_srli_epi16(bytes, 4), nibble));
    __m256 s = _mm256_set1_ps(simd_e8m0_scale(scale));
    d[0] = _mm256_mul_ps(_mm256_cvtph_ps(_mm_unpacklo_epi8(zero, even)), s);
    d[1] = _mm256_mul_ps(_mm256_cvtph_ps(_mm_unpackhi_epi8(zero, even)), s);
    d[2] = _mm256_mul_ps(_mm256_cvtph_ps(_mm_unpacklo_epi8(zero, odd)), s);
    d[3] = _mm256_mul_ps(_mm256_cvtph_ps(_mm_unpackhi_epi8(zero, odd)), s);
}

static inline size_t simd_min_avx2(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ---- f32 weights ------------------------------------------------------------------------- */

#define F32_RW 4
#define F32_RX 3
#define F32_KC 256 /* k elements per pass: a pass's weight and input slices stay in L1 */
#define F32_WB 16  /* weight rows per accumulator block */
#define F32_XB 48  /* input rows per accumulator block (a multiple of F32_RX) */

/* Continues the accumulators acc[r * F32_XB + i] of an rw × rx tile over k in [k0, k1). The
 * accumulators go to memory between passes unchanged, so each output still sees one unbroken
 * chain of fused multiply-adds in ascending k. */
static inline __attribute__((always_inline)) void
simd_tile_f32_avx2(const float *w, size_t ws, const float *x, size_t xs, size_t k0, size_t k1,
                   __m256 *acc_mem, const int rw, const int rx)
{
    __m256 acc[F32_RW][F32_RX];
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            acc[r][i] = _mm256_load_ps((const float *)&acc_mem[r * F32_XB + i]);
    for (size_t k = k0; k < k1; k += AVX2_W) {
        __m256 xv[F32_RX];
        for (int i = 0; i < rx; i++)
            xv[i] = _mm256_loadu_ps(x + i * xs + k);
        for (int r = 0; r < rw; r++) {
            __m256 wv = _mm256_loadu_ps(w + r * ws + k);
            for (int i = 0; i < rx; i++)
                acc[r][i] = _mm256_fmadd_ps(wv, xv[i], acc[r][i]);
        }
    }
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            _mm256_store_ps((float *)&acc_mem[r * F32_XB + i], acc[r][i]);
}

static void simd_tile_f32_any_avx2(const float *w, size_t ws, const float *x, size_t xs, size_t k0,
                                   size_t k1, __m256 *acc, size_t rw, size_t rx)
{
    switch (rw * 4 + rx) {
    case 4 * 4 + 3: simd_tile_f32_avx2(w, ws, x, xs, k0, k1, acc, 4, 3); break;
    case 4 * 4 + 2: simd_tile_f32_avx2(w, ws, x, xs, k0, k1, acc, 4, 2); break;
    case 4 * 4 + 1: simd_tile_f32_avx2(w, ws, x, xs, k0, k1, acc, 4, 1); break;
    case 3 * 4 + 3: simd_tile_f32_avx2(w, ws, x, xs, k0, k1, acc, 3, 3); break;
    case 3 * 4 + 2: simd_tile_f32_avx2(w, ws, x, xs, k0, k1, acc, 3, 2); break;
    case 3 * 4 + 1: simd_tile_f32_avx2(w, ws, x, xs, k0, k1, acc, 3, 1); break;
    case 2 * 4 + 3: simd_tile_f32_avx2(w, ws, x, xs, k0, k1, acc, 2, 3); break;
    case 2 * 4 + 2: simd_tile_f32_avx2(w, ws, x, xs, k0, k1, acc, 2, 2); break;
    case 2 * 4 + 1: simd_tile_f32_avx2(w, ws, x, xs, k0, k1, acc, 2, 1); break;
    case 1 * 4 + 3: simd_tile_f32_avx2(w, ws, x, xs, k0, k1, acc, 1, 3); break;
    case 1 * 4 + 2: simd_tile_f32_avx2(w, ws, x, xs, k0, k1, acc, 1, 2); break;
    default: simd_tile_f32_avx2(w, ws, x, xs, k0, k1, acc, 1, 1); break;
    }
}

/* Blocked so that the inner loops work from L1: for a block of up to 16 weight rows × 48 input
 * rows, k advances in passes of F32_KC; within a pass every 4 × 3 tile reloads its accumulators
 * from a 24 KB buffer, runs F32_KC / 8 steps on L1-resident slices and parks them again. */
static void simd_dot_f32_avx2(const float *w, size_t w_stride, size_t n_w, const float *x,
                              size_t x_stride, size_t n_x, size_t k_pad, float *out,
                              size_t out_stride)
{
    __m256 acc[F32_WB * F32_XB];
    for (size_t r0 = 0; r0 < n_w; r0 += F32_WB) {
        size_t nwb = simd_min_avx2(F32_WB, n_w - r0);
        for (size_t i0 = 0; i0 < n_x; i0 += F32_XB) {
            size_t nxb = simd_min_avx2(F32_XB, n_x - i0);
            for (size_t r = 0; r < nwb; r++)
                for (size_t i = 0; i < nxb; i++)
                    acc[r * F32_XB + i] = _mm256_setzero_ps();
            for (size_t k0 = 0; k0 < k_pad; k0 += F32_KC) {
                size_t k1 = simd_min_avx2(k0 + F32_KC, k_pad);
                for (size_t i = 0; i < nxb; i += F32_RX)
                    for (size_t r = 0; r < nwb; r += F32_RW)
                        simd_tile_f32_any_avx2(w + (r0 + r) * w_stride, w_stride,
                                               x + (i0 + i) * x_stride, x_stride, k0, k1,
                                               &acc[r * F32_XB + i], simd_min_avx2(F32_RW, nwb - r),
                                               simd_min_avx2(F32_RX, nxb - i));
            }
            for (size_t r = 0; r < nwb; r++)
                for (size_t i = 0; i < nxb; i++)
                    out[(i0 + i) * out_stride + r0 + r] = simd_reduce_avx2(acc[r * F32_XB + i]);
        }
    }
}

/* ---- bf16 weights ------------------------------------------------------------------------ */

/* bf16 weights, or with i8 int8 weights (widened exactly; the row scale is the caller's). */
static inline __attribute__((always_inline)) void
simd_tile_bf16_avx2(const void *w, size_t ws, size_t n_in, const float *x, size_t xs, size_t k_pad,
                    float *out, size_t os, const int rw, const int rx, const int i8)
{
    const uint16_t *wb = w;
    const int8_t *wi = w;
    __m256 acc[F32_RW][F32_RX];
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            acc[r][i] = _mm256_setzero_ps();
    size_t k = 0;
    for (; k + AVX2_W <= n_in; k += AVX2_W) {
        __m256 xv[F32_RX];
        for (int i = 0; i < rx; i++)
            xv[i] = _mm256_loadu_ps(x + i * xs + k);
        for (int r = 0; r < rw; r++) {
            __m256 wv = i8 ? simd_widen_i8_avx2(wi + r * ws + k) : simd_widen_avx2(wb + r * ws + k);
            for (int i = 0; i < rx; i++)
                acc[r][i] = _mm256_fmadd_ps(wv, xv[i], acc[r][i]);
        }
    }
    /* The ragged end and the zero padding, with the same vector steps as the f32 route. */
    for (; k < k_pad; k += AVX2_W) {
        size_t left = k < n_in ? n_in - k : 0;
        for (int r = 0; r < rw; r++) {
            __m256 wv = i8 ? simd_widen_i8_tail_avx2(wi + r * ws + k, left)
                           : simd_widen_tail_avx2(wb + r * ws + k, left);
            for (int i = 0; i < rx; i++)
                acc[r][i] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + i * xs + k), acc[r][i]);
        }
    }
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            out[i * os + r] = simd_reduce_avx2(acc[r][i]);
}

static inline __attribute__((always_inline)) void
simd_tile_bf16_any_avx2(const void *w, size_t ws, size_t n_in, const float *x, size_t xs,
                        size_t k_pad, float *out, size_t os, size_t rw, size_t rx, const int i8)
{
    switch (rw * 4 + rx) {
    case 4 * 4 + 3: simd_tile_bf16_avx2(w, ws, n_in, x, xs, k_pad, out, os, 4, 3, i8); break;
    case 4 * 4 + 2: simd_tile_bf16_avx2(w, ws, n_in, x, xs, k_pad, out, os, 4, 2, i8); break;
    case 4 * 4 + 1: simd_tile_bf16_avx2(w, ws, n_in, x, xs, k_pad, out, os, 4, 1, i8); break;
    case 3 * 4 + 3: simd_tile_bf16_avx2(w, ws, n_in, x, xs, k_pad, out, os, 3, 3, i8); break;
    case 3 * 4 + 2: simd_tile_bf16_avx2(w, ws, n_in, x, xs, k_pad, out, os, 3, 2, i8); break;
    case 3 * 4 + 1: simd_tile_bf16_avx2(w, ws, n_in, x, xs, k_pad, out, os, 3, 1, i8); break;
    case 2 * 4 + 3: simd_tile_bf16_avx2(w, ws, n_in, x, xs, k_pad, out, os, 2, 3, i8); break;
    case 2 * 4 + 2: simd_tile_bf16_avx2(w, ws, n_in, x, xs, k_pad, out, os, 2, 2, i8); break;
    case 2 * 4 + 1: simd_tile_bf16_avx2(w, ws, n_in, x, xs, k_pad, out, os, 2, 1, i8); break;
    case 1 * 4 + 3: simd_tile_bf16_avx2(w, ws, n_in, x, xs, k_pad, out, os, 1, 3, i8); break;
    case 1 * 4 + 2: simd_tile_bf16_avx2(w, ws, n_in, x, xs, k_pad, out, os, 1, 2, i8); break;
    default: simd_tile_bf16_avx2(w, ws, n_in, x, xs, k_pad, out, os, 1, 1, i8); break;
    }
}

static inline __attribute__((always_inline)) void
simd_dot_w16_avx2(const void *w, size_t w_stride, size_t n_w, size_t n_in, const float *x,
                  size_t x_stride, size_t n_x, size_t k_pad, float *out, size_t out_stride,
                  const int i8)
{
    size_t esize = i8 ? 1 : 2;
    /* Weight rows outer: a tile of 4 rows stays in L1 while the input rows stream past it. */
    for (size_t r = 0; r < n_w; r += F32_RW) {
        size_t rw = simd_min_avx2(F32_RW, n_w - r);
        for (size_t i = 0; i < n_x; i += F32_RX)
            simd_tile_bf16_any_avx2((const char *)w + r * w_stride * esize, w_stride, n_in,
                                    x + i * x_stride, x_stride, k_pad, out + i * out_stride + r,
                                    out_stride, rw, simd_min_avx2(F32_RX, n_x - i), i8);
    }
}

static void simd_dot_bf16_avx2(const uint16_t *w, size_t w_stride, size_t n_w, size_t n_in,
                               const float *x, size_t x_stride, size_t n_x, size_t k_pad,
                               float *out, size_t out_stride)
{
    simd_dot_w16_avx2(w, w_stride, n_w, n_in, x, x_stride, n_x, k_pad, out, out_stride, 0);
}

static void simd_dot_i8_avx2(const int8_t *w, size_t w_stride, size_t n_w, size_t n_in,
                             const float *x, size_t x_stride, size_t n_x, size_t k_pad, float *out,
                             size_t out_stride)
{
    simd_dot_w16_avx2(w, w_stride, n_w, n_in, x, x_stride, n_x, k_pad, out, out_stride, 1);
}

static void simd_i8_to_f32_avx2(const int8_t *src, size_t n, float *dst)
{
    size_t k = 0;
    for (; k + AVX2_W <= n; k += AVX2_W)
        _mm256_storeu_ps(dst + k, simd_widen_i8_avx2(src + k));
    for (; k < n; k++)
        dst[k] = (float)src[k];
}

static void simd_bf16_to_f32_avx2(const uint16_t *src, size_t n, float *dst)
{
    size_t k = 0;
    for (; k + AVX2_W <= n; k += AVX2_W)
        _mm256_storeu_ps(dst + k, simd_widen_avx2(src + k));
    for (; k < n; k++) {
        union {
            uint32_t u;
            float f;
        } v = {.u = (uint32_t)src[k] << 16};
        dst[k] = v.f;
    }
}

/* ---- MXFP4 weights ----------------------------------------------------------------------- */

#define MX_RW 4
#define MX_RX 2

static inline __attribute__((always_inline)) void
simd_tile_mxfp4_avx2(const uint8_t *blocks, const uint8_t *scales, size_t n_blocks, const float *x,
                     size_t xs, float *out, size_t os, const int rw, const int rx)
{
    __m256 acc[MX_RW][MX_RX];
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            acc[r][i] = _mm256_setzero_ps();
    for (size_t b = 0; b < n_blocks; b++) {
        for (int r = 0; r < rw; r++) {
            __m256 d[4];
            simd_decode_avx2(blocks + (r * n_blocks + b) * 16, scales[r * n_blocks + b], d);
            for (int i = 0; i < rx; i++) {
                const float *xb = x + i * xs + b * 32;
                for (int j = 0; j < 4; j++)
                    acc[r][i] = _mm256_fmadd_ps(d[j], _mm256_loadu_ps(xb + j * AVX2_W), acc[r][i]);
            }
        }
    }
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            out[i * os + r] = simd_reduce_avx2(acc[r][i]);
}

static void simd_tile_mxfp4_any_avx2(const uint8_t *blocks, const uint8_t *scales, size_t n_blocks,
                                     const float *x, size_t xs, float *out, size_t os, size_t rw,
                                     size_t rx)
{
    switch (rw * 4 + rx) {
    case 4 * 4 + 1: simd_tile_mxfp4_avx2(blocks, scales, n_blocks, x, xs, out, os, 4, 1); break;
    case 3 * 4 + 1: simd_tile_mxfp4_avx2(blocks, scales, n_blocks, x, xs, out, os, 3, 1); break;
    case 2 * 4 + 1: simd_tile_mxfp4_avx2(blocks, scales, n_blocks, x, xs, out, os, 2, 1); break;
    case 2 * 4 + 2: simd_tile_mxfp4_avx2(blocks, scales, n_blocks, x, xs, out, os, 2, 2); break;
    case 1 * 4 + 2: simd_tile_mxfp4_avx2(blocks, scales, n_blocks, x, xs, out, os, 1, 2); break;
    default: simd_tile_mxfp4_avx2(blocks, scales, n_blocks, x, xs, out, os, 1, 1); break;
    }
}

/* Tiles of 4 weight rows × 1 input row, or 2 × 2: four independent accumulator chains either
 * way, with the four decoded vectors of a block live beside them. */
static void simd_dot_mxfp4_avx2(const uint8_t *blocks, const uint8_t *scales, size_t n_w,
                                size_t n_blocks, const float *x, size_t x_stride, size_t n_x,
                                float *out, size_t out_stride)
{
    size_t rw_max = n_x == 1 ? MX_RW : 2;
    for (size_t r = 0; r < n_w; r += rw_max) {
        size_t rw = simd_min_avx2(rw_max, n_w - r);
        for (size_t i = 0; i < n_x; i += MX_RX)
            simd_tile_mxfp4_any_avx2(blocks + r * n_blocks * 16, scales + r * n_blocks, n_blocks,
                                     x + i * x_stride, x_stride, out + i * out_stride + r,
                                     out_stride, rw, simd_min_avx2(MX_RX, n_x - i));
    }
}

static void simd_mxfp4_to_f32_avx2(const uint8_t *blocks, const uint8_t *scales, size_t n_blocks,
                                   float *dst)
{
    for (size_t b = 0; b < n_blocks; b++) {
        __m256 d[4];
        simd_decode_avx2(blocks + b * 16, scales[b], d);
        for (int j = 0; j < 4; j++)
            _mm256_storeu_ps(dst + b * 32 + j * AVX2_W, d[j]);
    }
}

/* ---- transposed bf16 weights ------------------------------------------------------------- */

#define IO_CW 4 /* vectors of columns per tile */
#define IO_RX 2

static inline __attribute__((always_inline)) void simd_tile_io_avx2(const uint16_t *w, size_t ws,
                                                                    size_t n_in, const float *x,
                                                                    size_t xs, float *y, size_t ys,
                                                                    const int cw, const int rx)
{
    __m256 acc[IO_RX][IO_CW];
    for (int i = 0; i < rx; i++)
        for (int j = 0; j < cw; j++)
            acc[i][j] = _mm256_setzero_ps();
    for (size_t c = 0; c < n_in; c++) {
        __m256 wv[IO_CW];
        for (int j = 0; j < cw; j++)
            wv[j] = simd_widen_avx2(w + c * ws + j * AVX2_W);
        for (int i = 0; i < rx; i++) {
            __m256 xv = _mm256_broadcast_ss(x + i * xs + c);
            for (int j = 0; j < cw; j++)
                acc[i][j] = _mm256_fmadd_ps(wv[j], xv, acc[i][j]);
        }
    }
    for (int i = 0; i < rx; i++)
        for (int j = 0; j < cw; j++)
            _mm256_storeu_ps(y + i * ys + j * AVX2_W, acc[i][j]);
}

static void simd_dot_bf16_io_avx2(const uint16_t *w, size_t w_stride, size_t n_in, size_t o_begin,
                                  size_t o_end, const float *x, size_t x_stride, size_t n_x,
                                  float *y, size_t y_stride)
{
    for (size_t i = 0; i < n_x; i += IO_RX) {
        const float *xi = x + i * x_stride;
        float *yi = y + i * y_stride;
        int rx = (int)simd_min_avx2(IO_RX, n_x - i);
        size_t o = o_begin;
        for (; o + IO_CW * AVX2_W <= o_end; o += IO_CW * AVX2_W) {
            if (rx == 2)
                simd_tile_io_avx2(w + o, w_stride, n_in, xi, x_stride, yi + o, y_stride, 4, 2);
            else
                simd_tile_io_avx2(w + o, w_stride, n_in, xi, x_stride, yi + o, y_stride, 4, 1);
        }
        for (; o + AVX2_W <= o_end; o += AVX2_W) {
            if (rx == 2)
                simd_tile_io_avx2(w + o, w_stride, n_in, xi, x_stride, yi + o, y_stride, 1, 2);
            else
                simd_tile_io_avx2(w + o, w_stride, n_in, xi, x_stride, yi + o, y_stride, 1, 1);
        }
        /* Leftover columns one at a time, with the same fused step as a vector lane. */
        for (; o < o_end; o++) {
            for (int r = 0; r < rx; r++) {
                __m128 acc = _mm_setzero_ps();
                for (size_t c = 0; c < n_in; c++) {
                    __m128 wv = _mm_castsi128_ps(
                        _mm_cvtsi32_si128((int)((uint32_t)w[c * w_stride + o] << 16)));
                    acc = _mm_fmadd_ss(wv, _mm_load_ss(xi + r * x_stride + c), acc);
                }
                yi[r * y_stride + o] = _mm_cvtss_f32(acc);
            }
        }
    }
}

/* ---- small vectors ----------------------------------------------------------------------- */

static float simd_dot_avx2(const float *a, const float *b, size_t n)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 2 * AVX2_W <= n; i += 2 * AVX2_W) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 =
            _mm256_fmadd_ps(_mm256_loadu_ps(a + i + AVX2_W), _mm256_loadu_ps(b + i + AVX2_W), acc1);
    }
    if (i + AVX2_W <= n) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        i += AVX2_W;
    }
    __m128 s = _mm_set_ss(simd_reduce_avx2(_mm256_add_ps(acc0, acc1)));
    for (; i < n; i++)
        s = _mm_fmadd_ss(_mm_load_ss(a + i), _mm_load_ss(b + i), s);
    return _mm_cvtss_f32(s);
}

static void simd_axpy_avx2(float *y, float a, const float *x, size_t n)
{
    __m256 av = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + AVX2_W <= n; i += AVX2_W)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        _mm_store_ss(y + i, _mm_fmadd_ss(_mm_set_ss(a), _mm_load_ss(x + i), _mm_load_ss(y + i)));
}

/* x is loaded once for all rows when it fits in 8 registers (n <= 64, a head of gpt-oss). */
static void simd_axpy_rows_avx2(float *y, size_t n_rows, size_t n, const float *a, const float *x)
{
    if (n != 64) {
        for (size_t r = 0; r < n_rows; r++)
            simd_axpy_avx2(y + r * n, a[r], x, n);
        return;
    }
    __m256 xv[8];
    for (int j = 0; j < 8; j++)
        xv[j] = _mm256_loadu_ps(x + j * AVX2_W);
    for (size_t r = 0; r < n_rows; r++) {
        __m256 av = _mm256_set1_ps(a[r]);
        float *yr = y + r * n;
        for (int j = 0; j < 8; j++)
            _mm256_storeu_ps(yr + j * AVX2_W,
                             _mm256_fmadd_ps(av, xv[j], _mm256_loadu_ps(yr + j * AVX2_W)));
    }
}

const struct simd_kernels simd_kernels_avx2 = {
    .name = "avx2",
    .dot_f32 = simd_dot_f32_avx2,
    .dot_bf16 = simd_dot_bf16_avx2,
    .dot_mxfp4 = simd_dot_mxfp4_avx2,
    .bf16_to_f32 = simd_bf16_to_f32_avx2,
    .dot_i8 = simd_dot_i8_avx2,
    .i8_to_f32 = simd_i8_to_f32_avx2,
    .mxfp4_to_f32 = simd_mxfp4_to_f32_avx2,
    .dot_bf16_io = simd_dot_bf16_io_avx2,
    .dot = simd_dot_avx2,
    .axpy = simd_axpy_avx2,
    .axpy_rows = simd_axpy_rows_avx2,
    .few_rows_bf16 = 12,
    .few_rows_mxfp4 = 2,
};
