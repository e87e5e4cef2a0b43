/* esft plot: metrics.jsonl parsing and its errors, tick arithmetic, run
 * names, and the drawn figures read back: the PNG decoded by cairo and
 * checked at the pixels where the layout puts the data, the SVG checked for
 * well-formed XML and its title and legend text, the PDF for its framing. */
#ifdef ESFT_HAVE_CAIRO
#include <cairo.h>
#endif
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plot.h"
#include "testutil.h"

int cmd_plot(int argc, char **argv);

static char dir[1024];

/* A path under the test directory; valid until 8 more calls. */
static const char *path_in(const char *name) {
    static char bufs[8][1200];
    static int k = 0;
    char *b = bufs[k++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}


/* The synthetic run: 41 iterations, mean 0.2 + 0.015 i, std 0.05, min/max
 * mean -/+ 0.15, eval accuracy 0.05 + i/400 every 10th iteration; plus a
 * blank line, a CRLF line, fields to ignore, and iteration 5 written twice
 * (a resumed run: the later line wins). */
static double mean_at(int i) { return 0.2 + 0.015 * i; }

static void write_metrics(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) exit(1);
    fprintf(f, "{\"iter\": 5, \"reward_mean\": 9.0, \"reward_std\": 0, \"reward_min\": 9, \"reward_max\": 9}\n");
    for (int i = 0; i <= 40; i++) {
        double m = mean_at(i);
        fprintf(f,
                "{\"iter\": %d, \"reward_mean\": %.6f, \"reward_std\": 0.05, \"reward_min\": %.6f, "
                "\"reward_max\": %.6f, \"rewards\": [0.1, 0.2, 0.3], \"t_generate\": 1.5, \"note\": \"x\"",
                i, m, m - 0.15, m + 0.15);
        if (i % 10 == 0) fprintf(f, ", \"eval_accuracy\": %.6f", 0.05 + i / 400.0);
        fprintf(f, i == 7 ? "}\r\n" : "}\n");
        if (i == 3) fprintf(f, "\n   \n");
    }
    fclose(f);
}

static void test_ticks(void) {
    CHECK_NEAR(esft_plot_nice_step(1.0, 5), 0.2, 1e-12);
    CHECK_NEAR(esft_plot_nice_step(100.0, 8), 10.0, 1e-9);
    CHECK_NEAR(esft_plot_nice_step(0.7, 6), 0.1, 1e-12);
    CHECK_NEAR(esft_plot_nice_step(37.0, 5), 10.0, 1e-9);
    CHECK_NEAR(esft_plot_nice_step(4000.0, 8), 500.0, 1e-9);
    CHECK_NEAR(esft_plot_nice_step(0.0021, 6), 0.0005, 1e-15);
    char b[64];
    esft_plot_format_tick(0.1 + 0.2, 0.1, b, sizeof b);
    CHECK(strcmp(b, "0.3") == 0);
    esft_plot_format_tick(-1e-17, 0.1, b, sizeof b);
    CHECK(strcmp(b, "0.0") == 0);
    esft_plot_format_tick(1500, 500, b, sizeof b);
    CHECK(strcmp(b, "1500") == 0);
    esft_plot_format_tick(0.25, 0.05, b, sizeof b);
    CHECK(strcmp(b, "0.25") == 0);
    esft_plot_format_tick(-2, 1, b, sizeof b);
    CHECK(strcmp(b, "-2") == 0);
    CHECK(esft_plot_format_of("a/b/curve.png") == ESFT_PLOT_PNG);
    CHECK(esft_plot_format_of("curve.SVG") == ESFT_PLOT_SVG);
    CHECK(esft_plot_format_of("fig.Pdf") == ESFT_PLOT_PDF);
    CHECK(esft_plot_format_of("curve.jpg") == ESFT_PLOT_NONE);
    CHECK(esft_plot_format_of("curve") == ESFT_PLOT_NONE);
    CHECK(esft_plot_format_of("dir.png/curve") == ESFT_PLOT_NONE);
    CHECK(esft_plot_format_of("out/.png") == ESFT_PLOT_NONE);
}

