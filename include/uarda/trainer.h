/* A training run as the library's: SCAN's loop (spec scan.md 3) with UARDA's threshold, exact
 * resume and the non-finite guards, for uarda train, uarda bench train, an MPI rank or any other
 * program. The trainer owns the model, the gradients and both Adam moments (one buffer each, in
 * the layout of the parameters), the loop state, UARDA's threshold state, the batcher and the
 * step's workspace; the caller owns the splits, and decides when to validate, log and save.
 *
 *   ua_trainer t;
 *   ua_trainer_open(&t, &o, &train, &dev, NULL, &err);           (or a checkpoint to resume)
 *   while (!ua_trainer_finished(&t)) {
 *       ua_trainer_step(&t, &m, &err);                             (one batch)
 *       if (m.epoch_end) {
 *           ua_trainer_validate(&t, &r, &err);
 *           if (ua_trainer_end_epoch(&t, &r)) ua_trainer_save(&t, best, 0, &err);
 *           ua_trainer_save(&t, checkpoint, 1, &err);
 *       }
 *   }
 *   ua_trainer_close(&t); */
#ifndef UARDA_TRAINER_H
#define UARDA_TRAINER_H

#include "uarda/batch.h"
#include "uarda/checkpoint.h"
#include "uarda/eval.h"
#include "uarda/options.h"
#include "uarda/precomp.h"
#include "uarda/train.h"

typedef struct ua_trainer {
    ua_options o;                /* the run's options; when resumed, the checkpoint's model with o's run,
                                    loss and scoring options */
    ua_model m;
    float *grads, *exp_avg, *exp_avg_sq;   /* m.n_params floats each */
    ua_adam adam;
    ua_train_state state;        /* the next batch to run: state.epoch, state.batch */
    ua_uarda_trainer ut;         /* UARDA's threshold (inactive for SCAN) */
    int warmup_epochs;           /* the first epochs sum over all negatives (0: SCAN) */
    int weights_only;            /* resumed from a checkpoint without moments: fresh Adam at epoch 0 */
    long long debug_nan_at;      /* testing: one gradient made NaN at this iteration (0: never) */
    ua_sim_stats epoch_stats;    /* UARDA: queries and entries of the epoch so far */
    const ua_split *train, *dev;
    ua_batcher batcher;
    ua_batch batch;
    ua_step_work *w;
    ua_dist dist;                /* the ranks a batch is split over (ua_trainer_set_dist; one by default) */
} ua_trainer;

/* What one step did. */
typedef struct ua_step_metrics {
    int epoch;                   /* of the step */
    long long iter;              /* iterations done, this one included */
    double loss, lr, grad_norm, clip_coef;
    double t;                    /* UARDA: the threshold the step trained with */
    int epoch_end;               /* the step was its epoch's last: validate, then ua_trainer_end_epoch */
} ua_step_metrics;

/* A fresh run of o on the splits (o.model.vocab_size: the vocabulary's; the regions' size is
 * the data's), or, with resume, the run of that checkpoint continued exactly: its weights,
 * moments, loop state and threshold state, with o's run, loss and scoring options (the caller
 * has checked that o's model shape is the checkpoint's, e.g. with ua_cli_merge_flags). A
 * checkpoint without moments starts from its weights at epoch 0 with fresh Adam. 0 / -1. */
int  ua_trainer_open(ua_trainer *t, const ua_options *o, const ua_split *train, const ua_split *dev, const char *resume,
                     ua_err *err);
/* A trainer without splits, for a program that makes its own batches (uarda bench train, a rank
 * of a data-parallel run): a fresh model of o (o.model.img_dim and vocab_size set), its gradients,
 * moments and threshold state, and a workspace for batches of up to o.batch_size captions of up
 * to max_len tokens on images of n_regions regions. It steps with ua_trainer_step_batch only
 * (ua_trainer_step and ua_trainer_validate need splits). 0 / -1. */
int  ua_trainer_open_batches(ua_trainer *t, const ua_options *o, int max_len, int n_regions, ua_err *err);
void ua_trainer_close(ua_trainer *t);
/* Data-parallel training over d's ranks, each opened on the same options, data and checkpoint:
 * every global batch is split over the ranks (ua_step_set_dist), the gradient buffer is summed
 * over them (one allreduce a step), and every rank makes the same Adam update and holds the same
 * threshold state. The same global batch trains as one process does, up to the order of the
 * floating-point sums. NAAF's estimator (naaf_compat) is refused: it is sequential within a
 * batch. 0 / -1. */
int  ua_trainer_set_dist(ua_trainer *t, const ua_dist *d, ua_err *err);
/* 1 when every epoch of o.num_epochs has run */
int  ua_trainer_finished(const ua_trainer *t);
/* One batch: forward, backward, clipping, Adam, the threshold's update. A non-finite loss,
 * gradient norm or parameter afterwards is an error that names the iteration (nothing is
 * saved by the trainer, so the last checkpoint stays as it was). */
int  ua_trainer_step(ua_trainer *t, ua_step_metrics *sm, ua_err *err);
/* The same step on a batch of the caller's (images [B, R, img_dim], tokens [B, T] 0-padded,
 * lengths descending, image_of the image row of each slot or NULL when every slot holds its own
 * image, B <= o.batch_size), at the epoch the loop state says (its learning rate
 * and warm-up): iterations and Adam's step count advance, the loop's batch does not
 * (sm->epoch_end is 0). ua_trainer_step is this on the batcher's next batch. */
int  ua_trainer_step_batch(ua_trainer *t, const float *images, int R, const int *tokens, const int *lengths,
                           const int *image_of, int B, int T, ua_step_metrics *sm, ua_err *err);
/* The dev split's recall at the test threshold (UARDA: t_te or as o.rel.t_test chooses). */
int  ua_trainer_validate(ua_trainer *t, ua_recall *r, ua_err *err);
/* After the epoch's validation r: the best rsum kept, the loop moved to the next epoch; returns
 * 1 when r is the best so far (a model_best to save). */
int  ua_trainer_end_epoch(ua_trainer *t, const ua_recall *r);
/* The model (and, with_moments, Adam's moments) with the loop and threshold state, atomically. */
int  ua_trainer_save(const ua_trainer *t, const char *path, int with_moments, ua_err *err);

#endif
