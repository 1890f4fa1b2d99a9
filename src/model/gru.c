/* GRU forward and backward (PyTorch nn.GRU semantics), see include/uarda/gru.h.
 *
 * Layout. With lengths sorted descending, n_t = #{b : len[b] > t} rows are active at time t,
 * and they are the prefix 0..n_t-1. Everything is kept "packed": row (t, b), b < n_t, lives at
 * off[t] + b with off[t] = n_0 + ... + n_{t-1}; rows = sum of the lengths, no padding.
 *   - time-packed: index by time t (inputs x, layer outputs y, input-gate gradients dGI);
 *   - step-packed: index by step s of a direction. The forward direction's step s is time s;
 *     the reverse direction's step s of row b is time len[b]-1-s, and again exactly the rows
 *     b < n_s are active, so the same offsets serve (gates, h_prev, dGH).
 * Step-packing makes the recurrent GEMM of step s a contiguous [n_s, H] x [H, 3H] product for
 * both directions. The input projections of all steps of a direction are one GEMM, the weight
 * gradients one GEMM each per direction, and d_x one GEMM per direction.
 *
 * Stored per layer and direction by forward: gates [rows, 4H] = (r, z, n, hn) with
 * hn = W_hn h + b_hn (step-packed), hprev [rows, H] (step-packed, h at step s-1; 0 at s = 0);
 * per layer the output y [rows, dirs*H] (time-packed), and the layer-0 input x0 [rows, in]. */
#include "core/gemm.h"
#include "uarda/gru.h"
#include "uarda/dots.h"
#include "core/fastmath.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ua_gru_work {
    ua_gru_shape shape;
    int dirs, max_batch, max_len;
    size_t max_rows;
    /* the last forward */
    int valid, B, T, rows, steps;
    int *lengths;  /* [max_batch] */
    int *n_at;     /* [max_len + 1], n_at[steps] = 0 */
    int *off;      /* [max_len + 1] */
    float *x0;     /* [rows, input_size], time-packed */
    float **y;     /* [num_layers] -> [rows, dirs*H], time-packed */
    float **gates; /* [num_layers*dirs] -> [rows, 4H], step-packed */
    float **hprev; /* [num_layers*dirs] -> [rows, H], step-packed */
    /* scratch */
    /* scratch, one per direction (the directions may run at once) */
    float *gi[2];    /* [rows, 3H]: input projections (forward), dGI (backward) */
    float *dgh[2];   /* [rows, 3H] */
    float *gh[2];    /* [max_batch, 3H] */
    float *carry[2]; /* [max_batch, H] */
    float *dy[2];  /* [rows, max(input_size, dirs*H)] */
};

/* ---- parameters ---------------------------------------------------------------------------- */

static int layer_in(const ua_gru_shape *s, int l)
{
    return l == 0 ? s->input_size : (s->bidir ? 2 : 1) * s->hidden;
}

typedef struct gru_block {
    size_t w_ih, w_hh, b_ih, b_hh;  /* offsets in floats */
    int in;
} gru_block;

static gru_block block_of(const ua_gru_shape *s, int l, int d)
{
    const int dirs = s->bidir ? 2 : 1;
    const size_t H3 = 3 * (size_t)s->hidden;
    size_t o = 0;
    for (int ll = 0; ll < s->num_layers; ll++)
        for (int dd = 0; dd < dirs; dd++) {
            const int in = layer_in(s, ll);
            if (ll == l && dd == d) {
                gru_block b = {o, o + H3 * in, o + H3 * in + H3 * s->hidden,
                               o + H3 * in + H3 * s->hidden + H3, in};
                return b;
            }
            o += H3 * ((size_t)in + s->hidden + 2);
        }
    gru_block none = {0, 0, 0, 0, 0};
    return none;
}

int ua_gru_check_shape(const ua_gru_shape *s, ua_err *err)
{
    if (!s) return ua_fail(err, "gru: no shape");
    if (s->input_size < 1 || s->hidden < 1 || s->num_layers < 1 || (s->bidir != 0 && s->bidir != 1))
        return ua_fail(err, "gru: invalid shape: input_size %d, hidden %d, num_layers %d, bidir %d",
                       s->input_size, s->hidden, s->num_layers, s->bidir);
    return 0;
}

