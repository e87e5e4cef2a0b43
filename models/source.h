/* Where a model comes from: a GGUF file, or a Hugging Face directory
 * (config.json, *.safetensors, tokenizer.json) read as the GGUF that
 * llama.cpp's converter would make of it (see hf.h). Either way the loader
 * sees GGUF metadata (hyper-parameters, tokenizer) and a list of tensors
 * with GGUF names, GGUF shapes and GGUF row order, so GGUF and Hugging Face
 * models train identically: same tensor names, same noise streams. */
#ifndef ESFT_SOURCE_H
#define ESFT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../backends/status.h"
#include "gguf.h"
#include "quant.h"

typedef struct esft_source_tensor {
    const char *name;       /* GGUF name, e.g. "blk.0.attn_q.weight" */
    const char *file;       /* file that holds it (for messages) */
    const char *file_name;  /* its name in that file (the Hugging Face name) */
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS]; /* GGUF order: ne[0] is the row length */
    uint64_t n_elements;
    uint64_t n_bytes;       /* of data */
    ggml_type type;         /* F32 / F16 / BF16, or a GGUF quantisation */
    const void *data;       /* into a mapping; may be unaligned */
    /* > 0: the rows are in Hugging Face order for this many rotary heads and
     * are interleaved per head on reading (llama q/k; see hf.c) */
    uint32_t rope_heads;
    /* added to every value on reading: Gemma's Hugging Face norms hold w
     * where GGUF (llama.cpp's converter) holds 1 + w */
    float shift;
    bool in_memory;         /* data is not a file mapping (nothing to release) */
} esft_source_tensor;

typedef struct esft_source_files esft_source_files; /* mappings owned by a source */

typedef struct esft_model_source {
    gguf_file *meta;               /* metadata; for a GGUF file, the file itself */
    size_t n_tensors;
    esft_source_tensor *tensors;
    esft_source_files *files;
} esft_model_source;

/* A directory is read as a Hugging Face model, anything else as GGUF. */
esft_status esft_source_open(const char *path, esft_model_source *src, esft_err *err);
void esft_source_close(esft_model_source *src);
/* Gives up the metadata (the caller closes it with esft_gguf_close). */
gguf_file *esft_source_take_meta(esft_model_source *src);

/* Identifies a model's weights: FNV-1a 64 over every tensor's name, type,
 * shape and data bytes, in source order, continuing from h. A GGUF file's is
 * its tensors'; a Hugging Face directory's is that of its tensors as read
 * (GGUF names, types and shapes; the file's bytes). */
uint64_t esft_tensor_fingerprint(uint64_t h, const char *name, ggml_type type, const uint64_t ne[GGUF_MAX_DIMS],
                                 const void *data, uint64_t n_bytes);
/* Of the model at path (esft_source_open, then every tensor). */
esft_status esft_source_fingerprint(const char *path, uint64_t *out, esft_err *err);

/* Tensor t as f32 into out[t->n_elements], rows in GGUF order. */
esft_status esft_source_read_f32(const esft_source_tensor *t, float *out, esft_err *err);
/* Rows row0 .. row0 + n_rows of t (rows of ne[0] values; a vector is one
 * row) as f32 into out[n_rows * ne[0]]: a tensor read piece by piece, so
 * loading needs no whole-tensor host copy. row0 and n_rows are multiples of
 * what esft_source_chunk_rows gives (the last piece may be shorter). */
esft_status esft_source_read_f32_rows(const esft_source_tensor *t, uint64_t row0, uint64_t n_rows, float *out,
                                      esft_err *err);
/* Rows of t to read at once for at most max_elements values (at least one
 * whole rotary head when t is interleaved on reading). */
uint64_t esft_source_chunk_rows(const esft_source_tensor *t, uint64_t max_elements);
/* Reorders the rows of a llama q or k matrix (n_rows rows of row_len f32,
 * whole heads of head_rows rows) in place between Hugging Face's rotary
 * layout and GGUF's: to_gguf interleaves each head's two halves, as
 * llama.cpp's converter does; !to_gguf undoes that. */
esft_status esft_rope_rows_permute(float *w, uint64_t n_rows, uint64_t row_len, uint64_t head_rows, bool to_gguf,
                                   esft_err *err);
/* Drops t's file pages from this process's memory once they are read (they
 * would otherwise stay resident as long as the mapping: the file's size on
 * top of the weights). Touching t->data again reads them back. */
void esft_source_release(const esft_source_tensor *t);

#endif
