/* ES with low-rank members (DESIGN.md §1 "Low-rank members"): which tensors
 * the mode trains, the factors of an iteration's members for one batched
 * generation, and the update W += sum_j c_j A_j B_j^T / sqrt(R) of every
 * trained matrix. es_step.c and train.c call these when --noise lowrank. */
#ifndef ESFT_ES_LOWRANK_H
#define ESFT_ES_LOWRANK_H

#include <stdbool.h>

#include "checkpoint.h"
#include "lowrank.h"
#include "optimizer.h"

/* Drops 1-D tensors (norms, biases) from selected: the mode freezes them.
 * When the run's --params is not the default "*" and names a 1-D tensor,
 * refuses (ESFT_ERR_INVALID_ARG) naming it: per-member full-rank noise on
 * 1-D tensors inside a batched pass is not supported. Returns the number
 * of tensors left selected in *n_selected. */
esft_status esft_es_lowrank_select(const esft_model *m, const esft_run_config *c, bool *selected, int *n_selected,
                                   esft_err *err);

/* Number of factor sets members [lo, hi) need: one per distinct member
 * seed (an antithetic pair shares one). */
int esft_es_lowrank_n_factors(const esft_run_config *c, int lo, int hi);

/* Initialises lr for members [lo, hi) of iteration t and fills their
 * factors: member j (0-based from lo) uses its seed's factor set with scale
 * sign * sigma / sqrt(R). */
esft_status esft_es_lowrank_members(esft_lowrank *lr, const esft_model *m, const bool *selected,
                                    const esft_run_config *c, int t, int lo, int hi, esft_err *err);

/* master += sum_j coeffs[j] * A_j B_j^T / sqrt(R) for every selected
 * matrix, the factors regenerated from seeds[j], one product per tensor;
 * with an optimizer (opt and its step non-NULL) that sum is the gradient
 * its rule takes instead (coeffs then from alpha = 1). */
esft_status esft_es_lowrank_update(esft_model *m, const bool *selected, const esft_run_config *c,
                                   const uint64_t *seeds, const float *coeffs, int n_seeds, esft_opt_state *opt,
                                   const esft_opt_step *step, esft_err *err);

#endif