size_t ua_gru_param_count(const ua_gru_shape *s)
{
    const int dirs = s->bidir ? 2 : 1;
    size_t n = 0;
    for (int l = 0; l < s->num_layers; l++)
        n += (size_t)dirs * 3 * s->hidden * ((size_t)layer_in(s, l) + s->hidden + 2);
    return n;
}

int ua_gru_n_tensors(const ua_gru_shape *s)
{
    return 4 * s->num_layers * (s->bidir ? 2 : 1);
}

int ua_gru_tensor(const ua_gru_shape *s, int k, char *name, size_t cap, int *ndim,
                  int64_t shape[2], size_t *offset)
{
    const int dirs = s->bidir ? 2 : 1;
    if (k < 0 || k >= ua_gru_n_tensors(s)) return -1;
    const int which = k % 4, d = (k / 4) % dirs, l = k / (4 * dirs);
    const gru_block b = block_of(s, l, d);
    static const char *const kind[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    if (name) {
        int n = snprintf(name, cap, "%s_l%d%s", kind[which], l, d ? "_reverse" : "");
        if (n < 0 || (size_t)n >= cap) return -1;
    }
    if (ndim) *ndim = which < 2 ? 2 : 1;
    if (shape) {
        shape[0] = 3 * (int64_t)s->hidden;
        shape[1] = which == 0 ? b.in : which == 1 ? s->hidden : 0;
    }
    if (offset) *offset = which == 0 ? b.w_ih : which == 1 ? b.w_hh : which == 2 ? b.b_ih : b.b_hh;
    return 0;
}

void ua_gru_init(const ua_gru_shape *s, float *params, ua_rng *rng)
{
    const float k = 1.0f / sqrtf((float)s->hidden);
    const size_t n = ua_gru_param_count(s);
    for (size_t i = 0; i < n; i++) params[i] = ua_rng_range(rng, -k, k);
}

/* ---- work ---------------------------------------------------------------------------------- */

static float *falloc(size_t n, ua_err *err)
{
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    if (bytes == 0) bytes = 64;
    float *p = aligned_alloc(64, bytes);
    if (!p) ua_fail(err, "gru: out of memory allocating %zu bytes", bytes);
    return p;
}

void ua_gru_work_free(ua_gru_work *w)
{
    if (!w) return;
    const int nld = w->shape.num_layers * w->dirs;
    if (w->y)
        for (int l = 0; l < w->shape.num_layers; l++) free(w->y[l]);
    if (w->gates)
        for (int i = 0; i < nld; i++) free(w->gates[i]);
    if (w->hprev)
        for (int i = 0; i < nld; i++) free(w->hprev[i]);
    free(w->y);
    free(w->gates);
    free(w->hprev);
    free(w->lengths);
    free(w->n_at);
    free(w->off);
    free(w->x0);
    for (int d = 0; d < 2; d++) {
        free(w->gi[d]);
        free(w->dgh[d]);
        free(w->gh[d]);
        free(w->carry[d]);
    }
    free(w->dy[0]);
    free(w->dy[1]);
    free(w);
}

ua_gru_work *ua_gru_work_new(const ua_gru_shape *s, int max_batch, int max_len, ua_err *err)
{
    if (ua_gru_check_shape(s, err)) return NULL;
    if (max_batch < 1 || max_len < 1)
        return ua_fail(err, "gru: invalid work size: max_batch %d, max_len %d", max_batch, max_len),
               NULL;
    ua_gru_work *w = ua_calloc(1, sizeof *w, err);
    if (!w) return NULL;
    w->shape = *s;
    w->dirs = s->bidir ? 2 : 1;
    w->max_batch = max_batch;
    w->max_len = max_len;
    w->max_rows = (size_t)max_batch * max_len;
    const size_t H = s->hidden, R = w->max_rows, DH = w->dirs * H;
    const size_t wide = (size_t)s->input_size > DH ? (size_t)s->input_size : DH;
    const int nld = s->num_layers * w->dirs;
    int ok = (w->lengths = ua_calloc(max_batch, sizeof(int), err)) &&
             (w->n_at = ua_calloc(max_len + 1, sizeof(int), err)) &&
             (w->off = ua_calloc(max_len + 1, sizeof(int), err)) &&
             (w->y = ua_calloc(s->num_layers, sizeof(float *), err)) &&
             (w->gates = ua_calloc(nld, sizeof(float *), err)) &&
             (w->hprev = ua_calloc(nld, sizeof(float *), err)) &&
             (w->x0 = falloc(R * s->input_size, err)) && (w->dy[0] = falloc(R * wide, err)) &&
             (w->dy[1] = falloc(R * wide, err));
    for (int d = 0; ok && d < w->dirs; d++)
        ok = (w->gi[d] = falloc(R * 3 * H, err)) && (w->dgh[d] = falloc(R * 3 * H, err)) &&
             (w->gh[d] = falloc((size_t)max_batch * 3 * H, err)) && (w->carry[d] = falloc((size_t)max_batch * H, err));
    for (int l = 0; ok && l < s->num_layers; l++) ok = (w->y[l] = falloc(R * DH, err)) != NULL;
    for (int i = 0; ok && i < nld; i++)
        ok = (w->gates[i] = falloc(R * 4 * H, err)) && (w->hprev[i] = falloc(R * H, err));
    if (!ok) {
        ua_gru_work_free(w);
        return NULL;
    }
    return w;
}

/* ---- shared checks ------------------------------------------------------------------------- */

static int check_call(const ua_gru_shape *s, const int *lengths, int B, int T, const ua_gru_work *w,
                      const char *what, ua_err *err)
{
    if (ua_gru_check_shape(s, err)) return -1;
    if (!w) return ua_fail(err, "gru %s: no work buffers", what);
    if (memcmp(&w->shape, s, sizeof *s) != 0)
        return ua_fail(err, "gru %s: work was made for another shape", what);
    if (B < 1 || B > w->max_batch)
        return ua_fail(err, "gru %s: batch %d outside [1, %d]", what, B, w->max_batch);
    if (T < 1 || T > w->max_len)
        return ua_fail(err, "gru %s: length %d outside [1, %d]", what, T, w->max_len);
    for (int b = 0; b < B; b++) {
        if (lengths[b] < 1 || lengths[b] > T)
            return ua_fail(err, "gru %s: lengths[%d] = %d outside [1, %d]", what, b, lengths[b], T);
        if (b > 0 && lengths[b] > lengths[b - 1])
            return ua_fail(err, "gru %s: lengths not sorted descending: lengths[%d] = %d > lengths[%d] = %d",
                           what, b, lengths[b], b - 1, lengths[b - 1]);
    }
    return 0;
}

/* ---- elementwise math ---------------------------------------------------------------------- */

/* 1 / (1 + exp(-x)), through exp(-|x|) so that nothing overflows */
static inline float gru_sigmoid(float x)
{
    const float e = ua_exp_nonpos(-fabsf(x));
    const float s = 1.0f / (1.0f + e);
    return ua_select(x >= 0.0f, s, e * s);
}

static inline float gru_tanh(float x)
{
    const float a = fabsf(x);
    const float e = ua_exp_nonpos(-2.0f * a);
    const float big = (1.0f - e) / (1.0f + e);
    /* |x| < 1/8: odd Taylor series to x^9 (no cancellation in 1 - e) */
    const float a2 = a * a;
    const float small = a + a * a2 * (-1.0f / 3 + a2 * (2.0f / 15 + a2 * (-17.0f / 315 + a2 * (62.0f / 2835))));
    return copysignf(ua_select(a < 0.125f, small, big), x);
}

/* below this many elements per step (rows x hidden) the recurrence runs on one thread: the
 * barriers would cost more than the work; a few captions (the few-rows products) go parallel
 * when a step's products reach GRU_PAR_MIN_MACS (one caption at SCAN's hidden size 1024: 3 M) */
#define GRU_PAR_MIN 16384
#define GRU_PAR_MIN_MACS (1L << 20)

/* columns [j0, j1) of [0, H) owned by thread tid of nt, in units of 16 */
static void col_range(int H, int tid, int nt, int *j0, int *j1)
{
    const int units = (H + 15) / 16;
    const int u0 = (int)((long)units * tid / nt), u1 = (int)((long)units * (tid + 1) / nt);
    *j0 = u0 * 16 < H ? u0 * 16 : H;
    *j1 = u1 * 16 < H ? u1 * 16 : H;
}

/* ---- forward ------------------------------------------------------------------------------- */

/* Threads. The recurrence of a layer runs in one parallel region, in one of two ways:
 *   - hidden split: each thread owns a range of hidden units (col_range) and computes their
 *     r, z, n rows of the recurrent product (single-threaded GEMMs, as OpenBLAS runs
 *     single-threaded inside a parallel region) and their elementwise math, one direction after
 *     the other: one barrier per step, before the next step reads the whole h;
 *   - directions at once (a bidirectional layer on exactly two threads): thread d runs direction
 *     d alone, with no barrier at all (the directions share nothing but the layer's input), so
 *     that a thread that the OS takes off its core holds up only itself. Each thread computes
 *     its hidden units in the two ranges of the two-thread hidden split, in order, so that every
 *     number is the same bits as that split's: the thread count alone fixes the result. */
static int pair_of_directions(int dirs, int nt) { return dirs == 2 && nt == 2; }

/* the input projections of every step of direction d at once: GI = X W_ih^T. A few captions (a
 * search query) take the few-rows products here and in the steps: a GEMM would pack all of W
 * first. Also h_{-1} = 0. */
static void forward_inputs(const ua_gru_work *w, const float *params, int l, int d, const float *X)
{
    const ua_gru_shape *s = &w->shape;
    const int H = s->hidden;
    const gru_block blk = block_of(s, l, d);
    const float *Wih = params + blk.w_ih;
    float *GI = w->gi[d];
    if (w->rows <= UA_FEW_ROWS)
        ua_dots_few(X, w->rows, Wih, 3 * H, blk.in, GI, 3 * (size_t)H, 1);
    else
        ua_sgemm(CblasNoTrans, CblasTrans, w->rows, 3 * H, blk.in, 1.0f, X, blk.in, Wih, blk.in, 0.0f, GI, 3 * H);
    memset(w->hprev[l * w->dirs + d], 0, sizeof(float) * (size_t)w->n_at[0] * H);
}

/* step st of direction d of layer l for the hidden units [j0, j1): their rows of the recurrent
 * product, then their gates and outputs into Y [rows, dirs*H] and the next step's h_prev */
static void forward_step(const ua_gru_work *w, const float *params, int l, int d, int st, int j0, int j1)
{
    const ua_gru_shape *s = &w->shape;
    const int H = s->hidden, dirs = w->dirs, steps = w->steps, cw = j1 - j0;
    if (cw <= 0) return;
    const gru_block blk = block_of(s, l, d);
    const float *Whh = params + blk.w_hh, *bih = params + blk.b_ih, *bhh = params + blk.b_hh;
    const int *len = w->lengths, *n_at = w->n_at, *off = w->off;
    const float *GI = w->gi[d];
    float *G = w->gates[l * dirs + d], *Hp = w->hprev[l * dirs + d], *Y = w->y[l], *GH = w->gh[d];
    const size_t H3 = 3 * (size_t)H, DH = (size_t)dirs * H;
    const int few = n_at[0] <= UA_FEW_ROWS;
    const int n = n_at[st], n_next = n_at[st + 1];
    const float *hp_s = Hp + (size_t)off[st] * H;
    float *hp_next = st + 1 < steps ? Hp + (size_t)off[st + 1] * H : NULL;
    float *g_s = G + (size_t)off[st] * 4 * H;
    for (int gate = 0; gate < 3; gate++) {
        float *c = GH + (size_t)gate * H + j0;
        if (st == 0)
            for (int b = 0; b < n; b++) memset(c + b * H3, 0, sizeof(float) * cw);
        else if (few)
            ua_dots_few(hp_s, n, Whh + ((size_t)gate * H + j0) * H, cw, H, c, H3, 1);
        else
            ua_sgemm(CblasNoTrans, CblasTrans, n, cw, H, 1.0f, hp_s, H, Whh + ((size_t)gate * H + j0) * H, H, 0.0f, c,
                     3 * H);
    }
    for (int b = 0; b < n; b++) {
        const int t = d ? len[b] - 1 - st : st;
        const size_t trow = (size_t)off[t] + b;
        const float *gi = GI + trow * H3, *gh = GH + (size_t)b * H3;
        const float *hp = hp_s + (size_t)b * H;
        float *g = g_s + (size_t)b * 4 * H;
        float *y = Y + trow * DH + (size_t)d * H;
#pragma omp simd
        for (int j = j0; j < j1; j++) {
            const float r = gru_sigmoid(gi[j] + bih[j] + gh[j] + bhh[j]);
            const float z = gru_sigmoid(gi[H + j] + bih[H + j] + gh[H + j] + bhh[H + j]);
            const float hn = gh[2 * H + j] + bhh[2 * H + j];
            const float nn = gru_tanh(gi[2 * H + j] + bih[2 * H + j] + r * hn);
            g[j] = r;
            g[H + j] = z;
            g[2 * H + j] = nn;
            g[3 * H + j] = hn;
            y[j] = (1.0f - z) * nn + z * hp[j];
        }
        if (b < n_next) memcpy(hp_next + (size_t)b * H + j0, y + j0, sizeof(float) * cw);
    }
}

/* Every direction of layer l: X [rows, in] time-packed -> Y [rows, dirs*H]. */
static void forward_layer(const ua_gru_work *w, const float *params, int l, const float *X)
{
    const int H = w->shape.hidden, dirs = w->dirs, steps = w->steps;
    for (int d = 0; d < dirs; d++) forward_inputs(w, params, l, d, X);
    const int few = w->n_at[0] <= UA_FEW_ROWS;
#pragma omp parallel if ((long)w->n_at[0] * H >= GRU_PAR_MIN || (few && 3L * H * H >= GRU_PAR_MIN_MACS))
    {
        const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
        int j0, j1;
        if (pair_of_directions(dirs, nt)) {
            for (int st = 0; st < steps; st++)
                for (int v = 0; v < nt; v++) {
                    col_range(H, v, nt, &j0, &j1);
                    forward_step(w, params, l, tid, st, j0, j1);
                }
        } else {
            col_range(H, tid, nt, &j0, &j1);
            for (int d = 0; d < dirs; d++)
                for (int st = 0; st < steps; st++) {
                    forward_step(w, params, l, d, st, j0, j1);
#pragma omp barrier
                }
        }
    }
}

int ua_gru_forward(const ua_gru_shape *s, const float *params, const float *x, const int *lengths,
                   int B, int T, float *out, ua_gru_work *w, ua_err *err)
{
    if (check_call(s, lengths, B, T, w, "forward", err)) return -1;
    const int dirs = w->dirs, H = s->hidden, in = s->input_size;
    const size_t DH = (size_t)dirs * H;

    w->valid = 0;
    w->B = B;
    w->T = T;
    w->steps = lengths[0];
    memcpy(w->lengths, lengths, sizeof(int) * (size_t)B);
    int rows = 0, n = B;
    for (int t = 0; t <= w->steps; t++) {
        while (n > 0 && lengths[n - 1] <= t) n--;
        w->n_at[t] = n;
        w->off[t] = rows;
        rows += n;
    }
    w->rows = rows;

    /* gather x into time-packed order */
    for (int t = 0; t < w->steps; t++)
        for (int b = 0; b < w->n_at[t]; b++)
            memcpy(w->x0 + ((size_t)w->off[t] + b) * in, x + ((size_t)b * T + t) * in,
                   sizeof(float) * in);

    for (int l = 0; l < s->num_layers; l++) forward_layer(w, params, l, l == 0 ? w->x0 : w->y[l - 1]);

    /* scatter the top layer into out, zeros at padding */
    const float *Y = w->y[s->num_layers - 1];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * DH;
            if (t < lengths[b])
                memcpy(o, Y + ((size_t)w->off[t] + b) * DH, sizeof(float) * DH);
            else
                memset(o, 0, sizeof(float) * DH);
        }
    w->valid = 1;
    return 0;
}

