/* UARDA's thresholded attention: the kernel against the PyTorch reference's single pairs in
 * double precision (every switch, both directions), finite differences, and exact skipping
 * (scores with skip on are the same bits as with skip off). */
#include "helpers.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/attention.h"
#include "uarda/eval.h"
#include "uarda/rng.h"
#include "uarda/safetensors.h"

static ua_attn_cfg cfg_from_json(const cJSON *c, ua_direction dir)
{
    ua_attn_cfg cfg = {0};
    cfg.direction = dir;
    cfg.clip = (ua_clip_mode)ua_clip_parse(cJSON_GetObjectItem(c, "clip")->valuestring);
    cfg.mask = (ua_mask_mode)ua_mask_parse(cJSON_GetObjectItem(c, "mask")->valuestring);
    cfg.logit = (ua_logit_mode)ua_logit_parse(cJSON_GetObjectItem(c, "logit")->valuestring);
    cfg.irr = (ua_irr_mode)ua_irr_parse(cJSON_GetObjectItem(c, "irr")->valuestring);
    cfg.threshold = cJSON_GetObjectItem(c, "t")->valuedouble;
    cfg.norm = (ua_feature_norm)ua_feature_norm_parse(cJSON_GetObjectItem(c, "raw_feature_norm")->valuestring);
    cfg.agg = (ua_agg)ua_agg_parse(cJSON_GetObjectItem(c, "agg_func")->valuestring);
    cfg.lambda_softmax = cJSON_GetObjectItem(c, "lambda_softmax")->valuedouble;
    cfg.lambda_lse = cJSON_GetObjectItem(c, "lambda_lse")->valuedouble;
    return cfg;
}

static const double *get64(const ua_st_file *f, const char *name)
{
    const ua_st_tensor *t = ua_st_find(f, name);
    if (!t || t->dtype != UA_ST_F64) fail_msg("pairs fixture lacks F64 tensor %s", name);
    return t->data;
}

static double rel64(const double *a, const double *b, size_t n)
{
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(a[i] - b[i]) > md) md = fabs(a[i] - b[i]);
        if (fabs(b[i]) > mr) mr = fabs(b[i]);
    }
    return mr > 0 ? md / mr : md;
}

static void check_pairs_file(const char *path, ua_direction dir)
{
    ua_st_file f;
    ua_err err;
    if (ua_st_open(&f, path, &err)) fail_msg("%s", err.msg);
    const ua_st_tensor *St = ua_st_find(&f, "input.S");
    assert_non_null(St);
    int c = (int)St->shape[0], q = (int)St->shape[1];
    const double *S = St->data, *G = get64(&f, "input.G"), *qn = get64(&f, "input.qn");
    cJSON *configs = cJSON_Parse(ua_st_meta(&f, "configs"));
    assert_non_null(configs);
    size_t wl = ua_attn_pair_work(c, q);
    double *work = malloc(wl * sizeof(double)), *R = malloc((size_t)q * sizeof(double));
    double *dS = malloc((size_t)c * q * sizeof(double)), *dG = malloc((size_t)c * c * sizeof(double)),
           *dqn = malloc((size_t)q * sizeof(double));
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, configs) {
        ua_attn_cfg cfg = cfg_from_json(it, dir);
        const char *name = cJSON_GetObjectItem(it, "name")->valuestring;
        char key[128];
        double score = ua_attn_pair_forward_f64(&cfg, S, (size_t)q, 1, c, q, G, qn, R, work);
        snprintf(key, sizeof key, "out.score.%s", name);
        double want = get64(&f, key)[0];
        if (fabs(score - want) > 1e-12 * (1 + fabs(want))) fail_msg("%s %s: score %.17g vs %.17g", path, name, score, want);
        snprintf(key, sizeof key, "out.R.%s", name);
        if (rel64(R, get64(&f, key), (size_t)q) > 1e-12) fail_msg("%s %s: relevances differ", path, name);
        /* skipping gives the same bits */
        ua_attn_cfg sk = cfg;
        sk.skip = 1;
        double score_skip = ua_attn_pair_forward_f64(&sk, S, (size_t)q, 1, c, q, G, qn, NULL, work);
        if (memcmp(&score, &score_skip, sizeof score) != 0) fail_msg("%s %s: skip changes the score", path, name);
        memset(dG, 0, (size_t)c * c * sizeof(double));
        memset(dqn, 0, (size_t)q * sizeof(double));
        ua_attn_pair_backward_f64(&cfg, S, (size_t)q, 1, c, q, G, qn, 1.0, dS, dG, dqn, work);
        snprintf(key, sizeof key, "grad.S.%s", name);
        if (rel64(dS, get64(&f, key), (size_t)c * q) > 1e-9) fail_msg("%s %s: dS differs", path, name);
        snprintf(key, sizeof key, "grad.G.%s", name);
        if (rel64(dG, get64(&f, key), (size_t)c * c) > 1e-9) fail_msg("%s %s: dG differs", path, name);
        snprintf(key, sizeof key, "grad.qn.%s", name);
        if (rel64(dqn, get64(&f, key), (size_t)q) > 1e-9) fail_msg("%s %s: dqn differs", path, name);
        n++;
    }
    printf("%s: %d configurations agree with the PyTorch reference\n", path, n);
    assert_true(n >= 11);
    free(work); free(R); free(dS); free(dG); free(dqn);
    cJSON_Delete(configs);
    ua_st_close(&f);
}

