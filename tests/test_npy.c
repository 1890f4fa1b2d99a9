/* .npy reader and writer: round trips, versions 1.0/2.0/3.0, header dialects, and one test
 * per malformed input checking that the message names the file and the problem. */
#include "helpers.h"
#include "uarda/npy.h"

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
    g_dir = NULL;
    return 0;
}

/* A hand-made .npy image: version major.0, the given header text padded with spaces and a
 * final '\n' so that the data starts at a multiple of 64 (pad = 0: header text as is), then
 * data_len bytes of data. Caller frees. */
static unsigned char *make_npy(int major, const char *dict, int pad, const void *data, size_t data_len,
                               size_t *out_len)
{
    size_t prefix = major == 1 ? 10 : 12;
    size_t dl = strlen(dict);
    size_t hlen = dl;
    if (pad) {
        size_t total = (prefix + dl + 1 + 63) / 64 * 64;
        hlen = total - prefix;
    }
    unsigned char *b = calloc(1, prefix + hlen + data_len + 1);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    b[8] = (unsigned char)(hlen & 0xff);
    b[9] = (unsigned char)(hlen >> 8 & 0xff);
    if (prefix == 12) {
        b[10] = (unsigned char)(hlen >> 16 & 0xff);
        b[11] = (unsigned char)(hlen >> 24 & 0xff);
    }
    memcpy(b + prefix, dict, dl);
    if (pad) {
        memset(b + prefix + dl, ' ', hlen - dl);
        b[prefix + hlen - 1] = '\n';
    }
    if (data_len) memcpy(b + prefix + hlen, data, data_len);
    *out_len = prefix + hlen + data_len;
    return b;
}

/* writes the image to <dir>/<name>, returns the path (caller frees) */
static char *put(const char *name, const unsigned char *b, size_t n)
{
    char *path = th_path(g_dir, name);
    assert_int_equal(th_write(path, b, n), 0);
    return path;
}

static const float k_six[6] = { 1.5f, -2.0f, 3.25f, 0.0f, 1e30f, -1e-30f };

/* opening <name> with this header and data must fail; the message names the file and
 * contains every one of the NULL-terminated substrings */
static void expect_open_fails(const char *name, int major, const char *dict, int pad, const void *data,
                              size_t data_len, ...)
{
    size_t n;
    unsigned char *b = make_npy(major, dict, pad, data, data_len, &n);
    char *path = put(name, b, n);
    ua_npy a;
    ua_err err = { "" };
    assert_int_equal(ua_npy_open(&a, path, &err), -1);
    if (!strstr(err.msg, path)) fail_msg("message does not name the file: %s", err.msg);
    va_list ap;
    va_start(ap, data_len);
    for (const char *want; (want = va_arg(ap, const char *));)
        if (!strstr(err.msg, want)) fail_msg("message lacks '%s': %s", want, err.msg);
    va_end(ap);
    assert_null(strchr(err.msg, '\n'));
    assert_null(a.data);
    ua_npy_close(&a);
    /* the in-memory parser says the same */
    ua_err err2 = { "" };
    assert_int_equal(ua_npy_parse(&a, b, n, path, &err2), -1);
    assert_string_equal(err.msg, err2.msg);
    free(path);
    free(b);
}

#define D23 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"

/* ---- round trips ---- */

static void test_round_trip_2d(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "a.npy");
    int64_t shape[2] = { 2, 3 };
    ua_err err = { "" };
    assert_int_equal(ua_npy_write_f32(path, k_six, 2, shape, &err), 0);
    ua_npy a;
    assert_int_equal(ua_npy_open(&a, path, &err), 0);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 2);
    assert_int_equal(a.shape[1], 3);
    assert_int_equal(a.n_elems, 6);
    assert_memory_equal(a.data, k_six, sizeof k_six);
    assert_int_equal((uintptr_t)a.data % 64, 0);
    ua_npy_close(&a);
    ua_npy_close(&a); /* twice is harmless */
    free(path);
}

