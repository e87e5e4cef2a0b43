#include "optimizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "run_dir.h"

static const char *const names[ESFT_OPTIMIZER_COUNT] = {"sgd", "momentum", "adam", "adamw"};

const char *esft_optimizer_name(esft_optimizer o) {
    return o >= 0 && o < ESFT_OPTIMIZER_COUNT ? names[o] : "unknown";
}

bool esft_optimizer_from_name(const char *name, esft_optimizer *out) {
    for (int i = 0; i < ESFT_OPTIMIZER_COUNT; i++)
        if (!strcmp(name, names[i])) {
            *out = (esft_optimizer)i;
            return true;
        }
    return false;
}

void esft_opt_config_unset(esft_opt_config *c) {
    *c = (esft_opt_config){.kind = ESFT_OPTIMIZER_COUNT, .beta1 = NAN, .beta2 = NAN, .eps = NAN, .anchor_decay = NAN};
}

void esft_opt_config_zero_is_unset(esft_opt_config *c) {
    if (c->kind == ESFT_OPTIMIZER_SGD && c->beta1 == 0 && c->beta2 == 0 && c->eps == 0 && c->anchor_decay == 0)
        esft_opt_config_unset(c);
}

void esft_opt_config_defaults(esft_opt_config *c) {
    if (c->kind == ESFT_OPTIMIZER_COUNT) c->kind = ESFT_OPTIMIZER_SGD;
    if (isnan(c->beta1)) c->beta1 = 0.9f;
    if (isnan(c->beta2)) c->beta2 = 0.999f;
    if (isnan(c->eps)) c->eps = 1e-8f;
    if (isnan(c->anchor_decay)) c->anchor_decay = 0.0f;
}

esft_status esft_opt_config_check(const esft_opt_config *c, float alpha, bool cli, esft_err *err) {
    const char *dash = cli ? "--" : "";
#define BAD(...) esft_errf(err, ESFT_ERR_INVALID_ARG, __VA_ARGS__)
    if (c->kind < 0 || c->kind >= ESFT_OPTIMIZER_COUNT)
        return BAD("%soptimizer: expected sgd, momentum, adam or adamw", dash);
    if (!(c->beta1 >= 0 && c->beta1 < 1)) return BAD("%sbeta1 %g: must be in [0, 1)", dash, c->beta1);
    if (!(c->beta2 >= 0 && c->beta2 < 1)) return BAD("%sbeta2 %g: must be in [0, 1)", dash, c->beta2);
    if (!(c->eps > 0) || !isfinite(c->eps)) return BAD("%seps %g: must be > 0", dash, c->eps);
    if (!(c->anchor_decay >= 0) || !(alpha * c->anchor_decay < 1))
        return BAD("%s %g: must be >= 0 with alpha * anchor_decay < 1", cli ? "--anchor-decay" : "anchor_decay",
                   c->anchor_decay);
#undef BAD
    return ESFT_OK;
}

bool esft_opt_config_agrees(const esft_opt_config *given, const esft_opt_config *recorded, char *msg, size_t cap) {
    if (given->kind != ESFT_OPTIMIZER_COUNT && given->kind != recorded->kind) {
        snprintf(msg, cap, "--optimizer %s differs from the run's %s", esft_optimizer_name(given->kind),
                 esft_optimizer_name(recorded->kind));
        return false;
    }
    const struct { const char *flag; float g, r; } f[] = {{"--beta1", given->beta1, recorded->beta1},
                                                          {"--beta2", given->beta2, recorded->beta2},
                                                          {"--eps", given->eps, recorded->eps},
                                                          {"--anchor-decay", given->anchor_decay, recorded->anchor_decay}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!isnan(f[i].g) && f[i].g != f[i].r) {
            snprintf(msg, cap, "%s %g differs from the run's %g", f[i].flag, f[i].g, f[i].r);
            return false;
        }
    return true;
}

esft_status esft_opt_config_write_keys(gguf_writer *w, const esft_opt_config *c, esft_err *err) {
    esft_status st = esft_gguf_writer_set_str(w, "esft.optimizer", esft_optimizer_name(c->kind), err);
    if (!st) st = esft_gguf_writer_set_f32(w, "esft.beta1", c->beta1, err);
    if (!st) st = esft_gguf_writer_set_f32(w, "esft.beta2", c->beta2, err);
    if (!st) st = esft_gguf_writer_set_f32(w, "esft.eps", c->eps, err);
    if (!st) st = esft_gguf_writer_set_f32(w, "esft.anchor_decay", c->anchor_decay, err);
    return st;
}

