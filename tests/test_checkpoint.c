/* Checkpoints: round trip with optimizer state and loop state, and clear errors for corrupt
 * or mismatched files. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/checkpoint.h"
#include "uarda/safetensors.h"

static void small_options(ua_options *o)
{
    ua_options_default(o);
    o->model.img_dim = 6;
    o->model.embed_size = 4;
    o->model.word_dim = 3;
    o->model.vocab_size = 9;
    o->model.attn.direction = UA_I2T;
    o->model.attn.agg = UA_AGG_LOGSUMEXP;
    o->model.attn.lambda_softmax = 4;
    o->model.attn.lambda_lse = 5;
}

static void test_round_trip(void **state)
{
    (void)state;
    char *dir = th_tmpdir(), *path = th_path(dir, "c.safetensors");
    ua_options o, back;
    small_options(&o);
    ua_model m, m2;
    ua_err err;
    assert_int_equal(ua_model_create(&m, &o.model, &err), 0);
    ua_model_init_weights(&m, 3);
    float *ea = malloc(m.n_params * sizeof(float)), *eas = malloc(m.n_params * sizeof(float));
    for (size_t i = 0; i < m.n_params; i++) { ea[i] = (float)i; eas[i] = 0.5f * (float)i; }
    ua_train_state st = {3, 7, 1234, 321.5, 1234}, st2;
    if (ua_checkpoint_save(path, &o, &m, ea, eas, &st, NULL, &err)) fail_msg("%s", err.msg);
    ua_options_default(&back);
    float *ea2, *eas2;
    if (ua_checkpoint_load(path, &back, &m2, &ea2, &eas2, &st2, &err)) fail_msg("%s", err.msg);
    assert_int_equal(back.model.attn.direction, UA_I2T);
    assert_int_equal(back.model.attn.agg, UA_AGG_LOGSUMEXP);
    assert_true(back.model.attn.lambda_lse == 5);
    assert_int_equal(m2.n_params, m.n_params);
    assert_memory_equal(m2.params, m.params, m.n_params * sizeof(float));
    assert_memory_equal(ea2, ea, m.n_params * sizeof(float));
    assert_memory_equal(eas2, eas, m.n_params * sizeof(float));
    assert_int_equal(st2.epoch, 3);
    assert_int_equal(st2.batch, 7);
    assert_int_equal(st2.iters, 1234);
    assert_true(st2.best_rsum == 321.5);
    /* the tensors carry SCAN's names */
    ua_st_file f;
    assert_int_equal(ua_st_open(&f, path, &err), 0);
    assert_non_null(ua_st_find(&f, "img_enc.fc.weight"));
    assert_non_null(ua_st_find(&f, "txt_enc.rnn.weight_ih_l0_reverse"));
    assert_non_null(ua_st_find(&f, "optim.exp_avg_sq.txt_enc.embed.weight"));
    assert_non_null(strstr(ua_st_meta(&f, "opt"), "\"cross_attn\":\"i2t\""));
    ua_st_close(&f);
    free(ea); free(eas); free(ea2); free(eas2);
    ua_model_free(&m);
    ua_model_free(&m2);
    th_rmrf(dir);
    free(dir);
    free(path);
}

/* ua_checkpoint_open: uarda's own file lends its parameters in place (nothing copied); a file
 * with the tensors in another order (a converted checkpoint) is copied; both equal the saved */
