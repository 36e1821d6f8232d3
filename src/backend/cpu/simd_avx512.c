/* simd_avx512.c — the simd.h kernels for AVX-512 F/BW/VL (16 f32 lanes), built with -mavx512f
 * -mavx512bw -mavx512vl -mavx2 -mfma -mf16c.
 *
 * The same structure as simd_avx2.c with W = 16: one __m512 accumulator per output, one fused
 * multiply-add per 16 elements in ascending order, then simd_reduce_avx512's fixed tree; the
 * 32 vector registers allow 4 × 4 tiles. Ragged ends use masked loads (a masked-off lane reads
 * nothing and is zero), which keeps every lane's sequence of operations the same as in the
 * full-width path. bf16 weights are widened to f32 and multiplied in f32, never with
 * vdpbf16ps, which would round the activations to bf16. Only reached when
 * simd_supported(SIMD_AVX512) said yes.
 */
#include "backend/cpu/simd.h"
#include "backend/cpu/simd_avx512_reduce.h"

#include <immintrin.h>

#define AVX512_W 16

/* ---- shared pieces ----------------------------------------------------------------------- */

static inline __m512 simd_widen16_avx512(__m256i u16)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(u16), 16));
}

static inline __m512 simd_widen_avx512(const uint16_t *p)
{
    return simd_widen16_avx512(_mm256_loadu_si256((const __m256i *)p));
}

/* 16 int8 → 16 f32, exactly. */
static inline __m512 simd_widen_i8_avx512(const int8_t *p)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

/* Lanes 0..n-1 set (n may be 0..16 or more). */
static inline __mmask16 simd_mask_avx512(size_t n)
{
    return n >= AVX512_W ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}

/* The bf16 at p[0..n) followed by zeros; reads nothing past p[n-1]. */
static inline __m512 simd_widen_tail_avx512(const uint16_t *p, size_t n)
{
    return simd_widen16_avx512(_mm256_maskz_loadu_epi16(simd_mask_avx512(n), p));
}

/* The int8 at p[0..n) followed by zeros; reads nothing past p[n-1]. */
static inline __m512 simd_widen_i8_tail_avx512(const int8_t *p, size_t n)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(simd_mask_avx512(n), p)));
}

/* One 32-value MXFP4 block → 2 vectors in nibble order (simd.h): each nibble is looked up as
 * the high byte of an IEEE half, widened to 16 bits and then exactly to f32, and scaled by
 * 2^(s-127) — mxfp4_decode_block's products, bit for bit. */
static inline void simd_decode_avx512(const uint8_t *blk, uint8_t scale, __m512 d[2])
{
    static const uint8_t half_high[16] = SIMD_FP4_HALF_HIGH;
    const __m128i lut = _mm_loadu_si128((const __m128i *)half_high);
    const __m128i nibble = _mm_set1_epi8(0x0f);
    __m128i bytes = _mm_loadu_si128((const __m128i *)blk);
    __m128i even = _mm_shuffle_epi8(lut, _mm_and_si128(bytes, nibble));
    __m128i odd = _mm_shuffle_epi8(lut, _mm_and_si128(_mm_srli_epi16(bytes, 4), nibble));
    __m512 s = _mm512_set1_ps(simd_e8m0_scale(scale));
    d[0] = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_slli_epi16(_mm256_cvtepu8_epi16(even), 8)), s);
    d[1] = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_slli_epi16(_mm256_cvtepu8_epi16(odd), 8)), s);
}

