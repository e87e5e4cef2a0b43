/* The cpu thread pool (cpu_pool.h): pthreads, one job at a time.
 *
 * A job is published as a ticket, (generation << 32) | next chunk, in one
 * atomic word: threads claim chunks by compare-and-swap on it, so a thread
 * that wakes late, after its job is over, sees another generation and
 * claims nothing. The job's description sits in one of two slots chosen by
 * the generation's parity, so the caller can write the next job while a late
 * thread still reads the last one. Sleeping (threads between jobs, the
 * caller waiting for the last chunk) is a Dekker handshake: the sleeper
 * announces itself, then re-checks; the waker publishes, then looks for
 * sleepers, all sequentially consistent, so no wake-up is lost. */
#include "cpu_pool.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Microseconds an idle thread spins before it sleeps: long enough to
 * bridge the gap between two ops of a decode step on a quiet machine,
 * short enough to hand the core back soon on a busy one. */
#define POOL_SPIN_US_DEFAULT 50

/* A crowded machine: more runnable threads than CPUs once this pool's are
 * counted (another busy process beside a pool as wide as the machine). The
 * caller then runs each job alone, chunk by chunk, as the threads would
 * have cut it (the same calls, so the same results bit for bit), and the
 * pool's threads sleep: an op of tens of microseconds (batch-1 decode)
 * otherwise waits a scheduler slice, milliseconds, whenever the thread
 * holding one of its chunks is descheduled, and a spinning thread takes
 * time from the caller. Seen from /proc/loadavg's count of runnable threads every
 * POOL_LOAD_EVERY jobs, crowded twice in a row before the pool steps back,
 * at once when it clears. ESFT_CPU_YIELD=0 keeps the pool parallel. */
#define POOL_LOAD_EVERY 256

typedef struct pool_job {
    _Atomic(esft_cpu_pool_fn *) fn;
    _Atomic(void *) arg;
    _Atomic size_t n, grain, n_chunks;
} pool_job;

typedef struct pool_thread {
    esft_cpu_pool *pool;
    int index; /* 1 .. n_threads-1 */
    pthread_t tid;
} pool_thread;

struct esft_cpu_pool {
    int n_threads;           /* the caller included */
    long spin_ns;            /* how long to spin before sleeping */
    pool_thread *threads;    /* [n_threads - 1] */
    int n_started;           /* threads actually running */
    pool_job jobs[2];        /* by generation parity */
    _Atomic uint64_t ticket; /* generation << 32 | next chunk */
    _Atomic size_t done;     /* chunks finished in the current job */
    uint32_t gen;            /* the caller's last generation */
    int load_fd;             /* /proc/loadavg, or -1: the load is not watched */
    int n_cpus;              /* online CPUs */
    uint64_t n_jobs;         /* parallel jobs asked for (the caller's count) */
    int crowded_looks;       /* crowded looks in a row at the load (capped at 2) */
    _Atomic int sleepers;    /* threads asleep on `wake` */
    _Atomic int caller_asleep;
    _Atomic int stop;
    pthread_mutex_t mu;
    pthread_cond_t wake, finished;
};

static inline uint32_t ticket_gen(uint64_t t) { return (uint32_t)(t >> 32); }

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Spins until done(arg) or spin_ns pass; true when done. The clock is read
 * every 64 turns only. */
static bool spin_until(long spin_ns, bool (*done)(esft_cpu_pool *, uint32_t), esft_cpu_pool *p,
                       uint32_t v) {
    long t0 = now_ns();
    for (unsigned i = 1;; i++) {
        if (done(p, v)) return true;
        cpu_relax();
        if ((i & 63) == 0 && now_ns() - t0 >= spin_ns) return done(p, v);
    }
}

