/* The host defaults of the optional low-rank ops (backend.h): a backend
 * without its own kernels gets them, so that every backend runs low-rank
 * members at once. Each downloads its operands, runs a plain C loop and
 * uploads the result. */
#ifndef ESFT_LOWRANK_HOST_H
#define ESFT_LOWRANK_HOST_H

#include <stdbool.h>

#include "backend.h"

/* Whether op is one of the low-rank ops with a host default. */
bool esft_lowrank_host_default(esft_op op);
/* Whether the table fills op's slot itself (op: a low-rank op). */
bool esft_lowrank_slot(const esft_backend_ops *ops, esft_op op);

esft_lowrank_matmul_fn esft_lowrank_host_matmul;
esft_lowrank_rows_fn esft_lowrank_host_rows;
esft_lowrank_update_fn esft_lowrank_host_update;
esft_lowrank_optimize_fn esft_lowrank_host_optimize;

#endif
