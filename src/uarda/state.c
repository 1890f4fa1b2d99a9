/* UARDA's samples and threshold state: the sample collection of a batch, the state's rings and
 * thresholds, and the state's one JSON form in checkpoints (ua_relevance_state_to_json /
 * ua_relevance_state_from_json); include/uarda/relevance.h has the procedures. */
#include "uarda/relevance.h"
#include "uarda/relevance_internal.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * sample collection */

/* slot k of the batch holds another image than slot c's (every slot its own without image_of) */
static int other_image(const int *image_of, int k, int c)
{
    return k != c && (!image_of || image_of[k] != image_of[c]);
}

int ua_rel_ranked_first(const float *col, size_t stride, int B, int c, const int *image_of)
{
    if (B <= 0 || c < 0 || c >= B) return 0;
    int best = -1;
    for (int k = 0; k < B; k++)
        if ((k == c || other_image(image_of, k, c)) && (best < 0 || col[(size_t)k * stride] > col[(size_t)best * stride]))
            best = k;
    return best == c;
}

int ua_rel_negative_image(ua_neg_src src, const float *col, size_t stride, int B, int c, const int *image_of,
                          ua_rng *rng)
{
    int pick = -1;
    if (src == UA_NEG_RANDOM) {   /* the r-th other image, r uniform */
        int n_other = 0;
        for (int k = 0; k < B; k++) n_other += other_image(image_of, k, c);
        if (!rng || n_other == 0) return -1;
        int r = (int)ua_rng_below(rng, (uint32_t)n_other);
        for (int k = 0; k < B && pick < 0; k++)
            if (other_image(image_of, k, c) && r-- == 0) pick = k;
        return pick;
    }
    /* the least or the most similar other image, the first of equals */
    const float sign = src == UA_NEG_LEAST ? -1.0f : 1.0f;
    for (int k = 0; k < B; k++)
        if (other_image(image_of, k, c) && (pick < 0 || sign * col[(size_t)k * stride] > sign * col[(size_t)pick * stride]))
            pick = k;
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
                               int B, int c, const int *image_of, int n_words, ua_word_max_fn word_max, void *ctx,
                               ua_rng *rng, ua_err *err)
{
    if (B < 2 || !ua_rel_ranked_first(col, stride, B, c, image_of)) return 0;
    if (cfg->neg_src == UA_NEG_RANDOM && !rng) return ua_fail(err, "relevance samples: neg_src random needs an rng");
    int k = ua_rel_negative_image(cfg->neg_src, col, stride, B, c, image_of, rng);
    if (k < 0) return 0;   /* every other slot of the batch holds caption c's image: no negative */
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
                   const int *image_of, ua_word_max_fn word_max, void *ctx, ua_rng *rng, ua_err *err)
{
    ua_rel_samples_clear(s);
    for (int j = 0; j < B; j++)
        if (ua_rel_samples_add_caption(s, cfg, scores + j, (size_t)B, B, j, image_of, lengths[j], word_max, ctx, rng,
                                       err) < 0)
            return -1;
    return s->n;
}

/* ---------------------------------------------------------------------------------------------
 * state */

int ua_relevance_init(ua_relevance_state *s, const ua_relevance_cfg *cfg, ua_err *err)
{
    memset(s, 0, sizeof *s);
    if (cfg->ring_size < 2 || cfg->ring_size > UA_REL_RING_MAX)
        return ua_fail(err, "relevance state: ring_size %d must be in [2, %d]", cfg->ring_size, UA_REL_RING_MAX);
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
        need_count(obj, "ring_size", (double)UA_REL_RING_MAX, &rs, name, err))
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
