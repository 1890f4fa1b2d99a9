/* SCAN cross attention per (image, caption) pair: option names and the float/double
 * instantiations of the kernel in attention_pair.inc. */
#include "uarda/attention.h"
#include "core/fastmath.h"
#include "model/attention_naaf.h"

#include <math.h>
#include <string.h>

#define REAL float
#define SUFFIX _f32
#define EXP expf
#define LOG logf
#define SQRT sqrtf
#define EXP_NONPOS ua_exp_nonpos
#define SELECT ua_select
#include "attention_pair.inc"
#undef REAL
#undef SUFFIX
#undef EXP
#undef LOG
#undef SQRT
#undef EXP_NONPOS
#undef SELECT

#define REAL double
#define SUFFIX _f64
#define EXP exp
#define LOG log
#define SQRT sqrt
#define EXP_NONPOS exp
#define SELECT(c, a, b) ((c) ? (a) : (b))
#include "attention_pair.inc"
#undef REAL
#undef SUFFIX
#undef EXP
#undef LOG
#undef SQRT
#undef EXP_NONPOS
#undef SELECT

/* the work layout is X | P | A | ... (attention_pair.inc), A query-major */
const float *ua_attn_pair_weights(const float *work, int c, int q) { return work + 2 * (size_t)c * (size_t)q; }

void ua_attn_pair_counts(const ua_attn_cfg *cfg, const float *work, int c, int q, int *n_irrelevant, int *n_masked)
{
    const float *X = work, *rel = work + 4 * (size_t)c * q + 5 * (size_t)q;
    int irr = 0, masked = 0;
    const float t = (float)cfg->threshold;
    const int naaf = cfg->score == UA_SCORE_NAAF;   /* the same layout (attention_naaf.inc) */
    if (naaf)   /* the queries whose feature part is skipped: no entry above t */
        for (int k = 0; k < q; k++) {
            int any = 0;
            for (int ci = 0; ci < c; ci++) any |= X[(size_t)k * c + ci] > t;
            irr += !any;
        }
    else if (cfg->irr != UA_IRR_SCAN)
        for (int k = 0; k < q; k++) irr += rel[k] == 0;
    if (cfg->mask == UA_MASK_HARD || naaf)
        for (size_t o = 0; o < (size_t)c * q; o++) masked += !(X[o] > t);
    *n_irrelevant = irr;
    *n_masked = masked;
}

ua_attn_cfg ua_attn_at(const ua_attn_opts *o, double threshold)
{
    ua_attn_cfg c = {0};
    c.opt = *o;
    c.threshold = threshold;
    return c;
}

void ua_attn_set_skip(ua_attn_cfg *cfg, int on)
{
    cfg->skip = on != 0;
    cfg->full = !on;
}

/* the kernels' buffers (attention_pair.inc, attention_naaf.inc), then NAAF's smoothing weights
 * (q x q) for the callers that pass the query Gram matrix */
size_t ua_attn_pair_work(int c, int q)
{
    return 4 * (size_t)c * (size_t)q + 6 * (size_t)q + 4 * (size_t)c + (size_t)q * (size_t)q;
}

int ua_attn_needs_query_gram(const ua_attn_opts *o) { return o->score == UA_SCORE_NAAF && o->form == UA_FORM_TEST; }

int ua_attn_thresholded(const ua_attn_opts *o)
{
    return o->score == UA_SCORE_NAAF || o->clip != UA_CLIP_SCAN || o->mask != UA_MASK_OFF ||
           o->irr != UA_IRR_SCAN || o->logit != UA_LOGIT_SCANLIKE;
}

float ua_attn_pair_forward_qgram(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                                 const float *G, const float *H, const float *qn, float *R, float *work)
{
    if (cfg->score == UA_SCORE_NAAF) return ua_naaf_pair_forward_f32(cfg, S, s_c, s_q, c, q, G, H, R, work);
    return pair_forward_impl_f32(cfg, S, s_c, s_q, c, q, G, qn, R, work);
}

void ua_attn_pair_backward_qgram(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                                 const float *G, const float *H, const float *qn, float d_score, float *dS, float *dG,
                                 float *dqn, float *work)
{
    if (cfg->score == UA_SCORE_NAAF) ua_naaf_pair_backward_f32(cfg, S, s_c, s_q, c, q, G, H, d_score, dS, dG, work);
    else pair_backward_impl_f32(cfg, S, s_c, s_q, c, q, G, qn, d_score, dS, dG, dqn, work);
}

float ua_attn_pair_forward_smoothed(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                                    const float *G, const float *P, const float *qn, float *R, float *work)
{
    if (cfg->score == UA_SCORE_NAAF) return ua_naaf_pair_forward_smoothed_f32(cfg, S, s_c, s_q, c, q, G, P, R, work);
    return pair_forward_impl_f32(cfg, S, s_c, s_q, c, q, G, qn, R, work);
}

