/* The evaluation's kernels with the queries in lanes (src/model/attention_scan_lanes.c and
 * attention_naaf_lanes.c) against the generic pair kernels (attention_pair.inc,
 * attention_naaf.inc) on the same dot products: SCAN's every aggregation and both norms it takes,
 * NAAF's test and training forms at thresholds from none to every entry above t, context and
 * query counts around the vector width, rows with padding after them, and NaN in every float they
 * read and must ignore; NAAF's skip on and off to the bit, and its counts. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/attention_naaf_lanes.h"
#include "model/attention_scan_lanes.h"
#include "uarda/attention.h"
#include "uarda/rng.h"

enum { E = 24 };

static void unit_rows(ua_rng *r, float *x, int n)
{
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < E; k++) {
            x[i * E + k] = (float)ua_rng_normal(r);
            s += (double)x[i * E + k] * x[i * E + k];
        }
        for (int k = 0; k < E; k++) x[i * E + k] /= (float)sqrt(s);
    }
}

/* one pair of c context and q query items against the generic kernel; returns the difference
 * relative to 1 + |score| */
static double one_pair(ua_rng *r, const ua_attn_cfg *cfg, int c, int q, int pad)
{
    float *ctx = malloc((size_t)c * E * sizeof(float)), *qry = malloc((size_t)q * E * sizeof(float));
    const size_t ldx = (size_t)q + pad;
    /* X context-major, with NaN after every row's q-th float and after the block */
    float *X = malloc((c * ldx + UA_SCAN_LANES_PAD) * sizeof(float));
    float *G = malloc((size_t)c * c * sizeof(float)), *qn = malloc((q + UA_SCAN_LANES_PAD) * sizeof(float));
    unit_rows(r, ctx, c);
    unit_rows(r, qry, q);
    /* a query equal to a context item: a cosine near 1, the edge of the LogSumExp's shift */
    if (q > 2 && c > 1) memcpy(qry + E, ctx + E, E * sizeof(float));
    for (size_t o = 0; o < c * ldx + UA_SCAN_LANES_PAD; o++) X[o] = NAN;
    for (int k = 0; k < q + UA_SCAN_LANES_PAD; k++) qn[k] = NAN;
    for (int ci = 0; ci < c; ci++)
        for (int k = 0; k < q; k++) {
            double d = 0;
            for (int e = 0; e < E; e++) d += (double)ctx[ci * E + e] * qry[k * E + e];
            X[ci * ldx + k] = (float)d;
        }
    for (int a = 0; a < c; a++)
        for (int b = 0; b < c; b++) {
            double d = 0;
            for (int e = 0; e < E; e++) d += (double)ctx[a * E + e] * ctx[b * E + e];
            G[a * c + b] = (float)d;
        }
    /* norms away from 1, as the model's embeddings have */
    for (int k = 0; k < q; k++) qn[k] = 0.5f + (float)ua_rng_below(r, 1000) / 1000.0f;
    float *wg = malloc(ua_attn_pair_work(c, q) * sizeof(float)), *wl = malloc(ua_scan_lanes_work(c, q) * sizeof(float));
    const float want = ua_attn_pair_forward(cfg, X, ldx, 1, c, q, G, qn, NULL, wg);
    const float got = ua_scan_lanes_forward(cfg, X, ldx, c, q, G, qn, wl);
    const double d = fabs((double)got - want);
    if (!(d <= 2e-6 * (1 + fabs(want))))
        fail_msg("norm %s agg %s lambda %g/%g: c %d q %d pad %d: lanes %.9g, generic %.9g", ua_feature_norm_name(cfg->norm),
                 ua_agg_name(cfg->agg), cfg->lambda_softmax, cfg->lambda_lse, c, q, pad, got, want);
    free(ctx); free(qry); free(X); free(G); free(qn); free(wg); free(wl);
    return d / (1 + fabs(want));
}

