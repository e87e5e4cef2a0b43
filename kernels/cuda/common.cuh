/* Shared pieces of the CUDA kernels: dtype conversions (one template per
 * op, instantiated per dtype here rather than copied), launch geometry and
 * warp reductions.
 *
 * The .cu files are compiled with --fmad=false: no multiply-add is fused
 * unless the source says so (__fmaf_rn), so results match the cpu backend's
 * operation order wherever the op promises bits (noise, perturb, es_update). */
#ifndef ESFT_CUDA_COMMON_CUH
#define ESFT_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "esft_cuda_kernels.h"

/* Mirrors of the esft_dtype values (backends/backend.h) this code takes. */
enum { ESFT_CU_F32 = 0, ESFT_CU_F16 = 1, ESFT_CU_BF16 = 2 };

typedef unsigned long long esft_u64;

/* f32 -> element type, round to nearest even. */
template <typename T> __device__ __forceinline__ T esft_from_f32(float v);
template <> __device__ __forceinline__ float esft_from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __half esft_from_f32<__half>(float v) {
    return __float2half_rn(v);
}
template <> __device__ __forceinline__ __nv_bfloat16 esft_from_f32<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

/* element type -> f32 (exact). */
__device__ __forceinline__ float esft_to_f32(float v) { return v; }
__device__ __forceinline__ float esft_to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float esft_to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

/* Blocks for a grid-stride loop over n items: enough to fill the device,
 * few enough that each thread keeps a few items. */
static inline unsigned esft_grid(esft_u64 n, unsigned threads) {
    esft_u64 b = (n + threads - 1) / threads;
    if (b > 65536) b = 65536;
    return b ? (unsigned)b : 1u;
}

/* Grid-stride index over [0, n). */
#define ESFT_GRID_LOOP(i, n)                                                          \
    for (esft_u64 i = (esft_u64)blockIdx.x * blockDim.x + threadIdx.x; i < (esft_u64)(n); \
         i += (esft_u64)gridDim.x * blockDim.x)

/* Calls f.template operator()<T>() with T the element type of `dtype`;
 * returns cudaErrorInvalidValue for anything else. */
template <typename F> static cudaError_t esft_dispatch_dtype(int dtype, F f) {
    switch (dtype) {
    case ESFT_CU_F32: return f((float *)0);
    case ESFT_CU_F16: return f((__half *)0);
    case ESFT_CU_BF16: return f((__nv_bfloat16 *)0);
    default: return cudaErrorInvalidValue;
    }
}

static inline cudaError_t esft_launched(void) { return cudaGetLastError(); }

__device__ __forceinline__ float esft_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    return v;
}

__device__ __forceinline__ double esft_warp_sum_f64(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    return v;
}

#endif
