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
#include "uarda/npy.h"

/* the command line */
typedef struct eval_args {
    ua_multi ckpts;
    const char *data_path, *data_name, *vocab_path, *split, *skip, *t_test, *model, *save_sims;
    int fold5, json, threads, full_dev, grounding, repeats;
    double t_fixed;
    ua_options flags;      /* defaults with the shape and scoring flags given parsed over them */
    ua_cli_flags opts;
    ua_cmd_spec spec;
} eval_args;

/* what eval found, as data: printed as text or JSON */
typedef struct eval_answer {
    const char *data_path, *data_name;
    int n_models, n_img, im_div;
    ua_recall r;
    double seconds;
    int thresholded, skip_on, compared;
    double threshold;                  /* the first model's, in force */
    ua_score_mode score;
    ua_score_form form;
    ua_skip_comparison cmp;
    char *grounding_file;              /* NULL without --grounding */
    ua_grounding_stats gs;
} eval_answer;

/* the models and what the evaluation needs of them */
typedef struct eval_run {
    ua_model models[UA_MULTI_MAX];
    ua_scorer scorers[UA_MULTI_MAX];   /* each model at its test threshold, skipping per --skip */
    ua_options o[UA_MULTI_MAX];
    int n_loaded;
    ua_vocab vocab;
    ua_split s;
    char *vocab_file;
} eval_run;

