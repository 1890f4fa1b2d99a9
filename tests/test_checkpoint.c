/* Checkpoints: round trip with optimizer state and loop state, and clear errors for corrupt
 * or mismatched files: a changed byte, a params_hash that disagrees, a NaN, tensors the options
 * do not imply or that are missing; a file from before checksums loads, marked unverified. */
#include "helpers.h"

#include <math.h>
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

/* src rewritten to dst without tensor `drop` (may be NULL) and with `extra` added (may be NULL),
 * metadata kept (the writer adds its own checksum) */
static void rewrite(const char *src, const char *dst, const char *drop, const ua_st_entry *extra)
{
    ua_st_file f;
    ua_err err;
    if (ua_st_open(&f, src, &err)) fail_msg("%s", err.msg);
    ua_st_entry *e = calloc(f.n_tensors + 1, sizeof *e);
    const char **k = calloc(f.n_meta + 1, sizeof *k), **v = calloc(f.n_meta + 1, sizeof *v);
    size_t n = 0, nm = 0;
    for (size_t i = 0; i < f.n_tensors; i++) {
        const ua_st_tensor *t = &f.tensors[i];
        if (drop && strcmp(t->name, drop) == 0) continue;
        e[n] = (ua_st_entry){t->name, t->dtype, t->ndim, {0}, t->data};
        memcpy(e[n].shape, t->shape, sizeof t->shape);
        n++;
    }
    if (extra) e[n++] = *extra;
    for (size_t i = 0; i < f.n_meta; i++)
        if (strcmp(f.meta_keys[i], UA_ST_CHECKSUM_KEY) != 0) { k[nm] = f.meta_keys[i]; v[nm] = f.meta_values[i]; nm++; }
    if (ua_st_write(dst, e, n, k, v, nm, &err)) fail_msg("%s", err.msg);
    ua_st_close(&f);
    free(e); free(k); free(v);
}

/* both loaders accept path; unverified as they report it */
static int loads(const char *path)
{
    ua_options o;
    ua_options_default(&o);
    ua_model a, b;
    ua_err err;
    float *ea, *eas;
    ua_train_state st;
    if (ua_checkpoint_load(path, &o, &a, &ea, &eas, &st, &err)) fail_msg("%s", err.msg);
    ua_options_default(&o);
    if (ua_checkpoint_open(path, &o, &b, &err)) fail_msg("%s", err.msg);
    assert_int_equal(a.unverified, b.unverified);
    int unverified = a.unverified;
    free(ea); free(eas);
    ua_model_free(&a);
    ua_model_free(&b);
    return unverified;
}

