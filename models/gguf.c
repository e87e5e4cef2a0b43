/* GGUF v3 reader (mmap) and atomic writer.
 *
 * File layout (little-endian):
 *   u32 magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x { string key, u32 value type, value },
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset },
 *   zero padding to the alignment, then the data section; every tensor's
 *   offset is relative to the data section and a multiple of the alignment.
 *   A string is u64 length + bytes (no NUL); an array is u32 element type +
 *   u64 count + items (arrays may nest).
 *
 * The reader trusts nothing: every length and count is checked against the
 * bytes left in the file before anything is allocated, so a hostile file
 * fails with ESFT_ERR_FORMAT and a one-line message instead of crashing or
 * allocating absurd amounts. */
#define _GNU_SOURCE /* qsort_r */
#include "gguf.h"

#include "../backends/util/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Arrays may nest at most this deep (an array of arrays is depth 2). */
#define GGUF_MAX_ARRAY_DEPTH 8
/* All metadata arrays of one file together hold at most this many items
 * (each costs a gguf_value in memory). Real files hold ~1M at most. */
#define GGUF_MAX_VALUES (1u << 23)

/* ------------------------------------------------------------------ arena */

typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
} chunk;

#define CHUNK_HDR ((sizeof(chunk) + 15) & ~(size_t)15)
#define ARENA_CHUNK ((size_t)256 << 10)

typedef struct arena {
    chunk *head;
} arena;

static void *arena_alloc(arena *a, size_t n) {
    if (n > SIZE_MAX - CHUNK_HDR - 16) return NULL;
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    chunk *h = a->head;
    if (h && h->cap - h->used >= n) {
        void *p = (char *)h + CHUNK_HDR + h->used;
        h->used += n;
        return p;
    }
    bool big = n > ARENA_CHUNK / 4;
    size_t cap = big ? n : ARENA_CHUNK;
    chunk *c = malloc(CHUNK_HDR + cap);
    if (!c) return NULL;
    c->cap = cap;
    c->used = n;
    if (big && h) { /* keep the current chunk's free space for small items */
        c->next = h->next;
        h->next = c;
    } else {
        c->next = h;
        a->head = c;
    }
    return (char *)c + CHUNK_HDR;
}

