/* The cpu backend's GEMM y = x W^T on one thread, W row-major [N x K]
 * read in place: the model's own layout, so nothing is packed and no copy
 * of the weights is kept. W is f32, or bf16/f16 widened to f32 as it is
 * loaded (x, y and the sums are f32). Kernels for AVX-512, AVX2/FMA and plain C come
 * from one source (cpu_gemm_kernel.h) and are picked at run time; OpenBLAS
 * sgemm is the other path, for prefill-sized T. */
#ifndef ESFT_CPU_GEMM_H
#define ESFT_CPU_GEMM_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"

typedef enum esft_cpu_gemm_path {
    ESFT_CPU_GEMM_AUTO = 0, /* the best kernel up to ESFT_CPU_GEMM_BLAS_MIN_T rows, OpenBLAS above
                             * (unless the kernel is AVX-512 and OpenBLAS's core is not) */
    ESFT_CPU_GEMM_SCALAR,   /* portable C, any machine */
    ESFT_CPU_GEMM_AVX2,     /* AVX2 + FMA, 8 floats a vector */
    ESFT_CPU_GEMM_AVX512,   /* AVX-512F, 16 floats a vector */
    ESFT_CPU_GEMM_BLAS,     /* single-threaded OpenBLAS sgemm (the kernel when built without) */
    ESFT_CPU_GEMM_PATH_COUNT
} esft_cpu_gemm_path;

/* From this many rows of x up, AUTO hands the GEMM to OpenBLAS (measured
 * with esft bench matmul --decode: below it the kernel is faster). */
#define ESFT_CPU_GEMM_BLAS_MIN_T 256

/* "auto", "scalar", "avx2", "avx512", "blas". */
const char *esft_cpu_gemm_path_name(esft_cpu_gemm_path path);
/* The path of that name into *out; false when the name is unknown. */
bool esft_cpu_gemm_path_parse(const char *name, esft_cpu_gemm_path *out);
/* Whether this machine (and build) can run the path. */
bool esft_cpu_gemm_path_available(esft_cpu_gemm_path path);
/* The concrete path that `path` means for T rows of x (AUTO resolved). */
esft_cpu_gemm_path esft_cpu_gemm_resolve(esft_cpu_gemm_path path, int T);

/* Y[T x N] (rows ldy floats apart) = X[T x K] (rows ldx apart) .
 * W[N x K]^T (rows ldw apart), all f32, on the calling thread, by `path`
 * (resolved as above; an unavailable ISA falls back to the best one). */
void esft_cpu_gemm_nt(esft_cpu_gemm_path path, float *Y, size_t ldy, const float *X, size_t ldx,
                      const float *W, size_t ldw, int T, int N, int K);

/* The same with W of dtype wd: ESFT_F32, ESFT_BF16 or ESFT_F16 (any other
 * leaves Y alone); ldw counts elements. OpenBLAS takes only f32, so the
 * BLAS path runs the best kernel for 16-bit W. */
void esft_cpu_gemm_nt_w(esft_cpu_gemm_path path, esft_dtype wd, float *Y, size_t ldy,
                        const float *X, size_t ldx, const void *W, size_t ldw, int T, int N,
                        int K);

#endif
