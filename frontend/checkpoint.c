#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esft_hash.h"
#include "source.h"

uint64_t esft_model_fingerprint(const gguf_file *f) {
    uint64_t h = ESFT_FNV1A64_INIT;
    for (size_t i = 0; i < esft_gguf_n_tensors(f); i++) {
        const gguf_tensor_info *t = esft_gguf_tensor_at(f, i);
        h = esft_tensor_fingerprint(h, t->name, t->type, t->ne, t->data, t->n_bytes);
    }
    return h;
}

static const ggml_type k_save_dtypes[] = {GGML_TYPE_F32, GGML_TYPE_BF16, GGML_TYPE_F16, GGML_TYPE_Q8_0};

bool esft_save_dtype_from_name(const char *name, ggml_type *out) {
    ggml_type t;
    if (!name || !esft_ggml_type_from_name(name, &t)) return false;
    for (size_t i = 0; i < sizeof k_save_dtypes / sizeof k_save_dtypes[0]; i++) {
        if (k_save_dtypes[i] != t) continue;
        *out = t;
        return true;
    }
    return false;
}

ggml_type esft_save_tensor_type(ggml_type dtype, uint32_t n_dims, uint64_t row_len) {
    if (n_dims < 2) return GGML_TYPE_F32;
    if (row_len % esft_ggml_block_elems(dtype) != 0) return GGML_TYPE_F16;
    return dtype;
}

uint32_t esft_save_file_type(ggml_type dtype) {
    switch (dtype) {
    case GGML_TYPE_F16: return 1;
    case GGML_TYPE_Q8_0: return 7;
    case GGML_TYPE_BF16: return 32;
    default: return 0;
    }
}

/* One tensor being written: rows of its f32 master, downloaded a piece at a
 * time and converted into the file's type. */
typedef struct save_tensor {
    const esft_param *p;
    ggml_type type;
    float **scratch; /* shared f32 staging for converted types */
    size_t *scratch_n;
} save_tensor;

static esft_status save_rows(void *user, uint64_t row0, uint64_t n_rows, void *dst, esft_err *err) {
    const save_tensor *s = user;
    const esft_param *p = s->p;
    const size_t n = (size_t)(n_rows * p->ne[0]);
    float *x = dst; /* f32 is downloaded straight into the writer's buffer */
    if (s->type != GGML_TYPE_F32) {
        if (n > *s->scratch_n) {
            float *grown = realloc(*s->scratch, n * sizeof *grown);
            if (!grown) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tensor '%s': out of memory", p->name);
            *s->scratch = grown;
            *s->scratch_n = n;
        }
        x = *s->scratch;
    }
    if (esft_download(&p->master, (size_t)(row0 * p->ne[0]), x, n))
        return esft_errf(err, ESFT_ERR_DEVICE, "tensor '%s': %s", p->name, p->master.be->err.msg);
    esft_status st = s->type == GGML_TYPE_F32 ? ESFT_OK : esft_ggml_quantize(s->type, x, dst, n, err);
    return st ? esft_err_prefix(err, st, "tensor '%s'", p->name) : ESFT_OK;
}

