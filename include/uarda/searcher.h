/* A searcher: what answering queries against an index needs, opened once (uarda search, uarda
 * serve, uarda bench shortlist, and any program that links libuarda): a checkpoint read in
 * place, the index it made, and, for text queries, its vocabulary and a tokenizer.
 *
 * Queries are answered through a workspace (ua_search_work): the searcher itself is only read
 * while answering, so that threads may answer queries concurrently against one searcher, each
 * with its own workspace (uarda serve's workers); uarda search answers its queries through one.
 * The rankings and scores are those of ua_gallery_rank_images / ua_gallery_rank_captions with the
 * searcher's attention (ua_searcher_attn), or a workspace's own (w->scoring). A
 * one-shot answer as data (ua_searcher_answer_text / _image) is made through a workspace too:
 * there is one path from a query to its ranking. */
#ifndef UARDA_SEARCHER_H
#define UARDA_SEARCHER_H

#include "uarda/error.h"
#include "uarda/eval.h"
#include "uarda/gallery.h"
#include "uarda/model.h"
#include "uarda/options.h"
#include "uarda/precomp.h"
#include "uarda/tokenize.h"
#include "uarda/vocab.h"

#include <stddef.h>

typedef struct ua_searcher {
    ua_options o;          /* the checkpoint's options */
    ua_model m;
    ua_gallery g;
    ua_vocab v;            /* empty without text */
    ua_tokenizer *tok;     /* NULL without text */
    int skip;              /* skipping on (exact either way) */
} ua_searcher;

/* Opens the checkpoint ckpt and the index it made, skipping set per skip (exact either way);
 * with_text: also the vocabulary (vocab_path NULL: the checkpoint's) and a tokenizer. 0, or -1
 * with everything closed again. */
int  ua_searcher_open(ua_searcher *s, const char *ckpt, const char *index, int skip, int with_text,
                      const char *vocab_path, ua_err *err);
void ua_searcher_close(ua_searcher *s);
/* the attention the searcher scores with: its model's options at the checkpoint's test
 * threshold (m.t_test), skipping as opened */
ua_attn_cfg ua_searcher_attn(const ua_searcher *s);
/* Text queries: the lines (named `source` in messages) tokenized and looked up as in training,
 * then encoded; 0 / -1. */
int  ua_searcher_encode(ua_searcher *s, const char *const *lines, int n, const char *source, ua_captions *caps,
                        ua_embeddings *e, ua_err *err);

/* One query's answer, as data (a command prints it as text or JSON, a server sends it): the best
 * results first, their exact scores, and, when asked for a text query, each word's most attended
 * region in each result. */
typedef struct ua_search_answer {
    int n_scored;          /* items scored: the shortlist's K, or every item of the index */
    int n;                 /* results: min(top_k, n_scored) */
    int *ids;              /* [n] images (text query) or captions (image query), best first */
    float *scores;         /* [n] */
    double seconds;        /* encoding the query and ranking (the attention not included) */
    /* attention (text queries, when asked): for result k and word w of the query (its <start>
     * and <end> included), region[k * n_words + w] is the region the word attends most and
     * weight[...] its weight; region -1 for a word below the threshold (no attention) */
    int n_words;
    int *region;
    float *weight;
} ua_search_answer;

/* The caption ids[0..len) (<start> ... <end>, e.g. from ua_captions_from_lines) against the
 * index's images: encoded, ranked (shortlist 0: every image; else two stages, see gallery.h),
 * the top_k kept, with attention when asked. attn: the attention to score with (a caller's own
 * threshold and skip switches; ua_scorer_of), or NULL for the searcher's model's (its test
 * threshold, skipping as opened). The searcher is only read: threads may answer at once, each
 * with its own attn. 0 / -1; free the answer with ua_search_answer_free. */
int  ua_searcher_answer_text(const ua_searcher *s, const ua_attn_cfg *attn, const int *ids, int len, int top_k,
                             int shortlist, int attention, ua_search_answer *a, ua_err *err);
/* Image `row` of the index against its captions. */
int  ua_searcher_answer_image(const ua_searcher *s, const ua_attn_cfg *attn, int row, int top_k, int shortlist,
                              ua_search_answer *a, ua_err *err);
