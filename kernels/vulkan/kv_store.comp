#version 450
/* cache[seq[t]][pos[t]][:] = k[t][:] (and v); tokens with an out-of-range
 * slot or position are skipped. */
#include "common.glsl"

layout(std430, set = 0, binding = 0) writeonly buffer KC { float kc[]; };
layout(std430, set = 0, binding = 1) writeonly buffer VC { float vc[]; };
layout(std430, set = 0, binding = 2) readonly buffer K { float k[]; };
layout(std430, set = 0, binding = 3) readonly buffer V { float v[]; };
layout(std430, set = 0, binding = 4) readonly buffer Seq { int seq[]; };
layout(std430, set = 0, binding = 5) readonly buffer Pos { int pos[]; };
layout(push_constant) uniform PC { uint row; int max_ctx; uint n_slots, total; } pc;

void main() {
    uint i = esft_gid();
    if (i >= pc.total) return;
    uint t = i / pc.row, d = i % pc.row;
    int s = seq[t], p = pos[t];
    if (s < 0 || uint(s) >= pc.n_slots || p < 0 || p >= pc.max_ctx) return;
    uint dst = (uint(s) * uint(pc.max_ctx) + uint(p)) * pc.row + d;
    kc[dst] = k[i];
    vc[dst] = v[i];
}
