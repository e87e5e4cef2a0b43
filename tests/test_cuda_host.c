/* The cuda backend's host side, on any machine (CI has no GPU):
 *  - cuBLAS opens through dlopen and every entry point esft looks up exists
 *    (a misspelt symbol would only show on a GPU otherwise);
 *  - without an NVIDIA driver the driver reports why and creating a backend
 *    fails with the same reason; with one, every enumerated device opens and
 *    reports a GPU with memory and a PCI id.
 * Skipped when esft is built without CUDA. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#ifdef ESFT_HAVE_CUDA
#include <dlfcn.h>

#include "cuda/cuda_backend.h"
#include "cuda/cuda_blas.h"

static bool have_driver(void) {
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h) dlclose(h);
    return h != NULL;
}

static void t_cublas_symbols(void) {
    esft_cublas b;
    esft_err err = {{0}};
    esft_status st = esft_cublas_open(&b, NULL, &err);
    if (st == ESFT_OK) {
        CHECK(b.gemm_ex && b.create && b.destroy && b.set_stream && b.set_math_mode);
        esft_cublas_close(&b);
        return;
    }
    /* no driver: the library and its symbols resolved, the handle did not */
    CHECKF(strstr(err.msg, "cuBLAS not found") == NULL, "cuBLAS does not load: %s", err.msg);
    CHECKF(strstr(err.msg, "lacks") == NULL, "cuBLAS entry point missing: %s", err.msg);
    CHECKF(strstr(err.msg, "cublasCreate") != NULL, "unexpected cuBLAS failure: %s", err.msg);
    CHECK(b.lib == NULL && b.handle == NULL); /* closed again */
}

static void t_devices(void) {
    esft_device_info info[16];
    esft_err err = {{0}};
    int n = esft_cuda_driver.enumerate(info, 16, &err);
    esft_backend *be = NULL;
    esft_err cerr = {{0}};
    if (!have_driver()) {
        CHECKF(n == -1, "enumerate without a driver returned %d", n);
        CHECKF(strstr(err.msg, "no NVIDIA driver") != NULL, "reason: %s", err.msg);
        CHECK(esft_cuda_driver.create(NULL, &be, &cerr) == ESFT_ERR_DEVICE && be == NULL);
        CHECKF(strstr(cerr.msg, "no NVIDIA driver") != NULL, "create: %s", cerr.msg);
        printf("no NVIDIA driver: \"%s\"\n", err.msg);
        return;
    }
    CHECKF(n >= 0 || strlen(err.msg) > 0, "enumerate failed without a reason");
    for (int i = 0; i < n; i++) {
        CHECK(info[i].is_gpu && info[i].memory_bytes > 0 && strlen(info[i].pci_id) == 12);
        esft_backend_options o = {.device_index = info[i].index};
        CHECKF(esft_cuda_driver.create(&o, &be, &cerr) == ESFT_OK, "device %d: %s", i, cerr.msg);
        if (be) {
            CHECK(be->work_dtype == ESFT_BF16 && strcmp(be->kind, "cuda") == 0);
            printf("device %d: %s\n", i, be->device_name);
            esft_backend_destroy(be);
            be = NULL;
        }
    }
    /* out of range and a bad work dtype are refused with a reason */
    esft_backend_options bad = {.device_index = n > 0 ? n : 0};
    CHECK(esft_cuda_driver.create(&bad, &be, &cerr) != ESFT_OK && be == NULL);
    setenv("ESFT_CUDA_WORK_DTYPE", "fp8", 1);
    CHECK(esft_cuda_driver.create(NULL, &be, &cerr) != ESFT_OK && be == NULL);
    unsetenv("ESFT_CUDA_WORK_DTYPE");
}

int main(void) {
    t_cublas_symbols();
    t_devices();
    return TEST_EXIT();
}
#else
int main(void) {
    printf("SKIP: esft built without the cuda backend\n");
    return TEST_SKIP_CODE;
}
#endif
