/* Writing a model esft loads (GGUF file or Hugging Face directory) in another
 * form: a Hugging Face directory (models/hf_write.h) or a GGUF file that
 * llama.cpp loads. Used by `esft export` and by `esft train --save-format`. */
#ifndef ESFT_EXPORT_H
#define ESFT_EXPORT_H

#include <stdbool.h>

#include "quant.h"
#include "safetensors.h"

typedef struct esft_export_format {
    bool hf;                 /* a Hugging Face directory; else one GGUF file */
    esft_st_dtype hf_dtype;  /* hf: BF16, F16 or F32 */
    ggml_type gguf_dtype;    /* gguf: F32, BF16, F16 or Q8_0 (see esft_save_tensor_type) */
    bool force;              /* replace an existing output */
} esft_export_format;

/* Sets f's dtype for the format (f->hf) from "bf16", "f16", "f32" (and
 * "q8_0" for GGUF); false for another name. */
bool esft_export_dtype_from_name(bool hf, const char *name, esft_export_format *f);

/* Writes the model at `model` to `out`. Without f->force an existing out
 * (a non-empty directory, or any file for GGUF) is refused. */
esft_status esft_export_model(const char *model, const char *out, const esft_export_format *f, esft_err *err);

#endif
