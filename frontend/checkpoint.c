#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t esft_model_fingerprint(const gguf_file *f) {
    uint64_t h = 0xcbf29ce484222325ull;
#define MIX(ptr, len)                                                            \
    do {                                                                         \
        const unsigned char *p_ = (const unsigned char *)(ptr);                  \
        for (size_t i_ = 0; i_ < (size_t)(len); i_++) h = (h ^ p_[i_]) * 0x100000001b3ull; \
    } while (0)
    for (size_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor_info *t = gguf_tensor_at(f, i);
        MIX(t->name, strlen(t->name) + 1);
        uint32_t type = (uint32_t)t->type;
        MIX(&type, sizeof type);
        MIX(t->ne, sizeof t->ne);
        MIX(t->data, t->n_bytes);
    }
#undef MIX
    return h;
}

esft_status esft_checkpoint_write(const esft_model *m, const esft_ckpt_info *info,
                                  const char *path, esft_err *err) {
    gguf_writer *w = gguf_writer_new();
    if (!w) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    size_t total = esft_model_n_elements(m);
    float *host = malloc(total * sizeof *host);
    esft_status st = host ? ESFT_OK : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY,
                                                 "checkpoint: out of memory (%zu floats)", total);
    if (!st) st = gguf_writer_copy_kvs(w, m->gguf, err);
    const esft_run_config *c = &info->cfg;
    if (!st) st = gguf_writer_set_u32(w, "general.file_type", 0, err); /* all f32 */
    if (!st) st = gguf_writer_set_u32(w, "esft.iteration", (uint32_t)info->iteration, err);
    if (!st) st = gguf_writer_set_u32(w, "esft.iters_total", (uint32_t)info->iters_total, err);
    if (!st) st = gguf_writer_set_u64(w, "esft.run_seed", c->run_seed, err);
    if (!st) st = gguf_writer_set_u32(w, "esft.population", (uint32_t)c->pop, err);
    if (!st) st = gguf_writer_set_f32(w, "esft.sigma", c->sigma, err);
    if (!st) st = gguf_writer_set_f32(w, "esft.alpha", c->alpha, err);
    if (!st) st = gguf_writer_set_u32(w, "esft.batch", (uint32_t)c->batch, err);
    if (!st) st = gguf_writer_set_u32(w, "esft.max_new", (uint32_t)c->max_new, err);
    if (!st) st = gguf_writer_set_str(w, "esft.task", c->task, err);
    if (!st) st = gguf_writer_set_str(w, "esft.shaping", esft_shaping_name(c->shaping), err);
    if (!st) st = gguf_writer_set_bool(w, "esft.antithetic", c->antithetic, err);
    if (!st) st = gguf_writer_set_str(w, "esft.params", c->params, err);
    if (!st) st = gguf_writer_set_f32(w, "esft.weight_decay", c->weight_decay, err);
    if (!st) st = gguf_writer_set_bool(w, "esft.chat", c->chat, err);
    if (!st) st = gguf_writer_set_u64(w, "esft.base.fingerprint", info->base_fingerprint, err);
    if (!st) st = gguf_writer_set_str(w, "esft.base.path", info->base_path, err);
    size_t off = 0;
    for (int i = 0; i < m->n_params && !st; i++) {
        const esft_param *p = &m->params[i];
        if ((st = esft_download(&p->master, 0, host + off, p->n))) {
            esft_errf(err, st, "checkpoint: tensor '%s': %s", p->name, m->be->err.msg);
            break;
        }
        st = gguf_writer_add_tensor(w, p->name, GGML_TYPE_F32, p->n_dims, p->ne, host + off, true,
                                    err);
        off += p->n;
    }
    if (!st) st = gguf_writer_write(w, path, err);
    gguf_writer_free(w);
    free(host);
    return st;
}

esft_status esft_checkpoint_read_info(const gguf_file *f, esft_ckpt_info *info, esft_err *err) {
    memset(info, 0, sizeof *info);
    esft_run_config *c = &info->cfg;
    uint32_t u;
    const char *task = gguf_get_str(f, "esft.task");
    const char *shaping = gguf_get_str(f, "esft.shaping");
    const char *params = gguf_get_str(f, "esft.params");
    const char *base = gguf_get_str(f, "esft.base.path");
    bool ok = gguf_get_u32(f, "esft.iteration", &u);
    info->iteration = (int)u;
    ok = ok && gguf_get_u32(f, "esft.iters_total", &u);
    info->iters_total = (int)u;
    ok = ok && gguf_get_u64(f, "esft.run_seed", &c->run_seed);
    ok = ok && gguf_get_u32(f, "esft.population", &u);
    c->pop = (int)u;
    ok = ok && gguf_get_f32(f, "esft.sigma", &c->sigma) && gguf_get_f32(f, "esft.alpha", &c->alpha);
    ok = ok && gguf_get_u32(f, "esft.batch", &u);
    c->batch = (int)u;
    ok = ok && gguf_get_u32(f, "esft.max_new", &u);
    c->max_new = (int)u;
    ok = ok && gguf_get_bool(f, "esft.antithetic", &c->antithetic);
    ok = ok && gguf_get_f32(f, "esft.weight_decay", &c->weight_decay);
    ok = ok && gguf_get_bool(f, "esft.chat", &c->chat);
    ok = ok && gguf_get_u64(f, "esft.base.fingerprint", &info->base_fingerprint);
    ok = ok && task && shaping && params && base && esft_shaping_from_name(shaping, &c->shaping);
    if (!ok)
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: not an esft checkpoint (esft.* keys missing or invalid)",
                         gguf_path(f));
    snprintf(c->task, sizeof c->task, "%s", task);
    snprintf(c->params, sizeof c->params, "%s", params);
    snprintf(info->base_path, sizeof info->base_path, "%s", base);
    return ESFT_OK;
}