static void test_lanes_match_the_generic_kernel(void **state)
{
    (void)state;
    ua_rng r;
    ua_rng_seed(&r, 11, 3);
    const int cs[] = {1, 2, 7, 8, 9, 14, 36}, qs[] = {1, 3, 8, 9, 14, 16, 17, 31, 33, 36, 40, 65};
    const ua_feature_norm norms[] = {UA_NORM_CLIPPED_L2NORM, UA_NORM_L2NORM};
    const ua_agg aggs[] = {UA_AGG_LOGSUMEXP, UA_AGG_MEAN, UA_AGG_MAX, UA_AGG_SUM};
    const double lams[][2] = {{9, 6}, {4, 5}, {20, 10}};
    double worst = 0;
    int n = 0;
    for (size_t a = 0; a < sizeof cs / sizeof *cs; a++)
        for (size_t b = 0; b < sizeof qs / sizeof *qs; b++)
            for (int v = 0; v < 2 * 4 * 3; v++) {
                ua_attn_cfg cfg = {.direction = UA_T2I, .norm = norms[v % 2], .agg = aggs[v / 2 % 4],
                                   .lambda_softmax = lams[v / 8][0], .lambda_lse = lams[v / 8][1]};
                assert_true(ua_scan_lanes_ok(&cfg));
                double d = one_pair(&r, &cfg, cs[a], qs[b], (int)((a + b + v) % 3) * 5);
                if (d > worst) worst = d;
                n++;
            }
    printf("lanes = generic kernel in %d pairs (largest difference %.2g of 1 + |score|)\n", n, worst);
}

/* one NAAF pair at threshold t against the generic kernel, skip on and off; returns the
 * difference relative to 1 + |score| */
static double one_naaf_pair(ua_rng *r, ua_score_form form, double t, int c, int q, int pad, int *skipped)
{
    float *ctx = malloc((size_t)c * E * sizeof(float)), *qry = malloc((size_t)q * E * sizeof(float));
    const size_t ldx = (size_t)q + pad;
    float *X = malloc((c * ldx + UA_SCAN_LANES_PAD) * sizeof(float));
    float *G = malloc((size_t)c * c * sizeof(float)), *PT = malloc((size_t)q * q * sizeof(float));
    float *qn = malloc((size_t)q * sizeof(float));
    unit_rows(r, ctx, c);
    unit_rows(r, qry, q);
    if (q > 2 && c > 1) memcpy(qry + E, ctx + E, E * sizeof(float));   /* one query far above any t */
    for (size_t o = 0; o < c * ldx + UA_SCAN_LANES_PAD; o++) X[o] = NAN;
    for (int ci = 0; ci < c; ci++)
        for (int k = 0; k < q; k++) {
            double d = 0;
            for (int e = 0; e < E; e++) d += (double)ctx[ci * E + e] * qry[k * E + e];
            X[ci * ldx + k] = (float)d;
        }
    for (int a = 0; a < c; a++)
        for (int b = 0; b < c; b++) {
            double d = 0;
            for (int e = 0; e < E; e++) d += (double)ctx[a * E + e] * ctx[b * E + e];
            G[a * c + b] = (float)d;
        }
    for (int a = 0; a < q; a++)
        for (int b = 0; b < q; b++) {
            double d = 0;
            for (int e = 0; e < E; e++) d += (double)qry[a * E + e] * qry[b * E + e];
            PT[a * q + b] = (float)d;
        }
    ua_attn_query_smoothing(PT, q, PT);
    for (int k = 0; k < q; k++) qn[k] = 1;
    ua_attn_cfg cfg = {.direction = UA_T2I, .score = UA_SCORE_NAAF, .form = form, .agg = UA_AGG_MEAN,
                       .lambda_softmax = 20, .lambda_lse = 6, .threshold = t};
    float *wg = malloc(ua_attn_pair_work(c, q) * sizeof(float)), *wl = malloc(ua_naaf_lanes_work(c, q) * sizeof(float));
    const float want = ua_attn_pair_forward_smoothed(&cfg, X, ldx, 1, c, q, G, PT, qn, NULL, wg);
    int want_irr, want_masked, counts[2] = {-1, -1};
    ua_attn_pair_counts(&cfg, wg, c, q, &want_irr, &want_masked);
    const float off = ua_naaf_lanes_forward(&cfg, X, ldx, c, q, G, PT, wl, counts);
    ua_attn_set_skip(&cfg, 1);
    const float on = ua_naaf_lanes_forward(&cfg, X, ldx, c, q, G, PT, wl, NULL);
    const double d = fabs((double)off - want);
    if (!(d <= 2e-6 * (1 + fabs(want))))
        fail_msg("NAAF %s form t %g: c %d q %d pad %d: lanes %.9g, generic %.9g", form == UA_FORM_TEST ? "test" : "train",
                 t, c, q, pad, off, want);
    if (memcmp(&on, &off, sizeof on))
        fail_msg("NAAF t %g c %d q %d: skip on %.9g, off %.9g: not the same bits", t, c, q, on, off);
    assert_int_equal(counts[0], want_irr);
    assert_int_equal(counts[1], want_masked);
    *skipped += want_irr;
    free(ctx); free(qry); free(X); free(G); free(PT); free(qn); free(wg); free(wl);
    return d / (1 + fabs(want));
}

