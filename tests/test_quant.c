/* Tests for models/quant.c against independent references.
 *
 * The fixtures in tests/fixtures/quant_*.bin were produced by
 * scripts/gen-quant-fixtures.py with gguf-py (llama.cpp's Python package)
 * and numpy; this program only compares. Dequantisation is exact f32
 * arithmetic done in the same order as ggml, so results must be
 * bit-identical (no tolerance). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "esft_half.h"
#include "quant.h"
#include "testutil.h"

typedef struct fixture {
    uint32_t kind, type, n_elems, n_bytes;
    uint8_t *bytes;
    float *f32;
    void *buf;
} fixture;

static bool load_fixture(const char *name, fixture *fx) {
    char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/%s", ESFT_TEST_DATA_DIR, name);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "cannot open fixture %s\n", path);
        return false;
    }
    uint8_t hdr[24];
    bool ok = fread(hdr, 1, sizeof hdr, fp) == sizeof hdr && memcmp(hdr, "EQFX", 4) == 0;
    uint32_t f[5];
    memcpy(f, hdr + 4, sizeof f); /* little-endian host */
    ok = ok && f[0] == 1;
    if (ok) {
        fx->kind = f[1];
        fx->type = f[2];
        fx->n_elems = f[3];
        fx->n_bytes = f[4];
        size_t total = (size_t)fx->n_bytes + 4 * (size_t)fx->n_elems;
        fx->buf = malloc(total + 4);
        ok = fx->buf && fread(fx->buf, 1, total, fp) == total && fgetc(fp) == EOF;
        if (ok) {
            uint8_t *b = fx->buf;
            if (fx->kind == 0) {
                fx->bytes = b;
                fx->f32 = malloc(4 * (size_t)fx->n_elems);
                memcpy(fx->f32, b + fx->n_bytes, 4 * (size_t)fx->n_elems);
            } else {
                fx->f32 = malloc(4 * (size_t)fx->n_elems);
                memcpy(fx->f32, b, 4 * (size_t)fx->n_elems);
                fx->bytes = b + 4 * (size_t)fx->n_elems;
            }
        }
    }
    fclose(fp);
    if (!ok) fprintf(stderr, "bad fixture %s\n", path);
    return ok;
}

static void free_fixture(fixture *fx) {
    free(fx->buf);
    free(fx->f32);
}

/* Bitwise equality, except that any NaN matches any NaN of the same sign
 * (numpy's f16 conversion may quiet signalling NaNs). */
static bool same_f32(float a, float b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) && signbit(a) == signbit(b);
    return esft_f32_bits(a) == esft_f32_bits(b);
}

static void test_dequant_fixture(const char *name, ggml_type expect_type) {
    fixture fx = {0};
    CHECKF(load_fixture(name, &fx), "%s", name);
    if (!fx.buf) return;
    CHECK(fx.kind == 0 && fx.type == (uint32_t)expect_type);
    uint64_t rb = 0;
    CHECK(esft_ggml_row_bytes(expect_type, fx.n_elems, &rb, NULL) == ESFT_OK && rb == fx.n_bytes);
    float *out = malloc(4 * (size_t)fx.n_elems);
    esft_err err = {{0}};
    esft_status st = esft_ggml_dequantize(expect_type, fx.bytes, out, fx.n_elems, &err);
    CHECKF(st == ESFT_OK, "%s: %s", name, err.msg);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < fx.n_elems; i++) {
        if (!same_f32(out[i], fx.f32[i])) {
            if (!bad) first = i;
            bad++;
        }
    }
    CHECKF(bad == 0, "%s: %zu of %u values differ; first at %zu: got %.9g (%08x) want %.9g (%08x)",
           name, bad, fx.n_elems, first, out[first], esft_f32_bits(out[first]), fx.f32[first],
           esft_f32_bits(fx.f32[first]));
    printf("%-26s %6u values from gguf-py: %s\n", name, fx.n_elems, bad ? "MISMATCH" : "bit-exact");

    /* Large inputs go through the OpenMP path: tile the fixture's blocks far
     * past the parallel threshold and compare block by block. */
    size_t be = esft_ggml_block_elems(expect_type), bb = esft_ggml_block_bytes(expect_type);
    size_t nb_fx = fx.n_bytes / bb, nb = be == 1 ? 300000 : 40000;
    uint8_t *big = malloc(nb * bb);
    float *bigout = malloc(nb * be * 4);
    for (size_t i = 0; i < nb; i++) memcpy(big + i * bb, fx.bytes + (i % nb_fx) * bb, bb);
    st = esft_ggml_dequantize(expect_type, big, bigout, nb * be, &err);
    CHECK(st == ESFT_OK);
    bad = 0;
    for (size_t i = 0; i < nb * be; i++) {
        size_t blk = i / be, j = i % be;
        if (!same_f32(bigout[i], fx.f32[(blk % nb_fx) * be + j])) bad++;
    }
    CHECKF(bad == 0, "%s: tiled (parallel) dequantisation differs in %zu values", name, bad);
    free(big);
    free(bigout);
    free(out);
    free_fixture(&fx);
}

