/* Pictures for `uarda plot`, drawn with cairo: the relevant vs irrelevant similarity
 * histograms with the relevance thresholds (spec uarda.md 1.2, 4.7), training curves, and
 * attention heatmaps. The functions take plain arrays, so tests can feed them synthetic data;
 * gathering the data from a model is elsewhere (eval.h: ua_relevance_samples).
 *
 * The output format follows the file extension: ".png" (raster, at UA_PLOT_PNG_SCALE pixels per
 * point) or ".svg" (vector); anything else is an error. Files are written atomically. When uarda
 * is built without cairo (UARDA_HAVE_CAIRO undefined) every drawing function fails with a
 * message that says so; ua_plot_available() tells beforehand. */
#ifndef UARDA_PLOT_H
#define UARDA_PLOT_H

#include <stddef.h>

#include "uarda/error.h"

/* Page sizes in points (1/72 in); a PNG has UA_PLOT_PNG_SCALE pixels per point. */
#define UA_PLOT_PNG_SCALE 1.5
#define UA_PLOT_HIST_W 800
#define UA_PLOT_HIST_H 500
#define UA_PLOT_CURVES_W 800
#define UA_PLOT_CURVES_PANEL_H 260   /* per panel, plus UA_PLOT_CURVES_EXTRA_H for title and axis */
#define UA_PLOT_CURVES_EXTRA_H 130

/* The texts a picture carries (title and subtitle, axis and colour-bar labels, legend entries,
 * the names on threshold lines; not tick numbers or row labels), in drawing order, and for a
 * heatmap how many rows it drew hatched: what a caller can report of a picture without reading
 * its pixels. n counts every text; the first UA_PLOT_TEXTS_MAX are kept. */
#define UA_PLOT_TEXTS_MAX 48
typedef struct ua_plot_texts {
    int n;
    char text[UA_PLOT_TEXTS_MAX][512];
    int rows_off;
} ua_plot_texts;

/* 1 when uarda was built with cairo */
int ua_plot_available(void);

/* "png" or "svg" for a path with that extension (case-insensitive), else NULL */
const char *ua_plot_format(const char *path);

/* Pixel (PNG) or point (SVG) size of a picture: *w x *h, as the functions below draw them. */
void ua_plot_hist_size(int *w, int *h, int png);
void ua_plot_curves_size(int n_panels, int *w, int *h, int png);


/* Two overlapping, semi-transparent histograms (as densities, so that groups of different
 * sizes compare), each with its Gaussian fit N(mu, sigma) as a dashed curve, and vertical lines
 * at the thresholds. labels[0] names pos, labels[1] neg (NULL: "relevant" / "irrelevant").
 * t_tr / t_te: the training and test thresholds; NaN for both means a SCAN model, drawn as
 * the fixed t = 0 line and said so in the legend. t_te alone NaN draws only t_tr. The title may
 * hold a second line after '\n', drawn smaller (a subtitle). Needs n_pos + n_neg >= 1.
 * mix (NULL: none): {w, mu, sigma} of a relevant component fitted apart (t_est mixture); pos's
 * fit is then the mixture w N(mu, sigma^2) + (1 - w) N(neg's mean, neg's sigma^2), with the
 * component w N(mu, sigma^2) dotted. texts (NULL: not wanted) receives what was drawn. */
int ua_plot_histograms(const char *path, const float *pos, int n_pos, const float *neg, int n_neg,
                       const char *const *labels, double t_tr, double t_te, const double *mix, const char *title,
                       ua_plot_texts *texts, ua_err *err);

/* ---- curves ---------------------------------------------------------------------------- */

typedef enum { UA_LINE_SOLID = 0, UA_LINE_DASHED, UA_LINE_DOTTED } ua_line_style;

typedef struct ua_plot_series {
    const char *label;         /* legend text (NULL: not in the legend) */
    const double *x, *y;       /* n points, non-finite y values are gaps */
    int n;
    ua_line_style style;
    int color;                 /* palette index 0..7, or -1: the series' index in its panel */
    int value_decimals;        /* > 0: write each value (n <= 20) above its point with
                                  value_decimals - 1 decimals; 0: no values */
} ua_plot_series;

