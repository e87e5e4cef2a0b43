#version 450
/* One optimizer step on the ES gradient: es_update's sum g, then the rule of
 * kernels/common/esft_optim.h, written here in GLSL in the same operation
 * order (that header is the one C/OpenCL/CUDA source; GLSL cannot include
 * it, as philox.glsl mirrors esft_philox.h). state holds m [n] then v [n],
 * read only by rules that keep them; base is read only with an anchor (the
 * host binds master in place of what is unused). side as in es_update.comp. */
#include "common.glsl"
#include "philox.glsl"
#include "../common/esft_optim_rules.h"

layout(std430, set = 0, binding = 0) buffer Master { float master[]; };
layout(std430, set = 0, binding = 1) buffer State { float state[]; };
layout(std430, set = 0, binding = 2) readonly buffer Base { float base[]; };
layout(std430, set = 0, binding = 3) readonly buffer Side { uint side[]; };
layout(push_constant) uniform PC {
    uint n, tid, K;
    int rule;
    float lr, beta1, beta2, eps, bc1, bc2, l2, decay, anchor;
} pc;
#include "member_sum.glsl"

void main() {
    uint b = esft_gid();
    uint i0 = 4u * b;
    if (b >= (pc.n + 3u) / 4u) return;
    vec4 acc = esft_member_sum(b, pc.tid, pc.K);
    for (uint q = 0u; q < 4u; q++) {
        uint i = i0 + q;
        if (i >= pc.n) break;
        float theta = master[i];
        float g = fma(-pc.l2, theta, acc[q]);
        float u = g;
        if (pc.rule == ESFT_OPT_MOMENTUM) {
            float m = fma(pc.beta1, state[i], g);
            state[i] = m;
            u = m;
        } else if (pc.rule == ESFT_OPT_ADAM) {
            float m = fma(pc.beta1, state[i], (1.0 - pc.beta1) * g);
            float v = fma(pc.beta2, state[pc.n + i], ((1.0 - pc.beta2) * g) * g);
            state[i] = m;
            state[pc.n + i] = v;
            u = (m * pc.bc1) / (sqrt(v * pc.bc2) + pc.eps);
        }
        float bs = pc.anchor != 0.0 ? base[i] : 0.0;
        master[i] = theta + fma(pc.lr, u, fma(-pc.anchor, theta - bs, -pc.decay * theta));
    }
}
