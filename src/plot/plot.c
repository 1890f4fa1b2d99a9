/* Pictures with cairo (see include/uarda/plot.h): a small drawing kit (page, text, ticks, axes,
 * legends) and the three figure kinds built on it. Every length is in points; PNG pages are
 * scaled by UA_PLOT_PNG_SCALE. */
#include "uarda/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "uarda/atomic.h"

#ifdef UARDA_HAVE_CAIRO
#include <cairo-svg.h>
#include <cairo.h>
#endif

int ua_plot_available(void)
{
#ifdef UARDA_HAVE_CAIRO
    return 1;
#else
    return 0;
#endif
}

const char *ua_plot_format(const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return NULL;
    if (strcasecmp(dot, ".png") == 0) return "png";
    if (strcasecmp(dot, ".svg") == 0) return "svg";
    return NULL;
}

static int page_px(double pts, int png) { return (int)lround(png ? pts * UA_PLOT_PNG_SCALE : pts); }

void ua_plot_hist_size(int *w, int *h, int png)
{
    *w = page_px(UA_PLOT_HIST_W, png);
    *h = page_px(UA_PLOT_HIST_H, png);
}

void ua_plot_curves_size(int n_panels, int *w, int *h, int png)
{
    *w = page_px(UA_PLOT_CURVES_W, png);
    *h = page_px((double)n_panels * UA_PLOT_CURVES_PANEL_H + UA_PLOT_CURVES_EXTRA_H, png);
}

/* heatmap layout, shared by the size function and the drawing */
typedef struct hm_layout {
    double top, left, label_w, grid_w, grid_h, notes_w, cbar_x, cbar_h, bottom, w, h;
} hm_layout;

static hm_layout hm_layout_of(int rows, int cols, const ua_plot_heatmap_opts *o)
{
    hm_layout l;
    l.top = 78;
    l.label_w = 112;
    l.left = 34 + l.label_w;
    l.grid_w = (double)cols * UA_PLOT_CELL;
    l.grid_h = (double)rows * UA_PLOT_CELL;
    l.notes_w = o && o->row_notes ? 58 : 0;
    l.cbar_x = l.left + l.grid_w + l.notes_w + 26;
    l.cbar_h = l.grid_h < 140 ? 140 : l.grid_h;
    l.bottom = 64 + (o && o->row_off ? 26 : 0);
    l.w = l.cbar_x + 16 + 96;
    if (l.w < 600) l.w = 600;
    l.h = l.top + l.cbar_h + l.bottom;
    return l;
}

void ua_plot_heatmap_size(int rows, int cols, const ua_plot_heatmap_opts *opts, int *w, int *h, int png)
{
    hm_layout l = hm_layout_of(rows, cols, opts);
    *w = page_px(l.w, png);
    *h = page_px(l.h, png);
}

static int check_path(const char *path, ua_err *err)
{
    if (!path || !*path) return ua_fail(err, "no output file given for the picture");
    if (!ua_plot_format(path))
        return ua_fail(err, "%s: unknown picture format: the file name must end in .png or .svg", path);
#ifndef UARDA_HAVE_CAIRO
    return ua_fail(err, "%s: uarda was built without cairo, so it cannot draw pictures (install the cairo "
                   "development package, e.g. libcairo2-dev, and rebuild)", path);
#else
    return 0;
#endif
}

/* the input of ua_plot_regions */
static int check_regions(const char *path, int size, const ua_plot_region *regions, int n, const ua_plot_label *labels,
                         int n_labels, ua_err *err)
{
    if (size < 16 || size > 1024) return ua_fail(err, "%s: a picture of regions of %d pixels (16..1024)", path, size);
    if (n < 0 || n_labels < 0 || (n > 0 && !regions) || (n_labels > 0 && !labels))
        return ua_fail(err, "%s: %d regions and %d labels", path, n, n_labels);
    for (int i = 0; i < n; i++) {
        const float *b = regions[i].box;
        if (!isfinite(b[0]) || !isfinite(b[1]) || !isfinite(b[2]) || !isfinite(b[3]) || b[2] < b[0] || b[3] < b[1])
            return ua_fail(err, "%s: region %d: the box (%g, %g, %g, %g) is not x0 <= x1, y0 <= y1", path, i, b[0], b[1],
                           b[2], b[3]);
    }
    for (int j = 0; j < n_labels; j++)
        if (!labels[j].text || !isfinite(labels[j].x) || !isfinite(labels[j].y))
            return ua_fail(err, "%s: label %d has no text or no place", path, j);
    return 0;
}

#ifndef UARDA_HAVE_CAIRO

int ua_plot_regions(const char *path, int size, const ua_plot_region *regions, int n, const ua_plot_label *labels,
                    int n_labels, ua_err *err)
{
    if (check_regions(path ? path : "", size, regions, n, labels, n_labels, err)) return -1;
    return check_path(path, err);
}

int ua_plot_regions_png(int size, const ua_plot_region *regions, int n, const ua_plot_label *labels, int n_labels,
                        unsigned char **png, size_t *len, ua_err *err)
{
    *png = NULL;
    *len = 0;
    return ua_plot_regions("regions.png", size, regions, n, labels, n_labels, err);
}

int ua_plot_histograms(const char *path, const float *pos, int n_pos, const float *neg, int n_neg,
                       const char *const *labels, double t_tr, double t_te, const double *mix, const char *title,
                       ua_plot_texts *texts, ua_err *err)
{
    return check_path(path, err);
}

int ua_plot_curves(const char *path, const char *title, const char *xlabel, int x_integer,
                   const ua_plot_panel *panels, int n_panels, ua_err *err)
{
    return check_path(path, err);
}

int ua_plot_heatmap_ex(const char *path, const float *values, int rows, int cols, const char *const *row_labels,
                       const char *title, const ua_plot_heatmap_opts *opts, ua_err *err)
{
    return check_path(path, err);
}

#else /* UARDA_HAVE_CAIRO */

/* fontconfig (under cairo's toy text API) keeps a few patterns it never frees; LeakSanitizer
 * reads this hook in sanitizer builds (it is an unused function otherwise) */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libfontconfig.so\n"; }
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }

/* ---- page ------------------------------------------------------------------------------ */

typedef struct membuf {
    unsigned char *data;
    size_t len, cap;
    int oom;
} membuf;

static cairo_status_t membuf_write(void *closure, const unsigned char *data, unsigned int length)
{
    membuf *b = closure;
    if (b->len + length > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + length) cap *= 2;
        unsigned char *p = realloc(b->data, cap);
        if (!p) { b->oom = 1; return CAIRO_STATUS_WRITE_ERROR; }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, length);
    b->len += length;
    return CAIRO_STATUS_SUCCESS;
}

typedef struct page {
    cairo_surface_t *surface;
    cairo_t *cr;
    int png;
    double w, h;
    membuf svg;
} page;

