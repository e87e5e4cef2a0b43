/* Checked wrappers around the backend vtable: they validate buffer sizes,
 * dtypes and ownership once, here, so that backends can trust their inputs. */
#include "backend.h"
#include "lowrank_host.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

size_t esft_dtype_size(esft_dtype dtype) {
    switch (dtype) {
    case ESFT_F32: return 4;
    case ESFT_F16: return 2;
    case ESFT_BF16: return 2;
    case ESFT_I32: return 4;
    default: return 0;
    }
}

const char *esft_dtype_name(esft_dtype dtype) {
    switch (dtype) {
    case ESFT_F32: return "f32";
    case ESFT_F16: return "f16";
    case ESFT_BF16: return "bf16";
    case ESFT_I32: return "i32";
    default: return "unknown";
    }
}

bool esft_work_dtype_from_name(const char *name, esft_dtype *out) {
    for (esft_dtype d = ESFT_F32; d <= ESFT_BF16; d++)
        if (name && strcmp(name, esft_dtype_name(d)) == 0) {
            *out = d;
            return true;
        }
    return false;
}

const char *esft_op_name(esft_op op) {
    static const char *const names[ESFT_OP_COUNT] = {
#define ESFT_OP_NAME_(p, e, name, slot) #name,
        ESFT_OPS(ESFT_OP_NAME_, )
#undef ESFT_OP_NAME_
    };
    return (op >= 0 && op < ESFT_OP_COUNT) ? names[op] : "unknown";
}

/* A buffer argument must exist, belong to `be`, have the dtype the op needs
 * and hold at least `need` elements. */
static esft_status check_buf(esft_backend *be, const esft_buf *b, const char *op, const char *arg,
                             esft_dtype want, size_t need) {
    if (!b || !b->handle)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "%s: buffer '%s' is missing", op, arg);
    if (b->be != be)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "%s: buffer '%s' belongs to another backend",
                         op, arg);
    if (want != ESFT_DTYPE_COUNT && b->dtype != want)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "%s: buffer '%s' is %s, expected %s", op,
                         arg, esft_dtype_name(b->dtype), esft_dtype_name(want));
    if (b->n < need)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG,
                         "%s: buffer '%s' holds %zu elements, op needs %zu", op, arg, b->n, need);
    return ESFT_OK;
}

#define CHECK_BUF(b, want, need)                                                     \
    do {                                                                             \
        esft_status st_ = check_buf(be, (b), op, #b, (want), (need));                \
        if (st_ != ESFT_OK) return st_;                                              \
    } while (0)

#define REQUIRE_SLOT(slot)                                                           \
    do {                                                                             \
        if (!be->ops->slot)                                                          \
            return esft_errf(&be->err, ESFT_ERR_UNSUPPORTED, "%s: not implemented by the %s backend", \
                             op, be->kind);                                          \
    } while (0)

#define REQUIRE_POSITIVE(x)                                                          \
    do {                                                                             \
        if ((x) <= 0)                                                                \
            return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "%s: %s = %d must be positive", op, \
                             #x, (int)(x));                                          \
    } while (0)

/* Product of two non-negative ints as size_t (they are validated positive). */
static size_t mul2(int a, int b) { return (size_t)a * (size_t)b; }

esft_status esft_buf_alloc(esft_backend *be, esft_buf *buf, esft_dtype dtype, size_t n) {
    memset(buf, 0, sizeof *buf);
    if (esft_dtype_size(dtype) == 0)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "buf_alloc: bad dtype %d", (int)dtype);
    if (n == 0) n = 1; /* zero-size allocations still get a handle */
    if (n > SIZE_MAX / esft_dtype_size(dtype))
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "buf_alloc: %zu elements overflow", n);
    esft_status st = be->ops->buf_alloc(be, buf, dtype, n);
    if (st == ESFT_OK) {
        buf->be = be;
        buf->dtype = dtype;
        buf->n = n;
    }
    return st;
}

void esft_buf_free(esft_buf *buf) {
    if (buf && buf->be && buf->handle) buf->be->ops->buf_free(buf->be, buf);
    if (buf) memset(buf, 0, sizeof *buf);
}

