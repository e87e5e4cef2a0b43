/* GGUF v3 reader and writer.
 *
 * The reader maps the whole file read-only, validates every count, length,
 * dimension, offset and size against the file and against overflow, and
 * exposes metadata and tensor infos as plain structs. Tensor data pointers
 * point into the mapping and live until esft_gguf_close().
 *
 * The writer collects key/values and tensors in order of insertion and
 * writes a GGUF v3 file atomically (backends/util/atomic_file.h). A tensor's data
 * is either given up front or produced at write time, a few rows at a time,
 * by a callback, so a large model is written without a copy of it in
 * memory. */
#ifndef ESFT_GGUF_H
#define ESFT_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../backends/status.h"
#include "quant.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_VERSION 3
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

typedef enum gguf_vtype {
    GGUF_VT_UINT8 = 0,
    GGUF_VT_INT8 = 1,
    GGUF_VT_UINT16 = 2,
    GGUF_VT_INT16 = 3,
    GGUF_VT_UINT32 = 4,
    GGUF_VT_INT32 = 5,
    GGUF_VT_FLOAT32 = 6,
    GGUF_VT_BOOL = 7,
    GGUF_VT_STRING = 8,
    GGUF_VT_ARRAY = 9,
    GGUF_VT_UINT64 = 10,
    GGUF_VT_INT64 = 11,
    GGUF_VT_FLOAT64 = 12,
    GGUF_VT_COUNT
} gguf_vtype;

typedef struct gguf_value gguf_value;

/* A metadata value. Scalars are widened into the union; strings are
 * NUL-terminated copies (len excludes the NUL; embedded NULs are kept).
 * Arrays hold `n` items of `elem_type`, each a gguf_value (arrays may nest). */
struct gguf_value {
    gguf_vtype type;
    union {
        uint64_t u64; /* UINT8/16/32/64 */
        int64_t i64;  /* INT8/16/32/64 */
        double f64;   /* FLOAT32/64 */
        bool b;       /* BOOL */
        struct {
            const char *data;
            uint64_t len;
        } str;
        struct {
            gguf_vtype elem_type;
            uint64_t n;
            const gguf_value *items;
        } arr;
    } v;
};

typedef struct gguf_kv {
    const char *key;
    gguf_value value;
} gguf_kv;

typedef struct gguf_tensor_info {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the contiguous (row) dimension; unused dims are 1 */
    ggml_type type;
    uint64_t offset;     /* relative to the start of the data section */
    uint64_t n_elements; /* product of ne */
    uint64_t n_bytes;    /* bytes of tensor data */
    const void *data;    /* into the mapping (reader) */
} gguf_tensor_info;

typedef struct gguf_file gguf_file;

esft_status esft_gguf_open(const char *path, gguf_file **out, esft_err *err);
/* Parses an in-memory image (not copied; must outlive the gguf_file). */
esft_status esft_gguf_open_memory(const void *data, size_t size, const char *name, gguf_file **out,
                             esft_err *err);
void esft_gguf_close(gguf_file *f);

uint32_t esft_gguf_version(const gguf_file *f);
size_t esft_gguf_alignment(const gguf_file *f);
const char *esft_gguf_path(const gguf_file *f);
/* File offset of the data section (tensor offsets are relative to it). */
uint64_t esft_gguf_data_offset(const gguf_file *f);

size_t esft_gguf_n_kv(const gguf_file *f);
const gguf_kv *esft_gguf_kv_at(const gguf_file *f, size_t i);
const gguf_kv *esft_gguf_find_kv(const gguf_file *f, const char *key); /* NULL if absent */

/* Typed getters: true when the key exists and converts exactly
 * (any integer type in range for the integer getters; FLOAT32/64 for f32). */
bool esft_gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
bool esft_gguf_get_i32(const gguf_file *f, const char *key, int32_t *out);
bool esft_gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out);
bool esft_gguf_get_f32(const gguf_file *f, const char *key, float *out);
bool esft_gguf_get_bool(const gguf_file *f, const char *key, bool *out);
const char *esft_gguf_get_str(const gguf_file *f, const char *key); /* NULL if absent or not a string */
/* The array value, or NULL if absent or not an array. */
const gguf_value *esft_gguf_get_arr(const gguf_file *f, const char *key);

