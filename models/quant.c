/* ggml tensor types: block layout table, f16/bf16 scalar conversion,
 * dequantisation to f32 and the few quantisations esft exports.
 *
 * Block layouts follow the GGUF/ggml on-disk format (little-endian). The
 * arithmetic is written in the same order as ggml's reference dequantisers,
 * and floating-point contraction (a*b+c -> fma) is switched off for this
 * file, so results are bit-identical to ggml's and gguf-py's. (For the
 * formats here every product is exact in f32 anyway, so fused and unfused
 * evaluation agree; the pragma keeps that true for future formats.) */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "quant.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "esft_half.h"

#define QK_K 256

typedef struct type_traits {
    const char *name;
    uint32_t blck; /* 0: unknown type */
    uint32_t bytes;
    bool dequant;
} type_traits;

/* Indexed by the on-disk type id. Sizes as in ggml/gguf-py. */
static const type_traits k_types[] = {
    [GGML_TYPE_F32] = {"f32", 1, 4, true},
    [GGML_TYPE_F16] = {"f16", 1, 2, true},
    [GGML_TYPE_Q4_0] = {"q4_0", 32, 2 + 16, true},
    [GGML_TYPE_Q4_1] = {"q4_1", 32, 2 + 2 + 16, true},
    [GGML_TYPE_Q5_0] = {"q5_0", 32, 2 + 4 + 16, true},
    [GGML_TYPE_Q5_1] = {"q5_1", 32, 2 + 2 + 4 + 16, true},
    [GGML_TYPE_Q8_0] = {"q8_0", 32, 2 + 32, true},
    /* Current ggml: two f16 (d, s) + 32 int8 = 36 bytes (gguf-py's table
     * still lists the old 40-byte f32 layout). Never stored in model files. */
    [GGML_TYPE_Q8_1] = {"q8_1", 32, 2 + 2 + 32, false},
    [GGML_TYPE_Q2_K] = {"q2_k", QK_K, 2 + 2 + QK_K / 16 + QK_K / 4, true},
    [GGML_TYPE_Q3_K] = {"q3_k", QK_K, 2 + QK_K / 4 + QK_K / 8 + 12, true},
    [GGML_TYPE_Q4_K] = {"q4_k", QK_K, 2 + 2 + QK_K / 2 + 12, true},
    [GGML_TYPE_Q5_K] = {"q5_k", QK_K, 2 + 2 + QK_K / 2 + QK_K / 8 + 12, true},
    [GGML_TYPE_Q6_K] = {"q6_k", QK_K, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16, true},
    [GGML_TYPE_Q8_K] = {"q8_k", QK_K, 4 + QK_K + QK_K / 8, false},
    [GGML_TYPE_IQ2_XXS] = {"iq2_xxs", QK_K, 2 + QK_K / 4, false},
    [GGML_TYPE_IQ2_XS] = {"iq2_xs", QK_K, 2 + QK_K / 4 + QK_K / 32, false},
    [GGML_TYPE_IQ3_XXS] = {"iq3_xxs", QK_K, 2 + QK_K / 4 + QK_K / 8, false},
    [GGML_TYPE_IQ1_S] = {"iq1_s", QK_K, 2 + QK_K / 8 + QK_K / 16, false},
    [GGML_TYPE_IQ4_NL] = {"iq4_nl", 32, 2 + 16, false},
    [GGML_TYPE_IQ3_S] = {"iq3_s", QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4, false},
    [GGML_TYPE_IQ2_S] = {"iq2_s", QK_K, 2 + QK_K / 4 + QK_K / 16, false},
    [GGML_TYPE_IQ4_XS] = {"iq4_xs", QK_K, 2 + 2 + QK_K / 2 + QK_K / 64, false},
    [GGML_TYPE_I8] = {"i8", 1, 1, false},
    [GGML_TYPE_I16] = {"i16", 1, 2, false},
    [GGML_TYPE_I32] = {"i32", 1, 4, false},
    [GGML_TYPE_I64] = {"i64", 1, 8, false},
    [GGML_TYPE_F64] = {"f64", 1, 8, false},
    [GGML_TYPE_IQ1_M] = {"iq1_m", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32, false},
    [GGML_TYPE_BF16] = {"bf16", 1, 2, true},
    [GGML_TYPE_TQ1_0] = {"tq1_0", QK_K, 2 + 4 * 13, false},
    [GGML_TYPE_TQ2_0] = {"tq2_0", QK_K, 2 + 64, false},
    [GGML_TYPE_MXFP4] = {"mxfp4", 32, 1 + 16, false},
    [GGML_TYPE_NVFP4] = {"nvfp4", 64, 4 + 32, false},
    [GGML_TYPE_Q1_0] = {"q1_0", 128, 2 + 16, false},
};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

