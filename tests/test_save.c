/* Saving a model in each --save-dtype (frontend/checkpoint.c): every
 * tensor's type follows the rules (1-D tensors f32; q8_0 matrices whose rows
 * are not a multiple of 32 f16), every stored value equals an independent
 * reference of the rounding rules (written here in double arithmetic, not
 * with esft's converters), the file has exactly the expected size,
 * general.file_type is llama.cpp's value, and esft loads each file back to
 * the values it stores. The largest tensor is written in several pieces.
 * A NaN survives bf16/f16 and makes q8_0 fail, naming the tensor, without
 * leaving a file behind. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "registry.h"
#include "synth.h"
#include "testutil.h"

/* ---- reference rounding and decoding, independent of models/quant.c ---- */

/* x rounded to nearest, ties to even, to a binary format with `mant` stored
 * mantissa bits, smallest normal exponent emin and largest finite maxv;
 * beyond that, infinity. Exact in double for f16 and bf16. */
static double ref_round(double x, int mant, int emin, double maxv) {
    if (x == 0 || !isfinite(x)) return x;
    int e = ilogb(x);
    if (e < emin) e = emin;
    double ulp = ldexp(1.0, e - mant);
    double r = nearbyint(x / ulp) * ulp; /* default rounding mode: ties to even */
    return fabs(r) > maxv ? copysign(INFINITY, x) : r;
}
static double ref_f16(double x) { return ref_round(x, 10, -14, 65504.0); }
static double ref_bf16(double x) { return ref_round(x, 7, -126, ldexp(255.0, 120)); }

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static double dec_f16(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

static double dec_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static bool same_value(double a, double b) {
    return (isnan(a) && isnan(b)) || (a == b && signbit(a) == signbit(b));
}

/* The type the rules give a tensor saved as dtype. */
static ggml_type want_type(ggml_type dtype, const gguf_tensor_info *t) {
    if (t->n_dims == 1) return GGML_TYPE_F32;
    if (dtype == GGML_TYPE_Q8_0 && t->ne[0] % 32) return GGML_TYPE_F16;
    return dtype;
}

static uint64_t want_bytes(ggml_type type, uint64_t n) {
    return type == GGML_TYPE_F32 ? 4 * n : type == GGML_TYPE_Q8_0 ? n / 32 * 34 : 2 * n;
}

/* Value i of a stored tensor, decoded here. */
static double stored_value(ggml_type type, const uint8_t *p, size_t i) {
    switch (type) {
    case GGML_TYPE_F32: {
        float f;
        memcpy(&f, p + 4 * i, sizeof f);
        return f;
    }
    case GGML_TYPE_F16: return dec_f16(le16(p + 2 * i));
    case GGML_TYPE_BF16: return dec_bf16(le16(p + 2 * i));
    default: {
        const uint8_t *b = p + i / 32 * 34;
        return dec_f16(le16(b)) * (int8_t)b[2 + i % 32];
    }
    }
}

/* Mismatches between a stored tensor and the reference conversion of x. */
static size_t compare_stored(ggml_type type, const uint8_t *p, const float *x, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (type == GGML_TYPE_Q8_0 && i % 32 == 0) {
            /* ggml's quantize_row_q8_0_ref: d = max|x| / 127, q = roundf(x / d) */
            float amax = 0;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[i + j]));
            float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
            const uint8_t *b = p + i / 32 * 34;
            bad += !same_value(dec_f16(le16(b)), ref_f16(d));
            for (int j = 0; j < 32; j++) bad += (int8_t)b[2 + j] != (int)roundf(x[i + j] * id);
        }
        if (type == GGML_TYPE_Q8_0) continue;
        double want = type == GGML_TYPE_F32 ? x[i] : type == GGML_TYPE_F16 ? ref_f16(x[i]) : ref_bf16(x[i]);
        bad += !same_value(stored_value(type, p, i), want);
    }
    return bad;
}

static uint64_t align32(uint64_t n) { return (n + 31) / 32 * 32; }

static esft_ckpt_info test_info(void) {
    esft_ckpt_info info = {0};
    info.iteration = 3;
    info.iters_total = 5;
    info.cfg.pop = 4;
    snprintf(info.cfg.task, sizeof info.cfg.task, "conciseness");
    snprintf(info.cfg.params, sizeof info.cfg.params, "*");
    snprintf(info.base_path, sizeof info.base_path, "base.gguf");
    return info;
}

