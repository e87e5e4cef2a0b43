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
    X(philox) X(noise) X(perturb) X(es_update) X(es_optimize) X(scale) X(add) X(swiglu) X(geglu) X(add_bias) \
    X(get_rows) X(rmsnorm) X(rope) X(kv_store) X(attention) X(argmax) \
    X(lowrank_matmul) X(lowrank_rows) X(lowrank_update)

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
    cl_mem side;         /* es_update seeds + coefficients (lowrank_update: coefficients), grown on demand */
    size_t side_bytes;
} ocl_ctx;

static inline ocl_ctx *ocl_ctx_of(esft_backend *be) { return (ocl_ctx *)be->ctx; }

const char *esft_cl_errstr(cl_int e);

/* Builds (or loads from the on-disk cache) the program of `n` source strings
 * for ctx->device with `options`. */
esft_status esft_cl_build_program(ocl_ctx *c, const char *const *srcs, size_t n,
                                  const char *options, cl_program *out, esft_err *err);

/* The ops (opencl_ops.c), with backend.h's signatures. */
ESFT_DECLARE_OPS(esft_cl)

#endif
