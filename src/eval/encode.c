/* Encoding a split (or given images and captions) for evaluation, scoring and search. */
#include "uarda/eval.h"
#include "uarda/finite.h"

#include <stdlib.h>
#include <string.h>

enum { ENCODE_CHUNK = 128 };

void ua_embeddings_free(ua_embeddings *e)
{
    if (!e) return;
    free(e->img);
    free(e->cap_offset);
    free(e->cap_len);
    free(e->cap);
    memset(e, 0, sizeof *e);
}

ua_embeddings ua_embeddings_caption(const ua_embeddings *e, int j, int off[2])
{
    ua_embeddings q = {0};
    q.E = e->E;
    q.R = e->R;
    q.n_cap = 1;
    q.cap_len = e->cap_len + j;
    off[0] = 0;
    off[1] = e->cap_len[j];
    q.cap_offset = off;
    q.cap = e->cap + (size_t)e->cap_offset[j] * e->E;
    q.max_len = e->cap_len[j];
    return q;
}

/* images: [n_img, R, img_dim], image numbers counted from first in messages about name's regions */
static int encode_images(const ua_model *m, const float *images, int n_img, int R, int first, const char *name,
                         ua_embeddings *out, const ua_progress_cb *progress, ua_err *err)
{
    const size_t E = (size_t)m->opt.embed_size, D = (size_t)m->opt.img_dim;
    out->n_img = n_img;
    out->R = R;
    out->E = (int)E;
    out->img = malloc((size_t)n_img * R * E * sizeof(float) + 1);
    float *pre = malloc((size_t)ENCODE_CHUNK * R * E * sizeof(float));
    if (!out->img || !pre) { free(pre); return ua_fail(err, "out of memory for %d image embeddings (%d regions x %zu dims)", n_img, R, E); }
    for (int i0 = 0; i0 < n_img; i0 += ENCODE_CHUNK) {
        int n = n_img - i0 < ENCODE_CHUNK ? n_img - i0 : ENCODE_CHUNK;
        /* a split's features are checked here, as they are read; ua_encode's caller checks its
         * own (score and index do, naming their file), so that no image is scanned twice */
        if (name && ua_check_regions_finite(images + (size_t)i0 * R * D, n, R, (int)D, first + i0, name, err)) {
            free(pre);
            return -1;
        }
        ua_image_encoder_forward(m, images + (size_t)i0 * R * D, (size_t)n * R, pre, out->img + (size_t)i0 * R * E);
        ua_progress_report(progress, "encoding images", i0 + n < n_img ? i0 + n : n_img, n_img);
    }
    free(pre);
    return 0;
}

