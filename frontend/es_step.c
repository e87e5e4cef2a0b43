#include "es_step.h"
#include "es_lowrank.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

esft_status esft_run_config_check(const esft_run_config *c, bool cli, esft_err *err) {
    const char *dash = cli ? "--" : "";
#define BAD(...) esft_errf(err, ESFT_ERR_INVALID_ARG, __VA_ARGS__)
    if (c->pop < 2) return BAD("%spop %d: the population needs at least 2 members", dash, c->pop);
    if (c->antithetic && c->pop % 2)
        return BAD("%spop %d is odd: %santithetic pairs members, so it needs an even population", dash, c->pop, dash);
    if (!(c->sigma > 0) || !isfinite(c->sigma)) return BAD("%ssigma %g: the noise scale must be > 0", dash, c->sigma);
    if (!(c->alpha > 0) || !isfinite(c->alpha))
        return BAD("%salpha %g: the learning rate must be > 0", dash, c->alpha);
    if (!(c->weight_decay >= 0) || c->alpha * c->weight_decay >= 1)
        return BAD("%s must be >= 0 and alpha * weight_decay < 1", cli ? "--weight-decay" : "weight_decay");
    esft_status st = esft_opt_config_check(&c->opt, c->alpha, cli, err);
    if (st) return st;
    if (c->noise == ESFT_NOISE_LOWRANK && (c->rank < 1 || c->rank > ESFT_LOWRANK_MAX_RANK))
        return BAD("%srank %d: the rank of low-rank members must be in [1, %d]", dash, c->rank, ESFT_LOWRANK_MAX_RANK);
    if (c->noise != ESFT_NOISE_LOWRANK && c->rank != 0)
        return BAD("%srank %d needs %snoise lowrank", dash, c->rank, dash);
    if (c->max_new < 1) return BAD("%smax%snew %d: at least one token must be generated", dash, cli ? "-" : "_", c->max_new);
#undef BAD
    return ESFT_OK;
}

bool esft_es_globs_match(const char *globs, const char *name) {
    char buf[sizeof ((esft_run_config *)0)->params];
    snprintf(buf, sizeof buf, "%s", globs);
    char *save = NULL;
    for (char *g = strtok_r(buf, ",", &save); g; g = strtok_r(NULL, ",", &save))
        if (esft_glob_match(g, name)) return true;
    return false;
}

/* Tensors that are constants of the architecture, not weights: never
 * perturbed or updated, whatever --params says (Llama 3's rope frequency
 * divisors are computed from config.json, not learned). */
static bool is_constant_tensor(const char *name) { return strcmp(name, "rope_freqs.weight") == 0; }

bool esft_es_trains(const char *globs, const char *name) {
    return !is_constant_tensor(name) && esft_es_globs_match(globs, name);
}

bool *esft_es_select(const esft_model *m, const char *globs, int *n_selected) {
    bool *sel = calloc((size_t)m->n_params + 1, sizeof *sel);
    int n = 0;
    for (int i = 0; sel && i < m->n_params; i++) n += sel[i] = esft_es_trains(globs, m->params[i].name);
    *n_selected = n;
    return sel;
}

esft_status esft_es_perturb_member(esft_model *m, const bool *selected, const esft_run_config *c, int t, int k,
                                   esft_err *err) {
    float sign;
    uint64_t seed = esft_es_member(c->run_seed, (uint64_t)t, k, c->antithetic, &sign);
    for (int i = 0; i < m->n_params; i++) {
        esft_param *p = &m->params[i];
        if (!selected[i]) continue;
        if (p->work_is_master) /* the master itself would be perturbed */
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "perturb %s: the model has no working copy of it", p->name);
        if (esft_perturb(m->be, &p->work, &p->master, p->n, p->id, seed, sign * c->sigma))
            return esft_errf(err, ESFT_ERR_DEVICE, "perturb %s: %s", p->name, m->be->err.msg);
    }
    return esft_synchronize(m->be) ? esft_errf(err, ESFT_ERR_DEVICE, "perturb: %s", m->be->err.msg) : ESFT_OK;
}

esft_status esft_es_unperturb(esft_model *m, const bool *selected, esft_err *err) {
    for (int i = 0; i < m->n_params; i++) {
        esft_param *p = &m->params[i];
        if (!selected[i] || p->work_is_master) continue;
        if (esft_perturb(m->be, &p->work, &p->master, p->n, p->id, 0, 0.0f))
            return esft_errf(err, ESFT_ERR_DEVICE, "%s: %s", p->name, m->be->err.msg);
    }
    return ESFT_OK;
}

esft_status esft_es_apply(esft_model *m, const bool *selected, const esft_run_config *c, int t, const double *R,
                          esft_opt_state *opt, esft_err *err) {
    const int N = c->pop;
    double *z = calloc((size_t)N, sizeof *z);
    uint64_t *seeds = calloc((size_t)N, sizeof *seeds);
    float *coeffs = calloc((size_t)N, sizeof *coeffs);
    esft_status st = z && seeds && coeffs ? ESFT_OK : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    int n_seeds = 0;
    if (!st) {
        esft_shape_fitness(c->shaping, R, N, z);
        /* an optimizer takes g itself (α = 1) and applies α as its learning rate */
        n_seeds = esft_es_coefficients(c->run_seed, (uint64_t)t, z, N, opt ? 1.0f : c->alpha, c->antithetic, seeds,
                                       coeffs);
    }
    const bool lowrank = c->noise == ESFT_NOISE_LOWRANK;
    if (!st && opt && !lowrank)
        st = esft_opt_apply(opt, m, selected, c->alpha, c->weight_decay, t, seeds, coeffs, n_seeds, err);
    for (int i = 0; !opt && i < m->n_params && !st; i++) { /* the paper's update */
        esft_param *p = &m->params[i];
        if (!selected[i]) continue;
        if (c->weight_decay > 0 && esft_scale(m->be, &p->master, p->n, 1.0f - c->alpha * c->weight_decay))
            st = esft_errf(err, ESFT_ERR_DEVICE, "weight decay %s: %s", p->name, m->be->err.msg);
        else if (!lowrank && esft_es_update(m->be, &p->master, p->n, p->id, seeds, coeffs, n_seeds))
            st = esft_errf(err, ESFT_ERR_DEVICE, "es_update %s: %s", p->name, m->be->err.msg);
    }
    if (!st && lowrank) {
        const esft_opt_step step = opt ? esft_opt_step_at(opt, c->alpha, c->weight_decay, t) : (esft_opt_step){0};
        st = esft_es_lowrank_update(m, selected, c, seeds, coeffs, n_seeds, opt, opt ? &step : NULL, err);
    }
    if (esft_synchronize(m->be) && !st) st = esft_errf(err, ESFT_ERR_DEVICE, "es_update: %s", m->be->err.msg);
    free(z), free(seeds), free(coeffs);
    return st;
}
