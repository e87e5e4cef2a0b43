#version 450
/* One work-group per (t, h): scores into scr[(t*H + h - th0) * max_ctx ..],
 * max, exp and sum, then out = sum_j p_j v_j / sum over positions j0 .. p
 * (window > 0: the last `window` positions) (the k/v rows of this call
 * were stored by kv_store.comp in an earlier dispatch). The host bounds the
 * scratch buffer by dispatching TH (t, h) pairs from th0 on at a time. */
#include "common.glsl"

layout(std430, set = 0, binding = 0) writeonly buffer O { float o[]; };
layout(std430, set = 0, binding = 1) readonly buffer Q { float q[]; };
layout(std430, set = 0, binding = 2) readonly buffer KC { float kc[]; };
layout(std430, set = 0, binding = 3) readonly buffer VC { float vc[]; };
layout(std430, set = 0, binding = 4) readonly buffer Seq { int seq[]; };
layout(std430, set = 0, binding = 5) readonly buffer Pos { int pos[]; };
layout(std430, set = 0, binding = 6) coherent buffer Scr { float scr[]; };
layout(push_constant) uniform PC { uint H, KVH, hd; int max_ctx; uint n_slots; float scale; uint TH, th0; int window; } pc;

shared float red[LS];

void main() {
    uint lth = esft_group();
    if (lth >= pc.TH) return;
    uint th = pc.th0 + lth;
    uint lid = gl_LocalInvocationID.x;
    uint t = th / pc.H, h = th % pc.H;
    uint G = pc.H / pc.KVH;
    int s = seq[t], p = pos[t];
    uint ob = th * pc.hd;
    if (s < 0 || uint(s) >= pc.n_slots || p < 0 || p >= pc.max_ctx) {
        for (uint d = lid; d < pc.hd; d += LS) o[ob + d] = uintBitsToFloat(0x7FC00000u);
        return;
    }
    uint row = pc.KVH * pc.hd;
    uint base = uint(s) * uint(pc.max_ctx) * row + (h / G) * pc.hd;
    uint qb = th * pc.hd;
    uint sb = lth * uint(pc.max_ctx);
    int np = p + 1, j0 = pc.window > 0 && p >= pc.window ? p - pc.window + 1 : 0;
    float mx = uintBitsToFloat(0xFF800000u); /* -inf */
    for (int j = j0 + int(lid); j < np; j += int(LS)) {
        uint kb = base + uint(j) * row;
        float a = 0.0;
        for (uint d = 0u; d < pc.hd; d++) a = fma(q[qb + d], kc[kb + d], a);
        a *= pc.scale;
        scr[sb + uint(j)] = a;
        mx = max(mx, a);
    }
    red[lid] = mx;
    barrier();
    for (uint r = LS / 2u; r > 0u; r >>= 1) {
        if (lid < r) red[lid] = max(red[lid], red[lid + r]);
        barrier();
    }
    mx = red[0];
    barrier();
    float sum = 0.0;
    for (int j = j0 + int(lid); j < np; j += int(LS)) {
        float e = exp(scr[sb + uint(j)] - mx);
        scr[sb + uint(j)] = e;
        sum += e;
    }
    red[lid] = sum;
    memoryBarrierBuffer();
    barrier();
    for (uint r = LS / 2u; r > 0u; r >>= 1) {
        if (lid < r) red[lid] += red[lid + r];
        barrier();
    }
    float inv = 1.0 / red[0];
    for (uint d = lid; d < pc.hd; d += LS) {
        float acc = 0.0;
        for (int j = j0; j < np; j++) acc = fma(scr[sb + uint(j)], vc[base + d + uint(j) * row], acc);
        o[ob + d] = acc * inv;
    }
}
