/* Hugging Face directory -> model source: config.json and tokenizer.json
 * become the GGUF keys llama.cpp's converter (convert_hf_to_gguf.py) would
 * write, the safetensors tensors get GGUF names. */
#include "hf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backends/util/esft_fs.h"
#include "esft_hash.h"
#include "safetensors.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Larger JSON files than this are refused (Llama 3's tokenizer.json is 9 MB). */
#define MAX_JSON_BYTES ((size_t)256 << 20)
#define MAX_VOCAB (1 << 20) /* Gemma 3 has 262144 tokens */
#define MAX_MERGE_TEXT 4096 /* longer merged texts are skipped */
#define PAD_LEN 32 /* "[PAD<id>]" and its NUL, any long */

enum { TT_NORMAL = 1, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };
#define SPM_SPACE "\xe2\x96\x81" /* U+2581 */

struct esft_source_files {
    esft_st_file **st;
    size_t n_st;
    char (*gguf_names)[96]; /* [n_tensors] */
    float *rope_freqs;      /* [head_dim / 2]: Llama 3 rope scaling as llama.cpp's rope_freqs.weight */
};

void esft_hf_files_free(esft_source_files *fs) {
    if (!fs) return;
    for (size_t i = 0; i < fs->n_st; i++) esft_st_close(fs->st[i]);
    free(fs->st);
    free(fs->gguf_names);
    free(fs->rope_freqs);
    free(fs);
}

/* ------------------------------------------------------------ JSON files */

typedef struct hf_dir {
    const char *dir;
    char path[4096]; /* the file being read, for messages */
} hf_dir;

static const char *dir_path(hf_dir *d, const char *name) {
    snprintf(d->path, sizeof d->path, "%s/%s", d->dir, name);
    return d->path;
}

/* Parses DIR/name into *out; a missing file is *out = NULL when optional. */
static esft_status read_json(hf_dir *d, const char *name, bool optional, cJSON **out, esft_err *err) {
    *out = NULL;
    const char *path = dir_path(d, name);
    size_t size;
    char *buf = esft_read_file(path, MAX_JSON_BYTES, &size);
    if (!buf) {
        int e = errno;
        if (e == ENOENT && optional) return ESFT_OK;
        return esft_errf(err, e == ENOMEM ? ESFT_ERR_OUT_OF_MEMORY : ESFT_ERR_IO, "%s: %s%s", path,
                         e == EFBIG ? "larger than 256 MiB" : esft_read_error(e),
                         e == ENOENT ? " (a Hugging Face model directory needs it)" : "");
    }
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(buf, size, &end, 0);
    size_t at = end ? (size_t)(end - buf) : 0;
    free(buf);
    if (!*out || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: not a JSON object (error near byte %zu)", path, at);
    }
    return ESFT_OK;
}

static const cJSON *get(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

/* An exact integer in [lo, hi]. */
static bool json_int(const cJSON *j, long lo, long hi, long *out) {
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || j->valuedouble != floor(j->valuedouble) ||
        j->valuedouble < (double)lo || j->valuedouble > (double)hi)
        return false;
    *out = (long)j->valuedouble;
    return true;
}

static const char *json_str(const cJSON *j) { return cJSON_IsString(j) ? j->valuestring : NULL; }

/* --------------------------------------------------------------- config */

enum { ARCH_LLAMA = 1, ARCH_QWEN2 = 2, ARCH_QWEN3 = 4, ARCH_GEMMA3 = 8, ARCH_ANY = 15 };

/* Llama 3 rope scaling (rope_type "llama3") */
typedef struct hf_llama3_rope {
    bool on;
    double factor, low_freq_factor, high_freq_factor, original_ctx;
} hf_llama3_rope;

typedef struct hf_arch {
    const char *arch;   /* GGUF architecture name */
    unsigned kind;      /* ARCH_* */
    long n_layer, n_head, n_head_kv, vocab_size, head_dim;
    double rope_theta;
    hf_llama3_rope llama3;
    bool tied;
} hf_arch;

/* config key -> GGUF key suffix, required or with a default (< 0: none) */
static const struct {
    const char *hf, *gguf;
    long def;
} CONFIG_INTS[] = {
    {"hidden_size", "embedding_length", -1},
    {"num_hidden_layers", "block_count", -1},
    {"intermediate_size", "feed_forward_length", -1},
    {"num_attention_heads", "attention.head_count", -1},
    {"max_position_embeddings", "context_length", 2048},
};

static esft_status config_int(hf_dir *d, const cJSON *cfg, const char *key, long def, long *out, esft_err *err) {
    const cJSON *j = get(cfg, key);
    if ((!j || cJSON_IsNull(j)) && def >= 0) {
        *out = def;
        return ESFT_OK;
    }
    if (!json_int(j, 1, 1 << 24, out))
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: '%s' must be an integer in 1..%d", dir_path(d, "config.json"),
                         key, 1 << 24);
    return ESFT_OK;
}

static bool positive_number(const cJSON *j) {
    return cJSON_IsNumber(j) && j->valuedouble > 0 && isfinite(j->valuedouble);
}

/* One rope setting: theta (th, or def when absent) and its scaling ("default"
 * or "llama3"; anything else is refused). */
static esft_status rope_of(const char *path, const cJSON *th, const cJSON *scaling, double def, double *theta,
                           hf_llama3_rope *l3, esft_err *err) {
    *theta = def;
    memset(l3, 0, sizeof *l3);
    if (th) {
        if (!positive_number(th))
            return esft_errf(err, ESFT_ERR_FORMAT, "%s: rope_theta must be a positive number", path);
        *theta = th->valuedouble;
    }
    if (!scaling || cJSON_IsNull(scaling)) return ESFT_OK;
    const char *type = json_str(get(scaling, "rope_type"));
    if (!type) type = json_str(get(scaling, "type"));
    if (type && strcmp(type, "default") == 0) return ESFT_OK;
    if (type && strcmp(type, "llama3") == 0) {
        const cJSON *f = get(scaling, "factor"), *lo = get(scaling, "low_freq_factor"),
                    *hi = get(scaling, "high_freq_factor"), *ctx = get(scaling, "original_max_position_embeddings");
        if (!positive_number(f) || !positive_number(lo) || !positive_number(hi) || !positive_number(ctx) ||
            !(hi->valuedouble > lo->valuedouble))
            return esft_errf(err, ESFT_ERR_FORMAT,
                             "%s: llama3 rope scaling needs positive factor, low_freq_factor < high_freq_factor "
                             "and original_max_position_embeddings",
                             path);
        *l3 = (hf_llama3_rope){true, f->valuedouble, lo->valuedouble, hi->valuedouble, ctx->valuedouble};
        return ESFT_OK;
    }
    char qb[ESFT_QUOTE_MAX];
    return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: rope scaling type '%s' is not supported", path,
                     type ? esft_quote(type, strlen(type), qb, sizeof qb) : "?");
}

