/* Reward-curve figures: metrics.jsonl -> PNG, SVG or PDF drawn with cairo.
 * See plot.h. */
#include "plot.h"

#ifdef ESFT_HAVE_CAIRO
#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>
#endif
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "atomic_file.h"
#include "cli.h"
#include "esft_fs.h"

/* ------------------------------------------------------------------------ */
/* Parsing                                                                  */

/* Values beyond this are taken for garbage (and would defeat the axes). */
#define PLOT_MAX_ABS 1e15

static bool get_number(const cJSON *obj, const char *key, double *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) return false;
    *out = it->valuedouble;
    return true;
}

/* The first of keys whose value is a number beyond PLOT_MAX_ABS, or NULL. */
static const char *out_of_range(const cJSON *obj, const char *const *keys, int n) {
    for (int k = 0; k < n; k++) {
        double v;
        if (get_number(obj, keys[k], &v) && fabs(v) > PLOT_MAX_ABS) return keys[k];
    }
    return NULL;
}

static bool has_key(const cJSON *obj, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    return it && !cJSON_IsNull(it);
}

typedef struct indexed {
    esft_plot_point p;
    int idx; /* line order, for a stable sort */
} indexed;

static int cmp_indexed(const void *a, const void *b) {
    const indexed *p = a, *q = b;
    if (p->p.iter != q->p.iter) return p->p.iter < q->p.iter ? -1 : 1;
    return (p->idx > q->idx) - (p->idx < q->idx);
}

esft_status esft_plot_parse(const char *text, size_t len, const char *name, esft_plot_data *out,
                            esft_err *err) {
    memset(out, 0, sizeof *out);
    int cap = 0, line_no = 0;
    bool any_std = false, any_minmax = false;
    size_t pos = 0;
    esft_status st = ESFT_OK;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        line_no++;
        size_t a = pos, b = end;
        pos = end + 1;
        while (a < b && isspace((unsigned char)text[a])) a++;
        while (b > a && isspace((unsigned char)text[b - 1])) b--;
        if (a == b) continue;
        cJSON *obj = cJSON_ParseWithLength(text + a, b - a);
        if (!obj || !cJSON_IsObject(obj)) {
            st = esft_errf(err, ESFT_ERR_FORMAT, "%s:%d: %s", name, line_no,
                           obj ? "expected a JSON object" : "invalid JSON");
            cJSON_Delete(obj);
            goto fail;
        }
        static const char *const all_keys[] = {"iter", "reward_mean", "reward_std", "reward_min",
                                               "reward_max", "eval_reward", "seconds"};
        const char *huge = out_of_range(obj, all_keys, 7);
        if (huge) {
            cJSON_Delete(obj);
            st = esft_errf(err, ESFT_ERR_FORMAT, "%s:%d: \"%s\" is out of range (|x| > %g)", name,
                           line_no, huge, PLOT_MAX_ABS);
            goto fail;
        }
        esft_plot_point p;
        const char *missing = NULL;
        if (!get_number(obj, "iter", &p.iter))
            missing = "iter";
        else if (!get_number(obj, "reward_mean", &p.mean))
            missing = "reward_mean";
        if (missing) {
            cJSON_Delete(obj);
            st = esft_errf(err, ESFT_ERR_FORMAT, "%s:%d: missing or non-numeric \"%s\"", name,
                           line_no, missing);
            goto fail;
        }
        /* Optional fields: present-but-not-a-number is an error, absent is not. */
        static const char *const opt_keys[] = {"reward_std", "reward_min", "reward_max",
                                               "eval_accuracy", "eval_reward", "seconds"};
        double v[6];
        bool have[6];
        for (int k = 0; k < 6; k++) {
            have[k] = get_number(obj, opt_keys[k], &v[k]);
            if (!have[k] && has_key(obj, opt_keys[k])) {
                cJSON_Delete(obj);
                st = esft_errf(err, ESFT_ERR_FORMAT, "%s:%d: \"%s\" is not a number", name,
                               line_no, opt_keys[k]);
                goto fail;
            }
        }
        cJSON_Delete(obj);
        p.std = have[0] ? fabs(v[0]) : 0.0;
        p.min = have[1] ? v[1] : p.mean;
        p.max = have[2] ? v[2] : p.mean;
        if (p.min > p.max) {
            double t = p.min;
            p.min = p.max;
            p.max = t;
        }
        p.eval_acc = have[3] ? v[3] : NAN;
        p.eval_reward = have[4] ? v[4] : NAN;
        p.seconds = have[5] ? v[5] : NAN;
        p.x = p.iter;
        if (have[5] && v[5] < 0.0) {
            st = esft_errf(err, ESFT_ERR_FORMAT, "%s:%d: \"seconds\" %g is negative", name, line_no, v[5]);
            goto fail;
        }
        if (have[3] && (v[3] < 0.0 || v[3] > 1.0)) {
            st = esft_errf(err, ESFT_ERR_FORMAT, "%s:%d: \"eval_accuracy\" %g is outside [0, 1]",
                           name, line_no, v[3]);
            goto fail;
        }
        any_std |= have[0];
        any_minmax |= have[1] || have[2];
        if (out->n == cap) {
            cap = cap ? cap * 2 : 256;
            esft_plot_point *t = realloc(out->pts, (size_t)cap * sizeof *t);
            if (!t) {
                st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
                goto fail;
            }
            out->pts = t;
        }
        out->pts[out->n++] = p;
    }
    if (out->n == 0) {
        st = esft_errf(err, ESFT_ERR_FORMAT, "%s: no iterations (empty file)", name);
        goto fail;
    }
    /* Sort by iter, file order among equals, then keep the last line of each
     * iter: a resumed run appends the iterations it redid. */
    {
        indexed *ix = malloc((size_t)out->n * sizeof *ix);
        if (!ix) {
            st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
            goto fail;
        }
        for (int i = 0; i < out->n; i++) {
            ix[i].p = out->pts[i];
            ix[i].idx = i;
        }
        qsort(ix, (size_t)out->n, sizeof *ix, cmp_indexed);
        int m = 0;
        for (int i = 0; i < out->n; i++) {
            if (m > 0 && out->pts[m - 1].iter == ix[i].p.iter)
                out->pts[m - 1] = ix[i].p;
            else
                out->pts[m++] = ix[i].p;
        }
        out->n = m;
        free(ix);
    }
    out->has_std = any_std;
    out->has_minmax = any_minmax;
    for (int i = 0; i < out->n; i++) {
        out->n_eval_acc += !isnan(out->pts[i].eval_acc);
        out->n_eval_reward += !isnan(out->pts[i].eval_reward);
    }
    return ESFT_OK;
