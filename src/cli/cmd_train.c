/* uarda train: SCAN's training loop (spec scan.md 3), with exact resume. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "uarda/atomic.h"
#include "uarda/batch.h"
#include "uarda/checkpoint.h"
#include "uarda/eval.h"
#include "uarda/finite.h"
#include "uarda/rundir.h"
#include "uarda/train.h"
#include "uarda/trainer.h"

/* on --resume, the flags that may change a checkpoint's run; the others must agree with it */
#define TRAIN_RESUME_HONOURS (UA_FLAGS_SCORE | UA_FLAGS_LOSS | UA_FLAGS_RUN | UA_FLAGS_TEST)

static volatile sig_atomic_t g_interrupted = 0;
static void on_sigint(int sig) { (void)sig; g_interrupted = 1; }


static cJSON *recall_json(const char *event, int epoch, long long iters, const ua_recall *r)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "event", event);
    cJSON_AddNumberToObject(j, "epoch", epoch);
    cJSON_AddNumberToObject(j, "iter", (double)iters);
    cJSON_AddNumberToObject(j, "rsum", r->rsum);
    cJSON_AddItemToObject(j, "i2t", cJSON_CreateDoubleArray(r->i2t, 5));
    cJSON_AddItemToObject(j, "t2i", cJSON_CreateDoubleArray(r->t2i, 5));
    return j;
}

/* path made absolute (a checkpoint names its data wherever it is read from); unchanged when it
 * does not exist (the open that follows says so) */
static void absolute_path(char *dst, size_t cap, const char *path)
{
    char *abs = realpath(path, NULL);
    snprintf(dst, cap, "%s", abs ? abs : path);
    free(abs);
}

/* A fresh run refuses a folder that holds an earlier run (unless --overwrite); every run holds
 * its folders' locks until it ends. */
static int claim_folders(ua_run_lock *lock, const char *model_name, const char *logger_name, int fresh, int overwrite,
                         ua_err *err)
{
    if (ua_run_lock_folders(lock, model_name, logger_name, err)) return -1;
    char prev[1200];
    if (!fresh || !ua_run_find_previous(model_name, logger_name, prev, sizeof prev)) return 0;
    if (!overwrite)
        return ua_fail(err, "%s holds an earlier run: continue it with --resume, replace it with --overwrite, or choose "
                       "another --model-name / --logger-name", prev);
    return ua_run_clear_previous(model_name, logger_name, err);
}

/* --resume: the checkpoint's options, with the flags given on the command line merged over them
 * (scoring, loss and run flags win; shape and UARDA flags must agree: a usage error) */
static int resume_options(const char *resume, const ua_options *given, const ua_cmd_spec *spec, ua_options *o,
                          int *usage, ua_err *err)
{
    ua_options from = *o;
    if (ua_checkpoint_read_options(resume, &from, err)) return -1;   /* the trainer reads and verifies it whole */
    ua_options run = from;
    if (ua_cli_merge_flags(&run, given, spec, UA_FLAGS_ALL, TRAIN_RESUME_HONOURS, resume, err)) {
        *usage = 1;
        return -1;
    }
    /* paths are this run's */
    snprintf(run.data_path, sizeof run.data_path, "%s", given->data_path);
    snprintf(run.data_name, sizeof run.data_name, "%s", given->data_name);
    snprintf(run.vocab_path, sizeof run.vocab_path, "%s", given->vocab_path);
    snprintf(run.logger_name, sizeof run.logger_name, "%s", given->logger_name);
    snprintf(run.model_name, sizeof run.model_name, "%s", given->model_name);
    *o = run;
    return 0;
}

/* the run's clock: validation time is out of the throughput and the ETA */
typedef struct {
    double start, validating;
    long long first_iter, total_iters;
} run_clock;

