/* Word-region similarity samples and one pair's attention map, for `uarda plot` (eval.h). */
#include "uarda/eval.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* captions [0, n_cap) and every image in use, encoded */
static int encode_first(const ua_model *m, const ua_split *s, int max_captions, ua_embeddings *e, int *n_img,
                        const ua_progress_cb *progress, ua_err *err)
{
    int n_cap = s->n_items;
    if (max_captions > 0 && max_captions < n_cap) n_cap = max_captions;
    *n_img = ua_split_images_used(s);
    if (n_cap < 1) return ua_fail(err, "split %s has no captions", s->name);
    if (*n_img < 2)
        return ua_fail(err, "split %s has %d image: mismatched pairs need at least two", s->name, *n_img);
    return ua_encode_split(m, s, 0, *n_img, 0, n_cap, e, progress, err);
}

/* M[w][r] = u_w . v_r for the rows [row0, row0 + n_rows) of e->cap against image i, then the
 * max over r of each row into out[] */
static void max_over_regions(const ua_embeddings *e, int row0, int n_rows, int image, float *M, float *out)
{
    const int R = e->R, E = e->E;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_rows, R, E, 1.0f, e->cap + (size_t)row0 * E, E,
                e->img + (size_t)image * R * E, E, 0.0f, M, R);
    for (int w = 0; w < n_rows; w++) {
        const float *row = M + (size_t)w * R;
        float mx = row[0];
        for (int r = 1; r < R; r++)
            if (row[r] > mx) mx = row[r];
        out[w] = mx;
    }
}

/* rows of the captions of image i among the first n_cap: [*row0, *row0 + *n_rows) */
static int image_rows(const ua_embeddings *e, const ua_split *s, int i, int *row0, int *n_rows)
{
    int c0 = i * s->im_div, c1 = c0 + s->im_div;
    if (c1 > e->n_cap) c1 = e->n_cap;
    if (c0 >= c1) return 0;
    *row0 = e->cap_offset[c0];
    *n_rows = e->cap_offset[c1] - *row0;
    return 1;
}

int ua_relevance_samples(const ua_model *m, const ua_split *s, int max_captions, float **pos, int *n_pos,
                         float **neg, int *n_neg, const ua_progress_cb *progress, ua_err *err)
{
    *pos = *neg = NULL;
    *n_pos = *n_neg = 0;
    ua_embeddings e;
    int n_img;
    if (encode_first(m, s, max_captions, &e, &n_img, progress, err)) return -1;
    int total = e.cap_offset[e.n_cap], most = 1;
    for (int i = 0; i < n_img; i++) {
        int row0, n_rows;
        if (image_rows(&e, s, i, &row0, &n_rows) && n_rows > most) most = n_rows;
    }
    float *P = malloc((size_t)total * sizeof(float) + 1), *Q = malloc((size_t)total * sizeof(float) + 1);
    float *M = malloc((size_t)most * e.R * sizeof(float));
    if (!P || !Q || !M) {
        free(P);
        free(Q);
        free(M);
        ua_embeddings_free(&e);
        return ua_fail(err, "out of memory for %d similarity samples", total);
    }
    for (int i = 0; i < n_img; i++) {
        int row0, n_rows;
        if (!image_rows(&e, s, i, &row0, &n_rows)) break;
        max_over_regions(&e, row0, n_rows, i, M, P + row0);
        max_over_regions(&e, row0, n_rows, (i + 1) % n_img, M, Q + row0);
    }
    free(M);
    ua_embeddings_free(&e);
    *pos = P;
    *neg = Q;
    *n_pos = *n_neg = total;
    return 0;
}

/* the 0/1 flags of captions [0, n_cap) of a grounding file, concatenated: caption c has
 * ua_caption_len - 2 of them (its tokens without <start>/<end>) */
static int read_grounding(const char *path, const ua_split *s, int n_cap, unsigned char **flags, ua_err *err)
{
    *flags = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return ua_fail(err, "%s: cannot open the grounding file", path);
    long long total = 0;
    for (int c = 0; c < n_cap; c++) total += ua_caption_len(&s->caps, c) - 2;
    unsigned char *fl = malloc((size_t)total + 1);
    if (!fl) { fclose(f); return ua_fail(err, "%s: out of memory", path); }
    long long at = 0;
    int line = 0, ch = 0, rc = -1;
    while (line < n_cap) {
        int want = ua_caption_len(&s->caps, line) - 2, got = 0;
        for (;;) {
            ch = fgetc(f);
            if (ch == EOF || ch == '\n') break;
            if (ch == ' ' || ch == '\t' || ch == '\r') continue;
            if (ch != '0' && ch != '1') {
                ua_fail(err, "%s:%d: '%c' is not a 0/1 grounding flag", path, line + 1, ch);
                goto out;
            }
            if (got < want) fl[at + got] = (unsigned char)(ch - '0');
            got++;
        }
        if (ch == EOF && got == 0) {
            ua_fail(err, "%s: %d lines, the split has %d captions in use", path, line, n_cap);
            goto out;
        }
        if (got != want) {
            ua_fail(err, "%s:%d: %d grounding flags for a caption of %d tokens", path, line + 1, got, want);
            goto out;
        }
        at += want;
        line++;
        if (ch == EOF) break;
    }
    if (line < n_cap) {
        ua_fail(err, "%s: %d lines, the split has %d captions in use", path, line, n_cap);
        goto out;
    }
    rc = 0;
out:
    fclose(f);
    if (rc) free(fl);
    else *flags = fl;
    return rc;
}

