/* The cpu GEMM (backends/cpu/cpu_gemm.c) on every path this machine runs
 * (plain C, AVX2, AVX-512, OpenBLAS), for f32, bf16 and f16 W (the 16-bit
 * kinds widened on the fly), against a plain double-precision loop over the
 * same rounded W,
 * over awkward shapes: 1..17, 64 and 256 rows of x (partial register tiles
 * and several row blocks), K not a multiple of any vector width and above
 * the 1024-float K block, odd N, and row strides wider than the rows.
 * Then the backend's matmul with each path forced and each W dtype, threads
 * and bias on. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "cpu/cpu_backend.h"
#include "cpu/cpu_gemm.h"
#include "esft_half.h"
#include "testutil.h"

/* Deterministic values in [-1, 1). */
static float *rand_f32(size_t n, uint64_t seed) {
    float *v = malloc(n * sizeof *v);
    if (!v) return NULL;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        v[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    return v;
}

static const esft_dtype w_dtypes[] = {ESFT_F32, ESFT_BF16, ESFT_F16};

/* W rounded to wd (round to nearest even, esft_half.h's scalar conversion):
 * the 16-bit values into *packed (NULL for f32) and their f32 values back
 * into W, which the double reference then multiplies. */
static bool round_w(float *W, size_t n, esft_dtype wd, uint16_t **packed) {
    *packed = NULL;
    if (wd == ESFT_F32) return true;
    uint16_t *h = malloc(n * sizeof *h);
    if (!h) return false;
    for (size_t i = 0; i < n; i++) {
        h[i] = wd == ESFT_BF16 ? esft_f32_to_bf16(W[i]) : esft_f32_to_f16(W[i]);
        W[i] = wd == ESFT_BF16 ? esft_bf16_to_f32(h[i]) : esft_f16_to_f32(h[i]);
    }
    *packed = h;
    return true;
}

/* Largest |y - ref| / (sum_k |x w| + 1e-30) over T x N, ref in double. */
static double worst_error(const float *Y, size_t ldy, const float *X, size_t ldx, const float *W,
                          size_t ldw, int T, int N, int K) {
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            double ref = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double p = (double)X[(size_t)t * ldx + k] * (double)W[(size_t)n * ldw + k];
                ref += p;
                mag += p < 0 ? -p : p;
            }
            double e = fabs((double)Y[(size_t)t * ldy + n] - ref) / (mag + 1e-30);
            if (!(e <= worst)) worst = e; /* NaN counts as worst */
        }
    return worst;
}

/* Every (T, N, K) below on one path, operands with padded row strides;
 * also checks that the padding of Y is left alone. */
static void check_path(esft_cpu_gemm_path path, esft_dtype wd) {
    static const int Ts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 64, 256};
    static const int NKs[][2] = {{1, 1}, {3, 5}, {7, 17}, {13, 33}, {37, 100}, {5, 1031}, {19, 2053}};
    const size_t pad = 3;
    double worst = 0;
    for (size_t a = 0; a < sizeof Ts / sizeof Ts[0]; a++)
        for (size_t b = 0; b < sizeof NKs / sizeof NKs[0]; b++) {
            const int T = Ts[a], N = NKs[b][0], K = NKs[b][1];
            if (T == 256 && K > 1100) continue; /* the reference loop's time */
            const size_t ldx = (size_t)K + pad, ldw = (size_t)K + pad, ldy = (size_t)N + pad;
            float *X = rand_f32((size_t)T * ldx, 1 + a);
            float *W = rand_f32((size_t)N * ldw, 100 + b);
            float *Y = malloc((size_t)T * ldy * sizeof *Y);
            uint16_t *Wh = NULL;
            if (!X || !W || !Y || !round_w(W, (size_t)N * ldw, wd, &Wh)) {
                CHECKF(0, "out of memory at T=%d N=%d K=%d", T, N, K);
                free(X), free(W), free(Y);
                return;
            }
            for (size_t i = 0; i < (size_t)T * ldy; i++) Y[i] = 12345.0f;
            esft_cpu_gemm_nt_w(path, wd, Y, ldy, X, ldx, Wh ? (const void *)Wh : W, ldw, T, N, K);
            double e = worst_error(Y, ldy, X, ldx, W, ldw, T, N, K);
            CHECKF(e <= 1e-5, "%s %s T=%d N=%d K=%d: relative error %g",
                   esft_cpu_gemm_path_name(path), esft_dtype_name(wd), T, N, K, e);
            bool pad_kept = true;
            for (int t = 0; t < T; t++)
                for (size_t j = (size_t)N; j < ldy; j++) pad_kept &= Y[(size_t)t * ldy + j] == 12345.0f;
            CHECKF(pad_kept, "%s %s T=%d N=%d K=%d wrote past N", esft_cpu_gemm_path_name(path),
                   esft_dtype_name(wd), T, N, K);
            if (e > worst) worst = e;
            free(X), free(W), free(Y), free(Wh);
        }
    printf("%-7s %-4s worst relative error %.3g\n", esft_cpu_gemm_path_name(path),
           esft_dtype_name(wd), worst);
}

