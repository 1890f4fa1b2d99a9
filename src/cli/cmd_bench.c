/* uarda bench: speed of the training step and of evaluation at SCAN's full dimensions, in
 * milliseconds, model GFLOP/s (fixed formulas of issue 5, whatever the implementation does)
 * and as a fraction of the SGEMM peak measured in the same run.
 *
 * With --vs-torch, tools/bench_torch.py runs the same benchmark in PyTorch (same dims, thread
 * count and repeats) in two variants, one structured like SCAN's code (a loop over captions)
 * and one vectorised in FP32, and a table compares them. --json prints JSON lines instead. */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "uarda/eval.h"
#include "uarda/rng.h"
#include "uarda/train.h"
#include "uarda/trainer.h"

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

/* ---- one measurement ----------------------------------------------------------------------- */

enum { V_SCAN = 0, V_VEC = 1 };
static const char *const variant_name[2] = {"scan", "vectorized"};

typedef struct bench_row {
    char label[96];           /* the table's first column */
    const char *what;         /* "train" | "eval" */
    int skip;                 /* eval of a thresholded model: 0 off, 1 on; -1 otherwise */
    double ms, gflop, gflops, peak_fraction, mean_len, rss_mb;
    double irr_fraction, masked_fraction;  /* UARDA: of the queries / entries; -1 otherwise */
    double enc_ms, enc_gflop;             /* eval: the encoding's share (median), its model FLOPs */
    /* PyTorch (--vs-torch): ms < 0 when absent */
    double torch_ms[2];
    int torch_extrapolated_from[2];       /* captions the scan-style eval measured (0: all) */
} bench_row;

#define MAX_ROWS 2

typedef struct bench_ctx {
    ua_options o;
    int repeats, threads, mean_len, regions, n_img, n_cap, thresholded, json;
    double threshold;         /* a thresholded model's: the fixed t it is measured at */
    double peak;
    bench_row rows[MAX_ROWS];
    int n_rows;
    /* torch's description, from its info line */
    char torch_desc[512];
} bench_ctx;

static void row_init(bench_row *r, const char *what)
{
    memset(r, 0, sizeof *r);
    r->what = what;
    r->skip = -1;
    r->irr_fraction = r->masked_fraction = -1;
    r->torch_ms[0] = r->torch_ms[1] = -1;
}

static const char *model_kind(const bench_ctx *c) { return c->thresholded ? "uarda" : "scan"; }

/* one training batch of random features and captions, through the library's trainer (the
 * step, the clipping, Adam and the threshold, as uarda train runs them) */
