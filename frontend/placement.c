#include "placement.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "registry.h"

#ifdef ESFT_HAVE_HWLOC
#include <hwloc.h>
#endif

#define MAX_LISTED 32

void esft_core_share(int n_cores, int lr, int ls, int *first, int *count) {
    if (n_cores < 1 || ls < 1 || lr < 0) {
        *first = 0, *count = n_cores > 0 ? n_cores : 0;
        return;
    }
    if (ls >= n_cores) { /* oversubscribed: one core each, round robin */
        *first = lr % n_cores, *count = 1;
        return;
    }
    const int base = n_cores / ls, extra = n_cores % ls;
    *first = lr * base + (lr < extra ? lr : extra);
    *count = base + (lr < extra ? 1 : 0);
}

/* auto's first usable device fixes the backend; its usable devices of the
 * same kind (GPU or not) are the ones ranks share, so that a CPU Vulkan
 * device listed after the GPUs is never handed to a rank. */
static int place_auto(int device, int lr, esft_placement *out, char *msg, size_t cap) {
    esft_ranked_device ranked[MAX_LISTED];
    int n = esft_registry_rank(ranked, MAX_LISTED, 0), same[MAX_LISTED], n_same = 0;
    const esft_ranked_device *top = NULL;
    for (int i = 0; i < n; i++) {
        if (ranked[i].order < 0) continue;
        if (!top) top = &ranked[i];
        if (!strcmp(ranked[i].info.backend, top->info.backend) && ranked[i].info.is_gpu == top->info.is_gpu)
            same[n_same++] = i;
    }
    if (!top) return snprintf(msg, cap, "--backend auto: no usable device"), -1;
    snprintf(out->backend, sizeof out->backend, "%s", top->info.backend);
    if (device >= 0) { /* an explicit index counts within the chosen backend */
        out->device = device;
        for (int i = 0; i < n_same; i++)
            if (ranked[same[i]].info.index == device)
                snprintf(out->pci_id, sizeof out->pci_id, "%s", ranked[same[i]].info.pci_id);
        return 0;
    }
    const esft_device_info *d = &ranked[same[lr % n_same]].info;
    out->device = d->index;
    snprintf(out->pci_id, sizeof out->pci_id, "%s", d->pci_id);
    return 0;
}

/* A named backend: its own device list. A backend that is not built or
 * finds no device is left for the open call to report. */
static void place_named(const char *backend, int device, int lr, esft_placement *out) {
    snprintf(out->backend, sizeof out->backend, "%s", backend);
    out->device = device >= 0 ? device : 0;
    const esft_backend_driver *drv = esft_registry_find(backend);
    if (!drv) return;
    esft_device_info infos[MAX_LISTED];
    esft_err e = {{0}};
    int k = drv->enumerate(infos, MAX_LISTED, &e);
    if (k <= 0) return;
    if (k > MAX_LISTED) k = MAX_LISTED;
    if (device < 0) out->device = lr % k;
    if (out->device < k) snprintf(out->pci_id, sizeof out->pci_id, "%s", infos[out->device].pci_id);
}

#ifdef ESFT_HAVE_HWLOC
/* The cores near the device: its nearest non-I/O ancestor's cpuset, or,
 * without PCI locality, this rank's even share of the node's cores. */
static hwloc_bitmap_t cores_for(hwloc_topology_t topo, const esft_placement *p, int lr, int ls) {
    if (p->pci_id[0]) {
        hwloc_obj_t pci = hwloc_get_pcidev_by_busidstring(topo, p->pci_id);
        hwloc_obj_t near = pci ? hwloc_get_non_io_ancestor_obj(topo, pci) : NULL;
        if (near && near->cpuset) return hwloc_bitmap_dup(near->cpuset);
    }
    int n_cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE), first, count;
    if (n_cores <= 0) return NULL;
    esft_core_share(n_cores, lr, ls, &first, &count);
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    for (int i = first; set && i < first + count; i++) {
        hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, (unsigned)i);
        if (core && core->cpuset) hwloc_bitmap_or(set, set, core->cpuset);
    }
    return set;
}

/* Binding is a speed matter, never a correctness one: a failure is a
 * warning in msg, and the rank runs unbound. */
static void bind_rank(esft_placement *p, int lr, int ls, char *msg, size_t cap) {
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) {
        snprintf(msg, cap, "hwloc: cannot initialise a topology; not binding to cores");
        return;
    }
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_ALL);
    hwloc_bitmap_t set = NULL;
    if (hwloc_topology_load(topo) == 0) set = cores_for(topo, p, lr, ls);
    if (!set || hwloc_bitmap_iszero(set)) {
        snprintf(msg, cap, "hwloc: no cores found; not binding to cores");
    } else if (hwloc_set_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) != 0) {
        snprintf(msg, cap, "hwloc: binding to cores failed (%s); running unbound", strerror(errno));
    } else {
        hwloc_bitmap_list_snprintf(p->cpuset, sizeof p->cpuset, set);
        p->n_pus = hwloc_bitmap_weight(set);
    }
    hwloc_bitmap_free(set);
    hwloc_topology_destroy(topo);
}
#else
static void bind_rank(esft_placement *p, int lr, int ls, char *msg, size_t cap) {
    (void)p, (void)lr, (void)ls;
    snprintf(msg, cap, "esft was built without hwloc; not binding to cores");
}
#endif

int esft_place_rank(const char *backend, int device, int lr, int ls, bool bind, esft_placement *out,
                    char *msg, size_t cap) {
    memset(out, 0, sizeof *out);
    if (cap) msg[0] = '\0';
    if (!backend) backend = "auto";
    if (ls <= 1) { /* a lone process: exactly the single-process choice (auto: its own pick) */
        snprintf(out->backend, sizeof out->backend, "%s", backend);
        out->device = device >= 0 ? device : strcmp(backend, "auto") == 0 ? -1 : 0;
        return 0;
    }
    if (!strcmp(backend, "auto")) {
        if (place_auto(device, lr, out, msg, cap)) return -1;
    } else {
        place_named(backend, device, lr, out);
    }
    if (bind) bind_rank(out, lr, ls, msg, cap);
    return 0;
}

void esft_placement_describe(const esft_placement *p, char *buf, size_t cap) {
    char pci[48] = " (no PCI)";
    if (p->pci_id[0]) snprintf(pci, sizeof pci, " at %s", p->pci_id);
    if (p->cpuset[0])
        snprintf(buf, cap, "%s device %d%s, cpus %s", p->backend, p->device, pci, p->cpuset);
    else
        snprintf(buf, cap, "%s device %d%s, not bound to cpus", p->backend, p->device, pci);
}