esft_status esft_upload(esft_buf *dst, size_t off, const void *src, size_t n) {
    esft_backend *be = dst->be;
    const char *op = "upload";
    if (!be) return ESFT_ERR_INVALID_ARG;
    if (off > dst->n || n > dst->n - off)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "upload: [%zu, +%zu) outside buffer of %zu",
                         off, n, dst->n);
    (void)op;
    return n ? be->ops->upload(be, dst, off, src, n) : ESFT_OK;
}

esft_status esft_download(const esft_buf *src, size_t off, void *dst, size_t n) {
    esft_backend *be = src->be;
    if (!be) return ESFT_ERR_INVALID_ARG;
    if (off > src->n || n > src->n - off)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG,
                         "download: [%zu, +%zu) outside buffer of %zu", off, n, src->n);
    return n ? be->ops->download(be, src, off, dst, n) : ESFT_OK;
}

esft_status esft_copy(esft_buf *dst, size_t dst_off, const esft_buf *src, size_t src_off, size_t n) {
    esft_backend *be = dst->be;
    if (!be || src->be != be) return ESFT_ERR_INVALID_ARG;
    if (dst->dtype != src->dtype)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "copy: dtype %s to %s",
                         esft_dtype_name(src->dtype), esft_dtype_name(dst->dtype));
    if (dst_off > dst->n || n > dst->n - dst_off || src_off > src->n || n > src->n - src_off)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "copy: range outside a buffer");
    return n ? be->ops->copy(be, dst, dst_off, src, src_off, n) : ESFT_OK;
}

esft_status esft_synchronize(esft_backend *be) {
    return be->ops->synchronize ? be->ops->synchronize(be) : ESFT_OK;
}

static bool op_slot_present(const esft_backend *be, esft_op op) {
    const esft_backend_ops *o = be->ops;
    if (op == ESFT_OP_SCALE) return true; /* generic fallback in esft_scale */
    if (esft_lowrank_host_default(op)) return true;
    switch (op) {
#define ESFT_OP_PRESENT_(p, e, name, slot) \
    case ESFT_OP_##e: return o->slot != NULL;
        ESFT_OPS(ESFT_OP_PRESENT_, )
#undef ESFT_OP_PRESENT_
    default: return false;
    }
}

bool esft_supports(esft_backend *be, esft_op op, esft_dtype dtype) {
    if (!op_slot_present(be, op)) return false;
    /* a NULL low-rank slot runs on the host, in f32, whatever the backend says */
    if (esft_lowrank_host_default(op) && !esft_lowrank_slot(be->ops, op)) return dtype == ESFT_F32;
    if (be->ops->supports) return be->ops->supports(be, op, dtype);
    if (dtype == ESFT_F32) return true;
    /* default: the compute dtype for weights of matmul/get_rows/perturb */
    return dtype == be->work_dtype &&
           (op == ESFT_OP_MATMUL || op == ESFT_OP_GET_ROWS || op == ESFT_OP_PERTURB);
}

esft_status esft_perturb(esft_backend *be, esft_buf *work, const esft_buf *master, size_t n,
                         uint32_t tensor_id, uint64_t seed, float sigma) {
    const char *op = "perturb";
    REQUIRE_SLOT(perturb);
    CHECK_BUF(master, ESFT_F32, n);
    CHECK_BUF(work, ESFT_DTYPE_COUNT, n);
    if (!esft_supports(be, ESFT_OP_PERTURB, work->dtype))
        return esft_errf(&be->err, ESFT_ERR_UNSUPPORTED, "perturb: %s work buffers unsupported on %s",
                         esft_dtype_name(work->dtype), be->kind);
    return be->ops->perturb(be, work, master, n, tensor_id, seed, sigma);
}

esft_status esft_es_update(esft_backend *be, esft_buf *master, size_t n, uint32_t tensor_id,
                           const uint64_t *seeds, const float *coeffs, int n_members) {
    const char *op = "es_update";
    REQUIRE_SLOT(es_update);
    CHECK_BUF(master, ESFT_F32, n);
    if (n_members < 0 || (n_members > 0 && (!seeds || !coeffs)))
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "es_update: bad member list");
    if (n_members == 0 || n == 0) return ESFT_OK;
    return be->ops->es_update(be, master, n, tensor_id, seeds, coeffs, n_members);
}