/* K = 0: empty sums, y must be zeroed. */
static void check_empty_k(esft_cpu_gemm_path path) {
    float Y[6] = {7, 7, 7, 7, 7, 7}, X[1] = {1}, W[1] = {1};
    esft_cpu_gemm_nt(path, Y, 3, X, 1, W, 1, 2, 3, 0);
    bool zero = true;
    for (int i = 0; i < 6; i++) zero &= Y[i] == 0.0f;
    CHECKF(zero, "%s: K = 0 did not give zeros", esft_cpu_gemm_path_name(path));
}

/* esft_matmul through the backend with the path forced and W in dtype wd
 * (uploaded as 16-bit values): 2 threads, a bias. */
static void check_backend(esft_cpu_gemm_path path, esft_dtype wd) {
    esft_backend_options o = {0};
    o.n_threads = 2;
    esft_backend *be = NULL;
    esft_err err = {{0}};
    if (esft_cpu_backend_create(&o, &be, &err)) {
        CHECKF(0, "cpu backend: %s", err.msg);
        return;
    }
    CHECK(esft_cpu_set_gemm_path(be, path) == ESFT_OK);
    const int T = 11, N = 301, K = 77;
    float *X = rand_f32((size_t)T * K, 7), *W = rand_f32((size_t)N * K, 8), *B = rand_f32((size_t)N, 9);
    float *Y = malloc((size_t)T * N * sizeof *Y);
    uint16_t *Wh = NULL;
    esft_buf x = {0}, w = {0}, b = {0}, y = {0};
    if (X && W && B && Y && round_w(W, (size_t)N * K, wd, &Wh) &&
        !esft_buf_alloc(be, &x, ESFT_F32, (size_t)T * K) && !esft_buf_alloc(be, &w, wd, (size_t)N * K) &&
        !esft_buf_alloc(be, &b, ESFT_F32, (size_t)N) && !esft_buf_alloc(be, &y, ESFT_F32, (size_t)T * N)) {
        esft_upload(&x, 0, X, (size_t)T * K);
        esft_upload(&w, 0, Wh ? (const void *)Wh : W, (size_t)N * K);
        esft_upload(&b, 0, B, (size_t)N);
        CHECK(esft_matmul(be, &y, &x, &w, &b, T, N, K) == ESFT_OK);
        esft_download(&y, 0, Y, (size_t)T * N);
        double worst = 0;
        for (int t = 0; t < T; t++)
            for (int n = 0; n < N; n++) {
                double ref = B[n];
                for (int k = 0; k < K; k++) ref += (double)X[(size_t)t * K + k] * W[(size_t)n * K + k];
                double e = fabs(Y[(size_t)t * N + n] - ref);
                if (!(e <= worst)) worst = e;
            }
        CHECKF(worst <= 1e-4, "backend matmul on %s, %s W: error %g", esft_cpu_gemm_path_name(path),
               esft_dtype_name(wd), worst);
    } else {
        CHECKF(0, "backend matmul on %s: allocation failed", esft_cpu_gemm_path_name(path));
    }
    esft_buf_free(&x), esft_buf_free(&w), esft_buf_free(&b), esft_buf_free(&y);
    free(X), free(W), free(B), free(Y), free(Wh);
    esft_backend_destroy(be);
}

