/* Reward curves from training runs' metrics.jsonl, drawn with cairo as PNG,
 * SVG or PDF.
 *
 * The input has one JSON object per ES iteration with numbers "iter",
 * "reward_mean" (both required) and optionally "reward_std", "reward_min",
 * "reward_max", "eval_accuracy" (in [0,1]), "eval_reward" and "seconds"
 * (the iteration's training time); other fields are ignored. The x axis is
 * the iteration, or with ESFT_PLOT_BY_TIME the training time so far (the
 * sum of "seconds": comparable across modes that differ in cost per
 * iteration). Each run gets a colour: its mean reward is a line over a
 * translucent min-max band and a mean +/- std band, eval reward squares on
 * the reward axis, and eval accuracy a dashed line with dots on a right
 * axis in percent (only when some run has it). Several runs share one
 * figure; the legend names them. All formats share one layout, exposed so
 * tests can locate data. */
#ifndef ESFT_PLOT_H
#define ESFT_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define ESFT_PLOT_WIDTH 900
#define ESFT_PLOT_HEIGHT 500
#define ESFT_PLOT_MAX_RUNS 16

/* Opacity of each band over the background (std is drawn over min-max). */
#define ESFT_PLOT_BAND_ALPHA 0.15

typedef struct esft_plot_point {
    double iter;
    double x;                   /* abscissa drawn: iter, or seconds so far */
    double seconds;             /* the iteration's "seconds"; NaN when absent */
    double mean, std, min, max; /* std 0, min = max = mean when absent */
    double eval_acc;            /* in [0,1]; NaN when absent */
    double eval_reward;         /* NaN when absent */
} esft_plot_point;

typedef struct esft_plot_data {
    esft_plot_point *pts; /* sorted by iter; a repeated iter keeps the later line */
    int n;
    bool has_std, has_minmax;
    int n_eval_acc, n_eval_reward; /* points carrying each eval field */
    bool x_seconds;                /* x is training seconds (esft_plot_use_seconds) */
} esft_plot_data;

typedef enum esft_plot_by { ESFT_PLOT_BY_ITER = 0, ESFT_PLOT_BY_TIME } esft_plot_by;

/* Parses JSONL text (name is used in messages: "name:LINE: ..."). Blank lines
 * are skipped; anything else that is not an object with numeric "iter" and
 * "reward_mean" fails with ESFT_ERR_FORMAT naming the line; no data at all is
 * an error too. */
esft_status esft_plot_parse(const char *text, size_t len, const char *name, esft_plot_data *out,
                            esft_err *err);
esft_status esft_plot_load(const char *path, esft_plot_data *out, esft_err *err);
void esft_plot_data_free(esft_plot_data *d);
/* Sets each point's x to the training seconds up to the end of its
 * iteration (the running sum of "seconds" over the kept lines).
 * ESFT_ERR_FORMAT naming the iteration when a line has no "seconds". */
esft_status esft_plot_use_seconds(esft_plot_data *d, const char *name, esft_err *err);

/* One curve of a figure. */
typedef struct esft_plot_run {
    const char *name; /* legend text, UTF-8 */
    esft_plot_data data;
} esft_plot_run;

/* Legend names for metrics files: the run directory's name (a file other
 * than metrics.jsonl keeps its own name), with as many parent directories
 * as it takes to tell equal names apart, then " (2)", " (3)"... for the
 * same file given twice. names[i] is malloc'ed; free each. False when out
 * of memory (nothing left allocated). */
bool esft_plot_run_names(const char *const *paths, int n, char **names);

/* 0xRRGGBB colour of run i. */
unsigned esft_plot_run_rgb(int i);

typedef struct esft_plot_axis {
    double lo, hi, step; /* ticks at the multiples of step within [lo, hi] */
} esft_plot_axis;

typedef struct esft_plot_layout {
    int width, height;
    double left, right, top, bottom; /* plot area, in pixels (top < bottom) */
    esft_plot_axis x, y;             /* iteration or seconds; reward */
    bool right_axis;                 /* eval accuracy 0-100% on the right */
    bool x_seconds;                  /* x is training seconds */
} esft_plot_layout;

void esft_plot_compute_layout(const esft_plot_run *runs, int n_runs, esft_plot_layout *L);
double esft_plot_x_px(const esft_plot_layout *L, double x);
double esft_plot_y_px(const esft_plot_layout *L, double reward);
double esft_plot_acc_px(const esft_plot_layout *L, double acc01);

/* "Nice" tick step (1, 2 or 5 times a power of ten) giving about `target`
 * intervals over span. */
double esft_plot_nice_step(double span, int target);
/* Tick label for v on an axis with the given step ("0.25", "-1", "1500"). */
void esft_plot_format_tick(double v, double step, char *buf, size_t cap);

typedef enum esft_plot_format {
    ESFT_PLOT_NONE = 0,
    ESFT_PLOT_PNG,
    ESFT_PLOT_SVG,
    ESFT_PLOT_PDF
} esft_plot_format;
/* By extension, case-insensitively: .png, .svg, .pdf; anything else NONE. */
esft_plot_format esft_plot_format_of(const char *path);

/* Draws the runs into path, in the format its extension names, through the
 * atomic writer (nothing is left behind on failure). An SVG also carries
 * the title and legend as <title>/<desc> text. */
esft_status esft_plot_write(const esft_plot_run *runs, int n_runs, const char *title,
                            const char *path, esft_err *err);

/* Loads each metrics file and writes out_path. title NULL: "Reward: <the
 * metrics file's directory>" for one run, "Reward: <names>" for several. */
esft_status esft_plot_metrics(const char *const *jsonl_paths, int n, const char *out_path,
                              const char *title, esft_err *err);
/* The same with the x axis chosen; BY_TIME needs "seconds" on every line. */
esft_status esft_plot_metrics_by(const char *const *jsonl_paths, int n, const char *out_path,
                                 const char *title, esft_plot_by by, esft_err *err);

#endif
