/* Private to the cpu backend: context, scratch, f16/bf16 conversions and the
 * op entry points split across cpu_*.c. */
#ifndef ESFT_CPU_INTERNAL_H
#define ESFT_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu_backend.h"

#define ESFT_CPU_ALIGN 64

typedef struct cpu_ctx {
    int n_threads;
    float *scratch;     /* grown on demand, reused across calls */
    size_t scratch_n;   /* floats */
} cpu_ctx;

static inline cpu_ctx *cpu_ctx_of(esft_backend *be) { return (cpu_ctx *)be->ctx; }

/* A scratch area of at least n floats (64-byte aligned), or NULL on OOM. */
float *esft_cpu_scratch(esft_backend *be, size_t n);
/* Floats per thread region rounded up to a cache line. */
static inline size_t esft_cpu_round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* --- f16 / bf16 (round to nearest even, NaN kept) --- */
static inline float esft_cpu_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t esft_cpu_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static inline float esft_cpu_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t ex = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
    if (ex == 0) {
        float f = (float)man * 5.9604644775390625e-8f; /* man * 2^-24 (zero or subnormal) */
        return sign ? -f : f;
    }
    if (ex == 31) return esft_cpu_bits_f32(sign | 0x7F800000u | (man << 13));
    return esft_cpu_bits_f32(sign | ((ex + 112u) << 23) | (man << 13));
}

static inline uint16_t esft_cpu_f32_to_f16(float f) {
    uint32_t x = esft_cpu_f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7FFFFFFFu;
    if (ax >= 0x7F800000u) /* inf, NaN (kept quiet) */
        return (uint16_t)(sign | 0x7C00u | (ax > 0x7F800000u ? 0x200u | ((ax >> 13) & 0x3FFu) : 0u));
    if (ax >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* >= 65520 rounds to inf */
    if (ax < 0x38800000u) { /* below 2^-14: subnormal result, units of 2^-24 */
        float v = esft_cpu_bits_f32(ax) * 16777216.0f; /* exact */
        uint32_t iv = (uint32_t)v;
        float rem = v - (float)iv;
        if (rem > 0.5f || (rem == 0.5f && (iv & 1u))) iv++;
        return (uint16_t)(sign | iv); /* iv == 0x400 is the smallest normal */
    }
    uint32_t h = (((ax >> 23) - 112u) << 10) | ((ax & 0x7FFFFFu) >> 13);
    uint32_t rem = ax & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* carry may reach inf: right */
    return (uint16_t)(sign | h);
}

static inline float esft_cpu_bf16_to_f32(uint16_t h) { return esft_cpu_bits_f32((uint32_t)h << 16); }

static inline uint16_t esft_cpu_f32_to_bf16(float f) {
    uint32_t x = esft_cpu_f32_bits(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

/* dst[0..n) = row of the given dtype (F32, F16 or BF16) converted to f32. */
void esft_cpu_row_to_f32(float *dst, const void *src, esft_dtype dtype, size_t n);

/* The ops (cpu_noise.c: perturb, es_update and the test hooks; cpu_matmul.c: matmul;
 * cpu_ops.c: the rest), with backend.h's signatures. */
ESFT_DECLARE_OPS(esft_cpu)

#endif
