/* Gradient clipping, Adam and the learning-rate schedule, with PyTorch's semantics. */
#include "uarda/train.h"

#include <math.h>
#include <stdlib.h>

double ua_clip_grad_norm(float *grads, size_t n, double max_norm, double *coef)
{
    /* fixed chunks summed in a fixed order: the same bits for any thread count */
    enum { CHUNK = 1 << 16 };
    size_t n_chunks = (n + CHUNK - 1) / CHUNK;
    double *part = malloc((n_chunks ? n_chunks : 1) * sizeof *part);
    double ss = 0;
    if (part) {
        #pragma omp parallel for schedule(dynamic, 1)
        for (size_t c = 0; c < n_chunks; c++) {
            double s = 0;
            size_t end = (c + 1) * CHUNK < n ? (c + 1) * CHUNK : n;
            for (size_t i = c * CHUNK; i < end; i++) s += (double)grads[i] * grads[i];
            part[c] = s;
        }
        for (size_t c = 0; c < n_chunks; c++) ss += part[c];
        free(part);
    } else {
        for (size_t i = 0; i < n; i++) ss += (double)grads[i] * grads[i];
    }
    double norm = sqrt(ss);
    double c = max_norm / (norm + 1e-6);
    if (c > 1.0) c = 1.0;
    if (max_norm > 0 && c < 1.0) {
        float cf = (float)c;
        #pragma omp parallel for schedule(dynamic, 16384)
        for (size_t i = 0; i < n; i++) grads[i] *= cf;
    }
    if (coef) *coef = max_norm > 0 ? c : 1.0;
    return norm;
}

void ua_adam_default(ua_adam *a, double lr)
{
    a->lr = lr;
    a->beta1 = 0.9;
    a->beta2 = 0.999;
    a->eps = 1e-8;
    a->step = 0;
}

void ua_adam_update(ua_adam *a, float *params, const float *grads, float *exp_avg, float *exp_avg_sq, size_t n)
{
    a->step++;
    const double bc1 = 1.0 - pow(a->beta1, (double)a->step), bc2 = 1.0 - pow(a->beta2, (double)a->step);
    const float b1 = (float)a->beta1, b2 = (float)a->beta2, step_size = (float)(a->lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2), eps = (float)a->eps;
    #pragma omp parallel for schedule(dynamic, 16384)
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        exp_avg[i] = b1 * exp_avg[i] + (1 - b1) * g;
        exp_avg_sq[i] = b2 * exp_avg_sq[i] + (1 - b2) * g * g;
        float denom = sqrtf(exp_avg_sq[i]) / bc2_sqrt + eps;
        params[i] -= step_size * exp_avg[i] / denom;
    }
}

double ua_lr_at_epoch(double learning_rate, int lr_update, int epoch)
{
    if (lr_update <= 0) return learning_rate;
    return learning_rate * pow(0.1, (double)(epoch / lr_update));
}
