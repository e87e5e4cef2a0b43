#include "noise.h"

#include <string.h>

#include "esft_hash.h"
#include "esft_philox.h"

uint32_t esft_tensor_id(const char *name) {
    return esft_fnv1a32(ESFT_FNV1A32_INIT, name, strlen(name));
}

uint64_t esft_member_seed(uint64_t run_seed, uint64_t t, uint64_t k) {
    return esft_splitmix64(esft_splitmix64(esft_splitmix64(run_seed) ^ t) ^ k);
}

float esft_eps_scalar(uint64_t seed, uint32_t tensor_id, uint64_t i) {
    return esft_eps(seed, tensor_id, i);
}
