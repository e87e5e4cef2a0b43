/* cuda backend ops: argument marshalling for the kernels of kernels/cuda
 * and GEMM through cuBLAS. Everything is enqueued on the backend's stream;
 * nothing here waits for the device. */
#include "cuda_internal.h"

#define DEV(b) ((b)->handle)
#define F32(b) ((float *)(b)->handle)
#define CF32(b) ((const float *)(b)->handle)
#define I32(b) ((int32_t *)(b)->handle)
#define CI32(b) ((const int32_t *)(b)->handle)

static esft_status launched(esft_backend *be, const char *op, cudaError_t e) {
    return e == cudaSuccess ? ESFT_OK : esft_cuda_fail(be, op, e);
}

static cudaStream_t stream_of(esft_backend *be) { return cuda_ctx_of(be)->stream; }

/* ----------------------------------------------------------------- noise */

esft_status esft_cu_philox(esft_backend *be, esft_buf *out, size_t n_blocks, uint64_t first_block,
                           uint32_t c2, uint32_t c3, uint64_t key) {
    return launched(be, "philox",
                    esft_cuda_philox(stream_of(be), (uint32_t *)DEV(out), n_blocks, first_block, c2,
                                     c3, key));
}

esft_status esft_cu_noise(esft_backend *be, esft_buf *out, size_t n, uint64_t first,
                          uint32_t tensor_id, uint64_t seed) {
    return launched(be, "noise", esft_cuda_noise(stream_of(be), F32(out), n, first, tensor_id, seed));
}

esft_status esft_cu_perturb(esft_backend *be, esft_buf *work, const esft_buf *master, size_t n,
                            uint32_t tensor_id, uint64_t seed, float sigma) {
    return launched(be, "perturb",
                    esft_cuda_perturb(stream_of(be), DEV(work), (int)work->dtype, CF32(master), n,
                                      tensor_id, seed, sigma));
}

/* The member list goes to the device (seeds, then coefficients: two staged
 * uploads) ahead of the kernel, in stream order. */
static esft_status put_members(esft_backend *be, const uint64_t *seeds, const float *coeffs, size_t K,
                               const uint64_t **dseeds, const float **dcoeffs, const char *op) {
    cuda_ctx *c = cuda_ctx_of(be);
    size_t bytes = K * (sizeof *seeds + sizeof *coeffs);
    esft_status st = esft_cuda_ensure(be, &c->side, &c->side_bytes, bytes ? bytes : 16, op);
    unsigned char *side = c->side;
    if (st == ESFT_OK && K) st = esft_cuda_put(be, side, seeds, K * sizeof *seeds, op);
    if (st == ESFT_OK && K) st = esft_cuda_put(be, side + K * sizeof *seeds, coeffs, K * sizeof *coeffs, op);
    *dseeds = (const uint64_t *)side;
    *dcoeffs = (const float *)(side + K * sizeof *seeds);
    return st;
}

esft_status esft_cu_es_update(esft_backend *be, esft_buf *master, size_t n, uint32_t tensor_id,
                              const uint64_t *seeds, const float *coeffs, int n_members) {
    if (n_members <= 0 || n == 0) return ESFT_OK;
    const uint64_t *dseeds;
    const float *dcoeffs;
    esft_status st = put_members(be, seeds, coeffs, (size_t)n_members, &dseeds, &dcoeffs, "es_update (members)");
    if (st != ESFT_OK) return st;
    return launched(be, "es_update",
                    esft_cuda_es_update(cuda_ctx_of(be)->stream, F32(master), n, tensor_id, dseeds, dcoeffs,
                                        n_members));
}

esft_status esft_cu_es_optimize(esft_backend *be, esft_buf *master, esft_buf *state, const esft_buf *base,
                                size_t n, uint32_t tensor_id, const uint64_t *seeds, const float *coeffs,
                                int n_members, const esft_opt_step *p) {
    const uint64_t *dseeds;
    const float *dcoeffs;
    size_t K = n_members > 0 ? (size_t)n_members : 0;
    esft_status st = put_members(be, seeds, coeffs, K, &dseeds, &dcoeffs, "es_optimize (members)");
    if (st != ESFT_OK) return st;
    esft_cuda_opt_args a = {p->rule, p->lr, p->beta1, p->beta2, p->eps, p->bc1, p->bc2, p->l2, p->decay, p->anchor};
    return launched(be, "es_optimize",
                    esft_cuda_es_optimize(cuda_ctx_of(be)->stream, F32(master), state ? F32(state) : NULL,
                                          base ? CF32(base) : NULL, n, tensor_id, dseeds, dcoeffs, (int)K, &a));
}

