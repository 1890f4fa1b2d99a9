/* Synthetic image-text data in SCAN's precomp layout (`uarda synth`), the embedded default for
 * the demo and the tests. Deterministic for a given configuration and seed.
 *
 * Generative model (every number is a field of ua_synth_config or a constant below):
 *  - Concepts. n_nouns noun concepts taken from a built-in table (most frequent first); some
 *    have 1-2 synonyms (different words, one concept). Each noun belongs to one of
 *    UA_SYNTH_N_CATEGORIES categories (person, animal, vehicle, ...). n_attrs attribute
 *    concepts (colours, sizes, textures) and n_clutter background concepts that no word names.
 *  - Prototypes: i.i.d. N(0, 1) vectors in R^img_dim. A noun's prototype mixes its category's
 *    and its own: sqrt(category_mix) * category + sqrt(1 - category_mix) * own, so nouns of one
 *    category look alike.
 *  - Images. obj_min..obj_max objects, each a distinct noun drawn with Zipfian frequency
 *    (P(rank k) ~ 1 / k^zipf_s) and a uniform attribute; an object covers
 *    obj_regions_min..obj_regions_max of the UA_SYNTH_REGIONS regions (at random positions),
 *    the other regions are background, each from a uniform clutter concept.
 *  - Region features: z = v * noun + attr_scale * attr + noise * N(0, I) for an object region
 *    (v uniform in [visibility_min, 1], per region), z = clutter_scale * clutter + noise * N(0, I)
 *    for a background region; stored as feat_scale * max(0, z + feat_shift), so features are
 *    non-negative and per-region L2 norms are about feat_scale * sqrt(img_dim / 2), far from 1
 *    (like bottom-up-attention features).
 *  - Captions: UA_SYNTH_CAPS_PER_IMAGE per image. Each mentions mention_min..mention_max of the
 *    image's objects (never more than it has), each with its attribute with probability p_attr,
 *    the noun as one of its synonyms at random, inside varied templates of function words
 *    ("a", "the", "of", "with", "next to", ...) and filler words ("picture", "scene", "nearby",
 *    "standing", ...) that nothing in an image grounds; cap_len_min..cap_len_max tokens,
 *    lowercase, space separated, ending in " ." (SCAN's tokenizer splits them on spaces).
 *  - Grounding: per caption token 1 if it names something in the image (a noun of one of its
 *    objects, or the attribute of the mentioned object, which is always the object's own),
 *    0 for function and filler words and the final period.
 *  - Difficulty: a caption names only some objects of its image, and frequent nouns occur in
 *    many images, so several images can fit a caption equally well. Even with perfect
 *    recognition, image retrieval on the small preset's 1K test split is capped near
 *    R@1 59, R@5 76, R@10 82 (ties broken at random); noise, category_mix and visibility_min
 *    make the recognition itself imperfect.
 *  - Randomness: ua_rng with purpose UA_RNG_SYNTH. The prototypes come from streams of their
 *    own; every image has its own stream, derived from (seed, split, image index), so a split's
 *    content does not depend on the other splits' sizes and a larger split extends a smaller one.
 *
 * Files (data_dir = <data-path>/<data-name>):
 *   <split>_ims.npy               float32 [n_images, 36, img_dim]
 *   <split>_caps.txt              5 captions per image, consecutive (caption c: image c / 5)
 *   <split>_caps_grounding.txt    one line per caption: one 0/1 per caption token
 *   README.synth.txt              preset, seed and every generator parameter
 * and the vocabulary JSON (SCAN's format) holding every word that can occur, in a fixed order
 * after the four special tokens. Splits: train, dev, test and, when n_images[UA_SYNTH_TESTALL] > 0,
 * testall (MS-COCO style 5K/1K protocols). */
#ifndef UARDA_SYNTH_H
#define UARDA_SYNTH_H

#include <stdint.h>
#include "uarda/error.h"

#define UA_SYNTH_REGIONS 36          /* regions per image (SCAN's fixed 36 boxes) */
#define UA_SYNTH_CAPS_PER_IMAGE 5    /* captions per image, as in Flickr30K / MS-COCO */
#define UA_SYNTH_MAX_OBJECTS 8       /* upper bound for obj_max */
#define UA_SYNTH_MAX_CAP_TOKENS 24   /* upper bound for cap_len_max */
#define UA_SYNTH_MIN_BACKGROUND 4    /* obj_max * obj_regions_max <= REGIONS - MIN_BACKGROUND */
#define UA_SYNTH_TESTALL_IMAGES 5000 /* images of the testall split (--testall): 5 folds of 1K */
#define UA_SYNTH_N_CATEGORIES 11     /* noun categories of the built-in table */
#define UA_SYNTH_P_PARTICIPLE 0.3    /* probability of a filler participle ("standing") after
                                        a caption's first mention */