/* The rope settings: theta from rope_theta (transformers 4) or
 * rope_parameters (5), Llama 3 scaling. Gemma 3's global and sliding layers
 * have their own (rope_parameters.full_attention / .sliding_attention, or
 * rope_theta / rope_local_base_freq): *theta_swa. */
static esft_status config_rope(hf_dir *d, const cJSON *cfg, hf_arch *a, double *theta_swa, esft_err *err) {
    const char *path = dir_path(d, "config.json");
    const cJSON *params = get(cfg, "rope_parameters");
    const cJSON *scaling = get(cfg, "rope_scaling");
    const cJSON *th = get(cfg, "rope_theta");
    esft_status st;
    if (a->kind == ARCH_GEMMA3) {
        const cJSON *full = get(params, "full_attention"), *slide = get(params, "sliding_attention");
        hf_llama3_rope l3_swa;
        if (cJSON_IsObject(full) && cJSON_IsObject(slide)) {
            if ((st = rope_of(path, get(full, "rope_theta"), full, 1000000.0, &a->rope_theta, &a->llama3, err)) ||
                (st = rope_of(path, get(slide, "rope_theta"), slide, 10000.0, theta_swa, &l3_swa, err)))
                return st;
        } else {
            const cJSON *local = get(cfg, "rope_local_base_freq");
            if ((st = rope_of(path, th, scaling, 1000000.0, &a->rope_theta, &a->llama3, err)) ||
                (st = rope_of(path, local, NULL, 10000.0, theta_swa, &l3_swa, err)))
                return st;
        }
        if (a->llama3.on || l3_swa.on)
            return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: rope scaling on gemma3 is not supported", path);
    } else {
        if (cJSON_IsObject(params)) {
            if (!th) th = get(params, "rope_theta");
            if (!scaling || cJSON_IsNull(scaling)) scaling = params;
        }
        if ((st = rope_of(path, th, scaling, 10000.0, &a->rope_theta, &a->llama3, err))) return st;
        if (a->llama3.on && a->kind != ARCH_LLAMA)
            return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: llama3 rope scaling on %s is not supported", path, a->arch);
        *theta_swa = a->rope_theta;
    }
    const cJSON *partial = get(cfg, "partial_rotary_factor");
    if (partial && !(cJSON_IsNumber(partial) && partial->valuedouble == 1.0))
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: partial rotary embeddings are not supported", path);
    return ESFT_OK;
}

/* Llama 3's frequency divisors, as llama.cpp's converter computes them
 * (rope_freqs.weight): wavelengths shorter than original_ctx /
 * high_freq_factor keep their frequency, longer than original_ctx /
 * low_freq_factor are divided by factor, those between blend smoothly. */
static void llama3_freq_factors(const hf_arch *a, float *out) {
    const hf_llama3_rope *r = &a->llama3;
    for (long i = 0; i < a->head_dim / 2; i++) {
        const double wavelen = 2.0 * M_PI * pow(a->rope_theta, 2.0 * (double)i / (double)a->head_dim);
        if (wavelen < r->original_ctx / r->high_freq_factor) {
            out[i] = 1.0f;
        } else if (wavelen > r->original_ctx / r->low_freq_factor) {
            out[i] = (float)r->factor;
        } else {
            const double smooth = (r->original_ctx / wavelen - r->low_freq_factor) /
                                  (r->high_freq_factor - r->low_freq_factor);
            out[i] = (float)(1.0 / ((1.0 - smooth) / r->factor + smooth));
        }
    }
}

/* Gemma 3's sliding-window settings as GGUF keys: the window, the period of
 * global layers (layer_types, or the older sliding_window_pattern; every
 * 6th by default, as llama.cpp assumes), query_pre_attn_scalar as the
 * attention scale, and refusals of what esft does not implement. */
static esft_status config_gemma3(hf_dir *d, const cJSON *cfg, const hf_arch *a, gguf_writer *w, esft_err *err) {
    const char *path = dir_path(d, "config.json");
    char qb[ESFT_QUOTE_MAX];
    const char *act = json_str(get(cfg, "hidden_activation"));
    if (!act) act = json_str(get(cfg, "hidden_act"));
    if (act && strcmp(act, "gelu_pytorch_tanh") != 0 && strcmp(act, "gelu_tanh") != 0)
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: hidden_activation '%s' is not supported (gelu_pytorch_tanh)",
                         path, esft_quote(act, strlen(act), qb, sizeof qb));
    static const char *const softcaps[] = {"final_logit_softcapping", "attn_logit_softcapping"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *cap = get(cfg, softcaps[i]);
        if (cap && !cJSON_IsNull(cap))
            return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: %s (logit soft-capping) is not supported", path,
                             softcaps[i]);
    }
    if (cJSON_IsTrue(get(cfg, "use_bidirectional_attention")))
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: bidirectional attention is not supported", path);
    long window, period = 6, qscale;
    esft_status st = config_int(d, cfg, "sliding_window", -1, &window, err);
    if (st) return st;
    const cJSON *types = get(cfg, "layer_types");
    if (cJSON_IsArray(types)) {
        if (cJSON_GetArraySize(types) != a->n_layer)
            return esft_errf(err, ESFT_ERR_FORMAT, "%s: layer_types has %d entries for %ld layers", path,
                             cJSON_GetArraySize(types), a->n_layer);
        period = a->n_layer + 1; /* no global layer */
        long l = 0;
        for (const cJSON *t = types->child; t; t = t->next, l++)
            if (json_str(t) && strcmp(t->valuestring, "full_attention") == 0) {
                period = l + 1;
                break;
            }
        l = 0;
        for (const cJSON *t = types->child; t; t = t->next, l++) {
            const char *want = (l + 1) % period == 0 ? "full_attention" : "sliding_attention";
            if (!json_str(t) || strcmp(t->valuestring, want) != 0)
                return esft_errf(err, ESFT_ERR_UNSUPPORTED,
                                 "%s: layer_types[%ld] is not '%s': only a global layer every %ld is supported",
                                 path, l, want, period);
        }
    } else if ((st = config_int(d, cfg, "sliding_window_pattern", 6, &period, err))) {
        return st;
    }
    if ((st = esft_gguf_writer_set_u32(w, "gemma3.attention.sliding_window", (uint32_t)window, err)) ||
        (period != 6 && (st = esft_gguf_writer_set_u32(w, "gemma3.attention.sliding_window_pattern",
                                                        (uint32_t)period, err))) ||
        (st = config_int(d, cfg, "query_pre_attn_scalar", a->head_dim, &qscale, err)))
        return st;
    if (qscale != a->head_dim)
        st = esft_gguf_writer_set_f32(w, "gemma3.attention.scale", (float)(1.0 / sqrt((double)qscale)), err);
    return st;
}

