/* Tests for models/gguf.c.
 *
 * (a) Reader and writer against an independent reference:
 *     tests/fixtures/gguf_pyref.gguf was written by gguf-py's GGUFWriter
 *     (scripts/gen-quant-fixtures.py) with every metadata type, nested arrays
 *     and ten tensors. The reader must return exactly the values the script
 *     put in; esft's writer, given the same content, must produce the same
 *     bytes; and reader -> writer (copy_kvs + tensors) must reproduce them.
 * (b) Hostile inputs: every truncation, corrupted headers, absurd counts,
 *     overflows, bad alignment, nesting bombs and random mutations must fail
 *     cleanly with a one-line message (run under ASan/UBSan too).
 * (c) The real SmolLM2 model, when present, checked against what gguf-py
 *     reads from it (tests/fixtures/smollm2_gguf_facts.txt). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "esft_half.h"
#include "gguf.h"
#include "testutil.h"

/* ------------------------------------------------------------ utilities */

static void bin_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", ESFT_TEST_BINARY_DIR, name);
}

static bool msg_ok(const esft_err *e, const char *name) {
    return e->msg[0] && strchr(e->msg, '\n') == NULL && strstr(e->msg, name) != NULL;
}

/* A growable byte buffer for hand-built GGUF images. */
typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_u8(buf *b, uint8_t v) { put(b, &v, 1); }
static void put_u32(buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}
static void put_u64(buf *b, uint64_t v) {
    for (int i = 0; i < 8; i++) put_u8(b, (uint8_t)(v >> (8 * i)));
}
static void put_str(buf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void put_hdr(buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}
static void put_kv_u32(buf *b, const char *key, uint32_t v) {
    put_str(b, key);
    put_u32(b, GGUF_VT_UINT32);
    put_u32(b, v);
}
static void put_ti(buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                   uint64_t offset) {
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) put_u64(b, ne[i]);
    put_u32(b, type);
    put_u64(b, offset);
}
static void pad_to(buf *b, size_t al, size_t extra) {
    while (b->n % al) put_u8(b, 0);
    for (size_t i = 0; i < extra; i++) put_u8(b, (uint8_t)i);
}

/* Parses an image expected to be rejected; returns true if it was, with a
 * one-line message naming the image. */
static bool rejects(const void *p, size_t n, const char *label, const char *want_substr) {
    gguf_file *f = NULL;
    esft_err e = {{0}};
    esft_status st = esft_gguf_open_memory(p, n, label, &f, &e);
    bool ok = (st == ESFT_ERR_FORMAT) && f == NULL && msg_ok(&e, label) &&
              (!want_substr || strstr(e.msg, want_substr));
    if (!ok)
        fprintf(stderr, "  %s: status %s, msg '%s' (wanted '%s')\n", label, esft_status_name(st),
                e.msg, want_substr ? want_substr : "");
    else if (getenv("ESFT_TEST_VERBOSE"))
        printf("  %s -> %s\n", label, e.msg);
    esft_gguf_close(f);
    return ok;
}

static bool accepts(const void *p, size_t n, const char *label) {
    gguf_file *f = NULL;
    esft_err e = {{0}};
    esft_status st = esft_gguf_open_memory(p, n, label, &f, &e);
    if (st) fprintf(stderr, "  %s: unexpectedly rejected: %s\n", label, e.msg);
    esft_gguf_close(f);
    return st == ESFT_OK;
}

/* ------------------------------------------------- reference content (a) */

typedef struct ref_tensor {
    const char *name;
    ggml_type type;
    uint32_t n_dims;
    uint64_t ne[4];
} ref_tensor;

/* Must match REF_TENSORS in scripts/gen-quant-fixtures.py. */
static const ref_tensor k_ref_tensors[] = {
    {"tok.f32", GGML_TYPE_F32, 2, {3, 5}},
    {"blk.0.f16", GGML_TYPE_F16, 1, {7}},
    {"blk.0.bf16", GGML_TYPE_BF16, 3, {4, 2, 3}},
    {"blk.1.q8_0", GGML_TYPE_Q8_0, 2, {64, 2}},
    {"blk.1.q4_k", GGML_TYPE_Q4_K, 1, {256}},
    {"blk.2.q6_k", GGML_TYPE_Q6_K, 4, {256, 1, 1, 2}},
    {"x.i32", GGML_TYPE_I32, 1, {5}},
    {"x.iq2_xxs", GGML_TYPE_IQ2_XXS, 1, {256}},
    {"x.q4_0", GGML_TYPE_Q4_0, 2, {32, 3}},
    {"last.f32", GGML_TYPE_F32, 1, {16}},
};
#define N_REF_TENSORS (sizeof k_ref_tensors / sizeof k_ref_tensors[0])

static uint64_t ref_nbytes(const ref_tensor *t) {
    uint64_t row = 0;
    esft_ggml_row_bytes(t->type, t->ne[0], &row, NULL);
    for (uint32_t d = 1; d < t->n_dims; d++) row *= t->ne[d];
    return row;
}

static uint8_t *ref_data(size_t k, uint64_t n) {
    uint8_t *p = malloc(n);
    for (uint64_t i = 0; i < n; i++) p[i] = (uint8_t)((i * 131 + k * 17 + 7) & 0xff);
    return p;
}

