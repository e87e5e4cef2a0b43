/* The cpu backend as the registry sees it. It is always built. */
#include "cpu_backend.h"

const esft_backend_driver esft_cpu_driver = {
    .name = "cpu",
    .about = "the host CPU: C11 + OpenMP, OpenBLAS sgemm; the reference for every other backend",
    .kinds = ESFT_KIND_CPU,
    .vendors = {0},      /* no PCI devices: auto ranks it after every accelerator */
    .preference = 3,
    .enumerate = esft_cpu_enumerate,
    .create = esft_cpu_backend_create,
};
