/* Synthetic precomp dataset generator: presets, checks, the caption composer, the region
 * features and the writer. The generative model is described in include/uarda/synth.h. */
#include "uarda/synth.h"
#include "synth_internal.h"
#include "uarda/atomic.h"
#include "uarda/npy.h"
#include "uarda/rng.h"
#include "uarda/vocab.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------------------------------ */
/* Caption templates: phrases of function and filler words (nothing in an image grounds them). */

#define PHRASE_MAX 5
typedef struct phrase {
    const char *w[PHRASE_MAX];   /* NULL-padded; all NULL: the empty phrase */
} phrase;

static const phrase PERIOD[] = {{{"."}}};
enum { DET_A, DET_AN, DET_THE };
static const phrase DETERMINERS[] = {{{"a"}}, {{"an"}}, {{"the"}}};
static const phrase OPENERS[] = {
    {{NULL}},
    {{"a", "picture", "of"}},
    {{"a", "photo", "of"}},
    {{"an", "image", "of"}},
    {{"a", "view", "of"}},
    {{"there", "is"}},
    {{"this", "scene", "shows"}},
    {{"this", "picture", "is", "showing"}},
    {{"we", "can", "see"}},
    {{"here", "is"}},
    {{"in", "this", "photo", "there", "is"}},
    {{"the", "scene", "is", "showing"}},
};
static const phrase PARTICIPLES[] = {
    {{"standing"}}, {{"sitting"}}, {{"resting"}}, {{"visible"}}, {{"seen", "clearly"}}, {{"shown", "here"}},
};
static const phrase CONNECTORS[] = {   /* the first is the fallback's */
    {{"and"}}, {{"with"}}, {{"next", "to"}}, {{"near"}}, {{"on"}}, {{"beside"}}, {{"behind"}},
    {{"in", "front", "of"}}, {{"by"}}, {{"under"}}, {{"along", "with"}}, {{"and", "also"}},
};
static const phrase CLOSERS[] = {
    {{NULL}},
    {{"nearby"}},
    {{"in", "the", "scene"}},
    {{"in", "the", "picture"}},
    {{"in", "the", "background"}},
    {{"outside"}},
    {{"together"}},
    {{"over", "there"}},
    {{"on", "a", "sunny", "day"}},
    {{"at", "the", "moment"}},
    {{"right", "here"}},
};
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef struct phrase_table {
    const phrase *p;
    int n;
} phrase_table;

/* every template word, in the vocabulary's order */
static const phrase_table TEMPLATE_TABLES[] = {
    {PERIOD, COUNT(PERIOD)},           {DETERMINERS, COUNT(DETERMINERS)},
    {OPENERS, COUNT(OPENERS)},         {PARTICIPLES, COUNT(PARTICIPLES)},
    {CONNECTORS, COUNT(CONNECTORS)},   {CLOSERS, COUNT(CLOSERS)},
};

static int phrase_len(const phrase *p)
{
    int n = 0;
    while (n < PHRASE_MAX && p->w[n]) n++;
    return n;
}

static int max_phrase_len(const phrase *p, int n)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (phrase_len(&p[i]) > m) m = phrase_len(&p[i]);
    return m;
}

