/* tensor.c — the few out-of-line helpers of struct tensor (see tensor.h).
 *
 * Tensors are borrowed views; this file only answers questions about their element type and
 * shape, so the loader and the backends agree on one spelling of each.
 */
#include "backend/tensor.h"

#include "base/error.h"

size_t dtype_size(enum dtype dtype)
{
    switch (dtype) {
    case DTYPE_F32: return 4;
    case DTYPE_BF16: return 2;
    case DTYPE_U8: return 1;
    case DTYPE_I32: return 4;
    case DTYPE_I8: return 1;
    }
    GPTOSS_ASSERT(!"unknown dtype");
    return 0;
}

const char *dtype_name(enum dtype dtype)
{
    switch (dtype) {
    case DTYPE_F32: return "F32";
    case DTYPE_BF16: return "BF16";
    case DTYPE_U8: return "U8";
    case DTYPE_I32: return "I32";
    case DTYPE_I8: return "I8";
    }
    return "?";
}

uint64_t tensor_n_elements(const struct tensor *t)
{
    /* A 0-dimensional tensor is a scalar: the empty product is 1. */
    uint64_t n = 1;
    for (uint32_t i = 0; i < t->n_dims; i++)
        n *= t->shape[i];
    return n;
}
