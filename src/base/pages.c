/* pages.c — huge-page allocations and advice, and reading back how much got them (pages.h). */
#define _GNU_SOURCE
#include "pages.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define PAGES_HUGE ((size_t)2 << 20)

static size_t pages_round(size_t n)
{
    return (n + PAGES_HUGE - 1) / PAGES_HUGE * PAGES_HUGE;
}

void *pages_alloc(size_t n)
{
    if (n == 0 || n > SIZE_MAX - PAGES_HUGE)
        return NULL;
    /* One huge page more than asked for, so that the buffer can start on a 2 MB boundary: the
     * kernel only backs aligned 2 MB ranges with huge pages. */
    size_t len = pages_round(n) + PAGES_HUGE;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + PAGES_HUGE - 1) & ~(uintptr_t)(PAGES_HUGE - 1);
    size_t head = a - (uintptr_t)p, tail = len - head - pages_round(n);
    if (head)
        munmap(p, head);
    if (tail)
        munmap((unsigned char *)a + pages_round(n), tail);
    pages_prefer_huge((void *)a, pages_round(n));
    return (void *)a;
}

void pages_free(void *p, size_t n)
{
    if (p)
        munmap(p, pages_round(n));
}

void pages_prefer_huge(const void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)4095;
    if (n)
        (void)madvise((void *)a, n + ((uintptr_t)p - a), MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

void pages_count(const void *p, size_t n, uint64_t *resident, uint64_t *huge)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return;
    uintptr_t lo = (uintptr_t)p, hi = lo + n;
    bool inside = false;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long start, end, kb;
        if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
            inside = start >= lo && start < hi;
        else if (!inside)
            continue;
        else if (sscanf(line, "Rss: %lu kB", &kb) == 1)
            *resident += (uint64_t)kb * 1024;
        else if (sscanf(line, "AnonHugePages: %lu kB", &kb) == 1 ||
                 sscanf(line, "FilePmdMapped: %lu kB", &kb) == 1)
            *huge += (uint64_t)kb * 1024;
    }
    fclose(f);
}