/* ---- backward ------------------------------------------------------------------------------ */

/* db[c] += sum over rows of D[:, c], D [rows, ncol]; fixed summation order */
static void col_sums(const float *D, int rows, int ncol, float *db)
{
    const int nblk = (ncol + 63) / 64;
#pragma omp parallel for schedule(static) if ((long)rows * ncol >= 4 * GRU_PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        const int c0 = blk * 64, c1 = c0 + 64 < ncol ? c0 + 64 : ncol;
        double acc[64] = {0};
        for (int r = 0; r < rows; r++) {
            const float *row = D + (size_t)r * ncol;
            for (int c = c0; c < c1; c++) acc[c - c0] += row[c];
        }
        for (int c = c0; c < c1; c++) db[c] += (float)acc[c - c0];
    }
}

/* Step st of direction d of layer l, backward, for the hidden units [j0, j1): their gate
 * gradients from dY [rows, dirs*H] and the carried dh, into dGI (time-packed) and dGH
 * (step-packed); the carry becomes dh z, which backward_carry completes. */
static void backward_gates(ua_gru_work *w, int l, int d, int st, const float *dY, int j0, int j1)
{
    const int H = w->shape.hidden, dirs = w->dirs;
    const int *len = w->lengths, *off = w->off;
    const float *G = w->gates[l * dirs + d], *Hp = w->hprev[l * dirs + d];
    float *dGI = w->gi[d], *carry = w->carry[d];
    const size_t H3 = 3 * (size_t)H, DH = (size_t)dirs * H;
    const int n = w->n_at[st];
    const float *g_s = G + (size_t)off[st] * 4 * H, *hp_s = Hp + (size_t)off[st] * H;
    float *dgh_s = w->dgh[d] + (size_t)off[st] * H3;
    for (int b = 0; b < n && j1 > j0; b++) {
        const int t = d ? len[b] - 1 - st : st;
        const size_t trow = (size_t)off[t] + b;
        const float *dy = dY + trow * DH + (size_t)d * H;
        const float *g = g_s + (size_t)b * 4 * H, *hp = hp_s + (size_t)b * H;
        float *dgi = dGI + trow * H3, *dgh = dgh_s + (size_t)b * H3;
        float *cr = carry + (size_t)b * H;
#pragma omp simd
        for (int j = j0; j < j1; j++) {
            const float dh = dy[j] + cr[j];
            const float r = g[j], z = g[H + j], nn = g[2 * H + j], hn = g[3 * H + j];
            const float dn = dh * (1.0f - z) * (1.0f - nn * nn);
            const float dz = dh * (hp[j] - nn) * z * (1.0f - z);
            const float dr = dn * hn * r * (1.0f - r);
            dgi[j] = dr;
            dgi[H + j] = dz;
            dgi[2 * H + j] = dn;
            dgh[j] = dr;
            dgh[H + j] = dz;
            dgh[2 * H + j] = dn * r;
            cr[j] = dh * z;
        }
    }
}

