/* Table-driven option parsing for the uarda commands. Options are SCAN's names with dashes
 * (--lambda-softmax); every boolean also has a --no- form; values may follow as the next
 * argument or after '='. Unknown flags and bad values are one-line errors. */
#ifndef UARDA_CLI_ARGS_H
#define UARDA_CLI_ARGS_H

#include "uarda/error.h"

typedef enum {
    UA_OPT_INT,      /* dest: int*            */
    UA_OPT_LONG,     /* dest: long long*      */
    UA_OPT_FLOAT,    /* dest: double*         */
    UA_OPT_STR,      /* dest: const char**    */
    UA_OPT_BOOL,     /* dest: int* (0/1); --name sets 1, --no-name sets 0 */
    UA_OPT_CHOICE,   /* dest: const char**, value must be one of choices ("a|b|c") */
    UA_OPT_MULTI,    /* dest: ua_multi*, may be given several times */
    UA_OPT_ENUM,     /* dest: int*, the index of the value among choices ("a|b|c": 0, 1, 2) */
    UA_OPT_TEXT,     /* dest: char[cap], the value copied (one of choices when they are set) */
} ua_opt_kind;

#define UA_MULTI_MAX 8
typedef struct ua_multi {
    int n;
    const char *v[UA_MULTI_MAX];
} ua_multi;

typedef struct ua_opt {
    const char *name;      /* without the leading dashes, e.g. "lambda-softmax" */
    ua_opt_kind kind;
    void *dest;
    const char *choices;   /* UA_OPT_CHOICE only */
    const char *help;
    int given;             /* set by the parser when the flag appears */
    const char *note;      /* appended to the help line (e.g. whether it overrides a checkpoint) */
    size_t cap;            /* UA_OPT_TEXT: the size of dest */
} ua_opt;

typedef struct ua_cmd_spec {
    const char *name;      /* "train" */
    const char *summary;   /* one line */
    const char *usage;     /* "uarda train [options]" */
    ua_opt *opts;          /* terminated by an entry with name == NULL */
    int max_positional;    /* how many positional arguments are allowed */
    const char *epilog;    /* printed after the options by --help (may be NULL) */
} ua_cmd_spec;

/* Returns 0 when parsed (positional arguments are moved to argv[1..*n_pos]), 1 when --help
 * was printed (the command should exit 0), -1 on a bad flag or value (message in err). */
int ua_args_parse(ua_cmd_spec *spec, int argc, char **argv, int *n_pos, ua_err *err);
void ua_args_help(const ua_cmd_spec *spec);
/* the option entry by name, or NULL (to ask whether a flag was given) */
const ua_opt *ua_args_find(const ua_cmd_spec *spec, const char *name);
int ua_args_given(const ua_cmd_spec *spec, const char *name);
/* the inclusive range [*lo, *hi] declared for a numeric flag (an option's in the options' table,
 * include/uarda/options.h, else the command flag's in args.c); -1 when it has none */
int ua_args_range(const char *name, double *lo, double *hi);

#endif
