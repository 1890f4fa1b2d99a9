/* Atomic file writes: data goes to "<path>.tmp.<pid>" in the same folder, is flushed and
 * fsync'ed, then renamed over <path> (and the folder fsync'ed). A reader, or a run that is
 * killed at any moment, sees either the old complete file or the new complete file. */
#ifndef UARDA_ATOMIC_H
#define UARDA_ATOMIC_H

#include <stdio.h>
#include "uarda/error.h"

typedef struct ua_atomic_file {
    FILE *fp;            /* write here */
    char *tmp_path;
    char *final_path;
} ua_atomic_file;

int  ua_atomic_open(ua_atomic_file *f, const char *path, ua_err *err);
/* fflush + fsync + fclose + rename + fsync(dir). On failure the temp file is removed. */
int  ua_atomic_commit(ua_atomic_file *f, ua_err *err);
/* closes and removes the temp file; safe to call after a failed commit or twice */
void ua_atomic_abort(ua_atomic_file *f);
/* one-shot: write n bytes atomically */
int  ua_write_file_atomic(const char *path, const void *data, size_t n, ua_err *err);

/* mkdir -p: creates the folder and its parents; fails if the path exists and is no folder */
int  ua_mkdir_p(const char *dir, ua_err *err);
/* creates the folder that will hold the file `path` (nothing when path has no folder part) */
int  ua_mkdir_parent(const char *path, ua_err *err);

#endif
