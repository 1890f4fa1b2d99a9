/* The one table of options (src/train/options.c): its rows are consistent (one flag and one key
 * each, in range defaults, choice names the model's own), the defaults and the checkpoint's
 * "opt" JSON come from it in both directions (every row round-trips, a value of the wrong type is
 * refused by name and leaves the options as they were), and the copies by class touch their
 * class only. */
#include "helpers.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/options.h"

static void test_rows_are_consistent(void **state)
{
    (void)state;
    size_t n;
    const ua_option_def *t = ua_option_table(&n);
    assert_true(n >= 49);   /* every key that checkpoints have recorded */
    ua_options d;
    ua_options_default(&d);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(t[i].key);
        assert_non_null(t[i].help);
        assert_true(t[i].offset + t[i].size <= sizeof(ua_options));
        for (size_t j = 0; j < i; j++) {
            if (strcmp(t[i].key, t[j].key) == 0) fail_msg("key %s twice", t[i].key);
            if (t[i].flag && t[j].flag && strcmp(t[i].flag, t[j].flag) == 0) fail_msg("flag %s twice", t[i].flag);
            if (t[i].offset < t[j].offset + t[j].size && t[j].offset < t[i].offset + t[i].size)
                fail_msg("%s and %s share a field", t[i].key, t[j].key);
        }
        if (t[i].flag) assert_ptr_equal(ua_option_by_flag(t[i].flag), &t[i]);
        /* a number's default lies in its range */
        if (t[i].type == UA_OT_INT || t[i].type == UA_OT_LONG || t[i].type == UA_OT_DOUBLE)
            if (!(t[i].def >= t[i].lo && t[i].def <= t[i].hi)) fail_msg("%s: default %g outside [%g, %g]", t[i].key, t[i].def, t[i].lo, t[i].hi);
        if (t[i].type == UA_OT_ENUM) {
            char name[64];
            ua_option_choice_name(t[i].choices, (int)t[i].def, name, sizeof name);
            assert_string_not_equal(name, "?");
        }
        /* an override is a checkpoint flag's: shapes and UARDA's switches never override */
        if (t[i].cls & (UA_OC_SHAPE | UA_OC_UARDA)) assert_int_equal(t[i].override, 0);
    }
    assert_null(ua_option_by_flag("no-such-flag"));
}

/* the choice names are the model's own (attention.h, relevance.h), value for value */
static void test_choices_are_the_models_names(void **state)
{
    (void)state;
    struct { const char *flag; const char *(*name)(int); int n; } rows[] = {
        {"cross-attn", NULL, 2}, {"raw-feature-norm", NULL, 7}, {"agg-func", NULL, 4}, {"clip", NULL, 2},
        {"mask", NULL, 2}, {"logit", NULL, 2}, {"irr", NULL, 3}, {"score-form", NULL, 2}, {"t-mode", NULL, 3},
        {"t-est", NULL, 3}, {"neg-src", NULL, 3}, {"t-test", NULL, 3}, {"sep", NULL, 3},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        const ua_option_def *d = ua_option_by_flag(rows[r].flag);
        assert_non_null(d);
        assert_int_equal(d->type, UA_OT_ENUM);
        for (int k = 0; k < rows[r].n; k++) {
            char name[64];
            ua_option_choice_name(d->choices, k, name, sizeof name);
            const char *model;
            switch (r) {
            case 0: model = ua_direction_name((ua_direction)k); break;
            case 1: model = ua_feature_norm_name((ua_feature_norm)k); break;
            case 2: model = ua_agg_name((ua_agg)k); break;
            case 3: model = ua_clip_name((ua_clip_mode)k); break;
            case 4: model = ua_mask_name((ua_mask_mode)k); break;
            case 5: model = ua_logit_name((ua_logit_mode)k); break;
            case 6: model = ua_irr_name((ua_irr_mode)k); break;
            case 7: model = ua_score_form_name((ua_score_form)k); break;
            case 8: model = ua_t_mode_name((ua_t_mode)k); break;
            case 9: model = ua_t_est_name((ua_t_est)k); break;
            case 10: model = ua_neg_src_name((ua_neg_src)k); break;
            case 11: model = ua_t_test_name((ua_t_test)k); break;
            default: model = ua_sep_name((ua_sep_mode)k); break;
            }
            if (strcmp(name, model) != 0) fail_msg("--%s value %d: the table says %s, the model %s", rows[r].flag, k, name, model);
        }
        char past[64];
        ua_option_choice_name(d->choices, rows[r].n, past, sizeof past);
        assert_string_equal(past, "?");   /* no name beyond the enum's values */
    }
    const ua_option_def *score = NULL;
    size_t n;
    const ua_option_def *t = ua_option_table(&n);
    for (size_t i = 0; i < n; i++) if (strcmp(t[i].key, "score") == 0) score = &t[i];
    assert_non_null(score);
    for (int k = 0; k < 2; k++) {
        char name[64];
        ua_option_choice_name(score->choices, k, name, sizeof name);
        assert_string_equal(name, ua_score_name((ua_score_mode)k));
    }
}

