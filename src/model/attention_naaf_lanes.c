/* NAAF's pair score with the queries in vector lanes: see attention_naaf_lanes.h for what it
 * computes and how it differs from the generic kernel (attention_naaf.inc), and
 * include/uarda/attention.h ("NAAF's score") for the formulas.
 *
 * The steps, per pair (c context items ci, q queries k, z = LeakyReLU_0.1(x)):
 *   1. gmax_k = max_ci x, inv_ci = 1 / (sqrt(sum_k z^2) + 1e-8)   (and, if asked, the counts)
 *   2. neg_k = gmax_k - t where the negative branch is on (test form: the smoothed
 *      s'_k = sum_l PT[l][k] (gmax_l - t) < 0; training form: gmax_k - t < 0), else 0
 *   3. the relevance part: e = exp(lambda z inv - m), pr_k = (sum e x) / (sum e)
 *   4. the feature part, for the queries with an entry above t: f = exp(lambda (x - t) - mx) over
 *      x > t (mx = lambda (gmax - t), the largest of them), Z = sum f + 1e-8 exp(-mx),
 *      pf_k = ((sum f x) / Z) / max(sqrt(f^T G f) / Z, 1e-8)   (f^T G f with G's symmetry)
 *   5. R_k = neg_k + pf_k + pr_k, the score their mean
 * Steps 3 and 4 run on chunks of up to 4 vectors of 8 queries, whose sums stay in registers.
 * With skip, a chunk whose queries have no entry above t leaves out step 4: its pf are 0, as
 * step 4 computes them (no f is nonzero: (0 / Z) / 1e-8 = 0), so skip on and off give the same
 * bits. Compiled as attention_scan_lanes.c is (CMakeLists.txt): fused multiply-adds where the
 * machine has them, the same bits from run to run and for any number of threads. */
#include "model/attention_naaf_lanes.h"

#include <math.h>

#include "model/vec8.h"

enum { MAX_W = 4 };   /* a chunk: at most MAX_W vectors of LANES queries */

static const float NAAF_EPS = 1e-8f, NAAF_LEAK = 0.1f;

static inline size_t round_lanes(int q) { return (size_t)(q + LANES - 1) / LANES * LANES; }

/* the chunk's relevance exponentials and feature exponentials (c x MAX_W vectors each) |
 * inv[c] | gmax, neg, R [q rounded up to 8 each] */
size_t ua_naaf_lanes_work(int c, int q) { return 2 * (size_t)c * MAX_W * LANES + (size_t)c + 3 * round_lanes(q) + LANES; }

/* x of context item ci in lanes k0 .. k0 + 8W, the lanes past q zero */
#define ROW_(w) select8(ok[w], load8(X + (size_t)ci * ldx + k0 + (size_t)(w) * LANES), splat8(0.0f))

static inline v8 leaky8(v8 x) { return select8(x < splat8(0.0f), x * NAAF_LEAK, x); }