bool esft_opt_config_read_keys(const gguf_file *f, esft_opt_config *c) {
    esft_opt_config_unset(c);
    const char *kind = esft_gguf_get_str(f, "esft.optimizer");
    if (kind && !esft_optimizer_from_name(kind, &c->kind)) return false;
    if (kind && !(esft_gguf_get_f32(f, "esft.beta1", &c->beta1) && esft_gguf_get_f32(f, "esft.beta2", &c->beta2) &&
                  esft_gguf_get_f32(f, "esft.eps", &c->eps) &&
                  esft_gguf_get_f32(f, "esft.anchor_decay", &c->anchor_decay)))
        return false;
    esft_opt_config_defaults(c);
    return true;
}

void esft_opt_config_to_json(cJSON *o, const esft_opt_config *c) {
    cJSON_AddStringToObject(o, "optimizer", esft_optimizer_name(c->kind));
    cJSON_AddNumberToObject(o, "beta1", c->beta1);
    cJSON_AddNumberToObject(o, "beta2", c->beta2);
    cJSON_AddNumberToObject(o, "eps", c->eps);
    cJSON_AddNumberToObject(o, "anchor_decay", c->anchor_decay);
}

bool esft_opt_config_from_json(const cJSON *o, esft_opt_config *c) {
    esft_opt_config_unset(c);
    const cJSON *kind = cJSON_GetObjectItem(o, "optimizer");
    if (kind && !(cJSON_IsString(kind) && esft_optimizer_from_name(kind->valuestring, &c->kind))) return false;
    const struct { const char *key; float *at; } f[] = {
        {"beta1", &c->beta1}, {"beta2", &c->beta2}, {"eps", &c->eps}, {"anchor_decay", &c->anchor_decay}};
    for (size_t i = 0; kind && i < sizeof f / sizeof f[0]; i++) {
        const cJSON *v = cJSON_GetObjectItem(o, f[i].key);
        if (!cJSON_IsNumber(v)) return false;
        *f[i].at = (float)v->valuedouble;
    }
    esft_opt_config_defaults(c);
    return true;
}

bool esft_opt_config_fused(const esft_opt_config *c) {
    return c->kind != ESFT_OPTIMIZER_SGD || c->anchor_decay > 0;
}

/* Elements of state per weight. */
static size_t state_per_weight(esft_optimizer k) {
    return k == ESFT_OPTIMIZER_MOMENTUM ? 1 : (k == ESFT_OPTIMIZER_ADAM || k == ESFT_OPTIMIZER_ADAMW) ? 2 : 0;
}

uint64_t esft_opt_state_bytes(const esft_opt_config *c, uint64_t n) {
    return state_per_weight(c->kind) * n * sizeof(float);
}

static int backend_rule(esft_optimizer k) {
    return k == ESFT_OPTIMIZER_MOMENTUM ? ESFT_OPT_MOMENTUM
           : (k == ESFT_OPTIMIZER_ADAM || k == ESFT_OPTIMIZER_ADAMW) ? ESFT_OPT_ADAM
                                                                     : ESFT_OPT_SGD;
}

static const esft_source_tensor *find_source(const esft_model_source *s, const char *name) {
    for (size_t i = 0; i < s->n_tensors; i++)
        if (!strcmp(s->tensors[i].name, name)) return &s->tensors[i];
    return NULL;
}

static esft_status zero_fill(esft_buf *b, size_t n, esft_err *err) {
    float *z = calloc(n < (1u << 20) ? n : (1u << 20), sizeof *z);
    if (!z) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "optimizer state: out of memory");
    esft_status st = ESFT_OK;
    for (size_t off = 0; off < n && !st; off += 1u << 20) {
        size_t cnt = n - off < (1u << 20) ? n - off : (1u << 20);
        st = esft_upload(b, off, z, cnt);
    }
    free(z);
    return st ? esft_errf(err, st, "optimizer state: %s", b->be->err.msg) : ESFT_OK;
}

