/* uarda plot: pictures (PNG or SVG, by the file extension) of a model and of a training run:
 *   hist       relevant vs irrelevant word-region similarities with the thresholds t_tr, t_te
 *   log        dev rsum, and t_tr / t_te (with mu+ / mu-) over the epochs of a train.jsonl
 *   attention  one caption's word-to-region attention map with its own image */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "uarda/atomic.h"
#include "uarda/checkpoint.h"
#include "uarda/eval.h"
#include "uarda/plot.h"
#include "uarda/safetensors.h"

/* the thresholds in the checkpoint's metadata "relevance" ({"t_tr": x, "t_te": y, ...});
 * *found = 0 (SCAN) when the key is absent */
static int read_relevance(const char *path, int *found, double *t_tr, double *t_te, ua_err *err)
{
    *found = 0;
    *t_tr = *t_te = 0;
    ua_st_file f;
    if (ua_st_open(&f, path, err)) return -1;
    int rc = 0;
    const char *txt = ua_st_meta(&f, "relevance");
    if (txt) {
        cJSON *j = cJSON_Parse(txt);
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "t_tr"), *b = cJSON_GetObjectItemCaseSensitive(j, "t_te");
        if (!cJSON_IsObject(j))
            rc = ua_fail(err, "%s: metadata \"relevance\" is not a JSON object", path);
        else if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b) || !isfinite(a->valuedouble) || !isfinite(b->valuedouble))
            rc = ua_fail(err, "%s: metadata \"relevance\" lacks the numbers \"t_tr\" and \"t_te\"", path);
        else {
            *found = 1;
            *t_tr = a->valuedouble;
            *t_te = b->valuedouble;
        }
        cJSON_Delete(j);
    }
    ua_st_close(&f);
    return rc;
}

/* "run/model_best.safetensors" for ".../run/model_best.safetensors" */
static void short_path(char *buf, size_t cap, const char *p)
{
    const char *end = strrchr(p, '/');
    if (!end) { snprintf(buf, cap, "%s", p); return; }
    const char *s = end;
    while (s > p && s[-1] != '/') s--;
    snprintf(buf, cap, "%s", s);
}

/* --texts FILE: what the picture shows, as JSON {"picture", "output", "texts": [...],
 * "rows_off"} (for scripts, and for tests that cannot read pixels) */
static int write_texts(const char *path, const char *picture, const char *output, const ua_plot_texts *t, ua_err *err)
{
    if (!path) return 0;
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "texts");
    cJSON_AddStringToObject(j, "picture", picture);
    cJSON_AddStringToObject(j, "output", output);
    for (int k = 0; arr && k < t->n && k < UA_PLOT_TEXTS_MAX; k++) cJSON_AddItemToArray(arr, cJSON_CreateString(t->text[k]));
    cJSON_AddNumberToObject(j, "rows_off", t->rows_off);
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!txt) return ua_fail(err, "%s: out of memory", path);
    size_t n = strlen(txt);
    txt[n] = '\n';   /* cJSON's terminator becomes the final newline */
    int rc = ua_mkdir_parent(path, err) || ua_write_file_atomic(path, txt, n + 1, err) ? -1 : 0;
    free(txt);
    return rc;
}

/* ---- hist ------------------------------------------------------------------------------ */

typedef struct plot_args {
    const char *checkpoint, *data_path, *data_name, *vocab_path, *split, *output, *log, *by, *title, *texts;
    int max_captions, caption, threads;
} plot_args;

typedef struct loaded {
    ua_options o;
    ua_model m;
    ua_vocab vocab;
    ua_split s;
    int has_rel;
    double t_tr, t_te;
    const char *dp, *dn;
    int model_ok;
} loaded;

