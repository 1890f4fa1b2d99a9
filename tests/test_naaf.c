/* NAAF's score (attention.h, "NAAF's score"; spec uarda.md 2.2-2.5): the pair kernel against a
 * direct computation from the vectors, finite differences of its backward in double, float
 * against double, skipping exact, the --model naaf preset and its checkpoint options, and
 * parity with the PyTorch reference (tools/naaf_reference.py, fixtures in tests/fixtures/naaf
 * made by tools/make_naaf_fixtures.py): the training form through the encoders (scores, loss,
 * every parameter's gradient, one Adam step), the test form, and single pairs in double. */
#include "helpers.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/attention.h"
#include "uarda/checkpoint.h"
#include "uarda/eval.h"
#include "uarda/npy.h"
#include "uarda/precomp.h"
#include "uarda/tokenize.h"
#include "uarda/vocab.h"
#include "uarda/options.h"
#include "uarda/rng.h"
#include "uarda/safetensors.h"
#include "uarda/train.h"

enum { D = 6, MAXN = 12 };

/* one pair from vectors: context X [c][D], query Y [q][D] (norms near 1, not 1) */
typedef struct {
    int c, q;
    double X[MAXN * D], Y[MAXN * D];
    double S[MAXN * MAXN];    /* context-major: S[ci * q + k] */
    double St[MAXN * MAXN];   /* query-major: St[k * c + ci] */
    double G[MAXN * MAXN], H[MAXN * MAXN], qn[MAXN];
} pair_data;

static double dotd(const double *a, const double *b)
{
    double s = 0;
    for (int e = 0; e < D; e++) s += a[e] * b[e];
    return s;
}

static void make_pair(pair_data *p, int c, int q, uint64_t seed)
{
    ua_rng r;
    ua_rng_seed(&r, seed, 3);
    p->c = c;
    p->q = q;
    for (int i = 0; i < c * D; i++) p->X[i] = ua_rng_normal(&r) * 0.45 + (i % D == 0 ? 0.35 : 0);
    for (int i = 0; i < q * D; i++) p->Y[i] = ua_rng_normal(&r) * 0.45 + (i % D == 0 ? 0.35 : 0);
    for (int a = 0; a < c; a++)
        for (int k = 0; k < q; k++) p->S[a * q + k] = p->St[k * c + a] = dotd(p->X + a * D, p->Y + k * D);
    for (int a = 0; a < c; a++)
        for (int b = 0; b < c; b++) p->G[a * c + b] = dotd(p->X + a * D, p->X + b * D);
    for (int k = 0; k < q; k++)
        for (int l = 0; l < q; l++) p->H[k * q + l] = dotd(p->Y + k * D, p->Y + l * D);
    for (int k = 0; k < q; k++) p->qn[k] = sqrt(dotd(p->Y + k * D, p->Y + k * D));
}

static ua_attn_cfg naaf_cfg(ua_score_form form, double t)
{
    ua_attn_cfg cfg = {0};
    cfg.score = UA_SCORE_NAAF;
    cfg.form = form;
    cfg.threshold = t;
    cfg.lambda_softmax = 20;
    cfg.norm = UA_NORM_CLIPPED_L2NORM;
    cfg.agg = UA_AGG_MEAN;
    return cfg;
}

static double leaky(double s) { return s < 0 ? 0.1 * s : s; }

/* spec 2.2 / 2.5 literally, with the attended vector formed (not the Gram form) */
static double direct_score(const pair_data *p, ua_score_form form, double t, double lam, double *R)
{
    const int c = p->c, q = p->q;
    double shat[MAXN], colnorm[MAXN] = {0};
    for (int k = 0; k < q; k++) {
        double m = -1e300;
        for (int a = 0; a < c; a++) if (p->S[a * q + k] - t > m) m = p->S[a * q + k] - t;
        shat[k] = m;
    }
    for (int a = 0; a < c; a++) {
        for (int k = 0; k < q; k++) colnorm[a] += leaky(p->S[a * q + k]) * leaky(p->S[a * q + k]);
        colnorm[a] = sqrt(colnorm[a]) + 1e-8;
    }
    double score = 0;
    for (int k = 0; k < q; k++) {
        int off = shat[k] < 0;
        if (form == UA_FORM_TEST) {
            double z = 0, acc = 0;
            for (int l = 0; l < q; l++) { double e = exp(5 * p->H[k * q + l]); z += e; acc += e * shat[l]; }
            off = acc / z < 0;
        }
        double neg = off ? shat[k] : 0;
        double e[MAXN], sum = 0, a_vec[D] = {0};
        for (int a = 0; a < c; a++) {
            double x = p->S[a * q + k] - t;
            e[a] = x > 0 ? exp(lam * x) : 0;
            sum += e[a];
        }
        for (int a = 0; a < c; a++)
            for (int d = 0; d < D; d++) a_vec[d] += e[a] / (sum + 1e-8) * p->X[a * D + d];
        double an = sqrt(dotd(a_vec, a_vec));
        double pf = dotd(p->Y + k * D, a_vec) / (an > 1e-8 ? an : 1e-8);
        double w[MAXN], m = -1e300, z = 0, pr = 0;
        for (int a = 0; a < c; a++) { w[a] = lam * leaky(p->S[a * q + k]) / colnorm[a]; if (w[a] > m) m = w[a]; }
        for (int a = 0; a < c; a++) { w[a] = exp(w[a] - m); z += w[a]; }
        for (int a = 0; a < c; a++) pr += w[a] / z * p->S[a * q + k];
        R[k] = neg + pf + pr;
        score += R[k];
    }
    return score / q;
}

