/* y[T x N] = x[T x K] . W[N x K]^T (+ bias) on the cpu.
 *
 * The rows of W are cut into chunks (several per thread, claimed by the
 * pool's threads as they come free); each chunk multiplies its rows by all
 * of x with cpu_gemm.c on one core: its own kernel (row-major W read in
 * place, register tiles along K) for decode-sized T, single-threaded
 * OpenBLAS sgemm from ESFT_CPU_GEMM_BLAS_MIN_T rows up, where sgemm's
 * packing pays for itself. One thread pool, no BLAS threads fighting ours.
 * f16/bf16 W (--work-dtype): the kernels widen W as they load it, so
 * decoding reads half the bytes; only for OpenBLAS (f32 only) is each chunk
 * converted to f32 in blocks of ~1 MB in its thread's scratch and multiplied
 * from there. The bias is added after. */
#include "cpu_internal.h"

typedef struct matmul_job {
    float *Y;
    const float *X;
    const void *W;
    esft_dtype wd;
    esft_cpu_gemm_path path;
    int T, N, K;
    float *scr; /* f16/bf16 W into OpenBLAS: `per` floats per pool thread, else NULL */
    size_t per;
    int nb; /* rows of W per converted block */
} matmul_job;

/* Rows [n0, n1) of W: columns [n0, n1) of y. */
static void matmul_rows(void *arg, size_t n0, size_t n1, int worker) {
    const matmul_job *j = arg;
    const int T = j->T, N = j->N, K = j->K;
    const size_t es = esft_dtype_size(j->wd);
    if (!j->scr) {
        esft_cpu_gemm_nt_w(j->path, j->wd, j->Y + n0, (size_t)N, j->X, (size_t)K,
                           (const char *)j->W + n0 * (size_t)K * es, (size_t)K, T,
                           (int)(n1 - n0), K);
        return;
    }
    float *mine = j->scr + j->per * (size_t)worker;
    for (size_t b0 = n0; b0 < n1; b0 += (size_t)j->nb) {
        size_t cnt = n1 - b0 < (size_t)j->nb ? n1 - b0 : (size_t)j->nb;
        for (size_t r = 0; r < cnt; r++)
            esft_cpu_row_to_f32(mine + r * K, (const char *)j->W + (b0 + r) * K * es, j->wd, (size_t)K);
        esft_cpu_gemm_nt(j->path, j->Y + b0, (size_t)N, j->X, (size_t)K, mine, (size_t)K, T,
                         (int)cnt, K);
    }
}

esft_status esft_cpu_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                            const esft_buf *bias, int T, int N, int K) {
    const cpu_ctx *c = cpu_ctx_of(be);
    matmul_job j = {y->handle, x->handle, w->handle, w->dtype, c->gemm_path, T, N, K, NULL, 0, 0};
    const bool blas = esft_cpu_gemm_resolve(j.path, T) == ESFT_CPU_GEMM_BLAS;
    if (j.wd != ESFT_F32 && blas) {
        j.nb = (int)((size_t)(1u << 18) / (size_t)(K > 0 ? K : 1));
        if (j.nb < 16) j.nb = 16;
        if (j.nb > N) j.nb = N;
        j.per = esft_cpu_round16((size_t)j.nb * (size_t)K);
        j.scr = esft_cpu_scratch(be, j.per * (size_t)c->n_threads);
        if (!j.scr)
            return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "matmul: cannot allocate scratch");
    }
    /* small problems are not worth waking threads for; chunks are a
     * multiple of 12 rows (the kernels' 3- and 4-row W tiles divide it),
     * 4 per thread, but 1 for OpenBLAS, which packs all of x in each call */
    const int par = (size_t)N * (size_t)K * (size_t)T >= 65536;
    const size_t per_thread = blas ? 1 : 4;
    esft_cpu_parallel(be, (size_t)N, per_thread, 12, par, matmul_rows, &j);

    if (bias) {
        float *Y = y->handle;
        const float *B = bias->handle;
        for (int t = 0; t < T; t++) {
            float *yr = Y + (size_t)t * N;
            for (int n = 0; n < N; n++) yr[n] += B[n];
        }
    }
    return ESFT_OK;
}