static int page_begin(page *pg, const char *path, double w, double h, ua_err *err)
{
    memset(pg, 0, sizeof *pg);
    if (check_path(path, err)) return -1;
    pg->png = strcmp(ua_plot_format(path), "png") == 0;
    pg->w = w;
    pg->h = h;
    if (pg->png)
        pg->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, page_px(w, 1), page_px(h, 1));
    else
        pg->surface = cairo_svg_surface_create_for_stream(membuf_write, &pg->svg, w, h);
    if (cairo_surface_status(pg->surface) != CAIRO_STATUS_SUCCESS) {
        ua_fail(err, "%s: cannot make a %.0f x %.0f picture: %s", path, w, h,
                cairo_status_to_string(cairo_surface_status(pg->surface)));
        cairo_surface_destroy(pg->surface);
        return -1;
    }
    pg->cr = cairo_create(pg->surface);
    if (pg->png) cairo_scale(pg->cr, UA_PLOT_PNG_SCALE, UA_PLOT_PNG_SCALE);
    cairo_set_source_rgb(pg->cr, 1, 1, 1);
    cairo_paint(pg->cr);
    cairo_select_font_face(pg->cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    return 0;
}

static void page_abort(page *pg)
{
    if (pg->cr) cairo_destroy(pg->cr);
    if (pg->surface) cairo_surface_destroy(pg->surface);
    free(pg->svg.data);
    memset(pg, 0, sizeof *pg);
}

/* the picture's bytes (malloc'ed into *data, *len), the page closed */
static int page_bytes(page *pg, const char *path, unsigned char **data, size_t *len, ua_err *err)
{
    int rc = -1;
    membuf out = {0};
    *data = NULL;
    *len = 0;
    cairo_status_t st = cairo_status(pg->cr);
    if (st != CAIRO_STATUS_SUCCESS) {
        ua_fail(err, "%s: drawing failed: %s", path, cairo_status_to_string(st));
        goto done;
    }
    cairo_destroy(pg->cr);
    pg->cr = NULL;
    membuf *bytes = &out;
    if (pg->png) {
        st = cairo_surface_write_to_png_stream(pg->surface, membuf_write, &out);
    } else {
        cairo_surface_finish(pg->surface);
        st = cairo_surface_status(pg->surface);
        bytes = &pg->svg;
    }
    if (st != CAIRO_STATUS_SUCCESS || bytes->oom) {
        ua_fail(err, "%s: cannot encode the picture: %s", path,
                bytes->oom ? "out of memory" : cairo_status_to_string(st));
        goto done;
    }
    *data = bytes->data;
    *len = bytes->len;
    bytes->data = NULL;   /* the caller's now */
    rc = 0;
done:
    free(out.data);
    page_abort(pg);
    return rc;
}

static int page_end(page *pg, const char *path, ua_err *err)
{
    unsigned char *data;
    size_t len;
    if (page_bytes(pg, path, &data, &len, err)) return -1;
    int rc = ua_mkdir_parent(path, err) || ua_write_file_atomic(path, data, len, err) ? -1 : 0;
    free(data);
    return rc;
}

/* ---- text ------------------------------------------------------------------------------ */

static const double INK[3] = {0.13, 0.13, 0.15};      /* titles, labels */
static const double SOFT_INK[3] = {0.30, 0.30, 0.33}; /* tick labels, subtitles */

static void set_rgb(cairo_t *cr, const double *c) { cairo_set_source_rgb(cr, c[0], c[1], c[2]); }

static void font(cairo_t *cr, double size, int bold)
{
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_w(cairo_t *cr, const char *s, double size, int bold)
{
    font(cr, size, bold);
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    return te.x_advance;
}

/* Draws s with its anchor at (x, y): ax = 0 / 0.5 / 1 puts the anchor at the left / centre /
 * right end, ay = 0 / 0.5 / 1 at the top / middle / bottom of the line; angle in radians. */
static void text(cairo_t *cr, double x, double y, const char *s, double size, int bold, double ax, double ay,
                 double angle)
{
    font(cr, size, bold);
    cairo_text_extents_t te;
    cairo_font_extents_t fe;
    cairo_text_extents(cr, s, &te);
    cairo_font_extents(cr, &fe);
    /* DejaVu's ascent leaves room for accents: centre on the x-height band instead */
    double asc = fe.ascent * 0.82, desc = fe.descent * 0.6;
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    cairo_move_to(cr, -ax * te.x_advance, asc - ay * (asc + desc));
    cairo_show_text(cr, s);
    cairo_new_path(cr);
    cairo_restore(cr);
}

/* records s among the picture's texts (t NULL: not wanted) */
static void note(ua_plot_texts *t, const char *s)
{
    if (!t || !s || !*s) return;
    if (t->n < UA_PLOT_TEXTS_MAX) snprintf(t->text[t->n], sizeof t->text[t->n], "%s", s);
    t->n++;
}

static void texts_reset(ua_plot_texts *t)
{
    if (t) memset(t, 0, sizeof *t);
}

/* title (bold), with a smaller subtitle for the part after the first '\n' */
static void title_block(cairo_t *cr, double cx, double y, const char *title, ua_plot_texts *texts)
{
    if (!title || !*title) return;
    const char *nl = strchr(title, '\n');
    char first[512];
    size_t n = nl ? (size_t)(nl - title) : strlen(title);
    if (n >= sizeof first) n = sizeof first - 1;
    memcpy(first, title, n);
    first[n] = 0;
    set_rgb(cr, INK);
    text(cr, cx, y, first, 17, 1, 0.5, 0, 0);
    note(texts, first);
    if (nl && nl[1]) {
        set_rgb(cr, SOFT_INK);
        text(cr, cx, y + 24, nl + 1, 11.5, 0, 0.5, 0, 0);
        note(texts, nl + 1);
    }
}

/* ---- numbers and ticks ----------------------------------------------------------------- */

static double nice_step(double range, int target, int integer)
{
    if (!(range > 0)) range = 1;
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    double nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    double step = nf * mag;
    if (integer && step < 1) step = 1;
    return step;
}

enum { MAX_TICKS = 32 };

static int ticks_of(double lo, double hi, double step, double *t)
{
    int n = 0;
    double first = ceil(lo / step - 1e-9) * step;
    for (double v = first; v <= hi + step * 1e-9 && n < MAX_TICKS; v = first + n * step) t[n++] = v;
    return n;
}

static int decimals_of(double step)
{
    int d = (int)-floor(log10(step) + 1e-9);
    return d < 0 ? 0 : d > 6 ? 6 : d;
}

/* "%.*f" with a true minus sign and no "-0" */
static void fmt_num(char *buf, size_t cap, double v, int dec)
{
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.*f", dec, v);
    int neg = tmp[0] == '-', zero = 1;
    for (const char *p = tmp + neg; *p; p++)
        if (*p >= '1' && *p <= '9') zero = 0;
    if (neg && !zero) snprintf(buf, cap, "\xe2\x88\x92%s", tmp + 1);
    else snprintf(buf, cap, "%s", tmp + neg);
}

/* ---- axes ------------------------------------------------------------------------------ */

typedef struct axes {
    double x, y, w, h;                  /* plot area (points, y down) */
    double xmin, xmax, ymin, ymax;      /* data range */
} axes;

static double ax_x(const axes *a, double v) { return a->x + (v - a->xmin) / (a->xmax - a->xmin) * a->w; }
static double ax_y(const axes *a, double v) { return a->y + a->h - (v - a->ymin) / (a->ymax - a->ymin) * a->h; }

static void clip_to(cairo_t *cr, const axes *a)
{
    cairo_save(cr);
    cairo_rectangle(cr, a->x, a->y, a->w, a->h);
    cairo_clip(cr);
}

/* grid, frame, ticks, tick labels and axis labels (xlabel NULL: no x tick labels either) */
static void draw_axes(cairo_t *cr, const axes *a, int x_integer, int x_tick_labels, const char *xlabel,
                      const char *ylabel, ua_plot_texts *texts)
{
    double xt[MAX_TICKS], yt[MAX_TICKS];
    double xs = nice_step(a->xmax - a->xmin, 8, x_integer), ys = nice_step(a->ymax - a->ymin, 5, 0);
    int nx = ticks_of(a->xmin, a->xmax, xs, xt), ny = ticks_of(a->ymin, a->ymax, ys, yt);
    /* grid */
    cairo_set_line_width(cr, 0.8);
    cairo_set_source_rgb(cr, 0.90, 0.90, 0.92);
    for (int i = 0; i < nx; i++) {
        double x = round(ax_x(a, xt[i])) + 0.5;
        cairo_move_to(cr, x, a->y);
        cairo_line_to(cr, x, a->y + a->h);
    }
    for (int i = 0; i < ny; i++) {
        double y = round(ax_y(a, yt[i])) + 0.5;
        cairo_move_to(cr, a->x, y);
        cairo_line_to(cr, a->x + a->w, y);
    }
    cairo_stroke(cr);
    /* frame and ticks */
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.38);
    cairo_set_line_width(cr, 1.0);
    cairo_rectangle(cr, a->x, a->y, a->w, a->h);
    for (int i = 0; i < nx; i++) {
        cairo_move_to(cr, ax_x(a, xt[i]), a->y + a->h);
        cairo_line_to(cr, ax_x(a, xt[i]), a->y + a->h + 4);
    }
    for (int i = 0; i < ny; i++) {
        cairo_move_to(cr, a->x - 4, ax_y(a, yt[i]));
        cairo_line_to(cr, a->x, ax_y(a, yt[i]));
    }
    cairo_stroke(cr);
    char buf[64];
    set_rgb(cr, SOFT_INK);
    if (x_tick_labels) {
        int dec = x_integer ? 0 : decimals_of(xs);
        for (int i = 0; i < nx; i++) {
            fmt_num(buf, sizeof buf, xt[i], dec);
            text(cr, ax_x(a, xt[i]), a->y + a->h + 8, buf, 11, 0, 0.5, 0, 0);
        }
    }
    double maxw = 0;
    int ydec = decimals_of(ys);
    for (int i = 0; i < ny; i++) {
        fmt_num(buf, sizeof buf, yt[i], ydec);
        double w = text_w(cr, buf, 11, 0);
        if (w > maxw) maxw = w;
        text(cr, a->x - 8, ax_y(a, yt[i]), buf, 11, 0, 1, 0.5, 0);
    }
    set_rgb(cr, INK);
    if (xlabel) text(cr, a->x + a->w / 2, a->y + a->h + 30, xlabel, 12.5, 0, 0.5, 0, 0);
    if (ylabel) text(cr, a->x - maxw - 18, a->y + a->h / 2, ylabel, 12.5, 0, 0.5, 1, -M_PI / 2);
    note(texts, xlabel);
    note(texts, ylabel);
}

