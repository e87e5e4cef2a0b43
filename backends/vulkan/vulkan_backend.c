/* vulkan backend: loader, device discovery, lifetime, memory, command
 * recording and the op table.
 *
 * Design: one compute queue; every buffer is a VkBuffer in its own
 * allocation (device-local when the device has such memory); upload and
 * download go through a host-visible staging buffer in chunks. Ops record a
 * dispatch (pipeline, pushed descriptors, push constants) and a full barrier
 * into the one open command buffer; download(), synchronize() and anything
 * that must reuse a per-batch resource submit it and wait on a fence.
 * Pipelines are created on first use from the embedded SPIR-V through one
 * VkPipelineCache, kept on disk (vulkan_cache.c). */
#define _GNU_SOURCE /* dl_iterate_phdr */
#include "vulkan_internal.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Embedded by cmake/CompileShaders.cmake (build/generated/esft_vulkan_spirv.c). */
#define ESFT_SPV(name)                                                                              \
    extern const char esft_spv_##name##_spv[];                                                      \
    extern const unsigned long esft_spv_##name##_spv_size;
ESFT_SPV(philox)
ESFT_SPV(noise)
ESFT_SPV(perturb)
ESFT_SPV(es_update)
ESFT_SPV(es_optimize)
ESFT_SPV(eltwise)
ESFT_SPV(get_rows)
ESFT_SPV(rmsnorm)
ESFT_SPV(rope)
ESFT_SPV(rope_f64)
ESFT_SPV(kv_store)
ESFT_SPV(attention)
ESFT_SPV(argmax)
ESFT_SPV(matmul)
ESFT_SPV(matmul_naive)
ESFT_SPV(gemv)
ESFT_SPV(lowrank_matmul)
ESFT_SPV(lowrank_rows)
ESFT_SPV(lowrank_update)
#undef ESFT_SPV

typedef struct pipe_desc {
    const char *name;
    const char *spv;
    const unsigned long *size;
    int ls;       /* 0: c->ls_reduce; -1: 4 x subgroup size (gemv); else fixed */
    int spec1;    /* specialization constant 1, -1 if none */
    int spec2;    /* specialization constant 2, -1 if none */
} pipe_desc;

#define SPV(n) esft_spv_##n##_spv, &esft_spv_##n##_spv_size
static const pipe_desc pipe_descs[P_COUNT] = {
    [P_PHILOX] = {"philox", SPV(philox), 64, -1, -1},
    [P_NOISE] = {"noise", SPV(noise), 64, -1, -1},
    [P_PERTURB] = {"perturb", SPV(perturb), 64, -1, -1},
    [P_ES_UPDATE] = {"es_update", SPV(es_update), 64, -1, -1},
    [P_ES_OPTIMIZE] = {"es_optimize", SPV(es_optimize), 64, -1, -1},
    [P_SCALE] = {"scale", SPV(eltwise), 256, 0, -1},
    [P_ADD] = {"add", SPV(eltwise), 256, 1, -1},
    [P_SWIGLU] = {"swiglu", SPV(eltwise), 256, 2, -1},
    [P_ADD_BIAS] = {"add_bias", SPV(eltwise), 256, 3, -1},
    [P_GEGLU] = {"geglu", SPV(eltwise), 256, 4, -1},
    [P_GET_ROWS] = {"get_rows", SPV(get_rows), 256, -1, -1},
    [P_RMSNORM] = {"rmsnorm", SPV(rmsnorm), 0, -1, -1},
    [P_ROPE] = {"rope", SPV(rope), 64, -1, -1},
    [P_ROPE_F64] = {"rope_f64", SPV(rope_f64), 64, -1, -1},
    [P_KV_STORE] = {"kv_store", SPV(kv_store), 256, -1, -1},
    [P_ATTENTION] = {"attention", SPV(attention), 0, -1, -1},
    [P_ARGMAX] = {"argmax", SPV(argmax), 0, -1, -1},
    [P_MATMUL] = {"matmul", SPV(matmul), 256, -1, -1},
    [P_MATMUL_NAIVE] = {"matmul_naive", SPV(matmul_naive), 64, -1, -1},
    [P_GEMV] = {"gemv", SPV(gemv), -1, 4, 1},
    [P_GEMV8] = {"gemv8", SPV(gemv), -1, 4, 8},
    [P_LOWRANK_MATMUL] = {"lowrank_matmul", SPV(lowrank_matmul), 0, -1, -1},
    [P_LOWRANK_ROWS] = {"lowrank_rows", SPV(lowrank_rows), 256, -1, -1},
    [P_LOWRANK_UPDATE] = {"lowrank_update", SPV(lowrank_update), 256, -1, -1},
};
#undef SPV

#define N_BINDINGS 8
#define PC_BYTES 128
#define STAGING_BYTES ((VkDeviceSize)16 << 20)
#define ARENA_MIN ((VkDeviceSize)1 << 20)

const char *esft_vk_result_str(VkResult r) {
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_INCOMPLETE: return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED";
    default: return "VkResult error";
    }
}

esft_status esft_vk_fail(esft_backend *be, const char *what, VkResult r) {
    return esft_errf(&be->err,
                     r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY
                         ? ESFT_ERR_OUT_OF_MEMORY
                         : ESFT_ERR_DEVICE,
                     "vulkan: %s: %s (%d)", what, esft_vk_result_str(r), (int)r);
}