void ua_attn_pair_backward_smoothed(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                                    const float *G, const float *P, const float *qn, float d_score, float *dS,
                                    float *dG, float *dqn, float *work)
{
    if (cfg->score == UA_SCORE_NAAF) ua_naaf_pair_backward_smoothed_f32(cfg, S, s_c, s_q, c, q, G, P, d_score, dS, dG, work);
    else pair_backward_impl_f32(cfg, S, s_c, s_q, c, q, G, qn, d_score, dS, dG, dqn, work);
}

void ua_attn_query_smoothing(const float *H, int q, float *P) { ua_naaf_smoothing_f32(H, q, P); }

float ua_attn_pair_forward(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                           const float *G, const float *qn, float *R, float *work)
{
    return ua_attn_pair_forward_qgram(cfg, S, s_c, s_q, c, q, G, NULL, qn, R, work);
}

void ua_attn_pair_backward(const ua_attn_cfg *cfg, const float *S, size_t s_c, size_t s_q, int c, int q,
                           const float *G, const float *qn, float d_score, float *dS, float *dG, float *dqn,
                           float *work)
{
    ua_attn_pair_backward_qgram(cfg, S, s_c, s_q, c, q, G, NULL, qn, d_score, dS, dG, dqn, work);
}

double ua_attn_pair_forward_qgram_f64(const ua_attn_cfg *cfg, const double *S, size_t s_c, size_t s_q, int c, int q,
                                      const double *G, const double *H, const double *qn, double *R, double *work)
{
    if (cfg->score == UA_SCORE_NAAF) return ua_naaf_pair_forward_f64(cfg, S, s_c, s_q, c, q, G, H, R, work);
    return pair_forward_impl_f64(cfg, S, s_c, s_q, c, q, G, qn, R, work);
}

void ua_attn_pair_backward_qgram_f64(const ua_attn_cfg *cfg, const double *S, size_t s_c, size_t s_q, int c, int q,
                                     const double *G, const double *H, const double *qn, double d_score, double *dS,
                                     double *dG, double *dqn, double *work)
{
    if (cfg->score == UA_SCORE_NAAF) ua_naaf_pair_backward_f64(cfg, S, s_c, s_q, c, q, G, H, d_score, dS, dG, work);
    else pair_backward_impl_f64(cfg, S, s_c, s_q, c, q, G, qn, d_score, dS, dG, dqn, work);
}

double ua_attn_pair_forward_f64(const ua_attn_cfg *cfg, const double *S, size_t s_c, size_t s_q, int c, int q,
                                const double *G, const double *qn, double *R, double *work)
{
    return ua_attn_pair_forward_qgram_f64(cfg, S, s_c, s_q, c, q, G, NULL, qn, R, work);
}

void ua_attn_pair_backward_f64(const ua_attn_cfg *cfg, const double *S, size_t s_c, size_t s_q, int c, int q,
                               const double *G, const double *qn, double d_score, double *dS, double *dG,
                               double *dqn, double *work)
{
    ua_attn_pair_backward_qgram_f64(cfg, S, s_c, s_q, c, q, G, NULL, qn, d_score, dS, dG, dqn, work);
}

static const char *const DIRECTIONS[] = {"t2i", "i2t"};
static const char *const NORMS[] = {"softmax", "l2norm", "clipped_l2norm", "l1norm", "clipped_l1norm", "clipped", "no_norm"};
static const char *const AGGS[] = {"LogSumExp", "Mean", "Max", "Sum"};

static int find(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++) if (strcmp(names[i], s) == 0) return i;
    return -1;
}

static const char *const CLIPS[] = {"scan", "uarda"};
static const char *const MASKS[] = {"off", "hard"};
static const char *const LOGITS[] = {"scanlike", "raw"};
static const char *const IRRS[] = {"scan", "zero", "neg"};
static const char *const SCORES[] = {"scan", "naaf"};
static const char *const FORMS[] = {"test", "train"};

int ua_direction_parse(const char *s) { return find(DIRECTIONS, 2, s); }
int ua_clip_parse(const char *s) { return find(CLIPS, 2, s); }
int ua_mask_parse(const char *s) { return find(MASKS, 2, s); }
int ua_logit_parse(const char *s) { return find(LOGITS, 2, s); }
int ua_irr_parse(const char *s) { return find(IRRS, 3, s); }
int ua_score_parse(const char *s) { return find(SCORES, 2, s); }
int ua_score_form_parse(const char *s) { return find(FORMS, 2, s); }
const char *ua_score_name(ua_score_mode m) { return SCORES[m]; }
const char *ua_score_form_name(ua_score_form f) { return FORMS[f]; }
const char *ua_clip_name(ua_clip_mode m) { return CLIPS[m]; }
const char *ua_mask_name(ua_mask_mode m) { return MASKS[m]; }
const char *ua_logit_name(ua_logit_mode m) { return LOGITS[m]; }
const char *ua_irr_name(ua_irr_mode m) { return IRRS[m]; }
int ua_feature_norm_parse(const char *s) { return find(NORMS, 7, s); }
int ua_agg_parse(const char *s) { return find(AGGS, 4, s); }
const char *ua_direction_name(ua_direction d) { return DIRECTIONS[d]; }
const char *ua_feature_norm_name(ua_feature_norm n) { return NORMS[n]; }
const char *ua_agg_name(ua_agg a) { return AGGS[a]; }