/* Elements of optimizer state a rule keeps per weight. */
static size_t opt_state_per_weight(int rule) {
    return rule == ESFT_OPT_ADAM ? 2 : rule == ESFT_OPT_MOMENTUM ? 1 : 0;
}

esft_status esft_es_optimize(esft_backend *be, esft_buf *master, esft_buf *state, const esft_buf *base, size_t n,
                             uint32_t tensor_id, const uint64_t *seeds, const float *coeffs, int n_members,
                             const esft_opt_step *step) {
    const char *op = "es_optimize";
    REQUIRE_SLOT(es_optimize);
    if (!step || step->rule < ESFT_OPT_SGD || step->rule > ESFT_OPT_ADAM)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "es_optimize: unknown rule %d", step ? step->rule : -1);
    CHECK_BUF(master, ESFT_F32, n);
    size_t per = opt_state_per_weight(step->rule);
    if (per) CHECK_BUF(state, ESFT_F32, per * n);
    if (step->anchor != 0) CHECK_BUF(base, ESFT_F32, n);
    if (n_members < 0 || (n_members > 0 && (!seeds || !coeffs)))
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "es_optimize: bad member list");
    if (n == 0) return ESFT_OK;
    return be->ops->es_optimize(be, master, per ? state : NULL, step->anchor != 0 ? base : NULL, n, tensor_id,
                                seeds, coeffs, n_members, step);
}

esft_status esft_scale(esft_backend *be, esft_buf *x, size_t n, float factor) {
    const char *op = "scale";
    CHECK_BUF(x, ESFT_F32, n);
    if (n == 0) return ESFT_OK;
    if (be->ops->scale) return be->ops->scale(be, x, n, factor);
    float *host = malloc(n * sizeof *host);
    if (!host) return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "scale: out of memory");
    esft_status st = esft_download(x, 0, host, n);
    for (size_t i = 0; st == ESFT_OK && i < n; i++) host[i] *= factor;
    if (st == ESFT_OK) st = esft_upload(x, 0, host, n);
    free(host);
    return st;
}

esft_status esft_noise(esft_backend *be, esft_buf *out, size_t n, uint64_t first,
                       uint32_t tensor_id, uint64_t seed) {
    const char *op = "noise";
    REQUIRE_SLOT(test.noise);
    CHECK_BUF(out, ESFT_F32, n);
    return n ? be->ops->test.noise(be, out, n, first, tensor_id, seed) : ESFT_OK;
}

esft_status esft_philox(esft_backend *be, esft_buf *out, size_t n_blocks, uint64_t first_block,
                        uint32_t c2, uint32_t c3, uint64_t key) {
    const char *op = "philox";
    REQUIRE_SLOT(test.philox);
    if (n_blocks > SIZE_MAX / 4)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "philox: too many blocks");
    CHECK_BUF(out, ESFT_I32, n_blocks * 4);
    return n_blocks ? be->ops->test.philox(be, out, n_blocks, first_block, c2, c3, key) : ESFT_OK;
}

esft_status esft_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                        const esft_buf *bias, int T, int N, int K) {
    const char *op = "matmul";
    REQUIRE_SLOT(matmul);
    REQUIRE_POSITIVE(T);
    REQUIRE_POSITIVE(N);
    REQUIRE_POSITIVE(K);
    CHECK_BUF(y, ESFT_F32, mul2(T, N));
    CHECK_BUF(x, ESFT_F32, mul2(T, K));
    CHECK_BUF(w, ESFT_DTYPE_COUNT, mul2(N, K));
    if (bias) CHECK_BUF(bias, ESFT_F32, (size_t)N);
    if (!esft_supports(be, ESFT_OP_MATMUL, w->dtype))
        return esft_errf(&be->err, ESFT_ERR_UNSUPPORTED, "matmul: %s weights unsupported on %s",
                         esft_dtype_name(w->dtype), be->kind);
    return be->ops->matmul(be, y, x, w, bias, T, N, K);
}