/* ---------------------------------------------------------------- loader */

static bool load_loader(vk_fns *f, esft_err *err) {
    memset(f, 0, sizeof *f);
    const char *names[] = {"libvulkan.so.1", "libvulkan.so"};
    for (size_t i = 0; i < 2 && !f->lib; i++) f->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!f->lib) {
        esft_errf(err, ESFT_ERR_DEVICE, "no Vulkan loader (libvulkan.so.1 not found; install libvulkan1)");
        return false;
    }
    f->vkGetInstanceProcAddr = (PFN_vkGetInstanceProcAddr)dlsym(f->lib, "vkGetInstanceProcAddr");
    if (f->vkGetInstanceProcAddr) {
        f->vkCreateInstance =
            (PFN_vkCreateInstance)f->vkGetInstanceProcAddr(NULL, "vkCreateInstance");
        f->vkEnumerateInstanceVersion = (PFN_vkEnumerateInstanceVersion)f->vkGetInstanceProcAddr(
            NULL, "vkEnumerateInstanceVersion");
    }
    if (!f->vkCreateInstance) {
        esft_errf(err, ESFT_ERR_DEVICE, "the Vulkan loader lacks vkGetInstanceProcAddr");
        dlclose(f->lib);
        f->lib = NULL;
        return false;
    }
    return true;
}

/* Keeps every shared object loaded so far (the drivers the loader opened
 * for the instance among them) mapped for the life of the process. Otherwise
 * the loader unloads the driver at vkDestroyInstance and loads it again (for
 * lavapipe: LLVM included) at every enumerate and create, and LeakSanitizer
 * reports the driver's static allocations as leaks once its library is gone
 * (lavapipe leaves 128 bytes reachable only from its own globals). */
static int pin_object(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    (void)arg;
    if (info->dlpi_name && info->dlpi_name[0])
        (void)dlopen(info->dlpi_name, RTLD_NOLOAD | RTLD_NODELETE | RTLD_LAZY);
    return 0;
}

/* Loader + instance (Vulkan >= 1.1) + instance-level entry points. */
static bool open_instance(vk_fns *f, VkInstance *inst, esft_err *err) {
    *inst = VK_NULL_HANDLE;
    if (!load_loader(f, err)) return false;
    uint32_t ver = VK_API_VERSION_1_0;
    if (f->vkEnumerateInstanceVersion) f->vkEnumerateInstanceVersion(&ver);
    if (ver < VK_API_VERSION_1_1) {
        esft_errf(err, ESFT_ERR_DEVICE, "the Vulkan loader is 1.0; esft needs Vulkan 1.1");
        goto fail;
    }
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "esft",
                             .pEngineName = "esft",
                             .apiVersion = VK_API_VERSION_1_1};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pApplicationInfo = &app};
    VkResult r = f->vkCreateInstance(&ci, NULL, inst);
    if (r != VK_SUCCESS) {
        esft_errf(err, ESFT_ERR_DEVICE, "vkCreateInstance: %s (no Vulkan driver installed?)",
                  esft_vk_result_str(r));
        *inst = VK_NULL_HANDLE;
        goto fail;
    }
    dl_iterate_phdr(pin_object, NULL);
#define ESFT_VK_LOAD(name) f->name = (PFN_##name)f->vkGetInstanceProcAddr(*inst, #name);
    ESFT_VK_INSTANCE_FNS(ESFT_VK_LOAD)
#undef ESFT_VK_LOAD
    if (!f->vkDestroyInstance || !f->vkEnumeratePhysicalDevices || !f->vkCreateDevice ||
        !f->vkGetPhysicalDeviceProperties2 || !f->vkGetDeviceProcAddr) {
        esft_errf(err, ESFT_ERR_DEVICE, "the Vulkan loader lacks core 1.1 entry points");
        if (f->vkDestroyInstance) f->vkDestroyInstance(*inst, NULL);
        *inst = VK_NULL_HANDLE;
        goto fail;
    }
    return true;
fail:
    dlclose(f->lib);
    f->lib = NULL;
    return false;
}

static void close_instance(vk_fns *f, VkInstance inst) {
    if (inst) f->vkDestroyInstance(inst, NULL);
    if (f->lib) dlclose(f->lib);
    f->lib = NULL;
}

#define MAX_VK_DEVICES 16

