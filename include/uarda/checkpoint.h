/* Checkpoints: safetensors with SCAN's state-dict names (img_enc.*, txt_enc.*), the options as
 * JSON in __metadata__["opt"], and, for resuming, Adam's moments as tensors "optim.exp_avg.<name>"
 * and "optim.exp_avg_sq.<name>" plus the loop state in metadata (epoch, batch, Eiters,
 * best_rsum, adam_step). Written atomically, with the parameters' hash (params_hash) and the
 * data section's checksum (safetensors.h) in the metadata.
 *
 * Both loaders check, before the model is used: the checksum (a file written before checksums
 * loads with m->unverified set, for the caller to warn), that the tensors are exactly those the
 * options imply (no extra or missing ones under img_enc., txt_enc. or optim.), their shapes,
 * that every float is finite, and params_hash against the parameters. */
#ifndef UARDA_CHECKPOINT_H
#define UARDA_CHECKPOINT_H

#include "uarda/model.h"
#include "uarda/options.h"
#include "uarda/train.h"

typedef struct ua_train_state {
    int epoch;                 /* the epoch to run next / in progress */
    int batch;                 /* the next batch of that epoch */
    long long iters;           /* SCAN's Eiters */
    double best_rsum;
    long long adam_step;
} ua_train_state;

/* exp_avg / exp_avg_sq may be NULL (a weights-only checkpoint); rel (may be NULL) is UARDA's
 * threshold state, stored as JSON under __metadata__["relevance"] */
int ua_checkpoint_save(const char *path, const ua_options *o, const ua_model *m, const float *exp_avg,
                       const float *exp_avg_sq, const ua_train_state *st, const ua_relevance_state *rel,
                       ua_err *err);

/* Reads the options (over *o, so that keys the file lacks keep the caller's defaults), creates
 * and fills the model, and the moments when present (*exp_avg / *exp_avg_sq malloc'ed, or NULL
 * when the file has none; pass NULL pointers to skip them). Every tensor is checked against the
 * shapes the options imply. */
int ua_checkpoint_load(const char *path, ua_options *o, ua_model *m, float **exp_avg, float **exp_avg_sq,
                       ua_train_state *st, ua_err *err);
/* The same for inference (no moments, no loop state): uarda's own checkpoints hold the
 * parameters in the model's order, so the model reads them in place from the mapped file
 * (read-only, nothing copied: m->borrowed; ua_model_free unmaps); a file laid out otherwise (a
 * converted SCAN checkpoint) is copied as ua_checkpoint_load copies it. */
int ua_checkpoint_open(const char *path, ua_options *o, ua_model *m, ua_err *err);
/* Only the options of the checkpoint (over *o), without reading or verifying its tensors: what a
 * caller needs to merge flags before ua_checkpoint_load (or ua_trainer_open) reads it whole. */
int ua_checkpoint_read_options(const char *path, ua_options *o, ua_err *err);
/* UARDA's threshold state of the checkpoint into rel (initialised here from o->rel; all zero
 * when the file has none), and the model's attention threshold set to the test threshold
 * (t_test: safe t_te / train t_tr / fixed; 0 for SCAN). */
int ua_checkpoint_load_relevance(const char *path, const ua_options *o, ua_model *m, ua_relevance_state *rel,
                                 ua_err *err);

#endif
