/* ggml tensor types as stored in GGUF files, and conversion to/from f32. */
#ifndef ESFT_QUANT_H
#define ESFT_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../backends/status.h"

/* Numeric values are the on-disk ids of ggml's type enum. */
typedef enum ggml_type {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    /* Types below are parsed (block sizes known) but not dequantised. */
    GGML_TYPE_IQ2_XXS = 16,
    GGML_TYPE_IQ2_XS = 17,
    GGML_TYPE_IQ3_XXS = 18,
    GGML_TYPE_IQ1_S = 19,
    GGML_TYPE_IQ4_NL = 20,
    GGML_TYPE_IQ3_S = 21,
    GGML_TYPE_IQ2_S = 22,
    GGML_TYPE_IQ4_XS = 23,
    GGML_TYPE_I8 = 24,
    GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26,
    GGML_TYPE_I64 = 27,
    GGML_TYPE_F64 = 28,
    GGML_TYPE_IQ1_M = 29,
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_TQ1_0 = 34,
    GGML_TYPE_TQ2_0 = 35,
    GGML_TYPE_MXFP4 = 39,
    GGML_TYPE_NVFP4 = 40,
    GGML_TYPE_Q1_0 = 41,
} ggml_type;

/* True for every type whose block layout is known (sizes below valid). */
bool esft_ggml_type_known(uint32_t type);
/* True for the types esft can dequantise to f32: F32, F16, BF16, Q4_0,
 * Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K. */
bool esft_ggml_type_dequantizable(ggml_type type);
const char *esft_ggml_type_name(ggml_type type);          /* "q4_k" etc; "unknown" */
bool esft_ggml_type_from_name(const char *name, ggml_type *out); /* case-insensitive */
size_t esft_ggml_block_elems(ggml_type type);              /* elements per block */
size_t esft_ggml_block_bytes(ggml_type type);              /* bytes per block */

/* Bytes of a row of n elements; fails if n is not a multiple of the block
 * size or on overflow. */
esft_status esft_ggml_row_bytes(ggml_type type, uint64_t n, uint64_t *bytes, esft_err *err);

/* dst[0..n) = dequantised src. n must be a multiple of the block size. */
esft_status esft_ggml_dequantize(ggml_type type, const void *src, float *dst, size_t n, esft_err *err);
/* dst = src converted to type; supported: F32, F16, BF16, Q8_0 (export). */
esft_status esft_ggml_quantize(ggml_type type, const float *src, void *dst, size_t n, esft_err *err);

#endif