fail:
    esft_plot_data_free(out);
    return st;
}

esft_status esft_plot_load(const char *path, esft_plot_data *out, esft_err *err) {
    memset(out, 0, sizeof *out);
    size_t len = 0;
    char *buf = esft_read_file(path, ESFT_READ_MAX, &len); /* no directories, devices or endless streams */
    if (!buf) return esft_errf(err, ESFT_ERR_IO, "%s: %s", path, esft_read_error(errno));
    esft_status st = esft_plot_parse(buf, len, path, out, err);
    free(buf);
    return st;
}

esft_status esft_plot_use_seconds(esft_plot_data *d, const char *name, esft_err *err) {
    double t = 0;
    for (int i = 0; i < d->n; i++) {
        if (isnan(d->pts[i].seconds))
            return esft_errf(err, ESFT_ERR_FORMAT, "%s: iteration %.0f has no \"seconds\" (needed to plot by time)",
                             name, d->pts[i].iter);
        t += d->pts[i].seconds;
        d->pts[i].x = t;
    }
    d->x_seconds = true;
    return ESFT_OK;
}

void esft_plot_data_free(esft_plot_data *d) {
    free(d->pts);
    memset(d, 0, sizeof *d);
}

/* ------------------------------------------------------------------------ */
/* Run names                                                                */

/* The path's components, the file name dropped when it is metrics.jsonl
 * (the run is its directory). comps point into buf. */
static int path_components(const char *path, char *buf, size_t cap, const char **comps, int max) {
    char *abs = realpath(path, NULL); /* "metrics.jsonl" alone still names its directory */
    snprintf(buf, cap, "%s", abs ? abs : path);
    free(abs);
    int n = 0;
    for (char *tok = strtok(buf, "/"); tok && n < max; tok = strtok(NULL, "/"))
        if (strcmp(tok, ".") != 0) comps[n++] = tok;
    if (n > 1 && strcmp(comps[n - 1], "metrics.jsonl") == 0) n--;
    return n;
}

/* The last k components joined by '/'. */
static char *join_tail(const char *const *comps, int n, int k) {
    if (k > n) k = n;
    size_t len = 1;
    for (int i = n - k; i < n; i++) len += strlen(comps[i]) + 1;
    char *s = malloc(len);
    if (!s) return NULL;
    s[0] = '\0';
    for (int i = n - k; i < n; i++) {
        if (i > n - k) strcat(s, "/");
        strcat(s, comps[i]);
    }
    return s;
}

#define NAME_MAX_COMPS 64

/* How many trailing components a and b share. */
static int common_tail(const char *const *a, int na, const char *const *b, int nb) {
    int k = 0;
    while (k < na && k < nb && strcmp(a[na - 1 - k], b[nb - 1 - k]) == 0) k++;
    return k;
}

bool esft_plot_run_names(const char *const *paths, int n, char **names) {
    if (n > ESFT_PLOT_MAX_RUNS) return false;
    char bufs[ESFT_PLOT_MAX_RUNS][4096]; /* the paths, cut into components */
    const char *comps[ESFT_PLOT_MAX_RUNS][NAME_MAX_COMPS];
    int n_comps[ESFT_PLOT_MAX_RUNS];
    for (int i = 0; i < n; i++) {
        n_comps[i] = path_components(paths[i], bufs[i], sizeof bufs[i], comps[i], NAME_MAX_COMPS);
        names[i] = NULL;
    }
    /* One component more than any other run's path shares, unless the
     * paths are the same. */
    for (int i = 0; i < n; i++) {
        int depth = 1;
        for (int j = 0; j < n; j++) {
            int k = common_tail(comps[i], n_comps[i], comps[j], n_comps[j]);
            bool same = k == n_comps[i] && k == n_comps[j];
            if (!same && k + 1 > depth) depth = k + 1;
        }
        names[i] = join_tail(comps[i], n_comps[i], depth);
        if (!names[i]) goto oom;
    }
    /* Still equal: the same file twice. */
    for (int i = 0; i < n; i++) {
        int k = 1;
        for (int j = 0; j < i; j++) k += strcmp(names[i], names[j]) == 0;
        if (k == 1) continue;
        size_t len = strlen(names[i]) + 16;
        char *s = malloc(len);
        if (!s) goto oom;
        snprintf(s, len, "%s (%d)", names[i], k);
        free(names[i]);
        names[i] = s;
    }
    return true;
oom:
    for (int i = 0; i < n; i++) {
        free(names[i]);
        names[i] = NULL;
    }
    return false;
}

/* Colour-blind-friendly, distinct in grey too (Okabe-Ito, then more). */
static const unsigned run_palette[] = {0x0072B2, 0xD55E00, 0x009E73, 0xCC79A7,
                                       0xE69F00, 0x56B4E9, 0x000000, 0x8C564B};

unsigned esft_plot_run_rgb(int i) {
    return run_palette[(unsigned)i % (sizeof run_palette / sizeof run_palette[0])];
}

/* ------------------------------------------------------------------------ */
/* Layout                                                                   */

