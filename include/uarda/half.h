/* IEEE 754 half precision (binary16), for compact gallery indexes (uarda index --index-dtype
 * f16): 1 sign bit, 5 exponent bits, 10 mantissa bits; largest finite 65504, smallest normal
 * 2^-14, subnormals down to 2^-24.
 *
 * Float to half rounds to nearest, ties to even (values of 65520 and more become infinity,
 * below 2^-25 zero, subnormal halves are kept); half to float is exact. A NaN stays a NaN with
 * its quiet bit set and the top bits of its payload. The array versions use the F16C
 * instructions when the build targets them (-march=native on a CPU that has them) and the
 * scalar code otherwise: the same bits either way (tests/test_half.c checks every half and a
 * sweep of floats). */
#ifndef UARDA_HALF_H
#define UARDA_HALF_H

#include <stddef.h>
#include <stdint.h>

uint16_t ua_half_from_float(float f);
float    ua_half_to_float(uint16_t h);

/* h[i] = half of x[i], and x[i] = float of h[i], for i < n */
void ua_half_encode(const float *x, uint16_t *h, size_t n);
void ua_half_decode(const uint16_t *h, float *x, size_t n);

/* 1 when the half h is finite (not an infinity or a NaN) */
static inline int ua_half_finite(uint16_t h) { return (h & 0x7c00) != 0x7c00; }

#endif
