#include "synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esft_hash.h"

bool esft_synth_preset(const char *name, esft_synth_spec *s) {
    memset(s, 0, sizeof *s);
    s->rope_base = 10000.0f;
    s->rms_eps = 1e-5f;
    s->type = GGML_TYPE_F32;
    s->seed = 1;
    s->init_std = 0.02f;
    s->tied = 1;
    if (strcmp(name, "tiny") == 0 || strcmp(name, "tiny-qwen2") == 0) {
        s->arch = name[4] ? ESFT_ARCH_QWEN2 : ESFT_ARCH_LLAMA;
        s->n_vocab = 300, s->n_embd = 64, s->n_layer = 2, s->n_head = 4, s->n_head_kv = 2;
        s->n_ff = 96, s->n_ctx = 512;
        s->init_std = 0.1f; /* larger weights: logits far from ties */
    } else if (strcmp(name, "smollm2-135m") == 0) {
        s->arch = ESFT_ARCH_LLAMA;
        s->n_vocab = 49152, s->n_embd = 576, s->n_layer = 30, s->n_head = 9, s->n_head_kv = 3;
        s->n_ff = 1536, s->n_ctx = 8192, s->rope_base = 100000.0f;
    } else if (strcmp(name, "qwen2.5-1.5b") == 0) {
        s->arch = ESFT_ARCH_QWEN2;
        s->n_vocab = 151936, s->n_embd = 1536, s->n_layer = 28, s->n_head = 12, s->n_head_kv = 2;
        s->n_ff = 8960, s->n_ctx = 32768, s->rope_base = 1000000.0f, s->rms_eps = 1e-6f;
    } else {
        return false;
    }
    return true;
}

static void fill_normal(float *x, size_t n, float mean, float std, uint64_t *rng) {
    for (size_t i = 0; i < n; i += 2) {
        double u1 = ((esft_splitmix64_next(rng) >> 11) + 1) * 0x1.0p-53;
        double u2 = (esft_splitmix64_next(rng) >> 11) * 0x1.0p-53;
        double r = sqrt(-2.0 * log(u1));
        x[i] = mean + std * (float)(r * cos(6.283185307179586 * u2));
        if (i + 1 < n) x[i + 1] = mean + std * (float)(r * sin(6.283185307179586 * u2));
    }
}

/* GPT-2's byte-to-unicode map: printable bytes stand for themselves, the
 * rest are shifted to U+0100 and up, in byte order. */
static bool byte_printable(int c) {
    return (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
}

static void byte_token_text(int b, char out[4]) {
    int cp = b;
    if (!byte_printable(b)) {
        cp = 256;
        for (int c = 0; c < b; c++) cp += !byte_printable(c);
    }
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
    }
}

static esft_status add_tensor(gguf_writer *w, const esft_synth_spec *s, const char *name,
                              uint64_t ne0, uint64_t ne1, bool is_norm, uint64_t *rng, esft_err *err) {
    const size_t n = (size_t)ne0 * (size_t)(ne1 ? ne1 : 1);
    float *x = malloc(n * sizeof *x);
    if (!x) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory for tensor '%s'", name);
    fill_normal(x, n, is_norm ? 1.0f : 0.0f, s->init_std, rng);
    ggml_type t = ne1 ? s->type : GGML_TYPE_F32;
    uint64_t bytes;
    esft_status st = esft_ggml_row_bytes(t, n, &bytes, err);
    void *data = st ? NULL : malloc(bytes);
    if (!st && !data) st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory for tensor '%s'", name);
    if (!st) st = esft_ggml_quantize(t, x, data, n, err);
    uint64_t ne[2] = {ne0, ne1};
    if (!st) st = esft_gguf_writer_add_tensor(w, name, t, ne1 ? 2 : 1, ne, data, false, err);
    free(data);
    free(x);
    return st;
}

