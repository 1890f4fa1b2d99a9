/* Acceptance: reading every image of a 1.5 GB train_ims.npy allocates no private memory in
 * proportion to the file. The file is memory-mapped, so the process's anonymous memory
 * (RssAnon in /proc/self/status) stays far below the file's size while every float is read.
 * The file is sparse (header, then ftruncate), so making it costs no disk and little time.
 * Under AddressSanitizer RssAnon means nothing (shadow memory): the test skips itself there. */
#include "helpers.h"
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

/* RssAnon in kB, or -1 */
static long rss_anon_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "RssAnon:", 8) == 0) {
            kb = strtol(line + 8, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reading_all_images_costs_no_anon_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
