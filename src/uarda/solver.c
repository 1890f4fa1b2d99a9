/* UARDA's threshold: the closed-form solver and the estimators that feed it (spec uarda.md
 * 2.3-2.4, 4.7): NAAF's caption-by-caption estimator, the clean batch estimator and the mixture
 * fit of the relevant component; include/uarda/relevance.h has the procedures. */
#include "uarda/relevance.h"
#include "uarda/relevance_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * the closed-form solver */

static int in_unit(double x) { return x >= 0.0 && x <= 1.0; }   /* false for NaN */

int ua_threshold_solve(ua_t_est est, double alpha, double mu_pos, double sigma_pos, double mu_neg,
                       double sigma_neg, double t_old, double safe_old, ua_threshold_solution *out)
{
    ua_threshold_solution r;
    memset(&r, 0, sizeof r);
    const int clean = est == UA_T_EST_CLEAN;
    if (clean) {
        if (!(sigma_pos >= 1e-4)) sigma_pos = 1e-4;
        if (!(sigma_neg >= 1e-4)) sigma_neg = 1e-4;
    }
    const double vp = sigma_pos * sigma_pos, vn = sigma_neg * sigma_neg;
    r.A = vp - vn;
    r.B = 2.0 * (mu_pos * vn - mu_neg * vp);
    const double ratio = sigma_neg / (alpha * sigma_pos);
    r.C = (mu_neg * sigma_pos) * (mu_neg * sigma_pos) - (mu_pos * sigma_neg) * (mu_pos * sigma_neg) +
          2.0 * vp * vn * log(clean ? ratio : ratio + 1e-8);
    r.E = r.B * r.B - 4.0 * r.A * r.C;
    r.degenerate = fabs(r.A) < 1e-6;
    r.root = NAN;
    r.safe_raw = mu_pos - 3.0 * sigma_pos;
    int have_root;

    if (!clean) {
        /* NAAF: the quadratic formula with its 1e-10 in the denominator; t_safe only with a root */
        have_root = r.E > 0;
        r.t = t_old;
        r.t_safe = safe_old;
        if (have_root) {
            r.root = (-r.B + sqrt(r.E)) / (2.0 * r.A + 1e-10);
            r.t = r.root;
            r.t_safe = r.safe_raw;
        }
        /* set to 0 (not clipped) outside [0, 1] */
        if (!in_unit(r.t)) { r.t = 0.0; r.t_out_of_range = 1; }
        if (!in_unit(r.t_safe)) { r.t_safe = 0.0; r.safe_out_of_range = 1; }
    } else {
        if (r.degenerate) {
            have_root = r.B != 0.0 && isfinite(r.C);
            if (have_root) r.root = -r.C / r.B;
        } else {
            have_root = r.E > 0;
            if (have_root) {
                /* (-B + sqrt(E)) / (2A) = 2C / (-B - sqrt(E)); take the form without cancellation */
                double q = sqrt(r.E);
                r.root = r.B >= 0 ? 2.0 * r.C / (-r.B - q) : (-r.B + q) / (2.0 * r.A);
            }
        }
        if (have_root && !isfinite(r.root)) { have_root = 0; r.root = NAN; }
        r.t = t_old;
        if (have_root) {
            r.t = r.root;
            if (r.t < 0.0) { r.t = 0.0; r.t_out_of_range = 1; }
            if (r.t > 1.0) { r.t = 1.0; r.t_out_of_range = 1; }
        }
        r.t_safe = r.safe_raw;
        if (!isfinite(r.t_safe)) { r.t_safe = safe_old; r.safe_out_of_range = 1; }
        if (r.t_safe < 0.0) { r.t_safe = 0.0; r.safe_out_of_range = 1; }
        if (r.t_safe > 1.0) { r.t_safe = 1.0; r.safe_out_of_range = 1; }
    }
    r.status = !have_root ? UA_SOLVE_NO_ROOT
             : r.t_out_of_range ? UA_SOLVE_OUT_OF_RANGE
             : r.degenerate ? UA_SOLVE_DEGENERATE : UA_SOLVE_OK;
    if (out) *out = r;
    return r.status;
}


/* mean and unbiased std in double, two passes, in index order */
static void moments(const float *x, int n, double *mu, double *sigma)
{
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += x[i];
    double m = n > 0 ? sum / n : 0.0;
    double ss = 0.0;
    for (int i = 0; i < n; i++) { double d = x[i] - m; ss += d * d; }
    *mu = m;
    *sigma = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
}