/* how many queries have their negative branch on, and how many have no context item above t */
static void branch_counts(const pair_data *p, const double *work, double t, int *n_neg, int *n_empty)
{
    *n_neg = *n_empty = 0;
    const double *rel = work + 4 * (size_t)p->c * p->q + 5 * (size_t)p->q;
    for (int k = 0; k < p->q; k++) {
        *n_neg += rel[k] == 0;
        int any = 0;
        for (int a = 0; a < p->c; a++) any |= p->S[a * p->q + k] > t;
        *n_empty += !any;
    }
}

static void test_kernel_matches_direct_formulas(void **state)
{
    (void)state;
    const int shapes[2][2] = {{5, 8}, {8, 5}};   /* t2i (regions, words) and its i2t mirror */
    int smoothing_flips = 0, total_neg = 0, total_empty = 0;
    for (int sh = 0; sh < 2; sh++)
        for (int seed = 0; seed < 6; seed++)
            for (int form = 0; form < 2; form++) {
                pair_data p;
                make_pair(&p, shapes[sh][0], shapes[sh][1], 100 + (uint64_t)seed);
                const double t = 0.25;
                ua_attn_cfg cfg = naaf_cfg((ua_score_form)form, t);
                double work[4 * MAXN * MAXN + 9 * MAXN], R[MAXN], Rd[MAXN];
                double s = ua_attn_pair_forward_qgram_f64(&cfg, p.S, (size_t)p.q, 1, p.c, p.q, p.G, p.H, p.qn, R, work);
                double sd = direct_score(&p, (ua_score_form)form, t, 20, Rd);
                if (fabs(s - sd) > 1e-12 * (1 + fabs(sd))) fail_msg("shape %d seed %d form %d: %.17g vs direct %.17g", sh, seed, form, s, sd);
                for (int k = 0; k < p.q; k++)
                    if (fabs(R[k] - Rd[k]) > 1e-12) fail_msg("shape %d seed %d form %d: R[%d] %.17g vs %.17g", sh, seed, form, k, R[k], Rd[k]);
                /* the transposed layout (i2t's slice of the block) is the same pair */
                double s2 = ua_attn_pair_forward_qgram_f64(&cfg, p.St, 1, (size_t)p.c, p.c, p.q, p.G, p.H, p.qn, NULL, work);
                assert_true(s2 == s);
                int n_neg, n_empty;
                branch_counts(&p, work, t, &n_neg, &n_empty);
                total_neg += n_neg;
                total_empty += n_empty;
                if (form == UA_FORM_TEST) {
                    ua_attn_cfg tr = naaf_cfg(UA_FORM_TRAIN, t);
                    double w2[4 * MAXN * MAXN + 9 * MAXN];
                    ua_attn_pair_forward_f64(&tr, p.S, (size_t)p.q, 1, p.c, p.q, p.G, p.qn, NULL, w2);
                    const double *r1 = work + 4 * (size_t)p.c * p.q + 5 * (size_t)p.q, *r2 = w2 + 4 * (size_t)p.c * p.q + 5 * (size_t)p.q;
                    for (int k = 0; k < p.q; k++) smoothing_flips += r1[k] != r2[k];
                }
            }
    /* the draws exercise every branch: negative words, words with no region above t, and
     * words whose negative switch the smoothing changes */
    printf("naaf kernel = direct formulas: %d negative words, %d without a context item above t, %d switched by "
           "the smoothing\n", total_neg, total_empty, smoothing_flips);
    assert_true(total_neg > 0 && total_empty > 0 && smoothing_flips > 0);
}

/* the test form refuses to run without the query Gram matrix: NaN, never an unsmoothed score */
static void test_test_form_needs_query_gram(void **state)
{
    (void)state;
    pair_data p;
    make_pair(&p, 5, 8, 7);
    ua_attn_cfg cfg = naaf_cfg(UA_FORM_TEST, 0.2);
    double work[4 * MAXN * MAXN + 9 * MAXN];
    assert_true(isnan(ua_attn_pair_forward_f64(&cfg, p.S, (size_t)p.q, 1, p.c, p.q, p.G, p.qn, NULL, work)));
    assert_true(ua_attn_needs_query_gram(&cfg.opt));
    cfg.form = UA_FORM_TRAIN;
    assert_false(ua_attn_needs_query_gram(&cfg.opt));
    assert_true(isfinite(ua_attn_pair_forward_f64(&cfg, p.S, (size_t)p.q, 1, p.c, p.q, p.G, p.qn, NULL, work)));
    assert_true(ua_attn_thresholded(&cfg.opt));
}

