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
} esft_device_info;

/* One compiled-in backend. A backend joins esft by adding one entry to the
 * table in registry.c. */
typedef struct esft_backend_driver {
    const char *name;
    /* Fills up to max devices; returns the count (>= 0), or -1 with a reason
     * in err when the API is unusable here (no driver, no platform ...). */
    int (*enumerate)(esft_device_info *out, int max, esft_err *err);
    esft_status (*create)(const esft_backend_options *opts, esft_backend **out, esft_err *err);
} esft_backend_driver;

int esft_registry_n_drivers(void);
const esft_backend_driver *esft_registry_driver(int i);
const esft_backend_driver *esft_registry_find(const char *name); /* NULL if not built */

/* Names a user may pass to --backend, built or not (for messages). */
bool esft_backend_name_known(const char *name);

/* Opens a backend by name ("auto" ranks every device). */
esft_status esft_backend_open(const char *name, const esft_backend_options *opts,
                              esft_backend **out, esft_err *err);

#endif
