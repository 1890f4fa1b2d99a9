/* The synthetic dataset generator: presets, checks, and the tiny preset's files. */
#include "helpers.h"
#include "uarda/npy.h"
#include "uarda/synth.h"
#include "uarda/tokenize.h"
#include "uarda/vocab.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *g_dir;        /* the test's temp folder */
static char *g_data;       /* the tiny preset, seed 1, written once */
static char *g_vocab;

static const char *const SPLITS[] = {"train", "dev", "test"};

static void write_tiny(const ua_synth_config *cfg, const char *data, const char *vocab)
{
    ua_err err = {""};
    if (ua_synth_write(cfg, data, vocab, &err) != 0) fail_msg("ua_synth_write: %s", err.msg);
}

static ua_synth_config tiny(void)
{
    ua_synth_config cfg;
    ua_err err;
    assert_int_equal(ua_synth_preset("tiny", &cfg, &err), 0);
    return cfg;
}

static int setup(void **state)
{
    (void)state;
    g_dir = th_tmpdir();
    if (!g_dir) return -1;
    g_data = th_path(g_dir, "data/synth_tiny_precomp");
    g_vocab = th_path(g_dir, "vocab/synth_tiny_precomp_vocab.json");
    ua_synth_config cfg;
    ua_err err;
    if (ua_synth_preset("tiny", &cfg, &err) != 0) return -1;
    return ua_synth_write(&cfg, g_data, g_vocab, &err);
}

static int teardown(void **state)
{
    (void)state;
    th_rmrf(g_dir);
    free(g_dir);
    free(g_data);
    free(g_vocab);
    return 0;
}

static char *file_in(const char *dir, const char *split, const char *suffix)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s", split, suffix);
    return th_path(dir, name);
}

/* splits a text into lines (in place); returns the count */
static int split_lines(char *text, char ***lines)
{
    int n = 0, cap = 64;
    *lines = malloc((size_t)cap * sizeof **lines);
    for (char *s = text; *s;) {
        char *nl = strchr(s, '\n');
        assert_non_null(nl);   /* every line ends in '\n' */
        *nl = 0;
        if (n == cap) *lines = realloc(*lines, (size_t)(cap *= 2) * sizeof **lines);
        (*lines)[n++] = s;
        s = nl + 1;
    }
    return n;
}

/* splits a line on single spaces (in place) */
static int split_words(char *line, char **words, int cap)
{
    int n = 0;
    for (char *s = line; s;) {
        char *sp = strchr(s, ' ');
        if (sp) *sp = 0;
        assert_true(*s);       /* no empty token: single spaces, none leading or trailing */
        assert_true(n < cap);
        words[n++] = s;
        s = sp ? sp + 1 : NULL;
    }
    return n;
}

static int files_equal(const char *a, const char *b)
{
    size_t na, nb;
    char *x = th_read(a, &na), *y = th_read(b, &nb);
    assert_non_null(x);
    assert_non_null(y);
    int eq = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return eq;
}

static int n_entries(const char *dir)
{
    char out[64];
    assert_int_equal(th_run(out, sizeof out, "ls -A '%s' | wc -l", dir), 0);
    return atoi(out);
}

/* ---- presets and checks ---- */

static void test_presets(void **state)
{
    (void)state;
    ua_synth_config cfg;
    ua_err err = {""};
    assert_int_equal(ua_synth_preset("tiny", &cfg, &err), 0);
    assert_int_equal(cfg.img_dim, 32);
    assert_int_equal(cfg.seed, 1);
    assert_int_equal(cfg.n_images[UA_SYNTH_TESTALL], 0);
    assert_int_equal(ua_synth_check(&cfg, &err), 0);
    assert_int_equal(ua_synth_preset("small", &cfg, &err), 0);
    assert_int_equal(cfg.img_dim, 256);
    assert_int_equal(ua_synth_check(&cfg, &err), 0);
    assert_int_equal(ua_synth_preset("f30k", &cfg, &err), 0);
    assert_int_equal(cfg.img_dim, 2048);
    assert_int_equal(cfg.n_images[UA_SYNTH_TRAIN], 29000);
    assert_int_equal(cfg.n_images[UA_SYNTH_DEV], 1014);
    assert_int_equal(cfg.n_images[UA_SYNTH_TEST], 1000);
    assert_int_equal(cfg.n_nouns, ua_synth_max_nouns());
    assert_int_equal(ua_synth_check(&cfg, &err), 0);
    assert_int_equal(ua_synth_preset("huge", &cfg, &err), -1);
    assert_string_equal(err.msg, "synth: unknown preset 'huge' (presets: tiny|small|f30k)");
}