static void arena_free(arena *a) {
    chunk *c = a->head;
    while (c) {
        chunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
}

/* -------------------------------------------------------------- helpers */

static bool is_pow2(uint64_t a) { return a != 0 && (a & (a - 1)) == 0; }

static size_t vtype_min_size(gguf_vtype t) {
    switch (t) {
    case GGUF_VT_UINT8:
    case GGUF_VT_INT8:
    case GGUF_VT_BOOL: return 1;
    case GGUF_VT_UINT16:
    case GGUF_VT_INT16: return 2;
    case GGUF_VT_UINT32:
    case GGUF_VT_INT32:
    case GGUF_VT_FLOAT32: return 4;
    case GGUF_VT_UINT64:
    case GGUF_VT_INT64:
    case GGUF_VT_FLOAT64:
    case GGUF_VT_STRING: return 8;
    case GGUF_VT_ARRAY: return 12;
    case GGUF_VT_COUNT: break;
    }
    return 0;
}

static const char *vtype_name(uint32_t t) {
    static const char *const names[] = {"uint8", "int8",   "uint16", "int16", "uint32",
                                        "int32", "float32", "bool",  "string", "array",
                                        "uint64", "int64", "float64"};
    return t < GGUF_VT_COUNT ? names[t] : "unknown";
}

/* --------------------------------------------------------------- reader */

struct gguf_file {
    char *name;
    const uint8_t *base;
    size_t size;
    void *map;
    size_t map_len;
    void *owned; /* image made by esft_gguf_writer_to_reader, freed on close */
    uint32_t version;
    size_t alignment;
    uint64_t data_offset;
    size_t n_kv;
    gguf_kv *kv;
    size_t *kv_sorted;
    size_t n_tensors;
    gguf_tensor_info *ti;
    size_t *ti_sorted;
    arena mem;
};

typedef struct rd {
    const uint8_t *p;
    size_t size, pos;
    const char *name;
    esft_err *err;
    arena *mem;
    uint64_t values_left;
    char ctx[300]; /* "key 'x'" / "tensor 'x'" being parsed, or "" */
} rd;

static esft_status rd_fail(rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static esft_status rd_fail(rd *r, const char *fmt, ...) {
    char detail[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (r->ctx[0]) return esft_errf(r->err, ESFT_ERR_FORMAT, "%s: %s: %s", r->name, r->ctx, detail);
    return esft_errf(r->err, ESFT_ERR_FORMAT, "%s: %s", r->name, detail);
}

static esft_status rd_oom(rd *r, size_t n) {
    return esft_errf(r->err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory allocating %zu bytes",
                     r->name, n);
}

static void set_ctx(rd *r, const char *what, const char *s) {
    char qb[ESFT_QUOTE_MAX];
    if (!s) {
        r->ctx[0] = 0;
        return;
    }
    snprintf(r->ctx, sizeof r->ctx, "%s '%s'", what, esft_quote(s, strlen(s), qb, sizeof qb));
}

static inline size_t rd_left(const rd *r) { return r->size - r->pos; }

static esft_status rd_bytes(rd *r, void *dst, size_t n, const char *what) {
    if (rd_left(r) < n) {
        rd_fail(r, "truncated: %s needs %zu bytes at offset %zu (file size %zu)", what, n, r->pos,
                r->size);
        return ESFT_ERR_FORMAT;
    }
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return ESFT_OK;
}

static esft_status rd_u32(rd *r, uint32_t *v, const char *what) {
    uint8_t b[4] = {0};
    esft_status st = rd_bytes(r, b, 4, what);
    if (st) return st;
    *v = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
    return ESFT_OK;
}

static esft_status rd_u64(rd *r, uint64_t *v, const char *what) {
    uint8_t b[8] = {0};
    esft_status st = rd_bytes(r, b, 8, what);
    if (st) return st;
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) x = (x << 8) | b[i];
    *v = x;
    return ESFT_OK;
}

/* Reads a string into the arena (NUL-terminated copy). */
static esft_status rd_str(rd *r, const char **out, uint64_t *len_out, const char *what) {
    uint64_t len;
    esft_status st = rd_u64(r, &len, what);
    if (st) return st;
    if (len > rd_left(r))
        return rd_fail(r, "%s length %llu exceeds the %zu bytes left in the file", what,
                       (unsigned long long)len, rd_left(r));
    char *s = arena_alloc(r->mem, (size_t)len + 1);
    if (!s) return rd_oom(r, (size_t)len + 1);
    memcpy(s, r->p + r->pos, (size_t)len);
    s[len] = 0;
    r->pos += (size_t)len;
    *out = s;
    *len_out = len;
    return ESFT_OK;
}

static esft_status rd_value(rd *r, gguf_vtype type, gguf_value *out, int depth) {
    out->type = type;
    esft_status st = ESFT_OK;
    uint8_t b[8] = {0};
    switch (type) {
    case GGUF_VT_UINT8:
    case GGUF_VT_INT8:
    case GGUF_VT_BOOL:
        if ((st = rd_bytes(r, b, 1, "value"))) return st;
        if (type == GGUF_VT_UINT8) out->v.u64 = b[0];
        else if (type == GGUF_VT_INT8) out->v.i64 = (int8_t)b[0];
        else {
            if (b[0] > 1) return rd_fail(r, "bool value %u is neither 0 nor 1", b[0]);
            out->v.b = b[0] != 0;
        }
        return ESFT_OK;
    case GGUF_VT_UINT16:
    case GGUF_VT_INT16: {
        if ((st = rd_bytes(r, b, 2, "value"))) return st;
        uint16_t u = (uint16_t)(b[0] | (b[1] << 8));
        if (type == GGUF_VT_UINT16) out->v.u64 = u;
        else out->v.i64 = (int16_t)u;
        return ESFT_OK;
    }
    case GGUF_VT_UINT32:
    case GGUF_VT_INT32:
    case GGUF_VT_FLOAT32: {
        uint32_t u;
        if ((st = rd_u32(r, &u, "value"))) return st;
        if (type == GGUF_VT_UINT32) out->v.u64 = u;
        else if (type == GGUF_VT_INT32) out->v.i64 = (int32_t)u;
        else {
            float f;
            memcpy(&f, &u, sizeof f);
            out->v.f64 = f;
        }
        return ESFT_OK;
    }
    case GGUF_VT_UINT64:
    case GGUF_VT_INT64:
    case GGUF_VT_FLOAT64: {
        uint64_t u;
        if ((st = rd_u64(r, &u, "value"))) return st;
        if (type == GGUF_VT_UINT64) out->v.u64 = u;
        else if (type == GGUF_VT_INT64) out->v.i64 = (int64_t)u;
        else memcpy(&out->v.f64, &u, sizeof u);
        return ESFT_OK;
    }
    case GGUF_VT_STRING: {
        const char *s;
        uint64_t len;
        if ((st = rd_str(r, &s, &len, "string"))) return st;
        out->v.str.data = s;
        out->v.str.len = len;
        return ESFT_OK;
    }
    case GGUF_VT_ARRAY: {
        if (depth >= GGUF_MAX_ARRAY_DEPTH)
            return rd_fail(r, "arrays nested deeper than %d levels", GGUF_MAX_ARRAY_DEPTH);
        uint32_t et;
        uint64_t n;
        if ((st = rd_u32(r, &et, "array element type"))) return st;
        if (et >= GGUF_VT_COUNT) return rd_fail(r, "unknown array element type %u", et);
        if ((st = rd_u64(r, &n, "array length"))) return st;
        size_t min = vtype_min_size((gguf_vtype)et);
        if (n > rd_left(r) / min)
            return rd_fail(r,
                           "array of %llu %s items needs at least %llu bytes, only %zu left "
                           "in the file",
                           (unsigned long long)n, vtype_name(et),
                           (unsigned long long)(n > UINT64_MAX / min ? UINT64_MAX : n * min),
                           rd_left(r));
        if (n > r->values_left)
            return rd_fail(r, "array of %llu items exceeds the limit of %u metadata values",
                           (unsigned long long)n, GGUF_MAX_VALUES);
        r->values_left -= n;
        gguf_value *items = NULL;
        if (n > 0) {
            items = arena_alloc(r->mem, (size_t)n * sizeof *items);
            if (!items) return rd_oom(r, (size_t)n * sizeof *items);
        }
        for (uint64_t i = 0; i < n; i++)
            if ((st = rd_value(r, (gguf_vtype)et, &items[i], depth + 1))) return st;
        out->v.arr.elem_type = (gguf_vtype)et;
        out->v.arr.n = n;
        out->v.arr.items = items;
        return ESFT_OK;
    }
    case GGUF_VT_COUNT: break;
    }
    return rd_fail(r, "unknown value type %u", (unsigned)type);
}

static int cmp_kv(const void *a, const void *b, void *ctx) {
    const gguf_file *f = ctx;
    return strcmp(f->kv[*(const size_t *)a].key, f->kv[*(const size_t *)b].key);
}

static int cmp_ti_name(const void *a, const void *b, void *ctx) {
    const gguf_file *f = ctx;
    return strcmp(f->ti[*(const size_t *)a].name, f->ti[*(const size_t *)b].name);
}

static int cmp_ti_off(const void *a, const void *b, void *ctx) {
    const gguf_file *f = ctx;
    uint64_t x = f->ti[*(const size_t *)a].offset, y = f->ti[*(const size_t *)b].offset;
    return x < y ? -1 : x > y;
}

static void sort_idx(size_t *idx, size_t n, const gguf_file *f,
                     int (*cmp)(const void *, const void *, void *)) {
    if (n > 1) qsort_r(idx, n, sizeof *idx, cmp, (void *)f);
}

static esft_status parse(gguf_file *f, esft_err *err) {
    rd r = {.p = f->base, .size = f->size, .name = f->name, .err = err, .mem = &f->mem,
            .values_left = GGUF_MAX_VALUES};
    esft_status st;
    char qb[ESFT_QUOTE_MAX];

    if (f->size < 4)
        return rd_fail(&r, "not a GGUF file (only %zu bytes)", f->size);
    uint32_t magic;
    if ((st = rd_u32(&r, &magic, "magic"))) return st;
    if (magic != GGUF_MAGIC)
        return rd_fail(&r, "not a GGUF file (magic bytes %02x %02x %02x %02x, want 'GGUF')",
                       f->base[0], f->base[1], f->base[2], f->base[3]);
    uint32_t version;
    if ((st = rd_u32(&r, &version, "version"))) return st;
    if (version != 3 && version != 2) {
        if (version != 0 && (version & 0xffffu) == 0)
            return rd_fail(&r, "GGUF version field 0x%08x: big-endian files are not supported",
                           version);
        return rd_fail(&r, "unsupported GGUF version %u (need 3)", version);
    }
    f->version = version;

    uint64_t n_tensors, n_kv;
    if ((st = rd_u64(&r, &n_tensors, "tensor count"))) return st;
    if ((st = rd_u64(&r, &n_kv, "key/value count"))) return st;
    /* Minimal encodings: key/value 8+4+1 bytes; tensor info 8+4+8+4+8. */
    if (n_kv > rd_left(&r) / 13)
        return rd_fail(&r, "key/value count %llu cannot fit in the %zu bytes left",
                       (unsigned long long)n_kv, rd_left(&r));
    if (n_tensors > rd_left(&r) / 32 || n_kv * 13 + n_tensors * 32 > rd_left(&r))
        return rd_fail(&r, "tensor count %llu cannot fit in the %zu bytes left",
                       (unsigned long long)n_tensors, rd_left(&r));

    f->n_kv = (size_t)n_kv;
    f->n_tensors = (size_t)n_tensors;
    size_t kv_bytes = f->n_kv * (sizeof(gguf_kv) + sizeof(size_t));
    size_t ti_bytes = f->n_tensors * (sizeof(gguf_tensor_info) + sizeof(size_t));
    if (f->n_kv) {
        f->kv = arena_alloc(&f->mem, f->n_kv * sizeof(gguf_kv));
        f->kv_sorted = arena_alloc(&f->mem, f->n_kv * sizeof(size_t));
        if (!f->kv || !f->kv_sorted) return rd_oom(&r, kv_bytes);
    }
    if (f->n_tensors) {
        f->ti = arena_alloc(&f->mem, f->n_tensors * sizeof(gguf_tensor_info));
        f->ti_sorted = arena_alloc(&f->mem, f->n_tensors * sizeof(size_t));
        if (!f->ti || !f->ti_sorted) return rd_oom(&r, ti_bytes);
    }

    for (size_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        uint64_t klen;
        char what[48];
        snprintf(what, sizeof what, "key #%zu", i);
        if ((st = rd_str(&r, &kv->key, &klen, what))) return st;
        if (klen == 0) return rd_fail(&r, "key #%zu is empty", i);
        if (strlen(kv->key) != klen)
            return rd_fail(&r, "key '%s' contains a NUL byte", esft_quote(kv->key, klen, qb, sizeof qb));
        set_ctx(&r, "key", kv->key);
        uint32_t t;
        if ((st = rd_u32(&r, &t, "value type"))) return st;
        if (t >= GGUF_VT_COUNT) return rd_fail(&r, "unknown value type %u", t);
        if ((st = rd_value(&r, (gguf_vtype)t, &kv->value, 0))) return st;
        set_ctx(&r, NULL, NULL);
        f->kv_sorted[i] = i;
    }
    sort_idx(f->kv_sorted, f->n_kv, f, cmp_kv);
    for (size_t i = 1; i < f->n_kv; i++) {
        const char *a = f->kv[f->kv_sorted[i - 1]].key, *b = f->kv[f->kv_sorted[i]].key;
        if (strcmp(a, b) == 0)
            return rd_fail(&r, "duplicate key '%s'", esft_quote(b, strlen(b), qb, sizeof qb));
    }

    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *akv = esft_gguf_find_kv(f, "general.alignment");
    if (akv) {
        set_ctx(&r, "key", akv->key);
        uint32_t a;
        if (akv->value.type != GGUF_VT_UINT32)
            return rd_fail(&r, "must be of type uint32, not %s", vtype_name(akv->value.type));
        a = (uint32_t)akv->value.v.u64;
        if (!is_pow2(a)) return rd_fail(&r, "alignment %u is not a nonzero power of two", a);
        f->alignment = a;
        set_ctx(&r, NULL, NULL);
    }

    for (size_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor_info *t = &f->ti[i];
        uint64_t nlen;
        char what[48];
        snprintf(what, sizeof what, "tensor #%zu name", i);
        if ((st = rd_str(&r, &t->name, &nlen, what))) return st;
        if (nlen == 0) return rd_fail(&r, "tensor #%zu has an empty name", i);
        set_ctx(&r, "tensor", t->name);
        if (strlen(t->name) != nlen) {
            set_ctx(&r, NULL, NULL);
            return rd_fail(&r, "tensor '%s': name contains a NUL byte",
                           esft_quote(t->name, nlen, qb, sizeof qb));
        }
        if ((st = rd_u32(&r, &t->n_dims, "n_dims"))) return st;
        if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
            return rd_fail(&r, "n_dims %u is not in 1..%d", t->n_dims, GGUF_MAX_DIMS);
        uint64_t nel = 1;
        for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            if ((st = rd_u64(&r, &t->ne[d], "dimension"))) return st;
            if (t->ne[d] == 0) return rd_fail(&r, "dimension %u is zero", d);
            if (t->ne[d] > (uint64_t)INT64_MAX / nel)
                return rd_fail(&r, "element count overflows (dimension %u = %llu)", d,
                               (unsigned long long)t->ne[d]);
            nel *= t->ne[d];
        }
        t->n_elements = nel;
        uint32_t type;
        if ((st = rd_u32(&r, &type, "type"))) return st;
        if (!esft_ggml_type_known(type)) return rd_fail(&r, "unknown tensor type id %u", type);
        t->type = (ggml_type)type;
        uint64_t row;
        esft_err e2;
        if (esft_ggml_row_bytes(t->type, t->ne[0], &row, &e2) != ESFT_OK)
            return rd_fail(&r, "%s", e2.msg);
        uint64_t nrows = nel / t->ne[0];
        if (row != 0 && nrows > UINT64_MAX / row)
            return rd_fail(&r, "byte size overflows");
        t->n_bytes = row * nrows;
        if ((st = rd_u64(&r, &t->offset, "offset"))) return st;
        if (t->offset % f->alignment != 0)
            return rd_fail(&r, "offset %llu is not a multiple of the alignment %zu",
                           (unsigned long long)t->offset, f->alignment);
        set_ctx(&r, NULL, NULL);
        f->ti_sorted[i] = i;
    }

    /* Data section: first aligned offset after the tensor infos. */
    uint64_t pos = r.pos, pad = (f->alignment - pos % f->alignment) % f->alignment;
    f->data_offset = pos + pad;
    if (f->n_tensors > 0 && f->data_offset > f->size)
        return rd_fail(&r, "data section would start at %llu, past end of file (size %zu)",
                       (unsigned long long)f->data_offset, f->size);
    uint64_t data_size = f->n_tensors > 0 ? f->size - f->data_offset : 0;

    sort_idx(f->ti_sorted, f->n_tensors, f, cmp_ti_name);
    for (size_t i = 1; i < f->n_tensors; i++) {
        const char *a = f->ti[f->ti_sorted[i - 1]].name, *b = f->ti[f->ti_sorted[i]].name;
        if (strcmp(a, b) == 0)
            return rd_fail(&r, "duplicate tensor '%s'", esft_quote(b, strlen(b), qb, sizeof qb));
    }
    for (size_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor_info *t = &f->ti[i];
        if (t->offset > data_size || t->n_bytes > data_size - t->offset) {
            const char *tn = esft_quote(t->name, strlen(t->name), qb, sizeof qb);
            /* absolute file offsets, when they fit in 64 bits */
            if (t->offset > UINT64_MAX - f->data_offset ||
                t->n_bytes > UINT64_MAX - f->data_offset - t->offset)
                return rd_fail(&r,
                               "tensor '%s' data (offset %llu + %llu bytes after data section "
                               "start %llu) lies past end of file (size %zu)",
                               tn, (unsigned long long)t->offset, (unsigned long long)t->n_bytes,
                               (unsigned long long)f->data_offset, f->size);
            uint64_t a = f->data_offset + t->offset, end = a + t->n_bytes;
            return rd_fail(&r, "tensor '%s' data [%llu..%llu) lies past end of file (size %zu)",
                           tn, (unsigned long long)a,
                           (unsigned long long)end, f->size);
        }
        t->data = f->base + f->data_offset + t->offset;
    }
    /* Overlap check on a copy of the index sorted by offset. */
    if (f->n_tensors > 1) {
        size_t *byoff = malloc(f->n_tensors * sizeof *byoff);
        if (!byoff) return rd_oom(&r, f->n_tensors * sizeof *byoff);
        memcpy(byoff, f->ti_sorted, f->n_tensors * sizeof *byoff);
        sort_idx(byoff, f->n_tensors, f, cmp_ti_off);
        for (size_t i = 1; i < f->n_tensors; i++) {
            const gguf_tensor_info *a = &f->ti[byoff[i - 1]], *b = &f->ti[byoff[i]];
            if (b->offset < a->offset + a->n_bytes) {
                char qa[ESFT_QUOTE_MAX];
                st = rd_fail(&r, "tensor '%s' data at offset %llu overlaps tensor '%s' [%llu..%llu)",
                             esft_quote(b->name, strlen(b->name), qb, sizeof qb),
                             (unsigned long long)b->offset,
                             esft_quote(a->name, strlen(a->name), qa, sizeof qa),
                             (unsigned long long)a->offset,
                             (unsigned long long)(a->offset + a->n_bytes));
                free(byoff);
                return st;
            }
        }
        free(byoff);
    }
    return ESFT_OK;
}

static esft_status open_common(gguf_file *f, gguf_file **out, esft_err *err) {
    esft_status st = parse(f, err);
    if (st != ESFT_OK) {
        esft_gguf_close(f);
        return st;
    }
    *out = f;
    return ESFT_OK;
}

static gguf_file *file_new(const char *name) {
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->name = strdup(name ? name : "<memory>");
    if (!f->name) {
        free(f);
        return NULL;
    }
    return f;
}

esft_status esft_gguf_open(const char *path, gguf_file **out, esft_err *err) {
    if (!path || !out) return esft_errf(err, ESFT_ERR_INVALID_ARG, "esft_gguf_open: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return esft_errf(err, ESFT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return esft_errf(err, ESFT_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return esft_errf(err, ESFT_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size < 4) {
        close(fd);
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: not a GGUF file (only %lld bytes)", path,
                         (long long)sb.st_size);
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return esft_errf(err, ESFT_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
    gguf_file *f = file_new(path);
    if (!f) {
        munmap(map, size);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    f->map = map;
    f->map_len = size;
    f->base = map;
    f->size = size;
    return open_common(f, out, err);
}

esft_status esft_gguf_open_memory(const void *data, size_t size, const char *name, gguf_file **out,
                             esft_err *err) {
    if (!out || (!data && size)) return esft_errf(err, ESFT_ERR_INVALID_ARG, "esft_gguf_open_memory: NULL argument");
    *out = NULL;
    gguf_file *f = file_new(name);
    if (!f) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", name ? name : "<memory>");
    f->base = data;
    f->size = size;
    return open_common(f, out, err);
}

void esft_gguf_close(gguf_file *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->map_len);
    free(f->owned);
    arena_free(&f->mem);
    free(f->name);
    free(f);
}

uint32_t esft_gguf_version(const gguf_file *f) { return f->version; }
size_t esft_gguf_alignment(const gguf_file *f) { return f->alignment; }
const char *esft_gguf_path(const gguf_file *f) { return f->name; }
uint64_t esft_gguf_data_offset(const gguf_file *f) { return f->data_offset; }
size_t esft_gguf_n_kv(const gguf_file *f) { return f->n_kv; }

const gguf_kv *esft_gguf_kv_at(const gguf_file *f, size_t i) { return i < f->n_kv ? &f->kv[i] : NULL; }

const gguf_kv *esft_gguf_find_kv(const gguf_file *f, const char *key) {
    if (!key) return NULL;
    size_t lo = 0, hi = f->n_kv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gguf_kv *kv = &f->kv[f->kv_sorted[mid]];
        int c = strcmp(key, kv->key);
        if (c == 0) return kv;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

/* Integer value of a kv as (is_signed, value); false when not an integer. */
static bool kv_int(const gguf_kv *kv, bool *neg, uint64_t *mag, int64_t *sval) {
    switch (kv->value.type) {
    case GGUF_VT_UINT8:
    case GGUF_VT_UINT16:
    case GGUF_VT_UINT32:
    case GGUF_VT_UINT64:
        *neg = false;
        *mag = kv->value.v.u64;
        *sval = 0;
        return true;
    case GGUF_VT_INT8:
    case GGUF_VT_INT16:
    case GGUF_VT_INT32:
    case GGUF_VT_INT64:
        *sval = kv->value.v.i64;
        *neg = *sval < 0;
        *mag = *neg ? 0 : (uint64_t)*sval;
        return true;
    default: return false;
    }
}

bool esft_gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out) {
    const gguf_kv *kv = esft_gguf_find_kv(f, key);
    bool neg;
    uint64_t m;
    int64_t s;
    if (!kv || !kv_int(kv, &neg, &m, &s) || neg || m > UINT32_MAX) return false;
    if (out) *out = (uint32_t)m;
    return true;
}

bool esft_gguf_get_i32(const gguf_file *f, const char *key, int32_t *out) {
    const gguf_kv *kv = esft_gguf_find_kv(f, key);
    bool neg;
    uint64_t m;
    int64_t s;
    if (!kv || !kv_int(kv, &neg, &m, &s)) return false;
    if (neg) {
        if (s < INT32_MIN) return false;
        if (out) *out = (int32_t)s;
    } else {
        if (m > INT32_MAX) return false;
        if (out) *out = (int32_t)m;
    }
    return true;
}

bool esft_gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out) {
    const gguf_kv *kv = esft_gguf_find_kv(f, key);
    bool neg;
    uint64_t m;
    int64_t s;
    if (!kv || !kv_int(kv, &neg, &m, &s) || neg) return false;
    if (out) *out = m;
    return true;
}

bool esft_gguf_get_f32(const gguf_file *f, const char *key, float *out) {
    const gguf_kv *kv = esft_gguf_find_kv(f, key);
    if (!kv || (kv->value.type != GGUF_VT_FLOAT32 && kv->value.type != GGUF_VT_FLOAT64))
        return false;
    if (out) *out = (float)kv->value.v.f64;
    return true;
}

bool esft_gguf_get_bool(const gguf_file *f, const char *key, bool *out) {
    const gguf_kv *kv = esft_gguf_find_kv(f, key);
    if (!kv || kv->value.type != GGUF_VT_BOOL) return false;
    if (out) *out = kv->value.v.b;
    return true;
}

const char *esft_gguf_get_str(const gguf_file *f, const char *key) {
    const gguf_kv *kv = esft_gguf_find_kv(f, key);
    return kv && kv->value.type == GGUF_VT_STRING ? kv->value.v.str.data : NULL;
}

const gguf_value *esft_gguf_get_arr(const gguf_file *f, const char *key) {
    const gguf_kv *kv = esft_gguf_find_kv(f, key);
    return kv && kv->value.type == GGUF_VT_ARRAY ? &kv->value : NULL;
}

size_t esft_gguf_n_tensors(const gguf_file *f) { return f->n_tensors; }

const gguf_tensor_info *esft_gguf_tensor_at(const gguf_file *f, size_t i) {
    return i < f->n_tensors ? &f->ti[i] : NULL;
}

const gguf_tensor_info *esft_gguf_find_tensor(const gguf_file *f, const char *name) {
    if (!name) return NULL;
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gguf_tensor_info *t = &f->ti[f->ti_sorted[mid]];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

/* --------------------------------------------------------------- writer */

typedef struct wkv {
    char *key;
    gguf_value value;
    void *mem; /* one block holding the value's arrays and strings */
} wkv;

typedef struct wtensor {
    char *name;
    ggml_type type;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    uint64_t n_bytes;
    uint64_t row_bytes;  /* bytes of one row (ne[0] elements) */
    const void *data;    /* NULL when rows() produces the data at write time */
    void *owned;
    gguf_rows_fn rows;
    void *user;
} wtensor;

struct gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    size_t alignment;
    esft_status deferred; /* failure inside set_alignment, reported by write */
    esft_err deferred_err;
};

gguf_writer *esft_gguf_writer_new(void) {
    gguf_writer *w = calloc(1, sizeof *w);
    if (w) w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void esft_gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].mem);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].owned);
    }
    free(w->kv);
    free(w->t);
    free(w);
}

