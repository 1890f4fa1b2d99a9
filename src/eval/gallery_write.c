/* Writing a gallery index (gallery.h): ua_gallery_write, every tensor in memory at once, and
 * ua_gallery_writer, block by block (uarda index).
 *
 * The writer declares the index's six tensors to a safetensors stream at open (their shapes
 * follow from the image and caption counts), so that every tensor's place in the file is known
 * before any data; each block of images then goes to three places: its region embeddings to
 * img_emb (the first tensor: hashed for the checksum as it is written), its Gram matrices and
 * global embeddings to img_gram and img_glob (read back for the checksum at commit). The header
 * goes in last (safetensors_write.c). */
#include "uarda/gallery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/finite.h"
#include "uarda/half.h"

#define INDEX_FORMAT "uarda-index-2"

/* the metadata of an index: format, fingerprint, then the caller's pairs (keys, vals: room for
 * n_meta + 2) */
static void index_meta(const ua_model *m, char fp[17], const char *const *meta_keys, const char *const *meta_values,
                       int n_meta, const char **keys, const char **vals)
{
    ua_model_fingerprint(m, fp);
    keys[0] = "format"; vals[0] = INDEX_FORMAT;
    keys[1] = "checkpoint_fingerprint"; vals[1] = fp;
    for (int k = 0; k < n_meta; k++) { keys[k + 2] = meta_keys[k]; vals[k + 2] = meta_values[k]; }
}

int ua_gallery_write(const char *path, const ua_model *m, const ua_embeddings *e, const char *const *meta_keys,
                     const char *const *meta_values, int n_meta, ua_err *err)
{
    const int R = e->R, E = e->E, with_caps = e->n_cap > 0;
    float *gram = malloc((size_t)e->n_img * R * R * sizeof(float) + 1);
    float *img_glob = malloc((size_t)e->n_img * E * sizeof(float) + 1);
    float *cap_glob = with_caps ? malloc((size_t)e->n_cap * E * sizeof(float) + 1) : NULL;
    int32_t *cap_len = with_caps ? malloc((size_t)e->n_cap * sizeof(int32_t)) : NULL;
    const char **keys = malloc((size_t)(n_meta + 2) * sizeof *keys), **vals = malloc((size_t)(n_meta + 2) * sizeof *vals);
    int rc = -1;
    if (!gram || !img_glob || (with_caps && (!cap_glob || !cap_len)) || !keys || !vals) {
        ua_fail(err, "out of memory for the index of %d images", e->n_img);
        goto out;
    }
    for (int i = 0; i < e->n_img; i++) {
        const float *x = e->img + (size_t)i * R * E;
        ua_gram(x, R, E, gram + (size_t)i * R * R);
        ua_global_embedding(x, R, E, img_glob + (size_t)i * E);
    }
    for (int j = 0; with_caps && j < e->n_cap; j++) {
        cap_len[j] = e->cap_len[j];
        ua_caption_global(e->cap + (size_t)e->cap_offset[j] * E, e->cap_len[j], E, cap_glob + (size_t)j * E);
    }
    ua_st_entry t[6] = {{"img_emb", UA_ST_F32, 3, {e->n_img, R, E}, e->img},
                        {"img_gram", UA_ST_F32, 3, {e->n_img, R, R}, gram},
                        {"img_glob", UA_ST_F32, 2, {e->n_img, E}, img_glob}};
    size_t nt = 3;
    if (with_caps) {
        t[nt++] = (ua_st_entry){"cap_emb", UA_ST_F32, 2, {e->cap_offset[e->n_cap], E}, e->cap};
        t[nt++] = (ua_st_entry){"cap_len", UA_ST_I32, 1, {e->n_cap}, cap_len};
        t[nt++] = (ua_st_entry){"cap_glob", UA_ST_F32, 2, {e->n_cap, E}, cap_glob};
    }
    char fp[17];
    ua_model_fingerprint(m, fp);
    keys[0] = "format"; vals[0] = INDEX_FORMAT;
    keys[1] = "checkpoint_fingerprint"; vals[1] = fp;
    for (int k = 0; k < n_meta; k++) { keys[k + 2] = meta_keys[k]; vals[k + 2] = meta_values[k]; }
    rc = ua_st_write(path, t, nt, keys, vals, (size_t)n_meta + 2, err);
out:
    free(gram); free(img_glob); free(cap_glob); free(cap_len); free(keys); free(vals);
    return rc;
}

/* ---- block by block ------------------------------------------------------------------------- */

