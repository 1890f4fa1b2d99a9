/* safetensors reader and writer: round trips and one test per malformed input, each checking
 * that the message names the file and the problem. */
#include "helpers.h"
#include "uarda/safetensors.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

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

/* 8-byte length, header (padded with spaces so that the data starts at a multiple of 8 when
 * pad is set), data. Caller frees. */
static unsigned char *make_st(const char *header, int pad, const void *data, size_t data_len, size_t *out_len)
{
    size_t hl = strlen(header), n = hl;
    if (pad) n = (8 + hl + 7) / 8 * 8 - 8;
    unsigned char *b = calloc(1, 8 + n + data_len + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, header, hl);
    memset(b + 8 + hl, ' ', n - hl);
    if (data_len) memcpy(b + 8 + n, data, data_len);
    *out_len = 8 + n + data_len;
    return b;
}

static char *put(const char *name, const unsigned char *b, size_t n)
{
    char *path = th_path(g_dir, name);
    assert_int_equal(th_write(path, b, n), 0);
    return path;
}

static const float k_data[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* opening a file with this header and data fails; the message names the file and contains
 * every one of the NULL-terminated substrings; ua_st_parse says the same */
static void expect_fails_raw(const char *name, const unsigned char *b, size_t n, va_list ap)
{
    char *path = put(name, b, n);
    ua_st_file f;
    ua_err err = { "" };
    assert_int_equal(ua_st_open(&f, path, &err), -1);
    if (strncmp(err.msg, path, strlen(path)) != 0) fail_msg("message does not start with the file: %s", err.msg);
    for (const char *want; (want = va_arg(ap, const char *));)
        if (!strstr(err.msg, want)) fail_msg("message lacks '%s': %s", want, err.msg);
    assert_null(strchr(err.msg, '\n'));
    assert_null(f.tensors);
    assert_null(f.map);
    ua_st_close(&f);
    ua_err err2 = { "" };
    assert_int_equal(ua_st_parse(&f, b, n, path, &err2), -1);
    assert_string_equal(err.msg, err2.msg);
    free(path);
}

static void expect_fails(const char *name, const char *header, const void *data, size_t data_len, ...)
{
    size_t n;
    unsigned char *b = make_st(header, 1, data, data_len, &n);
    va_list ap;
    va_start(ap, data_len);
    expect_fails_raw(name, b, n, ap);
    va_end(ap);
    free(b);
}

static void expect_fails_bytes(const char *name, const unsigned char *b, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    expect_fails_raw(name, b, n, ap);
    va_end(ap);
}

/* ---- round trips ---- */

static void test_round_trip(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "rt.safetensors");
    double f64[3] = { 1.25, -2.5, 1e300 };
    int32_t i32[3] = { 7, -8, 9 };
    int64_t i64[4] = { INT64_MAX, INT64_MIN, 0, 42 };
    float scalar = 3.5f;
    ua_st_entry e[6] = {
        { "img_enc.fc.weight", UA_ST_F32, 2, { 2, 3 }, k_data },
        { "d", UA_ST_F64, 1, { 3 }, f64 },
        { "odd \"quoted\" name\\", UA_ST_I32, 1, { 3 }, i32 },
        { "after_odd", UA_ST_I64, 2, { 2, 2 }, i64 }, /* needs 4 bytes of padding before it */
        { "scalar", UA_ST_F32, 0, { 0 }, &scalar },
        { "empty", UA_ST_F32, 2, { 0, 5 }, NULL },
    };
    const char *keys[2] = { "format", "note" };
    const char *vals[2] = { "pt", "line1\nline2 \"q\"" };
    ua_err err = { "" };
    assert_int_equal(ua_st_write(path, e, 6, keys, vals, 2, &err), 0);

    size_t len;
    char *raw = th_read(path, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | (unsigned char)raw[i];
    assert_int_equal((8 + hl) % 8, 0);
    assert_memory_equal(raw + 8, "{\"__metadata__\":{", 17);
    assert_int_equal(len, 8 + hl + 24 + 24 + 12 + 4 + 32 + 4);
    free(raw);

    ua_st_file f;
    assert_int_equal(ua_st_open(&f, path, &err), 0);
    assert_int_equal(f.n_tensors, 6);
    assert_string_equal(f.tensors[0].name, "img_enc.fc.weight");
    assert_string_equal(f.tensors[2].name, "odd \"quoted\" name\\");
    assert_string_equal(f.tensors[5].name, "empty");
    int64_t s23[2] = { 2, 3 };
    const float *w = ua_st_get_f32(&f, "img_enc.fc.weight", 2, s23, &err);
    assert_non_null(w);
    assert_memory_equal(w, k_data, 6 * sizeof(float));
    const ua_st_tensor *t = ua_st_find(&f, "d");
    assert_int_equal(t->dtype, UA_ST_F64);
    assert_memory_equal(t->data, f64, sizeof f64);
    t = ua_st_find(&f, "odd \"quoted\" name\\");
    assert_int_equal(t->dtype, UA_ST_I32);
    assert_memory_equal(t->data, i32, sizeof i32);
    t = ua_st_find(&f, "after_odd");
    assert_int_equal(t->dtype, UA_ST_I64);
    assert_int_equal((uintptr_t)t->data % 8, 0);
    assert_memory_equal(t->data, i64, sizeof i64);
    t = ua_st_find(&f, "scalar");
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->n_elems, 1);
    assert_true(*(const float *)t->data == 3.5f);
    t = ua_st_find(&f, "empty");
    assert_int_equal(t->n_elems, 0);
    assert_int_equal(t->shape[1], 5);
    assert_null(ua_st_find(&f, "nope"));
    assert_string_equal(ua_st_meta(&f, "format"), "pt");
    assert_string_equal(ua_st_meta(&f, "note"), "line1\nline2 \"q\"");
    assert_null(ua_st_meta(&f, "other"));
    ua_st_close(&f);
    ua_st_close(&f);
    free(path);
}

