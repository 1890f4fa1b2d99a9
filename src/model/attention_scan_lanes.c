/* SCAN's pair score with the queries in vector lanes: see attention_scan_lanes.h for what it
 * computes and how it differs from the generic kernel (attention_pair.inc).
 *
 * The steps, per pair (c context items ci, q queries k; z = LeakyReLU_0.1(x) for clipped_l2norm,
 * z = x for l2norm):
 *   1. inv_ci = 1 / (sqrt(sum_k z_ci,k^2) + 1e-8)           the norm over the queries
 *   2. l_ci,k = lambda_1 (z_ci,k inv_ci), m_k = max_ci l      the logits and their maximum
 *   3. e_ci,k = exp(l - m), s_k = sum_ci e, p_k = sum_ci e x  the softmax, unnormalised
 *   4. g_k = e_k^T G e_k = sum_ci e_ci (G_ii e_ci + 2 sum_{cj > ci} G_ij e_cj)
 *   5. R_k = (p_k / s_k) / max(|q_k| sqrt(g_k) / s_k, 1e-8)    the cosine of query and attended context
 *   6. the aggregation over k (attention.h)
 * Steps 2 to 5 run on chunks of up to 4 vectors of 8 queries, whose values stay in registers.
 * This file is compiled with -ffp-contract=fast (CMakeLists.txt): its multiply-adds are fused
 * where the machine has FMA, so its bits depend on the build, as OpenBLAS's do, and are the same
 * from run to run and for any number of threads (a pair is one thread's). */
#include "model/attention_scan_lanes.h"

#include <math.h>

#include "model/vec8.h"

enum { MAX_W = 4 };   /* a chunk: at most MAX_W vectors of LANES queries */

int ua_scan_lanes_ok(const ua_attn_cfg *cfg)
{
    return cfg->score == UA_SCORE_SCAN && cfg->clip == UA_CLIP_SCAN && cfg->mask == UA_MASK_OFF &&
           cfg->logit == UA_LOGIT_SCANLIKE && cfg->irr == UA_IRR_SCAN &&
           (cfg->norm == UA_NORM_CLIPPED_L2NORM || cfg->norm == UA_NORM_L2NORM);
}

/* the chunk's exponentials (c x MAX_W vectors) | inv[c] | R[q rounded up to 8] */
size_t ua_scan_lanes_work(int c, int q)
{
    return (size_t)c * MAX_W * LANES + (size_t)c + (size_t)(q + LANES - 1) / LANES * LANES + LANES;
}

/* x of context item ci in lanes k0 .. k0 + 8W, the lanes past q zero */
#define ROW_(w) select8(ok[w], load8(X + (size_t)ci * ldx + k0 + (size_t)(w) * LANES), splat8(0.0f))

/* steps 2 to 5 for the queries k0 .. k0 + 8W - 1 (those below q count), R into R[k0 ..] */
static inline __attribute__((always_inline)) void chunk(const float *X, size_t ldx, int c, int q, int k0, int W,
                                                        int leaky, float lam, const float *G, const float *qn,
                                                        const float *inv, float *e_buf, float *R)
{
    v8i ok[MAX_W];
    v8 m[MAX_W], s[MAX_W], px[MAX_W], g[MAX_W];
    for (int w = 0; w < W; w++) {
        ok[w] = first_lanes(q - k0 - w * LANES);
        m[w] = splat8(-3.0e38f);
        s[w] = px[w] = g[w] = splat8(0.0f);
    }
    /* 2. the logits, kept in e_buf, and their maximum over the context */
    for (int ci = 0; ci < c; ci++)
        for (int w = 0; w < W; w++) {
            v8 z = ROW_(w);
            if (leaky) z = select8(z < splat8(0.0f), z * 0.1f, z);
            const v8 l = lam * (z * inv[ci]);
            store8(e_buf + ((size_t)ci * W + w) * LANES, l);
            m[w] = max8v(m[w], l);
        }
    /* 3. the exponentials (arguments <= 0 by construction; min for safety), their sum, sum e x */
    for (int ci = 0; ci < c; ci++)
        for (int w = 0; w < W; w++) {
            v8 d = load8(e_buf + ((size_t)ci * W + w) * LANES) - m[w];
            const v8 e = exp_nonpos8(select8(d < splat8(0.0f), d, splat8(0.0f)));
            store8(e_buf + ((size_t)ci * W + w) * LANES, e);
            s[w] += e;
            px[w] += e * ROW_(w);
        }
    /* 4. e^T G e over the upper triangle, two rows of G at a time (each e_cj loaded once for both) */
    int ci = 0;
    for (; ci + 2 <= c; ci += 2) {
        const float *Ga = G + (size_t)ci * c, *Gb = Ga + c;
        v8 ta[MAX_W], tb[MAX_W], ea[MAX_W], eb[MAX_W];
        for (int w = 0; w < W; w++) {
            ea[w] = load8(e_buf + ((size_t)ci * W + w) * LANES);
            eb[w] = load8(e_buf + ((size_t)(ci + 1) * W + w) * LANES);
            ta[w] = Ga[ci + 1] * eb[w];   /* row ci's first term past its diagonal */
            tb[w] = splat8(0.0f);
        }
        for (int cj = ci + 2; cj < c; cj++) {
            const float ga = Ga[cj], gb = Gb[cj];
            for (int w = 0; w < W; w++) {
                const v8 ej = load8(e_buf + ((size_t)cj * W + w) * LANES);
                ta[w] += ga * ej;
                tb[w] += gb * ej;
            }
        }
        for (int w = 0; w < W; w++) {
            g[w] += ea[w] * (Ga[ci] * ea[w] + 2.0f * ta[w]);
            g[w] += eb[w] * (Gb[ci + 1] * eb[w] + 2.0f * tb[w]);
        }
    }
    if (ci < c) {   /* the last row: its diagonal alone */
        for (int w = 0; w < W; w++) {
            const v8 ei = load8(e_buf + ((size_t)ci * W + w) * LANES);
            g[w] += ei * (G[(size_t)ci * c + ci] * ei);
        }
    }
    /* 5. the cosines; sqrt on the stored lanes (the loop vectorizes without errno) */
    float an[MAX_W * LANES];
    v8 inv_s[MAX_W];
    for (int w = 0; w < W; w++) {
        inv_s[w] = 1.0f / s[w];
        v8 a2 = g[w] * inv_s[w] * inv_s[w];
        store8(an + w * LANES, select8(a2 > splat8(0.0f), a2, splat8(0.0f)));
    }
    for (int k = 0; k < W * LANES; k++) an[k] = sqrtf(an[k]);
    for (int w = 0; w < W; w++) {
        const v8 prod = select8(ok[w], load8(qn + k0 + w * LANES), splat8(0.0f)) * load8(an + w * LANES);
        const v8 den = select8(prod > splat8(1e-8f), prod, splat8(1e-8f));
        store8(R + k0 + w * LANES, select8(ok[w], px[w] * inv_s[w] / den, splat8(0.0f)));
    }
}
#undef ROW_