static void test_check_names_the_field(void **state)
{
    (void)state;
    ua_err err = {""};
    ua_synth_config cfg = tiny();
    cfg.n_images[UA_SYNTH_TRAIN] = 0;
    assert_int_equal(ua_synth_check(&cfg, &err), -1);
    assert_string_equal(err.msg, "synth: n_train must be in [1, 100000000], got 0");
    cfg = tiny();
    cfg.noise = -1;
    assert_int_equal(ua_synth_check(&cfg, &err), -1);
    assert_string_equal(err.msg, "synth: noise must be in [0, 1e+06], got -1");
    cfg = tiny();
    cfg.noise = NAN;
    assert_int_equal(ua_synth_check(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "noise must be"));
    cfg = tiny();
    cfg.obj_max = 5;
    cfg.obj_regions_max = 8;   /* 5 x 8 regions leave no background */
    assert_int_equal(ua_synth_check(&cfg, &err), -1);
    assert_string_equal(err.msg, "synth: obj_regions_max must be in [2, 6], got 8");
    cfg = tiny();
    cfg.n_nouns = 1000;
    assert_int_equal(ua_synth_check(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "n_nouns must be in [3, "));
    cfg = tiny();
    cfg.cap_len_max = 5;   /* two mentions need up to 8 tokens */
    assert_int_equal(ua_synth_check(&cfg, &err), -1);
    assert_string_equal(err.msg, "synth: cap_len_max must be in [8, 24], got 5");
    /* writing checks too, before touching the disk */
    char *data = th_path(g_dir, "never");
    assert_int_equal(ua_synth_write(&cfg, data, data, &err), -1);
    assert_int_equal(access(data, F_OK), -1);
    ua_synth_image img;
    assert_int_equal(ua_synth_image_layout(&cfg, UA_SYNTH_TRAIN, 0, &img, &err), -1);
    cfg = tiny();
    assert_int_equal(ua_synth_image_layout(&cfg, UA_SYNTH_DEV, 16, &img, &err), -1);
    assert_string_equal(err.msg, "synth: no image 16 in split dev");
    free(data);
}

/* every word is [a-z]+ (or "."), and no word has two roles */
static void test_words_are_unique_and_plain(void **state)
{
    (void)state;
    ua_err err = {""};
    ua_vocab v;
    assert_int_equal(ua_vocab_init(&v, &err), 0);
    const char *tmpl[512];
    int n_tmpl = ua_synth_template_words(tmpl, 512);
    assert_true(n_tmpl > 20 && n_tmpl <= 512);
    for (int i = 0; i < n_tmpl; i++) ua_vocab_add(&v, tmpl[i], &err);
    int n_function = v.n;
    int before;
    for (int a = 0; a < ua_synth_max_attrs(); a++) {
        before = v.n;
        ua_vocab_add(&v, ua_synth_attr_word(a), &err);
        assert_int_equal(v.n, before + 1);
    }
    int n_syn = 0;
    for (int i = 0; i < ua_synth_max_nouns(); i++) {
        const char *const *w;
        int n = ua_synth_noun_words(i, &w);
        assert_true(n >= 1 && n <= 3);
        n_syn += n > 1;
        for (int k = 0; k < n; k++) {
            before = v.n;
            ua_vocab_add(&v, w[k], &err);
            if (v.n != before + 1) fail_msg("noun word '%s' has another role", w[k]);
        }
        assert_non_null(ua_synth_category_name(ua_synth_noun_category(i)));
    }
    assert_true(n_syn >= 30);   /* "some nouns with 1-2 synonyms" */
    for (int i = 4; i < v.n; i++) {
        const char *w = v.words[i];
        if (strcmp(w, ".") == 0) continue;
        for (const char *c = w; *c; c++)
            if (*c < 'a' || *c > 'z') fail_msg("word '%s' is not lowercase letters", w);
    }
    assert_true(n_function > 40);
    ua_vocab_free(&v);
}

/* ---- the tiny dataset ---- */

