/* Threads of the uarda command.
 *
 * The wait policy. Unless OMP_WAIT_POLICY or GOMP_SPINCOUNT say otherwise, libgomp's threads
 * (OpenBLAS's too: Debian's libopenblas0-openmp runs its threads on libgomp) spin 300000 times
 * at the end of each parallel region before they sleep. On a machine that runs anything else the
 * spinning threads take the CPUs the work needs: one epoch of the tiny training took 9 s instead
 * of 0.2 s beside one other busy process (docs/benchmarks.md, "Threads"). uarda's threads are
 * passive: they sleep at once.
 *
 * libgomp reads its environment in its constructor, before main, and offers no call to change
 * the policy afterwards, so a setenv in main does nothing. The uarda executable therefore
 * defines getenv itself (below): the dynamic linker binds libgomp's call to the executable's
 * definition, as it binds any library's, so libgomp's constructor reads OMP_WAIT_POLICY as
 * "passive" when the user has set neither it nor GOMP_SPINCOUNT. Nothing else changes: the
 * environment itself is untouched (programs uarda runs see the user's), every other name is
 * looked up in it as glibc's getenv does, and the policy costs nothing at start-up.
 *
 * A libgomp that reads its environment otherwise (newer ones walk environ themselves) never asks
 * getenv for the policy; ua_cli_threads_init sees that and falls back to setting the variable
 * and executing the program again, with the same argv, through /proc/self/exe (about 3.5 ms on
 * the 2-core development machine: the exec and the mapping of ~30 libraries; a tiny search takes
 * 8 ms). */
#define _GNU_SOURCE  /* sched_getaffinity, CPU_COUNT */
#include "cli/threads.h"

#include <cblas.h>
#include <omp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static int g_policy_asked;   /* libgomp's constructor asked getenv for OMP_WAIT_POLICY */

static const char *env_lookup(const char *name)
{
    size_t n = strlen(name);
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

/* glibc's getenv, but for libgomp's wait policy (see the top of this file) */
char *getenv(const char *name)
{
    const char *v = env_lookup(name);
    if (strcmp(name, "OMP_WAIT_POLICY") == 0) {
        g_policy_asked = 1;
        if (!v && !env_lookup("GOMP_SPINCOUNT")) v = "passive";
    }
    return (char *)v;
}

/* a process that runs one thread has no thread to wait: --threads 1 (or =1) on the command line,
 * OMP_NUM_THREADS=1, or a single CPU to run on */
static int one_thread(int argc, char **argv)
{
    int n = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) n = atoi(argv[i + 1]);
        else if (strncmp(argv[i], "--threads=", 10) == 0) n = atoi(argv[i] + 10);
    }
    if (n == 1) return 1;
    if (n > 1) return 0;
    const char *omp = getenv("OMP_NUM_THREADS");
    if (omp && strcmp(omp, "1") == 0) return 1;
    cpu_set_t cpus;
    return sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) == 1;
}

void ua_cli_threads_init(int argc, char **argv)
{
    if (getenv(UA_THREADS_REEXEC_MARK)) {   /* the re-executed process: the user's environment again */
        unsetenv(UA_THREADS_REEXEC_MARK);
        unsetenv("OMP_WAIT_POLICY");
        return;
    }
    if (g_policy_asked) return;   /* libgomp has read "passive" (or the user's choice) through getenv */
    if (env_lookup("OMP_WAIT_POLICY") || env_lookup("GOMP_SPINCOUNT") || one_thread(argc, argv)) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) == 0 && setenv(UA_THREADS_REEXEC_MARK, "1", 1) == 0)
        execv("/proc/self/exe", argv);
    /* no /proc, or no exec: carry on with libgomp's default policy */
    unsetenv(UA_THREADS_REEXEC_MARK);
    unsetenv("OMP_WAIT_POLICY");
}

void ua_cli_set_threads(int n)
{
    if (n <= 0) return;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}
