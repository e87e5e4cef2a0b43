/* Optimizers on the ES gradient (issue 17): --optimizer sgd | momentum |
 * adam | adamw, --beta1 --beta2 --eps, and --anchor-decay λ (decay toward
 * the base model's weights instead of toward zero).
 *
 * With g = (1/N) Σ_k z_k ε_k (the paper's estimate, 1/σ folded into α):
 *   sgd       θ += α·g                       (the paper; es_update, unchanged)
 *   momentum  m = β1·m + g;  θ += α·m         (heavy ball; β1 = 0 is sgd)
 *   adam      textbook Adam on g (ascent), --weight-decay W added to the
 *             gradient as L2: g −= W·θ
 *   adamw     Adam with decoupled decay θ −= α·W·θ
 *   anchor    θ −= α·λ·(θ − θ_base) with every optimizer
 * One fused backend pass per tensor (es_optimize) regenerates g from the
 * seeds and coefficients, updates the f32 state on the device and writes the
 * master. State: m (momentum), m and v (adam/adamw) per trained weight:
 * 4 or 8 bytes per weight on the device.
 *
 * The anchor θ_base is re-read from the base model file at each update, one
 * tensor at a time (dequantised, uploaded into one scratch buffer), so no
 * second resident copy of the model is kept: the cost is one f32 buffer of
 * the largest trained tensor on the device and one on the host (SmolLM2-135M:
 * the 49152 x 576 embedding, 113 MB each), plus the dequantisation time.
 *
 * The state is saved beside checkpoint.gguf as optstate-<iteration>.gguf
 * (one f32 tensor "<name>.m" / "<name>.v" per trained tensor), written
 * before the checkpoint, and the previous one removed after it, so a crash
 * between the two leaves the checkpoint's own iteration's state in place. */
#ifndef ESFT_OPTIMIZER_H
#define ESFT_OPTIMIZER_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"
#include "source.h"

typedef enum esft_optimizer {
    ESFT_OPTIMIZER_SGD = 0,
    ESFT_OPTIMIZER_MOMENTUM,
    ESFT_OPTIMIZER_ADAM,
    ESFT_OPTIMIZER_ADAMW,
    ESFT_OPTIMIZER_COUNT
} esft_optimizer;

const char *esft_optimizer_name(esft_optimizer o);
bool esft_optimizer_from_name(const char *name, esft_optimizer *out);

/* The run's optimizer settings (part of esft_run_config). Before defaults
 * (a flag not given): kind = ESFT_OPTIMIZER_COUNT and the floats NaN. */
typedef struct esft_opt_config {
    esft_optimizer kind;
    float beta1, beta2, eps;
    float anchor_decay; /* λ; 0: off */
} esft_opt_config;

void esft_opt_config_unset(esft_opt_config *c);
/* A zero-initialised config (callers of esft_train that predate optimizers)
 * means "nothing given": it is made unset. No explicit setting is all zeros
 * (eps must be > 0). */
void esft_opt_config_zero_is_unset(esft_opt_config *c);
/* Fills what was not given: sgd, β1 0.9, β2 0.999, eps 1e-8, λ 0. */
void esft_opt_config_defaults(esft_opt_config *c);
/* Refuses a bad setting, naming its flag (cli) or esft_trainer_params field. */
esft_status esft_opt_config_check(const esft_opt_config *c, float alpha, bool cli, esft_err *err);
/* On resume: a setting given (not unset) must equal the recorded one.
 * Returns false and names the flag in msg when one differs. */
bool esft_opt_config_agrees(const esft_opt_config *given, const esft_opt_config *recorded, char *msg, size_t cap);
/* esft.optimizer, esft.beta1, esft.beta2, esft.eps, esft.anchor_decay in a
 * checkpoint; absent keys (runs from before optimizers) read as plain sgd.
 * False when a key is malformed. */
esft_status esft_opt_config_write_keys(gguf_writer *w, const esft_opt_config *c, esft_err *err);
bool esft_opt_config_read_keys(const gguf_file *f, esft_opt_config *c);
/* The same settings in run.json (cJSON object o); absent: plain sgd. */
struct cJSON;
void esft_opt_config_to_json(struct cJSON *o, const esft_opt_config *c);
bool esft_opt_config_from_json(const struct cJSON *o, esft_opt_config *c);
/* Bytes of optimizer state for n trained weights (0 for sgd). */
uint64_t esft_opt_state_bytes(const esft_opt_config *c, uint64_t n);
/* True when updates go through es_optimize (anything but plain sgd). */
bool esft_opt_config_fused(const esft_opt_config *c);

/* Runtime optimizer of a model: state buffers and the anchor source. */
typedef struct esft_opt_state {
    esft_opt_config cfg;
    int n_params;
    esft_buf *state;          /* [n_params]: f32 [k·n] for trained tensors (k = 0, 1, 2), else unallocated */
    esft_model_source base;   /* the anchor's model file (anchor_decay > 0) */
    bool have_base;
    esft_buf base_buf;        /* [largest trained tensor] f32 device scratch (anchor) */
    float *base_host;         /* its host staging */
} esft_opt_state;

/* Allocates zeroed state for the selected tensors and, with an anchor,
 * opens base_path and checks that it holds every selected tensor. */
esft_status esft_opt_init(esft_opt_state *o, const esft_opt_config *c, esft_model *m, const bool *selected,
                          const char *base_path, esft_err *err);
void esft_opt_free(esft_opt_state *o);

/* The fused update of iteration t (0-based) for the gradient coefficients
 * gcoeffs (g = Σ gcoeffs_j ε(seeds_j), i.e. esft_es_coefficients with
 * α = 1), with weight decay W and learning rate α from the run. */
esft_status esft_opt_apply(esft_opt_state *o, esft_model *m, const bool *selected, float alpha, float weight_decay,
                           int t, const uint64_t *seeds, const float *gcoeffs, int n_seeds, esft_err *err);
/* The backend's step of iteration t (esft_opt_apply's, for the low-rank
 * update that forms g from factors itself). */
esft_opt_step esft_opt_step_at(const esft_opt_state *o, float alpha, float weight_decay, int t);
/* p's base weights into o->base_buf for the anchor (nothing without one). */
esft_status esft_opt_load_base(esft_opt_state *o, const esft_param *p, esft_err *err);

/* optstate-<iteration>.gguf in dir (malloc'd). */
char *esft_opt_state_path(const char *dir, int iteration);
/* Writes the state after `iteration` updates, atomically (nothing for a
 * rule without state). */
esft_status esft_opt_save(const esft_opt_state *o, const esft_model *m, const bool *selected, int iteration,
                          const char *path, esft_err *err);
/* Reads the state a save wrote; refuses a file of another optimizer,
 * iteration or tensor set. */
esft_status esft_opt_load(esft_opt_state *o, esft_model *m, const bool *selected, int iteration, const char *path,
                          esft_err *err);

#endif
