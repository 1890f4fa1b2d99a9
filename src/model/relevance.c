/* UARDA's adaptive relevance threshold and separation losses (spec uarda.md 2.3-2.4, 4.7, 4.8).
 * See include/uarda/relevance.h for the procedures; this file follows it line by line. */
#include "uarda/relevance.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * names */

static const char *const T_MODES[] = {"zero", "fixed", "adaptive"};
static const char *const T_ESTS[] = {"naaf_compat", "clean", "mixture"};
static const char *const NEG_SRCS[] = {"least", "hardest", "random"};
static const char *const T_TESTS[] = {"safe", "train", "fixed"};
static const char *const SEPS[] = {"none", "gauss", "hinge"};

static int find(const char *const *names, int n, const char *s)
{
    if (!s) return -1;
    for (int i = 0; i < n; i++) if (strcmp(names[i], s) == 0) return i;
    return -1;
}

static const char *name_of(const char *const *names, int n, int v) { return v >= 0 && v < n ? names[v] : "?"; }

int ua_t_mode_parse(const char *s) { return find(T_MODES, 3, s); }
int ua_t_est_parse(const char *s) { return find(T_ESTS, 3, s); }
int ua_neg_src_parse(const char *s) { return find(NEG_SRCS, 3, s); }
int ua_t_test_parse(const char *s) { return find(T_TESTS, 3, s); }
int ua_sep_parse(const char *s) { return find(SEPS, 3, s); }
const char *ua_t_mode_name(ua_t_mode m) { return name_of(T_MODES, 3, (int)m); }
const char *ua_t_est_name(ua_t_est e) { return name_of(T_ESTS, 3, (int)e); }
const char *ua_neg_src_name(ua_neg_src n) { return name_of(NEG_SRCS, 3, (int)n); }
const char *ua_t_test_name(ua_t_test t) { return name_of(T_TESTS, 3, (int)t); }
const char *ua_sep_name(ua_sep_mode s) { return name_of(SEPS, 3, (int)s); }

/* ---------------------------------------------------------------------------------------------
 * configuration */

enum { RING_MAX = 1 << 24 };

int ua_relevance_cfg_check(const ua_relevance_cfg *cfg, const char *name, ua_err *err)
{
    if ((unsigned)cfg->t_mode > UA_T_ADAPTIVE) return ua_fail(err, "%s: t_mode %d is not zero|fixed|adaptive", name, (int)cfg->t_mode);
    if ((unsigned)cfg->t_est > UA_T_EST_MIXTURE) return ua_fail(err, "%s: t_est %d is not naaf_compat|clean|mixture", name, (int)cfg->t_est);
    if ((unsigned)cfg->neg_src > UA_NEG_RANDOM) return ua_fail(err, "%s: neg_src %d is not least|hardest|random", name, (int)cfg->neg_src);
    if ((unsigned)cfg->t_test > UA_T_TEST_FIXED) return ua_fail(err, "%s: t_test %d is not safe|train|fixed", name, (int)cfg->t_test);
    if ((unsigned)cfg->sep > UA_SEP_HINGE) return ua_fail(err, "%s: sep %d is not none|gauss|hinge", name, (int)cfg->sep);
    if (!isfinite(cfg->t_fixed)) return ua_fail(err, "%s: t_fixed must be a finite number", name);
    if (!(cfg->alpha > 0) || !isfinite(cfg->alpha)) return ua_fail(err, "%s: alpha %g must be > 0", name, cfg->alpha);
    if (!(cfg->ema > 0 && cfg->ema <= 1)) return ua_fail(err, "%s: ema %g must be in (0, 1]", name, cfg->ema);
    if (!(cfg->lambda_sep >= 0) || !isfinite(cfg->lambda_sep)) return ua_fail(err, "%s: lambda_sep %g must be >= 0", name, cfg->lambda_sep);
    if (!(cfg->hinge_delta >= 0) || !isfinite(cfg->hinge_delta)) return ua_fail(err, "%s: hinge_delta %g must be >= 0", name, cfg->hinge_delta);
    if (cfg->ring_size < 2 || cfg->ring_size > RING_MAX) return ua_fail(err, "%s: ring_size %d must be in [2, %d]", name, cfg->ring_size, RING_MAX);
    const int rings = cfg->t_est != UA_T_EST_NAAF_COMPAT;
    int min_min = rings ? 2 : 1;
    if (cfg->min_samples < min_min) return ua_fail(err, "%s: min_samples %d must be >= %d", name, cfg->min_samples, min_min);
    if (rings && cfg->min_samples > cfg->ring_size)
        return ua_fail(err, "%s: min_samples %d exceeds ring_size %d (the rings would never leave their warm-up)", name,
                       cfg->min_samples, cfg->ring_size);
    return 0;
}

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

