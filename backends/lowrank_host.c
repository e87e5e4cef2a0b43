/* Host defaults of the low-rank ops: correct and slow (every call moves its
 * operands across the bus); native kernels replace them per backend. */
#include "lowrank_host.h"

#include <stdlib.h>

#include "esft_philox.h"
#include "esft_optim.h"

bool esft_lowrank_host_default(esft_op op) {
    return op == ESFT_OP_LOWRANK_MATMUL || op == ESFT_OP_LOWRANK_ROWS || op == ESFT_OP_LOWRANK_UPDATE ||
           op == ESFT_OP_LOWRANK_OPTIMIZE;
}

bool esft_lowrank_slot(const esft_backend_ops *ops, esft_op op) {
    switch (op) {
    case ESFT_OP_LOWRANK_MATMUL: return ops->lowrank_matmul != NULL;
    case ESFT_OP_LOWRANK_ROWS: return ops->lowrank_rows != NULL;
    case ESFT_OP_LOWRANK_UPDATE: return ops->lowrank_update != NULL;
    case ESFT_OP_LOWRANK_OPTIMIZE: return ops->lowrank_optimize != NULL;
    default: return false;
    }
}

/* Host copies of the first n elements of up to 6 buffers (NULL entries are
 * skipped); false (with be->err set) on failure, every copy freed. */
typedef struct host_copy {
    const esft_buf *buf;
    size_t n;
    void *data;
} host_copy;

static void host_free(host_copy *c, int n) {
    for (int i = 0; i < n; i++) free(c[i].data), c[i].data = NULL;
}

static esft_status host_fetch(esft_backend *be, host_copy *c, int n) {
    for (int i = 0; i < n; i++) {
        c[i].data = malloc((c[i].n ? c[i].n : 1) * esft_dtype_size(c[i].buf->dtype));
        esft_status st = c[i].data ? esft_download(c[i].buf, 0, c[i].data, c[i].n)
                                   : esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "low-rank op: out of memory");
        if (st) {
            host_free(c, n);
            return st;
        }
    }
    return ESFT_OK;
}

/* Every member index in [0, P). */
static esft_status check_members(esft_backend *be, const char *op, const int *member, int T, int P) {
    for (int t = 0; t < T; t++)
        if (member[t] < 0 || member[t] >= P)
            return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "%s: token %d has member %d, not in [0, %d)", op,
                             t, member[t], P);
    return ESFT_OK;
}

esft_status esft_lowrank_host_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *a,
                                     const esft_buf *b, const esft_buf *member, const esft_buf *scales, int T,
                                     int N, int K, int R, int P) {
    host_copy c[] = {{y, (size_t)T * N, NULL},         {x, (size_t)T * K, NULL},
                     {a, (size_t)P * N * R, NULL},     {b, (size_t)P * K * R, NULL},
                     {member, (size_t)T, NULL},        {scales, (size_t)T, NULL}};
    const int nc = (int)(sizeof c / sizeof c[0]);
    esft_status st = host_fetch(be, c, nc);
    if (st) return st;
    float *Y = c[0].data;
    const float *X = c[1].data, *A = c[2].data, *B = c[3].data, *S = c[5].data;
    const int *M = c[4].data;
    float u[ESFT_LOWRANK_MAX_RANK];
    st = check_members(be, "lowrank_matmul", M, T, P);
    for (int t = 0; t < T && !st; t++) {
        const float *Bk = B + (size_t)M[t] * K * R, *Ak = A + (size_t)M[t] * N * R;
        for (int r = 0; r < R; r++) u[r] = 0.0f;
        for (int j = 0; j < K; j++)
            for (int r = 0; r < R; r++) u[r] += X[(size_t)t * K + j] * Bk[(size_t)j * R + r];
        for (int r = 0; r < R; r++) u[r] *= S[t];
        for (int i = 0; i < N; i++) {
            float acc = 0.0f;
            for (int r = 0; r < R; r++) acc += Ak[(size_t)i * R + r] * u[r];
            Y[(size_t)t * N + i] += acc;
        }
    }
    if (!st) st = esft_upload(y, 0, Y, (size_t)T * N);
    host_free(c, nc);
    return st;
}