static bool has_device_ext(vk_fns *f, VkPhysicalDevice d, const char *name) {
    uint32_t n = 0;
    if (f->vkEnumerateDeviceExtensionProperties(d, NULL, &n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkExtensionProperties *e = malloc(n * sizeof *e);
    if (!e) return false;
    bool found = false;
    if (f->vkEnumerateDeviceExtensionProperties(d, NULL, &n, e) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(e[i].extensionName, name) == 0;
    free(e);
    return found;
}

int esft_vulkan_enumerate(esft_device_info *out, int max, esft_err *err) {
    vk_fns f;
    VkInstance inst;
    if (!open_instance(&f, &inst, err)) return -1;
    VkPhysicalDevice devs[MAX_VK_DEVICES];
    uint32_t n = MAX_VK_DEVICES;
    VkResult r = f.vkEnumeratePhysicalDevices(inst, &n, devs);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        esft_errf(err, ESFT_ERR_DEVICE, "vkEnumeratePhysicalDevices: %s", esft_vk_result_str(r));
        close_instance(&f, inst);
        return -1;
    }
    if (n == 0) {
        esft_errf(err, ESFT_ERR_DEVICE, "no Vulkan device (is a driver such as mesa-vulkan-drivers installed?)");
        close_instance(&f, inst);
        return -1;
    }
    int k = 0;
    for (uint32_t i = 0; i < n && k < max; i++) {
        esft_device_info *d = &out[k++];
        memset(d, 0, sizeof *d);
        d->backend = "vulkan";
        d->index = (int)i;
        VkPhysicalDevicePCIBusInfoPropertiesEXT pci = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PCI_BUS_INFO_PROPERTIES_EXT};
        bool have_pci = has_device_ext(&f, devs[i], VK_EXT_PCI_BUS_INFO_EXTENSION_NAME);
        VkPhysicalDeviceProperties base;
        f.vkGetPhysicalDeviceProperties(devs[i], &base);
        /* the driver's name and version string: core in Vulkan 1.2 */
        VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
                                                .pNext = have_pci ? &pci : NULL};
        const bool have_drv = base.apiVersion >= VK_API_VERSION_1_2;
        VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                          .pNext = have_drv ? (void *)&drv : have_pci ? (void *)&pci : NULL};
        f.vkGetPhysicalDeviceProperties2(devs[i], &p2);
        const VkPhysicalDeviceProperties *p = &p2.properties;
        d->pci_vendor = (uint16_t)p->vendorID;
        d->pci_device = (uint16_t)p->deviceID;
        if (have_drv)
            snprintf(d->driver, sizeof d->driver, "%.60s %.80s, Vulkan %u.%u.%u", drv.driverName, drv.driverInfo,
                     VK_API_VERSION_MAJOR(p->apiVersion), VK_API_VERSION_MINOR(p->apiVersion),
                     VK_API_VERSION_PATCH(p->apiVersion));
        else
            snprintf(d->driver, sizeof d->driver, "driver version %u, Vulkan %u.%u.%u", p->driverVersion,
                     VK_API_VERSION_MAJOR(p->apiVersion), VK_API_VERSION_MINOR(p->apiVersion),
                     VK_API_VERSION_PATCH(p->apiVersion));
        snprintf(d->name, sizeof d->name, "%.127s", p->deviceName);
        VkPhysicalDeviceType t = p->deviceType;
        d->is_gpu = t == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU ||
                    t == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ||
                    t == VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU;
        if (have_pci)
            snprintf(d->pci_id, sizeof d->pci_id, "%04x:%02x:%02x.%x", pci.pciDomain & 0xFFFFu,
                     pci.pciBus & 0xFFu, pci.pciDevice & 0x1Fu, pci.pciFunction & 0x7u);
        VkPhysicalDeviceMemoryProperties mp;
        f.vkGetPhysicalDeviceMemoryProperties(devs[i], &mp);
        for (uint32_t h = 0; h < mp.memoryHeapCount; h++)
            if (mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
                d->memory_bytes += mp.memoryHeaps[h].size;
        /* discrete GPUs first, then integrated/virtual, other devices next;
         * CPU implementations (lavapipe, SwiftShader) rank 3000: after the
         * cpu backend (1000) and CPU OpenCL devices (2000), so auto never
         * picks them over the cpu backend; --backend vulkan still opens them */
        d->rank = t == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU ? 100 + (int)i
                  : d->is_gpu                                 ? 200 + (int)i
                  : t == VK_PHYSICAL_DEVICE_TYPE_CPU          ? 3000 + (int)i
                                                              : 500 + (int)i;
    }
    close_instance(&f, inst);
    return k;
}

/* ---------------------------------------------------------------- memory */

static int find_memory(const vk_ctx *c, uint32_t type_bits, VkMemoryPropertyFlags want,
                       VkMemoryPropertyFlags avoid) {
    for (uint32_t i = 0; i < c->mem.memoryTypeCount; i++) {
        VkMemoryPropertyFlags fl = c->mem.memoryTypes[i].propertyFlags;
        if ((type_bits & (1u << i)) && (fl & want) == want && !(fl & avoid)) return (int)i;
    }
    return -1;
}