static esft_status set_info_keys(gguf_writer *w, const esft_ckpt_info *info, esft_err *err) {
    const esft_run_config *c = &info->cfg;
    esft_status st = ESFT_OK;
    if (!st) st = esft_gguf_writer_set_u32(w, "esft.iteration", (uint32_t)info->iteration, err);
    if (!st) st = esft_gguf_writer_set_u32(w, "esft.iters_total", (uint32_t)info->iters_total, err);
    if (!st) st = esft_gguf_writer_set_u64(w, "esft.run_seed", c->run_seed, err);
    if (!st) st = esft_gguf_writer_set_u32(w, "esft.population", (uint32_t)c->pop, err);
    if (!st) st = esft_gguf_writer_set_f32(w, "esft.sigma", c->sigma, err);
    if (!st) st = esft_gguf_writer_set_f32(w, "esft.alpha", c->alpha, err);
    if (!st) st = esft_gguf_writer_set_u32(w, "esft.batch", (uint32_t)c->batch, err);
    if (!st) st = esft_gguf_writer_set_u32(w, "esft.max_new", (uint32_t)c->max_new, err);
    if (!st) st = esft_gguf_writer_set_str(w, "esft.task", c->task, err);
    if (!st) st = esft_gguf_writer_set_str(w, "esft.reward", c->reward, err);
    if (!st) st = esft_gguf_writer_set_str(w, "esft.reward_arg", c->reward_arg, err);
    if (!st) st = esft_gguf_writer_set_f32(w, "esft.eval_split", c->eval_split, err);
    if (!st) st = esft_gguf_writer_set_str(w, "esft.reward_cmd", c->reward_cmd, err);
    if (!st) st = esft_gguf_writer_set_f32(w, "esft.reward_timeout", c->reward_timeout, err);
    if (!st) st = esft_gguf_writer_set_f32(w, "esft.reward_timeout_score", c->reward_timeout_score, err);
    if (!st) st = esft_gguf_writer_set_str(w, "esft.shaping", esft_shaping_name(c->shaping), err);
    if (!st) st = esft_gguf_writer_set_bool(w, "esft.antithetic", c->antithetic, err);
    if (!st) st = esft_gguf_writer_set_str(w, "esft.params", c->params, err);
    if (!st) st = esft_gguf_writer_set_f32(w, "esft.weight_decay", c->weight_decay, err);
    if (!st) st = esft_opt_config_write_keys(w, &c->opt, err);
    if (!st) st = esft_gguf_writer_set_bool(w, "esft.chat", c->chat, err);
    if (!st) st = esft_gguf_writer_set_str(w, "esft.noise", esft_noise_mode_name(esft_noise_mode_of(c)), err);
    if (!st) st = esft_gguf_writer_set_u32(w, "esft.rank", (uint32_t)c->rank, err);
    if (!st && c->chat) st = esft_gguf_writer_set_str(w, "esft.chat_template", c->chat_template, err);
    if (!st && c->chat) st = esft_gguf_writer_set_str(w, "esft.system", c->system, err);
    if (!st) st = esft_gguf_writer_set_u64(w, "esft.base.fingerprint", info->base_fingerprint, err);
    if (!st) st = esft_gguf_writer_set_str(w, "esft.base.path", info->base_path, err);
    if (!st && info->metrics_line) st = esft_gguf_writer_set_str(w, "esft.metrics_line", info->metrics_line, err);
    return st;
}

esft_status esft_save_model_keys(gguf_writer *w, const gguf_file *meta, ggml_type dtype, esft_err *err) {
    esft_status st = esft_gguf_writer_copy_kvs(w, meta, err);
    /* a model loaded from a checkpoint carries the run's keys: a checkpoint
     * sets them anew, an exported model has none */
    if (!st) esft_gguf_writer_remove_prefix(w, "esft.");
    if (!st) st = esft_gguf_writer_set_u32(w, "general.file_type", esft_save_file_type(dtype), err);
    /* ggml's GGML_QNT_VERSION, which llama.cpp's quantizer and gguf-py write too */
    if (!st) st = esft_gguf_writer_set_u32(w, "general.quantization_version", 2, err);
    return st;
}

esft_status esft_checkpoint_write(const esft_model *m, const esft_ckpt_info *info, ggml_type dtype,
                                  const char *path, esft_err *err) {
    uint32_t ftype = esft_save_file_type(dtype);
    if (ftype == 0 && dtype != GGML_TYPE_F32)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "%s: cannot save a model as %s", path, esft_ggml_type_name(dtype));
    gguf_writer *w = esft_gguf_writer_new();
    save_tensor *items = calloc((size_t)m->n_params, sizeof *items);
    float *scratch = NULL;
    size_t scratch_n = 0;
    esft_status st = w && items ? ESFT_OK : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    if (!st) st = esft_save_model_keys(w, m->gguf, dtype, err);
    if (!st) st = set_info_keys(w, info, err);
    for (int i = 0; i < m->n_params && !st; i++) {
        const esft_param *p = &m->params[i];
        items[i] = (save_tensor){.p = p, .type = esft_save_tensor_type(dtype, p->n_dims, p->ne[0]),
                                 .scratch = &scratch, .scratch_n = &scratch_n};
        st = esft_gguf_writer_add_tensor_rows(w, p->name, items[i].type, p->n_dims, p->ne, save_rows, &items[i], err);
    }
    if (!st) st = esft_gguf_writer_write(w, path, err);
    esft_gguf_writer_free(w);
    free(items);
    free(scratch);
    return st;
}

