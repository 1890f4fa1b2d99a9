/* Evaluation: encode a split, the image x caption similarity matrix in blocks, and SCAN's
 * retrieval metrics (spec scan.md 4.1-4.4). */
#ifndef UARDA_EVAL_H
#define UARDA_EVAL_H

#include "uarda/dist.h"
#include "uarda/model.h"
#include "uarda/precomp.h"
#include "uarda/progress.h"

/* The functions below that take `progress` (may be NULL) report to it after each chunk of
 * images or captions encoded ("encoding images", "encoding captions") and each caption block of
 * the similarity matrix ("similarity"); see progress.h. */

/* Embeddings of a split: every image once (not once per caption, as SCAN), captions compact. */
typedef struct ua_embeddings {
    int n_img, R, E;
    float *img;            /* [n_img, R, E] */
    int n_cap;
    int *cap_offset;       /* [n_cap + 1] rows into cap */
    int *cap_len;          /* [n_cap] */
    float *cap;            /* [total words, E] */
    int max_len;
    const float *img_gram; /* t2i: the images' region Gram matrices [n_img, R, R] (ua_gram) made
                              beforehand (uarda index), or NULL: computed by the similarity */
} ua_embeddings;

/* Encodes images [first_img, first_img + n_img) and captions [first_cap, first_cap + n_cap)
 * of the split (file order). */
int  ua_encode_split(const ua_model *m, const ua_split *s, int first_img, int n_img, int first_cap, int n_cap,
                     ua_embeddings *out, const ua_progress_cb *progress, ua_err *err);
/* Encodes arbitrary images [n, R, img_dim] and caption id lists (for score / search). The
 * images are not checked for NaN / Inf here: check them with ua_check_regions_finite (finite.h),
 * which can name their file (ua_encode_split checks a split's as it encodes them). */
int  ua_encode(const ua_model *m, const float *images, int n_img, int R, const ua_captions *caps, ua_embeddings *out,
               const ua_progress_cb *progress, ua_err *err);
void ua_embeddings_free(ua_embeddings *e);
/* caption j of e as an ua_embeddings of its own (a view: no images, nothing copied; off[2] is the
 * caller's storage for its offsets) */
ua_embeddings ua_embeddings_caption(const ua_embeddings *e, int j, int off[2]);

/* The captions of a similarity matrix's blocks (images in blocks of 128): t2i 32, i2t 128.
 * Measured at SCAN's full dimensions (1000 x 5000, 2 threads, Intel Xeon AVX-512): i2t 50.6 s
 * with 32, 44.5 s with 64, 41.8 s with 128; t2i 34.8 s with 32, 35.5 s with 64. */
int ua_sim_block_captions(const ua_attn_cfg *cfg);

/* sims[i * n_cap + j] = sim(image i, caption j), computed in blocks with `cfg` */
int  ua_similarity_matrix(const ua_attn_cfg *cfg, const ua_embeddings *e, float *sims, ua_err *err);
/* the same, with UARDA's relevance statistics of every pair (stats may be NULL) and progress */
int  ua_similarity_matrix_stats(const ua_attn_cfg *cfg, const ua_embeddings *e, float *sims, ua_sim_stats *stats,
                                const ua_progress_cb *progress, ua_err *err);
/* the same split over d's ranks by caption blocks: rank 0's sims gets the whole matrix, the same
 * bits as one process (the other ranks' sims are untouched); stats are summed over the ranks */
int  ua_similarity_matrix_ranks(const ua_attn_cfg *cfg, const ua_embeddings *e, float *sims, ua_sim_stats *stats,
                                const ua_progress_cb *progress, const ua_dist *d, ua_err *err);

typedef struct ua_recall {
    double i2t[5];         /* caption retrieval (image query): R@1, R@5, R@10, medr, meanr */
    double t2i[5];         /* image retrieval (caption query) */
    double rsum;
} ua_recall;

/* SCAN's i2t / t2i on sims [n_img, n_cap] with caption c belonging to image c / im_div. A rank
 * is the position in a stable descending sort (ties in index order, never in the query's
 * favour). ranks_* may be NULL. */
int ua_recall_compute(const float *sims, int n_img, int n_cap, int im_div, ua_recall *r, int *ranks_i2t,
                      int *ranks_t2i, ua_err *err);

