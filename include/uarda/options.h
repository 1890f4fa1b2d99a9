/* All of SCAN's options (spec scan.md 2.1) in one struct, with their JSON form: the object
 * stored as a string under __metadata__["opt"] in checkpoints, keys = SCAN's underscore names. */
#ifndef UARDA_OPTIONS_H
#define UARDA_OPTIONS_H

#include "uarda/error.h"
#include "uarda/model.h"
#include "uarda/relevance.h"

typedef struct ua_options {
    ua_model_opt model;          /* img_dim ... margin, max_violation, vocab_size */
    char data_path[1024], data_name[256], vocab_path[1024], logger_name[1024], model_name[1024];
    char precomp_enc_type[32];
    double learning_rate, grad_clip;
    int num_epochs, batch_size, lr_update, log_step, val_step, workers;
    long long seed;
    /* UARDA: "scan" (default: SCAN exactly), "uarda" (the project's reconstruction) or
     * "naaf" (NAAF's released score and recipe, spec 2.2-2.7); the attention switches are
     * model.attn.{score, form, clip, mask, logit, irr}; the threshold's are rel */
    char model_kind[16];
    ua_relevance_cfg rel;
} ua_options;

/* --model uarda: score naaf (form test; switches scan/off/scanlike/scan), clipped_l2norm, Mean,
 * t_mode adaptive, t_est mixture, neg_src random, ema 0.7, min_samples 200, per direction (the one
 * set before the preset): i2t lambda_softmax 4, alpha 2, t_test train, sep none; t2i
 * lambda_softmax 12, alpha 1, t_test safe, sep gauss with lambda_sep 1 (the project's
 * reconstruction, docs/results.md; the faithful A3 setting is its switches). --model scan: score scan, clip scan, mask off, irr scan,
 * t zero. --model naaf: score naaf (switches scan/off/scanlike/scan), clipped_l2norm, Mean,
 * lambda_softmax 20, t_mode adaptive, t_est naaf_compat, neg_src least, alpha 2, ema 0.7,
 * min_samples 200, t_test safe, sep none, margin 0.2, max_violation, grad_clip 2, learning_rate
 * 5e-4, lr_update 10, num_epochs 20. -1 for another kind. */
int ua_options_apply_model_kind(ua_options *o, const char *kind);
/* 1 when the attention uses a threshold at all (any UARDA switch on, or NAAF's score) */
int ua_options_thresholded(const ua_options *o);
/* NAAF's score takes no UARDA switch, the mean and clipped_l2norm only: -1 with a message
 * starting with `name` otherwise */
int ua_options_check_score(const ua_options *o, const char *name, ua_err *err);

/* ---- the table of options ---------------------------------------------------------------
 * Every option of ua_options is one row of one table (src/train/options.c), the way Redis
 * declares its configuration: its flag and JSON key, type and field, default and range, choice
 * names, class, and where a flag given on the command line may override a checkpoint's value.
 * The defaults, the checkpoint's "opt" JSON in both directions, the commands' flags (their help,
 * parsing and ranges), and the merge of given flags over a checkpoint all come from it: an option
 * added later is one row (and its field) plus the code that uses it. */
typedef enum {
    UA_OT_INT,         /* int */
    UA_OT_LONG,        /* long long */
    UA_OT_DOUBLE,      /* double */
    UA_OT_BOOL,        /* int, 0 or 1 */
    UA_OT_ENUM,        /* an enum (int-sized); `choices` names its values 0, 1, ... in order */
    UA_OT_TEXT,        /* char[size]; `choices`, when set, are the values a flag may give */
} ua_option_type;

