/* The options of uarda: their one table (options.h), the defaults, the checkpoint's "opt" JSON
 * in both directions, and the presets of --model. */
#include "uarda/options.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ENUM fields are read and written as int */
_Static_assert(sizeof(ua_direction) == sizeof(int) && sizeof(ua_feature_norm) == sizeof(int) &&
               sizeof(ua_t_mode) == sizeof(int) && sizeof(ua_clip_mode) == sizeof(int),
               "enum options are int-sized");

#define F(field) offsetof(ua_options, field), sizeof(((ua_options *)0)->field)
#define BIG 2147483647.0
#define ROW_INT(flag, key, field, def, lo, hi, cls, ovr, help) {flag, key, UA_OT_INT, F(field), def, NULL, lo, hi, NULL, cls, ovr, help}
#define ROW_LONG(flag, key, field, def, lo, hi, cls, ovr, help) {flag, key, UA_OT_LONG, F(field), def, NULL, lo, hi, NULL, cls, ovr, help}
#define ROW_DBL(flag, key, field, def, lo, hi, cls, ovr, help) {flag, key, UA_OT_DOUBLE, F(field), def, NULL, lo, hi, NULL, cls, ovr, help}
#define ROW_BOOL(flag, key, field, def, cls, ovr, help) {flag, key, UA_OT_BOOL, F(field), def, NULL, 0, 1, NULL, cls, ovr, help}
#define ROW_ENUM(flag, key, field, def, choices, cls, ovr, help) {flag, key, UA_OT_ENUM, F(field), def, NULL, 0, 0, choices, cls, ovr, help}
#define ROW_TEXT(flag, key, field, def, choices, cls, ovr, help) {flag, key, UA_OT_TEXT, F(field), 0, def, 0, 0, choices, cls, ovr, help}
enum { R = UA_OVR_RESUME, I = UA_OVR_INFER };
enum { PATH = UA_OC_PATH, RUN = UA_OC_RUN, LOSS = UA_OC_LOSS, SHAPE = UA_OC_SHAPE, SCORE = UA_OC_SCORE,
       UARDA = UA_OC_UARDA, TEST = UA_OC_TEST };

/* Every option, once. The order is the help's (train) and the checkpoint JSON's. Defaults are
 * SCAN's with the Flickr30K t2i AVG recipe; the --model scan preset then sets UARDA's switches
 * and t_mode zero (ua_options_default). */