static esft_status read_config(hf_dir *d, const cJSON *cfg, gguf_writer *w, hf_arch *a, esft_err *err) {
    const char *path = dir_path(d, "config.json");
    char qb[ESFT_QUOTE_MAX];
    static const struct {
        const char *model_type, *arch;
        unsigned kind;
    } TYPES[] = {
        {"llama", "llama", ARCH_LLAMA},
        {"qwen2", "qwen2", ARCH_QWEN2},
        {"qwen3", "qwen3", ARCH_QWEN3},
        {"gemma3_text", "gemma3", ARCH_GEMMA3},
    };
    const char *type = json_str(get(cfg, "model_type"));
    if (!type) return esft_errf(err, ESFT_ERR_FORMAT, "%s: no \"model_type\"", path);
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (strcmp(type, TYPES[i].model_type) == 0) {
            a->arch = TYPES[i].arch;
            a->kind = TYPES[i].kind;
        }
    if (!a->arch)
        return esft_errf(err, ESFT_ERR_UNSUPPORTED,
                         "%s: model_type '%s' is not supported (esft runs llama, qwen2, qwen3 and gemma3_text)",
                         path, esft_quote(type, strlen(type), qb, sizeof qb));
    const char *act = json_str(get(cfg, "hidden_act"));
    if (a->kind != ARCH_GEMMA3 && act && strcmp(act, "silu") != 0)
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: hidden_act '%s' is not supported (only silu)", path,
                         esft_quote(act, strlen(act), qb, sizeof qb));
    if (a->kind != ARCH_GEMMA3 && cJSON_IsTrue(get(cfg, "use_sliding_window")))
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: sliding-window attention is not supported", path);
    if (a->kind == ARCH_QWEN3 && cJSON_IsTrue(get(cfg, "attention_bias")))
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: qwen3 with attention_bias is not supported", path);
    const cJSON *tie = get(cfg, "tie_word_embeddings");
    if (tie && !cJSON_IsBool(tie)) return esft_errf(err, ESFT_ERR_FORMAT, "%s: tie_word_embeddings must be a boolean", path);
    /* LlamaConfig and Qwen2Config default to false, Qwen3Config and Gemma3TextConfig to true */
    a->tied = tie ? cJSON_IsTrue(tie) : (a->kind == ARCH_QWEN3 || a->kind == ARCH_GEMMA3);

    char key[128];
    long hidden = 0, head_dim;
    const char *base = strrchr(d->dir, '/');
    esft_status st = esft_gguf_writer_set_str(w, "general.architecture", a->arch, err);
    if (!st) st = esft_gguf_writer_set_str(w, "general.name", base && base[1] ? base + 1 : d->dir, err);
    for (size_t i = 0; i < sizeof CONFIG_INTS / sizeof CONFIG_INTS[0] && !st; i++) {
        long v;
        if ((st = config_int(d, cfg, CONFIG_INTS[i].hf, CONFIG_INTS[i].def, &v, err))) break;
        snprintf(key, sizeof key, "%s.%s", a->arch, CONFIG_INTS[i].gguf);
        st = esft_gguf_writer_set_u32(w, key, (uint32_t)v, err);
        if (strcmp(CONFIG_INTS[i].hf, "num_hidden_layers") == 0) a->n_layer = v;
        if (strcmp(CONFIG_INTS[i].hf, "num_attention_heads") == 0) a->n_head = v;
        if (strcmp(CONFIG_INTS[i].hf, "hidden_size") == 0) hidden = v;
    }
    if (st) return st;
    if ((st = config_int(d, cfg, "num_key_value_heads", a->n_head, &a->n_head_kv, err)) ||
        (st = config_int(d, cfg, "vocab_size", 0, &a->vocab_size, err)))
        return st;
    snprintf(key, sizeof key, "%s.attention.head_count_kv", a->arch);
    if ((st = esft_gguf_writer_set_u32(w, key, (uint32_t)a->n_head_kv, err))) return st;
    snprintf(key, sizeof key, "%s.vocab_size", a->arch);
    if (a->vocab_size && (st = esft_gguf_writer_set_u32(w, key, (uint32_t)a->vocab_size, err))) return st;
    if ((st = config_int(d, cfg, "head_dim", hidden / a->n_head, &head_dim, err))) return st;
    a->head_dim = head_dim;
    if (get(cfg, "head_dim") && !cJSON_IsNull(get(cfg, "head_dim"))) {
        snprintf(key, sizeof key, "%s.attention.key_length", a->arch);
        if ((st = esft_gguf_writer_set_u32(w, key, (uint32_t)head_dim, err))) return st;
        snprintf(key, sizeof key, "%s.attention.value_length", a->arch);
        if ((st = esft_gguf_writer_set_u32(w, key, (uint32_t)head_dim, err))) return st;
    }
    snprintf(key, sizeof key, "%s.rope.dimension_count", a->arch); /* full rotary: partial is refused below */
    if ((st = esft_gguf_writer_set_u32(w, key, (uint32_t)head_dim, err))) return st;
    const cJSON *eps = get(cfg, "rms_norm_eps");
    if (eps && (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || !isfinite(eps->valuedouble)))
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: rms_norm_eps must be a positive number", path);
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", a->arch);
    if ((st = esft_gguf_writer_set_f32(w, key, eps ? (float)eps->valuedouble : 1e-6f, err))) return st;
    double theta_swa;
    if ((st = config_rope(d, cfg, a, &theta_swa, err))) return st;
    snprintf(key, sizeof key, "%s.rope.freq_base", a->arch);
    if ((st = esft_gguf_writer_set_f32(w, key, (float)a->rope_theta, err))) return st;
    if (a->kind == ARCH_GEMMA3) {
        if ((st = esft_gguf_writer_set_f32(w, "gemma3.rope.freq_base_swa", (float)theta_swa, err))) return st;
        return config_gemma3(d, cfg, a, w, err);
    }
    return ESFT_OK;
}

