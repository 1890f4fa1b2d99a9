/* One training batch: encoders, block similarity, loss, and the way back. */
#include "uarda/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ua_step_work {
    int max_batch, max_len, R, E;
    ua_text_work *text;
    ua_sim_work *sim;
    float *img_pre, *img_emb, *cap_emb, *scores, *d_scores, *d_img, *d_cap;
    ua_step_hooks hooks;
    /* a data-parallel step (ua_step_set_dist): this rank's captions and images [lo, hi) */
    ua_dist dist;
    int lo, hi, B, T;
    float *cols;               /* this rank's score columns, packed [B, hi - lo], then the ranks' in turn */
    float *d_img_mine;         /* [max_batch * R, E]: this rank's images' part of d_img, summed */
    float *wmax;               /* [B captions, B images, T words]: every word's max over the regions */
    int have_wmax;             /* the last step gathered wmax (its hooks asked for it) */
    size_t *counts;            /* [dist.size] */
    ua_step_run run;           /* the step in progress runs with it (ua_step's argument) */
};

void ua_step_set_hooks(ua_step_work *w, const ua_step_hooks *hooks)
{
    if (hooks) w->hooks = *hooks;
    else memset(&w->hooks, 0, sizeof w->hooks);
    ua_sim_set_extra_grad(w->sim, w->hooks.extra_grad, w->hooks.ctx);
}

ua_sim_work *ua_step_sim(ua_step_work *w) { return w->sim; }

ua_step_work *ua_step_work_new(const ua_model *m, int max_batch, int max_len, int n_regions, ua_err *err)
{
    ua_step_work *w = calloc(1, sizeof *w);
    if (!w) { ua_fail(err, "out of memory"); return NULL; }
    const size_t E = (size_t)m->opt.embed_size, nr = (size_t)max_batch * n_regions, nw = (size_t)max_batch * max_len;
    w->max_batch = max_batch;
    w->max_len = max_len;
    w->R = n_regions;
    w->E = (int)E;
    w->dist = ua_dist_single();
    if (!(w->text = ua_text_work_new(m, max_batch, max_len, err)) ||
        !(w->sim = ua_sim_work_new(max_batch, max_batch, n_regions, max_len, (int)E, 1, err))) {
        ua_step_work_free(w);
        return NULL;
    }
    w->img_pre = malloc(nr * E * sizeof(float));
    w->img_emb = malloc(nr * E * sizeof(float));
    w->cap_emb = malloc(nw * E * sizeof(float));
    w->scores = malloc((size_t)max_batch * max_batch * sizeof(float));
    w->d_scores = malloc((size_t)max_batch * max_batch * sizeof(float));
    w->d_img = malloc(nr * E * sizeof(float));
    w->d_cap = malloc(nw * E * sizeof(float));
    if (!w->img_pre || !w->img_emb || !w->cap_emb || !w->scores || !w->d_scores || !w->d_img || !w->d_cap) {
        ua_step_work_free(w);
        ua_fail(err, "out of memory for a training batch of %d", max_batch);
        return NULL;
    }
    return w;
}

void ua_step_work_free(ua_step_work *w)
{
    if (!w) return;
    ua_text_work_free(w->text);
    ua_sim_work_free(w->sim);
    free(w->img_pre); free(w->img_emb); free(w->cap_emb); free(w->scores); free(w->d_scores); free(w->d_img); free(w->d_cap);
    free(w->cols); free(w->d_img_mine); free(w->wmax); free(w->counts);
    free(w);
}

const float *ua_step_img_emb(const ua_step_work *w) { return w->img_emb; }
const float *ua_step_cap_emb(const ua_step_work *w) { return w->cap_emb; }
const float *ua_step_scores(const ua_step_work *w) { return w->scores; }

