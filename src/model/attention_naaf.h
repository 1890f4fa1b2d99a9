/* NAAF's pair score (internal): the float and double instantiations of attention_naaf.inc,
 * dispatched from ua_attn_pair_* (attention.c) when cfg->score is UA_SCORE_NAAF. */
#ifndef UARDA_ATTENTION_NAAF_H
#define UARDA_ATTENTION_NAAF_H

#include "uarda/attention.h"

float ua_naaf_pair_forward_f32(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                               const float *G, const float *H, float *R, float *work);
void ua_naaf_pair_backward_f32(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                               const float *G, const float *H, float d_score, float *dS, float *dG, float *work);
/* the same with the transposed smoothing weights P of the test form (ua_naaf_smoothing_f32) instead of H */
float ua_naaf_pair_forward_smoothed_f32(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                                        const float *G, const float *P, float *R, float *work);
void ua_naaf_pair_backward_smoothed_f32(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                                        const float *G, const float *P, float d_score, float *dS, float *dG,
                                        float *work);
/* P[k][l] = softmax_l(5 H[k][l]) for the q x q query Gram matrix H, written transposed:
 * PT[l * q + k] (PT may be H) */
void ua_naaf_smoothing_f32(const float *H, int q, float *PT);
double ua_naaf_pair_forward_f64(const ua_attn_cfg *cfg, const double *S, size_t s_c, size_t s_q, int c, int q,
                                const double *G, const double *H, double *R, double *work);
void ua_naaf_pair_backward_f64(const ua_attn_cfg *cfg, const double *S, size_t s_c, size_t s_q, int c, int q,
                               const double *G, const double *H, double d_score, double *dS, double *dG,
                               double *work);

#endif
