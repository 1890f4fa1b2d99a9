#include "cli/common.h"
#include "cli/commands.h"
#include "uarda/checkpoint.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stddef.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *ua_cli_limits_help(void)
{
    static char text[160];   /* the same text every call: the limits are constants */
    snprintf(text, sizeof text, "Limits: captions of at most %d tokens (one line each, none blank), images of at most %d "
             "regions; beyond them the input is refused by name.", UA_MAX_CAPTION_TOKENS, UA_MAX_REGIONS);
    return text;
}

void ua_cli_model_flags_from(const ua_options *o, ua_model_flags *f)
{
    f->cross_attn = ua_direction_name(o->model.attn.direction);
    f->raw_feature_norm = ua_feature_norm_name(o->model.attn.norm);
    f->agg_func = ua_agg_name(o->model.attn.agg);
    f->precomp_enc_type = "basic";
    f->score_form = ua_score_form_name(o->model.attn.form);
    f->model = o->model_kind;
    f->clip = ua_clip_name(o->model.attn.clip);
    f->mask = ua_mask_name(o->model.attn.mask);
    f->logit = ua_logit_name(o->model.attn.logit);
    f->irr = ua_irr_name(o->model.attn.irr);
    f->t_mode = ua_t_mode_name(o->rel.t_mode);
    f->t_est = ua_t_est_name(o->rel.t_est);
    f->neg_src = ua_neg_src_name(o->rel.neg_src);
    f->t_test = ua_t_test_name(o->rel.t_test);
    f->sep = ua_sep_name(o->rel.sep);
}

void ua_cli_apply_model_flags(ua_options *o, const ua_model_flags *f, const ua_cmd_spec *spec)
{
    if (!spec || ua_args_given(spec, "cross-attn")) o->model.attn.direction = (ua_direction)ua_direction_parse(f->cross_attn);
    if (!spec || ua_args_given(spec, "raw-feature-norm")) o->model.attn.norm = (ua_feature_norm)ua_feature_norm_parse(f->raw_feature_norm);
    if (!spec || ua_args_given(spec, "agg-func")) o->model.attn.agg = (ua_agg)ua_agg_parse(f->agg_func);
    if (!spec || ua_args_given(spec, "score-form")) o->model.attn.form = (ua_score_form)ua_score_form_parse(f->score_form);
}

static void restore_given(ua_options *o, const ua_options *before, const ua_cmd_spec *spec);

/* the NAAF-only flag, and the UARDA switches NAAF's score does not take, given with the wrong score */
static int check_score_flags(const ua_options *o, const ua_cmd_spec *spec, ua_err *err)
{
    const int naaf = o->model.attn.score == UA_SCORE_NAAF;
    if (!naaf && ua_args_given(spec, "score-form"))
        return ua_fail(err, "--score-form applies to NAAF's score (--model naaf); this model scores with SCAN's attention");
    static const char *const switches[] = {"clip", "mask", "logit", "irr"};
    for (int k = 0; naaf && k < 4; k++)
        if (ua_args_given(spec, switches[k]))
            return ua_fail(err, "--%s does not apply to NAAF's score (--model naaf), which has its own negative branch, "
                           "masked feature part and relevance part", switches[k]);
    return ua_options_check_score(o, "options", err);
}