static void test_pairs_against_reference(void **state)
{
    (void)state;
    check_pairs_file("tests/fixtures/uarda/pairs_t2i.safetensors", UA_T2I);
    check_pairs_file("tests/fixtures/uarda/pairs_i2t.safetensors", UA_I2T);
}

/* central differences of the thresholded kernel (no S near t in these draws) */
static void test_finite_differences(void **state)
{
    (void)state;
    enum { C = 6, Q = 5 };
    const ua_clip_mode clips[] = {UA_CLIP_UARDA, UA_CLIP_UARDA, UA_CLIP_UARDA, UA_CLIP_UARDA};
    const ua_mask_mode masks[] = {UA_MASK_HARD, UA_MASK_HARD, UA_MASK_OFF, UA_MASK_HARD};
    const ua_irr_mode irrs[] = {UA_IRR_ZERO, UA_IRR_NEG, UA_IRR_ZERO, UA_IRR_ZERO};
    const ua_logit_mode logits[] = {UA_LOGIT_SCANLIKE, UA_LOGIT_SCANLIKE, UA_LOGIT_SCANLIKE, UA_LOGIT_RAW};
    for (int v = 0; v < 4; v++)
        for (int agg = 0; agg < 4; agg++) {
            ua_rng r;
            ua_rng_seed(&r, (uint64_t)(100 + v * 4 + agg), 5);
            double S[C * Q], G[C * C], qn[Q], work[UA_TEST_PAIR_WORK(C, Q)];
            double X[C * 4];
            for (int i = 0; i < C * 4; i++) X[i] = ua_rng_normal(&r) * 0.5;
            for (int a = 0; a < C; a++)
                for (int b = 0; b < C; b++) {
                    double s = 0;
                    for (int k = 0; k < 4; k++) s += X[a * 4 + k] * X[b * 4 + k];
                    G[a * C + b] = s;
                }
            for (int i = 0; i < C * Q; i++) {
                do S[i] = ua_rng_unif_double(&r) * 1.2 - 0.4; while (fabs(S[i] - 0.2) < 1e-3);
            }
            for (int k = 0; k < Q; k++) qn[k] = 0.8 + 0.1 * k;
            ua_attn_cfg cfg = {.direction = UA_T2I, .norm = UA_NORM_CLIPPED_L2NORM, .agg = (ua_agg)agg,
                               .lambda_softmax = 9, .lambda_lse = 6, .clip = clips[v], .mask = masks[v],
                               .logit = logits[v], .irr = irrs[v], .threshold = 0.2};
            double dS[C * Q], dG[C * C] = {0}, dqn[Q] = {0};
            ua_attn_pair_backward_f64(&cfg, S, Q, 1, C, Q, G, qn, 1.0, dS, dG, dqn, work);
            const double h = 1e-7;
            for (int i = 0; i < C * Q; i++) {
                double keep = S[i];
                S[i] = keep + h;
                double fp = ua_attn_pair_forward_f64(&cfg, S, Q, 1, C, Q, G, qn, NULL, work);
                S[i] = keep - h;
                double fm = ua_attn_pair_forward_f64(&cfg, S, Q, 1, C, Q, G, qn, NULL, work);
                S[i] = keep;
                double fd = (fp - fm) / (2 * h);
                if (fabs(fd - dS[i]) > 1e-6 * (1 + fabs(fd)))
                    fail_msg("variant %d agg %d: dS[%d] analytic %.10g vs numeric %.10g", v, agg, i, dS[i], fd);
            }
        }
}

