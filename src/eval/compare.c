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

/* one model: its matrix with skipping off (with the stats) and on, the largest difference, then
 * SCAN's on the same embeddings; each timed */
static int compare_one(const ua_scorer *sc, const ua_split *s, ua_skip_comparison *c, const ua_progress_cb *progress,
                       ua_err *err)
{
    const ua_model *m = sc->m;
    int n_img = ua_split_images_used(s);
    ua_embeddings e;
    if (ua_encode_split(m, s, 0, n_img, 0, n_img * s->im_div, &e, progress, err)) return -1;
    size_t n = (size_t)e.n_img * e.n_cap;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    int rc = -1;
    if (!a || !b) {
        ua_fail(err, "out of memory for two %d x %d similarity matrices", e.n_img, e.n_cap);
        goto out;
    }
    ua_attn_cfg cfg = sc->attn;
    ua_sim_stats st = {0};
    ua_attn_set_skip(&cfg, 0);
    double t1 = ua_now();
    if (ua_similarity_matrix_stats(&cfg, &e, a, &st, progress, err)) goto out;
    double t2 = ua_now();
    ua_attn_set_skip(&cfg, 1);
    if (ua_similarity_matrix_stats(&cfg, &e, b, NULL, progress, err)) goto out;
    double t3 = ua_now();
    for (size_t i = 0; i < n; i++) {
        double d = a[i] > b[i] ? (double)a[i] - b[i] : (double)b[i] - a[i];
        if (d > c->max_abs_difference) c->max_abs_difference = d;
    }
    /* SCAN's attention on the same embeddings: no threshold machinery */
    ua_attn_opts scan_opts = sc->attn.opt;
    scan_opts.score = UA_SCORE_SCAN;
    scan_opts.clip = UA_CLIP_SCAN;
    scan_opts.mask = UA_MASK_OFF;
    scan_opts.logit = UA_LOGIT_SCANLIKE;
    scan_opts.irr = UA_IRR_SCAN;
    ua_attn_cfg scan = ua_attn_at(&scan_opts, 0.0);
    ua_attn_set_skip(&scan, 0);
    double t4 = ua_now();
    if (ua_similarity_matrix_stats(&scan, &e, a, NULL, progress, err)) goto out;
    c->seconds_skip_off += t2 - t1;
    c->seconds_skip_on += t3 - t2;
    c->seconds_scan += ua_now() - t4;
    ua_sim_stats_add(&c->stats, &st);
    rc = 0;
out:
    free(a);
    free(b);
    ua_embeddings_free(&e);
    return rc;
}

int ua_compare_skipping(const ua_scorer *scorers, int n_models, const ua_split *s, ua_skip_comparison *c,
                        const ua_progress_cb *progress, ua_err *err)
{
    memset(c, 0, sizeof *c);
    for (int k = 0; k < n_models; k++)
        if (compare_one(&scorers[k], s, c, progress, err)) return -1;
    return 0;
}