bool esft_ggml_type_known(uint32_t type) { return type < N_TYPES && k_types[type].blck != 0; }

bool esft_ggml_type_dequantizable(ggml_type type) {
    return esft_ggml_type_known((uint32_t)type) && k_types[type].dequant;
}

const char *esft_ggml_type_name(ggml_type type) {
    return esft_ggml_type_known((uint32_t)type) ? k_types[type].name : "unknown";
}

bool esft_ggml_type_from_name(const char *name, ggml_type *out) {
    if (!name) return false;
    for (uint32_t t = 0; t < N_TYPES; t++) {
        if (k_types[t].blck && strcasecmp(name, k_types[t].name) == 0) {
            if (out) *out = (ggml_type)t;
            return true;
        }
    }
    return false;
}

size_t esft_ggml_block_elems(ggml_type type) {
    return esft_ggml_type_known((uint32_t)type) ? k_types[type].blck : 0;
}

size_t esft_ggml_block_bytes(ggml_type type) {
    return esft_ggml_type_known((uint32_t)type) ? k_types[type].bytes : 0;
}

esft_status esft_ggml_row_bytes(ggml_type type, uint64_t n, uint64_t *bytes, esft_err *err) {
    if (!esft_ggml_type_known((uint32_t)type))
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "unknown ggml type id %u", (unsigned)type);
    const type_traits *t = &k_types[type];
    if (n % t->blck != 0)
        return esft_errf(err, ESFT_ERR_FORMAT,
                         "%llu elements of type %s is not a multiple of its block size %u",
                         (unsigned long long)n, t->name, t->blck);
    uint64_t nb = n / t->blck;
    if (nb > UINT64_MAX / t->bytes)
        return esft_errf(err, ESFT_ERR_FORMAT, "%llu elements of type %s: byte size overflows",
                         (unsigned long long)n, t->name);
    if (bytes) *bytes = nb * t->bytes;
    return ESFT_OK;
}

/* ---- dequantisation ---- */

static inline float rd_f16(const uint8_t *p) {
    return esft_f16_to_f32((uint16_t)(p[0] | (p[1] << 8)));
}

static void deq_f16(const uint8_t *x, float *y, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) y[i] = rd_f16(x + 2 * i);
}

static void deq_bf16(const uint8_t *x, float *y, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++)
        y[i] = esft_bf16_to_f32((uint16_t)(x[2 * i] | (x[2 * i + 1] << 8)));
}

static void deq_f32(const uint8_t *x, float *y, size_t i0, size_t i1) {
    memcpy(y + i0, x + 4 * i0, (i1 - i0) * sizeof(float));
}

/* Block dequantisers: b = block bytes, y = 32 or 256 outputs. */
static void blk_q4_0(const uint8_t *b, float *y) {
    const float d = rd_f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((qs[j] & 0x0f) - 8) * d;
        y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
    }
}

static void blk_q4_1(const uint8_t *b, float *y) {
    const float d = rd_f16(b), m = rd_f16(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(qs[j] & 0x0f) * d + m;
        y[j + 16] = (float)(qs[j] >> 4) * d + m;
    }
}

static inline uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void blk_q5_0(const uint8_t *b, float *y) {
    const float d = rd_f16(b);
    const uint32_t qh = rd_u32(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        int h0 = (int)((qh >> j) & 1u) << 4, h1 = (int)((qh >> (j + 16)) & 1u) << 4;
        y[j] = (float)(((qs[j] & 0x0f) | h0) - 16) * d;
        y[j + 16] = (float)(((qs[j] >> 4) | h1) - 16) * d;
    }
}

