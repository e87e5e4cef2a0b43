/* Hugging Face export (models/hf_write.c, models/safetensors_write.c) on
 * models built here, checked without Python:
 *   - tiny llama (tied and untied) and qwen2 GGUF -> HF f32 -> esft's HF
 *     reader: every tensor bit-identical to the GGUF's;
 *   - bf16: every value is the GGUF's rounded to nearest-even bf16 (a plain-C
 *     rounding here, not esft's converter);
 *   - the safetensors file holds llama q/k rows in Hugging Face's rotary order
 *     (row (h, j*half + i) is GGUF's row (h, 2i + j)), read raw;
 *   - tokenizer.json, read back by esft's tokenizer.json loader, gives the ids
 *     of the GGUF tokenizer on a small corpus (SmolLM2's vocabulary and merges
 *     when the default model is present, with its own and the qwen2 and
 *     llama-bpe pre-tokenizers; else the synthetic byte vocabulary);
 *   - the writer refuses a non-empty directory without force, replaces it with
 *     force, and leaves no temporary directory. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hf_write.h"
#include "safetensors.h"
#include "source.h"
#include "synth.h"
#include "testutil.h"
#include "tokenizer.h"

static char g_tmp[256];

static const char *tmp_path(const char *name) {
    static char path[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", g_tmp, name);
    return path[k];
}

/* Round to nearest even bf16 and back (finite values). */
static float bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    float y;
    memcpy(&y, &u, 4);
    return y;
}

static const esft_source_tensor *find(const esft_model_source *s, const char *name) {
    for (size_t i = 0; i < s->n_tensors; i++)
        if (strcmp(s->tensors[i].name, name) == 0) return &s->tensors[i];
    return NULL;
}

static float *read_all(const esft_source_tensor *t) {
    float *x = malloc((size_t)t->n_elements * sizeof *x);
    esft_err err = {{0}};
    if (!x || esft_source_read_f32(t, x, &err)) {
        fprintf(stderr, "read %s: %s\n", t->name, err.msg);
        free(x);
        return NULL;
    }
    return x;
}

/* Every tensor of gguf is in dir with the same shape and (rounded) values. */
static void compare_weights(const char *gguf, const char *dir, bool bf16) {
    esft_model_source a, b;
    esft_err err = {{0}};
    if (esft_source_open(gguf, &a, &err) || esft_source_open(dir, &b, &err)) {
        CHECKF(0, "open: %s", err.msg);
        return;
    }
    CHECKF(a.n_tensors == b.n_tensors, "%zu vs %zu tensors", a.n_tensors, b.n_tensors);
    size_t differ = 0, compared = 0;
    for (size_t i = 0; i < a.n_tensors; i++) {
        const esft_source_tensor *ta = &a.tensors[i], *tb = find(&b, ta->name);
        CHECKF(tb != NULL, "%s missing from %s", ta->name, dir);
        if (!tb) continue;
        CHECKF(tb->n_dims == ta->n_dims && memcmp(tb->ne, ta->ne, sizeof ta->ne) == 0, "%s: shape", ta->name);
        CHECK(tb->type == (bf16 ? GGML_TYPE_BF16 : GGML_TYPE_F32));
        float *xa = read_all(ta), *xb = read_all(tb);
        for (uint64_t k = 0; xa && xb && k < ta->n_elements; k++) {
            const float want = bf16 ? bf16_round(xa[k]) : xa[k];
            differ += memcmp(&want, &xb[k], 4) != 0;
            compared++;
        }
        free(xa);
        free(xb);
    }
    CHECKF(differ == 0 && compared > 0, "%s: %zu of %zu values differ", dir, differ, compared);
    esft_source_close(&a);
    esft_source_close(&b);
}