int ua_synth_template_words(const char **out, int cap)
{
    int n = 0;
    for (int t = 0; t < COUNT(TEMPLATE_TABLES); t++)
        for (int i = 0; i < TEMPLATE_TABLES[t].n; i++) {
            const phrase *p = &TEMPLATE_TABLES[t].p[i];
            for (int k = 0; k < phrase_len(p); k++, n++)
                if (n < cap) out[n] = p->w[k];
        }
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Presets */

static const char *const SPLIT_NAMES[UA_SYNTH_N_SPLITS] = {"train", "dev", "test", "testall"};

const char *ua_synth_split_name(ua_synth_split split)
{
    return (unsigned)split < UA_SYNTH_N_SPLITS ? SPLIT_NAMES[split] : "?";
}

#define ALL_OF_TABLE 0   /* n_nouns / n_attrs in a preset: the whole built-in table */

typedef struct preset {
    const char *name;
    ua_synth_config cfg;
} preset;

/* Shared by the presets: the sentence and feature model. */
#define COMMON_MODEL                                                                          \
    .zipf_s = 1.0, .p_attr = 0.5, .p_the = 0.3, .cap_len_min = 8, .cap_len_max = 16,          \
    .category_mix = 0.3, .attr_scale = 0.5, .clutter_scale = 1.0, .visibility_min = 0.5,      \
    .feat_scale = 1.0, .feat_shift = 0.0

static const preset PRESETS[] = {
    /* unit tests: generated in milliseconds */
    {"tiny", {.n_images = {64, 16, 16, 0}, .img_dim = 32, .n_nouns = 16, .n_attrs = 6, .n_clutter = 4,
              .obj_min = 2, .obj_max = 3, .obj_regions_min = 2, .obj_regions_max = 4,
              .mention_min = 1, .mention_max = 2, .noise = 0.5, COMMON_MODEL}},
    /* the demo: a small SCAN model learns it in minutes on two cores */
    {"small", {.n_images = {3000, 1000, 1000, 0}, .img_dim = 256, .n_nouns = 100, .n_attrs = 24,
               .n_clutter = 16, .obj_min = 2, .obj_max = 5, .obj_regions_min = 3, .obj_regions_max = 6,
               .mention_min = 1, .mention_max = 3, .noise = 1.0, COMMON_MODEL}},
    /* the size of Flickr30K's precomp features (train_ims.npy: 8.5 GB) */
    {"f30k", {.n_images = {29000, 1014, 1000, 0}, .img_dim = 2048, .n_nouns = ALL_OF_TABLE,
              .n_attrs = ALL_OF_TABLE, .n_clutter = 48, .obj_min = 2, .obj_max = 5,
              .obj_regions_min = 3, .obj_regions_max = 6, .mention_min = 1, .mention_max = 3,
              .noise = 1.0, COMMON_MODEL}},
    /* real captions (the caller names the files): about 7,000 images from Flickr30K's test and
     * dev and MS-COCO's 5K test, of which 1000 dev, 1000 test and the rest for training; a
     * training run of the demo's recipe takes about 4 minutes on two cores */
    {"captions", {.n_images = {0, 1000, 1000, 0}, .img_dim = 256, .n_clutter = 16, .obj_regions_min = 2,
                  .obj_regions_max = 4, .noise = 1.0, .clutter_scale = 1.0, .visibility_min = 0.5,
                  .feat_scale = 1.0, .feat_shift = 0.0, .from_captions = 1, .concept_min_captions = 2,
                  .max_concepts = 10, .vocab_threshold = 4}},
};

const char *ua_synth_preset_names(void) { return "tiny|small|f30k|captions"; }

int ua_synth_preset(const char *name, ua_synth_config *cfg, ua_err *err)
{
    for (int i = 0; i < COUNT(PRESETS); i++)
        if (name && strcmp(name, PRESETS[i].name) == 0) {
            *cfg = PRESETS[i].cfg;
            cfg->preset = PRESETS[i].name;
            cfg->seed = 1;
            cfg->pictures = 1;
            if (cfg->from_captions) return 0;   /* no nouns nor attributes */
            if (cfg->n_nouns == ALL_OF_TABLE) cfg->n_nouns = ua_synth_max_nouns();
            if (cfg->n_attrs == ALL_OF_TABLE) cfg->n_attrs = ua_synth_max_attrs();
            return 0;
        }
    return ua_fail(err, "synth: unknown preset '%s' (presets: %s)", name ? name : "(null)",
                   ua_synth_preset_names());
}

/* ------------------------------------------------------------------------------------------ */
/* Configuration check */

int ua_synth_int_range(const char *field, int v, int lo, int hi, ua_err *err)
{
    if (v < lo || v > hi) return ua_fail(err, "synth: %s must be in [%d, %d], got %d", field, lo, hi, v);
    return 0;
}

int ua_synth_real_range(const char *field, double v, double lo, double hi, ua_err *err)
{
    if (!isfinite(v) || v < lo || v > hi)
        return ua_fail(err, "synth: %s must be in [%g, %g], got %g", field, lo, hi, v);
    return 0;
}

/* longest filler a caption can get: opener + participle + closer */
static int max_filler(void)
{
    return max_phrase_len(OPENERS, COUNT(OPENERS)) + max_phrase_len(PARTICIPLES, COUNT(PARTICIPLES)) +
           max_phrase_len(CLOSERS, COUNT(CLOSERS));
}

int ua_synth_check(const ua_synth_config *c, ua_err *err)
{
    if (c->from_captions) return ua_synth_captions_check(c, err);
    static const char *const n_fields[UA_SYNTH_N_SPLITS] = {"n_train", "n_dev", "n_test", "n_testall"};
    for (int s = 0; s < UA_SYNTH_N_SPLITS; s++)
        if (ua_synth_int_range(n_fields[s], c->n_images[s], s == UA_SYNTH_TESTALL ? 0 : 1, 100000000, err)) return -1;
    int mentions_max = c->mention_max < c->obj_max ? c->mention_max : c->obj_max;
    /* a minimal caption of k mentions ("a attr noun" + "and" between, "."): 4k tokens at most;
     * a one-mention caption with every filler: 3 + max_filler() tokens */
    if (ua_synth_int_range("img_dim", c->img_dim, 1, 1 << 16, err) ||
        ua_synth_int_range("obj_min", c->obj_min, 1, UA_SYNTH_MAX_OBJECTS, err) ||
        ua_synth_int_range("obj_max", c->obj_max, c->obj_min, UA_SYNTH_MAX_OBJECTS, err) ||
        ua_synth_int_range("n_nouns", c->n_nouns, c->obj_max, ua_synth_max_nouns(), err) ||
        ua_synth_int_range("n_attrs", c->n_attrs, 1, ua_synth_max_attrs(), err) ||
        ua_synth_int_range("n_clutter", c->n_clutter, 1, 1 << 15, err) ||
        ua_synth_int_range("obj_regions_min", c->obj_regions_min, 1, UA_SYNTH_REGIONS, err) ||
        ua_synth_int_range("obj_regions_max", c->obj_regions_max, c->obj_regions_min,
                  (UA_SYNTH_REGIONS - UA_SYNTH_MIN_BACKGROUND) / c->obj_max, err) ||
        ua_synth_int_range("mention_min", c->mention_min, 1, c->obj_min, err) ||
        ua_synth_int_range("mention_max", c->mention_max, c->mention_min, UA_SYNTH_MAX_OBJECTS, err) ||
        ua_synth_int_range("cap_len_min", c->cap_len_min, 3, 3 + max_filler(), err) ||
        ua_synth_int_range("cap_len_max", c->cap_len_max,
                  c->cap_len_min > 4 * mentions_max ? c->cap_len_min : 4 * mentions_max,
                  UA_SYNTH_MAX_CAP_TOKENS, err) ||
        ua_synth_real_range("zipf_s", c->zipf_s, 0, 10, err) ||
        ua_synth_real_range("p_attr", c->p_attr, 0, 1, err) ||
        ua_synth_real_range("p_the", c->p_the, 0, 1, err) ||
        ua_synth_real_range("category_mix", c->category_mix, 0, 1, err) ||
        ua_synth_real_range("attr_scale", c->attr_scale, 0, 1e6, err) ||
        ua_synth_real_range("clutter_scale", c->clutter_scale, 0, 1e6, err) ||
        ua_synth_real_range("visibility_min", c->visibility_min, 0, 1, err) ||
        ua_synth_real_range("noise", c->noise, 0, 1e6, err) ||
        ua_synth_real_range("feat_scale", c->feat_scale, 1e-6, 1e6, err) ||
        ua_synth_real_range("feat_shift", c->feat_shift, -1e6, 1e6, err))
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Random streams: one per prototype and one per (split, image) for content and for features,
 * each seeded from (seed, tag, index) through splitmix64's finalizer. */

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void ua_synth_stream(ua_rng *r, uint64_t seed, uint64_t tag, uint64_t index)
{
    ua_rng_seed(r, mix64(mix64(mix64(seed) ^ tag) ^ index), UA_RNG_SYNTH);
}

/* ------------------------------------------------------------------------------------------ */
/* The world: prototypes, the noun frequencies and the noise table. */

typedef struct world {
    const ua_synth_config *cfg;
    size_t d;
    float *noun, *attr, *clutter;   /* prototypes, [n][d] */
    double *zipf_cdf;               /* [n_nouns] */
    float *gauss;                   /* [UA_SYNTH_NOISE_LEVELS] */
} world;

static double *zipf_cdf_new(const ua_synth_config *cfg, ua_err *err)
{
    double *cdf = ua_malloc((size_t)cfg->n_nouns * sizeof *cdf, err);
    if (!cdf) return NULL;
    double acc = 0;
    for (int k = 0; k < cfg->n_nouns; k++) cdf[k] = acc += pow(k + 1.0, -cfg->zipf_s);
    for (int k = 0; k < cfg->n_nouns; k++) cdf[k] /= acc;
    cdf[cfg->n_nouns - 1] = 1.0;
    return cdf;
}

static int zipf_draw(const double *cdf, int n, ua_rng *r)
{
    double u = ua_rng_unif_double(r);
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cdf[mid] > u) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* the standard normal quantile: Abramowitz-Stegun 26.2.23 as the start, then Newton steps */
static double normal_quantile(double p)
{
    double q = p < 0.5 ? p : 1 - p;
    double t = sqrt(-2 * log(q));
    double x = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) /
                       (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
    if (p < 0.5) x = -x;
    for (int it = 0; it < 3; it++) {
        double cdf = 0.5 * erfc(-x / sqrt(2.0));
        double pdf = exp(-0.5 * x * x) / sqrt(2 * M_PI);
        x -= (cdf - p) / pdf;
    }
    return x;
}

void ua_synth_prototype(float *out, size_t d, uint64_t seed, uint64_t tag, uint64_t index)
{
    ua_rng r;
    ua_synth_stream(&r, seed, tag, index);
    for (size_t j = 0; j < d; j++) out[j] = (float)ua_rng_normal(&r);
}

static void gaussian_prototypes(float *out, int n, size_t d, uint64_t seed, int tag)
{
    for (int i = 0; i < n; i++) ua_synth_prototype(out + (size_t)i * d, d, seed, (uint64_t)tag, (uint64_t)i);
}

void ua_synth_noise_table(float *gauss)
{
    for (int i = 0; i < UA_SYNTH_NOISE_LEVELS / 2; i++) {
        float x = (float)normal_quantile((i + 0.5) / UA_SYNTH_NOISE_LEVELS);
        gauss[i] = x;
        gauss[UA_SYNTH_NOISE_LEVELS - 1 - i] = -x;
    }
}

static void world_free(world *w)
{
    free(w->noun);
    free(w->attr);
    free(w->clutter);
    free(w->zipf_cdf);
    free(w->gauss);
    memset(w, 0, sizeof *w);
}

static int world_init(world *w, const ua_synth_config *cfg, ua_err *err)
{
    memset(w, 0, sizeof *w);
    w->cfg = cfg;
    size_t d = w->d = (size_t)cfg->img_dim;
    float *category = ua_malloc((size_t)UA_SYNTH_N_CATEGORIES * d * sizeof(float), err);
    w->noun = category ? ua_malloc((size_t)cfg->n_nouns * d * sizeof(float), err) : NULL;
    w->attr = w->noun ? ua_malloc((size_t)cfg->n_attrs * d * sizeof(float), err) : NULL;
    w->clutter = w->attr ? ua_malloc((size_t)cfg->n_clutter * d * sizeof(float), err) : NULL;
    w->gauss = w->clutter ? ua_malloc(UA_SYNTH_NOISE_LEVELS * sizeof(float), err) : NULL;
    w->zipf_cdf = w->gauss ? zipf_cdf_new(cfg, err) : NULL;
    if (!w->zipf_cdf) {
        free(category);
        world_free(w);
        return ua_fail_prefix(err, "synth");
    }
    gaussian_prototypes(category, UA_SYNTH_N_CATEGORIES, d, cfg->seed, UA_SYNTH_TAG_CATEGORY);
    gaussian_prototypes(w->noun, cfg->n_nouns, d, cfg->seed, UA_SYNTH_TAG_NOUN);
    gaussian_prototypes(w->attr, cfg->n_attrs, d, cfg->seed, UA_SYNTH_TAG_ATTR);
    gaussian_prototypes(w->clutter, cfg->n_clutter, d, cfg->seed, UA_SYNTH_TAG_CLUTTER);
    /* noun = sqrt(mix) * category + sqrt(1 - mix) * own: unit variance per dimension */
    float cw = (float)sqrt(cfg->category_mix), ow = (float)sqrt(1 - cfg->category_mix);
    for (int i = 0; i < cfg->n_nouns; i++) {
        const float *c = category + (size_t)ua_synth_noun_category(i) * d;
        float *x = w->noun + (size_t)i * d;
        for (size_t j = 0; j < d; j++) x[j] = cw * c[j] + ow * x[j];
    }
    free(category);
    ua_synth_noise_table(w->gauss);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* One image: its content (objects, layout, captions) and its region features. */

typedef struct caption {
    int n;
    const char *tok[UA_SYNTH_MAX_CAP_TOKENS];
    unsigned char ground[UA_SYNTH_MAX_CAP_TOKENS];
} caption;

typedef struct image_content {
    ua_synth_image img;
    caption caps[UA_SYNTH_CAPS_PER_IMAGE];
} image_content;

static void gen_layout(const ua_synth_config *cfg, const double *zipf_cdf, ua_rng *r, ua_synth_image *img)
{
    memset(img, 0, sizeof *img);
    img->n_objects = cfg->obj_min + (int)ua_rng_below(r, (uint32_t)(cfg->obj_max - cfg->obj_min + 1));
    for (int o = 0; o < img->n_objects; o++) {
        /* a noun the image does not have yet: Zipf draws, then (very unlikely) the first free */
        int noun = -1;
        for (int tries = 0; tries < 64 && noun < 0; tries++) {
            noun = zipf_draw(zipf_cdf, cfg->n_nouns, r);
            for (int p = 0; p < o; p++)
                if (img->obj[p].noun == noun) noun = -1;
        }
        for (int cand = 0; noun < 0; cand++) {
            noun = cand;
            for (int p = 0; p < o; p++)
                if (img->obj[p].noun == cand) noun = -1;
        }
        img->obj[o].noun = noun;
        img->obj[o].attr = (int)ua_rng_below(r, (uint32_t)cfg->n_attrs);
        img->obj[o].n_regions =
            cfg->obj_regions_min + (int)ua_rng_below(r, (uint32_t)(cfg->obj_regions_max - cfg->obj_regions_min + 1));
    }
    int pos[UA_SYNTH_REGIONS];
    for (int i = 0; i < UA_SYNTH_REGIONS; i++) pos[i] = i;
    ua_rng_shuffle(r, pos, UA_SYNTH_REGIONS);
    int next = 0;
    for (int o = 0; o < img->n_objects; o++)
        for (int k = 0; k < img->obj[o].n_regions; k++) {
            int reg = pos[next++];
            img->region_object[reg] = (signed char)o;
            img->region_clutter[reg] = -1;
            img->region_visibility[reg] = (float)(cfg->visibility_min + (1 - cfg->visibility_min) * ua_rng_unif_double(r));
        }
    for (; next < UA_SYNTH_REGIONS; next++) {
        int reg = pos[next];
        img->region_object[reg] = -1;
        img->region_clutter[reg] = (short)ua_rng_below(r, (uint32_t)cfg->n_clutter);
        img->region_visibility[reg] = 0;
    }
}

typedef struct mention {
    const char *noun, *attr;   /* attr NULL: without the attribute */
    int the;                   /* "the" rather than "a"/"an" */
} mention;

typedef struct template_choice {
    int opener, participle, closer;   /* participle -1: none */
    int conn[UA_SYNTH_MAX_OBJECTS];   /* connector before mention i (i >= 1) */
} template_choice;

#define DRAFT_MAX 64   /* > longest opener + 8 mentions + 7 connectors + participle + closer + 1 */
typedef struct draft {
    int n;
    const char *tok[DRAFT_MAX];
    unsigned char ground[DRAFT_MAX];
} draft;

static void put(draft *d, const char *w, int grounded)
{
    d->tok[d->n] = w;
    d->ground[d->n++] = (unsigned char)grounded;
}

static void put_phrase(draft *d, const phrase *p)
{
    for (int k = 0; k < phrase_len(p); k++) put(d, p->w[k], 0);
}

static void assemble(draft *d, const mention *m, int k, int with_attrs, const template_choice *t)
{
    d->n = 0;
    put_phrase(d, &OPENERS[t->opener]);
    for (int i = 0; i < k; i++) {
        if (i > 0) put_phrase(d, &CONNECTORS[t->conn[i]]);
        const char *attr = with_attrs ? m[i].attr : NULL;
        const char *next = attr ? attr : m[i].noun;
        int det = m[i].the ? DET_THE : strchr("aeiou", next[0]) ? DET_AN : DET_A;
        put(d, DETERMINERS[det].w[0], 0);
        if (attr) put(d, attr, 1);
        put(d, m[i].noun, 1);
        if (i == 0 && t->participle >= 0) put_phrase(d, &PARTICIPLES[t->participle]);
    }
    put_phrase(d, &CLOSERS[t->closer]);
    put_phrase(d, &PERIOD[0]);
}

static int fits(const ua_synth_config *cfg, const draft *d)
{
    return d->n >= cfg->cap_len_min && d->n <= cfg->cap_len_max;
}

/* Mentions a random subset of the image's objects in a random template; when the random
 * templates miss the length range, the first template (in table order) that hits it, with
 * fewer attributes or mentions if need be. ua_synth_check guarantees one exists. */
static void compose(const ua_synth_config *cfg, const ua_synth_image *img, ua_rng *r, caption *c)
{
    int n_obj = img->n_objects;
    int k_max = cfg->mention_max < n_obj ? cfg->mention_max : n_obj;
    int k = cfg->mention_min + (int)ua_rng_below(r, (uint32_t)(k_max - cfg->mention_min + 1));
    int order[UA_SYNTH_MAX_OBJECTS];
    for (int i = 0; i < n_obj; i++) order[i] = i;
    mention m[UA_SYNTH_MAX_OBJECTS];
    for (int i = 0; i < k; i++) {
        int j = i + (int)ua_rng_below(r, (uint32_t)(n_obj - i));
        int t = order[i]; order[i] = order[j]; order[j] = t;
        const ua_synth_object *o = &img->obj[order[i]];
        const char *const *words;
        int n_words = ua_synth_noun_words(o->noun, &words);
        m[i].noun = words[ua_rng_below(r, (uint32_t)n_words)];
        m[i].attr = ua_rng_unif_double(r) < cfg->p_attr ? ua_synth_attr_word(o->attr) : NULL;
        m[i].the = ua_rng_unif_double(r) < cfg->p_the;
    }

    draft d;
    template_choice t;
    for (int attempt = 0; attempt < UA_SYNTH_CAPTION_TRIES; attempt++) {
        t.opener = (int)ua_rng_below(r, COUNT(OPENERS));
        t.participle = ua_rng_unif_double(r) < UA_SYNTH_P_PARTICIPLE ? (int)ua_rng_below(r, COUNT(PARTICIPLES)) : -1;
        for (int i = 1; i < k; i++) t.conn[i] = (int)ua_rng_below(r, COUNT(CONNECTORS));
        t.closer = (int)ua_rng_below(r, COUNT(CLOSERS));
        assemble(&d, m, k, 1, &t);
        if (fits(cfg, &d)) goto done;
    }
    memset(&t, 0, sizeof t);
    for (int kk = k; kk >= 1; kk--)
        for (int with_attrs = 1; with_attrs >= 0; with_attrs--)
            for (t.opener = 0; t.opener < COUNT(OPENERS); t.opener++)
                for (t.participle = -1; t.participle < COUNT(PARTICIPLES); t.participle++)
                    for (t.closer = 0; t.closer < COUNT(CLOSERS); t.closer++) {
                        assemble(&d, m, kk, with_attrs, &t);
                        if (fits(cfg, &d)) goto done;
                    }
done:
    c->n = d.n < UA_SYNTH_MAX_CAP_TOKENS ? d.n : UA_SYNTH_MAX_CAP_TOKENS;
    memcpy(c->tok, d.tok, (size_t)c->n * sizeof d.tok[0]);
    memcpy(c->ground, d.ground, (size_t)c->n);
}

static void gen_content(const world *w, ua_synth_split split, long index, image_content *ic)
{
    ua_rng r;
    ua_synth_stream(&r, w->cfg->seed, UA_SYNTH_TAG_CONTENT + (uint64_t)split, (uint64_t)index);
    gen_layout(w->cfg, w->zipf_cdf, &r, &ic->img);
    for (int c = 0; c < UA_SYNTH_CAPS_PER_IMAGE; c++) compose(w->cfg, &ic->img, &r, &ic->caps[c]);
}

void ua_synth_region(float *x, size_t d, const float *gauss, ua_rng *r, const float *p1, float w1,
                     const float *p2, float w2, float noise, float scale, float shift)
{
    /* noise first: two 16-bit table indices per 32-bit draw */
    size_t j = 0;
    for (; j + 1 < d; j += 2) {
        uint32_t u = ua_rng_u32(r);
        x[j] = gauss[u & 0xffff];
        x[j + 1] = gauss[u >> 16];
    }
    if (j < d) x[j] = gauss[ua_rng_u32(r) & 0xffff];
    if (p2) {
        for (j = 0; j < d; j++) {
            float z = w1 * p1[j] + w2 * p2[j] + noise * x[j] + shift;
            x[j] = scale * (z > 0 ? z : 0);
        }
    } else {
        for (j = 0; j < d; j++) {
            float z = w1 * p1[j] + noise * x[j] + shift;
            x[j] = scale * (z > 0 ? z : 0);
        }
    }
}

/* [UA_SYNTH_REGIONS][d] features of one image */
static void gen_features(const world *w, ua_synth_split split, long index, const ua_synth_image *img, float *out)
{
    const ua_synth_config *cfg = w->cfg;
    const size_t d = w->d;
    const float noise = (float)cfg->noise, scale = (float)cfg->feat_scale, shift = (float)cfg->feat_shift;
    const float *gauss = w->gauss;
    ua_rng r;
    ua_synth_stream(&r, cfg->seed, UA_SYNTH_TAG_FEATURES + (uint64_t)split, (uint64_t)index);
    for (int reg = 0; reg < UA_SYNTH_REGIONS; reg++) {
        float *x = out + (size_t)reg * d;
        int o = img->region_object[reg];
        if (o >= 0)
            ua_synth_region(x, d, gauss, &r, w->noun + (size_t)img->obj[o].noun * d, img->region_visibility[reg],
                            w->attr + (size_t)img->obj[o].attr * d, (float)cfg->attr_scale, noise, scale, shift);
        else
            ua_synth_region(x, d, gauss, &r, w->clutter + (size_t)img->region_clutter[reg] * d,
                            (float)cfg->clutter_scale, NULL, 0, noise, scale, shift);
    }
}

int ua_synth_image_layout(const ua_synth_config *cfg, ua_synth_split split, long index,
                          ua_synth_image *img, ua_err *err)
{
    if (cfg->from_captions)
        return ua_fail(err, "synth: the captions preset's images come from ua_synth_corpus_image");
    if (ua_synth_check(cfg, err)) return -1;
    if ((unsigned)split >= UA_SYNTH_N_SPLITS || index < 0 || index >= cfg->n_images[split])
        return ua_fail(err, "synth: no image %ld in split %s", index, ua_synth_split_name(split));
    double *cdf = zipf_cdf_new(cfg, err);
    if (!cdf) return ua_fail_prefix(err, "synth");
    ua_rng r;
    ua_synth_stream(&r, cfg->seed, UA_SYNTH_TAG_CONTENT + (uint64_t)split, (uint64_t)index);
    gen_layout(cfg, cdf, &r, img);
    free(cdf);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Files */


char *ua_synth_split_file(const char *dir, ua_synth_split split, const char *suffix, ua_err *err)
{
    size_t n = strlen(dir) + strlen(suffix) + 16;
    char *p = ua_malloc(n, err);
    if (p) snprintf(p, n, "%s/%s%s", dir, ua_synth_split_name(split), suffix);
    return p;
}

static int write_vocab(const ua_synth_config *cfg, const char *path, int *n_words, ua_err *err)
{
    ua_vocab v;
    if (ua_vocab_init(&v, err)) return -1;
    int rc = 0;
    for (int t = 0; t < COUNT(TEMPLATE_TABLES) && !rc; t++)
        for (int i = 0; i < TEMPLATE_TABLES[t].n && !rc; i++) {
            const phrase *p = &TEMPLATE_TABLES[t].p[i];
            for (int k = 0; k < phrase_len(p) && !rc; k++) rc = ua_vocab_add(&v, p->w[k], err) < 0;
        }
    for (int a = 0; a < cfg->n_attrs && !rc; a++) rc = ua_vocab_add(&v, ua_synth_attr_word(a), err) < 0;
    for (int i = 0; i < cfg->n_nouns && !rc; i++) {
        const char *const *words;
        int n = ua_synth_noun_words(i, &words);
        for (int k = 0; k < n && !rc; k++) rc = ua_vocab_add(&v, words[k], err) < 0;
    }
    if (!rc) rc = ua_vocab_save(&v, path, err);
    *n_words = v.n;
    ua_vocab_free(&v);
    return rc ? -1 : 0;
}

/* images generated together (in parallel), then appended: about 16 MB of features */
#define CHUNK_FLOATS ((size_t)1 << 22)

static int write_split(const world *w, ua_synth_split split, const char *dir, ua_err *err)
{
    const ua_synth_config *cfg = w->cfg;
    long n = cfg->n_images[split];
    if (n == 0) return 0;
    const size_t per_image = (size_t)UA_SYNTH_REGIONS * w->d;
    long chunk = (long)(CHUNK_FLOATS / per_image);
    if (chunk < 1) chunk = 1;
    if (chunk > n) chunk = n;

    int rc = -1;
    ua_npy_writer ims = {0};
    ua_atomic_file caps = {0}, grounding = {0};
    char *ims_path = ua_synth_split_file(dir, split, "_ims.npy", err);
    char *caps_path = ims_path ? ua_synth_split_file(dir, split, "_caps.txt", err) : NULL;
    char *ground_path = caps_path ? ua_synth_split_file(dir, split, "_caps_grounding.txt", err) : NULL;
    float *feats = ground_path ? ua_malloc((size_t)chunk * per_image * sizeof(float), err) : NULL;
    image_content *content = feats ? ua_malloc((size_t)chunk * sizeof *content, err) : NULL;
    if (!content) {
        ua_fail_prefix(err, "synth");
        goto out;
    }
    const int64_t shape[3] = {n, UA_SYNTH_REGIONS, (int64_t)w->d};
    if (ua_npy_writer_open(&ims, ims_path, 3, shape, err)) goto out;
    if (ua_atomic_open(&caps, caps_path, err)) goto out;
    if (ua_atomic_open(&grounding, ground_path, err)) goto out;

    for (long start = 0; start < n; start += chunk) {
        long m = n - start < chunk ? n - start : chunk;
        #pragma omp parallel for schedule(dynamic, 1)
        for (long i = 0; i < m; i++) {
            gen_content(w, split, start + i, &content[i]);
            gen_features(w, split, start + i, &content[i].img, feats + (size_t)i * per_image);
        }
        if (ua_npy_writer_append(&ims, feats, (size_t)m * per_image, err)) goto out;
        for (long i = 0; i < m; i++)
            for (int c = 0; c < UA_SYNTH_CAPS_PER_IMAGE; c++) {
                const caption *cap = &content[i].caps[c];
                for (int t = 0; t < cap->n; t++) {
                    fputs(cap->tok[t], caps.fp);
                    fputc(t + 1 < cap->n ? ' ' : '\n', caps.fp);
                    fputc('0' + cap->ground[t], grounding.fp);
                    fputc(t + 1 < cap->n ? ' ' : '\n', grounding.fp);
                }
            }
        if (cfg->progress) cfg->progress(cfg->progress_ctx, ua_synth_split_name(split), start + m, n);
    }
    if (ua_atomic_commit(&caps, err) || ua_atomic_commit(&grounding, err) || ua_npy_writer_commit(&ims, err))
        goto out;
    rc = 0;
out:
    ua_atomic_abort(&caps);
    ua_atomic_abort(&grounding);
    ua_npy_writer_abort(&ims);
    free(content);
    free(feats);
    free(ims_path);
    free(caps_path);
    free(ground_path);
    return rc;
}

int ua_synth_readme_open(ua_atomic_file *f, const char *dir, ua_err *err)
{
    size_t n = strlen(dir) + 32;
    char *path = ua_malloc(n, err);
    if (!path) return ua_fail_prefix(err, "synth");
    snprintf(path, n, "%s/README.synth.txt", dir);
    int rc = ua_atomic_open(f, path, err);
    free(path);
    return rc;
}

static int write_readme(const ua_synth_config *c, const char *dir, const char *vocab_file, int n_words, ua_err *err)
{
    ua_atomic_file f;
    if (ua_synth_readme_open(&f, dir, err)) return -1;
    FILE *o = f.fp;
    fprintf(o, "Synthetic image-text data in SCAN's precomp layout, written by `uarda synth`\n"
               "(the generative model is described in include/uarda/synth.h).\n\n");
    fprintf(o, "preset          %s\nseed            %llu\n", c->preset ? c->preset : "(custom)",
            (unsigned long long)c->seed);
    for (int s = 0; s < UA_SYNTH_N_SPLITS; s++)
        if (c->n_images[s] > 0)
            fprintf(o, "%-15s %d images, %d captions\n", ua_synth_split_name(s), c->n_images[s],
                    c->n_images[s] * UA_SYNTH_CAPS_PER_IMAGE);
    fprintf(o, "vocabulary      %s (%d words with the 4 special tokens)\n\n", ua_synth_base_name(vocab_file), n_words);
    fprintf(o, "img_dim         %d\nregions         %d per image\n", c->img_dim, UA_SYNTH_REGIONS);
    fprintf(o, "n_nouns         %d (Zipf exponent zipf_s %g, %d categories, category_mix %g)\n", c->n_nouns,
            c->zipf_s, UA_SYNTH_N_CATEGORIES, c->category_mix);
    fprintf(o, "n_attrs         %d (attr_scale %g)\nn_clutter       %d (clutter_scale %g)\n", c->n_attrs,
            c->attr_scale, c->n_clutter, c->clutter_scale);
    fprintf(o, "objects         %d..%d per image, %d..%d regions each (visibility_min %g)\n", c->obj_min,
            c->obj_max, c->obj_regions_min, c->obj_regions_max, c->visibility_min);
    fprintf(o, "noise           %g (per-dimension standard deviation)\n", c->noise);
    fprintf(o, "features        %g * max(0, z + %g)\n", c->feat_scale, c->feat_shift);
    fprintf(o, "captions        %d per image, %d..%d mentions, p_attr %g, p_the %g, %d..%d tokens\n\n",
            UA_SYNTH_CAPS_PER_IMAGE, c->mention_min, c->mention_max, c->p_attr, c->p_the, c->cap_len_min,
            c->cap_len_max);
    fprintf(o, "Files per split: <split>_ims.npy (float32 [images, %d, %d]), <split>_caps.txt (caption c\n"
               "belongs to image c / %d), <split>_caps_grounding.txt (per caption token: 1 if it names an\n"
               "object of the image or that object's attribute, 0 for function/filler words and \".\").\n",
            UA_SYNTH_REGIONS, c->img_dim, UA_SYNTH_CAPS_PER_IMAGE);
    ua_synth_pictures_readme(o, c);
    int rc = ua_atomic_commit(&f, err);
    return rc;
}

const char *ua_synth_base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int ua_synth_make_dirs(const char *data_dir, const char *vocab_file, ua_err *err)
{
    if (ua_mkdir_p(data_dir, err)) return -1;
    const char *slash = strrchr(vocab_file, '/');
    if (slash && slash != vocab_file) {
        char *parent = strndup(vocab_file, (size_t)(slash - vocab_file));
        if (!parent) return ua_fail(err, "%s: out of memory", vocab_file);
        int rc = ua_mkdir_p(parent, err);
        free(parent);
        if (rc) return -1;
    }
    return 0;
}

/* image `index` of a split as its picture sees it (ua_synth_pictures_write) */
typedef struct picture_ctx {
    const world *w;
    ua_synth_split split;
} picture_ctx;

static int picture_of(void *ctx, long index, ua_synth_picture *p, ua_err *err)
{
    const picture_ctx *c = ctx;
    ua_rng r;
    ua_synth_image img;
    ua_synth_stream(&r, c->w->cfg->seed, UA_SYNTH_TAG_CONTENT + (uint64_t)c->split, (uint64_t)index);
    gen_layout(c->w->cfg, c->w->zipf_cdf, &r, &img);
    memset(p, 0, sizeof *p);
    p->n_objects = img.n_objects;
    memcpy(p->region_object, img.region_object, sizeof p->region_object);
    memcpy(p->region_clutter, img.region_clutter, sizeof p->region_clutter);
    for (int o = 0; o < img.n_objects; o++) {
        const char *const *words;
        ua_synth_noun_words(img.obj[o].noun, &words);
        p->noun[o] = words[0];
        p->attr[o] = ua_synth_attr_word(img.obj[o].attr);
    }
    p->stream_tag = UA_SYNTH_TAG_BOXES + (uint64_t)c->split;
    p->stream_index = (uint64_t)index;
    return 0;
}

int ua_synth_write(const ua_synth_config *cfg, const char *data_dir, const char *vocab_file, ua_err *err)
{
    if (cfg->from_captions) return ua_synth_captions_write(cfg, data_dir, vocab_file, err);
    if (ua_synth_check(cfg, err)) return -1;
    if (ua_synth_make_dirs(data_dir, vocab_file, err)) return -1;
    world w;
    if (world_init(&w, cfg, err)) return -1;
    int n_words = 0;
    int rc = write_vocab(cfg, vocab_file, &n_words, err);
    for (int s = 0; s < UA_SYNTH_N_SPLITS && !rc; s++) rc = write_split(&w, (ua_synth_split)s, data_dir, err);
    for (int s = 0; s < UA_SYNTH_N_SPLITS && !rc; s++) {
        picture_ctx pc = {&w, (ua_synth_split)s};
        rc = ua_synth_pictures_write(cfg, (ua_synth_split)s, cfg->n_images[s], picture_of, &pc, data_dir, err);
    }
    for (int s = 0; s < UA_SYNTH_N_SPLITS && !rc && cfg->n_written; s++) cfg->n_written[s] = cfg->n_images[s];
    if (!rc) rc = write_readme(cfg, data_dir, vocab_file, n_words, err);
    world_free(&w);
    return rc;
}