/* Pixel sizes of the figure's parts. */
#define MARGIN 10.0
#define FS_TICK 12.0
#define FS_LABEL 13.0
#define FS_TITLE 16.0
#define FS_SUB 11.5
#define FS_LEGEND 12.0
#define TICK_LEN 5.0
#define TITLE_BASE 26.0
#define SUB_BASE 46.0
#define PLOT_TOP 62.0
/* DejaVu Sans digits are 0.636 em wide: margins are sized from this so the
 * layout needs no font (tests call it without drawing). */
#define DIGIT_EM 0.64

static double est_width(const char *s, double size) { return (double)strlen(s) * DIGIT_EM * size; }

double esft_plot_nice_step(double span, int target) {
    if (!(span > 0) || !isfinite(span)) return 1.0;
    if (target < 1) target = 1;
    double raw = span / target;
    double mag = pow(10.0, floor(log10(raw)));
    double r = raw / mag;
    double m = r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10;
    return m * mag;
}

void esft_plot_format_tick(double v, double step, char *buf, size_t cap) {
    if (fabs(v) < step * 1e-6) v = 0.0; /* no "-0" */
    int dec = 0;
    if (step < 1) dec = (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) >= 1e7 || dec > 8)
        snprintf(buf, cap, "%g", v);
    else
        snprintf(buf, cap, "%.*f", dec, v);
}

/* Ticks are k*step for k in [first, last]. */
static long tick_first(const esft_plot_axis *a) { return (long)ceil(a->lo / a->step - 1e-9); }
static long tick_last(const esft_plot_axis *a) { return (long)floor(a->hi / a->step + 1e-9); }

static void data_range(const esft_plot_run *runs, int n_runs, double *ylo, double *yhi,
                       double *xlo, double *xhi) {
    *ylo = *xlo = INFINITY;
    *yhi = *xhi = -INFINITY;
    for (int r = 0; r < n_runs; r++)
        for (int i = 0; i < runs[r].data.n; i++) {
            const esft_plot_point *p = &runs[r].data.pts[i];
            *ylo = fmin(*ylo, fmin(p->min, p->mean - p->std));
            *yhi = fmax(*yhi, fmax(p->max, p->mean + p->std));
            if (!isnan(p->eval_reward)) {
                *ylo = fmin(*ylo, p->eval_reward);
                *yhi = fmax(*yhi, p->eval_reward);
            }
            *xlo = fmin(*xlo, p->x);
            *xhi = fmax(*xhi, p->x);
        }
}

void esft_plot_compute_layout(const esft_plot_run *runs, int n_runs, esft_plot_layout *L) {
    memset(L, 0, sizeof *L);
    L->width = ESFT_PLOT_WIDTH;
    L->height = ESFT_PLOT_HEIGHT;
    for (int r = 0; r < n_runs; r++) L->right_axis |= runs[r].data.n_eval_acc > 0;
    L->x_seconds = n_runs > 0 && runs[0].data.x_seconds;

    double lo, hi, x0, x1;
    data_range(runs, n_runs, &lo, &hi, &x0, &x1);
    if (!(hi - lo > 1e-9 * fmax(1.0, fmax(fabs(lo), fabs(hi))))) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1.0;
        lo -= pad;
        hi += pad;
    }
    L->y.step = esft_plot_nice_step(hi - lo, 6);
    L->y.lo = floor(lo / L->y.step + 1e-9) * L->y.step;
    L->y.hi = ceil(hi / L->y.step - 1e-9) * L->y.step;
    if (x1 <= x0) { /* one iteration: centred, its own tick only */
        x0 -= 0.5;
        x1 += 0.5;
    }
    if (L->x_seconds) x0 = 0; /* time from the start of training */
    L->x.lo = x0;
    L->x.hi = x1;

    double ylab_w = 0;
    char buf[64];
    for (long k = tick_first(&L->y); k <= tick_last(&L->y); k++) {
        esft_plot_format_tick(k * L->y.step, L->y.step, buf, sizeof buf);
        ylab_w = fmax(ylab_w, est_width(buf, FS_TICK));
    }
    double label_band = MARGIN + FS_LABEL + 10 + TICK_LEN + 6; /* axis label, gaps, tick */
    L->left = round(label_band + ylab_w);
    L->right = L->right_axis ? round(L->width - label_band - est_width("100%", FS_TICK))
                             : L->width - 28.0;
    L->top = PLOT_TOP;
    L->bottom = L->height - round(MARGIN + FS_LABEL + 10 + FS_TICK + TICK_LEN + 6);

    /* x ticks: about one per 90 px, never finer than one iteration. */
    int target = (int)((L->right - L->left) / 90);
    if (target < 2) target = 2;
    L->x.step = esft_plot_nice_step(x1 - x0, target);
    if (L->x.step < 1) L->x.step = 1;
    /* start on a tick (iterations count from 1: the axis from 0) */
    if (x1 - x0 >= 2 * L->x.step) L->x.lo = floor(x0 / L->x.step + 1e-9) * L->x.step;
}

double esft_plot_x_px(const esft_plot_layout *L, double x) {
    return L->left + (x - L->x.lo) / (L->x.hi - L->x.lo) * (L->right - L->left);
}

double esft_plot_y_px(const esft_plot_layout *L, double v) {
    return L->bottom - (v - L->y.lo) / (L->y.hi - L->y.lo) * (L->bottom - L->top);
}

double esft_plot_acc_px(const esft_plot_layout *L, double acc) {
    return L->bottom - acc * (L->bottom - L->top);
}

#ifdef ESFT_HAVE_CAIRO
/* fontconfig (under cairo's text) keeps allocations from reading its
 * configuration that it never frees; a leak-checking build is told so. */
#if defined(__SANITIZE_ADDRESS__)
#define PLOT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PLOT_ASAN 1
#endif
#endif
#ifdef PLOT_ASAN
/* visible: the sanitizer runtime looks the hook up by name (the build hides
 * symbols by default) */
