/* Finite-difference gradient checks, in double precision, of the backward passes not covered
 * elsewhere (the attention kernel: test_attention.c, test_uarda.c; the GRU: test_gru.c): the
 * l2norm, the image encoder, the contrastive loss and the block similarity's glue (the GEMMs,
 * Gram matrices and query norms around the pair kernel). Each float analytic gradient is
 * compared with central differences of a double-precision reference of the same function. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/model.h"
#include "uarda/rng.h"

static void fill(ua_rng *r, double *x, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++) x[i] = scale * ua_rng_normal(r);
}

static void to_float(const double *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = (float)x[i];
}

static void expect_close(const float *analytic, const double *numeric, size_t n, double tol, const char *what)
{
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)analytic[i] - numeric[i]);
        if (d > md) md = d;
        if (fabs(numeric[i]) > mr) mr = fabs(numeric[i]);
    }
    if (md > tol * (mr > 0 ? mr : 1)) fail_msg("%s: max|analytic - numeric| = %.3g (max|numeric| %.3g)", what, md, mr);
}

/* ---- l2norm --------------------------------------------------------------------------- */

static double l2norm_dot(const double *x, const double *w, int rows, int d)
{
    double f = 0;
    for (int r = 0; r < rows; r++) {
        double ss = 0;
        for (int k = 0; k < d; k++) ss += x[r * d + k] * x[r * d + k];
        for (int k = 0; k < d; k++) f += w[r * d + k] * x[r * d + k] / (sqrt(ss) + 1e-8);
    }
    return f;
}

static void test_l2norm(void **state)
{
    (void)state;
    enum { ROWS = 4, D = 7 };
    ua_rng r;
    ua_rng_seed(&r, 1, 1);
    double x[ROWS * D], w[ROWS * D], num[ROWS * D];
    fill(&r, x, ROWS * D, 1), fill(&r, w, ROWS * D, 1);
    float xf[ROWS * D], wf[ROWS * D], dx[ROWS * D];
    to_float(x, xf, ROWS * D), to_float(w, wf, ROWS * D);
    ua_l2norm_rows_backward(xf, wf, dx, ROWS, D);
    for (int i = 0; i < ROWS * D; i++) {
        double keep = x[i], h = 1e-6;
        x[i] = keep + h;
        double fp = l2norm_dot(x, w, ROWS, D);
        x[i] = keep - h;
        double fm = l2norm_dot(x, w, ROWS, D);
        x[i] = keep;
        num[i] = (fp - fm) / (2 * h);
    }
    expect_close(dx, num, ROWS * D, 1e-5, "l2norm");
}

/* ---- contrastive loss ------------------------------------------------------------------ */

static double loss_ref(const double *s, int B, double margin, int hardest)
{
    double loss = 0;
    for (int i = 0; i < B; i++) {       /* image i as query */
        double worst = 0;
        for (int j = 0; j < B; j++) {
            if (j == i) continue;
            double c = margin + s[i * B + j] - s[i * B + i];
            if (c < 0) c = 0;
            if (hardest) { if (c > worst) worst = c; } else loss += c;
        }
        if (hardest) loss += worst;
    }
    for (int j = 0; j < B; j++) {       /* caption j as query */
        double worst = 0;
        for (int i = 0; i < B; i++) {
            if (i == j) continue;
            double c = margin + s[i * B + j] - s[j * B + j];
            if (c < 0) c = 0;
            if (hardest) { if (c > worst) worst = c; } else loss += c;
        }
        if (hardest) loss += worst;
    }
    return loss;
}

static void test_contrastive_loss(void **state)
{
    (void)state;
    enum { B = 6 };
    ua_rng r;
    ua_rng_seed(&r, 2, 1);
    double s[B * B], num[B * B];
    for (int i = 0; i < B * B; i++) s[i] = 0.3 * ua_rng_unif_double(&r) + 0.01 * i;  /* distinct: no ties */
    float sf[B * B], ds[B * B];
    to_float(s, sf, B * B);
    for (int hardest = 0; hardest < 2; hardest++) {
        double loss = ua_contrastive_loss(sf, B, 0.2, hardest, ds);
        assert_true(fabs(loss - loss_ref(s, B, 0.2, hardest)) < 1e-5);
        for (int i = 0; i < B * B; i++) {
            double keep = s[i], h = 1e-7;
            s[i] = keep + h;
            double fp = loss_ref(s, B, 0.2, hardest);
            s[i] = keep - h;
            double fm = loss_ref(s, B, 0.2, hardest);
            s[i] = keep;
            num[i] = (fp - fm) / (2 * h);
        }
        expect_close(ds, num, B * B, 1e-6, hardest ? "loss (hardest negatives)" : "loss (all negatives)");
    }
}

