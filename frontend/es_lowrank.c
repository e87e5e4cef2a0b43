#include "es_lowrank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

esft_status esft_es_lowrank_select(const esft_model *m, const esft_run_config *c, bool *selected, int *n_selected,
                                   esft_err *err) {
    const bool all = strcmp(c->params, "*") == 0;
    int n = 0;
    for (int i = 0; i < m->n_params; i++) {
        if (!selected[i]) continue;
        if (!esft_lowrank_is_matrix(&m->params[i])) {
            if (!all)
                return esft_errf(err, ESFT_ERR_INVALID_ARG,
                                 "--params selects the 1-D tensor %s: --noise lowrank perturbs matrices only and "
                                 "keeps 1-D tensors frozen",
                                 m->params[i].name);
            selected[i] = false;
            continue;
        }
        n++;
    }
    *n_selected = n;
    return ESFT_OK;
}

/* Factor set of member k, counted from the first member lo's. */
static int factor_of(const esft_run_config *c, int lo, int k) { return c->antithetic ? k / 2 - lo / 2 : k - lo; }

int esft_es_lowrank_n_factors(const esft_run_config *c, int lo, int hi) {
    return hi > lo ? factor_of(c, lo, hi - 1) + 1 : 0;
}

esft_status esft_es_lowrank_members(esft_lowrank *lr, const esft_model *m, const bool *selected,
                                    const esft_run_config *c, int t, int lo, int hi, esft_err *err) {
    const int P = esft_es_lowrank_n_factors(c, lo, hi);
    esft_status st = esft_lowrank_init(lr, m, selected, c->rank, P, hi - lo, err);
    if (st) return st;
    const float scale = c->sigma / sqrtf((float)c->rank);
    for (int k = lo; k < hi && !st; k++) {
        float sign;
        const uint64_t seed = esft_es_member(c->run_seed, (uint64_t)t, k, c->antithetic, &sign);
        const int f = factor_of(c, lo, k);
        lr->member_factor[k - lo] = f;
        lr->member_scale[k - lo] = sign * scale;
        /* the second member of a pair reuses its partner's factors */
        if (k == lo || factor_of(c, lo, k - 1) != f) st = esft_lowrank_fill(lr, f, seed, err);
    }
    if (!st && esft_synchronize(m->be)) st = esft_errf(err, ESFT_ERR_DEVICE, "low-rank factors: %s", m->be->err.msg);
    if (st) esft_lowrank_free(lr);
    return st;
}

esft_status esft_es_lowrank_update(esft_model *m, const bool *selected, const esft_run_config *c,
                                   const uint64_t *seeds, const float *coeffs, int n_seeds, esft_opt_state *opt,
                                   const esft_opt_step *step, esft_err *err) {
    if (n_seeds <= 0) return ESFT_OK;
    /* no factor sets of its own: ids, and the scratch of the draws */
    esft_lowrank lr;
    esft_status st = esft_lowrank_init(&lr, m, selected, c->rank, 0, 0, err);
    if (st) return st;
    float *scaled = malloc((size_t)n_seeds * sizeof *scaled);
    if (!scaled) st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    const float inv_sqrt_r = 1.0f / sqrtf((float)c->rank);
    for (int j = 0; j < n_seeds && !st; j++) scaled[j] = coeffs[j] * inv_sqrt_r;
    /* one pair of stacked factors, sized for the largest matrix, reused */
    uint64_t max_rows = 1, max_cols = 1;
    for (int i = 0; i < m->n_params; i++) {
        if (!lr.active[i]) continue;
        if (esft_lowrank_rows_of(&m->params[i]) > max_rows) max_rows = esft_lowrank_rows_of(&m->params[i]);
        if (esft_lowrank_cols_of(&m->params[i]) > max_cols) max_cols = esft_lowrank_cols_of(&m->params[i]);
    }
    esft_buf a = {0}, b = {0};
    if (!st && (esft_buf_alloc(m->be, &a, ESFT_F32, (size_t)n_seeds * (size_t)max_rows * (size_t)c->rank) ||
                esft_buf_alloc(m->be, &b, ESFT_F32, (size_t)n_seeds * (size_t)max_cols * (size_t)c->rank)))
        st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "low-rank update: factors of %d members: %s", n_seeds,
                       m->be->err.msg);
    for (int i = 0; i < m->n_params && !st; i++) {
        if (!lr.active[i]) continue;
        esft_param *p = &m->params[i];
        const int rows = (int)esft_lowrank_rows_of(p), cols = (int)esft_lowrank_cols_of(p);
        for (int j = 0; j < n_seeds && !st; j++) st = esft_lowrank_fill_param(&lr, i, &a, &b, j, seeds[j], err);
        if (!st && opt) st = esft_opt_load_base(opt, p, err);
        if (st) break;
        if (opt ? esft_lowrank_optimize(m->be, &p->master, &opt->state[i], &opt->base_buf, &a, &b, scaled, rows, cols,
                                        c->rank, n_seeds, step)
                : esft_lowrank_update(m->be, &p->master, &a, &b, scaled, rows, cols, c->rank, n_seeds))
            st = esft_errf(err, ESFT_ERR_DEVICE, "low-rank update of %s: %s", p->name, m->be->err.msg);
        /* the anchor's scratch is reused by the next tensor: its upload must wait */
        else if (opt && step->anchor > 0 && esft_synchronize(m->be))
            st = esft_errf(err, ESFT_ERR_DEVICE, "low-rank update of %s: %s", p->name, m->be->err.msg);
    }
    if (!st && esft_synchronize(m->be)) st = esft_errf(err, ESFT_ERR_DEVICE, "low-rank update: %s", m->be->err.msg);
    esft_buf_free(&a), esft_buf_free(&b);
    free(scaled);
    esft_lowrank_free(&lr);
    return st;
}
