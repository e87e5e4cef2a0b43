/* Fuzzes the GGUF reader (esft_gguf_open_memory: header, key/values, tensor
 * infos, offsets), its accessors, the dequantisation of every tensor the
 * file describes, the tokenizer built from the file's token arrays, the
 * writer (a file that parses is written back and must read back the same),
 * and the model loader (hyper-parameters, tensor shapes) on that copy. */
#include <math.h>
#include <stdbool.h>
#include <unistd.h>

#include "fuzz_harness.h"
#include "gguf.h"
#include "model.h"
#include "quant.h"
#include "registry.h"
#include "tokenizer.h"

/* Tensors larger than this are not dequantised (keeps executions fast; the
 * reader has already bounded the data by the input size). */
#define MAX_DEQUANT_ELEMS ((uint64_t)1 << 20)

static char rewrite_path[256];
static esft_backend *g_cpu;

static void remove_rewrite(void) { unlink(rewrite_path); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(rewrite_path, sizeof rewrite_path, "%s/esft-fuzz-gguf-%ld.gguf", dir ? dir : "/tmp",
             (long)getpid());
    atexit(remove_rewrite);
    esft_backend_options opts = {.n_threads = 1};
    esft_err err;
    if (esft_backend_open("cpu", &opts, &g_cpu, &err) != ESFT_OK) {
        fprintf(stderr, "fuzz_gguf: cpu backend: %s\n", err.msg);
        exit(1);
    }
    return 0;
}

static bool is_unsigned(gguf_vtype t) {
    return t == GGUF_VT_UINT8 || t == GGUF_VT_UINT16 || t == GGUF_VT_UINT32 || t == GGUF_VT_UINT64;
}

static bool is_signed(gguf_vtype t) {
    return t == GGUF_VT_INT8 || t == GGUF_VT_INT16 || t == GGUF_VT_INT32 || t == GGUF_VT_INT64;
}

/* Typed getters succeed only on a value that holds exactly what they return. */
static void check_getters(const gguf_file *f, const gguf_kv *kv) {
    const gguf_value *v = &kv->value;
    FUZZ_REQUIRE(esft_gguf_find_kv(f, kv->key) == kv, "key '%s' not found by name", kv->key);
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f32;
    bool b;
    if (esft_gguf_get_u32(f, kv->key, &u32))
        FUZZ_REQUIRE((is_unsigned(v->type) && v->v.u64 == u32) || (is_signed(v->type) && v->v.i64 == u32),
                     "esft_gguf_get_u32('%s') = %u", kv->key, u32);
    if (esft_gguf_get_i32(f, kv->key, &i32))
        FUZZ_REQUIRE((is_unsigned(v->type) && i32 >= 0 && v->v.u64 == (uint64_t)i32) ||
                         (is_signed(v->type) && v->v.i64 == i32),
                     "esft_gguf_get_i32('%s') = %d", kv->key, i32);
    if (esft_gguf_get_u64(f, kv->key, &u64))
        FUZZ_REQUIRE((is_unsigned(v->type) && v->v.u64 == u64) ||
                         (is_signed(v->type) && v->v.i64 >= 0 && (uint64_t)v->v.i64 == u64),
                     "esft_gguf_get_u64('%s') = %llu", kv->key, (unsigned long long)u64);
    if (esft_gguf_get_f32(f, kv->key, &f32))
        FUZZ_REQUIRE(v->type == GGUF_VT_FLOAT64 ||
                         (v->type == GGUF_VT_FLOAT32 && (isnan(f32) || (double)f32 == v->v.f64)),
                     "esft_gguf_get_f32('%s') = %g from a %d holding %g", kv->key, (double)f32,
                     (int)v->type, v->v.f64);
    if (esft_gguf_get_bool(f, kv->key, &b))
        FUZZ_REQUIRE(v->type == GGUF_VT_BOOL && v->v.b == b, "esft_gguf_get_bool('%s')", kv->key);
    const char *s = esft_gguf_get_str(f, kv->key);
    FUZZ_REQUIRE((s != NULL) == (v->type == GGUF_VT_STRING), "esft_gguf_get_str('%s')", kv->key);
    const gguf_value *a = esft_gguf_get_arr(f, kv->key);
    FUZZ_REQUIRE((a != NULL) == (v->type == GGUF_VT_ARRAY), "esft_gguf_get_arr('%s')", kv->key);
}

static void check_tensor(const gguf_file *f, const gguf_tensor_info *t, const uint8_t *data,
                         size_t size) {
    FUZZ_REQUIRE(esft_gguf_find_tensor(f, t->name) == t, "tensor '%s' not found by name", t->name);
    const uint8_t *p = t->data;
    FUZZ_REQUIRE(p >= data && p <= data + size && t->n_bytes <= (uint64_t)(data + size - p),
                 "tensor '%s' data lies outside the input", t->name);
    uint64_t row;
    FUZZ_REQUIRE(esft_ggml_row_bytes(t->type, t->ne[0], &row, NULL) == ESFT_OK &&
                     row * (t->n_elements / t->ne[0]) == t->n_bytes,
                 "tensor '%s': byte size inconsistent with its shape", t->name);
    if (!esft_ggml_type_dequantizable(t->type) || t->n_elements > MAX_DEQUANT_ELEMS) return;
    float *out = malloc((size_t)t->n_elements * sizeof *out + 1);
    FUZZ_REQUIRE(out != NULL, "out of memory");
    esft_err err;
    FUZZ_REQUIRE(esft_ggml_dequantize(t->type, t->data, out, (size_t)t->n_elements, &err) == ESFT_OK,
                 "tensor '%s': %s", t->name, err.msg);
    free(out);
}

