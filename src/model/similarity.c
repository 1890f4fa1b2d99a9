/* Similarity of a block of images x captions (spec scan.md 2.6, 2.7 and 7.5): one GEMM gives
 * every region-word dot product of the block, the Gram matrices of the context items and the
 * query norms are computed once, then every (image, caption) pair runs the attention kernel
 * (attention.h) on its slice. The backward mirrors it: the pair kernels give dS, dGram and
 * d|query| per pair, and two GEMMs carry dS back to the embeddings. */
#include "core/gemm.h"
#include "model/attention_naaf_lanes.h"
#include "model/attention_scan_lanes.h"
#include "uarda/model.h"
#include "uarda/dots.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* the backward's pairs go in this many parts, each summing its own dG (sim_block_backward) */
enum { SIM_BACKWARD_PARTS = 32 };

struct ua_sim_work {
    int max_img, max_cap, R, L, E, n_threads;
    float *S, *dS;             /* [max_img * R, max_cap * L] */
    float *gram, *dgram;       /* per context item set: max(max_img * R * R, max_cap * L * L) */
    float *dgram_t;            /* SIM_BACKWARD_PARTS partial sums of dgram (the backward's private sums) */
    size_t gram_len;
    const float *gram_ext;     /* the next prepare's context Grams, computed by the caller (or NULL) */
    const float *G;            /* the prepared block's context Grams: gram or gram_ext */
    float *qgram;              /* the query items' smoothing weights (NAAF's test form: their Gram matrices,
                                  softmaxed row by row): like gram, the other side */
    const float *QG;           /* the prepared block's query Grams: qgram, or NULL when not needed */
    float *qn;                 /* query norms: max(max_cap * L, max_img * R) */
    float *dqn_part;           /* per (outer item) partial d|query|: max_img * max_cap * max(L, R) */
    float *pair_work;          /* n_threads x ua_attn_pair_work(max(R, L), max(R, L)) */
    size_t pair_work_len;
    /* the prepared block */
    int n_img, n_cap, t2i, blk_R, blk_L;
    size_t ldS;
    const int *lengths;
    double *col_t;             /* [max_cap] threshold each column was scored with */
    ua_sim_stats *thread_stats;/* [n_threads] */
    ua_sim_extra_grad extra;
    void *extra_ctx;
    int matched_offset;        /* the matched pairs are (image j + matched_offset, caption j) */
    int counting;              /* whether the thresholded forwards count their statistics (default 1) */
    int generic;               /* 1: SCAN's blocks too go through the generic kernel (ua_sim_set_generic) */
    int lanes;                 /* the prepared block is scored by a lanes kernel (attention_scan_lanes.h, attention_naaf_lanes.h) */
    int words_major;           /* the prepared block's S: rows are words (S[j*L + t][i*R + r]), or regions */
};