size_t esft_gguf_n_tensors(const gguf_file *f);
const gguf_tensor_info *esft_gguf_tensor_at(const gguf_file *f, size_t i);
const gguf_tensor_info *esft_gguf_find_tensor(const gguf_file *f, const char *name);

/* --- writer --- */
typedef struct gguf_writer gguf_writer;

gguf_writer *esft_gguf_writer_new(void); /* NULL on out of memory */
void esft_gguf_writer_free(gguf_writer *w);
void esft_gguf_writer_set_alignment(gguf_writer *w, size_t alignment); /* also writes general.alignment */

/* Setting a key that exists replaces its value (keeps its position). The
 * value is deep-copied. */
esft_status esft_gguf_writer_set(gguf_writer *w, const char *key, const gguf_value *value, esft_err *err);
esft_status esft_gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v, esft_err *err);
esft_status esft_gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v, esft_err *err);
esft_status esft_gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v, esft_err *err);
esft_status esft_gguf_writer_set_f32(gguf_writer *w, const char *key, float v, esft_err *err);
esft_status esft_gguf_writer_set_bool(gguf_writer *w, const char *key, bool v, esft_err *err);
esft_status esft_gguf_writer_set_str(gguf_writer *w, const char *key, const char *v, esft_err *err);
/* Array of strings / of int32 / of float32 (common tokenizer arrays). */
esft_status esft_gguf_writer_set_str_arr(gguf_writer *w, const char *key, const char *const *v, size_t n,
                                    esft_err *err);
esft_status esft_gguf_writer_set_i32_arr(gguf_writer *w, const char *key, const int32_t *v, size_t n,
                                    esft_err *err);
esft_status esft_gguf_writer_set_f32_arr(gguf_writer *w, const char *key, const float *v, size_t n,
                                    esft_err *err);
/* Copies every key/value of a reader (except general.alignment). */
esft_status esft_gguf_writer_copy_kvs(gguf_writer *w, const gguf_file *src, esft_err *err);
/* Removes every key that starts with prefix (the others keep their order). */
void esft_gguf_writer_remove_prefix(gguf_writer *w, const char *prefix);

/* Adds a tensor; `data` (n_bytes as implied by type and shape) is copied
 * unless `borrow` is true, in which case it must outlive esft_gguf_writer_write. */
esft_status esft_gguf_writer_add_tensor(gguf_writer *w, const char *name, ggml_type type,
                                   uint32_t n_dims, const uint64_t *ne, const void *data,
                                   bool borrow, esft_err *err);
/* Produces rows [row0, row0 + n_rows) of a tensor (a row is ne[0]
 * elements) in the tensor's file type into dst (n_rows x row bytes). */
typedef esft_status (*gguf_rows_fn)(void *user, uint64_t row0, uint64_t n_rows, void *dst,
                                    esft_err *err);
/* Adds a tensor whose data rows(user, ...) produces during
 * esft_gguf_writer_write, in order, in pieces of about 4 MiB (at least a row);
 * user must outlive the write. A failure of rows() abandons the write. */
esft_status esft_gguf_writer_add_tensor_rows(gguf_writer *w, const char *name, ggml_type type,
                                        uint32_t n_dims, const uint64_t *ne, gguf_rows_fn rows,
                                        void *user, esft_err *err);
/* Writes atomically (backends/util/atomic_file.h): a path that exists and is not
 * a regular file is refused. */
esft_status esft_gguf_writer_write(gguf_writer *w, const char *path, esft_err *err);
/* Writes into memory and opens the image as a reader, which owns it (freed
 * by esft_gguf_close); name is its esft_gguf_path. Metadata made by code (a
 * Hugging Face directory's config, see hf.h) reads like a file's this way. */
esft_status esft_gguf_writer_to_reader(gguf_writer *w, const char *name, gguf_file **out, esft_err *err);

#endif
