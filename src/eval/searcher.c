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
    s->skip = skip != 0;
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

int ua_search_merge(const ua_search_answer *parts, const int *first, int n_parts, int top_k, ua_search_answer *out,
                    ua_err *err)
{
    memset(out, 0, sizeof *out);
    if (top_k < 1 || n_parts < 1) return ua_fail(err, "a merge of %d answers into the top %d", n_parts, top_k);
    int total = 0;
    for (int p = 0; p < n_parts; p++) {
        total += parts[p].n;
        out->n_scored += parts[p].n_scored;
        out->seconds += parts[p].seconds;
    }
    const int n = total < top_k ? (total > 0 ? total : 0) : top_k, nw = parts[0].n_words > 0 ? parts[0].n_words : 0;
    const int attention = parts[0].region != NULL;
    out->ids = malloc(((size_t)n + 1) * sizeof(int));
    out->scores = malloc(((size_t)n + 1) * sizeof(float));
    int *at = calloc((size_t)n_parts, sizeof(int));
    if (attention) {
        out->n_words = nw;
        out->region = malloc(((size_t)n * nw + 1) * sizeof(int));
        out->weight = malloc(((size_t)n * nw + 1) * sizeof(float));
    }
    if (!out->ids || !out->scores || !at || (attention && (!out->region || !out->weight))) {
        free(at);
        ua_search_answer_free(out);
        return ua_fail(err, "out of memory for %d merged results", n);
    }
    /* each part is best first: take the best head each time (ties: the smaller id) */
    for (int k = 0; k < n; k++) {
        int best = -1;
        for (int p = 0; p < n_parts; p++) {
            if (at[p] >= parts[p].n) continue;
            if (best < 0) { best = p; continue; }
            const float a = parts[p].scores[at[p]], b = parts[best].scores[at[best]];
            if (a > b || (a == b && first[p] + parts[p].ids[at[p]] < first[best] + parts[best].ids[at[best]])) best = p;
        }
        const ua_search_answer *b = &parts[best];
        out->ids[k] = first[best] + b->ids[at[best]];
        out->scores[k] = b->scores[at[best]];
        if (attention) {
            memcpy(out->region + (size_t)k * nw, b->region + (size_t)at[best] * nw, (size_t)nw * sizeof(int));
            memcpy(out->weight + (size_t)k * nw, b->weight + (size_t)at[best] * nw, (size_t)nw * sizeof(float));
        }
        at[best]++;
    }
    out->n = n;
    free(at);
    return 0;
}

ua_attn_cfg ua_searcher_attn(const ua_searcher *s)
{
    ua_attn_cfg a = ua_attn_at(&s->m.opt.attn, s->m.t_test);
    ua_attn_set_skip(&a, s->skip);
    return a;
}

/* the attention a workspace scores with */
static ua_attn_cfg work_attn(const ua_searcher *s, const ua_search_work *w)
{
    return w->scoring ? *w->scoring : ua_searcher_attn(s);
}

/* a workspace; with_tok: with its own tokenizer (when the searcher has text) */
static int work_init(ua_search_work *w, const ua_searcher *s, int with_tok, ua_err *err)
{
    memset(w, 0, sizeof *w);
    const ua_gallery *g = &s->g;
    if (g->half && !(w->image = malloc((size_t)g->R * g->E * sizeof(float)))) {
        ua_search_work_free(w);
        return ua_fail(err, "out of memory for an image of %d regions x %d dims", g->R, g->E);
    }
    if (with_tok && s->tok && !(w->tok = ua_tokenizer_new(err))) {
        ua_search_work_free(w);
        return -1;
    }
    return 0;
}

/* room in w for a ranking of the best top_k of n items (top_k <= 0: all) */
static int work_room(ua_search_work *w, int top_k, int n, ua_err *err)
{
    const int want = top_k > 0 && top_k < n ? top_k : n > 0 ? n : 1;
    if (want <= w->room) return 0;
    int *ids = realloc(w->ids, (size_t)want * sizeof(int));
    if (ids) w->ids = ids;
    float *scores = realloc(w->scores, (size_t)want * sizeof(float));
    if (scores) w->scores = scores;
    if (!ids || !scores) return ua_fail(err, "out of memory for a ranking of %d items", want);
    w->room = want;
    return 0;
}

