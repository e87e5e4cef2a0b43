/* The low-rank member ops (backend.h) on the cpu: the per-token corrections
 * are split over tokens (each costs 2(N+K)R flops, against NK for the shared
 * base matmul); the update restacks the factors as Â[N x PR] (scaled by
 * each member's coefficient) and B̂[K x PR] and runs cpu_gemm.c's kernel on
 * blocks of LOWRANK_UPDATE_ROWS rows of W, so no N x K temporary exists. */
#include "cpu_internal.h"

#include "esft_philox.h"
#include "esft_optim.h"

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

#if defined(__GNUC__)
#define LR_INLINE static inline __attribute__((always_inline))
#else
#define LR_INLINE static inline
#endif

/* Partial sums per projection: a fixed number, combined pairwise in a fixed
 * order (so the result does not depend on the thread count), where a single
 * running sum would be a chain of dependent adds the compiler cannot
 * vectorise. */
#define LR_LANES 16

/* y += s * A (Bᵀ x) for one token: u = xᵀB (R values), then y[i] += A[i]·u. */
LR_INLINE void lr_token(const lr_matmul_job *j, size_t t, const int R) {
    const int N = j->N, K = j->K;
    const float *x = j->X + t * (size_t)K, *Bk = j->B + (size_t)j->M[t] * K * R;
    const float *Ak = j->A + (size_t)j->M[t] * N * R;
    float *y = j->Y + t * (size_t)N;
    float u[ESFT_LOWRANK_MAX_RANK];
    for (int r = 0; r < R; r++) {
        float part[LR_LANES] = {0}, tail = 0.0f;
        int c = 0;
        for (; c + LR_LANES <= K; c += LR_LANES)
            for (int l = 0; l < LR_LANES; l++) part[l] += x[c + l] * Bk[(size_t)(c + l) * R + r];
        for (; c < K; c++) tail += x[c] * Bk[(size_t)c * R + r];
        for (int w = LR_LANES / 2; w > 0; w /= 2)
            for (int l = 0; l < w; l++) part[l] += part[l + w];
        u[r] = (part[0] + tail) * j->S[t];
    }
    for (int i = 0; i < N; i++) {
        const float *arow = Ak + (size_t)i * R;
        float acc = 0.0f;
        for (int r = 0; r < R; r++) acc += arow[r] * u[r];
        y[i] += acc;
    }
}

/* The common ranks get their own compiled loops (R a constant). */
static void lr_matmul_tokens(void *arg, size_t t0, size_t t1, int worker) {
    (void)worker;
    const lr_matmul_job *j = arg;
    switch (j->R) {
    case 1:
        for (size_t t = t0; t < t1; t++) lr_token(j, t, 1);
        break;
    case 2:
        for (size_t t = t0; t < t1; t++) lr_token(j, t, 2);
        break;
    case 4:
        for (size_t t = t0; t < t1; t++) lr_token(j, t, 4);
        break;
    default:
        for (size_t t = t0; t < t1; t++) lr_token(j, t, j->R);
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
    const esft_opt_step *step; /* lowrank_optimize: the rule; NULL: W += g */
    float *mom, *vel;          /* its state (NULL where the rule has none) */
    const float *base;         /* the anchor's weights, or NULL */
} lr_update_job;

static void lr_update_rows(void *arg, size_t n0, size_t n1, int worker) {
    const lr_update_job *j = arg;
    const esft_opt_step *s = j->step;
    float *tmp = j->tmp + j->per * (size_t)worker;
    for (size_t i0 = n0; i0 < n1; i0 += LOWRANK_UPDATE_ROWS) {
        const int rows = (int)(n1 - i0 < LOWRANK_UPDATE_ROWS ? n1 - i0 : LOWRANK_UPDATE_ROWS);
        esft_cpu_gemm_nt(j->path, tmp, (size_t)j->K, j->Ahat + i0 * (size_t)j->PR, (size_t)j->PR, j->Bhat,
                         (size_t)j->PR, rows, j->K, j->PR);
        const size_t e0 = i0 * (size_t)j->K, ne = (size_t)rows * (size_t)j->K;
        float *w = j->W + e0;
        if (!s) {
            for (size_t e = 0; e < ne; e++) w[e] += tmp[e];
            continue;
        }
        for (size_t e = 0; e < ne; e++) {
            const size_t i = e0 + e;
            esft_opt_elem r = esft_opt_element(s->rule, w[e], tmp[e], j->mom ? j->mom[i] : 0.0f,
                                               j->vel ? j->vel[i] : 0.0f, j->base ? j->base[i] : 0.0f, s->lr,
                                               s->beta1, s->beta2, s->eps, s->bc1, s->bc2, s->l2, s->decay, s->anchor);
            w[e] = r.theta;
            if (j->mom) j->mom[i] = r.m;
            if (j->vel) j->vel[i] = r.v;
        }
    }
}

/* The stacked factors (Â with member k's columns scaled by coeffs[k]) in
 * scratch, then the GEMM of row blocks with the job's per-element step. */
static esft_status lr_stacked(esft_backend *be, lr_update_job *j, const esft_buf *a, const esft_buf *b,
                              const float *coeffs, int R, int P, const char *op) {
    const cpu_ctx *c = cpu_ctx_of(be);
    const int N = j->N, K = j->K;
    const size_t PR = (size_t)P * (size_t)R;
    const size_t na = esft_cpu_round16((size_t)N * PR), nb = esft_cpu_round16((size_t)K * PR);
    const size_t per = esft_cpu_round16((size_t)LOWRANK_UPDATE_ROWS * (size_t)K);
    float *scr = esft_cpu_scratch(be, na + nb + per * (size_t)c->n_threads);
    if (!scr) return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "%s: cannot allocate scratch", op);
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
    j->Ahat = Ahat, j->Bhat = Bhat, j->tmp = scr + na + nb, j->per = per, j->PR = (int)PR;
    j->path = esft_cpu_gemm_resolve(c->gemm_path, LOWRANK_UPDATE_ROWS);
    const int par = (size_t)N * (size_t)K * PR >= 65536;
    esft_cpu_parallel(be, (size_t)N, 4, LOWRANK_UPDATE_ROWS, par, lr_update_rows, j);
    return ESFT_OK;
}

esft_status esft_cpu_lowrank_update(esft_backend *be, esft_buf *w, const esft_buf *a, const esft_buf *b,
                                    const float *coeffs, int N, int K, int R, int P) {
    lr_update_job j = {.W = w->handle, .N = N, .K = K};
    return lr_stacked(be, &j, a, b, coeffs, R, P, "lowrank_update");
}

esft_status esft_cpu_lowrank_optimize(esft_backend *be, esft_buf *master, esft_buf *state, const esft_buf *base,
                                      const esft_buf *a, const esft_buf *b, const float *coeffs, int N, int K, int R,
                                      int P, const esft_opt_step *step) {
    float *mom = state ? state->handle : NULL;
    lr_update_job j = {.W = master->handle, .N = N, .K = K, .step = step, .mom = mom,
                       .vel = step->rule == ESFT_OPT_ADAM ? mom + (size_t)N * K : NULL,
                       .base = base ? base->handle : NULL};
    return lr_stacked(be, &j, a, b, coeffs, R, P, "lowrank_optimize");
}