/* ---- colours, lines, legends ----------------------------------------------------------- */

static const double PALETTE[8][3] = {
    {0.122, 0.467, 0.706}, {0.945, 0.490, 0.110}, {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157},
    {0.490, 0.310, 0.690}, {0.549, 0.337, 0.294}, {0.890, 0.467, 0.761}, {0.45, 0.45, 0.45},
};

static void set_style(cairo_t *cr, ua_line_style style, double lw)
{
    cairo_set_line_width(cr, lw);
    if (style == UA_LINE_DASHED) {
        double d[2] = {6, 4};
        cairo_set_dash(cr, d, 2, 0);
    } else if (style == UA_LINE_DOTTED) {
        double d[2] = {1.5, 3};
        cairo_set_dash(cr, d, 2, 0);
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    } else {
        cairo_set_dash(cr, NULL, 0, 0);
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    }
}

static void marker(cairo_t *cr, double x, double y, const double *c)
{
    cairo_set_dash(cr, NULL, 0, 0);
    cairo_new_sub_path(cr);
    cairo_arc(cr, x, y, 3.6, 0, 2 * M_PI);
    set_rgb(cr, c);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_set_line_width(cr, 1.0);
    cairo_stroke(cr);
}

enum { SW_BOX, SW_LINE, SW_LINE_MARKER, SW_HATCH };

typedef struct legend_item {
    char text[192];
    int swatch;
    double rgb[3];
    ua_line_style style;
    double lw;
} legend_item;

#define LEG_FONT 10.5
enum { LEG_ROW = 17, LEG_PAD = 8, LEG_SW = 26 };

static void legend_size(cairo_t *cr, const legend_item *it, int n, double *w, double *h)
{
    double m = 0;
    for (int i = 0; i < n; i++) {
        double tw = text_w(cr, it[i].text, LEG_FONT, 0);
        if (tw > m) m = tw;
    }
    *w = 2 * LEG_PAD + LEG_SW + 6 + m;
    *h = 2 * LEG_PAD - 4 + (double)n * LEG_ROW;
}

static void hatch_rect(cairo_t *cr, double x, double y, double w, double h)
{
    cairo_save(cr);
    cairo_rectangle(cr, x, y, w, h);
    cairo_set_source_rgb(cr, 0.89, 0.89, 0.90);
    cairo_fill_preserve(cr);
    cairo_clip(cr);
    cairo_set_source_rgb(cr, 0.62, 0.62, 0.65);
    cairo_set_line_width(cr, 1.0);
    cairo_set_dash(cr, NULL, 0, 0);
    for (double d = -h; d < w + h; d += 5) {
        cairo_move_to(cr, x + d, y + h);
        cairo_line_to(cr, x + d + h, y);
    }
    cairo_stroke(cr);
    cairo_restore(cr);
}

static void draw_legend(cairo_t *cr, double x, double y, const legend_item *it, int n, ua_plot_texts *texts)
{
    double w, h;
    legend_size(cr, it, n, &w, &h);
    cairo_rectangle(cr, x + 0.5, y + 0.5, w, h);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.92);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.80, 0.80, 0.83);
    cairo_set_line_width(cr, 0.8);
    cairo_set_dash(cr, NULL, 0, 0);
    cairo_stroke(cr);
    for (int i = 0; i < n; i++) {
        double cy = y + LEG_PAD + 6 + (double)i * LEG_ROW, sx = x + LEG_PAD;
        const legend_item *e = &it[i];
        if (e->swatch == SW_BOX) {
            cairo_rectangle(cr, sx + 2, cy - 5.5, LEG_SW - 4, 11);
            cairo_set_source_rgba(cr, e->rgb[0], e->rgb[1], e->rgb[2], 0.38);
            cairo_fill_preserve(cr);
            set_rgb(cr, e->rgb);
            cairo_set_line_width(cr, 1.2);
            cairo_stroke(cr);
        } else if (e->swatch == SW_HATCH) {
            hatch_rect(cr, sx + 2, cy - 5.5, LEG_SW - 4, 11);
        } else {
            set_rgb(cr, e->rgb);
            set_style(cr, e->style, e->lw);
            cairo_move_to(cr, sx, cy);
            cairo_line_to(cr, sx + LEG_SW, cy);
            cairo_stroke(cr);
            set_style(cr, UA_LINE_SOLID, 1);
            if (e->swatch == SW_LINE_MARKER) marker(cr, sx + LEG_SW / 2.0, cy, e->rgb);
        }
        set_rgb(cr, INK);
        text(cr, sx + LEG_SW + 6, cy, e->text, LEG_FONT, 0, 0, 0.5, 0);
        note(texts, e->text);
    }
}

