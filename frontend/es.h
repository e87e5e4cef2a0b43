/* The pure parts of evolution strategies (DESIGN.md §1): fitness shaping,
 * update coefficients, member seeds and batch selection. No I/O, no model. */
#ifndef ESFT_ES_H
#define ESFT_ES_H

#include <stdbool.h>
#include <stdint.h>

typedef enum esft_shaping {
    ESFT_SHAPING_ZSCORE = 0, /* (R - mean) / (std + 1e-8), population std (paper) */
    ESFT_SHAPING_RANK,       /* centered ranks in [-0.5, 0.5], ties share their mean rank */
    ESFT_SHAPING_RAW,        /* R unchanged */
} esft_shaping;

/* How members are perturbed (DESIGN.md §1): full-rank noise on every
 * selected weight, or EGGROLL's rank-R products A_k B_k^T on each selected
 * matrix (the whole population then decodes as one batch). UNSET: not
 * given (a new run takes FULL; a resumed run, its own). */
typedef enum esft_noise_mode {
    ESFT_NOISE_UNSET = 0,
    ESFT_NOISE_FULL,
    ESFT_NOISE_LOWRANK,
} esft_noise_mode;

const char *esft_noise_mode_name(esft_noise_mode m);
bool esft_noise_mode_from_name(const char *name, esft_noise_mode *out);

const char *esft_shaping_name(esft_shaping s);
bool esft_shaping_from_name(const char *name, esft_shaping *out);

/* z[k] = shaped fitness of rewards r[0..n). Computed in double. */
void esft_shape_fitness(esft_shaping s, const double *r, int n, double *z);

/* The update θ += Σ_j coeff[j] · ε(seed[j]) for one iteration. Without
 * antithetic sampling member k has seed member_seed(run, t, k) and
 * coeff = α/N · z_k (n_seeds = N). With it, pair j = members (2j, 2j+1)
 * shares member_seed(run, t, j) with signs +1/−1, so
 * coeff_j = α/N · (z_2j − z_2j+1) (n_seeds = N/2). Returns n_seeds. */
int esft_es_coefficients(uint64_t run_seed, uint64_t iter, const double *z, int n, float alpha,
                         bool antithetic, uint64_t *seeds, float *coeffs);

/* Seed and sign (+1/−1) of member k in iteration t. */
uint64_t esft_es_member(uint64_t run_seed, uint64_t iter, int k, bool antithetic, float *sign);

/* Picks `batch` distinct indices of [0, n) for iteration t, as a pure
 * function of (run_seed, t): a seeded Fisher-Yates shuffle, first `batch`
 * kept, then sorted. When batch >= n every index is used, in order. */
void esft_select_batch(uint64_t run_seed, uint64_t iter, int n, int batch, int *out);

/* Shell-style glob (*, ?, [...]) match of a tensor name. */
bool esft_glob_match(const char *pattern, const char *name);

#endif
