/* ES noise on CUDA: raw Philox words, normals, perturb and es_update, all
 * through kernels/common/esft_philox.h so that the bits match the cpu
 * backend (DESIGN.md §1). One thread per Philox block of four elements. */
#include <type_traits>

#include "common.cuh"
#include "esft_philox.h"
#include "esft_optim.h"

/* Writes the four values of block b that fall inside [0, n). */
template <typename T>
__device__ __forceinline__ void esft_store4(T *dst, esft_u64 i0, esft_u64 n, const float v[4]) {
    if (i0 + 4 <= n) {
        if (std::is_same<T, float>::value) {
            *(float4 *)((float *)dst + i0) = make_float4(v[0], v[1], v[2], v[3]);
        } else {
            /* two 32-bit words of two 16-bit values each */
            T h[4] = {esft_from_f32<T>(v[0]), esft_from_f32<T>(v[1]), esft_from_f32<T>(v[2]),
                      esft_from_f32<T>(v[3])};
            *(uint2 *)(dst + i0) = *(const uint2 *)h;
        }
        return;
    }
    for (int q = 0; q < 4; q++)
        if (i0 + q < n) dst[i0 + q] = esft_from_f32<T>(v[q]);
}

__device__ __forceinline__ void esft_load4(const float *src, esft_u64 i0, esft_u64 n, float v[4]) {
    if (i0 + 4 <= n) {
        float4 m = *(const float4 *)(src + i0);
        v[0] = m.x, v[1] = m.y, v[2] = m.z, v[3] = m.w;
        return;
    }
    for (int q = 0; q < 4; q++) v[q] = i0 + q < n ? src[i0 + q] : 0.0f;
}

__global__ void esft_philox_k(uint32_t *out, esft_u64 n_blocks, esft_u64 first_block, uint32_t c2,
                              uint32_t c3, esft_u64 key) {
    ESFT_GRID_LOOP(g, n_blocks) {
        esft_u64 ctr = first_block + g;
        esft_u32x4 c;
        c.x0 = (uint32_t)ctr;
        c.x1 = (uint32_t)(ctr >> 32);
        c.x2 = c2;
        c.x3 = c3;
        esft_u32x4 x = esft_philox4x32_10(c, (uint32_t)key, (uint32_t)(key >> 32));
        *(uint4 *)(out + 4 * g) = make_uint4(x.x0, x.x1, x.x2, x.x3);
    }
}

/* out[i] = eps(seed, tid, first + i): thread g computes block (first >> 2)
 * + g and writes those of its four elements inside the range. */
__global__ void esft_noise_k(float *out, esft_u64 n, esft_u64 first, uint32_t tid, esft_u64 seed,
                             esft_u64 n_blocks) {
    ESFT_GRID_LOOP(g, n_blocks) {
        esft_u64 b = (first >> 2) + g;
        esft_f32x4 z = esft_eps_block(seed, tid, b);
        float v[4] = {z.x0, z.x1, z.x2, z.x3};
        for (int q = 0; q < 4; q++) {
            esft_u64 idx = 4 * b + (esft_u64)q;
            if (idx >= first && idx - first < n) out[idx - first] = v[q];
        }
    }
}

/* work[i] = cast(fma(sigma, eps, master[i])). */
template <typename T>
__global__ void esft_perturb_k(T *work, const float *master, esft_u64 n, uint32_t tid,
                               esft_u64 seed, float sigma) {
    ESFT_GRID_LOOP(b, (n + 3) / 4) {
        esft_f32x4 z = esft_eps_block(seed, tid, b);
        float m[4], v[4];
        esft_load4(master, 4 * b, n, m);
        v[0] = __fmaf_rn(sigma, z.x0, m[0]);
        v[1] = __fmaf_rn(sigma, z.x1, m[1]);
        v[2] = __fmaf_rn(sigma, z.x2, m[2]);
        v[3] = __fmaf_rn(sigma, z.x3, m[3]);
        esft_store4(work, 4 * b, n, v);
    }
}

/* acc over elements 4b .. 4b+3: sum over k ascending of fma(coeffs[k], eps_k, acc). */
static __device__ __forceinline__ esft_f32x4 esft_member_sum(const esft_u64 *seeds, const float *coeffs, int K,
                                                             uint32_t tid, esft_u64 b) {
    esft_f32x4 a = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int k = 0; k < K; k++) {
        esft_f32x4 z = esft_eps_block(__ldg(seeds + k), tid, b);
        float c = __ldg(coeffs + k);
        a.x0 = __fmaf_rn(c, z.x0, a.x0);
        a.x1 = __fmaf_rn(c, z.x1, a.x1);
        a.x2 = __fmaf_rn(c, z.x2, a.x2);
        a.x3 = __fmaf_rn(c, z.x3, a.x3);
    }
    return a;
}

