/* Dot products of a few query rows against many gallery rows (a search query's words against a
 * gallery's regions). A GEMM packs the whole gallery side into its buffers before multiplying;
 * with a handful of query rows that copy costs as much as the products themselves (perf: 36% of
 * a search in OpenBLAS's packing). Here each gallery row is read once, straight from memory (the
 * mapped index), against the query rows held in cache.
 *
 * Every product sums K in 8 fixed lanes, lane u taking k = u, u + 8, ..., then
 * ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)): the same bits whatever the tile, the thread
 * count or the instruction set. */
#include "uarda/dots.h"

#include <omp.h>
#include <stddef.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define UA_DOTS_AVX2 1
#endif

static float lanes_sum(const float l[8]) { return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])); }

/* one product, portable: the same lane order as the vector tiles (fmaf: one rounding per step,
 * as the FMA instruction) */
static float dot_one(const float *restrict a, const float *restrict b, int K)
{
    float l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int k = 0;
    for (; k + 8 <= K; k += 8)
        for (int u = 0; u < 8; u++) l[u] = __builtin_fmaf(a[k + u], b[k + u], l[u]);
    for (int u = 0; k < K; k++, u++) l[u] = __builtin_fmaf(a[k], b[k], l[u]);
    return lanes_sum(l);
}

#ifdef UA_DOTS_AVX2
static float hsum(__m256 v, const float *restrict a, const float *restrict b, int k, int K)
{
    float l[8];
    _mm256_storeu_ps(l, v);
    for (int u = 0; k < K; k++, u++) l[u] = __builtin_fmaf(a[k], b[k], l[u]);
    return lanes_sum(l);
}

/* The lane sums of four accumulators at once, in lanes_sum's order: hadd pairs lanes (0+1, 2+3)
 * within each 128-bit half, a second hadd adds those pairs, and the halves are added last:
 * ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) for each of v0..v3, the same bits as
 * lanes_sum at a tenth of the instructions. */
static __m128 sum4(__m256 v0, __m256 v1, __m256 v2, __m256 v3)
{
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* 2 query rows x 4 gallery rows: 8 accumulators, 6 loads per 8 FMAs */
static void tile_2x4(const float *restrict a0, const float *restrict a1, const float *const b[4], int K, float out[2][4])
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 x0 = _mm256_loadu_ps(a0 + k), x1 = _mm256_loadu_ps(a1 + k);
        __m256 y = _mm256_loadu_ps(b[0] + k);
        c00 = _mm256_fmadd_ps(x0, y, c00); c10 = _mm256_fmadd_ps(x1, y, c10);
        y = _mm256_loadu_ps(b[1] + k);
        c01 = _mm256_fmadd_ps(x0, y, c01); c11 = _mm256_fmadd_ps(x1, y, c11);
        y = _mm256_loadu_ps(b[2] + k);
        c02 = _mm256_fmadd_ps(x0, y, c02); c12 = _mm256_fmadd_ps(x1, y, c12);
        y = _mm256_loadu_ps(b[3] + k);
        c03 = _mm256_fmadd_ps(x0, y, c03); c13 = _mm256_fmadd_ps(x1, y, c13);
    }
    if (k == K) {
        _mm_storeu_ps(out[0], sum4(c00, c01, c02, c03));
        _mm_storeu_ps(out[1], sum4(c10, c11, c12, c13));
        return;
    }
    out[0][0] = hsum(c00, a0, b[0], k, K); out[0][1] = hsum(c01, a0, b[1], k, K);
    out[0][2] = hsum(c02, a0, b[2], k, K); out[0][3] = hsum(c03, a0, b[3], k, K);
    out[1][0] = hsum(c10, a1, b[0], k, K); out[1][1] = hsum(c11, a1, b[1], k, K);
    out[1][2] = hsum(c12, a1, b[2], k, K); out[1][3] = hsum(c13, a1, b[3], k, K);
}

/* 1 query row x 4 gallery rows (an odd query row; a GRU step of one caption) */
static void tile_1x4(const float *restrict a0, const float *const b[4], int K, float out[4])
{
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 x0 = _mm256_loadu_ps(a0 + k);
        c0 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b[0] + k), c0);
        c1 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b[1] + k), c1);
        c2 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b[2] + k), c2);
        c3 = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b[3] + k), c3);
    }
    if (k == K) {
        _mm_storeu_ps(out, sum4(c0, c1, c2, c3));
        return;
    }
    out[0] = hsum(c0, a0, b[0], k, K); out[1] = hsum(c1, a0, b[1], k, K);
    out[2] = hsum(c2, a0, b[2], k, K); out[3] = hsum(c3, a0, b[3], k, K);
}
#endif

/* below this many multiply-adds the products run on the calling thread: waking the others costs
 * more (a GRU step of one caption, a small gallery). Never from inside another parallel region,
 * even one that its `if` made serial: libgomp starts (and ends) fresh threads for a region nested
 * in any other, which cost 1000 thread creations in one epoch of the tiny training. */
#define DOTS_PAR_MIN_MACS (1LL << 18)

void ua_dots_few(const float *A, int nq, const float *B, long long ng, int K, float *C, size_t ldq, size_t ldg)
{
    /* threads over blocks of 4 gallery rows; every query row against the block while it is in L1 */
    const long long n_blocks = (ng + 3) / 4;
    #pragma omp parallel for schedule(dynamic, 8) if (omp_get_level() == 0 && (long long)nq * ng * K >= DOTS_PAR_MIN_MACS)
    for (long long blk = 0; blk < n_blocks; blk++) {
        const long long g0 = 4 * blk;
        const int ng_here = ng - g0 < 4 ? (int)(ng - g0) : 4;
        const float *b[4];
        for (int v = 0; v < 4; v++) b[v] = B + (size_t)(g0 + (v < ng_here ? v : 0)) * K;
        int q = 0;
#ifdef UA_DOTS_AVX2
        if (ng_here == 4) {   /* a full block: query rows in pairs, then the odd one */
            for (; q + 2 <= nq; q += 2) {
                float out[2][4];
                tile_2x4(A + (size_t)q * K, A + (size_t)(q + 1) * K, b, K, out);
                for (int r = 0; r < 2; r++)
                    for (int v = 0; v < 4; v++) C[(size_t)(q + r) * ldq + (size_t)(g0 + v) * ldg] = out[r][v];
            }
            for (; q < nq; q++) {
                float out[4];
                tile_1x4(A + (size_t)q * K, b, K, out);
                for (int v = 0; v < 4; v++) C[(size_t)q * ldq + (size_t)(g0 + v) * ldg] = out[v];
            }
        }
#endif
        for (; q < nq; q++)
            for (int v = 0; v < ng_here; v++)
                C[(size_t)q * ldq + (size_t)(g0 + v) * ldg] = dot_one(A + (size_t)q * K, b[v], K);
    }
}
