/* Pictures of the synthetic images (synth.h, "Pictures"): where each region lies, and a small
 * thumbnail that draws the regions in colours tied to the concepts. Nothing here draws from the
 * streams of the features, captions or layouts: their bytes do not depend on the pictures.
 *
 * A split's thumbnails are written as one folder: into "<split>_images.tmp.<pid>", file by file
 * without a sync each (a thousand fsyncs took 16 s where the data itself takes 1 s), then the
 * file system synced once and the folder renamed into place, an earlier one removed first. */
#define _GNU_SOURCE  /* syncfs */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/synth_internal.h"
#include "uarda/npy.h"
#include "uarda/plot.h"

/* ---- boxes ----------------------------------------------------------------------------- */

#define MIN_CENTRE_GAP 0.24   /* objects' centres this far apart, when the rejection finds room */
#define CENTRE_TRIES 32

static float clampf(double v, double lo, double hi) { return (float)(v < lo ? lo : v > hi ? hi : v); }

/* box = the centre (cx, cy) +- (hw, hh), inside the unit square, at least 0.02 a side */
static void put_box(float *box, double cx, double cy, double hw, double hh)
{
    double x0 = clampf(cx - hw, 0, 0.98), y0 = clampf(cy - hh, 0, 0.98);
    box[0] = (float)x0;
    box[1] = (float)y0;
    box[2] = clampf(cx + hw, x0 + 0.02, 1);
    box[3] = clampf(cy + hh, y0 + 0.02, 1);
}

/* boxes[36][4] of one image: its objects' centres apart from each other (when there is room),
 * each object's regions around its centre, background regions anywhere */
static void gen_boxes(const ua_synth_config *cfg, const ua_synth_picture *p, float *boxes, float *centre)
{
    ua_rng r;
    ua_synth_stream(&r, cfg->seed, p->stream_tag, p->stream_index);
    double half[UA_SYNTH_MAX_CONCEPTS][2];
    for (int o = 0; o < p->n_objects; o++) {
        double cx = 0.5, cy = 0.5;
        for (int t = 0; t < CENTRE_TRIES; t++) {
            cx = 0.18 + 0.64 * ua_rng_unif_double(&r);
            cy = 0.18 + 0.64 * ua_rng_unif_double(&r);
            int ok = 1;
            for (int q = 0; q < o && ok; q++)
                ok = hypot(cx - centre[2 * q], cy - centre[2 * q + 1]) >= MIN_CENTRE_GAP;
            if (ok) break;
        }
        centre[2 * o] = (float)cx;
        centre[2 * o + 1] = (float)cy;
        half[o][0] = 0.09 + 0.09 * ua_rng_unif_double(&r);
        half[o][1] = 0.09 + 0.09 * ua_rng_unif_double(&r);
    }
    for (int reg = 0; reg < UA_SYNTH_REGIONS; reg++) {
        float *b = boxes + 4 * reg;
        int o = p->region_object[reg];
        if (o >= 0 && o < p->n_objects) {
            /* a part of the object: shifted by up to half its extent, 60-110% of its size */
            double jx = (ua_rng_unif_double(&r) - 0.5) * half[o][0], jy = (ua_rng_unif_double(&r) - 0.5) * half[o][1];
            double sx = 0.6 + 0.5 * ua_rng_unif_double(&r), sy = 0.6 + 0.5 * ua_rng_unif_double(&r);
            put_box(b, centre[2 * o] + jx, centre[2 * o + 1] + jy, half[o][0] * sx, half[o][1] * sy);
        } else {
            double cx = ua_rng_unif_double(&r), cy = ua_rng_unif_double(&r);
            double hw = 0.05 + 0.15 * ua_rng_unif_double(&r), hh = 0.05 + 0.15 * ua_rng_unif_double(&r);
            put_box(b, cx, cy, hw, hh);
        }
    }
}

/* ---- colours --------------------------------------------------------------------------- */

typedef struct named_colour {
    const char *word;
    float rgb[3];
} named_colour;

/* colour words (of the built-in attributes, and common in real captions) and their colours */
static const named_colour COLOURS[] = {
    {"black", {0.12f, 0.12f, 0.12f}}, {"blond", {0.93f, 0.82f, 0.50f}}, {"blonde", {0.93f, 0.82f, 0.50f}},
    {"blue", {0.16f, 0.38f, 0.85f}},  {"brown", {0.52f, 0.33f, 0.17f}}, {"golden", {0.85f, 0.67f, 0.13f}},
    {"gray", {0.55f, 0.55f, 0.55f}},  {"green", {0.20f, 0.62f, 0.25f}}, {"grey", {0.55f, 0.55f, 0.55f}},
    {"orange", {0.96f, 0.55f, 0.10f}}, {"pink", {0.95f, 0.50f, 0.70f}}, {"purple", {0.52f, 0.27f, 0.70f}},
    {"red", {0.85f, 0.15f, 0.15f}},   {"silver", {0.75f, 0.76f, 0.80f}}, {"tan", {0.82f, 0.70f, 0.52f}},
    {"white", {0.98f, 0.98f, 0.98f}}, {"yellow", {0.95f, 0.85f, 0.15f}},
};