static const ua_option_def OPTIONS[] = {
    /* the run's folders (uarda train; a resumed run's are always its own) */
    ROW_TEXT("data-path", "data_path", data_path, "./data/", NULL, PATH, R, "root of the <data-name> folder"),
    ROW_TEXT("data-name", "data_name", data_name, "precomp", NULL, PATH, R, "dataset folder, e.g. f30k_precomp"),
    ROW_TEXT("vocab-path", "vocab_path", vocab_path, "./vocab/", NULL, PATH, R,
             "vocabulary folder (file <data-name>_vocab.json) or .json file"),
    ROW_TEXT("logger-name", "logger_name", logger_name, "./runs/runX/log", NULL, PATH, R,
             "folder of the JSON-lines metrics log (train.jsonl)"),
    ROW_TEXT("model-name", "model_name", model_name, "./runs/runX/checkpoint", NULL, PATH, R,
             "folder of checkpoint.safetensors and model_best.safetensors"),
    /* the run (spec scan.md 2.1, 3) */
    ROW_INT("num-epochs", "num_epochs", num_epochs, 30, 0, 100000, RUN, R, "number of training epochs"),
    ROW_INT("batch-size", "batch_size", batch_size, 128, 2, 1 << 20, RUN, R, "size of a training mini-batch"),
    ROW_DBL("grad-clip", "grad_clip", grad_clip, 2.0, -1e9, 1e9, RUN, R, "gradient norm clipping threshold (<= 0: off)"),
    ROW_DBL("learning-rate", "learning_rate", learning_rate, 2e-4, 1e-12, 10, RUN, R, "initial learning rate (Adam)"),
    ROW_INT("lr-update", "lr_update", lr_update, 15, 1, BIG, RUN, R, "divide the learning rate by 10 every this many epochs"),
    ROW_INT("workers", "workers", workers, 10, 0, 1024, RUN, R, "accepted for SCAN compatibility; unused (use --threads)"),
    ROW_INT("log-step", "log_step", log_step, 10, 1, BIG, RUN, R, "write a metrics line every this many iterations"),
    ROW_INT("val-step", "val_step", val_step, 500, 0, BIG, RUN, R, "also validate every this many iterations (0: off)"),
    ROW_LONG("seed", "seed", seed, 1, 0, 9.2233720368547e18, RUN, R, "seed of the initialisation and the data order"),
    /* the loss */
    ROW_DBL("margin", "margin", model.margin, 0.2, 0, 100, LOSS, R, "rank loss margin"),
    ROW_BOOL("max-violation", "max_violation", model.max_violation, 1, LOSS, R, "use the hardest negative (VSE++)"),
    ROW_DBL("lambda-sep", "lambda_sep", rel.lambda_sep, 0, 0, 1e6, LOSS, R, "weight of the separation loss"),
    /* the parameters' shapes */
    ROW_INT("word-dim", "word_dim", model.word_dim, 300, 1, 65536, SHAPE, 0, "dimensionality of the word embedding"),
    ROW_INT("embed-size", "embed_size", model.embed_size, 1024, 1, 65536, SHAPE, 0, "dimensionality of the joint embedding"),
    ROW_INT("num-layers", "num_layers", model.num_layers, 1, 1, 16, SHAPE, 0, "number of GRU layers"),
    ROW_INT("img-dim", "img_dim", model.img_dim, 2048, 1, 1 << 20, SHAPE, 0, "dimensionality of the region features"),
    ROW_TEXT("precomp-enc-type", "precomp_enc_type", precomp_enc_type, "basic", "basic", SHAPE, 0, "image encoder (basic: FC)"),
    ROW_BOOL("bi-gru", "bi_gru", model.bi_gru, 1, SHAPE, 0, "bidirectional GRU, directions averaged"),
    ROW_INT(NULL, "vocab_size", model.vocab_size, 0, 0, BIG, SHAPE, 0, "words of the vocabulary (the data's)"),
    /* the scoring */
    ROW_BOOL("no-imgnorm", "no_imgnorm", model.no_imgnorm, 0, SCORE, R | I, "do not l2-normalise the region embeddings"),
    ROW_BOOL("no-txtnorm", "no_txtnorm", model.no_txtnorm, 0, SCORE, R | I, "do not l2-normalise the word embeddings"),
    ROW_ENUM("raw-feature-norm", "raw_feature_norm", model.attn.norm, UA_NORM_CLIPPED_L2NORM,
             "softmax|l2norm|clipped_l2norm|l1norm|clipped_l1norm|clipped|no_norm", SCORE, R | I,
             "normalisation of the raw similarities"),
    ROW_ENUM("agg-func", "agg_func", model.attn.agg, UA_AGG_MEAN, "LogSumExp|Mean|Max|Sum", SCORE, R | I,
             "aggregation of the relevances"),
    ROW_ENUM("cross-attn", "cross_attn", model.attn.direction, UA_T2I, "t2i|i2t", SCORE, R | I,
             "t2i: words attend to regions; i2t: regions to words"),
    ROW_DBL("lambda-lse", "lambda_lse", model.attn.lambda_lse, 6.0, 1e-6, 1000, SCORE, R | I, "LogSumExp temperature (lambda_2)"),
    ROW_DBL("lambda-softmax", "lambda_softmax", model.attn.lambda_softmax, 9.0, 1e-6, 1000, SCORE, R | I,
            "attention inverse temperature (lambda_1)"),
    ROW_ENUM("score-form", "score_form", model.attn.form, UA_FORM_TEST, "test|train", SCORE, R | I,
             "NAAF's score at evaluation: its test form (the negative branch decided on the words' smoothed maxima) or its "
             "training form (training always uses the training form)"),
    /* UARDA (spec uarda.md 4.10); --model uarda presets the project's reconstruction, and every switch given alongside wins */
    ROW_TEXT("model", "model", model_kind, "scan", "scan|uarda|naaf", UARDA, 0,
             "scan: SCAN exactly; uarda: the project's UARDA (NAAF's three-part score in both directions, "
             "lambda-softmax 12 t2i (SCAN's 9 raised: docs/results.md) or SCAN's 4 i2t; t-mode adaptive, t-est mixture, neg-src random, ema 0.7, min-samples 200; i2t: "
             "alpha 2, t-test train; t2i: alpha 1, sep gauss with lambda-sep 1, t-test safe; exact skipping at test; the faithful A3 setting is --clip uarda --mask hard --irr zero --t-mode "
             "adaptive --t-est naaf_compat); "
             "naaf: NAAF's released score (negative branch, masked feature part, threshold-free relevance part; mean over the "
             "words), lambda-softmax 20, t-mode adaptive, t-est naaf_compat, neg-src least, alpha 2, ema 0.7, min-samples 200, "
             "t-test safe, margin 0.2, max-violation, learning-rate 5e-4, lr-update 10, num-epochs 20 (flags given alongside win)"),
    ROW_ENUM(NULL, "score", model.attn.score, UA_SCORE_SCAN, "scan|naaf", UARDA, 0, "the pair score (set by --model)"),
    ROW_ENUM("clip", "clip", model.attn.clip, UA_CLIP_SCAN, "scan|uarda", UARDA, 0, "scan: LeakyReLU(0.1); uarda: max(S - t, 0)"),
    ROW_ENUM("mask", "mask", model.attn.mask, UA_MASK_OFF, "off|hard", UARDA, 0, "hard: attend only to entries with S > t"),
    ROW_ENUM("logit", "logit", model.attn.logit, UA_LOGIT_SCANLIKE, "scanlike|raw", UARDA, 0,
             "softmax of lambda * normalised S, or of lambda * S"),
    ROW_ENUM("irr", "irr", model.attn.irr, UA_IRR_SCAN, "scan|zero|neg", UARDA, 0, "score of an irrelevant query (max S <= t)"),
    ROW_ENUM("t-mode", "t_mode", rel.t_mode, UA_T_ADAPTIVE, "zero|fixed|adaptive", UARDA, 0, "the relevance threshold"),
    ROW_DBL("t-fixed", "t_fixed", rel.t_fixed, 0, -1, 1, UARDA, 0, "t for --t-mode fixed (and --t-test fixed)"),
    ROW_ENUM("t-est", "t_est", rel.t_est, UA_T_EST_CLEAN, "naaf_compat|clean|mixture", UARDA, 0,
             "adaptive estimator: NAAF's; batched with rings; rings with the relevant component of the positives fitted apart"),
    ROW_DBL("alpha", "alpha", rel.alpha, 2.0, 0, 100, UARDA, 0, "weight of mismatches judged matched"),
    ROW_INT("min-samples", "min_samples", rel.min_samples, 200, 1, BIG, UARDA, 0, "samples before the first estimate"),
    ROW_DBL("ema", "ema", rel.ema, 0.7, 0, 1, UARDA, 0, "t <- ema t_new + (1 - ema) t_old"),
    ROW_ENUM("neg-src", "neg_src", rel.neg_src, UA_NEG_LEAST, "least|hardest|random", UARDA, 0, "negative image of the samples"),
    ROW_ENUM("sep", "sep", rel.sep, UA_SEP_NONE, "none|gauss|hinge", UARDA, 0, "separation loss on the samples"),
    ROW_DBL(NULL, "hinge_delta", rel.hinge_delta, 0.05, 0, 1e6, UARDA, 0, "delta of the hinge separation loss"),
    ROW_INT(NULL, "ring_size", rel.ring_size, 2048, 2, 1 << 24, UARDA, 0, "clean, mixture: samples kept per ring"),
    /* the threshold at test */
    ROW_ENUM("t-test", "t_test", rel.t_test, UA_T_TEST_SAFE, "safe|train|fixed", TEST, R,
             "threshold at test: mu+ - 3 sigma+, t_tr, or --t-fixed"),
};
#undef F
#undef BIG
#define N_OPTIONS (sizeof OPTIONS / sizeof OPTIONS[0])

