/* GRU layer: a naive double-precision reference written here, finite-difference gradients of
 * it against the float backward, PyTorch fixtures, padding, and input checks. */
#include "helpers.h"
#include "uarda/gru.h"
#include "uarda/safetensors.h"

#include <dirent.h>
#include <omp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- naive double reference ---------------------------------------------------------------- */

static int dirs_of(const ua_gru_shape *s) { return s->bidir ? 2 : 1; }
static int in_of(const ua_gru_shape *s, int l) { return l ? dirs_of(s) * s->hidden : s->input_size; }

/* offset of layer l, direction d in the flat buffer (w_ih, w_hh, b_ih, b_hh follow) */
static size_t ref_offset(const ua_gru_shape *s, int l, int d)
{
    size_t o = 0, H3 = 3 * (size_t)s->hidden;
    for (int ll = 0; ll < s->num_layers; ll++)
        for (int dd = 0; dd < dirs_of(s); dd++) {
            if (ll == l && dd == d) return o;
            o += H3 * ((size_t)in_of(s, ll) + s->hidden + 2);
        }
    return o;
}

static double sig(double v) { return 1.0 / (1.0 + exp(-v)); }

/* out [B, T, dirs*H], zeros at padding */
static void ref_forward(const ua_gru_shape *s, const double *p, const double *x, const int *len,
                        int B, int T, double *out)
{
    const int H = s->hidden, D = dirs_of(s), DH = D * H;
    double *cur = malloc(sizeof(double) * B * T * (s->input_size > DH ? s->input_size : DH));
    double *nxt = calloc((size_t)B * T * DH, sizeof(double));
    double *h = malloc(sizeof(double) * H), *hn = malloc(sizeof(double) * H);
    memcpy(cur, x, sizeof(double) * B * T * s->input_size);
    for (int l = 0; l < s->num_layers; l++) {
        const int in = in_of(s, l);
        memset(nxt, 0, sizeof(double) * B * T * DH);
        for (int d = 0; d < D; d++) {
            const double *Wi = p + ref_offset(s, l, d), *Wh = Wi + 3 * H * in;
            const double *bi = Wh + 3 * H * H, *bh = bi + 3 * H;
            for (int b = 0; b < B; b++) {
                for (int j = 0; j < H; j++) h[j] = 0;
                for (int k = 0; k < len[b]; k++) {
                    const int t = d ? len[b] - 1 - k : k;
                    const double *xt = cur + ((size_t)b * T + t) * in;
                    for (int j = 0; j < H; j++) {
                        double a[3], c[3];
                        for (int g = 0; g < 3; g++) {
                            a[g] = bi[g * H + j];
                            c[g] = bh[g * H + j];
                            for (int i = 0; i < in; i++) a[g] += Wi[(size_t)(g * H + j) * in + i] * xt[i];
                            for (int i = 0; i < H; i++) c[g] += Wh[(size_t)(g * H + j) * H + i] * h[i];
                        }
                        const double r = sig(a[0] + c[0]), z = sig(a[1] + c[1]);
                        const double n = tanh(a[2] + r * c[2]);
                        hn[j] = (1 - z) * n + z * h[j];
                    }
                    memcpy(h, hn, sizeof(double) * H);
                    memcpy(nxt + ((size_t)b * T + t) * DH + d * H, h, sizeof(double) * H);
                }
            }
        }
        double *tmp = cur;
        cur = nxt;
        nxt = tmp;
    }
    memcpy(out, cur, sizeof(double) * B * T * DH);
    free(cur);
    free(nxt);
    free(h);
    free(hn);
}

static double ref_loss(const ua_gru_shape *s, const double *p, const double *x, const int *len,
                       int B, int T, const double *wout, double *scratch)
{
    ref_forward(s, p, x, len, B, T, scratch);
    double L = 0;
    const size_t n = (size_t)B * T * dirs_of(s) * s->hidden;
    for (size_t i = 0; i < n; i++) L += scratch[i] * wout[i];
    return L;
}

/* ---- helpers ------------------------------------------------------------------------------- */

