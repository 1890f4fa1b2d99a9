/* UARDA's adaptive relevance threshold (spec uarda.md 2.3-2.4, 4.7) and the separation losses
 * (4.8). Self-contained: the training loop computes scores and word maxima and calls in here.
 *
 * Two thresholds are kept: t_tr (used inside the training similarity) and t_te (the "safe"
 * test boundary mu+ - 3 sigma+). Both are scalar state, never parameters, and carry no gradient.
 *
 * Samples (spec 2.3): for a caption c that is ranked first by its own image (the FIRST argmax over
 * images k of score(k, c) is c), every word w gives a positive sample word_max(c, c, w) (max over
 * the regions of image c of the word-region similarity) and a negative sample word_max(k-, c, w)
 * against one negative image k- (neg_src: least = first argmin over k != c; hardest = first argmax
 * over k != c; random = uniform over k != c, drawn from the caller's rng only for correctly ranked
 * captions). NAAF's argmin runs over all k; the two differ only when all B scores of the caption
 * are equal, where NAAF would take the caption's own image as its "negative".
 *
 * Estimators (t_est):
 *   naaf_compat (4.7.1): NAAF's sequential per-caption procedure, quirks included: per-batch lists,
 *     an update after every gated caption once N > min_samples (on all samples of the batch so
 *     far), out-of-range values set to 0, EMA with the values at the start of the update, and the
 *     reset t_tr = t_te = 0 after any caption that leaves N < min_samples. The moments are taken
 *     in double (NAAF takes them in float32 with torch's reduction order).
 *   clean (4.7.2): rings of the last ring_size positive and negative samples across batches;
 *     t_tr = t_te = 0 until each ring holds >= min_samples; then one update per call on the ring
 *     contents (unbiased std, sigma >= 1e-4), linear solution when |A| < 1e-6, the old t kept when
 *     E <= 0, values clipped to [0, 1] (clip events counted), EMA with rho = ema.
 *   mixture [RECON]: clean, except for mu+ and sigma+. NAAF's samples assume every word of a
 *     matched caption finds its region; where many words have none (function words, fillers),
 *     the positive samples are a mixture of relevant words and words that score like the
 *     negatives, and their plain moments put mu+ near (or below) t. mixture fits
 *     P ~ w N(mu+, sigma+^2) + (1 - w) N(mu-, sigma-^2) by EM with the irrelevant component fixed
 *     to the negative ring's moments (ua_relevant_component_fit), so that mu+, sigma+ describe
 *     the relevant words only; t and t_safe come from the same solver, and t_safe is capped at
 *     t (the safe boundary may not cut more than t). A failed fit falls back to the plain moments
 *     (counted in mixture_fallbacks).
 */
#ifndef UARDA_RELEVANCE_H
#define UARDA_RELEVANCE_H

#include <stddef.h>

#include "uarda/error.h"
#include "uarda/rng.h"

struct cJSON;

/* switches (spec 4.10); the names are the CLI values and the "opt" JSON values */
typedef enum { UA_T_ZERO = 0, UA_T_FIXED, UA_T_ADAPTIVE } ua_t_mode;          /* "zero" "fixed" "adaptive" */
typedef enum { UA_T_EST_NAAF_COMPAT = 0, UA_T_EST_CLEAN, UA_T_EST_MIXTURE } ua_t_est; /* "naaf_compat" "clean" "mixture" */
typedef enum { UA_NEG_LEAST = 0, UA_NEG_HARDEST, UA_NEG_RANDOM } ua_neg_src;    /* "least" "hardest" "random" */
typedef enum { UA_T_TEST_SAFE = 0, UA_T_TEST_TRAIN, UA_T_TEST_FIXED } ua_t_test; /* "safe" "train" "fixed" */
typedef enum { UA_SEP_NONE = 0, UA_SEP_GAUSS, UA_SEP_HINGE } ua_sep_mode;       /* "none" "gauss" "hinge" */

