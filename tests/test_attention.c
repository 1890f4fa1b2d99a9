/* The per-pair attention kernel: Gram-matrix form against the direct formula (attended context
 * formed explicitly), float against double, and finite-difference gradients in double for every
 * raw_feature_norm x agg_func and both memory layouts (t2i and i2t). */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/attention.h"
#include "uarda/rng.h"

enum { C = 7, Q = 5, D = 6 };

typedef struct {
    double ctx[C * D], qry[Q * D];
    double S[C * Q];      /* S[c*Q + q] */
    double St[Q * C];     /* transposed layout, as an i2t block stores it */
    double G[C * C], qn[Q];
} pair_data;

static void make_pair(pair_data *p, uint64_t seed)
{
    ua_rng r;
    ua_rng_seed(&r, seed, 99);
    for (int i = 0; i < C * D; i++) p->ctx[i] = ua_rng_normal(&r);
    for (int i = 0; i < Q * D; i++) p->qry[i] = ua_rng_normal(&r);
    /* unit-norm rows as the encoders produce, but not exactly, to exercise the norms */
    for (int i = 0; i < C; i++) { double n = 0; for (int k = 0; k < D; k++) n += p->ctx[i*D+k]*p->ctx[i*D+k]; for (int k = 0; k < D; k++) p->ctx[i*D+k] /= sqrt(n) * (1 + 0.1 * i); }
    for (int i = 0; i < Q; i++) { double n = 0; for (int k = 0; k < D; k++) n += p->qry[i*D+k]*p->qry[i*D+k]; for (int k = 0; k < D; k++) p->qry[i*D+k] /= sqrt(n); }
    for (int c = 0; c < C; c++)
        for (int q = 0; q < Q; q++) {
            double s = 0;
            for (int k = 0; k < D; k++) s += p->ctx[c*D+k] * p->qry[q*D+k];
            p->S[c*Q+q] = s;
            p->St[q*C+c] = s;
        }
    for (int a = 0; a < C; a++)
        for (int b = 0; b < C; b++) {
            double s = 0;
            for (int k = 0; k < D; k++) s += p->ctx[a*D+k] * p->ctx[b*D+k];
            p->G[a*C+b] = s;
        }
    for (int q = 0; q < Q; q++) { double n = 0; for (int k = 0; k < D; k++) n += p->qry[q*D+k]*p->qry[q*D+k]; p->qn[q] = sqrt(n); }
}

/* the literal SCAN computation: normalise, softmax, form a_q, cosine, aggregate */
static double direct_score(const ua_attn_cfg *cfg, const pair_data *p, double *R)
{
    double P[C * Q], A[C * Q];
    for (int c = 0; c < C; c++) {
        double x[Q];
        int clip = cfg->norm == UA_NORM_CLIPPED_L2NORM || cfg->norm == UA_NORM_CLIPPED_L1NORM || cfg->norm == UA_NORM_CLIPPED;
        for (int q = 0; q < Q; q++) { x[q] = p->S[c*Q+q]; if (clip && x[q] < 0) x[q] *= 0.1; }
        double n2 = 0, n1 = 0, m = -1e300, se = 0;
        for (int q = 0; q < Q; q++) { n2 += x[q]*x[q]; n1 += fabs(x[q]); if (x[q] > m) m = x[q]; }
        for (int q = 0; q < Q; q++) se += exp(x[q] - m);
        for (int q = 0; q < Q; q++) {
            switch (cfg->norm) {
            case UA_NORM_L2NORM: case UA_NORM_CLIPPED_L2NORM: P[c*Q+q] = x[q] / (sqrt(n2) + 1e-8); break;
            case UA_NORM_L1NORM: case UA_NORM_CLIPPED_L1NORM: P[c*Q+q] = x[q] / (n1 + 1e-8); break;
            case UA_NORM_SOFTMAX: P[c*Q+q] = exp(x[q] - m) / se; break;
            default: P[c*Q+q] = x[q];
            }
        }
    }
    for (int q = 0; q < Q; q++) {
        double sum = 0;
        for (int c = 0; c < C; c++) sum += exp(cfg->lambda_softmax * P[c*Q+q]);
        for (int c = 0; c < C; c++) A[c*Q+q] = exp(cfg->lambda_softmax * P[c*Q+q]) / sum;
    }
    double score = 0, mx = -1e300;
    for (int q = 0; q < Q; q++) {
        double a[D] = {0};
        for (int c = 0; c < C; c++) for (int k = 0; k < D; k++) a[k] += A[c*Q+q] * p->ctx[c*D+k];
        double dot = 0, na = 0, nq = 0;
        for (int k = 0; k < D; k++) { dot += a[k] * p->qry[q*D+k]; na += a[k]*a[k]; nq += p->qry[q*D+k]*p->qry[q*D+k]; }
        double prod = sqrt(na) * sqrt(nq);
        R[q] = dot / (prod > 1e-8 ? prod : 1e-8);
        if (R[q] > mx) mx = R[q];
    }
    switch (cfg->agg) {
    case UA_AGG_LOGSUMEXP: for (int q = 0; q < Q; q++) score += exp(cfg->lambda_lse * R[q]); return log(score) / cfg->lambda_lse;
    case UA_AGG_MEAN: for (int q = 0; q < Q; q++) score += R[q]; return score / Q;
    case UA_AGG_MAX: return mx;
    default: for (int q = 0; q < Q; q++) score += R[q]; return score;
    }
}