/* captions [first, first + n) of caps, in chunks sorted by length as the GRU needs */
static int encode_captions(const ua_model *m, const ua_captions *caps, int first, int n, ua_embeddings *out,
                           const ua_progress_cb *progress, ua_err *err)
{
    const size_t E = (size_t)m->opt.embed_size;
    out->E = (int)E;
    out->n_cap = n;
    out->cap_offset = malloc(((size_t)n + 1) * sizeof(int));
    out->cap_len = malloc((size_t)n * sizeof(int) + 1);
    if (!out->cap_offset || !out->cap_len) return ua_fail(err, "out of memory for the lengths of %d captions", n);
    out->cap_offset[0] = 0;
    int max_len = 1;
    for (int j = 0; j < n; j++) {
        int len = ua_caption_len(caps, first + j);
        out->cap_len[j] = len;
        out->cap_offset[j + 1] = out->cap_offset[j] + len;
        if (len > max_len) max_len = len;
    }
    out->max_len = max_len;
    out->cap = malloc((size_t)out->cap_offset[n] * E * sizeof(float) + 1);
    ua_text_work *tw = ua_text_work_new(m, ENCODE_CHUNK, max_len, err);
    int *order = malloc(ENCODE_CHUNK * sizeof(int)), *lengths = malloc(ENCODE_CHUNK * sizeof(int));
    int *tokens = malloc((size_t)ENCODE_CHUNK * max_len * sizeof(int));
    float *emb = malloc((size_t)ENCODE_CHUNK * max_len * E * sizeof(float));
    int rc = 0;
    if (!out->cap || !tw || !order || !lengths || !tokens || !emb) {
        rc = tw ? ua_fail(err, "out of memory for %d caption embeddings (%d tokens in all, up to %d a caption, %zu dims)", n,
                           out->cap_offset[n], max_len, E)
                 : -1;
        goto done;
    }
    for (int j0 = 0; j0 < n && !rc; j0 += ENCODE_CHUNK) {
        int b = n - j0 < ENCODE_CHUNK ? n - j0 : ENCODE_CHUNK;
        /* stable sort of the chunk by length, descending */
        for (int k = 0; k < b; k++) {
            int len = out->cap_len[j0 + k], p = k;
            while (p > 0 && out->cap_len[j0 + order[p - 1]] < len) { order[p] = order[p - 1]; p--; }
            order[p] = k;
        }
        int T = out->cap_len[j0 + order[0]];
        memset(tokens, 0, (size_t)b * T * sizeof(int));
        for (int k = 0; k < b; k++) {
            lengths[k] = out->cap_len[j0 + order[k]];
            memcpy(tokens + (size_t)k * T, ua_caption_ids(caps, first + j0 + order[k]), (size_t)lengths[k] * sizeof(int));
        }
        if ((rc = ua_text_encoder_forward(m, tokens, lengths, b, T, emb, tw, err))) break;
        for (int k = 0; k < b; k++)
            memcpy(out->cap + (size_t)out->cap_offset[j0 + order[k]] * E, emb + (size_t)k * T * E,
                   (size_t)lengths[k] * E * sizeof(float));
        ua_progress_report(progress, "encoding captions", j0 + b, n);
    }
done:
    ua_text_work_free(tw);
    free(order);
    free(lengths);
    free(tokens);
    free(emb);
    return rc;
}

int ua_encode_split(const ua_model *m, const ua_split *s, int first_img, int n_img, int first_cap, int n_cap,
                    ua_embeddings *out, const ua_progress_cb *progress, ua_err *err)
{
    memset(out, 0, sizeof *out);
    if (s->img_dim != m->opt.img_dim)
        return ua_fail(err, "split %s has %d-dim region features but the model expects img_dim %d", s->name, s->img_dim,
                       m->opt.img_dim);
    if (first_img < 0 || n_img < 1 || first_img + n_img > s->n_images || first_cap < 0 || n_cap < 1 ||
        first_cap + n_cap > s->caps.n)
        return ua_fail(err, "split %s: images [%d, %d) / captions [%d, %d) out of range", s->name, first_img,
                       first_img + n_img, first_cap, first_cap + n_cap);
    if (encode_images(m, ua_split_image(s, first_img), n_img, s->n_regions, first_img, s->ims_path, out, progress, err) ||
        encode_captions(m, &s->caps, first_cap, n_cap, out, progress, err)) {
        ua_embeddings_free(out);
        return -1;
    }
    return 0;
}

int ua_encode(const ua_model *m, const float *images, int n_img, int R, const ua_captions *caps, ua_embeddings *out,
              const ua_progress_cb *progress, ua_err *err)
{
    memset(out, 0, sizeof *out);
    if ((n_img > 0 && encode_images(m, images, n_img, R, 0, NULL, out, progress, err)) ||
        (caps && caps->n > 0 && encode_captions(m, caps, 0, caps->n, out, progress, err))) {
        ua_embeddings_free(out);
        return -1;
    }
    return 0;
}

int ua_similarity_matrix(const ua_attn_cfg *cfg, const ua_embeddings *e, float *sims, ua_err *err)
{
    return ua_similarity_matrix_stats(cfg, e, sims, NULL, NULL, err);
}

