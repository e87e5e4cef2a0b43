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

/* ops (cuda_ops.c) */
esft_status esft_cu_perturb(esft_backend *be, esft_buf *work, const esft_buf *master, size_t n,
                            uint32_t tensor_id, uint64_t seed, float sigma);
esft_status esft_cu_es_update(esft_backend *be, esft_buf *master, size_t n, uint32_t tensor_id,
                              const uint64_t *seeds, const float *coeffs, int n_members);
esft_status esft_cu_scale(esft_backend *be, esft_buf *x, size_t n, float factor);
esft_status esft_cu_noise(esft_backend *be, esft_buf *out, size_t n, uint64_t first,
                          uint32_t tensor_id, uint64_t seed);
esft_status esft_cu_philox(esft_backend *be, esft_buf *out, size_t n_blocks, uint64_t first_block,
                           uint32_t c2, uint32_t c3, uint64_t key);
esft_status esft_cu_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                           const esft_buf *bias, int T, int N, int K);
esft_status esft_cu_rmsnorm(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                            int T, int D, float eps);
esft_status esft_cu_rope(esft_backend *be, esft_buf *x, const esft_buf *pos, int T, int n_heads,
                         int head_dim, float base, esft_rope_style style);
esft_status esft_cu_swiglu(esft_backend *be, esft_buf *y, const esft_buf *gate, const esft_buf *up,
                           size_t n);
esft_status esft_cu_add(esft_backend *be, esft_buf *y, const esft_buf *a, const esft_buf *b,
                        size_t n);
esft_status esft_cu_get_rows(esft_backend *be, esft_buf *y, const esft_buf *table,
                             const esft_buf *ids, int T, int D);
esft_status esft_cu_attention(esft_backend *be, esft_buf *out, const esft_buf *q,
                              const esft_buf *k, const esft_buf *v, esft_buf *kcache,
                              esft_buf *vcache, const esft_buf *seq, const esft_buf *pos, int T,
                              int n_heads, int n_kv_heads, int head_dim, int max_ctx, float scale);
esft_status esft_cu_argmax(esft_backend *be, esft_buf *ids, const esft_buf *x, int T, int N);

#endif
