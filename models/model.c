/* Loading a llama/qwen2/qwen3/gemma3 GGUF into f32 master weights on a
 * backend, and the packed-batch forward pass. The forward reads like the math:
 *
 *   x = embed(tokens) (· sqrt(D): gemma3)
 *   per layer:  x += [n](Wo · attn(rope([n]Wq·n(x)), rope([n]Wk·n(x)), Wv·n(x)))
 *               x += [n](Wdown · (act(Wgate·n(x)) ⊙ Wup·n(x)))
 *   logits = Wout · n(x[rows])
 * [n]: the norms some architectures add (qwen3/gemma3 per-head q/k norms,
 * gemma3 post-norms); act: silu, or tanh GELU (gemma3); gemma3's sliding
 * layers attend over a window with their own rope base. One forward, the
 * architectures are switches in esft_hparams.
 */
#include "model.h"
#include "lowrank.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esft_mem.h"
#include "noise.h"
#include "source.h"

const char *esft_arch_name(esft_arch arch) {
    switch (arch) {
    case ESFT_ARCH_LLAMA: return "llama";
    case ESFT_ARCH_QWEN2: return "qwen2";
    case ESFT_ARCH_QWEN3: return "qwen3";
    case ESFT_ARCH_GEMMA3: return "gemma3";
    }
    return "unknown";
}

size_t esft_model_n_elements(const esft_model *m) {
    size_t n = 0;
    for (int i = 0; i < m->n_params; i++) n += m->params[i].n;
    return n;
}

/* A name or value from the file, quoted for an error message (one line). */
static const char *quoted(const char *s, char buf[ESFT_QUOTE_MAX]) {
    return esft_quote(s, strlen(s), buf, ESFT_QUOTE_MAX);
}

/* ---- hyper-parameters ---- */

static esft_status need_u32(const gguf_file *f, const char *arch, const char *suffix, int *out,
                            esft_err *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v;
    if (!esft_gguf_get_u32(f, key, &v))
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: missing or invalid metadata key '%s'",
                         esft_gguf_path(f), key);
    if (v == 0 || v > (1u << 24))
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: metadata '%s' = %u is out of range",
                         esft_gguf_path(f), key, v);
    *out = (int)v;
    return ESFT_OK;
}

/* The architecture's switches (model.h) from its GGUF name. */
static bool arch_from_name(const char *name, esft_hparams *hp) {
    static const struct {
        const char *name;
        esft_arch arch;
        esft_rope_style rope;
        bool bias, qk_norm, gemma;
    } ARCHS[] = {
        /* llama: the GGUF converter permuted q/k rows for NORM rope */
        {"llama", ESFT_ARCH_LLAMA, ESFT_ROPE_NORM, false, false, false},
        {"qwen2", ESFT_ARCH_QWEN2, ESFT_ROPE_NEOX, true, false, false},
        {"qwen3", ESFT_ARCH_QWEN3, ESFT_ROPE_NEOX, false, true, false},
        {"gemma3", ESFT_ARCH_GEMMA3, ESFT_ROPE_NEOX, false, true, true},
    };
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (strcmp(name, ARCHS[i].name) == 0) {
            hp->arch = ARCHS[i].arch;
            hp->rope_style = ARCHS[i].rope;
            hp->qkv_bias = ARCHS[i].bias;
            hp->qk_norm = ARCHS[i].qk_norm;
            hp->post_norms = hp->gelu_ffn = ARCHS[i].gemma;
            return true;
        }
    return false;
}

bool esft_layer_slides(const esft_hparams *hp, int l) {
    return hp->sliding_window > 0 && (hp->swa_period <= 0 || (l + 1) % hp->swa_period != 0);
}

/* Gemma 3's sliding-window layers, attention scale and rope bases, as
 * llama.cpp reads them: every 6th layer global unless
 * gemma3.attention.sliding_window_pattern says otherwise, local rope base
 * 10000 unless gemma3.rope.freq_base_swa, scale 1/sqrt(head_dim) unless
 * gemma3.attention.scale (query_pre_attn_scalar^-0.5). */
static esft_status read_gemma3(const gguf_file *f, esft_hparams *hp, esft_err *err) {
    esft_status st = need_u32(f, "gemma3", "attention.sliding_window", &hp->sliding_window, err);
    if (st) return st;
    uint32_t v;
    hp->swa_period = esft_gguf_get_u32(f, "gemma3.attention.sliding_window_pattern", &v) ? (int)v : 6;
    if (hp->swa_period <= 0)
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: gemma3.attention.sliding_window_pattern must be positive",
                         esft_gguf_path(f));
    if (!esft_gguf_get_f32(f, "gemma3.rope.freq_base_swa", &hp->rope_base_swa)) hp->rope_base_swa = 10000.0f;
    float scale;
    if (esft_gguf_get_f32(f, "gemma3.attention.scale", &scale)) {
        if (!(scale > 0.0f) || !isfinite(scale))
            return esft_errf(err, ESFT_ERR_FORMAT, "%s: gemma3.attention.scale must be positive", esft_gguf_path(f));
        hp->attn_scale = scale;
    }
    hp->embd_scale = (float)sqrt((double)hp->n_embd);
    return ESFT_OK;
}