ua_sim_work *ua_sim_work_new(int max_img, int max_cap, int n_regions, int max_len, int embed, int backward, ua_err *err)
{
    /* the loaders refuse such inputs with the file's name (precomp.h); this guards every other way in */
    if (n_regions > UA_ATTN_MAX_ITEMS || max_len > UA_ATTN_MAX_ITEMS) {
        ua_fail(err, "a similarity block of %d regions per image and captions of up to %d words with <start> and "
                "<end>: the attention takes at most %d of either", n_regions, max_len, UA_ATTN_MAX_ITEMS);
        return NULL;
    }
    ua_sim_work *w = calloc(1, sizeof *w);
    if (!w) { ua_fail(err, "out of memory"); return NULL; }
    w->max_img = max_img;
    w->max_cap = max_cap;
    w->R = n_regions;
    w->L = max_len;
    w->E = embed;
    w->n_threads = omp_get_max_threads();
    w->counting = 1;
    size_t nS = (size_t)max_img * n_regions * (size_t)max_cap * max_len;
    size_t g1 = (size_t)max_img * n_regions * n_regions, g2 = (size_t)max_cap * max_len * max_len;
    size_t q1 = (size_t)max_cap * max_len, q2 = (size_t)max_img * n_regions;
    int m = n_regions > max_len ? n_regions : max_len;
    /* one pair: regions x words, either side the context (t2i, i2t) */
    size_t pw1 = ua_attn_pair_work(n_regions, max_len), pw2 = ua_attn_pair_work(max_len, n_regions);
    w->pair_work_len = pw1 > pw2 ? pw1 : pw2;
    if (!backward) {   /* a forward-only block may be scored by the lanes kernel, either side the context */
        const size_t l[4] = {ua_scan_lanes_work(n_regions, max_len), ua_scan_lanes_work(max_len, n_regions),
                             ua_naaf_lanes_work(n_regions, max_len), ua_naaf_lanes_work(max_len, n_regions)};
        for (int k = 0; k < 4; k++)
            if (l[k] > w->pair_work_len) w->pair_work_len = l[k];
    }
    w->gram_len = g1 > g2 ? g1 : g2;
    /* S and qn with UA_SCAN_LANES_PAD readable floats after them (the lanes kernel reads whole
     * vectors past a pair's last query), zeroed once so that those reads see defined memory */
    w->S = calloc(nS + UA_SCAN_LANES_PAD, sizeof(float));
    w->gram = malloc(w->gram_len * sizeof(float));
    w->qgram = malloc(w->gram_len * sizeof(float));
    w->qn = calloc((q1 > q2 ? q1 : q2) + UA_SCAN_LANES_PAD, sizeof(float));
    w->pair_work = malloc((size_t)w->n_threads * w->pair_work_len * sizeof(float));
    w->col_t = calloc((size_t)max_cap, sizeof(double));
    w->thread_stats = calloc((size_t)w->n_threads, sizeof(ua_sim_stats));
    if (backward) {
        w->dS = malloc(nS * sizeof(float));
        w->dgram = malloc(w->gram_len * sizeof(float));
        w->dgram_t = malloc((size_t)SIM_BACKWARD_PARTS * w->gram_len * sizeof(float));
        w->dqn_part = malloc((size_t)max_img * max_cap * (size_t)m * sizeof(float));
    }
    if (!w->S || !w->gram || !w->qgram || !w->qn || !w->pair_work || !w->col_t || !w->thread_stats ||
        (backward && (!w->dS || !w->dgram || !w->dgram_t || !w->dqn_part))) {
        /* what was asked for, so that the input to blame can be seen (a huge batch, a long caption) */
        double gl = (double)w->gram_len, nt = w->n_threads;
        double floats = (backward ? 2.0 : 1.0) * ((double)nS + gl) + gl + (double)(q1 > q2 ? q1 : q2) +
                        nt * (double)w->pair_work_len +
                        (backward ? SIM_BACKWARD_PARTS * gl + (double)max_img * max_cap * m : 0);
        ua_sim_work_free(w);
        ua_fail(err, "out of memory for a similarity block of %d images x %d captions (%d regions per image, captions "
                "of up to %d words with <start> and <end>, %s): %.3g GB", max_img, max_cap, n_regions, max_len,
                backward ? "forward and backward" : "forward", floats * sizeof(float) / 1e9);
        return NULL;
    }
    return w;
}

void ua_sim_work_free(ua_sim_work *w)
{
    if (!w) return;
    free(w->S); free(w->dS); free(w->gram); free(w->qgram); free(w->dgram); free(w->qn); free(w->dqn_part); free(w->pair_work);
    free(w->col_t); free(w->thread_stats); free(w->dgram_t);
    free(w);
}

static float norm_of(const float *x, int d)
{
    double s = 0;
    for (int k = 0; k < d; k++) s += (double)x[k] * x[k];
    return (float)sqrt(s);
}

void ua_sim_set_extra_grad(ua_sim_work *w, ua_sim_extra_grad fn, void *ctx)
{
    w->extra = fn;
    w->extra_ctx = ctx;
}

