/* A searcher: what answering queries against an index needs, opened once (uarda search, uarda
 * bench shortlist, and any program that links libuarda): a checkpoint read in place, the index
 * it made, and, for text queries, its vocabulary and a tokenizer. */
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

typedef struct ua_searcher {
    ua_options o;          /* the checkpoint's options */
    ua_model m;
    ua_gallery g;
    ua_vocab v;            /* empty without text */
    ua_tokenizer *tok;     /* NULL without text */
} ua_searcher;

/* Opens the checkpoint ckpt and the index it made, skipping set per skip (exact either way);
 * with_text: also the vocabulary (vocab_path NULL: the checkpoint's) and a tokenizer. 0, or -1
 * with everything closed again. */
int  ua_searcher_open(ua_searcher *s, const char *ckpt, const char *index, int skip, int with_text,
                      const char *vocab_path, ua_err *err);
void ua_searcher_close(ua_searcher *s);
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
    int *ids;              /* [n_scored] images (text query) or captions (image query), best first */
    float *scores;         /* [n_scored] */
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

#endif
