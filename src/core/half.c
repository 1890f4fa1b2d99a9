/* IEEE half precision conversions (half.h). */
#include "uarda/half.h"

#include <string.h>

#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#define UA_HALF_F16C 1
#endif

uint16_t ua_half_from_float(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    const uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff));   /* NaN: quiet, payload's top */
    if (a >= 0x47800000u) return (uint16_t)(sign | 0x7c00);                        /* >= 2^16 (and Inf): Inf */
    if (a >= 0x38800000u) {
        /* a normal half: rebias the exponent (127 -> 15), keep 10 of the 23 mantissa bits and
         * round on the 13 dropped; a carry out of the mantissa moves to the next exponent
         * (65520 and up: to Inf), which is the right result */
        uint32_t h = (a >> 13) - ((uint32_t)(127 - 15) << 10), rest = a & 0x1fffu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    /* below 2^-14: a subnormal half k * 2^-24, k = mant * 2^(exp - 126) */
    const uint32_t exp = a >> 23, shift = 126 - exp;
    if (exp == 0 || shift > 24) return sign;   /* below 2^-25 (or exactly: the tie goes to the even 0) */
    const uint32_t mant = (a & 0x7fffffu) | 0x800000u, half_way = 1u << (shift - 1);
    uint32_t k = mant >> shift, rest = mant & ((1u << shift) - 1);
    if (rest > half_way || (rest == half_way && (k & 1))) k++;   /* k = 1024 is the smallest normal */
    return (uint16_t)(sign | k);
}

float ua_half_to_float(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f;
    uint32_t m = h & 0x3ff, x;
    if (e == 31) {
        x = sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0);   /* Inf, or a NaN made quiet */
    } else if (e != 0) {
        x = sign | ((e + 127 - 15) << 23) | (m << 13);
    } else if (m == 0) {
        x = sign;
    } else {   /* subnormal: m * 2^-24, normalised */
        uint32_t be = 127 - 14;
        while (!(m & 0x400)) { m <<= 1; be--; }
        x = sign | (be << 23) | ((m & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

void ua_half_encode(const float *x, uint16_t *h, size_t n)
{
    size_t i = 0;
#ifdef UA_HALF_F16C
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
    for (; i < n; i++) h[i] = ua_half_from_float(x[i]);
}

void ua_half_decode(const uint16_t *h, float *x, size_t n)
{
    size_t i = 0;
#ifdef UA_HALF_F16C
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
#endif
    for (; i < n; i++) x[i] = ua_half_to_float(h[i]);
}