static inline size_t simd_min_avx512(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ---- f32 weights ------------------------------------------------------------------------- */

#define TILE_RW 4
#define TILE_RX 4

static inline __attribute__((always_inline)) void
simd_tile_f32_avx512(const float *w, size_t ws, const float *x, size_t xs, size_t k_pad, float *out,
                     size_t os, const int rw, const int rx)
{
    __m512 acc[TILE_RW][TILE_RX];
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            acc[r][i] = _mm512_setzero_ps();
    for (size_t k = 0; k < k_pad; k += AVX512_W) {
        __m512 xv[TILE_RX];
        for (int i = 0; i < rx; i++)
            xv[i] = _mm512_loadu_ps(x + i * xs + k);
        for (int r = 0; r < rw; r++) {
            __m512 wv = _mm512_loadu_ps(w + r * ws + k);
            for (int i = 0; i < rx; i++)
                acc[r][i] = _mm512_fmadd_ps(wv, xv[i], acc[r][i]);
        }
    }
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            out[i * os + r] = simd_reduce_avx512(acc[r][i]);
}

static void simd_tile_f32_any_avx512(const float *w, size_t ws, const float *x, size_t xs,
                                     size_t k_pad, float *out, size_t os, size_t rw, size_t rx)
{
    switch (rw * 8 + rx) {
    case 4 * 8 + 4: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 4, 4); break;
    case 4 * 8 + 3: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 4, 3); break;
    case 4 * 8 + 2: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 4, 2); break;
    case 4 * 8 + 1: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 4, 1); break;
    case 3 * 8 + 4: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 3, 4); break;
    case 3 * 8 + 3: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 3, 3); break;
    case 3 * 8 + 2: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 3, 2); break;
    case 3 * 8 + 1: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 3, 1); break;
    case 2 * 8 + 4: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 2, 4); break;
    case 2 * 8 + 3: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 2, 3); break;
    case 2 * 8 + 2: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 2, 2); break;
    case 2 * 8 + 1: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 2, 1); break;
    case 1 * 8 + 4: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 1, 4); break;
    case 1 * 8 + 3: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 1, 3); break;
    case 1 * 8 + 2: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 1, 2); break;
    default: simd_tile_f32_avx512(w, ws, x, xs, k_pad, out, os, 1, 1); break;
    }
}

static void simd_dot_f32_avx512(const float *w, size_t w_stride, size_t n_w, const float *x,
                                size_t x_stride, size_t n_x, size_t k_pad, float *out,
                                size_t out_stride)
{
    for (size_t i = 0; i < n_x; i += TILE_RX) {
        size_t rx = simd_min_avx512(TILE_RX, n_x - i);
        for (size_t r = 0; r < n_w; r += TILE_RW)
            simd_tile_f32_any_avx512(w + r * w_stride, w_stride, x + i * x_stride, x_stride, k_pad,
                                     out + i * out_stride + r, out_stride,
                                     simd_min_avx512(TILE_RW, n_w - r), rx);
    }
}

/* ---- bf16 weights ------------------------------------------------------------------------ */

/* bf16 weights, or with i8 int8 weights (widened exactly; the row scale is the caller's). */
static inline __attribute__((always_inline)) void
simd_tile_bf16_avx512(const void *w, size_t ws, size_t n_in, const float *x, size_t xs,
                      size_t k_pad, float *out, size_t os, const int rw, const int rx, const int i8)
{
    const uint16_t *wb = w;
    const int8_t *wi = w;
    __m512 acc[TILE_RW][TILE_RX];
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            acc[r][i] = _mm512_setzero_ps();
    size_t k = 0;
    for (; k + AVX512_W <= n_in; k += AVX512_W) {
        __m512 xv[TILE_RX];
        for (int i = 0; i < rx; i++)
            xv[i] = _mm512_loadu_ps(x + i * xs + k);
        for (int r = 0; r < rw; r++) {
            __m512 wv =
                i8 ? simd_widen_i8_avx512(wi + r * ws + k) : simd_widen_avx512(wb + r * ws + k);
            for (int i = 0; i < rx; i++)
                acc[r][i] = _mm512_fmadd_ps(wv, xv[i], acc[r][i]);
        }
    }
    for (; k < k_pad; k += AVX512_W) {
        size_t left = k < n_in ? n_in - k : 0;
        for (int r = 0; r < rw; r++) {
            __m512 wv = i8 ? simd_widen_i8_tail_avx512(wi + r * ws + k, left)
                           : simd_widen_tail_avx512(wb + r * ws + k, left);
            for (int i = 0; i < rx; i++)
                acc[r][i] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + i * xs + k), acc[r][i]);
        }
    }
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            out[i * os + r] = simd_reduce_avx512(acc[r][i]);
}

