/* The SCAN model: precomp image encoder (FC + l2norm), text encoder (embedding + (Bi-)GRU,
 * directions averaged, + l2norm), cross-attention similarity and the hardest-negative
 * contrastive loss, each with its forward and backward. All parameters live in one float
 * buffer, in SCAN's optimizer order (spec 3.1): txt_enc.embed.weight, txt_enc.rnn.*, then
 * img_enc.fc.weight, img_enc.fc.bias. Gradients and Adam moments mirror that layout. */
#ifndef UARDA_MODEL_H
#define UARDA_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "uarda/attention.h"
#include "uarda/dist.h"
#include "uarda/error.h"
#include "uarda/gru.h"

/* The model's options, with SCAN's names (spec 2.1). */
typedef struct ua_model_opt {
    int img_dim, embed_size, word_dim, vocab_size;
    int num_layers, bi_gru;
    int no_imgnorm, no_txtnorm;
    ua_attn_opts attn;         /* cross_attn, raw_feature_norm, agg_func, lambda_softmax, lambda_lse */
    double margin;
    int max_violation;
} ua_model_opt;

/* SCAN's defaults with the Flickr30K t2i AVG recipe (--max-violation --bi-gru, Mean, lambda 9):
 * the rows of the options' table (options.h, src/train/options.c) */
void ua_model_opt_default(ua_model_opt *o);
int  ua_model_opt_check(const ua_model_opt *o, ua_err *err);

#define UA_MAX_TENSORS 64
typedef struct ua_tensor_info {
    char name[64];             /* SCAN state-dict name with prefix, e.g. "img_enc.fc.weight" */
    int ndim;
    int64_t shape[2];
    size_t offset, count;      /* in floats, in the parameter buffer */
} ua_tensor_info;

typedef struct ua_model {
    ua_model_opt opt;
    ua_gru_shape gru;
    size_t n_params;
    float *params;             /* the one parameter buffer */
    ua_tensor_info tensors[UA_MAX_TENSORS];
    int n_tensors;
    /* views into params */
    float *embed;              /* [vocab_size, word_dim] */
    float *rnn;                /* GRU parameters (gru.h layout) */
    float *fc_weight;          /* [embed_size, img_dim] */
    float *fc_bias;            /* [embed_size] */
    /* params borrowed from elsewhere (a mapped checkpoint, read-only): ua_model_free calls
     * release(release_ctx) instead of freeing them */
    int borrowed;
    void (*release)(void *ctx);
    void *release_ctx;
    /* the parameters' hash as the file that lends them recorded it (borrowed models only: their
     * parameters cannot change) */
    int params_hash_known;
    uint64_t params_hash;
    /* set by the checkpoint loaders when the file records no checksum of its tensors (written
     * before uarda recorded one), so that they could not be verified: the CLI warns */
    int unverified;
    /* the test threshold (UARDA; 0 for SCAN), resolved once when a checkpoint is opened, from its
     * relevance state and options with the flags given (ua_relevance_t_test); a fresh
     * model's is 0. Run state, not an option: a pass takes it explicitly (ua_attn_at). */
    double t_test;
} ua_model;

/* Allocates the parameter buffer and lays out the tensors (no init). */
int  ua_model_create(ua_model *m, const ua_model_opt *opt, ua_err *err);
/* The same on a parameter buffer of the caller's (params NULL: allocated as by ua_model_create):
 * the model borrows it, and ua_model_free calls release(release_ctx) (release may be NULL).
 * On failure release is not called. */
int  ua_model_create_on(ua_model *m, const ua_model_opt *opt, float *params, void (*release)(void *),
                        void *release_ctx, ua_err *err);
/* SCAN's init: fc Xavier-uniform, bias 0, embedding U(-0.1, 0.1), GRU U(+-1/sqrt(H)) */
void ua_model_init_weights(ua_model *m, uint64_t seed);
void ua_model_free(ua_model *m);
/* A 64-bit hash of the parameters' bits (FNV-1a in 16 lanes, src/model/model.c), or the one
 * recorded beside borrowed parameters. Checkpoints record it; indexes name their model by it. */
