/* tensor.h — a typed, shaped view of bytes that live elsewhere (usually a checkpoint mapping).
 *
 * Tensors never own their data: the model's weights point into memory-mapped safetensors files
 * and stay valid while the model lives. Shapes are row-major, outermost dimension first, exactly
 * as safetensors records them.
 */
#ifndef GPTOSS_BACKEND_TENSOR_H
#define GPTOSS_BACKEND_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define TENSOR_MAX_DIMS 4

enum dtype {
    DTYPE_F32,
    DTYPE_BF16,
    DTYPE_U8,  /* raw bytes: MXFP4 blocks (two FP4 codes per byte) and E8M0 scales */
    DTYPE_I32, /* token ids in a compact checkpoint (model_compact.c) */
    DTYPE_I8,  /* --weights int8: a 2-D matrix whose element is int8 × its row's scale */
};

struct tensor {
    const char *name; /* the checkpoint name, for error messages; borrowed */
    enum dtype dtype;
    uint32_t n_dims;
    uint64_t shape[TENSOR_MAX_DIMS];
    const void *data; /* borrowed; little-endian, C-contiguous */
    uint64_t n_bytes;
    const float *row_scales; /* DTYPE_I8: one per row (shape[0]); borrowed */
};

/* Bytes per element of `dtype`. */
size_t dtype_size(enum dtype dtype);

/* "F32", "BF16", "U8" — the safetensors spelling. */
const char *dtype_name(enum dtype dtype);

/* Product of the shape. */
uint64_t tensor_n_elements(const struct tensor *t);

/* bf16 → f32 is exact: the bf16 bits are the high half of the f32. */
static inline float bf16_to_f32(uint16_t h)
{
    union {
        uint32_t u;
        float f;
    } v = {.u = (uint32_t)h << 16};
    return v.f;
}

/* f32 → bf16 rounding to nearest even (NaN stays NaN), as torch does. */
static inline uint16_t f32_to_bf16(float f)
{
    union {
        float f;
        uint32_t u;
    } v = {.f = f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((v.u >> 16) | 0x40);
    return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}

/* Element i of a F32, BF16 or I8 tensor as f32. */
static inline float tensor_get_f32(const struct tensor *t, uint64_t i)
{
    if (t->dtype == DTYPE_BF16)
        return bf16_to_f32(((const uint16_t *)t->data)[i]);
    if (t->dtype == DTYPE_I8)
        return (float)((const int8_t *)t->data)[i] * t->row_scales[i / t->shape[1]];
    return ((const float *)t->data)[i];
}

#endif
