/* Pieces shared by the commands: SCAN's model options as flags, thread setup, progress lines
 * and JSON-lines logs. */
#ifndef UARDA_CLI_COMMON_H
#define UARDA_CLI_COMMON_H

#include <stdio.h>

#include "cli/args.h"
#include "uarda/clock.h"
#include "uarda/gallery.h"
#include "uarda/searcher.h"
#include "uarda/options.h"
#include "uarda/precomp.h"
#include "uarda/progress.h"
#include "uarda/tokenize.h"
#include "uarda/vocab.h"

/* A command's flags: its own, and rows of the options' table (include/uarda/options.h) bound to
 * the fields of an ua_options, their help, choices, defaults and ranges the table's. */
enum { UA_CLI_MAX_FLAGS = 128 };
typedef struct ua_cli_flags {
    ua_opt opts[UA_CLI_MAX_FLAGS + 1];
    int n;
} ua_cli_flags;
/* appends own[] (terminated by an entry with name NULL) */
void ua_cli_flags_add(ua_cli_flags *b, const ua_opt *own);
/* appends the rows with a flag of a class in `classes`, bound to o */
void ua_cli_flags_add_options(ua_cli_flags *b, ua_options *o, unsigned classes);
/* appends the row of one flag, bound to o */
void ua_cli_flags_add_option(ua_cli_flags *b, ua_options *o, const char *flag);
/* the flags, terminated, for ua_cmd_spec.opts */
ua_opt *ua_cli_flags_done(ua_cli_flags *b);

/* Merges the flags given on the command line (spec; their parsed values in given) over dst, a
 * checkpoint's options (named ckpt in messages): among the flags of the classes in `consider`
 * (UA_OC_*), those whose row lets them override in `context` (UA_OVR_RESUME, UA_OVR_INFER) are
 * copied, and any other must equal dst's value, else -1 with a message that names the flag and
 * the checkpoint's value (a flag is never silently ignored). */
int  ua_cli_merge_flags(ua_options *dst, const ua_options *given, const ua_cmd_spec *spec, unsigned consider,
                        unsigned context, const char *ckpt, ua_err *err);
/* Sets the help notes of spec's checkpoint flags: those that override in `context` get
 * `honoured`, the others of `consider` get `refused` (e.g. " (overrides the checkpoint's)",
 * " (must match the checkpoint)"). */
void ua_cli_annotate_flags(ua_cmd_spec *spec, unsigned consider, unsigned context, const char *honoured,
                           const char *refused);
/* the help notes of an inference command (score, eval, index, search) */
void ua_cli_annotate_inference(ua_cmd_spec *spec);
/* The scoring options of o (UA_OC_SCORE, and the score and switches that an inference --model
 * sets) into a loaded model's options (its threshold untouched). */
void ua_cli_apply_scoring(ua_model *m, const ua_options *o);
/* For inference commands: the options a checkpoint was made with (o, loaded) merged with the
 * shape and scoring flags given (given: defaults with the flags parsed over them): shape flags
 * must match, scoring flags override (m's options updated). A --model given (model: its value,
 * or NULL; UA_INFERENCE_MODEL_OPT) scores with that preset's form first: naaf, NAAF's score with
 * its lambda 20, Mean and clipped_l2norm; scan, SCAN's attention; both clear the UARDA switches
 * (the threshold in force stays the checkpoint's, or --t-test / --t-fixed's). */
int  ua_cli_inference_flags(ua_options *o, ua_model *m, ua_options *given, const char *model, const ua_cmd_spec *spec,
                            const char *ckpt, ua_err *err);

/* --model for the inference commands (score, eval): dest a const char *, NULL unless given */
#define UA_INFERENCE_MODEL_OPT(dest)                                                                          \
    {"model", UA_OPT_CHOICE, &(dest), "scan|naaf", "score with SCAN's attention or with NAAF's score (lambda-softmax " \
     "20, Mean, the test form unless --score-form train) instead of the checkpoint's; with --t-test fixed --t-fixed X, " \
     "NAAF's t_safe (or, with --score-form train, t) is X", 0}

/* the input limits, for --help: "Limits: captions of at most N tokens, ..." */
const char *ua_cli_limits_help(void);

/* After the flags are parsed into o: --model's preset (flags given alongside win) and UARDA's
 * switches made consistent; -1 (message in err) for an inconsistent setting */
int ua_cli_apply_uarda_flags(ua_options *o, const ua_cmd_spec *spec, ua_err *err);

/* eval's --t-test / --t-fixed (NULL: not given): the checkpoint at path
 * evaluated at another threshold than the one it chose (spec 4.10 A4: test with t_tr) */
int ua_cli_eval_threshold(const char *path, ua_options *o, ua_model *m, const char *t_test, const double *t_fixed,
                          ua_err *err);

#include "cli/threads.h"

/* Progress: a live line on a terminal, periodic plain lines otherwise. */
typedef struct ua_progress {
    int tty;
    double start, last_print;
    double interval;       /* seconds between plain lines */
    double paused;         /* seconds not spent on the counted work (e.g. validation): out of the ETA */
    int quiet;             /* print nothing */
} ua_progress;
void   ua_progress_init(ua_progress *p);
/* prints when due (always when force); done/total drive the ETA; rate_unit names the items */
void   ua_progress_update(ua_progress *p, const char *label, long long done, long long total, const char *extra, int force);
void   ua_progress_end(ua_progress *p);
/* The library's progress reports (include/uarda/progress.h) as "<cmd>: <phase> done/total" lines
 * on stderr: live on a terminal, every 10 s otherwise (a phase shorter than that prints nothing).
 * The command owns the state; begin returns the context to pass to the library's calls, end
 * closes a live line. */
typedef struct ua_cli_eval_progress {
    ua_progress p;
    const char *cmd, *phase;
    char label[96];
    int shown;
    long long last_done;
    ua_progress_cb cb;
} ua_cli_eval_progress;
const ua_progress_cb *ua_cli_eval_progress_begin(ua_cli_eval_progress *ep, const char *cmd);
void ua_cli_eval_progress_end(ua_cli_eval_progress *ep);
/* The lines of a text file without their "\n" / "\r\n" (malloc'ed; free with ua_cli_free_lines),
 * *n of them; NULL with a message when the file cannot be read or memory runs out. An empty
 * file gives a valid empty list. */
char **ua_cli_read_lines(const char *path, int *n, ua_err *err);
void   ua_cli_free_lines(char **lines, int n);

/* this process's anonymous resident memory (RssAnon in /proc/self/status), in MB; -1 if unknown */
double ua_rss_anon_mb(void);

/* appends one JSON object (a cJSON* passed as void* to keep cJSON out of this header) as a line,
 * flushed; -1 with a message naming the file when it cannot be written whole */
int ua_jsonl_append(const char *path, void *json_object, ua_err *err);

/* the one-line warning for a file that records no checksum (written before uarda recorded
 * them: a checkpoint with m->unverified set, an index ua_gallery_verify found without one) */
void ua_cli_warn_no_checksum(const char *cmd, const char *path);

#endif
