/* The ES fine-tuning loop of DESIGN.md §1 over a model, a task and a
 * backend, with metrics, checkpoints and exact resume. */
#ifndef ESFT_TRAIN_H
#define ESFT_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "checkpoint.h"

/* esft_train_options.save_dtype when not given */
#define ESFT_SAVE_DTYPE_UNSET ((ggml_type)-1)

typedef struct esft_train_options {
    const char *model_path;     /* base GGUF (or NULL on resume: the recorded one) */
    const char *data_path;      /* task data (NULL: the task's built-in set; on resume: the recorded one) */
    const char *eval_data_path; /* NULL: the task's built-in eval set, if any (on resume: the recorded one) */
    const char *out_dir;
    const char *resume_dir;     /* continue the run saved there */
    bool overwrite;             /* start afresh in an --out that holds a run, removing its files */
    esft_run_config cfg;       /* unset: pop INT_MIN, floats NAN, ints 0, seed UINT64_MAX, shaping -1 */
    int iters;                  /* total iterations of the run (0: 10, or on resume the run's own) */
    /* Settings that do not change the weights. Negative: not given, so on
     * resume the run's recorded value and otherwise the default in brackets. */
    int eval_every;             /* evaluate every K iterations and at the end [0: only at the end] */
    int eval_limit;             /* eval items [0: all] */
    int checkpoint_every;       /* [0: only at the end] */
    int max_slots;              /* sequences decoded together [0: min(batch, 64)] */
    int log_samples;            /* (prompt, response, reward) triples per iteration in samples.jsonl [0] */
    /* final.gguf: F32 (also for a zeroed struct), BF16, F16 or Q8_0 (see
     * esft_save_tensor_type); ESFT_SAVE_DTYPE_UNSET: on resume the run's,
     * else bf16 (what `esft train` passes when --save-dtype is not given) */
    ggml_type save_dtype;
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