static int load_model_split(const plot_args *a, const char *split, loaded *L, ua_err *err)
{
    memset(L, 0, sizeof *L);
    if (!a->checkpoint) return ua_fail(err, "--checkpoint is required");
    ua_options_default(&L->o);
    if (ua_checkpoint_open(a->checkpoint, &L->o, &L->m, err)) return -1;
    if (L->m.unverified) ua_cli_warn_no_checksum("plot", a->checkpoint);
    L->model_ok = 1;
    if (read_relevance(a->checkpoint, &L->has_rel, &L->t_tr, &L->t_te, err)) return -1;
    /* training saves the relevance state whatever the model, so a SCAN checkpoint has one too
     * (never updated): only a thresholded model has thresholds to draw */
    if (!ua_options_thresholded(&L->o)) L->has_rel = 0;
    /* the threshold the checkpoint tests with (its t_test: safe t_te, train t_tr, or fixed), and
     * the one it trained with (a fixed t is not in the state, which only adaptive runs update) */
    if (L->has_rel) L->t_te = L->m.t_test;
    if (L->has_rel && L->o.rel.t_mode == UA_T_FIXED) L->t_tr = L->o.rel.t_fixed;
    L->dp = a->data_path ? a->data_path : L->o.data_path;
    L->dn = a->data_name ? a->data_name : L->o.data_name;
    char *vf = ua_vocab_file(a->vocab_path ? a->vocab_path : L->o.vocab_path, L->dn);
    if (!vf) return ua_fail(err, "out of memory");
    int rc = ua_vocab_load(&L->vocab, vf, err);
    if (!rc && L->m.opt.vocab_size != L->vocab.n)
        rc = ua_fail(err, "%s was trained with a vocabulary of %d words, %s has %d", a->checkpoint,
                     L->m.opt.vocab_size, vf, L->vocab.n);
    free(vf);
    if (rc) return -1;
    return ua_split_open(&L->s, L->dp, L->dn, split, &L->vocab, 0, err);
}

static void unload(loaded *L)
{
    ua_split_close(&L->s);
    ua_vocab_free(&L->vocab);
    if (L->model_ok) ua_model_free(&L->m);
}

static int plot_hist(const plot_args *a, ua_err *err)
{
    const char *split = a->split ? a->split : "dev";
    int grounding = strcmp(a->by, "grounding") == 0;
    loaded L;
    float *pos = NULL, *neg = NULL;
    int n_pos = 0, n_neg = 0, rc = -1;
    char *gpath = NULL;
    if (load_model_split(a, split, &L, err)) goto out;
    if (grounding) {
        gpath = ua_split_path(L.dp, L.dn, split, "caps_grounding.txt");
        struct stat sb;
        if (!gpath || stat(gpath, &sb) != 0) {
            ua_fail(err, "--by grounding needs %s, which does not exist (only synthetic data has grounding files)",
                    gpath ? gpath : split);
            goto out;
        }
        if (ua_grounding_samples(&L.m, &L.s, gpath, a->max_captions, &pos, &n_pos, &neg, &n_neg, NULL, err)) goto out;
    } else if (ua_relevance_samples(&L.m, &L.s, a->max_captions, &pos, &n_pos, &neg, &n_neg, NULL, err)) {
        goto out;
    }
    int n_cap = a->max_captions > 0 && a->max_captions < L.s.n_items ? a->max_captions : L.s.n_items;
    const char *rel_labels[2] = {"relevant (own image)", "irrelevant (next image)"};
    const char *gr_labels[2] = {"grounded words", "ungrounded words"};
    char title[768], ck[256];
    short_path(ck, sizeof ck, a->checkpoint);
    if (a->title) snprintf(title, sizeof title, "%s", a->title);
    else
        snprintf(title, sizeof title, "%s\n%s  \xc2\xb7  %s split, %d captions  \xc2\xb7  %s %s",
                 grounding ? "Word\xe2\x80\x93region similarity of grounded vs. ungrounded words (matched pairs)"
                           : "Word\xe2\x80\x93region similarity: relevant vs. irrelevant fragments",
                 ck, split, n_cap, ua_direction_name(L.m.opt.attn.direction),
                 L.has_rel ? "model, UARDA thresholds from the checkpoint" : "SCAN model (no learned threshold)");
    /* a mixture-estimator checkpoint: the relevant component of these samples, fitted as in
     * training (the irrelevant part: the negatives' Gaussian) */
    double mix[3];
    int with_mix = !grounding && L.has_rel && L.o.rel.t_est == UA_T_EST_MIXTURE &&
                   ua_relevant_component_fit_samples(pos, n_pos, neg, n_neg, &mix[1], &mix[2], &mix[0]) == 0;
    ua_plot_texts texts;
    rc = ua_plot_histograms(a->output, pos, n_pos, neg, n_neg, grounding ? gr_labels : rel_labels,
                            L.has_rel ? L.t_tr : NAN, L.has_rel ? L.t_te : NAN, with_mix ? mix : NULL, title, &texts,
                            err);
    if (!rc) rc = write_texts(a->texts, "hist", a->output, &texts, err);
    if (!rc)
        printf("%s: %d %s and %d %s similarities of %d captions (%s), %s\n", a->output, n_pos,
               grounding ? "grounded" : "relevant", n_neg, grounding ? "ungrounded" : "irrelevant", n_cap, split,
               L.has_rel ? "with t_tr and t_te" : "SCAN: t = 0");
out:
    free(gpath);
    free(pos);
    free(neg);
    unload(&L);
    return rc;
}