static void test_quantize_fixture(const char *name, ggml_type t) {
    fixture fx = {0};
    CHECKF(load_fixture(name, &fx), "%s", name);
    if (!fx.buf) return;
    CHECK(fx.kind == 1 && fx.type == (uint32_t)t);
    uint8_t *out = malloc(fx.n_bytes);
    esft_err err = {{0}};
    esft_status st = esft_ggml_quantize(t, fx.f32, out, fx.n_elems, &err);
    CHECKF(st == ESFT_OK, "%s: %s", name, err.msg);
    size_t bad = 0, first = 0;
    if (t == GGML_TYPE_F16) {
        for (size_t i = 0; i < fx.n_elems; i++) {
            uint16_t got = (uint16_t)(out[2 * i] | out[2 * i + 1] << 8);
            uint16_t want = (uint16_t)(fx.bytes[2 * i] | fx.bytes[2 * i + 1] << 8);
            bool gn = (got & 0x7c00) == 0x7c00 && (got & 0x3ff);
            bool wn = (want & 0x7c00) == 0x7c00 && (want & 0x3ff);
            /* NaNs: any quiet NaN of the right sign (payload may differ). */
            bool ok = (gn || wn) ? (gn && wn && (got & 0x8000) == (want & 0x8000) && (got & 0x200))
                                 : got == want;
            CHECK(esft_f32_to_f16(fx.f32[i]) == got);
            if (!ok && !bad++) first = i;
        }
    } else {
        for (size_t i = 0; i < fx.n_bytes; i++)
            if (out[i] != fx.bytes[i] && !bad++) first = i;
        if (t == GGML_TYPE_BF16)
            for (size_t i = 0; i < fx.n_elems; i++)
                CHECK(esft_f32_to_bf16(fx.f32[i]) ==
                      (uint16_t)(fx.bytes[2 * i] | fx.bytes[2 * i + 1] << 8));
    }
    CHECKF(bad == 0, "%s: %zu mismatches, first at %zu (input %.9g = %08x)", name, bad, first,
           fx.f32[t == GGML_TYPE_Q8_0 ? first / 34 * 32 : first / (t == GGML_TYPE_F16 ? 1 : 2)],
           esft_f32_bits(fx.f32[t == GGML_TYPE_Q8_0 ? first / 34 * 32 : first / (t == GGML_TYPE_F16 ? 1 : 2)]));
    printf("%-26s %6u inputs vs gguf-py/numpy: %s\n", name, fx.n_elems, bad ? "MISMATCH" : "bit-exact");
    free(out);
    free_fixture(&fx);
}

