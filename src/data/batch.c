/* SCAN-style batching: seeded order per epoch, stable descending sort by caption length,
 * zero padding, gathered region features. */
#include "uarda/batch.h"

#include "uarda/dist.h"
#include "uarda/finite.h"

#include <stdlib.h>
#include <string.h>

#include "uarda/rng.h"

int ua_batcher_init(ua_batcher *b, int n_items, int batch_size, int shuffle, uint64_t seed, ua_err *err)
{
    memset(b, 0, sizeof *b);
    if (n_items <= 0) return ua_fail(err, "no items to batch");
    if (batch_size <= 0) return ua_fail(err, "batch size must be positive, got %d", batch_size);
    b->n_items = n_items;
    b->batch_size = batch_size;
    b->shuffle = shuffle;
    b->seed = seed;
    b->rank = 0;
    b->ranks = 1;
    b->n_batches = (n_items + batch_size - 1) / batch_size;
    b->order = malloc((size_t)n_items * sizeof *b->order);
    if (!b->order) return ua_fail(err, "out of memory for %d items", n_items);
    ua_batcher_set_epoch(b, 0);
    return 0;
}

void ua_batcher_set_epoch(ua_batcher *b, int epoch)
{
    b->epoch = epoch;
    for (int i = 0; i < b->n_items; i++) b->order[i] = i;
    if (b->shuffle) {
        ua_rng r;
        /* one stream per epoch: the order of epoch e never depends on what ran before */
        ua_rng_seed(&r, b->seed, ((uint64_t)UA_RNG_ORDER << 32) + (uint64_t)epoch);
        ua_rng_shuffle(&r, b->order, b->n_items);
    }
}

void ua_batcher_free(ua_batcher *b)
{
    if (!b) return;
    free(b->order);
    memset(b, 0, sizeof *b);
}

void ua_batch_free(ua_batch *out)
{
    if (!out) return;
    free(out->caption);
    free(out->image);
    free(out->lengths);
    free(out->tokens);
    free(out->images);
    memset(out, 0, sizeof *out);
}

/* with_images: the features of rows [lo, hi) of the sorted batch (a rank's share) */
static int batch_make(ua_batch *out, const int *items, int n, const ua_split *s, int with_images, int rank, int ranks,
                      ua_err *err)
{
    if (n <= 0) return ua_fail(err, "empty batch");
    if (n > out->cap_items) {
        free(out->caption); free(out->image); free(out->lengths);
        out->caption = malloc((size_t)n * sizeof(int));
        out->image = malloc((size_t)n * sizeof(int));
        out->lengths = malloc((size_t)n * sizeof(int));
        if (!out->caption || !out->image || !out->lengths) { out->cap_items = 0; return ua_fail(err, "out of memory for a batch"); }
        out->cap_items = n;
    }
    /* stable insertion sort by length, descending (ties keep the given order) */
    for (int i = 0; i < n; i++) {
        int c = items[i];
        if (c < 0 || c >= s->n_items) return ua_fail(err, "caption index %d out of range [0, %d)", c, s->n_items);
        int len = ua_caption_len(&s->caps, c);
        int j = i;
        while (j > 0 && out->lengths[j - 1] < len) {
            out->lengths[j] = out->lengths[j - 1];
            out->caption[j] = out->caption[j - 1];
            j--;
        }
        out->lengths[j] = len;
        out->caption[j] = c;
    }
    out->size = n;
    out->max_len = out->lengths[0];
    int n_tok = n * out->max_len;
    if (n_tok > out->cap_tokens) {
        free(out->tokens);
        out->tokens = malloc((size_t)n_tok * sizeof(int));
        if (!out->tokens) { out->cap_tokens = 0; return ua_fail(err, "out of memory for a batch"); }
        out->cap_tokens = n_tok;
    }
    memset(out->tokens, 0, (size_t)n_tok * sizeof(int));
    for (int i = 0; i < n; i++) {
        out->image[i] = ua_split_image_of(s, out->caption[i]);
        memcpy(out->tokens + (size_t)i * out->max_len, ua_caption_ids(&s->caps, out->caption[i]),
               (size_t)out->lengths[i] * sizeof(int));
    }
    if (with_images) {
        size_t per = (size_t)s->n_regions * (size_t)s->img_dim;
        if ((size_t)n * per > out->cap_floats) {
            free(out->images);
            out->images = malloc((size_t)n * per * sizeof(float));
            if (!out->images) { out->cap_floats = 0; return ua_fail(err, "out of memory for a batch of %d images", n); }
            out->cap_floats = (size_t)n * per;
        }
        int lo, hi;
        ua_dist_share(n, rank, ranks, &lo, &hi);
        for (int i = lo; i < hi; i++) {
            memcpy(out->images + (size_t)i * per, ua_split_image(s, out->image[i]), per * sizeof(float));
            /* checked as read: one NaN region would make every weight NaN within a few steps */
            if (ua_check_regions_finite(out->images + (size_t)i * per, 1, s->n_regions, s->img_dim, out->image[i],
                                 s->ims_path, err))
                return -1;
        }
    }
    return 0;
}

int ua_batch_make(ua_batch *out, const int *items, int n, const ua_split *s, int with_images, ua_err *err)
{
    return batch_make(out, items, n, s, with_images, 0, 1, err);
}

int ua_batcher_get(const ua_batcher *b, int k, const ua_split *s, int with_images, ua_batch *out, ua_err *err)
{
    if (k < 0 || k >= b->n_batches) return ua_fail(err, "batch %d out of range [0, %d)", k, b->n_batches);
    int start = k * b->batch_size;
    int n = b->n_items - start < b->batch_size ? b->n_items - start : b->batch_size;
    return batch_make(out, b->order + start, n, s, with_images, b->rank, b->ranks, err);
}
