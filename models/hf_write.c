/* Model source -> Hugging Face directory (hf_write.h). The metadata is read
 * with the loader's own checks (esft_hparams_read, esft_tokenizer_from_gguf),
 * so what is written is what esft runs. */
#define _GNU_SOURCE /* nftw, qsort_r */
#include "hf_write.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../backends/util/atomic_file.h"
#include "hf.h"
#include "model.h"
#include "tokenizer.h"

/* f32 values converted per piece of a tensor */
#define PIECE_ELEMENTS ((uint64_t)1 << 20)
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5 };

/* ------------------------------------------------------------- tensors */

typedef struct out_tensor {
    const esft_source_tensor *t;
    esft_st_dtype dtype;
    uint64_t head_rows; /* > 0: llama q/k, rows put back in Hugging Face's rotary order */
    float *scratch;     /* [PIECE_ELEMENTS-ish], shared; grown as needed */
    uint64_t *scratch_n;
    float **scratch_p;
} out_tensor;

static uint64_t row_len(const esft_source_tensor *t) { return t->n_dims == 1 ? 1 : t->ne[0]; }

static esft_status tensor_rows(void *user, uint64_t row0, uint64_t n_rows, void *dst, esft_err *err) {
    out_tensor *o = user;
    const uint64_t n = n_rows * row_len(o->t);
    float *x = dst; /* f32 is read straight into the writer's buffer */
    if (o->dtype != ESFT_ST_F32) {
        if (n > *o->scratch_n) {
            float *grown = realloc(*o->scratch_p, (size_t)n * sizeof *grown);
            if (!grown) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tensor '%s': out of memory", o->t->name);
            *o->scratch_p = grown;
            *o->scratch_n = n;
        }
        x = *o->scratch_p;
    }
    esft_status st = esft_source_read_f32_rows(o->t, row0, n_rows, x, err);
    if (!st && o->head_rows) st = esft_rope_rows_permute(x, n_rows, row_len(o->t), o->head_rows, false, err);
    if (!st && o->dtype != ESFT_ST_F32)
        st = esft_ggml_quantize(o->dtype == ESFT_ST_BF16 ? GGML_TYPE_BF16 : GGML_TYPE_F16, x, dst, (size_t)n, err);
    if (!st && (row0 + n_rows) * row_len(o->t) == o->t->n_elements) esft_source_release(o->t);
    return st ? esft_err_prefix(err, st, "tensor '%s'", o->t->name) : ESFT_OK;
}

/* Rows per piece: whole rotary heads, and what the source reads at once. */
static uint64_t piece_rows(const esft_source_tensor *t, uint64_t head_rows) {
    uint64_t rows = esft_source_chunk_rows(t, PIECE_ELEMENTS);
    if (head_rows) rows = rows < head_rows ? head_rows : rows / head_rows * head_rows;
    return rows;
}

static esft_status write_safetensors(const esft_model_source *src, const esft_hparams *hp, const char *path,
                                     esft_st_dtype dtype, esft_err *err) {
    esft_st_writer *w = esft_st_writer_new();
    out_tensor *items = calloc(src->n_tensors + 1, sizeof *items);
    float *scratch = NULL;
    uint64_t scratch_n = 0;
    esft_status st = w && items ? ESFT_OK : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    if (!st) st = esft_st_writer_set_meta(w, "format", "pt", err);
    for (size_t i = 0; i < src->n_tensors && !st; i++) {
        const esft_source_tensor *t = &src->tensors[i];
        char name[160];
        if (!esft_hf_tensor_name(t->name, name, sizeof name)) {
            st = esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: tensor '%s' has no Hugging Face name esft knows", t->file,
                           t->name);
            break;
        }
        if (t->n_dims > 2) {
            st = esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: tensor '%s' has %u dimensions (esft writes 1 or 2)", t->file,
                           t->name, t->n_dims);
            break;
        }
        const bool rope = hp->arch == ESFT_ARCH_LLAMA && t->n_dims == 2 &&
                          (strstr(t->name, ".attn_q.weight") || strstr(t->name, ".attn_k.weight"));
        items[i] = (out_tensor){.t = t, .dtype = dtype, .head_rows = rope ? (uint64_t)hp->head_dim : 0,
                                .scratch_n = &scratch_n, .scratch_p = &scratch};
        if (rope && t->ne[1] % (uint64_t)hp->head_dim) {
            st = esft_errf(err, ESFT_ERR_FORMAT, "%s: tensor '%s': %llu rows are not whole heads of %d", t->file,
                           t->name, (unsigned long long)t->ne[1], hp->head_dim);
            break;
        }
        uint64_t shape[2] = {t->n_dims == 2 ? t->ne[1] : t->ne[0], t->ne[0]}; /* row-major: reversed */
        st = esft_st_writer_add(w, name, dtype, t->n_dims, shape, piece_rows(t, items[i].head_rows), tensor_rows,
                                &items[i], err);
    }
    if (!st) st = esft_st_writer_write(w, path, err);
    esft_st_writer_free(w);
    free(items);
    free(scratch);
    return st;
}

