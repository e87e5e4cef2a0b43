#version 450
/* out[i] = eps(seed, tid, first + i), i < n. Invocation g computes block
 * (first >> 2) + g and writes those of its four elements inside the range. */
#include "common.glsl"
#include "philox.glsl"

layout(std430, set = 0, binding = 0) writeonly buffer Out { float o[]; };
layout(push_constant) uniform PC { uint n, f_lo, f_hi, tid, s_lo, s_hi, n_blocks; } pc;

void main() {
    uint g = esft_gid();
    if (g >= pc.n_blocks) return;
    uvec2 b0 = uvec2((pc.f_lo >> 2) | (pc.f_hi << 30), pc.f_hi >> 2);
    vec4 z = esft_eps_block(uvec2(pc.s_lo, pc.s_hi), pc.tid, esft_add64(b0, g));
    int skip = int(pc.f_lo & 3u);
    for (int q = 0; q < 4; q++) {
        int at = int(4u * g) + q - skip;
        if (at >= 0 && uint(at) < pc.n) o[at] = z[q];
    }
}