/* A tokenizer built from hostile token arrays must either fail cleanly or
 * encode and decode. */
static void check_tokenizer(const gguf_file *f) {
    esft_tokenizer *tok;
    esft_err err;
    if (esft_tokenizer_from_gguf(f, &tok, &err) != ESFT_OK) {
        fuzz_require_one_line(err.msg);
        return;
    }
    static const char text[] = "Hello world <|im_end|> 12345 \xc3\xa9t\xc3\xa9 \xff\n\n  x";
    int32_t *ids;
    size_t n;
    FUZZ_REQUIRE(esft_tokenize(tok, text, sizeof text - 1, true, true, &ids, &n, &err) == ESFT_OK,
                 "%s", err.msg);
    char *back;
    size_t len;
    FUZZ_REQUIRE(esft_detokenize(tok, ids, n, &back, &len, &err) == ESFT_OK, "%s", err.msg);
    free(back);
    free(ids);
    esft_tokenizer_free(tok);
}

static bool same_value(const gguf_value *a, const gguf_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case GGUF_VT_STRING:
        return a->v.str.len == b->v.str.len && memcmp(a->v.str.data, b->v.str.data, a->v.str.len) == 0;
    case GGUF_VT_ARRAY:
        if (a->v.arr.elem_type != b->v.arr.elem_type || a->v.arr.n != b->v.arr.n) return false;
        for (uint64_t i = 0; i < a->v.arr.n; i++)
            if (!same_value(&a->v.arr.items[i], &b->v.arr.items[i])) return false;
        return true;
    case GGUF_VT_FLOAT32:
    case GGUF_VT_FLOAT64: return memcmp(&a->v.f64, &b->v.f64, sizeof a->v.f64) == 0;
    case GGUF_VT_BOOL: return a->v.b == b->v.b;
    default: return a->v.u64 == b->v.u64;
    }
}

/* Writes f back with the writer and requires the copy to read back equal. */
static void check_rewrite(const gguf_file *f) {
    gguf_writer *w = esft_gguf_writer_new();
    FUZZ_REQUIRE(w != NULL, "out of memory");
    esft_err err;
    if (esft_gguf_find_kv(f, "general.alignment")) esft_gguf_writer_set_alignment(w, esft_gguf_alignment(f));
    FUZZ_REQUIRE(esft_gguf_writer_copy_kvs(w, f, &err) == ESFT_OK, "copy: %s", err.msg);
    for (size_t i = 0; i < esft_gguf_n_tensors(f); i++) {
        const gguf_tensor_info *t = esft_gguf_tensor_at(f, i);
        FUZZ_REQUIRE(esft_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, true,
                                            &err) == ESFT_OK,
                     "add tensor: %s", err.msg);
    }
    FUZZ_REQUIRE(esft_gguf_writer_write(w, rewrite_path, &err) == ESFT_OK, "write: %s", err.msg);
    esft_gguf_writer_free(w);

    gguf_file *g;
    FUZZ_REQUIRE(esft_gguf_open(rewrite_path, &g, &err) == ESFT_OK, "reread: %s", err.msg);
    FUZZ_REQUIRE(esft_gguf_n_kv(g) == esft_gguf_n_kv(f) && esft_gguf_n_tensors(g) == esft_gguf_n_tensors(f),
                 "reread: %zu/%zu key/values, %zu/%zu tensors", esft_gguf_n_kv(g), esft_gguf_n_kv(f),
                 esft_gguf_n_tensors(g), esft_gguf_n_tensors(f));
    FUZZ_REQUIRE(esft_gguf_alignment(g) == esft_gguf_alignment(f), "reread: alignment changed");
    for (size_t i = 0; i < esft_gguf_n_kv(f); i++) {
        const gguf_kv *a = esft_gguf_kv_at(f, i), *b = esft_gguf_find_kv(g, a->key);
        FUZZ_REQUIRE(b && same_value(&a->value, &b->value), "reread: key '%s' differs", a->key);
    }
    for (size_t i = 0; i < esft_gguf_n_tensors(f); i++) {
        const gguf_tensor_info *a = esft_gguf_tensor_at(f, i), *b = esft_gguf_find_tensor(g, a->name);
        FUZZ_REQUIRE(b && b->type == a->type && b->n_dims == a->n_dims &&
                         memcmp(b->ne, a->ne, sizeof a->ne) == 0 && b->n_bytes == a->n_bytes &&
                         memcmp(b->data, a->data, (size_t)a->n_bytes) == 0,
                     "reread: tensor '%s' differs", a->name);
    }
    esft_gguf_close(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *f;
    esft_err err;
    if (esft_gguf_open_memory(data, size, "fuzz.gguf", &f, &err) != ESFT_OK) {
        fuzz_require_one_line(err.msg);
        return 0;
    }
    for (size_t i = 0; i < esft_gguf_n_kv(f); i++) check_getters(f, esft_gguf_kv_at(f, i));
    for (size_t i = 0; i < esft_gguf_n_tensors(f); i++) check_tensor(f, esft_gguf_tensor_at(f, i), data, size);
    check_tokenizer(f);
    check_rewrite(f);
    esft_gguf_close(f);
    esft_model *m;
    if (esft_model_load(rewrite_path, g_cpu, NULL, &m, &err) == ESFT_OK)
        esft_model_free(m);
    else
        fuzz_require_one_line(err.msg);
    return 0;
}