static int parse_eval(eval_args *a, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->split = "test";
    a->skip = "on";
    a->repeats = 1;
    ua_options_default(&a->flags);
    const ua_opt own[] = {
        {"checkpoint", UA_OPT_MULTI, &a->ckpts, NULL, "model to evaluate; twice (or more) for an ensemble", 0},
        {"data-path", UA_OPT_STR, &a->data_path, NULL, "root of the <data-name> folder (default: the checkpoint's)", 0},
        {"data-name", UA_OPT_STR, &a->data_name, NULL, "dataset folder (default: the checkpoint's)", 0},
        {"vocab-path", UA_OPT_STR, &a->vocab_path, NULL, "vocabulary folder or .json file (default: the checkpoint's)", 0},
        {"split", UA_OPT_STR, &a->split, NULL, "split to evaluate: dev, test, testall, ...", 0},
        {"fold5", UA_OPT_BOOL, &a->fold5, NULL, "MS-COCO 1K: average over five folds of 1000 images (use with testall)", 0},
        {"full-dev", UA_OPT_BOOL, &a->full_dev, NULL, "use all of dev (SCAN caps it at 5000 captions)", 0},
        {"json", UA_OPT_BOOL, &a->json, NULL, "print the results as JSON", 0},
        {"skip", UA_OPT_CHOICE, &a->skip, "on|off", "UARDA: skip irrelevant queries and masked entries (exact; with on, also timed against off)", 0},
        {"grounding", UA_OPT_BOOL, &a->grounding, NULL,
         "also measure the relevance judgements (max over regions > the test threshold) of the words of matched pairs "
         "against <split>_caps_grounding.txt: % of grounded words relevant, % of ungrounded irrelevant", 0},
        {"t-test", UA_OPT_CHOICE, &a->t_test, "safe|train|fixed",
         "UARDA: the threshold at test instead of the checkpoint's choice: safe t_te, train t_tr, or --t-fixed", 0},
        {"t-fixed", UA_OPT_FLOAT, &a->t_fixed, NULL, "UARDA: the threshold for --t-test fixed", 0},
        {"threads", UA_OPT_INT, &a->threads, NULL, "threads (0: OpenMP's default)", 0},
        {"repeats", UA_OPT_INT, &a->repeats, NULL, "UARDA with --skip on: time each of the three similarity runs "
         "(skip off, on, SCAN's own) this many times, in rotating order, and report the medians (default 1)", 0},
        {"save-sims", UA_OPT_STR, &a->save_sims, NULL, "also write the similarity matrix [images, captions] (float32 .npy; "
         "not with --fold5)", 0},
        UA_INFERENCE_MODEL_OPT(a->model),   /* none unless given: the checkpoint's own score then */
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cli_flags_add(&a->opts, own);
    ua_cli_flags_add_options(&a->opts, &a->flags, UA_OC_SHAPE | UA_OC_SCORE);
    a->spec = (ua_cmd_spec){"eval", "R@1/5/10, medr and meanr in both directions, and rsum, of a checkpoint (or the average of\n"
                            "several checkpoints' similarity matrices) on a split.",
                            "usage: uarda eval --checkpoint FILE [--checkpoint FILE2] [--split test] [--fold5] [--json] "
                            "[--grounding]", ua_cli_flags_done(&a->opts), 0, ua_cli_limits_help()};
    ua_cli_annotate_inference(&a->spec);
    int st = ua_cli_parse(&a->spec, argc, argv, NULL);
    if (st >= 0) return st;
    if (a->ckpts.n == 0) { fprintf(stderr, "uarda eval: --checkpoint is required\n"); return 2; }
    return -1;
}

/* the checkpoints with the flags given (*usage set for a flag that cannot apply), their
 * vocabulary and the split */
static int open_run(const eval_args *a, eval_run *run, int *usage, ua_err *err)
{
    for (int k = 0; k < a->ckpts.n; k++) {
        const char *path = a->ckpts.v[k];
        ua_options_default(&run->o[k]);
        if (ua_checkpoint_open(path, &run->o[k], &run->models[k], err)) return -1;
        if (run->models[k].unverified) ua_cli_warn_no_checksum("eval", path);
        run->n_loaded++;
        ua_options given = a->flags;
        if (ua_cli_inference_flags(&run->o[k], &run->models[k], &given, a->model, &a->spec, path, err)) {
            *usage = 1;
            return -1;
        }
        const double *tf = ua_args_given(&a->spec, "t-fixed") ? &a->t_fixed : NULL;
        if ((a->t_test || tf) && ua_cli_eval_threshold(path, &run->o[k], &run->models[k], a->t_test, tf, err)) return -1;
    }
    const char *dn = a->data_name ? a->data_name : run->o[0].data_name;
    run->vocab_file = ua_vocab_file(a->vocab_path ? a->vocab_path : run->o[0].vocab_path, dn);
    if (ua_vocab_load(&run->vocab, run->vocab_file, err)) return -1;
    for (int k = 0; k < run->n_loaded; k++)
        if (run->models[k].opt.vocab_size != run->vocab.n)
            return ua_fail(err, "%s was trained with a vocabulary of %d words, %s has %d", a->ckpts.v[k],
                           run->models[k].opt.vocab_size, run->vocab_file, run->vocab.n);
    return ua_split_open(&run->s, a->data_path ? a->data_path : run->o[0].data_path, dn, a->split, &run->vocab,
                         a->full_dev, err);
}

static void close_run(eval_run *run)
{
    ua_split_close(&run->s);
    ua_vocab_free(&run->vocab);
    free(run->vocab_file);
    for (int k = 0; k < run->n_loaded; k++) ua_model_free(&run->models[k]);
}

/* --grounding: the first model's relevance judgements against the split's grounding file */
static int grounding(const eval_args *a, eval_run *run, eval_answer *ans, const ua_progress_cb *progress, ua_err *err)
{
    struct stat sb;
    ans->grounding_file = ua_split_path(ans->data_path, ans->data_name, a->split, "caps_grounding.txt");
    if (!ans->grounding_file || stat(ans->grounding_file, &sb) != 0)
        return ua_fail(err, "--grounding needs %s, which does not exist (only synthetic data has grounding files)",
                       ans->grounding_file ? ans->grounding_file : a->split);
    return ua_grounding_agreement(&run->scorers[0], &run->s, ans->grounding_file, &ans->gs, progress, err);
}

/* the recalls (timed), and for a thresholded model with skipping the timed skip comparison */
static int evaluate(const eval_args *a, eval_run *run, eval_answer *ans, const ua_progress_cb *progress, ua_err *err)
{
    ans->data_path = a->data_path ? a->data_path : run->o[0].data_path;
    ans->data_name = a->data_name ? a->data_name : run->o[0].data_name;
    ans->n_models = run->n_loaded;
    ans->n_img = ua_split_images_used(&run->s);
    ans->im_div = run->s.im_div;
    ans->skip_on = strcmp(a->skip, "on") == 0;
    for (int k = 0; k < run->n_loaded; k++) {
        /* the threshold resolved from the checkpoint and --t-test / --t-fixed when it was opened */
        ua_scorer *sc = &run->scorers[k];
        *sc = ua_scorer_of(&run->models[k], run->models[k].t_test);
        ua_attn_set_skip(&sc->attn, ans->skip_on);
        ans->thresholded |= sc->attn.irr != UA_IRR_SCAN || sc->attn.score == UA_SCORE_NAAF;
    }
    if (a->grounding && grounding(a, run, ans, progress, err)) return -1;
    const ua_attn_cfg *first = &run->scorers[0].attn;
    ans->threshold = first->threshold;
    ans->score = first->score;
    ans->form = first->form;
    double t0 = ua_now();
    const ua_dist *d = ua_cli_dist();   /* under mpirun: the matrix by blocks over the ranks, the same bits */
    float *sims = NULL;
    if (ua_evaluate_split_ranks(run->scorers, run->n_loaded, &run->s, a->fold5, d, &ans->r, a->save_sims ? &sims : NULL,
                                progress, err))
        return -1;
    ans->seconds = ua_now() - t0;
    if (sims && d->rank == 0) {
        const int n_img = ua_split_images_used(&run->s);
        const int64_t shape[2] = {n_img, (int64_t)n_img * run->s.im_div};
        if (ua_npy_write_f32(a->save_sims, sims, 2, shape, err)) { free(sims); return -1; }
    }
    free(sims);
    /* the timed skip comparison runs in one process */
    ans->compared = ans->thresholded && ans->skip_on && !a->fold5 && d->size == 1;
    return ans->compared ? ua_compare_skipping(run->scorers, run->n_loaded, &run->s, a->repeats, &ans->cmp, progress, err) : 0;
}

static double percent(long long part, long long whole) { return whole ? 100.0 * (double)part / (double)whole : 0.0; }

static void print_json(const eval_args *a, const eval_answer *ans)
{
    const int n_img = a->fold5 ? ans->n_img / 5 : ans->n_img;
    const ua_sim_stats *st = &ans->cmp.stats;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "split", a->split);
    cJSON_AddBoolToObject(j, "fold5", a->fold5);
    cJSON_AddNumberToObject(j, "images", n_img);
    cJSON_AddNumberToObject(j, "captions", a->fold5 ? ans->n_img * ans->im_div / 5 : ans->n_img * ans->im_div);
    cJSON_AddNumberToObject(j, "models", ans->n_models);
    cJSON *i2t = cJSON_AddObjectToObject(j, "i2t"), *t2i = cJSON_AddObjectToObject(j, "t2i");
    const char *names[5] = {"r1", "r5", "r10", "medr", "meanr"};
    for (int i = 0; i < 5; i++) {
        cJSON_AddNumberToObject(i2t, names[i], ans->r.i2t[i]);
        cJSON_AddNumberToObject(t2i, names[i], ans->r.t2i[i]);
    }
    cJSON_AddNumberToObject(j, "rsum", ans->r.rsum);
    cJSON_AddNumberToObject(j, "seconds", ans->seconds);
    if (ans->thresholded) {
        cJSON *u = cJSON_AddObjectToObject(j, "uarda");
        cJSON_AddNumberToObject(u, "threshold", ans->threshold);
        cJSON_AddStringToObject(u, "score", ua_score_name(ans->score));
        if (ans->score == UA_SCORE_NAAF) cJSON_AddStringToObject(u, "score_form", ua_score_form_name(ans->form));
        cJSON_AddBoolToObject(u, "skip", ans->skip_on);
        if (ans->compared) {
            cJSON_AddNumberToObject(u, "skipped_query_fraction", st->queries ? (double)st->irrelevant / st->queries : 0);
            cJSON_AddNumberToObject(u, "masked_entry_fraction", st->entries ? (double)st->masked / st->entries : 0);
            cJSON_AddNumberToObject(u, "similarity_seconds_skip_off", ans->cmp.seconds_skip_off);
            cJSON_AddNumberToObject(u, "similarity_seconds_skip_on", ans->cmp.seconds_skip_on);
            cJSON_AddNumberToObject(u, "similarity_seconds_scan", ans->cmp.seconds_scan);
            cJSON_AddNumberToObject(u, "timing_repeats", ans->cmp.repeats);
            cJSON_AddNumberToObject(u, "max_abs_score_difference", ans->cmp.max_abs_difference);
        }
    }
    if (ans->grounding_file) {
        const ua_grounding_stats *gs = &ans->gs;
        cJSON *g = cJSON_AddObjectToObject(j, "grounding");
        cJSON_AddStringToObject(g, "file", ans->grounding_file);
        cJSON_AddNumberToObject(g, "threshold", gs->threshold);
        cJSON_AddNumberToObject(g, "grounded_words", (double)gs->grounded);
        cJSON_AddNumberToObject(g, "grounded_relevant", (double)gs->grounded_relevant);
        cJSON_AddNumberToObject(g, "grounded_relevant_percent", percent(gs->grounded_relevant, gs->grounded));
        cJSON_AddNumberToObject(g, "ungrounded_words", (double)gs->ungrounded);
        cJSON_AddNumberToObject(g, "ungrounded_irrelevant", (double)gs->ungrounded_irrelevant);
        cJSON_AddNumberToObject(g, "ungrounded_irrelevant_percent", percent(gs->ungrounded_irrelevant, gs->ungrounded));
    }
    char *txt = cJSON_Print(j);
    printf("%s\n", txt);
    free(txt);
    cJSON_Delete(j);
}

