#include "lowrank.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noise.h"

bool esft_lowrank_is_matrix(const esft_param *p) { return p->n_dims == 2; }

/* fnv1a32(name + suffix) */
static uint32_t factor_id(const char *name, const char *suffix) {
    char buf[sizeof ((esft_param *)0)->name + 4];
    snprintf(buf, sizeof buf, "%s%s", name, suffix);
    return esft_tensor_id(buf);
}

uint64_t esft_lowrank_factor_bytes(const esft_model *m, const bool *selected, int rank, int n_factors) {
    uint64_t per = 0;
    for (int i = 0; i < m->n_params; i++) {
        const esft_param *p = &m->params[i];
        if ((!selected || selected[i]) && esft_lowrank_is_matrix(p)) per += esft_lowrank_rows_of(p) + esft_lowrank_cols_of(p);
    }
    return per * (uint64_t)rank * (uint64_t)n_factors * sizeof(float);
}

void esft_lowrank_free(esft_lowrank *lr) {
    if (lr->m) {
        for (int i = 0; i < lr->m->n_params; i++) {
            if (lr->a) esft_buf_free(&lr->a[i]);
            if (lr->b) esft_buf_free(&lr->b[i]);
        }
    }
    esft_buf_free(&lr->zeros);
    esft_buf_free(&lr->tmp);
    free(lr->active), free(lr->id_a), free(lr->id_b), free(lr->a), free(lr->b);
    free(lr->member_factor), free(lr->member_scale);
    memset(lr, 0, sizeof *lr);
}

esft_status esft_lowrank_init(esft_lowrank *lr, const esft_model *m, const bool *selected, int rank, int n_factors,
                              int n_members, esft_err *err) {
    memset(lr, 0, sizeof *lr);
    if (rank < 1 || rank > ESFT_LOWRANK_MAX_RANK)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "--rank %d: must be in [1, %d]", rank, ESFT_LOWRANK_MAX_RANK);
    lr->m = m;
    lr->rank = rank;
    lr->n_factors = n_factors;
    lr->n_members = n_members;
    const size_t np = (size_t)m->n_params + 1;
    lr->active = calloc(np, sizeof *lr->active);
    lr->id_a = calloc(np, sizeof *lr->id_a);
    lr->id_b = calloc(np, sizeof *lr->id_b);
    lr->a = calloc(np, sizeof *lr->a);
    lr->b = calloc(np, sizeof *lr->b);
    lr->member_factor = calloc((size_t)n_members + 1, sizeof *lr->member_factor);
    lr->member_scale = calloc((size_t)n_members + 1, sizeof *lr->member_scale);
    esft_status st = lr->active && lr->id_a && lr->id_b && lr->a && lr->b && lr->member_factor && lr->member_scale
                         ? ESFT_OK
                         : ESFT_ERR_OUT_OF_MEMORY;
    uint64_t longest = 1;
    for (int i = 0; i < m->n_params && !st; i++) {
        const esft_param *p = &m->params[i];
        if (!selected[i] || !esft_lowrank_is_matrix(p)) continue;
        lr->active[i] = true;
        lr->n_active++;
        lr->id_a[i] = factor_id(p->name, "#A");
        lr->id_b[i] = factor_id(p->name, "#B");
        const uint64_t rows = esft_lowrank_rows_of(p), cols = esft_lowrank_cols_of(p);
        if (rows > longest) longest = rows;
        if (cols > longest) longest = cols;
        if (n_factors > 0) {
            st = esft_buf_alloc(m->be, &lr->a[i], ESFT_F32, (size_t)n_factors * rows * (size_t)rank);
            if (!st) st = esft_buf_alloc(m->be, &lr->b[i], ESFT_F32, (size_t)n_factors * cols * (size_t)rank);
        }
    }
    const size_t scratch = (size_t)longest * (size_t)rank;
    if (!st) st = esft_buf_alloc(m->be, &lr->zeros, ESFT_F32, scratch);
    if (!st) st = esft_buf_alloc(m->be, &lr->tmp, ESFT_F32, scratch);
    float *z = st ? NULL : calloc(scratch, sizeof *z);
    if (!st && !z) st = ESFT_ERR_OUT_OF_MEMORY;
    if (!st) st = esft_upload(&lr->zeros, 0, z, scratch);
    free(z);
    if (st) {
        esft_errf(err, st, "low-rank factors (rank %d, %d members): %s", rank, n_factors,
                  st == ESFT_ERR_OUT_OF_MEMORY ? "out of memory" : m->be->err.msg);
        esft_lowrank_free(lr);
    }
    return st;
}

/* dst[off .. off + n) = eps(seed, id, 0 .. n): perturb of zeros by 1. */
static esft_status draw(esft_lowrank *lr, esft_buf *dst, size_t off, size_t n, uint32_t id, uint64_t seed) {
    esft_backend *be = lr->m->be;
    esft_status st = esft_perturb(be, &lr->tmp, &lr->zeros, n, id, seed, 1.0f);
    return st ? st : esft_copy(dst, off, &lr->tmp, 0, n);
}

esft_status esft_lowrank_fill_param(esft_lowrank *lr, int i, esft_buf *a, esft_buf *b, int f, uint64_t seed,
                                    esft_err *err) {
    const esft_param *p = &lr->m->params[i];
    const size_t R = (size_t)lr->rank, rows = (size_t)esft_lowrank_rows_of(p), cols = (size_t)esft_lowrank_cols_of(p);
    esft_status st = draw(lr, a, (size_t)f * rows * R, rows * R, lr->id_a[i], seed);
    if (!st) st = draw(lr, b, (size_t)f * cols * R, cols * R, lr->id_b[i], seed);
    return st ? esft_errf(err, st, "low-rank factors of %s: %s", p->name, lr->m->be->err.msg) : ESFT_OK;
}

esft_status esft_lowrank_fill(esft_lowrank *lr, int f, uint64_t seed, esft_err *err) {
    if (f < 0 || f >= lr->n_factors)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "low-rank factor set %d of %d", f, lr->n_factors);
    for (int i = 0; i < lr->m->n_params; i++) {
        if (!lr->active[i]) continue;
        esft_status st = esft_lowrank_fill_param(lr, i, &lr->a[i], &lr->b[i], f, seed, err);
        if (st) return st;
    }
    return ESFT_OK;
}
