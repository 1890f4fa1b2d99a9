/* Contrastive loss with hardest negatives (VSE++, spec scan.md 2.9). */
#include "uarda/model.h"

#include <string.h>

double ua_contrastive_loss(const float *scores, int B, double margin, int max_violation, float *d_scores)
{
    const float m = (float)margin;
    double loss = 0;
    memset(d_scores, 0, (size_t)B * B * sizeof(float));
    /* caption retrieval: image i as query, negative captions j: c_s[i][j] = [m + S[i][j] - S[i][i]]_+ */
    for (int i = 0; i < B; i++) {
        float pos = scores[(size_t)i * B + i];
        if (max_violation) {
            int best = -1;
            float worst = 0;
            for (int j = 0; j < B; j++) {
                if (j == i) continue;
                float c = m + scores[(size_t)i * B + j] - pos;
                if (c > 0 && (best < 0 || c > worst)) { worst = c; best = j; }
            }
            if (best >= 0) {
                loss += worst;
                d_scores[(size_t)i * B + best] += 1;
                d_scores[(size_t)i * B + i] -= 1;
            }
        } else {
            for (int j = 0; j < B; j++) {
                if (j == i) continue;
                float c = m + scores[(size_t)i * B + j] - pos;
                if (c > 0) {
                    loss += c;
                    d_scores[(size_t)i * B + j] += 1;
                    d_scores[(size_t)i * B + i] -= 1;
                }
            }
        }
    }
    /* image retrieval: caption j as query, negative images i: c_im[i][j] = [m + S[i][j] - S[j][j]]_+ */
    for (int j = 0; j < B; j++) {
        float pos = scores[(size_t)j * B + j];
        if (max_violation) {
            int best = -1;
            float worst = 0;
            for (int i = 0; i < B; i++) {
                if (i == j) continue;
                float c = m + scores[(size_t)i * B + j] - pos;
                if (c > 0 && (best < 0 || c > worst)) { worst = c; best = i; }
            }
            if (best >= 0) {
                loss += worst;
                d_scores[(size_t)best * B + j] += 1;
                d_scores[(size_t)j * B + j] -= 1;
            }
        } else {
            for (int i = 0; i < B; i++) {
                if (i == j) continue;
                float c = m + scores[(size_t)i * B + j] - pos;
                if (c > 0) {
                    loss += c;
                    d_scores[(size_t)i * B + j] += 1;
                    d_scores[(size_t)j * B + j] -= 1;
                }
            }
        }
    }
    return loss;
}
