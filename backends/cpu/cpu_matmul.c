/* y[T x N] = x[T x K] . W[N x K]^T (+ bias) on the cpu.
 *
 * The rows of W are split across the threads; each thread multiplies its
 * rows by all of x with cpu_gemm.c on one core: its own kernel (row-major W
 * read in place, register tiles along K) for decode-sized T, single-threaded
 * OpenBLAS sgemm from ESFT_CPU_GEMM_BLAS_MIN_T rows up, where sgemm's packing
 * pays for itself. One thread pool, no BLAS threads fighting ours.
 * f16/bf16 W: each thread converts ~1 MB blocks of its rows to f32 in
 * scratch and multiplies those. The bias is added after. */
#include "cpu_internal.h"

#include <omp.h>

/* Splits [0, N) into per-thread ranges that are multiples of 12 rows (the
 * kernels' 3- and 4-row W tiles both divide it). */
static void thread_range(int N, int nt, int t, int *n0, int *n1) {
    enum { G = 12 };
    int groups = (N + G - 1) / G;
    int per = groups / nt, extra = groups % nt;
    int g0 = t * per + (t < extra ? t : extra);
    int g1 = g0 + per + (t < extra ? 1 : 0);
    *n0 = g0 * G < N ? g0 * G : N;
    *n1 = g1 * G < N ? g1 * G : N;
}

esft_status esft_cpu_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                            const esft_buf *bias, int T, int N, int K) {
    const cpu_ctx *c = cpu_ctx_of(be);
    const int nt = c->n_threads;
    const esft_cpu_gemm_path path = c->gemm_path;
    float *Y = y->handle;
    const float *X = x->handle;
    const esft_dtype wd = w->dtype;
    /* small problems are not worth waking threads for */
    const int par = (size_t)N * (size_t)K * (size_t)T >= 65536;

    if (wd == ESFT_F32) {
        const float *W = w->handle;
#pragma omp parallel num_threads(nt) if (par)
        {
            int n0, n1;
            thread_range(N, omp_get_num_threads(), omp_get_thread_num(), &n0, &n1);
            esft_cpu_gemm_nt(path, Y + n0, (size_t)N, X, (size_t)K, W + (size_t)n0 * K, (size_t)K,
                             T, n1 - n0, K);
        }
    } else {
        /* blocks of nb rows of W converted to f32, ~1 MB per thread */
        const size_t es = esft_dtype_size(wd);
        const char *W = w->handle;
        int nb = (int)((size_t)(1u << 18) / (size_t)(K > 0 ? K : 1));
        if (nb < 16) nb = 16;
        if (nb > N) nb = N;
        const size_t per = esft_cpu_round16((size_t)nb * (size_t)K);
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
                esft_cpu_gemm_nt(path, Y + b0, (size_t)N, X, (size_t)K, mine, (size_t)K, T, cnt, K);
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
