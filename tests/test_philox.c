/* The ES noise of DESIGN.md §1: Philox4x32-10 known answers, tensor ids,
 * member seeds, pinned eps values, and the cpu backend's vectorised noise and
 * philox ops against an independent scalar reference written here (its own
 * Philox rounds, libm in double precision). */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "esft_philox.h"
#include "noise.h"
#include "registry.h"
#include "ref_noise.h"
#include "testutil.h"

static uint32_t ref_fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* ------------------------------------------------------------------ tests */

static void test_known_answers(void) {
    static const struct {
        uint32_t ctr[4];
        uint32_t key[2];
        uint32_t out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t v = 0; v < sizeof kat / sizeof kat[0]; v++) {
        esft_u32x4 c = {kat[v].ctr[0], kat[v].ctr[1], kat[v].ctr[2], kat[v].ctr[3]};
        esft_u32x4 r = esft_philox4x32_10(c, kat[v].key[0], kat[v].key[1]);
        CHECKF(r.x0 == kat[v].out[0] && r.x1 == kat[v].out[1] && r.x2 == kat[v].out[2] &&
                   r.x3 == kat[v].out[3],
               "kat %zu: %08x %08x %08x %08x", v, r.x0, r.x1, r.x2, r.x3);
        uint32_t o[4];
        ref_philox(kat[v].ctr, (uint64_t)kat[v].key[1] << 32 | kat[v].key[0], o);
        CHECKF(memcmp(o, kat[v].out, sizeof o) == 0, "reference philox kat %zu", v);
    }
}

static void test_ids_and_seeds(void) {
    CHECKF(esft_tensor_id("blk.0.attn_q.weight") == 0x17265f1bu, "%08x",
           esft_tensor_id("blk.0.attn_q.weight"));
    CHECK(esft_tensor_id("") == 0x811C9DC5u);
    const char *names[] = {"token_embd.weight", "output_norm.weight", "blk.29.ffn_down.weight",
                           "blk.1.attn_k.bias"};
    for (size_t i = 0; i < 4; i++) CHECK(esft_tensor_id(names[i]) == ref_fnv1a(names[i]));
    CHECKF(esft_member_seed(42, 0, 0) == 0x6310bf04d8207f46ull, "%016" PRIx64,
           esft_member_seed(42, 0, 0));
    /* distinct seeds over a grid of (t, k) */
    enum { NT = 64, NK = 64 };
    static uint64_t s[NT * NK];
    for (int t = 0; t < NT; t++)
        for (int k = 0; k < NK; k++) s[t * NK + k] = esft_member_seed(42, (uint64_t)t, (uint64_t)k);
    int dup = 0;
    for (int i = 0; i < NT * NK; i++)
        for (int j = i + 1; j < NT * NK; j++) dup += s[i] == s[j];
    CHECKF(dup == 0, "%d duplicate member seeds", dup);
    CHECK(esft_member_seed(42, 1, 0) != esft_member_seed(42, 0, 1));
    CHECK(esft_member_seed(43, 0, 0) != esft_member_seed(42, 0, 0));
}

static const uint64_t pin_i[7] = {0, 1, 2, 3, 4, 1000003, (1ull << 32) + 5};
static const double pin_v[7] = {-1.6052890, -0.9071112, -1.0336072, -0.2485887,
                                0.4130663,  -0.6411101, 0.4528339};

static void test_pinned(void) {
    uint64_t seed = esft_member_seed(42, 0, 0);
    uint32_t tid = esft_tensor_id("blk.0.attn_q.weight");
    for (int j = 0; j < 7; j++) {
        CHECK_NEAR(esft_eps(seed, tid, pin_i[j]), pin_v[j], 2e-6);
        CHECK_NEAR(esft_eps_scalar(seed, tid, pin_i[j]), pin_v[j], 2e-6);
        CHECK_NEAR(ref_eps(seed, tid, pin_i[j]), pin_v[j], 2e-7);
    }
}