static void expect_error(const char *name, const char *text, esft_status want, const char *needle) {
    const char *p = path_in(name);
    write_text(p, text);
    esft_plot_data d;
    esft_err err = {{0}};
    esft_status st = esft_plot_load(p, &d, &err);
    CHECKF(st == want, "%s: status %d, want %d (%s)", name, st, want, err.msg);
    CHECKF(strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", name, err.msg, needle);
    CHECKF(strstr(err.msg, name) != NULL, "%s: message '%s' lacks the file name", name, err.msg);
    CHECKF(strchr(err.msg, '\n') == NULL, "%s: message is not one line", name);
    CHECK(d.pts == NULL && d.n == 0);
}

static void test_errors(void) {
    expect_error("bad_json.jsonl",
                 "{\"iter\": 0, \"reward_mean\": 1}\n\n{\"iter\": 1, \"reward_mean\": 1}\n{\"iter\": 2, \"reward_mean\": \n",
                 ESFT_ERR_FORMAT, ":4: invalid JSON");
    expect_error("not_object.jsonl", "{\"iter\": 0, \"reward_mean\": 1}\n[1, 2]\n", ESFT_ERR_FORMAT,
                 ":2: expected a JSON object");
    expect_error("no_mean.jsonl", "{\"iter\": 0, \"reward_mean\": 1}\n{\"iter\": 1}\n", ESFT_ERR_FORMAT,
                 ":2: missing or non-numeric \"reward_mean\"");
    expect_error("no_iter.jsonl", "{\"reward_mean\": 1}\n", ESFT_ERR_FORMAT, ":1: missing or non-numeric \"iter\"");
    expect_error("str_std.jsonl", "{\"iter\": 0, \"reward_mean\": 1, \"reward_std\": \"big\"}\n",
                 ESFT_ERR_FORMAT, ":1: \"reward_std\" is not a number");
    expect_error("acc_range.jsonl", "{\"iter\": 0, \"reward_mean\": 1, \"eval_accuracy\": 57}\n",
                 ESFT_ERR_FORMAT, ":1: \"eval_accuracy\" 57 is outside [0, 1]");
    expect_error("huge.jsonl", "{\"iter\": 0, \"reward_mean\": 1}\n{\"iter\": 1, \"reward_mean\": 1, \"reward_max\": 1e300}\n",
                 ESFT_ERR_FORMAT, ":2: \"reward_max\" is out of range");
    expect_error("empty.jsonl", "", ESFT_ERR_FORMAT, "no iterations");
    expect_error("blank.jsonl", "\n  \n\r\n", ESFT_ERR_FORMAT, "no iterations");

    esft_plot_data d;
    esft_err err = {{0}};
    CHECK(esft_plot_load(path_in("does_not_exist.jsonl"), &d, &err) == ESFT_ERR_IO);
    CHECK(strstr(err.msg, "does_not_exist.jsonl") != NULL);
    /* null optional fields count as absent */
    write_text(path_in("nulls.jsonl"), "{\"iter\": 0, \"reward_mean\": 1, \"eval_accuracy\": null}\n");
    CHECK(esft_plot_load(path_in("nulls.jsonl"), &d, &err) == ESFT_OK);
    CHECK(d.n == 1 && d.n_eval_acc == 0 && !d.has_std && !d.has_minmax);
    esft_plot_data_free(&d);

    const char *nulls = path_in("nulls.jsonl"), *bad = path_in("bad_json.jsonl");
    CHECK(esft_plot_metrics(&nulls, 1, path_in("x.jpg"), NULL, &err) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_plot_metrics(&bad, 1, path_in("bad.png"), NULL, &err) == ESFT_ERR_FORMAT);
    const char *pair[2] = {nulls, bad}; /* one bad run fails the figure */
    CHECK(esft_plot_metrics(pair, 2, path_in("bad.png"), NULL, &err) == ESFT_ERR_FORMAT);
    CHECK(strstr(err.msg, "bad_json.jsonl:4") != NULL);
    struct stat sb;
    CHECK(stat(path_in("bad.png"), &sb) != 0); /* nothing written on failure */
}

static void test_data(const char *metrics, esft_plot_data *d) {
    esft_err err = {{0}};
    esft_status st = esft_plot_load(metrics, d, &err);
    CHECKF(st == ESFT_OK, "%s", err.msg);
    CHECK(d->n == 41);
    CHECK(d->has_std && d->has_minmax);
    CHECK(d->n_eval_acc == 5 && d->n_eval_reward == 0);
    bool sorted = true;
    for (int i = 0; i < d->n; i++) sorted &= d->pts[i].iter == i;
    CHECK(sorted);
    CHECK_NEAR(d->pts[5].mean, mean_at(5), 1e-9); /* the later line for iter 5 */
    CHECK_NEAR(d->pts[7].mean, mean_at(7), 1e-9); /* CRLF line */
    CHECK_NEAR(d->pts[40].max, mean_at(40) + 0.15, 1e-9);
    CHECK_NEAR(d->pts[20].eval_acc, 0.1, 1e-9);
    CHECK(isnan(d->pts[21].eval_acc));
}

static void check_names(const char *const *paths, int n, const char *const *want) {
    char *names[8];
    CHECK(esft_plot_run_names(paths, n, names));
    for (int i = 0; i < n; i++) {
        CHECKF(strcmp(names[i], want[i]) == 0, "name of %s: '%s', want '%s'", paths[i], names[i], want[i]);
        free(names[i]);
    }
}

static void test_names(void) {
    check_names((const char *[]){"no_such_x/a/run/metrics.jsonl", "no_such_y/b/run/metrics.jsonl"}, 2,
                (const char *[]){"a/run", "b/run"});
    check_names((const char *[]){"no_such/r1/metrics.jsonl", "no_such/r2/metrics.jsonl", "no_such/r1/metrics.jsonl"}, 3,
                (const char *[]){"r1", "r2", "r1 (2)"});
    check_names((const char *[]){"no_such/scores.jsonl"}, 1, (const char *[]){"scores.jsonl"});
    const char *here[] = {path_in("metrics.jsonl")};
    check_names(here, 1, (const char *[]){"plot_test"});
}

#ifdef ESFT_HAVE_CAIRO
/* ---- reading figures back ---- */

typedef struct image {
    cairo_surface_t *s;
    int w, h;
} image;

/* Decodes a PNG with cairo's reader; false (a failed check) when it does
 * not decode. */
static bool read_png(const char *path, image *img) {
    img->s = cairo_image_surface_create_from_png(path);
    bool ok = cairo_surface_status(img->s) == CAIRO_STATUS_SUCCESS;
    CHECKF(ok, "%s does not decode: %s", path, cairo_status_to_string(cairo_surface_status(img->s)));
    if (!ok) {
        cairo_surface_destroy(img->s);
        img->s = NULL;
        return false;
    }
    cairo_surface_flush(img->s);
    img->w = cairo_image_surface_get_width(img->s);
    img->h = cairo_image_surface_get_height(img->s);
    CHECK(img->w == ESFT_PLOT_WIDTH && img->h == ESFT_PLOT_HEIGHT);
    return true;
}

static void image_free(image *img) {
    cairo_surface_destroy(img->s);
    img->s = NULL;
}

/* 0xRRGGBB at (x, y) of an opaque image (cairo's 32-bit native words). */
static uint32_t pixel(const image *img, int x, int y) {
    const unsigned char *row = cairo_image_surface_get_data(img->s) + (size_t)y * cairo_image_surface_get_stride(img->s);
    return ((const uint32_t *)row)[x] & 0xFFFFFF;
}

static int color_dist(const image *img, int x, int y, uint32_t rgb) {
    if (x < 0 || y < 0 || x >= img->w || y >= img->h) return 1000;
    uint32_t p = pixel(img, x, y);
    int d = 0;
    for (int sh = 0; sh <= 16; sh += 8) d += abs((int)(p >> sh & 0xFF) - (int)(rgb >> sh & 0xFF));
    return d;
}

/* rgb laid over white `layers` times at the band opacity. */
static uint32_t band_color(uint32_t rgb, int layers) {
    double keep = pow(1.0 - ESFT_PLOT_BAND_ALPHA, layers);
    uint32_t out = 0;
    for (int sh = 0; sh <= 16; sh += 8) {
        double c = 255.0 * keep + (double)(rgb >> sh & 0xFF) * (1.0 - keep);
        out |= (uint32_t)lround(c) << sh;
    }
    return out;
}

/* Row nearest to y0 (within +/- r) in column x whose colour is within tol of
 * rgb; -1 when none. */
static int find_in_column(const image *img, int x, int y0, int r, uint32_t rgb, int tol) {
    for (int d = 0; d <= r; d++) {
        if (color_dist(img, x, y0 - d, rgb) <= tol) return y0 - d;
        if (color_dist(img, x, y0 + d, rgb) <= tol) return y0 + d;
    }
    return -1;
}

static int count_color(const image *img, int x0, int y0, int x1, int y1, uint32_t rgb, int tol) {
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) n += color_dist(img, x, y, rgb) <= tol;
    return n;
}