#define ALIGN16(n) (((n) + 15) & ~(size_t)15)

/* Validates a caller's value and measures the bytes a deep copy needs. */
static esft_status measure(const gguf_value *v, int depth, size_t *bytes, const char *key,
                           esft_err *err) {
    if ((unsigned)v->type >= GGUF_VT_COUNT)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: key '%s': bad value type %u",
                         key, (unsigned)v->type);
    if (v->type == GGUF_VT_STRING) {
        if (!v->v.str.data && v->v.str.len)
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: key '%s': NULL string", key);
        if (v->v.str.len > SIZE_MAX / 2 || *bytes > SIZE_MAX / 2)
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: key '%s': string too long", key);
        *bytes += ALIGN16((size_t)v->v.str.len + 1);
        return ESFT_OK;
    }
    if (v->type != GGUF_VT_ARRAY) {
        if (v->type == GGUF_VT_BOOL && v->v.b != true && v->v.b != false)
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: key '%s': bad bool", key);
        return ESFT_OK;
    }
    if (depth >= GGUF_MAX_ARRAY_DEPTH)
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "gguf writer: key '%s': arrays nested deeper than %d levels", key,
                         GGUF_MAX_ARRAY_DEPTH);
    if ((unsigned)v->v.arr.elem_type >= GGUF_VT_COUNT)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: key '%s': bad array element type %u",
                         key, (unsigned)v->v.arr.elem_type);
    uint64_t n = v->v.arr.n;
    if (n && !v->v.arr.items)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: key '%s': NULL array items", key);
    if (n > (SIZE_MAX / 4) / sizeof(gguf_value) || *bytes > SIZE_MAX / 2)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: key '%s': array too long", key);
    *bytes += ALIGN16((size_t)n * sizeof(gguf_value));
    for (uint64_t i = 0; i < n; i++) {
        const gguf_value *it = &v->v.arr.items[i];
        if (it->type != v->v.arr.elem_type)
            return esft_errf(err, ESFT_ERR_INVALID_ARG,
                             "gguf writer: key '%s': array item %llu is %s, array holds %s", key,
                             (unsigned long long)i, vtype_name(it->type),
                             vtype_name(v->v.arr.elem_type));
        esft_status st = measure(it, depth + 1, bytes, key, err);
        if (st) return st;
    }
    return ESFT_OK;
}

