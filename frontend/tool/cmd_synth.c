/* esft synth: write a random-weight model (tests, benchmarks, GPU checks). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "synth.h"

int cmd_synth(int argc, char **argv) {
    const char *preset = "tiny", *arch = NULL, *type = "f32", *out = NULL, *chat_template = NULL;
    int vocab = 0, embd = 0, layers = 0, heads = 0, kv_heads = 0, ff = 0;
    bool untie = false;
    uint64_t seed = 1;
    const cli_opt opts[] = {
        {"preset", CLI_STR, &preset, "NAME", "tiny | tiny-qwen2 | smollm2-135m | qwen2.5-1.5b (default tiny)", 0, 0},
        {"arch", CLI_STR, &arch, "A", "llama | qwen2 (overrides the preset)", 0, 0},
        {"vocab", CLI_INT, &vocab, "N", "vocabulary size (>= 259)", 259, 1 << 22},
        {"embd", CLI_INT, &embd, "N", "embedding width", 2, 1 << 16},
        {"layers", CLI_INT, &layers, "N", "transformer blocks", 1, 1024},
        {"heads", CLI_INT, &heads, "N", "attention heads", 1, 1024},
        {"kv-heads", CLI_INT, &kv_heads, "N", "key/value heads", 1, 1024},
        {"ff", CLI_INT, &ff, "N", "feed-forward width", 1, 1 << 20},
        {"untied", CLI_FLAG, &untie, NULL, "write a separate output.weight", 0, 0},
        {"type", CLI_STR, &type, "T", "matrix storage: f32 | f16 | bf16 | q8_0 (default f32)", 0, 0},
        {"seed", CLI_U64, &seed, "S", "weight seed (default 1)", 0, 0},
        {"chat-template", CLI_STR, &chat_template, "JINJA", "tokenizer.chat_template to store (default: none)", 0, 0},
        {"out", CLI_STR, &out, "FILE", "output GGUF path (required)", 0, 0},
    };
    const cli_command cmd = {"synth", "--out FILE [--preset NAME] [shape options]",
                             "Writes a GGUF model with random weights and a byte-level tokenizer.",
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    if (!out) {
        fprintf(stderr, "esft synth: --out is required (see 'esft synth --help')\n");
        return ESFT_EXIT_USAGE;
    }
    esft_synth_spec s;
    if (!esft_synth_preset(preset, &s)) {
        fprintf(stderr, "esft synth: unknown --preset '%s' (see 'esft synth --help')\n", preset);
        return ESFT_EXIT_USAGE;
    }
    if (arch) {
        if (strcmp(arch, "llama") == 0)
            s.arch = ESFT_ARCH_LLAMA;
        else if (strcmp(arch, "qwen2") == 0)
            s.arch = ESFT_ARCH_QWEN2;
        else {
            fprintf(stderr, "esft synth: unknown --arch '%s' (llama or qwen2)\n", arch);
            return ESFT_EXIT_USAGE;
        }
    }
    if (vocab) s.n_vocab = vocab;
    if (embd) s.n_embd = embd;
    if (layers) s.n_layer = layers;
    if (heads) s.n_head = heads;
    if (kv_heads) s.n_head_kv = kv_heads;
    if (ff) s.n_ff = ff;
    if (untie) s.tied = 0;
    s.seed = seed;
    s.chat_template = chat_template;
    ggml_type t;
    if (!esft_ggml_type_from_name(type, &t) ||
        !(t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16 || t == GGML_TYPE_Q8_0)) {
        fprintf(stderr, "esft synth: --type '%s' not supported (f32, f16, bf16, q8_0)\n", type);
        return ESFT_EXIT_USAGE;
    }
    s.type = t;
    esft_err err = {{0}};
    if (esft_synth_write(&s, out, &err)) {
        fprintf(stderr, "esft synth: %s\n", err.msg);
        return ESFT_EXIT_RUNTIME;
    }
    fprintf(stderr, "esft synth: wrote %s (%s, %d layers, d=%d, %d/%d heads, ff=%d, vocab %d, %s)\n",
            out, esft_arch_name(s.arch), s.n_layer, s.n_embd, s.n_head, s.n_head_kv, s.n_ff,
            s.n_vocab, esft_ggml_type_name(s.type));
    return ESFT_EXIT_OK;
}
