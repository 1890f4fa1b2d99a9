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

static volatile sig_atomic_t g_interrupted = 0;
static void on_sigint(int sig) { (void)sig; g_interrupted = 1; }


/* rank 0 alone writes the log and the checkpoints: the other ranks' paths are empty */
static int log_line(const char *log_path, cJSON *j, ua_err *err)
{
    return log_path[0] ? ua_jsonl_append(log_path, j, err) : 0;
}

static int save_model(const ua_trainer *t, const char *path, int with_moments, ua_err *err)
{
    return path[0] ? ua_trainer_save(t, path, with_moments, err) : 0;
}

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
 * (those whose row overrides on resume win: scoring, loss, run, the test threshold; shape and
 * UARDA flags must agree: a usage error); the folders are this run's */
static int resume_options(const char *resume, const ua_options *given, const ua_cmd_spec *spec, ua_options *o,
                          int *usage, ua_err *err)
{
    ua_options from = *o;
    if (ua_checkpoint_read_options(resume, &from, err)) return -1;   /* the trainer reads and verifies it whole */
    ua_options run = from;
    if (ua_cli_merge_flags(&run, given, spec, UA_OC_ALL & ~UA_OC_PATH, UA_OVR_RESUME, resume, err)) {
        *usage = 1;
        return -1;
    }
    ua_options_copy_classes(&run, given, UA_OC_PATH);
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
    if (t->ut.thresholded) cJSON_AddNumberToObject(j, "t", sm->t);   /* the threshold the step trained with */
    cJSON_AddNumberToObject(j, "captions_per_s", cps);
    cJSON_AddNumberToObject(j, "rss_anon_mb", ua_rss_anon_mb());
    int bad = log_line(log_path, j, err);
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
    int bad = log_line(log_path, j, err);
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
    int bad = log_line(log_path, jr, err);
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
    int bad = log_line(log_path, j, err);
    cJSON_Delete(j);
    if (bad) return -1;
    if (is_best && save_model(t, best_path, 0, err)) return -1;
    return save_model(t, ckpt_path, 1, err);
}

/* the command line */
typedef struct train_args {
    ua_options o;              /* every option of the table, given or default */
    ua_options typed;          /* o as parsed: the folders as given, before they are made absolute */
    const char *resume;
    int save_step, threads, max_steps, quiet, kill_after, warmup_epochs, overwrite, nan_at;
    ua_cli_flags flags;
    ua_cmd_spec spec;
} train_args;

/* what a run holds while it trains */
typedef struct train_run {
    ua_vocab vocab;
    ua_split train, dev;
    ua_trainer t;
    ua_run_lock lock;
    char *vocab_file;
    char ckpt_path[1100], best_path[1100], log_path[1100];
    ua_progress prog;
    run_clock clock;
} train_run;