static void test_f16_specials(void) {
    CHECK(esft_f16_to_f32(0x0000) == 0.0f && !signbit(esft_f16_to_f32(0x0000)));
    CHECK(esft_f16_to_f32(0x8000) == 0.0f && signbit(esft_f16_to_f32(0x8000)));
    CHECK(esft_f16_to_f32(0x3c00) == 1.0f);
    CHECK(esft_f16_to_f32(0xc000) == -2.0f);
    CHECK(esft_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(esft_f16_to_f32(0x0400) == ldexpf(1.0f, -14));  /* smallest normal */
    CHECK(esft_f16_to_f32(0x0001) == ldexpf(1.0f, -24));  /* smallest subnormal */
    CHECK(esft_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24));
    CHECK(isinf(esft_f16_to_f32(0x7c00)) && esft_f16_to_f32(0x7c00) > 0);
    CHECK(isinf(esft_f16_to_f32(0xfc00)) && esft_f16_to_f32(0xfc00) < 0);
    CHECK(isnan(esft_f16_to_f32(0x7e00)) && isnan(esft_f16_to_f32(0x7c01)));
    CHECK(esft_f32_bits(esft_f16_to_f32(0x7e00)) == 0x7fc00000u);

    CHECK(esft_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(esft_f32_to_f16(nextafterf(65520.0f, 0.0f)) == 0x7bff); /* just below the tie */
    CHECK(esft_f32_to_f16(65520.0f) == 0x7c00);                    /* tie -> even = inf */
    CHECK(esft_f32_to_f16(1e30f) == 0x7c00 && esft_f32_to_f16(-1e30f) == 0xfc00);
    CHECK(esft_f32_to_f16(INFINITY) == 0x7c00 && esft_f32_to_f16(-INFINITY) == 0xfc00);
    uint16_t qn = esft_f32_to_f16(NAN);
    CHECK((qn & 0x7c00) == 0x7c00 && (qn & 0x0200)); /* quiet NaN */
    uint16_t sn = esft_f32_to_f16(esft_bits_f32(0x7f800001u)); /* signalling, payload in low bits */
    CHECK((sn & 0x7c00) == 0x7c00 && (sn & 0x03ff) != 0);
    CHECK(esft_f32_to_f16(-0.0f) == 0x8000);
    CHECK(esft_f32_to_f16(ldexpf(1.0f, -25)) == 0x0000);       /* tie 0 | 1 ulp -> 0 */
    CHECK(esft_f32_to_f16(ldexpf(3.0f, -25)) == 0x0002);       /* tie 1 | 2 -> 2 */
    CHECK(esft_f32_to_f16(ldexpf(5.0f, -25)) == 0x0002);       /* tie 2 | 3 -> 2 */
    CHECK(esft_f32_to_f16(nextafterf(ldexpf(1.0f, -25), 1.0f)) == 0x0001);
    CHECK(esft_f32_to_f16(ldexpf(1023.5f, -24)) == 0x0400);    /* subnormal rounds up to normal */
    CHECK(esft_f32_to_f16(1.0f + ldexpf(1.0f, -11)) == 0x3c00); /* tie -> even */
    CHECK(esft_f32_to_f16(1.0f + ldexpf(3.0f, -11)) == 0x3c02);
    CHECK(esft_f32_to_f16(1e-10f) == 0x0000);

    /* Round trip of every f16 value. */
    size_t bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = esft_f16_to_f32((uint16_t)h);
        uint16_t back = esft_f32_to_f16(f);
        bool isn = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (isn ? !(isnan(f) && (back & 0x7c00) == 0x7c00 && (back & 0x3ff)) : back != h) bad++;
    }
    CHECKF(bad == 0, "%zu f16 values do not round-trip", bad);
}

static void test_bf16_specials(void) {
    CHECK(esft_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(esft_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(esft_f32_to_bf16(esft_bits_f32(0x3f808000u)) == 0x3f80); /* tie -> even (down) */
    CHECK(esft_f32_to_bf16(esft_bits_f32(0x3f818000u)) == 0x3f82); /* tie -> even (up) */
    CHECK(esft_f32_to_bf16(esft_bits_f32(0x3f808001u)) == 0x3f81);
    CHECK(esft_f32_to_bf16(esft_bits_f32(0x7f7fffffu)) == 0x7f80); /* max f32 rounds to inf */
    CHECK(esft_f32_to_bf16(INFINITY) == 0x7f80 && esft_f32_to_bf16(-INFINITY) == 0xff80);
    CHECK(esft_f32_to_bf16(esft_bits_f32(0x7f800001u)) == 0x7fc0); /* sNaN -> quiet NaN */
    CHECK(esft_f32_to_bf16(esft_bits_f32(0xffc00000u)) == 0xffc0);
    CHECK(esft_f32_to_bf16(esft_bits_f32(0x00000001u)) == 0x0000); /* tiny subnormal */
    CHECK(esft_f32_to_bf16(-0.0f) == 0x8000);
    CHECK(isnan(esft_bf16_to_f32(0x7fc1)) && isinf(esft_bf16_to_f32(0xff80)));
    size_t bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = esft_bf16_to_f32((uint16_t)h);
        if (esft_f32_bits(f) != h << 16) bad++;
        uint16_t back = esft_f32_to_bf16(f);
        bool isn = (h & 0x7f80) == 0x7f80 && (h & 0x7f);
        if (isn ? back != (h | 0x40) : back != h) bad++;
    }
    CHECKF(bad == 0, "%zu bf16 values do not round-trip", bad);
}

static uint32_t rng_state = 12345;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / 8388608.0f - 1.0f;
}

