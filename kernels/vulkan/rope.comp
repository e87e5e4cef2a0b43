#version 450
/* RoPE in place on x[T x H x hd], one invocation per (t, h, i), i < hd/2.
 * freq[i] = base^(-2i/hd) comes from the host (computed in double, as on the
 * cpu backend), divided by ff[i] when use_ff (Llama 3 rope scaling). The angle pos * freq[i] is reduced to [-pi/4, pi/4] in
 * double precision when the device has shaderFloat64 (ESFT_FP64, as the
 * freq table then is), else with a three-part Cody-Waite reduction in f32;
 * sin and cos of the remainder are f32 polynomials (no reliance on the
 * driver's sin/cos precision). */
#include "common.glsl"
#ifdef ESFT_FP64
#define FREQ_T double
#else
#define FREQ_T float
#endif

layout(std430, set = 0, binding = 0) buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer Pos { int pos[]; };
layout(std430, set = 0, binding = 2) readonly buffer Freq { FREQ_T freq[]; };
layout(std430, set = 0, binding = 3) readonly buffer FF { float ff[]; };
layout(push_constant) uniform PC { uint H, hd, neox, total, use_ff; } pc;

void main() {
    uint g = esft_gid();
    if (g >= pc.total) return;
    uint half_ = pc.hd / 2u;
    uint i = g % half_;
    uint th = g / half_;
    uint t = th / pc.H;
    float r;
    int q;
#ifdef ESFT_FP64
    double ang = double(pos[t]) * freq[i];
    if (pc.use_ff != 0u) ang /= double(ff[i]);
    double k = floor(ang * 0.63661977236758134308lf + 0.5lf);
    r = float(ang - k * 1.5707963267948966192lf);
    q = int(k - 4.0lf * floor(k * 0.25lf));
#else
    float ang = float(pos[t]) * freq[i];
    if (pc.use_ff != 0u) ang /= ff[i];
    float k = floor(ang * 0.636619772 + 0.5);
    r = fma(-k, 1.5703125, ang);
    r = fma(-k, 4.83751297e-04, r);
    r = fma(-k, 7.54978995e-08, r);
    q = int(k - 4.0 * floor(k * 0.25));
#endif
    float r2 = r * r;
    float sp = 2.7557319e-06;
    sp = fma(sp, r2, -1.9841270e-04);
    sp = fma(sp, r2, 8.3333333e-03);
    sp = fma(sp, r2, -1.6666667e-01);
    float sn = fma(r * r2, sp, r);
    float cp = -2.7557319e-07;
    cp = fma(cp, r2, 2.4801587e-05);
    cp = fma(cp, r2, -1.3888889e-03);
    cp = fma(cp, r2, 4.1666667e-02);
    cp = fma(cp, r2, -0.5);
    float cs = fma(r2, cp, 1.0);
    /* rotate by q quarter turns: (cos, sin)(r + q pi/2) */
    float c0 = cs, s0 = sn;
    if (q == 1) { c0 = -sn; s0 = cs; }
    else if (q == 2) { c0 = -cs; s0 = -sn; }
    else if (q == 3) { c0 = sn; s0 = -cs; }
    uint base = th * pc.hd;
    uint i0 = pc.neox != 0u ? i : 2u * i;
    uint i1 = pc.neox != 0u ? i + half_ : 2u * i + 1u;
    float a = x[base + i0], b = x[base + i1];
    x[base + i0] = a * c0 - b * s0;
    x[base + i1] = a * s0 + b * c0;
}
