/* Acceptance: reading every image of a 1.5 GB train_ims.npy allocates no private memory in
 * proportion to the file. The file is memory-mapped, so the process's anonymous memory
 * (RssAnon in /proc/self/status) stays far below the file's size while every float is read.
 * And opening a gallery index of 860 MB reads its header only: neither RssFile nor RssAnon grows
 * by its image data (an open once paged all of img_emb in), and a shortlisted search touches its
 * global embeddings and the K images it scores, not the gallery.
 * The files are sparse (header, then ftruncate), so making them costs no disk and little time.
 * Under AddressSanitizer RssAnon means nothing (shadow memory): the tests skip themselves there. */
#include "helpers.h"
#include "uarda/gallery.h"
#include "uarda/npy.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UA_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UA_UNDER_ASAN 1
#endif
#endif

#define N_IMAGES 5000
#define N_REGIONS 36
#define DIM 2048
#define IMAGE_FLOATS ((size_t)N_REGIONS * DIM)
#define MARK_EVERY 100 /* the first float of every 100th image is 1.0, so the sum is known */

/* the field ("RssAnon:", "RssFile:") of /proc/self/status in kB, or -1 */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    const size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0) {
            kb = strtol(line + n, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

static long rss_anon_kb(void) { return status_kb("RssAnon:"); }
static long rss_kb(void) { return status_kb("RssAnon:") + status_kb("RssFile:"); }

/* a (N_IMAGES, 36, 2048) float32 .npy: header, the marks, and holes everywhere else */
static void make_sparse_npy(const char *path)
{
    char dict[128];
    int dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d, %d), }",
                      N_IMAGES, N_REGIONS, DIM);
    unsigned char pre[128];
    memset(pre, ' ', sizeof pre);
    memcpy(pre, "\x93NUMPY\x01\x00", 8);
    pre[8] = (unsigned char)(sizeof pre - 10);
    pre[9] = 0;
    memcpy(pre + 10, dict, (size_t)dl);
    pre[sizeof pre - 1] = '\n';

    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, pre, sizeof pre), (ssize_t)sizeof pre);
    off_t data_bytes = (off_t)N_IMAGES * (off_t)IMAGE_FLOATS * 4;
    assert_int_equal(ftruncate(fd, (off_t)sizeof pre + data_bytes), 0);
    const float one = 1.0f;
    for (int i = 0; i < N_IMAGES; i += MARK_EVERY) {
        off_t at = (off_t)sizeof pre + (off_t)i * (off_t)IMAGE_FLOATS * 4;
        assert_int_equal(pwrite(fd, &one, sizeof one, at), (ssize_t)sizeof one);
    }
    assert_int_equal(close(fd), 0);
}

