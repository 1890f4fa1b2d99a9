/* Evaluation: encode a split, the image x caption similarity matrix in blocks, and SCAN's
 * retrieval metrics (spec scan.md 4.1-4.4). */
#ifndef UARDA_EVAL_H
#define UARDA_EVAL_H

#include "uarda/model.h"
#include "uarda/precomp.h"

/* Embeddings of a split: every image once (not once per caption, as SCAN), captions compact. */
typedef struct ua_embeddings {
    int n_img, R, E;
    float *img;            /* [n_img, R, E] */
    int n_cap;
    int *cap_offset;       /* [n_cap + 1] rows into cap */
    int *cap_len;          /* [n_cap] */
    float *cap;            /* [total words, E] */
    int max_len;
} ua_embeddings;

/* Encodes images [first_img, first_img + n_img) and captions [first_cap, first_cap + n_cap)
 * of the split (file order). */
int  ua_encode_split(const ua_model *m, const ua_split *s, int first_img, int n_img, int first_cap, int n_cap,
                     ua_embeddings *out, ua_err *err);
/* Encodes arbitrary images [n, R, img_dim] and caption id lists (for score / search). */
int  ua_encode(const ua_model *m, const float *images, int n_img, int R, const ua_captions *caps, ua_embeddings *out,
               ua_err *err);
void ua_embeddings_free(ua_embeddings *e);

/* sims[i * n_cap + j] = sim(image i, caption j), computed in blocks with `cfg` */
int  ua_similarity_matrix(const ua_attn_cfg *cfg, const ua_embeddings *e, float *sims, ua_err *err);

typedef struct ua_recall {
    double i2t[5];         /* caption retrieval (image query): R@1, R@5, R@10, medr, meanr */
    double t2i[5];         /* image retrieval (caption query) */
    double rsum;
} ua_recall;

/* SCAN's i2t / t2i on sims [n_img, n_cap] with caption c belonging to image c / im_div.
 * Ranks count the items scored strictly higher (ties go the query's way). ranks_* may be NULL. */
int ua_recall_compute(const float *sims, int n_img, int n_cap, int im_div, ua_recall *r, int *ranks_i2t,
                      int *ranks_t2i, ua_err *err);

/* Similarity of images [first_img, first_img + n_img) x captions [first_cap, first_cap + n_cap)
 * of a split, averaged over n_models models (an ensemble: each model with its own direction and
 * options, as SCAN's paper averages them). sims is [n_img, n_cap]. */
int ua_split_similarity(const ua_model *const *models, int n_models, const ua_split *s, int first_img, int n_img,
                        int first_cap, int n_cap, float *sims, ua_err *err);

/* SCAN's evaluation of a split: all of it, or with fold5 the MS-COCO 1K protocol (five folds of
 * 1000 images / 5000 captions, metrics averaged). The dev cap applies as in ua_split_open. */
int ua_evaluate_split(const ua_model *const *models, int n_models, const ua_split *s, int fold5, ua_recall *r,
                      ua_err *err);

#endif