/* ---- attention ------------------------------------------------------------------------- */

static int plot_attention(const plot_args *a, ua_err *err)
{
    const char *split = a->split ? a->split : "test";
    loaded L;
    float *attn = NULL, *mx = NULL;
    int rc = -1, W = 0, R = 0;
    char **notes = NULL;
    const char **labels = NULL;
    unsigned char *off = NULL;
    if (load_model_split(a, split, &L, err)) goto out;
    const ua_attn_cfg cfg = ua_attn_at(&L.m.opt.attn, L.m.t_test);
    if (ua_attention_map(&L.m, &L.s, a->caption, &cfg, &attn, &mx, &W, &R, err)) goto out;
    const int *ids = ua_caption_ids(&L.s.caps, a->caption);
    notes = calloc((size_t)W, sizeof *notes);
    labels = calloc((size_t)W, sizeof *labels);
    off = calloc((size_t)W, 1);
    if (!notes || !labels || !off) { ua_fail(err, "out of memory"); goto out; }
    int any_off = 0;
    float amax = 0;
    for (int w = 0; w < W; w++) {
        labels[w] = ids[w] >= 0 && ids[w] < L.vocab.n ? L.vocab.words[ids[w]] : "?";
        notes[w] = malloc(32);
        if (!notes[w]) { ua_fail(err, "out of memory"); goto out; }
        snprintf(notes[w], 32, "%.3f", mx[w]);
        off[w] = (L.has_rel && !(mx[w] > (float)L.t_te)) || isnan(attn[(size_t)w * R]);
        any_off |= off[w];
        for (int r = 0; r < R && !off[w]; r++)
            if (attn[(size_t)w * R + r] > amax) amax = attn[(size_t)w * R + r];
    }
    /* the caption's words, for the subtitle */
    char words[200] = "";
    size_t n = 0;
    for (int w = 1; w < W - 1 && n + 4 < sizeof words; w++) {
        int k = snprintf(words + n, sizeof words - n, "%s%s", w > 1 ? " " : "", labels[w]);
        if (k < 0 || n + (size_t)k >= sizeof words - 4) { snprintf(words + n, sizeof words - n, " \xe2\x80\xa6"); break; }
        n += (size_t)k;
    }
    int i2t = L.m.opt.attn.direction == UA_I2T;
    char title[768], ck[256], offlabel[160];
    short_path(ck, sizeof ck, a->checkpoint);
    if (a->title) snprintf(title, sizeof title, "%s", a->title);
    else
        snprintf(title, sizeof title,
                 "Attention of words over regions%s: caption %d of %s, image %d\n\xe2\x80\x9c%s\xe2\x80\x9d  \xc2\xb7  %s  "
                 "\xc2\xb7  \xce\xbb = %g, %s",
                 i2t ? " (t2i view of an i2t model)" : " (t2i)", a->caption, split, ua_split_image_of(&L.s, a->caption),
                 words, ck, cfg.lambda_softmax,
                 L.has_rel ? "UARDA, t_te from the checkpoint" : "SCAN (no relevance threshold)");
    if (L.has_rel) snprintf(offlabel, sizeof offlabel, "irrelevant word: max similarity \xe2\x89\xa4 t_te = %.3f", L.t_te);
    else snprintf(offlabel, sizeof offlabel, "word skipped by the model");
    ua_plot_heatmap_opts o = {0};
    o.row_off = any_off ? off : NULL;
    o.row_off_label = offlabel;
    o.row_notes = (const char *const *)notes;
    o.notes_header = "max sim.";
    o.xlabel = "image region (index of the 36 boxes)";
    o.ylabel = "caption word";
    o.cbar_label = "attention weight (softmax over regions)";
    o.vmin = 0;
    o.vmax = amax > 0 ? amax : 1;
    ua_plot_texts texts;
    o.texts = &texts;
    rc = ua_plot_heatmap_ex(a->output, attn, W, R, labels, title, &o, err);
    if (!rc) rc = write_texts(a->texts, "attention", a->output, &texts, err);
    if (!rc)
        printf("%s: attention of %d words over %d regions (caption %d of %s)%s\n", a->output, W, R, a->caption, split,
               any_off ? ", irrelevant words hatched" : "");
out:
    if (notes)
        for (int w = 0; w < W; w++) free(notes[w]);
    free(notes);
    free(labels);
    free(off);
    free(attn);
    free(mx);
    unload(&L);
    return rc;
}

