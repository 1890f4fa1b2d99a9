/* The trainer through the library alone: a tiny UARDA model trained, saved mid-epoch, resumed
 * by a second trainer, and its losses, thresholds and parameters equal to an uninterrupted run's,
 * bit for bit; a run ends at its epochs; a NaN gradient stops the step that made it. */
#include "helpers.h"
#include "uarda/synth.h"
#include "uarda/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { STEPS = 27, CUT = 11 };   /* 10 batches an epoch: the cut falls inside the second epoch */

typedef struct {
    char *dir, *data, *vocab_file;
    ua_vocab v;
    ua_split train, dev;
    ua_options o;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    ua_synth_config cfg;
    ua_err err;
    f->dir = th_tmpdir();
    f->data = th_path(f->dir, "synth_tiny_precomp");
    f->vocab_file = th_path(f->dir, "vocab.json");
    if (ua_synth_preset("tiny", &cfg, &err) || ua_synth_write(&cfg, f->data, f->vocab_file, &err) ||
        ua_vocab_load(&f->v, f->vocab_file, &err) ||
        ua_split_open(&f->train, f->dir, "synth_tiny_precomp", "train", &f->v, 0, &err) ||
        ua_split_open(&f->dev, f->dir, "synth_tiny_precomp", "dev", &f->v, 0, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    /* a small model with UARDA's mixture estimator and random negatives: the loop state, the
     * threshold state and the negatives' generator must all resume */
    ua_options_default(&f->o);
    f->o.model.embed_size = 16;
    f->o.model.word_dim = 8;
    f->o.model.vocab_size = f->v.n;
    f->o.batch_size = 32;
    f->o.num_epochs = 3;
    f->o.seed = 5;
    f->o.model.attn.clip = UA_CLIP_UARDA;
    f->o.model.attn.mask = UA_MASK_HARD;
    f->o.model.attn.irr = UA_IRR_NEG;
    f->o.rel.t_mode = UA_T_ADAPTIVE;
    f->o.rel.t_est = UA_T_EST_MIXTURE;
    f->o.rel.neg_src = UA_NEG_RANDOM;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ua_split_close(&f->train);
    ua_split_close(&f->dev);
    ua_vocab_free(&f->v);
    th_rmrf(f->dir);
    free(f->dir); free(f->data); free(f->vocab_file);
    free(f);
    return 0;
}

/* steps [from, to) of t, their losses and thresholds into loss[] / thr[] (indexed by iteration - 1),
 * validating and ending each epoch as uarda train does */
static void run(ua_trainer *t, int to, double *loss, double *thr)
{
    ua_err err;
    while (!ua_trainer_finished(t) && t->state.iters < to) {
        ua_step_metrics sm;
        if (ua_trainer_step(t, &sm, &err)) fail_msg("step: %s", err.msg);
        loss[sm.iter - 1] = sm.loss;
        thr[sm.iter - 1] = sm.t;
        if (sm.epoch_end) {
            ua_recall r;
            if (ua_trainer_validate(t, &r, &err)) fail_msg("validate: %s", err.msg);
            ua_trainer_end_epoch(t, &r);
        }
    }
}

static void test_resume_is_exact(void **state)
{
    fixture *f = *state;
    ua_err err;
    ua_trainer a, b;
    double la[64] = {0}, ta[64] = {0}, lb[64] = {0}, tb[64] = {0};
    /* uninterrupted */
    if (ua_trainer_open(&a, &f->o, &f->train, &f->dev, NULL, &err)) fail_msg("open: %s", err.msg);
    assert_int_equal(a.batcher.n_batches, 10);
    run(&a, STEPS, la, ta);
    assert_int_equal(a.state.iters, STEPS);
    /* cut at CUT, saved, and resumed by another trainer */
    char *ck = th_path(f->dir, "cut.safetensors");
    if (ua_trainer_open(&b, &f->o, &f->train, &f->dev, NULL, &err)) fail_msg("open: %s", err.msg);
    run(&b, CUT, lb, tb);
    if (ua_trainer_save(&b, ck, 1, &err)) fail_msg("save: %s", err.msg);
    ua_trainer_close(&b);
    ua_options o = f->o;   /* the checkpoint's own options, as ua_checkpoint_open gives them */
    if (ua_trainer_open(&b, &o, &f->train, &f->dev, ck, &err)) fail_msg("resume: %s", err.msg);
    assert_false(b.weights_only);
    assert_int_equal(b.state.iters, CUT);
    assert_int_equal(b.state.epoch, 1);
    run(&b, STEPS, lb, tb);
    for (int i = 0; i < STEPS; i++) {
        if (memcmp(&la[i], &lb[i], sizeof la[i]) != 0) fail_msg("iteration %d: loss %.17g resumed vs %.17g", i + 1, lb[i], la[i]);
        if (memcmp(&ta[i], &tb[i], sizeof ta[i]) != 0) fail_msg("iteration %d: threshold %.17g resumed vs %.17g", i + 1, tb[i], ta[i]);
    }
    assert_true(ta[STEPS - 1] > 0);   /* the threshold did move: the comparison means something */
    assert_int_equal(memcmp(a.m.params, b.m.params, a.m.n_params * sizeof(float)), 0);
    assert_int_equal(memcmp(a.exp_avg_sq, b.exp_avg_sq, a.m.n_params * sizeof(float)), 0);
    ua_trainer_close(&a);
    ua_trainer_close(&b);
    free(ck);
}

static void test_finishes_and_guards(void **state)
{
    fixture *f = *state;
    ua_err err;
    ua_trainer t;
    ua_options o = f->o;
    o.num_epochs = 1;
    if (ua_trainer_open(&t, &o, &f->train, &f->dev, NULL, &err)) fail_msg("open: %s", err.msg);
    double l[16], th[16];
    run(&t, 1000, l, th);
    assert_true(ua_trainer_finished(&t));
    assert_int_equal(t.state.iters, 10);
    ua_step_metrics sm;
    assert_int_equal(ua_trainer_step(&t, &sm, &err), -1);   /* nothing left to run */
    ua_trainer_close(&t);
    /* a NaN gradient at iteration 4: that step fails and names it */
    if (ua_trainer_open(&t, &o, &f->train, &f->dev, NULL, &err)) fail_msg("open: %s", err.msg);
    t.debug_nan_at = 4;
    for (int i = 0; i < 3; i++) assert_int_equal(ua_trainer_step(&t, &sm, &err), 0);
    assert_int_equal(ua_trainer_step(&t, &sm, &err), -1);
    assert_non_null(strstr(err.msg, "iteration 4: the gradient norm is not finite"));
    ua_trainer_close(&t);
    /* a batch larger than the data */
    o.batch_size = f->train.n_items + 1;
    assert_int_equal(ua_trainer_open(&t, &o, &f->train, &f->dev, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "more than the"));
}

/* a trainer without splits, stepped on batches of the caller's (uarda bench train, a data-parallel
 * rank), is the same trainer: fed the batcher's batches, its losses and parameters are those of
 * ua_trainer_step, bit for bit */
static void test_batches_of_the_caller(void **state)
{
    fixture *f = *state;
    ua_err err;
    ua_trainer a, b;
    ua_options o = f->o;
    o.model.img_dim = f->train.img_dim;
    if (ua_trainer_open(&a, &o, &f->train, &f->dev, NULL, &err)) fail_msg("open: %s", err.msg);
    if (ua_trainer_open_batches(&b, &o, f->train.caps.max_len, f->train.n_regions, &err)) fail_msg("open: %s", err.msg);
    assert_null(b.train);
    ua_step_metrics sm;
    assert_int_equal(ua_trainer_step(&b, &sm, &err), -1);   /* no split to draw batches from */
    ua_recall r;
    assert_int_equal(ua_trainer_validate(&b, &r, &err), -1);
    for (int k = 0; k < 5; k++) {
        ua_step_metrics ma, mb;
        if (ua_trainer_step(&a, &ma, &err)) fail_msg("step: %s", err.msg);
        const ua_batch *x = &a.batch;   /* the batch a just trained on */
        if (ua_trainer_step_batch(&b, x->images, f->train.n_regions, x->tokens, x->lengths, x->image, x->size, x->max_len,
                                  &mb, &err))
            fail_msg("step_batch: %s", err.msg);
        assert_int_equal(memcmp(&ma.loss, &mb.loss, sizeof ma.loss), 0);
        assert_int_equal(memcmp(&ma.t, &mb.t, sizeof ma.t), 0);
        assert_int_equal(ma.iter, mb.iter);
        assert_int_equal(mb.epoch_end, 0);
    }
    assert_int_equal(memcmp(a.m.params, b.m.params, a.m.n_params * sizeof(float)), 0);
    assert_int_equal(b.state.batch, 0);   /* the loop's batch is the batcher's, not moved */
    ua_trainer_close(&a);
    ua_trainer_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_is_exact),
        cmocka_unit_test(test_finishes_and_guards),
        cmocka_unit_test(test_batches_of_the_caller),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
