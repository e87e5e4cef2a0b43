/* opencl backend: device discovery, lifetime, memory and the op table. */
#include "opencl_internal.h"

#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CL/cl_ext.h>

/* Embedded by cmake/EmbedFiles.cmake (build/generated/esft_opencl_sources.c). */
extern const char esft_cl_esft_philox_h[];
extern const char esft_cl_esft_ops_cl[];
extern const char esft_cl_esft_optim_rules_h[];
extern const char esft_cl_esft_optim_h[];

#ifndef CL_DEVICE_PCI_BUS_INFO_KHR
#define CL_DEVICE_PCI_BUS_INFO_KHR 0x410F
typedef struct {
    cl_uint pci_domain, pci_bus, pci_device, pci_function;
} cl_device_pci_bus_info_khr;
#endif

#define MAX_PLATFORMS 16
#define MAX_CL_DEVICES 64

/* Every device of every platform, in platform order. Returns the count or
 * -1 with a reason. */
static int list_devices(cl_platform_id *plat_of, cl_device_id *devs, int max, esft_err *err) {
    cl_platform_id plats[MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int e = clGetPlatformIDs(MAX_PLATFORMS, plats, &np);
    if (e != CL_SUCCESS || np == 0) {
        esft_errf(err, ESFT_ERR_DEVICE,
                  "no OpenCL platform found (is an ICD such as pocl-opencl-icd installed?)%s%s",
                  e != CL_SUCCESS ? ": " : "", e != CL_SUCCESS ? esft_cl_errstr(e) : "");
        return -1;
    }
    int n = 0;
    for (cl_uint p = 0; p < np && p < MAX_PLATFORMS && n < max; p++) {
        cl_device_id d[MAX_CL_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_CL_DEVICES, d, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint i = 0; i < nd && i < MAX_CL_DEVICES && n < max; i++) {
            plat_of[n] = plats[p];
            devs[n++] = d[i];
        }
    }
    return n;
}

static bool has_extension(cl_device_id d, const char *ext) {
    size_t sz = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &sz) != CL_SUCCESS || sz == 0)
        return false;
    char *s = malloc(sz + 1);
    if (!s) return false;
    bool found = false;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, sz, s, NULL) == CL_SUCCESS) {
        s[sz] = '\0';
        size_t el = strlen(ext);
        for (const char *p = s; (p = strstr(p, ext)) != NULL; p += el)
            if ((p == s || p[-1] == ' ') && (p[el] == ' ' || p[el] == '\0')) {
                found = true;
                break;
            }
    }
    free(s);
    return found;
}

static void device_name(cl_device_id d, char *out, size_t cap) {
    if (clGetDeviceInfo(d, CL_DEVICE_NAME, cap, out, NULL) != CL_SUCCESS) snprintf(out, cap, "?");
    out[cap - 1] = '\0';
    /* trim trailing blanks some drivers pad with */
    size_t l = strlen(out);
    while (l > 0 && (out[l - 1] == ' ' || out[l - 1] == '\t')) out[--l] = '\0';
}

