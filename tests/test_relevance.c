/* The adaptive relevance threshold (spec uarda.md 2.3-2.4, 4.7) and the separation losses (4.8):
 * the solver against the spec's test vectors and its degenerate cases in both modes, sample
 * collection, clean-mode convergence on synthetic Gaussians, NAAF's sequential procedure with its
 * per-batch reset, exact JSON resume, malformed state JSON, and finite-difference gradients. */
#include "helpers.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/relevance.h"
#include "uarda/rng.h"

static const double PI = 3.14159265358979323846;

static double log_normal_pdf(double x, double mu, double sigma)
{
    double z = (x - mu) / sigma;
    return -0.5 * z * z - log(sigma) - 0.5 * log(2.0 * PI);
}

#define assert_close(a, b, tol)                                                                          \
    do {                                                                                                 \
        double a_ = (a), b_ = (b);                                                                       \
        if (!(fabs(a_ - b_) <= (tol))) fail_msg("%s = %.12g, expected %.12g (tol %g)", #a, a_, b_, (double)(tol)); \
    } while (0)

/* ------------------------------------------------------------------------------------------- */

static void test_names_and_cfg(void **state)
{
    (void)state;
    assert_int_equal(ua_t_mode_parse("adaptive"), UA_T_ADAPTIVE);
    assert_int_equal(ua_t_mode_parse("Adaptive"), -1);
    assert_int_equal(ua_t_est_parse("naaf_compat"), UA_T_EST_NAAF_COMPAT);
    assert_int_equal(ua_neg_src_parse("hardest"), UA_NEG_HARDEST);
    assert_int_equal(ua_t_test_parse("safe"), UA_T_TEST_SAFE);
    assert_int_equal(ua_sep_parse("gauss"), UA_SEP_GAUSS);
    assert_int_equal(ua_sep_parse(NULL), -1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ua_t_mode_parse(ua_t_mode_name((ua_t_mode)i)), i);
        assert_int_equal(ua_neg_src_parse(ua_neg_src_name((ua_neg_src)i)), i);
        assert_int_equal(ua_t_test_parse(ua_t_test_name((ua_t_test)i)), i);
        assert_int_equal(ua_sep_parse(ua_sep_name((ua_sep_mode)i)), i);
    }
    for (int i = 0; i < 2; i++) assert_int_equal(ua_t_est_parse(ua_t_est_name((ua_t_est)i)), i);
    assert_string_equal(ua_sep_name((ua_sep_mode)7), "?");

    ua_relevance_cfg cfg;
    ua_relevance_cfg_default(&cfg);
    assert_int_equal(cfg.t_mode, UA_T_ADAPTIVE);
    assert_int_equal(cfg.t_est, UA_T_EST_CLEAN);
    assert_int_equal(cfg.neg_src, UA_NEG_LEAST);
    assert_int_equal(cfg.t_test, UA_T_TEST_SAFE);
    assert_int_equal(cfg.sep, UA_SEP_NONE);
    assert_true(cfg.alpha == 2.0 && cfg.ema == 0.7 && cfg.hinge_delta == 0.05 && cfg.lambda_sep == 0.0);
    assert_int_equal(cfg.min_samples, 200);
    assert_int_equal(cfg.ring_size, 2048);
    ua_err err;
    assert_int_equal(ua_relevance_cfg_check(&cfg, "opt", &err), 0);
    ua_relevance_cfg bad = cfg;
    bad.ema = 0;
    assert_int_equal(ua_relevance_cfg_check(&bad, "opt", &err), -1);
    assert_non_null(strstr(err.msg, "opt: ema 0 must be in (0, 1]"));
    bad = cfg;
    bad.min_samples = 4096;
    assert_int_equal(ua_relevance_cfg_check(&bad, "opt", &err), -1);
    assert_non_null(strstr(err.msg, "min_samples 4096 exceeds ring_size 2048"));

    /* JSON round trip of the cfg, and bad values */
    ua_relevance_cfg c2 = cfg;
    c2.t_mode = UA_T_FIXED; c2.t_est = UA_T_EST_NAAF_COMPAT; c2.neg_src = UA_NEG_RANDOM; c2.t_test = UA_T_TEST_TRAIN;
    c2.sep = UA_SEP_HINGE; c2.t_fixed = 0.3; c2.alpha = 2.5; c2.ema = 0.1; c2.lambda_sep = 0.1; c2.hinge_delta = 0.07;
    c2.min_samples = 100; c2.ring_size = 1000;
    cJSON *obj = cJSON_CreateObject();
    assert_int_equal(ua_relevance_cfg_to_cjson(&c2, obj), 0);
    ua_relevance_cfg c3 = cfg;
    assert_int_equal(ua_relevance_cfg_from_cjson(&c3, obj, "opt", &err), 0);
    assert_memory_equal(&c2, &c3, sizeof c2);
    cJSON_ReplaceItemInObject(obj, "neg_src", cJSON_CreateString("worst"));
    assert_int_equal(ua_relevance_cfg_from_cjson(&c3, obj, "ckpt.safetensors", &err), -1);
    assert_string_equal(err.msg, "ckpt.safetensors: \"neg_src\" is \"worst\", not one of least|hardest|random");
    cJSON_ReplaceItemInObject(obj, "neg_src", cJSON_CreateString("least"));
    cJSON_ReplaceItemInObject(obj, "min_samples", cJSON_CreateNumber(2.5));
    assert_int_equal(ua_relevance_cfg_from_cjson(&c3, obj, "ckpt.safetensors", &err), -1);
    assert_string_equal(err.msg, "ckpt.safetensors: \"min_samples\" must be an integer");
    cJSON_ReplaceItemInObject(obj, "min_samples", cJSON_CreateNumber(100));
    cJSON_ReplaceItemInObject(obj, "alpha", cJSON_CreateNumber(-1));
    assert_int_equal(ua_relevance_cfg_from_cjson(&c3, obj, "ckpt.safetensors", &err), -1);
    assert_string_equal(err.msg, "ckpt.safetensors: alpha -1 must be > 0");
    assert_memory_equal(&c2, &c3, sizeof c2);   /* unchanged on error */
    cJSON_Delete(obj);
}

/* ------------------------------------------------------------------------------------------- */

typedef struct { double mp, sp, mn, sn, alpha, A, B, C, t, safe; } vector_row;

static const vector_row VECTORS[5] = {
    {0.60, 0.10, 0.30, 0.12, 2.0, -0.004400, 0.011280, -0.004431, 0.484331, 0.30},
    {0.60, 0.12, 0.30, 0.10, 2.0, 0.004400, 0.003360, -0.002556, 0.470663, 0.24},
    {0.55, 0.08, 0.35, 0.09, 1.0, -0.001700, 0.004430, -0.001654, 0.451653, 0.31},
    {0.55, 0.08, 0.35, 0.09, 2.5, -0.001700, 0.004430, -0.001749, 0.485134, 0.31},
    {0.45, 0.15, 0.25, 0.10, 2.0, 0.012500, -0.002250, -0.001113, 0.401689, 0.00},
};

static void test_solver_vectors(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++)
        for (int i = 0; i < 5; i++) {
            const vector_row *v = &VECTORS[i];
            ua_threshold_solution r;
            int st = ua_threshold_solve((ua_t_est)mode, v->alpha, v->mp, v->sp, v->mn, v->sn, 0.123, 0.045, &r);
            assert_int_equal(st, UA_SOLVE_OK);
            assert_int_equal(r.status, UA_SOLVE_OK);
            assert_close(r.A, v->A, 1e-6);
            assert_close(r.B, v->B, 1e-6);
            assert_close(r.C, v->C, 1e-6);
            assert_true(r.E > 0);
            assert_close(r.t, v->t, 1e-6);
            assert_close(r.root, v->t, 1e-6);
            assert_close(r.t_safe, v->safe, 1e-6);
            assert_close(r.safe_raw, v->safe, 1e-6);
            assert_false(r.degenerate || r.t_out_of_range || r.safe_out_of_range);
            /* the root lies between the means and satisfies f+(t) = alpha f-(t) */
            assert_true(r.t > v->mn && r.t < v->mp);
            double gap = log_normal_pdf(r.t, v->mp, v->sp) - log(v->alpha) - log_normal_pdf(r.t, v->mn, v->sn);
            assert_close(gap, 0.0, mode == UA_T_EST_CLEAN ? 1e-10 : 1e-6);
        }
    /* a larger alpha moves t towards mu+ (rows 3 and 4) */
    assert_true(VECTORS[3].t > VECTORS[2].t);
}

