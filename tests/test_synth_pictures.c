/* The pictures of the synthetic images (synth.h, "Pictures"): the boxes of the dev and test
 * images lie in the unit square with an object's regions near each other, the thumbnails and
 * their names are written, everything is deterministic, and the data itself (features,
 * captions, grounding, vocabulary) is the same bytes with and without pictures, for both kinds
 * of preset. */
#include "helpers.h"
#include "uarda/npy.h"
#include "uarda/plot.h"
#include "uarda/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *g_dir;

static char *in(const char *dir, const char *name) { return th_path(dir, name); }

static void write_set(const ua_synth_config *cfg, const char *name)
{
    ua_err err = {""};
    char *data = in(g_dir, name), *vocab = th_path(data, "v.json");
    if (ua_synth_write(cfg, data, vocab, &err) != 0) fail_msg("ua_synth_write %s: %s", name, err.msg);
    free(data);
    free(vocab);
}

static int same_file(const char *dir_a, const char *dir_b, const char *name)
{
    char *a = in(dir_a, name), *b = in(dir_b, name);
    size_t na, nb;
    char *x = th_read(a, &na), *y = th_read(b, &nb);
    if (!x || !y) fail_msg("cannot read %s or %s", a, b);
    int eq = na == nb && memcmp(x, y, na) == 0;
    free(x); free(y); free(a); free(b);
    return eq;
}

static int exists(const char *dir, const char *name)
{
    char *p = in(dir, name);
    int ok = access(p, F_OK) == 0;
    free(p);
    return ok;
}

static int setup(void **state)
{
    (void)state;
    return (g_dir = th_tmpdir()) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    th_rmrf(g_dir);
    free(g_dir);
    return 0;
}

/* the data with pictures equals the data without them; pictures only for dev and test */
static void test_data_unchanged(void **state)
{
    (void)state;
    ua_synth_config cfg;
    ua_err err;
    assert_int_equal(ua_synth_preset("tiny", &cfg, &err), 0);
    assert_int_equal(cfg.pictures, 1);
    write_set(&cfg, "pic");
    write_set(&cfg, "pic_again");
    cfg.pictures = 0;
    write_set(&cfg, "nopic");
    char *pic = in(g_dir, "pic"), *again = in(g_dir, "pic_again"), *nopic = in(g_dir, "nopic");
    const char *data[] = {"train_ims.npy", "train_caps.txt", "train_caps_grounding.txt", "dev_ims.npy", "dev_caps.txt",
                          "dev_caps_grounding.txt", "test_ims.npy", "test_caps.txt", "test_caps_grounding.txt",
                          "v.json"};
    for (size_t i = 0; i < sizeof data / sizeof *data; i++)
        if (!same_file(pic, nopic, data[i])) fail_msg("%s differs with pictures", data[i]);
    const char *pictures[] = {"dev_boxes.npy", "test_boxes.npy", "test_image_names.txt", "test_images/000000.png",
                              "test_images/000015.png", "dev_images/000007.png"};
    for (size_t i = 0; i < sizeof pictures / sizeof *pictures; i++) {
        if (i >= 2 && !ua_plot_available()) break;
        assert_true(exists(pic, pictures[i]));
        assert_false(exists(nopic, pictures[i]));
        if (!same_file(pic, again, pictures[i])) fail_msg("%s differs between two runs", pictures[i]);
    }
    /* written again over the first: the same files, the folder replaced whole, nothing left over */
    if (ua_plot_available()) {
        char *extra = th_path(pic, "test_images/stale.png");
        assert_int_equal(th_write(extra, "x", 1), 0);
        free(extra);
        ua_synth_config again_cfg;
        assert_int_equal(ua_synth_preset("tiny", &again_cfg, &err), 0);
        write_set(&again_cfg, "pic");
        assert_false(exists(pic, "test_images/stale.png"));
        assert_true(same_file(pic, again, "test_images/000009.png"));
        char out[64];
        assert_int_equal(th_run(out, sizeof out, "ls -A '%s' | grep -c -e tmp -e old", pic), 1);   /* grep: no match */
        assert_int_equal(atoi(out), 0);
    }
    assert_false(exists(pic, "train_boxes.npy"));
    assert_false(exists(pic, "train_images"));
    assert_false(exists(pic, "test_images/000016.png"));
    if (ua_plot_available()) {
        char *names = th_path(pic, "test_image_names.txt");
        char *text = th_read(names, NULL);
        assert_non_null(text);
        assert_int_equal(strncmp(text, "000000.png\n000001.png\n", 22), 0);
        int lines = 0;
        for (char *c = text; *c; c++) lines += *c == '\n';
        assert_int_equal(lines, 16);
        free(text);
        free(names);
        char *png = th_path(pic, "test_images/000003.png");
        size_t n;
        unsigned char *bytes = (unsigned char *)th_read(png, &n);
        assert_non_null(bytes);
        assert_true(n > 500);
        assert_memory_equal(bytes, "\x89PNG\r\n\x1a\n", 8);
        /* the IHDR: UA_SYNTH_PICTURE_SIZE x UA_SYNTH_PICTURE_SIZE pixels */
        assert_int_equal((bytes[16] << 24 | bytes[17] << 16 | bytes[18] << 8 | bytes[19]), UA_SYNTH_PICTURE_SIZE);
        assert_int_equal((bytes[20] << 24 | bytes[21] << 16 | bytes[22] << 8 | bytes[23]), UA_SYNTH_PICTURE_SIZE);
        free(bytes);
        free(png);
    }
    free(pic); free(again); free(nopic);
}

