/* simd_avx512vnni.c — weight products with int8 activations (AVX-512 VNNI): the MXFP4 experts
 * and the int8 matrices of --weights int8. Built with -mavx512f -mavx512bw -mavx512vl
 * -mavx512vnni.
 *
 * The activations are quantised once per call to int8 with one scale per 32 values (simd.h,
 * struct simd_q8_kernels, has the layouts). vpdpbusd multiplies unsigned by signed bytes, so the
 * weights go in unsigned with an offset and the offset's share, which depends only on the
 * activations, is precomputed per block: an FP4 code becomes 12 + 2 × its value (0..24) through
 * one byte shuffle, an int8 weight becomes w + 128 through one xor. A block's integer sum is then
 * exact; it is converted to f32 and multiplied by the product of the two scales (the weight
 * block's power of two, the activation block's d), which is the only rounding besides the
 * activations' own. An MXFP4 block then costs about 0.5 ns on one Zen 4 core against 0.8 ns
 * with bf16 activations (cached data); from memory, what matters more is how far ahead the
 * weights are asked for, and into which cache (Q8_AHEAD_MXFP4, Q8_AHEAD_I8).
 *
 * Sums: one f32 accumulator vector per output; lane l takes the integer partial sums of its lane
 * of every group in ascending order, then simd_reduce_avx512. Each output's arithmetic is the
 * same whatever the tile it is computed in, so results do not depend on batching or threads.
 * Only reached when simd_supported(SIMD_AVX512) and the CPU has AVX512_VNNI.
 */
#include "backend/cpu/simd.h"
#include "backend/cpu/simd_avx512_reduce.h"

#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#define Q8_TILE_RW 4
#define Q8_TILE_RX 4

/* How far ahead the kernels ask for weights, into L2 (prefetcht1): for MXFP4 in one burst per
 * row, four rows of gpt-oss's 2880-wide matrices on (the scales follow 16 times closer); for
 * int8 rows one line per 64 values, 8 KB on. One-sequence decode of the 20b, int8 weights, the
 * two settings alternated token by token in one process: 1.10-1.13x the tokens/s of the earlier
 * burst of prefetcht0 two rows ahead and no int8 prefetch. The MXFP4 burst into L1
 * (prefetcht0) 8 KB on was 12 % slower than that earlier setting: lines fetched that early
 * evict ones still in use. Fixed distances, tuned on the 20b decode (Zen 4). */
#define Q8_AHEAD_MXFP4 5760
#define Q8_AHEAD_I8    8192

static inline size_t q8_min(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ---- quantising the activations ---------------------------------------------------------- */

/* One block of n <= 32 values (zero beyond n): d = max |x| / 127 and q = round(x / d), ties to
 * even. NaN anywhere makes d NaN, so that it reaches the output as it would in f32; ±inf leaves
 * q = ±127 and d = inf. Returns Σ q; the values come back as two vectors of 16 bytes. */
static int32_t q8_block(const float *x, size_t n, __m128i *q0, __m128i *q1, float *d_out)
{
    __mmask16 m0 = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
    __mmask16 m1 = n >= 32 ? (__mmask16)0xffff : n <= 16 ? 0 : (__mmask16)((1u << (n - 16)) - 1);
    __m512 a = _mm512_maskz_loadu_ps(m0, x), b = _mm512_maskz_loadu_ps(m1, x + 16);
    bool nan = (_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q));
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
    float d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
    const __m512i lim = _mm512_set1_epi32(127), nlim = _mm512_set1_epi32(-127);
    __m512 vid = _mm512_set1_ps(id);
    __m512i ia = _mm512_cvtps_epi32(_mm512_mul_ps(a, vid));
    __m512i ib = _mm512_cvtps_epi32(_mm512_mul_ps(b, vid));
    /* inf × (127 / inf) is NaN, which converts to INT_MIN: clamp, then nan decides */
    ia = _mm512_max_epi32(_mm512_min_epi32(ia, lim), nlim);
    ib = _mm512_max_epi32(_mm512_min_epi32(ib, lim), nlim);
    *q0 = _mm512_cvtepi32_epi8(ia);
    *q1 = _mm512_cvtepi32_epi8(ib);
    *d_out = nan ? NAN : d;
    return _mm512_reduce_add_epi32(_mm512_add_epi32(ia, ib));
}