const ua_option_def *ua_option_table(size_t *n)
{
    *n = N_OPTIONS;
    return OPTIONS;
}

const ua_option_def *ua_option_by_flag(const char *flag)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (OPTIONS[i].flag && strcmp(OPTIONS[i].flag, flag) == 0) return &OPTIONS[i];
    return NULL;
}

void *ua_option_field(const ua_option_def *d, ua_options *o) { return (char *)o + d->offset; }
static const void *field_of(const ua_option_def *d, const ua_options *o) { return (const char *)o + d->offset; }

int ua_option_choice_index(const char *choices, const char *v)
{
    size_t n = strlen(v);
    int k = 0;
    for (const char *p = choices; p && *p; k++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0) return k;
        if (!bar) break;
        p = bar + 1;
    }
    return -1;
}

void ua_option_choice_name(const char *choices, int k, char *buf, size_t cap)
{
    const char *p = choices;
    for (int i = 0; p && i < k; i++) {
        p = strchr(p, '|');
        if (p) p++;
    }
    size_t len = p ? strcspn(p, "|") : 0;
    if (!p || k < 0 || len == 0) snprintf(buf, cap, "?");
    else snprintf(buf, cap, "%.*s", (int)len, p);
}

/* ---- defaults ------------------------------------------------------------------------------ */