static void deep_copy(gguf_value *dst, const gguf_value *src, char **mem) {
    *dst = *src;
    if (src->type == GGUF_VT_STRING) {
        char *s = *mem;
        *mem += ALIGN16((size_t)src->v.str.len + 1);
        if (src->v.str.len) memcpy(s, src->v.str.data, (size_t)src->v.str.len);
        s[src->v.str.len] = 0;
        dst->v.str.data = s;
    } else if (src->type == GGUF_VT_ARRAY && src->v.arr.n == 0) {
        dst->v.arr.items = NULL; /* nothing to carve (the block is NULL when all is empty) */
    } else if (src->type == GGUF_VT_ARRAY) {
        gguf_value *items = (gguf_value *)(void *)*mem;
        *mem += ALIGN16((size_t)src->v.arr.n * sizeof(gguf_value));
        for (uint64_t i = 0; i < src->v.arr.n; i++) deep_copy(&items[i], &src->v.arr.items[i], mem);
        dst->v.arr.items = items;
    }
}

esft_status esft_gguf_writer_set(gguf_writer *w, const char *key, const gguf_value *value, esft_err *err) {
    if (!w || !key || !value) return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: NULL argument");
    if (!*key) return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: empty key");
    size_t bytes = 0;
    esft_status st = measure(value, 0, &bytes, key, err);
    if (st) return st;
    if (strcmp(key, "general.alignment") == 0) {
        if (value->type != GGUF_VT_UINT32 || !is_pow2(value->v.u64))
            return esft_errf(err, ESFT_ERR_INVALID_ARG,
                             "gguf writer: general.alignment must be a uint32 power of two");
        w->alignment = (size_t)value->v.u64;
    }
    void *mem = NULL;
    if (bytes) {
        mem = malloc(bytes);
        if (!mem) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "gguf writer: key '%s': out of memory", key);
    }
    gguf_value copy;
    char *cursor = mem;
    deep_copy(&copy, value, &cursor);
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].mem);
            w->kv[i].value = copy;
            w->kv[i].mem = mem;
            return ESFT_OK;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv *n = realloc(w->kv, cap * sizeof *n);
        if (!n) {
            free(mem);
            return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
        }
        w->kv = n;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(mem);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
    }
    w->kv[w->n_kv++] = (wkv){.key = k, .value = copy, .mem = mem};
    return ESFT_OK;
}