/* Settings esft does not implement: refused rather than silently ignored. */
static esft_status refuse_unsupported(const gguf_file *f, const char *arch, esft_err *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    const char *scaling = esft_gguf_get_str(f, key);
    if (scaling && strcmp(scaling, "none") != 0) {
        char qb[ESFT_QUOTE_MAX];
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: %s '%s' is not supported", esft_gguf_path(f), key,
                         quoted(scaling, qb));
    }
    static const char *const softcaps[] = {"final_logit_softcapping", "attn_logit_softcapping"};
    for (size_t i = 0; i < 2; i++) {
        float cap;
        snprintf(key, sizeof key, "%s.%s", arch, softcaps[i]);
        if (esft_gguf_get_f32(f, key, &cap) && cap != 0.0f)
            return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: %s (logit soft-capping) is not supported",
                             esft_gguf_path(f), key);
    }
    return ESFT_OK;
}

static esft_status read_hparams(const gguf_file *f, esft_hparams *hp, esft_err *err) {
    memset(hp, 0, sizeof *hp);
    const char *arch = esft_gguf_get_str(f, "general.architecture");
    if (!arch)
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: missing general.architecture", esft_gguf_path(f));
    if (!arch_from_name(arch, hp)) {
        char qb[ESFT_QUOTE_MAX];
        return esft_errf(err, ESFT_ERR_UNSUPPORTED,
                         "%s: unsupported architecture '%s' (esft runs llama, qwen2, qwen3 and gemma3)",
                         esft_gguf_path(f), quoted(arch, qb));
    }
    esft_status st;
    if ((st = need_u32(f, arch, "embedding_length", &hp->n_embd, err)) ||
        (st = need_u32(f, arch, "block_count", &hp->n_layer, err)) ||
        (st = need_u32(f, arch, "feed_forward_length", &hp->n_ff, err)) ||
        (st = need_u32(f, arch, "attention.head_count", &hp->n_head, err)) ||
        (st = refuse_unsupported(f, arch, err)))
        return st;
    char key[128];
    uint32_t v;
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch);
    hp->n_head_kv = esft_gguf_get_u32(f, key, &v) ? (int)v : hp->n_head;
    snprintf(key, sizeof key, "%s.context_length", arch);
    hp->n_ctx_train = esft_gguf_get_u32(f, key, &v) ? (int)v : 2048;
    snprintf(key, sizeof key, "%s.attention.key_length", arch);
    hp->head_dim = esft_gguf_get_u32(f, key, &v) ? (int)v : (hp->n_head ? hp->n_embd / hp->n_head : 0);
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    if (!esft_gguf_get_f32(f, key, &hp->rms_eps)) hp->rms_eps = 1e-5f;
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    if (!esft_gguf_get_f32(f, key, &hp->rope_base)) hp->rope_base = 10000.0f;
    snprintf(key, sizeof key, "%s.rope.dimension_count", arch);
    if (esft_gguf_get_u32(f, key, &v) && (int)v != hp->head_dim)
        return esft_errf(err, ESFT_ERR_UNSUPPORTED,
                         "%s: partial rotary embeddings (%s = %u, head_dim %d) are not supported",
                         esft_gguf_path(f), key, v, hp->head_dim);

    if (hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv)
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: %d heads is not a multiple of %d kv heads",
                         esft_gguf_path(f), hp->n_head, hp->n_head_kv);
    if (hp->head_dim <= 0 || hp->head_dim % 2 || hp->head_dim > 1024)
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: bad head dimension %d", esft_gguf_path(f),
                         hp->head_dim);
    hp->embd_scale = 1.0f;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    hp->rope_base_swa = hp->rope_base;
    if (hp->arch == ESFT_ARCH_GEMMA3 && (st = read_gemma3(f, hp, err))) return st;
    if (!(hp->rms_eps > 0.0f) || !(hp->rope_base > 0.0f) || !isfinite(hp->rms_eps) || !isfinite(hp->rope_base) ||
        !(hp->rope_base_swa > 0.0f) || !isfinite(hp->rope_base_swa))
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: bad rms epsilon or rope base", esft_gguf_path(f));
    return ESFT_OK;
}

esft_status esft_hparams_read(const gguf_file *f, esft_hparams *hp, esft_err *err) { return read_hparams(f, hp, err); }

/* ---- tensors ---- */

static esft_param *find_param(esft_model *m, const char *name) {
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0) return &m->params[i];
    return NULL;
}

/* Binds a named tensor and checks its shape: ne0 (row length) x ne1 rows;
 * ne1 == 0 means a vector. */
