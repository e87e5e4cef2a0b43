/* ES checkpoints: GGUF files that llama.cpp loads (the base model's metadata
 * and tokenizer, f32 tensors) plus esft.* keys that describe the run, so that
 * `esft train --resume` continues it bit for bit. Written atomically. */
#ifndef ESFT_CHECKPOINT_H
#define ESFT_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "es.h"
#include "model.h"

/* Everything that defines an ES run (and so must agree on resume). */
typedef struct esft_run_config {
    uint64_t run_seed;
    int pop;
    float sigma, alpha;
    int batch, max_new;
    char task[32];
    esft_shaping shaping;
    bool antithetic;
    char params[256];     /* tensor glob(s), comma-separated; "*" = all */
    float weight_decay;
    bool chat;
} esft_run_config;

typedef struct esft_ckpt_info {
    esft_run_config cfg;
    int iteration;             /* iterations completed */
    int iters_total;           /* --iters of the run that wrote it */
    uint64_t base_fingerprint; /* of the base model's tensors */
    char base_path[1024];
} esft_ckpt_info;

/* FNV-1a 64 over every tensor's name, type, shape and data bytes. */
uint64_t esft_model_fingerprint(const gguf_file *f);

/* Writes the model's master weights (f32) with `info` as esft.* keys. */
esft_status esft_checkpoint_write(const esft_model *m, const esft_ckpt_info *info,
                                  const char *path, esft_err *err);

/* Reads the esft.* keys of a checkpoint; ESFT_ERR_FORMAT if absent. */
esft_status esft_checkpoint_read_info(const gguf_file *f, esft_ckpt_info *info, esft_err *err);

#endif
