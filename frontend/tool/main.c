/* esft: fine-tune language models with evolution strategies. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "registry.h"

typedef struct subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} subcommand;

static const subcommand subcommands[] = {
    {"train", cmd_train, "fine-tune a model with evolution strategies"},
    {"eval", cmd_eval, "accuracy and mean reward of a model on a task"},
    {"score", cmd_score, "score given responses with a task's reward (no model)"},
    {"data", cmd_data, "generate task data (countdown problems, sudoku puzzles)"},
    {"plot", cmd_plot, "draw a run's reward curve (metrics.jsonl) as PNG or SVG"},
    {"generate", cmd_generate, "continue text with a model (one prompt or a JSONL batch)"},
    {"bench", cmd_bench, "measure decoding speed and matmul throughput"},
    {"devices", cmd_devices, "list the compute devices esft can use"},
    {"export", cmd_export, "write a model as a Hugging Face directory or a GGUF file"},
    {"info", cmd_info, "describe a model: architecture, sizes, tokenizer, what esft trains"},
    {"synth", cmd_synth, "write a random-weight GGUF model of a given shape"},
};

static void usage(FILE *out) {
    fprintf(out,
            "esft %s: fine-tune language models with evolution strategies\n\n"
            "usage: esft <command> [options]\n\ncommands:\n",
            ESFT_VERSION);
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out, "\nRun 'esft <command> --help' for a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "esft: no command given (commands:");
        for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
            fprintf(stderr, " %s", subcommands[i].name);
        fprintf(stderr, "; see 'esft --help')\n");
        return ESFT_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return ESFT_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        /* what this binary was built with: scripts and tests ask (e.g. mpi) */
        printf("esft %s\nbuilt with:", ESFT_VERSION);
        for (int i = 0; i < esft_registry_n_drivers(); i++) printf(" %s", esft_registry_driver(i)->name);
#ifdef ESFT_HAVE_MPI
        printf(" mpi");
#endif
        printf("\n");
        return ESFT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "esft: unknown command '%s' (see 'esft --help')\n", argv[1]);
    return ESFT_EXIT_USAGE;
}