static void q8_quantize_mxfp4(const float *x, size_t n, void *dst)
{
    size_t n_blocks = n / 32;
    uint8_t *out = dst;
    /* Even bytes to the low half, odd bytes to the high half. */
    const __m128i split = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    if (n_blocks % 4)
        memset(out + n_blocks / 4 * 256, 0, 256);
    for (size_t b = 0; b < n_blocks; b++) {
        uint8_t *grp = out + (b / 4) * 256;
        size_t j = b % 4;
        __m128i q0, q1;
        float d;
        int32_t s = q8_block(x + b * 32, 32, &q0, &q1, &d);
        q0 = _mm_shuffle_epi8(q0, split);
        q1 = _mm_shuffle_epi8(q1, split);
        _mm_storeu_si128((__m128i *)(grp + 16 * j), _mm_unpacklo_epi64(q0, q1));
        _mm_storeu_si128((__m128i *)(grp + 64 + 16 * j), _mm_unpackhi_epi64(q0, q1));
        _mm_storeu_si128((__m128i *)(grp + 128 + 16 * j), _mm_setr_epi32(-12 * s, 0, 0, 0));
        _mm_storeu_ps((float *)(grp + 192 + 16 * j), _mm_set1_ps(d * 0.5f));
    }
}

static void q8_quantize_rows(const float *x, size_t n, void *dst)
{
    uint8_t *out = dst;
    if (n % 64)
        memset(out + n / 64 * 192, 0, 192);
    for (size_t k = 0; k < n; k += 32) {
        uint8_t *grp = out + (k / 64) * 192;
        size_t j = (k / 32) % 2;
        __m128i q0, q1;
        float d;
        int32_t s = q8_block(x + k, q8_min(32, n - k), &q0, &q1, &d);
        _mm_storeu_si128((__m128i *)(grp + 32 * j), q0);
        _mm_storeu_si128((__m128i *)(grp + 32 * j + 16), q1);
        _mm256_storeu_si256((__m256i *)(grp + 64 + 32 * j),
                            _mm256_setr_epi32(-128 * s, 0, 0, 0, 0, 0, 0, 0));
        _mm256_storeu_ps((float *)(grp + 128 + 32 * j), _mm256_set1_ps(d));
    }
}

/* ---- MXFP4 × int8 ------------------------------------------------------------------------ */

/* 12 + 2 × the FP4 value of each code, in every 128-bit lane. */
static inline __m512i q8_fp4_lut(void)
{
    return _mm512_broadcast_i32x4(
        _mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
}

/* Spreads a group's 4 scale bytes (one 32-bit word) so that lanes 4j..4j+3 hold byte j, then
 * makes them the floats 2^(s - 127) (0 for s = 0: such blocks are below 2^-120). */
static inline __m512 q8_group_scales(uint32_t s4, __m512i spread)
{
    __m512i v = _mm512_shuffle_epi8(_mm512_set1_epi32((int)s4), spread);
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 23));
}

static inline __m512i q8_scale_spread(void)
{
    const char z = (char)0x80;
    return _mm512_set_epi8(z, z, z, 3, z, z, z, 3, z, z, z, 3, z, z, z, 3, z, z, z, 2, z, z, z, 2,
                           z, z, z, 2, z, z, z, 2, z, z, z, 1, z, z, z, 1, z, z, z, 1, z, z, z, 1,
                           z, z, z, 0, z, z, z, 0, z, z, z, 0, z, z, z, 0);
}

