/* One function per uarda command, each in its own cmd_<name>.c. They return the process exit
 * status: 0 success, 1 runtime error (message printed), 2 usage error. */
#ifndef UARDA_CLI_COMMANDS_H
#define UARDA_CLI_COMMANDS_H

#include "cli/args.h"
#include "uarda/dist.h"

int cmd_synth(int argc, char **argv);
int cmd_vocab(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_bench_shortlist(int argc, char **argv);   /* uarda bench shortlist */
int cmd_plot(int argc, char **argv);

/* Parses argv against spec; returns -1 to go on, else the exit status to return now
 * (0 after --help, 2 after a usage error, which it prints). */
int ua_cli_parse(ua_cmd_spec *spec, int argc, char **argv, int *n_pos);
/* the process's ranks (main.c: MPI for the commands that split work over ranks, train and eval;
 * one process otherwise) */
const ua_dist *ua_cli_dist(void);
/* prints "uarda <cmd>: <message>" to stderr and returns 1 */
int ua_cli_error(const char *cmd, const ua_err *err);

#endif
