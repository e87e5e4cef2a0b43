/* esft data: writes generated task data sets. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "cli.h"
#include "commands.h"
#include "countdown.h"

/* "A" or "A-B" with 1 <= A <= B <= 16. */
static bool parse_range(const char *s, int *lo, int *hi) {
    char *end;
    errno = 0;
    long a = strtol(s, &end, 10), b = a;
    if (end == s || errno) return false;
    if (*end == '-') {
        const char *t = end + 1;
        b = strtol(t, &end, 10);
        if (end == t || errno) return false;
    }
    if (*end || a < 1 || b > ESFT_COUNTDOWN_MAX_NUMBERS || a > b) return false;
    *lo = (int)a;
    *hi = (int)b;
    return true;
}

int cmd_data(int argc, char **argv) {
    int n = 0;
    uint64_t seed = 0;
    const char *numbers = "3-4", *out_path = NULL;
    const cli_opt opts[] = {
        {"n", CLI_INT, &n, "N", "number of problems (required)", 1, 10000000},
        {"seed", CLI_U64, &seed, "S", "generator seed (default 0); the same seed gives the same file", 0, 0},
        {"numbers", CLI_STR, &numbers, "A-B", "numbers per problem, between 1 and 16 (default 3-4)", 0, 0},
        {"out", CLI_STR, &out_path, "FILE", "write the JSON here instead of stdout", 0, 0},
    };
    const cli_command cmd = {"data", "countdown --n N [--seed S] [--numbers A-B] [--out FILE]",
                             "Generates a task data set: solvable Countdown problems as a JSON array of\n"
                             "{id, context, numbers, target, solution} in the paper's prompt format.",
                             opts, (int)(sizeof opts / sizeof opts[0]), 1, 1};
    const char *pos[1] = {NULL};
    int n_pos = 0;
    int rc = cli_parse(&cmd, argc, argv, pos, &n_pos);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    if (strcmp(pos[0], "countdown") != 0) {
        fprintf(stderr, "esft data: no generator for task '%s' (countdown)\n", pos[0]);
        return ESFT_EXIT_USAGE;
    }
    if (n < 1) {
        fprintf(stderr, "esft data: --n is required (see 'esft data --help')\n");
        return ESFT_EXIT_USAGE;
    }
    int lo, hi;
    if (!parse_range(numbers, &lo, &hi)) {
        fprintf(stderr, "esft data: --numbers '%s': expected A or A-B with 1 <= A <= B <= %d\n", numbers,
                ESFT_COUNTDOWN_MAX_NUMBERS);
        return ESFT_EXIT_USAGE;
    }
    char *json = NULL;
    esft_err err = {{0}};
    if (esft_countdown_generate(n, seed, lo, hi, &json, &err)) {
        fprintf(stderr, "esft data: %s\n", err.msg);
        return ESFT_EXIT_RUNTIME;
    }
    esft_atomic_file af = {0};
    if (out_path && esft_atomic_open(&af, out_path, &err)) {
        fprintf(stderr, "esft data: --out %s\n", err.msg);
        free(json);
        return ESFT_EXIT_RUNTIME;
    }
    FILE *f = out_path ? af.fp : stdout;
    bool ok = fputs(json, f) >= 0 && fputc('\n', f) != EOF;
    free(json);
    if (out_path && ok) ok = esft_atomic_commit(&af, &err) == ESFT_OK;
    else if (out_path) esft_atomic_discard(&af);
    else ok = ok && fflush(stdout) == 0;
    if (!ok) {
        if (!err.msg[0])
            snprintf(err.msg, sizeof err.msg, "%s: write failed: %s", out_path ? out_path : "stdout", strerror(errno));
        fprintf(stderr, "esft data: %s\n", err.msg);
        return ESFT_EXIT_RUNTIME;
    }
    return ESFT_EXIT_OK;
}
