/* The page's files by request path (web_assets.h). */
#include "serve/web_assets.h"

#include <string.h>

static const struct {
    const char *path, *file, *type;
} ROUTES[] = {
    {"/", "index.html", "text/html; charset=utf-8"},
    {"/index.html", "index.html", "text/html; charset=utf-8"},
    {"/app.js", "app.js", "text/javascript; charset=utf-8"},
    {"/app.css", "app.css", "text/css; charset=utf-8"},
};
#define N_ROUTES ((int)(sizeof ROUTES / sizeof ROUTES[0]))

int ua_web_asset_for(const char *path, ua_web_asset *out)
{
    for (int r = 0; r < N_ROUTES; r++) {
        if (strcmp(path, ROUTES[r].path) != 0) continue;
        for (int f = 0; f < ua_web_n_files; f++)
            if (strcmp(ua_web_files[f].name, ROUTES[r].file) == 0) {
                *out = (ua_web_asset){ROUTES[r].type, ua_web_files[f].data, ua_web_files[f].len};
                return 1;
            }
    }
    return 0;
}