/* the progress line, and a "train" line in the log every log_step iterations */
static int log_step(const ua_trainer *t, const ua_step_metrics *sm, const run_clock *c, ua_progress *prog,
                    const char *log_path, ua_err *err)
{
    double el = ua_now() - c->start - c->validating;
    double cps = el > 0 ? (double)(sm->iter - c->first_iter) * t->o.batch_size / el : 0;
    char extra[160];
    if (t->ut.thresholded)
        snprintf(extra, sizeof extra, " epoch %d loss %.4f lr %.2g t %.3f %.0f captions/s", sm->epoch, sm->loss, sm->lr,
                 sm->t, cps);
    else
        snprintf(extra, sizeof extra, " epoch %d loss %.4f lr %.2g %.0f captions/s", sm->epoch, sm->loss, sm->lr, cps);
    ua_progress_update(prog, "train: iteration", sm->iter, c->total_iters, extra, 0);
    if (sm->iter % t->o.log_step != 0) return 0;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "event", "train");
    cJSON_AddNumberToObject(j, "epoch", sm->epoch);
    cJSON_AddNumberToObject(j, "iter", (double)sm->iter);
    cJSON_AddNumberToObject(j, "loss", sm->loss);
    cJSON_AddNumberToObject(j, "lr", sm->lr);
    cJSON_AddNumberToObject(j, "grad_norm", sm->grad_norm);
    cJSON_AddNumberToObject(j, "clip_coef", sm->clip_coef);
    cJSON_AddNumberToObject(j, "captions_per_s", cps);
    cJSON_AddNumberToObject(j, "rss_anon_mb", ua_rss_anon_mb());
    int bad = ua_jsonl_append(log_path, j, err);
    cJSON_Delete(j);
    return bad;
}

/* validates on dev (timed apart), logs the recall as `event`; *r (may be NULL) gets it */
static int validate(ua_trainer *t, const char *event, run_clock *c, ua_progress *prog, const char *log_path,
                    ua_recall *r_out, ua_err *err)
{
    ua_recall r;
    double tv = ua_now();
    if (ua_trainer_validate(t, &r, err)) return -1;
    double secs = ua_now() - tv;
    c->validating += secs;
    prog->paused += secs;
    if (r_out) *r_out = r;
    if (!strcmp(event, "val")) return 0;   /* the epoch's line is written by end_epoch, with "best" */
    cJSON *j = recall_json(event, t->state.epoch, t->state.iters, &r);
    int bad = ua_jsonl_append(log_path, j, err);
    cJSON_Delete(j);
    return bad;
}

/* UARDA: the epoch's threshold state and how many queries it judged irrelevant */
static int log_relevance(const ua_trainer *t, int epoch, int quiet, const char *log_path, ua_err *err)
{
    const ua_relevance_state *rs = &t->ut.st;
    const ua_sim_stats *es = &t->epoch_stats;
    double irr_m = es->matched_queries ? (double)es->matched_irrelevant / (double)es->matched_queries : 0;
    long long mq = es->queries - es->matched_queries, mi = es->irrelevant - es->matched_irrelevant;
    double irr_x = mq ? (double)mi / (double)mq : 0, masked = es->entries ? (double)es->masked / (double)es->entries : 0;
    if (!quiet)
        fprintf(stderr, "epoch %d: t_tr %.4f t_te %.4f  mu+ %.3f sigma+ %.3f (weight %.2f)  mu- %.3f sigma- %.3f  "
                "(n %d/%d, %lld updates)  irrelevant queries: matched %.1f%%, mismatched %.1f%%  masked %.1f%%\n", epoch,
                rs->t_tr, rs->t_te, rs->mu_pos, rs->sigma_pos, rs->pos_weight, rs->mu_neg, rs->sigma_neg, rs->n_pos,
                rs->n_neg, rs->updates, 100 * irr_m, 100 * irr_x, 100 * masked);
    cJSON *jr = cJSON_CreateObject();
    cJSON_AddStringToObject(jr, "event", "relevance");
    cJSON_AddNumberToObject(jr, "epoch", epoch);
    cJSON_AddNumberToObject(jr, "iter", (double)t->state.iters);
    cJSON_AddNumberToObject(jr, "t_tr", rs->t_tr);
    cJSON_AddNumberToObject(jr, "t_te", rs->t_te);
    cJSON_AddNumberToObject(jr, "mu_pos", rs->mu_pos);
    cJSON_AddNumberToObject(jr, "sigma_pos", rs->sigma_pos);
    cJSON_AddNumberToObject(jr, "pos_weight", rs->pos_weight);
    cJSON_AddNumberToObject(jr, "mixture_fallbacks", (double)rs->mixture_fallbacks);
    cJSON_AddNumberToObject(jr, "mu_neg", rs->mu_neg);
    cJSON_AddNumberToObject(jr, "sigma_neg", rs->sigma_neg);
    cJSON_AddNumberToObject(jr, "n_pos", rs->n_pos);
    cJSON_AddNumberToObject(jr, "n_neg", rs->n_neg);
    cJSON_AddNumberToObject(jr, "updates", (double)rs->updates);
    cJSON_AddNumberToObject(jr, "irrelevant_matched", irr_m);
    cJSON_AddNumberToObject(jr, "irrelevant_mismatched", irr_x);
    cJSON_AddNumberToObject(jr, "masked", masked);
    int bad = ua_jsonl_append(log_path, jr, err);
    cJSON_Delete(jr);
    return bad;
}

