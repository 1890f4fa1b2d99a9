/* The training run (trainer.h). */
#include "uarda/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/finite.h"

static int load_resume(ua_trainer *t, const char *resume, ua_err *err)
{
    ua_options from = t->o;
    if (ua_checkpoint_load(resume, &from, &t->m, &t->exp_avg, &t->exp_avg_sq, &t->state, err)) return -1;
    if (from.model.vocab_size != t->o.model.vocab_size)
        return ua_fail(err, "%s: the checkpoint has a vocabulary of %d words, the data's has %d", resume,
                       from.model.vocab_size, t->o.model.vocab_size);
    if (from.model.img_dim != t->train->img_dim)
        return ua_fail(err, "%s: the checkpoint expects %d-dim regions, the data has %d", resume, from.model.img_dim,
                       t->train->img_dim);
    /* the options a resumed run may change over its checkpoint's model: the loss and the scoring */
    ua_model_opt_copy_classes(&t->m.opt, &t->o.model, UA_OC_LOSS | UA_OC_SCORE);
    t->o.model = t->m.opt;
    t->weights_only = t->exp_avg == NULL;
    if (t->weights_only) memset(&t->state, 0, sizeof t->state);
    return 0;
}

/* the model (fresh, or resume's), the gradients, both moments and the threshold state */
static int open_model(ua_trainer *t, const char *resume, ua_err *err)
{
    if (resume) {
        if (load_resume(t, resume, err)) return -1;
    } else {
        if (ua_model_create(&t->m, &t->o.model, err)) return -1;
        ua_model_init_weights(&t->m, (uint64_t)t->o.seed);
    }
    size_t n = t->m.n_params;
    if (!t->exp_avg) {
        t->exp_avg = calloc(n, sizeof(float));
        t->exp_avg_sq = calloc(n, sizeof(float));
    }
    t->grads = malloc(n * sizeof(float));
    if (!t->exp_avg || !t->exp_avg_sq || !t->grads) return ua_fail(err, "out of memory for %zu parameters", n);
    if (ua_uarda_trainer_init(&t->ut, &t->o.rel, ua_options_thresholded(&t->o), t->o.batch_size, (uint64_t)t->o.seed,
                              err))
        return -1;
    if (resume && !t->weights_only) {   /* the threshold state as it was, random negatives' generator included */
        ua_rng seeded = t->ut.st.rng;
        ua_relevance_free(&t->ut.st);
        if (ua_checkpoint_load_relevance(resume, &t->o, &t->m, &t->ut.st, err)) return -1;
        if (t->ut.st.rng.inc == 0) t->ut.st.rng = seeded;   /* a checkpoint from before the generator was saved */
    }
    ua_adam_default(&t->adam, t->o.learning_rate);
    t->adam.step = t->state.adam_step;
    return 0;
}

int ua_trainer_open(ua_trainer *t, const ua_options *o, const ua_split *train, const ua_split *dev, const char *resume,
                    ua_err *err)
{
    memset(t, 0, sizeof *t);
    t->dist = ua_dist_single();
    t->o = *o;
    t->train = train;
    t->dev = dev;
    if (dev->img_dim != train->img_dim || dev->n_regions != train->n_regions) {
        ua_fail(err, "dev and train region features differ in shape (%d x %d vs %d x %d)", dev->n_regions, dev->img_dim,
                train->n_regions, train->img_dim);
        goto fail;
    }
    if (o->batch_size > train->n_items) {
        ua_fail(err, "--batch-size %d is more than the %d training captions of %s", o->batch_size, train->n_items,
                train->ims_path);
        goto fail;
    }
    t->o.model.img_dim = train->img_dim;
    if (open_model(t, resume, err)) goto fail;
    if (ua_batcher_init(&t->batcher, train->n_items, t->o.batch_size, 1, (uint64_t)t->o.seed, err)) goto fail;
    if (!(t->w = ua_step_work_new(&t->m, t->o.batch_size, train->caps.max_len, train->n_regions, err))) goto fail;
    return 0;
fail:
    ua_trainer_close(t);
    return -1;
}

int ua_trainer_open_batches(ua_trainer *t, const ua_options *o, int max_len, int n_regions, ua_err *err)
{
    memset(t, 0, sizeof *t);
    t->dist = ua_dist_single();
    t->o = *o;
    if (open_model(t, NULL, err)) goto fail;
    if (!(t->w = ua_step_work_new(&t->m, t->o.batch_size, max_len, n_regions, err))) goto fail;
    return 0;
fail:
    ua_trainer_close(t);
    return -1;
}

void ua_trainer_close(ua_trainer *t)
{
    ua_uarda_trainer_free(&t->ut);
    ua_step_work_free(t->w);
    ua_batch_free(&t->batch);
    ua_batcher_free(&t->batcher);
    free(t->grads);
    free(t->exp_avg);
    free(t->exp_avg_sq);
    ua_model_free(&t->m);
    memset(t, 0, sizeof *t);
}

int ua_trainer_set_dist(ua_trainer *t, const ua_dist *d, ua_err *err)
{
    /* refused before the run starts, as ua_step refuses a column hook over ranks */
    if (d->size > 1 && t->ut.thresholded && t->ut.cfg.t_mode == UA_T_ADAPTIVE && t->ut.cfg.t_est == UA_T_EST_NAAF_COMPAT)
        return ua_step_refuse_ranks(d->size, err);
    if (ua_step_set_dist(t->w, d, err)) return -1;
    t->dist = *d;
    t->batcher.rank = d->rank;   /* each rank reads its share's region features only */
    t->batcher.ranks = d->size;
    return 0;
}