static void test_integrity(void **state)
{
    (void)state;
    char *dir = th_tmpdir(), *good = th_path(dir, "good.safetensors"), *bad = th_path(dir, "bad.safetensors");
    ua_options o;
    small_options(&o);
    ua_model m;
    ua_err err;
    assert_int_equal(ua_model_create(&m, &o.model, &err), 0);
    ua_model_init_weights(&m, 7);
    float *ea = calloc(m.n_params, sizeof(float)), *eas = calloc(m.n_params, sizeof(float));
    ua_train_state st = {1, 2, 3, 4.0, 3};
    assert_int_equal(ua_checkpoint_save(good, &o, &m, ea, eas, &st, NULL, &err), 0);
    assert_int_equal(loads(good), 0);
    size_t len;
    unsigned char *bytes = (unsigned char *)th_read(good, &len);

    /* one changed byte in the tensors: the checksum refuses it, in place or copied */
    bytes[len - 3] ^= 0x01;
    th_write(bad, bytes, len);
    bytes[len - 3] ^= 0x01;
    expect_load_error(bad, "bad.safetensors: corrupt: the tensor data's checksum");

    /* a file written before checksums (the key renamed away): loads, marked unverified */
    unsigned char *key = NULL;
    for (size_t i = 0; i + 11 <= len && !key; i++)
        if (memcmp(bytes + i, "\"data_xxh3\"", 11) == 0) key = bytes + i;
    assert_non_null(key);
    memcpy(key, "\"data_xxh0\"", 11);
    th_write(bad, bytes, len);
    memcpy(key, "\"data_xxh3\"", 11);
    assert_int_equal(loads(bad), 1);
    /* so does the converted SCAN checkpoint committed before them */
    assert_int_equal(loads("tests/fixtures/scan/converted_fake.safetensors"), 1);

    /* a params_hash that is not the parameters' (the file's own checksum is right) */
    {
        ua_st_entry e[UA_MAX_TENSORS];
        for (int t = 0; t < m.n_tensors; t++) {
            const ua_tensor_info *ti = &m.tensors[t];
            e[t] = (ua_st_entry){ti->name, UA_ST_F32, ti->ndim, {ti->shape[0], ti->shape[1]}, m.params + ti->offset};
        }
        char *opt = ua_options_to_json(&o);
        const char *k[2] = {"opt", "params_hash"}, *v[2] = {opt, "0123456789abcdef"};
        assert_int_equal(ua_st_write(bad, e, (size_t)m.n_tensors, k, v, 2, &err), 0);
        expect_load_error(bad, "but the file records params_hash 0123456789abcdef");
        v[1] = "xyz";
        assert_int_equal(ua_st_write(bad, e, (size_t)m.n_tensors, k, v, 2, &err), 0);
        expect_load_error(bad, "\"params_hash\" = \"xyz\" is not 16 hex digits");
        free(opt);
    }

    /* a NaN parameter, an infinite moment */
    const ua_tensor_info *bias = ua_model_tensor(&m, "img_enc.fc.bias");
    m.params[bias->offset + 2] = NAN;
    assert_int_equal(ua_checkpoint_save(bad, &o, &m, NULL, NULL, NULL, NULL, &err), 0);
    expect_load_error(bad, "tensor 'img_enc.fc.bias' element 2 is NaN");
    m.params[bias->offset + 2] = 0.25f;
    eas[ua_model_tensor(&m, "txt_enc.embed.weight")->offset + 4] = INFINITY;
    assert_int_equal(ua_checkpoint_save(bad, &o, &m, ea, eas, &st, NULL, &err), 0);
    expect_load_error(bad, "tensor 'optim.exp_avg_sq.txt_enc.embed.weight' element 4 [1, 1] is +Inf");
    eas[ua_model_tensor(&m, "txt_enc.embed.weight")->offset + 4] = 0;

    /* tensors the options do not imply: a bidirectional GRU's under bi_gru false */
    ua_options uni = o;
    uni.model.bi_gru = 0;
    assert_int_equal(ua_checkpoint_save(bad, &uni, &m, NULL, NULL, NULL, NULL, &err), 0);
    expect_load_error(bad, "tensor 'txt_enc.rnn.weight_ih_l0_reverse' is not part of the model its opt: bi_gru false");
    /* and any other stray tensor under the model's prefixes */
    static const float one[1] = {1};
    ua_st_entry stray = {"img_enc.fc.weight_g", UA_ST_F32, 0, {0}, one};
    rewrite(good, bad, NULL, &stray);
    expect_load_error(bad, "tensor 'img_enc.fc.weight_g' is not part of the model");
    stray.name = "optim.step";
    rewrite(good, bad, NULL, &stray);
    expect_load_error(bad, "tensor 'optim.step' is not part of the model");
    /* a name outside them is not the model's business */
    stray.name = "notes.extra";
    rewrite(good, bad, NULL, &stray);
    assert_int_equal(loads(bad), 0);

    /* missing tensors: a parameter, one moment of a set */
    rewrite(good, bad, "txt_enc.rnn.bias_hh_l0", NULL);
    expect_load_error(bad, "missing tensor 'txt_enc.rnn.bias_hh_l0' (its opt: bi_gru true");
    rewrite(good, bad, "optim.exp_avg_sq.img_enc.fc.bias", NULL);
    expect_load_error(bad, "missing tensor 'optim.exp_avg_sq.img_enc.fc.bias' (the file holds other optimizer moments)");

    free(bytes);
    free(ea); free(eas);
    ua_model_free(&m);
    th_rmrf(dir);
    free(dir); free(good); free(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_open_in_place),
        cmocka_unit_test(test_corrupt_and_mismatched),
        cmocka_unit_test(test_integrity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
