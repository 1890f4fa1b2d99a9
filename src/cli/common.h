/* Pieces shared by the commands: SCAN's model options as flags, thread setup, progress lines
 * and JSON-lines logs. */
#ifndef UARDA_CLI_COMMON_H
#define UARDA_CLI_COMMON_H

#include <stdio.h>

#include "cli/args.h"
#include "uarda/clock.h"
#include "uarda/gallery.h"
#include "uarda/searcher.h"
#include "uarda/options.h"
#include "uarda/precomp.h"
#include "uarda/progress.h"
#include "uarda/tokenize.h"
#include "uarda/vocab.h"

/* String-valued choices are parsed into these, then applied with ua_cli_apply_model_flags. */
typedef struct ua_model_flags {
    const char *cross_attn, *raw_feature_norm, *agg_func, *precomp_enc_type, *score_form;
    /* UARDA */
    const char *model, *clip, *mask, *logit, *irr, *t_mode, *t_est, *neg_src, *t_test, *sep;
} ua_model_flags;

/* UARDA's switches (spec uarda.md 4.10); --model uarda presets the faithful setting (A3) and
 * every switch given alongside still wins */
#define UA_UARDA_FLAG_OPTS(o, f)                                                                              \
    {"model", UA_OPT_CHOICE, &(f).model, "scan|uarda|naaf", "scan: SCAN exactly; uarda: clip uarda, mask hard, irr zero, t-mode adaptive, t-est naaf_compat, t-test safe; " \
     "naaf: NAAF's released score (negative branch, masked feature part, threshold-free relevance part; mean over the words), " \
     "lambda-softmax 20, t-mode adaptive, t-est naaf_compat, neg-src least, alpha 2, ema 0.7, min-samples 200, t-test safe, " \
     "margin 0.2, max-violation, learning-rate 5e-4, lr-update 10, num-epochs 20 (flags given alongside win)", 0}, \
    {"clip", UA_OPT_CHOICE, &(f).clip, "scan|uarda", "scan: LeakyReLU(0.1); uarda: max(S - t, 0)", 0},   \
    {"mask", UA_OPT_CHOICE, &(f).mask, "off|hard", "hard: attend only to entries with S > t", 0},         \
    {"logit", UA_OPT_CHOICE, &(f).logit, "scanlike|raw", "softmax of lambda * normalised S, or of lambda * S", 0}, \
    {"irr", UA_OPT_CHOICE, &(f).irr, "scan|zero|neg", "score of an irrelevant query (max S <= t)", 0},     \
    {"t-mode", UA_OPT_CHOICE, &(f).t_mode, "zero|fixed|adaptive", "the relevance threshold", 0},          \
    {"t-fixed", UA_OPT_FLOAT, &(o).rel.t_fixed, NULL, "t for --t-mode fixed (and --t-test fixed)", 0},      \
    {"t-est", UA_OPT_CHOICE, &(f).t_est, "naaf_compat|clean|mixture", "adaptive estimator: NAAF's; batched with rings; rings with the relevant component of the positives fitted apart", 0}, \
    {"alpha", UA_OPT_FLOAT, &(o).rel.alpha, NULL, "weight of mismatches judged matched", 0},               \
    {"min-samples", UA_OPT_INT, &(o).rel.min_samples, NULL, "samples before the first estimate", 0},        \
    {"ema", UA_OPT_FLOAT, &(o).rel.ema, NULL, "t <- ema t_new + (1 - ema) t_old", 0},                       \
    {"neg-src", UA_OPT_CHOICE, &(f).neg_src, "least|hardest|random", "negative image of the samples", 0},  \
    {"t-test", UA_OPT_CHOICE, &(f).t_test, "safe|train|fixed", "threshold at test: mu+ - 3 sigma+, t_tr, or --t-fixed", 0}, \
    {"sep", UA_OPT_CHOICE, &(f).sep, "none|gauss|hinge", "separation loss on the samples", 0},              \
    {"lambda-sep", UA_OPT_FLOAT, &(o).rel.lambda_sep, NULL, "weight of the separation loss", 0}

/* SCAN's model options as flags, in three groups by what they do to a checkpoint's model:
 * the shape of its parameters (fixed once trained), its scoring (may be overridden at any time),
 * and its training loss (train only). */
