/* cpu backend: lifetime, memory, device discovery and the op table. */
#include "cpu_internal.h"
#include "esft_fs.h"

#ifdef ESFT_HAVE_OPENBLAS
#include <cblas.h>
#endif
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__F16C__)
#include <immintrin.h>
#endif

/* ---------------------------------------------------------------- memory */

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

static esft_status cpu_buf_alloc(esft_backend *be, esft_buf *buf, esft_dtype dtype, size_t n) {
    size_t es = esft_dtype_size(dtype);
    if (es == 0) return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "cpu: bad dtype %d", (int)dtype);
    if (n > (SIZE_MAX - ESFT_CPU_ALIGN) / es)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "cpu: buffer of %zu elements overflows", n);
    size_t bytes = round_up(n ? n * es : 1, ESFT_CPU_ALIGN);
    void *p = aligned_alloc(ESFT_CPU_ALIGN, bytes);
    if (!p)
        return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "cpu: cannot allocate %zu bytes (%zu x %s)",
                         bytes, n, esft_dtype_name(dtype));
    buf->handle = p;
    return ESFT_OK;
}

static void cpu_buf_free(esft_backend *be, esft_buf *buf) {
    (void)be;
    free(buf->handle);
    buf->handle = NULL;
}

static esft_status cpu_upload(esft_backend *be, esft_buf *dst, size_t off, const void *src,
                              size_t n) {
    (void)be;
    size_t es = esft_dtype_size(dst->dtype);
    memcpy((char *)dst->handle + off * es, src, n * es);
    return ESFT_OK;
}

static esft_status cpu_download(esft_backend *be, const esft_buf *src, size_t off, void *dst,
                                size_t n) {
    (void)be;
    size_t es = esft_dtype_size(src->dtype);
    memcpy(dst, (const char *)src->handle + off * es, n * es);
    return ESFT_OK;
}

static esft_status cpu_copy(esft_backend *be, esft_buf *dst, size_t dst_off, const esft_buf *src,
                            size_t src_off, size_t n) {
    (void)be;
    size_t es = esft_dtype_size(dst->dtype);
    memmove((char *)dst->handle + dst_off * es, (const char *)src->handle + src_off * es, n * es);
    return ESFT_OK;
}

static esft_status cpu_synchronize(esft_backend *be) {
    (void)be;
    return ESFT_OK;
}

float *esft_cpu_scratch(esft_backend *be, size_t n) {
    cpu_ctx *c = cpu_ctx_of(be);
    if (c->scratch && c->scratch_n >= n) return c->scratch;
    size_t want = round_up(n > 1024 ? n : 1024, 16);
    if (want > SIZE_MAX / sizeof(float)) return NULL;
    float *p = aligned_alloc(ESFT_CPU_ALIGN, want * sizeof(float));
    if (!p) return NULL;
    free(c->scratch);
    c->scratch = p;
    c->scratch_n = want;
    return p;
}

void esft_cpu_parallel(esft_backend *be, size_t n, size_t per_thread, size_t multiple, int par,
                       esft_cpu_pool_fn *fn, void *arg) {
    esft_cpu_pool *pool = cpu_ctx_of(be)->pool;
    esft_cpu_pool_run(pool, n, esft_cpu_pool_grain(pool, n, per_thread, multiple, multiple), par,
                      fn, arg);
}

void esft_cpu_row_to_f32(float *dst, const void *src, esft_dtype dtype, size_t n) {
    if (dtype == ESFT_F32) {
        memcpy(dst, src, n * sizeof(float));
    } else if (dtype == ESFT_BF16) {
        const uint16_t *s = src;
        for (size_t i = 0; i < n; i++) dst[i] = esft_bf16_to_f32(s[i]);
    } else {
        const uint16_t *s = src;
        size_t i = 0;
#if defined(__F16C__)
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
#endif
        for (; i < n; i++) dst[i] = esft_f16_to_f32(s[i]);
    }
}

void esft_cpu_row_from_f32(uint16_t *restrict dst, const float *restrict src, esft_dtype dtype,
                           size_t n) {
    /* plain loops of the scalar conversions: bf16's rounding is integer
     * arithmetic that compilers vectorize (there is no f32 arithmetic to
     * contract, so every build rounds alike) */
    if (dtype == ESFT_BF16)
        for (size_t i = 0; i < n; i++) dst[i] = esft_f32_to_bf16(src[i]);
    else
        for (size_t i = 0; i < n; i++) dst[i] = esft_f32_to_f16(src[i]);
}

/* --------------------------------------------------------------- support */

static bool cpu_supports(esft_backend *be, esft_op op, esft_dtype dtype) {
    (void)be;
    if (op < 0 || op >= ESFT_OP_COUNT) return false;
    if (dtype == ESFT_F32) return true;
    switch (op) {
    case ESFT_OP_PERTURB:
    case ESFT_OP_MATMUL:
    case ESFT_OP_GET_ROWS: return dtype == ESFT_F16 || dtype == ESFT_BF16;
    case ESFT_OP_PHILOX:
    case ESFT_OP_ARGMAX: return dtype == ESFT_I32;
    default: return false;
    }
}

/* -------------------------------------------------------------- lifetime */

static void cpu_destroy(esft_backend *be) {
    if (!be) return;
    cpu_ctx *c = cpu_ctx_of(be);
    if (c) {
        esft_cpu_pool_destroy(c->pool);
        free(c->scratch);
    }
    free(c);
    free(be);
}

