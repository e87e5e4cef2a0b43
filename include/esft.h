/* esft: fine-tuning language models with evolution strategies.
 *
 * The public C API of libesft. A program opens a backend (a compute
 * device), loads a model on it, and either generates with it or trains it
 * with ES: a population of perturbed copies of the weights answers a batch
 * of prompts, a reward scores each answer, and the weights move toward the
 * members that scored well (DESIGN.md §1; the paper's defaults:
 * population 30, σ = 0.001, α = 5e-4, greedy decoding).
 *
 *     esft_backend *be;  esft_model *m;  esft_trainer *tr;
 *     esft_backend_init(NULL, &be);                    // --backend auto
 *     esft_model_open(be, "model.gguf", NULL, &m);
 *     esft_trainer_params tp = esft_trainer_default_params();
 *     tp.prompts = prompts, tp.n_prompts = n;
 *     esft_trainer_init(m, &tp, &tr);
 *     esft_trainer_run(tr, 10, my_reward, my_state);   // or the steps below
 *     esft_trainer_save(tr, "final.gguf", ESFT_SAVE_BF16);
 *
 * A host that owns the loop (its own scheduler, its own processes) calls
 * the steps: per iteration, esft_trainer_eval_members() for any blocks of
 * members, in any order or on several trainers over copies of the same
 * model, then esft_trainer_apply() with every member's reward. The result
 * is the same, bit for bit, however the members were split.
 *
 * Errors: every fallible function returns an esft_status; on failure,
 * esft_last_error() is a one-line message naming what is at fault (the
 * file, the tensor, the prompt, the device), kept per thread until the
 * next failing call. Nothing here prints or exits. Handles are not
 * thread-safe: one thread at a time per backend and what lives on it.
 *
 * Link with `pkg-config --cflags --libs esft`, or in CMake
 * `find_package(esft)` and `target_link_libraries(app PRIVATE esft::esft)`. */
#ifndef ESFT_H
#define ESFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(ESFT_BUILDING_LIBRARY) && defined(__GNUC__)
#define ESFT_API __attribute__((visibility("default")))
#else
#define ESFT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define ESFT_API_VERSION 1 /* bumped when this header changes incompatibly */

typedef enum esft_status {
    ESFT_OK = 0,
    ESFT_ERR_INVALID_ARG,   /* the caller passed something nonsensical */
    ESFT_ERR_OUT_OF_MEMORY, /* a host or device allocation failed */
    ESFT_ERR_UNSUPPORTED,   /* an op, dtype or feature not available here */
    ESFT_ERR_DEVICE,        /* the backend API reported a failure */
    ESFT_ERR_IO,            /* open/read/write/rename failed */
    ESFT_ERR_FORMAT,        /* a malformed file or data */
    ESFT_ERR_CALLBACK,      /* a callback of the caller's returned a failure */
} esft_status;

typedef struct esft_backend esft_backend; /* a compute device */
typedef struct esft_model esft_model;     /* weights and tokenizer, on a backend */
typedef struct esft_trainer esft_trainer; /* an ES run over a model */

/* "ok", "i/o error", ... */
ESFT_API const char *esft_status_name(esft_status status);
/* The message of this thread's last failure ("" when none). */
ESFT_API const char *esft_last_error(void);
/* The library's version, "MAJOR.MINOR.PATCH". */
ESFT_API const char *esft_version(void);
/* Frees what the library allocated for the caller (response texts). */
ESFT_API void esft_free(void *p);

/* ---- backends ---- */

typedef struct esft_backend_params {
    const char *backend; /* "auto" (NULL too), "cpu", "cuda", "vulkan", "opencl" */
    int device;          /* the device's index in its backend; -1: the best (auto) or the first */
    int threads;         /* host threads of the cpu backend; 0: every core */
} esft_backend_params;

ESFT_API esft_backend_params esft_backend_default_params(void);
/* params NULL: the defaults. */
ESFT_API esft_status esft_backend_init(const esft_backend_params *params, esft_backend **out);
ESFT_API void esft_backend_free(esft_backend *be);
/* "cpu", "cuda", ... and the device's own name. */
ESFT_API const char *esft_backend_name(const esft_backend *be);
ESFT_API const char *esft_backend_device_name(const esft_backend *be);

/* ---- models ---- */

typedef struct esft_model_params {
    bool trainable; /* keep the f32 master apart from the working copy (needed to train) */
} esft_model_params;

ESFT_API esft_model_params esft_model_default_params(void);
/* Loads a GGUF model (llama and qwen2 architectures; any type llama.cpp
 * quantises to is dequantised to the f32 master). params NULL: defaults. */
ESFT_API esft_status esft_model_open(esft_backend *be, const char *path, const esft_model_params *params,
                                     esft_model **out);
ESFT_API void esft_model_close(esft_model *m);
ESFT_API size_t esft_model_n_params(const esft_model *m); /* weights, all tensors */
ESFT_API int esft_model_n_ctx(const esft_model *m);       /* context length */

typedef struct esft_generate_params {
    int max_new;       /* tokens to generate per prompt */
    bool chat;         /* format each prompt with the model's chat template */
    const char *system;/* chat only: a system turn (NULL: none) */
    float temperature; /* <= 0: greedy */
    int top_k;         /* 0: off */
    float top_p;       /* >= 1: off */
    uint64_t seed;     /* sampling only */
    int max_slots;     /* sequences decoded together; 0: all */
} esft_generate_params;

