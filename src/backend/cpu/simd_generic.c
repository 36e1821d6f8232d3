/* simd_generic.c — the portable twin of every SIMD kernel, and the run-time choice of table.
 *
 * Plain C that follows the summation rule of simd.h with W = 8: each dot keeps eight partial
 * sums (which the compiler may map onto whatever vector registers the baseline target has)
 * and reduces them with the same tree as the AVX2 kernels, but with separate multiplies and
 * adds, as ISO C compiles them. It runs on any CPU and is the fallback when neither AVX2 nor
 * AVX-512 is there, or when GPTOSS_CPU_ISA=generic asks for it.
 */
#include "backend/cpu/simd.h"

#include "backend/backend.h"

#include "backend/tensor.h"
#include "base/xalloc.h"

#include <pthread.h>
#include <stdatomic.h>
#ifdef GPTOSS_SIMD_X86
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

#define GENERIC_W 8

/* ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)): the tree the AVX2 reduction computes. */
static float simd_reduce_generic(const float acc[GENERIC_W])
{
    float s0 = acc[0] + acc[4], s1 = acc[1] + acc[5], s2 = acc[2] + acc[6], s3 = acc[3] + acc[7];
    return (s0 + s2) + (s1 + s3);
}

static float simd_dot_pad_generic(const float *w, const float *x, size_t k_pad)
{
    float acc[GENERIC_W] = {0};
    for (size_t k = 0; k < k_pad; k += GENERIC_W)
        for (int l = 0; l < GENERIC_W; l++)
            acc[l] += w[k + l] * x[k + l];
    return simd_reduce_generic(acc);
}

static void simd_dot_f32_generic(const float *w, size_t w_stride, size_t n_w, const float *x,
                                 size_t x_stride, size_t n_x, size_t k_pad, float *out,
                                 size_t out_stride)
{
    for (size_t r = 0; r < n_w; r++)
        for (size_t i = 0; i < n_x; i++)
            out[i * out_stride + r] =
                simd_dot_pad_generic(w + r * w_stride, x + i * x_stride, k_pad);
}

static void simd_bf16_to_f32_generic(const uint16_t *src, size_t n, float *dst)
{
    for (size_t k = 0; k < n; k++)
        dst[k] = bf16_to_f32(src[k]);
}

static void simd_i8_to_f32_generic(const int8_t *src, size_t n, float *dst)
{
    for (size_t k = 0; k < n; k++)
        dst[k] = (float)src[k];
}

/* Rows of bf16 (i8 = 0) or int8 weights, each widened to f32 once for all the input rows. */
static void simd_dot_widened_generic(const void *w, size_t w_stride, size_t n_w, size_t n_in,
                                     const float *x, size_t x_stride, size_t n_x, size_t k_pad,
                                     float *out, size_t out_stride, int i8)
{
    float *row = xmalloc(k_pad * sizeof(float));
    for (size_t r = 0; r < n_w; r++) {
        if (i8)
            simd_i8_to_f32_generic((const int8_t *)w + r * w_stride, n_in, row);
        else
            simd_bf16_to_f32_generic((const uint16_t *)w + r * w_stride, n_in, row);
        memset(row + n_in, 0, (k_pad - n_in) * sizeof(float));
        for (size_t i = 0; i < n_x; i++)
            out[i * out_stride + r] = simd_dot_pad_generic(row, x + i * x_stride, k_pad);
    }
    free(row);
}

static void simd_dot_bf16_generic(const uint16_t *w, size_t w_stride, size_t n_w, size_t n_in,
                                  const float *x, size_t x_stride, size_t n_x, size_t k_pad,
                                  float *out, size_t out_stride)
{
    simd_dot_widened_generic(w, w_stride, n_w, n_in, x, x_stride, n_x, k_pad, out, out_stride, 0);
}

static void simd_dot_i8_generic(const int8_t *w, size_t w_stride, size_t n_w, size_t n_in,
                                const float *x, size_t x_stride, size_t n_x, size_t k_pad,
                                float *out, size_t out_stride)
{
    simd_dot_widened_generic(w, w_stride, n_w, n_in, x, x_stride, n_x, k_pad, out, out_stride, 1);
}

