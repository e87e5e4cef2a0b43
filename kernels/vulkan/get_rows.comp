#version 450
/* y[t, :] = table[ids[t], :]; rows with an id outside [0, n_rows) are left
 * untouched (the host cannot see ids without a sync). */
#include "common.glsl"

layout(std430, set = 0, binding = 0) writeonly buffer Y { float y[]; };
layout(std430, set = 0, binding = 1) readonly buffer Tab { float tab[]; };
layout(std430, set = 0, binding = 2) readonly buffer Ids { int ids[]; };
layout(push_constant) uniform PC { uint D, n_rows, total; } pc;

void main() {
    uint i = esft_gid();
    if (i >= pc.total) return;
    uint t = i / pc.D, d = i % pc.D;
    int id = ids[t];
    if (id < 0 || uint(id) >= pc.n_rows) return;
    y[i] = tab[uint(id) * pc.D + d];
}