/* ---- image encoder --------------------------------------------------------------------- */

static double image_encoder_dot(const double *W, const double *b, const double *x, const double *w, int n, int D, int E)
{
    double f = 0;
    for (int r = 0; r < n; r++) {
        double pre[16], ss = 0;
        for (int e = 0; e < E; e++) {
            pre[e] = b[e];
            for (int k = 0; k < D; k++) pre[e] += W[e * D + k] * x[r * D + k];
            ss += pre[e] * pre[e];
        }
        for (int e = 0; e < E; e++) f += w[r * E + e] * pre[e] / (sqrt(ss) + 1e-8);
    }
    return f;
}

static void test_image_encoder(void **state)
{
    (void)state;
    enum { N = 5, D = 6, E = 4 };
    ua_model_opt o;
    ua_model_opt_default(&o);
    o.img_dim = D, o.embed_size = E, o.word_dim = 3, o.vocab_size = 6;
    ua_model m;
    ua_err err;
    assert_int_equal(ua_model_create(&m, &o, &err), 0);
    ua_rng r;
    ua_rng_seed(&r, 3, 1);
    double W[E * D], b[E], x[N * D], w[N * E];
    fill(&r, W, E * D, 0.5), fill(&r, b, E, 0.1), fill(&r, x, N * D, 1), fill(&r, w, N * E, 1);
    to_float(W, m.fc_weight, E * D), to_float(b, m.fc_bias, E);
    float xf[N * D], pre[N * E], emb[N * E], g[N * E], dW[E * D] = {0}, db[E] = {0};
    to_float(x, xf, N * D), to_float(w, g, N * E);
    ua_image_encoder_forward(&m, xf, N, pre, emb);
    ua_image_encoder_backward(&m, xf, N, pre, g, dW, db);
    double num[E * D], numb[E];
    for (int i = 0; i < E * D; i++) {
        double keep = W[i], h = 1e-6;
        W[i] = keep + h;
        double fp = image_encoder_dot(W, b, x, w, N, D, E);
        W[i] = keep - h;
        double fm = image_encoder_dot(W, b, x, w, N, D, E);
        W[i] = keep;
        num[i] = (fp - fm) / (2 * h);
    }
    for (int i = 0; i < E; i++) {
        double keep = b[i], h = 1e-6;
        b[i] = keep + h;
        double fp = image_encoder_dot(W, b, x, w, N, D, E);
        b[i] = keep - h;
        double fm = image_encoder_dot(W, b, x, w, N, D, E);
        b[i] = keep;
        numb[i] = (fp - fm) / (2 * h);
    }
    expect_close(dW, num, E * D, 1e-4, "image encoder weight");
    expect_close(db, numb, E, 1e-4, "image encoder bias");
    ua_model_free(&m);
}

/* ---- block similarity -------------------------------------------------------------------- */

enum { NI = 3, NC = 4, R = 5, L = 6, E = 4 };
static const int LENS[NC] = {6, 5, 4, 3};