esft_status esft_opt_init(esft_opt_state *o, const esft_opt_config *c, esft_model *m, const bool *selected,
                          const char *base_path, esft_err *err) {
    memset(o, 0, sizeof *o);
    o->cfg = *c;
    o->n_params = m->n_params;
    o->state = calloc((size_t)m->n_params + 1, sizeof *o->state);
    if (!o->state) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "optimizer state: out of memory");
    size_t per = state_per_weight(c->kind), largest = 0;
    esft_status st = ESFT_OK;
    for (int i = 0; i < m->n_params && !st; i++) {
        const esft_param *p = &m->params[i];
        if (!selected[i]) continue;
        if (p->n > largest) largest = p->n;
        if (!per) continue;
        if ((st = esft_buf_alloc(m->be, &o->state[i], ESFT_F32, per * p->n)))
            st = esft_errf(err, st, "optimizer state of %s (%zu floats): %s", p->name, per * p->n, m->be->err.msg);
        else st = zero_fill(&o->state[i], per * p->n, err);
    }
    if (!st && c->anchor_decay > 0) {
        if ((st = esft_source_open(base_path, &o->base, err))) st = esft_err_prefix(err, st, "--anchor-decay");
        else o->have_base = true;
        for (int i = 0; i < m->n_params && !st; i++) {
            const esft_source_tensor *t = selected[i] ? find_source(&o->base, m->params[i].name) : NULL;
            if (selected[i] && (!t || t->n_elements != m->params[i].n))
                st = esft_errf(err, ESFT_ERR_FORMAT, "--anchor-decay: base model %s has no tensor %s of %zu elements",
                               base_path, m->params[i].name, m->params[i].n);
        }
        if (!st && !(o->base_host = malloc(largest * sizeof *o->base_host)))
            st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "--anchor-decay: out of memory (%zu floats)", largest);
        if (!st && (st = esft_buf_alloc(m->be, &o->base_buf, ESFT_F32, largest)))
            st = esft_errf(err, st, "--anchor-decay: base scratch of %zu floats: %s", largest, m->be->err.msg);
    }
    if (st) esft_opt_free(o);
    return st;
}

void esft_opt_free(esft_opt_state *o) {
    for (int i = 0; o->state && i < o->n_params; i++)
        if (o->state[i].handle) esft_buf_free(&o->state[i]);
    free(o->state);
    if (o->base_buf.handle) esft_buf_free(&o->base_buf);
    free(o->base_host);
    if (o->have_base) esft_source_close(&o->base);
    memset(o, 0, sizeof *o);
}

/* The base weights of p into the device scratch (re-read from the file). */
esft_status esft_opt_load_base(esft_opt_state *o, const esft_param *p, esft_err *err) {
    if (!(o->cfg.anchor_decay > 0)) return ESFT_OK;
    const esft_source_tensor *t = find_source(&o->base, p->name);
    esft_status st = esft_source_read_f32(t, o->base_host, err);
    if (st) return esft_err_prefix(err, st, "--anchor-decay: base tensor %s", p->name);
    if (esft_upload(&o->base_buf, 0, o->base_host, p->n))
        return esft_errf(err, ESFT_ERR_DEVICE, "--anchor-decay: %s: %s", p->name, o->base_buf.be->err.msg);
    return ESFT_OK;
}

esft_opt_step esft_opt_step_at(const esft_opt_state *o, float alpha, float weight_decay, int t) {
    const esft_opt_config *c = &o->cfg;
    bool coupled = c->kind == ESFT_OPTIMIZER_ADAM;
    return (esft_opt_step){
        .rule = backend_rule(c->kind),
        .lr = alpha,
        .beta1 = c->kind == ESFT_OPTIMIZER_SGD ? 0.0f : c->beta1,
        .beta2 = c->beta2,
        .eps = c->eps,
        .bc1 = (float)(1.0 / (1.0 - pow(c->beta1, t + 1))),
        .bc2 = (float)(1.0 / (1.0 - pow(c->beta2, t + 1))),
        .l2 = coupled ? weight_decay : 0.0f,
        .decay = coupled ? 0.0f : alpha * weight_decay,
        .anchor = alpha * c->anchor_decay,
    };
}

esft_status esft_opt_apply(esft_opt_state *o, esft_model *m, const bool *selected, float alpha, float weight_decay,
                           int t, const uint64_t *seeds, const float *gcoeffs, int n_seeds, esft_err *err) {
    const esft_opt_step s = esft_opt_step_at(o, alpha, weight_decay, t);
    for (int i = 0; i < m->n_params; i++) {
        esft_param *p = &m->params[i];
        if (!selected[i]) continue;
        esft_status st = esft_opt_load_base(o, p, err);
        if (st) return st;
        if (esft_es_optimize(m->be, &p->master, &o->state[i], &o->base_buf, p->n, p->id, seeds, gcoeffs, n_seeds, &s))
            return esft_errf(err, ESFT_ERR_DEVICE, "es_optimize %s: %s", p->name, m->be->err.msg);
        /* the scratch is reused by the next tensor: its upload must wait */
        if (s.anchor > 0 && esft_synchronize(m->be))
            return esft_errf(err, ESFT_ERR_DEVICE, "es_optimize %s: %s", p->name, m->be->err.msg);
    }
    return ESFT_OK;
}