static void test_naaf_lanes_match_the_generic_kernel(void **state)
{
    (void)state;
    ua_rng r;
    ua_rng_seed(&r, 12, 5);
    const int cs[] = {1, 2, 7, 9, 14, 36}, qs[] = {1, 3, 8, 9, 14, 17, 31, 36, 40};
    /* unit vectors in 24 dimensions: dot products within about +-0.6, so these thresholds range
     * from every entry above t (-1) to none (1), through mixes where some queries have none */
    const double ts[] = {-1, -0.05, 0.1, 0.25, 0.4, 1};
    double worst = 0;
    int n = 0, skipped = 0, queries = 0;
    for (size_t a = 0; a < sizeof cs / sizeof *cs; a++)
        for (size_t b = 0; b < sizeof qs / sizeof *qs; b++)
            for (size_t v = 0; v < 2 * sizeof ts / sizeof *ts; v++) {
                double d = one_naaf_pair(&r, v % 2 ? UA_FORM_TRAIN : UA_FORM_TEST, ts[v / 2], cs[a], qs[b],
                                         (int)((a + b + v) % 3) * 5, &skipped);
                if (d > worst) worst = d;
                n++;
                queries += qs[b];
            }
    /* the mixes exist: some queries skipped, not all */
    assert_true(skipped > queries / 10 && skipped < queries * 9 / 10);
    printf("NAAF lanes = generic kernel in %d pairs (largest difference %.2g of 1 + |score|), %d of %d queries "
           "without an entry above t\n", n, worst, skipped, queries);
    /* the test form without its smoothing weights: NaN, never a score */
    ua_attn_cfg cfg = {.score = UA_SCORE_NAAF, .form = UA_FORM_TEST, .lambda_softmax = 20, .threshold = 0.1};
    float X[2 * 2 + UA_SCAN_LANES_PAD] = {0}, G[4] = {1, 0, 0, 1}, work[256];
    assert_true(ua_naaf_lanes_work(2, 2) <= 256);
    assert_true(isnan(ua_naaf_lanes_forward(&cfg, X, 2, 2, 2, G, NULL, work, NULL)));
}

/* what the lanes kernel does not compute is left to the generic one */
static void test_lanes_take_scan_only(void **state)
{
    (void)state;
    ua_attn_cfg base = {.norm = UA_NORM_CLIPPED_L2NORM, .agg = UA_AGG_MEAN, .lambda_softmax = 9, .lambda_lse = 6};
    assert_true(ua_scan_lanes_ok(&base));
    ua_attn_cfg c = base;
    c.norm = UA_NORM_SOFTMAX;
    assert_false(ua_scan_lanes_ok(&c));
    c = base;
    c.norm = UA_NORM_CLIPPED_L1NORM;
    assert_false(ua_scan_lanes_ok(&c));
    c = base;
    c.clip = UA_CLIP_UARDA;
    assert_false(ua_scan_lanes_ok(&c));
    c = base;
    c.mask = UA_MASK_HARD;
    assert_false(ua_scan_lanes_ok(&c));
    c = base;
    c.irr = UA_IRR_ZERO;
    assert_false(ua_scan_lanes_ok(&c));
    c = base;
    c.logit = UA_LOGIT_RAW;
    assert_false(ua_scan_lanes_ok(&c));
    c = base;
    c.score = UA_SCORE_NAAF;
    assert_false(ua_scan_lanes_ok(&c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lanes_match_the_generic_kernel),
        cmocka_unit_test(test_lanes_take_scan_only),
        cmocka_unit_test(test_naaf_lanes_match_the_generic_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