__attribute__((visibility("default"))) const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libfontconfig.so\n"; }
#endif

/* ------------------------------------------------------------------------ */
/* Drawing                                                                  */

#define RGB_TEXT 0x262626
#define RGB_SUBTEXT 0x6E6E6E
#define RGB_GRID 0xE8E8E8
#define RGB_FRAME 0x8C8C8C
#define RGB_KEY 0x7A7A7A /* legend keys for the series styles */

static void set_rgb(cairo_t *cr, unsigned rgb, double alpha) {
    cairo_set_source_rgba(cr, (rgb >> 16 & 0xFF) / 255.0, (rgb >> 8 & 0xFF) / 255.0,
                          (rgb & 0xFF) / 255.0, alpha);
}

static void set_font(cairo_t *cr, double size, bool bold) {
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_width(cairo_t *cr, const char *s) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

/* Text with its baseline at y; anchor 0 left, 0.5 centre, 1 right. */
static void draw_text(cairo_t *cr, double x, double y, const char *s, double anchor, unsigned rgb) {
    set_rgb(cr, rgb, 1.0);
    cairo_move_to(cr, x - anchor * text_width(cr, s), y);
    cairo_show_text(cr, s);
    cairo_new_path(cr);
}

/* Copies s into buf, cut at a UTF-8 boundary with an ellipsis when wider
 * than max_w in the current font. */
static void fit_text(cairo_t *cr, const char *s, double max_w, char *buf, size_t cap) {
    size_t n = strlen(s);
    for (bool cut = n + 1 > cap;; cut = true, n--) {
        /* room for the ellipsis, at a character boundary */
        while (cut && n > 0 && (n + 4 > cap || ((unsigned char)s[n] & 0xC0) == 0x80)) n--;
        memcpy(buf, s, n);
        strcpy(buf + n, cut ? "\xe2\x80\xa6" : "");
        if (n == 0 || text_width(cr, buf) <= max_w) return;
    }
}

/* The series of a run as pixel points: 0 mean, 1 max, 2 min, 3 mean+std,
 * 4 mean-std, 5 eval reward, 6 eval accuracy (those two skip absent points). */
static int series(const esft_plot_data *d, const esft_plot_layout *L, int which, double *xy) {
    int m = 0;
    for (int i = 0; i < d->n; i++) {
        const esft_plot_point *p = &d->pts[i];
        double v = which == 0 ? p->mean : which == 1 ? p->max : which == 2 ? p->min
                 : which == 3 ? p->mean + p->std : which == 4 ? p->mean - p->std
                 : which == 5 ? p->eval_reward : p->eval_acc;
        if (isnan(v)) continue;
        xy[2 * m] = esft_plot_x_px(L, p->x);
        xy[2 * m + 1] = which == 6 ? esft_plot_acc_px(L, v) : esft_plot_y_px(L, v);
        m++;
    }
    return m;
}

static void path_polyline(cairo_t *cr, const double *xy, int m) {
    for (int i = 0; i < m; i++) cairo_line_to(cr, xy[2 * i], xy[2 * i + 1]);
}

/* A band between series hi and lo; a lone point gets a small bar. */
static void draw_band(cairo_t *cr, const esft_plot_data *d, const esft_plot_layout *L, int hi,
                      int lo, unsigned rgb, double *xy) {
    int m = series(d, L, hi, xy);
    if (m == 1) {
        double top = xy[1];
        series(d, L, lo, xy);
        cairo_rectangle(cr, xy[0] - 6, top, 12, xy[1] - top);
    } else {
        path_polyline(cr, xy, m);
        series(d, L, lo, xy);
        for (int i = m - 1; i >= 0; i--) cairo_line_to(cr, xy[2 * i], xy[2 * i + 1]);
        cairo_close_path(cr);
    }
    set_rgb(cr, rgb, ESFT_PLOT_BAND_ALPHA);
    cairo_fill(cr);
}

static void draw_marker(cairo_t *cr, double x, double y, bool square, unsigned rgb) {
    if (square)
        cairo_rectangle(cr, x - 3.5, y - 3.5, 7, 7);
    else
        cairo_arc(cr, x, y, 3.5, 0, 2 * M_PI);
    set_rgb(cr, rgb, 1.0);
    cairo_fill_preserve(cr);
    set_rgb(cr, 0xFFFFFF, 1.0);
    cairo_set_line_width(cr, 1.0);
    cairo_stroke(cr);
}

static void draw_line(cairo_t *cr, const double *xy, int m, double width, bool dashed, unsigned rgb) {
    if (m == 1) { /* a lone point: a short level stroke */
        cairo_move_to(cr, xy[0] - 8, xy[1]);
        cairo_line_to(cr, xy[0] + 8, xy[1]);
    } else {
        path_polyline(cr, xy, m);
    }
    static const double dash[] = {5.0, 3.0};
    cairo_set_dash(cr, dash, dashed ? 2 : 0, 0);
    cairo_set_line_width(cr, width);
    set_rgb(cr, rgb, 1.0);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
}

/* Markers only while they stay apart. */
#define MAX_MARKERS 60

static void draw_run(cairo_t *cr, const esft_plot_data *d, const esft_plot_layout *L,
                     unsigned rgb, double *xy) {
    if (d->has_minmax) draw_band(cr, d, L, 1, 2, rgb, xy);
    if (d->has_std) draw_band(cr, d, L, 3, 4, rgb, xy);
    int m = series(d, L, 5, xy);
    for (int i = 0; i < m && m <= MAX_MARKERS * 4; i++) draw_marker(cr, xy[2 * i], xy[2 * i + 1], true, rgb);
    draw_line(cr, xy, series(d, L, 0, xy), 2.0, false, rgb);
    m = series(d, L, 6, xy);
    if (m > 0) draw_line(cr, xy, m, 1.5, true, rgb);
    for (int i = 0; i < m && m <= MAX_MARKERS; i++) draw_marker(cr, xy[2 * i], xy[2 * i + 1], false, rgb);
}

static void draw_axes(cairo_t *cr, const esft_plot_layout *L) {
    cairo_set_line_width(cr, 1.0);
    set_rgb(cr, RGB_GRID, 1.0);
    for (long k = tick_first(&L->y); k <= tick_last(&L->y); k++) {
        double y = round(esft_plot_y_px(L, k * L->y.step)) + 0.5;
        cairo_move_to(cr, L->left, y);
        cairo_line_to(cr, L->right, y);
    }
    for (long k = tick_first(&L->x); k <= tick_last(&L->x); k++) {
        double x = round(esft_plot_x_px(L, k * L->x.step)) + 0.5;
        cairo_move_to(cr, x, L->top);
        cairo_line_to(cr, x, L->bottom);
    }
    cairo_stroke(cr);
}

static void draw_frame_and_ticks(cairo_t *cr, const esft_plot_layout *L) {
    char buf[64];
    cairo_set_line_width(cr, 1.0);
    set_rgb(cr, RGB_FRAME, 1.0);
    cairo_rectangle(cr, L->left - 0.5, L->top - 0.5, L->right - L->left + 1, L->bottom - L->top + 1);
    cairo_stroke(cr);
    set_font(cr, FS_TICK, false);
    double mid = 0.36 * FS_TICK; /* baseline offset that centres digits on a point */
    for (long k = tick_first(&L->y); k <= tick_last(&L->y); k++) {
        double y = round(esft_plot_y_px(L, k * L->y.step)) + 0.5;
        set_rgb(cr, RGB_FRAME, 1.0);
        cairo_move_to(cr, L->left - 0.5 - TICK_LEN, y);
        cairo_line_to(cr, L->left - 0.5, y);
        cairo_stroke(cr);
        esft_plot_format_tick(k * L->y.step, L->y.step, buf, sizeof buf);
        draw_text(cr, L->left - TICK_LEN - 5, y + mid, buf, 1.0, RGB_TEXT);
    }
    for (long k = tick_first(&L->x); k <= tick_last(&L->x); k++) {
        double x = round(esft_plot_x_px(L, k * L->x.step)) + 0.5;
        set_rgb(cr, RGB_FRAME, 1.0);
        cairo_move_to(cr, x, L->bottom + 0.5);
        cairo_line_to(cr, x, L->bottom + 0.5 + TICK_LEN);
        cairo_stroke(cr);
        esft_plot_format_tick(k * L->x.step, L->x.step, buf, sizeof buf);
        draw_text(cr, x, L->bottom + TICK_LEN + 4 + FS_TICK, buf, 0.5, RGB_TEXT);
    }
    if (L->right_axis)
        for (int k = 0; k <= 5; k++) {
            double y = round(esft_plot_acc_px(L, k * 0.2)) + 0.5;
            set_rgb(cr, RGB_FRAME, 1.0);
            cairo_move_to(cr, L->right + 0.5, y);
            cairo_line_to(cr, L->right + 0.5 + TICK_LEN, y);
            cairo_stroke(cr);
            snprintf(buf, sizeof buf, "%d%%", k * 20);
            draw_text(cr, L->right + TICK_LEN + 5, y + mid, buf, 0.0, RGB_TEXT);
        }

    /* Axis labels: x centred below, y and right rotated beside the ticks. */
    set_font(cr, FS_LABEL, false);
    draw_text(cr, (L->left + L->right) / 2, L->height - MARGIN - 3,
              L->x_seconds ? "training time (s)" : "iteration", 0.5, RGB_TEXT);
    cairo_save(cr);
    cairo_translate(cr, MARGIN + FS_LABEL, (L->top + L->bottom) / 2);
    cairo_rotate(cr, -M_PI / 2);
    draw_text(cr, 0, 0, "reward", 0.5, RGB_TEXT);
    cairo_restore(cr);
    if (L->right_axis) {
        cairo_save(cr);
        cairo_translate(cr, L->width - MARGIN - FS_LABEL, (L->top + L->bottom) / 2);
        cairo_rotate(cr, M_PI / 2);
        draw_text(cr, 0, 0, "eval accuracy (%)", 0.5, RGB_TEXT);
        cairo_restore(cr);
    }
}

/* ---- legend: one entry per run (its colour), then keys for the styles ---- */

enum { KEY_RUN, KEY_MINMAX, KEY_STD, KEY_EVAL_ACC, KEY_EVAL_REWARD };

typedef struct legend_item {
    char text[128];
    int kind;     /* KEY_* */
    unsigned rgb; /* 0xRRGGBB */
} legend_item;

#define LEGEND_MAX (ESFT_PLOT_MAX_RUNS + 4)
#define LEGEND_ROW 17.0
#define LEGEND_SWATCH 24.0
#define LEGEND_PAD 7.0

static int legend_build(const esft_plot_run *runs, int n_runs, legend_item *items) {
    int n = 0;
    bool std = false, minmax = false, acc = false, rew = false;
    for (int r = 0; r < n_runs && r < ESFT_PLOT_MAX_RUNS; r++) {
        const esft_plot_data *d = &runs[r].data;
        items[n++] = (legend_item){{0}, KEY_RUN, esft_plot_run_rgb(r)};
        snprintf(items[n - 1].text, sizeof items[0].text, "%s", runs[r].name);
        std |= d->has_std;
        minmax |= d->has_minmax;
        acc |= d->n_eval_acc > 0;
        rew |= d->n_eval_reward > 0;
    }
    if (minmax) items[n++] = (legend_item){"min\xe2\x80\x93max", KEY_MINMAX, RGB_KEY};
    if (std) items[n++] = (legend_item){"mean \xc2\xb1 std", KEY_STD, RGB_KEY};
    if (rew) items[n++] = (legend_item){"eval reward", KEY_EVAL_REWARD, RGB_KEY};
    if (acc) items[n++] = (legend_item){"eval accuracy (right)", KEY_EVAL_ACC, RGB_KEY};
    return n;
}

typedef struct box {
    double x0, y0, x1, y1;
} box;

static bool in_box(const box *b, double x, double y) {
    return x >= b->x0 && x <= b->x1 && y >= b->y0 && y <= b->y1;
}

/* Samples of the segment (every 3 px) inside the box; a band (the vertical
 * span lo..hi at each sample, in pixels) counts when it overlaps the box. */
static int segment_hits(const box *b, double xa, double ya, double xb, double yb, bool band,
                        double span_a, double span_b) {
    int steps = (int)ceil(hypot(xb - xa, yb - ya) / 3.0) + 1, hits = 0;
    for (int s = 0; s <= steps; s++) {
        double t = (double)s / steps, x = xa + t * (xb - xa), y = ya + t * (yb - ya);
        if (band) {
            double top = y, bottom = span_a + t * (span_b - span_a); /* hi edge, lo edge */
            hits += x >= b->x0 && x <= b->x1 && top <= b->y1 && bottom >= b->y0;
        } else {
            hits += in_box(b, x, y);
        }
    }
    return hits;
}

/* How much of the runs' curves and bands the box would cover. */
static int curve_hits(const esft_plot_run *runs, int n_runs, const esft_plot_layout *L, const box *b,
                      double *xy, double *lo) {
    int hits = 0;
    for (int r = 0; r < n_runs; r++) {
        const esft_plot_data *d = &runs[r].data;
        for (int which = 0; which <= 6; which++) {
            if (which >= 3 && which <= 5) continue; /* std lies within min-max; eval reward: points */
            int m = series(d, L, which, xy);
            if (which == 1) series(d, L, 2, lo);
            for (int i = 0; i < m; i++) {
                int j = i + 1 < m ? i + 1 : i;
                hits += segment_hits(b, xy[2 * i], xy[2 * i + 1], xy[2 * j], xy[2 * j + 1], which == 1,
                                     which == 1 ? lo[2 * i + 1] : 0, which == 1 ? lo[2 * j + 1] : 0);
            }
        }
    }
    return hits;
}

static void draw_legend_key(cairo_t *cr, const legend_item *it, double x, double yc) {
    double w = LEGEND_SWATCH;
    if (it->kind == KEY_RUN || it->kind == KEY_MINMAX || it->kind == KEY_STD) {
        cairo_rectangle(cr, x, yc - 5, w, 10);
        set_rgb(cr, it->rgb, ESFT_PLOT_BAND_ALPHA * (it->kind == KEY_STD ? 2 : 1));
        cairo_fill(cr);
        if (it->kind != KEY_RUN) { /* grey bands need an edge to be seen */
            cairo_rectangle(cr, x + 0.5, yc - 4.5, w - 1, 9);
            set_rgb(cr, it->rgb, 0.45);
            cairo_set_line_width(cr, 1.0);
            cairo_stroke(cr);
        }
    }
    if (it->kind == KEY_RUN || it->kind == KEY_EVAL_ACC) {
        double xy[4] = {x, yc, x + w, yc};
        draw_line(cr, xy, 2, it->kind == KEY_RUN ? 2.0 : 1.5, it->kind == KEY_EVAL_ACC, it->rgb);
    }
    if (it->kind == KEY_EVAL_ACC || it->kind == KEY_EVAL_REWARD)
        draw_marker(cr, x + w / 2, yc, it->kind == KEY_EVAL_REWARD, it->rgb);
}

/* A framed box in the plot area's emptiest corner. */
static void draw_legend(cairo_t *cr, const esft_plot_run *runs, int n_runs,
                        const esft_plot_layout *L, double *xy, double *xy_lo) {
    legend_item items[LEGEND_MAX];
    int n = legend_build(runs, n_runs, items);
    set_font(cr, FS_LEGEND, false);
    double text_max = 0.4 * (L->right - L->left) - LEGEND_SWATCH - 3 * LEGEND_PAD, tw = 0;
    for (int i = 0; i < n; i++) {
        char full[sizeof items[0].text];
        memcpy(full, items[i].text, sizeof full);
        fit_text(cr, full, text_max, items[i].text, sizeof items[i].text);
        tw = fmax(tw, text_width(cr, items[i].text));
    }
    double w = LEGEND_PAD * 3 + LEGEND_SWATCH + tw, h = LEGEND_PAD * 2 + n * LEGEND_ROW - 3;
    /* candidates: the corners, then the middles of the top and bottom edges */
    double inset = 8, best_x = 0, best_y = 0;
    double xs[3] = {L->left + inset, L->right - inset - w, round((L->left + L->right - w) / 2)};
    double ys[2] = {L->top + inset, L->bottom - inset - h};
    static const int cand[6][2] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}, {2, 0}, {2, 1}};
    int best = INT_MAX;
    for (int c = 0; c < 6; c++) {
        box b = {xs[cand[c][0]], ys[cand[c][1]], xs[cand[c][0]] + w, ys[cand[c][1]] + h};
        int hits = curve_hits(runs, n_runs, L, &b, xy, xy_lo);
        if (hits < best) {
            best = hits;
            best_x = b.x0;
            best_y = b.y0;
        }
    }
    cairo_rectangle(cr, round(best_x) + 0.5, round(best_y) + 0.5, round(w), round(h));
    set_rgb(cr, 0xFFFFFF, 0.88);
    cairo_fill_preserve(cr);
    set_rgb(cr, 0xCCCCCC, 1.0);
    cairo_set_line_width(cr, 1.0);
    cairo_stroke(cr);
    for (int i = 0; i < n; i++) {
        double yc = best_y + LEGEND_PAD + (i + 0.5) * LEGEND_ROW - 1.5;
        draw_legend_key(cr, &items[i], best_x + LEGEND_PAD, yc);
        draw_text(cr, best_x + 2 * LEGEND_PAD + LEGEND_SWATCH, yc + 0.36 * FS_LEGEND, items[i].text,
                  0.0, RGB_TEXT);
    }
}