static void simd_mxfp4_to_f32_generic(const uint8_t *blocks, const uint8_t *scales, size_t n_blocks,
                                      float *dst)
{
    for (size_t b = 0; b < n_blocks; b++) {
        float scale = simd_e8m0_scale(scales[b]);
        const uint8_t *blk = blocks + b * 16;
        float *d = dst + b * 32;
        for (int j = 0; j < 16; j++) {
            d[j] = mxfp4_value(blk[j] & 0x0f) * scale;
            d[16 + j] = mxfp4_value(blk[j] >> 4) * scale;
        }
    }
}

void simd_mxfp4_order(const float *x, size_t n, float *out)
{
    for (size_t b = 0; b < n; b += 32)
        for (int j = 0; j < 16; j++) {
            out[b + j] = x[b + 2 * j];
            out[b + 16 + j] = x[b + 2 * j + 1];
        }
}

static void simd_dot_mxfp4_generic(const uint8_t *blocks, const uint8_t *scales, size_t n_w,
                                   size_t n_blocks, const float *x, size_t x_stride, size_t n_x,
                                   float *out, size_t out_stride)
{
    size_t k = n_blocks * 32;
    float *row = xmalloc(k * sizeof(float));
    for (size_t r = 0; r < n_w; r++) {
        simd_mxfp4_to_f32_generic(blocks + r * n_blocks * 16, scales + r * n_blocks, n_blocks, row);
        for (size_t i = 0; i < n_x; i++)
            out[i * out_stride + r] = simd_dot_pad_generic(row, x + i * x_stride, k);
    }
    free(row);
}

static void simd_dot_bf16_io_generic(const uint16_t *w, size_t w_stride, size_t n_in,
                                     size_t o_begin, size_t o_end, const float *x, size_t x_stride,
                                     size_t n_x, float *y, size_t y_stride)
{
    for (size_t i = 0; i < n_x; i++) {
        const float *xi = x + i * x_stride;
        float *yi = y + i * y_stride;
        for (size_t o = o_begin; o < o_end; o++)
            yi[o] = 0.0f;
        for (size_t c = 0; c < n_in; c++) {
            const uint16_t *wc = w + c * w_stride;
            for (size_t o = o_begin; o < o_end; o++)
                yi[o] += bf16_to_f32(wc[o]) * xi[c];
        }
    }
}

static float simd_dot_generic(const float *a, const float *b, size_t n)
{
    float acc[GENERIC_W] = {0};
    size_t i = 0;
    for (; i + GENERIC_W <= n; i += GENERIC_W)
        for (int l = 0; l < GENERIC_W; l++)
            acc[l] += a[i + l] * b[i + l];
    for (int l = 0; i + (size_t)l < n; l++)
        acc[l] += a[i + l] * b[i + l];
    return simd_reduce_generic(acc);
}

static void simd_axpy_generic(float *y, float a, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

static void simd_axpy_rows_generic(float *y, size_t n_rows, size_t n, const float *a,
                                   const float *x)
{
    for (size_t r = 0; r < n_rows; r++)
        simd_axpy_generic(y + r * n, a[r], x, n);
}

const struct simd_kernels simd_kernels_generic = {
    .name = "generic",
    .dot_f32 = simd_dot_f32_generic,
    .dot_bf16 = simd_dot_bf16_generic,
    .dot_mxfp4 = simd_dot_mxfp4_generic,
    .bf16_to_f32 = simd_bf16_to_f32_generic,
    .dot_i8 = simd_dot_i8_generic,
    .i8_to_f32 = simd_i8_to_f32_generic,
    .mxfp4_to_f32 = simd_mxfp4_to_f32_generic,
    .dot_bf16_io = simd_dot_bf16_io_generic,
    .dot = simd_dot_generic,
    .axpy = simd_axpy_generic,
    .axpy_rows = simd_axpy_rows_generic,
    .few_rows_bf16 = 0,
    .few_rows_mxfp4 = 0,
};

/* ---- run-time choice ------------------------------------------------------------------------ */

static const char *const simd_names[SIMD_ISA_COUNT] = {"generic", "avx2", "avx512", "avx512bf16"};

const char *simd_isa_name(enum simd_isa isa)
{
    return (unsigned)isa < SIMD_ISA_COUNT ? simd_names[isa] : "?";
}

#ifdef GPTOSS_SIMD_X86
/* AVX2 + FMA + F16C, with the OS saving the YMM state (which __builtin_cpu_supports checks). */
static bool simd_has_avx2(void)
{
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_F16C))
        return false; /* clang's __builtin_cpu_supports does not know "f16c" */
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