/* ---------------------------------------------------------------------------------------------
 * sample collection */

int ua_rel_ranked_first(const float *col, size_t stride, int B, int c)
{
    if (B <= 0 || c < 0 || c >= B) return 0;
    int best = 0;
    for (int k = 1; k < B; k++) if (col[(size_t)k * stride] > col[(size_t)best * stride]) best = k;
    return best == c;
}

int ua_rel_negative_image(ua_neg_src src, const float *col, size_t stride, int B, int c, ua_rng *rng)
{
    if (B < 2) return -1;
    int pick = -1;
    switch (src) {
    case UA_NEG_LEAST:
        for (int k = 0; k < B; k++)
            if (k != c && (pick < 0 || col[(size_t)k * stride] < col[(size_t)pick * stride])) pick = k;
        break;
    case UA_NEG_HARDEST:
        for (int k = 0; k < B; k++)
            if (k != c && (pick < 0 || col[(size_t)k * stride] > col[(size_t)pick * stride])) pick = k;
        break;
    case UA_NEG_RANDOM:
        if (!rng) return -1;
        pick = (int)ua_rng_below(rng, (uint32_t)(B - 1));
        if (pick >= c) pick++;
        break;
    }
    return pick;
}

void ua_rel_samples_clear(ua_rel_samples *s) { s->n = 0; s->n_captions = 0; }

void ua_rel_samples_free(ua_rel_samples *s)
{
    free(s->pos); free(s->neg); free(s->caption); free(s->word); free(s->neg_image);
    memset(s, 0, sizeof *s);
}

static int samples_reserve(ua_rel_samples *s, int need, ua_err *err)
{
    if (need <= s->cap) return 0;
    int cap = s->cap ? s->cap : 256;
    while (cap < need) {
        if (cap > (1 << 29)) return ua_fail(err, "relevance samples: %d samples are too many", need);
        cap *= 2;
    }
    float *p = realloc(s->pos, (size_t)cap * sizeof *p);
    if (p) s->pos = p;
    float *q = realloc(s->neg, (size_t)cap * sizeof *q);
    if (q) s->neg = q;
    int *a = realloc(s->caption, (size_t)cap * sizeof *a);
    if (a) s->caption = a;
    int *b = realloc(s->word, (size_t)cap * sizeof *b);
    if (b) s->word = b;
    int *d = realloc(s->neg_image, (size_t)cap * sizeof *d);
    if (d) s->neg_image = d;
    if (!p || !q || !a || !b || !d) return ua_fail(err, "out of memory for %d relevance samples", need);
    s->cap = cap;
    return 0;
}

int ua_rel_samples_add_caption(ua_rel_samples *s, const ua_relevance_cfg *cfg, const float *col, size_t stride,
                               int B, int c, int n_words, ua_word_max_fn word_max, void *ctx, ua_rng *rng,
                               ua_err *err)
{
    if (B < 2 || !ua_rel_ranked_first(col, stride, B, c)) return 0;
    if (cfg->neg_src == UA_NEG_RANDOM && !rng) return ua_fail(err, "relevance samples: neg_src random needs an rng");
    int k = ua_rel_negative_image(cfg->neg_src, col, stride, B, c, rng);
    if (k < 0) return ua_fail(err, "relevance samples: no negative image for caption %d of %d", c, B);
    if (n_words < 0) n_words = 0;
    if (samples_reserve(s, s->n + n_words, err)) return -1;
    for (int w = 0; w < n_words; w++) {
        int i = s->n + w;
        s->pos[i] = word_max(ctx, c, c, w);
        s->neg[i] = word_max(ctx, k, c, w);
        s->caption[i] = c;
        s->word[i] = w;
        s->neg_image[i] = k;
    }
    s->n += n_words;
    s->n_captions++;
    return n_words;
}

int ua_rel_collect(ua_rel_samples *s, const ua_relevance_cfg *cfg, const float *scores, int B, const int *lengths,
                   ua_word_max_fn word_max, void *ctx, ua_rng *rng, ua_err *err)
{
    ua_rel_samples_clear(s);
    for (int j = 0; j < B; j++)
        if (ua_rel_samples_add_caption(s, cfg, scores + j, (size_t)B, B, j, lengths[j], word_max, ctx, rng, err) < 0)
            return -1;
    return s->n;
}

