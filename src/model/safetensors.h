/* safetensors.h — reading safetensors files: header parsing and bounds checks, data in place.
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON
 * {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the data
 * block. The file is mapped read-only and tensors point into the mapping. Opening checks that
 * the header fits in the file, that every entry is well-formed, that shape × dtype size equals
 * the byte range, and that every range lies inside the data block without overlapping another;
 * after that no read through a tensor can leave the mapping.
 */
#ifndef GPTOSS_MODEL_SAFETENSORS_H
#define GPTOSS_MODEL_SAFETENSORS_H

#include "gptoss.h"
#include "backend/tensor.h"
#include "base/file.h"

#include <stddef.h>

struct safetensors {
    char *path; /* owned */
    struct file_map map;
    struct tensor *tensors; /* [n_tensors], names owned by the struct, sorted by name */
    size_t n_tensors;
};

/* Maps and validates `path`. Errors name the file (and the tensor where one is at fault). */
enum gptoss_status safetensors_open(const char *path, struct safetensors **st_out);
void safetensors_close(struct safetensors *st);

/* The tensor called `name`, or NULL. */
const struct tensor *safetensors_find(const struct safetensors *st, const char *name);

/* Writer side, used by the random-model generator: the header for `n` tensors whose data will
 * follow back to back in this order (data_offsets consecutive from each tensor's n_bytes, as the
 * safetensors package requires). The JSON is padded with spaces so that the data block starts
 * 8-byte aligned. Returns a malloc'd buffer (length prefix included) and stores its size. */
unsigned char *safetensors_header_build(const struct tensor *tensors, size_t n, size_t *size_out);

#endif