bool simd_supported(enum simd_isa isa)
{
    switch (isa) {
    case SIMD_GENERIC: return true;
#ifdef GPTOSS_SIMD_X86
    case SIMD_AVX2: return simd_has_avx2();
    case SIMD_AVX512:
        return simd_has_avx2() && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    case SIMD_AVX512BF16: {
        /* CPUID leaf 7 subleaf 1, EAX bit 5: AVX512_BF16. */
        unsigned eax, ebx, ecx, edx;
        return simd_supported(SIMD_AVX512) && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) &&
               (eax & (1u << 5));
    }
#endif
    default: return false;
    }
}

#ifdef GPTOSS_SIMD_X86
/* CPUID leaf 7 subleaf 0, ECX bit 11: AVX512_VNNI (the int8-activation kernels). */
static bool simd_has_vnni(void)
{
    unsigned eax, ebx, ecx, edx;
    return simd_supported(SIMD_AVX512) && __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) &&
           (ecx & (1u << 11));
}

static struct simd_kernels simd_avx512_table, simd_avx512bf16_table;

static void simd_build_avx512(void)
{
    simd_avx512_table = simd_kernels_avx512;
    if (simd_has_vnni())
        simd_avx512_table.q8 = &simd_q8_kernels_avx512vnni;
    simd_avx512bf16_table = simd_avx512_table;
    simd_avx512bf16_table.name = "avx512bf16";
    simd_avx512bf16_table.bf16 = &simd_bf16_kernels_avx512;
}
#endif

static const struct simd_kernels *simd_table(enum simd_isa isa)
{
    switch (isa) {
#ifdef GPTOSS_SIMD_X86
    case SIMD_AVX2: return &simd_kernels_avx2;
    case SIMD_AVX512:
    case SIMD_AVX512BF16: {
        /* The avx512 table with the int8-activation kernels where the CPU has VNNI, and the
         * avx512bf16 one with the bf16-activation kernels too; built once, never changed after. */
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, simd_build_avx512);
        return isa == SIMD_AVX512 ? &simd_avx512_table : &simd_avx512bf16_table;
    }
#endif
    default: return &simd_kernels_generic;
    }
}

static _Atomic(const struct simd_kernels *) simd_active;
static pthread_once_t simd_once = PTHREAD_ONCE_INIT;

static void simd_choose(void)
{
    enum simd_isa isa = SIMD_GENERIC;
    for (int i = SIMD_ISA_COUNT - 1; i > SIMD_GENERIC; i--) {
        if (simd_supported((enum simd_isa)i)) {
            isa = (enum simd_isa)i;
            break;
        }
    }
    const char *env = getenv("GPTOSS_CPU_ISA");
    if (env) {
        for (int i = 0; i < SIMD_ISA_COUNT; i++)
            if (strcmp(env, simd_names[i]) == 0 && simd_supported((enum simd_isa)i))
                isa = (enum simd_isa)i;
    }
    atomic_store(&simd_active, simd_table(isa));
}

const struct simd_kernels *simd_kernels(void)
{
    pthread_once(&simd_once, simd_choose);
    return atomic_load_explicit(&simd_active, memory_order_acquire);
}

bool simd_force(enum simd_isa isa)
{
    pthread_once(&simd_once, simd_choose);
    if (!simd_supported(isa))
        return false;
    atomic_store(&simd_active, simd_table(isa));
    return true;
}