static const char k_str[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9f\x99\x82 "
                            "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";

#define V(T, field, x) ((gguf_value){.type = (T), .v.field = (x)})
#define VS(s, n) ((gguf_value){.type = GGUF_VT_STRING, .v.str = {(s), (n)}})
#define VA(et, items, n) ((gguf_value){.type = GGUF_VT_ARRAY, .v.arr = {(et), (n), (items)}})

/* Builds the reference content with esft's writer (same order as the script). */
static bool build_ref(gguf_writer *w) {
    esft_err e;
    bool ok = true;
#define S(expr) ok = ok && ((expr) == ESFT_OK)
    esft_gguf_writer_set_alignment(w, 64);
    S(esft_gguf_writer_set_str(w, "general.architecture", "llama", &e));
    gguf_value v;
    v = V(GGUF_VT_UINT8, u64, 200);
    S(esft_gguf_writer_set(w, "t.u8", &v, &e));
    v = V(GGUF_VT_INT8, i64, -100);
    S(esft_gguf_writer_set(w, "t.i8", &v, &e));
    v = V(GGUF_VT_UINT16, u64, 60000);
    S(esft_gguf_writer_set(w, "t.u16", &v, &e));
    v = V(GGUF_VT_INT16, i64, -30000);
    S(esft_gguf_writer_set(w, "t.i16", &v, &e));
    S(esft_gguf_writer_set_u32(w, "t.u32", 4000000000u, &e));
    S(esft_gguf_writer_set_i32(w, "t.i32", -2000000000, &e));
    S(esft_gguf_writer_set_f32(w, "t.f32", 3.140625f, &e));
    S(esft_gguf_writer_set_bool(w, "t.bool", true, &e));
    S(esft_gguf_writer_set_bool(w, "t.bool0", false, &e));
    S(esft_gguf_writer_set_str(w, "t.str", k_str, &e));
    v = VS("a\0b", 3);
    S(esft_gguf_writer_set(w, "t.str_nul", &v, &e));
    S(esft_gguf_writer_set_str(w, "t.str_empty", "", &e));
    S(esft_gguf_writer_set_u64(w, "t.u64", ((uint64_t)1 << 63) + 5, &e));
    v = V(GGUF_VT_INT64, i64, INT64_MIN + 1);
    S(esft_gguf_writer_set(w, "t.i64", &v, &e));
    v = V(GGUF_VT_FLOAT64, f64, -1.5e300);
    S(esft_gguf_writer_set(w, "t.f64", &v, &e));

    gguf_value it[4];
    it[0] = V(GGUF_VT_UINT8, u64, 1), it[1] = V(GGUF_VT_UINT8, u64, 2), it[2] = V(GGUF_VT_UINT8, u64, 255);
    v = VA(GGUF_VT_UINT8, it, 3);
    S(esft_gguf_writer_set(w, "t.arr_u8", &v, &e));
    it[0] = V(GGUF_VT_INT8, i64, -128), it[1] = V(GGUF_VT_INT8, i64, 0), it[2] = V(GGUF_VT_INT8, i64, 127);
    v = VA(GGUF_VT_INT8, it, 3);
    S(esft_gguf_writer_set(w, "t.arr_i8", &v, &e));
    it[0] = V(GGUF_VT_UINT16, u64, 0), it[1] = V(GGUF_VT_UINT16, u64, 65535);
    v = VA(GGUF_VT_UINT16, it, 2);
    S(esft_gguf_writer_set(w, "t.arr_u16", &v, &e));
    it[0] = V(GGUF_VT_INT16, i64, -32768), it[1] = V(GGUF_VT_INT16, i64, 32767);
    v = VA(GGUF_VT_INT16, it, 2);
    S(esft_gguf_writer_set(w, "t.arr_i16", &v, &e));
    it[0] = V(GGUF_VT_UINT32, u64, 0), it[1] = V(GGUF_VT_UINT32, u64, 4294967295u);
    v = VA(GGUF_VT_UINT32, it, 2);
    S(esft_gguf_writer_set(w, "t.arr_u32", &v, &e));
    const int32_t i32s[] = {INT32_MIN, INT32_MAX, 5};
    S(esft_gguf_writer_set_i32_arr(w, "t.arr_i32", i32s, 3, &e));
    const float f32s[] = {0.5f, -2.25f, 0x1p-140f};
    S(esft_gguf_writer_set_f32_arr(w, "t.arr_f32", f32s, 3, &e));
    it[0] = V(GGUF_VT_BOOL, b, true), it[1] = V(GGUF_VT_BOOL, b, false), it[2] = V(GGUF_VT_BOOL, b, true);
    v = VA(GGUF_VT_BOOL, it, 3);
    S(esft_gguf_writer_set(w, "t.arr_bool", &v, &e));
    it[0] = V(GGUF_VT_UINT64, u64, UINT64_MAX), it[1] = V(GGUF_VT_UINT64, u64, 0);
    v = VA(GGUF_VT_UINT64, it, 2);
    S(esft_gguf_writer_set(w, "t.arr_u64", &v, &e));
    it[0] = V(GGUF_VT_INT64, i64, INT64_MIN), it[1] = V(GGUF_VT_INT64, i64, INT64_MAX);
    v = VA(GGUF_VT_INT64, it, 2);
    S(esft_gguf_writer_set(w, "t.arr_i64", &v, &e));
    it[0] = V(GGUF_VT_FLOAT64, f64, 1e-310), it[1] = V(GGUF_VT_FLOAT64, f64, -0.0),
    it[2] = V(GGUF_VT_FLOAT64, f64, 2.5);
    v = VA(GGUF_VT_FLOAT64, it, 3);
    S(esft_gguf_writer_set(w, "t.arr_f64", &v, &e));
    const char *strs[] = {"a", "\xce\xb2\xce\xb3", "\xf0\x9f\x99\x82", ""};
    S(esft_gguf_writer_set_str_arr(w, "t.arr_str", strs, 4, &e));
    /* array of arrays of strings */
    gguf_value s0[2] = {VS("x", 1), VS("y", 1)}, s1[1] = {VS("z", 1)},
               s2[3] = {VS("\xc3\xbc", 2), VS("v", 1), VS("w", 1)};
    gguf_value aa[3] = {VA(GGUF_VT_STRING, s0, 2), VA(GGUF_VT_STRING, s1, 1), VA(GGUF_VT_STRING, s2, 3)};
    v = VA(GGUF_VT_ARRAY, aa, 3);
    S(esft_gguf_writer_set(w, "t.arr_arr_str", &v, &e));
    /* three levels: [[[1,2],[3]],[[4]]] of int32 */
    gguf_value l12[2] = {V(GGUF_VT_INT32, i64, 1), V(GGUF_VT_INT32, i64, 2)},
               l3[1] = {V(GGUF_VT_INT32, i64, 3)}, l4[1] = {V(GGUF_VT_INT32, i64, 4)};
    gguf_value m0[2] = {VA(GGUF_VT_INT32, l12, 2), VA(GGUF_VT_INT32, l3, 1)},
               m1[1] = {VA(GGUF_VT_INT32, l4, 1)};
    gguf_value top[2] = {VA(GGUF_VT_ARRAY, m0, 2), VA(GGUF_VT_ARRAY, m1, 1)};
    v = VA(GGUF_VT_ARRAY, top, 2);
    S(esft_gguf_writer_set(w, "t.arr3", &v, &e));

    for (size_t k = 0; k < N_REF_TENSORS; k++) {
        const ref_tensor *t = &k_ref_tensors[k];
        uint64_t n = ref_nbytes(t);
        uint8_t *d = ref_data(k, n);
        S(esft_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, d, false, &e));
        free(d);
    }
#undef S
    if (!ok) fprintf(stderr, "build_ref: %s\n", e.msg);
    return ok;
}

static const gguf_value *arr_of(const gguf_file *f, const char *key, gguf_vtype et, uint64_t n) {
    const gguf_value *a = esft_gguf_get_arr(f, key);
    if (!a || a->v.arr.elem_type != et || a->v.arr.n != n) return NULL;
    for (uint64_t i = 0; i < n; i++)
        if (a->v.arr.items[i].type != et) return NULL;
    return a;
}

static bool str_is(const gguf_value *v, const char *s, size_t n) {
    return v->type == GGUF_VT_STRING && v->v.str.len == n && memcmp(v->v.str.data, s, n) == 0 &&
           v->v.str.data[n] == 0;
}

