/* The index of an encoded gallery (src/eval/gallery.c): what uarda index writes opens again
 * with the same tensors; exhaustive ranking equals the similarity matrix's column; a shortlist as
 * long as the gallery is the exhaustive ranking and a shorter one keeps exact scores; and every
 * malformed index is refused with a message that names the file and the tensor; verification
 * reads the checksum and every value, and a corrupt item's non-finite score is an error. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "uarda/dots.h"
#include "uarda/gallery.h"
#include "uarda/half.h"
#include "uarda/topk.h"

enum { N_IMG = 24, R = 5, N_CAP = 30 };

static ua_model_opt small_opt(void)
{
    ua_model_opt o;
    ua_model_opt_default(&o);
    o.img_dim = 12;
    o.embed_size = 16;
    o.word_dim = 8;
    o.vocab_size = 20;
    o.num_layers = 1;
    o.bi_gru = 1;
    o.attn.direction = UA_T2I;
    o.attn.norm = UA_NORM_CLIPPED_L2NORM;
    o.attn.agg = UA_AGG_MEAN;
    o.attn.lambda_softmax = 9;
    o.attn.lambda_lse = 6;
    return o;
}

/* a gallery of N_IMG images and N_CAP captions, encoded by a random model */
static void make_gallery(ua_model *m, ua_embeddings *e)
{
    ua_model_opt o = small_opt();
    ua_err err;
    if (ua_model_create(m, &o, &err)) fail_msg("%s", err.msg);
    ua_model_init_weights(m, 3);
    ua_rng r;
    ua_rng_seed(&r, 9, 1);
    float *images = malloc(sizeof(float) * N_IMG * R * o.img_dim);
    for (int i = 0; i < N_IMG * R * o.img_dim; i++) images[i] = ua_rng_unif(&r);
    ua_captions caps = {0};
    caps.n = N_CAP;
    caps.offsets = malloc(sizeof(int) * (N_CAP + 1));
    caps.ids = malloc(sizeof(int) * N_CAP * 8);
    caps.offsets[0] = 0;
    for (int j = 0; j < N_CAP; j++) {
        int len = 3 + j % 5, *ids = caps.ids + caps.offsets[j];
        ids[0] = 1;
        for (int t = 1; t < len - 1; t++) ids[t] = 4 + (int)ua_rng_below(&r, 16);
        ids[len - 1] = 2;
        caps.offsets[j + 1] = caps.offsets[j] + len;
        if (len > caps.max_len) caps.max_len = len;
    }
    if (ua_encode(m, images, N_IMG, R, &caps, e, NULL, &err)) fail_msg("%s", err.msg);
    /* captions alone (a search's queries) carry their size too (it was once left 0) */
    ua_embeddings c;
    if (ua_encode(m, NULL, 0, R, &caps, &c, NULL, &err)) fail_msg("%s", err.msg);
    assert_int_equal(c.E, o.embed_size);
    assert_memory_equal(c.cap, e->cap, sizeof(float) * (size_t)c.cap_offset[N_CAP] * o.embed_size);
    ua_embeddings_free(&c);
    free(images);
    ua_captions_free(&caps);
}

/* progress goes to the context passed in, and nowhere else (issue 12: no process-wide hook) */
typedef struct { int calls; long long last_images, last_captions, last_similarity; } progress_log;
static void log_progress(void *user, const char *phase, long long done, long long total)
{
    progress_log *l = user;
    l->calls++;
    assert_true(done > 0 && done <= total);
    if (strcmp(phase, "encoding images") == 0) l->last_images = done;
    else if (strcmp(phase, "encoding captions") == 0) l->last_captions = done;
    else if (strcmp(phase, "similarity") == 0) l->last_similarity = done;
    else fail_msg("unknown phase %s", phase);
}

static void test_progress_per_call(void **state)
{
    (void)state;
    ua_model m;
    ua_embeddings e, e2;
    make_gallery(&m, &e);   /* NULL progress: nothing to report to */
    ua_err err;
    progress_log a = {0}, b = {0};
    const ua_progress_cb pa = {log_progress, &a}, pb = {log_progress, &b};
    ua_captions caps = {0};
    caps.n = 2;
    caps.offsets = (int[]){0, 3, 7};
    caps.ids = (int[]){1, 5, 2, 1, 6, 7, 2};
    caps.max_len = 4;
    float *images = calloc((size_t)N_IMG * R * m.opt.img_dim, sizeof(float));
    if (ua_encode(&m, images, N_IMG, R, &caps, &e2, &pa, &err)) fail_msg("%s", err.msg);
    assert_true(a.calls > 0);
    assert_int_equal(a.last_images, N_IMG);
    assert_int_equal(a.last_captions, 2);
    assert_int_equal(a.last_similarity, 0);
    float *sims = malloc(sizeof(float) * N_IMG * N_CAP);
    const int calls_a = a.calls;
    if (ua_similarity_matrix_stats(TH_ATTN(m), &e, sims, NULL, &pb, &err)) fail_msg("%s", err.msg);
    assert_int_equal(a.calls, calls_a);   /* the other call's context heard nothing */
    assert_int_equal(b.last_similarity, N_CAP);
    assert_int_equal(b.last_images, 0);
    free(sims);
    free(images);
    ua_embeddings_free(&e2);
    ua_embeddings_free(&e);
    ua_model_free(&m);
}