static void set_default(const ua_option_def *d, ua_options *o)
{
    void *p = ua_option_field(d, o);
    switch (d->type) {
    case UA_OT_INT:
    case UA_OT_BOOL:
    case UA_OT_ENUM: { int v = (int)d->def; memcpy(p, &v, sizeof v); break; }
    case UA_OT_LONG: { long long v = (long long)d->def; memcpy(p, &v, sizeof v); break; }
    case UA_OT_DOUBLE: memcpy(p, &d->def, sizeof d->def); break;
    case UA_OT_TEXT: snprintf(p, d->size, "%s", d->def_text); break;
    }
}

/* every row's default; what no row holds (the attention's threshold and skip) 0 */
static void table_defaults(ua_options *o)
{
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < N_OPTIONS; i++) set_default(&OPTIONS[i], o);
}

void ua_options_default(ua_options *o)
{
    table_defaults(o);
    ua_options_apply_model_kind(o, "scan");
}

void ua_model_opt_default(ua_model_opt *m)
{
    ua_options o;
    table_defaults(&o);
    *m = o.model;
}

void ua_relevance_cfg_default(ua_relevance_cfg *cfg)
{
    ua_options o;
    table_defaults(&o);
    *cfg = o.rel;
}

/* NAAF's three-part score (which replaces the UARDA switches, so they are SCAN's) with the mean
 * over the words and clipped_l2norm, at temperature lambda, its threshold adaptive with NAAF's
 * alpha 2, EMA 0.7 and 200 samples: what the uarda and naaf presets share */
static void naaf_score_preset(ua_options *o, double lambda, ua_t_est est, ua_neg_src neg, ua_t_test t_test)
{
    ua_attn_opts *a = &o->model.attn;
    a->score = UA_SCORE_NAAF;
    a->clip = UA_CLIP_SCAN;
    a->mask = UA_MASK_OFF;
    a->logit = UA_LOGIT_SCANLIKE;
    a->irr = UA_IRR_SCAN;
    a->norm = UA_NORM_CLIPPED_L2NORM;
    a->agg = UA_AGG_MEAN;
    a->lambda_softmax = lambda;
    o->rel.t_mode = UA_T_ADAPTIVE;
    o->rel.t_est = est;
    o->rel.neg_src = neg;
    o->rel.alpha = 2.0;
    o->rel.ema = 0.7;
    o->rel.min_samples = 200;
    o->rel.t_test = t_test;
    o->rel.sep = UA_SEP_NONE;
}