/* boxes in the unit square; an object's regions are near each other, and farther from the
 * other objects' */
static void test_boxes_follow_the_layout(void **state)
{
    (void)state;
    ua_synth_config cfg;
    ua_err err = {""};
    assert_int_equal(ua_synth_preset("tiny", &cfg, &err), 0);
    char *dir = in(g_dir, "pic"), *path = th_path(dir, "test_boxes.npy");
    ua_npy b;
    if (ua_npy_open(&b, path, &err)) fail_msg("%s", err.msg);
    assert_int_equal(b.ndim, 3);
    assert_int_equal(b.shape[0], 16);
    assert_int_equal(b.shape[1], UA_SYNTH_REGIONS);
    assert_int_equal(b.shape[2], 4);
    double within = 0, between = 0;
    long n_within = 0, n_between = 0;
    for (int i = 0; i < 16; i++) {
        ua_synth_image img;
        assert_int_equal(ua_synth_image_layout(&cfg, UA_SYNTH_TEST, i, &img, &err), 0);
        const float *x = b.data + (size_t)i * UA_SYNTH_REGIONS * 4;
        for (int r = 0; r < UA_SYNTH_REGIONS; r++) {
            const float *p = x + 4 * r;
            for (int k = 0; k < 4; k++) assert_true(p[k] >= 0 && p[k] <= 1);
            assert_true(p[2] > p[0] && p[3] > p[1]);
            if (img.region_object[r] < 0) continue;
            for (int q = r + 1; q < UA_SYNTH_REGIONS; q++) {
                if (img.region_object[q] < 0) continue;
                const float *o = x + 4 * q;
                double d = hypot((p[0] + p[2] - o[0] - o[2]) / 2, (p[1] + p[3] - o[1] - o[3]) / 2);
                if (img.region_object[q] == img.region_object[r]) within += d, n_within++;
                else between += d, n_between++;
            }
        }
    }
    assert_true(n_within > 0 && n_between > 0);
    within /= (double)n_within;
    between /= (double)n_between;
    if (!(within < 0.12 && between > 2 * within)) fail_msg("mean centre distance within an object %.3f, between %.3f", within, between);
    ua_npy_close(&b);
    free(path);
    free(dir);
}

/* the captions preset: pictures of its dev and test images, the data unchanged */
static void test_captions_preset(void **state)
{
    (void)state;
    char *caps = in(g_dir, "caps.txt");
    FILE *f = fopen(caps, "w");
    assert_non_null(f);
    const char *words[] = {"dog", "cat", "horse", "tree", "car", "boat", "kite", "ball"};
    for (int i = 0; i < 8; i++)
        for (int c = 0; c < 5; c++)
            fprintf(f, "a %s and a %s on the grass %d .\n", words[i], words[(i + 3) % 8], c);
    fclose(f);
    ua_synth_config cfg;
    ua_err err;
    assert_int_equal(ua_synth_preset("captions", &cfg, &err), 0);
    const char *files[1] = {caps};
    cfg.caption_files = files;
    cfg.n_caption_files = 1;
    cfg.n_images[UA_SYNTH_DEV] = 2;
    cfg.n_images[UA_SYNTH_TEST] = 2;
    cfg.img_dim = 8;
    cfg.vocab_threshold = 1;
    write_set(&cfg, "cap_pic");
    cfg.pictures = 0;
    write_set(&cfg, "cap_nopic");
    char *a = in(g_dir, "cap_pic"), *b = in(g_dir, "cap_nopic");
    const char *data[] = {"train_ims.npy", "train_caps.txt", "dev_ims.npy", "test_ims.npy", "test_caps_grounding.txt",
                          "v.json"};
    for (size_t i = 0; i < sizeof data / sizeof *data; i++)
        if (!same_file(a, b, data[i])) fail_msg("captions preset: %s differs with pictures", data[i]);
    assert_true(exists(a, "test_boxes.npy"));
    assert_true(exists(a, "dev_boxes.npy"));
    assert_false(exists(a, "train_boxes.npy"));
    assert_false(exists(b, "test_boxes.npy"));
    if (ua_plot_available()) assert_true(exists(a, "test_images/000001.png"));
    free(a); free(b); free(caps);
}

/* the drawing refuses boxes that are not boxes, naming them */
static void test_regions_refused(void **state)
{
    (void)state;
    ua_err err = {""};
    char *png = in(g_dir, "bad.png");
    ua_plot_region r = {{0.5f, 0.5f, 0.2f, 0.9f}, {1, 0, 0}, {0, 0, 0}, 0.5f, 1};
    assert_int_equal(ua_plot_regions(png, 64, &r, 1, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "region 0: the box (0.5, 0.5, 0.2, 0.9) is not x0 <= x1"));
    r.box[2] = NAN;
    assert_int_equal(ua_plot_regions(png, 64, &r, 1, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "region 0"));
    r.box[2] = 0.8f;
    assert_int_equal(ua_plot_regions(png, 8, &r, 1, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "of 8 pixels (16..1024)"));
    assert_int_equal(access(png, F_OK), -1);
    if (ua_plot_available()) {
        ua_plot_label l = {0.5f, 0.5f, "red dog"};
        if (ua_plot_regions(png, 64, &r, 1, &l, 1, &err)) fail_msg("%s", err.msg);
        assert_int_equal(access(png, F_OK), 0);
    }
    free(png);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_unchanged),
        cmocka_unit_test(test_boxes_follow_the_layout),
        cmocka_unit_test(test_captions_preset),
        cmocka_unit_test(test_regions_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
