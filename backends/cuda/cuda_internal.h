/* Private state of the cuda backend, shared by its host files. */
#ifndef ESFT_CUDA_INTERNAL_H
#define ESFT_CUDA_INTERNAL_H

#include <cuda_runtime_api.h>

#include "../backend.h"
#include "cuda_blas.h"
#include "esft_cuda_kernels.h"

/* Small uploads go through pinned staging slots, so the caller's array may
 * be freed on return without waiting for the device; a slot is reused once
 * the copy out of it (recorded by its event) has finished. */
#define CUDA_STAGING_SLOTS 8
#define CUDA_STAGING_BYTES (1u << 20)

typedef struct cuda_ctx {
    int device;
    cudaStream_t stream;
    esft_cublas blas;           /* cuBLAS entry points and handle */
    void *scratch;              /* matmul inputs in the work dtype */
    size_t scratch_bytes;
    void *side;                 /* es_update seeds and coefficients */
    size_t side_bytes;
    unsigned char *staging;     /* pinned, CUDA_STAGING_SLOTS x CUDA_STAGING_BYTES */
    cudaEvent_t staged[CUDA_STAGING_SLOTS];
    int next_slot;
} cuda_ctx;

static inline cuda_ctx *cuda_ctx_of(esft_backend *be) { return (cuda_ctx *)be->ctx; }

/* Reports a CUDA runtime failure of `what` in be->err. */
esft_status esft_cuda_fail(esft_backend *be, const char *what, cudaError_t e);

/* Grows a device scratch allocation to at least `bytes` (never shrinks). */
esft_status esft_cuda_ensure(esft_backend *be, void **p, size_t *have, size_t bytes,
                             const char *what);

/* Copies host bytes to the device, in stream order, through a staging slot
 * when they fit one. The host array may be reused on return. */
esft_status esft_cuda_put(esft_backend *be, void *dst, const void *src, size_t bytes,
                          const char *what);

/* The ops (cuda_ops.c), with backend.h's signatures. */
ESFT_DECLARE_OPS(esft_cu)

#endif
