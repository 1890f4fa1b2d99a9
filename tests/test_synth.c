/* The synthetic dataset generator: presets, checks, and the tiny preset's files. */
#include "helpers.h"
#include "uarda/npy.h"
#include "uarda/plot.h"
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
static char *g_capfile[2]; /* the captions preset's small corpus (written when first needed) */

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
    free(g_capfile[0]);
    free(g_capfile[1]);
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
    assert_string_equal(err.msg, "synth: unknown preset 'huge' (presets: tiny|small|f30k|captions)");
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
    /* three files per split, the README, and the dev and test pictures: boxes, and with cairo the
     * thumbnails' folder and their names (tests/test_synth_pictures.c) */
    assert_int_equal(n_entries(g_data), 3 * 3 + 1 + 2 * (ua_plot_available() ? 3 : 1));
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

/* ---- the captions preset (a small caption corpus written here) ---- */

/* file A: 5 images, file B: 3. Image 0 shares "dog" (3 captions) and "grass" (2); "dogs",
 * "puppy" and "ball" are one caption's each. Image 1 shares five words, one in capitals.
 * Image 5 ("zoo") has words used by 5, 4, 3 and 2 captions. The others share "thing<k>". */
static const char *const CAPS_A[] = {
    "A dog runs on the grass .", "The dog is playing in the grass.", "A brown dog with a ball .",
    "Two men's dogs outside", "  A puppy plays .  ",
    "A man riding a red bike down the street .", "Man on a bike .", "A person rides a bicycle in the city",
    "A MAN IS RIDING A BIKE", "someone riding on a red bicycle .",
};
static const char *const CAPS_ZOO[] = {
    "zebra giraffe lion tiger .", "a zebra , a giraffe , a lion and a tiger", "the zebra and the giraffe near a lion",
    "zebra with giraffe", "one zebra",
};


static void put_image_k(FILE *f, int k)
{
    fprintf(f, "a thing%d on the table%d .\nthe thing%d is here\nsome stuff%d\nthere is nothing\nit is a photo%d .\n",
            k, k, k, k, k);
}

static void write_corpus(void)
{
    if (g_capfile[0]) return;
    g_capfile[0] = th_path(g_dir, "capsA.txt");
    g_capfile[1] = th_path(g_dir, "capsB.txt");
    FILE *f = fopen(g_capfile[0], "w");
    assert_non_null(f);
    for (int i = 0; i < 10; i++) fprintf(f, "%s\n", CAPS_A[i]);
    for (int k = 2; k < 5; k++) put_image_k(f, k);
    fclose(f);
    f = fopen(g_capfile[1], "w");
    assert_non_null(f);
    for (int i = 0; i < 5; i++) fprintf(f, "%s\n", CAPS_ZOO[i]);
    put_image_k(f, 6);
    put_image_k(f, 7);
    fclose(f);
}

static ua_synth_config captions_cfg(void)
{
    write_corpus();
    ua_synth_config cfg;
    ua_err err;
    assert_int_equal(ua_synth_preset("captions", &cfg, &err), 0);
    cfg.caption_files = (const char *const *)g_capfile;
    cfg.n_caption_files = 2;
    cfg.n_images[UA_SYNTH_DEV] = 2;
    cfg.n_images[UA_SYNTH_TEST] = 2;   /* train: the other 4 */
    cfg.img_dim = 16;
    cfg.vocab_threshold = 2;
    return cfg;
}

static ua_synth_corpus *corpus(const ua_synth_config *cfg)
{
    ua_synth_corpus *c;
    ua_err err = {""};
    if (ua_synth_corpus_load(cfg, &c, &err) != 0) fail_msg("ua_synth_corpus_load: %s", err.msg);
    return c;
}

/* the tokens of a caption line, as the loader splits it */
static int tokens_of(ua_tokenizer *t, const char *line, ua_tokens *out)
{
    ua_err err = {""};
    if (ua_tokenize(t, line, strlen(line), out, &err) != 0) fail_msg("%s", err.msg);
    return out->n;
}

