/* The pure parts of ES: fitness shaping against hand-computed values,
 * update coefficients (plain and antithetic), batch selection, globs, and a
 * whole ES update on the backend against the naive sum of materialised
 * noise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "es.h"
#include "noise.h"
#include "ref_noise.h"
#include "registry.h"
#include "testutil.h"

static void test_zscore(void) {
    const double r[4] = {1, 2, 3, 4};
    double z[4];
    esft_shape_fitness(ESFT_SHAPING_ZSCORE, r, 4, z);
    /* mean 2.5, population std sqrt(1.25) */
    const double sd = sqrt(1.25);
    for (int k = 0; k < 4; k++) CHECK_NEAR(z[k], (r[k] - 2.5) / (sd + 1e-8), 1e-12);
    /* all equal: zero update, no division by zero */
    const double same[3] = {0.7, 0.7, 0.7};
    esft_shape_fitness(ESFT_SHAPING_ZSCORE, same, 3, z);
    for (int k = 0; k < 3; k++) CHECK(fabs(z[k]) < 1e-6);
    /* sum of z-scores is zero, population variance one */
    const double r2[5] = {0.1, 1.1, 0.6, 0.0, 0.6};
    double z2[5], s = 0, v = 0;
    esft_shape_fitness(ESFT_SHAPING_ZSCORE, r2, 5, z2);
    for (int k = 0; k < 5; k++) s += z2[k], v += z2[k] * z2[k];
    CHECK_NEAR(s, 0, 1e-12);
    CHECK_NEAR(v / 5, 1, 1e-6);
}

static void test_rank(void) {
    const double r[5] = {10, -3, 7, 7, 100};
    double z[5];
    esft_shape_fitness(ESFT_SHAPING_RANK, r, 5, z);
    /* ranks: -3 -> 0, 7,7 -> 1.5 each, 10 -> 3, 100 -> 4; z = rank/4 - 0.5 */
    const double want[5] = {3 / 4.0 - 0.5, -0.5, 1.5 / 4 - 0.5, 1.5 / 4 - 0.5, 0.5};
    for (int k = 0; k < 5; k++) CHECK_NEAR(z[k], want[k], 1e-15);
    const double raw[3] = {0.25, -1, 3};
    esft_shape_fitness(ESFT_SHAPING_RAW, raw, 3, z);
    for (int k = 0; k < 3; k++) CHECK(z[k] == raw[k]);
    esft_shaping s;
    CHECK(esft_shaping_from_name("rank", &s) && s == ESFT_SHAPING_RANK);
    CHECK(!esft_shaping_from_name("softmax", &s));
}

static void test_coefficients(void) {
    const double z[4] = {1.0, -0.5, 0.25, 2.0};
    uint64_t seeds[4];
    float coeffs[4];
    int n = esft_es_coefficients(42, 3, z, 4, 0.0005f, false, seeds, coeffs);
    CHECK(n == 4);
    for (int k = 0; k < 4; k++) {
        CHECK(seeds[k] == esft_member_seed(42, 3, (uint64_t)k));
        CHECK_NEAR(coeffs[k], (double)0.0005f / 4 * z[k], 3e-11);
    }
    n = esft_es_coefficients(42, 3, z, 4, 0.0005f, true, seeds, coeffs);
    CHECK(n == 2);
    CHECK(seeds[0] == esft_member_seed(42, 3, 0) && seeds[1] == esft_member_seed(42, 3, 1));
    CHECK_NEAR(coeffs[0], (double)0.0005f / 4 * (1.0 - -0.5), 3e-11);
    CHECK_NEAR(coeffs[1], (double)0.0005f / 4 * (0.25 - 2.0), 3e-11);
    float sign;
    CHECK(esft_es_member(42, 3, 3, true, &sign) == esft_member_seed(42, 3, 1) && sign == -1.0f);
    CHECK(esft_es_member(42, 3, 2, true, &sign) == esft_member_seed(42, 3, 1) && sign == 1.0f);
    CHECK(esft_es_member(42, 3, 3, false, &sign) == esft_member_seed(42, 3, 3) && sign == 1.0f);
    /* every member of every iteration gets a distinct seed */
    int dup = 0;
    uint64_t all[64];
    for (int t = 0; t < 8; t++)
        for (int k = 0; k < 8; k++) all[t * 8 + k] = esft_member_seed(7, (uint64_t)t, (uint64_t)k);
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < i; j++) dup += all[i] == all[j];
    CHECK(dup == 0);
}

