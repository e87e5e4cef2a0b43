/* Table-driven command-line parsing shared by every subcommand, and the
 * common steps (opening a backend, finding the default model). */
#ifndef ESFT_CLI_H
#define ESFT_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "registry.h"


typedef enum cli_kind {
    CLI_STR,   /* const char * */
    CLI_BACKEND, /* const char *, a backend name: --help lists those built in */
    CLI_INT,   /* int, within [min, max] */
    CLI_U64,   /* uint64_t */
    CLI_FLOAT, /* float, within [min, max] */
    CLI_FLAG,  /* bool, takes no value */
    CLI_LIST,  /* repeatable string: appends to a cli_list */
} cli_kind;

typedef struct cli_list {
    const char *items[32];
    int n;
} cli_list;

typedef struct cli_opt {
    const char *name;    /* without the leading dashes */
    cli_kind kind;
    void *dst;
    const char *metavar; /* e.g. "N" */
    const char *help;
    double min, max;     /* for CLI_INT / CLI_FLOAT; min == max means unbounded */
} cli_opt;

typedef struct cli_command {
    const char *name;
    const char *usage;   /* one line after "esft NAME " */
    const char *summary; /* what it does, for --help */
    const cli_opt *opts;
    int n_opts;
    int min_positional, max_positional;
} cli_command;

/* Parses argv[1..argc) (argv[0] is the subcommand). Positionals go to pos.
 * Returns ESFT_EXIT_OK on success, ESFT_EXIT_USAGE on a usage error (message
 * printed), or -1 when --help was printed (caller exits 0). */
int cli_parse(const cli_command *cmd, int argc, char **argv, const char **pos, int *n_pos);
void cli_print_help(const cli_command *cmd);

/* Options every model-running command shares. Start from CLI_COMMON_INIT:
 * device -1 means --device was not given. */
typedef struct cli_common {
    const char *backend;
    int threads;
    int device;
    const char *model;
    const char *work_dtype; /* --work-dtype: NULL for the backend's default */
} cli_common;

#define CLI_COMMON_INIT {.device = -1}

#define CLI_COMMON_OPTS(c)                                                                     \
    {"backend", CLI_BACKEND, &(c).backend, "B", "(default auto)", 0, 0},                        \
    {"threads", CLI_INT, &(c).threads, "N", "host threads (default: all cores)", 0, 4096},       \
    {"work-dtype", CLI_STR, &(c).work_dtype, "D", "perturbed working weights: f32 | bf16 | f16 (default: the backend's, f32 on cpu, bf16 on cuda)", 0, 0}, \
    {"device", CLI_INT, &(c).device, "I", "device index within the backend (auto: within the backend it ranks first, see 'esft devices'); default auto's pick or 0, train under MPI the rank's local rank", 0, 64}

/* A data set scored by a built-in reward (train, eval, score). */
#define CLI_REWARD_OPTS(reward, arg, split)                                                                  \
    {"reward", CLI_STR, &(reward), "R",                                                                      \
     "score a --data set of records: exact | numeric | regex | countdown | conciseness | sudoku | arc", 0, 0}, \
    {"reward-arg", CLI_STR, &(arg), "A",                                                                     \
     "the reward's argument: regex pattern (else each record's 'pattern'), numeric tolerance (default 1e-6)", \
     0, 0},                                                                                                  \
    {"eval-split", CLI_FLOAT, &(split), "P", "hold out the fraction P of --data (chosen by prompt hash) for eval", 0, 1}

/* An external reward command scoring a data set (train, eval, score). */
#define CLI_REWARD_CMD_OPTS(cmd, timeout, timeout_score)                                                        \
    {"reward-cmd", CLI_STR, &(cmd), "CMD",                                                                       \
     "score a --data set with a program speaking JSON lines (see README, Your own task)", 0, 0},                 \
    {"reward-timeout", CLI_FLOAT, &(timeout), "S", "--reward-cmd: seconds per response (default 60)", 1e-3, 1e6}, \
    {"reward-timeout-score", CLI_FLOAT, &(timeout_score), "X", "--reward-cmd: the reward of a response that timed out (default 0)", 0, 0}

/* The model a command runs: `given` (--model), else the default model.
 * Writes the path to out; when the default is used and missing, prints a
 * one-line error saying how to get it and returns ESFT_EXIT_RUNTIME; a
 * given path that does not fit out is a usage error, never truncated. */
int cli_model_path(const char *cmd, const char *given, char *out, size_t cap);

/* Opens the backend named by the common options; prints the error itself. */
int cli_open_backend(const cli_common *c, esft_backend **out);
/* The same with work dtype "f32", "f16" or "bf16" (NULL: --work-dtype, else
 * the backend's default; a backend that does not offer it fails to open), also describing
 * the opened device in info when not NULL (its kind: info->is_gpu). */
int cli_open_backend_info(const cli_common *c, const char *dtype, esft_backend **out,
                          esft_device_info *info);

#endif