/* name -> enum value, -1 if unknown; enum value -> name ("?" if out of range) */
int ua_t_mode_parse(const char *s);
int ua_t_est_parse(const char *s);
int ua_neg_src_parse(const char *s);
int ua_t_test_parse(const char *s);
int ua_sep_parse(const char *s);
const char *ua_t_mode_name(ua_t_mode m);
const char *ua_t_est_name(ua_t_est e);
const char *ua_neg_src_name(ua_neg_src n);
const char *ua_t_test_name(ua_t_test t);
const char *ua_sep_name(ua_sep_mode s);

typedef struct ua_relevance_cfg {
    ua_t_mode t_mode;
    ua_t_est t_est;
    ua_neg_src neg_src;
    ua_t_test t_test;
    ua_sep_mode sep;
    double t_fixed;      /* t for t_mode fixed (training and test) and t_test fixed */
    double alpha;        /* weight of mismatches judged matched (2.0) */
    double ema;          /* rho: t <- rho t_new + (1 - rho) t_old (0.7) */
    double lambda_sep;   /* weight of the separation loss (the caller scales by it) (0) */
    double hinge_delta;  /* delta of the hinge separation loss (0.05) */
    int min_samples;     /* naaf_compat: update when N > min_samples; clean: warm-up length (200) */
    int ring_size;       /* clean: samples kept per ring (2048) */
} ua_relevance_cfg;

/* t_mode adaptive, t_est clean, neg_src least, t_test safe, sep none, t_fixed 0, alpha 2,
 * ema 0.7, lambda_sep 0, hinge_delta 0.05, min_samples 200, ring_size 2048: the rows of the
 * options' table (options.h, src/train/options.c), which also give the JSON form below */
void ua_relevance_cfg_default(ua_relevance_cfg *cfg);
/* ranges: alpha > 0, 0 < ema <= 1, lambda_sep >= 0, hinge_delta >= 0, finite t_fixed,
 * 1 <= min_samples (2 for clean), 2 <= ring_size <= 1<<24, clean: min_samples <= ring_size.
 * The message starts with `name`. */
int ua_relevance_cfg_check(const ua_relevance_cfg *cfg, const char *name, ua_err *err);
/* The cfg as keys of a JSON object ("t_mode", "t_est", "neg_src", "t_test", "sep", "t_fixed",
 * "alpha", "ema", "lambda_sep", "hinge_delta", "min_samples", "ring_size"), e.g. the checkpoint's
 * "opt". to: 0, or -1 when out of memory. from: keys the object lacks keep cfg's values; a value
 * of the wrong type, an unknown name or a failed check is an error naming `name` and the key. */
int ua_relevance_cfg_to_cjson(const ua_relevance_cfg *cfg, struct cJSON *obj);
int ua_relevance_cfg_from_cjson(ua_relevance_cfg *cfg, const struct cJSON *obj, const char *name, ua_err *err);

/* ---------------------------------------------------------------------------------------------
 * The closed-form boundary (spec 2.4). f+ = N(mu+, sigma+^2), f- = N(mu-, sigma-^2); the
 * stationary point f+(t) = alpha f-(t) solves A t^2 + B t + C = 0 with
 *   A = sigma+^2 - sigma-^2, B = 2 (mu+ sigma-^2 - mu- sigma+^2),
 *   C = (mu- sigma+)^2 - (mu+ sigma-)^2 + 2 sigma+^2 sigma-^2 ln(sigma- / (alpha sigma+) [+ 1e-8]),
 *   E = B^2 - 4 A C, and the "+sqrt(E)" root, which lies between the means.
 * naaf_compat: t = (-B + sqrt(E)) / (2A + 1e-10) when E > 0 (NaN counts as E <= 0), else t_old;
 *   t_safe = mu+ - 3 sigma+ when E > 0, else safe_old; a value outside [0, 1] is SET TO 0; the
 *   "+ 1e-8" inside the log is NAAF's.
 * clean: sigmas guarded to >= 1e-4; |A| < 1e-6: t = -C/B (no root when B == 0); else E <= 0: no
 *   root; else the same root in its cancellation-free form; no root: t = t_old untouched (not
 *   clipped); t_safe = mu+ - 3 sigma+ always; values CLIPPED to [0, 1]. No "+ 1e-8".
 * The return value (and out->status) is the first that applies: NO_ROOT, OUT_OF_RANGE (the range
 * rule changed t), DEGENERATE (|A| < 1e-6, in both modes), OK. */