static void blk_q5_1(const uint8_t *b, float *y) {
    const float d = rd_f16(b), m = rd_f16(b + 2);
    const uint32_t qh = rd_u32(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        int h0 = (int)((qh >> j) & 1u) << 4, h1 = (int)((qh >> (j + 16)) & 1u) << 4;
        y[j] = (float)((qs[j] & 0x0f) | h0) * d + m;
        y[j + 16] = (float)((qs[j] >> 4) | h1) * d + m;
    }
}

static void blk_q8_0(const uint8_t *b, float *y) {
    const float d = rd_f16(b);
    const int8_t *qs = (const int8_t *)(b + 2);
    for (int j = 0; j < 32; j++) y[j] = (float)qs[j] * d;
}

/* Q2_K: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin. */
static void blk_q2_k(const uint8_t *b, float *y) {
    const uint8_t *sc = b, *q = b + 16;
    const float d = rd_f16(b + 80), dmin = rd_f16(b + 82);
    int is = 0;
    for (int n = 0; n < QK_K; n += 128) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 2; half++) {
                const uint8_t s = sc[is++];
                const float dl = d * (float)(s & 0x0f), ml = dmin * (float)(s >> 4);
                const uint8_t *qq = q + 16 * half;
                for (int l = 0; l < 16; l++) *y++ = dl * (float)((qq[l] >> shift) & 3) - ml;
            }
        }
        q += 32;
    }
}

/* Q3_K: hmask[32], qs[64], scales[12] (16 x 6-bit, biased by 32), d. */
static void blk_q3_k(const uint8_t *b, float *y) {
    const uint8_t *hm = b, *q = b + 32, *s = b + 96;
    const float d_all = rd_f16(b + 108);
    int8_t scales[16];
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? (s[i] & 0x0f) : (s[i - 8] >> 4);
        int hi = (s[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
        scales[i] = (int8_t)((lo | (hi << 4)) - 32);
    }
    int is = 0;
    unsigned m = 1;
    for (int n = 0; n < QK_K; n += 128) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 2; half++) {
                const float dl = d_all * (float)scales[is++];
                const uint8_t *qq = q + 16 * half, *hh = hm + 16 * half;
                for (int l = 0; l < 16; l++) {
                    int v = ((qq[l] >> shift) & 3) - ((hh[l] & m) ? 0 : 4);
                    *y++ = dl * (float)v;
                }
            }
            m <<= 1;
        }
        q += 32;
    }
}

static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q4_K: d, dmin, scales[12] (8 x (6-bit scale, 6-bit min)), qs[128]. */
static void blk_q4_k(const uint8_t *b, float *y) {
    const float d = rd_f16(b), dmin = rd_f16(b + 2);
    const uint8_t *sc = b + 4, *q = b + 16;
    for (int j = 0; j < 8; j += 2) {
        uint8_t s1, m1, s2, m2;
        scale_min_k4(j, sc, &s1, &m1);
        scale_min_k4(j + 1, sc, &s2, &m2);
        const float d1 = d * (float)s1, mm1 = dmin * (float)m1;
        const float d2 = d * (float)s2, mm2 = dmin * (float)m2;
        for (int l = 0; l < 32; l++) y[l] = d1 * (float)(q[l] & 0x0f) - mm1;
        for (int l = 0; l < 32; l++) y[l + 32] = d2 * (float)(q[l] >> 4) - mm2;
        q += 32;
        y += 64;
    }
}

