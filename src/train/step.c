/* One training batch: encoders, block similarity, loss, and the way back. */
#include "uarda/train.h"

#include <stdlib.h>
#include <string.h>

struct ua_step_work {
    int max_batch, max_len, R, E;
    ua_text_work *text;
    ua_sim_work *sim;
    float *img_pre, *img_emb, *cap_emb, *scores, *d_scores, *d_img, *d_cap;
    ua_step_hooks hooks;
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
    free(w);
}

const float *ua_step_img_emb(const ua_step_work *w) { return w->img_emb; }
const float *ua_step_cap_emb(const ua_step_work *w) { return w->cap_emb; }
const float *ua_step_scores(const ua_step_work *w) { return w->scores; }

int ua_step(const ua_model *m, const float *images, int R, const int *tokens, const int *lengths, int B, int T,
            double *loss, float *grads, ua_step_work *w, ua_err *err)
{
    if (B > w->max_batch || T > w->max_len || R != w->R)
        return ua_fail(err, "batch %d x %d (regions %d) does not fit the workspace %d x %d (regions %d)", B, T, R,
                       w->max_batch, w->max_len, w->R);
    const int E = m->opt.embed_size;
    const size_t nr = (size_t)B * R, nw = (size_t)B * T;
    ua_image_encoder_forward(m, images, nr, w->img_pre, w->img_emb);
    if (ua_text_encoder_forward(m, tokens, lengths, B, T, w->cap_emb, w->text, err)) return -1;
    /* training scores with NAAF's training form whatever the model evaluates with */
    ua_attn_cfg cfg = m->opt.attn;
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
    *loss = ua_contrastive_loss(w->scores, B, m->opt.margin, m->opt.max_violation, w->d_scores);
    if (!grads) return 0;
    memset(w->d_img, 0, nr * E * sizeof(float));
    memset(w->d_cap, 0, nw * E * sizeof(float));
    ua_sim_block_backward(&cfg, w->img_emb, B, R, w->cap_emb, B, T, lengths, E, w->d_scores, (size_t)B,
                          w->d_img, w->d_cap, w->sim);
    ua_image_encoder_backward(m, images, nr, w->img_pre, w->d_img, grads + (m->fc_weight - m->params),
                              grads + (m->fc_bias - m->params));
    return ua_text_encoder_backward(m, tokens, lengths, B, T, w->d_cap, grads, w->text, err);
}