typedef struct problem {
    ua_gru_shape s;
    int B, T;
    int len[64];
    size_t np, nx, no;
    float *p, *x, *dout, *out, *dp, *dx;
} problem;

static void problem_make(problem *pr, ua_gru_shape s, int B, int T, const int *len, uint64_t seed)
{
    memset(pr, 0, sizeof *pr);
    pr->s = s;
    pr->B = B;
    pr->T = T;
    memcpy(pr->len, len, sizeof(int) * B);
    pr->np = ua_gru_param_count(&s);
    pr->nx = (size_t)B * T * s.input_size;
    pr->no = (size_t)B * T * dirs_of(&s) * s.hidden;
    ua_rng rng;
    ua_rng_seed(&rng, seed, UA_RNG_INIT);
    pr->p = malloc(sizeof(float) * pr->np);
    /* wider than PyTorch's init so that gates saturate a little and every term matters */
    for (size_t i = 0; i < pr->np; i++) pr->p[i] = ua_rng_range(&rng, -0.6f, 0.6f);
    pr->x = malloc(sizeof(float) * pr->nx);
    for (size_t i = 0; i < pr->nx; i++) pr->x[i] = ua_rng_range(&rng, -1.5f, 1.5f);
    pr->dout = malloc(sizeof(float) * pr->no);
    for (size_t i = 0; i < pr->no; i++) pr->dout[i] = ua_rng_range(&rng, -1, 1);
    pr->out = malloc(sizeof(float) * pr->no);
    pr->dp = calloc(pr->np, sizeof(float));
    pr->dx = malloc(sizeof(float) * pr->nx);
}

static void problem_free(problem *pr)
{
    free(pr->p);
    free(pr->x);
    free(pr->dout);
    free(pr->out);
    free(pr->dp);
    free(pr->dx);
}

/* forward + backward in float; asserts success */
static void problem_run(problem *pr)
{
    ua_err err = {{0}};
    ua_gru_work *w = ua_gru_work_new(&pr->s, pr->B, pr->T, &err);
    assert_non_null(w);
    int rc = ua_gru_forward(&pr->s, pr->p, pr->x, pr->len, pr->B, pr->T, pr->out, w, &err);
    if (rc) fail_msg("%s", err.msg);
    rc = ua_gru_backward(&pr->s, pr->p, pr->x, pr->len, pr->B, pr->T, pr->dout, pr->dp, pr->dx, w, &err);
    if (rc) fail_msg("%s", err.msg);
    ua_gru_work_free(w);
}

static double *to_double(const float *a, size_t n)
{
    double *d = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++) d[i] = a[i];
    return d;
}