/* Llama q rows in model.safetensors are in Hugging Face's rotary order. */
static void check_rotary_order(const char *gguf, const char *dir, int head_dim) {
    esft_model_source a;
    esft_st_file *f = NULL;
    esft_err err = {{0}};
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (esft_source_open(gguf, &a, &err) || esft_st_open(path, &f, &err)) {
        CHECKF(0, "open: %s", err.msg);
        return;
    }
    const esft_source_tensor *q = find(&a, "blk.1.attn_q.weight");
    const esft_st_tensor *hq = esft_st_find(f, "model.layers.1.self_attn.q_proj.weight");
    CHECK(q && hq && hq->dtype == ESFT_ST_F32 && hq->shape[0] == q->ne[1] && hq->shape[1] == q->ne[0]);
    float *x = q ? read_all(q) : NULL;
    size_t differ = 0;
    const uint64_t row = q ? q->ne[0] : 0, half = (uint64_t)head_dim / 2;
    for (uint64_t h = 0; x && hq && h < q->ne[1] / (uint64_t)head_dim; h++)
        for (uint64_t i = 0; i < half; i++)
            for (uint64_t j = 0; j < 2; j++) {
                const float *gguf_row = x + (h * head_dim + 2 * i + j) * row;
                const char *hf_row = (const char *)hq->data + (h * head_dim + j * half + i) * row * 4;
                differ += memcmp(gguf_row, hf_row, (size_t)row * 4) != 0;
            }
    CHECKF(x && differ == 0, "%zu q rows out of Hugging Face order", differ);
    free(x);
    esft_st_close(f);
    esft_source_close(&a);
}

static const char *const CORPUS[] = {
    "Hello world",
    "The capital of France is Paris.",
    "  leading spaces and\ttabs\n\nnew lines\r\n",
    "numbers 1234567 3.14159 and 42nd",
    "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)\n",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80 emoji",
    "don't won't I'll we've they're SHE'S",
    "<|endoftext|>plain after a special",
    "a!!!b???c...d---e",
};

/* The GGUF tokenizer and the exported tokenizer.json, read back, give the
 * same ids on the corpus (with and without specials parsed). */
static void compare_tokenizers(const char *gguf, const char *dir) {
    esft_model_source a, b;
    esft_err err = {{0}};
    if (esft_source_open(gguf, &a, &err) || esft_source_open(dir, &b, &err)) {
        CHECKF(0, "open: %s", err.msg);
        return;
    }
    esft_tokenizer *ta = NULL, *tb = NULL;
    if (esft_tokenizer_from_gguf(a.meta, &ta, &err) || esft_tokenizer_from_gguf(b.meta, &tb, &err)) {
        CHECKF(0, "tokenizer: %s", err.msg);
    } else {
        CHECKF(strcmp(esft_tokenizer_pre_kind(ta), esft_tokenizer_pre_kind(tb)) == 0, "pre %s vs %s",
               esft_tokenizer_pre_kind(ta), esft_tokenizer_pre_kind(tb));
        CHECK(esft_tokenizer_n_vocab(ta) == esft_tokenizer_n_vocab(tb));
        CHECK(esft_tokenizer_bos(ta) == esft_tokenizer_bos(tb) && esft_tokenizer_eos(ta) == esft_tokenizer_eos(tb));
        CHECK(esft_tokenizer_add_bos(ta) == esft_tokenizer_add_bos(tb));
        int same = 0, n = 0;
        for (size_t i = 0; i < sizeof CORPUS / sizeof CORPUS[0]; i++)
            for (int special = 0; special < 2; special++) {
                int32_t *ia = NULL, *ib = NULL;
                size_t na = 0, nb = 0;
                esft_tokenize(ta, CORPUS[i], strlen(CORPUS[i]), special, true, &ia, &na, &err);
                esft_tokenize(tb, CORPUS[i], strlen(CORPUS[i]), special, true, &ib, &nb, &err);
                bool eq = na == nb && na > 0 && memcmp(ia, ib, na * sizeof *ia) == 0;
                if (!eq) fprintf(stderr, "ids differ on corpus line %zu (special %d): %zu vs %zu ids\n", i, special, na, nb);
                same += eq;
                n++;
                free(ia);
                free(ib);
            }
        CHECKF(same == n, "%s: %d of %d corpus lines tokenize alike", dir, same, n);
    }
    esft_tokenizer_free(ta);
    esft_tokenizer_free(tb);
    esft_source_close(&a);
    esft_source_close(&b);
}

