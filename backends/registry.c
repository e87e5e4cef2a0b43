/* The backends esft knows of and the choice behind `--backend auto`.
 *
 * A backend joins esft with one line in ESFT_BACKENDS below: its driver
 * (<name>/<name>_driver.c) says what it is, which PCI vendors it claims and
 * whether this build has it. `auto` asks hwloc which GPUs sit on the PCI bus
 * and every built driver for its devices, orders them (esft_registry_rank:
 * hwloc's candidates first, then by rank, CPUs last) and opens the first one
 * that initialises. */
#include "registry.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hwloc_rank.h"

/* One line per backend, in registry order (which breaks ties in auto's
 * ranking and orders listings). */
#define ESFT_BACKENDS(X) \
    X(cpu)               \
    X(cuda)              \
    X(vulkan)            \
    X(opencl)

#define ESFT_DRIVER_DECL(name) extern const esft_backend_driver esft_##name##_driver;
ESFT_BACKENDS(ESFT_DRIVER_DECL)
#undef ESFT_DRIVER_DECL

#define ESFT_DRIVER_REF(name) &esft_##name##_driver,
static const esft_backend_driver *const known[] = {ESFT_BACKENDS(ESFT_DRIVER_REF)};
#undef ESFT_DRIVER_REF

#define N_KNOWN ((int)(sizeof known / sizeof known[0]))

int esft_registry_n_known(void) { return N_KNOWN; }

const esft_backend_driver *esft_registry_known(int i) {
    return (i >= 0 && i < N_KNOWN) ? known[i] : NULL;
}

const esft_backend_driver *esft_registry_lookup(const char *name) {
    for (int i = 0; i < N_KNOWN; i++)
        if (strcmp(known[i]->name, name) == 0) return known[i];
    return NULL;
}

int esft_registry_n_drivers(void) {
    int n = 0;
    for (int i = 0; i < N_KNOWN; i++) n += esft_driver_built(known[i]);
    return n;
}

const esft_backend_driver *esft_registry_driver(int i) {
    for (int k = 0; k < N_KNOWN; k++)
        if (esft_driver_built(known[k]) && i-- == 0) return known[k];
    return NULL;
}

const esft_backend_driver *esft_registry_find(const char *name) {
    const esft_backend_driver *d = esft_registry_lookup(name);
    return esft_driver_built(d) ? d : NULL;
}

bool esft_backend_name_known(const char *name) {
    return strcmp(name, "auto") == 0 || esft_registry_lookup(name) != NULL;
}

