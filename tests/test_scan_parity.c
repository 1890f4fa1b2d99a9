/* Parity with the PyTorch reference (tools/scan_reference.py, fixtures made by
 * tools/make_scan_fixtures.py): for every raw_feature_norm x agg_func x direction and the extra
 * configurations, the encoders' outputs, the similarity matrix, the loss, every parameter's
 * gradient, the clipping and one Adam step. Tolerances (issue 3): max|diff| / max|ref| <= 1e-5
 * for forward values, <= 1e-4 for gradients and updated parameters. */
#include "helpers.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/checkpoint.h"
#include "uarda/eval.h"
#include "uarda/options.h"
#include "uarda/safetensors.h"
#include "uarda/train.h"

#define FIXTURES "tests/fixtures/scan"

typedef struct {
    int B, R, L;
    float *images;
    int *tokens, *lengths;
} inputs;

static void read_inputs(const ua_st_file *f, const ua_options *o, inputs *in)
{
    const ua_st_tensor *im = ua_st_find(f, "input.images"), *cap = ua_st_find(f, "input.captions"),
                       *len = ua_st_find(f, "input.lengths");
    assert_non_null(im);
    assert_non_null(cap);
    assert_non_null(len);
    assert_int_equal(im->dtype, UA_ST_F32);
    assert_int_equal(cap->dtype, UA_ST_I64);
    assert_int_equal(len->dtype, UA_ST_I64);
    in->B = (int)im->shape[0];
    in->R = (int)im->shape[1];
    assert_int_equal(im->shape[2], o->model.img_dim);
    in->L = (int)cap->shape[1];
    in->images = (float *)im->data;
    in->tokens = malloc((size_t)in->B * in->L * sizeof(int));
    in->lengths = malloc((size_t)in->B * sizeof(int));
    const int64_t *c64 = cap->data, *l64 = len->data;
    for (int i = 0; i < in->B * in->L; i++) in->tokens[i] = (int)c64[i];
    for (int i = 0; i < in->B; i++) in->lengths[i] = (int)l64[i];
    assert_int_equal(in->lengths[0], in->L);
}

static void free_inputs(inputs *in) { free(in->tokens); free(in->lengths); }


static void load_params(const ua_st_file *f, ua_model *m, const char *file)
{
    ua_err err;
    for (int t = 0; t < m->n_tensors; t++) {
        const ua_tensor_info *ti = &m->tensors[t];
        const float *src = ua_st_get_f32(f, ti->name, ti->ndim, ti->shape, &err);
        if (!src) fail_msg("%s: %s", file, err.msg);
        memcpy(m->params + ti->offset, src, ti->count * sizeof(float));
    }
}

/* returns the worst relative differences seen (forward, gradient) */
static void check_step_file(const char *path, double *worst_fwd, double *worst_grad)
{
    ua_st_file f;
    ua_err err;
    if (ua_st_open(&f, path, &err)) fail_msg("%s", err.msg);
    ua_options o;
    ua_options_default(&o);
    const char *opt = ua_st_meta(&f, "opt");
    assert_non_null(opt);
    if (ua_options_from_json(&o, opt, path, &err)) fail_msg("%s", err.msg);
    ua_model m;
    if (ua_model_create(&m, &o.model, &err)) fail_msg("%s: %s", path, err.msg);
    /* UARDA fixtures fix the threshold (t_mode fixed); SCAN's leave it unused */
    const ua_step_run run = {o.rel.t_mode == UA_T_FIXED ? o.rel.t_fixed : 0.0, m.opt.max_violation};
    load_params(&f, &m, path);
    inputs in;
    read_inputs(&f, &o, &in);
    ua_step_work *w = ua_step_work_new(&m, in.B, in.L, in.R, &err);
    assert_non_null(w);
    float *grads = calloc(m.n_params, sizeof(float));
    double loss;
    if (ua_step(&m, &run, in.images, in.R, in.tokens, in.lengths, in.B, in.L, &loss, grads, w, &err)) fail_msg("%s", err.msg);
    const int E = m.opt.embed_size;
    double r;
    r = th_compare_fixture(&f, "out.img_emb", ua_step_img_emb(w), (size_t)in.B * in.R * E, 1e-5, path);
    if (r > *worst_fwd) *worst_fwd = r;
    r = th_compare_fixture(&f, "out.cap_emb", ua_step_cap_emb(w), (size_t)in.B * in.L * E, 1e-5, path);
    if (r > *worst_fwd) *worst_fwd = r;
    r = th_compare_fixture(&f, "out.sims", ua_step_scores(w), (size_t)in.B * in.B, 1e-5, path);
    if (r > *worst_fwd) *worst_fwd = r;
    float lossf = (float)loss;
    r = th_compare_fixture(&f, "out.loss", &lossf, 1, 1e-5, path);
    if (r > *worst_fwd) *worst_fwd = r;
    char name[128];
    for (int t = 0; t < m.n_tensors; t++) {
        snprintf(name, sizeof name, "grad.%s", m.tensors[t].name);
        r = th_compare_fixture(&f, name, grads + m.tensors[t].offset, m.tensors[t].count, 1e-4, path);
        if (r > *worst_grad) *worst_grad = r;
    }
    double coef;
    double norm = ua_clip_grad_norm(grads, m.n_params, o.grad_clip, &coef);
    float normf = (float)norm, coeff = (float)coef;
    th_compare_fixture(&f, "out.grad_norm", &normf, 1, 1e-4, path);
    th_compare_fixture(&f, "out.clip_coef", &coeff, 1, 1e-4, path);
    float *ea = calloc(m.n_params, sizeof(float)), *eas = calloc(m.n_params, sizeof(float));
    ua_adam adam;
    ua_adam_default(&adam, o.learning_rate);
    ua_adam_update(&adam, m.params, grads, ea, eas, m.n_params);
    for (int t = 0; t < m.n_tensors; t++) {
        snprintf(name, sizeof name, "adam.%s", m.tensors[t].name);
        r = th_compare_fixture(&f, name, m.params + m.tensors[t].offset, m.tensors[t].count, 1e-4, path);
        if (r > *worst_grad) *worst_grad = r;
    }
    free(ea);
    free(eas);
    free(grads);
    ua_step_work_free(w);
    free_inputs(&in);
    ua_model_free(&m);
    ua_st_close(&f);
}