/* the workspace's ranking handed over to the answer (which then owns its buffers) */
static void answer_take(ua_search_answer *a, ua_search_work *w, int n, double seconds)
{
    a->n_scored = n;
    a->n = w->n_ranked;
    a->ids = w->ids;
    a->scores = w->scores;
    a->seconds = seconds;
    w->ids = NULL;
    w->scores = NULL;
    w->room = 0;
}

/* each word's most attended region of each result (the first of equal weights) */
static int answer_attention(const ua_searcher *s, ua_search_work *w, ua_search_answer *a, ua_err *err)
{
    const int len = w->q.cap_len[0], R = s->g.R;
    a->n_words = len;
    a->region = malloc((size_t)(a->n > 0 ? a->n : 1) * len * sizeof(int));
    a->weight = malloc((size_t)(a->n > 0 ? a->n : 1) * len * sizeof(float));
    if (!a->region || !a->weight) return ua_fail(err, "out of memory for the attention of %d words", len);
    for (int k = 0; k < a->n; k++) {
        if (ua_searcher_attention(s, w, a->ids[k], err)) return -1;
        for (int x = 0; x < len; x++) {
            const float *row = w->attn + (size_t)x * R;
            int best = 0;
            for (int y = 1; y < R; y++) if (row[y] > row[best]) best = y;
            const int relevant = ua_search_word_relevant(w, R, x);   /* below the threshold: no attention */
            a->region[(size_t)k * len + x] = relevant ? best : -1;
            a->weight[(size_t)k * len + x] = relevant ? row[best] : 0.0f;
        }
    }
    return 0;
}

int ua_searcher_answer_text(const ua_searcher *s, const ua_attn_cfg *attn, const int *ids, int len, int top_k,
                            int shortlist, int attention, ua_search_answer *a, ua_err *err)
{
    memset(a, 0, sizeof *a);
    ua_search_work w;
    if (work_init(&w, s, 0, err)) return -1;
    w.scoring = attn;
    double t0 = ua_now();
    int n = ua_searcher_rank_text(s, &w, ids, len, shortlist, top_k, err);
    int rc = n < 0 ? -1 : 0;
    if (!rc) {
        answer_take(a, &w, n, ua_now() - t0);
        if (attention) rc = answer_attention(s, &w, a, err);
    }
    ua_search_work_free(&w);
    if (rc) ua_search_answer_free(a);
    return rc;
}

int ua_searcher_answer_image(const ua_searcher *s, const ua_attn_cfg *attn, int row, int top_k, int shortlist,
                             ua_search_answer *a, ua_err *err)
{
    memset(a, 0, sizeof *a);
    ua_search_work w;
    if (work_init(&w, s, 0, err)) return -1;
    w.scoring = attn;
    double t0 = ua_now();
    int n = ua_searcher_rank_image(s, &w, row, shortlist, top_k, err);
    if (n >= 0) answer_take(a, &w, n, ua_now() - t0);
    ua_search_work_free(&w);
    return n < 0 ? -1 : 0;
}

/* ---- answering one query at a time ---------------------------------------------------------- */

int ua_search_work_init(ua_search_work *w, const ua_searcher *s, ua_err *err) { return work_init(w, s, 1, err); }

void ua_search_work_free(ua_search_work *w)
{
    ua_tokenizer_free(w->tok);
    ua_tokens_free(&w->tokens);
    ua_captions_free(&w->caps);
    ua_embeddings_free(&w->q);
    free(w->ids);
    free(w->scores);
    free(w->attn);
    free(w->max_sim);
    free(w->image);
    memset(w, 0, sizeof *w);
}