int ua_cli_apply_uarda_flags(ua_options *o, const ua_model_flags *f, const ua_cmd_spec *spec, ua_err *err)
{
    if (ua_args_given(spec, "model")) {
        /* the preset, except where a flag given alongside was parsed into o already */
        ua_options before = *o;
        ua_options_apply_model_kind(o, f->model);
        restore_given(o, &before, spec);
    }
    ua_attn_cfg *a = &o->model.attn;
    if (ua_args_given(spec, "clip")) a->clip = (ua_clip_mode)ua_clip_parse(f->clip);
    if (ua_args_given(spec, "mask")) a->mask = (ua_mask_mode)ua_mask_parse(f->mask);
    if (ua_args_given(spec, "logit")) a->logit = (ua_logit_mode)ua_logit_parse(f->logit);
    if (ua_args_given(spec, "irr")) a->irr = (ua_irr_mode)ua_irr_parse(f->irr);
    if (ua_args_given(spec, "t-mode")) o->rel.t_mode = (ua_t_mode)ua_t_mode_parse(f->t_mode);
    if (ua_args_given(spec, "t-est")) o->rel.t_est = (ua_t_est)ua_t_est_parse(f->t_est);
    if (ua_args_given(spec, "neg-src")) o->rel.neg_src = (ua_neg_src)ua_neg_src_parse(f->neg_src);
    if (ua_args_given(spec, "t-test")) o->rel.t_test = (ua_t_test)ua_t_test_parse(f->t_test);
    if (ua_args_given(spec, "sep")) o->rel.sep = (ua_sep_mode)ua_sep_parse(f->sep);
    /* a switch set alone makes the model a UARDA variant: t defaults to adaptive then */
    if (ua_options_thresholded(o) && !ua_args_given(spec, "t-mode") && !ua_args_given(spec, "model") &&
        o->rel.t_mode == UA_T_ZERO && ua_args_given(spec, "t-fixed"))
        o->rel.t_mode = UA_T_FIXED;
    if (a->score == UA_SCORE_NAAF) snprintf(o->model_kind, sizeof o->model_kind, "%s", "naaf");
    else if (ua_options_thresholded(o)) snprintf(o->model_kind, sizeof o->model_kind, "%s", "uarda");
    if (a->irr == UA_IRR_SCAN && a->mask == UA_MASK_HARD)
        return ua_fail(err, "--irr scan needs --mask off (a fully masked query has no attention; use --irr zero or neg)");
    if (check_score_flags(o, spec, err)) return -1;
    return ua_relevance_cfg_check(&o->rel, "options", err);
}

/* Every checkpoint option that a flag can set, once: its flag, its field, its class, how its
 * value prints. The merge of given flags over a checkpoint, and the help notes, come from here. */
