/* The memory a training run plans to hold (DESIGN §1: an f32 master, a
 * working copy, the KV cache and activations of what is in flight), checked
 * against a limit before the run starts rather than failing midway. */
#ifndef ESFT_MEMORY_PLAN_H
#define ESFT_MEMORY_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct esft_memory_plan {
    uint64_t master;  /* f32 master weights */
    uint64_t work;    /* working copy the forward pass reads (0: the master itself) */
    uint64_t kv;      /* K and V caches of every layer, slots x (prompt + max_new) */
    uint64_t scratch; /* activations of one forward pass */
    uint64_t optimizer; /* optimizer state (optimizer.h), if every tensor is trained; 0 for sgd */
    uint64_t factors; /* --noise lowrank: the members' A_k, B_k, held for an iteration (0: full mode) */
} esft_memory_plan;

uint64_t esft_memory_plan_total(const esft_memory_plan *p);

/* "memory plan 1.02G: master 513.1M, work 513.1M, KV 2.6M, scratch 11.6M"
 * (short enough for an 80-column line; work is the working copy, scratch
 * the activations), then ", factors 8.2M" for low-rank members */
void esft_memory_plan_describe(const esft_memory_plan *p, char *buf, size_t cap);

/* bytes as "12.0M" / "1.20G" (MiB and GiB: powers of 1024, as --max-memory) */
void esft_format_bytes(uint64_t bytes, char *buf, size_t cap);

/* "500M", "2G", "1.5GiB", "4096" (bytes): K, M, G, T are powers of 1024,
 * with an optional "B" or "iB". False on anything else or 0. */
bool esft_parse_size(const char *s, uint64_t *out);

#endif
