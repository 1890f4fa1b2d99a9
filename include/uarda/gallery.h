/* A gallery encoded once (uarda index) and searched many times (uarda search, uarda serve,
 * uarda bench shortlist).
 *
 * The index is a safetensors file (format "uarda-index-2"):
 *   img_emb  F32 [n_img, R, E]   the images' region embeddings
 *   img_gram F32 [n_img, R, R]   each image's region Gram matrix (t2i attention needs it; at
 *                                SCAN's size it costs a search more than the word-region products)
 *   img_glob F32 [n_img, E]      the global embedding: the l2-normalised mean of the regions
 *   and, for image queries, cap_emb F32 [words, E], cap_len I32 [n_cap], cap_glob F32 [n_cap, E]
 *   (the l2-normalised mean of the words between <start> and <end>); metadata: the fingerprint of
 *   the checkpoint that made it (a query is never scored with another model), the caption texts,
 *   and the data's checksum (safetensors.h).
 * A compact index (uarda index --index-dtype f16) holds img_emb and img_gram as F16 (IEEE half,
 * half.h: rounded to nearest even; the Gram matrices are those of the rounded embeddings), half
 * the bytes that a search streams; everything else stays F32. A search converts a block of
 * images at a time back to float and scores those floats exactly as it scores an F32 index.
 *
 * Every open reads the header only: the tensor set, shapes and dtypes, and the fingerprint; the
 * data is mapped and paged in as a search reads it (a shortlisted search reads a small part of a
 * gallery of many GB). Reading the data to check its checksum is left to ua_gallery_verify (uarda
 * index --verify, search --verify). Every score the ranking makes is checked finite instead, so
 * that a corrupt item never ranks silently.
 *
 * Search is exhaustive (every gallery item through the cross attention), or two-stage with a
 * shortlist of K: the K items whose global embeddings have the largest dot product with the
 * query's (a text query's: the mean of its words between <start> and <end>, as cap_glob), then
 * the exact cross attention on those K only. Rankings keep the top k in a heap as the scores
 * are made (topk.h: the higher score first, ties by the lower index, exactly the first k of a
 * full sort); nothing the size of the gallery is allocated for a text query. */
#ifndef UARDA_GALLERY_H
#define UARDA_GALLERY_H

#include "uarda/attention.h"
#include "uarda/error.h"
#include "uarda/eval.h"
#include "uarda/model.h"
#include "uarda/precomp.h"
#include "uarda/progress.h"
#include "uarda/safetensors.h"

/* 16 hex digits: FNV-1a over the parameters' bits and the attention options that shape a score */
void ua_model_fingerprint(const ua_model *m, char out[17]);

/* out[E] = the l2-normalised mean of the n rows of x (rows of E floats); 0 when they sum to 0 */
void ua_global_embedding(const float *x, int n, int E, float *out);
/* a caption's global embedding: that of its words between <start> and <end> (of all its words when
 * it has no others) */
void ua_caption_global(const float *words, int len, int E, float *out);

/* Writes the index of the encoded gallery e (images, and captions when e->n_cap > 0) made by m,
 * with the metadata pairs given (after format and fingerprint), every tensor in memory at once.
 * F32. Atomic. (uarda index streams instead: ua_gallery_writer below; both write the same bytes.) */
int ua_gallery_write(const char *path, const ua_model *m, const ua_embeddings *e, const char *const *meta_keys,
                     const char *const *meta_values, int n_meta, ua_err *err);

/* ---- writing an index block by block ---------------------------------------------------------
 * uarda index's way: the images' features are encoded a block at a time and each block's region
 * embeddings, Gram matrices and global embeddings are written straight to their places in the
 * file (ua_st_stream); then the captions, a block at a time; the header last. Memory: a block's
 * embeddings, whatever the gallery's size. Blocks of a multiple of UA_GALLERY_ENCODE_CHUNK images
 * (captions) encode with the very products of one whole-gallery ua_encode, so the file is
 * ua_gallery_write's of the same gallery, byte for byte (tests/test_gallery.c). */
enum { UA_GALLERY_ENCODE_CHUNK = 128 };
typedef struct ua_gallery_writer ua_gallery_writer;
/* A writer for n_img images of R regions and, when caps is given (it must outlive the writer),
 * its captions; half: F16 region embeddings and Gram matrices (else F32). */
