/* The one interface between esft's model code and a compute device.
 *
 * A backend is a flat table of function pointers (esft_backend_ops) plus a
 * private context. Ops are coarse (a whole GEMM, a whole attention over a
 * packed batch, a fused ES update over a tensor) so that a GPU backend can be
 * fast and a new backend stays small. Ops are enqueued in order on the
 * backend's single queue; download() and synchronize() wait for completion.
 *
 * Conventions for every op:
 *  - all matrices are row-major and dense; counts are in elements;
 *  - activations, norms, biases, logits and KV caches are ESFT_F32;
 *  - matmul weights (W) and embedding tables may be in the backend's compute
 *    dtype (esft_backend.work_dtype: f32 on cpu/opencl/vulkan, bf16 or f16 on
 *    cuda); ask supports() before calling with anything else;
 *  - integer side inputs (token ids, positions, sequence slots) are ESFT_I32
 *    buffers on the device;
 *  - an op returns ESFT_OK or a status with a message in be->err.
 *
 * Optional slots may be NULL; the esft_* wrappers in backend.c then report
 * ESFT_ERR_UNSUPPORTED (or use a generic fallback, where noted). */
#ifndef ESFT_BACKEND_H
#define ESFT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../kernels/common/esft_optim_rules.h"
#include "status.h"

typedef enum esft_dtype {
    ESFT_F32 = 0,
    ESFT_F16,
    ESFT_BF16,
    ESFT_I32,
    ESFT_DTYPE_COUNT
} esft_dtype;

size_t esft_dtype_size(esft_dtype dtype);
const char *esft_dtype_name(esft_dtype dtype);
/* "f32", "f16" or "bf16" (a working weights dtype) into *out; false otherwise. */
bool esft_work_dtype_from_name(const char *name, esft_dtype *out);

/* Every op: ESFT_OP_<E>, its signature esft_<name>_fn (below), its slot in
 * esft_backend_ops and its checked wrapper esft_<name>(). X(p, E, name,
 * slot) is called with p passed through. An op is added here, by its
 * typedef and slot, by its wrapper in backend.c and by the backends that
 * implement it. */
#define ESFT_OPS(X, p)                                                          \
    X(p, PERTURB, perturb, perturb)                                             \
    X(p, ES_UPDATE, es_update, es_update)                                       \
    X(p, ES_OPTIMIZE, es_optimize, es_optimize)                                 \
    X(p, NOISE, noise, test.noise)                                              \
    X(p, PHILOX, philox, test.philox)                                           \
    X(p, MATMUL, matmul, matmul)                                                \
    X(p, RMSNORM, rmsnorm, rmsnorm)                                             \
    X(p, ROPE, rope, rope)                                                      \
    X(p, SWIGLU, swiglu, swiglu)                                                \
    X(p, GEGLU, geglu, geglu)                                                   \
    X(p, ADD, add, add)                                                         \
    X(p, GET_ROWS, get_rows, get_rows)                                          \
    X(p, ATTENTION, attention, attention)                                       \
    X(p, ARGMAX, argmax, argmax)                                                \
    X(p, SCALE, scale, scale)                                                   \
    X(p, LOWRANK_MATMUL, lowrank_matmul, lowrank_matmul)                        \
    X(p, LOWRANK_ROWS, lowrank_rows, lowrank_rows)                              \
    X(p, LOWRANK_UPDATE, lowrank_update, lowrank_update)                        \
    X(p, LOWRANK_OPTIMIZE, lowrank_optimize, lowrank_optimize)

typedef enum esft_op {
#define ESFT_OP_ENUM_(p, e, name, slot) ESFT_OP_##e,
    ESFT_OPS(ESFT_OP_ENUM_, )
#undef ESFT_OP_ENUM_
    ESFT_OP_COUNT
} esft_op;

const char *esft_op_name(esft_op op);