esft_status esft_rmsnorm(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w, int T,
                         int D, float eps) {
    const char *op = "rmsnorm";
    REQUIRE_SLOT(rmsnorm);
    REQUIRE_POSITIVE(T);
    REQUIRE_POSITIVE(D);
    CHECK_BUF(y, ESFT_F32, mul2(T, D));
    CHECK_BUF(x, ESFT_F32, mul2(T, D));
    CHECK_BUF(w, ESFT_F32, (size_t)D);
    return be->ops->rmsnorm(be, y, x, w, T, D, eps);
}

esft_status esft_rope(esft_backend *be, esft_buf *x, const esft_buf *pos, int T, int n_heads,
                      int head_dim, float base, const esft_buf *freq_factors, esft_rope_style style) {
    const char *op = "rope";
    REQUIRE_SLOT(rope);
    REQUIRE_POSITIVE(T);
    REQUIRE_POSITIVE(n_heads);
    REQUIRE_POSITIVE(head_dim);
    if (head_dim % 2)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "rope: head_dim %d is odd", head_dim);
    CHECK_BUF(x, ESFT_F32, mul2(T, n_heads) * (size_t)head_dim);
    CHECK_BUF(pos, ESFT_I32, (size_t)T);
    if (freq_factors) CHECK_BUF(freq_factors, ESFT_F32, (size_t)head_dim / 2);
    return be->ops->rope(be, x, pos, T, n_heads, head_dim, base, freq_factors, style);
}

/* The checks of an element-wise op y = f(a, b) over n f32 values. */
static esft_status check_elementwise(esft_backend *be, const char *op, const esft_buf *y, const esft_buf *a,
                                     const char *a_name, const esft_buf *b, const char *b_name, size_t n) {
    esft_status st = check_buf(be, y, op, "y", ESFT_F32, n);
    if (!st) st = check_buf(be, a, op, a_name, ESFT_F32, n);
    if (!st) st = check_buf(be, b, op, b_name, ESFT_F32, n);
    return st;
}

esft_status esft_swiglu(esft_backend *be, esft_buf *y, const esft_buf *gate, const esft_buf *up,
                        size_t n) {
    const char *op = "swiglu";
    REQUIRE_SLOT(swiglu);
    esft_status st = check_elementwise(be, op, y, gate, "gate", up, "up", n);
    return st || !n ? st : be->ops->swiglu(be, y, gate, up, n);
}

esft_status esft_geglu(esft_backend *be, esft_buf *y, const esft_buf *gate, const esft_buf *up,
                       size_t n) {
    const char *op = "geglu";
    REQUIRE_SLOT(geglu);
    esft_status st = check_elementwise(be, op, y, gate, "gate", up, "up", n);
    return st || !n ? st : be->ops->geglu(be, y, gate, up, n);
}

esft_status esft_add(esft_backend *be, esft_buf *y, const esft_buf *a, const esft_buf *b, size_t n) {
    const char *op = "add";
    REQUIRE_SLOT(add);
    esft_status st = check_elementwise(be, op, y, a, "a", b, "b", n);
    return st || !n ? st : be->ops->add(be, y, a, b, n);
}

esft_status esft_get_rows(esft_backend *be, esft_buf *y, const esft_buf *table, const esft_buf *ids,
                          int T, int D) {
    const char *op = "get_rows";
    REQUIRE_SLOT(get_rows);
    REQUIRE_POSITIVE(T);
    REQUIRE_POSITIVE(D);
    CHECK_BUF(y, ESFT_F32, mul2(T, D));
    CHECK_BUF(table, ESFT_DTYPE_COUNT, (size_t)D);
    CHECK_BUF(ids, ESFT_I32, (size_t)T);
    if (table->n % (size_t)D)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG,
                         "get_rows: table of %zu elements is not a whole number of rows of %d",
                         table->n, D);
    if (!esft_supports(be, ESFT_OP_GET_ROWS, table->dtype))
        return esft_errf(&be->err, ESFT_ERR_UNSUPPORTED, "get_rows: %s tables unsupported on %s",
                         esft_dtype_name(table->dtype), be->kind);
    return be->ops->get_rows(be, y, table, ids, T, D);
}