/* ---- summary line under the title ---- */

static void summary(const esft_plot_run *runs, int n_runs, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int r = 0; r < n_runs && len < cap; r++) {
        const esft_plot_data *d = &runs[r].data;
        int best = 0, last_acc = -1;
        for (int i = 0; i < d->n; i++) {
            if (d->pts[i].mean > d->pts[best].mean) best = i;
            if (!isnan(d->pts[i].eval_acc)) last_acc = i;
        }
        char acc[48] = "";
        if (last_acc >= 0)
            snprintf(acc, sizeof acc, "%slast eval acc %.1f%%", n_runs == 1 ? " \xc2\xb7 " : ", ",
                     100.0 * d->pts[last_acc].eval_acc);
        int k;
        if (n_runs == 1)
            k = snprintf(buf, cap, "%d iteration%s \xc2\xb7 last mean %.4g \xc2\xb7 best mean %.4g (iter %.0f)%s",
                         d->n, d->n == 1 ? "" : "s", d->pts[d->n - 1].mean, d->pts[best].mean,
                         d->pts[best].iter, acc);
        else
            k = snprintf(buf + len, cap - len, "%s%s: best mean %.4g (iter %.0f)%s", r ? "  \xc2\xb7  " : "",
                         runs[r].name, d->pts[best].mean, d->pts[best].iter, acc);
        if (k > 0) len += (size_t)k;
    }
}

