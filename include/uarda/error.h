/* Errors: every library function that can fail returns 0 on success and -1 on failure, after
 * filling a ua_err with one line that names the file (or input) and the problem. The library
 * never exits or prints; the CLI prints err.msg and exits non-zero. */
#ifndef UARDA_ERROR_H
#define UARDA_ERROR_H

#include <stddef.h>

#define UA_ERR_MAX 1024

typedef struct ua_err {
    char msg[UA_ERR_MAX];
} ua_err;

/* Formats the message into err (which may be NULL) and returns -1, so that callers can write
 * `return ua_fail(err, "%s: truncated file", path);`. */
int ua_fail(ua_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes an existing message: "<prefix>: <old message>". Returns -1. */
int ua_fail_prefix(ua_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Allocation helpers that fail with a message instead of returning NULL silently. */
void *ua_malloc(size_t n, ua_err *err);
void *ua_calloc(size_t count, size_t size, ua_err *err);

#endif
