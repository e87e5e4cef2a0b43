/* cuda backend: device discovery, lifetime, memory and the op table. */
#include "cuda_backend.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

#define MAX_CUDA_DEVICES 64

esft_status esft_cuda_fail(esft_backend *be, const char *what, cudaError_t e) {
    return esft_errf(&be->err,
                     e == cudaErrorMemoryAllocation ? ESFT_ERR_OUT_OF_MEMORY : ESFT_ERR_DEVICE,
                     "cuda: %s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

/* The number of CUDA devices, or -1 with the reason there are none usable:
 * no driver library, a driver older than the runtime, no device. The
 * driver is probed first so that the common case reads plainly. */
static int count_devices(esft_err *err) {
    void *drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!drv) {
        esft_errf(err, ESFT_ERR_DEVICE, "no NVIDIA driver on this machine (libcuda.so.1 not found)");
        return -1;
    }
    dlclose(drv);
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0)) {
        esft_errf(err, ESFT_ERR_DEVICE, "the NVIDIA driver reports no CUDA device");
        return -1;
    }
    if (e != cudaSuccess) {
        int drv_ver = 0, rt_ver = 0;
        cudaDriverGetVersion(&drv_ver);
        cudaRuntimeGetVersion(&rt_ver);
        esft_errf(err, ESFT_ERR_DEVICE, "%s (driver supports CUDA %d.%d, esft was built with %d.%d)",
                  cudaGetErrorString(e), drv_ver / 1000, drv_ver % 1000 / 10, rt_ver / 1000,
                  rt_ver % 1000 / 10);
        return -1;
    }
    return n < MAX_CUDA_DEVICES ? n : MAX_CUDA_DEVICES;
}

int esft_cuda_enumerate(esft_device_info *out, int max, esft_err *err) {
    int n = count_devices(err);
    if (n < 0) return -1;
    int k = 0;
    for (int i = 0; i < n && k < max; i++) {
        struct cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
        esft_device_info *d = &out[k++];
        memset(d, 0, sizeof *d);
        d->backend = "cuda";
        d->index = i;
        snprintf(d->name, sizeof d->name, "%.100s (sm_%d%d)", p.name, p.major, p.minor);
        d->is_gpu = true;
        d->memory_bytes = p.totalGlobalMem;
        snprintf(d->pci_id, sizeof d->pci_id, "%04x:%02x:%02x.0", (unsigned)p.pciDomainID & 0xFFFFu,
                 (unsigned)p.pciBusID & 0xFFu, (unsigned)p.pciDeviceID & 0x1Fu);
        d->rank = 10 + i; /* before every other backend's GPUs: cuBLAS and bf16 */
        int khz = 0, drv = 0, rt = 0;
        cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, i);
        cudaDriverGetVersion(&drv);
        cudaRuntimeGetVersion(&rt);
        d->pci_vendor = 0x10de;
        d->compute_units = p.multiProcessorCount;
        d->clock_mhz = khz / 1000;
        snprintf(d->driver, sizeof d->driver, "CUDA driver %d.%d, runtime %d.%d, sm_%d%d", drv / 1000,
                 drv % 1000 / 10, rt / 1000, rt % 1000 / 10, p.major, p.minor);
    }
    return k;
}

/* ---------------------------------------------------------------- memory */

esft_status esft_cuda_ensure(esft_backend *be, void **p, size_t *have, size_t bytes,
                             const char *what) {
    if (*p && *have >= bytes) return ESFT_OK;
    if (*p) cudaFree(*p); /* waits for the kernels still reading it */
    *p = NULL;
    *have = 0;
    size_t want = bytes < 4096 ? 4096 : bytes;
    cudaError_t e = cudaMalloc(p, want);
    if (e != cudaSuccess) {
        *p = NULL;
        return esft_cuda_fail(be, what, e);
    }
    *have = want;
    return ESFT_OK;
}

esft_status esft_cuda_put(esft_backend *be, void *dst, const void *src, size_t bytes,
                          const char *what) {
    cuda_ctx *c = cuda_ctx_of(be);
    cudaError_t e;
    if (bytes == 0) return ESFT_OK;
    if (bytes > CUDA_STAGING_BYTES) {
        /* large (weights at load time): wait, so the caller may free src */
        e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream);
        if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
        return e == cudaSuccess ? ESFT_OK : esft_cuda_fail(be, what, e);
    }
    int slot = c->next_slot;
    c->next_slot = (slot + 1) % CUDA_STAGING_SLOTS;
    unsigned char *stage = c->staging + (size_t)slot * CUDA_STAGING_BYTES;
    if ((e = cudaEventSynchronize(c->staged[slot])) != cudaSuccess) return esft_cuda_fail(be, what, e);
    memcpy(stage, src, bytes);
    e = cudaMemcpyAsync(dst, stage, bytes, cudaMemcpyHostToDevice, c->stream);
    if (e == cudaSuccess) e = cudaEventRecord(c->staged[slot], c->stream);
    return e == cudaSuccess ? ESFT_OK : esft_cuda_fail(be, what, e);
}

