/* The page's files (src/serve/web/), built into the binary by CMake (src/serve/embed.cmake
 * writes them as arrays into web_files.c in the build folder). */
#ifndef UARDA_SERVE_WEB_ASSETS_H
#define UARDA_SERVE_WEB_ASSETS_H

#include <stddef.h>

typedef struct ua_web_file {
    const char *name;              /* "index.html" */
    const unsigned char *data;
    size_t len;
} ua_web_file;

/* made by embed.cmake */
extern const ua_web_file ua_web_files[];
extern const int ua_web_n_files;

typedef struct ua_web_asset {
    const char *type;              /* Content-Type */
    const unsigned char *data;
    size_t len;
} ua_web_asset;

/* the page's file for a request path ("/", "/index.html", "/app.js", "/app.css"): 1, or 0 */
int ua_web_asset_for(const char *path, ua_web_asset *out);

#endif