static esft_status export_to(const char *model, const char *dir, esft_st_dtype dtype, bool force, esft_err *err) {
    esft_model_source s;
    esft_status st = esft_source_open(model, &s, err);
    if (st) return st;
    st = esft_hf_write(&s, dir, dtype, force, err);
    esft_source_close(&s);
    return st;
}

/* A GGUF: the tiny synthetic model's weights with token_embd grown to the
 * vocabulary of `tok_model`, whose tokenizer.* keys it carries (pre
 * overridden when not NULL). */
static bool tiny_with_tokenizer(const char *tiny, const char *tok_model, const char *pre, const char *out) {
    gguf_file *t = NULL, *m = NULL;
    esft_err err = {{0}};
    if (esft_gguf_open(tiny, &t, &err) || esft_gguf_open(tok_model, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        esft_gguf_close(t);
        return false;
    }
    gguf_writer *w = esft_gguf_writer_new();
    esft_status st = esft_gguf_writer_copy_kvs(w, t, &err);
    esft_gguf_writer_remove_prefix(w, "tokenizer.");
    for (size_t i = 0; i < esft_gguf_n_kv(m) && !st; i++) {
        const gguf_kv *kv = esft_gguf_kv_at(m, i);
        if (strncmp(kv->key, "tokenizer.", 10) == 0) st = esft_gguf_writer_set(w, kv->key, &kv->value, &err);
    }
    if (!st && pre) st = esft_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre, &err);
    const uint64_t n_vocab = esft_gguf_get_arr(m, "tokenizer.ggml.tokens")->v.arr.n;
    float *embd = NULL;
    for (size_t i = 0; i < esft_gguf_n_tensors(t) && !st; i++) {
        const gguf_tensor_info *ti = esft_gguf_tensor_at(t, i);
        if (strcmp(ti->name, "token_embd.weight") != 0) {
            st = esft_gguf_writer_add_tensor(w, ti->name, ti->type, ti->n_dims, ti->ne, ti->data, true, &err);
            continue;
        }
        const uint64_t ne[2] = {ti->ne[0], n_vocab};
        embd = malloc((size_t)(ne[0] * ne[1]) * sizeof *embd);
        for (uint64_t k = 0; embd && k < ne[0] * ne[1]; k++) embd[k] = (float)((k * 2654435761u) % 1000) * 1e-4f - 0.05f;
        st = embd ? esft_gguf_writer_add_tensor(w, ti->name, GGML_TYPE_F32, 2, ne, embd, true, &err) : ESFT_ERR_OUT_OF_MEMORY;
    }
    if (!st) st = esft_gguf_writer_write(w, out, &err);
    if (st) fprintf(stderr, "%s: %s\n", out, err.msg);
    esft_gguf_writer_free(w);
    free(embd);
    esft_gguf_close(t);
    esft_gguf_close(m);
    return st == ESFT_OK;
}

static bool no_temp_left(void) {
    DIR *d = opendir(g_tmp);
    bool clean = d != NULL;
    for (struct dirent *e; d && (e = readdir(d));) clean &= strstr(e->d_name, ".tmp.") == NULL && strstr(e->d_name, ".old.") == NULL;
    if (d) closedir(d);
    return clean;
}

static void synth(const char *preset, int tied, const char *path) {
    esft_synth_spec s;
    esft_err err = {{0}};
    CHECK(esft_synth_preset(preset, &s));
    s.tied = tied;
    s.chat_template = "{{ messages }}";
    CHECKF(esft_synth_write(&s, path, &err) == ESFT_OK, "%s", err.msg);
}

/* The writer's rows callback: byte i of a tensor is (seed + i) mod 251. */
static esft_status pattern_rows(void *user, uint64_t row0, uint64_t n_rows, void *dst, esft_err *err) {
    (void)err;
    const uint64_t *row_bytes = user; /* [0]: bytes per row, [1]: seed */
    for (uint64_t i = 0; i < n_rows * row_bytes[0]; i++)
        ((uint8_t *)dst)[i] = (uint8_t)((row_bytes[1] + row0 * row_bytes[0] + i) % 251);
    return ESFT_OK;
}

/* Safetensors writer -> reader: names (quotes, UTF-8), dtypes, shapes
 * (a scalar, an empty tensor), bytes, pieces of several rows, an 8-aligned
 * data start; and what the writer refuses. */