ESFT_API esft_generate_params esft_generate_default_params(void);
/* Generates for prompts[0..n); responses[i] becomes a NUL-terminated string
 * (the generated text only) that the caller frees with esft_free(). On
 * failure no response is left allocated. */
ESFT_API esft_status esft_model_generate(esft_model *m, const char *const *prompts, int n,
                                         const esft_generate_params *params, char **responses);

/* ---- ES training ---- */

/* What a reward callback sees. response is NUL-terminated. */
typedef struct esft_reward_input {
    int item;             /* index of the prompt in esft_trainer_params.prompts */
    const char *prompt;   /* as given (before any chat template) */
    const char *response; /* the generated text only, never the prompt */
    size_t response_len;
    int iteration;        /* 0-based */
    int member;           /* 0-based population member */
} esft_reward_input;

/* Scores one response into *reward (higher is better). A status other
 * than ESFT_OK stops the call that ran it with ESFT_ERR_CALLBACK. */
typedef esft_status (*esft_reward_fn)(void *user, const esft_reward_input *in, double *reward);

typedef enum esft_shaping_kind {
    ESFT_SHAPE_ZSCORE = 0, /* (R − mean)/(std + 1e-8), the paper's */
    ESFT_SHAPE_RANK,       /* centred ranks in [−0.5, 0.5] */
    ESFT_SHAPE_RAW,        /* the rewards as they are */
} esft_shaping_kind;

typedef struct esft_trainer_params {
    /* the ES run: what a checkpoint records and a resume keeps */
    int pop;              /* population size N (>= 2; even with antithetic) */
    float sigma;          /* noise scale σ */
    float alpha;          /* learning rate α */
    uint64_t seed;        /* run seed: every random choice derives from it */
    esft_shaping_kind shaping;
    bool antithetic;      /* members in ± pairs */
    float weight_decay;   /* θ ← (1 − α·λ)·θ before each update */
    const char *params;   /* comma-separated tensor globs to train; NULL: "*" */
    int batch;            /* prompts per iteration, drawn from the seed; 0 or >= n: all */
    int max_new;          /* tokens generated per prompt */
    bool chat;            /* format prompts with the model's chat template */
    /* the data: not stored in checkpoints; give it again on resume */
    const char *const *prompts;
    int n_prompts;
    /* speed only */
    int max_slots;        /* sequences decoded together; 0: min(batch, 64) */
} esft_trainer_params;

ESFT_API esft_trainer_params esft_trainer_default_params(void);

/* Starts a run over m, which must have been opened trainable; the trainer
 * changes m's weights and m must outlive it. The prompts are copied. */
ESFT_API esft_status esft_trainer_init(esft_model *m, const esft_trainer_params *params, esft_trainer **out);
/* Continues the run saved by esft_trainer_save(..., ESFT_SAVE_CHECKPOINT):
 * loads the checkpoint on be as the trainer's own model (esft_trainer_model)
 * with the run's settings and iteration. params gives the prompts (and
 * max_slots); its run settings must be the defaults or equal the run's. */
ESFT_API esft_status esft_trainer_resume(esft_backend *be, const char *checkpoint,
                                         const esft_trainer_params *params, esft_trainer **out);
ESFT_API void esft_trainer_free(esft_trainer *tr);

ESFT_API esft_model *esft_trainer_model(esft_trainer *tr);
ESFT_API int esft_trainer_pop(const esft_trainer *tr);
ESFT_API int esft_trainer_iteration(const esft_trainer *tr); /* iterations applied so far */

/* The step API. Member k of the current iteration answers this
 * iteration's prompts with its perturbed weights; rewards[k − lo] is the
 * mean of reward() over them (NULL reward: an error). Members may be
 * evaluated in any blocks and order before esft_trainer_apply. */
ESFT_API esft_status esft_trainer_eval_members(esft_trainer *tr, int lo, int hi, esft_reward_fn reward,
                                               void *user, double *rewards);
/* Applies the update for rewards[0..pop) (every member's) and moves to the
 * next iteration. */
ESFT_API esft_status esft_trainer_apply(esft_trainer *tr, const double *rewards);

/* What one iteration did, for esft_trainer_run's progress callback. */
typedef struct esft_iteration_stats {
    int iteration;        /* 0-based: the iteration just applied */
    double reward_mean, reward_min, reward_max;
    double seconds;
} esft_iteration_stats;
typedef void (*esft_iteration_fn)(void *user, const esft_iteration_stats *s);

/* Runs iterations until esft_trainer_iteration(tr) == iters: every member,
 * then the update, calling on_iteration (may be NULL) after each. */
ESFT_API esft_status esft_trainer_run(esft_trainer *tr, int iters, esft_reward_fn reward, void *user,
                                      esft_iteration_fn on_iteration, void *progress_user);

typedef enum esft_save_type {
    ESFT_SAVE_CHECKPOINT = 0, /* f32 master weights and the run's state: resumable */
    ESFT_SAVE_F32,
    ESFT_SAVE_BF16,
    ESFT_SAVE_F16,
    ESFT_SAVE_Q8_0,
} esft_save_type;

/* Writes the trained model as a GGUF file llama.cpp loads, atomically
 * (a temporary file, fsync, rename). */
ESFT_API esft_status esft_trainer_save(esft_trainer *tr, const char *path, esft_save_type type);

#ifdef __cplusplus
}
#endif

#endif
