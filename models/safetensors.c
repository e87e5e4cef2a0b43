/* Safetensors reader: mmap, then a checked walk over the JSON header (cJSON,
 * which bounds nesting). Every number the header gives is checked to be an
 * exact non-negative integer before it is used, and every byte range against
 * the data section, so no hostile header can make the reader touch memory
 * outside the file. */
#define _GNU_SOURCE /* qsort_r */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct esft_st_file {
    char *name;
    void *map;
    size_t map_len;
    const uint8_t *base;
    size_t size;
    size_t n_tensors;
    esft_st_tensor *t;
    size_t *by_name; /* indices sorted by name, for lookup */
};

static const struct {
    const char *name;
    size_t size;
} DTYPES[ESFT_ST_DTYPE_COUNT] = {
    [ESFT_ST_BOOL] = {"BOOL", 1},       [ESFT_ST_U8] = {"U8", 1},
    [ESFT_ST_I8] = {"I8", 1},           [ESFT_ST_F8_E4M3] = {"F8_E4M3", 1},
    [ESFT_ST_F8_E5M2] = {"F8_E5M2", 1}, [ESFT_ST_I16] = {"I16", 2},
    [ESFT_ST_U16] = {"U16", 2},         [ESFT_ST_F16] = {"F16", 2},
    [ESFT_ST_BF16] = {"BF16", 2},       [ESFT_ST_I32] = {"I32", 4},
    [ESFT_ST_U32] = {"U32", 4},         [ESFT_ST_F32] = {"F32", 4},
    [ESFT_ST_I64] = {"I64", 8},         [ESFT_ST_U64] = {"U64", 8},
    [ESFT_ST_F64] = {"F64", 8},
};

const char *esft_st_dtype_name(esft_st_dtype t) {
    return (unsigned)t < ESFT_ST_DTYPE_COUNT ? DTYPES[t].name : "?";
}

size_t esft_st_dtype_size(esft_st_dtype t) {
    return (unsigned)t < ESFT_ST_DTYPE_COUNT ? DTYPES[t].size : 0;
}

static bool dtype_from_name(const char *s, esft_st_dtype *out) {
    for (int i = 0; i < ESFT_ST_DTYPE_COUNT; i++)
        if (strcmp(DTYPES[i].name, s) == 0) {
            *out = (esft_st_dtype)i;
            return true;
        }
    return false;
}

/* "<file>: <message>" */
static esft_status fail(const esft_st_file *f, esft_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static esft_status fail(const esft_st_file *f, esft_err *err, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return esft_errf(err, ESFT_ERR_FORMAT, "%s: %s", f->name, msg);
}

/* A JSON number that is an exact integer in [0, 2^53]: doubles hold every
 * such integer exactly, and no file is larger. */
static bool json_u64(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!isfinite(d) || d < 0 || d > 9007199254740992.0 || d != floor(d)) return false;
    *out = (uint64_t)d;
    return true;
}