typedef enum {
    UA_SOLVE_OK = 0, UA_SOLVE_NO_ROOT = 1, UA_SOLVE_DEGENERATE = 2, UA_SOLVE_OUT_OF_RANGE = 3
} ua_solve_status;

typedef struct ua_threshold_solution {
    double A, B, C, E;
    double root;          /* the root before the range rule; NAN when there is none */
    double safe_raw;      /* mu+ - 3 sigma+ before the range rule (with the clean guard) */
    double t;             /* the new t before the EMA */
    double t_safe;        /* the new t_safe before the EMA */
    int status;           /* ua_solve_status, as returned */
    int degenerate;       /* |A| < 1e-6 */
    int t_out_of_range;   /* the range rule changed t (zeroed or clipped) */
    int safe_out_of_range;/* the range rule changed t_safe */
} ua_threshold_solution;

int ua_threshold_solve(ua_t_est est, double alpha, double mu_pos, double sigma_pos, double mu_neg,
                       double sigma_neg, double t_old, double safe_old, ua_threshold_solution *out);

/* EM for the relevant component of the positive samples pos[0..n-1] with the irrelevant component
 * fixed to N(mu_neg, sigma_neg^2) (t_est mixture). Starts from the upper half of the sorted samples
 * with weight 1/2; at most UA_MIXTURE_ITERS iterations, stopping when mean, std and weight move
 * less than 1e-10; sigma >= 1e-4. Returns 0 with the component's mean, std and weight, or -1 (n < 4,
 * an empty component, a mean not above mu_neg, a weight below UA_MIXTURE_MIN_WEIGHT, out of memory)
 * with the plain moments of pos and weight 1. */
enum { UA_MIXTURE_ITERS = 500 };
#define UA_MIXTURE_MIN_WEIGHT 0.02
int ua_relevant_component_fit(const float *pos, int n, double mu_neg, double sigma_neg, double *mu, double *sigma,
                              double *weight);
/* The same with the irrelevant component taken from negative samples as an update takes it
 * (their mean and unbiased std, sigma >= 1e-4); for drawing a checkpoint's fit on other samples.
 * -1 also when n_neg < 2. */
int ua_relevant_component_fit_samples(const float *pos, int n_pos, const float *neg, int n_neg, double *mu,
                                      double *sigma, double *weight);

/* ---------------------------------------------------------------------------------------------
 * Sample collection. word_max(ctx, image, caption, word) = max over the regions of `image` of
 * the similarity of word `word` of caption `caption` (raw, not shifted by t). A score column
 * is col[k * stride] = score(image k, caption c), k = 0..B-1; the batch matrix
 * scores[i * B + j] = score(image i, caption j) has column j at scores + j with stride B.
 *
 * image_of[k] (may be NULL: every slot its own image) is the image that slot k of the batch
 * holds. A batch of captions holds an image once per caption of it that it drew, so two slots
 * can hold one image, and their scores against a caption tie (up to the order of a product's
 * sums, which a BLAS may choose by a row's place). With image_of, a slot of caption c's own
 * image is neither a competitor of the gate nor a negative (clean and mixture, [RECON]); NAAF's
 * estimator passes NULL, as its released code ranks the batch's slots. */
typedef float (*ua_word_max_fn)(void *ctx, int image, int caption, int word);

/* 1 when the first argmax of the column over c and the slots of other images is c, else 0 */
int ua_rel_ranked_first(const float *col, size_t stride, int B, int c, const int *image_of);
/* the negative image for caption c per src (see the top of this file) among the slots of other
 * images, or -1 when there is none or src is random and rng is NULL */