static ua_attn_cfg cfg_of(int norm, int agg)
{
    ua_attn_cfg cfg = {.direction = UA_T2I, .norm = (ua_feature_norm)norm, .agg = (ua_agg)agg, .lambda_softmax = 9.0, .lambda_lse = 6.0};
    return cfg;
}

static void test_gram_form_equals_direct_formula(void **state)
{
    (void)state;
    double work[UA_TEST_PAIR_WORK(C, Q)];
    for (int seed = 1; seed <= 3; seed++) {
        pair_data p;
        make_pair(&p, (uint64_t)seed);
        for (int norm = 0; norm < 7; norm++)
            for (int agg = 0; agg < 4; agg++) {
                ua_attn_cfg cfg = cfg_of(norm, agg);
                double R1[Q], R2[Q], R3[Q];
                double s1 = ua_attn_pair_forward_f64(&cfg, p.S, Q, 1, C, Q, p.G, p.qn, R1, work);
                double s2 = ua_attn_pair_forward_f64(&cfg, p.St, 1, C, C, Q, p.G, p.qn, R2, work);  /* transposed layout */
                double s3 = direct_score(&cfg, &p, R3);
                for (int q = 0; q < Q; q++) {
                    assert_true(fabs(R1[q] - R3[q]) < 1e-12);
                    assert_true(R1[q] == R2[q]);
                }
                assert_true(fabs(s1 - s3) < 1e-12);
                assert_true(s1 == s2);
                /* the float kernel agrees with the double one */
                float Sf[C * Q], Gf[C * C], qnf[Q], Rf[Q], workf[UA_TEST_PAIR_WORK(C, Q)];
                for (int i = 0; i < C * Q; i++) Sf[i] = (float)p.S[i];
                for (int i = 0; i < C * C; i++) Gf[i] = (float)p.G[i];
                for (int i = 0; i < Q; i++) qnf[i] = (float)p.qn[i];
                float sf = ua_attn_pair_forward(&cfg, Sf, Q, 1, C, Q, Gf, qnf, Rf, workf);
                if (fabs(sf - s1) > 1e-5 * (1 + fabs(s1))) fail_msg("norm %d agg %d: float %g vs double %g", norm, agg, sf, s1);
            }
    }
}