/* ---- state files ---- */

char *esft_opt_state_path(const char *dir, int iteration) {
    char name[48];
    snprintf(name, sizeof name, "optstate-%d.gguf", iteration);
    return esft_path_join(dir, name);
}

typedef struct state_rows {
    const esft_buf *buf;
    size_t first; /* element of the part (m: 0, v: n) */
    uint64_t row_len;
} state_rows;

static esft_status download_rows(void *user, uint64_t row0, uint64_t n_rows, void *dst, esft_err *err) {
    const state_rows *r = user;
    if (esft_download(r->buf, r->first + row0 * r->row_len, dst, n_rows * r->row_len))
        return esft_errf(err, ESFT_ERR_DEVICE, "optimizer state: %s", r->buf->be->err.msg);
    return ESFT_OK;
}

static void part_name(char *out, size_t cap, const char *tensor, size_t part) {
    snprintf(out, cap, "%s.%s", tensor, part ? "v" : "m");
}

esft_status esft_opt_save(const esft_opt_state *o, const esft_model *m, const bool *selected, int iteration,
                          const char *path, esft_err *err) {
    size_t per = state_per_weight(o->cfg.kind);
    if (!per) return ESFT_OK; /* sgd with an anchor keeps no state */
    gguf_writer *w = esft_gguf_writer_new();
    state_rows *rows = calloc((size_t)m->n_params * 2 + 1, sizeof *rows);
    esft_status st = w && rows ? ESFT_OK : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    if (!st) st = esft_gguf_writer_set_str(w, "esft.opt.optimizer", esft_optimizer_name(o->cfg.kind), err);
    if (!st) st = esft_gguf_writer_set_u32(w, "esft.opt.iteration", (uint32_t)iteration, err);
    for (int i = 0; i < m->n_params && !st; i++) {
        const esft_param *p = &m->params[i];
        for (size_t part = 0; selected[i] && part < per && !st; part++) {
            char name[128];
            part_name(name, sizeof name, p->name, part);
            state_rows *r = &rows[2 * i + (int)part];
            *r = (state_rows){.buf = &o->state[i], .first = part * p->n, .row_len = p->ne[0]};
            st = esft_gguf_writer_add_tensor_rows(w, name, GGML_TYPE_F32, p->n_dims, p->ne, download_rows, r, err);
        }
    }
    if (!st) st = esft_gguf_writer_write(w, path, err);
    esft_gguf_writer_free(w);
    free(rows);
    return st;
}

esft_status esft_opt_load(esft_opt_state *o, esft_model *m, const bool *selected, int iteration, const char *path,
                          esft_err *err) {
    size_t per = state_per_weight(o->cfg.kind);
    if (!per) return ESFT_OK;
    gguf_file *f = NULL;
    esft_status st = esft_gguf_open(path, &f, err);
    if (st) return esft_err_prefix(err, st, "optimizer state (the %s run's)", esft_optimizer_name(o->cfg.kind));
    const char *kind = esft_gguf_get_str(f, "esft.opt.optimizer");
    uint32_t it = 0;
    if (!kind || strcmp(kind, esft_optimizer_name(o->cfg.kind)) || !esft_gguf_get_u32(f, "esft.opt.iteration", &it) ||
        it != (uint32_t)iteration)
        st = esft_errf(err, ESFT_ERR_FORMAT, "%s: not the %s state of iteration %d", path,
                       esft_optimizer_name(o->cfg.kind), iteration);
    for (int i = 0; i < m->n_params && !st; i++) {
        const esft_param *p = &m->params[i];
        for (size_t part = 0; selected[i] && part < per && !st; part++) {
            char name[128];
            part_name(name, sizeof name, p->name, part);
            const gguf_tensor_info *t = esft_gguf_find_tensor(f, name);
            if (!t || t->type != GGML_TYPE_F32 || t->n_elements != p->n)
                st = esft_errf(err, ESFT_ERR_FORMAT, "%s: no f32 tensor %s of %zu elements", path, name, p->n);
            else if (esft_upload(&o->state[i], part * p->n, t->data, p->n))
                st = esft_errf(err, ESFT_ERR_DEVICE, "%s: %s: %s", path, name, m->be->err.msg);
        }
    }
    esft_gguf_close(f);
    return st;
}
