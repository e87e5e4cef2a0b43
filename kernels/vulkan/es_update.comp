#version 450
/* master[i] += sum_k coeffs[k] * eps(seeds[k], tid, i), k ascending, f32
 * fused multiply-adds. side[2k], side[2k+1] = seed k (lo, hi);
 * side[2K + k] = the bits of coeffs[k]. */
#include "common.glsl"
#include "philox.glsl"

layout(std430, set = 0, binding = 0) buffer Master { float master[]; };
layout(std430, set = 0, binding = 1) readonly buffer Side { uint side[]; };
layout(push_constant) uniform PC { uint n, tid, K; } pc;
#include "member_sum.glsl"

void main() {
    uint b = esft_gid();
    uint i0 = 4u * b;
    if (b >= (pc.n + 3u) / 4u) return;
    vec4 acc = esft_member_sum(b, pc.tid, pc.K);
    for (uint q = 0u; q < 4u; q++)
        if (i0 + q < pc.n) master[i0 + q] = master[i0 + q] + acc[q];
}