#define UA_SHAPE_FLAG_OPTS(o, f)                                                                              \
    {"word-dim", UA_OPT_INT, &(o).model.word_dim, NULL, "dimensionality of the word embedding", 0},         \
    {"embed-size", UA_OPT_INT, &(o).model.embed_size, NULL, "dimensionality of the joint embedding", 0},    \
    {"num-layers", UA_OPT_INT, &(o).model.num_layers, NULL, "number of GRU layers", 0},                     \
    {"img-dim", UA_OPT_INT, &(o).model.img_dim, NULL, "dimensionality of the region features", 0},          \
    {"precomp-enc-type", UA_OPT_CHOICE, &(f).precomp_enc_type, "basic", "image encoder (basic: FC)", 0},    \
    {"bi-gru", UA_OPT_BOOL, &(o).model.bi_gru, NULL, "bidirectional GRU, directions averaged", 0}

#define UA_SCORE_FLAG_OPTS(o, f)                                                                              \
    {"no-imgnorm", UA_OPT_BOOL, &(o).model.no_imgnorm, NULL, "do not l2-normalise the region embeddings", 0}, \
    {"no-txtnorm", UA_OPT_BOOL, &(o).model.no_txtnorm, NULL, "do not l2-normalise the word embeddings", 0}, \
    {"raw-feature-norm", UA_OPT_CHOICE, &(f).raw_feature_norm, "clipped_l2norm|l2norm|clipped_l1norm|l1norm|clipped|no_norm|softmax", \
     "normalisation of the raw similarities", 0},                                                            \
    {"agg-func", UA_OPT_CHOICE, &(f).agg_func, "LogSumExp|Mean|Max|Sum", "aggregation of the relevances", 0}, \
    {"cross-attn", UA_OPT_CHOICE, &(f).cross_attn, "t2i|i2t", "t2i: words attend to regions; i2t: regions to words", 0}, \
    {"lambda-lse", UA_OPT_FLOAT, &(o).model.attn.lambda_lse, NULL, "LogSumExp temperature (lambda_2)", 0},  \
    {"lambda-softmax", UA_OPT_FLOAT, &(o).model.attn.lambda_softmax, NULL, "attention inverse temperature (lambda_1)", 0}, \
    {"score-form", UA_OPT_CHOICE, &(f).score_form, "test|train", "NAAF's score at evaluation: its test form (the negative " \
     "branch decided on the words' smoothed maxima) or its training form (training always uses the training form)", 0}

#define UA_LOSS_FLAG_OPTS(o)                                                                                  \
    {"margin", UA_OPT_FLOAT, &(o).model.margin, NULL, "rank loss margin", 0},                                \
    {"max-violation", UA_OPT_BOOL, &(o).model.max_violation, NULL, "use the hardest negative (VSE++)", 0}

#define UA_MODEL_FLAG_OPTS(o, f) UA_LOSS_FLAG_OPTS(o), UA_SHAPE_FLAG_OPTS(o, f), UA_SCORE_FLAG_OPTS(o, f)

/* What a flag given on the command line may do to a checkpoint's options (ua_cli_merge_flags). */
enum {
    UA_FLAGS_SHAPE = 1,    /* the parameters' shapes: never changes once trained */
    UA_FLAGS_SCORE = 2,    /* how a pair is scored */
    UA_FLAGS_LOSS = 4,     /* the training loss */
    UA_FLAGS_RUN = 8,      /* the training run (epochs, learning rate, batch, seed, ...) */
    UA_FLAGS_UARDA = 16,   /* UARDA's switches and its threshold's estimator */
    UA_FLAGS_TEST = 32,    /* the threshold chosen at test */
    UA_FLAGS_ALL = 63,
};
/* Merges the flags given on the command line (spec; their parsed values in given) over dst, a
 * checkpoint's options (named ckpt in messages): among the flags of the classes in `consider`,
 * those of a class in `honour` are copied, and any other must equal dst's value, else -1 with a
 * message that names the flag and the checkpoint's value (a flag is never silently ignored). */
int  ua_cli_merge_flags(ua_options *dst, const ua_options *given, const ua_cmd_spec *spec, unsigned consider,
                        unsigned honour, const char *ckpt, ua_err *err);
/* Sets the help notes of spec's checkpoint flags: honoured ones get `honoured`, the others of
 * `consider` get `refused` (e.g. " (overrides the checkpoint's)", " (must match the checkpoint)"). */
void ua_cli_annotate_flags(ua_cmd_spec *spec, unsigned consider, unsigned honour, const char *honoured,
                           const char *refused);
/* the help notes of an inference command (score, eval, index, search) */
void ua_cli_annotate_inference(ua_cmd_spec *spec);
/* The scoring options of o (UA_FLAGS_SCORE, and the score and switches that an inference --model
 * sets) into a loaded model's options (its threshold untouched). */