static int bench_train(bench_ctx *c, ua_rng *r, ua_err *err)
{
    const ua_options *o = &c->o;
    const int regions = c->regions, mean_len = c->mean_len, repeats = c->repeats;
    const double B = o->batch_size, R = regions, D = o->model.img_dim, E = o->model.embed_size, W = o->model.word_dim;
    int rc = 0, Bi = o->batch_size, max_len = mean_len + 3;
    float *images = malloc((size_t)Bi * regions * o->model.img_dim * sizeof(float));
    int *lengths = malloc((size_t)Bi * sizeof(int)), *tokens = calloc((size_t)Bi * max_len, sizeof(int));
    double *times = malloc((size_t)(repeats + 1) * sizeof(double));
    float *params0 = NULL;
    ua_trainer t = {0};
    if (!images || !lengths || !tokens || !times) {
        rc = ua_fail(err, "out of memory for the training batch");
        goto done;
    }
    for (size_t i = 0; i < (size_t)Bi * regions * o->model.img_dim; i++) images[i] = ua_rng_unif(r);
    random_lengths(r, lengths, Bi, mean_len, max_len);
    const int T = lengths[0];   /* the longest caption: the batch's rows are T tokens apart, as a batcher's */
    double tok_sum = 0;
    for (int i = 0; i < Bi; i++) {
        tok_sum += lengths[i];
        tokens[i * T] = 1;
        for (int k = 1; k < lengths[i] - 1; k++) tokens[i * T + k] = 4 + (int)ua_rng_below(r, (uint32_t)o->model.vocab_size - 4);
        tokens[i * T + lengths[i] - 1] = 2;
    }
    double L = tok_sum / Bi;
    /* under mpirun the batch is split over the ranks (every rank makes the same batch) */
    if (ua_trainer_open_batches(&t, o, T, regions, err) || ua_trainer_set_dist(&t, ua_cli_dist(), err)) {
        rc = -1;
        goto done;
    }
    /* every step starts from the initial weights (Adam's moments go on): the steps after the first
     * then do the same work, which a thresholded model's would not once the weights move */
    params0 = malloc(t.m.n_params * sizeof(float));
    if (!params0) { rc = ua_fail(err, "out of memory for the initial weights"); goto done; }
    memcpy(params0, t.m.params, t.m.n_params * sizeof(float));
    for (int k = 0; k <= repeats; k++) {
        memcpy(t.m.params, params0, t.m.n_params * sizeof(float));
        double t0 = ua_now();
        ua_step_metrics sm;
        if (ua_trainer_step_batch(&t, images, regions, tokens, lengths, NULL, Bi, T, &sm, err)) { rc = -1; break; }
        if (k > 0) times[k - 1] = ua_now() - t0;  /* the first run warms up */
    }
    if (!rc) {
        double sec = median(times, repeats);
        double dirs = o->model.bi_gru ? 2 : 1;
        double gflop = 3 * (2 * B * R * D * E + dirs * 2 * B * L * 3 * E * (W + E) + 2 * (B * L) * (B * R) * E) / 1e9;
        bench_row *row = &c->rows[c->n_rows++];
        row_init(row, "train");
        snprintf(row->label, sizeof row->label, "train %s %s %s B%d", model_kind(c), ua_direction_name(o->model.attn.direction),
                 ua_agg_name(o->model.attn.agg), Bi);
        row->ms = 1e3 * sec;
        row->gflop = gflop;
        row->gflops = gflop / sec;
        row->peak_fraction = gflop / sec / c->peak;
        row->mean_len = L;
        row->rss_mb = peak_rss_mb();
        if (c->thresholded) {
            const ua_sim_stats *st = &t.ut.stats;   /* the last step's */
            row->irr_fraction = st->queries ? (double)st->irrelevant / (double)st->queries : 0;
            row->masked_fraction = st->entries ? (double)st->masked / (double)st->entries : 0;
        }
        if (!c->json) {
            char uarda[64] = "", extra[128] = "";
            if (c->thresholded) {
                snprintf(uarda, sizeof uarda, " uarda t=%.3g", t.ut.t_step);
                snprintf(extra, sizeof extra, "; %.1f%% of queries irrelevant, %.1f%% of entries masked",
                         100 * row->irr_fraction, 100 * row->masked_fraction);
            }
            if (t.dist.size > 1) snprintf(uarda + strlen(uarda), sizeof uarda - strlen(uarda), " %d ranks", t.dist.size);
            printf("train %s %s%s batch %d, %dx%d -> %d, word_dim %d, mean length %.1f: %.1f ms per batch (median of %d), "
                   "%.1f GFLOP, %.1f GFLOP/s = %.0f%% of the SGEMM peak, peak RSS %.0f MB%s\n",
                   ua_direction_name(o->model.attn.direction), ua_agg_name(o->model.attn.agg), uarda, Bi, regions,
                   o->model.img_dim, o->model.embed_size, o->model.word_dim, L, 1e3 * sec, repeats, gflop, gflop / sec,
                   100 * gflop / sec / c->peak, row->rss_mb, extra);
        }
    }
done:
    ua_trainer_close(&t);
    free(params0); free(times); free(images); free(lengths); free(tokens);
    return rc;
}