/* xy: room for 4 * max_points numbers. */
static void draw_figure(cairo_t *cr, const esft_plot_run *runs, int n_runs, const char *title,
                        const esft_plot_layout *L, double *xy, int max_points) {
    set_rgb(cr, 0xFFFFFF, 1.0);
    cairo_paint(cr);
    draw_axes(cr, L);

    cairo_save(cr);
    double slack = 5; /* markers on the edge stay whole */
    cairo_rectangle(cr, L->left - slack, L->top - slack, L->right - L->left + 2 * slack,
                    L->bottom - L->top + 2 * slack);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (int r = 0; r < n_runs; r++) draw_run(cr, &runs[r].data, L, esft_plot_run_rgb(r), xy);
    cairo_restore(cr);

    draw_frame_and_ticks(cr, L);
    draw_legend(cr, runs, n_runs, L, xy, xy + 2 * max_points);

    char buf[1024], line[1024];
    set_font(cr, FS_TITLE, true);
    fit_text(cr, title, L->width - 2 * MARGIN, line, sizeof line);
    draw_text(cr, L->width / 2.0, TITLE_BASE, line, 0.5, RGB_TEXT);
    set_font(cr, FS_SUB, false);
    summary(runs, n_runs, buf, sizeof buf);
    fit_text(cr, buf, L->width - 2 * MARGIN, line, sizeof line);
    draw_text(cr, L->width / 2.0, SUB_BASE, line, 0.5, RGB_SUBTEXT);
}

