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

/* The same with parts_per_thread parts per thread (ua_sgemm: UA_GEMM_PARTS_PER_THREAD). Every
 * part packs the uncut operand again: fewer parts pack less, more parts balance better when a
 * thread shares its CPU. The evaluation's similarity blocks take 1 (measured: 3.5% faster in i2t
 * and, with 64-caption blocks, 7% in t2i at 1000 x 5000 on 2 threads); training keeps 3. */
enum { UA_GEMM_PARTS_PER_THREAD = 3 };
void ua_sgemm_parts(int parts_per_thread, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
                    const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

#endif
