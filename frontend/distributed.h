/* Running one ES job over several processes (DESIGN.md §1: members are
 * independent, only rewards cross the wire, never weights).
 *
 * Built with MPI (ESFT_HAVE_MPI), the same binary runs alone or under a
 * launcher (`mpirun -np P`, `srun`); built without it, every call below is
 * the trivial one-process version, so callers never need an #ifdef.
 *
 * Every collective here has a deadline (esft_dist.timeout_s): a rank that
 * died or hung makes the others print one line and abort the whole job
 * instead of waiting for ever. */
#ifndef ESFT_DISTRIBUTED_H
#define ESFT_DISTRIBUTED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct esft_dist {
    int rank, size;             /* in the job */
    int local_rank, local_size; /* among the job's processes on this node */
    bool mpi;                   /* MPI was initialised (and must be finalised) */
    double timeout_s;           /* longest wait in any collective */
} esft_dist;

/* Joins the job. Without a launcher (or without MPI support) this is rank 0
 * of 1. Returns 0, or -1 with a reason in msg. */
int esft_dist_init(esft_dist *d, double timeout_s, char *msg, size_t cap);

/* Leaves the job cleanly: only when every rank reaches it. */
void esft_dist_finalize(esft_dist *d);

/* Ends every rank of the job with exit code `code` (after a message the
 * caller printed). Returns only in a one-process run without MPI. */
void esft_dist_abort(const esft_dist *d, int code);

/* The members [*lo, *hi) that rank `rank` of `size` takes out of n:
 * contiguous blocks whose sizes differ by at most one, in rank order, so
 * that gathering the blocks in rank order gives member order. Ranks beyond
 * n get empty blocks. Pure. */
void esft_dist_block(int n, int size, int rank, int *lo, int *hi);

/* Gathers `width` doubles per item of n items: this rank holds the items of
 * esft_dist_block(n, size, rank) in mine[(k - lo) * width ...]; every rank
 * receives all n items, in item order, in all. `what` and `iter` name the
 * step in the timeout message. Returns 0 (a timeout aborts the job). */
int esft_dist_gather_items(const esft_dist *d, const double *mine, int n, int width, double *all,
                           const char *what, int iter);

/* Every rank's value of v, in rank order (all has d->size entries). */
int esft_dist_allgather_u64(const esft_dist *d, uint64_t v, uint64_t *all, const char *what,
                            int iter);

/* The largest of every rank's v (e.g. an exit code, so that all ranks stop
 * together when one fails during setup). */
int esft_dist_max_int(const esft_dist *d, int v, int *out, const char *what, int iter);

/* Writes "1,3" (the ranks whose hash differs from rank 0's) into buf and
 * returns how many there are (0: all agree). Pure. */
int esft_dist_hash_mismatch(const uint64_t *hashes, int size, char *buf, size_t cap);

#endif