/* A buffer of `bytes`; host-visible (and mapped) when `host`. */
static VkResult make_buffer(vk_ctx *c, VkDeviceSize bytes, bool host, vkbuf *b) {
    memset(b, 0, sizeof *b);
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = bytes,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = c->f.vkCreateBuffer(c->dev, &bi, NULL, &b->buf);
    if (r != VK_SUCCESS) return r;
    VkMemoryRequirements req;
    c->f.vkGetBufferMemoryRequirements(c->dev, b->buf, &req);
    int mt;
    if (host) {
        mt = find_memory(c, req.memoryTypeBits,
                         VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                             VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
                         0);
        if (mt < 0)
            mt = find_memory(c, req.memoryTypeBits,
                             VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                 VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                             0);
    } else {
        mt = find_memory(c, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
        if (mt < 0) mt = find_memory(c, req.memoryTypeBits, 0, 0);
    }
    if (mt < 0) {
        c->f.vkDestroyBuffer(c->dev, b->buf, NULL);
        b->buf = VK_NULL_HANDLE;
        return VK_ERROR_FEATURE_NOT_PRESENT;
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size,
                               .memoryTypeIndex = (uint32_t)mt};
    r = c->f.vkAllocateMemory(c->dev, &ai, NULL, &b->mem);
    if (r == VK_SUCCESS) r = c->f.vkBindBufferMemory(c->dev, b->buf, b->mem, 0);
    if (r == VK_SUCCESS && host) r = c->f.vkMapMemory(c->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map);
    if (r != VK_SUCCESS) {
        if (b->mem) c->f.vkFreeMemory(c->dev, b->mem, NULL);
        c->f.vkDestroyBuffer(c->dev, b->buf, NULL);
        memset(b, 0, sizeof *b);
        return r;
    }
    b->size = bytes;
    return VK_SUCCESS;
}

static void drop_buffer(vk_ctx *c, vkbuf *b) {
    if (b->map) c->f.vkUnmapMemory(c->dev, b->mem);
    if (b->buf) c->f.vkDestroyBuffer(c->dev, b->buf, NULL);
    if (b->mem) c->f.vkFreeMemory(c->dev, b->mem, NULL);
    memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------- recording */

static esft_status begin_batch(esft_backend *be) {
    vk_ctx *c = vk_ctx_of(be);
    if (c->recording) return ESFT_OK;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkResult r = c->f.vkBeginCommandBuffer(c->cmd, &bi);
    if (r != VK_SUCCESS) return esft_vk_fail(be, "vkBeginCommandBuffer", r);
    c->recording = true;
    c->n_recorded = 0;
    return ESFT_OK;
}

static void full_barrier(vk_ctx *c) {
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                           VK_ACCESS_TRANSFER_READ_BIT |
                                           VK_ACCESS_TRANSFER_WRITE_BIT};
    VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    c->f.vkCmdPipelineBarrier(c->cmd, st, st, 0, 1, &mb, 0, NULL, 0, NULL);
}

esft_status esft_vk_flush(esft_backend *be) {
    vk_ctx *c = vk_ctx_of(be);
    if (!c->recording) return ESFT_OK;
    c->recording = false;
    VkResult r = c->f.vkEndCommandBuffer(c->cmd);
    if (r != VK_SUCCESS) return esft_vk_fail(be, "vkEndCommandBuffer", r);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &c->cmd};
    r = c->f.vkQueueSubmit(c->queue, 1, &si, c->fence);
    if (r == VK_SUCCESS) r = c->f.vkWaitForFences(c->dev, 1, &c->fence, VK_TRUE, UINT64_MAX);
    c->f.vkResetFences(c->dev, 1, &c->fence);
    c->f.vkResetCommandBuffer(c->cmd, 0);
    c->arena_used = 0;
    c->n_recorded = 0;
    return r == VK_SUCCESS ? ESFT_OK : esft_vk_fail(be, "queue submit", r);
}

static esft_status get_pipeline(esft_backend *be, vk_pid pid) {
    vk_ctx *c = vk_ctx_of(be);
    if (c->pipe[pid]) return ESFT_OK;
    const pipe_desc *d = &pipe_descs[pid];
    size_t bytes = (size_t)*d->size;
    uint32_t *code = malloc(bytes + 4); /* SPIR-V words must be 4-byte aligned */
    if (!code) return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    memcpy(code, d->spv, bytes);
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                   .codeSize = bytes,
                                   .pCode = code};
    VkShaderModule mod;
    VkResult r = c->f.vkCreateShaderModule(c->dev, &mi, NULL, &mod);
    free(code);
    if (r != VK_SUCCESS) return esft_vk_fail(be, d->name, r);
    uint32_t spec[3];
    spec[0] = d->ls > 0 ? (uint32_t)d->ls : d->ls == 0 ? c->ls_reduce : 4 * c->subgroup_size;
    spec[1] = (uint32_t)d->spec1;
    spec[2] = (uint32_t)d->spec2;
    VkSpecializationMapEntry me[3] = {{0, 0, 4}, {1, 4, 4}, {2, 8, 4}};
    VkSpecializationInfo spi = {.mapEntryCount = d->spec2 >= 0 ? 3u : d->spec1 >= 0 ? 2u : 1u,
                                .pMapEntries = me,
                                .dataSize = sizeof spec,
                                .pData = spec};
    VkComputePipelineCreateInfo pi = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = mod,
                  .pName = "main",
                  .pSpecializationInfo = &spi},
        .layout = c->layout};
    r = c->f.vkCreateComputePipelines(c->dev, c->cache, 1, &pi, NULL, &c->pipe[pid]);
    c->f.vkDestroyShaderModule(c->dev, mod, NULL);
    if (r != VK_SUCCESS) {
        c->pipe[pid] = VK_NULL_HANDLE;
        return esft_vk_fail(be, d->name, r);
    }
    c->new_pipelines = true;
    return ESFT_OK;
}

