/* fuzz_safetensors.c — a safetensors file: the length prefix, the header JSON, every entry's
 * dtype, shape and offsets, and the bounds and overlap checks that guard every later read. An
 * accepted file's tensors are all read through, so a check that lets a range out of the file
 * shows up as a crash. */
#include "fuzz_common.h"

#include "base/error.h"
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What reading every accepted byte adds up to: keeps the reads. */
static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_file(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    struct safetensors *st = NULL;
    if (safetensors_open(path, &st) == GPTOSS_OK) {
        for (size_t i = 0; i < st->n_tensors; i++) {
            const uint8_t *p = st->tensors[i].data;
            for (uint64_t b = 0; b < st->tensors[i].n_bytes; b++)
                sink ^= p[b];
            (void)safetensors_find(st, st->tensors[i].name);
        }
        safetensors_close(st);
    }
    close(fd);
    error_clear();
    return 0;
}