static void test_tiny_writes_every_file(void **state)
{
    (void)state;
    ua_err err = {""};
    ua_synth_config cfg = tiny();
    for (int s = 0; s < 3; s++) {
        int n_img = cfg.n_images[s];
        char *ims = file_in(g_data, SPLITS[s], "_ims.npy");
        ua_npy a;
        if (ua_npy_open(&a, ims, &err) != 0) fail_msg("%s", err.msg);
        assert_int_equal(a.ndim, 3);
        assert_int_equal(a.shape[0], n_img);
        assert_int_equal(a.shape[1], UA_SYNTH_REGIONS);
        assert_int_equal(a.shape[2], 32);
        /* non-negative, per-region norms far from 1 */
        double norm_sum = 0;
        for (size_t i = 0; i < a.n_elems; i++) assert_true(a.data[i] >= 0 && isfinite(a.data[i]));
        for (int r = 0; r < n_img * UA_SYNTH_REGIONS; r++) {
            double ss = 0;
            for (int j = 0; j < 32; j++) ss += (double)a.data[r * 32 + j] * a.data[r * 32 + j];
            norm_sum += sqrt(ss);
        }
        assert_true(norm_sum / (n_img * UA_SYNTH_REGIONS) > 2.5);
        ua_npy_close(&a);

        char *caps = file_in(g_data, SPLITS[s], "_caps.txt");
        char *grd = file_in(g_data, SPLITS[s], "_caps_grounding.txt");
        char *ct = th_read(caps, NULL), *gt = th_read(grd, NULL);
        assert_non_null(ct);
        assert_non_null(gt);
        char **cl, **gl;
        assert_int_equal(split_lines(ct, &cl), 5 * n_img);
        assert_int_equal(split_lines(gt, &gl), 5 * n_img);
        free(cl);
        free(gl);
        free(ct);
        free(gt);
        free(caps);
        free(grd);
        free(ims);
    }
    /* no testall unless asked, no temp files left */
    char *testall = file_in(g_data, "testall", "_ims.npy");
    assert_int_equal(access(testall, F_OK), -1);
    free(testall);
    assert_int_equal(n_entries(g_data), 3 * 3 + 1);
    char *readme = th_path(g_data, "README.synth.txt");
    char *text = th_read(readme, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "preset          tiny\n"));
    assert_non_null(strstr(text, "seed            1\n"));
    assert_non_null(strstr(text, "noise           0.5"));
    assert_non_null(strstr(text, "img_dim         32\n"));
    free(text);
    free(readme);
}