static esft_status bind(esft_model *m, esft_param **slot, const char *name, int64_t ne0,
                        int64_t ne1, bool optional, esft_err *err) {
    esft_param *p = find_param(m, name);
    *slot = p;
    if (!p) {
        if (optional) return ESFT_OK;
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: missing tensor '%s'", esft_gguf_path(m->gguf), name);
    }
    bool ok = ne1 == 0 ? (p->n_dims == 1 && (int64_t)p->ne[0] == ne0)
                       : (p->n_dims == 2 && (int64_t)p->ne[0] == ne0 && (int64_t)p->ne[1] == ne1);
    if (!ok)
        return esft_errf(err, ESFT_ERR_FORMAT,
                         "%s: tensor '%s' has shape [%" PRIu64 ", %" PRIu64 "], expected [%" PRId64
                         ", %" PRId64 "]",
                         esft_gguf_path(m->gguf), name, p->ne[0], p->n_dims > 1 ? p->ne[1] : 1, ne0,
                         ne1 ? ne1 : 1);
    return ESFT_OK;
}

static esft_status bind_layers(esft_model *m, esft_err *err) {
    const esft_hparams *hp = &m->hp;
    const int D = hp->n_embd, qd = hp->n_head * hp->head_dim, kvd = hp->n_head_kv * hp->head_dim;
    const bool bias = hp->qkv_bias, qk_norm = hp->qk_norm, post = hp->post_norms;
    esft_status st;
    /* rope_freqs: llama.cpp's form of Llama 3 rope scaling */
    if ((st = bind(m, &m->tok_embd, "token_embd.weight", D, hp->n_vocab, false, err)) ||
        (st = bind(m, &m->output_norm, "output_norm.weight", D, 0, false, err)) ||
        (st = bind(m, &m->output, "output.weight", D, hp->n_vocab, true, err)) ||
        (st = bind(m, &m->rope_freqs, "rope_freqs.weight", hp->head_dim / 2, 0, true, err)))
        return st;
    if (m->rope_freqs && hp->arch != ESFT_ARCH_LLAMA) m->rope_freqs = NULL; /* refused below as unused */
    hp = &m->hp;
    m->hp.tied_output = m->output == NULL;
    if (!m->output) m->output = m->tok_embd;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    for (int l = 0; l < hp->n_layer; l++) {
        esft_layer *L = &m->layers[l];
        char n[96];
#define BIND(field, suffix, ne0, ne1, opt)                                        \
    snprintf(n, sizeof n, "blk.%d.%s", l, suffix);                                \
    if ((st = bind(m, &L->field, n, ne0, ne1, opt, err))) return st;
        BIND(attn_norm, "attn_norm.weight", D, 0, false);
        BIND(wq, "attn_q.weight", D, qd, false);
        BIND(wk, "attn_k.weight", D, kvd, false);
        BIND(wv, "attn_v.weight", D, kvd, false);
        BIND(bq, "attn_q.bias", qd, 0, !bias);
        BIND(bk, "attn_k.bias", kvd, 0, !bias);
        BIND(bv, "attn_v.bias", kvd, 0, !bias);
        BIND(q_norm, "attn_q_norm.weight", hp->head_dim, 0, !qk_norm);
        BIND(k_norm, "attn_k_norm.weight", hp->head_dim, 0, !qk_norm);
        BIND(wo, "attn_output.weight", qd, D, false);
        BIND(post_attn_norm, "post_attention_norm.weight", D, 0, !post);
        BIND(ffn_norm, "ffn_norm.weight", D, 0, false);
        BIND(w_gate, "ffn_gate.weight", D, hp->n_ff, false);
        BIND(w_up, "ffn_up.weight", D, hp->n_ff, false);
        BIND(w_down, "ffn_down.weight", hp->n_ff, D, false);
        BIND(post_ffn_norm, "post_ffw_norm.weight", D, 0, !post);
        /* a tensor of another architecture is unused, refused below */
        if (!bias) L->bq = L->bk = L->bv = NULL;
        if (!qk_norm) L->q_norm = L->k_norm = NULL;
        if (!post) L->post_attn_norm = L->post_ffn_norm = NULL;
#undef BIND
    }
    /* Every tensor must be used: ES trains them all, and a tensor we do not
     * understand (e.g. rope scaling factors) would silently change the model. */
    for (int i = 0; i < m->n_params; i++) {
        const esft_param *p = &m->params[i];
        bool used = p == m->tok_embd || p == m->output_norm || p == m->output || p == m->rope_freqs;
        for (int l = 0; l < hp->n_layer && !used; l++) {
            const esft_layer *L = &m->layers[l];
            const esft_param *all[] = {L->attn_norm, L->wq,       L->wk,       L->wv,
                                       L->bq,        L->bk,       L->bv,       L->q_norm,
                                       L->k_norm,    L->wo,       L->post_attn_norm,
                                       L->ffn_norm,  L->w_gate,   L->w_up,     L->w_down,
                                       L->post_ffn_norm};
            for (size_t j = 0; j < sizeof all / sizeof all[0]; j++) used |= all[j] == p;
        }
        char qb[ESFT_QUOTE_MAX];
        if (!used)
            return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: tensor '%s' is not supported for %s",
                             esft_gguf_path(m->gguf), quoted(p->name, qb), esft_arch_name(hp->arch));
    }
    return ESFT_OK;
}

static bool is_matrix(const esft_param *p) { return p->n_dims >= 2; }

/* A tensor's working copy: matrices in the backend's work type (what its
 * matmul reads), vectors in f32. */
