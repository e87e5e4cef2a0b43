/* Scalar reference for the ES noise of DESIGN.md §1, shared by the tests:
 * plain Philox4x32-10 rounds and eps() in double precision with libm. It is
 * written independently of kernels/common/esft_philox.h on purpose. */
#ifndef ESFT_TEST_REF_NOISE_H
#define ESFT_TEST_REF_NOISE_H

#include <math.h>
#include <stdint.h>
#include <string.h>


static void ref_philox(const uint32_t ctr_in[4], uint64_t key, uint32_t out[4]) {
    uint32_t c[4] = {ctr_in[0], ctr_in[1], ctr_in[2], ctr_in[3]};
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c[0];
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c[2];
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c[0] = n0, c[1] = n1, c[2] = n2, c[3] = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    memcpy(out, c, sizeof c);
}

/* eps(seed, tid, i) in double precision with libm. */
static double ref_eps(uint64_t seed, uint32_t tid, uint64_t i) {
    uint64_t b = i >> 2;
    uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), tid, 0x45534654u}, x[4];
    ref_philox(ctr, seed, x);
    uint32_t a = (i & 2) ? x[2] : x[0], c = (i & 2) ? x[3] : x[1];
    double u1 = ((double)(a >> 8) + 1.0) * ldexp(1.0, -24);
    double u2 = (double)(c >> 8) * ldexp(1.0, -24);
    double r = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
    return (i & 1) ? r * sin(th) : r * cos(th);
}

#endif
