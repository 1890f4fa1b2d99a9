/* uarda plot: the drawing functions on synthetic inputs (PNG signature and size, SVG, errors),
 * and the data behind the pictures (similarity samples, grounding split, attention maps)
 * checked against direct computations on a tiny synthetic dataset. */
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "uarda/eval.h"
#include "uarda/plot.h"
#include "uarda/synth.h"

static char *g_dir, *g_root, *g_vocab;

static int setup(void **state)
{
    (void)state;
    g_dir = th_tmpdir();
    if (!g_dir) return -1;
    g_root = th_path(g_dir, "data");
    g_vocab = th_path(g_dir, "vocab/synth_tiny_precomp_vocab.json");
    char *data = th_path(g_root, "synth_tiny_precomp");
    ua_synth_config cfg;
    ua_err err;
    int rc = ua_synth_preset("tiny", &cfg, &err) || ua_synth_write(&cfg, data, g_vocab, &err);
    free(data);
    return rc ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    th_rmrf(g_dir);
    free(g_dir);
    free(g_root);
    free(g_vocab);
    return 0;
}

/* ---- pictures -------------------------------------------------------------------------- */

/* the file is a PNG of w x h pixels */
static void check_png(const char *path, int w, int h)
{
    size_t n;
    char *b = th_read(path, &n);
    assert_non_null(b);
    assert_true(n > 33);
    assert_memory_equal(b, "\x89PNG\r\n\x1a\n", 8);
    assert_memory_equal(b + 12, "IHDR", 4);
    const unsigned char *u = (const unsigned char *)b;
    int pw = (u[16] << 24) | (u[17] << 16) | (u[18] << 8) | u[19];
    int ph = (u[20] << 24) | (u[21] << 16) | (u[22] << 8) | u[23];
    assert_int_equal(pw, w);
    assert_int_equal(ph, h);
    free(b);
}

static void check_svg(const char *path, int w, int h)
{
    char *b = th_read(path, NULL);
    assert_non_null(b);
    assert_non_null(strstr(b, "<svg"));
    char want[96];
    snprintf(want, sizeof want, "width=\"%dpt\" height=\"%dpt\"", w, h);
    if (!strstr(b, want)) fail_msg("%s lacks %s", path, want);
    assert_non_null(strstr(b, "</svg>"));
    free(b);
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* two normal-ish samples from a fixed LCG */
static float *samples(int n, double mu, double sd, unsigned seed)
{
    float *v = malloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < 12; k++) {
            seed = seed * 1664525u + 1013904223u;
            s += (seed >> 8) / 16777216.0;
        }
        v[i] = (float)(mu + sd * (s - 6));
    }
    return v;
}

static void test_format_names(void **state)
{
    (void)state;
    assert_string_equal(ua_plot_format("a/b.png"), "png");
    assert_string_equal(ua_plot_format("B.SVG"), "svg");
    assert_null(ua_plot_format("b.pdf"));
    assert_null(ua_plot_format("png"));
    assert_null(ua_plot_format("dir.png/file"));
}

/* whether a recorded text equals s (exact) or contains it */
static int has_text(const ua_plot_texts *t, const char *s, int exact)
{
    for (int k = 0; k < t->n && k < UA_PLOT_TEXTS_MAX; k++)
        if (exact ? strcmp(t->text[k], s) == 0 : strstr(t->text[k], s) != NULL) return 1;
    return 0;
}