int esft_opencl_enumerate(esft_device_info *out, int max, esft_err *err) {
    cl_platform_id plat[MAX_CL_DEVICES];
    cl_device_id devs[MAX_CL_DEVICES];
    int n = list_devices(plat, devs, MAX_CL_DEVICES, err);
    if (n < 0) return -1;
    int k = 0;
    for (int i = 0; i < n && k < max; i++) {
        esft_device_info *d = &out[k++];
        memset(d, 0, sizeof *d);
        d->backend = "opencl";
        d->index = i;
        device_name(devs[i], d->name, sizeof d->name);
        cl_device_type type = 0;
        clGetDeviceInfo(devs[i], CL_DEVICE_TYPE, sizeof type, &type, NULL);
        d->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
        cl_ulong mem = 0;
        if (clGetDeviceInfo(devs[i], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL) == CL_SUCCESS)
            d->memory_bytes = mem;
        d->pci_id[0] = '\0';
        if (has_extension(devs[i], "cl_khr_pci_bus_info")) {
            cl_device_pci_bus_info_khr pci;
            if (clGetDeviceInfo(devs[i], CL_DEVICE_PCI_BUS_INFO_KHR, sizeof pci, &pci, NULL) ==
                CL_SUCCESS)
                snprintf(d->pci_id, sizeof d->pci_id, "%04x:%02x:%02x.%x", pci.pci_domain & 0xFFFFu,
                         pci.pci_bus & 0xFFu, pci.pci_device & 0x1Fu, pci.pci_function & 0x7u);
        }
        cl_uint units = 0, mhz = 0, vendor = 0;
        clGetDeviceInfo(devs[i], CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
        clGetDeviceInfo(devs[i], CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof mhz, &mhz, NULL);
        clGetDeviceInfo(devs[i], CL_DEVICE_VENDOR_ID, sizeof vendor, &vendor, NULL);
        d->compute_units = (int)units;
        d->clock_mhz = (int)mhz;
        if (d->is_gpu && vendor <= 0xFFFFu) d->pci_vendor = (uint16_t)vendor; /* a PCI id on GPUs */
        char plat_version[512] = "", driver[256] = ""; /* a short buffer gets nothing at all */
        clGetPlatformInfo(plat[i], CL_PLATFORM_VERSION, sizeof plat_version - 1, plat_version, NULL);
        clGetDeviceInfo(devs[i], CL_DRIVER_VERSION, sizeof driver - 1, driver, NULL);
        snprintf(d->driver, sizeof d->driver, "%.95s, driver %.63s; CLBlast %s", plat_version, driver,
                 ESFT_CLBLAST_VERSION);
        /* GPUs first; other accelerators next; CPU OpenCL devices after the
         * cpu backend (rank 1000), so auto on a CPU-only machine picks cpu */
        d->rank = d->is_gpu ? 100 + i : (type & CL_DEVICE_TYPE_CPU) ? 2000 + i : 500 + i;
    }
    return k;
}

/* ---------------------------------------------------------------- memory */

static esft_status cl_fail(esft_backend *be, const char *what, cl_int e) {
    return esft_errf(&be->err, e == CL_MEM_OBJECT_ALLOCATION_FAILURE || e == CL_OUT_OF_RESOURCES
                                   ? ESFT_ERR_OUT_OF_MEMORY
                                   : ESFT_ERR_DEVICE,
                     "opencl: %s: %s (%d)", what, esft_cl_errstr(e), e);
}

static esft_status ocl_buf_alloc(esft_backend *be, esft_buf *buf, esft_dtype dtype, size_t n) {
    ocl_ctx *c = ocl_ctx_of(be);
    size_t es = esft_dtype_size(dtype);
    if (es == 0) return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "opencl: bad dtype %d", (int)dtype);
    if (n > (SIZE_MAX - 64) / es)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "opencl: buffer of %zu elements overflows", n);
    size_t bytes = (n * es + 63) / 64 * 64;
    if (bytes == 0) bytes = 64;
    cl_int e;
    cl_mem m = clCreateBuffer(c->context, CL_MEM_READ_WRITE, bytes, NULL, &e);
    if (!m || e != CL_SUCCESS) {
        esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY,
                  "opencl: cannot allocate %zu bytes (%zu x %s) on %s: %s", bytes, n,
                  esft_dtype_name(dtype), be->device_name, esft_cl_errstr(e));
        return ESFT_ERR_OUT_OF_MEMORY;
    }
    buf->handle = m;
    return ESFT_OK;
}

static void ocl_buf_free(esft_backend *be, esft_buf *buf) {
    (void)be;
    if (buf->handle) clReleaseMemObject((cl_mem)buf->handle);
    buf->handle = NULL;
}

static esft_status ocl_upload(esft_backend *be, esft_buf *dst, size_t off, const void *src,
                              size_t n) {
    size_t es = esft_dtype_size(dst->dtype);
    cl_int e = clEnqueueWriteBuffer(ocl_ctx_of(be)->queue, (cl_mem)dst->handle, CL_TRUE, off * es,
                                    n * es, src, 0, NULL, NULL);
    return e == CL_SUCCESS ? ESFT_OK : cl_fail(be, "upload", e);
}

static esft_status ocl_download(esft_backend *be, const esft_buf *src, size_t off, void *dst,
                                size_t n) {
    size_t es = esft_dtype_size(src->dtype);
    cl_int e = clEnqueueReadBuffer(ocl_ctx_of(be)->queue, (cl_mem)src->handle, CL_TRUE, off * es,
                                   n * es, dst, 0, NULL, NULL);
    return e == CL_SUCCESS ? ESFT_OK : cl_fail(be, "download", e);
}