/* Q5_K: d, dmin, scales[12], qh[32], qs[128]. */
static void blk_q5_k(const uint8_t *b, float *y) {
    const float d = rd_f16(b), dmin = rd_f16(b + 2);
    const uint8_t *sc = b + 4, *qh = b + 16, *q = b + 48;
    unsigned u1 = 1, u2 = 2;
    for (int j = 0; j < 8; j += 2) {
        uint8_t s1, m1, s2, m2;
        scale_min_k4(j, sc, &s1, &m1);
        scale_min_k4(j + 1, sc, &s2, &m2);
        const float d1 = d * (float)s1, mm1 = dmin * (float)m1;
        const float d2 = d * (float)s2, mm2 = dmin * (float)m2;
        for (int l = 0; l < 32; l++)
            y[l] = d1 * (float)((q[l] & 0x0f) + ((qh[l] & u1) ? 16 : 0)) - mm1;
        for (int l = 0; l < 32; l++)
            y[l + 32] = d2 * (float)((q[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - mm2;
        q += 32;
        y += 64;
        u1 <<= 2;
        u2 <<= 2;
    }
}

/* Q6_K: ql[128], qh[64], scales[16] (int8), d. */
static void blk_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    const float d = rd_f16(b + 208);
    for (int n = 0; n < QK_K; n += 128) {
        /* (d * sc) * q, as ggml evaluates d * sc[is] * q left to right */
        float ds[8];
        for (int k = 0; k < 8; k++) ds[k] = d * (float)sc[k];
        for (int h = 0; h < 2; h++) {
            const float s1 = ds[h], s2 = ds[h + 2], s3 = ds[h + 4], s4 = ds[h + 6];
            for (int l = 16 * h; l < 16 * h + 16; l++) {
                const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = s1 * (float)q1;
                y[l + 32] = s2 * (float)q2;
                y[l + 64] = s3 * (float)q3;
                y[l + 96] = s4 * (float)q4;
            }
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

typedef void (*blk_fn)(const uint8_t *, float *);
typedef void (*elem_fn)(const uint8_t *, float *, size_t, size_t);

/* Work below this many blocks stays on the calling thread. */
#define PAR_MIN_BLOCKS 8192

esft_status esft_ggml_dequantize(ggml_type type, const void *src, float *dst, size_t n, esft_err *err) {
    if (!esft_ggml_type_known((uint32_t)type))
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "dequantize: unknown ggml type id %u",
                         (unsigned)type);
    const type_traits *t = &k_types[type];
    if (!t->dequant)
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "dequantize: type %s is not supported",
                         t->name);
    if (n % t->blck != 0)
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "dequantize: %zu elements of type %s is not a multiple of block size %u",
                         n, t->name, t->blck);
    if (n == 0) return ESFT_OK;
    if (!src || !dst) return esft_errf(err, ESFT_ERR_INVALID_ARG, "dequantize: NULL buffer");
    const uint8_t *x = src;
    elem_fn ef = NULL;
    blk_fn bf = NULL;
    switch (type) {
    case GGML_TYPE_F32: ef = deq_f32; break;
    case GGML_TYPE_F16: ef = deq_f16; break;
    case GGML_TYPE_BF16: ef = deq_bf16; break;
    case GGML_TYPE_Q4_0: bf = blk_q4_0; break;
    case GGML_TYPE_Q4_1: bf = blk_q4_1; break;
    case GGML_TYPE_Q5_0: bf = blk_q5_0; break;
    case GGML_TYPE_Q5_1: bf = blk_q5_1; break;
    case GGML_TYPE_Q8_0: bf = blk_q8_0; break;
    case GGML_TYPE_Q2_K: bf = blk_q2_k; break;
    case GGML_TYPE_Q3_K: bf = blk_q3_k; break;
    case GGML_TYPE_Q4_K: bf = blk_q4_k; break;
    case GGML_TYPE_Q5_K: bf = blk_q5_k; break;
    case GGML_TYPE_Q6_K: bf = blk_q6_k; break;
    default:
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "dequantize: type %s is not supported",
                         t->name);
    }
    if (ef) {
        const size_t chunk = 1u << 16;
        const long nc = (long)((n + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) if (n >= 4 * chunk)
        for (long c = 0; c < nc; c++) {
            size_t i0 = (size_t)c * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
            ef(x, dst, i0, i1);
        }
    } else {
        const long nb = (long)(n / t->blck);
        const size_t be = t->blck, bb = t->bytes;
#pragma omp parallel for schedule(static) if (nb >= PAR_MIN_BLOCKS)
        for (long i = 0; i < nb; i++) bf(x + (size_t)i * bb, dst + (size_t)i * be);
    }
    return ESFT_OK;
}

/* ---- quantisation (export) ----
 *
 * One path for every exported type: a per-type block encoder (a block is
 * one element for f32/f16/bf16, 32 for q8_0) run over the blocks, after a
 * per-type check of the input where a type cannot store every f32. */

static inline void put_u16(uint8_t *p, uint16_t h) {
    p[0] = (uint8_t)(h & 0xff);
    p[1] = (uint8_t)(h >> 8);
}

static void enc_f32(const float *x, uint8_t *b) { memcpy(b, x, sizeof *x); }
static void enc_f16(const float *x, uint8_t *b) { put_u16(b, esft_f32_to_f16(*x)); }
static void enc_bf16(const float *x, uint8_t *b) { put_u16(b, esft_f32_to_bf16(*x)); }

/* ggml's quantize_row_q8_0_ref: d = max|x| / 127 (stored as f16),
 * q = roundf(x / d) (half away from zero), computed as x * (1/d). */
static void enc_q8_0(const float *x, uint8_t *b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) {
        float a = fabsf(x[j]);
        amax = a > amax ? a : amax;
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_u16(b, esft_f32_to_f16(d));
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

/* q8_0 needs finite input whose block scale max|x| / 127 fits an f16: it
 * rounds to infinity from 65520 (the tie above the largest f16, 65504). */
static esft_status check_q8_0(const float *x, size_t n, esft_err *err) {
    for (size_t i = 0; i < n; i++) {
        if (fabsf(x[i]) / 127.0f < 65520.0f) continue; /* false for NaN too */
        if (!isfinite(x[i]))
            return esft_errf(err, ESFT_ERR_INVALID_ARG,
                             "quantize: q8_0 cannot represent non-finite value at index %zu", i);
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "quantize: q8_0 block %zu: scale overflows f16 (|x| = %g too large)", i / 32,
                         (double)fabsf(x[i]));
    }
    return ESFT_OK;
}

/* Conversions below this many elements stay on the calling thread. The
 * model writer converts pieces of a few MiB, and a save is disk-bound: a
 * parallel region per piece gains little, and when the cores are shared
 * each one waits for a descheduled thread (measured: a 135M-parameter bf16
 * save took 2-3 s with 2 threads on a loaded 2-core machine, 0.7 s with 1). */
#define QUANT_PAR_MIN_ELEMS ((size_t)1 << 24)

typedef struct encoder {
    ggml_type type;
    void (*block)(const float *x, uint8_t *b);
    esft_status (*check)(const float *x, size_t n, esft_err *err); /* NULL: any f32 */
} encoder;

static const encoder k_encoders[] = {
    {GGML_TYPE_F32, enc_f32, NULL},
    {GGML_TYPE_F16, enc_f16, NULL},
    {GGML_TYPE_BF16, enc_bf16, NULL},
    {GGML_TYPE_Q8_0, enc_q8_0, check_q8_0},
};

esft_status esft_ggml_quantize(ggml_type type, const float *src, void *dst, size_t n, esft_err *err) {
    const encoder *enc = NULL;
    for (size_t i = 0; i < sizeof k_encoders / sizeof k_encoders[0]; i++)
        if (k_encoders[i].type == type) enc = &k_encoders[i];
    if (!enc)
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "quantize: type %s is not supported",
                         esft_ggml_type_name(type));
    const size_t blck = k_types[type].blck, bytes = k_types[type].bytes;
    if (n % blck != 0)
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "quantize: %zu elements of type %s is not a multiple of block size %zu",
                         n, esft_ggml_type_name(type), blck);
    if (n == 0) return ESFT_OK;
    if (!src || !dst) return esft_errf(err, ESFT_ERR_INVALID_ARG, "quantize: NULL buffer");
    if (enc->check) {
        esft_status st = enc->check(src, n, err);
        if (st) return st;
    }
    uint8_t *y = dst;
    const long nb = (long)(n / blck);
#pragma omp parallel for schedule(static) if (n >= QUANT_PAR_MIN_ELEMS)
    for (long i = 0; i < nb; i++) enc->block(src + (size_t)i * blck, y + (size_t)i * bytes);
    return ESFT_OK;
}
