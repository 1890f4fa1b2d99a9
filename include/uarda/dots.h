/* Products of a few rows against many (src/model/dots.c). */
#ifndef UARDA_DOTS_H
#define UARDA_DOTS_H

#include <stddef.h>

/* C[q * ldq + g * ldg] = A[q] . B[g] for the nq rows of A and the ng rows of B (K floats each,
 * rows contiguous). The GEMM for UA_FEW_ROWS or fewer rows of A (one search query: its words
 * against a gallery block, its GRU steps against the weights), where a GEMM would first copy all
 * of B into its packing buffers. K is summed in 8 fixed lanes: the same bits for any thread
 * count, tile or instruction set. Threads over B's rows (serial inside a parallel region). */
enum { UA_FEW_ROWS = 32 };
void ua_dots_few(const float *A, int nq, const float *B, long long ng, int K, float *C, size_t ldq, size_t ldg);

#endif