/* A grid search over the weighted error agrees with the closed form (row 1: argmin 0.4843). */
static void test_solver_is_argmin(void **state)
{
    (void)state;
    const vector_row *v = &VECTORS[0];
    double best_t = 0, best = 1e300;
    for (int i = 0; i <= 100000; i++) {
        double t = i * 1e-5;
        double f = v->alpha * 0.5 * erfc((t - v->mn) / v->sn / sqrt(2.0)) + 0.5 * erfc(-(t - v->mp) / v->sp / sqrt(2.0));
        if (f < best) { best = f; best_t = t; }
    }
    assert_close(best_t, 0.4843, 2e-4);
}

static void test_solver_equal_sigmas(void **state)
{
    (void)state;
    const double mp = 0.6, mn = 0.3, s = 0.1, alpha = 2.0;
    const double expect = 0.5 * (mp + mn) + s * s * log(alpha) / (mp - mn);   /* equal-variance boundary */
    ua_threshold_solution r;
    /* clean: the linear solution -C/B */
    assert_int_equal(ua_threshold_solve(UA_T_EST_CLEAN, alpha, mp, s, mn, s, 0.2, 0.1, &r), UA_SOLVE_DEGENERATE);
    assert_true(r.A == 0.0 && r.degenerate);
    assert_close(r.t, -r.C / r.B, 1e-15);
    assert_close(r.t, expect, 1e-12);
    assert_close(log_normal_pdf(r.t, mp, s) - log(alpha) - log_normal_pdf(r.t, mn, s), 0.0, 1e-10);
    assert_close(r.t_safe, 0.3, 1e-12);
    /* naaf_compat: (-B + sqrt(B^2)) / 1e-10 = 0 */
    assert_int_equal(ua_threshold_solve(UA_T_EST_NAAF_COMPAT, alpha, mp, s, mn, s, 0.2, 0.1, &r), UA_SOLVE_DEGENERATE);
    assert_true(r.t == 0.0 && r.degenerate && !r.t_out_of_range);
    assert_close(r.t_safe, 0.3, 1e-12);
    /* naaf_compat when 2A + 1e-10 is about 0: the quotient explodes and is set to 0 */
    double sn = sqrt(s * s + 5e-11);
    assert_int_equal(ua_threshold_solve(UA_T_EST_NAAF_COMPAT, alpha, mp, s, mn, sn, 0.2, 0.1, &r), UA_SOLVE_OUT_OF_RANGE);
    assert_true(r.t == 0.0 && r.t_out_of_range && r.degenerate);
    assert_true(fabs(r.root) > 1.0);
    /* clean with the same input stays finite and right */
    assert_int_equal(ua_threshold_solve(UA_T_EST_CLEAN, alpha, mp, s, mn, sn, 0.2, 0.1, &r), UA_SOLVE_DEGENERATE);
    assert_close(r.t, expect, 1e-6);
    /* equal sigmas and equal means: no boundary at all, clean keeps the old value */
    assert_int_equal(ua_threshold_solve(UA_T_EST_CLEAN, alpha, 0.5, s, 0.5, s, 0.2, 0.1, &r), UA_SOLVE_NO_ROOT);
    assert_true(r.t == 0.2);
}

static void test_solver_no_root(void **state)
{
    (void)state;
    /* alpha tiny: f+ > alpha f- everywhere, so E < 0 */
    const double mp = 0.6, sp = 0.12, mn = 0.3, sn = 0.1, alpha = 1e-6;
    ua_threshold_solution r;
    assert_int_equal(ua_threshold_solve(UA_T_EST_CLEAN, alpha, mp, sp, mn, sn, 0.37, 0.2, &r), UA_SOLVE_NO_ROOT);
    assert_true(r.E <= 0);
    assert_true(isnan(r.root));
    assert_true(r.t == 0.37);                       /* old value, bit for bit */
    assert_close(r.t_safe, 0.24, 1e-12);            /* clean: mu+ - 3 sigma+ regardless */
    assert_int_equal(ua_threshold_solve(UA_T_EST_NAAF_COMPAT, alpha, mp, sp, mn, sn, 0.37, 0.2, &r), UA_SOLVE_NO_ROOT);
    assert_true(r.t == 0.37);
    assert_true(r.t_safe == 0.2);                   /* NAAF: t_safe only with a root */
}

static void test_solver_out_of_range(void **state)
{
    (void)state;
    ua_threshold_solution r;
    /* root above 1 (means shifted by +0.9) */
    assert_int_equal(ua_threshold_solve(UA_T_EST_NAAF_COMPAT, 2.0, 1.5, 0.1, 1.2, 0.12, 0.3, 0.2, &r), UA_SOLVE_OUT_OF_RANGE);
    assert_close(r.root, 1.384331, 1e-6);
    assert_true(r.t == 0.0 && r.t_out_of_range);           /* set to 0 */
    assert_true(r.t_safe == 0.0 && r.safe_out_of_range);   /* 1.2 > 1: set to 0 */
    assert_int_equal(ua_threshold_solve(UA_T_EST_CLEAN, 2.0, 1.5, 0.1, 1.2, 0.12, 0.3, 0.2, &r), UA_SOLVE_OUT_OF_RANGE);
    assert_close(r.root, 1.384331, 1e-6);
    assert_true(r.t == 1.0 && r.t_out_of_range);           /* clipped */
    assert_true(r.t_safe == 1.0 && r.safe_out_of_range);
    /* root below 0 (means shifted by -0.8) */
    for (int mode = 0; mode < 2; mode++) {
        assert_int_equal(ua_threshold_solve((ua_t_est)mode, 2.0, -0.2, 0.1, -0.5, 0.12, 0.3, 0.2, &r), UA_SOLVE_OUT_OF_RANGE);
        assert_close(r.root, -0.315669, 1e-6);
        assert_true(r.t == 0.0 && r.t_safe == 0.0 && r.t_out_of_range && r.safe_out_of_range);
    }
    /* only t_safe out of range: status OK, flag set */
    for (int mode = 0; mode < 2; mode++) {
        assert_int_equal(ua_threshold_solve((ua_t_est)mode, 2.0, 0.40, 0.15, 0.20, 0.10, 0.3, 0.2, &r), UA_SOLVE_OK);
        assert_close(r.safe_raw, -0.05, 1e-12);
        assert_true(r.t_safe == 0.0 && r.safe_out_of_range && !r.t_out_of_range);
    }
}

/* ------------------------------------------------------------------------------------------- */

/* word_max that encodes its arguments: image * 100 + caption * 10 + word */
static float coded_word_max(void *ctx, int image, int caption, int word)
{
    int *calls = ctx;
    if (calls) (*calls)++;
    return (float)(image * 100 + caption * 10 + word);
}