esft_status esft_vk_dispatch(esft_backend *be, vk_pid pid, const vk_bind *binds, int n_binds,
                             const void *pc, uint32_t pc_size, uint64_t groups, uint32_t gy) {
    vk_ctx *c = vk_ctx_of(be);
    uint32_t gx;
    if (gy > 0) {
        gx = (uint32_t)groups;
    } else {
        if (groups == 0) return ESFT_OK;
        gx = groups < c->max_groups_x ? (uint32_t)groups : c->max_groups_x;
        uint64_t y = (groups + gx - 1) / gx;
        if (y > c->max_groups_y)
            return esft_errf(&be->err, ESFT_ERR_INVALID_ARG,
                             "vulkan: %s: %llu work-groups exceed the device's grid",
                             pipe_descs[pid].name, (unsigned long long)groups);
        gy = (uint32_t)y;
    }
    if (gx == 0 || gy == 0) return ESFT_OK;
    esft_status st = get_pipeline(be, pid);
    if (st == ESFT_OK) st = begin_batch(be);
    if (st != ESFT_OK) return st;
    VkDescriptorBufferInfo bi[N_BINDINGS];
    VkWriteDescriptorSet w[N_BINDINGS];
    for (int i = 0; i < n_binds; i++) {
        bi[i] = (VkDescriptorBufferInfo){binds[i].buf, binds[i].off, binds[i].range};
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                      .dstBinding = (uint32_t)i,
                                      .descriptorCount = 1,
                                      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      .pBufferInfo = &bi[i]};
    }
    c->f.vkCmdBindPipeline(c->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, c->pipe[pid]);
    c->f.vkCmdPushDescriptorSetKHR(c->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, c->layout, 0,
                                   (uint32_t)n_binds, w);
    if (pc_size) c->f.vkCmdPushConstants(c->cmd, c->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, pc_size, pc);
    c->f.vkCmdDispatch(c->cmd, gx, gy, 1);
    full_barrier(c);
    c->n_recorded++;
    return ESFT_OK;
}

esft_status esft_vk_arena(esft_backend *be, const void *data, size_t bytes, vk_bind *out) {
    vk_ctx *c = vk_ctx_of(be);
    VkDeviceSize need = (bytes + c->align - 1) / c->align * c->align;
    if (need == 0) need = c->align;
    if (c->arena_used + need > c->arena.size) {
        /* the open batch still reads the arena: submit it first */
        esft_status st = esft_vk_flush(be);
        if (st != ESFT_OK) return st;
        if (need > c->arena.size) {
            VkDeviceSize sz = ARENA_MIN;
            while (sz < need) sz *= 2;
            drop_buffer(c, &c->arena);
            VkResult r = make_buffer(c, sz, true, &c->arena);
            if (r != VK_SUCCESS) return esft_vk_fail(be, "side-input arena", r);
        }
    }
    memcpy((char *)c->arena.map + c->arena_used, data, bytes);
    *out = (vk_bind){c->arena.buf, c->arena_used, need};
    c->arena_used += need;
    return ESFT_OK;
}

esft_status esft_vk_scratch(esft_backend *be, size_t bytes, vk_bind *out) {
    vk_ctx *c = vk_ctx_of(be);
    if (c->scratch.size < bytes || !c->scratch.buf) {
        esft_status st = esft_vk_flush(be); /* queued work may still use it */
        if (st != ESFT_OK) return st;
        drop_buffer(c, &c->scratch);
        VkDeviceSize sz = 1 << 16;
        while (sz < bytes) sz *= 2;
        VkResult r = make_buffer(c, sz, false, &c->scratch);
        if (r != VK_SUCCESS) return esft_vk_fail(be, "scratch buffer", r);
    }
    *out = (vk_bind){c->scratch.buf, 0, VK_WHOLE_SIZE};
    return ESFT_OK;
}

/* ------------------------------------------------------- buffers (API) */

static esft_status vk_buf_alloc(esft_backend *be, esft_buf *buf, esft_dtype dtype, size_t n) {
    vk_ctx *c = vk_ctx_of(be);
    size_t es = esft_dtype_size(dtype);
    if (es == 0) return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "vulkan: bad dtype %d", (int)dtype);
    if (n > (SIZE_MAX - 64) / es)
        return esft_errf(&be->err, ESFT_ERR_INVALID_ARG, "vulkan: buffer of %zu elements overflows", n);
    size_t bytes = (n * es + 63) / 64 * 64;
    if (bytes == 0) bytes = 64;
    /* every buffer is bound whole to a shader: larger ones cannot be used */
    if (bytes > c->max_range)
        return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY,
                         "vulkan: a buffer of %zu x %s (%zu MiB) exceeds %s's largest storage "
                         "buffer (maxStorageBufferRange %llu MiB)",
                         n, esft_dtype_name(dtype), bytes >> 20, be->device_name,
                         (unsigned long long)(c->max_range >> 20));
    vkbuf *b = malloc(sizeof *b);
    if (!b) return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    VkResult r = make_buffer(c, bytes, false, b);
    if (r != VK_SUCCESS) {
        free(b);
        return esft_errf(&be->err, ESFT_ERR_OUT_OF_MEMORY,
                         "vulkan: cannot allocate %zu bytes (%zu x %s) on %s: %s", bytes, n,
                         esft_dtype_name(dtype), be->device_name, esft_vk_result_str(r));
    }
    buf->handle = b;
    return ESFT_OK;
}