typedef enum { FT_INT, FT_DOUBLE, FT_LONG, FT_STR, FT_ENUM } field_type;
#define ENUM_NAME(fn, T) static const char *fn##_of(int v) { return fn((T)v); }
ENUM_NAME(ua_direction_name, ua_direction)
ENUM_NAME(ua_feature_norm_name, ua_feature_norm)
ENUM_NAME(ua_agg_name, ua_agg)
ENUM_NAME(ua_clip_name, ua_clip_mode)
ENUM_NAME(ua_mask_name, ua_mask_mode)
ENUM_NAME(ua_logit_name, ua_logit_mode)
ENUM_NAME(ua_irr_name, ua_irr_mode)
ENUM_NAME(ua_t_mode_name, ua_t_mode)
ENUM_NAME(ua_t_est_name, ua_t_est)
ENUM_NAME(ua_neg_src_name, ua_neg_src)
ENUM_NAME(ua_t_test_name, ua_t_test)
ENUM_NAME(ua_sep_name, ua_sep_mode)
ENUM_NAME(ua_score_form_name, ua_score_form)
#undef ENUM_NAME
typedef struct {
    const char *flag;
    unsigned cls;
    field_type type;
    size_t offset, size;
    const char *(*name)(int);   /* FT_ENUM */
} flag_field;
#define F(field) offsetof(ua_options, field), sizeof(((ua_options *)0)->field)
static const flag_field flag_fields[] = {
    {"word-dim", UA_FLAGS_SHAPE, FT_INT, F(model.word_dim), NULL},
    {"embed-size", UA_FLAGS_SHAPE, FT_INT, F(model.embed_size), NULL},
    {"num-layers", UA_FLAGS_SHAPE, FT_INT, F(model.num_layers), NULL},
    {"img-dim", UA_FLAGS_SHAPE, FT_INT, F(model.img_dim), NULL},
    {"bi-gru", UA_FLAGS_SHAPE, FT_INT, F(model.bi_gru), NULL},
    {"no-imgnorm", UA_FLAGS_SCORE, FT_INT, F(model.no_imgnorm), NULL},
    {"no-txtnorm", UA_FLAGS_SCORE, FT_INT, F(model.no_txtnorm), NULL},
    {"raw-feature-norm", UA_FLAGS_SCORE, FT_ENUM, F(model.attn.norm), ua_feature_norm_name_of},
    {"agg-func", UA_FLAGS_SCORE, FT_ENUM, F(model.attn.agg), ua_agg_name_of},
    {"cross-attn", UA_FLAGS_SCORE, FT_ENUM, F(model.attn.direction), ua_direction_name_of},
    {"lambda-lse", UA_FLAGS_SCORE, FT_DOUBLE, F(model.attn.lambda_lse), NULL},
    {"lambda-softmax", UA_FLAGS_SCORE, FT_DOUBLE, F(model.attn.lambda_softmax), NULL},
    {"score-form", UA_FLAGS_SCORE, FT_ENUM, F(model.attn.form), ua_score_form_name_of},
    {"margin", UA_FLAGS_LOSS, FT_DOUBLE, F(model.margin), NULL},
    {"max-violation", UA_FLAGS_LOSS, FT_INT, F(model.max_violation), NULL},
    {"lambda-sep", UA_FLAGS_LOSS, FT_DOUBLE, F(rel.lambda_sep), NULL},
    {"num-epochs", UA_FLAGS_RUN, FT_INT, F(num_epochs), NULL},
    {"batch-size", UA_FLAGS_RUN, FT_INT, F(batch_size), NULL},
    {"grad-clip", UA_FLAGS_RUN, FT_DOUBLE, F(grad_clip), NULL},
    {"learning-rate", UA_FLAGS_RUN, FT_DOUBLE, F(learning_rate), NULL},
    {"lr-update", UA_FLAGS_RUN, FT_INT, F(lr_update), NULL},
    {"workers", UA_FLAGS_RUN, FT_INT, F(workers), NULL},
    {"log-step", UA_FLAGS_RUN, FT_INT, F(log_step), NULL},
    {"val-step", UA_FLAGS_RUN, FT_INT, F(val_step), NULL},
    {"seed", UA_FLAGS_RUN, FT_LONG, F(seed), NULL},
    {"model", UA_FLAGS_UARDA, FT_STR, F(model_kind), NULL},
    {"clip", UA_FLAGS_UARDA, FT_ENUM, F(model.attn.clip), ua_clip_name_of},
    {"mask", UA_FLAGS_UARDA, FT_ENUM, F(model.attn.mask), ua_mask_name_of},
    {"logit", UA_FLAGS_UARDA, FT_ENUM, F(model.attn.logit), ua_logit_name_of},
    {"irr", UA_FLAGS_UARDA, FT_ENUM, F(model.attn.irr), ua_irr_name_of},
    {"t-mode", UA_FLAGS_UARDA, FT_ENUM, F(rel.t_mode), ua_t_mode_name_of},
    {"t-fixed", UA_FLAGS_UARDA, FT_DOUBLE, F(rel.t_fixed), NULL},
    {"t-est", UA_FLAGS_UARDA, FT_ENUM, F(rel.t_est), ua_t_est_name_of},
    {"alpha", UA_FLAGS_UARDA, FT_DOUBLE, F(rel.alpha), NULL},
    {"min-samples", UA_FLAGS_UARDA, FT_INT, F(rel.min_samples), NULL},
    {"ema", UA_FLAGS_UARDA, FT_DOUBLE, F(rel.ema), NULL},
    {"neg-src", UA_FLAGS_UARDA, FT_ENUM, F(rel.neg_src), ua_neg_src_name_of},
    {"sep", UA_FLAGS_UARDA, FT_ENUM, F(rel.sep), ua_sep_name_of},
    {"t-test", UA_FLAGS_TEST, FT_ENUM, F(rel.t_test), ua_t_test_name_of},
};
#undef F

/* after a preset: the fields whose flag was given (their values in before) back as given */
static void restore_given(ua_options *o, const ua_options *before, const ua_cmd_spec *spec)
{
    for (size_t k = 0; k < sizeof flag_fields / sizeof flag_fields[0]; k++) {
        const flag_field *r = &flag_fields[k];
        if (strcmp(r->flag, "model") == 0 || !ua_args_given(spec, r->flag)) continue;
        memcpy((char *)o + r->offset, (const char *)before + r->offset, r->size);
    }
}

