/* Causal attention over a packed batch on CUDA (the op of backend.h).
 *
 * Step 1 stores each token's key and value rows in its slot's cache (a
 * kernel of its own, so that every key of the call is in place before any
 * token attends). Step 2 runs one block per (token, head): its warps take
 * tiles of 32 keys in turn; in a tile each lane scores one key against q
 * (held in shared memory), the warp updates its running max and sum (online
 * softmax), then the lanes switch to one output dimension each and add the
 * tile's values. The warps' partial results are merged at the end. With a
 * sliding window the keys start at p - window + 1. KV rows
 * of one GQA group are read by neighbouring blocks, which L2 serves. */
#include <math.h>

#include "common.cuh"

enum { ATT_WARPS = 4, ATT_THREADS = 32 * ATT_WARPS, KV_THREADS = 128 };

__device__ __forceinline__ bool esft_token_ok(int sl, int p, int n_slots, int max_ctx) {
    return sl >= 0 && sl < n_slots && p >= 0 && p < max_ctx;
}

/* cache[seq[t]][pos[t]] = row t of k and of v (rows of n_kv_heads * hd). */
__global__ void esft_kv_store_k(float *kc, float *vc, const float *k, const float *v,
                                const int32_t *seq, const int32_t *pos, esft_u64 row, int max_ctx,
                                int n_slots) {
    int t = blockIdx.x, sl = seq[t], p = pos[t];
    if (!esft_token_ok(sl, p, n_slots, max_ctx)) return;
    esft_u64 dst = ((esft_u64)sl * max_ctx + p) * row, src = (esft_u64)t * row;
    for (esft_u64 i = threadIdx.x; i < row; i += blockDim.x) {
        kc[dst + i] = k[src + i];
        vc[dst + i] = v[src + i];
    }
}