/* ---- histograms ------------------------------------------------------------------------ */

typedef struct stats {
    int n;
    double mean, sd, lo, hi;
} stats;

static stats stats_of(const float *v, int n)
{
    stats s = {n, 0, 0, INFINITY, -INFINITY};
    double sum = 0, sq = 0;
    for (int i = 0; i < n; i++) {
        sum += v[i];
        if (v[i] < s.lo) s.lo = v[i];
        if (v[i] > s.hi) s.hi = v[i];
    }
    if (n > 0) s.mean = sum / n;
    for (int i = 0; i < n; i++) sq += (v[i] - s.mean) * (v[i] - s.mean);
    s.sd = n > 1 ? sqrt(sq / (n - 1)) : 0;
    return s;
}

static double gauss_pdf(double x, double mu, double sd)
{
    double z = (x - mu) / sd;
    return exp(-0.5 * z * z) / (sd * sqrt(2 * M_PI));
}

/* max of the histograms and fits over [x0, x1] (data units) */
static double hist_peak(const double *dens[2], const stats st[2], int nb, double lo, double bw, double x0,
                        double x1)
{
    double m = 0;
    for (int g = 0; g < 2; g++) {
        if (st[g].n == 0) continue;
        for (int b = 0; b < nb; b++) {
            double b0 = lo + b * bw, b1 = b0 + bw;
            if (b1 >= x0 && b0 <= x1 && dens[g][b] > m) m = dens[g][b];
        }
        if (st[g].n > 1 && st[g].sd > 0) {
            double xm = st[g].mean < x0 ? x0 : st[g].mean > x1 ? x1 : st[g].mean;
            double p = gauss_pdf(xm, st[g].mean, st[g].sd);
            if (p > m) m = p;
        }
    }
    return m;
}

static const double TH_RGB[2][3] = {{0.80, 0.10, 0.12}, {0.42, 0.16, 0.62}};
static const double SCAN_RGB[3] = {0.15, 0.15, 0.15};

/* the histograms' legend: the two groups, the fits, the mixture's component, the thresholds */
static int hist_legend(legend_item it[6], const stats st[2], const char *const *labels, const double *mix,
                       const double th[2], int scan)
{
    int n_it = 0;
    const char *def[2] = {"relevant", "irrelevant"};
    for (int g = 0; g < 2; g++) {
        if (!st[g].n) continue;
        legend_item *e = &it[n_it++];
        memset(e, 0, sizeof *e);
        snprintf(e->text, sizeof e->text, "%s:  n = %d,  \xce\xbc = %.3f,  \xcf\x83 = %.3f",
                 labels && labels[g] ? labels[g] : def[g], st[g].n, st[g].mean, st[g].sd);
        e->swatch = SW_BOX;
        memcpy(e->rgb, PALETTE[g], sizeof e->rgb);
    }
    if ((st[0].n > 1 && st[0].sd > 0) || (st[1].n > 1 && st[1].sd > 0)) {
        legend_item *e = &it[n_it++];
        memset(e, 0, sizeof *e);
        if (mix)
            snprintf(e->text, sizeof e->text, "fits: N(\xce\xbc, \xcf\x83\xc2\xb2); %s: w N(\xce\xbc+, \xcf\x83+\xc2\xb2) + "
                     "(1\xe2\x88\x92w) N(\xce\xbc\xe2\x88\x92, \xcf\x83\xe2\x88\x92\xc2\xb2)", "relevant");
        else
            snprintf(e->text, sizeof e->text, "Gaussian fits N(\xce\xbc, \xcf\x83\xc2\xb2)");
        e->swatch = SW_LINE;
        e->rgb[0] = e->rgb[1] = e->rgb[2] = 0.35;
        e->style = UA_LINE_DASHED;
        e->lw = 1.4;
    }
    if (mix) {
        legend_item *e = &it[n_it++];
        memset(e, 0, sizeof *e);
        snprintf(e->text, sizeof e->text, "relevant component: w = %.2f, \xce\xbc+ = %.3f, \xcf\x83+ = %.3f", mix[0], mix[1],
                 mix[2]);
        e->swatch = SW_LINE;
        memcpy(e->rgb, PALETTE[0], sizeof e->rgb);
        e->style = UA_LINE_DOTTED;
        e->lw = 2.0;
    }
    for (int k = 0; k < 2; k++) {
        if (!isfinite(th[k])) continue;
        legend_item *e = &it[n_it++];
        memset(e, 0, sizeof *e);
        if (scan)
            snprintf(e->text, sizeof e->text, "t = 0: SCAN's fixed threshold (no learned relevance)");
        else
            snprintf(e->text, sizeof e->text, k == 0 ? "t_tr = %.3f (training threshold)" : "t_te = %.3f (test threshold)",
                     th[k]);
        e->swatch = SW_LINE;
        memcpy(e->rgb, scan ? SCAN_RGB : TH_RGB[k], sizeof e->rgb);
        e->style = k == 0 && !scan ? UA_LINE_SOLID : UA_LINE_DASHED;
        e->lw = 2.0;
    }
    return n_it;
}

/* Gaussian fits (pos: the mixture when given, and its relevant component dotted) */
static void draw_fits(cairo_t *cr, const axes *ap, const stats st[2], const double *mix)
{
    const axes a = *ap;
    for (int g = 0; g < 2 + (mix != NULL); g++) {
        const int grp = g == 2 ? 0 : g;
        if (g < 2 && (st[g].n < 2 || !(st[g].sd > 0))) continue;
        for (int i = 0; i <= 300; i++) {
            double x = a.xmin + (a.xmax - a.xmin) * i / 300.0, d;
            if (g == 2) d = mix[0] * gauss_pdf(x, mix[1], mix[2]);
            else if (g == 0 && mix) d = mix[0] * gauss_pdf(x, mix[1], mix[2]) + (1 - mix[0]) * gauss_pdf(x, st[1].mean, st[1].sd);
            else d = gauss_pdf(x, st[g].mean, st[g].sd);
            double y = ax_y(&a, d);
            if (i == 0) cairo_move_to(cr, ax_x(&a, x), y);
            else cairo_line_to(cr, ax_x(&a, x), y);
        }
        cairo_set_source_rgb(cr, PALETTE[grp][0] * 0.7, PALETTE[grp][1] * 0.7, PALETTE[grp][2] * 0.7);
        set_style(cr, g == 2 ? UA_LINE_DOTTED : UA_LINE_DASHED, g == 2 ? 2.0 : 1.4);
        cairo_stroke(cr);
    }
}

