/* uarda eval: SCAN's retrieval metrics of one checkpoint or an ensemble on a split. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "uarda/checkpoint.h"
#include "uarda/compare.h"
#include "uarda/eval.h"

int cmd_eval(int argc, char **argv)
{
    ua_multi ckpts = {0};
    const char *data_path = NULL, *data_name = NULL, *vocab_path = NULL, *split = "test";
    int fold5 = 0, json = 0, threads = 0, full_dev = 0, grounding = 0;
    const char *skip = "on", *t_test = NULL;
    double t_fixed = 0;
    ua_options flags;
    ua_options_default(&flags);
    ua_model_flags f;
    ua_cli_model_flags_from(&flags, &f);
    f.model = NULL;   /* --model: none unless given (the checkpoint's own score then) */
    ua_opt opts[] = {
        {"checkpoint", UA_OPT_MULTI, &ckpts, NULL, "model to evaluate; twice (or more) for an ensemble", 0},
        {"data-path", UA_OPT_STR, &data_path, NULL, "root of the <data-name> folder (default: the checkpoint's)", 0},
        {"data-name", UA_OPT_STR, &data_name, NULL, "dataset folder (default: the checkpoint's)", 0},
        {"vocab-path", UA_OPT_STR, &vocab_path, NULL, "vocabulary folder or .json file (default: the checkpoint's)", 0},
        {"split", UA_OPT_STR, &split, NULL, "split to evaluate: dev, test, testall, ...", 0},
        {"fold5", UA_OPT_BOOL, &fold5, NULL, "MS-COCO 1K: average over five folds of 1000 images (use with testall)", 0},
        {"full-dev", UA_OPT_BOOL, &full_dev, NULL, "use all of dev (SCAN caps it at 5000 captions)", 0},
        {"json", UA_OPT_BOOL, &json, NULL, "print the results as JSON", 0},
        {"skip", UA_OPT_CHOICE, &skip, "on|off", "UARDA: skip irrelevant queries and masked entries (exact; with on, also timed against off)", 0},
        {"grounding", UA_OPT_BOOL, &grounding, NULL,
         "also measure the relevance judgements (max over regions > the test threshold) of the words of matched pairs "
         "against <split>_caps_grounding.txt: % of grounded words relevant, % of ungrounded irrelevant", 0},
        {"t-test", UA_OPT_CHOICE, &t_test, "safe|train|fixed",
         "UARDA: the threshold at test instead of the checkpoint's choice: safe t_te, train t_tr, or --t-fixed", 0},
        {"t-fixed", UA_OPT_FLOAT, &t_fixed, NULL, "UARDA: the threshold for --t-test fixed", 0},
        {"threads", UA_OPT_INT, &threads, NULL, "threads (0: OpenMP's default)", 0},
        UA_INFERENCE_MODEL_OPT(f),
        UA_SHAPE_FLAG_OPTS(flags, f),
        UA_SCORE_FLAG_OPTS(flags, f),
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cmd_spec spec = {"eval", "R@1/5/10, medr and meanr in both directions, and rsum, of a checkpoint (or the average of\n"
                        "several checkpoints' similarity matrices) on a split.",
                        "usage: uarda eval --checkpoint FILE [--checkpoint FILE2] [--split test] [--fold5] [--json] [--grounding]", opts, 0};
    ua_cli_annotate_inference(&spec);
    spec.epilog = ua_cli_limits_help();
    int st = ua_cli_parse(&spec, argc, argv, NULL);
    if (st >= 0) return st;
    if (ckpts.n == 0) { fprintf(stderr, "uarda eval: --checkpoint is required\n"); return 2; }
    ua_cli_set_threads(threads);
    ua_cli_eval_progress ep;
    const ua_progress_cb *progress = ua_cli_eval_progress_begin(&ep, "eval");
    ua_err err;
    ua_model models[UA_MULTI_MAX];
    const ua_model *ptrs[UA_MULTI_MAX];
    ua_options o[UA_MULTI_MAX];
    int n_loaded = 0, rc = 1, usage = 0;
    ua_vocab vocab = {0};
    ua_split s = {0};
    char *vocab_file = NULL, *gpath = NULL;
    for (int k = 0; k < ckpts.n; k++) {
        ua_options_default(&o[k]);
        if (ua_checkpoint_open(ckpts.v[k], &o[k], &models[k], &err)) goto fail;
        if (models[k].unverified) ua_cli_warn_no_checksum("eval", ckpts.v[k]);
        ptrs[k] = &models[k];
        n_loaded++;
        ua_options given = flags;
        if (ua_cli_inference_flags(&o[k], &models[k], &given, &f, &spec, ckpts.v[k], &err)) { usage = 1; goto fail; }
        const double *tf = ua_args_given(&spec, "t-fixed") ? &t_fixed : NULL;
        if ((t_test || tf) && ua_cli_eval_threshold(ckpts.v[k], &o[k], &models[k], t_test, tf, &err)) goto fail;
    }
    const char *dp = data_path ? data_path : o[0].data_path, *dn = data_name ? data_name : o[0].data_name;
    vocab_file = ua_vocab_file(vocab_path ? vocab_path : o[0].vocab_path, dn);
    if (ua_vocab_load(&vocab, vocab_file, &err)) goto fail;
    for (int k = 0; k < n_loaded; k++)
        if (models[k].opt.vocab_size != vocab.n) {
            ua_fail(&err, "%s was trained with a vocabulary of %d words, %s has %d", ckpts.v[k], models[k].opt.vocab_size,
                    vocab_file, vocab.n);
            goto fail;
        }
    if (ua_split_open(&s, dp, dn, split, &vocab, full_dev, &err)) goto fail;
    ua_grounding_stats gs = {0};
    if (grounding) {
        struct stat sb;
        gpath = ua_split_path(dp, dn, split, "caps_grounding.txt");
        if (!gpath || stat(gpath, &sb) != 0) {
            ua_fail(&err, "--grounding needs %s, which does not exist (only synthetic data has grounding files)",
                    gpath ? gpath : split);
            goto fail;
        }
        if (ua_grounding_agreement(&models[0], &s, gpath, &gs, progress, &err)) goto fail;
    }
    int skip_on = strcmp(skip, "on") == 0, thresholded = 0, naaf = 0;
    for (int k = 0; k < n_loaded; k++) {
        naaf |= models[k].opt.attn.score == UA_SCORE_NAAF;   /* skipping is a no-op for NAAF's score */
        ua_attn_set_skip(&models[k].opt.attn, skip_on);
        thresholded |= models[k].opt.attn.irr != UA_IRR_SCAN || models[k].opt.attn.score == UA_SCORE_NAAF;
    }
    double t0 = ua_now();
    ua_recall r;
    if (ua_evaluate_split(ptrs, n_loaded, &s, fold5, &r, progress, &err)) goto fail;
    double secs = ua_now() - t0;
    /* UARDA: the same similarities with and without skipping, timed, and how much was skipped */
    int compared = thresholded && skip_on && !fold5 && !naaf;
    ua_skip_comparison cmp = {0};
    if (compared && ua_compare_skipping(ptrs, n_loaded, &s, &cmp, progress, &err)) goto fail;
    const ua_sim_stats stats = cmp.stats;
    const double t_off = cmp.seconds_skip_off, t_on = cmp.seconds_skip_on, t_scan = cmp.seconds_scan,
                 max_diff = cmp.max_abs_difference;
    int n_img = ua_split_images_used(&s);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "split", split);
        cJSON_AddBoolToObject(j, "fold5", fold5);
        cJSON_AddNumberToObject(j, "images", fold5 ? n_img / 5 : n_img);
        cJSON_AddNumberToObject(j, "captions", fold5 ? n_img * s.im_div / 5 : n_img * s.im_div);
        cJSON_AddNumberToObject(j, "models", n_loaded);
        cJSON *i2t = cJSON_AddObjectToObject(j, "i2t"), *t2i = cJSON_AddObjectToObject(j, "t2i");
        const char *names[5] = {"r1", "r5", "r10", "medr", "meanr"};
        for (int i = 0; i < 5; i++) {
            cJSON_AddNumberToObject(i2t, names[i], r.i2t[i]);
            cJSON_AddNumberToObject(t2i, names[i], r.t2i[i]);
        }
        cJSON_AddNumberToObject(j, "rsum", r.rsum);
        cJSON_AddNumberToObject(j, "seconds", secs);
        if (thresholded) {
            cJSON *u = cJSON_AddObjectToObject(j, "uarda");
            cJSON_AddNumberToObject(u, "threshold", models[0].opt.attn.threshold);
            cJSON_AddStringToObject(u, "score", ua_score_name(models[0].opt.attn.score));
            if (models[0].opt.attn.score == UA_SCORE_NAAF)
                cJSON_AddStringToObject(u, "score_form", ua_score_form_name(models[0].opt.attn.form));
            cJSON_AddBoolToObject(u, "skip", skip_on);
            if (compared) {
                cJSON_AddNumberToObject(u, "skipped_query_fraction", stats.queries ? (double)stats.irrelevant / stats.queries : 0);
                cJSON_AddNumberToObject(u, "masked_entry_fraction", stats.entries ? (double)stats.masked / stats.entries : 0);
                cJSON_AddNumberToObject(u, "similarity_seconds_skip_off", t_off);
                cJSON_AddNumberToObject(u, "similarity_seconds_skip_on", t_on);
                cJSON_AddNumberToObject(u, "similarity_seconds_scan", t_scan);
                cJSON_AddNumberToObject(u, "max_abs_score_difference", max_diff);
            }
        }
        if (grounding) {
            cJSON *g = cJSON_AddObjectToObject(j, "grounding");
            cJSON_AddStringToObject(g, "file", gpath);
            cJSON_AddNumberToObject(g, "threshold", gs.threshold);
            cJSON_AddNumberToObject(g, "grounded_words", (double)gs.grounded);
            cJSON_AddNumberToObject(g, "grounded_relevant", (double)gs.grounded_relevant);
            cJSON_AddNumberToObject(g, "grounded_relevant_percent", gs.grounded ? 100.0 * gs.grounded_relevant / gs.grounded : 0.0);
            cJSON_AddNumberToObject(g, "ungrounded_words", (double)gs.ungrounded);
            cJSON_AddNumberToObject(g, "ungrounded_irrelevant", (double)gs.ungrounded_irrelevant);
            cJSON_AddNumberToObject(g, "ungrounded_irrelevant_percent",
                                    gs.ungrounded ? 100.0 * gs.ungrounded_irrelevant / gs.ungrounded : 0.0);
        }
        char *txt = cJSON_Print(j);
        printf("%s\n", txt);
        free(txt);
        cJSON_Delete(j);
    } else {
        printf("%s/%s %s%s: %d images x %d captions%s, %d model%s, %.1f s\n", dp, dn, split, fold5 ? " (5 folds of 1K)" : "",
               fold5 ? n_img / 5 : n_img, (fold5 ? n_img / 5 : n_img) * s.im_div, fold5 ? " per fold" : "", n_loaded,
               n_loaded > 1 ? "s (ensemble)" : "", secs);
        printf("                      R@1    R@5   R@10   medr   meanr\n");
        printf("image->text (i2t)  %6.1f %6.1f %6.1f %6.1f %7.1f\n", r.i2t[0], r.i2t[1], r.i2t[2], r.i2t[3], r.i2t[4]);
        printf("text->image (t2i)  %6.1f %6.1f %6.1f %6.1f %7.1f\n", r.t2i[0], r.t2i[1], r.t2i[2], r.t2i[3], r.t2i[4]);
        printf("rsum %.1f\n", r.rsum);
        if (thresholded && models[0].opt.attn.score == UA_SCORE_NAAF)
            printf("NAAF: %s form at threshold %.4f (skip is a no-op for NAAF's score)\n",
                   ua_score_form_name(models[0].opt.attn.form), models[0].opt.attn.threshold);
        else if (thresholded)
            printf("UARDA: test threshold t_te = %.4f, skip %s\n", models[0].opt.attn.threshold, skip);
        if (compared)
            printf("skip: %.1f%% of (query, item) pairs irrelevant and skipped, %.1f%% of entries masked; similarity %.2f s "
                   "with skipping vs %.2f s without (%.0f%% less) and %.2f s for SCAN's own similarity on the same "
                   "embeddings (%.0f%% less); max |score difference| %.3g\n",
                   stats.queries ? 100.0 * stats.irrelevant / stats.queries : 0.0,
                   stats.entries ? 100.0 * stats.masked / stats.entries : 0.0, t_on, t_off,
                   t_off > 0 ? 100.0 * (t_off - t_on) / t_off : 0.0, t_scan,
                   t_scan > 0 ? 100.0 * (t_scan - t_on) / t_scan : 0.0, max_diff);
        if (grounding)
            printf("grounding (matched pairs, t = %.4f): %.1f%% of grounded words relevant (%lld of %lld), "
                   "%.1f%% of ungrounded words irrelevant (%lld of %lld)\n",
                   gs.threshold, gs.grounded ? 100.0 * gs.grounded_relevant / gs.grounded : 0.0, gs.grounded_relevant,
                   gs.grounded, gs.ungrounded ? 100.0 * gs.ungrounded_irrelevant / gs.ungrounded : 0.0,
                   gs.ungrounded_irrelevant, gs.ungrounded);
    }
    rc = 0;
    goto done;
fail:
    ua_cli_eval_progress_end(&ep);
    ua_cli_error("eval", &err);
    rc = usage ? 2 : 1;
done:
    ua_cli_eval_progress_end(&ep);
    ua_split_close(&s);
    ua_vocab_free(&vocab);
    free(vocab_file);
    free(gpath);
    for (int k = 0; k < n_loaded; k++) ua_model_free(&models[k]);
    return rc;
}
