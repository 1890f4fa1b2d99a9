/* Several processes as one run (MPI, optional at build time): a training batch split over
 * ranks, an evaluation's score matrix split by blocks. Without MPI, or when the program was not
 * started by an MPI launcher (mpirun sets OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK), every
 * call is the one-process case: size 1, rank 0, the collectives copy or do nothing. The
 * communicator is MPI_COMM_WORLD; a ua_dist is a value the caller passes on (no globals).
 *
 * Collectives are called by every rank in the same order; a rank that fails elsewhere calls
 * ua_dist_abort, which ends every rank (MPI_Abort), never a hang. */
#ifndef UARDA_DIST_H
#define UARDA_DIST_H

#include <stddef.h>

#include "uarda/error.h"

typedef struct ua_dist {
    int rank, size;
    int mpi;          /* MPI_Init was called (ua_dist_finalize ends it) */
} ua_dist;

/* the one-process run */
ua_dist ua_dist_single(void);
/* MPI_Init when started by an MPI launcher (and built with MPI), else ua_dist_single. A launch by
 * mpirun of a build without MPI is an error when the launcher says there are several ranks. */
int  ua_dist_init(ua_dist *d, int *argc, char ***argv, ua_err *err);
void ua_dist_finalize(ua_dist *d);
/* ends every rank with this exit status (one process: exit) */
void ua_dist_abort(const ua_dist *d, int status) __attribute__((noreturn));

/* rank r's share [lo, hi) of n items in contiguous blocks, the first n % size ranks one more */
void ua_dist_share(int n, int rank, int size, int *lo, int *hi);

/* buf (n floats) summed over the ranks, on every rank */
int ua_dist_sum_f32(const ua_dist *d, float *buf, size_t n, ua_err *err);
int ua_dist_sum_i64(const ua_dist *d, long long *buf, size_t n, ua_err *err);
/* 1 on every rank when flag is non-zero on any */
int ua_dist_any(const ua_dist *d, int flag);
/* all [sum of counts]: rank r's counts[r] floats at the sum of the counts before r; rank r's own
 * part is read from there (in place) */
int ua_dist_allgather_f32(const ua_dist *d, float *all, const size_t *counts, ua_err *err);
/* mine (counts[rank] floats) = the sum over the ranks of their all[rank's part] */
int ua_dist_reduce_scatter_f32(const ua_dist *d, const float *all, float *mine, const size_t *counts, ua_err *err);
/* to rank 0 only: as ua_dist_allgather_f32, the other ranks' all untouched */
int ua_dist_gather_f32(const ua_dist *d, float *all, const size_t *counts, ua_err *err);
/* n bytes of rank 0's buf to every rank */
int ua_dist_bcast(const ua_dist *d, void *buf, size_t n, ua_err *err);

#endif
