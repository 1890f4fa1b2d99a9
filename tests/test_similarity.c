/* The evaluation's blocked similarity matrix (captions regrouped by length, blocks of 128
 * images x 32 captions, image Gram matrices computed once) against every pair scored alone
 * through a 1 x 1 block, for SCAN and a thresholded UARDA setting, in both directions; SCAN's
 * blocks go through the lanes kernel, and are checked against the generic one as well. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/attention.h"
#include "uarda/eval.h"
#include "uarda/model.h"
#include "uarda/rng.h"

enum { NI = 131, NC = 70, R = 5, LMAX = 12, E = 16 };

static void test_blocked_matrix_equals_single_pairs(void **state)
{
    (void)state;
    ua_rng r;
    ua_rng_seed(&r, 5, 9);
    ua_embeddings e = {0};
    e.n_img = NI; e.R = R; e.E = E; e.n_cap = NC; e.max_len = 1;
    e.img = malloc((size_t)NI * R * E * sizeof(float));
    e.cap_offset = malloc((NC + 1) * sizeof(int));
    e.cap_len = malloc(NC * sizeof(int));
    e.cap_offset[0] = 0;
    /* lengths in no order, so that the blocks regroup the captions */
    for (int j = 0; j < NC; j++) {
        e.cap_len[j] = 2 + (int)ua_rng_below(&r, LMAX - 1);
        if (e.cap_len[j] > e.max_len) e.max_len = e.cap_len[j];
        e.cap_offset[j + 1] = e.cap_offset[j] + e.cap_len[j];
    }
    e.cap = malloc((size_t)e.cap_offset[NC] * E * sizeof(float));
    th_unit_rows(&r, e.img, (size_t)NI * R, E, 1.0);
    th_unit_rows(&r, e.cap, (size_t)e.cap_offset[NC], E, 1.0);
    float *sims = malloc((size_t)NI * NC * sizeof(float));
    ua_err err;
    ua_sim_work *w = ua_sim_work_new(1, 1, R, e.max_len, E, 0, &err), *wg = ua_sim_work_new(1, 1, R, e.max_len, E, 0, &err);
    assert_non_null(w);
    assert_non_null(wg);
    ua_sim_set_generic(wg, 1);   /* SCAN's pairs alone through the generic kernel too */
    double worst = 0;
    for (int dir = 0; dir < 2; dir++)
        for (int v = 0; v < 2; v++) {
            ua_attn_cfg cfg = {.direction = (ua_direction)dir, .norm = UA_NORM_CLIPPED_L2NORM, .agg = UA_AGG_MEAN,
                               .lambda_softmax = 9, .lambda_lse = 6};
            if (v) { cfg.clip = UA_CLIP_UARDA; cfg.mask = UA_MASK_HARD; cfg.irr = UA_IRR_ZERO; cfg.threshold = 0.5; }
            assert_int_equal(ua_similarity_matrix(&cfg, &e, sims, &err), 0);
            /* every caption against the images at the edges of the first two image blocks */
            for (int i = 0; i < NI; i = i == 3 ? 124 : i + 1)
                for (int j = 0; j < NC; j++) {
                    float one, gen;
                    ua_sim_block_forward(&cfg, e.img + (size_t)i * R * E, 1, R, e.cap + (size_t)e.cap_offset[j] * E, 1,
                                         e.cap_len[j], &e.cap_len[j], E, &one, 1, w);
                    ua_sim_block_forward(&cfg, e.img + (size_t)i * R * E, 1, R, e.cap + (size_t)e.cap_offset[j] * E, 1,
                                         e.cap_len[j], &e.cap_len[j], E, &gen, 1, wg);
                    float got = sims[(size_t)i * NC + j];
                    double d = fabs((double)got - one), dg = fabs((double)got - gen);
                    if (d > worst) worst = d;
                    if (dg > worst) worst = dg;
                    if (d > 1e-5 * (1 + fabs(one)) || dg > 1e-5 * (1 + fabs(gen)))
                        fail_msg("dir %d variant %d: image %d caption %d: blocked %.8g, alone %.8g, generic kernel %.8g",
                                 dir, v, i, j, got, one, gen);
                }
        }
    printf("blocked matrix = single pairs (largest difference %.2g)\n", worst);
    ua_sim_work_free(w);
    ua_sim_work_free(wg);
    free(sims);
    ua_embeddings_free(&e);
}

/* ASan's allocator would abort on the petabyte request below instead of returning NULL */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

/* a block the attention cannot take is refused with the limit; a block that cannot be
 * allocated names the sizes it asked for (not a fixed "128 x 32") */
static void test_work_limits_and_sizes(void **state)
{
    (void)state;
    ua_err err;
    char want[96];
    assert_null(ua_sim_work_new(128, 32, UA_ATTN_MAX_ITEMS + 1, 20, E, 0, &err));
    snprintf(want, sizeof want, "%d regions per image", UA_ATTN_MAX_ITEMS + 1);
    assert_non_null(strstr(err.msg, want));
    snprintf(want, sizeof want, "at most %d", UA_ATTN_MAX_ITEMS);
    assert_non_null(strstr(err.msg, want));
    assert_null(ua_sim_work_new(128, 32, 36, UA_ATTN_MAX_ITEMS + 1, E, 0, &err));
    snprintf(want, sizeof want, "up to %d words", UA_ATTN_MAX_ITEMS + 1);
    assert_non_null(strstr(err.msg, want));
    /* 2^20 x 2^20 pairs of 36 x 20: petabytes, beyond any address space */
    assert_null(ua_sim_work_new(1 << 20, 1 << 20, 36, 20, E, 1, &err));
    assert_non_null(strstr(err.msg, "out of memory for a similarity block of 1048576 images x 1048576 captions "
                                    "(36 regions per image, captions of up to 20 words with <start> and <end>, "
                                    "forward and backward)"));
    assert_null(strchr(err.msg, '\n'));
    /* the limits themselves are taken (one side at its limit: the other at SCAN's sizes) */
    ua_sim_work *w = ua_sim_work_new(2, 2, UA_ATTN_MAX_ITEMS, 20, 4, 0, &err);
    if (!w) fail_msg("%s", err.msg);
    ua_sim_work_free(w);
    if (!(w = ua_sim_work_new(2, 2, 36, UA_ATTN_MAX_ITEMS, 4, 0, &err))) fail_msg("%s", err.msg);
    ua_sim_work_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocked_matrix_equals_single_pairs),
        cmocka_unit_test(test_work_limits_and_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
