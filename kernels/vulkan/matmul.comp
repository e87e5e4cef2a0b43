#version 450
/* y[T x N] = x[T x K] . W[N x K]^T (+ bias[N]).
 *
 * Default: a tiled shared-memory GEMM. A work-group of 256 invocations
 * computes a 64 x 64 tile of y (workgroup (n-tile, t-tile) = WorkGroupID.xy),
 * each invocation a 4 x 4 register block at rows ty + 16r and columns
 * tx + 16c; the K dimension streams through shared memory in slices of 16,
 * stored k-major so the inner loop reads consecutive addresses.
 *
 * With ESFT_MATMUL_NAIVE: one invocation per output element, a plain dot
 * product from global memory (the baseline the tiled kernel is measured
 * against; ESFT_VK_MATMUL=naive selects it at run time). */
#include "common.glsl"

layout(std430, set = 0, binding = 0) writeonly buffer Y { float y[]; };
layout(std430, set = 0, binding = 1) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 2) readonly buffer W { float w[]; };
layout(std430, set = 0, binding = 3) readonly buffer Bias { float bias[]; };
layout(push_constant) uniform PC { uint T, N, K, has_bias; } pc;

#ifdef ESFT_MATMUL_NAIVE

void main() {
    uint g = esft_gid();
    if (g >= pc.T * pc.N) return;
    uint t = g / pc.N, n = g % pc.N;
    float acc = 0.0;
    for (uint k = 0u; k < pc.K; k++) acc = fma(x[t * pc.K + k], w[n * pc.K + k], acc);
    y[g] = pc.has_bias != 0u ? acc + bias[n] : acc;
}

#else

#define BM 64
#define BN 64
#define BK 16
shared float As[BK][BM + 1];
shared float Bs[BK][BN + 1];

void main() {
    /* LS must be 256 here (the host specialises it so) */
    uint lid = gl_LocalInvocationID.x;
    uint tx = lid % 16u, ty = lid / 16u;
    uint n0 = gl_WorkGroupID.x * BN, m0 = gl_WorkGroupID.y * BM;
    float acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) acc[r][c] = 0.0;
    for (uint k0 = 0u; k0 < pc.K; k0 += BK) {
        for (uint j = 0u; j < 4u; j++) {
            uint idx = lid + 256u * j;
            uint rr = idx / BK, kk = idx % BK;
            uint m = m0 + rr, n = n0 + rr, k = k0 + kk;
            As[kk][rr] = (m < pc.T && k < pc.K) ? x[m * pc.K + k] : 0.0;
            Bs[kk][rr] = (n < pc.N && k < pc.K) ? w[n * pc.K + k] : 0.0;
        }
        barrier();
        for (uint kk = 0u; kk < BK; kk++) {
            float a[4], b[4];
            for (uint r = 0u; r < 4u; r++) a[r] = As[kk][ty + 16u * r];
            for (uint c = 0u; c < 4u; c++) b[c] = Bs[kk][tx + 16u * c];
            for (uint r = 0u; r < 4u; r++)
                for (uint c = 0u; c < 4u; c++) acc[r][c] = fma(a[r], b[c], acc[r][c]);
        }
        barrier();
    }
    for (uint r = 0u; r < 4u; r++) {
        uint m = m0 + ty + 16u * r;
        if (m >= pc.T) continue;
        for (uint c = 0u; c < 4u; c++) {
            uint n = n0 + tx + 16u * c;
            if (n >= pc.N) continue;
            y[m * pc.N + n] = pc.has_bias != 0u ? acc[r][c] + bias[n] : acc[r][c];
        }
    }
}

#endif