/* steps 3 to 5 for the queries k0 .. k0 + 8W - 1 (those below q count), R into R[k0 ..] */
static inline __attribute__((always_inline)) void chunk(const ua_attn_cfg *cfg, const float *X, size_t ldx, int c,
                                                        int q, int k0, int W, const float *G, const float *inv,
                                                        const float *gmax, const float *neg, float *e_buf,
                                                        float *f_buf, float *R)
{
    const float lam = (float)cfg->lambda_softmax, t = (float)cfg->threshold;
    v8i ok[MAX_W], fr[MAX_W];
    v8 m[MAX_W], s[MAX_W], px[MAX_W], mx[MAX_W], z[MAX_W], pxf[MAX_W], g[MAX_W];
    int any = 0;
    for (int w = 0; w < W; w++) {
        ok[w] = first_lanes(q - k0 - w * LANES);
        const v8 gm = load8(gmax + k0 + w * LANES);
        fr[w] = ok[w] & (gm > splat8(t));   /* the queries with an entry above t */
        mx[w] = select8(fr[w], lam * (gm - t), splat8(0.0f));
        m[w] = splat8(-3.0e38f);
        s[w] = px[w] = z[w] = pxf[w] = g[w] = splat8(0.0f);
        for (int l = 0; l < LANES; l++) any |= fr[w][l];
    }
    const int feature = any || !cfg->skip;
    /* 3a. the relevance logits, kept in e_buf, and their maximum; 4a. the feature exponentials */
    for (int ci = 0; ci < c; ci++)
        for (int w = 0; w < W; w++) {
            const v8 x = ROW_(w);
            const v8 l = lam * (leaky8(x) * inv[ci]);
            store8(e_buf + ((size_t)ci * W + w) * LANES, l);
            m[w] = max8v(m[w], l);
            if (feature) {
                const v8 d = lam * (x - t) - mx[w];
                const v8 f = select8(x > splat8(t), exp_nonpos8(select8(d < splat8(0.0f), d, splat8(0.0f))),
                                     splat8(0.0f));
                store8(f_buf + ((size_t)ci * W + w) * LANES, f);
                z[w] += f;
                pxf[w] += f * x;
            }
        }
    /* 3b. the relevance softmax, unnormalised: its sum and sum e x */
    for (int ci = 0; ci < c; ci++)
        for (int w = 0; w < W; w++) {
            const v8 d = load8(e_buf + ((size_t)ci * W + w) * LANES) - m[w];
            const v8 e = exp_nonpos8(select8(d < splat8(0.0f), d, splat8(0.0f)));
            s[w] += e;
            px[w] += e * ROW_(w);
        }
    /* 4b. f^T G f over the upper triangle, two rows of G at a time */
    if (feature) {
        int ci = 0;
        for (; ci + 2 <= c; ci += 2) {
            const float *Ga = G + (size_t)ci * c, *Gb = Ga + c;
            v8 ta[MAX_W], tb[MAX_W], fa[MAX_W], fb[MAX_W];
            for (int w = 0; w < W; w++) {
                fa[w] = load8(f_buf + ((size_t)ci * W + w) * LANES);
                fb[w] = load8(f_buf + ((size_t)(ci + 1) * W + w) * LANES);
                ta[w] = Ga[ci + 1] * fb[w];
                tb[w] = splat8(0.0f);
            }
            for (int cj = ci + 2; cj < c; cj++) {
                const float ga = Ga[cj], gb = Gb[cj];
                for (int w = 0; w < W; w++) {
                    const v8 fj = load8(f_buf + ((size_t)cj * W + w) * LANES);
                    ta[w] += ga * fj;
                    tb[w] += gb * fj;
                }
            }
            for (int w = 0; w < W; w++) {
                g[w] += fa[w] * (Ga[ci] * fa[w] + 2.0f * ta[w]);
                g[w] += fb[w] * (Gb[ci + 1] * fb[w] + 2.0f * tb[w]);
            }
        }
        if (ci < c)
            for (int w = 0; w < W; w++) {
                const v8 fi = load8(f_buf + ((size_t)ci * W + w) * LANES);
                g[w] += fi * (G[(size_t)ci * c + ci] * fi);
            }
    }
    /* 4c and 5: pf, then R = neg + pf + pr; sqrt on the stored lanes (vectorizes without errno) */
    float an[MAX_W * LANES];
    v8 iz[MAX_W];
    for (int w = 0; w < W; w++) {
        iz[w] = 1.0f / (z[w] + NAAF_EPS * exp_nonpos8(-mx[w]));
        const v8 a2 = g[w] * iz[w] * iz[w];
        store8(an + w * LANES, select8(a2 > splat8(0.0f), a2, splat8(0.0f)));
    }
    for (int k = 0; k < W * LANES; k++) an[k] = sqrtf(an[k]);
    for (int w = 0; w < W; w++) {
        const v8 a = load8(an + w * LANES);
        const v8 pf = feature ? (pxf[w] * iz[w]) / select8(a > splat8(NAAF_EPS), a, splat8(NAAF_EPS)) : splat8(0.0f);
        const v8 r = load8(neg + k0 + w * LANES) + pf + px[w] / s[w];
        store8(R + k0 + w * LANES, select8(ok[w], r, splat8(0.0f)));
    }
}
#undef ROW_

