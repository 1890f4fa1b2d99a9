#include "cli/common.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void ua_cli_model_flags_from(const ua_options *o, ua_model_flags *f)
{
    f->cross_attn = ua_direction_name(o->model.attn.direction);
    f->raw_feature_norm = ua_feature_norm_name(o->model.attn.norm);
    f->agg_func = ua_agg_name(o->model.attn.agg);
    f->precomp_enc_type = "basic";
}

void ua_cli_apply_model_flags(ua_options *o, const ua_model_flags *f, const ua_cmd_spec *spec)
{
    if (!spec || ua_args_given(spec, "cross-attn")) o->model.attn.direction = (ua_direction)ua_direction_parse(f->cross_attn);
    if (!spec || ua_args_given(spec, "raw-feature-norm")) o->model.attn.norm = (ua_feature_norm)ua_feature_norm_parse(f->raw_feature_norm);
    if (!spec || ua_args_given(spec, "agg-func")) o->model.attn.agg = (ua_agg)ua_agg_parse(f->agg_func);
}

void ua_cli_override_given(ua_options *o, const ua_options *g, const ua_model_flags *f, const ua_cmd_spec *spec)
{
#define TAKE(flag, field) if (ua_args_given(spec, flag)) o->field = g->field
    TAKE("margin", model.margin);
    TAKE("word-dim", model.word_dim);
    TAKE("embed-size", model.embed_size);
    TAKE("num-layers", model.num_layers);
    TAKE("max-violation", model.max_violation);
    TAKE("img-dim", model.img_dim);
    TAKE("no-imgnorm", model.no_imgnorm);
    TAKE("no-txtnorm", model.no_txtnorm);
    TAKE("bi-gru", model.bi_gru);
    TAKE("lambda-lse", model.attn.lambda_lse);
    TAKE("lambda-softmax", model.attn.lambda_softmax);
#undef TAKE
    ua_cli_apply_model_flags(o, f, spec);
}

void ua_cli_set_threads(int n)
{
    if (n <= 0) return;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

double ua_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ua_progress_init(ua_progress *p)
{
    p->tty = isatty(STDERR_FILENO);
    p->start = ua_now();
    p->last_print = 0;
    p->interval = p->tty ? 0.2 : 10.0;
}

static void fmt_secs(double s, char *buf, size_t cap)
{
    if (s < 0 || s > 1e7) { snprintf(buf, cap, "?"); return; }
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%dh%02dm", t / 3600, (t / 60) % 60);
    else if (t >= 60) snprintf(buf, cap, "%dm%02ds", t / 60, t % 60);
    else snprintf(buf, cap, "%ds", t);
}

void ua_progress_update(ua_progress *p, const char *label, long long done, long long total, const char *extra, int force)
{
    double now = ua_now();
    if (!force && now - p->last_print < p->interval) return;
    p->last_print = now;
    double el = now - p->start;
    char eta[32], elapsed[32];
    fmt_secs(done > 0 ? el * (double)(total - done) / (double)done : -1, eta, sizeof eta);
    fmt_secs(el, elapsed, sizeof elapsed);
    fprintf(stderr, "%s%s %lld/%lld (%.0f%%) %s elapsed %s ETA %s%s", p->tty ? "\r\033[K" : "", label, done, total,
            total ? 100.0 * (double)done / (double)total : 100.0, extra ? extra : "", elapsed, eta, p->tty ? "" : "\n");
    fflush(stderr);
}

void ua_progress_end(ua_progress *p)
{
    if (p->tty) fputc('\n', stderr);
}

int ua_jsonl_append(const char *path, void *json_object)
{
    if (!path) return 0;
    char *s = cJSON_PrintUnformatted((cJSON *)json_object);
    if (!s) return -1;
    FILE *f = fopen(path, "a");
    if (!f) { free(s); return -1; }
    fprintf(f, "%s\n", s);
    fclose(f);
    free(s);
    return 0;
}
