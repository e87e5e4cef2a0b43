/* The cpu GEMM's instances and their dispatch: cpu_gemm_kernel.h compiled
 * for plain C, AVX2/FMA and AVX-512 (x86 with GCC or clang: per-function
 * target attributes, so a -DESFT_NATIVE=OFF build still has them), each for
 * f32, bf16 and f16 W (cpu_gemm_dtypes.h), chosen by what the running CPU
 * supports. */
#include "cpu_gemm.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "esft_half.h"

#ifdef ESFT_HAVE_OPENBLAS
#include <cblas.h>
#endif

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define GEMM_X86 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define GEMM_X86 0
#endif

/* The block of x one pass over W multiplies: kc columns (K cut into equal
 * parts of at most 1024 floats, a multiple of the vector width vw, so a
 * 4-row panel of W fills at most half of L1) by mc rows (a multiple of the
 * tile height mr) that fit a 256 KB share of L2. Long K blocks keep the lane
 * sums at each block's end rare. */
static void gemm_blocks(int K, int vw, int mr, int *kc, int *mc) {
    enum { KC_MAX = 1024, L2_FLOATS = 256 * 1024 / 4 };
    int parts = (K + KC_MAX - 1) / KC_MAX;
    int k = (K + parts - 1) / parts;
    k = (k + vw - 1) / vw * vw;
    *kc = k < K ? k : K;
    int m = L2_FLOATS / (*kc > 0 ? *kc : 1);
    m -= m % mr;
    *mc = m > mr ? m : mr;
}

/* The first tile over each panel of W prefetches the same columns of the
 * next panel: the hardware prefetcher alone, following GK_NR short row
 * streams at once, left decode (T of 1..8, W streamed from memory) well
 * short of the read bandwidth (measured on the vocab matmul, 49152 x 576).
 * Only the first: the other tiles of the panel (T = 64: 10 more) would ask
 * for the same lines again, a load slot per W vector each time. */
#ifndef GEMM_PREFETCH
#define GEMM_PREFETCH 1
#endif

/* Tiles up to 4 x 3 (AVX2's 16 registers: 12 accumulators, 3 W vectors,
 * one x vector) and up to 6 x 4 (AVX-512's 32). */
#define GEMM_ROW3(C, m) C(m, 1) C(m, 2) C(m, 3)
#define GEMM_ROW4(C, m) GEMM_ROW3(C, m) C(m, 4)
#define GEMM_TILES_4x3(C) GEMM_ROW3(C, 1) GEMM_ROW3(C, 2) GEMM_ROW3(C, 3) GEMM_ROW3(C, 4)
#define GEMM_TILES_6x4(C)                                                                          \
    GEMM_ROW4(C, 1) GEMM_ROW4(C, 2) GEMM_ROW4(C, 3) GEMM_ROW4(C, 4) GEMM_ROW4(C, 5) GEMM_ROW4(C, 6)

/* ------------------------------------------------------------ plain C */
#define GK_ISA(name) name##_scalar
#define GK_TARGET
#define GK_VEC float
#define GK_VW 1
#define GK_ZERO() 0.0f
#define GK_LOAD(p) (*(p))
#define GK_LOADN(p, n) ((void)(n), *(p)) /* never reached: width 1 has no tail */
#define GK_LOAD_BF16(p) esft_bf16_to_f32(*(p))
#define GK_LOAD_F16(p) esft_f16_to_f32(*(p))
#define GK_FMA(a, b, c) ((a) * (b) + (c))
#define GK_HSUM4(a, b, c, d, out) ((out)[0] = (a), (out)[1] = (b), (out)[2] = (c), (out)[3] = (d))
#define GK_KEEP(v) ((void)0)
#define GK_PF 0
#define GK_MR 4
#define GK_NR 3
#define GK_TILES GEMM_TILES_4x3
#include "cpu_gemm_dtypes.h"

#if GEMM_X86
/* ------------------------------------------------------------ AVX2 + FMA + F16C */
#define GK_ISA(name) name##_avx2
#define GK_TARGET __attribute__((target("avx2,fma,f16c")))
#define GK_VEC __m256
#define GK_VW 8
#define GK_ZERO() _mm256_setzero_ps()
#define GK_LOAD(p) _mm256_loadu_ps(p)
#define GK_LOADN(p, n)                                                                             \
    _mm256_maskload_ps((p), _mm256_cmpgt_epi32(_mm256_set1_epi32(n),                               \
                                               _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)))