ua_gallery_writer *ua_gallery_writer_open(const char *path, const ua_model *m, int n_img, int R, const ua_captions *caps,
                                          int half, const char *const *meta_keys, const char *const *meta_values,
                                          int n_meta, ua_err *err);
/* The next n images' region features [n, R, img_dim] (checked finite by the caller), encoded and
 * written. An F16 index refuses an embedding value beyond the half range (65504) with the image. */
int ua_gallery_writer_add_images(ua_gallery_writer *w, const float *features, int n, ua_err *err);
/* After the last image: the captions encoded and written (progress: "encoding captions"), the
 * header, fsync and rename. Frees the writer, also on failure (nothing is left at path then). */
int ua_gallery_writer_commit(ua_gallery_writer *w, const ua_progress_cb *progress, ua_err *err);
void ua_gallery_writer_abort(ua_gallery_writer *w);

typedef struct ua_gallery {
    ua_st_file f;
    int n_img, R, E;
    int half;                                    /* img_emb and img_gram are F16 */
    const float *img, *img_gram;                 /* F32: into the mapping; NULL in an F16 index */
    const uint16_t *img_half, *img_gram_half;    /* F16: into the mapping; NULL in an F32 index */
    const float *img_glob;                       /* into the mapping */
    int n_cap, max_len;
    const float *cap, *cap_glob;                 /* into the mapping, NULL without captions */
    int *cap_len, *cap_offset;                   /* [n_cap], [n_cap + 1] */
    /* a shard (uarda index --shard K/N): images [first_image, first_image + n_img) of a gallery
     * of gallery_images; an unsharded index is shard 0 of 1, first_image 0 */
    int shard, n_shards, first_image, gallery_images;
} ua_gallery;

/* The metadata of shard k of n of a gallery of n_img images (uarda index --shard): the shard's
 * images are whole encoder chunks (UA_GALLERY_ENCODE_CHUNK), so that each embedding has the bits
 * of the unsharded index's; *first and *count are the shard's images. 0, or -1 when k / n do not
 * name a shard (0 <= k < n) or the shard would be empty. */
int  ua_gallery_shard_range(int n_img, int k, int n, int *first, int *count, ua_err *err);
/* "K/N" with 0 <= K < N into *k, *n: 0, or -1 (nothing else in text) */
int  ua_gallery_parse_shard(const char *text, int *k, int *n);

/* Opens an index and checks it against m (fingerprint, embedding size, every tensor's shape and
 * dtype, no tensor an index does not hold). m may be NULL: the index alone (no fingerprint, the
 * embedding size from img_emb). Reads the header and the caption lengths only. */
int  ua_gallery_open(ua_gallery *g, const char *path, const ua_model *m, ua_err *err);
void ua_gallery_close(ua_gallery *g);
/* Reads the whole of an open index: its checksum and every value finite. 0: verified; 1: the
 * index records no checksum (made before uarda recorded one; the values were checked); -1 with
 * a message that names the file. */
int  ua_gallery_verify(const ua_gallery *g, ua_err *err);
/* Image `row`'s region embeddings [R, E] (and, when gram is given, its Gram matrix [R, R] into
 * *gram) as floats: pointers into the mapping (F32), or converted into buf (R * E floats) and
 * gram_buf (R * R) (F16). */
const float *ua_gallery_image(const ua_gallery *g, int row, float *buf, const float **gram, float *gram_buf);

/* The query caption q (an ua_embeddings holding one caption, no images) against the gallery's
 * images, or image `row` of the gallery against its captions. shortlist 0 (or >= the gallery's
 * size): every item; else the shortlist's K. Returns how many items were scored (K, or the
 * gallery's size), or -1, and writes the best min(top_k, scored) of them (top_k <= 0: all) to
 * ids[] and scores[] (their exact scores) best first, ties by id. A non-finite score (a
 * shortlist's too) is an error that names the index and the item, and says that the index may
 * be corrupt. */
int ua_gallery_rank_images(const ua_gallery *g, const ua_attn_cfg *cfg, const ua_embeddings *q, int shortlist, int top_k,
                           int *ids, float *scores, ua_err *err);
int ua_gallery_rank_captions(const ua_gallery *g, const ua_attn_cfg *cfg, int row, int shortlist, int top_k, int *ids,
                             float *scores, ua_err *err);

#endif
