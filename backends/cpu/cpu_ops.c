/* Transformer ops on the cpu: rmsnorm, rope, swiglu, add, get_rows,
 * attention, argmax. Straightforward loops, shared out on the backend's
 * thread pool (cpu_pool.h) over rows or (token, head) where that pays: each
 * op's loop body is a range function over its items. */
#include "cpu_internal.h"

#include <math.h>

#define PAR_MIN 16384 /* elements below which ops stay on one thread */

/* --------------------------------------------------------------- rmsnorm */

typedef struct rmsnorm_job {
    float *Y;
    const float *X, *W;
    int D;
    float eps;
} rmsnorm_job;

static void rmsnorm_rows(void *arg, size_t t0, size_t t1, int worker) {
    (void)worker;
    const rmsnorm_job *j = arg;
    const int D = j->D;
    const float *W = j->W;
    for (size_t t = t0; t < t1; t++) {
        const float *xr = j->X + t * D;
        float *yr = j->Y + t * D;
        double ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
        float scale = (float)(1.0 / sqrt(ss / D + (double)j->eps));
        for (int i = 0; i < D; i++) yr[i] = xr[i] * scale * W[i];
    }
}

esft_status esft_cpu_rmsnorm(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                             int T, int D, float eps) {
    rmsnorm_job j = {y->handle, x->handle, w->handle, D, eps};
    esft_cpu_parallel(be, (size_t)T, 4, 1, (size_t)T * D >= PAR_MIN, rmsnorm_rows, &j);
    return ESFT_OK;
}

/* ------------------------------------------------------------------ rope */

typedef struct rope_job {
    float *X, *scr; /* scr: `per` floats per pool thread */
    const int32_t *P;
    size_t per;
    int n_heads, head_dim;
    float base;
    const float *freq_factors; /* [head_dim / 2] or NULL */
    const double *theta;       /* [head_dim / 2]: rope_theta of each pair, or NULL */
    esft_rope_style style;
} rope_job;

/* Pair i's angle per position before its factor: base^(-2i/hd). */
static double rope_theta(const rope_job *j, int i) {
    return pow((double)j->base, -2.0 * i / j->head_dim);
}

static void rope_tokens(void *arg, size_t t0, size_t t1, int worker) {
    const rope_job *j = arg;
    const int n_heads = j->n_heads, head_dim = j->head_dim, half = head_dim / 2;
    float *X = j->X;
    for (size_t t = t0; t < t1; t++) {
        float *cs = j->scr + j->per * (size_t)worker, *sn = cs + half;
        double p = (double)j->P[t];
        for (int i = 0; i < half; i++) {
            double ang = p * (j->theta ? j->theta[i] : rope_theta(j, i));
            if (j->freq_factors) ang /= (double)j->freq_factors[i];
            cs[i] = (float)cos(ang);
            sn[i] = (float)sin(ang);
        }
        for (int h = 0; h < n_heads; h++) {
            float *v = X + ((size_t)t * n_heads + h) * head_dim;
            if (j->style == ESFT_ROPE_NEOX) {
                for (int i = 0; i < half; i++) {
                    float a = v[i], b = v[i + half];
                    v[i] = a * cs[i] - b * sn[i];
                    v[i + half] = a * sn[i] + b * cs[i];
                }
            } else {
                for (int i = 0; i < half; i++) {
                    float a = v[2 * i], b = v[2 * i + 1];
                    v[2 * i] = a * cs[i] - b * sn[i];
                    v[2 * i + 1] = a * sn[i] + b * cs[i];
                }
            }
        }
    }
}

esft_status esft_cpu_rope(esft_backend *be, esft_buf *x, const esft_buf *pos, int T, int n_heads,
                          int head_dim, float base, const esft_buf *freq_factors, esft_rope_style style) {
    size_t per = esft_cpu_round16((size_t)head_dim);
    float *scr = esft_cpu_scratch(be, per * (size_t)cpu_ctx_of(be)->n_threads);
    if (!scr) return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "rope: cannot allocate scratch");
    rope_job j = {x->handle, scr, pos->handle, per, n_heads, head_dim, base,
                  freq_factors ? freq_factors->handle : NULL, NULL, style};
    /* the angles per position once per call, not once per token (pow was a
     * quarter of rope's samples at batch 64); the same doubles either way */
    double theta[256];
    if (head_dim / 2 <= 256) {
        for (int i = 0; i < head_dim / 2; i++) theta[i] = rope_theta(&j, i);
        j.theta = theta;
    }
    esft_cpu_parallel(be, (size_t)T, 4, 1, (size_t)T * n_heads * head_dim >= PAR_MIN, rope_tokens, &j);
    return ESFT_OK;
}