/* One group of 4 blocks (nb < 4 in the ragged last one) of rw rows against rx inputs. */
static inline __attribute__((always_inline)) void
group_mxfp4_q8(__m512 acc[Q8_TILE_RW][Q8_TILE_RX], const uint8_t *blocks, const uint8_t *scales,
               size_t n_blocks, const uint8_t *xq, size_t xs, size_t g, size_t nb, const int rw,
               const int rx)
{
    const __m512i lut = q8_fp4_lut(), spread = q8_scale_spread();
    const __m512i nib = _mm512_set1_epi8(15);
    for (int r = 0; r < rw; r++) {
        const uint8_t *blk = blocks + (r * n_blocks + 4 * g) * 16;
        const uint8_t *sc = scales + r * n_blocks + 4 * g;
        __m512i v;
        uint32_t s4;
        if (nb == 4) {
            if (g == 0) {
                /* Ask for a row's worth of blocks Q8_AHEAD_MXFP4 bytes on in one burst of
                 * independent requests: that keeps more of memory's latency in flight than the
                 * kernel's own loads, each waiting behind a dozen vector instructions (from DRAM,
                 * about 1.5x faster in one-sequence decode than no prefetch). A prefetch past the
                 * matrix is harmless. Moved into a helper function, this loop was deleted by GCC (a
                 * loop whose only effect is prefetching): check the object code for prefetcht1
                 * after touching it. */
                const char *ahead = (const char *)blk + Q8_AHEAD_MXFP4;
                for (size_t o = 0; o < n_blocks * 16; o += 64)
                    _mm_prefetch(ahead + o, _MM_HINT_T1);
                _mm_prefetch((const char *)sc + Q8_AHEAD_MXFP4 / 16, _MM_HINT_T1);
            }
            v = _mm512_loadu_si512(blk);
            memcpy(&s4, sc, 4);
        } else {
            v = _mm512_maskz_loadu_epi8(((__mmask64)1 << (16 * nb)) - 1, blk);
            s4 = (uint32_t)_mm_cvtsi128_si32(_mm_maskz_loadu_epi8((__mmask16)((1u << nb) - 1), sc));
        }
        __m512i lo = _mm512_shuffle_epi8(lut, _mm512_and_si512(v, nib));
        __m512i hi = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(v, 4), nib));
        __m512 ws = q8_group_scales(s4, spread);
        for (int i = 0; i < rx; i++) {
            const uint8_t *grp = xq + i * xs + g * 256;
            __m512i a = _mm512_load_si512(grp + 128);
            a = _mm512_dpbusd_epi32(a, lo, _mm512_load_si512(grp));
            a = _mm512_dpbusd_epi32(a, hi, _mm512_load_si512(grp + 64));
            __m512 s = _mm512_mul_ps(ws, _mm512_load_ps((const float *)(grp + 192)));
            acc[r][i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), s, acc[r][i]);
        }
    }
}

static inline __attribute__((always_inline)) void
tile_mxfp4_q8(const uint8_t *blocks, const uint8_t *scales, size_t n_blocks, const uint8_t *xq,
              size_t xs, float *out, size_t os, const int rw, const int rx)
{
    __m512 acc[Q8_TILE_RW][Q8_TILE_RX];
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            acc[r][i] = _mm512_setzero_ps();
    size_t n_full = n_blocks / 4;
    for (size_t g = 0; g < n_full; g++)
        group_mxfp4_q8(acc, blocks, scales, n_blocks, xq, xs, g, 4, rw, rx);
    if (n_blocks % 4)
        group_mxfp4_q8(acc, blocks, scales, n_blocks, xq, xs, n_full, n_blocks % 4, rw, rx);
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            out[i * os + r] = simd_reduce_avx512(acc[r][i]);
}

