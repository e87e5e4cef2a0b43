/* opencl backend ops: argument marshalling and launches of the kernels in
 * kernels/opencl/esft_ops.cl; matmul through CLBlast. Everything is enqueued
 * on the backend's one in-order queue; nothing here waits for the device
 * except uploads of small side inputs (blocking writes, so the host array
 * may be freed on return). */
#include "opencl_internal.h"

#include <clblast_c.h>
#include <stdlib.h>
#include <string.h>

typedef struct karg {
    size_t size;
    const void *p; /* NULL: __local memory of `size` bytes */
} karg;

#define A(x) ((karg){sizeof(x), &(x)})
#define LOCAL(bytes) ((karg){(bytes), NULL})
#define NARGS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static esft_status cl_fail(esft_backend *be, const char *what, cl_int e) {
    return esft_errf(&be->err, e == CL_MEM_OBJECT_ALLOCATION_FAILURE || e == CL_OUT_OF_RESOURCES
                                   ? ESFT_ERR_OUT_OF_MEMORY
                                   : ESFT_ERR_DEVICE,
                     "opencl: %s: %s (%d)", what, esft_cl_errstr(e), e);
}

/* Sets the arguments and enqueues kernel `id` over `groups` work-groups of
 * the kernel's local size (groups_are_rows) or over `items` work-items
 * rounded up to whole work-groups. */
static esft_status launch(esft_backend *be, cl_kid id, const karg *args, int nargs, size_t items,
                          bool groups_are_rows, const char *op) {
    ocl_ctx *c = ocl_ctx_of(be);
    cl_kernel k = c->k[id];
    for (int i = 0; i < nargs; i++) {
        cl_int e = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].p);
        if (e != CL_SUCCESS) return cl_fail(be, op, e);
    }
    if (items == 0) return ESFT_OK;
    size_t local = c->wg[id];
    size_t global = groups_are_rows ? items * local : (items + local - 1) / local * local;
    cl_int e = clEnqueueNDRangeKernel(c->queue, k, 1, NULL, &global, &local, 0, NULL, NULL);
    return e == CL_SUCCESS ? ESFT_OK : cl_fail(be, op, e);
}

static size_t local_size(esft_backend *be, cl_kid id) { return ocl_ctx_of(be)->wg[id]; }

/* A device buffer of at least `bytes` in *m (grown, never shrunk). A buffer
 * still used by queued commands stays alive until they finish. */
static esft_status ensure(esft_backend *be, cl_mem *m, size_t *have, size_t bytes, const char *op) {
    if (*m && *have >= bytes) return ESFT_OK;
    ocl_ctx *c = ocl_ctx_of(be);
    if (*m) clReleaseMemObject(*m);
    *m = NULL;
    *have = 0;
    size_t want = bytes < 4096 ? 4096 : bytes;
    cl_int e;
    cl_mem nm = clCreateBuffer(c->context, CL_MEM_READ_WRITE, want, NULL, &e);
    if (!nm || e != CL_SUCCESS) return cl_fail(be, op, e);
    *m = nm;
    *have = want;
    return ESFT_OK;
}

#define MEM(b) ((cl_mem)(b)->handle)

/* ----------------------------------------------------------------- noise */

esft_status esft_cl_philox(esft_backend *be, esft_buf *out, size_t n_blocks, uint64_t first_block,
                           uint32_t c2, uint32_t c3, uint64_t key) {
    cl_mem o = MEM(out);
    cl_ulong nb = n_blocks, fb = first_block, k = key;
    cl_uint a2 = c2, a3 = c3;
    karg a[] = {A(o), A(nb), A(fb), A(a2), A(a3), A(k)};
    return launch(be, K_philox, a, NARGS(a), n_blocks, false, "philox");
}