/* the epoch's end: validation, its log lines, model_best when it is the best, the checkpoint */
static int end_epoch(ua_trainer *t, const ua_step_metrics *sm, run_clock *c, ua_progress *prog, int quiet,
                     const char *log_path, const char *best_path, const char *ckpt_path, ua_err *err)
{
    ua_recall r;
    double tv = ua_now();
    if (validate(t, "val", c, prog, log_path, &r, err)) return -1;
    double val_secs = ua_now() - tv;
    ua_progress_update(prog, "train: iteration", sm->iter, c->total_iters, "", 1);
    ua_progress_end(prog);
    if (t->ut.thresholded && log_relevance(t, sm->epoch, quiet, log_path, err)) return -1;
    int is_best = ua_trainer_end_epoch(t, &r);
    if (!quiet)
        fprintf(stderr, "epoch %d: dev rsum %.2f (i2t %.1f %.1f %.1f, t2i %.1f %.1f %.1f)%s\n", sm->epoch, r.rsum, r.i2t[0],
                r.i2t[1], r.i2t[2], r.t2i[0], r.t2i[1], r.t2i[2], is_best ? " best" : "");
    cJSON *j = recall_json("val", sm->epoch, sm->iter, &r);
    cJSON_AddBoolToObject(j, "best", is_best);
    cJSON_AddNumberToObject(j, "seconds", val_secs);
    int bad = ua_jsonl_append(log_path, j, err);
    cJSON_Delete(j);
    if (bad) return -1;
    if (is_best && ua_trainer_save(t, best_path, 0, err)) return -1;
    return ua_trainer_save(t, ckpt_path, 1, err);
}

