/* bench_tokenize.c — times single-thread encoding of text files, for bench/bench_tokenizer.py.
 *
 * Usage: bench_tokenize --tokenizer FILE [--repeat R] TEXT_FILE...
 * Loads the tokenizer once (not timed), then R times encodes every file in turn and prints one
 * JSON line per repeat: {"bytes": N, "tokens": T, "seconds": S}. The script interleaves these
 * runs with tiktoken's so both see the same machine noise.
 */
#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const char *tok_path = NULL;
    int repeat = 1, first_file = argc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tokenizer") == 0 && i + 1 < argc) {
            tok_path = argv[++i];
        } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            repeat = atoi(argv[++i]);
        } else {
            first_file = i;
            break;
        }
    }
    if (!tok_path || first_file >= argc || repeat < 1) {
        fprintf(stderr, "usage: bench_tokenize --tokenizer FILE [--repeat R] TEXT_FILE...\n");
        return 2;
    }
    struct tokenizer *tok;
    if (tokenizer_create(tok_path, &tok) != GPTOSS_OK) {
        fprintf(stderr, "bench_tokenize: %s\n", error_message());
        return 1;
    }
    int n_files = argc - first_file;
    char **texts = xcalloc((size_t)n_files, sizeof *texts);
    size_t *lens = xcalloc((size_t)n_files, sizeof *lens);
    size_t total = 0;
    for (int f = 0; f < n_files; f++) {
        if (file_read_all(argv[first_file + f], (size_t)1 << 30, &texts[f], &lens[f]) !=
            GPTOSS_OK) {
            fprintf(stderr, "bench_tokenize: %s\n", error_message());
            return 1;
        }
        total += lens[f];
    }
    struct idbuf ids;
    idbuf_init(&ids);
    for (int r = 0; r < repeat; r++) {
        size_t n_tokens = 0;
        double t0 = now_seconds();
        for (int f = 0; f < n_files; f++) {
            idbuf_reset(&ids);
            tokenizer_encode(tok, texts[f], lens[f], /*allow_special=*/false, &ids);
            n_tokens += ids.len;
        }
        double dt = now_seconds() - t0;
        printf("{\"bytes\": %zu, \"tokens\": %zu, \"seconds\": %.6f}\n", total, n_tokens, dt);
        fflush(stdout);
    }
    idbuf_deinit(&ids);
    for (int f = 0; f < n_files; f++)
        free(texts[f]);
    free(texts);
    free(lens);
    tokenizer_destroy(tok);
    return 0;
}