static void vk_buf_free(esft_backend *be, esft_buf *buf) {
    vk_ctx *c = vk_ctx_of(be);
    vkbuf *b = buf->handle;
    if (!b) return;
    if (c->recording) esft_vk_flush(be); /* queued commands may still use it */
    drop_buffer(c, b);
    free(b);
    buf->handle = NULL;
}

static void record_copy(vk_ctx *c, VkBuffer src, VkDeviceSize so, VkBuffer dst, VkDeviceSize d0,
                        VkDeviceSize bytes) {
    VkBufferCopy reg = {so, d0, bytes};
    c->f.vkCmdCopyBuffer(c->cmd, src, dst, 1, &reg);
    full_barrier(c);
    c->n_recorded++;
}

static esft_status vk_upload(esft_backend *be, esft_buf *dst, size_t off, const void *src,
                             size_t n) {
    vk_ctx *c = vk_ctx_of(be);
    size_t es = esft_dtype_size(dst->dtype), total = n * es, done = 0;
    const vkbuf *d = dst->handle;
    /* the staging buffer is reused: whatever is queued goes first */
    esft_status st = esft_vk_flush(be);
    while (st == ESFT_OK && done < total) {
        size_t chunk = total - done < STAGING_BYTES ? total - done : (size_t)STAGING_BYTES;
        memcpy(c->staging.map, (const char *)src + done, chunk);
        st = begin_batch(be);
        if (st != ESFT_OK) break;
        record_copy(c, c->staging.buf, 0, d->buf, off * es + done, chunk);
        st = esft_vk_flush(be);
        done += chunk;
    }
    return st;
}

static esft_status vk_download(esft_backend *be, const esft_buf *src, size_t off, void *dst,
                               size_t n) {
    vk_ctx *c = vk_ctx_of(be);
    size_t es = esft_dtype_size(src->dtype), total = n * es, done = 0;
    const vkbuf *s = src->handle;
    esft_status st = ESFT_OK;
    while (st == ESFT_OK && done < total) {
        size_t chunk = total - done < STAGING_BYTES ? total - done : (size_t)STAGING_BYTES;
        st = begin_batch(be); /* after the queued ops that produce src */
        if (st != ESFT_OK) break;
        record_copy(c, s->buf, off * es + done, c->staging.buf, 0, chunk);
        st = esft_vk_flush(be);
        if (st == ESFT_OK) memcpy((char *)dst + done, c->staging.map, chunk);
        done += chunk;
    }
    return st;
}

static esft_status vk_copy(esft_backend *be, esft_buf *dst, size_t dst_off, const esft_buf *src,
                           size_t src_off, size_t n) {
    vk_ctx *c = vk_ctx_of(be);
    size_t es = esft_dtype_size(dst->dtype), bytes = n * es;
    size_t d0 = dst_off * es, s0 = src_off * es;
    const vkbuf *d = dst->handle, *s = src->handle;
    if (bytes == 0 || (d == s && d0 == s0)) return ESFT_OK;
    if (d == s && d0 < s0 + bytes && s0 < d0 + bytes) {
        /* overlapping ranges of one buffer (memmove): through the scratch buffer */
        vk_bind tmp;
        esft_status st = esft_vk_scratch(be, bytes, &tmp);
        if (st == ESFT_OK) st = begin_batch(be);
        if (st != ESFT_OK) return st;
        record_copy(c, s->buf, s0, tmp.buf, 0, bytes);
        record_copy(c, tmp.buf, 0, d->buf, d0, bytes);
        return ESFT_OK;
    }
    esft_status st = begin_batch(be);
    if (st != ESFT_OK) return st;
    record_copy(c, s->buf, s0, d->buf, d0, bytes);
    return ESFT_OK;
}

static esft_status vk_synchronize(esft_backend *be) { return esft_vk_flush(be); }

static bool vk_supports(esft_backend *be, esft_op op, esft_dtype dtype) {
    (void)be;
    if (op < 0 || op >= ESFT_OP_COUNT) return false;
    if (dtype == ESFT_F32) return true;
    if (dtype == ESFT_I32) return op == ESFT_OP_PHILOX || op == ESFT_OP_ARGMAX;
    return false;
}

/* -------------------------------------------------------------- lifetime */

static void ctx_release(vk_ctx *c) {
    if (!c) return;
    if (c->dev) {
        c->f.vkDeviceWaitIdle(c->dev);
        if (c->new_pipelines) esft_vk_cache_save(c, c->cache_uuid);
        for (int i = 0; i < P_COUNT; i++)
            if (c->pipe[i]) c->f.vkDestroyPipeline(c->dev, c->pipe[i], NULL);
        if (c->cache) c->f.vkDestroyPipelineCache(c->dev, c->cache, NULL);
        if (c->layout) c->f.vkDestroyPipelineLayout(c->dev, c->layout, NULL);
        if (c->dsl) c->f.vkDestroyDescriptorSetLayout(c->dev, c->dsl, NULL);
        drop_buffer(c, &c->staging);
        drop_buffer(c, &c->arena);
        drop_buffer(c, &c->scratch);
        if (c->fence) c->f.vkDestroyFence(c->dev, c->fence, NULL);
        if (c->pool) c->f.vkDestroyCommandPool(c->dev, c->pool, NULL);
        c->f.vkDestroyDevice(c->dev, NULL);
    }
    close_instance(&c->f, c->inst);
    free(c);
}

