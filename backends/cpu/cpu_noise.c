/* ES noise on the cpu: perturb, es_update, noise, philox (DESIGN.md §1).
 *
 * Work is split into groups of 16 Philox blocks = 64 consecutive elements
 * (group g holds elements 64g .. 64g+63). Every element, whatever the range
 * an op covers, is computed by the same group kernel, so results do not
 * depend on offsets, chunking or the number of threads.
 *
 * Group kernels:
 *  - AVX-512 (16 lanes = the 16 blocks of a group): Philox with
 *    32x32->64 multiplies (vpmuludq on even/odd lanes), then the f32
 *    polynomial log and sin/cos of esft_philox.h operation for operation
 *    (same constants, same fused multiply-adds), a 4x16 transpose into
 *    element order. es_update keeps the 64 accumulators in registers across
 *    all members.
 *  - AVX2 + FMA: the same with 8 lanes (two half groups);
 *  - portable C: the scalar functions of esft_philox.h per block.
 *
 * es_update summation order (per element, hence reproducible; the same
 * order on every backend):
 *     acc = 0.0f
 *     for k = 0 .. K-1:  acc = acc + coeffs[k] * eps(seeds[k], tid, i)   (fused)
 *     master[i] = master[i] + acc
 * all in f32. perturb: work[i] = cast(master[i] + sigma * eps) (fused). */
#include "cpu_internal.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "esft_philox.h"
#include "esft_optim.h"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#define GROUP 64        /* elements per group */
#define GROUP_BLOCKS 16 /* Philox blocks per group */

/* Key schedule of one member: round r uses (k0[r], k1[r]). */
typedef struct keysched {
    uint32_t k0[10], k1[10];
} keysched;

static void make_keys(keysched *ks, uint64_t seed) {
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        ks->k0[r] = k0;
        ks->k1[r] = k1;
        k0 += ESFT_PHILOX_W0;
        k1 += ESFT_PHILOX_W1;
    }
}

#if defined(__AVX512F__)

/* ------------------------------------------------------------ AVX-512 */

/* hi and lo 32 bits of a * m for 16 u32 lanes (m the same in every lane):
 * vpmuludq on the even and on the odd lanes, then one masked in-lane swap
 * each to gather the high and the low halves. */
static inline __m512i mulhilo16(__m512i a, __m512i m, __m512i *lo) {
    __m512i pe = _mm512_mul_epu32(a, m);                        /* lanes 0, 2, ... */
    __m512i po = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m); /* lanes 1, 3, ... */
    *lo = _mm512_mask_shuffle_epi32(pe, 0xAAAA, po, _MM_PERM_CDAB);
    return _mm512_mask_shuffle_epi32(po, 0x5555, pe, _MM_PERM_CDAB);
}

#define XOR3(a, b, c) _mm512_ternarylogic_epi32((a), (b), (c), 0x96)

/* Philox4x32-10 of blocks gb .. gb+15 (lane j = block gb + j). */
static inline void philox16(uint64_t gb, uint32_t tid, const keysched *ks, __m512i *x0,
                            __m512i *x1, __m512i *x2, __m512i *x3) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i m0 = _mm512_set1_epi32((int)ESFT_PHILOX_M0);
    const __m512i m1 = _mm512_set1_epi32((int)ESFT_PHILOX_M1);
    __m512i lo = _mm512_set1_epi32((int)(uint32_t)gb);
    __m512i c0 = _mm512_add_epi32(lo, iota);
    __mmask16 carry = _mm512_cmplt_epu32_mask(c0, lo);
    __m512i hi = _mm512_set1_epi32((int)(uint32_t)(gb >> 32));
    __m512i c1 = _mm512_mask_add_epi32(hi, carry, hi, _mm512_set1_epi32(1));
    __m512i c2 = _mm512_set1_epi32((int)tid);
    __m512i c3 = _mm512_set1_epi32((int)ESFT_PHILOX_TAG);
    for (int r = 0; r < 10; r++) {
        __m512i l0, l1;
        __m512i h0 = mulhilo16(c0, m0, &l0);
        __m512i h1 = mulhilo16(c2, m1, &l1);
        __m512i n0 = XOR3(h1, c1, _mm512_set1_epi32((int)ks->k0[r]));
        __m512i n2 = XOR3(h0, c3, _mm512_set1_epi32((int)ks->k1[r]));
        c0 = n0;
        c1 = l1;
        c2 = n2;
        c3 = l0;
    }
    *x0 = c0;
    *x1 = c1;
    *x2 = c2;
    *x3 = c3;
}