/* random l2-normalised embeddings through the block code with skip off and on */
static void test_skip_is_exact(void **state)
{
    (void)state;
    enum { NI = 9, NC = 11, R = 11, LMAX = 21, E = 12 };   /* R, lengths past 8: the Gram product's vector blocks and tail */
    ua_rng r;
    ua_rng_seed(&r, 77, 1);
    ua_embeddings e;
    /* a shared component makes a realistic spread of similarities around t */
    th_random_embeddings(&e, &r, NI, NC, R, LMAX, E, 1.2);
    float *a = malloc(NI * NC * sizeof(float)), *b = malloc(NI * NC * sizeof(float));
    ua_err err;
    const ua_mask_mode masks[] = {UA_MASK_HARD, UA_MASK_HARD, UA_MASK_OFF, UA_MASK_HARD};
    const ua_irr_mode irrs[] = {UA_IRR_ZERO, UA_IRR_NEG, UA_IRR_ZERO, UA_IRR_ZERO};
    const ua_logit_mode logits[] = {UA_LOGIT_SCANLIKE, UA_LOGIT_SCANLIKE, UA_LOGIT_SCANLIKE, UA_LOGIT_RAW};
    long long skipped = 0, masked = 0;
    /* every norm: under the UARDA clip the skip leaves the irrelevant queries out of the norms
     * that an all-zero row does not change, and keeps them in softmax's */
    const ua_feature_norm norms[] = {UA_NORM_CLIPPED_L2NORM, UA_NORM_L1NORM, UA_NORM_SOFTMAX, UA_NORM_NO_NORM};
    /* two thresholds: at 0.7 most queries keep under a quarter of their entries (the kernel's
     * sparse Gram product), at 0.45 most keep more (the dense one) */
    const double thresholds[] = {0.45, 0.7};
    for (int th = 0; th < 2; th++)
    for (int nm = 0; nm < 4; nm++)
    for (int dir = 0; dir < 2; dir++)
        for (int v = 0; v < 4; v++)
            for (int agg = 0; agg < 4; agg++) {
                ua_attn_cfg cfg = {.direction = (ua_direction)dir, .norm = norms[nm], .agg = (ua_agg)agg,
                                   .lambda_softmax = 9, .lambda_lse = 6, .clip = UA_CLIP_UARDA, .mask = masks[v],
                                   .logit = logits[v], .irr = irrs[v], .threshold = thresholds[th]};
                ua_sim_stats st;
                assert_int_equal(ua_similarity_matrix_stats(&cfg, &e, a, &st, NULL, &err), 0);
                ua_attn_set_skip(&cfg, 1);
                assert_int_equal(ua_similarity_matrix(&cfg, &e, b, &err), 0);
                if (memcmp(a, b, NI * NC * sizeof(float)) != 0) fail_msg("t %g norm %d dir %d variant %d agg %d: skip changes scores", thresholds[th], nm, dir, v, agg);
                /* without skipping, every query's attention computed (eval --skip off) */
                ua_attn_set_skip(&cfg, 0);
                assert_int_equal(ua_similarity_matrix(&cfg, &e, b, &err), 0);
                if (memcmp(a, b, NI * NC * sizeof(float)) != 0) fail_msg("norm %d dir %d variant %d agg %d: full computation changes scores", nm, dir, v, agg);
                skipped += st.irrelevant;
                masked += st.masked;
                assert_true(st.irrelevant > 0 && st.irrelevant < st.queries);
            }
    printf("skip: identical scores; %lld irrelevant queries and %lld masked entries exercised\n", skipped, masked);
    free(a); free(b);
    ua_embeddings_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairs_against_reference),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_skip_is_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
