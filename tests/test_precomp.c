/* Precomp splits (caption -> image mapping, caption files, malformed inputs) and batching. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/batch.h"
#include "uarda/npy.h"
#include "uarda/precomp.h"

typedef struct { char *root; ua_vocab v; } fixture;

/* writes <root>/toy_precomp/<split>_ims.npy with n_img images of 3 regions x 2 dims (value =
 * image index) and the caption text given */
static void write_split(const char *root, const char *split, int n_img, const char *caps)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/toy_precomp", root);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    assert_int_equal(system(cmd), 0);
    float *x = malloc((size_t)n_img * 6 * sizeof *x);
    for (int i = 0; i < n_img * 6; i++) x[i] = (float)(i / 6);
    int64_t shape[3] = {n_img, 3, 2};
    char *ims = ua_split_path(root, "toy_precomp", split, "ims.npy");
    char *cp = ua_split_path(root, "toy_precomp", split, "caps.txt");
    ua_err err;
    if (ua_npy_write_f32(ims, x, 3, shape, &err)) fail_msg("%s", err.msg);
    assert_int_equal(th_write(cp, caps, strlen(caps)), 0);
    free(x);
    free(ims);
    free(cp);
}

/* writes <root>/toy_precomp/<split>_ims.npy of the given shape (zeros) */
static void write_ims(const char *root, const char *split, int ndim, const int64_t *shape)
{
    size_t n = 1;
    for (int k = 0; k < ndim; k++) n *= (size_t)shape[k];
    float *x = calloc(n ? n : 1, sizeof *x);
    char *ims = ua_split_path(root, "toy_precomp", split, "ims.npy");
    ua_err err;
    if (ua_npy_write_f32(ims, x, ndim, shape, &err)) fail_msg("%s", err.msg);
    free(x);
    free(ims);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->root = th_tmpdir();
    ua_err err;
    if (ua_vocab_init(&f->v, &err)) return -1;
    const char *words[] = {"a", "dog", "cat", "runs", "."};
    for (int i = 0; i < 5; i++) ua_vocab_add(&f->v, words[i], &err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    th_rmrf(f->root);
    free(f->root);
    ua_vocab_free(&f->v);
    free(f);
    return 0;
}

static void test_five_per_image(void **state)
{
    fixture *f = *state;
    /* 2 images, 10 captions, no final newline, surrounding whitespace, CRLF */
    write_split(f->root, "test", 2,
                "a dog runs .\n  a cat .\r\nA DOG\na\na\n"
                "dog\ncat\tcat\n \t.\t \na cat runs\na zebra runs .");
    ua_split s;
    ua_err err;
    if (ua_split_open(&s, f->root, "toy_precomp", "test", &f->v, 0, &err)) fail_msg("%s", err.msg);
    assert_int_equal(s.n_images, 2);
    assert_int_equal(s.n_regions, 3);
    assert_int_equal(s.img_dim, 2);
    assert_int_equal(s.im_div, 5);
    assert_int_equal(s.n_items, 10);
    for (int c = 0; c < 10; c++) assert_int_equal(ua_split_image_of(&s, c), c / 5);
    assert_true(ua_split_image(&s, 1)[0] == 1.0f);
    /* caption 0: <start> a dog runs . <end> */
    int want0[] = {1, 4, 5, 7, 8, 2};
    assert_int_equal(ua_caption_len(&s.caps, 0), 6);
    assert_memory_equal(ua_caption_ids(&s.caps, 0), want0, sizeof want0);
    /* caption 2 is upper case: ASCII-lowercased as SCAN does */
    int want2[] = {1, 4, 5, 2};
    assert_memory_equal(ua_caption_ids(&s.caps, 2), want2, sizeof want2);
    /* caption 7 is one token between whitespace (a blank line is an error: test_blank_lines) */
    int want7[] = {1, 8, 2};
    assert_int_equal(ua_caption_len(&s.caps, 7), 3);
    assert_memory_equal(ua_caption_ids(&s.caps, 7), want7, sizeof want7);
    /* caption 9 has an unknown word */
    int want9[] = {1, 4, 3, 7, 8, 2};
    assert_memory_equal(ua_caption_ids(&s.caps, 9), want9, sizeof want9);
    assert_int_equal(s.caps.n_unk, 1);
    assert_int_equal(s.caps.max_len, 6);
    ua_split_close(&s);
}

static void test_final_newline_does_not_add_a_caption(void **state)
{
    fixture *f = *state;
    write_split(f->root, "test", 1, "a\na\na\na\na\n");
    ua_split s;
    ua_err err;
    if (ua_split_open(&s, f->root, "toy_precomp", "test", &f->v, 0, &err)) fail_msg("%s", err.msg);
    assert_int_equal(s.caps.n, 5);
    ua_split_close(&s);
}

static void test_one_per_image(void **state)
{
    fixture *f = *state;
    write_split(f->root, "test", 3, "a\ndog\ncat\n");
    ua_split s;
    ua_err err;
    if (ua_split_open(&s, f->root, "toy_precomp", "test", &f->v, 0, &err)) fail_msg("%s", err.msg);
    assert_int_equal(s.im_div, 1);
    assert_int_equal(ua_split_image_of(&s, 2), 2);
    ua_split_close(&s);
}

static void expect_open_error(fixture *f, const char *split, const char *what)
{
    ua_split s;
    ua_err err;
    assert_int_equal(ua_split_open(&s, f->root, "toy_precomp", split, &f->v, 0, &err), -1);
    if (!strstr(err.msg, what)) fail_msg("message '%s' lacks '%s'", err.msg, what);
    assert_null(strchr(err.msg, '\n'));
}

static void test_bad_caption_count(void **state)
{
    fixture *f = *state;
    write_split(f->root, "test", 2, "a\na\na\na\na\na\na\n");
    expect_open_error(f, "test", "7 captions for the 2 images");
    expect_open_error(f, "test", "test_caps.txt");
}

static void test_invalid_utf8(void **state)
{
    fixture *f = *state;
    write_split(f->root, "test", 1, "a\na\na caf\xc3\na\na\n");
    expect_open_error(f, "test", "line 3: invalid UTF-8");
}

/* a line that is empty or only whitespace is an error naming the file and the line, in files
 * and in lines given in memory; it is never evaluated as an empty caption */
static void test_blank_lines(void **state)
{
    fixture *f = *state;
    static const struct { const char *caps, *what; } cases[] = {
        {"a\na\n\na\na\n", "test_caps.txt: line 3: blank caption"},
        {"a\na\na\n \t \na\n", "test_caps.txt: line 4: blank caption"},
        {"a\r\n\r\na\na\na\n", "test_caps.txt: line 2: blank caption"},
        {"a\na\na\na\na\n\n", "test_caps.txt: line 6: blank caption"},   /* a second final newline */
        {"\xc2\xa0\na\na\na\na\n", "test_caps.txt: line 1: blank caption"}, /* a no-break space only */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        write_split(f->root, "test", 1, cases[k].caps);
        expect_open_error(f, "test", cases[k].what);
    }
    ua_err err;
    ua_tokenizer *tok = ua_tokenizer_new(&err);
    assert_non_null(tok);
    ua_captions c;
    const char *lines[] = {"a dog", "   ", "a cat"};
    assert_int_equal(ua_captions_from_lines(&c, lines, 3, "q.txt", &f->v, tok, &err), -1);
    assert_string_equal(err.msg, "q.txt: line 2: blank caption (empty or whitespace only)");
    assert_null(c.offsets);
    const char *empty[] = {""};
    assert_int_equal(ua_captions_from_lines(&c, empty, 1, "--query", &f->v, tok, &err), -1);
    assert_string_equal(err.msg, "--query: line 1: blank caption (empty or whitespace only)");
    ua_tokenizer_free(tok);
}

/* a NUL byte (a binary file given as captions) is an error, not a caption cut short */
static void test_nul_byte(void **state)
{
    fixture *f = *state;
    write_split(f->root, "test", 1, "a\na\na\na\na\n");
    char *cp = ua_split_path(f->root, "toy_precomp", "test", "caps.txt");
    assert_int_equal(th_write(cp, "a\na\na d\0og\na\na\n", 15), 0);
    free(cp);
    expect_open_error(f, "test", "test_caps.txt: line 3: a NUL byte at byte 3 of the line");
}

/* "a a a ... a" of n tokens, then '\n' */
static char *caption_of(int n)
{
    char *s = malloc(2 * (size_t)n + 1);
    for (int i = 0; i < n; i++) { s[2 * i] = 'a'; s[2 * i + 1] = i + 1 < n ? ' ' : '\n'; }
    s[2 * n] = 0;
    return s;
}

/* the longest caption allowed loads; one more token is refused with the file, the line, the
 * count and the limit (a 33,000-token caption used to fail later as an out-of-memory
 * similarity block) */
static void test_caption_length_limit(void **state)
{
    fixture *f = *state;
    assert_int_equal(UA_MAX_CAPTION_TOKENS + 2, UA_ATTN_MAX_ITEMS);
    const int lens[3] = {UA_MAX_CAPTION_TOKENS, UA_MAX_CAPTION_TOKENS + 1, 33000};
    for (int k = 0; k < 3; k++) {
        char *longest = caption_of(lens[k]);
        size_t n = strlen(longest);
        char *caps = malloc(n + 16);
        snprintf(caps, n + 16, "a\n%sa\na\na\n", longest);
        write_split(f->root, "test", 1, caps);
        if (k == 0) {
            ua_split s;
            ua_err err;
            if (ua_split_open(&s, f->root, "toy_precomp", "test", &f->v, 0, &err)) fail_msg("%s", err.msg);
            assert_int_equal(s.caps.max_len, UA_ATTN_MAX_ITEMS);
            assert_int_equal(ua_caption_len(&s.caps, 1), UA_ATTN_MAX_ITEMS);
            ua_split_close(&s);
        } else {
            char want[160];
            snprintf(want, sizeof want, "test_caps.txt: line 2: a caption of %d tokens, more than the limit of %d",
                     lens[k], UA_MAX_CAPTION_TOKENS);
            expect_open_error(f, "test", want);
        }
        free(caps);
        free(longest);
    }
    /* lines in memory too */
    ua_err err;
    ua_tokenizer *tok = ua_tokenizer_new(&err);
    char *longest = caption_of(UA_MAX_CAPTION_TOKENS + 1);
    longest[strlen(longest) - 1] = 0;
    const char *lines[] = {longest};
    ua_captions c;
    assert_int_equal(ua_captions_from_lines(&c, lines, 1, "--query", &f->v, tok, &err), -1);
    char want[128];
    snprintf(want, sizeof want, "--query: line 1: a caption of %d tokens, more than the limit of %d",
             UA_MAX_CAPTION_TOKENS + 1, UA_MAX_CAPTION_TOKENS);
    assert_non_null(strstr(err.msg, want));
    free(longest);
    ua_tokenizer_free(tok);
}

/* region files of the wrong rank show the shape found; too many regions per image (beyond what
 * the attention takes) are refused with the count */
static void test_region_file_shapes(void **state)
{
    fixture *f = *state;
    write_split(f->root, "test", 1, "a\na\na\na\na\n");
    const int64_t s2[2] = {4, 2048}, s1[1] = {5}, s4[4] = {1, 3, 2, 1};
    write_ims(f->root, "test", 2, s2);
    expect_open_error(f, "test", "test_ims.npy: expected region features of shape (images, regions, dims), got shape (4, 2048)");
    write_ims(f->root, "test", 1, s1);
    expect_open_error(f, "test", "got shape (5,)");
    write_ims(f->root, "test", 4, s4);
    expect_open_error(f, "test", "got shape (1, 3, 2, 1)");
    const int64_t none[3] = {1, 0, 2};
    write_ims(f->root, "test", 3, none);
    expect_open_error(f, "test", "test_ims.npy: region features of shape (1, 0, 2): no regions");
    const int64_t many[3] = {1, UA_MAX_REGIONS + 1, 2};
    write_ims(f->root, "test", 3, many);
    char want[160];
    snprintf(want, sizeof want, "test_ims.npy: %d regions per image (shape (1, %d, 2)), more than the limit of %d",
             UA_MAX_REGIONS + 1, UA_MAX_REGIONS + 1, UA_MAX_REGIONS);
    expect_open_error(f, "test", want);
    const int64_t most[3] = {1, UA_MAX_REGIONS, 2};
    write_ims(f->root, "test", 3, most);
    ua_split s;
    ua_err err;
    if (ua_split_open(&s, f->root, "toy_precomp", "test", &f->v, 0, &err)) fail_msg("%s", err.msg);
    assert_int_equal(s.n_regions, UA_MAX_REGIONS);
    /* the model's dims */
    assert_int_equal(ua_regions_check(&s.ims, "x.npy", 2, &err), 0);
    assert_int_equal(ua_regions_check(&s.ims, "x.npy", 2048, &err), -1);
    snprintf(want, sizeof want, "x.npy: region features of 2 dims (shape (1, %d, 2)), but the model expects img_dim 2048",
             UA_MAX_REGIONS);
    assert_string_equal(err.msg, want);
    ua_split_close(&s);
}

/* the in-memory parser is what the file loader runs: the same captions from the same bytes */
static void test_parse_equals_load(void **state)
{
    fixture *f = *state;
    const char *text = "a dog runs .\n  a cat .\r\nA DOG\na zebra\na";
    write_split(f->root, "test", 1, text);
    char *cp = ua_split_path(f->root, "toy_precomp", "test", "caps.txt");
    ua_err err;
    ua_tokenizer *tok = ua_tokenizer_new(&err);
    ua_captions a, b;
    if (ua_captions_load(&a, cp, &f->v, tok, &err)) fail_msg("%s", err.msg);
    if (ua_captions_parse(&b, text, strlen(text), "mem", &f->v, tok, &err)) fail_msg("%s", err.msg);
    assert_int_equal(a.n, 5);
    assert_int_equal(b.n, a.n);
    assert_memory_equal(a.offsets, b.offsets, (size_t)(a.n + 1) * sizeof(int));
    assert_memory_equal(a.ids, b.ids, (size_t)a.offsets[a.n] * sizeof(int));
    assert_int_equal(a.n_unk, b.n_unk);
    assert_int_equal(a.max_len, b.max_len);
    ua_captions_free(&a);
    ua_captions_free(&b);
    assert_int_equal(ua_captions_parse(&b, "", 0, "mem", &f->v, tok, &err), -1);
    assert_string_equal(err.msg, "mem: no captions (empty file)");
    free(cp);
    ua_tokenizer_free(tok);
}

static void test_missing_files(void **state)
{
    fixture *f = *state;
    expect_open_error(f, "nosuchsplit", "nosuchsplit_ims.npy");
}

static void test_dev_is_capped_at_5000(void **state)
{
    fixture *f = *state;
    size_t n = 1100 * 5;
    char *caps = malloc(n * 2 + 1);
    for (size_t i = 0; i < n; i++) { caps[2 * i] = 'a'; caps[2 * i + 1] = '\n'; }
    caps[2 * n] = 0;
    write_split(f->root, "dev", 1100, caps);
    free(caps);
    ua_split s;
    ua_err err;
    if (ua_split_open(&s, f->root, "toy_precomp", "dev", &f->v, 0, &err)) fail_msg("%s", err.msg);
    assert_int_equal(s.n_items, 5000);
    assert_int_equal(ua_split_images_used(&s), 1000);
    ua_split_close(&s);
    if (ua_split_open(&s, f->root, "toy_precomp", "dev", &f->v, 1, &err)) fail_msg("%s", err.msg);
    assert_int_equal(s.n_items, 5500);
    ua_split_close(&s);
}

static void test_batches(void **state)
{
    fixture *f = *state;
    /* 4 images, 20 captions of lengths 1..4 tokens */
    const char *lines[] = {"a", "a dog", "a dog runs", "a dog runs ."};
    char caps[512] = "";
    for (int i = 0; i < 20; i++) { strcat(caps, lines[(i * 7) % 4]); strcat(caps, "\n"); }
    write_split(f->root, "train", 4, caps);
    ua_split s;
    ua_err err;
    if (ua_split_open(&s, f->root, "toy_precomp", "train", &f->v, 0, &err)) fail_msg("%s", err.msg);
    ua_batcher b, b2;
    assert_int_equal(ua_batcher_init(&b, s.n_items, 8, 1, 42, &err), 0);
    assert_int_equal(ua_batcher_init(&b2, s.n_items, 8, 1, 42, &err), 0);
    assert_int_equal(b.n_batches, 3);  /* 8 + 8 + 4: the last partial batch is kept */
    ua_batch bt = {0};
    for (int epoch = 0; epoch < 3; epoch++) {
        ua_batcher_set_epoch(&b, epoch);
        ua_batcher_set_epoch(&b2, epoch);
        assert_memory_equal(b.order, b2.order, sizeof(int) * 20);  /* same seed, same order */
        int seen[20] = {0};
        for (int k = 0; k < b.n_batches; k++) {
            assert_int_equal(ua_batcher_get(&b, k, &s, 1, &bt, &err), 0);
            assert_int_equal(bt.size, k < 2 ? 8 : 4);
            for (int i = 0; i < bt.size; i++) {
                seen[bt.caption[i]]++;
                assert_int_equal(bt.image[i], bt.caption[i] / 5);
                assert_int_equal(bt.lengths[i], ua_caption_len(&s.caps, bt.caption[i]));
                if (i) assert_true(bt.lengths[i] <= bt.lengths[i - 1]);
                for (int t = 0; t < bt.max_len; t++) {
                    int v = bt.tokens[i * bt.max_len + t];
                    if (t < bt.lengths[i]) assert_int_equal(v, ua_caption_ids(&s.caps, bt.caption[i])[t]);
                    else assert_int_equal(v, 0);
                }
                assert_true(bt.images[(size_t)i * 6] == (float)bt.image[i]);
            }
        }
        for (int c = 0; c < 20; c++) assert_int_equal(seen[c], 1);  /* each epoch is a permutation */
    }
    /* the order of an epoch depends on the epoch and the seed */
    int o1[20];
    ua_batcher_set_epoch(&b, 1);
    memcpy(o1, b.order, sizeof o1);
    ua_batcher_set_epoch(&b, 2);
    assert_true(memcmp(o1, b.order, sizeof o1) != 0);
    ua_batcher_free(&b2);
    assert_int_equal(ua_batcher_init(&b2, s.n_items, 8, 1, 43, &err), 0);
    ua_batcher_set_epoch(&b2, 1);
    assert_true(memcmp(o1, b2.order, sizeof o1) != 0);
    /* stable sort: equal lengths keep the sampler's order */
    int items[6] = {0, 4, 8, 12, 16, 1};  /* lengths: lines (0,28,56,84,112,7)%4 -> 1,1,1,1,1,4 */
    assert_int_equal(ua_batch_make(&bt, items, 6, &s, 0, &err), 0);
    int want[6] = {1, 0, 4, 8, 12, 16};
    assert_memory_equal(bt.caption, want, sizeof want);
    /* no shuffle: file order */
    ua_batcher_free(&b2);
    assert_int_equal(ua_batcher_init(&b2, s.n_items, 8, 0, 1, &err), 0);
    for (int i = 0; i < 20; i++) assert_int_equal(b2.order[i], i);
    ua_batch_free(&bt);
    ua_batcher_free(&b);
    ua_batcher_free(&b2);
    ua_split_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_five_per_image, setup, teardown),
        cmocka_unit_test_setup_teardown(test_final_newline_does_not_add_a_caption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_per_image, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_caption_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blank_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caption_length_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_region_file_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_equals_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dev_is_capped_at_5000, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
