/* What hwloc sees on the PCI bus, as backend candidates for `--backend auto`.
 *
 * Display controllers (PCI class 0x03xx) and processing accelerators
 * (0x12xx) become candidates of the backends whose drivers claim their PCI
 * vendor (esft_driver_claims: cuda claims NVIDIA 0x10de; vulkan and opencl
 * every vendor no backend names), built or not, so that auto can say what
 * a build lacks. Debian's hwloc has no CUDA or OpenCL OS-device plugins, so
 * the PCI vendor is what counts, and hwloc never reports CPU OpenCL devices:
 * CPUs come from the backends' enumerate().
 * HWLOC_XMLFILE=topology.xml replaces the machine (tests use this). */
#ifndef ESFT_HWLOC_RANK_H
#define ESFT_HWLOC_RANK_H

#include <stdint.h>

#include "status.h"

typedef struct esft_hw_candidate {
    const char *backend;   /* the claiming driver's name */
    char pci_id[32];       /* "dddd:bb:dd.f", lower-case hex */
    uint16_t vendor_id, device_id, class_id;
    const char *vendor;    /* "NVIDIA", "AMD", "Intel" or "PCI" */
    const char *kind;      /* "GPU" (class 0x03xx) or "accelerator" (0x12xx) */
} esft_hw_candidate;

/* Fills up to max candidates in auto's order (each backend's candidates in
 * the order of the drivers' preference; bus order within each) and returns
 * how many there are (may exceed max), or -1 with a reason in err when the
 * topology cannot be loaded or esft was built without hwloc. */
int esft_hwloc_candidates(esft_hw_candidate *out, int max, esft_err *err);

/* "NVIDIA GPU 0000:65:00.0 [10de:2330]" */
void esft_hw_candidate_describe(const esft_hw_candidate *c, char *buf, size_t cap);

#endif