/* order[] = the captions by length, ties in index order (a counting sort: lengths <= max_len) */
static int order_by_length(const ua_embeddings *e, int *order, ua_err *err)
{
    int *count = calloc((size_t)e->max_len + 2, sizeof(int));
    if (!count) return ua_fail(err, "out of memory");
    for (int j = 0; j < e->n_cap; j++) count[e->cap_len[j] + 1]++;
    for (int l = 1; l <= e->max_len + 1; l++) count[l] += count[l - 1];
    for (int j = 0; j < e->n_cap; j++) order[count[e->cap_len[j]]++] = j;
    free(count);
    return 0;
}

int ua_similarity_matrix_stats(const ua_attn_cfg *cfg, const ua_embeddings *e, float *sims, ua_sim_stats *stats,
                               const ua_progress_cb *progress, ua_err *err)
{
    const ua_dist one = ua_dist_single();
    return ua_similarity_matrix_ranks(cfg, e, sims, stats, progress, &one, err);
}

/* the captions of the block that starts at caption j0 */
static int block_width(int n_cap, int j0, int BC) { return n_cap - j0 < BC ? n_cap - j0 : BC; }

/* several ranks: counts[r] = the floats of rank r's blocks (b = r, r + size, ...), packed block
 * by block [n_img, bc] in rank r's part of all */
static int rank_counts(const ua_dist *d, const ua_embeddings *e, int BC, size_t **counts, ua_err *err)
{
    if (!(*counts = calloc((size_t)d->size, sizeof(size_t)))) return ua_fail(err, "out of memory");
    for (int b = 0, j0 = 0; j0 < e->n_cap; b++, j0 += BC)
        (*counts)[b % d->size] += (size_t)e->n_img * (size_t)block_width(e->n_cap, j0, BC);
    return 0;
}

/* rank 0's sims from every rank's packed blocks (ua_dist_gather_f32) */
static int gather_blocks(const ua_dist *d, const ua_embeddings *e, const int *order, int BC, const size_t *counts,
                         float *all, float *sims, ua_err *err)
{
    if (ua_dist_gather_f32(d, all, counts, err)) return -1;
    if (d->rank != 0) return 0;
    size_t *pos = calloc((size_t)d->size, sizeof(size_t));
    if (!pos) return ua_fail(err, "out of memory");
    for (int r = 1; r < d->size; r++) pos[r] = pos[r - 1] + counts[r - 1];
    for (int b = 0, j0 = 0; j0 < e->n_cap; b++, j0 += BC) {
        const int bc = block_width(e->n_cap, j0, BC);
        const float *p = all + pos[b % d->size];
        for (int i = 0; i < e->n_img; i++)
            for (int k = 0; k < bc; k++) sims[(size_t)i * e->n_cap + order[j0 + k]] = p[(size_t)i * bc + k];
        pos[b % d->size] += (size_t)e->n_img * bc;
    }
    free(pos);
    return 0;
}

int ua_sim_block_captions(const ua_attn_cfg *cfg) { return cfg->direction == UA_T2I ? 64 : 128; }