void esft_run_config_chat_keys(esft_run_config *c, const char *chat_template, const char *system) {
    c->chat_template[0] = c->system[0] = '\0';
    if (!c->chat) return;
    /* runs from before chat templates were recorded used ChatML */
    snprintf(c->chat_template, sizeof c->chat_template, "%s", chat_template ? chat_template : "chatml");
    snprintf(c->system, sizeof c->system, "%s", system ? system : "");
}

esft_status esft_checkpoint_read_info(const gguf_file *f, esft_ckpt_info *info, esft_err *err) {
    memset(info, 0, sizeof *info);
    esft_run_config *c = &info->cfg;
    uint32_t u;
    const char *task = esft_gguf_get_str(f, "esft.task");
    const char *shaping = esft_gguf_get_str(f, "esft.shaping");
    const char *params = esft_gguf_get_str(f, "esft.params");
    const char *base = esft_gguf_get_str(f, "esft.base.path");
    bool ok = esft_gguf_get_u32(f, "esft.iteration", &u);
    info->iteration = (int)u;
    ok = ok && esft_gguf_get_u32(f, "esft.iters_total", &u);
    info->iters_total = (int)u;
    ok = ok && esft_gguf_get_u64(f, "esft.run_seed", &c->run_seed);
    ok = ok && esft_gguf_get_u32(f, "esft.population", &u);
    c->pop = (int)u;
    ok = ok && esft_gguf_get_f32(f, "esft.sigma", &c->sigma) && esft_gguf_get_f32(f, "esft.alpha", &c->alpha);
    ok = ok && esft_gguf_get_u32(f, "esft.batch", &u);
    c->batch = (int)u;
    ok = ok && esft_gguf_get_u32(f, "esft.max_new", &u);
    c->max_new = (int)u;
    ok = ok && esft_gguf_get_bool(f, "esft.antithetic", &c->antithetic);
    ok = ok && esft_gguf_get_f32(f, "esft.weight_decay", &c->weight_decay);
    ok = ok && esft_gguf_get_bool(f, "esft.chat", &c->chat);
    ok = ok && esft_gguf_get_u64(f, "esft.base.fingerprint", &info->base_fingerprint);
    ok = ok && task && shaping && params && base && esft_shaping_from_name(shaping, &c->shaping);
    info->metrics_line = esft_gguf_get_str(f, "esft.metrics_line");
    ok = ok && esft_opt_config_read_keys(f, &c->opt);
    /* absent in checkpoints of built-in tasks written before data sets */
    const char *reward = esft_gguf_get_str(f, "esft.reward"), *reward_arg = esft_gguf_get_str(f, "esft.reward_arg");
    if (!esft_gguf_get_f32(f, "esft.eval_split", &c->eval_split)) c->eval_split = 0;
    snprintf(c->reward, sizeof c->reward, "%s", reward ? reward : "");
    snprintf(c->reward_arg, sizeof c->reward_arg, "%s", reward_arg ? reward_arg : "");
    /* absent in checkpoints written before reward commands */
    const char *reward_cmd = esft_gguf_get_str(f, "esft.reward_cmd");
    snprintf(c->reward_cmd, sizeof c->reward_cmd, "%s", reward_cmd ? reward_cmd : "");
    if (!esft_gguf_get_f32(f, "esft.reward_timeout", &c->reward_timeout)) c->reward_timeout = 0;
    /* absent in checkpoints written before low-rank members: full mode */
    const char *noise = esft_gguf_get_str(f, "esft.noise");
    c->noise = ESFT_NOISE_FULL;
    if (noise && !esft_noise_mode_from_name(noise, &c->noise)) ok = false;
    c->rank = esft_gguf_get_u32(f, "esft.rank", &u) && c->noise == ESFT_NOISE_LOWRANK ? (int)u : 0;
    if (c->noise == ESFT_NOISE_LOWRANK && (c->rank < 1 || c->rank > ESFT_LOWRANK_MAX_RANK)) ok = false;
    if (!esft_gguf_get_f32(f, "esft.reward_timeout_score", &c->reward_timeout_score)) c->reward_timeout_score = 0;
    if (!ok)
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: not an esft checkpoint (esft.* keys missing or invalid)",
                         esft_gguf_path(f));
    snprintf(c->task, sizeof c->task, "%s", task);
    snprintf(c->params, sizeof c->params, "%s", params);
    snprintf(info->base_path, sizeof info->base_path, "%s", base);
    esft_run_config_chat_keys(c, esft_gguf_get_str(f, "esft.chat_template"), esft_gguf_get_str(f, "esft.system"));
    return ESFT_OK;
}
