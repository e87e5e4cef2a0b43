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

extern const esft_backend_driver esft_vulkan_driver;

#endif