esft_status esft_cl_noise(esft_backend *be, esft_buf *out, size_t n, uint64_t first,
                          uint32_t tensor_id, uint64_t seed) {
    if (n == 0) return ESFT_OK;
    cl_mem o = MEM(out);
    uint64_t last = first + (uint64_t)(n - 1); /* no overflow: the range fits in u64 */
    cl_ulong nb = (last >> 2) - (first >> 2) + 1;
    cl_ulong nn = n, f = first, s = seed;
    cl_uint tid = tensor_id;
    karg a[] = {A(o), A(nn), A(f), A(tid), A(s), A(nb)};
    return launch(be, K_noise, a, NARGS(a), (size_t)nb, false, "noise");
}

esft_status esft_cl_perturb(esft_backend *be, esft_buf *work, const esft_buf *master, size_t n,
                            uint32_t tensor_id, uint64_t seed, float sigma) {
    if (work->dtype != ESFT_F32)
        return esft_errf(&be->err, ESFT_ERR_UNSUPPORTED, "perturb: opencl work dtype is f32 only");
    cl_mem w = MEM(work), m = MEM(master);
    cl_ulong nn = n, s = seed;
    cl_uint tid = tensor_id;
    cl_float sg = sigma;
    karg a[] = {A(w), A(m), A(nn), A(tid), A(s), A(sg)};
    return launch(be, K_perturb, a, NARGS(a), (n + 3) / 4, false, "perturb");
}

/* The members' seeds and coefficient bits into the side buffer:
 * side[k] = seeds[k], side[K + k] = the bits of coeffs[k]. */
static esft_status upload_members(esft_backend *be, const uint64_t *seeds, const float *coeffs, size_t K,
                                  const char *op) {
    ocl_ctx *c = ocl_ctx_of(be);
    cl_ulong *side = malloc(2 * K * sizeof *side);
    if (!side) return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
    for (size_t k = 0; k < K; k++) {
        uint32_t bits;
        memcpy(&bits, &coeffs[k], 4);
        side[k] = seeds[k];
        side[K + k] = bits;
    }
    esft_status st = ensure(be, &c->side, &c->side_bytes, 2 * K * sizeof *side, op);
    if (st == ESFT_OK) {
        cl_int e = clEnqueueWriteBuffer(c->queue, c->side, CL_TRUE, 0, 2 * K * sizeof *side, side,
                                        0, NULL, NULL);
        if (e != CL_SUCCESS) st = cl_fail(be, op, e);
    }
    free(side);
    return st;
}

esft_status esft_cl_es_update(esft_backend *be, esft_buf *master, size_t n, uint32_t tensor_id,
                              const uint64_t *seeds, const float *coeffs, int n_members) {
    if (n_members <= 0 || n == 0) return ESFT_OK;
    esft_status st = upload_members(be, seeds, coeffs, (size_t)n_members, "es_update (seeds)");
    if (st != ESFT_OK) return st;
    cl_mem m = MEM(master), sd = ocl_ctx_of(be)->side;
    cl_ulong nn = n;
    cl_uint tid = tensor_id;
    cl_int kk = n_members;
    karg a[] = {A(m), A(nn), A(tid), A(sd), A(kk)};
    return launch(be, K_es_update, a, NARGS(a), (n + 3) / 4, false, "es_update");
}

esft_status esft_cl_es_optimize(esft_backend *be, esft_buf *master, esft_buf *state, const esft_buf *base,
                                size_t n, uint32_t tensor_id, const uint64_t *seeds, const float *coeffs,
                                int n_members, const esft_opt_step *p) {
    esft_status st = n_members > 0 ? upload_members(be, seeds, coeffs, (size_t)n_members, "es_optimize (seeds)")
                                   : ESFT_OK;
    if (st != ESFT_OK) return st;
    cl_mem m = MEM(master), sd = ocl_ctx_of(be)->side;
    /* unused buffers: master stands in (the kernel does not touch them) */
    cl_mem s = state ? MEM(state) : m, bs = base ? MEM(base) : m;
    if (!sd) sd = m;
    cl_ulong nn = n;
    cl_uint tid = tensor_id;
    cl_int kk = n_members, rule = p->rule;
    karg a[] = {A(m), A(s), A(bs), A(nn), A(tid), A(sd), A(kk), A(rule), A(p->lr), A(p->beta1), A(p->beta2),
                A(p->eps), A(p->bc1), A(p->bc2), A(p->l2), A(p->decay), A(p->anchor)};
    return launch(be, K_es_optimize, a, NARGS(a), (n + 3) / 4, false, "es_optimize");
}