static void test_no_tensors_no_meta(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "empty.safetensors");
    ua_err err = { "" };
    assert_int_equal(ua_st_write(path, NULL, 0, NULL, NULL, 0, &err), 0);
    ua_st_file f;
    assert_int_equal(ua_st_open(&f, path, &err), 0);
    assert_int_equal(f.n_tensors, 0);
    /* the writer's checksum is the only metadata: of an empty data section */
    assert_int_equal(f.n_meta, 1);
    char want[17];
    snprintf(want, sizeof want, "%016" PRIx64, (uint64_t)XXH3_64bits("", 0));
    assert_string_equal(ua_st_meta(&f, UA_ST_CHECKSUM_KEY), want);
    assert_int_equal(ua_st_verify(&f, &err), 0);
    ua_st_close(&f);
    free(path);
}

/* ---- integrity ---- */

/* the header length of a file's bytes */
static size_t header_end(const unsigned char *b)
{
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
    return 8 + (size_t)hl;
}

/* the checksum is XXH3-64 of every byte after the header (padding included), it verifies, one
 * flipped bit anywhere in the data is found, and a file without one reports 1 */
static void test_checksum(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "sum.safetensors"), *bad = th_path(g_dir, "flipped.safetensors");
    double f64[2] = { 0.5, -4.0 };
    ua_st_entry e[2] = { { "odd", UA_ST_F32, 1, { 3 }, k_data }, { "wide", UA_ST_F64, 1, { 2 }, f64 } };
    const char *keys[1] = { "k" }, *vals[1] = { "v" };
    ua_err err = { "" };
    assert_int_equal(ua_st_write(path, e, 2, keys, vals, 1, &err), 0);
    size_t len;
    unsigned char *raw = (unsigned char *)th_read(path, &len);
    size_t data = header_end(raw);
    assert_int_equal(len - data, 12 + 4 + 16);   /* 4 bytes of padding before the F64 tensor */
    char want[17];
    snprintf(want, sizeof want, "%016" PRIx64, (uint64_t)XXH3_64bits(raw + data, len - data));
    ua_st_file f;
    assert_int_equal(ua_st_open(&f, path, &err), 0);
    assert_string_equal(ua_st_meta(&f, UA_ST_CHECKSUM_KEY), want);
    assert_string_equal(ua_st_meta(&f, "k"), "v");
    assert_int_equal(ua_st_verify(&f, &err), 0);
    ua_st_close(&f);
    /* one bit flipped: in a tensor, in the padding, in the last byte */
    size_t at[3] = { data + 5, data + 13, len - 1 };
    for (int k = 0; k < 3; k++) {
        raw[at[k]] ^= 0x10;
        assert_int_equal(th_write(bad, raw, len), 0);
        raw[at[k]] ^= 0x10;
        assert_int_equal(ua_st_open(&f, bad, &err), 0);   /* the header alone is fine */
        assert_int_equal(ua_st_verify(&f, &err), -1);
        if (strncmp(err.msg, bad, strlen(bad)) != 0 || !strstr(err.msg, "corrupt") || !strstr(err.msg, want))
            fail_msg("message lacks the file, 'corrupt' or the recorded checksum %s: %s", want, err.msg);
        char have[17];
        snprintf(have, sizeof have, "%016" PRIx64, (uint64_t)XXH3_64bits(f.data_section, f.data_len));
        assert_non_null(strstr(err.msg, have));
        assert_null(strchr(err.msg, '\n'));
        ua_st_close(&f);
    }
    /* bytes appended after the last tensor are part of the data section too */
    unsigned char *longer = malloc(len + 8);
    memcpy(longer, raw, len);
    memset(longer + len, 0, 8);
    assert_int_equal(th_write(bad, longer, len + 8), 0);
    assert_int_equal(ua_st_open(&f, bad, &err), 0);
    assert_int_equal(ua_st_verify(&f, &err), -1);
    ua_st_close(&f);
    free(longer);
    /* a file from before the checksum: nothing to verify */
    size_t n;
    unsigned char *b = make_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 1, k_data, 8, &n);
    assert_int_equal(ua_st_parse(&f, b, n, "old.safetensors", &err), 0);
    assert_int_equal(ua_st_verify(&f, &err), 1);
    ua_st_close(&f);
    free(b);
    /* a recorded value that is not 16 hex digits */
    b = make_st("{\"__metadata__\":{\"data_xxh3\":\"12345\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 1,
                k_data, 8, &n);
    assert_int_equal(ua_st_parse(&f, b, n, "odd.safetensors", &err), 0);
    assert_int_equal(ua_st_verify(&f, &err), -1);
    assert_non_null(strstr(err.msg, "odd.safetensors: __metadata__ data_xxh3 = \"12345\" is not 16 hex digits"));
    ua_st_close(&f);
    free(b);
    /* the key is the writer's own */
    const char *k2[1] = { UA_ST_CHECKSUM_KEY }, *v2[1] = { "0000000000000000" };
    assert_int_equal(ua_st_write(bad, e, 2, k2, v2, 1, &err), -1);
    assert_non_null(strstr(err.msg, "'data_xxh3' is the writer's own"));
    free(raw);
    free(path);
    free(bad);
}