static double rel_err_d(const float *a, const double *ref, size_t n)
{
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - ref[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    return mr == 0 ? md : md / mr;
}

/* Full central-difference check of every parameter and every input against the float
 * backward, and of the float forward against the double reference. */
static void check_fd_full(ua_gru_shape s, int B, int T, const int *len, uint64_t seed)
{
    problem pr;
    problem_make(&pr, s, B, T, len, seed);
    problem_run(&pr);
    double *p = to_double(pr.p, pr.np), *x = to_double(pr.x, pr.nx), *wo = to_double(pr.dout, pr.no);
    double *scr = malloc(sizeof(double) * pr.no);

    ref_forward(&s, p, x, len, B, T, scr);
    double fe = rel_err_d(pr.out, scr, pr.no);
    assert_true(fe < 1e-5);

    const double eps = 1e-5;
    double *g = malloc(sizeof(double) * (pr.np > pr.nx ? pr.np : pr.nx));
    for (size_t i = 0; i < pr.np; i++) {
        const double keep = p[i];
        p[i] = keep + eps;
        double lp = ref_loss(&s, p, x, len, B, T, wo, scr);
        p[i] = keep - eps;
        double lm = ref_loss(&s, p, x, len, B, T, wo, scr);
        p[i] = keep;
        g[i] = (lp - lm) / (2 * eps);
    }
    const int nt = ua_gru_n_tensors(&s);
    for (int k = 0; k < nt; k++) {
        char name[64];
        int ndim;
        int64_t shape[2];
        size_t off;
        assert_int_equal(ua_gru_tensor(&s, k, name, sizeof name, &ndim, shape, &off), 0);
        size_t n = (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
        double e = rel_err_d(pr.dp + off, g + off, n);
        if (!(e < 2e-5)) fail_msg("d %s: rel err %g", name, e);
    }
    for (size_t i = 0; i < pr.nx; i++) {
        const double keep = x[i];
        x[i] = keep + eps;
        double lp = ref_loss(&s, p, x, len, B, T, wo, scr);
        x[i] = keep - eps;
        double lm = ref_loss(&s, p, x, len, B, T, wo, scr);
        x[i] = keep;
        g[i] = (lp - lm) / (2 * eps);
    }
    double e = rel_err_d(pr.dx, g, pr.nx);
    if (!(e < 2e-5)) fail_msg("d x: rel err %g", e);
    /* padded inputs get exactly zero gradient */
    for (int b = 0; b < B; b++)
        for (int t = len[b]; t < T; t++)
            for (int i = 0; i < s.input_size; i++)
                assert_true(pr.dx[((size_t)b * T + t) * s.input_size + i] == 0.0f);
    free(g);
    free(p);
    free(x);
    free(wo);
    free(scr);
    problem_free(&pr);
}

static void test_fd_uni1(void **state)
{
    (void)state;
    const int len[] = {5, 4, 4, 2, 1};
    check_fd_full((ua_gru_shape){3, 4, 1, 0}, 5, 5, len, 11);
}

static void test_fd_bi1(void **state)
{
    (void)state;
    const int len[] = {4, 3, 3, 1};  /* T > max length: a fully padded column */
    check_fd_full((ua_gru_shape){3, 5, 1, 1}, 4, 6, len, 12);
}

static void test_fd_bi2(void **state)
{
    (void)state;
    const int len[] = {4, 4, 2};
    check_fd_full((ua_gru_shape){2, 3, 2, 1}, 3, 4, len, 13);
}

static void test_fd_uni3(void **state)
{
    (void)state;
    const int len[] = {3, 2};
    check_fd_full((ua_gru_shape){2, 3, 3, 0}, 2, 3, len, 14);
}

/* H larger than one elementwise chunk: forward against the reference, and directional
 * derivatives (one random direction per tensor, and one over x) against central differences. */
static void test_fd_wide(void **state)
{
    (void)state;
    const ua_gru_shape s = {4, 300, 1, 1};
    const int B = 3, T = 4, len[] = {4, 3, 2};
    problem pr;
    problem_make(&pr, s, B, T, len, 21);
    for (size_t i = 0; i < pr.np; i++) pr.p[i] *= 0.2f;
    problem_run(&pr);
    double *p = to_double(pr.p, pr.np), *x = to_double(pr.x, pr.nx), *wo = to_double(pr.dout, pr.no);
    double *scr = malloc(sizeof(double) * pr.no);
    ref_forward(&s, p, x, len, B, T, scr);
    assert_true(rel_err_d(pr.out, scr, pr.no) < 1e-5);

    ua_rng rng;
    ua_rng_seed(&rng, 99, UA_RNG_SYNTH);
    const double eps = 1e-4;
    for (int k = 0; k <= ua_gru_n_tensors(&s); k++) {
        char name[64] = "x";
        int ndim;
        int64_t shape[2];
        size_t off = 0, n = pr.nx;
        double *v = x;
        const float *grad = pr.dx;
        if (k < ua_gru_n_tensors(&s)) {
            ua_gru_tensor(&s, k, name, sizeof name, &ndim, shape, &off);
            n = (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
            v = p + off;
            grad = pr.dp + off;
        }
        double *dir = malloc(sizeof(double) * n), *keep = malloc(sizeof(double) * n);
        double an = 0, gn = 0;
        for (size_t i = 0; i < n; i++) {
            dir[i] = ua_rng_range(&rng, -1, 1);
            an += dir[i] * grad[i];
            gn += fabs(dir[i] * grad[i]);
            keep[i] = v[i];
        }
        for (size_t i = 0; i < n; i++) v[i] = keep[i] + eps * dir[i];
        double lp = ref_loss(&s, p, x, len, B, T, wo, scr);
        for (size_t i = 0; i < n; i++) v[i] = keep[i] - eps * dir[i];
        double lm = ref_loss(&s, p, x, len, B, T, wo, scr);
        memcpy(v, keep, sizeof(double) * n);
        double fd = (lp - lm) / (2 * eps);
        if (!(fabs(fd - an) <= 1e-4 * gn)) fail_msg("d %s: directional %g vs fd %g (scale %g)", name, an, fd, gn);
        free(dir);
        free(keep);
    }
    free(p);
    free(x);
    free(wo);
    free(scr);
    problem_free(&pr);
}

/* Problems big enough for the multi-threaded recurrence (each thread owns a range of hidden
 * units, or, on two threads, each runs one direction): 1 thread against 3 (an uneven split)
 * and 2, and the forward against the reference. */
static void test_threads(void **state)
{
    (void)state;
    const ua_gru_shape s = {8, 272, 2, 1};
    const int B = 64, T = 4;
    int len[64];
    for (int b = 0; b < B; b++) len[b] = T - (b * T) / B;
    problem pr;
    problem_make(&pr, s, B, T, len, 51);
    for (size_t i = 0; i < pr.np; i++) pr.p[i] *= 0.1f;
    const int keep = omp_get_max_threads();
    omp_set_num_threads(1);
    problem_run(&pr);
    float *out1 = pr.out, *dp1 = pr.dp, *dx1 = pr.dx;
    pr.out = malloc(sizeof(float) * pr.no);
    pr.dp = calloc(pr.np, sizeof(float));
    pr.dx = malloc(sizeof(float) * pr.nx);
    /* 3: the hidden split, uneven; 2: the two directions at once, one thread each */
    for (int nt = 3; nt >= 2; nt--) {
        memset(pr.dp, 0, sizeof(float) * pr.np);
        omp_set_num_threads(nt);
        problem_run(&pr);
        omp_set_num_threads(keep);
        assert_true(th_rel_diff(pr.out, out1, pr.no) < 1e-6);
        assert_true(th_rel_diff(pr.dx, dx1, pr.nx) < 1e-5);
        for (int k = 0; k < ua_gru_n_tensors(&s); k++) {
            int ndim;
            int64_t shape[2];
            size_t off;
            ua_gru_tensor(&s, k, NULL, 0, &ndim, shape, &off);
            assert_true(th_rel_diff(pr.dp + off, dp1 + off, (size_t)shape[0] * (ndim == 2 ? shape[1] : 1)) < 1e-5);
        }
    }
    /* layer 0 alone (its parameters are a prefix of the buffer) against the reference */
    const ua_gru_shape s1 = {8, 272, 1, 1};
    ua_err err = {{0}};
    ua_gru_work *w = ua_gru_work_new(&s1, B, T, &err);
    assert_non_null(w);
    assert_int_equal(ua_gru_forward(&s1, pr.p, pr.x, len, B, T, pr.out, w, &err), 0);
    const size_t np1 = ua_gru_param_count(&s1);
    double *p = to_double(pr.p, np1), *x = to_double(pr.x, pr.nx), *ref = malloc(sizeof(double) * pr.no);
    ref_forward(&s1, p, x, len, B, T, ref);
    assert_true(rel_err_d(pr.out, ref, pr.no) < 1e-5);
    ua_gru_work_free(w);
    free(p);
    free(x);
    free(ref);
    free(out1);
    free(dp1);
    free(dx1);
    problem_free(&pr);
}

/* ---- padding ------------------------------------------------------------------------------- */

static void test_padding(void **state)
{
    (void)state;
    const ua_gru_shape s = {3, 6, 2, 1};
    const int B = 3, T = 4, T2 = 7, len[] = {4, 2, 1};
    const int DH = 12;
    problem pr;
    problem_make(&pr, s, B, T, len, 31);
    problem_run(&pr);
    /* padded outputs exactly 0 */
    for (int b = 0; b < B; b++)
        for (int t = len[b]; t < T; t++)
            for (int c = 0; c < DH; c++) assert_true(pr.out[((size_t)b * T + t) * DH + c] == 0.0f);

    /* the same rows with more padding (NaN, never read) give bitwise the same outputs */
    ua_err err = {{0}};
    float *x2 = malloc(sizeof(float) * B * T2 * 3), *o2 = malloc(sizeof(float) * B * T2 * DH);
    float *d2 = malloc(sizeof(float) * B * T2 * DH), *dx2 = malloc(sizeof(float) * B * T2 * 3);
    float *dp2 = calloc(pr.np, sizeof(float));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T2; t++)
            for (int c = 0; c < 3; c++)
                x2[((size_t)b * T2 + t) * 3 + c] = t < len[b] ? pr.x[((size_t)b * T + t) * 3 + c] : NAN;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T2; t++)
            for (int c = 0; c < DH; c++)
                d2[((size_t)b * T2 + t) * DH + c] = t < len[b] ? pr.dout[((size_t)b * T + t) * DH + c] : NAN;
    ua_gru_work *w = ua_gru_work_new(&s, 8, 10, &err);
    assert_non_null(w);
    assert_int_equal(ua_gru_forward(&s, pr.p, x2, len, B, T2, o2, w, &err), 0);
    assert_int_equal(ua_gru_backward(&s, pr.p, x2, len, B, T2, d2, dp2, dx2, w, &err), 0);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T2; t++) {
            for (int c = 0; c < DH; c++) {
                float ref = t < T ? pr.out[((size_t)b * T + t) * DH + c] : 0.0f;
                assert_true(o2[((size_t)b * T2 + t) * DH + c] == ref);
            }
            for (int c = 0; c < 3; c++) {
                float ref = t < T ? pr.dx[((size_t)b * T + t) * 3 + c] : 0.0f;
                assert_true(dx2[((size_t)b * T2 + t) * 3 + c] == ref);
            }
        }
    assert_memory_equal(dp2, pr.dp, sizeof(float) * pr.np);

    /* the reverse direction starts at the true end: row 1 alone, unpadded, gives the same output */
    float *o1 = malloc(sizeof(float) * 2 * DH);
    assert_int_equal(ua_gru_forward(&s, pr.p, pr.x + (size_t)1 * T * 3, len + 1, 1, 2, o1, w, &err), 0);
    for (int t = 0; t < 2; t++)
        for (int c = 0; c < DH; c++)
            assert_float_equal(o1[t * DH + c], pr.out[((size_t)1 * T + t) * DH + c], 1e-6);
    /* and a 1-layer model's reverse half at a row's last valid step is one step from h = 0
     * (the layer-0 parameters are a prefix of the buffer) */
    const int one = 1;
    ua_gru_shape s1 = {3, 6, 1, 1};
    ua_gru_work *w1 = ua_gru_work_new(&s1, 4, 8, &err);
    float *o1l = malloc(sizeof(float) * B * T * DH), *os = malloc(sizeof(float) * DH);
    assert_int_equal(ua_gru_forward(&s1, pr.p, pr.x, len, B, T, o1l, w1, &err), 0);
    assert_int_equal(ua_gru_forward(&s1, pr.p, pr.x + ((size_t)1 * T + 1) * 3, &one, 1, 1, os, w1, &err), 0);
    for (int c = 6; c < DH; c++) assert_float_equal(o1l[((size_t)1 * T + 1) * DH + c], os[c], 1e-6);

    free(o1l);
    free(os);
    ua_gru_work_free(w1);
    free(o1);
    ua_gru_work_free(w);
    free(x2);
    free(o2);
    free(d2);
    free(dx2);
    free(dp2);
    problem_free(&pr);
}