int ua_options_apply_model_kind(ua_options *o, const char *kind)
{
    if (strcmp(kind, "scan") == 0) {
        o->model.attn.score = UA_SCORE_SCAN;
        o->model.attn.clip = UA_CLIP_SCAN;
        o->model.attn.mask = UA_MASK_OFF;
        o->model.attn.logit = UA_LOGIT_SCANLIKE;
        o->model.attn.irr = UA_IRR_SCAN;
        o->rel.t_mode = UA_T_ZERO;
    } else if (strcmp(kind, "uarda") == 0) {
        /* The project's UARDA reconstruction (docs/results.md, "The uarda preset"): NAAF's
         * three-part score (a negative branch for the words whose best region is below t, the
         * feature part over the regions above t, and the threshold-free relevance part, so that
         * no word ever loses its gradient), in both directions, with an attention temperature per
         * direction (i2t SCAN's 4; t2i 12, the best of 6, 9, 12, 15 and 20 on captions, where
         * SCAN's 9 is SCAN's best) instead of NAAF's 20; t learnt adaptively by the
         * mixture estimator (the relevant words of the positive samples fitted apart) on random
         * negatives. Per direction (docs/results.md): i2t, whose region queries are two modes
         * (clutter and objects), keeps alpha 2 and tests at t_tr, where exact skipping leaves out
         * most of the feature part; t2i, whose words are one mode under the bi-GRU, weighs both
         * errors alike (alpha 1, which keeps mu- < t_tr < mu+ where alpha 2 put t_tr above mu+),
         * adds the Gaussian separation loss (weight 1) and tests at the safe t_te.
         * Run options (learning rate, epochs) stay SCAN's. The faithful A3 setting is reachable
         * by its switches (--clip uarda --mask hard --irr zero --t-mode adaptive ...). */
        const int i2t = o->model.attn.direction == UA_I2T;
        o->model.attn.form = UA_FORM_TEST;
        naaf_score_preset(o, i2t ? 4 : 12, UA_T_EST_MIXTURE, UA_NEG_RANDOM, i2t ? UA_T_TEST_TRAIN : UA_T_TEST_SAFE);
        if (!i2t) {
            o->rel.alpha = 1.0;
            o->rel.sep = UA_SEP_GAUSS;
            o->rel.lambda_sep = 1.0;
        }
    } else if (strcmp(kind, "naaf") == 0) {
        /* NAAF's released scoring and recipe (spec uarda.md 2.2-2.7): its three-part score (which
         * replaces the UARDA switches, so they are SCAN's), lambda 20 in both softmaxes, the mean
         * over the words, the per-caption estimator with its gate, the least similar image as the
         * negative, alpha 2, EMA 0.7, an update once more than 200 words are collected, t_safe at
         * test; the hinge loss with margin 0.2 on the hardest negatives, gradient clip 2; Adam at
         * 5e-4 divided by 10 after 10 epochs, 20 epochs */
        naaf_score_preset(o, 20, UA_T_EST_NAAF_COMPAT, UA_NEG_LEAST, UA_T_TEST_SAFE);
        o->model.margin = 0.2;
        o->model.max_violation = 1;
        o->grad_clip = 2.0;
        o->learning_rate = 5e-4;
        o->lr_update = 10;
        o->num_epochs = 20;
    } else {
        return -1;
    }
    snprintf(o->model_kind, sizeof o->model_kind, "%s", kind);
    return 0;
}

int ua_options_thresholded(const ua_options *o)
{
    return ua_attn_thresholded(&o->model.attn);
}

int ua_options_check_score(const ua_options *o, const char *name, ua_err *err)
{
    const ua_attn_opts *a = &o->model.attn;
    if (a->score != UA_SCORE_NAAF) return 0;
    if (a->clip != UA_CLIP_SCAN || a->mask != UA_MASK_OFF || a->logit != UA_LOGIT_SCANLIKE || a->irr != UA_IRR_SCAN)
        return ua_fail(err, "%s: NAAF's score has its own negative branch, masked feature part and relevance part: the "
                       "switches clip, mask, logit and irr must stay scan, off, scanlike and scan (they are %s, %s, %s, %s)",
                       name, ua_clip_name(a->clip), ua_mask_name(a->mask), ua_logit_name(a->logit), ua_irr_name(a->irr));
    if (a->agg != UA_AGG_MEAN)
        return ua_fail(err, "%s: NAAF's score is the mean over the queries: agg_func must be Mean, not %s", name,
                       ua_agg_name(a->agg));
    if (a->norm != UA_NORM_CLIPPED_L2NORM)
        return ua_fail(err, "%s: NAAF's relevance part normalises LeakyReLU(S) by its l2 norm: raw_feature_norm must be "
                       "clipped_l2norm, not %s", name, ua_feature_norm_name(a->norm));
    return 0;
}

/* ---- one row's value ------------------------------------------------------------------------ */

