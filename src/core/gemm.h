/* SGEMM for uarda's large products (cblas_sgemm's arguments, row-major): the larger of the
 * output's two sides cut into parts that whichever thread is free takes, each part a
 * single-threaded OpenBLAS call (OpenBLAS runs on one thread inside a parallel region). OpenBLAS's
 * own threads split a product into one static piece per thread, so the product ends when its
 * slowest thread does: on a machine whose CPUs are shared with other work, a thread that shares
 * its CPU holds the others up. Small products, and products inside a parallel region, go to
 * OpenBLAS as they are. Deterministic for a given thread count (the parts are fixed by it). */
#ifndef UARDA_CORE_GEMM_H
#define UARDA_CORE_GEMM_H

#include <cblas.h>

void ua_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

#endif
