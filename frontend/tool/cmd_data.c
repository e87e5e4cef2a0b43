/* esft data: writes generated task data sets (countdown, sudoku). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "cli.h"
#include "commands.h"
#include "countdown.h"
#include "sudoku.h"

/* Writes text and a final newline to path atomically, or to stdout when
 * path is NULL; a failure is reported as one line. */
static int write_output(const char *path, const char *text) {
    esft_err err = {{0}};
    if (path) {
        size_t n = strlen(text);
        char *with_nl = malloc(n + 2);
        if (!with_nl) {
            fprintf(stderr, "esft data: out of memory\n");
            return ESFT_EXIT_RUNTIME;
        }
        memcpy(with_nl, text, n);
        with_nl[n] = '\n';
        esft_status st = esft_atomic_write(path, with_nl, n + 1, &err);
        free(with_nl);
        if (st) {
            fprintf(stderr, "esft data: %s\n", err.msg);
            return ESFT_EXIT_RUNTIME;
        }
        return ESFT_EXIT_OK;
    }
    if (fputs(text, stdout) < 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
        fprintf(stderr, "esft data: stdout: write failed: %s\n", strerror(errno));
        return ESFT_EXIT_RUNTIME;
    }
    return ESFT_EXIT_OK;
}

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

static int data_countdown(int argc, char **argv) {
    int n = 0;
    uint64_t seed = 0;
    const char *numbers = "3-4", *out_path = NULL;
    const cli_opt opts[] = {
        {"n", CLI_INT, &n, "N", "number of problems (required)", 1, 10000000},
        {"seed", CLI_U64, &seed, "S", "generator seed (default 0); the same seed gives the same file", 0, 0},
        {"numbers", CLI_STR, &numbers, "A-B", "numbers per problem, between 1 and 16 (default 3-4)", 0, 0},
        {"out", CLI_STR, &out_path, "FILE", "write the JSON here instead of stdout", 0, 0},
    };
    const cli_command cmd = {"data countdown", "--n N [--seed S] [--numbers A-B] [--out FILE]",
                             "Generates solvable Countdown problems as a JSON array of\n"
                             "{id, context, numbers, target, solution} in the paper's prompt format.",
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    if (n < 1) {
        fprintf(stderr, "esft data countdown: --n is required (see 'esft data countdown --help')\n");
        return ESFT_EXIT_USAGE;
    }
    int lo, hi;
    if (!parse_range(numbers, &lo, &hi)) {
        fprintf(stderr, "esft data countdown: --numbers '%s': expected A or A-B with 1 <= A <= B <= %d\n", numbers,
                ESFT_COUNTDOWN_MAX_NUMBERS);
        return ESFT_EXIT_USAGE;
    }
    char *json = NULL;
    esft_err err = {{0}};
    if (esft_countdown_generate(n, seed, lo, hi, &json, &err)) {
        fprintf(stderr, "esft data: %s\n", err.msg);
        return ESFT_EXIT_RUNTIME;
    }
    rc = write_output(out_path, json);
    free(json);
    return rc;
}

/* Records puzzles[0..count) as JSONL text (ids first_id, first_id + 1, ...),
 * without the final newline. NULL when out of memory. */
static char *sudoku_jsonl(const esft_sudoku_puzzle *puzzles, int count, int first_id) {
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    for (int i = 0; text && i < count; i++) {
        char *line = esft_sudoku_record(&puzzles[i], first_id + i);
        size_t m = line ? strlen(line) : 0;
        if (line && len + m + 2 > cap) {
            while (len + m + 2 > cap) cap *= 2;
            char *grown = realloc(text, cap);
            if (!grown) free(text);
            text = grown;
        }
        if (!line || !text) {
            free(line);
            free(text);
            return NULL;
        }
        if (i) text[len++] = '\n';
        memcpy(text + len, line, m);
        len += m;
        free(line);
    }
    if (text) text[len] = '\0';
    return text;
}

#define SUDOKU_MAX_PUZZLES 500000

static int data_sudoku(int argc, char **argv) {
    int size = 9, n = 0, clues = 0, n_eval = 0;
    uint64_t seed = 0;
    const char *out_path = NULL, *eval_path = NULL;
    const cli_opt opts[] = {
        {"size", CLI_INT, &size, "4|9", "grid size: 4 (2x2 boxes) or 9 (3x3 boxes); default 9", 0, 0},
        {"n", CLI_INT, &n, "N", "number of puzzles (required)", 1, SUDOKU_MAX_PUZZLES},
        {"clues", CLI_INT, &clues, "K", "given digits per puzzle: 4..15 for 4x4, 17..80 for 9x9 (default 8 / 32)",
         0, 0},
        {"seed", CLI_U64, &seed, "S", "generator seed (default 0); the same seed gives the same files", 0, 0},
        {"out", CLI_STR, &out_path, "FILE", "write the training puzzles here instead of stdout", 0, 0},
        {"eval", CLI_INT, &n_eval, "N2", "also make N2 held-out puzzles, none equal to a training one", 1,
         SUDOKU_MAX_PUZZLES},
        {"eval-out", CLI_STR, &eval_path, "FILE", "where the --eval puzzles go (required with --eval)", 0, 0},
    };
    const cli_command cmd = {
        "data sudoku", "--n N [--size 4|9] [--clues K] [--seed S] [--out FILE] [--eval N2 --eval-out FILE2]",
        "Generates Sudoku puzzles, each with exactly one solution, as JSONL records\n"
        "{id, prompt, puzzle, solution, size, clues} for --reward sudoku, the prompt in\n"
        "the paper's style. --eval adds held-out puzzles distinct from the training ones.",
        opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    const char *bad = n < 1                         ? "--n is required"
                      : size != 4 && size != 9      ? "--size must be 4 or 9"
                      : (n_eval > 0) != !!eval_path ? "--eval and --eval-out go together"
                      : eval_path && out_path && strcmp(eval_path, out_path) == 0
                          ? "--eval-out must differ from --out"
                          : NULL;
    if (bad) {
        fprintf(stderr, "esft data sudoku: %s (see 'esft data sudoku --help')\n", bad);
        return ESFT_EXIT_USAGE;
    }
    if (!clues) clues = size == 4 ? 8 : 32;
    if (clues < esft_sudoku_min_clues(size) || clues > esft_sudoku_max_clues(size)) {
        fprintf(stderr, "esft data sudoku: --clues %d: a %dx%d puzzle takes %d to %d\n", clues, size, size,
                esft_sudoku_min_clues(size), esft_sudoku_max_clues(size));
        return ESFT_EXIT_USAGE;
    }
    /* One run makes the training puzzles and then the held-out ones, all
     * distinct: the training set is the same with or without --eval. */
    esft_sudoku_puzzle *puzzles = malloc((size_t)(n + n_eval) * sizeof *puzzles);
    esft_err err = {{0}};
    if (!puzzles) {
        fprintf(stderr, "esft data sudoku: out of memory for %d puzzles\n", n + n_eval);
        return ESFT_EXIT_RUNTIME;
    }
    if (esft_sudoku_generate(size, clues, n + n_eval, seed, puzzles, &err)) {
        fprintf(stderr, "esft data: %s\n", err.msg);
        free(puzzles);
        return ESFT_EXIT_RUNTIME;
    }
    char *train = sudoku_jsonl(puzzles, n, 0), *held = n_eval ? sudoku_jsonl(puzzles + n, n_eval, n) : NULL;
    free(puzzles);
    if (!train || (n_eval && !held)) rc = (fprintf(stderr, "esft data sudoku: out of memory\n"), ESFT_EXIT_RUNTIME);
    if (!rc && held) rc = write_output(eval_path, held);
    if (!rc) rc = write_output(out_path, train);
    free(train);
    free(held);
    return rc;
}

int cmd_data(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "countdown") == 0) return data_countdown(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "sudoku") == 0) return data_sudoku(argc - 1, argv + 1);
    const cli_command cmd = {"data", "countdown|sudoku [OPTIONS]   (see 'esft data GENERATOR --help')",
                             "Generates a task data set:\n"
                             "  countdown  solvable Countdown problems (JSON array, --task countdown)\n"
                             "  sudoku     Sudoku puzzles with one solution each (JSONL, --reward sudoku)",
                             NULL, 0, 1, 1};
    const char *pos[1] = {NULL};
    int n_pos = 0;
    int rc = cli_parse(&cmd, argc, argv, pos, &n_pos);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    fprintf(stderr, "esft data: no generator '%s' (countdown, sudoku; the generator's name comes first)\n", pos[0]);
    return ESFT_EXIT_USAGE;
}
