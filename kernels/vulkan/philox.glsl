/* The noise of DESIGN.md §1 in GLSL: the same Philox4x32-10 rounds and the
 * same f32 normal mapping as kernels/common/esft_philox.h (which GLSL cannot
 * include). 32x32 -> 64 products through umulExtended; 64-bit counters and
 * seeds as uvec2 (lo, hi), so no shaderInt64 is needed. The polynomials
 * use fma() where the C header writes `p * x + c` (the contraction the C
 * compilers perform), so the normals agree with the cpu backend to a few
 * ulps and the u32 streams are bit-identical. */
const uint ESFT_PHILOX_M0 = 0xD2511F53u;
const uint ESFT_PHILOX_M1 = 0xCD9E8D57u;
const uint ESFT_PHILOX_W0 = 0x9E3779B9u;
const uint ESFT_PHILOX_W1 = 0xBB67AE85u;
const uint ESFT_PHILOX_TAG = 0x45534654u;

uvec4 esft_philox_round(uvec4 c, uint k0, uint k1) {
    uint hi0, lo0, hi1, lo1;
    umulExtended(ESFT_PHILOX_M0, c.x, hi0, lo0);
    umulExtended(ESFT_PHILOX_M1, c.z, hi1, lo1);
    return uvec4(hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0);
}

uvec4 esft_philox4x32_10(uvec4 c, uint k0, uint k1) {
    for (int r = 0; r < 9; r++) {
        c = esft_philox_round(c, k0, k1);
        k0 += ESFT_PHILOX_W0;
        k1 += ESFT_PHILOX_W1;
    }
    return esft_philox_round(c, k0, k1);
}

/* 64-bit a + b for (lo, hi) pairs. */
uvec2 esft_add64(uvec2 a, uint b) {
    uint carry;
    uint lo = uaddCarry(a.x, b, carry);
    return uvec2(lo, a.y + carry);
}

/* -2 ln(u1), u1 = ((a >> 8) + 1) * 2^-24. */
float esft_neg2log_u1(uint a) {
    float u1 = float(int((a >> 8) + 1u)) * 5.9604644775390625e-8;
    uint bits = floatBitsToUint(u1);
    uint mb = bits & 0x007FFFFFu;
    int big = mb > 0x003504F3u ? 1 : 0;
    float m = uintBitsToFloat(mb | (big != 0 ? 0x3F000000u : 0x3F800000u));
    float e = float(int(bits >> 23) - 127 + big);
    float s = (m - 1.0) / (m + 1.0);
    float s2 = s * s;
    float p = 0.11111111111111111;
    p = fma(p, s2, 0.14285714285714285);
    p = fma(p, s2, 0.2);
    p = fma(p, s2, 0.33333333333333333);
    p = p * s2;
    float s_2 = s + s;
    float lnm = fma(s_2, p, s_2);
    float ln = fma(e, 0.693145751953125, fma(e, 1.4286068202862268e-06, lnm));
    return -2.0 * ln;
}

/* (cos, sin)(2 pi (c >> 8) 2^-24). */
vec2 esft_cossin_u2(uint c) {
    int k = int(c >> 8);
    int q = (k + 0x200000) >> 22;
    float f = float(k - (q << 22)) * 5.9604644775390625e-8;
    float ff = f * f;
    float sp = 4.2058693944897634e+01;
    sp = fma(sp, ff, -7.6705859753061360e+01);
    sp = fma(sp, ff, 8.1605249276075040e+01);
    sp = fma(sp, ff, -4.1341702240399755e+01);
    sp = fma(sp, ff, 6.2831853071795865e+00);
    float sn = f * sp;
    float cp = -2.6426256783374388e+01;
    cp = fma(cp, ff, 6.0244641371876640e+01);
    cp = fma(cp, ff, -8.5456817206693710e+01);
    cp = fma(cp, ff, 6.4939394022668280e+01);
    cp = fma(cp, ff, -1.9739208802178716e+01);
    float cs = fma(ff, cp, 1.0);
    bool odd = (q & 1) != 0;
    float c0 = odd ? sn : cs;
    float s0 = odd ? cs : sn;
    return vec2((((q + 1) & 2) != 0) ? -c0 : c0, ((q & 2) != 0) ? -s0 : s0);
}

vec2 esft_box_muller(uint a, uint c) {
    float r = sqrt(esft_neg2log_u1(a));
    return esft_cossin_u2(c) * r;
}

/* eps(seed, tid, 4b + q), q = 0..3; seed and b as (lo, hi). */
vec4 esft_eps_block(uvec2 seed, uint tid, uvec2 b) {
    uvec4 x = esft_philox4x32_10(uvec4(b.x, b.y, tid, ESFT_PHILOX_TAG), seed.x, seed.y);
    return vec4(esft_box_muller(x.x, x.y), esft_box_muller(x.z, x.w));
}