/* Saves m as dtype and checks the file against the base model's values. */
static void check_saved(esft_backend *be, const esft_model *m, const gguf_file *base, ggml_type dtype,
                        uint64_t *data_bytes) {
    static const struct {
        ggml_type t;
        uint32_t ftype; /* llama.h: LLAMA_FTYPE_ALL_F32, _MOSTLY_BF16, _MOSTLY_F16, _MOSTLY_Q8_0 */
    } ftypes[] = {{GGML_TYPE_F32, 0}, {GGML_TYPE_BF16, 32}, {GGML_TYPE_F16, 1}, {GGML_TYPE_Q8_0, 7}};
    char path[1100];
    snprintf(path, sizeof path, "%s/save_%s.gguf", ESFT_TEST_BINARY_DIR, esft_ggml_type_name(dtype));
    esft_ckpt_info info = test_info();
    if (dtype == GGML_TYPE_F32) info.metrics_line = "{\"iter\":2}";
    esft_err err = {{0}};
    CHECKF(esft_checkpoint_write(m, &info, dtype, path, &err) == ESFT_OK, "%s", err.msg);
    gguf_file *f = NULL;
    CHECKF(esft_gguf_open(path, &f, &err) == ESFT_OK, "%s", err.msg);
    if (!f) return;
    uint32_t ftype = 99;
    CHECK(esft_gguf_get_u32(f, "general.file_type", &ftype));
    for (size_t i = 0; i < sizeof ftypes / sizeof ftypes[0]; i++)
        if (ftypes[i].t == dtype) CHECKF(ftype == ftypes[i].ftype, "%s: general.file_type %u", path, ftype);
    const char *line = esft_gguf_get_str(f, "esft.metrics_line");
    CHECK(dtype == GGML_TYPE_F32 ? line && strcmp(line, "{\"iter\":2}") == 0 : line == NULL);
    esft_ckpt_info back;
    CHECK(esft_checkpoint_read_info(f, &back, &err) == ESFT_OK && back.iteration == 3 && back.cfg.pop == 4);

    uint64_t expect_size = esft_gguf_data_offset(f);
    size_t bad_type = 0, bad_value = 0, kinds[3] = {0};
    for (size_t i = 0; i < esft_gguf_n_tensors(base); i++) {
        const gguf_tensor_info *b = esft_gguf_tensor_at(base, i), *t = esft_gguf_find_tensor(f, b->name);
        CHECKF(t != NULL, "%s: no tensor %s", path, b->name);
        if (!t) continue;
        ggml_type want = want_type(dtype, b);
        bad_type += t->type != want;
        kinds[want == GGML_TYPE_F32 ? 0 : want == dtype ? 1 : 2]++;
        CHECK(t->n_bytes == want_bytes(want, b->n_elements));
        expect_size += align32(want_bytes(want, b->n_elements));
        if (t->type == want) bad_value += compare_stored(want, t->data, b->data, b->n_elements);
    }
    *data_bytes = expect_size - esft_gguf_data_offset(f);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == expect_size);
    CHECKF(bad_type == 0 && bad_value == 0, "%s: %zu tensors of the wrong type, %zu values differ from the reference",
           path, bad_type, bad_value);
    printf("  %-5s %zu tensors f32, %zu %s, %zu f16 (fallback): values %s the reference; %llu data bytes\n",
           esft_ggml_type_name(dtype), kinds[0], kinds[1], esft_ggml_type_name(dtype), kinds[2],
           bad_value ? "DIFFER from" : "match", (unsigned long long)*data_bytes);

    /* esft loads it back to exactly the stored values */
    esft_model *back_m = NULL;
    CHECKF(esft_model_load(path, be, NULL, &back_m, &err) == ESFT_OK, "%s", err.msg);
    size_t bad_load = 0;
    for (int i = 0; back_m && i < back_m->n_params; i++) {
        const esft_param *p = &back_m->params[i];
        const gguf_tensor_info *t = esft_gguf_find_tensor(f, p->name);
        float *x = malloc(p->n * sizeof *x);
        if (!x || esft_download(&p->master, 0, x, p->n)) bad_load++;
        for (size_t k = 0; x && t && k < p->n; k++) bad_load += !same_value(x[k], stored_value(t->type, t->data, k));
        free(x);
    }
    CHECKF(bad_load == 0, "%s: %zu values load differently", path, bad_load);
    esft_model_free(back_m);
    esft_gguf_close(f);
}

/* NaN and infinity: kept by bf16 and f16 (f16 also overflows 1e6 to
 * infinity); q8_0 cannot store them and the write fails cleanly. */