void esft_registry_names(char *buf, size_t cap, bool built_only, const char *sep,
                         const char *last) {
    const char *names[N_KNOWN + 1];
    int n = 0;
    names[n++] = "auto";
    for (int i = 0; i < N_KNOWN; i++)
        if (!built_only || esft_driver_built(known[i])) names[n++] = known[i]->name;
    size_t used = 0;
    if (cap) buf[0] = '\0';
    for (int i = 0; i < n && used < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s%s", i == 0 ? "" : i == n - 1 ? last : sep,
                         names[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
}

/* Whether the driver's vendor list holds id (the list ends at its first 0). */
static bool names_vendor(const esft_backend_driver *d, uint16_t id) {
    for (size_t v = 0; v < sizeof d->vendors / sizeof d->vendors[0] && d->vendors[v]; v++)
        if (d->vendors[v] == id) return true;
    return false;
}

bool esft_driver_claims(const esft_backend_driver *d, uint16_t vendor_id) {
    if (vendor_id == 0) return false;
    if (names_vendor(d, vendor_id)) return true;
    if (!names_vendor(d, ESFT_VENDOR_ANY)) return false;
    for (int i = 0; i < N_KNOWN; i++)
        if (names_vendor(known[i], vendor_id)) return false; /* that vendor's own backend */
    return true;
}

#define MAX_DEVICES 16
#define MAX_RANKED 32

/* Appends "; name: why" to a bounded list of reasons (truncating quietly). */
static void append_reason(char *buf, size_t cap, const char *name, const char *why) {
    const char *parts[] = {buf[0] ? "; " : "", name, ": ", why};
    size_t used = strlen(buf);
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++)
        for (const char *c = parts[p]; *c && used + 1 < cap; c++) buf[used++] = *c;
    buf[used] = '\0';
}

typedef struct pool_entry {
    esft_device_info info;
    bool taken;
} pool_entry;

/* An entry auto cannot use, without a device of its own. */
static esft_ranked_device unusable(const char *backend, const char *name, const char *pci,
                                   const char *hw, const char *reason) {
    esft_ranked_device r;
    memset(&r, 0, sizeof r);
    r.info.backend = backend;
    r.info.index = -1;
    r.info.is_gpu = hw != NULL;
    r.info.rank = -1;
    snprintf(r.info.name, sizeof r.info.name, "%s", name);
    snprintf(r.info.pci_id, sizeof r.info.pci_id, "%s", pci);
    snprintf(r.hwloc, sizeof r.hwloc, "%s", hw ? hw : "");
    snprintf(r.reason, sizeof r.reason, "%s", reason);
    r.order = -1;
    return r;
}

int esft_registry_rank(esft_ranked_device *out, int max, unsigned flags) {
    pool_entry pool[MAX_DEVICES * 4];
    int n_pool = 0;
    const esft_backend_driver *drivers[8];
    int n_drv = 0;
    while (n_drv < 8 && (drivers[n_drv] = esft_registry_driver(n_drv))) n_drv++;
    char drv_fail[8][sizeof(((esft_err *)0)->msg)];
    bool drv_ok[8];
    esft_ranked_device usable[MAX_RANKED], bad[MAX_RANKED];
    int n_use = 0, n_bad = 0;

    for (int d = 0; d < n_drv; d++) {
        esft_device_info infos[MAX_DEVICES];
        esft_err e = {{0}};
        int k = drivers[d]->enumerate(infos, MAX_DEVICES, &e);
        drv_ok[d] = k >= 0;
        drv_fail[d][0] = '\0';
        if (k < 0) {
            snprintf(drv_fail[d], sizeof drv_fail[d], "%s", e.msg);
            if (n_bad < MAX_RANKED) {
                char why[sizeof e.msg + 16];
                snprintf(why, sizeof why, "unavailable: %s", e.msg);
                bad[n_bad++] = unusable(drivers[d]->name, "", "", NULL, why);
            }
            continue;
        }
        for (int i = 0; i < k && n_pool < (int)(sizeof pool / sizeof pool[0]); i++) {
            infos[i].backend = drivers[d]->name;
            pool[n_pool++] = (pool_entry){infos[i], false};
        }
    }

    /* hwloc's candidates first, in their order */
    esft_hw_candidate hw[MAX_RANKED];
    esft_err herr = {{0}};
    int n_hw = esft_hwloc_candidates(hw, MAX_RANKED, &herr);
    if (n_hw < 0 && n_bad < MAX_RANKED) bad[n_bad++] = unusable("hwloc", "", "", NULL, herr.msg);
    if (n_hw > MAX_RANKED) n_hw = MAX_RANKED;
    for (int c = 0; c < n_hw; c++) {
        char desc[64], why[sizeof drv_fail[0] + 64];
        esft_hw_candidate_describe(&hw[c], desc, sizeof desc);
        int d = -1;
        for (int i = 0; i < n_drv; i++)
            if (strcmp(drivers[i]->name, hw[c].backend) == 0) d = i;
        char name[128];
        snprintf(name, sizeof name, "%s %s [%04x:%04x]", hw[c].vendor, hw[c].kind, hw[c].vendor_id,
                 hw[c].device_id);
        if (d < 0) {
            snprintf(why, sizeof why, "%s backend not built into this esft", hw[c].backend);
        } else if (!drv_ok[d]) {
            snprintf(why, sizeof why, "%s unavailable: %s", hw[c].backend, drv_fail[d]);
        } else {
            /* the backend's device at this PCI id; if the backend reports no
             * PCI ids, its next GPU in its own order */
            int hit = -1;
            for (int i = 0; i < n_pool && hit < 0; i++)
                if (!pool[i].taken && pool[i].info.backend == drivers[d]->name &&
                    strcasecmp(pool[i].info.pci_id, hw[c].pci_id) == 0)
                    hit = i;
            for (int i = 0; i < n_pool && hit < 0; i++)
                if (!pool[i].taken && pool[i].info.backend == drivers[d]->name &&
                    pool[i].info.is_gpu && !pool[i].info.pci_id[0])
                    hit = i;
            if (hit >= 0) {
                pool[hit].taken = true;
                if (n_use < MAX_RANKED) {
                    esft_ranked_device *r = &usable[n_use++];
                    memset(r, 0, sizeof *r);
                    r->info = pool[hit].info;
                    if (!r->info.pci_id[0])
                        snprintf(r->info.pci_id, sizeof r->info.pci_id, "%s", hw[c].pci_id);
                    snprintf(r->hwloc, sizeof r->hwloc, "%s", desc);
                }
                continue;
            }
            snprintf(why, sizeof why, "%s reports no device at %s", hw[c].backend, hw[c].pci_id);
        }
        if (n_bad < MAX_RANKED) bad[n_bad++] = unusable(hw[c].backend, name, hw[c].pci_id, desc, why);
    }

    /* then every other device by rank (stable: driver order breaks ties) */
    int first_rest = n_use;
    for (int i = 0; i < n_pool && n_use < MAX_RANKED; i++) {
        if (pool[i].taken) continue;
        esft_ranked_device *r = &usable[n_use];
        memset(r, 0, sizeof *r);
        r->info = pool[i].info;
        int j = n_use++;
        while (j > first_rest && usable[j - 1].info.rank > r->info.rank) {
            esft_ranked_device t = usable[j - 1];
            usable[j - 1] = usable[j];
            usable[j] = t;
            r = &usable[--j];
        }
    }

    if (flags & ESFT_RANK_PROBE) {
        for (int i = 0; i < n_use; i++) {
            const esft_backend_driver *drv = esft_registry_find(usable[i].info.backend);
            esft_backend_options o = {0};
            o.device_index = usable[i].info.index;
            esft_backend *be = NULL;
            esft_err e = {{0}};
            if (drv && drv->create(&o, &be, &e) == ESFT_OK) {
                esft_backend_destroy(be);
                usable[i].picked = true;
                break;
            }
            /* it does not initialise: auto skips it */
            esft_ranked_device r = usable[i];
            snprintf(r.reason, sizeof r.reason, "does not initialise: %s", e.msg);
            r.order = -1;
            memmove(&usable[i], &usable[i + 1], (size_t)(n_use - i - 1) * sizeof usable[0]);
            n_use--;
            i--;
            if (n_bad < MAX_RANKED) {
                memmove(&bad[1], &bad[0], (size_t)n_bad * sizeof bad[0]);
                bad[0] = r;
                n_bad++;
            }
        }
    }

    int n = 0;
    for (int i = 0; i < n_use && n < max; i++) {
        out[n] = usable[i];
        out[n].order = i;
        n++;
    }
    for (int i = 0; i < n_bad && n < max; i++) out[n++] = bad[i];
    return n;
}

/* Device idx of driver d; `label` names what the user asked for ("opencl",
 * or "auto (opencl ranked first)") in errors. */
static esft_status open_indexed(const esft_backend_driver *d, const char *label,
                                const esft_backend_options *opts, int idx, esft_backend **out,
                                esft_device_info *info, esft_err *err) {
    esft_device_info infos[MAX_DEVICES];
    esft_err e = {{0}};
    int k = d->enumerate(infos, MAX_DEVICES, &e);
    if (k < 0) return esft_errf(err, ESFT_ERR_DEVICE, "--backend %s: unavailable: %s", label, e.msg);
    if (k == 0) return esft_errf(err, ESFT_ERR_DEVICE, "--backend %s: no devices found", label);
    if (idx >= k)
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "--backend %s: --device %d out of range: %s has %d device%s (0..%d)", label,
                         idx, d->name, k, k == 1 ? "" : "s", k - 1);
    esft_backend_options o = opts ? *opts : (esft_backend_options){0};
    o.device_index = idx;
    esft_status st = d->create(&o, out, &e);
    if (st != ESFT_OK) return esft_errf(err, st, "--backend %s: %s", label, e.msg);
    if (info) {
        *info = infos[idx];
        info->backend = d->name;
    }
    return ESFT_OK;
}

