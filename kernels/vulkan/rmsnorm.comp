#version 450
/* One work-group per row t: y[t, :] = x[t, :] / sqrt(mean(x^2) + eps) * w.
 * y may be x (each invocation reads then writes its own elements, after
 * the reduction has read them all). */
#include "common.glsl"

layout(std430, set = 0, binding = 0) buffer Y { float y[]; };
layout(std430, set = 0, binding = 1) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 2) readonly buffer W { float w[]; };
layout(push_constant) uniform PC { uint D; float eps; uint T; } pc;

shared float red[LS];

void main() {
    uint t = esft_group();
    if (t >= pc.T) return;
    uint lid = gl_LocalInvocationID.x;
    uint base = t * pc.D;
    float s = 0.0;
    for (uint i = lid; i < pc.D; i += LS) s = fma(x[base + i], x[base + i], s);
    red[lid] = s;
    barrier();
    for (uint h = LS / 2u; h > 0u; h >>= 1) {
        if (lid < h) red[lid] += red[lid + h];
        barrier();
    }
    float scale = 1.0 / sqrt(red[0] / float(pc.D) + pc.eps);
    for (uint i = lid; i < pc.D; i += LS) y[base + i] = x[base + i] * scale * w[i];
}