/* ------------------------------------------------------------------------ */
/* Output                                                                   */

/* The encoded file, collected in memory and then written atomically. */
typedef struct byte_buf {
    unsigned char *p;
    size_t n, cap;
    bool failed; /* a write ran out of memory */
} byte_buf;

static cairo_status_t buf_write(void *closure, const unsigned char *data, unsigned int len) {
    byte_buf *b = closure;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->n + len) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return CAIRO_STATUS_WRITE_ERROR;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return CAIRO_STATUS_SUCCESS;
}

static void xml_escaped(byte_buf *b, const char *s) {
    for (; *s; s++) {
        const char *e = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : NULL;
        if (e)
            buf_write(b, (const unsigned char *)e, (unsigned)strlen(e));
        else
            buf_write(b, (const unsigned char *)s, 1);
    }
}

static void xml_raw(byte_buf *b, const char *s) {
    buf_write(b, (const unsigned char *)s, (unsigned)strlen(s));
}

/* Cairo draws SVG text as glyph outlines; a <title> and <desc> keep the
 * words (for search, screen readers and tests). Inserted after <svg ...>. */
static bool svg_add_text(byte_buf *b, const esft_plot_run *runs, int n_runs, const char *title) {
    size_t at = 0;
    while (at + 4 <= b->n && memcmp(b->p + at, "<svg", 4) != 0) at++;
    while (at < b->n && b->p[at] != '>') at++;
    if (at >= b->n) return false;
    at++;
    byte_buf out = {0};
    buf_write(&out, b->p, (unsigned)at);
    xml_raw(&out, "\n<title>");
    xml_escaped(&out, title);
    xml_raw(&out, n_runs > 0 && runs[0].data.x_seconds ? "</title>\n<desc>reward against training time; runs:"
                                                         : "</title>\n<desc>reward per iteration; runs:");
    legend_item items[LEGEND_MAX];
    int n = legend_build(runs, n_runs, items);
    for (int i = 0; i < n; i++) {
        xml_raw(&out, i == 0 ? " " : i < n_runs ? ", " : "; ");
        xml_escaped(&out, items[i].text);
    }
    xml_raw(&out, "</desc>");
    buf_write(&out, b->p + at, (unsigned)(b->n - at));
    if (out.failed) {
        free(out.p);
        return false;
    }
    free(b->p);
    *b = out;
    return true;
}

static cairo_surface_t *surface_for(esft_plot_format fmt, const esft_plot_layout *L, byte_buf *b,
                                    const char *title) {
    cairo_surface_t *s = NULL;
    if (fmt == ESFT_PLOT_PNG) {
        s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, L->width, L->height);
    } else if (fmt == ESFT_PLOT_SVG) {
        s = cairo_svg_surface_create_for_stream(buf_write, b, L->width, L->height);
        cairo_svg_surface_set_document_unit(s, CAIRO_SVG_UNIT_PX);
    } else {
        s = cairo_pdf_surface_create_for_stream(buf_write, b, L->width, L->height);
        cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_TITLE, title);
        cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATOR, "esft plot");
    }
    return s;
}