/* ua_st_check_finite names the tensor, the element (and its coordinates) and what it is */
static void test_check_finite(void **state)
{
    (void)state;
    float x[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    double d[3] = { 1, 2, 3 };
    int32_t i[2] = { -1, 1 };
    ua_st_entry e[3] = { { "x", UA_ST_F32, 2, { 2, 4 }, x }, { "d", UA_ST_F64, 1, { 3 }, d },
                         { "i", UA_ST_I32, 1, { 2 }, i } };
    ua_err err = { "" };
    char *path = th_path(g_dir, "finite.safetensors");
    ua_st_file f;
    assert_int_equal(ua_st_write(path, e, 3, NULL, NULL, 0, &err), 0);
    assert_int_equal(ua_st_open(&f, path, &err), 0);
    for (size_t t = 0; t < f.n_tensors; t++) assert_int_equal(ua_st_check_finite(&f, &f.tensors[t], &err), 0);
    ua_st_close(&f);
    x[6] = NAN;
    d[2] = -INFINITY;
    assert_int_equal(ua_st_write(path, e, 3, NULL, NULL, 0, &err), 0);
    assert_int_equal(ua_st_open(&f, path, &err), 0);
    assert_int_equal(ua_st_check_finite(&f, ua_st_find(&f, "x"), &err), -1);
    char want[512];
    snprintf(want, sizeof want, "%s: tensor 'x' element 6 [1, 2] is NaN", path);
    if (strncmp(err.msg, want, strlen(want)) != 0) fail_msg("'%s' does not start with '%s'", err.msg, want);
    assert_int_equal(ua_st_check_finite(&f, ua_st_find(&f, "d"), &err), -1);
    snprintf(want, sizeof want, "%s: tensor 'd' element 2 is -Inf", path);
    if (strncmp(err.msg, want, strlen(want)) != 0) fail_msg("'%s' does not start with '%s'", err.msg, want);
    assert_int_equal(ua_st_check_finite(&f, ua_st_find(&f, "i"), &err), 0);
    ua_st_close(&f);
    /* past the first block of the vectorised scan */
    float *big = calloc(10000, sizeof(float));
    big[9999] = INFINITY;
    ua_st_entry eb = { "big", UA_ST_F32, 1, { 10000 }, big };
    assert_int_equal(ua_st_write(path, &eb, 1, NULL, NULL, 0, &err), 0);
    assert_int_equal(ua_st_open(&f, path, &err), 0);
    assert_int_equal(ua_st_check_finite(&f, ua_st_find(&f, "big"), &err), -1);
    assert_non_null(strstr(err.msg, "tensor 'big' element 9999 is +Inf"));
    ua_st_close(&f);
    free(big);
    free(path);
}

static void test_hand_made_file(void **state)
{
    (void)state;
    /* as the python writer lays it out: any key order, metadata last, no padding needed here */
    size_t n;
    unsigned char *b = make_st("{\"b\": {\"shape\": [2], \"data_offsets\": [16, 24], \"dtype\": \"F32\"},"
                               " \"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                               "\"__metadata__\":{\"k\":\"v\"}}",
                               1, k_data, 24, &n);
    char *path = put("hand.safetensors", b, n);
    ua_st_file f;
    ua_err err = { "" };
    assert_int_equal(ua_st_open(&f, path, &err), 0);
    assert_int_equal(f.n_tensors, 2);
    assert_string_equal(f.tensors[0].name, "b");
    int64_t s2 = 2, s22[2] = { 2, 2 };
    const float *bb = ua_st_get_f32(&f, "b", 1, &s2, &err);
    assert_true(bb[0] == 5 && bb[1] == 6);
    const float *aa = ua_st_get_f32(&f, "a", 2, s22, &err);
    assert_true(aa[0] == 1 && aa[3] == 4);
    assert_string_equal(ua_st_meta(&f, "k"), "v");
    ua_st_close(&f);
    free(path);
    free(b);
}

static void test_get_f32_errors(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "ckpt.safetensors");
    static float big[1024 * 2048];
    int32_t i32[2] = { 1, 2 };
    ua_st_entry e[2] = {
        { "img_enc.fc.weight", UA_ST_F32, 2, { 1024, 2048 }, big },
        { "step", UA_ST_I32, 1, { 2 }, i32 },
    };
    ua_err err = { "" };
    assert_int_equal(ua_st_write(path, e, 2, NULL, NULL, 0, &err), 0);
    ua_st_file f;
    assert_int_equal(ua_st_open(&f, path, &err), 0);
    int64_t want[2] = { 256, 2048 };
    assert_null(ua_st_get_f32(&f, "img_enc.fc.weight", 2, want, &err));
    char expected[512];
    snprintf(expected, sizeof expected,
             "%s: tensor 'img_enc.fc.weight' has shape [1024, 2048], expected [256, 2048]", path);
    assert_string_equal(err.msg, expected);
    int64_t want3[3] = { 1024, 2048, 1 };
    assert_null(ua_st_get_f32(&f, "img_enc.fc.weight", 3, want3, &err));
    assert_non_null(strstr(err.msg, "expected [1024, 2048, 1]"));
    assert_null(ua_st_get_f32(&f, "txt_enc.fc.weight", 2, want, &err));
    snprintf(expected, sizeof expected, "%s: no tensor 'txt_enc.fc.weight'", path);
    assert_string_equal(err.msg, expected);
    int64_t two = 2;
    assert_null(ua_st_get_f32(&f, "step", 1, &two, &err));
    snprintf(expected, sizeof expected, "%s: tensor 'step' has dtype I32, expected F32", path);
    assert_string_equal(err.msg, expected);
    ua_st_close(&f);
    free(path);
}

