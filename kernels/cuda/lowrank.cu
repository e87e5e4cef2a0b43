/* Low-rank members (EGGROLL mode): each token's rank-R correction after the
 * shared base matmul, the embedding lookup's correction, and the factors of
 * the update restacked for one cuBLAS GEMM. Factors are f32 and stacked by
 * member, row-major: A_k[i, r] at (k*N + i)*R + r. */
#include "common.cuh"

enum { LOWRANK_THREADS = 256, LOWRANK_MAX_R = 256 };

/* One block per token t of member k = member[t] (skipped outside [0, P)):
 * u[r] = scales[t] * x[t, :] . B_k[:, r] (block reduction per r), then
 * y[t, i] += A_k[i, :] . u. */
__global__ void esft_lowrank_matmul_k(float *y, const float *x, const float *A, const float *B,
                                      const int32_t *member, const float *scales, int N, int K, int R,
                                      int P) {
    __shared__ float partial[LOWRANK_THREADS / 32];
    __shared__ float u[LOWRANK_MAX_R];
    const esft_u64 t = blockIdx.x;
    const int k = member[t];
    if (k < 0 || k >= P) return;
    const float *xr = x + t * (esft_u64)K, *Bk = B + (esft_u64)k * K * R, *Ak = A + (esft_u64)k * N * R;
    for (int r = 0; r < R; r++) {
        float s = 0.0f;
        for (int j = threadIdx.x; j < K; j += blockDim.x) s = __fmaf_rn(xr[j], Bk[(esft_u64)j * R + r], s);
        s = esft_warp_sum(s);
        if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = s;
        __syncthreads();
        if (threadIdx.x < 32) {
            float v = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.0f;
            v = esft_warp_sum(v);
            if (threadIdx.x == 0) u[r] = v * scales[t];
        }
        __syncthreads();
    }
    float *yr = y + t * (esft_u64)N;
    for (int i = threadIdx.x; i < N; i += blockDim.x) {
        float acc = 0.0f;
        for (int r = 0; r < R; r++) acc = __fmaf_rn(Ak[(esft_u64)i * R + r], u[r], acc);
        yr[i] += acc;
    }
}

/* One thread per (t, d): y[t, d] += scales[t] * A_k[ids[t], :] . B_k[d, :]. */
__global__ void esft_lowrank_rows_k(float *y, const float *A, const float *B, const int32_t *ids,
                                    const int32_t *member, const float *scales, int D, int V, int R, int P,
                                    esft_u64 total) {
    ESFT_GRID_LOOP(g, total) {
        const esft_u64 t = g / D, d = g % D;
        const int k = member[t], id = ids[t];
        if (k < 0 || k >= P || id < 0 || id >= V) continue;
        const float *ar = A + ((esft_u64)k * V + id) * R, *br = B + ((esft_u64)k * D + d) * R;
        float acc = 0.0f;
        for (int r = 0; r < R; r++) acc = __fmaf_rn(ar[r], br[r], acc);
        y[g] += scales[t] * acc;
    }
}

/* dst[i, k*R + r] = (coeffs ? coeffs[k] : 1) * src[(k*rows + i)*R + r]: member
 * k's factor moved to columns [k*R, k*R + R) of a [rows x P*R] matrix. */
__global__ void esft_lowrank_stack_k(float *dst, const float *src, const float *coeffs, int rows, int R, int P,
                                     esft_u64 total) {
    ESFT_GRID_LOOP(g, total) {
        const esft_u64 PR = (esft_u64)P * R;
        const esft_u64 i = g / PR, q = g % PR;
        const int k = (int)(q / R), r = (int)(q % R);
        const float v = src[((esft_u64)k * rows + i) * R + r];
        dst[g] = coeffs ? coeffs[k] * v : v;
    }
}

extern "C" cudaError_t esft_cuda_lowrank_matmul(cudaStream_t s, float *y, const float *x, const float *A,
                                                const float *B, const int32_t *member, const float *scales, int T,
                                                int N, int K, int R, int P) {
    if (T <= 0) return cudaSuccess;
    if (R > LOWRANK_MAX_R) return cudaErrorInvalidValue;
    esft_lowrank_matmul_k<<<(unsigned)T, LOWRANK_THREADS, 0, s>>>(y, x, A, B, member, scales, N, K, R, P);
    return cudaGetLastError();
}

extern "C" cudaError_t esft_cuda_lowrank_rows(cudaStream_t s, float *y, const float *A, const float *B,
                                              const int32_t *ids, const int32_t *member, const float *scales,
                                              int T, int D, int V, int R, int P) {
    const esft_u64 total = (esft_u64)T * (esft_u64)D;
    if (total == 0) return cudaSuccess;
    esft_lowrank_rows_k<<<esft_grid(total, 256), 256, 0, s>>>(y, A, B, ids, member, scales, D, V, R, P, total);
    return cudaGetLastError();
}

extern "C" cudaError_t esft_cuda_lowrank_stack(cudaStream_t s, float *dst, const float *src, const float *coeffs,
                                               int rows, int R, int P) {
    const esft_u64 total = (esft_u64)rows * (esft_u64)P * (esft_u64)R;
    if (total == 0) return cudaSuccess;
    esft_lowrank_stack_k<<<esft_grid(total, 256), 256, 0, s>>>(dst, src, coeffs, rows, R, P, total);
    return cudaGetLastError();
}