/* ---------------------------------------------------- swiglu, add, scale */

/* y = f(a, b) element by element (scale: a is y, b unused). */
typedef struct elementwise_job {
    float *Y;
    const float *A, *B;
    float factor;
} elementwise_job;

/* e^x within 4 ulp (2.3e-7) for x in [-87, 88] (clamped there: the f32
 * normal range; NaN becomes -87): x = n ln2 + r with |r| <= ln2/2, e^r by
 * its Taylor series to r^6, 2^n written into the exponent bits. Plain
 * arithmetic, so the loop calling it vectorizes: with libm's expf, a call
 * per element, SiLU was the largest cost of a decode step after the GEMMs
 * and attention (perf, batch 64: swiglu + expf 5% of the samples). */
static inline float exp_clamped(float x) {
    x = x > -87.0f ? x : -87.0f;
    x = x < 88.0f ? x : 88.0f;
    const float to_int = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    const float n = (x * 1.44269504f + to_int) - to_int;
    const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f; /* ln 2 in two parts */
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return p * two_n;
}

static void swiglu_range(void *arg, size_t i0, size_t i1, int worker) {
    (void)worker;
    const elementwise_job *j = arg;
    float *restrict Y = j->Y;
    const float *restrict A = j->A, *restrict B = j->B;
#pragma omp simd
    for (size_t i = i0; i < i1; i++) Y[i] = A[i] / (1.0f + exp_clamped(-A[i])) * B[i];
}

/* tanh form of GELU, as transformers' gelu_pytorch_tanh and llama.cpp */
static void geglu_range(void *arg, size_t i0, size_t i1, int worker) {
    (void)worker;
    const elementwise_job *j = arg;
    const float c = 0.7978845608028654f; /* sqrt(2 / pi) */
    for (size_t i = i0; i < i1; i++) {
        float g = j->A[i];
        j->Y[i] = 0.5f * g * (1.0f + tanhf(c * (g + 0.044715f * g * g * g))) * j->B[i];
    }
}

static void add_range(void *arg, size_t i0, size_t i1, int worker) {
    (void)worker;
    const elementwise_job *j = arg;
    float *restrict Y = j->Y;
    const float *restrict A = j->A, *restrict B = j->B;
#pragma omp simd
    for (size_t i = i0; i < i1; i++) Y[i] = A[i] + B[i];
}

static void scale_range(void *arg, size_t i0, size_t i1, int worker) {
    (void)worker;
    const elementwise_job *j = arg;
    float *restrict Y = j->Y;
    const float f = j->factor;
#pragma omp simd
    for (size_t i = i0; i < i1; i++) Y[i] *= f;
}

esft_status esft_cpu_swiglu(esft_backend *be, esft_buf *y, const esft_buf *gate,
                            const esft_buf *up, size_t n) {
    elementwise_job j = {y->handle, gate->handle, up->handle, 0};
    esft_cpu_parallel(be, n, 4, 16, n >= 4 * PAR_MIN, swiglu_range, &j);
    return ESFT_OK;
}

esft_status esft_cpu_geglu(esft_backend *be, esft_buf *y, const esft_buf *gate,
                           const esft_buf *up, size_t n) {
    elementwise_job j = {y->handle, gate->handle, up->handle, 0};
    esft_cpu_parallel(be, n, 4, 16, n >= 4 * PAR_MIN, geglu_range, &j);
    return ESFT_OK;
}

esft_status esft_cpu_add(esft_backend *be, esft_buf *y, const esft_buf *a, const esft_buf *b,
                         size_t n) {
    elementwise_job j = {y->handle, a->handle, b->handle, 0};
    esft_cpu_parallel(be, n, 4, 16, n >= 16 * PAR_MIN, add_range, &j);
    return ESFT_OK;
}

esft_status esft_cpu_scale(esft_backend *be, esft_buf *x, size_t n, float factor) {
    elementwise_job j = {x->handle, NULL, NULL, factor};
    esft_cpu_parallel(be, n, 4, 16, n >= 16 * PAR_MIN, scale_range, &j);
    return ESFT_OK;
}

/* -------------------------------------------------------------- get_rows */

typedef struct get_rows_job {
    float *Y;
    const char *table;
    const int32_t *ids;
    esft_dtype dtype;
    size_t D;
} get_rows_job;

