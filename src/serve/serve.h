/* uarda serve: a search service over one checkpoint and the index it made.
 *
 * Two layers, so that what a request gets can be tested without a network:
 *  - the service (service.c): a request (method, path, its query's arguments) in, a reply
 *    (status, type, body) out. It answers from one searcher (include/uarda/searcher.h), opened
 *    once and only read, with a pool of query workspaces, one per worker: concurrent requests
 *    never share one, and nothing of the model changes per request. Every error is a JSON body
 *    {"error": MESSAGE, "status": CODE} with a 4xx status for a bad request and 5xx for a failure
 *    of the service itself.
 *  - the HTTP server (http.c): libmicrohttpd with a pool of `workers` threads, each of which runs
 *    requests one at a time with one OpenMP / OpenBLAS thread; bounded connections, request size
 *    and idle time.
 *
 * Endpoints (GET and HEAD only):
 *   /, /app.js, /app.css          the page (src/serve/web/, built into the binary)
 *   /api/health                   {"status": "ok"}
 *   /api/info                     the model's options (without its file paths), the threshold,
 *                                 the gallery's size, the index's fingerprints, what pictures
 *                                 there are, the limits
 *   /api/search?q=TEXT&k=K[&shortlist=N][&attention=1]
 *                                 the top-k images for a text query, ranked and scored exactly
 *                                 as uarda search ranks them; with attention, per result each
 *                                 word's weights over its regions and whether the model's
 *                                 threshold judged it relevant
 *   /api/search?image=ROW&k=K[&shortlist=N]
 *                                 the top-k indexed captions for image ROW of the gallery
 *   /api/image/ROW                image ROW's picture: the file named on line ROW + 1 of
 *                                 --image-names, inside --images-dir (never a path from the
 *                                 request) */
#ifndef UARDA_SERVE_SERVE_H
#define UARDA_SERVE_SERVE_H

#include <stddef.h>

#include "uarda/error.h"

/* limits of a request */
#define UA_SERVE_MAX_K 100              /* results per query */
#define UA_SERVE_MAX_QUERY_BYTES 2048   /* a text query, after URL decoding */
#define UA_SERVE_MAX_ARGS 8             /* arguments in a query string */
#define UA_SERVE_MAX_IMAGE_BYTES (64u << 20)   /* a picture file served by /api/image */
#define UA_SERVE_DEFAULT_K 10

typedef struct ua_serve_config {
    const char *checkpoint, *index;
    const char *vocab_path;       /* NULL: the checkpoint's */
    const char *boxes_path;       /* NULL: none (the page draws a grid); else .npy [images, regions, 4] */
    const char *images_dir;       /* NULL: no pictures */
    char **image_names;           /* one per gallery image, or NULL; the service takes them over */
    int n_image_names;
    const char *image_names_path; /* for messages */
    int workers;                  /* query workspaces (the server's threads), >= 1 */
} ua_serve_config;

typedef struct ua_service ua_service;

/* Opens the checkpoint and index and what the page needs (boxes, picture names). On failure
 * returns -1 with a message naming the file, and frees cfg->image_names. */
int  ua_service_open(ua_service **out, ua_serve_config *cfg, ua_err *err);
void ua_service_close(ua_service *s);
/* one line on what is served ("16 images, 80 captions, SCAN t2i, 4 workers") */
void ua_service_describe(const ua_service *s, char *buf, size_t cap);

typedef struct ua_serve_arg {
    const char *key, *value;      /* value: len bytes (may hold NUL bytes), NUL-terminated; NULL: "key" alone */
    size_t len;
} ua_serve_arg;

typedef struct ua_serve_request {
    const char *method, *path;
    const ua_serve_arg *args;     /* the query string's arguments, URL-decoded, in order */
    int n_args;
    int too_many_args;            /* more than UA_SERVE_MAX_ARGS came (the first ones are in args) */
    int has_body;                 /* the request announced a body (Content-Length > 0, chunked) */
} ua_serve_request;

typedef struct ua_serve_reply {
    int status;
    const char *type;             /* Content-Type */
    const char *cache;            /* Cache-Control */
    const char *allow;            /* 405: the Allow header; else NULL */
    int page;                     /* the page itself: gets the page's security headers */
    const void *body;             /* the body: static (owned 0) or malloc'ed (owned 1) */
    size_t len;
    int owned;
    int fd;                       /* >= 0: send this file of fd_size bytes instead (closed by the sender) */
    size_t fd_size;
} ua_serve_reply;

/* Answers one request; never fails (an error is a reply). Thread-safe: any number of threads
 * may call it at once (at most `workers` answer queries at a time; the others wait). */
void ua_service_handle(ua_service *s, const ua_serve_request *rq, ua_serve_reply *rp);
/* frees what a reply owns (its body; its fd if it was never sent) */
void ua_serve_reply_free(ua_serve_reply *rp);

/* ---- the HTTP server (http.c; built only with libmicrohttpd) ---- */

/* 1 when uarda was built with libmicrohttpd */
int ua_serve_available(void);

typedef struct ua_http ua_http;
typedef struct ua_http_config {
    const char *host;             /* a numeric IPv4 or IPv6 address */
    int port;                     /* 0: a free port (ua_http_port says which) */
    int threads;                  /* the worker pool, >= 1 */
    int max_connections;
    int timeout_s;                /* idle connections are closed after this */
} ua_http_config;

/* Starts serving s in threads of its own; -1 with a message (the address in use, ...). */
int  ua_http_start(ua_http **out, ua_service *s, const ua_http_config *cfg, ua_err *err);
int  ua_http_port(const ua_http *h);
/* requests answered so far */
long long ua_http_requests(const ua_http *h);
/* Stops accepting, lets the requests being answered finish, closes every connection. */
void ua_http_stop(ua_http *h);

#endif