/* ----------------------------------------------------------- elementwise */

esft_status esft_cu_scale(esft_backend *be, esft_buf *x, size_t n, float factor) {
    return launched(be, "scale", esft_cuda_scale(stream_of(be), F32(x), n, factor));
}

esft_status esft_cu_add(esft_backend *be, esft_buf *y, const esft_buf *a, const esft_buf *b,
                        size_t n) {
    return launched(be, "add", esft_cuda_add(stream_of(be), F32(y), CF32(a), CF32(b), n));
}

esft_status esft_cu_swiglu(esft_backend *be, esft_buf *y, const esft_buf *gate, const esft_buf *up,
                           size_t n) {
    return launched(be, "swiglu", esft_cuda_swiglu(stream_of(be), F32(y), CF32(gate), CF32(up), n));
}

esft_status esft_cu_geglu(esft_backend *be, esft_buf *y, const esft_buf *gate, const esft_buf *up,
                          size_t n) {
    return launched(be, "geglu", esft_cuda_geglu(stream_of(be), F32(y), CF32(gate), CF32(up), n));
}

esft_status esft_cu_get_rows(esft_backend *be, esft_buf *y, const esft_buf *table,
                             const esft_buf *ids, int T, int D) {
    return launched(be, "get_rows",
                    esft_cuda_get_rows(stream_of(be), F32(y), DEV(table), (int)table->dtype,
                                       table->n / (size_t)D, CI32(ids), T, D));
}

/* ------------------------------------------------------------------ rows */

esft_status esft_cu_rmsnorm(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                            int T, int D, float eps) {
    return launched(be, "rmsnorm", esft_cuda_rmsnorm(stream_of(be), F32(y), CF32(x), CF32(w), T, D, eps));
}

esft_status esft_cu_rope(esft_backend *be, esft_buf *x, const esft_buf *pos, int T, int n_heads,
                         int head_dim, float base, const esft_buf *freq_factors, esft_rope_style style) {
    return launched(be, "rope",
                    esft_cuda_rope(stream_of(be), F32(x), CI32(pos), T, n_heads, head_dim, base,
                                   freq_factors ? CF32(freq_factors) : NULL, style == ESFT_ROPE_NEOX));
}

esft_status esft_cu_argmax(esft_backend *be, esft_buf *ids, const esft_buf *x, int T, int N) {
    return launched(be, "argmax", esft_cuda_argmax(stream_of(be), I32(ids), CF32(x), T, N));
}

esft_status esft_cu_attention(esft_backend *be, esft_buf *out, const esft_buf *q,
                              const esft_buf *k, const esft_buf *v, esft_buf *kcache,
                              esft_buf *vcache, const esft_buf *seq, const esft_buf *pos, int T,
                              int n_heads, int n_kv_heads, int head_dim, int max_ctx, int window,
                              float scale) {
    if (head_dim > ESFT_CUDA_MAX_HEAD_DIM)
        return esft_errf(&be->err, ESFT_ERR_UNSUPPORTED, "attention: head_dim %d above cuda's %d",
                         head_dim, ESFT_CUDA_MAX_HEAD_DIM);
    size_t slot = (size_t)max_ctx * (size_t)n_kv_heads * (size_t)head_dim;
    int n_slots = (int)(kcache->n / slot);
    return launched(be, "attention",
                    esft_cuda_attention(stream_of(be), F32(out), CF32(q), CF32(k), CF32(v),
                                        F32(kcache), F32(vcache), CI32(seq), CI32(pos), T, n_heads,
                                        n_kv_heads, head_dim, max_ctx, n_slots, window, scale));
}

/* ---------------------------------------------------------------- matmul */

static cudaDataType cuda_type_of(esft_dtype d) {
    return d == ESFT_BF16 ? CUDA_R_16BF : d == ESFT_F16 ? CUDA_R_16F : CUDA_R_32F;
}

/* y[T x N] = x[T x K] W[N x K]^T. Row-major y is column-major N x T, so
 * cuBLAS computes y = op_T(W) x with W read as column-major K x N. Inputs
 * meet W in its dtype (x is rounded to bf16/f16 first, as every bf16
 * inference stack does); products accumulate in f32. */