typedef struct ua_plot_panel {
    const char *title;         /* small title above the panel, or NULL */
    const char *ylabel;        /* y axis label, with units */
    const ua_plot_series *series;
    int n_series;
} ua_plot_panel;

/* n_panels (1..4) panels stacked vertically sharing one x axis (same range, xlabel under the
 * last one); each series is a line with point markers, each panel has its own legend. With
 * x_integer the x ticks are whole numbers (epochs). The title may hold a '\n' subtitle. */
int ua_plot_curves(const char *path, const char *title, const char *xlabel, int x_integer,
                   const ua_plot_panel *panels, int n_panels, ua_err *err);

/* ---- heatmap --------------------------------------------------------------------------- */

typedef struct ua_plot_heatmap_opts {
    const char *const *col_labels;   /* cols labels, or NULL: 0..cols-1 */
    const unsigned char *row_off;    /* rows to draw hatched grey (e.g. irrelevant words), or NULL */
    const char *row_off_label;       /* legend text for those rows (NULL: "masked") */
    const char *const *row_notes;    /* text at the right end of each row (e.g. "0.42"), or NULL */
    const char *notes_header;        /* a heading above those notes, or NULL */
    const char *xlabel, *ylabel;     /* axis labels (NULL: "column" / "row") */
    const char *cbar_label;          /* colour bar label (NULL: "value") */
    double vmin, vmax;               /* colour range; vmin >= vmax: the range of the values shown */
    ua_plot_texts *texts;            /* receives what was drawn, or NULL */
} ua_plot_heatmap_opts;

/* values[r * cols + c] as a rows x cols grid of coloured cells (a viridis-like map, with
 * cells of UA_PLOT_CELL points), row labels on the left, a colour bar on the right. Non-finite
 * values are drawn as empty (white) cells. The title may hold a '\n' subtitle. */
#define UA_PLOT_CELL 20
/* the size that ua_plot_heatmap_ex draws with these options (NULL: none) */
void ua_plot_heatmap_size(int rows, int cols, const ua_plot_heatmap_opts *opts, int *w, int *h, int png);
int ua_plot_heatmap(const char *path, const float *values, int rows, int cols, const char *const *row_labels,
                    const char *title, ua_err *err);
int ua_plot_heatmap_ex(const char *path, const float *values, int rows, int cols, const char *const *row_labels,
                       const char *title, const ua_plot_heatmap_opts *opts, ua_err *err);

/* ---- an image's regions ---------------------------------------------------------------- */

/* One region of a picture of regions: its box in the unit square (x0, y0, x1, y1, y down), the
 * colour it is filled with (at opacity alpha) and outlined with, RGB in 0..1. */
typedef struct ua_plot_region {
    float box[4];
    float fill[3], line[3];
    float alpha, line_width;   /* line_width in pixels */
} ua_plot_region;

/* A text written at (x, y) of the unit square, centred there, dark on a light halo. */
typedef struct ua_plot_label {
    float x, y;
    const char *text;
} ua_plot_label;

/* A picture of an image's regions (uarda synth's thumbnails): a size x size pixel PNG (size
 * 16..1024; an SVG of size points for a .svg path) on a light background, the n regions drawn
 * in order (later ones over earlier ones), then the n_labels labels. Boxes outside the unit
 * square are clipped to it; a box that is not finite or has x1 < x0 or y1 < y0 is an error that
 * names it. Deterministic: the same input gives the same bytes. */
int ua_plot_regions(const char *path, int size, const ua_plot_region *regions, int n, const ua_plot_label *labels,
                    int n_labels, ua_err *err);
/* The same PNG in memory (*png malloc'ed, *len bytes), for a caller that writes many (uarda
 * synth's thumbnails: one folder written whole, then synced once). */
int ua_plot_regions_png(int size, const ua_plot_region *regions, int n, const ua_plot_label *labels, int n_labels,
                        unsigned char **png, size_t *len, ua_err *err);

#endif
