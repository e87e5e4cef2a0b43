/* The backend registry: which backends this binary was built with, which
 * devices each one sees, and how `--backend auto` picks one. */
#ifndef ESFT_REGISTRY_H
#define ESFT_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

typedef struct esft_device_info {
    const char *backend;   /* "cpu", "opencl", ... */
    int index;             /* index among that backend's devices */
    char name[128];
    bool is_gpu;
    uint64_t memory_bytes; /* 0 if unknown */
    char pci_id[32];       /* "0000:65:00.0" or "" */
    int rank;              /* lower is preferred by auto */
    /* what the driver tells of the device, for reports (0 / "" if unknown) */
    uint16_t pci_vendor, pci_device; /* PCI ids, [10de:2330] */
    int compute_units;     /* SMs, compute units, or the CPU's cores */
    int clock_mhz;         /* the highest clock */
    char driver[192];      /* driver and library versions: "PoCL 3.1 ...; CLBlast 1.5.3" */
} esft_device_info;

/* Kinds of device a backend may drive (esft_backend_driver.kinds). */
enum { ESFT_KIND_CPU = 1u << 0, ESFT_KIND_GPU = 1u << 1, ESFT_KIND_ACCEL = 1u << 2 };

/* Claims any PCI GPU whose vendor no backend names (esft_backend_driver.vendors). */
#define ESFT_VENDOR_ANY 0xFFFFu

/* Everything esft knows of one backend. Each backend defines its driver in
 * its folder (<name>/<name>_driver.c, compiled into every build) and joins
 * the registry with one line of ESFT_BACKENDS in registry.c. A backend left
 * out of the build keeps its description, so that --backend and auto can say
 * that it is not built; its entry points are then NULL. */
typedef struct esft_backend_driver {
    const char *name;         /* what --backend takes: "cuda" */
    const char *about;        /* one line: the devices it drives and how */
    unsigned kinds;           /* ESFT_KIND_* of the devices it may list */
    /* PCI vendor ids of the GPUs and accelerators it claims for auto (0
     * ends the list early); ESFT_VENDOR_ANY: every vendor no backend names */
    uint16_t vendors[4];
    /* auto's preference among the backends claiming a PCI GPU: lower first */
    int preference;
    /* Fills up to max devices; returns the count (>= 0), or -1 with a reason
     * in err when the API is unusable here (no driver, no platform ...).
     * NULL when the backend is not built. */
    int (*enumerate)(esft_device_info *out, int max, esft_err *err);
    /* NULL when the backend is not built. */
    esft_status (*create)(const esft_backend_options *opts, esft_backend **out, esft_err *err);
} esft_backend_driver;

/* The backends built into this binary, in registry order. */
int esft_registry_n_drivers(void);
const esft_backend_driver *esft_registry_driver(int i);
const esft_backend_driver *esft_registry_find(const char *name); /* NULL if not built */

/* Every backend esft knows of, built or not, in registry order. */
int esft_registry_n_known(void);
const esft_backend_driver *esft_registry_known(int i);
const esft_backend_driver *esft_registry_lookup(const char *name); /* NULL if unknown */
static inline bool esft_driver_built(const esft_backend_driver *d) { return d && d->create; }

/* Names a user may pass to --backend, built or not (for messages). */
bool esft_backend_name_known(const char *name);

/* "auto|cpu|vulkan" (built backends only, when built_only) with `sep`
 * between names and `last` before the final one ("auto, cpu or vulkan"). */
void esft_registry_names(char *buf, size_t cap, bool built_only, const char *sep,
                         const char *last);

/* Whether the driver claims a PCI device of this vendor for auto. */
bool esft_driver_claims(const esft_backend_driver *d, uint16_t vendor_id);

/* One place in auto's order, or a device auto cannot use (order < 0). */
typedef struct esft_ranked_device {
    esft_device_info info; /* info.backend names the backend even when it is not
                            * built; info.index is -1 for entries without a device */
    int order;             /* 0: auto tries it first; -1: auto cannot use it */
    bool picked;           /* ESFT_RANK_PROBE: the device auto opens */
    char hwloc[64];        /* "NVIDIA GPU 0000:65:00.0 [10de:2330]", "" if hwloc did not place it */
    /* why auto cannot use it ("" when usable): a backend's whole error message
     * plus a short prefix such as "does not initialise: " */
    char reason[sizeof(((esft_err *)0)->msg) + 64];
} esft_ranked_device;

/* Also open (and close) the usable devices in order until one initialises;
 * those that fail move to order -1 with the failure as reason. */
#define ESFT_RANK_PROBE 1u

/* Auto's order: the hwloc PCI candidates (esft_hwloc_candidates) whose
 * backend is built and reports the device (matched by PCI id, or by the
 * backend's GPU order when it reports none), then every other device by its
 * rank. After them come the entries auto cannot use: hwloc candidates whose
 * backend is not built, unavailable or lacks the device, and backends whose
 * API is unusable (info.index -1, info.name ""). Returns the number of
 * entries written (at most max). */
int esft_registry_rank(esft_ranked_device *out, int max, unsigned flags);

/* Opens a backend by name. opts->device_index picks the device: for a named
 * backend its index among that backend's devices (< 0: device 0); for
 * "auto", < 0 lets auto pick (the first device in esft_registry_rank's order
 * that initialises), >= 0 is that index among the devices of the backend
 * auto ranks first (as MPI rank placement counts it). An index out of range
 * fails, naming the backend and its device count. */
esft_status esft_backend_open(const char *name, const esft_backend_options *opts,
                              esft_backend **out, esft_err *err);
/* The same, also describing the opened device in *info (when not NULL). */
esft_status esft_backend_open_device(const char *name, const esft_backend_options *opts,
                                     esft_backend **out, esft_device_info *info, esft_err *err);

#endif
