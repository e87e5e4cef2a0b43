/* The GEMM kernel y = x W^T of cpu_gemm.c, written once and instantiated
 * there once per instruction set (scalar, AVX2/FMA, AVX-512). No include
 * guard: it is included once per instance (instruction set x W dtype).
 *
 * cpu_gemm_dtypes.h includes it once per W dtype, defining (and this file
 * undefines at its end):
 *   GK(name)      the instance's name for `name` (adds W dtype and ISA suffixes)
 *   GK_WT         W's element type (float, or uint16_t holding bf16 / f16)
 *   GK_LOADW(p)   GK_VW elements of W from p as a float vector (converted
 *                 on the fly for 16-bit W: half the bytes from memory)
 *   GK_LOADWN(p,n) optional: n < GK_VW elements of W, the rest zero; when
 *                 not defined, the tail goes through a zeroed copy
 * and cpu_gemm.c defines the instruction set's:
 *   GK_TARGET     function attributes of the instance (a target() or empty)
 *   GK_VEC        the vector type; GK_VW its width in floats
 *   GK_ZERO()     a zero vector
 *   GK_LOAD(p)    GK_VW floats from p (any alignment)
 *   GK_LOADN(p,n) n < GK_VW floats from p, the rest zero
 *   GK_LOAD_BF16(p), GK_LOAD_F16(p)  GK_VW bf16 / f16 values from p as floats
 *   GK_FMA(a,b,c) a * b + c
 *   GK_HSUM4(a,b,c,d,out)  out[0..3] = the lane sums of a, b, c, d
 *   GK_KEEP(v)    makes v a register value (stops the compiler from folding
 *                 its load into every FMA that uses it, which would double
 *                 the loads per FMA)
 *   GK_PF         1: prefetch the next GK_NR-row panel of W (the same
 *                 columns, GK_NR rows on) while this one is multiplied, in
 *                 the panel's first tile (argument pf)
 *   GK_MR, GK_NR  the register tile: rows of x times rows of W
 *   GK_TILES(C)   C(m, n) for every 1 <= m <= GK_MR, 1 <= n <= GK_NR
 *
 * Why this shape: W stays row-major as the model stores it (no packed copy);
 * each tile keeps GK_MR x GK_NR dot products in vector accumulators along K,
 * so a W vector loaded once feeds GK_MR rows of x and an x vector GK_NR rows
 * of W. Lanes are summed once per tile, at the end of its K block. */

#ifndef GK_LOADWN
/* n < GK_VW elements of W, the rest zero, through a zeroed copy: only the
 * last vector of a row's K block comes here. */
static inline __attribute__((always_inline)) GK_TARGET GK_VEC GK(load_w_tail)(const GK_WT *p,
                                                                              int n) {
    GK_WT part[GK_VW];
    memset(part, 0, sizeof part);
    memcpy(part, p, (size_t)n * sizeof *p);
    return GK_LOADW(part);
}
#define GK_LOADWN(p, n) GK(load_w_tail)((p), (n))
#endif

/* Y[m x n] (rows ldy apart) = X[m x kc] . W[n x kc]^T, or += with acc;
 * m and n are constants after inlining, so the accumulators live in
 * registers. */
