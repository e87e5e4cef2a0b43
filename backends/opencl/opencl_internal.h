/* Private to the opencl backend: context, kernel table, helpers. */
#ifndef ESFT_OPENCL_INTERNAL_H
#define ESFT_OPENCL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include "opencl_backend.h"

/* Kernels of kernels/opencl/esft_ops.cl, in table order. */
#define ESFT_CL_KERNELS(X) \
    X(philox) X(noise) X(perturb) X(es_update) X(scale) X(add) X(swiglu) X(add_bias) \
    X(get_rows) X(rmsnorm) X(rope) X(kv_store) X(attention) X(argmax)

typedef enum cl_kid {
#define ESFT_CL_ENUM(name) K_##name,
    ESFT_CL_KERNELS(ESFT_CL_ENUM)
#undef ESFT_CL_ENUM
    K_COUNT
} cl_kid;

typedef struct ocl_ctx {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    cl_program program;
    cl_kernel k[K_COUNT];
    size_t wg[K_COUNT];  /* power-of-two local size per kernel */
    cl_mem scratch;      /* attention scores, grown on demand */
    size_t scratch_bytes;
    cl_mem side;         /* es_update seeds + coefficients, grown on demand */
    size_t side_bytes;
} ocl_ctx;

static inline ocl_ctx *ocl_ctx_of(esft_backend *be) { return (ocl_ctx *)be->ctx; }

const char *esft_cl_errstr(cl_int e);

/* Builds (or loads from the on-disk cache) the program of `n` source strings
 * for ctx->device with `options`. */
esft_status esft_cl_build_program(ocl_ctx *c, const char *const *srcs, size_t n,
                                  const char *options, cl_program *out, esft_err *err);

/* Op entry points (opencl_ops.c). */
esft_status esft_cl_perturb(esft_backend *be, esft_buf *work, const esft_buf *master, size_t n,
                            uint32_t tensor_id, uint64_t seed, float sigma);
esft_status esft_cl_es_update(esft_backend *be, esft_buf *master, size_t n, uint32_t tensor_id,
                              const uint64_t *seeds, const float *coeffs, int n_members);
esft_status esft_cl_noise(esft_backend *be, esft_buf *out, size_t n, uint64_t first,
                          uint32_t tensor_id, uint64_t seed);
esft_status esft_cl_philox(esft_backend *be, esft_buf *out, size_t n_blocks, uint64_t first_block,
                           uint32_t c2, uint32_t c3, uint64_t key);
esft_status esft_cl_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                           const esft_buf *bias, int T, int N, int K);
esft_status esft_cl_rmsnorm(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                            int T, int D, float eps);
esft_status esft_cl_rope(esft_backend *be, esft_buf *x, const esft_buf *pos, int T, int n_heads,
                         int head_dim, float base, esft_rope_style style);
esft_status esft_cl_swiglu(esft_backend *be, esft_buf *y, const esft_buf *gate, const esft_buf *up,
                           size_t n);
esft_status esft_cl_add(esft_backend *be, esft_buf *y, const esft_buf *a, const esft_buf *b,
                        size_t n);
esft_status esft_cl_scale(esft_backend *be, esft_buf *x, size_t n, float factor);
esft_status esft_cl_get_rows(esft_backend *be, esft_buf *y, const esft_buf *table,
                             const esft_buf *ids, int T, int D);
esft_status esft_cl_attention(esft_backend *be, esft_buf *out, const esft_buf *q,
                              const esft_buf *k, const esft_buf *v, esft_buf *kcache,
                              esft_buf *vcache, const esft_buf *seq, const esft_buf *pos, int T,
                              int n_heads, int n_kv_heads, int head_dim, int max_ctx, float scale);
esft_status esft_cl_argmax(esft_backend *be, esft_buf *ids, const esft_buf *x, int T, int N);

#endif
