/* Transformer ops on the cpu: rmsnorm, rope, swiglu, add, get_rows,
 * attention, argmax. Straightforward loops, OpenMP-parallel over rows or
 * (token, head) where that pays. */
#include "cpu_internal.h"

#include <math.h>
#include <omp.h>

#define PAR_MIN 16384 /* elements below which ops stay on one thread */

/* --------------------------------------------------------------- rmsnorm */

esft_status esft_cpu_rmsnorm(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                             int T, int D, float eps) {
    float *Y = y->handle;
    const float *X = x->handle, *W = w->handle;
    int nt = cpu_ctx_of(be)->n_threads;
#pragma omp parallel for schedule(static) num_threads(nt) if ((size_t)T * D >= PAR_MIN && T > 1)
    for (int t = 0; t < T; t++) {
        const float *xr = X + (size_t)t * D;
        float *yr = Y + (size_t)t * D;
        double ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
        float scale = (float)(1.0 / sqrt(ss / D + (double)eps));
        for (int i = 0; i < D; i++) yr[i] = xr[i] * scale * W[i];
    }
    return ESFT_OK;
}

/* ------------------------------------------------------------------ rope */

esft_status esft_cpu_rope(esft_backend *be, esft_buf *x, const esft_buf *pos, int T, int n_heads,
                          int head_dim, float base, esft_rope_style style) {
    float *X = x->handle;
    const int32_t *P = pos->handle;
    int nt = cpu_ctx_of(be)->n_threads;
    int half = head_dim / 2;
    size_t per = esft_cpu_round16((size_t)head_dim);
    float *scr = esft_cpu_scratch(be, per * (size_t)nt);
    if (!scr) return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "rope: cannot allocate scratch");
