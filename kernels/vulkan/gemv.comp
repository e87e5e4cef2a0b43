#version 450
/* y[t, n] = x[t, :] . W[n, :] (+ bias[n]) for small T (one-token decode):
 * one subgroup per output row n, ROWS rows per work-group. Each subgroup
 * strides over K by the subgroup size the device actually runs
 * (gl_SubgroupSize), then reduces with subgroupAdd, so nothing assumes a
 * particular subgroup size (lavapipe's is 8, others 16 to 128). Up to TB
 * tokens share one pass over W's row (pipelines for TB = 1 and 8). */
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(constant_id = 1) const uint ROWS = 4;
layout(constant_id = 2) const uint TB = 1; /* tokens per pass over a row of W */
layout(std430, set = 0, binding = 0) writeonly buffer Y { float y[]; };
layout(std430, set = 0, binding = 1) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 2) readonly buffer W { float w[]; };
layout(std430, set = 0, binding = 3) readonly buffer Bias { float bias[]; };
layout(push_constant) uniform PC { uint T, N, K, has_bias; } pc;


void main() {
    uint n0 = esft_group() * ROWS;
    for (uint r = gl_SubgroupID; r < ROWS; r += gl_NumSubgroups) {
        uint n = n0 + r;
        if (n >= pc.N) break;
        uint wb = n * pc.K;
        for (uint t0 = 0u; t0 < pc.T; t0 += TB) {
            uint nt = min(pc.T - t0, uint(TB));
            float acc[TB];
            [[unroll]] for (uint j = 0u; j < TB; j++) acc[j] = 0.0;
            for (uint k = gl_SubgroupInvocationID; k < pc.K; k += gl_SubgroupSize) {
                float wk = w[wb + k];
                [[unroll]] for (uint j = 0u; j < TB; j++)
                    if (j < nt) acc[j] = fma(x[(t0 + j) * pc.K + k], wk, acc[j]);
            }
            [[unroll]] for (uint j = 0u; j < TB; j++) {
                if (j >= nt) break;
                float s = subgroupAdd(acc[j]);
                if (subgroupElect()) y[(t0 + j) * pc.N + n] = pc.has_bias != 0u ? s + bias[n] : s;
            }
        }
    }
}
