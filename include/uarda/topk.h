/* The k best of a stream of scored items, without sorting them all: a heap of k with the worst
 * kept at its root (a search's shortlist of K by global embedding, and its top-k results).
 *
 * "Best" is uarda's one ranking order: the higher score first, and of equal scores the lower id
 * (a gallery's index order: the order a stable sort of the scores gives). The order is strict
 * for distinct ids, so the k kept are exactly the first k of the full sort, ties included,
 * whatever order the items come in. Scores must not be NaN (a search checks every score it
 * makes finite before it ranks it). */
#ifndef UARDA_TOPK_H
#define UARDA_TOPK_H

#include "uarda/error.h"

typedef struct ua_scored { float score; int id; } ua_scored;

/* a ranks before b */
static inline int ua_ranks_before(ua_scored a, ua_scored b)
{
    return a.score > b.score || (a.score == b.score && a.id < b.id);
}

typedef struct ua_topk {
    int k, n;              /* room, and items kept (n <= k) */
    ua_scored *heap;       /* [k]: heap[0] the worst kept */
} ua_topk;

/* room for the k best (k >= 1); 0 / -1 (out of memory) */
int  ua_topk_init(ua_topk *t, int k, ua_err *err);
void ua_topk_free(ua_topk *t);
/* offers one item: kept when fewer than k are, or when it ranks before the worst kept */
void ua_topk_push(ua_topk *t, float score, int id);
/* the kept items best first into ids[] and scores[] (either may be NULL), and their number;
 * the heap is emptied (the topk can be used again) */
int  ua_topk_take(ua_topk *t, int *ids, float *scores);

#endif
