/* Branch-free elementwise math that vectorizes (internal header). */
#ifndef UARDA_FASTMATH_H
#define UARDA_FASTMATH_H

#include <stdint.h>

/* cond ? a : b through bit masks: plain selects on floats are not if-converted by GCC under
 * -ftrapping-math, which would keep the loops that use them scalar */
static inline float ua_select(int cond, float a, float b)
{
    union { float f; int32_t i; } ua = {a}, ub = {b};
    const int32_t m = -cond;
    union { int32_t i; float f; } res = {(ua.i & m) | (ub.i & ~m)};
    return res.f;
}

/* exp(x) for x <= 0 without libm, branch-free so that loops over it vectorize (Cephes expf:
 * range reduction by k*ln2 in two parts, degree-6 polynomial, scaling by 2^k through the
 * exponent bits; about 1 ulp). Arguments below -87 are clamped (exp(-87) ~ 1.6e-38). */
static inline float ua_exp_nonpos(float x)
{
    x = ua_select(x < -87.0f, -87.0f, x);
    const float shifter = 12582912.0f;  /* 1.5 * 2^23: adding it rounds to an integer */
    float kf = x * 1.44269504088896341f + shifter;
    union { float f; int32_t i; } u = {kf};
    const int32_t k = u.i - 0x4B400000;
    kf -= shifter;
    float r = x - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } sc = {(k + 127) << 23};
    return p * sc.f;
}

#endif
