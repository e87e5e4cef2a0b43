/* Counter-based noise of DESIGN.md §1, shared by every backend.
 *
 * Written in the subset of C that C11, OpenCL C (1.2+) and CUDA C++ all
 * accept: no <stdint.h> types on the device side (ESFT_U32 / ESFT_U64 /
 * ESFT_S32 are macros per compiler), no pointers (results are small structs
 * returned by value), no library calls except sqrt and fma, and bit casts through a
 * per-compiler macro. GLSL gets the same rounds via umulExtended.
 *
 * Contents:
 *   esft_philox4x32_10(ctr, k0, k1)  Philox4x32-10 (Salmon et al., SC'11);
 *                                    reproduces the Random123 known answers.
 *   esft_eps_block(seed, tid, b)     the four normals eps(seed, tid, 4b+q),
 *                                    q = 0..3, from one Philox block.
 *   esft_eps(seed, tid, i)           one normal, scalar.
 *
 * The normal mapping (DESIGN.md §1): for the word pair (a, c)
 *   u1 = ((a >> 8) + 1) * 2^-24        in (0, 1], exact in f32
 *   u2 =  (c >> 8)      * 2^-24        in [0, 1)
 *   r  = sqrt(-2 ln u1), th = 2 pi u2, normal = r cos th  or  r sin th.
 * ln and sin/cos are evaluated here with f32 polynomials (no libm), so every
 * backend that includes this header computes the same formula:
 *   ln u1: u1 = m * 2^e with m in [sqrt(1/2), sqrt(2)], s = (m-1)/(m+1),
 *          ln m = 2 (s + s^3/3 + s^5/5 + s^7/7 + s^9/9) (truncation < 3e-10),
 *          ln u1 = e*ln2_hi + (ln m + e*ln2_lo);
 *   sin/cos(2 pi u2): with k = c >> 8 (24-bit integer), the quadrant
 *          q = (k + 2^21) >> 22 and the exact remainder f = (k - q*2^22)
 *          * 2^-24 in [-1/8, 1/8); Taylor polynomials in f with the powers
 *          of 2 pi folded into the coefficients (truncation < 3e-9); then a
 *          quadrant rotation.
 * The result agrees with a libm double-precision evaluation to about
 * 2e-7 relative (a few ulps); the u32 streams are bit-identical everywhere.
 * The fused multiply-adds are explicit (ESFT_FMAF: fmaf, OpenCL fma,
 * CUDA __fmaf_rn), so the result does not hang on a compiler's contraction
 * choices: every backend that evaluates these formulas in this operation
 * order gets the same bits as the cpu backend (its AVX-512, AVX2 and scalar
 * paths all agree bit for bit).
 *
 * The ES ops built on eps (every backend, DESIGN.md §1):
 *   perturb:   work[i] = cast(master[i] + sigma * eps(seed, tid, i))
 *              (one fused multiply-add in f32, then the cast to the work
 *              dtype, round to nearest even);
 *   es_update: acc = 0.0f;
 *              for k = 0 .. K-1 in ascending order:
 *                  acc = acc + coeffs[k] * eps(seeds[k], tid, i)   (fused)
 *              master[i] = master[i] + acc
 *              all f32, one read and one write of master per element. The
 *              order is per element, so chunking and threads do not change
 *              the result. */
#ifndef ESFT_PHILOX_H
#define ESFT_PHILOX_H

#if defined(__OPENCL_VERSION__) || defined(__OPENCL_C_VERSION__)
#define ESFT_U32 uint
#define ESFT_U64 ulong
#define ESFT_S32 int
#define ESFT_FN static inline
#define ESFT_AS_F32(u) as_float(u)
#define ESFT_AS_U32(f) as_uint(f)
#define ESFT_SQRTF(x) sqrt(x)
#define ESFT_FMAF(a, b, c) fma(a, b, c)
#elif defined(__CUDACC__)
#define ESFT_U32 unsigned int
#define ESFT_U64 unsigned long long
#define ESFT_S32 int
#define ESFT_FN static __host__ __device__ __forceinline__
#ifdef __CUDA_ARCH__
#define ESFT_AS_F32(u) __uint_as_float(u)
#define ESFT_AS_U32(f) __float_as_uint(f)
#else
ESFT_FN float esft_as_f32_host_(unsigned int u) { union { unsigned int u; float f; } v; v.u = u; return v.f; }
ESFT_FN unsigned int esft_as_u32_host_(float f) { union { unsigned int u; float f; } v; v.f = f; return v.u; }
#define ESFT_AS_F32(u) esft_as_f32_host_(u)
#define ESFT_AS_U32(f) esft_as_u32_host_(f)
#endif
#define ESFT_SQRTF(x) sqrtf(x)
#ifdef __CUDA_ARCH__
#define ESFT_FMAF(a, b, c) __fmaf_rn(a, b, c)
#else
#define ESFT_FMAF(a, b, c) fmaf(a, b, c)
#endif
#else /* host C */
#include <math.h>
#include <stdint.h>
#define ESFT_U32 uint32_t
#define ESFT_U64 uint64_t
#define ESFT_S32 int32_t
#define ESFT_FN static inline
static inline float esft_as_f32_(uint32_t u) { union { uint32_t u; float f; } v; v.u = u; return v.f; }
static inline uint32_t esft_as_u32_(float f) { union { uint32_t u; float f; } v; v.f = f; return v.u; }
#define ESFT_AS_F32(u) esft_as_f32_(u)
#define ESFT_AS_U32(f) esft_as_u32_(f)
#define ESFT_SQRTF(x) sqrtf(x)
#define ESFT_FMAF(a, b, c) fmaf(a, b, c)
#endif