/* master[i] += the members' sum. */
__global__ void esft_es_update_k(float *master, esft_u64 n, uint32_t tid, const esft_u64 *seeds,
                                 const float *coeffs, int K) {
    ESFT_GRID_LOOP(b, (n + 3) / 4) {
        esft_f32x4 a = esft_member_sum(seeds, coeffs, K, tid, b);
        float m[4];
        esft_load4(master, 4 * b, n, m);
        float v[4] = {m[0] + a.x0, m[1] + a.x1, m[2] + a.x2, m[3] + a.x3};
        esft_store4(master, 4 * b, n, v);
    }
}

/* One optimizer step on the ES gradient: es_update's sum, then the shared
 * rule of esft_optim.h. state (m [n], then v [n]) is touched only by rules
 * that keep it, base only with an anchor; either may be NULL otherwise. */
__global__ void esft_es_optimize_k(float *master, float *state, const float *base, esft_u64 n, uint32_t tid,
                                   const esft_u64 *seeds, const float *coeffs, int K, esft_cuda_opt_args p) {
    ESFT_GRID_LOOP(b, (n + 3) / 4) {
        esft_f32x4 s = esft_member_sum(seeds, coeffs, K, tid, b);
        float a[4] = {s.x0, s.x1, s.x2, s.x3};
        for (int q = 0; q < 4; q++) {
            esft_u64 i = 4 * b + (esft_u64)q;
            if (i >= n) break;
            float m = p.rule != ESFT_OPT_SGD ? state[i] : 0.0f;
            float v = p.rule == ESFT_OPT_ADAM ? state[n + i] : 0.0f;
            esft_opt_elem r = esft_opt_element(p.rule, master[i], a[q], m, v, p.anchor != 0.0f ? base[i] : 0.0f,
                                               p.lr, p.beta1, p.beta2, p.eps, p.bc1, p.bc2, p.l2, p.decay,
                                               p.anchor);
            master[i] = r.theta;
            if (p.rule != ESFT_OPT_SGD) state[i] = r.m;
            if (p.rule == ESFT_OPT_ADAM) state[n + i] = r.v;
        }
    }
}

enum { NOISE_THREADS = 256 };

extern "C" cudaError_t esft_cuda_philox(cudaStream_t s, uint32_t *out, size_t n_blocks,
                                        uint64_t first_block, uint32_t c2, uint32_t c3,
                                        uint64_t key) {
    if (n_blocks == 0) return cudaSuccess;
    esft_philox_k<<<esft_grid(n_blocks, NOISE_THREADS), NOISE_THREADS, 0, s>>>(
        out, n_blocks, first_block, c2, c3, key);
    return esft_launched();
}

extern "C" cudaError_t esft_cuda_noise(cudaStream_t s, float *out, size_t n, uint64_t first,
                                       uint32_t tid, uint64_t seed) {
    if (n == 0) return cudaSuccess;
    esft_u64 last = first + (esft_u64)(n - 1);
    esft_u64 nb = (last >> 2) - (first >> 2) + 1;
    esft_noise_k<<<esft_grid(nb, NOISE_THREADS), NOISE_THREADS, 0, s>>>(out, n, first, tid, seed,
                                                                          nb);
    return esft_launched();
}

extern "C" cudaError_t esft_cuda_perturb(cudaStream_t s, void *work, int dtype,
                                         const float *master, size_t n, uint32_t tid,
                                         uint64_t seed, float sigma) {
    if (n == 0) return cudaSuccess;
    unsigned grid = esft_grid((n + 3) / 4, NOISE_THREADS);
    return esft_dispatch_dtype(dtype, [&](auto *tag) {
        typedef typename std::remove_pointer<decltype(tag)>::type T;
        esft_perturb_k<T><<<grid, NOISE_THREADS, 0, s>>>((T *)work, master, n, tid, seed, sigma);
        return esft_launched();
    });
}

extern "C" cudaError_t esft_cuda_es_optimize(cudaStream_t s, float *master, float *state, const float *base,
                                             size_t n, uint32_t tid, const uint64_t *seeds, const float *coeffs,
                                             int n_members, const esft_cuda_opt_args *p) {
    if (n == 0) return cudaSuccess;
    esft_es_optimize_k<<<esft_grid((n + 3) / 4, NOISE_THREADS), NOISE_THREADS, 0, s>>>(
        master, state, base, n, tid, (const esft_u64 *)seeds, coeffs, n_members, *p);
    return esft_launched();
}

extern "C" cudaError_t esft_cuda_es_update(cudaStream_t s, float *master, size_t n, uint32_t tid,
                                           const uint64_t *seeds, const float *coeffs,
                                           int n_members) {
    if (n == 0 || n_members <= 0) return cudaSuccess;
    esft_es_update_k<<<esft_grid((n + 3) / 4, NOISE_THREADS), NOISE_THREADS, 0, s>>>(
        master, n, tid, (const esft_u64 *)seeds, coeffs, n_members);
    return esft_launched();
}