static inline __attribute__((always_inline)) void
simd_tile_bf16_any_avx512(const void *w, size_t ws, size_t n_in, const float *x, size_t xs,
                          size_t k_pad, float *out, size_t os, size_t rw, size_t rx, const int i8)
{
    switch (rw * 8 + rx) {
    case 4 * 8 + 4: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 4, 4, i8); break;
    case 4 * 8 + 3: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 4, 3, i8); break;
    case 4 * 8 + 2: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 4, 2, i8); break;
    case 4 * 8 + 1: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 4, 1, i8); break;
    case 3 * 8 + 4: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 3, 4, i8); break;
    case 3 * 8 + 3: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 3, 3, i8); break;
    case 3 * 8 + 2: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 3, 2, i8); break;
    case 3 * 8 + 1: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 3, 1, i8); break;
    case 2 * 8 + 4: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 2, 4, i8); break;
    case 2 * 8 + 3: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 2, 3, i8); break;
    case 2 * 8 + 2: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 2, 2, i8); break;
    case 2 * 8 + 1: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 2, 1, i8); break;
    case 1 * 8 + 4: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 1, 4, i8); break;
    case 1 * 8 + 3: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 1, 3, i8); break;
    case 1 * 8 + 2: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 1, 2, i8); break;
    default: simd_tile_bf16_avx512(w, ws, n_in, x, xs, k_pad, out, os, 1, 1, i8); break;
    }
}

static inline __attribute__((always_inline)) void
simd_dot_w16_avx512(const void *w, size_t w_stride, size_t n_w, size_t n_in, const float *x,
                    size_t x_stride, size_t n_x, size_t k_pad, float *out, size_t out_stride,
                    const int i8)
{
    size_t esize = i8 ? 1 : 2;
    for (size_t r = 0; r < n_w; r += TILE_RW) {
        size_t rw = simd_min_avx512(TILE_RW, n_w - r);
        for (size_t i = 0; i < n_x; i += TILE_RX)
            simd_tile_bf16_any_avx512((const char *)w + r * w_stride * esize, w_stride, n_in,
                                      x + i * x_stride, x_stride, k_pad, out + i * out_stride + r,
                                      out_stride, rw, simd_min_avx512(TILE_RX, n_x - i), i8);
    }
}

static void simd_dot_bf16_avx512(const uint16_t *w, size_t w_stride, size_t n_w, size_t n_in,
                                 const float *x, size_t x_stride, size_t n_x, size_t k_pad,
                                 float *out, size_t out_stride)
{
    simd_dot_w16_avx512(w, w_stride, n_w, n_in, x, x_stride, n_x, k_pad, out, out_stride, 0);
}

static void simd_dot_i8_avx512(const int8_t *w, size_t w_stride, size_t n_w, size_t n_in,
                               const float *x, size_t x_stride, size_t n_x, size_t k_pad,
                               float *out, size_t out_stride)
{
    simd_dot_w16_avx512(w, w_stride, n_w, n_in, x, x_stride, n_x, k_pad, out, out_stride, 1);
}

static void simd_i8_to_f32_avx512(const int8_t *src, size_t n, float *dst)
{
    size_t k = 0;
    for (; k + AVX512_W <= n; k += AVX512_W)
        _mm512_storeu_ps(dst + k, simd_widen_i8_avx512(src + k));
    if (k < n)
        _mm512_mask_storeu_ps(dst + k, simd_mask_avx512(n - k),
                              simd_widen_i8_tail_avx512(src + k, n - k));
}

static void simd_bf16_to_f32_avx512(const uint16_t *src, size_t n, float *dst)
{
    size_t k = 0;
    for (; k + AVX512_W <= n; k += AVX512_W)
        _mm512_storeu_ps(dst + k, simd_widen_avx512(src + k));
    if (k < n)
        _mm512_mask_storeu_ps(dst + k, simd_mask_avx512(n - k),
                              simd_widen_tail_avx512(src + k, n - k));
}

/* ---- MXFP4 weights ----------------------------------------------------------------------- */

static inline __attribute__((always_inline)) void
simd_tile_mxfp4_avx512(const uint8_t *blocks, const uint8_t *scales, size_t n_blocks,
                       const float *x, size_t xs, float *out, size_t os, const int rw, const int rx)
{
    __m512 acc[TILE_RW][TILE_RX];
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            acc[r][i] = _mm512_setzero_ps();
    for (size_t b = 0; b < n_blocks; b++) {
        for (int r = 0; r < rw; r++) {
            __m512 d[2];
            simd_decode_avx512(blocks + (r * n_blocks + b) * 16, scales[r * n_blocks + b], d);
            for (int i = 0; i < rx; i++) {
                const float *xb = x + i * xs + b * 32;
                acc[r][i] = _mm512_fmadd_ps(d[0], _mm512_loadu_ps(xb), acc[r][i]);
                acc[r][i] = _mm512_fmadd_ps(d[1], _mm512_loadu_ps(xb + AVX512_W), acc[r][i]);
            }
        }
    }
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            out[i * os + r] = simd_reduce_avx512(acc[r][i]);
}