/* one process: the whole B x B block */
static int step_single(const ua_model *m, const float *images, int R, const int *tokens, const int *lengths, int B,
                       int T, double *loss, float *grads, ua_step_work *w, ua_err *err)
{
    const int E = m->opt.embed_size;
    const size_t nr = (size_t)B * R, nw = (size_t)B * T;
    ua_image_encoder_forward(m, images, nr, w->img_pre, w->img_emb);
    if (ua_text_encoder_forward(m, tokens, lengths, B, T, w->cap_emb, w->text, err)) return -1;
    /* training scores with NAAF's training form whatever the model evaluates with */
    ua_attn_cfg cfg = ua_attn_at(&m->opt.attn, w->run.threshold);
    cfg.form = UA_FORM_TRAIN;
    if (w->hooks.column_threshold) {
        ua_sim_block_prepare(&cfg, w->img_emb, B, R, w->cap_emb, B, T, lengths, E, w->sim);
        for (int j = 0; j < B; j++) {
            cfg.threshold = w->hooks.column_threshold(w->hooks.ctx, j, w->scores, B, w->sim);
            ua_sim_block_columns(&cfg, j, j + 1, w->scores, (size_t)B, w->sim);
        }
    } else {
        ua_sim_block_forward(&cfg, w->img_emb, B, R, w->cap_emb, B, T, lengths, E, w->scores, (size_t)B, w->sim);
    }
    *loss = ua_contrastive_loss(w->scores, B, m->opt.margin, w->run.max_violation, w->d_scores);
    if (!grads) return 0;
    memset(w->d_img, 0, nr * E * sizeof(float));
    memset(w->d_cap, 0, nw * E * sizeof(float));
    ua_sim_block_backward(&cfg, w->img_emb, B, R, w->cap_emb, B, T, lengths, E, w->d_scores, (size_t)B,
                          w->d_img, w->d_cap, w->sim);
    ua_image_encoder_backward(m, images, nr, w->img_pre, w->d_img, grads + (m->fc_weight - m->params),
                              grads + (m->fc_bias - m->params));
    return ua_text_encoder_backward(m, tokens, lengths, B, T, w->d_cap, grads, w->text, err);
}

int ua_step_refuse_ranks(int ranks, ua_err *err)
{
    return ua_fail(err, "NAAF's estimator (--t-est naaf_compat) updates the threshold caption by caption inside the "
                   "forward and cannot split a batch over %d ranks: run it as one process, or use --t-est clean or "
                   "mixture", ranks);
}

int ua_step_set_dist(ua_step_work *w, const ua_dist *d, ua_err *err)
{
    free(w->cols); free(w->d_img_mine); free(w->wmax); free(w->counts);
    w->cols = w->d_img_mine = w->wmax = NULL;
    w->counts = NULL;
    w->dist = d ? *d : ua_dist_single();
    ua_sim_set_matched_offset(w->sim, 0);
    if (w->dist.size == 1) return 0;
    const size_t B = (size_t)w->max_batch, nr = B * w->R * w->E;
    w->cols = malloc(B * B * sizeof(float));
    w->d_img_mine = malloc(nr * sizeof(float));
    w->wmax = malloc(B * B * (size_t)w->max_len * sizeof(float));
    w->counts = malloc((size_t)w->dist.size * sizeof(size_t));
    if (!w->cols || !w->d_img_mine || !w->wmax || !w->counts)
        return ua_fail(err, "out of memory for a data-parallel batch of %zu", B);
    return 0;
}

const ua_dist *ua_step_dist(const ua_step_work *w) { return &w->dist; }

float ua_step_word_max(const ua_step_work *w, int image, int caption, int word)
{
    if (w->dist.size == 1) return ua_sim_word_max(w->sim, image, caption, word);
    if (!w->have_wmax) return NAN;   /* not gathered: the step's hooks did not ask (a bug, loud) */
    return w->wmax[((size_t)caption * w->B + image) * w->T + word];
}

void ua_step_add_word_max_grad(ua_step_work *w, int image, int caption, int word, float g)
{
    if (w->dist.size == 1) ua_sim_add_word_max_grad(w->sim, image, caption, word, g);
    else if (caption >= w->lo && caption < w->hi) ua_sim_add_word_max_grad(w->sim, image, caption - w->lo, word, g);
}

/* counts[r] = per_item x rank r's share of n items */
static void share_counts(const ua_step_work *w, int n, size_t per_item)
{
    for (int r = 0; r < w->dist.size; r++) {
        int lo, hi;
        ua_dist_share(n, r, w->dist.size, &lo, &hi);
        w->counts[r] = (size_t)(hi - lo) * per_item;
    }
}

/* Several ranks (issue 13): rank r encodes its share [lo, hi) of the batch's images and
 * captions; the image embeddings are all-gathered, so that it scores its captions' columns of
 * the B x B block against every image; the columns are all-gathered (with every word's max over
 * the regions, which UARDA's threshold samples read), so that every rank computes the same loss
 * on the whole block (each caption ranked against all B images, each image against all B
 * captions) and the same d_scores. The backward of its columns gives d of every image
 * embedding, reduced back to the image's owner, and d of its captions; the encoders' gradients
 * are this rank's part of the sum (the trainer all-reduces the gradient buffer). */
