/* comm_threads.c — the collectives of comm.h between threads of one process.
 *
 * The ranks share a table of pointers: each publishes its buffer, all meet at a barrier, each
 * reads what it needs from the others, and all meet again before anyone may reuse its buffer.
 * The barrier is pthread's (the ranks sleep in it), since a machine may run more ranks than it
 * has cores. An all-reduce sums in rank order on every rank into a private buffer and copies
 * it back after the second barrier, so every rank ends with the same bits.
 */
#include "comm/comm.h"

#include "base/error.h"
#include "base/xalloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct threads_group {
    uint32_t n;
    _Atomic uint32_t refs;
    pthread_barrier_t barrier;
    const void **ptr; /* [n] published buffers */
};

struct threads_comm {
    struct comm base;
    struct threads_group *g;
    float *tmp; /* the all-reduce's private sums */
    size_t tmp_cap;
};

static void group_wait(struct threads_group *g)
{
    pthread_barrier_wait(&g->barrier);
}

static enum gptoss_status threads_allreduce_sum(struct comm *c, float *buf, size_t n)
{
    struct threads_comm *t = (struct threads_comm *)c;
    struct threads_group *g = t->g;
    if (g->n == 1)
        return GPTOSS_OK;
    if (t->tmp_cap < n) {
        float *p = realloc(t->tmp, n * sizeof(float));
        if (!p)
            return error_set(GPTOSS_ERR_NOMEM, "all-reduce: cannot allocate %zu floats", n);
        t->tmp = p;
        t->tmp_cap = n;
    }
    g->ptr[c->rank] = buf;
    group_wait(g);
    const float *first = g->ptr[0];
    for (size_t i = 0; i < n; i++)
        t->tmp[i] = first[i];
    for (uint32_t r = 1; r < g->n; r++) {
        const float *src = g->ptr[r];
        for (size_t i = 0; i < n; i++)
            t->tmp[i] += src[i];
    }
    group_wait(g);
    memcpy(buf, t->tmp, n * sizeof(float));
    return GPTOSS_OK;
}

static enum gptoss_status threads_gather(struct comm *c, const float *send, float *recv,
                                         const size_t *counts)
{
    struct threads_comm *t = (struct threads_comm *)c;
    struct threads_group *g = t->g;
    g->ptr[c->rank] = send;
    group_wait(g);
    if (c->rank == 0) {
        size_t at = 0;
        for (uint32_t r = 0; r < g->n; r++) {
            if (counts[r])
                memcpy(recv + at, g->ptr[r], counts[r] * sizeof(float));
            at += counts[r];
        }
    }
    group_wait(g);
    return GPTOSS_OK;
}

static enum gptoss_status threads_bcast(struct comm *c, void *buf, size_t bytes)
{
    struct threads_comm *t = (struct threads_comm *)c;
    struct threads_group *g = t->g;
    if (g->n == 1)
        return GPTOSS_OK;
    if (c->rank == 0)
        g->ptr[0] = buf;
    group_wait(g);
    if (c->rank != 0 && bytes)
        memcpy(buf, g->ptr[0], bytes);
    group_wait(g);
    return GPTOSS_OK;
}

static void threads_destroy(struct comm *c)
{
    struct threads_comm *t = (struct threads_comm *)c;
    struct threads_group *g = t->g;
    if (atomic_fetch_sub(&g->refs, 1) == 1) {
        pthread_barrier_destroy(&g->barrier);
        free(g->ptr);
        free(g);
    }
    free(t->tmp);
    free(t);
}

static const struct comm_vtable threads_vtable = {
    .allreduce_sum = threads_allreduce_sum,
    .gather = threads_gather,
    .bcast = threads_bcast,
    .destroy = threads_destroy,
};

enum gptoss_status comm_threads_create(uint32_t n, struct comm **ranks_out)
{
    if (n == 0)
        return error_set(GPTOSS_ERR_INVALID_ARGUMENT, "a thread group needs at least one rank");
    struct threads_group *g = xcalloc(1, sizeof(*g));
    g->n = n;
    atomic_init(&g->refs, n);
    g->ptr = xcalloc(n, sizeof(*g->ptr));
    if (pthread_barrier_init(&g->barrier, NULL, n) != 0) {
        free(g->ptr);
        free(g);
        return error_set(GPTOSS_ERR_INTERNAL, "cannot create a barrier for %u ranks", n);
    }
    for (uint32_t r = 0; r < n; r++) {
        struct threads_comm *t = xcalloc(1, sizeof(*t));
        t->base = (struct comm){.vt = &threads_vtable, .rank = r, .size = n, .kind = "threads"};
        t->g = g;
        ranks_out[r] = &t->base;
    }
    return GPTOSS_OK;
}