/* ---------------------------------------------------------------------------------------------
 * state */

int ua_relevance_init(ua_relevance_state *s, const ua_relevance_cfg *cfg, ua_err *err)
{
    memset(s, 0, sizeof *s);
    if (cfg->ring_size < 2 || cfg->ring_size > RING_MAX)
        return ua_fail(err, "relevance state: ring_size %d must be in [2, %d]", cfg->ring_size, RING_MAX);
    s->ring_size = cfg->ring_size;
    s->pos_weight = 1.0;
    s->ring_pos = calloc((size_t)s->ring_size, sizeof *s->ring_pos);
    s->ring_neg = calloc((size_t)s->ring_size, sizeof *s->ring_neg);
    if (!s->ring_pos || !s->ring_neg) {
        ua_relevance_free(s);
        return ua_fail(err, "out of memory for relevance rings of %d samples", cfg->ring_size);
    }
    return 0;
}

void ua_relevance_free(ua_relevance_state *s)
{
    free(s->ring_pos);
    free(s->ring_neg);
    ua_rel_samples_free(&s->batch);
    memset(s, 0, sizeof *s);
}

double ua_relevance_t_train(const ua_relevance_state *s, const ua_relevance_cfg *cfg)
{
    switch (cfg->t_mode) {
    case UA_T_FIXED: return cfg->t_fixed;
    case UA_T_ADAPTIVE: return s->t_tr;
    default: return 0.0;
    }
}

double ua_relevance_t_test(const ua_relevance_state *s, const ua_relevance_cfg *cfg)
{
    switch (cfg->t_mode) {
    case UA_T_FIXED: return cfg->t_fixed;
    case UA_T_ADAPTIVE:
        switch (cfg->t_test) {
        case UA_T_TEST_TRAIN: return s->t_tr;
        case UA_T_TEST_FIXED: return cfg->t_fixed;
        default: return s->t_te;
        }
    default: return 0.0;
    }
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
                              const int *lengths, ua_word_max_fn word_max, void *ctx, ua_rng *rng, ua_err *err)
{
    if (cfg->t_mode != UA_T_ADAPTIVE) return 0;
    if (ua_rel_collect(&s->batch, cfg, scores, B, lengths, word_max, ctx, rng, err) < 0) return -1;
    ua_relevance_update_clean_samples(s, cfg, s->batch.pos, s->batch.neg, s->batch.n);
    return 0;
}

void ua_relevance_naaf_begin_batch(ua_relevance_state *s) { ua_rel_samples_clear(&s->batch); }

int ua_relevance_naaf_caption(ua_relevance_state *s, const ua_relevance_cfg *cfg, const float *col, int c, int B,
                              int n_words, ua_word_max_fn word_max, void *ctx, ua_rng *rng, ua_err *err)
{
    if (cfg->t_mode != UA_T_ADAPTIVE) return 0;
    const int gated_before = s->batch.n_captions;
    if (ua_rel_samples_add_caption(&s->batch, cfg, col, 1, B, c, n_words, word_max, ctx, rng, err) < 0) return -1;
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

/* ---------------------------------------------------------------------------------------------
 * JSON */

static cJSON *raw_number(const char *fmt, double v)
{
    if (!isfinite(v)) return cJSON_CreateNull();
    char buf[64];
    snprintf(buf, sizeof buf, fmt, v);
    return cJSON_CreateRaw(buf);
}

static int add_raw(cJSON *obj, const char *key, const char *fmt, double v)
{
    cJSON *it = raw_number(fmt, v);
    if (!it) return -1;
    if (!cJSON_AddItemToObject(obj, key, it)) { cJSON_Delete(it); return -1; }
    return 0;
}

static int add_ring(cJSON *obj, const char *key, const float *ring, int len)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return -1;
    if (!cJSON_AddItemToObject(obj, key, arr)) { cJSON_Delete(arr); return -1; }
    for (int i = 0; i < len; i++) {
        cJSON *it = raw_number("%.9g", ring[i]);
        if (!it) return -1;
        if (!cJSON_AddItemToArray(arr, it)) { cJSON_Delete(it); return -1; }
    }
    return 0;
}

static int add_rng(cJSON *obj, const ua_rng *r)
{
    char hex[33];
    snprintf(hex, sizeof hex, "%016" PRIx64 "%016" PRIx64, r->state, r->inc);
    return cJSON_AddStringToObject(obj, "rng", hex) ? 0 : -1;
}