static void simd_tile_mxfp4_any_avx512(const uint8_t *blocks, const uint8_t *scales,
                                       size_t n_blocks, const float *x, size_t xs, float *out,
                                       size_t os, size_t rw, size_t rx)
{
    const uint8_t *b = blocks;
    const uint8_t *s = scales;
    size_t nb = n_blocks;
    switch (rw * 8 + rx) {
    case 4 * 8 + 4: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 4, 4); break;
    case 4 * 8 + 3: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 4, 3); break;
    case 4 * 8 + 2: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 4, 2); break;
    case 4 * 8 + 1: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 4, 1); break;
    case 3 * 8 + 4: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 3, 4); break;
    case 3 * 8 + 3: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 3, 3); break;
    case 3 * 8 + 2: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 3, 2); break;
    case 3 * 8 + 1: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 3, 1); break;
    case 2 * 8 + 4: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 2, 4); break;
    case 2 * 8 + 3: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 2, 3); break;
    case 2 * 8 + 2: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 2, 2); break;
    case 2 * 8 + 1: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 2, 1); break;
    case 1 * 8 + 4: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 1, 4); break;
    case 1 * 8 + 3: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 1, 3); break;
    case 1 * 8 + 2: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 1, 2); break;
    default: simd_tile_mxfp4_avx512(b, s, nb, x, xs, out, os, 1, 1); break;
    }
}

static void simd_dot_mxfp4_avx512(const uint8_t *blocks, const uint8_t *scales, size_t n_w,
                                  size_t n_blocks, const float *x, size_t x_stride, size_t n_x,
                                  float *out, size_t out_stride)
{
    for (size_t r = 0; r < n_w; r += TILE_RW) {
        size_t rw = simd_min_avx512(TILE_RW, n_w - r);
        for (size_t i = 0; i < n_x; i += TILE_RX)
            simd_tile_mxfp4_any_avx512(blocks + r * n_blocks * 16, scales + r * n_blocks, n_blocks,
                                       x + i * x_stride, x_stride, out + i * out_stride + r,
                                       out_stride, rw, simd_min_avx512(TILE_RX, n_x - i));
    }
}

static void simd_mxfp4_to_f32_avx512(const uint8_t *blocks, const uint8_t *scales, size_t n_blocks,
                                     float *dst)
{
    for (size_t b = 0; b < n_blocks; b++) {
        __m512 d[2];
        simd_decode_avx512(blocks + b * 16, scales[b], d);
        _mm512_storeu_ps(dst + b * 32, d[0]);
        _mm512_storeu_ps(dst + b * 32 + AVX512_W, d[1]);
    }
}

/* ---- transposed bf16 weights ------------------------------------------------------------- */

#define IO_CW 4 /* vectors of columns per tile */
#define IO_RX 4