enum { T_EMB, T_GRAM, T_GLOB, T_CAP_EMB, T_CAP_LEN, T_CAP_GLOB };
enum { CAPTION_BLOCK = 8 * UA_GALLERY_ENCODE_CHUNK };

struct ua_gallery_writer {
    const ua_model *m;
    const ua_captions *caps;
    ua_st_stream *st;
    int n_img, R, E, half, done;
    char *path;
    /* a block's Gram matrices and global embeddings, and its halves (F16), sized to the largest block */
    int room;
    float *gram, *glob;
    uint16_t *half_buf;
};

static void writer_free(ua_gallery_writer *w)
{
    if (!w) return;
    free(w->gram);
    free(w->glob);
    free(w->half_buf);
    free(w->path);
    free(w);
}

ua_gallery_writer *ua_gallery_writer_open(const char *path, const ua_model *m, int n_img, int R, const ua_captions *caps,
                                          int half, const char *const *meta_keys, const char *const *meta_values,
                                          int n_meta, ua_err *err)
{
    if (n_img < 1 || R < 1) {
        ua_fail(err, "%s: an index of %d images of %d regions (at least 1 of each)", path, n_img, R);
        return NULL;
    }
    ua_gallery_writer *w = calloc(1, sizeof *w);
    const char **keys = malloc((size_t)(n_meta + 2) * sizeof *keys), **vals = malloc((size_t)(n_meta + 2) * sizeof *vals);
    if (!w || !keys || !vals || !(w->path = malloc(strlen(path) + 1))) {
        ua_fail(err, "%s: out of memory", path);
        goto fail;
    }
    strcpy(w->path, path);
    w->m = m;
    w->caps = caps && caps->n > 0 ? caps : NULL;
    w->n_img = n_img;
    w->R = R;
    w->E = m->opt.embed_size;
    w->half = half;
    const int E = w->E;
    const ua_st_dtype dt = half ? UA_ST_F16 : UA_ST_F32;
    ua_st_entry t[6] = {{"img_emb", dt, 3, {n_img, R, E}, NULL},
                        {"img_gram", dt, 3, {n_img, R, R}, NULL},
                        {"img_glob", UA_ST_F32, 2, {n_img, E}, NULL}};
    size_t nt = 3;
    if (w->caps) {
        t[nt++] = (ua_st_entry){"cap_emb", UA_ST_F32, 2, {w->caps->offsets[w->caps->n] - w->caps->offsets[0], E}, NULL};
        t[nt++] = (ua_st_entry){"cap_len", UA_ST_I32, 1, {w->caps->n}, NULL};
        t[nt++] = (ua_st_entry){"cap_glob", UA_ST_F32, 2, {w->caps->n, E}, NULL};
    }
    char fp[17];
    index_meta(m, fp, meta_keys, meta_values, n_meta, keys, vals);
    if (!(w->st = ua_st_stream_open(path, t, nt, keys, vals, (size_t)n_meta + 2, err))) goto fail;
    free(keys);
    free(vals);
    return w;
fail:
    free(keys);
    free(vals);
    writer_free(w);
    return NULL;
}

void ua_gallery_writer_abort(ua_gallery_writer *w)
{
    if (!w) return;
    ua_st_stream_abort(w->st);
    writer_free(w);
}

/* room for the scratch of a block of n images (or of n captions' global embeddings) */
static int writer_room(ua_gallery_writer *w, int n, ua_err *err)
{
    if (n <= w->room) return 0;
    const size_t R = (size_t)w->R, E = (size_t)w->E;
    float *gram = realloc(w->gram, (size_t)n * R * R * sizeof(float) + 1);
    if (gram) w->gram = gram;
    float *glob = realloc(w->glob, (size_t)n * E * sizeof(float) + 1);
    if (glob) w->glob = glob;
    uint16_t *hb = w->half ? realloc(w->half_buf, (size_t)n * R * (E > R ? E : R) * sizeof(uint16_t) + 1) : NULL;
    if (hb) w->half_buf = hb;
    if (!gram || !glob || (w->half && !hb))
        return ua_fail(err, "%s: out of memory for a block of %d images (%zu regions x %zu dims)", w->path, n, R, E);
    w->room = n;
    return 0;
}

/* writes n floats of x to tensor i, as halves in an F16 index (x is then overwritten with the
 * halves' values: the rounded floats that the index holds); `what` and `first` name the image of
 * a value that is not finite (an encoding that overflowed) or beyond the half range */
