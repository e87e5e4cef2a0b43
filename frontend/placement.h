/* Where one rank of a multi-process job runs: which device of which
 * backend, and which CPU cores. Ranks on one node share its devices by
 * local rank, and each binds to the cores nearest its device (hwloc), so
 * that host threads feeding a GPU do not cross sockets. No MPI in here: the
 * caller passes the local rank and size. */
#ifndef ESFT_PLACEMENT_H
#define ESFT_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct esft_placement {
    char backend[16];   /* the backend to open ("auto" left as is for a lone process) */
    int device;         /* index among that backend's devices (-1: auto's own pick) */
    char pci_id[32];    /* the device's PCI address, "" if it has none */
    char cpuset[96];    /* the cores bound to, hwloc list syntax; "" when not bound */
    int n_pus;          /* processing units in cpuset (0 when not bound) */
} esft_placement;

/* Picks backend and device for local rank lr of ls: the device given
 * (device >= 0), else device lr % (number of devices). With "auto" and
 * several local ranks, auto's first choice fixes the backend and its usable
 * devices of the same kind are shared out. A lone process (ls == 1) keeps
 * the plain single-process choice. When bind and ls > 1, the process binds
 * to the cores of the device's nearest non-I/O hwloc object; a device
 * without PCI locality (the cpu backend) gets its even share of the node's
 * cores instead (esft_core_share). Returns 0, or -1 with a reason in msg. */
int esft_place_rank(const char *backend, int device, int lr, int ls, bool bind, esft_placement *out,
                    char *msg, size_t cap);

/* The cores [*first, *first + *count) of n_cores that local rank lr of ls
 * takes: an even split (sizes differ by at most one); with more ranks than
 * cores, rank lr shares core lr % n_cores. Pure. */
void esft_core_share(int n_cores, int lr, int ls, int *first, int *count);

/* One line for the log: "cpu device 0 (no PCI), cores 0-1". */
void esft_placement_describe(const esft_placement *p, char *buf, size_t cap);

#endif
