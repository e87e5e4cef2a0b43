/* y[T x N] = x[T x K] . W[N x K]^T (+ bias) on the cpu.
 *
 * f32 W:
 *  - T == 1 (decode of one sequence): a threaded GEMV, W rows split across
 *    threads, 4 rows per pass so x is reused from registers; the dot
 *    products are `omp simd` reductions. Memory-bound: W is read once
 *    (measured at the machine's read bandwidth, ~30 GB/s on 2 cores).
 *  - 2 <= T <= SMALL_T (batched decode): the same streaming kernel with a
 *    4-row x 2-token register tile, each 16-row block of W reused from L1
 *    for all tokens, so W is still read from memory once.
 *  - T > SMALL_T: single-threaded OpenBLAS sgemm on each thread's rows of W,
 *    or, in a build without OpenBLAS (ESFT_OPENBLAS=OFF), the same register
 *    tile blocked over K and W rows so both operands are reused from cache.
 * f16/bf16 W: rows are converted on the fly (T == 1) or in ~4 MB blocks of
 * rows into scratch and multiplied as f32. The bias is added after. */
#include "cpu_internal.h"

#include <stdbool.h>

#ifdef ESFT_HAVE_OPENBLAS
#include <cblas.h>
#endif
#include <omp.h>

/* Rows [n0, n1) of y = W x for one token, f32 W whose rows are ldw floats
 * apart, over K columns; acc adds to y instead (K-blocked GEMM). */
static void gemv_f32_rows(float *restrict y, const float *restrict x, const float *restrict W,
                          size_t ldw, int n0, int n1, int K, bool acc) {
    int n = n0;
    for (; n + 4 <= n1; n += 4) {
        const float *w0 = W + (size_t)n * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
        for (int k = 0; k < K; k++) {
            s0 += x[k] * w0[k];
            s1 += x[k] * w1[k];
            s2 += x[k] * w2[k];
            s3 += x[k] * w3[k];
        }
        if (acc) s0 += y[n], s1 += y[n + 1], s2 += y[n + 2], s3 += y[n + 3];
        y[n] = s0;
        y[n + 1] = s1;
        y[n + 2] = s2;
        y[n + 3] = s3;
    }
    for (; n < n1; n++) {
        const float *w0 = W + (size_t)n * ldw;
        float s0 = 0;
#pragma omp simd reduction(+ : s0)
        for (int k = 0; k < K; k++) s0 += x[k] * w0[k];
        y[n] = acc ? y[n] + s0 : s0;
    }
}

/* y0/y1 rows [n0, n1) for two tokens x0, x1: a 4-row x 2-token register tile. */
static void gemv2_f32_rows(float *restrict y0, float *restrict y1, const float *restrict x0,
                           const float *restrict x1, const float *restrict W, size_t ldw, int n0,
                           int n1, int K, bool acc) {
    int n = n0;
    for (; n + 4 <= n1; n += 4) {
        const float *w0 = W + (size_t)n * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
#pragma omp simd reduction(+ : a0, a1, a2, a3, b0, b1, b2, b3)
        for (int k = 0; k < K; k++) {
            a0 += x0[k] * w0[k];
            a1 += x0[k] * w1[k];
            a2 += x0[k] * w2[k];
            a3 += x0[k] * w3[k];
            b0 += x1[k] * w0[k];
            b1 += x1[k] * w1[k];
            b2 += x1[k] * w2[k];
            b3 += x1[k] * w3[k];
        }
        if (acc) {
            a0 += y0[n], a1 += y0[n + 1], a2 += y0[n + 2], a3 += y0[n + 3];
            b0 += y1[n], b1 += y1[n + 1], b2 += y1[n + 2], b3 += y1[n + 3];
        }
        y0[n] = a0, y0[n + 1] = a1, y0[n + 2] = a2, y0[n + 3] = a3;
        y1[n] = b0, y1[n + 1] = b1, y1[n + 2] = b2, y1[n + 3] = b3;
    }
    if (n < n1) {
        gemv_f32_rows(y0, x0, W, ldw, n, n1, K, acc);
        gemv_f32_rows(y1, x1, W, ldw, n, n1, K, acc);
    }
}

/* Rows [n0, n1) of y (rows ldy floats apart) = x W^T over columns
 * [k0, k0 + kc) of x and W (rows ldx and ldw floats apart), all T tokens,
 * 2 at a time; acc adds to y. Each nb-row block of W is read once and
 * reused from cache for every token. */
static void gemm_panel(float *restrict Y, size_t ldy, const float *restrict X, size_t ldx,
                       const float *restrict W, size_t ldw, int T, int n0, int n1, int k0, int kc,
                       int nb, bool acc) {
    for (int b = n0; b < n1; b += nb) {
        int e = b + nb < n1 ? b + nb : n1;
        int t = 0;
        for (; t + 2 <= T; t += 2)
            gemv2_f32_rows(Y + (size_t)t * ldy, Y + (size_t)(t + 1) * ldy, X + (size_t)t * ldx + k0,
                           X + (size_t)(t + 1) * ldx + k0, W + k0, ldw, b, e, kc, acc);
        if (t < T) gemv_f32_rows(Y + (size_t)t * ldy, X + (size_t)t * ldx + k0, W + k0, ldw, b, e, kc, acc);
    }
}

/* Rows [n0, n1) of y = x W^T for a few tokens, f32 W: each block of W rows
 * is read from memory once and reused from L1/L2 for all T tokens. */
static void gemm_small_rows(float *restrict Y, const float *restrict X, const float *restrict W,
                            int T, int n0, int n1, int N, int K) {
    gemm_panel(Y, (size_t)N, X, (size_t)K, W, (size_t)K, T, n0, n1, 0, K, 16, false);
}