/* ------------------------------------------------------------ tokenizer */

static bool is_type(const cJSON *o, const char *type) {
    const char *t = json_str(get(o, "type"));
    return t && strcmp(t, type) == 0;
}

static bool byte_level(const cJSON *o, bool use_regex) {
    return is_type(o, "ByteLevel") && !cJSON_IsTrue(get(o, "add_prefix_space")) &&
           cJSON_IsTrue(get(o, "use_regex")) == use_regex;
}

/* llama.cpp's tokenizer.ggml.pre name of a pre_tokenizer pipeline, or NULL. */
static const char *pre_name(const cJSON *pre) {
    if (byte_level(pre, true)) return "gpt-2";
    if (!is_type(pre, "Sequence")) return NULL;
    const cJSON *seq = get(pre, "pretokenizers");
    if (cJSON_GetArraySize(seq) != 2) return NULL;
    const cJSON *a = seq->child, *b = a->next;
    if (is_type(a, "Digits") && cJSON_IsTrue(get(a, "individual_digits")) && byte_level(b, true))
        return "smollm";
    const char *behavior = json_str(get(a, "behavior"));
    const char *re = json_str(get(get(a, "pattern"), "Regex"));
    if (!is_type(a, "Split") || !re || !behavior || strcmp(behavior, "Isolated") != 0 ||
        cJSON_IsTrue(get(a, "invert")) || !byte_level(b, false))
        return NULL;
    if (strcmp(re, ESFT_HF_SPLIT("\\p{N}")) == 0) return "qwen2";
    if (strcmp(re, ESFT_HF_SPLIT("\\p{N}{1,3}")) == 0) return "llama-bpe";
    return NULL;
}

/* What llama.cpp's converter marks as control although not flagged special. */
static bool looks_special(const char *s) {
    size_t n = strlen(s);
    return n >= 4 && ((strncmp(s, "<|", 2) == 0 && strcmp(s + n - 2, "|>") == 0) ||
                      (strncmp(s, "<\xef\xbd\x9c", 4) == 0 && n >= 8 && strcmp(s + n - 4, "\xef\xbd\x9c>") == 0));
}

typedef struct vocab {
    long n;
    const char **text; /* [n], into the JSON or pad */
    int32_t *type;     /* [n] */
    char *pad;         /* "[PAD<id>]" texts of ids nothing names */
    const char **merges;
    size_t n_merges;
    char *merge_buf;
} vocab;

static void vocab_free(vocab *v) {
    free(v->text);
    free(v->type);
    free(v->pad);
    free(v->merges);
    free(v->merge_buf);
}

static long id_of(const vocab *v, const char *s) {
    if (!s) return -1;
    for (long i = 0; i < v->n; i++)
        if (v->text[i] && strcmp(v->text[i], s) == 0) return i;
    return -1;
}

/* tokenizer_config's "bos_token": "<s>" or {"content": "<s>", ...} */
static const char *special_text(const cJSON *tc, const char *key) {
    const cJSON *j = get(tc, key);
    return cJSON_IsObject(j) ? json_str(get(j, "content")) : json_str(j);
}

static esft_status read_vocab(hf_dir *d, const cJSON *tok, const hf_arch *a, vocab *v, esft_err *err) {
    const char *path = dir_path(d, "tokenizer.json");
    char qb[ESFT_QUOTE_MAX];
    const cJSON *model = get(tok, "model");
    if (!is_type(model, "BPE"))
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: model.type must be \"BPE\" (byte-level BPE is supported)", path);
    const cJSON *vj = get(model, "vocab"), *added = get(tok, "added_tokens");
    if (!cJSON_IsObject(vj)) return esft_errf(err, ESFT_ERR_FORMAT, "%s: model.vocab is not an object", path);
    if (added && !cJSON_IsArray(added)) return esft_errf(err, ESFT_ERR_FORMAT, "%s: added_tokens is not an array", path);
    long n = a->vocab_size, id = 0;
    for (const cJSON *e = vj->child; e; e = e->next) {
        if (!json_int(e, 0, MAX_VOCAB - 1, &id))
            return esft_errf(err, ESFT_ERR_FORMAT, "%s: token '%s' has no id in 0..%d", path,
                             esft_quote(e->string, strlen(e->string), qb, sizeof qb), MAX_VOCAB - 1);
        if (id >= n) n = id + 1;
    }
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        if (!json_int(get(e, "id"), 0, MAX_VOCAB - 1, &id) || !json_str(get(e, "content")))
            return esft_errf(err, ESFT_ERR_FORMAT, "%s: an added token lacks a content or an id in 0..%d", path,
                             MAX_VOCAB - 1);
        if (id >= n) n = id + 1;
    }
    if (n == 0) return esft_errf(err, ESFT_ERR_FORMAT, "%s: empty vocabulary", path);
    v->n = n;
    v->text = calloc((size_t)n, sizeof *v->text);
    v->type = malloc((size_t)n * sizeof *v->type);
    v->pad = malloc((size_t)n * PAD_LEN);
    if (!v->text || !v->type || !v->pad) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (const cJSON *e = vj->child; e; e = e->next) {
        json_int(e, 0, MAX_VOCAB - 1, &id);
        if (v->text[id]) {
            char qa[ESFT_QUOTE_MAX];
            return esft_errf(err, ESFT_ERR_FORMAT, "%s: tokens '%s' and '%s' share id %ld", path,
                             esft_quote(v->text[id], strlen(v->text[id]), qa, sizeof qa),
                             esft_quote(e->string, strlen(e->string), qb, sizeof qb), id);
        }
        v->text[id] = e->string;
        v->type[id] = TT_NORMAL;
    }
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
        json_int(get(e, "id"), 0, MAX_VOCAB - 1, &id);
        v->text[id] = json_str(get(e, "content"));
        v->type[id] = cJSON_IsTrue(get(e, "special")) || looks_special(v->text[id]) ? TT_CONTROL : TT_USER_DEFINED;
    }
    for (id = 0; id < n; id++)
        if (!v->text[id]) {
            v->text[id] = v->pad + PAD_LEN * id;
            snprintf(v->pad + PAD_LEN * id, PAD_LEN, "[PAD%ld]", id);
            v->type[id] = TT_UNUSED;
        }

    /* merges: "a b" strings, or ["a", "b"] pairs (tokenizers >= 0.20) */
    const cJSON *mj = get(model, "merges");
    if (mj && !cJSON_IsArray(mj)) return esft_errf(err, ESFT_ERR_FORMAT, "%s: model.merges is not an array", path);
    size_t nm = (size_t)cJSON_GetArraySize(mj), bytes = 0, i = 0;
    for (const cJSON *m = mj ? mj->child : NULL; m; m = m->next, i++) {
        const cJSON *l = cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 ? m->child : NULL;
        if (l && json_str(l) && json_str(l->next))
            bytes += strlen(l->valuestring) + strlen(l->next->valuestring) + 2;
        else if (!json_str(m))
            return esft_errf(err, ESFT_ERR_FORMAT, "%s: merge #%zu is neither \"a b\" nor [\"a\", \"b\"]", path, i);
    }
    v->merges = malloc((nm ? nm : 1) * sizeof *v->merges);
    v->merge_buf = malloc(bytes ? bytes : 1);
    if (!v->merges || !v->merge_buf) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    char *o = v->merge_buf;
    for (const cJSON *m = mj ? mj->child : NULL; m; m = m->next) {
        if (json_str(m)) {
            v->merges[v->n_merges++] = m->valuestring;
            continue;
        }
        v->merges[v->n_merges++] = o;
        o += sprintf(o, "%s %s", m->child->valuestring, m->child->next->valuestring) + 1;
    }
    return ESFT_OK;
}