/* RoPE pairing. NORM rotates adjacent pairs (x[2i], x[2i+1]) — llama in GGUF,
 * whose q/k rows the converter permuted. NEOX rotates (x[i], x[i + hd/2]) —
 * qwen2. Frequencies: theta_i = pos * base^(-2i/hd), divided by
 * freq_factors[i] when the op is given them (Llama 3 rope scaling, linear
 * scaling: llama.cpp's rope_freqs). */
typedef enum esft_rope_style {
    ESFT_ROPE_NORM = 0,
    ESFT_ROPE_NEOX = 1,
} esft_rope_style;

typedef struct esft_backend esft_backend;

/* A typed device allocation. `handle` belongs to the backend (a host pointer
 * on cpu, a cl_mem, a device pointer ...); only the backend dereferences it. */
typedef struct esft_buf {
    esft_backend *be;
    esft_dtype dtype;
    size_t n;     /* elements */
    void *handle; /* backend-private */
} esft_buf;

/* --- the ops: each signature is written once, here --- */

/* --- evolution strategies (noise of DESIGN.md §1) --- */
/* work[i] = cast(master[i] + sigma * eps(seed, tensor_id, i)), i < n.
 * master is f32; work is f32 or the compute dtype. sigma may be negative
 * (antithetic member) or zero (plain cast copy). */
typedef esft_status esft_perturb_fn(esft_backend *be, esft_buf *work, const esft_buf *master,
                                    size_t n, uint32_t tensor_id, uint64_t seed, float sigma);
/* master[i] += sum_k coeffs[k] * eps(seeds[k], tensor_id, i), i < n, in
 * one pass over master; accumulation in f32, k in ascending order. */
typedef esft_status esft_es_update_fn(esft_backend *be, esft_buf *master, size_t n,
                                      uint32_t tensor_id, const uint64_t *seeds,
                                      const float *coeffs, int n_members);
/* One optimizer step on the ES gradient, one fused pass per tensor: the
 * gradient g[i] = sum_k coeffs[k] * eps(seeds[k], tensor_id, i) is formed
 * per element as es_update forms its sum (never materialised), then the
 * rule of kernels/common/esft_optim.h updates the state and the master.
 * Lowrank noise (DESIGN.md §1) fits the same op later: g of a matrix is
 * then sum_k coeffs[k] * A_k B_k^T / sqrt(R), a GEMM of the stacked
 * factors [A_1 .. A_K] (m x K*R, column block k scaled by coeffs[k]) and
 * [B_1 .. B_K] (n x K*R), computed tile by tile in place of the Philox sum;
 * the state and master update per element stay as they are. */
typedef struct esft_opt_step {
    int rule;            /* ESFT_OPT_SGD / _MOMENTUM / _ADAM (esft_optim.h) */
    float lr;            /* alpha */
    float beta1, beta2;  /* momentum / Adam moment decay */
    float eps;           /* Adam's denominator guard */
    float bc1, bc2;      /* Adam bias corrections 1/(1-beta1^t), 1/(1-beta2^t) */
    float l2;            /* g -= l2 * theta before the moments (Adam's coupled decay) */
    float decay;         /* theta -= decay * theta (decoupled, lr * weight_decay) */
    float anchor;        /* theta -= anchor * (theta - base) (lr * lambda) */
} esft_opt_step;
/* master [n] f32; state f32: none for SGD, m [n] for MOMENTUM, m [n] then
 * v [n] for ADAM (NULL allowed when the rule needs none); base [n] f32, the
 * anchor's weights, NULL when step->anchor == 0. */
typedef esft_status esft_es_optimize_fn(esft_backend *be, esft_buf *master, esft_buf *state,
                                        const esft_buf *base, size_t n, uint32_t tensor_id,
                                        const uint64_t *seeds, const float *coeffs, int n_members,
                                        const esft_opt_step *step);
/* Optional: x[i] *= factor, i < n, f32 (weight decay). Default: a host
 * round trip through download/upload. */
