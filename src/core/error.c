#include "uarda/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* one line, printable: control characters inside a message (a newline or an escape in a file
 * name or a flag's value) become spaces */
static void one_line(char *msg)
{
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
}

int ua_fail(ua_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        one_line(err->msg);
    }
    return -1;
}

int ua_fail_prefix(ua_err *err, const char *fmt, ...)
{
    if (!err) return -1;
    char prefix[UA_ERR_MAX], old[UA_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* "<prefix>: <old>", truncated to the buffer */
    size_t n = strlen(prefix);
    if (n > sizeof err->msg - 3) n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    err->msg[n] = ':';
    err->msg[n + 1] = ' ';
    size_t room = sizeof err->msg - n - 3, m = strlen(old);
    if (m > room) m = room;
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = 0;
    one_line(err->msg);
    return -1;
}

void *ua_malloc(size_t n, ua_err *err)
{
    void *p = malloc(n ? n : 1);
    if (!p) ua_fail(err, "out of memory allocating %zu bytes", n);
    return p;
}

void *ua_calloc(size_t count, size_t size, ua_err *err)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) ua_fail(err, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}
