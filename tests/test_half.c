/* IEEE half conversions (src/core/half.c): known values at every boundary (largest finite, the
 * overflow tie, the smallest normal and subnormal, the tie to zero), every half back and forth,
 * the scalar rounding against the compiler's own _Float16 (round to nearest even) on a sweep of
 * floats, and the array versions (F16C when the build has it) against the scalar code, bit for
 * bit. */
#include "helpers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "uarda/half.h"

static float from_bits(uint32_t x)
{
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

static uint32_t bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    return x;
}

static void test_known_values(void **state)
{
    (void)state;
    static const struct { float f; uint16_t h; } cases[] = {
        {0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3c00}, {-2.0f, 0xc000}, {0.5f, 0x3800},
        {65504.0f, 0x7bff},                 /* the largest finite half */
        {65519.996f, 0x7bff},               /* just below the overflow tie */
        {65520.0f, 0x7c00},                 /* the tie between 65504 and 65536 goes to the even: Inf */
        {1e10f, 0x7c00}, {-1e10f, 0xfc00},
        {0x1p-14f, 0x0400},                 /* the smallest normal */
        {0x1p-24f, 0x0001},                 /* the smallest subnormal */
        {0x1p-25f, 0x0000},                 /* the tie between 0 and 2^-24: the even 0 */
        {0x1.8p-25f, 0x0001},               /* above the tie */
        {0x1.8p-24f, 0x0002},               /* 1.5 x 2^-24: the tie goes to the even 2 */
        {0x1.ffcp-15f, 0x0400},             /* the largest subnormal's upper neighbour rounds up to normal */
        {1.0009765625f, 0x3c01},            /* 1 + 2^-10 */
        {1.00048828125f, 0x3c00},           /* 1 + 2^-11: tie, to the even 1 */
        {1.00146484375f, 0x3c02},           /* 1 + 3 x 2^-11: tie, to the even 1 + 2^-9 */
        {0.1f, 0x2e66}, {3.14159265f, 0x4248},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint16_t h = ua_half_from_float(cases[i].f);
        if (h != cases[i].h) fail_msg("half(%a) = 0x%04x, want 0x%04x", (double)cases[i].f, h, cases[i].h);
    }
    assert_int_equal(ua_half_from_float(INFINITY), 0x7c00);
    assert_int_equal(ua_half_from_float(-INFINITY), 0xfc00);
    assert_true((ua_half_from_float(NAN) & 0x7e00) == 0x7e00);   /* a quiet NaN */
    assert_true(ua_half_to_float(0x7bff) == 65504.0f);
    assert_true(ua_half_to_float(0x0001) == 0x1p-24f);
    assert_true(ua_half_to_float(0x03ff) == 0x1.ff8p-15f);
    assert_true(isinf(ua_half_to_float(0xfc00)) && ua_half_to_float(0xfc00) < 0);
    assert_true(isnan(ua_half_to_float(0x7c01)));
    assert_true(ua_half_finite(0x7bff) && !ua_half_finite(0x7c00) && !ua_half_finite(0xfe00));
}

/* every half: to float and back is the identity (NaNs: a NaN, made quiet); the array decode
 * agrees with the scalar one */
static void test_every_half(void **state)
{
    (void)state;
    uint16_t *h = malloc(65536 * sizeof *h), *back = malloc(65536 * sizeof *back);
    float *f = malloc(65536 * sizeof *f);
    for (uint32_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    ua_half_decode(h, f, 65536);
    ua_half_encode(f, back, 65536);
    for (uint32_t i = 0; i < 65536; i++) {
        float s = ua_half_to_float(h[i]);
        if (bits(s) != bits(f[i])) fail_msg("half 0x%04x: scalar %08x, array %08x", i, bits(s), bits(f[i]));
        if (!ua_half_finite(h[i]) && (i & 0x3ff)) {
            assert_true(isnan(s));
            assert_int_equal(back[i], i | 0x200);
            continue;
        }
        if (back[i] != i || ua_half_from_float(s) != i) fail_msg("half 0x%04x: back 0x%04x", i, back[i]);
#ifdef __FLT16_MAX__
        _Float16 c = (_Float16)s;
        uint16_t cb;
        memcpy(&cb, &c, sizeof cb);
        if (cb != i) fail_msg("half 0x%04x: the compiler's is 0x%04x", i, cb);
#endif
    }
    free(h); free(back); free(f);
}

/* floats around every half's rounding boundaries and a sweep of all float bit patterns: the
 * scalar rounding equals the compiler's _Float16 (IEEE round to nearest even), and the array
 * encode (F16C when built with it) equals the scalar one */
static void test_rounding_sweep(void **state)
{
    (void)state;
    enum { N = 1 << 20 };
    float *x = malloc(N * sizeof *x);
    uint16_t *h = malloc(N * sizeof *h);
    size_t n = 0;
    /* the midpoint between each pair of neighbouring finite halves, and the floats either side of it */
    for (uint32_t i = 0; i < 0x7bff && n + 6 <= N; i += 3) {
        double lo = ua_half_to_float((uint16_t)i), hi = ua_half_to_float((uint16_t)(i + 1));
        float mid = (float)((lo + hi) / 2);   /* exact: a half has 11 significant bits */
        uint32_t b = bits(mid);
        x[n++] = mid; x[n++] = from_bits(b - 1); x[n++] = from_bits(b + 1);
        x[n++] = -mid; x[n++] = -from_bits(b - 1); x[n++] = -from_bits(b + 1);
    }
    /* every 4099th float bit pattern (NaNs left out: their payloads are compared in test_every_half) */
    for (uint64_t b = 0; b < 0x100000000ull && n < N; b += 4099)
        if ((b & 0x7fffffff) <= 0x7f800000) x[n++] = from_bits((uint32_t)b);
    ua_half_encode(x, h, n);
    for (size_t i = 0; i < n; i++) {
        uint16_t s = ua_half_from_float(x[i]);
        if (s != h[i]) fail_msg("%a: scalar 0x%04x, array 0x%04x", (double)x[i], s, h[i]);
#ifdef __FLT16_MAX__
        _Float16 c = (_Float16)x[i];
        uint16_t cb;
        memcpy(&cb, &c, sizeof cb);
        if (cb != s) fail_msg("%a: 0x%04x, the compiler's _Float16 is 0x%04x", (double)x[i], s, cb);
#endif
    }
    free(x);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_every_half),
        cmocka_unit_test(test_rounding_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
