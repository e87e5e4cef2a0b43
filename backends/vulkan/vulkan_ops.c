/* vulkan backend ops: push constants, bindings and dispatch sizes for the
 * shaders in kernels/vulkan. Everything is recorded into the backend's open
 * command buffer (vulkan_backend.c); nothing here waits for the device
 * except when a per-batch resource must be reused. Small side inputs
 * (es_update seeds and coefficients, RoPE frequencies) are copied into the
 * host-visible per-batch arena, so the caller's arrays may be freed on
 * return. */
#include "vulkan_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define B(b) esft_vk_bind_of(b)
#define LO(x) ((uint32_t)(uint64_t)(x))
#define HI(x) ((uint32_t)((uint64_t)(x) >> 32))
#define CEIL(a, b) (((uint64_t)(a) + (uint64_t)(b) - 1) / (uint64_t)(b))

static esft_status too_big(esft_backend *be, const char *op, size_t n) {
    return esft_errf(&be->err, ESFT_ERR_INVALID_ARG,
                     "vulkan: %s of %zu elements exceeds the 32-bit index range", op, n);
}

/* ----------------------------------------------------------------- noise */

esft_status esft_vk_philox(esft_backend *be, esft_buf *out, size_t n_blocks, uint64_t first_block,
                           uint32_t c2, uint32_t c3, uint64_t key) {
    if (n_blocks >= (1u << 30)) return too_big(be, "philox", n_blocks);
    struct { uint32_t n, fl, fh, c2, c3, kl, kh; } pc = {(uint32_t)n_blocks, LO(first_block),
                                                         HI(first_block), c2, c3, LO(key), HI(key)};
    vk_bind b[] = {B(out)};
    return esft_vk_dispatch(be, P_PHILOX, b, 1, &pc, sizeof pc, CEIL(n_blocks, 64), 0);
}

esft_status esft_vk_noise(esft_backend *be, esft_buf *out, size_t n, uint64_t first,
                          uint32_t tensor_id, uint64_t seed) {
    if (n == 0) return ESFT_OK;
    if (n >= (1u << 31)) return too_big(be, "noise", n);
    uint64_t last = first + (uint64_t)(n - 1);
    uint64_t nb = (last >> 2) - (first >> 2) + 1;
    struct { uint32_t n, fl, fh, tid, sl, sh, nb; } pc = {(uint32_t)n, LO(first), HI(first),
                                                          tensor_id, LO(seed), HI(seed),
                                                          (uint32_t)nb};
    vk_bind b[] = {B(out)};
    return esft_vk_dispatch(be, P_NOISE, b, 1, &pc, sizeof pc, CEIL(nb, 64), 0);
}

esft_status esft_vk_perturb(esft_backend *be, esft_buf *work, const esft_buf *master, size_t n,
                            uint32_t tensor_id, uint64_t seed, float sigma) {
    if (work->dtype != ESFT_F32)
        return esft_errf(&be->err, ESFT_ERR_UNSUPPORTED, "perturb: vulkan work dtype is f32 only");
    if (n >= 0xFFFFFFF0u) return too_big(be, "perturb", n);
    struct { uint32_t n, tid, sl, sh; float sigma; } pc = {(uint32_t)n, tensor_id, LO(seed),
                                                           HI(seed), sigma};
    vk_bind b[] = {B(work), B(master)};
    return esft_vk_dispatch(be, P_PERTURB, b, 2, &pc, sizeof pc, CEIL(CEIL(n, 4), 64), 0);
}

/* The members' seeds and coefficient bits into the arena, bound at *bind:
 * side[2k], side[2k+1] = seed k (lo, hi); side[2K + k] = coeffs[k]. */