int ua_rel_negative_image(ua_neg_src src, const float *col, size_t stride, int B, int c, const int *image_of,
                          ua_rng *rng);

/* Parallel lists P and Q with each sample's origin:
 *   pos[i] = word_max(caption[i], caption[i], word[i]), neg[i] = word_max(neg_image[i], caption[i], word[i]) */
typedef struct ua_rel_samples {
    int n, cap;          /* samples in each list; allocated */
    float *pos, *neg;
    int *caption, *word, *neg_image;
    int n_captions;      /* correctly ranked captions that contributed */
} ua_rel_samples;

void ua_rel_samples_clear(ua_rel_samples *s);   /* n = n_captions = 0, memory kept */
void ua_rel_samples_free(ua_rel_samples *s);    /* back to all zero */
/* Gate caption c (column col) and, when it is ranked first, append its n_words samples against
 * the negative image of cfg->neg_src. Returns the number appended (0 when not ranked first,
 * B < 2, or every slot holds c's image), or -1 (out of memory, or neg_src random without an rng). */
int ua_rel_samples_add_caption(ua_rel_samples *s, const ua_relevance_cfg *cfg, const float *col, size_t stride,
                               int B, int c, const int *image_of, int n_words, ua_word_max_fn word_max, void *ctx,
                               ua_rng *rng, ua_err *err);
/* Clears s and adds every caption j = 0..B-1 of the batch (lengths[j] words), in order.
 * Returns the total number of samples per list, or -1. */
int ua_rel_collect(ua_rel_samples *s, const ua_relevance_cfg *cfg, const float *scores, int B, const int *lengths,
                   const int *image_of, ua_word_max_fn word_max, void *ctx, ua_rng *rng, ua_err *err);

/* ---------------------------------------------------------------------------------------------
 * The state (spec 4.7: saved in the checkpoint). */
typedef struct ua_relevance_state {
    double t_tr, t_te;                     /* thresholds in force (start at 0) */
    double mu_pos, sigma_pos, mu_neg, sigma_neg;  /* moments of the last update */
    int n_pos, n_neg;                      /* samples behind the current estimate */
    long long updates;                     /* update events */
    long long clip_events;                 /* updates where the range rule changed t */
    long long clip_events_safe;            /* updates where the range rule changed t_safe */
    ua_rng rng;                            /* neg_src random's draws (the trainer seeds it; inc 0:
                                              not seeded, e.g. a state read without one) */
    double pos_weight;                     /* mixture: the relevant fraction w of the positives (else 1) */
    long long mixture_fallbacks;           /* mixture: updates whose fit failed (plain moments used) */
    /* clean: rings of ring_size samples; slots 0..len-1 are filled, head is the next slot
     * written (== len until the ring is full); the moments run over slots 0..len-1 */
    int ring_size;
    float *ring_pos, *ring_neg;
    int pos_len, pos_head, neg_len, neg_head;
    /* the samples of the current batch: naaf_compat's lists P and Q (N = batch.n), or what the
     * last ua_relevance_update_clean collected; not saved (nothing in them outlives a batch) */
    ua_rel_samples batch;
} ua_relevance_state;

/* all zero, rings of cfg->ring_size allocated; 0 / -1 */
int  ua_relevance_init(ua_relevance_state *s, const ua_relevance_cfg *cfg, ua_err *err);
void ua_relevance_free(ua_relevance_state *s);

/* The two functions that compute a threshold; nothing else does (the trainer passes the first to
 * each step, ua_step_run; a checkpoint's model, the trainer's validation and bench resolve the
 * second once, ua_model's t_test). s may be NULL unless cfg->t_mode is adaptive.
 * The threshold used in training: zero mode 0, fixed t_fixed, adaptive t_tr */
double ua_relevance_t_train(const ua_relevance_state *s, const ua_relevance_cfg *cfg);
/* the threshold used at test: zero mode 0; fixed mode t_fixed (the spec uses the same fixed
 * value in training and test); adaptive: t_test safe t_te, train t_tr, fixed t_fixed */