static void check_ref_reader(const gguf_file *f, const char *label) {
    printf("checking %s\n", label);
    CHECK(esft_gguf_version(f) == 3);
    CHECK(esft_gguf_alignment(f) == 64);
    CHECK(esft_gguf_n_kv(f) == 31);
    CHECK(esft_gguf_n_tensors(f) == N_REF_TENSORS);
    /* file order of keys */
    CHECK(strcmp(esft_gguf_kv_at(f, 0)->key, "general.alignment") == 0);
    CHECK(strcmp(esft_gguf_kv_at(f, 1)->key, "general.architecture") == 0);
    CHECK(strcmp(esft_gguf_kv_at(f, 2)->key, "t.u8") == 0);
    CHECK(strcmp(esft_gguf_kv_at(f, 30)->key, "t.arr3") == 0);
    CHECK(esft_gguf_kv_at(f, 31) == NULL);
    CHECK(esft_gguf_find_kv(f, "nope") == NULL && esft_gguf_find_kv(f, "t.u") == NULL);

    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f32;
    bool b;
    CHECK(strcmp(esft_gguf_get_str(f, "general.architecture"), "llama") == 0);
    CHECK(esft_gguf_get_u32(f, "general.alignment", &u32) && u32 == 64);
    const gguf_kv *kv = esft_gguf_find_kv(f, "t.u8");
    CHECK(kv && kv->value.type == GGUF_VT_UINT8 && kv->value.v.u64 == 200);
    CHECK(esft_gguf_get_u32(f, "t.u8", &u32) && u32 == 200);
    CHECK(esft_gguf_get_i32(f, "t.u8", &i32) && i32 == 200);
    kv = esft_gguf_find_kv(f, "t.i8");
    CHECK(kv && kv->value.type == GGUF_VT_INT8 && kv->value.v.i64 == -100);
    CHECK(esft_gguf_get_i32(f, "t.i8", &i32) && i32 == -100);
    CHECK(!esft_gguf_get_u32(f, "t.i8", &u32) && !esft_gguf_get_u64(f, "t.i8", &u64));
    kv = esft_gguf_find_kv(f, "t.u16");
    CHECK(kv && kv->value.type == GGUF_VT_UINT16 && kv->value.v.u64 == 60000);
    kv = esft_gguf_find_kv(f, "t.i16");
    CHECK(kv && kv->value.type == GGUF_VT_INT16 && kv->value.v.i64 == -30000);
    CHECK(esft_gguf_get_u32(f, "t.u32", &u32) && u32 == 4000000000u);
    CHECK(!esft_gguf_get_i32(f, "t.u32", &i32)); /* out of int32 range */
    CHECK(esft_gguf_get_u64(f, "t.u32", &u64) && u64 == 4000000000u);
    CHECK(esft_gguf_get_i32(f, "t.i32", &i32) && i32 == -2000000000);
    CHECK(esft_gguf_get_f32(f, "t.f32", &f32) && f32 == 3.140625f);
    CHECK(esft_gguf_find_kv(f, "t.f32")->value.type == GGUF_VT_FLOAT32);
    CHECK(!esft_gguf_get_f32(f, "t.u32", &f32) && !esft_gguf_get_u32(f, "t.f32", &u32));
    CHECK(esft_gguf_get_bool(f, "t.bool", &b) && b == true);
    CHECK(esft_gguf_get_bool(f, "t.bool0", &b) && b == false);
    CHECK(!esft_gguf_get_u32(f, "t.bool", &u32) && !esft_gguf_get_bool(f, "t.u8", &b));
    CHECK(esft_gguf_get_str(f, "t.str") && strcmp(esft_gguf_get_str(f, "t.str"), k_str) == 0);
    CHECK(str_is(&esft_gguf_find_kv(f, "t.str")->value, k_str, strlen(k_str)));
    CHECK(str_is(&esft_gguf_find_kv(f, "t.str_nul")->value, "a\0b", 3));
    CHECK(str_is(&esft_gguf_find_kv(f, "t.str_empty")->value, "", 0));
    CHECK(esft_gguf_get_str(f, "t.u8") == NULL && esft_gguf_get_str(f, "missing") == NULL);
    CHECK(esft_gguf_get_u64(f, "t.u64", &u64) && u64 == ((uint64_t)1 << 63) + 5);
    CHECK(!esft_gguf_get_u32(f, "t.u64", &u32) && !esft_gguf_get_i32(f, "t.u64", &i32));
    kv = esft_gguf_find_kv(f, "t.i64");
    CHECK(kv && kv->value.type == GGUF_VT_INT64 && kv->value.v.i64 == INT64_MIN + 1);
    CHECK(!esft_gguf_get_i32(f, "t.i64", &i32));
    kv = esft_gguf_find_kv(f, "t.f64");
    CHECK(kv && kv->value.type == GGUF_VT_FLOAT64 && kv->value.v.f64 == -1.5e300);
    CHECK(esft_gguf_get_f32(f, "t.f64", &f32) && isinf(f32) && f32 < 0);

    const gguf_value *a;
    CHECK((a = arr_of(f, "t.arr_u8", GGUF_VT_UINT8, 3)) && a->v.arr.items[0].v.u64 == 1 &&
          a->v.arr.items[2].v.u64 == 255);
    CHECK((a = arr_of(f, "t.arr_i8", GGUF_VT_INT8, 3)) && a->v.arr.items[0].v.i64 == -128 &&
          a->v.arr.items[2].v.i64 == 127);
    CHECK((a = arr_of(f, "t.arr_u16", GGUF_VT_UINT16, 2)) && a->v.arr.items[1].v.u64 == 65535);
    CHECK((a = arr_of(f, "t.arr_i16", GGUF_VT_INT16, 2)) && a->v.arr.items[0].v.i64 == -32768);
    CHECK((a = arr_of(f, "t.arr_u32", GGUF_VT_UINT32, 2)) && a->v.arr.items[1].v.u64 == 4294967295u);
    CHECK((a = arr_of(f, "t.arr_i32", GGUF_VT_INT32, 3)) && a->v.arr.items[0].v.i64 == INT32_MIN &&
          a->v.arr.items[1].v.i64 == INT32_MAX && a->v.arr.items[2].v.i64 == 5);
    CHECK((a = arr_of(f, "t.arr_f32", GGUF_VT_FLOAT32, 3)) && a->v.arr.items[0].v.f64 == 0.5 &&
          a->v.arr.items[1].v.f64 == -2.25 && a->v.arr.items[2].v.f64 == 0x1p-140);
    CHECK((a = arr_of(f, "t.arr_bool", GGUF_VT_BOOL, 3)) && a->v.arr.items[0].v.b &&
          !a->v.arr.items[1].v.b && a->v.arr.items[2].v.b);
    CHECK((a = arr_of(f, "t.arr_u64", GGUF_VT_UINT64, 2)) && a->v.arr.items[0].v.u64 == UINT64_MAX);
    CHECK((a = arr_of(f, "t.arr_i64", GGUF_VT_INT64, 2)) && a->v.arr.items[0].v.i64 == INT64_MIN &&
          a->v.arr.items[1].v.i64 == INT64_MAX);
    CHECK((a = arr_of(f, "t.arr_f64", GGUF_VT_FLOAT64, 3)) && a->v.arr.items[0].v.f64 == 1e-310 &&
          a->v.arr.items[1].v.f64 == 0.0 && signbit(a->v.arr.items[1].v.f64) &&
          a->v.arr.items[2].v.f64 == 2.5);
    CHECK((a = arr_of(f, "t.arr_str", GGUF_VT_STRING, 4)) && str_is(&a->v.arr.items[0], "a", 1) &&
          str_is(&a->v.arr.items[1], "\xce\xb2\xce\xb3", 4) &&
          str_is(&a->v.arr.items[2], "\xf0\x9f\x99\x82", 4) && str_is(&a->v.arr.items[3], "", 0));
    a = arr_of(f, "t.arr_arr_str", GGUF_VT_ARRAY, 3);
    CHECK(a != NULL);
    if (a) {
        const gguf_value *x = a->v.arr.items;
        CHECK(x[0].v.arr.elem_type == GGUF_VT_STRING && x[0].v.arr.n == 2 &&
              str_is(&x[0].v.arr.items[0], "x", 1) && str_is(&x[0].v.arr.items[1], "y", 1));
        CHECK(x[1].v.arr.n == 1 && str_is(&x[1].v.arr.items[0], "z", 1));
        CHECK(x[2].v.arr.n == 3 && str_is(&x[2].v.arr.items[0], "\xc3\xbc", 2) &&
              str_is(&x[2].v.arr.items[2], "w", 1));
    }
    a = arr_of(f, "t.arr3", GGUF_VT_ARRAY, 2);
    CHECK(a != NULL);
    if (a) {
        const gguf_value *m0 = a->v.arr.items[0].v.arr.items, *m1 = a->v.arr.items[1].v.arr.items;
        CHECK(a->v.arr.items[0].v.arr.n == 2 && a->v.arr.items[1].v.arr.n == 1);
        CHECK(m0[0].v.arr.elem_type == GGUF_VT_INT32 && m0[0].v.arr.n == 2 &&
              m0[0].v.arr.items[0].v.i64 == 1 && m0[0].v.arr.items[1].v.i64 == 2);
        CHECK(m0[1].v.arr.n == 1 && m0[1].v.arr.items[0].v.i64 == 3);
        CHECK(m1[0].v.arr.n == 1 && m1[0].v.arr.items[0].v.i64 == 4);
    }
    CHECK(esft_gguf_get_arr(f, "t.u8") == NULL);

    /* tensors: file order, shape, offsets, bytes */
    uint64_t prev_end = 0;
    for (size_t k = 0; k < N_REF_TENSORS; k++) {
        const ref_tensor *r = &k_ref_tensors[k];
        const gguf_tensor_info *t = esft_gguf_tensor_at(f, k);
        CHECK(t && strcmp(t->name, r->name) == 0);
        if (!t) continue;
        CHECK(esft_gguf_find_tensor(f, r->name) == t);
        CHECK(t->type == r->type && t->n_dims == r->n_dims);
        uint64_t nel = 1;
        for (int d = 0; d < 4; d++) {
            CHECK(t->ne[d] == (d < (int)r->n_dims ? r->ne[d] : 1));
            nel *= t->ne[d];
        }
        CHECK(t->n_elements == nel);
        uint64_t nb = ref_nbytes(r);
        CHECK(t->n_bytes == nb);
        CHECK(t->offset % 64 == 0 && t->offset >= prev_end);
        prev_end = t->offset + t->n_bytes;
        uint8_t *want = ref_data(k, nb);
        CHECKF(memcmp(t->data, want, nb) == 0, "tensor %s bytes", r->name);
        free(want);
    }
    CHECK(esft_gguf_tensor_at(f, N_REF_TENSORS) == NULL && esft_gguf_find_tensor(f, "tok") == NULL);
    CHECK(esft_gguf_data_offset(f) % 64 == 0);
    /* f16 tensor dequantises to the f16 values of its bytes */
    const gguf_tensor_info *h = esft_gguf_find_tensor(f, "blk.0.f16");
    float out[7];
    CHECK(h && esft_ggml_dequantize(h->type, h->data, out, 7, NULL) == ESFT_OK);
    if (h) {
        const uint8_t *p = h->data;
        for (int i = 0; i < 7; i++)
            CHECK(memcmp(&out[i], &(float){esft_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8))}, 4) == 0);
    }
}