/* thresholds, with a short name at the top of each line, on the side away from the legend */
static void draw_thresholds(cairo_t *cr, const axes *ap, const double th[2], int scan, int right, ua_plot_texts *texts)
{
    const axes a = *ap;
    int near = isfinite(th[0]) && isfinite(th[1]) && fabs(ax_x(&a, th[0]) - ax_x(&a, th[1])) < 40;
    for (int k = 0; k < 2; k++) {
        if (!isfinite(th[k])) continue;
        const double *c = scan ? SCAN_RGB : TH_RGB[k];
        double x = ax_x(&a, th[k]);
        set_rgb(cr, c);
        set_style(cr, k == 0 && !scan ? UA_LINE_SOLID : UA_LINE_DASHED, 2.0);
        cairo_move_to(cr, x, a.y);
        cairo_line_to(cr, x, a.y + a.h);
        cairo_stroke(cr);
        const char *name = scan ? "t = 0" : k == 0 ? "t_tr" : "t_te";
        double ty = a.y + a.h - 18 - (near && k == 1 ? 16 : 0);
        /* put the name on the side away from the legend, if it fits there */
        double tw = text_w(cr, name, 10.5, 1);
        int left_side = right ? 1 : 0;
        if (left_side && x - tw - 8 < a.x) left_side = 0;
        else if (!left_side && x + tw + 8 > a.x + a.w) left_side = 1;
        cairo_rectangle(cr, left_side ? x - tw - 8 : x + 3, ty - 7, tw + 5, 14);
        cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
        cairo_fill(cr);
        set_rgb(cr, c);
        text(cr, left_side ? x - 5 : x + 5, ty, name, 10.5, 1, left_side ? 1 : 0, 0.5, 0);
        note(texts, name);
    }
}

int ua_plot_histograms(const char *path, const float *pos, int n_pos, const float *neg, int n_neg,
                       const char *const *labels, double t_tr, double t_te, const double *mix, const char *title,
                       ua_plot_texts *texts, ua_err *err)
{
    texts_reset(texts);
    if (check_path(path, err)) return -1;
    if (n_pos < 0 || n_neg < 0 || n_pos + n_neg < 1 || (n_pos && !pos) || (n_neg && !neg))
        return ua_fail(err, "%s: no similarity samples to draw", path);
    const float *vals[2] = {pos, neg};
    stats st[2] = {stats_of(pos, n_pos), stats_of(neg, n_neg)};
    for (int g = 0; g < 2; g++)
        if (st[g].n > 0 && (!isfinite(st[g].mean) || !isfinite(st[g].lo) || !isfinite(st[g].hi)))
            return ua_fail(err, "%s: the %s samples contain non-finite values", path, g ? "second" : "first");
    int scan = isnan(t_tr) && isnan(t_te);
    double th[2] = {scan ? 0.0 : t_tr, scan ? NAN : t_te};
    /* the mixture fit of pos needs neg's Gaussian and a usable component */
    if (mix && !(st[1].n > 1 && st[1].sd > 0 && mix[0] > 0 && mix[0] <= 1 && mix[2] > 0 && isfinite(mix[1]))) mix = NULL;
    /* data range and bins */
    double lo = INFINITY, hi = -INFINITY;
    for (int g = 0; g < 2; g++)
        if (st[g].n) {
            if (st[g].lo < lo) lo = st[g].lo;
            if (st[g].hi > hi) hi = st[g].hi;
        }
    if (hi - lo < 1e-6) { lo -= 0.05; hi += 0.05; }
    int n_max = n_pos > n_neg ? n_pos : n_neg;
    int nb = (int)(2.0 * cbrt((double)n_max));
    nb = nb < 12 ? 12 : nb > 80 ? 80 : nb;
    double bw = (hi - lo) / nb;
    double *dbuf = calloc(2 * (size_t)nb, sizeof(double));
    if (!dbuf) return ua_fail(err, "%s: out of memory", path);
    const double *dens[2] = {dbuf, dbuf + nb};
    for (int g = 0; g < 2; g++) {
        for (int i = 0; i < st[g].n; i++) {
            int b = (int)((vals[g][i] - lo) / bw);
            dbuf[g * nb + (b < 0 ? 0 : b >= nb ? nb - 1 : b)] += 1;
        }
        for (int b = 0; b < nb && st[g].n; b++) dbuf[g * nb + b] /= st[g].n * bw;
    }
    /* x range: data and thresholds, padded */
    double xlo = lo, xhi = hi;
    for (int k = 0; k < 2; k++)
        if (isfinite(th[k])) {
            if (th[k] < xlo) xlo = th[k];
            if (th[k] > xhi) xhi = th[k];
        }
    double pad = 0.05 * (xhi - xlo);
    axes a = {92, 76, UA_PLOT_HIST_W - 92 - 28, UA_PLOT_HIST_H - 76 - 70, xlo - pad, xhi + pad, 0, 1};

    page pg;
    if (page_begin(&pg, path, UA_PLOT_HIST_W, UA_PLOT_HIST_H, err)) { free(dbuf); return -1; }
    cairo_t *cr = pg.cr;
    legend_item it[6];
    const int n_it = hist_legend(it, st, labels, mix, th, scan);
    /* legend corner: the top corner with less data under it; the y range leaves it room */
    double lw, lh;
    legend_size(cr, it, n_it, &lw, &lh);
    double span = (lw + 24) / a.w * (a.xmax - a.xmin);
    double peak = hist_peak(dens, st, nb, lo, bw, -INFINITY, INFINITY);
    double under_r = hist_peak(dens, st, nb, lo, bw, a.xmax - span, a.xmax);
    double under_l = hist_peak(dens, st, nb, lo, bw, a.xmin, a.xmin + span);
    int right = under_r <= under_l;
    double under = right ? under_r : under_l, room = 1 - (lh + 20) / a.h;
    a.ymax = peak * 1.08;
    if (room > 0.2 && under / room > a.ymax) a.ymax = under / room;
    if (!(a.ymax > 0)) a.ymax = 1;

    title_block(cr, pg.w / 2, 16, title, texts);
    draw_axes(cr, &a, 0, 1, "word\xe2\x80\x93region similarity: max over the regions of u\xc2\xb7v  (cosine)",
              "probability density  (per unit of similarity)", texts);
    clip_to(cr, &a);
    /* filled step histograms (irrelevant first so relevant reads on top), then both outlines */
    for (int pass = 0; pass < 2; pass++)
        for (int g = 1; g >= 0; g--) {
            if (!st[g].n) continue;
            cairo_move_to(cr, ax_x(&a, lo), ax_y(&a, 0));
            for (int b = 0; b < nb; b++) {
                cairo_line_to(cr, ax_x(&a, lo + b * bw), ax_y(&a, dens[g][b]));
                cairo_line_to(cr, ax_x(&a, lo + (b + 1) * bw), ax_y(&a, dens[g][b]));
            }
            cairo_line_to(cr, ax_x(&a, hi), ax_y(&a, 0));
            if (pass == 0) {
                cairo_close_path(cr);
                cairo_set_source_rgba(cr, PALETTE[g][0], PALETTE[g][1], PALETTE[g][2], 0.32);
                cairo_fill(cr);
            } else {
                cairo_set_source_rgba(cr, PALETTE[g][0], PALETTE[g][1], PALETTE[g][2], 0.95);
                set_style(cr, UA_LINE_SOLID, 1.3);
                cairo_set_line_join(cr, CAIRO_LINE_JOIN_MITER);
                cairo_stroke(cr);
            }
        }
    draw_fits(cr, &a, st, mix);
    draw_thresholds(cr, &a, th, scan, right, texts);
    cairo_restore(cr);
    set_style(cr, UA_LINE_SOLID, 1);
    draw_legend(cr, right ? a.x + a.w - lw - 10 : a.x + 10, a.y + 10, it, n_it, texts);
    free(dbuf);
    return page_end(&pg, path, err);
}

