/* Safetensors reader.
 *
 * A safetensors file is a u64 (little-endian) header length N, N bytes of a
 * JSON object, then the data:
 *   {"__metadata__": {"k": "v", ...},
 *    "name": {"dtype": "BF16", "shape": [rows, cols], "data_offsets": [begin, end]}, ...}
 * Offsets are relative to the first byte after the header; shapes are
 * row-major (the last dimension is contiguous).
 *
 * The reader maps the file read-only and trusts nothing: the header length,
 * the JSON, every dtype, shape and offset pair is checked (offsets inside the
 * data, a multiple of the element size, end - begin = elements x element
 * size, no two tensors overlapping, no name twice), so a hostile file fails
 * with ESFT_ERR_FORMAT and one line naming the file and tensor. Tensor data
 * points into the mapping and lives until esft_st_close(). */
#ifndef ESFT_SAFETENSORS_H
#define ESFT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../backends/status.h"

/* The header may be at most this long (safetensors' own limit is 100 MB). */
#define ESFT_ST_MAX_HEADER ((uint64_t)100 << 20)
#define ESFT_ST_MAX_DIMS 8

typedef enum esft_st_dtype {
    ESFT_ST_BOOL, ESFT_ST_U8, ESFT_ST_I8, ESFT_ST_F8_E4M3, ESFT_ST_F8_E5M2,
    ESFT_ST_I16, ESFT_ST_U16, ESFT_ST_F16, ESFT_ST_BF16,
    ESFT_ST_I32, ESFT_ST_U32, ESFT_ST_F32,
    ESFT_ST_I64, ESFT_ST_U64, ESFT_ST_F64,
    ESFT_ST_DTYPE_COUNT
} esft_st_dtype;

typedef struct esft_st_tensor {
    char *name;
    esft_st_dtype dtype;
    uint32_t n_dims;                  /* 0 for a scalar */
    uint64_t shape[ESFT_ST_MAX_DIMS]; /* row-major: shape[n_dims-1] is contiguous */
    uint64_t n_elements;
    uint64_t begin, end;              /* byte offsets into the data section */
    const void *data;                 /* into the mapping; may be unaligned */
} esft_st_tensor;

typedef struct esft_st_file esft_st_file;

esft_status esft_st_open(const char *path, esft_st_file **out, esft_err *err);
/* Parses an in-memory image (not copied; must outlive the file); name is used
 * in messages. */
esft_status esft_st_open_memory(const void *data, size_t size, const char *name,
                                esft_st_file **out, esft_err *err);
void esft_st_close(esft_st_file *f);

const char *esft_st_path(const esft_st_file *f);
size_t esft_st_n_tensors(const esft_st_file *f);
/* In header order. */
const esft_st_tensor *esft_st_tensor_at(const esft_st_file *f, size_t i);
const esft_st_tensor *esft_st_find(const esft_st_file *f, const char *name); /* NULL if absent */

const char *esft_st_dtype_name(esft_st_dtype t);
size_t esft_st_dtype_size(esft_st_dtype t);

/* --- writer ---
 *
 * Collects tensors (name, dtype, row-major shape, and a callback producing
 * their bytes a few rows at a time) and writes one safetensors file
 * atomically (backends/util/atomic_file.h): an 8-byte header length, the
 * JSON header padded with spaces to a multiple of 8 (as Hugging Face's
 * writer does), then the data without gaps. The writer checks what the reader checks: names
 * non-empty and unique, dtypes known, shapes whose byte size does not
 * overflow, a header within ESFT_ST_MAX_HEADER. The data is laid out by
 * element size, largest first, so that every tensor is aligned to its own. */
typedef struct esft_st_writer esft_st_writer;

/* Produces rows [row0, row0 + n_rows) of a tensor into dst. A row is the
 * tensor's shape[0] slice: the product of shape[1..] elements (one element
 * for a vector, the whole tensor for a scalar). */
typedef esft_status (*esft_st_rows_fn)(void *user, uint64_t row0, uint64_t n_rows, void *dst, esft_err *err);

esft_st_writer *esft_st_writer_new(void); /* NULL on out of memory */
void esft_st_writer_free(esft_st_writer *w);
/* A "__metadata__" string entry (Hugging Face's loader wants "format": "pt"). */
esft_status esft_st_writer_set_meta(esft_st_writer *w, const char *key, const char *value, esft_err *err);
/* Adds a tensor whose data rows(user, ...) produces during the write in
 * pieces of chunk_rows rows (the last may be shorter); user must outlive the
 * write. */
esft_status esft_st_writer_add(esft_st_writer *w, const char *name, esft_st_dtype dtype, uint32_t n_dims,
                               const uint64_t *shape, uint64_t chunk_rows, esft_st_rows_fn rows, void *user,
                               esft_err *err);
esft_status esft_st_writer_write(esft_st_writer *w, const char *path, esft_err *err);

#endif