/* central differences of the double kernel (both forms) against its analytic backward, for S
 * and G; H only switches the negative branch (piecewise constant: no gradient) */
static void test_finite_differences(void **state)
{
    (void)state;
    const int shapes[2][2] = {{5, 8}, {8, 5}};
    double worst = 0;
    for (int sh = 0; sh < 2; sh++)
        for (int seed = 0; seed < 4; seed++)
            for (int form = 0; form < 2; form++) {
                pair_data p;
                make_pair(&p, shapes[sh][0], shapes[sh][1], 200 + (uint64_t)seed);
                const int c = p.c, q = p.q;
                ua_attn_cfg cfg = naaf_cfg((ua_score_form)form, 0.25);
                double work[4 * MAXN * MAXN + 9 * MAXN], dS[MAXN * MAXN], dG[MAXN * MAXN] = {0}, dqn[MAXN] = {0};
                const double dscore = 0.7, h = 1e-6;
                ua_attn_pair_backward_qgram_f64(&cfg, p.S, (size_t)q, 1, c, q, p.G, p.H, p.qn, dscore, dS, dG, dqn, work);
                for (int k = 0; k < q; k++) assert_true(dqn[k] == 0);   /* NAAF does not use |query| */
                struct { double *x, *g; int n; const char *name; } groups[3] = {
                    {p.S, dS, c * q, "S"}, {p.G, dG, c * c, "G"}, {p.H, NULL, q * q, "H"}};
                for (int gi = 0; gi < 3; gi++)
                    for (int i = 0; i < groups[gi].n; i++) {
                        double keep = groups[gi].x[i];
                        groups[gi].x[i] = keep + h;
                        double fp = ua_attn_pair_forward_qgram_f64(&cfg, p.S, (size_t)q, 1, c, q, p.G, p.H, p.qn, NULL, work);
                        groups[gi].x[i] = keep - h;
                        double fm = ua_attn_pair_forward_qgram_f64(&cfg, p.S, (size_t)q, 1, c, q, p.G, p.H, p.qn, NULL, work);
                        groups[gi].x[i] = keep;
                        double fd = dscore * (fp - fm) / (2 * h), an = groups[gi].g ? groups[gi].g[i] : 0;
                        double err = fabs(fd - an) / (1e-6 + fabs(fd) + fabs(an));
                        if (fabs(fd - an) > 1e-7 && err > worst) worst = err;
                        if (fabs(fd - an) > 1e-7 && err > 1e-5)
                            fail_msg("shape %d seed %d form %s: d%s[%d] analytic %.10g vs numeric %.10g", sh, seed,
                                     ua_score_form_name(cfg.form), groups[gi].name, i, an, fd);
                    }
            }
    printf("naaf backward = finite differences (worst relative %.2g)\n", worst);
}

/* the float kernel agrees with the double one, forward and backward */
static void test_float_matches_double(void **state)
{
    (void)state;
    for (int form = 0; form < 2; form++) {
        pair_data p;
        make_pair(&p, 5, 8, 31);
        const int c = p.c, q = p.q;
        ua_attn_cfg cfg = naaf_cfg((ua_score_form)form, 0.25);
        double work[4 * MAXN * MAXN + 9 * MAXN], dS[MAXN * MAXN], dG[MAXN * MAXN] = {0}, dqn[MAXN] = {0};
        double s = ua_attn_pair_forward_qgram_f64(&cfg, p.S, (size_t)q, 1, c, q, p.G, p.H, p.qn, NULL, work);
        ua_attn_pair_backward_qgram_f64(&cfg, p.S, (size_t)q, 1, c, q, p.G, p.H, p.qn, 1.0, dS, dG, dqn, work);
        float Sf[MAXN * MAXN], Gf[MAXN * MAXN], Hf[MAXN * MAXN], qnf[MAXN], wf[4 * MAXN * MAXN + 9 * MAXN];
        float dSf[MAXN * MAXN], dGf[MAXN * MAXN] = {0}, dqnf[MAXN] = {0}, ref[MAXN * MAXN];
        for (int i = 0; i < c * q; i++) Sf[i] = (float)p.S[i];
        for (int i = 0; i < c * c; i++) Gf[i] = (float)p.G[i];
        for (int i = 0; i < q * q; i++) Hf[i] = (float)p.H[i];
        for (int i = 0; i < q; i++) qnf[i] = (float)p.qn[i];
        float sf = ua_attn_pair_forward_qgram(&cfg, Sf, (size_t)q, 1, c, q, Gf, Hf, qnf, NULL, wf);
        if (fabs(sf - s) > 1e-5 * (1 + fabs(s))) fail_msg("form %d: float %.9g vs double %.17g", form, sf, s);
        ua_attn_pair_backward_qgram(&cfg, Sf, (size_t)q, 1, c, q, Gf, Hf, qnf, 1.0f, dSf, dGf, dqnf, wf);
        for (int i = 0; i < c * q; i++) ref[i] = (float)dS[i];
        double rel = th_rel_diff(dSf, ref, (size_t)c * q);
        if (rel > 1e-4) fail_msg("form %d: float dS differs by %g", form, rel);
        for (int i = 0; i < c * c; i++) ref[i] = (float)dG[i];
        rel = th_rel_diff(dGf, ref, (size_t)c * c);
        if (rel > 1e-4) fail_msg("form %d: float dG differs by %g", form, rel);
    }
}

