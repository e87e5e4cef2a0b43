/* Model sources: a GGUF file as it is, or a Hugging Face directory (hf.c). */
#include "source.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "esft_hash.h"
#include "hf.h"

/* A tensor as rows of ne[0] values (a vector is one row). */
static uint64_t source_row_len(const esft_source_tensor *t) { return t->n_dims == 1 ? 1 : t->ne[0]; }
static uint64_t source_n_rows(const esft_source_tensor *t) { return t->n_elements / source_row_len(t); }
/* Rows read together: a rotary head's for a tensor interleaved on reading. */
static uint64_t rows_per_unit(const esft_source_tensor *t) {
    const uint64_t rows = source_n_rows(t);
    return t->rope_heads && rows % (2 * t->rope_heads) == 0 ? rows / t->rope_heads : 1;
}

static esft_status open_gguf(const char *path, esft_model_source *src, esft_err *err) {
    esft_status st = esft_gguf_open(path, &src->meta, err);
    if (st) return st;
    size_t n = esft_gguf_n_tensors(src->meta);
    src->tensors = calloc(n ? n : 1, sizeof *src->tensors);
    if (!src->tensors) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    src->n_tensors = n;
    for (size_t i = 0; i < n; i++) {
        const gguf_tensor_info *ti = esft_gguf_tensor_at(src->meta, i);
        esft_source_tensor *t = &src->tensors[i];
        t->name = t->file_name = ti->name;
        t->file = esft_gguf_path(src->meta);
        t->n_dims = ti->n_dims;
        memcpy(t->ne, ti->ne, sizeof t->ne);
        t->n_elements = ti->n_elements;
        t->n_bytes = ti->n_bytes;
        t->type = ti->type;
        t->data = ti->data;
    }
    return ESFT_OK;
}

esft_status esft_source_open(const char *path, esft_model_source *src, esft_err *err) {
    memset(src, 0, sizeof *src);
    struct stat sb;
    esft_status st = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) ? esft_hf_open(path, src, err)
                                                                 : open_gguf(path, src, err);
    if (st) esft_source_close(src);
    return st;
}

gguf_file *esft_source_take_meta(esft_model_source *src) {
    gguf_file *f = src->meta;
    src->meta = NULL;
    return f;
}

void esft_source_close(esft_model_source *src) {
    esft_hf_files_free(src->files);
    free(src->tensors);
    /* a GGUF file's tensors point into meta: it goes last */
    esft_gguf_close(src->meta);
    memset(src, 0, sizeof *src);
}

uint64_t esft_tensor_fingerprint(uint64_t h, const char *name, ggml_type type, const uint64_t ne[GGUF_MAX_DIMS],
                                 const void *data, uint64_t n_bytes) {
    h = esft_fnv1a64(h, name, strlen(name) + 1);
    uint32_t ty = (uint32_t)type;
    h = esft_fnv1a64(h, &ty, sizeof ty);
    h = esft_fnv1a64(h, ne, GGUF_MAX_DIMS * sizeof *ne);
    return esft_fnv1a64(h, data, (size_t)n_bytes);
}

esft_status esft_source_fingerprint(const char *path, uint64_t *out, esft_err *err) {
    esft_model_source src;
    esft_status st = esft_source_open(path, &src, err);
    if (st) return st;
    uint64_t h = ESFT_FNV1A64_INIT;
    for (size_t i = 0; i < src.n_tensors; i++) {
        const esft_source_tensor *t = &src.tensors[i];
        h = esft_tensor_fingerprint(h, t->name, t->type, t->ne, t->data, t->n_bytes);
        esft_source_release(t);
    }
    esft_source_close(&src);
    *out = h;
    return ESFT_OK;
}

/* Llama's rotary embedding pairs dimension i with i + hd/2 in Hugging Face's
 * layout and with 2i + 1 in GGUF's, whose converter reorders each head's rows
 * (head, half, i) -> (head, i, half). */