/* ---- accumulation, d_x NULL, determinism --------------------------------------------------- */

static void test_accumulate_and_determinism(void **state)
{
    (void)state;
    const ua_gru_shape s = {5, 7, 2, 1};
    const int B = 4, T = 5, len[] = {5, 5, 3, 2};
    problem pr;
    problem_make(&pr, s, B, T, len, 41);
    problem_run(&pr);
    ua_err err = {{0}};
    ua_gru_work *w = ua_gru_work_new(&s, B, T, &err);
    float *out = malloc(sizeof(float) * pr.no), *dp = calloc(pr.np, sizeof(float));
    float *dx = malloc(sizeof(float) * pr.nx);
    assert_int_equal(ua_gru_forward(&s, pr.p, pr.x, len, B, T, out, w, &err), 0);
    assert_memory_equal(out, pr.out, sizeof(float) * pr.no);
    assert_int_equal(ua_gru_backward(&s, pr.p, pr.x, len, B, T, pr.dout, dp, dx, w, &err), 0);
    assert_memory_equal(dp, pr.dp, sizeof(float) * pr.np);
    assert_memory_equal(dx, pr.dx, sizeof(float) * pr.nx);
    /* d_x NULL: same parameter gradients, accumulated on top of the previous ones */
    assert_int_equal(ua_gru_backward(&s, pr.p, pr.x, len, B, T, pr.dout, dp, NULL, w, &err), 0);
    for (size_t i = 0; i < pr.np; i++) assert_float_equal(dp[i], 2 * pr.dp[i], 1e-5 * (1 + fabsf(pr.dp[i])));
    free(out);
    free(dp);
    free(dx);
    ua_gru_work_free(w);
    problem_free(&pr);
}

