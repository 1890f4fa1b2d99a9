/* The two encoders (spec scan.md 2.2, 2.3) and the l2norm they share. */
#include "core/gemm.h"
#include "uarda/model.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* below this many elements a row-wise loop runs on the calling thread: waking a sleeping thread
 * costs tens of microseconds, as much as the loop (a search query's few words) */
#define ROWS_PAR_MIN_ELEMS (1L << 16)

void ua_l2norm_rows_forward(const float *x, float *y, size_t rows, int d)
{
    #pragma omp parallel for schedule(dynamic, 32) if ((long)rows * d >= ROWS_PAR_MIN_ELEMS)
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * (size_t)d;
        float *yr = y + r * (size_t)d;
        double ss = 0;
        for (int k = 0; k < d; k++) ss += (double)xr[k] * xr[k];
        float inv = (float)(1.0 / (sqrt(ss) + 1e-8));
        for (int k = 0; k < d; k++) yr[k] = xr[k] * inv;
    }
}

/* y = x / (n + eps): dx = dy / (n + eps) - x (x . dy) / (n (n + eps)^2) */
void ua_l2norm_rows_backward(const float *x, const float *dy, float *dx, size_t rows, int d)
{
    #pragma omp parallel for schedule(dynamic, 32) if ((long)rows * d >= ROWS_PAR_MIN_ELEMS)
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * (size_t)d, *dyr = dy + r * (size_t)d;
        float *dxr = dx + r * (size_t)d;
        double ss = 0, xdy = 0;
        for (int k = 0; k < d; k++) { ss += (double)xr[k] * xr[k]; xdy += (double)xr[k] * dyr[k]; }
        double n = sqrt(ss), ne = n + 1e-8;
        float a = (float)(1.0 / ne), b = n > 0 ? (float)(xdy / (n * ne * ne)) : 0.0f;
        for (int k = 0; k < d; k++) dxr[k] = dyr[k] * a - xr[k] * b;
    }
}

void ua_image_encoder_forward(const ua_model *m, const float *x, size_t n, float *pre, float *emb)
{
    const int D = m->opt.img_dim, E = m->opt.embed_size;
    for (size_t r = 0; r < n; r++) memcpy(pre + r * (size_t)E, m->fc_bias, (size_t)E * sizeof(float));
    ua_sgemm(CblasNoTrans, CblasTrans, (int)n, E, D, 1.0f, x, D, m->fc_weight, D, 1.0f, pre, E);
    if (m->opt.no_imgnorm) {
        if (emb != pre) memcpy(emb, pre, n * (size_t)E * sizeof(float));
    } else {
        ua_l2norm_rows_forward(pre, emb, n, E);
    }
}

void ua_image_encoder_backward(const ua_model *m, const float *x, size_t n, const float *pre, float *d_emb,
                               float *d_fc_weight, float *d_fc_bias)
{
    const int D = m->opt.img_dim, E = m->opt.embed_size;
    if (!m->opt.no_imgnorm) ua_l2norm_rows_backward(pre, d_emb, d_emb, n, E);
    /* dW [E, D] += d_pre^T [E, n] x X [n, D];  db += column sums of d_pre */
    ua_sgemm(CblasTrans, CblasNoTrans, E, D, (int)n, 1.0f, d_emb, E, x, D, 1.0f, d_fc_weight, D);
    for (size_t r = 0; r < n; r++) {
        const float *g = d_emb + r * (size_t)E;
        for (int k = 0; k < E; k++) d_fc_bias[k] += g[k];
    }
}

struct ua_text_work {
    int max_batch, max_len;
    ua_gru_work *gru;
    float *x;        /* [B, T, word_dim] embedded tokens */
    float *h;        /* [B, T, dirs * E] GRU output */
    float *avg;      /* [B, T, E] directions averaged, before l2norm */
    float *d_h;      /* [B, T, dirs * E] */
    float *d_x;      /* [B, T, word_dim] */
};

