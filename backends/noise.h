/* Host-side helpers of the ES noise (DESIGN.md §1): tensor ids, member seeds
 * and a scalar eps for tests and checks. The device-side rounds live in
 * kernels/common/esft_philox.h, which these wrap. */
#ifndef ESFT_NOISE_H
#define ESFT_NOISE_H

#include <stdint.h>

/* FNV-1a 32-bit hash of a tensor's GGUF name (its bytes, no terminator). */
uint32_t esft_tensor_id(const char *name);

/* member_seed(run_seed, t, k) = sm(sm(sm(run_seed) ^ t) ^ k), splitmix64. */
uint64_t esft_member_seed(uint64_t run_seed, uint64_t t, uint64_t k);

/* eps(seed, tensor_id, i) as every backend computes it (f32 polynomials). */
float esft_eps_scalar(uint64_t seed, uint32_t tensor_id, uint64_t i);

#endif