uint64_t ua_model_params_hash(const ua_model *m);
const ua_tensor_info *ua_model_tensor(const ua_model *m, const char *name);
/* offsets of the same tensors in a gradient / moment buffer are those of params */

/* ---- layers ---------------------------------------------------------------------------- */

/* y = x / (|x| + 1e-8) per row of d floats; backward writes dx from dy, x and y (dx may be dy) */
void ua_l2norm_rows_forward(const float *x, float *y, size_t rows, int d);
void ua_l2norm_rows_backward(const float *x, const float *dy, float *dx, size_t rows, int d);

/* Image encoder on n rows (regions) of img_dim features: pre = X W^T + b, emb = l2norm(pre)
 * (or pre with no_imgnorm). pre may equal emb when no backward is needed... it may not when
 * l2norm is on and a backward follows. */
void ua_image_encoder_forward(const ua_model *m, const float *x, size_t n, float *pre, float *emb);
/* accumulates dW, db from d_emb (d_emb is used as scratch) */
void ua_image_encoder_backward(const ua_model *m, const float *x, size_t n, const float *pre, float *d_emb,
                               float *d_fc_weight, float *d_fc_bias);

/* Text encoder workspace (activations for backward), sized for max_batch x max_len. */
typedef struct ua_text_work ua_text_work;
ua_text_work *ua_text_work_new(const ua_model *m, int max_batch, int max_len, ua_err *err);
void ua_text_work_free(ua_text_work *w);
/* tokens [B, T] (0-padded), lengths descending; emb [B, T, E], zero at padding */
int ua_text_encoder_forward(const ua_model *m, const int *tokens, const int *lengths, int B, int T, float *emb,
                            ua_text_work *w, ua_err *err);
/* d_emb [B, T, E] (used as scratch); accumulates into the gradient buffer `grads` (layout of params) */
int ua_text_encoder_backward(const ua_model *m, const int *tokens, const int *lengths, int B, int T, float *d_emb,
                             float *grads, ua_text_work *w, ua_err *err);

/* ---- similarity blocks ----------------------------------------------------------------- */

/* Scores of n_img images x n_cap captions: scores[i * ld + j] = sim(image i, caption j).
 * img_emb [n_img, R, E], cap_emb [n_cap, L, E] (rows beyond lengths[j] are 0). The block's
 * region x word similarities are one GEMM; each pair then runs the attention kernel. */
typedef struct ua_sim_work ua_sim_work;
/* backward 0: the forward's buffers only (evaluation); the backward functions need 1 */
ua_sim_work *ua_sim_work_new(int max_img, int max_cap, int n_regions, int max_len, int embed, int backward, ua_err *err);
void ua_sim_work_free(ua_sim_work *w);
void ua_sim_block_forward(const ua_attn_cfg *cfg, const float *img_emb, int n_img, int R, const float *cap_emb,
                          int n_cap, int L, const int *lengths, int E, float *scores, size_t ld, ua_sim_work *w);
/* G [n][n] = X X^T, the Gram matrix of n rows of E floats (a pair's context items) */
void ua_gram(const float *X, int n, int E, float *G);
/* The next ua_sim_block_prepare (or _forward) takes the context items' Gram matrices from gram
 * instead of computing them: t2i the block's images, gram[i][R][R]; i2t the block's captions,
 * gram[j] at j * L * L with leading dimension lengths[j]. For evaluation, which meets every
 * image in many blocks. Applies to one prepare only. */
void ua_sim_use_context_gram(ua_sim_work *w, const float *gram);
/* NAAF's test form (ua_attn_needs_query_gram) also needs the query items' Gram matrices: prepare
 * computes them (t2i the captions' word Grams, i2t the images' region Grams). The backward
 * must follow a prepare with the same cfg. */