/* The header's scalar f32 eps against the double reference. */
static void test_scalar_accuracy(void) {
    uint64_t seed = esft_member_seed(7, 3, 11);
    uint32_t tid = esft_tensor_id("blk.3.ffn_up.weight");
    double max_abs = 0, max_rel = 0;
    for (uint64_t i = 0; i < 400000; i++) {
        double r = ref_eps(seed, tid, i);
        double d = fabs(esft_eps(seed, tid, i) - r);
        if (d > max_abs) max_abs = d;
        if (d / fmax(1.0, fabs(r)) > max_rel) max_rel = d / fmax(1.0, fabs(r));
    }
    printf("scalar eps vs double reference: max abs %.3g, max normalised %.3g\n", max_abs, max_rel);
    CHECKF(max_abs <= 2e-6, "max abs %g", max_abs);
    CHECKF(max_rel <= 1e-6, "max normalised %g", max_rel);
}

/* Statistics of the normals: mean ~ 0, variance ~ 1, tails present. */
static void test_moments(const float *z, size_t n) {
    double s = 0, s2 = 0, s4 = 0;
    size_t tail = 0;
    for (size_t i = 0; i < n; i++) {
        s += z[i];
        s2 += (double)z[i] * z[i];
        s4 += (double)z[i] * z[i] * z[i] * z[i];
        tail += fabsf(z[i]) > 3.0f;
    }
    double mean = s / n, var = s2 / n - mean * mean, kurt = s4 / n;
    CHECKF(fabs(mean) < 5.0 / sqrt((double)n), "mean %g", mean);
    CHECKF(fabs(var - 1.0) < 10.0 / sqrt((double)n), "variance %g", var);
    CHECKF(fabs(kurt - 3.0) < 40.0 / sqrt((double)n), "fourth moment %g", kurt);
    double ptail = (double)tail / n; /* P(|z| > 3) = 0.0026998 */
    CHECKF(fabs(ptail - 0.0026998) < 0.0004, "P(|z|>3) = %g", ptail);
}

typedef struct range {
    uint64_t first;
    size_t n;
} range;

static void test_backend_noise(esft_backend *be) {
    uint64_t seed = esft_member_seed(42, 0, 0);
    uint32_t tid = esft_tensor_id("blk.0.attn_q.weight");
    /* pinned values through the op */
    for (int j = 0; j < 7; j++) {
        esft_buf o;
        float v = 0;
        CHECK(esft_buf_alloc(be, &o, ESFT_F32, 1) == ESFT_OK);
        CHECK(esft_noise(be, &o, 1, pin_i[j], tid, seed) == ESFT_OK);
        CHECK(esft_download(&o, 0, &v, 1) == ESFT_OK);
        CHECK_NEAR(v, pin_v[j], 2e-6);
        esft_buf_free(&o);
    }
    /* ~1.2e6 indices, ranges with odd starts, one crossing element 2^32 and
     * one crossing block 2^32 (counter word carry) */
    const range rs[] = {{0, 400000},
                        {(1ull << 32) - 150001, 300003},
                        {(1ull << 34) - 100003, 200001},
                        {0xFFFFFFFFFFF00000ull, 100000},
                        {12345677, 200013}};
    double max_abs = 0, max_rel = 0;
    size_t bit_equal = 0, total = 0;
    for (size_t r = 0; r < sizeof rs / sizeof rs[0]; r++) {
        size_t n = rs[r].n;
        float *z = malloc(n * sizeof *z);
        esft_buf o;
        CHECK(esft_buf_alloc(be, &o, ESFT_F32, n) == ESFT_OK);
        CHECK(esft_noise(be, &o, n, rs[r].first, tid, seed) == ESFT_OK);
        CHECK(esft_download(&o, 0, z, n) == ESFT_OK);
        for (size_t i = 0; i < n; i++) {
            uint64_t gi = rs[r].first + i;
            double ref = ref_eps(seed, tid, gi);
            double d = fabs(z[i] - ref);
            if (d > max_abs) max_abs = d;
            if (d / fmax(1.0, fabs(ref)) > max_rel) max_rel = d / fmax(1.0, fabs(ref));
            bit_equal += z[i] == esft_eps(seed, tid, gi);
            total++;
        }
        if (n >= 200000) test_moments(z, n);
        /* offset independence: a sub-range starting anywhere is bit-identical */
        size_t off = 37 + r, m = n / 3;
        float *z2 = malloc(m * sizeof *z2);
        CHECK(esft_noise(be, &o, m, rs[r].first + off, tid, seed) == ESFT_OK);
        CHECK(esft_download(&o, 0, z2, m) == ESFT_OK);
        CHECKF(memcmp(z2, z + off, m * sizeof *z2) == 0, "noise at offset %zu differs", off);
        free(z2);
        esft_buf_free(&o);
        free(z);
    }
    printf("%s noise vs double reference over %zu indices: max abs %.3g, max normalised %.3g, "
           "%.4f%% bit-equal to the scalar header\n",
           be->kind, total, max_abs, max_rel, 100.0 * bit_equal / total);
    CHECKF(max_abs <= 2e-6, "max abs %g", max_abs);
    CHECKF(max_rel <= 1e-6, "max normalised %g", max_rel);
}