/* ---------------------------------------------------------------- JSON */

static esft_status write_json(const char *dir, const char *name, const cJSON *j, esft_err *err) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "%s: path too long", dir);
    char *text = cJSON_Print(j);
    if (!text) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    size_t n = strlen(text);
    text[n] = '\n'; /* over the NUL: the file ends with a newline */
    esft_status st = esft_atomic_write(path, text, n + 1, err);
    free(text);
    return st;
}

/* cJSON's adders return NULL on out of memory; one check at the end */
typedef struct json_build {
    bool ok;
} json_build;

static void add_num(json_build *b, cJSON *o, const char *key, double v) { b->ok &= cJSON_AddNumberToObject(o, key, v) != NULL; }
static void add_str(json_build *b, cJSON *o, const char *key, const char *v) { b->ok &= cJSON_AddStringToObject(o, key, v) != NULL; }
static void add_bool(json_build *b, cJSON *o, const char *key, bool v) { b->ok &= cJSON_AddBoolToObject(o, key, v) != NULL; }
static void add_null(json_build *b, cJSON *o, const char *key) { b->ok &= cJSON_AddNullToObject(o, key) != NULL; }
static cJSON *add_obj(json_build *b, cJSON *o, const char *key) {
    cJSON *c = cJSON_AddObjectToObject(o, key);
    b->ok &= c != NULL;
    return c;
}
static cJSON *add_arr(json_build *b, cJSON *o, const char *key) {
    cJSON *c = cJSON_AddArrayToObject(o, key);
    b->ok &= c != NULL;
    return c;
}
static void push(json_build *b, cJSON *arr, cJSON *item) {
    if (!item || !cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        b->ok = false;
    }
}

/* The text of token id (NULL out of range). */
static const char *token_text(const gguf_value *tokens, int32_t id) {
    return id >= 0 && (uint64_t)id < tokens->v.arr.n ? tokens->v.arr.items[id].v.str.data : NULL;
}

/* A special id of the metadata, or -1. */
static int32_t special(const gguf_file *meta, const char *key, uint64_t n_vocab) {
    uint32_t v;
    return esft_gguf_get_u32(meta, key, &v) && v < n_vocab ? (int32_t)v : -1;
}

/* The double whose shortest decimal form gives f back: config.json says
 * 1e-05, not the 9.99999974737875e-06 that (double)1e-5f prints as. */
