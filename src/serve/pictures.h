/* What the page draws for a gallery image (serve.h): its regions' boxes (--boxes), its picture
 * file (--images-dir with --image-names) and its name. Private to src/serve. */
#ifndef UARDA_SERVE_PICTURES_H
#define UARDA_SERVE_PICTURES_H

#include <stddef.h>

#include "serve/serve.h"
#include "uarda/gallery.h"
#include "uarda/npy.h"

typedef struct ua_pictures {
    ua_npy boxes_file;
    const float *boxes;   /* [images, regions, 4]: x0, y0, x1, y1; NULL without --boxes */
    int boxes_unit;       /* every box lies in the unit square (else pixels of the pictures) */
    char **names;         /* [images], or NULL */
    int n_names;
    int dir_fd;           /* --images-dir, or -1 */
} ua_pictures;

/* Reads and checks cfg's boxes and names against the gallery g (a box file of another shape, a
 * name count that is not the gallery's, a name that leaves the folder or is no picture, are
 * errors naming the file and line). Takes cfg->image_names over, also on failure. */
int  ua_pictures_open(ua_pictures *p, ua_serve_config *cfg, const ua_gallery *g, ua_err *err);
void ua_pictures_close(ua_pictures *p);
void ua_pictures_free_names(ua_serve_config *cfg);
/* image row's picture, opened: *fd (the caller closes it), its size and type. Returns the HTTP
 * status: 200, or 404 (no such file) / 500 (unreadable) with a message in err. */
int  ua_pictures_file(const ua_pictures *p, int row, int *fd, size_t *size, const char **type, ua_err *err);

#endif
