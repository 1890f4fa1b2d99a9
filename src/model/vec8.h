/* 8-float vectors for the lanes kernels (attention_scan_lanes.c, attention_naaf_lanes.c): GCC's
 * vector extension, so that the same source runs on AVX2 (one register) or SSE (two), and a
 * build without AVX still compiles (its note on the vectors' ABI does not apply to these
 * file-local inline functions: CMakeLists.txt passes -Wno-psabi to the files that include this).
 * 16 lanes under AVX-512 were measured slower (a SCAN pair of 36 regions x 14 words 0.84 against
 * 0.69 us), so the width is 8 on every machine. Internal. */
#ifndef UARDA_MODEL_VEC8_H
#define UARDA_MODEL_VEC8_H

#include <stdint.h>
#include <string.h>

typedef float v8 __attribute__((vector_size(8 * sizeof(float))));
typedef int32_t v8i __attribute__((vector_size(8 * sizeof(int32_t))));

enum { LANES = 8 };

static inline v8 load8(const float *p)
{
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store8(float *p, v8 v) { memcpy(p, &v, sizeof v); }

static inline v8 splat8(float x) { return (v8){x, x, x, x, x, x, x, x}; }

/* m ? a : b, lane by lane (m: all ones or zeros, from a comparison) */
static inline v8 select8(v8i m, v8 a, v8 b) { return (v8)(((v8i)a & m) | ((v8i)b & ~m)); }

static inline v8 max8v(v8 a, v8 b) { return select8(a > b, a, b); }

/* the lanes 0..n-1 (n may be <= 0 or >= 8) */
static inline v8i first_lanes(int n)
{
    const v8i iota = {0, 1, 2, 3, 4, 5, 6, 7};
    return iota < (v8i){n, n, n, n, n, n, n, n};
}

/* exp(x) for x <= 0, lane by lane: ua_exp_nonpos (core/fastmath.h) in vectors, the same steps */
static inline v8 exp_nonpos8(v8 x)
{
    x = select8(x < splat8(-87.0f), splat8(-87.0f), x);
    const v8 shifter = splat8(12582912.0f);
    v8 kf = x * 1.44269504088896341f + shifter;
    const v8i k = (v8i)kf - 0x4B400000;
    kf -= shifter;
    v8 r = x - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    v8 p = splat8(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * (v8)((k + 127) << 23);
}

static inline float hsum8(v8 v)
{
    float l[LANES];
    memcpy(l, &v, sizeof l);
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

#endif
