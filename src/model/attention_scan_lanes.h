/* SCAN's pair score with the queries in vector lanes (internal; evaluation only).
 *
 * The score is SCAN's (include/uarda/attention.h; the generic kernel, attention_pair.inc, is the
 * reference and the one that training and the backward use): the same formulas, laid out the
 * other way. The generic kernel is query-major: every per-query step (the softmax over the
 * context, the quadratic form a^T G a, the cosine) is a horizontal reduction over a short row,
 * 36 regions or a caption's 8-30 words, and the vectors are mostly tails. Here the block of dot
 * products is context-major, X[ci * ldx + k] for context item ci and query k, so the queries
 * fill the lanes: the softmax and the quadratic form run down the context with whole vectors,
 * and only the norm over the queries (one sum per context item) is horizontal.
 *
 * Where the two differ: the order of the sums (the norm, the softmax's sum, a . x and a^T G a,
 * here computed as (e^T G e) / (sum e)^2 over the unnormalised exponentials e, with G's
 * symmetry), so the scores agree to rounding, not to the bit (test_attention_lanes). */
#ifndef UARDA_ATTENTION_SCAN_LANES_H
#define UARDA_ATTENTION_SCAN_LANES_H

#include "uarda/attention.h"

#include <stddef.h>

/* 1 when ua_scan_lanes_forward computes cfg's score: SCAN's attention (no UARDA switch, not
 * NAAF's score), the l2 or clipped-l2 feature norm (SCAN's clipped_l2norm is its default) */
int ua_scan_lanes_ok(const ua_attn_cfg *cfg);

/* floats of work for c context and q query items */
size_t ua_scan_lanes_work(int c, int q);

/* The score of one pair: X context-major (X[ci * ldx + k], ci < c, k < q; up to 7 floats past
 * each row's q-th are read and ignored, so the rows need that much readable memory after them),
 * G the c x c Gram matrix of the context items (row-major, symmetric), qn[q] the query norms (up
 * to 7 past q read and ignored, as X). */
float ua_scan_lanes_forward(const ua_attn_cfg *cfg, const float *X, size_t ldx, int c, int q, const float *G,
                            const float *qn, float *work);

/* readable floats that the caller keeps after its X and qn arrays */
enum { UA_SCAN_LANES_PAD = 8 };

#endif