/* (r cos th, r sin th) for 16 word pairs: esft_box_muller, vectorised. */
static inline void box_muller16(__m512i a, __m512i c, __m512 *nc, __m512 *ns) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 two_m24 = _mm512_set1_ps(5.9604644775390625e-8f);
    /* -2 ln u1 */
    __m512i ai = _mm512_add_epi32(_mm512_srli_epi32(a, 8), _mm512_set1_epi32(1));
    __m512 u1 = _mm512_mul_ps(_mm512_cvtepi32_ps(ai), two_m24);
    __m512i bits = _mm512_castps_si512(u1);
    __m512i mb = _mm512_and_si512(bits, _mm512_set1_epi32(0x007FFFFF));
    __mmask16 big = _mm512_cmpgt_epu32_mask(mb, _mm512_set1_epi32(0x003504F3));
    __m512i mexp = _mm512_mask_blend_epi32(big, _mm512_set1_epi32(0x3F800000),
                                           _mm512_set1_epi32(0x3F000000));
    __m512 m = _mm512_castsi512_ps(_mm512_or_si512(mb, mexp));
    __m512i ei = _mm512_sub_epi32(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(127));
    ei = _mm512_mask_add_epi32(ei, big, ei, _mm512_set1_epi32(1));
    __m512 e = _mm512_cvtepi32_ps(ei);
    __m512 s = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
    __m512 s2 = _mm512_mul_ps(s, s);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(0.11111111111111111f), s2,
                               _mm512_set1_ps(0.14285714285714285f));
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(0.2f));
    p = _mm512_fmadd_ps(p, s2, _mm512_set1_ps(0.33333333333333333f));
    p = _mm512_mul_ps(p, s2);
    __m512 s_2 = _mm512_add_ps(s, s);
    __m512 lnm = _mm512_fmadd_ps(s_2, p, s_2);
    __m512 ln = _mm512_fmadd_ps(e, _mm512_set1_ps(0.693145751953125f),
                                _mm512_fmadd_ps(e, _mm512_set1_ps(1.4286068202862268e-06f), lnm));
    __m512 r = _mm512_sqrt_ps(_mm512_mul_ps(_mm512_set1_ps(-2.0f), ln));
    /* cos, sin of 2 pi u2 */
    __m512i k = _mm512_srli_epi32(c, 8);
    __m512i q = _mm512_srli_epi32(_mm512_add_epi32(k, _mm512_set1_epi32(0x200000)), 22);
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(k, _mm512_slli_epi32(q, 22))),
                             two_m24);
    __m512 ff = _mm512_mul_ps(f, f);
    __m512 sp = _mm512_fmadd_ps(_mm512_set1_ps(4.2058693944897634e+01f), ff,
                                _mm512_set1_ps(-7.6705859753061360e+01f));
    sp = _mm512_fmadd_ps(sp, ff, _mm512_set1_ps(8.1605249276075040e+01f));
    sp = _mm512_fmadd_ps(sp, ff, _mm512_set1_ps(-4.1341702240399755e+01f));
    sp = _mm512_fmadd_ps(sp, ff, _mm512_set1_ps(6.2831853071795865e+00f));
    __m512 sn = _mm512_mul_ps(f, sp);
    __m512 cp = _mm512_fmadd_ps(_mm512_set1_ps(-2.6426256783374388e+01f), ff,
                                _mm512_set1_ps(6.0244641371876640e+01f));
    cp = _mm512_fmadd_ps(cp, ff, _mm512_set1_ps(-8.5456817206693710e+01f));
    cp = _mm512_fmadd_ps(cp, ff, _mm512_set1_ps(6.4939394022668280e+01f));
    cp = _mm512_fmadd_ps(cp, ff, _mm512_set1_ps(-1.9739208802178716e+01f));
    __m512 cs = _mm512_fmadd_ps(ff, cp, one);
    __mmask16 odd = _mm512_test_epi32_mask(q, _mm512_set1_epi32(1));
    __m512 c0 = _mm512_mask_blend_ps(odd, cs, sn);
    __m512 s0 = _mm512_mask_blend_ps(odd, sn, cs);
    const __m512i two = _mm512_set1_epi32(2);
    __m512i sgn_c = _mm512_slli_epi32(_mm512_and_si512(_mm512_add_epi32(q, _mm512_set1_epi32(1)), two), 30);
    __m512i sgn_s = _mm512_slli_epi32(_mm512_and_si512(q, two), 30);
    c0 = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(c0), sgn_c));
    s0 = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(s0), sgn_s));
    *nc = _mm512_mul_ps(c0, r);
    *ns = _mm512_mul_ps(s0, r);
}