static int count_str(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* XML well-formedness as far as an SVG needs it: every element closed in
 * order, <?...?> and <!-- --> skipped, quoted attributes. */
static bool xml_balanced(const char *s) {
    char stack[64][64];
    int depth = 0, roots = 0;
    for (const char *p = strchr(s, '<'); p; p = strchr(p, '<')) {
        if (strncmp(p, "<?", 2) == 0 || strncmp(p, "<!--", 4) == 0) {
            const char *end = strstr(p, p[1] == '?' ? "?>" : "-->");
            if (!end) return false;
            p = end + 2;
            continue;
        }
        bool closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t n = strcspn(name, " \t\n/>");
        const char *q = name + n;
        char quote = 0;
        for (; *q && (quote || *q != '>'); q++)
            if (*q == '"' || *q == '\'') quote = quote == *q ? 0 : quote ? quote : *q;
        if (!*q || n == 0 || n >= 64) return false;
        bool empty = q[-1] == '/';
        if (closing) {
            if (depth == 0 || strlen(stack[depth - 1]) != n || strncmp(stack[depth - 1], name, n) != 0) return false;
            depth--;
        } else if (!empty) {
            if (depth == 64) return false;
            if (depth == 0) roots++;
            memcpy(stack[depth], name, n);
            stack[depth++][n] = '\0';
        }
        p = q;
    }
    return depth == 0 && roots == 1;
}

/* The text between <tag> and </tag>, in buf ("" when absent). */
static void element_text(const char *xml, const char *tag, char *buf, size_t cap) {
    char open[32], close[32];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = strstr(xml, open), *b = a ? strstr(a, close) : NULL;
    buf[0] = '\0';
    if (a && b) snprintf(buf, cap, "%.*s", (int)(b - a - strlen(open)), a + strlen(open));
}

/* Loads metrics files as the runs of one figure. */
static int load_runs(const char *const *paths, int n, esft_plot_run *runs, char **names) {
    CHECK(esft_plot_run_names(paths, n, names));
    for (int r = 0; r < n; r++) {
        esft_err err = {{0}};
        CHECKF(esft_plot_load(paths[r], &runs[r].data, &err) == ESFT_OK, "%s", err.msg);
        runs[r].name = names[r];
    }
    return n;
}

static void free_runs(esft_plot_run *runs, char **names, int n) {
    for (int r = 0; r < n; r++) {
        esft_plot_data_free(&runs[r].data);
        free(names[r]);
    }
}

/* The figure's pixels: background, the mean line where the layout puts it,
 * both bands between their bounds, eval markers on the right axis, text. */
static void test_png(const char *metrics, const esft_plot_data *d) {
    const char *png = path_in("curve.png");
    esft_err err = {{0}};
    CHECKF(esft_plot_metrics(&metrics, 1, png, "Test run", &err) == ESFT_OK, "%s", err.msg);
    image img;
    if (!read_png(png, &img)) return;
    esft_plot_run run = {"run", *d};
    esft_plot_layout L;
    esft_plot_compute_layout(&run, 1, &L);
    uint32_t c = esft_plot_run_rgb(0);

    CHECK(pixel(&img, 0, 0) == 0xFFFFFF && pixel(&img, img.w - 1, img.h - 1) == 0xFFFFFF);
    CHECK(pixel(&img, 3, img.h / 2) == 0xFFFFFF && pixel(&img, img.w - 3, 3) == 0xFFFFFF);

    for (int i = 12; i <= 32; i += 4) {
        int x = (int)esft_plot_x_px(&L, i);
        int want = (int)esft_plot_y_px(&L, mean_at(i));
        int y = find_in_column(&img, x, want, 12, c, 40);
        CHECKF(y >= 0 && abs(y - want) <= 2, "mean line at iter %d: row %d, want %d", i, y, want);
    }
    /* min-max alone between mean+std and max, both bands within std, none
     * above max (the curve is linear, so exact between iterations too) */
    for (int i = 11; i <= 31; i += 5) {
        double it = i + 0.5, m = mean_at(0) + (mean_at(1) - mean_at(0)) * it;
        int x = (int)esft_plot_x_px(&L, it);
        int y_minmax = (int)esft_plot_y_px(&L, m + 0.10), y_minmax_lo = (int)esft_plot_y_px(&L, m - 0.10);
        int y_std = (int)esft_plot_y_px(&L, m + 0.03), y_above = (int)esft_plot_y_px(&L, m + 0.20);
        CHECKF(find_in_column(&img, x, y_minmax, 2, band_color(c, 1), 8) >= 0, "min-max band at (%d,%d)", x, y_minmax);
        CHECKF(find_in_column(&img, x, y_minmax_lo, 2, band_color(c, 1), 8) >= 0, "min-max band at (%d,%d)", x, y_minmax_lo);
        CHECKF(find_in_column(&img, x, y_std, 2, band_color(c, 2), 8) >= 0, "std band at (%d,%d)", x, y_std);
        CHECKF(color_dist(&img, x, y_above, band_color(c, 1)) > 12 && color_dist(&img, x, y_above, band_color(c, 2)) > 12,
               "band above max at (%d,%d)", x, y_above);
    }
    for (int i = 10; i <= 30; i += 10) {
        int x = (int)esft_plot_x_px(&L, i);
        int want = (int)esft_plot_acc_px(&L, 0.05 + i / 400.0);
        int y = find_in_column(&img, x, want, 8, c, 30);
        CHECKF(y >= 0 && abs(y - want) <= 2, "eval marker at iter %d: row %d, want %d", i, y, want);
    }
    /* text: title, y tick labels, x tick labels, the right axis */
    CHECK(count_color(&img, 0, 0, img.w, (int)L.top - 20, 0x262626, 60) > 100);
    CHECK(count_color(&img, 0, (int)L.top, (int)L.left - 6, (int)L.bottom, 0x262626, 60) > 100);
    CHECK(count_color(&img, (int)L.left, (int)L.bottom + 4, (int)L.right, img.h, 0x262626, 60) > 100);
    CHECK(count_color(&img, (int)L.right + 4, (int)L.top, img.w, (int)L.bottom, 0x262626, 60) > 30);
    /* nothing of the data below the plot area */
    CHECK(count_color(&img, 0, (int)L.bottom + 6, img.w, img.h, c, 60) == 0);
    image_free(&img);
}

/* No eval data: no right axis, nor anything drawn there. */
static void test_no_eval(void) {
    const char *p = path_in("noeval.jsonl");
    write_text(p, "{\"iter\": 1, \"reward_mean\": 0.1}\n{\"iter\": 2, \"reward_mean\": 0.4}\n"
                  "{\"iter\": 3, \"reward_mean\": 0.3}\n");
    esft_plot_run run = {"r", {0}};
    esft_err err = {{0}};
    CHECK(esft_plot_load(p, &run.data, &err) == ESFT_OK);
    esft_plot_layout L;
    esft_plot_compute_layout(&run, 1, &L);
    CHECK(!L.right_axis);
    CHECK(esft_plot_metrics(&p, 1, path_in("noeval.png"), NULL, &err) == ESFT_OK);
    image img;
    if (read_png(path_in("noeval.png"), &img)) {
        CHECK(count_color(&img, (int)L.right + 4, 0, img.w, img.h, 0xFFFFFF, 0) ==
              (img.w - (int)L.right - 4) * img.h);
        image_free(&img);
    }
    CHECK(esft_plot_metrics(&p, 1, path_in("noeval.svg"), NULL, &err) == ESFT_OK);
    char *svg = test_read_file(path_in("noeval.svg"), NULL);
    CHECK(svg && !strstr(svg, "eval accuracy") && !strstr(svg, "min\xe2\x80\x93max"));
    free(svg);
    esft_plot_data_free(&run.data);
}

static void test_svg(const char *metrics) {
    const char *svg_path = path_in("curve.svg");
    esft_err err = {{0}};
    CHECKF(esft_plot_metrics(&metrics, 1, svg_path, "A&B <run>", &err) == ESFT_OK, "%s", err.msg);
    char *svg = test_read_file(svg_path, NULL);
    CHECK(svg != NULL);
    if (!svg) return;
    CHECK(strncmp(svg, "<?xml", 5) == 0);
    CHECK(xml_balanced(svg));
    CHECK(strstr(svg, "viewBox=\"0 0 900 500\"") != NULL);
    char text[512];
    element_text(svg, "title", text, sizeof text);
    CHECKF(strcmp(text, "A&amp;B &lt;run&gt;") == 0, "title '%s'", text);
    element_text(svg, "desc", text, sizeof text);
    CHECKF(strstr(text, "plot_test") && strstr(text, "min\xe2\x80\x93max") && strstr(text, "mean \xc2\xb1 std") &&
               strstr(text, "eval accuracy"),
           "desc '%s'", text);
    CHECK(count_str(svg, "<path") > 20); /* the curves and glyphs are drawn */
    free(svg);
    /* a broken document is caught by the checker itself */
    CHECK(!xml_balanced("<svg><g></svg></g>") && !xml_balanced("<svg><g>") && xml_balanced("<?xml?><svg><g/></svg>"));
}

static void test_pdf(const char *metrics) {
    const char *pdf = path_in("curve.pdf");
    esft_err err = {{0}};
    CHECKF(esft_plot_metrics(&metrics, 1, pdf, NULL, &err) == ESFT_OK, "%s", err.msg);
    size_t n = 0;
    char *b = test_read_file(pdf, &n);
    CHECK(b && n > 1000 && memcmp(b, "%PDF-", 5) == 0);
    bool eof = false;
    for (size_t i = n > 32 ? n - 32 : 0; b && i + 5 <= n; i++) eof |= memcmp(b + i, "%%EOF", 5) == 0;
    CHECK(eof);
    free(b);
}

/* Two runs: two colours where each run's mean lies, two legend entries. */
static void test_two_runs(const char *metrics) {
    char other_dir[1200];
    snprintf(other_dir, sizeof other_dir, "%s/other", dir);
    mkdir(other_dir, 0777);
    const char *other = path_in("other/metrics.jsonl");
    FILE *f = fopen(other, "wb");
    if (!f) exit(1);
    for (int i = 1; i <= 30; i++) fprintf(f, "{\"iter\": %d, \"reward_mean\": %.6f}\n", i, 0.9 - 0.02 * i);
    fclose(f);
    const char *paths[2] = {metrics, other};
    esft_err err = {{0}};
    CHECKF(esft_plot_metrics(paths, 2, path_in("two.png"), NULL, &err) == ESFT_OK, "%s", err.msg);
    CHECKF(esft_plot_metrics(paths, 2, path_in("two.svg"), NULL, &err) == ESFT_OK, "%s", err.msg);
    esft_plot_run runs[2] = {{0}};
    char *names[2] = {0};
    load_runs(paths, 2, runs, names);
    esft_plot_layout L;
    esft_plot_compute_layout(runs, 2, &L);
    CHECK_NEAR(L.x.lo, 0.0, 1e-12);
    CHECK_NEAR(L.x.hi, 40.0, 1e-12);
    image img;
    if (read_png(path_in("two.png"), &img)) {
        for (int i = 14; i <= 26; i += 12) { /* the lines cross at 20 */
            int x = (int)esft_plot_x_px(&L, i);
            int y0 = (int)esft_plot_y_px(&L, mean_at(i)), y1 = (int)esft_plot_y_px(&L, 0.9 - 0.02 * i);
            CHECKF(find_in_column(&img, x, y0, 2, esft_plot_run_rgb(0), 40) >= 0, "run 0 at iter %d", i);
            CHECKF(find_in_column(&img, x, y1, 2, esft_plot_run_rgb(1), 40) >= 0, "run 1 at iter %d", i);
        }
        image_free(&img);
    }
    char *svg = test_read_file(path_in("two.svg"), NULL);
    char text[512] = "";
    if (svg) element_text(svg, "desc", text, sizeof text);
    CHECKF(strstr(text, "runs: plot_test, other;") != NULL, "desc '%s'", text);
    if (svg) element_text(svg, "title", text, sizeof text);
    CHECKF(strcmp(text, "Reward: plot_test vs other") == 0, "title '%s'", text);
    free(svg);
    free_runs(runs, names, 2);
}

/* Degenerate inputs render without trouble, in every format. */
static void test_edge_cases(void) {
    static const struct {
        const char *name, *text;
    } cases[] = {
        {"one.jsonl", "{\"iter\": 0, \"reward_mean\": 0.5, \"reward_std\": 0.1, \"reward_min\": 0.2, "
                      "\"reward_max\": 0.9, \"eval_accuracy\": 0.3, \"eval_reward\": 0.4}\n"},
        {"flat.jsonl", "{\"iter\": 0, \"reward_mean\": 1}\n{\"iter\": 1, \"reward_mean\": 1}\n"},
        {"zero.jsonl", "{\"iter\": 3, \"reward_mean\": 0}\n{\"iter\": 9, \"reward_mean\": 0}\n"},
        {"big.jsonl", "{\"iter\": 1000, \"reward_mean\": -3e9, \"reward_std\": 1e9}\n"
                      "{\"iter\": 90000, \"reward_mean\": 4e9, \"eval_reward\": 5e9}\n"},
    };
    static const char *const outs[] = {"edge.png", "edge.svg", "edge.pdf"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = path_in(cases[i].name);
        write_text(p, cases[i].text);
        for (int k = 0; k < 3; k++) {
            esft_err err = {{0}};
            CHECKF(esft_plot_metrics(&p, 1, path_in(outs[k]), NULL, &err) == ESFT_OK, "%s -> %s: %s",
                   cases[i].name, outs[k], err.msg);
        }
        image img;
        if (read_png(path_in("edge.png"), &img)) image_free(&img);
    }
}

static void test_command(const char *metrics) {
    char *ok_png[] = {"plot", (char *)metrics, "-o", (char *)path_in("cmd.png"), "--title", "T", NULL};
    CHECK(cmd_plot(6, ok_png) == 0);
    struct stat sb;
    CHECK(stat(path_in("cmd.png"), &sb) == 0 && sb.st_size > 10000 && sb.st_size < 400000); /* compressed */
    char *dir_svg[] = {"plot", dir, "--out", (char *)path_in("cmd.svg"), NULL};
    CHECK(cmd_plot(4, dir_svg) == 0); /* a run directory means its metrics.jsonl */
    CHECK(stat(path_in("cmd.svg"), &sb) == 0 && sb.st_size > 1000);
    char *two[] = {"plot", dir, (char *)path_in("other"), "-o", (char *)path_in("cmd.pdf"), NULL};
    CHECK(cmd_plot(5, two) == 0);
    CHECK(stat(path_in("cmd.pdf"), &sb) == 0 && sb.st_size > 1000);
    char *bad_ext[] = {"plot", (char *)metrics, "-o", (char *)path_in("cmd.gif"), NULL};
    CHECK(cmd_plot(4, bad_ext) == 2);
    char *no_arg[] = {"plot", NULL};
    CHECK(cmd_plot(1, no_arg) == 2);
    char *bad_file[] = {"plot", (char *)metrics, (char *)path_in("bad_json.jsonl"), "-o", (char *)path_in("cmd2.png"), NULL};
    CHECK(cmd_plot(5, bad_file) == 1);
    CHECK(stat(path_in("cmd2.png"), &sb) != 0);
}

#else

/* Without cairo the data still loads, and drawing fails with one line. */
static void test_without_cairo(const char *metrics) {
    esft_err err = {{0}};
    CHECK(esft_plot_metrics(&metrics, 1, path_in("none.png"), NULL, &err) == ESFT_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "none.png") && strstr(err.msg, "cairo") && !strchr(err.msg, '\n'));
    struct stat sb;
    CHECK(stat(path_in("none.png"), &sb) != 0);
}

