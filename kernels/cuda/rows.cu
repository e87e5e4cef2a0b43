/* Row-wise CUDA kernels: RMS norm, rotary embeddings and argmax. One block
 * per row for the reductions. */
#include <math.h>

#include "common.cuh"

enum { ROW_THREADS = 256, ARGMAX_THREADS = 1024 };

/* y[t, :] = x[t, :] * (1 / sqrt(mean(x^2) + eps)) * w, the sum of squares
 * in double as on the cpu backend. y may be x: each element is read before
 * it is written, by the same thread. */
__global__ void esft_rmsnorm_k(float *y, const float *x, const float *w, int D, float eps) {
    __shared__ double partial[ROW_THREADS / 32];
    const float *xr = x + (esft_u64)blockIdx.x * D;
    float *yr = y + (esft_u64)blockIdx.x * D;
    double ss = 0.0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) ss += (double)xr[i] * (double)xr[i];
    ss = esft_warp_sum_f64(ss);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
        double v = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.0;
        v = esft_warp_sum_f64(v);
        if (threadIdx.x == 0) partial[0] = v;
    }
    __syncthreads();
    float scale = (float)(1.0 / sqrt(partial[0] / D + (double)eps));
    for (int i = threadIdx.x; i < D; i += blockDim.x) yr[i] = xr[i] * scale * w[i];
}

/* One thread per rotated pair (t, h, i < hd/2); angles in double as on the
 * cpu backend: pos * base^(-2i/hd), divided by ff[i] when ff is given.
 * NEOX pairs (i, i + hd/2), NORM (2i, 2i+1). */
__global__ void esft_rope_k(float *x, const int32_t *pos, esft_u64 total, int n_heads,
                            int head_dim, double base, const float *ff, int neox) {
    int half = head_dim / 2;
    ESFT_GRID_LOOP(g, total) {
        int i = (int)(g % half);
        esft_u64 th = g / half; /* token * n_heads + head */
        int t = (int)(th / n_heads);
        double ang = (double)pos[t] * pow(base, -2.0 * i / head_dim);
        if (ff) ang /= (double)ff[i];
        double sd, cd;
        sincos(ang, &sd, &cd);
        float cs = (float)cd, sn = (float)sd;
        float *v = x + th * head_dim;
        int ia = neox ? i : 2 * i, ib = neox ? i + half : 2 * i + 1;
        float a = v[ia], b = v[ib];
        v[ia] = a * cs - b * sn;
        v[ib] = a * sn + b * cs;
    }
}

/* The better of two (value, index) candidates: a number beats NaN, then
 * the larger value, then the smaller index (the cpu backend's first max). */
__device__ __forceinline__ bool esft_argmax_better(float v, int i, float bv, int bi) {
    bool vn = v != v, bn = bv != bv;
    if (vn != bn) return bn;
    if (!vn && v != bv) return v > bv;
    return i < bi;
}

__global__ void esft_argmax_k(int32_t *ids, const float *x, int N) {
    __shared__ float sv[ARGMAX_THREADS / 32];
    __shared__ int si[ARGMAX_THREADS / 32];
    const float *r = x + (esft_u64)blockIdx.x * N;
    float bv = NAN;
    int bi = 0x7FFFFFFF;
    for (int i = threadIdx.x; i < N; i += blockDim.x) {
        float v = r[i];
        if (esft_argmax_better(v, i, bv, bi)) bv = v, bi = i;
    }
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xFFFFFFFFu, bv, o);
        int oi = __shfl_xor_sync(0xFFFFFFFFu, bi, o);
        if (esft_argmax_better(ov, oi, bv, bi)) bv = ov, bi = oi;
    }
    if ((threadIdx.x & 31) == 0) sv[threadIdx.x >> 5] = bv, si[threadIdx.x >> 5] = bi;
    __syncthreads();
    if (threadIdx.x < 32) {
        int nw = blockDim.x / 32;
        bv = threadIdx.x < nw ? sv[threadIdx.x] : NAN;
        bi = threadIdx.x < nw ? si[threadIdx.x] : 0x7FFFFFFF;
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xFFFFFFFFu, bv, o);
            int oi = __shfl_xor_sync(0xFFFFFFFFu, bi, o);
            if (esft_argmax_better(ov, oi, bv, bi)) bv = ov, bi = oi;
        }
        if (threadIdx.x == 0) ids[blockIdx.x] = bi < N ? bi : 0; /* all NaN: index 0 */
    }
}

extern "C" cudaError_t esft_cuda_rmsnorm(cudaStream_t s, float *y, const float *x,
                                         const float *w, int T, int D, float eps) {
    if (T <= 0 || D <= 0) return cudaSuccess;
    esft_rmsnorm_k<<<T, ROW_THREADS, 0, s>>>(y, x, w, D, eps);
    return esft_launched();
}

extern "C" cudaError_t esft_cuda_rope(cudaStream_t s, float *x, const int32_t *pos, int T,
                                      int n_heads, int head_dim, float base, const float *freq_factors,
                                      int neox) {
    esft_u64 total = (esft_u64)T * n_heads * (head_dim / 2);
    if (total == 0) return cudaSuccess;
    esft_rope_k<<<esft_grid(total, ROW_THREADS), ROW_THREADS, 0, s>>>(x, pos, total, n_heads,
                                                                        head_dim, (double)base, freq_factors,
                                                                        neox);
    return esft_launched();
}

extern "C" cudaError_t esft_cuda_argmax(cudaStream_t s, int32_t *ids, const float *x, int T,
                                        int N) {
    if (T <= 0 || N <= 0) return cudaSuccess;
    int threads = N >= ARGMAX_THREADS ? ARGMAX_THREADS : 32 * ((N + 31) / 32);
    esft_argmax_k<<<T, threads, 0, s>>>(ids, x, N);
    return esft_launched();
}