/* -1 to go on, else the exit status */
static int parse_train(train_args *a, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    ua_options *o = &a->o;
    ua_options_default(o);
    const ua_opt own[] = {
        {"resume", UA_OPT_STR, &a->resume, NULL, "continue from this checkpoint (or start from a weights-only one)", 0},
        {"overwrite", UA_OPT_BOOL, &a->overwrite, NULL, "replace an earlier run in --model-name / --logger-name (its "
         "checkpoints and train.jsonl) instead of refusing to start", 0},
        {"warmup-epochs", UA_OPT_INT, &a->warmup_epochs, NULL, "sum over all negatives (not the hardest) for the first N epochs (0: SCAN)", 0},
        {"save-step", UA_OPT_INT, &a->save_step, NULL, "also save checkpoint.safetensors every this many iterations", 0},
        {"max-steps", UA_OPT_INT, &a->max_steps, NULL, "stop (with a resumable checkpoint) after this many iterations in total", 0},
        {"threads", UA_OPT_INT, &a->threads, NULL, "threads (0: OpenMP's default)", 0},
        {"quiet", UA_OPT_BOOL, &a->quiet, NULL, "no progress or per-epoch lines (errors only)", 0},
        {"debug-kill-after", UA_OPT_INT, &a->kill_after, NULL, "testing: die by SIGKILL after this iteration (no cleanup; "
         "with several ranks, the last rank alone)", 0},
        {"debug-nan-at", UA_OPT_INT, &a->nan_at, NULL, "testing: make one gradient NaN at this iteration (the guard stops the run)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cli_flags_add_options(&a->flags, o, UA_OC_ALL);
    ua_cli_flags_add(&a->flags, own);
    a->spec = (ua_cmd_spec){"train", "Train SCAN on a precomp dataset (defaults: the Flickr30K t2i AVG recipe).",
                            "usage: uarda train --data-path DIR --data-name NAME [options]", ua_cli_flags_done(&a->flags), 0,
                            ua_cli_limits_help()};
    ua_cli_annotate_flags(&a->spec, UA_OC_ALL & ~UA_OC_PATH, UA_OVR_RESUME, " (on --resume: overrides the checkpoint's)",
                          " (on --resume: must match the checkpoint's)");
    int st = ua_cli_parse(&a->spec, argc, argv, NULL);
    if (st >= 0) return st;
    a->typed = *o;
    ua_err e0;
    if (ua_cli_apply_uarda_flags(o, &a->spec, &e0)) { fprintf(stderr, "uarda train: %s\n", e0.msg); return 2; }
    if (ua_args_given(&a->spec, "t-fixed") && o->rel.t_mode != UA_T_FIXED && o->rel.t_test != UA_T_TEST_FIXED) {
        fprintf(stderr, "uarda train: --t-fixed %g applies with --t-mode fixed (or --t-test fixed); the threshold "
                "here is %s\n", o->rel.t_fixed, ua_t_mode_name(o->rel.t_mode));
        return 2;
    }
    if (a->overwrite && a->resume) { fprintf(stderr, "uarda train: --overwrite and --resume exclude each other\n"); return 2; }
    return -1;
}

/* the folders claimed, the data opened, the trainer opened (fresh or resumed); *usage set for a
 * flag that cannot apply to the checkpoint resumed */
static int open_train(train_args *a, train_run *run, int *usage, ua_err *err)
{
    ua_options *o = &a->o;
    const ua_options *typed = &a->typed;
    absolute_path(o->data_path, sizeof o->data_path, typed->data_path);
    absolute_path(o->vocab_path, sizeof o->vocab_path, typed->vocab_path);
    snprintf(run->ckpt_path, sizeof run->ckpt_path, "%s/checkpoint.safetensors", typed->model_name);
    snprintf(run->best_path, sizeof run->best_path, "%s/model_best.safetensors", typed->model_name);
    snprintf(run->log_path, sizeof run->log_path, "%s/train.jsonl", typed->logger_name);
    if (!(run->vocab_file = ua_vocab_file(typed->vocab_path, typed->data_name))) return ua_fail(err, "out of memory");
    const ua_dist *dist = ua_cli_dist();
    if (dist->rank != 0)   /* rank 0 alone holds the folders and writes to them */
        run->ckpt_path[0] = run->best_path[0] = run->log_path[0] = '\0';
    /* the folders first: a second run into them stops here, before it reads anything (with
     * several ranks, rank 0's refusal ends them all) */
    if (dist->rank == 0 &&
        claim_folders(&run->lock, typed->model_name, typed->logger_name, !a->resume, a->overwrite, err))
        return -1;
    absolute_path(o->logger_name, sizeof o->logger_name, typed->logger_name);
    absolute_path(o->model_name, sizeof o->model_name, typed->model_name);
    const ua_options given = *o;
    if (ua_vocab_load(&run->vocab, run->vocab_file, err) ||
        ua_split_open(&run->train, typed->data_path, typed->data_name, "train", &run->vocab, 0, err) ||
        ua_split_open(&run->dev, typed->data_path, typed->data_name, "dev", &run->vocab, 0, err))
        return -1;
    if (ua_args_given(&a->spec, "img-dim") && o->model.img_dim != run->train.img_dim)
        return ua_fail(err, "--img-dim %d but %s has %d-dim regions", o->model.img_dim, run->train.ims_path,
                       run->train.img_dim);
    o->model.img_dim = run->train.img_dim;
    o->model.vocab_size = run->vocab.n;
    if (a->resume && resume_options(a->resume, &given, &a->spec, o, usage, err)) return -1;
    if (ua_trainer_open(&run->t, o, &run->train, &run->dev, a->resume, err) || ua_trainer_set_dist(&run->t, dist, err))
        return -1;
    run->t.warmup_epochs = a->warmup_epochs;
    run->t.debug_nan_at = a->nan_at;
    return 0;
}

static void close_train(train_run *run)
{
    ua_trainer_close(&run->t);
    ua_split_close(&run->train);
    ua_split_close(&run->dev);
    ua_vocab_free(&run->vocab);
    free(run->vocab_file);
    ua_run_unlock(&run->lock);
}

/* what the run prints as it starts */
static void announce(const train_args *a, const train_run *run)
{
    const ua_trainer *t = &run->t;
    if (t->m.unverified) ua_cli_warn_no_checksum("train", a->resume);
    if (a->quiet) return;
    if (a->resume && t->weights_only)
        fprintf(stderr, "uarda train: %s has no optimizer state: starting from its weights at epoch 0\n", a->resume);
    else if (a->resume)
        fprintf(stderr, "uarda train: resuming %s at epoch %d, batch %d (iteration %lld)\n", a->resume, t->state.epoch,
                t->state.batch, t->state.iters);
    fprintf(stderr, "uarda train: %s/%s: %d training captions, %d dev images, %zu parameters, %s %s %s\n",
            a->typed.data_path, a->typed.data_name, run->train.n_items, ua_split_images_used(&run->dev), t->m.n_params,
            ua_direction_name(t->m.opt.attn.direction), ua_feature_norm_name(t->m.opt.attn.norm),
            ua_agg_name(t->m.opt.attn.agg));
}

/* the loop: 0 when every epoch (or --max-steps) has run, 130 when interrupted, -1 on error */
static int run_loop(const train_args *a, train_run *run, ua_err *err)
{
    ua_trainer *t = &run->t;
    run->clock = (run_clock){ua_now(), 0, t->state.iters, (long long)t->o.num_epochs * t->batcher.n_batches};
    while (!ua_trainer_finished(t)) {
        ua_step_metrics sm;
        if (t->state.batch >= t->batcher.n_batches) {
            /* resumed from a checkpoint saved after an epoch's last step (a signal, --save-step,
             * --max-steps) but before its end: the epoch's validation and checkpoint come first */
            sm = (ua_step_metrics){.epoch = t->state.epoch, .iter = t->state.iters, .epoch_end = 1};
            if (end_epoch(t, &sm, &run->clock, &run->prog, a->quiet, run->log_path, run->best_path, run->ckpt_path, err))
                return -1;
            continue;
        }
        if (ua_trainer_step(t, &sm, err)) return -1;
        if (log_step(t, &sm, &run->clock, &run->prog, run->log_path, err)) return -1;
        const int last = a->max_steps > 0 && sm.iter >= a->max_steps;
        const int stop = ua_dist_any(&t->dist, g_interrupted);   /* every rank stops after the same step */
        if (((a->save_step > 0 && sm.iter % a->save_step == 0) || stop || last) &&
            save_model(t, run->ckpt_path, 1, err))
            return -1;
        if (a->kill_after > 0 && sm.iter == a->kill_after && t->dist.rank == t->dist.size - 1) raise(SIGKILL);
        if (stop) {
            ua_progress_end(&run->prog);
            fprintf(stderr, "uarda train: interrupted; resumable checkpoint %s (epoch %d, batch %d)\n", run->ckpt_path,
                    sm.epoch, t->state.batch);
            return 130;
        }
        if (last) break;
        if (t->o.val_step > 0 && sm.iter % t->o.val_step == 0 &&
            validate(t, "val_step", &run->clock, &run->prog, run->log_path, NULL, err))
            return -1;
        if (sm.epoch_end && end_epoch(t, &sm, &run->clock, &run->prog, a->quiet, run->log_path, run->best_path,
                                      run->ckpt_path, err))
            return -1;
    }
    return 0;
}

int cmd_train(int argc, char **argv)
{
    train_args *a = malloc(sizeof *a);
    train_run *run = calloc(1, sizeof *run);
    if (!a || !run) {
        free(a);
        free(run);
        fprintf(stderr, "uarda train: out of memory\n");
        return 1;
    }
    run->lock = (ua_run_lock){{-1, -1}};
    int rc = parse_train(a, argc, argv), usage = 0;
    if (rc < 0) {
        if (ua_cli_dist()->rank != 0) a->quiet = 1;   /* rank 0 prints for the run */
        ua_cli_set_threads(a->threads);
        ua_progress_init(&run->prog);
        run->prog.quiet = a->quiet;
        ua_err err;
        rc = open_train(a, run, &usage, &err);
        if (!rc) {
            announce(a, run);
            signal(SIGINT, on_sigint);
            signal(SIGTERM, on_sigint);
            rc = run_loop(a, run, &err);
        }
        if (rc < 0) {
            ua_progress_end(&run->prog);
            ua_cli_error("train", &err);
            rc = usage ? 2 : 1;
        }
    }
    close_train(run);
    free(run);
    free(a);
    return rc;
}