/* NR: output dimensions per lane (head_dim <= 32 * NR). */
template <int NR>
__global__ void __launch_bounds__(ATT_THREADS)
    esft_attention_k(float *out, const float *q, const float *kc, const float *vc,
                     const int32_t *seq, const int32_t *pos, int n_heads, int n_kv_heads, int hd,
                     int max_ctx, int n_slots, int window, float scale) {
    __shared__ __align__(16) float sq[32 * NR];
    __shared__ float sm_m[ATT_WARPS], sm_l[ATT_WARPS];
    __shared__ float sm_acc[ATT_WARPS][32 * NR];
    const int th = blockIdx.x, t = th / n_heads, h = th % n_heads;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    float *o = out + (esft_u64)th * hd;
    const int sl = seq[t], p = pos[t];
    if (!esft_token_ok(sl, p, n_slots, max_ctx)) {
        for (int d = threadIdx.x; d < hd; d += blockDim.x) o[d] = NAN;
        return;
    }
    const esft_u64 row = (esft_u64)n_kv_heads * hd;
    const esft_u64 base = (esft_u64)sl * max_ctx * row + (esft_u64)(h / (n_heads / n_kv_heads)) * hd;
    const float *kb = kc + base, *vb = vc + base;
    for (int d = threadIdx.x; d < 32 * NR; d += blockDim.x) sq[d] = d < hd ? q[(esft_u64)th * hd + d] : 0.0f;
    __syncthreads();

    float m = -INFINITY, l = 0.0f, acc[NR];
#pragma unroll
    for (int r = 0; r < NR; r++) acc[r] = 0.0f;
    const int n_keys = p + 1, first = window > 0 && p >= window ? p - window + 1 : 0;
    for (int j0 = first + warp * 32; j0 < n_keys; j0 += ATT_WARPS * 32) {
        /* scores: lane -> key j0 + lane */
        const int j = j0 + lane;
        float s = -INFINITY;
        if (j < n_keys) {
            const float *kr = kb + (esft_u64)j * row;
            float dot = 0.0f;
            if ((hd & 3) == 0) { /* rows start on 16 bytes: vector loads */
                for (int d = 0; d < hd; d += 4) {
                    const float4 kv = *(const float4 *)(kr + d), qv = *(const float4 *)(sq + d);
                    dot += qv.x * kv.x;
                    dot += qv.y * kv.y;
                    dot += qv.z * kv.z;
                    dot += qv.w * kv.w;
                }
            } else {
                for (int d = 0; d < hd; d++) dot += sq[d] * kr[d];
            }
            s = dot * scale;
        }
        float tm = s;
        for (int off = 16; off > 0; off >>= 1) tm = fmaxf(tm, __shfl_xor_sync(0xFFFFFFFFu, tm, off));
        const float mn = fmaxf(m, tm);
        const float corr = expf(m - mn); /* 0 on the first tile (m = -inf) */
        const float e = j < n_keys ? expf(s - mn) : 0.0f;
        l = l * corr + esft_warp_sum(e);
#pragma unroll
        for (int r = 0; r < NR; r++) acc[r] *= corr;
        /* values: lane -> dimensions lane + 32 r */
        const int tile = n_keys - j0 < 32 ? n_keys - j0 : 32;
        for (int jj = 0; jj < tile; jj++) {
            const float pj = __shfl_sync(0xFFFFFFFFu, e, jj);
            const float *vr = vb + (esft_u64)(j0 + jj) * row;
#pragma unroll
            for (int r = 0; r < NR; r++) {
                const int d = lane + 32 * r;
                if (d < hd) acc[r] += pj * vr[d];
            }
        }
        m = mn;
    }
    if (lane == 0) sm_m[warp] = m, sm_l[warp] = l;
#pragma unroll
    for (int r = 0; r < NR; r++) sm_acc[warp][lane + 32 * r] = acc[r];
    __syncthreads();

    /* merge the warps (a warp without keys has l = 0 and m = -inf) */
    float M = -INFINITY;
    for (int w = 0; w < ATT_WARPS; w++) M = fmaxf(M, sm_m[w]);
    float L = 0.0f;
    for (int w = 0; w < ATT_WARPS; w++)
        if (sm_l[w] > 0.0f) L += sm_l[w] * expf(sm_m[w] - M);
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float a = 0.0f;
        for (int w = 0; w < ATT_WARPS; w++)
            if (sm_l[w] > 0.0f) a += sm_acc[w][d] * expf(sm_m[w] - M);
        o[d] = a / L;
    }
}

extern "C" cudaError_t esft_cuda_attention(cudaStream_t s, float *out, const float *q,
                                           const float *k, const float *v, float *kcache,
                                           float *vcache, const int32_t *seq, const int32_t *pos,
                                           int T, int n_heads, int n_kv_heads, int head_dim,
                                           int max_ctx, int n_slots, int window, float scale) {
    if (T <= 0) return cudaSuccess;
    if (head_dim <= 0 || head_dim > ESFT_CUDA_MAX_HEAD_DIM || n_kv_heads <= 0 ||
        n_heads % n_kv_heads != 0)
        return cudaErrorInvalidValue;
    esft_u64 row = (esft_u64)n_kv_heads * head_dim;
    esft_kv_store_k<<<T, KV_THREADS, 0, s>>>(kcache, vcache, k, v, seq, pos, row, max_ctx, n_slots);
    cudaError_t e = esft_launched();
    if (e != cudaSuccess) return e;
    unsigned blocks = (unsigned)T * (unsigned)n_heads;
#define ESFT_ATT_LAUNCH(NR)                                                                      \
    esft_attention_k<NR><<<blocks, ATT_THREADS, 0, s>>>(out, q, kcache, vcache, seq, pos,       \
                                                        n_heads, n_kv_heads, head_dim, max_ctx, \
                                                        n_slots, window, scale)
    if (head_dim <= 32) ESFT_ATT_LAUNCH(1);
    else if (head_dim <= 64) ESFT_ATT_LAUNCH(2);
    else if (head_dim <= 128) ESFT_ATT_LAUNCH(4);
    else ESFT_ATT_LAUNCH(8);
#undef ESFT_ATT_LAUNCH
    return esft_launched();
}