static void get_rows_range(void *arg, size_t t0, size_t t1, int worker) {
    (void)worker;
    const get_rows_job *j = arg;
    const size_t es = esft_dtype_size(j->dtype);
    for (size_t t = t0; t < t1; t++)
        esft_cpu_row_to_f32(j->Y + t * j->D, j->table + (size_t)j->ids[t] * j->D * es, j->dtype, j->D);
}

esft_status esft_cpu_get_rows(esft_backend *be, esft_buf *y, const esft_buf *table,
                              const esft_buf *ids, int T, int D) {
    const int32_t *I = ids->handle;
    size_t n_rows = table->n / (size_t)D;
    for (int t = 0; t < T; t++)
        if (I[t] < 0 || (size_t)I[t] >= n_rows)
            return esft_errf(&be->err, ESFT_ERR_INVALID_ARG,
                             "get_rows: id %d of token %d outside the table's %zu rows", I[t], t,
                             n_rows);
    get_rows_job j = {y->handle, table->handle, I, table->dtype, (size_t)D};
    esft_cpu_parallel(be, (size_t)T, 4, 1, (size_t)T * D >= 4 * PAR_MIN, get_rows_range, &j);
    return ESFT_OK;
}

/* ------------------------------------------------------------- attention */

typedef struct attention_job {
    float *O, *scr; /* scr: `per` floats per pool thread */
    const float *Q, *KC, *VC;
    const int32_t *S, *P;
    size_t per, row, slot, hd;
    int n_heads, G, max_ctx, window;
    float scale;
    esft_cpu_gemm_path path;
} attention_job;

/* acc[0 .. hd) = sum_j p[j] * V row j (rows `row` apart), j < n. Columns in
 * blocks of ATT_BLOCK held in registers over all j: one load and one FMA
 * per element, where a running sum in memory costs a load and a store
 * more (perf: 38% of attention's samples when it did). */
enum { ATT_BLOCK = 32 };
static void weighted_rows(float *restrict acc, const float *restrict p, const float *restrict V,
                          size_t row, int n, size_t hd) {
    size_t d0 = 0;
    for (; d0 + ATT_BLOCK <= hd; d0 += ATT_BLOCK) {
        float a[ATT_BLOCK] = {0};
        for (int j = 0; j < n; j++) {
            const float *v = V + (size_t)j * row + d0;
            const float pj = p[j];
#pragma omp simd
            for (int d = 0; d < ATT_BLOCK; d++) a[d] += pj * v[d];
        }
        memcpy(acc + d0, a, sizeof a);
    }
    for (size_t d = d0; d < hd; d++) { /* head sizes that are not a multiple of the block */
        float a = 0;
        for (int j = 0; j < n; j++) a += p[j] * V[(size_t)j * row + d];
        acc[d] = a;
    }
}

/* Items [i0, i1) of T x n_heads: scores, softmax, weighted sum of values.
 * The scores q . K^T are a 1-row product with the keys as W, so they go
 * through the matmul's own kernel (cpu_gemm.c): register tiles across
 * positions, where a dot product per position with its own lane sum was
 * bound by the sum's latency. Each item stands alone: results never depend
 * on the batch. */
static void attention_items(void *arg, size_t i0, size_t i1, int worker) {
    const attention_job *jb = arg;
    const size_t hd = jb->hd, row = jb->row, slot = jb->slot;
    const int n_heads = jb->n_heads, G = jb->G;
    const float scale = jb->scale;
    const int32_t *S = jb->S, *P = jb->P;
    for (size_t th = i0; th < i1; th++) {
        int t = (int)(th / (size_t)n_heads), h = (int)(th % (size_t)n_heads);
        float *sc = jb->scr + jb->per * (size_t)worker;
        float *acc = sc + esft_cpu_round16((size_t)jb->max_ctx);
        const float *qv = jb->Q + ((size_t)t * n_heads + h) * hd;
        const float *kb = jb->KC + (size_t)S[t] * slot + (size_t)(h / G) * hd;
        const float *vb = jb->VC + (size_t)S[t] * slot + (size_t)(h / G) * hd;
        /* positions [j0, P[t]]: the whole causal past, or the window */
        const int j0 = jb->window > 0 && P[t] >= jb->window ? P[t] - jb->window + 1 : 0, np = P[t] + 1;
        const int n = np - j0;
        esft_cpu_gemm_nt(jb->path, sc, (size_t)n, qv, hd, kb + (size_t)j0 * row, row, 1, n, (int)hd);
        float mx = -INFINITY;
        for (int j = 0; j < n; j++) {
            sc[j] *= scale;
            if (sc[j] > mx) mx = sc[j];
        }
        float sum = 0; /* exponents <= 0: exp_clamped's floor of e^-87 is nothing beside e^0 */
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < n; j++) {
            float e = exp_clamped(sc[j] - mx);
            sc[j] = e;
            sum += e;
        }
        weighted_rows(acc, sc, vb + (size_t)j0 * row, row, n, hd);
        float inv = 1.0f / sum;
        float *o = jb->O + ((size_t)t * n_heads + h) * hd;
        for (size_t d = 0; d < hd; d++) o[d] = acc[d] * inv;
    }
}

