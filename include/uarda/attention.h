/* SCAN's cross attention (spec scan.md 2.4-2.8), one (image, caption) pair at a time, in the
 * exact Gram-matrix form (the attended context vector is never formed).
 *
 * Both directions are one computation over a "context" set (c items) attended by a "query"
 * set (q items):
 *   t2i: context = the image's regions, query = the caption's words
 *   i2t: context = the caption's words, query = the image's regions
 * Given S[c][q] = <context_c, query_q> (a slice of one big GEMM), the context Gram matrix
 * G = C C^T and the query norms |query_q|:
 *   P[c][.]  = raw_feature_norm(S[c][.])                (along the query axis, per context item)
 *   A[.][q]  = softmax_c(lambda_softmax * P[.][q])      (attention over the context)
 *   num_q    = sum_c A[c][q] S[c][q]                    (= <query_q, a_q>, a_q = sum_c A[c][q] C_c)
 *   |a_q|    = sqrt(A[.][q]^T G A[.][q])
 *   R_q      = num_q / max(|query_q| |a_q|, 1e-8)       (SCAN's cosine: the clamp is on the product)
 *   score    = agg_q(R_q)                               (LogSumExp / Mean / Max / Sum)
 * This is the one place these formulas live; training and evaluation both call it.
 *
 * UARDA (threshold t = cfg->threshold; spec uarda.md 4.3/4.4), all comparisons strict ">":
 *   relevant(q) = irr == scan ? 1 : max_c S[c][q] > t
 *   M[c][q]     = mask == hard ? S[c][q] > t : 1
 *   Z[c][q]     = clip == uarda ? max(S[c][q] - t, 0)
 *                 : (clipped_* norms ? LeakyReLU_0.1(S[c][q]) : S[c][q])
 *   P[c][.]     = the normalisation part of raw_feature_norm (l2 / l1 / softmax / none) of Z[c][.]
 *   logit       = lambda_softmax * (logit == raw ? S[c][q] : P[c][q])
 *   A[.][q]     = M[.][q] exp(logit) / sum_c M[c][q] exp(logit)        (relevant q only)
 *   R_q         = relevant(q) ? num_q / max(|query_q| |a_q|, 1e-8)      (as above, over M)
 *                 : irr == zero ? 0 : max_c S[c][q] - t                   (irr == neg)
 *   score       = agg over ALL q (the count is fixed: irrelevant queries count)
 * The masks and relevance flags are constants for the backward; irr == neg routes its gradient
 * to the first maximal context item. With skip on, irrelevant queries and masked entries are
 * never visited: the scores are the same bits as with skip off.
 *
 * NAAF's score (score == naaf; spec uarda.md 2.2 and 2.5, CrossmodalGroup/NAAF's xattn_score and
 * xattn_score_test), which replaces all of the above (clip, mask, logit, irr and raw_feature_norm
 * do not apply; the aggregation is always the mean), with t = cfg->threshold and
 * lambda = lambda_softmax (NAAF: 20):
 *   s^_q     = max_c S[c][q] - t                              (the first maximal c takes its gradient)
 *   neg_q    = s^_q if off(q) else 0, where                   (the negative branch)
 *              train form: off(q) = s^_q < 0
 *              test form:  off(q) = s'_q < 0, s'_q = sum_l softmax_l(5 H[q][l]) s^_l
 *                          (H = the query Gram matrix, <query_q, query_l>: NAAF's intra-text
 *                          smoothing; a positive s^_q can thus enter when s'_q < 0)
 *   w[c][q]  = exp(lambda (S[c][q] - t)) / (sum_{c': S > t} exp(lambda (S[c'][q] - t)) + 1e-8)
 *              over the c with S[c][q] > t, else 0          (NAAF's -1e9 fill, then l1norm)
 *   pf_q     = num_q / max(|a_q|, 1e-8), num_q = sum_c w S, |a_q| = sqrt(w^T G w)
 *              (NAAF's cosine divides by |a| only; 0 when no c exceeds t)
 *   r[c][q]  = LeakyReLU_0.1(S[c][q]) / (sqrt(sum_q' LeakyReLU_0.1(S[c][q'])^2) + 1e-8)
 *              (over the QUERIES, per context item: no threshold)
 *   w'[c][q] = softmax_c(lambda r[c][q]);  pr_q = sum_c w'[c][q] S[c][q]
 *   R_q      = neg_q + pf_q + pr_q;  score = (1/q) sum_q R_q  (every query, <start>/<end> included)
 * t2i is NAAF's released direction (context = regions, query = words, H = the caption's word
 * Gram matrix). i2t is its mirror, which NAAF does not release (its authors point to SCAN for
 * i2t): context = the caption's words, query = the image's regions, everything above with the
 * roles swapped, i.e. a region's best word decides its negative branch (smoothed at test over
 * the image's regions by its region Gram matrix), the feature part attends over the words with
 * S > t, r is normalised over the regions per word, and the score is the mean over the regions.
 * The backward is that of the training form (the test form's switch s'_q < 0 is a constant like
 * every mask; H gets no gradient); qn is not used (dqn is left alone). Skipping: the relevance
 * part and the negative branch have no mask and are computed for every query (they need only S);
 * with skip on, the feature part skips the queries with no entry above t and visits only the
 * entries above t (the exponentials, and w^T G w over them alone): the same bits as skip off. */