static void test_writer_rejects_bad_input(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "bad.safetensors");
    ua_err err = { "" };
    ua_st_entry dup[2] = { { "a", UA_ST_F32, 1, { 1 }, k_data }, { "a", UA_ST_F32, 1, { 1 }, k_data } };
    assert_int_equal(ua_st_write(path, dup, 2, NULL, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "'a' given twice"));
    ua_st_entry neg = { "n", UA_ST_F32, 1, { -1 }, k_data };
    assert_int_equal(ua_st_write(path, &neg, 1, NULL, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "negative"));
    ua_st_entry meta = { "__metadata__", UA_ST_F32, 1, { 1 }, k_data };
    assert_int_equal(ua_st_write(path, &meta, 1, NULL, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "__metadata__"));
    const char *k[2] = { "x", "x" }, *v[2] = { "1", "2" };
    assert_int_equal(ua_st_write(path, NULL, 0, k, v, 2, &err), -1);
    assert_non_null(strstr(err.msg, "'x' given twice"));
    assert_int_equal(access(path, F_OK), -1);
    free(path);
}

/* ---- malformed inputs ---- */

static void test_truncated_file(void **state)
{
    (void)state;
    expect_fails_bytes("short.safetensors", (const unsigned char *)"\x10\0\0\0", 4, "truncated file", "4 bytes",
                       NULL);
    char *path = th_path(g_dir, "zero.safetensors");
    assert_int_equal(th_write(path, "", 0), 0);
    ua_st_file f;
    ua_err err = { "" };
    assert_int_equal(ua_st_open(&f, path, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "truncated file"));
    free(path);
}

