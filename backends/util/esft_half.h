/* f32 <-> f16 (IEEE binary16) and f32 <-> bf16 conversions: round to nearest
 * even, overflow to infinity, NaN kept (quieted, payload's top bits kept).
 * Inline because the cpu backend converts in its inner loops. */
#ifndef ESFT_HALF_H
#define ESFT_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t esft_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float esft_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float esft_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t em = h & 0x7fffu;
    /* Shifting exponent+mantissa into f32 position and scaling by 2^(127-15)
     * is exact for normals and subnormals alike. */
    float mag = esft_bits_f32(em << 13) * 0x1p112f;
    uint32_t bits = esft_f32_bits(mag);
    if (em >= 0x7c00u) bits = 0x7f800000u | (em << 13); /* inf, NaN (payload kept) */
    return esft_bits_f32(sign | bits);
}

static inline uint16_t esft_f32_to_f16(float f) {
    uint32_t x = esft_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x >= 0x7f800000u) {
        if (x == 0x7f800000u) return sign | 0x7c00u;
        return (uint16_t)(sign | 0x7e00u | ((x >> 13) & 0x3ffu)); /* quiet NaN */
    }
    if (x >= 0x477ff000u) return sign | 0x7c00u; /* >= 65520 rounds to inf */
    if (x < 0x38800000u) {
        /* Below the smallest f16 normal (2^-14): adding 0.5 (ulp 2^-24, the
         * f16 subnormal step) rounds to nearest even in hardware. */
        float t = esft_bits_f32(x) + 0.5f;
        return (uint16_t)(sign | (esft_f32_bits(t) - 0x3f000000u));
    }
    uint32_t odd = (x >> 13) & 1u;
    x += 0xc8000000u + 0xfffu + odd; /* rebias exponent by -112, round */
    return (uint16_t)(sign | (x >> 13));
}

static inline float esft_bf16_to_f32(uint16_t h) { return esft_bits_f32((uint32_t)h << 16); }

static inline uint16_t esft_f32_to_bf16(float f) {
    uint32_t x = esft_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

#endif