static esft_status set_special(gguf_writer *w, const vocab *v, const char *key, const char *text, long fallback,
                               esft_err *err) {
    long id = id_of(v, text);
    if (id < 0) id = fallback;
    return id >= 0 && id < v->n ? esft_gguf_writer_set_u32(w, key, (uint32_t)id, err) : ESFT_OK;
}

/* config.json's bos/eos ids, used when tokenizer_config names none; eos
 * may be a list (the first counts). */
static long config_id(const cJSON *cfg, const char *key) {
    const cJSON *j = get(cfg, key);
    if (cJSON_IsArray(j)) j = j->child;
    long id;
    return json_int(j, 0, MAX_VOCAB - 1, &id) ? id : -1;
}

/* Whether the post-processor puts a special token before the text. */
static bool post_adds_bos(const cJSON *tok) {
    const cJSON *pp = get(tok, "post_processor");
    if (is_type(pp, "Sequence")) {
        for (const cJSON *p = get(pp, "processors") ? get(pp, "processors")->child : NULL; p; p = p->next)
            if (is_type(p, "TemplateProcessing")) pp = p;
    }
    const cJSON *single = is_type(pp, "TemplateProcessing") ? get(pp, "single") : NULL;
    return cJSON_IsArray(single) && single->child && get(single->child, "SpecialToken");
}

/* SentencePiece-style tokenizer.json (BPE with byte_fallback, as Gemma,
 * Llama 2 and Mistral ship it): the normalizer turns " " into U+2581,
 * optionally after prepending one, and the pre-tokenizer is absent or a Split
 * on " " (which the normalised text no longer holds). */
static bool spm_form(const cJSON *tok, bool *prepend) {
    const cJSON *norm = get(tok, "normalizer"), *pre = get(tok, "pre_tokenizer");
    if (pre && !cJSON_IsNull(pre)) {
        const char *str = json_str(get(get(pre, "pattern"), "String"));
        if (!is_type(pre, "Split") || !str || strcmp(str, " ") != 0 || cJSON_IsTrue(get(pre, "invert"))) return false;
    }
    const cJSON *replace = norm;
    *prepend = false;
    if (is_type(norm, "Sequence")) {
        const cJSON *seq = get(norm, "normalizers");
        if (cJSON_GetArraySize(seq) != 2) return false;
        const char *c = json_str(get(seq->child, "prepend"));
        if (!is_type(seq->child, "Prepend") || !c || strcmp(c, SPM_SPACE) != 0) return false;
        *prepend = true;
        replace = seq->child->next;
    }
    const char *from = json_str(get(get(replace, "pattern"), "String")), *to = json_str(get(replace, "content"));
    return is_type(replace, "Replace") && from && to && strcmp(from, " ") == 0 && strcmp(to, SPM_SPACE) == 0;
}

/* SentencePiece scores for a BPE vocabulary: minus the rank of the first
 * merge that makes the token, so that "the best-scored pair first" merges in
 * merge order; tokens no merge makes score below every merge. Byte tokens
 * <0xXX> get their type. */