int ua_similarity_matrix_ranks(const ua_attn_cfg *cfg, const ua_embeddings *e, float *sims, ua_sim_stats *stats,
                               const ua_progress_cb *progress, const ua_dist *d, ua_err *err)
{
    /* 128 images x ua_sim_block_captions captions (t2i 64, i2t 128: an image block's packing
     * serves more captions, and the block's product, cut into one part per thread, packs the
     * caption block once per thread; measured at 1000 x 5000 against t2i 32 and 3 parts per
     * thread, docs/benchmarks.md). The captions go into blocks in
     * order of length, so that a block pads few words; t2i, every image's region Gram matrix is
     * computed once, not once per caption block; i2t, a caption block's word Grams once, not once
     * per image block. */
    enum { BI = 128 };
    const int BC = ua_sim_block_captions(cfg);
    /* with several ranks, rank r scores the caption blocks b = r, r + size, ... (the blocks grow
     * longer in length order: taken in turn, the ranks' shares stay even), each block exactly as
     * one process does, so the gathered matrix has the same bits */
    const int ranks = d->size > 1;
    float *all = ranks ? malloc((size_t)e->n_img * e->n_cap * sizeof(float) + 1) : NULL;
    size_t *counts = NULL, mine = 0;   /* this rank's packed floats so far, from its part of all */
    const int R = e->R, E = e->E, L = e->max_len, t2i = cfg->direction == UA_T2I;
    ua_sim_work *w = ua_sim_work_new(BI, BC, R, L, E, 0, err);
    float *block = malloc((size_t)BC * L * E * sizeof(float) + 1), *tile = malloc((size_t)BI * BC * sizeof(float));
    float *gram = t2i && !e->img_gram ? malloc((size_t)e->n_img * R * R * sizeof(float) + 1) : NULL;
    /* i2t: the caption block's word Grams, once per caption block rather than once per image block */
    float *cgram = t2i ? NULL : malloc((size_t)BC * L * L * sizeof(float) + 1);
    int *lens = malloc(BC * sizeof(int)), *order = malloc((size_t)e->n_cap * sizeof(int) + 1);
    int rc = -1;
    if (!w || !block || !tile || (t2i && !e->img_gram && !gram) || (!t2i && !cgram) || !lens || !order ||
        (ranks && !all)) {
        if (w)
            ua_fail(err, "out of memory for the similarity blocks of %d images x %d captions (%d regions, captions of "
                    "up to %d words with <start> and <end>)", e->n_img, e->n_cap, R, L);
        goto out;
    }
    if (order_by_length(e, order, err)) goto out;
    for (int i = 0; gram && i < e->n_img; i++) ua_gram(e->img + (size_t)i * R * E, R, E, gram + (size_t)i * R * R);
    const float *grams = e->img_gram ? e->img_gram : gram;
    ua_sim_stats_reset(w);
    ua_sim_set_counting(w, stats != NULL);
    if (ranks) {   /* this rank's part of all starts after the lower ranks' blocks */
        if (rank_counts(d, e, BC, &counts, err)) goto out;
        for (int r = 0; r < d->rank; r++) mine += counts[r];
    }
    for (int b = 0, j0 = 0; j0 < e->n_cap; b++, j0 += BC) {
        int bc = block_width(e->n_cap, j0, BC), Lb = 1;
        if (ranks && b % d->size != d->rank) continue;
        for (int k = 0; k < bc; k++) if (e->cap_len[order[j0 + k]] > Lb) Lb = e->cap_len[order[j0 + k]];
        memset(block, 0, (size_t)bc * Lb * E * sizeof(float));
        for (int k = 0; k < bc; k++) {
            int j = order[j0 + k];
            lens[k] = e->cap_len[j];
            memcpy(block + (size_t)k * Lb * E, e->cap + (size_t)e->cap_offset[j] * E, (size_t)lens[k] * E * sizeof(float));
            if (!t2i) ua_gram(block + (size_t)k * Lb * E, lens[k], E, cgram + (size_t)k * Lb * Lb);
        }
        for (int i0 = 0; i0 < e->n_img; i0 += BI) {
            int bi = e->n_img - i0 < BI ? e->n_img - i0 : BI;
            ua_sim_use_context_gram(w, t2i ? grams + (size_t)i0 * R * R : cgram);
            ua_sim_block_forward(cfg, e->img + (size_t)i0 * R * E, bi, R, block, bc, Lb, lens, E, tile, BC, w);
            for (int ii = 0; ii < bi; ii++)
                for (int k = 0; k < bc; k++) {
                    const float v = tile[(size_t)ii * BC + k];
                    if (ranks) all[mine + (size_t)(i0 + ii) * bc + k] = v;
                    else sims[(size_t)(i0 + ii) * e->n_cap + order[j0 + k]] = v;
                }
        }
        mine += ranks ? (size_t)e->n_img * bc : 0;
        ua_progress_report(progress, "similarity", j0 + bc, e->n_cap);
    }
    if (stats) ua_sim_stats_get(w, stats);
    if (ranks && (gather_blocks(d, e, order, BC, counts, all, sims, err) ||
                  (stats && ua_sim_stats_sum_ranks(stats, d, err))))
        goto out;
    rc = 0;
out:
    ua_sim_work_free(w);
    free(block); free(tile); free(gram); free(cgram); free(lens); free(order); free(all); free(counts);
    return rc;
}