static void test_collection(void **state)
{
    (void)state;
    enum { B = 4 };
    /* scores[i*B + j] = score(image i, caption j) */
    const float scores[B * B] = {
        /* caption:  0     1     2     3 */
        /* img 0 */ 0.9f, 0.1f, 0.5f, 0.7f,
        /* img 1 */ 0.2f, 0.8f, 0.5f, 0.7f,
        /* img 2 */ 0.3f, 0.0f, 0.4f, 0.1f,
        /* img 3 */ 0.2f, 0.3f, 0.1f, 0.6f,
    };
    assert_true(ua_rel_ranked_first(scores + 0, B, B, 0, NULL));
    assert_true(ua_rel_ranked_first(scores + 1, B, B, 1, NULL));
    assert_false(ua_rel_ranked_first(scores + 2, B, B, 2, NULL));   /* images 0 and 1 score higher */
    assert_false(ua_rel_ranked_first(scores + 3, B, B, 3, NULL));
    /* ties: the first maximum wins */
    const float tie[3] = {0.5f, 0.5f, 0.1f};
    assert_true(ua_rel_ranked_first(tie, 1, 3, 0, NULL));
    assert_false(ua_rel_ranked_first(tie, 1, 3, 1, NULL));

    assert_int_equal(ua_rel_negative_image(UA_NEG_LEAST, scores + 0, B, B, 0, NULL, NULL), 1);   /* 0.2 first of 1 and 3 */
    assert_int_equal(ua_rel_negative_image(UA_NEG_HARDEST, scores + 0, B, B, 0, NULL, NULL), 2);
    assert_int_equal(ua_rel_negative_image(UA_NEG_LEAST, scores + 1, B, B, 1, NULL, NULL), 2);
    assert_int_equal(ua_rel_negative_image(UA_NEG_HARDEST, scores + 1, B, B, 1, NULL, NULL), 3);
    assert_int_equal(ua_rel_negative_image(UA_NEG_RANDOM, scores + 1, B, B, 1, NULL, NULL), -1);
    assert_int_equal(ua_rel_negative_image(UA_NEG_LEAST, scores, 1, 1, 0, NULL, NULL), -1);
    /* least excludes the caption's own image even when all scores are equal */
    const float flat[3] = {0.2f, 0.2f, 0.2f};
    assert_int_equal(ua_rel_negative_image(UA_NEG_LEAST, flat, 1, 3, 0, NULL, NULL), 1);
    ua_rng rng;
    ua_rng_seed(&rng, 7, UA_RNG_THRESH);
    int hist[B] = {0};
    for (int i = 0; i < 3000; i++) hist[ua_rel_negative_image(UA_NEG_RANDOM, scores + 2, B, B, 2, NULL, &rng)]++;
    assert_int_equal(hist[2], 0);
    for (int k = 0; k < B; k++) if (k != 2) assert_true(hist[k] > 850 && hist[k] < 1150);

    /* batch collection: captions 0 and 1 pass the gate */
    const int lengths[B] = {3, 2, 5, 4};
    ua_relevance_cfg cfg;
    ua_relevance_cfg_default(&cfg);
    ua_rel_samples s = {0};
    ua_err err;
    int calls = 0;
    assert_int_equal(ua_rel_collect(&s, &cfg, scores, B, lengths, NULL, coded_word_max, &calls, NULL, &err), 5);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.n_captions, 2);
    assert_int_equal(calls, 10);
    const float want_pos[5] = {0, 1, 2, 110, 111}, want_neg[5] = {100, 101, 102, 210, 211};
    const int want_cap[5] = {0, 0, 0, 1, 1}, want_word[5] = {0, 1, 2, 0, 1}, want_img[5] = {1, 1, 1, 2, 2};
    for (int i = 0; i < 5; i++) {
        assert_true(s.pos[i] == want_pos[i] && s.neg[i] == want_neg[i]);
        assert_int_equal(s.caption[i], want_cap[i]);
        assert_int_equal(s.word[i], want_word[i]);
        assert_int_equal(s.neg_image[i], want_img[i]);
    }
    cfg.neg_src = UA_NEG_HARDEST;
    assert_int_equal(ua_rel_collect(&s, &cfg, scores, B, lengths, NULL, coded_word_max, NULL, NULL, &err), 5);
    assert_true(s.neg[0] == 200 && s.neg[3] == 310);
    cfg.neg_src = UA_NEG_RANDOM;
    assert_int_equal(ua_rel_collect(&s, &cfg, scores, B, lengths, NULL, coded_word_max, NULL, NULL, &err), -1);
    assert_string_equal(err.msg, "relevance samples: neg_src random needs an rng");
    assert_int_equal(ua_rel_collect(&s, &cfg, scores, B, lengths, NULL, coded_word_max, NULL, &rng, &err), 5);
    for (int i = 0; i < 5; i++) assert_true(s.neg_image[i] != s.caption[i]);
    /* many samples grow the lists */
    ua_rel_samples_clear(&s);
    for (int i = 0; i < 100; i++)
        assert_int_equal(ua_rel_samples_add_caption(&s, &cfg, scores, B, B, 0, NULL, 9, coded_word_max, NULL, &rng, &err), 9);
    assert_int_equal(s.n, 900);
    assert_true(s.pos[899] == 8);
    ua_rel_samples_free(&s);
}

/* Two slots of a batch that hold one image (two of its captions drawn) are one image to the gate
 * and the negatives: the slot of the caption's own image whose score came out a rounding above
 * (a BLAS may round a product's row by its place) neither fails the gate nor is the negative. */
static void test_collection_same_image(void **state)
{
    (void)state;
    enum { B = 4 };
    const int image_of[B] = {7, 3, 7, 5};   /* slots 0 and 2: image 7 */
    const float scores[B * B] = {
        /* caption:  0     1     2           3 */
        /* img 7 */ 0.9f, 0.1f, 0.6000001f, 0.2f,
        /* img 3 */ 0.2f, 0.8f, 0.3f,       0.7f,
        /* img 7 */ 0.8f, 0.2f, 0.6f,       0.1f,
        /* img 5 */ 0.1f, 0.3f, 0.5f,       0.6f,
    };
    assert_false(ua_rel_ranked_first(scores + 2, B, B, 2, NULL));    /* slot 0 is ahead by a rounding */
    assert_true(ua_rel_ranked_first(scores + 2, B, B, 2, image_of));  /* but holds caption 2's image */
    assert_false(ua_rel_ranked_first(scores + 3, B, B, 3, image_of)); /* image 3 is another image */
    assert_int_equal(ua_rel_negative_image(UA_NEG_HARDEST, scores + 0, B, B, 0, NULL, NULL), 2);
    assert_int_equal(ua_rel_negative_image(UA_NEG_HARDEST, scores + 0, B, B, 0, image_of, NULL), 1);
    assert_int_equal(ua_rel_negative_image(UA_NEG_LEAST, scores + 2, B, B, 2, image_of, NULL), 1);
    ua_rng rng;
    ua_rng_seed(&rng, 7, UA_RNG_THRESH);
    int hist[B] = {0};
    for (int i = 0; i < 2000; i++) hist[ua_rel_negative_image(UA_NEG_RANDOM, scores + 0, B, B, 0, image_of, &rng)]++;
    assert_int_equal(hist[0] + hist[2], 0);
    assert_true(hist[1] > 850 && hist[3] > 850);
    /* one image in every slot: no negative, so no samples (and no error) */
    const int one_image[B] = {4, 4, 4, 4};
    assert_int_equal(ua_rel_negative_image(UA_NEG_LEAST, scores + 0, B, B, 0, one_image, NULL), -1);
    ua_relevance_cfg cfg;
    ua_relevance_cfg_default(&cfg);
    ua_rel_samples s = {0};
    ua_err err;
    const int lengths[B] = {3, 3, 3, 3};
    assert_int_equal(ua_rel_collect(&s, &cfg, scores, B, lengths, one_image, coded_word_max, NULL, &rng, &err), 0);
    /* captions 0 and 2 pass (2 only as one image with slot 0), 1 passes, 3 does not */
    assert_int_equal(ua_rel_collect(&s, &cfg, scores, B, lengths, image_of, coded_word_max, NULL, &rng, &err), 9);
    for (int i = 0; i < s.n; i++) assert_true(image_of[s.neg_image[i]] != image_of[s.caption[i]]);
    ua_rel_samples_free(&s);
}