/* captions: tokens in the vocabulary, lengths, grounding aligned and true to the image */
static void test_captions_and_grounding(void **state)
{
    (void)state;
    ua_err err = {""};
    ua_synth_config cfg = tiny();
    ua_vocab v;
    if (ua_vocab_load(&v, g_vocab, &err) != 0) fail_msg("%s", err.msg);
    assert_string_equal(v.words[4], ".");
    /* the vocabulary is exactly the template words, the preset's attributes and nouns */
    const char *tmpl[512];
    int n_tmpl = ua_synth_template_words(tmpl, 512);
    for (int i = 0; i < n_tmpl; i++) assert_true(ua_vocab_find(&v, tmpl[i]) >= 4);
    int n_expected = 0;
    for (int a = 0; a < cfg.n_attrs; a++) assert_true(ua_vocab_find(&v, ua_synth_attr_word(a)) >= 4);
    assert_int_equal(ua_vocab_find(&v, ua_synth_attr_word(cfg.n_attrs)), -1);
    for (int i = 0; i < cfg.n_nouns; i++) {
        const char *const *w;
        int n = ua_synth_noun_words(i, &w);
        for (int k = 0; k < n; k++) assert_true(ua_vocab_find(&v, w[k]) >= 4);
        n_expected += n;
    }
    {
        const char *const *w;
        ua_synth_noun_words(cfg.n_nouns, &w);
        assert_int_equal(ua_vocab_find(&v, w[0]), -1);
    }
    assert_true(v.n <= 4 + n_tmpl + cfg.n_attrs + n_expected);

    ua_tokenizer *tk = ua_tokenizer_new(&err);
    assert_non_null(tk);
    ua_tokens toks = {0};
    long n_tokens = 0, n_grounded = 0, n_attr_mentions = 0, n_synonyms = 0;
    int min_len = 99, max_len = 0;
    for (int s = 0; s < 3; s++) {
        char *caps = file_in(g_data, SPLITS[s], "_caps.txt");
        char *grd = file_in(g_data, SPLITS[s], "_caps_grounding.txt");
        char *ct = th_read(caps, NULL), *gt = th_read(grd, NULL);
        char **cl, **gl;
        int n = split_lines(ct, &cl);
        assert_int_equal(split_lines(gt, &gl), n);
        for (int c = 0; c < n; c++) {
            ua_synth_image img;
            assert_int_equal(ua_synth_image_layout(&cfg, (ua_synth_split)s, c / 5, &img, &err), 0);
            /* SCAN's tokenizer splits a caption exactly on its spaces */
            if (ua_tokenize(tk, cl[c], strlen(cl[c]), &toks, &err) != 0) fail_msg("%s", err.msg);
            char *tok[64], *g[64];
            int nt = split_words(cl[c], tok, 64);
            assert_int_equal(toks.n, nt);
            for (int t = 0; t < nt; t++) assert_string_equal(toks.tok[t], tok[t]);
            assert_int_equal(split_words(gl[c], g, 64), nt);
            if (nt < min_len) min_len = nt;
            if (nt > max_len) max_len = nt;
            assert_string_equal(tok[nt - 1], ".");
            for (int t = 0; t < nt; t++) {
                if (ua_vocab_find(&v, tok[t]) < 4) fail_msg("'%s' is not in the vocabulary", tok[t]);
                assert_true(strcmp(g[t], "0") == 0 || strcmp(g[t], "1") == 0);
                int grounded = g[t][0] == '1';
                /* what the token is in the image: a noun of an object, an attribute of one */
                int noun_of = -1, is_noun = 0, is_attr = 0, attr_in_image = 0;
                for (int i = 0; i < cfg.n_nouns; i++) {
                    const char *const *w;
                    int nw = ua_synth_noun_words(i, &w);
                    for (int k = 0; k < nw; k++)
                        if (strcmp(w[k], tok[t]) == 0) {
                            is_noun = 1;
                            n_synonyms += k > 0;
                            for (int o = 0; o < img.n_objects; o++)
                                if (img.obj[o].noun == i) noun_of = o;
                        }
                }
                for (int a = 0; a < cfg.n_attrs; a++)
                    if (strcmp(ua_synth_attr_word(a), tok[t]) == 0) {
                        is_attr = 1;
                        /* the attribute belongs to the object named by the next token */
                        assert_true(t + 1 < nt);
                        for (int o = 0; o < img.n_objects; o++) {
                            const char *const *w;
                            int nw = ua_synth_noun_words(img.obj[o].noun, &w);
                            for (int k = 0; k < nw; k++)
                                if (strcmp(w[k], tok[t + 1]) == 0 && img.obj[o].attr == a) attr_in_image = 1;
                        }
                    }
                if (is_noun) assert_true(noun_of >= 0);   /* captions only name what is there */
                if (is_attr) assert_true(attr_in_image);
                if (is_attr) n_attr_mentions++;
                assert_int_equal(grounded, is_noun || is_attr);
                n_grounded += grounded;
            }
            n_tokens += nt;
        }
        free(cl);
        free(gl);
        free(ct);
        free(gt);
        free(caps);
        free(grd);
    }
    assert_true(min_len >= cfg.cap_len_min);
    assert_true(max_len <= cfg.cap_len_max);
    assert_true(max_len - min_len >= 5);          /* varied lengths */
    assert_true(n_attr_mentions > 50);
    assert_true(n_synonyms > 20);
    ua_tokens_free(&toks);
    ua_tokenizer_free(tk);
    double frac = (double)n_grounded / (double)n_tokens;
    assert_true(frac > 0.1 && frac < 0.5);        /* most words are function or filler words */
    ua_vocab_free(&v);
}