/* skipping is exact for NAAF's score (only the feature part skips: the words with no region above
 * t, and the masked entries; the sparse G product below a quarter of the entries): the same bits
 * with skip on, off and the full computation, in both directions, both forms, and thresholds from
 * few to most entries masked */
static void test_skip_is_exact(void **state)
{
    (void)state;
    enum { NI = 9, NC = 11, R = 7, LMAX = 8, E = 12 };
    ua_rng r;
    ua_rng_seed(&r, 78, 1);
    ua_embeddings e;
    th_random_embeddings(&e, &r, NI, NC, R, LMAX, E, 1.2);
    float *a = malloc(NI * NC * sizeof(float)), *b = malloc(NI * NC * sizeof(float)), *c = malloc(NI * NC * sizeof(float));
    ua_err err;
    const double ts[3] = {0.2, 0.45, 0.7};
    for (int ti = 0; ti < 3; ti++)
    for (int dir = 0; dir < 2; dir++)
        for (int form = 0; form < 2; form++) {
            ua_attn_cfg cfg = naaf_cfg((ua_score_form)form, ts[ti]);
            cfg.direction = (ua_direction)dir;
            ua_sim_stats st;
            ua_attn_set_skip(&cfg, 0);
            assert_int_equal(ua_similarity_matrix_stats(&cfg, &e, a, &st, NULL, &err), 0);
            ua_attn_set_skip(&cfg, 1);
            assert_int_equal(ua_similarity_matrix(&cfg, &e, b, &err), 0);
            cfg.skip = cfg.full = 0;
            assert_int_equal(ua_similarity_matrix(&cfg, &e, c, &err), 0);
            if (memcmp(a, b, NI * NC * sizeof(float)) != 0 || memcmp(a, c, NI * NC * sizeof(float)) != 0)
                fail_msg("t %g dir %d form %d: skip changes NAAF's scores", ts[ti], dir, form);
            for (int i = 0; i < NI * NC; i++) assert_true(isfinite(a[i]));
            /* the statistics count the words with no entry above t (their feature part skipped) */
            assert_true(st.irrelevant < st.queries && (ti == 0 || st.irrelevant > 0));
            assert_true(st.masked > 0 && st.masked < st.entries);
        }
    /* the two forms differ (the smoothing switches some words) */
    ua_attn_cfg t1 = naaf_cfg(UA_FORM_TEST, 0.45), t2 = naaf_cfg(UA_FORM_TRAIN, 0.45);
    assert_int_equal(ua_similarity_matrix(&t1, &e, a, &err), 0);
    assert_int_equal(ua_similarity_matrix(&t2, &e, b, &err), 0);
    assert_true(memcmp(a, b, NI * NC * sizeof(float)) != 0);
    free(a); free(b); free(c);
    ua_embeddings_free(&e);
}

/* --model uarda presets the project's reconstruction: NAAF's score at the preset's lambda for the
 * direction set before it (i2t SCAN's 4, t2i 12), the mixture estimator on random negatives; the
 * run options stay SCAN's; the kind round-trips */
static void test_uarda_preset(void **state)
{
    (void)state;
    for (int dir = 0; dir < 2; dir++) {
        ua_options o;
        ua_options_default(&o);
        o.model.attn.direction = (ua_direction)dir;
        assert_int_equal(ua_options_apply_model_kind(&o, "uarda"), 0);
        const ua_attn_opts *a = &o.model.attn;
        assert_int_equal(a->score, UA_SCORE_NAAF);
        assert_int_equal(a->form, UA_FORM_TEST);
        assert_true(a->lambda_softmax == (dir == UA_I2T ? 4 : 12));
        assert_true(a->agg == UA_AGG_MEAN && a->norm == UA_NORM_CLIPPED_L2NORM);
        assert_int_equal(o.rel.t_mode, UA_T_ADAPTIVE);
        assert_int_equal(o.rel.t_est, UA_T_EST_MIXTURE);
        assert_int_equal(o.rel.neg_src, UA_NEG_RANDOM);
        assert_int_equal(o.rel.t_test, dir == UA_I2T ? UA_T_TEST_TRAIN : UA_T_TEST_SAFE);
        assert_true(o.rel.alpha == (dir == UA_I2T ? 2.0 : 1.0));
        assert_int_equal(o.rel.sep, dir == UA_I2T ? UA_SEP_NONE : UA_SEP_GAUSS);
        assert_true(o.rel.lambda_sep == (dir == UA_I2T ? 0.0 : 1.0));
        assert_true(o.learning_rate == 2e-4 && o.num_epochs == 30);   /* SCAN's */
        assert_string_equal(o.model_kind, "uarda");
        ua_err err;
        assert_int_equal(ua_options_check_score(&o, "x", &err), 0);
        char *js = ua_options_to_json(&o);
        assert_non_null(js);
        ua_options back;
        ua_options_default(&back);
        assert_int_equal(ua_options_from_json(&back, js, "ckpt", &err), 0);
        assert_string_equal(back.model_kind, "uarda");
        assert_int_equal(back.model.attn.score, UA_SCORE_NAAF);
        assert_true(back.model.attn.lambda_softmax == a->lambda_softmax);
        assert_int_equal(back.rel.t_est, UA_T_EST_MIXTURE);
        assert_true(back.rel.alpha == o.rel.alpha && back.rel.lambda_sep == o.rel.lambda_sep);
        assert_int_equal(back.rel.sep, o.rel.sep);
        assert_int_equal(back.rel.t_test, o.rel.t_test);
        free(js);
    }
}