float ua_naaf_lanes_forward(const ua_attn_cfg *cfg, const float *X, size_t ldx, int c, int q, const float *G,
                            const float *PT, float *work, int counts[2])
{
    const int n_vec = (q + LANES - 1) / LANES;
    const size_t qp = round_lanes(q);
    float *eb = work, *fb = eb + (size_t)c * MAX_W * LANES, *inv = fb + (size_t)c * MAX_W * LANES;
    float *gmax = inv + c, *neg = gmax + qp, *R = neg + qp;   /* any alignment */
    const float t = (float)cfg->threshold;
    if (cfg->form == UA_FORM_TEST && !PT) return NAN;   /* as the generic kernel: no silent answer */
    /* 1. the maxima down the context, the norm over the queries per context item, the counts */
    for (int v = 0; v < n_vec; v++) store8(gmax + v * LANES, splat8(-3.0e38f));
    v8i masked = {0};
    for (int ci = 0; ci < c; ci++) {
        v8 acc = splat8(0.0f);
        for (int v = 0; v < n_vec; v++) {
            const v8i ok = first_lanes(q - v * LANES);
            const v8 x = select8(ok, load8(X + (size_t)ci * ldx + (size_t)v * LANES), splat8(0.0f));
            store8(gmax + v * LANES, max8v(load8(gmax + v * LANES), x));
            const v8 zz = leaky8(x);
            acc += zz * zz;
            if (counts) masked -= ok & ~(x > splat8(t));   /* -1 per masked entry */
        }
        inv[ci] = hsum8(acc);
    }
    for (int ci = 0; ci < c; ci++) inv[ci] = 1.0f / (sqrtf(inv[ci]) + NAAF_EPS);
    if (counts) {
        int irr = 0, m = 0;
        for (int k = 0; k < q; k++) irr += !(gmax[k] > t);
        for (int l = 0; l < LANES; l++) m += masked[l];
        counts[0] = irr;
        counts[1] = m;
    }
    /* 2. the negative branch (the smoothed sums in the order of the generic kernel) */
    if (cfg->form == UA_FORM_TRAIN) {
        for (int k = 0; k < q; k++) neg[k] = gmax[k] - t < 0 ? gmax[k] - t : 0.0f;
    } else {
        for (int k = 0; k < q; k++) neg[k] = 0;
        for (int l = 0; l < q; l++) {
            const float d = gmax[l] - t, *restrict p = PT + (size_t)l * q;
            for (int k = 0; k < q; k++) neg[k] += p[k] * d;
        }
        for (int k = 0; k < q; k++) neg[k] = neg[k] < 0 ? gmax[k] - t : 0.0f;
    }
    for (size_t k = (size_t)q; k < qp; k++) neg[k] = 0;
    /* 3 to 5, chunk by chunk */
    for (int k0 = 0, v = 0; v < n_vec;) {
        const int W = n_vec - v < MAX_W ? n_vec - v : MAX_W;
        switch (W) {
        case 1: chunk(cfg, X, ldx, c, q, k0, 1, G, inv, gmax, neg, eb, fb, R); break;
        case 2: chunk(cfg, X, ldx, c, q, k0, 2, G, inv, gmax, neg, eb, fb, R); break;
        case 3: chunk(cfg, X, ldx, c, q, k0, 3, G, inv, gmax, neg, eb, fb, R); break;
        default: chunk(cfg, X, ldx, c, q, k0, 4, G, inv, gmax, neg, eb, fb, R); break;
        }
        v += W;
        k0 += W * LANES;
    }
    v8 acc = splat8(0.0f);   /* R is 0 past q */
    for (int v = 0; v < n_vec; v++) acc += load8(R + v * LANES);
    return hsum8(acc) / (float)q;
}
