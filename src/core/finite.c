/* Non-finite guards (finite.h). */
#include "uarda/finite.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* A float is NaN or Inf exactly when its exponent bits are all ones. Blocks are tested with a
 * branch-free OR of that condition (a loop the compiler vectorizes), and only a block that holds
 * one is searched element by element. */
long long ua_first_nonfinite(const float *x, size_t n)
{
    enum { BLOCK = 1024 };
    for (size_t b = 0; b < n; b += BLOCK) {
        size_t end = n - b < BLOCK ? n : b + BLOCK;
        uint32_t any = 0;
        for (size_t i = b; i < end; i++) {
            uint32_t u;
            memcpy(&u, x + i, sizeof u);
            any |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
        }
        if (!any) continue;
        for (size_t i = b; i < end; i++)
            if (!isfinite(x[i])) return (long long)i;
    }
    return -1;
}

long long ua_first_nonfinite_f64(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return (long long)i;
    return -1;
}

const char *ua_nonfinite_name(float v)
{
    return isnan(v) ? "nan" : v > 0 ? "inf" : v < 0 ? "-inf" : "finite";
}

int ua_check_regions_finite(const float *x, int n_img, int R, int D, int first, const char *name, ua_err *err)
{
    size_t n = (size_t)n_img * (size_t)R * (size_t)D;
    long long k = ua_first_nonfinite(x, n);
    if (k < 0) return 0;
    long long per_image = (long long)R * D;
    return ua_fail(err, "%s: image %lld, region %lld, feature %lld is %s (region features must be finite)",
                   name ? name : "region features", first + k / per_image, (k % per_image) / D, k % D,
                   ua_nonfinite_name(x[k]));
}

int ua_check_scores(const float *s, int n_img, int n_cap, ua_err *err)
{
    long long k = ua_first_nonfinite(s, (size_t)n_img * (size_t)n_cap);
    if (k < 0) return 0;
    return ua_fail(err, "the similarity of image %lld and caption %lld is %s (a non-finite weight or input; no recall "
                   "or ranking is computed from it)", k / n_cap, k % n_cap, ua_nonfinite_name(s[k]));
}
