/* Device ranking for --backend auto: hwloc PCI candidates from committed XML
 * topologies (tests/data/hwloc/), and the order the registry builds on them.
 * Built without hwloc (ESFT_HWLOC=OFF): no candidates, a reason saying so,
 * and a ranking that still opens the cpu backend. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hwloc_rank.h"
#include "registry.h"
#include "testutil.h"

#define MAX_C 16

static void use_topology(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/data/hwloc/%s", ESFT_TEST_DATA_DIR, name);
    setenv("HWLOC_XMLFILE", path, 1);
}

/* The ranked entry hwloc placed for (backend, pci), or NULL. */
static const esft_ranked_device *find_hw(const esft_ranked_device *r, int n, const char *backend,
                                         const char *pci) {
    for (int i = 0; i < n; i++)
        if (r[i].hwloc[0] && strcmp(r[i].info.backend, backend) == 0 &&
            strcmp(r[i].info.pci_id, pci) == 0)
            return &r[i];
    return NULL;
}

/* On this build (no cuda, no vulkan): auto orders cpu first, keeps the
 * hwloc GPUs as "not built" entries, and opens the cpu backend. */
static void check_auto(const char *topo, const char *const *not_built, int n_not_built) {
    use_topology(topo);
    esft_ranked_device r[32];
    int n = esft_registry_rank(r, 32, 0);
    CHECKF(n >= 1, "%s: empty ranking", topo);
    bool gpu_backends = esft_registry_find("cuda") || esft_registry_find("vulkan");
    if (gpu_backends) return; /* a GPU build ranks the real GPUs instead */
    CHECKF(n >= 1 && strcmp(r[0].info.backend, "cpu") == 0 && r[0].order == 0, "%s: first is %s",
           topo, n >= 1 ? r[0].info.backend : "?");
    /* orders are 0..k-1 and precede every unusable entry */
    int k = 0;
    while (k < n && r[k].order == k) k++;
    for (int i = k; i < n; i++) CHECKF(r[i].order < 0, "%s: entry %d order %d", topo, i, r[i].order);
    for (int i = 0; i < n_not_built; i += 2) {
        const esft_ranked_device *e = find_hw(r, n, not_built[i], not_built[i + 1]);
        CHECKF(e != NULL, "%s: no entry for %s %s", topo, not_built[i], not_built[i + 1]);
        if (!e) continue;
        char want[64];
        snprintf(want, sizeof want, "%s backend not built into this esft", not_built[i]);
        CHECKF(e->order < 0 && strstr(e->reason, want), "%s: %s: %s", topo, e->hwloc, e->reason);
        CHECK(e->info.is_gpu && e->info.index == -1);
    }
    /* an opencl candidate for a non-NVIDIA GPU is never matched to a CPU device */
    for (int i = 0; i < n; i++)
        if (r[i].hwloc[0] && r[i].order >= 0) CHECKF(r[i].info.is_gpu, "%s: %s", topo, r[i].hwloc);

    esft_backend *be = NULL;
    esft_err err = {{0}};
    esft_backend_options o = {0};
    o.n_threads = 1;
    CHECKF(esft_backend_open("auto", &o, &be, &err) == ESFT_OK, "%s: %s", topo, err.msg);
    if (be) {
        CHECKF(strcmp(be->kind, "cpu") == 0, "%s: auto opened %s", topo, be->kind);
        esft_backend_destroy(be);
    }

    /* probing marks exactly the device auto opens */
    n = esft_registry_rank(r, 32, ESFT_RANK_PROBE);
    int picked = 0;
    for (int i = 0; i < n; i++) picked += r[i].picked;
    CHECK(picked == 1 && r[0].picked && strcmp(r[0].info.backend, "cpu") == 0);
}

/* The registry's drivers: named, described, unique; built ones findable and
 * openable by name, the others known but not found; PCI claims: NVIDIA is
 * cuda's alone, other vendors go to every backend that claims any vendor. */
