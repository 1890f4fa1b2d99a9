/* An encoded gallery: the index file, exhaustive and shortlisted search (include/uarda/gallery.h). */
#include "uarda/gallery.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/dots.h"

void ua_model_fingerprint(const ua_model *m, char out[17])
{
    /* the parameters' hash, then the attention cfg, into one FNV-1a-64 */
    uint64_t h = 1469598103934665603ULL, ph = ua_model_params_hash(m);
    const unsigned char *p = (const unsigned char *)&ph;
    for (size_t j = 0; j < sizeof ph; j++) h = (h ^ p[j]) * 1099511628211ULL;
    const ua_attn_cfg *a = &m->opt.attn;
    double vals[] = {a->direction, a->norm, a->agg, a->lambda_softmax, a->lambda_lse, a->clip, a->mask, a->logit,
                     a->irr, a->threshold};
    p = (const unsigned char *)vals;
    for (size_t i = 0; i < sizeof vals; i++) h = (h ^ p[i]) * 1099511628211ULL;
    snprintf(out, 17, "%016" PRIx64, h);
}

void ua_global_embedding(const float *x, int n, int E, float *out)
{
    for (int k = 0; k < E; k++) out[k] = 0.0f;
    for (int r = 0; r < n; r++)
        for (int k = 0; k < E; k++) out[k] += x[(size_t)r * E + k];
    double ss = 0.0;
    for (int k = 0; k < E; k++) ss += (double)out[k] * out[k];
    float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;   /* the mean's 1/n cancels in the norm */
    for (int k = 0; k < E; k++) out[k] *= inv;
}

/* a caption's global embedding: its words without <start> and <end> (every caption has them,
 * and on the f30k preset leaving them out of the mean cut the shortlist's R@1 loss at K = 100
 * from 7.6 to 5.4 points) */
static void caption_global(const float *words, int len, int E, float *out)
{
    if (len > 2) ua_global_embedding(words + E, len - 2, E, out);
    else ua_global_embedding(words, len, E, out);
}

/* ---------------------------------------------------------------------------------------------
 * the index file */

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
        caption_global(e->cap + (size_t)e->cap_offset[j] * E, e->cap_len[j], E, cap_glob + (size_t)j * E);
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
    keys[0] = "format"; vals[0] = "uarda-index-2";
    keys[1] = "checkpoint_fingerprint"; vals[1] = fp;
    for (int k = 0; k < n_meta; k++) { keys[k + 2] = meta_keys[k]; vals[k + 2] = meta_values[k]; }
    rc = ua_st_write(path, t, nt, keys, vals, (size_t)n_meta + 2, err);
out:
    free(gram); free(img_glob); free(cap_glob); free(cap_len); free(keys); free(vals);
    return rc;
}

/* the tensor `name` as F32 of exactly ndim dims d0 x d1 x d2 (the unused ones ignored), or NULL
 * with a message */
static const float *tensor(const ua_gallery *g, const char *path, const char *name, int ndim, int64_t d0, int64_t d1,
                           int64_t d2, ua_err *err)
{
    const ua_st_tensor *t = ua_st_find(&g->f, name);
    if (!t) {
        ua_fail(err, "%s: no tensor %s (an index from an older uarda: run uarda index again)", path, name);
        return NULL;
    }
    int64_t want[3] = {d0, d1, d2};
    int ok = t->dtype == UA_ST_F32 && t->ndim == ndim;
    for (int k = 0; ok && k < ndim; k++) ok = t->shape[k] == want[k];
    if (!ok) {
        char shape[96];
        int at = snprintf(shape, sizeof shape, "%" PRId64, d0);
        for (int k = 1; k < ndim && at > 0 && at < (int)sizeof shape; k++)
            at += snprintf(shape + at, sizeof shape - (size_t)at, ", %" PRId64, want[k]);
        ua_fail(err, "%s: %s must be F32 [%s]", path, name, shape);
        return NULL;
    }
    return t->data;
}

void ua_gallery_close(ua_gallery *g)
{
    if (!g) return;
    ua_st_close(&g->f);
    free(g->cap_len);
    free(g->cap_offset);
    memset(g, 0, sizeof *g);
}

