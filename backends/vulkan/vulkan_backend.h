/* The vulkan backend: GLSL compute shaders (kernels/vulkan, SPIR-V embedded
 * at build time) for every op, f32 throughout. The loader is opened at run
 * time; every physical device is listed, CPU implementations (lavapipe)
 * ranked after the cpu backend so that auto never picks them. Ops are
 * recorded into one command buffer and submitted at synchronize() or
 * download() (or when a per-batch resource fills up). */
#ifndef ESFT_VULKAN_BACKEND_H
#define ESFT_VULKAN_BACKEND_H

#include "../backend.h"
#include "../registry.h"

/* Its description and entry points (vulkan_driver.c). */
extern const esft_backend_driver esft_vulkan_driver;

/* The driver's entry points (esft_backend_driver), built with ESFT_VULKAN. */
int esft_vulkan_enumerate(esft_device_info *out, int max, esft_err *err);
esft_status esft_vulkan_create(const esft_backend_options *opts, esft_backend **out, esft_err *err);

#endif
