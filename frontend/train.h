/* The ES fine-tuning loop of DESIGN.md §1 over a model, a task and a
 * backend, with metrics, checkpoints and exact resume. */
#ifndef ESFT_TRAIN_H
#define ESFT_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "checkpoint.h"

typedef struct esft_train_options {
    const char *model_path;     /* base GGUF (or NULL on resume: the recorded one) */
    const char *data_path;      /* task data (NULL: the task's built-in set) */
    const char *eval_data_path; /* NULL: the task's built-in eval set, if any */
    const char *out_dir;
    const char *resume_dir;     /* continue the run saved there */
    esft_run_config cfg;       /* unset: pop INT_MIN, floats NAN, ints 0, seed UINT64_MAX, shaping -1 */
    int iters;                  /* total iterations of the run */
    int eval_every;             /* 0: never (the end is always evaluated if eval data exists) */
    int eval_limit;             /* eval items (0: all) */
    int checkpoint_every;       /* 0: only at the end */
    ggml_type save_dtype;       /* final.gguf: F32 (0, also for a zeroed struct), BF16, F16 or Q8_0
                                   (see esft_save_tensor_type); `esft train` defaults to bf16 */
    int max_slots;              /* sequences decoded together (0: min(batch, 64)) */
    bool quiet;                 /* no progress output */
    /* backend */
    const char *backend;
    int threads, device;        /* device -1: not given (ranks share a node's devices) */
    /* distribution (frontend/distributed.h) */
    int hash_every;             /* compare ranks' weight hashes every K iterations and at the end */
    double mpi_timeout;         /* seconds a rank waits for the others before aborting the job */
    bool no_bind;               /* ranks do not bind to cores */
} esft_train_options;

/* Runs (or resumes) training. Returns an exit code (0, 1, 2) after printing
 * a one-line error for failures. */
int esft_train(const esft_train_options *opts);

#endif