#define UA_SYNTH_CAPTION_TRIES 16    /* random templates tried before the deterministic search
                                        for one of cap_len_min..cap_len_max tokens */
#define UA_SYNTH_NOISE_LEVELS 65536  /* the noise is N(0,1) quantized to this many equiprobable
                                        levels (an inverse-CDF table: fast, tails cut at 4.3) */

typedef enum {
    UA_SYNTH_TRAIN, UA_SYNTH_DEV, UA_SYNTH_TEST, UA_SYNTH_TESTALL, UA_SYNTH_N_SPLITS
} ua_synth_split;

/* "train", "dev", "test", "testall" */
const char *ua_synth_split_name(ua_synth_split split);

/* Called after each block of images of a split (done = images finished so far). */
typedef void (*ua_synth_progress_fn)(void *ctx, const char *split, long done, long total);

typedef struct ua_synth_config {
    const char *preset;          /* name, for README.synth.txt */
    uint64_t seed;
    int n_images[UA_SYNTH_N_SPLITS]; /* per split; train/dev/test >= 1, testall 0 = not written */
    int img_dim;                 /* region feature size */
    /* concepts */
    int n_nouns;                 /* noun concepts: the first n of the built-in table */
    int n_attrs;                 /* attribute concepts: the first n of the built-in table */
    int n_clutter;               /* background concepts (no word) */
    double zipf_s;               /* noun frequency ~ 1 / rank^zipf_s */
    /* images */
    int obj_min, obj_max;        /* objects per image */
    int obj_regions_min, obj_regions_max; /* regions per object */
    /* captions */
    int mention_min, mention_max; /* objects a caption mentions */
    double p_attr;               /* probability that a mention carries the attribute */
    double p_the;                /* probability of "the" instead of "a"/"an" */
    int cap_len_min, cap_len_max; /* tokens per caption, the final "." included */
    /* features */
    double category_mix;         /* share of a noun prototype's variance from its category */
    double attr_scale;           /* weight of the attribute prototype in an object region */
    double clutter_scale;        /* weight of the clutter prototype in a background region */
    double visibility_min;       /* per-region noun weight uniform in [visibility_min, 1] */
    double noise;                /* standard deviation of the per-dimension Gaussian noise */
    double feat_scale, feat_shift; /* feature = feat_scale * max(0, z + feat_shift) */
    /* optional progress report (not part of the data) */
    ua_synth_progress_fn progress;
    void *progress_ctx;
} ua_synth_config;

/* Fills cfg with a preset: "tiny" (unit tests), "small" (the demo), "f30k" (Flickr30K sizes).
 * Seed 1, no testall, no progress callback. */
int ua_synth_preset(const char *name, ua_synth_config *cfg, ua_err *err);
/* "tiny|small|f30k" */
const char *ua_synth_preset_names(void);
/* Checks every field's range; the message names the field. */
int ua_synth_check(const ua_synth_config *cfg, ua_err *err);
/* Writes every split into data_dir and the vocabulary into vocab_file, creating the folders.
 * Each file is written atomically; an image split is streamed (never held in memory). */
int ua_synth_write(const ua_synth_config *cfg, const char *data_dir, const char *vocab_file, ua_err *err);

/* ---- the model's words and an image's content, for tests and analyses ---- */

/* size of the built-in tables (upper bounds of n_nouns, n_attrs) */
int ua_synth_max_nouns(void);
int ua_synth_max_attrs(void);
/* words naming noun concept i (synonyms after the first); returns how many (1-3) */
int ua_synth_noun_words(int noun, const char *const **words);
const char *ua_synth_attr_word(int attr);
/* the category of noun i (0 .. UA_SYNTH_N_CATEGORIES-1) and a category's name */
int ua_synth_noun_category(int noun);
const char *ua_synth_category_name(int category);
/* The function and filler words of the caption templates (with repeats, "." included):
 * stores up to cap of them in out and returns how many there are in all. */
int ua_synth_template_words(const char **out, int cap);

typedef struct ua_synth_object {
    int noun, attr, n_regions;
} ua_synth_object;

typedef struct ua_synth_image {
    int n_objects;
    ua_synth_object obj[UA_SYNTH_MAX_OBJECTS];
    signed char region_object[UA_SYNTH_REGIONS]; /* object index of each region, -1: background */
    short region_clutter[UA_SYNTH_REGIONS];      /* clutter concept of a background region, else -1 */
    float region_visibility[UA_SYNTH_REGIONS];   /* noun weight v of an object region, else 0 */
} ua_synth_image;

/* The content of image `index` of a split, exactly as ua_synth_write generates it. */
int ua_synth_image_layout(const ua_synth_config *cfg, ua_synth_split split, long index,
                          ua_synth_image *img, ua_err *err);

#endif