void esft_gguf_writer_set_alignment(gguf_writer *w, size_t alignment) {
    if (!w) return;
    if (!is_pow2(alignment) || alignment > UINT32_MAX) {
        w->deferred = esft_errf(&w->deferred_err, ESFT_ERR_INVALID_ARG,
                                "gguf writer: alignment %zu is not a power of two", alignment);
        return;
    }
    /* the last call wins: a valid alignment clears an earlier invalid one */
    w->deferred = esft_gguf_writer_set_u32(w, "general.alignment", (uint32_t)alignment, &w->deferred_err);
}

esft_status esft_gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v, esft_err *err) {
    gguf_value x = {.type = GGUF_VT_UINT32, .v.u64 = v};
    return esft_gguf_writer_set(w, key, &x, err);
}

esft_status esft_gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v, esft_err *err) {
    gguf_value x = {.type = GGUF_VT_INT32, .v.i64 = v};
    return esft_gguf_writer_set(w, key, &x, err);
}

esft_status esft_gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v, esft_err *err) {
    gguf_value x = {.type = GGUF_VT_UINT64, .v.u64 = v};
    return esft_gguf_writer_set(w, key, &x, err);
}

esft_status esft_gguf_writer_set_f32(gguf_writer *w, const char *key, float v, esft_err *err) {
    gguf_value x = {.type = GGUF_VT_FLOAT32, .v.f64 = v};
    return esft_gguf_writer_set(w, key, &x, err);
}