/* Normals of group g, lane j = block 16g + j, n_q = element 4j + q. */
static inline void normals16(uint64_t g, uint32_t tid, const keysched *ks, __m512 *n0, __m512 *n1,
                             __m512 *n2, __m512 *n3) {
    __m512i x0, x1, x2, x3;
    philox16(g * GROUP_BLOCKS, tid, ks, &x0, &x1, &x2, &x3);
    box_muller16(x0, x1, n0, n1);
    box_muller16(x2, x3, n2, n3);
}

/* Stores the 64 values z[4j + q] = n_q[j] in element order. */
static inline void store_transposed(float *dst, __m512 n0, __m512 n1, __m512 n2, __m512 n3) {
    __m512 t0 = _mm512_unpacklo_ps(n0, n1), t1 = _mm512_unpackhi_ps(n0, n1);
    __m512 t2 = _mm512_unpacklo_ps(n2, n3), t3 = _mm512_unpackhi_ps(n2, n3);
    /* u0: blocks 0,4,8,12; u1: 1,5,9,13; u2: 2,6,10,14; u3: 3,7,11,15 (128-bit lanes) */
    __m512 u0 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
    __m512 u1 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
    __m512 u2 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
    __m512 u3 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
    __m512 v0 = _mm512_shuffle_f32x4(u0, u1, 0x44); /* 0 4 1 5 */
    __m512 v1 = _mm512_shuffle_f32x4(u0, u1, 0xEE); /* 8 12 9 13 */
    __m512 v2 = _mm512_shuffle_f32x4(u2, u3, 0x44); /* 2 6 3 7 */
    __m512 v3 = _mm512_shuffle_f32x4(u2, u3, 0xEE); /* 10 14 11 15 */
    _mm512_storeu_ps(dst + 0, _mm512_shuffle_f32x4(v0, v2, 0x88));  /* 0 1 2 3 */
    _mm512_storeu_ps(dst + 16, _mm512_shuffle_f32x4(v0, v2, 0xDD)); /* 4 5 6 7 */
    _mm512_storeu_ps(dst + 32, _mm512_shuffle_f32x4(v1, v3, 0x88)); /* 8 .. 11 */
    _mm512_storeu_ps(dst + 48, _mm512_shuffle_f32x4(v1, v3, 0xDD)); /* 12 .. 15 */
}

static void noise_group(float *z, uint64_t g, uint32_t tid, const keysched *ks) {
    __m512 n0, n1, n2, n3;
    normals16(g, tid, ks, &n0, &n1, &n2, &n3);
    store_transposed(z, n0, n1, n2, n3);
}