#endif

/* --x time: x is the running sum of "seconds" over the kept lines (a
 * redone iteration replaces its first try), the axis starts at 0, and a
 * line without "seconds" or with a negative one is an error. */
static void test_by_time(void) {
    const char *p = path_in("timed.jsonl");
    write_text(p, "{\"iter\": 1, \"reward_mean\": 1, \"seconds\": 2.5}\n"
                  "{\"iter\": 2, \"reward_mean\": 2, \"seconds\": 99}\n"
                  "{\"iter\": 2, \"reward_mean\": 2, \"seconds\": 1.5}\n"
                  "{\"iter\": 3, \"reward_mean\": 3, \"seconds\": 4}\n");
    esft_err err = {{0}};
    esft_plot_run run = {0};
    CHECKF(esft_plot_load(p, &run.data, &err) == ESFT_OK, "%s", err.msg);
    CHECK(run.data.n == 3 && run.data.pts[1].x == 2.0); /* by iteration until asked */
    CHECKF(esft_plot_use_seconds(&run.data, p, &err) == ESFT_OK, "%s", err.msg);
    if (run.data.n == 3) {
        CHECK_NEAR(run.data.pts[0].x, 2.5, 1e-12);
        CHECK_NEAR(run.data.pts[1].x, 4.0, 1e-12);
        CHECK_NEAR(run.data.pts[2].x, 8.0, 1e-12);
        CHECK(run.data.pts[2].iter == 3.0);
    }
    esft_plot_layout L;
    run.name = "timed";
    esft_plot_compute_layout(&run, 1, &L);
    CHECK(L.x_seconds);
    CHECK_NEAR(L.x.lo, 0.0, 1e-12);
    CHECK_NEAR(L.x.hi, 8.0, 1e-12);
    esft_plot_data_free(&run.data);

    const char *untimed = path_in("untimed.jsonl");
    write_text(untimed, "{\"iter\": 1, \"reward_mean\": 1, \"seconds\": 2}\n{\"iter\": 2, \"reward_mean\": 2}\n");
    CHECK(esft_plot_load(untimed, &run.data, &err) == ESFT_OK);
    CHECK(esft_plot_use_seconds(&run.data, untimed, &err) == ESFT_ERR_FORMAT);
    CHECKF(strstr(err.msg, "iteration 2") && strstr(err.msg, "seconds"), "%s", err.msg);
    esft_plot_data_free(&run.data);
    CHECK(esft_plot_metrics_by(&untimed, 1, path_in("untimed.png"), NULL, ESFT_PLOT_BY_TIME, &err) ==
          ESFT_ERR_FORMAT);
    const char *neg = path_in("negative.jsonl");
    write_text(neg, "{\"iter\": 1, \"reward_mean\": 1, \"seconds\": -1}\n");
    CHECK(esft_plot_load(neg, &run.data, &err) == ESFT_ERR_FORMAT);
    CHECKF(strstr(err.msg, ":1:") && strstr(err.msg, "negative"), "%s", err.msg);
#ifdef ESFT_HAVE_CAIRO
    char *ok[] = {"plot", (char *)p, "--x", "time", "-o", (char *)path_in("timed.svg"), NULL};
    CHECK(cmd_plot(6, ok) == 0);
    char *svg = test_read_file(path_in("timed.svg"), NULL);
    CHECK(svg && strstr(svg, "reward against training time"));
    free(svg);
    char *bad[] = {"plot", (char *)p, "--x", "tokens", "-o", (char *)path_in("timed2.svg"), NULL};
    CHECK(cmd_plot(6, bad) == 2);
#endif
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/plot_test", ESFT_TEST_BINARY_DIR);
    mkdir(dir, 0777);
    char metrics_buf[1200];
    snprintf(metrics_buf, sizeof metrics_buf, "%s/metrics.jsonl", dir);
    const char *metrics = metrics_buf;
    write_metrics(metrics);

    test_ticks();
    test_errors();
    test_names();
    test_by_time();
    esft_plot_data d = {0};
    test_data(metrics, &d);
#ifdef ESFT_HAVE_CAIRO
    if (d.n == 41) {
        test_png(metrics, &d);
        test_svg(metrics);
        test_pdf(metrics);
        test_two_runs(metrics);
    }
    test_no_eval();
    test_edge_cases();
    test_command(metrics);
#else
    test_without_cairo(metrics);
#endif
    esft_plot_data_free(&d);
    return TEST_EXIT();
}
