/* Deterministic random numbers: one generator per purpose (init, data order, synthesis),
 * each seeded from --seed and a purpose tag, so that adding draws for one purpose never
 * changes another's stream. PCG32 (O'Neill) with a 64-bit state; the state is two integers,
 * saved in checkpoints so that --resume continues the same stream. */
#ifndef UARDA_RNG_H
#define UARDA_RNG_H

#include <stdint.h>

typedef struct ua_rng {
    uint64_t state;
    uint64_t inc;   /* odd */
} ua_rng;

void     ua_rng_seed(ua_rng *r, uint64_t seed, uint64_t stream);
uint32_t ua_rng_u32(ua_rng *r);
uint64_t ua_rng_u64(ua_rng *r);
/* uniform in [0, n) without modulo bias; n > 0 */
uint32_t ua_rng_below(ua_rng *r, uint32_t n);
/* uniform float in [0, 1) with 24 random bits, and double in [0, 1) with 53 */
float    ua_rng_unif(ua_rng *r);
double   ua_rng_unif_double(ua_rng *r);
/* uniform in [lo, hi) */
float    ua_rng_range(ua_rng *r, float lo, float hi);
/* standard normal (Box-Muller, no cached second value so the state is just two integers) */
double   ua_rng_normal(ua_rng *r);
/* Fisher-Yates shuffle of idx[0..n) */
void     ua_rng_shuffle(ua_rng *r, int *idx, int n);

/* purpose tags (stream ids) */
enum { UA_RNG_INIT = 1, UA_RNG_ORDER = 2, UA_RNG_SYNTH = 3, UA_RNG_THRESH = 4 };

#endif