esft_status esft_gguf_writer_set_bool(gguf_writer *w, const char *key, bool v, esft_err *err) {
    gguf_value x = {.type = GGUF_VT_BOOL, .v.b = v};
    return esft_gguf_writer_set(w, key, &x, err);
}

esft_status esft_gguf_writer_set_str(gguf_writer *w, const char *key, const char *v, esft_err *err) {
    if (!v) return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: key '%s': NULL string", key ? key : "");
    gguf_value x = {.type = GGUF_VT_STRING, .v.str = {v, strlen(v)}};
    return esft_gguf_writer_set(w, key, &x, err);
}

static esft_status set_arr(gguf_writer *w, const char *key, gguf_vtype et, size_t n,
                           void (*fill)(gguf_value *, const void *, size_t), const void *src,
                           esft_err *err) {
    if (n && !src) return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: key '%s': NULL array", key ? key : "");
    if (n > SIZE_MAX / sizeof(gguf_value))
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: array too long");
    gguf_value *items = NULL;
    if (n) {
        items = malloc(n * sizeof *items);
        if (!items) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
        for (size_t i = 0; i < n; i++) {
            items[i].type = et;
            fill(&items[i], src, i);
        }
    }
    gguf_value x = {.type = GGUF_VT_ARRAY, .v.arr = {et, n, items}};
    esft_status st = esft_gguf_writer_set(w, key, &x, err);
    free(items);
    return st;
}

static void fill_str(gguf_value *v, const void *src, size_t i) {
    const char *s = ((const char *const *)src)[i];
    v->v.str.data = s ? s : "";
    v->v.str.len = s ? strlen(s) : 0;
}
static void fill_i32(gguf_value *v, const void *src, size_t i) { v->v.i64 = ((const int32_t *)src)[i]; }
static void fill_f32(gguf_value *v, const void *src, size_t i) { v->v.f64 = ((const float *)src)[i]; }

