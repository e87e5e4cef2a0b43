/* The cpu backend's 16-bit working copy (--work-dtype bf16|f16): perturb
 * into bf16 must give, element for element, the f32 working copy (perturb
 * into f32 with the same seed) rounded to nearest even, checked against a
 * rounding written here from the definition (the nearer of the two bf16
 * neighbours, ties to the even one, overflow past the largest bf16 to
 * infinity) over random weights and over special values (ties, the largest
 * finite, subnormals, infinities, NaN); f16 against esft_half.h's scalar
 * conversion. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu/cpu_backend.h"
#include "esft_half.h"
#include "testutil.h"

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* |value| of the bf16 whose f32 bits are b (b's top half), where the bits
 * just past the largest finite bf16 stand for 2^128: rounding behaves as if
 * the exponent went on, then overflows to infinity. */
static double bf16_magnitude(uint32_t b) {
    b &= 0x7fffffffu;
    return b >= 0x7f800000u ? ldexp(1.0, 128) : fabs((double)float_of(b));
}

/* f rounded to bf16 by the definition; NaN is checked by the caller. */
static uint16_t reference_bf16(float f) {
    const uint32_t b = bits_of(f), down = b & 0xffff0000u, up = down + 0x10000u;
    if ((b & 0x7fffffffu) >= 0x7f800000u) return (uint16_t)(b >> 16); /* infinity */
    const double d = fabs((double)f), to_down = d - bf16_magnitude(down), to_up = bf16_magnitude(up) - d;
    if (to_down < to_up) return (uint16_t)(down >> 16);
    if (to_up < to_down) return (uint16_t)(up >> 16);
    return (down >> 16) & 1u ? (uint16_t)(up >> 16) : (uint16_t)(down >> 16);
}

/* Whether the 16-bit value h (dtype wd) is the expected rounding of f. */
static bool cast_matches(uint16_t h, float f, esft_dtype wd) {
    if (isnan(f)) /* any NaN of the same sign */
        return wd == ESFT_BF16 ? isnan(esft_bf16_to_f32(h)) && (h >> 15) == (bits_of(f) >> 31)
                               : isnan(esft_f16_to_f32(h)) && (h >> 15) == (bits_of(f) >> 31);
    return h == (wd == ESFT_BF16 ? reference_bf16(f) : esft_f32_to_f16(f));
}

/* Master weights: random, and (from index 0) special values. */
static float *make_master(size_t n) {
    static const uint32_t special[] = {
        0x3f808000u, /* tie between 1 and 1 + 2^-7, even below */
        0x3f818000u, /* tie, even above */
        0x3f808001u, /* just past a tie */
        0x3f807fffu, /* just short of a tie */
        0x7f7fffffu, /* largest f32: rounds up to infinity in bf16 */
        0x7f7f7fffu, /* stays the largest finite bf16 */
        0x7f7f8000u, /* the tie at the top: to infinity (even) */
        0x00000001u, /* smallest subnormal */
        0x807fffffu, /* largest negative subnormal */
        0x7f800000u, 0xff800000u, /* infinities */
        0x7fc00000u, 0xffc00001u, 0x7f800001u, /* NaNs: quiet, negative, signalling */
        0x477fe000u, 0x477ff000u, /* f16: the largest finite, and the tie above it (to inf) */
        0x33000000u, 0x33000001u, /* f16: half its smallest subnormal (to 0), just over (up) */
    };
    float *m = malloc(n * sizeof *m);
    if (!m) return NULL;
    uint64_t s = 0x2545F4914F6CDD1Dull;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        /* spread over many exponents so that every rounding case occurs */
        m[i] = ldexpf((float)(s >> 40) / 16777216.0f - 0.5f, (int)(s % 40) - 20);
    }
    for (size_t i = 0; i < sizeof special / sizeof special[0] && i < n; i++) m[i] = float_of(special[i]);
    return m;
}

/* perturb into f32 and into wd with the same seed; every element of the
 * 16-bit copy must be the f32 copy's rounding. sigma 0 keeps the special
 * values as they are. */
static void check_cast(esft_backend *be, esft_dtype wd, float sigma) {
    const size_t n = 100003; /* not a multiple of the 64-element noise groups */
    float *m = make_master(n), *w32 = malloc(n * sizeof *w32);
    uint16_t *w16 = malloc(n * sizeof *w16);
    esft_buf master = {0}, work32 = {0}, work16 = {0};
    if (!m || !w32 || !w16 || esft_buf_alloc(be, &master, ESFT_F32, n) ||
        esft_buf_alloc(be, &work32, ESFT_F32, n) || esft_buf_alloc(be, &work16, wd, n)) {
        CHECKF(0, "out of memory");
    } else {
        esft_upload(&master, 0, m, n);
        CHECK(esft_perturb(be, &work32, &master, n, 7, 0x1234567890ull, sigma) == ESFT_OK);
        CHECK(esft_perturb(be, &work16, &master, n, 7, 0x1234567890ull, sigma) == ESFT_OK);
        esft_download(&work32, 0, w32, n);
        esft_download(&work16, 0, w16, n);
        size_t bad = 0, first = n;
        for (size_t i = 0; i < n; i++)
            if (!cast_matches(w16[i], w32[i], wd)) bad++, first = first < n ? first : i;
        CHECKF(bad == 0, "%s sigma %g: %zu of %zu casts differ, first at %zu (f32 %a -> 0x%04x)",
               esft_dtype_name(wd), sigma, bad, n, first, first < n ? w32[first] : 0.0f,
               first < n ? w16[first] : 0);
        printf("%-4s sigma %-6g %zu elements, %zu differ\n", esft_dtype_name(wd), sigma, n, bad);
    }
    esft_buf_free(&master), esft_buf_free(&work32), esft_buf_free(&work16);
    free(m), free(w32), free(w16);
}

int main(void) {
    /* the definition itself, on hand-picked cases */
    CHECK(reference_bf16(float_of(0x3f808000u)) == 0x3f80);
    CHECK(reference_bf16(float_of(0x3f818000u)) == 0x3f82);
    CHECK(reference_bf16(float_of(0x7f7f8000u)) == 0x7f80);
    CHECK(reference_bf16(float_of(0x7f7f7fffu)) == 0x7f7f);
    esft_backend_options o = {.n_threads = 2};
    esft_backend *be = NULL;
    esft_err err = {{0}};
    if (esft_cpu_backend_create(&o, &be, &err)) {
        CHECKF(0, "cpu backend: %s", err.msg);
        return TEST_EXIT();
    }
    for (int d = 0; d < 2; d++) {
        const esft_dtype wd = d ? ESFT_F16 : ESFT_BF16;
        check_cast(be, wd, 0.0f);
        check_cast(be, wd, 1e-3f);
    }
    esft_backend_destroy(be);
    return TEST_EXIT();
}