static void test_histograms(void **state)
{
    (void)state;
    if (!ua_plot_available()) skip();
    char *png = th_path(g_dir, "pics/hist.png"), *svg = th_path(g_dir, "hist.svg"), *scan = th_path(g_dir, "scan.png");
    float *pos = samples(3000, 0.55, 0.1, 1), *neg = samples(2500, 0.25, 0.12, 2);
    const char *labels[2] = {"relevant", "irrelevant"};
    ua_err err;
    int w, h;
    /* the folder of the output is created */
    if (ua_plot_histograms(png, pos, 3000, neg, 2500, labels, 0.48, 0.30, NULL, "Histograms\nsubtitle", NULL, &err))
        fail_msg("%s", err.msg);
    ua_plot_hist_size(&w, &h, 1);
    check_png(png, w, h);
    assert_int_equal(w, (int)lround(UA_PLOT_HIST_W * UA_PLOT_PNG_SCALE));
    if (ua_plot_histograms(svg, pos, 3000, neg, 2500, NULL, 0.48, 0.30, NULL, "Histograms", NULL, &err)) fail_msg("%s", err.msg);
    ua_plot_hist_size(&w, &h, 0);
    check_svg(svg, w, h);
    /* a mixture estimator's fit: the mixture curve and its relevant component (another picture) */
    char *mixsvg = th_path(g_dir, "mix.svg");
    const double mix[3] = {0.3, 0.7, 0.05};
    if (ua_plot_histograms(mixsvg, pos, 3000, neg, 2500, labels, 0.48, 0.30, mix, "Histograms", NULL, &err)) fail_msg("%s", err.msg);
    check_svg(mixsvg, w, h);
    size_t n_plain = 0, n_mix = 0;
    char *plain_text = th_read(svg, &n_plain), *mix_text = th_read(mixsvg, &n_mix);
    assert_true(plain_text && mix_text && (n_plain != n_mix || memcmp(plain_text, mix_text, n_mix) != 0));
    free(plain_text);
    free(mix_text);
    free(mixsvg);
    /* SCAN: no thresholds (the t = 0 line); one group alone; a single value */
    if (ua_plot_histograms(scan, pos, 3000, neg, 2500, labels, NAN, NAN, NULL, NULL, NULL, &err)) fail_msg("%s", err.msg);
    if (ua_plot_histograms(scan, pos, 3000, NULL, 0, labels, 0.4, NAN, NULL, "one group", NULL, &err)) fail_msg("%s", err.msg);
    float one = 0.5f;
    if (ua_plot_histograms(scan, &one, 1, &one, 1, labels, 0.5, 0.5, NULL, "degenerate", NULL, &err)) fail_msg("%s", err.msg);
    ua_plot_hist_size(&w, &h, 1);
    check_png(scan, w, h);
    /* what each picture says: UARDA's two thresholds in the legend and on their lines; SCAN's
     * fixed t = 0 and nothing of UARDA's */
    ua_plot_texts tx;
    if (ua_plot_histograms(scan, pos, 3000, neg, 2500, labels, 0.48, 0.30, NULL, "Title\nsub", &tx, &err))
        fail_msg("%s", err.msg);
    assert_true(has_text(&tx, "Title", 1) && has_text(&tx, "sub", 1));
    assert_true(has_text(&tx, "t_tr = 0.480 (training threshold)", 1) && has_text(&tx, "t_te = 0.300 (test threshold)", 1));
    assert_true(has_text(&tx, "t_tr", 1) && has_text(&tx, "t_te", 1));
    assert_false(has_text(&tx, "t = 0", 0));
    if (ua_plot_histograms(scan, pos, 3000, neg, 2500, labels, NAN, NAN, NULL, "SCAN", &tx, &err)) fail_msg("%s", err.msg);
    assert_true(has_text(&tx, "t = 0", 1));
    assert_false(has_text(&tx, "t_tr", 0) || has_text(&tx, "t_te", 0) || has_text(&tx, "UARDA", 0));
    assert_int_equal(tx.rows_off, 0);
    /* t_te alone NaN: only t_tr */
    if (ua_plot_histograms(scan, pos, 3000, neg, 2500, labels, 0.4, NAN, NULL, NULL, &tx, &err)) fail_msg("%s", err.msg);
    assert_true(has_text(&tx, "t_tr", 1));
    assert_false(has_text(&tx, "t_te", 0));
    /* errors */
    assert_int_equal(ua_plot_histograms(scan, pos, 0, neg, 0, labels, 0, 0, NULL, "t", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "no similarity samples"));
    pos[5] = NAN;
    assert_int_equal(ua_plot_histograms(scan, pos, 3000, neg, 2500, labels, 0, 0, NULL, "t", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "non-finite"));
    free(pos);
    free(neg);
    free(png);
    free(svg);
    free(scan);
}

