/* Atomic file writes: temp file beside the target, fsync, rename, fsync of the folder. */
#include "uarda/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dup_str(const char *s, ua_err *err)
{
    size_t n = strlen(s) + 1;
    char *d = ua_malloc(n, err);
    if (d) memcpy(d, s, n);
    return d;
}

static void clear(ua_atomic_file *f)
{
    free(f->tmp_path);
    free(f->final_path);
    f->fp = NULL;
    f->tmp_path = NULL;
    f->final_path = NULL;
}

int ua_atomic_open(ua_atomic_file *f, const char *path, ua_err *err)
{
    f->fp = NULL;
    f->tmp_path = NULL;
    f->final_path = NULL;
    if (!path || !*path) return ua_fail(err, "atomic write: empty file name");
    size_t n = strlen(path);
    if (path[n - 1] == '/') return ua_fail(err, "%s: is a folder name, not a file name", path);

    f->final_path = dup_str(path, err);
    f->tmp_path = ua_malloc(n + 32, err);
    if (!f->final_path || !f->tmp_path) {
        clear(f);
        return ua_fail_prefix(err, "%s", path);
    }
    snprintf(f->tmp_path, n + 32, "%s.tmp.%ld", path, (long)getpid());

    int fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        clear(f);
        return ua_fail(err, "%s: cannot create temporary file for writing: %s", path, strerror(e));
    }
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        int e = errno;
        close(fd);
        unlink(f->tmp_path);
        clear(f);
        return ua_fail(err, "%s: cannot open temporary file: %s", path, strerror(e));
    }
    return 0;
}

/* fsync the folder that holds path, so that the rename itself is durable */
static int sync_dir(const char *path, ua_err *err)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) {
        dir = dup_str(".", err);
    } else {
        size_t n = (size_t)(slash - path);
        if (n == 0) n = 1; /* "/file" lives in "/" */
        dir = ua_malloc(n + 1, err);
        if (dir) {
            memcpy(dir, path, n);
            dir[n] = 0;
        }
    }
    if (!dir) return ua_fail_prefix(err, "%s", path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        ua_fail(err, "%s: written, but cannot open its folder %s to sync it: %s", path, dir,
                strerror(e));
        free(dir);
        return -1;
    }
    int rc = 0;
    if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP && errno != EROFS) {
        int e = errno;
        rc = ua_fail(err, "%s: written, but syncing its folder %s failed: %s", path, dir,
                     strerror(e));
    }
    close(fd);
    free(dir);
    return rc;
}

int ua_atomic_commit(ua_atomic_file *f, ua_err *err)
{
    if (!f->fp || !f->tmp_path || !f->final_path) {
        ua_atomic_abort(f);
        return ua_fail(err, "atomic write: commit without an open file");
    }
    const char *path = f->final_path;
    int failed = 0, e = 0;
    const char *what = "";
    if (ferror(f->fp)) {
        failed = 1, e = EIO, what = "writing";
    } else if (fflush(f->fp) != 0) {
        failed = 1, e = errno, what = "writing";
    } else if (fsync(fileno(f->fp)) != 0) {
        failed = 1, e = errno, what = "syncing";
    }
    int close_rc = fclose(f->fp);
    f->fp = NULL;
    if (!failed && close_rc != 0) failed = 1, e = errno, what = "closing";
    if (failed) {
        ua_fail(err, "%s: %s failed: %s", path, what, strerror(e));
        ua_atomic_abort(f);
        return -1;
    }
    if (rename(f->tmp_path, path) != 0) {
        e = errno;
        ua_fail(err, "%s: cannot rename the temporary file over it: %s", path, strerror(e));
        ua_atomic_abort(f);
        return -1;
    }
    int rc = sync_dir(path, err);
    clear(f);
    return rc;
}

void ua_atomic_abort(ua_atomic_file *f)
{
    if (!f) return;
    if (f->fp) fclose(f->fp);
    if (f->tmp_path) unlink(f->tmp_path);
    clear(f);
}

int ua_write_file_atomic(const char *path, const void *data, size_t n, ua_err *err)
{
    ua_atomic_file f;
    if (ua_atomic_open(&f, path, err) != 0) return -1;
    if (n > 0 && fwrite(data, 1, n, f.fp) != n) {
        int e = errno;
        ua_atomic_abort(&f);
        return ua_fail(err, "%s: writing %zu bytes failed: %s", path, n, strerror(e));
    }
    return ua_atomic_commit(&f, err);
}

int ua_mkdir_p(const char *dir, ua_err *err)
{
    if (!*dir) return ua_fail(err, "empty folder name");
    char *p = strdup(dir);
    if (!p) return ua_fail(err, "%s: out of memory", dir);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != 0) continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            ua_fail(err, "%s: cannot create folder: %s", p, strerror(e));
            free(p);
            return -1;
        }
        *s = c;
        if (!c) break;
    }
    free(p);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return ua_fail(err, "%s: exists and is not a folder", dir);
    return 0;
}

int ua_mkdir_parent(const char *path, ua_err *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return 0;
    char *dir = strndup(path, (size_t)(slash - path));
    if (!dir) return ua_fail(err, "%s: out of memory", path);
    int rc = ua_mkdir_p(dir, err);
    free(dir);
    return rc;
}