static void vk_destroy(esft_backend *be) {
    if (!be) return;
    ctx_release(vk_ctx_of(be));
    free(be);
}

static const esft_backend_ops vk_ops = {
    .destroy = vk_destroy,
    .buf_alloc = vk_buf_alloc,
    .buf_free = vk_buf_free,
    .upload = vk_upload,
    .download = vk_download,
    .copy = vk_copy,
    .synchronize = vk_synchronize,
    .supports = vk_supports,
    .perturb = esft_vk_perturb,
    .es_update = esft_vk_es_update,
    .es_optimize = esft_vk_es_optimize,
    .lowrank_matmul = esft_vk_lowrank_matmul,
    .lowrank_rows = esft_vk_lowrank_rows,
    .lowrank_update = esft_vk_lowrank_update,
    .matmul = esft_vk_matmul,
    .rmsnorm = esft_vk_rmsnorm,
    .rope = esft_vk_rope,
    .swiglu = esft_vk_swiglu,
    .geglu = esft_vk_geglu,
    .add = esft_vk_add,
    .get_rows = esft_vk_get_rows,
    .attention = esft_vk_attention,
    .argmax = esft_vk_argmax,
    .scale = esft_vk_scale,
    .test = {.noise = esft_vk_noise, .philox = esft_vk_philox},
};

esft_status esft_vulkan_create(const esft_backend_options *opts, esft_backend **out,
                               esft_err *err) {
    *out = NULL;
    esft_backend_options o = opts ? *opts : (esft_backend_options){0};
    if (o.work_dtype_set && o.work_dtype != ESFT_F32)
        return esft_errf(err, ESFT_ERR_UNSUPPORTED, "vulkan: work dtype %s unsupported (f32 only)",
                         esft_dtype_name(o.work_dtype));
    esft_backend *be = calloc(1, sizeof *be);
    vk_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "vulkan: out of memory creating backend");
    }
    esft_status st = ESFT_ERR_DEVICE;
    VkResult r;
    if (!open_instance(&c->f, &c->inst, err)) goto fail;
    VkPhysicalDevice devs[MAX_VK_DEVICES];
    uint32_t n = MAX_VK_DEVICES;
    r = c->f.vkEnumeratePhysicalDevices(c->inst, &n, devs);
    if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || o.device_index < 0 ||
        (uint32_t)o.device_index >= n) {
        st = esft_errf(err, ESFT_ERR_INVALID_ARG, "vulkan: device %d out of range (%u devices)",
                       o.device_index, n);
        goto fail;
    }
    c->phys = devs[o.device_index];
    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &sg};
    c->f.vkGetPhysicalDeviceProperties2(c->phys, &p2);
    const VkPhysicalDeviceProperties *p = &p2.properties;
    const char *name = p->deviceName;
    if (p->apiVersion < VK_API_VERSION_1_1) {
        st = esft_errf(err, ESFT_ERR_DEVICE, "vulkan: %s supports only Vulkan 1.0", name);
        goto fail;
    }
    if (!has_device_ext(&c->f, c->phys, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME)) {
        st = esft_errf(err, ESFT_ERR_DEVICE, "vulkan: %s lacks %s", name,
                       VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
        goto fail;
    }
    c->subgroup_size = sg.subgroupSize ? sg.subgroupSize : 1;
    c->subgroup_arith = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                        (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
                        (sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT) &&
                        4 * c->subgroup_size <= p->limits.maxComputeWorkGroupInvocations;
    c->max_groups_x = p->limits.maxComputeWorkGroupCount[0];
    c->max_groups_y = p->limits.maxComputeWorkGroupCount[1];
    c->align = p->limits.minStorageBufferOffsetAlignment ? p->limits.minStorageBufferOffsetAlignment : 16;
    if (c->align < 16) c->align = 16;
    c->max_range = p->limits.maxStorageBufferRange;
    uint32_t lim = p->limits.maxComputeWorkGroupInvocations;
    if (p->limits.maxComputeWorkGroupSize[0] < lim) lim = p->limits.maxComputeWorkGroupSize[0];
    if (lim < 256) {
        st = esft_errf(err, ESFT_ERR_DEVICE, "vulkan: %s allows only %u invocations per work-group (256 needed)",
                       name, lim);
        goto fail;
    }
    c->ls_reduce = 128;
    VkPhysicalDeviceFeatures feat;
    c->f.vkGetPhysicalDeviceFeatures(c->phys, &feat);
    /* ESFT_VK_FP64=0 forces the f32 RoPE path (for tests on fp64 devices) */
    const char *f64 = getenv("ESFT_VK_FP64");
    c->fp64 = feat.shaderFloat64 == VK_TRUE && !(f64 && strcmp(f64, "0") == 0);
    const char *mm = getenv("ESFT_VK_MATMUL");
    c->matmul_mode = mm && strcmp(mm, "naive") == 0   ? VK_MATMUL_NAIVE
                     : mm && strcmp(mm, "tiled") == 0 ? VK_MATMUL_TILED
                                                      : VK_MATMUL_AUTO;
    /* one compute queue */
    VkQueueFamilyProperties qf[16];
    uint32_t nq = 16;
    c->f.vkGetPhysicalDeviceQueueFamilyProperties(c->phys, &nq, qf);
    int fam = -1;
    for (uint32_t i = 0; i < nq && fam < 0; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) fam = (int)i;
    if (fam < 0) {
        st = esft_errf(err, ESFT_ERR_DEVICE, "vulkan: %s has no compute queue", name);
        goto fail;
    }
    c->qfam = (uint32_t)fam;
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                  .queueFamilyIndex = c->qfam,
                                  .queueCount = 1,
                                  .pQueuePriorities = &prio};
    VkPhysicalDeviceFeatures want = {0};
    want.shaderFloat64 = c->fp64 ? VK_TRUE : VK_FALSE;
    const char *exts[] = {VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME};
    VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                             .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &qi,
                             .enabledExtensionCount = 1,
                             .ppEnabledExtensionNames = exts,
                             .pEnabledFeatures = &want};
    r = c->f.vkCreateDevice(c->phys, &di, NULL, &c->dev);
    if (r != VK_SUCCESS) {
        c->dev = VK_NULL_HANDLE;
        st = esft_errf(err, ESFT_ERR_DEVICE, "vulkan: vkCreateDevice on %s: %s", name,
                       esft_vk_result_str(r));
        goto fail;
    }