int ua_grounding_samples(const ua_model *m, const ua_split *s, const char *grounding_path, int max_captions,
                         float **grounded, int *n_grounded, float **ungrounded, int *n_ungrounded,
                         const ua_progress_cb *progress, ua_err *err)
{
    *grounded = *ungrounded = NULL;
    *n_grounded = *n_ungrounded = 0;
    float *P, *Q;
    int n_p, n_q;
    /* the matched-pair maxima of every token, then split by the flags */
    if (ua_relevance_samples(m, s, max_captions, &P, &n_p, &Q, &n_q, progress, err)) return -1;
    free(Q);
    int n_cap = s->n_items;
    if (max_captions > 0 && max_captions < n_cap) n_cap = max_captions;
    unsigned char *fl;
    if (read_grounding(grounding_path, s, n_cap, &fl, err)) { free(P); return -1; }
    float *G = malloc((size_t)n_p * sizeof(float) + 1), *U = malloc((size_t)n_p * sizeof(float) + 1);
    if (!G || !U) {
        free(G);
        free(U);
        free(P);
        free(fl);
        return ua_fail(err, "out of memory for %d similarity samples", n_p);
    }
    long long row = 0, at = 0;
    int ng = 0, nu = 0;
    for (int c = 0; c < n_cap; c++) {
        int len = ua_caption_len(&s->caps, c);
        for (int k = 1; k < len - 1; k++) { /* skip <start> and <end> */
            float v = P[row + k];
            if (fl[at + k - 1]) G[ng++] = v;
            else U[nu++] = v;
        }
        row += len;
        at += len - 2;
    }
    free(P);
    free(fl);
    *grounded = G;
    *ungrounded = U;
    *n_grounded = ng;
    *n_ungrounded = nu;
    return 0;
}

int ua_attention_of_pair(const ua_attn_cfg *cfg, const float *img, int R, const float *cap, int L, int E, float *attn,
                         float *max_sim, ua_err *err)
{
    float *S = malloc((size_t)R * L * sizeof(float)), *G = malloc((size_t)R * R * sizeof(float));
    float *qn = malloc((size_t)L * sizeof(float)), *work = malloc(ua_attn_pair_work(R, L) * sizeof(float));
    if (!S || !G || !qn || !work) {
        free(S); free(G); free(qn); free(work);
        return ua_fail(err, "out of memory for an attention map");
    }
    /* context = regions, query = words: S[r][w] = v_r . u_w, G = V V^T, qn = |u_w| */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, L, E, 1.0f, img, E, cap, E, 0.0f, S, L);
    ua_gram(img, R, E, G);
    for (int w = 0; w < L; w++) {
        double ss = 0;
        for (int k = 0; k < E; k++) ss += (double)cap[(size_t)w * E + k] * cap[(size_t)w * E + k];
        qn[w] = (float)sqrt(ss);
    }
    ua_attn_cfg c = *cfg;
    c.direction = UA_T2I;
    c.skip = 0;
    c.form = UA_FORM_TRAIN;   /* NAAF: the feature part's weights are the same in both forms */
    ua_attn_pair_forward(&c, S, (size_t)L, 1, R, L, G, qn, NULL, work);
    const float *W = ua_attn_pair_weights(work, R, L);
    for (int w = 0; w < L; w++) {
        float best = S[w];
        for (int r = 1; r < R; r++)
            if (S[(size_t)r * L + w] > best) best = S[(size_t)r * L + w];
        if (max_sim) max_sim[w] = best;
        int relevant = (c.irr == UA_IRR_SCAN && c.score != UA_SCORE_NAAF) || best > (float)c.threshold;
        for (int r = 0; r < R; r++) attn[(size_t)w * R + r] = relevant ? W[(size_t)w * R + r] : NAN; /* query-major */
    }
    free(S); free(G); free(qn); free(work);
    return 0;
}

int ua_attention_map(const ua_model *m, const ua_split *s, int caption, const ua_attn_cfg *cfg, float **attn,
                     float **max_sim, int *n_words, int *n_regions, ua_err *err)
{
    *attn = *max_sim = NULL;
    *n_words = *n_regions = 0;
    if (caption < 0 || caption >= s->n_items)
        return ua_fail(err, "split %s: caption %d is out of range (0..%d)", s->name, caption, s->n_items - 1);
    ua_embeddings e;
    int image = ua_split_image_of(s, caption);
    if (ua_encode_split(m, s, image, 1, caption, 1, &e, NULL, err)) return -1;
    const int R = e.R, L = e.cap_len[0];
    float *A = malloc((size_t)L * R * sizeof(float)), *mx = malloc((size_t)L * sizeof(float));
    if (!A || !mx || ua_attention_of_pair(cfg, e.img, R, e.cap, L, e.E, A, mx, err)) {
        if (!A || !mx) ua_fail(err, "out of memory for an attention map");
        free(A); free(mx);
        ua_embeddings_free(&e);
        return -1;
    }
    ua_embeddings_free(&e);
    *attn = A;
    *max_sim = mx;
    *n_words = L;
    *n_regions = R;
    return 0;
}
