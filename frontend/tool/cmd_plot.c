/* esft plot: training runs' reward curves as PNG, SVG or PDF. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "commands.h"
#include "plot.h"

/* A run directory stands for its metrics.jsonl; buf holds the result. */
static const char *metrics_path(const char *in, char *buf, size_t cap) {
    struct stat sb;
    if (stat(in, &sb) != 0 || !S_ISDIR(sb.st_mode)) return in;
    size_t len = strlen(in);
    while (len > 1 && in[len - 1] == '/') len--;
    snprintf(buf, cap, "%.*s/metrics.jsonl", (int)len, in);
    return buf;
}

int cmd_plot(int argc, char **argv) {
    const char *out = NULL, *title = NULL, *x_axis = "iter";
    const cli_opt opts[] = {
        {"out", CLI_STR, &out, "FILE",
         "output figure, .png, .svg or .pdf (also -o; default: the first run's DIR/reward.png)", 0, 0},
        {"title", CLI_STR, &title, "TEXT", "figure title (default: \"Reward: DIR\")", 0, 0},
        {"x", CLI_STR, &x_axis, "AXIS",
         "iter | time: x is the iteration, or the training time so far (sum of each iteration's seconds) (default iter)", 0, 0},
    };
    const cli_command cmd = {
        "plot", "RUN... -o FILE.png|FILE.svg|FILE.pdf [--title T] [--x iter|time]   (RUN: DIR/metrics.jsonl or DIR)",
        "Draws training runs' reward curves in one figure: per run the mean reward per\n"
        "iteration over its min-max and mean +/- std bands, eval reward where recorded,\n"
        "and eval accuracy on a right axis (0-100%) where recorded. The legend names\n"
        "each run by its directory.",
        opts, (int)(sizeof opts / sizeof opts[0]), 1, ESFT_PLOT_MAX_RUNS};

    const char *pos[ESFT_PLOT_MAX_RUNS];
    int n_pos = 0;
    int rc = cli_parse(&cmd, argc, argv, pos, &n_pos);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;

    esft_plot_by by;
    if (!strcmp(x_axis, "iter"))
        by = ESFT_PLOT_BY_ITER;
    else if (!strcmp(x_axis, "time"))
        by = ESFT_PLOT_BY_TIME;
    else {
        fprintf(stderr, "esft plot: --x '%s': expected iter or time\n", x_axis);
        return ESFT_EXIT_USAGE;
    }
    static char in_bufs[ESFT_PLOT_MAX_RUNS][4096];
    const char *in[ESFT_PLOT_MAX_RUNS];
    for (int i = 0; i < n_pos; i++) in[i] = metrics_path(pos[i], in_bufs[i], sizeof in_bufs[i]);
    char out_buf[4096];
    if (!out) {
        const char *slash = strrchr(in[0], '/');
        if (slash)
            snprintf(out_buf, sizeof out_buf, "%.*s/reward.png", (int)(slash - in[0]), in[0]);
        else
            snprintf(out_buf, sizeof out_buf, "reward.png");
        out = out_buf;
    }
    if (esft_plot_format_of(out) == ESFT_PLOT_NONE) {
        fprintf(stderr, "esft plot: output '%s' must end in .png, .svg or .pdf (see 'esft plot --help')\n", out);
        return ESFT_EXIT_USAGE;
    }

    esft_err err = {{0}};
    if (esft_plot_metrics_by(in, n_pos, out, title, by, &err) != ESFT_OK) {
        fprintf(stderr, "esft plot: %s\n", err.msg);
        return ESFT_EXIT_RUNTIME;
    }
    printf("%s\n", out);
    return ESFT_EXIT_OK;
}