static inline __attribute__((always_inline)) GK_TARGET void
GK(tile)(float *restrict Y, size_t ldy, const float *restrict X, size_t ldx,
         const GK_WT *restrict W, size_t ldw, int kc, bool acc, bool pf, const int m, const int n) {
    GK_VEC a[GK_MR][GK_NR];
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) a[i][j] = GK_ZERO();
    int k = 0;
    for (; k + GK_VW <= kc; k += GK_VW) {
        GK_VEC w[GK_NR];
        for (int j = 0; j < n; j++) {
            if (GK_PF && pf) /* an address, maybe past W's end: a hint never faults */
                __builtin_prefetch((const void *)((uintptr_t)(W + (size_t)j * ldw + k) +
                                                  (uintptr_t)GK_NR * ldw * sizeof(GK_WT)));
            w[j] = GK_LOADW(W + (size_t)j * ldw + k);
        }
        for (int i = 0; i < m; i++) {
            GK_VEC x = GK_LOAD(X + (size_t)i * ldx + k);
            GK_KEEP(x);
            for (int j = 0; j < n; j++) a[i][j] = GK_FMA(x, w[j], a[i][j]);
        }
    }
    if (k < kc) {
        const int rest = kc - k;
        GK_VEC w[GK_NR];
        for (int j = 0; j < n; j++) w[j] = GK_LOADWN(W + (size_t)j * ldw + k, rest);
        for (int i = 0; i < m; i++) {
            GK_VEC x = GK_LOADN(X + (size_t)i * ldx + k, rest);
            for (int j = 0; j < n; j++) a[i][j] = GK_FMA(x, w[j], a[i][j]);
        }
    }
    const GK_VEC z = GK_ZERO();
    for (int i = 0; i < m; i++) {
        float s[GK_NR + 3];
        for (int j = 0; j < n; j += 4)
            GK_HSUM4(a[i][j], j + 1 < n ? a[i][j + 1] : z, j + 2 < n ? a[i][j + 2] : z,
                     j + 3 < n ? a[i][j + 3] : z, s + j);
        float *y = Y + (size_t)i * ldy;
        for (int j = 0; j < n; j++) y[j] = acc ? y[j] + s[j] : s[j];
    }
}

/* One tile of any size up to GK_MR x GK_NR, each size its own unrolled copy. */
static GK_TARGET void GK(tile_any)(float *restrict Y, size_t ldy, const float *restrict X,
                                   size_t ldx, const GK_WT *restrict W, size_t ldw, int kc,
                                   bool acc, bool pf, int m, int n) {
    switch (m * 16 + n) {
#define GK_CASE(mm, nn)                                                                            \
    case (mm) * 16 + (nn):                                                                         \
        if (pf)                                                                                    \
            GK(tile)(Y, ldy, X, ldx, W, ldw, kc, acc, true, mm, nn);                               \
        else                                                                                       \
            GK(tile)(Y, ldy, X, ldx, W, ldw, kc, acc, false, mm, nn);                              \
        break;
        GK_TILES(GK_CASE)
#undef GK_CASE
    default: break;
    }
}

/* Y[T x N] (rows ldy apart) = X[T x K] . W[N x K]^T on one thread, in
 * blocks of x (see gemm_blocks) that stay in L2: inside a block each
 * GK_NR-row panel of W stays in L1 while every row of the block passes over
 * it, so W comes from memory or L3 once per block of x (once in all for
 * decode-sized T). */
static GK_TARGET void GK(gemm_nt)(float *restrict Y, size_t ldy, const float *restrict X,
                                  size_t ldx, const GK_WT *restrict W, size_t ldw, int T, int N,
                                  int K) {
    int kc, mc;
    gemm_blocks(K, GK_VW, GK_MR, &kc, &mc);
    for (int k0 = 0; k0 < K; k0 += kc) {
        const int kl = K - k0 < kc ? K - k0 : kc;
        for (int t0 = 0; t0 < T; t0 += mc) {
            const int t1 = T - t0 < mc ? T : t0 + mc;
            for (int n = 0; n < N; n += GK_NR) {
                const int nr = N - n < GK_NR ? N - n : GK_NR;
                for (int t = t0; t < t1; t += GK_MR) {
                    const int mr = t1 - t < GK_MR ? t1 - t : GK_MR;
                    GK(tile_any)(Y + (size_t)t * ldy + n, ldy, X + (size_t)t * ldx + k0, ldx,
                                 W + (size_t)n * ldw + k0, ldw, kl, k0 > 0, t == t0, mr, nr);
                }
            }
        }
    }
}

#undef GK
#undef GK_WT
#undef GK_LOADW
#undef GK_LOADWN
