/* esft devices: every device of every built backend in `--backend auto`'s
 * order, the PCI GPUs and accelerators hwloc sees and what became of them,
 * and which device auto picks. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "registry.h"

#define MAX_ROWS 32

int cmd_devices(int argc, char **argv) {
    const cli_command cmd = {"devices", "",
                             "Lists every compute device of every backend built into esft, in the "
                             "order --backend auto tries them, and the PCI GPUs hwloc sees.",
                             NULL, 0, 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;

    esft_ranked_device r[MAX_ROWS];
    int n = esft_registry_rank(r, MAX_ROWS, ESFT_RANK_PROBE);

    printf("%-8s %-3s %-4s %-10s %-14s %-5s %-4s %s\n", "backend", "idx", "kind", "memory", "pci",
           "rank", "auto", "name");
    const esft_ranked_device *pick = NULL;
    for (int i = 0; i < n; i++) {
        if (r[i].info.index < 0) continue; /* no device of its own: listed below */
        char mem[32] = "?", order[16] = "-";
        if (r[i].info.memory_bytes)
            snprintf(mem, sizeof mem, "%.1f GiB", r[i].info.memory_bytes / 1073741824.0);
        if (r[i].order >= 0) snprintf(order, sizeof order, "%s%d", r[i].picked ? "*" : "", r[i].order + 1);
        if (r[i].picked) pick = &r[i];
        printf("%-8s %-3d %-4s %-10s %-14s %-5d %-4s %s%s%s\n", r[i].info.backend, r[i].info.index,
               r[i].info.is_gpu ? "gpu" : "cpu", mem, r[i].info.pci_id[0] ? r[i].info.pci_id : "-",
               r[i].info.rank, order, r[i].info.name, r[i].reason[0] ? "  -- " : "", r[i].reason);
    }
    /* backends without a listed device: not built, unusable API, none found */
    for (int b = 0; b < esft_registry_n_known(); b++) {
        const esft_backend_driver *d = esft_registry_known(b);
        if (!esft_driver_built(d)) {
            printf("%-8s  -  (not built into this esft: %s)\n", d->name, d->about);
            continue;
        }
        bool listed = false;
        for (int i = 0; i < n; i++) {
            if (strcmp(r[i].info.backend, d->name) != 0 || r[i].hwloc[0]) {
                if (r[i].info.index >= 0 && strcmp(r[i].info.backend, d->name) == 0) listed = true;
                continue;
            }
            if (r[i].info.index < 0) printf("%-8s  -  %s\n", d->name, r[i].reason);
            listed = true;
        }
        if (!listed) printf("%-8s  -  no devices\n", d->name);
    }

    printf("\nPCI GPUs and accelerators (hwloc):\n");
    int n_hw = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(r[i].info.backend, "hwloc") == 0) {
            printf("  (topology unavailable: %s)\n", r[i].reason);
            n_hw++;
        }
        if (!r[i].hwloc[0]) continue;
        n_hw++;
        if (r[i].order >= 0)
            printf("  %-40s %s device %d (auto #%d)\n", r[i].hwloc, r[i].info.backend, r[i].info.index,
                   r[i].order + 1);
        else
            printf("  %-40s %s\n", r[i].hwloc, r[i].reason);
    }
    if (!n_hw) printf("  (none)\n");

    if (pick)
        printf("\n--backend auto picks: %s device %d (%s)\n", pick->info.backend, pick->info.index,
               pick->info.name);
    else
        printf("\n--backend auto: no usable device\n");
    return ESFT_EXIT_OK;
}