#ifndef UARDA_ATTENTION_H
#define UARDA_ATTENTION_H

#include <stddef.h>

typedef enum { UA_T2I = 0, UA_I2T = 1 } ua_direction;

typedef enum {
    UA_NORM_SOFTMAX = 0, UA_NORM_L2NORM, UA_NORM_CLIPPED_L2NORM, UA_NORM_L1NORM,
    UA_NORM_CLIPPED_L1NORM, UA_NORM_CLIPPED, UA_NORM_NO_NORM
} ua_feature_norm;

typedef enum { UA_AGG_LOGSUMEXP = 0, UA_AGG_MEAN, UA_AGG_MAX, UA_AGG_SUM } ua_agg;

/* UARDA's switches (spec uarda.md 4.3-4.4). SCAN is clip=scan, mask=off, irr=scan. */
typedef enum { UA_CLIP_SCAN = 0, UA_CLIP_UARDA } ua_clip_mode;       /* LeakyReLU(0.1) | max(S - t, 0) */
typedef enum { UA_MASK_OFF = 0, UA_MASK_HARD } ua_mask_mode;         /* attend to all | only S > t     */
typedef enum { UA_LOGIT_SCANLIKE = 0, UA_LOGIT_RAW } ua_logit_mode;  /* lambda * normed | lambda * S   */
typedef enum { UA_IRR_SCAN = 0, UA_IRR_ZERO, UA_IRR_NEG } ua_irr_mode; /* irrelevant query scores      */
/* the pair score: SCAN's cosine attention with the switches above, or NAAF's three-part score */
typedef enum { UA_SCORE_SCAN = 0, UA_SCORE_NAAF } ua_score_mode;     /* "scan" | "naaf"               */
/* NAAF's score at evaluation: its test form (the smoothed negative switch) or its training form;
 * training always uses the training form (ua_step) */
typedef enum { UA_FORM_TEST = 0, UA_FORM_TRAIN } ua_score_form;      /* "test" | "train"              */

/* The model's attention options (its checkpoint's "opt"; the rows of the options' table). They
 * are declared once, here, and shared by two types: ua_attn_opts, what a model holds, and
 * ua_attn_cfg, what one forward pass runs with (the options and the run state below). */
