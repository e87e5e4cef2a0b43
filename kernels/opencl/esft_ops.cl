/* OpenCL C kernels of the opencl backend (OpenCL C 1.2, f32).
 *
 * The host prepends kernels/common/esft_philox.h to this file when it builds
 * the program (both are embedded in the binary), so the include below is
 * only taken when this file is compiled on its own (with -I kernels/common).
 *
 * Build options set by the host:
 *   ESFT_FP64   the device has cl_khr_fp64 (rope angles in double, as on
 *               the cpu backend);
 * Reductions (rmsnorm, attention, argmax) run one work-group per row with a
 * power-of-two local size and a __local scratch array of that size. */
#ifndef ESFT_PHILOX_H
#include "esft_philox.h"
#endif
#ifndef ESFT_OPTIM_H
#include "esft_optim.h"
#endif

#ifdef ESFT_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

/* ------------------------------------------------------------- noise */

/* Raw Philox words: out[4b .. 4b+3] for block first_block + b. */
__kernel void esft_philox_k(__global uint *out, ulong n_blocks, ulong first_block, uint c2,
                            uint c3, ulong key) {
    ulong g = get_global_id(0);
    if (g >= n_blocks) return;
    ulong ctr = first_block + g;
    esft_u32x4 c;
    c.x0 = (uint)ctr;
    c.x1 = (uint)(ctr >> 32);
    c.x2 = c2;
    c.x3 = c3;
    esft_u32x4 x = esft_philox4x32_10(c, (uint)key, (uint)(key >> 32));
    out[4 * g + 0] = x.x0;
    out[4 * g + 1] = x.x1;
    out[4 * g + 2] = x.x2;
    out[4 * g + 3] = x.x3;
}

/* out[i] = eps(seed, tid, first + i), i < n. Work-item g computes Philox
 * block b0 + g (b0 = first >> 2) and writes those of its four elements
 * that fall inside [first, first + n). */
__kernel void esft_noise_k(__global float *out, ulong n, ulong first, uint tid, ulong seed,
                           ulong n_blocks) {
    ulong g = get_global_id(0);
    if (g >= n_blocks) return;
    ulong b = (first >> 2) + g;
    esft_f32x4 z = esft_eps_block(seed, tid, b);
    float v[4] = {z.x0, z.x1, z.x2, z.x3};
    for (int q = 0; q < 4; q++) {
        ulong idx = 4 * b + (ulong)q;
        if (idx >= first && idx - first < n) out[idx - first] = v[q];
    }
}

/* work[i] = master[i] + sigma * eps(seed, tid, i) (one fused multiply-add). */
__kernel void esft_perturb_k(__global float *work, __global const float *master, ulong n,
                             uint tid, ulong seed, float sigma) {
    ulong b = get_global_id(0);
    ulong i0 = 4 * b;
    if (i0 >= n) return;
    esft_f32x4 z = esft_eps_block(seed, tid, b);
    float v[4] = {z.x0, z.x1, z.x2, z.x3};
    for (int q = 0; q < 4; q++) {
        ulong i = i0 + (ulong)q;
        if (i < n) work[i] = fma(sigma, v[q], master[i]);
    }
}

/* sum_k coeffs[k] * eps(seeds[k], tid, 4b + q), q < 4, k ascending, f32
 * fused multiply-adds (the order of esft_philox.h). side[k] = seeds[k],
 * side[K + k] = the bits of coeffs[k]. */