static void test_reference_roundtrip(void) {
    char ref_path[1024], a_path[1024], b_path[1024];
    snprintf(ref_path, sizeof ref_path, "%s/fixtures/gguf_pyref.gguf", ESFT_TEST_DATA_DIR);
    bin_path(a_path, sizeof a_path, "test_gguf_a.gguf");
    bin_path(b_path, sizeof b_path, "test_gguf_b.gguf");
    esft_err e = {{0}};

    /* 1. esft's reader on gguf-py's file */
    gguf_file *ref = NULL;
    CHECKF(esft_gguf_open(ref_path, &ref, &e) == ESFT_OK, "%s", e.msg);
    if (ref) check_ref_reader(ref, "gguf-py file via esft reader");

    /* 2. esft's writer with the same content: identical bytes */
    gguf_writer *w = esft_gguf_writer_new();
    CHECK(build_ref(w));
    CHECKF(esft_gguf_writer_write(w, a_path, &e) == ESFT_OK, "%s", e.msg);
    esft_gguf_writer_free(w);
    size_t na = 0, nr = 0;
    uint8_t *fa = (uint8_t *)test_read_file(a_path, &na), *fr = (uint8_t *)test_read_file(ref_path, &nr);
    CHECK(fa && fr);
    CHECKF(fa && fr && na == nr && memcmp(fa, fr, na) == 0,
           "esft writer output (%zu bytes) differs from gguf-py's (%zu bytes)", na, nr);
    if (fa && fr && na == nr)
        for (size_t i = 0; i < na; i++)
            if (fa[i] != fr[i]) {
                fprintf(stderr, "  first difference at byte %zu\n", i);
                break;
            }

    /* 3. read it back (file and memory paths) */
    gguf_file *a = NULL;
    CHECKF(esft_gguf_open(a_path, &a, &e) == ESFT_OK, "%s", e.msg);
    if (a) check_ref_reader(a, "esft file via esft reader");
    gguf_file *am = NULL;
    CHECKF(fa && esft_gguf_open_memory(fa, na, "mem", &am, &e) == ESFT_OK, "%s", e.msg);
    if (am) {
        check_ref_reader(am, "esft file from memory");
        CHECK(strcmp(esft_gguf_path(am), "mem") == 0);
    }

    /* 4. reader -> writer: copy_kvs + borrowed tensors reproduce the bytes */
    if (a) {
        gguf_writer *w2 = esft_gguf_writer_new();
        esft_gguf_writer_set_alignment(w2, esft_gguf_alignment(a));
        CHECK(esft_gguf_writer_copy_kvs(w2, a, &e) == ESFT_OK);
        for (size_t i = 0; i < esft_gguf_n_tensors(a); i++) {
            const gguf_tensor_info *t = esft_gguf_tensor_at(a, i);
            CHECK(esft_gguf_writer_add_tensor(w2, t->name, t->type, t->n_dims, t->ne, t->data, true, &e) ==
                  ESFT_OK);
        }
        CHECKF(esft_gguf_writer_write(w2, b_path, &e) == ESFT_OK, "%s", e.msg);
        esft_gguf_writer_free(w2);
        size_t nb = 0;
        uint8_t *fb = (uint8_t *)test_read_file(b_path, &nb);
        CHECKF(fb && nb == na && memcmp(fb, fa, na) == 0, "copy differs (%zu vs %zu bytes)", nb, na);
        free(fb);
    }
    /* the v2 layout is identical: accepted, and reported as version 2 */
    if (fa) {
        fa[4] = 2;
        gguf_file *v2 = NULL;
        CHECK(esft_gguf_open_memory(fa, na, "v2", &v2, &e) == ESFT_OK && esft_gguf_version(v2) == 2);
        esft_gguf_close(v2);
        fa[4] = 3;
    }
    esft_gguf_close(am);
    esft_gguf_close(a);
    esft_gguf_close(ref);
    free(fa);
    free(fr);
}