/* no tensor that is not an index's, and the caption tensors all three or none */
static int check_tensor_set(const ua_st_file *f, const char *path, ua_err *err)
{
    static const char *const known[] = {"img_emb", "img_gram", "img_glob", "cap_emb", "cap_len", "cap_glob"};
    for (size_t i = 0; i < f->n_tensors; i++) {
        const char *name = f->tensors[i].name;
        size_t k = 0;
        while (k < sizeof known / sizeof *known && strcmp(name, known[k]) != 0) k++;
        if (k == sizeof known / sizeof *known)
            return ua_fail(err, "%s: tensor '%.200s' is not part of an index (not made by uarda index?)", path, name);
    }
    if (!ua_st_find(f, "cap_len") && (ua_st_find(f, "cap_emb") || ua_st_find(f, "cap_glob")))
        return ua_fail(err, "%s: caption embeddings without cap_len (a corrupt index: run uarda index again)", path);
    return 0;
}

int ua_gallery_open(ua_gallery *g, const char *path, const ua_model *m, ua_err *err)
{
    memset(g, 0, sizeof *g);
    if (ua_st_open(&g->f, path, err)) return -1;
    if (m) {
        char fp[17];
        ua_model_fingerprint(m, fp);
        const char *ifp = ua_st_meta(&g->f, "checkpoint_fingerprint");
        if (!ifp || strcmp(ifp, fp) != 0) {
            ua_fail(err, "%s was not made with this checkpoint (fingerprint %s, the checkpoint's is %s): run uarda index again",
                    path, ifp ? ifp : "missing", fp);
            goto fail;
        }
    }
    if (check_tensor_set(&g->f, path, err)) goto fail;
    const ua_st_tensor *ti = ua_st_find(&g->f, "img_emb");
    int E = m ? m->opt.embed_size : 0;   /* without a model: img_emb's own, when it is a size */
    if (!m && ti && ti->ndim == 3 && ti->shape[2] > 0 && ti->shape[2] <= 1 << 16) E = (int)ti->shape[2];
    if (!ti || ti->ndim != 3 || ti->dtype != UA_ST_F32 || E < 1 || ti->shape[2] != E || ti->shape[0] < 1 ||
        ti->shape[1] < 1 || ti->shape[0] > 1 << 30 || ti->shape[1] > 1 << 16) {
        if (m) ua_fail(err, "%s: no usable img_emb (F32 [images, regions, %d])", path, E);
        else ua_fail(err, "%s: no usable img_emb (F32 [images, regions, embedding size])", path);
        goto fail;
    }
    g->n_img = (int)ti->shape[0];
    g->R = (int)ti->shape[1];
    g->E = E;
    g->img = ti->data;
    if (!(g->img_gram = tensor(g, path, "img_gram", 3, g->n_img, g->R, g->R, err)) ||
        !(g->img_glob = tensor(g, path, "img_glob", 2, g->n_img, E, 0, err)))
        goto fail;
    const ua_st_tensor *tl = ua_st_find(&g->f, "cap_len");
    if (tl) {
        if (tl->dtype != UA_ST_I32 || tl->ndim != 1 || tl->shape[0] < 1 || tl->shape[0] > 1 << 30) {
            ua_fail(err, "%s: cap_len must be I32 [captions]", path);
            goto fail;
        }
        g->n_cap = (int)tl->shape[0];
        g->cap_len = malloc((size_t)g->n_cap * sizeof(int));
        g->cap_offset = malloc(((size_t)g->n_cap + 1) * sizeof(int));
        if (!g->cap_len || !g->cap_offset) { ua_fail(err, "out of memory"); goto fail; }
        const int32_t *len = tl->data;
        g->cap_offset[0] = 0;
        for (int j = 0; j < g->n_cap; j++) {
            if (len[j] < 1 || len[j] > 1 << 16 || g->cap_offset[j] > (1 << 30) - len[j]) {
                ua_fail(err, "%s: cap_len[%d] = %d is not a caption length", path, j, (int)len[j]);
                goto fail;
            }
            g->cap_len[j] = len[j];
            g->cap_offset[j + 1] = g->cap_offset[j] + len[j];
            if (len[j] > g->max_len) g->max_len = len[j];
        }
        if (!(g->cap = tensor(g, path, "cap_emb", 2, g->cap_offset[g->n_cap], E, 0, err)) ||
            !(g->cap_glob = tensor(g, path, "cap_glob", 2, g->n_cap, E, 0, err)))
            goto fail;
    }
    ua_st_prefault(&g->f, g->img, (size_t)g->n_img * g->R * E * sizeof(float));
    return 0;
fail:
    ua_gallery_close(g);
    return -1;
}