static int check_folder(const char *folder)
{
    DIR *d = opendir(folder);
    if (!d) fail_msg("cannot open %s (run the tests from the repository root)", folder);
    struct dirent *de;
    int n = 0;
    double worst_fwd = 0, worst_grad = 0;
    char path[1024];
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "step_", 5) != 0 || !strstr(de->d_name, ".safetensors")) continue;
        snprintf(path, sizeof path, "%s/%s", folder, de->d_name);
        check_step_file(path, &worst_fwd, &worst_grad);
        n++;
    }
    closedir(d);
    printf("%s: %d step fixtures agree: worst forward %.2g, worst gradient/update %.2g\n", folder, n, worst_fwd, worst_grad);
    return n;
}

/* SCAN (with the default --model scan): 7 norms x 4 aggregations x 2 directions + extras */
static void test_every_step_fixture(void **state)
{
    (void)state;
    assert_true(check_folder(FIXTURES) >= 56);
}

/* UARDA's thresholded attention (tools/uarda_reference.py): every switch, both directions */
static void test_every_uarda_step_fixture(void **state)
{
    (void)state;
    assert_true(check_folder("tests/fixtures/uarda") >= 22);
}

static void test_recall_fixtures(void **state)
{
    (void)state;
    const char *files[] = {FIXTURES "/recall_5x.safetensors", FIXTURES "/recall_1x.safetensors"};
    for (int k = 0; k < 2; k++) {
        ua_st_file f;
        ua_err err;
        if (ua_st_open(&f, files[k], &err)) fail_msg("%s", err.msg);
        const ua_st_tensor *s = ua_st_find(&f, "input.sims");
        assert_non_null(s);
        int n_img = (int)s->shape[0], n_cap = (int)s->shape[1];
        ua_recall r;
        int *ri = malloc((size_t)n_img * sizeof(int)), *rt = malloc((size_t)n_cap * sizeof(int));
        if (ua_recall_compute(s->data, n_img, n_cap, n_cap / n_img, &r, ri, rt, &err)) fail_msg("%s", err.msg);
        float i2t[5], t2i[5];
        for (int i = 0; i < 5; i++) { i2t[i] = (float)r.i2t[i]; t2i[i] = (float)r.t2i[i]; }
        th_compare_fixture(&f, "out.i2t", i2t, 5, 1e-6, files[k]);
        th_compare_fixture(&f, "out.t2i", t2i, 5, 1e-6, files[k]);
        const int64_t *wi = ua_st_find(&f, "out.ranks_i2t")->data, *wt = ua_st_find(&f, "out.ranks_t2i")->data;
        for (int i = 0; i < n_img; i++) assert_int_equal(ri[i], wi[i]);
        for (int j = 0; j < n_cap; j++) assert_int_equal(rt[j], wt[j]);
        free(ri);
        free(rt);
        ua_st_close(&f);
    }
}

/* A SCAN checkpoint converted by tools/scan_checkpoint_to_safetensors.py loads and scores
 * exactly as the PyTorch model it came from. */