/* ... then, once every hidden unit's dGH of step st > 0 is there, columns [j0, j1) of
 * dh_prev = carry + dGH W_hh (h_prev at step 0 is the constant 0) */
static void backward_carry(ua_gru_work *w, const float *params, int l, int d, int st, int j0, int j1)
{
    const int H = w->shape.hidden;
    if (st == 0 || j1 <= j0) return;
    const float *Whh = params + block_of(&w->shape, l, d).w_hh;
    const float *dgh_s = w->dgh[d] + (size_t)w->off[st] * 3 * H;
    ua_sgemm(CblasNoTrans, CblasNoTrans, w->n_at[st], j1 - j0, 3 * H, 1.0f, dgh_s, 3 * H, Whh + j0, H, 1.0f,
             w->carry[d] + j0, H);
}

/* the weight and bias gradients of direction d of layer l, and dX (may be NULL) [rows, in]
 * (beta ? += : =) its input gradient */
static void backward_weights(ua_gru_work *w, const float *params, float *d_params, int l, int d, const float *X,
                             float *dX, float beta)
{
    const ua_gru_shape *s = &w->shape;
    const int H = s->hidden, rows = w->rows;
    const gru_block blk = block_of(s, l, d);
    const float *Wih = params + blk.w_ih, *Hp = w->hprev[l * w->dirs + d];
    const float *dGI = w->gi[d], *dGH = w->dgh[d];
    const size_t H3 = 3 * (size_t)H;
    float *dWih = d_params + blk.w_ih, *dWhh = d_params + blk.w_hh;
    ua_sgemm(CblasTrans, CblasNoTrans, 3 * H, blk.in, rows, 1.0f, dGI, 3 * H, X, blk.in, 1.0f, dWih, blk.in);
    const int n0 = w->n_at[0];  /* step 0 has h_prev = 0: no contribution to dW_hh */
    if (rows > n0)
        ua_sgemm(CblasTrans, CblasNoTrans, 3 * H, H, rows - n0, 1.0f, dGH + (size_t)n0 * H3, 3 * H,
                 Hp + (size_t)n0 * H, H, 1.0f, dWhh, H);
    col_sums(dGI, rows, 3 * H, d_params + blk.b_ih);
    col_sums(dGH, rows, 3 * H, d_params + blk.b_hh);
    if (dX) ua_sgemm(CblasNoTrans, CblasNoTrans, rows, blk.in, 3 * H, 1.0f, dGI, 3 * H, Wih, blk.in, beta, dX, blk.in);
}