static double float_number(float f) {
    char buf[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return strtod(buf, NULL);
}

static const char *dtype_name(esft_st_dtype dtype) {
    return dtype == ESFT_ST_BF16 ? "bfloat16" : dtype == ESFT_ST_F16 ? "float16" : "float32";
}

static cJSON *config_json(const esft_model_source *src, const esft_hparams *hp, uint64_t n_vocab,
                          esft_st_dtype dtype) {
    const bool llama = hp->arch == ESFT_ARCH_LLAMA;
    bool tied = true;
    for (size_t i = 0; i < src->n_tensors; i++) tied &= strcmp(src->tensors[i].name, "output.weight") != 0;
    cJSON *c = cJSON_CreateObject();
    json_build b = {c != NULL};
    if (!c) return NULL;
    cJSON *archs = add_arr(&b, c, "architectures");
    if (archs) push(&b, archs, cJSON_CreateString(llama ? "LlamaForCausalLM" : "Qwen2ForCausalLM"));
    add_str(&b, c, "model_type", llama ? "llama" : "qwen2");
    add_num(&b, c, "vocab_size", (double)n_vocab);
    add_num(&b, c, "hidden_size", hp->n_embd);
    add_num(&b, c, "intermediate_size", hp->n_ff);
    add_num(&b, c, "num_hidden_layers", hp->n_layer);
    add_num(&b, c, "num_attention_heads", hp->n_head);
    add_num(&b, c, "num_key_value_heads", hp->n_head_kv);
    add_num(&b, c, "head_dim", hp->head_dim);
    add_num(&b, c, "max_position_embeddings", hp->n_ctx_train);
    add_num(&b, c, "rms_norm_eps", float_number(hp->rms_eps));
    add_num(&b, c, "rope_theta", float_number(hp->rope_base));
    add_null(&b, c, "rope_scaling");
    add_str(&b, c, "hidden_act", "silu");
    add_bool(&b, c, "tie_word_embeddings", tied);
    if (llama) {
        add_bool(&b, c, "attention_bias", false);
        add_bool(&b, c, "mlp_bias", false);
    } else {
        add_bool(&b, c, "use_sliding_window", false);
    }
    add_num(&b, c, "attention_dropout", 0);
    add_num(&b, c, "initializer_range", 0.02);
    add_bool(&b, c, "use_cache", true);
    int32_t bos = special(src->meta, "tokenizer.ggml.bos_token_id", n_vocab);
    int32_t eos = special(src->meta, "tokenizer.ggml.eos_token_id", n_vocab);
    if (bos >= 0) add_num(&b, c, "bos_token_id", bos);
    if (eos >= 0) add_num(&b, c, "eos_token_id", eos);
    add_str(&b, c, "torch_dtype", dtype_name(dtype)); /* transformers 4 */
    add_str(&b, c, "dtype", dtype_name(dtype));       /* transformers 5 */
    if (!b.ok) {
        cJSON_Delete(c);
        return NULL;
    }
    return c;
}

/* {"type": "ByteLevel", ...}: the byte-to-unicode step, with or without
 * GPT-2's own split regex. */
static cJSON *byte_level(json_build *b, bool use_regex, bool trim_offsets) {
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        b->ok = false;
        return NULL;
    }
    add_str(b, o, "type", "ByteLevel");
    add_bool(b, o, "add_prefix_space", false);
    add_bool(b, o, "trim_offsets", trim_offsets);
    add_bool(b, o, "use_regex", use_regex);
    return o;
}

/* The pre_tokenizer that splits as esft's pre-tokenizer kind does (the
 * reader maps these back: hf.c pre_name). */
static cJSON *pre_tokenizer(json_build *b, const char *kind) {
    if (strcmp(kind, "gpt-2") == 0) return byte_level(b, true, true);
    cJSON *seq = cJSON_CreateObject();
    if (!seq) {
        b->ok = false;
        return NULL;
    }
    add_str(b, seq, "type", "Sequence");
    cJSON *list = add_arr(b, seq, "pretokenizers");
    cJSON *first = cJSON_CreateObject();
    if (!list || !first) {
        cJSON_Delete(first);
        b->ok = false;
        return seq;
    }
    if (strcmp(kind, "smollm") == 0) {
        add_str(b, first, "type", "Digits");
        add_bool(b, first, "individual_digits", true);
        push(b, list, first);
        push(b, list, byte_level(b, true, true));
        return seq;
    }
    add_str(b, first, "type", "Split");
    cJSON *pattern = add_obj(b, first, "pattern");
    if (pattern)
        add_str(b, pattern, "Regex",
                strcmp(kind, "qwen2") == 0 ? ESFT_HF_SPLIT("\\p{N}") : ESFT_HF_SPLIT("\\p{N}{1,3}"));
    add_str(b, first, "behavior", "Isolated");
    add_bool(b, first, "invert", false);
    push(b, list, first);
    push(b, list, byte_level(b, false, false));
    return seq;
}

