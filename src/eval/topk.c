/* The k best of a stream of scored items (topk.h). */
#include "uarda/topk.h"

#include <stdlib.h>

int ua_topk_init(ua_topk *t, int k, ua_err *err)
{
    t->k = k;
    t->n = 0;
    t->heap = k > 0 ? malloc((size_t)k * sizeof *t->heap) : NULL;
    if (!t->heap) return ua_fail(err, "out of memory for the %d best items", k);
    return 0;
}

void ua_topk_free(ua_topk *t)
{
    free(t->heap);
    t->heap = NULL;
    t->k = t->n = 0;
}

/* sift s down from the root of heap[0..n): every parent ranks after its children */
static void sift_down(ua_scored *h, int n, ua_scored s)
{
    int at = 0;
    for (;;) {
        int c = 2 * at + 1;
        if (c >= n) break;
        if (c + 1 < n && ua_ranks_before(h[c], h[c + 1])) c++;   /* the worse child */
        if (!ua_ranks_before(s, h[c])) break;
        h[at] = h[c];
        at = c;
    }
    h[at] = s;
}

void ua_topk_push(ua_topk *t, float score, int id)
{
    const ua_scored s = {score, id};
    ua_scored *h = t->heap;
    if (t->n < t->k) {   /* sift up */
        int at = t->n++;
        while (at > 0 && ua_ranks_before(h[(at - 1) / 2], s)) {
            h[at] = h[(at - 1) / 2];
            at = (at - 1) / 2;
        }
        h[at] = s;
        return;
    }
    if (ua_ranks_before(s, h[0])) sift_down(h, t->n, s);   /* replaces the worst */
}

int ua_topk_take(ua_topk *t, int *ids, float *scores)
{
    /* heap sort: the worst goes to the end of the shrinking heap, so the array ends best first */
    const int n = t->n;
    for (int size = n; size > 1; size--) {
        ua_scored worst = t->heap[0];
        sift_down(t->heap, size - 1, t->heap[size - 1]);
        t->heap[size - 1] = worst;
    }
    for (int i = 0; i < n; i++) {
        if (ids) ids[i] = t->heap[i].id;
        if (scores) scores[i] = t->heap[i].score;
    }
    t->n = 0;
    return n;
}