static esft_dtype work_dtype_of(const esft_param *p, esft_dtype backend_work) {
    return is_matrix(p) ? backend_work : ESFT_F32;
}

/* f32 values staged on the host per upload while loading (16 MB) */
#define ESFT_LOAD_STAGE_ELEMENTS ((uint64_t)1 << 22)

/* Source tensor t into dst piece by piece through *stage (stage_n floats,
 * grown only for a vector or rotary head longer than that). */
static esft_status upload_in_pieces(const esft_source_tensor *t, esft_buf *dst, float **stage, uint64_t stage_n,
                                    esft_err *err) {
    const uint64_t row = t->n_dims == 1 ? 1 : t->ne[0], rows = t->n_elements / row;
    const uint64_t chunk = esft_source_chunk_rows(t, stage_n);
    if (chunk * row > stage_n) {
        float *big = realloc(*stage, (size_t)(chunk * row) * sizeof **stage);
        if (!big) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory (%llu floats)",
                                   (unsigned long long)(chunk * row));
        *stage = big;
    }
    for (uint64_t r0 = 0; r0 < rows; r0 += chunk) {
        const uint64_t n = rows - r0 < chunk ? rows - r0 : chunk;
        esft_status st = esft_source_read_f32_rows(t, r0, n, *stage, err);
        if (st) return st;
        if ((st = esft_upload(dst, (size_t)(r0 * row), *stage, (size_t)(n * row))))
            return esft_errf(err, st, "%s", dst->be->err.msg);
    }
    return ESFT_OK;
}

static esft_status load_params(esft_model *m, const esft_model_source *src, const esft_model_options *opts,
                               esft_err *err) {
    const gguf_file *f = m->gguf;
    size_t nt = src->n_tensors;
    if (nt == 0) return esft_errf(err, ESFT_ERR_FORMAT, "%s: no tensors", esft_gguf_path(f));
    m->params = calloc(nt, sizeof *m->params);
    if (!m->params) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    m->n_params = (int)nt;
    char qa[ESFT_QUOTE_MAX], qb[ESFT_QUOTE_MAX];
    for (size_t i = 0; i < nt; i++) {
        const esft_source_tensor *ti = &src->tensors[i];
        esft_param *p = &m->params[i];
        if (strlen(ti->name) >= sizeof p->name)
            return esft_errf(err, ESFT_ERR_FORMAT, "%s: tensor name '%s' too long",
                             ti->file, quoted(ti->name, qb));
        if (!esft_ggml_type_dequantizable(ti->type))
            return esft_errf(err, ESFT_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which esft cannot dequantise",
                             ti->file, quoted(ti->file_name, qb), esft_ggml_type_name(ti->type));
        snprintf(p->name, sizeof p->name, "%s", ti->name);
        p->id = esft_tensor_id(ti->name);
        p->n_dims = ti->n_dims;
        memcpy(p->ne, ti->ne, sizeof p->ne);
        p->n = (size_t)ti->n_elements;
        p->file_type = ti->type;
        for (size_t j = 0; j < i; j++)
            if (m->params[j].id == p->id)
                return esft_errf(err, ESFT_ERR_FORMAT,
                                 "%s: tensors '%s' and '%s' share noise id 0x%08x (FNV-1a collision)",
                                 esft_gguf_path(f), quoted(m->params[j].name, qa), quoted(p->name, qb),
                                 p->id);
    }
    /* staged a piece at a time: no whole-tensor host copy (the embedding is
     * the largest, ~0.5 GB at 0.5B parameters) */
    const uint64_t stage_n = ESFT_LOAD_STAGE_ELEMENTS;
    float *host = malloc((size_t)stage_n * sizeof *host);
    if (!host) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory (%zu floats)", (size_t)stage_n);
    esft_backend *be = m->be;
    esft_status st = ESFT_OK;
    for (size_t i = 0; i < nt && st == ESFT_OK; i++) {
        const esft_source_tensor *ti = &src->tensors[i];
        esft_param *p = &m->params[i];
        if ((st = esft_buf_alloc(be, &p->master, ESFT_F32, p->n))) {
            esft_errf(err, st, "tensor '%s': %s", quoted(p->name, qb), be->err.msg);
            break;
        }
        if ((st = upload_in_pieces(ti, &p->master, &host, stage_n, err))) {
            esft_err_prefix(err, st, "%s: tensor '%s'", ti->file, quoted(ti->file_name, qb));
            break;
        }
        esft_source_release(ti);
        esft_dtype wd = work_dtype_of(p, be->work_dtype);
        if (!opts->trainable && wd == ESFT_F32) {
            p->work = p->master;
            p->work_is_master = true;
        } else if ((st = esft_buf_alloc(be, &p->work, wd, p->n)) ||
                   (st = esft_perturb(be, &p->work, &p->master, p->n, p->id, 0, 0.0f))) {
            esft_errf(err, st, "tensor '%s': %s", quoted(p->name, qb), be->err.msg);
            break;
        }
    }
    free(host);
    return st;
}

