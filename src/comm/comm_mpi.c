/* comm_mpi.c — the collectives of comm.h over MPI_COMM_WORLD, one rank per process.
 *
 * Built only with GPTOSS_MPI (Open MPI's libmpi); without it comm_mpi_create says so. Errors
 * come back as statuses (MPI_ERRORS_RETURN) rather than aborting inside MPI. MPI is asked for
 * MPI_THREAD_SERIALIZED: the server's engine thread runs the steps while the main thread loaded
 * the model and later shuts it down, never at the same time.
 *
 * Sums: MPI_Allreduce's result is the same on every rank (Open MPI reduces in a fixed order for
 * a fixed group), which the replicated residual stream relies on.
 */
#include "comm/comm.h"

#include "base/error.h"
#include "base/xalloc.h"

#include <stdlib.h>
#include <string.h>

int comm_mpi_launched(void)
{
    /* Open MPI (OMPI_COMM_WORLD_SIZE, PMIX_RANK) and MPICH/Hydra (PMI_RANK) */
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

#ifndef GPTOSS_WITH_MPI

enum gptoss_status comm_mpi_create(struct comm **out)
{
    *out = NULL;
    return error_set(GPTOSS_ERR_UNSUPPORTED,
                     "this build has no MPI: configure with -DGPTOSS_MPI=ON (Open MPI installed)");
}

#else

#include <mpi.h>

struct mpi_comm {
    struct comm base;
    int we_initialised;
    int *icounts, *idispls;
};

static enum gptoss_status mpi_fail(int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error %d", rc);
    return error_set(GPTOSS_ERR_IO, "MPI %s failed: %s", what, msg);
}

static enum gptoss_status mpi_allreduce_sum(struct comm *c, float *buf, size_t n)
{
    /* MPI counts are int: large buffers go in pieces. */
    for (size_t at = 0; at < n;) {
        int k = n - at > (1u << 30) ? (1 << 30) : (int)(n - at);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + at, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "all-reduce");
        at += (size_t)k;
    }
    return GPTOSS_OK;
}

static enum gptoss_status mpi_gather(struct comm *c, const float *send, float *recv,
                                     const size_t *counts)
{
    struct mpi_comm *m = (struct mpi_comm *)c;
    size_t at = 0;
    for (uint32_t r = 0; r < c->size; r++) {
        if (counts[r] > (size_t)1 << 30 || at > (size_t)1 << 30)
            return error_set(GPTOSS_ERR_UNSUPPORTED, "gather of %zu floats is too large for MPI",
                             at + counts[r]);
        m->icounts[r] = (int)counts[r];
        m->idispls[r] = (int)at;
        at += counts[r];
    }
    int rc = MPI_Gatherv(send, m->icounts[c->rank], MPI_FLOAT, recv, m->icounts, m->idispls,
                         MPI_FLOAT, 0, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? GPTOSS_OK : mpi_fail(rc, "gather");
}

static enum gptoss_status mpi_bcast(struct comm *c, void *buf, size_t bytes)
{
    for (size_t at = 0; at < bytes;) {
        int k = bytes - at > (1u << 30) ? (1 << 30) : (int)(bytes - at);
        int rc = MPI_Bcast((char *)buf + at, k, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "broadcast");
        at += (size_t)k;
    }
    return GPTOSS_OK;
}

static void mpi_destroy(struct comm *c)
{
    struct mpi_comm *m = (struct mpi_comm *)c;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (m->we_initialised && !finalized)
        MPI_Finalize();
    free(m->icounts);
    free(m->idispls);
    free(m);
}

static const struct comm_vtable mpi_vtable = {
    .allreduce_sum = mpi_allreduce_sum,
    .gather = mpi_gather,
    .bcast = mpi_bcast,
    .destroy = mpi_destroy,
};

enum gptoss_status comm_mpi_create(struct comm **out)
{
    *out = NULL;
    int initialised = 0, provided = 0, rc;
    MPI_Initialized(&initialised);
    if (!initialised) {
        rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
        if (rc != MPI_SUCCESS)
            return mpi_fail(rc, "initialisation");
        if (provided < MPI_THREAD_SERIALIZED) {
            MPI_Finalize();
            return error_set(GPTOSS_ERR_UNSUPPORTED,
                             "the MPI library offers no MPI_THREAD_SERIALIZED support");
        }
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    struct mpi_comm *m = xcalloc(1, sizeof(*m));
    m->base = (struct comm){
        .vt = &mpi_vtable, .rank = (uint32_t)rank, .size = (uint32_t)size, .kind = "mpi"};
    m->we_initialised = !initialised;
    m->icounts = xcalloc((size_t)size, sizeof(int));
    m->idispls = xcalloc((size_t)size, sizeof(int));
    *out = &m->base;
    return GPTOSS_OK;
}

#endif
