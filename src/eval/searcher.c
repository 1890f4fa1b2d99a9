/* Searchers (searcher.h). */
#include "uarda/searcher.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/clock.h"

#include "uarda/checkpoint.h"

int ua_searcher_open(ua_searcher *s, const char *ckpt, const char *index, int skip, int with_text,
                     const char *vocab_path, ua_err *err)
{
    memset(s, 0, sizeof *s);
    ua_options_default(&s->o);
    if (ua_checkpoint_open(ckpt, &s->o, &s->m, err)) return -1;
    if (ua_gallery_open(&s->g, index, &s->m, err)) {
        ua_model_free(&s->m);
        return -1;
    }
    ua_attn_set_skip(&s->m.opt.attn, skip);
    if (with_text && (ua_vocab_load_for_model(&s->v, vocab_path ? vocab_path : s->o.vocab_path, s->o.data_name,
                                              s->m.opt.vocab_size, ckpt, err) ||
                      !(s->tok = ua_tokenizer_new(err)))) {
        ua_searcher_close(s);
        return -1;
    }
    return 0;
}

void ua_searcher_close(ua_searcher *s)
{
    ua_tokenizer_free(s->tok);
    ua_vocab_free(&s->v);
    ua_gallery_close(&s->g);
    ua_model_free(&s->m);
    memset(s, 0, sizeof *s);
}

int ua_searcher_encode(ua_searcher *s, const char *const *lines, int n, const char *source, ua_captions *caps,
                       ua_embeddings *e, ua_err *err)
{
    memset(e, 0, sizeof *e);
    if (ua_captions_from_lines(caps, lines, n, source, &s->v, s->tok, err)) return -1;
    return ua_encode(&s->m, NULL, 0, s->g.R, caps, e, NULL, err);
}

void ua_search_answer_free(ua_search_answer *a)
{
    if (!a) return;
    free(a->ids);
    free(a->scores);
    free(a->region);
    free(a->weight);
    memset(a, 0, sizeof *a);
}

/* room for a ranking of n items */
static int answer_alloc(ua_search_answer *a, int n, ua_err *err)
{
    memset(a, 0, sizeof *a);
    a->ids = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    a->scores = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!a->ids || !a->scores) {
        ua_search_answer_free(a);
        return ua_fail(err, "out of memory for %d scores", n);
    }
    return 0;
}

/* each word's most attended region of each result (the first of equal weights) */
static int answer_attention(const ua_searcher *s, const ua_attn_cfg *attn, const ua_embeddings *q, int len,
                            ua_search_answer *a, ua_err *err)
{
    const ua_gallery *g = &s->g;
    float *weights = malloc((size_t)len * g->R * sizeof(float));
    a->n_words = len;
    a->region = malloc((size_t)(a->n > 0 ? a->n : 1) * len * sizeof(int));
    a->weight = malloc((size_t)(a->n > 0 ? a->n : 1) * len * sizeof(float));
    int rc = 0;
    if (!weights || !a->region || !a->weight) rc = ua_fail(err, "out of memory for the attention of %d words", len);
    for (int k = 0; !rc && k < a->n; k++) {
        const float *img = g->img + (size_t)a->ids[k] * g->R * g->E;
        if ((rc = ua_attention_of_pair(attn, img, g->R, q->cap, len, g->E, weights, NULL, err))) break;
        for (int w = 0; w < len; w++) {
            const float *row = weights + (size_t)w * g->R;
            int best = 0;
            for (int x = 1; x < g->R; x++) if (row[x] > row[best]) best = x;
            const int irrelevant = isnan(row[0]);   /* below the threshold: no attention */
            a->region[(size_t)k * len + w] = irrelevant ? -1 : best;
            a->weight[(size_t)k * len + w] = irrelevant ? 0.0f : row[best];
        }
    }
    free(weights);
    return rc;
}

int ua_searcher_answer_text(const ua_searcher *s, const ua_attn_cfg *attn, const int *ids, int len, int top_k,
                            int shortlist, int attention, ua_search_answer *a, ua_err *err)
{
    if (!attn) attn = &s->m.opt.attn;
    const ua_gallery *g = &s->g;
    if (answer_alloc(a, g->n_img, err)) return -1;
    ua_captions caps = {1, (int[]){0, len}, (int *)ids, len, 0, len};
    ua_embeddings q;
    double t0 = ua_now();
    if (ua_encode(&s->m, NULL, 0, g->R, &caps, &q, NULL, err)) {
        ua_search_answer_free(a);
        return -1;
    }
    int n = ua_gallery_rank_images(g, attn, &q, shortlist, a->ids, a->scores, err);
    a->seconds = ua_now() - t0;
    int rc = n < 0 ? -1 : 0;
    if (!rc) {
        a->n_scored = n;
        a->n = top_k < n ? top_k : n;
        if (attention) rc = answer_attention(s, attn, &q, len, a, err);
    }
    ua_embeddings_free(&q);
    if (rc) ua_search_answer_free(a);
    return rc;
}

int ua_searcher_answer_image(const ua_searcher *s, const ua_attn_cfg *attn, int row, int top_k, int shortlist,
                             ua_search_answer *a, ua_err *err)
{
    if (!attn) attn = &s->m.opt.attn;
    if (answer_alloc(a, s->g.n_cap, err)) return -1;
    double t0 = ua_now();
    int n = ua_gallery_rank_captions(&s->g, attn, row, shortlist, a->ids, a->scores, err);
    a->seconds = ua_now() - t0;
    if (n < 0) {
        ua_search_answer_free(a);
        return -1;
    }
    a->n_scored = n;
    a->n = top_k < n ? top_k : n;
    return 0;
}