/* the layout: objects with distinct nouns, region counts, background from clutter */
static void test_layout_and_features_agree(void **state)
{
    (void)state;
    ua_err err = {""};
    ua_synth_config cfg = tiny();
    char *ims = file_in(g_data, "train", "_ims.npy");
    ua_npy a;
    assert_int_equal(ua_npy_open(&a, ims, &err), 0);
    double same = 0, other = 0;
    long n_same = 0, n_other = 0;
    int shared_noun = 0;
    int first_nouns[UA_SYNTH_MAX_OBJECTS] = {0};
    for (int i = 0; i < cfg.n_images[UA_SYNTH_TRAIN]; i++) {
        ua_synth_image img;
        assert_int_equal(ua_synth_image_layout(&cfg, UA_SYNTH_TRAIN, i, &img, &err), 0);
        assert_true(img.n_objects >= cfg.obj_min && img.n_objects <= cfg.obj_max);
        int count[UA_SYNTH_MAX_OBJECTS] = {0};
        for (int r = 0; r < UA_SYNTH_REGIONS; r++) {
            if (img.region_object[r] >= 0) {
                count[img.region_object[r]]++;
                assert_int_equal(img.region_clutter[r], -1);
                assert_true(img.region_visibility[r] >= cfg.visibility_min && img.region_visibility[r] <= 1);
            } else {
                assert_true(img.region_clutter[r] >= 0 && img.region_clutter[r] < cfg.n_clutter);
            }
        }
        for (int o = 0; o < img.n_objects; o++) {
            assert_int_equal(count[o], img.obj[o].n_regions);
            assert_true(img.obj[o].n_regions >= cfg.obj_regions_min && img.obj[o].n_regions <= cfg.obj_regions_max);
            assert_true(img.obj[o].noun >= 0 && img.obj[o].noun < cfg.n_nouns);
            assert_true(img.obj[o].attr >= 0 && img.obj[o].attr < cfg.n_attrs);
            for (int p = 0; p < o; p++) assert_int_not_equal(img.obj[p].noun, img.obj[o].noun);
            if (i == 0) first_nouns[o] = img.obj[o].noun + 1;
            else for (int p = 0; p < UA_SYNTH_MAX_OBJECTS; p++)
                if (first_nouns[p] == img.obj[o].noun + 1) shared_noun = 1;
        }
        /* regions of one object look alike; an object's regions and the background do not */
        const float *x = a.data + (size_t)i * UA_SYNTH_REGIONS * 32;
        for (int r = 0; r < UA_SYNTH_REGIONS; r++)
            for (int q = r + 1; q < UA_SYNTH_REGIONS; q++) {
                if (img.region_object[r] < 0) continue;
                double dot = 0, nr = 0, nq = 0;
                for (int j = 0; j < 32; j++) {
                    dot += (double)x[r * 32 + j] * x[q * 32 + j];
                    nr += (double)x[r * 32 + j] * x[r * 32 + j];
                    nq += (double)x[q * 32 + j] * x[q * 32 + j];
                }
                double cosine = dot / sqrt(nr * nq + 1e-12);
                if (img.region_object[q] == img.region_object[r]) same += cosine, n_same++;
                else if (img.region_object[q] < 0) other += cosine, n_other++;
            }
    }
    assert_true(shared_noun);   /* images share nouns */
    assert_true(same / n_same > other / n_other + 0.2);
    ua_npy_close(&a);
    free(ims);
}

static void test_deterministic_by_seed(void **state)
{
    (void)state;
    ua_synth_config cfg = tiny();
    char *again = th_path(g_dir, "again"), *vocab2 = th_path(g_dir, "again_vocab.json");
    char *other = th_path(g_dir, "other"), *vocab3 = th_path(g_dir, "other_vocab.json");
    write_tiny(&cfg, again, vocab2);
    cfg.seed = 2;
    write_tiny(&cfg, other, vocab3);
    const char *suffixes[] = {"_ims.npy", "_caps.txt", "_caps_grounding.txt"};
    for (int s = 0; s < 3; s++)
        for (int k = 0; k < 3; k++) {
            char *a = file_in(g_data, SPLITS[s], suffixes[k]);
            char *b = file_in(again, SPLITS[s], suffixes[k]);
            char *c = file_in(other, SPLITS[s], suffixes[k]);
            if (!files_equal(a, b)) fail_msg("%s differs between two runs with one seed", b);
            if (files_equal(a, c)) fail_msg("%s is the same for seeds 1 and 2", c);
            free(a);
            free(b);
            free(c);
        }
    assert_true(files_equal(g_vocab, vocab2));
    assert_true(files_equal(g_vocab, vocab3));   /* the words do not depend on the seed */
    free(again);
    free(vocab2);
    free(other);
    free(vocab3);
}