static void check_registry(void) {
    int n = esft_registry_n_known(), built = 0;
    CHECK(n >= 4);
    for (int i = 0; i < n; i++) {
        const esft_backend_driver *d = esft_registry_known(i);
        CHECKF(d->name && d->name[0] && d->about && d->about[0] && d->kinds, "driver %d", i);
        CHECKF(esft_registry_lookup(d->name) == d, "%s: lookup", d->name);
        CHECKF(esft_backend_name_known(d->name), "%s: not a --backend name", d->name);
        CHECKF((esft_registry_find(d->name) != NULL) == esft_driver_built(d), "%s", d->name);
        CHECKF(esft_driver_built(d) == (d->enumerate != NULL), "%s: half built", d->name);
        built += esft_driver_built(d);
        for (int j = 0; j < i; j++) CHECK(strcmp(esft_registry_known(j)->name, d->name) != 0);
    }
    CHECK(built == esft_registry_n_drivers() && esft_driver_built(esft_registry_lookup("cpu")));
    for (int i = 0; i < built; i++) CHECK(esft_driver_built(esft_registry_driver(i)));
    CHECK(esft_registry_driver(built) == NULL && esft_registry_lookup("warp-drive") == NULL);
    CHECK(esft_backend_name_known("auto") && !esft_backend_name_known("warp-drive"));

    /* every known name in the unknown-backend message, only built ones in --help */
    char all[256], some[256];
    esft_registry_names(all, sizeof all, false, ", ", " or ");
    esft_registry_names(some, sizeof some, true, "|", "|");
    CHECKF(strncmp(all, "auto, cpu, ", 11) == 0 && strstr(all, " or "), "names: %s", all);
    CHECKF(strncmp(some, "auto|cpu", 8) == 0, "built names: %s", some);
    for (int i = 0; i < n; i++) {
        const esft_backend_driver *d = esft_registry_known(i);
        CHECKF(strstr(all, d->name) != NULL, "%s missing from '%s'", d->name, all);
        char bar[64];
        snprintf(bar, sizeof bar, "|%s", d->name);
        CHECKF((strstr(some, bar) != NULL) == esft_driver_built(d), "%s in '%s'", d->name, some);
    }
    char tiny[8];
    esft_registry_names(tiny, sizeof tiny, false, ", ", " or ");
    CHECKF(strlen(tiny) == 7, "truncated names: '%s'", tiny);

    const esft_backend_driver *cpu = esft_registry_lookup("cpu");
    const esft_backend_driver *cuda = esft_registry_lookup("cuda");
    const esft_backend_driver *vk = esft_registry_lookup("vulkan");
    const esft_backend_driver *cl = esft_registry_lookup("opencl");
    CHECK(cuda && vk && cl);
    if (!cuda || !vk || !cl) return;
    CHECK(esft_driver_claims(cuda, 0x10de) && !esft_driver_claims(cuda, 0x1002));
    CHECK(!esft_driver_claims(vk, 0x10de) && !esft_driver_claims(cl, 0x10de));
    CHECK(esft_driver_claims(vk, 0x1002) && esft_driver_claims(cl, 0x8086));
    CHECK(esft_driver_claims(vk, 0x1234) && !esft_driver_claims(vk, 0));
    CHECK(!esft_driver_claims(cpu, 0x10de) && !esft_driver_claims(cpu, 0x1002));
    CHECK(cuda->preference < vk->preference && vk->preference < cl->preference);
}

#ifdef ESFT_HAVE_HWLOC
static int candidates(const char *topo, esft_hw_candidate *c) {
    use_topology(topo);
    esft_err err = {{0}};
    int n = esft_hwloc_candidates(c, MAX_C, &err);
    CHECKF(n >= 0, "%s: %s", topo, err.msg);
    return n;
}

static bool is(const esft_hw_candidate *c, const char *backend, const char *pci, unsigned vendor) {
    return strcmp(c->backend, backend) == 0 && strcmp(c->pci_id, pci) == 0 && c->vendor_id == vendor;
}