/* central differences of the double kernel against its analytic backward */
static void check_gradients(const ua_attn_cfg *cfg, pair_data *p, int transposed)
{
    double work[UA_TEST_PAIR_WORK(C, Q)];
    double *S = transposed ? p->St : p->S;
    size_t s_c = transposed ? 1 : Q, s_q = transposed ? C : 1;
    double dS[C * Q], dG[C * C] = {0}, dqn[Q] = {0};
    const double dscore = 0.7;
    ua_attn_pair_backward_f64(cfg, S, s_c, s_q, C, Q, p->G, p->qn, dscore, dS, dG, dqn, work);
    const double h = 1e-6;
    double worst = 0;
    struct { double *x; double *g; int n; const char *name; } groups[3] = {
        {S, dS, C * Q, "S"}, {p->G, dG, C * C, "G"}, {p->qn, dqn, Q, "qn"}};
    for (int gi = 0; gi < 3; gi++)
        for (int i = 0; i < groups[gi].n; i++) {
            double keep = groups[gi].x[i];
            groups[gi].x[i] = keep + h;
            double fp = ua_attn_pair_forward_f64(cfg, S, s_c, s_q, C, Q, p->G, p->qn, NULL, work);
            groups[gi].x[i] = keep - h;
            double fm = ua_attn_pair_forward_f64(cfg, S, s_c, s_q, C, Q, p->G, p->qn, NULL, work);
            groups[gi].x[i] = keep;
            double fd = dscore * (fp - fm) / (2 * h);
            double an = groups[gi].g[i];
            double err = fabs(fd - an) / (1e-6 + fabs(fd) + fabs(an));
            if (fabs(fd - an) > 1e-7 && err > worst) worst = err;
            if (fabs(fd - an) > 1e-7 && err > 1e-5)
                fail_msg("norm %s agg %s %s: d%s[%d] analytic %.10g vs numeric %.10g", ua_feature_norm_name(cfg->norm),
                         ua_agg_name(cfg->agg), transposed ? "i2t" : "t2i", groups[gi].name, i, an, fd);
        }
}

static void test_finite_differences(void **state)
{
    (void)state;
    for (int norm = 0; norm < 7; norm++)
        for (int agg = 0; agg < 4; agg++)
            for (int tr = 0; tr < 2; tr++) {
                pair_data p;
                make_pair(&p, (uint64_t)(10 + norm * 4 + agg));
                ua_attn_cfg cfg = cfg_of(norm, agg);
                cfg.lambda_softmax = tr ? 4.0 : 9.0;
                cfg.lambda_lse = tr ? 5.0 : 6.0;
                check_gradients(&cfg, &p, tr);
            }
}

/* the float backward agrees with the double one */
static void test_float_backward(void **state)
{
    (void)state;
    pair_data p;
    make_pair(&p, 5);
    for (int norm = 0; norm < 7; norm++)
        for (int agg = 0; agg < 4; agg++) {
            ua_attn_cfg cfg = cfg_of(norm, agg);
            double work[UA_TEST_PAIR_WORK(C, Q)], dS[C * Q], dG[C * C] = {0}, dqn[Q] = {0};
            ua_attn_pair_backward_f64(&cfg, p.S, Q, 1, C, Q, p.G, p.qn, 1.0, dS, dG, dqn, work);
            float Sf[C * Q], Gf[C * C], qnf[Q], workf[UA_TEST_PAIR_WORK(C, Q)], dSf[C * Q], dGf[C * C] = {0}, dqnf[Q] = {0};
            for (int i = 0; i < C * Q; i++) Sf[i] = (float)p.S[i];
            for (int i = 0; i < C * C; i++) Gf[i] = (float)p.G[i];
            for (int i = 0; i < Q; i++) qnf[i] = (float)p.qn[i];
            ua_attn_pair_backward(&cfg, Sf, Q, 1, C, Q, Gf, qnf, 1.0f, dSf, dGf, dqnf, workf);
            float ref[C * Q];
            for (int i = 0; i < C * Q; i++) ref[i] = (float)dS[i];
            double rel = th_rel_diff(dSf, ref, C * Q);
            if (rel > 1e-4) fail_msg("norm %d agg %d: float dS differs by %g", norm, agg, rel);
        }
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(ua_direction_parse("i2t"), UA_I2T);
    assert_int_equal(ua_feature_norm_parse("clipped_l2norm"), UA_NORM_CLIPPED_L2NORM);
    assert_int_equal(ua_agg_parse("LogSumExp"), UA_AGG_LOGSUMEXP);
    assert_int_equal(ua_agg_parse("logsumexp"), -1);
    for (int i = 0; i < 7; i++) assert_int_equal(ua_feature_norm_parse(ua_feature_norm_name((ua_feature_norm)i)), i);
}