static int bench_eval(bench_ctx *c, ua_rng *r, const char *skip, ua_err *err)
{
    const ua_options *o = &c->o;
    ua_model model, *m = &model;
    if (ua_model_create(m, &o->model, err)) return -1;
    ua_model_init_weights(m, 1);
    const int regions = c->regions, mean_len = c->mean_len, repeats = c->repeats, n_img = c->n_img, n_cap = c->n_cap;
    const double R = regions, D = o->model.img_dim, E = o->model.embed_size, W = o->model.word_dim;
    int rc = 0, im_div = n_cap / n_img;
    /* random features and captions through the real pipeline: encode, similarity, recalls */
    size_t nx = (size_t)n_img * regions * o->model.img_dim;
    float *images = malloc(nx * sizeof(float));
    ua_captions caps = {0};
    caps.n = n_cap;
    caps.offsets = malloc(((size_t)n_cap + 1) * sizeof(int));
    int *lengths = malloc((size_t)n_cap * sizeof(int));
    float *sims = malloc((size_t)n_img * n_cap * sizeof(float));
    double *times = malloc((size_t)repeats * sizeof(double)), *enc_times = malloc((size_t)repeats * sizeof(double));
    if (!images || !caps.offsets || !lengths || !sims || !times || !enc_times) {
        rc = ua_fail(err, "out of memory for %d images x %d captions", n_img, n_cap);
        goto done;
    }
    for (size_t i = 0; i < nx; i++) images[i] = ua_rng_unif(r);
    random_lengths(r, lengths, n_cap, mean_len, mean_len + 3);
    caps.offsets[0] = 0;
    for (int j = 0; j < n_cap; j++) caps.offsets[j + 1] = caps.offsets[j] + lengths[j];
    caps.ids = malloc((size_t)caps.offsets[n_cap] * sizeof(int));
    if (!caps.ids) { rc = ua_fail(err, "out of memory for the captions"); goto done; }
    double tok_sum = 0;
    for (int j = 0; j < n_cap; j++) {
        int *ids = caps.ids + caps.offsets[j];
        tok_sum += lengths[j];
        ids[0] = 1;
        for (int t = 1; t < lengths[j] - 1; t++) ids[t] = 4 + (int)ua_rng_below(r, (uint32_t)o->model.vocab_size - 4);
        ids[lengths[j] - 1] = 2;
        if (lengths[j] > caps.max_len) caps.max_len = lengths[j];
    }
    double L = tok_sum / n_cap;
    /* a thresholded model runs with skipping off, on, or both (two rows) */
    int skips[2] = {1, 0}, n_skips = 1;
    if (c->thresholded) {
        if (strcmp(skip, "off") == 0) skips[0] = 0;
        else if (strcmp(skip, "both") == 0) skips[0] = 0, skips[1] = 1, n_skips = 2;
    }
    for (int s = 0; s < n_skips && !rc; s++) {
        ua_attn_cfg cfg = ua_attn_at(&m->opt.attn, c->threshold);
        ua_attn_set_skip(&cfg, skips[s]);
        ua_sim_stats st = {0};
        for (int k = 0; k < repeats && !rc; k++) {
            double t = ua_now();
            ua_embeddings e;
            ua_recall rec;
            int bad = ua_encode(m, images, n_img, regions, &caps, &e, NULL, err);
            enc_times[k] = ua_now() - t;
            if (bad || ua_similarity_matrix_stats(&cfg, &e, sims, c->thresholded ? &st : NULL, NULL, err) ||
                ua_recall_compute(sims, n_img, n_img * im_div, im_div, &rec, NULL, NULL, err))
                rc = -1;
            ua_embeddings_free(&e);
            times[k] = ua_now() - t;
        }
        if (rc) break;
        double sec = median(times, repeats), dirs = o->model.bi_gru ? 2 : 1;
        double enc_gflop = (2.0 * n_img * R * D * E + dirs * 2 * n_cap * L * 3 * E * (W + E)) / 1e9;
        double gflop = 2.0 * (n_cap * L) * (n_img * R) * E / 1e9 + enc_gflop, enc_sec = median(enc_times, repeats);
        bench_row *row = &c->rows[c->n_rows++];
        row_init(row, "eval");
        snprintf(row->label, sizeof row->label, "eval %s %s %s %dx%d%s", model_kind(c), ua_direction_name(cfg.direction),
                 ua_agg_name(cfg.agg), n_img, n_cap, !c->thresholded ? "" : cfg.skip ? " skip on" : " skip off");
        row->skip = c->thresholded ? cfg.skip : -1;
        row->ms = 1e3 * sec;
        row->gflop = gflop;
        row->gflops = gflop / sec;
        row->peak_fraction = gflop / sec / c->peak;
        row->mean_len = L;
        row->rss_mb = peak_rss_mb();
        row->enc_ms = 1e3 * enc_sec;
        row->enc_gflop = enc_gflop;
        row->enc_ms = 1e3 * enc_sec;
        row->enc_gflop = enc_gflop;
        if (c->thresholded) {
            row->irr_fraction = st.queries ? (double)st.irrelevant / (double)st.queries : 0;
            row->masked_fraction = st.entries ? (double)st.masked / (double)st.entries : 0;
        }
        if (!c->json) {
            char uarda[64] = "", extra[128] = "";
            if (c->thresholded) {
                snprintf(uarda, sizeof uarda, " uarda t=%.3g skip %s", cfg.threshold, cfg.skip ? "on" : "off");
                snprintf(extra, sizeof extra, "; %.1f%% of queries irrelevant, %.1f%% of entries masked",
                         100 * row->irr_fraction, 100 * row->masked_fraction);
            }
            printf("eval %s %s%s %d images x %d captions: %.0f ms (median of %d), %.0f GFLOP, %.1f GFLOP/s = %.0f%% of the "
                   "SGEMM peak, peak RSS %.0f MB%s\n", ua_direction_name(cfg.direction), ua_agg_name(cfg.agg), uarda,
                   n_img, n_cap, 1e3 * sec, repeats, gflop, gflop / sec, 100 * gflop / sec / c->peak, row->rss_mb, extra);
            printf("  of which encoding: %.0f ms (%.0f images/s and %.0f captions/s together, %.0f GFLOP, %.1f GFLOP/s = "
                   "%.0f%% of the SGEMM peak)\n", 1e3 * enc_sec, n_img / enc_sec, n_cap / enc_sec, enc_gflop,
                   enc_gflop / enc_sec, 100 * enc_gflop / enc_sec / c->peak);
        }
    }
done:
    free(times); free(enc_times); free(sims); free(images); free(lengths);
    ua_captions_free(&caps);
    ua_model_free(m);
    return rc;
}

