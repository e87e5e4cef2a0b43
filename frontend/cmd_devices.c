/* esft devices: what the registry found, and which device auto picks. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "registry.h"

int cmd_devices(int argc, char **argv) {
    const cli_command cmd = {"devices", "", "Lists every compute device of every backend built into esft.",
                             NULL, 0, 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;

    const char *built[] = {"cpu", "opencl", "vulkan", "cuda"};
    printf("%-8s %-3s %-4s %-10s %-14s %-5s %s\n", "backend", "idx", "kind", "memory", "pci", "rank",
           "name");
    const char *auto_backend = NULL;
    int auto_index = -1, best_rank = 1 << 30;
    for (size_t b = 0; b < sizeof built / sizeof built[0]; b++) {
        const esft_backend_driver *d = esft_registry_find(built[b]);
        if (!d) {
            printf("%-8s  -  (not built into this esft)\n", built[b]);
            continue;
        }
        esft_device_info infos[16];
        esft_err err = {{0}};
        int n = d->enumerate(infos, 16, &err);
        if (n < 0) {
            printf("%-8s  -  unavailable: %s\n", built[b], err.msg);
            continue;
        }
        if (n == 0) printf("%-8s  -  no devices\n", built[b]);
        for (int i = 0; i < n; i++) {
            char mem[32] = "?";
            if (infos[i].memory_bytes)
                snprintf(mem, sizeof mem, "%.1f GiB", infos[i].memory_bytes / 1073741824.0);
            printf("%-8s %-3d %-4s %-10s %-14s %-5d %s\n", built[b], infos[i].index,
                   infos[i].is_gpu ? "gpu" : "cpu", mem, infos[i].pci_id[0] ? infos[i].pci_id : "-",
                   infos[i].rank, infos[i].name);
            if (infos[i].rank < best_rank) {
                best_rank = infos[i].rank;
                auto_backend = built[b];
                auto_index = infos[i].index;
            }
        }
    }
    if (auto_backend)
        printf("\n--backend auto picks: %s device %d\n", auto_backend, auto_index);
    else
        printf("\n--backend auto: no usable device\n");
    return ESFT_EXIT_OK;
}
