/* Launchers of the CUDA kernels in kernels/cuda (the .cu files), callable from the
 * cuda backend's host C code (backends/cuda). Each one enqueues its kernel(s)
 * on `stream` and returns the launch status; nothing here waits.
 *
 * Pointers are device pointers to whole buffers (cudaMalloc'd, so aligned
 * to 256 bytes). `dtype` arguments take the esft_dtype values of
 * backends/backend.h (ESFT_F32, ESFT_F16, ESFT_BF16). Semantics are those of
 * the matching op in backend.h. */
#ifndef ESFT_CUDA_KERNELS_H
#define ESFT_CUDA_KERNELS_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- noise (noise.cu) --- */
cudaError_t esft_cuda_philox(cudaStream_t s, uint32_t *out, size_t n_blocks, uint64_t first_block,
                             uint32_t c2, uint32_t c3, uint64_t key);
cudaError_t esft_cuda_noise(cudaStream_t s, float *out, size_t n, uint64_t first, uint32_t tid,
                            uint64_t seed);
/* work (dtype) = cast(master + sigma * eps) */
cudaError_t esft_cuda_perturb(cudaStream_t s, void *work, int dtype, const float *master, size_t n,
                              uint32_t tid, uint64_t seed, float sigma);
/* master += sum_k coeffs[k] eps(seeds[k]); seeds and coeffs on the device */
cudaError_t esft_cuda_es_update(cudaStream_t s, float *master, size_t n, uint32_t tid,
                                const uint64_t *seeds, const float *coeffs, int n_members);

/* The scalars of one optimizer step (backends/backend.h esft_opt_step,
 * which this header does not include: host code copies them over). */
typedef struct esft_cuda_opt_args {
    int rule;
    float lr, beta1, beta2, eps, bc1, bc2, l2, decay, anchor;
} esft_cuda_opt_args;
/* One fused optimizer step (kernels/common/esft_optim.h); seeds and coeffs
 * on the device; state / base NULL when the rule / anchor does not use them */
cudaError_t esft_cuda_es_optimize(cudaStream_t s, float *master, float *state, const float *base, size_t n,
                                  uint32_t tid, const uint64_t *seeds, const float *coeffs, int n_members,
                                  const esft_cuda_opt_args *p);

/* --- elementwise (eltwise.cu) --- */
cudaError_t esft_cuda_scale(cudaStream_t s, float *x, size_t n, float factor);
cudaError_t esft_cuda_add(cudaStream_t s, float *y, const float *a, const float *b, size_t n);
cudaError_t esft_cuda_swiglu(cudaStream_t s, float *y, const float *gate, const float *up,
                             size_t n);
cudaError_t esft_cuda_geglu(cudaStream_t s, float *y, const float *gate, const float *up,
                            size_t n);
/* y[t, j] += bias[j] over T x N */
cudaError_t esft_cuda_add_bias(cudaStream_t s, float *y, const float *bias, int T, int N);
/* dst (dtype) = cast(src), round to nearest even: matmul inputs */
cudaError_t esft_cuda_convert(cudaStream_t s, void *dst, int dtype, const float *src, size_t n);
/* y[t, :] = table (dtype) [ids[t], :]; rows with ids outside [0, n_rows)
 * are filled with NaN (the host cannot see ids without a sync) */
cudaError_t esft_cuda_get_rows(cudaStream_t s, float *y, const void *table, int dtype,
                               size_t n_rows, const int32_t *ids, int T, int D);

/* --- rows (rows.cu) --- */
cudaError_t esft_cuda_rmsnorm(cudaStream_t s, float *y, const float *x, const float *w, int T,
                              int D, float eps);
cudaError_t esft_cuda_rope(cudaStream_t s, float *x, const int32_t *pos, int T, int n_heads,
                           int head_dim, float base, const float *freq_factors /* or NULL */, int neox);
cudaError_t esft_cuda_argmax(cudaStream_t s, int32_t *ids, const float *x, int T, int N);

/* --- low-rank members (lowrank.cu); factors stacked by member as in backend.h --- */
/* y[t, :] += scales[t] (x[t, :] . B_k) . A_k^T, k = member[t]; R <= 256 */
cudaError_t esft_cuda_lowrank_matmul(cudaStream_t s, float *y, const float *x, const float *A, const float *B,
                                     const int32_t *member, const float *scales, int T, int N, int K, int R,
                                     int P);
/* y[t, :] += scales[t] A_k[ids[t], :] . B_k^T */
cudaError_t esft_cuda_lowrank_rows(cudaStream_t s, float *y, const float *A, const float *B, const int32_t *ids,
                                   const int32_t *member, const float *scales, int T, int D, int V, int R,
                                   int P);
/* dst [rows x P*R] = member k's [rows x R] factor (times coeffs[k] unless
 * coeffs is NULL) in columns [k*R, k*R + R): the update's GEMM operands */
cudaError_t esft_cuda_lowrank_stack(cudaStream_t s, float *dst, const float *src, const float *coeffs, int rows,
                                    int R, int P);

/* --- attention (attention.cu) --- */
/* Stores the T rows of k and v in the caches, then attends. Tokens whose
 * slot or position is out of range get NaN outputs and store nothing. */
cudaError_t esft_cuda_attention(cudaStream_t s, float *out, const float *q, const float *k,
                                const float *v, float *kcache, float *vcache, const int32_t *seq,
                                const int32_t *pos, int T, int n_heads, int n_kv_heads,
                                int head_dim, int max_ctx, int n_slots, int window, float scale);
/* The largest head_dim esft_cuda_attention takes. */
#define ESFT_CUDA_MAX_HEAD_DIM 256

#ifdef __cplusplus
}
#endif

#endif