static const esft_backend_ops cpu_ops = {
    .destroy = cpu_destroy,
    .buf_alloc = cpu_buf_alloc,
    .buf_free = cpu_buf_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .copy = cpu_copy,
    .synchronize = cpu_synchronize,
    .supports = cpu_supports,
    .perturb = esft_cpu_perturb,
    .es_update = esft_cpu_es_update,
    .es_optimize = esft_cpu_es_optimize,
    .matmul = esft_cpu_matmul,
    .rmsnorm = esft_cpu_rmsnorm,
    .rope = esft_cpu_rope,
    .swiglu = esft_cpu_swiglu,
    .geglu = esft_cpu_geglu,
    .add = esft_cpu_add,
    .get_rows = esft_cpu_get_rows,
    .attention = esft_cpu_attention,
    .argmax = esft_cpu_argmax,
    .scale = esft_cpu_scale,
    .lowrank_matmul = esft_cpu_lowrank_matmul,
    .lowrank_rows = esft_cpu_lowrank_rows,
    .lowrank_update = esft_cpu_lowrank_update,
    .lowrank_optimize = esft_cpu_lowrank_optimize,
    .test = {.noise = esft_cpu_noise, .philox = esft_cpu_philox},
};

/* "model name" from /proc/cpuinfo, or a generic name. */
static void cpu_model_name(char *out, size_t cap) {
    if (!esft_cpuinfo_field("model name", out, cap) || !out[0]) snprintf(out, cap, "CPU");
}

/* The highest clock in MHz: cpufreq's maximum where the kernel has it
 * (virtual machines often do not), else the clock /proc/cpuinfo reports. */
static int cpu_max_mhz(void) {
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "r");
    long khz = 0;
    if (f) {
        if (fscanf(f, "%ld", &khz) != 1) khz = 0;
        fclose(f);
        if (khz > 0) return (int)(khz / 1000);
    }
    char mhz[64];
    return esft_cpuinfo_field("cpu MHz", mhz, sizeof mhz) ? (int)(atof(mhz) + 0.5) : 0;
}

esft_status esft_cpu_backend_create(const esft_backend_options *opts, esft_backend **out,
                                    esft_err *err) {
    *out = NULL;
    esft_backend_options o = opts ? *opts : (esft_backend_options){0};
    if (o.device_index != 0)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "cpu: device %d out of range (only device 0)",
                         o.device_index);
    if (o.n_threads < 0)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "cpu: n_threads %d is negative", o.n_threads);
    esft_dtype wd = ESFT_F32;
    if (o.work_dtype_set) {
        wd = o.work_dtype;
        if (wd != ESFT_F32 && wd != ESFT_F16 && wd != ESFT_BF16)
            return esft_errf(err, ESFT_ERR_UNSUPPORTED, "cpu: work dtype %s unsupported",
                             esft_dtype_name(wd));
    }
    esft_cpu_gemm_path gemm = ESFT_CPU_GEMM_AUTO;
    const char *gemm_env = getenv("ESFT_CPU_GEMM");
    if (gemm_env && *gemm_env && !esft_cpu_gemm_path_parse(gemm_env, &gemm))
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "cpu: ESFT_CPU_GEMM=%s is not auto, scalar, avx2, avx512 or blas", gemm_env);
    if (!esft_cpu_gemm_path_available(gemm))
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "cpu: ESFT_CPU_GEMM=%s: this CPU lacks it",
                         gemm_env);
    esft_backend *be = calloc(1, sizeof *be);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "cpu: out of memory creating backend");
    }
    /* default: OMP_NUM_THREADS when set, else every core */
    c->n_threads = o.n_threads > 0 ? o.n_threads : omp_get_max_threads();
    if (c->n_threads < 1) c->n_threads = 1;
    c->gemm_path = gemm;
    esft_status st = esft_cpu_pool_create(c->n_threads, &c->pool, err);
    if (st) {
        free(be);
        free(c);
        return st;
    }
    be->ops = &cpu_ops;
    be->ctx = c;
    be->kind = "cpu";
    char model[96];
    cpu_model_name(model, sizeof model);
    snprintf(be->device_name, sizeof be->device_name, "%s (%d threads)", model, c->n_threads);
    be->work_dtype = wd;
    be->n_threads = c->n_threads;
#ifdef ESFT_HAVE_OPENBLAS
    /* BLAS runs single-threaded inside the pool's threads (cpu_matmul.c) */
    openblas_set_num_threads(1);
#endif
    *out = be;
    return ESFT_OK;
}

esft_status esft_cpu_set_gemm_path(esft_backend *be, esft_cpu_gemm_path path) {
    if (!esft_cpu_gemm_path_available(path))
        return esft_errf(&be->err, ESFT_ERR_UNSUPPORTED, "cpu: gemm path %s unavailable here",
                         esft_cpu_gemm_path_name(path));
    cpu_ctx_of(be)->gemm_path = path;
    return ESFT_OK;
}

int esft_cpu_enumerate(esft_device_info *out, int max, esft_err *err) {
    (void)err;
    if (max < 1) return 0;
    esft_device_info *d = &out[0];
    memset(d, 0, sizeof *d);
    d->backend = "cpu";
    d->index = 0;
    cpu_model_name(d->name, sizeof d->name);
    d->is_gpu = false;
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    d->memory_bytes = (pages > 0 && psize > 0) ? (uint64_t)pages * (uint64_t)psize : 0;
    d->pci_id[0] = '\0';
    d->rank = 1000; /* CPUs rank after every accelerator */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    d->compute_units = cores > 0 ? (int)cores : 0;
    d->clock_mhz = cpu_max_mhz();
#ifdef ESFT_HAVE_OPENBLAS
    snprintf(d->driver, sizeof d->driver, "%.180s", openblas_get_config());
#else
    snprintf(d->driver, sizeof d->driver, "esft's own kernels (no OpenBLAS)");
#endif
    return 1;
}
