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
 * The captions preset (from_captions = 1) replaces the concepts, images and captions by real
 * caption files (5 lines per image, consecutive):
 *  - Images. The images of every file, in order, are pooled, shuffled by the seed and cut
 *    into test (the first n_test), dev (the next n_dev) and train (the next n_train; 0: all
 *    the rest); each split keeps the pool's order. An image is in one split only.
 *  - Words. Each caption is tokenized as the loader does (SCAN: lowercase, NLTK word_tokenize).
 *    A token is a function word when ua_synth_is_function_word says so (a closed list of
 *    determiners, pronouns, prepositions, conjunctions, auxiliaries, numerals, ..., and every
 *    token without a letter); every other token is a content word.
 *  - Concepts. An image's concepts are the content words (word types) that at least
 *    concept_min_captions of its captions use, the most used first (ties: the first to occur),
 *    at most max_concepts. Each word type is its own concept with its own N(0, I) prototype,
 *    drawn from a stream keyed by (seed, the word's bytes): "dog" and "dogs", or "puppy", are
 *    different concepts; no categories.
 *  - Regions. Concept k covers obj_regions_min..obj_regions_max regions (fewer, one at least,
 *    when they would leave fewer than UA_SYNTH_MIN_BACKGROUND background regions), at random
 *    positions; z = v * word + noise * N(0, I), v uniform in [visibility_min, 1]; the other
 *    regions are clutter as above. Words that no two captions share, and function words, get
 *    no region.
 *  - Captions: the real lines (stripped of surrounding whitespace). Grounding: per token of
 *    the tokenized caption, 1 if it is one of its image's concepts, else 0.
 *  - Vocabulary: the train split's tokens used at least vocab_threshold times (SCAN's rule),
 *    the most frequent first (ties in byte order); the others read as <unk>.
 *  - Randomness: the split from a stream of its own; an image's layout and its features from
 *    streams keyed by its index in the pool, so they do not depend on the split sizes.
 *
 * Files (data_dir = <data-path>/<data-name>):
 *   <split>_ims.npy               float32 [n_images, 36, img_dim]
 *   <split>_caps.txt              5 captions per image, consecutive (caption c: image c / 5)
 *   <split>_caps_grounding.txt    one line per caption: one 0/1 per caption token
 *   README.synth.txt              preset, seed and every generator parameter
 * and the vocabulary JSON (SCAN's format) holding every word that can occur, in a fixed order
 * after the four special tokens. Splits: train, dev, test and, when n_images[UA_SYNTH_TESTALL] > 0,
 * testall (MS-COCO style 5K/1K protocols).
 *
 * Pictures (cfg->pictures; for the dev and test splits only, which a person may look at: a
 * training gallery of a million images needs none), for uarda serve's page:
 *   <split>_boxes.npy             float32 [n_images, 36, 4]: each region's box x0, y0, x1, y1 in
 *                                 the unit square (y down)
 *   <split>_images/NNNNNN.png     a UA_SYNTH_PICTURE_SIZE-pixel thumbnail of image NNNNNN (with cairo)
 *   <split>_image_names.txt       their names, one per image in order (uarda serve --image-names)
 * The boxes come from streams of their own (the features, captions and grounding are the same
 * bytes with or without pictures): an object (a concept, for the captions preset) gets a centre
 * apart from the others and an extent, its regions are boxes around that centre, and background
 * regions lie anywhere. A thumbnail draws the background regions in greys, each object's
 * regions filled with its attribute's colour (a colour word its colour; another attribute, or a
 * concept, a hue of its own) and outlined in its noun's, and names each object ("red dog") at
 * its centre. */
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
#define UA_SYNTH_MAX_CONCEPTS (UA_SYNTH_REGIONS - UA_SYNTH_MIN_BACKGROUND) /* captions preset:
                                        upper bound for max_concepts (one region each at least) */
