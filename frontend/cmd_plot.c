/* esft plot: a training run's reward curve as PNG or SVG. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "commands.h"
#include "plot.h"

int cmd_plot(int argc, char **argv) {
    const char *out = NULL, *title = NULL;
    const cli_opt opts[] = {
        {"out", CLI_STR, &out, "FILE", "output image, .png or .svg (also -o; default DIR/reward.png)", 0, 0},
        {"title", CLI_STR, &title, "TEXT", "chart title (default: \"Reward: DIR\")", 0, 0},
    };
    const cli_command cmd = {"plot", "DIR/metrics.jsonl|DIR -o FILE.png|FILE.svg [--title T]",
                             "Draws a run's reward curve: mean reward, mean +/- std and min-max bands\n"
                             "per iteration, and eval accuracy (right axis) where recorded.",
                             opts, (int)(sizeof opts / sizeof opts[0]), 1, 1};

    /* cli_parse knows only long options: spell -o as --out. */
    char **args = malloc((size_t)(argc + 1) * sizeof *args);
    if (!args) return ESFT_EXIT_RUNTIME;
    bool literal = false;
    for (int i = 0; i < argc; i++) {
        args[i] = argv[i];
        if (i > 0 && !literal && strcmp(argv[i], "--") == 0) literal = true;
        if (i > 0 && !literal && strcmp(argv[i], "-o") == 0) args[i] = (char *)"--out";
    }
    args[argc] = NULL;
    const char *pos[1];
    int n_pos = 0;
    int rc = cli_parse(&cmd, argc, args, pos, &n_pos);
    free(args);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;

    /* A run directory stands for its metrics.jsonl. */
    const char *in = pos[0];
    char in_buf[4096], out_buf[4096];
    struct stat sb;
    bool is_dir = stat(in, &sb) == 0 && S_ISDIR(sb.st_mode);
    size_t in_len = strlen(in);
    while (is_dir && in_len > 1 && in[in_len - 1] == '/') in_len--;
    if (is_dir) {
        snprintf(in_buf, sizeof in_buf, "%.*s/metrics.jsonl", (int)in_len, in);
        in = in_buf;
    }
    if (!out) {
        const char *slash = strrchr(in, '/');
        if (slash)
            snprintf(out_buf, sizeof out_buf, "%.*s/reward.png", (int)(slash - in), in);
        else
            snprintf(out_buf, sizeof out_buf, "reward.png");
        out = out_buf;
    }
    if (esft_plot_format_of(out) == ESFT_PLOT_NONE) {
        fprintf(stderr, "esft plot: output '%s' must end in .png or .svg (see 'esft plot --help')\n", out);
        return ESFT_EXIT_USAGE;
    }

    esft_err err = {{0}};
    if (esft_plot_metrics(in, out, title, &err) != ESFT_OK) {
        fprintf(stderr, "esft plot: %s\n", err.msg);
        return ESFT_EXIT_RUNTIME;
    }
    printf("%s\n", out);
    return ESFT_EXIT_OK;
}
