/* The cuda backend: CUDA C kernels (kernels/cuda) for every op but GEMM,
 * which goes through cuBLAS with bf16 (default) or f16 working weights and
 * f32 accumulation; f32 master weights on the device. One stream per
 * backend; download() and synchronize() wait for it.
 *
 * Nothing of CUDA is needed to start esft: the runtime is linked
 * statically and finds the driver (libcuda) at run time, and cuBLAS is
 * opened with dlopen when a cuda backend is created. Without a driver the
 * backend reports why and `--backend auto` moves on. */
#ifndef ESFT_CUDA_BACKEND_H
#define ESFT_CUDA_BACKEND_H

#include "../backend.h"
#include "../registry.h"

/* Its description and entry points (cuda_driver.c). */
extern const esft_backend_driver esft_cuda_driver;

/* The driver's entry points (esft_backend_driver), built with ESFT_CUDA. */
int esft_cuda_enumerate(esft_device_info *out, int max, esft_err *err);
esft_status esft_cuda_create(const esft_backend_options *opts, esft_backend **out, esft_err *err);

#endif
