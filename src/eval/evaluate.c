/* SCAN's evaluation protocols (spec scan.md 4.2-4.5): full split, 5-fold 1K, ensembles. */
#include "uarda/eval.h"

#include <stdlib.h>
#include <string.h>

ua_scorer ua_scorer_of(const ua_model *m, double threshold)
{
    return (ua_scorer){m, ua_attn_at(&m->opt.attn, threshold)};
}

int ua_split_similarity(const ua_scorer *scorers, int n_models, const ua_split *s, int first_img, int n_img,
                        int first_cap, int n_cap, float *sims, const ua_progress_cb *progress, ua_err *err)
{
    const ua_dist one = ua_dist_single();
    return ua_split_similarity_ranks(scorers, n_models, s, first_img, n_img, first_cap, n_cap, sims, progress, &one, err);
}

int ua_split_similarity_ranks(const ua_scorer *scorers, int n_models, const ua_split *s, int first_img, int n_img,
                              int first_cap, int n_cap, float *sims, const ua_progress_cb *progress, const ua_dist *d,
                              ua_err *err)
{
    size_t n = (size_t)n_img * n_cap;
    float *one = n_models > 1 ? malloc(n * sizeof(float)) : sims;
    if (!one) return ua_fail(err, "out of memory for a %d x %d similarity matrix", n_img, n_cap);
    int rc = 0;
    for (int k = 0; k < n_models && !rc; k++) {
        ua_embeddings e;
        if ((rc = ua_encode_split(scorers[k].m, s, first_img, n_img, first_cap, n_cap, &e, progress, err))) break;
        rc = ua_similarity_matrix_ranks(&scorers[k].attn, &e, one, NULL, progress, d, err);
        ua_embeddings_free(&e);
        if (rc || n_models == 1) break;
        if (d->rank == 0) for (size_t i = 0; i < n; i++) sims[i] = k == 0 ? one[i] : sims[i] + one[i];
    }
    if (n_models > 1) {
        if (!rc && d->rank == 0) for (size_t i = 0; i < n; i++) sims[i] /= (float)n_models;
        free(one);
    }
    return rc;
}

int ua_evaluate_split(const ua_scorer *scorers, int n_models, const ua_split *s, int fold5, ua_recall *r,
                      const ua_progress_cb *progress, ua_err *err)
{
    const ua_dist one = ua_dist_single();
    return ua_evaluate_split_ranks(scorers, n_models, s, fold5, &one, r, NULL, progress, err);
}

int ua_evaluate_split_ranks(const ua_scorer *scorers, int n_models, const ua_split *s, int fold5, const ua_dist *d,
                            ua_recall *r, float **sims_out, const ua_progress_cb *progress, ua_err *err)
{
    int n_img = ua_split_images_used(s), n_cap = n_img * s->im_div;
    if (n_cap > s->n_items) n_img = s->n_items / s->im_div, n_cap = n_img * s->im_div;
    int folds = fold5 ? 5 : 1;
    if (fold5 && n_img % 5)
        return ua_fail(err, "--fold5 needs a number of images divisible by 5 (split %s has %d; use testall for MS-COCO 1K)",
                       s->name, n_img);
    int fi = n_img / folds, fc = n_cap / folds;
    float *sims = malloc((size_t)fi * fc * sizeof(float));
    if (!sims) return ua_fail(err, "out of memory for a %d x %d similarity matrix", fi, fc);
    memset(r, 0, sizeof *r);
    int rc = 0;
    for (int k = 0; k < folds && !rc; k++) {
        ua_recall one;
        rc = ua_split_similarity_ranks(scorers, n_models, s, k * fi, fi, k * fc, fc, sims, progress, d, err) ||
             (d->rank == 0 && ua_recall_compute(sims, fi, fc, s->im_div, &one, NULL, NULL, err)) ||
             ua_dist_bcast(d, &one, sizeof one, err);   /* rank 0's recall on every rank */
        if (rc) break;
        for (int i = 0; i < 5; i++) { r->i2t[i] += one.i2t[i] / folds; r->t2i[i] += one.t2i[i] / folds; }
        r->rsum += one.rsum / folds;
    }
    if (!rc && sims_out && !fold5) *sims_out = sims;
    else free(sims);
    return rc ? -1 : 0;
}