/* sum_ij w_ij score_ij, in double, with the f64 pair kernel and the same layout rules */
static double block_dot(const ua_attn_cfg *cfg, const double *V, const double *U, const double *w)
{
    double f = 0, work[4 * 6 * 6 + 6 * 6 + 4 * 6];
    for (int i = 0; i < NI; i++)
        for (int j = 0; j < NC; j++) {
            int n = LENS[j];
            double S[R * L], G[L * L], qn[L];
            const double *Vi = V + i * R * E, *Uj = U + j * L * E;
            /* S as context-major (c x q) */
            int c = cfg->direction == UA_T2I ? R : n, q = cfg->direction == UA_T2I ? n : R;
            for (int a = 0; a < c; a++)
                for (int k = 0; k < q; k++) {
                    const double *ctx = cfg->direction == UA_T2I ? Vi + a * E : Uj + a * E;
                    const double *qry = cfg->direction == UA_T2I ? Uj + k * E : Vi + k * E;
                    double s = 0;
                    for (int e = 0; e < E; e++) s += ctx[e] * qry[e];
                    S[a * q + k] = s;
                }
            for (int a = 0; a < c; a++)
                for (int bb = 0; bb < c; bb++) {
                    const double *x = cfg->direction == UA_T2I ? Vi + a * E : Uj + a * E;
                    const double *y = cfg->direction == UA_T2I ? Vi + bb * E : Uj + bb * E;
                    double s = 0;
                    for (int e = 0; e < E; e++) s += x[e] * y[e];
                    G[a * c + bb] = s;
                }
            for (int k = 0; k < q; k++) {
                const double *qry = cfg->direction == UA_T2I ? Uj + k * E : Vi + k * E;
                double s = 0;
                for (int e = 0; e < E; e++) s += qry[e] * qry[e];
                qn[k] = sqrt(s);
            }
            f += w[i * NC + j] * ua_attn_pair_forward_f64(cfg, S, (size_t)q, 1, c, q, G, qn, NULL, work);
        }
    return f;
}

static void test_block_similarity(void **state)
{
    (void)state;
    for (int dir = 0; dir < 2; dir++) {
        ua_attn_cfg cfg = {.direction = (ua_direction)dir, .norm = UA_NORM_CLIPPED_L2NORM, .agg = UA_AGG_LOGSUMEXP,
                           .lambda_softmax = dir ? 4 : 9, .lambda_lse = dir ? 5 : 6};
        ua_rng r;
        ua_rng_seed(&r, 10 + (uint64_t)dir, 1);
        double V[NI * R * E], U[NC * L * E], w[NI * NC];
        fill(&r, V, NI * R * E, 0.5), fill(&r, U, NC * L * E, 0.5), fill(&r, w, NI * NC, 1);
        for (int j = 0; j < NC; j++)  /* padding rows are zero, as the text encoder makes them */
            for (int t = LENS[j]; t < L; t++) memset(U + (j * L + t) * E, 0, E * sizeof(double));
        float Vf[NI * R * E], Uf[NC * L * E], wf[NI * NC], sc[NI * NC], dV[NI * R * E] = {0}, dU[NC * L * E] = {0};
        to_float(V, Vf, NI * R * E), to_float(U, Uf, NC * L * E), to_float(w, wf, NI * NC);
        ua_err err;
        ua_sim_work *sw = ua_sim_work_new(NI, NC, R, L, E, 1, &err);
        assert_non_null(sw);
        ua_sim_block_forward(&cfg, Vf, NI, R, Uf, NC, L, LENS, E, sc, NC, sw);
        ua_sim_block_backward(&cfg, Vf, NI, R, Uf, NC, L, LENS, E, wf, NC, dV, dU, sw);
        ua_sim_work_free(sw);
        double numV[NI * R * E], numU[NC * L * E];
        const double h = 1e-6;
        for (int i = 0; i < NI * R * E; i++) {
            double keep = V[i];
            V[i] = keep + h;
            double fp = block_dot(&cfg, V, U, w);
            V[i] = keep - h;
            double fm = block_dot(&cfg, V, U, w);
            V[i] = keep;
            numV[i] = (fp - fm) / (2 * h);
        }
        for (int i = 0; i < NC * L * E; i++) {
            int j = i / (L * E), t = (i / E) % L;
            if (t >= LENS[j]) { numU[i] = 0; continue; }
            double keep = U[i];
            U[i] = keep + h;
            double fp = block_dot(&cfg, V, U, w);
            U[i] = keep - h;
            double fm = block_dot(&cfg, V, U, w);
            U[i] = keep;
            numU[i] = (fp - fm) / (2 * h);
        }
        expect_close(dV, numV, NI * R * E, 2e-3, dir ? "i2t block: regions" : "t2i block: regions");
        expect_close(dU, numU, NC * L * E, 2e-3, dir ? "i2t block: words" : "t2i block: words");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_l2norm),
        cmocka_unit_test(test_contrastive_loss),
        cmocka_unit_test(test_image_encoder),
        cmocka_unit_test(test_block_similarity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
