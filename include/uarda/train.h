/* Training: one batch's forward and backward through the whole model, gradient clipping and
 * Adam with PyTorch's semantics (spec scan.md 3.1-3.3), and the learning-rate schedule. */
#ifndef UARDA_TRAIN_H
#define UARDA_TRAIN_H

#include "uarda/model.h"
#include "uarda/relevance.h"
#include "uarda/dist.h"
#include "uarda/rng.h"

typedef struct ua_step_work ua_step_work;
ua_step_work *ua_step_work_new(const ua_model *m, int max_batch, int max_len, int n_regions, ua_err *err);
void ua_step_work_free(ua_step_work *w);

/* What a step runs with besides the model (which it only reads): the trainer's run state. */
typedef struct ua_step_run {
    double threshold;          /* t_tr of this step (ua_relevance_t_train; 0 for SCAN) */
    int max_violation;         /* hardest negatives (1), or the sum over all (0: the warm-up's epochs) */
} ua_step_run;

/* Encodes a batch (images [B, R, img_dim], tokens [B, T], lengths descending), scores it
 * (B x B, image i against caption j) and returns the loss in *loss. When grads is not NULL,
 * ACCUMULATES the gradient of the loss into grads (layout of m->params). run NULL: threshold 0
 * and the model's max_violation. */
int ua_step(const ua_model *m, const ua_step_run *run, const float *images, int R, const int *tokens,
            const int *lengths, int B, int T, double *loss, float *grads, ua_step_work *w, ua_err *err);
/* Hooks for UARDA's estimators (NULL members are skipped). column_threshold is called before
 * each caption column j of the batch is scored (scores holds the columns < j, row-major B x B)
 * and returns the threshold for column j: NAAF's estimator updates t between captions.
 * extra_grad adds other losses' gradients to the block's dot products during the backward. */
typedef struct ua_step_hooks {
    double (*column_threshold)(void *ctx, int j, const float *scores, int B, ua_sim_work *sim);
    ua_sim_extra_grad extra_grad;
    void *ctx;
    int word_max;              /* the step's words' maxima are read (ua_step_word_max): UARDA's samples */
} ua_step_hooks;
void ua_step_set_hooks(ua_step_work *w, const ua_step_hooks *hooks);
ua_sim_work *ua_step_sim(ua_step_work *w);

/* the last step's intermediate results (valid until the next ua_step on w) */
const float *ua_step_img_emb(const ua_step_work *w);   /* [B, R, E] */
const float *ua_step_cap_emb(const ua_step_work *w);   /* [B, T, E] */
const float *ua_step_scores(const ua_step_work *w);    /* [B, B] */

/* Data parallel (dist.h): with several ranks, ua_step splits the batch over them (step.c says
 * how); every rank gets the same loss, scores and word maxima, and its part of the gradient sum
 * (the caller sums grads over the ranks). NULL or one rank: the one-process step. */
int ua_step_set_dist(ua_step_work *w, const ua_dist *d, ua_err *err);
const ua_dist *ua_step_dist(const ua_step_work *w);
/* the error of a step whose threshold changes column by column (NAAF's estimator) over ranks */
int ua_step_refuse_ranks(int ranks, ua_err *err);
/* the last step's max over the regions of word `word` of caption `caption` against image
 * `image` (batch indices), on every rank */
float ua_step_word_max(const ua_step_work *w, int image, int caption, int word);
/* ua_sim_add_word_max_grad by batch indices: on the rank that holds the caption's column */
void ua_step_add_word_max_grad(ua_step_work *w, int image, int caption, int word, float g);

/* UARDA in training (spec uarda.md 4.6-4.8): the threshold in force for each step, its
 * estimation from the batch (naaf_compat: caption by caption inside the forward; clean: once
 * after the backward), and the separation loss added to the ranking loss. */
typedef struct ua_uarda_trainer {
    ua_relevance_cfg cfg;
    ua_relevance_state st;
    int thresholded;           /* the attention uses t */
    /* during a step */
    int B;
    const int *lengths;
    const int *image_of;       /* the image of each slot (ua_rel_collect), or NULL */
    ua_step_work *step;        /* its workspace (the words' maxima, their gradients) */
    float *col;                /* one score column */
    const float *scores_for_collect;  /* the step's B x B scores */
    double sep_loss, t_step;
    ua_sim_stats stats;        /* of the last step */
    ua_err *err;
    int failed;
} ua_uarda_trainer;

int  ua_uarda_trainer_init(ua_uarda_trainer *t, const ua_relevance_cfg *cfg, int thresholded, int max_batch,
                           uint64_t seed, ua_err *err);
void ua_uarda_trainer_free(ua_uarda_trainer *t);
/* ua_step with UARDA: the step at t's threshold (ua_relevance_t_train) with hardest negatives
 * or not (max_violation), then the estimates (image_of: the image of each of the B slots, or
 * NULL when every slot holds its own; see relevance.h); adds the separation loss to *loss */
int ua_uarda_step(ua_uarda_trainer *t, const ua_model *m, int max_violation, const float *images, int R,
                  const int *tokens, const int *lengths, const int *image_of, int B, int T, double *loss, float *grads,
                  ua_step_work *w, ua_err *err);

/* torch.nn.utils.clip_grad_norm_: total L2 norm over all gradients; scale by
 * min(1, max_norm / (norm + 1e-6)). Returns the norm; *coef (may be NULL) gets the factor. */
double ua_clip_grad_norm(float *grads, size_t n, double max_norm, double *coef);

/* Adam (torch.optim.Adam, PyTorch >= 1.x form): step is 1-based. */
typedef struct ua_adam {
    double lr, beta1, beta2, eps;
    long long step;
} ua_adam;
void ua_adam_default(ua_adam *a, double lr);
void ua_adam_update(ua_adam *a, float *params, const float *grads, float *exp_avg, float *exp_avg_sq, size_t n);

/* SCAN's schedule: learning_rate * 0.1^(epoch / lr_update) */
double ua_lr_at_epoch(double learning_rate, int lr_update, int epoch);

#endif