static esft_status open_auto(const esft_backend_options *opts, esft_backend **out,
                             esft_device_info *info, esft_err *err) {
    esft_ranked_device ranked[MAX_RANKED];
    int n = esft_registry_rank(ranked, MAX_RANKED, 0);
    const int want = opts ? opts->device_index : -1;
    if (want >= 0 && n > 0 && ranked[0].order == 0) { /* that device of auto's first backend */
        char label[64];
        snprintf(label, sizeof label, "auto (%s ranked first)", ranked[0].info.backend);
        return open_indexed(esft_registry_find(ranked[0].info.backend), label, opts, want, out, info,
                            err);
    }
    char reasons[384] = "";
    for (int i = 0; i < n; i++) {
        if (ranked[i].order < 0) continue;
        const esft_backend_driver *d = esft_registry_find(ranked[i].info.backend);
        esft_backend_options o = opts ? *opts : (esft_backend_options){0};
        o.device_index = ranked[i].info.index;
        esft_err e = {{0}};
        if (d && d->create(&o, out, &e) == ESFT_OK) {
            if (info) *info = ranked[i].info;
            return ESFT_OK;
        }
        append_reason(reasons, sizeof reasons, ranked[i].info.backend, e.msg);
    }
    for (int i = 0; i < n; i++)
        if (ranked[i].order < 0)
            append_reason(reasons, sizeof reasons,
                          ranked[i].hwloc[0] ? ranked[i].hwloc : ranked[i].info.backend,
                          ranked[i].reason);
    return esft_errf(err, ESFT_ERR_DEVICE, "--backend auto: no usable device (%s)",
                     reasons[0] ? reasons : "none found");
}

esft_status esft_backend_open_device(const char *name, const esft_backend_options *opts,
                                     esft_backend **out, esft_device_info *info, esft_err *err) {
    *out = NULL;
    if (!name || strcmp(name, "auto") == 0) return open_auto(opts, out, info, err);
    const esft_backend_driver *d = esft_registry_find(name);
    if (!d) {
        if (esft_backend_name_known(name))
            return esft_errf(err, ESFT_ERR_UNSUPPORTED,
                             "--backend %s: this esft was built without the %s backend", name, name);
        char names[128];
        esft_registry_names(names, sizeof names, false, ", ", " or ");
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "--backend %s: unknown backend (expected %s)",
                         name, names);
    }
    const int idx = opts && opts->device_index > 0 ? opts->device_index : 0;
    return open_indexed(d, name, opts, idx, out, info, err);
}

esft_status esft_backend_open(const char *name, const esft_backend_options *opts,
                              esft_backend **out, esft_err *err) {
    return esft_backend_open_device(name, opts, out, NULL, err);
}
