/* simd_avx512_reduce.h — the fixed reduction tree of the AVX-512 tables (avx512, avx512bf16),
 * for files compiled with -mavx512f. One definition, so every kernel that follows simd.h's
 * summation rule on 16 lanes ends the same way.
 */
#ifndef GPTOSS_BACKEND_CPU_SIMD_AVX512_REDUCE_H
#define GPTOSS_BACKEND_CPU_SIMD_AVX512_REDUCE_H

#include <immintrin.h>

/* Halves added (lane j + lane j+8), then the AVX2 tree on the 8 sums. */
static inline float simd_reduce_avx512(__m512 v)
{
    __m256 lo = _mm512_castps512_ps256(v);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    __m256 s8 = _mm256_add_ps(lo, hi);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#endif