/* Y[T x cnt] (rows ldy floats apart) = X[T x K] . Wr[cnt x K]^T on one
 * thread: OpenBLAS sgemm when built with it, else gemm_panel blocked so an
 * 8-row x 1024-column block of W (32 KB) stays in L1/L2 while every token
 * passes over it. Long K blocks measured best (about half of OpenBLAS):
 * each 4x2 tile ends in 8 horizontal sums, so short blocks pay for them
 * more often than they gain in locality. */
static void sgemm_nt(float *Y, int ldy, const float *X, const float *Wr, int T, int cnt, int K) {
#ifdef ESFT_HAVE_OPENBLAS
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, cnt, K, 1.0f, X, K, Wr, K, 0.0f, Y, ldy);
#else
    enum { KB = 1024, NB = 8 };
    for (int k0 = 0; k0 < K; k0 += KB)
        gemm_panel(Y, (size_t)ldy, X, (size_t)K, Wr, (size_t)K, T, 0, cnt, k0,
                   K - k0 < KB ? K - k0 : KB, NB, k0 > 0);
#endif
}

static float dot_f32(const float *restrict a, const float *restrict b, int K) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int k = 0; k < K; k++) s += a[k] * b[k];
    return s;
}

/* Up to this many tokens, W is streamed once through a GEMV-style kernel
 * (memory-bound, like decode); above it sgemm's blocking wins. */
#ifndef SMALL_T
#define SMALL_T 8
#endif

/* Splits [0, N) into per-thread ranges that are multiples of 4 rows. */
static void thread_range(int N, int nt, int t, int *n0, int *n1) {
    int groups = (N + 3) / 4;
    int per = groups / nt, extra = groups % nt;
    int g0 = t * per + (t < extra ? t : extra);
    int g1 = g0 + per + (t < extra ? 1 : 0);
    *n0 = g0 * 4 < N ? g0 * 4 : N;
    *n1 = g1 * 4 < N ? g1 * 4 : N;
}

esft_status esft_cpu_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                            const esft_buf *bias, int T, int N, int K) {
    int nt = cpu_ctx_of(be)->n_threads;
    float *Y = y->handle;
    const float *X = x->handle;
    esft_dtype wd = w->dtype;
    /* small problems are not worth waking threads for */
    int par = (size_t)N * (size_t)K * (size_t)T >= 65536;

    if (wd == ESFT_F32) {
        const float *W = w->handle;
        if (T == 1) {
#pragma omp parallel num_threads(nt) if (par)
            {
                int n0, n1;
                thread_range(N, omp_get_num_threads(), omp_get_thread_num(), &n0, &n1);
                gemv_f32_rows(Y, X, W, (size_t)K, n0, n1, K, false);
            }
        } else if (T <= SMALL_T) {
#pragma omp parallel num_threads(nt) if (par)
            {
                int n0, n1;
                thread_range(N, omp_get_num_threads(), omp_get_thread_num(), &n0, &n1);
                gemm_small_rows(Y, X, W, T, n0, n1, N, K);
            }
        } else {
            /* Each thread multiplies its own rows of W single-threaded: one
             * thread pool, no spinning OpenMP workers fighting BLAS threads
             * for the cores. */
#pragma omp parallel num_threads(nt) if (par)
            {
                int n0, n1;
                thread_range(N, omp_get_num_threads(), omp_get_thread_num(), &n0, &n1);
                if (n1 > n0) sgemm_nt(Y + n0, N, X, W + (size_t)n0 * K, T, n1 - n0, K);
            }
        }
    } else if (T == 1) {
        /* per-thread converted row */
        size_t per = esft_cpu_round16((size_t)K);
        float *scr = esft_cpu_scratch(be, per * (size_t)nt);
        if (!scr)
            return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "matmul: cannot allocate scratch");
        size_t es = esft_dtype_size(wd);
        const char *W = w->handle;
#pragma omp parallel for schedule(static) num_threads(nt) if (par)
        for (int n = 0; n < N; n++) {
            float *row = scr + per * (size_t)omp_get_thread_num();
            esft_cpu_row_to_f32(row, W + (size_t)n * K * es, wd, (size_t)K);
            Y[n] = dot_f32(X, row, K);
        }
    } else {
        /* Each thread converts blocks of its rows of W to f32 (~1 MB of
         * scratch per thread) and multiplies them with sgemm_nt into
         * y[:, n0 .. n0+cnt). */
        size_t es = esft_dtype_size(wd);
        const char *W = w->handle;
        int nb = (int)((size_t)(1u << 18) / (size_t)K);
        if (nb < 16) nb = 16;
        if (nb > N) nb = N;
        const size_t per = (size_t)nb * (size_t)K;
        float *scr = esft_cpu_scratch(be, per * (size_t)nt);
        if (!scr)
            return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "matmul: cannot allocate scratch");
#pragma omp parallel num_threads(nt) if (par)
        {
            int n0, n1;
            thread_range(N, omp_get_num_threads(), omp_get_thread_num(), &n0, &n1);
            float *mine = scr + per * (size_t)omp_get_thread_num();
            for (int b0 = n0; b0 < n1; b0 += nb) {
                int cnt = n1 - b0 < nb ? n1 - b0 : nb;
                for (int r = 0; r < cnt; r++)
                    esft_cpu_row_to_f32(mine + (size_t)r * K, W + (size_t)(b0 + r) * K * es, wd,
                                        (size_t)K);
                sgemm_nt(Y + b0, N, X, mine, T, cnt, K);
            }
        }
    }

    if (bias) {
        const float *B = bias->handle;
        for (int t = 0; t < T; t++) {
            float *yr = Y + (size_t)t * N;
            for (int n = 0; n < N; n++) yr[n] += B[n];
        }
    }
    return ESFT_OK;
}
