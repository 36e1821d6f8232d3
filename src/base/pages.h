/* pages.h — big buffers on 2 MB pages where the kernel offers transparent huge pages.
 *
 * Decode streams gigabytes of weights per token. On 4 KB pages every 4 KB of that is a TLB miss
 * and a fresh start for the hardware prefetchers, and the 20b decodes at about half the speed it
 * reaches with the same weights on 2 MB pages (docs/benchmarks.md). So the weight mappings, the
 * matrices made at load and the KV cache all ask for huge pages; where the kernel has none, the
 * requests are no-ops and everything works on small pages.
 */
#ifndef GPTOSS_BASE_PAGES_H
#define GPTOSS_BASE_PAGES_H

#include <stddef.h>
#include <stdint.h>

/* n zeroed bytes, page-aligned, from an anonymous mapping advised onto huge pages; NULL when
 * memory is short. Release with pages_free(p, n) (the same n). */
void *pages_alloc(size_t n);
void pages_free(void *p, size_t n);

/* Asks for huge pages on an existing mapping (e.g. a mapped file: pages the kernel reads in
 * after this come in 2 MB folios where the filesystem can). */
void pages_prefer_huge(const void *p, size_t n);

/* Of the mappings that start inside [p, p + n): the bytes resident now, and of those the bytes
 * mapped with 2 MB pages, added to *resident and *huge (/proc/self/smaps: Rss, AnonHugePages +
 * FilePmdMapped). Adds nothing where smaps cannot be read. */
void pages_count(const void *p, size_t n, uint64_t *resident, uint64_t *huge);

#endif