/* BOS before the text (and before each text of a pair). */
static cJSON *bos_template(json_build *b, const char *bos_text, int32_t bos) {
    cJSON *pp = cJSON_CreateObject();
    if (!pp) {
        b->ok = false;
        return NULL;
    }
    add_str(b, pp, "type", "TemplateProcessing");
    static const char *const forms[] = {"single", "pair"};
    for (int f = 0; f < 2; f++) {
        cJSON *seq = add_arr(b, pp, forms[f]);
        for (int part = 0; seq && part <= f; part++) {
            cJSON *sp = cJSON_CreateObject(), *sq = cJSON_CreateObject();
            cJSON *a = sp ? add_obj(b, sp, "SpecialToken") : NULL, *c = sq ? add_obj(b, sq, "Sequence") : NULL;
            if (a) add_str(b, a, "id", bos_text), add_num(b, a, "type_id", part);
            if (c) add_str(b, c, "id", part ? "B" : "A"), add_num(b, c, "type_id", part);
            push(b, seq, sp);
            push(b, seq, sq);
        }
    }
    cJSON *specials = add_obj(b, pp, "special_tokens");
    cJSON *entry = specials ? add_obj(b, specials, bos_text) : NULL;
    if (entry) {
        add_str(b, entry, "id", bos_text);
        cJSON *ids = add_arr(b, entry, "ids"), *toks = add_arr(b, entry, "tokens");
        if (ids) push(b, ids, cJSON_CreateNumber(bos));
        if (toks) push(b, toks, cJSON_CreateString(bos_text));
    }
    return pp;
}

static int cmp_text(const void *a, const void *b, void *tokens) {
    return strcmp(token_text(tokens, *(const int32_t *)a), token_text(tokens, *(const int32_t *)b));
}

/* An unused filler that the reader makes up again for an id nothing names. */
static bool pad_filler(const char *text, int32_t id) {
    char pad[32];
    snprintf(pad, sizeof pad, "[PAD%d]", id);
    return strcmp(text, pad) == 0;
}

/* Two tokens with one text cannot both be keys of tokenizer.json's vocab. */
static esft_status check_unique(const gguf_file *meta, const gguf_value *tokens, esft_err *err) {
    const uint64_t n = tokens->v.arr.n;
    int32_t *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    for (uint64_t i = 0; i < n; i++) order[i] = (int32_t)i;
    qsort_r(order, (size_t)n, sizeof *order, cmp_text, (void *)tokens);
    esft_status st = ESFT_OK;
    for (uint64_t i = 1; i < n && !st; i++) {
        const char *a = token_text(tokens, order[i - 1]);
        if (strcmp(a, token_text(tokens, order[i])) == 0) {
            char qb[ESFT_QUOTE_MAX];
            st = esft_errf(err, ESFT_ERR_UNSUPPORTED,
                           "%s: tokens %d and %d are both '%s' (tokenizer.json's vocabulary cannot hold both)",
                           esft_gguf_path(meta), order[i - 1] < order[i] ? order[i - 1] : order[i],
                           order[i - 1] < order[i] ? order[i] : order[i - 1], esft_quote(a, strlen(a), qb, sizeof qb));
        }
    }
    free(order);
    return st;
}

static cJSON *added_token(json_build *b, int32_t id, const char *text, bool special) {
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        b->ok = false;
        return NULL;
    }
    add_num(b, o, "id", id);
    add_str(b, o, "content", text);
    add_bool(b, o, "single_word", false);
    add_bool(b, o, "lstrip", false);
    add_bool(b, o, "rstrip", false);
    add_bool(b, o, "normalized", !special);
    add_bool(b, o, "special", special);
    return o;
}

