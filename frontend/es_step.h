/* The ES operations on a model's weights (DESIGN.md §1): which tensors are
 * trained, a member's perturbed working copy, and the update. The training
 * loop (train.c) and the public trainer API (api.c) both run ES through
 * these, so the two give the same weights bit for bit. */
#ifndef ESFT_ES_STEP_H
#define ESFT_ES_STEP_H

#include <stdbool.h>

#include "checkpoint.h"

/* Refuses settings ES cannot run with (ESFT_ERR_INVALID_ARG), naming them
 * as `esft train`'s flags (cli) or as esft_trainer_params fields. */
esft_status esft_run_config_check(const esft_run_config *c, bool cli, esft_err *err);

/* Whether name matches one of the comma-separated globs (--params). */
bool esft_es_globs_match(const char *globs, const char *name);
/* whether train --params GLOBS trains the tensor: matched and not a constant
 * of the architecture (rope_freqs.weight) */
bool esft_es_trains(const char *globs, const char *name);
/* selected[i] for each of m's tensors: its name matches one of the
 * comma-separated globs. Returns a malloc'd array (NULL when out of
 * memory) and the number selected in *n_selected. */
bool *esft_es_select(const esft_model *m, const char *globs, int *n_selected);

/* work = cast(master + sign_k · σ · ε(seed_k)) for member k of iteration t,
 * over the selected tensors. */
esft_status esft_es_perturb_member(esft_model *m, const bool *selected, const esft_run_config *c, int t, int k,
                                   esft_err *err);

/* work = cast(master) over the selected tensors: the unperturbed model. */
esft_status esft_es_unperturb(esft_model *m, const bool *selected, esft_err *err);

/* The update of iteration t for the rewards R[0..pop): fitness shaping,
 * coefficients, weight decay, then master += Σ_j coeff_j · ε(seed_j), one
 * fused pass per selected tensor. opt: the run's optimizer when it is not
 * plain sgd (esft_opt_config_fused), which then makes the update; NULL for
 * the paper's update. */
esft_status esft_es_apply(esft_model *m, const bool *selected, const esft_run_config *c, int t, const double *R,
                          esft_opt_state *opt, esft_err *err);

#endif
