/* The opencl backend: OpenCL C kernels (kernels/opencl) for every op but
 * GEMM, which goes through CLBlast. f32 throughout. One in-order queue per
 * backend; download() and synchronize() wait for it. Compiled programs are
 * cached on disk (see opencl_cache.c), so a slow compiler (PoCL) is paid
 * once per source/options/device/driver combination. */
#ifndef ESFT_OPENCL_BACKEND_H
#define ESFT_OPENCL_BACKEND_H

#include "../backend.h"
#include "../registry.h"

/* Its description and entry points (opencl_driver.c). */
extern const esft_backend_driver esft_opencl_driver;

/* The driver's entry points (esft_backend_driver), built with ESFT_OPENCL. */
int esft_opencl_enumerate(esft_device_info *out, int max, esft_err *err);
esft_status esft_opencl_create(const esft_backend_options *opts, esft_backend **out, esft_err *err);

#endif