static void test_writer_bytes_match_numpy(void **state)
{
    (void)state;
    /* numpy 1.24: np.save(f, np.zeros((2, 3), np.float32)) */
    char *path = th_path(g_dir, "z.npy");
    float zeros[6] = { 0 };
    int64_t shape[2] = { 2, 3 };
    ua_err err = { "" };
    assert_int_equal(ua_npy_write_f32(path, zeros, 2, shape, &err), 0);
    size_t n;
    char *got = th_read(path, &n);
    assert_int_equal(n, 128 + 24);
    assert_memory_equal(got, "\x93NUMPY\x01\x00\x76\x00", 10);
    char want[119];
    memset(want, ' ', sizeof want);
    memcpy(want, D23, strlen(D23));
    want[117] = '\n';
    assert_memory_equal(got + 10, want, 118);
    free(got);

    /* (5,) and () as numpy formats them */
    int64_t five = 5;
    assert_int_equal(ua_npy_write_f32(path, k_six, 1, &five, &err), 0);
    got = th_read(path, &n);
    assert_non_null(strstr(got + 10, "'shape': (5,), }"));
    free(got);
    assert_int_equal(ua_npy_write_f32(path, k_six, 0, NULL, &err), 0);
    got = th_read(path, &n);
    assert_non_null(strstr(got + 10, "'shape': (), }"));
    assert_int_equal(n, 128 + 4);
    free(got);
    free(path);
}

static void test_round_trip_0d_1d_empty(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "b.npy");
    ua_err err = { "" };
    ua_npy a;

    assert_int_equal(ua_npy_write_f32(path, k_six, 0, NULL, &err), 0);
    assert_int_equal(ua_npy_open(&a, path, &err), 0);
    assert_int_equal(a.ndim, 0);
    assert_int_equal(a.n_elems, 1);
    assert_true(a.data[0] == 1.5f);
    ua_npy_close(&a);

    int64_t s1 = 6;
    assert_int_equal(ua_npy_write_f32(path, k_six, 1, &s1, &err), 0);
    assert_int_equal(ua_npy_open(&a, path, &err), 0);
    assert_int_equal(a.ndim, 1);
    assert_int_equal(a.shape[0], 6);
    assert_memory_equal(a.data, k_six, sizeof k_six);
    ua_npy_close(&a);

    int64_t s3[3] = { 0, 36, 2048 };
    assert_int_equal(ua_npy_write_f32(path, NULL, 3, s3, &err), 0);
    assert_int_equal(ua_npy_open(&a, path, &err), 0);
    assert_int_equal(a.ndim, 3);
    assert_int_equal(a.shape[0], 0);
    assert_int_equal(a.shape[2], 2048);
    assert_int_equal(a.n_elems, 0);
    ua_npy_close(&a);
    free(path);
}

static void test_streaming_writer(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "s.npy");
    int64_t shape[2] = { 2, 3 };
    ua_err err = { "" };
    ua_npy_writer w;
    assert_int_equal(ua_npy_writer_open(&w, path, 2, shape, &err), 0);
    assert_int_equal(access(path, F_OK), -1); /* nothing visible before commit */
    assert_int_equal(ua_npy_writer_append(&w, k_six, 2, &err), 0);
    assert_int_equal(ua_npy_writer_append(&w, k_six + 2, 0, &err), 0);
    assert_int_equal(ua_npy_writer_append(&w, k_six + 2, 4, &err), 0);
    assert_int_equal(ua_npy_writer_commit(&w, &err), 0);
    ua_npy a;
    assert_int_equal(ua_npy_open(&a, path, &err), 0);
    assert_memory_equal(a.data, k_six, sizeof k_six);
    ua_npy_close(&a);
    free(path);
}

static void test_streaming_writer_wrong_count(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "short.npy");
    int64_t shape[2] = { 2, 3 };
    ua_err err = { "" };
    ua_npy_writer w;

    /* too few */
    assert_int_equal(ua_npy_writer_open(&w, path, 2, shape, &err), 0);
    assert_int_equal(ua_npy_writer_append(&w, k_six, 5, &err), 0);
    assert_int_equal(ua_npy_writer_commit(&w, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "5 of the shape's 6 floats"));
    ua_npy_writer_abort(&w);
    assert_int_equal(access(path, F_OK), -1);

    /* too many */
    assert_int_equal(ua_npy_writer_open(&w, path, 2, shape, &err), 0);
    assert_int_equal(ua_npy_writer_append(&w, k_six, 4, &err), 0);
    assert_int_equal(ua_npy_writer_append(&w, k_six, 4, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "exceed"));
    ua_npy_writer_abort(&w);
    ua_npy_writer_abort(&w);
    assert_int_equal(access(path, F_OK), -1);

    /* abort without commit leaves neither the file nor the temp */
    assert_int_equal(ua_npy_writer_open(&w, path, 2, shape, &err), 0);
    assert_int_equal(ua_npy_writer_append(&w, k_six, 6, &err), 0);
    ua_npy_writer_abort(&w);
    assert_int_equal(access(path, F_OK), -1);
    char out[256];
    assert_int_equal(th_run(out, sizeof out, "ls -A '%s' | grep -c tmp", g_dir), 1);
    free(path);
}