static void acc_group(float *acc, uint64_t g, uint32_t tid, const keysched *ks, const float *coef,
                      int K) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int k = 0; k < K; k++) {
        __m512 n0, n1, n2, n3;
        normals16(g, tid, &ks[k], &n0, &n1, &n2, &n3);
        __m512 c = _mm512_set1_ps(coef[k]);
        a0 = _mm512_fmadd_ps(c, n0, a0);
        a1 = _mm512_fmadd_ps(c, n1, a1);
        a2 = _mm512_fmadd_ps(c, n2, a2);
        a3 = _mm512_fmadd_ps(c, n3, a3);
    }
    store_transposed(acc, a0, a1, a2, a3);
}

#elif defined(__AVX2__) && defined(__FMA__)

/* --------------------------------------------------------------- AVX2 */

/* hi and lo 32 bits of a * m for 8 u32 lanes. */
static inline __m256i mulhilo8(__m256i a, __m256i m, __m256i *lo) {
    __m256i pe = _mm256_mul_epu32(a, m);
    __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
    return _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
}

/* Philox4x32-10 of blocks b .. b+7 (lane j = block b + j). */
static inline void philox8(uint64_t b, uint32_t tid, const keysched *ks, __m256i *x0, __m256i *x1,
                           __m256i *x2, __m256i *x3) {
    const __m256i m0 = _mm256_set1_epi32((int)ESFT_PHILOX_M0);
    const __m256i m1 = _mm256_set1_epi32((int)ESFT_PHILOX_M1);
    uint32_t lo[8], hi[8];
    for (int j = 0; j < 8; j++) {
        lo[j] = (uint32_t)(b + (uint64_t)j);
        hi[j] = (uint32_t)((b + (uint64_t)j) >> 32);
    }
    __m256i c0 = _mm256_loadu_si256((const __m256i *)lo);
    __m256i c1 = _mm256_loadu_si256((const __m256i *)hi);
    __m256i c2 = _mm256_set1_epi32((int)tid);
    __m256i c3 = _mm256_set1_epi32((int)ESFT_PHILOX_TAG);
    for (int r = 0; r < 10; r++) {
        __m256i l0, l1;
        __m256i h0 = mulhilo8(c0, m0, &l0);
        __m256i h1 = mulhilo8(c2, m1, &l1);
        __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(h1, c1), _mm256_set1_epi32((int)ks->k0[r]));
        __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(h0, c3), _mm256_set1_epi32((int)ks->k1[r]));
        c0 = n0;
        c1 = l1;
        c2 = n2;
        c3 = l0;
    }
    *x0 = c0;
    *x1 = c1;
    *x2 = c2;
    *x3 = c3;
}