#pragma omp parallel for schedule(static) num_threads(nt) \
    if ((size_t)T * n_heads * head_dim >= PAR_MIN && T > 1)
    for (int t = 0; t < T; t++) {
        float *cs = scr + per * (size_t)omp_get_thread_num(), *sn = cs + half;
        double p = (double)P[t];
        for (int i = 0; i < half; i++) {
            double ang = p * pow((double)base, -2.0 * i / head_dim);
            cs[i] = (float)cos(ang);
            sn[i] = (float)sin(ang);
        }
        for (int h = 0; h < n_heads; h++) {
            float *v = X + ((size_t)t * n_heads + h) * head_dim;
            if (style == ESFT_ROPE_NEOX) {
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
    return ESFT_OK;
}

/* --------------------------------------------------------- swiglu / add */

esft_status esft_cpu_swiglu(esft_backend *be, esft_buf *y, const esft_buf *gate,
                            const esft_buf *up, size_t n) {
    float *Y = y->handle;
    const float *G = gate->handle, *U = up->handle;
#pragma omp parallel for schedule(static) num_threads(cpu_ctx_of(be)->n_threads) \
    if (n >= 4 * PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float g = G[i];
        Y[i] = g / (1.0f + expf(-g)) * U[i];
    }
    return ESFT_OK;
}

esft_status esft_cpu_add(esft_backend *be, esft_buf *y, const esft_buf *a, const esft_buf *b,
                         size_t n) {
    float *Y = y->handle;
    const float *A = a->handle, *B = b->handle;
#pragma omp parallel for simd schedule(static) num_threads(cpu_ctx_of(be)->n_threads) \
    if (n >= 16 * PAR_MIN)
    for (size_t i = 0; i < n; i++) Y[i] = A[i] + B[i];
    return ESFT_OK;
}

esft_status esft_cpu_scale(esft_backend *be, esft_buf *x, size_t n, float factor) {
    float *X = x->handle;
#pragma omp parallel for simd schedule(static) num_threads(cpu_ctx_of(be)->n_threads) \
    if (n >= 16 * PAR_MIN)
    for (size_t i = 0; i < n; i++) X[i] *= factor;
    return ESFT_OK;
}

/* -------------------------------------------------------------- get_rows */

esft_status esft_cpu_get_rows(esft_backend *be, esft_buf *y, const esft_buf *table,
                              const esft_buf *ids, int T, int D) {
    const int32_t *I = ids->handle;
    size_t n_rows = table->n / (size_t)D;
    for (int t = 0; t < T; t++)
        if (I[t] < 0 || (size_t)I[t] >= n_rows)
            return esft_errf(&be->err, ESFT_ERR_INVALID_ARG,
                             "get_rows: id %d of token %d outside the table's %zu rows", I[t], t,
                             n_rows);
    float *Y = y->handle;
    size_t es = esft_dtype_size(table->dtype);
    const char *tab = table->handle;
#pragma omp parallel for schedule(static) num_threads(cpu_ctx_of(be)->n_threads) \
    if ((size_t)T * D >= 4 * PAR_MIN)
    for (int t = 0; t < T; t++)
        esft_cpu_row_to_f32(Y + (size_t)t * D, tab + (size_t)I[t] * D * es, table->dtype,
                            (size_t)D);
    return ESFT_OK;
}

/* ------------------------------------------------------------- attention */

esft_status esft_cpu_attention(esft_backend *be, esft_buf *out, const esft_buf *q,
                               const esft_buf *k, const esft_buf *v, esft_buf *kcache,
                               esft_buf *vcache, const esft_buf *seq, const esft_buf *pos, int T,
                               int n_heads, int n_kv_heads, int head_dim, int max_ctx,
                               float scale) {
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
    int G = n_heads / n_kv_heads;
    int64_t work = (int64_t)T * n_heads;
    size_t total = 0;
    for (int t = 0; t < T; t++) total += (size_t)P[t] + 1;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) \
    if (total * (size_t)n_heads * hd >= PAR_MIN)
    for (int64_t th = 0; th < work; th++) {
        int t = (int)(th / n_heads), h = (int)(th % n_heads);
        float *sc = scr + per * (size_t)omp_get_thread_num();
        float *acc = sc + esft_cpu_round16((size_t)max_ctx);
        const float *qv = Q + ((size_t)t * n_heads + h) * hd;
        const float *kb = KC + (size_t)S[t] * slot + (size_t)(h / G) * hd;
        const float *vb = VC + (size_t)S[t] * slot + (size_t)(h / G) * hd;
        int np = P[t] + 1;
        float mx = -INFINITY;
        for (int j = 0; j < np; j++) {
            const float *kv = kb + (size_t)j * row;
            float s = 0;
#pragma omp simd reduction(+ : s)
            for (size_t d = 0; d < hd; d++) s += qv[d] * kv[d];
            s *= scale;
            sc[j] = s;
            if (s > mx) mx = s;
        }
        float sum = 0;
        for (int j = 0; j < np; j++) {
            float e = expf(sc[j] - mx);
            sc[j] = e;
            sum += e;
        }
        for (size_t d = 0; d < hd; d++) acc[d] = 0;
        for (int j = 0; j < np; j++) {
            const float *vv = vb + (size_t)j * row;
            float p = sc[j];
#pragma omp simd
            for (size_t d = 0; d < hd; d++) acc[d] += p * vv[d];
        }
        float inv = 1.0f / sum;
        float *o = O + ((size_t)t * n_heads + h) * hd;
        for (size_t d = 0; d < hd; d++) o[d] = acc[d] * inv;
    }
    return ESFT_OK;
}

/* ---------------------------------------------------------------- argmax */

esft_status esft_cpu_argmax(esft_backend *be, esft_buf *ids, const esft_buf *x, int T, int N) {
    int32_t *I = ids->handle;
    const float *X = x->handle;
#pragma omp parallel for schedule(static) num_threads(cpu_ctx_of(be)->n_threads) \
    if ((size_t)T * N >= 16 * PAR_MIN && T > 1)
    for (int t = 0; t < T; t++) {
        const float *r = X + (size_t)t * N;
        int best = 0;
        float bv = r[0];
        for (int i = 1; i < N; i++)
            if (r[i] > bv || (bv != bv && r[i] == r[i])) { /* a NaN never wins over a number */
                bv = r[i];
                best = i;
            }
        I[t] = best;
    }
    return ESFT_OK;
}
