/* Random-weight GGUF models of a given architecture and shape: tiny ones for
 * unit tests, real dimensions for benchmarks and GPU checks. They carry a
 * byte-level tokenizer (256 byte tokens, ChatML specials, no merges), so
 * every esft command runs on them. */
#ifndef ESFT_SYNTH_H
#define ESFT_SYNTH_H

#include <stdint.h>

#include "model.h"
#include "quant.h"

typedef struct esft_synth_spec {
    esft_arch arch;
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rope_base, rms_eps;
    int tied;            /* 1: no output.weight */
    ggml_type type;      /* matrix storage type (F32, F16, BF16, Q8_0) */
    uint64_t seed;
    float init_std;      /* N(0, init_std) weights; norms are 1 + N(0, init_std) */
    const char *chat_template; /* tokenizer.chat_template (Jinja source); NULL: none */
} esft_synth_spec;

/* Fills a spec from a preset: "tiny", "tiny-qwen2", "smollm2-135m",
 * "qwen2.5-1.5b". Returns false for an unknown name. */
bool esft_synth_preset(const char *name, esft_synth_spec *spec);

esft_status esft_synth_write(const esft_synth_spec *spec, const char *path, esft_err *err);

#endif
