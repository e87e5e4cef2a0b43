#include "export.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hf_write.h"
#include "source.h"
#include "checkpoint.h"

bool esft_export_dtype_from_name(bool hf, const char *name, esft_export_format *f) {
    if (!hf) return esft_save_dtype_from_name(name, &f->gguf_dtype);
    if (strcmp(name, "bf16") == 0) f->hf_dtype = ESFT_ST_BF16;
    else if (strcmp(name, "f16") == 0) f->hf_dtype = ESFT_ST_F16;
    else if (strcmp(name, "f32") == 0) f->hf_dtype = ESFT_ST_F32;
    else return false;
    return true;
}

/* --- GGUF: the source's metadata and its tensors, read as f32 and stored as
 * the save type, a few rows at a time (no copy of the model in memory). */

typedef struct gguf_out_tensor {
    const esft_source_tensor *t;
    ggml_type type;
    float **scratch; /* shared, grown as needed */
    uint64_t *scratch_n;
} gguf_out_tensor;

/* The writer asks for rows of ne[0] values (a vector is one row); the
 * source reads whole units (a rotary head of a Hugging Face llama q/k; a
 * vector whole): the covering units are read, the rows asked for stored. */
static esft_status gguf_rows(void *user, uint64_t row0, uint64_t n_rows, void *dst, esft_err *err) {
    gguf_out_tensor *o = user;
    const esft_source_tensor *t = o->t;
    const uint64_t row = t->ne[0], rows = t->n_elements / row;
    const uint64_t unit = t->n_dims == 1 ? rows : esft_source_chunk_rows(t, 0);
    const uint64_t lo = row0 / unit * unit;
    uint64_t hi = (row0 + n_rows + unit - 1) / unit * unit;
    if (hi > rows) hi = rows;
    const uint64_t n = (hi - lo) * row;
    if (n > *o->scratch_n) {
        float *grown = realloc(*o->scratch, (size_t)n * sizeof *grown);
        if (!grown) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tensor '%s': out of memory", t->name);
        *o->scratch = grown;
        *o->scratch_n = n;
    }
    esft_status st = t->n_dims == 1 ? esft_source_read_f32(t, *o->scratch, err)
                                    : esft_source_read_f32_rows(t, lo, hi - lo, *o->scratch, err);
    if (!st) st = esft_ggml_quantize(o->type, *o->scratch + (row0 - lo) * row, dst, (size_t)(n_rows * row), err);
    if (!st && row0 + n_rows == rows) esft_source_release(t);
    return st ? esft_err_prefix(err, st, "tensor '%s'", t->name) : ESFT_OK;
}

static esft_status write_gguf(const esft_model_source *src, const char *out, ggml_type dtype, esft_err *err) {
    gguf_writer *w = esft_gguf_writer_new();
    gguf_out_tensor *items = calloc(src->n_tensors + 1, sizeof *items);
    float *scratch = NULL;
    uint64_t scratch_n = 0;
    esft_status st = w && items ? ESFT_OK : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    if (!st) st = esft_save_model_keys(w, src->meta, dtype, err);
    for (size_t i = 0; i < src->n_tensors && !st; i++) {
        const esft_source_tensor *t = &src->tensors[i];
        items[i] = (gguf_out_tensor){.t = t, .type = esft_save_tensor_type(dtype, t->n_dims, t->ne[0]),
                                     .scratch = &scratch, .scratch_n = &scratch_n};
        st = esft_gguf_writer_add_tensor_rows(w, t->name, items[i].type, t->n_dims, t->ne, gguf_rows, &items[i], err);
    }
    if (!st) st = esft_gguf_writer_write(w, out, err);
    esft_gguf_writer_free(w);
    free(items);
    free(scratch);
    return st;
}

esft_status esft_export_model(const char *model, const char *out, const esft_export_format *f, esft_err *err) {
    struct stat sb;
    if (!f->hf && !f->force && lstat(out, &sb) == 0)
        return esft_errf(err, ESFT_ERR_IO, "%s: exists (--force replaces it)", out);
    esft_model_source src;
    esft_status st = esft_source_open(model, &src, err);
    if (st) return st;
    st = f->hf ? esft_hf_write(&src, out, f->hf_dtype, f->force, err) : write_gguf(&src, out, f->gguf_dtype, err);
    esft_source_close(&src);
    return st;
}
