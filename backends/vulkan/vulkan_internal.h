/* Private to the vulkan backend: loader table, context, pipelines. */
#ifndef ESFT_VULKAN_INTERNAL_H
#define ESFT_VULKAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "vulkan_backend.h"

/* Entry points, resolved through vkGetInstanceProcAddr / vkGetDeviceProcAddr
 * (no global state: each context holds its own table). */
#define ESFT_VK_INSTANCE_FNS(X)                                                                   \
    X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties)           \
    X(vkGetPhysicalDeviceProperties2) X(vkGetPhysicalDeviceFeatures)                              \
    X(vkGetPhysicalDeviceQueueFamilyProperties) X(vkGetPhysicalDeviceMemoryProperties)            \
    X(vkEnumerateDeviceExtensionProperties) X(vkCreateDevice) X(vkGetDeviceProcAddr)

#define ESFT_VK_DEVICE_FNS(X)                                                                     \
    X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkCreateBuffer) X(vkDestroyBuffer)                   \
    X(vkGetBufferMemoryRequirements) X(vkAllocateMemory) X(vkFreeMemory) X(vkBindBufferMemory)    \
    X(vkMapMemory) X(vkUnmapMemory) X(vkCreateCommandPool) X(vkDestroyCommandPool)                \
    X(vkAllocateCommandBuffers) X(vkBeginCommandBuffer) X(vkEndCommandBuffer)                     \
    X(vkResetCommandBuffer) X(vkCmdCopyBuffer) X(vkCmdPipelineBarrier) X(vkCmdBindPipeline)      \
    X(vkCmdDispatch) X(vkCmdPushConstants) X(vkCmdPushDescriptorSetKHR) X(vkQueueSubmit)          \
    X(vkCreateFence) X(vkDestroyFence) X(vkWaitForFences) X(vkResetFences)                        \
    X(vkCreateShaderModule) X(vkDestroyShaderModule) X(vkCreateDescriptorSetLayout)               \
    X(vkDestroyDescriptorSetLayout) X(vkCreatePipelineLayout) X(vkDestroyPipelineLayout)          \
    X(vkCreatePipelineCache) X(vkDestroyPipelineCache) X(vkCreateComputePipelines)                \
    X(vkDestroyPipeline) X(vkDeviceWaitIdle) X(vkGetPipelineCacheData)

typedef struct vk_fns {
    void *lib;
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    PFN_vkCreateInstance vkCreateInstance;
    PFN_vkEnumerateInstanceVersion vkEnumerateInstanceVersion;
#define ESFT_VK_DECL(name) PFN_##name name;
    ESFT_VK_INSTANCE_FNS(ESFT_VK_DECL)
    ESFT_VK_DEVICE_FNS(ESFT_VK_DECL)
#undef ESFT_VK_DECL
} vk_fns;

/* Pipelines: one per shader variant. */
typedef enum vk_pid {
    P_PHILOX = 0,
    P_NOISE,
    P_PERTURB,
    P_ES_UPDATE,
    P_ES_OPTIMIZE,
    P_SCALE,
    P_ADD,
    P_SWIGLU,
    P_GEGLU,
    P_ADD_BIAS,
    P_GET_ROWS,
    P_RMSNORM,
    P_ROPE,
    P_ROPE_F64,
    P_KV_STORE,
    P_ATTENTION,
    P_ARGMAX,
    P_MATMUL,
    P_MATMUL_NAIVE,
    P_GEMV,
    P_GEMV8,
    P_LOWRANK_MATMUL,
    P_LOWRANK_ROWS,
    P_LOWRANK_UPDATE,
    P_COUNT
} vk_pid;

typedef struct vkbuf {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    void *map; /* host-visible buffers only */
} vkbuf;

enum { VK_MATMUL_AUTO = 0, VK_MATMUL_NAIVE, VK_MATMUL_TILED };

typedef struct vk_ctx {
    vk_fns f;
    VkInstance inst;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t qfam;
    VkPhysicalDeviceMemoryProperties mem;
    VkCommandPool pool;
    VkCommandBuffer cmd;
    VkFence fence;
    bool recording;
    int n_recorded;          /* dispatches/copies in the open command buffer */
    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    VkPipelineCache cache;
    VkPipeline pipe[P_COUNT];
    bool new_pipelines;      /* compiled since the cache was loaded */
    uint8_t cache_uuid[VK_UUID_SIZE];
    uint32_t max_groups_x, max_groups_y;
    uint32_t subgroup_size;
    bool subgroup_arith;     /* subgroupAdd in compute shaders */
    bool fp64;
    uint32_t ls_reduce;      /* work-group size of the per-row reductions */
    VkDeviceSize align;      /* minStorageBufferOffsetAlignment */
    VkDeviceSize max_range;  /* maxStorageBufferRange: the largest bindable buffer */
    int matmul_mode;
    vkbuf staging;           /* host-visible, for upload / download */
    vkbuf arena;             /* host-visible per-batch side inputs */
    VkDeviceSize arena_used;
    vkbuf scratch;           /* attention scores */
} vk_ctx;

static inline vk_ctx *vk_ctx_of(esft_backend *be) { return (vk_ctx *)be->ctx; }

/* A storage-buffer binding of a dispatch. */
typedef struct vk_bind {
    VkBuffer buf;
    VkDeviceSize off, range;
} vk_bind;

const char *esft_vk_result_str(VkResult r);
esft_status esft_vk_fail(esft_backend *be, const char *what, VkResult r);

/* Records a dispatch of pipeline `pid` over `groups` work-groups (split into
 * a 2D grid when above the device's x limit; shaders use esft_group()), or
 * over gx x gy groups when gy > 0, followed by a full compute/transfer
 * barrier. */
esft_status esft_vk_dispatch(esft_backend *be, vk_pid pid, const vk_bind *binds, int n_binds,
                             const void *pc, uint32_t pc_size, uint64_t groups, uint32_t gy);
/* Copies `bytes` of side input into the per-batch arena (valid until the
 * batch is submitted); *out is the binding. */
esft_status esft_vk_arena(esft_backend *be, const void *data, size_t bytes, vk_bind *out);
/* A device scratch buffer of at least `bytes` (waits for queued work when it
 * has to grow). */
esft_status esft_vk_scratch(esft_backend *be, size_t bytes, vk_bind *out);
/* On-disk pipeline cache (vulkan_cache.c): the saved data for this cache
 * UUID (caller frees; NULL if none) and writing the context's cache back. */
void *esft_vk_cache_load(const uint8_t uuid[VK_UUID_SIZE], size_t *len);
void esft_vk_cache_save(vk_ctx *c, const uint8_t uuid[VK_UUID_SIZE]);
/* Submits the recorded batch and waits for it. */
esft_status esft_vk_flush(esft_backend *be);

static inline vk_bind esft_vk_bind_of(const esft_buf *b) {
    const vkbuf *v = (const vkbuf *)b->handle;
    return (vk_bind){v->buf, 0, VK_WHOLE_SIZE};
}

/* The ops (vulkan_ops.c), with backend.h's signatures. */
ESFT_DECLARE_OPS(esft_vk)

#endif
