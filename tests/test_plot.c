/* esft plot: metrics.jsonl parsing and its errors, tick arithmetic, and the
 * rendered charts. The PNG is checked with an independent decoder (CRC32,
 * stored deflate blocks, Adler-32) and by looking at pixels where the layout
 * says the data lies; the SVG by its elements. */
#include <errno.h>
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

/* ---- an independent PNG reader (stored deflate blocks only) ---- */

static uint32_t crc32_bitwise(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

typedef struct image {
    int w, h;
    uint8_t *rgb;
} image;

/* Returns true when the file is a structurally valid PNG of the expected
 * kind; every check counts as a test. */
static bool read_png(const char *path, image *img) {
    size_t len;
    uint8_t *d = (uint8_t *)test_read_file(path, &len);
    CHECKF(d != NULL, "%s unreadable", path);
    if (!d) return false;
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    CHECK(len > 8 && memcmp(d, sig, 8) == 0);
    size_t pos = 8, idat_len = 0;
    uint8_t *idat = malloc(len);
    int n_chunks = 0, bad_crc = 0, w = 0, h = 0;
    bool ihdr_ok = false, iend = false;
    while (pos + 12 <= len && !iend) {
        uint32_t n = be32(d + pos);
        if (pos + 12 + n > len) break;
        const uint8_t *type = d + pos + 4, *data = d + pos + 8;
        if (crc32_bitwise(type, 4 + n) != be32(data + n)) bad_crc++;
        if (n_chunks == 0) {
            ihdr_ok = memcmp(type, "IHDR", 4) == 0 && n == 13 && data[8] == 8 && data[9] == 2 &&
                      data[10] == 0 && data[11] == 0 && data[12] == 0;
            w = (int)be32(data);
            h = (int)be32(data + 4);
        }
        if (memcmp(type, "IDAT", 4) == 0) {
            memcpy(idat + idat_len, data, n);
            idat_len += n;
        }
        if (memcmp(type, "IEND", 4) == 0) iend = n == 0;
        n_chunks++;
        pos += 12 + n;
    }
    free(d);
    CHECK(ihdr_ok);
    CHECK(bad_crc == 0);
    CHECK(iend && pos == len);
    CHECK(w == ESFT_PLOT_WIDTH && h == ESFT_PLOT_HEIGHT);

    /* zlib: header, stored blocks, Adler-32 of the data. */
    size_t raw_len = (size_t)h * ((size_t)w * 3 + 1), got = 0;
    uint8_t *raw = malloc(raw_len + 1);
    bool ok = idat_len >= 6 && (idat[0] & 0x0F) == 8 && ((idat[0] << 8) | idat[1]) % 31 == 0 &&
              !(idat[1] & 0x20);
    CHECK(ok);
    size_t z = 2;
    bool final = false, blocks_ok = true;
    while (ok && !final && z + 5 <= idat_len) {
        final = idat[z] & 1;
        int btype = (idat[z] >> 1) & 3;
        unsigned n = idat[z + 1] | idat[z + 2] << 8, nn = idat[z + 3] | idat[z + 4] << 8;
        if (btype != 0 || (n ^ 0xFFFF) != nn || z + 5 + n > idat_len || got + n > raw_len) {
            blocks_ok = false;
            break;
        }
        memcpy(raw + got, idat + z + 5, n);
        got += n;
        z += 5 + n;
    }
    CHECK(blocks_ok && final);
    CHECK(got == raw_len);
    uint32_t s1 = 1, s2 = 0;
    for (size_t i = 0; i < got; i++) {
        s1 = (s1 + raw[i]) % 65521;
        s2 = (s2 + s1) % 65521;
    }
    CHECK(z + 4 == idat_len && be32(idat + z) == ((s2 << 16) | s1));
    free(idat);
    int bad_filter = 0;
    for (int y = 0; y < h && got == raw_len; y++) bad_filter += raw[(size_t)y * (w * 3 + 1)] != 0;
    CHECK(bad_filter == 0);
    bool all = ok && blocks_ok && got == raw_len && ihdr_ok && bad_crc == 0 && bad_filter == 0;
    if (!all) {
        free(raw);
        return false;
    }
    img->w = w;
    img->h = h;
    img->rgb = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++) memcpy(img->rgb + (size_t)y * w * 3, raw + (size_t)y * (w * 3 + 1) + 1, (size_t)w * 3);
    free(raw);
    return true;
}