/* ---- curves ---------------------------------------------------------------------------- */

enum { MARKERS_MAX = 24 }; /* series with more points are drawn without markers */

int ua_plot_curves(const char *path, const char *title, const char *xlabel, int x_integer,
                   const ua_plot_panel *panels, int n_panels, ua_err *err)
{
    if (check_path(path, err)) return -1;
    if (n_panels < 1 || n_panels > 4) return ua_fail(err, "%s: %d panels (1 to 4 can be drawn)", path, n_panels);
    double xmin = INFINITY, xmax = -INFINITY;
    for (int p = 0; p < n_panels; p++)
        for (int s = 0; s < panels[p].n_series; s++)
            for (int i = 0; i < panels[p].series[s].n; i++) {
                double x = panels[p].series[s].x[i];
                if (!isfinite(x)) continue;
                if (x < xmin) xmin = x;
                if (x > xmax) xmax = x;
            }
    if (!isfinite(xmin)) return ua_fail(err, "%s: no points to draw", path);
    if (x_integer && xmin > 0) xmin = 0;
    if (xmax - xmin < 1e-9) { xmin -= 0.5; xmax += 0.5; }
    double xpad = 0.04 * (xmax - xmin);
    xmin -= xpad;
    xmax += xpad;

    double W = UA_PLOT_CURVES_W, H = (double)n_panels * UA_PLOT_CURVES_PANEL_H + UA_PLOT_CURVES_EXTRA_H;
    page pg;
    if (page_begin(&pg, path, W, H, err)) return -1;
    cairo_t *cr = pg.cr;
    title_block(cr, W / 2, 16, title, NULL);
    const double top = 70;
    for (int p = 0; p < n_panels; p++) {
        const ua_plot_panel *pn = &panels[p];
        double slot = top + p * UA_PLOT_CURVES_PANEL_H;
        axes a = {92, slot + 26, W - 92 - 28, UA_PLOT_CURVES_PANEL_H - 26 - 22, xmin, xmax, INFINITY, -INFINITY};
        for (int s = 0; s < pn->n_series; s++)
            for (int i = 0; i < pn->series[s].n; i++) {
                double y = pn->series[s].y[i];
                if (!isfinite(y) || !isfinite(pn->series[s].x[i])) continue;
                if (y < a.ymin) a.ymin = y;
                if (y > a.ymax) a.ymax = y;
            }
        if (!isfinite(a.ymin)) { a.ymin = 0; a.ymax = 1; }
        if (a.ymax - a.ymin < 1e-9) {
            double d = fabs(a.ymax) > 1e-6 ? 0.05 * fabs(a.ymax) : 0.5;
            a.ymin -= d;
            a.ymax += d;
        }
        double ypad = 0.1 * (a.ymax - a.ymin);
        int values = 0;
        for (int s = 0; s < pn->n_series; s++) values |= pn->series[s].value_decimals > 0 && pn->series[s].n <= 20;
        a.ymin -= ypad;
        a.ymax += values ? 2 * ypad : ypad;
        /* legend: the corner with the fewest points under it; grow the range if all are crowded */
        legend_item it[16];
        int n_it = 0;
        for (int s = 0; s < pn->n_series && n_it < 16; s++) {
            const ua_plot_series *se = &pn->series[s];
            if (!se->label) continue;
            legend_item *e = &it[n_it++];
            memset(e, 0, sizeof *e);
            snprintf(e->text, sizeof e->text, "%s", se->label);
            e->swatch = se->n <= MARKERS_MAX ? SW_LINE_MARKER : SW_LINE;
            memcpy(e->rgb, PALETTE[(se->color >= 0 ? se->color : s) & 7], sizeof e->rgb);
            e->style = se->style;
            e->lw = 2.0;
        }
        double lw = 0, lh = 0;
        int corner = 1; /* 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right */
        if (n_it) {
            legend_size(cr, it, n_it, &lw, &lh);
            int best = -1;
            for (int pass = 0; pass < 3 && best < 0; pass++) {
                int counts[4] = {0, 0, 0, 0};
                for (int c = 0; c < 4; c++) {
                    double bx0 = c & 1 ? a.x + a.w - lw - 16 : a.x, bx1 = bx0 + lw + 16;
                    double by0 = c & 2 ? a.y + a.h - lh - 16 : a.y, by1 = by0 + lh + 16;
                    for (int s = 0; s < pn->n_series; s++)
                        for (int i = 0; i < pn->series[s].n; i++) {
                            double x = pn->series[s].x[i], y = pn->series[s].y[i];
                            if (!isfinite(x) || !isfinite(y)) continue;
                            double px = ax_x(&a, x), py = ax_y(&a, y);
                            if (px >= bx0 && px <= bx1 && py >= by0 && py <= by1) counts[c]++;
                        }
                }
                static const int order[4] = {1, 0, 3, 2};
                for (int k = 0; k < 4; k++)
                    if (counts[order[k]] == 0) { best = order[k]; break; }
                if (best < 0) a.ymax += 0.35 * (a.ymax - a.ymin); /* make room at the top */
            }
            corner = best < 0 ? 1 : best;
        }
        if (pn->title) {
            set_rgb(cr, INK);
            text(cr, a.x, slot + 10, pn->title, 12.5, 1, 0, 0.5, 0);
        }
        int last = p == n_panels - 1;
        draw_axes(cr, &a, x_integer, last, last ? xlabel : NULL, pn->ylabel, NULL);
        clip_to(cr, &a);
        for (int s = 0; s < pn->n_series; s++) {
            const ua_plot_series *se = &pn->series[s];
            const double *c = PALETTE[(se->color >= 0 ? se->color : s) & 7];
            set_rgb(cr, c);
            set_style(cr, se->style, 2.0);
            cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
            int pen = 0;
            for (int i = 0; i < se->n; i++) {
                if (!isfinite(se->x[i]) || !isfinite(se->y[i])) { pen = 0; continue; }
                if (pen) cairo_line_to(cr, ax_x(&a, se->x[i]), ax_y(&a, se->y[i]));
                else cairo_move_to(cr, ax_x(&a, se->x[i]), ax_y(&a, se->y[i]));
                pen = 1;
            }
            cairo_stroke(cr);
            set_style(cr, UA_LINE_SOLID, 1);
            if (se->n <= MARKERS_MAX)
                for (int i = 0; i < se->n; i++)
                    if (isfinite(se->x[i]) && isfinite(se->y[i])) marker(cr, ax_x(&a, se->x[i]), ax_y(&a, se->y[i]), c);
            if (se->value_decimals > 0 && se->n <= 20) {
                char buf[48];
                for (int i = 0; i < se->n; i++) {
                    if (!isfinite(se->x[i]) || !isfinite(se->y[i])) continue;
                    fmt_num(buf, sizeof buf, se->y[i], se->value_decimals - 1);
                    double px = ax_x(&a, se->x[i]), py = ax_y(&a, se->y[i]);
                    double tw = text_w(cr, buf, 10, 0), ax0 = px + tw / 2 + 4 > a.x + a.w ? 1 : px - tw / 2 - 4 < a.x ? 0 : 0.5;
                    set_rgb(cr, c);
                    text(cr, px + (ax0 == 1 ? 4 : ax0 == 0 ? -4 : 0), py - 8, buf, 10, 1, ax0, 1, 0);
                }
            }
        }
        cairo_restore(cr);
        if (n_it)
            draw_legend(cr, corner & 1 ? a.x + a.w - lw - 8 : a.x + 8, corner & 2 ? a.y + a.h - lh - 8 : a.y + 8, it,
                        n_it, NULL);
    }
    return page_end(&pg, path, err);
}

