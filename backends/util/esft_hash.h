/* The non-cryptographic hashes esft keys things by. Their values are part of
 * the on-disk and on-wire formats (tensor ids, member seeds, model
 * fingerprints, weight hashes, program-cache keys): never change them.
 *
 *   esft_fnv1a32 / esft_fnv1a64   FNV-1a over bytes, streaming: start from
 *                                 the _INIT value and chain calls.
 *   esft_fnv1a64_words            FNV-1a 64 over 64-bit words (host byte
 *                                 order, a trailing partial word zero-padded):
 *                                 eight times fewer multiplies for weights.
 *   esft_splitmix64               Vigna's splitmix64 output function of x
 *                                 (increment included): a bijective mix.
 *   esft_splitmix64_next          the splitmix64 generator's next value.
 *   esft_splitmix64_below         a value uniform in [0, n) from that
 *                                 generator (rejection: no modulo bias). */
#ifndef ESFT_HASH_H
#define ESFT_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ESFT_FNV1A32_INIT 0x811C9DC5u
#define ESFT_FNV1A32_PRIME 0x01000193u
#define ESFT_FNV1A64_INIT 0xCBF29CE484222325ull
#define ESFT_FNV1A64_PRIME 0x00000100000001B3ull

static inline uint32_t esft_fnv1a32(uint32_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * ESFT_FNV1A32_PRIME;
    return h;
}

static inline uint64_t esft_fnv1a64(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * ESFT_FNV1A64_PRIME;
    return h;
}

/* Each step is a bijection of the state, so a change to any one word (a
 * single flipped bit included) changes the result. */
static inline uint64_t esft_fnv1a64_words(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * ESFT_FNV1A64_PRIME;
    }
    if (i < n) {
        uint64_t w = 0;
        memcpy(&w, p + i, n - i);
        h = (h ^ w) * ESFT_FNV1A64_PRIME;
    }
    return h;
}

#define ESFT_SPLITMIX64_GAMMA 0x9E3779B97F4A7C15ull

static inline uint64_t esft_splitmix64(uint64_t x) {
    x += ESFT_SPLITMIX64_GAMMA;
    uint64_t z = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline uint64_t esft_splitmix64_next(uint64_t *state) {
    uint64_t x = *state;
    *state = x + ESFT_SPLITMIX64_GAMMA;
    return esft_splitmix64(x);
}

static inline uint64_t esft_splitmix64_below(uint64_t *state, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;
    do x = esft_splitmix64_next(state);
    while (x >= limit);
    return x % n;
}

#endif