static esft_status bind_members(esft_backend *be, const uint64_t *seeds, const float *coeffs, size_t K,
                                vk_bind *bind, const char *op) {
    uint32_t *side = malloc((3 * K + 1) * sizeof *side);
    if (!side) return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    side[0] = 0; /* K = 0: one word, so the binding is never empty */
    for (size_t k = 0; k < K; k++) {
        side[2 * k] = LO(seeds[k]);
        side[2 * k + 1] = HI(seeds[k]);
        memcpy(&side[2 * K + k], &coeffs[k], 4);
    }
    esft_status st = esft_vk_arena(be, side, (K ? 3 * K : 1) * sizeof *side, bind);
    free(side);
    return st;
}

esft_status esft_vk_es_update(esft_backend *be, esft_buf *master, size_t n, uint32_t tensor_id,
                              const uint64_t *seeds, const float *coeffs, int n_members) {
    if (n_members <= 0 || n == 0) return ESFT_OK;
    if (n >= 0xFFFFFFF0u) return too_big(be, "es_update", n);
    size_t K = (size_t)n_members;
    vk_bind b[2] = {B(master)};
    esft_status st = bind_members(be, seeds, coeffs, K, &b[1], "es_update");
    if (st != ESFT_OK) return st;
    struct { uint32_t n, tid, K; } pc = {(uint32_t)n, tensor_id, (uint32_t)K};
    return esft_vk_dispatch(be, P_ES_UPDATE, b, 2, &pc, sizeof pc, CEIL(CEIL(n, 4), 64), 0);
}

esft_status esft_vk_es_optimize(esft_backend *be, esft_buf *master, esft_buf *state, const esft_buf *base,
                                size_t n, uint32_t tensor_id, const uint64_t *seeds, const float *coeffs,
                                int n_members, const esft_opt_step *p) {
    if (n >= 0xFFFFFFF0u) return too_big(be, "es_optimize", n);
    size_t K = n_members > 0 ? (size_t)n_members : 0;
    /* unused buffers: master stands in (the shader does not touch them) */
    vk_bind b[4] = {B(master), state ? B(state) : B(master), base ? B(base) : B(master)};
    esft_status st = bind_members(be, seeds, coeffs, K, &b[3], "es_optimize");
    if (st != ESFT_OK) return st;
    struct {
        uint32_t n, tid, K;
        int32_t rule;
        float lr, beta1, beta2, eps, bc1, bc2, l2, decay, anchor;
    } pc = {(uint32_t)n, tensor_id, (uint32_t)K, p->rule, p->lr, p->beta1, p->beta2, p->eps,
            p->bc1, p->bc2, p->l2, p->decay, p->anchor};
    return esft_vk_dispatch(be, P_ES_OPTIMIZE, b, 4, &pc, sizeof pc, CEIL(CEIL(n, 4), 64), 0);
}

/* ------------------------------------------------------------ elementwise */

typedef struct elt_pc {
    uint32_t n;
    float factor;
    uint32_t N;
} elt_pc;

static esft_status eltwise(esft_backend *be, vk_pid pid, const esft_buf *y, const esft_buf *a,
                           const esft_buf *b, size_t n, float factor, uint32_t N) {
    if (n >= 0xFFFFFF00u) return too_big(be, "element-wise op", n);
    elt_pc pc = {(uint32_t)n, factor, N};
    vk_bind bs[3] = {B(y), B(a ? a : y), B(b ? b : y)};
    return esft_vk_dispatch(be, pid, bs, 3, &pc, sizeof pc, CEIL(n, 256), 0);
}

esft_status esft_vk_scale(esft_backend *be, esft_buf *x, size_t n, float factor) {
    return eltwise(be, P_SCALE, x, NULL, NULL, n, factor, 1);
}

esft_status esft_vk_add(esft_backend *be, esft_buf *y, const esft_buf *a, const esft_buf *b,
                        size_t n) {
    return eltwise(be, P_ADD, y, a, b, n, 1.0f, 1);
}

esft_status esft_vk_swiglu(esft_backend *be, esft_buf *y, const esft_buf *gate, const esft_buf *up,
                           size_t n) {
    return eltwise(be, P_SWIGLU, y, gate, up, n, 1.0f, 1);
}