static void test_accessors(void **state)
{
    (void)state;
    ua_relevance_cfg cfg;
    ua_relevance_cfg_default(&cfg);
    cfg.t_fixed = 0.25;
    ua_relevance_state s;
    ua_err err;
    assert_int_equal(ua_relevance_init(&s, &cfg, &err), 0);
    s.t_tr = 0.45;
    s.t_te = 0.3;
    cfg.t_mode = UA_T_ZERO;
    for (int tt = 0; tt < 3; tt++) {
        cfg.t_test = (ua_t_test)tt;
        assert_true(ua_relevance_t_train(&s, &cfg) == 0.0 && ua_relevance_t_test(&s, &cfg) == 0.0);
    }
    cfg.t_mode = UA_T_FIXED;
    for (int tt = 0; tt < 3; tt++) {
        cfg.t_test = (ua_t_test)tt;
        assert_true(ua_relevance_t_train(&s, &cfg) == 0.25 && ua_relevance_t_test(&s, &cfg) == 0.25);
    }
    cfg.t_mode = UA_T_ADAPTIVE;
    assert_true(ua_relevance_t_train(&s, &cfg) == 0.45);
    cfg.t_test = UA_T_TEST_SAFE;
    assert_true(ua_relevance_t_test(&s, &cfg) == 0.3);
    cfg.t_test = UA_T_TEST_TRAIN;
    assert_true(ua_relevance_t_test(&s, &cfg) == 0.45);
    cfg.t_test = UA_T_TEST_FIXED;
    assert_true(ua_relevance_t_test(&s, &cfg) == 0.25);
    ua_relevance_free(&s);
}

/* ------------------------------------------------------------------------------------------- */

/* A fake batch: caption c has `len` words; its positive samples are pos[c][w], its negatives
 * neg[c][w] (whatever the negative image); images c score 1 for their caption. */
enum { FB = 32, FL = 12 };
typedef struct {
    float pos[FB][FL], neg[FB][FL];
    float scores[FB * FB];
    int lengths[FB];
} fake_batch;

static float fake_word_max(void *ctx, int image, int caption, int word)
{
    fake_batch *fb = ctx;
    return image == caption ? fb->pos[caption][word] : fb->neg[caption][word];
}

static void fake_fill(fake_batch *fb, ua_rng *rng, int misranked, int len)
{
    for (int c = 0; c < FB; c++) {
        fb->lengths[c] = len;
        for (int w = 0; w < FL; w++) {
            fb->pos[c][w] = (float)(0.6 + 0.1 * ua_rng_normal(rng));
            fb->neg[c][w] = (float)(0.3 + 0.12 * ua_rng_normal(rng));
        }
        for (int k = 0; k < FB; k++) fb->scores[k * FB + c] = k == c ? 1.0f : 0.5f - 0.01f * (float)k;
    }
    /* caption `misranked` is beaten by another image: no samples from it */
    if (misranked >= 0) fb->scores[((misranked + 1) % FB) * FB + misranked] = 2.0f;
}

static void test_clean_converges(void **state)
{
    (void)state;
    ua_relevance_cfg cfg;
    ua_relevance_cfg_default(&cfg);
    ua_relevance_state s;
    ua_err err;
    assert_int_equal(ua_relevance_init(&s, &cfg, &err), 0);
    ua_rng data, neg;
    ua_rng_seed(&data, 11, 1);
    ua_rng_seed(&neg, 11, UA_RNG_THRESH);
    fake_batch fb;
    double sum_tr = 0, sum_te = 0;
    int n_avg = 0;
    for (int b = 0; b < 300; b++) {
        fake_fill(&fb, &data, 3, 6);
        long long before = s.updates;
        assert_int_equal(ua_relevance_update_clean(&s, &cfg, fb.scores, FB, fb.lengths, NULL, fake_word_max, &fb, &neg, &err), 0);
        assert_int_equal(s.batch.n, (FB - 1) * 6);          /* 31 correctly ranked captions of 6 words */
        assert_int_equal(s.batch.n_captions, FB - 1);
        for (int i = 0; i < s.batch.n; i++) assert_true(s.batch.caption[i] != 3 && s.batch.neg_image[i] == FB - 1 - (s.batch.caption[i] == FB - 1));
        int filled = (b + 1) * (FB - 1) * 6;
        if (filled < cfg.min_samples) {
            /* warm-up */
            assert_true(s.t_tr == 0.0 && s.t_te == 0.0);
            assert_int_equal(s.updates, 0);
        } else {
            assert_int_equal(s.updates, before + 1);
        }
        assert_int_equal(s.pos_len, filled < cfg.ring_size ? filled : cfg.ring_size);
        if (b >= 100) { sum_tr += s.t_tr; sum_te += s.t_te; n_avg++; }
    }
    assert_int_equal(s.n_pos, cfg.ring_size);
    assert_close(s.mu_pos, 0.6, 0.01);
    assert_close(s.sigma_pos, 0.1, 0.01);
    assert_close(s.mu_neg, 0.3, 0.01);
    assert_close(s.sigma_neg, 0.12, 0.01);
    assert_close(s.t_tr, 0.484, 0.02);
    assert_close(s.t_te, 0.30, 0.02);
    assert_close(sum_tr / n_avg, 0.4843, 0.005);
    assert_close(sum_te / n_avg, 0.30, 0.005);
    assert_true(s.clip_events == 0 && s.clip_events_safe == 0);

    /* not adaptive: nothing moves */
    cfg.t_mode = UA_T_FIXED;
    ua_relevance_state copy = s;
    assert_int_equal(ua_relevance_update_clean(&s, &cfg, fb.scores, FB, fb.lengths, NULL, fake_word_max, &fb, &neg, &err), 0);
    assert_true(copy.t_tr == s.t_tr && copy.updates == s.updates && copy.pos_head == s.pos_head);
    ua_relevance_free(&s);
}

/* clean mode keeps t exactly when there is no root, and clips (counting) out-of-range values */
static void test_clean_degenerate_updates(void **state)
{
    (void)state;
    ua_relevance_cfg cfg;
    ua_relevance_cfg_default(&cfg);
    cfg.min_samples = 4;
    cfg.ring_size = 8;
    cfg.alpha = 1e-6;
    ua_relevance_state s;
    ua_err err;
    assert_int_equal(ua_relevance_init(&s, &cfg, &err), 0);
    /* positives wide around 0.6, negatives narrow around 0.3, alpha tiny: E < 0 */
    const float pos[8] = {0.45f, 0.75f, 0.45f, 0.75f, 0.45f, 0.75f, 0.45f, 0.75f};
    const float neg[8] = {0.29f, 0.31f, 0.29f, 0.31f, 0.29f, 0.31f, 0.29f, 0.31f};
    s.t_tr = 0.123;
    ua_relevance_update_clean_samples(&s, &cfg, pos, neg, 2);
    assert_true(s.t_tr == 0.0 && s.t_te == 0.0);            /* warm-up */
    s.t_tr = 0.123;
    ua_relevance_update_clean_samples(&s, &cfg, pos + 2, neg + 2, 2);
    assert_int_equal(s.updates, 1);
    ua_threshold_solution r;
    assert_int_equal(ua_threshold_solve(UA_T_EST_CLEAN, cfg.alpha, s.mu_pos, s.sigma_pos, s.mu_neg, s.sigma_neg, 0, 0, &r),
                     UA_SOLVE_NO_ROOT);
    assert_true(s.t_tr == 0.123);                             /* kept bit for bit */
    assert_close(s.t_te, 0.7 * (s.mu_pos - 3 * s.sigma_pos > 0 ? s.mu_pos - 3 * s.sigma_pos : 0), 1e-12);
    /* samples above 1: t clipped to 1, counted */
    cfg.alpha = 2.0;
    const float hp[8] = {1.5f, 1.6f, 1.4f, 1.5f, 1.55f, 1.45f, 1.5f, 1.5f};
    const float hn[8] = {1.2f, 1.3f, 1.1f, 1.2f, 1.25f, 1.15f, 1.2f, 1.2f};
    ua_relevance_update_clean_samples(&s, &cfg, hp, hn, 8);
    assert_int_equal(s.updates, 2);
    assert_int_equal(s.clip_events, 1);
    assert_int_equal(s.clip_events_safe, 1);
    assert_close(s.t_tr, 0.7 * 1.0 + 0.3 * 0.123, 1e-12);
    /* identical samples: sigma guarded to 1e-4 */
    const float cp[8] = {0.6f, 0.6f, 0.6f, 0.6f, 0.6f, 0.6f, 0.6f, 0.6f};
    const float cn[8] = {0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f};
    ua_relevance_update_clean_samples(&s, &cfg, cp, cn, 8);
    assert_true(s.sigma_pos == 1e-4 && s.sigma_neg == 1e-4);
    assert_true(isfinite(s.t_tr) && s.t_tr > 0.3 && s.t_tr < 1.0);
    ua_relevance_free(&s);
}

