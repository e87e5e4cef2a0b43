/* Private to the cpu backend: context, scratch, row conversion and the
 * op entry points split across cpu_*.c. */
#ifndef ESFT_CPU_INTERNAL_H
#define ESFT_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu_backend.h"
#include "cpu_gemm.h"
#include "cpu_pool.h"
#include "esft_half.h"

#define ESFT_CPU_ALIGN 64

typedef struct cpu_ctx {
    int n_threads;
    esft_cpu_gemm_path gemm_path; /* matmul's kernel: AUTO unless forced (ESFT_CPU_GEMM) */
    esft_cpu_pool *pool;          /* n_threads threads for matmul and the ops (not the noise) */
    float *scratch;     /* grown on demand, reused across calls */
    size_t scratch_n;   /* floats */
} cpu_ctx;

static inline cpu_ctx *cpu_ctx_of(esft_backend *be) { return (cpu_ctx *)be->ctx; }

/* A scratch area of at least n floats (64-byte aligned), or NULL on OOM. */
float *esft_cpu_scratch(esft_backend *be, size_t n);
/* Floats per thread region rounded up to a cache line. */
static inline size_t esft_cpu_round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* fn over items [0, n) on the backend's pool, about per_thread chunks per
 * thread, chunk sizes a multiple of `multiple`; inline when !par. */
void esft_cpu_parallel(esft_backend *be, size_t n, size_t per_thread, size_t multiple, int par,
                       esft_cpu_pool_fn *fn, void *arg);

/* dst[0..n) = row of the given dtype (F32, F16 or BF16) converted to f32. */
void esft_cpu_row_to_f32(float *dst, const void *src, esft_dtype dtype, size_t n);
/* dst[0..n) = src rounded to nearest even as dtype (F16 or BF16): the
 * perturbed working copy's cast. */
void esft_cpu_row_from_f32(uint16_t *dst, const float *src, esft_dtype dtype, size_t n);

/* The ops (cpu_noise.c: perturb, es_update and the test hooks; cpu_matmul.c: matmul;
 * cpu_ops.c: the rest), with backend.h's signatures. */
ESFT_DECLARE_OPS(esft_cpu)

#endif