double ua_relevance_t_test(const ua_relevance_state *s, const ua_relevance_cfg *cfg);

/* clean (4.7.2). Collects the batch's samples into s->batch (ua_rel_collect), then
 * ua_relevance_update_clean_samples. Call once per batch, after the backward pass. */
int ua_relevance_update_clean(ua_relevance_state *s, const ua_relevance_cfg *cfg, const float *scores, int B,
                              const int *lengths, const int *image_of, ua_word_max_fn word_max, void *ctx, ua_rng *rng,
                              ua_err *err);
/* Pushes n positive and n negative samples into the rings; once each ring holds >= min_samples,
 * solves on the ring contents and applies the EMA (one update), else t_tr = t_te = 0.
 * Nothing happens unless t_mode is adaptive. */
void ua_relevance_update_clean_samples(ua_relevance_state *s, const ua_relevance_cfg *cfg, const float *pos,
                                       const float *neg, int n);

/* naaf_compat (4.7.1). At the start of every batch: */
void ua_relevance_naaf_begin_batch(ua_relevance_state *s);
/* Then for c = 0..B-1 in order: compute caption c's scores with ua_relevance_t_train (the value
 * in force now), col[k] = score(image k, caption c), and call this. It gates, appends, N += n_words,
 * updates on all of the batch's samples when N > min_samples, and resets t_tr = t_te = 0 when
 * N < min_samples afterwards. Returns 0, or -1 (out of memory; neg_src random without rng).
 * Nothing happens unless t_mode is adaptive. */
int ua_relevance_naaf_caption(ua_relevance_state *s, const ua_relevance_cfg *cfg, const float *col, int c, int B,
                              int n_words, ua_word_max_fn word_max, void *ctx, ua_rng *rng, ua_err *err);

/* JSON of everything needed to resume exactly (thresholds, moments, counters, the rings' contents
 * and positions, the random negatives' generator as "rng": 32 hex digits of state and inc;
 * floats as "%.9g", doubles as "%.17g", so that they come back bit for bit). A state without
 * "rng" (saved before it) leaves s->rng as it was.
 * to_json: malloc'ed text, NULL when out of memory. to_cjson adds the keys to obj (0 / -1).
 * from_*: s must be initialised with the same ring_size; on error s is unchanged and the message
 * names `name` and the problem. */
char *ua_relevance_state_to_json(const ua_relevance_state *s);
int   ua_relevance_state_to_cjson(const ua_relevance_state *s, struct cJSON *obj);
int   ua_relevance_state_from_json(ua_relevance_state *s, const char *json, size_t len, const char *name, ua_err *err);
int   ua_relevance_state_from_cjson(ua_relevance_state *s, const struct cJSON *obj, const char *name, ua_err *err);

/* ---------------------------------------------------------------------------------------------
 * Separation losses (spec 4.8), with t detached (the caller passes t_tr). Returns the loss
 * WITHOUT lambda_sep and writes d loss / d sample into d_pos[n_pos] and d_neg[n_neg] (either may
 * be NULL). sep none: 0.
 *   gauss (R1): Phi(z+) + alpha (1 - Phi(z-)), z+- = (t - mu+-) / sigma+-, sample moments with the
 *     unbiased std and sigma >= 1e-4 (no gradient through a guarded sigma); 0 unless both lists
 *     hold >= 2 samples.
 *   hinge (R2): mean_p [t + delta - p]_+ + alpha mean_q [q - t + delta]_+ (an empty list adds 0;
 *     the subgradient at the kink is 0).
 * The float version accumulates in double; the _f64 twin is for finite-difference checks. */
double ua_sep_loss(const ua_relevance_cfg *cfg, double t, const float *pos, int n_pos, const float *neg, int n_neg,
                   float *d_pos, float *d_neg);
double ua_sep_loss_f64(const ua_relevance_cfg *cfg, double t, const double *pos, int n_pos, const double *neg,
                       int n_neg, double *d_pos, double *d_neg);

#endif