esft_status esft_cu_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                           const esft_buf *bias, int T, int N, int K) {
    cuda_ctx *c = cuda_ctx_of(be);
    if (T <= 0 || N <= 0) return ESFT_OK;
    const void *xin = DEV(x);
    if (w->dtype != ESFT_F32) {
        size_t bytes = (size_t)T * (size_t)K * esft_dtype_size(w->dtype);
        esft_status st = esft_cuda_ensure(be, &c->scratch, &c->scratch_bytes, bytes, "matmul");
        if (st != ESFT_OK) return st;
        cudaError_t e = esft_cuda_convert(c->stream, c->scratch, (int)w->dtype, CF32(x),
                                          (size_t)T * (size_t)K);
        if (e != cudaSuccess) return esft_cuda_fail(be, "matmul (input cast)", e);
        xin = c->scratch;
    }
    const float one = 1.0f, zero = 0.0f;
    cudaDataType ty = cuda_type_of(w->dtype);
    cublasStatus_t s = c->blas.gemm_ex(c->blas.handle, CUBLAS_OP_T, CUBLAS_OP_N, N, T, K, &one,
                                       DEV(w), ty, K, xin, ty, K, &zero, DEV(y), CUDA_R_32F, N,
                                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS)
        return esft_errf(&be->err, ESFT_ERR_DEVICE, "matmul T=%d N=%d K=%d (%s): cublasGemmEx: %s",
                         T, N, K, esft_dtype_name(w->dtype), esft_cublas_status(&c->blas, s));
    if (bias)
        return launched(be, "matmul (bias)", esft_cuda_add_bias(c->stream, F32(y), CF32(bias), T, N));
    return ESFT_OK;
}

/* ------------------------------------------------ low-rank members (EGGROLL) */

esft_status esft_cu_lowrank_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *a,
                                   const esft_buf *b, const esft_buf *member, const esft_buf *scales, int T, int N,
                                   int K, int R, int P) {
    return launched(be, "lowrank_matmul",
                    esft_cuda_lowrank_matmul(stream_of(be), F32(y), CF32(x), CF32(a), CF32(b), CI32(member),
                                             CF32(scales), T, N, K, R, P));
}

esft_status esft_cu_lowrank_rows(esft_backend *be, esft_buf *y, const esft_buf *a, const esft_buf *b,
                                 const esft_buf *ids, const esft_buf *member, const esft_buf *scales, int T, int D,
                                 int V, int R, int P) {
    return launched(be, "lowrank_rows",
                    esft_cuda_lowrank_rows(stream_of(be), F32(y), CF32(a), CF32(b), CI32(ids), CI32(member),
                                           CF32(scales), T, D, V, R, P));
}

/* W += Â B̂ᵀ: the factors restacked side by side (Â [N x PR] scaled by the
 * coefficients, B̂ [K x PR]) in the scratch, then one f32 GEMM with beta 1.
 * Row-major W [N x K] is column-major K x N, so cuBLAS computes
 * W = B̂ Âᵀ + W with B̂, Â read as column-major PR x K and PR x N. */
esft_status esft_cu_lowrank_update(esft_backend *be, esft_buf *w, const esft_buf *a, const esft_buf *b,
                                   const float *coeffs, int N, int K, int R, int P) {
    cuda_ctx *c = cuda_ctx_of(be);
    const size_t PR = (size_t)P * (size_t)R;
    esft_status st = esft_cuda_ensure(be, &c->side, &c->side_bytes, (size_t)P * sizeof *coeffs, "lowrank_update");
    if (st == ESFT_OK) st = esft_cuda_put(be, c->side, coeffs, (size_t)P * sizeof *coeffs, "lowrank_update (coefficients)");
    if (st == ESFT_OK)
        st = esft_cuda_ensure(be, &c->scratch, &c->scratch_bytes, ((size_t)N + (size_t)K) * PR * sizeof(float),
                              "lowrank_update");
    if (st != ESFT_OK) return st;
    float *ahat = c->scratch, *bhat = ahat + (size_t)N * PR;
    cudaError_t e = esft_cuda_lowrank_stack(c->stream, ahat, CF32(a), (const float *)c->side, N, R, P);
    if (e == cudaSuccess) e = esft_cuda_lowrank_stack(c->stream, bhat, CF32(b), NULL, K, R, P);
    if (e != cudaSuccess) return esft_cuda_fail(be, "lowrank_update (stack)", e);
    const float one = 1.0f;
    cublasStatus_t s = c->blas.gemm_ex(c->blas.handle, CUBLAS_OP_T, CUBLAS_OP_N, K, N, (int)PR, &one, bhat,
                                       CUDA_R_32F, (int)PR, ahat, CUDA_R_32F, (int)PR, &one, DEV(w), CUDA_R_32F, K,
                                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS)
        return esft_errf(&be->err, ESFT_ERR_DEVICE, "lowrank_update N=%d K=%d P*R=%zu: cublasGemmEx: %s", N, K, PR,
                         esft_cublas_status(&c->blas, s));
    return ESFT_OK;
}
