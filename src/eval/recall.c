/* SCAN's retrieval metrics (spec scan.md 4.3). */
#include "uarda/eval.h"
#include "uarda/finite.h"

#include <math.h>
#include <stdlib.h>

static int cmp_int(const void *a, const void *b) { return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b); }

static void summarize(int *ranks, int n, double out[5])
{
    int r1 = 0, r5 = 0, r10 = 0;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        r1 += ranks[i] < 1;
        r5 += ranks[i] < 5;
        r10 += ranks[i] < 10;
        sum += ranks[i];
    }
    out[0] = 100.0 * r1 / n;
    out[1] = 100.0 * r5 / n;
    out[2] = 100.0 * r10 / n;
    int *sorted = malloc((size_t)n * sizeof *sorted);
    double median;
    if (sorted) {
        for (int i = 0; i < n; i++) sorted[i] = ranks[i];
        qsort(sorted, (size_t)n, sizeof *sorted, cmp_int);
        median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
        free(sorted);
    } else {
        median = NAN;
    }
    out[3] = floor(median) + 1;   /* numpy: floor(median(ranks)) + 1 */
    out[4] = sum / n + 1;
}

int ua_recall_compute(const float *sims, int n_img, int n_cap, int im_div, ua_recall *r, int *ranks_i2t,
                      int *ranks_t2i, ua_err *err)
{
    if (n_img <= 0 || im_div <= 0 || n_cap != n_img * im_div)
        return ua_fail(err, "recall: %d captions for %d images is not %d per image", n_cap, n_img, im_div);
    /* a NaN compares false against everything, so it would rank first: refused, not ranked */
    if (ua_check_scores(sims, n_img, n_cap, err)) return -1;
    int *ri = ranks_i2t ? ranks_i2t : malloc((size_t)n_img * sizeof(int));
    int *rt = ranks_t2i ? ranks_t2i : malloc((size_t)n_cap * sizeof(int));
    if (!ri || !rt) {
        if (!ranks_i2t) free(ri);
        if (!ranks_t2i) free(rt);
        return ua_fail(err, "out of memory for ranks");
    }
    /* An item's rank is its position in the items sorted by score, descending, ties in index
     * order (a stable sort): the items scored higher, plus the equal ones listed before it.
     * Ties never count in the query's favour: a model that scores everything alike gets chance
     * recall, not 100%. (SCAN's argsort breaks ties arbitrarily; without ties the two agree.) */
    #pragma omp parallel for schedule(dynamic, 16)
    for (int i = 0; i < n_img; i++) {   /* image query: its best-ranked ground-truth caption */
        /* the best-ranked one is the highest-scored, the first listed among equals */
        const float *row = sims + (size_t)i * n_cap;
        int c = i * im_div;
        for (int k = 1; k < im_div; k++) if (row[i * im_div + k] > row[c]) c = i * im_div + k;
        const float v = row[c];
        int pos = 0;
        for (int j = 0; j < n_cap; j++) pos += row[j] > v || (row[j] == v && j < c);
        ri[i] = pos;
    }
    #pragma omp parallel for schedule(dynamic, 16)
    for (int j = 0; j < n_cap; j++) {   /* caption query: its own image */
        const int own_i = j / im_div;
        const float own = sims[(size_t)own_i * n_cap + j];
        int pos = 0;
        for (int i = 0; i < n_img; i++) {
            const float v = sims[(size_t)i * n_cap + j];
            pos += v > own || (v == own && i < own_i);
        }
        rt[j] = pos;
    }
    summarize(ri, n_img, r->i2t);
    summarize(rt, n_cap, r->t2i);
    r->rsum = r->i2t[0] + r->i2t[1] + r->i2t[2] + r->t2i[0] + r->t2i[1] + r->t2i[2];
    if (!ranks_i2t) free(ri);
    if (!ranks_t2i) free(rt);
    return 0;
}