/* ---- the PyTorch references ---------------------------------------------------------------- */

static const char *torch_python(void)
{
    const char *p = getenv("UARDA_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* tools/bench_torch.py: $UARDA_TOOLS/, ./tools/, or <binary's folder>/../tools/ (build/uarda) */
static int find_tool(char *out, size_t cap)
{
    const char *dir = getenv("UARDA_TOOLS");
    if (dir && *dir) {
        snprintf(out, cap, "%s/bench_torch.py", dir);
        return file_exists(out) ? 0 : -1;
    }
    snprintf(out, cap, "tools/bench_torch.py");
    if (file_exists(out)) return 0;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            if ((size_t)snprintf(out, cap, "%.*s/../tools/bench_torch.py", (int)(cap > 64 ? cap - 64 : 0), exe) < cap &&
                file_exists(out))
                return 0;
        }
    }
    snprintf(out, cap, "tools/bench_torch.py");
    return -1;
}

/* runs argv with stdout to a pipe (read into *text, malloc'ed) or, with text NULL, to
 * /dev/null (stderr too); returns the exit status, or -1 when it could not run */
static int run_child(char *const *argv, char **text)
{
    int fds[2] = {-1, -1};
    if (text && pipe(fds)) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        if (text) { close(fds[0]); close(fds[1]); }
        return -1;
    }
    if (pid == 0) {
        if (text) {
            dup2(fds[1], STDOUT_FILENO);
            close(fds[0]);
            close(fds[1]);
        } else {
            FILE *null = freopen("/dev/null", "w", stdout);
            (void)null;
            null = freopen("/dev/null", "w", stderr);
            (void)null;
        }
        execv(argv[0], argv);
        _exit(127);
    }
    if (text) {
        close(fds[1]);
        size_t cap = 4096, len = 0;
        char *buf = malloc(cap);
        ssize_t got;
        while (buf && (got = read(fds[0], buf + len, cap - len - 1)) != 0) {
            if (got < 0) { if (errno == EINTR) continue; break; }
            len += (size_t)got;
            if (cap - len < 2) {
                char *nb = realloc(buf, cap * 2);
                if (!nb) { free(buf); buf = NULL; break; }
                buf = nb;
                cap *= 2;
            }
        }
        close(fds[0]);
        if (buf) buf[len] = 0;
        *text = buf;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* empty when the comparison can run, else why not */
static void torch_unavailable(char *why, size_t cap, char *tool, size_t tool_cap)
{
    why[0] = 0;
    const char *py = torch_python();
    char *argv[] = {(char *)py, "-c", "import torch", NULL};
    int st = run_child(argv, NULL);
    if (st != 0) {
        snprintf(why, cap, "%s cannot import torch (install python3-torch, or set UARDA_PYTHON)", py);
        return;
    }
    if (find_tool(tool, tool_cap))
        snprintf(why, cap, "%s not found (run from the repository root, or set UARDA_TOOLS to the tools folder)", tool);
}

static double json_num(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int run_torch(bench_ctx *c, const char *what, const char *tool, double max_seconds, const char *variants, ua_err *err)
{
    const ua_options *o = &c->o;
    const ua_attn_opts *a = &o->model.attn;
    char sv[40][48];
    int n = 0;
    char *argv[96];
    int k = 0;
    argv[k++] = (char *)torch_python();
    argv[k++] = (char *)tool;
    argv[k++] = (char *)what;
#define ARG_I(flag, v) do { argv[k++] = flag; snprintf(sv[n], sizeof sv[n], "%d", (int)(v)); argv[k++] = sv[n++]; } while (0)
#define ARG_F(flag, v) do { argv[k++] = flag; snprintf(sv[n], sizeof sv[n], "%.17g", (double)(v)); argv[k++] = sv[n++]; } while (0)
#define ARG_S(flag, v) do { argv[k++] = flag; argv[k++] = (char *)(v); } while (0)
    ARG_I("--threads", c->threads);
    ARG_I("--repeats", c->repeats);
    ARG_S("--variants", variants);
    ARG_I("--batch-size", o->batch_size);
    ARG_I("--regions", c->regions);
    ARG_I("--img-dim", o->model.img_dim);
    ARG_I("--embed-size", o->model.embed_size);
    ARG_I("--word-dim", o->model.word_dim);
    ARG_I("--vocab-size", o->model.vocab_size);
    ARG_I("--mean-len", c->mean_len);
    ARG_I("--num-layers", o->model.num_layers);
    ARG_I("--bi-gru", o->model.bi_gru);
    ARG_I("--max-violation", o->model.max_violation);
    ARG_F("--margin", o->model.margin);
    ARG_I("--no-imgnorm", o->model.no_imgnorm);
    ARG_I("--no-txtnorm", o->model.no_txtnorm);
    ARG_S("--raw-feature-norm", ua_feature_norm_name(a->norm));
    ARG_S("--agg-func", ua_agg_name(a->agg));
    ARG_S("--cross-attn", ua_direction_name(a->direction));
    ARG_F("--lambda-softmax", a->lambda_softmax);
    ARG_F("--lambda-lse", a->lambda_lse);
    ARG_F("--grad-clip", 2.0);
    ARG_F("--learning-rate", 2e-4);
    ARG_S("--clip", ua_clip_name(a->clip));
    ARG_S("--mask", ua_mask_name(a->mask));
    ARG_S("--logit", ua_logit_name(a->logit));
    ARG_S("--irr", ua_irr_name(a->irr));
    ARG_F("--threshold", c->threshold);
    ARG_I("--images", c->n_img);
    ARG_I("--captions", c->n_cap);
    ARG_F("--max-seconds", max_seconds);
    argv[k] = NULL;
#undef ARG_I
#undef ARG_F
#undef ARG_S
    char *text = NULL;
    int st = run_child(argv, &text);
    if (st != 0) {
        free(text);
        return ua_fail(err, "%s %s failed (exit status %d)", tool, what, st);
    }
    int got[2] = {0, 0};
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        cJSON *j = cJSON_Parse(line);
        if (!j) continue;
        const char *bench = json_str(j, "bench"), *variant = json_str(j, "variant");
        if (bench && strcmp(bench, "info") == 0) {
            const char *blas = json_str(j, "blas_config"), *lib = json_str(j, "libblas_so_3");
            snprintf(c->torch_desc, sizeof c->torch_desc, "torch %s, %d threads, BLAS: %s (libblas.so.3 -> %s)",
                     json_str(j, "torch") ? json_str(j, "torch") : "?", (int)json_num(j, "threads", 0),
                     blas ? blas : "not OpenBLAS", lib ? lib : "?");
        } else if (bench && variant && strcmp(bench, what) == 0) {
            int v = strcmp(variant, "scan") == 0 ? V_SCAN : strcmp(variant, "vectorized") == 0 ? V_VEC : -1;
            if (v >= 0) {
                got[v] = 1;
                for (int i = 0; i < c->n_rows; i++) {
                    c->rows[i].torch_ms[v] = json_num(j, "ms", -1);
                    c->rows[i].torch_extrapolated_from[v] = (int)json_num(j, "extrapolated_from", 0);
                }
            }
        }
        cJSON_Delete(j);
    }
    free(text);
    if (!got[V_SCAN] && !got[V_VEC]) return ua_fail(err, "%s %s printed no measurement", tool, what);
    return 0;
}

static double torch_best(const bench_row *r)
{
    double best = -1;
    for (int v = 0; v < 2; v++)
        if (r->torch_ms[v] > 0 && (best < 0 || r->torch_ms[v] < best)) best = r->torch_ms[v];
    return best;
}

static void fmt_ms(char *buf, size_t cap, double ms, int extrapolated)
{
    if (ms < 0) snprintf(buf, cap, "-");
    else snprintf(buf, cap, "%.1f%s", ms, extrapolated ? "*" : "");
}

static void print_table(const bench_ctx *c)
{
    printf("%s\n", c->torch_desc);
    printf("%-36s %12s %15s %15s %10s %9s %8s\n", "benchmark", "uarda ms", "torch scan ms", "torch vec ms",
           "speed-up", "GFLOP/s", "of peak");
    int extrapolated = 0;
    for (int i = 0; i < c->n_rows; i++) {
        const bench_row *r = &c->rows[i];
        char s0[32], s1[32], sp[32];
        fmt_ms(s0, sizeof s0, r->torch_ms[V_SCAN], r->torch_extrapolated_from[V_SCAN]);
        fmt_ms(s1, sizeof s1, r->torch_ms[V_VEC], r->torch_extrapolated_from[V_VEC]);
        extrapolated |= r->torch_extrapolated_from[V_SCAN] || r->torch_extrapolated_from[V_VEC];
        double best = torch_best(r);
        if (best > 0) snprintf(sp, sizeof sp, "%.2fx", best / r->ms);
        else snprintf(sp, sizeof sp, "-");
        printf("%-36s %12.1f %15s %15s %10s %9.1f %7.0f%%\n", r->label, r->ms, s0, s1, sp, r->gflops, 100 * r->peak_fraction);
    }
    printf("speed-up: the faster torch variant's time / uarda's; of peak: model GFLOP/s / the SGEMM peak (%.1f GFLOP/s)\n",
           c->peak);
    if (extrapolated)
        for (int v = 0; v < 2; v++)
            if (c->rows[0].torch_extrapolated_from[v])
                printf("* torch %s: similarity extrapolated from %d captions of %d\n", variant_name[v],
                       c->rows[0].torch_extrapolated_from[v], c->n_cap);
}

static void print_json(const bench_ctx *c, int vs_torch)
{
    const ua_options *o = &c->o;
    for (int i = 0; i < c->n_rows; i++) {
        const bench_row *r = &c->rows[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "bench", r->what);
        cJSON_AddStringToObject(j, "label", r->label);
        cJSON_AddStringToObject(j, "model", model_kind(c));
        cJSON_AddStringToObject(j, "cross_attn", ua_direction_name(o->model.attn.direction));
        cJSON_AddStringToObject(j, "agg_func", ua_agg_name(o->model.attn.agg));
        if (c->thresholded) {
            cJSON_AddNumberToObject(j, "threshold", c->threshold);
            cJSON_AddNumberToObject(j, "irrelevant_query_fraction", r->irr_fraction);
            cJSON_AddNumberToObject(j, "masked_entry_fraction", r->masked_fraction);
            if (r->skip >= 0) cJSON_AddBoolToObject(j, "skip", r->skip);
        }
        if (strcmp(r->what, "train") == 0) cJSON_AddNumberToObject(j, "batch_size", o->batch_size);
        else {
            cJSON_AddNumberToObject(j, "images", c->n_img);
            cJSON_AddNumberToObject(j, "captions", c->n_cap);
        }
        cJSON_AddNumberToObject(j, "regions", c->regions);
        cJSON_AddNumberToObject(j, "img_dim", o->model.img_dim);
        cJSON_AddNumberToObject(j, "embed_size", o->model.embed_size);
        cJSON_AddNumberToObject(j, "word_dim", o->model.word_dim);
        cJSON_AddNumberToObject(j, "mean_len", r->mean_len);
        cJSON_AddNumberToObject(j, "threads", c->threads);
        cJSON_AddNumberToObject(j, "repeats", c->repeats);
        cJSON_AddNumberToObject(j, "ms", r->ms);
        cJSON_AddNumberToObject(j, "gflop", r->gflop);
        cJSON_AddNumberToObject(j, "gflops", r->gflops);
        cJSON_AddNumberToObject(j, "sgemm_peak_gflops", c->peak);
        cJSON_AddNumberToObject(j, "peak_fraction", r->peak_fraction);
        cJSON_AddNumberToObject(j, "peak_rss_mb", r->rss_mb);
        if (strcmp(r->what, "eval") == 0) {
            cJSON_AddNumberToObject(j, "encode_ms", r->enc_ms);
            cJSON_AddNumberToObject(j, "encode_gflop", r->enc_gflop);
        }
        if (vs_torch) {
            cJSON *t = cJSON_AddObjectToObject(j, "torch");
            cJSON_AddStringToObject(t, "description", c->torch_desc);
            for (int v = 0; v < 2; v++) {
                if (r->torch_ms[v] < 0) continue;
                cJSON *tv = cJSON_AddObjectToObject(t, variant_name[v]);
                cJSON_AddNumberToObject(tv, "ms", r->torch_ms[v]);
                if (r->torch_extrapolated_from[v]) cJSON_AddNumberToObject(tv, "extrapolated_from", r->torch_extrapolated_from[v]);
            }
            double best = torch_best(r);
            if (best > 0) cJSON_AddNumberToObject(j, "speedup_vs_torch", best / r->ms);
        }
        char *s = cJSON_PrintUnformatted(j);
        if (s) printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    }
}

/* ---- the command --------------------------------------------------------------------------- */

int cmd_bench(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "shortlist") == 0) return cmd_bench_shortlist(argc - 1, argv + 1);
    static bench_ctx ctx;
    bench_ctx *c = &ctx;
    memset(c, 0, sizeof *c);
    ua_options *o = &c->o;
    ua_options_default(o);
    int repeats = 5, threads = 0, mean_len = 14, regions = 36, n_img = 1000, n_cap = 5000, vs_torch = 0, json = 0;
    double torch_max_seconds = 120;
    const char *skip = "on", *torch_variants = "scan,vectorized";
    o->model.vocab_size = 8481;
    /* at random initialisation the word-region similarities are about N(0, 0.03^2): t = 0.05 makes
     * about a quarter of the words irrelevant and 90% of the entries masked (t2i) */
    o->rel.t_fixed = 0.05;
    const ua_opt own[] = {
        {"vocab-size", UA_OPT_INT, &o->model.vocab_size, NULL, "vocabulary size", 0},
        {"regions", UA_OPT_INT, &regions, NULL, "regions per image", 0},
        {"mean-len", UA_OPT_INT, &mean_len, NULL, "mean caption length in tokens (<start>/<end> included)", 0},
        {"images", UA_OPT_INT, &n_img, NULL, "eval: images", 0},
        {"captions", UA_OPT_INT, &n_cap, NULL, "eval: captions (a multiple of --images)", 0},
        {"repeats", UA_OPT_INT, &repeats, NULL, "timed repetitions (the median is reported)", 0},
        {"threads", UA_OPT_INT, &threads, NULL, "threads (0: OpenMP's default)", 0},
        {"skip", UA_OPT_CHOICE, &skip, "on|off|both", "eval of a thresholded model: skip irrelevant queries and masked entries", 0},
        {"vs-torch", UA_OPT_BOOL, &vs_torch, NULL, "also run tools/bench_torch.py (PyTorch, same dims, threads and repeats) and compare", 0},
        {"torch-variants", UA_OPT_STR, &torch_variants, NULL, "--vs-torch: scan (SCAN's per-caption loop), vectorized, or both", 0},
        {"torch-max-seconds", UA_OPT_FLOAT, &torch_max_seconds, NULL,
         "--vs-torch eval: stop the scan-style similarity after this long and extrapolate (0: no limit)", 0},
        {"json", UA_OPT_BOOL, &json, NULL, "print JSON lines instead of text", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cli_flags opts = {0};
    ua_cli_flags_add_option(&opts, o, "batch-size");
    ua_cli_flags_add(&opts, own);
    ua_cli_flags_add_options(&opts, o, UA_OC_LOSS | UA_OC_SHAPE | UA_OC_SCORE | UA_OC_UARDA | UA_OC_TEST);
    ua_cmd_spec spec = {"bench", "Benchmarks at SCAN's full dimensions (36 x 2048 regions to 1024, word_dim 300):\n"
                        "  train   one training batch (forward, backward, clipping, Adam)\n"
                        "  eval    encoding + similarity + recalls of an images x captions split (the encoding's\n"
                        "          throughput reported apart)\n"
                        "  sgemm   the machine's SGEMM peak\n"
                        "  shortlist  recall and time of uarda search --shortlist on an index (uarda bench shortlist --help)\n"
                        "A thresholded model (--model uarda or any UARDA switch) uses the fixed threshold --t-fixed.\n"
                        "--vs-torch runs tools/bench_torch.py with $UARDA_PYTHON (default /usr/bin/python3); the tool is\n"
                        "looked for in $UARDA_TOOLS, ./tools, then beside the binary's folder (../tools).",
                        "usage: uarda bench {train|eval|sgemm|shortlist} [options]", ua_cli_flags_done(&opts), 1};
    int n_pos = 0, st = ua_cli_parse(&spec, argc, argv, &n_pos);
    if (st >= 0) return st;
    if (n_pos != 1 || (strcmp(argv[1], "train") && strcmp(argv[1], "eval") && strcmp(argv[1], "sgemm"))) {
        fprintf(stderr, "uarda bench: say what to measure: train, eval or sgemm\n");
        return 2;
    }
    if (n_cap < n_img || n_cap % n_img) {   /* the other sizes' ranges are checked by the parser */
        fprintf(stderr, "uarda bench: --captions %d must be a multiple of --images %d\n", n_cap, n_img);
        return 2;
    }
    ua_err err;
    if (ua_cli_apply_uarda_flags(o, &spec, &err)) { fprintf(stderr, "uarda bench: %s\n", err.msg); return 2; }
    c->thresholded = ua_options_thresholded(o);
    if (c->thresholded) {
        /* the bench measures a fixed threshold (the PyTorch reference knows no other) */
        if (ua_args_given(&spec, "t-mode") && o->rel.t_mode == UA_T_ADAPTIVE) {
            fprintf(stderr, "uarda bench: --t-mode adaptive is not measured; use --t-mode fixed --t-fixed T\n");
            return 2;
        }
        if (!ua_args_given(&spec, "t-mode")) o->rel.t_mode = UA_T_FIXED;
        c->threshold = ua_relevance_t_test(NULL, &o->rel);   /* fixed or zero mode: no state */
    }
    if (ua_cli_dist()->size > 1 && strcmp(argv[1], "train")) {
        fprintf(stderr, "uarda bench: under mpirun, bench train measures the data-parallel step; %s is one process's\n",
                argv[1]);
        return 2;
    }
    if (ua_cli_dist()->rank != 0 && !freopen("/dev/null", "w", stdout)) return 1;   /* rank 0 reports */
    ua_cli_set_threads(threads);
    c->threads = threads > 0 ? threads : omp_get_max_threads();
    c->repeats = repeats;
    c->mean_len = mean_len;
    c->regions = regions;
    c->n_img = n_img;
    c->n_cap = n_cap;
    c->json = json;
    const char *what = argv[1];
    char why[PATH_MAX + 160] = "", tool[PATH_MAX] = "";
    if (vs_torch && strcmp(what, "sgemm")) {
        torch_unavailable(why, sizeof why, tool, sizeof tool);
        if (why[0]) {
            /* uarda's own measurement still runs */
            if (json) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddStringToObject(j, "bench", "torch");
                cJSON_AddBoolToObject(j, "skipped", 1);
                cJSON_AddStringToObject(j, "reason", why);
                char *s = cJSON_PrintUnformatted(j);
                if (s) printf("%s\n", s);
                free(s);
                cJSON_Delete(j);
            } else {
                printf("torch comparison skipped: %s\n", why);
            }
            fflush(stdout);
            vs_torch = 0;
        }
    }
    c->peak = sgemm_peak();
    if (json) printf("{\"bench\":\"sgemm\",\"gflops\":%.3f,\"threads\":%d}\n", c->peak, c->threads);
    else printf("SGEMM peak (2048^3): %.1f GFLOP/s\n", c->peak);
    if (strcmp(what, "sgemm") == 0) return 0;
    ua_rng r;
    ua_rng_seed(&r, 7, 77);
    int rc = strcmp(what, "train") == 0 ? bench_train(c, &r, &err) : bench_eval(c, &r, skip, &err);
    if (rc) return ua_cli_error("bench", &err);
    if (vs_torch) {
        if (run_torch(c, what, tool, torch_max_seconds, torch_variants, &err)) return ua_cli_error("bench", &err);
        if (!json) print_table(c);
    }
    if (json) print_json(c, vs_torch);
    return 0;
}