static esft_status tokenizer_json(const gguf_file *meta, const esft_tokenizer *tok, cJSON **out, esft_err *err) {
    *out = NULL;
    const gguf_value *tokens = esft_gguf_get_arr(meta, "tokenizer.ggml.tokens");
    const gguf_value *merges = esft_gguf_get_arr(meta, "tokenizer.ggml.merges");
    const char *kind = esft_tokenizer_pre_kind(tok);
    if (strcmp(kind, "gpt-2") && strcmp(kind, "smollm") && strcmp(kind, "qwen2") && strcmp(kind, "llama-bpe"))
        return esft_errf(err, ESFT_ERR_UNSUPPORTED,
                         "%s: pre-tokenizer '%s' has no Hugging Face form esft writes (it writes gpt-2, smollm, "
                         "qwen2 and llama-bpe)",
                         esft_gguf_path(meta), esft_tokenizer_pre(tok));
    esft_status st = check_unique(meta, tokens, err);
    if (st) return st;
    cJSON *j = cJSON_CreateObject();
    if (!j) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    json_build b = {true};
    add_str(&b, j, "version", "1.0");
    add_null(&b, j, "truncation");
    add_null(&b, j, "padding");
    cJSON *added = add_arr(&b, j, "added_tokens");
    const int32_t n = esft_tokenizer_n_vocab(tok);
    for (int32_t id = 0; id < n && added; id++) {
        const int type = esft_tokenizer_token_type(tok, id);
        if (type == TT_CONTROL || type == TT_UNKNOWN || type == TT_USER_DEFINED)
            push(&b, added, added_token(&b, id, token_text(tokens, id), type != TT_USER_DEFINED));
    }
    /* NFC, which Qwen2's own tokenizer.json has, is left out: esft (like
     * llama.cpp) does not normalise, and the exported model tokenizes as
     * esft trained it */
    add_null(&b, j, "normalizer");
    cJSON *pre = pre_tokenizer(&b, kind);
    if (!pre || !cJSON_AddItemToObject(j, "pre_tokenizer", pre)) cJSON_Delete(pre), b.ok = false;
    const int32_t bos = esft_tokenizer_bos(tok);
    cJSON *post = esft_tokenizer_add_bos(tok) && bos >= 0 ? bos_template(&b, token_text(tokens, bos), bos)
                                                          : byte_level(&b, true, false);
    if (!post || !cJSON_AddItemToObject(j, "post_processor", post)) cJSON_Delete(post), b.ok = false;
    cJSON *dec = byte_level(&b, true, true);
    if (!dec || !cJSON_AddItemToObject(j, "decoder", dec)) cJSON_Delete(dec), b.ok = false;
    cJSON *model = add_obj(&b, j, "model");
    if (model) {
        add_str(&b, model, "type", "BPE");
        add_null(&b, model, "dropout");
        add_null(&b, model, "unk_token");
        add_null(&b, model, "continuing_subword_prefix");
        add_null(&b, model, "end_of_word_suffix");
        add_bool(&b, model, "fuse_unk", false);
        add_bool(&b, model, "byte_fallback", false);
        add_bool(&b, model, "ignore_merges", strcmp(kind, "llama-bpe") == 0); /* as llama.cpp's llama3 */
        cJSON *vocab = add_obj(&b, model, "vocab");
        for (int32_t id = 0; id < n && vocab && b.ok; id++) {
            const char *text = token_text(tokens, id);
            if (esft_tokenizer_token_type(tok, id) == TT_UNUSED && pad_filler(text, id)) continue;
            add_num(&b, vocab, text, id);
        }
        cJSON *ml = add_arr(&b, model, "merges");
        for (uint64_t i = 0; merges && ml && b.ok && i < merges->v.arr.n; i++)
            push(&b, ml, cJSON_CreateString(merges->v.arr.items[i].v.str.data));
    }
    if (!b.ok) {
        cJSON_Delete(j);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    *out = j;
    return ESFT_OK;
}

static void add_token_or_null(json_build *b, cJSON *o, const char *key, const gguf_value *tokens, int32_t id) {
    if (id >= 0) add_str(b, o, key, token_text(tokens, id));
    else add_null(b, o, key);
}

static cJSON *tokenizer_config_json(const gguf_file *meta, const esft_tokenizer *tok, const esft_hparams *hp) {
    const gguf_value *tokens = esft_gguf_get_arr(meta, "tokenizer.ggml.tokens");
    const uint64_t n = tokens->v.arr.n;
    cJSON *c = cJSON_CreateObject();
    if (!c) return NULL;
    json_build b = {true};
    add_bool(&b, c, "add_bos_token", esft_tokenizer_add_bos(tok));
    add_bool(&b, c, "add_eos_token", false);
    add_token_or_null(&b, c, "bos_token", tokens, esft_tokenizer_bos(tok));
    add_token_or_null(&b, c, "eos_token", tokens, esft_tokenizer_eos(tok));
    add_token_or_null(&b, c, "unk_token", tokens, special(meta, "tokenizer.ggml.unknown_token_id", n));
    add_token_or_null(&b, c, "pad_token", tokens, special(meta, "tokenizer.ggml.padding_token_id", n));
    const char *tmpl = esft_gguf_get_str(meta, "tokenizer.chat_template");
    if (tmpl) add_str(&b, c, "chat_template", tmpl);
    add_bool(&b, c, "clean_up_tokenization_spaces", false);
    add_num(&b, c, "model_max_length", hp->n_ctx_train);
    add_str(&b, c, "tokenizer_class", "PreTrainedTokenizerFast");
    if (!b.ok) {
        cJSON_Delete(c);
        return NULL;
    }
    return c;
}

static cJSON *generation_config_json(const esft_tokenizer *tok) {
    cJSON *c = cJSON_CreateObject();
    if (!c) return NULL;
    json_build b = {true};
    if (esft_tokenizer_bos(tok) >= 0) add_num(&b, c, "bos_token_id", esft_tokenizer_bos(tok));
    /* every token esft stops generating at */
    cJSON *eos = add_arr(&b, c, "eos_token_id");
    for (int32_t id = 0; eos && id < esft_tokenizer_n_vocab(tok); id++)
        if (esft_tokenizer_is_eog(tok, id)) push(&b, eos, cJSON_CreateNumber(id));
    add_bool(&b, c, "do_sample", false);
    if (!b.ok) {
        cJSON_Delete(c);
        return NULL;
    }
    return c;
}

static esft_status write_json_made(const char *dir, const char *name, cJSON *j, esft_err *err) {
    if (!j) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    esft_status st = write_json(dir, name, j, err);
    cJSON_Delete(j);
    return st;
}

/* ---------------------------------------------------------- directory */

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes a directory tree this writer made or was told to replace. */
static void remove_tree(const char *path) { nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* 0: absent; 1: an empty directory; 2: a non-empty one; -1: something else
 * (message in err). */
static int target_state(const char *dir, esft_err *err) {
    struct stat sb;
    if (lstat(dir, &sb) != 0) {
        if (errno == ENOENT) return 0;
        esft_errf(err, ESFT_ERR_IO, "%s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        esft_errf(err, ESFT_ERR_IO, "%s: exists and is not a directory", dir);
        return -1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        esft_errf(err, ESFT_ERR_IO, "%s: %s", dir, strerror(errno));
        return -1;
    }
    int state = 1;
    for (struct dirent *e; state == 1 && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) state = 2;
    closedir(d);
    return state;
}

/* Syncs the directory that holds path, so that a rename survives a crash. */
static void sync_parent(const char *path) {
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash == parent) slash[1] = '\0';
    else if (slash) *slash = '\0';
    else snprintf(parent, sizeof parent, ".");
    int fd = open(parent, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static esft_status write_files(const esft_model_source *src, const esft_hparams *hp, const esft_tokenizer *tok,
                               const char *tmp, esft_st_dtype dtype, esft_err *err) {
    char path[4200]; /* tmp is shorter than 4096 */
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    const uint64_t n_vocab = (uint64_t)esft_tokenizer_n_vocab(tok);
    cJSON *tj = NULL;
    esft_status st = write_json_made(tmp, "config.json", config_json(src, hp, n_vocab, dtype), err);
    if (!st) st = tokenizer_json(src->meta, tok, &tj, err);
    if (!st) st = write_json_made(tmp, "tokenizer.json", tj, err);
    if (!st) st = write_json_made(tmp, "tokenizer_config.json", tokenizer_config_json(src->meta, tok, hp), err);
    if (!st) st = write_json_made(tmp, "generation_config.json", generation_config_json(tok), err);
    if (!st) st = write_safetensors(src, hp, path, dtype, err);
    return st;
}

esft_status esft_hf_write(const esft_model_source *src, const char *dir_given, esft_st_dtype dtype, bool force,
                          esft_err *err) {
    /* "out/" is "out": the temporary directory goes beside it, not inside */
    char dir[4000];
    if ((size_t)snprintf(dir, sizeof dir, "%s", dir_given) >= sizeof dir)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "%s: path too long", dir_given);
    for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--) dir[n - 1] = '\0';
    if (dtype != ESFT_ST_BF16 && dtype != ESFT_ST_F16 && dtype != ESFT_ST_F32)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "%s: dtype %s cannot be written (bf16, f16 or f32)", dir,
                         esft_st_dtype_name(dtype));
    esft_hparams hp;
    esft_status st = esft_hparams_read(src->meta, &hp, err);
    if (st) return st;
    if (hp.arch != ESFT_ARCH_LLAMA && hp.arch != ESFT_ARCH_QWEN2)
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: architecture '%s' is not one esft writes (llama, qwen2)",
                         esft_gguf_path(src->meta), esft_arch_name(hp.arch));
    /* Llama 3 rope scaling would need config.json's rope_scaling rebuilt
     * from the frequency divisors: refused rather than written without it */
    for (size_t i = 0; i < src->n_tensors; i++)
        if (strcmp(src->tensors[i].name, "rope_freqs.weight") == 0)
            return esft_errf(err, ESFT_ERR_UNSUPPORTED,
                             "%s: Llama 3 rope scaling (rope_freqs.weight) is not written to Hugging Face form yet",
                             esft_gguf_path(src->meta));
    int state = target_state(dir, err);
    if (state < 0) return ESFT_ERR_IO;
    if (state == 2 && !force)
        return esft_errf(err, ESFT_ERR_IO, "%s: exists and is not empty (--force replaces it)", dir);
    esft_tokenizer *tok = NULL;
    if ((st = esft_tokenizer_from_gguf(src->meta, &tok, err))) return st;
    char tmp[4096], old[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dir, (long)getpid()) >= sizeof tmp ||
        (size_t)snprintf(old, sizeof old, "%s.old.%ld", dir, (long)getpid()) >= sizeof old)
        st = esft_errf(err, ESFT_ERR_INVALID_ARG, "%s: path too long", dir);
    if (!st && mkdir(tmp, 0755) != 0) st = esft_errf(err, ESFT_ERR_IO, "%s: %s", tmp, strerror(errno));
    else if (!st) {
        st = write_files(src, &hp, tok, tmp, dtype, err);
        /* an existing directory is moved aside, the new one renamed in, the
         * old one removed: at every moment dir is the old model or the new */
        if (!st && state == 2 && rename(dir, old) != 0) st = esft_errf(err, ESFT_ERR_IO, "%s: %s", dir, strerror(errno));
        if (!st && rename(tmp, dir) != 0) {
            st = esft_errf(err, ESFT_ERR_IO, "%s: %s", dir, strerror(errno));
            if (state == 2) rename(old, dir);
        }
        if (!st && state == 2) remove_tree(old);
        if (st) remove_tree(tmp);
        else sync_parent(dir);
    }
    esft_tokenizer_free(tok);
    return st;
}