/* Every direction of layer l, backward (the threads as in forward_layer). dY [rows, dirs*H]
 * time-packed; X the layer input; dX (may be NULL) gets the input gradient. */
static void backward_layer(ua_gru_work *w, const float *params, float *d_params, int l, const float *X,
                           const float *dY, float *dX)
{
    const int H = w->shape.hidden, dirs = w->dirs, steps = w->steps;
    for (int d = 0; d < dirs; d++) memset(w->carry[d], 0, sizeof(float) * (size_t)w->n_at[0] * H);
#pragma omp parallel if ((long)w->n_at[0] * H >= GRU_PAR_MIN)
    {
        const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
        int j0, j1;
        if (pair_of_directions(dirs, nt)) {
            for (int st = steps - 1; st >= 0; st--) {
                for (int v = 0; v < nt; v++) {
                    col_range(H, v, nt, &j0, &j1);
                    backward_gates(w, l, tid, st, dY, j0, j1);
                }
                for (int v = 0; v < nt; v++) {
                    col_range(H, v, nt, &j0, &j1);
                    backward_carry(w, params, l, tid, st, j0, j1);
                }
            }
        } else {
            col_range(H, tid, nt, &j0, &j1);
            for (int d = 0; d < dirs; d++)
                for (int st = steps - 1; st >= 0; st--) {
                    backward_gates(w, l, d, st, dY, j0, j1);
                    if (st > 0) {
#pragma omp barrier
                        backward_carry(w, params, l, d, st, j0, j1);
                    }
                }
        }
    }
    for (int d = 0; d < dirs; d++) backward_weights(w, params, d_params, l, d, X, dX, d ? 1.0f : 0.0f);
}

