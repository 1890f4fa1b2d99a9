/* The few-rows products (src/model/dots.c) and the paths that use them: every layout and tail
 * against double-precision dot products, the same bits for any tile position and thread count;
 * a GRU of one caption (few rows) against the same caption inside a batch of 40 (GEMM); a
 * search-sized similarity with the images' Gram matrices given against computed. */
#include "helpers.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/dots.h"
#include "uarda/eval.h"
#include "uarda/gru.h"
#include "uarda/model.h"

static void fill(ua_rng *r, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)ua_rng_normal(r);
}

/* every (nq, ng, K) tail: C against double dots, in both layouts */
static void test_dots_exact(void **state)
{
    (void)state;
    ua_rng r;
    ua_rng_seed(&r, 3, 1);
    const int Ks[] = {1, 7, 8, 9, 64, 67};
    for (int ki = 0; ki < 6; ki++)
        for (int nq = 1; nq <= 5; nq++)
            for (int ng = 1; ng <= 9; ng++) {
                const int K = Ks[ki];
                float *A = malloc(sizeof(float) * nq * K), *B = malloc(sizeof(float) * ng * K);
                float *C1 = malloc(sizeof(float) * nq * ng), *C2 = malloc(sizeof(float) * nq * ng);
                fill(&r, A, (size_t)nq * K);
                fill(&r, B, (size_t)ng * K);
                ua_dots_few(A, nq, B, ng, K, C1, (size_t)ng, 1);   /* C1[q][g] */
                ua_dots_few(A, nq, B, ng, K, C2, 1, (size_t)nq);   /* C2[g][q] */
                for (int q = 0; q < nq; q++)
                    for (int g = 0; g < ng; g++) {
                        double ref = 0, mag = 0;
                        for (int k = 0; k < K; k++) {
                            ref += (double)A[q * K + k] * B[g * K + k];
                            mag += fabs((double)A[q * K + k] * B[g * K + k]);
                        }
                        if (!(fabs(C1[q * ng + g] - ref) <= 1e-6 * mag + 1e-30))
                            fail_msg("K %d nq %d ng %d (%d, %d): %g vs %g", K, nq, ng, q, g, C1[q * ng + g], ref);
                        assert_true(C2[g * nq + q] == C1[q * ng + g]);
                    }
                free(A); free(B); free(C1); free(C2);
            }
}

/* a product's bits do not depend on where its rows fall (a full 2x4 tile, a 1x4 tile, the
 * scalar tail) nor on the thread count */
static void dots_same_bits(int K)
{
    enum { NQ = 3, NG = 11 };
    ua_rng r;
    ua_rng_seed(&r, 4, 1);
    float *A = malloc(sizeof(float) * NQ * K), *B = malloc(sizeof(float) * NG * K);
    fill(&r, A, (size_t)NQ * K);
    fill(&r, B, (size_t)NG * K);
    float C[NQ * NG], D[NQ * NG], one;
    ua_dots_few(A, NQ, B, NG, K, C, NG, 1);
    for (int q = 0; q < NQ; q++)
        for (int g = 0; g < NG; g++) {
            ua_dots_few(A + (size_t)q * K, 1, B + (size_t)g * K, 1, K, &one, 1, 1);  /* scalar path */
            assert_true(one == C[q * NG + g]);
        }
    int saved = omp_get_max_threads();
    for (int t = 1; t <= 3; t++) {
        omp_set_num_threads(t);
        ua_dots_few(A, NQ, B, NG, K, D, NG, 1);
        assert_memory_equal(C, D, sizeof C);
    }
    omp_set_num_threads(saved);
    free(A); free(B);
}

static void test_dots_same_bits(void **state)
{
    (void)state;
    for (int K = 1024; K <= 1027; K += 3)  /* the vector tiles' two lane reductions: whole and with a tail */
        dots_same_bits(K);
}

/* the GRU of one caption (few rows: ua_dots_few) equals its row in a batch of 40 (GEMM); at a
 * hidden size where one caption's steps run on several threads, the same bits on 1 and 2 */