/* The two halves of ua_sim_block_forward, for callers that score column by column with a
 * threshold that changes between columns (UARDA's naaf_compat estimator): prepare computes the
 * block's dot products, Gram matrices and norms; columns scores captions [j0, j1) against
 * every image with cfg (its threshold is remembered per column for the backward). */
void ua_sim_block_prepare(const ua_attn_cfg *cfg, const float *img_emb, int n_img, int R, const float *cap_emb,
                          int n_cap, int L, const int *lengths, int E, ua_sim_work *w);
void ua_sim_block_columns(const ua_attn_cfg *cfg, int j0, int j1, float *scores, size_t ld, ua_sim_work *w);
/* max over the regions of image i of <u_jw, v_ir>, from the prepared block */
float ua_sim_word_max(const ua_sim_work *w, int image, int caption, int word);
/* Relevance statistics of the last forward (thresholded attention only; zero otherwise):
 * queries judged irrelevant, on matched pairs (image i, caption i: a training batch's diagonal)
 * and on all pairs, and masked (context, query) entries. */
typedef struct ua_sim_stats {
    long long queries, irrelevant, entries, masked;
    long long matched_queries, matched_irrelevant;
} ua_sim_stats;
void ua_sim_stats_get(const ua_sim_work *w, ua_sim_stats *out);
/* *a += *b, every count */
void ua_sim_stats_add(ua_sim_stats *a, const ua_sim_stats *b);
void ua_sim_stats_reset(ua_sim_work *w);
/* every count summed over d's ranks, on every rank (one process: unchanged). 0 / -1. */
int  ua_sim_stats_sum_ranks(ua_sim_stats *s, const ua_dist *d, ua_err *err);
/* the statistics' matched pairs are (image j + offset, caption j): a rank's columns of a batch
 * that starts at caption offset (0: the diagonal) */
void ua_sim_set_matched_offset(ua_sim_work *w, int offset);
/* Whether the forwards count the relevance statistics above (on by default): counting reads
 * every entry of every pair once more, so a caller that does not read them turns it off. */
void ua_sim_set_counting(ua_sim_work *w, int on);
/* A forward-only work (backward 0) scores SCAN's attention (the l2 or clipped-l2 norm, no UARDA
 * switch) with the queries in vector lanes (src/model/attention_scan_lanes.c), the same score up
 * to the order of its sums; on, it uses the generic pair kernel as training does (for comparisons
 * and benchmarks). */
void ua_sim_set_generic(ua_sim_work *w, int on);

/* Backward for d_scores [n_img, n_cap] (leading dimension ld): ACCUMULATES into d_img_emb and
 * d_cap_emb. Must follow ua_sim_block_forward on the same inputs and w. extra (may be NULL) is
 * called after the pair gradients are in place and before they reach the embeddings, to add
 * gradients of other losses with ua_sim_add_word_max_grad. */
void ua_sim_block_backward(const ua_attn_cfg *cfg, const float *img_emb, int n_img, int R, const float *cap_emb,
                           int n_cap, int L, const int *lengths, int E, const float *d_scores, size_t ld,
                           float *d_img_emb, float *d_cap_emb, ua_sim_work *w);
typedef void (*ua_sim_extra_grad)(void *ctx, ua_sim_work *w);
void ua_sim_set_extra_grad(ua_sim_work *w, ua_sim_extra_grad fn, void *ctx);
/* adds g to d<u_jw, v_ir*> at the region i* that attains ua_sim_word_max (the first maximum) */
void ua_sim_add_word_max_grad(ua_sim_work *w, int image, int caption, int word, float g);

/* ---- loss ------------------------------------------------------------------------------ */

/* VSE++ / SCAN contrastive loss on a B x B score matrix (positives on the diagonal), summed;
 * writes d_scores (B x B) for d loss = 1. */
double ua_contrastive_loss(const float *scores, int B, double margin, int max_violation, float *d_scores);

#endif