int ua_gru_backward(const ua_gru_shape *s, const float *params, const float *x, const int *lengths,
                    int B, int T, const float *d_out, float *d_params, float *d_x, ua_gru_work *w,
                    ua_err *err)
{
    (void)x;  /* the forward kept its packed copy */
    if (check_call(s, lengths, B, T, w, "backward", err)) return -1;
    if (!w->valid) return ua_fail(err, "gru backward: no forward on these work buffers");
    if (B != w->B || T != w->T || memcmp(lengths, w->lengths, sizeof(int) * (size_t)B) != 0)
        return ua_fail(err, "gru backward: batch, length or lengths differ from the last forward");
    const int dirs = w->dirs, H = s->hidden, in = s->input_size, L = s->num_layers;
    const size_t DH = (size_t)dirs * H;

    /* gather d_out into time-packed order */
    float *dY = w->dy[0], *dX = w->dy[1];
    for (int t = 0; t < w->steps; t++)
        for (int b = 0; b < w->n_at[t]; b++)
            memcpy(dY + ((size_t)w->off[t] + b) * DH, d_out + ((size_t)b * T + t) * DH,
                   sizeof(float) * DH);

    for (int l = L - 1; l >= 0; l--) {
        const float *X = l == 0 ? w->x0 : w->y[l - 1];
        float *dXl = (l > 0 || d_x) ? dX : NULL;
        backward_layer(w, params, d_params, l, X, dY, dXl);
        float *tmp = dY;
        dY = dX;
        dX = tmp;
    }

    if (d_x) {  /* dY now holds the layer-0 input gradient, time-packed */
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                float *o = d_x + ((size_t)b * T + t) * in;
                if (t < lengths[b])
                    memcpy(o, dY + ((size_t)w->off[t] + b) * in, sizeof(float) * in);
                else
                    memset(o, 0, sizeof(float) * in);
            }
    }
    return 0;
}