static void test_writer_rejects_bad_shape(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "neg.npy");
    ua_err err = { "" };
    int64_t neg[2] = { 2, -3 };
    assert_int_equal(ua_npy_write_f32(path, k_six, 2, neg, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "negative"));
    int64_t huge[3] = { INT64_MAX, INT64_MAX, 2 };
    assert_int_equal(ua_npy_write_f32(path, k_six, 3, huge, &err), -1);
    assert_non_null(strstr(err.msg, "too many elements"));
    int64_t nine[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    assert_int_equal(ua_npy_write_f32(path, k_six, 9, nine, &err), -1);
    assert_non_null(strstr(err.msg, "9-d"));
    assert_int_equal(access(path, F_OK), -1);
    free(path);
}

/* ---- versions and header dialects ---- */

static void read_ok(int major, const char *dict, int pad, int ndim, const int64_t *shape, size_t n)
{
    size_t len;
    unsigned char *b = make_npy(major, dict, pad, k_six, n * 4, &len);
    char *path = put("ok.npy", b, len);
    ua_npy a;
    ua_err err = { "" };
    if (ua_npy_open(&a, path, &err) != 0) fail_msg("%s: %s", dict, err.msg);
    assert_int_equal(a.ndim, ndim);
    for (int i = 0; i < ndim; i++) assert_int_equal(a.shape[i], shape[i]);
    assert_int_equal(a.n_elems, n);
    if (n) assert_memory_equal(a.data, k_six, n * 4);
    ua_npy_close(&a);
    free(path);
    free(b);
}

static void test_versions_1_2_3(void **state)
{
    (void)state;
    int64_t s[2] = { 2, 3 };
    read_ok(1, D23, 1, 2, s, 6);
    read_ok(2, D23, 1, 2, s, 6);
    read_ok(3, D23, 1, 2, s, 6);
    /* a 2.0 file whose header is longer than 65535 bytes (its length needs the 4-byte field) */
    size_t big = 70000;
    char *dict = malloc(big + 1);
    memset(dict, ' ', big);
    dict[big] = 0;
    memcpy(dict, D23, strlen(D23));
    read_ok(2, dict, 1, 2, s, 6);
    free(dict);
}

static void test_header_dialects(void **state)
{
    (void)state;
    int64_t s23[2] = { 2, 3 }, s6[1] = { 6 };
    /* any key order, double quotes, no spaces, no trailing comma */
    read_ok(1, "{\"shape\":(2,3),\"fortran_order\":False,\"descr\":\"<f4\"}", 1, 2, s23, 6);
    /* plenty of spaces, trailing commas in dict and tuple */
    read_ok(1, "{ 'fortran_order' :  False ,'shape' : ( 2 , 3 , ) , 'descr':'<f4' , }", 1, 2, s23, 6);
    /* 1-element tuple, 0-d, Python 2 longs */
    read_ok(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 1, 1, s6, 6);
    read_ok(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 1, 0, NULL, 1);
    read_ok(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", 1, 2, s23, 6);
    /* version 3.0 (utf-8 header) and no padding at all (data is still 4-byte aligned) */
    read_ok(3, "{'descr':'<f4','fortran_order':False,'shape':(2,3)}    \n", 0, 2, s23, 6);
}

/* ---- malformed inputs ---- */

static void test_truncated_file(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "tiny.npy");
    ua_err err = { "" };
    ua_npy a;
    assert_int_equal(th_write(path, "\x93NUM", 4), 0);
    assert_int_equal(ua_npy_open(&a, path, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "truncated file"));
    assert_int_equal(th_write(path, "\x93NUMPY\x01\x00\x76", 9), 0);
    assert_int_equal(ua_npy_open(&a, path, &err), -1);
    assert_non_null(strstr(err.msg, "truncated file"));
    assert_int_equal(th_write(path, "", 0), 0);
    assert_int_equal(ua_npy_open(&a, path, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "empty"));
    free(path);
}