esft_status esft_vk_geglu(esft_backend *be, esft_buf *y, const esft_buf *gate, const esft_buf *up,
                          size_t n) {
    return eltwise(be, P_GEGLU, y, gate, up, n, 1.0f, 1);
}

esft_status esft_vk_get_rows(esft_backend *be, esft_buf *y, const esft_buf *table,
                             const esft_buf *ids, int T, int D) {
    if (table->dtype != ESFT_F32)
        return esft_errf(&be->err, ESFT_ERR_UNSUPPORTED, "get_rows: vulkan tables are f32 only");
    size_t total = (size_t)T * (size_t)D;
    if (total >= 0xFFFFFF00u || table->n >= 0xFFFFFF00u) return too_big(be, "get_rows", total);
    struct { uint32_t D, rows, total; } pc = {(uint32_t)D, (uint32_t)(table->n / (size_t)D),
                                              (uint32_t)total};
    vk_bind b[] = {B(y), B(table), B(ids)};
    return esft_vk_dispatch(be, P_GET_ROWS, b, 3, &pc, sizeof pc, CEIL(total, 256), 0);
}

/* ---------------------------------------------------------------- matmul */

#define VK_GEMV_MAX_T 8

esft_status esft_vk_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                           const esft_buf *bias, int T, int N, int K) {
    if (w->dtype != ESFT_F32)
        return esft_errf(&be->err, ESFT_ERR_UNSUPPORTED, "matmul: vulkan weights are f32 only");
    vk_ctx *c = vk_ctx_of(be);
    if ((size_t)N * (size_t)K >= 0xFFFFFF00u || (size_t)T * (size_t)K >= 0xFFFFFF00u ||
        (size_t)T * (size_t)N >= 0xFFFFFF00u)
        return too_big(be, "matmul", (size_t)N * (size_t)K);
    struct { uint32_t T, N, K, has_bias; } pc = {(uint32_t)T, (uint32_t)N, (uint32_t)K,
                                                 bias != NULL};
    vk_bind b[] = {B(y), B(x), B(w), B(bias ? bias : y)};
    if (c->matmul_mode == VK_MATMUL_NAIVE)
        return esft_vk_dispatch(be, P_MATMUL_NAIVE, b, 4, &pc, sizeof pc,
                                CEIL((uint64_t)T * (uint64_t)N, 64), 0);
    /* decode (one token, or a handful): one subgroup per row of W, reading
     * W once per call; the tiled GEMM would waste most of a 64-row tile */
    if (T <= VK_GEMV_MAX_T && c->subgroup_arith && c->matmul_mode == VK_MATMUL_AUTO)
        return esft_vk_dispatch(be, T == 1 ? P_GEMV : P_GEMV8, b, 4, &pc, sizeof pc, CEIL(N, 4), 0);
    uint64_t gx = CEIL(N, 64), gy = CEIL(T, 64);
    if (gx > c->max_groups_x || gy > c->max_groups_y) return too_big(be, "matmul", (size_t)T * N);
    return esft_vk_dispatch(be, P_MATMUL, b, 4, &pc, sizeof pc, gx, (uint32_t)gy);
}

/* ------------------------------------------------------ rmsnorm / rope */

esft_status esft_vk_rmsnorm(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                            int T, int D, float eps) {
    struct { uint32_t D; float eps; uint32_t T; } pc = {(uint32_t)D, eps, (uint32_t)T};
    vk_bind b[] = {B(y), B(x), B(w)};
    return esft_vk_dispatch(be, P_RMSNORM, b, 3, &pc, sizeof pc, (uint64_t)T, 0);
}