static void esft_member_sum(__global const ulong *side, int K, uint tid, ulong b, float a[4]) {
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    for (int k = 0; k < K; k++) {
        esft_f32x4 z = esft_eps_block(side[k], tid, b);
        float c = as_float((uint)side[K + k]);
        a0 = fma(c, z.x0, a0);
        a1 = fma(c, z.x1, a1);
        a2 = fma(c, z.x2, a2);
        a3 = fma(c, z.x3, a3);
    }
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

/* master[i] += the members' sum (esft_member_sum). */
__kernel void esft_es_update_k(__global float *master, ulong n, uint tid,
                               __global const ulong *side, int K) {
    ulong b = get_global_id(0);
    ulong i0 = 4 * b;
    if (i0 >= n) return;
    float a[4];
    esft_member_sum(side, K, tid, b, a);
    for (int q = 0; q < 4; q++) {
        ulong i = i0 + (ulong)q;
        if (i < n) master[i] = master[i] + a[q];
    }
}

/* One optimizer step on the ES gradient (kernels/common/esft_optim.h): the
 * gradient of es_update's sum, then the shared rule. state holds m [n] then
 * v [n]; it is read only by rules that keep state and base only with an
 * anchor (the host passes master in their place otherwise). */
__kernel void esft_es_optimize_k(__global float *master, __global float *state, __global const float *base,
                                 ulong n, uint tid, __global const ulong *side, int K, int rule, float lr,
                                 float beta1, float beta2, float eps, float bc1, float bc2, float l2, float decay,
                                 float anchor) {
    ulong b = get_global_id(0);
    ulong i0 = 4 * b;
    if (i0 >= n) return;
    float a[4];
    esft_member_sum(side, K, tid, b, a);
    for (int q = 0; q < 4; q++) {
        ulong i = i0 + (ulong)q;
        if (i >= n) break;
        float m = rule != ESFT_OPT_SGD ? state[i] : 0.0f;
        float v = rule == ESFT_OPT_ADAM ? state[n + i] : 0.0f;
        esft_opt_elem r = esft_opt_element(rule, master[i], a[q], m, v, anchor != 0.0f ? base[i] : 0.0f, lr, beta1,
                                           beta2, eps, bc1, bc2, l2, decay, anchor);
        master[i] = r.theta;
        if (rule != ESFT_OPT_SGD) state[i] = r.m;
        if (rule == ESFT_OPT_ADAM) state[n + i] = r.v;
    }
}

/* -------------------------------------------------------- elementwise */

__kernel void esft_scale_k(__global float *x, ulong n, float factor) {
    ulong i = get_global_id(0);
    if (i < n) x[i] = x[i] * factor;
}

__kernel void esft_add_k(__global float *y, __global const float *a, __global const float *b,
                         ulong n) {
    ulong i = get_global_id(0);
    if (i < n) y[i] = a[i] + b[i];
}

__kernel void esft_swiglu_k(__global float *y, __global const float *gate,
                            __global const float *up, ulong n) {
    ulong i = get_global_id(0);
    if (i >= n) return;
    float g = gate[i];
    y[i] = g / (1.0f + exp(-g)) * up[i];
}

/* tanh GELU of gate times up (Gemma's GeGLU) */
__kernel void esft_geglu_k(__global float *y, __global const float *gate,
                           __global const float *up, ulong n) {
    ulong i = get_global_id(0);
    if (i >= n) return;
    float g = gate[i];
    y[i] = 0.5f * g * (1.0f + tanh(0.7978845608028654f * (g + 0.044715f * g * g * g))) * up[i];
}

/* y[t, n] += bias[n] over T x N. */
__kernel void esft_add_bias_k(__global float *y, __global const float *bias, uint N, ulong total) {
    ulong i = get_global_id(0);
    if (i < total) y[i] = y[i] + bias[i % N];
}

/* y[t, :] = table[ids[t], :]; rows with an id outside [0, n_rows) are
 * left untouched (the host cannot see ids without a sync). */
__kernel void esft_get_rows_k(__global float *y, __global const float *table,
                              __global const int *ids, uint D, ulong n_rows, ulong total) {
    ulong i = get_global_id(0);
    if (i >= total) return;
    ulong t = i / D, d = i % D;
    int id = ids[t];
    if (id < 0 || (ulong)id >= n_rows) return;
    y[i] = table[(ulong)id * D + d];
}

/* ------------------------------------------------------------- rmsnorm */

/* One work-group per row t. y may be x. */
__kernel void esft_rmsnorm_k(__global float *y, __global const float *x,
                             __global const float *w, uint D, float eps, __local float *red) {
    ulong t = get_group_id(0);
    uint lid = get_local_id(0), ls = get_local_size(0);
    __global const float *xr = x + t * D;
    float s = 0.0f;
    for (uint i = lid; i < D; i += ls) s = fma(xr[i], xr[i], s);
    red[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = ls / 2; h > 0; h >>= 1) {
        if (lid < h) red[lid] += red[lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float scale = 1.0f / sqrt(red[0] / (float)D + eps);
    __global float *yr = y + t * D;
    for (uint i = lid; i < D; i += ls) yr[i] = xr[i] * scale * w[i];
}

/* ---------------------------------------------------------------- rope */

/* One work-item per (t, h, i), i < hd/2. theta = pos * base^(-2i/hd),
 * divided by ff[i] when use_ff. */
__kernel void esft_rope_k(__global float *x, __global const int *pos, uint H, uint hd,
                          float base, int neox, __global const float *ff, int use_ff, ulong total) {
    ulong g = get_global_id(0);
    if (g >= total) return;
    uint half_ = hd / 2;
    uint i = (uint)(g % half_);
    ulong th = g / half_; /* t * H + h */
    ulong t = th / H;
#ifdef ESFT_FP64
    double ang = (double)pos[t] * pow((double)base, -2.0 * (double)i / (double)hd);
    if (use_ff) ang /= (double)ff[i];
    float cs = (float)cos(ang), sn = (float)sin(ang);
#else
    float ang = (float)pos[t] * pow(base, -2.0f * (float)i / (float)hd);
    if (use_ff) ang /= ff[i];
    float cs = cos(ang), sn = sin(ang);
#endif
    __global float *v = x + th * hd;
    uint i0 = neox ? i : 2 * i;
    uint i1 = neox ? i + half_ : 2 * i + 1;
    float a = v[i0], b = v[i1];
    v[i0] = a * cs - b * sn;
    v[i1] = a * sn + b * cs;
}

/* ----------------------------------------------------------- attention */

/* Stores k/v rows of this call: cache[seq[t]][pos[t]][:] = k[t][:]. Tokens
 * with an out-of-range slot or position are skipped. */
__kernel void esft_kv_store_k(__global float *kc, __global float *vc, __global const float *k,
                              __global const float *v, __global const int *seq,
                              __global const int *pos, uint row, int max_ctx, ulong n_slots,
                              ulong total) {
    ulong i = get_global_id(0);
    if (i >= total) return;
    ulong t = i / row, d = i % row;
    int s = seq[t], p = pos[t];
    if (s < 0 || (ulong)s >= n_slots || p < 0 || p >= max_ctx) return;
    ulong dst = ((ulong)s * (ulong)max_ctx + (ulong)p) * row + d;
    kc[dst] = k[i];
    vc[dst] = v[i];
}

/* One work-group per (t, h): scores into scr[(t*H + h) * max_ctx ..],
 * max, exp and sum, then out = sum_j p_j v_j / sum, over positions 0 .. p
 * (window > 0: the last `window` of them). */
__kernel void esft_attention_k(__global float *out, __global const float *q,
                               __global const float *kc, __global const float *vc,
                               __global const int *seq, __global const int *pos,
                               __global float *scr, uint H, uint KVH, uint hd, int max_ctx,
                               ulong n_slots, float scale, int window, __local float *red) {
    ulong th = get_group_id(0);
    uint lid = get_local_id(0), ls = get_local_size(0);
    ulong t = th / H;
    uint h = (uint)(th % H);
    uint G = H / KVH;
    int s = seq[t], p = pos[t];
    __global float *o = out + th * hd;
    if (s < 0 || (ulong)s >= n_slots || p < 0 || p >= max_ctx) {
        for (uint d = lid; d < hd; d += ls) o[d] = NAN;
        return;
    }
    ulong row = (ulong)KVH * hd;
    ulong base = (ulong)s * (ulong)max_ctx * row + (ulong)(h / G) * hd;
    __global const float *qv = q + th * hd;
    __global float *sc = scr + th * (ulong)max_ctx;
    /* a sliding window masks the keys before lo (score -inf, weight 0)
     * rather than starting the loops there: with loops starting at lo,
     * PoCL's multi-threaded work-groups wrote outside the output */
    int np = p + 1, lo = window > 0 && p >= window ? p - window + 1 : 0;
    float mx = -INFINITY;
    for (int j = (int)lid; j < np; j += (int)ls) {
        __global const float *kv = kc + base + (ulong)j * row;
        float a = 0.0f;
        for (uint d = 0; d < hd; d++) a = fma(qv[d], kv[d], a);
        a = j < lo ? -INFINITY : a * scale;
        sc[j] = a;
        mx = fmax(mx, a);
    }
    red[lid] = mx;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint r = ls / 2; r > 0; r >>= 1) {
        if (lid < r) red[lid] = fmax(red[lid], red[lid + r]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    mx = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    float sum = 0.0f;
    for (int j = (int)lid; j < np; j += (int)ls) {
        float e = exp(sc[j] - mx);
        sc[j] = e;
        sum += e;
    }
    red[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
    for (uint r = ls / 2; r > 0; r >>= 1) {
        if (lid < r) red[lid] += red[lid + r];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float inv = 1.0f / red[0];
    for (uint d = lid; d < hd; d += ls) {
        float acc = 0.0f;
        __global const float *vv = vc + base + d;
        for (int j = 0; j < np; j++) acc = fma(sc[j], vv[(ulong)j * row], acc);
        o[d] = acc * inv;
    }
}

/* -------------------------------------------------------------- argmax */

/* (va, ia) beats (vb, ib): larger value; a number beats NaN; ties and
 * NaN against NaN go to the smaller index. */
static inline int esft_beats(float va, int ia, float vb, int ib) {
    if (isnan(va)) return isnan(vb) && ia < ib;
    if (isnan(vb)) return 1;
    return va > vb || (va == vb && ia < ib);
}

/* One work-group per row: ids[t] = the smallest index of the maximum. */
__kernel void esft_argmax_k(__global int *ids, __global const float *x, uint N,
                            __local float *rv, __local int *ri) {
    ulong t = get_group_id(0);
    uint lid = get_local_id(0), ls = get_local_size(0);
    __global const float *r = x + t * N;
    float bv = NAN;
    int bi = 0x7FFFFFFF;
    for (uint i = lid; i < N; i += ls)
        if (esft_beats(r[i], (int)i, bv, bi)) {
            bv = r[i];
            bi = (int)i;
        }
    rv[lid] = bv;
    ri[lid] = bi;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = ls / 2; h > 0; h >>= 1) {
        if (lid < h && esft_beats(rv[lid + h], ri[lid + h], rv[lid], ri[lid])) {
            rv[lid] = rv[lid + h];
            ri[lid] = ri[lid + h];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) ids[t] = ri[0] == 0x7FFFFFFF ? 0 : ri[0];
}

/* ------------------------------------------- low-rank members (EGGROLL) */

/* One work-group per token t of member k = member[t] (skipped outside
 * [0, P)): u[r] = scales[t] * x[t, :] . B_k[:, r] by a tree reduction per
 * r into u (local, R floats), then y[t, i] += A_k[i, :] . u. */
__kernel void esft_lowrank_matmul_k(__global float *y, __global const float *x, __global const float *A,
                                    __global const float *B, __global const int *member,
                                    __global const float *scales, uint N, uint K, uint R, int P,
                                    __local float *red, __local float *u) {
    ulong t = get_group_id(0);
    uint lid = get_local_id(0), ls = get_local_size(0);
    int k = member[t];
    if (k < 0 || k >= P) return;
    __global const float *xr = x + t * K, *Bk = B + (ulong)k * K * R, *Ak = A + (ulong)k * N * R;
    for (uint r = 0; r < R; r++) {
        float s = 0.0f;
        for (uint j = lid; j < K; j += ls) s = fma(xr[j], Bk[(ulong)j * R + r], s);
        red[lid] = s;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint h = ls / 2; h > 0; h >>= 1) {
            if (lid < h) red[lid] += red[lid + h];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        if (lid == 0) u[r] = red[0] * scales[t];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    __global float *yr = y + t * N;
    for (uint i = lid; i < N; i += ls) {
        float acc = 0.0f;
        for (uint r = 0; r < R; r++) acc = fma(Ak[(ulong)i * R + r], u[r], acc);
        yr[i] = yr[i] + acc;
    }
}

/* One work-item per (t, d): y[t, d] += scales[t] * A_k[ids[t], :] . B_k[d, :]. */
__kernel void esft_lowrank_rows_k(__global float *y, __global const float *A, __global const float *B,
                                  __global const int *ids, __global const int *member,
                                  __global const float *scales, uint D, uint V, uint R, int P, ulong total) {
    ulong g = get_global_id(0);
    if (g >= total) return;
    ulong t = g / D, d = g % D;
    int k = member[t], id = ids[t];
    if (k < 0 || k >= P || id < 0 || (uint)id >= V) return;
    __global const float *ar = A + ((ulong)k * V + (ulong)id) * R, *br = B + ((ulong)k * D + d) * R;
    float acc = 0.0f;
    for (uint r = 0; r < R; r++) acc = fma(ar[r], br[r], acc);
    y[g] = y[g] + scales[t] * acc;
}

/* One work-item per W[i, j]: += sum over members k (ascending) and r of
 * coeffs[k] * A_k[i, r] * B_k[j, r]. */
__kernel void esft_lowrank_update_k(__global float *W, __global const float *A, __global const float *B,
                                    __global const float *coeffs, uint N, uint K, uint R, int P, ulong total) {
    ulong g = get_global_id(0);
    if (g >= total) return;
    ulong i = g / K, j = g % K;
    float acc = 0.0f;
    for (int k = 0; k < P; k++) {
        __global const float *ar = A + ((ulong)k * N + i) * R, *br = B + ((ulong)k * K + j) * R;
        float s = 0.0f;
        for (uint r = 0; r < R; r++) s = fma(ar[r], br[r], s);
        acc = fma(coeffs[k], s, acc);
    }
    W[g] = W[g] + acc;
}