static void test_curves(void **state)
{
    (void)state;
    if (!ua_plot_available()) skip();
    char *png = th_path(g_dir, "curves.png"), *svg = th_path(g_dir, "curves.svg");
    double ep[5] = {1, 2, 3, 4, 5}, rs[5] = {300, 350, 372, NAN, 390}, x2[40], a[40], b[40];
    for (int i = 0; i < 40; i++) {
        x2[i] = (i + 1) / 8.0;
        a[i] = 0.3 + 0.1 * (1 - exp(-i / 10.0));
        b[i] = 0.1 + 0.05 * (1 - exp(-i / 12.0));
    }
    ua_plot_series s1[1] = {{"dev rsum", ep, rs, 5, UA_LINE_SOLID, -1, 2}};
    ua_plot_series s2[2] = {{"t_tr", x2, a, 40, UA_LINE_SOLID, 3, 0}, {"t_te", x2, b, 40, UA_LINE_DASHED, 4, 0}};
    ua_plot_panel p[2] = {{"rsum", "rsum (%)", s1, 1}, {"thresholds", "similarity", s2, 2}};
    ua_err err;
    int w, h;
    if (ua_plot_curves(png, "Curves\nsub", "epoch", 1, p, 2, &err)) fail_msg("%s", err.msg);
    ua_plot_curves_size(2, &w, &h, 1);
    check_png(png, w, h);
    if (ua_plot_curves(svg, "Curves", "epoch", 0, p, 1, &err)) fail_msg("%s", err.msg);
    ua_plot_curves_size(1, &w, &h, 0);
    check_svg(svg, w, h);
    /* one point only */
    ua_plot_series s3[1] = {{"one", ep, rs, 1, UA_LINE_SOLID, -1, 0}};
    ua_plot_panel p3[1] = {{NULL, "y", s3, 1}};
    if (ua_plot_curves(png, NULL, "x", 1, p3, 1, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ua_plot_curves(png, "t", "x", 1, p, 0, &err), -1);
    assert_non_null(strstr(err.msg, "panels"));
    ua_plot_series s4[1] = {{"none", ep, rs, 0, UA_LINE_SOLID, -1, 0}};
    ua_plot_panel p4[1] = {{NULL, "y", s4, 1}};
    assert_int_equal(ua_plot_curves(png, "t", "x", 1, p4, 1, &err), -1);
    assert_non_null(strstr(err.msg, "no points"));
    free(png);
    free(svg);
}

static void test_heatmap(void **state)
{
    (void)state;
    if (!ua_plot_available()) skip();
    char *png = th_path(g_dir, "heat.png"), *svg = th_path(g_dir, "heat.svg");
    enum { ROWS = 7, COLS = 36 };
    float v[ROWS * COLS];
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) v[r * COLS + c] = (float)exp(-0.05 * (c - 5 * r) * (c - 5 * r));
    v[3] = NAN;
    const char *labels[ROWS] = {"<start>", "a", "very-long-word-that-does-not-fit-the-margin", "dog", NULL, ".", "<end>"};
    const char *notes[ROWS] = {"0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"};
    unsigned char off[ROWS] = {0, 1, 0, 0, 0, 1, 0};
    ua_err err;
    int w, h;
    if (ua_plot_heatmap(png, v, ROWS, COLS, labels, "Heatmap", &err)) fail_msg("%s", err.msg);
    ua_plot_heatmap_size(ROWS, COLS, NULL, &w, &h, 1);
    check_png(png, w, h);
    ua_plot_heatmap_opts o = {0};
    o.row_off = off;
    o.row_off_label = "irrelevant";
    o.row_notes = notes;
    o.notes_header = "max";
    o.cbar_label = "weight";
    o.vmin = 0;
    o.vmax = 1;
    if (ua_plot_heatmap_ex(png, v, ROWS, COLS, labels, "Heatmap\nwith options", &o, &err)) fail_msg("%s", err.msg);
    ua_plot_heatmap_size(ROWS, COLS, &o, &w, &h, 1);
    check_png(png, w, h);
    ua_plot_texts tx;
    o.texts = &tx;
    if (ua_plot_heatmap_ex(svg, v, ROWS, COLS, NULL, "Heatmap", &o, &err)) fail_msg("%s", err.msg);
    ua_plot_heatmap_size(ROWS, COLS, &o, &w, &h, 0);
    check_svg(svg, w, h);
    /* the hatched rows are counted and their legend recorded; none hatched, no such legend */
    assert_int_equal(tx.rows_off, 2);
    assert_true(has_text(&tx, "irrelevant", 1) && has_text(&tx, "weight", 1) && has_text(&tx, "max", 1));
    o.row_off = NULL;
    if (ua_plot_heatmap_ex(svg, v, ROWS, COLS, NULL, "Heatmap", &o, &err)) fail_msg("%s", err.msg);
    assert_int_equal(tx.rows_off, 0);
    assert_false(has_text(&tx, "irrelevant", 0));
    assert_true(has_text(&tx, "Heatmap", 1));
    o.row_off = off;
    o.texts = NULL;
    /* more notes and hatched rows make it larger */
    int w0, h0;
    ua_plot_heatmap_size(ROWS, COLS, NULL, &w0, &h0, 0);
    assert_true(w > w0 && h > h0);
    assert_int_equal(ua_plot_heatmap(png, v, 0, COLS, NULL, "t", &err), -1);
    assert_non_null(strstr(err.msg, "rows and columns"));
    free(png);
    free(svg);
}