/* ---- pairs of any size: 1,100 regions (t2i) and 2,000 words (i2t) ---------------------------- */

/* The score of SCAN's formulas with the UARDA switches clip, mask and irr zero (attention.h),
 * computed directly from the vectors in double: ctx [c, d], qry [q, d]. */
static double direct_any(const ua_attn_cfg *cfg, const float *ctx, const float *qry, int c, int q, int d, double *R)
{
    const double t = cfg->threshold;
    const int leaky = cfg->norm == UA_NORM_CLIPPED_L2NORM || cfg->norm == UA_NORM_CLIPPED_L1NORM ||
                      cfg->norm == UA_NORM_CLIPPED;
    double *S = malloc(sizeof(double) * c * q), *P = malloc(sizeof(double) * c * q), *a = malloc(sizeof(double) * d);
    for (int i = 0; i < c; i++)
        for (int k = 0; k < q; k++) {
            double v = 0;
            for (int e = 0; e < d; e++) v += (double)ctx[i * d + e] * qry[k * d + e];
            S[i * q + k] = v;
        }
    for (int i = 0; i < c; i++) {   /* the normalisation along the queries, per context item */
        double n2 = 0, m = -1e300, se = 0;
        for (int k = 0; k < q; k++) {
            double z = cfg->clip == UA_CLIP_UARDA ? (S[i * q + k] > t ? S[i * q + k] - t : 0)
                       : (leaky && S[i * q + k] < 0 ? 0.1 * S[i * q + k] : S[i * q + k]);
            P[i * q + k] = z;
            n2 += z * z;
            if (z > m) m = z;
        }
        for (int k = 0; k < q; k++) se += exp(P[i * q + k] - m);
        for (int k = 0; k < q; k++)
            P[i * q + k] = cfg->norm == UA_NORM_SOFTMAX ? exp(P[i * q + k] - m) / se : P[i * q + k] / (sqrt(n2) + 1e-8);
    }
    double score = 0;
    for (int k = 0; k < q; k++) {
        double mx = -1e300, sum = 0, dot = 0, na = 0, nq = 0;
        for (int i = 0; i < c; i++) if (S[i * q + k] > mx) mx = S[i * q + k];
        if (cfg->irr != UA_IRR_SCAN && !(mx > t)) { R[k] = 0; continue; }   /* irrelevant */
        double lmax = -1e300;
        for (int i = 0; i < c; i++)
            if (cfg->mask == UA_MASK_OFF || S[i * q + k] > t)
                if (cfg->lambda_softmax * P[i * q + k] > lmax) lmax = cfg->lambda_softmax * P[i * q + k];
        for (int e = 0; e < d; e++) a[e] = 0;
        for (int i = 0; i < c; i++) {
            if (cfg->mask == UA_MASK_HARD && !(S[i * q + k] > t)) continue;
            double w = exp(cfg->lambda_softmax * P[i * q + k] - lmax);
            sum += w;
            for (int e = 0; e < d; e++) a[e] += w * ctx[i * d + e];
        }
        for (int e = 0; e < d; e++) {
            a[e] /= sum;
            dot += a[e] * qry[k * d + e];
            na += a[e] * a[e];
            nq += (double)qry[k * d + e] * qry[k * d + e];
        }
        double prod = sqrt(na) * sqrt(nq);
        R[k] = dot / (prod > 1e-8 ? prod : 1e-8);
    }
    for (int k = 0; k < q; k++) score += R[k];
    free(S); free(P); free(a);
    return score / q;
}