/* what an option belongs to */
enum {
    UA_OC_SHAPE = 1,   /* the parameters' shapes: fixed once trained */
    UA_OC_SCORE = 2,   /* how a pair is scored */
    UA_OC_LOSS = 4,    /* the training loss */
    UA_OC_RUN = 8,     /* the training run (epochs, learning rate, batch, seed, ...) */
    UA_OC_UARDA = 16,  /* UARDA's switches, the score, the threshold's estimator */
    UA_OC_TEST = 32,   /* the threshold chosen at test */
    UA_OC_PATH = 64,   /* the run's data and output folders */
    UA_OC_ALL = 127,
};

/* where a flag given on the command line may override a checkpoint's value (elsewhere a given
 * flag must equal the checkpoint's value) */
enum {
    UA_OVR_RESUME = 1, /* uarda train --resume */
    UA_OVR_INFER = 2,  /* the inference commands: eval, score, index, search */
};

typedef struct ua_option_def {
    const char *flag;          /* "lambda-softmax"; NULL: recorded in checkpoints, not a flag */
    const char *key;           /* "lambda_softmax": the key in the checkpoint's "opt" JSON */
    ua_option_type type;
    size_t offset, size;       /* the field of ua_options */
    double def;                /* the default of a number, boolean or enum (its value) */
    const char *def_text;      /* the default of a TEXT */
    double lo, hi;             /* the accepted range of a number (its flag's and in messages) */
    const char *choices;       /* ENUM / TEXT: "t2i|i2t" */
    unsigned cls;              /* UA_OC_* */
    unsigned override;         /* UA_OVR_*: where a given flag wins over a checkpoint's value */
    const char *help;
} ua_option_def;

/* the table (*n rows) */
const ua_option_def *ua_option_table(size_t *n);
/* the row of a flag ("lambda-softmax"), or NULL */
const ua_option_def *ua_option_by_flag(const char *flag);
/* the field of row d in o */
void *ua_option_field(const ua_option_def *d, ua_options *o);
/* index of v among choices "a|b|c", or -1; the name of index k into buf ("?" out of range) */
int  ua_option_choice_index(const char *choices, const char *v);
void ua_option_choice_name(const char *choices, int k, char *buf, size_t cap);
/* row d's value in o as a flag would give it ("16", "0.2", "t2i", "basic") */
void ua_option_format(const ua_option_def *d, const ua_options *o, char *buf, size_t cap);
/* 1 when row d's field is the same in a and b */
int  ua_option_equal(const ua_option_def *d, const ua_options *a, const ua_options *b);
void ua_option_copy(const ua_option_def *d, ua_options *dst, const ua_options *src);
/* the fields of every row of a class in `classes`, from src into dst */
void ua_options_copy_classes(ua_options *dst, const ua_options *src, unsigned classes);
/* the same for the rows that are fields of the model's options (ua_options.model) */
void ua_model_opt_copy_classes(ua_model_opt *dst, const ua_model_opt *src, unsigned classes);

/* uarda's training defaults (each row's, then the scan preset of --model): SCAN's, with the
 * Flickr30K t2i AVG recipe (max_violation, bi_gru, agg_func Mean, lambda_softmax 9). The rows'
 * defaults also give ua_model_opt_default (model.h) and ua_relevance_cfg_default (relevance.h),
 * and the rows of ua_options.rel give ua_relevance_cfg_to_cjson / _from_cjson. */
void ua_options_default(ua_options *o);
/* malloc'ed JSON object text: every row's key */
char *ua_options_to_json(const ua_options *o);
/* Reads what the JSON holds over o (keys it lacks, or null, keep o's values; unknown keys are
 * ignored); a value of the wrong type or an unknown name is an error naming `name` and the key,
 * then the options are checked as a whole (ua_options_check). o is unchanged on error. */
int ua_options_from_json(ua_options *o, const char *json, const char *name, ua_err *err);
/* what no single row can say: UARDA's configuration (ua_relevance_cfg_check), irr scan needs
 * mask off, NAAF's score (ua_options_check_score), precomp_enc_type basic */
int ua_options_check(const ua_options *o, const char *name, ua_err *err);

#endif