static void test_converted_checkpoint(void **state)
{
    (void)state;
    ua_options o;
    ua_options_default(&o);
    ua_model m;
    ua_train_state st;
    ua_err err;
    float *ea, *eas;
    if (ua_checkpoint_load(FIXTURES "/converted_fake.safetensors", &o, &m, &ea, &eas, &st, &err)) fail_msg("%s", err.msg);
    assert_null(ea);   /* SCAN checkpoints carry no optimizer state */
    assert_int_equal(st.epoch, 0);
    ua_st_file f, fin;
    if (ua_st_open(&f, FIXTURES "/converted_fake.expected.safetensors", &err)) fail_msg("%s", err.msg);
    if (ua_st_open(&fin, FIXTURES "/step_t2i_clipped_l2norm_Mean.safetensors", &err)) fail_msg("%s", err.msg);
    inputs in;
    read_inputs(&fin, &o, &in);
    ua_step_work *w = ua_step_work_new(&m, in.B, in.L, in.R, &err);
    double loss;
    if (ua_step(&m, NULL, in.images, in.R, in.tokens, in.lengths, in.B, in.L, &loss, NULL, w, &err)) fail_msg("%s", err.msg);
    th_compare_fixture(&f, "out.sims", ua_step_scores(w), (size_t)in.B * in.B, 1e-5, "converted_fake");
    ua_step_work_free(w);
    free_inputs(&in);
    ua_st_close(&fin);
    ua_st_close(&f);
    ua_model_free(&m);
}

/* Ties never help: a model that scores every pair alike (UARDA with every query irrelevant)
 * gets the recall of a fixed arbitrary order, not 100%. */
static void test_recall_with_ties(void **state)
{
    (void)state;
    enum { NI = 100, NC = 500 };
    float *sims = calloc(NI * NC, sizeof(float));
    ua_recall r;
    ua_err err;
    assert_int_equal(ua_recall_compute(sims, NI, NC, 5, &r, NULL, NULL, &err), 0);
    /* image i's captions sit at positions 5i..: R@1 only for image 0; caption j's image at i = j / 5 */
    assert_true(fabs(r.i2t[0] - 1.0) < 1e-9);
    assert_true(fabs(r.i2t[1] - 1.0) < 1e-9);  /* positions 0 (image 0) and 5 (image 1): only image 0 < 5 */
    assert_true(fabs(r.i2t[2] - 2.0) < 1e-9);
    assert_true(fabs(r.t2i[0] - 1.0) < 1e-9);   /* captions of image 0 only */
    assert_true(fabs(r.t2i[1] - 5.0) < 1e-9 && fabs(r.t2i[2] - 10.0) < 1e-9);
    assert_true(fabs(r.rsum - 20.0) < 1e-9);  /* not 600 */
    /* one tie: the item listed first ranks ahead of the other */
    float s2[2 * 2] = {0.5f, 0.5f, 0.5f, 0.5f};
    int ri[2], rt[2];
    assert_int_equal(ua_recall_compute(s2, 2, 2, 1, &r, ri, rt, &err), 0);
    assert_int_equal(ri[0], 0);   /* image 0: its caption 0 is listed first */
    assert_int_equal(ri[1], 1);   /* image 1: caption 0 ties its caption 1 and comes first */
    assert_int_equal(rt[0], 0);
    assert_int_equal(rt[1], 1);
    float s3[2 * 2] = {0.5f, 0.2f, 0.1f, 0.9f};   /* no ties: the scores decide */
    assert_int_equal(ua_recall_compute(s3, 2, 2, 1, &r, ri, rt, &err), 0);
    assert_int_equal(ri[0] + ri[1] + rt[0] + rt[1], 0);
    free(sims);
}

/* A workspace reused across steps gives the same loss and gradients as a fresh one (no state
 * leaks from one batch into the next). */
static void test_step_is_repeatable(void **state)
{
    (void)state;
    const char *files[] = {FIXTURES "/step_t2i_clipped_l2norm_Mean.safetensors", FIXTURES "/step_i2t_clipped_l2norm_LogSumExp.safetensors"};
    for (int k = 0; k < 2; k++) {
        ua_st_file f;
        ua_err err;
        if (ua_st_open(&f, files[k], &err)) fail_msg("%s", err.msg);
        ua_options o;
        ua_options_default(&o);
        if (ua_options_from_json(&o, ua_st_meta(&f, "opt"), files[k], &err)) fail_msg("%s", err.msg);
        ua_model m;
        if (ua_model_create(&m, &o.model, &err)) fail_msg("%s", err.msg);
        load_params(&f, &m, files[k]);
        inputs in;
        read_inputs(&f, &o, &in);
        ua_step_work *w = ua_step_work_new(&m, in.B, in.L, in.R, &err);
        float *g1 = calloc(m.n_params, sizeof(float)), *g2 = calloc(m.n_params, sizeof(float));
        double l1, l2;
        assert_int_equal(ua_step(&m, NULL, in.images, in.R, in.tokens, in.lengths, in.B, in.L, &l1, g1, w, &err), 0);
        assert_int_equal(ua_step(&m, NULL, in.images, in.R, in.tokens, in.lengths, in.B, in.L, &l2, g2, w, &err), 0);
        assert_true(l1 == l2);
        assert_memory_equal(g1, g2, m.n_params * sizeof(float));
        free(g1); free(g2);
        ua_step_work_free(w);
        free_inputs(&in);
        ua_model_free(&m);
        ua_st_close(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_step_fixture),
        cmocka_unit_test(test_every_uarda_step_fixture),
        cmocka_unit_test(test_recall_fixtures),
        cmocka_unit_test(test_step_is_repeatable),
        cmocka_unit_test(test_recall_with_ties),
        cmocka_unit_test(test_converted_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