int ua_sim_stats_sum_ranks(ua_sim_stats *s, const ua_dist *d, ua_err *err)
{
    long long v[6] = {s->queries, s->irrelevant, s->entries, s->masked, s->matched_queries, s->matched_irrelevant};
    if (ua_dist_sum_i64(d, v, 6, err)) return -1;
    *s = (ua_sim_stats){v[0], v[1], v[2], v[3], v[4], v[5]};
    return 0;
}

void ua_sim_set_matched_offset(ua_sim_work *w, int offset) { w->matched_offset = offset; }

void ua_sim_set_counting(ua_sim_work *w, int on) { w->counting = on != 0; }

void ua_sim_set_generic(ua_sim_work *w, int on) { w->generic = on != 0; }

void ua_gram(const float *X, int n, int E, float *G)
{
    ua_sgemm(CblasNoTrans, CblasTrans, n, n, E, 1.0f, X, E, X, E, 0.0f, G, n);
}

void ua_sim_use_context_gram(ua_sim_work *w, const float *gram) { w->gram_ext = gram; }

void ua_sim_stats_reset(ua_sim_work *w) { memset(w->thread_stats, 0, (size_t)w->n_threads * sizeof(ua_sim_stats)); }

void ua_sim_stats_add(ua_sim_stats *a, const ua_sim_stats *b)
{
    a->queries += b->queries;
    a->irrelevant += b->irrelevant;
    a->entries += b->entries;
    a->masked += b->masked;
    a->matched_queries += b->matched_queries;
    a->matched_irrelevant += b->matched_irrelevant;
}

void ua_sim_stats_get(const ua_sim_work *w, ua_sim_stats *out)
{
    memset(out, 0, sizeof *out);
    for (int t = 0; t < w->n_threads; t++) ua_sim_stats_add(out, &w->thread_stats[t]);
}

float ua_sim_word_max(const ua_sim_work *w, int image, int caption, int word)
{
    const float *row;
    size_t stride;
    if (w->words_major) { row = w->S + ((size_t)caption * w->blk_L + word) * w->ldS + (size_t)image * w->blk_R; stride = 1; }
    else { row = w->S + (size_t)image * w->blk_R * w->ldS + (size_t)caption * w->blk_L + word; stride = w->ldS; }
    float m = row[0];
    for (int r = 1; r < w->blk_R; r++) if (row[r * stride] > m) m = row[r * stride];
    return m;
}

void ua_sim_add_word_max_grad(ua_sim_work *w, int image, int caption, int word, float g)
{
    size_t base, stride;
    if (w->words_major) { base = ((size_t)caption * w->blk_L + word) * w->ldS + (size_t)image * w->blk_R; stride = 1; }
    else { base = (size_t)image * w->blk_R * w->ldS + (size_t)caption * w->blk_L + word; stride = w->ldS; }
    int best = 0;
    for (int r = 1; r < w->blk_R; r++) if (w->S[base + r * stride] > w->S[base + (size_t)best * stride]) best = r;
    w->dS[base + (size_t)best * stride] += g;
}

void ua_sim_block_forward(const ua_attn_cfg *cfg, const float *img_emb, int n_img, int R, const float *cap_emb,
                          int n_cap, int L, const int *lengths, int E, float *scores, size_t ld, ua_sim_work *w)
{
    ua_sim_block_prepare(cfg, img_emb, n_img, R, cap_emb, n_cap, L, lengths, E, w);
    ua_sim_block_columns(cfg, 0, n_cap, scores, ld, w);
}