/* ------------------------------------------------------------ elementwise */

esft_status esft_cl_scale(esft_backend *be, esft_buf *x, size_t n, float factor) {
    cl_mem xm = MEM(x);
    cl_ulong nn = n;
    cl_float f = factor;
    karg a[] = {A(xm), A(nn), A(f)};
    return launch(be, K_scale, a, NARGS(a), n, false, "scale");
}

/* y = f(a, b) element by element: kernel k(y, a, b, n) */
static esft_status binary(esft_backend *be, cl_kid kid, esft_buf *y, const esft_buf *a_, const esft_buf *b_,
                          size_t n, const char *what) {
    cl_mem ym = MEM(y), am = MEM(a_), bm = MEM(b_);
    cl_ulong nn = n;
    karg a[] = {A(ym), A(am), A(bm), A(nn)};
    return launch(be, kid, a, NARGS(a), n, false, what);
}

esft_status esft_cl_add(esft_backend *be, esft_buf *y, const esft_buf *a, const esft_buf *b, size_t n) {
    return binary(be, K_add, y, a, b, n, "add");
}

esft_status esft_cl_swiglu(esft_backend *be, esft_buf *y, const esft_buf *gate, const esft_buf *up,
                           size_t n) {
    return binary(be, K_swiglu, y, gate, up, n, "swiglu");
}

esft_status esft_cl_geglu(esft_backend *be, esft_buf *y, const esft_buf *gate, const esft_buf *up,
                          size_t n) {
    return binary(be, K_geglu, y, gate, up, n, "geglu");
}

esft_status esft_cl_get_rows(esft_backend *be, esft_buf *y, const esft_buf *table,
                             const esft_buf *ids, int T, int D) {
    if (table->dtype != ESFT_F32)
        return esft_errf(&be->err, ESFT_ERR_UNSUPPORTED, "get_rows: opencl tables are f32 only");
    cl_mem ym = MEM(y), tm = MEM(table), im = MEM(ids);
    cl_uint d = (cl_uint)D;
    cl_ulong rows = table->n / (size_t)D, total = (size_t)T * (size_t)D;
    karg a[] = {A(ym), A(tm), A(im), A(d), A(rows), A(total)};
    return launch(be, K_get_rows, a, NARGS(a), (size_t)total, false, "get_rows");
}

/* ---------------------------------------------------------------- matmul */

esft_status esft_cl_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                           const esft_buf *bias, int T, int N, int K) {
    if (w->dtype != ESFT_F32)
        return esft_errf(&be->err, ESFT_ERR_UNSUPPORTED, "matmul: opencl weights are f32 only");
    ocl_ctx *c = ocl_ctx_of(be);
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo,
                                       CLBlastTransposeYes, (size_t)T, (size_t)N, (size_t)K, 1.0f,
                                       MEM(x), 0, (size_t)K, MEM(w), 0, (size_t)K, 0.0f, MEM(y), 0,
                                       (size_t)N, &c->queue, NULL);
    if (s != CLBlastSuccess)
        return esft_errf(&be->err, ESFT_ERR_DEVICE, "matmul: CLBlastSgemm T=%d N=%d K=%d failed (%d)",
                         T, N, K, (int)s);
    if (!bias) return ESFT_OK;
    cl_mem ym = MEM(y), bm = MEM(bias);
    cl_uint nn = (cl_uint)N;
    cl_ulong total = (size_t)T * (size_t)N;
    karg a[] = {A(ym), A(bm), A(nn), A(total)};
    return launch(be, K_add_bias, a, NARGS(a), (size_t)total, false, "matmul (bias)");
}