int ua_trainer_finished(const ua_trainer *t) { return t->state.epoch >= t->o.num_epochs; }

/* a non-finite loss, gradient norm or parameter after a step: the run stops before anything is
 * saved (a NaN model would otherwise validate as perfect and become model_best) */
static int check_step(const ua_model *m, long long iter, double loss, double gnorm, ua_err *err)
{
    const char *what = !isfinite(loss) ? "the loss" : !isfinite(gnorm) ? "the gradient norm" : NULL;
    if (what)
        return ua_fail(err, "iteration %lld: %s is not finite (loss %g, gradient norm %g); stopped before saving "
                       "(try a lower --learning-rate or --lambda-softmax)", iter, what, loss, gnorm);
    long long k = ua_first_nonfinite(m->params, m->n_params);
    if (k < 0) return 0;
    const char *name = "?";
    for (int i = 0; i < m->n_tensors; i++)
        if ((size_t)k >= m->tensors[i].offset && (size_t)k < m->tensors[i].offset + m->tensors[i].count)
            name = m->tensors[i].name;
    return ua_fail(err, "iteration %lld: parameter %s became %s after the update; stopped before saving", iter, name,
                   ua_nonfinite_name(m->params[k]));
}

int ua_trainer_step_batch(ua_trainer *t, const float *images, int R, const int *tokens, const int *lengths,
                          const int *image_of, int B, int T, ua_step_metrics *sm, ua_err *err)
{
    const int epoch = t->state.epoch;
    t->adam.lr = ua_lr_at_epoch(t->o.learning_rate, t->o.lr_update, epoch);
    memset(t->grads, 0, t->m.n_params * sizeof(float));
    double loss;
    /* the warm-up's epochs sum over all negatives */
    const int max_violation = epoch < t->warmup_epochs ? 0 : t->o.model.max_violation;
    if (ua_uarda_step(&t->ut, &t->m, max_violation, images, R, tokens, lengths, image_of, B, T, &loss, t->grads, t->w,
                      err))
        return -1;
    /* testing: a NaN in one rank's part of the gradient (the last rank's) reaches every rank */
    if (t->debug_nan_at > 0 && t->state.iters + 1 == t->debug_nan_at && t->dist.rank == t->dist.size - 1)
        t->grads[0] = NAN;
    if (ua_dist_sum_f32(&t->dist, t->grads, t->m.n_params, err)) return -1;   /* one allreduce a step */
    ua_sim_stats_add(&t->epoch_stats, &t->ut.stats);
    double coef = 1.0, gnorm = ua_clip_grad_norm(t->grads, t->m.n_params, t->o.grad_clip, &coef);
    ua_adam_update(&t->adam, t->m.params, t->grads, t->exp_avg, t->exp_avg_sq, t->m.n_params);
    t->state.iters++;
    t->state.adam_step = t->adam.step;
    *sm = (ua_step_metrics){epoch, t->state.iters, loss, t->adam.lr, gnorm, coef, t->ut.t_step, 0};
    return check_step(&t->m, t->state.iters, loss, gnorm, err);
}

int ua_trainer_step(ua_trainer *t, ua_step_metrics *sm, ua_err *err)
{
    if (!t->train) return ua_fail(err, "the trainer has no training split: give it batches (ua_trainer_step_batch)");
    if (ua_trainer_finished(t)) return ua_fail(err, "the run has finished its %d epochs", t->o.num_epochs);
    const int epoch = t->state.epoch, k = t->state.batch;
    if (k >= t->batcher.n_batches)
        return ua_fail(err, "epoch %d has run its %d batches: validate and end it (ua_trainer_end_epoch) first", epoch,
                       t->batcher.n_batches);
    if (k == 0 || t->batcher.epoch != epoch) {   /* an epoch starts (or resumes mid-way) */
        ua_batcher_set_epoch(&t->batcher, epoch);
        if (k == 0) memset(&t->epoch_stats, 0, sizeof t->epoch_stats);
    }
    const ua_split *s = t->train;
    if (ua_batcher_get(&t->batcher, k, s, 1, &t->batch, err)) return -1;
    const long long before = t->state.iters;
    int rc = ua_trainer_step_batch(t, t->batch.images, s->n_regions, t->batch.tokens, t->batch.lengths, t->batch.image,
                                   t->batch.size, t->batch.max_len, sm, err);
    if (t->state.iters == before) return rc;   /* failed before the update: the loop state has not moved */
    t->state.batch = k + 1;
    sm->epoch_end = t->state.batch == t->batcher.n_batches;
    return rc;
}

int ua_trainer_validate(ua_trainer *t, ua_recall *r, ua_err *err)
{
    if (!t->dev) return ua_fail(err, "the trainer has no dev split to validate on");
    /* the test threshold of the run so far, passed to the similarity blocks */
    const ua_scorer sc = ua_scorer_of(&t->m, t->ut.thresholded ? ua_relevance_t_test(&t->ut.st, &t->ut.cfg) : 0.0);
    return ua_evaluate_split_ranks(&sc, 1, t->dev, 0, &t->dist, r, NULL, NULL, err);   /* split over the ranks */
}

int ua_trainer_end_epoch(ua_trainer *t, const ua_recall *r)
{
    int best = r->rsum > t->state.best_rsum;
    if (best) t->state.best_rsum = r->rsum;
    t->state.epoch++;
    t->state.batch = 0;
    return best;
}

int ua_trainer_save(const ua_trainer *t, const char *path, int with_moments, ua_err *err)
{
    return ua_checkpoint_save(path, &t->o, &t->m, with_moments ? t->exp_avg : NULL, with_moments ? t->exp_avg_sq : NULL,
                              &t->state, &t->ut.st, err);
}
