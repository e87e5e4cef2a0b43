/* Fuzzes the safetensors reader (esft_st_open_memory: header length, JSON,
 * dtypes, shapes, offsets). A file that parses must keep every promise of
 * safetensors.h: each tensor's bytes inside the input and after the header,
 * end - begin = elements x element size, offsets a multiple of the element
 * size, no name twice, no two tensors sharing a byte, lookup by name finds
 * each; its float tensors dequantise. A file that does not parse gives one
 * line. */
#include <stdbool.h>

#include "fuzz_harness.h"
#include "quant.h"
#include "safetensors.h"

/* Tensors larger than this are not dequantised (keeps executions fast). */
#define MAX_DEQUANT_ELEMS ((uint64_t)1 << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    return 0;
}

static void check_tensor(const esft_st_file *f, const esft_st_tensor *t, const uint8_t *data, size_t size) {
    const size_t es = esft_st_dtype_size(t->dtype);
    FUZZ_REQUIRE(es > 0, "tensor '%s': dtype %d", t->name, (int)t->dtype);
    FUZZ_REQUIRE(esft_st_find(f, t->name) == t, "tensor '%s' not found by name", t->name);
    FUZZ_REQUIRE(t->begin <= t->end && t->end - t->begin == t->n_elements * es && t->begin % es == 0,
                 "tensor '%s': [%llu, %llu) for %llu elements of %zu bytes", t->name,
                 (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)t->n_elements, es);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
    const uint8_t *p = t->data;
    FUZZ_REQUIRE(p == data + 8 + hlen + t->begin && t->end <= size - 8 - hlen,
                 "tensor '%s' data lies outside the input", t->name);
    uint64_t nel = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) nel *= t->shape[d];
    FUZZ_REQUIRE(nel == t->n_elements, "tensor '%s': shape gives %llu elements, not %llu", t->name,
                 (unsigned long long)nel, (unsigned long long)t->n_elements);
    ggml_type gt;
    switch (t->dtype) {
    case ESFT_ST_F32: gt = GGML_TYPE_F32; break;
    case ESFT_ST_F16: gt = GGML_TYPE_F16; break;
    case ESFT_ST_BF16: gt = GGML_TYPE_BF16; break;
    default: return;
    }
    if (t->n_elements == 0 || t->n_elements > MAX_DEQUANT_ELEMS) return;
    float *out = malloc((size_t)t->n_elements * sizeof *out);
    FUZZ_REQUIRE(out != NULL, "out of memory");
    esft_err err;
    FUZZ_REQUIRE(esft_ggml_dequantize(gt, t->data, out, (size_t)t->n_elements, &err) == ESFT_OK, "tensor '%s': %s",
                 t->name, err.msg);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    esft_st_file *f;
    esft_err err;
    if (esft_st_open_memory(data, size, "fuzz.safetensors", &f, &err) != ESFT_OK) {
        fuzz_require_one_line(err.msg);
        return 0;
    }
    const size_t n = esft_st_n_tensors(f);
    for (size_t i = 0; i < n; i++) check_tensor(f, esft_st_tensor_at(f, i), data, size);
    for (size_t i = 0; i < n && n <= 256; i++)
        for (size_t j = i + 1; j < n; j++) {
            const esft_st_tensor *a = esft_st_tensor_at(f, i), *b = esft_st_tensor_at(f, j);
            FUZZ_REQUIRE(strcmp(a->name, b->name) != 0, "tensor '%s' twice", a->name);
            bool empty = a->begin == a->end || b->begin == b->end;
            FUZZ_REQUIRE(empty || a->end <= b->begin || b->end <= a->begin, "tensors '%s' and '%s' overlap",
                         a->name, b->name);
        }
    esft_st_close(f);
    return 0;
}