/* ---------------------------------------------------------------------------------------------
 * mixture: the relevant component of the positive samples */

static double gauss_pdf(double x, double mu, double sigma)
{
    double z = (x - mu) / sigma;
    return exp(-0.5 * z * z) / (sigma * 2.5066282746310002);  /* sqrt(2 pi) */
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int ua_relevant_component_fit(const float *pos, int n, double mu_neg, double sigma_neg, double *mu, double *sigma,
                              double *weight)
{
    moments(pos, n, mu, sigma);
    *weight = 1.0;
    if (n < 4 || !(sigma_neg > 0) || !isfinite(mu_neg)) return -1;
    double *resp = malloc((size_t)n * sizeof *resp);
    float *sorted = malloc((size_t)n * sizeof *sorted);
    if (!resp || !sorted) { free(resp); free(sorted); return -1; }
    /* start from the upper half of the samples, weight 1/2 */
    memcpy(sorted, pos, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_float);
    double m, s, w = 0.5;
    moments(sorted + n / 2, n - n / 2, &m, &s);
    free(sorted);
    if (s < 1e-4) s = 1e-4;
    int ok = 1;
    for (int it = 0; it < UA_MIXTURE_ITERS && ok; it++) {
        /* E: responsibility of the relevant component for each sample */
        double sr = 0.0, srx = 0.0;
        for (int i = 0; i < n; i++) {
            double a = w * gauss_pdf(pos[i], m, s), b = (1.0 - w) * gauss_pdf(pos[i], mu_neg, sigma_neg);
            resp[i] = a + b > 0 ? a / (a + b) : (pos[i] > m ? 1.0 : 0.0);  /* both underflow: the nearer side */
            sr += resp[i];
            srx += resp[i] * pos[i];
        }
        if (!(sr >= 2.0)) { ok = 0; break; }
        /* M: the relevant component's weight, mean and std; the irrelevant one stays N(mu-, sigma-) */
        double m_new = srx / sr, ss = 0.0;
        for (int i = 0; i < n; i++) { double d = pos[i] - m_new; ss += resp[i] * d * d; }
        double s_new = sqrt(ss / sr), w_new = sr / n;
        if (s_new < 1e-4) s_new = 1e-4;
        int done = fabs(m_new - m) < 1e-10 && fabs(s_new - s) < 1e-10 && fabs(w_new - w) < 1e-10;
        m = m_new; s = s_new; w = w_new;
        if (done) break;
    }
    free(resp);
    /* a component that sank onto the negatives, or holds almost nothing, explains no relevance */
    if (!ok || !(m > mu_neg) || !(w >= UA_MIXTURE_MIN_WEIGHT) || !isfinite(m) || !isfinite(s)) return -1;
    *mu = m; *sigma = s; *weight = w;
    return 0;
}

/* the negatives' Gaussian as an update sees it */
static void negative_moments(const float *neg, int n, double *mu, double *sigma)
{
    moments(neg, n, mu, sigma);
    if (*sigma < 1e-4) *sigma = 1e-4;
}

int ua_relevant_component_fit_samples(const float *pos, int n_pos, const float *neg, int n_neg, double *mu,
                                      double *sigma, double *weight)
{
    double mn, sn;
    if (n_neg < 2) {
        moments(pos, n_pos, mu, sigma);
        *weight = 1.0;
        return -1;
    }
    negative_moments(neg, n_neg, &mn, &sn);
    return ua_relevant_component_fit(pos, n_pos, mn, sn, mu, sigma, weight);
}

static void ring_push(float *ring, int size, int *len, int *head, float x)
{
    ring[*head] = x;
    *head = *head + 1 == size ? 0 : *head + 1;
    if (*len < size) (*len)++;
}

void ua_relevance_update_clean_samples(ua_relevance_state *s, const ua_relevance_cfg *cfg, const float *pos,
                                       const float *neg, int n)
{
    if (cfg->t_mode != UA_T_ADAPTIVE) return;
    for (int i = 0; i < n; i++) {
        ring_push(s->ring_pos, s->ring_size, &s->pos_len, &s->pos_head, pos[i]);
        ring_push(s->ring_neg, s->ring_size, &s->neg_len, &s->neg_head, neg[i]);
    }
    if (s->pos_len < cfg->min_samples || s->neg_len < cfg->min_samples) {
        s->t_tr = 0.0;
        s->t_te = 0.0;
        return;
    }
    double mp, sp, mn, sn, w = 1.0;
    negative_moments(s->ring_neg, s->neg_len, &mn, &sn);
    if (cfg->t_est == UA_T_EST_MIXTURE) {
        if (ua_relevant_component_fit(s->ring_pos, s->pos_len, mn, sn, &mp, &sp, &w) != 0) s->mixture_fallbacks++;
    } else {
        moments(s->ring_pos, s->pos_len, &mp, &sp);
    }
    if (sp < 1e-4) sp = 1e-4;
    s->mu_pos = mp; s->sigma_pos = sp; s->mu_neg = mn; s->sigma_neg = sn; s->pos_weight = w;
    s->n_pos = s->pos_len;
    s->n_neg = s->neg_len;
    ua_threshold_solution r;
    int st = ua_threshold_solve(UA_T_EST_CLEAN, cfg->alpha, mp, sp, mn, sn, s->t_tr, s->t_te, &r);
    /* mixture: the safe boundary is never stricter than the training one (it exists to cut
     * fewer relevant words than t does: alpha* <= alpha) */
    if (cfg->t_est == UA_T_EST_MIXTURE && st != UA_SOLVE_NO_ROOT && r.t_safe > r.t) r.t_safe = r.t;
    const double rho = cfg->ema;
    if (st != UA_SOLVE_NO_ROOT) s->t_tr = rho * r.t + (1.0 - rho) * s->t_tr;   /* no root: keep the old t */
    s->t_te = rho * r.t_safe + (1.0 - rho) * s->t_te;
    s->updates++;
    s->clip_events += r.t_out_of_range;
    s->clip_events_safe += r.safe_out_of_range;
}

int ua_relevance_update_clean(ua_relevance_state *s, const ua_relevance_cfg *cfg, const float *scores, int B,
                              const int *lengths, const int *image_of, ua_word_max_fn word_max, void *ctx, ua_rng *rng,
                              ua_err *err)
{
    if (cfg->t_mode != UA_T_ADAPTIVE) return 0;
    if (ua_rel_collect(&s->batch, cfg, scores, B, lengths, image_of, word_max, ctx, rng, err) < 0) return -1;
    ua_relevance_update_clean_samples(s, cfg, s->batch.pos, s->batch.neg, s->batch.n);
    return 0;
}

void ua_relevance_naaf_begin_batch(ua_relevance_state *s) { ua_rel_samples_clear(&s->batch); }

int ua_relevance_naaf_caption(ua_relevance_state *s, const ua_relevance_cfg *cfg, const float *col, int c, int B,
                              int n_words, ua_word_max_fn word_max, void *ctx, ua_rng *rng, ua_err *err)
{
    if (cfg->t_mode != UA_T_ADAPTIVE) return 0;
    const int gated_before = s->batch.n_captions;
    /* NAAF's gate and negative: argmax and argmin over the batch's slots, whatever image they hold */
    if (ua_rel_samples_add_caption(&s->batch, cfg, col, 1, B, c, NULL, n_words, word_max, ctx, rng, err) < 0) return -1;
    const int gated = s->batch.n_captions > gated_before;
    const int N = s->batch.n;
    if (gated && N > cfg->min_samples) {
        double mp, sp, mn, sn;
        moments(s->batch.pos, N, &mp, &sp);
        moments(s->batch.neg, N, &mn, &sn);
        s->mu_pos = mp; s->sigma_pos = sp; s->mu_neg = mn; s->sigma_neg = sn;
        s->n_pos = N;
        s->n_neg = N;
        const double t_old = s->t_tr, s_old = s->t_te;
        ua_threshold_solution r;
        ua_threshold_solve(UA_T_EST_NAAF_COMPAT, cfg->alpha, mp, sp, mn, sn, t_old, s_old, &r);
        const double rho = cfg->ema;
        s->t_tr = rho * r.t + (1.0 - rho) * t_old;
        s->t_te = rho * r.t_safe + (1.0 - rho) * s_old;
        s->updates++;
        s->clip_events += r.t_out_of_range;
        s->clip_events_safe += r.safe_out_of_range;
    }
    if (N < cfg->min_samples) {
        s->t_tr = 0.0;
        s->t_te = 0.0;
    }
    return 0;
}
