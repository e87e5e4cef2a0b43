/* The ES fine-tuning loop of DESIGN.md §1 over a model, a task and a
 * backend, with metrics, checkpoints and exact resume. */
#ifndef ESFT_TRAIN_H
#define ESFT_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "checkpoint.h"
#include "generate.h"

/* esft_train_options.save_dtype when not given */
#define ESFT_SAVE_DTYPE_UNSET ((ggml_type)-1)

/* What the loop reports while it runs, for a caller to show: rank 0 only
 * (NOTICE: any rank), and nothing with quiet. The loop itself prints
 * nothing. */
typedef enum esft_train_event_kind {
    ESFT_TRAIN_NOTICE,    /* text: a one-line notice (a restarted run, other data, a rank's placement) */
    ESFT_TRAIN_START,     /* the run's header */
    ESFT_TRAIN_GENERATE,  /* after a generation pass of a member (member >= 0) or of the eval set (-1) */
    ESFT_TRAIN_ITERATION, /* an iteration is done and its metrics line written */
    ESFT_TRAIN_DONE,      /* the run is done */
} esft_train_event_kind;

typedef struct esft_train_event {
    esft_train_event_kind kind;
    const char *text;               /* NOTICE */
    int iter, iters, start_iter;    /* iter: the iteration running or done (0-based); iters: the run's total */
    int member, pop;                /* GENERATE: the member (0-based), -1 for the eval set */
    int members;                    /* GENERATE: members decoded together from `member` on (low-rank: > 1) */
    const esft_gen_progress *gen;   /* GENERATE */
    double seconds;                 /* since the run started (START, DONE) or the iteration (others) */
    double eta;                     /* GENERATE: seconds left in the run, < 0 when not known yet */
    /* START */
    const char *model, *device, *task;
    int n_items, batch, max_new, ranks;
    float sigma, alpha;
    /* ITERATION */
    double reward_mean, reward_min, reward_max;
    double eval_accuracy;           /* NAN when this iteration was not evaluated */
    long new_tokens;
    double gen_seconds;             /* generation time summed over members */
    int zero_signal_streak;         /* iterations in a row without signal, this one included */
    /* DONE */
    const char *metrics_path, *final_path;
} esft_train_event;

typedef struct esft_train_options {
    const char *model_path;     /* base GGUF (required, except on resume: the recorded one) */
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
    /* "gguf" (final.gguf), "hf" (final-hf/, a Hugging Face directory in
     * bf16, or f32/f16 when save_dtype is) or "both"; NULL: on resume the
     * run's, else "gguf" */
    const char *save_format;
    bool quiet;                 /* no events */
    void (*on_event)(void *user, const esft_train_event *e); /* NULL: none */
    void *user;
    /* backend */
    const char *backend;
    int threads, device;        /* device -1: not given (ranks share a node's devices) */
    const char *work_dtype;     /* "f32" | "bf16" | "f16" | NULL: the backend's (on --resume the run's) */
    /* distribution (frontend/distributed.h) */
    int hash_every;             /* compare ranks' weight hashes every K iterations and at the end */
    double mpi_timeout;         /* seconds a rank waits for the others before aborting the job */
    bool no_bind;               /* ranks do not bind to cores */
    /* memory: the run is refused at start when its plan (master, working
     * copy, KV cache, activations) exceeds this or the device's memory */
    uint64_t max_memory;        /* bytes; 0: the device's reported memory only */
} esft_train_options;

/* Runs (or resumes) training. On failure returns the status and one line
 * in err (ESFT_ERR_INVALID_ARG: the options or the files they name are at
 * fault). Under MPI every rank returns the failure; err is empty on the
 * ranks that only learnt of another's. It prints nothing. */
esft_status esft_train(const esft_train_options *opts, esft_err *err);

#endif