/* Philox4x32 constants. */
#define ESFT_PHILOX_M0 0xD2511F53u
#define ESFT_PHILOX_M1 0xCD9E8D57u
#define ESFT_PHILOX_W0 0x9E3779B9u
#define ESFT_PHILOX_W1 0xBB67AE85u
/* Fourth counter word of every eps draw: "ESFT". */
#define ESFT_PHILOX_TAG 0x45534654u

typedef struct esft_u32x4 {
    ESFT_U32 x0, x1, x2, x3;
} esft_u32x4;

typedef struct esft_f32x4 {
    float x0, x1, x2, x3;
} esft_f32x4;

typedef struct esft_f32x2 {
    float x0, x1;
} esft_f32x2;

/* High 32 bits of a 32x32 -> 64 product. */
ESFT_FN ESFT_U32 esft_mulhi32(ESFT_U32 a, ESFT_U32 b) {
    return (ESFT_U32)(((ESFT_U64)a * (ESFT_U64)b) >> 32);
}

ESFT_FN esft_u32x4 esft_philox_round(esft_u32x4 c, ESFT_U32 k0, ESFT_U32 k1) {
    ESFT_U32 hi0 = esft_mulhi32(ESFT_PHILOX_M0, c.x0);
    ESFT_U32 lo0 = ESFT_PHILOX_M0 * c.x0;
    ESFT_U32 hi1 = esft_mulhi32(ESFT_PHILOX_M1, c.x2);
    ESFT_U32 lo1 = ESFT_PHILOX_M1 * c.x2;
    esft_u32x4 r;
    r.x0 = hi1 ^ c.x1 ^ k0;
    r.x1 = lo1;
    r.x2 = hi0 ^ c.x3 ^ k1;
    r.x3 = lo0;
    return r;
}

/* Philox4x32-10: ten rounds, the key bumped by the Weyl increments after
 * each. */
ESFT_FN esft_u32x4 esft_philox4x32_10(esft_u32x4 c, ESFT_U32 k0, ESFT_U32 k1) {
    c = esft_philox_round(c, k0, k1); k0 += ESFT_PHILOX_W0; k1 += ESFT_PHILOX_W1;
    c = esft_philox_round(c, k0, k1); k0 += ESFT_PHILOX_W0; k1 += ESFT_PHILOX_W1;
    c = esft_philox_round(c, k0, k1); k0 += ESFT_PHILOX_W0; k1 += ESFT_PHILOX_W1;
    c = esft_philox_round(c, k0, k1); k0 += ESFT_PHILOX_W0; k1 += ESFT_PHILOX_W1;
    c = esft_philox_round(c, k0, k1); k0 += ESFT_PHILOX_W0; k1 += ESFT_PHILOX_W1;
    c = esft_philox_round(c, k0, k1); k0 += ESFT_PHILOX_W0; k1 += ESFT_PHILOX_W1;
    c = esft_philox_round(c, k0, k1); k0 += ESFT_PHILOX_W0; k1 += ESFT_PHILOX_W1;
    c = esft_philox_round(c, k0, k1); k0 += ESFT_PHILOX_W0; k1 += ESFT_PHILOX_W1;
    c = esft_philox_round(c, k0, k1); k0 += ESFT_PHILOX_W0; k1 += ESFT_PHILOX_W1;
    c = esft_philox_round(c, k0, k1);
    return c;
}

/* The counter of eps block b (elements 4b .. 4b+3) of tensor `tid`. */
ESFT_FN esft_u32x4 esft_eps_counter(ESFT_U64 b, ESFT_U32 tid) {
    esft_u32x4 c;
    c.x0 = (ESFT_U32)b;
    c.x1 = (ESFT_U32)(b >> 32);
    c.x2 = tid;
    c.x3 = ESFT_PHILOX_TAG;
    return c;
}

