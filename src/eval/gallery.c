/* An encoded gallery: opening an index, exhaustive and shortlisted search (include/uarda/gallery.h;
 * the writers are gallery_write.c). */
#include "uarda/gallery.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/dist.h"
#include "uarda/dots.h"
#include "uarda/half.h"
#include "uarda/topk.h"

void ua_model_fingerprint(const ua_model *m, char out[17])
{
    /* the parameters' hash, then the attention options and the test threshold, into one FNV-1a-64 */
    uint64_t h = 1469598103934665603ULL, ph = ua_model_params_hash(m);
    const unsigned char *p = (const unsigned char *)&ph;
    for (size_t j = 0; j < sizeof ph; j++) h = (h ^ p[j]) * 1099511628211ULL;
    const ua_attn_opts *a = &m->opt.attn;
    double vals[] = {a->direction, a->norm, a->agg, a->lambda_softmax, a->lambda_lse, a->clip, a->mask, a->logit,
                     a->irr, m->t_test};
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

/* without <start> and <end> (every caption has them, and on the f30k preset leaving them out of
 * the mean cut the shortlist's R@1 loss at K = 100 from 7.6 to 5.4 points) */
void ua_caption_global(const float *words, int len, int E, float *out)
{
    if (len > 2) ua_global_embedding(words + E, len - 2, E, out);
    else ua_global_embedding(words, len, E, out);
}

/* ---------------------------------------------------------------------------------------------
 * opening an index */

/* the tensor `name` as `dtype` of exactly ndim dims d0 x d1 x d2 (the unused ones ignored), or
 * NULL with a message */
static const void *tensor(const ua_gallery *g, const char *path, const char *name, ua_st_dtype dtype, int ndim,
                          int64_t d0, int64_t d1, int64_t d2, ua_err *err)
{
    const ua_st_tensor *t = ua_st_find(&g->f, name);
    if (!t) {
        ua_fail(err, "%s: no tensor %s (an index from an older uarda: run uarda index again)", path, name);
        return NULL;
    }
    int64_t want[3] = {d0, d1, d2};
    int ok = t->dtype == dtype && t->ndim == ndim;
    for (int k = 0; ok && k < ndim; k++) ok = t->shape[k] == want[k];
    if (!ok) {
        char shape[96];
        int at = snprintf(shape, sizeof shape, "%" PRId64, d0);
        for (int k = 1; k < ndim && at > 0 && at < (int)sizeof shape; k++)
            at += snprintf(shape + at, sizeof shape - (size_t)at, ", %" PRId64, want[k]);
        ua_fail(err, "%s: %s must be %s [%s]%s", path, name, ua_st_dtype_name(dtype), shape,
                dtype == UA_ST_F16 ? " (as img_emb is F16)" : "");
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

int ua_gallery_shard_range(int n_img, int k, int n, int *first, int *count, ua_err *err)
{
    if (n < 1 || k < 0 || k >= n) return ua_fail(err, "shard %d/%d: K/N needs 0 <= K < N", k, n);
    const int chunks = (n_img + UA_GALLERY_ENCODE_CHUNK - 1) / UA_GALLERY_ENCODE_CHUNK;
    int lo, hi;
    ua_dist_share(chunks, k, n, &lo, &hi);
    *first = lo * UA_GALLERY_ENCODE_CHUNK;
    const int end = hi * UA_GALLERY_ENCODE_CHUNK < n_img ? hi * UA_GALLERY_ENCODE_CHUNK : n_img;
    *count = end - *first;
    if (*count <= 0)
        return ua_fail(err, "shard %d/%d of %d images would be empty (shards are whole chunks of %d images: at most "
                       "%d shards)", k, n, n_img, UA_GALLERY_ENCODE_CHUNK, chunks);
    return 0;
}

int ua_gallery_parse_shard(const char *text, int *k, int *n)
{
    char tail;
    return sscanf(text, "%d/%d%c", k, n, &tail) == 2 && *n >= 1 && *k >= 0 && *k < *n ? 0 : -1;
}

/* "shard": "K/N", "first_image", "gallery_images" (all three, or none: shard 0 of 1) */
static int read_shard(ua_gallery *g, const char *path, ua_err *err)
{
    const char *sh = ua_st_meta(&g->f, "shard"), *fi = ua_st_meta(&g->f, "first_image"),
               *gi = ua_st_meta(&g->f, "gallery_images");
    g->shard = 0;
    g->n_shards = 1;
    g->first_image = 0;
    g->gallery_images = g->n_img;
    if (!sh && !fi && !gi) return 0;
    int k, n, first, count;
    char tail;
    if (!sh || !fi || !gi || ua_gallery_parse_shard(sh, &k, &n) || sscanf(fi, "%d%c", &first, &tail) != 1 ||
        sscanf(gi, "%d%c", &g->gallery_images, &tail) != 1 || g->gallery_images < 1 ||
        ua_gallery_shard_range(g->gallery_images, k, n, &g->first_image, &count, err) || first != g->first_image ||
        count != g->n_img)
        return ua_fail(err, "%s: its shard metadata (shard %s, first_image %s, gallery_images %s) does not describe "
                       "its %d images", path, sh ? sh : "missing", fi ? fi : "missing", gi ? gi : "missing", g->n_img);
    g->shard = k;
    g->n_shards = n;
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
    if (!ti || ti->ndim != 3 || (ti->dtype != UA_ST_F32 && ti->dtype != UA_ST_F16) || E < 1 || ti->shape[2] != E ||
        ti->shape[0] < 1 || ti->shape[1] < 1 || ti->shape[0] > 1 << 30 || ti->shape[1] > 1 << 16) {
        if (m) ua_fail(err, "%s: no usable img_emb (F32 or F16 [images, regions, %d])", path, E);
        else ua_fail(err, "%s: no usable img_emb (F32 or F16 [images, regions, embedding size])", path);
        goto fail;
    }
    g->n_img = (int)ti->shape[0];
    g->R = (int)ti->shape[1];
    g->E = E;
    if (read_shard(g, path, err)) goto fail;
    g->half = ti->dtype == UA_ST_F16;
    const void *gram = tensor(g, path, "img_gram", ti->dtype, 3, g->n_img, g->R, g->R, err);
    if (!gram || !(g->img_glob = tensor(g, path, "img_glob", UA_ST_F32, 2, g->n_img, E, 0, err))) goto fail;
    if (g->half) {
        g->img_half = ti->data;
        g->img_gram_half = gram;
    } else {
        g->img = ti->data;
        g->img_gram = gram;
    }
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
        if (!(g->cap = tensor(g, path, "cap_emb", UA_ST_F32, 2, g->cap_offset[g->n_cap], E, 0, err)) ||
            !(g->cap_glob = tensor(g, path, "cap_glob", UA_ST_F32, 2, g->n_cap, E, 0, err)))
            goto fail;
    }
    /* nothing of the images' data is touched here: the mapping pages it in as a search reads it */
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

const float *ua_gallery_image(const ua_gallery *g, int row, float *buf, const float **gram, float *gram_buf)
{
    const size_t RE = (size_t)g->R * g->E, RR = (size_t)g->R * g->R;
    if (!g->half) {
        if (gram) *gram = g->img_gram + (size_t)row * RR;
        return g->img + (size_t)row * RE;
    }
    ua_half_decode(g->img_half + (size_t)row * RE, buf, RE);
    if (gram) {
        ua_half_decode(g->img_gram_half + (size_t)row * RR, gram_buf, RR);
        *gram = gram_buf;
    }
    return buf;
}

/* ---------------------------------------------------------------------------------------------
 * ranking */

/* A NaN compares false with everything, so it would rank anywhere without a word: a non-finite
 * score s[k] (of item ids[first + k], or first + k when ids is NULL) is an error. Only a corrupt
 * index makes one (checkpoints are checked finite on load), and --verify finds which byte. */
static int check_scores(const ua_gallery *g, const char *stage, const char *item, const float *s, const int *ids,
                        int first, int n, ua_err *err)
{
    for (int k = 0; k < n; k++)
        if (!isfinite(s[k]))
            return ua_fail(err, "%s: the %sscore of %s %d is %s: the index may be corrupt (check it with uarda index --verify %s)",
                           g->f.path, stage, item, ids ? ids[first + k] : first + k, isnan(s[k]) ? "NaN" : "infinite",
                           g->f.path);
    return 0;
}

/* items scored and kept: K of a shortlist or the whole gallery, and the top_k of those */
static int n_scored(int shortlist, int n) { return shortlist <= 0 || shortlist >= n ? n : shortlist; }
static int n_kept(int top_k, int scored) { return top_k <= 0 || top_k > scored ? scored : top_k; }

/* the shortlist: list[0..K) = the K items whose global embeddings best match `query_glob` (the
 * dot products a block at a time, each item's the same bits whatever the block) */
static int shortlist_ids(const ua_gallery *g, const char *item, const float *query_glob, const float *glob, int n, int K,
                         int *list, ua_err *err)
{
    enum { GLOB_BLOCK = 16384 };
    ua_topk t;
    if (ua_topk_init(&t, K, err)) return -1;
    float *gs = malloc((size_t)(n < GLOB_BLOCK ? n : GLOB_BLOCK) * sizeof(float));
    int rc = gs ? 0 : ua_fail(err, "out of memory for %d shortlist scores", GLOB_BLOCK);
    for (int i0 = 0; !rc && i0 < n; i0 += GLOB_BLOCK) {
        const int b = n - i0 < GLOB_BLOCK ? n - i0 : GLOB_BLOCK;
        ua_dots_few(query_glob, 1, glob + (size_t)i0 * g->E, b, g->E, gs, 1, 1);
        rc = check_scores(g, "shortlist ", item, gs, NULL, i0, b, err);
        for (int k = 0; !rc && k < b; k++) ua_topk_push(&t, gs[k], i0 + k);
    }
    if (!rc) ua_topk_take(&t, list, NULL);
    free(gs);
    ua_topk_free(&t);
    return rc;
}

/* One text query against blocks of gallery images: the similarity's own block kernel
 * (ua_sim_block_forward) on the images as they lie in the mapping (F32, exhaustive), or
 * gathered (a shortlist) or converted (F16) a block at a time. Every pair is scored alone, so an
 * image's score is the same bits in any block (and those of ua_similarity_matrix for this one
 * caption). */
typedef struct image_scorer {
    const ua_gallery *g;
    const ua_attn_cfg *cfg;
    const float *cap;        /* the query's L words */
    int L, block;
    ua_sim_work *w;
    float *img, *gram;       /* [block, R, E], [block, R, R]: gathered or converted images */
    float *cgram;            /* i2t: the query's word Gram matrix [L, L] */
    float *tile;             /* [block] scores */
} image_scorer;

static void scorer_free(image_scorer *s)
{
    ua_sim_work_free(s->w);
    free(s->img);
    free(s->gram);
    free(s->cgram);
    free(s->tile);
}

/* copies: with buffers for gathered or converted images */
static int scorer_init(image_scorer *s, const ua_gallery *g, const ua_attn_cfg *cfg, const ua_embeddings *q, int copies,
                       int max_block, ua_err *err)
{
    memset(s, 0, sizeof *s);
    const int R = g->R, E = g->E, L = q->cap_len[0];
    /* a block of about 16 MiB of scratch (1024 images at most: a thread's share of its pairs
     * stays large, and the few parallel regions per block cost little against them) */
    const size_t per_image = ((copies ? (size_t)R * E + (size_t)R * R : 0) + (size_t)R * L) * sizeof(float);
    size_t block = ((size_t)16 << 20) / per_image;
    if (block > 1024) block = 1024;
    if (block < 1) block = 1;
    if ((int)block > max_block) block = (size_t)max_block;
    s->g = g;
    s->cfg = cfg;
    s->cap = q->cap;
    s->L = L;
    s->block = (int)block;
    if (!(s->w = ua_sim_work_new(s->block, 1, R, L, E, 0, err))) return -1;
    s->tile = malloc(block * sizeof(float));
    if (copies) {
        s->img = malloc(block * R * E * sizeof(float));
        s->gram = malloc(block * R * R * sizeof(float));
    }
    if (cfg->direction != UA_T2I) s->cgram = malloc((size_t)L * L * sizeof(float));
    if (!s->tile || (copies && (!s->img || !s->gram)) || (cfg->direction != UA_T2I && !s->cgram)) {
        scorer_free(s);
        return ua_fail(err, "out of memory for a search block of %zu images (%d regions x %d dims)", block, R, E);
    }
    if (s->cgram) ua_gram(q->cap, L, E, s->cgram);
    return 0;
}

/* the scores of n images into s->tile: images first..first+n of the gallery (list NULL) or
 * list[first..first+n) */
static void scorer_block(image_scorer *s, const int *list, int first, int n)
{
    const ua_gallery *g = s->g;
    const int R = g->R, E = g->E;
    const size_t RE = (size_t)R * E, RR = (size_t)R * R;
    const float *img, *gram;
    if (!list && !g->half) {
        img = g->img + (size_t)first * RE;
        gram = g->img_gram + (size_t)first * RR;
    } else {
        for (int k = 0; k < n; k++) {
            const size_t row = (size_t)(list ? list[first + k] : first + k);
            if (g->half) {
                ua_half_decode(g->img_half + row * RE, s->img + (size_t)k * RE, RE);
                ua_half_decode(g->img_gram_half + row * RR, s->gram + (size_t)k * RR, RR);
            } else {
                memcpy(s->img + (size_t)k * RE, g->img + row * RE, RE * sizeof(float));
                memcpy(s->gram + (size_t)k * RR, g->img_gram + row * RR, RR * sizeof(float));
            }
        }
        img = s->img;
        gram = s->gram;
    }
    ua_sim_use_context_gram(s->w, s->cfg->direction == UA_T2I ? gram : s->cgram);
    ua_sim_block_forward(s->cfg, img, n, R, s->cap, 1, s->L, &s->L, E, s->tile, 1, s->w);
}

/* scores the n images (list NULL: the whole gallery; else list[0..n)) and keeps the best in t */
static int score_images(const ua_gallery *g, const ua_attn_cfg *cfg, const ua_embeddings *q, const int *list, int n,
                        ua_topk *t, ua_err *err)
{
    image_scorer s;
    if (scorer_init(&s, g, cfg, q, list != NULL || g->half, n, err)) return -1;
    int rc = 0;
    for (int i0 = 0; !rc && i0 < n; i0 += s.block) {
        const int b = n - i0 < s.block ? n - i0 : s.block;
        scorer_block(&s, list, i0, b);
        rc = check_scores(g, "", "image", s.tile, list, i0, b, err);
        for (int k = 0; !rc && k < b; k++) ua_topk_push(t, s.tile[k], list ? list[i0 + k] : i0 + k);
    }
    scorer_free(&s);
    return rc;
}

int ua_gallery_rank_images(const ua_gallery *g, const ua_attn_cfg *cfg, const ua_embeddings *q, int shortlist, int top_k,
                           int *ids, float *scores, ua_err *err)
{
    if (q->n_cap != 1 || !q->cap || q->cap_len[0] < 1) return ua_fail(err, "a text query is one encoded caption");
    if (q->E != g->E) return ua_fail(err, "a query of %d dims against an index of %d", q->E, g->E);
    const int scored = n_scored(shortlist, g->n_img);
    int *list = NULL, rc = -1;
    float *qg = NULL;
    ua_topk t;
    if (ua_topk_init(&t, n_kept(top_k, scored), err)) return -1;
    if (scored < g->n_img) {
        /* two stages: the shortlist by global embeddings, then the exact scores of its images
         * (gathered: the same products as the exhaustive search, so the same bits) */
        list = malloc((size_t)scored * sizeof(int));
        qg = malloc((size_t)g->E * sizeof(float));
        if (!list || !qg) { ua_fail(err, "out of memory for a shortlist of %d images", scored); goto out; }
        ua_caption_global(q->cap, q->cap_len[0], g->E, qg);
        if (shortlist_ids(g, "image", qg, g->img_glob, g->n_img, scored, list, err)) goto out;
    }
    if (score_images(g, cfg, q, list, scored, &t, err)) goto out;
    ua_topk_take(&t, ids, scores);
    rc = scored;
out:
    free(list);
    free(qg);
    ua_topk_free(&t);
    return rc;
}

int ua_gallery_rank_captions(const ua_gallery *g, const ua_attn_cfg *cfg, int row, int shortlist, int top_k, int *ids,
                             float *scores, ua_err *err)
{
    if (!g->cap) return ua_fail(err, "the index holds no captions (index it with --captions for image queries)");
    if (row < 0 || row >= g->n_img) return ua_fail(err, "image row %d: the index has %d images", row, g->n_img);
    const int R = g->R, E = g->E, scored = n_scored(shortlist, g->n_cap);
    float *img_buf = malloc((size_t)R * E * sizeof(float)), *gram_buf = malloc((size_t)R * R * sizeof(float));
    float *sims = malloc((size_t)scored * sizeof(float)), *cap = NULL;
    int *list = NULL, *len = NULL, *off = NULL, rc = -1;
    ua_topk t;
    if (ua_topk_init(&t, n_kept(top_k, scored), err)) {
        free(img_buf); free(gram_buf); free(sims);
        return -1;
    }
    if (!img_buf || !gram_buf || !sims) { ua_fail(err, "out of memory for the scores of %d captions", scored); goto out; }
    ua_embeddings e = {0};
    e.n_img = 1;
    e.R = R;
    e.E = E;
    e.img = (float *)ua_gallery_image(g, row, img_buf, &e.img_gram, gram_buf);
    e.max_len = g->max_len;
    if (scored == g->n_cap) {
        e.n_cap = g->n_cap;
        e.cap = (float *)g->cap;
        e.cap_len = g->cap_len;
        e.cap_offset = g->cap_offset;
    } else {
        const int K = scored;
        list = malloc((size_t)K * sizeof(int));
        cap = malloc((size_t)K * g->max_len * E * sizeof(float));
        len = malloc((size_t)K * sizeof(int));
        off = malloc(((size_t)K + 1) * sizeof(int));
        if (!list || !cap || !len || !off) { ua_fail(err, "out of memory for a shortlist of %d captions", K); goto out; }
        if (shortlist_ids(g, "caption", g->img_glob + (size_t)row * E, g->cap_glob, g->n_cap, K, list, err)) goto out;
        off[0] = 0;
        for (int k = 0; k < K; k++) {
            len[k] = g->cap_len[list[k]];
            off[k + 1] = off[k] + len[k];
            memcpy(cap + (size_t)off[k] * E, g->cap + (size_t)g->cap_offset[list[k]] * E, (size_t)len[k] * E * sizeof(float));
        }
        e.n_cap = K;
        e.cap = cap;
        e.cap_len = len;
        e.cap_offset = off;
    }
    /* all the captions (or the shortlist's) in the evaluation's caption blocks, as before: a
     * caption's score depends on the block it shares (its words are padded to the longest) */
    if (ua_similarity_matrix(cfg, &e, sims, err) || check_scores(g, "", "caption", sims, list, 0, scored, err)) goto out;
    for (int k = 0; k < scored; k++) ua_topk_push(&t, sims[k], list ? list[k] : k);
    ua_topk_take(&t, ids, scores);
    rc = scored;
out:
    ua_topk_free(&t);
    free(img_buf); free(gram_buf); free(sims); free(cap); free(list); free(len); free(off);
    return rc;
}
