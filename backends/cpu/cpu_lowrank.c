/* The low-rank member ops (backend.h) on the cpu: the per-token corrections
 * are split over tokens (each costs 2(N+K)R flops, against NK for the shared
 * base matmul); the update restacks the factors as Â[N x PR] (scaled by
 * each member's coefficient) and B̂[K x PR] and runs cpu_gemm.c's kernel on
 * blocks of LOWRANK_UPDATE_ROWS rows of W, so no N x K temporary exists. */
#include "cpu_internal.h"

/* Rows of W per GEMM block of the update: fixed (not per thread), so that the
 * result does not depend on the thread count. */
#define LOWRANK_UPDATE_ROWS 16

static esft_status bad_member(esft_backend *be, const char *op, const int32_t *member, int T, int P) {
    for (int t = 0; t < T; t++)
        if (member[t] < 0 || member[t] >= P)
            return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "%s: token %d has member %d, not in [0, %d)", op, t,
                             member[t], P);
    return ESFT_OK;
}

typedef struct lr_matmul_job {
    float *Y;
    const float *X, *A, *B, *S;
    const int32_t *M;
    int N, K, R;
} lr_matmul_job;

static void lr_matmul_tokens(void *arg, size_t t0, size_t t1, int worker) {
    (void)worker;
    const lr_matmul_job *j = arg;
    const int N = j->N, K = j->K, R = j->R;
    float u[ESFT_LOWRANK_MAX_RANK];
    for (size_t t = t0; t < t1; t++) {
        const float *x = j->X + t * (size_t)K, *Bk = j->B + (size_t)j->M[t] * K * R;
        const float *Ak = j->A + (size_t)j->M[t] * N * R;
        float *y = j->Y + t * (size_t)N;
        for (int r = 0; r < R; r++) u[r] = 0.0f;
        for (int c = 0; c < K; c++) {
            const float xc = x[c], *brow = Bk + (size_t)c * R;
            for (int r = 0; r < R; r++) u[r] += xc * brow[r];
        }
        for (int r = 0; r < R; r++) u[r] *= j->S[t];
        for (int i = 0; i < N; i++) {
            const float *arow = Ak + (size_t)i * R;
            float acc = 0.0f;
            for (int r = 0; r < R; r++) acc += arow[r] * u[r];
            y[i] += acc;
        }
    }
}

esft_status esft_cpu_lowrank_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *a,
                                    const esft_buf *b, const esft_buf *member, const esft_buf *scales, int T,
                                    int N, int K, int R, int P) {
    lr_matmul_job j = {y->handle, x->handle, a->handle, b->handle, scales->handle, member->handle, N, K, R};
    esft_status st = bad_member(be, "lowrank_matmul", j.M, T, P);
    if (st) return st;
    const int par = (size_t)T * (size_t)(N + K) * (size_t)R >= 65536;
    esft_cpu_parallel(be, (size_t)T, 1, 1, par, lr_matmul_tokens, &j);
    return ESFT_OK;
}

esft_status esft_cpu_lowrank_rows(esft_backend *be, esft_buf *y, const esft_buf *a, const esft_buf *b,
                                  const esft_buf *ids, const esft_buf *member, const esft_buf *scales, int T,
                                  int D, int V, int R, int P) {
    float *Y = y->handle;
    const float *A = a->handle, *B = b->handle, *S = scales->handle;
    const int32_t *I = ids->handle, *M = member->handle;
    esft_status st = bad_member(be, "lowrank_rows", M, T, P);
    for (int t = 0; t < T && !st; t++)
        if (I[t] < 0 || I[t] >= V)
            st = esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "lowrank_rows: id %d of token %d not in [0, %d)", I[t],
                           t, V);
    for (int t = 0; t < T && !st; t++) {
        const float *arow = A + ((size_t)M[t] * V + (size_t)I[t]) * R, *Bk = B + (size_t)M[t] * D * R;
        float *yr = Y + (size_t)t * D;
        for (int d = 0; d < D; d++) {
            const float *brow = Bk + (size_t)d * R;
            float acc = 0.0f;
            for (int r = 0; r < R; r++) acc += arow[r] * brow[r];
            yr[d] += S[t] * acc;
        }
    }
    return st;
}

typedef struct lr_update_job {
    float *W;
    const float *Ahat, *Bhat; /* [N x PR], [K x PR] */
    float *tmp;               /* per pool thread: LOWRANK_UPDATE_ROWS x K */
    size_t per;
    esft_cpu_gemm_path path;
    int N, K, PR;
} lr_update_job;

static void lr_update_rows(void *arg, size_t n0, size_t n1, int worker) {
    const lr_update_job *j = arg;
    float *tmp = j->tmp + j->per * (size_t)worker;
    for (size_t i0 = n0; i0 < n1; i0 += LOWRANK_UPDATE_ROWS) {
        const int rows = (int)(n1 - i0 < LOWRANK_UPDATE_ROWS ? n1 - i0 : LOWRANK_UPDATE_ROWS);
        esft_cpu_gemm_nt(j->path, tmp, (size_t)j->K, j->Ahat + i0 * (size_t)j->PR, (size_t)j->PR, j->Bhat,
                         (size_t)j->PR, rows, j->K, j->PR);
        float *w = j->W + i0 * (size_t)j->K;
        for (size_t e = 0; e < (size_t)rows * (size_t)j->K; e++) w[e] += tmp[e];
    }
}

esft_status esft_cpu_lowrank_update(esft_backend *be, esft_buf *w, const esft_buf *a, const esft_buf *b,
                                    const float *coeffs, int N, int K, int R, int P) {
    const cpu_ctx *c = cpu_ctx_of(be);
    const size_t PR = (size_t)P * (size_t)R;
    const size_t na = esft_cpu_round16((size_t)N * PR), nb = esft_cpu_round16((size_t)K * PR);
    const size_t per = esft_cpu_round16((size_t)LOWRANK_UPDATE_ROWS * (size_t)K);
    float *scr = esft_cpu_scratch(be, na + nb + per * (size_t)c->n_threads);
    if (!scr) return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "lowrank_update: cannot allocate scratch");
    const float *A = a->handle, *B = b->handle;
    float *Ahat = scr, *Bhat = scr + na;
    /* member k's R columns sit side by side: the inner dimension is (k, r) */
    for (int k = 0; k < P; k++)
        for (int i = 0; i < N; i++)
            for (int r = 0; r < R; r++)
                Ahat[(size_t)i * PR + (size_t)k * R + r] = coeffs[k] * A[((size_t)k * N + i) * R + r];
    for (int k = 0; k < P; k++)
        for (int i = 0; i < K; i++)
            for (int r = 0; r < R; r++) Bhat[(size_t)i * PR + (size_t)k * R + r] = B[((size_t)k * K + i) * R + r];
    lr_update_job j = {w->handle, Ahat, Bhat, scr + na + nb, per, esft_cpu_gemm_resolve(c->gemm_path, LOWRANK_UPDATE_ROWS),
                       N, K, (int)PR};
    const int par = (size_t)N * (size_t)K * PR >= 65536;
    esft_cpu_parallel(be, (size_t)N, 4, LOWRANK_UPDATE_ROWS, par, lr_update_rows, &j);
    return ESFT_OK;
}