static void test_bad_extension(void **state)
{
    (void)state;
    char *bad = th_path(g_dir, "picture.pdf");
    float v[4] = {0, 1, 2, 3};
    ua_err err;
    assert_int_equal(ua_plot_histograms(bad, v, 4, v, 4, NULL, 0, 0, NULL, "t", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "picture.pdf: unknown picture format"));
    assert_non_null(strstr(err.msg, ".png or .svg"));
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(ua_plot_heatmap(bad, v, 2, 2, NULL, "t", &err), -1);
    assert_non_null(strstr(err.msg, "unknown picture format"));
    double x[2] = {0, 1};
    ua_plot_series s[1] = {{"a", x, x, 2, UA_LINE_SOLID, -1, 0}};
    ua_plot_panel p[1] = {{NULL, "y", s, 1}};
    assert_int_equal(ua_plot_curves(bad, "t", "x", 0, p, 1, &err), -1);
    assert_non_null(strstr(err.msg, "unknown picture format"));
    assert_false(exists(bad));
    free(bad);
}

static void test_without_cairo(void **state)
{
    (void)state;
    if (ua_plot_available()) skip();
    char *png = th_path(g_dir, "x.png");
    float v[2] = {0, 1};
    ua_err err;
    assert_int_equal(ua_plot_histograms(png, v, 2, v, 2, NULL, 0, 0, NULL, "t", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "without cairo"));
    free(png);
}

/* ---- data ------------------------------------------------------------------------------ */

typedef struct fixture {
    ua_vocab vocab;
    ua_split s;
    ua_model m;
} fixture;

static void open_fixture(fixture *f, const char *split, ua_direction dir)
{
    ua_err err;
    memset(f, 0, sizeof *f);
    if (ua_vocab_load(&f->vocab, g_vocab, &err)) fail_msg("%s", err.msg);
    if (ua_split_open(&f->s, g_root, "synth_tiny_precomp", split, &f->vocab, 0, &err)) fail_msg("%s", err.msg);
    ua_model_opt o;
    ua_model_opt_default(&o);
    o.img_dim = f->s.img_dim;
    o.vocab_size = f->vocab.n;
    o.embed_size = 16;
    o.word_dim = 8;
    o.attn.direction = dir;
    if (ua_model_create(&f->m, &o, &err)) fail_msg("%s", err.msg);
    ua_model_init_weights(&f->m, 7);
}