/* ------------------------------------------------------------------------------------------- */

/* t_est mixture: EM recovers the relevant component of contaminated positives; the update uses it,
 * caps t_safe at t, and the fit's failures fall back to the plain moments */
static void test_mixture(void **state)
{
    (void)state;
    enum { N = 2048 };
    float pos[N], neg[N];
    ua_rng r;
    ua_rng_seed(&r, 5, 1);
    /* 25% relevant words N(0.62, 0.07), 75% that score like the negatives N(0.28, 0.08) */
    int n_rel = 0;
    for (int i = 0; i < N; i++) {
        int rel = ua_rng_unif(&r) < 0.25f;
        n_rel += rel;
        pos[i] = (float)(rel ? 0.62 + 0.07 * ua_rng_normal(&r) : 0.28 + 0.08 * ua_rng_normal(&r));
        neg[i] = (float)(0.28 + 0.08 * ua_rng_normal(&r));
    }
    double mu, sigma, w;
    assert_int_equal(ua_relevant_component_fit(pos, N, 0.28, 0.08, &mu, &sigma, &w), 0);
    assert_close(mu, 0.62, 0.01);
    assert_close(sigma, 0.07, 0.01);
    assert_close(w, (double)n_rel / N, 0.03);
    /* the plain moments would put mu+ near 0.37: the reason for the estimator */
    double plain = 0;
    for (int i = 0; i < N; i++) plain += pos[i];
    assert_true(plain / N < 0.40);

    /* failures: too few samples, no spread in the negatives, positives that are all negatives */
    assert_int_equal(ua_relevant_component_fit(pos, 3, 0.28, 0.08, &mu, &sigma, &w), -1);
    assert_true(w == 1.0);
    assert_close(mu, (pos[0] + pos[1] + pos[2]) / 3.0, 1e-6);
    assert_int_equal(ua_relevant_component_fit(pos, N, 0.28, 0.0, &mu, &sigma, &w), -1);
    float low[N];
    for (int i = 0; i < N; i++) low[i] = (float)(0.28 - 0.3 * fabs(ua_rng_normal(&r)) * 0.08);  /* all below mu- */
    assert_int_equal(ua_relevant_component_fit(low, N, 0.28, 0.08, &mu, &sigma, &w), -1);

    /* the update: the state's mu+, sigma+ are the fitted component's, t_te <= t_tr */
    ua_relevance_cfg cfg;
    ua_relevance_cfg_default(&cfg);
    cfg.t_est = UA_T_EST_MIXTURE;
    cfg.ema = 1.0;
    ua_relevance_state s;
    ua_err err;
    assert_int_equal(ua_relevance_init(&s, &cfg, &err), 0);
    assert_true(s.pos_weight == 1.0);
    ua_relevance_update_clean_samples(&s, &cfg, pos, neg, N);
    assert_int_equal(s.updates, 1);
    assert_int_equal(s.mixture_fallbacks, 0);
    assert_close(s.mu_pos, 0.62, 0.01);
    assert_close(s.pos_weight, (double)n_rel / N, 0.03);
    ua_threshold_solution sol;
    ua_threshold_solve(UA_T_EST_CLEAN, cfg.alpha, s.mu_pos, s.sigma_pos, s.mu_neg, s.sigma_neg, 0, 0, &sol);
    assert_close(s.t_tr, sol.t, 1e-12);
    assert_true(s.mu_neg < s.t_tr && s.t_tr < s.mu_pos);
    assert_true(s.t_te > 0 && s.t_te <= s.t_tr);
    assert_close(s.t_te, fmin(sol.t_safe, sol.t), 1e-12);
    /* a tight relevant component: mu+ - 3 sigma+ above t, capped at t */
    for (int i = 0; i < N; i++) if (pos[i] > 0.5f) pos[i] = 0.9f + 0.001f * (float)(i % 7);
    ua_relevance_update_clean_samples(&s, &cfg, pos, neg, N);
    ua_threshold_solve(UA_T_EST_CLEAN, cfg.alpha, s.mu_pos, s.sigma_pos, s.mu_neg, s.sigma_neg, 0, 0, &sol);
    assert_true(sol.t_safe > sol.t);
    assert_true(s.t_te == s.t_tr);
    /* a failed fit: plain moments, counted */
    ua_relevance_update_clean_samples(&s, &cfg, low, neg, N);
    assert_int_equal(s.mixture_fallbacks, 1);
    assert_true(s.pos_weight == 1.0);

    /* the weight and the fallbacks travel with the state; a state saved before them loads (weight 1) */
    char *json = ua_relevance_state_to_json(&s);
    assert_non_null(json);
    ua_relevance_state back;
    assert_int_equal(ua_relevance_init(&back, &cfg, &err), 0);
    assert_int_equal(ua_relevance_state_from_json(&back, json, strlen(json), "t", &err), 0);
    assert_int_equal(back.mixture_fallbacks, 1);
    cJSON *obj = cJSON_Parse(json);
    cJSON_DeleteItemFromObject(obj, "pos_weight");
    cJSON_DeleteItemFromObject(obj, "mixture_fallbacks");
    back.pos_weight = 0.5;
    assert_int_equal(ua_relevance_state_from_cjson(&back, obj, "t", &err), 0);
    assert_true(back.pos_weight == 1.0 && back.mixture_fallbacks == 0);
    cJSON_AddNumberToObject(obj, "pos_weight", 1.5);
    cJSON_AddNumberToObject(obj, "mixture_fallbacks", 0);
    assert_int_equal(ua_relevance_state_from_cjson(&back, obj, "t", &err), -1);
    assert_non_null(strstr(err.msg, "pos_weight"));
    cJSON_Delete(obj);
    free(json);
    ua_relevance_free(&back);
    ua_relevance_free(&s);
    assert_int_equal(ua_t_est_parse("mixture"), UA_T_EST_MIXTURE);
    assert_string_equal(ua_t_est_name(UA_T_EST_MIXTURE), "mixture");
}

/* ------------------------------------------------------------------------------------------- */

