/* cuBLAS through dlopen: see cuda_blas.h. */
#include "cuda_blas.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Newest first; the plain name last (a development symlink). Each is tried
 * on the library path, then in the toolkit esft was built with. */
static const char *const cublas_names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};

#ifndef ESFT_CUDA_LIBDIR
#define ESFT_CUDA_LIBDIR ""
#endif

/* RTLD_NODELETE: cuBLAS stays mapped after the last close. Reopening it
 * per backend would be slow, and its statically linked C++ runtime keeps
 * allocations (exception pools) that only its own data points to. */
static void *open_cublas(const char *name) {
    const int flags = RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE;
    void *lib = dlopen(name, flags);
    if (!lib && ESFT_CUDA_LIBDIR[0]) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", ESFT_CUDA_LIBDIR, name);
        lib = dlopen(path, flags);
    }
    return lib;
}

/* Looks up `name` into *slot; false when it is missing. */
static bool lookup(void *lib, const char *name, void *slot) {
    void *f = dlsym(lib, name);
    if (!f) return false;
    memcpy(slot, &f, sizeof f); /* object -> function pointer without a cast warning */
    return true;
}

esft_status esft_cublas_open(esft_cublas *b, cudaStream_t stream, esft_err *err) {
    memset(b, 0, sizeof *b);
    char tried[256] = "";
    for (size_t i = 0; i < sizeof cublas_names / sizeof cublas_names[0] && !b->lib; i++) {
        b->lib = open_cublas(cublas_names[i]);
        if (!b->lib) {
            size_t used = strlen(tried);
            snprintf(tried + used, sizeof tried - used, "%s%s", used ? ", " : "", cublas_names[i]);
        }
    }
    if (!b->lib)
        return esft_errf(err, ESFT_ERR_DEVICE, "cuBLAS not found (tried %s; is the CUDA toolkit's "
                         "lib64 on the library path?)", tried);
    struct {
        const char *name;
        void *slot;
    } syms[] = {
        {"cublasCreate_v2", &b->create},         {"cublasDestroy_v2", &b->destroy},
        {"cublasSetStream_v2", &b->set_stream},  {"cublasSetMathMode", &b->set_math_mode},
        {"cublasGetStatusString", &b->status_string}, {"cublasGemmEx", &b->gemm_ex},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++)
        if (!lookup(b->lib, syms[i].name, syms[i].slot)) {
            esft_errf(err, ESFT_ERR_DEVICE, "cuBLAS lacks %s (too old?)", syms[i].name);
            esft_cublas_close(b);
            return ESFT_ERR_DEVICE;
        }
    cublasStatus_t s = b->create(&b->handle);
    if (s != CUBLAS_STATUS_SUCCESS) {
        esft_errf(err, ESFT_ERR_DEVICE, "cublasCreate: %s", esft_cublas_status(b, s));
        b->handle = NULL;
        esft_cublas_close(b);
        return ESFT_ERR_DEVICE;
    }
    /* f32 GEMMs stay f32 (no TF32); bf16/f16 inputs use tensor cores anyway */
    if ((s = b->set_stream(b->handle, stream)) != CUBLAS_STATUS_SUCCESS ||
        (s = b->set_math_mode(b->handle, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) {
        esft_errf(err, ESFT_ERR_DEVICE, "cuBLAS setup: %s", esft_cublas_status(b, s));
        esft_cublas_close(b);
        return ESFT_ERR_DEVICE;
    }
    return ESFT_OK;
}

void esft_cublas_close(esft_cublas *b) {
    if (b->handle && b->destroy) b->destroy(b->handle);
    if (b->lib) dlclose(b->lib);
    memset(b, 0, sizeof *b);
}

const char *esft_cublas_status(const esft_cublas *b, cublasStatus_t s) {
    return b->status_string ? b->status_string(s) : "cuBLAS failure";
}