static void test_q8_0_roundtrip(void) {
    enum { NB = 512, N = NB * 32 };
    float *x = malloc(N * 4), *y = malloc(N * 4);
    uint8_t *q = malloc(NB * 34);
    for (int i = 0; i < N; i++) x[i] = frand() * ldexpf(1.0f, (i / 32) % 40 - 30);
    esft_err err;
    CHECK(esft_ggml_quantize(GGML_TYPE_Q8_0, x, q, N, &err) == ESFT_OK);
    CHECK(esft_ggml_dequantize(GGML_TYPE_Q8_0, q, y, N, &err) == ESFT_OK);
    size_t bad = 0;
    for (int b = 0; b < NB; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        float d = esft_f16_to_f32((uint16_t)(q[b * 34] | q[b * 34 + 1] << 8));
        /* rounding error d/2 plus the f16 rounding of d (rel 2^-11) times |q| <= 127 */
        float bound = 0.5f * d + 127.0f * d * ldexpf(1.0f, -11) + ldexpf(1.0f, -24) * 128.0f;
        CHECK(fabsf(d - amax / 127.0f) <= amax / 127.0f * ldexpf(1.0f, -10) + ldexpf(1.0f, -24));
        for (int j = 0; j < 32; j++)
            if (!(fabsf(x[b * 32 + j] - y[b * 32 + j]) <= bound)) bad++;
    }
    CHECKF(bad == 0, "%zu q8_0 values outside the error bound", bad);
    /* Non-finite or too-large inputs cannot be represented. */
    x[5] = NAN;
    CHECK(esft_ggml_quantize(GGML_TYPE_Q8_0, x, q, N, &err) == ESFT_ERR_INVALID_ARG && err.msg[0]);
    x[5] = INFINITY;
    CHECK(esft_ggml_quantize(GGML_TYPE_Q8_0, x, q, N, &err) == ESFT_ERR_INVALID_ARG);
    x[5] = 1e10f;
    CHECK(esft_ggml_quantize(GGML_TYPE_Q8_0, x, q, N, &err) == ESFT_ERR_INVALID_ARG);
    /* the scale max|x| / 127 rounds to f16 infinity from 65520 on */
    x[5] = -65520.0f * 127.0f;
    CHECK(esft_ggml_quantize(GGML_TYPE_Q8_0, x, q, N, &err) == ESFT_ERR_INVALID_ARG);
    x[5] = nextafterf(65520.0f * 127.0f, 0.0f);
    CHECK(esft_ggml_quantize(GGML_TYPE_Q8_0, x, q, N, &err) == ESFT_OK && ((q[5 / 32 * 34 + 1] << 8) & 0x7c00) != 0x7c00);
    CHECK(esft_ggml_quantize(GGML_TYPE_Q8_0, x, q, 31, &err) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_ggml_quantize(GGML_TYPE_Q4_K, x, q, 256, &err) == ESFT_ERR_UNSUPPORTED);
    /* F32 export is a copy; F16/BF16 agree with the scalar conversions. */
    x[5] = 0.25f;
    float *c = malloc(N * 4);
    CHECK(esft_ggml_quantize(GGML_TYPE_F32, x, c, N, &err) == ESFT_OK && memcmp(c, x, N * 4) == 0);
    free(c);
    free(x);
    free(y);
    free(q);
}