void ua_sim_block_prepare(const ua_attn_cfg *cfg, const float *img_emb, int n_img, int R, const float *cap_emb,
                          int n_cap, int L, const int *lengths, int E, ua_sim_work *w)
{
    /* The block's dot products, laid out for the kernel that scores it. The generic kernel wants
     * each pair's context items contiguous: t2i (context = regions) S[j*L + t][i*R + r], i2t
     * (context = words) S[i*R + r][j*L + t]. The lanes kernel (a forward-only block of SCAN's
     * attention) wants the queries contiguous, which is the other direction's layout. */
    const int t2i = cfg->direction == UA_T2I;
    const int lanes = !w->dS && !w->generic && (ua_scan_lanes_ok(cfg) || cfg->score == UA_SCORE_NAAF);
    const int words_major = t2i != lanes;
    const size_t ldS = words_major ? (size_t)n_img * R : (size_t)n_cap * L;
    /* a forward-only block (evaluation) cuts its product into one part per thread (gemm.h) */
    const int parts = w->dS ? UA_GEMM_PARTS_PER_THREAD : 1;
    if (n_cap * L <= UA_FEW_ROWS)  /* a search query: no GEMM packing of the whole gallery block */
        ua_dots_few(cap_emb, n_cap * L, img_emb, (long long)n_img * R, E, w->S, words_major ? ldS : 1,
                    words_major ? 1 : ldS);
    else if (words_major)
        ua_sgemm_parts(parts, CblasNoTrans, CblasTrans, n_cap * L, n_img * R, E, 1.0f, cap_emb, E, img_emb, E,
                       0.0f, w->S, (int)ldS);
    else
        ua_sgemm_parts(parts, CblasNoTrans, CblasTrans, n_img * R, n_cap * L, E, 1.0f, img_emb, E, cap_emb, E,
                       0.0f, w->S, (int)ldS);
    w->G = w->gram_ext ? w->gram_ext : w->gram;
    if (t2i) {
        for (int i = 0; i < n_img && !w->gram_ext; i++)
            ua_gram(img_emb + (size_t)i * R * E, R, E, w->gram + (size_t)i * R * R);
        for (int j = 0; j < n_cap; j++)
            for (int t = 0; t < lengths[j]; t++)
                w->qn[(size_t)j * L + t] = norm_of(cap_emb + ((size_t)j * L + t) * E, E);
    } else {
        for (int j = 0; j < n_cap && !w->gram_ext; j++)
            ua_gram(cap_emb + (size_t)j * L * E, lengths[j], E, w->gram + (size_t)j * L * L);
        for (size_t r = 0; r < (size_t)n_img * R; r++) w->qn[r] = norm_of(img_emb + r * E, E);
    }
    /* NAAF's test form smooths over the query items: their smoothing weights, once per item (t2i
     * a caption's words, lengths[j] x lengths[j] at j * L * L; i2t an image's regions) */
    w->QG = NULL;
    if (ua_attn_needs_query_gram(&cfg->opt)) {
        if (t2i)
            for (int j = 0; j < n_cap; j++) {
                float *h = w->qgram + (size_t)j * L * L;
                ua_gram(cap_emb + (size_t)j * L * E, lengths[j], E, h);
                ua_attn_query_smoothing(h, lengths[j], h);
            }
        else
            for (int i = 0; i < n_img; i++) {
                float *h = w->qgram + (size_t)i * R * R;
                ua_gram(img_emb + (size_t)i * R * E, R, E, h);
                ua_attn_query_smoothing(h, R, h);
            }
        w->QG = w->qgram;
    }
    w->gram_ext = NULL;
    w->n_img = n_img;
    w->n_cap = n_cap;
    w->t2i = t2i;
    w->lanes = lanes;
    w->words_major = words_major;
    w->ldS = ldS;
    w->lengths = lengths;
    w->blk_R = R;
    w->blk_L = L;
}