/* the naaf_compat update from scratch, for the samples of captions [0, upto) that pass the gate */
static void naaf_expected(const fake_batch *fb, int misranked, int upto, double alpha, double t_old, double s_old,
                          double *t_out, double *s_out)
{
    double sp = 0, sn = 0, n = 0;
    for (int c = 0; c < upto; c++) if (c != misranked) for (int w = 0; w < fb->lengths[c]; w++) { sp += fb->pos[c][w]; sn += fb->neg[c][w]; n++; }
    double mp = sp / n, mn = sn / n, vp = 0, vn = 0;
    for (int c = 0; c < upto; c++) if (c != misranked) for (int w = 0; w < fb->lengths[c]; w++) {
        vp += (fb->pos[c][w] - mp) * (fb->pos[c][w] - mp);
        vn += (fb->neg[c][w] - mn) * (fb->neg[c][w] - mn);
    }
    double sdp = sqrt(vp / (n - 1)), sdn = sqrt(vn / (n - 1));
    double A = sdp * sdp - sdn * sdn, B = 2 * (mp * sdn * sdn - mn * sdp * sdp);
    double C = mn * mn * sdp * sdp - mp * mp * sdn * sdn + 2 * sdp * sdp * sdn * sdn * log(sdn / (alpha * sdp) + 1e-8);
    double E = B * B - 4 * A * C;
    double t = t_old, sf = s_old;
    if (E > 0) { t = (-B + sqrt(E)) / (2 * A + 1e-10); sf = mp - 3 * sdp; }
    if (t < 0 || t > 1) t = 0;
    if (sf < 0 || sf > 1) sf = 0;
    *t_out = 0.7 * t + 0.3 * t_old;
    *s_out = 0.7 * sf + 0.3 * s_old;
}

static void test_naaf_compat_batch(void **state)
{
    (void)state;
    ua_relevance_cfg cfg;
    ua_relevance_cfg_default(&cfg);
    cfg.t_est = UA_T_EST_NAAF_COMPAT;
    ua_relevance_state s;
    ua_err err;
    assert_int_equal(ua_relevance_init(&s, &cfg, &err), 0);
    ua_rng data;
    ua_rng_seed(&data, 5, 1);
    enum { MIS = 3 };
    fake_batch fb;

    /* the previous batch left t_tr = 0.4, t_te = 0.25 */
    s.t_tr = 0.4;
    s.t_te = 0.25;
    for (int batch = 0; batch < 2; batch++) {
        fake_fill(&fb, &data, MIS, FL);
        double carried_tr = s.t_tr;
        ua_relevance_naaf_begin_batch(&s);
        assert_int_equal(s.batch.n, 0);
        double seen[FB], t_ref = 0, s_ref = 0;
        long long updates0 = s.updates;
        for (int c = 0; c < FB; c++) {
            seen[c] = ua_relevance_t_train(&s, &cfg);
            float col[FB];
            for (int k = 0; k < FB; k++) col[k] = fb.scores[k * FB + c];
            assert_int_equal(ua_relevance_naaf_caption(&s, &cfg, col, c, FB, fb.lengths[c], fake_word_max, &fb, NULL, &err), 0);
            int N = 0;
            for (int cc = 0; cc <= c; cc++) if (cc != MIS) N += FL;
            assert_int_equal(s.batch.n, N);
            if (N > 200 && c != MIS) {
                double t_new, s_new;
                naaf_expected(&fb, MIS, c + 1, cfg.alpha, t_ref, s_ref, &t_new, &s_new);
                t_ref = t_new;
                s_ref = s_new;
                assert_close(s.t_tr, t_ref, 1e-9);
                assert_close(s.t_te, s_ref, 1e-9);
                assert_int_equal(s.n_pos, N);
            } else if (N < 200) {
                /* the reset quirk */
                assert_true(s.t_tr == 0.0 && s.t_te == 0.0);
            }
        }
        /* the first caption saw the previous batch's t, the next ones 0 until N > 200:
         * 12 words per gated caption, caption 3 misranked: after caption 17, N = 204 */
        assert_true(seen[0] == carried_tr);
        for (int c = 1; c <= 17; c++) assert_true(seen[c] == 0.0);
        assert_true(seen[18] > 0.25 && seen[18] < 0.45);   /* 0.7 t_new + 0.3 * 0 */
        assert_int_equal(s.updates - updates0, FB - 17);   /* one update per gated caption 17..31 */
        assert_int_equal(s.batch.n, (FB - 1) * FL);
    }
    ua_relevance_free(&s);
}

/* word_max over [3][200] arrays */
typedef struct { float (*pos)[200], (*neg)[200]; } big_ctx;
static float big_word_max(void *ctx, int image, int caption, int word)
{
    big_ctx *b = ctx;
    return image == caption ? b->pos[caption][word] : b->neg[caption][word];
}

/* N == min_samples exactly: neither an update nor the reset, so the previous batch's t survives */
static void test_naaf_compat_exactly_min_samples(void **state)
{
    (void)state;
    ua_relevance_cfg cfg;
    ua_relevance_cfg_default(&cfg);
    cfg.t_est = UA_T_EST_NAAF_COMPAT;
    ua_relevance_state s;
    ua_err err;
    assert_int_equal(ua_relevance_init(&s, &cfg, &err), 0);
    enum { B = 3, L = 200 };
    static float pos[B][L], neg[B][L];
    ua_rng data;
    ua_rng_seed(&data, 9, 1);
    for (int c = 0; c < B; c++)
        for (int w = 0; w < L; w++) {
            pos[c][w] = (float)(0.6 + 0.1 * ua_rng_normal(&data));
            neg[c][w] = (float)(0.3 + 0.12 * ua_rng_normal(&data));
        }
    big_ctx ctx = {pos, neg};
    s.t_tr = 0.41;
    s.t_te = 0.22;
    ua_relevance_naaf_begin_batch(&s);
    const float col0[B] = {0.9f, 0.1f, 0.2f};
    const float col1[B] = {0.1f, 0.9f, 0.2f};
    const float col2[B] = {0.95f, 0.3f, 0.2f};   /* misranked */
    fake_batch *fb = calloc(1, sizeof *fb);
    /* caption 1 has FL words, read through fake_word_max from the same arrays */
    for (int c = 0; c < B; c++) for (int w = 0; w < FL; w++) { fb->pos[c][w] = pos[c][w]; fb->neg[c][w] = neg[c][w]; }
    /* a 200-word caption through a callback over the big arrays */
    assert_int_equal(ua_relevance_naaf_caption(&s, &cfg, col0, 0, B, L, big_word_max, &ctx, NULL, &err), 0);
    assert_int_equal(s.batch.n, 200);
    assert_true(s.t_tr == 0.41 && s.t_te == 0.22);
    assert_int_equal(s.updates, 0);
    /* a misranked caption changes nothing */
    assert_int_equal(ua_relevance_naaf_caption(&s, &cfg, col2, 2, B, L, big_word_max, &ctx, NULL, &err), 0);
    assert_true(s.t_tr == 0.41 && s.batch.n == 200);
    /* one more gated caption: N = 212 > 200, an update on all samples with t_old = 0.41 */
    assert_int_equal(ua_relevance_naaf_caption(&s, &cfg, col1, 1, B, FL, fake_word_max, fb, NULL, &err), 0);
    assert_int_equal(s.updates, 1);
    assert_int_equal(s.n_pos, 212);
    ua_threshold_solution r;
    ua_threshold_solve(UA_T_EST_NAAF_COMPAT, cfg.alpha, s.mu_pos, s.sigma_pos, s.mu_neg, s.sigma_neg, 0.41, 0.22, &r);
    assert_true(s.t_tr == 0.7 * r.t + (1.0 - 0.7) * 0.41);
    assert_true(s.t_te == 0.7 * r.t_safe + (1.0 - 0.7) * 0.22);
    /* not adaptive: the caption call is a no-op */
    cfg.t_mode = UA_T_ZERO;
    double t = s.t_tr;
    ua_relevance_naaf_begin_batch(&s);
    assert_int_equal(ua_relevance_naaf_caption(&s, &cfg, col0, 0, B, FL, fake_word_max, fb, NULL, &err), 0);
    assert_true(s.t_tr == t && s.batch.n == 0);
    free(fb);
    ua_relevance_free(&s);
}