/* Writer behaviour not covered by the reference file. */
static void test_writer_extras(void) {
    char path[1024], dir[1024], tmp[1100];
    bin_path(path, sizeof path, "test_gguf_extra.gguf");
    esft_err e = {{0}};
    gguf_writer *w = esft_gguf_writer_new();
    CHECK(esft_gguf_writer_set_u32(w, "k.first", 1, &e) == ESFT_OK);
    CHECK(esft_gguf_writer_set_str(w, "k.second", "two", &e) == ESFT_OK);
    CHECK(esft_gguf_writer_set_u32(w, "k.first", 11, &e) == ESFT_OK); /* replace keeps position */
    CHECK(esft_gguf_writer_set_str_arr(w, "k.empty_str_arr", NULL, 0, &e) == ESFT_OK);
    CHECK(esft_gguf_writer_set_f32_arr(w, "k.empty_f32_arr", NULL, 0, &e) == ESFT_OK);
    gguf_value empty_nested_items[1] = {VA(GGUF_VT_UINT8, NULL, 0)};
    gguf_value en = VA(GGUF_VT_ARRAY, empty_nested_items, 1);
    CHECK(esft_gguf_writer_set(w, "k.nested_empty", &en, &e) == ESFT_OK);
    /* invalid values */
    gguf_value bad_items[2] = {V(GGUF_VT_UINT8, u64, 1), V(GGUF_VT_INT8, i64, 1)};
    gguf_value bad = VA(GGUF_VT_UINT8, bad_items, 2);
    CHECK(esft_gguf_writer_set(w, "k.bad", &bad, &e) == ESFT_ERR_INVALID_ARG && msg_ok(&e, "k.bad"));
    gguf_value deep[10];
    deep[0] = VA(GGUF_VT_UINT8, NULL, 0);
    for (int i = 1; i < 10; i++) deep[i] = VA(GGUF_VT_ARRAY, &deep[i - 1], 1);
    CHECK(esft_gguf_writer_set(w, "k.deep8", &deep[7], &e) == ESFT_OK);  /* 8 levels */
    CHECK(esft_gguf_writer_set(w, "k.deep9", &deep[8], &e) == ESFT_ERR_INVALID_ARG);
    gguf_value badtype = {.type = (gguf_vtype)42};
    CHECK(esft_gguf_writer_set(w, "k.badtype", &badtype, &e) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_gguf_writer_set_u32(w, "", 1, &e) == ESFT_ERR_INVALID_ARG);
    gguf_value align_str = VS("64", 2);
    CHECK(esft_gguf_writer_set(w, "general.alignment", &align_str, &e) == ESFT_ERR_INVALID_ARG);
    /* tensors */
    float data[64] = {0};
    uint64_t ne1[1] = {64}, ne_bad[1] = {48}, ne0[2] = {64, 0}, ne_big[2] = {(uint64_t)1 << 40, (uint64_t)1 << 40};
    CHECK(esft_gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 1, ne1, data, false, &e) == ESFT_OK);
    CHECK(esft_gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 1, ne1, data, false, &e) == ESFT_ERR_INVALID_ARG &&
          msg_ok(&e, "'t'"));
    CHECK(esft_gguf_writer_add_tensor(w, "q", GGML_TYPE_Q4_0, 1, ne_bad, data, false, &e) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_gguf_writer_add_tensor(w, "z", GGML_TYPE_F32, 2, ne0, data, false, &e) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_gguf_writer_add_tensor(w, "o", GGML_TYPE_F32, 2, ne_big, data, false, &e) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_gguf_writer_add_tensor(w, "d0", GGML_TYPE_F32, 0, ne1, data, false, &e) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_gguf_writer_add_tensor(w, "d5", GGML_TYPE_F32, 5, ne1, data, false, &e) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_gguf_writer_add_tensor(w, "u", (ggml_type)99, 1, ne1, data, false, &e) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_gguf_writer_add_tensor(w, "n", GGML_TYPE_F32, 1, ne1, NULL, false, &e) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_gguf_writer_add_tensor(w, "", GGML_TYPE_F32, 1, ne1, data, false, &e) == ESFT_ERR_INVALID_ARG);
    data[3] = 7.0f; /* copied at add time: must not show up */
    CHECKF(esft_gguf_writer_write(w, path, &e) == ESFT_OK, "%s", e.msg);
    gguf_file *f = NULL;
    CHECKF(esft_gguf_open(path, &f, &e) == ESFT_OK, "%s", e.msg);
    if (f) {
        uint32_t u;
        CHECK(esft_gguf_n_kv(f) == 6 && strcmp(esft_gguf_kv_at(f, 0)->key, "k.first") == 0);
        CHECK(esft_gguf_get_u32(f, "k.first", &u) && u == 11);
        CHECK(strcmp(esft_gguf_kv_at(f, 1)->key, "k.second") == 0);
        const gguf_value *a = esft_gguf_get_arr(f, "k.empty_str_arr");
        CHECK(a && a->v.arr.n == 0 && a->v.arr.elem_type == GGUF_VT_STRING);
        a = esft_gguf_get_arr(f, "k.nested_empty");
        CHECK(a && a->v.arr.n == 1 && a->v.arr.items[0].v.arr.n == 0);
        a = esft_gguf_get_arr(f, "k.deep8");
        int depth = 0;
        while (a && a->type == GGUF_VT_ARRAY) {
            depth++;
            a = a->v.arr.n ? &a->v.arr.items[0] : NULL;
        }
        CHECK(depth == 8);
        CHECK(esft_gguf_alignment(f) == 32 && esft_gguf_find_kv(f, "general.alignment") == NULL);
        const gguf_tensor_info *t = esft_gguf_find_tensor(f, "t");
        CHECK(t && t->n_bytes == 256 && ((const float *)t->data)[3] == 0.0f);
        esft_gguf_close(f);
    }
    esft_gguf_writer_free(w);

    /* Overwriting an existing file replaces it atomically. */
    w = esft_gguf_writer_new();
    CHECK(esft_gguf_writer_set_str(w, "k.v", "second", &e) == ESFT_OK);
    CHECK(esft_gguf_writer_write(w, path, &e) == ESFT_OK);
    esft_gguf_writer_free(w);
    f = NULL;
    CHECK(esft_gguf_open(path, &f, &e) == ESFT_OK && esft_gguf_n_kv(f) == 1 && esft_gguf_n_tensors(f) == 0 &&
          strcmp(esft_gguf_get_str(f, "k.v"), "second") == 0);
    esft_gguf_close(f);

    /* Invalid alignment is reported by write, which then creates nothing. */
    char path2[1024];
    bin_path(path2, sizeof path2, "test_gguf_never.gguf");
    unlink(path2);
    w = esft_gguf_writer_new();
    esft_gguf_writer_set_alignment(w, 3);
    CHECK(esft_gguf_writer_write(w, path2, &e) == ESFT_ERR_INVALID_ARG && e.msg[0]);
    CHECK(access(path2, F_OK) != 0);
    esft_gguf_writer_free(w);

    /* Custom alignment via set_alignment: 4096 */
    w = esft_gguf_writer_new();
    esft_gguf_writer_set_alignment(w, 4096);
    CHECK(esft_gguf_writer_add_tensor(w, "a", GGML_TYPE_F32, 1, ne1, data, true, &e) == ESFT_OK);
    CHECK(esft_gguf_writer_add_tensor(w, "b", GGML_TYPE_F32, 1, ne1, data, true, &e) == ESFT_OK);
    CHECK(esft_gguf_writer_write(w, path2, &e) == ESFT_OK);
    esft_gguf_writer_free(w);
    f = NULL;
    CHECK(esft_gguf_open(path2, &f, &e) == ESFT_OK && esft_gguf_alignment(f) == 4096 &&
          esft_gguf_data_offset(f) == 4096 && esft_gguf_tensor_at(f, 1)->offset == 4096 &&
          ((const float *)esft_gguf_tensor_at(f, 1)->data)[3] == 7.0f);
    esft_gguf_close(f);
    unlink(path2);

    /* Failing writes: target is a directory (rename fails -> temp removed);
     * directory does not exist (cannot create the temp file). */
    bin_path(dir, sizeof dir, "test_gguf_dir_target");
    mkdir(dir, 0755);
    w = esft_gguf_writer_new();
    CHECK(esft_gguf_writer_set_u32(w, "k", 1, &e) == ESFT_OK);
    CHECK(esft_gguf_writer_write(w, dir, &e) == ESFT_ERR_IO && msg_ok(&e, dir));
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dir, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);
    char nodir[1100];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/x.gguf", ESFT_TEST_BINARY_DIR);
    CHECK(esft_gguf_writer_write(w, nodir, &e) == ESFT_ERR_IO && msg_ok(&e, "x.gguf"));
    esft_gguf_writer_free(w);
    rmdir(dir);

    /* Opening: missing file, directory. */
    f = NULL;
    CHECK(esft_gguf_open("/nonexistent/model.gguf", &f, &e) == ESFT_ERR_IO && msg_ok(&e, "model.gguf") && !f);
    CHECK(esft_gguf_open(ESFT_TEST_BINARY_DIR, &f, &e) == ESFT_ERR_IO && !f);
}

/* ------------------------------------------------------- hostile (b) */

static void test_truncations(void) {
    char ref_path[1024];
    snprintf(ref_path, sizeof ref_path, "%s/fixtures/gguf_pyref.gguf", ESFT_TEST_DATA_DIR);
    size_t n = 0;
    uint8_t *full = (uint8_t *)test_read_file(ref_path, &n);
    CHECK(full != NULL);
    if (!full) return;
    size_t bad = 0;
    for (size_t len = 0; len < n; len++) {
        /* a fresh exact-size copy so ASan catches any read past the end */
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, full, len);
        gguf_file *f = NULL;
        esft_err e = {{0}};
        esft_status st = esft_gguf_open_memory(p, len, "trunc.gguf", &f, &e);
        if (st != ESFT_ERR_FORMAT || f || !msg_ok(&e, "trunc.gguf")) {
            if (!bad) fprintf(stderr, "  truncation to %zu: %s '%s'\n", len, esft_status_name(st), e.msg);
            bad++;
        }
        esft_gguf_close(f);
        free(p);
    }
    CHECKF(bad == 0, "%zu of %zu truncations not rejected cleanly", bad, n);
    printf("all %zu truncations rejected\n", n);
    /* on disk too (the mmap path), for a few lengths */
    char tp[1024];
    bin_path(tp, sizeof tp, "test_gguf_trunc.gguf");
    const size_t lens[] = {0, 3, 4, 23, 24, 100, n / 2, n - 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        FILE *fp = fopen(tp, "wb");
        fwrite(full, 1, lens[i], fp);
        fclose(fp);
        gguf_file *f = NULL;
        esft_err e = {{0}};
        CHECKF(esft_gguf_open(tp, &f, &e) == ESFT_ERR_FORMAT && !f && msg_ok(&e, tp), "len %zu: %s", lens[i], e.msg);
    }
    unlink(tp);
    free(full);
}

/* Deterministic mutation fuzzing of the reference file: anything goes except
 * crashing, leaking or reading out of bounds (ASan build). */
static void test_mutations(void) {
    char ref_path[1024];
    snprintf(ref_path, sizeof ref_path, "%s/fixtures/gguf_pyref.gguf", ESFT_TEST_DATA_DIR);
    size_t n = 0;
    uint8_t *full = (uint8_t *)test_read_file(ref_path, &n);
    if (!full) return;
    uint64_t s = 0x9e3779b97f4a7c15ull;
    size_t ok = 0, rejected = 0, badmsg = 0;
    uint8_t *p = malloc(n);
    const size_t hdr_end = 1728; /* mutate mostly the header/metadata part */
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(p, full, n);
        int nm = 1 + (int)(s % 4);
        for (int m = 0; m < nm; m++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            size_t pos = (size_t)(s % hdr_end);
            uint64_t kind = (s >> 32) % 4;
            if (kind == 0) p[pos] ^= (uint8_t)(1u << ((s >> 40) % 8));
            else if (kind == 1) p[pos] = (uint8_t)(s >> 48);
            else if (kind == 2 && pos + 8 <= n) memset(p + pos, 0xff, 1 + (s >> 50) % 8);
            else if (pos + 8 <= n) {
                uint64_t v = (s >> 20) % 3 == 0 ? 0 : (s >> 20) % 3 == 1 ? ((uint64_t)1 << 62) : 1000003;
                memcpy(p + pos, &v, 8);
            }
        }
        gguf_file *f = NULL;
        esft_err e = {{0}};
        esft_status st = esft_gguf_open_memory(p, n, "fuzz.gguf", &f, &e);
        if (st == ESFT_OK) {
            ok++;
            /* a file that parses must be fully usable */
            for (size_t i = 0; i < esft_gguf_n_tensors(f); i++) {
                const gguf_tensor_info *t = esft_gguf_tensor_at(f, i);
                volatile uint8_t sink = 0;
                if (t->n_bytes) sink ^= ((const uint8_t *)t->data)[t->n_bytes - 1];
                (void)sink;
            }
        } else {
            rejected++;
            if (st != ESFT_ERR_FORMAT || !msg_ok(&e, "fuzz.gguf")) {
                if (!badmsg) fprintf(stderr, "  fuzz: %s '%s'\n", esft_status_name(st), e.msg);
                badmsg++;
            }
        }
        esft_gguf_close(f);
    }
    CHECKF(badmsg == 0, "%zu mutated files failed without a proper message", badmsg);
    CHECK(rejected > 0);
    printf("mutation fuzz: %zu accepted, %zu rejected cleanly\n", ok, rejected);
    free(p);
    free(full);
}

