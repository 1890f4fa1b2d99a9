/* What uarda eval reports beside the recalls, as library functions that return structs: the
 * agreement of a thresholded model's relevance judgements with a synthetic split's grounding,
 * and the timed comparison of its similarity with and without skipping (and against SCAN's own
 * similarity on the same embeddings, the paper's retrieval-time comparison). */
#ifndef UARDA_COMPARE_H
#define UARDA_COMPARE_H

#include "uarda/eval.h"

typedef struct ua_grounding_stats {
    double threshold;                  /* the model's test threshold */
    long long grounded, grounded_relevant;       /* words that name something in their image */
    long long ungrounded, ungrounded_irrelevant; /* function words, fillers, "." */
} ua_grounding_stats;

/* Every caption of s with its own image: each word (without <start>/<end>) judged relevant when
 * max_r u_w . v_r > t (the scorer's threshold, the kernel's strict comparison in float), against
 * the generator's grounding file (grounding_path: one 0/1 per caption token). 0 / -1. */
int ua_grounding_agreement(const ua_scorer *sc, const ua_split *s, const char *grounding_path, ua_grounding_stats *g,
                           const ua_progress_cb *progress, ua_err *err);

typedef struct ua_skip_comparison {
    double seconds_skip_off, seconds_skip_on, seconds_scan;   /* each the median of its repeats */
    int repeats;                       /* timed runs of each of the three */
    double max_abs_difference;         /* between the skip-on and skip-off scores: 0 when exact */
    ua_sim_stats stats;                /* queries, irrelevant ones, entries, masked ones */
} ua_skip_comparison;

/* The split's similarity matrix of each scorer with skipping off and on, and with SCAN's own
 * attention (no threshold), each timed repeats >= 1 times in rounds of the three (the order
 * rotated per round) and reported as the median; the seconds and stats summed over the
 * scorers, the largest difference over every skip-on matrix. 0 / -1. */
int ua_compare_skipping(const ua_scorer *scorers, int n, const ua_split *s, int repeats, ua_skip_comparison *c,
                        const ua_progress_cb *progress, ua_err *err);

/* The time t against a reference time ref, as eval prints it: "12% less" when t < ref, "5% more"
 * when t > ref, never a signed percentage ("0% less" when they are equal, or ref is not positive).
 * Writes at most n bytes into buf and returns buf. */
const char *ua_time_against(double t, double ref, char *buf, size_t n);

#endif