ua_text_work *ua_text_work_new(const ua_model *m, int max_batch, int max_len, ua_err *err)
{
    ua_text_work *w = calloc(1, sizeof *w);
    if (!w) { ua_fail(err, "out of memory"); return NULL; }
    size_t bt = (size_t)max_batch * max_len, E = (size_t)m->opt.embed_size, dirs = m->opt.bi_gru ? 2 : 1;
    w->max_batch = max_batch;
    w->max_len = max_len;
    w->gru = ua_gru_work_new(&m->gru, max_batch, max_len, err);
    w->x = malloc(bt * m->opt.word_dim * sizeof(float));
    w->h = malloc(bt * dirs * E * sizeof(float));
    w->avg = malloc(bt * E * sizeof(float));
    w->d_h = malloc(bt * dirs * E * sizeof(float));
    w->d_x = malloc(bt * m->opt.word_dim * sizeof(float));
    if (!w->gru || !w->x || !w->h || !w->avg || !w->d_h || !w->d_x) {
        if (w->gru) ua_fail(err, "out of memory for the text encoder (%d x %d)", max_batch, max_len);
        ua_text_work_free(w);
        return NULL;
    }
    return w;
}

void ua_text_work_free(ua_text_work *w)
{
    if (!w) return;
    ua_gru_work_free(w->gru);
    free(w->x); free(w->h); free(w->avg); free(w->d_h); free(w->d_x);
    free(w);
}

int ua_text_encoder_forward(const ua_model *m, const int *tokens, const int *lengths, int B, int T, float *emb,
                            ua_text_work *w, ua_err *err)
{
    if (B > w->max_batch || T > w->max_len)
        return ua_fail(err, "text batch %d x %d exceeds the workspace (%d x %d)", B, T, w->max_batch, w->max_len);
    const int W = m->opt.word_dim, E = m->opt.embed_size, V = m->opt.vocab_size;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int id = tokens[b * T + t];
            if (id < 0 || id >= V) return ua_fail(err, "token id %d out of range [0, %d) (vocabulary/checkpoint mismatch?)", id, V);
            memcpy(w->x + ((size_t)b * T + t) * W, m->embed + (size_t)id * W, (size_t)W * sizeof(float));
        }
    if (ua_gru_forward(&m->gru, m->rnn, w->x, lengths, B, T, w->h, w->gru, err)) return -1;
    size_t rows = (size_t)B * T;
    float *avg = m->opt.no_txtnorm ? emb : w->avg;
    if (m->opt.bi_gru) {
        #pragma omp parallel for schedule(dynamic, 32) if ((long)rows * E >= ROWS_PAR_MIN_ELEMS)
        for (size_t r = 0; r < rows; r++) {
            const float *h = w->h + r * 2 * (size_t)E;
            float *o = avg + r * (size_t)E;
            for (int k = 0; k < E; k++) o[k] = (h[k] + h[E + k]) * 0.5f;
        }
    } else {
        memcpy(avg, w->h, rows * (size_t)E * sizeof(float));
    }
    if (!m->opt.no_txtnorm) ua_l2norm_rows_forward(avg, emb, rows, E);
    return 0;
}

int ua_text_encoder_backward(const ua_model *m, const int *tokens, const int *lengths, int B, int T, float *d_emb,
                             float *grads, ua_text_work *w, ua_err *err)
{
    const int W = m->opt.word_dim, E = m->opt.embed_size;
    size_t rows = (size_t)B * T;
    if (!m->opt.no_txtnorm) ua_l2norm_rows_backward(w->avg, d_emb, d_emb, rows, E);
    if (m->opt.bi_gru) {
        #pragma omp parallel for schedule(dynamic, 32) if ((long)rows * E >= ROWS_PAR_MIN_ELEMS)
        for (size_t r = 0; r < rows; r++) {
            const float *g = d_emb + r * (size_t)E;
            float *dh = w->d_h + r * 2 * (size_t)E;
            for (int k = 0; k < E; k++) { dh[k] = 0.5f * g[k]; dh[E + k] = 0.5f * g[k]; }
        }
    } else {
        memcpy(w->d_h, d_emb, rows * (size_t)E * sizeof(float));
    }
    float *d_rnn = grads + (m->rnn - m->params);
    if (ua_gru_backward(&m->gru, m->rnn, w->x, lengths, B, T, w->d_h, d_rnn, w->d_x, w->gru, err)) return -1;
    /* embedding rows: scatter-add, in a fixed order (deterministic) */
    float *d_embed = grads + (m->embed - m->params);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < lengths[b]; t++) {
            const float *g = w->d_x + ((size_t)b * T + t) * W;
            float *d = d_embed + (size_t)tokens[b * T + t] * W;
            for (int k = 0; k < W; k++) d[k] += g[k];
        }
    return 0;
}
