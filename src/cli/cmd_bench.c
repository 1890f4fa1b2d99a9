/* uarda bench: speed of the training step and of evaluation at SCAN's full dimensions, in
 * milliseconds, model GFLOP/s (fixed formulas of issue 5, whatever the implementation does)
 * and as a fraction of the SGEMM peak measured in the same run. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "uarda/eval.h"
#include "uarda/rng.h"
#include "uarda/train.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* GFLOP/s of a large SGEMM (the machine's practical FP32 peak) */
static double sgemm_peak(void)
{
    const int n = 2048;
    float *a = malloc((size_t)n * n * sizeof(float)), *b = malloc((size_t)n * n * sizeof(float)),
          *c = malloc((size_t)n * n * sizeof(float));
    if (!a || !b || !c) { free(a); free(b); free(c); return 0; }
    for (size_t i = 0; i < (size_t)n * n; i++) { a[i] = (float)(i % 7) * 0.1f; b[i] = (float)(i % 5) * 0.1f; }
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        double t = ua_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t = ua_now() - t;
        if (r > 0 && t < best) best = t;
    }
    free(a); free(b); free(c);
    return 2.0 * n * (double)n * n / best / 1e9;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static void random_lengths(ua_rng *r, int *lengths, int n, int mean_len, int max_len)
{
    for (int i = 0; i < n; i++) {
        int len = mean_len - 3 + (int)ua_rng_below(r, 7);
        lengths[i] = len < 3 ? 3 : (len > max_len ? max_len : len);
    }
    /* descending, as batches are */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && lengths[j] > lengths[j - 1]; j--) { int t = lengths[j]; lengths[j] = lengths[j - 1]; lengths[j - 1] = t; }
}