static void close_fixture(fixture *f)
{
    ua_model_free(&f->m);
    ua_split_close(&f->s);
    ua_vocab_free(&f->vocab);
}

/* max over the regions of image i of <u_w, v_r>, straight from the embeddings */
static float brute_max(const ua_embeddings *e, int row, int image)
{
    float best = -INFINITY;
    for (int r = 0; r < e->R; r++) {
        double d = 0;
        for (int k = 0; k < e->E; k++)
            d += (double)e->cap[(size_t)row * e->E + k] * e->img[((size_t)image * e->R + r) * e->E + k];
        if ((float)d > best) best = (float)d;
    }
    return best;
}

static void test_relevance_samples(void **state)
{
    (void)state;
    fixture f;
    open_fixture(&f, "dev", UA_T2I);
    ua_err err;
    float *pos, *neg;
    int n_pos, n_neg;
    const int max_caps = 23; /* not a multiple of 5: the last image is partial */
    if (ua_relevance_samples(&f.m, &f.s, max_caps, &pos, &n_pos, &neg, &n_neg, NULL, &err)) fail_msg("%s", err.msg);
    int total = 0;
    for (int c = 0; c < max_caps; c++) total += ua_caption_len(&f.s.caps, c);
    assert_int_equal(n_pos, total);
    assert_int_equal(n_neg, total);
    ua_embeddings e;
    int n_img = ua_split_images_used(&f.s);
    if (ua_encode_split(&f.m, &f.s, 0, n_img, 0, max_caps, &e, NULL, &err)) fail_msg("%s", err.msg);
    for (int c = 0; c < max_caps; c++) {
        int i = ua_split_image_of(&f.s, c);
        for (int w = 0; w < e.cap_len[c]; w++) {
            int row = e.cap_offset[c] + w;
            assert_float_equal(pos[row], brute_max(&e, row, i), 1e-5);
            assert_float_equal(neg[row], brute_max(&e, row, (i + 1) % n_img), 1e-5);
        }
    }
    ua_embeddings_free(&e);
    free(pos);
    free(neg);
    /* all captions (0) */
    if (ua_relevance_samples(&f.m, &f.s, 0, &pos, &n_pos, &neg, &n_neg, NULL, &err)) fail_msg("%s", err.msg);
    assert_int_equal(n_pos, (int)(f.s.caps.n_tokens + 2LL * f.s.n_items));
    free(pos);
    free(neg);
    close_fixture(&f);
}

