/* Safetensors writer (safetensors.h): the header is built with cJSON from
 * the checked tensor list, then the data is streamed tensor by tensor in
 * pieces, so a model is written without a copy of it in memory. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backends/util/atomic_file.h"
#include "safetensors.h"

/* Data streamed per callback: about this many bytes (at least one row). */
#define CHUNK_BYTES ((uint64_t)4 << 20)

typedef struct st_item {
    char *name;
    esft_st_dtype dtype;
    uint32_t n_dims;
    uint64_t shape[ESFT_ST_MAX_DIMS]; /* row-major */
    uint64_t n_rows, row_bytes;       /* shape[0] rows (1 for a scalar) of row_bytes */
    uint64_t chunk_rows;
    esft_st_rows_fn rows;
    void *user;
} st_item;

struct esft_st_writer {
    cJSON *meta; /* "__metadata__" object */
    st_item *items;
    size_t n, cap;
    uint64_t data_bytes;
};

esft_st_writer *esft_st_writer_new(void) {
    esft_st_writer *w = calloc(1, sizeof *w);
    if (w && !(w->meta = cJSON_CreateObject())) {
        free(w);
        return NULL;
    }
    return w;
}

void esft_st_writer_free(esft_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->items[i].name);
    free(w->items);
    cJSON_Delete(w->meta);
    free(w);
}

esft_status esft_st_writer_set_meta(esft_st_writer *w, const char *key, const char *value, esft_err *err) {
    cJSON_DeleteItemFromObjectCaseSensitive(w->meta, key);
    if (!cJSON_AddStringToObject(w->meta, key, value)) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    return ESFT_OK;
}

/* a * b into *out unless it overflows */
static bool mul_ok(uint64_t a, uint64_t b, uint64_t *out) {
    if (b && a > UINT64_MAX / b) return false;
    *out = a * b;
    return true;
}

esft_status esft_st_writer_add(esft_st_writer *w, const char *name, esft_st_dtype dtype, uint32_t n_dims,
                               const uint64_t *shape, uint64_t chunk_rows, esft_st_rows_fn rows, void *user,
                               esft_err *err) {
    char qb[ESFT_QUOTE_MAX];
    const char *q = esft_quote(name, strlen(name), qb, sizeof qb);
    if (!name[0] || strcmp(name, "__metadata__") == 0)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "safetensors: tensor name '%s' is not allowed", q);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->items[i].name, name) == 0)
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "safetensors: tensor '%s' added twice", q);
    if ((unsigned)dtype >= ESFT_ST_DTYPE_COUNT || n_dims > ESFT_ST_MAX_DIMS || !rows)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "safetensors: tensor '%s': bad dtype, rank %u or no data", q,
                         n_dims);
    st_item it = {.dtype = dtype, .n_dims = n_dims, .rows = rows, .user = user, .n_rows = 1};
    uint64_t row_elements = 1, bytes;
    for (uint32_t d = 0; d < n_dims; d++) {
        it.shape[d] = shape[d];
        if (d == 0) it.n_rows = shape[0];
        else if (!mul_ok(row_elements, shape[d], &row_elements))
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "safetensors: tensor '%s': shape overflows", q);
    }
    if (!mul_ok(row_elements, esft_st_dtype_size(dtype), &it.row_bytes) || !mul_ok(it.row_bytes, it.n_rows, &bytes) ||
        bytes > UINT64_MAX - w->data_bytes || (uint64_t)1 << 53 < w->data_bytes + bytes)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "safetensors: tensor '%s': size overflows", q);
    it.chunk_rows = chunk_rows ? chunk_rows : 1;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        st_item *grown = realloc(w->items, cap * sizeof *grown);
        if (!grown) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
        w->items = grown;
        w->cap = cap;
    }
    if (!(it.name = strdup(name))) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    w->items[w->n++] = it;
    w->data_bytes += bytes;
    return ESFT_OK;
}

/* A tensor's header entry: {"dtype": .., "shape": [..], "data_offsets": [begin, end]}. */
static cJSON *tensor_entry(const st_item *it, uint64_t begin) {
    cJSON *t = cJSON_CreateObject();
    cJSON *shape = cJSON_AddArrayToObject(t, "shape"), *offs = cJSON_AddArrayToObject(t, "data_offsets");
    bool ok = shape && offs && cJSON_AddStringToObject(t, "dtype", esft_st_dtype_name(it->dtype));
    for (uint32_t d = 0; d < it->n_dims && ok; d++)
        ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)it->shape[d]));
    ok = ok && cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)begin)) &&
         cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(begin + it->n_rows * it->row_bytes)));
    if (!ok) cJSON_Delete(t);
    return ok ? t : NULL;
}

