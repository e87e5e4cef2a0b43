/* Reward curves from a training run's metrics.jsonl, drawn as SVG or PNG.
 *
 * The input has one JSON object per ES iteration with numbers "iter",
 * "reward_mean" (both required) and optionally "reward_std", "reward_min",
 * "reward_max", "eval_accuracy" (in [0,1]) and "eval_reward"; other fields
 * are ignored. The chart shows the mean reward as a line over a min-max band
 * and a darker mean +/- std band, eval reward as points on the reward axis,
 * and eval accuracy as points on a secondary right axis in percent.
 *
 * PNGs are rasterised here (4x supersampled, a built-in bitmap font) and
 * written uncompressed (stored deflate blocks), so nothing beyond libc is
 * needed. Both formats share one layout, exposed so tests can locate data. */
#ifndef ESFT_PLOT_H
#define ESFT_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#define ESFT_PLOT_WIDTH 900
#define ESFT_PLOT_HEIGHT 500

/* Series colours, 0xRRGGBB (bands are opaque: std drawn over min-max). */
#define ESFT_PLOT_RGB_MEAN 0x104E96
#define ESFT_PLOT_RGB_STD 0x96C0E2
#define ESFT_PLOT_RGB_MINMAX 0xCCE0F2
#define ESFT_PLOT_RGB_EVAL_ACC 0xE26214
#define ESFT_PLOT_RGB_EVAL_REWARD 0x289646

typedef struct esft_plot_point {
    double iter;
    double mean, std, min, max; /* std 0, min = max = mean when absent */
    double eval_acc;            /* in [0,1]; NaN when absent */
    double eval_reward;         /* NaN when absent */
} esft_plot_point;

typedef struct esft_plot_data {
    esft_plot_point *pts; /* sorted by iter; a repeated iter keeps the later line */
    int n;
    bool has_std, has_minmax;
    int n_eval_acc, n_eval_reward; /* points carrying each eval field */
} esft_plot_data;

/* Parses JSONL text (name is used in messages: "name:LINE: ..."). Blank lines
 * are skipped; anything else that is not an object with numeric "iter" and
 * "reward_mean" fails with ESFT_ERR_FORMAT naming the line; no data at all is
 * an error too. */
esft_status esft_plot_parse(const char *text, size_t len, const char *name, esft_plot_data *out,
                            esft_err *err);
esft_status esft_plot_load(const char *path, esft_plot_data *out, esft_err *err);
void esft_plot_data_free(esft_plot_data *d);

typedef struct esft_plot_axis {
    double lo, hi, step; /* ticks at the multiples of step within [lo, hi] */
} esft_plot_axis;

typedef struct esft_plot_layout {
    int width, height;
    double left, right, top, bottom; /* plot area, in pixels (top < bottom) */
    esft_plot_axis x, y;             /* iteration; reward */
    bool right_axis;                 /* eval accuracy 0-100% on the right */
} esft_plot_layout;

void esft_plot_compute_layout(const esft_plot_data *d, esft_plot_layout *L);
double esft_plot_x_px(const esft_plot_layout *L, double iter);
double esft_plot_y_px(const esft_plot_layout *L, double reward);
double esft_plot_acc_px(const esft_plot_layout *L, double acc01);

/* "Nice" tick step (1, 2 or 5 times a power of ten) giving about `target`
 * intervals over span. */
double esft_plot_nice_step(double span, int target);
/* Tick label for v on an axis with the given step ("0.25", "-1", "1500"). */
void esft_plot_format_tick(double v, double step, char *buf, size_t cap);

typedef enum esft_plot_format { ESFT_PLOT_NONE = 0, ESFT_PLOT_PNG, ESFT_PLOT_SVG } esft_plot_format;
/* By extension, case-insensitively: .png, .svg; anything else NONE. */
esft_plot_format esft_plot_format_of(const char *path);

/* Writes the chart to path (via a temporary file renamed into place). */
esft_status esft_plot_write_png(const esft_plot_data *d, const char *title, const char *path,
                                esft_err *err);
esft_status esft_plot_write_svg(const esft_plot_data *d, const char *title, const char *path,
                                esft_err *err);

/* Loads jsonl_path and writes out_path as PNG or SVG by its extension.
 * title NULL: "Reward: <directory of the metrics file>". */
esft_status esft_plot_metrics(const char *jsonl_path, const char *out_path, const char *title,
                              esft_err *err);

#endif
