#include "noise.h"

#include "esft_philox.h"

uint32_t esft_tensor_id(const char *name) {
    uint32_t h = ESFT_FNV1A32_OFFSET;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= ESFT_FNV1A32_PRIME;
    }
    return h;
}

uint64_t esft_member_seed(uint64_t run_seed, uint64_t t, uint64_t k) {
    return esft_splitmix64(esft_splitmix64(esft_splitmix64(run_seed) ^ t) ^ k);
}

float esft_eps_scalar(uint64_t seed, uint32_t tensor_id, uint64_t i) {
    return esft_eps(seed, tensor_id, i);
}