#define UA_ATTN_OPTIONS                                                                                 \
    ua_direction direction;                                                                             \
    ua_feature_norm norm;                                                                               \
    ua_agg agg;                                                                                         \
    double lambda_softmax;   /* lambda_1 */                                                             \
    double lambda_lse;       /* lambda_2 */                                                             \
    /* UARDA (all zero = SCAN) */                                                                       \
    ua_clip_mode clip;                                                                                  \
    ua_mask_mode mask;                                                                                  \
    ua_logit_mode logit;                                                                                \
    ua_irr_mode irr;                                                                                    \
    ua_score_mode score;     /* scan (default) or naaf: NAAF's score, which ignores clip .. irr */      \
    ua_score_form form;      /* naaf: test (default) or train form */

typedef struct ua_attn_opts { UA_ATTN_OPTIONS } ua_attn_opts;

/* One pass's attention: the model's options (readable as cfg->norm, or whole as cfg->opt) and
 * the run state, which no model holds. The threshold is the trainer's (ua_relevance_t_train, for
 * each step) or the evaluation's (resolved once from a checkpoint and the flags: ua_model's
 * t_test); ua_attn_at builds a pass from the two. */
typedef struct ua_attn_cfg {
    union {
        struct { UA_ATTN_OPTIONS };   /* the same members as opt (a common initial sequence) */
        ua_attn_opts opt;
    };
    double threshold;        /* t: the relevance threshold in force (t_tr in training, t_te at test) */
    int skip;                /* evaluation: skip irrelevant queries and masked entries (exact) */
    int full;                /* evaluation without skipping: irrelevant queries' attention is computed too,
                                then discarded for their constant score (what skipping saves; NAAF's code
                                computes every query); off, they cost nothing even with skip off */
} ua_attn_cfg;

/* the pass of options o at threshold t, skipping off (training's, and evaluation's default) */
ua_attn_cfg ua_attn_at(const ua_attn_opts *o, double threshold);

/* evaluation with skipping on (skip) or off (full: every query's attention computed); training
 * keeps both 0 */
void ua_attn_set_skip(ua_attn_cfg *cfg, int on);

/* name <-> enum, with SCAN's spellings ("t2i", "clipped_l2norm", "LogSumExp"); -1 if unknown */
int ua_direction_parse(const char *s);
int ua_feature_norm_parse(const char *s);
int ua_agg_parse(const char *s);
int ua_clip_parse(const char *s);      /* "scan" | "uarda" */
int ua_mask_parse(const char *s);      /* "off" | "hard" */
int ua_logit_parse(const char *s);     /* "scanlike" | "raw" */
int ua_irr_parse(const char *s);       /* "scan" | "zero" | "neg" */
int ua_score_parse(const char *s);     /* "scan" | "naaf" */
int ua_score_form_parse(const char *s); /* "test" | "train" */
const char *ua_score_name(ua_score_mode m);
const char *ua_score_form_name(ua_score_form f);
const char *ua_clip_name(ua_clip_mode m);
const char *ua_mask_name(ua_mask_mode m);
const char *ua_logit_name(ua_logit_mode m);
const char *ua_irr_name(ua_irr_mode m);
const char *ua_direction_name(ua_direction d);
const char *ua_feature_norm_name(ua_feature_norm n);
const char *ua_agg_name(ua_agg a);

/* The most items one side of a pair may have (regions; caption words with <start> and <end>).
 * The kernel itself takes any number (its per-item sums live in the work buffer); the limit
 * keeps a similarity block's memory bounded (images x captions x regions x words floats): inputs
 * beyond it are refused where they are read (precomp.h: UA_MAX_REGIONS, UA_MAX_CAPTION_TOKENS)
 * and by ua_sim_work_new, with a message that names them. */
#define UA_ATTN_MAX_ITEMS 4096

/* Scratch floats (or doubles) needed by one pair call with c context and q query items. */
size_t ua_attn_pair_work(int c, int q);

/* One pair. S is addressed as S[ci * s_c + qi * s_q] (so a t2i block of the region x word
 * GEMM and its i2t transpose are the same memory). G is c x c (row-major, symmetric), qn[q]
 * the query norms. R (may be NULL) receives the q relevances. Returns the score. */