/* -2 ln(u1) for u1 = ((a >> 8) + 1) * 2^-24, i.e. u1 in [2^-24, 1]. */
ESFT_FN float esft_neg2log_u1(ESFT_U32 a) {
    float u1 = (float)(ESFT_S32)((a >> 8) + 1u) * 5.9604644775390625e-8f;
    ESFT_U32 bits = ESFT_AS_U32(u1);
    ESFT_U32 mb = bits & 0x007FFFFFu;
    /* mantissa above sqrt(2) (0x3FB504F3): use m/2 and e+1 */
    ESFT_S32 big = mb > 0x003504F3u ? 1 : 0;
    float m = ESFT_AS_F32(mb | (big ? 0x3F000000u : 0x3F800000u));
    float e = (float)((ESFT_S32)(bits >> 23) - 127 + big);
    float s = (m - 1.0f) / (m + 1.0f);
    float s2 = s * s;
    float p = 0.11111111111111111f;          /* 1/9 */
    p = ESFT_FMAF(p, s2, 0.14285714285714285f); /* 1/7 */
    p = ESFT_FMAF(p, s2, 0.2f); /* 1/5 */
    p = ESFT_FMAF(p, s2, 0.33333333333333333f); /* 1/3 */
    p = p * s2;
    float s_2 = s + s;
    float lnm = ESFT_FMAF(s_2, p, s_2);
    float ln = ESFT_FMAF(e, 0.693145751953125f, ESFT_FMAF(e, 1.4286068202862268e-06f, lnm));
    return -2.0f * ln;
}

/* (cos, sin)(2 pi (c >> 8) 2^-24). */
ESFT_FN esft_f32x2 esft_cossin_u2(ESFT_U32 c) {
    ESFT_S32 k = (ESFT_S32)(c >> 8);
    ESFT_S32 q = (k + 0x200000) >> 22;              /* 0..4 */
    float f = (float)(k - (q << 22)) * 5.9604644775390625e-8f; /* [-1/8, 1/8) */
    float ff = f * f;
    /* sin(2 pi f) = f * (2pi - (2pi)^3/3! f^2 + ...) */
    float sp = 4.2058693944897634e+01f;             /* (2pi)^9/9! */
    sp = ESFT_FMAF(sp, ff, -7.6705859753061360e+01f); /* -(2pi)^7/7! */
    sp = ESFT_FMAF(sp, ff, 8.1605249276075040e+01f); /* (2pi)^5/5! */
    sp = ESFT_FMAF(sp, ff, -4.1341702240399755e+01f); /* -(2pi)^3/3! */
    sp = ESFT_FMAF(sp, ff, 6.2831853071795865e+00f); /* 2pi */
    float sn = f * sp;
    /* cos(2 pi f) = 1 - (2pi)^2/2! f^2 + ... */
    float cp = -2.6426256783374388e+01f;            /* -(2pi)^10/10! */
    cp = ESFT_FMAF(cp, ff, 6.0244641371876640e+01f); /* (2pi)^8/8! */
    cp = ESFT_FMAF(cp, ff, -8.5456817206693710e+01f); /* -(2pi)^6/6! */
    cp = ESFT_FMAF(cp, ff, 6.4939394022668280e+01f); /* (2pi)^4/4! */
    cp = ESFT_FMAF(cp, ff, -1.9739208802178716e+01f); /* -(2pi)^2/2! */
    float cs = ESFT_FMAF(ff, cp, 1.0f);
    /* rotate by q quarter turns */
    ESFT_S32 odd = q & 1;
    float c0 = odd ? sn : cs;
    float s0 = odd ? cs : sn;
    esft_f32x2 r;
    r.x0 = (((q + 1) & 2) != 0) ? -c0 : c0; /* q = 1, 2: cos < 0 side */
    r.x1 = ((q & 2) != 0) ? -s0 : s0;       /* q = 2, 3 */
    return r;
}

/* The two normals (r cos th, r sin th) of the word pair (a, c). */
ESFT_FN esft_f32x2 esft_box_muller(ESFT_U32 a, ESFT_U32 c) {
    float r = ESFT_SQRTF(esft_neg2log_u1(a));
    esft_f32x2 t = esft_cossin_u2(c);
    t.x0 *= r;
    t.x1 *= r;
    return t;
}

/* Philox words of eps block b. */
ESFT_FN esft_u32x4 esft_eps_words(ESFT_U64 seed, ESFT_U32 tid, ESFT_U64 b) {
    return esft_philox4x32_10(esft_eps_counter(b, tid), (ESFT_U32)seed, (ESFT_U32)(seed >> 32));
}

/* eps(seed, tid, 4b + q) for q = 0..3. */
ESFT_FN esft_f32x4 esft_eps_block(ESFT_U64 seed, ESFT_U32 tid, ESFT_U64 b) {
    esft_u32x4 x = esft_eps_words(seed, tid, b);
    esft_f32x2 p0 = esft_box_muller(x.x0, x.x1);
    esft_f32x2 p1 = esft_box_muller(x.x2, x.x3);
    esft_f32x4 r;
    r.x0 = p0.x0;
    r.x1 = p0.x1;
    r.x2 = p1.x0;
    r.x3 = p1.x1;
    return r;
}

/* eps(seed, tid, i), one element. */
ESFT_FN float esft_eps(ESFT_U64 seed, ESFT_U32 tid, ESFT_U64 i) {
    esft_u32x4 x = esft_eps_words(seed, tid, i >> 2);
    esft_f32x2 p = (i & 2) ? esft_box_muller(x.x2, x.x3) : esft_box_muller(x.x0, x.x1);
    return (i & 1) ? p.x1 : p.x0;
}

#endif