static esft_status cu_buf_alloc(esft_backend *be, esft_buf *buf, esft_dtype dtype, size_t n) {
    size_t es = esft_dtype_size(dtype);
    if (es == 0) return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "cuda: bad dtype %d", (int)dtype);
    if (n > (SIZE_MAX - 256) / es)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "cuda: buffer of %zu elements overflows", n);
    /* whole 16-byte vectors, so kernels may load the last one entirely */
    size_t bytes = (n * es + 15) / 16 * 16;
    if (bytes == 0) bytes = 16;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* clear it, or the next launch check would report it */
        return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY,
                         "cuda: cannot allocate %zu bytes (%zu x %s) on %s: %s", bytes, n,
                         esft_dtype_name(dtype), be->device_name, cudaGetErrorString(e));
    }
    /* zeroed: a buffer never holds another run's data */
    e = cudaMemsetAsync(p, 0, bytes, cuda_ctx_of(be)->stream);
    if (e != cudaSuccess) {
        cudaFree(p);
        return esft_cuda_fail(be, "buffer clear", e);
    }
    buf->handle = p;
    return ESFT_OK;
}

static void cu_buf_free(esft_backend *be, esft_buf *buf) {
    (void)be;
    if (buf->handle) cudaFree(buf->handle);
    buf->handle = NULL;
}

static esft_status cu_upload(esft_backend *be, esft_buf *dst, size_t off, const void *src,
                             size_t n) {
    size_t es = esft_dtype_size(dst->dtype);
    return esft_cuda_put(be, (char *)dst->handle + off * es, src, n * es, "upload");
}

static esft_status cu_download(esft_backend *be, const esft_buf *src, size_t off, void *dst,
                               size_t n) {
    cuda_ctx *c = cuda_ctx_of(be);
    size_t es = esft_dtype_size(src->dtype);
    if (n == 0) return ESFT_OK;
    cudaError_t e = cudaMemcpyAsync(dst, (const char *)src->handle + off * es, n * es,
                                    cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(c->stream);
    return e == cudaSuccess ? ESFT_OK : esft_cuda_fail(be, "download", e);
}

static esft_status cu_copy(esft_backend *be, esft_buf *dst, size_t dst_off, const esft_buf *src,
                           size_t src_off, size_t n) {
    cuda_ctx *c = cuda_ctx_of(be);
    size_t es = esft_dtype_size(dst->dtype), bytes = n * es;
    size_t d0 = dst_off * es, s0 = src_off * es;
    char *dp = (char *)dst->handle + d0;
    const char *sp = (const char *)src->handle + s0;
    if (bytes == 0 || dp == sp) return ESFT_OK;
    cudaError_t e;
    if (dst->handle == src->handle && d0 < s0 + bytes && s0 < d0 + bytes) {
        /* overlapping ranges of one buffer (memmove): through the scratch */
        esft_status st = esft_cuda_ensure(be, &c->scratch, &c->scratch_bytes, bytes, "copy");
        if (st != ESFT_OK) return st;
        e = cudaMemcpyAsync(c->scratch, sp, bytes, cudaMemcpyDeviceToDevice, c->stream);
        if (e == cudaSuccess)
            e = cudaMemcpyAsync(dp, c->scratch, bytes, cudaMemcpyDeviceToDevice, c->stream);
    } else {
        e = cudaMemcpyAsync(dp, sp, bytes, cudaMemcpyDeviceToDevice, c->stream);
    }
    return e == cudaSuccess ? ESFT_OK : esft_cuda_fail(be, "copy", e);
}

static esft_status cu_synchronize(esft_backend *be) {
    cudaError_t e = cudaStreamSynchronize(cuda_ctx_of(be)->stream);
    return e == cudaSuccess ? ESFT_OK : esft_cuda_fail(be, "synchronize", e);
}

/* --------------------------------------------------------------- support */

static bool cu_supports(esft_backend *be, esft_op op, esft_dtype dtype) {
    (void)be;
    if (op < 0 || op >= ESFT_OP_COUNT) return false;
    switch (dtype) {
    case ESFT_F32: return true;
    case ESFT_F16:
    case ESFT_BF16: return op == ESFT_OP_MATMUL || op == ESFT_OP_GET_ROWS || op == ESFT_OP_PERTURB;
    case ESFT_I32: return op == ESFT_OP_PHILOX || op == ESFT_OP_ARGMAX;
    default: return false;
    }
}

/* -------------------------------------------------------------- lifetime */

static void ctx_release(cuda_ctx *c) {
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    esft_cublas_close(&c->blas);
    for (int i = 0; i < CUDA_STAGING_SLOTS; i++)
        if (c->staged[i]) cudaEventDestroy(c->staged[i]);
    if (c->staging) cudaFreeHost(c->staging);
    if (c->scratch) cudaFree(c->scratch);
    if (c->side) cudaFree(c->side);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c);
}