static void test_type_table(void) {
    /* Block sizes as listed in gguf-py's GGML_QUANT_SIZES (ggml's layouts). */
    static const struct { ggml_type t; size_t be, bb; const char *name; } tab[] = {
        {GGML_TYPE_F32, 1, 4, "f32"},         {GGML_TYPE_F16, 1, 2, "f16"},
        {GGML_TYPE_Q4_0, 32, 18, "q4_0"},     {GGML_TYPE_Q4_1, 32, 20, "q4_1"},
        {GGML_TYPE_Q5_0, 32, 22, "q5_0"},     {GGML_TYPE_Q5_1, 32, 24, "q5_1"},
        {GGML_TYPE_Q8_0, 32, 34, "q8_0"},     {GGML_TYPE_Q8_1, 32, 36, "q8_1"},
        {GGML_TYPE_Q2_K, 256, 84, "q2_k"},    {GGML_TYPE_Q3_K, 256, 110, "q3_k"},
        {GGML_TYPE_Q4_K, 256, 144, "q4_k"},   {GGML_TYPE_Q5_K, 256, 176, "q5_k"},
        {GGML_TYPE_Q6_K, 256, 210, "q6_k"},   {GGML_TYPE_Q8_K, 256, 292, "q8_k"},
        {GGML_TYPE_IQ2_XXS, 256, 66, "iq2_xxs"}, {GGML_TYPE_IQ2_XS, 256, 74, "iq2_xs"},
        {GGML_TYPE_IQ3_XXS, 256, 98, "iq3_xxs"}, {GGML_TYPE_IQ1_S, 256, 50, "iq1_s"},
        {GGML_TYPE_IQ4_NL, 32, 18, "iq4_nl"}, {GGML_TYPE_IQ3_S, 256, 110, "iq3_s"},
        {GGML_TYPE_IQ2_S, 256, 82, "iq2_s"},  {GGML_TYPE_IQ4_XS, 256, 136, "iq4_xs"},
        {GGML_TYPE_I8, 1, 1, "i8"},           {GGML_TYPE_I16, 1, 2, "i16"},
        {GGML_TYPE_I32, 1, 4, "i32"},         {GGML_TYPE_I64, 1, 8, "i64"},
        {GGML_TYPE_F64, 1, 8, "f64"},         {GGML_TYPE_IQ1_M, 256, 56, "iq1_m"},
        {GGML_TYPE_BF16, 1, 2, "bf16"},       {GGML_TYPE_TQ1_0, 256, 54, "tq1_0"},
        {GGML_TYPE_TQ2_0, 256, 66, "tq2_0"},  {GGML_TYPE_MXFP4, 32, 17, "mxfp4"},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        CHECKF(esft_ggml_type_known(tab[i].t), "%s", tab[i].name);
        CHECKF(esft_ggml_block_elems(tab[i].t) == tab[i].be && esft_ggml_block_bytes(tab[i].t) == tab[i].bb,
               "%s: %zu/%zu", tab[i].name, esft_ggml_block_elems(tab[i].t), esft_ggml_block_bytes(tab[i].t));
        CHECK(strcmp(esft_ggml_type_name(tab[i].t), tab[i].name) == 0);
        ggml_type t;
        CHECK(esft_ggml_type_from_name(tab[i].name, &t) && t == tab[i].t);
    }
    ggml_type t;
    CHECK(esft_ggml_type_from_name("Q4_K", &t) && t == GGML_TYPE_Q4_K);
    CHECK(esft_ggml_type_from_name("BF16", &t) && t == GGML_TYPE_BF16);
    CHECK(!esft_ggml_type_from_name("q4_2", &t) && !esft_ggml_type_from_name("", &t));
    /* Removed / never-assigned ids are unknown. */
    static const uint32_t unknown[] = {4, 5, 31, 32, 33, 36, 37, 38, 42, 99, 1000, 0xffffffffu};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECKF(!esft_ggml_type_known(unknown[i]), "type %u", unknown[i]);
        CHECK(strcmp(esft_ggml_type_name((ggml_type)unknown[i]), "unknown") == 0);
        CHECK(esft_ggml_block_bytes((ggml_type)unknown[i]) == 0);
    }
    static const ggml_type deq[] = {GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0,
                                    GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0,
                                    GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K,
                                    GGML_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof deq / sizeof deq[0]; i++) CHECK(esft_ggml_type_dequantizable(deq[i]));
    CHECK(!esft_ggml_type_dequantizable(GGML_TYPE_Q8_K) && !esft_ggml_type_dequantizable(GGML_TYPE_IQ2_XXS));
    CHECK(!esft_ggml_type_dequantizable((ggml_type)99));

    /* Row sizes. */
    uint64_t b = 0;
    esft_err err = {{0}};
    CHECK(esft_ggml_row_bytes(GGML_TYPE_Q4_K, 576 * 256, &b, &err) == ESFT_OK && b == 576 * 144);
    CHECK(esft_ggml_row_bytes(GGML_TYPE_F32, 7, &b, &err) == ESFT_OK && b == 28);
    CHECK(esft_ggml_row_bytes(GGML_TYPE_Q4_K, 255, &b, &err) != ESFT_OK && err.msg[0]);
    CHECK(esft_ggml_row_bytes(GGML_TYPE_Q4_0, 48, &b, &err) != ESFT_OK);
    CHECK(esft_ggml_row_bytes(GGML_TYPE_F32, UINT64_MAX, &b, &err) != ESFT_OK);         /* overflow */
    CHECK(esft_ggml_row_bytes(GGML_TYPE_F32, (UINT64_MAX / 4) + 1, &b, &err) != ESFT_OK);
    CHECK(esft_ggml_row_bytes(GGML_TYPE_F32, UINT64_MAX / 4, &b, &err) == ESFT_OK);
    CHECK(esft_ggml_row_bytes(GGML_TYPE_F64, (uint64_t)1 << 61, &b, &err) != ESFT_OK);   /* 2^64 bytes */
    CHECK(esft_ggml_row_bytes(GGML_TYPE_Q8_K, UINT64_MAX - 255, &b, &err) != ESFT_OK); /* (2^56-1)*292 */
    CHECK(esft_ggml_row_bytes(GGML_TYPE_Q4_0, UINT64_MAX - 31, &b, &err) == ESFT_OK && b == (UINT64_MAX / 32) * 18);
    CHECK(esft_ggml_row_bytes((ggml_type)99, 32, &b, &err) != ESFT_OK);

    /* Dequantisation argument errors. */
    float out[256];
    uint8_t zeros[292] = {0};
    CHECK(esft_ggml_dequantize(GGML_TYPE_Q4_0, zeros, out, 33, &err) == ESFT_ERR_INVALID_ARG && err.msg[0]);
    CHECK(esft_ggml_dequantize(GGML_TYPE_Q8_K, zeros, out, 256, &err) == ESFT_ERR_UNSUPPORTED &&
          strstr(err.msg, "q8_k"));
    CHECK(esft_ggml_dequantize((ggml_type)99, zeros, out, 32, &err) != ESFT_OK);
    CHECK(esft_ggml_dequantize(GGML_TYPE_Q4_K, zeros, out, 256, &err) == ESFT_OK && out[0] == 0.0f &&
          out[255] == 0.0f);
}