static void test_backend_philox(esft_backend *be) {
    const struct {
        uint64_t first;
        size_t n;
        uint32_t c2, c3;
        uint64_t key;
    } cs[] = {
        {0, 300001, 0, 0, 0},
        {0xFFFFFFFFull - 70000, 140001, 0x17265f1b, 0x45534654, 0x6310bf04d8207f46ull},
        {0xFFFFFFFFFFFFFFF0ull, 16, 0xffffffff, 0xffffffff, 0xffffffffffffffffull},
        {987654321, 77, 5, 6, 7},
    };
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        size_t n = cs[c].n;
        uint32_t *w = malloc(4 * n * sizeof *w);
        esft_buf o;
        CHECK(esft_buf_alloc(be, &o, ESFT_I32, 4 * n) == ESFT_OK);
        CHECK(esft_philox(be, &o, n, cs[c].first, cs[c].c2, cs[c].c3, cs[c].key) == ESFT_OK);
        CHECK(esft_download(&o, 0, w, 4 * n) == ESFT_OK);
        size_t bad = 0;
        for (size_t b = 0; b < n; b++) {
            uint64_t ctr = cs[c].first + b;
            uint32_t in[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), cs[c].c2, cs[c].c3}, x[4];
            ref_philox(in, cs[c].key, x);
            bad += memcmp(x, w + 4 * b, sizeof x) != 0;
        }
        CHECKF(bad == 0, "%s philox case %zu: %zu of %zu blocks differ", be->kind, c, bad, n);
        esft_buf_free(&o);
        free(w);
    }
    /* KAT through the op */
    uint32_t w[4];
    esft_buf o;
    CHECK(esft_buf_alloc(be, &o, ESFT_I32, 4) == ESFT_OK);
    CHECK(esft_philox(be, &o, 1, 0x85a308d3243f6a88ull, 0x13198a2e, 0x03707344,
                      0x299f31d0a4093822ull) == ESFT_OK);
    CHECK(esft_download(&o, 0, w, 4) == ESFT_OK);
    CHECK(w[0] == 0xd16cfe09 && w[1] == 0x94fdcceb && w[2] == 0x5001e420 && w[3] == 0x24126ea1);
    esft_buf_free(&o);
}

int main(void) {
    test_known_answers();
    test_ids_and_seeds();
    test_pinned();
    test_scalar_accuracy();

    const esft_backend_driver *cpu = esft_registry_find("cpu");
    CHECK(cpu != NULL);
    if (cpu) {
        esft_backend *be = NULL;
        esft_err err = {{0}};
        CHECKF(cpu->create(NULL, &be, &err) == ESFT_OK, "%s", err.msg);
        if (be) {
            test_backend_noise(be);
            test_backend_philox(be);
            esft_backend_destroy(be);
        }
    }
    return TEST_EXIT();
}