esft_status esft_model_plan_weights(const char *path, esft_dtype work_dtype, bool trainable, uint64_t *master_bytes,
                                    uint64_t *work_bytes, esft_err *err) {
    *master_bytes = *work_bytes = 0;
    esft_model_source src;
    esft_status st = esft_source_open(path, &src, err);
    if (st) return st;
    for (size_t i = 0; i < src.n_tensors; i++) {
        const esft_source_tensor *t = &src.tensors[i];
        const esft_param p = {.n_dims = t->n_dims};
        const esft_dtype wd = work_dtype_of(&p, work_dtype);
        *master_bytes += t->n_elements * sizeof(float);
        if (trainable || wd != ESFT_F32) *work_bytes += t->n_elements * esft_dtype_size(wd);
    }
    esft_source_close(&src);
    return ESFT_OK;
}

esft_status esft_model_load(const char *path, esft_backend *be, const esft_model_options *opts,
                            esft_model **out, esft_err *err) {
    *out = NULL;
    esft_model_options defaults = {0};
    if (!opts) opts = &defaults;
    esft_model *m = calloc(1, sizeof *m);
    if (!m) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    m->be = be;
    esft_model_source src;
    esft_status st = esft_source_open(path, &src, err);
    if (st) goto fail;
    /* the model keeps the metadata; the tensors are read once, below */
    m->gguf = esft_source_take_meta(&src);
    if ((st = read_hparams(m->gguf, &m->hp, err))) goto fail;
    if ((st = esft_tokenizer_from_gguf(m->gguf, &m->tok, err))) goto fail;
    m->hp.n_vocab = esft_tokenizer_n_vocab(m->tok);
    esft_mem_trace("model: source open");
    if ((st = load_params(m, &src, opts, err))) goto fail;
    esft_mem_trace("model: weights loaded");
    if ((st = bind_layers(m, err))) goto fail;
    esft_source_close(&src);
    esft_mem_trace("model: source closed");
    *out = m;
    return ESFT_OK;
fail:
    esft_source_close(&src);
    esft_model_free(m);
    return st;
}

void esft_model_free(esft_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_params; i++) {
        esft_param *p = &m->params[i];
        if (!p->work_is_master) esft_buf_free(&p->work);
        esft_buf_free(&p->master);
    }
    free(m->params);
    free(m->layers);
    esft_tokenizer_free(m->tok);
    esft_gguf_close(m->gguf);
    free(m);
}

/* ---- forward ---- */

void esft_forward_ctx_free(esft_forward_ctx *fc) {
    esft_buf *bufs[] = {&fc->x,     &fc->h,    &fc->q,    &fc->att,  &fc->k,
                        &fc->v,     &fc->gate, &fc->up,   &fc->tokens, &fc->seq,
                        &fc->pos,   &fc->rows, &fc->sel,  &fc->logits, &fc->argmax};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) esft_buf_free(bufs[i]);
    if (fc->m) {
        for (int l = 0; l < fc->m->hp.n_layer; l++) {
            if (fc->kcache) esft_buf_free(&fc->kcache[l]);
            if (fc->vcache) esft_buf_free(&fc->vcache[l]);
        }
    }
    free(fc->kcache);
    free(fc->vcache);
    esft_buf_free(&fc->lr_member), esft_buf_free(&fc->lr_scale);
    esft_buf_free(&fc->lr_row_member), esft_buf_free(&fc->lr_row_scale);
    memset(fc, 0, sizeof *fc);
}

esft_status esft_forward_ctx_set_lowrank(esft_forward_ctx *fc, const esft_lowrank *lr, const int32_t *slot_member,
                                         esft_err *err) {
    esft_backend *be = fc->m->be;
    esft_status st = ESFT_OK;
    if (!fc->lr_member.handle) {
        st = esft_buf_alloc(be, &fc->lr_member, ESFT_I32, (size_t)fc->max_tokens);
        if (!st) st = esft_buf_alloc(be, &fc->lr_scale, ESFT_F32, (size_t)fc->max_tokens);
        if (!st) st = esft_buf_alloc(be, &fc->lr_row_member, ESFT_I32, (size_t)fc->max_rows);
        if (!st) st = esft_buf_alloc(be, &fc->lr_row_scale, ESFT_F32, (size_t)fc->max_rows);
    }
    if (st) return esft_errf(err, st, "forward: low-rank buffers: %s", be->err.msg);
    fc->lr = lr;
    fc->slot_member = slot_member;
    return ESFT_OK;
}

/* Factor set and scale of the member of each token i < n whose slot is
 * seq[pick[i]] (pick NULL: i itself), uploaded into member and scale. */