typedef esft_status esft_scale_fn(esft_backend *be, esft_buf *x, size_t n, float factor);
/* Test hook: out[i] = eps(seed, tensor_id, first + i), i < n; out f32. */
typedef esft_status esft_noise_fn(esft_backend *be, esft_buf *out, size_t n, uint64_t first,
                                  uint32_t tensor_id, uint64_t seed);
/* Test hook: raw Philox4x32-10 words, for bit-exactness tests. For block
 * b < n_blocks, with counter (lo32(first_block + b), hi32(first_block + b),
 * c2, c3) and key (lo32(key), hi32(key)), out[4b .. 4b+3] = the four output
 * words. out is I32 (bit pattern of u32). */
typedef esft_status esft_philox_fn(esft_backend *be, esft_buf *out, size_t n_blocks,
                                   uint64_t first_block, uint32_t c2, uint32_t c3, uint64_t key);

/* --- low-rank members (EGGROLL mode, DESIGN.md §1 "Low-rank members") ---
 * Factors are f32 and stacked by member: A = [P x N x R] holds A_k (row i,
 * column j at k*N*R + i*R + j), B = [P x K x R] holds B_k likewise. All three
 * are optional: when a backend leaves the slot NULL the wrapper computes
 * the op on the host (download, plain C loop, upload), so every backend
 * runs low-rank members and a native kernel is only an optimisation.
 * R is at most ESFT_LOWRANK_MAX_RANK. */
#define ESFT_LOWRANK_MAX_RANK 256
/* y[t, :N] += scales[t] * (x[t, :K] . B_k) . A_k^T with k = member[t] in
 * [0, P), t < T: each token's member-specific rank-R correction after the
 * shared base matmul. y, x, a, b, scales f32; member I32. */
typedef esft_status esft_lowrank_matmul_fn(esft_backend *be, esft_buf *y, const esft_buf *x,
                                           const esft_buf *a, const esft_buf *b,
                                           const esft_buf *member, const esft_buf *scales, int T,
                                           int N, int K, int R, int P);
/* y[t, :D] += scales[t] * A_k[ids[t], :] . B_k^T with k = member[t]: the
 * embedding lookup's correction. A = [P x V x R], B = [P x D x R]; ids
 * I32 in [0, V). */
typedef esft_status esft_lowrank_rows_fn(esft_backend *be, esft_buf *y, const esft_buf *a,
                                         const esft_buf *b, const esft_buf *ids,
                                         const esft_buf *member, const esft_buf *scales, int T,
                                         int D, int V, int R, int P);
/* w[N x K] += sum_{k<P} coeffs[k] * A_k . B_k^T (coeffs on the host): the
 * update as one product of the stacked factors, inner size P*R, in f32. */
typedef esft_status esft_lowrank_update_fn(esft_backend *be, esft_buf *w, const esft_buf *a,
                                           const esft_buf *b, const float *coeffs, int N, int K,
                                           int R, int P);
/* One optimizer step (es_optimize's rule, esft_optim.h) on master [N x K]
 * with the low-rank gradient g = sum_{k<P} coeffs[k] * A_k . B_k^T, formed
 * as lowrank_update forms its sum (tile by tile, never a whole N x K
 * temporary); state and base as es_optimize's. */
typedef esft_status esft_lowrank_optimize_fn(esft_backend *be, esft_buf *master, esft_buf *state,
                                             const esft_buf *base, const esft_buf *a,
                                             const esft_buf *b, const float *coeffs, int N, int K,
                                             int R, int P, const esft_opt_step *step);

/* --- transformer ops --- */
/* y[T x N] = x[T x K] . W[N x K]^T (+ bias[N] if bias != NULL). */
typedef esft_status esft_matmul_fn(esft_backend *be, esft_buf *y, const esft_buf *x,
                                   const esft_buf *w, const esft_buf *bias, int T, int N, int K);
