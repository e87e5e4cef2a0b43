/* Hugging Face model directories (models/hf.c) on a tiny llama / qwen2 built
 * here: config.json, tokenizer.json, tokenizer_config.json and safetensors
 * written by this test. Checks what the loader must get right by hand-derived
 * values: llama's q/k rows come out interleaved per head (Hugging Face row
 * order [0 1 2 3] -> GGUF's [0 2 1 3] in each head of 4), qwen2's stay as
 * they are; bf16 and f16 values convert exactly; a sharded directory equals the
 * single file; the tokenizer merges and finds specials as tokenizer.json
 * says. Then every broken directory fails with one line naming the file and
 * the key or tensor. Needs no downloaded model. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hf.h"
#include "model.h"
#include "registry.h"
#include "testutil.h"

enum { D = 8, H = 2, KVH = 1, HD = 4, FF = 4, V = 4 };

typedef struct tiny {
    const char *model_type;      /* "llama" or "qwen2" */
    const char *config_extra;    /* appended to config.json's object */
    const char *tokenizer_model; /* tokenizer.json "model" */
    const char *pre_tokenizer;
    const char *normalizer;      /* tokenizer.json "normalizer" (default null) */
    bool bf16, f16;
    bool untied;                 /* tie_word_embeddings false (no lm_head written) */
    const char *omit;            /* tensor left out */
    const char *extra_tensor;    /* tensor added */
    const char *i32_tensor;      /* tensor written as I32 */
    int shards;                  /* 0/1: model.safetensors; 2: index + 2 shards */
    const char *index_override;  /* index written as given */
} tiny;

static char g_dir[256];

static void write_file(const char *name, const char *fmt, ...) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *fp = fopen(path, "w");
    if (!fp) {
        perror(path);
        exit(1);
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(fp, fmt, ap);
    va_end(ap);
    fclose(fp);
}

/* Tensor t's element i (i < 128): distinct within a tensor, exact in bf16
 * (at most 8 significant bits). */
static float value(int t, int i) { return (float)(i + 1) * ((t & 1) ? -0.5f : 0.25f); }

typedef struct spec {
    const char *name;
    int rows, cols; /* cols 0: a vector of rows */
} spec;

static int tensor_specs(const tiny *o, spec *out) {
    int n = 0;
    out[n++] = (spec){"model.embed_tokens.weight", V, D};
    out[n++] = (spec){"model.norm.weight", D, 0};
    if (o->untied && o->extra_tensor && strcmp(o->extra_tensor, "lm_head.weight") == 0) out[n++] = (spec){"lm_head.weight", V, D};
    out[n++] = (spec){"model.layers.0.input_layernorm.weight", D, 0};
    out[n++] = (spec){"model.layers.0.self_attn.q_proj.weight", H * HD, D};
    out[n++] = (spec){"model.layers.0.self_attn.k_proj.weight", KVH * HD, D};
    out[n++] = (spec){"model.layers.0.self_attn.v_proj.weight", KVH * HD, D};
    if (strcmp(o->model_type, "qwen2") == 0) {
        out[n++] = (spec){"model.layers.0.self_attn.q_proj.bias", H * HD, 0};
        out[n++] = (spec){"model.layers.0.self_attn.k_proj.bias", KVH * HD, 0};
        out[n++] = (spec){"model.layers.0.self_attn.v_proj.bias", KVH * HD, 0};
    }
    out[n++] = (spec){"model.layers.0.self_attn.o_proj.weight", D, H * HD};
    out[n++] = (spec){"model.layers.0.post_attention_layernorm.weight", D, 0};
    out[n++] = (spec){"model.layers.0.mlp.gate_proj.weight", FF, D};
    out[n++] = (spec){"model.layers.0.mlp.up_proj.weight", FF, D};
    out[n++] = (spec){"model.layers.0.mlp.down_proj.weight", D, FF};
    if (o->extra_tensor && strcmp(o->extra_tensor, "lm_head.weight") != 0) out[n++] = (spec){o->extra_tensor, 4, 0};
    return n;
}