static void bench(void) {
    /* Informational only: dequantisation throughput on a 16M-element tensor. */
    const size_t n = (size_t)1 << 24;
    static const ggml_type ts[] = {GGML_TYPE_Q4_1, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K, GGML_TYPE_Q8_0};
    const size_t nsrc = n / 32 * 34; /* the largest of the four */
    uint8_t *src = malloc(nsrc);
    float *dst = malloc(n * 4);
    if (!src || !dst) return;
    for (size_t i = 0; i < nsrc; i++) src[i] = (uint8_t)(i * 2654435761u >> 13) & 0x3b;
    esft_ggml_dequantize(GGML_TYPE_Q8_0, src, dst, n, NULL); /* warm-up: threads, page faults */
    for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        esft_status st = esft_ggml_dequantize(ts[k], src, dst, n, NULL);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double s = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
        CHECK(st == ESFT_OK);
        printf("dequantize %-5s: %.0f M elements/s\n", esft_ggml_type_name(ts[k]), (double)n / s / 1e6);
    }
    free(src);
    free(dst);
}

int main(void) {
    static const struct { const char *file; ggml_type t; } deq[] = {
        {"quant_f16.bin", GGML_TYPE_F16},   {"quant_bf16.bin", GGML_TYPE_BF16},
        {"quant_q4_0.bin", GGML_TYPE_Q4_0}, {"quant_q4_1.bin", GGML_TYPE_Q4_1},
        {"quant_q5_0.bin", GGML_TYPE_Q5_0}, {"quant_q5_1.bin", GGML_TYPE_Q5_1},
        {"quant_q8_0.bin", GGML_TYPE_Q8_0}, {"quant_q2_k.bin", GGML_TYPE_Q2_K},
        {"quant_q3_k.bin", GGML_TYPE_Q3_K}, {"quant_q4_k.bin", GGML_TYPE_Q4_K},
        {"quant_q5_k.bin", GGML_TYPE_Q5_K}, {"quant_q6_k.bin", GGML_TYPE_Q6_K},
    };
    for (size_t i = 0; i < sizeof deq / sizeof deq[0]; i++) test_dequant_fixture(deq[i].file, deq[i].t);
    test_quantize_fixture("quant_f16_from_f32.bin", GGML_TYPE_F16);
    test_quantize_fixture("quant_bf16_from_f32.bin", GGML_TYPE_BF16);
    test_quantize_fixture("quant_q8_0_from_f32.bin", GGML_TYPE_Q8_0);
    test_f16_specials();
    test_bf16_specials();
    test_q8_0_roundtrip();
    test_type_table();
    bench();
    return TEST_EXIT();
}
