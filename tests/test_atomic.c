/* Atomic writes: the final file is never seen half-written, aborts leave no temp behind. */
#include "helpers.h"
#include "uarda/atomic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *g_dir;

static int setup(void **state)
{
    (void)state;
    g_dir = th_tmpdir();
    return g_dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    th_rmrf(g_dir);
    free(g_dir);
    return 0;
}

/* number of entries in g_dir */
static int n_entries(void)
{
    char out[64];
    assert_int_equal(th_run(out, sizeof out, "ls -A '%s' | wc -l", g_dir), 0);
    return atoi(out);
}

static void test_one_shot_write(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "one.txt");
    ua_err err = { "" };
    assert_int_equal(ua_write_file_atomic(path, "hello", 5, &err), 0);
    size_t n;
    char *got = th_read(path, &n);
    assert_int_equal(n, 5);
    assert_string_equal(got, "hello");
    free(got);
    /* overwrite, including with nothing */
    assert_int_equal(ua_write_file_atomic(path, "bye", 3, &err), 0);
    got = th_read(path, &n);
    assert_string_equal(got, "bye");
    free(got);
    assert_int_equal(ua_write_file_atomic(path, NULL, 0, &err), 0);
    got = th_read(path, &n);
    assert_int_equal(n, 0);
    free(got);
    assert_int_equal(n_entries(), 1);
    assert_int_equal(unlink(path), 0);
    free(path);
}

static void test_abort_keeps_old_content(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "keep.txt");
    ua_err err = { "" };
    assert_int_equal(ua_write_file_atomic(path, "old complete content", 20, &err), 0);

    ua_atomic_file f;
    assert_int_equal(ua_atomic_open(&f, path, &err), 0);
    assert_non_null(strstr(f.tmp_path, "keep.txt.tmp."));
    fputs("new half", f.fp);
    fflush(f.fp);
    /* while writing, the final file still has the old content */
    char *got = th_read(path, NULL);
    assert_string_equal(got, "old complete content");
    free(got);
    assert_int_equal(access(f.tmp_path, F_OK), 0);
    char *tmp = strdup(f.tmp_path);
    ua_atomic_abort(&f);
    ua_atomic_abort(&f); /* twice is harmless */
    assert_int_equal(access(tmp, F_OK), -1);
    free(tmp);
    got = th_read(path, NULL);
    assert_string_equal(got, "old complete content");
    free(got);
    assert_int_equal(n_entries(), 1);
    assert_int_equal(unlink(path), 0);
    free(path);
}

static void test_commit_replaces(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "rep.txt");
    ua_err err = { "" };
    assert_int_equal(ua_write_file_atomic(path, "old", 3, &err), 0);
    ua_atomic_file f;
    assert_int_equal(ua_atomic_open(&f, path, &err), 0);
    for (int i = 0; i < 10000; i++) fprintf(f.fp, "line %d\n", i);
    assert_int_equal(ua_atomic_commit(&f, &err), 0);
    assert_null(f.fp);
    assert_null(f.tmp_path);
    ua_atomic_abort(&f); /* after a commit: nothing to do, the file stays */
    size_t n;
    char *got = th_read(path, &n);
    assert_true(n > 60000);
    assert_memory_equal(got, "line 0\nline 1\n", 14);
    free(got);
    assert_int_equal(n_entries(), 1);
    assert_int_equal(unlink(path), 0);
    free(path);
}

static void test_open_in_missing_folder(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "no/such/folder/x.txt");
    ua_err err = { "" };
    ua_atomic_file f;
    assert_int_equal(ua_atomic_open(&f, path, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "No such file or directory"));
    ua_atomic_abort(&f); /* safe after a failed open */
    assert_int_equal(ua_write_file_atomic(path, "x", 1, &err), -1);
    assert_non_null(strstr(err.msg, path));
    free(path);
}

static void test_commit_fails_cleanly(void **state)
{
    (void)state;
    /* the target is a non-empty folder: rename fails, the temp is removed */
    char *path = th_path(g_dir, "adir");
    char *inner = th_path(path, "f");
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(th_write(inner, "x", 1), 0);
    ua_err err = { "" };
    ua_atomic_file f;
    assert_int_equal(ua_atomic_open(&f, path, &err), 0);
    fputs("data", f.fp);
    assert_int_equal(ua_atomic_commit(&f, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "rename"));
    ua_atomic_abort(&f); /* safe after a failed commit */
    assert_int_equal(n_entries(), 1);
    unlink(inner);
    rmdir(path);
    free(inner);
    free(path);
}

static void test_relative_path(void **state)
{
    (void)state;
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(g_dir), 0);
    ua_err err = { "" };
    int rc = ua_write_file_atomic("rel.txt", "r", 1, &err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    char *path = th_path(g_dir, "rel.txt");
    char *got = th_read(path, NULL);
    assert_string_equal(got, "r");
    free(got);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_shot_write),
        cmocka_unit_test(test_abort_keeps_old_content),
        cmocka_unit_test(test_commit_replaces),
        cmocka_unit_test(test_open_in_missing_folder),
        cmocka_unit_test(test_commit_fails_cleanly),
        cmocka_unit_test(test_relative_path),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