/* --model naaf presets NAAF's scoring and recipe; the options round-trip through JSON; an old
 * checkpoint's options without the keys score as SCAN; NAAF's score refuses UARDA switches */
static void test_preset_and_options(void **state)
{
    (void)state;
    ua_options o;
    ua_options_default(&o);
    assert_int_equal(o.model.attn.score, UA_SCORE_SCAN);
    assert_int_equal(ua_options_apply_model_kind(&o, "naaf"), 0);
    const ua_attn_opts *a = &o.model.attn;
    assert_int_equal(a->score, UA_SCORE_NAAF);
    assert_int_equal(a->form, UA_FORM_TEST);
    assert_true(a->lambda_softmax == 20 && a->agg == UA_AGG_MEAN && a->norm == UA_NORM_CLIPPED_L2NORM);
    assert_true(a->clip == UA_CLIP_SCAN && a->mask == UA_MASK_OFF && a->irr == UA_IRR_SCAN && a->logit == UA_LOGIT_SCANLIKE);
    assert_int_equal(o.rel.t_mode, UA_T_ADAPTIVE);
    assert_int_equal(o.rel.t_est, UA_T_EST_NAAF_COMPAT);
    assert_int_equal(o.rel.neg_src, UA_NEG_LEAST);
    assert_int_equal(o.rel.t_test, UA_T_TEST_SAFE);
    assert_int_equal(o.rel.min_samples, 200);
    assert_true(o.rel.alpha == 2.0 && o.rel.ema == 0.7);
    assert_true(o.model.margin == 0.2 && o.model.max_violation);
    assert_true(o.learning_rate == 5e-4 && o.lr_update == 10 && o.num_epochs == 20 && o.grad_clip == 2.0);
    assert_string_equal(o.model_kind, "naaf");
    assert_true(ua_options_thresholded(&o));
    ua_err err;
    assert_int_equal(ua_options_check_score(&o, "x", &err), 0);
    /* round trip, with the training form chosen for evaluation */
    o.model.attn.form = UA_FORM_TRAIN;
    char *js = ua_options_to_json(&o);
    assert_non_null(js);
    ua_options back;
    ua_options_default(&back);
    assert_int_equal(ua_options_from_json(&back, js, "ckpt", &err), 0);
    assert_int_equal(back.model.attn.score, UA_SCORE_NAAF);
    assert_int_equal(back.model.attn.form, UA_FORM_TRAIN);
    assert_string_equal(back.model_kind, "naaf");
    free(js);
    /* an old checkpoint's options (no "score" key) score as SCAN */
    ua_options old;
    ua_options_default(&old);
    assert_int_equal(ua_options_from_json(&old, "{\"lambda_softmax\": 9, \"agg_func\": \"Mean\"}", "old", &err), 0);
    assert_int_equal(old.model.attn.score, UA_SCORE_SCAN);
    assert_false(ua_options_thresholded(&old));
    /* NAAF's score with a UARDA switch, another aggregation or norm, or an unknown value */
    ua_options bad;
    ua_options_default(&bad);
    assert_int_equal(ua_options_from_json(&bad, "{\"score\": \"naaf\", \"irr\": \"zero\"}", "b.safetensors", &err), -1);
    assert_non_null(strstr(err.msg, "b.safetensors") );
    ua_options_default(&bad);
    assert_int_equal(ua_options_from_json(&bad, "{\"score\": \"naaf\", \"agg_func\": \"LogSumExp\"}", "b", &err), -1);
    assert_non_null(strstr(err.msg, "Mean"));
    ua_options_default(&bad);
    assert_int_equal(ua_options_from_json(&bad, "{\"score\": \"naaf\", \"agg_func\": \"Mean\", \"raw_feature_norm\": \"l1norm\"}", "b", &err), -1);
    assert_non_null(strstr(err.msg, "clipped_l2norm"));
    ua_options_default(&bad);
    assert_int_equal(ua_options_from_json(&bad, "{\"score\": \"nafa\"}", "b", &err), -1);
    assert_non_null(strstr(err.msg, "nafa"));
    assert_int_equal(ua_options_from_json(&bad, "{\"score_form\": \"eval\"}", "b", &err), -1);
    assert_int_equal(ua_score_parse("naaf"), UA_SCORE_NAAF);
    assert_int_equal(ua_score_form_parse("train"), UA_FORM_TRAIN);
    assert_int_equal(ua_score_form_parse("x"), -1);
    assert_string_equal(ua_score_name(UA_SCORE_SCAN), "scan");
    assert_string_equal(ua_score_form_name(UA_FORM_TEST), "test");
}