static void check_safetensors_writer(void) {
    esft_err err = {{0}};
    esft_st_writer *w = esft_st_writer_new();
    const struct {
        const char *name;
        esft_st_dtype dtype;
        uint32_t n_dims;
        uint64_t shape[2], chunk;
    } ts[] = {{"a.weight", ESFT_ST_F32, 2, {7, 3}, 2},
              {"we\"ird\\ na\xc3\xa9me", ESFT_ST_BF16, 1, {5, 0}, 5},
              {"scalar", ESFT_ST_F32, 0, {0, 0}, 1},
              {"empty", ESFT_ST_F16, 2, {0, 4}, 1}};
    enum { NT = sizeof ts / sizeof ts[0] };
    uint64_t user[NT][2];
    CHECK(esft_st_writer_set_meta(w, "format", "pt", &err) == ESFT_OK);
    for (int i = 0; i < NT; i++) {
        uint64_t row = esft_st_dtype_size(ts[i].dtype);
        for (uint32_t d = 1; d < ts[i].n_dims; d++) row *= ts[i].shape[d];
        user[i][0] = row, user[i][1] = (uint64_t)i * 17;
        CHECKF(esft_st_writer_add(w, ts[i].name, ts[i].dtype, ts[i].n_dims, ts[i].shape, ts[i].chunk, pattern_rows,
                                  user[i], &err) == ESFT_OK, "%s", err.msg);
    }
    const uint64_t big[2] = {(uint64_t)1 << 40, (uint64_t)1 << 40};
    CHECK(esft_st_writer_add(w, "a.weight", ESFT_ST_F32, 1, big, 1, pattern_rows, user[0], &err) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_st_writer_add(w, "", ESFT_ST_F32, 1, big, 1, pattern_rows, user[0], &err) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_st_writer_add(w, "__metadata__", ESFT_ST_F32, 1, big, 1, pattern_rows, user[0], &err) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_st_writer_add(w, "huge", ESFT_ST_F32, 2, big, 1, pattern_rows, user[0], &err) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_st_writer_add(w, "bad", ESFT_ST_DTYPE_COUNT, 1, big, 1, pattern_rows, user[0], &err) == ESFT_ERR_INVALID_ARG);
    const char *path = tmp_path("w.safetensors");
    CHECKF(esft_st_writer_write(w, path, &err) == ESFT_OK, "%s", err.msg);
    esft_st_writer_free(w);
    size_t len = 0;
    char *raw = test_read_file(path, &len);
    uint64_t hlen = 0;
    for (int i = 0; raw && len >= 8 && i < 8; i++) hlen |= (uint64_t)(uint8_t)raw[i] << (8 * i);
    CHECKF(raw && (8 + hlen) % 8 == 0 && strstr(raw + 8, "\"__metadata__\":{\"format\":\"pt\"}"), "header of %llu bytes",
           (unsigned long long)hlen);
    free(raw);
    esft_st_file *f = NULL;
    if (esft_st_open(path, &f, &err)) {
        CHECKF(0, "reader: %s", err.msg);
        return;
    }
    CHECK(esft_st_n_tensors(f) == NT);
    for (int i = 0; i < NT; i++) {
        const esft_st_tensor *t = esft_st_find(f, ts[i].name);
        CHECKF(t && t->dtype == ts[i].dtype && t->n_dims == ts[i].n_dims, "%s", ts[i].name);
        if (!t) continue;
        uint64_t bad = 0, n = t->end - t->begin;
        for (uint32_t d = 0; d < t->n_dims; d++) bad += t->shape[d] != ts[i].shape[d];
        for (uint64_t k = 0; k < n; k++) bad += ((const uint8_t *)t->data)[k] != (uint8_t)((user[i][1] + k) % 251);
        CHECKF(bad == 0 && n == t->n_elements * esft_st_dtype_size(t->dtype), "%s: %llu wrong", ts[i].name,
               (unsigned long long)bad);
    }
    esft_st_close(f);
}