/* y[t, :] = x[t, :] / sqrt(mean(x[t, :]^2) + eps) * w[:], t < T; y may be x. */
typedef esft_status esft_rmsnorm_fn(esft_backend *be, esft_buf *y, const esft_buf *x,
                                    const esft_buf *w, int T, int D, float eps);
/* In place on x[T x n_heads x head_dim], token t at position pos[t].
 * freq_factors: NULL, or f32 [head_dim / 2] divisors of the frequencies. */
typedef esft_status esft_rope_fn(esft_backend *be, esft_buf *x, const esft_buf *pos, int T,
                                 int n_heads, int head_dim, float base, const esft_buf *freq_factors,
                                 esft_rope_style style);
/* y[i] = silu(gate[i]) * up[i], i < n; y may alias gate or up. */
typedef esft_status esft_swiglu_fn(esft_backend *be, esft_buf *y, const esft_buf *gate,
                                   const esft_buf *up, size_t n);
/* y[i] = gelu_tanh(gate[i]) * up[i], i < n (Gemma's GeGLU), with
 * gelu_tanh(g) = g/2 * (1 + tanh(sqrt(2/pi) * (g + 0.044715 g^3)));
 * y may alias gate or up. */
typedef esft_status esft_geglu_fn(esft_backend *be, esft_buf *y, const esft_buf *gate,
                                  const esft_buf *up, size_t n);
/* y[i] = a[i] + b[i], i < n; y may alias a or b. */
typedef esft_status esft_add_fn(esft_backend *be, esft_buf *y, const esft_buf *a,
                                const esft_buf *b, size_t n);
/* y[t, :] = table[ids[t], :] for t < T, rows of length D; y is f32, table
 * f32 or the compute dtype, ids I32 and each in [0, n_rows). */
typedef esft_status esft_get_rows_fn(esft_backend *be, esft_buf *y, const esft_buf *table,
                                     const esft_buf *ids, int T, int D);
/* Causal attention for a packed batch of T tokens from many sequences.
 * Token t belongs to KV slot seq[t] at position pos[t]. Its k and v rows
 * are first stored at kcache/vcache[seq[t]][pos[t]], then
 *   out[t, h] = softmax_j(scale * q[t, h] . K[seq[t]][j][h / G]) . V[..]
 * over j in [0, pos[t]] (window > 0: j in (pos[t] - window, pos[t]], a
 * sliding window), with G = n_heads / n_kv_heads (GQA).
 * Shapes: q, out [T x n_heads x hd]; k, v [T x n_kv_heads x hd];
 * caches [n_slots x max_ctx x n_kv_heads x hd]. Positions < pos[t] of
 * the slot must already hold keys (earlier calls or earlier tokens of
 * this call). Prefill and decode are the same call. */
typedef esft_status esft_attention_fn(esft_backend *be, esft_buf *out, const esft_buf *q,
                                      const esft_buf *k, const esft_buf *v, esft_buf *kcache,
                                      esft_buf *vcache, const esft_buf *seq, const esft_buf *pos,
                                      int T, int n_heads, int n_kv_heads, int head_dim,
                                      int max_ctx, int window, float scale);
/* ids[t] = the smallest index of the maximum of x[t, :N], t < T. */
typedef esft_status esft_argmax_fn(esft_backend *be, esft_buf *ids, const esft_buf *x, int T,
                                   int N);

/* Declares prefix_<op> for every op, with the op's signature: a backend's
 * private header says ESFT_DECLARE_OPS(esft_cpu) once instead of repeating
 * each prototype, and the compiler checks each definition against it. */
#define ESFT_DECLARE_OP_(prefix, e, name, slot) esft_##name##_fn prefix##_##name;
#define ESFT_DECLARE_OPS(prefix) ESFT_OPS(ESFT_DECLARE_OP_, prefix)

