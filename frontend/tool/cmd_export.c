/* esft export: any model esft loads (GGUF file, Hugging Face directory, a
 * run's final.gguf or checkpoint.gguf) written as a Hugging Face directory
 * or as a GGUF file. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "export.h"

int cmd_export(int argc, char **argv) {
    const char *format = "hf", *out = NULL, *dtype = NULL;
    bool force = false;
    const cli_opt opts[] = {
        {"format", CLI_STR, &format, "F", "hf (a Hugging Face directory, default) | gguf (one GGUF file)", 0, 0},
        {"out", CLI_STR, &out, "PATH", "the directory (hf) or file (gguf) to write", 0, 0},
        {"dtype", CLI_STR, &dtype, "T", "hf: bf16 (default) | f16 | f32; gguf: f32 | bf16 (default) | f16 | q8_0", 0, 0},
        {"force", CLI_FLAG, &force, NULL, "replace an existing --out (a non-empty directory or a file)", 0, 0},
    };
    const cli_command cmd = {"export", "MODEL --out PATH [--format hf|gguf] [--dtype T] [--force]",
                             "Writes MODEL (a GGUF file, a Hugging Face model directory, or a run's\n"
                             "final.gguf) as a Hugging Face directory (config.json, model.safetensors,\n"
                             "tokenizer.json, tokenizer_config.json, generation_config.json) that\n"
                             "transformers and vLLM load, or as a GGUF file that llama.cpp loads.\n"
                             "Weights are read as f32 and stored in --dtype (quantized GGUF inputs are\n"
                             "dequantized). The output appears whole or not at all.",
                             opts, (int)(sizeof opts / sizeof opts[0]), 1, 1};
    const char *model = NULL;
    int n_pos = 0;
    int rc = cli_parse(&cmd, argc, argv, &model, &n_pos);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    if (!out) {
        fprintf(stderr, "esft export: --out is required (the directory or file to write)\n");
        return ESFT_EXIT_USAGE;
    }
    const bool hf = strcmp(format, "hf") == 0;
    if (!hf && strcmp(format, "gguf") != 0) {
        fprintf(stderr, "esft export: --format %s: expected hf or gguf\n", format);
        return ESFT_EXIT_USAGE;
    }
    esft_export_format fmt = {.hf = hf, .force = force};
    if (!esft_export_dtype_from_name(hf, dtype ? dtype : "bf16", &fmt)) {
        fprintf(stderr, "esft export: --dtype %s: expected %s\n", dtype,
                hf ? "bf16, f16 or f32" : "f32, bf16, f16 or q8_0");
        return ESFT_EXIT_USAGE;
    }
    esft_err err = {{0}};
    esft_status st = esft_export_model(model, out, &fmt, &err);
    if (st) {
        fprintf(stderr, "esft export: %s\n", err.msg);
        return esft_exit_code(st);
    }
    printf("wrote %s (%s, %s)\n", out, hf ? "Hugging Face directory" : "GGUF", dtype ? dtype : "bf16");
    return ESFT_EXIT_OK;
}