static void format_field(const flag_field *r, const ua_options *o, char *buf, size_t cap)
{
    const char *p = (const char *)o + r->offset;
    int i;
    double d;
    long long l;
    switch (r->type) {
    case FT_INT:    memcpy(&i, p, sizeof i); snprintf(buf, cap, "%d", i); break;
    case FT_ENUM:   memcpy(&i, p, sizeof i); snprintf(buf, cap, "%s", r->name(i)); break;
    case FT_DOUBLE: memcpy(&d, p, sizeof d); snprintf(buf, cap, "%g", d); break;
    case FT_LONG:   memcpy(&l, p, sizeof l); snprintf(buf, cap, "%lld", l); break;
    case FT_STR:    snprintf(buf, cap, "%.*s", (int)r->size, p); break;
    }
}

static int field_equal(const flag_field *r, const ua_options *a, const ua_options *b)
{
    const char *x = (const char *)a + r->offset, *y = (const char *)b + r->offset;
    if (r->type == FT_STR) return strncmp(x, y, r->size) == 0;
    return memcmp(x, y, r->size) == 0;
}

int ua_cli_merge_flags(ua_options *dst, const ua_options *given, const ua_cmd_spec *spec, unsigned consider,
                       unsigned honour, const char *ckpt, ua_err *err)
{
    for (size_t k = 0; k < sizeof flag_fields / sizeof flag_fields[0]; k++) {
        const flag_field *r = &flag_fields[k];
        if (!(r->cls & consider) || !ua_args_given(spec, r->flag)) continue;
        if (r->cls & honour) {
            memcpy((char *)dst + r->offset, (const char *)given + r->offset, r->size);
        } else if (!field_equal(r, dst, given)) {
            char want[64], have[64];
            format_field(r, given, want, sizeof want);
            format_field(r, dst, have, sizeof have);
            return ua_fail(err, "--%s %s cannot apply: %s was made with %s %s (%s)", r->flag, want, ckpt, r->flag, have,
                           r->cls & UA_FLAGS_SHAPE ? "the parameters' shapes are fixed once trained"
                                                   : "it cannot change here");
        }
    }
    return 0;
}

void ua_cli_annotate_flags(ua_cmd_spec *spec, unsigned consider, unsigned honour, const char *honoured,
                           const char *refused)
{
    for (ua_opt *o = spec->opts; o && o->name; o++)
        for (size_t k = 0; k < sizeof flag_fields / sizeof flag_fields[0]; k++)
            if (strcmp(flag_fields[k].flag, o->name) == 0 && (flag_fields[k].cls & consider))
                o->note = flag_fields[k].cls & honour ? honoured : refused;
}

void ua_cli_annotate_inference(ua_cmd_spec *spec)
{
    ua_cli_annotate_flags(spec, UA_FLAGS_SHAPE | UA_FLAGS_SCORE, UA_FLAGS_SCORE, " (overrides the checkpoint's)",
                          " (must match the checkpoint's)");
}

void ua_cli_apply_scoring(ua_model *m, const ua_options *o)
{
    m->opt.attn.score = o->model.attn.score;
    m->opt.attn.form = o->model.attn.form;
    m->opt.attn.clip = o->model.attn.clip;
    m->opt.attn.mask = o->model.attn.mask;
    m->opt.attn.logit = o->model.attn.logit;
    m->opt.attn.irr = o->model.attn.irr;
    m->opt.no_imgnorm = o->model.no_imgnorm;
    m->opt.no_txtnorm = o->model.no_txtnorm;
    m->opt.attn.norm = o->model.attn.norm;
    m->opt.attn.agg = o->model.attn.agg;
    m->opt.attn.direction = o->model.attn.direction;
    m->opt.attn.lambda_lse = o->model.attn.lambda_lse;
    m->opt.attn.lambda_softmax = o->model.attn.lambda_softmax;
}