static uint64_t word_key(const char *w)
{
    uint64_t h = 0xcbf29ce484222325ULL;   /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)w; *c; c++) h = (h ^ *c) * 0x100000001b3ULL;
    return h;
}

/* HSV (h in [0, 1)) to RGB */
static void hsv(double h, double s, double v, float *rgb)
{
    double f = h * 6 - floor(h * 6);
    int i = (int)floor(h * 6) % 6;
    double p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
    double c[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
    for (int k = 0; k < 3; k++) rgb[k] = (float)c[i][k];
}

/* the colour of a word: a colour word's own; any other a hue of its own (strong for nouns'
 * outlines, lighter for fills) */
static void colour_of(const char *word, int strong, float *rgb)
{
    for (size_t i = 0; i < sizeof COLOURS / sizeof COLOURS[0]; i++)
        if (strcmp(word, COLOURS[i].word) == 0) {
            memcpy(rgb, COLOURS[i].rgb, sizeof COLOURS[i].rgb);
            return;
        }
    const double hue = (double)(word_key(word) >> 11) / 9007199254740992.0;   /* 53 bits */
    hsv(hue, strong ? 0.75 : 0.45, strong ? 0.70 : 0.92, rgb);
}

/* ---- thumbnails ------------------------------------------------------------------------ */

/* the thumbnail of p into `path` (a plain write: the folder is synced once) */
static int draw_thumbnail(const char *path, const ua_synth_picture *p, const float *boxes, const float *centre,
                          ua_err *err)
{
    ua_plot_region regions[UA_SYNTH_REGIONS];
    ua_plot_label labels[UA_SYNTH_MAX_CONCEPTS];
    char text[UA_SYNTH_MAX_CONCEPTS][96];
    int n = 0;
    /* background first, in greys by clutter concept; then the objects over it */
    for (int pass = 0; pass < 2; pass++)
        for (int reg = 0; reg < UA_SYNTH_REGIONS; reg++) {
            const int o = p->region_object[reg];
            if ((o >= 0) != (pass == 1)) continue;
            ua_plot_region *r = &regions[n++];
            memcpy(r->box, boxes + 4 * reg, sizeof r->box);
            if (o < 0) {
                const float g = 0.62f + 0.05f * (float)(p->region_clutter[reg] % 5);
                r->fill[0] = r->fill[1] = r->fill[2] = g;
                r->line[0] = r->line[1] = r->line[2] = g - 0.06f;
                r->alpha = 0.18f;
                r->line_width = 1;
            } else {
                colour_of(p->attr[o] ? p->attr[o] : p->noun[o], 0, r->fill);
                colour_of(p->noun[o], 1, r->line);
                r->alpha = 0.45f;
                r->line_width = 2;
            }
        }
    for (int o = 0; o < p->n_objects; o++) {
        snprintf(text[o], sizeof text[o], "%s%s%s", p->attr[o] ? p->attr[o] : "", p->attr[o] ? " " : "", p->noun[o]);
        labels[o] = (ua_plot_label){centre[2 * o], centre[2 * o + 1], text[o]};
    }
    unsigned char *png;
    size_t len;
    if (ua_plot_regions_png(UA_SYNTH_PICTURE_SIZE, regions, n, labels, p->n_objects, &png, &len, err))
        return ua_fail_prefix(err, "%s", path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc = 0;
    size_t done = 0;
    while (fd >= 0 && done < len) {
        ssize_t w = write(fd, png + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    if (fd < 0 || done < len || close(fd)) rc = ua_fail(err, "%s: cannot write: %s", path, strerror(errno));
    free(png);
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    return remove(path);
}

/* rm -r dir (nothing when it does not exist) */
static int remove_tree(const char *dir)
{
    struct stat st;
    if (lstat(dir, &st) != 0) return errno == ENOENT ? 0 : -1;
    return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* the folder tmp, written whole, synced and renamed to dir (an earlier dir removed first) */
static int commit_folder(const char *tmp, const char *dir, ua_err *err)
{
    int fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs(fd) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return ua_fail(err, "%s: cannot sync: %s", tmp, strerror(e));
    }
    close(fd);
    char *old = ua_malloc(strlen(dir) + 32, err);
    if (!old) return -1;
    sprintf(old, "%s.old.%ld", dir, (long)getpid());
    struct stat st;
    int rc = 0;
    if (lstat(dir, &st) == 0 && rename(dir, old) != 0)
        rc = ua_fail(err, "%s: cannot move the earlier thumbnails away: %s", dir, strerror(errno));
    if (!rc && rename(tmp, dir) != 0) rc = ua_fail(err, "%s: cannot rename %s to it: %s", dir, tmp, strerror(errno));
    if (!rc && remove_tree(old) != 0) rc = ua_fail(err, "%s: cannot remove the earlier thumbnails: %s", old, strerror(errno));
    free(old);
    return rc;
}

/* ---- a split's pictures ---------------------------------------------------------------- */

#define PICTURE_CHUNK 256   /* images laid out together, then drawn in parallel */

typedef struct picture_job {
    ua_synth_picture p;
    float boxes[UA_SYNTH_REGIONS * 4], centre[2 * UA_SYNTH_MAX_CONCEPTS];
    int failed;
    ua_err err;
} picture_job;

int ua_synth_pictures_write(const ua_synth_config *cfg, ua_synth_split split, long n, ua_synth_picture_fn picture_of,
                            void *ctx, const char *dir, ua_err *err)
{
    if (!cfg->pictures || n <= 0 || (split != UA_SYNTH_DEV && split != UA_SYNTH_TEST)) return 0;
    const int thumbs = ua_plot_available();
    int rc = -1, made_tmp = 0;
    ua_npy_writer boxes_file = {0};
    ua_atomic_file names = {0};
    char *boxes_path = ua_synth_split_file(dir, split, "_boxes.npy", err);
    char *images_dir = boxes_path ? ua_synth_split_file(dir, split, "_images", err) : NULL;
    char *names_path = images_dir ? ua_synth_split_file(dir, split, "_image_names.txt", err) : NULL;
    char *tmp = names_path ? ua_malloc(strlen(images_dir) + 32, err) : NULL;
    picture_job *chunk = tmp ? ua_malloc(PICTURE_CHUNK * sizeof *chunk, err) : NULL;
    if (!chunk || strlen(images_dir) > 4000) {
        if (chunk) ua_fail(err, "%s: a folder name too long", images_dir);
        ua_fail_prefix(err, "synth");
        goto out;
    }
    sprintf(tmp, "%s.tmp.%ld", images_dir, (long)getpid());
    const int64_t shape[3] = {n, UA_SYNTH_REGIONS, 4};
    if (ua_npy_writer_open(&boxes_file, boxes_path, 3, shape, err)) goto out;
    if (thumbs) {
        if (remove_tree(tmp) != 0 || mkdir(tmp, 0755) != 0) {
            ua_fail(err, "%s: cannot make the thumbnails' folder: %s", tmp, strerror(errno));
            goto out;
        }
        made_tmp = 1;
        if (ua_atomic_open(&names, names_path, err)) goto out;
    }
    for (long start = 0; start < n; start += PICTURE_CHUNK) {
        const int m = (int)(n - start < PICTURE_CHUNK ? n - start : PICTURE_CHUNK);
        for (int i = 0; i < m; i++) {
            if (picture_of(ctx, start + i, &chunk[i].p, err)) goto out;
            gen_boxes(cfg, &chunk[i].p, chunk[i].boxes, chunk[i].centre);
        }
        for (int i = 0; i < m; i++)
            if (ua_npy_writer_append(&boxes_file, chunk[i].boxes, UA_SYNTH_REGIONS * 4, err)) goto out;
        if (!thumbs) continue;
        /* the thumbnails in parallel (cairo draws separate surfaces from any thread); the first
         * failure, in image order, is the one reported */
        int failed = -1;
        #pragma omp parallel for schedule(dynamic, 4)
        for (int i = 0; i < m; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%06ld.png", tmp, start + i);
            chunk[i].failed = draw_thumbnail(path, &chunk[i].p, chunk[i].boxes, chunk[i].centre, &chunk[i].err) != 0;
        }
        for (int i = 0; i < m && failed < 0; i++)
            if (chunk[i].failed) failed = i;
        if (failed >= 0) {
            *err = chunk[failed].err;
            goto out;
        }
        for (int i = 0; i < m; i++) fprintf(names.fp, "%06ld.png\n", start + i);
    }
    if (ua_npy_writer_commit(&boxes_file, err)) goto out;
    if (thumbs && commit_folder(tmp, images_dir, err)) goto out;
    made_tmp = 0;
    if (thumbs && ua_atomic_commit(&names, err)) goto out;
    rc = 0;
out:
    if (made_tmp) remove_tree(tmp);
    ua_npy_writer_abort(&boxes_file);
    ua_atomic_abort(&names);
    free(chunk);
    free(tmp);
    free(names_path);
    free(images_dir);
    free(boxes_path);
    return rc;
}

void ua_synth_pictures_readme(FILE *o, const ua_synth_config *cfg)
{
    if (!cfg->pictures) return;
    fprintf(o, "\nPictures (dev and test): <split>_boxes.npy (float32 [images, %d, 4]: each region's box x0, y0,\n"
               "x1, y1 in the unit square, y down)%s.\n",
            UA_SYNTH_REGIONS,
            ua_plot_available() ? ", <split>_images/NNNNNN.png (thumbnails) and <split>_image_names.txt\n(their names, "
                                  "one per image: uarda serve --image-names)"
                                : " (no thumbnails: uarda was built without cairo)");
}
