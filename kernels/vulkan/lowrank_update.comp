#version 450
/* Low-rank members, the update: one invocation per W[i, j],
 * += sum over members k (ascending) and r of coeffs[k] * A_k[i, r] * B_k[j, r]. */
#include "common.glsl"

layout(std430, set = 0, binding = 0) buffer W { float w[]; };
layout(std430, set = 0, binding = 1) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 2) readonly buffer Bf { float b[]; };
layout(std430, set = 0, binding = 3) readonly buffer C { float coeffs[]; };
layout(push_constant) uniform PC { uint N, K, R, total; int P; } pc;

void main() {
    uint g = esft_gid();
    if (g >= pc.total) return;
    uint i = g / pc.K, j = g % pc.K;
    float acc = 0.0;
    for (int k = 0; k < pc.P; k++) {
        uint ab = (uint(k) * pc.N + i) * pc.R, bb = (uint(k) * pc.K + j) * pc.R;
        float s = 0.0;
        for (uint r = 0u; r < pc.R; r++) s = fma(a[ab + r], b[bb + r], s);
        acc = fma(coeffs[k], s, acc);
    }
    w[g] = w[g] + acc;
}