/* ---- parity with the PyTorch reference ------------------------------------------------ */

#define FIXTURES "tests/fixtures/naaf"


/* one training step (the training form at the fixture's fixed t, through the encoders), every
 * parameter's gradient, the clipping and one Adam step; then the test form at t_safe on the
 * step's embeddings, through the similarity blocks (whose query Gram matrices it needs) */
static void check_step(const char *path, const char *direction)
{
    ua_st_file f;
    ua_err err;
    if (ua_st_open(&f, path, &err)) fail_msg("%s", err.msg);
    ua_options o;
    ua_options_default(&o);
    const char *opt = ua_st_meta(&f, "opt"), *tsafe = ua_st_meta(&f, "t_safe");
    assert_non_null(opt);
    assert_non_null(tsafe);
    if (ua_options_from_json(&o, opt, path, &err)) fail_msg("%s", err.msg);
    assert_int_equal(o.model.attn.score, UA_SCORE_NAAF);
    assert_string_equal(ua_direction_name(o.model.attn.direction), direction);
    assert_int_equal(o.rel.t_mode, UA_T_FIXED);
    ua_model m;
    if (ua_model_create(&m, &o.model, &err)) fail_msg("%s: %s", path, err.msg);
    const ua_step_run run = {o.rel.t_fixed, m.opt.max_violation};   /* the fixture's fixed t */
    for (int t = 0; t < m.n_tensors; t++) {
        const ua_tensor_info *ti = &m.tensors[t];
        const float *src = ua_st_get_f32(&f, ti->name, ti->ndim, ti->shape, &err);
        if (!src) fail_msg("%s: %s", path, err.msg);
        memcpy(m.params + ti->offset, src, ti->count * sizeof(float));
    }
    const ua_st_tensor *im = ua_st_find(&f, "input.images"), *cap = ua_st_find(&f, "input.captions"),
                       *len = ua_st_find(&f, "input.lengths");
    assert_true(im && cap && len);
    const int B = (int)im->shape[0], R = (int)im->shape[1], L = (int)cap->shape[1];
    int *tokens = malloc((size_t)B * L * sizeof(int)), *lengths = malloc((size_t)B * sizeof(int));
    for (int i = 0; i < B * L; i++) tokens[i] = (int)((const int64_t *)cap->data)[i];
    for (int i = 0; i < B; i++) lengths[i] = (int)((const int64_t *)len->data)[i];
    ua_step_work *w = ua_step_work_new(&m, B, L, R, &err);
    assert_non_null(w);
    float *grads = calloc(m.n_params, sizeof(float));
    double loss;
    /* the model evaluates with the test form; the step must train with the training form */
    assert_int_equal(m.opt.attn.form, UA_FORM_TEST);
    if (ua_step(&m, &run, im->data, R, tokens, lengths, B, L, &loss, grads, w, &err)) fail_msg("%s", err.msg);
    const int E = m.opt.embed_size;
    double worst_fwd = 0, worst_grad = 0, r;
    r = th_compare_fixture(&f, "out.img_emb", ua_step_img_emb(w), (size_t)B * R * E, 1e-5, path);
    worst_fwd = r > worst_fwd ? r : worst_fwd;
    r = th_compare_fixture(&f, "out.cap_emb", ua_step_cap_emb(w), (size_t)B * L * E, 1e-5, path);
    worst_fwd = r > worst_fwd ? r : worst_fwd;
    r = th_compare_fixture(&f, "out.sims", ua_step_scores(w), (size_t)B * B, 1e-5, path);
    worst_fwd = r > worst_fwd ? r : worst_fwd;
    float lossf = (float)loss;
    r = th_compare_fixture(&f, "out.loss", &lossf, 1, 1e-5, path);
    worst_fwd = r > worst_fwd ? r : worst_fwd;
    char name[128];
    for (int t = 0; t < m.n_tensors; t++) {
        snprintf(name, sizeof name, "grad.%s", m.tensors[t].name);
        r = th_compare_fixture(&f, name, grads + m.tensors[t].offset, m.tensors[t].count, 1e-4, path);
        worst_grad = r > worst_grad ? r : worst_grad;
    }
    double coef;
    double norm = ua_clip_grad_norm(grads, m.n_params, o.grad_clip, &coef);
    float normf = (float)norm, coeff = (float)coef;
    th_compare_fixture(&f, "out.grad_norm", &normf, 1, 1e-4, path);
    th_compare_fixture(&f, "out.clip_coef", &coeff, 1, 1e-4, path);
    assert_true(coef < 1);   /* the fixture's clip threshold makes clipping act */
    /* the test form at t_safe on the step's embeddings (before the update) */
    ua_attn_cfg cfg = ua_attn_at(&m.opt.attn, atof(tsafe));
    ua_sim_work *sw = ua_sim_work_new(B, B, R, L, E, 0, &err);
    assert_non_null(sw);
    float *sims = malloc((size_t)B * B * sizeof(float));
    ua_sim_block_forward(&cfg, ua_step_img_emb(w), B, R, ua_step_cap_emb(w), B, L, lengths, E, sims, (size_t)B, sw);
    r = th_compare_fixture(&f, "out.sims_test", sims, (size_t)B * B, 1e-5, path);
    worst_fwd = r > worst_fwd ? r : worst_fwd;
    ua_sim_work_free(sw);
    float *ea = calloc(m.n_params, sizeof(float)), *eas = calloc(m.n_params, sizeof(float));
    ua_adam adam;
    ua_adam_default(&adam, o.learning_rate);
    ua_adam_update(&adam, m.params, grads, ea, eas, m.n_params);
    for (int t = 0; t < m.n_tensors; t++) {
        snprintf(name, sizeof name, "adam.%s", m.tensors[t].name);
        r = th_compare_fixture(&f, name, m.params + m.tensors[t].offset, m.tensors[t].count, 1e-4, path);
        worst_grad = r > worst_grad ? r : worst_grad;
    }
    printf("%s: worst forward %.2g, worst gradient/update %.2g (%d tensors)\n", path, worst_fwd, worst_grad, m.n_tensors);
    free(ea); free(eas); free(grads); free(sims); free(tokens); free(lengths);
    ua_step_work_free(w);
    ua_model_free(&m);
    ua_st_close(&f);
}