#define ESFT_VK_LOAD(fn) c->f.fn = (PFN_##fn)c->f.vkGetDeviceProcAddr(c->dev, #fn);
    ESFT_VK_DEVICE_FNS(ESFT_VK_LOAD)
#undef ESFT_VK_LOAD
#define ESFT_VK_CHECK(fn)                                                                           \
    if (!c->f.fn) {                                                                                 \
        st = esft_errf(err, ESFT_ERR_DEVICE, "vulkan: %s: entry point %s missing", name, #fn);      \
        goto fail;                                                                                  \
    }
    ESFT_VK_DEVICE_FNS(ESFT_VK_CHECK)
#undef ESFT_VK_CHECK
    c->f.vkGetDeviceQueue(c->dev, c->qfam, 0, &c->queue);
    c->f.vkGetPhysicalDeviceMemoryProperties(c->phys, &c->mem);
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = c->qfam};
    r = c->f.vkCreateCommandPool(c->dev, &pci, NULL, &c->pool);
    if (r == VK_SUCCESS) {
        VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                          .commandPool = c->pool,
                                          .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                          .commandBufferCount = 1};
        r = c->f.vkAllocateCommandBuffers(c->dev, &ai, &c->cmd);
    }
    if (r == VK_SUCCESS) {
        VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        r = c->f.vkCreateFence(c->dev, &fi, NULL, &c->fence);
    }
    VkDescriptorSetLayoutBinding lb[N_BINDINGS];
    for (int i = 0; i < N_BINDINGS; i++)
        lb[i] = (VkDescriptorSetLayoutBinding){.binding = (uint32_t)i,
                                               .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                               .descriptorCount = 1,
                                               .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    if (r == VK_SUCCESS) {
        VkDescriptorSetLayoutCreateInfo li = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
            .flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR,
            .bindingCount = N_BINDINGS,
            .pBindings = lb};
        r = c->f.vkCreateDescriptorSetLayout(c->dev, &li, NULL, &c->dsl);
    }
    if (r == VK_SUCCESS) {
        VkPushConstantRange pr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, PC_BYTES};
        VkPipelineLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                         .setLayoutCount = 1,
                                         .pSetLayouts = &c->dsl,
                                         .pushConstantRangeCount = 1,
                                         .pPushConstantRanges = &pr};
        r = c->f.vkCreatePipelineLayout(c->dev, &li, NULL, &c->layout);
    }
    if (r == VK_SUCCESS) {
        memcpy(c->cache_uuid, p->pipelineCacheUUID, VK_UUID_SIZE);
        size_t len = 0;
        void *data = esft_vk_cache_load(c->cache_uuid, &len);
        VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                        .initialDataSize = len,
                                        .pInitialData = data};
        r = c->f.vkCreatePipelineCache(c->dev, &ci, NULL, &c->cache);
        if (r != VK_SUCCESS && data) { /* unusable data: start empty */
            ci.initialDataSize = 0;
            ci.pInitialData = NULL;
            r = c->f.vkCreatePipelineCache(c->dev, &ci, NULL, &c->cache);
        }
        free(data);
    }
    if (r == VK_SUCCESS) r = make_buffer(c, STAGING_BYTES, true, &c->staging);
    if (r == VK_SUCCESS) r = make_buffer(c, ARENA_MIN, true, &c->arena);
    if (r != VK_SUCCESS) {
        st = esft_errf(err, ESFT_ERR_DEVICE, "vulkan: setting up %s: %s", name,
                       esft_vk_result_str(r));
        goto fail;
    }
    be->ops = &vk_ops;
    be->ctx = c;
    be->kind = "vulkan";
    snprintf(be->device_name, sizeof be->device_name, "%.90s (Vulkan %s, subgroup %u)", name,
             p->deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? "CPU" : "GPU", c->subgroup_size);
    be->work_dtype = ESFT_F32;
    be->n_threads = 1;
    *out = be;
    return ESFT_OK;
fail:
    ctx_release(c);
    free(be);
    return st;
}