esft_status esft_synth_write(const esft_synth_spec *s, const char *path, esft_err *err) {
    const int n_special = 3;
    if (s->n_vocab < 256 + n_special || s->n_embd <= 0 || s->n_layer <= 0 || s->n_head <= 0 ||
        s->n_head_kv <= 0 || s->n_head % s->n_head_kv || s->n_embd % s->n_head ||
        (s->n_embd / s->n_head) % 2 || s->n_ff <= 0)
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "synth: inconsistent shape (vocab >= %d, heads divide embd, even head dim)",
                         256 + n_special);
    gguf_writer *w = esft_gguf_writer_new();
    if (!w) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    const char *arch = esft_arch_name(s->arch);
    char key[128];
    esft_status st = ESFT_OK;
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", arch, suffix), key)
    if (!st) st = esft_gguf_writer_set_str(w, "general.architecture", arch, err);
    if (!st) st = esft_gguf_writer_set_str(w, "general.name", "esft synthetic", err);
    if (!st) st = esft_gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)s->n_ctx, err);
    if (!st) st = esft_gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)s->n_embd, err);
    if (!st) st = esft_gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)s->n_layer, err);
    if (!st) st = esft_gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)s->n_ff, err);
    if (!st) st = esft_gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)s->n_head, err);
    if (!st) st = esft_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv, err);
    if (!st) st = esft_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), s->rms_eps, err);
    if (!st) st = esft_gguf_writer_set_f32(w, KEY("rope.freq_base"), s->rope_base, err);
    if (!st) st = esft_gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)(s->n_embd / s->n_head), err);
#undef KEY

    /* Tokenizer: byte tokens, then specials, then unused fillers. */
    char **tokens = calloc((size_t)s->n_vocab, sizeof *tokens);
    int32_t *types = calloc((size_t)s->n_vocab, sizeof *types);
    if (!st && (!tokens || !types)) st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    static const char *const specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    for (int i = 0; !st && i < s->n_vocab; i++) {
        char buf[32];
        if (i < 256) {
            byte_token_text(i, buf);
            types[i] = 1; /* normal, as byte-level BPE vocabularies mark byte tokens */
        } else if (i < 256 + n_special) {
            snprintf(buf, sizeof buf, "%s", specials[i - 256]);
            types[i] = 3; /* control */
        } else {
            snprintf(buf, sizeof buf, "<unused_%d>", i);
            types[i] = 5; /* unused */
        }
        if (!(tokens[i] = strdup(buf))) st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (!st) st = esft_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", err);
    if (!st) st = esft_gguf_writer_set_str(w, "tokenizer.ggml.pre", "smollm", err);
    if (!st) st = esft_gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", (const char *const *)tokens,
                                          (size_t)s->n_vocab, err);
    if (!st) st = esft_gguf_writer_set_i32_arr(w, "tokenizer.ggml.token_type", types, (size_t)s->n_vocab, err);
    if (!st) st = esft_gguf_writer_set_str_arr(w, "tokenizer.ggml.merges", NULL, 0, err);
    if (!st) st = esft_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 256, err);
    if (!st) st = esft_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 258, err);
    if (!st) st = esft_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false, err);
    if (!st && s->chat_template) st = esft_gguf_writer_set_str(w, "tokenizer.chat_template", s->chat_template, err);
    for (int i = 0; tokens && i < s->n_vocab; i++) free(tokens[i]);
    free(tokens);
    free(types);

    uint64_t rng = s->seed;
    const int D = s->n_embd, hd = s->n_embd / s->n_head, qd = s->n_head * hd, kvd = s->n_head_kv * hd;
    const bool bias = s->arch == ESFT_ARCH_QWEN2;
    if (!st) st = add_tensor(w, s, "token_embd.weight", (uint64_t)D, (uint64_t)s->n_vocab, false, &rng, err);
    for (int l = 0; l < s->n_layer && !st; l++) {
        char n[96];
#define T(suffix, ne0, ne1, norm)                                            \
    if (!st) {                                                               \
        snprintf(n, sizeof n, "blk.%d.%s", l, suffix);                       \
        st = add_tensor(w, s, n, (uint64_t)(ne0), (uint64_t)(ne1), norm, &rng, err); \
    }
        T("attn_norm.weight", D, 0, true);
        T("attn_q.weight", D, qd, false);
        T("attn_k.weight", D, kvd, false);
        T("attn_v.weight", D, kvd, false);
        if (bias) {
            T("attn_q.bias", qd, 0, false);
            T("attn_k.bias", kvd, 0, false);
            T("attn_v.bias", kvd, 0, false);
        }
        T("attn_output.weight", qd, D, false);
        T("ffn_norm.weight", D, 0, true);
        T("ffn_gate.weight", D, s->n_ff, false);
        T("ffn_up.weight", D, s->n_ff, false);
        T("ffn_down.weight", s->n_ff, D, false);
#undef T
    }
    if (!st) st = add_tensor(w, s, "output_norm.weight", (uint64_t)D, 0, true, &rng, err);
    if (!st && !s->tied)
        st = add_tensor(w, s, "output.weight", (uint64_t)D, (uint64_t)s->n_vocab, false, &rng, err);
    if (!st) st = esft_gguf_writer_write(w, path, err);
    esft_gguf_writer_free(w);
    return st;
}