static int write_floats(ua_gallery_writer *w, size_t i, float *x, size_t n, int as_half, const char *what, int first,
                        size_t per_image, ua_err *err)
{
    const long long bad = ua_first_nonfinite(x, n);
    if (bad >= 0)
        return ua_fail(err, "%s: image %d: %s value is %s (the features are finite: the encoding overflowed)", w->path,
                       first + (int)((size_t)bad / per_image), what, ua_nonfinite_name(x[bad]));
    if (!as_half) return ua_st_stream_write(w->st, i, x, n * sizeof(float), err);
    ua_half_encode(x, w->half_buf, n);
    for (size_t k = 0; k < n; k++)
        if (!ua_half_finite(w->half_buf[k]))
            return ua_fail(err, "%s: image %d: %s value %g is beyond the half range (65504): index it with --index-dtype f32",
                           w->path, first + (int)(k / per_image), what, (double)x[k]);
    ua_half_decode(w->half_buf, x, n);
    return ua_st_stream_write(w->st, i, w->half_buf, n * sizeof(uint16_t), err);
}

int ua_gallery_writer_add_images(ua_gallery_writer *w, const float *features, int n, ua_err *err)
{
    if (n < 1 || n > w->n_img - w->done)
        return ua_fail(err, "%s: %d more images, but %d of the index's %d are written", w->path, n, w->done, w->n_img);
    const int R = w->R, E = w->E;
    ua_embeddings e;
    if (writer_room(w, n, err) || ua_encode(w->m, features, n, R, NULL, &e, NULL, err)) return -1;
    /* F16: the embeddings rounded first, so that the Gram matrices and global embeddings are those
     * of the values the index holds */
    int rc = write_floats(w, T_EMB, e.img, (size_t)n * R * E, w->half, "a region embedding", w->done, (size_t)R * E, err);
    for (int i = 0; !rc && i < n; i++) {
        const float *x = e.img + (size_t)i * R * E;
        ua_gram(x, R, E, w->gram + (size_t)i * R * R);
        ua_global_embedding(x, R, E, w->glob + (size_t)i * E);
    }
    if (!rc) rc = write_floats(w, T_GRAM, w->gram, (size_t)n * R * R, w->half, "a Gram matrix", w->done, (size_t)R * R, err);
    if (!rc) rc = write_floats(w, T_GLOB, w->glob, (size_t)n * E, 0, "a global embedding", w->done, (size_t)E, err);
    ua_embeddings_free(&e);
    if (!rc) w->done += n;
    return rc;
}

/* the captions, a block at a time: their word embeddings, lengths and global embeddings */
static int write_captions(ua_gallery_writer *w, const ua_progress_cb *progress, ua_err *err)
{
    const ua_captions *c = w->caps;
    const int E = w->E;
    if (writer_room(w, CAPTION_BLOCK < c->n ? CAPTION_BLOCK : c->n, err)) return -1;
    for (int j0 = 0; j0 < c->n; j0 += CAPTION_BLOCK) {
        const int b = c->n - j0 < CAPTION_BLOCK ? c->n - j0 : CAPTION_BLOCK;
        /* captions [j0, j0 + b): the offsets index the same ids */
        ua_captions view = *c;
        view.n = b;
        view.offsets = c->offsets + j0;
        ua_embeddings e;
        if (ua_encode(w->m, NULL, 0, w->R, &view, &e, NULL, err)) return -1;
        int32_t len[CAPTION_BLOCK];
        for (int k = 0; k < b; k++) {
            len[k] = e.cap_len[k];
            ua_caption_global(e.cap + (size_t)e.cap_offset[k] * E, e.cap_len[k], E, w->glob + (size_t)k * E);
        }
        int rc = ua_st_stream_write(w->st, T_CAP_EMB, e.cap, (size_t)e.cap_offset[b] * E * sizeof(float), err);
        if (!rc) rc = ua_st_stream_write(w->st, T_CAP_LEN, len, (size_t)b * sizeof(int32_t), err);
        if (!rc) rc = ua_st_stream_write(w->st, T_CAP_GLOB, w->glob, (size_t)b * E * sizeof(float), err);
        ua_embeddings_free(&e);
        if (rc) return -1;
        ua_progress_report(progress, "encoding captions", j0 + b, c->n);
    }
    return 0;
}

int ua_gallery_writer_commit(ua_gallery_writer *w, const ua_progress_cb *progress, ua_err *err)
{
    int rc = -1;
    if (w->done != w->n_img) {
        ua_fail(err, "%s: cannot finish: %d of the index's %d images are written", w->path, w->done, w->n_img);
    } else if (!w->caps || !write_captions(w, progress, err)) {
        rc = ua_st_stream_commit(w->st, err);
        w->st = NULL;
    }
    if (rc) ua_st_stream_abort(w->st);
    writer_free(w);
    return rc;
}
