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

#endif