/* the defaults: SCAN's recipe, then the scan preset; the model's and UARDA's own defaults are the
 * same rows */
static void test_defaults(void **state)
{
    (void)state;
    ua_options o;
    memset(&o, 0x5a, sizeof o);
    ua_options_default(&o);
    assert_int_equal(o.model.img_dim, 2048);
    assert_int_equal(o.model.embed_size, 1024);
    assert_int_equal(o.model.word_dim, 300);
    assert_int_equal(o.model.bi_gru, 1);
    assert_int_equal(o.model.attn.agg, UA_AGG_MEAN);
    assert_true(o.model.attn.lambda_softmax == 9.0 && o.learning_rate == 2e-4 && o.grad_clip == 2.0);
    assert_int_equal(o.batch_size, 128);
    assert_int_equal(o.seed, 1);
    assert_string_equal(o.data_path, "./data/");
    assert_string_equal(o.model_kind, "scan");
    assert_int_equal(o.rel.t_mode, UA_T_ZERO);   /* the scan preset's */
    /* the threshold and the skip switch are run state, not options: ua_attn_opts has no such
     * members (ua_attn_cfg, a pass, has them), so nothing here can hold them */
    ua_model_opt m;
    ua_model_opt_default(&m);
    assert_memory_equal(&m, &o.model, sizeof m);
    ua_relevance_cfg c;
    ua_relevance_cfg_default(&c);
    assert_int_equal(c.t_mode, UA_T_ADAPTIVE);   /* the row's; the preset is the options' */
    c.t_mode = UA_T_ZERO;
    assert_memory_equal(&c, &o.rel, sizeof c);
}

/* every row set away from its default, written and read back onto the defaults */
static void test_json_round_trip(void **state)
{
    (void)state;
    size_t n;
    const ua_option_def *t = ua_option_table(&n);
    ua_options o, back;
    ua_options_default(&o);
    for (size_t i = 0; i < n; i++) {
        void *p = ua_option_field(&t[i], &o);
        switch (t[i].type) {
        case UA_OT_INT: { int v = (int)t[i].lo + 1; memcpy(p, &v, sizeof v); break; }
        case UA_OT_BOOL: { int v = t[i].def == 0; memcpy(p, &v, sizeof v); break; }
        case UA_OT_LONG: { long long v = 123456789012LL; memcpy(p, &v, sizeof v); break; }
        case UA_OT_DOUBLE: { double v = t[i].lo + 0.125; memcpy(p, &v, sizeof v); break; }
        case UA_OT_ENUM: { int v = t[i].def == 0 ? 1 : 0; memcpy(p, &v, sizeof v); break; }
        case UA_OT_TEXT: snprintf(p, t[i].size, "%s", "x"); break;
        }
    }
    snprintf(o.precomp_enc_type, sizeof o.precomp_enc_type, "basic");   /* the only one supported */
    o.model.attn.irr = UA_IRR_ZERO;     /* a consistent whole: ua_options_check */
    o.model.attn.score = UA_SCORE_SCAN;
    o.rel.min_samples = 2;
    char *j = ua_options_to_json(&o);
    assert_non_null(j);
    cJSON *obj = cJSON_Parse(j);
    assert_int_equal(cJSON_GetArraySize(obj), (int)n);   /* one key per row */
    cJSON_Delete(obj);
    ua_options_default(&back);
    ua_err err;
    if (ua_options_from_json(&back, j, "opt", &err)) fail_msg("%s", err.msg);
    for (size_t i = 0; i < n; i++)
        if (!ua_option_equal(&t[i], &o, &back)) fail_msg("%s did not round-trip", t[i].key);
    free(j);
}