/* Claims and runs chunks of generation gen until none is left. */
static void run_chunks(esft_cpu_pool *p, uint32_t gen, int worker) {
    pool_job *job = &p->jobs[gen & 1];
    for (;;) {
        uint64_t t = atomic_load(&p->ticket);
        if (ticket_gen(t) != gen) return;
        size_t c = (uint32_t)t, n_chunks = atomic_load_explicit(&job->n_chunks, memory_order_relaxed);
        if (c >= n_chunks) return;
        if (!atomic_compare_exchange_weak(&p->ticket, &t, t + 1)) continue;
        size_t n = atomic_load_explicit(&job->n, memory_order_relaxed);
        size_t grain = atomic_load_explicit(&job->grain, memory_order_relaxed);
        size_t i0 = c * grain, i1 = i0 + grain < n ? i0 + grain : n;
        atomic_load_explicit(&job->fn, memory_order_relaxed)(
            atomic_load_explicit(&job->arg, memory_order_relaxed), i0, i1, worker);
        if (atomic_fetch_add(&p->done, 1) + 1 == n_chunks && atomic_load(&p->caller_asleep)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->finished);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static bool new_job_or_stop(esft_cpu_pool *p, uint32_t seen) {
    return ticket_gen(atomic_load(&p->ticket)) != seen || atomic_load(&p->stop);
}

static void *thread_main(void *arg) {
    pool_thread *self = arg;
    esft_cpu_pool *p = self->pool;
    uint32_t seen = 0;
    for (;;) {
        if (!spin_until(p->spin_ns, new_job_or_stop, p, seen)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (!new_job_or_stop(p, seen)) pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = ticket_gen(atomic_load(&p->ticket));
        run_chunks(p, seen, self->index);
    }
}

/* Runnable threads on the machine besides the caller and this pool's
 * awake threads (/proc/loadavg's running count includes both), or -1 when
 * unknown. */
static int others_runnable(esft_cpu_pool *p) {
    char buf[256];
    ssize_t got = pread(p->load_fd, buf, sizeof buf - 1, 0);
    if (got <= 0) return -1;
    buf[got] = '\0';
    int running;
    if (sscanf(buf, "%*s %*s %*s %d/", &running) != 1) return -1;
    const int awake = p->n_started - atomic_load(&p->sleepers);
    return running - 1 - awake;
}

/* Whether jobs run on the caller alone now (see POOL_LOAD_EVERY). */
static bool pool_steps_back(esft_cpu_pool *p) {
    if (p->load_fd < 0) return false;
    if (p->n_jobs++ % POOL_LOAD_EVERY == 0) {
        const int others = others_runnable(p);
        const bool crowded = others >= 0 && others + p->n_threads > p->n_cpus;
        p->crowded_looks = crowded ? (p->crowded_looks < 2 ? p->crowded_looks + 1 : 2) : 0;
    }
    return esft_cpu_pool_yielding(p);
}

bool esft_cpu_pool_watch_load(esft_cpu_pool *p, const char *path) {
    if (p->load_fd >= 0) close(p->load_fd);
    p->load_fd = path && p->n_threads > 1 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    p->crowded_looks = 0;
    return p->load_fd >= 0 || !path;
}

bool esft_cpu_pool_yielding(const esft_cpu_pool *p) { return p->load_fd >= 0 && p->crowded_looks >= 2; }

static bool job_done(esft_cpu_pool *p, uint32_t n_chunks) {
    return atomic_load(&p->done) >= n_chunks;
}

void esft_cpu_pool_run(esft_cpu_pool *p, size_t n, size_t grain, int parallel,
                       esft_cpu_pool_fn *fn, void *arg) {
    if (n == 0) return;
    if (grain == 0) grain = 1;
    size_t n_chunks = (n + grain - 1) / grain;
    if (!parallel || p->n_started == 0 || n_chunks < 2) {
        fn(arg, 0, n, 0);
        return;
    }
    if (n_chunks > UINT32_MAX) { /* the ticket counts chunks in 32 bits */
        grain = (n + UINT32_MAX - 1) / UINT32_MAX;
        n_chunks = (n + grain - 1) / grain;
    }
    if (pool_steps_back(p)) {
        for (size_t c = 0; c < n_chunks; c++) fn(arg, c * grain, c + 1 < n_chunks ? (c + 1) * grain : n, 0);
        return;
    }
    uint32_t gen = ++p->gen;
    pool_job *job = &p->jobs[gen & 1];
    atomic_store_explicit(&job->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&job->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&job->n, n, memory_order_relaxed);
    atomic_store_explicit(&job->grain, grain, memory_order_relaxed);
    atomic_store_explicit(&job->n_chunks, n_chunks, memory_order_relaxed);
    atomic_store(&p->done, 0);
    atomic_store(&p->ticket, (uint64_t)gen << 32); /* publishes the job */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    run_chunks(p, gen, 0);
    /* the last chunks may be on a preempted thread: spin a little, then
     * sleep so that thread can have this core */
    if (!spin_until(p->spin_ns, job_done, p, (uint32_t)n_chunks)) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_asleep, 1);
        while (!job_done(p, (uint32_t)n_chunks)) pthread_cond_wait(&p->finished, &p->mu);
        atomic_store(&p->caller_asleep, 0);
        pthread_mutex_unlock(&p->mu);
    }
}

size_t esft_cpu_pool_grain(const esft_cpu_pool *p, size_t n, size_t per_thread, size_t multiple,
                           size_t min_grain) {
    size_t chunks = (size_t)p->n_threads * (per_thread ? per_thread : 1);
    size_t g = (n + chunks - 1) / chunks;
    if (g < min_grain) g = min_grain;
    if (multiple > 1) g = (g + multiple - 1) / multiple * multiple;
    return g ? g : 1;
}

static long spin_ns_from_env(void) {
    const char *s = getenv("ESFT_CPU_SPIN_US");
    if (s && *s) {
        char *end;
        long us = strtol(s, &end, 10);
        if (*end == '\0' && us >= 0 && us <= 100000) return us * 1000L;
    }
    return POOL_SPIN_US_DEFAULT * 1000L;
}

esft_status esft_cpu_pool_create(int n_threads, esft_cpu_pool **out, esft_err *err) {
    *out = NULL;
    esft_cpu_pool *p = calloc(1, sizeof *p);
    if (!p) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "cpu pool: out of memory");
    p->n_threads = n_threads > 1 ? n_threads : 1;
    p->spin_ns = spin_ns_from_env();
    const char *yield = getenv("ESFT_CPU_YIELD");
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    p->n_cpus = cpus > 0 ? (int)cpus : 1;
    p->load_fd = -1;
    if (n_threads > 1 && !(yield && strcmp(yield, "0") == 0)) esft_cpu_pool_watch_load(p, "/proc/loadavg");
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->finished, NULL);
    if (p->n_threads > 1) {
        p->threads = calloc((size_t)p->n_threads - 1, sizeof *p->threads);
        if (!p->threads) {
            esft_cpu_pool_destroy(p);
            return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "cpu pool: out of memory");
        }
        for (int i = 0; i < p->n_threads - 1; i++) {
            p->threads[i] = (pool_thread){.pool = p, .index = i + 1};
            if (pthread_create(&p->threads[i].tid, NULL, thread_main, &p->threads[i]) != 0) {
                esft_cpu_pool_destroy(p);
                return esft_errf(err, ESFT_ERR_DEVICE, "cpu pool: cannot start thread %d of %d",
                                 i + 1, n_threads - 1);
            }
            p->n_started++;
        }
    }
    *out = p;
    return ESFT_OK;
}

void esft_cpu_pool_destroy(esft_cpu_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->threads[i].tid, NULL);
    free(p->threads);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->finished);
    pthread_mutex_destroy(&p->mu);
    if (p->load_fd >= 0) close(p->load_fd);
    free(p);
}