#define GK_LOAD_BF16(p)                                                                            \
    _mm256_castsi256_ps(                                                                           \
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))
#define GK_LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define GK_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define GK_HSUM4(a, b, c, d, out) _mm_storeu_ps((out), hsum4_avx2((a), (b), (c), (d)))
#define GK_KEEP(v) __asm__("" : "+x"(v))
#define GK_PF GEMM_PREFETCH
#define GK_MR 4
#define GK_NR 3
#define GK_TILES GEMM_TILES_4x3
/* The lane sums of a, b, c, d as one 4-float vector: pairwise adds that
 * transpose as they go, 4 sums for the price of about 1.5. */
static inline __attribute__((always_inline)) GK_TARGET __m128 hsum4_avx2(__m256 a, __m256 b,
                                                                          __m256 c, __m256 d) {
    __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
    __m256 abcd = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}
#include "cpu_gemm_dtypes.h"

/* ------------------------------------------------------------ AVX-512F */
#define GK_ISA(name) name##_avx512
#define GK_TARGET __attribute__((target("avx512f,avx2,fma,f16c")))
#define GK_VEC __m512
#define GK_VW 16
#define GK_ZERO() _mm512_setzero_ps()
#define GK_LOAD(p) _mm512_loadu_ps(p)
#define GK_LOADN(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1u), (p))
#define GK_LOAD_BF16(p)                                                                            \
    _mm512_castsi512_ps(                                                                           \
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))
#define GK_LOAD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define GK_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define GK_HSUM4(a, b, c, d, out)                                                                  \
    _mm_storeu_ps((out), hsum4_avx2(fold512(a), fold512(b), fold512(c), fold512(d)))
#define GK_KEEP(v) __asm__("" : "+v"(v))
#define GK_PF GEMM_PREFETCH
/* v's two 256-bit halves added: the same lane sums in half the width. */
static inline __attribute__((always_inline)) GK_TARGET __m256 fold512(__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v),
                         _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}
#define GK_MR 6
#define GK_NR 4
#define GK_TILES GEMM_TILES_6x4
#include "cpu_gemm_dtypes.h"
#endif /* GEMM_X86 */

/* ------------------------------------------------------------ dispatch */

static const char *const path_names[ESFT_CPU_GEMM_PATH_COUNT] = {"auto", "scalar", "avx2", "avx512",
                                                                 "blas"};

const char *esft_cpu_gemm_path_name(esft_cpu_gemm_path path) {
    return (unsigned)path < ESFT_CPU_GEMM_PATH_COUNT ? path_names[path] : "?";
}

bool esft_cpu_gemm_path_parse(const char *name, esft_cpu_gemm_path *out) {
    for (int p = 0; p < ESFT_CPU_GEMM_PATH_COUNT; p++)
        if (strcmp(name, path_names[p]) == 0) {
            *out = (esft_cpu_gemm_path)p;
            return true;
        }
    return false;
}

#if GEMM_X86
/* F16C (the f16 loads of the AVX2 kernel) from CPUID leaf 1: clang's
 * __builtin_cpu_supports does not know the name. */
static bool cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

/* What this CPU runs, probed once: bit p set when path p is available.
 * Every matmul chunk asks (resolve), and CPUID is slow in a virtual machine
 * (an exit to the hypervisor each time: 7-12% of batch-1 decode's samples
 * when it was asked per chunk). Racing first callers compute the same bits. */
static unsigned probe_paths(void) {
    unsigned bits = 1u << ESFT_CPU_GEMM_AUTO | 1u << ESFT_CPU_GEMM_SCALAR | 1u << ESFT_CPU_GEMM_BLAS;
#if GEMM_X86
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c())
        bits |= 1u << ESFT_CPU_GEMM_AVX2;
    if (__builtin_cpu_supports("avx512f")) bits |= 1u << ESFT_CPU_GEMM_AVX512;
#endif
    return bits;
}

bool esft_cpu_gemm_path_available(esft_cpu_gemm_path path) {
    static _Atomic unsigned probed; /* 0: not yet; else the bits, with bit 31 set */
    unsigned bits = atomic_load_explicit(&probed, memory_order_relaxed);
    if (!bits) {
        bits = probe_paths() | 1u << 31;
        atomic_store_explicit(&probed, bits, memory_order_relaxed);
    }
    return (unsigned)path < ESFT_CPU_GEMM_PATH_COUNT && (bits >> path & 1u);
}

/* The fastest kernel this CPU runs. */
static esft_cpu_gemm_path best_kernel(void) {
    if (esft_cpu_gemm_path_available(ESFT_CPU_GEMM_AVX512)) return ESFT_CPU_GEMM_AVX512;
    if (esft_cpu_gemm_path_available(ESFT_CPU_GEMM_AVX2)) return ESFT_CPU_GEMM_AVX2;
    return ESFT_CPU_GEMM_SCALAR;
}