static void test_step_parity(void **state)
{
    (void)state;
    check_step(FIXTURES "/step_t2i.safetensors", "t2i");
    check_step(FIXTURES "/step_i2t.safetensors", "i2t");
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

static const double *get64(const ua_st_file *f, const char *name)
{
    const ua_st_tensor *t = ua_st_find(f, name);
    if (!t || t->dtype != UA_ST_F64) fail_msg("pairs fixture lacks F64 tensor %s", name);
    return t->data;
}

/* one pair in double, both forms: the kernel equals the reference to rounding */
static void test_pairs_parity(void **state)
{
    (void)state;
    const char *files[2] = {FIXTURES "/pairs_t2i.safetensors", FIXTURES "/pairs_i2t.safetensors"};
    for (int fi = 0; fi < 2; fi++) {
        ua_st_file f;
        ua_err err;
        if (ua_st_open(&f, files[fi], &err)) fail_msg("%s", err.msg);
        const ua_st_tensor *St = ua_st_find(&f, "input.S");
        assert_non_null(St);
        const int c = (int)St->shape[0], q = (int)St->shape[1];
        const double *S = St->data, *G = get64(&f, "input.G"), *H = get64(&f, "input.H");
        const double t = atof(ua_st_meta(&f, "t"));
        double *work = malloc(ua_attn_pair_work(c, q) * sizeof(double)), R[64], dS[256], dG[256], qn[64] = {0}, dqn[64];
        for (int form = 0; form < 2; form++) {
            ua_attn_cfg cfg = naaf_cfg((ua_score_form)form, t);
            cfg.lambda_softmax = atof(ua_st_meta(&f, "lambda_softmax"));
            const char *fn = form == UA_FORM_TRAIN ? "train" : "test";
            char key[64];
            double s = ua_attn_pair_forward_qgram_f64(&cfg, S, (size_t)q, 1, c, q, G, H, qn, R, work);
            snprintf(key, sizeof key, "out.score.%s", fn);
            double want = get64(&f, key)[0];
            if (fabs(s - want) > 1e-12 * (1 + fabs(want))) fail_msg("%s %s: score %.17g vs %.17g", files[fi], fn, s, want);
            snprintf(key, sizeof key, "out.R.%s", fn);
            if (rel64(R, get64(&f, key), (size_t)q) > 1e-12) fail_msg("%s %s: word scores differ", files[fi], fn);
            memset(dG, 0, sizeof dG);
            ua_attn_pair_backward_qgram_f64(&cfg, S, (size_t)q, 1, c, q, G, H, qn, 1.0, dS, dG, dqn, work);
            snprintf(key, sizeof key, "grad.S.%s", fn);
            if (rel64(dS, get64(&f, key), (size_t)c * q) > 1e-9) fail_msg("%s %s: dS differs", files[fi], fn);
            snprintf(key, sizeof key, "grad.G.%s", fn);
            if (rel64(dG, get64(&f, key), (size_t)c * c) > 1e-9) fail_msg("%s %s: dG differs", files[fi], fn);
        }
        free(work);
        ua_st_close(&f);
    }
}

/* uarda score --model naaf on a SCAN checkpoint computes exactly NAAF's test form at
 * t_safe = --t-fixed (and with --score-form train its training form at t = X): the command's
 * output against the library's scores with that configuration, on the same model and inputs */
static void test_score_command_on_a_scan_checkpoint(void **state)
{
    (void)state;
    char *dir = th_tmpdir(), out[4096];
    const char *B = th_bin();
    if (th_run(out, sizeof out, "%s synth --preset tiny --data-path %s/data --vocab-path %s/vocab", B, dir, dir) != 0)
        fail_msg("synth: %s", out);
    char *vocab_path = th_path(dir, "vocab/synth_tiny_precomp_vocab.json");
    char *ims = th_path(dir, "data/synth_tiny_precomp/test_ims.npy"), *caps_path = th_path(dir, "data/synth_tiny_precomp/test_caps.txt");
    char *ckpt = th_path(dir, "scan.safetensors");
    ua_err err;
    ua_vocab v;
    if (ua_vocab_load(&v, vocab_path, &err)) fail_msg("%s", err.msg);
    ua_npy x;
    if (ua_npy_open(&x, ims, &err)) fail_msg("%s", err.msg);
    /* a SCAN model (random weights are as good as trained ones here) */
    ua_options o;
    ua_options_default(&o);
    o.model.img_dim = (int)x.shape[2];
    o.model.embed_size = 16;
    o.model.word_dim = 8;
    o.model.vocab_size = v.n;
    ua_model m;
    if (ua_model_create(&m, &o.model, &err)) fail_msg("%s", err.msg);
    ua_model_init_weights(&m, 5);
    ua_train_state st = {0};
    if (ua_checkpoint_save(ckpt, &o, &m, NULL, NULL, &st, NULL, &err)) fail_msg("%s", err.msg);
    ua_tokenizer *tok = ua_tokenizer_new(&err);
    ua_captions caps;
    if (!tok || ua_captions_load(&caps, caps_path, &v, tok, &err)) fail_msg("%s", err.msg);
    ua_embeddings e;
    if (ua_encode(&m, x.data, (int)x.shape[0], (int)x.shape[1], &caps, &e, NULL, &err)) fail_msg("%s", err.msg);
    const size_t n = (size_t)e.n_img * e.n_cap;
    float *want = malloc(n * sizeof(float));
    const double X = 0.3;   /* some words of every caption fall below it, some do not */
    int differ = 0;
    for (int form = 0; form < 2; form++) {
        ua_attn_cfg cfg = naaf_cfg((ua_score_form)form, X);
        cfg.direction = UA_T2I;
        if (ua_similarity_matrix(&cfg, &e, want, &err)) fail_msg("%s", err.msg);
        char *res = th_path(dir, form == UA_FORM_TEST ? "test.npy" : "train.npy");
        if (th_run(out, sizeof out, "%s score --checkpoint %s --model naaf --t-test fixed --t-fixed %g%s --images %s "
                   "--captions %s --vocab-path %s --output %s", B, ckpt, X, form == UA_FORM_TRAIN ? " --score-form train" : "",
                   ims, caps_path, vocab_path, res) != 0)
            fail_msg("score: %s", out);
        ua_npy got;
        if (ua_npy_open(&got, res, &err)) fail_msg("%s", err.msg);
        assert_int_equal(got.shape[0], e.n_img);
        assert_int_equal(got.shape[1], e.n_cap);
        double rel = th_rel_diff(got.data, want, n);
        if (rel > 1e-6) fail_msg("form %s: the command's scores differ from NAAF's by %g", ua_score_form_name(cfg.form), rel);
        /* the other form, and SCAN's score, are different computations */
        ua_attn_cfg other = cfg;
        other.form = form == UA_FORM_TEST ? UA_FORM_TRAIN : UA_FORM_TEST;
        float *alt = malloc(n * sizeof(float));
        assert_int_equal(ua_similarity_matrix(&other, &e, alt, &err), 0);
        differ += th_rel_diff(got.data, alt, n) > 1e-4;
        free(alt);
        ua_npy_close(&got);
        free(res);
    }
    assert_int_equal(differ, 2);
    free(want);
    ua_embeddings_free(&e);
    ua_captions_free(&caps);
    ua_tokenizer_free(tok);
    ua_model_free(&m);
    ua_npy_close(&x);
    ua_vocab_free(&v);
    free(vocab_path); free(ims); free(caps_path); free(ckpt);
    th_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_matches_direct_formulas),
        cmocka_unit_test(test_test_form_needs_query_gram),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_float_matches_double),
        cmocka_unit_test(test_skip_is_exact),
        cmocka_unit_test(test_uarda_preset),
        cmocka_unit_test(test_preset_and_options),
        cmocka_unit_test(test_step_parity),
        cmocka_unit_test(test_pairs_parity),
        cmocka_unit_test(test_score_command_on_a_scan_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