static void test_hostile(void) {
    buf b = {0};
    const uint64_t ne1[1] = {32}, ne2[2] = {32, 2};
    float zeros[64] = {0};

#define RESET() (b.n = 0)
    /* baseline: a minimal valid file with one kv and one tensor */
    RESET();
    put_hdr(&b, 3, 1, 1);
    put_kv_u32(&b, "a.b", 7);
    put_ti(&b, "w", 1, ne1, GGML_TYPE_F32, 0);
    pad_to(&b, 32, 128);
    CHECK(accepts(b.p, b.n, "baseline.gguf"));
    /* no tensors: data section may be absent */
    RESET();
    put_hdr(&b, 3, 0, 1);
    put_kv_u32(&b, "a.b", 7);
    CHECK(accepts(b.p, b.n, "notensors.gguf"));

    /* magic and version */
    RESET();
    put(&b, "GGUG", 4);
    put_u32(&b, 3);
    put_u64(&b, 0);
    put_u64(&b, 0);
    CHECK(rejects(b.p, b.n, "magic.gguf", "magic"));
    RESET();
    put_hdr(&b, 1, 0, 0);
    CHECK(rejects(b.p, b.n, "v1.gguf", "version 1"));
    RESET();
    put_hdr(&b, 4, 0, 0);
    CHECK(rejects(b.p, b.n, "v4.gguf", "version 4"));
    RESET();
    put_hdr(&b, 0, 0, 0);
    CHECK(rejects(b.p, b.n, "v0.gguf", "version 0"));
    RESET();
    put_hdr(&b, 0x03000000u, 0, 0);
    CHECK(rejects(b.p, b.n, "bigendian.gguf", "big-endian"));
    RESET();
    put_hdr(&b, 2, 0, 0);
    CHECK(accepts(b.p, b.n, "v2.gguf"));

    /* absurd counts */
    const uint64_t huge[] = {(uint64_t)1 << 60, (uint64_t)1 << 62, UINT64_MAX, 1000000};
    for (size_t i = 0; i < 4; i++) {
        RESET();
        put_hdr(&b, 3, 0, huge[i]);
        put_kv_u32(&b, "a", 1);
        CHECK(rejects(b.p, b.n, "nkv.gguf", "key/value count"));
        RESET();
        put_hdr(&b, 3, huge[i], 0);
        put_ti(&b, "w", 1, ne1, 0, 0);
        CHECK(rejects(b.p, b.n, "ntensors.gguf", "tensor count"));
    }
    /* huge string lengths: key, value, tensor name */
    RESET();
    put_hdr(&b, 3, 0, 1);
    put_u64(&b, (uint64_t)1 << 63);
    put(&b, "abcdefghijklmnop", 16);
    CHECK(rejects(b.p, b.n, "keylen.gguf", "length"));
    RESET();
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "s");
    put_u32(&b, GGUF_VT_STRING);
    put_u64(&b, UINT64_MAX);
    put(&b, "abcdefgh", 8);
    CHECK(rejects(b.p, b.n, "strlen.gguf", "key 's'"));
    RESET();
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "s");
    put_u32(&b, GGUF_VT_STRING);
    put_u64(&b, 9); /* one more than present */
    put(&b, "abcdefgh", 8);
    CHECK(rejects(b.p, b.n, "strlen1.gguf", "key 's'"));
    RESET();
    put_hdr(&b, 3, 1, 0);
    put_u64(&b, (uint64_t)1 << 62);
    put(&b, "w", 1);
    pad_to(&b, 32, 64);
    CHECK(rejects(b.p, b.n, "namelen.gguf", "name length"));

    /* huge array counts, for several element types */
    const gguf_vtype ets[] = {GGUF_VT_UINT8, GGUF_VT_UINT64, GGUF_VT_STRING, GGUF_VT_ARRAY, GGUF_VT_BOOL};
    for (size_t i = 0; i < 5; i++) {
        RESET();
        put_hdr(&b, 3, 0, 1);
        put_str(&b, "arr");
        put_u32(&b, GGUF_VT_ARRAY);
        put_u32(&b, ets[i]);
        put_u64(&b, (uint64_t)1 << 60);
        put(&b, zeros, 64);
        CHECK(rejects(b.p, b.n, "arrlen.gguf", "key 'arr'"));
    }
    /* an array claiming 65 u64 items with only 64 items' bytes present */
    RESET();
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "arr");
    put_u32(&b, GGUF_VT_ARRAY);
    put_u32(&b, GGUF_VT_UINT64);
    put_u64(&b, 65);
    for (int i = 0; i < 64; i++) put_u64(&b, (uint64_t)i);
    CHECK(rejects(b.p, b.n, "arrlen65.gguf", "key 'arr'"));
    /* many small arrays whose items exceed the metadata value budget:
     * 10 arrays x 1M u8 items = 10M > 8M */
    {
        RESET();
        put_hdr(&b, 3, 0, 10);
        uint8_t *ones = calloc(1, 1u << 20);
        for (int k = 0; k < 10; k++) {
            char key[16];
            snprintf(key, sizeof key, "big%d", k);
            put_str(&b, key);
            put_u32(&b, GGUF_VT_ARRAY);
            put_u32(&b, GGUF_VT_UINT8);
            put_u64(&b, 1u << 20);
            put(&b, ones, 1u << 20);
        }
        free(ones);
        CHECK(rejects(b.p, b.n, "budget.gguf", "limit"));
    }

    /* nesting: 8 levels accepted, 9 rejected, 100000 rejected without recursion */
    for (int depth = 8; depth <= 9; depth++) {
        RESET();
        put_hdr(&b, 3, 0, 1);
        put_str(&b, "nest");
        put_u32(&b, GGUF_VT_ARRAY);
        for (int d = 0; d < depth - 1; d++) {
            put_u32(&b, GGUF_VT_ARRAY);
            put_u64(&b, 1);
        }
        put_u32(&b, GGUF_VT_UINT8);
        put_u64(&b, 1);
        put_u8(&b, 42);
        if (depth == 8) CHECK(accepts(b.p, b.n, "nest8.gguf"));
        else CHECK(rejects(b.p, b.n, "nest9.gguf", "nested"));
    }
    RESET();
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "bomb");
    put_u32(&b, GGUF_VT_ARRAY);
    for (int d = 0; d < 100000; d++) {
        put_u32(&b, GGUF_VT_ARRAY);
        put_u64(&b, 1);
    }
    CHECK(rejects(b.p, b.n, "bomb.gguf", "nested"));

    /* bad value / element types, bad bool */
    RESET();
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "t");
    put_u32(&b, 13);
    put_u64(&b, 0);
    CHECK(rejects(b.p, b.n, "vtype.gguf", "key 't'"));
    RESET();
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "t");
    put_u32(&b, GGUF_VT_ARRAY);
    put_u32(&b, 99);
    put_u64(&b, 0);
    CHECK(rejects(b.p, b.n, "etype.gguf", "element type"));
    RESET();
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "flag");
    put_u32(&b, GGUF_VT_BOOL);
    put_u8(&b, 2);
    CHECK(rejects(b.p, b.n, "bool.gguf", "key 'flag'"));

    /* keys: duplicate, empty, embedded NUL, control characters in message */
    RESET();
    put_hdr(&b, 3, 0, 2);
    put_kv_u32(&b, "dup.key", 1);
    put_kv_u32(&b, "dup.key", 2);
    CHECK(rejects(b.p, b.n, "dupkey.gguf", "duplicate key 'dup.key'"));
    RESET();
    put_hdr(&b, 3, 0, 1);
    put_kv_u32(&b, "", 1);
    CHECK(rejects(b.p, b.n, "emptykey.gguf", "empty"));
    RESET();
    put_hdr(&b, 3, 0, 1);
    put_u64(&b, 3);
    put(&b, "a\0b", 3);
    put_u32(&b, GGUF_VT_UINT32);
    put_u32(&b, 1);
    CHECK(rejects(b.p, b.n, "nulkey.gguf", "NUL"));
    RESET();
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "evil\nkey");
    put_u32(&b, 13);
    CHECK(rejects(b.p, b.n, "ctlkey.gguf", "evil\\x0akey"));

    /* alignment */
    const uint32_t bad_al[] = {0, 3, 48, 0x80000001u};
    for (size_t i = 0; i < 4; i++) {
        RESET();
        put_hdr(&b, 3, 1, 1);
        put_kv_u32(&b, "general.alignment", bad_al[i]);
        put_ti(&b, "w", 1, ne1, GGML_TYPE_F32, 0);
        pad_to(&b, 64, 128);
        CHECK(rejects(b.p, b.n, "align.gguf", "general.alignment"));
    }
    RESET();
    put_hdr(&b, 3, 0, 1);
    put_str(&b, "general.alignment");
    put_u32(&b, GGUF_VT_STRING);
    put_str(&b, "32");
    CHECK(rejects(b.p, b.n, "aligntype.gguf", "general.alignment"));
    RESET();
    put_hdr(&b, 3, 1, 1);
    put_kv_u32(&b, "general.alignment", 8);
    put_ti(&b, "w", 1, ne1, GGML_TYPE_F32, 8);
    pad_to(&b, 8, 136);
    CHECK(accepts(b.p, b.n, "align8.gguf"));

    /* tensor infos */
    struct {
        const char *label, *want;
        uint32_t n_dims, type;
        uint64_t ne[5], off;
    } tcases[] = {
        {"type99.gguf", "unknown tensor type id 99", 1, 99, {32}, 0},
        {"type4.gguf", "unknown tensor type id 4", 1, 4, {32}, 0},
        {"ndims0.gguf", "n_dims 0", 0, 0, {32}, 0},
        {"ndims5.gguf", "n_dims 5", 5, 0, {32, 1, 1, 1, 1}, 0},
        {"dim0.gguf", "dimension 1 is zero", 2, 0, {32, 0}, 0},
        {"overflow.gguf", "overflow", 2, 0, {(uint64_t)1 << 40, (uint64_t)1 << 40}, 0},
        {"overflow4.gguf", "overflow", 4, 0, {1u << 16, 1u << 16, 1u << 16, 1u << 16}, 0},
        {"dimmax.gguf", "overflow", 1, 0, {UINT64_MAX}, 0},
        /* largest element count with the largest bytes/element ratio: the
         * byte size (~1.04e19) still fits in 64 bits and lies past the end */
        {"bytesbig.gguf", "lies past end of file", 1, GGML_TYPE_Q8_K, {((uint64_t)1 << 63) - 256}, 0},
        {"rowblock.gguf", "block size", 2, GGML_TYPE_Q4_0, {48, 2}, 0},
        {"misalign.gguf", "not a multiple of the alignment", 1, 0, {32}, 16},
        {"misalign1.gguf", "not a multiple of the alignment", 1, 0, {32}, 1},
        {"pastend.gguf", "lies past end of file", 1, 0, {32}, 64},
        {"pastend2.gguf", "lies past end of file", 1, 0, {33}, 0},
        {"offhuge.gguf", "lies past end of file", 1, 0, {32}, UINT64_MAX - 31},
        {"bigtensor.gguf", "lies past end of file", 2, 0, {(uint64_t)1 << 30, (uint64_t)1 << 30}, 0},
    };
    for (size_t i = 0; i < sizeof tcases / sizeof tcases[0]; i++) {
        RESET();
        put_hdr(&b, 3, 1, 0);
        put_ti(&b, "blk.3.ffn_up.weight", tcases[i].n_dims, tcases[i].ne, tcases[i].type, tcases[i].off);
        pad_to(&b, 32, 128);
        CHECK(rejects(b.p, b.n, tcases[i].label, tcases[i].want));
        CHECKF(rejects(b.p, b.n, tcases[i].label, "blk.3.ffn_up.weight"), "%s", tcases[i].label);
    }
    /* data-section start past the end (header only, no data bytes at all) */
    RESET();
    put_hdr(&b, 3, 1, 0);
    put_ti(&b, "w", 1, ne1, GGML_TYPE_F32, 0);
    CHECK(rejects(b.p, b.n, "nodata.gguf", NULL));
    /* duplicate tensor names; overlapping tensors; empty name */
    RESET();
    put_hdr(&b, 3, 2, 0);
    put_ti(&b, "w", 1, ne1, GGML_TYPE_F32, 0);
    put_ti(&b, "w", 1, ne1, GGML_TYPE_F32, 128);
    pad_to(&b, 32, 256);
    CHECK(rejects(b.p, b.n, "duptensor.gguf", "duplicate tensor 'w'"));
    RESET();
    put_hdr(&b, 3, 2, 0);
    put_ti(&b, "a", 2, ne2, GGML_TYPE_F32, 0);   /* [0, 256) */
    put_ti(&b, "b", 1, ne1, GGML_TYPE_F32, 224); /* [224, 352) */
    pad_to(&b, 32, 512);
    CHECK(rejects(b.p, b.n, "overlap.gguf", "overlaps"));
    RESET();
    put_hdr(&b, 3, 2, 0);
    put_ti(&b, "a", 2, ne2, GGML_TYPE_F32, 256); /* out of order but disjoint: fine */
    put_ti(&b, "b", 1, ne1, GGML_TYPE_F32, 0);
    pad_to(&b, 32, 512);
    CHECK(accepts(b.p, b.n, "disjoint.gguf"));
    RESET();
    put_hdr(&b, 3, 1, 0);
    put_ti(&b, "", 1, ne1, GGML_TYPE_F32, 0);
    pad_to(&b, 32, 128);
    CHECK(rejects(b.p, b.n, "emptyname.gguf", "empty name"));
    /* tensors of types esft cannot dequantise still parse */
    RESET();
    put_hdr(&b, 3, 1, 0);
    const uint64_t ne256[1] = {256};
    put_ti(&b, "iq", 1, ne256, GGML_TYPE_IQ4_XS, 0);
    pad_to(&b, 32, 136);
    CHECK(accepts(b.p, b.n, "iq4xs.gguf"));
    free(b.p);
