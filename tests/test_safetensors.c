/* The safetensors reader (models/safetensors.c) on files built here byte by
 * byte: valid files read back with the shapes, offsets and values written
 * (values hand-encoded: bf16 0x3f80 = 1.0, f16 0xc000 = -2.0, ...), and
 * hostile headers each fail with ESFT_ERR_FORMAT and one line that names the
 * file and, where there is one, the tensor. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quant.h"
#include "safetensors.h"
#include "testutil.h"

/* u64 header length + header + data, in a malloc'd buffer. */
static uint8_t *build(const char *header, size_t hlen, const void *data, size_t dlen, size_t *size) {
    *size = 8 + hlen + dlen;
    uint8_t *b = malloc(*size + 1);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, header, hlen);
    if (dlen) memcpy(b + 8 + hlen, data, dlen);
    return b;
}

static bool one_line(const char *msg) { return msg[0] && !strchr(msg, '\n') && !strchr(msg, '\r'); }

/* A hostile file must fail with a one-line FORMAT error naming the file and
 * containing `want` (e.g. the tensor's name). */
static void expect_fail_bytes(const char *label, const uint8_t *b, size_t size, const char *want) {
    esft_st_file *f = (esft_st_file *)1;
    esft_err err = {{0}};
    esft_status st = esft_st_open_memory(b, size, "evil.safetensors", &f, &err);
    CHECKF(st == ESFT_ERR_FORMAT && f == NULL, "%s: status %d", label, (int)st);
    CHECKF(one_line(err.msg) && strstr(err.msg, "evil.safetensors") && strstr(err.msg, want),
           "%s: message '%s' lacks '%s'", label, err.msg, want);
    if (st == ESFT_OK) esft_st_close(f);
}

static void expect_fail(const char *label, const char *header, size_t dlen, const char *want) {
    uint8_t data[256] = {0};
    size_t size;
    uint8_t *b = build(header, strlen(header), data, dlen, &size);
    expect_fail_bytes(label, b, size, want);
    free(b);
}

static void check_valid(void) {
    /* header padded with spaces as the writer does; data: f32 [2,3], bf16 [3]
     * (8-byte aligned after the header), f16 scalar, an empty tensor */
    const char *hdr =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[24,30]},"
        "\"s\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[30,32]},"
        "\"e\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[32,32]}}     ";
    uint8_t data[32];
    const float w[6] = {1, 2, 3, 4, 5, 6.5f};
    memcpy(data, w, 24);
    const uint8_t b16[6] = {0x80, 0x3f, 0x40, 0xc0, 0x00, 0x00}; /* 1.0, -3.0, 0.0 */
    memcpy(data + 24, b16, 6);
    data[30] = 0x00, data[31] = 0xc0; /* f16 -2.0 */
    size_t size;
    uint8_t *buf = build(hdr, strlen(hdr), data, sizeof data, &size);
    esft_st_file *f = NULL;
    esft_err err;
    CHECKF(esft_st_open_memory(buf, size, "ok.safetensors", &f, &err) == ESFT_OK, "%s", err.msg);
    if (!f) {
        free(buf);
        return;
    }
    CHECK(esft_st_n_tensors(f) == 4);
    const esft_st_tensor *t = esft_st_tensor_at(f, 0);
    CHECK(t && strcmp(t->name, "w") == 0 && t->dtype == ESFT_ST_F32 && t->n_dims == 2 && t->shape[0] == 2 &&
          t->shape[1] == 3 && t->n_elements == 6 && t->data == buf + 8 + strlen(hdr));
    float got[6];
    CHECK(t && esft_ggml_dequantize(GGML_TYPE_F32, t->data, got, 6, &err) == ESFT_OK && got[5] == 6.5f && got[0] == 1);
    const esft_st_tensor *b = esft_st_find(f, "b");
    CHECK(b && b->dtype == ESFT_ST_BF16 && b->n_elements == 3 && b->begin == 24 && b->end == 30);
    CHECK(b && esft_ggml_dequantize(GGML_TYPE_BF16, b->data, got, 3, &err) == ESFT_OK && got[0] == 1.0f &&
          got[1] == -3.0f && got[2] == 0.0f);
    const esft_st_tensor *s = esft_st_find(f, "s");
    CHECK(s && s->n_dims == 0 && s->n_elements == 1 &&
          esft_ggml_dequantize(GGML_TYPE_F16, s->data, got, 1, &err) == ESFT_OK && got[0] == -2.0f);
    const esft_st_tensor *e = esft_st_find(f, "e");
    CHECK(e && e->n_elements == 0 && e->begin == 32);
    CHECK(esft_st_find(f, "__metadata__") == NULL && esft_st_find(f, "x") == NULL);
    CHECK(esft_st_dtype_size(ESFT_ST_BF16) == 2 && esft_st_dtype_size(ESFT_ST_F64) == 8 &&
          strcmp(esft_st_dtype_name(ESFT_ST_F8_E4M3), "F8_E4M3") == 0);
    esft_st_close(f);

    /* the same bytes through a file on disk; then a missing file and a directory */
    char dir[256], path[300];
    if (test_make_tmpdir(dir, sizeof dir, "esft-st")) {
        snprintf(path, sizeof path, "%s/m.safetensors", dir);
        FILE *fp = fopen(path, "wb");
        CHECK(fp && fwrite(buf, 1, size, fp) == size);
        if (fp) fclose(fp);
        CHECKF(esft_st_open(path, &f, &err) == ESFT_OK, "%s", err.msg);
        if (f) {
            CHECK(esft_st_n_tensors(f) == 4 && strcmp(esft_st_path(f), path) == 0);
            const esft_st_tensor *w2 = esft_st_find(f, "w");
            CHECK(w2 && memcmp(w2->data, w, 24) == 0);
            esft_st_close(f);
        }
        remove(path);
        CHECK(esft_st_open(path, &f, &err) == ESFT_ERR_IO && strstr(err.msg, path) && f == NULL);
        CHECK(esft_st_open(dir, &f, &err) == ESFT_ERR_IO && strstr(err.msg, "regular") && f == NULL);
        rmdir(dir);
    }
    free(buf);
}

