#version 450
/* One work-group per row: ids[t] = the smallest index of the maximum of
 * x[t, :N]; a number beats NaN, ties go to the smaller index. */
#include "common.glsl"

layout(std430, set = 0, binding = 0) writeonly buffer Ids { int ids[]; };
layout(std430, set = 0, binding = 1) readonly buffer X { float x[]; };
layout(push_constant) uniform PC { uint N, T; } pc;

shared float rv[LS];
shared int ri[LS];

bool beats(float va, int ia, float vb, int ib) {
    if (isnan(va)) return isnan(vb) && ia < ib;
    if (isnan(vb)) return true;
    return va > vb || (va == vb && ia < ib);
}

void main() {
    uint t = esft_group();
    if (t >= pc.T) return;
    uint lid = gl_LocalInvocationID.x;
    uint base = t * pc.N;
    float bv = uintBitsToFloat(0x7FC00000u);
    int bi = 0x7FFFFFFF;
    for (uint i = lid; i < pc.N; i += LS) {
        float v = x[base + i];
        if (beats(v, int(i), bv, bi)) {
            bv = v;
            bi = int(i);
        }
    }
    rv[lid] = bv;
    ri[lid] = bi;
    barrier();
    for (uint h = LS / 2u; h > 0u; h >>= 1) {
        if (lid < h && beats(rv[lid + h], ri[lid + h], rv[lid], ri[lid])) {
            rv[lid] = rv[lid + h];
            ri[lid] = ri[lid + h];
        }
        barrier();
    }
    if (lid == 0u) ids[t] = ri[0] == 0x7FFFFFFF ? 0 : ri[0];
}
