/* The HTTP server of uarda serve (serve.h), on libmicrohttpd: a pool of threads that polls the
 * connections and runs each request's handler to its end, the connections, their memory (the
 * request line and headers) and their idle time bounded. */
#include "serve/serve.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef UARDA_HAVE_MHD

int ua_serve_available(void) { return 0; }

int ua_http_start(ua_http **out, ua_service *s, const ua_http_config *cfg, ua_err *err)
{
    *out = NULL;
    return ua_fail(err, "uarda was built without libmicrohttpd, so it cannot serve (install libmicrohttpd-dev, "
                        "e.g. with scripts/bootstrap, and rebuild)");
}
int ua_http_port(const ua_http *h) { return 0; }
long long ua_http_requests(const ua_http *h) { return 0; }
void ua_http_stop(ua_http *h) {}

#else

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>

/* the request line and headers of one connection, at most (a longer request gets
 * libmicrohttpd's own 414 or 431 reply before any handler sees it) */
#define CONNECTION_MEMORY (64 * 1024)

struct ua_http {
    struct MHD_Daemon *d;
    ua_service *s;
    int port;
    atomic_llong requests;
};

int ua_serve_available(void) { return 1; }

/* libmicrohttpd's messages: kept for the error while it starts (one thread), then on stderr */
static char g_last_log[512];
static atomic_int g_starting;

static void on_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    if (atomic_load(&g_starting)) memcpy(g_last_log, line, n + 1);
    else fprintf(stderr, "uarda serve: libmicrohttpd: %s\n", line);
}

typedef struct arg_list {
    ua_serve_arg args[UA_SERVE_MAX_ARGS];
    int n, too_many;
} arg_list;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                   const char *value, size_t value_size)
{
    arg_list *l = cls;
    if (l->n == UA_SERVE_MAX_ARGS) {
        l->too_many = 1;
        return MHD_NO;
    }
    l->args[l->n++] = (ua_serve_arg){key, value, value ? value_size : 0};
    return MHD_YES;
}

static int has_body(struct MHD_Connection *c)
{
    const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    return te != NULL || (len && strspn(len, "0") != strlen(len));
}

static const char PAGE_CSP[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/* Every request is answered on its first call, headers read: the service takes no body. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size, void **state)
{
    ua_http *h = cls;
    arg_list args = {0};
    MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, collect_arg, &args);
    ua_serve_request rq = {method, url, args.args, args.n, args.too_many, has_body(c)};
    ua_serve_reply rp;
    ua_service_handle(h->s, &rq, &rp);
    atomic_fetch_add(&h->requests, 1);
    if (rp.status >= 500)
        fprintf(stderr, "uarda serve: %d on %s %s: %.*s\n", rp.status, method, url, (int)rp.len, (const char *)rp.body);
    struct MHD_Response *r;
    if (rp.fd >= 0) {
        r = MHD_create_response_from_fd(rp.fd_size, rp.fd);
        if (r) rp.fd = -1;   /* libmicrohttpd closes it */
    } else {
        r = MHD_create_response_from_buffer(rp.len, (void *)rp.body,
                                            rp.owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (r) rp.owned = 0;  /* libmicrohttpd frees it */
    }
    if (!r) {
        ua_serve_reply_free(&rp);
        return MHD_NO;   /* out of memory: the connection is closed */
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rp.type ? rp.type : "application/octet-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, rp.cache ? rp.cache : "no-cache");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    if (rp.page) {
        MHD_add_response_header(r, "Content-Security-Policy", PAGE_CSP);
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
    }
    if (rp.allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, rp.allow);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)rp.status, r);
    MHD_destroy_response(r);
    ua_serve_reply_free(&rp);
    return ok;
}

int ua_http_start(ua_http **out, ua_service *s, const ua_http_config *cfg, ua_err *err)
{
    *out = NULL;
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
    memset(&v4, 0, sizeof v4);
    memset(&v6, 0, sizeof v6);
    const struct sockaddr *addr;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
    if (inet_pton(AF_INET, cfg->host, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons((uint16_t)cfg->port);
        addr = (const struct sockaddr *)&v4;
    } else if (inet_pton(AF_INET6, cfg->host, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons((uint16_t)cfg->port);
        addr = (const struct sockaddr *)&v6;
        flags |= MHD_USE_IPv6;
    } else {
        return ua_fail(err, "--host %s: not a numeric IPv4 or IPv6 address (e.g. 127.0.0.1, ::1, 0.0.0.0)", cfg->host);
    }
    ua_http *h = calloc(1, sizeof *h);
    if (!h) return ua_fail(err, "out of memory");
    h->s = s;
    atomic_init(&h->requests, 0);
    g_last_log[0] = 0;
    atomic_store(&g_starting, 1);
    h->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, addr,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cfg->threads > 1 ? cfg->threads : 1),
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->timeout_s,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
                            MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL,
                            MHD_OPTION_END);
    atomic_store(&g_starting, 0);
    if (!h->d) {
        free(h);
        return ua_fail(err, "cannot serve on %s port %d: %s", cfg->host, cfg->port,
                       g_last_log[0] ? g_last_log : "libmicrohttpd could not start");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : cfg->port;
    *out = h;
    return 0;
}

int ua_http_port(const ua_http *h) { return h->port; }

long long ua_http_requests(const ua_http *h) { return atomic_load(&((ua_http *)h)->requests); }

void ua_http_stop(ua_http *h)
{
    if (!h) return;
    MHD_stop_daemon(h->d);
    free(h);
}

#endif