/* Writes specs[lo, hi) as one safetensors file. */
static void write_safetensors(const char *name, const tiny *o, const spec *s, int lo, int hi) {
    char hdr[8192];
    size_t hl = (size_t)snprintf(hdr, sizeof hdr, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint8_t *data = malloc(1 << 16);
    size_t dl = 0;
    for (int t = lo; t < hi; t++) {
        if (o->omit && strcmp(o->omit, s[t].name) == 0) continue;
        int n = s[t].rows * (s[t].cols ? s[t].cols : 1);
        bool i32 = o->i32_tensor && strcmp(o->i32_tensor, s[t].name) == 0;
        size_t es = (o->bf16 || o->f16) && !i32 ? 2 : 4;
        char shape[32];
        if (s[t].cols) snprintf(shape, sizeof shape, "%d,%d", s[t].rows, s[t].cols);
        else snprintf(shape, sizeof shape, "%d", s[t].rows);
        hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%zu,%zu]}",
                               s[t].name, i32 ? "I32" : es == 4 ? "F32" : o->f16 ? "F16" : "BF16", shape, dl, dl + (size_t)n * es);
        for (int i = 0; i < n; i++) {
            float v = value(t, i);
            uint32_t u;
            memcpy(&u, &v, 4);
            /* exact: value() has few mantissa bits and a small exponent */
            if (es == 2 && o->f16) u = (u >> 16 & 0x8000) | (((u >> 23 & 0xff) - 127 + 15) << 10) | (u >> 13 & 0x3ff);
            else if (es == 2) u >>= 16;
            memcpy(data + dl, &u, es);
            dl += es;
        }
    }
    hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl, "}");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *fp = fopen(path, "wb");
    for (int i = 0; i < 8; i++) fputc((int)((uint64_t)hl >> (8 * i)) & 0xff, fp);
    fwrite(hdr, 1, hl, fp);
    fwrite(data, 1, dl, fp);
    fclose(fp);
    free(data);
}

static void clear_dir(void) {
    const char *names[] = {"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors",
                           "model.safetensors.index.json", "a.safetensors", "b.safetensors"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
        unlink(path);
    }
}

static void build(const tiny *o) {
    clear_dir();
    write_file("config.json",
               "{\"model_type\":\"%s\",\"hidden_size\":%d,\"num_hidden_layers\":1,\"intermediate_size\":%d,"
               "\"num_attention_heads\":%d,\"num_key_value_heads\":%d,\"vocab_size\":%d,\"rms_norm_eps\":1e-5,"
               "\"rope_theta\":10000.0,\"tie_word_embeddings\":%s,\"max_position_embeddings\":64%s}",
               o->model_type, D, FF, H, KVH, V, o->untied ? "false" : "true",
               o->config_extra ? o->config_extra : "");
    write_file("tokenizer.json",
               "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":3,\"content\":\"<|end|>\",\"special\":true}],"
               "\"normalizer\":%s,\"pre_tokenizer\":%s,\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},"
               "\"model\":%s}",
               o->normalizer ? o->normalizer : "null", o->pre_tokenizer ? o->pre_tokenizer
                                : "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}",
               o->tokenizer_model ? o->tokenizer_model
                                  : "{\"type\":\"BPE\",\"byte_fallback\":false,\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,"
                                    "\"<|end|>\":3},\"merges\":[[\"a\",\"b\"]]}");
    write_file("tokenizer_config.json", "{\"eos_token\":{\"content\":\"<|end|>\"},\"chat_template\":\"T\"}");
    spec s[32];
    int n = tensor_specs(o, s);
    if (o->shards < 2) {
        write_safetensors("model.safetensors", o, s, 0, n);
        return;
    }
    write_safetensors("a.safetensors", o, s, 0, n / 2);
    write_safetensors("b.safetensors", o, s, n / 2, n);
    if (o->index_override) {
        write_file("model.safetensors.index.json", "%s", o->index_override);
        return;
    }
    char idx[8192];
    size_t l = (size_t)snprintf(idx, sizeof idx, "{\"metadata\":{},\"weight_map\":{");
    for (int t = 0; t < n; t++)
        if (!o->omit || strcmp(o->omit, s[t].name) != 0)
            l += (size_t)snprintf(idx + l, sizeof idx - l, "%s\"%s\":\"%s\"", t ? "," : "", s[t].name,
                                  t < n / 2 ? "a.safetensors" : "b.safetensors");
    snprintf(idx + l, sizeof idx - l, "}}");
    write_file("model.safetensors.index.json", "%s", idx);
}