esft_status esft_attention(esft_backend *be, esft_buf *out, const esft_buf *q, const esft_buf *k,
                           const esft_buf *v, esft_buf *kcache, esft_buf *vcache,
                           const esft_buf *seq, const esft_buf *pos, int T, int n_heads,
                           int n_kv_heads, int head_dim, int max_ctx, int window, float scale) {
    const char *op = "attention";
    REQUIRE_SLOT(attention);
    REQUIRE_POSITIVE(T);
    REQUIRE_POSITIVE(n_heads);
    REQUIRE_POSITIVE(n_kv_heads);
    REQUIRE_POSITIVE(head_dim);
    REQUIRE_POSITIVE(max_ctx);
    if (window < 0) return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "attention: window %d < 0", window);
    if (n_heads % n_kv_heads)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG,
                         "attention: %d heads not a multiple of %d kv heads", n_heads, n_kv_heads);
    size_t qn = mul2(T, n_heads) * (size_t)head_dim;
    size_t kn = mul2(T, n_kv_heads) * (size_t)head_dim;
    size_t slot = mul2(max_ctx, n_kv_heads) * (size_t)head_dim;
    CHECK_BUF(out, ESFT_F32, qn);
    CHECK_BUF(q, ESFT_F32, qn);
    CHECK_BUF(k, ESFT_F32, kn);
    CHECK_BUF(v, ESFT_F32, kn);
    CHECK_BUF(kcache, ESFT_F32, slot);
    CHECK_BUF(vcache, ESFT_F32, slot);
    if (kcache->n != vcache->n || kcache->n % slot)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG,
                         "attention: caches are not a whole number of slots");
    CHECK_BUF(seq, ESFT_I32, (size_t)T);
    CHECK_BUF(pos, ESFT_I32, (size_t)T);
    return be->ops->attention(be, out, q, k, v, kcache, vcache, seq, pos, T, n_heads, n_kv_heads,
                              head_dim, max_ctx, window, scale);
}

esft_status esft_argmax(esft_backend *be, esft_buf *ids, const esft_buf *x, int T, int N) {
    const char *op = "argmax";
    REQUIRE_SLOT(argmax);
    REQUIRE_POSITIVE(T);
    REQUIRE_POSITIVE(N);
    CHECK_BUF(ids, ESFT_I32, (size_t)T);
    CHECK_BUF(x, ESFT_F32, mul2(T, N));
    return be->ops->argmax(be, ids, x, T, N);
}

/* ---- low-rank members: the factor layout of backend.h ---- */

static esft_status check_rank(esft_backend *be, const char *op, int R, int P) {
    if (R <= 0 || R > ESFT_LOWRANK_MAX_RANK)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "%s: rank %d outside [1, %d]", op, R,
                         ESFT_LOWRANK_MAX_RANK);
    if (P <= 0) return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "%s: %d members", op, P);
    return ESFT_OK;
}

esft_status esft_lowrank_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *a,
                                const esft_buf *b, const esft_buf *member, const esft_buf *scales,
                                int T, int N, int K, int R, int P) {
    const char *op = "lowrank_matmul";
    REQUIRE_POSITIVE(T);
    REQUIRE_POSITIVE(N);
    REQUIRE_POSITIVE(K);
    esft_status st = check_rank(be, op, R, P);
    if (st) return st;
    CHECK_BUF(y, ESFT_F32, mul2(T, N));
    CHECK_BUF(x, ESFT_F32, mul2(T, K));
    CHECK_BUF(a, ESFT_F32, mul2(P, N) * (size_t)R);
    CHECK_BUF(b, ESFT_F32, mul2(P, K) * (size_t)R);
    CHECK_BUF(member, ESFT_I32, (size_t)T);
    CHECK_BUF(scales, ESFT_F32, (size_t)T);
    esft_lowrank_matmul_fn *fn = be->ops->lowrank_matmul ? be->ops->lowrank_matmul : esft_lowrank_host_matmul;
    return fn(be, y, x, a, b, member, scales, T, N, K, R, P);
}

