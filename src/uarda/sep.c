/* UARDA's separation losses (spec uarda.md 4.8): one implementation over a float or a double
 * view of the samples; include/uarda/relevance.h has the formulas. */
#include "uarda/relevance.h"
#include "uarda/relevance_internal.h"

#include <math.h>
#include <stddef.h>

/* ---------------------------------------------------------------------------------------------
 * separation losses: one implementation over a float or double view of the samples */

typedef struct { const float *f; const double *d; } sample_view;
typedef struct { float *f; double *d; } grad_view;

static double sv_get(sample_view v, int i) { return v.f ? (double)v.f[i] : v.d[i]; }
static void gv_set(grad_view g, int i, double x)
{
    if (g.f) g.f[i] = (float)x;
    else if (g.d) g.d[i] = x;
}

static void view_moments(sample_view v, int n, double *mu, double *sigma)
{
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += sv_get(v, i);
    double m = sum / n, ss = 0.0;
    for (int i = 0; i < n; i++) { double d = sv_get(v, i) - m; ss += d * d; }
    *mu = m;
    *sigma = sqrt(ss / (n - 1));
}

static double norm_cdf(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }
static double norm_pdf(double z) { return exp(-0.5 * z * z) / sqrt(2.0 * 3.14159265358979323846); }

/* d sample = dmu / n + dsigma (x - mu) / ((n - 1) sigma), with no sigma path when guarded */
static void moment_grads(sample_view v, int n, double mu, double sigma, int guarded, double dmu, double dsigma,
                         grad_view g)
{
    for (int i = 0; i < n; i++) {
        double d = dmu / n;
        if (!guarded) d += dsigma * (sv_get(v, i) - mu) / ((n - 1) * sigma);
        gv_set(g, i, d);
    }
}

static double sep_loss(const ua_relevance_cfg *cfg, double t, sample_view pos, int n_pos, sample_view neg, int n_neg,
                       grad_view dp, grad_view dn)
{
    for (int i = 0; i < n_pos; i++) gv_set(dp, i, 0.0);
    for (int i = 0; i < n_neg; i++) gv_set(dn, i, 0.0);
    const double alpha = cfg->alpha;
    if (cfg->sep == UA_SEP_GAUSS) {
        if (n_pos < 2 || n_neg < 2) return 0.0;
        double mp, sp, mn, sn;
        view_moments(pos, n_pos, &mp, &sp);
        view_moments(neg, n_neg, &mn, &sn);
        int gp = !(sp >= 1e-4), gn = !(sn >= 1e-4);
        if (gp) sp = 1e-4;
        if (gn) sn = 1e-4;
        const double zp = (t - mp) / sp, zn = (t - mn) / sn;
        const double loss = norm_cdf(zp) + alpha * (1.0 - norm_cdf(zn));
        const double fp = norm_pdf(zp), fn = norm_pdf(zn);
        moment_grads(pos, n_pos, mp, sp, gp, -fp / sp, -fp * zp / sp, dp);
        moment_grads(neg, n_neg, mn, sn, gn, alpha * fn / sn, alpha * fn * zn / sn, dn);
        return loss;
    }
    if (cfg->sep == UA_SEP_HINGE) {
        const double delta = cfg->hinge_delta;
        double lp = 0.0, ln = 0.0;
        for (int i = 0; i < n_pos; i++) {
            double h = t + delta - sv_get(pos, i);
            if (h > 0) { lp += h; gv_set(dp, i, -1.0 / n_pos); }
        }
        for (int i = 0; i < n_neg; i++) {
            double h = sv_get(neg, i) - t + delta;
            if (h > 0) { ln += h; gv_set(dn, i, alpha / n_neg); }
        }
        return (n_pos > 0 ? lp / n_pos : 0.0) + alpha * (n_neg > 0 ? ln / n_neg : 0.0);
    }
    return 0.0;
}

double ua_sep_loss(const ua_relevance_cfg *cfg, double t, const float *pos, int n_pos, const float *neg, int n_neg,
                   float *d_pos, float *d_neg)
{
    return sep_loss(cfg, t, (sample_view){pos, NULL}, n_pos, (sample_view){neg, NULL}, n_neg,
                    (grad_view){d_pos, NULL}, (grad_view){d_neg, NULL});
}

double ua_sep_loss_f64(const ua_relevance_cfg *cfg, double t, const double *pos, int n_pos, const double *neg,
                       int n_neg, double *d_pos, double *d_neg)
{
    return sep_loss(cfg, t, (sample_view){NULL, pos}, n_pos, (sample_view){NULL, neg}, n_neg,
                    (grad_view){NULL, d_pos}, (grad_view){NULL, d_neg});
}