void ua_option_format(const ua_option_def *d, const ua_options *o, char *buf, size_t cap)
{
    const void *p = field_of(d, o);
    int i;
    double x;
    long long l;
    switch (d->type) {
    case UA_OT_INT:
    case UA_OT_BOOL:   memcpy(&i, p, sizeof i); snprintf(buf, cap, "%d", i); break;
    case UA_OT_ENUM:   memcpy(&i, p, sizeof i); ua_option_choice_name(d->choices, i, buf, cap); break;
    case UA_OT_DOUBLE: memcpy(&x, p, sizeof x); snprintf(buf, cap, "%g", x); break;
    case UA_OT_LONG:   memcpy(&l, p, sizeof l); snprintf(buf, cap, "%lld", l); break;
    case UA_OT_TEXT:   snprintf(buf, cap, "%.*s", (int)d->size, (const char *)p); break;
    }
}

int ua_option_equal(const ua_option_def *d, const ua_options *a, const ua_options *b)
{
    const char *x = field_of(d, a), *y = field_of(d, b);
    if (d->type == UA_OT_TEXT) return strncmp(x, y, d->size) == 0;
    return memcmp(x, y, d->size) == 0;
}

void ua_option_copy(const ua_option_def *d, ua_options *dst, const ua_options *src)
{
    memcpy(ua_option_field(d, dst), field_of(d, src), d->size);
}

void ua_options_copy_classes(ua_options *dst, const ua_options *src, unsigned classes)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (OPTIONS[i].cls & classes) ua_option_copy(&OPTIONS[i], dst, src);
}

/* the rows whose field lies in [begin, begin + size) of ua_options */
static int row_within(const ua_option_def *d, size_t begin, size_t size)
{
    return d->offset >= begin && d->offset + d->size <= begin + size;
}

void ua_model_opt_copy_classes(ua_model_opt *dst, const ua_model_opt *src, unsigned classes)
{
    const size_t base = offsetof(ua_options, model);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const ua_option_def *d = &OPTIONS[i];
        if ((d->cls & classes) && row_within(d, base, sizeof *dst))
            memcpy((char *)dst + (d->offset - base), (const char *)src + (d->offset - base), d->size);
    }
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static int row_to_cjson(const ua_option_def *d, const ua_options *o, cJSON *j)
{
    const void *p = field_of(d, o);
    int i;
    long long l;
    double x;
    char name[64];
    switch (d->type) {
    case UA_OT_INT:    memcpy(&i, p, sizeof i); return cJSON_AddNumberToObject(j, d->key, i) ? 0 : -1;
    case UA_OT_BOOL:   memcpy(&i, p, sizeof i); return cJSON_AddBoolToObject(j, d->key, i) ? 0 : -1;
    case UA_OT_LONG:   memcpy(&l, p, sizeof l); return cJSON_AddNumberToObject(j, d->key, (double)l) ? 0 : -1;
    case UA_OT_DOUBLE: memcpy(&x, p, sizeof x); return cJSON_AddNumberToObject(j, d->key, x) ? 0 : -1;
    case UA_OT_ENUM:
        memcpy(&i, p, sizeof i);
        ua_option_choice_name(d->choices, i, name, sizeof name);
        return cJSON_AddStringToObject(j, d->key, name) ? 0 : -1;
    case UA_OT_TEXT:   return cJSON_AddStringToObject(j, d->key, (const char *)p) ? 0 : -1;
    }
    return -1;
}

