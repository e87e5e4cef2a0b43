#version 450
/* Element-wise ops, one pipeline per specialization constant OP:
 *   0 scale:    y[i] = y[i] * factor
 *   1 add:      y[i] = a[i] + b[i]
 *   2 swiglu:   y[i] = silu(a[i]) * b[i]          (a = gate, b = up)
 *   3 add_bias: y[i] = y[i] + b[i % N]
 *   4 geglu:    y[i] = gelu_tanh(a[i]) * b[i]     (a = gate, b = up)
 * y may alias a or b. */
#include "common.glsl"

layout(constant_id = 1) const uint OP = 0;
layout(std430, set = 0, binding = 0) buffer Y { float y[]; };
layout(std430, set = 0, binding = 1) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 2) readonly buffer B { float b[]; };
layout(push_constant) uniform PC { uint n; float factor; uint N; } pc;

void main() {
    uint i = esft_gid();
    if (i >= pc.n) return;
    if (OP == 0u) {
        y[i] = y[i] * pc.factor;
    } else if (OP == 1u) {
        y[i] = a[i] + b[i];
    } else if (OP == 2u) {
        float g = a[i];
        y[i] = g / (1.0 + exp(-g)) * b[i];
    } else if (OP == 3u) {
        y[i] = y[i] + b[i % pc.N];
    } else {
        float g = a[i];
        /* tanh saturates in f32 long before |u| = 10; the clamp keeps a
         * driver's exp-based tanh away from inf / inf */
        float u = clamp(0.7978845608028654 * (g + 0.044715 * g * g * g), -10.0, 10.0);
        y[i] = 0.5 * g * (1.0 + tanh(u)) * b[i];
    }
}