static esft_status lowrank_upload_members(const esft_forward_ctx *fc, const int32_t *seq, const int32_t *pick, int n,
                                          esft_buf *member, esft_buf *scale, esft_err *err) {
    const esft_lowrank *lr = fc->lr;
    int32_t *f = malloc((size_t)n * sizeof *f);
    float *s = malloc((size_t)n * sizeof *s);
    esft_status st = f && s ? ESFT_OK : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < n && !st; i++) {
        const int32_t j = fc->slot_member[seq[pick ? pick[i] : i]];
        if (j < 0 || j >= lr->n_members) {
            st = esft_errf(err, ESFT_ERR_INVALID_ARG, "forward: slot of token %d has no low-rank member", i);
            break;
        }
        f[i] = lr->member_factor[j];
        s[i] = lr->member_scale[j];
    }
    if (!st && (esft_upload(member, 0, f, (size_t)n) || esft_upload(scale, 0, s, (size_t)n)))
        st = esft_errf(err, ESFT_ERR_DEVICE, "forward: %s", fc->m->be->err.msg);
    free(f), free(s);
    return st;
}

/* y[T x N] += each token's member correction of matrix p (x: [T x K]), when
 * low-rank members are on and p is one of their matrices. */
static esft_status lowrank_correct(const esft_forward_ctx *fc, const esft_param *p, esft_buf *y, const esft_buf *x,
                                   bool rows, int T, int N, int K) {
    const esft_lowrank *lr = fc->lr;
    const int i = (int)(p - fc->m->params);
    if (!lr || !lr->active[i]) return ESFT_OK;
    return esft_lowrank_matmul(fc->m->be, y, x, &lr->a[i], &lr->b[i], rows ? &fc->lr_row_member : &fc->lr_member,
                               rows ? &fc->lr_row_scale : &fc->lr_scale, T, N, K, lr->rank, lr->n_factors);
}

/* The activation buffers of a forward context: one list for allocating
 * them and for planning their size. fc's sizes are set (max_tokens,
 * max_rows); the buffers are not. */
typedef struct forward_buf {
    esft_buf *b;
    esft_dtype t;
    size_t n;
} forward_buf;
#define FORWARD_N_BUFS 15

static void forward_plan(esft_forward_ctx *fc, const esft_hparams *hp, forward_buf plan[FORWARD_N_BUFS]) {
    const size_t T = (size_t)fc->max_tokens, D = (size_t)hp->n_embd, R = (size_t)fc->max_rows;
    const size_t qd = (size_t)hp->n_head * hp->head_dim, kvd = (size_t)hp->n_head_kv * hp->head_dim;
    const forward_buf all[FORWARD_N_BUFS] = {
        {&fc->x, ESFT_F32, T * D},          {&fc->h, ESFT_F32, T * D},
        {&fc->q, ESFT_F32, T * qd},         {&fc->att, ESFT_F32, T * qd},
        {&fc->k, ESFT_F32, T * kvd},        {&fc->v, ESFT_F32, T * kvd},
        {&fc->gate, ESFT_F32, T * hp->n_ff}, {&fc->up, ESFT_F32, T * hp->n_ff},
        {&fc->tokens, ESFT_I32, T},         {&fc->seq, ESFT_I32, T},
        {&fc->pos, ESFT_I32, T},            {&fc->rows, ESFT_I32, R},
        {&fc->sel, ESFT_F32, R * D},        {&fc->logits, ESFT_F32, R * hp->n_vocab},
        {&fc->argmax, ESFT_I32, R},
    };
    memcpy(plan, all, sizeof all);
}

/* One layer's K (or V) cache: every slot's whole context. */
static size_t kv_cache_elements(const esft_hparams *hp, int n_slots, int max_ctx) {
    return (size_t)n_slots * (size_t)max_ctx * (size_t)hp->n_head_kv * (size_t)hp->head_dim;
}

static int default_max_rows(int max_rows, int max_tokens, int n_slots) {
    int r = max_rows > 0 ? max_rows : (max_tokens < n_slots ? max_tokens : n_slots);
    return r > max_tokens ? max_tokens : r;
}

void esft_forward_ctx_bytes(const esft_hparams *hp, int max_tokens, int max_rows, int n_slots, int max_ctx,
                            uint64_t *kv_bytes, uint64_t *scratch_bytes) {
    esft_forward_ctx fc = {.max_tokens = max_tokens, .max_rows = default_max_rows(max_rows, max_tokens, n_slots)};
    forward_buf plan[FORWARD_N_BUFS];
    forward_plan(&fc, hp, plan);
    *scratch_bytes = 0;
    for (size_t i = 0; i < FORWARD_N_BUFS; i++) *scratch_bytes += (uint64_t)plan[i].n * esft_dtype_size(plan[i].t);
    *kv_bytes = 2u * (uint64_t)hp->n_layer * kv_cache_elements(hp, n_slots, max_ctx) * sizeof(float);
}