/* esft_box_muller for 8 word pairs, operation for operation. */
static inline void box_muller8(__m256i a, __m256i c, __m256 *nc, __m256 *ns) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 two_m24 = _mm256_set1_ps(5.9604644775390625e-8f);
    __m256i ai = _mm256_add_epi32(_mm256_srli_epi32(a, 8), _mm256_set1_epi32(1));
    __m256 u1 = _mm256_mul_ps(_mm256_cvtepi32_ps(ai), two_m24);
    __m256i bits = _mm256_castps_si256(u1);
    __m256i mb = _mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF));
    __m256i big = _mm256_cmpgt_epi32(mb, _mm256_set1_epi32(0x003504F3)); /* -1 or 0 */
    __m256i mexp = _mm256_blendv_epi8(_mm256_set1_epi32(0x3F800000), _mm256_set1_epi32(0x3F000000), big);
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(mb, mexp));
    __m256i ei = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127));
    ei = _mm256_sub_epi32(ei, big);
    __m256 e = _mm256_cvtepi32_ps(ei);
    __m256 s = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one));
    __m256 s2 = _mm256_mul_ps(s, s);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(0.11111111111111111f), s2,
                               _mm256_set1_ps(0.14285714285714285f));
    p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(0.2f));
    p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(0.33333333333333333f));
    p = _mm256_mul_ps(p, s2);
    __m256 s_2 = _mm256_add_ps(s, s);
    __m256 lnm = _mm256_fmadd_ps(s_2, p, s_2);
    __m256 ln = _mm256_fmadd_ps(e, _mm256_set1_ps(0.693145751953125f),
                                _mm256_fmadd_ps(e, _mm256_set1_ps(1.4286068202862268e-06f), lnm));
    __m256 r = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), ln));
    __m256i k = _mm256_srli_epi32(c, 8);
    __m256i q = _mm256_srli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(0x200000)), 22);
    __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(k, _mm256_slli_epi32(q, 22))),
                             two_m24);
    __m256 ff = _mm256_mul_ps(f, f);
    __m256 sp = _mm256_fmadd_ps(_mm256_set1_ps(4.2058693944897634e+01f), ff,
                                _mm256_set1_ps(-7.6705859753061360e+01f));
    sp = _mm256_fmadd_ps(sp, ff, _mm256_set1_ps(8.1605249276075040e+01f));
    sp = _mm256_fmadd_ps(sp, ff, _mm256_set1_ps(-4.1341702240399755e+01f));
    sp = _mm256_fmadd_ps(sp, ff, _mm256_set1_ps(6.2831853071795865e+00f));
    __m256 sn = _mm256_mul_ps(f, sp);
    __m256 cp = _mm256_fmadd_ps(_mm256_set1_ps(-2.6426256783374388e+01f), ff,
                                _mm256_set1_ps(6.0244641371876640e+01f));
    cp = _mm256_fmadd_ps(cp, ff, _mm256_set1_ps(-8.5456817206693710e+01f));
    cp = _mm256_fmadd_ps(cp, ff, _mm256_set1_ps(6.4939394022668280e+01f));
    cp = _mm256_fmadd_ps(cp, ff, _mm256_set1_ps(-1.9739208802178716e+01f));
    __m256 cs = _mm256_fmadd_ps(ff, cp, one);
    __m256 odd = _mm256_castsi256_ps(_mm256_slli_epi32(q, 31)); /* sign bit = q & 1 */
    __m256 c0 = _mm256_blendv_ps(cs, sn, odd);
    __m256 s0 = _mm256_blendv_ps(sn, cs, odd);
    const __m256i two = _mm256_set1_epi32(2);
    __m256i sgn_c = _mm256_slli_epi32(_mm256_and_si256(_mm256_add_epi32(q, _mm256_set1_epi32(1)), two), 30);
    __m256i sgn_s = _mm256_slli_epi32(_mm256_and_si256(q, two), 30);
    c0 = _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(c0), sgn_c));
    s0 = _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(s0), sgn_s));
    *nc = _mm256_mul_ps(c0, r);
    *ns = _mm256_mul_ps(s0, r);
}

static inline void normals8(uint64_t b, uint32_t tid, const keysched *ks, __m256 *n0, __m256 *n1,
                            __m256 *n2, __m256 *n3) {
    __m256i x0, x1, x2, x3;
    philox8(b, tid, ks, &x0, &x1, &x2, &x3);
    box_muller8(x0, x1, n0, n1);
    box_muller8(x2, x3, n2, n3);
}