static void test_batch(void) {
    int a[16], b[16], c[16];
    esft_select_batch(5, 0, 100, 16, a);
    esft_select_batch(5, 0, 100, 16, b);
    esft_select_batch(5, 1, 100, 16, c);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    bool ok = true;
    for (int i = 0; i < 16; i++) ok &= a[i] >= 0 && a[i] < 100 && (i == 0 || a[i] > a[i - 1]);
    CHECK(ok); /* sorted and distinct */
    int all[10];
    esft_select_batch(5, 0, 10, 200, all);
    for (int i = 0; i < 10; i++) CHECK(all[i] == i);
    /* every index gets picked at a sane rate over many iterations */
    int hits[100] = {0};
    for (int t = 0; t < 500; t++) {
        esft_select_batch(9, (uint64_t)t, 100, 10, a);
        for (int i = 0; i < 10; i++) hits[a[i]]++;
    }
    int lo = 1 << 30, hi = 0;
    for (int i = 0; i < 100; i++) lo = hits[i] < lo ? hits[i] : lo, hi = hits[i] > hi ? hits[i] : hi;
    CHECKF(lo > 20 && hi < 90, "batch picks uneven: %d..%d (expected ~50)", lo, hi);
}

static void test_glob(void) {
    CHECK(esft_glob_match("*", "blk.0.attn_q.weight"));
    CHECK(esft_glob_match("blk.*.attn_?.weight", "blk.12.attn_k.weight"));
    CHECK(!esft_glob_match("blk.*.ffn_*", "token_embd.weight"));
    CHECK(esft_glob_match("*norm*", "output_norm.weight"));
}

/* One ES iteration's update through the backend equals the naive sum with
 * every ε materialised (double precision reference), to 1e-6 relative. */
static void test_update_vs_naive(void) {
    esft_backend *be = NULL;
    esft_err err = {{0}};
    esft_backend_options bo = {0};
    CHECKF(esft_backend_open("cpu", &bo, &be, &err) == ESFT_OK, "%s", err.msg);
    if (!be) return;
    const size_t n = 100003;
    const int N = 30;
    const uint32_t tid = esft_tensor_id("blk.7.ffn_down.weight");
    float *theta = malloc(n * sizeof *theta), *got = malloc(n * sizeof *got);
    for (size_t i = 0; i < n; i++) theta[i] = (float)sin((double)i) * 0.05f;
    double R[30], z[30];
    for (int k = 0; k < N; k++) R[k] = fmod(k * 0.37, 1.1);
    esft_shape_fitness(ESFT_SHAPING_ZSCORE, R, N, z);
    uint64_t seeds[30];
    float coeffs[30];
    int ns = esft_es_coefficients(1234, 5, z, N, 0.0005f, false, seeds, coeffs);
    esft_buf master;
    CHECK(esft_buf_alloc(be, &master, ESFT_F32, n) == ESFT_OK);
    esft_upload(&master, 0, theta, n);
    CHECK(esft_es_update(be, &master, n, tid, seeds, coeffs, ns) == ESFT_OK);
    esft_download(&master, 0, got, n);
    /* normwise relative error (max |diff| / max |want|), the measure of the
     * conformance suite, and the error relative to the update itself */
    double max_diff = 0, max_want = 0, max_step = 0;
    for (size_t i = 0; i < n; i++) {
        double step = 0;
        for (int k = 0; k < ns; k++) step += (double)coeffs[k] * ref_eps(seeds[k], tid, i);
        const double want = theta[i] + step;
        max_diff = fmax(max_diff, fabs(got[i] - want));
        max_want = fmax(max_want, fabs(want));
        max_step = fmax(max_step, fabs(step));
    }
    printf("  es_update (N=30, %zu weights) vs naive sum: max |diff| %.3g = %.3g of max |theta|, "
           "%.3g of the largest step\n", n, max_diff, max_diff / max_want, max_diff / max_step);
    CHECKF(max_diff / max_want <= 1e-6, "relative error %.3g", max_diff / max_want);
    CHECK(max_step > 1e-5); /* the update is not trivially zero */
    esft_buf_free(&master);
    esft_backend_destroy(be);
    free(theta);
    free(got);
}

int main(void) {
    test_zscore();
    test_rank();
    test_coefficients();
    test_batch();
    test_glob();
    test_update_vs_naive();
    return TEST_EXIT();
}