/* ---- parameter table and init -------------------------------------------------------------- */

static void test_tensors_and_init(void **state)
{
    (void)state;
    const ua_gru_shape s = {300, 1024, 2, 1};
    assert_int_equal(ua_gru_n_tensors(&s), 16);
    char name[64];
    int ndim;
    int64_t shape[2];
    size_t off, expect = 0;
    static const char *const names[] = {
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
        "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
        "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
        "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"};
    for (int k = 0; k < 16; k++) {
        assert_int_equal(ua_gru_tensor(&s, k, name, sizeof name, &ndim, shape, &off), 0);
        assert_string_equal(name, names[k]);
        assert_int_equal(off, expect);
        assert_int_equal(shape[0], 3072);
        if (k % 4 == 0) assert_int_equal(shape[1], k < 8 ? 300 : 2048);
        if (k % 4 == 1) assert_int_equal(shape[1], 1024);
        assert_int_equal(ndim, k % 4 < 2 ? 2 : 1);
        expect += (size_t)shape[0] * (ndim == 2 ? (size_t)shape[1] : 1);
    }
    assert_int_equal(expect, ua_gru_param_count(&s));
    assert_int_equal(ua_gru_tensor(&s, 16, name, sizeof name, NULL, NULL, NULL), -1);
    assert_int_equal(ua_gru_tensor(&s, -1, NULL, 0, NULL, NULL, NULL), -1);
    assert_int_equal(ua_gru_tensor(&s, 4, name, 5, NULL, NULL, NULL), -1);

    const ua_gru_shape small = {3, 16, 1, 1};
    const size_t n = ua_gru_param_count(&small);
    assert_int_equal(n, 2 * 48 * (3 + 16 + 2));
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    ua_rng r1, r2;
    ua_rng_seed(&r1, 5, UA_RNG_INIT);
    ua_rng_seed(&r2, 5, UA_RNG_INIT);
    ua_gru_init(&small, a, &r1);
    ua_gru_init(&small, b, &r2);
    assert_memory_equal(a, b, sizeof(float) * n);
    float lo = 1, hi = -1;
    for (size_t i = 0; i < n; i++) {
        lo = a[i] < lo ? a[i] : lo;
        hi = a[i] > hi ? a[i] : hi;
    }
    assert_true(lo >= -0.25f && hi <= 0.25f && lo < -0.2f && hi > 0.2f);
    free(a);
    free(b);
}

