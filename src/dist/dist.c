/* MPI for uarda (dist.h): the few collectives a data-parallel step and a sharded evaluation need. */
#include "uarda/dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef UARDA_HAVE_MPI
#include <mpi.h>
#endif

ua_dist ua_dist_single(void) { return (ua_dist){0, 1, 0}; }

/* the number of ranks an MPI launcher says it started (0: not launched by one) */
static int launched_size(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return atoi(v) > 0 ? atoi(v) : 1;
    }
    return getenv("PMIX_RANK") ? 1 : 0;
}

int ua_dist_init(ua_dist *d, int *argc, char ***argv, ua_err *err)
{
    *d = ua_dist_single();
    const int n = launched_size();
    if (n == 0) return 0;
#ifdef UARDA_HAVE_MPI
    int provided = 0;
    /* the threads (OpenMP, OpenBLAS) never call MPI: the main thread does */
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return ua_fail(err, "MPI_Init failed");
    d->mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    return 0;
#else
    (void)argc; (void)argv;
    if (n > 1)
        return ua_fail(err, "started as %d ranks by an MPI launcher, but this uarda was built without MPI (install "
                       "libopenmpi-dev and rebuild)", n);
    return 0;
#endif
}

void ua_dist_finalize(ua_dist *d)
{
#ifdef UARDA_HAVE_MPI
    if (d->mpi) MPI_Finalize();
#endif
    d->mpi = 0;
}

void ua_dist_abort(const ua_dist *d, int status)
{
    fflush(stdout);
    fflush(stderr);
#ifdef UARDA_HAVE_MPI
    if (d->mpi && d->size > 1) MPI_Abort(MPI_COMM_WORLD, status);
#endif
    (void)d;
    exit(status);
}

void ua_dist_share(int n, int rank, int size, int *lo, int *hi)
{
    const int q = n / size, r = n % size;
    *lo = rank * q + (rank < r ? rank : r);
    *hi = *lo + q + (rank < r);
}

#ifdef UARDA_HAVE_MPI
/* MPI counts are ints: a part past INT_MAX floats is refused with its size */
static int int_counts(const ua_dist *d, const size_t *counts, int *c, int *displ, ua_err *err)
{
    size_t off = 0;
    for (int r = 0; r < d->size; r++) {
        if (counts[r] > INT_MAX || off > INT_MAX)
            return ua_fail(err, "a part of %zu floats at offset %zu is past MPI's int counts", counts[r], off);
        c[r] = (int)counts[r];
        displ[r] = (int)off;
        off += counts[r];
    }
    return 0;
}

static int mpi_ok(int rc, const char *what, ua_err *err)
{
    if (rc == MPI_SUCCESS) return 0;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return ua_fail(err, "%s: %s", what, msg);
}

/* the int count and displacement arrays of a collective */
#define WITH_COUNTS(d, counts, err, body)                                                       \
    do {                                                                                        \
        int *c_ = malloc(2 * (size_t)(d)->size * sizeof(int));                                  \
        if (!c_) return ua_fail(err, "out of memory");                                          \
        int *dp_ = c_ + (d)->size;                                                              \
        int rc_ = int_counts(d, counts, c_, dp_, err);                                          \
        if (rc_ == 0) rc_ = (body);                                                             \
        free(c_);                                                                               \
        return rc_;                                                                             \
    } while (0)
#endif

int ua_dist_sum_f32(const ua_dist *d, float *buf, size_t n, ua_err *err)
{
    if (d->size <= 1) return 0;
#ifdef UARDA_HAVE_MPI
    for (size_t o = 0; o < n; o += INT_MAX / 2) {
        const int k = (int)(n - o < INT_MAX / 2 ? n - o : INT_MAX / 2);
        if (mpi_ok(MPI_Allreduce(MPI_IN_PLACE, buf + o, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce", err))
            return -1;
    }
#endif
    return 0;
}

int ua_dist_sum_i64(const ua_dist *d, long long *buf, size_t n, ua_err *err)
{
    if (d->size <= 1) return 0;
#ifdef UARDA_HAVE_MPI
    if (n > INT_MAX) return ua_fail(err, "a sum of %zu counts is past MPI's int counts", n);
    return mpi_ok(MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce", err);
#else
    return 0;
#endif
}

int ua_dist_any(const ua_dist *d, int flag)
{
    int v = flag != 0;
#ifdef UARDA_HAVE_MPI
    if (d->size > 1 && MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        ua_dist_abort(d, 1);
#endif
    return v;
}

int ua_dist_allgather_f32(const ua_dist *d, float *all, const size_t *counts, ua_err *err)
{
    if (d->size <= 1) return 0;
#ifdef UARDA_HAVE_MPI
    WITH_COUNTS(d, counts, err, mpi_ok(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, all, c_, dp_, MPI_FLOAT,
                                                      MPI_COMM_WORLD), "MPI_Allgatherv", err));
#else
    return 0;
#endif
}

int ua_dist_reduce_scatter_f32(const ua_dist *d, const float *all, float *mine, const size_t *counts, ua_err *err)
{
    if (d->size <= 1) {
        for (size_t i = 0; i < counts[0]; i++) mine[i] = all[i];
        return 0;
    }
#ifdef UARDA_HAVE_MPI
    WITH_COUNTS(d, counts, err, mpi_ok(MPI_Reduce_scatter(all, mine, c_, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
                                       "MPI_Reduce_scatter", err));
#else
    return 0;
#endif
}

int ua_dist_gather_f32(const ua_dist *d, float *all, const size_t *counts, ua_err *err)
{
    if (d->size <= 1) return 0;
#ifdef UARDA_HAVE_MPI
    WITH_COUNTS(d, counts, err,
                mpi_ok(d->rank == 0 ? MPI_Gatherv(MPI_IN_PLACE, 0, MPI_FLOAT, all, c_, dp_, MPI_FLOAT, 0, MPI_COMM_WORLD)
                                    : MPI_Gatherv(all + dp_[d->rank], c_[d->rank], MPI_FLOAT, NULL, NULL, NULL,
                                                  MPI_FLOAT, 0, MPI_COMM_WORLD),
                       "MPI_Gatherv", err));
#else
    return 0;
#endif
}

int ua_dist_bcast(const ua_dist *d, void *buf, size_t n, ua_err *err)
{
    if (d->size <= 1) return 0;
#ifdef UARDA_HAVE_MPI
    if (n > INT_MAX) return ua_fail(err, "a broadcast of %zu bytes is past MPI's int counts", n);
    return mpi_ok(MPI_Bcast(buf, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast", err);
#else
    (void)buf; (void)n;
    return 0;
#endif
}
