/* Load-balanced SGEMM (gemm.h). */
#include "core/gemm.h"

#include <omp.h>

/* below this many multiply-adds a product is not worth cutting */
#define GEMM_SPLIT_MIN_MACS (1LL << 24)
/* UA_GEMM_PARTS_PER_THREAD (gemm.h): enough that a thread at half speed takes fewer, few enough
 * that each part stays a large product (the uncut operand is packed once per part) */
void ua_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    ua_sgemm_parts(UA_GEMM_PARTS_PER_THREAD, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void ua_sgemm_parts(int parts_per_thread, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
                    const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    const int nt = omp_get_max_threads();
    if (nt < 2 || omp_in_parallel() || (long long)M * N * K < GEMM_SPLIT_MIN_MACS) {
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const int split_n = N >= M, side = split_n ? N : M;
    int parts = (parts_per_thread > 0 ? parts_per_thread : 1) * nt;
    if (parts > side) parts = side;
    #pragma omp parallel for schedule(dynamic, 1)
    for (int p = 0; p < parts; p++) {
        const int lo = (int)((long long)side * p / parts), hi = (int)((long long)side * (p + 1) / parts);
        if (split_n) {   /* columns [lo, hi) of C: of op(B) */
            const float *Bp = tb == CblasNoTrans ? B + lo : B + (long long)lo * ldb;
            cblas_sgemm(CblasRowMajor, ta, tb, M, hi - lo, K, alpha, A, lda, Bp, ldb, beta, C + lo, ldc);
        } else {         /* rows [lo, hi) of C: of op(A) */
            const float *Ap = ta == CblasNoTrans ? A + (long long)lo * lda : A + lo;
            cblas_sgemm(CblasRowMajor, ta, tb, hi - lo, N, K, alpha, Ap, lda, B, ldb, beta, C + (long long)lo * ldc, ldc);
        }
    }
}