static esft_status spm_scores(const char *path, vocab *v, float **out, esft_err *err) {
    size_t cap = 16;
    while (cap < (size_t)v->n * 2) cap <<= 1;
    int32_t *slot = malloc(cap * sizeof *slot);
    float *score = malloc((size_t)v->n * sizeof *score);
    if (!slot || !score) {
        free(slot);
        free(score);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    memset(slot, 0xff, cap * sizeof *slot);
    for (long id = 0; id < v->n; id++) {
        const char *t = v->text[id];
        size_t i = (size_t)esft_fnv1a64(ESFT_FNV1A64_INIT, t, strlen(t)) & (cap - 1);
        while (slot[i] >= 0) i = (i + 1) & (cap - 1);
        slot[i] = (int32_t)id;
        score[id] = -(float)v->n_merges - 1.0f;
        unsigned b;
        char tail;
        if (v->type[id] == TT_NORMAL && strlen(t) == 6 && sscanf(t, "<0x%2X%c", &b, &tail) == 2 && tail == '>')
            v->type[id] = TT_BYTE;
    }
    char *buf = malloc(MAX_MERGE_TEXT);
    for (size_t r = 0; buf && r < v->n_merges; r++) {
        const char *m = v->merges[r], *sp = m[0] ? strchr(m + 1, ' ') : NULL;
        size_t la = sp ? (size_t)(sp - m) : 0, lb = sp ? strlen(sp + 1) : 0;
        if (!sp || la + lb >= MAX_MERGE_TEXT) continue;
        memcpy(buf, m, la);
        memcpy(buf + la, sp + 1, lb + 1);
        size_t i = (size_t)esft_fnv1a64(ESFT_FNV1A64_INIT, buf, la + lb) & (cap - 1);
        for (; slot[i] >= 0; i = (i + 1) & (cap - 1))
            if (strcmp(v->text[slot[i]], buf) == 0) {
                if (score[slot[i]] < -(float)r) score[slot[i]] = -(float)r;
                break;
            }
    }
    free(slot);
    if (!buf) {
        free(score);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    free(buf);
    *out = score;
    return ESFT_OK;
}

static esft_status read_tokenizer(hf_dir *d, const cJSON *tok, const cJSON *tc, const cJSON *cfg,
                                  const hf_arch *a, gguf_writer *w, esft_err *err) {
    bool prepend = false;
    const bool spm = cJSON_IsTrue(get(get(tok, "model"), "byte_fallback"));
    if (spm && !spm_form(tok, &prepend))
        return esft_errf(err, ESFT_ERR_UNSUPPORTED,
                         "%s: byte_fallback BPE whose normalizer/pre_tokenizer esft does not know (it reads a "
                         "Replace of ' ' by U+2581, optionally after a Prepend of U+2581, and no pre_tokenizer "
                         "or a Split on ' ')",
                         dir_path(d, "tokenizer.json"));
    const char *pre = spm ? "default" : pre_name(get(tok, "pre_tokenizer"));
    if (!pre)
        return esft_errf(err, ESFT_ERR_UNSUPPORTED,
                         "%s: pre_tokenizer is not one esft knows (GPT-2 / SmolLM / Qwen2 / Llama 3 byte-level)",
                         dir_path(d, "tokenizer.json"));
    const cJSON *norm = get(tok, "normalizer");
    /* NFC leaves the texts esft sees unchanged in practice; llama.cpp ignores it too */
    if (!spm && norm && !cJSON_IsNull(norm) && !is_type(norm, "NFC"))
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: normalizer '%s' is not supported",
                         dir_path(d, "tokenizer.json"), json_str(get(norm, "type")) ? json_str(get(norm, "type")) : "?");
    vocab v = {0};
    esft_status st = read_vocab(d, tok, a, &v, err);
    float *scores = NULL;
    if (!st && spm) st = spm_scores(dir_path(d, "tokenizer.json"), &v, &scores, err);
    if (!st) st = esft_gguf_writer_set_str(w, "tokenizer.ggml.model", spm ? "llama" : "gpt2", err);
    if (!st) st = esft_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre, err);
    if (!st) st = esft_gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", v.text, (size_t)v.n, err);
    if (!st) st = esft_gguf_writer_set_i32_arr(w, "tokenizer.ggml.token_type", v.type, (size_t)v.n, err);
    if (!st && !spm) st = esft_gguf_writer_set_str_arr(w, "tokenizer.ggml.merges", v.merges, v.n_merges, err);
    if (!st && spm) st = esft_gguf_writer_set_f32_arr(w, "tokenizer.ggml.scores", scores, (size_t)v.n, err);
    if (!st && spm) st = esft_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", prepend, err);
    free(scores);
    if (!st) st = set_special(w, &v, "tokenizer.ggml.bos_token_id", special_text(tc, "bos_token"), config_id(cfg, "bos_token_id"), err);
    if (!st) st = set_special(w, &v, "tokenizer.ggml.eos_token_id", special_text(tc, "eos_token"), config_id(cfg, "eos_token_id"), err);
    if (!st) st = set_special(w, &v, "tokenizer.ggml.unknown_token_id", special_text(tc, "unk_token"), -1, err);
    if (!st) st = set_special(w, &v, "tokenizer.ggml.padding_token_id", special_text(tc, "pad_token"), -1, err);
    vocab_free(&v);
    if (st) return st;
    const cJSON *ab = get(tc, "add_bos_token");
    if ((st = esft_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token",
                                        cJSON_IsBool(ab) ? cJSON_IsTrue(ab) : post_adds_bos(tok), err)))
        return st;
    const cJSON *tmpl = get(tc, "chat_template");
    if (cJSON_IsArray(tmpl)) /* [{"name": "default", "template": "..."}, ...] */
        for (const cJSON *t = tmpl->child; t; t = t->next)
            if (json_str(get(t, "name")) && strcmp(get(t, "name")->valuestring, "default") == 0) tmpl = get(t, "template");
    if (json_str(tmpl)) st = esft_gguf_writer_set_str(w, "tokenizer.chat_template", tmpl->valuestring, err);
    return st;
}

/* -------------------------------------------------------------- tensors */

#define ARCH_NOT_GEMMA3 (ARCH_LLAMA | ARCH_QWEN2 | ARCH_QWEN3)
static const struct {
    const char *hf, *gguf;
    unsigned archs; /* ARCH_* that have (and need) it */
} LAYER_TENSORS[] = {
    {"input_layernorm.weight", "attn_norm.weight", ARCH_ANY},
    {"self_attn.q_proj.weight", "attn_q.weight", ARCH_ANY},
    {"self_attn.k_proj.weight", "attn_k.weight", ARCH_ANY},
    {"self_attn.v_proj.weight", "attn_v.weight", ARCH_ANY},
    {"self_attn.q_proj.bias", "attn_q.bias", ARCH_QWEN2},
    {"self_attn.k_proj.bias", "attn_k.bias", ARCH_QWEN2},
    {"self_attn.v_proj.bias", "attn_v.bias", ARCH_QWEN2},
    {"self_attn.q_norm.weight", "attn_q_norm.weight", ARCH_QWEN3 | ARCH_GEMMA3},
    {"self_attn.k_norm.weight", "attn_k_norm.weight", ARCH_QWEN3 | ARCH_GEMMA3},
    {"self_attn.o_proj.weight", "attn_output.weight", ARCH_ANY},
    /* the same Hugging Face name: Gemma's is the attention block's post-norm */
    {"post_attention_layernorm.weight", "ffn_norm.weight", ARCH_NOT_GEMMA3},
    {"post_attention_layernorm.weight", "post_attention_norm.weight", ARCH_GEMMA3},
    {"pre_feedforward_layernorm.weight", "ffn_norm.weight", ARCH_GEMMA3},
    {"mlp.gate_proj.weight", "ffn_gate.weight", ARCH_ANY},
    {"mlp.up_proj.weight", "ffn_up.weight", ARCH_ANY},
    {"mlp.down_proj.weight", "ffn_down.weight", ARCH_ANY},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight", ARCH_GEMMA3},
};
static const struct {
    const char *hf, *gguf;
} GLOBAL_TENSORS[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};
#define N_LAYER_TENSORS (sizeof LAYER_TENSORS / sizeof LAYER_TENSORS[0])
#define N_GLOBAL_TENSORS (sizeof GLOBAL_TENSORS / sizeof GLOBAL_TENSORS[0])