float ua_attn_pair_forward(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                           const float *G, const float *qn, float *R, float *work);
/* Backward of the same pair for an upstream d_score: dS (same addressing as S) is
 * OVERWRITTEN, dG (c x c) and dqn (q) are ACCUMULATED. */
void ua_attn_pair_backward(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                           const float *G, const float *qn, float d_score, float *dS, float *dG, float *dqn,
                           float *work);

/* The same with H, the query items' Gram matrix (q x q, row-major: H[k * q + l] = <query_k,
 * query_l>), which NAAF's test form needs (ua_attn_needs_query_gram); elsewhere H may be NULL.
 * Without it, that form returns NaN (never a score computed without its smoothing). */
float ua_attn_pair_forward_qgram(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                                 const float *G, const float *H, const float *qn, float *R, float *work);
void ua_attn_pair_backward_qgram(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                                 const float *G, const float *H, const float *qn, float d_score, float *dS, float *dG,
                                 float *dqn, float *work);
/* The same with NAAF's smoothing weights P (q x q, transposed: ua_attn_query_smoothing of H) in place of H:
 * the same score. The weights depend on the query items alone, so a similarity block computes
 * them once per item instead of once per pair. */
float ua_attn_pair_forward_smoothed(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                                    const float *G, const float *P, const float *qn, float *R, float *work);
void ua_attn_pair_backward_smoothed(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                                    const float *G, const float *P, const float *qn, float d_score, float *dS,
                                    float *dG, float *dqn, float *work);
/* NAAF's intra-text smoothing weights of a q x q query Gram matrix H, P[k][l] = softmax_l(5 H[k][l]),
 * written transposed: PT[l * q + k] = P[k][l] (PT may be H), the layout the pair kernels read */
void ua_attn_query_smoothing(const float *H, int q, float *PT);
/* 1 when cfg scores with NAAF's test form (the pair kernel then needs H) */
int ua_attn_needs_query_gram(const ua_attn_opts *o);
/* 1 when the kernel's score depends on the threshold (a UARDA switch, or NAAF's score) */
int ua_attn_thresholded(const ua_attn_opts *o);

/* After ua_attn_pair_forward on `work`: the attention weights, query-major: A[q * c + ci] is
 * the weight of context item ci for query q (rows of irrelevant queries are 0) */
const float *ua_attn_pair_weights(const float *work, int c, int q);

/* After ua_attn_pair_forward on `work`: how many queries were irrelevant and how many
 * (context, query) entries masked (S <= t) under cfg (0 and 0 for SCAN; NAAF: the queries whose
 * negative branch is on, and the entries out of the feature part's softmax) */
void ua_attn_pair_counts(const ua_attn_cfg *cfg, const float *work, int c, int q, int *n_irrelevant, int *n_masked);

/* Double-precision twins, for finite-difference gradient checks and exactness tests. */
double ua_attn_pair_forward_f64(const ua_attn_cfg *cfg, const double *S, size_t s_c, size_t s_q, int c, int q,
                                const double *G, const double *qn, double *R, double *work);
void ua_attn_pair_backward_f64(const ua_attn_cfg *cfg, const double *S, size_t s_c, size_t s_q, int c, int q,
                               const double *G, const double *qn, double d_score, double *dS, double *dG,
                               double *dqn, double *work);
double ua_attn_pair_forward_qgram_f64(const ua_attn_cfg *cfg, const double *S, size_t s_c, size_t s_q, int c, int q,
                                      const double *G, const double *H, const double *qn, double *R, double *work);
void ua_attn_pair_backward_qgram_f64(const ua_attn_cfg *cfg, const double *S, size_t s_c, size_t s_q, int c, int q,
                                     const double *G, const double *H, const double *qn, double d_score, double *dS,
                                     double *dG, double *dqn, double *work);

#endif
