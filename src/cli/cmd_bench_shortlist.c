/* uarda bench shortlist: what a shortlist costs in recall and saves in time. Every query caption
 * of a gallery (its true image: line / per-image, SCAN's layout) is ranked against the indexed
 * images exhaustively and with each shortlist size; the table gives R@1/5/10 of both, how often
 * the shortlisted top-1 is the exhaustive top-1, the share of the exhaustive top 10 that the
 * shortlisted top 10 keeps, the largest difference between the scores of an image in both top
 * 10s, and the milliseconds per query (ranking only: the queries are encoded once, beforehand).
 * With --reference R (another index of the same gallery by the same model, e.g. the F32 index
 * when --index is F16) the first row is R's exhaustive search and every row of --index is
 * compared with it: what the compact index costs in recall and ranking. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "uarda/checkpoint.h"
#include "uarda/gallery.h"
#include "uarda/precomp.h"

enum { MAX_SIZES = 16 };

typedef struct arm {
    int K;                  /* 0: exhaustive */
    const ua_gallery *g;    /* the index it searches */
    long long hit1, hit5, hit10, same_top1, kept10;
    double seconds, max_dscore;
} arm;

/* rank (0-based) of `truth` among ids[0..n), INT_MAX when absent: a true image that the
 * shortlist dropped is a miss at every K, however short the list (n itself would count as a
 * hit at R@5 and R@10 for a shortlist of fewer than 10) */
static int rank_of(const int *ids, int n, int truth)
{
    for (int k = 0; k < n; k++) if (ids[k] == truth) return k;
    return INT_MAX;
}

static int parse_sizes(const char *s, int *sizes, int *n)
{
    *n = 0;
    while (s && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 1 << 30 || *n == MAX_SIZES || (*end && *end != ',')) return -1;
        sizes[(*n)++] = (int)v;
        s = *end ? end + 1 : end;
    }
    return *n > 0 ? 0 : -1;
}

/* the table (or JSON lines) of the arms over n queries; ref: the baseline's top 10 ids (-1: none) */
static void print_table(const arm *arms, int n_arms, int n, const int *ref, const ua_gallery *g, const ua_gallery *rg,
                        const char *index, const char *reference, const char *ckpt, double seconds, int json)
{
    long long ref10 = 0;
    for (long long i = 0; i < (long long)n * 10; i++) ref10 += ref[i] >= 0;
    if (!json) {
        printf("%d queries against %d images (%s, %s), %.0f s\n", n, g->n_img, index, ckpt, seconds);
        if (reference) printf("reference: %s (%s), against %s (%s)\n", reference, rg->half ? "f16" : "f32", index, g->half ? "f16" : "f32");
        printf("%-15s %6s %6s %6s %7s %9s %9s %10s %10s\n", "search", "R@1", "R@5", "R@10", "dR@1", "top1 same",
               "top10 kept", "max |ds|", "ms/query");
    }
    for (int a = 0; a < n_arms; a++) {
        const arm *A = &arms[a];
        double r1 = 100.0 * A->hit1 / n, r5 = 100.0 * A->hit5 / n, r10 = 100.0 * A->hit10 / n;
        double d1 = r1 - 100.0 * arms[0].hit1 / n, same = a ? 100.0 * A->same_top1 / n : 100.0;
        double kept = a ? 100.0 * A->kept10 / (ref10 ? ref10 : 1) : 100.0, ms = 1e3 * A->seconds / n;
        const char *dt = A->g->half ? "f16" : "f32";
        if (json) {
            printf("{\"bench\":\"shortlist\",\"index\":\"%s\",\"dtype\":\"%s\",\"shortlist\":%d,\"queries\":%d,"
                   "\"images\":%d,\"r1\":%.2f,\"r5\":%.2f,\"r10\":%.2f,\"top1_same\":%.2f,\"top10_kept\":%.2f,"
                   "\"max_dscore\":%.3g,\"ms_per_query\":%.3f}\n",
                   A->g == rg ? "reference" : "index", dt, A->K, n, g->n_img, r1, r5, r10, same, kept, A->max_dscore, ms);
        } else {
            char name[48], what[24] = "exhaustive";
            if (A->K) snprintf(what, sizeof what, "K=%d", A->K);
            snprintf(name, sizeof name, "%s%s%s", reference ? dt : "", reference ? " " : "", what);
            printf("%-15s %6.2f %6.2f %6.2f %+7.2f %8.1f%% %9.1f%% %10.2g %10.2f\n", name, r1, r5, r10, d1, same, kept,
                   A->max_dscore, ms);
        }
    }
}