static void test_reading_all_images_costs_no_anon_memory(void **state)
{
    (void)state;
#ifdef UA_UNDER_ASAN
    skip();
#endif
    char *dir = th_tmpdir();
    assert_non_null(dir);
    char *path = th_path(dir, "train_ims.npy");
    make_sparse_npy(path);

    long before = rss_anon_kb();
    assert_true(before >= 0);
    ua_npy a;
    ua_err err = { "" };
    if (ua_npy_open(&a, path, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(a.ndim, 3);
    assert_int_equal(a.shape[0], N_IMAGES);
    size_t file_mb = a.map_len >> 20;
    assert_true(file_mb > 1400);

    double total = 0;
    for (size_t img = 0; img < (size_t)a.shape[0]; img++) {
        const float *x = a.data + img * IMAGE_FLOATS;
        float s = 0;
        for (size_t k = 0; k < IMAGE_FLOATS; k++) s += x[k];
        total += s;
    }
    long after = rss_anon_kb();
    ua_npy_close(&a);
    unlink(path);
    th_rmrf(dir);
    free(path);
    free(dir);

    assert_true(total == (double)(N_IMAGES / MARK_EVERY));
    long grew_mb = (after - before) / 1024;
    if (grew_mb >= 64)
        fail_msg("RssAnon grew by %ld MB while reading a %zu MB file (before %ld kB, after %ld kB)", grew_mb,
                 file_mb, before, after);
}

/* a gallery index of n images (R regions, E dims; images only) whose data is all holes: the
 * header as uarda index writes it (no checksum: nothing reads the data to check it here) */
static void make_sparse_index(const char *path, long long n, int R, int E)
{
    const long long emb = n * R * E * 4, gram = n * R * R * 4, glob = n * E * 4;
    char header[1024];
    int hl = snprintf(header, sizeof header,
                      "{\"__metadata__\":{\"format\":\"uarda-index-2\"},"
                      "\"img_emb\":{\"dtype\":\"F32\",\"shape\":[%lld,%d,%d],\"data_offsets\":[0,%lld]},"
                      "\"img_gram\":{\"dtype\":\"F32\",\"shape\":[%lld,%d,%d],\"data_offsets\":[%lld,%lld]},"
                      "\"img_glob\":{\"dtype\":\"F32\",\"shape\":[%lld,%d],\"data_offsets\":[%lld,%lld]}}",
                      n, R, E, emb, n, R, R, emb, emb + gram, n, E, emb + gram, emb + gram + glob);
    while ((8 + hl) % 8) header[hl++] = ' ';
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((unsigned long long)hl >> (8 * i));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, len, 8), 8);
    assert_int_equal(write(fd, header, (size_t)hl), hl);
    assert_int_equal(ftruncate(fd, (off_t)(8 + hl + emb + gram + glob)), 0);
    assert_int_equal(close(fd), 0);
}

static void test_opening_a_gallery_reads_its_header_only(void **state)
{
    (void)state;
#ifdef UA_UNDER_ASAN
    skip();
#endif
    enum { N = 20000, RG = 36, E = 256, K = 10 };
    char *dir = th_tmpdir(), *path = th_path(dir, "gallery.safetensors");
    make_sparse_index(path, N, RG, E);
    const long data_mb = (long)((long long)N * RG * (E + RG) * 4 >> 20);
    long before = rss_kb();
    ua_gallery g;
    ua_err err = {""};
    if (ua_gallery_open(&g, path, NULL, &err)) fail_msg("%s", err.msg);
    assert_true(g.n_img == N && g.R == RG && g.E == E);
    long opened = rss_kb();
    /* a shortlisted text query: the global embeddings (20 MB) and K images */
    ua_model_opt o;
    ua_model_opt_default(&o);
    ua_rng r;
    ua_rng_seed(&r, 3, 1);
    float words[4 * E];
    for (int k = 0; k < 4 * E; k++) words[k] = ua_rng_range(&r, -1, 1);
    int len = 4, offs[2] = {0, 4}, ids[K];
    float scores[K];
    ua_embeddings q = {0};
    q.E = E;
    q.R = RG;
    q.n_cap = 1;
    q.cap = words;
    q.cap_len = &len;
    q.cap_offset = offs;
    q.max_len = 4;
    assert_int_equal(ua_gallery_rank_images(&g, (const ua_attn_cfg[]){ua_attn_at(&o.attn, 0.0)}, &q, K, K, ids, scores, &err), K);
    for (int k = 0; k < K; k++) assert_int_equal(ids[k], k);   /* all zero: ties, the lowest ids */
    long searched = rss_kb();
    ua_gallery_close(&g);
    unlink(path);
    th_rmrf(dir);
    free(path);
    free(dir);
    if ((opened - before) / 1024 >= 8)
        fail_msg("opening a gallery of %ld MB of image data raised RssAnon + RssFile by %ld MB", data_mb,
                 (opened - before) / 1024);
    if ((searched - opened) / 1024 >= 48)
        fail_msg("a shortlisted search of %d images in a gallery of %ld MB raised RssAnon + RssFile by %ld MB", K, data_mb,
                 (searched - opened) / 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reading_all_images_costs_no_anon_memory),
        cmocka_unit_test(test_opening_a_gallery_reads_its_header_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