esft_status esft_gguf_writer_set_str_arr(gguf_writer *w, const char *key, const char *const *v, size_t n,
                                    esft_err *err) {
    return set_arr(w, key, GGUF_VT_STRING, n, fill_str, v, err);
}

esft_status esft_gguf_writer_set_i32_arr(gguf_writer *w, const char *key, const int32_t *v, size_t n,
                                    esft_err *err) {
    return set_arr(w, key, GGUF_VT_INT32, n, fill_i32, v, err);
}

esft_status esft_gguf_writer_set_f32_arr(gguf_writer *w, const char *key, const float *v, size_t n,
                                    esft_err *err) {
    return set_arr(w, key, GGUF_VT_FLOAT32, n, fill_f32, v, err);
}

esft_status esft_gguf_writer_copy_kvs(gguf_writer *w, const gguf_file *src, esft_err *err) {
    if (!w || !src) return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: NULL argument");
    for (size_t i = 0; i < src->n_kv; i++) {
        if (strcmp(src->kv[i].key, "general.alignment") == 0) continue;
        esft_status st = esft_gguf_writer_set(w, src->kv[i].key, &src->kv[i].value, err);
        if (st) return st;
    }
    return ESFT_OK;
}

void esft_gguf_writer_remove_prefix(gguf_writer *w, const char *prefix) {
    if (!w || !prefix) return;
    size_t kept = 0, len = strlen(prefix);
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strncmp(w->kv[i].key, prefix, len) == 0) {
            free(w->kv[i].key);
            free(w->kv[i].mem);
        } else {
            w->kv[kept++] = w->kv[i];
        }
    }
    w->n_kv = kept;
}

/* Validates name, type and shape into t (name not yet copied). */
static esft_status tensor_entry(const gguf_writer *w, const char *name, ggml_type type, uint32_t n_dims,
                                const uint64_t *ne, wtensor *t, esft_err *err) {
    if (!w || !name || !ne) return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: NULL argument");
    if (!*name) return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: empty tensor name");
    if (!esft_ggml_type_known((uint32_t)type))
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: tensor '%s': unknown type id %u",
                         name, (unsigned)type);
    if (n_dims == 0 || n_dims > GGUF_MAX_DIMS)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: tensor '%s': n_dims %u not in 1..%d",
                         name, n_dims, GGUF_MAX_DIMS);
    *t = (wtensor){.type = type, .n_dims = n_dims};
    uint64_t nel = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX / nel)
            return esft_errf(err, ESFT_ERR_INVALID_ARG,
                             "gguf writer: tensor '%s': bad dimension %u = %llu", name, d,
                             (unsigned long long)t->ne[d]);
        nel *= t->ne[d];
    }
    esft_err e2;
    if (esft_ggml_row_bytes(type, t->ne[0], &t->row_bytes, &e2))
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: tensor '%s': %s", name, e2.msg);
    uint64_t nrows = nel / t->ne[0];
    if (nrows > UINT64_MAX / t->row_bytes || t->row_bytes * nrows > SIZE_MAX)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: tensor '%s': too large", name);
    t->n_bytes = t->row_bytes * nrows;
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: duplicate tensor '%s'", name);
    return ESFT_OK;
}

/* Appends t with a copy of its name; on failure frees t->owned. */
static esft_status push_tensor(gguf_writer *w, const char *name, wtensor *t, esft_err *err) {
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *n = realloc(w->t, cap * sizeof *n);
        if (!n) {
            free(t->owned);
            return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
        }
        w->t = n;
        w->cap_t = cap;
    }
    t->name = strdup(name);
    if (!t->name) {
        free(t->owned);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "gguf writer: out of memory");
    }
    w->t[w->n_t++] = *t;
    return ESFT_OK;
}

esft_status esft_gguf_writer_add_tensor(gguf_writer *w, const char *name, ggml_type type,
                                   uint32_t n_dims, const uint64_t *ne, const void *data,
                                   bool borrow, esft_err *err) {
    wtensor t;
    esft_status st = tensor_entry(w, name, type, n_dims, ne, &t, err);
    if (st) return st;
    if (!data) return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: tensor '%s': NULL data", name);
    if (borrow) {
        t.data = data;
    } else {
        t.owned = malloc(t.n_bytes ? (size_t)t.n_bytes : 1);
        if (!t.owned)
            return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY,
                             "gguf writer: tensor '%s': out of memory copying %llu bytes", name,
                             (unsigned long long)t.n_bytes);
        memcpy(t.owned, data, (size_t)t.n_bytes);
        t.data = t.owned;
    }
    return push_tensor(w, name, &t, err);
}

esft_status esft_gguf_writer_add_tensor_rows(gguf_writer *w, const char *name, ggml_type type,
                                        uint32_t n_dims, const uint64_t *ne, gguf_rows_fn rows,
                                        void *user, esft_err *err) {
    wtensor t;
    esft_status st = tensor_entry(w, name, type, n_dims, ne, &t, err);
    if (st) return st;
    if (!rows) return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: tensor '%s': NULL rows function", name);
    t.rows = rows;
    t.user = user;
    return push_tensor(w, name, &t, err);
}

typedef struct wout {
    FILE *fp;
    uint64_t pos;
    bool failed;
} wout;

static void w_bytes(wout *o, const void *p, size_t n) {
    if (o->failed || n == 0) return;
    if (fwrite(p, 1, n, o->fp) != n) o->failed = true;
    o->pos += n;
}

static void w_u8(wout *o, uint8_t v) { w_bytes(o, &v, 1); }

static void w_le(wout *o, uint64_t v, int n) {
    uint8_t b[8] = {0};
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    w_bytes(o, b, (size_t)n);
}

static void w_str(wout *o, const char *s, uint64_t len) {
    w_le(o, len, 8);
    w_bytes(o, s, (size_t)len);
}

