/* The cpu backend's thread pool for the decode path (matmul and the ops
 * around it). Work is cut into more chunks than threads and claimed one at
 * a time, so a thread that the OS preempts (another busy process on the
 * machine) holds up at most its one chunk while the others take the rest;
 * idle threads spin briefly, then sleep on a condition variable, so they
 * do not burn a core that the busy process or a preempted sibling needs.
 * (OpenMP's default barriers spin for far longer: with one busy process
 * beside it, 2-thread decode fell below 1-thread decode.) When other
 * runnable threads and the pool's would overfill the CPUs, the caller runs
 * each job alone (cpu_pool.c: POOL_LOAD_EVERY). */
#ifndef ESFT_CPU_POOL_H
#define ESFT_CPU_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "../status.h"

typedef struct esft_cpu_pool esft_cpu_pool;

/* fn(arg, i0, i1, worker): items [i0, i1) of a job, on the pool thread
 * numbered worker (0 = the caller, 1 .. n_threads-1 the pool's own). */
typedef void esft_cpu_pool_fn(void *arg, size_t i0, size_t i1, int worker);

/* A pool of n_threads - 1 threads that join the calling thread in each job
 * (n_threads 1: no threads, jobs run inline). Spin time before sleeping:
 * ESFT_CPU_SPIN_US microseconds when set (0..100000), else a default. */
esft_status esft_cpu_pool_create(int n_threads, esft_cpu_pool **out, esft_err *err);
void esft_cpu_pool_destroy(esft_cpu_pool *pool);

/* Runs fn over items [0, n) in chunks of `grain` items (the last one
 * shorter) on all the pool's threads and returns when every chunk is done.
 * parallel 0 runs everything inline (a job too small to share). Not
 * reentrant: one job at a time, from one calling thread. */
void esft_cpu_pool_run(esft_cpu_pool *pool, size_t n, size_t grain, int parallel,
                       esft_cpu_pool_fn *fn, void *arg);

/* Where the pool reads the machine's load: a file in /proc/loadavg's
 * format (create watches /proc/loadavg unless ESFT_CPU_YIELD=0 or it has
 * one thread; tests point it at a file of their own), NULL to stop
 * watching. Forgets earlier looks. False when path cannot be opened (the
 * pool then stays parallel). */
bool esft_cpu_pool_watch_load(esft_cpu_pool *pool, const char *path);
/* Whether jobs now run on the caller alone (the machine looked crowded
 * twice in a row). */
bool esft_cpu_pool_yielding(const esft_cpu_pool *pool);

/* A grain that cuts n items into about `per_thread` chunks per thread,
 * a multiple of `multiple` (>= 1) and at least min_grain. */
size_t esft_cpu_pool_grain(const esft_cpu_pool *pool, size_t n, size_t per_thread, size_t multiple,
                           size_t min_grain);

#endif