static void test_captions_preset_and_check(void **state)
{
    (void)state;
    ua_err err = {""};
    ua_synth_config cfg;
    assert_int_equal(ua_synth_preset("captions", &cfg, &err), 0);
    assert_int_equal(cfg.from_captions, 1);
    assert_int_equal(cfg.n_images[UA_SYNTH_TRAIN], 0);   /* all the rest */
    assert_int_equal(cfg.n_images[UA_SYNTH_DEV], 1000);
    assert_int_equal(cfg.n_images[UA_SYNTH_TEST], 1000);
    assert_int_equal(cfg.concept_min_captions, 2);
    assert_int_equal(cfg.vocab_threshold, 4);
    /* no files: the message names the flag */
    assert_int_equal(ua_synth_check(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "--captions-from"));
    char *data = th_path(g_dir, "never_captions");
    assert_int_equal(ua_synth_write(&cfg, data, data, &err), -1);
    assert_non_null(strstr(err.msg, "--captions-from"));
    assert_int_equal(access(data, F_OK), -1);
    cfg = captions_cfg();
    assert_int_equal(ua_synth_check(&cfg, &err), 0);
    cfg.max_concepts = 0;
    assert_int_equal(ua_synth_check(&cfg, &err), -1);
    assert_string_equal(err.msg, "synth: max_concepts must be in [1, 32], got 0");
    cfg = captions_cfg();
    cfg.concept_min_captions = 6;
    assert_int_equal(ua_synth_check(&cfg, &err), -1);
    assert_string_equal(err.msg, "synth: concept_min_captions must be in [1, 5], got 6");
    cfg = captions_cfg();
    cfg.n_images[UA_SYNTH_TESTALL] = 10;
    assert_int_equal(ua_synth_check(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "no testall split"));
    cfg = captions_cfg();
    ua_synth_image img;   /* the template world's layout is not the captions preset's */
    assert_int_equal(ua_synth_image_layout(&cfg, UA_SYNTH_TRAIN, 0, &img, &err), -1);
    free(data);
}

static void test_function_words(void **state)
{
    (void)state;
    const char *function[] = {"a", "an", "the", "of", "in", "on", "with", "and", "is", "are", "'s", "n't",
                              "two", "there", "his", "front", ".", ",", "``", "''", "2", "9-11", "&", "'"};
    const char *content[] = {"dog", "man", "red", "sitting", "grass", "t-shirt", "dogs", "puppy", "frisbee",
                             "café", "x"};
    for (size_t i = 0; i < sizeof function / sizeof *function; i++)
        if (!ua_synth_is_function_word(function[i])) fail_msg("'%s' should be a function word", function[i]);
    for (size_t i = 0; i < sizeof content / sizeof *content; i++)
        if (ua_synth_is_function_word(content[i])) fail_msg("'%s' should be a content word", content[i]);
}

