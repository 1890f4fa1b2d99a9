/* Read-only memory mapping of a whole regular file (internal to src/io). */
#ifndef UARDA_IO_MAPFILE_H
#define UARDA_IO_MAPFILE_H

#include <stddef.h>
#include "uarda/error.h"

/* Maps path. A file shorter than min_len fails with "<path>: truncated file: <N> bytes,
 * <why_min>" ("empty" for 0 bytes). Unmap with munmap(*map, *len). */
int ua_map_file(const char *path, size_t min_len, const char *why_min, void **map, size_t *len, ua_err *err);

#endif