/* AUTO: the best kernel below ESFT_CPU_GEMM_BLAS_MIN_T rows; from there
 * OpenBLAS, except that an AVX-512 kernel keeps prefill-sized T when the
 * core OpenBLAS chose is narrower. Either way the same answer every time,
 * and the sums right at every T. */
static void check_auto(void) {
    const esft_cpu_gemm_path below = esft_cpu_gemm_resolve(ESFT_CPU_GEMM_AUTO, ESFT_CPU_GEMM_BLAS_MIN_T - 1);
    const esft_cpu_gemm_path from = esft_cpu_gemm_resolve(ESFT_CPU_GEMM_AUTO, ESFT_CPU_GEMM_BLAS_MIN_T);
    CHECKF(below != ESFT_CPU_GEMM_BLAS && below != ESFT_CPU_GEMM_AUTO, "auto below %d rows: %s",
           ESFT_CPU_GEMM_BLAS_MIN_T, esft_cpu_gemm_path_name(below));
#ifdef ESFT_HAVE_OPENBLAS
    CHECKF(from == ESFT_CPU_GEMM_BLAS || (from == ESFT_CPU_GEMM_AVX512 && below == ESFT_CPU_GEMM_AVX512),
           "auto from %d rows: %s", ESFT_CPU_GEMM_BLAS_MIN_T, esft_cpu_gemm_path_name(from));
#else
    CHECKF(from == below, "auto from %d rows without OpenBLAS: %s", ESFT_CPU_GEMM_BLAS_MIN_T,
           esft_cpu_gemm_path_name(from));
#endif
    CHECK(esft_cpu_gemm_resolve(ESFT_CPU_GEMM_AUTO, 4096) == from);
    CHECK(esft_cpu_gemm_resolve(ESFT_CPU_GEMM_AUTO, ESFT_CPU_GEMM_BLAS_MIN_T) == from);
    printf("auto: %s below %d rows, %s from there\n", esft_cpu_gemm_path_name(below), ESFT_CPU_GEMM_BLAS_MIN_T,
           esft_cpu_gemm_path_name(from));
    for (size_t d = 0; d < sizeof w_dtypes / sizeof w_dtypes[0]; d++) check_path(ESFT_CPU_GEMM_AUTO, w_dtypes[d]);
}

int main(void) {
    check_auto();
    int tested = 0;
    for (int p = ESFT_CPU_GEMM_SCALAR; p < ESFT_CPU_GEMM_PATH_COUNT; p++) {
        esft_cpu_gemm_path path = (esft_cpu_gemm_path)p;
        if (!esft_cpu_gemm_path_available(path)) {
            printf("%-7s not on this machine, skipped\n", esft_cpu_gemm_path_name(path));
            continue;
        }
        tested++;
        for (size_t d = 0; d < sizeof w_dtypes / sizeof w_dtypes[0]; d++) {
            check_path(path, w_dtypes[d]);
            check_backend(path, w_dtypes[d]);
        }
        check_empty_k(path);
    }
    CHECKF(tested >= 2, "fewer than two GEMM paths ran (plain C and OpenBLAS always can)");
    esft_cpu_gemm_path parsed;
    CHECK(esft_cpu_gemm_path_parse("avx2", &parsed) && parsed == ESFT_CPU_GEMM_AVX2);
    CHECK(!esft_cpu_gemm_path_parse("avx3", &parsed));
    return TEST_EXIT();
}