#undef RESET
}

/* ---------------------------------------------------------- real model (c) */

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Decodes hex ("-" = empty) into out; returns the length or -1. */
static long unhex(const char *h, char *out, size_t cap) {
    if (strcmp(h, "-") == 0) return 0;
    size_t n = strlen(h);
    if (n % 2 || n / 2 > cap) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int a = hexval(h[2 * i]), b = hexval(h[2 * i + 1]);
        if (a < 0 || b < 0) return -1;
        out[i] = (char)(a * 16 + b);
    }
    return (long)(n / 2);
}

static bool value_matches(const gguf_value *v, int type, const char *s) {
    if ((int)v->type != type) return false;
    static char tmp[1 << 16];
    switch (v->type) {
    case GGUF_VT_STRING: {
        long n = unhex(s, tmp, sizeof tmp);
        return n >= 0 && v->v.str.len == (uint64_t)n && memcmp(v->v.str.data, tmp, (size_t)n) == 0;
    }
    case GGUF_VT_FLOAT32: {
        float f = (float)v->v.f64;
        uint32_t u;
        memcpy(&u, &f, 4);
        return u == (uint32_t)strtoul(s, NULL, 16);
    }
    case GGUF_VT_FLOAT64: {
        uint64_t u;
        memcpy(&u, &v->v.f64, 8);
        return u == strtoull(s, NULL, 16);
    }
    case GGUF_VT_BOOL: return v->v.b == (atoi(s) != 0);
    case GGUF_VT_UINT8:
    case GGUF_VT_UINT16:
    case GGUF_VT_UINT32:
    case GGUF_VT_UINT64: return v->v.u64 == strtoull(s, NULL, 10);
    case GGUF_VT_INT8:
    case GGUF_VT_INT16:
    case GGUF_VT_INT32:
    case GGUF_VT_INT64: return v->v.i64 == strtoll(s, NULL, 10);
    default: return false;
    }
}

