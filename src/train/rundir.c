/* Run folders (rundir.h). */
#include "uarda/rundir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uarda/atomic.h"

static int lock_one(const char *dir, int *fd, ua_err *err)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/.uarda.lock", dir) >= (int)sizeof path)
        return ua_fail(err, "%s: folder name too long", dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (*fd < 0) return ua_fail(err, "%s: cannot create the lock file: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        if (e == EWOULDBLOCK)
            return ua_fail(err, "%s is in use by another training run (it holds %s); wait for it or choose another folder",
                           dir, path);
        return ua_fail(err, "%s: cannot lock: %s", path, strerror(e));
    }
    return 0;
}

/* 1 when a and b name the same folder (both exist) */
static int same_folder(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int ua_run_lock_folders(ua_run_lock *l, const char *model_dir, const char *log_dir, ua_err *err)
{
    l->fd[0] = l->fd[1] = -1;
    if (ua_mkdir_p(model_dir, err) || ua_mkdir_p(log_dir, err)) return -1;
    if (lock_one(model_dir, &l->fd[0], err)) return -1;
    if (!same_folder(model_dir, log_dir) && lock_one(log_dir, &l->fd[1], err)) {
        ua_run_unlock(l);
        return -1;
    }
    return 0;
}

void ua_run_unlock(ua_run_lock *l)
{
    for (int k = 0; k < 2; k++)
        if (l->fd[k] >= 0) {
            close(l->fd[k]);   /* closing the descriptor releases the flock */
            l->fd[k] = -1;
        }
}

static int is_run_file(const char *name, int model_dir)
{
    if (model_dir)
        return fnmatch("checkpoint*.safetensors", name, 0) == 0 || strcmp(name, "model_best.safetensors") == 0;
    return strcmp(name, "train.jsonl") == 0;
}

/* calls fn on each run file of dir; stops at the first nonzero return and returns it */
static int each_run_file(const char *dir, int model_dir, int (*fn)(const char *path, void *ctx), void *ctx)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (!is_run_file(e->d_name, model_dir)) continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        rc = fn(path, ctx);
    }
    closedir(d);
    return rc;
}

typedef struct { char *out; size_t cap; } found_ctx;

static int found(const char *path, void *ctx)
{
    found_ctx *f = ctx;
    snprintf(f->out, f->cap, "%s", path);
    return 1;
}

int ua_run_find_previous(const char *model_dir, const char *log_dir, char *path, size_t cap)
{
    found_ctx f = {path, cap};
    return each_run_file(model_dir, 1, found, &f) || each_run_file(log_dir, 0, found, &f);
}

static int remove_file(const char *path, void *ctx)
{
    if (unlink(path) == 0 || errno == ENOENT) return 0;
    ua_fail(ctx, "%s: cannot remove the earlier run's file: %s", path, strerror(errno));
    return -1;
}

int ua_run_clear_previous(const char *model_dir, const char *log_dir, ua_err *err)
{
    return each_run_file(model_dir, 1, remove_file, err) || each_run_file(log_dir, 0, remove_file, err) ? -1 : 0;
}