static void test_truncated_header(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = make_npy(1, D23, 1, k_six, 24, &n);
    char *path = put("th.npy", b, 60); /* cut inside the header */
    ua_npy a;
    ua_err err = { "" };
    assert_int_equal(ua_npy_open(&a, path, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "truncated header"));
    assert_non_null(strstr(err.msg, "118 bytes"));
    assert_non_null(strstr(err.msg, "has 50"));
    free(path);
    /* a version 2.0 header length far past the end */
    b[6] = 2;
    memmove(b + 12, b + 10, n - 12);
    b[8] = 0xff, b[9] = 0xff, b[10] = 0xff, b[11] = 0xff;
    path = put("th2.npy", b, n);
    assert_int_equal(ua_npy_open(&a, path, &err), -1);
    assert_non_null(strstr(err.msg, "truncated header"));
    assert_non_null(strstr(err.msg, "4294967295"));
    free(path);
    free(b);
}

static void test_wrong_magic(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = make_npy(1, D23, 1, k_six, 24, &n);
    b[1] = 'n';
    char *path = put("magic.npy", b, n);
    ua_npy a;
    ua_err err = { "" };
    assert_int_equal(ua_npy_open(&a, path, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "not a .npy file"));
    assert_non_null(strstr(err.msg, "magic"));
    free(path);
    free(b);
}

static void test_bad_version(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = make_npy(1, D23, 1, k_six, 24, &n);
    b[6] = 4;
    char *path = put("v4.npy", b, n);
    ua_npy a;
    ua_err err = { "" };
    assert_int_equal(ua_npy_open(&a, path, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "unsupported .npy format version 4.0"));
    b[6] = 1, b[7] = 1;
    free(path);
    path = put("v11.npy", b, n);
    assert_int_equal(ua_npy_open(&a, path, &err), -1);
    assert_non_null(strstr(err.msg, "version 1.1"));
    free(path);
    free(b);
}

static void test_wrong_dtype(void **state)
{
    (void)state;
    float d8[6] = { 0 };
    expect_open_fails("f8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 1, d8, 24,
                      "dtype '<f8'", "'<f4'", NULL);
    expect_open_fails("i4.npy", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", 1, d8, 24,
                      "dtype '<i4'", NULL);
    expect_open_fails("bigf4.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 1, d8,
                      24, "dtype '>f4'", "little-endian", NULL);
    expect_open_fails("pipef4.npy", 1, "{'descr': '|f4', 'fortran_order': False, 'shape': (2, 3), }", 1, d8,
                      24, "dtype '|f4'", NULL);
    expect_open_fails("rec.npy", 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3), }",
                      1, d8, 24, "structured dtype", NULL);
}

static void test_fortran_order(void **state)
{
    (void)state;
    expect_open_fails("fortran.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 1, k_six,
                      24, "Fortran", "(2, 3)", NULL);
}

static void test_data_too_short(void **state)
{
    (void)state;
    expect_open_fails("short.npy", 1, D23, 1, k_six, 20, "truncated", "(2, 3)", "needs 24 data bytes",
                      "has 20", NULL);
    expect_open_fails("nodata.npy", 1, D23, 1, k_six, 0, "truncated", "has 0", NULL);
}

static void test_data_too_long(void **state)
{
    (void)state;
    float seven[7] = { 0 };
    expect_open_fails("long.npy", 1, D23, 1, seven, 28, "has 4 extra bytes", "needs 24", NULL);
    expect_open_fails("long0.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", 1,
                      seven, 4, "has 4 extra bytes", "(0, 3)", NULL);
}

static void test_bad_header_syntax(void **state)
{
    (void)state;
    expect_open_fails("s1.npy", 1, "{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3), }", 1, k_six, 24,
                      "bad .npy header", "expected ':'", NULL);
    expect_open_fails("s2.npy", 1, "{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3), }", 1, k_six, 24,
                      "bad .npy header", NULL);
    expect_open_fails("s3.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ", 1, k_six, 24,
                      "bad .npy header", NULL);
    expect_open_fails("s4.npy", 1, "'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 1, k_six, 24,
                      "bad .npy header", "'{'", NULL);
    expect_open_fails("s5.npy", 1, "{'descr': '<f4', 'fortran_order': false, 'shape': (2, 3), }", 1, k_six, 24,
                      "True or False", NULL);
    expect_open_fails("s6.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }", 1, k_six, 24,
                      "'(' starting the shape", NULL);
    expect_open_fails("s7.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", 1, k_six, 24,
                      "',' or ')'", NULL);
    expect_open_fails("s8.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6), }", 1, k_six, 24,
                      "not a tuple", NULL);
    expect_open_fails("s9.npy", 1, "{'descr': '<f4', 'fortran_order': False, }", 1, k_six, 24,
                      "no 'shape' key", NULL);
    expect_open_fails("s10.npy", 1, "{'descr': '<f4', 'shape': (6,), }", 1, k_six, 24,
                      "no 'fortran_order' key", NULL);
    expect_open_fails("s11.npy", 1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", 1,
                      k_six, 24, "'descr' appears twice", NULL);
    expect_open_fails("s12.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", 1,
                      k_six, 24, "unexpected key 'x'", NULL);
    expect_open_fails("s13.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), } junk", 1, k_six,
                      24, "only padding", NULL);
    expect_open_fails("s14.npy", 1, "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (6,), }", 1, k_six,
                      24, "True or False", NULL);
    expect_open_fails("s15.npy", 1, "", 1, k_six, 24, "bad .npy header", NULL);
}