int cmd_bench_shortlist(int argc, char **argv)
{
    const char *index = NULL, *ckpt = NULL, *captions = NULL, *vocab_path = NULL, *sizes_arg = "25,50,100,200",
               *skip = "on", *reference = NULL;
    int per_image = 5, n_queries = 0, threads = 0, json = 0;
    ua_opt opts[] = {
        {"index", UA_OPT_STR, &index, NULL, "a gallery made by uarda index", 0},
        {"checkpoint", UA_OPT_STR, &ckpt, NULL, "the model that made the index", 0},
        {"captions", UA_OPT_STR, &captions, NULL, "the gallery's captions, per-image lines per image in order (the queries)", 0},
        {"per-image", UA_OPT_INT, &per_image, NULL, "captions per image", 0},
        {"queries", UA_OPT_INT, &n_queries, NULL, "how many queries, evenly spaced over the captions (0: all)", 0},
        {"shortlist", UA_OPT_STR, &sizes_arg, NULL, "shortlist sizes, comma-separated", 0},
        {"reference", UA_OPT_STR, &reference, NULL,
         "another index of the gallery by the same model (e.g. F32 for an F16 --index): the baseline row", 0},
        {"vocab-path", UA_OPT_STR, &vocab_path, NULL, "vocabulary .json (default: the checkpoint's)", 0},
        {"skip", UA_OPT_CHOICE, &skip, "on|off", "UARDA: skip irrelevant queries (exact)", 0},
        {"threads", UA_OPT_INT, &threads, NULL, "threads (0: OpenMP's default)", 0},
        {"json", UA_OPT_BOOL, &json, NULL, "print JSON lines instead of the table", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cmd_spec spec = {"bench shortlist", "Recall and time of two-stage search (--shortlist K) against exhaustive search.",
                        "usage: uarda bench shortlist --index G --checkpoint C --captions CAPS.txt [--shortlist 25,50,100]\n"
                        "                             [--reference G32]",
                        opts, 0};
    int st = ua_cli_parse(&spec, argc, argv, NULL);
    if (st >= 0) return st;
    int sizes[MAX_SIZES], n_sizes = 0;
    if (!index || !ckpt || !captions) {
        fprintf(stderr, "uarda bench shortlist: --index, --checkpoint and --captions are required\n");
        return 2;
    }
    if (parse_sizes(sizes_arg, sizes, &n_sizes)) {
        fprintf(stderr, "uarda bench shortlist: --shortlist '%s' is not a list of up to %d sizes >= 1\n", sizes_arg, MAX_SIZES);
        return 2;
    }
    if (per_image < 1 || n_queries < 0) { fprintf(stderr, "uarda bench shortlist: bad --per-image or --queries\n"); return 2; }
    ua_cli_set_threads(threads);
    ua_err err;
    ua_searcher se;
    ua_captions caps = {0};
    ua_embeddings q = {0};
    char **lines = NULL;
    int n_lines = 0, rc = 1, *ids = NULL, *ref = NULL, *pick = NULL;
    float *scores = NULL, *ref_scores = NULL;
    arm arms[MAX_SIZES + 2];
    ua_gallery rg = {0};
    if (ua_searcher_open(&se, ckpt, index, strcmp(skip, "on") == 0, 1, vocab_path, &err)) {
        ua_cli_error("bench shortlist", &err);
        return 1;
    }
    if (se.m.unverified) ua_cli_warn_no_checksum("bench shortlist", ckpt);
    const ua_gallery *g = &se.g;
    if (reference) {
        if (ua_gallery_open(&rg, reference, &se.m, &err)) goto fail;
        if (rg.n_img != g->n_img || rg.R != g->R) {
            ua_fail(&err, "%s: %d images of %d regions, but %s has %d of %d: not an index of the same gallery", reference,
                    rg.n_img, rg.R, index, g->n_img, g->R);
            goto fail;
        }
    }
    if (!(lines = ua_cli_read_lines(captions, &n_lines, &err))) goto fail;
    if (n_lines != g->n_img * per_image) {
        ua_fail(&err, "%s: %d lines, but the index holds %d images x %d captions", captions, n_lines, g->n_img, per_image);
        goto fail;
    }
    /* every line is checked (blank, too long: the message names the line), not only the queries picked */
    if (ua_captions_from_lines(&caps, (const char *const *)lines, n_lines, captions, &se.v, se.tok, &err)) goto fail;
    ua_captions_free(&caps);
    int n = n_queries > 0 && n_queries < n_lines ? n_queries : n_lines;
    pick = malloc((size_t)n * sizeof(int));
    char **chosen = malloc((size_t)n * sizeof(char *));
    if (!pick || !chosen) { free(chosen); ua_fail(&err, "out of memory"); goto fail; }
    for (int i = 0; i < n; i++) { pick[i] = (int)((long long)i * n_lines / n); chosen[i] = lines[pick[i]]; }
    int bad = ua_searcher_encode(&se, (const char *const *)chosen, n, captions, &caps, &q, &err);
    free(chosen);
    if (bad) goto fail;
    ids = malloc(10 * sizeof(int));
    ref = malloc((size_t)n * 10 * sizeof(int));
    scores = malloc(10 * sizeof(float));
    ref_scores = malloc((size_t)n * 10 * sizeof(float));
    if (!ids || !ref || !scores || !ref_scores) { ua_fail(&err, "out of memory"); goto fail; }
    memset(arms, 0, sizeof arms);
    /* arm 0 the baseline: the reference's exhaustive search, or --index's own */
    int n_arms = 0;
    if (reference) arms[n_arms++] = (arm){.K = 0, .g = &rg};
    arms[n_arms++] = (arm){.K = 0, .g = g};
    for (int a = 0; a < n_sizes; a++) arms[n_arms++] = (arm){.K = sizes[a], .g = g};
    const ua_attn_cfg scoring = ua_searcher_attn(&se);
    double t_start = ua_now();
    for (int a = 0; a < n_arms; a++) {
        arm *A = &arms[a];
        for (int i = 0; i < n; i++) {
            int off[2];
            ua_embeddings one = ua_embeddings_caption(&q, i, off);
            double t0 = ua_now();
            int got = ua_gallery_rank_images(A->g, &scoring, &one, A->K, 10, ids, scores, &err);
            A->seconds += ua_now() - t0;
            if (got < 0) goto fail;
            const int top = got < 10 ? got : 10, r = rank_of(ids, top, pick[i] / per_image);
            A->hit1 += r < 1; A->hit5 += r < 5; A->hit10 += r < 10;
            if (a == 0) {
                for (int k = 0; k < 10; k++) {
                    ref[(size_t)i * 10 + k] = k < top ? ids[k] : -1;
                    ref_scores[(size_t)i * 10 + k] = k < top ? scores[k] : 0;
                }
            } else {
                A->same_top1 += ids[0] == ref[(size_t)i * 10];
                for (int k = 0; k < 10; k++) {
                    const int at = ref[(size_t)i * 10 + k] >= 0 ? rank_of(ids, top, ref[(size_t)i * 10 + k]) : INT_MAX;
                    if (at >= top) continue;
                    A->kept10++;
                    const double d = fabs((double)scores[at] - ref_scores[(size_t)i * 10 + k]);
                    if (d > A->max_dscore) A->max_dscore = d;
                }
            }
        }
        if (!json) fprintf(stderr, "  %s%s %d: %.0f s\n", A->g == &rg ? "reference " : "", A->K ? "shortlist" : "exhaustive",
                           A->K, A->seconds);
    }
    print_table(arms, n_arms, n, ref, g, &rg, index, reference, ckpt, ua_now() - t_start, json);
    rc = 0;
    goto done;
fail:
    ua_cli_error("bench shortlist", &err);
done:
    free(ids); free(ref); free(scores); free(ref_scores); free(pick);
    ua_gallery_close(&rg);
    ua_embeddings_free(&q);
    ua_captions_free(&caps);
    ua_cli_free_lines(lines, n_lines);
    ua_searcher_close(&se);
    return rc;
}
