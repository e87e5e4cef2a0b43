/* Private to the cpu backend: context, scratch, row conversion and the
 * op entry points split across cpu_*.c. */
#ifndef ESFT_CPU_INTERNAL_H
#define ESFT_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu_backend.h"
#include "esft_half.h"

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

/* dst[0..n) = row of the given dtype (F32, F16 or BF16) converted to f32. */
void esft_cpu_row_to_f32(float *dst, const void *src, esft_dtype dtype, size_t n);

/* --- ops (cpu_noise.c) --- */
esft_status esft_cpu_perturb(esft_backend *be, esft_buf *work, const esft_buf *master, size_t n,
                             uint32_t tensor_id, uint64_t seed, float sigma);
esft_status esft_cpu_es_update(esft_backend *be, esft_buf *master, size_t n, uint32_t tensor_id,
                               const uint64_t *seeds, const float *coeffs, int n_members);
esft_status esft_cpu_noise(esft_backend *be, esft_buf *out, size_t n, uint64_t first,
                           uint32_t tensor_id, uint64_t seed);
esft_status esft_cpu_philox(esft_backend *be, esft_buf *out, size_t n_blocks, uint64_t first_block,
                            uint32_t c2, uint32_t c3, uint64_t key);

/* --- ops (cpu_matmul.c) --- */
esft_status esft_cpu_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                            const esft_buf *bias, int T, int N, int K);

/* --- ops (cpu_ops.c) --- */
esft_status esft_cpu_rmsnorm(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                             int T, int D, float eps);
esft_status esft_cpu_rope(esft_backend *be, esft_buf *x, const esft_buf *pos, int T, int n_heads,
                          int head_dim, float base, esft_rope_style style);
esft_status esft_cpu_swiglu(esft_backend *be, esft_buf *y, const esft_buf *gate,
                            const esft_buf *up, size_t n);
esft_status esft_cpu_add(esft_backend *be, esft_buf *y, const esft_buf *a, const esft_buf *b,
                         size_t n);
esft_status esft_cpu_get_rows(esft_backend *be, esft_buf *y, const esft_buf *table,
                              const esft_buf *ids, int T, int D);
esft_status esft_cpu_attention(esft_backend *be, esft_buf *out, const esft_buf *q,
                               const esft_buf *k, const esft_buf *v, esft_buf *kcache,
                               esft_buf *vcache, const esft_buf *seq, const esft_buf *pos, int T,
                               int n_heads, int n_kv_heads, int head_dim, int max_ctx,
                               float scale);
esft_status esft_cpu_scale(esft_backend *be, esft_buf *x, size_t n, float factor);
esft_status esft_cpu_argmax(esft_backend *be, esft_buf *ids, const esft_buf *x, int T, int N);

#endif
