/* The cpu backend: plain C11 + OpenMP; matmul by its own GEMM kernels
 * (cpu_gemm.h) for decode-sized batches and OpenBLAS sgemm for prefill. It
 * is the reference every other backend is checked against. */
#ifndef ESFT_CPU_BACKEND_H
#define ESFT_CPU_BACKEND_H

#include "../backend.h"
#include "../registry.h"
#include "cpu_gemm.h"

/* Its description and entry points (cpu_driver.c). */
extern const esft_backend_driver esft_cpu_driver;

/* Creates the cpu backend (opts may be NULL: all cores, f32 work dtype).
 * Work dtypes f32 (default), f16 and bf16 are accepted. */
esft_status esft_cpu_backend_create(const esft_backend_options *opts, esft_backend **out,
                                    esft_err *err);
/* Forces matmul's GEMM path on a cpu backend (ESFT_CPU_GEMM=<name> in the
 * environment does the same at creation); AUTO restores the default.
 * ESFT_ERR_UNSUPPORTED when this CPU or build cannot run it. */
esft_status esft_cpu_set_gemm_path(esft_backend *be, esft_cpu_gemm_path path);
/* The one cpu device (esft_backend_driver.enumerate). */
int esft_cpu_enumerate(esft_device_info *out, int max, esft_err *err);

#endif
