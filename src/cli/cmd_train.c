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

/* After a step: a non-finite loss, gradient norm or parameter stops the run before anything is
 * saved (a NaN model would otherwise validate as perfect and become model_best). */
static int check_step(const ua_model *m, long long iter, double loss, double gnorm, const char *ckpt_path, ua_err *err)
{
    const char *what = !isfinite(loss) ? "the loss" : !isfinite(gnorm) ? "the gradient norm" : NULL;
    if (what)
        return ua_fail(err, "iteration %lld: %s is not finite (loss %g, gradient norm %g); stopped, %s is left as it "
                       "was (try a lower --learning-rate or --lambda-softmax)", iter, what, loss, gnorm, ckpt_path);
    long long k = ua_first_nonfinite(m->params, m->n_params);
    if (k < 0) return 0;
    const char *name = "?";
    for (int t = 0; t < m->n_tensors; t++)
        if ((size_t)k >= m->tensors[t].offset && (size_t)k < m->tensors[t].offset + m->tensors[t].count)
            name = m->tensors[t].name;
    return ua_fail(err, "iteration %lld: parameter %s became %s after the update; stopped, %s is left as it was", iter,
                   name, ua_nonfinite_name(m->params[k]), ckpt_path);
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
    ua_model m = {0};
    ua_batcher batcher = {0};
    ua_batch batch = {0};
    ua_step_work *w = NULL;
    float *grads = NULL, *exp_avg = NULL, *exp_avg_sq = NULL;
    int exp_avg_resumed = 0;
    ua_train_state state = {0};
    ua_uarda_trainer ut = {0};
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
        ua_fail(&err, "--img-dim %d but %s/%s/train_ims.npy has %d-dim regions", o.model.img_dim, data_path, data_name, train.img_dim);
        goto fail;
    }
    o.model.img_dim = train.img_dim;
    o.model.vocab_size = vocab.n;
    if (dev.img_dim != train.img_dim || dev.n_regions != train.n_regions) {
        ua_fail(&err, "dev and train region features differ in shape (%d x %d vs %d x %d)", dev.n_regions, dev.img_dim,
                train.n_regions, train.img_dim);
        goto fail;
    }
    if (resume) {
        ua_options from = o;
        if (ua_checkpoint_load(resume, &from, &m, &exp_avg, &exp_avg_sq, &state, &err)) goto fail;
        if (m.unverified) ua_cli_warn_no_checksum("train", resume);
        if (from.model.vocab_size != vocab.n) {
            ua_fail(&err, "%s: the checkpoint has a vocabulary of %d words, %s has %d", resume, from.model.vocab_size, vocab_file, vocab.n);
            goto fail;
        }
        if (from.model.img_dim != train.img_dim) {
            ua_fail(&err, "%s: the checkpoint expects %d-dim regions, the data has %d", resume, from.model.img_dim, train.img_dim);
            goto fail;
        }
        /* the model is the checkpoint's: flags that change its scoring, loss or run win, those
         * that would change its shape or UARDA's estimator must agree with it */
        ua_options run = from;
        if (ua_cli_merge_flags(&run, &given, &spec, UA_FLAGS_ALL, TRAIN_RESUME_HONOURS, resume, &err)) {
            usage = 1;
            goto fail;
        }
        snprintf(run.data_path, sizeof run.data_path, "%s", given.data_path);
        snprintf(run.data_name, sizeof run.data_name, "%s", data_name);
        snprintf(run.vocab_path, sizeof run.vocab_path, "%s", given.vocab_path);
        snprintf(run.logger_name, sizeof run.logger_name, "%s", given.logger_name);
        snprintf(run.model_name, sizeof run.model_name, "%s", given.model_name);
        o = run;
        exp_avg_resumed = exp_avg != NULL;
        if (!exp_avg) {  /* weights only (e.g. a converted SCAN checkpoint): fresh Adam at epoch 0 */
            memset(&state, 0, sizeof state);
            if (!quiet) fprintf(stderr, "uarda train: %s has no optimizer state: starting from its weights at epoch 0\n", resume);
        } else if (!quiet) {
            fprintf(stderr, "uarda train: resuming %s at epoch %d, batch %d (iteration %lld)\n", resume, state.epoch,
                    state.batch, state.iters);
        }
    } else {
        if (ua_model_create(&m, &o.model, &err)) goto fail;
        ua_model_init_weights(&m, (uint64_t)o.seed);
    }
    if (!exp_avg) {
        exp_avg = calloc(m.n_params, sizeof(float));
        exp_avg_sq = calloc(m.n_params, sizeof(float));
    }
    if (ua_uarda_trainer_init(&ut, &o.rel, ua_options_thresholded(&o), o.batch_size, (uint64_t)o.seed, &err)) goto fail;
    if (resume && exp_avg_resumed) {
        ua_rng seeded = ut.st.rng;
        ua_relevance_free(&ut.st);
        if (ua_checkpoint_load_relevance(resume, &o, &m, &ut.st, &err)) goto fail;
        if (ut.st.rng.inc == 0) ut.st.rng = seeded;   /* a checkpoint from before the generator was saved */
    }
    grads = malloc(m.n_params * sizeof(float));
    if (!exp_avg || !exp_avg_sq || !grads) { ua_fail(&err, "out of memory for %zu parameters", m.n_params); goto fail; }
    if (o.batch_size > train.n_items) {
        ua_fail(&err, "--batch-size %d is more than the %d training captions of %s/%s", o.batch_size, train.n_items,
                data_path, data_name);
        goto fail;
    }
    if (ua_batcher_init(&batcher, train.n_items, o.batch_size, 1, (uint64_t)o.seed, &err)) goto fail;
    if (!(w = ua_step_work_new(&m, o.batch_size, train.caps.max_len, train.n_regions, &err))) goto fail;

    ua_adam adam;
    ua_adam_default(&adam, o.learning_rate);
    adam.step = state.adam_step;
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    if (!quiet) fprintf(stderr, "uarda train: %s/%s: %d training captions, %d dev images, %zu parameters, %s %s %s\n", data_path,
            data_name, train.n_items, ua_split_images_used(&dev), m.n_params, ua_direction_name(m.opt.attn.direction),
            ua_feature_norm_name(m.opt.attn.norm), ua_agg_name(m.opt.attn.agg));
    long long total_iters = (long long)o.num_epochs * batcher.n_batches, start_iters = state.iters;
    double t_run = ua_now(), t_validating = 0;
    int stop = 0;
    for (int epoch = state.epoch; epoch < o.num_epochs && !stop; epoch++) {
        adam.lr = ua_lr_at_epoch(o.learning_rate, o.lr_update, epoch);
        ua_batcher_set_epoch(&batcher, epoch);
        int first = epoch == state.epoch ? state.batch : 0;
        ua_sim_stats ep_stats;
        memset(&ep_stats, 0, sizeof ep_stats);
        for (int k = first; k < batcher.n_batches; k++) {
            if (ua_batcher_get(&batcher, k, &train, 1, &batch, &err)) goto fail;
            memset(grads, 0, m.n_params * sizeof(float));
            double loss;
            m.opt.max_violation = epoch < warmup_epochs ? 0 : o.model.max_violation;
            if (ua_uarda_step(&ut, &m, batch.images, train.n_regions, batch.tokens, batch.lengths, batch.size,
                              batch.max_len, &loss, grads, w, &err)) goto fail;
            ep_stats.queries += ut.stats.queries;
            ep_stats.irrelevant += ut.stats.irrelevant;
            ep_stats.entries += ut.stats.entries;
            ep_stats.masked += ut.stats.masked;
            ep_stats.matched_queries += ut.stats.matched_queries;
            ep_stats.matched_irrelevant += ut.stats.matched_irrelevant;
            if (nan_at > 0 && state.iters + 1 == nan_at) grads[0] = NAN;
            double coef = 1.0, gnorm = ua_clip_grad_norm(grads, m.n_params, o.grad_clip, &coef);
            ua_adam_update(&adam, m.params, grads, exp_avg, exp_avg_sq, m.n_params);
            state.iters++;
            state.epoch = epoch;
            state.batch = k + 1;
            state.adam_step = adam.step;
            double el = ua_now() - t_run - t_validating;
            double cps = el > 0 ? (double)(state.iters - start_iters) * o.batch_size / el : 0;
            char extra[160];
            if (ut.thresholded)
                snprintf(extra, sizeof extra, " epoch %d loss %.4f lr %.2g t %.3f %.0f captions/s", epoch, loss, adam.lr,
                         ut.t_step, cps);
            else
                snprintf(extra, sizeof extra, " epoch %d loss %.4f lr %.2g %.0f captions/s", epoch, loss, adam.lr, cps);
            ua_progress_update(&prog, "train: iteration", state.iters, total_iters, extra, 0);
            if (state.iters % o.log_step == 0 || !isfinite(loss)) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddStringToObject(j, "event", "train");
                cJSON_AddNumberToObject(j, "epoch", epoch);
                cJSON_AddNumberToObject(j, "iter", (double)state.iters);
                cJSON_AddNumberToObject(j, "loss", loss);
                cJSON_AddNumberToObject(j, "lr", adam.lr);
                cJSON_AddNumberToObject(j, "grad_norm", gnorm);
                cJSON_AddNumberToObject(j, "clip_coef", coef);
                cJSON_AddNumberToObject(j, "captions_per_s", cps);
                cJSON_AddNumberToObject(j, "rss_anon_mb", ua_rss_anon_mb());
                int bad = ua_jsonl_append(log_path, j, &err);
                cJSON_Delete(j);
                if (bad) goto fail;
            }
            if (check_step(&m, state.iters, loss, gnorm, ckpt_path, &err)) goto fail;
            int save_now = (save_step > 0 && state.iters % save_step == 0) || g_interrupted ||
                           (max_steps > 0 && state.iters >= max_steps);
            if (save_now && ua_checkpoint_save(ckpt_path, &o, &m, exp_avg, exp_avg_sq, &state, &ut.st, &err)) goto fail;
            if (kill_after > 0 && state.iters == kill_after) raise(SIGKILL);
            if (g_interrupted) {
                ua_progress_end(&prog);
                fprintf(stderr, "uarda train: interrupted; resumable checkpoint %s (epoch %d, batch %d)\n", ckpt_path,
                        epoch, state.batch);
                rc = 130;
                goto done;
            }
            if (max_steps > 0 && state.iters >= max_steps) { stop = 1; break; }
            if (o.val_step > 0 && state.iters % o.val_step == 0) {
                ua_recall r;
                m.opt.attn.threshold = ut.thresholded ? ua_relevance_t_test(&ut.st, &ut.cfg) : 0.0;
                double tv = ua_now();
                if (ua_evaluate_split((const ua_model *const[]){&m}, 1, &dev, 0, &r, &err)) goto fail;
                t_validating += ua_now() - tv;
                prog.paused += ua_now() - tv;
                cJSON *j = recall_json("val_step", epoch, state.iters, &r);
                int bad = ua_jsonl_append(log_path, j, &err);
                cJSON_Delete(j);
                if (bad) goto fail;
            }
        }
        if (stop) break;
        ua_recall r;
        m.opt.attn.threshold = ut.thresholded ? ua_relevance_t_test(&ut.st, &ut.cfg) : 0.0;
        double tv = ua_now();
        if (ua_evaluate_split((const ua_model *const[]){&m}, 1, &dev, 0, &r, &err)) goto fail;
        double val_secs = ua_now() - tv;
        t_validating += val_secs;
        prog.paused += val_secs;
        ua_progress_update(&prog, "train: iteration", state.iters, total_iters, "", 1);
        if (ut.thresholded) {
            const ua_relevance_state *rs = &ut.st;
            double irr_m = ep_stats.matched_queries ? (double)ep_stats.matched_irrelevant / (double)ep_stats.matched_queries : 0;
            long long mq = ep_stats.queries - ep_stats.matched_queries, mi = ep_stats.irrelevant - ep_stats.matched_irrelevant;
            double irr_x = mq ? (double)mi / (double)mq : 0, masked = ep_stats.entries ? (double)ep_stats.masked / (double)ep_stats.entries : 0;
            ua_progress_end(&prog);
            if (!quiet) fprintf(stderr, "epoch %d: t_tr %.4f t_te %.4f  mu+ %.3f sigma+ %.3f (weight %.2f)  mu- %.3f sigma- %.3f  "
                    "(n %d/%d, %lld updates)  irrelevant queries: matched %.1f%%, mismatched %.1f%%  masked %.1f%%\n", epoch,
                    rs->t_tr, rs->t_te, rs->mu_pos, rs->sigma_pos, rs->pos_weight, rs->mu_neg, rs->sigma_neg, rs->n_pos,
                    rs->n_neg, rs->updates, 100 * irr_m, 100 * irr_x, 100 * masked);
            cJSON *jr = cJSON_CreateObject();
            cJSON_AddStringToObject(jr, "event", "relevance");
            cJSON_AddNumberToObject(jr, "epoch", epoch);
            cJSON_AddNumberToObject(jr, "iter", (double)state.iters);
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
            int bad = ua_jsonl_append(log_path, jr, &err);
            cJSON_Delete(jr);
            if (bad) goto fail;
        }
        ua_progress_end(&prog);
        int is_best = r.rsum > state.best_rsum;
        if (is_best) state.best_rsum = r.rsum;
        if (!quiet) fprintf(stderr, "epoch %d: dev rsum %.2f (i2t %.1f %.1f %.1f, t2i %.1f %.1f %.1f)%s\n", epoch, r.rsum, r.i2t[0],
                r.i2t[1], r.i2t[2], r.t2i[0], r.t2i[1], r.t2i[2], is_best ? " best" : "");
        cJSON *j = recall_json("val", epoch, state.iters, &r);
        cJSON_AddBoolToObject(j, "best", is_best);
        cJSON_AddNumberToObject(j, "seconds", val_secs);
        int bad = ua_jsonl_append(log_path, j, &err);
        cJSON_Delete(j);
        if (bad) goto fail;
        state.epoch = epoch + 1;
        state.batch = 0;
        if (is_best && ua_checkpoint_save(best_path, &o, &m, NULL, NULL, &state, &ut.st, &err)) goto fail;
        if (ua_checkpoint_save(ckpt_path, &o, &m, exp_avg, exp_avg_sq, &state, &ut.st, &err)) goto fail;
    }
    rc = 0;
    goto done;
fail:
    ua_progress_end(&prog);
    ua_cli_error("train", &err);
    rc = usage ? 2 : 1;
done:
    ua_uarda_trainer_free(&ut);
    ua_step_work_free(w);
    ua_batch_free(&batch);
    ua_batcher_free(&batcher);
    free(grads);
    free(exp_avg);
    free(exp_avg_sq);
    ua_model_free(&m);
    ua_split_close(&train);
    ua_split_close(&dev);
    ua_vocab_free(&vocab);
    free(vocab_file);
    ua_run_unlock(&lock);
    return rc;
}
