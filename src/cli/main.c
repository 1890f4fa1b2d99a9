/* uarda: image-text matching (SCAN and UARDA) in C. Dispatches to one command per file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/threads.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    int threads;   /* runs parallel regions (OpenMP, OpenBLAS): gets the passive wait policy */
    int ranks;     /* splits its work over MPI ranks under mpirun */
    const char *summary;
} command;

static const command commands[] = {
    {"synth",    cmd_synth,     1, 0, "write a synthetic dataset in SCAN's precomp layout"},
    {"vocab",    cmd_vocab,     0, 0, "build a SCAN vocabulary from caption files, or report OOV rates"},
    {"tokenize", cmd_tokenize,  0, 0, "tokenize lines as SCAN does (lowercase + NLTK word_tokenize)"},
    {"data",     cmd_data,      0, 0, "summarize a precomp split (images, captions, lengths, OOV rate)"},
    {"train",    cmd_train,     1, 1, "train SCAN (t2i or i2t cross attention) on a precomp dataset"},
    {"eval",     cmd_eval,      1, 1, "recall table of a checkpoint (or an ensemble) on a split"},
    {"score",    cmd_score,     1, 0, "similarity matrix of given region features and captions"},
    {"index",    cmd_index,     1, 0, "encode a gallery of images (and captions) once, for search"},
    {"search",   cmd_search,    1, 1, "top-k images for a text query, or captions for an image, from an index"},
    {"serve",    cmd_serve,     1, 0, "a search service (JSON API) with a web page of results and attention"},
    {"bench",    cmd_bench,     1, 1, "measure speed: training step, evaluation, SGEMM peak"},
    {"plot",     cmd_plot,      1, 0, "pictures: similarity histograms, training curves, attention maps"},
};

static ua_dist g_dist = {0, 1, 0};   /* set once, by main, before the command runs */

const ua_dist *ua_cli_dist(void) { return &g_dist; }

/* a command over MPI ranks: a failure on one rank ends them all (never a hang) */
static int run_ranks(const command *c, int argc, char **argv)
{
    ua_err err;
    if (ua_dist_init(&g_dist, &argc, &argv, &err)) {
        fprintf(stderr, "uarda %s: %s\n", c->name, err.msg);
        return 1;
    }
    int rc = c->run(argc - 1, argv + 1);
    if (rc != 0 && g_dist.size > 1) ua_dist_abort(&g_dist, rc);
    ua_dist_finalize(&g_dist);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: uarda <command> [options]   (uarda <command> --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int ua_cli_parse(ua_cmd_spec *spec, int argc, char **argv, int *n_pos)
{
    ua_err err;
    int rc = ua_args_parse(spec, argc, argv, n_pos, &err);
    if (rc == 1) return 0;
    if (rc < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    return -1;
}

int ua_cli_error(const char *cmd, const ua_err *err)
{
    fprintf(stderr, "uarda %s: %s\n", cmd, err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            if (commands[i].threads) ua_cli_threads_init(argc, argv);
            if (commands[i].ranks) return run_ranks(&commands[i], argc, argv);
            return commands[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "uarda: unknown command '%s' (see uarda --help)\n", argv[1]);
    return 2;
}
