/* SCAN's tokenizer: ASCII-lowercase the line (bytes A-Z only, as Python 2's str.lower), then
 * NLTK's word_tokenize word rules (NLTKWordTokenizer, NLTK 3.8) on the whole line, written
 * with PCRE2. A line holding several sentences is tokenized as one sentence (as
 * word_tokenize(..., preserve_line=True)): only the final period is split off. */
#ifndef UARDA_TOKENIZE_H
#define UARDA_TOKENIZE_H

#include <stddef.h>
#include "uarda/error.h"

typedef struct ua_tokenizer ua_tokenizer;

/* compiled once; safe to use from one thread at a time (create one per thread) */
ua_tokenizer *ua_tokenizer_new(ua_err *err);
void ua_tokenizer_free(ua_tokenizer *t);

typedef struct ua_tokens {
    int n;          /* number of tokens */
    char **tok;     /* tok[i] is NUL-terminated, owned by the struct */
    /* private storage */
    char *buf;
    size_t buf_cap;
    int tok_cap;
} ua_tokens;

/* Tokenizes len bytes of line (no NUL needed). Fails on invalid UTF-8. out is reused across
 * calls (zero-initialize it once, free with ua_tokens_free). */
int  ua_tokenize(ua_tokenizer *t, const char *line, size_t len, ua_tokens *out, ua_err *err);
void ua_tokens_free(ua_tokens *out);
/* Details of ua_tokenize: it first strips ASCII whitespace (" \t\n\v\f\r") from both ends, as
 * SCAN's line.strip() on the byte string, so a line read with its "\n" or "\r\n" may be
 * passed as is. The invalid-UTF-8 message names the byte offset in line[0..len). On error
 * out->n is 0. A NUL byte inside the line stays inside its token's bytes, but ends tok[i] as a
 * C string. Speed: about 3 us of CPU per caption, so 145,000 captions take about half a second. */

/* 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF); else 0 and, if
 * bad_offset is not NULL, the offset of the first bad byte. */
int ua_utf8_valid(const char *s, size_t len, size_t *bad_offset);

#endif
