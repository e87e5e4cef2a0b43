/* ES checkpoints and final models: GGUF files that llama.cpp loads (the base
 * model's metadata and tokenizer, the trained tensors) plus esft.* keys that
 * describe the run. A checkpoint stores the f32 master weights, so that
 * `esft train --resume` continues the run bit for bit; a final model may
 * store them in a smaller type (--save-dtype). Written atomically, streamed
 * tensor by tensor, a few rows at a time: no host copy of the model. */
#ifndef ESFT_CHECKPOINT_H
#define ESFT_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "es.h"
#include "model.h"
#include "optimizer.h"

/* Everything that defines an ES run (and so must agree on resume). */
typedef struct esft_run_config {
    uint64_t run_seed;
    int pop;
    float sigma, alpha;
    int batch, max_new;
    char task[32];        /* a built-in task, or "" for a data set scored by reward */
    char reward[32];      /* reward.h name scoring a data set ("" for a built-in task) */
    char reward_arg[256]; /* --reward-arg ("" when none) */
    float eval_split;     /* fraction of the data held out as the eval set (0: none) */
    char reward_cmd[512]; /* --reward-cmd, an external reward command ("" when none) */
    float reward_timeout; /* --reward-timeout: seconds per response */
    float reward_timeout_score; /* --reward-timeout-score: the reward of a response that timed out */
    esft_shaping shaping;
    bool antithetic;
    char params[256];     /* tensor glob(s), comma-separated; "*" = all */
    float weight_decay;
    esft_opt_config opt;  /* --optimizer, --beta1/2, --eps, --anchor-decay */
    bool chat;            /* prompts go through a chat template */
    char chat_template[16]; /* chat: its family (esft_chat_family_name); "" until resolved */
    char system[1024];    /* chat: the system turn (--system), "" none */
    esft_noise_mode noise;/* full or lowrank members (UNSET: not given) */
    int rank;             /* lowrank: R of A_k B_k^T (0: not given / full mode) */
} esft_run_config;

/* The run's noise mode as recorded: an unset mode (a caller that never
 * heard of low-rank members) is full mode. */
static inline esft_noise_mode esft_noise_mode_of(const esft_run_config *c) {
    return c->noise == ESFT_NOISE_LOWRANK ? ESFT_NOISE_LOWRANK : ESFT_NOISE_FULL;
}

typedef struct esft_ckpt_info {
    esft_run_config cfg;
    int iteration;             /* iterations completed */
    int iters_total;           /* --iters of the run that wrote it */
    uint64_t base_fingerprint; /* of the base model's tensors */
    char base_path[1024];
    /* esft.metrics_line: the metrics.jsonl line of the iteration that wrote
     * the checkpoint (NULL: none). read_info points it into the file. */
    const char *metrics_line;
} esft_ckpt_info;

/* FNV-1a 64 over every tensor's name, type, shape and data bytes. */
uint64_t esft_model_fingerprint(const gguf_file *f);

/* Types a model can be saved in (--save-dtype): f32, bf16, f16, q8_0. */
bool esft_save_dtype_from_name(const char *name, ggml_type *out);
/* The type a tensor is stored in when the model is saved as `dtype`:
 * 1-D tensors (norms, biases) stay f32, as llama.cpp expects; q8_0 needs
 * rows of a multiple of its 32-element block, and other matrices fall back
 * to f16, as llama.cpp's own quantizer does. */
ggml_type esft_save_tensor_type(ggml_type dtype, uint32_t n_dims, uint64_t row_len);
/* llama.cpp's general.file_type (enum llama_ftype) of a model saved as
 * dtype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_BF16 32. */
uint32_t esft_save_file_type(ggml_type dtype);

/* The keys of a model saved as dtype: meta's (the base model's metadata and
 * tokenizer) without esft.* keys, and general.file_type and
 * general.quantization_version for dtype. */
esft_status esft_save_model_keys(gguf_writer *w, const gguf_file *meta, ggml_type dtype, esft_err *err);
/* Writes the model's master weights as `dtype` (see esft_save_tensor_type;
 * GGML_TYPE_F32 for a checkpoint) with `info` as esft.* keys. */
esft_status esft_checkpoint_write(const esft_model *m, const esft_ckpt_info *info, ggml_type dtype,
                                  const char *path, esft_err *err);

/* Sets c's chat template and system turn from recorded values (NULL: not
 * recorded): none for a run without chat, and ChatML with no system turn for
 * a chat run from before templates were recorded, which is what it used. */
void esft_run_config_chat_keys(esft_run_config *c, const char *chat_template, const char *system);

/* Reads the esft.* keys of a checkpoint; ESFT_ERR_FORMAT if absent. */
esft_status esft_checkpoint_read_info(const gguf_file *f, esft_ckpt_info *info, esft_err *err);

#endif
