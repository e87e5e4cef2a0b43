#version 450
/* Low-rank members: one work-group per token t of member k = member[t]
 * (skipped outside [0, P)). u[r] = scales[t] * x[t, :] . B_k[:, r] by a
 * tree reduction per r, then y[t, i] += A_k[i, :] . u. Factors are stacked
 * by member, row-major: A_k[i, r] at (k*N + i)*R + r, B_k[j, r] at
 * (k*K + j)*R + r. R <= 256 (ESFT_LOWRANK_MAX_RANK). */
#include "common.glsl"

layout(std430, set = 0, binding = 0) buffer Y { float y[]; };
layout(std430, set = 0, binding = 1) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 2) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 3) readonly buffer Bf { float b[]; };
layout(std430, set = 0, binding = 4) readonly buffer M { int member[]; };
layout(std430, set = 0, binding = 5) readonly buffer S { float scales[]; };
layout(push_constant) uniform PC { uint T, N, K, R; int P; } pc;

shared float red[LS];
shared float u[256];

void main() {
    uint t = esft_group();
    if (t >= pc.T) return;
    int k = member[t];
    if (k < 0 || k >= pc.P) return;
    uint lid = gl_LocalInvocationID.x;
    uint xb = t * pc.K, bb = uint(k) * pc.K * pc.R, ab = uint(k) * pc.N * pc.R;
    for (uint r = 0u; r < pc.R; r++) {
        float s = 0.0;
        for (uint j = lid; j < pc.K; j += LS) s = fma(x[xb + j], b[bb + j * pc.R + r], s);
        red[lid] = s;
        barrier();
        for (uint h = LS / 2u; h > 0u; h >>= 1) {
            if (lid < h) red[lid] += red[lid + h];
            barrier();
        }
        if (lid == 0u) u[r] = red[0] * scales[t];
        barrier();
    }
    uint yb = t * pc.N;
    for (uint i = lid; i < pc.N; i += LS) {
        float acc = 0.0;
        for (uint r = 0u; r < pc.R; r++) acc = fma(a[ab + i * pc.R + r], u[r], acc);
        y[yb + i] = y[yb + i] + acc;
    }
}