/* The committed topologies: candidates, their order, and auto on them. */
static void check_topologies(void) {
    esft_hw_candidate c[MAX_C];

    int n = candidates("nogpu.xml", c);
    CHECKF(n == 0, "nogpu: %d candidates", n);

    n = candidates("nvidia.xml", c);
    CHECKF(n == 1, "nvidia: %d candidates", n);
    if (n == 1) {
        CHECK(is(&c[0], "cuda", "0000:65:00.0", 0x10de));
        CHECK(c[0].device_id == 0x2330 && c[0].class_id == 0x0302);
        CHECK(strcmp(c[0].vendor, "NVIDIA") == 0 && strcmp(c[0].kind, "GPU") == 0);
        char d[64];
        esft_hw_candidate_describe(&c[0], d, sizeof d);
        CHECKF(strcmp(d, "NVIDIA GPU 0000:65:00.0 [10de:2330]") == 0, "%s", d);
    }

    n = candidates("amd.xml", c);
    CHECKF(n == 2, "amd: %d candidates", n);
    if (n == 2) {
        CHECK(is(&c[0], "vulkan", "0000:c1:00.0", 0x1002));
        CHECK(is(&c[1], "opencl", "0000:c1:00.0", 0x1002));
    }

    /* Intel GPU 03:00.0, AMD GPU 41:00.0, NVIDIA GPU 65:00.0, NVIDIA
     * accelerator (class 0x1200) b3:00.0, and a host bridge to ignore */
    n = candidates("both.xml", c);
    CHECKF(n == 6, "both: %d candidates", n);
    if (n == 6) {
        CHECK(is(&c[0], "cuda", "0000:65:00.0", 0x10de));
        CHECK(is(&c[1], "cuda", "0000:b3:00.0", 0x10de));
        CHECK(strcmp(c[1].kind, "accelerator") == 0 && c[1].class_id == 0x1200);
        CHECK(is(&c[2], "vulkan", "0000:03:00.0", 0x8086));
        CHECK(is(&c[3], "vulkan", "0000:41:00.0", 0x1002));
        CHECK(is(&c[4], "opencl", "0000:03:00.0", 0x8086));
        CHECK(is(&c[5], "opencl", "0000:41:00.0", 0x1002));
    }
    /* a short buffer still reports how many there are */
    use_topology("both.xml");
    esft_err err = {{0}};
    CHECK(esft_hwloc_candidates(c, 2, &err) == 6 && is(&c[1], "cuda", "0000:b3:00.0", 0x10de));

    const char *nv[] = {"cuda", "0000:65:00.0"};
    check_auto("nvidia.xml", nv, 2);
    const char *amd[] = {"vulkan", "0000:c1:00.0"};
    check_auto("amd.xml", amd, 2);
    const char *both[] = {"cuda", "0000:65:00.0", "cuda", "0000:b3:00.0", "vulkan", "0000:41:00.0",
                          "vulkan", "0000:03:00.0"};
    check_auto("both.xml", both, 8);
}
#else
/* Without hwloc: -1, a reason that says why, shown by the ranking. */
static void check_without_hwloc(void) {
    esft_hw_candidate c[MAX_C];
    esft_err err = {{0}};
    CHECK(esft_hwloc_candidates(c, MAX_C, &err) == -1);
    CHECKF(strstr(err.msg, "built without hwloc") != NULL, "reason: %s", err.msg);
    esft_ranked_device r[32];
    int n = esft_registry_rank(r, 32, 0), shown = 0;
    for (int i = 0; i < n; i++)
        shown += strcmp(r[i].info.backend, "hwloc") == 0 && r[i].order < 0 &&
                 strstr(r[i].reason, "built without hwloc") != NULL;
    CHECKF(shown == 1, "the ranking shows the missing hwloc %d times", shown);
}
#endif

int main(void) {
    check_registry();
#ifdef ESFT_HAVE_HWLOC
    check_topologies();
#else
    check_without_hwloc();
#endif
    check_auto("nogpu.xml", NULL, 0);

    /* CPU implementations of the GPU APIs (PoCL, lavapipe) rank after the
     * cpu backend, whatever is built: auto never prefers them */
    use_topology("nogpu.xml");
    {
        esft_ranked_device rr[32];
        int nr = esft_registry_rank(rr, 32, 0), cpu_at = -1;
        for (int i = 0; i < nr; i++)
            if (rr[i].order >= 0 && strcmp(rr[i].info.backend, "cpu") == 0 && cpu_at < 0) cpu_at = i;
        CHECKF(cpu_at >= 0, "nogpu: the cpu backend is not ranked");
        for (int i = 0; i < nr; i++)
            if (rr[i].order >= 0 && !rr[i].info.is_gpu && strcmp(rr[i].info.backend, "cpu") != 0)
                CHECKF(i > cpu_at, "nogpu: %s %s ranks before the cpu backend", rr[i].info.backend,
                       rr[i].info.name);
    }

    /* a topology that cannot load: no candidates, auto still works */
    esft_hw_candidate c[MAX_C];
    esft_err err = {{0}};
    setenv("HWLOC_XMLFILE", "/nonexistent/esft-topology.xml", 1);
    int bad = esft_hwloc_candidates(c, MAX_C, &err);
    CHECKF(bad <= 0, "unloadable topology gave %d candidates", bad);
    esft_ranked_device r[32];
    int n = esft_registry_rank(r, 32, 0);
    CHECK(n >= 1 && r[0].order == 0);
    return TEST_EXIT();
}