/* Stores the 32 values z[4j + q] = n_q[j] in element order. */
static inline void store_transposed8(float *dst, __m256 n0, __m256 n1, __m256 n2, __m256 n3) {
    __m256 t0 = _mm256_unpacklo_ps(n0, n1), t1 = _mm256_unpackhi_ps(n0, n1);
    __m256 t2 = _mm256_unpacklo_ps(n2, n3), t3 = _mm256_unpackhi_ps(n2, n3);
    /* u0: blocks 0,4; u1: 1,5; u2: 2,6; u3: 3,7 (128-bit lanes) */
    __m256 u0 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2)));
    __m256 u1 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2)));
    __m256 u2 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3)));
    __m256 u3 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3)));
    _mm256_storeu_ps(dst + 0, _mm256_permute2f128_ps(u0, u1, 0x20));  /* 0 1 */
    _mm256_storeu_ps(dst + 8, _mm256_permute2f128_ps(u2, u3, 0x20));  /* 2 3 */
    _mm256_storeu_ps(dst + 16, _mm256_permute2f128_ps(u0, u1, 0x31)); /* 4 5 */
    _mm256_storeu_ps(dst + 24, _mm256_permute2f128_ps(u2, u3, 0x31)); /* 6 7 */
}

static void noise_group(float *z, uint64_t g, uint32_t tid, const keysched *ks) {
    for (int half = 0; half < 2; half++) {
        __m256 n0, n1, n2, n3;
        normals8(g * GROUP_BLOCKS + 8u * (unsigned)half, tid, ks, &n0, &n1, &n2, &n3);
        store_transposed8(z + 32 * half, n0, n1, n2, n3);
    }
}

static void acc_group(float *acc, uint64_t g, uint32_t tid, const keysched *ks, const float *coef,
                      int K) {
    for (int half = 0; half < 2; half++) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < K; k++) {
            __m256 n0, n1, n2, n3;
            normals8(g * GROUP_BLOCKS + 8u * (unsigned)half, tid, &ks[k], &n0, &n1, &n2, &n3);
            __m256 c = _mm256_set1_ps(coef[k]);
            a0 = _mm256_fmadd_ps(c, n0, a0);
            a1 = _mm256_fmadd_ps(c, n1, a1);
            a2 = _mm256_fmadd_ps(c, n2, a2);
            a3 = _mm256_fmadd_ps(c, n3, a3);
        }
        store_transposed8(acc + 32 * half, a0, a1, a2, a3);
    }
}

#else

/* ------------------------------------------------------- portable C */

static void noise_group(float *z, uint64_t g, uint32_t tid, const keysched *ks) {
    uint64_t b0 = g * GROUP_BLOCKS;
    for (int j = 0; j < GROUP_BLOCKS; j++) {
        esft_u32x4 x = esft_philox4x32_10(esft_eps_counter(b0 + (uint64_t)j, tid), ks->k0[0],
                                          ks->k1[0]);
        esft_f32x2 p0 = esft_box_muller(x.x0, x.x1);
        esft_f32x2 p1 = esft_box_muller(x.x2, x.x3);
        z[4 * j + 0] = p0.x0;
        z[4 * j + 1] = p0.x1;
        z[4 * j + 2] = p1.x0;
        z[4 * j + 3] = p1.x1;
    }
}

static void acc_group(float *acc, uint64_t g, uint32_t tid, const keysched *ks, const float *coef,
                      int K) {
    float z[GROUP];
    for (int e = 0; e < GROUP; e++) acc[e] = 0.0f;
    for (int k = 0; k < K; k++) {
        noise_group(z, g, tid, &ks[k]);
        float c = coef[k];
        for (int e = 0; e < GROUP; e++) acc[e] = acc[e] + c * z[e];
    }
}

#endif

/* Groups touching elements [first, first + n), n > 0. */
static inline void group_span(uint64_t first, uint64_t n, uint64_t *g0, int64_t *ng) {
    *g0 = first / GROUP;
    *ng = (int64_t)((first + (n - 1)) / GROUP - *g0 + 1);
}

/* ----------------------------------------------------------------- noise */

