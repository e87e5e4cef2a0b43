#version 450
/* Low-rank members, the embedding lookup: one invocation per (t, d),
 * y[t, d] += scales[t] * A_k[ids[t], :] . B_k[d, :], k = member[t]; tokens
 * whose member or id is out of range are left alone. */
#include "common.glsl"

layout(std430, set = 0, binding = 0) buffer Y { float y[]; };
layout(std430, set = 0, binding = 1) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 2) readonly buffer Bf { float b[]; };
layout(std430, set = 0, binding = 3) readonly buffer I { int ids[]; };
layout(std430, set = 0, binding = 4) readonly buffer M { int member[]; };
layout(std430, set = 0, binding = 5) readonly buffer S { float scales[]; };
layout(push_constant) uniform PC { uint D, V, R, total; int P; } pc;

void main() {
    uint g = esft_gid();
    if (g >= pc.total) return;
    uint t = g / pc.D, d = g % pc.D;
    int k = member[t], id = ids[t];
    if (k < 0 || k >= pc.P || id < 0 || uint(id) >= pc.V) return;
    uint ab = (uint(k) * pc.V + uint(id)) * pc.R, bb = (uint(k) * pc.D + d) * pc.R;
    float acc = 0.0;
    for (uint r = 0u; r < pc.R; r++) acc = fma(a[ab + r], b[bb + r], acc);
    y[g] = y[g] + scales[t] * acc;
}