int cmd_bench(int argc, char **argv)
{
    ua_options o;
    ua_options_default(&o);
    ua_model_flags f;
    ua_cli_model_flags_from(&o, &f);
    int repeats = 5, threads = 0, mean_len = 14, regions = 36, n_img = 1000, n_cap = 5000;
    o.model.vocab_size = 8481;
    ua_opt opts[] = {
        {"batch-size", UA_OPT_INT, &o.batch_size, NULL, "training batch", 0},
        {"vocab-size", UA_OPT_INT, &o.model.vocab_size, NULL, "vocabulary size", 0},
        {"regions", UA_OPT_INT, &regions, NULL, "regions per image", 0},
        {"mean-len", UA_OPT_INT, &mean_len, NULL, "mean caption length in tokens (<start>/<end> included)", 0},
        {"images", UA_OPT_INT, &n_img, NULL, "eval: images", 0},
        {"captions", UA_OPT_INT, &n_cap, NULL, "eval: captions", 0},
        {"repeats", UA_OPT_INT, &repeats, NULL, "timed repetitions (the median is reported)", 0},
        {"threads", UA_OPT_INT, &threads, NULL, "threads (0: OpenMP's default)", 0},
        UA_MODEL_FLAG_OPTS(o, f),
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cmd_spec spec = {"bench", "Benchmarks at SCAN's full dimensions (36 x 2048 regions to 1024, word_dim 300):\n"
                        "  train   one training batch (forward, backward, clipping, Adam)\n"
                        "  eval    encoding + similarity + recalls of an images x captions split\n"
                        "  sgemm   the machine's SGEMM peak",
                        "usage: uarda bench {train|eval|sgemm} [options]", opts, 1};
    int n_pos = 0, st = ua_cli_parse(&spec, argc, argv, &n_pos);
    if (st >= 0) return st;
    if (n_pos != 1 || (strcmp(argv[1], "train") && strcmp(argv[1], "eval") && strcmp(argv[1], "sgemm"))) {
        fprintf(stderr, "uarda bench: say what to measure: train, eval or sgemm\n");
        return 2;
    }
    if (repeats < 1 || regions < 1 || mean_len < 3 || o.batch_size < 2 || n_img < 1 || n_cap < n_img) {
        fprintf(stderr, "uarda bench: bad sizes\n");
        return 2;
    }
    ua_cli_apply_model_flags(&o, &f, NULL);
    ua_cli_set_threads(threads);
    const char *what = argv[1];
    double peak = sgemm_peak();
    printf("SGEMM peak (2048^3): %.1f GFLOP/s\n", peak);
    if (strcmp(what, "sgemm") == 0) return 0;
    ua_err err;
    ua_model m;
    if (ua_model_create(&m, &o.model, &err)) return ua_cli_error("bench", &err);
    ua_model_init_weights(&m, 1);
    ua_rng r;
    ua_rng_seed(&r, 7, 77);
    const double B = o.batch_size, R = regions, D = o.model.img_dim, E = o.model.embed_size, W = o.model.word_dim;
    int rc = 0;
    if (strcmp(what, "train") == 0) {
        int Bi = o.batch_size, max_len = mean_len + 3;
        float *images = malloc((size_t)Bi * regions * o.model.img_dim * sizeof(float));
        int *lengths = malloc((size_t)Bi * sizeof(int)), *tokens = calloc((size_t)Bi * max_len, sizeof(int));
        float *grads = malloc(m.n_params * sizeof(float)), *ea = calloc(m.n_params, sizeof(float)),
              *eas = calloc(m.n_params, sizeof(float));
        for (size_t i = 0; i < (size_t)Bi * regions * o.model.img_dim; i++) images[i] = ua_rng_unif(&r);
        random_lengths(&r, lengths, Bi, mean_len, max_len);
        double tok_sum = 0;
        for (int i = 0; i < Bi; i++) {
            tok_sum += lengths[i];
            tokens[i * max_len] = 1;
            for (int t = 1; t < lengths[i] - 1; t++) tokens[i * max_len + t] = 4 + (int)ua_rng_below(&r, (uint32_t)o.model.vocab_size - 4);
            tokens[i * max_len + lengths[i] - 1] = 2;
        }
        int T = lengths[0];
        double L = tok_sum / Bi;
        ua_step_work *w = ua_step_work_new(&m, Bi, T, regions, &err);
        if (!w) { rc = ua_cli_error("bench", &err); goto train_done; }
        ua_adam adam;
        ua_adam_default(&adam, 2e-4);
        double *times = malloc((size_t)(repeats + 1) * sizeof(double));
        for (int k = 0; k <= repeats; k++) {
            double t = ua_now(), loss;
            memset(grads, 0, m.n_params * sizeof(float));
            if (ua_step(&m, images, regions, tokens, lengths, Bi, T, &loss, grads, w, &err)) { rc = ua_cli_error("bench", &err); break; }
            ua_clip_grad_norm(grads, m.n_params, 2.0, NULL);
            ua_adam_update(&adam, m.params, grads, ea, eas, m.n_params);
            if (k > 0) times[k - 1] = ua_now() - t;  /* the first run warms up */
        }
        if (!rc) {
            double sec = median(times, repeats);
            double dirs = o.model.bi_gru ? 2 : 1;
            double gflop = 3 * (2 * B * R * D * E + dirs * 2 * B * L * 3 * E * (W + E) + 2 * (B * L) * (B * R) * E) / 1e9;
            printf("train %s %s batch %d, %dx%d -> %d, word_dim %d, mean length %.1f: %.1f ms per batch (median of %d), "
                   "%.1f GFLOP, %.1f GFLOP/s = %.0f%% of the SGEMM peak, peak RSS %.0f MB\n",
                   ua_direction_name(o.model.attn.direction), ua_agg_name(o.model.attn.agg), Bi, regions,
                   o.model.img_dim, o.model.embed_size, o.model.word_dim, L, 1e3 * sec, repeats, gflop, gflop / sec,
                   100 * gflop / sec / peak, peak_rss_mb());
        }
        free(times);
        ua_step_work_free(w);
    train_done:
        free(images); free(lengths); free(tokens); free(grads); free(ea); free(eas);
    } else {
        /* random features and captions through the real pipeline: encode, similarity, recalls */
        int im_div = n_cap / n_img;
        size_t nx = (size_t)n_img * regions * o.model.img_dim;
        float *images = malloc(nx * sizeof(float));
        for (size_t i = 0; i < nx; i++) images[i] = ua_rng_unif(&r);
        ua_captions caps = {0};
        caps.n = n_cap;
        caps.offsets = malloc(((size_t)n_cap + 1) * sizeof(int));
        int *lengths = malloc((size_t)n_cap * sizeof(int));
        random_lengths(&r, lengths, n_cap, mean_len, mean_len + 3);
        caps.offsets[0] = 0;
        for (int j = 0; j < n_cap; j++) caps.offsets[j + 1] = caps.offsets[j] + lengths[j];
        caps.ids = malloc((size_t)caps.offsets[n_cap] * sizeof(int));
        double tok_sum = 0;
        for (int j = 0; j < n_cap; j++) {
            int *ids = caps.ids + caps.offsets[j];
            tok_sum += lengths[j];
            ids[0] = 1;
            for (int t = 1; t < lengths[j] - 1; t++) ids[t] = 4 + (int)ua_rng_below(&r, (uint32_t)o.model.vocab_size - 4);
            ids[lengths[j] - 1] = 2;
            if (lengths[j] > caps.max_len) caps.max_len = lengths[j];
        }
        double L = tok_sum / n_cap;
        float *sims = malloc((size_t)n_img * n_cap * sizeof(float));
        double *times = malloc((size_t)repeats * sizeof(double));
        for (int k = 0; k < repeats && !rc; k++) {
            double t = ua_now();
            ua_embeddings e;
            ua_recall rec;
            if (ua_encode(&m, images, n_img, regions, &caps, &e, &err) || ua_similarity_matrix(&o.model.attn, &e, sims, &err) ||
                ua_recall_compute(sims, n_img, n_img * im_div, im_div, &rec, NULL, NULL, &err))
                rc = ua_cli_error("bench", &err);
            ua_embeddings_free(&e);
            times[k] = ua_now() - t;
        }
        if (!rc) {
            double sec = median(times, repeats), dirs = o.model.bi_gru ? 2 : 1;
            double gflop = (2.0 * (n_cap * L) * (n_img * R) * E + 2 * n_img * R * D * E + dirs * 2 * n_cap * L * 3 * E * (W + E)) / 1e9;
            printf("eval %s %s %d images x %d captions: %.0f ms (median of %d), %.0f GFLOP, %.1f GFLOP/s = %.0f%% of the "
                   "SGEMM peak, peak RSS %.0f MB\n", ua_direction_name(o.model.attn.direction), ua_agg_name(o.model.attn.agg),
                   n_img, n_cap, 1e3 * sec, repeats, gflop, gflop / sec, 100 * gflop / sec / peak, peak_rss_mb());
        }
        free(times); free(sims); free(images); free(lengths);
        ua_captions_free(&caps);
    }
    ua_model_free(&m);
    return rc;
}
