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

/* ---- flags from the options' table -------------------------------------------------------- */

static void flags_push(ua_cli_flags *b, const ua_opt *o)
{
    if (b->n >= UA_CLI_MAX_FLAGS) {   /* a programming error, found by any --help */
        fprintf(stderr, "uarda: internal error: more than %d flags (UA_CLI_MAX_FLAGS)\n", UA_CLI_MAX_FLAGS);
        abort();
    }
    b->opts[b->n++] = *o;
}

void ua_cli_flags_add(ua_cli_flags *b, const ua_opt *own)
{
    for (const ua_opt *o = own; o && o->name; o++) flags_push(b, o);
}

static ua_opt flag_of_row(const ua_option_def *d, ua_options *o)
{
    static const ua_opt_kind kinds[] = {
        [UA_OT_INT] = UA_OPT_INT, [UA_OT_LONG] = UA_OPT_LONG, [UA_OT_DOUBLE] = UA_OPT_FLOAT,
        [UA_OT_BOOL] = UA_OPT_BOOL, [UA_OT_ENUM] = UA_OPT_ENUM, [UA_OT_TEXT] = UA_OPT_TEXT,
    };
    ua_opt f = {d->flag, kinds[d->type], ua_option_field(d, o), d->choices, d->help, 0, NULL, 0};
    f.cap = d->size;
    return f;
}

void ua_cli_flags_add_options(ua_cli_flags *b, ua_options *o, unsigned classes)
{
    size_t n;
    const ua_option_def *t = ua_option_table(&n);
    for (size_t i = 0; i < n; i++)
        if (t[i].flag && (t[i].cls & classes)) {
            ua_opt f = flag_of_row(&t[i], o);
            flags_push(b, &f);
        }
}

void ua_cli_flags_add_option(ua_cli_flags *b, ua_options *o, const char *flag)
{
    const ua_option_def *d = ua_option_by_flag(flag);
    if (!d) {
        fprintf(stderr, "uarda: internal error: --%s is no row of the options' table\n", flag);
        abort();
    }
    ua_opt f = flag_of_row(d, o);
    flags_push(b, &f);
}

ua_opt *ua_cli_flags_done(ua_cli_flags *b)
{
    memset(&b->opts[b->n], 0, sizeof b->opts[b->n]);
    return b->opts;
}

/* after a preset: the fields whose flag was given (their values in before) back as given */
static void restore_given(ua_options *o, const ua_options *before, const ua_cmd_spec *spec)
{
    size_t n;
    const ua_option_def *t = ua_option_table(&n);
    for (size_t i = 0; i < n; i++)
        if (t[i].flag && strcmp(t[i].flag, "model") != 0 && ua_args_given(spec, t[i].flag)) ua_option_copy(&t[i], o, before);
}

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

int ua_cli_apply_uarda_flags(ua_options *o, const ua_cmd_spec *spec, ua_err *err)
{
    if (ua_args_given(spec, "model")) {
        /* the preset, except where a flag given alongside was parsed into o already */
        ua_options before = *o;
        char kind[sizeof o->model_kind];
        snprintf(kind, sizeof kind, "%s", o->model_kind);
        ua_options_apply_model_kind(o, kind);
        restore_given(o, &before, spec);
    }
    ua_attn_opts *a = &o->model.attn;
    /* a switch set alone makes the model a UARDA variant: t defaults to adaptive then */
    if (ua_options_thresholded(o) && !ua_args_given(spec, "t-mode") && !ua_args_given(spec, "model") &&
        o->rel.t_mode == UA_T_ZERO && ua_args_given(spec, "t-fixed"))
        o->rel.t_mode = UA_T_FIXED;
    /* the kind is the preset given (set with it above), else what the switches make */
    if (!ua_args_given(spec, "model")) {
        if (a->score == UA_SCORE_NAAF) snprintf(o->model_kind, sizeof o->model_kind, "%s", "naaf");
        else if (ua_options_thresholded(o)) snprintf(o->model_kind, sizeof o->model_kind, "%s", "uarda");
    }
    if (a->irr == UA_IRR_SCAN && a->mask == UA_MASK_HARD)
        return ua_fail(err, "--irr scan needs --mask off (a fully masked query has no attention; use --irr zero or neg)");
    if (check_score_flags(o, spec, err)) return -1;
    return ua_relevance_cfg_check(&o->rel, "options", err);
}

int ua_cli_merge_flags(ua_options *dst, const ua_options *given, const ua_cmd_spec *spec, unsigned consider,
                       unsigned context, const char *ckpt, ua_err *err)
{
    size_t n;
    const ua_option_def *t = ua_option_table(&n);
    for (size_t k = 0; k < n; k++) {
        const ua_option_def *r = &t[k];
        if (!r->flag || !(r->cls & consider) || !ua_args_given(spec, r->flag)) continue;
        if (r->override & context) {
            ua_option_copy(r, dst, given);
        } else if (!ua_option_equal(r, dst, given)) {
            char want[64], have[64];
            ua_option_format(r, given, want, sizeof want);
            ua_option_format(r, dst, have, sizeof have);
            return ua_fail(err, "--%s %s cannot apply: %s was made with %s %s (%s)", r->flag, want, ckpt, r->flag, have,
                           r->cls & UA_OC_SHAPE ? "the parameters' shapes are fixed once trained" : "it cannot change here");
        }
    }
    return 0;
}

void ua_cli_annotate_flags(ua_cmd_spec *spec, unsigned consider, unsigned context, const char *honoured,
                           const char *refused)
{
    for (ua_opt *o = spec->opts; o && o->name; o++) {
        const ua_option_def *d = ua_option_by_flag(o->name);
        if (d && (d->cls & consider))
            o->note = d->override & context ? honoured : refused;
    }
}

void ua_cli_annotate_inference(ua_cmd_spec *spec)
{
    ua_cli_annotate_flags(spec, UA_OC_SHAPE | UA_OC_SCORE, UA_OVR_INFER, " (overrides the checkpoint's)",
                          " (must match the checkpoint's)");
}

void ua_cli_apply_scoring(ua_model *m, const ua_options *o)
{
    ua_model_opt_copy_classes(&m->opt, &o->model, UA_OC_SCORE | UA_OC_UARDA);
}

int ua_cli_inference_flags(ua_options *o, ua_model *m, ua_options *given, const char *model, const ua_cmd_spec *spec,
                           const char *ckpt, ua_err *err)
{
    if (model) {
        /* the preset's scoring over the checkpoint's (its threshold state, estimator and run
         * options stay the checkpoint's); the scoring flags given then win */
        ua_options p = *o;
        ua_options_apply_model_kind(&p, model);
        o->model.attn = p.model.attn;
        snprintf(o->model_kind, sizeof o->model_kind, "%s", p.model_kind);
    }
    if (ua_cli_merge_flags(o, given, spec, UA_OC_SHAPE | UA_OC_SCORE, UA_OVR_INFER, ckpt, err)) return -1;
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