/* "rng": 32 hex digits (state, inc), or absent (s unchanged) */
static int read_rng(const cJSON *obj, ua_rng *out, const char *name, ua_err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "rng");
    if (!it) return 0;
    const char *h = cJSON_IsString(it) ? it->valuestring : NULL;
    int ok = h && strlen(h) == 32;
    for (int i = 0; ok && i < 32; i++) ok = isxdigit((unsigned char)h[i]) != 0;
    if (!ok) return ua_fail(err, "%s: relevance state: \"rng\" must be 32 hex digits", name);
    char half[17];
    memcpy(half, h, 16); half[16] = 0;
    out->state = strtoull(half, NULL, 16);
    memcpy(half, h + 16, 16);
    out->inc = strtoull(half, NULL, 16);
    return 0;
}

int ua_relevance_state_to_cjson(const ua_relevance_state *s, struct cJSON *obj)
{
    if (add_raw(obj, "t_tr", "%.17g", s->t_tr) || add_raw(obj, "t_te", "%.17g", s->t_te) ||
        add_raw(obj, "mu_pos", "%.17g", s->mu_pos) || add_raw(obj, "sigma_pos", "%.17g", s->sigma_pos) ||
        add_raw(obj, "mu_neg", "%.17g", s->mu_neg) || add_raw(obj, "sigma_neg", "%.17g", s->sigma_neg) ||
        add_raw(obj, "n_pos", "%.17g", s->n_pos) || add_raw(obj, "n_neg", "%.17g", s->n_neg) ||
        add_raw(obj, "updates", "%.17g", (double)s->updates) ||
        add_raw(obj, "clip_events", "%.17g", (double)s->clip_events) ||
        add_raw(obj, "clip_events_safe", "%.17g", (double)s->clip_events_safe) ||
        add_rng(obj, &s->rng) ||
        add_raw(obj, "pos_weight", "%.17g", s->pos_weight) ||
        add_raw(obj, "mixture_fallbacks", "%.17g", (double)s->mixture_fallbacks) ||
        add_raw(obj, "ring_size", "%.17g", s->ring_size) ||
        add_raw(obj, "pos_head", "%.17g", s->pos_head) || add_ring(obj, "pos_ring", s->ring_pos, s->pos_len) ||
        add_raw(obj, "neg_head", "%.17g", s->neg_head) || add_ring(obj, "neg_ring", s->ring_neg, s->neg_len))
        return -1;
    return 0;
}

char *ua_relevance_state_to_json(const ua_relevance_state *s)
{
    cJSON *obj = cJSON_CreateObject();
    if (!obj) return NULL;
    char *text = NULL;
    if (ua_relevance_state_to_cjson(s, obj) == 0) text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    return text;
}

static int need_number(const cJSON *obj, const char *key, double *out, const char *name, ua_err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) return ua_fail(err, "%s: relevance state: missing \"%s\"", name, key);
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return ua_fail(err, "%s: relevance state: \"%s\" must be a finite number", name, key);
    *out = it->valuedouble;
    return 0;
}

static int need_count(const cJSON *obj, const char *key, double max, long long *out, const char *name, ua_err *err)
{
    double v = 0.0;
    if (need_number(obj, key, &v, name, err)) return -1;
    if (v != floor(v) || v < 0 || v > max)
        return ua_fail(err, "%s: relevance state: \"%s\" = %.17g must be an integer in [0, %.17g]", name, key, v, max);
    *out = (long long)v;
    return 0;
}

static int read_ring(const cJSON *obj, const char *key, float *dst, int size, int *len, const char *name, ua_err *err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!arr) return ua_fail(err, "%s: relevance state: missing \"%s\"", name, key);
    if (!cJSON_IsArray(arr)) return ua_fail(err, "%s: relevance state: \"%s\" must be an array of numbers", name, key);
    int n = cJSON_GetArraySize(arr);
    if (n > size)
        return ua_fail(err, "%s: relevance state: \"%s\" holds %d samples, more than ring_size %d", name, key, n, size);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || fabs(it->valuedouble) > FLT_MAX)
            return ua_fail(err, "%s: relevance state: \"%s\"[%d] is not a finite float", name, key, i);
        dst[i++] = (float)it->valuedouble;
    }
    *len = n;
    return 0;
}