static int step_dist(const ua_model *m, const float *images, int R, const int *tokens, const int *lengths, int B, int T,
                     double *loss, float *grads, ua_step_work *w, ua_err *err)
{
    const ua_dist *d = &w->dist;
    const int E = m->opt.embed_size;
    int lo, hi;
    ua_dist_share(B, d->rank, d->size, &lo, &hi);
    const int n = hi - lo;
    w->lo = lo;
    w->hi = hi;
    const size_t per_img = (size_t)R * E, nr = (size_t)n * R;
    if (w->hooks.column_threshold) return ua_step_refuse_ranks(d->size, err);
    ua_sim_set_matched_offset(w->sim, lo);
    if (n > 0) {
        ua_image_encoder_forward(m, images + (size_t)lo * R * m->opt.img_dim, nr, w->img_pre, w->img_emb + lo * per_img);
        if (ua_text_encoder_forward(m, tokens + (size_t)lo * T, lengths + lo, n, T, w->cap_emb, w->text, err)) return -1;
    }
    share_counts(w, B, per_img);
    if (ua_dist_allgather_f32(d, w->img_emb, w->counts, err)) return -1;
    ua_attn_cfg cfg = ua_attn_at(&m->opt.attn, w->run.threshold);
    cfg.form = UA_FORM_TRAIN;
    /* this rank's columns, packed [B images, n], then its words' maxima [n captions, B, T] */
    float *mine = w->cols + (size_t)B * lo;
    if (n > 0) ua_sim_block_forward(&cfg, w->img_emb, B, R, w->cap_emb, n, T, lengths + lo, E, mine, (size_t)n, w->sim);
    share_counts(w, B, (size_t)B);
    if (ua_dist_allgather_f32(d, w->cols, w->counts, err)) return -1;
    for (int r = 0, j0 = 0; r < d->size; r++) {   /* rank r's packed columns into the block */
        const int nc = (int)(w->counts[r] / (size_t)B);
        const float *c = w->cols + (size_t)B * j0;
        for (int i = 0; i < B; i++)
            for (int j = 0; j < nc; j++) w->scores[(size_t)i * B + j0 + j] = c[(size_t)i * nc + j];
        j0 += nc;
    }
    w->have_wmax = w->hooks.word_max;
    if (w->have_wmax) {   /* B x B x T floats a step: only when UARDA's samples read them */
        for (int j = lo; j < hi; j++)
            for (int i = 0; i < B; i++) {
                float *row = w->wmax + ((size_t)j * B + i) * T;
                for (int t = 0; t < T; t++) row[t] = t < lengths[j] ? ua_sim_word_max(w->sim, i, j - lo, t) : 0.0f;
            }
        share_counts(w, B, (size_t)B * T);
        if (ua_dist_allgather_f32(d, w->wmax, w->counts, err)) return -1;
    }
    *loss = ua_contrastive_loss(w->scores, B, m->opt.margin, w->run.max_violation, w->d_scores);
    if (!grads) return 0;
    memset(w->d_img, 0, (size_t)B * per_img * sizeof(float));
    if (n > 0) {
        memset(w->d_cap, 0, (size_t)n * T * E * sizeof(float));
        ua_sim_block_backward(&cfg, w->img_emb, B, R, w->cap_emb, n, T, lengths + lo, E, w->d_scores + lo, (size_t)B,
                              w->d_img, w->d_cap, w->sim);
    } else if (w->hooks.extra_grad) {   /* no columns here: the hook still runs (it samples on every rank) */
        w->hooks.extra_grad(w->hooks.ctx, w->sim);
    }
    share_counts(w, B, per_img);
    if (ua_dist_reduce_scatter_f32(d, w->d_img, w->d_img_mine, w->counts, err)) return -1;
    if (n == 0) return 0;
    ua_image_encoder_backward(m, images + (size_t)lo * R * m->opt.img_dim, nr, w->img_pre, w->d_img_mine,
                              grads + (m->fc_weight - m->params), grads + (m->fc_bias - m->params));
    return ua_text_encoder_backward(m, tokens + (size_t)lo * T, lengths + lo, n, T, w->d_cap, grads, w->text, err);
}

int ua_step(const ua_model *m, const ua_step_run *run, const float *images, int R, const int *tokens,
            const int *lengths, int B, int T, double *loss, float *grads, ua_step_work *w, ua_err *err)
{
    w->run = run ? *run : (ua_step_run){0.0, m->opt.max_violation};
    if (B > w->max_batch || T > w->max_len || R != w->R)
        return ua_fail(err, "batch %d x %d (regions %d) does not fit the workspace %d x %d (regions %d)", B, T, R,
                       w->max_batch, w->max_len, w->R);
    w->lo = 0;
    w->hi = B;
    w->B = B;
    w->T = T;
    if (w->dist.size > 1) return step_dist(m, images, R, tokens, lengths, B, T, loss, grads, w, err);
    return step_single(m, images, R, tokens, lengths, B, T, loss, grads, w, err);
}
