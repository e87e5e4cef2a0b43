/* PCI GPUs and accelerators from the hwloc topology, as backend candidates.
 * hwloc is optional (ESFT_HWLOC): without it there are no candidates and
 * the registry ranks each backend's own devices, which is all a machine
 * with one kind of GPU needs. */
#include "hwloc_rank.h"

#include "registry.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ESFT_HAVE_HWLOC

int esft_hwloc_candidates(esft_hw_candidate *out, int max, esft_err *err) {
    (void)out, (void)max;
    esft_errf(err, ESFT_ERR_DEVICE,
              "esft was built without hwloc: PCI GPUs are not listed, auto ranks each "
              "backend's own devices");
    return -1;
}

#else

#include <hwloc.h>

#define MAX_PCI_GPUS 64

static const char *vendor_name(uint16_t v) {
    switch (v) {
    case 0x10de: return "NVIDIA";
    case 0x1002: return "AMD";
    case 0x8086: return "Intel";
    default: return "PCI";
    }
}

int esft_hwloc_candidates(esft_hw_candidate *out, int max, esft_err *err) {
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) {
        esft_errf(err, ESFT_ERR_DEVICE, "hwloc: cannot initialise a topology");
        return -1;
    }
    /* PCI devices are dropped by default; keep them all (the class filter
     * below decides). HWLOC_XMLFILE, when set, is honoured by load(). */
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_ALL);
    if (hwloc_topology_load(topo) != 0) {
        const char *xml = getenv("HWLOC_XMLFILE");
        esft_errf(err, ESFT_ERR_DEVICE, "hwloc: cannot load the topology%s%s", xml ? " from " : "",
                  xml ? xml : "");
        hwloc_topology_destroy(topo);
        return -1;
    }
    esft_hw_candidate gpus[MAX_PCI_GPUS];
    int n_gpus = 0;
    for (hwloc_obj_t o = hwloc_get_next_pcidev(topo, NULL); o && n_gpus < MAX_PCI_GPUS;
         o = hwloc_get_next_pcidev(topo, o)) {
        const struct hwloc_pcidev_attr_s *p = &o->attr->pcidev;
        unsigned base = (p->class_id >> 8) & 0xFFu;
        if (base != 0x03 && base != 0x12) continue;
        esft_hw_candidate *c = &gpus[n_gpus++];
        memset(c, 0, sizeof *c);
        snprintf(c->pci_id, sizeof c->pci_id, "%04x:%02x:%02x.%x", (unsigned)p->domain & 0xFFFFu,
                 (unsigned)p->bus, (unsigned)p->dev & 0x1Fu, (unsigned)p->func & 0x7u);
        c->vendor_id = p->vendor_id;
        c->device_id = p->device_id;
        c->class_id = p->class_id;
        c->vendor = vendor_name(p->vendor_id);
        c->kind = base == 0x03 ? "GPU" : "accelerator";
    }
    hwloc_topology_destroy(topo);

    /* hwloc walks PCI in bus order; emit each backend's claims in auto's
     * order of preference (ties: registry order) */
    const esft_backend_driver *by_pref[16];
    int n_drv = 0;
    for (int i = 0; i < esft_registry_n_known() && n_drv < 16; i++) {
        const esft_backend_driver *d = esft_registry_known(i);
        int j = n_drv++;
        for (; j > 0 && by_pref[j - 1]->preference > d->preference; j--)
            by_pref[j] = by_pref[j - 1];
        by_pref[j] = d;
    }
    int n = 0;
    for (int t = 0; t < n_drv; t++)
        for (int i = 0; i < n_gpus; i++) {
            if (!esft_driver_claims(by_pref[t], gpus[i].vendor_id)) continue;
            if (n < max) {
                out[n] = gpus[i];
                out[n].backend = by_pref[t]->name;
            }
            n++;
        }
    return n;
}

#endif /* ESFT_HAVE_HWLOC */

void esft_hw_candidate_describe(const esft_hw_candidate *c, char *buf, size_t cap) {
    snprintf(buf, cap, "%s %s %s [%04x:%04x]", c->vendor, c->kind, c->pci_id, c->vendor_id,
             c->device_id);
}