/* a split's content does not depend on the other splits' sizes; a bigger split extends a
 * smaller one; testall is written on request */
static void test_splits_are_independent(void **state)
{
    (void)state;
    ua_err err = {""};
    ua_synth_config cfg = tiny();
    cfg.n_images[UA_SYNTH_TRAIN] = 40;
    cfg.n_images[UA_SYNTH_TESTALL] = 20;
    char *dir = th_path(g_dir, "fewer"), *vocab = th_path(g_dir, "fewer_vocab.json");
    write_tiny(&cfg, dir, vocab);
    for (int s = 1; s < 3; s++) {
        const char *suffixes[] = {"_ims.npy", "_caps.txt", "_caps_grounding.txt"};
        for (int k = 0; k < 3; k++) {
            char *a = file_in(g_data, SPLITS[s], suffixes[k]);
            char *b = file_in(dir, SPLITS[s], suffixes[k]);
            if (!files_equal(a, b)) fail_msg("%s changed with --n-train", b);
            free(a);
            free(b);
        }
    }
    /* train: the first 40 images of the 64 */
    char *a = file_in(g_data, "train", "_ims.npy"), *b = file_in(dir, "train", "_ims.npy");
    ua_npy x, y;
    assert_int_equal(ua_npy_open(&x, a, &err), 0);
    assert_int_equal(ua_npy_open(&y, b, &err), 0);
    assert_int_equal(y.shape[0], 40);
    assert_memory_equal(x.data, y.data, y.n_elems * sizeof(float));
    ua_npy_close(&x);
    ua_npy_close(&y);
    free(a);
    free(b);
    a = file_in(g_data, "train", "_caps.txt");
    b = file_in(dir, "train", "_caps.txt");
    size_t nb;
    char *ta = th_read(a, NULL), *tb = th_read(b, &nb);
    assert_memory_equal(ta, tb, nb);
    free(ta);
    free(tb);
    free(a);
    free(b);
    /* testall: its own content, not a copy of test */
    a = file_in(dir, "testall", "_ims.npy");
    assert_int_equal(ua_npy_open(&x, a, &err), 0);
    assert_int_equal(x.shape[0], 20);
    ua_npy_close(&x);
    free(a);
    a = file_in(dir, "testall", "_caps.txt");
    b = file_in(dir, "test", "_caps.txt");
    assert_false(files_equal(a, b));
    free(a);
    free(b);
    free(dir);
    free(vocab);
}

typedef struct seen {
    long calls, last_done, total;
    int splits;
    const char *split;
} seen;

static void count_progress(void *ctx, const char *split, long done, long total)
{
    seen *s = ctx;
    if (s->split != split) s->splits++, s->split = split;
    assert_true(done > 0 && done <= total);
    s->calls++;
    s->last_done = done;
    s->total = total;
}

static void test_progress_and_bad_folder(void **state)
{
    (void)state;
    ua_err err = {""};
    ua_synth_config cfg = tiny();
    seen s = {0};
    cfg.progress = count_progress;
    cfg.progress_ctx = &s;
    cfg.img_dim = 8192;   /* a few images per block */
    cfg.n_images[UA_SYNTH_TRAIN] = 40;
    char *dir = th_path(g_dir, "progress"), *vocab = th_path(g_dir, "progress/v.json");
    write_tiny(&cfg, dir, vocab);
    assert_int_equal(s.splits, 3);
    assert_true(s.calls > 3);
    assert_int_equal(s.last_done, s.total);
    /* a data folder that is a file */
    char *file = th_path(g_dir, "progress/v.json/sub");
    cfg = tiny();
    assert_int_equal(ua_synth_write(&cfg, file, vocab, &err), -1);
    assert_non_null(strstr(err.msg, "v.json"));
    free(file);
    free(dir);
    free(vocab);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_check_names_the_field),
        cmocka_unit_test(test_words_are_unique_and_plain),
        cmocka_unit_test(test_tiny_writes_every_file),
        cmocka_unit_test(test_captions_and_grounding),
        cmocka_unit_test(test_layout_and_features_agree),
        cmocka_unit_test(test_deterministic_by_seed),
        cmocka_unit_test(test_splits_are_independent),
        cmocka_unit_test(test_progress_and_bad_folder),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
