/* SCAN "precomp" splits: <data_path>/<data_name>/<split>_ims.npy (float32 [N_img, R, D],
 * memory-mapped) and <split>_caps.txt (one caption per line, 5 per image in image order, or 1).
 * Caption c belongs to image c / im_div, im_div = 5 (or 1 when there are as many captions as
 * images), exactly as SCAN's loader. */
#ifndef UARDA_PRECOMP_H
#define UARDA_PRECOMP_H

#include "uarda/attention.h"
#include "uarda/error.h"
#include "uarda/npy.h"
#include "uarda/tokenize.h"
#include "uarda/vocab.h"

/* Captions as id sequences: caption c is ids[offsets[c] .. offsets[c+1]), starting with
 * <start> and ending with <end>. */
typedef struct ua_captions {
    int n;
    int *offsets;           /* [n + 1] */
    int *ids;
    long long n_tokens;     /* tokens without <start>/<end> */
    long long n_unk;        /* of which unknown */
    int max_len;            /* longest id sequence, <start>/<end> included */
} ua_captions;

static inline int ua_caption_len(const ua_captions *c, int i) { return c->offsets[i + 1] - c->offsets[i]; }
static inline const int *ua_caption_ids(const ua_captions *c, int i) { return c->ids + c->offsets[i]; }

/* Input limits (for --help texts too): a caption of more tokens than UA_MAX_CAPTION_TOKENS, or
 * region features of more regions per image than UA_MAX_REGIONS, are refused where they are
 * read (attention.h: UA_ATTN_MAX_ITEMS; a caption's items are its tokens plus <start> and
 * <end>). */
#define UA_MAX_CAPTION_TOKENS (UA_ATTN_MAX_ITEMS - 2)
#define UA_MAX_REGIONS UA_ATTN_MAX_ITEMS

/* Parses captions from an in-memory file image buf[0..len): lines split on '\n', each stripped
 * of ASCII whitespace at both ends, a final line without '\n' counts, a final '\n' does not
 * start a new caption. Every line must be valid UTF-8 without NUL bytes, have at least one
 * token (a blank line is an error, not an empty caption) and at most UA_MAX_CAPTION_TOKENS;
 * the message names `name` and the line. Tokenizes and maps to ids. */
int  ua_captions_parse(ua_captions *c, const char *buf, size_t len, const char *name, const ua_vocab *v,
                       ua_tokenizer *tok, ua_err *err);
/* Reads a caption file and parses it as ua_captions_parse does. */
int  ua_captions_load(ua_captions *c, const char *path, const ua_vocab *v, ua_tokenizer *tok, ua_err *err);
/* The same from lines already in memory (score / search queries), line i being line i + 1 of
 * `source` (a file name, or "--query") in messages. */
int  ua_captions_from_lines(ua_captions *c, const char *const *lines, int n, const char *source, const ua_vocab *v,
                            ua_tokenizer *tok, ua_err *err);
void ua_captions_free(ua_captions *c);

typedef struct ua_split {
    char *name;             /* "test" */
    char *ims_path;         /* "<data_path>/<data_name>/test_ims.npy" */
    ua_npy ims;             /* [n_images, n_regions, img_dim] */
    ua_captions caps;
    int n_images, n_regions, img_dim;
    int im_div;             /* captions per image: 5 or 1 */
    int n_items;            /* captions in use (SCAN caps `dev` at 5000) */
} ua_split;

/* Checks that x (read from path) holds region features: shape (images, regions, dims), each at
 * least 1, at most UA_MAX_REGIONS regions, and img_dim dims when img_dim > 0. The message shows
 * the shape found. */
int  ua_regions_check(const ua_npy *x, const char *path, int img_dim, ua_err *err);

/* Opens a split. SCAN behaviour: the split named exactly "dev" is capped at its first 5000
 * captions (the first 1000 images) unless full_dev is set. */
int  ua_split_open(ua_split *s, const char *data_path, const char *data_name, const char *split,
                   const ua_vocab *v, int full_dev, ua_err *err);
void ua_split_close(ua_split *s);
static inline int ua_split_image_of(const ua_split *s, int caption) { return caption / s->im_div; }
/* number of images covered by the captions in use */
static inline int ua_split_images_used(const ua_split *s) { return (s->n_items + s->im_div - 1) / s->im_div; }
static inline const float *ua_split_image(const ua_split *s, int image)
{
    return s->ims.data + (size_t)image * (size_t)s->n_regions * (size_t)s->img_dim;
}

/* "<data_path>/<data_name>/<split>_<suffix>" (malloc'ed) */
char *ua_split_path(const char *data_path, const char *data_name, const char *split, const char *suffix);

#endif