/* ---- input checks -------------------------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    const ua_gru_shape s = {2, 3, 1, 1};
    ua_err err = {{0}};
    ua_gru_work *w = ua_gru_work_new(&s, 4, 5, &err);
    assert_non_null(w);
    float x[4 * 5 * 2] = {0}, out[4 * 5 * 6], dout[4 * 5 * 6] = {0};
    float *p = calloc(ua_gru_param_count(&s), sizeof(float)), *dp = calloc(ua_gru_param_count(&s), sizeof(float));

    assert_int_equal(ua_gru_backward(&s, p, x, (int[]){3, 2}, 2, 3, dout, dp, NULL, w, &err), -1);
    assert_non_null(strstr(err.msg, "no forward"));

    assert_int_equal(ua_gru_forward(&s, p, x, (int[]){2, 3, 1}, 3, 3, out, w, &err), -1);
    assert_non_null(strstr(err.msg, "not sorted descending"));
    assert_non_null(strstr(err.msg, "lengths[1] = 3"));
    assert_int_equal(ua_gru_forward(&s, p, x, (int[]){3, 0}, 2, 3, out, w, &err), -1);
    assert_non_null(strstr(err.msg, "lengths[1] = 0 outside [1, 3]"));
    assert_int_equal(ua_gru_forward(&s, p, x, (int[]){4, 1}, 2, 3, out, w, &err), -1);
    assert_non_null(strstr(err.msg, "lengths[0] = 4"));
    assert_int_equal(ua_gru_forward(&s, p, x, (int[]){1, 1, 1, 1, 1}, 5, 1, out, w, &err), -1);
    assert_non_null(strstr(err.msg, "batch 5 outside [1, 4]"));
    assert_int_equal(ua_gru_forward(&s, p, x, (int[]){1}, 1, 6, out, w, &err), -1);
    assert_non_null(strstr(err.msg, "length 6 outside [1, 5]"));
    const ua_gru_shape other = {2, 4, 1, 1};
    assert_int_equal(ua_gru_forward(&other, p, x, (int[]){1}, 1, 1, out, w, &err), -1);
    assert_non_null(strstr(err.msg, "another shape"));

    assert_int_equal(ua_gru_forward(&s, p, x, (int[]){3, 2}, 2, 3, out, w, &err), 0);
    assert_int_equal(ua_gru_backward(&s, p, x, (int[]){3, 1}, 2, 3, dout, dp, NULL, w, &err), -1);
    assert_non_null(strstr(err.msg, "differ from the last forward"));
    assert_int_equal(ua_gru_backward(&s, p, x, (int[]){3, 2, 1}, 2, 3, dout, dp, NULL, w, &err), 0);
    assert_int_equal(ua_gru_backward(&s, p, x, (int[]){3, 2, 1}, 3, 3, dout, dp, NULL, w, &err), -1);
    assert_int_equal(ua_gru_backward(&s, p, x, (int[]){2, 3}, 2, 3, dout, dp, NULL, w, &err), -1);
    assert_non_null(strstr(err.msg, "not sorted descending"));

    assert_null(ua_gru_work_new(&(ua_gru_shape){2, 0, 1, 0}, 4, 5, &err));
    assert_non_null(strstr(err.msg, "hidden 0"));
    assert_null(ua_gru_work_new(&s, 0, 5, &err));
    assert_non_null(strstr(err.msg, "max_batch 0"));
    ua_gru_work_free(NULL);
    free(p);
    free(dp);
    ua_gru_work_free(w);
}

/* ---- PyTorch fixtures ---------------------------------------------------------------------- */

