/* Low-rank members (EGGROLL mode, DESIGN.md §1 "Low-rank members"): the
 * per-member factors A_k [m x R] and B_k [n x R] of every low-rank matrix,
 * regenerated from member seeds with the noise of the full mode under the
 * ids fnv1a32(name + "#A") and fnv1a32(name + "#B"), and held only for the
 * duration of an iteration. The forward pass (model.c) adds each token's
 * member correction after the shared base matmul; no weight matrix is ever
 * copied per member. */
#ifndef ESFT_LOWRANK_H
#define ESFT_LOWRANK_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

typedef struct esft_lowrank {
    const esft_model *m;
    int rank;             /* R */
    int n_factors;        /* P: factor sets held (one per distinct member seed) */
    int n_active;         /* matrices perturbed low-rank */
    bool *active;         /* [n_params]: a selected matrix (2-D tensor) */
    uint32_t *id_a, *id_b;/* [n_params]: noise ids of the factors */
    esft_buf *a, *b;      /* [n_params]: [P x m x R], [P x n x R] f32 where active */
    esft_buf zeros, tmp;  /* f32 [max(m, n) x R]: factors are drawn as 0 + 1 * eps */
    /* The members a generation decodes for: member j uses factor set
     * member_factor[j] with scale member_scale[j] = sign * sigma / sqrt(R). */
    int n_members;
    int32_t *member_factor;
    float *member_scale;
} esft_lowrank;

/* Rows m and columns n of a matrix parameter (y = x . W^T: W is m x n). */
static inline uint64_t esft_lowrank_rows_of(const esft_param *p) { return p->ne[1]; }
static inline uint64_t esft_lowrank_cols_of(const esft_param *p) { return p->ne[0]; }

/* Whether the parameter is perturbed low-rank: selected and a matrix. */
bool esft_lowrank_is_matrix(const esft_param *p);

/* Bytes of the factors of n_factors members at rank R for the selected
 * tensors of m (NULL: every matrix): the per-iteration memory of the
 * low-rank mode. */
uint64_t esft_lowrank_factor_bytes(const esft_model *m, const bool *selected, int rank, int n_factors);

/* Allocates factor storage for n_factors members and n_members members
 * over m's selected matrices. */
esft_status esft_lowrank_init(esft_lowrank *lr, const esft_model *m, const bool *selected, int rank, int n_factors,
                              int n_members, esft_err *err);
void esft_lowrank_free(esft_lowrank *lr);

/* Factor set f (< n_factors) of every active matrix from seed. */
esft_status esft_lowrank_fill(esft_lowrank *lr, int f, uint64_t seed, esft_err *err);

/* Factor set f of parameter i into a and b (each at offset f * rows * R):
 * what esft_lowrank_fill does per matrix, for callers with their own
 * stacked buffers (the update). */
esft_status esft_lowrank_fill_param(esft_lowrank *lr, int i, esft_buf *a, esft_buf *b, int f, uint64_t seed,
                                    esft_err *err);

#endif
