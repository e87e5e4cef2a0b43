#version 450
/* work[i] = master[i] + sigma * eps(seed, tid, i) (one fused multiply-add). */
#include "common.glsl"
#include "philox.glsl"

layout(std430, set = 0, binding = 0) writeonly buffer Work { float work[]; };
layout(std430, set = 0, binding = 1) readonly buffer Master { float master[]; };
layout(push_constant) uniform PC { uint n, tid, s_lo, s_hi; float sigma; } pc;

void main() {
    uint b = esft_gid();
    uint i0 = 4u * b;
    if (b >= (pc.n + 3u) / 4u) return;
    vec4 z = esft_eps_block(uvec2(pc.s_lo, pc.s_hi), pc.tid, uvec2(b, 0u));
    for (uint q = 0u; q < 4u; q++)
        if (i0 + q < pc.n) work[i0 + q] = fma(pc.sigma, z[q], master[i0 + q]);
}
