#include "cli/args.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uarda/options.h"
#include "uarda/precomp.h"

/* The accepted range of every numeric flag that is not an option of the options' table (whose
 * rows carry theirs), declared once for every command that has it (a flag name means the same
 * thing everywhere). A numeric flag without a range is a programming error that ua_args_parse
 * reports for any command line, so no flag can go unchecked. */
typedef struct { const char *name; double lo, hi; } range_row;
#define BIG 2147483647.0
static const range_row ranges[] = {
    /* the commands' own */
    {"threads", 0, 1024},           {"save-step", 0, BIG},           {"max-steps", 0, BIG},
    {"debug-kill-after", 0, BIG},   {"debug-nan-at", 0, BIG},        {"warmup-epochs", 0, 100000},
    /* synth */
    {"n-train", 0, 10000000},       {"n-dev", 0, 10000000},          {"n-test", 0, 10000000},
    {"n-testall", 0, 10000000},     {"noise", 0, 1000},              {"n-nouns", 1, 1000000},
    {"n-attrs", 0, 1000000},        {"attr-scale", 0, 1000},         {"category-mix", 0, 1},
    /* bench, search, plot, vocab */
    {"vocab-size", 1, 100000000},   {"regions", 1, 1 << 20},         {"mean-len", 3, 1 << 20},
    {"images", 1, 100000000},       {"captions", 1, 1000000000},     {"repeats", 1, 1000000},
    {"torch-max-seconds", 0, 1e9},  {"per-image", 1, 1000},          {"queries", 0, BIG},
    {"image-row", -1, BIG},         {"top-k", 1, BIG},               {"shortlist", 0, BIG},
    {"max-captions", 0, BIG},       {"caption", 0, BIG},             {"threshold", 1, BIG},
    /* index */
    {"block-images", 128, 1 << 20}, {"synthetic-images", 0, 1 << 30}, {"synthetic-regions", 1, UA_MAX_REGIONS},
    {"synthetic-seed", 0, BIG},
    /* serve */
    {"port", 0, 65535},             {"max-connections", 1, 100000},  {"timeout", 1, 3600},
};
#undef BIG

int ua_args_range(const char *name, double *lo, double *hi)
{
    const ua_option_def *d = ua_option_by_flag(name);
    if (d && d->type != UA_OT_ENUM && d->type != UA_OT_TEXT) {
        *lo = d->lo;
        *hi = d->hi;
        return 0;
    }
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (strcmp(ranges[i].name, name) == 0) {
            *lo = ranges[i].lo;
            *hi = ranges[i].hi;
            return 0;
        }
    return -1;
}

static int is_numeric(ua_opt_kind k) { return k == UA_OPT_INT || k == UA_OPT_LONG || k == UA_OPT_FLOAT; }

/* "3", "0.001", "1e+06": the shortest faithful text of a bound */
static void fmt_bound(double x, char *buf, size_t cap)
{
    if (x == (double)(long long)x && fabs(x) < 1e15) snprintf(buf, cap, "%lld", (long long)x);
    else snprintf(buf, cap, "%g", x);
}

static int check_range(const ua_cmd_spec *spec, const ua_opt *o, double x, const char *v, ua_err *err)
{
    double lo, hi;
    if (ua_args_range(o->name, &lo, &hi))
        return ua_fail(err, "uarda %s: internal error: --%s has no declared range", spec->name, o->name);
    if (x >= lo && x <= hi) return 0;
    char a[32], b[32];
    fmt_bound(lo, a, sizeof a);
    fmt_bound(hi, b, sizeof b);
    return ua_fail(err, "uarda %s: --%s must be between %s and %s, got '%s'", spec->name, o->name, a, b, v);
}