esft_status esft_vk_rope(esft_backend *be, esft_buf *x, const esft_buf *pos, int T, int n_heads,
                         int head_dim, float base, const esft_buf *freq_factors, esft_rope_style style) {
    vk_ctx *c = vk_ctx_of(be);
    int half = head_dim / 2;
    if (half <= 0) return ESFT_OK;
    /* base^(-2i/hd) in double, as on the cpu backend */
    double *fd = malloc((size_t)half * sizeof *fd);
    float *ff = malloc((size_t)half * sizeof *ff);
    if (!fd || !ff) {
        free(fd);
        free(ff);
        return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "rope: out of memory");
    }
    for (int i = 0; i < half; i++) {
        fd[i] = pow((double)base, -2.0 * i / head_dim);
        ff[i] = (float)fd[i];
    }
    /* binding 3 unused without factors: any buffer */
    vk_bind b[4] = {B(x), B(pos), {0}, B(freq_factors ? freq_factors : x)};
    esft_status st = c->fp64 ? esft_vk_arena(be, fd, (size_t)half * sizeof *fd, &b[2])
                             : esft_vk_arena(be, ff, (size_t)half * sizeof *ff, &b[2]);
    free(fd);
    free(ff);
    if (st != ESFT_OK) return st;
    size_t total = (size_t)T * (size_t)n_heads * (size_t)half;
    if (total >= 0xFFFFFF00u) return too_big(be, "rope", total);
    struct { uint32_t H, hd, neox, total, use_ff; } pc = {(uint32_t)n_heads, (uint32_t)head_dim,
                                                          style == ESFT_ROPE_NEOX, (uint32_t)total,
                                                          freq_factors != NULL};
    return esft_vk_dispatch(be, c->fp64 ? P_ROPE_F64 : P_ROPE, b, 4, &pc, sizeof pc,
                            CEIL(total, 64), 0);
}

/* ------------------------------------------------------------- attention */

esft_status esft_vk_attention(esft_backend *be, esft_buf *out, const esft_buf *q,
                              const esft_buf *k, const esft_buf *v, esft_buf *kcache,
                              esft_buf *vcache, const esft_buf *seq, const esft_buf *pos, int T,
                              int n_heads, int n_kv_heads, int head_dim, int max_ctx,
                              int window, float scale) {
    size_t row = (size_t)n_kv_heads * (size_t)head_dim;
    size_t n_slots = kcache->n / ((size_t)max_ctx * row);
    size_t total = (size_t)T * row;
    if (kcache->n >= 0xFFFFFF00u || total >= 0xFFFFFF00u) return too_big(be, "attention", kcache->n);
    struct { uint32_t row; int32_t max_ctx; uint32_t n_slots, total; } pc1 = {
        (uint32_t)row, max_ctx, (uint32_t)n_slots, (uint32_t)total};
    vk_bind b1[] = {B(kcache), B(vcache), B(k), B(v), B(seq), B(pos)};
    esft_status st = esft_vk_dispatch(be, P_KV_STORE, b1, 6, &pc1, sizeof pc1, CEIL(total, 256), 0);
    if (st != ESFT_OK) return st;
    /* scores of at most `chunk` (token, head) pairs at a time, so the scratch
     * buffer stays far below maxStorageBufferRange on long prefills */
    vk_ctx *c = vk_ctx_of(be);
    size_t th = (size_t)T * (size_t)n_heads, per = (size_t)max_ctx * sizeof(float);
    size_t cap = c->max_range < ((size_t)64 << 20) ? (size_t)c->max_range : ((size_t)64 << 20);
    size_t chunk = cap / per;
    if (chunk == 0) return esft_errf(&be->err, ESFT_ERR_INVALID_ARG,
                                     "attention: max_ctx %d too large for the device", max_ctx);
    if (chunk > th) chunk = th;
    vk_bind scr;
    st = esft_vk_scratch(be, chunk * per, &scr);
    if (st != ESFT_OK) return st;
    for (size_t th0 = 0; th0 < th && st == ESFT_OK; th0 += chunk) {
        size_t cnt = th - th0 < chunk ? th - th0 : chunk;
        struct {
            uint32_t H, KVH, hd;
            int32_t max_ctx;
            uint32_t n_slots;
            float scale;
            uint32_t TH, th0;
            int32_t window;
        } pc2 = {(uint32_t)n_heads, (uint32_t)n_kv_heads, (uint32_t)head_dim, max_ctx,
                 (uint32_t)n_slots, scale, (uint32_t)cnt, (uint32_t)th0, window};
        vk_bind b2[] = {B(out), B(q), B(kcache), B(vcache), B(seq), B(pos), scr};
        st = esft_vk_dispatch(be, P_ATTENTION, b2, 7, &pc2, sizeof pc2, cnt, 0);
    }
    return st;
}