static esft_backend *g_be;

/* Row r of a loaded matrix parameter (row length cols). */
static void param_row(const esft_param *p, int r, int cols, float *out) {
    esft_download(&p->master, (size_t)r * cols, out, (size_t)cols);
}

/* Loads the directory and checks values: row order of q/k per the
 * architecture, every other tensor as written. */
static void check_loads(const char *label, const tiny *o) {
    build(o);
    esft_model *m = NULL;
    esft_err err;
    esft_status st = esft_model_load(g_dir, g_be, NULL, &m, &err);
    CHECKF(st == ESFT_OK, "%s: %s", label, err.msg);
    if (st) return;
    bool llama = strcmp(o->model_type, "llama") == 0;
    CHECK(m->hp.arch == (llama ? ESFT_ARCH_LLAMA : ESFT_ARCH_QWEN2) && m->hp.n_embd == D && m->hp.n_head == H &&
          m->hp.n_head_kv == KVH && m->hp.head_dim == HD && m->hp.n_ff == FF && m->hp.n_vocab == V &&
          m->hp.tied_output && m->hp.n_layer == 1);
    CHECK(fabsf(m->hp.rope_base - 10000.0f) < 1e-3f && fabsf(m->hp.rms_eps - 1e-5f) < 1e-10f);
    /* q is tensor 3 and k tensor 4 of tensor_specs */
    static const int llama_rows[H * HD] = {0, 2, 1, 3, 4, 6, 5, 7};
    int bad = 0;
    for (int r = 0; r < H * HD; r++) {
        float row[D];
        param_row(m->layers[0].wq, r, D, row);
        int src = llama ? llama_rows[r] : r;
        for (int c = 0; c < D; c++) bad += row[c] != value(3, src * D + c);
    }
    for (int r = 0; r < KVH * HD; r++) {
        float row[D];
        param_row(m->layers[0].wk, r, D, row);
        int src = llama ? llama_rows[r] : r;
        for (int c = 0; c < D; c++) bad += row[c] != value(4, src * D + c);
    }
    float row[D];
    param_row(m->layers[0].wv, 1, D, row); /* v: never reordered */
    for (int c = 0; c < D; c++) bad += row[c] != value(5, D + c);
    param_row(m->tok_embd, 3, D, row);
    for (int c = 0; c < D; c++) bad += row[c] != value(0, 3 * D + c);
    if (!llama) {
        float bias[H * HD];
        esft_download(&m->layers[0].bq->master, 0, bias, H * HD);
        for (int r = 0; r < H * HD; r++) bad += bias[r] != value(6, r);
    }
    CHECKF(bad == 0, "%s: %d weights differ from what was written", label, bad);

    /* tokenizer: "ab" merges, <|end|> is special and ends generation */
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(esft_tokenize(m->tok, "abba<|end|>", 11, true, false, &ids, &n, &err) == ESFT_OK);
    CHECKF(n == 4 && ids[0] == 2 && ids[1] == 1 && ids[2] == 0 && ids[3] == 3, "%s: %zu ids", label, n);
    free(ids);
    CHECK(esft_tokenizer_eos(m->tok) == 3 && esft_tokenizer_is_eog(m->tok, 3) && !esft_tokenizer_add_bos(m->tok));
    CHECK(strcmp(esft_tokenizer_pre(m->tok), "gpt-2") == 0);
    const char *tmpl = esft_gguf_get_str(m->gguf, "tokenizer.chat_template");
    CHECK(tmpl && strcmp(tmpl, "T") == 0);
    CHECK(strcmp(esft_gguf_path(m->gguf), g_dir) == 0);
    esft_model_free(m);
}

