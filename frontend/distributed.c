#include "distributed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ESFT_HAVE_MPI
#include <mpi.h>
#include <time.h>
#endif

/* ---- pure parts: the same in every build ---- */

void esft_dist_block(int n, int size, int rank, int *lo, int *hi) {
    if (size < 1 || rank < 0 || rank >= size || n <= 0) {
        *lo = *hi = 0;
        return;
    }
    /* the first n % size ranks take one extra item */
    const int base = n / size, extra = n % size;
    *lo = rank * base + (rank < extra ? rank : extra);
    *hi = *lo + base + (rank < extra ? 1 : 0);
}

int esft_dist_hash_mismatch(const uint64_t *hashes, int size, char *buf, size_t cap) {
    int bad = 0;
    size_t used = 0;
    if (cap) buf[0] = '\0';
    for (int r = 1; r < size; r++) {
        if (hashes[r] == hashes[0]) continue;
        if (used < cap) {
            int w = snprintf(buf + used, cap - used, "%s%d", bad ? "," : "", r);
            used += w > 0 ? (size_t)w : 0;
        }
        bad++;
    }
    return bad;
}

#ifdef ESFT_HAVE_MPI

/* MPI_Init only under a launcher. Without one, Open MPI's singleton init
 * forks a helper daemon (seconds, and it fails in some containers) just to
 * build a one-process world that needs no communication; so a plain
 * `esft train` never touches MPI and behaves exactly as a build without
 * it. The variables are those Open MPI's mpirun, MPICH/Hydra and Slurm's
 * PMI-2 or PMIx plugins set in every process they start. */
static bool under_launcher(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return true;
    return false;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void where_text(int iter, char *buf, size_t cap) {
    if (iter > 0) snprintf(buf, cap, "iteration %d", iter);
    else snprintf(buf, cap, "setup");
}

/* Polls a non-blocking collective until it completes or the deadline
 * passes. Sleeping between polls (50 us growing to 5 ms) keeps a waiting
 * rank off the cores that ranks still computing on the same node need;
 * a blocking MPI collective would spin on them instead. */
static void wait_or_abort(const esft_dist *d, MPI_Request *req, const char *what, int iter) {
    const double t0 = now_s();
    long pause_ns = 50000;
    for (;;) {
        int done = 0;
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done) return;
        if (now_s() - t0 > d->timeout_s) {
            char where[48];
            where_text(iter, where, sizeof where);
            fprintf(stderr,
                    "esft train: rank %d: %s: waited %.0f s for %s from the other ranks (--mpi-timeout): "
                    "a rank died or hung; aborting the job\n",
                    d->rank, where, d->timeout_s, what);
            fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, 1);
            exit(1); /* not reached */
        }
        struct timespec ts = {0, pause_ns};
        nanosleep(&ts, NULL);
        if (pause_ns < 5000000) pause_ns *= 2;
    }
}

int esft_dist_init(esft_dist *d, double timeout_s, char *msg, size_t cap) {
    *d = (esft_dist){.rank = 0, .size = 1, .local_rank = 0, .local_size = 1, .timeout_s = timeout_s};
    if (!under_launcher()) return 0;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        /* OpenMP threads compute, only the main thread calls MPI */
        int provided = 0;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            snprintf(msg, cap, "MPI_Init_thread failed");
            return -1;
        }
    }
    d->mpi = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node) !=
        MPI_SUCCESS) {
        snprintf(msg, cap, "MPI_Comm_split_type failed");
        return -1;
    }
    MPI_Comm_rank(node, &d->local_rank);
    MPI_Comm_size(node, &d->local_size);
    MPI_Comm_free(&node);
    return 0;
}

void esft_dist_finalize(esft_dist *d) {
    if (!d->mpi) return;
    MPI_Finalize();
    d->mpi = false;
}

void esft_dist_abort(const esft_dist *d, int code) {
    if (!d->mpi || d->size == 1) return;
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
    exit(code ? code : 1); /* not reached */
}

int esft_dist_gather_items(const esft_dist *d, const double *mine, int n, int width, double *all,
                           const char *what, int iter) {
    int lo, hi;
    if (!d->mpi || d->size == 1) {
        esft_dist_block(n, 1, 0, &lo, &hi);
        memcpy(all, mine, (size_t)(hi - lo) * (size_t)width * sizeof *all);
        return 0;
    }
    int *counts = malloc((size_t)d->size * sizeof *counts), *displs = malloc((size_t)d->size * sizeof *displs);
    if (!counts || !displs) {
        free(counts), free(displs);
        return -1;
    }
    for (int r = 0; r < d->size; r++) {
        esft_dist_block(n, d->size, r, &lo, &hi);
        counts[r] = (hi - lo) * width;
        displs[r] = lo * width;
    }
    MPI_Request req;
    MPI_Iallgatherv(mine, counts[d->rank], MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, MPI_COMM_WORLD, &req);
    wait_or_abort(d, &req, what, iter);
    free(counts), free(displs);
    return 0;
}

int esft_dist_allgather_u64(const esft_dist *d, uint64_t v, uint64_t *all, const char *what, int iter) {
    if (!d->mpi || d->size == 1) {
        all[0] = v;
        return 0;
    }
    MPI_Request req;
    MPI_Iallgather(&v, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD, &req);
    wait_or_abort(d, &req, what, iter);
    return 0;
}

int esft_dist_max_int(const esft_dist *d, int v, int *out, const char *what, int iter) {
    if (!d->mpi || d->size == 1) {
        *out = v;
        return 0;
    }
    MPI_Request req;
    MPI_Iallreduce(&v, out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &req);
    wait_or_abort(d, &req, what, iter);
    return 0;
}

#else /* one process: the trivial job */

int esft_dist_init(esft_dist *d, double timeout_s, char *msg, size_t cap) {
    (void)msg, (void)cap;
    *d = (esft_dist){.rank = 0, .size = 1, .local_rank = 0, .local_size = 1, .timeout_s = timeout_s};
    return 0;
}

void esft_dist_finalize(esft_dist *d) { (void)d; }

void esft_dist_abort(const esft_dist *d, int code) { (void)d, (void)code; }

int esft_dist_gather_items(const esft_dist *d, const double *mine, int n, int width, double *all,
                           const char *what, int iter) {
    (void)d, (void)what, (void)iter;
    if (n > 0) memcpy(all, mine, (size_t)n * (size_t)width * sizeof *all);
    return 0;
}

int esft_dist_allgather_u64(const esft_dist *d, uint64_t v, uint64_t *all, const char *what, int iter) {
    (void)d, (void)what, (void)iter;
    all[0] = v;
    return 0;
}

int esft_dist_max_int(const esft_dist *d, int v, int *out, const char *what, int iter) {
    (void)d, (void)what, (void)iter;
    *out = v;
    return 0;
}

#endif