/* ---------------------------------------------------------------- argmax */

esft_status esft_vk_argmax(esft_backend *be, esft_buf *ids, const esft_buf *x, int T, int N) {
    struct { uint32_t N, T; } pc = {(uint32_t)N, (uint32_t)T};
    vk_bind b[] = {B(ids), B(x)};
    return esft_vk_dispatch(be, P_ARGMAX, b, 2, &pc, sizeof pc, (uint64_t)T, 0);
}

/* ------------------------------------------------ low-rank members (EGGROLL) */

esft_status esft_vk_lowrank_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *a,
                                   const esft_buf *b, const esft_buf *member, const esft_buf *scales, int T, int N,
                                   int K, int R, int P) {
    if (a->n >= 0xFFFFFF00u || b->n >= 0xFFFFFF00u || (size_t)T * (size_t)N >= 0xFFFFFF00u ||
        (size_t)T * (size_t)K >= 0xFFFFFF00u)
        return too_big(be, "lowrank_matmul", a->n > b->n ? a->n : b->n);
    struct { uint32_t T, N, K, R; int32_t P; } pc = {(uint32_t)T, (uint32_t)N, (uint32_t)K, (uint32_t)R, P};
    vk_bind bs[] = {B(y), B(x), B(a), B(b), B(member), B(scales)};
    return esft_vk_dispatch(be, P_LOWRANK_MATMUL, bs, 6, &pc, sizeof pc, (uint64_t)T, 0);
}

esft_status esft_vk_lowrank_rows(esft_backend *be, esft_buf *y, const esft_buf *a, const esft_buf *b,
                                 const esft_buf *ids, const esft_buf *member, const esft_buf *scales, int T, int D,
                                 int V, int R, int P) {
    const size_t total = (size_t)T * (size_t)D;
    if (a->n >= 0xFFFFFF00u || b->n >= 0xFFFFFF00u || total >= 0xFFFFFF00u)
        return too_big(be, "lowrank_rows", a->n > total ? a->n : total);
    struct { uint32_t D, V, R, total; int32_t P; } pc = {(uint32_t)D, (uint32_t)V, (uint32_t)R, (uint32_t)total, P};
    vk_bind bs[] = {B(y), B(a), B(b), B(ids), B(member), B(scales)};
    return esft_vk_dispatch(be, P_LOWRANK_ROWS, bs, 6, &pc, sizeof pc, CEIL(total, 256), 0);
}

esft_status esft_vk_lowrank_update(esft_backend *be, esft_buf *w, const esft_buf *a, const esft_buf *b,
                                   const float *coeffs, int N, int K, int R, int P) {
    const size_t total = (size_t)N * (size_t)K;
    if (a->n >= 0xFFFFFF00u || b->n >= 0xFFFFFF00u || total >= 0xFFFFFF00u)
        return too_big(be, "lowrank_update", total);
    vk_bind bs[4] = {B(w), B(a), B(b)};
    esft_status st = esft_vk_arena(be, coeffs, (size_t)P * sizeof *coeffs, &bs[3]);
    if (st != ESFT_OK) return st;
    struct { uint32_t N, K, R, total; int32_t P; } pc = {(uint32_t)N, (uint32_t)K, (uint32_t)R, (uint32_t)total, P};
    return esft_vk_dispatch(be, P_LOWRANK_UPDATE, bs, 4, &pc, sizeof pc, CEIL(total, 256), 0);
}
