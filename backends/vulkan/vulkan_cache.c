/* The vulkan backend's on-disk pipeline cache.
 *
 * The VkPipelineCache of a context starts from
 * $ESFT_CACHE_DIR (else $XDG_CACHE_HOME/esft, else ~/.cache/esft)/
 * vulkan-<pipelineCacheUUID>.bin and is written back (to a temporary name,
 * then renamed, so concurrent processes never read half a file) when the
 * context that compiled new pipelines is destroyed. The driver checks the
 * header (vendor, device, cache UUID) and ignores data it cannot use, so a
 * stale or foreign file only costs a compile. */
#include "vulkan_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/atomic_file.h"
#include "../util/esft_fs.h"

static bool cache_path(const uint8_t uuid[VK_UUID_SIZE], char *out, size_t cap) {
    char dir[900];
    if (!esft_cache_dir(dir, sizeof dir)) return false;
    char hex[2 * VK_UUID_SIZE + 1];
    for (unsigned i = 0; i < VK_UUID_SIZE; i++) snprintf(hex + 2 * i, 3, "%02x", uuid[i]);
    snprintf(out, cap, "%s/vulkan-%s.bin", dir, hex);
    return true;
}

void *esft_vk_cache_load(const uint8_t uuid[VK_UUID_SIZE], size_t *len) {
    *len = 0;
    char path[1024];
    if (!cache_path(uuid, path, sizeof path)) return NULL;
    /* a pipeline cache is a few MiB: a bigger file is not ours */
    char *buf = esft_read_file(path, (size_t)64 << 20, len);
    if (buf && *len == 0) free(buf), buf = NULL;
    return buf;
}

void esft_vk_cache_save(vk_ctx *c, const uint8_t uuid[VK_UUID_SIZE]) {
    size_t sz = 0;
    if (!c->cache || c->f.vkGetPipelineCacheData(c->dev, c->cache, &sz, NULL) != VK_SUCCESS ||
        sz == 0)
        return;
    void *data = malloc(sz);
    char path[1024];
    if (data && c->f.vkGetPipelineCacheData(c->dev, c->cache, &sz, data) == VK_SUCCESS &&
        cache_path(uuid, path, sizeof path)) {
        (void)esft_atomic_write(path, data, sz, NULL); /* a cache: failing to save it costs a rebuild */
    }
    free(data);
}