static void test_round_trip_and_ranking(void **state)
{
    (void)state;
    char *dir = th_tmpdir(), *path = th_path(dir, "g.safetensors");
    ua_model m;
    ua_embeddings e;
    make_gallery(&m, &e);
    ua_err err;
    const char *keys[1] = {"checkpoint"}, *vals[1] = {"test"};
    if (ua_gallery_write(path, &m, &e, keys, vals, 1, &err)) fail_msg("%s", err.msg);
    ua_gallery g;
    if (ua_gallery_open(&g, path, &m, &err)) fail_msg("%s", err.msg);
    assert_true(g.n_img == N_IMG && g.R == R && g.E == 16 && g.n_cap == N_CAP);
    assert_memory_equal(g.img, e.img, sizeof(float) * N_IMG * R * 16);
    assert_memory_equal(g.cap, e.cap, sizeof(float) * e.cap_offset[N_CAP] * 16);
    assert_memory_equal(g.cap_len, e.cap_len, sizeof(int) * N_CAP);
    float G[R * R], glob[16];
    ua_gram(e.img + 7 * R * 16, R, 16, G);
    assert_memory_equal(g.img_gram + 7 * R * R, G, sizeof G);
    ua_global_embedding(e.img + 7 * R * 16, R, 16, glob);
    assert_memory_equal(g.img_glob + 7 * 16, glob, sizeof glob);
    double n2 = 0;
    for (int k = 0; k < 16; k++) n2 += (double)glob[k] * glob[k];
    assert_true(fabs(n2 - 1) < 1e-5);
    assert_string_equal(ua_st_meta(&g.f, "checkpoint"), "test");

    /* exhaustive ranking = the column of the similarity matrix, by score then index */
    /* room for the longer of the two rankings (images, captions) */
    float *sims = malloc(sizeof(float) * N_IMG * N_CAP), scores[N_IMG], s2[N_CAP];
    int ids[N_IMG], ids2[N_CAP], off[2];
    if (ua_similarity_matrix(TH_ATTN(m), &e, sims, &err)) fail_msg("%s", err.msg);
    ua_embeddings q = ua_embeddings_caption(&e, 4, off);
    assert_int_equal(ua_gallery_rank_images(&g, TH_ATTN(m), &q, 0, 0, ids, scores, &err), N_IMG);
    for (int k = 0; k < N_IMG; k++) {
        assert_true(fabs(scores[k] - sims[(size_t)ids[k] * N_CAP + 4]) < 1e-5);
        if (k) assert_true(scores[k - 1] > scores[k] || (scores[k - 1] == scores[k] && ids[k - 1] < ids[k]));
    }
    /* a shortlist as long as the gallery: the same; a shorter one: exact scores of what it keeps */
    assert_int_equal(ua_gallery_rank_images(&g, TH_ATTN(m), &q, N_IMG, 0, ids2, s2, &err), N_IMG);
    assert_memory_equal(ids, ids2, sizeof ids);
    assert_memory_equal(scores, s2, sizeof scores);
    assert_int_equal(ua_gallery_rank_images(&g, TH_ATTN(m), &q, 6, 0, ids2, s2, &err), 6);
    for (int k = 0; k < 6; k++) {
        int at = 0;
        while (ids[at] != ids2[k]) at++;
        assert_true(scores[at] == s2[k]);
    }
    /* image queries over the captions */
    assert_int_equal(ua_gallery_rank_captions(&g, TH_ATTN(m), 3, 0, 0, ids2, s2, &err), N_CAP);
    assert_int_equal(ua_gallery_rank_captions(&g, TH_ATTN(m), N_IMG, 0, 0, ids2, s2, &err), -1);
    assert_non_null(strstr(err.msg, "image row 24: the index has 24 images"));
    free(sims);
    ua_gallery_close(&g);

    /* an index of images alone answers text queries, not image queries */
    char *imgs_only = th_path(dir, "i.safetensors");
    ua_embeddings no_caps = e;
    no_caps.n_cap = 0;
    if (ua_gallery_write(imgs_only, &m, &no_caps, NULL, NULL, 0, &err)) fail_msg("%s", err.msg);
    if (ua_gallery_open(&g, imgs_only, &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(g.n_cap, 0);
    assert_int_equal(ua_gallery_rank_images(&g, TH_ATTN(m), &q, 0, 0, ids2, s2, &err), N_IMG);
    assert_int_equal(ua_gallery_rank_captions(&g, TH_ATTN(m), 0, 0, 0, ids2, s2, &err), -1);
    assert_non_null(strstr(err.msg, "the index holds no captions"));
    ua_gallery_close(&g);
    free(imgs_only);

    /* another model's index is refused */
    ua_model other;
    ua_model_opt o = small_opt();
    if (ua_model_create(&other, &o, &err)) fail_msg("%s", err.msg);
    ua_model_init_weights(&other, 4);
    assert_int_equal(ua_gallery_open(&g, path, &other, &err), -1);
    assert_non_null(strstr(err.msg, "was not made with this checkpoint"));
    ua_model_free(&other);
    ua_embeddings_free(&e);
    ua_model_free(&m);
    th_rmrf(dir);
    free(dir);
    free(path);
}

/* the index with tensor `drop` left out, or `bad` given the shape {d0, d1, d2} (ndim n) */
static void write_variant_extra(const char *path, const ua_model *m, const char *src, const char *drop, const char *bad,
                                int n, int64_t d0, int64_t d1, int64_t d2, const char *extra)
{
    ua_st_file f;
    ua_err err;
    if (ua_st_open(&f, src, &err)) fail_msg("%s", err.msg);
    ua_st_entry t[8];
    size_t nt = 0;
    static float zeros[4096];
    for (size_t i = 0; i < f.n_tensors; i++) {
        const ua_st_tensor *x = &f.tensors[i];
        if (drop && strcmp(x->name, drop) == 0) continue;
        ua_st_entry e = {x->name, x->dtype, x->ndim, {0}, x->data};
        for (int k = 0; k < x->ndim; k++) e.shape[k] = x->shape[k];
        if (bad && strcmp(x->name, bad) == 0) {
            e.ndim = n;
            e.shape[0] = d0; e.shape[1] = d1; e.shape[2] = d2;
            e.data = zeros;
        }
        t[nt++] = e;
    }
    if (extra) t[nt++] = (ua_st_entry){extra, UA_ST_F32, 1, {1}, zeros};
    char fp[17];
    ua_model_fingerprint(m, fp);
    const char *keys[1] = {"checkpoint_fingerprint"}, *vals[1] = {fp};
    if (ua_st_write(path, t, nt, keys, vals, 1, &err)) fail_msg("%s", err.msg);
    ua_st_close(&f);
}

/* ... or with nothing but `drop` and `bad` changed */
static void write_variant(const char *path, const ua_model *m, const char *src, const char *drop, const char *bad,
                          int n, int64_t d0, int64_t d1, int64_t d2)
{
    write_variant_extra(path, m, src, drop, bad, n, d0, d1, d2, NULL);
}

static void expect_refused(const char *path, const ua_model *m, const char *what)
{
    ua_gallery g;
    ua_err err;
    assert_int_equal(ua_gallery_open(&g, path, m, &err), -1);
    if (!strstr(err.msg, what) || !strstr(err.msg, path)) fail_msg("message '%s' lacks '%s' or the path", err.msg, what);
}

static void test_malformed(void **state)
{
    (void)state;
    char *dir = th_tmpdir(), *good = th_path(dir, "g.safetensors"), *bad = th_path(dir, "b.safetensors");
    ua_model m;
    ua_embeddings e;
    make_gallery(&m, &e);
    ua_err err;
    if (ua_gallery_write(good, &m, &e, NULL, NULL, 0, &err)) fail_msg("%s", err.msg);
    write_variant(bad, &m, good, "img_gram", NULL, 0, 0, 0, 0);
    expect_refused(bad, &m, "no tensor img_gram (an index from an older uarda");
    write_variant(bad, &m, good, "img_glob", NULL, 0, 0, 0, 0);
    expect_refused(bad, &m, "no tensor img_glob");
    write_variant(bad, &m, good, NULL, "img_gram", 3, N_IMG, R, R + 1);
    expect_refused(bad, &m, "img_gram must be F32 [24, 5, 5]");
    write_variant(bad, &m, good, NULL, "img_glob", 2, N_IMG - 1, 16, 0);
    expect_refused(bad, &m, "img_glob must be F32 [24, 16]");
    write_variant(bad, &m, good, NULL, "img_emb", 3, N_IMG, R, 15);
    expect_refused(bad, &m, "no usable img_emb (F32 or F16 [images, regions, 16])");
    write_variant(bad, &m, good, "cap_emb", NULL, 0, 0, 0, 0);
    expect_refused(bad, &m, "no tensor cap_emb");
    write_variant(bad, &m, good, NULL, "cap_glob", 2, N_CAP, 8, 0);
    expect_refused(bad, &m, "cap_glob must be F32 [30, 16]");
    /* caption lengths: I32, each >= 1 */
    write_variant(bad, &m, good, NULL, "cap_len", 1, N_CAP, 0, 0);   /* all zero */
    expect_refused(bad, &m, "cap_len[0] = 0 is not a caption length");
    /* the tensor set: nothing an index does not hold, and no caption embeddings without lengths */
    write_variant_extra(bad, &m, good, NULL, NULL, 0, 0, 0, 0, "img_extra");
    expect_refused(bad, &m, "tensor 'img_extra' is not part of an index");
    write_variant(bad, &m, good, "cap_len", NULL, 0, 0, 0, 0);
    expect_refused(bad, &m, "caption embeddings without cap_len");
    /* the same checks without a model (uarda index --verify G) */
    expect_refused(bad, NULL, "caption embeddings without cap_len");
    ua_embeddings_free(&e);
    ua_model_free(&m);
    th_rmrf(dir);
    free(dir);
    free(good);
    free(bad);
}

/* the file's bytes with the last n overwritten with 0xff (NaN floats), written to dst */
static void spoil_tail(const char *src, const char *dst, size_t n)
{
    size_t len;
    char *b = th_read(src, &len);
    memset(b + len - n, 0xff, n);
    assert_int_equal(th_write(dst, b, len), 0);
    free(b);
}

static void test_verify_and_nonfinite(void **state)
{
    (void)state;
    char *dir = th_tmpdir(), *good = th_path(dir, "g.safetensors"), *bad = th_path(dir, "b.safetensors"),
         *imgs = th_path(dir, "i.safetensors");
    ua_model m;
    ua_embeddings e;
    make_gallery(&m, &e);
    ua_err err;
    if (ua_gallery_write(good, &m, &e, NULL, NULL, 0, &err)) fail_msg("%s", err.msg);
    ua_embeddings no_caps = e;
    no_caps.n_cap = 0;
    if (ua_gallery_write(imgs, &m, &no_caps, NULL, NULL, 0, &err)) fail_msg("%s", err.msg);
    ua_gallery g;
    if (ua_gallery_open(&g, good, &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ua_gallery_verify(&g, &err), 0);
    ua_gallery_close(&g);
    /* without a model: the structure alone, the embedding size read from img_emb */
    if (ua_gallery_open(&g, good, NULL, &err)) fail_msg("%s", err.msg);
    assert_true(g.n_img == N_IMG && g.R == R && g.E == 16 && g.n_cap == N_CAP);
    assert_int_equal(ua_gallery_verify(&g, &err), 0);
    ua_gallery_close(&g);

    float scores[N_CAP];
    int ids[N_CAP], off[2];
    ua_embeddings q = ua_embeddings_caption(&e, 4, off);
    /* the last 100 bytes overwritten with 0xff: the header opens, the checksum does not verify */
    spoil_tail(good, bad, 100);
    if (ua_gallery_open(&g, bad, &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ua_gallery_verify(&g, &err), -1);
    if (strncmp(err.msg, bad, strlen(bad)) != 0 || !strstr(err.msg, "corrupt")) fail_msg("verify: %s", err.msg);
    /* those bytes are cap_glob's: the image query's shortlist scores them NaN */
    assert_int_equal(ua_gallery_rank_captions(&g, TH_ATTN(m), 0, 5, 0, ids, scores, &err), -1);
    if (!strstr(err.msg, bad) || !strstr(err.msg, "the shortlist score of caption") || !strstr(err.msg, "is NaN") ||
        !strstr(err.msg, "may be corrupt") || !strstr(err.msg, "uarda index --verify"))
        fail_msg("shortlist: %s", err.msg);
    ua_gallery_close(&g);
    /* in an index of images alone, they are img_glob's (images 22 and 23): the text query's shortlist */
    spoil_tail(imgs, bad, 100);
    if (ua_gallery_open(&g, bad, &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ua_gallery_rank_images(&g, TH_ATTN(m), &q, 5, 0, ids, scores, &err), -1);
    if (!strstr(err.msg, "the shortlist score of image 22 is NaN")) fail_msg("shortlist: %s", err.msg);
    ua_gallery_close(&g);
    /* a NaN region of image 3 (in the file: the checksum says so; in the scores: exhaustive or
     * shortlisted, it is the exact score that shows it) */
    size_t len;
    char *b = th_read(good, &len);
    ua_st_file f;
    if (ua_st_open(&f, good, &err)) fail_msg("%s", err.msg);
    size_t at = (size_t)((const char *)ua_st_find(&f, "img_emb")->data - (const char *)f.map) + 3 * R * 16 * sizeof(float);
    ua_st_close(&f);
    memset(b + at, 0xff, 4);
    assert_int_equal(th_write(bad, b, len), 0);
    free(b);
    if (ua_gallery_open(&g, bad, &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ua_gallery_rank_images(&g, TH_ATTN(m), &q, 0, 0, ids, scores, &err), -1);
    if (!strstr(err.msg, "the score of image 3 is NaN")) fail_msg("exhaustive: %s", err.msg);
    assert_int_equal(ua_gallery_rank_images(&g, TH_ATTN(m), &q, N_IMG - 1, 0, ids, scores, &err), -1);
    if (!strstr(err.msg, "the score of image 3 is NaN")) fail_msg("shortlisted: %s", err.msg);
    assert_int_equal(ua_gallery_rank_captions(&g, TH_ATTN(m), 3, 0, 0, ids, scores, &err), -1);
    if (!strstr(err.msg, "the score of caption 0 is NaN")) fail_msg("image query: %s", err.msg);
    assert_int_equal(ua_gallery_verify(&g, &err), -1);
    ua_gallery_close(&g);

    /* NaN values written with a right checksum: verify still finds them */
    e.img[5 * R * 16 + 7] = NAN;
    if (ua_gallery_write(bad, &m, &e, NULL, NULL, 0, &err)) fail_msg("%s", err.msg);
    if (ua_gallery_open(&g, bad, &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ua_gallery_verify(&g, &err), -1);
    if (!strstr(err.msg, "tensor 'img_emb' element 407 [5, 0, 7] is NaN")) fail_msg("NaN: %s", err.msg);
    ua_gallery_close(&g);

    /* an index from before checksums: 1, once its values are checked */
    b = th_read(good, &len);
    char *key = strstr(b + 8, "\"data_xxh3\"");
    assert_non_null(key);
    key[9] = '0';
    assert_int_equal(th_write(bad, b, len), 0);
    free(b);
    if (ua_gallery_open(&g, bad, &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ua_gallery_verify(&g, &err), 1);
    ua_gallery_close(&g);

    ua_embeddings_free(&e);
    ua_model_free(&m);
    th_rmrf(dir);
    free(dir); free(good); free(bad); free(imgs);
}

/* ---- ties, the streaming writer, F16 ---------------------------------------------------------- */

/* n_img images (image i a copy of image i % dup when dup > 0: equal embeddings, so equal scores)
 * and n_cap captions (caption j a copy of caption j % dup, likewise), for a model made from o */
static float *make_inputs(ua_model *m, const ua_model_opt *o, int n_img, int n_cap, int dup, ua_captions *caps)
{
    ua_err err;
    if (ua_model_create(m, o, &err)) fail_msg("%s", err.msg);
    ua_model_init_weights(m, 5);
    ua_rng r;
    ua_rng_seed(&r, 11, 2);
    const size_t per = (size_t)R * o->img_dim;
    float *images = malloc(sizeof(float) * per * (size_t)n_img);
    for (int i = 0; i < n_img; i++) {
        if (dup > 0 && i >= dup) memcpy(images + per * i, images + per * (i % dup), per * sizeof(float));
        else for (size_t k = 0; k < per; k++) images[per * i + k] = ua_rng_unif(&r);
    }
    memset(caps, 0, sizeof *caps);
    caps->n = n_cap;
    caps->offsets = malloc(sizeof(int) * (n_cap + 1));
    caps->ids = malloc(sizeof(int) * (size_t)n_cap * 8);
    caps->offsets[0] = 0;
    for (int j = 0; j < n_cap; j++) {
        int len = 3 + (dup > 0 ? j % dup : j) % 5, *ids = caps->ids + caps->offsets[j];
        if (dup > 0 && j >= dup) memcpy(ids, ua_caption_ids(caps, j % dup), sizeof(int) * len);
        else {
            ids[0] = 1;
            for (int t = 1; t < len - 1; t++) ids[t] = 4 + (int)ua_rng_below(&r, 16);
            ids[len - 1] = 2;
        }
        caps->offsets[j + 1] = caps->offsets[j] + len;
        if (len > caps->max_len) caps->max_len = len;
    }
    return images;
}

static int by_rank(const void *x, const void *y)
{
    const ua_scored *a = x, *b = y;
    return ua_ranks_before(*a, *b) ? -1 : ua_ranks_before(*b, *a) ? 1 : 0;
}

/* the reference ranking: every item's score, stably sorted by score (higher first, ties by id) */
static ua_scored *full_sort(const float *score, const int *ids, int n)
{
    ua_scored *s = malloc(sizeof *s * (size_t)n);
    for (int k = 0; k < n; k++) s[k] = (ua_scored){score[k], ids ? ids[k] : k};
    qsort(s, (size_t)n, sizeof *s, by_rank);
    return s;
}

/* a ranking (ids, scores of n) is the first n of the full sort, bit for bit */
static void expect_prefix(const char *what, const int *ids, const float *scores, int n, const ua_scored *ref)
{
    for (int k = 0; k < n; k++)
        if (ids[k] != ref[k].id || memcmp(&scores[k], &ref[k].score, sizeof(float)) != 0)
            fail_msg("%s, place %d: item %d (%.9g), the full sort's %d (%.9g)", what, k, ids[k], (double)scores[k],
                     ref[k].id, (double)ref[k].score);
}

/* Top-k without a full sort ranks exactly as the sort did: on a gallery of duplicated images and
 * captions (ties between equal scores), every k, exhaustive and shortlisted, both directions of
 * query, against a full stable sort of every score */
static void test_topk_ties(void **state)
{
    (void)state;
    enum { NI = 40, NC = 36, DUP = 7 };
    char *dir = th_tmpdir(), *path = th_path(dir, "ties.safetensors");
    ua_model m;
    ua_model_opt o = small_opt();
    ua_captions caps;
    float *images = make_inputs(&m, &o, NI, NC, DUP, &caps);
    ua_embeddings e;
    ua_err err;
    if (ua_encode(&m, images, NI, R, &caps, &e, NULL, &err)) fail_msg("%s", err.msg);
    /* The copies' embeddings are their originals' bits: a BLAS may round a product's row by its
     * place in the product (OpenBLAS's Haswell kernels do), so encoded copies tie only nearly. */
    const size_t per_img = (size_t)R * e.E;
    for (int i = DUP; i < NI; i++) memcpy(e.img + per_img * i, e.img + per_img * (i % DUP), per_img * sizeof(float));
    for (int j = DUP; j < NC; j++)
        memcpy(e.cap + (size_t)e.cap_offset[j] * e.E, e.cap + (size_t)e.cap_offset[j % DUP] * e.E,
               (size_t)e.cap_len[j] * e.E * sizeof(float));
    if (ua_gallery_write(path, &m, &e, NULL, NULL, 0, &err)) fail_msg("%s", err.msg);
    ua_gallery g;
    if (ua_gallery_open(&g, path, &m, &err)) fail_msg("%s", err.msg);
    int ids[NI + NC], off[2];
    float scores[NI + NC], col[NI], glob[NI], qg[16];
    for (int dir_i = 0; dir_i < 2; dir_i++) {
        ua_attn_cfg cfg = ua_attn_at(&m.opt.attn, m.t_test);
        cfg.direction = dir_i ? UA_I2T : UA_T2I;
        for (int c = 0; c < 3; c++) {
            /* text query: caption c alone against every image */
            ua_embeddings q = ua_embeddings_caption(&e, c, off), all = q;
            all.n_img = NI;
            all.img = e.img;
            if (ua_similarity_matrix(&cfg, &all, col, &err)) fail_msg("%s", err.msg);
            ua_scored *ref = full_sort(col, NULL, NI);
            assert_true(ref[0].score == ref[1].score && ref[0].id % DUP == ref[1].id % DUP);   /* ties at the top */
            for (int k = 0; k <= NI + 2; k += k < 10 ? 1 : 15) {
                int got = ua_gallery_rank_images(&g, &cfg, &q, 0, k, ids, scores, &err);
                assert_int_equal(got, NI);
                expect_prefix("exhaustive", ids, scores, k > 0 && k < NI ? k : NI, ref);
            }
            free(ref);
            /* shortlisted: the K best global embeddings (ties by id), then their exact scores */
            ua_caption_global(q.cap, q.cap_len[0], 16, qg);
            ua_dots_few(qg, 1, g.img_glob, NI, 16, glob, 1, 1);
            ua_scored *gref = full_sort(glob, NULL, NI);
            assert_true(gref[0].score == gref[1].score);
            enum { K = 10 };
            int list[K];
            float exact[K];
            for (int k = 0; k < K; k++) { list[k] = gref[k].id; exact[k] = col[list[k]]; }
            ref = full_sort(exact, list, K);
            for (int k = 1; k <= K; k += 3) {
                assert_int_equal(ua_gallery_rank_images(&g, &cfg, &q, K, k, ids, scores, &err), K);
                expect_prefix("shortlisted", ids, scores, k, ref);
            }
            free(ref);
            free(gref);
        }
        /* image query: against every caption, as the evaluation's blocks score them */
        float sims[NC];
        ua_embeddings one = e;
        one.n_img = 1;
        one.img = e.img + (size_t)3 * R * 16;
        if (ua_similarity_matrix(&cfg, &one, sims, &err)) fail_msg("%s", err.msg);
        ua_scored *ref = full_sort(sims, NULL, NC);
        assert_true(ref[0].score == ref[1].score);
        for (int k = 1; k <= NC; k += 5) {
            assert_int_equal(ua_gallery_rank_captions(&g, &cfg, 3, 0, k, ids, scores, &err), NC);
            expect_prefix("image query", ids, scores, k, ref);
        }
        free(ref);
    }
    ua_gallery_close(&g);
    ua_embeddings_free(&e);
    ua_captions_free(&caps);
    free(images);
    ua_model_free(&m);
    th_rmrf(dir);
    free(dir);
    free(path);
}

/* a gallery written block by block: blocks of whole encoding chunks give ua_gallery_write's bytes */
static void stream_index(const char *path, const ua_model *m, const float *images, int n_img, int block,
                         const ua_captions *caps, int half)
{
    ua_err err;
    const char *keys[2] = {"checkpoint", "images"}, *vals[2] = {"c.safetensors", "x.npy"};
    ua_gallery_writer *w = ua_gallery_writer_open(path, m, n_img, R, caps, half, keys, vals, 2, &err);
    if (!w) fail_msg("%s", err.msg);
    const size_t per = (size_t)R * m->opt.img_dim;
    for (int i0 = 0; i0 < n_img; i0 += block) {
        int n = n_img - i0 < block ? n_img - i0 : block;
        if (ua_gallery_writer_add_images(w, images + per * i0, n, &err)) fail_msg("%s", err.msg);
    }
    if (ua_gallery_writer_commit(w, NULL, &err)) fail_msg("%s", err.msg);
}

static void test_stream_writer_same_bytes(void **state)
{
    (void)state;
    /* more images than two encoding chunks, more captions than one caption block */
    enum { NI = 300, NC = 1100 };
    char *dir = th_tmpdir(), *want = th_path(dir, "whole.safetensors"), *path = th_path(dir, "stream.safetensors");
    ua_model m;
    ua_model_opt o = small_opt();
    ua_captions caps;
    float *images = make_inputs(&m, &o, NI, NC, 0, &caps);
    ua_embeddings e;
    ua_err err;
    /* the old way: everything encoded at once, then written */
    if (ua_encode(&m, images, NI, R, &caps, &e, NULL, &err)) fail_msg("%s", err.msg);
    const char *keys[2] = {"checkpoint", "images"}, *vals[2] = {"c.safetensors", "x.npy"};
    if (ua_gallery_write(want, &m, &e, keys, vals, 2, &err)) fail_msg("%s", err.msg);
    size_t want_len, len;
    char *want_bytes = th_read(want, &want_len);
    static const int blocks[] = {UA_GALLERY_ENCODE_CHUNK, 2 * UA_GALLERY_ENCODE_CHUNK, 1024};
    for (int with_caps = 0; with_caps < 2; with_caps++) {
        if (!with_caps) {   /* images alone */
            ua_embeddings no_caps = e;
            no_caps.n_cap = 0;
            free(want_bytes);
            if (ua_gallery_write(want, &m, &no_caps, keys, vals, 2, &err)) fail_msg("%s", err.msg);
            want_bytes = th_read(want, &want_len);
        } else {
            free(want_bytes);
            if (ua_gallery_write(want, &m, &e, keys, vals, 2, &err)) fail_msg("%s", err.msg);
            want_bytes = th_read(want, &want_len);
        }
        for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
            stream_index(path, &m, images, NI, blocks[b], with_caps ? &caps : NULL, 0);
            char *got = th_read(path, &len);
            if (len != want_len || memcmp(got, want_bytes, len) != 0)
                fail_msg("blocks of %d images%s: the streamed index differs from ua_gallery_write's (%zu and %zu bytes)",
                         blocks[b], with_caps ? " with captions" : "", len, want_len);
            free(got);
        }
    }
    ua_gallery g;
    if (ua_gallery_open(&g, path, &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ua_gallery_verify(&g, &err), 0);
    ua_gallery_close(&g);
    free(want_bytes);
    ua_embeddings_free(&e);
    ua_captions_free(&caps);
    free(images);
    ua_model_free(&m);
    th_rmrf(dir);
    free(dir); free(want); free(path);
}

/* An F16 index holds the embeddings rounded to half, the Gram matrices of the rounded embeddings
 * rounded to half, and the global embeddings of the rounded embeddings in F32; its searches score
 * exactly those values (exhaustive and shortlisted, text and image queries, and the attention) */
static void test_f16_index(void **state)
{
    (void)state;
    enum { NI = 150, NC = 40 };
    char *dir = th_tmpdir(), *path = th_path(dir, "half.safetensors"), *full = th_path(dir, "full.safetensors");
    ua_model m;
    ua_model_opt o = small_opt();
    ua_captions caps;
    float *images = make_inputs(&m, &o, NI, NC, 0, &caps);
    ua_embeddings e;
    ua_err err;
    if (ua_encode(&m, images, NI, R, &caps, &e, NULL, &err)) fail_msg("%s", err.msg);
    stream_index(path, &m, images, NI, UA_GALLERY_ENCODE_CHUNK, &caps, 1);
    stream_index(full, &m, images, NI, UA_GALLERY_ENCODE_CHUNK, &caps, 0);
    ua_gallery g, g32;
    if (ua_gallery_open(&g, path, &m, &err) || ua_gallery_open(&g32, full, &m, &err)) fail_msg("%s", err.msg);
    assert_true(g.half && !g.img && !g.img_gram && g.img_half && g.img_gram_half);
    assert_int_equal(ua_gallery_verify(&g, &err), 0);
    /* the file: the region data in half the bytes */
    size_t len16, len32;
    free(th_read(path, &len16));
    free(th_read(full, &len32));
    const size_t region_bytes = (size_t)NI * R * (16 + R) * 2;
    assert_int_equal(len32 - len16, region_bytes);
    /* what it holds */
    const size_t n = (size_t)NI * R * 16;
    float *img = malloc(n * sizeof(float)), *gram = malloc(sizeof(float) * NI * R * R), glob[16];
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(g.img_half[k], ua_half_from_float(e.img[k]));
        img[k] = ua_half_to_float(g.img_half[k]);
    }
    for (int i = 0; i < NI; i++) {
        float G[R * R];
        ua_gram(img + (size_t)i * R * 16, R, 16, G);
        for (int k = 0; k < R * R; k++) {
            assert_int_equal(g.img_gram_half[i * R * R + k], ua_half_from_float(G[k]));
            gram[i * R * R + k] = ua_half_to_float(g.img_gram_half[i * R * R + k]);
        }
        ua_global_embedding(img + (size_t)i * R * 16, R, 16, glob);
        assert_memory_equal(g.img_glob + (size_t)i * 16, glob, sizeof glob);
    }
    assert_memory_equal(g.cap, g32.cap, sizeof(float) * (size_t)g.cap_offset[NC] * 16);   /* captions stay F32 */
    float buf[R * 16], gbuf[R * R];
    const float *gp;
    assert_memory_equal(ua_gallery_image(&g, 7, buf, &gp, gbuf), img + 7 * R * 16, sizeof buf);
    assert_memory_equal(gp, gram + 7 * R * R, sizeof gbuf);
    /* text queries: the rounded gallery's scores, exactly */
    int ids[NI], off[2];
    float scores[NI], col[NI];
    for (int c = 0; c < 4; c++) {
        ua_embeddings q = ua_embeddings_caption(&e, c * 9, off), all = q;
        all.n_img = NI;
        all.img = img;
        all.img_gram = gram;
        if (ua_similarity_matrix(TH_ATTN(m), &all, col, &err)) fail_msg("%s", err.msg);
        ua_scored *ref = full_sort(col, NULL, NI);
        assert_int_equal(ua_gallery_rank_images(&g, TH_ATTN(m), &q, 0, 0, ids, scores, &err), NI);
        expect_prefix("f16 exhaustive", ids, scores, NI, ref);
        free(ref);
        assert_int_equal(ua_gallery_rank_images(&g, TH_ATTN(m), &q, 20, 20, ids, scores, &err), 20);
        for (int k = 0; k < 20; k++) assert_true(scores[k] == col[ids[k]]);
        /* and close to the F32 index's */
        float s32[NI];
        int i32[NI];
        assert_int_equal(ua_gallery_rank_images(&g32, TH_ATTN(m), &q, 0, 0, i32, s32, &err), NI);
        for (int k = 0; k < NI; k++) assert_true(fabsf(col[i32[k]] - s32[k]) < 2e-3f);
    }
    /* an image query: the image converted, the captions as they are */
    float sims[NC];
    ua_embeddings one = e;
    one.n_img = 1;
    one.img = img + 3 * R * 16;
    one.img_gram = gram + 3 * R * R;
    if (ua_similarity_matrix(TH_ATTN(m), &one, sims, &err)) fail_msg("%s", err.msg);
    ua_scored *ref = full_sort(sims, NULL, NC);
    assert_int_equal(ua_gallery_rank_captions(&g, TH_ATTN(m), 3, 0, 0, ids, scores, &err), NC);
    expect_prefix("f16 image query", ids, scores, NC, ref);
    free(ref);
    ua_gallery_close(&g);
    ua_gallery_close(&g32);
    free(img); free(gram);
    ua_embeddings_free(&e);
    ua_captions_free(&caps);
    free(images);
    ua_model_free(&m);
    th_rmrf(dir);
    free(dir); free(path); free(full);
}

/* the writer's refusals: too many images, too few at commit, and values beyond the half range;
 * none leaves a file */
static void test_stream_writer_refusals(void **state)
{
    (void)state;
    char *dir = th_tmpdir(), *path = th_path(dir, "w.safetensors");
    ua_model m;
    ua_model_opt o = small_opt();
    o.no_imgnorm = 1;   /* unnormalised embeddings: large features give large values */
    ua_captions caps;
    float *images = make_inputs(&m, &o, 10, 4, 0, &caps);
    ua_err err;
    ua_gallery_writer *w = ua_gallery_writer_open(path, &m, 6, R, NULL, 0, NULL, NULL, 0, &err);
    assert_non_null(w);
    assert_int_equal(ua_gallery_writer_add_images(w, images, 4, &err), 0);
    assert_int_equal(ua_gallery_writer_add_images(w, images, 3, &err), -1);
    assert_non_null(strstr(err.msg, "3 more images, but 4 of the index's 6 are written"));
    assert_int_equal(ua_gallery_writer_commit(w, NULL, &err), -1);
    if (strncmp(err.msg, path, strlen(path)) != 0 || !strstr(err.msg, "4 of the index's 6 images are written"))
        fail_msg("%s", err.msg);
    assert_int_equal(access(path, F_OK), -1);
    for (int k = 0; k < 10 * R * o.img_dim; k++) images[k] *= 1e6f;
    w = ua_gallery_writer_open(path, &m, 10, R, NULL, 1, NULL, NULL, 0, &err);
    assert_non_null(w);
    assert_int_equal(ua_gallery_writer_add_images(w, images, 10, &err), -1);
    if (!strstr(err.msg, "image 0: a region embedding value") || !strstr(err.msg, "beyond the half range (65504)") ||
        !strstr(err.msg, "--index-dtype f32"))
        fail_msg("%s", err.msg);
    ua_gallery_writer_abort(w);
    assert_int_equal(access(path, F_OK), -1);
    char out[256];
    assert_int_equal(th_run(out, sizeof out, "ls -A %s | wc -l", dir), 0);
    assert_string_equal(out, "0\n");
    ua_captions_free(&caps);
    free(images);
    ua_model_free(&m);
    th_rmrf(dir);
    free(dir);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_ranking),
        cmocka_unit_test(test_progress_per_call),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_verify_and_nonfinite),
        cmocka_unit_test(test_topk_ties),
        cmocka_unit_test(test_stream_writer_same_bytes),
        cmocka_unit_test(test_f16_index),
        cmocka_unit_test(test_stream_writer_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