float ua_scan_lanes_forward(const ua_attn_cfg *cfg, const float *X, size_t ldx, int c, int q, const float *G,
                            const float *qn, float *work)
{
    const int leaky = cfg->norm == UA_NORM_CLIPPED_L2NORM;
    const int n_vec = (q + LANES - 1) / LANES;
    float *eb = work, *inv = work + (size_t)c * MAX_W * LANES, *R = inv + c;   /* any alignment */
    /* 1. the norm over the queries, per context item */
    for (int ci = 0; ci < c; ci++) {
        v8 acc = splat8(0.0f);
        for (int v = 0; v < n_vec; v++) {
            v8 z = select8(first_lanes(q - v * LANES), load8(X + (size_t)ci * ldx + (size_t)v * LANES), splat8(0.0f));
            if (leaky) z = select8(z < splat8(0.0f), z * 0.1f, z);
            acc += z * z;
        }
        inv[ci] = hsum8(acc);
    }
    for (int ci = 0; ci < c; ci++) inv[ci] = 1.0f / (sqrtf(inv[ci]) + 1e-8f);
    /* 2-5, chunk by chunk */
    const float lam = (float)cfg->lambda_softmax;
    for (int k0 = 0, v = 0; v < n_vec;) {
        const int W = n_vec - v < MAX_W ? n_vec - v : MAX_W;
        switch (W) {
        case 1: chunk(X, ldx, c, q, k0, 1, leaky, lam, G, qn, inv, eb, R); break;
        case 2: chunk(X, ldx, c, q, k0, 2, leaky, lam, G, qn, inv, eb, R); break;
        case 3: chunk(X, ldx, c, q, k0, 3, leaky, lam, G, qn, inv, eb, R); break;
        default: chunk(X, ldx, c, q, k0, 4, leaky, lam, G, qn, inv, eb, R); break;
        }
        v += W;
        k0 += W * LANES;
    }
    /* 6. the aggregation over the q queries */
    float score = 0;
    switch (cfg->agg) {
    case UA_AGG_LOGSUMEXP: {
        /* log(sum_k exp(l2 R_k)) / l2 = log(sum_k exp(l2 (R_k - M))) / l2 + M, M = max_k R_k */
        const float l2 = (float)cfg->lambda_lse;
        float M = R[0];
        for (int k = 1; k < q; k++) M = R[k] > M ? R[k] : M;
        v8 acc = splat8(0.0f);
        for (int v = 0; v < n_vec; v++) {
            v8 d = l2 * (load8(R + v * LANES) - M);
            d = select8(d < splat8(0.0f), d, splat8(0.0f));
            acc += select8(first_lanes(q - v * LANES), exp_nonpos8(d), splat8(0.0f));
        }
        score = logf(hsum8(acc)) / l2 + M;
        break;
    }
    case UA_AGG_MEAN:
    case UA_AGG_SUM: {
        v8 acc = splat8(0.0f);   /* R is 0 past q */
        for (int v = 0; v < n_vec; v++) acc += load8(R + v * LANES);
        score = hsum8(acc);
        if (cfg->agg == UA_AGG_MEAN) score /= (float)q;
        break;
    }
    case UA_AGG_MAX:
        score = R[0];
        for (int k = 1; k < q; k++) score = R[k] > score ? R[k] : score;
        break;
    }
    return score;
}
