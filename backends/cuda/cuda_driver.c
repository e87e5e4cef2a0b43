/* The cuda backend as the registry sees it: known to every build (auto
 * says when an NVIDIA GPU's backend is missing), usable when built with
 * ESFT_CUDA. */
#include "cuda_backend.h"

const esft_backend_driver esft_cuda_driver = {
    .name = "cuda",
    .about = "NVIDIA GPUs: CUDA kernels, cuBLAS GEMM in bf16 or f16",
    .kinds = ESFT_KIND_GPU,
    .vendors = {0x10de}, /* NVIDIA's GPUs are cuda's alone */
    .preference = 0,
#ifdef ESFT_HAVE_CUDA
    .enumerate = esft_cuda_enumerate,
    .create = esft_cuda_create,
#endif
};
