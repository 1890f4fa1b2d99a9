/* The captions preset: real caption files ground synthetic images. An image's concepts are the
 * content words that several of its captions share; each gets regions drawn from its word's
 * prototype, the rest is clutter, and the captions stay the real lines. The model is described
 * in include/uarda/synth.h; the prototypes, the noise and the region formula are synth.c's. */
#include "uarda/synth.h"
#include "synth_internal.h"
#include "uarda/atomic.h"
#include "uarda/npy.h"
#include "uarda/precomp.h"
#include "uarda/tokenize.h"
#include "uarda/vocab.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Function words: closed classes (determiners, pronouns, prepositions and the nouns of complex
 * prepositions such as "in front of", conjunctions, auxiliaries and modals with NLTK's clitics,
 * degree adverbs, numerals and quantifiers). Sorted by bytes, for bsearch. */

static const char *const FUNCTION_WORDS[] = {
    "'d", "'ll", "'m", "'re", "'s", "'ve", "a", "about", "above", "across", "after", "against",
    "ahead", "all", "almost", "along", "alongside", "also", "although", "am", "amid", "among",
    "amongst", "an", "and", "another", "any", "anybody", "anyone", "anything", "are", "around",
    "as", "at", "away", "be", "because", "been", "before", "behind", "being", "below", "beneath",
    "beside", "besides", "between", "beyond", "both", "bunch", "but", "by", "ca", "can", "could",
    "despite", "did", "do", "does", "doing", "done", "down", "dozen", "during", "each", "eight",
    "either", "eleven", "even", "every", "everybody", "everyone", "everything", "except", "few",
    "five", "for", "four", "from", "front", "had", "has", "have", "having", "he", "her", "here",
    "hers", "herself", "him", "himself", "his", "how", "hundred", "i", "if", "in", "inside",
    "into", "is", "it", "its", "itself", "just", "kind", "like", "lot", "lots", "many", "may",
    "me", "middle", "might", "mine", "more", "most", "much", "must", "my", "myself", "n't", "near",
    "neither", "next", "nine", "no", "nobody", "nor", "not", "nothing", "of", "off", "on", "one",
    "ones", "only", "onto", "or", "other", "our", "ours", "ourselves", "out", "outside", "over",
    "past", "per", "quite", "rather", "seven", "several", "shall", "she", "should", "six", "so",
    "some", "somebody", "someone", "something", "sort", "still", "such", "ten", "than", "that",
    "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this",
    "those", "though", "thousand", "three", "through", "throughout", "till", "to", "together",
    "too", "top", "toward", "towards", "twelve", "twenty", "two", "type", "under", "underneath",
    "unlike", "until", "up", "upon", "us", "very", "via", "was", "we", "were", "what", "whatever",
    "when", "where", "whether", "which", "while", "who", "whoever", "whom", "whose", "why", "will",
    "with", "within", "without", "wo", "would", "yet", "you", "your", "yours", "yourself",
};
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ua_synth_is_function_word(const char *token)
{
    /* punctuation, numbers, quotes: no ASCII letter (the tokenizer has lowercased A-Z) */
    int letter = 0;
    for (const char *p = token; *p && !letter; p++) letter = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
    if (!letter) return 1;
    return bsearch(&token, FUNCTION_WORDS, (size_t)COUNT(FUNCTION_WORDS), sizeof FUNCTION_WORDS[0], cmp_str) != NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Configuration check */

int ua_synth_captions_check(const ua_synth_config *c, ua_err *err)
{
    if (c->n_caption_files < 1 || !c->caption_files)
        return ua_fail(err, "synth: the captions preset needs caption files (--captions-from FILE...)");
    for (int i = 0; i < c->n_caption_files; i++)
        if (!c->caption_files[i] || !c->caption_files[i][0])
            return ua_fail(err, "synth: caption file %d has an empty name", i + 1);
    if (c->n_images[UA_SYNTH_TESTALL] != 0)
        return ua_fail(err, "synth: the captions preset has no testall split (n_testall must be 0, got %d)",
                       c->n_images[UA_SYNTH_TESTALL]);
    if (ua_synth_int_range("n_train", c->n_images[UA_SYNTH_TRAIN], 0, 100000000, err) ||
        ua_synth_int_range("n_dev", c->n_images[UA_SYNTH_DEV], 1, 100000000, err) ||
        ua_synth_int_range("n_test", c->n_images[UA_SYNTH_TEST], 1, 100000000, err) ||
        ua_synth_int_range("img_dim", c->img_dim, 1, 1 << 16, err) ||
        ua_synth_int_range("n_clutter", c->n_clutter, 1, 1 << 15, err) ||
        ua_synth_int_range("obj_regions_min", c->obj_regions_min, 1, UA_SYNTH_MAX_CONCEPTS, err) ||
        ua_synth_int_range("obj_regions_max", c->obj_regions_max, c->obj_regions_min, UA_SYNTH_MAX_CONCEPTS, err) ||
        ua_synth_int_range("concept_min_captions", c->concept_min_captions, 1, UA_SYNTH_CAPS_PER_IMAGE, err) ||
        ua_synth_int_range("max_concepts", c->max_concepts, 1, UA_SYNTH_MAX_CONCEPTS, err) ||
        ua_synth_int_range("vocab_threshold", c->vocab_threshold, 1, 1 << 30, err) ||
        ua_synth_real_range("clutter_scale", c->clutter_scale, 0, 1e6, err) ||
        ua_synth_real_range("visibility_min", c->visibility_min, 0, 1, err) ||
        ua_synth_real_range("noise", c->noise, 0, 1e6, err) ||
        ua_synth_real_range("feat_scale", c->feat_scale, 1e-6, 1e6, err) ||
        ua_synth_real_range("feat_shift", c->feat_shift, -1e6, 1e6, err))
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The corpus: every file's captions, tokenized, pooled by image, with each image's concepts. */

struct ua_synth_corpus {
    ua_synth_config cfg;           /* the caller's (caption_files point to the caller's names) */
    ua_vocab words;                /* every token type of the files: word id -> word */
    char **bufs;                   /* [n_caption_files] each file's bytes, lines NUL-ended in place */
    long n_images;                 /* in the pool */
    const char **line;             /* [5 * n_images] each caption, stripped */
    int *tok_off;                  /* [5 * n_images + 1] caption c's word ids: tok[tok_off[c]..tok_off[c + 1]) */
    int *tok;
    int *image_file;               /* [n_images] the file of each image */
    long *image_line;              /* [n_images] the line of its first caption (1-based) */
    int *n_concepts;               /* [n_images] */
    int *concept;                  /* [n_images * max_concepts] word ids, the most used first */
    int *concept_captions;         /* [n_images * max_concepts] how many of its captions use each */
    int *split_img[3];             /* pool indices of train, dev, test, ascending */
    long n_split[3];
};

/* grows *p (elements of size sz) to hold at least need, doubling */
static int grow(void *p, size_t *cap, size_t need, size_t sz, const char *name, ua_err *err)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    void *q = realloc(*(void **)p, c * sz);
    if (!q) return ua_fail(err, "%s: out of memory", name);
    *(void **)p = q;
    *cap = c;
    return 0;
}

/* the whole file, with one spare byte for a final NUL */
static char *read_all(const char *path, size_t *len, ua_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ua_fail(err, "%s: cannot open captions: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (grow(&buf, &cap, n + 65537, 1, path, err)) break;
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f) || !buf;
    fclose(f);
    if (bad) {
        if (buf) ua_fail(err, "%s: read error", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

typedef struct growth {
    size_t line, off, tok, img_file, img_line;   /* capacities of the pool's arrays */
} growth;

/* Appends one file's images to the pool. The file is first parsed as the loader will read the
 * written captions (so every error is the loader's, naming the file and the line), then split
 * into lines in place and tokenized into word ids. */
static int add_file(ua_synth_corpus *c, int file, ua_tokenizer *tok, ua_tokens *tokens, growth *g,
                    const ua_vocab *specials, ua_err *err)
{
    const char *path = c->cfg.caption_files[file];
    size_t len = 0;
    char *buf = c->bufs[file] = read_all(path, &len, err);
    if (!buf) return ua_fail_prefix(err, "synth");
    ua_captions check;
    if (ua_captions_parse(&check, buf, len, path, specials, tok, err)) return ua_fail_prefix(err, "synth");
    int n_lines = check.n;
    ua_captions_free(&check);
    if (n_lines % UA_SYNTH_CAPS_PER_IMAGE)
        return ua_fail(err, "synth: %s: %d captions, not a multiple of %d (the captions preset reads %d consecutive "
                       "captions per image)", path, n_lines, UA_SYNTH_CAPS_PER_IMAGE, UA_SYNTH_CAPS_PER_IMAGE);
    long n_img = n_lines / UA_SYNTH_CAPS_PER_IMAGE;
    if (c->n_images + n_img > INT_MAX / UA_SYNTH_CAPS_PER_IMAGE)
        return ua_fail(err, "synth: %s: more than %d images in all", path, INT_MAX / UA_SYNTH_CAPS_PER_IMAGE);
    size_t first_cap = (size_t)c->n_images * UA_SYNTH_CAPS_PER_IMAGE;
    if (grow(&c->line, &g->line, first_cap + (size_t)n_lines, sizeof *c->line, path, err) ||
        grow(&c->tok_off, &g->off, first_cap + (size_t)n_lines + 1, sizeof *c->tok_off, path, err) ||
        grow(&c->image_file, &g->img_file, (size_t)(c->n_images + n_img), sizeof *c->image_file, path, err) ||
        grow(&c->image_line, &g->img_line, (size_t)(c->n_images + n_img), sizeof *c->image_line, path, err))
        return ua_fail_prefix(err, "synth");
    size_t start = 0;
    for (int ln = 0; ln < n_lines; ln++) {
        char *nl = memchr(buf + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - buf) : len;
        size_t a = start, b = end;
        while (a < b && is_space((unsigned char)buf[a])) a++;
        while (b > a && is_space((unsigned char)buf[b - 1])) b--;
        buf[b] = 0;
        size_t cap_i = first_cap + (size_t)ln;
        c->line[cap_i] = buf + a;
        if (ua_tokenize(tok, buf + a, b - a, tokens, err)) return ua_fail_prefix(err, "synth: %s: line %d", path, ln + 1);
        int at = c->tok_off[cap_i];
        if (at > INT_MAX - tokens->n)
            return ua_fail(err, "synth: %s: line %d: more than %d tokens in all", path, ln + 1, INT_MAX);
        if (grow(&c->tok, &g->tok, (size_t)at + (size_t)tokens->n, sizeof *c->tok, path, err))
            return ua_fail_prefix(err, "synth");
        for (int t = 0; t < tokens->n; t++) {
            int id = ua_vocab_add(&c->words, tokens->tok[t], err);
            if (id < 0) return ua_fail_prefix(err, "synth: %s", path);
            c->tok[at + t] = id;
        }
        c->tok_off[cap_i + 1] = at + tokens->n;
        start = end + 1;
    }
    for (long i = 0; i < n_img; i++) {
        c->image_file[c->n_images + i] = file;
        c->image_line[c->n_images + i] = i * UA_SYNTH_CAPS_PER_IMAGE + 1;
    }
    c->n_images += n_img;
    return 0;
}

typedef struct candidate {
    int id, captions, first, last_caption;
} candidate;

static int by_use(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->captions != y->captions) return y->captions - x->captions;
    return x->first - y->first;
}

/* image i's concepts: content words that at least concept_min_captions of its captions use,
 * the most used first (ties: the first to occur), at most max_concepts */
static int find_concepts(ua_synth_corpus *c, long i, const unsigned char *function, candidate *cand)
{
    const ua_synth_config *cfg = &c->cfg;
    int n = 0, pos = 0;
    for (int k = 0; k < UA_SYNTH_CAPS_PER_IMAGE; k++) {
        long cap_i = i * UA_SYNTH_CAPS_PER_IMAGE + k;
        for (int t = c->tok_off[cap_i]; t < c->tok_off[cap_i + 1]; t++, pos++) {
            int id = c->tok[t];
            if (function[id]) continue;
            int j = 0;
            while (j < n && cand[j].id != id) j++;
            if (j == n) cand[n++] = (candidate){id, 0, pos, -1};
            if (cand[j].last_caption != k) {
                cand[j].captions++;
                cand[j].last_caption = k;
            }
        }
    }
    qsort(cand, (size_t)n, sizeof *cand, by_use);
    int m = 0;
    while (m < n && m < cfg->max_concepts && cand[m].captions >= cfg->concept_min_captions) m++;
    int *ids = c->concept + (size_t)i * (size_t)cfg->max_concepts;
    int *uses = c->concept_captions + (size_t)i * (size_t)cfg->max_concepts;
    for (int k = 0; k < m; k++) {
        ids[k] = cand[k].id;
        uses[k] = cand[k].captions;
    }
    return c->n_concepts[i] = m;
}

typedef struct keyed {
    uint64_t hash;
    long image;
} keyed;

static int by_hash(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->hash != y->hash) return x->hash > y->hash ? 1 : -1;
    return (x->image > y->image) - (x->image < y->image);
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
    return h;
}

static int same_image(const ua_synth_corpus *c, long a, long b)
{
    for (int k = 0; k < UA_SYNTH_CAPS_PER_IMAGE; k++)
        if (strcmp(c->line[a * UA_SYNTH_CAPS_PER_IMAGE + k], c->line[b * UA_SYNTH_CAPS_PER_IMAGE + k])) return 0;
    return 1;
}

/* An image given twice (a file named twice, or COCO's test_caps.txt, which repeats the first
 * 1000 images of testall_caps.txt) could land in two splits: refused, naming the first repeat. */
static int refuse_repeats(const ua_synth_corpus *c, ua_err *err)
{
    keyed *k = ua_malloc((size_t)c->n_images * sizeof *k + 1, err);
    if (!k) return ua_fail_prefix(err, "synth");
    for (long i = 0; i < c->n_images; i++) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (int j = 0; j < UA_SYNTH_CAPS_PER_IMAGE; j++)
            h = fnv1a(h, c->line[i * UA_SYNTH_CAPS_PER_IMAGE + j]) * 31 + 1;   /* + 1: a line break */
        k[i] = (keyed){h, i};
    }
    qsort(k, (size_t)c->n_images, sizeof *k, by_hash);
    long first = -1, repeat = -1;   /* the repeat of smallest index, and the image it repeats */
    for (long i = 0, run = 0; i < c->n_images; i++) {
        if (i > 0 && k[i].hash != k[i - 1].hash) run = i;
        for (long j = run; j < i; j++)
            if (same_image(c, k[j].image, k[i].image) && (repeat < 0 || k[i].image < repeat)) {
                repeat = k[i].image;
                first = k[j].image;
                break;
            }
    }
    free(k);
    if (repeat < 0) return 0;
    return ua_fail(err, "synth: %s line %ld: the same %d captions as %s line %ld (an image must be in one split only: "
                   "is a file given twice?)", c->cfg.caption_files[c->image_file[repeat]], c->image_line[repeat],
                   UA_SYNTH_CAPS_PER_IMAGE, c->cfg.caption_files[c->image_file[first]], c->image_line[first]);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* test: the first n_test of a seeded permutation of the pool, dev: the next n_dev, train: the
 * next n_train (0: the rest); each split in the pool's order */
static int assign_splits(ua_synth_corpus *c, ua_err *err)
{
    const ua_synth_config *cfg = &c->cfg;
    long n_test = cfg->n_images[UA_SYNTH_TEST], n_dev = cfg->n_images[UA_SYNTH_DEV];
    long n_train = cfg->n_images[UA_SYNTH_TRAIN];
    if (n_test + n_dev + (n_train ? n_train : 1) > c->n_images) {
        if (n_train)
            return ua_fail(err, "synth: the caption files hold %ld images, fewer than n_train %ld + n_dev %ld + n_test %ld",
                           c->n_images, n_train, n_dev, n_test);
        return ua_fail(err, "synth: the caption files hold %ld images: none left for train after n_dev %ld + n_test %ld",
                       c->n_images, n_dev, n_test);
    }
    if (!n_train) n_train = c->n_images - n_test - n_dev;
    int *perm = ua_malloc((size_t)c->n_images * sizeof *perm, err);
    if (!perm) return ua_fail_prefix(err, "synth");
    for (long i = 0; i < c->n_images; i++) perm[i] = (int)i;
    ua_rng r;
    ua_synth_stream(&r, cfg->seed, UA_SYNTH_TAG_SPLIT, 0);
    ua_rng_shuffle(&r, perm, (int)c->n_images);
    const int order[3] = {UA_SYNTH_TEST, UA_SYNTH_DEV, UA_SYNTH_TRAIN};
    const long size[3] = {n_test, n_dev, n_train};
    long at = 0;
    for (int k = 0; k < 3; k++) {
        int s = order[k];
        c->split_img[s] = ua_malloc((size_t)size[k] * sizeof(int), err);
        if (!c->split_img[s]) {
            free(perm);
            return ua_fail_prefix(err, "synth");
        }
        memcpy(c->split_img[s], perm + at, (size_t)size[k] * sizeof(int));
        qsort(c->split_img[s], (size_t)size[k], sizeof(int), cmp_int);
        c->n_split[s] = size[k];
        at += size[k];
    }
    free(perm);
    return 0;
}

void ua_synth_corpus_free(ua_synth_corpus *c)
{
    if (!c) return;
    for (int f = 0; c->bufs && f < c->cfg.n_caption_files; f++) free(c->bufs[f]);
    free(c->bufs);
    ua_vocab_free(&c->words);
    free(c->line);
    free(c->tok_off);
    free(c->tok);
    free(c->image_file);
    free(c->image_line);
    free(c->n_concepts);
    free(c->concept);
    free(c->concept_captions);
    for (int s = 0; s < 3; s++) free(c->split_img[s]);
    free(c);
}

static int corpus_concepts(ua_synth_corpus *c, ua_err *err)
{
    const size_t mc = (size_t)c->cfg.max_concepts;
    unsigned char *function = ua_malloc((size_t)c->words.n, err);
    c->n_concepts = function ? ua_calloc((size_t)c->n_images, sizeof *c->n_concepts, err) : NULL;
    c->concept = c->n_concepts ? ua_calloc((size_t)c->n_images * mc, sizeof *c->concept, err) : NULL;
    c->concept_captions = c->concept ? ua_calloc((size_t)c->n_images * mc, sizeof *c->concept_captions, err) : NULL;
    /* an image has at most as many candidates as tokens */
    int most = 0;
    for (long i = 0; i < c->n_images; i++) {
        int n = c->tok_off[(i + 1) * UA_SYNTH_CAPS_PER_IMAGE] - c->tok_off[i * UA_SYNTH_CAPS_PER_IMAGE];
        if (n > most) most = n;
    }
    candidate *cand = c->concept_captions ? ua_malloc((size_t)most * sizeof *cand + 1, err) : NULL;
    if (!cand) {
        free(function);
        return ua_fail_prefix(err, "synth");
    }
    /* the special tokens are words of no caption's own (a caption's "<unk>" reads as <unk>) */
    for (int id = 0; id < c->words.n; id++) function[id] = id < 4 || ua_synth_is_function_word(c->words.words[id]);
    for (long i = 0; i < c->n_images; i++) find_concepts(c, i, function, cand);
    free(cand);
    free(function);
    return 0;
}

int ua_synth_corpus_load(const ua_synth_config *cfg, ua_synth_corpus **out, ua_err *err)
{
    *out = NULL;
    if (ua_synth_captions_check(cfg, err)) return -1;
    ua_synth_corpus *c = ua_calloc(1, sizeof *c, err);
    if (!c) return ua_fail_prefix(err, "synth");
    c->cfg = *cfg;
    ua_vocab specials = {0};
    ua_tokenizer *tok = NULL;
    ua_tokens tokens = {0};
    growth g = {0};
    int rc = -1;
    if (ua_vocab_init(&c->words, err) || ua_vocab_init(&specials, err)) goto out;
    c->bufs = ua_calloc((size_t)cfg->n_caption_files, sizeof *c->bufs, err);
    c->tok_off = c->bufs ? ua_calloc(1, sizeof *c->tok_off, err) : NULL;
    g.off = 1;
    if (!c->tok_off || !(tok = ua_tokenizer_new(err))) {
        ua_fail_prefix(err, "synth");
        goto out;
    }
    for (int f = 0; f < cfg->n_caption_files; f++)
        if (add_file(c, f, tok, &tokens, &g, &specials, err)) goto out;
    if (refuse_repeats(c, err) || corpus_concepts(c, err) || assign_splits(c, err)) goto out;
    rc = 0;
out:
    ua_tokens_free(&tokens);
    ua_tokenizer_free(tok);
    ua_vocab_free(&specials);
    if (rc) ua_synth_corpus_free(c);
    else *out = c;
    return rc;
}

long ua_synth_corpus_images(const ua_synth_corpus *c, ua_synth_split split)
{
    return (unsigned)split < 3 ? c->n_split[split] : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* One image: its regions and their features. */

static uint64_t word_hash(const char *w) { return fnv1a(0xcbf29ce484222325ULL, w); }   /* FNV-1a, 64 bits */

void ua_synth_word_prototype(const ua_synth_config *cfg, const char *word, float *out)
{
    ua_synth_prototype(out, (size_t)cfg->img_dim, cfg->seed, UA_SYNTH_TAG_WORD, word_hash(word));
}

void ua_synth_clutter_prototype(const ua_synth_config *cfg, int i, float *out)
{
    ua_synth_prototype(out, (size_t)cfg->img_dim, cfg->seed, UA_SYNTH_TAG_CLUTTER, (uint64_t)i);
}

/* The regions of pool image `source` with n concepts: obj_regions_min..max each, the largest
 * cut first (to one at least) until UA_SYNTH_MIN_BACKGROUND regions are left for clutter. */
static void gen_layout(const ua_synth_config *cfg, long source, int n, ua_synth_caption_image *img)
{
    ua_rng r;
    ua_synth_stream(&r, cfg->seed, UA_SYNTH_TAG_CAP_LAYOUT, (uint64_t)source);
    int total = 0;
    for (int k = 0; k < n; k++) {
        img->n_regions[k] =
            cfg->obj_regions_min + (int)ua_rng_below(&r, (uint32_t)(cfg->obj_regions_max - cfg->obj_regions_min + 1));
        total += img->n_regions[k];
    }
    while (total > UA_SYNTH_REGIONS - UA_SYNTH_MIN_BACKGROUND) {   /* n <= UA_SYNTH_MAX_CONCEPTS: ends */
        int big = 0;
        for (int k = 1; k < n; k++)
            if (img->n_regions[k] > img->n_regions[big]) big = k;
        img->n_regions[big]--;
        total--;
    }
    int pos[UA_SYNTH_REGIONS];
    for (int i = 0; i < UA_SYNTH_REGIONS; i++) pos[i] = i;
    ua_rng_shuffle(&r, pos, UA_SYNTH_REGIONS);
    int next = 0;
    for (int k = 0; k < n; k++)
        for (int j = 0; j < img->n_regions[k]; j++) {
            int reg = pos[next++];
            img->region_concept[reg] = (signed char)k;
            img->region_clutter[reg] = -1;
            img->region_visibility[reg] =
                (float)(cfg->visibility_min + (1 - cfg->visibility_min) * ua_rng_unif_double(&r));
        }
    for (; next < UA_SYNTH_REGIONS; next++) {
        int reg = pos[next];
        img->region_concept[reg] = -1;
        img->region_clutter[reg] = (short)ua_rng_below(&r, (uint32_t)cfg->n_clutter);
        img->region_visibility[reg] = 0;
    }
}

static void image_of(const ua_synth_corpus *c, long source, ua_synth_caption_image *img)
{
    memset(img, 0, sizeof *img);
    img->source = source;
    img->file = c->cfg.caption_files[c->image_file[source]];
    img->first_line = c->image_line[source];
    img->n_concepts = c->n_concepts[source];
    const size_t at = (size_t)source * (size_t)c->cfg.max_concepts;
    for (int k = 0; k < img->n_concepts; k++) {
        img->concept[k] = c->words.words[c->concept[at + k]];
        img->concept_captions[k] = c->concept_captions[at + k];
    }
    gen_layout(&c->cfg, source, img->n_concepts, img);
}

int ua_synth_corpus_image(const ua_synth_corpus *c, ua_synth_split split, long index,
                          ua_synth_caption_image *img, ua_err *err)
{
    if ((unsigned)split >= 3 || index < 0 || index >= c->n_split[split])
        return ua_fail(err, "synth: no image %ld in split %s", index, ua_synth_split_name(split));
    image_of(c, c->split_img[split][index], img);
    return 0;
}

/* [UA_SYNTH_REGIONS][d] features of one image; protos: room for its concepts' prototypes */
static void gen_features(const ua_synth_corpus *c, const float *gauss, const float *clutter,
                         const ua_synth_caption_image *img, float *protos, float *out)
{
    const ua_synth_config *cfg = &c->cfg;
    const size_t d = (size_t)cfg->img_dim;
    for (int k = 0; k < img->n_concepts; k++) ua_synth_word_prototype(cfg, img->concept[k], protos + (size_t)k * d);
    ua_rng r;
    ua_synth_stream(&r, cfg->seed, UA_SYNTH_TAG_CAP_FEATURES, (uint64_t)img->source);
    const float noise = (float)cfg->noise, scale = (float)cfg->feat_scale, shift = (float)cfg->feat_shift;
    for (int reg = 0; reg < UA_SYNTH_REGIONS; reg++) {
        float *x = out + (size_t)reg * d;
        int k = img->region_concept[reg];
        if (k >= 0)
            ua_synth_region(x, d, gauss, &r, protos + (size_t)k * d, img->region_visibility[reg], NULL, 0, noise,
                            scale, shift);
        else
            ua_synth_region(x, d, gauss, &r, clutter + (size_t)img->region_clutter[reg] * d,
                            (float)cfg->clutter_scale, NULL, 0, noise, scale, shift);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Files */

typedef struct split_stats {
    long long tokens, grounded, unknown;   /* caption tokens; naming a concept; not in the vocabulary */
    long long concepts;                    /* summed over the split's images */
} split_stats;

static int is_concept(const ua_synth_corpus *c, long source, int id)
{
    const int *ids = c->concept + (size_t)source * (size_t)c->cfg.max_concepts;
    for (int k = 0; k < c->n_concepts[source]; k++)
        if (ids[k] == id) return 1;
    return 0;
}

/* the captions of one image and their grounding flags (one per token, as the loader tokenizes) */
static void write_captions(const ua_synth_corpus *c, long source, FILE *caps, FILE *ground, const int *train_count,
                           split_stats *st)
{
    for (int k = 0; k < UA_SYNTH_CAPS_PER_IMAGE; k++) {
        long cap_i = source * UA_SYNTH_CAPS_PER_IMAGE + k;
        fputs(c->line[cap_i], caps);
        fputc('\n', caps);
        for (int t = c->tok_off[cap_i]; t < c->tok_off[cap_i + 1]; t++) {
            int g = is_concept(c, source, c->tok[t]);
            fputc('0' + g, ground);
            fputc(t + 1 < c->tok_off[cap_i + 1] ? ' ' : '\n', ground);
            st->tokens++;
            st->grounded += g;
            st->unknown += train_count[c->tok[t]] < c->cfg.vocab_threshold;
        }
    }
    st->concepts += c->n_concepts[source];
}

/* images generated together (in parallel), then appended: about 16 MB of features */
#define CHUNK_FLOATS ((size_t)1 << 22)

static int write_split(const ua_synth_corpus *c, ua_synth_split split, const char *dir, const float *gauss,
                       const float *clutter, const int *train_count, split_stats *st, ua_err *err)
{
    const ua_synth_config *cfg = &c->cfg;
    const long n = c->n_split[split];
    const size_t d = (size_t)cfg->img_dim, per_image = (size_t)UA_SYNTH_REGIONS * d;
    long chunk = (long)(CHUNK_FLOATS / per_image);
    if (chunk < 1) chunk = 1;
    if (chunk > n) chunk = n;
    const size_t proto_floats = (size_t)cfg->max_concepts * d;

    int rc = -1;
    ua_npy_writer ims = {0};
    ua_atomic_file caps = {0}, grounding = {0};
    char *ims_path = ua_synth_split_file(dir, split, "_ims.npy", err);
    char *caps_path = ims_path ? ua_synth_split_file(dir, split, "_caps.txt", err) : NULL;
    char *ground_path = caps_path ? ua_synth_split_file(dir, split, "_caps_grounding.txt", err) : NULL;
    float *feats = ground_path ? ua_malloc((size_t)chunk * per_image * sizeof(float), err) : NULL;
    float *protos = feats ? ua_malloc((size_t)chunk * proto_floats * sizeof(float), err) : NULL;
    ua_synth_caption_image *imgs = protos ? ua_malloc((size_t)chunk * sizeof *imgs, err) : NULL;
    if (!imgs) {
        ua_fail_prefix(err, "synth");
        goto out;
    }
    const int64_t shape[3] = {n, UA_SYNTH_REGIONS, (int64_t)d};
    if (ua_npy_writer_open(&ims, ims_path, 3, shape, err)) goto out;
    if (ua_atomic_open(&caps, caps_path, err)) goto out;
    if (ua_atomic_open(&grounding, ground_path, err)) goto out;

    for (long start = 0; start < n; start += chunk) {
        long m = n - start < chunk ? n - start : chunk;
        #pragma omp parallel for schedule(dynamic, 1)
        for (long i = 0; i < m; i++) {
            image_of(c, c->split_img[split][start + i], &imgs[i]);
            gen_features(c, gauss, clutter, &imgs[i], protos + (size_t)i * proto_floats, feats + (size_t)i * per_image);
        }
        if (ua_npy_writer_append(&ims, feats, (size_t)m * per_image, err)) goto out;
        for (long i = 0; i < m; i++) write_captions(c, imgs[i].source, caps.fp, grounding.fp, train_count, st);
        if (cfg->progress) cfg->progress(cfg->progress_ctx, ua_synth_split_name(split), start + m, n);
    }
    if (ua_atomic_commit(&caps, err) || ua_atomic_commit(&grounding, err) || ua_npy_writer_commit(&ims, err))
        goto out;
    rc = 0;
out:
    ua_atomic_abort(&caps);
    ua_atomic_abort(&grounding);
    ua_npy_writer_abort(&ims);
    free(imgs);
    free(protos);
    free(feats);
    free(ims_path);
    free(caps_path);
    free(ground_path);
    return rc;
}

/* how often each word occurs in the train split's captions */
static int *train_counts(const ua_synth_corpus *c, ua_err *err)
{
    int *count = ua_calloc((size_t)c->words.n, sizeof *count, err);
    if (!count) return NULL;
    for (long i = 0; i < c->n_split[UA_SYNTH_TRAIN]; i++) {
        long src = c->split_img[UA_SYNTH_TRAIN][i];
        for (int t = c->tok_off[src * UA_SYNTH_CAPS_PER_IMAGE]; t < c->tok_off[(src + 1) * UA_SYNTH_CAPS_PER_IMAGE]; t++)
            if (count[c->tok[t]] < INT_MAX) count[c->tok[t]]++;
    }
    for (int id = 0; id < 4 && id < c->words.n; id++) count[id] = 0;   /* the special tokens come first anyway */
    return count;
}

typedef struct ranked {
    const char *word;
    int count;
} ranked;

static int by_count(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->count != y->count) return y->count > x->count ? 1 : -1;
    return strcmp(x->word, y->word);
}

/* SCAN's rule: the train words used at least vocab_threshold times, the most frequent first */
static int write_vocab(const ua_synth_corpus *c, const int *count, const char *path, int *n_words, ua_err *err)
{
    ranked *r = ua_malloc((size_t)c->words.n * sizeof *r + 1, err);
    if (!r) return ua_fail_prefix(err, "synth");
    int n = 0;
    for (int id = 4; id < c->words.n; id++)
        if (count[id] >= c->cfg.vocab_threshold) r[n++] = (ranked){c->words.words[id], count[id]};
    qsort(r, (size_t)n, sizeof *r, by_count);
    ua_vocab v;
    int rc = ua_vocab_init(&v, err);
    for (int i = 0; i < n && !rc; i++) rc = ua_vocab_add(&v, r[i].word, err) < 0;
    if (!rc) rc = ua_vocab_save(&v, path, err);
    *n_words = v.n;
    ua_vocab_free(&v);
    free(r);
    return rc ? -1 : 0;
}

static double percent(long long a, long long b) { return b > 0 ? 100.0 * (double)a / (double)b : 0.0; }

static int write_readme(const ua_synth_corpus *c, const char *dir, const char *vocab_file, int n_words,
                        const split_stats *st, ua_err *err)
{
    const ua_synth_config *cfg = &c->cfg;
    ua_atomic_file f;
    if (ua_synth_readme_open(&f, dir, err)) return -1;
    FILE *o = f.fp;
    fprintf(o, "Image-text data in SCAN's precomp layout, written by `uarda synth`: real captions, and\n"
               "synthetic region features grounded in their content words (the generative model is\n"
               "described in include/uarda/synth.h).\n\n");
    fprintf(o, "preset          %s\nseed            %llu\n", cfg->preset ? cfg->preset : "(custom)",
            (unsigned long long)cfg->seed);
    for (int i = 0; i < cfg->n_caption_files; i++) {
        long images = 0;
        for (long k = 0; k < c->n_images; k++) images += c->image_file[k] == i;
        fprintf(o, "source          %s (%ld images)\n", cfg->caption_files[i], images);
    }
    fprintf(o, "pool            %ld images of the sources, in order; shuffled by the seed: test the first, dev\n"
               "                the next, train the next (all the rest when n_train is 0); each split\n"
               "                keeps the pool's order\n", c->n_images);
    for (int s = 0; s < 3; s++)
        fprintf(o, "%-15s %ld images, %ld captions, %.2f concepts per image, %.1f%% of tokens grounded, "
                   "%.2f%% unknown\n", ua_synth_split_name(s), c->n_split[s], c->n_split[s] * UA_SYNTH_CAPS_PER_IMAGE,
                c->n_split[s] ? (double)st[s].concepts / (double)c->n_split[s] : 0.0,
                percent(st[s].grounded, st[s].tokens), percent(st[s].unknown, st[s].tokens));
    fprintf(o, "vocabulary      %s (%d words with the 4 special tokens: the train words used at least %d times)\n\n",
            ua_synth_base_name(vocab_file), n_words, cfg->vocab_threshold);
    fprintf(o, "img_dim         %d\nregions         %d per image\n", cfg->img_dim, UA_SYNTH_REGIONS);
    fprintf(o, "concepts        the content words that at least %d of an image's %d captions use, the most used\n"
               "                first, at most %d; one prototype per word type (no synonyms, no categories)\n",
            cfg->concept_min_captions, UA_SYNTH_CAPS_PER_IMAGE, cfg->max_concepts);
    fprintf(o, "concept regions %d..%d per concept (visibility_min %g), at least %d background\n",
            cfg->obj_regions_min, cfg->obj_regions_max, cfg->visibility_min, UA_SYNTH_MIN_BACKGROUND);
    fprintf(o, "n_clutter       %d (clutter_scale %g)\n", cfg->n_clutter, cfg->clutter_scale);
    fprintf(o, "noise           %g (per-dimension standard deviation)\n", cfg->noise);
    fprintf(o, "features        %g * max(0, z + %g)\n\n", cfg->feat_scale, cfg->feat_shift);
    fprintf(o, "Files per split: <split>_ims.npy (float32 [images, %d, %d]), <split>_caps.txt (the sources'\n"
               "lines; caption c belongs to image c / %d), <split>_caps_grounding.txt (per token, as SCAN's\n"
               "tokenizer splits the caption: 1 if it is one of its image's concepts, 0 otherwise).\n",
            UA_SYNTH_REGIONS, cfg->img_dim, UA_SYNTH_CAPS_PER_IMAGE);
    ua_synth_pictures_readme(o, cfg);
    int rc = ua_atomic_commit(&f, err);
    return rc;
}

/* image `index` of a split as its picture sees it (ua_synth_pictures_write) */
typedef struct picture_ctx {
    const ua_synth_corpus *c;
    ua_synth_split split;
} picture_ctx;

static int picture_of(void *ctx, long index, ua_synth_picture *p, ua_err *err)
{
    const picture_ctx *pc = ctx;
    ua_synth_caption_image img;
    if (ua_synth_corpus_image(pc->c, pc->split, index, &img, err)) return -1;
    memset(p, 0, sizeof *p);
    p->n_objects = img.n_concepts;
    memcpy(p->region_object, img.region_concept, sizeof p->region_object);
    memcpy(p->region_clutter, img.region_clutter, sizeof p->region_clutter);
    for (int k = 0; k < img.n_concepts; k++) p->noun[k] = img.concept[k];
    p->stream_tag = UA_SYNTH_TAG_CAP_BOXES;
    p->stream_index = (uint64_t)img.source;
    return 0;
}

int ua_synth_captions_write(const ua_synth_config *cfg, const char *data_dir, const char *vocab_file, ua_err *err)
{
    ua_synth_corpus *c;
    if (ua_synth_corpus_load(cfg, &c, err)) return -1;
    const size_t d = (size_t)cfg->img_dim;
    int *count = NULL;
    float *gauss = ua_malloc(UA_SYNTH_NOISE_LEVELS * sizeof(float), err);
    float *clutter = gauss ? ua_malloc((size_t)cfg->n_clutter * d * sizeof(float), err) : NULL;
    int rc = -1;
    if (!clutter) {
        ua_fail_prefix(err, "synth");
        goto out;
    }
    ua_synth_noise_table(gauss);
    for (int i = 0; i < cfg->n_clutter; i++) ua_synth_clutter_prototype(cfg, i, clutter + (size_t)i * d);
    if (!(count = train_counts(c, err))) {
        ua_fail_prefix(err, "synth");
        goto out;
    }
    int n_words = 0;
    split_stats st[3] = {{0}};
    if (ua_synth_make_dirs(data_dir, vocab_file, err) || write_vocab(c, count, vocab_file, &n_words, err)) goto out;
    for (int s = 0; s < 3; s++)
        if (write_split(c, (ua_synth_split)s, data_dir, gauss, clutter, count, &st[s], err)) goto out;
    for (int s = 0; s < 3; s++) {
        picture_ctx pc = {c, (ua_synth_split)s};
        if (ua_synth_pictures_write(cfg, (ua_synth_split)s, c->n_split[s], picture_of, &pc, data_dir, err)) goto out;
    }
    rc = write_readme(c, data_dir, vocab_file, n_words, st, err);
    for (int s = 0; s < UA_SYNTH_N_SPLITS && !rc && cfg->n_written; s++) cfg->n_written[s] = s < 3 ? c->n_split[s] : 0;
out:
    free(count);
    free(clutter);
    free(gauss);
    ua_synth_corpus_free(c);
    return rc;
}