esft_status esft_cpu_attention(esft_backend *be, esft_buf *out, const esft_buf *q,
                               const esft_buf *k, const esft_buf *v, esft_buf *kcache,
                               esft_buf *vcache, const esft_buf *seq, const esft_buf *pos, int T,
                               int n_heads, int n_kv_heads, int head_dim, int max_ctx,
                               int window, float scale) {
    const int32_t *S = seq->handle, *P = pos->handle;
    size_t hd = (size_t)head_dim;
    size_t row = (size_t)n_kv_heads * hd;       /* one position of one slot */
    size_t slot = (size_t)max_ctx * row;
    size_t n_slots = kcache->n / slot;
    for (int t = 0; t < T; t++) {
        if (S[t] < 0 || (size_t)S[t] >= n_slots)
            return esft_errf(&be->err, ESFT_ERR_INVALID_ARG,
                             "attention: token %d has sequence slot %d outside [0, %zu)", t, S[t],
                             n_slots);
        if (P[t] < 0 || P[t] >= max_ctx)
            return esft_errf(&be->err, ESFT_ERR_INVALID_ARG,
                             "attention: token %d has position %d outside [0, %d)", t, P[t],
                             max_ctx);
    }
    int nt = cpu_ctx_of(be)->n_threads;
    float *KC = kcache->handle, *VC = vcache->handle;
    const float *Kin = k->handle, *Vin = v->handle, *Q = q->handle;
    float *O = out->handle;

    /* 1. store this call's keys and values */
    for (int t = 0; t < T; t++) {
        size_t dst = (size_t)S[t] * slot + (size_t)P[t] * row;
        memcpy(KC + dst, Kin + (size_t)t * row, row * sizeof(float));
        memcpy(VC + dst, Vin + (size_t)t * row, row * sizeof(float));
    }

    /* 2. per (token, head): scores, softmax, weighted sum of values */
    size_t per = esft_cpu_round16((size_t)max_ctx) + esft_cpu_round16(hd);
    float *scr = esft_cpu_scratch(be, per * (size_t)nt);
    if (!scr)
        return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "attention: cannot allocate scratch");
    size_t total = 0;
    for (int t = 0; t < T; t++) total += (size_t)P[t] + 1;
    /* scores: the matmul's path for a 1-row product (its kernel unless
     * ESFT_CPU_GEMM forces another) */
    attention_job j = {O, scr, Q, KC, VC, S, P, per, row, slot, hd, n_heads, n_heads / n_kv_heads,
                       max_ctx, window, scale, esft_cpu_gemm_resolve(cpu_ctx_of(be)->gemm_path, 1)};
    /* (token, head) items differ in length (positions): small chunks */
    esft_cpu_parallel(be, (size_t)T * n_heads, 16, 1, total * (size_t)n_heads * hd >= PAR_MIN,
                      attention_items, &j);
    return ESFT_OK;
}

/* ---------------------------------------------------------------- argmax */

typedef struct argmax_job {
    int32_t *I;
    const float *X;
    int N;
} argmax_job;

static void argmax_rows(void *arg, size_t t0, size_t t1, int worker) {
    (void)worker;
    const argmax_job *j = arg;
    const int N = j->N;
    for (size_t t = t0; t < t1; t++) {
        const float *r = j->X + t * N;
        int best = 0;
        float bv = r[0];
        for (int i = 1; i < N; i++)
            if (r[i] > bv || (bv != bv && r[i] == r[i])) { /* a NaN never wins over a number */
                bv = r[i];
                best = i;
            }
        j->I[t] = best;
    }
}

esft_status esft_cpu_argmax(esft_backend *be, esft_buf *ids, const esft_buf *x, int T, int N) {
    argmax_job j = {ids->handle, x->handle, N};
    esft_cpu_parallel(be, (size_t)T, 4, 1, (size_t)T * N >= 16 * PAR_MIN, argmax_rows, &j);
    return ESFT_OK;
}