#ifdef ESFT_HAVE_OPENBLAS
/* Whether OpenBLAS's sgemm is worth handing prefill-sized T. Not when the
 * kernel here is AVX-512 and the core OpenBLAS picked for this CPU is not
 * (a DYNAMIC_ARCH OpenBLAS older than the CPU runs its Haswell kernels:
 * OpenBLAS 0.3.21 on a Zen 5 reached 200-205 GFLOP/s at T 256-1024 where
 * the AVX-512 kernel here reached 232-287, esft bench matmul). Decided by
 * names, not by timing, so every process on a machine takes the same path
 * (and the same sums). */
static bool blas_wins_prefill(void) {
    static _Atomic int known; /* 0: not yet, 1: no, 2: yes */
    int k = atomic_load_explicit(&known, memory_order_relaxed);
    if (!k) {
        bool wide = false;
        const char *core = openblas_get_corename();
        static const char *const avx512_cores[] = {"skylakex", "cooperlake", "sapphirerapids"};
        for (size_t i = 0; core && i < sizeof avx512_cores / sizeof *avx512_cores; i++)
            wide |= strcasecmp(core, avx512_cores[i]) == 0;
        k = best_kernel() == ESFT_CPU_GEMM_AVX512 && !wide ? 1 : 2;
        atomic_store_explicit(&known, k, memory_order_relaxed);
    }
    return k == 2;
}
#endif

esft_cpu_gemm_path esft_cpu_gemm_resolve(esft_cpu_gemm_path path, int T) {
#ifdef ESFT_HAVE_OPENBLAS
    if (path == ESFT_CPU_GEMM_AUTO && T >= ESFT_CPU_GEMM_BLAS_MIN_T && blas_wins_prefill())
        return ESFT_CPU_GEMM_BLAS;
#else
    if (path == ESFT_CPU_GEMM_BLAS) return best_kernel();
#endif
    (void)T;
    if (path == ESFT_CPU_GEMM_AUTO || !esft_cpu_gemm_path_available(path)) return best_kernel();
    return path;
}

/* The kernel instance of one path for one dtype of W (f32, bf16, f16). */
#define GEMM_PICK(isa, wd)                                                                         \
    ((wd) == ESFT_BF16 ? gemm_nt_bf16_##isa : (wd) == ESFT_F16 ? gemm_nt_f16_##isa : NULL)

void esft_cpu_gemm_nt_w(esft_cpu_gemm_path path, esft_dtype wd, float *Y, size_t ldy,
                        const float *X, size_t ldx, const void *W, size_t ldw, int T, int N,
                        int K) {
    if (T <= 0 || N <= 0) return;
    if (K <= 0) { /* empty sums */
        for (int t = 0; t < T; t++) memset(Y + (size_t)t * ldy, 0, (size_t)N * sizeof *Y);
        return;
    }
    path = esft_cpu_gemm_resolve(path, T);
    if (wd == ESFT_F32) {
        switch (path) {
#ifdef ESFT_HAVE_OPENBLAS
        case ESFT_CPU_GEMM_BLAS:
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, N, K, 1.0f, X, (int)ldx, W,
                        (int)ldw, 0.0f, Y, (int)ldy);
            return;
#endif
#if GEMM_X86
        case ESFT_CPU_GEMM_AVX512: gemm_nt_f32_avx512(Y, ldy, X, ldx, W, ldw, T, N, K); return;
        case ESFT_CPU_GEMM_AVX2: gemm_nt_f32_avx2(Y, ldy, X, ldx, W, ldw, T, N, K); return;
#endif
        default: gemm_nt_f32_scalar(Y, ldy, X, ldx, W, ldw, T, N, K); return;
        }
    }
    /* 16-bit W: sgemm takes only f32, so BLAS means the best kernel here */
    if (path == ESFT_CPU_GEMM_BLAS) path = best_kernel();
    void (*kernel)(float *, size_t, const float *, size_t, const uint16_t *, size_t, int, int,
                   int) = GEMM_PICK(scalar, wd);
#if GEMM_X86
    if (path == ESFT_CPU_GEMM_AVX512) kernel = GEMM_PICK(avx512, wd);
    if (path == ESFT_CPU_GEMM_AVX2) kernel = GEMM_PICK(avx2, wd);
#endif
    if (kernel) kernel(Y, ldy, X, ldx, W, ldw, T, N, K);
}

void esft_cpu_gemm_nt(esft_cpu_gemm_path path, float *Y, size_t ldy, const float *X, size_t ldx,
                      const float *W, size_t ldw, int T, int N, int K) {
    esft_cpu_gemm_nt_w(path, ESFT_F32, Y, ldy, X, ldx, W, ldw, T, N, K);
}
