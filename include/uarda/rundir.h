/* A training run's folders (--model-name for checkpoints, --logger-name for train.jsonl):
 * held by one run at a time, and never silently mixed with an earlier run's files. */
#ifndef UARDA_RUNDIR_H
#define UARDA_RUNDIR_H

#include <stddef.h>

#include "uarda/error.h"

typedef struct ua_run_lock {
    int fd[2];                 /* the lock files' descriptors, -1 when not held */
} ua_run_lock;

/* An exclusive lock (flock on "<dir>/.uarda.lock") on each folder, both created when missing
 * (one lock when they are the same folder). Held until ua_run_unlock or the process ends; a
 * second run on either folder gets -1 and a message that names the folder. */
int  ua_run_lock_folders(ua_run_lock *l, const char *model_dir, const char *log_dir, ua_err *err);
void ua_run_unlock(ua_run_lock *l);

/* The name of the first file of an earlier run in the folders (a checkpoint*.safetensors or
 * model_best.safetensors in model_dir, a train.jsonl in log_dir) into path (cap bytes); 1 when
 * there is one, 0 when none. Other files (a script's own output) do not count. */
int  ua_run_find_previous(const char *model_dir, const char *log_dir, char *path, size_t cap);

/* Removes those files (--overwrite); 0 / -1 with the file that could not be removed. */
int  ua_run_clear_previous(const char *model_dir, const char *log_dir, ua_err *err);

#endif