int ua_cli_inference_flags(ua_options *o, ua_model *m, ua_options *given, const ua_model_flags *f,
                           const ua_cmd_spec *spec, const char *ckpt, ua_err *err)
{
    ua_cli_apply_model_flags(given, f, spec);
    if (ua_args_given(spec, "model")) {
        /* the preset's scoring over the checkpoint's (its threshold state, estimator and run
         * options stay the checkpoint's); the scoring flags given then win */
        ua_options p = *o;
        ua_options_apply_model_kind(&p, f->model);
        ua_attn_cfg keep = o->model.attn;
        o->model.attn = p.model.attn;
        o->model.attn.threshold = keep.threshold;
        o->model.attn.skip = keep.skip;
        o->model.attn.full = keep.full;
        snprintf(o->model_kind, sizeof o->model_kind, "%s", p.model_kind);
    }
    if (ua_cli_merge_flags(o, given, spec, UA_FLAGS_SHAPE | UA_FLAGS_SCORE, UA_FLAGS_SCORE, ckpt, err)) return -1;
    if (o->model.attn.score != UA_SCORE_NAAF && ua_args_given(spec, "score-form"))
        return ua_fail(err, "--score-form applies to NAAF's score: %s scores with SCAN's attention (add --model naaf)", ckpt);
    if (ua_options_check_score(o, ckpt, err)) return -1;
    ua_cli_apply_scoring(m, o);
    return 0;
}


double ua_rss_anon_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    double mb = -1;
    while (fgets(line, sizeof line, f)) {
        long kb;
        if (sscanf(line, "RssAnon: %ld kB", &kb) == 1) { mb = (double)kb / 1024.0; break; }
    }
    fclose(f);
    return mb;
}

void ua_progress_init(ua_progress *p)
{
    p->tty = isatty(STDERR_FILENO);
    p->start = ua_now();
    p->last_print = 0;
    p->interval = p->tty ? 0.2 : 10.0;
    /* plain lines' interval in seconds from the environment (tests use 0: every update) */
    const char *iv = getenv("UARDA_PROGRESS_INTERVAL");
    char *end;
    double v = iv ? strtod(iv, &end) : -1;
    if (iv && end != iv && *end == 0 && v >= 0 && !p->tty) p->interval = v;
    p->paused = 0;
    p->quiet = 0;
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
    if (p->quiet || (!force && now - p->last_print < p->interval)) return;
    p->last_print = now;
    double el = now - p->start, work = el - p->paused;
    char eta[32], elapsed[32];
    fmt_secs(done > 0 ? work * (double)(total - done) / (double)done : -1, eta, sizeof eta);
    fmt_secs(el, elapsed, sizeof elapsed);
    fprintf(stderr, "%s%s %lld/%lld (%.0f%%) %s elapsed %s ETA %s%s", p->tty ? "\r\033[K" : "", label, done, total,
            total ? 100.0 * (double)done / (double)total : 100.0, extra ? extra : "", elapsed, eta, p->tty ? "" : "\n");
    fflush(stderr);
}

void ua_progress_end(ua_progress *p)
{
    if (p->tty && !p->quiet) fputc('\n', stderr);
}

static void eval_progress(void *user, const char *phase, long long done, long long total)
{
    ua_cli_eval_progress *ep = user;
    /* a new phase, or the same one again (eval times the similarity with and without skipping) */
    if (!ep->phase || strcmp(ep->phase, phase) != 0 || done < ep->last_done) {
        if (ep->shown) ua_progress_end(&ep->p);
        ua_progress_init(&ep->p);
        ep->p.last_print = ep->p.start;   /* the first line once an interval has passed */
        ep->phase = phase;
        ep->shown = 0;
        snprintf(ep->label, sizeof ep->label, "%s: %s", ep->cmd, phase);
    }
    ep->last_done = done;
    double before = ep->p.last_print;
    ua_progress_update(&ep->p, ep->label, done, total, "", ep->shown && done == total);
    if (ep->p.last_print != before) ep->shown = 1;
    if (done == total && ep->shown) {   /* the phase's last line, closed */
        ua_progress_end(&ep->p);
        ep->shown = 0;
    }
}

