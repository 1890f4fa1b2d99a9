/* Threads of the uarda command: the OpenMP wait policy and --threads. */
#ifndef UA_CLI_THREADS_H
#define UA_CLI_THREADS_H

/* marks the process that ua_cli_threads_init re-executed */
#define UA_THREADS_REEXEC_MARK "UARDA_OMP_REEXEC"

/* before a command that runs threads: nothing when libgomp has read its wait policy through the
 * executable's getenv (passive unless the user chose); otherwise, unless the user set
 * OMP_WAIT_POLICY or GOMP_SPINCOUNT or the process will run one thread, executes the program
 * again with OMP_WAIT_POLICY=passive (see threads.c); in
 * the re-executed process, takes that variable and the mark out of the environment again, so
 * that programs uarda runs (bench --vs-torch's Python) see the user's own. Returns when the
 * exec fails, the policy then libgomp's default. */
void ua_cli_threads_init(int argc, char **argv);

/* --threads N: OpenMP and OpenBLAS threads (0 = leave the default: one per CPU the process may
 * run on, OpenMP's own default) */
void ua_cli_set_threads(int n);

#endif