/* ---- log ------------------------------------------------------------------------------- */

typedef struct series_buf {
    double *v;
    int n, cap;
} series_buf;

static int push(series_buf *b, double v)
{
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 64;
        double *p = realloc(b->v, (size_t)cap * sizeof *p);
        if (!p) return -1;
        b->v = p;
        b->cap = cap;
    }
    b->v[b->n++] = v;
    return 0;
}

static double num_or_nan(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

enum { V_EPOCH, V_ITER, V_RSUM, V_N };
enum { R_EPOCH, R_ITER, R_TTR, R_TTE, R_MUP, R_MUN, R_N };

/* sorts the rows of cols[0..n_cols) by key column k (insertion sort: logs are nearly sorted) */
static void sort_rows(series_buf *cols, int n_cols, int k)
{
    int n = cols[0].n;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && cols[k].v[j - 1] > cols[k].v[j]; j--)
            for (int c = 0; c < n_cols; c++) {
                double t = cols[c].v[j];
                cols[c].v[j] = cols[c].v[j - 1];
                cols[c].v[j - 1] = t;
            }
}

static int plot_log(const plot_args *a, ua_err *err)
{
    if (!a->log) return ua_fail(err, "--log is required (a run's train.jsonl)");
    FILE *f = fopen(a->log, "rb");
    if (!f) return ua_fail(err, "%s: cannot open the training log", a->log);
    series_buf val[V_N] = {{0}}, rel[R_N] = {{0}};
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = -1;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        int complete = got > 0 && line[got - 1] == '\n';
        cJSON *j = cJSON_Parse(line);
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            if (!complete) break; /* a line still being written */
            int blank = 1;
            for (ssize_t i = 0; i < got; i++)
                if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n') blank = 0;
            if (blank) continue;
            ua_fail(err, "%s:%ld: not a JSON object", a->log, lineno);
            goto out;
        }
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "event");
        const char *e = cJSON_IsString(ev) ? ev->valuestring : "";
        int bad = 0;
        if (strcmp(e, "val") == 0) {
            double ep = num_or_nan(j, "epoch"), rs = num_or_nan(j, "rsum");
            if (!isfinite(ep) || !isfinite(rs)) bad = 1;
            else {
                /* a resumed run may log an epoch again: keep the last */
                int k = 0;
                while (k < val[V_EPOCH].n && val[V_EPOCH].v[k] != ep) k++;
                if (k < val[V_EPOCH].n) {
                    val[V_ITER].v[k] = num_or_nan(j, "iter");
                    val[V_RSUM].v[k] = rs;
                } else if (push(&val[V_EPOCH], ep) || push(&val[V_ITER], num_or_nan(j, "iter")) || push(&val[V_RSUM], rs)) {
                    cJSON_Delete(j);
                    ua_fail(err, "out of memory");
                    goto out;
                }
            }
        } else if (strcmp(e, "relevance") == 0) {
            double ep = num_or_nan(j, "epoch"), tr = num_or_nan(j, "t_tr"), te = num_or_nan(j, "t_te");
            if (!isfinite(ep) || !isfinite(tr) || !isfinite(te)) bad = 1;
            else if (push(&rel[R_EPOCH], ep) || push(&rel[R_ITER], num_or_nan(j, "iter")) || push(&rel[R_TTR], tr) ||
                     push(&rel[R_TTE], te) || push(&rel[R_MUP], num_or_nan(j, "mu_pos")) ||
                     push(&rel[R_MUN], num_or_nan(j, "mu_neg"))) {
                cJSON_Delete(j);
                ua_fail(err, "out of memory");
                goto out;
            }
        }
        cJSON_Delete(j);
        if (bad) {
            ua_fail(err, "%s:%ld: a \"%s\" line without the numbers %s", a->log, lineno, e,
                    e[0] == 'v' ? "\"epoch\" and \"rsum\"" : "\"epoch\", \"t_tr\" and \"t_te\"");
            goto out;
        }
    }
    if (val[V_EPOCH].n == 0 && rel[R_EPOCH].n == 0) {
        ua_fail(err, "%s: no \"val\" or \"relevance\" lines to plot (a run logs \"val\" after each epoch)", a->log);
        goto out;
    }
    /* x = epochs trained: a dev evaluation at the end of (0-based) epoch e sits at e + 1; a
     * relevance line at its iteration over the iterations per epoch (known from the "val"
     * lines), or at the end of its epoch */
    sort_rows(val, V_N, V_EPOCH);
    double ipe = 0;
    for (int k = 0; k < val[V_EPOCH].n && ipe <= 0; k++)
        if (isfinite(val[V_ITER].v[k]) && val[V_ITER].v[k] > 0) ipe = val[V_ITER].v[k] / (val[V_EPOCH].v[k] + 1);
    series_buf vx = {0}, rx = {0};
    int best = -1;
    for (int k = 0; k < val[V_EPOCH].n; k++) {
        if (push(&vx, val[V_EPOCH].v[k] + 1)) { ua_fail(err, "out of memory"); goto out2; }
        if (best < 0 || val[V_RSUM].v[k] > val[V_RSUM].v[best]) best = k;
    }
    for (int k = 0; k < rel[R_EPOCH].n; k++) {
        double it = rel[R_ITER].v[k];
        double x = ipe > 0 && isfinite(it) ? it / ipe : rel[R_EPOCH].v[k] + 1;
        if (push(&rx, x)) { ua_fail(err, "out of memory"); goto out2; }
    }
    {
        int has_mu = 0;
        for (int k = 0; k < rel[R_EPOCH].n; k++)
            if (isfinite(rel[R_MUP].v[k]) || isfinite(rel[R_MUN].v[k])) has_mu = 1;
        ua_plot_series sv[1] = {{"dev rsum", vx.v, val[V_RSUM].v, vx.n, UA_LINE_SOLID, 0, 2}};
        ua_plot_series sr[4] = {
            {"t_tr (training threshold)", rx.v, rel[R_TTR].v, rx.n, UA_LINE_SOLID, 3, 0},
            {"t_te (test threshold)", rx.v, rel[R_TTE].v, rx.n, UA_LINE_DASHED, 4, 0},
            {"\xce\xbc\xe2\x81\xba (mean relevant similarity)", rx.v, rel[R_MUP].v, rx.n, UA_LINE_DOTTED, 0, 0},
            {"\xce\xbc\xe2\x81\xbb (mean irrelevant similarity)", rx.v, rel[R_MUN].v, rx.n, UA_LINE_DOTTED, 1, 0},
        };
        ua_plot_panel panels[2];
        int np = 0;
        if (vx.n) panels[np++] = (ua_plot_panel){"Validation (dev) after each epoch", "rsum  (sum of six R@K, %)", sv, 1};
        if (rx.n)
            panels[np++] = (ua_plot_panel){"UARDA relevance thresholds", "similarity  (cosine)", sr, has_mu ? 4 : 2};
        char title[768], run[256];
        short_path(run, sizeof run, a->log);
        if (a->title) snprintf(title, sizeof title, "%s", a->title);
        else if (best >= 0)
            snprintf(title, sizeof title, "Training log\n%s  \xc2\xb7  %d epoch%s  \xc2\xb7  best dev rsum %.1f after epoch %.0f%s",
                     run, val[V_EPOCH].n, val[V_EPOCH].n == 1 ? "" : "s", val[V_RSUM].v[best], vx.v[best],
                     rx.n ? "" : "  \xc2\xb7  no relevance lines (SCAN run)");
        else snprintf(title, sizeof title, "Training log\n%s", run);
        rc = ua_plot_curves(a->output, title, "epochs trained", 1, panels, np, err);
        if (!rc)
            printf("%s: %d validation point%s, %d relevance point%s\n", a->output, vx.n, vx.n == 1 ? "" : "s", rx.n,
                   rx.n == 1 ? "" : "s");
    }
