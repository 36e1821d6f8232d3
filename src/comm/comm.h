/* comm.h — collectives between the ranks of a tensor-parallel group.
 *
 * Every rank of a group holds one struct comm and calls the same collectives in the same order
 * (the model's forward pass and the step protocol of model_tp.c guarantee that); a collective
 * returns once this rank's part is done. Implementations: in-process threads (comm_threads.c,
 * N ranks in one process, the path that several GPUs in one box take) and MPI (comm_mpi.c, one
 * rank per process, launched by mpirun, possibly on several hosts). A GPU implementation (NCCL)
 * fills the same table.
 *
 * All-reduce results are bit-identical on every rank: each one sums the ranks' values in rank
 * order, so replicated state (the residual stream) never drifts apart between ranks.
 */
#ifndef GPTOSS_COMM_H
#define GPTOSS_COMM_H

#include "gptoss.h"

#include <stddef.h>
#include <stdint.h>

struct comm;

struct comm_vtable {
    /* buf[0..n) = the element-wise sum of every rank's buf. */
    enum gptoss_status (*allreduce_sum)(struct comm *c, float *buf, size_t n);
    /* Rank 0 receives every rank's send (counts[r] floats from rank r, counts known to all)
     * one after the other in recv; other ranks' recv is unused (may be NULL). */
    enum gptoss_status (*gather)(struct comm *c, const float *send, float *recv,
                                 const size_t *counts);
    /* Every rank's buf[0..bytes) = rank 0's. */
    enum gptoss_status (*bcast)(struct comm *c, void *buf, size_t bytes);
    void (*destroy)(struct comm *c);
};

struct comm {
    const struct comm_vtable *vt;
    uint32_t rank, size;
    const char *kind; /* "threads" or "mpi" */
};

static inline enum gptoss_status comm_allreduce_sum(struct comm *c, float *buf, size_t n)
{
    return c->vt->allreduce_sum(c, buf, n);
}

static inline enum gptoss_status comm_gather(struct comm *c, const float *send, float *recv,
                                             const size_t *counts)
{
    return c->vt->gather(c, send, recv, counts);
}

static inline enum gptoss_status comm_bcast(struct comm *c, void *buf, size_t bytes)
{
    return c->vt->bcast(c, buf, bytes);
}

/* NULL is a no-op. */
static inline void comm_destroy(struct comm *c)
{
    if (c)
        c->vt->destroy(c);
}

/* n ranks in this process: ranks_out[r] is rank r's handle, to be used by one thread each and
 * destroyed by each (the shared state goes with the last). */
enum gptoss_status comm_threads_create(uint32_t n, struct comm **ranks_out);

/* This process's rank of MPI_COMM_WORLD (MPI initialised here if nobody has yet, and finalised
 * by comm_destroy). GPTOSS_ERR_UNSUPPORTED in a build without MPI. On rank 0 a collective that
 * waits more than GPTOSS_TP_TIMEOUT_S seconds (default 120) for the others fails, so that a
 * lost rank cannot hang the server. */
enum gptoss_status comm_mpi_create(struct comm **out);

#endif