static void check_non_finite(esft_model *m) {
    esft_param *p = NULL;
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, "blk.0.ffn_up.weight") == 0) p = &m->params[i];
    CHECK(p != NULL);
    if (!p) return;
    const float odd[3] = {NAN, INFINITY, 1e6f};
    CHECK(esft_upload(&p->master, 5, odd, 3) == ESFT_OK);
    const ggml_type types[] = {GGML_TYPE_BF16, GGML_TYPE_F16};
    const uint16_t want[2][3] = {{0, 0x7f80, 0x4974}, {0, 0x7c00, 0x7c00}}; /* bf16(1e6) = 0x4974 */
    esft_err err = {{0}};
    char path[1100];
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/save_nan_%s.gguf", ESFT_TEST_BINARY_DIR, esft_ggml_type_name(types[k]));
        esft_ckpt_info info = test_info();
        CHECKF(esft_checkpoint_write(m, &info, types[k], path, &err) == ESFT_OK, "%s", err.msg);
        gguf_file *f = NULL;
        CHECK(esft_gguf_open(path, &f, &err) == ESFT_OK);
        const gguf_tensor_info *t = f ? esft_gguf_find_tensor(f, p->name) : NULL;
        if (!t) continue;
        const uint8_t *d = t->data;
        uint16_t nan_bits = le16(d + 10), exp_mask = k == 0 ? 0x7f80 : 0x7c00;
        CHECKF((nan_bits & exp_mask) == exp_mask && (nan_bits & (uint16_t)~exp_mask & 0x7fff),
               "%s: NaN stored as %04x", esft_ggml_type_name(types[k]), nan_bits);
        CHECK(le16(d + 12) == want[k][1] && le16(d + 14) == want[k][2]);
        esft_gguf_close(f);
    }
    snprintf(path, sizeof path, "%s/save_nan_q8_0.gguf", ESFT_TEST_BINARY_DIR);
    unlink(path);
    esft_ckpt_info info = test_info();
    CHECK(esft_checkpoint_write(m, &info, GGML_TYPE_Q8_0, path, &err) != ESFT_OK);
    CHECKF(strstr(err.msg, "blk.0.ffn_up.weight") && strstr(err.msg, "q8_0"), "error: %s", err.msg);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(path, F_OK) != 0 && access(tmp, F_OK) != 0);
}

int main(void) {
    char base_path[1100];
    snprintf(base_path, sizeof base_path, "%s/save_base.gguf", ESFT_TEST_BINARY_DIR);
    esft_synth_spec s;
    esft_synth_preset("tiny-qwen2", &s); /* with biases (1-D) */
    s.n_ff = 80;                          /* ffn_down rows of 80: not a multiple of 32 */
    s.n_vocab = 34000;                    /* token_embd: 8.7 MB of f32, written in several pieces */
    s.tied = 0;
    esft_err err = {{0}};
    CHECKF(esft_synth_write(&s, base_path, &err) == ESFT_OK, "%s", err.msg);
    esft_backend *be = NULL;
    esft_backend_options bo = {.n_threads = 1};
    CHECKF(esft_backend_open("cpu", &bo, &be, &err) == ESFT_OK, "%s", err.msg);
    esft_model *m = NULL;
    gguf_file *base = NULL;
    if (be) CHECKF(esft_model_load(base_path, be, NULL, &m, &err) == ESFT_OK, "%s", err.msg);
    CHECKF(esft_gguf_open(base_path, &base, &err) == ESFT_OK, "%s", err.msg);
    if (!m || !base) return TEST_EXIT();

    const ggml_type dtypes[] = {GGML_TYPE_F32, GGML_TYPE_BF16, GGML_TYPE_F16, GGML_TYPE_Q8_0};
    uint64_t bytes[4] = {0};
    for (int k = 0; k < 4; k++) check_saved(be, m, base, dtypes[k], &bytes[k]);
    printf("  tensor data relative to f32: bf16 %.3f, f16 %.3f, q8_0 %.3f\n", (double)bytes[1] / bytes[0],
           (double)bytes[2] / bytes[0], (double)bytes[3] / bytes[0]);
    CHECK(bytes[1] == bytes[2] && bytes[1] < bytes[0] * 0.52 && bytes[3] < bytes[0] * 0.28);

    ggml_type t;
    CHECK(esft_save_dtype_from_name("q8_0", &t) && t == GGML_TYPE_Q8_0);
    CHECK(esft_save_dtype_from_name("BF16", &t) && t == GGML_TYPE_BF16);
    CHECK(!esft_save_dtype_from_name("q4_0", &t) && !esft_save_dtype_from_name("f64", &t));

    check_non_finite(m);
    esft_gguf_close(base);
    esft_model_free(m);
    esft_backend_destroy(be);
    return TEST_EXIT();
}