const ua_progress_cb *ua_cli_eval_progress_begin(ua_cli_eval_progress *ep, const char *cmd)
{
    memset(ep, 0, sizeof *ep);
    ep->cmd = cmd;
    ep->cb = (ua_progress_cb){eval_progress, ep};
    return &ep->cb;
}

void ua_cli_eval_progress_end(ua_cli_eval_progress *ep)
{
    if (ep->shown) ua_progress_end(&ep->p);
    ep->shown = 0;
    ep->phase = NULL;
}

int ua_jsonl_append(const char *path, void *json_object, ua_err *err)
{
    if (!path) return 0;
    char *s = cJSON_PrintUnformatted((cJSON *)json_object);
    if (!s) return ua_fail(err, "%s: out of memory for a log line", path);
    FILE *f = fopen(path, "a");
    if (!f) {
        free(s);
        return ua_fail(err, "%s: cannot open the log: %s", path, strerror(errno));
    }
    /* a line that does not reach the file whole (a full disk) is an error, and the part of it that
     * did is cut off again: the log keeps its complete lines */
    struct stat st;
    off_t size = fstat(fileno(f), &st) == 0 ? st.st_size : -1;
    int bad = fprintf(f, "%s\n", s) < 0 || fflush(f) != 0;
    int e = errno;
    if (bad && size >= 0 && ftruncate(fileno(f), size) != 0) e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    free(s);
    if (bad) return ua_fail(err, "%s: cannot write the log: %s", path, strerror(e));
    return 0;
}

int ua_cli_eval_threshold(const char *path, ua_options *o, ua_model *m, const char *t_test, const double *t_fixed,
                          ua_err *err)
{
    if (!ua_options_thresholded(o))
        return ua_fail(err, "%s is a SCAN model (no relevance threshold): --t-test and --t-fixed do not apply (with "
                       "--model naaf they set NAAF's threshold)", path);
    if (t_test) o->rel.t_test = (ua_t_test)ua_t_test_parse(t_test);
    if (t_fixed) o->rel.t_fixed = *t_fixed;
    if (t_test && o->rel.t_test == UA_T_TEST_FIXED && !t_fixed) return ua_fail(err, "--t-test fixed needs --t-fixed X");
    if (o->rel.t_mode != UA_T_ADAPTIVE) {
        /* no t_tr / t_te was learned: only another fixed value makes sense */
        if (t_test && o->rel.t_test != UA_T_TEST_FIXED)
            return ua_fail(err, "%s was trained with --t-mode %s: it learned no t_tr or t_te; use --t-fixed X", path,
                           ua_t_mode_name(o->rel.t_mode));
        if (t_fixed) o->rel.t_mode = UA_T_FIXED;   /* zero mode too: tested at X */
    }
    ua_relevance_state rel;
    int rc = ua_checkpoint_load_relevance(path, o, m, &rel, err);
    ua_relevance_free(&rel);
    return rc;
}

char **ua_cli_read_lines(const char *path, int *n, ua_err *err)
{
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) { ua_fail(err, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    char **lines = malloc(sizeof *lines), *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int count = 0, room = 1, ok = lines != NULL;
    while (ok && (got = getline(&line, &cap, f)) >= 0) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (count == room) {
            char **grown = room < (1 << 28) ? realloc(lines, (size_t)room * 2 * sizeof *lines) : NULL;
            if (!grown) { ok = 0; break; }
            lines = grown;
            room *= 2;
        }
        if (!(lines[count] = strdup(line))) { ok = 0; break; }
        count++;
    }
    int read_error = ferror(f);
    free(line);
    fclose(f);
    if (!ok || read_error) {
        ua_cli_free_lines(lines, count);
        ua_fail(err, read_error ? "%s: read error" : "%s: out of memory reading its lines", path);
        return NULL;
    }
    *n = count;
    return lines;
}

void ua_cli_free_lines(char **lines, int n)
{
    if (!lines) return;
    for (int i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

void ua_cli_warn_no_checksum(const char *cmd, const char *path)
{
    fprintf(stderr, "uarda %s: warning: %s records no checksum (written before uarda recorded one), so it was not verified\n",
            cmd, path);
}