static void test_open_in_place(void **state)
{
    (void)state;
    char *dir = th_tmpdir(), *path = th_path(dir, "c.safetensors"), *rev = th_path(dir, "r.safetensors");
    ua_options o, back;
    small_options(&o);
    ua_model m, a, b;
    ua_err err;
    assert_int_equal(ua_model_create(&m, &o.model, &err), 0);
    ua_model_init_weights(&m, 5);
    assert_int_equal(ua_checkpoint_save(path, &o, &m, NULL, NULL, NULL, NULL, &err), 0);
    ua_options_default(&back);
    if (ua_checkpoint_open(path, &back, &a, &err)) fail_msg("%s", err.msg);
    assert_true(a.borrowed);
    assert_int_equal(a.n_params, m.n_params);
    assert_memory_equal(a.params, m.params, m.n_params * sizeof(float));
    assert_true(a.fc_weight == a.params + ua_model_tensor(&a, "img_enc.fc.weight")->offset);
    /* the hash recorded at save stands in for reading every parameter, and equals it */
    assert_true(a.params_hash_known);
    assert_true(a.params_hash == ua_model_params_hash(&m));
    a.params_hash_known = 0;
    assert_true(ua_model_params_hash(&a) == ua_model_params_hash(&m));
    a.params_hash_known = 1;
    /* the same tensors, last first */
    ua_st_entry e[UA_MAX_TENSORS];
    for (int t = 0; t < m.n_tensors; t++) {
        const ua_tensor_info *ti = &m.tensors[m.n_tensors - 1 - t];
        e[t] = (ua_st_entry){ti->name, UA_ST_F32, ti->ndim, {ti->shape[0], ti->shape[1]}, m.params + ti->offset};
    }
    char *opt = ua_options_to_json(&o);
    const char *keys[1] = {"opt"}, *vals[1] = {opt};
    assert_int_equal(ua_st_write(rev, e, (size_t)m.n_tensors, keys, vals, 1, &err), 0);
    free(opt);
    ua_options_default(&back);
    if (ua_checkpoint_open(rev, &back, &b, &err)) fail_msg("%s", err.msg);
    assert_false(b.borrowed);
    assert_false(b.params_hash_known);
    assert_true(ua_model_params_hash(&b) == a.params_hash);
    assert_memory_equal(b.params, m.params, m.n_params * sizeof(float));
    /* a borrowing model unmaps on free; the file can go first */
    th_rmrf(dir);
    assert_memory_equal(a.params, b.params, m.n_params * sizeof(float));
    ua_model_free(&a);
    ua_model_free(&b);
    ua_model_free(&m);
    free(dir);
    free(path);
    free(rev);
}

static void expect_load_error(const char *path, const char *what)
{
    ua_options o;
    ua_options_default(&o);
    ua_model m;
    ua_err err;
    assert_int_equal(ua_checkpoint_load(path, &o, &m, NULL, NULL, NULL, &err), -1);
    if (!strstr(err.msg, what)) fail_msg("message '%s' lacks '%s'", err.msg, what);
    assert_null(strchr(err.msg, '\n'));
    /* the in-place loader refuses it with the same message */
    ua_options_default(&o);
    assert_int_equal(ua_checkpoint_open(path, &o, &m, &err), -1);
    if (!strstr(err.msg, what)) fail_msg("open: message '%s' lacks '%s'", err.msg, what);
}

static void test_corrupt_and_mismatched(void **state)
{
    (void)state;
    char *dir = th_tmpdir(), *good = th_path(dir, "good.safetensors"), *bad = th_path(dir, "bad.safetensors");
    ua_options o;
    small_options(&o);
    ua_model m;
    ua_err err;
    assert_int_equal(ua_model_create(&m, &o.model, &err), 0);
    assert_int_equal(ua_checkpoint_save(good, &o, &m, NULL, NULL, NULL, NULL, &err), 0);
    size_t len;
    char *bytes = th_read(good, &len);
    /* truncated */
    th_write(bad, bytes, len - 10);
    expect_load_error(bad, "bad.safetensors");
    /* garbage */
    th_write(bad, "not a checkpoint at all", 23);
    expect_load_error(bad, "bad.safetensors");
    /* missing file */
    expect_load_error("/nonexistent/ckpt.safetensors", "/nonexistent/ckpt.safetensors");
    /* options say a bigger model than the tensors hold */
    ua_options big = o;
    big.model.embed_size = 8;
    ua_model mb;
    assert_int_equal(ua_model_create(&mb, &big.model, &err), 0);
    /* save mb's tensors under o's options: shapes disagree with the options */
    assert_int_equal(ua_checkpoint_save(bad, &o, &mb, NULL, NULL, NULL, NULL, &err), 0);
    expect_load_error(bad, "shape");
    /* a missing tensor */
    ua_st_entry e = {"img_enc.fc.weight", UA_ST_F32, 2, {4, 6}, m.fc_weight};
    char *opt = ua_options_to_json(&o);
    const char *k[] = {"opt"}, *v[] = {opt};
    assert_int_equal(ua_st_write(bad, &e, 1, k, v, 1, &err), 0);
    expect_load_error(bad, "missing tensor");
    /* no options */
    assert_int_equal(ua_st_write(bad, &e, 1, NULL, NULL, 0, &err), 0);
    expect_load_error(bad, "no \"opt\"");
    /* options with a bad value */
    const char *v2[] = {"{\"cross_attn\": \"sideways\"}"};
    assert_int_equal(ua_st_write(bad, &e, 1, k, v2, 1, &err), 0);
    expect_load_error(bad, "sideways");
    free(opt);
    free(bytes);
    ua_model_free(&m);
    ua_model_free(&mb);
    th_rmrf(dir);
    free(dir); free(good); free(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_open_in_place),
        cmocka_unit_test(test_corrupt_and_mismatched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