esft_status esft_cpu_noise(esft_backend *be, esft_buf *out, size_t n, uint64_t first,
                           uint32_t tensor_id, uint64_t seed) {
    if (n == 0) return ESFT_OK;
    float *o = out->handle;
    keysched ks;
    make_keys(&ks, seed);
    uint64_t g0;
    int64_t ng;
    group_span(first, n, &g0, &ng);
    uint64_t last = first + (n - 1); /* inclusive: no overflow at 2^64 */
#pragma omp parallel for schedule(static) num_threads(cpu_ctx_of(be)->n_threads) if (ng > 16)
    for (int64_t gi = 0; gi < ng; gi++) {
        uint64_t g = g0 + (uint64_t)gi, e0 = g * GROUP, e_last = e0 + (GROUP - 1);
        float z[GROUP] __attribute__((aligned(64)));
        noise_group(z, g, tensor_id, &ks);
        uint64_t a = e0 > first ? e0 : first, b = e_last < last ? e_last : last;
        memcpy(o + (a - first), z + (a - e0), (size_t)(b - a + 1) * sizeof(float));
    }
    return ESFT_OK;
}

/* --------------------------------------------------------------- perturb */

esft_status esft_cpu_perturb(esft_backend *be, esft_buf *work, const esft_buf *master, size_t n,
                             uint32_t tensor_id, uint64_t seed, float sigma) {
    if (n == 0) return ESFT_OK;
    const float *m = master->handle;
    esft_dtype wd = work->dtype;
    keysched ks;
    make_keys(&ks, seed);
    uint64_t g0;
    int64_t ng;
    group_span(0, n, &g0, &ng);
#pragma omp parallel for schedule(static) num_threads(cpu_ctx_of(be)->n_threads) if (ng > 16)
    for (int64_t gi = 0; gi < ng; gi++) {
        uint64_t e0 = (uint64_t)gi * GROUP;
        size_t cnt = n - e0 < GROUP ? (size_t)(n - e0) : GROUP;
        float z[GROUP] __attribute__((aligned(64)));
        noise_group(z, (uint64_t)gi, tensor_id, &ks);
        const float *src = m + e0;
        /* the f32 weights (in place of z for 16-bit work), then the cast:
         * a 16-bit copy is exactly the f32 copy rounded once */
        float *dst = wd == ESFT_F32 ? (float *)work->handle + e0 : z;
        if (cnt == GROUP) {
#pragma omp simd
            for (int e = 0; e < GROUP; e++) dst[e] = src[e] + sigma * z[e];
        } else {
            for (size_t e = 0; e < cnt; e++) dst[e] = src[e] + sigma * z[e];
        }
        if (wd != ESFT_F32) esft_cpu_row_from_f32((uint16_t *)work->handle + e0, z, wd, cnt);
    }
    return ESFT_OK;
}

/* ------------------------------------------------------------- es_update */

/* The members' key schedules: in `local` (32 entries) when they fit, else
 * malloc'd (NULL when out of memory; free with keys_free). */
static keysched *keys_make(keysched *local, const uint64_t *seeds, int n_members) {
    keysched *ks = n_members > 32 ? malloc((size_t)n_members * sizeof *ks) : local;
    for (int k = 0; ks && k < n_members; k++) make_keys(&ks[k], seeds[k]);
    return ks;
}

static void keys_free(keysched *ks, keysched *local) {
    if (ks != local) free(ks);
}

esft_status esft_cpu_es_update(esft_backend *be, esft_buf *master, size_t n, uint32_t tensor_id,
                               const uint64_t *seeds, const float *coeffs, int n_members) {
    if (n == 0 || n_members <= 0) return ESFT_OK;
    float *m = master->handle;
    keysched ks_local[32];
    keysched *ks = keys_make(ks_local, seeds, n_members);
    if (!ks)
        return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY,
                         "es_update: cannot allocate key schedules for %d members", n_members);
    uint64_t g0;
    int64_t ng;
    group_span(0, n, &g0, &ng);