int ua_relevance_state_from_cjson(ua_relevance_state *s, const struct cJSON *obj, const char *name, ua_err *err)
{
    if (!cJSON_IsObject(obj)) return ua_fail(err, "%s: relevance state: not a JSON object", name);
    ua_relevance_state t = *s;
    const double big = 9007199254740992.0;  /* 2^53 */
    long long rs, n_pos, n_neg, ph, nh;
    if (need_number(obj, "t_tr", &t.t_tr, name, err) || need_number(obj, "t_te", &t.t_te, name, err) ||
        need_number(obj, "mu_pos", &t.mu_pos, name, err) || need_number(obj, "sigma_pos", &t.sigma_pos, name, err) ||
        need_number(obj, "mu_neg", &t.mu_neg, name, err) || need_number(obj, "sigma_neg", &t.sigma_neg, name, err) ||
        need_count(obj, "n_pos", 2147483647.0, &n_pos, name, err) ||
        need_count(obj, "n_neg", 2147483647.0, &n_neg, name, err) ||
        need_count(obj, "updates", big, &t.updates, name, err) ||
        need_count(obj, "clip_events", big, &t.clip_events, name, err) ||
        need_count(obj, "clip_events_safe", big, &t.clip_events_safe, name, err) ||
        need_count(obj, "ring_size", (double)RING_MAX, &rs, name, err))
        return -1;
    if (rs != s->ring_size)
        return ua_fail(err, "%s: relevance state: ring_size %lld was saved but %d is configured", name, rs, s->ring_size);
    if (read_rng(obj, &t.rng, name, err)) return -1;
    /* added with t_est mixture: states saved before it lack them (weight 1, no fallbacks) */
    t.pos_weight = 1.0;
    t.mixture_fallbacks = 0;
    if (cJSON_GetObjectItemCaseSensitive(obj, "pos_weight") &&
        (need_number(obj, "pos_weight", &t.pos_weight, name, err) ||
         need_count(obj, "mixture_fallbacks", big, &t.mixture_fallbacks, name, err)))
        return -1;
    if (!(t.pos_weight >= 0 && t.pos_weight <= 1))
        return ua_fail(err, "%s: relevance state: \"pos_weight\" = %.17g must be in [0, 1]", name, t.pos_weight);
    if (need_count(obj, "pos_head", (double)(s->ring_size - 1), &ph, name, err) ||
        need_count(obj, "neg_head", (double)(s->ring_size - 1), &nh, name, err))
        return -1;
    t.n_pos = (int)n_pos;
    t.n_neg = (int)n_neg;
    t.pos_head = (int)ph;
    t.neg_head = (int)nh;
    /* read the rings into scratch first so that s stays unchanged on error */
    float *rp = malloc((size_t)s->ring_size * sizeof *rp), *rn = malloc((size_t)s->ring_size * sizeof *rn);
    if (!rp || !rn) { free(rp); free(rn); return ua_fail(err, "%s: out of memory reading the relevance rings", name); }
    int rc = -1;
    if (read_ring(obj, "pos_ring", rp, s->ring_size, &t.pos_len, name, err) ||
        read_ring(obj, "neg_ring", rn, s->ring_size, &t.neg_len, name, err))
        goto out;
    if (t.pos_len < s->ring_size && t.pos_head != t.pos_len) {
        ua_fail(err, "%s: relevance state: pos_head %d does not follow the %d samples of a ring that is not full", name,
                t.pos_head, t.pos_len);
        goto out;
    }
    if (t.neg_len < s->ring_size && t.neg_head != t.neg_len) {
        ua_fail(err, "%s: relevance state: neg_head %d does not follow the %d samples of a ring that is not full", name,
                t.neg_head, t.neg_len);
        goto out;
    }
    memcpy(s->ring_pos, rp, (size_t)t.pos_len * sizeof *rp);
    memcpy(s->ring_neg, rn, (size_t)t.neg_len * sizeof *rn);
    t.ring_pos = s->ring_pos;
    t.ring_neg = s->ring_neg;
    t.batch = s->batch;
    *s = t;
    rc = 0;
out:
    free(rp);
    free(rn);
    return rc;
}

int ua_relevance_state_from_json(ua_relevance_state *s, const char *json, size_t len, const char *name, ua_err *err)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - json) : 0;
        return ua_fail(err, "%s: relevance state: not valid JSON (parse error near byte %zu)", name, at);
    }
    int rc = ua_relevance_state_from_cjson(s, root, name, err);
    cJSON_Delete(root);
    return rc;
}

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