int ua_gallery_verify(const ua_gallery *g, ua_err *err)
{
    int rc = ua_st_verify(&g->f, err);
    for (size_t i = 0; rc >= 0 && i < g->f.n_tensors; i++)
        if (ua_st_check_finite(&g->f, &g->f.tensors[i], err)) rc = -1;
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * ranking */

typedef struct { float score; int id; } scored;

/* a before b: the higher score, then the lower id */
static int better(scored a, scored b) { return a.score > b.score || (a.score == b.score && a.id < b.id); }

static int by_rank(const void *x, const void *y)
{
    const scored *a = x, *b = y;
    return better(*a, *b) ? -1 : better(*b, *a) ? 1 : 0;
}

/* ids[0..K) = the K best of score[0..n) (heap with the worst kept at the root), in no order */
static int top_k(const float *score, int n, int K, int *ids, ua_err *err)
{
    scored *h = malloc((size_t)K * sizeof *h);
    if (!h) return ua_fail(err, "out of memory for a shortlist of %d", K);
    int size = 0;
    for (int i = 0; i < n; i++) {
        scored s = {score[i], i};
        int at;
        if (size < K) {
            at = size++;
            while (at > 0 && better(h[(at - 1) / 2], s)) { h[at] = h[(at - 1) / 2]; at = (at - 1) / 2; }
            h[at] = s;
            continue;
        }
        if (!better(s, h[0])) continue;
        at = 0;   /* replace the worst and sift it down */
        for (;;) {
            int c = 2 * at + 1;
            if (c >= size) break;
            if (c + 1 < size && better(h[c], h[c + 1])) c++;
            if (!better(s, h[c])) break;
            h[at] = h[c];
            at = c;
        }
        h[at] = s;
    }
    for (int k = 0; k < size; k++) ids[k] = h[k].id;
    free(h);
    return 0;
}

/* sorts (ids, scores) by rank */
static int sort_ranked(int *ids, float *scores, int n, ua_err *err)
{
    scored *s = malloc((size_t)n * sizeof *s + 1);
    if (!s) return ua_fail(err, "out of memory");
    for (int k = 0; k < n; k++) s[k] = (scored){scores[k], ids[k]};
    qsort(s, (size_t)n, sizeof *s, by_rank);
    for (int k = 0; k < n; k++) { ids[k] = s[k].id; scores[k] = s[k].score; }
    free(s);
    return n;
}

/* A NaN compares false with everything, so it would rank anywhere without a word: a non-finite
 * score s[k] (of item ids[k], or k when ids is NULL) is an error. Only a corrupt index makes one
 * (checkpoints are checked finite on load), and --verify finds which byte. */
static int check_scores(const ua_gallery *g, const char *stage, const char *item, const float *s, const int *ids, int n,
                        ua_err *err)
{
    for (int k = 0; k < n; k++)
        if (!isfinite(s[k]))
            return ua_fail(err, "%s: the %sscore of %s %d is %s: the index may be corrupt (check it with uarda index --verify %s)",
                           g->f.path, stage, item, ids ? ids[k] : k, isnan(s[k]) ? "NaN" : "infinite", g->f.path);
    return 0;
}

/* the shortlist: ids[0..K) of the K items whose global embeddings best match `query_glob` */
static int shortlist_ids(const ua_gallery *g, const char *item, const float *query_glob, const float *glob, int n, int K,
                         int *ids, ua_err *err)
{
    float *gs = malloc((size_t)n * sizeof(float));
    if (!gs) return ua_fail(err, "out of memory for %d shortlist scores", n);
    ua_dots_few(query_glob, 1, glob, n, g->E, gs, 1, 1);
    int rc = check_scores(g, "shortlist ", item, gs, NULL, n, err);
    if (!rc) rc = top_k(gs, n, K, ids, err);
    free(gs);
    return rc;
}

/* the exact scores of the n items of e (image or caption ids[k] of the gallery, in e's order),
 * then (ids, scores) sorted by rank; exhaustive: e is the whole gallery and ids are set to 0..n-1 */
static int score_ranked(const ua_gallery *g, const char *item, const ua_attn_cfg *cfg, const ua_embeddings *e, int n,
                        int exhaustive, int *ids, float *scores, ua_err *err)
{
    if (ua_similarity_matrix(cfg, e, scores, err)) return -1;
    for (int k = 0; exhaustive && k < n; k++) ids[k] = k;
    if (check_scores(g, "", item, scores, ids, n, err)) return -1;
    return sort_ranked(ids, scores, n, err);
}

int ua_gallery_rank_images(const ua_gallery *g, const ua_attn_cfg *cfg, const ua_embeddings *q, int shortlist, int *ids,
                           float *scores, ua_err *err)
{
    if (q->n_cap != 1 || !q->cap) return ua_fail(err, "a text query is one encoded caption");
    const int R = g->R, E = g->E;
    ua_embeddings e = *q;
    e.E = E;
    e.n_img = g->n_img;
    e.R = R;
    e.img = (float *)g->img;
    e.img_gram = g->img_gram;
    if (shortlist <= 0 || shortlist >= g->n_img) return score_ranked(g, "image", cfg, &e, g->n_img, 1, ids, scores, err);
    /* two stages: the shortlist by global embeddings, then the exact scores of its images
     * (gathered: the same products as the exhaustive search, so the same bits) */
    const int K = shortlist;
    float *qg = malloc((size_t)E * sizeof(float)), *img = malloc((size_t)K * R * E * sizeof(float)),
          *gram = malloc((size_t)K * R * R * sizeof(float));
    int rc = -1;
    if (!qg || !img || !gram) { ua_fail(err, "out of memory for a shortlist of %d images", K); goto out; }
    caption_global(q->cap, q->cap_len[0], E, qg);
    if (shortlist_ids(g, "image", qg, g->img_glob, g->n_img, K, ids, err)) goto out;
    for (int k = 0; k < K; k++) {
        memcpy(img + (size_t)k * R * E, g->img + (size_t)ids[k] * R * E, (size_t)R * E * sizeof(float));
        memcpy(gram + (size_t)k * R * R, g->img_gram + (size_t)ids[k] * R * R, (size_t)R * R * sizeof(float));
    }
    e.n_img = K;
    e.img = img;
    e.img_gram = gram;
    rc = score_ranked(g, "image", cfg, &e, K, 0, ids, scores, err);
out:
    free(qg);
    free(img);
    free(gram);
    return rc;
}

int ua_gallery_rank_captions(const ua_gallery *g, const ua_attn_cfg *cfg, int row, int shortlist, int *ids, float *scores,
                             ua_err *err)
{
    if (!g->cap) return ua_fail(err, "the index holds no captions (index it with --captions for image queries)");
    if (row < 0 || row >= g->n_img) return ua_fail(err, "image row %d: the index has %d images", row, g->n_img);
    const int R = g->R, E = g->E;
    ua_embeddings e = {0};
    e.n_img = 1;
    e.R = R;
    e.E = E;
    e.img = (float *)g->img + (size_t)row * R * E;
    e.img_gram = g->img_gram + (size_t)row * R * R;
    e.max_len = g->max_len;
    if (shortlist <= 0 || shortlist >= g->n_cap) {
        e.n_cap = g->n_cap;
        e.cap = (float *)g->cap;
        e.cap_len = g->cap_len;
        e.cap_offset = g->cap_offset;
        return score_ranked(g, "caption", cfg, &e, g->n_cap, 1, ids, scores, err);
    }
    const int K = shortlist;
    float *cap = malloc((size_t)K * g->max_len * E * sizeof(float));
    int *len = malloc((size_t)K * sizeof(int)), *off = malloc(((size_t)K + 1) * sizeof(int)), rc = -1;
    if (!cap || !len || !off) { ua_fail(err, "out of memory for a shortlist of %d captions", K); goto out; }
    if (shortlist_ids(g, "caption", g->img_glob + (size_t)row * E, g->cap_glob, g->n_cap, K, ids, err)) goto out;
    off[0] = 0;
    for (int k = 0; k < K; k++) {
        len[k] = g->cap_len[ids[k]];
        off[k + 1] = off[k] + len[k];
        memcpy(cap + (size_t)off[k] * E, g->cap + (size_t)g->cap_offset[ids[k]] * E, (size_t)len[k] * E * sizeof(float));
    }
    e.n_cap = K;
    e.cap = cap;
    e.cap_len = len;
    e.cap_offset = off;
    rc = score_ranked(g, "caption", cfg, &e, K, 0, ids, scores, err);
out:
    free(cap); free(len); free(off);
    return rc;
}