static void print_text(const eval_args *a, const eval_answer *ans)
{
    const int n_img = a->fold5 ? ans->n_img / 5 : ans->n_img;
    const ua_recall *r = &ans->r;
    printf("%s/%s %s%s: %d images x %d captions%s, %d model%s, %.1f s\n", ans->data_path, ans->data_name, a->split,
           a->fold5 ? " (5 folds of 1K)" : "", n_img, n_img * ans->im_div, a->fold5 ? " per fold" : "", ans->n_models,
           ans->n_models > 1 ? "s (ensemble)" : "", ans->seconds);
    printf("                      R@1    R@5   R@10   medr   meanr\n");
    printf("image->text (i2t)  %6.1f %6.1f %6.1f %6.1f %7.1f\n", r->i2t[0], r->i2t[1], r->i2t[2], r->i2t[3], r->i2t[4]);
    printf("text->image (t2i)  %6.1f %6.1f %6.1f %6.1f %7.1f\n", r->t2i[0], r->t2i[1], r->t2i[2], r->t2i[3], r->t2i[4]);
    printf("rsum %.1f\n", r->rsum);
    if (ans->thresholded && ans->score == UA_SCORE_NAAF)
        printf("NAAF: %s form at threshold %.4f (skip is a no-op for NAAF's score)\n", ua_score_form_name(ans->form),
               ans->threshold);
    else if (ans->thresholded)
        printf("UARDA: test threshold t_te = %.4f, skip %s\n", ans->threshold, a->skip);
    if (ans->compared) {
        const ua_skip_comparison *c = &ans->cmp;
        const double off = c->seconds_skip_off, on = c->seconds_skip_on, scan = c->seconds_scan;
        char vs_off[32], vs_scan[32];
        printf("skip: %.1f%% of (query, item) pairs irrelevant and skipped, %.1f%% of entries masked; similarity %.2f s "
               "with skipping vs %.2f s without (%s) and %.2f s for SCAN's own similarity on the same "
               "embeddings (%s)%s; max |score difference| %.3g\n",
               percent(c->stats.irrelevant, c->stats.queries), percent(c->stats.masked, c->stats.entries), on, off,
               ua_time_against(on, off, vs_off, sizeof vs_off), scan, ua_time_against(on, scan, vs_scan, sizeof vs_scan),
               c->repeats > 1 ? ", medians of the repeats" : "", c->max_abs_difference);
    }
    if (ans->grounding_file) {
        const ua_grounding_stats *gs = &ans->gs;
        printf("grounding (matched pairs, t = %.4f): %.1f%% of grounded words relevant (%lld of %lld), "
               "%.1f%% of ungrounded words irrelevant (%lld of %lld)\n", gs->threshold,
               percent(gs->grounded_relevant, gs->grounded), gs->grounded_relevant, gs->grounded,
               percent(gs->ungrounded_irrelevant, gs->ungrounded), gs->ungrounded_irrelevant, gs->ungrounded);
    }
}