/* ---- heatmap --------------------------------------------------------------------------- */

/* a perceptually ordered dark-blue -> teal -> green -> yellow ramp (anchor colours chosen by eye) */
static const double RAMP[5][3] = {
    {0.267, 0.005, 0.329}, {0.231, 0.322, 0.545}, {0.129, 0.569, 0.549}, {0.369, 0.788, 0.384}, {0.993, 0.906, 0.144},
};

static void ramp(double t, double *rgb)
{
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double f = t * 4;
    int k = (int)f;
    if (k > 3) k = 3;
    f -= k;
    for (int c = 0; c < 3; c++) rgb[c] = RAMP[k][c] * (1 - f) + RAMP[k + 1][c] * f;
}

/* draws s right-aligned at (x, y) within max_w, shrinking the font and then cutting with an ellipsis */
static void fitted_label(cairo_t *cr, double x, double y, const char *s, double max_w, double size)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    while (size > 8 && text_w(cr, buf, size, 0) > max_w) size -= 0.5;
    size_t n = strlen(buf);
    while (n > 1 && text_w(cr, buf, size, 0) > max_w) {
        n--;
        while (n > 1 && ((unsigned char)buf[n] & 0xC0) == 0x80) n--; /* keep UTF-8 whole */
        snprintf(buf + n, sizeof buf - n, "\xe2\x80\xa6");
    }
    text(cr, x, y, buf, size, 0, 1, 0.5, 0);
}

int ua_plot_heatmap_ex(const char *path, const float *values, int rows, int cols, const char *const *row_labels,
                       const char *title, const ua_plot_heatmap_opts *opts, ua_err *err)
{
    ua_plot_texts *texts = opts ? opts->texts : NULL;
    texts_reset(texts);
    if (check_path(path, err)) return -1;
    if (rows < 1 || cols < 1 || rows > 512 || cols > 512 || !values)
        return ua_fail(err, "%s: a heatmap needs 1 to 512 rows and columns (got %d x %d)", path, rows, cols);
    ua_plot_heatmap_opts o0 = {0};
    const ua_plot_heatmap_opts *o = opts ? opts : &o0;
    double vmin = o->vmin, vmax = o->vmax;
    if (!(vmin < vmax)) {
        vmin = INFINITY;
        vmax = -INFINITY;
        for (int r = 0; r < rows; r++) {
            if (o->row_off && o->row_off[r]) continue;
            for (int c = 0; c < cols; c++) {
                float v = values[(size_t)r * cols + c];
                if (!isfinite(v)) continue;
                if (v < vmin) vmin = v;
                if (v > vmax) vmax = v;
            }
        }
        if (!isfinite(vmin)) { vmin = 0; vmax = 1; }
        if (vmax - vmin < 1e-12) vmax = vmin + 1;
    }
    hm_layout l = hm_layout_of(rows, cols, o);
    page pg;
    if (page_begin(&pg, path, l.w, l.h, err)) return -1;
    cairo_t *cr = pg.cr;
    title_block(cr, l.w / 2, 16, title, texts);
    const double gx = l.left, gy = l.top, C = UA_PLOT_CELL;
    /* cells */
    for (int r = 0; r < rows; r++) {
        double y = gy + r * C;
        if (o->row_off && o->row_off[r]) {
            hatch_rect(cr, gx, y, l.grid_w, C);
            if (texts) texts->rows_off++;
            continue;
        }
        for (int c = 0; c < cols; c++) {
            float v = values[(size_t)r * cols + c];
            double rgb[3] = {1, 1, 1};
            if (isfinite(v)) ramp((v - vmin) / (vmax - vmin), rgb);
            cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
            cairo_rectangle(cr, gx + c * C, y, C, C);
            cairo_fill(cr);
        }
    }
    /* thin white cell separators and a frame */
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_set_line_width(cr, 0.6);
    for (int c = 1; c < cols; c++) {
        cairo_move_to(cr, gx + c * C, gy);
        cairo_line_to(cr, gx + c * C, gy + l.grid_h);
    }
    for (int r = 1; r < rows; r++) {
        cairo_move_to(cr, gx, gy + r * C);
        cairo_line_to(cr, gx + l.grid_w, gy + r * C);
    }
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.38);
    cairo_set_line_width(cr, 1.0);
    cairo_rectangle(cr, gx, gy, l.grid_w, l.grid_h);
    cairo_stroke(cr);
    /* row labels, notes, column labels */
    char buf[64];
    for (int r = 0; r < rows; r++) {
        double cy = gy + (r + 0.5) * C;
        int off = o->row_off && o->row_off[r];
        if (off) cairo_set_source_rgb(cr, 0.50, 0.50, 0.53);
        else set_rgb(cr, INK);
        if (row_labels && row_labels[r]) fitted_label(cr, gx - 7, cy, row_labels[r], l.label_w - 8, 11.5);
        else {
            snprintf(buf, sizeof buf, "%d", r);
            text(cr, gx - 7, cy, buf, 11, 0, 1, 0.5, 0);
        }
        if (o->row_notes && o->row_notes[r]) {
            if (!off) set_rgb(cr, SOFT_INK);
            text(cr, gx + l.grid_w + 8, cy, o->row_notes[r], 10, 0, 0, 0.5, 0);
        }
    }
    if (o->row_notes && o->notes_header) {
        set_rgb(cr, SOFT_INK);
        text(cr, gx + l.grid_w + 8, gy - 6, o->notes_header, 10, 1, 0, 1, 0);
        note(texts, o->notes_header);
    }
    int every = cols <= 60 ? 1 : (cols + 59) / 60;
    set_rgb(cr, SOFT_INK);
    for (int c = 0; c < cols; c += every) {
        if (o->col_labels && o->col_labels[c]) snprintf(buf, sizeof buf, "%s", o->col_labels[c]);
        else snprintf(buf, sizeof buf, "%d", c);
        text(cr, gx + (c + 0.5) * C, gy + l.grid_h + 5, buf, 9, 0, 0.5, 0, 0);
    }
    set_rgb(cr, INK);
    text(cr, gx + l.grid_w / 2, gy + l.grid_h + 24, o->xlabel ? o->xlabel : "column", 12.5, 0, 0.5, 0, 0);
    note(texts, o->xlabel ? o->xlabel : "column");
    double lab_w = 0;
    for (int r = 0; r < rows; r++) {
        double w = row_labels && row_labels[r] ? text_w(cr, row_labels[r], 11.5, 0) : 20;
        if (w > lab_w) lab_w = w;
    }
    if (lab_w > l.label_w - 8) lab_w = l.label_w - 8;
    text(cr, gx - 7 - lab_w - 12, gy + l.grid_h / 2, o->ylabel ? o->ylabel : "row", 12.5, 0, 0.5, 1, -M_PI / 2);
    note(texts, o->ylabel ? o->ylabel : "row");
    if (o->row_off) {
        double ly = gy + l.grid_h + 54;
        hatch_rect(cr, gx, ly - 6, 24, 12);
        set_rgb(cr, INK);
        text(cr, gx + 30, ly, o->row_off_label ? o->row_off_label : "masked", 10.5, 0, 0, 0.5, 0);
        note(texts, o->row_off_label ? o->row_off_label : "masked");
    }
    /* colour bar */
    double bx = l.cbar_x, by = gy, bw = 16, bh = l.cbar_h;
    cairo_pattern_t *grad = cairo_pattern_create_linear(0, by + bh, 0, by);
    for (int k = 0; k < 5; k++) cairo_pattern_add_color_stop_rgb(grad, k / 4.0, RAMP[k][0], RAMP[k][1], RAMP[k][2]);
    cairo_rectangle(cr, bx, by, bw, bh);
    cairo_set_source(cr, grad);
    cairo_fill(cr);
    cairo_pattern_destroy(grad);
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.38);
    cairo_rectangle(cr, bx, by, bw, bh);
    double step = nice_step(vmax - vmin, 5, 0), t[MAX_TICKS];
    int nt = ticks_of(vmin, vmax, step, t), dec = decimals_of(step);
    for (int k = 0; k < nt; k++) {
        double y = by + bh - (t[k] - vmin) / (vmax - vmin) * bh;
        cairo_move_to(cr, bx + bw, y);
        cairo_line_to(cr, bx + bw + 4, y);
    }
    cairo_stroke(cr);
    set_rgb(cr, SOFT_INK);
    double maxw = 0;
    for (int k = 0; k < nt; k++) {
        double y = by + bh - (t[k] - vmin) / (vmax - vmin) * bh;
        fmt_num(buf, sizeof buf, t[k], dec);
        double w = text_w(cr, buf, 10.5, 0);
        if (w > maxw) maxw = w;
        text(cr, bx + bw + 7, y, buf, 10.5, 0, 0, 0.5, 0);
    }
    set_rgb(cr, INK);
    text(cr, bx + bw + 7 + maxw + 10, by + bh / 2, o->cbar_label ? o->cbar_label : "value", 12, 0, 0.5, 0, -M_PI / 2);
    note(texts, o->cbar_label ? o->cbar_label : "value");
    return page_end(&pg, path, err);
}