/* ------------------------------------------------------ rmsnorm / rope */

esft_status esft_cl_rmsnorm(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *w,
                            int T, int D, float eps) {
    cl_mem ym = MEM(y), xm = MEM(x), wm = MEM(w);
    cl_uint d = (cl_uint)D;
    cl_float e = eps;
    karg a[] = {A(ym), A(xm), A(wm), A(d), A(e), LOCAL(local_size(be, K_rmsnorm) * sizeof(float))};
    return launch(be, K_rmsnorm, a, NARGS(a), (size_t)T, true, "rmsnorm");
}

esft_status esft_cl_rope(esft_backend *be, esft_buf *x, const esft_buf *pos, int T, int n_heads,
                         int head_dim, float base, const esft_buf *freq_factors, esft_rope_style style) {
    /* without factors the kernel reads none: any buffer stands in, so no
     * NULL buffer argument reaches the driver */
    cl_mem xm = MEM(x), pm = MEM(pos), fm = freq_factors ? MEM(freq_factors) : pm;
    cl_int use_ff = freq_factors != NULL;
    cl_uint h = (cl_uint)n_heads, hd = (cl_uint)head_dim;
    cl_float b = base;
    cl_int neox = style == ESFT_ROPE_NEOX;
    cl_ulong total = (size_t)T * (size_t)n_heads * (size_t)(head_dim / 2);
    karg a[] = {A(xm), A(pm), A(h), A(hd), A(b), A(neox), A(fm), A(use_ff), A(total)};
    return launch(be, K_rope, a, NARGS(a), (size_t)total, false, "rope");
}

/* ------------------------------------------------------------- attention */

esft_status esft_cl_attention(esft_backend *be, esft_buf *out, const esft_buf *q,
                              const esft_buf *k, const esft_buf *v, esft_buf *kcache,
                              esft_buf *vcache, const esft_buf *seq, const esft_buf *pos, int T,
                              int n_heads, int n_kv_heads, int head_dim, int max_ctx,
                              int window, float scale) {
    ocl_ctx *c = ocl_ctx_of(be);
    cl_uint row = (cl_uint)((size_t)n_kv_heads * (size_t)head_dim);
    cl_int mc = max_ctx;
    cl_ulong n_slots = kcache->n / ((size_t)max_ctx * row);
    cl_ulong total = (size_t)T * row;
    cl_mem kc = MEM(kcache), vc = MEM(vcache), km = MEM(k), vm = MEM(v), sm = MEM(seq),
           pm = MEM(pos), om = MEM(out), qm = MEM(q);
    karg a1[] = {A(kc), A(vc), A(km), A(vm), A(sm), A(pm), A(row), A(mc), A(n_slots), A(total)};
    esft_status st = launch(be, K_kv_store, a1, NARGS(a1), (size_t)total, false, "attention (store)");
    if (st != ESFT_OK) return st;
    size_t th = (size_t)T * (size_t)n_heads;
    st = ensure(be, &c->scratch, &c->scratch_bytes, th * (size_t)max_ctx * sizeof(float),
                "attention (scratch)");
    if (st != ESFT_OK) return st;
    cl_mem scr = c->scratch;
    cl_uint H = (cl_uint)n_heads, KVH = (cl_uint)n_kv_heads, hd = (cl_uint)head_dim;
    cl_float sc = scale;
    cl_int win = window;
    karg a2[] = {A(om), A(qm),  A(kc), A(vc), A(sm),      A(pm),   A(scr),
                 A(H),  A(KVH), A(hd), A(mc), A(n_slots), A(sc), A(win),
                 LOCAL(local_size(be, K_attention) * sizeof(float))};
    return launch(be, K_attention, a2, NARGS(a2), th, true, "attention");
}