static void w_value(wout *o, const gguf_value *v) {
    switch (v->type) {
    case GGUF_VT_UINT8: w_u8(o, (uint8_t)v->v.u64); break;
    case GGUF_VT_INT8: w_u8(o, (uint8_t)v->v.i64); break;
    case GGUF_VT_BOOL: w_u8(o, v->v.b ? 1 : 0); break;
    case GGUF_VT_UINT16: w_le(o, v->v.u64, 2); break;
    case GGUF_VT_INT16: w_le(o, (uint64_t)v->v.i64, 2); break;
    case GGUF_VT_UINT32: w_le(o, v->v.u64, 4); break;
    case GGUF_VT_INT32: w_le(o, (uint64_t)v->v.i64, 4); break;
    case GGUF_VT_FLOAT32: {
        float f = (float)v->v.f64;
        uint32_t u;
        memcpy(&u, &f, 4);
        w_le(o, u, 4);
        break;
    }
    case GGUF_VT_UINT64: w_le(o, v->v.u64, 8); break;
    case GGUF_VT_INT64: w_le(o, (uint64_t)v->v.i64, 8); break;
    case GGUF_VT_FLOAT64: {
        uint64_t u;
        memcpy(&u, &v->v.f64, 8);
        w_le(o, u, 8);
        break;
    }
    case GGUF_VT_STRING: w_str(o, v->v.str.data, v->v.str.len); break;
    case GGUF_VT_ARRAY:
        w_le(o, (uint32_t)v->v.arr.elem_type, 4);
        w_le(o, v->v.arr.n, 8);
        for (uint64_t i = 0; i < v->v.arr.n; i++) w_value(o, &v->v.arr.items[i]);
        break;
    case GGUF_VT_COUNT: break;
    }
}

static void w_pad(wout *o, size_t alignment) {
    static const uint8_t zeros[256];
    uint64_t pad = (alignment - o->pos % alignment) % alignment;
    while (pad > 0) {
        size_t n = pad > sizeof zeros ? sizeof zeros : (size_t)pad;
        w_bytes(o, zeros, n);
        pad -= n;
    }
}

/* Produced tensors are written in pieces of about this many bytes (at least
 * one row), so the writer never holds a whole tensor. */
#define ROWS_CHUNK_BYTES ((uint64_t)4 << 20)

static uint64_t rows_per_chunk(const wtensor *t) {
    return t->row_bytes >= ROWS_CHUNK_BYTES ? 1 : ROWS_CHUNK_BYTES / t->row_bytes;
}

/* Writes one tensor's data: from memory, or piece by piece from rows(). */
static esft_status w_tensor(wout *o, const wtensor *t, void *chunk, esft_err *err) {
    if (!t->rows) {
        w_bytes(o, t->data, (size_t)t->n_bytes);
        return ESFT_OK;
    }
    const uint64_t n_rows = t->n_bytes / t->row_bytes, per = rows_per_chunk(t);
    for (uint64_t r0 = 0; r0 < n_rows && !o->failed; r0 += per) {
        const uint64_t n = n_rows - r0 < per ? n_rows - r0 : per;
        esft_status st = t->rows(t->user, r0, n, chunk, err);
        if (st) return st;
        w_bytes(o, chunk, (size_t)(n * t->row_bytes));
    }
    return ESFT_OK;
}

/* Writes the whole file to fp; path names it in messages. */
static esft_status write_to(gguf_writer *w, FILE *fp, const char *path, esft_err *err) {
    if (w->deferred) {
        if (err) *err = w->deferred_err;
        return w->deferred;
    }
    const size_t al = w->alignment;
    /* Offsets of each tensor in the data section; the largest piece of a
     * produced tensor sizes the one chunk buffer. */
    uint64_t *offs = malloc((w->n_t ? w->n_t : 1) * sizeof *offs);
    if (!offs) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    uint64_t off = 0, chunk_bytes = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        offs[i] = off;
        off += t->n_bytes;
        off += (al - off % al) % al;
        if (t->rows && rows_per_chunk(t) * t->row_bytes > chunk_bytes) chunk_bytes = rows_per_chunk(t) * t->row_bytes;
    }
    void *chunk = chunk_bytes ? malloc((size_t)chunk_bytes) : NULL;
    if (chunk_bytes && !chunk) {
        free(offs);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory (%llu bytes)", path,
                         (unsigned long long)chunk_bytes);
    }
    esft_status st = ESFT_OK;
    wout o = {.fp = fp};

    w_le(&o, GGUF_MAGIC, 4);
    w_le(&o, GGUF_VERSION, 4);
    w_le(&o, w->n_t, 8);
    w_le(&o, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        w_str(&o, w->kv[i].key, strlen(w->kv[i].key));
        w_le(&o, (uint32_t)w->kv[i].value.type, 4);
        w_value(&o, &w->kv[i].value);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        w_str(&o, t->name, strlen(t->name));
        w_le(&o, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++) w_le(&o, t->ne[d], 8);
        w_le(&o, (uint32_t)t->type, 4);
        w_le(&o, offs[i], 8);
    }
    w_pad(&o, al);
    for (size_t i = 0; i < w->n_t && !st; i++) {
        st = w_tensor(&o, &w->t[i], chunk, err);
        w_pad(&o, al);
    }
    free(offs);
    free(chunk);
    return st; /* a failed fwrite leaves fp's error flag set for the caller */
}

esft_status esft_gguf_writer_write(gguf_writer *w, const char *path, esft_err *err) {
    if (!w || !path) return esft_errf(err, ESFT_ERR_INVALID_ARG, "gguf writer: NULL argument");
    esft_atomic_file af;
    esft_status st = esft_atomic_open(&af, path, err);
    if (st) return st;
    setvbuf(af.fp, NULL, _IOFBF, 1 << 20);
    st = write_to(w, af.fp, path, err);
    if (st) {
        esft_atomic_discard(&af);
        return st;
    }
    return esft_atomic_commit(&af, err);
}

esft_status esft_gguf_writer_to_reader(gguf_writer *w, const char *name, gguf_file **out, esft_err *err) {
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    if (!fp) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    esft_status st = write_to(w, fp, name, err);
    if (ferror(fp) && !st) st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    if (fclose(fp) != 0 && !st) st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    gguf_file *f = st ? NULL : file_new(name);
    if (!st && !f) st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    if (st) {
        free(buf);
        return st;
    }
    f->owned = buf;
    f->base = (const uint8_t *)buf;
    f->size = len;
    return open_common(f, out, err);
}