esft_status esft_forward_ctx_init(esft_forward_ctx *fc, const esft_model *m, int max_tokens,
                                  int max_rows, int n_slots, int max_ctx, esft_err *err) {
    memset(fc, 0, sizeof *fc);
    if (max_tokens <= 0 || n_slots <= 0 || max_ctx <= 0)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "forward: empty batch or context");
    fc->m = m;
    fc->max_tokens = max_tokens;
    fc->n_slots = n_slots;
    fc->max_ctx = max_ctx;
    fc->max_rows = default_max_rows(max_rows, max_tokens, n_slots);
    esft_backend *be = m->be;
    forward_buf plan[FORWARD_N_BUFS];
    forward_plan(fc, &m->hp, plan);
    esft_status st = ESFT_OK;
    for (size_t i = 0; i < FORWARD_N_BUFS && !st; i++) st = esft_buf_alloc(be, plan[i].b, plan[i].t, plan[i].n);
    const esft_hparams *hp = &m->hp;
    if (!st) {
        fc->kcache = calloc((size_t)hp->n_layer, sizeof *fc->kcache);
        fc->vcache = calloc((size_t)hp->n_layer, sizeof *fc->vcache);
        if (!fc->kcache || !fc->vcache) st = ESFT_ERR_OUT_OF_MEMORY;
    }
    const size_t cache_n = kv_cache_elements(hp, n_slots, max_ctx);
    for (int l = 0; l < hp->n_layer && !st; l++) {
        st = esft_buf_alloc(be, &fc->kcache[l], ESFT_F32, cache_n);
        if (!st) st = esft_buf_alloc(be, &fc->vcache[l], ESFT_F32, cache_n);
    }
    if (st) {
        esft_errf(err, st, "allocating forward buffers (%d tokens, %d x %d context): %s", max_tokens,
                  n_slots, max_ctx, st == ESFT_ERR_OUT_OF_MEMORY ? "out of memory" : be->err.msg);
        esft_forward_ctx_free(fc);
    }
    return st;
}

esft_status esft_forward_ctx_copy_kv(esft_forward_ctx *fc, int dst, int src, int n_pos, esft_err *err) {
    if (dst < 0 || dst >= fc->n_slots || src < 0 || src >= fc->n_slots || n_pos < 0 || n_pos > fc->max_ctx)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "copy kv: slot %d to %d, %d positions (%d slots of %d)", src,
                         dst, n_pos, fc->n_slots, fc->max_ctx);
    const esft_hparams *hp = &fc->m->hp;
    const size_t row = (size_t)hp->n_head_kv * hp->head_dim, slot = (size_t)fc->max_ctx * row;
    const size_t n = (size_t)n_pos * row;
    for (int l = 0; l < hp->n_layer; l++) {
        esft_status st = esft_copy(&fc->kcache[l], (size_t)dst * slot, &fc->kcache[l], (size_t)src * slot, n);
        if (!st) st = esft_copy(&fc->vcache[l], (size_t)dst * slot, &fc->vcache[l], (size_t)src * slot, n);
        if (st) return esft_errf(err, st, "copy kv: %s", fc->m->be->err.msg);
    }
    return ESFT_OK;
}

esft_status esft_forward(esft_forward_ctx *fc, const int32_t *tokens, const int32_t *seq,
                         const int32_t *pos, int n, const int32_t *rows, int n_rows,
                         esft_err *err) {
    const esft_model *m = fc->m;
    const esft_hparams *hp = &m->hp;
    esft_backend *be = m->be;
    if (n <= 0 || n > fc->max_tokens || n_rows < 0 || n_rows > n || n_rows > fc->max_rows)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "forward: %d tokens, %d rows (capacity %d)", n,
                         n_rows, fc->max_tokens);
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab || seq[i] < 0 || seq[i] >= fc->n_slots ||
            pos[i] < 0 || pos[i] >= fc->max_ctx)
            return esft_errf(err, ESFT_ERR_INVALID_ARG,
                             "forward: token %d (id %d, slot %d, pos %d) out of range", i, tokens[i],
                             seq[i], pos[i]);
    }
    for (int r = 0; r < n_rows; r++)
        if (rows[r] < 0 || rows[r] >= n)
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "forward: logit row %d out of range", rows[r]);

    const int D = hp->n_embd, H = hp->n_head, KVH = hp->n_head_kv, hd = hp->head_dim;
    const int FF = hp->n_ff, qd = H * hd, kvd = KVH * hd;
    esft_status st;
