/* The opencl backend as the registry sees it: known to every build, usable
 * when built with ESFT_OPENCL. */
#include "opencl_backend.h"

const esft_backend_driver esft_opencl_driver = {
    .name = "opencl",
    .about = "any OpenCL 1.2 device: OpenCL C kernels, CLBlast GEMM, f32",
    .kinds = ESFT_KIND_GPU | ESFT_KIND_ACCEL | ESFT_KIND_CPU, /* PoCL: ranked after cpu */
    .vendors = {ESFT_VENDOR_ANY},
    .preference = 2,
#ifdef ESFT_HAVE_OPENCL
    .enumerate = esft_opencl_enumerate,
    .create = esft_opencl_create,
#endif
};