/* ---- an image's regions ---------------------------------------------------------------- */

static double clamp01(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

/* draws the picture of regions into pg's page (begun here: path names the format) */
static int draw_regions(page *pg, const char *path, int size, const ua_plot_region *regions, int n,
                        const ua_plot_label *labels, int n_labels, ua_err *err)
{
    if (check_path(path, err) || check_regions(path, size, regions, n, labels, n_labels, err)) return -1;
    const int png = strcmp(ua_plot_format(path), "png") == 0;
    const double side = png ? size / UA_PLOT_PNG_SCALE : size;   /* points */
    if (page_begin(pg, path, side, side, err)) return -1;
    cairo_t *cr = pg->cr;
    cairo_set_source_rgb(cr, 0.94, 0.93, 0.90);
    cairo_paint(cr);
    const double px = png ? 1 / UA_PLOT_PNG_SCALE : 1;   /* one pixel, in points */
    for (int i = 0; i < n; i++) {
        const ua_plot_region *r = &regions[i];
        double x0 = clamp01(r->box[0]) * side, y0 = clamp01(r->box[1]) * side;
        double x1 = clamp01(r->box[2]) * side, y1 = clamp01(r->box[3]) * side;
        cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
        cairo_set_source_rgba(cr, r->fill[0], r->fill[1], r->fill[2], clamp01(r->alpha));
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, r->line[0], r->line[1], r->line[2]);
        cairo_set_line_width(cr, (r->line_width > 0 ? r->line_width : 1) * px);
        cairo_stroke(cr);
    }
    const double fs = side / 14;
    for (int j = 0; j < n_labels; j++) {
        const double x = clamp01(labels[j].x) * side, y = clamp01(labels[j].y) * side;
        font(cr, fs, 1);
        cairo_text_extents_t te;
        cairo_text_extents(cr, labels[j].text, &te);
        /* kept inside the picture */
        double left = x - te.x_advance / 2;
        if (left + te.x_advance > side - 2 * px) left = side - 2 * px - te.x_advance;
        if (left < 2 * px) left = 2 * px;
        double top = y - fs / 2;
        if (top < px) top = px;
        if (top + fs > side - px) top = side - px - fs;
        cairo_set_source_rgba(cr, 1, 1, 1, 0.75);
        cairo_rectangle(cr, left - 2 * px, top, te.x_advance + 4 * px, fs * 1.05);
        cairo_fill(cr);
        set_rgb(cr, INK);
        text(cr, left, top + fs * 0.52, labels[j].text, fs, 1, 0, 0.5, 0);
    }
    return 0;
}

int ua_plot_regions(const char *path, int size, const ua_plot_region *regions, int n, const ua_plot_label *labels,
                    int n_labels, ua_err *err)
{
    page pg;
    if (draw_regions(&pg, path, size, regions, n, labels, n_labels, err)) return -1;
    return page_end(&pg, path, err);
}

int ua_plot_regions_png(int size, const ua_plot_region *regions, int n, const ua_plot_label *labels, int n_labels,
                        unsigned char **png, size_t *len, ua_err *err)
{
    page pg;
    *png = NULL;
    *len = 0;
    if (draw_regions(&pg, "regions.png", size, regions, n, labels, n_labels, err)) return -1;
    return page_bytes(&pg, "regions.png", png, len, err);
}

#endif /* UARDA_HAVE_CAIRO */

int ua_plot_heatmap(const char *path, const float *values, int rows, int cols, const char *const *row_labels,
                    const char *title, ua_err *err)
{
    return ua_plot_heatmap_ex(path, values, rows, cols, row_labels, title, NULL, err);
}