void ua_cli_apply_scoring(ua_model *m, const ua_options *o);
/* For inference commands: the options a checkpoint was made with (o, loaded) merged with the
 * shape and scoring flags given (given: defaults with the flags parsed over them, f their
 * choices): shape flags must match, scoring flags override (m's options updated). A --model
 * given (UA_INFERENCE_MODEL_OPT) scores with that preset's form first: naaf, NAAF's score with
 * its lambda 20, Mean and clipped_l2norm; scan, SCAN's attention; both clear the UARDA switches
 * (the threshold in force stays the checkpoint's, or --t-test / --t-fixed's). */
int  ua_cli_inference_flags(ua_options *o, ua_model *m, ua_options *given, const ua_model_flags *f,
                            const ua_cmd_spec *spec, const char *ckpt, ua_err *err);

/* --model for the inference commands (score, eval) */
#define UA_INFERENCE_MODEL_OPT(f)                                                                             \
    {"model", UA_OPT_CHOICE, &(f).model, "scan|naaf", "score with SCAN's attention or with NAAF's score (lambda-softmax " \
     "20, Mean, the test form unless --score-form train) instead of the checkpoint's; with --t-test fixed --t-fixed X, " \
     "NAAF's t_safe (or, with --score-form train, t) is X", 0}

/* the input limits, for --help: "Limits: captions of at most N tokens, ..." */
const char *ua_cli_limits_help(void);

/* fills f with the names of o's current choices (so --help shows the defaults) */
void ua_cli_model_flags_from(const ua_options *o, ua_model_flags *f);
/* applies the choices; with spec, only those given on the command line */
void ua_cli_apply_model_flags(ua_options *o, const ua_model_flags *f, const ua_cmd_spec *spec);
/* applies --model and UARDA's switches given on the command line; -1 (message in err) for an
 * inconsistent setting */
int ua_cli_apply_uarda_flags(ua_options *o, const ua_model_flags *f, const ua_cmd_spec *spec, ua_err *err);

/* eval's --t-test / --t-fixed (NULL: not given): the checkpoint at path
 * evaluated at another threshold than the one it chose (spec 4.10 A4: test with t_tr) */
int ua_cli_eval_threshold(const char *path, ua_options *o, ua_model *m, const char *t_test, const double *t_fixed,
                          ua_err *err);

#include "cli/threads.h"

/* Progress: a live line on a terminal, periodic plain lines otherwise. */
typedef struct ua_progress {
    int tty;
    double start, last_print;
    double interval;       /* seconds between plain lines */
    double paused;         /* seconds not spent on the counted work (e.g. validation): out of the ETA */
    int quiet;             /* print nothing */
} ua_progress;
void   ua_progress_init(ua_progress *p);
/* prints when due (always when force); done/total drive the ETA; rate_unit names the items */
void   ua_progress_update(ua_progress *p, const char *label, long long done, long long total, const char *extra, int force);
void   ua_progress_end(ua_progress *p);
/* The library's progress reports (include/uarda/progress.h) as "<cmd>: <phase> done/total" lines
 * on stderr: live on a terminal, every 10 s otherwise (a phase shorter than that prints nothing).
 * The command owns the state; begin returns the context to pass to the library's calls, end
 * closes a live line. */
typedef struct ua_cli_eval_progress {
    ua_progress p;
    const char *cmd, *phase;
    char label[96];
    int shown;
    long long last_done;
    ua_progress_cb cb;
} ua_cli_eval_progress;
const ua_progress_cb *ua_cli_eval_progress_begin(ua_cli_eval_progress *ep, const char *cmd);
void ua_cli_eval_progress_end(ua_cli_eval_progress *ep);
/* The lines of a text file without their "\n" / "\r\n" (malloc'ed; free with ua_cli_free_lines),
 * *n of them; NULL with a message when the file cannot be read or memory runs out. An empty
 * file gives a valid empty list. */
char **ua_cli_read_lines(const char *path, int *n, ua_err *err);
void   ua_cli_free_lines(char **lines, int n);

/* this process's anonymous resident memory (RssAnon in /proc/self/status), in MB; -1 if unknown */
double ua_rss_anon_mb(void);

/* appends one JSON object (a cJSON* passed as void* to keep cJSON out of this header) as a line,
 * flushed; -1 with a message naming the file when it cannot be written whole */
int ua_jsonl_append(const char *path, void *json_object, ua_err *err);

/* the one-line warning for a file that records no checksum (written before uarda recorded
 * them: a checkpoint with m->unverified set, an index ua_gallery_verify found without one) */
void ua_cli_warn_no_checksum(const char *cmd, const char *path);

#endif