static esft_status ocl_copy(esft_backend *be, esft_buf *dst, size_t dst_off, const esft_buf *src,
                            size_t src_off, size_t n) {
    ocl_ctx *c = ocl_ctx_of(be);
    size_t es = esft_dtype_size(dst->dtype), bytes = n * es;
    size_t d0 = dst_off * es, s0 = src_off * es;
    cl_int e;
    if (dst->handle == src->handle && d0 == s0) return ESFT_OK;
    if (dst->handle == src->handle && d0 < s0 + bytes && s0 < d0 + bytes) {
        /* overlapping ranges of one buffer (memmove): through a temporary */
        cl_mem tmp = clCreateBuffer(c->context, CL_MEM_READ_WRITE, bytes, NULL, &e);
        if (!tmp || e != CL_SUCCESS) return cl_fail(be, "copy (temporary)", e);
        e = clEnqueueCopyBuffer(c->queue, (cl_mem)src->handle, tmp, s0, 0, bytes, 0, NULL, NULL);
        if (e == CL_SUCCESS)
            e = clEnqueueCopyBuffer(c->queue, tmp, (cl_mem)dst->handle, 0, d0, bytes, 0, NULL, NULL);
        clReleaseMemObject(tmp); /* released once the queued copies are done */
        return e == CL_SUCCESS ? ESFT_OK : cl_fail(be, "copy", e);
    }
    e = clEnqueueCopyBuffer(c->queue, (cl_mem)src->handle, (cl_mem)dst->handle, s0, d0, bytes, 0,
                            NULL, NULL);
    return e == CL_SUCCESS ? ESFT_OK : cl_fail(be, "copy", e);
}

static esft_status ocl_synchronize(esft_backend *be) {
    cl_int e = clFinish(ocl_ctx_of(be)->queue);
    return e == CL_SUCCESS ? ESFT_OK : cl_fail(be, "synchronize", e);
}

/* --------------------------------------------------------------- support */

static bool ocl_supports(esft_backend *be, esft_op op, esft_dtype dtype) {
    (void)be;
    if (op < 0 || op >= ESFT_OP_COUNT) return false;
    if (dtype == ESFT_F32) return true;
    if (dtype == ESFT_I32) return op == ESFT_OP_PHILOX || op == ESFT_OP_ARGMAX;
    return false;
}

/* -------------------------------------------------------------- lifetime */

static void ctx_release(ocl_ctx *c) {
    if (!c) return;
    if (c->queue) clFinish(c->queue);
    for (int i = 0; i < K_COUNT; i++)
        if (c->k[i]) clReleaseKernel(c->k[i]);
    if (c->program) clReleaseProgram(c->program);
    if (c->scratch) clReleaseMemObject(c->scratch);
    if (c->side) clReleaseMemObject(c->side);
    if (c->queue) clReleaseCommandQueue(c->queue);
    if (c->context) clReleaseContext(c->context);
    free(c);
}

static void ocl_destroy(esft_backend *be) {
    if (!be) return;
    ctx_release(ocl_ctx_of(be));
    free(be);
}

static const esft_backend_ops ocl_ops = {
    .destroy = ocl_destroy,
    .buf_alloc = ocl_buf_alloc,
    .buf_free = ocl_buf_free,
    .upload = ocl_upload,
    .download = ocl_download,
    .copy = ocl_copy,
    .synchronize = ocl_synchronize,
    .supports = ocl_supports,
    .perturb = esft_cl_perturb,
    .es_update = esft_cl_es_update,
    .es_optimize = esft_cl_es_optimize,
    .matmul = esft_cl_matmul,
    .rmsnorm = esft_cl_rmsnorm,
    .rope = esft_cl_rope,
    .swiglu = esft_cl_swiglu,
    .geglu = esft_cl_geglu,
    .add = esft_cl_add,
    .get_rows = esft_cl_get_rows,
    .attention = esft_cl_attention,
    .argmax = esft_cl_argmax,
    .scale = esft_cl_scale,
    .lowrank_matmul = esft_cl_lowrank_matmul,
    .lowrank_rows = esft_cl_lowrank_rows,
    .lowrank_update = esft_cl_lowrank_update,
    .test = {.noise = esft_cl_noise, .philox = esft_cl_philox},
};

static const char *const kernel_names[K_COUNT] = {
#define ESFT_CL_NAME(name) "esft_" #name "_k",
    ESFT_CL_KERNELS(ESFT_CL_NAME)
#undef ESFT_CL_NAME
};