/* every image in one split only; the caption files of a split hold its images' source lines */
static void test_captions_split_by_image(void **state)
{
    (void)state;
    ua_err err = {""};
    ua_synth_config cfg = captions_cfg();
    char *dir = th_path(g_dir, "cap1"), *vocab = th_path(g_dir, "cap1/v.json");
    long written[UA_SYNTH_N_SPLITS] = {0};
    cfg.n_written = written;
    if (ua_synth_write(&cfg, dir, vocab, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(written[UA_SYNTH_TRAIN], 4);
    assert_int_equal(written[UA_SYNTH_DEV], 2);
    assert_int_equal(written[UA_SYNTH_TEST], 2);
    ua_synth_corpus *c = corpus(&cfg);
    int in_splits[8] = {0};
    for (int s = 0; s < 3; s++) {
        long n = ua_synth_corpus_images(c, s);
        assert_int_equal(n, written[s]);
        char *caps = file_in(dir, SPLITS[s], "_caps.txt");
        char *text = th_read(caps, NULL);
        assert_non_null(text);
        char **lines;
        assert_int_equal(split_lines(text, &lines), 5 * n);
        long prev = -1;
        for (long i = 0; i < n; i++) {
            ua_synth_caption_image img;
            assert_int_equal(ua_synth_corpus_image(c, s, i, &img, &err), 0);
            assert_true(img.source >= 0 && img.source < 8);
            assert_true(img.source > prev);   /* the pool's order */
            prev = img.source;
            in_splits[img.source]++;
            /* the source's lines, stripped */
            int in_a = img.file == g_capfile[0];
            assert_true(in_a || img.file == g_capfile[1]);
            assert_int_equal(img.source, in_a ? (img.first_line - 1) / 5 : 5 + (img.first_line - 1) / 5);
            for (int k = 0; k < 5; k++) {
                const char *want = NULL;
                if (img.source < 2) want = CAPS_A[img.source * 5 + k];
                else if (img.source == 5) want = CAPS_ZOO[k];
                if (!want) continue;
                while (*want == ' ') want++;
                assert_int_equal(strncmp(lines[i * 5 + k], want, strlen(lines[i * 5 + k])), 0);
            }
        }
        assert_int_equal(ua_synth_corpus_image(c, s, n, NULL, &err), -1);
        free(lines);
        free(text);
        free(caps);
    }
    for (int i = 0; i < 8; i++) assert_int_equal(in_splits[i], 1);
    assert_string_equal(CAPS_A[4], "  A puppy plays .  ");   /* written stripped: checked above */
    char *readme = th_path(dir, "README.synth.txt");
    char *text = th_read(readme, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "preset          captions\n"));
    assert_non_null(strstr(text, "seed            1\n"));
    assert_non_null(strstr(text, "capsA.txt (5 images)\n"));
    assert_non_null(strstr(text, "capsB.txt (3 images)\n"));
    assert_non_null(strstr(text, "train           4 images, 20 captions"));
    assert_non_null(strstr(text, "used at least 2 times"));
    free(text);
    free(readme);
    ua_synth_corpus_free(c);
    free(dir);
    free(vocab);
}

/* Grounding: one flag per token as the loader tokenizes; function words never grounded; a
 * content word that >= 2 captions of its image use always grounded, and in regions drawn
 * from its prototype; a word of one caption never. Checked against counts made here. */
static void check_grounding(const ua_synth_config *cfg, const char *dir)
{
    ua_err err = {""};
    ua_synth_corpus *c = corpus(cfg);
    ua_tokenizer *t = ua_tokenizer_new(&err);
    assert_non_null(t);
    ua_tokens tok[5] = {{0}};
    const size_t d = (size_t)cfg->img_dim;
    float *proto = malloc(d * sizeof *proto);
    long n_shared = 0, n_single = 0;
    for (int s = 0; s < 3; s++) {
        long n = ua_synth_corpus_images(c, s);
        char *caps = file_in(dir, SPLITS[s], "_caps.txt"), *grd = file_in(dir, SPLITS[s], "_caps_grounding.txt");
        char *ims = file_in(dir, SPLITS[s], "_ims.npy");
        char *ct = th_read(caps, NULL), *gt = th_read(grd, NULL);
        assert_non_null(ct);
        assert_non_null(gt);
        char **cl, **gl;
        assert_int_equal(split_lines(ct, &cl), 5 * n);
        assert_int_equal(split_lines(gt, &gl), 5 * n);
        ua_npy a;
        if (ua_npy_open(&a, ims, &err) != 0) fail_msg("%s", err.msg);
        assert_int_equal(a.shape[0], n);
        for (long i = 0; i < n; i++) {
            ua_synth_caption_image img;
            assert_int_equal(ua_synth_corpus_image(c, s, i, &img, &err), 0);
            char *flags[5][64];
            for (int k = 0; k < 5; k++) {
                int nt = tokens_of(t, cl[i * 5 + k], &tok[k]);
                assert_int_equal(split_words(gl[i * 5 + k], flags[k], 64), nt);
            }
            for (int k = 0; k < 5; k++)
                for (int j = 0; j < tok[k].n; j++) {
                    const char *w = tok[k].tok[j];
                    int g = strcmp(flags[k][j], "1") == 0;
                    assert_true(g || strcmp(flags[k][j], "0") == 0);
                    if (ua_synth_is_function_word(w)) {
                        if (g) fail_msg("function word '%s' grounded", w);
                        continue;
                    }
                    int uses = 0;   /* captions of the image that use w */
                    for (int q = 0; q < 5; q++)
                        for (int m = 0; m < tok[q].n; m++)
                            if (strcmp(tok[q].tok[m], w) == 0) { uses++; break; }
                    int concept = -1;
                    for (int x = 0; x < img.n_concepts; x++)
                        if (strcmp(img.concept[x], w) == 0) concept = x;
                    assert_int_equal(g, concept >= 0);   /* grounded = one of its image's concepts */
                    if (uses < cfg->concept_min_captions) {
                        assert_int_equal(g, 0);
                        n_single++;
                        continue;
                    }
                    if (img.n_concepts < cfg->max_concepts && !g) fail_msg("'%s' (%d captions) not grounded", w, uses);
                    if (!g) continue;
                    n_shared++;
                    assert_int_equal(img.concept_captions[concept], uses);
                    /* its regions: exactly v * prototype (noise 0, scale 1, shift 0) */
                    ua_synth_word_prototype(cfg, w, proto);
                    int regions = 0;
                    for (int r = 0; r < UA_SYNTH_REGIONS; r++) {
                        if (img.region_concept[r] != concept) continue;
                        regions++;
                        const float *x = a.data + ((size_t)i * UA_SYNTH_REGIONS + (size_t)r) * d;
                        float v = img.region_visibility[r];
                        assert_true(v >= cfg->visibility_min && v <= 1);
                        for (size_t j2 = 0; j2 < d; j2++) {
                            float z = v * proto[j2];
                            assert_float_equal(x[j2], z > 0 ? z : 0, 1e-6);
                        }
                    }
                    assert_int_equal(regions, img.n_regions[concept]);
                    assert_true(regions >= 1);
                }
            /* the background is clutter */
            for (int r = 0; r < UA_SYNTH_REGIONS; r++) {
                if (img.region_concept[r] >= 0) continue;
                assert_true(img.region_clutter[r] >= 0 && img.region_clutter[r] < cfg->n_clutter);
                ua_synth_clutter_prototype(cfg, img.region_clutter[r], proto);
                const float *x = a.data + ((size_t)i * UA_SYNTH_REGIONS + (size_t)r) * d;
                for (size_t j2 = 0; j2 < d; j2++) {
                    float z = (float)cfg->clutter_scale * proto[j2];
                    assert_float_equal(x[j2], z > 0 ? z : 0, 1e-6);
                }
            }
        }
        ua_npy_close(&a);
        free(cl);
        free(gl);
        free(ct);
        free(gt);
        free(caps);
        free(grd);
        free(ims);
    }
    assert_true(n_shared > 20);
    assert_true(n_single > 10);
    for (int k = 0; k < 5; k++) ua_tokens_free(&tok[k]);
    ua_tokenizer_free(t);
    free(proto);
    ua_synth_corpus_free(c);
}

static void test_captions_grounding(void **state)
{
    (void)state;
    ua_err err = {""};
    ua_synth_config cfg = captions_cfg();
    cfg.noise = 0;
    char *dir = th_path(g_dir, "cap_noise0"), *vocab = th_path(g_dir, "cap_noise0/v.json");
    if (ua_synth_write(&cfg, dir, vocab, &err) != 0) fail_msg("%s", err.msg);
    check_grounding(&cfg, dir);
    /* known images: image 0 grounds "dog" and "grass" only; image 1 "man", "riding", "bike",
     * "red", "bicycle" (and "MAN" in capitals, which the tokenizer lowercases) */
    ua_synth_corpus *c = corpus(&cfg);
    int found = 0;
    for (int s = 0; s < 3; s++)
        for (long i = 0; i < ua_synth_corpus_images(c, s); i++) {
            ua_synth_caption_image img;
            assert_int_equal(ua_synth_corpus_image(c, s, i, &img, &err), 0);
            if (img.source == 0) {
                assert_int_equal(img.n_concepts, 2);
                assert_string_equal(img.concept[0], "dog");
                assert_int_equal(img.concept_captions[0], 3);
                assert_string_equal(img.concept[1], "grass");
                found++;
            } else if (img.source == 1) {
                const char *want[] = {"man", "riding", "bike", "red", "bicycle"};   /* 3, 3, 3, 2, 2 uses */
                assert_int_equal(img.n_concepts, 5);
                for (int k = 0; k < 5; k++) assert_string_equal(img.concept[k], want[k]);
                found++;
            } else if (img.source == 5) {
                const char *want[] = {"zebra", "giraffe", "lion", "tiger"};
                assert_int_equal(img.n_concepts, 4);
                for (int k = 0; k < 4; k++) assert_string_equal(img.concept[k], want[k]);
                assert_int_equal(img.concept_captions[3], 2);
                found++;
            } else {
                assert_int_equal(img.n_concepts, 1);   /* thing<k> */
                assert_int_equal(strncmp(img.concept[0], "thing", 5), 0);
            }
        }
    assert_int_equal(found, 3);
    ua_synth_corpus_free(c);
    free(dir);
    free(vocab);
}

/* at most max_concepts, the most used first; regions cut to leave the background */
static void test_captions_limits(void **state)
{
    (void)state;
    ua_err err = {""};
    ua_synth_config cfg = captions_cfg();
    cfg.noise = 0;
    cfg.max_concepts = 2;
    cfg.obj_regions_min = cfg.obj_regions_max = 20;
    char *dir = th_path(g_dir, "cap_limits"), *vocab = th_path(g_dir, "cap_limits/v.json");
    if (ua_synth_write(&cfg, dir, vocab, &err) != 0) fail_msg("%s", err.msg);
    check_grounding(&cfg, dir);
    ua_synth_corpus *c = corpus(&cfg);
    int zoo = 0;
    for (int s = 0; s < 3; s++)
        for (long i = 0; i < ua_synth_corpus_images(c, s); i++) {
            ua_synth_caption_image img;
            assert_int_equal(ua_synth_corpus_image(c, s, i, &img, &err), 0);
            assert_true(img.n_concepts <= 2);
            int total = 0, background = 0;
            for (int k = 0; k < img.n_concepts; k++) {
                assert_true(img.n_regions[k] >= 1 && img.n_regions[k] <= 20);
                total += img.n_regions[k];
            }
            for (int r = 0; r < UA_SYNTH_REGIONS; r++) background += img.region_concept[r] < 0;
            assert_int_equal(background, UA_SYNTH_REGIONS - total);
            if (img.n_concepts == 2) assert_int_equal(background, UA_SYNTH_MIN_BACKGROUND);   /* 40 cut to 32 */
            if (img.source == 5) {
                assert_string_equal(img.concept[0], "zebra");
                assert_string_equal(img.concept[1], "giraffe");
                zoo = 1;
            }
        }
    assert_true(zoo);
    ua_synth_corpus_free(c);
    free(dir);
    free(vocab);
}

/* the same bytes for a seed; another seed changes the features */
static void test_captions_deterministic(void **state)
{
    (void)state;
    ua_err err = {""};
    ua_synth_config cfg = captions_cfg();
    const char *names[] = {"a", "b", "c"};
    for (int r = 0; r < 3; r++) {
        char dname[32], vname[32];
        snprintf(dname, sizeof dname, "capdet_%s", names[r]);
        snprintf(vname, sizeof vname, "capdet_%s/v.json", names[r]);
        char *dir = th_path(g_dir, dname), *vocab = th_path(g_dir, vname);
        cfg.seed = r == 2 ? 7 : 1;
        if (ua_synth_write(&cfg, dir, vocab, &err) != 0) fail_msg("%s", err.msg);
        free(dir);
        free(vocab);
    }
    char *a = th_path(g_dir, "capdet_a"), *b = th_path(g_dir, "capdet_b"), *o = th_path(g_dir, "capdet_c");
    const char *files[] = {"train_ims.npy", "train_caps.txt", "train_caps_grounding.txt", "dev_ims.npy",
                           "dev_caps.txt", "test_ims.npy", "test_caps_grounding.txt", "README.synth.txt", "v.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char *x = th_path(a, files[i]), *y = th_path(b, files[i]);
        if (!files_equal(x, y)) fail_msg("%s differs between two runs of one seed", files[i]);
        free(x);
        free(y);
    }
    char *x = th_path(a, "train_ims.npy"), *y = th_path(o, "train_ims.npy");
    assert_false(files_equal(x, y));
    free(x);
    free(y);
    free(a);
    free(b);
    free(o);
}

/* the train words used at least vocab_threshold times, and no other */
static void test_captions_vocab(void **state)
{
    (void)state;
    ua_err err = {""};
    ua_synth_config cfg = captions_cfg();
    char *dir = th_path(g_dir, "capvocab"), *vpath = th_path(g_dir, "capvocab/v.json");
    if (ua_synth_write(&cfg, dir, vpath, &err) != 0) fail_msg("%s", err.msg);
    ua_vocab v, counts;
    if (ua_vocab_load(&v, vpath, &err) != 0) fail_msg("%s", err.msg);
    assert_string_equal(v.words[0], "<pad>");
    assert_string_equal(v.words[3], "<unk>");
    assert_int_equal(ua_vocab_init(&counts, &err), 0);
    int count[512] = {0};
    ua_tokenizer *t = ua_tokenizer_new(&err);
    ua_tokens tok = {0};
    for (int s = 0; s < 3; s++) {
        char *caps = file_in(dir, SPLITS[s], "_caps.txt");
        char *text = th_read(caps, NULL);
        char **lines;
        int n = split_lines(text, &lines);
        for (int l = 0; l < n; l++) {
            tokens_of(t, lines[l], &tok);
            for (int j = 0; j < tok.n; j++) {
                int id = ua_vocab_add(&counts, tok.tok[j], &err);
                assert_true(id >= 0 && id < 512);
                if (s == UA_SYNTH_TRAIN) count[id]++;
            }
        }
        free(lines);
        free(text);
        free(caps);
    }
    int in_vocab = 0;
    for (int id = 4; id < counts.n; id++) {
        int want = count[id] >= cfg.vocab_threshold;
        if ((ua_vocab_find(&v, counts.words[id]) >= 0) != want)
            fail_msg("'%s' (%d train uses) %s the vocabulary", counts.words[id], count[id], want ? "not in" : "in");
        in_vocab += want;
    }
    assert_int_equal(v.n, 4 + in_vocab);
    assert_true(in_vocab > 5 && in_vocab < counts.n - 4);
    /* the most frequent first: "a" (or "." ) leads */
    for (int id = 5; id < v.n; id++) {
        int prev = ua_vocab_find(&counts, v.words[id - 1]), cur = ua_vocab_find(&counts, v.words[id]);
        assert_true(count[prev] >= count[cur]);
    }
    ua_tokens_free(&tok);
    ua_tokenizer_free(t);
    ua_vocab_free(&v);
    ua_vocab_free(&counts);
    free(dir);
    free(vpath);
}

/* bad sources: one line each, naming the file (and the line) */
static void test_captions_bad_sources(void **state)
{
    (void)state;
    ua_err err = {""};
    ua_synth_config cfg = captions_cfg();
    char *dir = th_path(g_dir, "capbad"), *vocab = th_path(g_dir, "capbad/v.json");
    char *missing = th_path(g_dir, "no_such_caps.txt");
    const char *one[1] = {missing};
    cfg.caption_files = one;
    cfg.n_caption_files = 1;
    assert_int_equal(ua_synth_write(&cfg, dir, vocab, &err), -1);
    assert_non_null(strstr(err.msg, missing));
    char *seven = th_path(g_dir, "seven.txt");
    assert_int_equal(th_write(seven, "a\nb\nc\nd\ne\nf\ng", 13), 0);
    one[0] = seven;
    assert_int_equal(ua_synth_write(&cfg, dir, vocab, &err), -1);
    assert_non_null(strstr(err.msg, "seven.txt: 7 captions, not a multiple of 5"));
    char *blank = th_path(g_dir, "blank.txt");
    assert_int_equal(th_write(blank, "a\nb\n \nd\ne\n", 11), 0);
    one[0] = blank;
    assert_int_equal(ua_synth_write(&cfg, dir, vocab, &err), -1);
    assert_non_null(strstr(err.msg, "blank.txt: line 3: blank caption"));
    /* an image given twice: a file named twice, or an image repeated in a file */
    cfg = captions_cfg();
    const char *twice[3] = {g_capfile[1], g_capfile[0], g_capfile[1]};
    cfg.caption_files = twice;
    cfg.n_caption_files = 3;
    assert_int_equal(ua_synth_write(&cfg, dir, vocab, &err), -1);
    char want[1024];
    snprintf(want, sizeof want, "synth: %s line 1: the same 5 captions as %s line 1 (", g_capfile[1], g_capfile[1]);
    assert_int_equal(strncmp(err.msg, want, strlen(want)), 0);
    char *rep = th_path(g_dir, "repeat.txt");
    const char *text = "a\nb\nc\nd\ne\na\nb\nc\nd\nf\nq\nr\ns\nt\nu\n a\nb\nc\nd\nf \n";
    assert_int_equal(th_write(rep, text, strlen(text)), 0);
    one[0] = rep;
    cfg.caption_files = one;
    cfg.n_caption_files = 1;
    assert_int_equal(ua_synth_write(&cfg, dir, vocab, &err), -1);
    snprintf(want, sizeof want, "synth: %s line 16: the same 5 captions as %s line 6 (", rep, rep);
    assert_int_equal(strncmp(err.msg, want, strlen(want)), 0);
    free(rep);
    cfg = captions_cfg();
    cfg.n_images[UA_SYNTH_TRAIN] = 5;   /* 5 + 2 + 2 > 8 */
    assert_int_equal(ua_synth_write(&cfg, dir, vocab, &err), -1);
    assert_string_equal(err.msg, "synth: the caption files hold 8 images, fewer than n_train 5 + n_dev 2 + n_test 2");
    cfg.n_images[UA_SYNTH_TRAIN] = 0;
    cfg.n_images[UA_SYNTH_DEV] = 6;
    assert_int_equal(ua_synth_write(&cfg, dir, vocab, &err), -1);
    assert_non_null(strstr(err.msg, "none left for train"));
    assert_int_equal(access(dir, F_OK), -1);   /* nothing written */
    free(dir);
    free(vocab);
    free(missing);
    free(seven);
    free(blank);
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
        cmocka_unit_test(test_captions_preset_and_check),
        cmocka_unit_test(test_function_words),
        cmocka_unit_test(test_captions_split_by_image),
        cmocka_unit_test(test_captions_grounding),
        cmocka_unit_test(test_captions_limits),
        cmocka_unit_test(test_captions_deterministic),
        cmocka_unit_test(test_captions_vocab),
        cmocka_unit_test(test_captions_bad_sources),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
