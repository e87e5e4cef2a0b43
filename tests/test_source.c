/* Reading a source tensor piece by piece (models/source.c) gives what a
 * whole read gives: rows of a quantised tensor at an offset, and llama q/k
 * rows interleaved per rotary head, checked against the order written out
 * by hand. */
#include <stdio.h>
#include <string.h>

#include "esft_half.h"
#include "source.h"
#include "testutil.h"

/* 8 rows of 3: two rotary heads of 4 rows, in Hugging Face order (half, i).
 * GGUF order within a head is (i, half): rows 0, 2, 1, 3. */
static void test_rope_rows(void) {
    float w[8 * 3];
    for (int i = 0; i < 24; i++) w[i] = (float)i;
    esft_source_tensor t = {.name = "q", .file = "mem", .file_name = "q", .n_dims = 2, .ne = {3, 8, 1, 1},
                            .n_elements = 24, .n_bytes = sizeof w, .type = GGML_TYPE_F32, .data = w,
                            .rope_heads = 2};
    const int gguf_row[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    float whole[24], piece[24];
    esft_err err = {{0}};
    CHECK(esft_source_read_f32(&t, whole, &err) == ESFT_OK);
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 3; c++) CHECKF(whole[r * 3 + c] == (float)(gguf_row[r] * 3 + c), "row %d col %d", r, c);
    /* 12 values: one head (4 rows of 3) at a time */
    CHECK(esft_source_chunk_rows(&t, 12) == 4);
    CHECK(esft_source_chunk_rows(&t, 5) == 4); /* never less than a head */
    CHECK(esft_source_chunk_rows(&t, 1000) == 8);
    for (uint64_t r0 = 0; r0 < 8; r0 += 4) CHECK(esft_source_read_f32_rows(&t, r0, 4, piece + r0 * 3, &err) == ESFT_OK);
    CHECK(memcmp(whole, piece, sizeof whole) == 0);
    /* a piece that splits a head is refused */
    CHECK(esft_source_read_f32_rows(&t, 2, 4, piece, &err) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_source_read_f32_rows(&t, 4, 8, piece, &err) == ESFT_ERR_INVALID_ARG);
}

/* f16 rows at an offset: row r holds r + c/4 (exact in f16). */
static void test_f16_rows(void) {
    uint16_t h[5 * 4];
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 4; c++) h[r * 4 + c] = esft_f32_to_f16((float)r + (float)c / 4);
    esft_source_tensor t = {.name = "w", .file = "mem", .file_name = "w", .n_dims = 2, .ne = {4, 5, 1, 1},
                            .n_elements = 20, .n_bytes = sizeof h, .type = GGML_TYPE_F16, .data = h};
    CHECK(esft_source_chunk_rows(&t, 8) == 2);
    float out[8];
    esft_err err = {{0}};
    CHECK(esft_source_read_f32_rows(&t, 3, 2, out, &err) == ESFT_OK);
    for (int i = 0; i < 8; i++) CHECKF(out[i] == (float)(3 + i / 4) + (float)(i % 4) / 4, "value %d: %g", i, out[i]);
}

int main(void) {
    test_rope_rows();
    test_f16_rows();
    return TEST_EXIT();
}