esft_status esft_opencl_create(const esft_backend_options *opts, esft_backend **out,
                               esft_err *err) {
    *out = NULL;
    esft_backend_options o = opts ? *opts : (esft_backend_options){0};
    if (o.work_dtype_set && o.work_dtype != ESFT_F32)
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "opencl: work dtype %s unsupported (f32 only)",
                         esft_dtype_name(o.work_dtype));
    cl_platform_id plat[MAX_CL_DEVICES];
    cl_device_id devs[MAX_CL_DEVICES];
    int n = list_devices(plat, devs, MAX_CL_DEVICES, err);
    if (n < 0) return ESFT_ERR_DEVICE;
    if (o.device_index < 0 || o.device_index >= n)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "opencl: device %d out of range (%d devices)",
                         o.device_index, n);
    esft_backend *be = calloc(1, sizeof *be);
    ocl_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "opencl: out of memory creating backend");
    }
    c->platform = plat[o.device_index];
    c->device = devs[o.device_index];
    char name[128];
    device_name(c->device, name, sizeof name);
    cl_bool avail = CL_FALSE, compiler = CL_FALSE;
    clGetDeviceInfo(c->device, CL_DEVICE_AVAILABLE, sizeof avail, &avail, NULL);
    clGetDeviceInfo(c->device, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL);
    esft_status st = ESFT_OK;
    cl_int e = CL_SUCCESS;
    if (!avail || !compiler) {
        st = esft_errf(err, ESFT_ERR_DEVICE, "opencl: device %d (%s) is %s", o.device_index, name,
                       !avail ? "not available" : "without an OpenCL C compiler");
        goto fail;
    }
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)c->platform, 0};
    c->context = clCreateContext(props, 1, &c->device, NULL, NULL, &e);
    if (!c->context || e != CL_SUCCESS) {
        st = esft_errf(err, ESFT_ERR_DEVICE, "opencl: clCreateContext on %s: %s (%d)", name,
                       esft_cl_errstr(e), e);
        goto fail;
    }
    c->queue = clCreateCommandQueue(c->context, c->device, 0, &e);
    if (!c->queue || e != CL_SUCCESS) {
        st = esft_errf(err, ESFT_ERR_DEVICE, "opencl: clCreateCommandQueue on %s: %s (%d)", name,
                       esft_cl_errstr(e), e);
        goto fail;
    }
    /* build options */
    char options[256] = "-cl-std=CL1.2";
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(c->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    if (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT)
        strcat(options, " -cl-fp32-correctly-rounded-divide-sqrt");
    if (has_extension(c->device, "cl_khr_fp64")) strcat(options, " -DESFT_FP64=1");
    const char *srcs[] = {esft_cl_esft_philox_h, esft_cl_esft_optim_rules_h, esft_cl_esft_optim_h, esft_cl_esft_ops_cl};
    st = esft_cl_build_program(c, srcs, 4, options, &c->program, err);
    if (st != ESFT_OK) goto fail;
    size_t dev_wg = 1;
    clGetDeviceInfo(c->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof dev_wg, &dev_wg, NULL);
    for (int i = 0; i < K_COUNT; i++) {
        c->k[i] = clCreateKernel(c->program, kernel_names[i], &e);
        if (!c->k[i] || e != CL_SUCCESS) {
            st = esft_errf(err, ESFT_ERR_DEVICE, "opencl: kernel %s: %s (%d)", kernel_names[i],
                           esft_cl_errstr(e), e);
            goto fail;
        }
        size_t kwg = dev_wg;
        clGetKernelWorkGroupInfo(c->k[i], c->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg,
                                 NULL);
        size_t lim = kwg < dev_wg ? kwg : dev_wg, w = 1;
        while (w * 2 <= lim && w * 2 <= 128) w *= 2;
        c->wg[i] = w;
    }
    be->ops = &ocl_ops;
    be->ctx = c;
    be->kind = "opencl";
    cl_device_type type = 0;
    clGetDeviceInfo(c->device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    snprintf(be->device_name, sizeof be->device_name, "%.100s (OpenCL %s)", name,
             (type & CL_DEVICE_TYPE_GPU) ? "GPU" : (type & CL_DEVICE_TYPE_CPU) ? "CPU" : "device");
    be->work_dtype = ESFT_F32;
    be->n_threads = 1;
    *out = be;
    return ESFT_OK;
fail:
    ctx_release(c);
    free(be);
    return st;
}