/* GGUF name of a Hugging Face tensor into out: 1 mapped, 0 to skip, -1 unknown
 * (or a layer past n_layer). */
static int gguf_name(const char *hf, const hf_arch *a, char out[96]) {
    for (size_t i = 0; i < N_GLOBAL_TENSORS; i++)
        if (strcmp(hf, GLOBAL_TENSORS[i].hf) == 0) {
            if (a->tied && strcmp(hf, "lm_head.weight") == 0) return 0; /* tied: the embedding is used */
            snprintf(out, 96, "%s", GLOBAL_TENSORS[i].gguf);
            return 1;
        }
    static const char prefix[] = "model.layers.";
    if (strncmp(hf, prefix, sizeof prefix - 1) != 0) return -1;
    const char *p = hf + sizeof prefix - 1;
    long layer = 0;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '.')) return -1;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((layer = layer * 10 + (*p - '0')) >= a->n_layer) return -1;
    if (*p++ != '.') return -1;
    if (strcmp(p, "self_attn.rotary_emb.inv_freq") == 0) return 0; /* a buffer old checkpoints stored */
    for (size_t i = 0; i < N_LAYER_TENSORS; i++)
        if ((LAYER_TENSORS[i].archs & a->kind) && strcmp(p, LAYER_TENSORS[i].hf) == 0) {
            snprintf(out, 96, "blk.%ld.%s", layer, LAYER_TENSORS[i].gguf);
            return 1;
        }
    return -1;
}

bool esft_hf_tensor_name(const char *gguf, char *out, size_t cap) {
    for (size_t i = 0; i < N_GLOBAL_TENSORS; i++)
        if (strcmp(gguf, GLOBAL_TENSORS[i].gguf) == 0) return (size_t)snprintf(out, cap, "%s", GLOBAL_TENSORS[i].hf) < cap;
    unsigned layer;
    int at = 0;
    if (strncmp(gguf, "blk.", 4) != 0 || gguf[4] < '0' || gguf[4] > '9' ||
        sscanf(gguf, "blk.%u.%n", &layer, &at) != 1 || at == 0)
        return false;
    for (size_t i = 0; i < N_LAYER_TENSORS; i++)
        if (strcmp(gguf + at, LAYER_TENSORS[i].gguf) == 0)
            return (size_t)snprintf(out, cap, "model.layers.%u.%s", layer, LAYER_TENSORS[i].hf) < cap;
    return false;
}

static esft_status add_tensor(esft_model_source *src, const hf_arch *a, const esft_st_file *f,
                              const esft_st_tensor *st, esft_err *err) {
    char qb[ESFT_QUOTE_MAX];
    const char *tn = esft_quote(st->name, strlen(st->name), qb, sizeof qb);
    char (*names)[96] = src->files->gguf_names;
    esft_source_tensor *t = &src->tensors[src->n_tensors];
    int m = gguf_name(st->name, a, names[src->n_tensors]);
    if (m == 0) return ESFT_OK;
    if (m < 0)
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: tensor '%s' is not a %s tensor esft knows (%ld layers)",
                         esft_st_path(f), tn, a->arch, a->n_layer);
    switch (st->dtype) {
    case ESFT_ST_F32: t->type = GGML_TYPE_F32; break;
    case ESFT_ST_F16: t->type = GGML_TYPE_F16; break;
    case ESFT_ST_BF16: t->type = GGML_TYPE_BF16; break;
    default:
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (esft reads F32, F16, BF16)",
                         esft_st_path(f), tn, esft_st_dtype_name(st->dtype));
    }
    if (st->n_dims < 1 || st->n_dims > GGUF_MAX_DIMS || st->n_elements == 0)
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: tensor '%s' has %u dimensions and %llu elements",
                         esft_st_path(f), tn, st->n_dims, (unsigned long long)st->n_elements);
    t->name = names[src->n_tensors];
    t->file = esft_st_path(f);
    t->file_name = st->name;
    t->n_dims = st->n_dims;
    for (uint32_t i = 0; i < GGUF_MAX_DIMS; i++) t->ne[i] = i < st->n_dims ? st->shape[st->n_dims - 1 - i] : 1;
    t->n_elements = st->n_elements;
    t->n_bytes = st->end - st->begin;
    t->data = st->data;
    /* Gemma's norms multiply by 1 + w; llama.cpp's converter stores 1 + w */
    if (a->kind == ARCH_GEMMA3 && strstr(t->name, "norm.weight")) t->shift = 1.0f;
    if (a->kind == ARCH_LLAMA) { /* GGUF's llama q/k rows are interleaved per head */
        bool q = strstr(t->name, ".attn_q.") != NULL, k = strstr(t->name, ".attn_k.") != NULL;
        if (q || k) t->rope_heads = (uint32_t)(q ? a->n_head : a->n_head_kv);
    }
    src->n_tensors++;
    return ESFT_OK;
}

/* Every tensor the architecture needs is there, named as Hugging Face names it. */
static esft_status check_complete(const esft_model_source *src, const hf_arch *a, const char *where,
                                  esft_err *err) {
    char want[96], name[128];
    for (long l = -1; l < a->n_layer; l++) {
        size_t n = l < 0 ? N_GLOBAL_TENSORS : N_LAYER_TENSORS;
        for (size_t i = 0; i < n; i++) {
            if (l < 0 && (a->tied && i == 2)) continue;
            if (l >= 0 && !(LAYER_TENSORS[i].archs & a->kind)) continue;
            if (l < 0) {
                snprintf(want, sizeof want, "%s", GLOBAL_TENSORS[i].gguf);
                snprintf(name, sizeof name, "%s", GLOBAL_TENSORS[i].hf);
            } else {
                snprintf(want, sizeof want, "blk.%ld.%s", l, LAYER_TENSORS[i].gguf);
                snprintf(name, sizeof name, "model.layers.%ld.%s", l, LAYER_TENSORS[i].hf);
            }
            bool found = false;
            for (size_t t = 0; t < src->n_tensors && !found; t++) found = strcmp(src->tensors[t].name, want) == 0;
            if (!found) return esft_errf(err, ESFT_ERR_FORMAT, "%s: missing tensor '%s'", where, name);
        }
    }
    return ESFT_OK;
}

/* A shard's file name from the index: a plain name in the directory. */
static bool plain_file_name(const char *s) {
    return s[0] && s[0] != '.' && !strchr(s, '/') && strlen(s) < 256;
}