typedef struct esft_backend_ops {
    /* --- lifetime and memory (required) --- */
    void (*destroy)(esft_backend *be);
    esft_status (*buf_alloc)(esft_backend *be, esft_buf *buf, esft_dtype dtype, size_t n);
    void (*buf_free)(esft_backend *be, esft_buf *buf);
    /* Copies n elements of buf's dtype between host and buf[off ..]. */
    esft_status (*upload)(esft_backend *be, esft_buf *dst, size_t off, const void *src, size_t n);
    esft_status (*download)(esft_backend *be, const esft_buf *src, size_t off, void *dst, size_t n);
    esft_status (*copy)(esft_backend *be, esft_buf *dst, size_t dst_off, const esft_buf *src,
                        size_t src_off, size_t n);
    esft_status (*synchronize)(esft_backend *be);
    /* Optional: NULL means "every op in the table, f32 only, plus
     * work_dtype for matmul W / get_rows tables". */
    bool (*supports)(esft_backend *be, esft_op op, esft_dtype dtype);

    /* --- ops (NULL: unsupported, or the default where the op says so) --- */
    esft_perturb_fn *perturb;
    esft_es_update_fn *es_update;
    esft_es_optimize_fn *es_optimize;
    esft_scale_fn *scale;
    esft_matmul_fn *matmul;
    esft_rmsnorm_fn *rmsnorm;
    esft_rope_fn *rope;
    esft_swiglu_fn *swiglu;
    esft_geglu_fn *geglu;
    esft_add_fn *add;
    esft_get_rows_fn *get_rows;
    esft_attention_fn *attention;
    esft_argmax_fn *argmax;
    esft_lowrank_matmul_fn *lowrank_matmul; /* optional: host default */
    esft_lowrank_rows_fn *lowrank_rows;     /* optional: host default */
    esft_lowrank_update_fn *lowrank_update; /* optional: host default */
    esft_lowrank_optimize_fn *lowrank_optimize; /* optional: host default */

    /* --- test hooks: only the conformance tests call these --- */
    struct {
        esft_noise_fn *noise;
        esft_philox_fn *philox;
    } test;
} esft_backend_ops;

struct esft_backend {
    const esft_backend_ops *ops;
    void *ctx;              /* backend-private state */
    const char *kind;       /* its driver's name: "cpu", "cuda" ... */
    char device_name[128];  /* human-readable device description */
    esft_dtype work_dtype;  /* dtype of matmul weights / embedding tables */
    int n_threads;          /* host threads the backend may use */
    esft_err err;           /* message of the last failed call */
};

/* Options for creating a backend. Zero-initialised means defaults. */
typedef struct esft_backend_options {
    int n_threads;          /* 0: all cores */
    int device_index;       /* index among the backend's own devices */
    esft_dtype work_dtype;  /* ESFT_DTYPE_COUNT or 0 with prefer_default: backend default */
    bool work_dtype_set;    /* false: backend's default compute dtype */
} esft_backend_options;

/* --- checked wrappers: validate sizes and dtypes, then dispatch --- */
esft_status esft_buf_alloc(esft_backend *be, esft_buf *buf, esft_dtype dtype, size_t n);
void esft_buf_free(esft_buf *buf);
esft_status esft_upload(esft_buf *dst, size_t off, const void *src, size_t n);
esft_status esft_download(const esft_buf *src, size_t off, void *dst, size_t n);
esft_status esft_copy(esft_buf *dst, size_t dst_off, const esft_buf *src, size_t src_off, size_t n);
esft_status esft_synchronize(esft_backend *be);
bool esft_supports(esft_backend *be, esft_op op, esft_dtype dtype);

/* esft_perturb() ... esft_argmax(): each op's checked wrapper, with the op's
 * signature (esft_noise and esft_philox are the test hooks' wrappers). */
ESFT_DECLARE_OPS(esft)

void esft_backend_destroy(esft_backend *be);

#endif
