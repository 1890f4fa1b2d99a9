#include "uarda/rng.h"

#include <math.h>

void ua_rng_seed(ua_rng *r, uint64_t seed, uint64_t stream)
{
    r->state = 0;
    r->inc = (stream << 1u) | 1u;
    ua_rng_u32(r);
    r->state += seed;
    ua_rng_u32(r);
}

uint32_t ua_rng_u32(ua_rng *r)
{
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

uint64_t ua_rng_u64(ua_rng *r)
{
    uint64_t hi = ua_rng_u32(r);
    return (hi << 32) | ua_rng_u32(r);
}

uint32_t ua_rng_below(ua_rng *r, uint32_t n)
{
    uint32_t threshold = (-n) % n;
    for (;;) {
        uint32_t x = ua_rng_u32(r);
        if (x >= threshold) return x % n;
    }
}

float ua_rng_unif(ua_rng *r) { return (float)(ua_rng_u32(r) >> 8) * (1.0f / 16777216.0f); }

double ua_rng_unif_double(ua_rng *r) { return (double)(ua_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

float ua_rng_range(ua_rng *r, float lo, float hi) { return lo + (hi - lo) * ua_rng_unif(r); }

double ua_rng_normal(ua_rng *r)
{
    double u1 = ua_rng_unif_double(r), u2 = ua_rng_unif_double(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void ua_rng_shuffle(ua_rng *r, int *idx, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)ua_rng_below(r, (uint32_t)i + 1u);
        int t = idx[i]; idx[i] = idx[j]; idx[j] = t;
    }
}
