/* The compiled-in backends and the choice behind `--backend auto`.
 *
 * A backend joins esft by adding its driver to `drivers` below (guarded by
 * its build option). `auto` asks every driver for its devices, orders them by
 * rank (GPUs first, CPUs last) and opens the first one that initialises. */
#include "registry.h"

#include <stdio.h>
#include <string.h>

#include "cpu/cpu_backend.h"
#ifdef ESFT_HAVE_OPENCL
#include "opencl/opencl_backend.h"
#endif

static const esft_backend_driver *const drivers[] = {
    &esft_cpu_driver,
#ifdef ESFT_HAVE_OPENCL
    &esft_opencl_driver,
#endif
};

static const char *const known_names[] = {"auto", "cpu", "cuda", "vulkan", "opencl"};

int esft_registry_n_drivers(void) { return (int)(sizeof drivers / sizeof drivers[0]); }

const esft_backend_driver *esft_registry_driver(int i) {
    return (i >= 0 && i < esft_registry_n_drivers()) ? drivers[i] : NULL;
}

const esft_backend_driver *esft_registry_find(const char *name) {
    for (int i = 0; i < esft_registry_n_drivers(); i++)
        if (strcmp(drivers[i]->name, name) == 0) return drivers[i];
    return NULL;
}

bool esft_backend_name_known(const char *name) {
    for (size_t i = 0; i < sizeof known_names / sizeof known_names[0]; i++)
        if (strcmp(known_names[i], name) == 0) return true;
    return false;
}

#define MAX_DEVICES 16

typedef struct candidate {
    const esft_backend_driver *driver;
    esft_device_info info;
} candidate;

/* Appends "; name: why" to a bounded list of reasons (truncating quietly). */
static void append_reason(char *buf, size_t cap, const char *name, const char *why) {
    const char *parts[] = {buf[0] ? "; " : "", name, ": ", why};
    size_t used = strlen(buf);
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++)
        for (const char *c = parts[p]; *c && used + 1 < cap; c++) buf[used++] = *c;
    buf[used] = '\0';
}

static esft_status open_auto(const esft_backend_options *opts, esft_backend **out, esft_err *err) {
    candidate cands[MAX_DEVICES * 4];
    int n = 0;
    char reasons[384] = "";
    for (int d = 0; d < esft_registry_n_drivers(); d++) {
        esft_device_info infos[MAX_DEVICES];
        esft_err e = {{0}};
        int k = drivers[d]->enumerate(infos, MAX_DEVICES, &e);
        if (k < 0) {
            append_reason(reasons, sizeof reasons, drivers[d]->name, e.msg);
            continue;
        }
        for (int i = 0; i < k && n < (int)(sizeof cands / sizeof cands[0]); i++)
            cands[n++] = (candidate){drivers[d], infos[i]};
    }
    /* stable insertion sort by rank */
    for (int i = 1; i < n; i++) {
        candidate c = cands[i];
        int j = i - 1;
        while (j >= 0 && cands[j].info.rank > c.info.rank) {
            cands[j + 1] = cands[j];
            j--;
        }
        cands[j + 1] = c;
    }
    for (int i = 0; i < n; i++) {
        esft_backend_options o = opts ? *opts : (esft_backend_options){0};
        o.device_index = cands[i].info.index;
        esft_err e = {{0}};
        if (cands[i].driver->create(&o, out, &e) == ESFT_OK) return ESFT_OK;
        append_reason(reasons, sizeof reasons, cands[i].driver->name, e.msg);
    }
    return esft_errf(err, ESFT_ERR_DEVICE, "--backend auto: no usable device (%s)",
                     reasons[0] ? reasons : "none found");
}

esft_status esft_backend_open(const char *name, const esft_backend_options *opts,
                              esft_backend **out, esft_err *err) {
    *out = NULL;
    if (!name || strcmp(name, "auto") == 0) return open_auto(opts, out, err);
    const esft_backend_driver *d = esft_registry_find(name);
    if (!d) {
        if (esft_backend_name_known(name))
            return esft_errf(err, ESFT_ERR_UNSUPPORTED,
                             "--backend %s: this esft was built without the %s backend", name, name);
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "--backend %s: unknown backend (expected auto, cpu, cuda, vulkan or opencl)",
                         name);
    }
    esft_device_info infos[MAX_DEVICES];
    esft_err e = {{0}};
    int k = d->enumerate(infos, MAX_DEVICES, &e);
    if (k < 0) return esft_errf(err, ESFT_ERR_DEVICE, "--backend %s: unavailable: %s", name, e.msg);
    if (k == 0) return esft_errf(err, ESFT_ERR_DEVICE, "--backend %s: no devices found", name);
    int idx = opts ? opts->device_index : 0;
    if (idx < 0 || idx >= k)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "--backend %s: device %d out of range (0..%d)",
                         name, idx, k - 1);
    esft_status st = d->create(opts, out, &e);
    if (st != ESFT_OK) return esft_errf(err, st, "--backend %s: %s", name, e.msg);
    return ESFT_OK;
}