void ua_sim_block_columns(const ua_attn_cfg *cfg, int j0, int j1, float *scores, size_t ld, ua_sim_work *w)
{
    const int R = w->blk_R, L = w->blk_L, n_img = w->n_img, t2i = w->t2i;
    const size_t ldS = w->ldS;
    const int *lengths = w->lengths;
    const int counting = w->counting &&
                         (cfg->irr != UA_IRR_SCAN || cfg->mask != UA_MASK_OFF || cfg->score == UA_SCORE_NAAF);
    const int naaf = cfg->score == UA_SCORE_NAAF;
    for (int j = j0; j < j1; j++) w->col_t[j] = cfg->threshold;
    /* consecutive pairs of a thread read neighbouring memory of S: with words-major rows, the
     * images of a caption (same rows, next columns); with region-major rows, the captions of an image */
    const int images_fastest = w->words_major;
    const int n_cols = j1 - j0;
    /* a few pairs (a search query over a small gallery) run on the calling thread: waking a
     * sleeping thread costs tens of microseconds, a pair of 36 regions x 12 words about one */
    const long long cells = (long long)n_img * n_cols * R * L;
    /* dynamic: a thread that shares its CPU with other work takes fewer pairs (each pair is scored
     * alone, so the schedule cannot change a bit) */
    #pragma omp parallel for schedule(dynamic, 16) if (cells >= (1LL << 15))
    for (long long p = 0; p < (long long)n_img * n_cols; p++) {
            int i = images_fastest ? (int)(p % n_img) : (int)(p / n_cols);
            int j = j0 + (images_fastest ? (int)(p / n_img) : (int)(p % n_cols));
            int tid = omp_get_thread_num();
            float *work = w->pair_work + (size_t)tid * w->pair_work_len;
            float s;
            int c, q;
            int lane_counts[2], *lc = counting ? lane_counts : NULL;   /* a lanes kernel counts as it goes */
            if (w->lanes && naaf) {   /* as below; the query items' smoothing weights for the test form */
                c = t2i ? R : lengths[j], q = t2i ? lengths[j] : R;
                s = t2i ? ua_naaf_lanes_forward(cfg, w->S + (size_t)i * R * ldS + (size_t)j * L, ldS, R, lengths[j],
                                                w->G + (size_t)i * R * R, w->QG ? w->QG + (size_t)j * L * L : NULL,
                                                work, lc)
                        : ua_naaf_lanes_forward(cfg, w->S + (size_t)j * L * ldS + (size_t)i * R, ldS, lengths[j], R,
                                                w->G + (size_t)j * L * L, w->QG ? w->QG + (size_t)i * R * R : NULL,
                                                work, lc);
            } else if (w->lanes) {   /* the queries along S's rows: t2i region-major, i2t words-major */
                c = t2i ? R : lengths[j], q = t2i ? lengths[j] : R;
                s = t2i ? ua_scan_lanes_forward(cfg, w->S + (size_t)i * R * ldS + (size_t)j * L, ldS, R, lengths[j],
                                                w->G + (size_t)i * R * R, w->qn + (size_t)j * L, work)
                        : ua_scan_lanes_forward(cfg, w->S + (size_t)j * L * ldS + (size_t)i * R, ldS, lengths[j], R,
                                                w->G + (size_t)j * L * L, w->qn + (size_t)i * R, work);
            } else if (t2i) {
                c = R, q = lengths[j];
                s = ua_attn_pair_forward_smoothed(cfg, w->S + (size_t)j * L * ldS + (size_t)i * R, 1, ldS, R, lengths[j],
                                               w->G + (size_t)i * R * R, w->QG ? w->QG + (size_t)j * L * L : NULL,
                                               w->qn + (size_t)j * L, NULL, work);
            } else {
                c = lengths[j], q = R;
                s = ua_attn_pair_forward_smoothed(cfg, w->S + (size_t)i * R * ldS + (size_t)j * L, 1, ldS, lengths[j], R,
                                               w->G + (size_t)j * L * L, w->QG ? w->QG + (size_t)i * R * R : NULL,
                                               w->qn + (size_t)i * R, NULL, work);
            }
            scores[(size_t)i * ld + j] = s;
            if (counting) {
                int n_irr, n_masked;
                if (w->lanes) n_irr = lane_counts[0], n_masked = lane_counts[1];
                else ua_attn_pair_counts(cfg, work, c, q, &n_irr, &n_masked);
                ua_sim_stats *st = &w->thread_stats[tid];
                st->queries += q;
                st->irrelevant += n_irr;
                st->entries += (long long)c * q;
                st->masked += n_masked;
                if (i == j + w->matched_offset) { st->matched_queries += q; st->matched_irrelevant += n_irr; }
            }
        }
}

