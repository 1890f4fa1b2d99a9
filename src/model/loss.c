/* Contrastive loss with hardest negatives (VSE++, spec scan.md 2.9). */
#include "uarda/model.h"

#include <string.h>

/* One direction of the loss. Query q's candidates k are the entries scores[q * qs + k * ks],
 * its positive is the diagonal scores[q * (B + 1)]:
 *   caption retrieval (image i as query, negative captions j): qs = B, ks = 1
 *   image retrieval (caption j as query, negative images i):   qs = 1, ks = B
 * cost = [margin + negative - positive]_+, summed over all negatives or only the hardest. */
static double one_direction(const float *scores, int B, float margin, int max_violation, size_t qs, size_t ks,
                            float *d_scores)
{
    double loss = 0;
    for (int q = 0; q < B; q++) {
        const size_t pos = (size_t)q * (B + 1);
        const float p = scores[pos];
        int best = -1;
        float worst = 0;
        for (int k = 0; k < B; k++) {
            if (k == q) continue;
            size_t o = (size_t)q * qs + (size_t)k * ks;
            float c = margin + scores[o] - p;
            if (!(c > 0)) continue;
            if (max_violation) {
                if (best < 0 || c > worst) { worst = c; best = k; }
            } else {
                loss += c;
                d_scores[o] += 1;
                d_scores[pos] -= 1;
            }
        }
        if (max_violation && best >= 0) {
            loss += worst;
            d_scores[(size_t)q * qs + (size_t)best * ks] += 1;
            d_scores[pos] -= 1;
        }
    }
    return loss;
}

double ua_contrastive_loss(const float *scores, int B, double margin, int max_violation, float *d_scores)
{
    memset(d_scores, 0, (size_t)B * B * sizeof(float));
    return one_direction(scores, B, (float)margin, max_violation, (size_t)B, 1, d_scores) +
           one_direction(scores, B, (float)margin, max_violation, 1, (size_t)B, d_scores);
}
