/* The k best of a stream (src/eval/topk.c): against a full stable sort (higher score first, ties
 * by the lower id) on scores with many ties, signed zeros and infinities, for every k from 1 to
 * past the count, items offered in shuffled order; the heap is reusable after take. */
#include "helpers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/topk.h"

static int by_rank(const void *x, const void *y)
{
    const ua_scored *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static void test_against_full_sort(void **state)
{
    (void)state;
    enum { N = 300 };
    static const float values[] = {0.5f, -0.25f, 0.0f, -0.0f, 1e-30f, 3.0f, -INFINITY, INFINITY, 0.5f};
    ua_rng r;
    ua_rng_seed(&r, 17, 1);
    ua_scored items[N], sorted[N];
    int order[N], ids[N + 5];
    float scores[N + 5];
    ua_topk t;
    ua_err err;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < N; i++) {
            /* round 0: nine values, so ties everywhere; later: a mix of ties and distinct scores */
            float v = values[ua_rng_below(&r, sizeof values / sizeof *values)];
            if (round > 0 && ua_rng_below(&r, 2)) v = ua_rng_range(&r, -1, 1);
            items[i] = (ua_scored){v, i};
            order[i] = i;
        }
        memcpy(sorted, items, sizeof items);
        qsort(sorted, N, sizeof *sorted, by_rank);
        for (int k = 1; k <= N + 5; k += (k < 20 ? 1 : 37)) {
            if (ua_topk_init(&t, k, &err)) fail_msg("%s", err.msg);
            ua_rng_shuffle(&r, order, N);
            for (int i = 0; i < N; i++) ua_topk_push(&t, items[order[i]].score, items[order[i]].id);
            const int kept = k < N ? k : N;
            assert_int_equal(ua_topk_take(&t, ids, scores), kept);
            for (int j = 0; j < kept; j++)
                if (ids[j] != sorted[j].id || memcmp(&scores[j], &sorted[j].score, sizeof(float)) != 0)
                    fail_msg("round %d, k %d, place %d: id %d (%g), the full sort's %d (%g)", round, k, j, ids[j],
                             (double)scores[j], sorted[j].id, (double)sorted[j].score);
            /* used again: the same answer */
            for (int i = N - 1; i >= 0; i--) ua_topk_push(&t, items[i].score, items[i].id);
            assert_int_equal(ua_topk_take(&t, ids, NULL), kept);
            for (int j = 0; j < kept; j++) assert_int_equal(ids[j], sorted[j].id);
            ua_topk_free(&t);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_full_sort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