/* G = X X^T (n x n, X n x E): dX += (dG + dG^T) X (dG is symmetrised in place) */
static void gram_backward(float *dG, int n, const float *X, float *dX, int E)
{
    for (int a = 0; a < n; a++)
        for (int b = a; b < n; b++) {
            float s = dG[a * n + b] + dG[b * n + a];
            dG[a * n + b] = s;
            dG[b * n + a] = s;
        }
    ua_sgemm(CblasNoTrans, CblasNoTrans, n, E, n, 1.0f, dG, n, X, E, 1.0f, dX, E);
}

void ua_sim_block_backward(const ua_attn_cfg *cfg, const float *img_emb, int n_img, int R, const float *cap_emb,
                           int n_cap, int L, const int *lengths, int E, const float *d_scores, size_t ld,
                           float *d_img_emb, float *d_cap_emb, ua_sim_work *w)
{
    const int t2i = cfg->direction == UA_T2I;
    const size_t ldS = t2i ? (size_t)n_img * R : (size_t)n_cap * L;
    memset(w->dS, 0, (size_t)n_img * R * (size_t)n_cap * L * sizeof(float));
    /* Each thread walks whole rows of S (t2i: the images of its captions; i2t: the captions of
     * its images) and sums its Gram gradients privately; the private sums are added in thread
     * order afterwards (the same bits for a given thread count). */
    const int outer = t2i ? n_cap : n_img, inner = t2i ? n_img : n_cap;
    const int gc = t2i ? R : L;                    /* context items per Gram matrix */
    const int n_gram = t2i ? n_img : n_cap;
    const size_t gsz = (size_t)gc * gc, part = t2i ? (size_t)n_cap * L : (size_t)n_img * R;
    memset(w->dqn_part, 0, (size_t)(t2i ? n_img : n_cap) * part * sizeof(float));
    for (int k = 0; k < SIM_BACKWARD_PARTS; k++)
        memset(w->dgram_t + (size_t)k * w->gram_len, 0, (size_t)n_gram * gsz * sizeof(float));
    #pragma omp parallel
    {
        int tid = omp_get_thread_num();
        float *work = w->pair_work + (size_t)tid * w->pair_work_len;
        ua_attn_cfg cj = *cfg;
        /* the outer items in SIM_BACKWARD_PARTS fixed parts, each with its own partial dG, taken
         * by whichever thread is free (a thread that shares its CPU does fewer) and summed in
         * part order: the same bits whatever the schedule and the number of threads */
        #pragma omp for schedule(dynamic, 1)
        for (int part_k = 0; part_k < SIM_BACKWARD_PARTS; part_k++)
        for (int a = (int)((long long)outer * part_k / SIM_BACKWARD_PARTS);
             a < (int)((long long)outer * (part_k + 1) / SIM_BACKWARD_PARTS); a++) {
            float *dgram = w->dgram_t + (size_t)part_k * w->gram_len;
            for (int b = 0; b < inner; b++) {
                int i = t2i ? b : a, j = t2i ? a : b;
                cj.threshold = w->col_t[j];
                if (t2i) {
                    size_t o = (size_t)j * L * ldS + (size_t)i * R;
                    ua_attn_pair_backward_smoothed(&cj, w->S + o, 1, ldS, R, lengths[j], w->G + (size_t)i * R * R,
                                          w->QG ? w->QG + (size_t)j * L * L : NULL, w->qn + (size_t)j * L, d_scores[(size_t)i * ld + j], w->dS + o,
                                          dgram + (size_t)i * gsz, w->dqn_part + (size_t)i * part + (size_t)j * L, work);
                } else {
                    size_t o = (size_t)i * R * ldS + (size_t)j * L;
                    ua_attn_pair_backward_smoothed(&cj, w->S + o, 1, ldS, lengths[j], R, w->G + (size_t)j * L * L,
                                          w->QG ? w->QG + (size_t)i * R * R : NULL, w->qn + (size_t)i * R, d_scores[(size_t)i * ld + j], w->dS + o,
                                          dgram + (size_t)j * gsz, w->dqn_part + (size_t)j * part + (size_t)i * R, work);
                }
            }
        }
    }
    for (size_t k = 0; k < (size_t)n_gram * gsz; k++) {
        float acc = 0;
        for (int p = 0; p < SIM_BACKWARD_PARTS; p++) acc += w->dgram_t[(size_t)p * w->gram_len + k];
        w->dgram[k] = acc;
    }
    if (w->extra) w->extra(w->extra_ctx, w);
    if (t2i) {  /* dS is [words, regions]: dU += dS V, dV += dS^T U */
        ua_sgemm(CblasNoTrans, CblasNoTrans, n_cap * L, E, n_img * R, 1.0f, w->dS, (int)ldS, img_emb,
                    E, 1.0f, d_cap_emb, E);
        ua_sgemm(CblasTrans, CblasNoTrans, n_img * R, E, n_cap * L, 1.0f, w->dS, (int)ldS, cap_emb,
                    E, 1.0f, d_img_emb, E);
    } else {    /* dS is [regions, words]: dV += dS U, dU += dS^T V */
        ua_sgemm(CblasNoTrans, CblasNoTrans, n_img * R, E, n_cap * L, 1.0f, w->dS, (int)ldS, cap_emb,
                    E, 1.0f, d_img_emb, E);
        ua_sgemm(CblasTrans, CblasNoTrans, n_cap * L, E, n_img * R, 1.0f, w->dS, (int)ldS, img_emb,
                    E, 1.0f, d_cap_emb, E);
    }
    if (t2i) {
        /* G_i = V_i V_i^T: dV_i += (dG + dG^T) V_i */
        for (int i = 0; i < n_img; i++)
            gram_backward(w->dgram + (size_t)i * R * R, R, img_emb + (size_t)i * R * E, d_img_emb + (size_t)i * R * E, E);
        /* word norms: sum the per-image partials in a fixed order, then d|u| u / |u| */
        #pragma omp parallel for schedule(dynamic, 16)
        for (int j = 0; j < n_cap; j++)
            for (int t = 0; t < lengths[j]; t++) {
                size_t wi = (size_t)j * L + t;
                float g = 0;
                for (int i = 0; i < n_img; i++) g += w->dqn_part[(size_t)i * n_cap * L + wi];
                float n = w->qn[wi];
                if (n > 0) {
                    const float *u = cap_emb + wi * E;
                    float *du = d_cap_emb + wi * E;
                    for (int k = 0; k < E; k++) du[k] += g * u[k] / n;
                }
            }
    } else {
        for (int j = 0; j < n_cap; j++)
            gram_backward(w->dgram + (size_t)j * L * L, lengths[j], cap_emb + (size_t)j * L * E,
                          d_cap_emb + (size_t)j * L * E, E);
        #pragma omp parallel for schedule(dynamic, 256)
        for (size_t r = 0; r < (size_t)n_img * R; r++) {
            float g = 0;
            for (int j = 0; j < n_cap; j++) g += w->dqn_part[(size_t)j * n_img * R + r];
            float n = w->qn[r];
            if (n > 0) {
                const float *v = img_emb + r * E;
                float *dv = d_img_emb + r * E;
                for (int k = 0; k < E; k++) dv[k] += g * v[k] / n;
            }
        }
    }
}