esft_status esft_rope_rows_permute(float *w, uint64_t n_rows, uint64_t row_len, uint64_t head_rows, bool to_gguf,
                                   esft_err *err) {
    const uint64_t half = head_rows / 2;
    if (head_rows == 0 || head_rows % 2 || n_rows % head_rows)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "%llu rows are not whole rotary heads of %llu rows",
                         (unsigned long long)n_rows, (unsigned long long)head_rows);
    float *tmp = malloc((size_t)(head_rows * row_len) * sizeof *tmp);
    if (!tmp) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    const size_t row_bytes = (size_t)row_len * sizeof *tmp;
    for (uint64_t h = 0; h < n_rows / head_rows; h++) {
        float *head = w + h * head_rows * row_len;
        memcpy(tmp, head, (size_t)head_rows * row_bytes);
        for (uint64_t i = 0; i < half; i++)
            for (uint64_t j = 0; j < 2; j++) {
                const uint64_t gguf_row = 2 * i + j, hf_row = j * half + i;
                memcpy(head + (to_gguf ? gguf_row : hf_row) * row_len, tmp + (to_gguf ? hf_row : gguf_row) * row_len,
                       row_bytes);
            }
    }
    free(tmp);
    return ESFT_OK;
}

/* Done on reading, per head, in place, over the n_rows rows in w (whole heads). */
static esft_status interleave_heads(const esft_source_tensor *t, float *w, uint64_t n_rows, esft_err *err) {
    return esft_rope_rows_permute(w, n_rows, source_row_len(t), rows_per_unit(t), true, err);
}

uint64_t esft_source_chunk_rows(const esft_source_tensor *t, uint64_t max_elements) {
    const uint64_t unit = rows_per_unit(t), rows = source_n_rows(t);
    if (t->n_dims == 1) return rows; /* a vector is read whole: its "rows" may split a block */
    uint64_t units = max_elements / (unit * source_row_len(t));
    if (units == 0) units = 1;
    return units * unit < rows ? units * unit : rows;
}

esft_status esft_source_read_f32_rows(const esft_source_tensor *t, uint64_t row0, uint64_t n_rows, float *out,
                                      esft_err *err) {
    const uint64_t row = source_row_len(t), rows = source_n_rows(t), unit = rows_per_unit(t);
    if (t->rope_heads && rows % (2 * t->rope_heads))
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: tensor '%s': %llu rows cannot be split into %llu rotary heads",
                         t->file, t->file_name, (unsigned long long)rows, (unsigned long long)t->rope_heads);
    if (row0 > rows || n_rows > rows - row0 || row0 % unit || (n_rows % unit && row0 + n_rows != rows))
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "%s: tensor '%s': rows %llu..+%llu are not whole heads of %llu",
                         t->file, t->file_name, (unsigned long long)row0, (unsigned long long)n_rows,
                         (unsigned long long)rows);
    uint64_t skip = 0;
    esft_status st = row0 ? esft_ggml_row_bytes(t->type, row0 * row, &skip, err) : ESFT_OK;
    if (!st) st = esft_ggml_dequantize(t->type, (const char *)t->data + skip, out, (size_t)(n_rows * row), err);
    if (!st && t->rope_heads) st = interleave_heads(t, out, n_rows, err);
    if (!st && t->shift != 0.0f)
        for (uint64_t i = 0; i < n_rows * row; i++) out[i] += t->shift;
    return st;
}

esft_status esft_source_read_f32(const esft_source_tensor *t, float *out, esft_err *err) {
    return esft_source_read_f32_rows(t, 0, source_n_rows(t), out, err);
}

void esft_source_release(const esft_source_tensor *t) {
    if (t->in_memory) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)t->data + page - 1) / page * page;
    uintptr_t hi = ((uintptr_t)t->data + (uintptr_t)t->n_bytes) / page * page;
    /* read-only private file mappings: dropped pages are read again from the
     * file if touched; a page shared with a neighbour tensor stays */
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}