#define TRY(call)                                                        \
    do {                                                                 \
        if ((st = (call)) != ESFT_OK) goto fail;                         \
    } while (0)
    TRY(esft_upload(&fc->tokens, 0, tokens, (size_t)n));
    TRY(esft_upload(&fc->seq, 0, seq, (size_t)n));
    TRY(esft_upload(&fc->pos, 0, pos, (size_t)n));
    TRY(esft_get_rows(be, &fc->x, &m->tok_embd->work, &fc->tokens, n, D));
    const esft_lowrank *lr = fc->lr;
    const int embd_i = (int)(m->tok_embd - m->params);
    if (lr) {
        if ((st = lowrank_upload_members(fc, seq, NULL, n, &fc->lr_member, &fc->lr_scale, err))) return st;
        if (lr->active[embd_i])
            TRY(esft_lowrank_rows(be, &fc->x, &lr->a[embd_i], &lr->b[embd_i], &fc->tokens, &fc->lr_member,
                                  &fc->lr_scale, n, D, hp->n_vocab, lr->rank, lr->n_factors));
    }
    /* after the low-rank rows: the scale multiplies the perturbed embedding */
    if (hp->embd_scale != 1.0f) TRY(esft_scale(be, &fc->x, (size_t)n * D, hp->embd_scale));
    const esft_buf *freqs = m->rope_freqs ? &m->rope_freqs->work : NULL;
    for (int l = 0; l < hp->n_layer; l++) {
        const esft_layer *L = &m->layers[l];
        const bool slides = esft_layer_slides(hp, l);
        const float base = slides ? hp->rope_base_swa : hp->rope_base;
        /* attention block */
        TRY(esft_rmsnorm(be, &fc->h, &fc->x, &L->attn_norm->work, n, D, hp->rms_eps));
        TRY(esft_matmul(be, &fc->q, &fc->h, &L->wq->work, L->bq ? &L->bq->work : NULL, n, qd, D));
        TRY(lowrank_correct(fc, L->wq, &fc->q, &fc->h, false, n, qd, D));
        TRY(esft_matmul(be, &fc->k, &fc->h, &L->wk->work, L->bk ? &L->bk->work : NULL, n, kvd, D));
        TRY(lowrank_correct(fc, L->wk, &fc->k, &fc->h, false, n, kvd, D));
        TRY(esft_matmul(be, &fc->v, &fc->h, &L->wv->work, L->bv ? &L->bv->work : NULL, n, kvd, D));
        TRY(lowrank_correct(fc, L->wv, &fc->v, &fc->h, false, n, kvd, D));
        if (L->q_norm) { /* each head's q and k normalised: rows of hd */
            TRY(esft_rmsnorm(be, &fc->q, &fc->q, &L->q_norm->work, n * H, hd, hp->rms_eps));
            TRY(esft_rmsnorm(be, &fc->k, &fc->k, &L->k_norm->work, n * KVH, hd, hp->rms_eps));
        }
        TRY(esft_rope(be, &fc->q, &fc->pos, n, H, hd, base, freqs, hp->rope_style));
        TRY(esft_rope(be, &fc->k, &fc->pos, n, KVH, hd, base, freqs, hp->rope_style));
        TRY(esft_attention(be, &fc->att, &fc->q, &fc->k, &fc->v, &fc->kcache[l], &fc->vcache[l],
                           &fc->seq, &fc->pos, n, H, KVH, hd, fc->max_ctx, slides ? hp->sliding_window : 0,
                           hp->attn_scale));
        TRY(esft_matmul(be, &fc->h, &fc->att, &L->wo->work, NULL, n, D, qd));
        TRY(lowrank_correct(fc, L->wo, &fc->h, &fc->att, false, n, D, qd));
        if (L->post_attn_norm) TRY(esft_rmsnorm(be, &fc->h, &fc->h, &L->post_attn_norm->work, n, D, hp->rms_eps));
        TRY(esft_add(be, &fc->x, &fc->x, &fc->h, (size_t)n * D));
        /* feed-forward block */
        TRY(esft_rmsnorm(be, &fc->h, &fc->x, &L->ffn_norm->work, n, D, hp->rms_eps));
        TRY(esft_matmul(be, &fc->gate, &fc->h, &L->w_gate->work, NULL, n, FF, D));
        TRY(lowrank_correct(fc, L->w_gate, &fc->gate, &fc->h, false, n, FF, D));
        TRY(esft_matmul(be, &fc->up, &fc->h, &L->w_up->work, NULL, n, FF, D));
        TRY(lowrank_correct(fc, L->w_up, &fc->up, &fc->h, false, n, FF, D));
        if (hp->gelu_ffn)
            TRY(esft_geglu(be, &fc->gate, &fc->gate, &fc->up, (size_t)n * FF));
        else
            TRY(esft_swiglu(be, &fc->gate, &fc->gate, &fc->up, (size_t)n * FF));
        TRY(esft_matmul(be, &fc->h, &fc->gate, &L->w_down->work, NULL, n, D, FF));
        TRY(lowrank_correct(fc, L->w_down, &fc->h, &fc->gate, false, n, D, FF));
        if (L->post_ffn_norm) TRY(esft_rmsnorm(be, &fc->h, &fc->h, &L->post_ffn_norm->work, n, D, hp->rms_eps));
        TRY(esft_add(be, &fc->x, &fc->x, &fc->h, (size_t)n * D));
    }
    if (n_rows > 0) {
        /* LM head only where a token is sampled. */
        TRY(esft_upload(&fc->rows, 0, rows, (size_t)n_rows));
        TRY(esft_get_rows(be, &fc->sel, &fc->x, &fc->rows, n_rows, D));
        TRY(esft_rmsnorm(be, &fc->sel, &fc->sel, &m->output_norm->work, n_rows, D, hp->rms_eps));
        TRY(esft_matmul(be, &fc->logits, &fc->sel, &m->output->work, NULL, n_rows, hp->n_vocab, D));
        if (lr) {
            if ((st = lowrank_upload_members(fc, seq, rows, n_rows, &fc->lr_row_member, &fc->lr_row_scale, err)))
                return st;
            TRY(lowrank_correct(fc, m->output, &fc->logits, &fc->sel, true, n_rows, hp->n_vocab, D));
        }
    }
#undef TRY
    return ESFT_OK;
fail:
    return esft_errf(err, st, "forward: %s", be->err.msg);
}