int cmd_eval(int argc, char **argv)
{
    eval_args *a = malloc(sizeof *a);
    eval_run *run = calloc(1, sizeof *run);
    if (!a || !run) {
        free(a);
        free(run);
        fprintf(stderr, "uarda eval: out of memory\n");
        return 1;
    }
    int rc = parse_eval(a, argc, argv), usage = 0;
    if (rc < 0 && a->save_sims && a->fold5) {
        fprintf(stderr, "uarda eval: --save-sims writes one matrix: not with --fold5 (five)\n");
        rc = 2;
    }
    if (rc < 0) {
        ua_cli_set_threads(a->threads);
        ua_cli_eval_progress ep;
        const ua_progress_cb *progress = ua_cli_eval_progress_begin(&ep, "eval");
        eval_answer ans = {0};
        ua_err err;
        const int failed = open_run(a, run, &usage, &err) || evaluate(a, run, &ans, progress, &err);
        ua_cli_eval_progress_end(&ep);
        if (failed) {
            ua_cli_error("eval", &err);
            rc = usage ? 2 : 1;
        } else {
            const int printer = ua_cli_dist()->rank == 0;   /* rank 0 prints for the run */
            if (printer && a->json) print_json(a, &ans);
            else if (printer) print_text(a, &ans);
            rc = 0;
        }
        free(ans.grounding_file);
    }
    close_run(run);
    free(run);
    free(a);
    return rc;
}
