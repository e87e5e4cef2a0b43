/* Reward-curve charts: metrics.jsonl -> SVG, or PNG through a small software
 * rasteriser (supersampled fills, a built-in 5x7 bitmap font, stored-block
 * PNG). See plot.h. */
#include "plot.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
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
                                               "reward_max", "eval_reward"};
        const char *huge = out_of_range(obj, all_keys, 6);
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
                                               "eval_accuracy", "eval_reward"};
        double v[5];
        bool have[5];
        for (int k = 0; k < 5; k++) {
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

void esft_plot_data_free(esft_plot_data *d) {
    free(d->pts);
    memset(d, 0, sizeof *d);
}

/* ------------------------------------------------------------------------ */
/* Bitmap font: 5 columns, 7 rows above the baseline, 2 below (descenders).  */

typedef struct glyph {
    uint32_t cp;
    const char *rows[9]; /* '#' = ink; missing rows are blank */
} glyph;

static const glyph font[] = {
    {' ', {"....."}},
    {'!', {"..#..", "..#..", "..#..", "..#..", "..#..", ".....", "..#.."}},
    {'"', {".#.#.", ".#.#.", ".#.#."}},
    {'#', {".#.#.", ".#.#.", "#####", ".#.#.", "#####", ".#.#.", ".#.#."}},
    {'$', {"..#..", ".####", "#.#..", ".###.", "..#.#", "####.", "..#.."}},
    {'%', {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"}},
    {'&', {".##..", "#..#.", "#.#..", ".#...", "#.#.#", "#..#.", ".##.#"}},
    {'\'', {"..#..", "..#..", "..#.."}},
    {'(', {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."}},
    {')', {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."}},
    {'*', {".....", "..#..", "#.#.#", ".###.", "#.#.#", "..#..", "....."}},
    {'+', {".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."}},
    {',', {".....", ".....", ".....", ".....", ".....", ".##..", ".##..", "..#..", ".#..."}},
    {'-', {".....", ".....", ".....", "####.", ".....", ".....", "....."}},
    {'.', {".....", ".....", ".....", ".....", ".....", "##...", "##..."}},
    {'/', {"....#", "...#.", "...#.", "..#..", ".#...", ".#...", "#...."}},
    {'0', {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."}},
    {'1', {"..#..", ".##..", "#.#..", "..#..", "..#..", "..#..", "#####"}},
    {'2', {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"}},
    {'3', {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."}},
    {'4', {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."}},
    {'5', {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."}},
    {'6', {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."}},
    {'7', {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."}},
    {'8', {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."}},
    {'9', {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."}},
    {':', {".....", "##...", "##...", ".....", "##...", "##...", "....."}},
    {';', {".....", ".##..", ".##..", ".....", ".##..", ".##..", "..#..", ".#..."}},
    {'<', {"...#.", "..#..", ".#...", "#....", ".#...", "..#..", "...#."}},
    {'=', {".....", ".....", "#####", ".....", "#####", ".....", "....."}},
    {'>', {".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#..."}},
    {'?', {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."}},
    {'@', {".###.", "#...#", "....#", ".##.#", "#.#.#", "#.#.#", ".###."}},
    {'A', {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}},
    {'B', {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."}},
    {'C', {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."}},
    {'D', {"###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.."}},
    {'E', {"#####", "#....", "#....", "####.", "#....", "#....", "#####"}},
    {'F', {"#####", "#....", "#....", "####.", "#....", "#....", "#...."}},
    {'G', {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"}},
    {'H', {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"}},
    {'I', {"###..", ".#...", ".#...", ".#...", ".#...", ".#...", "###.."}},
    {'J', {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."}},
    {'K', {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"}},
    {'L', {"#....", "#....", "#....", "#....", "#....", "#....", "#####"}},
    {'M', {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"}},
    {'N', {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"}},
    {'O', {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}},
    {'P', {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."}},
    {'Q', {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"}},
    {'R', {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"}},
    {'S', {".####", "#....", "#....", ".###.", "....#", "....#", "####."}},
    {'T', {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."}},
    {'U', {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."}},
    {'V', {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
    {'W', {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."}},
    {'X', {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"}},
    {'Y', {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."}},
    {'Z', {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"}},
    {'[', {"###..", "#....", "#....", "#....", "#....", "#....", "###.."}},
    {'\\', {"#....", ".#...", ".#...", "..#..", "...#.", "...#.", "....#"}},
    {']', {"###..", "..#..", "..#..", "..#..", "..#..", "..#..", "###.."}},
    {'^', {"..#..", ".#.#.", "#...#"}},
    {'_', {".....", ".....", ".....", ".....", ".....", ".....", ".....", "#####"}},
    {'`', {".#...", "..#.."}},
    {'a', {".....", ".....", ".###.", "....#", ".####", "#...#", ".####"}},
    {'b', {"#....", "#....", "####.", "#...#", "#...#", "#...#", "####."}},
    {'c', {".....", ".....", ".###.", "#....", "#....", "#...#", ".###."}},
    {'d', {"....#", "....#", ".####", "#...#", "#...#", "#...#", ".####"}},
    {'e', {".....", ".....", ".###.", "#...#", "#####", "#....", ".###."}},
    {'f', {"..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."}},
    {'g', {".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", ".###."}},
    {'h', {"#....", "#....", "####.", "#...#", "#...#", "#...#", "#...#"}},
    {'i', {".#...", ".....", "##...", ".#...", ".#...", ".#...", "###.."}},
    {'j', {"...#.", ".....", "..##.", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."}},
    {'k', {"#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."}},
    {'l', {"##...", ".#...", ".#...", ".#...", ".#...", ".#...", "###.."}},
    {'m', {".....", ".....", "##.#.", "#.#.#", "#.#.#", "#.#.#", "#.#.#"}},
    {'n', {".....", ".....", "####.", "#...#", "#...#", "#...#", "#...#"}},
    {'o', {".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."}},
    {'p', {".....", ".....", "####.", "#...#", "#...#", "#...#", "####.", "#....", "#...."}},
    {'q', {".....", ".....", ".####", "#...#", "#...#", "#...#", ".####", "....#", "....#"}},
    {'r', {".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."}},
    {'s', {".....", ".....", ".####", "#....", ".###.", "....#", "####."}},
    {'t', {".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."}},
    {'u', {".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"}},
    {'v', {".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
    {'w', {".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#."}},
    {'x', {".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"}},
    {'y', {".....", ".....", "#...#", "#...#", "#...#", "#...#", ".####", "....#", ".###."}},
    {'z', {".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"}},
    {'{', {"...##", "..#..", "..#..", ".#...", "..#..", "..#..", "...##"}},
    {'|', {"#....", "#....", "#....", "#....", "#....", "#....", "#....", "#...."}},
    {'}', {"##...", "..#..", "..#..", "...#.", "..#..", "..#..", "##..."}},
    {'~', {".....", ".....", ".#...", "#.#.#", "...#.", ".....", "....."}},
    {0xB1, {"..#..", "..#..", "#####", "..#..", "..#..", ".....", "#####"}}, /* ± */
    {0xB7, {".....", ".....", ".....", "#....", ".....", ".....", "....."}}, /* · */
    {0xB0, {".##..", "#..#.", ".##.."}},                                     /* ° */
    {0xD7, {".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "....."}}, /* × */
    {0x2013, {".....", ".....", ".....", "####.", ".....", ".....", "....."}}, /* – */
    {0x2014, {".....", ".....", ".....", "#####", ".....", ".....", "....."}}, /* — */
};
static const glyph unknown_glyph = {'?', {"#####", "#...#", "#...#", "#...#", "#...#", "#...#", "#####"}};

#define FONT_CAP 7   /* rows above the baseline */
#define FONT_ROWS 9  /* with descenders */

static const glyph *find_glyph(uint32_t cp) {
    /* Latin-1 letters with diacritics: drawn as their base letter. */
    static const char latin1[] = "AAAAAAACEEEEIIIIDNOOOOO\xd7OUUUUYPsaaaaaaaceeeeiiiidnooooo\xf7ouuuuypy";
    if (cp >= 0xC0 && cp <= 0xFF && cp != 0xD7 && cp != 0xF7) cp = (unsigned char)latin1[cp - 0xC0];
    for (size_t i = 0; i < sizeof font / sizeof font[0]; i++)
        if (font[i].cp == cp) return &font[i];
    return &unknown_glyph;
}

static bool glyph_ink(const glyph *g, int row, int col) {
    const char *r = row < FONT_ROWS ? g->rows[row] : NULL;
    return r && col < (int)strlen(r) && r[col] == '#';
}

/* Columns [*c0, *c1) the glyph occupies: digits are all 5 wide (aligned
 * tick labels), other glyphs are trimmed to their ink; space is 3. */
static void glyph_span(const glyph *g, int *c0, int *c1) {
    if ((g->cp >= '0' && g->cp <= '9') || g->cp == 0xB1) {
        *c0 = 0;
        *c1 = 5;
        return;
    }
    int lo = 5, hi = 0;
    for (int r = 0; r < FONT_ROWS; r++)
        for (int c = 0; c < 5; c++)
            if (glyph_ink(g, r, c)) {
                if (c < lo) lo = c;
                if (c + 1 > hi) hi = c + 1;
            }
    if (hi == 0) {
        lo = 0;
        hi = 3;
    }
    *c0 = lo;
    *c1 = hi;
}

/* Next code point of a UTF-8 string; malformed bytes read as U+FFFD. */
static uint32_t utf8_next(const char **s) {
    const unsigned char *p = (const unsigned char *)*s;
    uint32_t c = p[0];
    int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0) {
        *s += 1;
        return 0xFFFD;
    }
    if (n > 0) c &= 0x3F >> n;
    for (int i = 1; i <= n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *s += i;
            return 0xFFFD;
        }
        c = (c << 6) | (p[i] & 0x3F);
    }
    *s += n + 1;
    return c;
}

/* Width in font pixels of s (1 column between glyphs). */
static int text_cols(const char *s) {
    int w = 0;
    bool first = true;
    while (*s) {
        const glyph *g = find_glyph(utf8_next(&s));
        int c0, c1;
        glyph_span(g, &c0, &c1);
        w += (first ? 0 : 1) + (c1 - c0);
        first = false;
    }
    return w;
}

/* ------------------------------------------------------------------------ */
/* Layout, shared by both formats                                            */

#define FP_TITLE 3.0 /* screen pixels per font pixel */
#define FP_TEXT 2.0  /* ticks, axis labels, legend */
#define FP_SMALL 1.5 /* subtitle */
#define MARGIN 14.0
#define TITLE_TOP 10.0
#define SUBTITLE_TOP 38.0
#define LEGEND_TOP 59.0
#define PLOT_TOP 88.0
#define TICK_LEN 4.0
#define MAX_MARKERS 80 /* eval points drawn as markers up to this many */

static double text_px(const char *s, double fp) { return text_cols(s) * fp; }

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

/* First tick index: ticks are k*step for k in [first, last]. */
static long tick_first(const esft_plot_axis *a) { return (long)ceil(a->lo / a->step - 1e-9); }
static long tick_last(const esft_plot_axis *a) { return (long)floor(a->hi / a->step + 1e-9); }

static void y_range(const esft_plot_data *d, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < d->n; i++) {
        const esft_plot_point *p = &d->pts[i];
        double a = fmin(p->min, p->mean - p->std), b = fmax(p->max, p->mean + p->std);
        if (!isnan(p->eval_reward)) {
            a = fmin(a, p->eval_reward);
            b = fmax(b, p->eval_reward);
        }
        *lo = fmin(*lo, a);
        *hi = fmax(*hi, b);
    }
}

void esft_plot_compute_layout(const esft_plot_data *d, esft_plot_layout *L) {
    memset(L, 0, sizeof *L);
    L->width = ESFT_PLOT_WIDTH;
    L->height = ESFT_PLOT_HEIGHT;
    L->right_axis = d->n_eval_acc > 0;

    double lo, hi;
    y_range(d, &lo, &hi);
    if (!(hi - lo > 1e-9 * fmax(1.0, fmax(fabs(lo), fabs(hi))))) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1.0;
        lo -= pad;
        hi += pad;
    }
    L->y.step = esft_plot_nice_step(hi - lo, 6);
    L->y.lo = floor(lo / L->y.step + 1e-9) * L->y.step;
    L->y.hi = ceil(hi / L->y.step - 1e-9) * L->y.step;

    double x0 = d->pts[0].iter, x1 = d->pts[d->n - 1].iter;
    if (x1 <= x0) { /* one iteration: centred, its own tick only */
        x0 -= 0.5;
        x1 += 0.5;
    }
    L->x.lo = x0;
    L->x.hi = x1;

    /* Margins from the widest tick labels. */
    double ylab_w = 0;
    char buf[64];
    for (long k = tick_first(&L->y); k <= tick_last(&L->y); k++) {
        esft_plot_format_tick(k * L->y.step, L->y.step, buf, sizeof buf);
        ylab_w = fmax(ylab_w, text_px(buf, FP_TEXT));
    }
    L->left = round(MARGIN + FONT_CAP * FP_TEXT + 12 + ylab_w + TICK_LEN + 6);
    if (L->right_axis)
        L->right = round(L->width - (MARGIN + FONT_CAP * FP_TEXT + 12 + text_px("100%", FP_TEXT) +
                                     TICK_LEN + 5));
    else
        L->right = L->width - 32;
    L->top = PLOT_TOP;
    L->bottom = L->height - round(MARGIN + FONT_CAP * FP_TEXT + 10 + FONT_CAP * FP_TEXT + TICK_LEN + 6);

    /* x ticks: about one per 90 px, never finer than one iteration. */
    int target = (int)((L->right - L->left) / 90);
    if (target < 2) target = 2;
    L->x.step = esft_plot_nice_step(x1 - x0, target);
    if (L->x.step < 1) L->x.step = 1;
}

double esft_plot_x_px(const esft_plot_layout *L, double iter) {
    return L->left + (iter - L->x.lo) / (L->x.hi - L->x.lo) * (L->right - L->left);
}

double esft_plot_y_px(const esft_plot_layout *L, double v) {
    return L->bottom - (v - L->y.lo) / (L->y.hi - L->y.lo) * (L->bottom - L->top);
}

double esft_plot_acc_px(const esft_plot_layout *L, double acc) {
    return L->bottom - acc * (L->bottom - L->top);
}

/* Colours. */
typedef struct rgb {
    uint8_t r, g, b;
} rgb;
static const rgb C_BG = {255, 255, 255};
static const rgb C_GRID = {230, 230, 230};
static const rgb C_FRAME = {160, 160, 160};
static const rgb C_TEXT = {40, 40, 40};
static const rgb C_SUBTEXT = {110, 110, 110};
#define RGB_HEX(v) {(uint8_t)((v) >> 16), (uint8_t)((v) >> 8), (uint8_t)(v)}
static const rgb C_MINMAX = RGB_HEX(ESFT_PLOT_RGB_MINMAX);
static const rgb C_STD = RGB_HEX(ESFT_PLOT_RGB_STD);
static const rgb C_MEAN = RGB_HEX(ESFT_PLOT_RGB_MEAN);
static const rgb C_EVAL_ACC = RGB_HEX(ESFT_PLOT_RGB_EVAL_ACC);
static const rgb C_EVAL_REW = RGB_HEX(ESFT_PLOT_RGB_EVAL_REWARD);

static void hex(rgb c, char out[8]) { snprintf(out, 8, "#%02x%02x%02x", c.r, c.g, c.b); }

/* The chart's text, shared by both formats. */
typedef struct legend_item {
    const char *label; /* UTF-8 */
    int kind;          /* 0 line, 1 band, 2 line + disc, 3 line + square */
    rgb color;
} legend_item;

typedef struct chart_text {
    char subtitle[256];
    legend_item legend[5];
    int n_legend;
    double legend_x[5]; /* left edge of each item's swatch */
} chart_text;

#define SWATCH_W 22.0
#define LEGEND_GAP 28.0

static void fmt_num(double v, char *buf, size_t cap) { snprintf(buf, cap, "%.4g", v); }

static double measure_png(const char *s) { return text_px(s, FP_TEXT); }

/* DejaVu Sans / Helvetica average about 0.6 em per character. */
#define SVG_TS 13.0    /* tick, label, legend font size */
#define SVG_TITLE 20.0 /* title font size */
static double measure_svg(const char *s) {
    int n = 0;
    while (*s) {
        utf8_next(&s);
        n++;
    }
    return n * 0.6 * SVG_TS;
}

/* Legend positions use measure() for text widths. */
static void chart_text_build(const esft_plot_data *d, const esft_plot_layout *L, chart_text *T,
                             double (*measure)(const char *)) {
    memset(T, 0, sizeof *T);
    const esft_plot_point *last = &d->pts[d->n - 1];
    int best = 0;
    for (int i = 1; i < d->n; i++)
        if (d->pts[i].mean > d->pts[best].mean) best = i;
    char a[32], b[32], c[32];
    fmt_num(last->mean, a, sizeof a);
    fmt_num(d->pts[best].mean, b, sizeof b);
    snprintf(c, sizeof c, "%.0f", d->pts[best].iter);
    int n = snprintf(T->subtitle, sizeof T->subtitle,
                     "%d iteration%s \xc2\xb7 last mean %s \xc2\xb7 best mean %s (iter %s)", d->n,
                     d->n == 1 ? "" : "s", a, b, c);
    for (int i = d->n - 1; i >= 0 && n > 0 && (size_t)n < sizeof T->subtitle; i--)
        if (!isnan(d->pts[i].eval_acc)) {
            snprintf(T->subtitle + n, sizeof T->subtitle - (size_t)n,
                     " \xc2\xb7 last eval acc %.1f%%", 100.0 * d->pts[i].eval_acc);
            break;
        }

    T->legend[T->n_legend++] = (legend_item){"mean reward", 0, C_MEAN};
    if (d->has_std) T->legend[T->n_legend++] = (legend_item){"mean \xc2\xb1 std", 1, C_STD};
    if (d->has_minmax) T->legend[T->n_legend++] = (legend_item){"min\xe2\x80\x93max", 1, C_MINMAX};
    if (d->n_eval_reward) T->legend[T->n_legend++] = (legend_item){"eval reward", 3, C_EVAL_REW};
    if (d->n_eval_acc)
        T->legend[T->n_legend++] = (legend_item){"eval accuracy", 2, C_EVAL_ACC};
    double total = 0;
    for (int i = 0; i < T->n_legend; i++)
        total += (i ? LEGEND_GAP : 0) + SWATCH_W + 6 + measure(T->legend[i].label);
    double x = round((L->left + L->right) / 2 - total / 2);
    if (x < MARGIN) x = MARGIN;
    for (int i = 0; i < T->n_legend; i++) {
        T->legend_x[i] = x;
        x += SWATCH_W + 6 + measure(T->legend[i].label) + LEGEND_GAP;
    }
}

static const char *default_axis_x = "iteration";
static const char *default_axis_y = "reward";
static const char *default_axis_r = "eval accuracy";

/* ------------------------------------------------------------------------ */
/* Rasteriser: everything is drawn at SS x SS samples per pixel, opaque or   */
/* alpha-blended, then box-filtered down: antialiasing for free.             */

#define SS 4

typedef struct canvas {
    int w, h; /* in samples */
    uint8_t *px;
} canvas;

static void cv_span(canvas *cv, int y, int x0, int x1, rgb c, int a) {
    if (y < 0 || y >= cv->h) return;
    if (x0 < 0) x0 = 0;
    if (x1 > cv->w) x1 = cv->w;
    if (x0 >= x1) return;
    uint8_t *p = cv->px + ((size_t)y * cv->w + (size_t)x0) * 3;
    for (int x = x0; x < x1; x++, p += 3) {
        if (a >= 255) {
            p[0] = c.r;
            p[1] = c.g;
            p[2] = c.b;
        } else {
            p[0] = (uint8_t)(p[0] + ((c.r - p[0]) * a + 127) / 255);
            p[1] = (uint8_t)(p[1] + ((c.g - p[1]) * a + 127) / 255);
            p[2] = (uint8_t)(p[2] + ((c.b - p[2]) * a + 127) / 255);
        }
    }
}

/* Samples whose centres lie in [v0, v1) (pixel units). */
static int s_lo(double v) { return (int)ceil(v * SS - 0.5); }

static void cv_rect(canvas *cv, double x0, double y0, double x1, double y1, rgb c, int a) {
    int i0 = s_lo(x0), i1 = s_lo(x1), j0 = s_lo(y0), j1 = s_lo(y1);
    for (int j = j0; j < j1; j++) cv_span(cv, j, i0, i1, c, a);
}

typedef struct xing {
    double x;
    int dir;
} xing;

static int cmp_xing(const void *a, const void *b) {
    double p = ((const xing *)a)->x, q = ((const xing *)b)->x;
    return (p > q) - (p < q);
}

/* Filled polygon (pixel coordinates xy[2*i], xy[2*i+1]), nonzero winding. */
static void cv_poly(canvas *cv, const double *xy, int n, rgb c, int a) {
    if (n < 3) return;
    double ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < n; i++) {
        ymin = fmin(ymin, xy[2 * i + 1]);
        ymax = fmax(ymax, xy[2 * i + 1]);
    }
    int j0 = s_lo(ymin), j1 = s_lo(ymax);
    if (j0 < 0) j0 = 0;
    if (j1 > cv->h) j1 = cv->h;
    xing small[16];
    xing *xs = n <= 16 ? small : malloc((size_t)n * sizeof *xs);
    if (!xs) return;
    for (int j = j0; j < j1; j++) {
        double yc = (j + 0.5) / SS;
        int m = 0;
        for (int i = 0; i < n; i++) {
            int k = (i + 1) % n;
            double ya = xy[2 * i + 1], yb = xy[2 * k + 1];
            int dir = (ya <= yc && yb > yc) ? 1 : (yb <= yc && ya > yc) ? -1 : 0;
            if (!dir) continue;
            double xa = xy[2 * i], xb = xy[2 * k];
            xs[m].x = xa + (yc - ya) * (xb - xa) / (yb - ya);
            xs[m++].dir = dir;
        }
        if (m > 1) qsort(xs, (size_t)m, sizeof *xs, cmp_xing);
        int wind = 0;
        for (int q = 0; q + 1 < m; q++) {
            wind += xs[q].dir;
            if (wind) cv_span(cv, j, s_lo(xs[q].x), s_lo(xs[q + 1].x), c, a);
        }
    }
    if (xs != small) free(xs);
}

static void cv_disc(canvas *cv, double cx, double cy, double r, rgb c, int a) {
    int j0 = s_lo(cy - r), j1 = s_lo(cy + r), i0 = s_lo(cx - r), i1 = s_lo(cx + r);
    for (int j = j0; j < j1; j++) {
        double dy = (j + 0.5) / SS - cy;
        double h = r * r - dy * dy;
        if (h < 0) continue;
        double w = sqrt(h);
        int a0 = s_lo(cx - w), a1 = s_lo(cx + w);
        cv_span(cv, j, a0 > i0 ? a0 : i0, a1 < i1 ? a1 : i1, c, a);
    }
}

/* Opaque polyline of the given width with round joins and caps. */
static void cv_polyline(canvas *cv, const double *xy, int n, double width, rgb c) {
    double h = width / 2;
    for (int i = 0; i + 1 < n; i++) {
        double x0 = xy[2 * i], y0 = xy[2 * i + 1], x1 = xy[2 * i + 2], y1 = xy[2 * i + 3];
        double dx = x1 - x0, dy = y1 - y0, len = sqrt(dx * dx + dy * dy);
        if (len < 1e-9) continue;
        double nx = -dy / len * h, ny = dx / len * h;
        double q[8] = {x0 + nx, y0 + ny, x1 + nx, y1 + ny, x1 - nx, y1 - ny, x0 - nx, y0 - ny};
        cv_poly(cv, q, 4, c, 255);
    }
    for (int i = 0; i < n; i++) cv_disc(cv, xy[2 * i], xy[2 * i + 1], h, c, 255);
}

enum { ANCHOR_START, ANCHOR_MIDDLE, ANCHOR_END };

/* Text with its cap top at y. vertical: reads bottom to top, glyph tops
 * facing left at x, anchored along y. Origins snap to whole pixels. */
static void cv_text(canvas *cv, double x, double y, const char *s, double fp, rgb c, int anchor,
                    bool vertical) {
    double w = text_px(s, fp);
    double off = anchor == ANCHOR_MIDDLE ? w / 2 : anchor == ANCHOR_END ? w : 0;
    x = round(x);
    y = round(y);
    double pen = 0;
    bool first = true;
    while (*s) {
        const glyph *g = find_glyph(utf8_next(&s));
        int c0, c1;
        glyph_span(g, &c0, &c1);
        if (!first) pen += 1;
        first = false;
        for (int r = 0; r < FONT_ROWS; r++)
            for (int col = c0; col < c1; col++) {
                if (!glyph_ink(g, r, col)) continue;
                double u = (pen + col - c0) * fp - off; /* along the text */
                double v = r * fp;                      /* across, downwards */
                if (vertical)
                    cv_rect(cv, x + v, round(y) - u - fp, x + v + fp, round(y) - u, c, 255);
                else
                    cv_rect(cv, x + u, y + v, x + u + fp, y + v + fp, c, 255);
            }
        pen += c1 - c0;
    }
}

/* ------------------------------------------------------------------------ */
/* PNG encoding: RGB, filter 0, zlib stream of stored deflate blocks.        */

/* CRC-32 (IEEE, reflected), bit by bit: a table would be global state, and
 * a ~1 MB image takes milliseconds either way. */
static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
    }
    return ~crc;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static bool png_chunk(FILE *f, const char type[4], const uint8_t *data, size_t len) {
    uint8_t hdr[8];
    put_be32(hdr, (uint32_t)len);
    memcpy(hdr + 4, type, 4);
    uint32_t crc = crc_update(crc_update(0, hdr + 4, 4), data, len);
    uint8_t tail[4];
    put_be32(tail, crc);
    return fwrite(hdr, 1, 8, f) == 8 && (len == 0 || fwrite(data, 1, len, f) == len) &&
           fwrite(tail, 1, 4, f) == 4;
}

/* Encodes w x h RGB pixels as a PNG file image in memory. */
static uint8_t *png_zlib(const uint8_t *rgbpx, int w, int h, size_t *out_len) {
    size_t row = (size_t)w * 3 + 1, raw_len = row * (size_t)h;
    size_t n_blocks = (raw_len + 65534) / 65535;
    if (n_blocks == 0) n_blocks = 1;
    size_t len = 2 + raw_len + 5 * n_blocks + 4;
    uint8_t *z = malloc(len);
    uint8_t *raw = malloc(raw_len);
    if (!z || !raw) {
        free(z);
        free(raw);
        return NULL;
    }
    for (int y = 0; y < h; y++) {
        raw[y * row] = 0; /* filter: none */
        memcpy(raw + y * row + 1, rgbpx + (size_t)y * w * 3, (size_t)w * 3);
    }
    size_t o = 0;
    z[o++] = 0x78; /* CM 8, 32K window */
    z[o++] = 0x01; /* FLEVEL 0; (0x78 << 8 | 0x01) % 31 == 0 */
    uint32_t s1 = 1, s2 = 0;
    size_t done = 0;
    for (size_t b = 0; b < n_blocks; b++) {
        size_t n = raw_len - done < 65535 ? raw_len - done : 65535;
        z[o++] = b + 1 == n_blocks ? 1 : 0; /* BFINAL, BTYPE 00 */
        z[o++] = (uint8_t)(n & 0xFF);
        z[o++] = (uint8_t)(n >> 8);
        z[o++] = (uint8_t)(~n & 0xFF);
        z[o++] = (uint8_t)((~n >> 8) & 0xFF);
        memcpy(z + o, raw + done, n);
        for (size_t i = 0; i < n; i++) {
            s1 = (s1 + raw[done + i]) % 65521;
            s2 = (s2 + s1) % 65521;
        }
        o += n;
        done += n;
    }
    put_be32(z + o, (s2 << 16) | s1);
    o += 4;
    free(raw);
    *out_len = o;
    return z;
}

/* ------------------------------------------------------------------------ */
/* Chart geometry helpers                                                    */

/* Band polygon: upper edge left to right, lower edge back. kind 0 min-max,
 * 1 mean +/- std. Returns the number of vertices (2n), xy has 4n doubles. */
static int band_poly(const esft_plot_data *d, const esft_plot_layout *L, int kind, double *xy) {
    int n = d->n;
    for (int i = 0; i < n; i++) {
        const esft_plot_point *p = &d->pts[i];
        double hi = kind == 0 ? p->max : p->mean + p->std;
        double lo = kind == 0 ? p->min : p->mean - p->std;
        double x = esft_plot_x_px(L, p->iter);
        xy[2 * i] = x;
        xy[2 * i + 1] = esft_plot_y_px(L, hi);
        xy[2 * (2 * n - 1 - i)] = x;
        xy[2 * (2 * n - 1 - i) + 1] = esft_plot_y_px(L, lo);
    }
    return 2 * n;
}

/* Points of one series: 0 mean, 1 eval reward, 2 eval accuracy. */
static int series(const esft_plot_data *d, const esft_plot_layout *L, int which, double *xy) {
    int m = 0;
    for (int i = 0; i < d->n; i++) {
        const esft_plot_point *p = &d->pts[i];
        double v = which == 0 ? p->mean : which == 1 ? p->eval_reward : p->eval_acc;
        if (isnan(v)) continue;
        xy[2 * m] = esft_plot_x_px(L, p->iter);
        xy[2 * m + 1] = which == 2 ? esft_plot_acc_px(L, v) : esft_plot_y_px(L, v);
        m++;
    }
    return m;
}

static void title_fit(const char *title, double max_px, double fp, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", title);
    if (text_px(buf, fp) <= max_px) return;
    size_t n = strlen(buf);
    while (n > 0) {
        n--;
        while (n > 0 && ((unsigned char)buf[n] & 0xC0) == 0x80) n--; /* whole code points */
        if (n + 4 > cap) continue;
        memcpy(buf + n, "...", 4);
        if (text_px(buf, fp) <= max_px) return;
    }
}

/* ------------------------------------------------------------------------ */
/* PNG                                                                       */

static void draw_marker(canvas *cv, double x, double y, bool square, rgb c) {
    if (square) {
        cv_rect(cv, x - 4.5, y - 4.5, x + 4.5, y + 4.5, C_BG, 255);
        cv_rect(cv, x - 3.5, y - 3.5, x + 3.5, y + 3.5, c, 255);
    } else {
        cv_disc(cv, x, y, 5.0, C_BG, 255);
        cv_disc(cv, x, y, 4.0, c, 255);
    }
}

esft_status esft_plot_write_png(const esft_plot_data *d, const char *title, const char *path,
                                esft_err *err) {
    esft_plot_layout L;
    esft_plot_compute_layout(d, &L);
    chart_text T;
    chart_text_build(d, &L, &T, measure_png);
    canvas cv = {L.width * SS, L.height * SS, NULL};
    size_t npx = (size_t)cv.w * cv.h;
    cv.px = malloc(npx * 3);
    double *xy = malloc((size_t)d->n * 4 * sizeof *xy + 64);
    uint8_t *img = malloc((size_t)L.width * L.height * 3);
    if (!cv.px || !xy || !img) {
        free(cv.px);
        free(xy);
        free(img);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    memset(cv.px, 255, npx * 3);
    char buf[512];

    /* Grid. */
    for (long k = tick_first(&L.y); k <= tick_last(&L.y); k++) {
        double y = round(esft_plot_y_px(&L, k * L.y.step));
        cv_rect(&cv, L.left, y, L.right, y + 1, C_GRID, 255);
    }
    for (long k = tick_first(&L.x); k <= tick_last(&L.x); k++) {
        double x = round(esft_plot_x_px(&L, k * L.x.step));
        cv_rect(&cv, x, L.top, x + 1, L.bottom, C_GRID, 255);
    }

    /* Bands, mean, evals. */
    if (d->n > 1) {
        if (d->has_minmax) cv_poly(&cv, xy, band_poly(d, &L, 0, xy), C_MINMAX, 255);
        if (d->has_std) cv_poly(&cv, xy, band_poly(d, &L, 1, xy), C_STD, 255);
        int m = series(d, &L, 0, xy);
        cv_polyline(&cv, xy, m, 2.0, C_MEAN);
    } else {
        const esft_plot_point *p = &d->pts[0];
        double x = esft_plot_x_px(&L, p->iter);
        if (d->has_minmax)
            cv_rect(&cv, x - 6, esft_plot_y_px(&L, p->max), x + 6, esft_plot_y_px(&L, p->min),
                    C_MINMAX, 255);
        if (d->has_std)
            cv_rect(&cv, x - 6, esft_plot_y_px(&L, p->mean + p->std), x + 6,
                    esft_plot_y_px(&L, p->mean - p->std), C_STD, 255);
        cv_rect(&cv, x - 8, esft_plot_y_px(&L, p->mean) - 1, x + 8, esft_plot_y_px(&L, p->mean) + 1,
                C_MEAN, 255);
    }
    for (int which = 1; which <= 2; which++) {
        int m = series(d, &L, which, xy);
        if (!m) continue;
        rgb c = which == 1 ? C_EVAL_REW : C_EVAL_ACC;
        cv_polyline(&cv, xy, m, 1.5, c);
        if (m <= MAX_MARKERS)
            for (int i = 0; i < m; i++) draw_marker(&cv, xy[2 * i], xy[2 * i + 1], which == 1, c);
    }

    /* Frame and ticks. */
    cv_rect(&cv, L.left - 1, L.top - 1, L.right + 1, L.top, C_FRAME, 255);
    cv_rect(&cv, L.left - 1, L.bottom, L.right + 1, L.bottom + 1, C_FRAME, 255);
    cv_rect(&cv, L.left - 1, L.top - 1, L.left, L.bottom + 1, C_FRAME, 255);
    cv_rect(&cv, L.right, L.top - 1, L.right + 1, L.bottom + 1, C_FRAME, 255);
    double cap = FONT_CAP * FP_TEXT;
    for (long k = tick_first(&L.y); k <= tick_last(&L.y); k++) {
        double y = round(esft_plot_y_px(&L, k * L.y.step));
        cv_rect(&cv, L.left - 1 - TICK_LEN, y, L.left - 1, y + 1, C_FRAME, 255);
        esft_plot_format_tick(k * L.y.step, L.y.step, buf, sizeof buf);
        cv_text(&cv, L.left - TICK_LEN - 6, y + 0.5 - cap / 2, buf, FP_TEXT, C_TEXT, ANCHOR_END, false);
    }
    for (long k = tick_first(&L.x); k <= tick_last(&L.x); k++) {
        double x = round(esft_plot_x_px(&L, k * L.x.step));
        cv_rect(&cv, x, L.bottom + 1, x + 1, L.bottom + 1 + TICK_LEN, C_FRAME, 255);
        esft_plot_format_tick(k * L.x.step, L.x.step, buf, sizeof buf);
        cv_text(&cv, x + 0.5, L.bottom + TICK_LEN + 6, buf, FP_TEXT, C_TEXT, ANCHOR_MIDDLE, false);
    }
    if (L.right_axis) {
        for (int k = 0; k <= 5; k++) {
            double y = round(esft_plot_acc_px(&L, k * 0.2));
            cv_rect(&cv, L.right + 1, y, L.right + 1 + TICK_LEN, y + 1, C_FRAME, 255);
            snprintf(buf, sizeof buf, "%d%%", k * 20);
            cv_text(&cv, L.right + TICK_LEN + 6, y + 0.5 - cap / 2, buf, FP_TEXT, C_TEXT,
                    ANCHOR_START, false);
        }
        cv_text(&cv, L.width - MARGIN - cap, (L.top + L.bottom) / 2, default_axis_r, FP_TEXT,
                C_EVAL_ACC, ANCHOR_MIDDLE, true);
    }
    cv_text(&cv, (L.left + L.right) / 2, L.height - MARGIN - cap, default_axis_x, FP_TEXT, C_TEXT,
            ANCHOR_MIDDLE, false);
    cv_text(&cv, MARGIN, (L.top + L.bottom) / 2, default_axis_y, FP_TEXT, C_TEXT, ANCHOR_MIDDLE,
            true);

    /* Title, subtitle, legend. */
    title_fit(title, L.width - 2 * MARGIN, FP_TITLE, buf, sizeof buf);
    cv_text(&cv, L.width / 2.0, TITLE_TOP, buf, FP_TITLE, C_TEXT, ANCHOR_MIDDLE, false);
    title_fit(T.subtitle, L.width - 2 * MARGIN, FP_SMALL, buf, sizeof buf);
    cv_text(&cv, L.width / 2.0, SUBTITLE_TOP, buf, FP_SMALL, C_SUBTEXT, ANCHOR_MIDDLE, false);
    for (int i = 0; i < T.n_legend; i++) {
        const legend_item *it = &T.legend[i];
        double x = T.legend_x[i], yc = LEGEND_TOP + cap / 2;
        if (it->kind == 1)
            cv_rect(&cv, x, yc - 5, x + SWATCH_W, yc + 5, it->color, 255);
        else
            cv_rect(&cv, x, yc - (it->kind == 0 ? 1 : 0.75), x + SWATCH_W,
                    yc + (it->kind == 0 ? 1 : 0.75), it->color, 255);
        if (it->kind >= 2) draw_marker(&cv, x + SWATCH_W / 2, yc, it->kind == 3, it->color);
        cv_text(&cv, x + SWATCH_W + 6, LEGEND_TOP, it->label, FP_TEXT, C_TEXT, ANCHOR_START, false);
    }

    /* Box-filter down to the output. */
    for (int y = 0; y < L.height; y++)
        for (int x = 0; x < L.width; x++)
            for (int ch = 0; ch < 3; ch++) {
                unsigned s = 0;
                for (int j = 0; j < SS; j++) {
                    const uint8_t *p = cv.px + (((size_t)(y * SS + j) * cv.w) + (size_t)x * SS) * 3 + ch;
                    for (int i = 0; i < SS; i++) s += p[i * 3];
                }
                img[((size_t)y * L.width + x) * 3 + ch] = (uint8_t)((s + SS * SS / 2) / (SS * SS));
            }
    free(cv.px);
    free(xy);

    size_t zlen;
    uint8_t *z = png_zlib(img, L.width, L.height, &zlen);
    free(img);
    if (!z) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    esft_atomic_file o;
    esft_status st = esft_atomic_open(&o, path, err);
    if (st) {
        free(z);
        return st;
    }
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    uint8_t ihdr[13];
    put_be32(ihdr, (uint32_t)L.width);
    put_be32(ihdr + 4, (uint32_t)L.height);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* colour type: RGB */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering */
    ihdr[12] = 0; /* no interlace */
    bool ok = fwrite(sig, 1, 8, o.fp) == 8 && png_chunk(o.fp, "IHDR", ihdr, 13) &&
              png_chunk(o.fp, "IDAT", z, zlen) && png_chunk(o.fp, "IEND", NULL, 0);
    free(z);
    if (ok) return esft_atomic_commit(&o, err);
    st = esft_errf(err, ESFT_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    esft_atomic_discard(&o);
    return st;
}

/* ------------------------------------------------------------------------ */
/* SVG                                                                       */

static void svg_escape(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            /* Control characters are not allowed in XML 1.0. */
            if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n') fputc(' ', f);
            else fputc(*s, f);
        }
    }
}

static void svg_points(FILE *f, const double *xy, int n) {
    for (int i = 0; i < n; i++) fprintf(f, "%s%.2f,%.2f", i ? " " : "", xy[2 * i], xy[2 * i + 1]);
}

/* Text with its cap top at y (font-size s: cap height about 0.72 s). */
static void svg_text(FILE *f, double x, double y, double size, const char *anchor, const char *cls,
                     const char *fill, const char *s) {
    fprintf(f, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" text-anchor=\"%s\"", cls,
            x, y + 0.72 * size, size, anchor);
    if (fill) fprintf(f, " fill=\"%s\"", fill);
    if (strcmp(cls, "title") == 0) fputs(" font-weight=\"bold\"", f);
    fputs(">", f);
    svg_escape(f, s);
    fputs("</text>\n", f);
}

static void svg_marker(FILE *f, double x, double y, bool square, const char *col, const char *cls) {
    if (square)
        fprintf(f,
                "<rect class=\"%s\" x=\"%.2f\" y=\"%.2f\" width=\"7\" height=\"7\" fill=\"%s\" "
                "stroke=\"#ffffff\" stroke-width=\"1\"/>\n",
                cls, x - 3.5, y - 3.5, col);
    else
        fprintf(f,
                "<circle class=\"%s\" cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\" stroke=\"#ffffff\" "
                "stroke-width=\"1\"/>\n",
                cls, x, y, col);
}

esft_status esft_plot_write_svg(const esft_plot_data *d, const char *title, const char *path,
                                esft_err *err) {
    esft_plot_layout L;
    esft_plot_compute_layout(d, &L);
    chart_text T;
    chart_text_build(d, &L, &T, measure_svg);
    double *xy = malloc((size_t)d->n * 4 * sizeof *xy + 64);
    if (!xy) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    esft_atomic_file o;
    esft_status st = esft_atomic_open(&o, path, err);
    if (st) {
        free(xy);
        return st;
    }
    FILE *f = o.fp;
    char c_grid[8], c_frame[8], c_text[8], c_sub[8], c_minmax[8], c_std[8], c_mean[8], c_acc[8],
        c_rew[8], buf[128];
    hex(C_GRID, c_grid);
    hex(C_FRAME, c_frame);
    hex(C_TEXT, c_text);
    hex(C_SUBTEXT, c_sub);
    hex(C_MINMAX, c_minmax);
    hex(C_STD, c_std);
    hex(C_MEAN, c_mean);
    hex(C_EVAL_ACC, c_acc);
    hex(C_EVAL_REW, c_rew);
    const double ts = SVG_TS;

    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" fill=\"%s\">\n",
            L.width, L.height, L.width, L.height, c_text);
    fputs("<title>", f);
    svg_escape(f, title);
    fputs("</title>\n", f);
    fputs("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n", f);

    /* Grid. */
    fprintf(f, "<path class=\"grid\" fill=\"none\" stroke=\"%s\" stroke-width=\"1\" d=\"", c_grid);
    for (long k = tick_first(&L.y); k <= tick_last(&L.y); k++)
        fprintf(f, "M%.1f %.1fH%.1f", L.left, round(esft_plot_y_px(&L, k * L.y.step)) + 0.5, L.right);
    for (long k = tick_first(&L.x); k <= tick_last(&L.x); k++)
        fprintf(f, "M%.1f %.1fV%.1f", round(esft_plot_x_px(&L, k * L.x.step)) + 0.5, L.top, L.bottom);
    fputs("\"/>\n", f);

    /* Bands and series. */
    if (d->n > 1) {
        if (d->has_minmax) {
            fprintf(f, "<polygon class=\"band-minmax\" fill=\"%s\" points=\"", c_minmax);
            svg_points(f, xy, band_poly(d, &L, 0, xy));
            fputs("\"/>\n", f);
        }
        if (d->has_std) {
            fprintf(f, "<polygon class=\"band-std\" fill=\"%s\" points=\"", c_std);
            svg_points(f, xy, band_poly(d, &L, 1, xy));
            fputs("\"/>\n", f);
        }
    } else {
        const esft_plot_point *p = &d->pts[0];
        double x = esft_plot_x_px(&L, p->iter);
        if (d->has_minmax)
            fprintf(f, "<rect class=\"band-minmax\" x=\"%.2f\" y=\"%.2f\" width=\"12\" height=\"%.2f\" fill=\"%s\"/>\n",
                    x - 6, esft_plot_y_px(&L, p->max), esft_plot_y_px(&L, p->min) - esft_plot_y_px(&L, p->max), c_minmax);
        if (d->has_std)
            fprintf(f, "<rect class=\"band-std\" x=\"%.2f\" y=\"%.2f\" width=\"12\" height=\"%.2f\" fill=\"%s\"/>\n",
                    x - 6, esft_plot_y_px(&L, p->mean + p->std),
                    esft_plot_y_px(&L, p->mean - p->std) - esft_plot_y_px(&L, p->mean + p->std), c_std);
    }
    {
        int m = series(d, &L, 0, xy);
        if (m == 1) {
            xy[2] = xy[0] + 8;
            xy[3] = xy[1];
            xy[0] -= 8;
            m = 2;
        }
        fprintf(f,
                "<polyline class=\"mean\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                "stroke-linejoin=\"round\" stroke-linecap=\"round\" points=\"",
                c_mean);
        svg_points(f, xy, m);
        fputs("\"/>\n", f);
    }
    for (int which = 1; which <= 2; which++) {
        int m = series(d, &L, which, xy);
        if (!m) continue;
        const char *col = which == 1 ? c_rew : c_acc;
        const char *cls = which == 1 ? "eval-reward" : "eval-accuracy";
        fprintf(f,
                "<polyline class=\"%s-line\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
                "stroke-linejoin=\"round\" points=\"",
                cls, col);
        svg_points(f, xy, m);
        fputs("\"/>\n", f);
        if (m <= MAX_MARKERS)
            for (int i = 0; i < m; i++) svg_marker(f, xy[2 * i], xy[2 * i + 1], which == 1, col, cls);
    }

    /* Frame, ticks, labels. */
    fprintf(f,
            "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"%s\" stroke-width=\"1\"/>\n",
            L.left - 0.5, L.top - 0.5, L.right - L.left + 1, L.bottom - L.top + 1, c_frame);
    fprintf(f, "<path class=\"ticks\" fill=\"none\" stroke=\"%s\" stroke-width=\"1\" d=\"", c_frame);
    for (long k = tick_first(&L.y); k <= tick_last(&L.y); k++)
        fprintf(f, "M%.1f %.1fh%.1f", L.left - 1 - TICK_LEN, round(esft_plot_y_px(&L, k * L.y.step)) + 0.5,
                TICK_LEN);
    for (long k = tick_first(&L.x); k <= tick_last(&L.x); k++)
        fprintf(f, "M%.1f %.1fv%.1f", round(esft_plot_x_px(&L, k * L.x.step)) + 0.5, L.bottom + 1, TICK_LEN);
    if (L.right_axis)
        for (int k = 0; k <= 5; k++)
            fprintf(f, "M%.1f %.1fh%.1f", L.right + 1, round(esft_plot_acc_px(&L, k * 0.2)) + 0.5, TICK_LEN);
    fputs("\"/>\n", f);
    double cap = 0.72 * ts;
    for (long k = tick_first(&L.y); k <= tick_last(&L.y); k++) {
        double y = round(esft_plot_y_px(&L, k * L.y.step)) + 0.5;
        esft_plot_format_tick(k * L.y.step, L.y.step, buf, sizeof buf);
        svg_text(f, L.left - TICK_LEN - 6, y - cap / 2, ts, "end", "tick-y", NULL, buf);
    }
    for (long k = tick_first(&L.x); k <= tick_last(&L.x); k++) {
        double x = round(esft_plot_x_px(&L, k * L.x.step)) + 0.5;
        esft_plot_format_tick(k * L.x.step, L.x.step, buf, sizeof buf);
        svg_text(f, x, L.bottom + TICK_LEN + 6, ts, "middle", "tick-x", NULL, buf);
    }
    if (L.right_axis) {
        for (int k = 0; k <= 5; k++) {
            double y = round(esft_plot_acc_px(&L, k * 0.2)) + 0.5;
            snprintf(buf, sizeof buf, "%d%%", k * 20);
            svg_text(f, L.right + TICK_LEN + 6, y - cap / 2, ts, "start", "tick-r", NULL, buf);
        }
        double x = L.width - MARGIN - cap, y = (L.top + L.bottom) / 2;
        fprintf(f,
                "<text class=\"label-r\" x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" text-anchor=\"middle\" "
                "fill=\"%s\" transform=\"rotate(-90 %.1f %.1f)\">",
                x + cap, y, ts, c_acc, x + cap, y);
        svg_escape(f, default_axis_r);
        fputs("</text>\n", f);
    }
    svg_text(f, (L.left + L.right) / 2, L.height - MARGIN - cap, ts, "middle", "label-x", NULL,
             default_axis_x);
    {
        double x = MARGIN, y = (L.top + L.bottom) / 2;
        fprintf(f,
                "<text class=\"label-y\" x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" text-anchor=\"middle\" "
                "transform=\"rotate(-90 %.1f %.1f)\">",
                x + cap, y, ts, x + cap, y);
        svg_escape(f, default_axis_y);
        fputs("</text>\n", f);
    }

    svg_text(f, L.width / 2.0, TITLE_TOP, SVG_TITLE, "middle", "title", NULL, title);
    svg_text(f, L.width / 2.0, SUBTITLE_TOP, ts, "middle", "subtitle", c_sub, T.subtitle);
    for (int i = 0; i < T.n_legend; i++) {
        const legend_item *it = &T.legend[i];
        double x = T.legend_x[i], yc = LEGEND_TOP + FONT_CAP * FP_TEXT / 2;
        char col[8];
        hex(it->color, col);
        if (it->kind == 1)
            fprintf(f, "<rect class=\"legend\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"10\" fill=\"%s\"/>\n",
                    x, yc - 5, SWATCH_W, col);
        else
            fprintf(f,
                    "<path class=\"legend\" d=\"M%.1f %.1fh%.1f\" stroke=\"%s\" stroke-width=\"%.1f\"/>\n",
                    x, yc, SWATCH_W, col, it->kind == 0 ? 2.0 : 1.5);
        if (it->kind >= 2) svg_marker(f, x + SWATCH_W / 2, yc, it->kind == 3, col, "legend");
        svg_text(f, x + SWATCH_W + 6, yc - cap / 2, ts, "start", "legend", NULL, it->label);
    }
    fputs("</svg>\n", f);
    free(xy);
    return esft_atomic_commit(&o, err);
}

/* ------------------------------------------------------------------------ */

esft_plot_format esft_plot_format_of(const char *path) {
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash) || dot == path || (slash && dot == slash + 1))
        return ESFT_PLOT_NONE;
    if (strcasecmp(dot, ".png") == 0) return ESFT_PLOT_PNG;
    if (strcasecmp(dot, ".svg") == 0) return ESFT_PLOT_SVG;
    return ESFT_PLOT_NONE;
}

esft_status esft_plot_metrics(const char *jsonl_path, const char *out_path, const char *title,
                              esft_err *err) {
    esft_plot_format fmt = esft_plot_format_of(out_path);
    if (fmt == ESFT_PLOT_NONE)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "%s: output must end in .png or .svg", out_path);
    esft_plot_data d;
    esft_status st = esft_plot_load(jsonl_path, &d, err);
    if (st) return st;
    char def[512];
    if (!title) {
        const char *slash = strrchr(jsonl_path, '/');
        if (slash && slash != jsonl_path)
            snprintf(def, sizeof def, "Reward: %.*s", (int)(slash - jsonl_path), jsonl_path);
        else
            snprintf(def, sizeof def, "Reward: %s", jsonl_path);
        title = def;
    }
    st = fmt == ESFT_PLOT_PNG ? esft_plot_write_png(&d, title, out_path, err)
                              : esft_plot_write_svg(&d, title, out_path, err);
    esft_plot_data_free(&d);
    return st;
}