/* Columns o..o + cw*16 (the last vector masked to `last` lanes) for rx input rows. */
static inline __attribute__((always_inline)) void
simd_tile_io_avx512(const uint16_t *w, size_t ws, size_t n_in, const float *x, size_t xs, float *y,
                    size_t ys, __mmask16 last, const int cw, const int rx)
{
    __m512 acc[IO_RX][IO_CW];
    for (int i = 0; i < rx; i++)
        for (int j = 0; j < cw; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (size_t c = 0; c < n_in; c++) {
        __m512 wv[IO_CW];
        for (int j = 0; j < cw; j++) {
            __mmask16 m = j == cw - 1 ? last : (__mmask16)0xffff;
            wv[j] = simd_widen16_avx512(_mm256_maskz_loadu_epi16(m, w + c * ws + j * AVX512_W));
        }
        for (int i = 0; i < rx; i++) {
            __m512 xv = _mm512_set1_ps(x[i * xs + c]);
            for (int j = 0; j < cw; j++)
                acc[i][j] = _mm512_fmadd_ps(wv[j], xv, acc[i][j]);
        }
    }
    for (int i = 0; i < rx; i++)
        for (int j = 0; j < cw; j++) {
            __mmask16 m = j == cw - 1 ? last : (__mmask16)0xffff;
            _mm512_mask_storeu_ps(y + i * ys + j * AVX512_W, m, acc[i][j]);
        }
}

static void simd_tile_io_any_avx512(const uint16_t *w, size_t ws, size_t n_in, const float *x,
                                    size_t xs, float *y, size_t ys, __mmask16 last, int cw,
                                    size_t rx)
{
    if (cw == IO_CW) {
        switch (rx) {
        case 4: simd_tile_io_avx512(w, ws, n_in, x, xs, y, ys, last, 4, 4); break;
        case 3: simd_tile_io_avx512(w, ws, n_in, x, xs, y, ys, last, 4, 3); break;
        case 2: simd_tile_io_avx512(w, ws, n_in, x, xs, y, ys, last, 4, 2); break;
        default: simd_tile_io_avx512(w, ws, n_in, x, xs, y, ys, last, 4, 1); break;
        }
    } else {
        switch (rx) {
        case 4: simd_tile_io_avx512(w, ws, n_in, x, xs, y, ys, last, 1, 4); break;
        case 3: simd_tile_io_avx512(w, ws, n_in, x, xs, y, ys, last, 1, 3); break;
        case 2: simd_tile_io_avx512(w, ws, n_in, x, xs, y, ys, last, 1, 2); break;
        default: simd_tile_io_avx512(w, ws, n_in, x, xs, y, ys, last, 1, 1); break;
        }
    }
}

static void simd_dot_bf16_io_avx512(const uint16_t *w, size_t w_stride, size_t n_in, size_t o_begin,
                                    size_t o_end, const float *x, size_t x_stride, size_t n_x,
                                    float *y, size_t y_stride)
{
    for (size_t i = 0; i < n_x; i += IO_RX) {
        size_t rx = simd_min_avx512(IO_RX, n_x - i);
        const float *xi = x + i * x_stride;
        float *yi = y + i * y_stride;
        size_t o = o_begin;
        for (; o + IO_CW * AVX512_W <= o_end; o += IO_CW * AVX512_W)
            simd_tile_io_any_avx512(w + o, w_stride, n_in, xi, x_stride, yi + o, y_stride,
                                    (__mmask16)0xffff, IO_CW, rx);
        for (; o < o_end; o += AVX512_W)
            simd_tile_io_any_avx512(w + o, w_stride, n_in, xi, x_stride, yi + o, y_stride,
                                    simd_mask_avx512(o_end - o), 1, rx);
    }
}

/* ---- small vectors ----------------------------------------------------------------------- */

static float simd_dot_avx512(const float *a, const float *b, size_t n)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 2 * AVX512_W <= n; i += 2 * AVX512_W) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + AVX512_W), _mm512_loadu_ps(b + i + AVX512_W),
                               acc1);
    }
    for (; i < n; i += AVX512_W) {
        __mmask16 m = simd_mask_avx512(n - i);
        acc0 =
            _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc0);
    }
    return simd_reduce_avx512(_mm512_add_ps(acc0, acc1));
}

static void simd_axpy_avx512(float *y, float a, const float *x, size_t n)
{
    __m512 av = _mm512_set1_ps(a);
    size_t i = 0;
    for (; i + AVX512_W <= n; i += AVX512_W)
        _mm512_storeu_ps(y + i,
                         _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = simd_mask_avx512(n - i);
        __m512 r =
            _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i));
        _mm512_mask_storeu_ps(y + i, m, r);
    }
}

static void simd_axpy_rows_avx512(float *y, size_t n_rows, size_t n, const float *a, const float *x)
{
    for (size_t r = 0; r < n_rows; r++)
        simd_axpy_avx512(y + r * n, a[r], x, n);
}

const struct simd_kernels simd_kernels_avx512 = {
    .name = "avx512",
    .dot_f32 = simd_dot_f32_avx512,
    .dot_bf16 = simd_dot_bf16_avx512,
    .dot_mxfp4 = simd_dot_mxfp4_avx512,
    .bf16_to_f32 = simd_bf16_to_f32_avx512,
    .dot_i8 = simd_dot_i8_avx512,
    .i8_to_f32 = simd_i8_to_f32_avx512,
    .mxfp4_to_f32 = simd_mxfp4_to_f32_avx512,
    .dot_bf16_io = simd_dot_bf16_io_avx512,
    .dot = simd_dot_avx512,
    .axpy = simd_axpy_avx512,
    .axpy_rows = simd_axpy_rows_avx512,
    .few_rows_bf16 = 12,
    .few_rows_mxfp4 = 2,
};