static void test_bad_header_length(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = make_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 1, k_data, 4,
                               &n);
    b[0] = (unsigned char)(b[0] + 8); /* 8 bytes more than there is after the length (4 of data) */
    expect_fails_bytes("len.safetensors", b, n, "truncated header", "the file has", NULL);
    memset(b, 0xff, 8);
    expect_fails_bytes("huge.safetensors", b, n, "bad header length 18446744073709551615", NULL);
    memset(b, 0, 8);
    b[3] = 0x10; /* 256 MiB */
    expect_fails_bytes("big.safetensors", b, n, "bad header length 268435456", NULL);
    memset(b, 0, 8);
    expect_fails_bytes("zero.safetensors", b, n, "not a JSON object", NULL);
    free(b);
}

static void test_header_not_json(void **state)
{
    (void)state;
    expect_fails("nj.safetensors", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], ", k_data, 4, "not valid JSON",
                 NULL);
    expect_fails("nj2.safetensors", "hello world", k_data, 4, "not valid JSON", NULL);
    expect_fails("arr.safetensors", "[1, 2, 3]", k_data, 4, "not a JSON object", NULL);
    expect_fails("junk.safetensors", "{} x", k_data, 4, "junk after the JSON", NULL);
    /* a header of "{}" and 14 NULs */
    unsigned char b[24] = { 16, 0, 0, 0, 0, 0, 0, 0, '{', '}' };
    expect_fails_bytes("nul.safetensors", b, sizeof b, "junk after the JSON", NULL);
    expect_fails("entry.safetensors", "{\"a\": 5}", k_data, 4, "tensor 'a'", "not a JSON object", NULL);
}

static void test_offsets_past_end(void **state)
{
    (void)state;
    expect_fails("past.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", k_data, 12,
                 "tensor 'a'", "[0, 16] past the end of the data (12 bytes)", NULL);
    expect_fails("past2.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[18446744073709551612,18446744073709551616]}}",
                 k_data, 12, "tensor 'a'", NULL);
}

static void test_offsets_size_mismatch(void **state)
{
    (void)state;
    expect_fails("mm.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", k_data, 16,
                 "tensor 'a'", "12 bytes", "shape [2, 2] of F32 needs 16", NULL);
    expect_fails("order.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", k_data, 16,
                 "tensor 'a'", "begin after end", NULL);
    expect_fails("offs.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", k_data, 16,
                 "tensor 'a'", "not [begin, end]", NULL);
    expect_fails("offs2.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,-4]}}", k_data, 16,
                 "tensor 'a'", "not [begin, end]", NULL);
    expect_fails("offs3.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", k_data, 16, "tensor 'a'",
                 "no data_offsets", NULL);
}