static esft_status open_shard(hf_dir *d, esft_source_files *fs, const char *name, esft_st_file **out,
                              esft_err *err) {
    for (size_t i = 0; i < fs->n_st; i++) {
        const char *p = esft_st_path(fs->st[i]), *slash = strrchr(p, '/');
        if (strcmp(slash ? slash + 1 : p, name) == 0) {
            *out = fs->st[i];
            return ESFT_OK;
        }
    }
    esft_st_file **grown = realloc(fs->st, (fs->n_st + 1) * sizeof *grown);
    if (!grown) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    fs->st = grown;
    esft_status st = esft_st_open(dir_path(d, name), out, err);
    if (!st) fs->st[fs->n_st++] = *out;
    return st;
}

/* n tensors of the files, and one rope_freqs.weight (add_rope_freqs) */
static esft_status alloc_tensors(esft_model_source *src, size_t n, esft_err *err) {
    n++;
    src->tensors = calloc(n ? n : 1, sizeof *src->tensors);
    src->files->gguf_names = calloc(n ? n : 1, sizeof *src->files->gguf_names);
    if (!src->tensors || !src->files->gguf_names) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    return ESFT_OK;
}

static esft_status read_tensors(hf_dir *d, esft_model_source *src, const hf_arch *a, esft_err *err) {
    cJSON *index;
    esft_status st = read_json(d, "model.safetensors.index.json", true, &index, err);
    if (st) return st;
    esft_source_files *fs = src->files;
    if (!index) {
        esft_st_file *f;
        if ((st = open_shard(d, fs, "model.safetensors", &f, err)) ||
            (st = alloc_tensors(src, esft_st_n_tensors(f), err)))
            return st;
        for (size_t i = 0; i < esft_st_n_tensors(f) && !st; i++) st = add_tensor(src, a, f, esft_st_tensor_at(f, i), err);
        return st ? st : check_complete(src, a, esft_st_path(f), err);
    }
    const char *ipath = dir_path(d, "model.safetensors.index.json");
    char where[4096];
    snprintf(where, sizeof where, "%s", ipath);
    const cJSON *map = get(index, "weight_map");
    char qb[ESFT_QUOTE_MAX];
    if (!cJSON_IsObject(map)) st = esft_errf(err, ESFT_ERR_FORMAT, "%s: no \"weight_map\" object", where);
    if (!st) st = alloc_tensors(src, (size_t)cJSON_GetArraySize(map), err);
    for (const cJSON *e = st ? NULL : map->child; e && !st; e = e->next) {
        const char *file = json_str(e);
        esft_st_file *f;
        if (!file || !plain_file_name(file)) {
            st = esft_errf(err, ESFT_ERR_FORMAT, "%s: tensor '%s' maps to '%s', not a file name in the directory",
                           where, esft_quote(e->string, strlen(e->string), qb, sizeof qb), file ? file : "?");
            break;
        }
        if ((st = open_shard(d, fs, file, &f, err))) break;
        const esft_st_tensor *t = esft_st_find(f, e->string);
        if (!t)
            st = esft_errf(err, ESFT_ERR_FORMAT, "%s: tensor '%s' (listed in the index) is missing",
                           esft_st_path(f), esft_quote(e->string, strlen(e->string), qb, sizeof qb));
        else
            st = add_tensor(src, a, f, t, err);
    }
    /* a shard's tensor the index does not list would be silently dropped */
    for (size_t i = 0; i < fs->n_st && !st; i++)
        for (size_t k = 0; k < esft_st_n_tensors(fs->st[i]) && !st; k++) {
            const char *name = esft_st_tensor_at(fs->st[i], k)->name;
            if (!get(map, name))
                st = esft_errf(err, ESFT_ERR_FORMAT, "%s: tensor '%s' is not in model.safetensors.index.json",
                               esft_st_path(fs->st[i]), esft_quote(name, strlen(name), qb, sizeof qb));
        }
    if (!st) st = check_complete(src, a, where, err);
    cJSON_Delete(index);
    return st;
}

/* Llama 3 rope scaling as the tensor llama.cpp's converter writes for it,
 * so that a Hugging Face directory and its GGUF load the same model. */
static esft_status add_rope_freqs(esft_model_source *src, const hf_arch *a, esft_err *err) {
    if (!a->llama3.on) return ESFT_OK;
    const long n = a->head_dim / 2;
    float *f = malloc((size_t)n * sizeof *f);
    if (!f) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    llama3_freq_factors(a, f);
    src->files->rope_freqs = f;
    char (*names)[96] = src->files->gguf_names;
    esft_source_tensor *t = &src->tensors[src->n_tensors];
    snprintf(names[src->n_tensors], sizeof names[0], "rope_freqs.weight");
    *t = (esft_source_tensor){.name = names[src->n_tensors], .file = "config.json", .file_name = "rope_parameters",
                              .n_dims = 1, .ne = {(uint64_t)n, 1, 1, 1}, .n_elements = (uint64_t)n,
                              .n_bytes = (uint64_t)n * sizeof *f, .type = GGML_TYPE_F32, .data = f,
                              .in_memory = true};
    src->n_tensors++;
    return ESFT_OK;
}

/* ------------------------------------------------------------------ open */

esft_status esft_hf_open(const char *dir, esft_model_source *src, esft_err *err) {
    hf_dir d = {.dir = dir};
    src->files = calloc(1, sizeof *src->files);
    if (!src->files) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    cJSON *cfg = NULL, *tok = NULL, *tc = NULL;
    gguf_writer *w = esft_gguf_writer_new();
    hf_arch a = {0};
    esft_status st = w ? ESFT_OK : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    if (!st) st = read_json(&d, "config.json", false, &cfg, err);
    if (!st) st = read_json(&d, "tokenizer.json", false, &tok, err);
    if (!st) st = read_json(&d, "tokenizer_config.json", true, &tc, err);
    if (!st) st = read_config(&d, cfg, w, &a, err);
    if (!st) st = read_tokenizer(&d, tok, tc, cfg, &a, w, err);
    cJSON_Delete(tok);
    cJSON_Delete(tc);
    cJSON_Delete(cfg);
    if (!st) st = read_tensors(&d, src, &a, err);
    if (!st) st = add_rope_freqs(src, &a, err);
    if (!st) st = esft_gguf_writer_to_reader(w, dir, &src->meta, err);
    esft_gguf_writer_free(w);
    return st;
}