static void gru_few_vs_batch(int in, int H)
{
    const ua_gru_shape s = {in, H, 1, 1};
    enum { BATCH = 40, T = 4 };
    const size_t DH = 2 * (size_t)H;
    ua_rng r;
    ua_rng_seed(&r, 5, 1);
    float *p = malloc(sizeof(float) * ua_gru_param_count(&s));
    ua_gru_init(&s, p, &r);
    float *x = malloc(sizeof(float) * BATCH * T * in), *out = malloc(sizeof(float) * BATCH * T * DH);
    float *out1 = malloc(sizeof(float) * T * DH), *out2 = malloc(sizeof(float) * T * DH);
    fill(&r, x, (size_t)BATCH * T * in);
    int len[BATCH];
    for (int b = 0; b < BATCH; b++) len[b] = T - b * T / BATCH;
    ua_err err;
    ua_gru_work *w = ua_gru_work_new(&s, BATCH, T, &err);
    assert_non_null(w);
    assert_int_equal(ua_gru_forward(&s, p, x, len, BATCH, T, out, w, &err), 0);
    int saved = omp_get_max_threads();
    for (int b = 0; b < BATCH; b += 13) {
        omp_set_num_threads(1);
        assert_int_equal(ua_gru_forward(&s, p, x + (size_t)b * T * in, len + b, 1, T, out1, w, &err), 0);
        omp_set_num_threads(2);
        assert_int_equal(ua_gru_forward(&s, p, x + (size_t)b * T * in, len + b, 1, T, out2, w, &err), 0);
        assert_memory_equal(out1, out2, sizeof(float) * T * DH);
        assert_true(th_rel_diff(out1, out + (size_t)b * T * DH, (size_t)T * DH) < 1e-5);
    }
    omp_set_num_threads(saved);
    ua_gru_work_free(w);
    free(p); free(x); free(out); free(out1); free(out2);
}

static void test_gru_few_vs_batch(void **state)
{
    (void)state;
    gru_few_vs_batch(24, 40);    /* one thread */
    gru_few_vs_batch(8, 640);    /* 3 H^2 > 1 M products per step: one caption's steps in parallel */
}

/* one caption against 300 images (few rows): the Grams given beforehand give the same bits as
 * the Grams computed inside, and the scores match a batch of 40 captions (GEMM) */
static void test_similarity_few_and_given_gram(void **state)
{
    (void)state;
    enum { N_IMG = 300, R = 5, E = 24, N_CAP = 40, L = 4 };
    ua_rng r;
    ua_rng_seed(&r, 6, 1);
    ua_embeddings e = {0};
    e.n_img = N_IMG; e.R = R; e.E = E; e.n_cap = N_CAP; e.max_len = L;
    e.img = malloc(sizeof(float) * N_IMG * R * E);
    e.cap = malloc(sizeof(float) * N_CAP * L * E);
    e.cap_len = malloc(sizeof(int) * N_CAP);
    e.cap_offset = malloc(sizeof(int) * (N_CAP + 1));
    th_unit_rows(&r, e.img, (size_t)N_IMG * R, E, 0.5);
    e.cap_offset[0] = 0;
    for (int j = 0; j < N_CAP; j++) {
        e.cap_len[j] = 1 + j % L;
        e.cap_offset[j + 1] = e.cap_offset[j] + e.cap_len[j];
    }
    th_unit_rows(&r, e.cap, (size_t)e.cap_offset[N_CAP], E, 0.5);
    float *gram = malloc(sizeof(float) * N_IMG * R * R);
    for (int i = 0; i < N_IMG; i++) ua_gram(e.img + (size_t)i * R * E, R, E, gram + (size_t)i * R * R);
    float *all = malloc(sizeof(float) * N_IMG * N_CAP), *one = malloc(sizeof(float) * N_IMG),
          *given = malloc(sizeof(float) * N_IMG);
    ua_err err;
    for (int dir = 0; dir < 2; dir++) {
        ua_attn_cfg cfg = {.direction = (ua_direction)dir, .norm = UA_NORM_CLIPPED_L2NORM, .agg = UA_AGG_MEAN,
                           .lambda_softmax = 9, .lambda_lse = 6};
        assert_int_equal(ua_similarity_matrix(&cfg, &e, all, &err), 0);
        for (int j = 0; j < N_CAP; j += 7) {
            int off[2];
            ua_embeddings q = ua_embeddings_caption(&e, j, off);
            q.n_img = e.n_img;
            q.img = e.img;
            assert_int_equal(ua_similarity_matrix(&cfg, &q, one, &err), 0);
            q.img_gram = gram;
            assert_int_equal(ua_similarity_matrix(&cfg, &q, given, &err), 0);
            assert_memory_equal(one, given, sizeof(float) * N_IMG);
            for (int i = 0; i < N_IMG; i++)
                if (!(fabs(one[i] - all[(size_t)i * N_CAP + j]) <= 1e-5))
                    fail_msg("%s caption %d image %d: alone %.9g, in the matrix %.9g", dir ? "i2t" : "t2i", j, i, one[i],
                             all[(size_t)i * N_CAP + j]);
        }
    }
    free(gram); free(all); free(one); free(given);
    ua_embeddings_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dots_exact),
        cmocka_unit_test(test_dots_same_bits),
        cmocka_unit_test(test_gru_few_vs_batch),
        cmocka_unit_test(test_similarity_few_and_given_gram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
