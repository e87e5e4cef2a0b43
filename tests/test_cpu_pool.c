/* The cpu backend's thread pool (backends/cpu/cpu_pool.c): every job covers
 * its items exactly once, in the chunks its grain cuts, and on a crowded
 * machine it steps back to the caller alone on those same chunks. The load
 * comes from a file in /proc/loadavg's format that the test writes: 1
 * runnable thread (quiet), then 100000 (crowded), then quiet again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu/cpu_pool.h"
#include "testutil.h"

enum { N_ITEMS = 1000, GRAIN = 10, N_CHUNKS = N_ITEMS / GRAIN };

typedef struct record {
    int hits[N_ITEMS];     /* times each item was run */
    int bad_bounds;        /* calls whose range is not one whole chunk */
    int on_caller, others; /* chunks run by worker 0 / by pool threads */
} record;

static void note_chunk(void *arg, size_t i0, size_t i1, int worker) {
    record *r = arg;
    if (i0 % GRAIN != 0 || i1 != (i0 + GRAIN < N_ITEMS ? i0 + GRAIN : N_ITEMS))
        __atomic_add_fetch(&r->bad_bounds, 1, __ATOMIC_RELAXED);
    for (size_t i = i0; i < i1 && i < N_ITEMS; i++) __atomic_add_fetch(&r->hits[i], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(worker == 0 ? &r->on_caller : &r->others, 1, __ATOMIC_RELAXED);
}

/* Runs n_jobs jobs; checks each covers every item once in whole chunks;
 * adds up who ran the chunks into *on_caller and *others. */
static void run_jobs(esft_cpu_pool *pool, int n_jobs, int *on_caller, int *others) {
    record *r = calloc(1, sizeof *r);
    if (!r) {
        CHECKF(0, "out of memory");
        return;
    }
    bool all_once = true;
    int bad = 0;
    for (int j = 0; j < n_jobs; j++) {
        memset(r->hits, 0, sizeof r->hits);
        esft_cpu_pool_run(pool, N_ITEMS, GRAIN, 1, note_chunk, r);
        for (int i = 0; i < N_ITEMS; i++) all_once &= r->hits[i] == 1;
        bad += r->bad_bounds;
        r->bad_bounds = 0;
    }
    CHECKF(all_once, "an item ran other than once");
    CHECKF(bad == 0, "%d calls were not one whole chunk", bad);
    *on_caller = r->on_caller, *others = r->others;
    free(r);
}

static bool write_load(const char *path, const char *line) {
    FILE *f = fopen(path, "w");
    if (!f) return false;
    bool ok = fputs(line, f) >= 0;
    return fclose(f) == 0 && ok;
}

int main(void) {
    /* with one CPU a 2-thread pool is always crowded: nothing quiet to see */
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        printf("one CPU: skipped\n");
        return 77;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/test_cpu_pool.%ld.loadavg", ESFT_TEST_BINARY_DIR, (long)getpid());
    esft_cpu_pool *pool = NULL;
    esft_err err = {{0}};
    if (!write_load(path, "0.10 0.10 0.10 1/80 4242\n") || esft_cpu_pool_create(2, &pool, &err)) {
        fprintf(stderr, "setup failed: %s\n", err.msg);
        return 1;
    }
    CHECK(esft_cpu_pool_watch_load(pool, path));
    int caller, others;

    /* quiet: the pool stays parallel (whoever claims the chunks) */
    run_jobs(pool, 600, &caller, &others);
    CHECK(!esft_cpu_pool_yielding(pool));
    CHECKF(caller + others == 600 * N_CHUNKS, "%d chunks ran, %d expected", caller + others, 600 * N_CHUNKS);

    /* crowded: within two looks (512 jobs) the caller runs every chunk */
    CHECK(write_load(path, "9.00 9.00 9.00 100000/100080 4242\n"));
    run_jobs(pool, 512, &caller, &others);
    CHECK(esft_cpu_pool_yielding(pool));
    run_jobs(pool, 200, &caller, &others);
    CHECKF(others == 0 && caller == 200 * N_CHUNKS, "yielding, yet pool threads ran %d chunks", others);

    /* clear again: the first quiet look ends it */
    CHECK(write_load(path, "0.10 0.10 0.10 1/80 4242\n"));
    run_jobs(pool, 256, &caller, &others);
    CHECK(!esft_cpu_pool_yielding(pool));

    /* an unreadable load: the pool stays parallel */
    CHECK(!esft_cpu_pool_watch_load(pool, "/nonexistent/loadavg"));
    run_jobs(pool, 600, &caller, &others);
    CHECK(!esft_cpu_pool_yielding(pool));

    esft_cpu_pool_destroy(pool);
    remove(path);
    return TEST_EXIT();
}