esft_status esft_lowrank_host_rows(esft_backend *be, esft_buf *y, const esft_buf *a, const esft_buf *b,
                                   const esft_buf *ids, const esft_buf *member, const esft_buf *scales, int T,
                                   int D, int V, int R, int P) {
    host_copy c[] = {{y, (size_t)T * D, NULL},     {a, (size_t)P * V * R, NULL}, {b, (size_t)P * D * R, NULL},
                     {ids, (size_t)T, NULL},       {member, (size_t)T, NULL},    {scales, (size_t)T, NULL}};
    const int nc = (int)(sizeof c / sizeof c[0]);
    esft_status st = host_fetch(be, c, nc);
    if (st) return st;
    float *Y = c[0].data;
    const float *A = c[1].data, *B = c[2].data, *S = c[5].data;
    const int *I = c[3].data, *M = c[4].data;
    st = check_members(be, "lowrank_rows", M, T, P);
    for (int t = 0; t < T && !st; t++) {
        if (I[t] < 0 || I[t] >= V) {
            st = esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "lowrank_rows: id %d of token %d not in [0, %d)", I[t], t,
                           V);
            break;
        }
        const float *arow = A + ((size_t)M[t] * V + (size_t)I[t]) * R, *Bk = B + (size_t)M[t] * D * R;
        for (int d = 0; d < D; d++) {
            float acc = 0.0f;
            for (int r = 0; r < R; r++) acc += arow[r] * Bk[(size_t)d * R + r];
            Y[(size_t)t * D + d] += S[t] * acc;
        }
    }
    if (!st) st = esft_upload(y, 0, Y, (size_t)T * D);
    host_free(c, nc);
    return st;
}

/* Element (i, j) of sum_k coeffs[k] * A_k . B_k^T: members ascending, then
 * rank columns. */
static float factor_sum(const float *A, const float *B, const float *coeffs, int N, int K, int R, int P, int i,
                        int j) {
    float acc = 0.0f;
    for (int k = 0; k < P; k++)
        for (int r = 0; r < R; r++) acc += coeffs[k] * A[((size_t)k * N + i) * R + r] * B[((size_t)k * K + j) * R + r];
    return acc;
}

esft_status esft_lowrank_host_update(esft_backend *be, esft_buf *w, const esft_buf *a, const esft_buf *b,
                                     const float *coeffs, int N, int K, int R, int P) {
    host_copy c[] = {{w, (size_t)N * K, NULL}, {a, (size_t)P * N * R, NULL}, {b, (size_t)P * K * R, NULL}};
    const int nc = (int)(sizeof c / sizeof c[0]);
    esft_status st = host_fetch(be, c, nc);
    if (st) return st;
    float *W = c[0].data;
    const float *A = c[1].data, *B = c[2].data;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < K; j++) W[(size_t)i * K + j] += factor_sum(A, B, coeffs, N, K, R, P, i, j);
    st = esft_upload(w, 0, W, (size_t)N * K);
    host_free(c, nc);
    return st;
}

/* The sum of lowrank_update, then the rule of esft_optim.h per element. */
esft_status esft_lowrank_host_optimize(esft_backend *be, esft_buf *master, esft_buf *state, const esft_buf *base,
                                       const esft_buf *a, const esft_buf *b, const float *coeffs, int N, int K,
                                       int R, int P, const esft_opt_step *s) {
    const size_t n = (size_t)N * K, per = s->rule == ESFT_OPT_ADAM ? 2 : s->rule == ESFT_OPT_MOMENTUM ? 1 : 0;
    host_copy c[] = {{master, n, NULL}, {a, (size_t)P * N * R, NULL}, {b, (size_t)P * K * R, NULL},
                     {state ? state : master, state ? per * n : 0, NULL}, {base ? base : master, base ? n : 0, NULL}};
    const int nc = (int)(sizeof c / sizeof c[0]);
    esft_status st = host_fetch(be, c, nc);
    if (st) return st;
    float *th = c[0].data, *mom = state ? c[3].data : NULL, *vel = per == 2 ? mom + n : NULL;
    const float *A = c[1].data, *B = c[2].data, *bs = base ? c[4].data : NULL;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < K; j++) {
            const float g = factor_sum(A, B, coeffs, N, K, R, P, i, j);
            const size_t e = (size_t)i * K + j;
            esft_opt_elem u = esft_opt_element(s->rule, th[e], g, mom ? mom[e] : 0.0f, vel ? vel[e] : 0.0f,
                                               bs ? bs[e] : 0.0f, s->lr, s->beta1, s->beta2, s->eps, s->bc1, s->bc2,
                                               s->l2, s->decay, s->anchor);
            th[e] = u.theta;
            if (mom) mom[e] = u.m;
            if (vel) vel[e] = u.v;
        }
    st = esft_upload(master, 0, th, n);
    if (!st && state) st = esft_upload(state, 0, mom, per * n);
    host_free(c, nc);
    return st;
}