static void check_fixture(const char *path)
{
    ua_err err = {{0}};
    ua_st_file f;
    if (ua_st_open(&f, path, &err)) fail_msg("%s", err.msg);
    const ua_st_tensor *tx = ua_st_find(&f, "input.x"), *tl = ua_st_find(&f, "input.lengths");
    const ua_st_tensor *w0 = ua_st_find(&f, "weight_ih_l0");
    if (!tx || !tl || !w0) fail_msg("%s: missing input.x, input.lengths or weight_ih_l0", path);
    assert_int_equal(tx->ndim, 3);
    assert_int_equal(tl->dtype, UA_ST_I64);
    ua_gru_shape s = {(int)tx->shape[2], (int)(w0->shape[0] / 3), 0,
                      ua_st_find(&f, "weight_ih_l0_reverse") != NULL};
    char name[64];
    for (;;) {
        snprintf(name, sizeof name, "weight_ih_l%d", s.num_layers);
        if (!ua_st_find(&f, name)) break;
        s.num_layers++;
    }
    const int B = (int)tx->shape[0], T = (int)tx->shape[1], DH = (s.bidir ? 2 : 1) * s.hidden;
    assert_int_equal(tl->n_elems, B);
    int *len = malloc(sizeof(int) * B);
    for (int b = 0; b < B; b++) len[b] = (int)((const int64_t *)tl->data)[b];

    const size_t np = ua_gru_param_count(&s);
    float *p = malloc(sizeof(float) * np), *dp = calloc(np, sizeof(float));
    const int nt = ua_gru_n_tensors(&s);
    for (int k = 0; k < nt; k++) {
        int ndim;
        int64_t shape[2];
        size_t off;
        assert_int_equal(ua_gru_tensor(&s, k, name, sizeof name, &ndim, shape, &off), 0);
        const float *src = ua_st_get_f32(&f, name, ndim, shape, &err);
        if (!src) fail_msg("%s", err.msg);
        memcpy(p + off, src, sizeof(float) * shape[0] * (ndim == 2 ? shape[1] : 1));
    }
    const int64_t xs[3] = {B, T, s.input_size}, os[3] = {B, T, DH};
    const float *x = ua_st_get_f32(&f, "input.x", 3, xs, &err);
    const float *h = x ? ua_st_get_f32(&f, "out.h", 3, os, &err) : NULL;
    const float *dout = h ? ua_st_get_f32(&f, "input.d_out", 3, os, &err) : NULL;
    const float *gx = dout ? ua_st_get_f32(&f, "grad.x", 3, xs, &err) : NULL;
    if (!gx) fail_msg("%s", err.msg);

    ua_gru_work *w = ua_gru_work_new(&s, B, T, &err);
    assert_non_null(w);
    float *out = malloc(sizeof(float) * B * T * DH), *dx = malloc(sizeof(float) * B * T * s.input_size);
    if (ua_gru_forward(&s, p, x, len, B, T, out, w, &err)) fail_msg("%s: %s", path, err.msg);
    if (ua_gru_backward(&s, p, x, len, B, T, dout, dp, dx, w, &err)) fail_msg("%s: %s", path, err.msg);
    double e = th_rel_diff(out, h, (size_t)B * T * DH);
    if (!(e <= 1e-5)) fail_msg("%s: out.h rel diff %g", path, e);
    e = th_rel_diff(dx, gx, (size_t)B * T * s.input_size);
    if (!(e <= 1e-4)) fail_msg("%s: grad.x rel diff %g", path, e);
    for (int k = 0; k < nt; k++) {
        int ndim;
        int64_t shape[2];
        size_t off;
        char gname[80];
        ua_gru_tensor(&s, k, name, sizeof name, &ndim, shape, &off);
        snprintf(gname, sizeof gname, "grad.%s", name);
        const float *g = ua_st_get_f32(&f, gname, ndim, shape, &err);
        if (!g) fail_msg("%s", err.msg);
        e = th_rel_diff(dp + off, g, (size_t)shape[0] * (ndim == 2 ? shape[1] : 1));
        if (!(e <= 1e-4)) fail_msg("%s: %s rel diff %g", path, gname, e);
    }
    free(out);
    free(dx);
    free(p);
    free(dp);
    free(len);
    ua_gru_work_free(w);
    ua_st_close(&f);
}

static void test_pytorch_fixtures(void **state)
{
    (void)state;
    const char *dir = "tests/fixtures/scan";
    DIR *d = opendir(dir);
    if (!d) fail_msg("%s: cannot open", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (strncmp(e->d_name, "gru_", 4) != 0 || l < 17 || strcmp(e->d_name + l - 12, ".safetensors") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        check_fixture(path);
        n++;
    }
    closedir(d);
    assert_true(n >= 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_uni1),
        cmocka_unit_test(test_fd_bi1),
        cmocka_unit_test(test_fd_bi2),
        cmocka_unit_test(test_fd_uni3),
        cmocka_unit_test(test_fd_wide),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_padding),
        cmocka_unit_test(test_accumulate_and_determinism),
        cmocka_unit_test(test_tensors_and_init),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_pytorch_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