static ua_opt *find_opt(ua_cmd_spec *spec, const char *name, size_t len, int *negated)
{
    *negated = 0;
    for (ua_opt *o = spec->opts; o && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
    if (len > 3 && strncmp(name, "no-", 3) == 0) {
        for (ua_opt *o = spec->opts; o && o->name; o++)
            if (o->kind == UA_OPT_BOOL && strlen(o->name) == len - 3 &&
                strncmp(o->name, name + 3, len - 3) == 0) {
                *negated = 1;
                return o;
            }
        /* SCAN's own negative names (no_imgnorm) are options of their own: found above */
    }
    return NULL;
}

static int choice_ok(const char *choices, const char *v) { return ua_option_choice_index(choices, v) >= 0; }

static int set_value(const ua_cmd_spec *spec, ua_opt *o, const char *v, ua_err *err)
{
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case UA_OPT_INT: {
        long x = strtol(v, &end, 10);
        if (!*v || *end || errno || x < INT_MIN || x > INT_MAX)
            return ua_fail(err, "uarda %s: --%s expects an integer, got '%s'", spec->name, o->name, v);
        if (check_range(spec, o, (double)x, v, err)) return -1;
        *(int *)o->dest = (int)x;
        break;
    }
    case UA_OPT_LONG: {
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno)
            return ua_fail(err, "uarda %s: --%s expects an integer, got '%s'", spec->name, o->name, v);
        if (check_range(spec, o, (double)x, v, err)) return -1;
        *(long long *)o->dest = x;
        break;
    }
    case UA_OPT_FLOAT: {
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x))
            return ua_fail(err, "uarda %s: --%s expects a finite number, got '%s'", spec->name, o->name, v);
        if (check_range(spec, o, x, v, err)) return -1;
        *(double *)o->dest = x;
        break;
    }
    case UA_OPT_STR:
        *(const char **)o->dest = v;
        break;
    case UA_OPT_CHOICE:
        if (!choice_ok(o->choices, v))
            return ua_fail(err, "uarda %s: --%s must be one of %s, got '%s'", spec->name, o->name, o->choices, v);
        *(const char **)o->dest = v;
        break;
    case UA_OPT_ENUM:
        if (!choice_ok(o->choices, v))
            return ua_fail(err, "uarda %s: --%s must be one of %s, got '%s'", spec->name, o->name, o->choices, v);
        *(int *)o->dest = ua_option_choice_index(o->choices, v);
        break;
    case UA_OPT_TEXT:
        if (o->choices && !choice_ok(o->choices, v))
            return ua_fail(err, "uarda %s: --%s must be one of %s, got '%s'", spec->name, o->name, o->choices, v);
        if (strlen(v) >= o->cap)
            return ua_fail(err, "uarda %s: --%s is longer than %zu bytes", spec->name, o->name, o->cap ? o->cap - 1 : 0);
        snprintf((char *)o->dest, o->cap, "%s", v);
        break;
    case UA_OPT_MULTI: {
        ua_multi *m = o->dest;
        if (m->n >= UA_MULTI_MAX)
            return ua_fail(err, "uarda %s: --%s given more than %d times", spec->name, o->name, UA_MULTI_MAX);
        m->v[m->n++] = v;
        break;
    }
    case UA_OPT_BOOL:
        if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "on") == 0) *(int *)o->dest = 1;
        else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "off") == 0) *(int *)o->dest = 0;
        else return ua_fail(err, "uarda %s: --%s expects no value (or on/off), got '%s'", spec->name, o->name, v);
        break;
    }
    o->given = 1;
    return 0;
}

int ua_args_parse(ua_cmd_spec *spec, int argc, char **argv, int *n_pos, ua_err *err)
{
    int npos = 0;
    int only_positional = 0;
    double lo, hi;
    for (const ua_opt *o = spec->opts; o && o->name; o++)   /* every numeric flag has its range */
        if (is_numeric(o->kind) && ua_args_range(o->name, &lo, &hi))
            return ua_fail(err, "uarda %s: internal error: --%s has no declared range", spec->name, o->name);
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_positional || a[0] != '-' || strcmp(a, "-") == 0) {
            if (npos >= spec->max_positional)
                return ua_fail(err, "uarda %s: unexpected argument '%s' (see uarda %s --help)",
                               spec->name, a, spec->name);
            argv[1 + npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) { only_positional = 1; continue; }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            ua_args_help(spec);
            return 1;
        }
        if (a[1] != '-')
            return ua_fail(err, "uarda %s: unknown option '%s' (options are --long-names; see uarda %s --help)",
                           spec->name, a, spec->name);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        /* accept SCAN's underscore spelling too: --lambda_softmax == --lambda-softmax */
        char norm[128];
        if (len >= sizeof norm)
            return ua_fail(err, "uarda %s: unknown option '%.*s'", spec->name, 100, a);
        for (size_t k = 0; k < len; k++) norm[k] = name[k] == '_' ? '-' : name[k];
        norm[len] = 0;
        int negated;
        ua_opt *o = find_opt(spec, norm, len, &negated);
        if (!o)
            return ua_fail(err, "uarda %s: unknown option '--%s' (see uarda %s --help)", spec->name, norm, spec->name);
        if (o->kind == UA_OPT_BOOL) {
            if (eq) {
                if (negated)
                    return ua_fail(err, "uarda %s: --no-%s takes no value", spec->name, o->name);
                if (set_value(spec, o, eq + 1, err)) return -1;
            } else {
                *(int *)o->dest = !negated;
                o->given = 1;
            }
            continue;
        }
        const char *v;
        if (eq) v = eq + 1;
        else if (i + 1 < argc) v = argv[++i];
        else return ua_fail(err, "uarda %s: --%s needs a value", spec->name, o->name);
        if (set_value(spec, o, v, err)) return -1;
    }
    if (n_pos) *n_pos = npos;
    return 0;
}