static void test_pairs_of_any_size(void **state)
{
    (void)state;
    assert_int_equal(ua_attn_pair_work(C, Q), (size_t)UA_TEST_PAIR_WORK(C, Q));
    enum { DIM = 8 };
    const int sizes[2][2] = {{1100, 12}, {2000, 36}};   /* (context, query): t2i regions, i2t words */
    ua_rng r;
    ua_rng_seed(&r, 99, 3);
    for (int z = 0; z < 2; z++) {
        const int c = sizes[z][0], q = sizes[z][1];
        float *ctx = malloc(sizeof(float) * c * DIM), *qry = malloc(sizeof(float) * q * DIM);
        float *S = malloc(sizeof(float) * c * q), *G = malloc(sizeof(float) * c * c), *qn = malloc(sizeof(float) * q);
        float *Rf = malloc(sizeof(float) * q), *work = malloc(sizeof(float) * ua_attn_pair_work(c, q));
        double *Rd = malloc(sizeof(double) * q);
        th_unit_rows(&r, ctx, (size_t)c, DIM, 0.0);
        th_unit_rows(&r, qry, (size_t)q, DIM, 0.0);
        for (int i = 0; i < c; i++)
            for (int k = 0; k < q; k++) {
                float v = 0;
                for (int e = 0; e < DIM; e++) v += ctx[i * DIM + e] * qry[k * DIM + e];
                S[(size_t)i * q + k] = v;
            }
        for (int i = 0; i < c; i++)
            for (int j = 0; j < c; j++) {
                float v = 0;
                for (int e = 0; e < DIM; e++) v += ctx[i * DIM + e] * ctx[j * DIM + e];
                G[(size_t)i * c + j] = v;
            }
        for (int k = 0; k < q; k++) {
            float v = 0;
            for (int e = 0; e < DIM; e++) v += qry[k * DIM + e] * qry[k * DIM + e];
            qn[k] = sqrtf(v);
        }
        /* SCAN (softmax over the queries: a per-context-item sum), SCAN clipped_l2norm, and UARDA
         * with a hard mask and skipping at a threshold that leaves most queries a few entries
         * (the sparse product's index list) */
        ua_attn_cfg cfgs[3] = {
            {.norm = UA_NORM_SOFTMAX, .agg = UA_AGG_MEAN, .lambda_softmax = 4, .lambda_lse = 6},
            {.norm = UA_NORM_CLIPPED_L2NORM, .agg = UA_AGG_MEAN, .lambda_softmax = 9, .lambda_lse = 6},
            {.norm = UA_NORM_CLIPPED_L2NORM, .agg = UA_AGG_MEAN, .lambda_softmax = 9, .lambda_lse = 6,
             .clip = UA_CLIP_UARDA, .mask = UA_MASK_HARD, .irr = UA_IRR_ZERO, .threshold = 0.55},
        };
        for (int v = 0; v < 3; v++) {
            ua_attn_set_skip(&cfgs[v], v == 2);
            float sf = ua_attn_pair_forward(&cfgs[v], S, (size_t)q, 1, c, q, G, qn, Rf, work);
            double sd = direct_any(&cfgs[v], ctx, qry, c, q, DIM, Rd);
            if (fabs(sf - sd) > 1e-4 * (fabs(sd) + 1e-3))
                fail_msg("%d x %d, config %d: kernel %.7g, direct %.7g", c, q, v, sf, sd);
            for (int k = 0; k < q; k++)
                if (fabs(Rf[k] - Rd[k]) > 1e-4) fail_msg("%d x %d, config %d, query %d: R %.7g vs %.7g", c, q, v, k, Rf[k], Rd[k]);
            if (v == 2) {
                int n_irr, n_masked;
                ua_attn_pair_counts(&cfgs[v], work, c, q, &n_irr, &n_masked);
                assert_true(n_irr < q && n_masked > c * q / 2);   /* relevant queries, mostly masked entries */
            }
        }
        free(ctx); free(qry); free(S); free(G); free(qn); free(Rf); free(work); free(Rd);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gram_form_equals_direct_formula),
        cmocka_unit_test(test_pairs_of_any_size),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_float_backward),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