static void test_real_model(void) {
    const char *dir = getenv("ESFT_MODEL_DIR");
    char path[2048], facts[1024];
    snprintf(path, sizeof path, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", dir ? dir : "models/cache");
    if (access(path, R_OK) != 0) {
        printf("NOTE: %s absent: real-model checks skipped\n", path);
        return;
    }
    gguf_file *f = NULL;
    esft_err e = {{0}};
    CHECKF(esft_gguf_open(path, &f, &e) == ESFT_OK, "%s", e.msg);
    if (!f) return;
    printf("real model: %s\n", path);
    CHECK(strcmp(esft_gguf_get_str(f, "general.architecture"), "llama") == 0);
    uint32_t blocks = 0;
    CHECK(esft_gguf_get_u32(f, "llama.block_count", &blocks) && blocks == 30);
    CHECK(esft_gguf_n_tensors(f) == 272);
    const gguf_value *toks = esft_gguf_get_arr(f, "tokenizer.ggml.tokens");
    CHECK(toks && toks->v.arr.elem_type == GGUF_VT_STRING && toks->v.arr.n == 49152);
    const gguf_tensor_info *emb = esft_gguf_find_tensor(f, "token_embd.weight");
    CHECK(emb && emb->type == GGML_TYPE_Q8_0 && emb->n_dims == 2 && emb->ne[0] == 576 &&
          emb->ne[1] == 49152);
    CHECK(esft_gguf_find_tensor(f, "output.weight") == NULL); /* tied embeddings */

    /* Compare with gguf-py's view of the same file. */
    snprintf(facts, sizeof facts, "%s/fixtures/smollm2_gguf_facts.txt", ESFT_TEST_DATA_DIR);
    FILE *fp = fopen(facts, "r");
    CHECKF(fp != NULL, "cannot open %s", facts);
    size_t n_lines = 0, n_tensor_lines = 0, n_kv_lines = 0, bad = 0;
    static char line[1 << 17];
    while (fp && fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = 0;
        char *save = NULL, *tag = strtok_r(line, " ", &save);
        if (!tag) continue;
        n_lines++;
        char *a1 = strtok_r(NULL, " ", &save);
        if (!a1) continue;
        if (strcmp(tag, "size") == 0) {
            struct stat sb;
            CHECK(stat(path, &sb) == 0 && (unsigned long long)sb.st_size == strtoull(a1, NULL, 10));
        } else if (strcmp(tag, "version") == 0) {
            CHECK(esft_gguf_version(f) == strtoul(a1, NULL, 10));
        } else if (strcmp(tag, "n_kv") == 0) {
            CHECK(esft_gguf_n_kv(f) == strtoull(a1, NULL, 10));
        } else if (strcmp(tag, "n_tensors") == 0) {
            CHECK(esft_gguf_n_tensors(f) == strtoull(a1, NULL, 10));
        } else if (strcmp(tag, "alignment") == 0) {
            CHECK(esft_gguf_alignment(f) == strtoull(a1, NULL, 10));
        } else if (strcmp(tag, "data_offset") == 0) {
            CHECK(esft_gguf_data_offset(f) == strtoull(a1, NULL, 10));
        } else if (strcmp(tag, "kv") == 0) {
            char *ty = strtok_r(NULL, " ", &save), *val = strtok_r(NULL, " ", &save);
            const gguf_kv *kv = esft_gguf_find_kv(f, a1);
            n_kv_lines++;
            CHECKF(kv && ty && val && value_matches(&kv->value, atoi(ty), val), "key %s", a1);
        } else if (strcmp(tag, "arr") == 0) {
            char *et = strtok_r(NULL, " ", &save), *cnt = strtok_r(NULL, " ", &save);
            const gguf_value *arr = esft_gguf_get_arr(f, a1);
            n_kv_lines++;
            CHECKF(arr && et && cnt && (int)arr->v.arr.elem_type == atoi(et) &&
                       arr->v.arr.n == strtoull(cnt, NULL, 10),
                   "array %s", a1);
        } else if (strcmp(tag, "item") == 0) {
            char *idx = strtok_r(NULL, " ", &save), *val = strtok_r(NULL, " ", &save);
            const gguf_value *arr = esft_gguf_get_arr(f, a1);
            uint64_t i = idx ? strtoull(idx, NULL, 10) : UINT64_MAX;
            CHECKF(arr && val && i < arr->v.arr.n &&
                       value_matches(&arr->v.arr.items[i], (int)arr->v.arr.elem_type, val),
                   "array %s item %s", a1, idx ? idx : "?");
        } else if (strcmp(tag, "tensor") == 0) {
            /* name type n_dims ne0,ne1,.. abs_offset n_bytes xor sum */
            char *ty = strtok_r(NULL, " ", &save), *nd = strtok_r(NULL, " ", &save),
                 *shape = strtok_r(NULL, " ", &save), *off = strtok_r(NULL, " ", &save),
                 *nb = strtok_r(NULL, " ", &save), *xs = strtok_r(NULL, " ", &save),
                 *ss = strtok_r(NULL, " ", &save);
            n_tensor_lines++;
            const gguf_tensor_info *t = esft_gguf_find_tensor(f, a1);
            if (!t || !ss) {
                CHECKF(0, "tensor %s", a1);
                continue;
            }
            bool ok = (int)t->type == atoi(ty) && t->n_dims == strtoul(nd, NULL, 10) &&
                      esft_gguf_data_offset(f) + t->offset == strtoull(off, NULL, 10) &&
                      t->n_bytes == strtoull(nb, NULL, 10);
            char *sp = NULL;
            uint32_t d = 0;
            for (char *tok = strtok_r(shape, ",", &sp); tok; tok = strtok_r(NULL, ",", &sp), d++)
                ok = ok && d < 4 && t->ne[d] == strtoull(tok, NULL, 10);
            ok = ok && d == t->n_dims;
            CHECKF(ok, "tensor %s info differs from gguf-py", a1);
            /* dequantise all of it: finite, and checksums equal gguf-py's */
            float *out = malloc(t->n_elements * sizeof(float));
            esft_status st = esft_ggml_dequantize(t->type, t->data, out, (size_t)t->n_elements, &e);
            CHECKF(st == ESFT_OK, "dequantize %s: %s", a1, e.msg);
            uint32_t x = 0;
            uint64_t s = 0;
            size_t nonfinite = 0;
            for (uint64_t i = 0; i < t->n_elements; i++) {
                uint32_t u;
                memcpy(&u, &out[i], 4);
                x ^= u;
                s += u;
                nonfinite += !isfinite(out[i]);
            }
            CHECKF(nonfinite == 0, "tensor %s: %zu non-finite values", a1, nonfinite);
            if (x != (uint32_t)strtoul(xs, NULL, 16) || s != strtoull(ss, NULL, 16)) {
                bad++;
                CHECKF(0, "tensor %s: dequantised values differ from gguf-py's", a1);
            }
            free(out);
        } else if (strcmp(tag, "first8") == 0) {
            const gguf_tensor_info *t = esft_gguf_find_tensor(f, a1);
            float out8[1024];
            size_t be = t ? esft_ggml_block_elems(t->type) : 1;
            CHECK(t && be <= 1024 && esft_ggml_dequantize(t->type, t->data, out8, be < 8 ? 8 : be, NULL) == ESFT_OK);
            for (int i = 0; t && i < 8; i++) {
                char *hx = strtok_r(NULL, " ", &save);
                uint32_t u;
                memcpy(&u, &out8[i], 4);
                CHECKF(hx && u == (uint32_t)strtoul(hx, NULL, 16), "%s[%d]", a1, i);
            }
        }
    }
    if (fp) fclose(fp);
    CHECK(n_tensor_lines == 272 && n_kv_lines == esft_gguf_n_kv(f));
    printf("real model: %zu facts lines, %zu kv and %zu tensors compared with gguf-py (%zu differ)\n",
           n_lines, n_kv_lines, n_tensor_lines, bad);
    esft_gguf_close(f);
}

int main(void) {
    test_reference_roundtrip();
    test_writer_extras();
    test_truncations();
    test_hostile();
    test_mutations();
    test_real_model();
    return TEST_EXIT();
}