static void expect_bad(const char *json, const char *want)
{
    ua_options o, before;
    ua_options_default(&o);
    o.model.embed_size = 77;
    before = o;
    ua_err err;
    assert_int_equal(ua_options_from_json(&o, json, "ck.safetensors", &err), -1);
    if (!strstr(err.msg, want)) fail_msg("message '%s' lacks '%s'", err.msg, want);
    assert_memory_equal(&o, &before, sizeof o);   /* unchanged on error */
}

/* values of the wrong type, unknown names, inconsistent wholes: refused by name */
static void test_json_errors(void **state)
{
    (void)state;
    expect_bad("[1]", "ck.safetensors: the \"opt\" metadata is not a JSON object");
    expect_bad("{\"embed_size\": 3, \"word_dim\": 2.5}", "ck.safetensors: \"word_dim\" must be an integer");
    expect_bad("{\"embed_size\": 3, \"margin\": \"big\"}", "ck.safetensors: \"margin\" must be a number");
    expect_bad("{\"bi_gru\": 2}", "ck.safetensors: \"bi_gru\" must be a boolean");
    expect_bad("{\"agg_func\": \"Median\"}", "ck.safetensors: \"agg_func\" is \"Median\", not one of LogSumExp|Mean|Max|Sum");
    expect_bad("{\"cross_attn\": 1}", "ck.safetensors: \"cross_attn\" must be a string (t2i|i2t)");
    expect_bad("{\"model\": \"a-kind-of-model-named-at-length\"}", "ck.safetensors: \"model\" is longer than 15 bytes");
    expect_bad("{\"precomp_enc_type\": \"weight_norm\"}", "precomp_enc_type \"weight_norm\" is not supported");
    expect_bad("{\"irr\": \"scan\", \"mask\": \"hard\"}", "irr \"scan\" needs mask \"off\"");
    expect_bad("{\"alpha\": -1}", "ck.safetensors: alpha -1 must be > 0");
    /* absent and null keys keep their values, booleans count as numbers, unknown keys are ignored */
    ua_options o;
    ua_options_default(&o);
    ua_err err;
    assert_int_equal(ua_options_from_json(&o, "{\"margin\": null, \"no_imgnorm\": 1, \"max_violation\": false, "
                                          "\"measure\": \"cosine\", \"embed_size\": true}", "x", &err), 0);
    assert_true(o.model.margin == 0.2);
    assert_int_equal(o.model.no_imgnorm, 1);
    assert_int_equal(o.model.max_violation, 0);
    assert_int_equal(o.model.embed_size, 1);
}

/* a copy by class touches the rows of that class only */
static void test_copy_by_class(void **state)
{
    (void)state;
    ua_options a, b;
    ua_options_default(&a);
    ua_options_default(&b);
    b.model.margin = 0.5;                              /* loss */
    b.model.embed_size = 16;                           /* shape */
    b.model.attn.agg = UA_AGG_MAX;                     /* score */
    b.model.attn.clip = UA_CLIP_UARDA;                 /* UARDA */
    b.num_epochs = 3;                                  /* run */
    ua_model_opt m = a.model;
    ua_model_opt_copy_classes(&m, &b.model, UA_OC_LOSS | UA_OC_SCORE);
    assert_true(m.margin == 0.5);
    assert_int_equal(m.attn.agg, UA_AGG_MAX);
    assert_int_equal(m.embed_size, 1024);
    assert_int_equal(m.attn.clip, UA_CLIP_SCAN);
    ua_options c = a;
    ua_options_copy_classes(&c, &b, UA_OC_RUN | UA_OC_UARDA);
    assert_int_equal(c.num_epochs, 3);
    assert_int_equal(c.model.attn.clip, UA_CLIP_UARDA);
    assert_true(c.model.margin == 0.2);
    char buf[64];
    ua_option_format(ua_option_by_flag("agg-func"), &b, buf, sizeof buf);
    assert_string_equal(buf, "Max");
    ua_option_format(ua_option_by_flag("bi-gru"), &b, buf, sizeof buf);
    assert_string_equal(buf, "1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_are_consistent),
        cmocka_unit_test(test_choices_are_the_models_names),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_copy_by_class),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
