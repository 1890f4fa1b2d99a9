#include "io/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int ua_map_file(const char *path, size_t min_len, const char *why_min, void **map, size_t *len, ua_err *err)
{
    *map = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ua_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ua_fail(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ua_fail(err, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return ua_fail(err, "%s: too large to map", path);
    }
    size_t n = (size_t)st.st_size;
    if (n < min_len || n == 0) {
        close(fd);
        if (n == 0) return ua_fail(err, "%s: truncated file: empty, %s", path, why_min);
        return ua_fail(err, "%s: truncated file: %zu bytes, %s", path, n, why_min);
    }
    void *m = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) return ua_fail(err, "%s: cannot memory-map %zu bytes: %s", path, n, strerror(e));
    *map = m;
    *len = n;
    return 0;
}