void ua_search_answer_free(ua_search_answer *a);
/* The answers of one query against the shards of a gallery (part p's ids are rows of a shard
 * whose first image is first[p]) merged into one: the top_k best of all, with gallery ids, in
 * order of score (ties: the smaller id first), their attention when the parts have it. Each
 * shard's exhaustive top k holds every one of the gallery's top k that lies in it, so the merge
 * of exhaustive answers is the unsharded index's answer. 0 / -1. */
int  ua_search_merge(const ua_search_answer *parts, const int *first, int n_parts, int top_k, ua_search_answer *out,
                     ua_err *err);

/* ---- answering one query at a time --------------------------------------------------------- */

typedef struct ua_search_work {
    ua_tokenizer *tok;     /* its own tokenizer (NULL when the searcher has no text) */
    ua_tokens tokens;      /* the last text query's tokens as the tokenizer wrote them (ua_searcher_tokenize) */
    ua_captions caps;      /* ... and its ids, one caption, <start> and <end> included */
    ua_embeddings q;       /* the last ranked text query, encoded (ua_searcher_rank_text) */
    int *ids;              /* the last ranking: its best items first (the top_k asked for) */
    float *scores;         /* ... with their exact scores */
    int room;              /* ids and scores have room for this many (grown as asked) */
    int n_scored;          /* the last ranking scored this many (its n_ranked best are in ids) */
    int n_ranked;
    float *image;          /* an F16 index's image converted for ua_searcher_attention [R, E] */
    float *attn;           /* ua_searcher_attention: attn[word * R + region], words of the last ranked text query */
    float *max_sim;        /* ... max over the regions of the word-region similarity, per word */
    int attn_cap;          /* words that attn and max_sim have room for */
    const ua_attn_cfg *scoring; /* the attention to score with: NULL (as ua_search_work_init leaves it) for the
                                 * searcher's model's, or a caller's own threshold and skip switches (ua_scorer_of) */
} ua_search_work;

/* A workspace for queries against s (with its own tokenizer when s has text); 0 / -1. */
int  ua_search_work_init(ua_search_work *w, const ua_searcher *s, ua_err *err);
void ua_search_work_free(ua_search_work *w);

/* Tokenizes one text query of len bytes as training and search do (source names it in
 * messages, e.g. "--query"): w->caps holds its ids, w->tokens its tokens. Returns the number of
 * ids (<start> and <end> included), or -1 for a blank query, invalid UTF-8, a NUL byte, more than
 * UA_MAX_CAPTION_TOKENS tokens, or a searcher without text. */
int  ua_searcher_tokenize(const ua_searcher *s, ua_search_work *w, const char *text, size_t len, const char *source,
                          ua_err *err);
/* The gallery's images for the caption ids[0..len) (with <start> and <end>), exhaustive or with a
 * shortlist (gallery.h): the best min(top_k, scored) (top_k <= 0: all) in w->ids, w->scores, best
 * first; returns how many were scored, or -1. The encoded query stays in w->q for
 * ua_searcher_attention. */
int  ua_searcher_rank_text(const ua_searcher *s, ua_search_work *w, const int *ids, int len, int shortlist, int top_k,
                           ua_err *err);
/* The indexed captions for image `row` of the gallery: w->ids, w->scores; how many, or -1. */
int  ua_searcher_rank_image(const ua_searcher *s, ua_search_work *w, int row, int shortlist, int top_k, ua_err *err);
/* After ua_searcher_rank_text: the attention of the query's words over the regions of gallery
 * image `image` (ua_attention_of_pair with the searcher's options): w->attn[word * R + r] and
 * w->max_sim[word], for the query's w->q.cap_len[0] words; a word that the model's threshold
 * judges irrelevant to this image (skipped by UARDA; never for SCAN) has a row of NaN.
 * 0 / -1. */
int  ua_searcher_attention(const ua_searcher *s, ua_search_work *w, int image, ua_err *err);
/* after ua_searcher_attention: 1 when `word` is relevant to that image at the threshold */
int  ua_search_word_relevant(const ua_search_work *w, int R, int word);

#endif
