/* One model shared by two threads at once, each with its own threshold and skip setting
 * (ua_scorer: the attention is the caller's, passed to the similarity block), gives each the
 * scores of a model of its own, bit for bit; so does the searcher, each query with its own
 * attention; the model's options are never touched. */
#include "helpers.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/eval.h"
#include "uarda/options.h"
#include "uarda/synth.h"

typedef struct {
    char *dir, *vocab_file;
    ua_vocab v;
    ua_split s;
    ua_model m;            /* the shared model */
    int n_img, n_cap;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    ua_synth_config cfg;
    ua_err err;
    f->dir = th_tmpdir();
    char *data = th_path(f->dir, "synth_tiny_precomp");
    f->vocab_file = th_path(f->dir, "vocab.json");
    if (ua_synth_preset("tiny", &cfg, &err) || ua_synth_write(&cfg, data, f->vocab_file, &err) ||
        ua_vocab_load(&f->v, f->vocab_file, &err) ||
        ua_split_open(&f->s, f->dir, "synth_tiny_precomp", "test", &f->v, 0, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    free(data);
    /* UARDA's faithful attention (clip, hard mask, irrelevant queries score 0): the threshold
     * and the skipping both act */
    ua_options o;
    ua_options_default(&o);
    o.model.embed_size = 16;
    o.model.word_dim = 8;
    o.model.vocab_size = f->v.n;
    o.model.img_dim = f->s.img_dim;
    o.model.attn.clip = UA_CLIP_UARDA;
    o.model.attn.mask = UA_MASK_HARD;
    o.model.attn.irr = UA_IRR_ZERO;
    if (ua_model_create(&f->m, &o.model, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    ua_model_init_weights(&f->m, 11);
    f->n_img = ua_split_images_used(&f->s);
    f->n_cap = f->n_img * f->s.im_div;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ua_model_free(&f->m);
    ua_split_close(&f->s);
    ua_vocab_free(&f->v);
    th_rmrf(f->dir);
    free(f->dir);
    free(f->vocab_file);
    free(f);
    return 0;
}

/* the scores of a model of its own: a copy of the shared one with the threshold as its own test
 * threshold and its own skip switch, as each caller had to make before the scorer */
static float *own_model_scores(const fixture *f, double t, int skip)
{
    ua_model own;
    ua_err err;
    if (ua_model_create(&own, &f->m.opt, &err)) fail_msg("%s", err.msg);
    memcpy(own.params, f->m.params, f->m.n_params * sizeof(float));
    own.t_test = t;
    ua_scorer sc = {&own, ua_attn_at(&own.opt.attn, own.t_test)};
    ua_attn_set_skip(&sc.attn, skip);
    float *sims = malloc((size_t)f->n_img * f->n_cap * sizeof(float));
    if (ua_split_similarity(&sc, 1, &f->s, 0, f->n_img, 0, f->n_cap, sims, NULL, &err)) fail_msg("%s", err.msg);
    ua_model_free(&own);
    return sims;
}

typedef struct {
    const fixture *f;
    ua_scorer sc;
    float *sims;
    int failed;
    ua_err err;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    for (int rep = 0; rep < 3 && !j->failed; rep++)   /* long enough for the two to overlap */
        j->failed = ua_split_similarity(&j->sc, 1, &j->f->s, 0, j->f->n_img, 0, j->f->n_cap, j->sims, NULL, &j->err) != 0;
    return NULL;
}

static void test_two_thresholds_at_once(void **state)
{
    fixture *f = *state;
    const double t[2] = {0.02, 0.12};
    const int skip[2] = {1, 0};
    const size_t n = (size_t)f->n_img * f->n_cap;
    float *want[2] = {own_model_scores(f, t[0], skip[0]), own_model_scores(f, t[1], skip[1])};
    assert_true(memcmp(want[0], want[1], n * sizeof(float)) != 0);   /* the thresholds do differ in effect */
    const ua_model_opt before = f->m.opt;
    job jobs[2];
    pthread_t th[2];
    for (int k = 0; k < 2; k++) {
        jobs[k] = (job){f, ua_scorer_of(&f->m, t[k]), malloc(n * sizeof(float)), 0, {{0}}};
        ua_attn_set_skip(&jobs[k].sc.attn, skip[k]);
        assert_int_equal(pthread_create(&th[k], NULL, run_job, &jobs[k]), 0);
    }
    for (int k = 0; k < 2; k++) assert_int_equal(pthread_join(th[k], NULL), 0);
    for (int k = 0; k < 2; k++) {
        if (jobs[k].failed) fail_msg("thread %d: %s", k, jobs[k].err.msg);
        for (size_t i = 0; i < n; i++)
            if (memcmp(&jobs[k].sims[i], &want[k][i], sizeof(float)) != 0)
                fail_msg("thread %d (t %g, skip %d): score %zu is %.9g, a model of its own gives %.9g", k, t[k], skip[k], i,
                         jobs[k].sims[i], want[k][i]);
        free(jobs[k].sims);
        free(want[k]);
    }
    assert_memory_equal(&before, &f->m.opt, sizeof before);   /* the shared model's options are untouched */
}

/* the evaluation of one scorer is the evaluation of a model of its own at that threshold */
static void test_recall_of_a_scorer(void **state)
{
    fixture *f = *state;
    ua_err err;
    ua_recall a, b;
    ua_scorer sc = ua_scorer_of(&f->m, 0.12);
    if (ua_evaluate_split(&sc, 1, &f->s, 0, &a, NULL, &err)) fail_msg("%s", err.msg);
    ua_model own;
    if (ua_model_create(&own, &f->m.opt, &err)) fail_msg("%s", err.msg);
    memcpy(own.params, f->m.params, f->m.n_params * sizeof(float));
    own.t_test = 0.12;
    const ua_scorer mine = {&own, ua_attn_at(&own.opt.attn, own.t_test)};
    if (ua_evaluate_split(&mine, 1, &f->s, 0, &b, NULL, &err)) fail_msg("%s", err.msg);
    assert_memory_equal(&a, &b, sizeof a);
    ua_model_free(&own);
    assert_true(f->m.t_test == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_thresholds_at_once),
        cmocka_unit_test(test_recall_of_a_scorer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