int ua_searcher_tokenize(const ua_searcher *s, ua_search_work *w, const char *text, size_t len, const char *source,
                         ua_err *err)
{
    ua_captions_free(&w->caps);
    w->tokens.n = 0;
    if (!w->tok || s->v.n == 0) return ua_fail(err, "%s: this searcher was opened without text", source);
    const char *nul = memchr(text, '\0', len);
    if (nul) return ua_fail(err, "%s: a NUL byte at byte %zu", source, (size_t)(nul - text));
    char *line = malloc(len + 1);
    if (!line) return ua_fail(err, "%s: out of memory for a query of %zu bytes", source, len);
    memcpy(line, text, len);
    line[len] = '\0';
    const char *one[1] = {line};
    /* the ids as training and search make them (the vocabulary, <unk>, <start> and <end>), and the
     * tokens themselves, to name the words */
    int rc = ua_captions_from_lines(&w->caps, one, 1, source, &s->v, w->tok, err);
    if (!rc) rc = ua_tokenize(w->tok, line, len, &w->tokens, err);
    free(line);
    if (rc) {
        ua_captions_free(&w->caps);
        w->tokens.n = 0;
        return -1;
    }
    const int n = ua_caption_len(&w->caps, 0);
    if (w->tokens.n != n - 2)
        return ua_fail(err, "%s: %d tokens but %d ids (the tokenizer is not deterministic?)", source, w->tokens.n, n);
    return n;
}

int ua_searcher_rank_text(const ua_searcher *s, ua_search_work *w, const int *ids, int len, int shortlist, int top_k,
                          ua_err *err)
{
    ua_embeddings_free(&w->q);
    w->n_scored = w->n_ranked = 0;
    if (work_room(w, top_k, s->g.n_img, err)) return -1;
    ua_captions caps = {1, (int[]){0, len}, (int *)ids, len, 0, len};
    if (ua_encode(&s->m, NULL, 0, s->g.R, &caps, &w->q, NULL, err)) return -1;
    const ua_attn_cfg a = work_attn(s, w);
    int n = ua_gallery_rank_images(&s->g, &a, &w->q, shortlist, top_k, w->ids, w->scores, err);
    if (n < 0) {
        ua_embeddings_free(&w->q);
        return -1;
    }
    w->n_ranked = top_k > 0 && top_k < n ? top_k : n;
    return w->n_scored = n;
}

int ua_searcher_rank_image(const ua_searcher *s, ua_search_work *w, int row, int shortlist, int top_k, ua_err *err)
{
    w->n_scored = w->n_ranked = 0;
    if (work_room(w, top_k, s->g.n_cap, err)) return -1;
    const ua_attn_cfg a = work_attn(s, w);
    int n = ua_gallery_rank_captions(&s->g, &a, row, shortlist, top_k, w->ids, w->scores, err);
    if (n < 0) return -1;
    w->n_ranked = top_k > 0 && top_k < n ? top_k : n;
    return w->n_scored = n;
}

int ua_searcher_attention(const ua_searcher *s, ua_search_work *w, int image, ua_err *err)
{
    const ua_gallery *g = &s->g;
    if (!w->q.cap || w->q.n_cap != 1) return ua_fail(err, "attention: no text query ranked in this workspace");
    if (image < 0 || image >= g->n_img) return ua_fail(err, "attention: image row %d: the index has %d images", image, g->n_img);
    const int L = w->q.cap_len[0];
    if (L > w->attn_cap) {
        float *a = malloc((size_t)L * g->R * sizeof(float)), *m = malloc((size_t)L * sizeof(float));
        if (!a || !m) {
            free(a);
            free(m);
            return ua_fail(err, "out of memory for the attention of %d words", L);
        }
        free(w->attn);
        free(w->max_sim);
        w->attn = a;
        w->max_sim = m;
        w->attn_cap = L;
    }
    const ua_attn_cfg at = work_attn(s, w);
    return ua_attention_of_pair(&at, ua_gallery_image(g, image, w->image, NULL, NULL), g->R, w->q.cap, L, g->E,
                                w->attn, w->max_sim, err);
}

int ua_search_word_relevant(const ua_search_work *w, int R, int word) { return !isnan(w->attn[(size_t)word * R]); }