#define UA_SYNTH_PICTURE_SIZE 160    /* thumbnail side, in pixels */
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
    int n_images[UA_SYNTH_N_SPLITS]; /* per split; train/dev/test >= 1, testall 0 = not written
                                        (captions preset: train 0 = all the rest, no testall) */
    int img_dim;                 /* region feature size */
    /* concepts */
    int n_nouns;                 /* noun concepts: the first n of the built-in table */
    int n_attrs;                 /* attribute concepts: the first n of the built-in table */
    int n_clutter;               /* background concepts (no word) */
    double zipf_s;               /* noun frequency ~ 1 / rank^zipf_s */
    /* images */
    int obj_min, obj_max;        /* objects per image */
    int obj_regions_min, obj_regions_max; /* regions per object (captions preset: per concept) */
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
    /* the captions preset: content from real caption files (the fields of the concepts,
     * objects and captions above are unused, except obj_regions_min/max) */
    int from_captions;
    const char *const *caption_files; /* n_caption_files paths, 5 lines per image each */
    int n_caption_files;
    int concept_min_captions;    /* a content word that this many of an image's captions use is a concept */
    int max_concepts;            /* concepts per image, at most (1..UA_SYNTH_MAX_CONCEPTS) */
    int vocab_threshold;         /* a train word used this many times is in the vocabulary */
    /* pictures of the dev and test images (1 in every preset; see "Pictures" above) */
    int pictures;
    /* optional progress report and, when not NULL, the images written per split (not part of
     * the data) */
    ua_synth_progress_fn progress;
    void *progress_ctx;
    long *n_written;             /* [UA_SYNTH_N_SPLITS] */
} ua_synth_config;

/* Fills cfg with a preset: "tiny" (unit tests), "small" (the demo), "f30k" (Flickr30K sizes),
 * "captions" (real captions: the caller sets caption_files). Seed 1, no testall, no progress
 * callback. */
int ua_synth_preset(const char *name, ua_synth_config *cfg, ua_err *err);
/* "tiny|small|f30k|captions" */
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

/* The content of image `index` of a split, exactly as ua_synth_write generates it (not for
 * the captions preset: see ua_synth_corpus_image). */
int ua_synth_image_layout(const ua_synth_config *cfg, ua_synth_split split, long index,
                          ua_synth_image *img, ua_err *err);

/* ---- the captions preset's pooled images, for tests and analyses ---- */

/* 1 if a caption token is a function word (grounded in nothing), 0 for a content word */
int ua_synth_is_function_word(const char *token);

typedef struct ua_synth_corpus ua_synth_corpus;

/* Reads, checks and splits the caption files of a captions configuration (as ua_synth_write). */
int  ua_synth_corpus_load(const ua_synth_config *cfg, ua_synth_corpus **out, ua_err *err);
void ua_synth_corpus_free(ua_synth_corpus *c);
/* images in a split (train, dev or test; 0 for another) */
long ua_synth_corpus_images(const ua_synth_corpus *c, ua_synth_split split);

typedef struct ua_synth_caption_image {
    long source;                 /* index in the pool of every file's images */
    const char *file;            /* the caption file it comes from */
    long first_line;             /* its first caption's line there (1-based) */
    int n_concepts;
    const char *concept[UA_SYNTH_MAX_CONCEPTS]; /* the concepts' words (owned by the corpus) */
    int concept_captions[UA_SYNTH_MAX_CONCEPTS]; /* how many of its captions use each */
    int n_regions[UA_SYNTH_MAX_CONCEPTS];
    signed char region_concept[UA_SYNTH_REGIONS]; /* concept of each region, -1: background */
    short region_clutter[UA_SYNTH_REGIONS];       /* clutter concept of a background region, else -1 */
    float region_visibility[UA_SYNTH_REGIONS];    /* word weight v of a concept region, else 0 */
} ua_synth_caption_image;

/* Image `index` of a split, exactly as ua_synth_write generates it. */
int ua_synth_corpus_image(const ua_synth_corpus *c, ua_synth_split split, long index,
                          ua_synth_caption_image *img, ua_err *err);
/* The prototype of a caption word: out[0..cfg->img_dim). */
void ua_synth_word_prototype(const ua_synth_config *cfg, const char *word, float *out);
/* The prototype of clutter concept i: out[0..cfg->img_dim). */
void ua_synth_clutter_prototype(const ua_synth_config *cfg, int i, float *out);

#endif