static void dot_mxfp4_q8(const uint8_t *blocks, const uint8_t *scales, size_t n_w, size_t n_blocks,
                         const void *xq, size_t xq_stride, size_t n_x, float *out,
                         size_t out_stride)
{
    /* For a few inputs, one row at a time reads the weights as one sequential stream, which the
     * hardware prefetchers follow best; sharing the inputs' loads over 4 rows gains nothing. */
    size_t tile_rw = n_x <= Q8_TILE_RX ? 1 : Q8_TILE_RW;
    for (size_t r = 0; r < n_w; r += tile_rw) {
        size_t rw = q8_min(tile_rw, n_w - r);
        for (size_t i = 0; i < n_x; i += Q8_TILE_RX) {
            size_t rx = q8_min(Q8_TILE_RX, n_x - i);
            SIMD_TILE_CASES(tile_mxfp4_q8, blocks + r * n_blocks * 16, scales + r * n_blocks,
                            n_blocks, (const uint8_t *)xq + i * xq_stride, xq_stride,
                            out + i * out_stride + r, out_stride)
        }
    }
}

/* ---- int8 rows × int8 -------------------------------------------------------------------- */

static inline __attribute__((always_inline)) void tile_i8_q8(const int8_t *w, size_t ws,
                                                             size_t n_in, const uint8_t *xq,
                                                             size_t xs, float *out, size_t os,
                                                             const int rw, const int rx)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 acc[Q8_TILE_RW][Q8_TILE_RX];
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            acc[r][i] = _mm512_setzero_ps();
    for (size_t k = 0; k < n_in; k += 64) {
        /* The ragged end reads nothing past the row; its missing weights meet q = 0. */
        __mmask64 m = n_in - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n_in - k)) - 1);
        for (int r = 0; r < rw; r++) {
            /* Only in the one-row tiles of a few inputs (decode), which stream the weights; the
             * many-input tiles are bound by arithmetic and would only pay for the instruction. A
             * prefetch past the matrix is harmless. */
            if (rw == 1)
                _mm_prefetch((const char *)(w + k) + Q8_AHEAD_I8, _MM_HINT_T1);
            __m512i wv = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, w + r * ws + k), flip);
            for (int i = 0; i < rx; i++) {
                const uint8_t *grp = xq + i * xs + (k / 64) * 192;
                __m512i a = _mm512_load_si512(grp + 64);
                a = _mm512_dpbusd_epi32(a, wv, _mm512_load_si512(grp));
                acc[r][i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a),
                                            _mm512_load_ps((const float *)(grp + 128)), acc[r][i]);
            }
        }
    }
    for (int r = 0; r < rw; r++)
        for (int i = 0; i < rx; i++)
            out[i * os + r] = simd_reduce_avx512(acc[r][i]);
}

static void dot_i8_q8(const int8_t *w, size_t w_stride, size_t n_w, size_t n_in, const void *xq,
                      size_t xq_stride, size_t n_x, float *out, size_t out_stride)
{
    size_t tile_rw = n_x <= Q8_TILE_RX ? 1 : Q8_TILE_RW; /* as dot_mxfp4_q8 */
    for (size_t i = 0; i < n_x; i += Q8_TILE_RX) {
        size_t rx = q8_min(Q8_TILE_RX, n_x - i);
        for (size_t r = 0; r < n_w; r += tile_rw) {
            size_t rw = q8_min(tile_rw, n_w - r);
            SIMD_TILE_CASES(tile_i8_q8, w + r * w_stride, w_stride, n_in,
                            (const uint8_t *)xq + i * xq_stride, xq_stride,
                            out + i * out_stride + r, out_stride)
        }
    }
}

const struct simd_q8_kernels simd_q8_kernels_avx512vnni = {
    .quantize_mxfp4 = q8_quantize_mxfp4,
    .dot_mxfp4 = dot_mxfp4_q8,
    .quantize_rows = q8_quantize_rows,
    .dot_i8 = dot_i8_q8,
};
