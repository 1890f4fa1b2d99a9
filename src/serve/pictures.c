/* The gallery's pictures (pictures.h). */
#include "serve/pictures.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void ua_pictures_free_names(ua_serve_config *cfg)
{
    for (int i = 0; cfg->image_names && i < cfg->n_image_names; i++) free(cfg->image_names[i]);
    free(cfg->image_names);
    cfg->image_names = NULL;
    cfg->n_image_names = 0;
}

/* the picture types served, by file name extension */
static const char *type_of(const char *name)
{
    static const char *const types[][2] = {{".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
                                           {".gif", "image/gif"}, {".webp", "image/webp"}, {".bmp", "image/bmp"}};
    const char *dot = strrchr(name, '.'), *slash = strrchr(name, '/');
    if (!dot || (slash && dot < slash)) return NULL;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strcasecmp(dot, types[i][0]) == 0) return types[i][1];
    return NULL;
}

/* a name inside the folder: relative, no "." or ".." part, no empty part, no control byte */
static int name_inside(const char *name)
{
    if (!*name || name[0] == '/') return 0;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == '\\') return 0;
    for (const char *part = name; *part;) {
        const char *end = strchr(part, '/');
        size_t n = end ? (size_t)(end - part) : strlen(part);
        if (n == 0 || (n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.')) return 0;
        part += n + (end ? 1 : 0);
        if (end && !*part) return 0;   /* a trailing '/' */
    }
    return 1;
}

static int open_boxes(ua_pictures *p, const char *path, const ua_gallery *g, ua_err *err)
{
    if (ua_npy_open(&p->boxes_file, path, err)) return -1;
    const ua_npy *b = &p->boxes_file;
    if (b->ndim != 3 || b->shape[0] != g->n_img || b->shape[1] != g->R || b->shape[2] != 4) {
        char shape[128] = "(";
        for (int d = 0; d < b->ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? ", " : "", (long long)b->shape[d]);
        strcat(shape, ")");
        return ua_fail(err, "%s: expected boxes of shape (%d, %d, 4) (the index's images and regions), got %s", path,
                       g->n_img, g->R, shape);
    }
    p->boxes_unit = 1;
    for (size_t i = 0; i < b->n_elems; i++) {
        const float v = b->data[i];
        if (!isfinite(v)) {
            size_t img = i / ((size_t)g->R * 4), reg = i / 4 % (size_t)g->R;
            return ua_fail(err, "%s: the box of region %zu of image %zu is not finite", path, reg, img);
        }
        if (v < -1e-4f || v > 1.0001f) p->boxes_unit = 0;
    }
    for (size_t i = 0; i < b->n_elems; i += 4)
        if (b->data[i + 2] < b->data[i] || b->data[i + 3] < b->data[i + 1]) {
            size_t img = i / ((size_t)g->R * 4), reg = i / 4 % (size_t)g->R;
            return ua_fail(err, "%s: the box of region %zu of image %zu has x1 < x0 or y1 < y0", path, reg, img);
        }
    p->boxes = b->data;
    return 0;
}

int ua_pictures_open(ua_pictures *p, ua_serve_config *cfg, const ua_gallery *g, ua_err *err)
{
    memset(p, 0, sizeof *p);
    p->dir_fd = -1;
    p->names = cfg->image_names;
    p->n_names = cfg->n_image_names;
    cfg->image_names = NULL;
    cfg->n_image_names = 0;
    const char *names_path = cfg->image_names_path ? cfg->image_names_path : "--image-names";
    int rc = 0;
    if (cfg->boxes_path && open_boxes(p, cfg->boxes_path, g, err)) rc = -1;
    if (!rc && p->names && p->n_names != g->n_img)
        rc = ua_fail(err, "%s: %d names, but the index holds %d images", names_path, p->n_names, g->n_img);
    for (int i = 0; !rc && p->names && i < p->n_names; i++) {
        if (!name_inside(p->names[i]))
            rc = ua_fail(err, "%s: line %d: '%.200s' is not a file name inside the images folder", names_path, i + 1,
                         p->names[i]);
        else if (cfg->images_dir && !type_of(p->names[i]))
            rc = ua_fail(err, "%s: line %d: '%.200s' is not a picture (png, jpg, jpeg, gif, webp, bmp)", names_path,
                         i + 1, p->names[i]);
    }
    if (!rc && cfg->images_dir) {
        if (!p->names) rc = ua_fail(err, "--images-dir needs --image-names (the file name of each gallery image)");
        else if ((p->dir_fd = open(cfg->images_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
            rc = ua_fail(err, "%s: cannot open the images folder: %s", cfg->images_dir, strerror(errno));
    }
    if (rc) ua_pictures_close(p);
    return rc;
}

void ua_pictures_close(ua_pictures *p)
{
    if (p->boxes_file.map) ua_npy_close(&p->boxes_file);
    for (int i = 0; p->names && i < p->n_names; i++) free(p->names[i]);
    free(p->names);
    if (p->dir_fd >= 0) close(p->dir_fd);
    memset(p, 0, sizeof *p);
    p->dir_fd = -1;
}

int ua_pictures_file(const ua_pictures *p, int row, int *fd, size_t *size, const char **type, ua_err *err)
{
    *fd = -1;
    const char *name = p->names[row];
    int f = openat(p->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f < 0) {
        ua_fail(err, "image %d: its picture %.200s cannot be opened: %s", row, name, strerror(errno));
        return errno == ENOENT || errno == ENOTDIR ? 404 : 500;
    }
    struct stat st;
    if (fstat(f, &st) || !S_ISREG(st.st_mode) || (unsigned long long)st.st_size > UA_SERVE_MAX_IMAGE_BYTES) {
        close(f);
        ua_fail(err, "image %d: its picture %.200s is not a file of at most %u MB", row, name, UA_SERVE_MAX_IMAGE_BYTES >> 20);
        return 500;
    }
    *fd = f;
    *size = (size_t)st.st_size;
    *type = type_of(name);
    return 200;
}