#pragma omp parallel for schedule(static) num_threads(cpu_ctx_of(be)->n_threads) \
    if (ng * n_members > 16)
    for (int64_t gi = 0; gi < ng; gi++) {
        uint64_t e0 = (uint64_t)gi * GROUP;
        size_t cnt = n - e0 < GROUP ? (size_t)(n - e0) : GROUP;
        float acc[GROUP] __attribute__((aligned(64)));
        acc_group(acc, (uint64_t)gi, tensor_id, ks, coeffs, n_members);
        float *dst = m + e0;
        if (cnt == GROUP) {
#pragma omp simd
            for (int e = 0; e < GROUP; e++) dst[e] = dst[e] + acc[e];
        } else {
            for (size_t e = 0; e < cnt; e++) dst[e] = dst[e] + acc[e];
        }
    }
    keys_free(ks, ks_local);
    return ESFT_OK;
}

/* ----------------------------------------------------------- es_optimize */

/* The gradient of a group comes from acc_group (the es_update sum, in
 * registers), then each element takes the shared rule of esft_optim.h. */
esft_status esft_cpu_es_optimize(esft_backend *be, esft_buf *master, esft_buf *state, const esft_buf *base,
                                 size_t n, uint32_t tensor_id, const uint64_t *seeds, const float *coeffs,
                                 int n_members, const esft_opt_step *p) {
    float *th = master->handle;
    float *mom = state ? state->handle : NULL;
    float *vel = p->rule == ESFT_OPT_ADAM ? mom + n : NULL;
    const float *bs = base ? base->handle : NULL;
    keysched ks_local[32];
    keysched *ks = keys_make(ks_local, seeds, n_members);
    if (!ks)
        return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY,
                         "es_optimize: cannot allocate key schedules for %d members", n_members);
    uint64_t g0;
    int64_t ng;
    group_span(0, n, &g0, &ng);
#pragma omp parallel for schedule(static) num_threads(cpu_ctx_of(be)->n_threads) if (ng > 16)
    for (int64_t gi = 0; gi < ng; gi++) {
        uint64_t e0 = (uint64_t)gi * GROUP;
        size_t cnt = n - e0 < GROUP ? (size_t)(n - e0) : GROUP;
        float acc[GROUP] __attribute__((aligned(64)));
        if (n_members > 0) acc_group(acc, (uint64_t)gi, tensor_id, ks, coeffs, n_members);
        else memset(acc, 0, sizeof acc);
        for (size_t e = 0; e < cnt; e++) {
            size_t i = e0 + e;
            esft_opt_elem r = esft_opt_element(p->rule, th[i], acc[e], mom ? mom[i] : 0.0f, vel ? vel[i] : 0.0f,
                                               bs ? bs[i] : 0.0f, p->lr, p->beta1, p->beta2, p->eps, p->bc1,
                                               p->bc2, p->l2, p->decay, p->anchor);
            th[i] = r.theta;
            if (mom) mom[i] = r.m;
            if (vel) vel[i] = r.v;
        }
    }
    keys_free(ks, ks_local);
    return ESFT_OK;
}

/* ---------------------------------------------------------------- philox */

esft_status esft_cpu_philox(esft_backend *be, esft_buf *out, size_t n_blocks, uint64_t first_block,
                            uint32_t c2, uint32_t c3, uint64_t key) {
    uint32_t *o = out->handle;
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
#pragma omp parallel for schedule(static) num_threads(cpu_ctx_of(be)->n_threads) \
    if (n_blocks > 4096)
    for (size_t b = 0; b < n_blocks; b++) {
        uint64_t ctr = first_block + b;
        esft_u32x4 c;
        c.x0 = (uint32_t)ctr;
        c.x1 = (uint32_t)(ctr >> 32);
        c.x2 = c2;
        c.x3 = c3;
        esft_u32x4 x = esft_philox4x32_10(c, k0, k1);
        o[4 * b + 0] = x.x0;
        o[4 * b + 1] = x.x1;
        o[4 * b + 2] = x.x2;
        o[4 * b + 3] = x.x3;
    }
    return ESFT_OK;
}
