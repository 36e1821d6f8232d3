/* utf8.h — UTF-8 decoding with the Unicode "maximal subpart" rule.
 *
 * Invalid input is measured the way Rust's from_utf8 / from_utf8_lossy and Python's
 * errors="replace" do: an ill-formed sequence is replaced by one U+FFFD per maximal subpart
 * (the longest prefix that could have started a valid sequence, at least one byte). Matching
 * that rule byte for byte is what lets our decoders agree with tiktoken and openai-harmony on
 * broken model output.
 */
#ifndef GPTOSS_BASE_UTF8_H
#define GPTOSS_BASE_UTF8_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Examines the sequence at s[0..n). Returns its length (1-4) and stores the code point when it
 * is valid; returns 0 when s holds a valid but incomplete prefix (more bytes may complete it);
 * returns -k when the first k bytes (k >= 1) form an ill-formed maximal subpart. n must be >0. */
int utf8_next(const unsigned char *s, size_t n, uint32_t *cp_out);

/* Length of the longest prefix of s[0..n) that is entirely valid UTF-8. */
size_t utf8_valid_prefix(const unsigned char *s, size_t n);

static inline bool utf8_is_valid(const unsigned char *s, size_t n)
{
    return utf8_valid_prefix(s, n) == n;
}

/* Encodes a code point (<= 0x10FFFF, not a surrogate) into out; returns the byte count. */
size_t utf8_encode(uint32_t cp, char out[4]);

/* Appends s[0..n) to b, replacing each ill-formed maximal subpart, and an incomplete sequence
 * at the very end, by U+FFFD. */
void utf8_append_lossy(struct buf *b, const unsigned char *s, size_t n);

#define UTF8_REPLACEMENT "\xEF\xBF\xBD"

#endif
