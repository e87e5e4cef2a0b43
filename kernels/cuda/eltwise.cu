/* Elementwise CUDA kernels: scale, add, swiglu, geglu, bias, dtype conversion of
 * matmul inputs, and embedding-row gathers. */
#include <math.h>
#include <type_traits>

#include "common.cuh"

enum { ELT_THREADS = 256 };

__global__ void esft_scale_k(float *x, esft_u64 n, float factor) {
    ESFT_GRID_LOOP(i, n) x[i] = x[i] * factor;
}

__global__ void esft_add_k(float *y, const float *a, const float *b, esft_u64 n) {
    ESFT_GRID_LOOP(i, n) y[i] = a[i] + b[i];
}

/* silu(g) * u, with the cpu backend's g / (1 + e^-g) form */
__global__ void esft_swiglu_k(float *y, const float *gate, const float *up, esft_u64 n) {
    ESFT_GRID_LOOP(i, n) {
        float g = gate[i];
        y[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

/* tanh GELU of gate times up (Gemma's GeGLU), as the cpu backend */
__global__ void esft_geglu_k(float *y, const float *gate, const float *up, esft_u64 n) {
    ESFT_GRID_LOOP(i, n) {
        float g = gate[i];
        y[i] = 0.5f * g * (1.0f + tanhf(0.7978845608028654f * (g + 0.044715f * g * g * g))) * up[i];
    }
}

__global__ void esft_add_bias_k(float *y, const float *bias, esft_u64 total, unsigned N) {
    ESFT_GRID_LOOP(i, total) y[i] = y[i] + bias[i % N];
}

template <typename T> __global__ void esft_convert_k(T *dst, const float *src, esft_u64 n) {
    ESFT_GRID_LOOP(i, n) dst[i] = esft_from_f32<T>(src[i]);
}

/* One block row per token: threads stride over the D columns. */
template <typename T>
__global__ void esft_get_rows_k(float *y, const T *table, esft_u64 n_rows, const int32_t *ids,
                                int D) {
    int t = blockIdx.x;
    int id = ids[t];
    bool ok = id >= 0 && (esft_u64)id < n_rows;
    const T *src = table + (esft_u64)(ok ? id : 0) * D;
    float *dst = y + (esft_u64)t * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) dst[d] = ok ? esft_to_f32(src[d]) : NAN;
}

extern "C" cudaError_t esft_cuda_scale(cudaStream_t s, float *x, size_t n, float factor) {
    if (n == 0) return cudaSuccess;
    esft_scale_k<<<esft_grid(n, ELT_THREADS), ELT_THREADS, 0, s>>>(x, n, factor);
    return esft_launched();
}

extern "C" cudaError_t esft_cuda_add(cudaStream_t s, float *y, const float *a, const float *b,
                                     size_t n) {
    if (n == 0) return cudaSuccess;
    esft_add_k<<<esft_grid(n, ELT_THREADS), ELT_THREADS, 0, s>>>(y, a, b, n);
    return esft_launched();
}

extern "C" cudaError_t esft_cuda_swiglu(cudaStream_t s, float *y, const float *gate,
                                        const float *up, size_t n) {
    if (n == 0) return cudaSuccess;
    esft_swiglu_k<<<esft_grid(n, ELT_THREADS), ELT_THREADS, 0, s>>>(y, gate, up, n);
    return esft_launched();
}

extern "C" cudaError_t esft_cuda_geglu(cudaStream_t s, float *y, const float *gate,
                                       const float *up, size_t n) {
    if (n == 0) return cudaSuccess;
    esft_geglu_k<<<esft_grid(n, ELT_THREADS), ELT_THREADS, 0, s>>>(y, gate, up, n);
    return esft_launched();
}

extern "C" cudaError_t esft_cuda_add_bias(cudaStream_t s, float *y, const float *bias, int T,
                                          int N) {
    esft_u64 total = (esft_u64)T * (esft_u64)N;
    if (total == 0) return cudaSuccess;
    esft_add_bias_k<<<esft_grid(total, ELT_THREADS), ELT_THREADS, 0, s>>>(y, bias, total,
                                                                            (unsigned)N);
    return esft_launched();
}

extern "C" cudaError_t esft_cuda_convert(cudaStream_t s, void *dst, int dtype, const float *src,
                                         size_t n) {
    if (n == 0) return cudaSuccess;
    return esft_dispatch_dtype(dtype, [&](auto *tag) {
        typedef typename std::remove_pointer<decltype(tag)>::type T;
        esft_convert_k<T><<<esft_grid(n, ELT_THREADS), ELT_THREADS, 0, s>>>((T *)dst, src, n);
        return esft_launched();
    });
}

extern "C" cudaError_t esft_cuda_get_rows(cudaStream_t s, float *y, const void *table, int dtype,
                                          size_t n_rows, const int32_t *ids, int T, int D) {
    if (T <= 0 || D <= 0) return cudaSuccess;
    int threads = D >= 256 ? 256 : 32 * ((D + 31) / 32);
    return esft_dispatch_dtype(dtype, [&](auto *tag) {
        typedef typename std::remove_pointer<decltype(tag)>::type T_;
        esft_get_rows_k<T_><<<T, threads, 0, s>>>(y, (const T_ *)table, n_rows, ids, D);
        return esft_launched();
    });
}