/* What one caller scores with: a model, read only (several callers, threads included, may share
 * it), and the attention its similarity blocks run, with the threshold in force and the skip
 * switches: the caller's own copy, passed to the similarity block explicitly. */
typedef struct ua_scorer {
    const ua_model *m;
    ua_attn_cfg attn;
} ua_scorer;
/* m's attention at threshold t, skipping off (ua_attn_set_skip on .attn switches it) */
ua_scorer ua_scorer_of(const ua_model *m, double threshold);

/* Similarity of images [first_img, first_img + n_img) x captions [first_cap, first_cap + n_cap)
 * of a split, averaged over n scorers (an ensemble: each model with its own direction, options
 * and threshold, as SCAN's paper averages them). sims is [n_img, n_cap]. */
int ua_split_similarity(const ua_scorer *scorers, int n, const ua_split *s, int first_img, int n_img, int first_cap,
                        int n_cap, float *sims, const ua_progress_cb *progress, ua_err *err);
/* the same over d's ranks: rank 0's sims gets the matrix (ua_similarity_matrix_ranks) */
int ua_split_similarity_ranks(const ua_scorer *scorers, int n, const ua_split *s, int first_img, int n_img,
                              int first_cap, int n_cap, float *sims, const ua_progress_cb *progress, const ua_dist *d,
                              ua_err *err);

/* SCAN's evaluation of a split: all of it, or with fold5 the MS-COCO 1K protocol (five folds of
 * 1000 images / 5000 captions, metrics averaged). The dev cap applies as in ua_split_open. */
int ua_evaluate_split(const ua_scorer *scorers, int n, const ua_split *s, int fold5, ua_recall *r,
                      const ua_progress_cb *progress, ua_err *err);
/* the same over d's ranks, every rank getting the recalls (the same as one process: the
 * matrix has the same bits); without fold5, *sims_out (may be NULL) gets the matrix, which rank
 * 0 holds whole (the caller frees it) */
int ua_evaluate_split_ranks(const ua_scorer *scorers, int n, const ua_split *s, int fold5, const ua_dist *d,
                            ua_recall *r, float **sims_out, const ua_progress_cb *progress, ua_err *err);

/* ---- similarity samples and attention maps (uarda plot) ------------------------------------ */

/* Word-side similarity samples, as UARDA's threshold estimator sees them (spec uarda.md 4.7):
 * for each of the first max_captions captions in use (<= 0: all) and each of its tokens
 * (<start>/<end> included: the model attends with them too), the max over the regions of the
 * dot product u_w . v_r with the caption's own image (pos: relevant) and with the next image,
 * (i + 1) % n_images (neg: irrelevant; deterministic). n_pos = n_neg; *pos, *neg malloc'ed.
 * Needs two images or more. */
int ua_relevance_samples(const ua_model *m, const ua_split *s, int max_captions, float **pos, int *n_pos,
                         float **neg, int *n_neg, const ua_progress_cb *progress, ua_err *err);

/* The matched-pair samples of ua_relevance_samples (without <start>/<end>), split by a grounding
 * file (<split>_caps_grounding.txt: one line per caption, one 0/1 per token): grounded (1) vs
 * ungrounded (0) words. Malformed files are errors naming the line. */
int ua_grounding_samples(const ua_model *m, const ua_split *s, const char *grounding_path, int max_captions,
                         float **grounded, int *n_grounded, float **ungrounded, int *n_ungrounded,
                         const ua_progress_cb *progress, ua_err *err);

/* The attention of caption `caption`'s words over its own image's regions, computed by the
 * pair kernel (ua_attn_pair_forward) with cfg in the t2i arrangement whatever cfg->direction
 * says (context = regions, query = words): attn[w * R + r] (malloc'ed, words x regions,
 * <start>/<end> included); the rows of irrelevant words (cfg->irr != scan and max_r S <= t)
 * are NaN. max_sim[w] = max_r u_w . v_r (malloc'ed). */
int ua_attention_map(const ua_model *m, const ua_split *s, int caption, const ua_attn_cfg *cfg, float **attn,
                     float **max_sim, int *n_words, int *n_regions, ua_err *err);
/* The same for any pair of encoded items: img [R, E] against the L words cap [L, E]; attn
 * [L * R] and max_sim [L] (may be NULL) are the caller's. */
int ua_attention_of_pair(const ua_attn_cfg *cfg, const float *img, int R, const float *cap, int L, int E, float *attn,
                         float *max_sim, ua_err *err);

#endif