esft_status esft_lowrank_rows(esft_backend *be, esft_buf *y, const esft_buf *a, const esft_buf *b,
                              const esft_buf *ids, const esft_buf *member, const esft_buf *scales,
                              int T, int D, int V, int R, int P) {
    const char *op = "lowrank_rows";
    REQUIRE_POSITIVE(T);
    REQUIRE_POSITIVE(D);
    REQUIRE_POSITIVE(V);
    esft_status st = check_rank(be, op, R, P);
    if (st) return st;
    CHECK_BUF(y, ESFT_F32, mul2(T, D));
    CHECK_BUF(a, ESFT_F32, mul2(P, V) * (size_t)R);
    CHECK_BUF(b, ESFT_F32, mul2(P, D) * (size_t)R);
    CHECK_BUF(ids, ESFT_I32, (size_t)T);
    CHECK_BUF(member, ESFT_I32, (size_t)T);
    CHECK_BUF(scales, ESFT_F32, (size_t)T);
    esft_lowrank_rows_fn *fn = be->ops->lowrank_rows ? be->ops->lowrank_rows : esft_lowrank_host_rows;
    return fn(be, y, a, b, ids, member, scales, T, D, V, R, P);
}

/* The operands lowrank_update and lowrank_optimize share: the sizes, the
 * stacked factors and the members' coefficients. */
static esft_status check_factor_sum(esft_backend *be, const char *op, const esft_buf *a, const esft_buf *b,
                                    const float *coeffs, int N, int K, int R, int P) {
    REQUIRE_POSITIVE(N);
    REQUIRE_POSITIVE(K);
    esft_status st = check_rank(be, op, R, P);
    if (st) return st;
    if (!coeffs) return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "%s: no coefficients", op);
    CHECK_BUF(a, ESFT_F32, mul2(P, N) * (size_t)R);
    CHECK_BUF(b, ESFT_F32, mul2(P, K) * (size_t)R);
    return ESFT_OK;
}

esft_status esft_lowrank_update(esft_backend *be, esft_buf *w, const esft_buf *a, const esft_buf *b,
                                const float *coeffs, int N, int K, int R, int P) {
    const char *op = "lowrank_update";
    esft_status st = check_factor_sum(be, op, a, b, coeffs, N, K, R, P);
    if (st) return st;
    CHECK_BUF(w, ESFT_F32, mul2(N, K));
    esft_lowrank_update_fn *fn = be->ops->lowrank_update ? be->ops->lowrank_update : esft_lowrank_host_update;
    return fn(be, w, a, b, coeffs, N, K, R, P);
}

esft_status esft_lowrank_optimize(esft_backend *be, esft_buf *master, esft_buf *state, const esft_buf *base,
                                  const esft_buf *a, const esft_buf *b, const float *coeffs, int N, int K, int R,
                                  int P, const esft_opt_step *step) {
    const char *op = "lowrank_optimize";
    esft_status st = check_factor_sum(be, op, a, b, coeffs, N, K, R, P);
    if (st) return st;
    if (!step || step->rule < ESFT_OPT_SGD || step->rule > ESFT_OPT_ADAM)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "%s: unknown rule %d", op, step ? step->rule : -1);
    const size_t n = mul2(N, K), per = opt_state_per_weight(step->rule);
    CHECK_BUF(master, ESFT_F32, n);
    if (per) CHECK_BUF(state, ESFT_F32, per * n);
    if (step->anchor != 0) CHECK_BUF(base, ESFT_F32, n);
    esft_lowrank_optimize_fn *fn = be->ops->lowrank_optimize ? be->ops->lowrank_optimize : esft_lowrank_host_optimize;
    return fn(be, master, per ? state : NULL, step->anchor != 0 ? base : NULL, a, b, coeffs, N, K, R, P, step);
}

void esft_backend_destroy(esft_backend *be) {
    if (be && be->ops && be->ops->destroy) be->ops->destroy(be);
}