static void test_bad_dims(void **state)
{
    (void)state;
    expect_open_fails("neg.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", 1, k_six, 24,
                      "negative dimension", NULL);
    expect_open_fails("ovf.npy", 1,
                      "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 3), }", 1,
                      k_six, 24, "overflows", NULL);
    expect_open_fails("prod.npy", 1,
                      "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 1,
                      k_six, 24, "too many elements", NULL);
    expect_open_fails("prod2.npy", 1,
                      "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,), }", 1,
                      k_six, 24, "too many elements", NULL);
    expect_open_fails("dims9.npy", 1,
                      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,6), }", 1,
                      k_six, 24, "more than 8 dimensions", NULL);
}

static void test_misaligned_data(void **state)
{
    (void)state;
    /* a header of 61 bytes: data would start at byte 71 */
    char dict[62];
    memset(dict, ' ', 61);
    dict[61] = 0;
    memcpy(dict, D23, strlen(D23));
    expect_open_fails("misaligned.npy", 1, dict, 0, k_six, 24, "not 4-byte aligned", NULL);
}

static void test_not_a_regular_file(void **state)
{
    (void)state;
    ua_npy a;
    ua_err err = { "" };
    assert_int_equal(ua_npy_open(&a, g_dir, &err), -1);
    assert_non_null(strstr(err.msg, g_dir));
    assert_non_null(strstr(err.msg, "not a regular file"));
    char *missing = th_path(g_dir, "missing.npy");
    assert_int_equal(ua_npy_open(&a, missing, &err), -1);
    assert_non_null(strstr(err.msg, missing));
    assert_non_null(strstr(err.msg, "cannot open"));
    free(missing);
}

static void test_parse_in_memory(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = make_npy(1, D23, 1, k_six, 24, &n);
    ua_npy a;
    ua_err err = { "" };
    assert_int_equal(ua_npy_parse(&a, b, n, "mem", &err), 0);
    assert_null(a.map);
    assert_ptr_equal((const void *)a.data, (const void *)(b + n - 24));
    ua_npy_close(&a);
    assert_int_equal(ua_npy_parse(&a, b, 0, "mem", &err), -1);
    assert_non_null(strstr(err.msg, "mem: truncated file"));
    assert_int_equal(ua_npy_parse(&a, NULL, 0, "mem", &err), -1);
    /* every prefix of a valid file fails cleanly */
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(ua_npy_parse(&a, b, k, "mem", &err), -1);
        assert_non_null(strstr(err.msg, "mem: "));
    }
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_2d),
        cmocka_unit_test(test_writer_bytes_match_numpy),
        cmocka_unit_test(test_round_trip_0d_1d_empty),
        cmocka_unit_test(test_streaming_writer),
        cmocka_unit_test(test_streaming_writer_wrong_count),
        cmocka_unit_test(test_writer_rejects_bad_shape),
        cmocka_unit_test(test_versions_1_2_3),
        cmocka_unit_test(test_header_dialects),
        cmocka_unit_test(test_truncated_file),
        cmocka_unit_test(test_truncated_header),
        cmocka_unit_test(test_wrong_magic),
        cmocka_unit_test(test_bad_version),
        cmocka_unit_test(test_wrong_dtype),
        cmocka_unit_test(test_fortran_order),
        cmocka_unit_test(test_data_too_short),
        cmocka_unit_test(test_data_too_long),
        cmocka_unit_test(test_bad_header_syntax),
        cmocka_unit_test(test_bad_dims),
        cmocka_unit_test(test_misaligned_data),
        cmocka_unit_test(test_not_a_regular_file),
        cmocka_unit_test(test_parse_in_memory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