static int color_dist(const image *img, int x, int y, uint32_t rgb) {
    if (x < 0 || y < 0 || x >= img->w || y >= img->h) return 1000;
    const uint8_t *p = img->rgb + ((size_t)y * img->w + x) * 3;
    return abs(p[0] - (int)(rgb >> 16)) + abs(p[1] - (int)((rgb >> 8) & 0xFF)) + abs(p[2] - (int)(rgb & 0xFF));
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

/* Number of "x,y" pairs in the points attribute of the first element
 * starting with `tag`. */
static int count_points(const char *svg, const char *tag) {
    const char *p = strstr(svg, tag);
    if (!p) return -1;
    p = strstr(p, "points=\"");
    if (!p) return -1;
    p += 8;
    int n = 0;
    for (; *p && *p != '"'; p++) n += *p == ',';
    return n;
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

    CHECK(esft_plot_metrics(path_in("nulls.jsonl"), path_in("x.jpg"), NULL, &err) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_plot_metrics(path_in("bad_json.jsonl"), path_in("bad.png"), NULL, &err) == ESFT_ERR_FORMAT);
    struct stat sb;
    CHECK(stat(path_in("bad.png"), &sb) != 0); /* nothing written on failure */
}

static void test_png(const char *metrics, const esft_plot_data *d) {
    const char *png = path_in("curve.png");
    esft_err err = {{0}};
    esft_status st = esft_plot_metrics(metrics, png, "Test run", &err);
    CHECKF(st == ESFT_OK, "%s", err.msg);
    image img = {0};
    if (!read_png(png, &img)) return;
    esft_plot_layout L;
    esft_plot_compute_layout(d, &L);

    /* White background in the corners and margins. */
    CHECK(color_dist(&img, 0, 0, 0xFFFFFF) == 0);
    CHECK(color_dist(&img, img.w - 1, img.h - 1, 0xFFFFFF) == 0);
    CHECK(color_dist(&img, 3, img.h / 2, 0xFFFFFF) == 0);
    CHECK(color_dist(&img, img.w - 3, 3, 0xFFFFFF) == 0);

    /* Mean line where the layout puts it, at several iterations. */
    for (int i = 12; i <= 32; i += 4) {
        int x = (int)(esft_plot_x_px(&L, i) + 0.5);
        int want = (int)(esft_plot_y_px(&L, mean_at(i)));
        int y = find_in_column(&img, x, want, 12, ESFT_PLOT_RGB_MEAN, 24);
        CHECKF(y >= 0 && abs(y - want) <= 2, "mean line at iter %d: row %d, want %d", i, y, want);
    }
    /* Bands: min-max between mean+std and max, std between mean and mean+std;
     * nothing above max. Sample between vertical grid lines. */
    for (int i = 11; i <= 31; i += 5) {
        double it = i + 0.5, m = 0.2 + 0.015 * it;
        int x = (int)esft_plot_x_px(&L, it);
        int y_minmax = (int)(esft_plot_y_px(&L, m + 0.10) + 0.5);
        int y_minmax_lo = (int)(esft_plot_y_px(&L, m - 0.10) + 0.5);
        int y_std = (int)(esft_plot_y_px(&L, m + 0.03) + 0.5);
        int y_above = (int)(esft_plot_y_px(&L, m + 0.20) + 0.5);
        CHECKF(color_dist(&img, x, y_minmax, ESFT_PLOT_RGB_MINMAX) <= 6, "min-max band at (%d,%d)", x, y_minmax);
        CHECKF(color_dist(&img, x, y_minmax_lo, ESFT_PLOT_RGB_MINMAX) <= 6, "min-max band at (%d,%d)", x, y_minmax_lo);
        CHECKF(color_dist(&img, x, y_std, ESFT_PLOT_RGB_STD) <= 6, "std band at (%d,%d)", x, y_std);
        CHECKF(color_dist(&img, x, y_above, ESFT_PLOT_RGB_MINMAX) > 30 &&
                   color_dist(&img, x, y_above, ESFT_PLOT_RGB_STD) > 30,
               "band above max at (%d,%d)", x, y_above);
    }
    /* Eval accuracy markers on the right axis scale. */
    for (int i = 10; i <= 30; i += 10) {
        int x = (int)(esft_plot_x_px(&L, i) + 0.5);
        int want = (int)(esft_plot_acc_px(&L, 0.05 + i / 400.0) + 0.5);
        int y = find_in_column(&img, x, want, 8, ESFT_PLOT_RGB_EVAL_ACC, 30);
        CHECKF(y >= 0 && abs(y - want) <= 2, "eval marker at iter %d: row %d, want %d", i, y, want);
    }
    /* Text: dark pixels in the title row, tick label rows and margins. */
    CHECK(count_color(&img, 0, 0, img.w, (int)L.top - 30, 0x282828, 60) > 100);
    CHECK(count_color(&img, 0, (int)L.top, (int)L.left - 6, (int)L.bottom, 0x282828, 60) > 100);
    CHECK(count_color(&img, (int)L.left, (int)L.bottom + 4, (int)L.right, img.h, 0x282828, 60) > 100);
    CHECK(count_color(&img, (int)L.right + 4, (int)L.top, img.w, (int)L.bottom, ESFT_PLOT_RGB_EVAL_ACC, 60) > 30);
    /* Legend swatches above the plot. */
    CHECK(count_color(&img, 0, 0, img.w, (int)L.top - 2, ESFT_PLOT_RGB_MINMAX, 4) > 100);
    CHECK(count_color(&img, 0, 0, img.w, (int)L.top - 2, ESFT_PLOT_RGB_STD, 4) > 100);
    CHECK(count_color(&img, 0, 0, img.w, (int)L.top - 2, ESFT_PLOT_RGB_MEAN, 20) > 20);
    /* No data drawn outside the plot area. */
    CHECK(count_color(&img, 0, (int)L.bottom + 3, img.w, img.h, ESFT_PLOT_RGB_MEAN, 60) == 0);
    free(img.rgb);
}

static void test_svg(const char *metrics, const esft_plot_data *d) {
    const char *svg_path = path_in("curve.svg");
    esft_err err = {{0}};
    esft_status st = esft_plot_metrics(metrics, svg_path, "A&B <run>", &err);
    CHECKF(st == ESFT_OK, "%s", err.msg);
    char *svg = test_read_file(svg_path, NULL);
    CHECK(svg != NULL);
    if (!svg) return;
    CHECK(strncmp(svg, "<?xml", 5) == 0);
    CHECK(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"500\"") != NULL);
    size_t n = strlen(svg);
    CHECK(n > 7 && strcmp(svg + n - 7, "</svg>\n") == 0);
    CHECK(count_str(svg, "<svg") == 1 && count_str(svg, "</svg>") == 1);
    CHECK(count_str(svg, "<text") == count_str(svg, "</text>"));
    CHECK(count_str(svg, "<") == 2 * count_str(svg, "</text>") + count_str(svg, "/>") + 2 /* xml, svg */ +
                                     2 /* title */ + 1 /* </svg> */);
    CHECK(count_points(svg, "<polyline class=\"mean\"") == d->n);
    CHECK(count_points(svg, "<polygon class=\"band-minmax\"") == 2 * d->n);
    CHECK(count_points(svg, "<polygon class=\"band-std\"") == 2 * d->n);
    CHECK(count_points(svg, "<polyline class=\"eval-accuracy-line\"") == 5);
    CHECK(count_str(svg, "<circle class=\"eval-accuracy\"") == 5);
    CHECK(count_str(svg, "class=\"eval-reward") == 0);
    CHECK(strstr(svg, ">A&amp;B &lt;run&gt;</text>") != NULL);
    CHECK(strstr(svg, "<title>A&amp;B &lt;run&gt;</title>") != NULL);
    /* Tick labels: reward 0.0..1.0, iterations 0..40, 0..100%. */
    esft_plot_layout L;
    esft_plot_compute_layout(d, &L);
    CHECK_NEAR(L.y.lo, 0.0, 1e-12);
    CHECK_NEAR(L.y.hi, 1.0, 1e-12);
    CHECK(fabs(L.y.step - 0.1) < 1e-12 || fabs(L.y.step - 0.2) < 1e-12);
    CHECK_NEAR(L.x.lo, 0.0, 1e-12);
    CHECK_NEAR(L.x.hi, 40.0, 1e-12);
    CHECK(L.right_axis);
    CHECK(count_str(svg, "class=\"tick-y\"") == (int)lround(1.0 / L.y.step) + 1);
    CHECK(strstr(svg, ">0.4</text>") != NULL && strstr(svg, ">1.0</text>") != NULL);
    CHECK(count_str(svg, "class=\"tick-x\"") == (int)(40 / L.x.step) + 1);
    CHECK(count_str(svg, "class=\"tick-r\"") == 6 && strstr(svg, ">100%</text>") != NULL);
    CHECK(strstr(svg, ">iteration</text>") != NULL && strstr(svg, ">reward</text>") != NULL);
    CHECK(strstr(svg, ">mean reward</text>") != NULL);
    CHECK(strstr(svg, ">41 iterations") != NULL);
    free(svg);
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

/* Degenerate inputs render without trouble. */
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
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = path_in(cases[i].name);
        write_text(p, cases[i].text);
        esft_err err = {{0}};
        CHECKF(esft_plot_metrics(p, path_in("edge.png"), NULL, &err) == ESFT_OK, "%s: %s", cases[i].name, err.msg);
        CHECKF(esft_plot_metrics(p, path_in("edge.svg"), NULL, &err) == ESFT_OK, "%s: %s", cases[i].name, err.msg);
        image img = {0};
        if (read_png(path_in("edge.png"), &img)) free(img.rgb);
    }
}

