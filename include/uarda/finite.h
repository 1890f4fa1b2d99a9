/* Non-finite guards: one NaN or Inf that enters (a region feature, a parameter) or is made (a
 * score, a loss) must stop the work with a message that says where it is, never flow on into a
 * model or a recall table (a NaN compares false, so it would rank as perfect). */
#ifndef UARDA_FINITE_H
#define UARDA_FINITE_H

#include <stddef.h>

#include "uarda/error.h"

/* the index of the first NaN or +-Inf of x[0, n), or -1 when all are finite */
long long ua_first_nonfinite(const float *x, size_t n);
long long ua_first_nonfinite_f64(const double *x, size_t n);
/* "nan", "inf" or "-inf" */
const char *ua_nonfinite_name(float v);

/* Region features [n_img, R, D] (image numbers counted from first): 0 when finite, else -1 and
 * "<name>: image I, region R, feature F is nan (region features must be finite)". */
int ua_check_regions_finite(const float *x, int n_img, int R, int D, int first, const char *name, ua_err *err);

/* A similarity matrix [n_img, n_cap]: 0 when finite, else -1 and "the similarity of image I and
 * caption J is nan" (what a model with a non-finite weight or input makes). */
int ua_check_scores(const float *s, int n_img, int n_cap, ua_err *err);

#endif
