/* The vulkan backend as the registry sees it: known to every build, usable
 * when built with ESFT_VULKAN. */
#include "vulkan_backend.h"

const esft_backend_driver esft_vulkan_driver = {
    .name = "vulkan",
    .about = "any Vulkan 1.1 GPU: GLSL compute shaders, f32",
    .kinds = ESFT_KIND_GPU | ESFT_KIND_CPU, /* lavapipe: listed, ranked after cpu */
    .vendors = {ESFT_VENDOR_ANY},
    .preference = 1,                        /* before opencl on the same GPU */
#ifdef ESFT_HAVE_VULKAN
    .enumerate = esft_vulkan_enumerate,
    .create = esft_vulkan_create,
#endif
};