/* A SentencePiece-style tokenizer.json (BPE with byte_fallback; " " becomes
 * U+2581, one prepended): read as tokenizer.ggml.model "llama" with scores
 * from the merge ranks. Vocabulary: U+2581, "a", U+2581 "a", <|end|>. */
#define SP "\xe2\x96\x81"
static const char SPM_NORMALIZER[] =
    "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"" SP "\"},"
    "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"" SP "\"}]}";
static const char SPM_MODEL[] = "{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":{\"" SP "\":0,\"a\":1,\"" SP
                                "a\":2,\"<|end|>\":3},\"merges\":[[\"" SP "\",\"a\"]]}";

static void check_spm_tokenizer(void) {
    build(&(tiny){.model_type = "llama", .normalizer = SPM_NORMALIZER, .pre_tokenizer = "null",
                  .tokenizer_model = SPM_MODEL});
    esft_model *m = NULL;
    esft_err err;
    esft_status st = esft_model_load(g_dir, g_be, NULL, &m, &err);
    CHECKF(st == ESFT_OK, "sentencepiece tokenizer.json: %s", err.msg);
    if (st) return;
    CHECK(strcmp(esft_tokenizer_pre(m->tok), "spm") == 0);
    const char *model = esft_gguf_get_str(m->gguf, "tokenizer.ggml.model");
    CHECK(model && strcmp(model, "llama") == 0);
    bool prefix = false;
    CHECK(esft_gguf_get_bool(m->gguf, "tokenizer.ggml.add_space_prefix", &prefix) && prefix);
    /* "a a" -> U+2581 a U+2581 a; after <|end|> the space is prepended again */
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(esft_tokenize(m->tok, "a a<|end|>a", 11, true, false, &ids, &n, &err) == ESFT_OK);
    CHECKF(n == 4 && ids[0] == 2 && ids[1] == 2 && ids[2] == 3 && ids[3] == 2, "sentencepiece: %zu ids: %d %d %d", n, n > 0 ? ids[0] : -1, n > 1 ? ids[1] : -1, n > 2 ? ids[2] : -1);
    free(ids);
    char *text = NULL;
    const int32_t dec[] = {2, 0, 1};
    CHECK(esft_detokenize(m->tok, dec, 3, &text, NULL, &err) == ESFT_OK && text && strcmp(text, " a a") == 0);
    free(text);
    esft_model_free(m);
}

/* The directory must fail with `want_st` and one line containing both
 * `file` (the culprit) and `want`. */
static void check_fails(const char *label, const tiny *o, esft_status want_st, const char *file, const char *want) {
    build(o);
    esft_model *m = NULL;
    esft_err err = {{0}};
    esft_status st = esft_model_load(g_dir, g_be, NULL, &m, &err);
    CHECKF(st == want_st && m == NULL, "%s: status %d, want %d (%s)", label, (int)st, (int)want_st, err.msg);
    CHECKF(err.msg[0] && !strchr(err.msg, '\n') && strstr(err.msg, file) && strstr(err.msg, want),
           "%s: '%s' lacks '%s' or '%s'", label, err.msg, file, want);
    if (m) esft_model_free(m);
}

int main(void) {
    esft_backend_options bo = {.n_threads = 1};
    esft_err err;
    if (esft_backend_open("cpu", &bo, &g_be, &err) != ESFT_OK) {
        fprintf(stderr, "cpu backend: %s\n", err.msg);
        return 1;
    }
    if (!test_make_tmpdir(g_dir, sizeof g_dir, "esft-hfdir")) return 1;

    check_loads("llama f32", &(tiny){.model_type = "llama"});
    check_loads("llama bf16", &(tiny){.model_type = "llama", .bf16 = true});
    check_loads("llama f16", &(tiny){.model_type = "llama", .f16 = true});
    check_loads("llama 2 shards", &(tiny){.model_type = "llama", .shards = 2});
    check_loads("qwen2", &(tiny){.model_type = "qwen2", .config_extra = ",\"hidden_act\":\"silu\""});
    check_loads("rope_parameters (transformers 5)",
                &(tiny){.model_type = "llama", .config_extra = ",\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":10000.0}"});

    check_spm_tokenizer();

    const tiny L = {.model_type = "llama"};
    tiny t;
#define FAILS(label, field_init, st, file, want) \
    t = L;                                        \
    field_init;                                   \
    check_fails(label, &t, st, file, want)
    FAILS("gemma3", t.model_type = "gemma3", ESFT_ERR_UNSUPPORTED, "config.json", "gemma3");
    FAILS("yarn rope scaling", t.config_extra = ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":8.0}",
          ESFT_ERR_UNSUPPORTED, "config.json", "yarn");
    FAILS("llama3 rope scaling without its factors",
          t.config_extra = ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0}", ESFT_ERR_FORMAT,
          "config.json", "llama3");
    FAILS("llama3 rope scaling on qwen2",
          (t.model_type = "qwen2",
           t.config_extra = ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1,"
                            "\"high_freq_factor\":4,\"original_max_position_embeddings\":64}"),
          ESFT_ERR_UNSUPPORTED, "config.json", "llama3");
    FAILS("gemma3 soft-capping", (t.model_type = "gemma3_text", t.config_extra = ",\"final_logit_softcapping\":30.0"),
          ESFT_ERR_UNSUPPORTED, "config.json", "final_logit_softcapping");
    FAILS("gemma3 layer types of another depth",
          (t.model_type = "gemma3_text",
           t.config_extra = ",\"sliding_window\":4,\"layer_types\":[\"sliding_attention\",\"full_attention\"]"),
          ESFT_ERR_FORMAT, "config.json", "layer_types");
    FAILS("gemma3 without a window", t.model_type = "gemma3_text", ESFT_ERR_FORMAT, "config.json", "sliding_window");
    FAILS("qwen3 with biases", (t.model_type = "qwen3", t.config_extra = ",\"attention_bias\":true"),
          ESFT_ERR_UNSUPPORTED, "config.json", "attention_bias");
    FAILS("hidden_size string", t.config_extra = ",\"head_dim\":\"4\"", ESFT_ERR_FORMAT, "config.json", "head_dim");
    FAILS("sliding window", (t.model_type = "qwen2", t.config_extra = ",\"use_sliding_window\":true"),
          ESFT_ERR_UNSUPPORTED, "config.json", "sliding");
    FAILS("gelu", t.config_extra = ",\"hidden_act\":\"gelu\"", ESFT_ERR_UNSUPPORTED, "config.json", "gelu");
    FAILS("byte fallback without its normalizer", t.tokenizer_model = "{\"type\":\"BPE\",\"byte_fallback\":true,\"vocab\":{},\"merges\":[]}",
          ESFT_ERR_UNSUPPORTED, "tokenizer.json", "byte_fallback");
    FAILS("byte fallback with Metaspace",
          (t.tokenizer_model = SPM_MODEL,
           t.pre_tokenizer = "{\"type\":\"Metaspace\",\"replacement\":\"" SP "\",\"prepend_scheme\":\"first\"}"),
          ESFT_ERR_UNSUPPORTED, "tokenizer.json", "byte_fallback");
    FAILS("unigram", t.tokenizer_model = "{\"type\":\"Unigram\"}", ESFT_ERR_UNSUPPORTED, "tokenizer.json", "BPE");
    FAILS("unknown pre-tokenizer", t.pre_tokenizer = "{\"type\":\"Whitespace\"}", ESFT_ERR_UNSUPPORTED,
          "tokenizer.json", "pre_tokenizer");
    FAILS("shared id", t.tokenizer_model = "{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]}",
          ESFT_ERR_FORMAT, "tokenizer.json", "share id 0");
    FAILS("negative id", t.tokenizer_model = "{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}", ESFT_ERR_FORMAT,
          "tokenizer.json", "'a'");
    FAILS("bad merge", t.tokenizer_model = "{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[5]}", ESFT_ERR_FORMAT,
          "tokenizer.json", "merge #0");
    FAILS("missing tensor", t.omit = "model.layers.0.mlp.up_proj.weight", ESFT_ERR_FORMAT, "model.safetensors",
          "model.layers.0.mlp.up_proj.weight");
    FAILS("unknown tensor", t.extra_tensor = "model.layers.0.mlp.extra.weight", ESFT_ERR_UNSUPPORTED,
          "model.safetensors", "model.layers.0.mlp.extra.weight");
    FAILS("layer past the config", t.extra_tensor = "model.layers.1.input_layernorm.weight", ESFT_ERR_UNSUPPORTED,
          "model.safetensors", "model.layers.1.input_layernorm.weight");
    FAILS("I32 weights", t.i32_tensor = "model.norm.weight", ESFT_ERR_UNSUPPORTED, "model.safetensors", "I32");
    FAILS("untied, no lm_head", t.untied = true, ESFT_ERR_FORMAT, "model.safetensors", "lm_head.weight");
    FAILS("qwen2 without biases", (t.model_type = "qwen2", t.omit = "model.layers.0.self_attn.k_proj.bias"),
          ESFT_ERR_FORMAT, "model.safetensors", "model.layers.0.self_attn.k_proj.bias");
    FAILS("shard outside the directory",
          (t.shards = 2, t.index_override = "{\"weight_map\":{\"model.norm.weight\":\"../a.safetensors\"}}"),
          ESFT_ERR_FORMAT, "model.safetensors.index.json", "../a.safetensors");
    FAILS("index lists a missing tensor",
          (t.shards = 2, t.index_override = "{\"weight_map\":{\"model.nope.weight\":\"a.safetensors\"}}"),
          ESFT_ERR_FORMAT, "a.safetensors", "model.nope.weight");
    FAILS("shard tensor not in the index",
          (t.shards = 2, t.index_override = "{\"weight_map\":{\"model.norm.weight\":\"a.safetensors\"}}"),
          ESFT_ERR_FORMAT, "a.safetensors", "not in model.safetensors.index.json");
    FAILS("index without weight_map", (t.shards = 2, t.index_override = "{\"metadata\":{}}"), ESFT_ERR_FORMAT,
          "model.safetensors.index.json", "weight_map");
#undef FAILS

    /* broken or missing files */
    build(&L);
    write_file("tokenizer.json", "{\"model\": [1, 2");
    esft_model *m = NULL;
    CHECK(esft_model_load(g_dir, g_be, NULL, &m, &err) == ESFT_ERR_FORMAT && strstr(err.msg, "tokenizer.json"));
    build(&L);
    write_file("model.safetensors", "\xff\xff\xff\xff\xff\xff\xff\x7f{}");
    CHECK(esft_model_load(g_dir, g_be, NULL, &m, &err) == ESFT_ERR_FORMAT && strstr(err.msg, "model.safetensors") &&
          strstr(err.msg, "header length"));
    build(&L);
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", g_dir);
    unlink(path);
    CHECK(esft_model_load(g_dir, g_be, NULL, &m, &err) == ESFT_ERR_IO && strstr(err.msg, "config.json"));
    build(&L);
    snprintf(path, sizeof path, "%s/model.safetensors", g_dir);
    unlink(path);
    CHECK(esft_model_load(g_dir, g_be, NULL, &m, &err) == ESFT_ERR_IO && strstr(err.msg, "model.safetensors"));

    clear_dir();
    rmdir(g_dir);
    esft_backend_destroy(g_be);
    return TEST_EXIT();
}