/* Fills t from one header entry; the message names the tensor. */
static esft_status parse_entry(const esft_st_file *f, const cJSON *e, esft_st_tensor *t,
                               uint64_t data_size, esft_err *err) {
    char qb[ESFT_QUOTE_MAX];
    const char *tn = esft_quote(e->string, strlen(e->string), qb, sizeof qb);
    if (!cJSON_IsObject(e)) return fail(f, err, "tensor '%s': entry is not a JSON object", tn);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off))
        return fail(f, err, "tensor '%s': needs a string \"dtype\", an array \"shape\" and an array "
                            "\"data_offsets\"", tn);
    if (!dtype_from_name(dt->valuestring, &t->dtype)) {
        char qd[ESFT_QUOTE_MAX];
        return fail(f, err, "tensor '%s': unknown dtype '%s'", tn,
                    esft_quote(dt->valuestring, strlen(dt->valuestring), qd, sizeof qd));
    }
    int nd = cJSON_GetArraySize(sh);
    if (nd > ESFT_ST_MAX_DIMS) return fail(f, err, "tensor '%s': %d dimensions (at most %d)", tn, nd, ESFT_ST_MAX_DIMS);
    t->n_dims = (uint32_t)nd;
    uint64_t nel = 1;
    int d = 0;
    for (const cJSON *x = sh->child; x; x = x->next, d++) {
        if (!json_u64(x, &t->shape[d]))
            return fail(f, err, "tensor '%s': shape dimension %d is not a non-negative integer", tn, d);
        if (t->shape[d] != 0 && nel > UINT64_MAX / t->shape[d])
            return fail(f, err, "tensor '%s': element count overflows", tn);
        nel *= t->shape[d];
    }
    t->n_elements = nel;
    const size_t es = DTYPES[t->dtype].size;
    if (cJSON_GetArraySize(off) != 2 || !json_u64(off->child, &t->begin) ||
        !json_u64(off->child->next, &t->end))
        return fail(f, err, "tensor '%s': data_offsets must be two non-negative integers", tn);
    if (t->begin > t->end || t->end > data_size)
        return fail(f, err, "tensor '%s': data_offsets [%llu, %llu] outside the %llu data bytes", tn,
                    (unsigned long long)t->begin, (unsigned long long)t->end,
                    (unsigned long long)data_size);
    if (nel > UINT64_MAX / es || t->end - t->begin != nel * es)
        return fail(f, err, "tensor '%s': %llu bytes for %llu %s elements (want %llu x %zu)", tn,
                    (unsigned long long)(t->end - t->begin), (unsigned long long)nel,
                    DTYPES[t->dtype].name, (unsigned long long)nel, es);
    if (t->begin % es)
        return fail(f, err, "tensor '%s': offset %llu is not a multiple of the %s size %zu", tn,
                    (unsigned long long)t->begin, DTYPES[t->dtype].name, es);
    t->name = strdup(e->string);
    if (!t->name) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", f->name);
    return ESFT_OK;
}

static int cmp_by_name(const void *a, const void *b, void *ctx) {
    const esft_st_tensor *t = ctx;
    return strcmp(t[*(const size_t *)a].name, t[*(const size_t *)b].name);
}

static int cmp_by_begin(const void *a, const void *b, void *ctx) {
    const esft_st_tensor *t = ctx;
    uint64_t x = t[*(const size_t *)a].begin, y = t[*(const size_t *)b].begin;
    return x < y ? -1 : x > y;
}

/* No name twice, no two non-empty tensors sharing a byte. */
static esft_status check_unique(esft_st_file *f, esft_err *err) {
    char qa[ESFT_QUOTE_MAX], qb[ESFT_QUOTE_MAX];
    const size_t n = f->n_tensors;
    for (size_t i = 0; i < n; i++) f->by_name[i] = i;
    qsort_r(f->by_name, n, sizeof *f->by_name, cmp_by_name, f->t);
    for (size_t i = 1; i < n; i++) {
        const char *a = f->t[f->by_name[i - 1]].name, *b = f->t[f->by_name[i]].name;
        if (strcmp(a, b) == 0) return fail(f, err, "tensor '%s' appears twice", esft_quote(b, strlen(b), qb, sizeof qb));
    }
    size_t *by_off = malloc((n ? n : 1) * sizeof *by_off);
    if (!by_off) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", f->name);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (f->t[i].end > f->t[i].begin) by_off[m++] = i;
    qsort_r(by_off, m, sizeof *by_off, cmp_by_begin, f->t);
    esft_status st = ESFT_OK;
    for (size_t i = 1; i < m && !st; i++) {
        const esft_st_tensor *a = &f->t[by_off[i - 1]], *b = &f->t[by_off[i]];
        if (b->begin < a->end)
            st = fail(f, err, "tensor '%s' [%llu, %llu) overlaps tensor '%s' [%llu, %llu)",
                      esft_quote(b->name, strlen(b->name), qb, sizeof qb), (unsigned long long)b->begin,
                      (unsigned long long)b->end, esft_quote(a->name, strlen(a->name), qa, sizeof qa),
                      (unsigned long long)a->begin, (unsigned long long)a->end);
    }
    free(by_off);
    return st;
}