esft_status esft_plot_write(const esft_plot_run *runs, int n_runs, const char *title,
                            const char *path, esft_err *err) {
    esft_plot_format fmt = esft_plot_format_of(path);
    if (fmt == ESFT_PLOT_NONE)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "%s: output must end in .png, .svg or .pdf", path);
    if (n_runs < 1 || n_runs > ESFT_PLOT_MAX_RUNS)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "%s: %d runs (1 to %d can share a figure)", path,
                         n_runs, ESFT_PLOT_MAX_RUNS);
    esft_status st = esft_atomic_check_target(path, err); /* before the work of drawing */
    if (st) return st;
    esft_plot_layout L;
    esft_plot_compute_layout(runs, n_runs, &L);
    int max_n = 1;
    for (int r = 0; r < n_runs; r++) max_n = runs[r].data.n > max_n ? runs[r].data.n : max_n;
    double *xy = malloc((size_t)max_n * 4 * sizeof *xy);
    byte_buf b = {0};
    cairo_surface_t *s = xy ? surface_for(fmt, &L, &b, title) : NULL;
    if (!s) {
        free(xy);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    cairo_t *cr = cairo_create(s);
    draw_figure(cr, runs, n_runs, title, &L, xy, max_n);
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    free(xy);
    if (cs == CAIRO_STATUS_SUCCESS && fmt == ESFT_PLOT_PNG)
        cs = cairo_surface_write_to_png_stream(s, buf_write, &b);
    cairo_surface_finish(s); /* SVG and PDF write here */
    if (cs == CAIRO_STATUS_SUCCESS) cs = cairo_surface_status(s);
    cairo_surface_destroy(s);
    if (cs == CAIRO_STATUS_SUCCESS && fmt == ESFT_PLOT_SVG && !svg_add_text(&b, runs, n_runs, title))
        cs = CAIRO_STATUS_NO_MEMORY;
    if (cs == CAIRO_STATUS_SUCCESS)
        st = esft_atomic_write(path, b.p, b.n, err);
    else
        st = esft_errf(err, ESFT_ERR_IO, "%s: drawing failed: %s", path, cairo_status_to_string(cs));
    free(b.p);
    return st;
}

#else /* no cairo: the parser, layout and names still work */

esft_status esft_plot_write(const esft_plot_run *runs, int n_runs, const char *title,
                            const char *path, esft_err *err) {
    (void)runs, (void)n_runs, (void)title;
    return esft_errf(err, ESFT_ERR_UNSUPPORTED,
                     "%s: this esft was built without cairo, which plots are drawn with "
                     "(install libcairo2-dev and rebuild)", path);
}

#endif

/* ------------------------------------------------------------------------ */

esft_plot_format esft_plot_format_of(const char *path) {
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash) || dot == path || (slash && dot == slash + 1))
        return ESFT_PLOT_NONE;
    if (strcasecmp(dot, ".png") == 0) return ESFT_PLOT_PNG;
    if (strcasecmp(dot, ".svg") == 0) return ESFT_PLOT_SVG;
    if (strcasecmp(dot, ".pdf") == 0) return ESFT_PLOT_PDF;
    return ESFT_PLOT_NONE;
}

static void default_title(const char *const *paths, const esft_plot_run *runs, int n, char *buf,
                          size_t cap) {
    if (n == 1) {
        const char *slash = strrchr(paths[0], '/');
        int dir_len = slash && slash != paths[0] ? (int)(slash - paths[0]) : (int)strlen(paths[0]);
        snprintf(buf, cap, "Reward: %.*s", dir_len, paths[0]);
        return;
    }
    size_t len = (size_t)snprintf(buf, cap, "Reward:");
    for (int r = 0; r < n && len < cap; r++) {
        int k = snprintf(buf + len, cap - len, "%s %s", r ? " vs" : "", runs[r].name);
        if (k > 0) len += (size_t)k;
    }
}

esft_status esft_plot_metrics(const char *const *jsonl_paths, int n, const char *out_path,
                              const char *title, esft_err *err) {
    return esft_plot_metrics_by(jsonl_paths, n, out_path, title, ESFT_PLOT_BY_ITER, err);
}

esft_status esft_plot_metrics_by(const char *const *jsonl_paths, int n, const char *out_path,
                                 const char *title, esft_plot_by by, esft_err *err) {
    if (esft_plot_format_of(out_path) == ESFT_PLOT_NONE)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "%s: output must end in .png, .svg or .pdf", out_path);
    if (n < 1 || n > ESFT_PLOT_MAX_RUNS)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "%d metrics files (1 to %d can share a figure)", n,
                         ESFT_PLOT_MAX_RUNS);
    esft_plot_run runs[ESFT_PLOT_MAX_RUNS] = {{0}};
    char *names[ESFT_PLOT_MAX_RUNS] = {0};
    esft_status st = ESFT_OK;
    for (int r = 0; r < n && st == ESFT_OK; r++) {
        st = esft_plot_load(jsonl_paths[r], &runs[r].data, err);
        if (st == ESFT_OK && by == ESFT_PLOT_BY_TIME) st = esft_plot_use_seconds(&runs[r].data, jsonl_paths[r], err);
    }
    if (st == ESFT_OK && !esft_plot_run_names(jsonl_paths, n, names))
        st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", out_path);
    if (st == ESFT_OK) {
        for (int r = 0; r < n; r++) runs[r].name = names[r];
        char def[1024];
        if (!title) default_title(jsonl_paths, runs, n, def, sizeof def);
        st = esft_plot_write(runs, n, title ? title : def, out_path, err);
    }
    for (int r = 0; r < n; r++) {
        esft_plot_data_free(&runs[r].data);
        free(names[r]);
    }
    return st;
}
