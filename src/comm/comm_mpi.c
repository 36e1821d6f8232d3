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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    int broken;       /* a collective failed or timed out: the ranks are out of step */
    double timeout_s; /* rank 0: how long a collective may wait for the others; 0: forever */
    int *icounts, *idispls;
};

static enum gptoss_status mpi_fail(struct mpi_comm *m, int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    m->broken = 1;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error %d", rc);
    return error_set(GPTOSS_ERR_IO, "MPI %s failed: %s", what, msg);
}

/* Waits for a started collective: spinning first (the ranks of one step arrive within
 * microseconds of each other), then napping, so that a rank idle between steps costs no CPU.
 * On rank 0 a collective that waits longer than timeout_s fails: with a rank dead and mpirun
 * told not to end the job, the server would otherwise hang in it. */
static enum gptoss_status mpi_wait(struct mpi_comm *m, MPI_Request *req, const char *what)
{
    double t0 = MPI_Wtime();
    for (unsigned long spins = 0;; spins++) {
        int done = 0;
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_fail(m, rc, what);
        if (done)
            return GPTOSS_OK;
        if (spins > 2000) {
            struct timespec ts = {0, spins > 200000 ? 1000000 : 20000};
            nanosleep(&ts, NULL);
        }
        if (m->timeout_s > 0 && MPI_Wtime() - t0 > m->timeout_s) {
            m->broken = 1;
            return error_set(GPTOSS_ERR_IO,
                             "MPI %s: no answer from the other ranks in %.0f s (one died or "
                             "hangs)",
                             what, m->timeout_s);
        }
    }
}

static enum gptoss_status mpi_allreduce_sum(struct comm *c, float *buf, size_t n)
{
    struct mpi_comm *m = (struct mpi_comm *)c;
    /* MPI counts are int: large buffers go in pieces. */
    for (size_t at = 0; at < n;) {
        int k = n - at > (1u << 30) ? (1 << 30) : (int)(n - at);
        MPI_Request req;
        int rc =
            MPI_Iallreduce(MPI_IN_PLACE, buf + at, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
        enum gptoss_status st =
            rc == MPI_SUCCESS ? mpi_wait(m, &req, "all-reduce") : mpi_fail(m, rc, "all-reduce");
        if (st != GPTOSS_OK)
            return st;
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
    MPI_Request req;
    int rc = MPI_Igatherv(send, m->icounts[c->rank], MPI_FLOAT, recv, m->icounts, m->idispls,
                          MPI_FLOAT, 0, MPI_COMM_WORLD, &req);
    return rc == MPI_SUCCESS ? mpi_wait(m, &req, "gather") : mpi_fail(m, rc, "gather");
}

static enum gptoss_status mpi_bcast(struct comm *c, void *buf, size_t bytes)
{
    struct mpi_comm *m = (struct mpi_comm *)c;
    for (size_t at = 0; at < bytes;) {
        int k = bytes - at > (1u << 30) ? (1 << 30) : (int)(bytes - at);
        MPI_Request req;
        int rc = MPI_Ibcast((char *)buf + at, k, MPI_BYTE, 0, MPI_COMM_WORLD, &req);
        enum gptoss_status st =
            rc == MPI_SUCCESS ? mpi_wait(m, &req, "broadcast") : mpi_fail(m, rc, "broadcast");
        if (st != GPTOSS_OK)
            return st;
        at += (size_t)k;
    }
    return GPTOSS_OK;
}

static void mpi_destroy(struct comm *c)
{
    struct mpi_comm *m = (struct mpi_comm *)c;
    int finalized = 0;
    MPI_Finalized(&finalized);
    /* After a failure MPI_Finalize could wait on a dead rank forever: leave without it (mpirun
     * then reports that this process did not finalise). */
    if (m->we_initialised && !finalized && !m->broken)
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
            return error_set(GPTOSS_ERR_IO, "MPI initialisation failed (error %d)", rc);
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
    const char *t = getenv("GPTOSS_TP_TIMEOUT_S");
    m->timeout_s = rank != 0 ? 0 : t && *t ? atof(t) : 120.0;
    m->icounts = xcalloc((size_t)size, sizeof(int));
    m->idispls = xcalloc((size_t)size, sizeof(int));
    *out = &m->base;
    return GPTOSS_OK;
}

#endif