/* label, header, data bytes after it, what the message must name */
static const struct hostile {
    const char *label, *header;
    size_t data_len;
    const char *want;
} HOSTILE[] = {
    {"empty header", "", 0, "not a JSON object"},
    {"not JSON", "{not json at all}", 0, "not valid JSON"},
    {"JSON array", "[1,2,3]", 0, "not a JSON object"},
    {"cut JSON", "{\"a\":{\"dtype\":\"F32\",\"sha", 0, "not valid JSON"},
    {"garbage after JSON", "{}  xx", 0, "bytes after"},
    {"entry not an object", "{\"t\":5}", 0, "'t'"},
    {"metadata not an object", "{\"__metadata__\":[1]}", 0, "__metadata__"},
    {"unknown dtype", "{\"t\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "F33"},
    {"dtype not a string", "{\"t\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'t'"},
    {"no shape", "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "'t'"},
    {"negative dim", "{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape"},
    {"fractional dim", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,10]}}", 10, "shape"},
    {"string dim", "{\"t\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "shape"},
    {"nine dims", "{\"t\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, "dimensions"},
    {"element overflow", "{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "overflow"},
    {"bytes overflow", "{\"t\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, "'t'"},
    {"three offsets", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "data_offsets"},
    {"begin > end", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "'t'"},
    {"past the data", "{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "outside"},
    {"huge offsets", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1e300,1e300]}}", 8, "data_offsets"},
    {"size mismatch", "{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "want 3 x 4"},
    {"dtype/shape mismatch", "{\"t\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, "BF16"},
    {"misaligned", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 8, "multiple"},
    {"overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}," "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16, "overlaps"},
    {"same range", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}," "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4, "overlaps"},
    {"duplicate name", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}," "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, "twice"},
};

static void check_hostile(void) {
    int n_cases = test_failed_ + test_passed_;
    size_t size;
    uint8_t tiny[5] = {1, 2, 3, 4, 5};
    expect_fail_bytes("5-byte file", tiny, sizeof tiny, "no header length");

    /* header lengths: past the file, huge, 2^64 - 1 (must not overflow) */
    uint64_t lens[] = {1000, (uint64_t)1 << 40, UINT64_MAX, UINT64_MAX - 7};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t *b = build("{}", 2, NULL, 0, &size);
        for (int k = 0; k < 8; k++) b[k] = (uint8_t)(lens[i] >> (8 * k));
        expect_fail_bytes("header length", b, size, "header length");
        free(b);
    }
    for (size_t i = 0; i < sizeof HOSTILE / sizeof HOSTILE[0]; i++)
        expect_fail(HOSTILE[i].label, HOSTILE[i].header, HOSTILE[i].data_len, HOSTILE[i].want);
    /* 5000 nested arrays: cJSON's nesting limit, not the stack */
    size_t depth = 5000;
    char *deep = malloc(2 * depth + 16);
    size_t o = (size_t)sprintf(deep, "{\"t\":");
    for (size_t i = 0; i < depth; i++) deep[o++] = '[';
    for (size_t i = 0; i < depth; i++) deep[o++] = ']';
    deep[o++] = '}';
    deep[o] = 0;
    expect_fail("deep nesting", deep, 0, "not valid JSON");
    free(deep);
    /* a NUL byte inside the header */
    const char nul_hdr[] = "{\"t\":{\"dtype\":\"U8\"\0,\"shape\":[1],\"data_offsets\":[0,1]}}";
    uint8_t *b = build(nul_hdr, sizeof nul_hdr - 1, "x", 1, &size);
    expect_fail_bytes("NUL in header", b, size, "control byte 0x00");
    free(b);
    /* a tensor name with a newline and quote comes back escaped, on one line */
    expect_fail("name with newline", "{\"a\\nb\\\"\":{\"dtype\":\"F32\",\"shape\":[9],\"data_offsets\":[0,4]}}", 4, "a\\x0ab");
    int n = test_failed_ + test_passed_ - n_cases;
    printf("%d checks on hostile safetensors headers\n", n);
    CHECK(n >= 2 * 15);
}

int main(void) {
    check_valid();
    check_hostile();
    return TEST_EXIT();
}
