#version 450
/* Raw Philox words: out[4b .. 4b+3] for counter (first_block + b, c2, c3). */
#include "common.glsl"
#include "philox.glsl"

layout(std430, set = 0, binding = 0) writeonly buffer Out { uint o[]; };
layout(push_constant) uniform PC { uint n_blocks, fb_lo, fb_hi, c2, c3, key_lo, key_hi; } pc;

void main() {
    uint g = esft_gid();
    if (g >= pc.n_blocks) return;
    uvec2 ctr = esft_add64(uvec2(pc.fb_lo, pc.fb_hi), g);
    uvec4 x = esft_philox4x32_10(uvec4(ctr, pc.c2, pc.c3), pc.key_lo, pc.key_hi);
    o[4 * g + 0] = x.x;
    o[4 * g + 1] = x.y;
    o[4 * g + 2] = x.z;
    o[4 * g + 3] = x.w;
}