static esft_status parse(esft_st_file *f, esft_err *err) {
    if (f->size < 8) return fail(f, err, "not a safetensors file (%zu bytes, no header length)", f->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | f->base[i];
    if (hlen > ESFT_ST_MAX_HEADER || hlen > f->size - 8)
        return fail(f, err, "header length %llu exceeds the file (%zu bytes) or the %llu-byte limit",
                    (unsigned long long)hlen, f->size, (unsigned long long)ESFT_ST_MAX_HEADER);
    const char *hdr = (const char *)f->base + 8;
    if (hlen < 2 || hdr[0] != '{') return fail(f, err, "header is not a JSON object");
    /* JSON has no raw control bytes (cJSON would skip a NUL as blank) */
    for (uint64_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)hdr[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return fail(f, err, "header is not valid JSON (control byte 0x%02x at byte %llu)", c,
                        (unsigned long long)i);
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        size_t at = end ? (size_t)(end - hdr) : 0;
        cJSON_Delete(root);
        return fail(f, err, "header is not valid JSON (near byte %zu of %llu)", at, (unsigned long long)hlen);
    }
    /* the writer pads the header with spaces; anything else after it is not ours */
    for (const char *p = end; p < hdr + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return fail(f, err, "bytes after the header's JSON object (at byte %zu)", (size_t)(p - hdr));
        }
    const uint64_t data_size = f->size - 8 - hlen;
    size_t n = 0;
    for (const cJSON *e = root->child; e; e = e->next) n += strcmp(e->string, "__metadata__") != 0;
    f->t = calloc(n ? n : 1, sizeof *f->t);
    f->by_name = malloc((n ? n : 1) * sizeof *f->by_name);
    if (!f->t || !f->by_name) {
        cJSON_Delete(root);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory (%zu tensors)", f->name, n);
    }
    esft_status st = ESFT_OK;
    for (const cJSON *e = root->child; e && !st; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(e)) st = fail(f, err, "__metadata__ is not a JSON object");
            continue;
        }
        esft_st_tensor *t = &f->t[f->n_tensors];
        st = parse_entry(f, e, t, data_size, err);
        if (!st) {
            t->data = f->base + 8 + hlen + t->begin;
            f->n_tensors++;
        }
    }
    cJSON_Delete(root);
    return st ? st : check_unique(f, err);
}

static esft_st_file *file_new(const char *name) {
    esft_st_file *f = calloc(1, sizeof *f);
    if (f && !(f->name = strdup(name ? name : "<memory>"))) {
        free(f);
        return NULL;
    }
    return f;
}

static esft_status finish(esft_st_file *f, esft_st_file **out, esft_err *err) {
    esft_status st = parse(f, err);
    if (st) {
        esft_st_close(f);
        return st;
    }
    *out = f;
    return ESFT_OK;
}

esft_status esft_st_open(const char *path, esft_st_file **out, esft_err *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return esft_errf(err, ESFT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return esft_errf(err, ESFT_ERR_IO, "%s: not a regular file", path);
    }
    esft_st_file *f = file_new(path);
    if (!f) {
        close(fd);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    f->size = (size_t)sb.st_size;
    if (f->size > 0) {
        void *map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            esft_st_close(f);
            return esft_errf(err, ESFT_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
        }
        f->map = map;
        f->map_len = f->size;
        f->base = map;
    }
    close(fd);
    return finish(f, out, err);
}

esft_status esft_st_open_memory(const void *data, size_t size, const char *name,
                                esft_st_file **out, esft_err *err) {
    *out = NULL;
    esft_st_file *f = file_new(name);
    if (!f) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    f->base = data;
    f->size = data ? size : 0;
    return finish(f, out, err);
}

void esft_st_close(esft_st_file *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->map_len);
    for (size_t i = 0; i < f->n_tensors; i++) free(f->t[i].name);
    free(f->t);
    free(f->by_name);
    free(f->name);
    free(f);
}

const char *esft_st_path(const esft_st_file *f) { return f->name; }
size_t esft_st_n_tensors(const esft_st_file *f) { return f->n_tensors; }

const esft_st_tensor *esft_st_tensor_at(const esft_st_file *f, size_t i) {
    return i < f->n_tensors ? &f->t[i] : NULL;
}

const esft_st_tensor *esft_st_find(const esft_st_file *f, const char *name) {
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->t[f->by_name[mid]].name, name);
        if (c == 0) return &f->t[f->by_name[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