static void test_command(const char *metrics) {
    char *ok_png[] = {"plot", (char *)metrics, "-o", (char *)path_in("cmd.png"), "--title", "T", NULL};
    CHECK(cmd_plot(6, ok_png) == 0);
    struct stat sb;
    CHECK(stat(path_in("cmd.png"), &sb) == 0 && sb.st_size > 1000000);
    char *dir_svg[] = {"plot", dir, "--out", (char *)path_in("cmd.svg"), NULL};
    CHECK(cmd_plot(4, dir_svg) == 0); /* a run directory means its metrics.jsonl */
    CHECK(stat(path_in("cmd.svg"), &sb) == 0 && sb.st_size > 1000);
    char *bad_ext[] = {"plot", (char *)metrics, "-o", (char *)path_in("cmd.gif"), NULL};
    CHECK(cmd_plot(4, bad_ext) == 2);
    char *no_arg[] = {"plot", NULL};
    CHECK(cmd_plot(1, no_arg) == 2);
    char *bad_file[] = {"plot", (char *)path_in("bad_json.jsonl"), "-o", (char *)path_in("cmd2.png"), NULL};
    CHECK(cmd_plot(4, bad_file) == 1);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/plot_test", ESFT_TEST_BINARY_DIR);
    mkdir(dir, 0777);
    char metrics[1200];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", dir);
    write_metrics(metrics);

    test_ticks();
    test_errors();
    esft_plot_data d = {0};
    test_data(metrics, &d);
    if (d.n == 41) {
        test_png(metrics, &d);
        test_svg(metrics, &d);
    }
    esft_plot_data_free(&d);
    test_edge_cases();
    test_command(metrics);
    return TEST_EXIT();
}
