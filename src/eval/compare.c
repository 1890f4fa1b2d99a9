/* Grounding agreement and the skip comparison (compare.h). */
#include "uarda/compare.h"
#include "uarda/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ua_time_against(double t, double ref, char *buf, size_t n)
{
    const double d = ref > 0 ? 100.0 * (ref - t) / ref : 0.0;
    snprintf(buf, n, "%.0f%% %s", d >= 0 ? d : -d, d >= 0 ? "less" : "more");
    return buf;
}

int ua_grounding_agreement(const ua_scorer *sc, const ua_split *s, const char *grounding_path, ua_grounding_stats *g,
                           const ua_progress_cb *progress, ua_err *err)
{
    memset(g, 0, sizeof *g);
    float *G = NULL, *U = NULL;
    int n_g = 0, n_u = 0;
    if (ua_grounding_samples(sc->m, s, grounding_path, 0, &G, &n_g, &U, &n_u, progress, err)) return -1;
    g->threshold = sc->attn.threshold;
    const float t = (float)g->threshold;
    for (int i = 0; i < n_g; i++) g->grounded_relevant += G[i] > t;
    for (int i = 0; i < n_u; i++) g->ungrounded_irrelevant += !(U[i] > t);
    g->grounded = n_g;
    g->ungrounded = n_u;
    free(G);
    free(U);
    return 0;
}

static int cmp_double(const void *x, const void *y)
{
    const double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* the median of t[0..n) (sorts t) */
static double median_of(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* one model: its matrix with skipping off (with the stats) and on, the largest difference, and
 * SCAN's on the same embeddings; each timed, repeats rounds of the three (their order rotated
 * from round to round, so that none always runs first, on a cold cache), the medians kept */
static int compare_one(const ua_scorer *sc, const ua_split *s, int repeats, ua_skip_comparison *c,
                       const ua_progress_cb *progress, ua_err *err)
{
    const ua_model *m = sc->m;
    int n_img = ua_split_images_used(s);
    ua_embeddings e;
    if (ua_encode_split(m, s, 0, n_img, 0, n_img * s->im_div, &e, progress, err)) return -1;
    size_t n = (size_t)e.n_img * e.n_cap;
    /* SCAN's matrix overwrites skip off's when it runs last of one round; with more rounds, skip
     * off's is compared again later and SCAN's needs its own */
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    float *x = repeats > 1 ? malloc(n * sizeof(float)) : a;
    double *secs = malloc(3 * (size_t)repeats * sizeof(double));
    int rc = -1;
    if (!a || !b || !x || !secs) {
        ua_fail(err, "out of memory for %d %d x %d similarity matrices", repeats > 1 ? 3 : 2, e.n_img, e.n_cap);
        goto out;
    }
    /* 0: skipping off, 1: on, 2: SCAN's attention (no threshold machinery) */
    ua_attn_cfg cfg[3] = {sc->attn, sc->attn, sc->attn};
    ua_attn_set_skip(&cfg[0], 0);
    ua_attn_set_skip(&cfg[1], 1);
    ua_attn_opts scan_opts = sc->attn.opt;
    scan_opts.score = UA_SCORE_SCAN;
    scan_opts.clip = UA_CLIP_SCAN;
    scan_opts.mask = UA_MASK_OFF;
    scan_opts.logit = UA_LOGIT_SCANLIKE;
    scan_opts.irr = UA_IRR_SCAN;
    cfg[2] = ua_attn_at(&scan_opts, 0.0);
    ua_attn_set_skip(&cfg[2], 0);
    float *out[3] = {a, b, x};
    /* both UARDA runs count the statistics (the same bookkeeping in each timing; the counts are
     * the same bits either way, skipping leaves the maxima alone), skip off's first are kept */
    ua_sim_stats st = {0}, again;
    for (int r = 0; r < repeats; r++)
        for (int v = 0; v < 3; v++) {
            const int k = (v + r) % 3;
            double t0 = ua_now();
            ua_sim_stats *count = k == 2 ? NULL : k == 0 && r == 0 ? &st : &again;
            if (ua_similarity_matrix_stats(&cfg[k], &e, out[k], count, progress, err)) goto out;
            secs[k * repeats + r] = ua_now() - t0;
            if (k == 1 || (k == 0 && r > 0))   /* every skip-on matrix against skip off's */
                for (size_t i = 0; i < n; i++) {
                    double d = a[i] > b[i] ? (double)a[i] - b[i] : (double)b[i] - a[i];
                    if (d > c->max_abs_difference) c->max_abs_difference = d;
                }
        }
    c->seconds_skip_off += median_of(secs, repeats);
    c->seconds_skip_on += median_of(secs + repeats, repeats);
    c->seconds_scan += median_of(secs + 2 * (size_t)repeats, repeats);
    ua_sim_stats_add(&c->stats, &st);
    rc = 0;
out:
    if (x != a) free(x);
    free(a);
    free(b);
    free(secs);
    ua_embeddings_free(&e);
    return rc;
}

int ua_compare_skipping(const ua_scorer *scorers, int n_models, const ua_split *s, int repeats, ua_skip_comparison *c,
                        const ua_progress_cb *progress, ua_err *err)
{
    memset(c, 0, sizeof *c);
    if (repeats < 1) return ua_fail(err, "the skip comparison needs at least one timed run (repeats %d)", repeats);
    c->repeats = repeats;
    for (int k = 0; k < n_models; k++)
        if (compare_one(&scorers[k], s, repeats, c, progress, err)) return -1;
    return 0;
}