int main(void) {
    if (!test_make_tmpdir(g_tmp, sizeof g_tmp, "esft_hf_write")) return 1;
    esft_err err = {{0}};
    check_safetensors_writer();

    /* weights: llama tied and untied, qwen2 (biases), f32 exact and bf16 rounded */
    const struct {
        const char *preset;
        int tied;
    } models[] = {{"tiny", 1}, {"tiny", 0}, {"tiny-qwen2", 1}};
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        const char *gguf = tmp_path("m.gguf"), *f32 = tmp_path("f32"), *bf16 = tmp_path("bf16");
        synth(models[m].preset, models[m].tied, gguf);
        CHECKF(export_to(gguf, f32, ESFT_ST_F32, false, &err) == ESFT_OK, "%s", err.msg);
        CHECKF(export_to(gguf, bf16, ESFT_ST_BF16, false, &err) == ESFT_OK, "%s", err.msg);
        compare_weights(gguf, f32, false);
        compare_weights(gguf, bf16, true);
        if (strcmp(models[m].preset, "tiny") == 0) check_rotary_order(gguf, f32, 16);
        compare_tokenizers(gguf, f32);
        /* and the HF directory written again from itself is the same model */
        const char *again = tmp_path("again");
        CHECKF(export_to(f32, again, ESFT_ST_F32, false, &err) == ESFT_OK, "%s", err.msg);
        compare_weights(gguf, again, false);
        test_remove_tmpdir(f32);
        test_remove_tmpdir(bf16);
        test_remove_tmpdir(again);
    }

    /* the target: a non-empty directory is refused, then replaced with force */
    char gguf[512], dir[512];
    snprintf(gguf, sizeof gguf, "%s", tmp_path("m.gguf"));
    snprintf(dir, sizeof dir, "%s", tmp_path("out"));
    CHECK(mkdir(dir, 0755) == 0);
    test_write_tmp(g_tmp, "out/keep.txt", "x", 1);
    CHECK(export_to(gguf, dir, ESFT_ST_F32, false, &err) == ESFT_ERR_IO && strstr(err.msg, "--force"));
    struct stat sb;
    CHECK(stat(tmp_path("out/keep.txt"), &sb) == 0);
    CHECKF(export_to(gguf, dir, ESFT_ST_F32, true, &err) == ESFT_OK, "%s", err.msg);
    CHECK(stat(tmp_path("out/keep.txt"), &sb) != 0 && stat(tmp_path("out/config.json"), &sb) == 0);
    CHECK(export_to(gguf, tmp_path("m.gguf/x"), ESFT_ST_F32, false, &err) != ESFT_OK);
    CHECKF(export_to(gguf, tmp_path("m.gguf"), ESFT_ST_F32, true, &err) == ESFT_ERR_IO && strstr(err.msg, "not a directory"), "%s", err.msg);
    CHECKF(export_to(gguf, tmp_path("f16"), ESFT_ST_I32, false, &err) == ESFT_ERR_INVALID_ARG, "%s", err.msg);
    CHECK(no_temp_left());

    /* a real vocabulary with merges, under each pre-tokenizer the writer knows */
    char smol[1024];
    const char *mdir = getenv("ESFT_MODEL_DIR");
    snprintf(smol, sizeof smol, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", mdir ? mdir : ESFT_TEST_DATA_DIR "/../models/cache");
    if (stat(smol, &sb) == 0) {
        synth("tiny", 1, tmp_path("t.gguf"));
        static const char *const pres[] = {NULL, "qwen2", "llama-bpe", "gpt-2"};
        for (size_t p = 0; p < sizeof pres / sizeof pres[0]; p++) {
            const char *mixed = tmp_path("mixed.gguf"), *out = tmp_path("mixed");
            if (!tiny_with_tokenizer(tmp_path("t.gguf"), smol, pres[p], mixed)) {
                CHECK(0);
                continue;
            }
            CHECKF(export_to(mixed, out, ESFT_ST_BF16, true, &err) == ESFT_OK, "%s", err.msg);
            compare_tokenizers(mixed, out);
        }
    } else {
        printf("note: %s absent: tokenizer.json checked on the synthetic byte vocabulary only\n", smol);
    }
    test_remove_tmpdir(g_tmp);
    return TEST_EXIT();
}
