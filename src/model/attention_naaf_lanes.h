/* NAAF's pair score with the queries in vector lanes (internal; evaluation only).
 *
 * The score is NAAF's (include/uarda/attention.h, "NAAF's score"; the generic kernel,
 * attention_naaf.inc, is the reference and the one that training and the backward use), test or
 * training form, laid out as attention_scan_lanes.h lays out SCAN's: the block of dot products
 * context-major, X[ci * ldx + k] for context item ci and query k, so that the queries fill the
 * lanes and every per-query step (the maxima, both softmaxes, f^T G f) runs down the context with
 * whole vectors. The two kernels differ in the order of their sums (the norm over the queries,
 * the softmaxes' sums, w . x and w^T G w, here over the unnormalised exponentials), so their
 * scores agree to rounding, not to the bit (test_attention_lanes); skip on and off agree to the
 * bit. */
#ifndef UARDA_ATTENTION_NAAF_LANES_H
#define UARDA_ATTENTION_NAAF_LANES_H

#include "uarda/attention.h"

#include <stddef.h>

/* floats of work for c context and q query items */
size_t ua_naaf_lanes_work(int c, int q);

/* The score of one pair (cfg->score must be NAAF's): X as for ua_scan_lanes_forward (up to 7
 * floats past each row's q-th read and ignored: UA_SCAN_LANES_PAD), G the c x c Gram matrix of
 * the context items, PT the query items' transposed smoothing weights (q x q, row l at PT + l q:
 * ua_attn_query_smoothing) for the test form, unused for the training form. With counts,
 * counts[0] = the queries with no entry above t (those whose feature part skip leaves out),
 * counts[1] = the entries at or below t, as ua_attn_pair_counts counts them. NaN for the test form
 * without PT. */
float ua_naaf_lanes_forward(const ua_attn_cfg *cfg, const float *X, size_t ldx, int c, int q, const float *G,
                            const float *PT, float *work, int counts[2]);

#endif
