/* Shared by the tests of the public API: whether two GGUF files hold the
 * same tensors byte for byte, whatever their metadata and tensor order. */
#ifndef ESFT_TEST_GGUF_COMPARE_H
#define ESFT_TEST_GGUF_COMPARE_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gguf.h"

/* Every tensor of a and b holds the same bytes (the metadata may differ). */
static inline bool same_tensors(const char *a_path, const char *b_path) {
    gguf_file *a = NULL, *b = NULL;
    bool same = esft_gguf_open(a_path, &a, NULL) == ESFT_OK && esft_gguf_open(b_path, &b, NULL) == ESFT_OK &&
                esft_gguf_n_tensors(a) == esft_gguf_n_tensors(b) && esft_gguf_n_tensors(a) > 0;
    for (size_t i = 0; same && i < esft_gguf_n_tensors(a); i++) {
        const gguf_tensor_info *ta = esft_gguf_tensor_at(a, i);
        const gguf_tensor_info *tb = esft_gguf_find_tensor(b, ta->name);
        same = tb && ta->type == tb->type && ta->n_bytes == tb->n_bytes && memcmp(ta->data, tb->data, ta->n_bytes) == 0;
        if (!same) fprintf(stderr, "  tensor %s differs\n", ta->name);
    }
    esft_gguf_close(a);
    esft_gguf_close(b);
    return same;
}

#endif
