/* Batches of (image, caption) items as SCAN's loader makes them: the items of an epoch in a
 * seeded random order (or file order), cut into batches of batch_size (the last partial batch
 * kept), each batch stably sorted by caption length, descending, and padded with <pad> = 0.
 * The order of epoch e depends only on (seed, e), so a resumed run needs only the epoch and
 * the batch index to continue the same sequence. */
#ifndef UARDA_BATCH_H
#define UARDA_BATCH_H

#include <stdint.h>
#include "uarda/precomp.h"

typedef struct ua_batch {
    int size;               /* B */
    int max_len;            /* lengths[0] */
    int *caption;           /* [B] caption indices, in sorted order */
    int *image;             /* [B] image rows */
    int *lengths;           /* [B] descending */
    int *tokens;            /* [B, max_len] row-major, 0-padded */
    float *images;          /* [B, n_regions, img_dim] gathered features (NULL if not asked) */
    /* private capacities */
    int cap_items, cap_tokens;
    size_t cap_floats;
} ua_batch;

typedef struct ua_batcher {
    int n_items, batch_size, shuffle;
    uint64_t seed;
    int epoch;
    int *order;             /* [n_items] the epoch's item order */
    int n_batches;
    int rank, ranks;        /* data parallel: the features of this rank's share of each batch only
                               (ua_dist_share over the sorted batch); 0 and 1 by default */
} ua_batcher;

int  ua_batcher_init(ua_batcher *b, int n_items, int batch_size, int shuffle, uint64_t seed, ua_err *err);
/* fixes the order of epoch e */
void ua_batcher_set_epoch(ua_batcher *b, int epoch);
/* fills batch k (0 <= k < n_batches) of the current epoch; with_images gathers the features */
int  ua_batcher_get(const ua_batcher *b, int k, const ua_split *s, int with_images, ua_batch *out, ua_err *err);
/* a batch of the given caption indices, in the given order, sorted as above */
int  ua_batch_make(ua_batch *out, const int *items, int n, const ua_split *s, int with_images, ua_err *err);
void ua_batcher_free(ua_batcher *b);
void ua_batch_free(ua_batch *out);

#endif