out2:
    free(vx.v);
    free(rx.v);
out:
    free(line);
    fclose(f);
    for (int k = 0; k < V_N; k++) free(val[k].v);
    for (int k = 0; k < R_N; k++) free(rel[k].v);
    return rc;
}

int cmd_plot(int argc, char **argv)
{
    plot_args a = {0};
    a.by = "relevance";
    a.max_captions = 1000;
    ua_opt opts[] = {
        {"output", UA_OPT_STR, &a.output, NULL, "picture to write: FILE.png or FILE.svg", 0},
        {"checkpoint", UA_OPT_STR, &a.checkpoint, NULL, "hist, attention: the model", 0},
        {"data-path", UA_OPT_STR, &a.data_path, NULL, "root of the <data-name> folder (default: the checkpoint's)", 0},
        {"data-name", UA_OPT_STR, &a.data_name, NULL, "dataset folder (default: the checkpoint's)", 0},
        {"vocab-path", UA_OPT_STR, &a.vocab_path, NULL, "vocabulary folder or .json file (default: the checkpoint's)", 0},
        {"split", UA_OPT_STR, &a.split, NULL, "split to use (default: dev for hist, test for attention)", 0},
        {"max-captions", UA_OPT_INT, &a.max_captions, NULL, "hist: the first N captions of the split (0: all)", 0},
        {"by", UA_OPT_CHOICE, &a.by, "relevance|grounding",
         "hist: relevance = own image vs. the next image; grounding = grounded vs. ungrounded words "
         "(needs <split>_caps_grounding.txt)", 0},
        {"caption", UA_OPT_INT, &a.caption, NULL, "attention: caption index in the split (its own image is caption / 5)", 0},
        {"log", UA_OPT_STR, &a.log, NULL, "log: the run's JSON-lines log (<logger-name>/train.jsonl)", 0},
        {"title", UA_OPT_STR, &a.title, NULL, "replace the title (a '\\n' starts a subtitle)", 0},
        {"texts", UA_OPT_STR, &a.texts, NULL,
         "hist, attention: also write the picture's texts (title, axis labels, legend, threshold names) and how many "
         "rows it hatched to this JSON file", 0},
        {"threads", UA_OPT_INT, &a.threads, NULL, "threads (0: OpenMP's default)", 0},
        {NULL, 0, NULL, NULL, NULL, 0},
    };
    ua_cmd_spec spec = {
        "plot",
        "Pictures, PNG or SVG by the --output extension:\n"
        "  hist       histograms of word-region similarities (max over regions) of relevant (own image)\n"
        "             vs irrelevant (another image) words, with the thresholds t_tr and t_te of a UARDA\n"
        "             checkpoint (metadata \"relevance\"), or SCAN's fixed t = 0\n"
        "  log        dev rsum, and t_tr / t_te / mu+ / mu- when logged, over the epochs of a run\n"
        "  attention  a heatmap of one caption's attention over its image's regions (words x regions)",
        "usage: uarda plot hist --checkpoint FILE [--split dev] [--by relevance|grounding] --output F.png\n"
        "       uarda plot log --log RUN/train.jsonl --output F.png\n"
        "       uarda plot attention --checkpoint FILE [--split test] --caption N --output F.png",
        opts, 1};
    int n_pos = 0, st = ua_cli_parse(&spec, argc, argv, &n_pos);
    if (st >= 0) return st;
    const char *kind = n_pos == 1 ? argv[1] : NULL;
    if (!kind || (strcmp(kind, "hist") && strcmp(kind, "log") && strcmp(kind, "attention"))) {
        fprintf(stderr, "uarda plot: say which picture: hist, log or attention (see uarda plot --help)\n");
        return 2;
    }
    if (!a.output) { fprintf(stderr, "uarda plot: --output is required (FILE.png or FILE.svg)\n"); return 2; }
    if (!ua_plot_format(a.output)) {
        fprintf(stderr, "uarda plot: %s: unknown picture format: the file name must end in .png or .svg\n", a.output);
        return 2;
    }
    if (strcmp(kind, "log") == 0 && !a.log) {
        fprintf(stderr, "uarda plot log: --log is required (a run's train.jsonl)\n");
        return 2;
    }
    if (strcmp(kind, "log") != 0 && !a.checkpoint) {
        fprintf(stderr, "uarda plot %s: --checkpoint is required\n", kind);
        return 2;
    }
    if (a.max_captions < 0 || a.caption < 0) {
        fprintf(stderr, "uarda plot: --max-captions and --caption must be >= 0\n");
        return 2;
    }
    ua_cli_set_threads(a.threads);
    ua_err err;
    int rc = strcmp(kind, "hist") == 0 ? plot_hist(&a, &err)
           : strcmp(kind, "log") == 0  ? plot_log(&a, &err)
                                        : plot_attention(&a, &err);
    if (rc) return ua_cli_error("plot", &err);
    return 0;
}