static void test_bad_shape(void **state)
{
    (void)state;
    expect_fails("neg.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", k_data, 16,
                 "tensor 'a'", "shape entry", NULL);
    expect_fails("frac.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", k_data,
                 16, "tensor 'a'", "shape entry", NULL);
    expect_fails("str.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,4]}}", k_data, 16,
                 "tensor 'a'", "not a JSON array", NULL);
    expect_fails("ovf.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", k_data, 16,
                 "tensor 'a'", "size overflows", NULL);
    expect_fails("dims.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
                 k_data, 16, "tensor 'a'", "more than 8 dimensions", NULL);
}

static void test_overlapping_tensors(void **state)
{
    (void)state;
    expect_fails("ov.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                 k_data, 16, "tensors 'a' [0, 12] and 'b' [8, 16] overlap", NULL);
    expect_fails("same.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                 k_data, 16, "overlap", NULL);
    /* one inside another, listed first */
    expect_fails("inside.safetensors",
                 "{\"in\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                 "\"out\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                 k_data, 16, "overlap", NULL);
}

static void test_unknown_dtype(void **state)
{
    (void)state;
    expect_fails("bf16.safetensors", "{\"w\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", k_data, 16,
                 "tensor 'w' has dtype BF16, which is not supported", NULL);
    expect_fails("nodt.safetensors", "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", k_data, 16,
                 "tensor 'w' has no dtype", NULL);
    expect_fails("numdt.safetensors", "{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", k_data, 16,
                 "tensor 'w'", "not a string", NULL);
}

static void test_bad_metadata(void **state)
{
    (void)state;
    expect_fails("meta.safetensors", "{\"__metadata__\":{\"epoch\":3}}", NULL, 0,
                 "__metadata__ value of 'epoch' is not a string", NULL);
    expect_fails("meta2.safetensors", "{\"__metadata__\":[\"x\"]}", NULL, 0, "__metadata__ is not a JSON object",
                 NULL);
    expect_fails("meta3.safetensors", "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", NULL, 0,
                 "__metadata__ key 'a' appears twice", NULL);
    expect_fails("meta4.safetensors", "{\"__metadata__\":{},\"__metadata__\":{}}", NULL, 0,
                 "__metadata__ appears twice", NULL);
}

static void test_duplicate_names(void **state)
{
    (void)state;
    expect_fails("dup.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                 k_data, 16, "tensor 'a' appears twice", NULL);
}

static void test_misaligned(void **state)
{
    (void)state;
    expect_fails("mis.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", k_data, 16,
                 "tensor 'a'", "not aligned", NULL);
    /* a header that leaves the data at an odd offset */
    size_t n;
    unsigned char *b = make_st("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 0, k_data, 8, &n);
    expect_fails_bytes("mis2.safetensors", b, n, "tensor 'a'", "not aligned to its 8-byte elements", NULL);
    free(b);
}

static void test_parse_prefixes(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = make_st("{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
                               1, k_data, 16, &n);
    ua_st_file f;
    ua_err err = { "" };
    assert_int_equal(ua_st_parse(&f, b, n, "mem", &err), 0);
    assert_string_equal(f.path, "mem");
    ua_st_close(&f);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(ua_st_parse(&f, b, k, "mem", &err), -1);
        assert_memory_equal(err.msg, "mem: ", 5);
        assert_null(f.tensors);
    }
    assert_int_equal(ua_st_parse(&f, NULL, 0, "mem", &err), -1);
    free(b);
}

/* ---- the stream writer ---- */

/* the tensors of the stream tests: an odd count of F16 (the F32 after it needs 2 bytes of
 * padding), F32, an empty tensor, an odd F32 (the I64 after it needs 4), I64 */
enum { ST_N = 5 };
static uint16_t s_h[7] = {0x3c00, 0x4000, 0xbc00, 0x7bff, 0x0001, 0x8000, 0x3555};
static float s_f[13];
static int64_t s_l[6] = {-1, 2, 1LL << 40, 4, 5, 6};
static float s_odd[3] = {0.5f, -0.25f, 8};
static ua_st_entry s_tensors[ST_N] = {
    {"half", UA_ST_F16, 1, {7}, s_h},   {"f", UA_ST_F32, 2, {13, 1}, s_f}, {"empty", UA_ST_F32, 2, {0, 4}, NULL},
    {"odd", UA_ST_F32, 1, {3}, s_odd}, {"l", UA_ST_I64, 2, {2, 3}, s_l},
};
static const char *const s_keys[2] = {"format", "note"}, *const s_vals[2] = {"test", "a \"quoted\"\nvalue"};

static size_t tensor_bytes(const ua_st_entry *t)
{
    size_t n = ua_st_dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

/* writes s_tensors through a stream: the tensors in the order `order`, each in pieces of `piece`
 * bytes, or, when interleave is set, a piece of each tensor in turn */
static void stream_write(const char *path, const int *order, size_t piece, int interleave)
{
    ua_err err = {""};
    ua_st_stream *s = ua_st_stream_open(path, s_tensors, ST_N, s_keys, s_vals, 2, &err);
    if (!s) fail_msg("%s", err.msg);
    size_t done[ST_N] = {0};
    for (int left = 1; left;) {
        left = 0;
        for (int k = 0; k < ST_N; k++) {
            const int i = order[k];
            const size_t total = tensor_bytes(&s_tensors[i]);
            while (done[i] < total) {
                size_t n = total - done[i] < piece ? total - done[i] : piece;
                if (ua_st_stream_write(s, (size_t)i, (const char *)s_tensors[i].data + done[i], n, &err)) fail_msg("%s", err.msg);
                done[i] += n;
                if (interleave) break;
            }
            if (done[i] < total) left = 1;
        }
    }
    if (ua_st_stream_commit(s, &err)) fail_msg("%s", err.msg);
}

static void test_stream_same_bytes(void **state)
{
    (void)state;
    for (int i = 0; i < 13; i++) s_f[i] = (float)i * 0.75f - 3;
    char *want_path = th_path(g_dir, "whole.safetensors"), *path = th_path(g_dir, "stream.safetensors");
    ua_err err = {""};
    assert_int_equal(ua_st_write(want_path, s_tensors, ST_N, s_keys, s_vals, 2, &err), 0);
    size_t want_len, len;
    char *want = th_read(want_path, &want_len);
    static const int in_order[ST_N] = {0, 1, 2, 3, 4}, reverse[ST_N] = {4, 3, 2, 1, 0}, mixed[ST_N] = {1, 0, 4, 2, 3};
    static const struct { const int *order; size_t piece; int interleave; } ways[] = {
        {in_order, 1000, 0},   /* every byte hashed as it is written */
        {in_order, 3, 0},      /* in odd pieces */
        {reverse, 5, 0},       /* all but the first tensor read back at commit */
        {mixed, 4, 1},         /* a piece of each in turn */
        {mixed, 1, 1},
    };
    for (size_t w = 0; w < sizeof ways / sizeof *ways; w++) {
        stream_write(path, ways[w].order, ways[w].piece, ways[w].interleave);
        char *got = th_read(path, &len);
        if (len != want_len || memcmp(got, want, len) != 0) fail_msg("way %zu: the stream's file differs from ua_st_write's", w);
        free(got);
        /* and it reads back, checksum and all */
        ua_st_file f;
        if (ua_st_open(&f, path, &err)) fail_msg("%s", err.msg);
        assert_int_equal(ua_st_verify(&f, &err), 0);
        assert_int_equal(ua_st_find(&f, "half")->dtype, UA_ST_F16);
        assert_memory_equal(ua_st_find(&f, "half")->data, s_h, sizeof s_h);
        assert_memory_equal(ua_st_find(&f, "l")->data, s_l, sizeof s_l);
        ua_st_close(&f);
    }
    /* no temporary file is left beside it */
    char out[256];
    assert_int_equal(th_run(out, sizeof out, "ls %s | grep -c tmp", g_dir), 1);
    assert_string_equal(out, "0\n");
    free(want);
    free(want_path);
    free(path);
}

/* a stream that is not finished, overfilled or aborted leaves the file that was there */
static void test_stream_refusals(void **state)
{
    (void)state;
    char *path = th_path(g_dir, "kept.safetensors");
    assert_int_equal(th_write(path, "old", 3), 0);
    ua_err err = {""};
    ua_st_stream *s = ua_st_stream_open(path, s_tensors, ST_N, s_keys, s_vals, 2, &err);
    assert_non_null(s);
    assert_int_equal(ua_st_stream_write(s, 0, s_h, sizeof s_h, &err), 0);
    assert_int_equal(ua_st_stream_write(s, 0, s_h, 2, &err), -1);
    assert_non_null(strstr(err.msg, "cannot write 2 more bytes to tensor 'half': 14 of its 14 are written"));
    assert_int_equal(ua_st_stream_write(s, 5, s_h, 2, &err), -1);
    assert_non_null(strstr(err.msg, "no tensor 5 (the file has 5)"));
    assert_int_equal(ua_st_stream_write(s, 1, s_f, 12, &err), 0);
    assert_int_equal(ua_st_stream_commit(s, &err), -1);
    if (strncmp(err.msg, path, strlen(path)) != 0 || !strstr(err.msg, "tensor 'f' has 12 of its 52 bytes written"))
        fail_msg("%s", err.msg);
    size_t len;
    char *b = th_read(path, &len);
    assert_true(len == 3 && memcmp(b, "old", 3) == 0);
    free(b);
    s = ua_st_stream_open(path, s_tensors, ST_N, s_keys, s_vals, 2, &err);
    assert_non_null(s);
    assert_int_equal(ua_st_stream_write(s, 4, s_l, sizeof s_l, &err), 0);
    ua_st_stream_abort(s);
    b = th_read(path, &len);
    assert_true(len == 3 && memcmp(b, "old", 3) == 0);
    free(b);
    /* the checks of ua_st_write at open: the checksum key is the writer's */
    const char *k[1] = {UA_ST_CHECKSUM_KEY}, *v[1] = {"x"};
    assert_null(ua_st_stream_open(path, s_tensors, ST_N, k, v, 1, &err));
    assert_non_null(strstr(err.msg, "is the writer's own"));
    char out[256];
    assert_int_equal(th_run(out, sizeof out, "ls %s | grep -c tmp", g_dir), 1);
    assert_string_equal(out, "0\n");
    free(path);
}

/* F16 tensors: an infinity or a NaN among them is found by the finite check */
static void test_check_finite_f16(void **state)
{
    (void)state;
    uint16_t h[6] = {0x3c00, 0x7bff, 0xfbff, 0x0001, 0xfc00, 0x7e00};
    ua_st_entry e = {"h", UA_ST_F16, 2, {2, 3}, h};
    char *path = th_path(g_dir, "f16.safetensors");
    ua_err err = {""};
    ua_st_file f;
    assert_int_equal(ua_st_write(path, &e, 1, NULL, NULL, 0, &err), 0);
    assert_int_equal(ua_st_open(&f, path, &err), 0);
    assert_int_equal(ua_st_check_finite(&f, ua_st_find(&f, "h"), &err), -1);
    assert_non_null(strstr(err.msg, "tensor 'h' element 4 [1, 1] is -Inf"));
    ua_st_close(&f);
    h[4] = 0x3c00;
    assert_int_equal(ua_st_write(path, &e, 1, NULL, NULL, 0, &err), 0);
    assert_int_equal(ua_st_open(&f, path, &err), 0);
    assert_int_equal(ua_st_check_finite(&f, ua_st_find(&f, "h"), &err), -1);
    assert_non_null(strstr(err.msg, "element 5 [1, 2] is NaN"));
    ua_st_close(&f);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_no_tensors_no_meta),
        cmocka_unit_test(test_checksum),
        cmocka_unit_test(test_check_finite),
        cmocka_unit_test(test_hand_made_file),
        cmocka_unit_test(test_get_f32_errors),
        cmocka_unit_test(test_writer_rejects_bad_input),
        cmocka_unit_test(test_truncated_file),
        cmocka_unit_test(test_bad_header_length),
        cmocka_unit_test(test_header_not_json),
        cmocka_unit_test(test_offsets_past_end),
        cmocka_unit_test(test_offsets_size_mismatch),
        cmocka_unit_test(test_bad_shape),
        cmocka_unit_test(test_overlapping_tensors),
        cmocka_unit_test(test_unknown_dtype),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_misaligned),
        cmocka_unit_test(test_parse_prefixes),
        cmocka_unit_test(test_stream_same_bytes),
        cmocka_unit_test(test_stream_refusals),
        cmocka_unit_test(test_check_finite_f16),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
