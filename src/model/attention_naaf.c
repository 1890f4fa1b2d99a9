/* NAAF's pair score (include/uarda/attention.h, "NAAF's score"): the float and double
 * instantiations of attention_naaf.inc. */
#include "model/attention_naaf.h"
#include "core/fastmath.h"

#include <math.h>

#define REAL float
#define SUFFIX _f32
#define EXP expf
#define SQRT sqrtf
#define EXP_NONPOS ua_exp_nonpos
#define SELECT ua_select
#include "attention_naaf.inc"
#undef REAL
#undef SUFFIX
#undef EXP
#undef SQRT
#undef EXP_NONPOS
#undef SELECT

#define REAL double
#define SUFFIX _f64
#define EXP exp
#define SQRT sqrt
#define EXP_NONPOS exp
#define SELECT(c, a, b) ((c) ? (a) : (b))
#include "attention_naaf.inc"
#undef REAL
#undef SUFFIX
#undef EXP
#undef SQRT
#undef EXP_NONPOS
#undef SELECT

float ua_naaf_pair_forward_f32(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                               const float *G, const float *H, float *R, float *work)
{
    return naaf_forward_impl_f32(cfg, S, s_c, s_q, c, q, G, naaf_smoothing_in_work_f32(cfg, H, c, q, work), R, work);
}

void ua_naaf_pair_backward_f32(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                               const float *G, const float *H, float d_score, float *dS, float *dG, float *work)
{
    naaf_backward_impl_f32(cfg, S, s_c, s_q, c, q, G, naaf_smoothing_in_work_f32(cfg, H, c, q, work), d_score, dS,
                           dG, work);
}

float ua_naaf_pair_forward_smoothed_f32(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                                        const float *G, const float *P, float *R, float *work)
{
    return naaf_forward_impl_f32(cfg, S, s_c, s_q, c, q, G, cfg->form == UA_FORM_TEST ? P : NULL, R, work);
}

void ua_naaf_pair_backward_smoothed_f32(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                                        const float *G, const float *P, float d_score, float *dS, float *dG,
                                        float *work)
{
    naaf_backward_impl_f32(cfg, S, s_c, s_q, c, q, G, cfg->form == UA_FORM_TEST ? P : NULL, d_score, dS, dG, work);
}

void ua_naaf_smoothing_f32(const float *H, int q, float *P) { naaf_smoothing_f32(H, q, P); }

double ua_naaf_pair_forward_f64(const ua_attn_cfg *cfg, const double *S, size_t s_c, size_t s_q, int c, int q,
                                const double *G, const double *H, double *R, double *work)
{
    return naaf_forward_impl_f64(cfg, S, s_c, s_q, c, q, G, naaf_smoothing_in_work_f64(cfg, H, c, q, work), R, work);
}

void ua_naaf_pair_backward_f64(const ua_attn_cfg *cfg, const double *S, size_t s_c, size_t s_q, int c, int q,
                               const double *G, const double *H, double d_score, double *dS, double *dG,
                               double *work)
{
    naaf_backward_impl_f64(cfg, S, s_c, s_q, c, q, G, naaf_smoothing_in_work_f64(cfg, H, c, q, work), d_score, dS,
                           dG, work);
}
