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
 * lambda_softmax 9 (t2i) or 4 (i2t: the direction set before the preset), t_mode adaptive, t_est
 * mixture, neg_src random, alpha 2, ema 0.7, min_samples 200, t_test train, sep none (the
 * project's reconstruction, docs/results.md; the faithful A3 setting is its switches). --model scan: score scan, clip scan, mask off, irr scan,
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

/* uarda's training defaults: SCAN's, with the Flickr30K t2i AVG recipe (max_violation, bi_gru,
 * agg_func Mean, lambda_softmax 9) */
void ua_options_default(ua_options *o);
/* malloc'ed JSON object text */
char *ua_options_to_json(const ua_options *o);
/* Reads what the JSON holds over o (keys it lacks keep o's values; unknown keys are ignored,
 * values of the wrong type or out of range are errors naming `name` and the key). */
int ua_options_from_json(ua_options *o, const char *json, const char *name, ua_err *err);

#endif