static void cu_destroy(esft_backend *be) {
    if (!be) return;
    ctx_release(cuda_ctx_of(be));
    free(be);
}

static const esft_backend_ops cu_ops = {
    .destroy = cu_destroy,
    .buf_alloc = cu_buf_alloc,
    .buf_free = cu_buf_free,
    .upload = cu_upload,
    .download = cu_download,
    .copy = cu_copy,
    .synchronize = cu_synchronize,
    .supports = cu_supports,
    .perturb = esft_cu_perturb,
    .es_update = esft_cu_es_update,
    .es_optimize = esft_cu_es_optimize,
    .scale = esft_cu_scale,
    .matmul = esft_cu_matmul,
    .rmsnorm = esft_cu_rmsnorm,
    .rope = esft_cu_rope,
    .swiglu = esft_cu_swiglu,
    .geglu = esft_cu_geglu,
    .add = esft_cu_add,
    .get_rows = esft_cu_get_rows,
    .attention = esft_cu_attention,
    .argmax = esft_cu_argmax,
    .lowrank_matmul = esft_cu_lowrank_matmul,
    .lowrank_rows = esft_cu_lowrank_rows,
    .lowrank_update = esft_cu_lowrank_update,
    .test = {.noise = esft_cu_noise, .philox = esft_cu_philox},
};

esft_status esft_cuda_create(const esft_backend_options *opts, esft_backend **out,
                             esft_err *err) {
    *out = NULL;
    esft_backend_options o = opts ? *opts : (esft_backend_options){0};
    esft_dtype wd = ESFT_BF16;
    if (o.work_dtype_set) {
        wd = o.work_dtype;
    } else if (getenv("ESFT_CUDA_WORK_DTYPE") && getenv("ESFT_CUDA_WORK_DTYPE")[0]) {
        /* for comparisons against the f32 backends, and f16 where it pays */
        const char *v = getenv("ESFT_CUDA_WORK_DTYPE");
        if (strcmp(v, "f32") == 0) wd = ESFT_F32;
        else if (strcmp(v, "f16") == 0) wd = ESFT_F16;
        else if (strcmp(v, "bf16") == 0) wd = ESFT_BF16;
        else
            return esft_errf(err, ESFT_ERR_INVALID_ARG,
                             "cuda: ESFT_CUDA_WORK_DTYPE=%.32s: expected f32, f16 or bf16", v);
    }
    if (wd != ESFT_F32 && wd != ESFT_F16 && wd != ESFT_BF16)
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "cuda: work dtype %s unsupported",
                         esft_dtype_name(wd));
    int n = count_devices(err);
    if (n < 0) return ESFT_ERR_DEVICE;
    if (o.device_index < 0 || o.device_index >= n)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "cuda: device %d out of range (%d devices)",
                         o.device_index, n);
    esft_backend *be = calloc(1, sizeof *be);
    cuda_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "cuda: out of memory creating backend");
    }
    c->device = o.device_index;
    struct cudaDeviceProp p;
    cudaError_t e = cudaSetDevice(c->device);
    if (e == cudaSuccess) e = cudaGetDeviceProperties(&p, c->device);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess)
        e = cudaHostAlloc((void **)&c->staging, (size_t)CUDA_STAGING_SLOTS * CUDA_STAGING_BYTES,
                          cudaHostAllocDefault);
    for (int i = 0; i < CUDA_STAGING_SLOTS && e == cudaSuccess; i++)
        e = cudaEventCreateWithFlags(&c->staged[i], cudaEventDisableTiming);
    if (e != cudaSuccess) {
        esft_errf(err, ESFT_ERR_DEVICE, "cuda: device %d: %s", o.device_index, cudaGetErrorString(e));
        ctx_release(c);
        free(be);
        return ESFT_ERR_DEVICE;
    }
    esft_err berr = {{0}};
    if (esft_cublas_open(&c->blas, c->stream, &berr) != ESFT_OK) {
        esft_errf(err, ESFT_ERR_DEVICE, "cuda: %s", berr.msg);
        ctx_release(c);
        free(be);
        return ESFT_ERR_DEVICE;
    }
    be->ops = &cu_ops;
    be->ctx = c;
    be->kind = "cuda";
    snprintf(be->device_name, sizeof be->device_name, "%.96s (sm_%d%d, %.1f GiB)", p.name, p.major,
             p.minor, (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    be->work_dtype = wd;
    be->n_threads = o.n_threads > 0 ? o.n_threads : 1;
    *out = be;
    return ESFT_OK;
}