int cmd_train(int argc, char **argv)
{
    ua_options o, given, defaults;
    ua_options_default(&o);
    ua_options_default(&defaults);   /* the flags' default strings: never o's own buffers, which they fill */
    ua_model_flags f;
    ua_cli_model_flags_from(&o, &f);
    const char *data_path = defaults.data_path, *data_name = defaults.data_name, *vocab_path = defaults.vocab_path;
    const char *logger_name = "./runs/runX/log", *model_name = "./runs/runX/checkpoint", *resume = NULL;
    int save_step = 0, threads = 0, max_steps = 0, quiet = 0, kill_after = 0, warmup_epochs = 0, overwrite = 0;
    int nan_at = 0, usage = 0;
    ua_opt opts[] = {
        {"data-path", UA_OPT_STR, &data_path, NULL, "root of the <data-name> folder", 0},
        {"data-name", UA_OPT_STR, &data_name, NULL, "dataset folder, e.g. f30k_precomp", 0},
        {"vocab-path", UA_OPT_STR, &vocab_path, NULL, "vocabulary folder (file <data-name>_vocab.json) or .json file", 0},
        {"num-epochs", UA_OPT_INT, &o.num_epochs, NULL, "number of training epochs", 0},
        {"batch-size", UA_OPT_INT, &o.batch_size, NULL, "size of a training mini-batch", 0},
        {"grad-clip", UA_OPT_FLOAT, &o.grad_clip, NULL, "gradient norm clipping threshold (<= 0: off)", 0},
        {"learning-rate", UA_OPT_FLOAT, &o.learning_rate, NULL, "initial learning rate (Adam)", 0},
        {"lr-update", UA_OPT_INT, &o.lr_update, NULL, "divide the learning rate by 10 every this many epochs", 0},
        {"workers", UA_OPT_INT, &o.workers, NULL, "accepted for SCAN compatibility; unused (use --threads)", 0},
        {"log-step", UA_OPT_INT, &o.log_step, NULL, "write a metrics line every this many iterations", 0},
        {"val-step", UA_OPT_INT, &o.val_step, NULL, "also validate every this many iterations (0: off)", 0},
        {"logger-name", UA_OPT_STR, &logger_name, NULL, "folder of the JSON-lines metrics log (train.jsonl)", 0},
        {"model-name", UA_OPT_STR, &model_name, NULL, "folder of checkpoint.safetensors and model_best.safetensors", 0},
        {"resume", UA_OPT_STR, &resume, NULL, "continue from this checkpoint (or start from a weights-only one)", 0},
        {"overwrite", UA_OPT_BOOL, &overwrite, NULL, "replace an earlier run in --model-name / --logger-name (its "
         "checkpoints and train.jsonl) instead of refusing to start", 0},
        UA_MODEL_FLAG_OPTS(o, f),
        UA_UARDA_FLAG_OPTS(o, f),
        {"warmup-epochs", UA_OPT_INT, &warmup_epochs, NULL, "sum over all negatives (not the hardest) for the first N epochs (0: SCAN)", 0},
        {"seed", UA_OPT_LONG, &o.seed, NULL, "seed of the initialisation and the data order", 0},
        {"save-step", UA_OPT_INT, &save_step, NULL, "also save checkpoint.safetensors every this many iterations", 0},
        {"max-steps", UA_OPT_INT, &max_steps, NULL, "stop (with a resumable checkpoint) after this many iterations in total", 0},
        {"threads", UA_OPT_INT, &threads, NULL, "threads (0: OpenMP's default)", 0},
        {"quiet", UA_OPT_BOOL, &quiet, NULL, "no progress or per-epoch lines (errors only)", 0},
        {"debug-kill-after", UA_OPT_INT, &kill_after, NULL, "testing: die by SIGKILL after this iteration (no cleanup)", 0},
        {"debug-nan-at", UA_OPT_INT, &nan_at, NULL, "testing: make one gradient NaN at this iteration (the guard stops the run)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cmd_spec spec = {"train", "Train SCAN on a precomp dataset (defaults: the Flickr30K t2i AVG recipe).",
                        "usage: uarda train --data-path DIR --data-name NAME [options]", opts, 0};
    ua_cli_annotate_flags(&spec, UA_FLAGS_ALL, TRAIN_RESUME_HONOURS, " (on --resume: overrides the checkpoint's)",
                          " (on --resume: must match the checkpoint's)");
    spec.epilog = ua_cli_limits_help();
    int st = ua_cli_parse(&spec, argc, argv, NULL);
    if (st >= 0) return st;
    ua_cli_apply_model_flags(&o, &f, NULL);
    {
        ua_err e0;
        if (ua_cli_apply_uarda_flags(&o, &f, &spec, &e0)) { fprintf(stderr, "uarda train: %s\n", e0.msg); return 2; }
        if (ua_args_given(&spec, "t-fixed") && o.rel.t_mode != UA_T_FIXED && o.rel.t_test != UA_T_TEST_FIXED) {
            fprintf(stderr, "uarda train: --t-fixed %g applies with --t-mode fixed (or --t-test fixed); the threshold "
                    "here is %s\n", o.rel.t_fixed, ua_t_mode_name(o.rel.t_mode));
            return 2;
        }
    }
    if (overwrite && resume) { fprintf(stderr, "uarda train: --overwrite and --resume exclude each other\n"); return 2; }
    ua_cli_set_threads(threads);
    absolute_path(o.data_path, sizeof o.data_path, data_path);
    snprintf(o.data_name, sizeof o.data_name, "%s", data_name);
    absolute_path(o.vocab_path, sizeof o.vocab_path, vocab_path);
    ua_progress prog;
    ua_progress_init(&prog);
    prog.quiet = quiet;

    ua_err err;
    int rc = 1;
    ua_vocab vocab = {0};
    ua_split train = {0}, dev = {0};
    ua_trainer t = {0};
    ua_run_lock lock = {{-1, -1}};
    char *vocab_file = ua_vocab_file(vocab_path, data_name);
    char ckpt_path[1100], best_path[1100], log_path[1100];
    snprintf(ckpt_path, sizeof ckpt_path, "%s/checkpoint.safetensors", model_name);
    snprintf(best_path, sizeof best_path, "%s/model_best.safetensors", model_name);
    snprintf(log_path, sizeof log_path, "%s/train.jsonl", logger_name);

    if (!vocab_file) { ua_fail(&err, "out of memory"); goto fail; }
    /* the folders first: a second run into them stops here, before it reads anything */
    if (claim_folders(&lock, model_name, logger_name, !resume, overwrite, &err)) goto fail;
    absolute_path(o.logger_name, sizeof o.logger_name, logger_name);
    absolute_path(o.model_name, sizeof o.model_name, model_name);
    given = o;
    if (ua_vocab_load(&vocab, vocab_file, &err) ||
        ua_split_open(&train, data_path, data_name, "train", &vocab, 0, &err) ||
        ua_split_open(&dev, data_path, data_name, "dev", &vocab, 0, &err)) goto fail;
    if (ua_args_given(&spec, "img-dim") && o.model.img_dim != train.img_dim) {
        ua_fail(&err, "--img-dim %d but %s has %d-dim regions", o.model.img_dim, train.ims_path, train.img_dim);
        goto fail;
    }
    o.model.img_dim = train.img_dim;
    o.model.vocab_size = vocab.n;
    if (resume && resume_options(resume, &given, &spec, &o, &usage, &err)) goto fail;
    if (ua_trainer_open(&t, &o, &train, &dev, resume, &err)) goto fail;
    t.warmup_epochs = warmup_epochs;
    t.debug_nan_at = nan_at;
    if (t.m.unverified) ua_cli_warn_no_checksum("train", resume);
    if (resume && !quiet && t.weights_only)
        fprintf(stderr, "uarda train: %s has no optimizer state: starting from its weights at epoch 0\n", resume);
    else if (resume && !quiet)
        fprintf(stderr, "uarda train: resuming %s at epoch %d, batch %d (iteration %lld)\n", resume, t.state.epoch,
                t.state.batch, t.state.iters);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    if (!quiet)
        fprintf(stderr, "uarda train: %s/%s: %d training captions, %d dev images, %zu parameters, %s %s %s\n", data_path,
                data_name, train.n_items, ua_split_images_used(&dev), t.m.n_params,
                ua_direction_name(t.m.opt.attn.direction), ua_feature_norm_name(t.m.opt.attn.norm),
                ua_agg_name(t.m.opt.attn.agg));
    run_clock clock = {ua_now(), 0, t.state.iters, (long long)t.o.num_epochs * t.batcher.n_batches};
    while (!ua_trainer_finished(&t)) {
        ua_step_metrics sm;
        if (ua_trainer_step(&t, &sm, &err)) goto fail;
        if (log_step(&t, &sm, &clock, &prog, log_path, &err)) goto fail;
        int save_now = (save_step > 0 && sm.iter % save_step == 0) || g_interrupted || (max_steps > 0 && sm.iter >= max_steps);
        if (save_now && ua_trainer_save(&t, ckpt_path, 1, &err)) goto fail;
        if (kill_after > 0 && sm.iter == kill_after) raise(SIGKILL);
        if (g_interrupted) {
            ua_progress_end(&prog);
            fprintf(stderr, "uarda train: interrupted; resumable checkpoint %s (epoch %d, batch %d)\n", ckpt_path, sm.epoch,
                    t.state.batch);
            rc = 130;
            goto done;
        }
        if (max_steps > 0 && sm.iter >= max_steps) break;
        if (t.o.val_step > 0 && sm.iter % t.o.val_step == 0 && validate(&t, "val_step", &clock, &prog, log_path, NULL, &err))
            goto fail;
        if (sm.epoch_end && end_epoch(&t, &sm, &clock, &prog, quiet, log_path, best_path, ckpt_path, &err)) goto fail;
    }
    rc = 0;
    goto done;
fail:
    ua_progress_end(&prog);
    ua_cli_error("train", &err);
    rc = usage ? 2 : 1;
done:
    ua_trainer_close(&t);
    ua_split_close(&train);
    ua_split_close(&dev);
    ua_vocab_free(&vocab);
    free(vocab_file);
    ua_run_unlock(&lock);
    return rc;
}