static void print_help(FILE *out, const ua_cmd_spec *spec)
{
    double lo, hi;
    fprintf(out, "%s\n\n%s\n", spec->usage, spec->summary);
    if (spec->opts && spec->opts->name) fprintf(out, "\noptions:\n");
    for (const ua_opt *o = spec->opts; o && o->name; o++) {
        char left[96];
        switch (o->kind) {
        case UA_OPT_BOOL:   snprintf(left, sizeof left, "--[no-]%s", o->name); break;
        case UA_OPT_INT:
        case UA_OPT_LONG:   snprintf(left, sizeof left, "--%s N", o->name); break;
        case UA_OPT_FLOAT:  snprintf(left, sizeof left, "--%s X", o->name); break;
        case UA_OPT_CHOICE:
        case UA_OPT_ENUM:   snprintf(left, sizeof left, "--%s {%s}", o->name, o->choices); break;
        case UA_OPT_TEXT:
            if (o->choices) snprintf(left, sizeof left, "--%s {%s}", o->name, o->choices);
            else snprintf(left, sizeof left, "--%s VALUE", o->name);
            break;
        default:            snprintf(left, sizeof left, "--%s VALUE", o->name); break;
        }
        char def[80] = "";
        switch (o->kind) {
        case UA_OPT_BOOL:   snprintf(def, sizeof def, " (default: %s)", *(int *)o->dest ? "on" : "off"); break;
        case UA_OPT_INT:    snprintf(def, sizeof def, " (default: %d)", *(int *)o->dest); break;
        case UA_OPT_LONG:   snprintf(def, sizeof def, " (default: %lld)", *(long long *)o->dest); break;
        case UA_OPT_FLOAT:  snprintf(def, sizeof def, " (default: %g)", *(double *)o->dest); break;
        case UA_OPT_STR:
        case UA_OPT_CHOICE:
            if (*(const char **)o->dest) snprintf(def, sizeof def, " (default: %s)", *(const char **)o->dest);
            break;
        case UA_OPT_ENUM: {
            char name[64];
            ua_option_choice_name(o->choices, *(const int *)o->dest, name, sizeof name);
            snprintf(def, sizeof def, " (default: %s)", name);
            break;
        }
        case UA_OPT_TEXT: snprintf(def, sizeof def, " (default: %.60s)", (const char *)o->dest); break;
        default: break;
        }
        char range[80] = "";
        if (is_numeric(o->kind) && ua_args_range(o->name, &lo, &hi) == 0) {
            char a[32], b[32];
            fmt_bound(lo, a, sizeof a);
            fmt_bound(hi, b, sizeof b);
            snprintf(range, sizeof range, " [%s, %s]", a, b);
        }
        fprintf(out, "  %-34s %s%s%s%s\n", left, o->help ? o->help : "", def, range, o->note ? o->note : "");
    }
    fprintf(out, "  %-34s %s\n", "--help", "show this help");
    if (spec->epilog) fprintf(out, "\n%s\n", spec->epilog);
}

/* The help is written with one write(2): a reader that stops at its first match (grep -q) then
 * finds the whole text in the pipe, and the command never writes into a closed one. */
void ua_args_help(const ua_cmd_spec *spec)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (!m) {
        print_help(stdout, spec);
        return;
    }
    print_help(m, spec);
    fclose(m);
    fflush(stdout);
    for (size_t done = 0; text && done < len;) {
        ssize_t w = write(STDOUT_FILENO, text + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    free(text);
}

const ua_opt *ua_args_find(const ua_cmd_spec *spec, const char *name)
{
    for (const ua_opt *o = spec->opts; o && o->name; o++)
        if (strcmp(o->name, name) == 0) return o;
    return NULL;
}

int ua_args_given(const ua_cmd_spec *spec, const char *name)
{
    const ua_opt *o = ua_args_find(spec, name);
    return o && o->given;
}
