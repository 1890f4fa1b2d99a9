/* libFuzzer target: the command-line parser (ua_args_parse) over a spec with every option kind
 * (int, long, float, string, bool with its --no- form, choice, multi) and two positional
 * arguments, on an argv made by splitting arbitrary bytes at NULs. It must never crash or read
 * past an argument; it returns 0, 1 (--help) or -1 with a message that names the command; on
 * success the values say what the arguments said: positionals and string values point into
 * the arguments, a choice is one of its choices, a multi holds at most UA_MULTI_MAX values, a
 * float is finite, a bool is 0 or 1, and an option not given keeps its default. Only the public
 * API of src/cli/args.h is used (the options are designated initializers). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"

enum { MAX_ARGS = 64, MAX_POS = 2 };

static const char *const CHOICES[] = {"t2i", "i2t", "both", NULL};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!freopen("/dev/null", "w", stdout)) abort(); /* --help prints the help */
    return 0;
}

/* p points into one of the arguments (its start, or after a '=') */
static int inside(const char *p, const char *buf, size_t len) { return p >= buf && p <= buf + len; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    char *argv[MAX_ARGS + 2], *orig[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "uarda";
    for (size_t i = 0; i <= size && argc < MAX_ARGS + 1; i += strlen(buf + i) + 1) argv[argc++] = buf + i;
    if (size == 0) argc = 1;
    memcpy(orig, argv, sizeof argv);

    int i_v = 7, b_v = 1, x_v = 0, nox_v = 0, n_pos = -1;
    long long l_v = -3;
    double f_v = 0.5;
    const char *s_v = NULL, *c_v = CHOICES[0];
    ua_multi m_v = {0};
    ua_opt opts[] = {
        /* numeric flags are real ones: each has its range in args.c's table */
        {.name = "threads", .kind = UA_OPT_INT, .dest = &i_v, .help = "an int"},
        {.name = "seed", .kind = UA_OPT_LONG, .dest = &l_v, .help = "a long"},
        {.name = "lambda-softmax", .kind = UA_OPT_FLOAT, .dest = &f_v, .help = "a float"},
        {.name = "str", .kind = UA_OPT_STR, .dest = &s_v, .help = "a string"},
        {.name = "bool", .kind = UA_OPT_BOOL, .dest = &b_v, .help = "a bool"},
        {.name = "choice", .kind = UA_OPT_CHOICE, .dest = &c_v, .choices = "t2i|i2t|both", .help = "a choice"},
        {.name = "multi", .kind = UA_OPT_MULTI, .dest = &m_v, .help = "several"},
        {.name = "x", .kind = UA_OPT_BOOL, .dest = &x_v, .help = "a bool whose --no- form is another option"},
        {.name = "no-x", .kind = UA_OPT_BOOL, .dest = &nox_v, .help = "SCAN's own negative names (no_imgnorm)"},
        {.name = NULL},
    };
    ua_cmd_spec spec = {.name = "fuzz", .summary = "fuzzing", .usage = "usage: fuzz", .opts = opts,
                        .max_positional = MAX_POS};
    ua_err err;
    err.msg[0] = 0;
    int rc = ua_args_parse(&spec, argc, argv, &n_pos, &err);
    if (rc == -1) {
        if (strncmp(err.msg, "uarda fuzz: ", 12) != 0 || strchr(err.msg, '\n')) abort();   /* one line */
    } else if (rc == 0) {
        if (n_pos < 0 || n_pos > MAX_POS) abort();
        for (int k = 1; k <= n_pos; k++) {
            int found = 0;
            for (int a = 1; a < argc && !found; a++) found = argv[k] == orig[a];
            if (!found) abort();
        }
        if (s_v && !inside(s_v, buf, size)) abort();
        int ok = 0;
        for (int k = 0; CHOICES[k]; k++) ok |= strcmp(c_v, CHOICES[k]) == 0;
        if (!ok || (c_v != CHOICES[0] && !inside(c_v, buf, size))) abort();
        if (m_v.n < 0 || m_v.n > UA_MULTI_MAX) abort();
        for (int k = 0; k < m_v.n; k++)
            if (!inside(m_v.v[k], buf, size)) abort();
        if (!isfinite(f_v) || (b_v != 0 && b_v != 1) || (x_v != 0 && x_v != 1) || (nox_v != 0 && nox_v != 1)) abort();
        /* --no-x is the option no-x, never x negated */
        if (x_v && !opts[7].given) abort();
        /* what was not given keeps its default */
        if ((!opts[0].given && i_v != 7) || (!opts[1].given && l_v != -3) || (!opts[2].given && f_v != 0.5) ||
            (!opts[3].given && s_v) || (!opts[4].given && b_v != 1) || (!opts[8].given && nox_v) ||
            (!opts[5].given && c_v != CHOICES[0]) || (!opts[6].given && m_v.n != 0))
            abort();
        /* a given number is inside its declared range */
        double lo, hi;
        if (opts[0].given && (ua_args_range("threads", &lo, &hi) || i_v < lo || i_v > hi)) abort();
        if (opts[1].given && (ua_args_range("seed", &lo, &hi) || (double)l_v < lo || (double)l_v > hi)) abort();
        if (opts[2].given && (ua_args_range("lambda-softmax", &lo, &hi) || f_v < lo || f_v > hi)) abort();
        if (ua_args_given(&spec, "threads") != opts[0].given || ua_args_find(&spec, "nothing")) abort();
    } else if (rc != 1) {
        abort();
    }
    free(buf);
    return 0;
}