static void test_grounding_samples(void **state)
{
    (void)state;
    fixture f;
    open_fixture(&f, "dev", UA_T2I);
    ua_err err;
    char *gpath = ua_split_path(g_root, "synth_tiny_precomp", "dev", "caps_grounding.txt");
    float *g, *u, *pos, *neg;
    int ng, nu, n_pos, n_neg;
    if (ua_grounding_samples(&f.m, &f.s, gpath, 10, &g, &ng, &u, &nu, NULL, &err)) fail_msg("%s", err.msg);
    if (ua_relevance_samples(&f.m, &f.s, 10, &pos, &n_pos, &neg, &n_neg, NULL, &err)) fail_msg("%s", err.msg);
    assert_int_equal(ng + nu, n_pos - 2 * 10);
    assert_true(ng > 0 && nu > 0);
    /* the first grounded / ungrounded values are those of the first flagged tokens */
    char *txt = th_read(gpath, NULL);
    assert_non_null(txt);
    int k = 1, first1 = -1, first0 = -1;
    for (const char *p = txt; *p != '\n'; p++) {
        if (*p == '1' && first1 < 0) first1 = k;
        if (*p == '0' && first0 < 0) first0 = k;
        if (*p == '0' || *p == '1') k++;
    }
    if (first1 > 0) assert_true(g[0] == pos[first1]);
    if (first0 > 0) assert_true(u[0] == pos[first0]);
    free(g);
    free(u);
    free(pos);
    free(neg);
    /* malformed files name the line */
    char *bad = th_path(g_dir, "bad_grounding.txt");
    const char *nl = strchr(txt, '\n');
    size_t first_len = (size_t)(nl - txt);
    char *b = malloc(strlen(txt) + 8);
    memcpy(b, txt, first_len);
    strcpy(b + first_len, " 1");
    strcat(b, nl);
    assert_int_equal(th_write(bad, b, strlen(b)), 0);
    assert_int_equal(ua_grounding_samples(&f.m, &f.s, bad, 10, &g, &ng, &u, &nu, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "bad_grounding.txt:1: "));
    assert_non_null(strstr(err.msg, "grounding flags for a caption of"));
    b[0] = 'x';
    assert_int_equal(th_write(bad, b, first_len + 1), 0);
    assert_int_equal(ua_grounding_samples(&f.m, &f.s, bad, 10, &g, &ng, &u, &nu, NULL, &err), -1);
    assert_non_null(strstr(err.msg, ":1: 'x' is not a 0/1 grounding flag"));
    assert_int_equal(th_write(bad, txt, first_len + 1), 0);
    assert_int_equal(ua_grounding_samples(&f.m, &f.s, bad, 10, &g, &ng, &u, &nu, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "1 lines, the split has 10 captions"));
    free(b);
    free(bad);
    free(txt);
    free(gpath);
    close_fixture(&f);
}

static void test_attention_map(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        fixture f;
        open_fixture(&f, "test", d ? UA_I2T : UA_T2I);
        ua_err err;
        float *A, *mx;
        int W, R;
        const int cap = 7;
        if (ua_attention_map(&f.m, &f.s, cap, TH_ATTN(f.m), &A, &mx, &W, &R, &err)) fail_msg("%s", err.msg);
        assert_int_equal(W, ua_caption_len(&f.s.caps, cap));
        assert_int_equal(R, f.s.n_regions);
        ua_embeddings e;
        if (ua_encode_split(&f.m, &f.s, ua_split_image_of(&f.s, cap), 1, cap, 1, &e, NULL, &err)) fail_msg("%s", err.msg);
        for (int w = 0; w < W; w++) {
            double sum = 0;
            for (int r = 0; r < R; r++) {
                float a = A[(size_t)w * R + r];
                assert_true(a >= 0 && a <= 1);
                sum += a;
            }
            assert_float_equal(sum, 1.0, 1e-4);
            assert_float_equal(mx[w], brute_max(&e, w, 0), 1e-5);
        }
        /* UARDA: irrelevant words (max <= t) get NaN rows */
        ua_attn_cfg c = ua_attn_at(&f.m.opt.attn, f.m.t_test);
        c.irr = UA_IRR_ZERO;
        float sorted_mid = mx[W / 2];
        c.threshold = sorted_mid;
        float *A2, *mx2;
        if (ua_attention_map(&f.m, &f.s, cap, &c, &A2, &mx2, &W, &R, &err)) fail_msg("%s", err.msg);
        for (int w = 0; w < W; w++) {
            int relevant = mx[w] > sorted_mid;
            assert_int_equal(isnan(A2[(size_t)w * R]) != 0, !relevant);
        }
        free(A2);
        free(mx2);
        assert_int_equal(ua_attention_map(&f.m, &f.s, f.s.n_items, &c, &A2, &mx2, &W, &R, &err), -1);
        assert_non_null(strstr(err.msg, "out of range"));
        ua_embeddings_free(&e);
        free(A);
        free(mx);
        close_fixture(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_histograms),
        cmocka_unit_test(test_curves),
        cmocka_unit_test(test_heatmap),
        cmocka_unit_test(test_bad_extension),
        cmocka_unit_test(test_without_cairo),
        cmocka_unit_test(test_relevance_samples),
        cmocka_unit_test(test_grounding_samples),
        cmocka_unit_test(test_attention_map),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
