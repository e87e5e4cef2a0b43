/* cuBLAS, opened at run time (dlopen) so that an esft built with CUDA starts
 * on machines without the CUDA libraries and says what is missing. Only the
 * few entry points esft calls are looked up. */
#ifndef ESFT_CUDA_BLAS_H
#define ESFT_CUDA_BLAS_H

#include <cublas_api.h>

#include "../status.h"

typedef struct esft_cublas {
    void *lib; /* dlopen handle */
    cublasHandle_t handle;
    cublasStatus_t (*create)(cublasHandle_t *);
    cublasStatus_t (*destroy)(cublasHandle_t);
    cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
    cublasStatus_t (*set_math_mode)(cublasHandle_t, cublasMath_t);
    const char *(*status_string)(cublasStatus_t);
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                              const void *, const void *, cudaDataType, int, const void *,
                              cudaDataType, int, const void *, void *, cudaDataType, int,
                              cublasComputeType_t, cublasGemmAlgo_t);
} esft_cublas;

/* Opens the library, creates a handle bound to `stream`. On failure fills
 * err and leaves *b closed. */
esft_status esft_cublas_open(esft_cublas *b, cudaStream_t stream, esft_err *err);
void esft_cublas_close(esft_cublas *b);
const char *esft_cublas_status(const esft_cublas *b, cublasStatus_t s);

#endif
