/* Pieces of the synthetic generator shared by its two sources of content, the built-in
 * template world (synth.c) and real caption files (synth_captions.c): random streams, Gaussian
 * prototypes, the quantized noise table, the region feature formula and the file helpers.
 * Private to src/data. */
#ifndef UARDA_SYNTH_INTERNAL_H
#define UARDA_SYNTH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "uarda/atomic.h"
#include "uarda/rng.h"
#include "uarda/synth.h"

/* Stream tags: every random stream is seeded from (seed, tag, index), so that no two uses of
 * one seed share numbers. */
enum {
    UA_SYNTH_TAG_CATEGORY = 1, UA_SYNTH_TAG_NOUN = 2, UA_SYNTH_TAG_ATTR = 3, UA_SYNTH_TAG_CLUTTER = 4,
    UA_SYNTH_TAG_WORD = 5,        /* a caption word's prototype; index: the word's hash */
    UA_SYNTH_TAG_SPLIT = 6,       /* the captions preset's image-to-split assignment */
    UA_SYNTH_TAG_CONTENT = 16,    /* + split: objects, layout, captions */
    UA_SYNTH_TAG_FEATURES = 32,   /* + split: the region features' noise */
    UA_SYNTH_TAG_CAP_LAYOUT = 64, /* captions preset: an image's regions (index: source image) */
    UA_SYNTH_TAG_CAP_FEATURES = 65,
    UA_SYNTH_TAG_CAP_BOXES = 66,  /* captions preset: an image's boxes (index: source image) */
    UA_SYNTH_TAG_BOXES = 80,      /* + split: an image's boxes */
};

/* r := the stream of (seed, tag, index), through splitmix64's finalizer */
void ua_synth_stream(ua_rng *r, uint64_t seed, uint64_t tag, uint64_t index);
/* out[0..d) := i.i.d. N(0, 1) from the stream (seed, tag, index) */
void ua_synth_prototype(float *out, size_t d, uint64_t seed, uint64_t tag, uint64_t index);
/* gauss[0..UA_SYNTH_NOISE_LEVELS) := the equiprobable levels of N(0, 1), symmetric */
void ua_synth_noise_table(float *gauss);

/* One region's features x[0..d): z = w1 * p1 + w2 * p2 + noise * N(0, I) + shift, stored as
 * scale * max(0, z); p2 may be NULL (then w2 is unused). The noise comes from the table gauss,
 * two 16-bit indices per 32-bit draw of r. */
void ua_synth_region(float *x, size_t d, const float *gauss, ua_rng *r, const float *p1, float w1,
                     const float *p2, float w2, float noise, float scale, float shift);

/* range checks whose message names the field */
int ua_synth_int_range(const char *field, int v, int lo, int hi, ua_err *err);
int ua_synth_real_range(const char *field, double v, double lo, double hi, ua_err *err);

/* "<dir>/<split><suffix>", malloc'ed */
char *ua_synth_split_file(const char *dir, ua_synth_split split, const char *suffix, ua_err *err);
/* creates data_dir and the folder of vocab_file */
int ua_synth_make_dirs(const char *data_dir, const char *vocab_file, ua_err *err);
/* "<dir>/README.synth.txt" opened for an atomic write (f->fp: the text; ua_atomic_commit) */
int ua_synth_readme_open(ua_atomic_file *f, const char *dir, ua_err *err);
/* the name part of a path (the README names the vocabulary so, to read the same anywhere) */
const char *ua_synth_base_name(const char *path);

/* One image as its picture sees it (synth_pictures.c): each region's object (a concept, for
 * the captions preset; -1: background) or clutter concept, and each object's words. */
typedef struct ua_synth_picture {
    int n_objects;
    signed char region_object[UA_SYNTH_REGIONS];
    short region_clutter[UA_SYNTH_REGIONS];
    const char *noun[UA_SYNTH_MAX_CONCEPTS];   /* the object's noun (concept word) */
    const char *attr[UA_SYNTH_MAX_CONCEPTS];   /* its attribute word, or NULL */
    uint64_t stream_tag, stream_index;         /* the stream of its boxes */
} ua_synth_picture;
/* image `index` of the split being written, as its picture sees it; 0 / -1 */
typedef int (*ua_synth_picture_fn)(void *ctx, long index, ua_synth_picture *p, ua_err *err);
/* Writes the pictures of a split of n images into dir (synth.h, "Pictures"): the boxes, and
 * with cairo the thumbnails and their names. */
int ua_synth_pictures_write(const ua_synth_config *cfg, ua_synth_split split, long n, ua_synth_picture_fn picture_of,
                            void *ctx, const char *dir, ua_err *err);

/* the paragraph of README.synth.txt on the pictures (nothing without them) */
void ua_synth_pictures_readme(FILE *o, const ua_synth_config *cfg);

/* the captions preset's writer and check (synth_captions.c), called by ua_synth_write and
 * ua_synth_check when cfg->from_captions is set */
int ua_synth_captions_check(const ua_synth_config *cfg, ua_err *err);
int ua_synth_captions_write(const ua_synth_config *cfg, const char *data_dir, const char *vocab_file, ua_err *err);

#endif