/* The JSON header into *out, spaces appended to make 8 + its length a
 * multiple of 8. */
static esft_status build_header(const esft_st_writer *w, char **out, uint64_t *len, esft_err *err) {
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && cJSON_GetArraySize(w->meta) > 0) {
        cJSON *meta = cJSON_Duplicate(w->meta, 1);
        ok = meta && cJSON_AddItemToObject(root, "__metadata__", meta);
        if (!ok) cJSON_Delete(meta);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n && ok; i++) {
        cJSON *t = tensor_entry(&w->items[i], offset);
        ok = t && cJSON_AddItemToObject(root, w->items[i].name, t);
        if (!ok) cJSON_Delete(t);
        offset += w->items[i].n_rows * w->items[i].row_bytes;
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    char *grown = padded <= ESFT_ST_MAX_HEADER ? realloc(text, padded + 1) : NULL;
    if (!grown) {
        free(text);
        return padded > ESFT_ST_MAX_HEADER
                   ? esft_errf(err, ESFT_ERR_INVALID_ARG, "safetensors: the header would be %zu bytes (at most %llu)",
                               padded, (unsigned long long)ESFT_ST_MAX_HEADER)
                   : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    memset(grown + n, ' ', padded - n);
    grown[padded] = '\0';
    *out = grown;
    *len = padded;
    return ESFT_OK;
}

static esft_status write_tensor(const st_item *it, FILE *fp, void **buf, uint64_t *buf_cap, esft_err *err) {
    uint64_t per = CHUNK_BYTES / (it->row_bytes ? it->row_bytes : 1);
    if (per < it->chunk_rows) per = it->chunk_rows;
    per = per / it->chunk_rows * it->chunk_rows; /* whole pieces as the caller asked */
    for (uint64_t r = 0; r < it->n_rows; r += per) {
        const uint64_t n = it->n_rows - r < per ? it->n_rows - r : per, bytes = n * it->row_bytes;
        if (bytes > *buf_cap) {
            void *grown = realloc(*buf, (size_t)bytes);
            if (!grown) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tensor '%s': out of memory", it->name);
            *buf = grown;
            *buf_cap = bytes;
        }
        esft_status st = it->rows(it->user, r, n, *buf, err);
        if (st) return st;
        if (fwrite(*buf, 1, (size_t)bytes, fp) != bytes)
            return esft_errf(err, ESFT_ERR_IO, "tensor '%s': write failed", it->name);
    }
    return ESFT_OK;
}

/* Lays the data out by element size, largest first (stable otherwise), as
 * Hugging Face's writer does: with the data start 8-aligned, every tensor then
 * starts at a multiple of its element size, which readers require. */
static void order_by_alignment(esft_st_writer *w) {
    for (size_t i = 1; i < w->n; i++) {
        st_item it = w->items[i];
        size_t j = i;
        for (; j > 0 && esft_st_dtype_size(w->items[j - 1].dtype) < esft_st_dtype_size(it.dtype); j--)
            w->items[j] = w->items[j - 1];
        w->items[j] = it;
    }
}

esft_status esft_st_writer_write(esft_st_writer *w, const char *path, esft_err *err) {
    order_by_alignment(w);
    uint64_t hlen = 0;
    char *header = NULL;
    esft_status st = build_header(w, &header, &hlen, err);
    esft_atomic_file f;
    if (!st) st = esft_atomic_open(&f, path, err);
    if (st) {
        free(header);
        return st;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(hlen >> (8 * i)); /* little-endian */
    if (fwrite(len8, 1, 8, f.fp) != 8 || fwrite(header, 1, (size_t)hlen, f.fp) != hlen)
        st = esft_errf(err, ESFT_ERR_IO, "%s: write failed", path);
    free(header);
    void *buf = NULL;
    uint64_t cap = 0;
    for (size_t i = 0; i < w->n && !st; i++) st = write_tensor(&w->items[i], f.fp, &buf, &cap, err);
    free(buf);
    if (st) {
        esft_atomic_discard(&f);
        return st;
    }
    return esft_atomic_commit(&f, err);
}
