/* fuzz_common.h — what the libFuzzer targets share: the real tokenizer, loaded once, and a way
 * to hand bytes to loaders that take a path (a memfd, never the disk). */
#ifndef GPTOSS_FUZZ_COMMON_H
#define GPTOSS_FUZZ_COMMON_H

#define _GNU_SOURCE /* memfd_create */
#include "tokenizer/tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* The o200k_harmony tokenizer from tests/data, loaded on first use; aborts when missing (a
 * fuzzer without it would test nothing). */
static inline const struct tokenizer *fuzz_tokenizer(void)
{
    static struct tokenizer *tok;
    if (!tok && tokenizer_create(GPTOSS_TEST_DATA_DIR "/tokenizer/o200k_base.tiktoken", &tok) !=
                    GPTOSS_OK) {
        fprintf(stderr,
                "fuzz: cannot load " GPTOSS_TEST_DATA_DIR "/tokenizer/o200k_base.tiktoken\n");
        abort();
    }
    return tok;
}

/* data as a file: "/proc/self/fd/N" of a memfd holding it, in `path` (>= 32 bytes). Returns the
 * fd to close afterwards, -1 on failure. */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t path_size)
{
    int fd = memfd_create("fuzz", 0);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    snprintf(path, path_size, "/proc/self/fd/%d", fd);
    return fd;
}

/* Token ids from bytes: 3 bytes each, folded into the vocabulary plus a margin beyond it, so
 * that out-of-range ids get tried too. */
static inline size_t fuzz_ids(const uint8_t *data, size_t size, uint32_t *ids, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i + 3 <= size && n < max; i += 3)
        ids[n++] = ((uint32_t)data[i] | (uint32_t)data[i + 1] << 8 | (uint32_t)data[i + 2] << 16) %
                   (TOKENIZER_N_VOCAB + 64);
    return n;
}

#endif