/* ------------------------------------------------------------------------------------------- */

static void feed_clean(ua_relevance_state *s, const ua_relevance_cfg *cfg, ua_rng *data, int n)
{
    float pos[64], neg[64];
    for (int i = 0; i < n; i++) {
        pos[i] = (float)(0.6 + 0.1 * ua_rng_normal(data));
        neg[i] = (float)(0.3 + 0.12 * ua_rng_normal(data));
    }
    ua_relevance_update_clean_samples(s, cfg, pos, neg, n);
}

static void test_json_resume_exact(void **state)
{
    (void)state;
    ua_relevance_cfg cfg;
    ua_relevance_cfg_default(&cfg);
    cfg.ring_size = 256;
    cfg.min_samples = 50;
    ua_relevance_state a, b;
    ua_err err;
    assert_int_equal(ua_relevance_init(&a, &cfg, &err), 0);
    assert_int_equal(ua_relevance_init(&b, &cfg, &err), 0);
    ua_rng data;
    ua_rng_seed(&data, 3, 1);
    for (int i = 0; i < 11; i++) feed_clean(&a, &cfg, &data, 37);   /* 407 samples: the ring has wrapped */
    assert_int_equal(a.pos_len, 256);
    assert_int_equal(a.pos_head, 407 % 256);
    a.clip_events = 3;
    a.clip_events_safe = 5;
    ua_rng_seed(&a.rng, 77, UA_RNG_THRESH);   /* the random negatives' generator, mid-stream */
    for (int i = 0; i < 9; i++) (void)ua_rng_u32(&a.rng);
    char *json = ua_relevance_state_to_json(&a);
    assert_non_null(json);
    assert_int_equal(ua_relevance_state_from_json(&b, json, strlen(json), "ckpt", &err), 0);
    assert_true(a.rng.state == b.rng.state && a.rng.inc == b.rng.inc);
    assert_memory_equal(&a.t_tr, &b.t_tr, sizeof a.t_tr);
    assert_memory_equal(&a.t_te, &b.t_te, sizeof a.t_te);
    assert_memory_equal(&a.mu_pos, &b.mu_pos, sizeof a.mu_pos);
    assert_memory_equal(&a.sigma_neg, &b.sigma_neg, sizeof a.sigma_neg);
    assert_true(a.n_pos == b.n_pos && a.n_neg == b.n_neg && a.updates == b.updates);
    assert_true(a.clip_events == b.clip_events && a.clip_events_safe == b.clip_events_safe);
    assert_true(a.pos_len == b.pos_len && a.pos_head == b.pos_head && a.neg_len == b.neg_len && a.neg_head == b.neg_head);
    assert_memory_equal(a.ring_pos, b.ring_pos, 256 * sizeof(float));
    assert_memory_equal(a.ring_neg, b.ring_neg, 256 * sizeof(float));
    char *json2 = ua_relevance_state_to_json(&b);
    assert_string_equal(json, json2);
    free(json2);
    assert_true(ua_rng_u32(&a.rng) == ua_rng_u32(&b.rng));
    /* both continue identically */
    ua_rng d2 = data;
    for (int i = 0; i < 5; i++) { feed_clean(&a, &cfg, &data, 23); feed_clean(&b, &cfg, &d2, 23); }
    assert_memory_equal(&a.t_tr, &b.t_tr, sizeof a.t_tr);
    assert_memory_equal(&a.t_te, &b.t_te, sizeof a.t_te);
    free(json);

    /* a ring that is not full yet */
    ua_relevance_state c;
    assert_int_equal(ua_relevance_init(&c, &cfg, &err), 0);
    feed_clean(&c, &cfg, &data, 10);
    json = ua_relevance_state_to_json(&c);
    ua_relevance_free(&b);
    assert_int_equal(ua_relevance_init(&b, &cfg, &err), 0);
    assert_int_equal(ua_relevance_state_from_json(&b, json, strlen(json), "ckpt", &err), 0);
    assert_true(b.pos_len == 10 && b.pos_head == 10 && b.t_tr == 0.0);
    assert_memory_equal(b.ring_neg, c.ring_neg, 10 * sizeof(float));
    free(json);
    ua_relevance_free(&a);
    ua_relevance_free(&b);
    ua_relevance_free(&c);
}

