/* UARDA's threshold and separation loss around a training step (see train.h). */
#include "uarda/train.h"

#include <stdlib.h>
#include <string.h>

int ua_uarda_trainer_init(ua_uarda_trainer *t, const ua_relevance_cfg *cfg, int thresholded, int max_batch,
                          uint64_t seed, ua_err *err)
{
    memset(t, 0, sizeof *t);
    t->cfg = *cfg;
    t->thresholded = thresholded;
    t->col = malloc((size_t)max_batch * sizeof(float));
    if (!t->col) return ua_fail(err, "out of memory");
    if (ua_relevance_init(&t->st, cfg, err)) return -1;
    ua_rng_seed(&t->st.rng, seed, UA_RNG_THRESH);
    return 0;
}

void ua_uarda_trainer_free(ua_uarda_trainer *t)
{
    if (!t) return;
    ua_relevance_free(&t->st);
    free(t->col);
    memset(t, 0, sizeof *t);
}

static float word_max(void *ctx, int image, int caption, int word)
{
    return ua_step_word_max((const ua_step_work *)ctx, image, caption, word);
}

/* naaf_compat: caption j-1 is processed (gate, samples, maybe an update) before column j */
static double naaf_column_threshold(void *ctx, int j, const float *scores, int B, ua_sim_work *sim)
{
    ua_uarda_trainer *t = ctx;
    (void)sim;
    if (j > 0 && !t->failed) {
        for (int k = 0; k < B; k++) t->col[k] = scores[(size_t)k * B + (j - 1)];
        if (ua_relevance_naaf_caption(&t->st, &t->cfg, t->col, j - 1, B, t->lengths[j - 1], word_max, t->step, &t->st.rng,
                                      t->err) < 0)
            t->failed = 1;
    }
    return ua_relevance_t_train(&t->st, &t->cfg);
}

/* the separation loss on the batch's samples: its value, and its gradient into the block's
 * dot products (each sample is a max over regions: the gradient goes to the argmax region) */
static void sep_extra_grad(void *ctx, ua_sim_work *sim)
{
    ua_uarda_trainer *t = ctx;
    ua_rel_samples *s = &t->st.batch;
    t->sep_loss = 0;
    if (t->failed || s->n < 2) return;
    float *d_pos = malloc((size_t)s->n * sizeof(float)), *d_neg = malloc((size_t)s->n * sizeof(float));
    if (!d_pos || !d_neg) { free(d_pos); free(d_neg); t->failed = 1; ua_fail(t->err, "out of memory"); return; }
    double l = ua_sep_loss(&t->cfg, t->t_step, s->pos, s->n, s->neg, s->n, d_pos, d_neg);
    const float lam = (float)t->cfg.lambda_sep;
    t->sep_loss = t->cfg.lambda_sep * l;
    for (int i = 0; i < s->n; i++) {
        ua_step_add_word_max_grad(t->step, s->caption[i], s->caption[i], s->word[i], lam * d_pos[i]);
        ua_step_add_word_max_grad(t->step, s->neg_image[i], s->caption[i], s->word[i], lam * d_neg[i]);
    }
    free(d_pos);
    free(d_neg);
}

/* clean mode with a separation loss: the samples are collected before the backward */
static void clean_collect_then_sep(void *ctx, ua_sim_work *sim)
{
    ua_uarda_trainer *t = ctx;
    if (ua_rel_collect(&t->st.batch, &t->cfg, t->scores_for_collect, t->B, t->lengths, t->image_of, word_max, t->step,
                       &t->st.rng, t->err) < 0) {
        t->failed = 1;
        return;
    }
    sep_extra_grad(ctx, sim);
}

int ua_uarda_step(ua_uarda_trainer *t, const ua_model *m, int max_violation, const float *images, int R,
                  const int *tokens, const int *lengths, const int *image_of, int B, int T, double *loss, float *grads,
                  ua_step_work *w, ua_err *err)
{
    const int adaptive = t->thresholded && t->cfg.t_mode == UA_T_ADAPTIVE;
    const int naaf = adaptive && t->cfg.t_est == UA_T_EST_NAAF_COMPAT;
    const int sep = t->thresholded && t->cfg.sep != UA_SEP_NONE && t->cfg.lambda_sep > 0 && grads;
    t->t_step = ua_relevance_t_train(&t->st, &t->cfg);
    const ua_step_run run = {t->thresholded ? t->t_step : 0.0, max_violation};
    t->B = B;
    t->lengths = lengths;
    t->image_of = image_of;
    t->err = err;
    t->failed = 0;
    t->sep_loss = 0;
    t->step = w;
    ua_step_hooks hooks = {0};
    hooks.ctx = t;
    hooks.word_max = adaptive || sep;
    if (naaf) {
        ua_relevance_naaf_begin_batch(&t->st);
        hooks.column_threshold = naaf_column_threshold;
    }
    if (sep) hooks.extra_grad = naaf ? sep_extra_grad : clean_collect_then_sep;
    ua_step_set_hooks(w, &hooks);
    ua_sim_stats_reset(ua_step_sim(w));
    t->scores_for_collect = ua_step_scores(w);
    int rc = ua_step(m, &run, images, R, tokens, lengths, B, T, loss, grads, w, err);
    ua_step_set_hooks(w, NULL);
    if (rc || t->failed) return -1;
    ua_sim_stats_get(ua_step_sim(w), &t->stats);
    if (ua_sim_stats_sum_ranks(&t->stats, ua_step_dist(w), err)) return -1;
    if (naaf) {
        /* the last caption of the batch */
        const float *scores = ua_step_scores(w);
        for (int k = 0; k < B; k++) t->col[k] = scores[(size_t)k * B + (B - 1)];
        if (ua_relevance_naaf_caption(&t->st, &t->cfg, t->col, B - 1, B, lengths[B - 1], word_max, w, &t->st.rng, err) < 0)
            return -1;
    } else if (adaptive) {
        if (sep) ua_relevance_update_clean_samples(&t->st, &t->cfg, t->st.batch.pos, t->st.batch.neg, t->st.batch.n);
        else if (ua_relevance_update_clean(&t->st, &t->cfg, ua_step_scores(w), B, lengths, image_of, word_max, w,
                                           &t->st.rng, err))
            return -1;
    }
    *loss += t->sep_loss;
    return 0;
}