/* one key into row d's field of o; absent or null: o's value stays */
static int row_from_cjson(const ua_option_def *d, const cJSON *j, ua_options *o, const char *name, ua_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, d->key);
    if (!v || cJSON_IsNull(v)) return 0;
    void *p = ua_option_field(d, o);
    const int is_bool = cJSON_IsBool(v), is_num = cJSON_IsNumber(v) && isfinite(v->valuedouble);
    const double x = is_bool ? (double)cJSON_IsTrue(v) : is_num ? v->valuedouble : 0;   /* booleans count as 0 / 1 */
    switch (d->type) {
    case UA_OT_BOOL:
    case UA_OT_INT: {
        if (d->type == UA_OT_BOOL && !is_bool && !(is_num && (x == 0 || x == 1)))
            return ua_fail(err, "%s: \"%s\" must be a boolean", name, d->key);
        if ((!is_bool && !is_num) || x != floor(x) || fabs(x) > 2147483647.0)
            return ua_fail(err, "%s: \"%s\" must be an integer", name, d->key);
        int i = (int)x;
        memcpy(p, &i, sizeof i);
        return 0;
    }
    case UA_OT_LONG: {
        if (!is_bool && !is_num) return ua_fail(err, "%s: \"%s\" must be a number", name, d->key);
        long long l = (long long)x;
        memcpy(p, &l, sizeof l);
        return 0;
    }
    case UA_OT_DOUBLE:
        if (!is_bool && !is_num) return ua_fail(err, "%s: \"%s\" must be a number", name, d->key);
        memcpy(p, &x, sizeof x);
        return 0;
    case UA_OT_ENUM: {
        if (!cJSON_IsString(v)) return ua_fail(err, "%s: \"%s\" must be a string (%s)", name, d->key, d->choices);
        int k = ua_option_choice_index(d->choices, v->valuestring);
        if (k < 0)
            return ua_fail(err, "%s: \"%s\" is \"%.60s\", not one of %s", name, d->key, v->valuestring, d->choices);
        memcpy(p, &k, sizeof k);
        return 0;
    }
    case UA_OT_TEXT:
        if (!cJSON_IsString(v)) return ua_fail(err, "%s: \"%s\" must be a string", name, d->key);
        if (strlen(v->valuestring) >= d->size)
            return ua_fail(err, "%s: \"%s\" is longer than %zu bytes", name, d->key, d->size - 1);
        snprintf(p, d->size, "%s", v->valuestring);
        return 0;
    }
    return -1;
}

/* the rows of fields within [begin, begin + size) of ua_options, to or from j */
static int rows_to_cjson(const ua_options *o, cJSON *j, size_t begin, size_t size)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (row_within(&OPTIONS[i], begin, size) && row_to_cjson(&OPTIONS[i], o, j)) return -1;
    return 0;
}

static int rows_from_cjson(ua_options *o, const cJSON *j, size_t begin, size_t size, const char *name, ua_err *err)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (row_within(&OPTIONS[i], begin, size) && row_from_cjson(&OPTIONS[i], j, o, name, err)) return -1;
    return 0;
}

char *ua_options_to_json(const ua_options *o)
{
    cJSON *j = cJSON_CreateObject();
    char *s = j && rows_to_cjson(o, j, 0, sizeof *o) == 0 ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return s;
}

int ua_options_check(const ua_options *o, const char *name, ua_err *err)
{
    if (ua_relevance_cfg_check(&o->rel, name, err)) return -1;
    if (o->model.attn.irr == UA_IRR_SCAN && o->model.attn.mask == UA_MASK_HARD)
        return ua_fail(err, "%s: irr \"scan\" needs mask \"off\" (a fully masked query has no attention)", name);
    if (ua_options_check_score(o, name, err)) return -1;
    if (strcmp(o->precomp_enc_type, "basic") != 0)
        return ua_fail(err, "%s: precomp_enc_type \"%s\" is not supported (only \"basic\")", name, o->precomp_enc_type);
    return 0;
}

int ua_options_from_json(ua_options *o, const char *json, const char *name, ua_err *err)
{
    cJSON *j = cJSON_Parse(json);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return ua_fail(err, "%s: the \"opt\" metadata is not a JSON object", name);
    }
    ua_options c = *o;
    int rc = rows_from_cjson(&c, j, 0, sizeof c, name, err) || ua_options_check(&c, name, err) ? -1 : 0;
    cJSON_Delete(j);
    if (!rc) *o = c;
    return rc;
}

int ua_relevance_cfg_to_cjson(const ua_relevance_cfg *cfg, struct cJSON *obj)
{
    ua_options o;
    memset(&o, 0, sizeof o);
    o.rel = *cfg;
    return rows_to_cjson(&o, obj, offsetof(ua_options, rel), sizeof o.rel);
}

int ua_relevance_cfg_from_cjson(ua_relevance_cfg *cfg, const struct cJSON *obj, const char *name, ua_err *err)
{
    if (!cJSON_IsObject(obj)) return ua_fail(err, "%s: relevance options: not a JSON object", name);
    ua_options o;
    memset(&o, 0, sizeof o);
    o.rel = *cfg;
    if (rows_from_cjson(&o, obj, offsetof(ua_options, rel), sizeof o.rel, name, err) ||
        ua_relevance_cfg_check(&o.rel, name, err))
        return -1;
    *cfg = o.rel;
    return 0;
}