static char *edited(const char *json, const char *key, cJSON *value)
{
    cJSON *root = cJSON_Parse(json);
    if (value) cJSON_ReplaceItemInObject(root, key, value);
    else cJSON_DeleteItemFromObject(root, key);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

static void expect_bad(ua_relevance_state *s, const char *json, const char *msg)
{
    ua_err err;
    double t = s->t_tr;
    int head = s->pos_head;
    float first = s->ring_pos[0];
    if (ua_relevance_state_from_json(s, json, strlen(json), "ckpt.safetensors", &err) == 0) fail_msg("accepted: %s", msg);
    if (!strstr(err.msg, msg)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, msg);
    assert_null(strchr(err.msg, '\n'));
    assert_true(s->t_tr == t && s->pos_head == head && s->ring_pos[0] == first);   /* unchanged */
}

static void test_json_errors(void **state)
{
    (void)state;
    ua_relevance_cfg cfg;
    ua_relevance_cfg_default(&cfg);
    cfg.ring_size = 8;
    cfg.min_samples = 4;
    ua_relevance_state s;
    ua_err err;
    assert_int_equal(ua_relevance_init(&s, &cfg, &err), 0);
    ua_rng data;
    ua_rng_seed(&data, 4, 1);
    feed_clean(&s, &cfg, &data, 6);
    char *good = ua_relevance_state_to_json(&s);
    s.t_tr = 0.111;   /* a distinct value that a failed load must not touch */
    char *j;

    expect_bad(&s, "{\"t_tr\": 0.1,", "ckpt.safetensors: relevance state: not valid JSON (parse error near byte");
    expect_bad(&s, "[1, 2]", "ckpt.safetensors: relevance state: not a JSON object");
    j = edited(good, "t_te", NULL);
    expect_bad(&s, j, "ckpt.safetensors: relevance state: missing \"t_te\"");
    free(j);
    j = edited(good, "mu_pos", cJSON_CreateString("0.5"));
    expect_bad(&s, j, "relevance state: \"mu_pos\" must be a finite number");
    free(j);
    j = edited(good, "updates", cJSON_CreateNumber(-1));
    expect_bad(&s, j, "relevance state: \"updates\" = -1 must be an integer in [0, 9007199254740992]");
    free(j);
    j = edited(good, "rng", cJSON_CreateString("12345"));
    expect_bad(&s, j, "relevance state: \"rng\" must be 32 hex digits");
    free(j);
    j = edited(good, "rng", cJSON_CreateNumber(7));
    expect_bad(&s, j, "relevance state: \"rng\" must be 32 hex digits");
    free(j);
    j = edited(good, "ring_size", cJSON_CreateNumber(16));
    expect_bad(&s, j, "relevance state: ring_size 16 was saved but 8 is configured");
    free(j);
    j = edited(good, "pos_head", cJSON_CreateNumber(8));
    expect_bad(&s, j, "relevance state: \"pos_head\" = 8 must be an integer in [0, 7]");
    free(j);
    j = edited(good, "neg_head", cJSON_CreateNumber(2));
    expect_bad(&s, j, "relevance state: neg_head 2 does not follow the 6 samples of a ring that is not full");
    free(j);
    double nine[9] = {0};
    j = edited(good, "pos_ring", cJSON_CreateDoubleArray(nine, 9));
    expect_bad(&s, j, "relevance state: \"pos_ring\" holds 9 samples, more than ring_size 8");
    free(j);
    const char *strs[2] = {"a", "b"};
    j = edited(good, "neg_ring", cJSON_CreateStringArray(strs, 2));
    expect_bad(&s, j, "relevance state: \"neg_ring\"[0] is not a finite float");
    free(j);
    double huge[2] = {0.5, 1e300};   /* finite as a double, infinite as the ring's float */
    j = edited(good, "neg_ring", cJSON_CreateDoubleArray(huge, 2));
    expect_bad(&s, j, "relevance state: \"neg_ring\"[1] is not a finite float");
    free(j);
    j = edited(good, "pos_ring", cJSON_CreateNumber(1));
    expect_bad(&s, j, "relevance state: \"pos_ring\" must be an array of numbers");
    free(j);
    /* the good one still loads */
    assert_int_equal(ua_relevance_state_from_json(&s, good, strlen(good), "ckpt", &err), 0);
    free(good);
    ua_relevance_free(&s);
}

/* ------------------------------------------------------------------------------------------- */

static void check_sep_fd(const ua_relevance_cfg *cfg, double t, double *pos, int np, double *neg, int nn)
{
    double dp[64], dn[64];
    ua_sep_loss_f64(cfg, t, pos, np, neg, nn, dp, dn);
    const double h = 1e-6;
    for (int side = 0; side < 2; side++) {
        double *x = side ? neg : pos, *g = side ? dn : dp;
        int n = side ? nn : np;
        for (int i = 0; i < n; i++) {
            double keep = x[i];
            x[i] = keep + h;
            double up = ua_sep_loss_f64(cfg, t, pos, np, neg, nn, NULL, NULL);
            x[i] = keep - h;
            double down = ua_sep_loss_f64(cfg, t, pos, np, neg, nn, NULL, NULL);
            x[i] = keep;
            double fd = (up - down) / (2 * h);
            if (fabs(fd - g[i]) > 1e-7 + 1e-6 * fabs(fd))
                fail_msg("sep %s: d%s[%d] analytic %.10g vs numeric %.10g", ua_sep_name(cfg->sep), side ? "neg" : "pos", i,
                         g[i], fd);
        }
    }
}

static void test_sep_losses(void **state)
{
    (void)state;
    ua_relevance_cfg cfg;
    ua_relevance_cfg_default(&cfg);
    ua_rng r;
    ua_rng_seed(&r, 21, 1);
    enum { NP = 30, NN = 25 };
    double pos[NP], neg[NN];
    float posf[NP], negf[NN];
    for (int i = 0; i < NP; i++) posf[i] = (float)(pos[i] = 0.6 + 0.1 * ua_rng_normal(&r));
    for (int i = 0; i < NN; i++) negf[i] = (float)(neg[i] = 0.3 + 0.12 * ua_rng_normal(&r));
    for (int i = 0; i < NP; i++) pos[i] = posf[i];
    for (int i = 0; i < NN; i++) neg[i] = negf[i];

    /* none */
    double dp[NP], dn[NN];
    dp[0] = 5;
    cfg.sep = UA_SEP_NONE;
    assert_true(ua_sep_loss_f64(&cfg, 0.45, pos, NP, neg, NN, dp, dn) == 0.0 && dp[0] == 0.0);

    /* gauss: value from the moments, gradients by finite differences */
    cfg.sep = UA_SEP_GAUSS;
    double mp = 0, mn = 0, vp = 0, vn = 0;
    for (int i = 0; i < NP; i++) mp += pos[i] / NP;
    for (int i = 0; i < NN; i++) mn += neg[i] / NN;
    for (int i = 0; i < NP; i++) vp += (pos[i] - mp) * (pos[i] - mp) / (NP - 1);
    for (int i = 0; i < NN; i++) vn += (neg[i] - mn) * (neg[i] - mn) / (NN - 1);
    double want = 0.5 * erfc(-(0.45 - mp) / sqrt(vp) / sqrt(2.0)) + 2.0 * (1 - 0.5 * erfc(-(0.45 - mn) / sqrt(vn) / sqrt(2.0)));
    assert_close(ua_sep_loss_f64(&cfg, 0.45, pos, NP, neg, NN, dp, dn), want, 1e-12);
    for (int t10 = 3; t10 <= 6; t10++) check_sep_fd(&cfg, t10 / 10.0, pos, NP, neg, NN);
    /* its minimiser over t is the closed-form boundary of the sample moments */
    ua_threshold_solution sol;
    ua_threshold_solve(UA_T_EST_CLEAN, 2.0, mp, sqrt(vp), mn, sqrt(vn), 0, 0, &sol);
    double at = ua_sep_loss_f64(&cfg, sol.t, pos, NP, neg, NN, NULL, NULL);
    assert_true(at < ua_sep_loss_f64(&cfg, sol.t - 0.01, pos, NP, neg, NN, NULL, NULL));
    assert_true(at < ua_sep_loss_f64(&cfg, sol.t + 0.01, pos, NP, neg, NN, NULL, NULL));
    /* float twin */
    float dpf[NP], dnf[NN];
    double lf = ua_sep_loss(&cfg, 0.45, posf, NP, negf, NN, dpf, dnf);
    assert_close(lf, want, 1e-12);
    ua_sep_loss_f64(&cfg, 0.45, pos, NP, neg, NN, dp, dn);
    for (int i = 0; i < NP; i++) assert_close(dpf[i], dp[i], 1e-6 * fabs(dp[i]) + 1e-12);
    for (int i = 0; i < NN; i++) assert_close(dnf[i], dn[i], 1e-6 * fabs(dn[i]) + 1e-12);
    /* guarded sigma: identical positives, no gradient path through sigma+ */
    double same[6] = {0.55, 0.55, 0.55, 0.55, 0.55, 0.55};
    check_sep_fd(&cfg, 0.5, same, 6, neg, NN);
    ua_sep_loss_f64(&cfg, 0.5, same, 6, neg, NN, dp, dn);
    for (int i = 1; i < 6; i++) assert_true(dp[i] == dp[0]);
    /* too few samples: 0 */
    assert_true(ua_sep_loss_f64(&cfg, 0.5, pos, 1, neg, NN, dp, dn) == 0.0 && dn[3] == 0.0);

    /* hinge: value by hand, gradients by finite differences (t placed away from the kinks) */
    cfg.sep = UA_SEP_HINGE;
    for (int t100 = 40; t100 <= 56; t100 += 4) {
        double t = t100 / 100.0 + 0.0012345;
        double lp = 0, ln = 0;
        for (int i = 0; i < NP; i++) lp += fmax(t + 0.05 - pos[i], 0) / NP;
        for (int i = 0; i < NN; i++) ln += fmax(neg[i] - t + 0.05, 0) / NN;
        assert_close(ua_sep_loss_f64(&cfg, t, pos, NP, neg, NN, dp, dn), lp + 2.0 * ln, 1e-12);
        assert_close(ua_sep_loss(&cfg, t, posf, NP, negf, NN, dpf, dnf), lp + 2.0 * ln, 1e-12);
        check_sep_fd(&cfg, t, pos, NP, neg, NN);
    }
    assert_true(ua_sep_loss_f64(&cfg, 0.5, pos, 0, neg, 0, NULL, NULL) == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_cfg),
        cmocka_unit_test(test_solver_vectors),
        cmocka_unit_test(test_solver_is_argmin),
        cmocka_unit_test(test_solver_equal_sigmas),
        cmocka_unit_test(test_solver_no_root),
        cmocka_unit_test(test_solver_out_of_range),
        cmocka_unit_test(test_collection),
        cmocka_unit_test(test_collection_same_image),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_clean_converges),
        cmocka_unit_test(test_clean_degenerate_updates),
        cmocka_unit_test(test_mixture),
        cmocka_unit_test(test_naaf_compat_batch),
        cmocka_unit_test(test_naaf_compat_exactly_min_samples),
        cmocka_unit_test(test_json_resume_exact),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_sep_losses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
