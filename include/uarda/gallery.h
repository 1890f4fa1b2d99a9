/* A gallery encoded once (uarda index) and searched many times (uarda search, uarda bench
 * shortlist).
 *
 * The index is a safetensors file (format "uarda-index-2"):
 *   img_emb  F32 [n_img, R, E]   the images' region embeddings
 *   img_gram F32 [n_img, R, R]   each image's region Gram matrix (t2i attention needs it; at
 *                                SCAN's size it costs a search more than the word-region products)
 *   img_glob F32 [n_img, E]      the global embedding: the l2-normalised mean of the regions
 *   and, for image queries, cap_emb F32 [words, E], cap_len I32 [n_cap], cap_glob F32 [n_cap, E]
 *   (the l2-normalised mean of the words between <start> and <end>); metadata: the fingerprint of the checkpoint that made
 *   it (a query is never scored with another model), the caption texts, and the data's checksum (safetensors.h).
 *
 * Every open checks the header: the tensor set, shapes and the fingerprint. Reading the data
 * to check its checksum is left to ua_gallery_verify (uarda index --verify, search --verify): a
 * gallery can be many GB, and a shortlisted search reads a small part of it. Every score the
 * ranking makes is checked finite instead, so that a corrupt item never ranks silently.
 *
 * Search is exhaustive (every gallery item through the cross attention), or two-stage with a
 * shortlist of K: the K items whose global embeddings have the largest dot product with the
 * query's (a text query's: the mean of its words between <start> and <end>, as cap_glob), then
 * the exact cross attention on those K only (ties: the lower index first). */
#ifndef UARDA_GALLERY_H
#define UARDA_GALLERY_H

#include "uarda/attention.h"
#include "uarda/error.h"
#include "uarda/eval.h"
#include "uarda/model.h"
#include "uarda/safetensors.h"

/* 16 hex digits: FNV-1a over the parameters' bits and the attention options that shape a score */
void ua_model_fingerprint(const ua_model *m, char out[17]);

/* out[E] = the l2-normalised mean of the n rows of x (rows of E floats); 0 when they sum to 0 */
void ua_global_embedding(const float *x, int n, int E, float *out);

/* Writes the index of the encoded gallery e (images, and captions when e->n_cap > 0) made by m,
 * with the metadata pairs given (after format and fingerprint). Atomic. */
int ua_gallery_write(const char *path, const ua_model *m, const ua_embeddings *e, const char *const *meta_keys,
                     const char *const *meta_values, int n_meta, ua_err *err);

typedef struct ua_gallery {
    ua_st_file f;
    int n_img, R, E;
    const float *img, *img_gram, *img_glob;      /* into the mapping (img_gram NULL in old indexes) */
    int n_cap, max_len;
    const float *cap, *cap_glob;                 /* into the mapping, NULL without captions */
    int *cap_len, *cap_offset;                   /* [n_cap], [n_cap + 1] */
} ua_gallery;

/* Opens an index and checks it against m (fingerprint, embedding size, every tensor's shape and
 * dtype, no tensor an index does not hold). m may be NULL: the index alone (no fingerprint, the
 * embedding size from img_emb). The gallery's pages are mapped in one call (ua_st_prefault). */
int  ua_gallery_open(ua_gallery *g, const char *path, const ua_model *m, ua_err *err);
void ua_gallery_close(ua_gallery *g);
/* Reads the whole of an open index: its checksum and every value finite. 0: verified; 1: the
 * index records no checksum (made before uarda recorded one; the values were checked); -1 with
 * a message that names the file. */
int  ua_gallery_verify(const ua_gallery *g, ua_err *err);

/* The query caption q (an ua_embeddings holding one caption, no images) against the gallery's
 * images, or image `row` of the gallery against its captions. shortlist 0 (or >= the gallery's
 * size): every item; else the shortlist's K. Writes the scored items' ids and exact scores
 * (ids[], scores[]: room for the gallery's size) in descending score order, ties by id, and
 * returns their number, or -1; a non-finite score (a shortlist's too) is an error that names the
 * index and the item, and says that the index may be corrupt. */
int ua_gallery_rank_images(const ua_gallery *g, const ua_attn_cfg *cfg, const ua_embeddings *q, int shortlist, int *ids,
                           float *scores, ua_err *err);
int ua_gallery_rank_captions(const ua_gallery *g, const ua_attn_cfg *cfg, int row, int shortlist, int *ids, float *scores,
                             ua_err *err);

#endif
