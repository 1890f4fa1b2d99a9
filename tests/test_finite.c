/* Non-finite guards: found wherever they are, named precisely, and never ranked. Run folders:
 * locked, and an earlier run is found and cleared. */
#include "helpers.h"
#include "uarda/eval.h"
#include "uarda/finite.h"
#include "uarda/rundir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_first_nonfinite(void **state)
{
    (void)state;
    enum { N = 5000 };
    float *x = calloc(N, sizeof *x);
    assert_non_null(x);
    assert_int_equal(ua_first_nonfinite(x, N), -1);
    assert_int_equal(ua_first_nonfinite(x, 0), -1);
    /* every position, in and across the blocks, and every kind */
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    const size_t at[6] = {0, 1, 1023, 1024, 2049, N - 1};
    for (int k = 0; k < 3; k++)
        for (int p = 0; p < 6; p++) {
            x[at[p]] = bad[k];
            assert_int_equal(ua_first_nonfinite(x, N), (long long)at[p]);
            assert_int_equal(ua_first_nonfinite(x, at[p]), -1);   /* before it: none */
            x[at[p]] = 0;
        }
    /* the largest finite values and denormals are finite */
    x[7] = 3.4028235e38f;
    x[8] = -3.4028235e38f;
    x[9] = 1e-45f;
    assert_int_equal(ua_first_nonfinite(x, N), -1);
    x[4000] = NAN;
    x[3000] = INFINITY;
    assert_int_equal(ua_first_nonfinite(x, N), 3000);   /* the first */
    free(x);
}

static void test_regions_message(void **state)
{
    (void)state;
    enum { I = 3, R = 4, D = 5 };
    float x[I * R * D] = {0};
    ua_err err;
    assert_int_equal(ua_check_regions_finite(x, I, R, D, 10, "f.npy", &err), 0);
    x[(2 * R + 1) * D + 3] = NAN;   /* image 2 (12 counting from 10), region 1, feature 3 */
    assert_int_equal(ua_check_regions_finite(x, I, R, D, 10, "f.npy", &err), -1);
    assert_string_equal(err.msg, "f.npy: image 12, region 1, feature 3 is nan (region features must be finite)");
}

static void test_recall_refuses_nonfinite(void **state)
{
    (void)state;
    /* 2 images x 2 captions, each caption's own image scored highest: perfect recall */
    float s[4] = {0.9f, 0.1f, 0.2f, 0.8f};
    ua_recall r;
    ua_err err;
    assert_int_equal(ua_recall_compute(s, 2, 2, 1, &r, NULL, NULL, &err), 0);
    assert_true(r.rsum == 600.0);
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++)
        for (int p = 0; p < 4; p++) {
            float t[4];
            memcpy(t, s, sizeof t);
            t[p] = bad[k];
            assert_int_equal(ua_recall_compute(t, 2, 2, 1, &r, NULL, NULL, &err), -1);
            char want[64];
            snprintf(want, sizeof want, "the similarity of image %d and caption %d is %s", p / 2, p % 2,
                     ua_nonfinite_name(bad[k]));
            assert_non_null(strstr(err.msg, want));
        }
    /* every score alike (a dead model): ties never help, so recall is no better than chance */
    float same[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    assert_int_equal(ua_recall_compute(same, 2, 2, 1, &r, NULL, NULL, &err), 0);
    assert_true(r.rsum < 600.0);
}

static void test_run_folders(void **state)
{
    (void)state;
    char *dir = th_tmpdir(), *logs = th_path(dir, "logs");
    assert_non_null(dir);
    char prev[512];
    ua_err err;
    ua_run_lock a, b;
    assert_int_equal(ua_run_lock_folders(&a, dir, logs, &err), 0);
    assert_int_equal(ua_run_find_previous(dir, logs, prev, sizeof prev), 0);   /* the lock files do not count */
    /* a second holder (another open file description, as another process has) is refused */
    assert_int_equal(ua_run_lock_folders(&b, dir, logs, &err), -1);
    assert_non_null(strstr(err.msg, "in use by another training run"));
    ua_run_unlock(&a);
    assert_int_equal(ua_run_lock_folders(&b, dir, logs, &err), 0);
    ua_run_unlock(&b);
    /* the same folder for both: one lock, no conflict with itself */
    assert_int_equal(ua_run_lock_folders(&a, dir, dir, &err), 0);
    ua_run_unlock(&a);
    /* an earlier run's files are found, other files are not, and --overwrite's clear keeps the rest */
    char *other = th_path(dir, "train.out"), *ck = th_path(dir, "checkpoint_3.safetensors"),
         *log = th_path(logs, "train.jsonl");
    assert_int_equal(th_write(other, "x", 1), 0);
    assert_int_equal(ua_run_find_previous(dir, logs, prev, sizeof prev), 0);
    assert_int_equal(th_write(log, "{}\n", 3), 0);
    assert_int_equal(ua_run_find_previous(dir, logs, prev, sizeof prev), 1);
    assert_string_equal(prev, log);
    assert_int_equal(th_write(ck, "x", 1), 0);
    assert_int_equal(ua_run_find_previous(dir, logs, prev, sizeof prev), 1);
    assert_int_equal(ua_run_clear_previous(dir, logs, &err), 0);
    assert_int_equal(ua_run_find_previous(dir, logs, prev, sizeof prev), 0);
    assert_int_equal(access(other, F_OK), 0);
    free(other); free(ck); free(log); free(logs);
    th_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_nonfinite),
        cmocka_unit_test(test_regions_message),
        cmocka_unit_test(test_recall_refuses_nonfinite),
        cmocka_unit_test(test_run_folders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