/* ---------------------------------------------------------------- argmax */

esft_status esft_cl_argmax(esft_backend *be, esft_buf *ids, const esft_buf *x, int T, int N) {
    cl_mem im = MEM(ids), xm = MEM(x);
    cl_uint n = (cl_uint)N;
    size_t ls = local_size(be, K_argmax);
    karg a[] = {A(im), A(xm), A(n), LOCAL(ls * sizeof(float)), LOCAL(ls * sizeof(cl_int))};
    return launch(be, K_argmax, a, NARGS(a), (size_t)T, true, "argmax");
}

/* ------------------------------------------------ low-rank members (EGGROLL) */

esft_status esft_cl_lowrank_matmul(esft_backend *be, esft_buf *y, const esft_buf *x, const esft_buf *a,
                                   const esft_buf *b, const esft_buf *member, const esft_buf *scales, int T, int N,
                                   int K, int R, int P) {
    cl_mem ym = MEM(y), xm = MEM(x), am = MEM(a), bm = MEM(b), mm = MEM(member), sm = MEM(scales);
    cl_uint n = (cl_uint)N, kk = (cl_uint)K, r = (cl_uint)R;
    cl_int p = P;
    karg args[] = {A(ym), A(xm), A(am), A(bm), A(mm), A(sm), A(n), A(kk), A(r), A(p),
                   LOCAL(local_size(be, K_lowrank_matmul) * sizeof(float)), LOCAL((size_t)R * sizeof(float))};
    return launch(be, K_lowrank_matmul, args, NARGS(args), (size_t)T, true, "lowrank_matmul");
}

esft_status esft_cl_lowrank_rows(esft_backend *be, esft_buf *y, const esft_buf *a, const esft_buf *b,
                                 const esft_buf *ids, const esft_buf *member, const esft_buf *scales, int T, int D,
                                 int V, int R, int P) {
    cl_mem ym = MEM(y), am = MEM(a), bm = MEM(b), im = MEM(ids), mm = MEM(member), sm = MEM(scales);
    cl_uint d = (cl_uint)D, v = (cl_uint)V, r = (cl_uint)R;
    cl_int p = P;
    cl_ulong total = (cl_ulong)T * (cl_ulong)D;
    karg args[] = {A(ym), A(am), A(bm), A(im), A(mm), A(sm), A(d), A(v), A(r), A(p), A(total)};
    return launch(be, K_lowrank_rows, args, NARGS(args), (size_t)total, false, "lowrank_rows");
}

esft_status esft_cl_lowrank_update(esft_backend *be, esft_buf *w, const esft_buf *a, const esft_buf *b,
                                   const float *coeffs, int N, int K, int R, int P) {
    ocl_ctx *c = ocl_ctx_of(be);
    const size_t bytes = (size_t)P * sizeof(float);
    esft_status st = ensure(be, &c->side, &c->side_bytes, bytes, "lowrank_update");
    if (st == ESFT_OK) {
        cl_int e = clEnqueueWriteBuffer(c->queue, c->side, CL_TRUE, 0, bytes, coeffs, 0, NULL, NULL);
        if (e != CL_SUCCESS) st = cl_fail(be, "lowrank_update (coefficients)", e);
    }
    if (st != ESFT_OK) return st;
    cl_mem wm = MEM(w), am = MEM(a), bm = MEM(b), cm = c->side;
    cl_uint n = (cl_uint)N, k = (cl_uint)K, r = (cl_uint)R;
    cl_int p = P;
    cl_ulong total = (cl_ulong)N * (cl_ulong)K;
    karg args[] = {A(wm), A(am), A(bm), A(cm), A(n), A(k), A(r), A(p), A(total)};
    return launch(be, K_lowrank_update, args, NARGS(args), (size_t)total, false, "lowrank_update");
}
